//! OCPP 1.6J (with the 1.6 security extension): routes actions to the wire types and their
//! translation to and from the version-blind model.
//!
//! Owns the four entry points `ocpp::decode_call` and friends dispatch to for 1.6, and the
//! action routing: an exhaustive `match` on the action name (STYLE.md §3). `messages` and
//! `enums` own the wire shape, `convert` the charger-to-CSMS direction, `commands` the
//! CSMS-to-charger direction. Nothing here touches a socket, the store or the clock, and
//! nothing a charger sends may panic: every malformed payload becomes a `PayloadError`
//! carrying the CALLERROR code that answers it (OCPP-J 1.6 §4.2.3).

mod charging;
mod commands;
mod convert;
mod device;
mod enums;
mod messages;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::NotInVersion;
use super::model::{ChargerCommand, ChargerEvent, CommandReply, EventReply};
use super::rpc::{PayloadError, RpcErrorCode};
use super::wire_enum::wire_enum;

/// The version name in `NotInVersion`.
const VERSION: &str = "v16";

wire_enum! {
    /// Every action OCPP 1.6 and its security extension define (OCPP 1.6 §4-§6, security
    /// whitepaper §5), in both directions. Routing matches on it exhaustively, so adding an
    /// action or a handler is a compile-checked decision. A name outside it gets NotImplemented
    /// ("Requested Action is not known by receiver", OCPP-J 1.6 §4.2.3); a defined action we do
    /// not handle, including those only a central system sends, gets NotSupported ("recognized
    /// but not supported"). STYLE.md §3 words this the other way round; the spec's definitions
    /// win because chargers act on them.
    Action {
        // Charge point to central system (DataTransfer goes both ways).
        Authorize,
        BootNotification,
        DataTransfer,
        DiagnosticsStatusNotification,
        FirmwareStatusNotification,
        Heartbeat,
        MeterValues,
        StartTransaction,
        StatusNotification,
        StopTransaction,
        // Central system to charge point.
        CancelReservation,
        ChangeAvailability,
        ChangeConfiguration,
        ClearCache,
        ClearChargingProfile,
        GetCompositeSchedule,
        GetConfiguration,
        GetDiagnostics,
        GetLocalListVersion,
        RemoteStartTransaction,
        RemoteStopTransaction,
        ReserveNow,
        Reset,
        SendLocalList,
        SetChargingProfile,
        TriggerMessage,
        UnlockConnector,
        UpdateFirmware,
        // Security extension, charge point to central system.
        LogStatusNotification,
        SecurityEventNotification,
        SignCertificate,
        SignedFirmwareStatusNotification,
        // Security extension, central system to charge point.
        CertificateSigned,
        DeleteCertificate,
        ExtendedTriggerMessage,
        GetInstalledCertificateIds,
        GetLog,
        InstallCertificate,
        SignedUpdateFirmware,
    }
}

/// Decodes a charger's CALL into an event.
pub fn decode_call(action: &str, payload: Value) -> Result<ChargerEvent, PayloadError> {
    let Some(known) = Action::parse(action) else {
        return Err(PayloadError::new(
            RpcErrorCode::NotImplemented,
            format!("{action} is not an OCPP 1.6 action"),
        ));
    };
    use Action as A;
    match known {
        A::Authorize => Ok(convert::authorize(parse(payload)?)),
        A::BootNotification => Ok(convert::boot(parse(payload)?)),
        A::DataTransfer => Ok(convert::data_transfer(parse(payload)?)),
        A::DiagnosticsStatusNotification => Ok(convert::diagnostics_status(parse(payload)?)),
        A::FirmwareStatusNotification => Ok(convert::firmware_status(parse(payload)?)),
        A::Heartbeat => Ok(convert::heartbeat(parse(payload)?)),
        A::MeterValues => convert::meter_values(parse(payload)?),
        A::StartTransaction => Ok(convert::start_transaction(parse(payload)?)),
        A::StatusNotification => Ok(convert::status(parse(payload)?)),
        A::StopTransaction => convert::stop_transaction(parse(payload)?),
        A::LogStatusNotification => Ok(convert::log_status(parse(payload)?)),
        A::SecurityEventNotification => Ok(convert::security_event(parse(payload)?)),
        A::SignedFirmwareStatusNotification => Ok(convert::signed_firmware_status(parse(payload)?)),
        A::SignCertificate => Err(PayloadError::new(
            RpcErrorCode::NotSupported,
            "SignCertificate: chargegate does not sign charge point certificates",
        )),
        A::CancelReservation
        | A::ChangeAvailability
        | A::ChangeConfiguration
        | A::ClearCache
        | A::ClearChargingProfile
        | A::GetCompositeSchedule
        | A::GetConfiguration
        | A::GetDiagnostics
        | A::GetLocalListVersion
        | A::RemoteStartTransaction
        | A::RemoteStopTransaction
        | A::ReserveNow
        | A::Reset
        | A::SendLocalList
        | A::SetChargingProfile
        | A::TriggerMessage
        | A::UnlockConnector
        | A::UpdateFirmware
        | A::CertificateSigned
        | A::DeleteCertificate
        | A::ExtendedTriggerMessage
        | A::GetInstalledCertificateIds
        | A::GetLog
        | A::InstallCertificate
        | A::SignedUpdateFirmware => Err(PayloadError::new(
            RpcErrorCode::NotSupported,
            format!("{action} is sent by the central system, not by a charge point"),
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
