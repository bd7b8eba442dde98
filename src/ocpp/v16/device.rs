//! Firmware and diagnostics of OCPP 1.6 (Firmware Management profile, §5.8 GetDiagnostics,
//! §5.19 UpdateFirmware): the requests, their .conf payloads, and what 1.6 cannot say.
//!
//! 1.6 has no signed firmware, no install time and no security log (those are the
//! security whitepaper's SignedUpdateFirmware and GetLog, which chargegate does not send):
//! a command asking for one is `NotInVersion`, never sent as a plain update. The statuses
//! the charger reports afterwards come in as events (`convert`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{ChargerCommand, CommandReply};
use crate::ocpp::rpc::PayloadError;
use crate::ocpp::strings::Bounded;

/// OCPP 1.6 §6.51.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateFirmwareRequest {
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(with = "crate::ocpp::time")]
    pub retrieve_date: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<u32>,
}

/// OCPP 1.6 §6.52: no fields.
#[derive(Debug, Deserialize)]
pub struct UpdateFirmwareResponse {}

/// OCPP 1.6 §6.25.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetDiagnosticsRequest {
    pub location: String,
}

/// OCPP 1.6 §6.26: the file name is absent when the charger has no diagnostics.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetDiagnosticsResponse {
    pub file_name: Option<Bounded<255>>,
}

/// The (action, payload) of a firmware or log command; any other command is not ours.
pub fn encode(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    let refused = || NotInVersion {
        command: command.name(),
        version: super::VERSION,
    };
    match command {
        ChargerCommand::UpdateFirmware {
            location,
            retrieve_at,
            install_at: None,
            signing_certificate: None,
            signature: None,
            retries,
            retry_interval_s,
            ..
        } => Ok((
            "UpdateFirmware",
            to_json(&UpdateFirmwareRequest {
                location: location.clone(),
                retries: *retries,
                retrieve_date: *retrieve_at,
                retry_interval: *retry_interval_s,
            }),
        )),
        ChargerCommand::GetLog {
            security: false,
            location,
            ..
        } => Ok((
            "GetDiagnostics",
            to_json(&GetDiagnosticsRequest {
                location: location.clone(),
            }),
        )),
        _ => Err(refused()),
    }
}

/// Reads the .conf of a firmware or log command. UpdateFirmware.conf is empty: the
/// charger has no way to refuse, so the answer is `Accepted`; its progress follows in
/// FirmwareStatusNotification.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    match command {
        ChargerCommand::GetLog { .. } => {
            let conf: GetDiagnosticsResponse = parse(payload)?;
            Ok(CommandReply::Log {
                status: "Accepted".into(),
                accepted: true,
                file_name: conf.file_name.map(Bounded::into_inner),
            })
        }
        _ => {
            let _: UpdateFirmwareResponse = parse(payload)?;
            Ok(CommandReply::from_status("Accepted"))
        }
    }
}
