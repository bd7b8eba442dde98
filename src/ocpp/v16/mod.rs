//! OCPP 1.6J (with the 1.6 security extension): routes actions to the wire types and their
//! translation to and from the version-blind model.
//!
//! Owns the four entry points `ocpp::decode_call` and friends dispatch to for 1.6, and the
//! action routing: an exhaustive `match` on the action name (STYLE.md §3). `messages` and
//! `enums` own the wire shape, `convert` the charger-to-CSMS direction, `commands` the
//! CSMS-to-charger direction. Nothing here touches a socket, the store or the clock, and
//! nothing a charger sends may panic: every malformed payload becomes a `PayloadError`
//! carrying the CALLERROR code that answers it (OCPP-J 1.6 §4.2.3).

mod commands;
mod convert;
mod enums;
mod messages;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::NotInVersion;
use super::model::{ChargerCommand, ChargerEvent, CommandReply, EventReply};
use super::rpc::{PayloadError, RpcErrorCode};

/// The version name in `NotInVersion`.
const VERSION: &str = "v16";

/// Actions 1.6 defines in the central-system-to-charge-point direction only (OCPP 1.6 §5,
/// security whitepaper §5). A charger sending one gets NotSupported ("Requested Action is
/// recognized but not supported by the receiver", OCPP-J 1.6 §4.2.3); an action 1.6 does
/// not define gets NotImplemented ("not known by receiver"). STYLE.md §3 words this the
/// other way round; the spec's definitions win because chargers act on them.
/// DataTransfer goes both ways and is not listed.
const CSMS_ONLY_ACTIONS: [&str; 25] = [
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    // Security extension.
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
];

/// Decodes a charger's CALL into an event.
pub fn decode_call(action: &str, payload: Value) -> Result<ChargerEvent, PayloadError> {
    match action {
        "Authorize" => Ok(convert::authorize(parse(payload)?)),
        "BootNotification" => Ok(convert::boot(parse(payload)?)),
        "DataTransfer" => Ok(convert::data_transfer(parse(payload)?)),
        "DiagnosticsStatusNotification" => Ok(convert::diagnostics_status(parse(payload)?)),
        "FirmwareStatusNotification" => Ok(convert::firmware_status(parse(payload)?)),
        "Heartbeat" => {
            let messages::HeartbeatReq {} = parse(payload)?;
            Ok(ChargerEvent::Heartbeat)
        }
        "MeterValues" => convert::meter_values(parse(payload)?),
        "StartTransaction" => Ok(convert::start_transaction(parse(payload)?)),
        "StatusNotification" => Ok(convert::status(parse(payload)?)),
        "StopTransaction" => convert::stop_transaction(parse(payload)?),
        // Security extension (whitepaper §5).
        "LogStatusNotification" => Ok(convert::log_status(parse(payload)?)),
        "SecurityEventNotification" => Ok(convert::security_event(parse(payload)?)),
        "SignedFirmwareStatusNotification" => Ok(convert::signed_firmware_status(parse(payload)?)),
        "SignCertificate" => Err(PayloadError::new(
            RpcErrorCode::NotSupported,
            "SignCertificate: chargegate does not sign charge point certificates",
        )),
        action if CSMS_ONLY_ACTIONS.contains(&action) => Err(PayloadError::new(
            RpcErrorCode::NotSupported,
            format!("{action} is sent by the central system, not by a charge point"),
        )),
        action => Err(PayloadError::new(
            RpcErrorCode::NotImplemented,
            format!("{action} is not an OCPP 1.6 action"),
        )),
    }
}

/// Encodes chargegate's reply to `event` as the CALLRESULT payload of its action.
pub fn encode_reply(event: &ChargerEvent, reply: &EventReply) -> Result<Value, PayloadError> {
    convert::reply(event, reply)
}

/// Encodes a command as (action, payload); commands 1.6 has no message for, and commands
/// whose content 1.6 cannot carry, are `NotInVersion` (see `commands`).
pub fn encode_command(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    commands::encode(command)
}

/// Decodes the charger's CALLRESULT payload for `command`.
pub fn decode_command_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    commands::decode_reply(command, payload)
}

/// The one place payloads are deserialized, so that every serde failure is classified the
/// same way.
fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, PayloadError> {
    serde_json::from_value(payload).map_err(|e| PayloadError::from_serde(&e))
}

/// Serializes a wire type.
fn to_json<T: Serialize>(message: &T) -> Value {
    // The wire types are plain structs of strings, numbers, booleans, vectors and options
    // (no maps with non-string keys, no fallible custom serializers), for which
    // `serde_json::to_value` cannot fail.
    serde_json::to_value(message).expect("wire types always serialize to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_actions_are_not_implemented_and_central_system_ones_not_supported() {
        for action in ["Reset", "SetChargingProfile", "GetLog"] {
            let err = decode_call(action, json!({})).unwrap_err();
            assert_eq!(err.code, RpcErrorCode::NotSupported, "{action}: {err}");
        }
        for action in ["NotifyReport", "Nonsense", ""] {
            let err = decode_call(action, json!({})).unwrap_err();
            assert_eq!(err.code, RpcErrorCode::NotImplemented, "{action}: {err}");
        }
        let err = decode_call("TransactionEvent", json!({})).unwrap_err();
        assert_eq!(err.message, "TransactionEvent is not an OCPP 1.6 action");
        let err = decode_call("Reset", json!({"type": "Hard"})).unwrap_err();
        assert_eq!(
            err.message,
            "Reset is sent by the central system, not by a charge point"
        );
    }

    #[test]
    fn sign_certificate_is_known_but_not_supported() {
        let csr = json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----"});
        crate::ocpp::schema_check::assert_valid("v16", "SignCertificate", false, &csr);
        let err = decode_call("SignCertificate", csr).unwrap_err();
        assert_eq!(err.code, RpcErrorCode::NotSupported);
    }

    /// Every request schema 1.6 publishes is routed: either decoded (a payload error for
    /// `{}` at worst) or listed as central-system-only. None falls through to "unknown".
    #[test]
    fn every_published_action_is_routed() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ocpp-schemas/v16");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("the 1.6 schemas are beside the project") {
            let name = entry.expect("readable dir entry").file_name();
            let name = name.to_string_lossy();
            let Some(action) = name.strip_suffix(".json") else {
                continue;
            };
            if action.ends_with("Response") {
                continue;
            }
            seen += 1;
            let routed = match decode_call(action, json!({})) {
                Ok(_) => true,
                Err(e) => e.code != RpcErrorCode::NotImplemented,
            };
            assert!(routed, "{action} is not routed");
        }
        assert_eq!(seen, 39, "the 1.6 + security extension request schemas");
    }
}
