//! `/api/v1/chargers` and `/api/v1/chargers/<id>`: each charger as the operator needs it
//! (connection, version, boot data, connectors, the limit in force and why, what it
//! measured, its open transaction, its vehicle's need and progress). One store read per
//! request (`HttpState::read_store`); the rest from the watches in `Now`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{NoQuery, Now, no_query, r2};
use crate::config::SITE_CIRCUIT;
use crate::dispatch::round::ChargerLimit;
use crate::http::{ApiError, HttpState};
use crate::ocpp::time::format as ts;
use crate::store::{
    self, ChargerMonitor, DeviceRequest, LimitSent, MeasuredCurrent, OpenTransaction,
};
use crate::units::{Amps, ChargerId};

/// `GET /api/v1/chargers`: every configured charger, then any other the store knows (one
/// admitted as Pending), with everything `/chargers/<id>` shows.
pub async fn chargers(
    State(state): State<HttpState>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    let now = state.monitor_now();
    match charger_list(&state, &now).await {
        Ok(list) => Json(json!({ "chargers": list })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Every charger as `/api/v1/chargers` lists it (also what `/metrics` reads, so that
/// both agree).
pub(super) async fn charger_list(state: &HttpState, now: &Now) -> Result<Vec<Value>, ApiError> {
    let configured: Vec<ChargerId> = now.config.chargers.iter().map(|c| c.id.clone()).collect();
    let ids = configured;
    let rows = state
        .read_store(move |c| {
            let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            for id in store::known_chargers(c)? {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids.into_iter()
                .map(|id| Ok((store::charger_monitor(c, &id)?, id)))
                .collect::<Result<Vec<_>, store::StoreError>>()
        })
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(stored, id)| {
            let id = ChargerId::new(id).ok()?;
            Some(charger_json(state, now, &id, &stored))
        })
        .collect())
}

/// `GET /api/v1/chargers/<id>`: 400 for a malformed id, 404 for a charger that is neither
/// configured nor known to the store.
pub async fn charger(
    State(state): State<HttpState>,
    Path(raw): Path<String>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    let Ok(id) = ChargerId::new(raw) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("charger: not a charger id ({})", ChargerId::rule()),
        )
        .into_response();
    };
    let now = state.monitor_now();
    let key = id.to_string();
    let stored = match state
        .read_store(move |c| store::charger_monitor(c, &key))
        .await
    {
        Ok(stored) => stored,
        Err(e) => return e.into_response(),
    };
    let configured = now.config.chargers.iter().any(|c| c.id == id);
    if !configured && stored.info.is_none() {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no charger {id}: not in the site file and never connected"),
        )
        .into_response();
    }
    Json(charger_json(&state, &now, &id, &stored)).into_response()
}

fn charger_json(state: &HttpState, now: &Now, id: &ChargerId, stored: &ChargerMonitor) -> Value {
    let config = now.config.chargers.iter().find(|c| &c.id == id);
    let version = state.chargers.version(id);
    let info = stored.info.as_ref();
    let target = now
        .control
        .limits_at(now.wall)
        .into_iter()
        .find(|(c, _)| c == id)
        .map(|(_, a)| a);
    let baseline = state.monitor.baseline.is_acknowledged(id);
    let lease_s = now.config.dispatch.lease_s;
    let limit = now
        .accounting
        .get(id)
        .map(|l| limit_json(l, baseline, &stored.limits, lease_s, now.wall, target));
    json!({
        "id": id.as_str(),
        "configured": config.is_some(),
        "connected": version.is_some(),
        "ocpp_version": version
            .map(|v| v.subprotocol().to_string())
            .or_else(|| info.and_then(|i| i.ocpp_version.clone()))
            .map(|v| v.trim_start_matches("ocpp").to_string()),
        "registration": info.map(|i| i.registration.clone()),
        "vendor": info.and_then(|i| i.vendor.clone()),
        "model": info.and_then(|i| i.model.clone()),
        "serial": info.and_then(|i| i.serial.clone()),
        "firmware": info.and_then(|i| i.firmware.clone()),
        "first_seen": info.map(|i| i.first_seen.clone()),
        "last_seen": info.map(|i| i.last_seen.clone()),
        "last_boot": info.and_then(|i| i.last_boot.clone()),
        "max_current_a": config.map(|c| r2(c.max_current.0)),
        "min_current_a": config.map(|c| r2(c.min_current.0)),
        "phases": config.map(|c| c.phases),
        "circuit": config.map(|c| c.circuit.as_deref().unwrap_or(SITE_CIRCUIT)),
        "priority": config.map(|c| c.priority),
        "connectors": stored.connectors.iter().map(|c| json!({
            "evse": c.evse_id,
            "connector": c.connector_id,
            "status": c.status,
            "error_code": c.error_code,
            "info": c.info,
            "at": c.updated_at,
        })).collect::<Vec<_>>(),
        "limit": limit,
        "measured": stored.measured.as_ref().map(measured_json),
        "transaction": stored.transaction.as_ref().map(transaction_json),
        "vehicle": vehicle_json(now, id),
        "firmware_update": stored.firmware_update.as_ref().map(|r| device_json(r, false)),
        "log_upload": stored.log_upload.as_ref().map(|r| device_json(r, true)),
    })
}

/// A firmware update or log upload and the charger's latest status on it (`null`: none
/// since the store began; `request_id` null for 1.6, which has none).
fn device_json(r: &DeviceRequest, log: bool) -> Value {
    let mut json = json!({
        "request_id": r.request_id,
        "location": r.location,
        "status": r.status,
        "requested": r.requested_at,
        "updated": r.updated_at,
    });
    if log {
        json["file_name"] = r.file_name.clone().into();
    }
    json
}

