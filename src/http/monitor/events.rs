//! `GET /api/v1/events`: server-sent events (`text/event-stream`) of what changes, for the
//! status page and a script that wants to follow the site without polling.
//!
//! Events, each a JSON `data` line:
//! - `site`: the whole `/api/v1/site` answer, first at once and then whenever the control
//!   loop publishes (a reading, a plan, a guard cut), at most once per `EVENT_EVERY`;
//! - `charger`: `{"charger", "at", "connected", "changes"}` when a charger connected or went
//!   away or sent something (`boot`, `status`, `meter_values`, `ev_charging_needs`,
//!   `firmware`, `security`, ...; heartbeats are left out); read `/chargers/<id>` for
//!   the new state (that is a store read, so the stream does not make one per event);
//! - `transaction`: `{"charger", "at", "phase"}` (`started`, `updated`, `ended`);
//! - `alert`: an alert raised or cleared, as `/api/v1/alerts` shows it (every one, not
//!   merged: each is a fact an electrician acts on);
//! - `resync`: events were missed (the stream fell behind): read everything again.
//!
//! Rate-limited: changes are gathered and sent in one batch at most every `EVENT_EVERY`
//! (one `site` event and one event per charger and batch), so a busy site costs a client a
//! bounded stream. At most `MAX_EVENT_STREAMS` streams are open at once (503 beyond): each
//! holds one of the listener's 64 connections. The listener closes a connection that has
//! not been written to for `ANSWER_TIMEOUT` (8 s, `listener.rs`); a comment line every
//! `KEEP_ALIVE` keeps an idle stream open. A stream ends when the daemon stops (the control
//! loop's output closes) or the client goes away.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, broadcast, watch};
use tokio::time::Instant;

use super::{NoQuery, no_query, site_json};
use crate::control::ControlOutput;
use crate::csms::{ConnectionEvent, SiteEvent};
use crate::http::{ANSWER_TIMEOUT, ApiError, HttpState};
use crate::ocpp::model::{ChargerEvent, TxPhase};
use crate::ocpp::time::format as ts;
use crate::store::AlertRecord;
use crate::units::ChargerId;

/// Event streams open at once: a few status pages, and the rest of the API still answers.
pub const MAX_EVENT_STREAMS: usize = 8;
/// At most one batch of events per stream this often.
pub const EVENT_EVERY: Duration = Duration::from_secs(1);
/// A comment line after this long without an event: well within `ANSWER_TIMEOUT`.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
const _: () = assert!(KEEP_ALIVE.as_secs() < ANSWER_TIMEOUT.as_secs());

/// `GET /api/v1/events`.
pub async fn events(
    State(state): State<HttpState>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    let Some(csms) = state.monitor.csms.clone() else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no event source").into_response();
    };
    let Ok(permit) = Arc::clone(&state.monitor.streams).try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy: {MAX_EVENT_STREAMS} event streams are open, close one or poll the reads"
            ),
        )
        .into_response();
    };
    let mut control = state.monitor.control.clone();
    control.mark_unchanged();
    let feed = Feed {
        events: csms.subscribe(),
        connections: csms.subscribe_connections(),
        alerts: state
            .monitor
            .alerts
            .as_ref()
            .map(broadcast::Sender::subscribe),
        control,
        http: state,
        ready: vec![],
        first: true,
        next_batch: Instant::now(),
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// What changed since the last batch.
#[derive(Debug, Default)]
struct Changes {
    site: bool,
    chargers: BTreeMap<ChargerId, ChargerChange>,
    transactions: BTreeMap<ChargerId, (TxPhase, chrono::DateTime<chrono::Utc>)>,
    alerts: Vec<AlertRecord>,
    missed: u64,
}

#[derive(Debug)]
struct ChargerChange {
    at: chrono::DateTime<chrono::Utc>,
    connected: Option<bool>,
    changes: Vec<&'static str>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        !self.site
            && self.chargers.is_empty()
            && self.transactions.is_empty()
            && self.alerts.is_empty()
            && self.missed == 0
    }

    fn charger(&mut self, id: &ChargerId, at: chrono::DateTime<chrono::Utc>) -> &mut ChargerChange {
        let entry = self.chargers.entry(id.clone()).or_insert(ChargerChange {
            at,
            connected: None,
            changes: Vec::new(),
        });
        entry.at = at;
        entry
    }

    fn event(&mut self, e: &SiteEvent) {
        let kind = match &e.event {
            // Every `heartbeat-interval-s` from every charger: not a change.
            ChargerEvent::Heartbeat => return,
            ChargerEvent::Transaction(tx) => {
                let phase = match self.transactions.get(&e.charger) {
                    // A start or an end in the batch is what the operator needs to see.
                    Some((TxPhase::Started | TxPhase::Ended, _))
                        if tx.phase == TxPhase::Updated =>
                    {
                        return;
                    }
                    _ => tx.phase,
                };
                self.transactions.insert(e.charger.clone(), (phase, e.at));
                return;
            }
            ChargerEvent::Boot { .. } => "boot",
            ChargerEvent::Status { .. } => "status",
            ChargerEvent::Authorize { .. } => "authorize",
            ChargerEvent::MeterValues { .. } => "meter_values",
            ChargerEvent::DataTransfer { .. } => "data_transfer",
            ChargerEvent::DiagnosticsStatus { .. } => "diagnostics",
            ChargerEvent::FirmwareStatus { .. } => "firmware",
            ChargerEvent::Report { .. } => "report",
            ChargerEvent::EvChargingNeeds(_) => "ev_charging_needs",
            ChargerEvent::ChargingLimit { .. } => "charging_limit",
            ChargerEvent::ChargingProfilesReport { .. } => "charging_profiles",
            ChargerEvent::SecurityEvent { .. } => "security",
            ChargerEvent::Notify { .. } => "notify",
            ChargerEvent::ReservationStatus { .. } => "reservation",
            ChargerEvent::SignCertificate { .. } => "sign_certificate",
            ChargerEvent::CustomerInformation { .. } => "customer_information",
        };
        let change = self.charger(&e.charger, e.at);
        if !change.changes.contains(&kind) {
            change.changes.push(kind);
        }
    }

    fn connection(&mut self, c: &ConnectionEvent) {
        let change = self.charger(&c.charger, c.at);
        change.connected = Some(c.connected);
        let kind = if c.connected {
            "connected"
        } else {
            "disconnected"
        };
        if !change.changes.contains(&kind) {
            change.changes.push(kind);
        }
    }
}

