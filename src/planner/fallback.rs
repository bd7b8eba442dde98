//! Plans without the solver: failsafe, equal share, and first come first served.
//!
//! `failsafe` is the plan while a load reading is stale (DESIGN.md S5): every vehicle at its
//! charger's failsafe current, which `validate` proved fits every circuit with the worst-case
//! load (S3). `equal_share` is the plan when the solver errs or runs out of time: per slot the
//! highest common current that fits every circuit phase, then S4 (pause below the minimum,
//! admit paused ones at their minimum by priority while headroom lasts). `first_come` is the
//! naive baseline the tests compare against. All stop charging a vehicle once its need is
//! met. Pure: no IO.

use chrono::{DateTime, Utc};

use super::{EPS_A, Inputs, Plan, PlanKind, finish};

/// Every vehicle at its charger's failsafe current (0 if that is below the minimum).
pub fn failsafe(inputs: &Inputs<'_>, start: DateTime<Utc>) -> Plan {
    let currents = inputs
        .demands
        .iter()
        .map(|d| {
            let fs = inputs.snap.chargers[d.charger]
                .failsafe_current
                .0
                .min(d.max);
            let x = if fs >= d.min { fs } else { 0.0 };
            (0..inputs.slots)
                .map(|t| if t < d.end { x } else { 0.0 })
                .collect()
        })
        .collect();
    finish(inputs, start, PlanKind::Failsafe, currents)
}

/// Equal share within limits, as a plan.
pub fn equal_share(inputs: &Inputs<'_>, start: DateTime<Utc>, reason: String) -> Plan {
    let currents = equal_share_currents(inputs);
    finish(inputs, start, PlanKind::EqualShare { reason }, currents)
}

/// Headroom of circuit phase, slot `t`, given the currents so far (in A).
fn fits(inputs: &Inputs<'_>, t: usize, x: &[f64]) -> bool {
    inputs.under.iter().enumerate().all(|(c, members)| {
        (0..3).all(|p| {
            let sum: f64 = members
                .iter()
                .filter(|&&d| inputs.phases_at(d, c)[p])
                .map(|&d| x[d])
                .sum();
            sum <= inputs.cap[c][t][p] + 1e-9
        })
    })
}

/// Per slot: the highest common level that fits, S4-rounded; needs met stop charging.
#[expect(
    clippy::needless_range_loop,
    reason = "slot x charger x phase matrices read clearer with indices"
)]
pub fn equal_share_currents(inputs: &Inputs<'_>) -> Vec<Vec<f64>> {
    let n = inputs.demands.len();
    let mut out = vec![vec![0.0; inputs.slots]; n];
    let mut left: Vec<f64> = inputs.demands.iter().map(|d| d.need_wh).collect();
    let top = inputs.demands.iter().map(|d| d.max).fold(0.0, f64::max);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&d| {
        (
            std::cmp::Reverse(inputs.snap.chargers[inputs.demands[d].charger].priority),
            d,
        )
    });
    for t in 0..inputs.slots {
        let active: Vec<bool> = (0..n)
            .map(|d| t < inputs.demands[d].end && left[d] > EPS_A)
            .collect();
        let level_x = |level: f64| -> Vec<f64> {
            (0..n)
                .map(|d| {
                    if active[d] {
                        level.min(inputs.demands[d].max)
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let (mut lo, mut hi) = (0.0, top);
        if fits(inputs, t, &level_x(hi)) {
            lo = hi;
        } else {
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                if fits(inputs, t, &level_x(mid)) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        let mut x = level_x(lo);
        for d in 0..n {
            if x[d] < inputs.demands[d].min - EPS_A {
                x[d] = 0.0;
            }
        }
        for &d in &order {
            if active[d] && x[d] == 0.0 {
                x[d] = inputs.demands[d].min;
                if !fits(inputs, t, &x) {
                    x[d] = 0.0;
                }
            }
        }
        for d in 0..n {
            out[d][t] = x[d];
            left[d] -= x[d] * inputs.demands[d].wh_per_a_slot;
        }
    }
    out
}

/// First come, first served: in order of arrival each vehicle takes as much as fits.
#[expect(
    clippy::needless_range_loop,
    reason = "slot x charger x phase matrices read clearer with indices"
)]
pub fn first_come(inputs: &Inputs<'_>) -> Vec<Vec<f64>> {
    let n = inputs.demands.len();
    let mut out = vec![vec![0.0; inputs.slots]; n];
    let mut left: Vec<f64> = inputs.demands.iter().map(|d| d.need_wh).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&d| {
        let c = &inputs.snap.chargers[inputs.demands[d].charger];
        (c.vehicle.as_ref().map(|v| v.since), d)
    });
    for t in 0..inputs.slots {
        let mut x = vec![0.0; n];
        for &d in &order {
            let dem = &inputs.demands[d];
            if t >= dem.end || left[d] <= EPS_A {
                continue;
            }
            // The most this one can take: bisection between its min and max.
            x[d] = dem.max;
            if !fits(inputs, t, &x) {
                let (mut lo, mut hi) = (dem.min, dem.max);
                x[d] = lo;
                if !fits(inputs, t, &x) {
                    x[d] = 0.0;
                    continue;
                }
                for _ in 0..30 {
                    let mid = 0.5 * (lo + hi);
                    x[d] = mid;
                    if fits(inputs, t, &x) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                x[d] = lo;
            }
        }
        for d in 0..n {
            out[d][t] = x[d];
            left[d] -= x[d] * inputs.demands[d].wh_per_a_slot;
        }
    }
    out
}
