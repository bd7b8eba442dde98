//! `/api/v1/chargers/<id>/firmware` and `/logs`: device management (issue 10) through
//! the charger registry like every other command (`commands.rs`: audited, 409 offline or
//! not in the charger's version, 504 on its timeout, 502 on a CALLERROR).
//!
//! The request is stored (`store::device_request`, as `Requested`) before it is sent,
//! because the charger's first status notification can overtake its answer; the answer
//! and every status after it update the same row, which `GET /api/v1/chargers/<id>` shows
//! as `firmware_update` / `log_upload`. Checks the operator's input strictly (an absolute
//! URL of a scheme chargers download from); decides nothing about the charger.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::auth::Holder;
use super::commands::{Target, body, reply_json, try_response};
use super::{ApiError, HttpState};
use crate::ocpp::model::{ChargerCommand, CommandReply, OcppVersion};
use crate::store::{self, DeviceRequestKind};

/// 2.0.1 FirmwareType.location and LogParametersType.remoteLocation: string[0..512].
const MAX_LOCATION: usize = 512;
/// 2.0.1 FirmwareType.signingCertificate string[0..5500], signature string[0..800].
const MAX_CERTIFICATE: usize = 5500;
const MAX_SIGNATURE: usize = 800;
/// The schemes a charger fetches firmware from or uploads logs to (1.6 §5.8/§5.19 name
/// FTP and HTTP(S); the 2.0.1 Firmware Management use cases add FTPS and SFTP).
const SCHEMES: &[&str] = &["http", "https", "ftp", "ftps", "sftp"];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn not_in_version(target: &Target, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "{}: {what} is not in OCPP 1.6 (a 1.6 charger has no such field); leave it out",
            target.id
        ),
    )
}

/// `field` as an absolute URL of one of `SCHEMES`, with a host, no spaces or control
/// characters, at most `MAX_LOCATION` characters; or a 400 that names the field.
fn location(field: &str, text: &str) -> Result<String, ApiError> {
    let why = format!(
        "{field}: an absolute URL of {} with a host, at most {MAX_LOCATION} characters, \
         e.g. https://files.example/fw-1.2.bin",
        SCHEMES.join(", ")
    );
    let scheme_ok = text.split_once("://").is_some_and(|(scheme, rest)| {
        SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
            && rest
                .split(['/', '?', '#'])
                .next()
                .and_then(|authority| authority.rsplit('@').next())
                .is_some_and(|host| !host.is_empty() && !host.starts_with(':'))
    });
    if !scheme_ok
        || text.chars().count() > MAX_LOCATION
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(why));
    }
    Ok(text.to_string())
}

/// A fresh 2.0.1 requestId (positive, echoed in the status notifications); random so
/// that it does not repeat across restarts.
fn request_id() -> i32 {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    (OsRng.next_u32() >> 1) as i32
}

impl HttpState {
    /// Stores the request as `Requested`, sends it, stores the answer (or `NotSent` /
    /// `NotAnswered`), and answers with the charger's answer and the requestId.
    async fn device_command(
        &self,
        target: &Target,
        kind: DeviceRequestKind,
        command: ChargerCommand,
        request_id: Option<i32>,
        location: String,
        holder: Option<&Holder>,
    ) -> Response {
        let id = target.id.to_string();
        let now = self.clock_now();
        let written = self
            .store
            .call(move |c| store::device_request(c, &id, kind, request_id, &location, now))
            .await;
        if let Err(e) = written {
            tracing::warn!("device request not stored: {e}");
            return super::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is not available",
            );
        }
        let answer = self.send(target, command, holder).await;
        let (status, file_name) = match &answer {
            Ok(CommandReply::Log {
                status, file_name, ..
            }) => (status.clone(), file_name.clone()),
            Ok(CommandReply::Status { status, .. }) => (status.clone(), None),
            Ok(_) => ("Accepted".to_string(), None),
            Err(e) if e.status == StatusCode::GATEWAY_TIMEOUT => ("NotAnswered".into(), None),
            Err(_) => ("NotSent".into(), None),
        };
        let id = target.id.to_string();
        let now = self.clock_now();
        let stored = self
            .store
            .call(move |c| {
                store::device_request_answered(c, &id, kind, &status, file_name.as_deref(), now)
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!("device request answer not stored: {e}");
        }
        match answer {
            Ok(reply) => {
                let mut json = reply_json(&reply);
                json["request_id"] = request_id.into();
                Json(json).into_response()
            }
            Err(e) => e.into_response(),
        }
    }
}

/// `POST .../firmware` `{"location", "retrieve_at", "install_at", "signing_certificate",
/// "signature"}`: UpdateFirmware; `retrieve_at` defaults to now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firmware {
    location: String,
    #[serde(default, with = "crate::ocpp::time::option")]
    retrieve_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::ocpp::time::option")]
    install_at: Option<DateTime<Utc>>,
    #[serde(default)]
    signing_certificate: Option<String>,
    #[serde(default)]
    signature: Option<String>,
}

