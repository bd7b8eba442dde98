//! `GET /api/v1/alerts?active=true`: the alert list (DESIGN.md "HTTP", issue 10), newest
//! first, from the store (`store::alerts`), which the alert task keeps in step with its
//! book. `active=true` only the open ones, `active=false` only the cleared ones; `before`
//! (an id) and `limit` page back through the history.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, HttpState};
use crate::ocpp::time::format as ts;
use crate::store::{self, AlertRecord};

/// Alerts one answer holds by default and at most.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    active: Option<bool>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// One alert as the API shows it (also the `alert` event of `/api/v1/events`).
pub fn alert_json(a: &AlertRecord) -> Value {
    json!({
        "id": a.id,
        "kind": a.kind,
        "charger": a.charger,
        "meter": a.meter,
        "part": a.part,
        "severity": a.severity,
        "raised": ts(&a.raised),
        "cleared": a.cleared.as_ref().map(ts),
        "active": a.cleared.is_none(),
        "message": a.message,
    })
}

pub async fn list(
    State(state): State<HttpState>,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Response {
    match answer(&state, query).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: &HttpState,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Value, ApiError> {
    let q = super::query(query, "active (true or false), before, limit")?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LIMIT}"),
        ));
    }
    let (active, before) = (q.active, q.before);
    let rows = state
        .read_store(move |c| store::alerts(c, active, before, limit))
        .await?;
    Ok(json!({ "alerts": rows.iter().map(alert_json).collect::<Vec<_>>() }))
}
