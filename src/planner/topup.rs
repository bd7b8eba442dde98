//! The top-up: after the LP and the S4 repair, the room the period plan leaves in single
//! slots goes to the vehicles that would still be short at departure (issue 15, planner
//! quality).
//!
//! The LP plans in periods (`model::periods`): a period's capacity is its tightest slot, and
//! a vehicle that leaves inside a period keeps its share of the period's capacity to the
//! period's end. Both are safe and both leave room in the other slots, so the coarse plan is
//! short where the fine one (a period per slot) is not. The top-up walks the slots in order
//! and, in each, raises the vehicles that will be short, earliest departure first (earliest
//! deadline first: what leaves first has the fewest slots left to catch up in), by the
//! room left on every circuit phase of their chain. It never goes above a row's capacity
//! (`Inputs::cap`: limit - margin - forecast load, S1), above a vehicle's maximum, after its
//! departure, or between 0 and its minimum (S4), and raises only vehicles with a known need:
//! a vehicle without one is not short of anything the plan knows (the live fill gives it
//! the room of the slot in force). Cost: slots x (circuits x chargers) steps, no LP.

use super::{EPS_A, Inputs};

/// Below this, in Wh, a vehicle is not short (solver round-off).
const SHORT_EPS_WH: f64 = 1e-3;

/// Raises `currents` (demand x slot, in A) into the room the plan leaves, for the vehicles
/// that would be short at departure. `currents` must fit `inputs.cap` and S4 already; they
/// still do afterwards.
pub fn top_up(inputs: &Inputs<'_>, currents: &mut [Vec<f64>]) {
    let mut short: Vec<f64> = inputs
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
    let chains: Vec<Vec<usize>> = inputs
        .demands
        .iter()
        .map(|d| inputs.snap.chain(inputs.snap.chargers[d.charger].circuit))
        .collect();
    let phases: Vec<[bool; 3]> = (0..inputs.demands.len())
        .map(|d| inputs.phases_of(d))
        .collect();
    for t in 0..inputs.slots {
        let mut room = room_in_slot(inputs, currents, &phases, t);
        for &d in &order {
            let demand = &inputs.demands[d];
            if t >= demand.end || short[d] <= SHORT_EPS_WH {
                continue;
            }
            let free = chains[d]
                .iter()
                .flat_map(|&c| (0..3).filter(|&p| phases[d][p]).map(move |p| (c, p)))
                .map(|(c, p)| room[c][p])
                .fold(f64::INFINITY, f64::min);
            let now = currents[d][t];
            let headroom = free.min(demand.max - now);
            let wanted = short[d] / demand.wh_per_a_slot;
            let mut next = now + headroom.min(wanted);
            if now <= EPS_A && next < demand.min {
                // S4: a paused vehicle starts only with a whole minimum; it may then get a
                // little more than its rest, which is not a shortfall.
                if headroom + EPS_A < demand.min {
                    continue;
                }
                next = demand.min;
            }
            let raise = next - now;
            if raise <= EPS_A {
                continue;
            }
            currents[d][t] = next;
            short[d] -= raise * demand.wh_per_a_slot;
            for &c in &chains[d] {
                for p in (0..3).filter(|&p| phases[d][p]) {
                    room[c][p] -= raise;
                }
            }
        }
    }
}

/// Per circuit and phase, the capacity slot `t` leaves after `currents`, in A (>= 0).
fn room_in_slot(
    inputs: &Inputs<'_>,
    currents: &[Vec<f64>],
    phases: &[[bool; 3]],
    t: usize,
) -> Vec<[f64; 3]> {
    inputs
        .under
        .iter()
        .enumerate()
        .map(|(c, members)| {
            std::array::from_fn(|p| {
                let used: f64 = members
                    .iter()
                    .filter(|&&d| phases[d][p])
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
    use crate::planner::{Policy, inputs, model, overload};
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