/// The next alert change; never, without an alert task.
async fn next_alert(
    alerts: Option<&mut broadcast::Receiver<AlertRecord>>,
) -> Result<AlertRecord, broadcast::error::RecvError> {
    match alerts {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One client's stream.
struct Feed {
    http: HttpState,
    control: watch::Receiver<ControlOutput>,
    events: broadcast::Receiver<SiteEvent>,
    connections: broadcast::Receiver<ConnectionEvent>,
    alerts: Option<broadcast::Receiver<AlertRecord>>,
    /// Events of the current batch not yet handed out, last first.
    ready: Vec<Event>,
    first: bool,
    next_batch: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Feed {
    /// The next event; `None` ends the stream (the daemon stops).
    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.first) {
            return Some(self.site_event());
        }
        loop {
            if let Some(e) = self.ready.pop() {
                return Some(e);
            }
            let mut changes = Changes::default();
            // Wait for a first change, then gather until the batch is due.
            while changes.is_empty() || Instant::now() < self.next_batch {
                let due = self.next_batch;
                let idle = changes.is_empty();
                tokio::select! {
                    changed = self.control.changed() => {
                        changed.ok()?;
                        changes.site = true;
                    }
                    e = self.events.recv() => match e {
                        Ok(e) => changes.event(&e),
                        Err(broadcast::error::RecvError::Lagged(n)) => changes.missed += n,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    c = self.connections.recv() => match c {
                        Ok(c) => changes.connection(&c),
                        Err(broadcast::error::RecvError::Lagged(n)) => changes.missed += n,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    a = next_alert(self.alerts.as_mut()) => match a {
                        Ok(a) => changes.alerts.push(a),
                        Err(broadcast::error::RecvError::Lagged(n)) => changes.missed += n,
                        // The alert task is gone (the daemon stops): the other sources end
                        // the stream.
                        Err(broadcast::error::RecvError::Closed) => self.alerts = None,
                    },
                    () = tokio::time::sleep_until(due), if !idle => {}
                }
            }
            self.next_batch = Instant::now() + EVENT_EVERY;
            self.ready = self.batch(changes);
            self.ready.reverse();
        }
    }

    fn site_event(&self) -> Event {
        let now = self.http.monitor_now();
        sse("site", &site_json(&now))
    }

    fn batch(&self, changes: Changes) -> Vec<Event> {
        let mut out = Vec::new();
        if changes.missed > 0 {
            out.push(sse("resync", &json!({ "missed": changes.missed })));
        }
        if changes.site || changes.missed > 0 {
            out.push(self.site_event());
        }
        for (id, c) in changes.chargers {
            out.push(sse(
                "charger",
                &json!({
                    "charger": id.as_str(),
                    "at": ts(&c.at),
                    "connected": c.connected.unwrap_or_else(|| self.http.chargers.is_connected(&id)),
                    "changes": c.changes,
                }),
            ));
        }
        for a in &changes.alerts {
            out.push(sse("alert", &crate::http::alerts::alert_json(a)));
        }
        for (id, (phase, at)) in changes.transactions {
            let phase = match phase {
                TxPhase::Started => "started",
                TxPhase::Updated => "updated",
                TxPhase::Ended => "ended",
            };
            out.push(sse(
                "transaction",
                &json!({ "charger": id.as_str(), "at": ts(&at), "phase": phase }),
            ));
        }
        out
    }
}

fn sse(kind: &str, data: &Value) -> Event {
    Event::default().event(kind).data(data.to_string())
}
