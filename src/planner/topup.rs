//! The top-up: after the LP and the S4 repair, the room the period plan leaves in single
//! slots goes to the vehicles that would still be short at departure (issue 15, planner
//! quality).
//!
//! The LP plans in periods (`model::periods`): a period's capacity is its tightest slot, and
//! a vehicle that leaves inside a period keeps its share of the period's capacity to the
//! period's end. Both are safe and both leave room in the other slots, so the coarse plan is
//! short where the fine one (a period per slot) is not. The top-up takes the vehicles that
//! will be short, earliest departure first (earliest deadline first: what leaves first has
//! the fewest slots to catch up in), and fills each one's shortfall into the room of its
//! slots like water into a valley: always into the slot where the grid connection's load
//! (forecast non-charger load plus the plan) is lowest on the vehicle's phases, raising
//! it at most to the next-lowest slot's level (plus `LEVEL_STEP_A`) before turning to
//! that one. So the extra energy goes where it raises the peak least, not into the first
//! slots (filling slot by slot in time order raised the 200-charger site's peak from 814 A
//! to 1,274 A, BENCHMARKS.md "Top-up").
//!
//! It never goes above a row's capacity (`Inputs::cap`: limit - margin - forecast load,
//! S1), above a vehicle's maximum, after its departure, or between 0 and its minimum (S4),
//! and raises only vehicles with a known need: a vehicle without one is not short of
//! anything the plan knows (the live fill gives it the room of the slot in force).
//! Cost per short vehicle: (its shortfall / `LEVEL_STEP_A` + slots) steps of slots x chain;
//! no LP.

use super::{EPS_A, Inputs};

/// Below this, in Wh, a vehicle is not short (solver round-off).
const SHORT_EPS_WH: f64 = 1e-3;

/// How far above the next-lowest slot's level one step of the fill may raise a slot, in A:
/// the water level's granularity. Bounds the steps per vehicle by its shortfall in A-slots.
const LEVEL_STEP_A: f64 = 1.0;

/// Raises `currents` (demand x slot, in A) into the room the plan leaves, for the vehicles
/// that would be short at departure. `currents` must fit `inputs.cap` and S4 already; they
/// still do afterwards.
pub fn top_up(inputs: &Inputs<'_>, currents: &mut [Vec<f64>]) {
    let short: Vec<f64> = inputs
        .demands
        .iter()
        .zip(currents.iter())
        .map(|(d, row)| {
            let delivered: f64 = row.iter().take(d.end).sum::<f64>() * d.wh_per_a_slot;
            if d.known { d.need_wh - delivered } else { 0.0 }
        })
        .collect();
    let mut order: Vec<usize> = (0..inputs.demands.len())
        .filter(|&d| short[d] > SHORT_EPS_WH)
        .collect();
    if order.is_empty() {
        return;
    }
    order.sort_by_key(|&d| (inputs.demands[d].end, d));
    let mut fill = Valley::new(inputs, currents);
    for d in order {
        fill.fill(d, short[d], currents);
    }
}

/// The room and the grid level of every slot while the top-up fills it.
struct Valley<'i, 'a> {
    inputs: &'i Inputs<'a>,
    /// Each demand's chain of circuits, leaf to the grid connection.
    chains: Vec<Vec<usize>>,
    /// Each demand's site phases at the grid connection (its level).
    phases: Vec<[bool; 3]>,
    /// Slot x circuit x phase: capacity left, in A.
    room: Vec<Vec<[f64; 3]>>,
    /// Slot x phase: the grid connection's planned load (forecast + plan), in A.
    level: Vec<[f64; 3]>,
}

impl<'i, 'a> Valley<'i, 'a> {
    fn new(inputs: &'i Inputs<'a>, currents: &[Vec<f64>]) -> Self {
        let chains: Vec<Vec<usize>> = inputs
            .demands
            .iter()
            .map(|d| inputs.snap.chain(inputs.snap.chargers[d.charger].circuit))
            .collect();
        let phases: Vec<[bool; 3]> = (0..inputs.demands.len())
            .map(|d| inputs.phases_at(d, 0))
            .collect();
        let room = (0..inputs.slots)
            .map(|t| room_in_slot(inputs, currents, t))
            .collect();
        let level = (0..inputs.slots)
            .map(|t| {
                std::array::from_fn(|p| {
                    inputs.grid_load[t][p]
                        + (0..inputs.demands.len())
                            .filter(|&d| phases[d][p])
                            .map(|d| currents[d][t])
                            .sum::<f64>()
                })
            })
            .collect();
        Valley {
            inputs,
            chains,
            phases,
            room,
            level,
        }
    }

