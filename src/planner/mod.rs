//! The planner: from a `SiteSnapshot` to a `Plan` of per-charger currents per time slot.
//!
//! `plan(snapshot, policy, now)` (or `plan_after`, which keeps the split of the plan in
//! force where no other is better) builds a linear program (`model`, its fairness terms in
//! `fairness`), solves it with the
//! pure-Rust microlp backend, rounds it to "0 or at least the minimum" (`repair`, DESIGN.md
//! S4) and re-solves the rest. Whatever happens it returns a plan: if the inputs are stale it
//! is the failsafe plan, if the solver fails or runs past its budget the equal-share plan
//! (`fallback`). Every plan keeps every phase of every circuit under limit - margin in every
//! slot for the forecast load (`forecast`). Pure: no IO, no `.await`, `now` is a parameter
//! (the solver's own time limit is the only clock involved).

mod fairness;
pub mod fallback;
pub mod fill;
pub mod forecast;
pub mod guard;
pub mod model;
pub mod repair;
pub mod topup;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};

use crate::config::{self, Config};
use crate::site::SiteSnapshot;
use crate::units::{Amps, ChargerId, WattHours};
pub use forecast::LoadHistory;
pub use guard::{Reduction, guard};

/// Currents below this are zero, in A (solver round-off).
pub const EPS_A: f64 = 1e-6;

/// How to plan: slots, prices, time budget and the model ideas switched on.
#[derive(Debug, Clone)]
pub struct Policy {
    pub planner: config::Planner,
    pub history: LoadHistory,
    /// How slots are merged into LP periods further out.
    pub periods: model::PeriodScheme,
    /// Add the max-relative-shortfall term (fairness among vehicles that will be short).
    pub fairness: bool,
    /// One variable per group of identical vehicles instead of one per charger.
    pub aggregate: bool,
    /// After rounding to "0 or >= min" (S4), re-solve; without it the rounded point is used.
    pub resolve_after_repair: bool,
    /// Re-solve only the demands the rounding touched; the others keep their LP currents.
    pub resolve_only_rounded: bool,
    /// After the LP, give the room its periods leave in single slots to the vehicles that
    /// would be short (`topup`), into the slots with the lowest grid load first. On by
    /// default: the coarse plan's shortfall then matches the fine-period LP's at the same
    /// peak (BENCHMARKS.md "Top-up").
    pub top_up: bool,
    pub backend: model::Backend,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            planner: config.planner.clone(),
            history: LoadHistory::default(),
            periods: model::PeriodScheme::Coarser,
            fairness: true,
            aggregate: true,
            resolve_after_repair: true,
            resolve_only_rounded: true,
            top_up: true,
            backend: model::Backend::Microlp,
        }
    }

    pub fn slots(&self) -> usize {
        (self.planner.horizon_h * 60 / self.planner.slot_min.max(1)) as usize
    }

    pub fn time_budget(&self) -> Duration {
        Duration::from_millis(u64::from(self.planner.time_budget_ms))
    }
}

/// How a plan came about.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanKind {
    /// The LP optimum, rounded for S4 and re-solved.
    Optimal,
    /// Equal share within limits: the solver failed or ran out of time.
    EqualShare { reason: String },
    /// Every charger at its failsafe current: a load reading is stale (S5).
    Failsafe,
}

/// One charger's part of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerPlan {
    pub id: ChargerId,
    /// Per slot, in A per phase; 0 or within [min, max] (S4).
    pub current: Vec<Amps>,
    /// The energy the vehicle needs by departure (`None`: no known need or no vehicle).
    pub need: Option<WattHours>,
    /// What the plan delivers before departure (or the horizon's end).
    pub delivered: WattHours,
    /// How much the vehicle will be short at departure.
    pub shortfall: WattHours,
}

