//! `/api/v1/reservations`: the operator reserves an EVSE (or any EVSE of a charger) for a
//! card or a group until a time (DESIGN.md "HTTP"; OCPP 1.6 §5.13 ReserveNow, §5.1
//! CancelReservation; 2.0.1 H01, H02).
//!
//! chargegate stores the reservation first (its row id is the reservationId, so ids are
//! unique across restarts), then sends ReserveNow through the charger registry (which
//! audits it) and keeps the charger's answer: `accepted` or `rejected`. A charger that
//! does not answer leaves it `requested` (it may have taken it; it ends at its expiry
//! either way). The CSMS honours an open reservation itself (`csms::reservations`);
//! this module decides nothing about charging. Expiry is applied on every read with the
//! daemon's clock (`store::expire_due`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Holder;
use super::commands::{body, command_error, positive};
use super::id_tokens::{MAX_ID, is_identifier};
use super::{ApiError, HttpState};
use crate::charger::registry::CommandError;
use crate::ocpp::model::{ChargerCommand, CommandReply, IdToken, OcppVersion};
use crate::store::{self, NewReservation, ReservationRecord};

/// Reservations one page holds by default and at most.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// A 1.6 idTag and parentIdTag are CiString20 (§6.37).
const MAX_ID_16: usize = 20;

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn reservation_json(r: &ReservationRecord) -> Value {
    json!({
        "id": r.id,
        "charger": r.charger_id,
        "evse": r.evse_id,
        "id_token": r.id_token,
        "group": r.group,
        "expires": time(&r.expires),
        "state": r.state,
        "charger_status": r.charger_status,
        "created": time(&r.created_at),
        "updated": time(&r.updated_at),
        "transaction": r.transaction_id,
    })
}

