//! The room filler: between replans, current the plan leaves unused in the slot in force
//! goes to vehicles that want it now (the real-time layer's upward half; the guard is the
//! downward half).
//!
//! The plan is made for a forecast and rounded for S4, so its current slot often leaves
//! room on a circuit phase that the measured load does not use: the S4 repair pauses
//! vehicles that were owed less than a minimum, and the load may have fallen since the plan
//! was made. The room goes first to vehicles the plan itself wants more for than it can
//! give — they will be short at departure — or that have no known need, then to every
//! other vehicle that can take current: a vehicle is never left idle while its circuit
//! phases have room (issue 9), even where the plan would rather charge it in a cheaper
//! hour, since the plan only guesses what a vehicle it has not yet seen draw can take and
//! room unused now is gone. Shares are water-filled: each round every candidate may take an equal
//! part of the tightest row it loads, up to its vehicle's range, and a paused one only a
//! whole minimum (S4). The result never breaks a circuit phase for the measured load (S1);
//! the guard checks it all the same. Pure: no IO, no clock.

use std::collections::BTreeMap;

use super::{EPS_A, Plan};
use crate::site::SiteSnapshot;
use crate::units::{Amps, ChargerId};

/// Kept free on every circuit phase by the filler (not by the plan), in A: a jitter of the
/// load of this much costs no cut.
pub const FILL_RESERVE_A: f64 = 1.0;

/// The smallest raise worth sending, in A (dispatch's default hysteresis).
const STEP_A: f64 = 1.0;

/// Water-filling rounds at most (each round raises or settles at least one candidate).
const ROUNDS: usize = 32;

/// The targets with the room the plan leaves filled. `targets` are the plan's currents for
/// now; `previous` the last fill, kept where it still fits so that a jitter of the load does
/// not move the limits. Chargers keep their order.
pub fn fill(
    snap: &SiteSnapshot,
    plan: &Plan,
    targets: &[(ChargerId, Amps)],
    previous: &BTreeMap<ChargerId, Amps>,
) -> Vec<(ChargerId, Amps)> {
    let first = fill_pass(snap, plan, targets, previous, Pass::Short);
    fill_pass(snap, plan, &first, previous, Pass::Everyone)
}

/// Who a pass fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Vehicles the plan leaves short at departure, or with no known need.
    Short,
    /// Every vehicle that can take current.
    Everyone,
}

fn fill_pass(
    snap: &SiteSnapshot,
    plan: &Plan,
    targets: &[(ChargerId, Amps)],
    previous: &BTreeMap<ChargerId, Amps>,
    pass: Pass,
) -> Vec<(ChargerId, Amps)> {
    let index: Vec<Option<usize>> = targets
        .iter()
        .map(|(id, _)| snap.chargers.iter().position(|c| &c.id == id))
        .collect();
    let mut x: Vec<f64> = targets.iter().map(|(_, a)| a.0).collect();
    let range = candidate_ranges(snap, plan, targets, &index, pass);
    let rows = Rows::new(snap, &index);
    keep_previous(&mut x, targets, previous, &range, &rows);
    water_fill(&mut x, &range, &rows);
    top_up_whole(&mut x, &range, &rows);
    targets
        .iter()
        .zip(x)
        .map(|((id, _), a)| (id.clone(), Amps(a)))
        .collect()
}

/// Per target: its (min, max) in A when it is a candidate of this pass, else `None`.
fn candidate_ranges(
    snap: &SiteSnapshot,
    plan: &Plan,
    targets: &[(ChargerId, Amps)],
    index: &[Option<usize>],
    pass: Pass,
) -> Vec<Option<(f64, f64)>> {
    let wants_more = |id: &ChargerId| {
        pass == Pass::Everyone
            || plan
                .chargers
                .iter()
                .find(|c| &c.id == id)
                .is_some_and(|c| c.need.is_none() || c.shortfall.0 > 1.0)
    };
    targets
        .iter()
        .zip(index)
        .map(|((id, _), i)| {
            let c = &snap.chargers[(*i)?];
            let (min, max) = c.range()?;
            wants_more(id).then_some((min.0, max.0))
        })
        .collect()
}

