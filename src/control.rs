//! The control loop: charger events and load readings in, the limits each charger should
//! have out. Two layers act on them (ARCHITECTURE.md "The control loop"):
//!
//! - The **plan** (`planner::plan`, an LP over the next hours) decides who gets how much,
//!   for energy by departure, peak and price. It is remade every slot and whenever it
//!   matters: a vehicle plugs in or leaves, a need or a vehicle's own limit changes, a
//!   charger comes or goes, a meter turns stale or fresh, or the non-charger load moves
//!   more than `LOAD_DRIFT_A` from what the plan was made for. Replans are rate-limited
//!   to one per `REPLAN_GAP` (a stale meter or a slot boundary replans at once).
//! - The **guard** (`planner::guard`) runs on every load reading against the plan's
//!   current slot. It is stateless: its cuts are what the reading demands now, so they
//!   deepen at once when the load rises and lift as soon as it falls (dispatch then sends
//!   the increases through S2, its hysteresis and `min-interval-s`).
//!
//! Every cut and every restoration is logged at INFO with its numbers and goes to
//! dispatch with its reason, which the audit log keeps (S6). `Controller` decides and
//! never awaits or reads the clock; `run` is the thin loop around it (STYLE.md §1, §10).

mod orders;
mod task;

pub use orders::{NeedOutcome, OrderError, Orders};
pub use task::{ALIVE_EVERY, Control, Kept, spawn, spawn_live, spawn_with_history};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::config::Config;
use crate::csms::{ConnectionEvent, SiteEvent};
use crate::planner::guard::on_wire;
use crate::planner::{self, Plan, Policy, Reduction};
use crate::site::feed::LoadReading;
use crate::site::{
    CapKind, CapRefusal, ChargerState, CloudCap, LimitSource, Need, SiteSnapshot, SiteState,
    TemporaryLimit,
};
use crate::units::{Amps, ChargerId};

/// At most one replan this often (a stale meter and a slot boundary replan at once). The
/// room filler and the guard follow the load every reading in between, so a replan is for
/// the longer view (who gets what by departure), not for the next seconds.
pub const REPLAN_GAP: Duration = Duration::from_secs(15);

/// The non-charger load on a circuit phase moved this far from what the plan in force was
/// made for, in A: replan, in either direction. Above the derivation's own jitter (its
/// short-term maximum over readings with charger samples of different ages).
pub const LOAD_DRIFT_A: f64 = 8.0;

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
    /// Why a charger's target is what it is beyond the plan (a guard cut, a cut lifted),
    /// for the audit log.
    pub notes: BTreeMap<ChargerId, String>,
    /// The plan's current slot with the room it leaves filled (`planner::fill`), as of the
    /// latest reading: what the guard checks and dispatch aims at, before cuts.
    pub filled: BTreeMap<ChargerId, Amps>,
    /// When the plan in force was made (wall clock) and how long its solve took, in ms
    /// (for the operator's `/api/v1/plan`; it decides nothing).
    pub planned_at: Option<DateTime<Utc>>,
    pub solve_ms: Option<u64>,
    /// Chargers to ask for a sample, with the time of the load rise that asked: it may be
    /// their vehicle switching on a phase they are not counted on (`site::switch_watch`).
    pub samples_wanted: BTreeMap<ChargerId, DateTime<Utc>>,
}

impl ControlOutput {
    /// Each charger's limit now: its aim (`aims_at`) lowered by the guard.
    pub fn limits_at(&self, at: DateTime<Utc>) -> Vec<(ChargerId, Amps)> {
        self.aims_at(at)
            .into_iter()
            .map(|(id, a)| {
                let cut = self.reductions.iter().find(|r| r.charger == id);
                (id, cut.map_or(a, |r| Amps(r.to.0.min(a.0))))
            })
            .collect()
    }

    /// Each charger's aim now: the plan's current for `at` or its fill, whichever is
    /// higher, rounded down to the wire's step as the guard checked it (`wire_targets`),
    /// before the guard's cuts: what dispatch works toward while the readings allow it.
    pub fn aims_at(&self, at: DateTime<Utc>) -> Vec<(ChargerId, Amps)> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        plan.currents_at(at)
            .into_iter()
            .map(|(id, a)| {
                let a = self.filled.get(&id).map_or(a, |f| Amps(f.0.max(a.0)));
                (id, Amps(on_wire(a.0)))
            })
            .collect()
    }
}

