//! Rounding the LP to "0 or at least the minimum" (DESIGN.md S4).
//!
//! The LP treats a current as continuous in [0, max]; a vehicle cannot charge between 0 and
//! its minimum (6 A by IEC 61851-1). Per period, the chargers of one group of identical
//! demands with a fractional current x < min share n x A; `m = floor(n x / min)` of them
//! (those that charged least so far) get the minimum and the rest pause. That never adds
//! current to any circuit, so the rounded point is feasible; the model then re-solves with
//! every demand fixed to Off (0 A) or On (>= min) per period. Pure: no IO.

use super::model::{Mode, Period};
use super::{EPS_A, Inputs};

/// Modes per demand per period and the rounded, S4-safe currents (demand x period, in A).
pub fn round(
    inputs: &Inputs<'_>,
    periods: &[Period],
    values: &[Vec<f64>],
) -> (Vec<Vec<Mode>>, Vec<Vec<f64>>) {
    let n = inputs.demands.len();
    let mut modes = vec![vec![Mode::Off; periods.len()]; n];
    let mut out = vec![vec![0.0; periods.len()]; n];
    let mut on_count = vec![0usize; n];
    for k in 0..periods.len() {
        // Fractional demands, grouped by equal value and equal min (identical groups).
        let mut fractional: Vec<usize> = Vec::new();
        for d in 0..n {
            let x = values[d][k];
            let min = inputs.demands[d].min;
            if x >= min - EPS_A && x > EPS_A {
                modes[d][k] = Mode::On;
                out[d][k] = x.max(min);
                on_count[d] += 1;
            } else if x > EPS_A {
                fractional.push(d);
            }
        }
        // Deterministic: by value, then min, then demand index.
        fractional.sort_by(|&a, &b| {
            values[a][k]
                .total_cmp(&values[b][k])
                .then(inputs.demands[a].min.total_cmp(&inputs.demands[b].min))
                .then(place(inputs, a).cmp(&place(inputs, b)))
                .then(a.cmp(&b))
        });
        for run in fractional.chunk_by(|&a, &b| {
            values[a][k] == values[b][k]
                && inputs.demands[a].min == inputs.demands[b].min
                && same_place(inputs, a, b)
        }) {
            let x = values[run[0]][k];
            let min = inputs.demands[run[0]].min;
            let total = x * run.len() as f64;
            let m = ((total / min) + 1e-9).floor() as usize;
            let mut order = run.to_vec();
            order.sort_by_key(|&d| (on_count[d], d));
            for (i, &d) in order.iter().enumerate() {
                if i < m {
                    modes[d][k] = Mode::On;
                    out[d][k] = min;
                    on_count[d] += 1;
                }
            }
        }
    }
    (modes, out)
}

/// Where a demand loads the site: its circuit and site phases.
fn place(inputs: &Inputs<'_>, d: usize) -> (usize, [bool; 3]) {
    let c = &inputs.snap.chargers[inputs.demands[d].charger];
    (c.circuit, c.site_phases)
}

/// Same circuit and the same site phases: swapping current between them changes no sum.
fn same_place(inputs: &Inputs<'_>, a: usize, b: usize) -> bool {
    place(inputs, a) == place(inputs, b)
}
