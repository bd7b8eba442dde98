//! `/api/v1/...` handlers: parse the query strictly, read the store, answer JSON.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{HttpState, error};
use crate::store::{self, AuditRecord};
use crate::units::ChargerId;

/// Entries returned when the client does not say.
pub(super) const DEFAULT_LIMIT: u32 = 100;
/// The most entries one request may ask for (a Pi answers this in a few ms).
pub(super) const MAX_LIMIT: u32 = 1000;
/// How long a request waits for a store reader before it is answered 503.
pub(super) const STORE_WAIT: Duration = Duration::from_secs(5);

/// `GET /api/v1/audit?charger=CP-01&action=SetChargingProfile&limit=50`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    charger: Option<String>,
    action: Option<String>,
    limit: Option<u32>,
}

/// One audit entry on the wire: the command as sent and the answer as received are JSON
/// themselves (a text that is not JSON, such as a transport error, stays a string).
#[derive(Debug, Serialize)]
pub struct AuditEntry {
    ts: String,
    charger: String,
    action: String,
    outcome: String,
    reason: String,
    request: serde_json::Value,
    response: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        let json =
            |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Self {
            ts: r.ts,
            charger: r.charger_id,
            action: r.action,
            outcome: r.outcome,
            reason: r.reason,
            request: json(r.request),
            response: r.response.map(json),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuditPage {
    entries: Vec<AuditEntry>,
}

/// The newest audit entries first: every command chargegate sent to a charger (for
/// dispatch: every ChargingProfile), its answer or why there was none, and its reason.
pub async fn audit(
    State(state): State<HttpState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let query = match super::query(query, "charger, action, limit") {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let charger = match query.charger.map(ChargerId::new).transpose() {
        Ok(c) => c.map(|c| c.as_str().to_string()),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("charger: not a charger id ({})", ChargerId::rule()),
            );
        }
    };
    let action = query.action;
    if action.as_deref().is_some_and(|a| {
        a.is_empty() || a.len() > 64 || !a.chars().all(|c| c.is_ascii_alphanumeric())
    }) {
        return error(
            StatusCode::BAD_REQUEST,
            "action: an OCPP action name such as SetChargingProfile",
        );
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LIMIT}"),
        );
    }
    let records = state
        .read_store(move |c| store::audit_entries(c, charger.as_deref(), action.as_deref(), limit))
        .await;
    match records {
        Ok(records) => Json(AuditPage {
            entries: records.into_iter().map(AuditEntry::from).collect(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}