/// Why a replan was asked for (logged with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplanReason {
    Start,
    Slot,
    Vehicle,
    ChargerGone,
    ChargerBack,
    MissedEvents,
    Staleness,
    LoadMoved,
    /// The config was reloaded (limits, chargers, prices).
    Reload,
    /// The operator set a vehicle's need (`PUT /api/v1/chargers/<id>/need`).
    Need,
    /// A temporary grid limit was set, removed or ended (`/api/v1/site/limit`).
    SiteLimit,
    /// The cloud CSMS set, cleared or ended a charger's cap (a TxProfile or
    /// TxDefaultProfile through the OCPP Local Controller).
    Cap,
    /// The phases a charger is counted on changed with no event: what was learned of its
    /// vehicle's phases went stale (`site::learned_phases`), so it counts on every phase
    /// again and the plan's targets were made for less.
    Phases,
}

/// The deciding half of the control loop: state, plan, guard. Pure: time comes in as
/// arguments (`wall` for plans, `now` for rate limits).
#[derive(Debug)]
pub struct Controller {
    state: SiteState,
    policy: Policy,
    output: ControlOutput,
    /// The non-charger load per circuit and phase the plan in force was made for.
    planned_load: Vec<[f64; 3]>,
    /// The phases each charger was counted on at each circuit of its chain when the plan
    /// in force was made (`SiteSnapshot::counted_at`).
    planned_phases: Vec<Vec<[bool; 3]>>,
    last_replan: Option<Instant>,
    /// A replan is wanted, no earlier than this, and why.
    pending: Option<(Instant, ReplanReason)>,
}

impl Controller {
    pub fn new(state: SiteState, policy: Policy) -> Self {
        Self {
            state,
            policy,
            output: ControlOutput::default(),
            planned_load: Vec::new(),
            planned_phases: Vec::new(),
            last_replan: None,
            pending: None,
        }
    }

    pub fn output(&self) -> &ControlOutput {
        &self.output
    }

    /// When the next wanted replan may run (None: none wanted).
    pub fn replan_due(&self) -> Option<Instant> {
        self.pending.map(|(at, _)| at)
    }

    /// Asks for a replan: at once if the last one is `REPLAN_GAP` ago, else then.
    pub fn request_replan(&mut self, now: Instant, reason: ReplanReason) {
        let earliest = self.last_replan.map_or(now, |t| (t + REPLAN_GAP).max(now));
        match &mut self.pending {
            Some((at, _)) if *at <= earliest => {}
            _ => self.pending = Some((earliest, reason)),
        }
    }

    /// Runs the wanted replan if it is due; true when a new plan was made.
    pub fn replan_if_due(&mut self, wall: DateTime<Utc>, now: Instant) -> bool {
        match self.pending {
            Some((at, reason)) if at <= now => {
                self.replan(wall, now, reason);
                true
            }
            _ => false,
        }
    }

    /// Makes a new plan now and checks it against the readings at once.
    pub fn replan(&mut self, wall: DateTime<Utc>, now: Instant, reason: ReplanReason) {
        let snap = self.state.snapshot(wall);
        // Solve time is measured for the log and the API only; it decides nothing.
        let started = std::time::Instant::now();
        let plan = planner::plan_after(&snap, &self.policy, wall, self.output.plan.as_deref());
        let solve_ms = started.elapsed().as_millis() as u64;
        self.output.replans += 1;
        tracing::info!(
            plan = self.output.replans,
            ?reason,
            kind = ?plan.kind,
            shortfall_wh = plan.total_shortfall().0.round(),
            solve_ms,
            "replanned"
        );
        self.output.planned_at = Some(wall);
        self.output.solve_ms = Some(solve_ms);
        self.output.plan = Some(Arc::new(plan));
        self.planned_load = loads(&snap);
        self.planned_phases = counted_phases(&snap);
        self.last_replan = Some(now);
        self.pending = None;
        self.output.notes.clear();
        let targets = self.fill(&snap, wall);
        let cuts = planner::guard(&snap, &targets);
        self.apply_cuts(cuts, &snap);
        self.output.snapshot = Some(Arc::new(snap));
    }