fn transaction_json(tx: &OpenTransaction) -> Value {
    let energy = match (tx.meter_start_wh, tx.meter_last_wh) {
        (Some(start), Some(last)) => Some(r2((last - start).max(0.0))),
        _ => None,
    };
    json!({
        "id": tx.id,
        "ocpp_id": tx.ocpp_tx_id,
        "evse": tx.evse_id,
        "id_token": tx.id_token,
        "started": tx.started_at,
        "meter_start_wh": tx.meter_start_wh,
        "meter_last_wh": tx.meter_last_wh,
        "energy_wh": energy,
        "charging_state": tx.charging_state,
        "updated": tx.updated_at,
    })
}

/// The charger's latest Current.Import per its own phase L1..L3 (its `phase-rotation`
/// places them on the site's), and a total where it reports one.
fn measured_json(m: &MeasuredCurrent) -> Value {
    let mut per_phase = [None; 3];
    let mut total = None;
    for (phase, value) in &m.per_phase {
        match phase.as_str() {
            "L1" | "L1-N" => per_phase[0] = Some(r2(*value)),
            "L2" | "L2-N" => per_phase[1] = Some(r2(*value)),
            "L3" | "L3-N" => per_phase[2] = Some(r2(*value)),
            "" => total = Some(r2(*value)),
            _ => {}
        }
    }
    json!({ "at": m.ts, "current_a": per_phase, "total_a": total })
}

/// The vehicle plugged in as the control loop sees it, with its need and the plan's
/// progress toward it; `null` without a vehicle.
fn vehicle_json(now: &Now, id: &ChargerId) -> Value {
    let snap = now
        .control
        .snapshot
        .as_deref()
        .and_then(|s| s.chargers.iter().find(|c| &c.id == id));
    let planned = now
        .control
        .plan
        .as_deref()
        .and_then(|p| p.chargers.iter().find(|c| &c.id == id));
    let Some(v) = snap.and_then(|c| c.vehicle.as_ref()) else {
        return Value::Null;
    };
    json!({
        "plugged_since": ts(&v.since),
        "id_token": v.id_token,
        // From NotifyEVChargingNeeds, the departure schedule or `PUT .../need`; null when
        // nobody told chargegate (then it charges as much as the site allows).
        "need": v.need.as_ref().map(|n| json!({
            "energy_wh": r2(n.energy.0),
            "departure": ts(&n.departure),
        })),
        "max_current_a": v.max_current.or(v.measured_max).map(|a| r2(a.0)),
        // Progress: what the plan in force delivers by departure and how much short.
        "planned_wh": planned.map(|p| r2(p.delivered.0)),
        "shortfall_wh": planned.map(|p| r2(p.shortfall.0)),
    })
}

/// Audit entries of a lease sent this long before the accounting's lease start still
/// count as that lease (the audit stamps the answer, dispatch the round, at ms).
const LEASE_MATCH_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// The limit in force on a charger and why, from dispatch's accounting and the audit
/// log. `source`: `lease` (a leased limit the charger accepted, until `until`),
/// `baseline` (no lease in force: the failsafe baseline it holds, S3), `assumed` (after
/// chargegate started, before the charger accepted a limit of this run: it may still hold
/// an older lease, so it counts at its maximum until `until`), or `unknown` (neither a
/// lease nor an acknowledged baseline: it may draw up to its maximum).
fn limit_json(
    l: &ChargerLimit,
    baseline: bool,
    sent: &[LimitSent],
    lease_s: u32,
    now: DateTime<Utc>,
    target: Option<Amps>,
) -> Value {
    let lease = match l.acknowledged {
        Some((a, Some(until))) if now < until => Some((a, until)),
        _ => None,
    };
    let accepted = |s: &&LimitSent| s.outcome == "accepted";
    let newest = sent.iter().find(accepted);
    let sent_at = |s: &LimitSent| crate::ocpp::time::parse(&s.ts);
    let (source, in_force, until, reason, set_at) = match lease {
        Some((a, until)) => {
            let start = until - chrono::TimeDelta::seconds(i64::from(lease_s));
            let ours =
                newest.is_some_and(|s| sent_at(s).is_some_and(|t| t + LEASE_MATCH_SLACK >= start));
            if ours {
                // A refresh resends the same limit: its reason is the send that set it.
                let why = sent
                    .iter()
                    .filter(accepted)
                    .find(|s| !s.reason.starts_with("refresh lease"))
                    .or(newest);
                (
                    "lease",
                    Some(a),
                    Some(until),
                    why.map(|s| s.reason.clone()),
                    why.map(|s| s.ts.clone()),
                )
            } else {
                (
                    "assumed",
                    None,
                    Some(until),
                    Some(format!(
                        "no limit of this run accepted yet: counted at its maximum {} A until then (S1)",
                        l.max.0
                    )),
                    None,
                )
            }
        }
        None if baseline => (
            "baseline",
            Some(l.failsafe),
            None,
            Some(format!(
                "failsafe baseline {} A, no lease in force (S3)",
                l.failsafe.0
            )),
            None,
        ),
        None => ("unknown", None, None, None, None),
    };
    json!({
        "source": source,
        "in_force_a": in_force.map(|a| r2(a.0)),
        "until": until.as_ref().map(ts),
        "reason": reason,
        "set_at": set_at,
        "pending_a": l.pending.map(|a| r2(a.0)),
        "effective_a": r2(l.effective(now).0),
        "target_a": target.map(|a| r2(a.0)),
        "failsafe_a": r2(l.failsafe.0),
        "baseline_installed": baseline,
        "responsive": l.responsive,
    })
}