/// `GET /api/v1/reservations?before=ID&limit=N`: newest first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    before: Option<i32>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<HttpState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let query = match super::query(query, "before, limit") {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return super::error(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LIMIT}"),
        );
    }
    let (before, now) = (query.before, state.clock_now());
    let page = state
        .read_store(move |c| {
            store::expire_due(c, now)?;
            store::reservations(c, before, limit)
        })
        .await;
    match page {
        Ok(rows) => Json(json!({
            "reservations": rows.iter().map(reservation_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v1/reservations`
/// `{"charger": "CP-01", "evse": 1 or null, "id_token": "...", "group": null, "expires": "..."}`.
/// At least one of `id_token` and `group`: a group reservation without a card of its own
/// is sent with the group as the card (1.6 §5.13 then matches by parentIdTag).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    charger: String,
    #[serde(default)]
    evse: Option<u32>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    group: Option<String>,
    expires: DateTime<Utc>,
}

/// A card or group id as the operator wrote it, for the charger's version.
fn identifier(
    field: &str,
    value: Option<String>,
    version: OcppVersion,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let max = match version {
        OcppVersion::V16 => MAX_ID_16,
        OcppVersion::V201 => MAX_ID,
    };
    if is_identifier(&value) && value.len() <= max {
        Ok(Some(value))
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{field}: 1 to {max} letters, digits or *-_=:+|@. (an OCPP identifierString; \
                 a 1.6 charger takes at most {MAX_ID_16})"
            ),
        ))
    }
}

pub async fn create(
    State(state): State<HttpState>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<NewBody>, JsonRejection>,
) -> Response {
    match create_reservation(&state, holder.as_deref(), request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn create_reservation(
    state: &HttpState,
    holder: Option<&Holder>,
    request: Result<Json<NewBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let evse = positive("evse", request.evse)?;
    if request.id_token.is_none() && request.group.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "id_token: required unless the reservation is for a group (group)",
        ));
    }
    let now = state.clock_now();
    if request.expires <= now {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expires: {} is not in the future", time(&request.expires)),
        ));
    }
    let target = state.target(&request.charger)?;
    let id_token = identifier("id_token", request.id_token, target.version)?;
    let group = identifier("group", request.group, target.version)?;
    // A group-only reservation names the group as its card; on 2.0.1 a group is a
    // Central token (as in idTokenInfo.groupIdToken).
    let (card, kind) = match (&id_token, &group) {
        (Some(card), _) => (card.clone(), None),
        (None, Some(g)) => (
            g.clone(),
            (target.version == OcppVersion::V201).then(|| "Central".to_string()),
        ),
        (None, None) => unreachable!("checked above"),
    };
    let new = NewReservation {
        charger_id: target.id.to_string(),
        evse_id: evse,
        id_token: card.clone(),
        group: group.clone(),
        expires: request.expires,
    };
    let stored = state
        .read_store(move |c| store::create_reservation(c, &new, now))
        .await?;
    let command = ChargerCommand::ReserveNow {
        reservation_id: stored.id,
        evse_id: evse,
        expiry: request.expires,
        id_token: IdToken { id: card, kind },
        group_id: group,
    };
    let answer = send(state, &target.id, command, holder).await;
    let id = stored.id;
    let (accepted, word) = match &answer {
        Ok(CommandReply::Status { status, accepted }) => (*accepted, status.clone()),
        Ok(_) => (false, "unexpected answer".to_string()),
        // The charger may have taken it: it stays `requested` and ends at its expiry.
        Err(CommandError::Timeout) => {
            return Err(command_error(
                &target.id,
                "ReserveNow",
                CommandError::Timeout,
            ));
        }
        Err(e) => (false, format!("not delivered: {e}")),
    };
    let when = state.clock_now();
    let record = state
        .read_store(move |c| {
            store::reservation_answered(c, id, accepted, &word, when)?;
            store::reservation(c, id)
        })
        .await?;
    if let Err(e) = answer {
        return Err(command_error(&target.id, "ReserveNow", e));
    }
    match record {
        Some(r) => Ok((StatusCode::CREATED, Json(reservation_json(&r))).into_response()),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the reservation was written but cannot be read back",
        )),
    }
}

/// Sends `command` through the registry (which audits it), naming the token holder.
async fn send(
    state: &HttpState,
    charger: &crate::units::ChargerId,
    command: ChargerCommand,
    holder: Option<&Holder>,
) -> Result<CommandReply, CommandError> {
    let reason = match holder {
        Some(h) => format!("operator API, token {:?}", h.name),
        None => "operator API, open read".to_string(),
    };
    tracing::info!(%charger, command = command.name(), %reason, "operator command");
    state.chargers.send(charger, command, reason).await
}

/// `DELETE /api/v1/reservations/<id>`: CancelReservation. The reservation ends
/// `cancelled` whatever the charger answers: `Rejected` means it holds no such
/// reservation (1.6 §5.1, 2.0.1 H02), so there is nothing left to honour either way; the
/// answer carries the charger's word.
pub async fn cancel(
    State(state): State<HttpState>,
    Path(raw): Path<String>,
    holder: Option<axum::Extension<Holder>>,
) -> Response {
    match cancel_reservation(&state, &raw, holder.as_deref()).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn cancel_reservation(
    state: &HttpState,
    raw: &str,
    holder: Option<&Holder>,
) -> Result<Response, ApiError> {
    let id: i32 = raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("id: {raw:?} is not a reservation id (an integer)"),
        )
    })?;
    let now = state.clock_now();
    let stored = state
        .read_store(move |c| {
            store::expire_due(c, now)?;
            store::reservation(c, id)
        })
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no reservation {id}")))?;
    if !stored.is_open(now) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("reservation {id} is already {}", stored.state),
        ));
    }
    let target = state.target(&stored.charger_id)?;
    let answer = send(
        state,
        &target.id,
        ChargerCommand::CancelReservation { reservation_id: id },
        holder,
    )
    .await
    .map_err(|e| command_error(&target.id, "CancelReservation", e))?;
    let word = match &answer {
        CommandReply::Status { status, .. } => status.clone(),
        _ => "unexpected answer".to_string(),
    };
    let (charger, when) = (stored.charger_id.clone(), state.clock_now());
    let record = state
        .read_store(move |c| {
            store::end_reservation(c, &charger, id, "cancelled", Some(&word), when)?;
            store::reservation(c, id)
        })
        .await?;
    tracing::info!(reservation = id, "reservation cancelled through the API");
    let mut out = record.as_ref().map_or(Value::Null, reservation_json);
    out["accepted"] = json!(answer.is_accepted());
    Ok(Json(out).into_response())
}
