//! OCPP: RPC framing, the version-blind model, and one folder per protocol version.
//!
//! Owns the translation between wire messages and `model` types. Must never reach a socket,
//! the store or the clock: the connection task (`charger::connection`) does the IO and
//! passes `now` where a message needs it.

pub mod model;
pub mod rpc;
#[cfg(test)]
pub mod schema_check;
pub mod session;
pub mod strings;
pub mod time;
pub mod v16;
pub mod v201;
pub mod wire_enum;

use serde_json::Value;

use model::{ChargerCommand, ChargerEvent, CommandReply, EventReply, OcppVersion};
use rpc::PayloadError;

/// A command the charger's OCPP version has no message for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command} does not exist in OCPP {version}")]
pub struct NotInVersion {
    pub command: &'static str,
    pub version: &'static str,
}

/// Decodes a charger's CALL into an event (routing by action is each version's exhaustive
/// `match`: an unknown action -> NotImplemented, "not known by receiver"; a known one we do
/// not handle -> NotSupported, "recognized but not supported", OCPP-J 1.6 §4.2.3).
pub fn decode_call(
    version: OcppVersion,
    action: &str,
    payload: Value,
) -> Result<ChargerEvent, PayloadError> {
    match version {
        OcppVersion::V16 => v16::decode_call(action, payload),
        OcppVersion::V201 => v201::decode_call(action, payload),
    }
}

/// Encodes chargegate's reply to `event` as the CALLRESULT payload of its action.
pub fn encode_reply(
    version: OcppVersion,
    event: &ChargerEvent,
    reply: &EventReply,
) -> Result<Value, PayloadError> {
    match version {
        OcppVersion::V16 => v16::encode_reply(event, reply),
        OcppVersion::V201 => v201::encode_reply(event, reply),
    }
}

/// Encodes a command as (action, payload).
pub fn encode_command(
    version: OcppVersion,
    command: &ChargerCommand,
) -> Result<(&'static str, Value), NotInVersion> {
    if let ChargerCommand::Relay { action, payload } = command {
        return Ok((action, payload.clone()));
    }
    match version {
        OcppVersion::V16 => v16::encode_command(command),
        OcppVersion::V201 => v201::encode_command(command),
    }
}

/// Decodes the charger's CALLRESULT payload for `command`.
pub fn decode_command_reply(
    version: OcppVersion,
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    if let ChargerCommand::Relay { .. } = command {
        return Ok(CommandReply::Relayed(payload));
    }
    match version {
        OcppVersion::V16 => v16::decode_command_reply(command, payload),
        OcppVersion::V201 => v201::decode_command_reply(command, payload),
    }
}

/// The CSMS-to-charger actions of each version a cloud CSMS may have relayed to a charger
/// (1.6 §5, 2.0.1 Part 2 §1), as the `&'static str` the connection's bookkeeping keeps;
/// `None` for a word the version does not have (answered NotImplemented).
pub fn relay_action(version: OcppVersion, action: &str) -> Option<&'static str> {
    const V16: &[&str] = &[
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
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
        "ExtendedTriggerMessage",
        "GetLog",
        "SignedUpdateFirmware",
        "CertificateSigned",
        "DeleteCertificate",
        "GetInstalledCertificateIds",
        "InstallCertificate",
    ];
    const V201: &[&str] = &[
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    ];
    let known = match version {
        OcppVersion::V16 => V16,
        OcppVersion::V201 => V201,
    };
    known.iter().copied().find(|a| *a == action)
}
