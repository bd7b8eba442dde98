//! `POST /api/v1/chargers/<id>/customer-information` (CustomerInformation, 2.0.1 N09/N10)
//! and `GET /api/v1/chargers/<id>/customer-information/<request_id>` (the
//! NotifyCustomerInformation parts assembled, an addition to the contract). As
//! `reports.rs`: the request is stored before it is sent (the station may send its first
//! part before its answer), the CSMS assembles the parts (`csms::reports`) and stores the
//! whole text. 1.6 has no such message: 409 before anything is sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::Holder;
use super::commands::{ID_TOKEN_TYPES, Target, body, try_response};
use super::reports::{ids, request_id, standing};
use super::{ApiError, HttpState};
use crate::ocpp::model::{
    CertificateHash, ChargerCommand, CommandReply, Customer, IdToken, OcppVersion,
};
use crate::store;

/// IdTokenType.idToken: identifierString[0..36].
const MAX_ID_TOKEN: usize = 36;
/// CustomerInformationRequest.customerIdentifier: string[0..64].
const MAX_IDENTIFIER: usize = 64;
/// HashAlgorithmEnumType.
const HASH_ALGORITHMS: &[&str] = &["SHA256", "SHA384", "SHA512"];

/// `POST .../customer-information`. `report` defaults to true and `clear` to false (a
/// clear is never implied); exactly one of `id_token` (with `id_token_type`),
/// `customer_identifier` and `customer_certificate` names the customer (N09.FR.09).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "yes")]
    report: bool,
    #[serde(default)]
    clear: bool,
    id_token: Option<String>,
    id_token_type: Option<String>,
    customer_identifier: Option<String>,
    customer_certificate: Option<CertificateBody>,
}

fn yes() -> bool {
    true
}

/// CertificateHashDataType, as `GET .../certificates` lists it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    hash_algorithm: String,
    issuer_name_hash: String,
    issuer_key_hash: String,
    serial: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// At most `max` characters of printable text.
fn field(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(bad(format!("{name}: 1 to {max} printable characters")));
    }
    Ok(())
}

/// The customer the request names, or a 400 that names the field at fault.
fn customer(request: Request) -> Result<Customer, ApiError> {
    let named = [
        request.id_token.is_some(),
        request.customer_identifier.is_some(),
        request.customer_certificate.is_some(),
    ];
    if named.iter().filter(|n| **n).count() != 1 {
        return Err(bad(
            "id_token, customer_identifier, customer_certificate: exactly one names the \
             customer (OCPP 2.0.1 N09.FR.09)",
        ));
    }
    if request.id_token.is_none() && request.id_token_type.is_some() {
        return Err(bad("id_token_type: only with id_token"));
    }
    if let Some(id) = request.id_token {
        field("id_token", &id, MAX_ID_TOKEN)?;
        let kind = match request.id_token_type {
            Some(k) if ID_TOKEN_TYPES.contains(&k.as_str()) => k,
            _ => {
                return Err(bad(format!(
                    "id_token_type: required with id_token, one of {}",
                    ID_TOKEN_TYPES.join(", ")
                )));
            }
        };
        return Ok(Customer::IdToken(IdToken {
            id,
            kind: Some(kind),
        }));
    }
    if let Some(identifier) = request.customer_identifier {
        field("customer_identifier", &identifier, MAX_IDENTIFIER)?;
        return Ok(Customer::Identifier(identifier));
    }
    let Some(c) = request.customer_certificate else {
        return Err(bad("customer_certificate: missing"));
    };
    if !HASH_ALGORITHMS.contains(&c.hash_algorithm.as_str()) {
        return Err(bad(format!(
            "customer_certificate.hash_algorithm: one of {}",
            HASH_ALGORITHMS.join(", ")
        )));
    }
    let hex = |name: &str, value: &str, max: usize| {
        if value.is_empty() || value.len() > max || !value.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "customer_certificate.{name}: hex, at most {max} digits"
            )));
        }
        Ok(())
    };
    hex("issuer_name_hash", &c.issuer_name_hash, 128)?;
    hex("issuer_key_hash", &c.issuer_key_hash, 128)?;
    hex("serial", &c.serial, 40)?;
    Ok(Customer::Certificate(CertificateHash {
        algorithm: c.hash_algorithm,
        issuer_name_hash: c.issuer_name_hash,
        issuer_key_hash: c.issuer_key_hash,
        serial: c.serial,
    }))
}