    /// A reloaded config (`config::diff`'s effective one): the site takes its limits and
    /// chargers, the policy its prices. The guard checks the readings at once against the
    /// lower of the old and new limits (`site::tightest`), so a lowered limit cuts before
    /// the replan; the caller publishes that and then replans, which raises a raised one.
    pub fn reconfigure(&mut self, config: &Config, wall: DateTime<Utc>) {
        let before = self.state.snapshot(wall);
        self.state.reconfigure(config);
        self.policy.planner = config.planner.clone();
        let snap = crate::site::tightest(&before, &self.state.snapshot(wall));
        let targets = self.fill(&snap, wall);
        let cuts = planner::guard(&snap, &targets);
        self.apply_cuts(cuts, &snap);
        self.output.snapshot = Some(Arc::new(snap));
    }

    /// The operator's need for the vehicle at `charger`; asks for a replan when it is set.
    pub fn set_need(&mut self, now: Instant, charger: &ChargerId, need: Need) -> NeedOutcome {
        if !self.state.has_charger(charger) {
            return NeedOutcome::UnknownCharger;
        }
        let (energy_wh, departure) = (need.energy.0, need.departure);
        if !self.state.set_need(charger, need) {
            return NeedOutcome::NoVehicle;
        }
        tracing::info!(%charger, energy_wh, %departure, "vehicle need set by the operator");
        self.request_replan(now, ReplanReason::Need);
        NeedOutcome::Set
    }

    /// `source`'s temporary grid limit set or removed (`None`). As with a reload, the guard
    /// checks the readings at once against the lower of the old and new limits, so a
    /// lowered limit cuts before the replan; the caller publishes that and then replans.
    pub fn set_temporary_limit(
        &mut self,
        wall: DateTime<Utc>,
        source: LimitSource,
        limit: Option<TemporaryLimit>,
    ) {
        let by = source.as_str();
        match &limit {
            Some(l) => {
                tracing::info!(by, limit_a = l.limit.0, until = ?l.until, "temporary grid limit set")
            }
            None => tracing::info!(by, "temporary grid limit removed"),
        }
        let before = self.state.snapshot(wall);
        self.state.set_temporary_limit(source, limit);
        let snap = crate::site::tightest(&before, &self.state.snapshot(wall));
        let targets = self.fill(&snap, wall);
        let cuts = planner::guard(&snap, &targets);
        self.apply_cuts(cuts, &snap);
        self.output.snapshot = Some(Arc::new(snap));
    }

    /// The cloud's cap of `kind` on `charger` set or cleared (`None`); true when one was
    /// there before. A lower cap takes effect through the replan that follows (a cap bounds
    /// what the plan gives one vehicle; the grid's safety never waits on it).
    pub fn set_cap(
        &mut self,
        now: Instant,
        charger: &ChargerId,
        kind: CapKind,
        cap: Option<CloudCap>,
    ) -> Result<bool, CapRefusal> {
        let existed = self.state.has_cap(charger, kind);
        self.state.set_cap(charger, kind, cap)?;
        match cap {
            Some(c) => {
                tracing::info!(%charger, ?kind, limit_a = c.limit.0, until = ?c.until, "current cap set by the cloud CSMS")
            }
            None => {
                tracing::info!(%charger, ?kind, existed, "current cap cleared by the cloud CSMS")
            }
        }
        self.request_replan(now, ReplanReason::Cap);
        Ok(existed)
    }

    /// When the next temporary grid limit or cloud cap ends (`run` wakes then: a site
    /// without a grid meter has no reading to notice it by).
    pub fn temporary_limit_ends(&self) -> Option<DateTime<Utc>> {
        let limits = self.state.temporary_limits().iter().filter_map(|l| l.until);
        limits.chain(self.state.caps_end()).min()
    }

    /// Ends the temporary grid limits and caps whose `until` has passed: the guard runs
    /// again under the limit now in force, so its cuts under the lower one lift at once,
    /// and the replan shares the room out. True when one ended.
    pub fn end_temporary_limit(&mut self, wall: DateTime<Utc>, now: Instant) -> bool {
        let caps = self.state.end_caps(wall);
        if !self.state.end_temporary_limit(wall) {
            if caps {
                tracing::info!("a cloud cap ended");
                self.request_replan(now, ReplanReason::Cap);
            }
            return caps;
        }
        tracing::info!("temporary grid limit ended");
        let snap = self.state.snapshot(wall);
        let targets = self.fill(&snap, wall);
        let cuts = planner::guard(&snap, &targets);
        self.apply_cuts(cuts, &snap);
        self.output.snapshot = Some(Arc::new(snap));
        self.request_replan(now, ReplanReason::SiteLimit);
        true
    }

