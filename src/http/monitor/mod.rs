//! The operator's monitoring reads (DESIGN.md "HTTP", issue 10): `/api/v1/site`,
//! `/chargers`, `/chargers/<id>`, `/plan`, `/meters` and `/meters/<id>/history`, and the stream of their changes,
//! `/events` (`events.rs`).
//!
//! Each answer is put together from what the running tasks already publish: the control
//! loop's output (plan, guard cuts, the site snapshot with its non-charger load), dispatch's
//! S1 accounting per charger, the meters' statuses (all `watch` channels: a borrow, cloned
//! out at once, never held across an `.await`), the charger registry (who is connected and
//! in which version) and, for `/chargers`, one store read (boot data, connector statuses,
//! the open transaction, the latest samples, the newest limits in the audit log) through
//! `HttpState::read_store`. Handlers never decide, never block the control loop and never
//! invent a fact: what chargegate does not know yet is `null` with the field present.
//!
//! Currents are in A, per site phase L1, L2, L3 (index 0, 1, 2) unless a field says
//! otherwise, rounded to 0.01 A; times are RFC 3339 UTC.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{ApiError, HttpState};
use crate::config::{Config, MeterRole, SITE_CIRCUIT};
use crate::control::ControlOutput;
use crate::csms::Csms;
use crate::dispatch::BaselineState;
use crate::dispatch::round::ChargerLimit;
use crate::meter::MeterStatus;
use crate::ocpp::time::format as ts;
use crate::planner::PlanKind;
use crate::site::SiteSnapshot;
use crate::units::{Amps, ChargerId};

mod chargers;
mod events;
mod history;
mod metrics;
mod upstream;

pub use chargers::{charger, chargers};
pub use events::{MAX_EVENT_STREAMS, events};
pub use history::meter_history;
pub use metrics::metrics;
pub use upstream::UpstreamStatus;

/// What the monitoring reads read: the running tasks' published state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The control loop's output: plan, guard cuts, site snapshot (`control.output`).
    pub control: watch::Receiver<ControlOutput>,
    /// Dispatch's S1 accounting per charger, after every round.
    pub accounting: watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
    /// Each `[[meter]]`'s latest status, by id.
    pub meters: BTreeMap<String, watch::Receiver<MeterStatus>>,
    /// Which chargers hold their failsafe baseline (S3), as the baseline task knows it
    /// (the accounting's copy is only brought up to date at dispatch's next round).
    pub baseline: BaselineState,
    /// Charger events and connection changes, for `/api/v1/events` (`None`: no stream).
    pub csms: Option<Csms>,
    /// Every alert raised or cleared, as stored, for `/api/v1/events` (`None`: no alert
    /// task; `with_alerts`).
    pub alerts: Option<tokio::sync::broadcast::Sender<crate::store::AlertRecord>>,
    /// The upstream link's state (`None`: no `[upstream.*]`; `with_upstream`).
    pub upstream: Option<watch::Receiver<UpstreamStatus>>,
    /// The OCPP Local Controller's state (`None`: no `[upstream.ocpp]`).
    pub local_controller: Option<watch::Receiver<UpstreamStatus>>,
    /// One permit per open `/api/v1/events` stream (`events::MAX_EVENT_STREAMS`).
    streams: Arc<tokio::sync::Semaphore>,
}

impl Sources {
    pub fn new(
        control: watch::Receiver<ControlOutput>,
        accounting: watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
        meters: BTreeMap<String, watch::Receiver<MeterStatus>>,
        baseline: BaselineState,
        csms: Option<Csms>,
    ) -> Self {
        Self {
            control,
            accounting,
            meters,
            baseline,
            csms,
            alerts: None,
            upstream: None,
            local_controller: None,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
        }
    }

