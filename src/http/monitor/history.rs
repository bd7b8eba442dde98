//! `GET /api/v1/meters/<id>/history?hours=6`: a meter's 1-minute summaries (the store's
//! meter history, migration 2) over the last hours, oldest first, so that the status page
//! can draw the hours before it was opened. Per minute: the largest and the mean current
//! per site phase (A; a grid meter's includes the chargers, a building meter's is the
//! other load, as `measured_a` in `/api/v1/site`), the sample count and the mean power.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::r2;
use crate::config::SITE_CIRCUIT;
use crate::http::{ApiError, HttpState};
use crate::ocpp::time::format as ts;
use crate::store;

/// Hours given when the client does not say, and the most it may ask for (24 h of
/// minutes: 1,440 rows per meter, a few ms on a Pi).
const DEFAULT_HOURS: u32 = 6;
const MAX_HOURS: u32 = 24;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    hours: Option<u32>,
}

pub async fn meter_history(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Response {
    let query = match crate::http::query(query, "hours") {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let hours = query.hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        let message = format!("hours: from 1 to {MAX_HOURS}");
        return ApiError::new(StatusCode::BAD_REQUEST, message).into_response();
    }
    let config = state.live.current();
    let Some(meter) = config.meters.iter().find(|m| m.id == id) else {
        let message = format!("no meter {id:?} in the site file");
        return ApiError::new(StatusCode::NOT_FOUND, message).into_response();
    };
    let circuit = meter
        .circuit
        .clone()
        .unwrap_or_else(|| SITE_CIRCUIT.to_string());
    let since = state.clock_now() - chrono::TimeDelta::hours(i64::from(hours));
    let key = id.clone();
    let minutes = match state
        .read_store(move |c| store::meter_minutes(c, &key, since))
        .await
    {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let phases = |v: [Option<f64>; 3]| json!(v.map(|a| a.map(r2)));
    let rows: Vec<Value> = minutes
        .iter()
        .map(|m| {
            json!({
                "minute": ts(&m.minute),
                "samples": m.samples,
                "max_a": phases(m.max_a),
                "mean_a": phases(m.mean_a),
                "mean_power_w": m.mean_power_w.map(r2),
            })
        })
        .collect();
    Json(json!({ "meter": id, "circuit": circuit, "hours": hours, "minutes": rows }))
        .into_response()
}