/// How the stored record names the customer, for the operator reading it back.
fn describe(customer: &Customer) -> String {
    match customer {
        Customer::IdToken(t) => {
            format!("idToken {} {}", t.kind.as_deref().unwrap_or_default(), t.id)
        }
        Customer::Identifier(i) => format!("customerIdentifier {i}"),
        Customer::Certificate(h) => format!("customerCertificate serial {}", h.serial),
    }
}

/// 409 before anything is stored or sent: CustomerInformation is 2.0.1 only.
fn only_201(target: &Target) -> Result<(), ApiError> {
    if target.version == OcppVersion::V201 {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "{}: CustomerInformation is not in OCPP 1.6; this charger speaks 1.6",
            target.id
        ),
    ))
}

/// 202 with the requestId and the station's status when it accepted a report (the parts
/// follow); 200 with its status otherwise (refused, or a clear without report).
pub async fn request(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Request>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let (report, clear) = (request.report, request.clear);
    if !report && !clear {
        return bad("report, clear: at least one must be true (else nothing is asked)")
            .into_response();
    }
    let customer = try_response!(customer(request));
    let target = try_response!(state.target(&id));
    try_response!(only_201(&target));
    let request_id = request_id();
    let (charger, now, named) = (
        target.id.to_string(),
        state.clock_now(),
        describe(&customer),
    );
    let written = state
        .store
        .call(move |c| {
            store::customer_information_requested(
                c,
                &charger,
                request_id,
                (report, clear),
                &named,
                now,
            )
        })
        .await;
    if let Err(e) = written {
        tracing::warn!("customer information request not stored: {e}");
        return super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is not available",
        );
    }
    let command = ChargerCommand::CustomerInformation {
        request_id,
        report,
        clear,
        customer,
    };
    let answer = state.send(&target, command, holder.as_deref()).await;
    settle(&state, &target, request_id, report, &answer).await;
    match answer {
        Ok(CommandReply::Status { status, accepted }) => {
            let code = if accepted && report {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            let body = json!({"request_id": request_id, "status": status, "accepted": accepted});
            (code, Json(body)).into_response()
        }
        Ok(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "CustomerInformation: unexpected answer",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Stores what the answer settles: a refusal or a failure to send, or a clear without
/// report, after which no part follows (TC_N_32). An accepted report waits for its parts.
async fn settle(
    state: &HttpState,
    target: &Target,
    request_id: i32,
    report: bool,
    answer: &Result<CommandReply, ApiError>,
) {
    let settled = match answer {
        Ok(CommandReply::Status {
            status,
            accepted: false,
        }) => ("rejected", status.clone()),
        Ok(_) if !report => ("complete", "cleared; no report asked".to_string()),
        Ok(_) => return,
        Err(e) => ("failed", e.message.clone()),
    };
    let (status, detail) = settled;
    let (charger, now) = (target.id.to_string(), state.clock_now());
    let stored = state
        .store
        .call(move |c| {
            store::customer_information_answered(c, &charger, request_id, status, &detail, now)
        })
        .await;
    if let Err(e) = stored {
        tracing::warn!("customer information answer not stored: {e}");
    }
}

/// `GET .../customer-information/<request_id>`: 200 with the text when complete (or with
/// why it was rejected or failed), 202 `incomplete` while parts are missing, 404 for a
/// request chargegate did not make (or no longer keeps: `store::KEEP_CUSTOMER_REPORTS`).
pub async fn get(
    State(state): State<HttpState>,
    Path((id, request_id)): Path<(String, String)>,
) -> Response {
    let (charger, request_id) = try_response!(ids(id, &request_id, "customer-information"));
    let key = charger.to_string();
    let record = match state
        .read_store(move |c| store::customer_information(c, &key, request_id))
        .await
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(r) = record else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no customer information request {request_id} of {charger}"),
        )
        .into_response();
    };
    let (code, status, detail) = standing(&r.status, r.detail, &r.updated_at, state.clock_now());
    let body = json!({
        "request_id": r.request_id,
        "customer": r.customer,
        "report": r.report,
        "clear": r.clear,
        "status": status,
        "parts": r.parts,
        "detail": detail,
        "requested": r.requested_at,
        "updated": r.updated_at,
        "data": r.data,
    });
    (code, Json(body)).into_response()
}