    /// The alert task's announcements, for the `alert` events of `/api/v1/events`.
    #[must_use]
    pub fn with_alerts(
        mut self,
        alerts: tokio::sync::broadcast::Sender<crate::store::AlertRecord>,
    ) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// The upstream task's link state, for `/api/v1/site`, `/metrics` and the page.
    #[must_use]
    pub fn with_upstream(mut self, upstream: watch::Receiver<UpstreamStatus>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// The OCPP Local Controller's state, for `/api/v1/site` `local_controller`.
    #[must_use]
    pub fn with_local_controller(mut self, status: watch::Receiver<UpstreamStatus>) -> Self {
        self.local_controller = Some(status);
        self
    }
}

impl Default for Sources {
    /// Nothing running behind it: no plan, no accounting, no meters (the channels'
    /// senders are gone, so every value stays the default).
    fn default() -> Self {
        Self::new(
            watch::channel(ControlOutput::default()).1,
            watch::channel(BTreeMap::new()).1,
            BTreeMap::new(),
            BaselineState::default(),
            None,
        )
    }
}

/// A read without parameters: any parameter is a mistake worth a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

pub(super) fn no_query(query: Result<Query<NoQuery>, QueryRejection>) -> Result<(), ApiError> {
    query.map(|_| ()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{}; this read takes no parameters", e.body_text()),
        )
    })
}

/// Rounds a current or energy for the operator: 0.01 of its unit.
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn phases(v: [f64; 3]) -> Value {
    json!(v.map(r2))
}

/// The wall time of a monotonic instant in the past (a meter reading's `at`).
fn wall_of(state: &HttpState, at: tokio::time::Instant) -> DateTime<Utc> {
    let ago = state.clock.instant().saturating_duration_since(at);
    state.clock_now() - chrono::TimeDelta::from_std(ago).unwrap_or_default()
}

/// Everything the site-level reads need, taken out of the watches at one moment.
pub(super) struct Now {
    config: Arc<Config>,
    control: ControlOutput,
    accounting: BTreeMap<ChargerId, ChargerLimit>,
    meters: Vec<MeterStatus>,
    upstream: Option<UpstreamStatus>,
    local_controller: Option<UpstreamStatus>,
    wall: DateTime<Utc>,
    instant: tokio::time::Instant,
}

impl HttpState {
    pub(super) fn monitor_now(&self) -> Now {
        Now {
            config: self.live.current(),
            control: self.monitor.control.borrow().clone(),
            accounting: self.monitor.accounting.borrow().clone(),
            meters: self
                .monitor
                .meters
                .values()
                .map(|m| m.borrow().clone())
                .collect(),
            upstream: self.monitor.upstream.as_ref().map(|u| u.borrow().clone()),
            local_controller: self
                .monitor
                .local_controller
                .as_ref()
                .map(|u| u.borrow().clone()),
            wall: self.clock_now(),
            instant: self.clock.instant(),
        }
    }
}

// ---- /api/v1/site ----

/// `GET /api/v1/site`: limits, per-phase load, committed limits, headroom, meters' health,
/// planner state.
pub async fn site(
    State(state): State<HttpState>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    Json(site_json(&state.monitor_now())).into_response()
}

