//! `/api/v1/chargers/<id>/certificates`: the certificates a 2.0.1 station holds (block M)
//! through the charger registry like every other command (`commands.rs`: audited, 409
//! offline or a 1.6 charger, 504 on its timeout, 502 on a CALLERROR).
//!
//! `GET` is GetInstalledCertificateIds (`?type=` repeated narrows it); `POST {"type",
//! "certificate"}` InstallCertificate, the PEM parsed as one X.509 certificate before it
//! is sent (a charger that stores garbage as its CSMS root locks itself out);
//! `DELETE .../certificates/<serial>` asks for the installed list first and sends
//! DeleteCertificate with the hash data the charger gave for that serial number (OCPP
//! names a certificate by its issuer hashes, which an operator does not have).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Holder;
use super::commands::{Target, body, reply_json, try_response};
use super::{ApiError, HttpState};
use crate::ocpp::model::{
    CertificateHash, ChargerCommand, CommandReply, InstalledCertificate, OcppVersion,
};

/// GetCertificateIdUseEnumType: what `?type=` may name.
const LISTED_TYPES: &[&str] = &[
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "V2GCertificateChain",
    "ManufacturerRootCertificate",
];
/// InstallCertificateUseEnumType: what may be installed.
const INSTALL_TYPES: &[&str] = &[
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
];
/// InstallCertificateRequest.certificate: string[0..5500].
const MAX_PEM: usize = 5500;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// 409 before anything is sent: certificate management is OCPP 2.0.1 here.
fn only_201(target: &Target) -> Result<(), ApiError> {
    if target.version == OcppVersion::V201 {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "{}: certificate management is OCPP 2.0.1 only here (the 1.6 security \
             extension's messages are not supported); this charger speaks 1.6",
            target.id
        ),
    ))
}

fn hash_json(hash: &CertificateHash) -> Value {
    json!({
        "serial": hash.serial,
        "hash_algorithm": hash.algorithm,
        "issuer_name_hash": hash.issuer_name_hash,
        "issuer_key_hash": hash.issuer_key_hash,
    })
}

/// The installed list as JSON: each certificate's type, serial and hash data.
pub(super) fn installed_json(status: &str, certificates: &[InstalledCertificate]) -> Value {
    json!({
        "status": status,
        "accepted": status == "Accepted",
        "certificates": certificates.iter().map(|c| {
            let mut entry = hash_json(&c.hash);
            entry["type"] = json!(c.kind);
            entry["children"] = c.children.iter().map(hash_json).collect();
            entry
        }).collect::<Vec<_>>(),
    })
}

/// `GET .../certificates[?type=CSMSRootCertificate&type=...]`.
pub async fn list(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut kinds = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name != "type" {
            return bad(format!(
                "unknown parameter {name:?}; known parameters: type"
            ))
            .into_response();
        }
        if !LISTED_TYPES.contains(&value.as_ref()) {
            return bad(format!("type: one of {}", LISTED_TYPES.join(", "))).into_response();
        }
        kinds.push(value.into_owned());
    }
    let target = try_response!(state.target(&id));
    try_response!(only_201(&target));
    let command = ChargerCommand::GetInstalledCertificateIds { kinds };
    match state.send(&target, command, holder.as_deref()).await {
        Ok(reply) => Json(reply_json(&reply)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST .../certificates` `{"type", "certificate"}`: InstallCertificate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    #[serde(rename = "type")]
    kind: String,
    certificate: String,
}

/// `pem` is one PEM `CERTIFICATE` block holding an X.509 certificate, within the
/// schema's length; or a 400 that says what is wrong.
fn check_pem(pem: &str) -> Result<(), ApiError> {
    if pem.chars().count() > MAX_PEM {
        return Err(bad(format!(
            "certificate: at most {MAX_PEM} characters (InstallCertificateRequest)"
        )));
    }
    let (rest, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| {
        bad("certificate: not PEM; expected -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----")
    })?;
    if block.label != "CERTIFICATE" {
        return Err(bad(format!(
            "certificate: a PEM CERTIFICATE block, not {:?}",
            block.label
        )));
    }
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(
            "certificate: exactly one certificate (InstallCertificate installs one root)",
        ));
    }
    block
        .parse_x509()
        .map_err(|e| bad(format!("certificate: not an X.509 certificate ({e})")))?;
    Ok(())
}

pub async fn install(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Install>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    if !INSTALL_TYPES.contains(&request.kind.as_str()) {
        return bad(format!("type: one of {}", INSTALL_TYPES.join(", "))).into_response();
    }
    try_response!(check_pem(&request.certificate));
    let target = try_response!(state.target(&id));
    try_response!(only_201(&target));
    let command = ChargerCommand::InstallCertificate {
        kind: request.kind,
        pem: request.certificate,
    };
    state.command(&target, command, holder.as_deref()).await
}

/// A serial number as OCPP writes it: hex, lower case, no leading zeros, no separators.
fn normal_serial(text: &str) -> String {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_string()
}

/// `DELETE .../certificates/<serial>`: the installed certificate with that serial number
/// (hex; `:` separators and case ignored) is deleted by its hash data.
pub async fn delete(
    State(state): State<HttpState>,
    Path((id, serial)): Path<(String, String)>,
    holder: Option<axum::Extension<Holder>>,
) -> Response {
    let wanted = normal_serial(&serial);
    if serial.is_empty() || serial.len() > 60 || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        return bad("serial: the certificate's serial number in hex, e.g. 1f3a or 1F:3A")
            .into_response();
    }
    let target = try_response!(state.target(&id));
    try_response!(only_201(&target));
    let listed = ChargerCommand::GetInstalledCertificateIds { kinds: Vec::new() };
    let installed = match try_response!(state.send(&target, listed, holder.as_deref()).await) {
        CommandReply::InstalledCertificates { certificates, .. } => certificates,
        other => {
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "GetInstalledCertificateIds to {}: answered {other:?}",
                    target.id
                ),
            )
            .into_response();
        }
    };
    let matching: Vec<&CertificateHash> = installed
        .iter()
        .flat_map(|c| std::iter::once(&c.hash).chain(&c.children))
        .filter(|h| normal_serial(&h.serial) == wanted)
        .collect();
    let hash = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{} has no certificate with serial {wanted}", target.id),
            )
            .into_response();
        }
        _ => {
            return ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "{} holds {} certificates with serial {wanted} (from different issuers); \
                     not deleting a guess",
                    target.id,
                    matching.len()
                ),
            )
            .into_response();
        }
    };
    let command = ChargerCommand::DeleteCertificate { hash };
    state.command(&target, command, holder.as_deref()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_as_ocpp_writes_them() {
        assert_eq!(normal_serial("00:1F:3a"), "1f3a");
        assert_eq!(normal_serial("0"), "0");
    }

    #[test]
    fn a_pem_is_one_parsable_certificate() {
        assert!(
            check_pem("hello")
                .unwrap_err()
                .message
                .starts_with("certificate")
        );
        let garbage = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(check_pem(garbage).unwrap_err().message.contains("X.509"));
        let key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
        assert!(check_pem(key).unwrap_err().message.contains("CERTIFICATE"));
    }
}