    /// A charger event; asks for a replan when it changes what can be charged.
    pub fn on_event(&mut self, now: Instant, e: &SiteEvent) {
        if self.state.apply_event(&e.charger, e.at, &e.event) {
            self.request_replan(now, ReplanReason::Vehicle);
        }
    }

    /// A charger connected or went away.
    pub fn on_connection(&mut self, now: Instant, change: &ConnectionEvent) {
        if change.connected {
            self.request_replan(now, ReplanReason::ChargerBack);
        } else {
            self.state.set_offline(&change.charger);
            self.request_replan(now, ReplanReason::ChargerGone);
        }
    }

    /// Events were missed: the state may be behind.
    pub fn on_missed_events(&mut self, now: Instant) {
        self.request_replan(now, ReplanReason::MissedEvents);
    }

    /// A load reading: the guard runs against it at once; a change of staleness replans at
    /// once (S5), a load far from the plan's asks for a replan. False for an unknown
    /// circuit.
    pub fn on_reading(&mut self, wall: DateTime<Utc>, now: Instant, r: &LoadReading) -> bool {
        let was_stale = self.state.snapshot(wall).any_stale();
        self.end_temporary_limit(wall, now);
        if !self
            .state
            .apply_reading_at(r.circuit.as_deref(), r.per_phase, r.detail, wall)
        {
            return false;
        }
        if let Some(load) = r.per_phase {
            let id = r.circuit.as_deref().unwrap_or(crate::config::SITE_CIRCUIT);
            self.policy.history.record(id, r.at, load);
        }
        self.output.samples_wanted = self.state.samples_wanted(wall);
        let snap = self.state.snapshot(wall);
        if snap.any_stale() != was_stale || self.output.plan.is_none() {
            // Failsafe plan now, or back to the optimum: not rate-limited.
            self.replan(wall, now, ReplanReason::Staleness);
            return true;
        }
        if drifted(&self.planned_load, &loads(&snap)) {
            self.request_replan(now, ReplanReason::LoadMoved);
        }
        if self.counted_otherwise_while_charging(&snap, wall) {
            self.request_replan(now, ReplanReason::Phases);
        }
        let targets = self.fill(&snap, wall);
        let cuts = planner::guard(&snap, &targets);
        self.apply_cuts(cuts, &snap);
        self.output.snapshot = Some(Arc::new(snap));
        true
    }

    /// Whether a charger the plan in force gives current now counts on other phases than
    /// when it was made, at any circuit of its chain (its vehicle's learned phases went
    /// stale, or a meter there stopped reporting a phase: `ReplanReason::Phases`).
    /// A paused one is left to the next replan: its 0 A counts nowhere, and a vehicle
    /// paused for two minutes has no sample to keep its phases fresh, so replanning for it
    /// would replan for every paused vehicle in turn.
    fn counted_otherwise_while_charging(&self, snap: &SiteSnapshot, wall: DateTime<Utc>) -> bool {
        let Some(plan) = &self.output.plan else {
            return false;
        };
        let slot = plan.slot_at(wall);
        snap.chargers
            .iter()
            .zip(&self.planned_phases)
            .zip(&plan.chargers)
            .any(|((c, planned), planned_for)| {
                let current = slot.map_or(0.0, |t| planned_for.current[t].0);
                let filled = self.output.filled.get(&c.id).map_or(0.0, |a| a.0);
                current.max(filled) > planner::EPS_A && counted_along_chain(snap, c) != *planned
            })
    }

    /// The plan's targets for now with the room it leaves filled; the fill kept in the
    /// output.
    fn fill(&mut self, snap: &SiteSnapshot, wall: DateTime<Utc>) -> Vec<(ChargerId, Amps)> {
        let Some(plan) = self.output.plan.clone() else {
            return Vec::new();
        };
        let (targets, filled) = targets_now(snap, &plan, wall, &self.output.filled);
        self.output.filled = filled;
        targets
    }