/// Every circuit phase with targets on it: which targets, and the room it has for them.
struct Rows {
    /// (targets on the row, capacity for them in A).
    rows: Vec<(Vec<usize>, f64)>,
    /// Per target, in A: an offline charger draws its failsafe whatever its target (S1).
    floor: Vec<f64>,
}

impl Rows {
    fn new(snap: &SiteSnapshot, index: &[Option<usize>]) -> Self {
        // Each charger's circuit chain and whether it has a target, once per pass.
        let chains: Vec<Vec<usize>> = snap
            .chargers
            .iter()
            .map(|c| snap.chain(c.circuit))
            .collect();
        let mut targeted = vec![false; snap.chargers.len()];
        for i in index.iter().flatten() {
            targeted[*i] = true;
        }
        let rows = (0..snap.circuits.len())
            .flat_map(|c| (0..3).map(move |p| (c, p)))
            .map(|(c, p)| {
                let members: Vec<usize> = index
                    .iter()
                    .enumerate()
                    .filter_map(|(k, i)| {
                        let i = (*i)?;
                        (snap.counted_at(&snap.chargers[i], c)[p] && chains[i].contains(&c))
                            .then_some(k)
                    })
                    .collect();
                // Offline chargers and those without a target still draw: count them too.
                let others: f64 = snap
                    .chargers
                    .iter()
                    .enumerate()
                    .filter(|(i, ch)| {
                        snap.counted_at(ch, c)[p] && chains[*i].contains(&c) && !targeted[*i]
                    })
                    .map(|(_, ch)| {
                        if ch.online {
                            0.0
                        } else {
                            ch.failsafe_current.0
                        }
                    })
                    .sum();
                let capacity = snap.budget(c) - snap.assumed_load(c, p) - others - FILL_RESERVE_A;
                (members, capacity)
            })
            .filter(|(members, _)| !members.is_empty())
            .collect();
        let floor = index
            .iter()
            .map(|i| {
                i.map(|i| &snap.chargers[i])
                    .filter(|c| !c.online)
                    .map_or(0.0, |c| c.failsafe_current.0)
            })
            .collect();
        Self { rows, floor }
    }

    /// Room left on `row` with the targets at `x`, in A (negative when over).
    fn room(&self, x: &[f64], row: &(Vec<usize>, f64)) -> f64 {
        row.1 - row.0.iter().map(|k| x[*k].max(self.floor[*k])).sum::<f64>()
    }

    /// The least room on any row target `k` loads, in A.
    fn free(&self, x: &[f64], k: usize) -> f64 {
        self.rows
            .iter()
            .filter(|r| r.0.contains(&k))
            .map(|r| self.room(x, r))
            .fold(f64::INFINITY, f64::min)
    }
}

/// Keeps the previous fill (capped at each candidate's max) where it still fits every row.
fn keep_previous(
    x: &mut Vec<f64>,
    targets: &[(ChargerId, Amps)],
    previous: &BTreeMap<ChargerId, Amps>,
    range: &[Option<(f64, f64)>],
    rows: &Rows,
) {
    let mut with_previous = x.clone();
    for (k, (id, _)) in targets.iter().enumerate() {
        if let (Some((_, max)), Some(prev)) = (range[k], previous.get(id)) {
            with_previous[k] = with_previous[k].max(prev.0.min(max));
        }
    }
    if rows
        .rows
        .iter()
        .all(|r| rows.room(&with_previous, r) >= -EPS_A)
    {
        *x = with_previous;
    }
}

