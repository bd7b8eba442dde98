//! Firmware and logs of OCPP 2.0.1 (L01/L02 UpdateFirmware, signed or not; N01 GetLog):
//! the requests, their responses, and the status enumerations of both.
//!
//! Every request fits its `*Request.json` schema: a location, certificate or signature
//! over its schema length is `NotInVersion` rather than cut short (a shortened URL or
//! signature is another one). The statuses the station reports afterwards
//! (FirmwareStatusNotification, LogStatusNotification) come in as events (`convert`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{ChargerCommand, CommandReply};
use crate::ocpp::rpc::PayloadError;
use crate::ocpp::strings::Bounded;
use crate::ocpp::wire_enum::wire_enum;

wire_enum!(
    /// UpdateFirmwareResponse status (UpdateFirmwareStatusEnumType).
    UpdateFirmwareStatus { Accepted, Rejected, AcceptedCanceled, InvalidCertificate,
        RevokedCertificate }
);
wire_enum!(
    /// GetLogRequest logType (LogEnumType).
    LogType { DiagnosticsLog, SecurityLog }
);
wire_enum!(
    /// GetLogResponse status (LogStatusEnumType).
    LogStatus { Accepted, Rejected, AcceptedCanceled }
);

/// FirmwareType.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareWire {
    pub location: Bounded<512>,
    #[serde(with = "crate::ocpp::time")]
    pub retrieve_date_time: DateTime<Utc>,
    #[serde(
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub install_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<Bounded<5500>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Bounded<800>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateFirmwareRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<u32>,
    pub request_id: i32,
    pub firmware: FirmwareWire,
}

#[derive(Debug, Deserialize)]
pub struct UpdateFirmwareResponse {
    pub status: UpdateFirmwareStatus,
}

/// LogParametersType.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogParametersWire {
    pub remote_location: Bounded<512>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogRequest {
    pub log: LogParametersWire,
    pub log_type: LogType,
    pub request_id: i32,
}

#[derive(Debug, Deserialize)]
pub struct GetLogResponse {
    pub status: LogStatus,
    pub filename: Option<Bounded<255>>,
}

fn bounded<const N: usize>(text: &str) -> Option<Bounded<N>> {
    (text.chars().count() <= N).then(|| Bounded(text.to_string()))
}

/// An optional bounded field: `Err` when present and too long.
fn optional<const N: usize>(text: Option<&String>) -> Result<Option<Bounded<N>>, ()> {
    text.map(|t| bounded(t).ok_or(())).transpose()
}

/// The (action, payload) of a firmware or log command; any other command is not ours.
pub fn encode(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    let refused = || NotInVersion {
        command: command.name(),
        version: super::VERSION,
    };
    match command {
        // L01 (L02 with a certificate and signature).
        ChargerCommand::UpdateFirmware {
            request_id,
            location,
            retrieve_at,
            install_at,
            signing_certificate,
            signature,
            retries,
            retry_interval_s,
        } => Ok((
            "UpdateFirmware",
            to_json(&UpdateFirmwareRequest {
                retries: *retries,
                retry_interval: *retry_interval_s,
                request_id: *request_id,
                firmware: FirmwareWire {
                    location: bounded(location).ok_or_else(refused)?,
                    retrieve_date_time: *retrieve_at,
                    install_date_time: *install_at,
                    signing_certificate: optional(signing_certificate.as_ref())
                        .map_err(|()| refused())?,
                    signature: optional(signature.as_ref()).map_err(|()| refused())?,
                },
            }),
        )),
        // N01.
        ChargerCommand::GetLog {
            request_id,
            security,
            location,
        } => Ok((
            "GetLog",
            to_json(&GetLogRequest {
                log: LogParametersWire {
                    remote_location: bounded(location).ok_or_else(refused)?,
                },
                log_type: if *security {
                    LogType::SecurityLog
                } else {
                    LogType::DiagnosticsLog
                },
                request_id: *request_id,
            }),
        )),
        _ => Err(refused()),
    }
}

/// Reads the response to a firmware or log command, strict on its status enumeration.
/// `AcceptedCanceled` is a yes: the station took this request and dropped an older one.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    let yes = |status: &str| status.starts_with("Accepted");
    match command {
        ChargerCommand::GetLog { .. } => {
            let response: GetLogResponse = parse(payload)?;
            let status = response.status.as_str();
            Ok(CommandReply::Log {
                status: status.to_string(),
                accepted: yes(status),
                file_name: response.filename.map(Bounded::into_inner),
            })
        }
        _ => {
            let response: UpdateFirmwareResponse = parse(payload)?;
            let status = response.status.as_str();
            Ok(CommandReply::Status {
                status: status.to_string(),
                accepted: yes(status),
            })
        }
    }
}
