//! The control loop: charger events and load readings in, the current plan and the guard's
//! reductions out.
//!
//! One task (STYLE.md §10). It keeps a `SiteState`, replans every slot and on events that
//! change what can be charged, and runs the guard on every non-charger load reading. Both
//! results are published on a `watch` channel for dispatch and the API. The deciding is in
//! `site`, `planner` and `planner::guard`; this file only waits, reads the clock and moves
//! values. The plan is computed inline: the solver's time budget bounds how long that takes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::planner::forecast::LoadHistory;
use crate::planner::{self, Plan, Policy, Reduction};
use crate::session::{ConnectionEvent, SiteEvent};
use crate::site::{SiteSnapshot, SiteState};
use crate::units::{Amps, ChargerId};

/// A non-charger load reading from the meters (another task owns the Modbus side).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReading {
    /// The `[[circuit]]` id; `None`: the grid connection.
    pub circuit: Option<String>,
    /// Per site phase (L1, L2, L3), in A; `None`: the meter is stale (S5).
    pub per_phase: Option<[Amps; 3]>,
    pub at: DateTime<Utc>,
}

/// What the control loop publishes: the plan in force and the guard's latest cuts.
#[derive(Debug, Clone, Default)]
pub struct ControlOutput {
    pub plan: Option<Arc<Plan>>,
    /// Limits to lower at once, on top of the plan (empty when the plan fits the readings).
    pub reductions: Vec<Reduction>,
    /// How many plans have been made since start.
    pub replans: u64,
    /// The site as it was when this output was made (dispatch builds its rows from it).
    pub snapshot: Option<Arc<SiteSnapshot>>,
}

impl ControlOutput {
    /// Each charger's limit now: the plan's current for `at`, lowered by the guard.
    pub fn limits_at(&self, at: DateTime<Utc>) -> Vec<(ChargerId, Amps)> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        plan.currents_at(at)
            .into_iter()
            .map(|(id, a)| {
                let cut = self.reductions.iter().find(|r| r.charger == id);
                (id, cut.map_or(a, |r| Amps(r.to.0.min(a.0))))
            })
            .collect()
    }
}

/// The running loop's ends: where readings go in, where results come out.
#[derive(Debug)]
pub struct Control {
    pub readings: mpsc::Sender<LoadReading>,
    pub output: watch::Receiver<ControlOutput>,
    pub task: JoinHandle<()>,
}

/// Starts the control loop; it ends when `shutdown` turns true.
pub fn spawn(
    config: &Config,
    events: broadcast::Receiver<SiteEvent>,
    shutdown: watch::Receiver<bool>,
) -> Control {
    spawn_with_history(config, events, None, shutdown, LoadHistory::default())
}

/// As `spawn`, with the forecast's history seeded (from the store, at start-up).
/// `connections`, when given, marks a charger offline (on its failsafe) when its
/// connection closes.
pub fn spawn_with_history(
    config: &Config,
    events: broadcast::Receiver<SiteEvent>,
    connections: Option<broadcast::Receiver<ConnectionEvent>>,
    shutdown: watch::Receiver<bool>,
    history: LoadHistory,
) -> Control {
    let (readings, readings_rx) = mpsc::channel(256);
    let (out_tx, output) = watch::channel(ControlOutput::default());
    let state = SiteState::from_config(config);
    let mut policy = Policy::from_config(config);
    policy.history = history;
    let task = tokio::spawn(run(
        state,
        policy,
        events,
        connections,
        readings_rx,
        out_tx,
        shutdown,
    ));
    Control {
        readings,
        output,
        task,
    }
}

async fn run(
    mut state: SiteState,
    mut policy: Policy,
    mut events: broadcast::Receiver<SiteEvent>,
    mut connections: Option<broadcast::Receiver<ConnectionEvent>>,
    mut readings: mpsc::Receiver<LoadReading>,
    out: watch::Sender<ControlOutput>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slot = Duration::from_secs(u64::from(policy.planner.slot_min.max(1)) * 60);
    let mut tick = tokio::time::interval(slot);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut events_open = true;
    let mut readings_open = true;
    let mut current = ControlOutput::default();
    loop {
        let replan = tokio::select! {
            _ = shutdown.changed() => break,
                        _ = tick.tick() => true,
            change = next_connection(&mut connections) => match change {
                Some(c) if !c.connected => {
                    state.set_offline(&c.charger);
                    true
                }
                _ => false,
            },
            event = events.recv(), if events_open => match event {
                Ok(e) => state.apply_event(&e.charger, e.at, &e.event),
                // Missed events: the state may be behind; replan with what we know.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "control loop lagged behind charger events");
                    true
                }
                Err(broadcast::error::RecvError::Closed) => {
                    events_open = false;
                    false
                }
            },
            reading = readings.recv(), if readings_open => match reading {
                Some(r) => {
                    let now = Utc::now();
                    let was_stale = state.snapshot(now).any_stale();
                    if !state.apply_load(r.circuit.as_deref(), r.per_phase) {
                        tracing::warn!(circuit = ?r.circuit, "load reading for an unknown circuit");
                        continue;
                    }
                    if let Some(load) = r.per_phase {
                        let id = r.circuit.as_deref().unwrap_or(crate::config::SITE_CIRCUIT);
                        policy.history.record(id, r.at, load);
                    }
                    let snap = state.snapshot(now);
                    if snap.any_stale() != was_stale {
                        true // staleness changed: failsafe plan or back to the optimum
                    } else {
                        let committed = current.limits_at(now);
                        let mut cuts = planner::guard(&snap, &committed);
                                                merge(&mut current.reductions, &mut cuts);
                        current.snapshot = Some(Arc::new(snap));
                        out.send_replace(current.clone());
                        false
                    }
                }
                None => {
                    readings_open = false;
                    false
                }
            },
        };
        if replan {
            let now = Utc::now();
            let snap = state.snapshot(now);
            let plan = planner::plan(&snap, &policy, now);
            current.plan = Some(Arc::new(plan));
            current.replans += 1;
            // A fresh plan starts from the readings it was made for; check it at once.
            let committed = current.limits_at(now);
            current.reductions = planner::guard(&snap, &committed);
            current.snapshot = Some(Arc::new(snap));
            out.send_replace(current.clone());
        }
    }
}

/// The next connection change; pends forever without a receiver, and drops the receiver
/// once its channel closed.
async fn next_connection(
    connections: &mut Option<broadcast::Receiver<ConnectionEvent>>,
) -> Option<ConnectionEvent> {
    let Some(rx) = connections else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(c) => return Some(c),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                *connections = None;
                return None;
            }
        }
    }
}

/// Keeps the lowest limit per charger across guard rounds until the next plan.
fn merge(into: &mut Vec<Reduction>, new: &mut Vec<Reduction>) {
    for cut in new.drain(..) {
        match into.iter_mut().find(|r| r.charger == cut.charger) {
            Some(r) => {
                if cut.to.0 < r.to.0 {
                    r.to = cut.to;
                }
            }
            None => into.push(cut),
        }
    }
}