/// Per-charger currents per slot, from `start`, each slot `slot_min` long. No serde.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub start: DateTime<Utc>,
    pub slot_min: u32,
    pub kind: PlanKind,
    pub chargers: Vec<ChargerPlan>,
    /// The highest per-phase current at the grid connection over the plan, chargers plus
    /// forecast non-charger load, in A.
    pub peak: Amps,
}

impl Plan {
    pub fn slots(&self) -> usize {
        self.chargers.first().map_or(0, |c| c.current.len())
    }

    /// The slot that contains `at`, if inside the plan.
    pub fn slot_at(&self, at: DateTime<Utc>) -> Option<usize> {
        let secs = (at - self.start).num_seconds();
        if secs < 0 {
            return None;
        }
        let slot = (secs / (i64::from(self.slot_min) * 60)) as usize;
        (slot < self.slots()).then_some(slot)
    }

    /// Each charger's current in the slot containing `at` (0 outside the plan).
    pub fn currents_at(&self, at: DateTime<Utc>) -> Vec<(ChargerId, Amps)> {
        let slot = self.slot_at(at);
        self.chargers
            .iter()
            .map(|c| (c.id.clone(), slot.map_or(Amps(0.0), |s| c.current[s])))
            .collect()
    }

    pub fn total_shortfall(&self) -> WattHours {
        WattHours(self.chargers.iter().map(|c| c.shortfall.0).sum())
    }
}

/// A vehicle the plan can charge, in the planner's own terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// Index into `SiteSnapshot::chargers`.
    pub charger: usize,
    pub min: f64,
    pub max: f64,
    /// Slots `0..end` are before departure.
    pub end: usize,
    /// Energy needed within the horizon, in Wh; for a vehicle without a need, what it could
    /// take at `max` (then `known` is false and its shortfall weighs less).
    pub need_wh: f64,
    pub known: bool,
    /// Energy per A per slot, in Wh: voltage x phases x slot length.
    pub wh_per_a_slot: f64,
}

/// Everything the model, the repair and the fallback share.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub snap: &'a SiteSnapshot,
    pub slots: usize,
    pub slot_min: u32,
    /// Capacity left for plannable chargers: circuit x slot x phase, in A, never negative
    /// (limit - margin - forecast non-charger load - offline chargers' failsafe).
    pub cap: Vec<Vec<[f64; 3]>>,
    /// Forecast non-charger load (plus offline failsafes) at the grid connection, slot x phase.
    pub grid_load: Vec<[f64; 3]>,
    /// Price per kWh, per slot.
    pub price: Vec<f64>,
    pub demands: Vec<Demand>,
    /// Chargers under each circuit (itself and its sub-circuits): circuit -> demand indices.
    pub under: Vec<Vec<usize>>,
    /// Per demand, its current in the plan in force for the slot this plan starts with, in
    /// A (`None`: no plan in force, or it did not plan this charger): the first period
    /// keeps it where that costs nothing else (`model`, `W_STEADY_PER_A`).
    pub previous: Vec<Option<f64>>,
}

impl Inputs<'_> {
    /// Which site phases one A of demand `d` counts on at circuit `c` (S1,
    /// `SiteSnapshot::counted_at`): its vehicle's learned phases where `c` sees a phase
    /// switched on, every phase of its charger elsewhere.
    pub fn phases_at(&self, d: usize, c: usize) -> [bool; 3] {
        self.snap
            .counted_at(&self.snap.chargers[self.demands[d].charger], c)
    }
}

/// Plans charging for the next `horizon-h` hours from `now`.
pub fn plan(snapshot: &SiteSnapshot, policy: &Policy, now: DateTime<Utc>) -> Plan {
    plan_after(snapshot, policy, now, None)
}