pub(super) fn site_json(now: &Now) -> Value {
    let config = &now.config;
    let snapshot = now.control.snapshot.as_deref();
    let committed = snapshot.map(|s| committed(s, &now.accounting, now.wall));
    let circuits: Vec<Value> = match snapshot {
        Some(snap) => snap
            .circuits
            .iter()
            .enumerate()
            .map(|(c, node)| {
                let assumed: [f64; 3] = std::array::from_fn(|p| snap.assumed_load(c, p));
                let committed = committed.as_ref().map_or([0.0; 3], |k| k[c]);
                let headroom: [f64; 3] =
                    std::array::from_fn(|p| snap.budget(c) - assumed[p] - committed[p]);
                json!({
                    "id": node.id,
                    "parent": node.parent.map(|p| snap.circuits[p].id.clone()),
                    "limit_a": r2(node.limit.0),
                    "usable_a": r2(snap.budget(c)),
                    "measured_a": measured(now, &node.id),
                    "load_a": phases(node.load.map(|a| a.0)),
                    "load_stale": node.stale,
                    "assumed_load_a": phases(assumed),
                    "unconfirmed_a": phases(node.unconfirmed.map(|a| a.0)),
                    "committed_a": phases(committed),
                    "headroom_a": phases(headroom),
                })
            })
            .collect(),
        // The control loop has not gone round yet (the first seconds after start).
        None => Vec::new(),
    };
    json!({
        "id": config.site.id,
        "at": ts(&now.wall),
        "phases": config.site.phases,
        "nominal_voltage_v": config.site.nominal_voltage.0,
        "grid_limit_a": r2(config.site.grid_limit.0),
        "margin_a": r2(config.site.margin.0),
        "worst_case_load_a": r2(config.site.worst_case_load.0),
        "circuits": circuits,
        // The lowest temporary limit in force as the control loop last applied it, the
        // operator's (`PUT /api/v1/site/limit`) or the cloud's (`source`); circuit 0's
        // `limit_a` above is already lowered to it.
        "temporary_limit": snapshot
            .and_then(|s| s.temporary_limit.as_ref())
            .map(super::site_orders::limit_json),
        "meters": now.meters.iter().map(|m| json!({
            "id": m.id,
            "health": health(m, now.instant),
        })).collect::<Vec<_>>(),
        // `null` without `[upstream.mqtt]`.
        "upstream": now.upstream.as_ref().map(upstream::upstream_json),
        // `null` without `[upstream.ocpp]`.
        "local_controller": now.local_controller.as_ref().map(upstream::upstream_json),
        "planner": planner_state(&now.control),
    })
}

/// What the chargers' effective limits (S1: what each may draw as far as dispatch's
/// accounting knows) add up to per circuit and site phase, a charger counting on its own
/// circuit and every one above it.
fn committed(
    snap: &SiteSnapshot,
    accounting: &BTreeMap<ChargerId, ChargerLimit>,
    now: DateTime<Utc>,
) -> Vec<[f64; 3]> {
    let mut out = vec![[0.0; 3]; snap.circuits.len()];
    for charger in &snap.chargers {
        // A charger dispatch does not account (none: every configured one is) counts at
        // its maximum, as dispatch would count it.
        let effective = accounting
            .get(&charger.id)
            .map_or(charger.max_current, |l| l.effective(now));
        for c in snap.chain(charger.circuit) {
            for (sum, loads) in out[c].iter_mut().zip(snap.counted_at(charger, c)) {
                if loads {
                    *sum += effective.0;
                }
            }
        }
    }
    out
}

/// What a circuit's meter reads now, per phase: a `grid` meter's current (chargers
/// included) if one is fresh, else a `building` meter's (the non-charger load itself);
/// `null` when the circuit has no fresh meter.
fn measured(now: &Now, circuit: &str) -> Value {
    let mut fresh: Vec<&MeterStatus> = now
        .meters
        .iter()
        .filter(|m| m.circuit.as_deref().unwrap_or(SITE_CIRCUIT) == circuit)
        .filter(|m| m.usable(now.instant).is_some())
        .collect();
    fresh.sort_by_key(|m| m.role != MeterRole::Grid);
    let Some(reading) = fresh.first().and_then(|m| m.usable(now.instant)) else {
        return Value::Null;
    };
    json!(reading.current.map(|a| a.map(|a| r2(a.0))))
}

/// `ok`: a good reading within `stale-after-ms`; `stale`: its last good reading is older
/// (or it answers with errors or frozen values); `no-reading`: none since start. A stale
/// meter's load is taken at `worst-case-load-a` (S5).
fn health(m: &MeterStatus, now: tokio::time::Instant) -> &'static str {
    match (&m.reading, m.usable(now)) {
        (_, Some(_)) => "ok",
        (Some(_), None) => "stale",
        (None, None) => "no-reading",
    }
}

fn plan_status(kind: Option<&PlanKind>) -> (&'static str, Option<String>) {
    match kind {
        None => ("none", None),
        Some(PlanKind::Optimal) => ("optimal", None),
        Some(PlanKind::EqualShare { reason }) => ("equal-share", Some(reason.clone())),
        Some(PlanKind::Failsafe) => (
            "failsafe",
            Some("a load reading is stale: every charger at its failsafe (S5)".into()),
        ),
    }
}