    /// Fills up to `short_wh` of demand `d` into its lowest slots.
    fn fill(&mut self, d: usize, mut short_wh: f64, currents: &mut [Vec<f64>]) {
        let demand = &self.inputs.demands[d];
        let mut open: Vec<bool> = (0..self.inputs.slots).map(|t| t < demand.end).collect();
        while short_wh > SHORT_EPS_WH {
            // The lowest open slot, and the level of the next-lowest one.
            let mut lowest: Option<(usize, f64)> = None;
            let mut next_level = f64::INFINITY;
            for t in (0..self.inputs.slots).filter(|&t| open[t]) {
                let level = self.level_for(d, t);
                match lowest {
                    Some((_, l)) if level >= l => next_level = next_level.min(level),
                    Some((_, l)) => {
                        next_level = l;
                        lowest = Some((t, level));
                    }
                    None => lowest = Some((t, level)),
                }
            }
            let Some((t, level)) = lowest else {
                return; // no slot has room left
            };
            let now = currents[d][t];
            let headroom = self.free(d, t).min(demand.max - now);
            let step = (next_level - level + LEVEL_STEP_A).max(LEVEL_STEP_A);
            let mut next = now + headroom.min(short_wh / demand.wh_per_a_slot).min(step);
            if now <= EPS_A && next < demand.min {
                // S4: a paused vehicle starts only with a whole minimum; it may then get a
                // little more than its rest, which is not a shortfall.
                if headroom + EPS_A < demand.min {
                    open[t] = false;
                    continue;
                }
                next = demand.min;
            }
            let raise = next - now;
            if raise <= EPS_A {
                open[t] = false;
                continue;
            }
            currents[d][t] = next;
            short_wh -= raise * demand.wh_per_a_slot;
            self.take(d, t, raise);
        }
    }