/// As `plan`, replacing `previous`, the plan in force: where several splits of the room
/// are equally good, each vehicle keeps its current of now. A replan (a vehicle learned,
/// a phase switched) otherwise lets the solver pick another vertex and moves current
/// between vehicles that nothing asked to move, and every such move costs a dispatch
/// round of S2 (the cut first, the raise after the vehicle followed it).
pub fn plan_after(
    snapshot: &SiteSnapshot,
    policy: &Policy,
    now: DateTime<Utc>,
    previous: Option<&Plan>,
) -> Plan {
    let start = slot_start(now, policy.planner.slot_min);
    let mut inputs = inputs(snapshot, policy, start);
    if let Some(previous) = previous {
        let now_in_force: BTreeMap<_, _> = previous.currents_at(start).into_iter().collect();
        for (d, demand) in inputs.demands.iter().enumerate() {
            let id = &snapshot.chargers[demand.charger].id;
            inputs.previous[d] = now_in_force.get(id).map(|a| a.0);
        }
    }
    if snapshot.any_stale() {
        return fallback::failsafe(&inputs, start);
    }
    match model::optimise(&inputs, policy) {
        Ok(currents) => finish(&inputs, start, PlanKind::Optimal, currents),
        Err(e) => fallback::equal_share(&inputs, start, e.to_string()),
    }
}

/// The start of the slot containing `now` (slots are aligned to the hour).
pub fn slot_start(now: DateTime<Utc>, slot_min: u32) -> DateTime<Utc> {
    let slot_s = i64::from(slot_min.max(1)) * 60;
    let secs = now.timestamp() - now.timestamp().rem_euclid(slot_s);
    DateTime::from_timestamp(secs, 0).unwrap_or(now)
}

/// Builds the shared inputs: capacities from the forecast, prices, demands.
pub fn inputs<'a>(snap: &'a SiteSnapshot, policy: &Policy, start: DateTime<Utc>) -> Inputs<'a> {
    let slots = policy.slots();
    let slot_min = policy.planner.slot_min;
    let load = policy.history.forecast(snap, start, slot_min, slots);
    let mut fixed = vec![[0.0f64; 3]; snap.circuits.len()];
    for c in snap.chargers.iter().filter(|c| !c.online) {
        for circuit in snap.chain(c.circuit) {
            let counted = snap.counted_at(c, circuit);
            for (fixed, _) in fixed[circuit].iter_mut().zip(counted).filter(|(_, on)| *on) {
                *fixed += c.failsafe_current.0;
            }
        }
    }
    let cap = (0..snap.circuits.len())
        .map(|c| {
            (0..slots)
                .map(|t| {
                    std::array::from_fn(|p| (snap.budget(c) - load[c][t][p] - fixed[c][p]).max(0.0))
                })
                .collect()
        })
        .collect();
    let grid_load = (0..slots)
        .map(|t| std::array::from_fn(|p| load[0][t][p] + fixed[0][p]))
        .collect();
    let price = (0..slots)
        .map(|t| {
            let at = start + chrono::Duration::minutes(i64::from(slot_min) * t as i64);
            config::price_at(&policy.planner, at.hour() * 60 + at.minute())
        })
        .collect();
    let slot_h = f64::from(slot_min) / 60.0;
    let mut demands = Vec::new();
    for (i, c) in snap.chargers.iter().enumerate() {
        let (Some((min, max)), Some(v)) = (c.range(), c.vehicle.as_ref()) else {
            continue;
        };
        // What an ampere delivers follows the phases the vehicle draws on where its samples
        // showed them: a single-phase vehicle on a three-phase charger takes a third of
        // what three counted phases would say (S1 still counts its limit on those). It
        // draws on no more than the charger is wired to, whatever is counted now.
        let wired = c.wired_phases.iter().filter(|p| **p).count() as u8;
        let phases = v
            .drawing_phases
            .map_or(c.phase_count(), |n| n.clamp(1, wired.max(1)));
        let wh_per_a_slot = snap.voltage.0 * f64::from(phases) * slot_h;
        let (end, need_wh, known) = match &v.need {
            Some(need) => {
                let mins = (need.departure - start).num_minutes().max(0) as f64;
                let end = ((mins / f64::from(slot_min)).floor() as usize).min(slots);
                // Past the horizon the vehicle can still take max current: only what cannot
                // fit there must be delivered inside the horizon.
                let after_h = (mins / 60.0 - slots as f64 * slot_h).max(0.0);
                let after_wh = after_h * max.0 * snap.voltage.0 * f64::from(phases);
                (end, (need.energy.0 - after_wh).max(0.0), true)
            }
            None => (slots, wh_per_a_slot * max.0 * slots as f64, false),
        };
        demands.push(Demand {
            charger: i,
            min: min.0,
            max: max.0,
            end,
            need_wh,
            known,
            wh_per_a_slot,
        });
    }
    let mut under = vec![Vec::new(); snap.circuits.len()];
    for (d, demand) in demands.iter().enumerate() {
        for circuit in snap.chain(snap.chargers[demand.charger].circuit) {
            under[circuit].push(d);
        }
    }
    let previous = vec![None; demands.len()];
    Inputs {
        snap,
        slots,
        slot_min,
        cap,
        grid_load,
        price,
        demands,
        under,
        previous,
    }
}

