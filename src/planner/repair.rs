//! Rounding the LP to "0 or at least the minimum" (DESIGN.md S4).
//!
//! The LP treats a current as continuous in [0, max]; a vehicle cannot charge between 0 and
//! its minimum (6 A by IEC 61851-1). Going through the periods in order, each demand with a
//! fractional current x < min adds x (times the period's length) to what it is owed; once
//! it is owed a whole minimum it charges at the minimum if every circuit phase on its way to
//! the grid has room for the extra (min - x), otherwise it pauses and its x frees room for
//! the next. So energy moves between periods like error diffusion, and the rounded point
//! never exceeds a period's capacity. The model then re-solves the demands this touched,
//! each fixed to Off (0 A) or On (>= min) per period, the others kept. Pure: no IO.

use super::model::{Mode, Period};
use super::{EPS_A, Inputs};

/// Modes per demand per period and the rounded, S4-safe currents (demand x period, in A).
pub fn round(
    inputs: &Inputs<'_>,
    periods: &[Period],
    values: &[Vec<f64>],
) -> (Vec<Vec<Mode>>, Vec<Vec<f64>>) {
    let n = inputs.demands.len();
    let snap = inputs.snap;
    let mut modes = vec![vec![Mode::Off; periods.len()]; n];
    let mut out = vec![vec![0.0; periods.len()]; n];
    // Owed current x slots, in A-slots.
    let mut owed = vec![0.0f64; n];
    let chains: Vec<Vec<usize>> = inputs
        .demands
        .iter()
        .map(|d| snap.chain(snap.chargers[d.charger].circuit))
        .collect();
    for (k, &(start, len)) in periods.iter().enumerate() {
        // Capacity of the period (its tightest slot) and use by the LP values.
        let cap: Vec<[f64; 3]> = (0..snap.circuits.len())
            .map(|c| {
                std::array::from_fn(|p| {
                    (start..start + len)
                        .map(|t| inputs.cap[c][t][p])
                        .fold(f64::INFINITY, f64::min)
                })
            })
            .collect();
        let mut used = vec![[0.0f64; 3]; snap.circuits.len()];
        for d in 0..n {
            for &c in &chains[d] {
                for (p, on) in inputs.phases_of(d).iter().enumerate() {
                    if *on {
                        used[c][p] += values[d][k];
                    }
                }
            }
        }
        let mut fractional = Vec::new();
        for d in 0..n {
            let x = values[d][k];
            let min = inputs.demands[d].min;
            if x > EPS_A && x >= min - EPS_A {
                modes[d][k] = Mode::On;
                out[d][k] = x;
            } else if x > EPS_A {
                let slots = inputs.demands[d].end.saturating_sub(start).min(len) as f64;
                owed[d] += x * slots;
                fractional.push((d, slots));
            }
        }
        // Most owed first; ties by priority (higher first), then index: deterministic.
        fractional.sort_by(|&(a, _), &(b, _)| {
            owed[b]
                .total_cmp(&owed[a])
                .then(
                    snap.chargers[inputs.demands[b].charger]
                        .priority
                        .cmp(&snap.chargers[inputs.demands[a].charger].priority),
                )
                .then(a.cmp(&b))
        });
        let shift = |used: &mut Vec<[f64; 3]>, d: usize, delta: f64| {
            for &c in &chains[d] {
                for (p, on) in inputs.phases_of(d).iter().enumerate() {
                    if *on {
                        used[c][p] += delta;
                    }
                }
            }
        };
        // Pause the ones not owed a whole minimum first: that frees room for the others.
        let (later, pause): (Vec<_>, Vec<_>) = fractional
            .into_iter()
            .partition(|&(d, slots)| owed[d] >= inputs.demands[d].min * slots - EPS_A);
        for (d, _) in pause {
            shift(&mut used, d, -values[d][k]);
        }
        // Most owed first; when there is no room, pause the least owed still undecided.
        let mut pending: std::collections::VecDeque<(usize, f64)> = later.into();
        while let Some(&(d, slots)) = pending.front() {
            let x = values[d][k];
            let min = inputs.demands[d].min;
            let extra = min - x;
            let fits = chains[d].iter().all(|&c| {
                (0..3).all(|p| !inputs.phases_of(d)[p] || used[c][p] + extra <= cap[c][p] + 1e-9)
            });
            if fits {
                pending.pop_front();
                shift(&mut used, d, extra);
                modes[d][k] = Mode::On;
                out[d][k] = min;
                owed[d] -= min * slots;
            } else if pending.len() > 1 {
                if let Some((last, _)) = pending.pop_back() {
                    shift(&mut used, last, -values[last][k]);
                }
            } else {
                pending.pop_front();
                shift(&mut used, d, -x);
            }
        }
    }
    (modes, out)
}
