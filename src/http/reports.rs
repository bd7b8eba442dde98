//! `POST /api/v1/chargers/<id>/report` (GetBaseReport, 2.0.1 only) and `GET
//! /api/v1/chargers/<id>/report/<request_id>` (the NotifyReport parts assembled, an
//! addition to the contract). The request is stored before it is sent (the station may
//! send its first part before its answer); the CSMS assembles the parts
//! (`csms::reports`) and stores the whole report. Decides nothing about the charger.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::Holder;
use super::commands::{body, try_response};
use super::{ApiError, HttpState};
use crate::csms::reports::IDLE;
use crate::ocpp::model::{ChargerCommand, CommandReply, OcppVersion};
use crate::store;
use crate::units::ChargerId;

/// `POST .../report` `{"base": "FullInventory"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    base: Base,
}

/// 2.0.1 ReportBaseEnumType.
#[derive(Debug, Clone, Copy, Deserialize)]
#[allow(clippy::enum_variant_names, reason = "the schema's words")]
enum Base {
    ConfigurationInventory,
    FullInventory,
    SummaryInventory,
}

impl Base {
    fn as_str(self) -> &'static str {
        match self {
            Base::ConfigurationInventory => "ConfigurationInventory",
            Base::FullInventory => "FullInventory",
            Base::SummaryInventory => "SummaryInventory",
        }
    }
}

/// A fresh requestId (positive; random so that it does not repeat across restarts).
pub(super) fn request_id() -> i32 {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    (OsRng.next_u32() >> 1) as i32
}

/// 202 with the requestId and the station's status when it accepted (the parts follow);
/// 200 with its status when it refused.
pub async fn request(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Report>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    if target.version == OcppVersion::V16 {
        return ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{}: GetBaseReport is not in OCPP 1.6; read its keys with GET .../configuration",
                target.id
            ),
        )
        .into_response();
    }
    let request_id = request_id();
    let base = request.base.as_str();
    let (charger, now) = (target.id.to_string(), state.clock_now());
    let written = state
        .store
        .call(move |c| store::report_requested(c, &charger, request_id, base, now))
        .await;
    if let Err(e) = written {
        tracing::warn!("report request not stored: {e}");
        return super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is not available",
        );
    }
    let command = ChargerCommand::GetBaseReport {
        request_id,
        report: base.to_string(),
    };
    let answer = state.send(&target, command, holder.as_deref()).await;
    let refused = match &answer {
        Ok(CommandReply::Status {
            status,
            accepted: false,
        }) => Some(("rejected", status.clone())),
        Ok(_) => None,
        Err(e) => Some(("failed", e.message.clone())),
    };
    if let Some((status, detail)) = refused {
        let (charger, now) = (target.id.to_string(), state.clock_now());
        let stored = state
            .store
            .call(move |c| store::report_refused(c, &charger, request_id, status, &detail, now))
            .await;
        if let Err(e) = stored {
            tracing::warn!("report refusal not stored: {e}");
        }
    }
    match answer {
        Ok(CommandReply::Status { status, accepted }) => {
            let code = if accepted {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            let body = json!({"request_id": request_id, "status": status, "accepted": accepted});
            (code, Json(body)).into_response()
        }
        Ok(_) => ApiError::new(StatusCode::BAD_GATEWAY, "GetBaseReport: unexpected answer")
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The charger and requestId of a `GET .../<what>/<request_id>`, or a 400 naming the bad
/// one (shared with `customer.rs`).
pub(super) fn ids(id: String, request_id: &str, what: &str) -> Result<(ChargerId, i32), ApiError> {
    let charger = ChargerId::new(id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("charger: not a charger id ({})", ChargerId::rule()),
        )
    })?;
    let request_id = request_id.parse::<i32>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("request_id: an integer, as the POST .../{what} answered"),
        )
    })?;
    Ok((charger, request_id))
}

/// Where an assembled request stands, as its GET answers it: 202 `incomplete` while parts
/// are missing, 200 `failed` once no part came for `IDLE` (the assembly is dropped then,
/// `csms::reports`), else 200 with the stored status and detail.
pub(super) fn standing(
    status: &str,
    detail: Option<String>,
    updated_at: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (StatusCode, String, Option<String>) {
    let waiting = status == "requested" || status == "incomplete";
    let idle = crate::ocpp::time::parse(updated_at).is_some_and(|at| now - at >= IDLE);
    match (waiting, idle) {
        (true, false) => (StatusCode::ACCEPTED, "incomplete".into(), detail),
        (true, true) => (
            StatusCode::OK,
            "failed".into(),
            Some("no part came for 10 minutes; ask again".to_string()),
        ),
        (false, _) => (StatusCode::OK, status.to_string(), detail),
    }
}

/// `GET .../report/<request_id>`: 200 with the variables when complete (or with why it
/// was rejected or failed), 202 `incomplete` while parts are missing, 404 for a request
/// chargegate did not make (or no longer keeps: `store::KEEP_REPORTS`).
pub async fn get(
    State(state): State<HttpState>,
    Path((id, request_id)): Path<(String, String)>,
) -> Response {
    let (charger, request_id) = try_response!(ids(id, &request_id, "report"));
    let key = charger.to_string();
    let record = match state
        .read_store(move |c| store::report(c, &key, request_id))
        .await
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(r) = record else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no report {request_id} of {charger}"),
        )
        .into_response();
    };
    let (code, status, detail) = standing(&r.status, r.detail, &r.updated_at, state.clock_now());
    let variables = r.variables.as_ref().map(|vs| {
        vs.iter()
            .map(|v| json!({"component": v.component, "variable": v.variable, "value": v.value}))
            .collect::<Vec<_>>()
    });
    let body = json!({
        "request_id": r.request_id,
        "base": r.base,
        "status": status,
        "parts": r.parts,
        "detail": detail,
        "requested": r.requested_at,
        "updated": r.updated_at,
        "variables": variables,
    });
    (code, Json(body)).into_response()
}
