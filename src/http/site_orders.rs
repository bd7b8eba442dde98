//! The operator's orders to the control loop: `PUT /api/v1/chargers/<id>/need` (a
//! vehicle's energy and departure for the planner) and `PUT/DELETE /api/v1/site/limit`
//! (a temporary lower grid limit, e.g. a distribution operator's curtailment).
//!
//! Thin like every handler: the body is checked strictly (a 400 names the field), a
//! temporary limit is stored first (so a restart keeps it) and then handed to the control
//! loop (`control::Orders`), which answers once the guard has checked the readings
//! against it and the plan is remade. The answer says what is in force.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::commands::{body, try_response};
use super::{ApiError, HttpState};
use crate::control::{NeedOutcome, OrderError, Orders};
use crate::site::Need;
use crate::store::{self, LimitSource, TemporaryLimit};
use crate::units::{Amps, ChargerId, WattHours};

/// The largest need one vehicle may be given, in Wh: above the biggest truck battery
/// (about 1 MWh), so a typo in kWh vs Wh is caught.
const MAX_NEED_WH: f64 = 2_000_000.0;
/// How far ahead a departure may be: the planner looks a day or two ahead; a week
/// covers a vehicle parked over a long weekend.
const MAX_DEPARTURE_DAYS: i64 = 7;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

impl HttpState {
    fn orders(&self) -> Result<&Orders, ApiError> {
        self.orders
            .as_ref()
            .ok_or_else(|| order_error(OrderError::Stopped))
    }
}

fn order_error(e: OrderError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// `PUT /api/v1/chargers/<id>/need` `{"energy_wh": 40000, "departure": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeedBody {
    energy_wh: f64,
    departure: DateTime<Utc>,
}

pub async fn put_need(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    request: Result<Json<NeedBody>, JsonRejection>,
) -> Response {
    let Ok(charger) = ChargerId::new(id.clone()) else {
        return ApiError::new(StatusCode::NOT_FOUND, format!("no charger {id:?}")).into_response();
    };
    let need = try_response!(body(request));
    let now = state.clock_now();
    if !need.energy_wh.is_finite() || need.energy_wh <= 0.0 || need.energy_wh > MAX_NEED_WH {
        return bad(format!(
            "energy_wh: more than 0 and at most {MAX_NEED_WH} (Wh, not kWh)"
        ))
        .into_response();
    }
    if need.departure <= now {
        return bad(format!(
            "departure: {} is not in the future",
            time(need.departure)
        ))
        .into_response();
    }
    if need.departure > now + chrono::Duration::days(MAX_DEPARTURE_DAYS) {
        return bad(format!(
            "departure: at most {MAX_DEPARTURE_DAYS} days ahead"
        ))
        .into_response();
    }
    let orders = try_response!(state.orders());
    let outcome = orders
        .set_need(
            charger.clone(),
            Need {
                energy: WattHours(need.energy_wh),
                departure: need.departure,
            },
        )
        .await;
    match outcome {
        Ok(NeedOutcome::Set) => Json(json!({
            "charger": charger.as_str(),
            "energy_wh": need.energy_wh,
            "departure": time(need.departure),
        }))
        .into_response(),
        Ok(NeedOutcome::UnknownCharger) => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no charger {charger} in the site file"),
        )
        .into_response(),
        Ok(NeedOutcome::NoVehicle) => ApiError::new(
            StatusCode::CONFLICT,
            format!("no vehicle is plugged in at {charger}: a need belongs to a vehicle"),
        )
        .into_response(),
        Err(e) => order_error(e).into_response(),
    }
}

/// `PUT /api/v1/site/limit` `{"limit_a": 120, "until": "..."}`; `until` null or left out:
/// until it is deleted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteLimitBody {
    limit_a: f64,
    #[serde(default)]
    until: Option<DateTime<Utc>>,
}

pub fn limit_json(l: &TemporaryLimit) -> Value {
    json!({
        "limit_a": l.limit.0,
        "until": l.until.map(time),
        "set_at": time(l.set_at),
        "source": l.source.as_str(),
    })
}

pub async fn put_site_limit(
    State(state): State<HttpState>,
    request: Result<Json<SiteLimitBody>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let now = state.clock_now();
    let configured = state.live.current().site.grid_limit.0;
    if !request.limit_a.is_finite() || request.limit_a <= 0.0 {
        return bad("limit_a: a number of A per phase, more than 0").into_response();
    }
    if request.limit_a > configured {
        return bad(format!(
            "limit_a: {} A is above the grid connection's {configured} A ([site] \
             grid-limit-a): a temporary limit can only lower it",
            request.limit_a
        ))
        .into_response();
    }
    if let Some(until) = request.until.filter(|u| *u <= now) {
        return bad(format!("until: {} is not in the future", time(until))).into_response();
    }
    let limit = TemporaryLimit {
        limit: Amps(request.limit_a),
        until: request.until,
        set_at: now,
        source: LimitSource::Operator,
    };
    let orders = try_response!(state.orders()).clone();
    try_response!(
        state
            .read_store(move |c| store::set_temporary_limit(c, &limit))
            .await
    );
    // Stored: a restart keeps it even if the loop does not answer below.
    if let Err(e) = orders
        .set_temporary_limit(LimitSource::Operator, Some(limit))
        .await
    {
        return order_error(e).into_response();
    }
    let mut answer = limit_json(&limit);
    answer["grid_limit_a"] = json!(configured);
    Json(answer).into_response()
}

pub async fn delete_site_limit(State(state): State<HttpState>) -> Response {
    let orders = try_response!(state.orders()).clone();
    let removed = try_response!(
        state
            .read_store(|c| store::clear_temporary_limit(c, LimitSource::Operator))
            .await
    );
    if let Err(e) = orders
        .set_temporary_limit(LimitSource::Operator, None)
        .await
    {
        return order_error(e).into_response();
    }
    Json(json!({ "temporary_limit": Value::Null, "removed": removed })).into_response()
}