/// Turns per-demand currents (demand x slot, in A) into a plan, with delivered energy,
/// shortfall and peak.
pub fn finish(
    inputs: &Inputs<'_>,
    start: DateTime<Utc>,
    kind: PlanKind,
    currents: Vec<Vec<f64>>,
) -> Plan {
    let snap = inputs.snap;
    let mut chargers: Vec<ChargerPlan> = snap
        .chargers
        .iter()
        .map(|c| ChargerPlan {
            id: c.id.clone(),
            current: vec![Amps(0.0); inputs.slots],
            need: c
                .vehicle
                .as_ref()
                .and_then(|v| v.need.as_ref())
                .map(|n| n.energy),
            delivered: WattHours(0.0),
            shortfall: WattHours(0.0),
        })
        .collect();
    for (d, row) in currents.iter().enumerate() {
        let demand = &inputs.demands[d];
        let out = &mut chargers[demand.charger];
        let mut delivered = 0.0;
        for (t, &x) in row.iter().enumerate() {
            // S4 last line of defence: never between 0 and the minimum, never above max.
            let x = if x < demand.min - EPS_A {
                0.0
            } else {
                x.min(demand.max)
            };
            out.current[t] = Amps(x);
            if t < demand.end {
                delivered += x * demand.wh_per_a_slot;
            }
        }
        out.delivered = WattHours(delivered);
        if demand.known {
            // Below 1 mWh is solver round-off, not a shortfall.
            let short = demand.need_wh - delivered;
            out.shortfall = WattHours(if short > 1e-3 { short } else { 0.0 });
        }
    }
    let mut peak = 0.0f64;
    for t in 0..inputs.slots {
        for p in 0..3 {
            let mut sum = inputs.grid_load[t][p];
            for (d, demand) in inputs.demands.iter().enumerate() {
                if inputs.phases_at(d, 0)[p] {
                    sum += chargers[demand.charger].current[t].0;
                }
            }
            peak = peak.max(sum);
        }
    }
    Plan {
        start,
        slot_min: inputs.slot_min,
        kind,
        chargers,
        peak: Amps(peak),
    }
}

/// The largest overload of any circuit phase in any slot, in A (0 when the plan fits).
/// Counts only plannable chargers against `Inputs::cap`.
#[expect(
    clippy::needless_range_loop,
    reason = "slot x charger x phase matrices read clearer with indices"
)]
pub fn overload(inputs: &Inputs<'_>, currents: &[Vec<f64>]) -> f64 {
    let mut worst = 0.0f64;
    for (c, members) in inputs.under.iter().enumerate() {
        for t in 0..inputs.slots {
            for p in 0..3 {
                let sum: f64 = members
                    .iter()
                    .filter(|&&d| inputs.phases_at(d, c)[p])
                    .map(|&d| currents[d][t])
                    .sum();
                worst = worst.max(sum - inputs.cap[c][t][p]);
            }
        }
    }
    worst
}

#[cfg(test)]
mod tests;