fn planner_state(out: &ControlOutput) -> Value {
    let (status, why) = plan_status(out.plan.as_ref().map(|p| &p.kind));
    json!({
        "status": status,
        "status_reason": why,
        "planned_at": out.planned_at.as_ref().map(ts),
        "solve_ms": out.solve_ms,
        "replans": out.replans,
        "guard_cuts": out.reductions.len(),
    })
}

// ---- /api/v1/plan ----

/// `GET /api/v1/plan`: the plan in force, per charger per slot, with what each charger
/// is aimed at now (the slot's current, the room filled, the guard's cut).
pub async fn plan(
    State(state): State<HttpState>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    let now = state.monitor_now();
    let out = &now.control;
    let targets: BTreeMap<ChargerId, Amps> = out.limits_at(now.wall).into_iter().collect();
    let mut body = planner_state(out);
    let Some(plan) = &out.plan else {
        body["chargers"] = json!([]);
        body["reductions"] = json!([]);
        return Json(body).into_response();
    };
    let slot = plan.slot_at(now.wall);
    body["start"] = json!(ts(&plan.start));
    body["slot_min"] = json!(plan.slot_min);
    body["slots"] = json!(plan.slots());
    body["current_slot"] = json!(slot);
    body["peak_a"] = json!(r2(plan.peak.0));
    body["shortfall_wh"] = json!(r2(plan.total_shortfall().0));
    body["chargers"] = plan
        .chargers
        .iter()
        .map(|c| {
            json!({
                "id": c.id.as_str(),
                "current_a": c.current.iter().map(|a| r2(a.0)).collect::<Vec<_>>(),
                "target_a": targets.get(&c.id).map(|a| r2(a.0)),
                "need_wh": c.need.map(|w| r2(w.0)),
                "delivered_wh": r2(c.delivered.0),
                "shortfall_wh": r2(c.shortfall.0),
            })
        })
        .collect();
    body["reductions"] = out
        .reductions
        .iter()
        .map(|r| json!({"charger": r.charger.as_str(), "from_a": r2(r.from.0), "to_a": r2(r.to.0), "why": r.why}))
        .collect();
    Json(body).into_response()
}

// ---- /api/v1/meters ----

/// `GET /api/v1/meters`: each meter's last good reading, health and errors.
pub async fn meters(
    State(state): State<HttpState>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    let now = state.monitor_now();
    Json(json!({ "meters": meters_json(&state, &now) })).into_response()
}

/// Every meter as `/api/v1/meters` shows it (also what `/metrics` reads).
fn meters_json(state: &HttpState, now: &Now) -> Vec<Value> {
    now.meters
        .iter()
        .map(|m| {
            let reading = m.reading.as_ref().map(|r| {
                let opt = |v: Option<f64>| v.map(r2);
                json!({
                    "at": ts(&wall_of(state, r.at)),
                    "age_ms": now.instant.saturating_duration_since(r.at).as_millis() as u64,
                    "current_a": r.current.map(|a| opt(a.map(|a| a.0))),
                    "voltage_v": r.voltage.map(|v| opt(v.map(|v| v.0))),
                    "power_w": r.power.map(|w| opt(w.map(|w| w.0))),
                    "power_total_w": opt(r.power_total.map(|w| w.0)),
                    "energy_import_wh": opt(r.energy_import.map(|e| e.0)),
                    "energy_export_wh": opt(r.energy_export.map(|e| e.0)),
                    "frequency_hz": opt(r.frequency),
                })
            });
            json!({
                "id": m.id,
                "role": match m.role { MeterRole::Grid => "grid", MeterRole::Building => "building" },
                "circuit": m.circuit.as_deref().unwrap_or(SITE_CIRCUIT),
                "health": health(m, now.instant),
                "stale_after_ms": m.stale_after.as_millis() as u64,
                "last_reading": reading,
                "errors": {
                    "total": m.errors_total,
                    "consecutive": m.consecutive_errors,
                    "last": m.last_error,
                },
            })
        })
        .collect()
}