pub async fn firmware(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Firmware>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let location = try_response!(location("location", &request.location));
    let text = |field: &str, value: &Option<String>, max: usize| match value {
        Some(v) if v.is_empty() || v.chars().count() > max => {
            Err(bad(format!("{field}: 1 to {max} characters")))
        }
        _ => Ok(()),
    };
    try_response!(text(
        "signing_certificate",
        &request.signing_certificate,
        MAX_CERTIFICATE
    ));
    try_response!(text("signature", &request.signature, MAX_SIGNATURE));
    if request.signing_certificate.is_some() != request.signature.is_some() {
        return bad("signing_certificate, signature: give both (a signed update) or neither")
            .into_response();
    }
    let retrieve_at = request.retrieve_at.unwrap_or_else(|| state.clock_now());
    if request.install_at.is_some_and(|at| at < retrieve_at) {
        return bad("install_at: not before retrieve_at").into_response();
    }
    if target.version == OcppVersion::V16 {
        // OCPP 1.6 UpdateFirmware has neither (the security whitepaper's
        // SignedUpdateFirmware is not sent); a signed update sent plain is another one.
        if request.signature.is_some() {
            return not_in_version(&target, "a signed update (signature)").into_response();
        }
        if request.install_at.is_some() {
            return not_in_version(&target, "install_at").into_response();
        }
    }
    let request_id = (target.version == OcppVersion::V201).then(request_id);
    let command = ChargerCommand::UpdateFirmware {
        request_id: request_id.unwrap_or(0),
        location: location.clone(),
        retrieve_at,
        install_at: request.install_at,
        signing_certificate: request.signing_certificate,
        signature: request.signature,
        retries: None,
        retry_interval_s: None,
    };
    state
        .device_command(
            &target,
            DeviceRequestKind::Firmware,
            command,
            request_id,
            location,
            holder.as_deref(),
        )
        .await
}

/// `POST .../logs` `{"log_type": "DiagnosticsLog" | "SecurityLog", "location"}`:
/// GetDiagnostics (1.6) / GetLog (2.0.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    log_type: LogType,
    location: String,
}

#[derive(Debug, Deserialize)]
enum LogType {
    DiagnosticsLog,
    SecurityLog,
}

pub async fn logs(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Logs>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let location = try_response!(location("location", &request.location));
    let security = matches!(request.log_type, LogType::SecurityLog);
    if security && target.version == OcppVersion::V16 {
        return not_in_version(&target, "the security log (log_type SecurityLog)").into_response();
    }
    let request_id = (target.version == OcppVersion::V201).then(request_id);
    let command = ChargerCommand::GetLog {
        request_id: request_id.unwrap_or(0),
        security,
        location: location.clone(),
    };
    state
        .device_command(
            &target,
            DeviceRequestKind::Log,
            command,
            request_id,
            location,
            holder.as_deref(),
        )
        .await
}

/// `POST .../accept` (no body, or `{}`): a charger admitted as Pending (`unknown-chargers
/// = "pending"`) becomes known: stored (`store::accept_charger`), so its next
/// BootNotification is Accepted, after a restart too. 404 for a charger chargegate never
/// saw, 409 for one already accepted (in the site file, or before). It is in no circuit:
/// chargegate sends it no limits until it is added to the site file.
pub async fn accept(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    body: axum::body::Bytes,
) -> Response {
    let empty = body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
            .is_ok_and(|m| m.is_empty());
    if !empty {
        return bad("body: accept takes no fields; send nothing or {}").into_response();
    }
    let Ok(charger) = crate::units::ChargerId::new(id) else {
        return bad(format!(
            "charger: not a charger id ({})",
            crate::units::ChargerId::rule()
        ))
        .into_response();
    };
    if state
        .live
        .current()
        .chargers
        .iter()
        .any(|c| c.id == charger)
    {
        return ApiError::new(
            StatusCode::CONFLICT,
            format!("{charger} is already accepted: it is in the site file"),
        )
        .into_response();
    }
    let by = match holder.as_deref() {
        Some(h) => format!("operator API, token {:?}", h.name),
        None => "operator API, open read".to_string(),
    };
    let (key, now) = (charger.to_string(), state.clock_now());
    let outcome = state
        .store
        .call(move |c| store::accept_charger(c, &key, &by, now))
        .await;
    match outcome {
        Ok(store::AcceptOutcome::Accepted) => {
            tracing::info!(charger = %charger, "accepted by the operator: its next boot is Accepted");
            Json(serde_json::json!({
                "id": charger.as_str(),
                "accepted": true,
                "connected": state.chargers.version(&charger).is_some(),
            }))
            .into_response()
        }
        Ok(store::AcceptOutcome::AlreadyAccepted) => ApiError::new(
            StatusCode::CONFLICT,
            format!("{charger} was accepted before"),
        )
        .into_response(),
        Ok(store::AcceptOutcome::Unknown) => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no charger {charger}: chargegate never saw it connect"),
        )
        .into_response(),
        Err(e) => {
            tracing::warn!("accepting a charger failed: {e}");
            super::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is not available",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_an_absolute_url_of_a_download_scheme() {
        for ok in [
            "https://files.example/fw.bin",
            "ftp://user:pw@10.0.0.2/up/",
            "SFTP://host:22/x",
            "http://[::1]:8080/",
        ] {
            assert_eq!(location("location", ok).unwrap(), ok);
        }
        for wrong in [
            "",
            "files.example/fw.bin",
            "file:///etc/passwd",
            "https://",
            "https:///path",
            "https://user@/x",
            "https://host/with space",
            "https://host/\u{7}",
            "javascript://x",
        ] {
            let e = location("location", wrong).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{wrong:?}");
            assert!(e.message.starts_with("location:"), "{}", e.message);
        }
        let long = format!("https://h/{}", "a".repeat(MAX_LOCATION));
        assert!(location("location", &long).is_err());
    }
}