/// Fair rounds: each candidate below its max takes an equal part of the tightest row it
/// loads (a paused one a whole minimum or nothing, S4), until no one rises.
fn water_fill(x: &mut [f64], range: &[Option<(f64, f64)>], rows: &Rows) {
    for _ in 0..ROUNDS {
        let mut raised = false;
        // Each candidate's fair part of every row it is on.
        let active: Vec<bool> = (0..x.len())
            .map(|k| range[k].is_some_and(|(_, max)| x[k] < max - EPS_A))
            .collect();
        for k in 0..x.len() {
            let Some((min, max)) = range[k] else { continue };
            if !active[k] {
                continue;
            }
            let share = rows
                .rows
                .iter()
                .filter(|r| r.0.contains(&k))
                .map(|r| {
                    let sharing = r.0.iter().filter(|m| active[**m]).count().max(1);
                    rows.room(x, r) / sharing as f64
                })
                .fold(f64::INFINITY, f64::min);
            let free = rows.free(x, k);
            // Shares below a step are not worth a profile each (dispatch's hysteresis would
            // hold them): what is left after the fair rounds goes whole, below.
            if share < STEP_A && x[k] >= min {
                continue;
            }
            let mut new = (x[k] + share.max(0.0)).min(max);
            if new < min {
                // S4: a paused vehicle starts only with a whole minimum, if it fits.
                new = if free >= min - x[k] {
                    min.min(max)
                } else {
                    x[k]
                };
            }
            // Whole tenths: the step chargers apply (dispatch rounds down further).
            let new = (new * 10.0).floor() / 10.0;
            if new > x[k] + EPS_A {
                x[k] = new;
                raised = true;
            }
        }
        if !raised {
            break;
        }
    }
}