    /// Puts the guard's new cuts in force, logging every cut that is new or deeper and
    /// every one that lifted (S6: the notes reach the audit log through dispatch).
    fn apply_cuts(&mut self, cuts: Vec<Reduction>, snap: &SiteSnapshot) {
        let old = std::mem::take(&mut self.output.reductions);
        for cut in &cuts {
            let before = old.iter().find(|o| o.charger == cut.charger);
            if before.is_none_or(|b| cut.to.0 < b.to.0 - planner::EPS_A) {
                crate::telemetry::guard_cut();
                tracing::info!(
                    charger = %cut.charger,
                    plan_a = cut.from.0,
                    to_a = cut.to.0,
                    "guard cut: {}",
                    cut.why
                );
            }
            self.output
                .notes
                .insert(cut.charger.clone(), format!("guard cut, {}", cut.why));
        }
        for lifted in &old {
            let now = cuts.iter().find(|c| c.charger == lifted.charger);
            if now.is_none_or(|c| c.to.0 > lifted.to.0 + planner::EPS_A) {
                let to = now.map_or(lifted.from, |c| c.to);
                let room = describe_room(snap);
                tracing::info!(
                    charger = %lifted.charger,
                    from_a = lifted.to.0,
                    to_a = to.0,
                    "guard cut lifted toward the plan: {room}"
                );
                if now.is_none() {
                    self.output
                        .notes
                        .insert(lifted.charger.clone(), format!("guard cut lifted, {room}"));
                }
            }
        }
        self.output.reductions = cuts;
    }
}

/// The plan's targets for `wall` with the room it leaves filled (`previous`: the last
/// fill), as they go out (`wire_targets`): what the guard checks. Also the fill, where it
/// is above the plan, for `ControlOutput::filled`.
fn targets_now(
    snap: &SiteSnapshot,
    plan: &Plan,
    wall: DateTime<Utc>,
    previous: &BTreeMap<ChargerId, Amps>,
) -> (Vec<(ChargerId, Amps)>, BTreeMap<ChargerId, Amps>) {
    let targets = plan.currents_at(wall);
    let filled = if plan.kind == planner::PlanKind::Optimal {
        planner::fill::fill(snap, plan, &targets, previous)
    } else {
        // A failsafe or fallback plan is followed as it is.
        targets.clone()
    };
    let above = filled
        .iter()
        .zip(&targets)
        .filter(|((_, f), (_, t))| f.0 > t.0 + planner::EPS_A)
        .map(|((id, f), _)| (id.clone(), *f))
        .collect();
    (wire_targets(filled), above)
}

/// The targets as they go out, rounded down to the wire's step (`guard::WIRE_STEP_A`): what
/// the guard checks and dispatch aims at. The plan and the filler set limits exactly into
/// the room the load leaves; the part of a limit above the step reaches no vehicle, and
/// kept in the targets it left no headroom, so the next reading's load, higher by float
/// round-off (the meter's f32 registers, the load derivation's sums), made a cut of a few
/// µA (86 of 298 guard cuts in the depot day). Rounded down, it is headroom for that
/// round-off; a limit already on the step (a vehicle's 32 A) keeps it.
fn wire_targets(targets: Vec<(ChargerId, Amps)>) -> Vec<(ChargerId, Amps)> {
    targets
        .into_iter()
        .map(|(id, a)| (id, Amps(on_wire(a.0))))
        .collect()
}

/// The site phases each charger is counted on.
/// Per charger, the phases it counts on at each circuit of its chain.
fn counted_phases(snap: &SiteSnapshot) -> Vec<Vec<[bool; 3]>> {
    snap.chargers
        .iter()
        .map(|c| counted_along_chain(snap, c))
        .collect()
}

/// The phases `charger` counts on at each circuit of its chain, its own circuit first: its
/// learned phases, or every wired phase where a meter is stale or leaves a phase out.
fn counted_along_chain(snap: &SiteSnapshot, charger: &ChargerState) -> Vec<[bool; 3]> {
    snap.chain(charger.circuit)
        .into_iter()
        .map(|c| snap.counted_at(charger, c))
        .collect()
}

/// The load the snapshot assumes per circuit and phase.
fn loads(snap: &SiteSnapshot) -> Vec<[f64; 3]> {
    (0..snap.circuits.len())
        .map(|c| std::array::from_fn(|p| snap.assumed_load(c, p)))
        .collect()
}

fn drifted(planned: &[[f64; 3]], now: &[[f64; 3]]) -> bool {
    planned.len() != now.len()
        || planned
            .iter()
            .zip(now)
            .any(|(a, b)| (0..3).any(|p| (a[p] - b[p]).abs() > LOAD_DRIFT_A))
}

/// The grid connection's load per phase, for a restoration's log line.
fn describe_room(snap: &SiteSnapshot) -> String {
    let load: Vec<String> = (0..3)
        .map(|p| format!("{:.1}", snap.assumed_load(0, p)))
        .collect();
    format!(
        "site load {} A of {:.1} A per phase",
        load.join("/"),
        snap.budget(0)
    )
}

#[cfg(test)]
mod tests;