    /// The grid connection's planned load in slot `t` on the phases demand `d` draws on.
    fn level_for(&self, d: usize, t: usize) -> f64 {
        (0..3)
            .filter(|&p| self.phases[d][p])
            .map(|p| self.level[t][p])
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The room demand `d` has in slot `t`: the least left on its circuits' phases, in A.
    fn free(&self, d: usize, t: usize) -> f64 {
        self.chains[d]
            .iter()
            .flat_map(|&c| {
                let phases = self.inputs.phases_at(d, c);
                (0..3).filter(move |&p| phases[p]).map(move |p| (c, p))
            })
            .map(|(c, p)| self.room[t][c][p])
            .fold(f64::INFINITY, f64::min)
    }

    /// Books `raise` A of demand `d` in slot `t`.
    fn take(&mut self, d: usize, t: usize, raise: f64) {
        for &c in &self.chains[d] {
            let phases = self.inputs.phases_at(d, c);
            for p in (0..3).filter(|&p| phases[p]) {
                self.room[t][c][p] -= raise;
            }
        }
        for p in (0..3).filter(|&p| self.phases[d][p]) {
            self.level[t][p] += raise;
        }
    }
}

/// Per circuit and phase, the capacity slot `t` leaves after `currents`, in A (>= 0).
fn room_in_slot(inputs: &Inputs<'_>, currents: &[Vec<f64>], t: usize) -> Vec<[f64; 3]> {
    inputs
        .under
        .iter()
        .enumerate()
        .map(|(c, members)| {
            std::array::from_fn(|p| {
                let used: f64 = members
                    .iter()
                    .filter(|&&d| inputs.phases_at(d, c)[p])
                    .map(|&d| currents[d][t])
                    .sum();
                (inputs.cap[c][t][p] - used).max(0.0)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::planner::{Demand, Policy, inputs, model, overload};
    use crate::site::synthetic;

    fn policy() -> Policy {
        let config = crate::config::parse(
            "[site]\nid = \"t\"\ngrid-limit-a = 100\nworst-case-load-a = 10\n\
             [planner]\ntime-budget-ms = 30000\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        Policy::from_config(&config)
    }

    fn shortfall_wh(inputs: &Inputs<'_>, currents: &[Vec<f64>]) -> f64 {
        inputs
            .demands
            .iter()
            .zip(currents)
            .filter(|(d, _)| d.known)
            .map(|(d, row)| {
                let delivered: f64 = row.iter().take(d.end).sum::<f64>() * d.wh_per_a_slot;
                (d.need_wh - delivered).max(0.0)
            })
            .sum()
    }

    /// On the synthetic site the coarse plan is short; the top-up lowers the shortfall,
    /// keeps every row within capacity and every current at 0 or within [min, max], and
    /// gives nothing after a departure.
    #[test]
    fn the_top_up_lowers_the_shortfall_and_keeps_s1_and_s4() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap();
        for seed in [1, 42] {
            let snap = synthetic::site(30, seed, now);
            let mut p = policy();
            p.top_up = false;
            let inputs = inputs(&snap, &p, now);
            let mut currents = model::optimise(&inputs, &p).expect("the LP solves");
            let before = shortfall_wh(&inputs, &currents);
            let planned = currents.clone();
            top_up(&inputs, &mut currents);
            let after = shortfall_wh(&inputs, &currents);
            assert!(before > 1000.0, "seed {seed}: the site binds ({before} Wh)");
            assert!(
                after < before - 100.0,
                "seed {seed}: {before:.0} Wh short before, {after:.0} Wh after"
            );
            assert!(overload(&inputs, &currents) <= 1e-6, "seed {seed}: S1");
            for (d, row) in currents.iter().enumerate() {
                let dem = &inputs.demands[d];
                for (t, &x) in row.iter().enumerate() {
                    assert!(x >= planned[d][t] - EPS_A, "only raises");
                    assert!(
                        x <= EPS_A || (x >= dem.min - EPS_A && x <= dem.max + EPS_A),
                        "seed {seed}: S4 at demand {d} slot {t}: {x} A"
                    );
                    if t >= dem.end {
                        assert!(x <= EPS_A, "seed {seed}: current after departure");
                    }
                }
            }
        }
    }

    /// The shortfall goes into the slots where the grid connection's load is lowest, like
    /// water into a valley, not into the first slots: the peak of the plan does not rise.
    #[test]
    fn the_top_up_fills_the_lowest_slots_first_and_keeps_the_peak() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap();
        let snap = synthetic::site(1, 1, now);
        let p = policy();
        let mut inputs = inputs(&snap, &p, now);
        let chain = snap.chain(snap.chargers[0].circuit);
        inputs.slots = 4;
        inputs.grid_load = [50.0, 10.0, 30.0, 20.0].map(|a| [a; 3]).to_vec();
        inputs.cap = (0..snap.circuits.len())
            .map(|_| vec![[100.0; 3]; 4])
            .collect();
        inputs.price = vec![0.2; 4];
        inputs.under = (0..snap.circuits.len())
            .map(|c| if chain.contains(&c) { vec![0] } else { vec![] })
            .collect();
        inputs.demands = vec![Demand {
            charger: 0,
            min: 6.0,
            max: 32.0,
            end: 4,
            need_wh: 20.0 * 100.0,
            known: true,
            wh_per_a_slot: 100.0,
        }];
        let mut currents = vec![vec![0.0; 4]];
        top_up(&inputs, &mut currents);
        let row = &currents[0];
        // 10 A of load rises to 21 A (one step past the next valley, 20 A), the 20 A
        // slot starts at the 6 A minimum (S4), the rest tops up the lowest again.
        let want = [0.0, 14.0, 0.0, 6.0];
        for (t, (x, w)) in row.iter().zip(want).enumerate() {
            assert!(
                (x - w).abs() < 1e-9,
                "slot {t}: {x} A, want {w} A ({row:?})"
            );
        }
        let peak = (0..4)
            .map(|t| inputs.grid_load[t][0] + row[t])
            .fold(0.0, f64::max);
        assert!((peak - 50.0).abs() < 1e-9, "the peak stays at 50 A: {peak}");
    }

    /// A vehicle whose need the plan meets, or whose need is unknown, gets nothing more:
    /// the top-up is for the short.
    #[test]
    fn vehicles_that_are_not_short_are_left_as_planned() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap();
        let snap = synthetic::site(30, 42, now);
        let mut p = policy();
        p.top_up = false;
        let inputs = inputs(&snap, &p, now);
        let mut currents = model::optimise(&inputs, &p).expect("the LP solves");
        let planned = currents.clone();
        top_up(&inputs, &mut currents);
        let mut not_short = 0;
        for (d, row) in currents.iter().enumerate() {
            let dem = &inputs.demands[d];
            let delivered: f64 = planned[d].iter().take(dem.end).sum::<f64>() * dem.wh_per_a_slot;
            if !dem.known || delivered >= dem.need_wh - SHORT_EPS_WH {
                not_short += 1;
                assert_eq!(row, &planned[d], "demand {d} was not short");
            }
        }
        assert!(not_short > 0, "the site has vehicles that are not short");
    }
}