/// The rest whole, lowest limit first: a few chargers a step up each, not every charger
/// a sliver.
fn top_up_whole(x: &mut [f64], range: &[Option<(f64, f64)>], rows: &Rows) {
    let mut order: Vec<usize> = (0..x.len()).filter(|k| range[*k].is_some()).collect();
    order.sort_by(|a, b| x[*a].total_cmp(&x[*b]).then(a.cmp(b)));
    for k in order {
        let Some((min, max)) = range[k] else { continue };
        let free = rows.free(x, k);
        let new = (((x[k] + free.max(0.0)).min(max)) * 10.0).floor() / 10.0;
        let enough = if x[k] < min {
            new >= min
        } else {
            new >= x[k] + STEP_A
        };
        if enough {
            x[k] = new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{ChargerPlan, PlanKind};
    use crate::site::synthetic;
    use crate::units::WattHours;
    use chrono::Utc;

    fn plan_for(snap: &SiteSnapshot, currents: &[f64], short: bool) -> Plan {
        Plan {
            start: Utc::now(),
            slot_min: 15,
            kind: PlanKind::Optimal,
            chargers: snap
                .chargers
                .iter()
                .zip(currents)
                .map(|(c, a)| ChargerPlan {
                    id: c.id.clone(),
                    current: vec![Amps(*a)],
                    need: Some(WattHours(10_000.0)),
                    delivered: WattHours(0.0),
                    shortfall: WattHours(if short { 5_000.0 } else { 0.0 }),
                })
                .collect(),
            peak: Amps(0.0),
        }
    }

    /// A site whose every charger has a vehicle that takes its maximum.
    fn site(n: usize, seed: u64) -> SiteSnapshot {
        let mut snap = synthetic::site(n, seed, Utc::now());
        for c in snap.chargers.iter_mut() {
            c.online = true;
            if let Some(v) = c.vehicle.as_mut() {
                v.measured_max = None;
                v.max_current = None;
            }
        }
        snap
    }

    fn check_rows(snap: &SiteSnapshot, out: &[(ChargerId, Amps)]) -> f64 {
        let mut least = f64::INFINITY;
        for c in 0..snap.circuits.len() {
            for p in 0..3 {
                let sum: f64 = snap
                    .chargers
                    .iter()
                    .filter(|ch| snap.counted_at(ch, c)[p] && snap.chain(ch.circuit).contains(&c))
                    .map(|ch| {
                        let a = out
                            .iter()
                            .find(|(id, _)| id == &ch.id)
                            .map_or(0.0, |x| x.1.0);
                        if ch.online {
                            a
                        } else {
                            a.max(ch.failsafe_current.0)
                        }
                    })
                    .sum();
                let free = snap.budget(c) - snap.assumed_load(c, p) - sum;
                least = least.min(free);
            }
        }
        least
    }

    #[test]
    fn room_the_plan_leaves_goes_to_vehicles_that_will_be_short_within_every_limit() {
        for seed in 0..20 {
            let snap = site(12, seed);
            let zero = vec![0.0; snap.chargers.len()];
            let plan = plan_for(&snap, &zero, true);
            let targets = plan.currents_at(plan.start);
            let out = fill(&snap, &plan, &targets, &BTreeMap::new());
            let least = check_rows(&snap, &out);
            assert!(
                least >= FILL_RESERVE_A - 1e-6,
                "seed {seed}: a row over by {least}"
            );
            for ((_, a), c) in out.iter().zip(&snap.chargers) {
                assert!(a.0 == 0.0 || a.0 >= c.min_current.0 - 1e-9, "S4: {a:?}");
                assert!(a.0 <= c.max_current.0 + 1e-9);
            }
            // Room is used: every row that still has a minimum free has no charger on it
            // that could take more.
            let total: f64 = out.iter().map(|(_, a)| a.0).sum();
            let wanting = snap.chargers.iter().filter(|c| c.range().is_some()).count();
            assert!(wanting == 0 || total > 0.0, "seed {seed}: nothing filled");
        }
    }

    #[test]
    fn vehicles_the_plan_charges_later_still_get_room_nobody_else_wants() {
        let snap = site(8, 3);
        let zero = vec![0.0; snap.chargers.len()];
        let plan = plan_for(&snap, &zero, false);
        let targets = plan.currents_at(plan.start);
        let out = fill(&snap, &plan, &targets, &BTreeMap::new());
        let wanting = snap.chargers.iter().filter(|c| c.range().is_some()).count();
        assert!(
            wanting == 0 || out.iter().any(|(_, a)| a.0 > 0.0),
            "{out:?}"
        );
        assert!(check_rows(&snap, &out) >= FILL_RESERVE_A - 1e-6);
    }

    #[test]
    fn vehicles_that_will_be_short_are_filled_first() {
        // One row, two single-phase vehicles on it: room for one minimum only.
        let mut snap = site(2, 1);
        for c in snap.chargers.iter_mut() {
            c.site_phases = [true, false, false];
            c.wired_phases = [true, false, false];
            c.circuit = 0;
            c.online = true;
            c.vehicle = Some(crate::site::Vehicle {
                since: Utc::now(),
                max_current: None,
                measured_max: None,
                learning: None,
                idle_since: None,
                min_current: None,
                need: None,
                id_token: None,
                drawing_phases: None,
            });
        }
        snap.circuits.truncate(1);
        let room = 6.5 + FILL_RESERVE_A;
        snap.circuits[0].load = [Amps(snap.budget(0) - room); 3];
        let mut plan = plan_for(&snap, &[0.0, 0.0], false);
        plan.chargers[1].shortfall = WattHours(5_000.0);
        let targets = plan.currents_at(plan.start);
        let out = fill(&snap, &plan, &targets, &BTreeMap::new());
        assert_eq!(out[0].1, Amps(0.0), "{out:?}");
        assert!(out[1].1.0 >= 6.0, "{out:?}");
    }

    #[test]
    fn a_previous_fill_that_still_fits_is_kept() {
        let snap = site(6, 5);
        let zero = vec![0.0; snap.chargers.len()];
        let plan = plan_for(&snap, &zero, true);
        let targets = plan.currents_at(plan.start);
        let first = fill(&snap, &plan, &targets, &BTreeMap::new());
        let previous: BTreeMap<ChargerId, Amps> = first.iter().cloned().collect();
        let again = fill(&snap, &plan, &targets, &previous);
        assert_eq!(first, again);
    }
}
