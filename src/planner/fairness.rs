//! The LP's fairness terms and the energy rows they bound (`model` builds the LP).
//!
//! Imports run one way: `model` uses `fairness`; `fairness` never imports `model`.

use good_lp::{Constraint, Expression, Variable};

/// The fairness terms: the largest relative shortfall (0..1) among known needs, and among
/// unknown ones.
///
/// The unknown one matters where every phase is full: an ampere of a single-phase vehicle
/// and one of a three-phase vehicle then give the same energy per phase-ampere, so the
/// energy term is indifferent to who charges and the simplex's vertex can leave every
/// single-phase vehicle at 0 A all night. An unknown need is the vehicle's maximum over the
/// horizon, so its relative shortfall is one minus its mean share of its maximum: the
/// smallest largest one gives every wanting vehicle the same share of what it can take.
///
/// That still leaves *when* each one charges to the vertex (the same energy in every
/// period), and the single-phase vehicles' share could all come late in the night while
/// the plan applied now gives them 0 A. So `now` is one minus the smallest share of its
/// maximum that such a vehicle gets in a period of the first hour (the slots a replan on
/// the slot tick applies), weighed as a tie-break.
#[derive(Clone, Copy)]
pub(super) struct Fairness {
    pub known: Variable,
    pub unknown: Variable,
    pub now: Variable,
}

/// Each such vehicle's share of its maximum in each period of the first hour is at least
/// `1 - now`.
pub(super) fn share_now_constraints(
    rows: &[(Variable, f64)],
    now: Variable,
    out: &mut Vec<Constraint>,
) {
    for &(x, max) in rows {
        let mut share = Expression::with_capacity(2);
        share.add_mul(1.0 / max, x);
        share.add_mul(1.0, now);
        out.push(share.geq(1.0));
    }
}

/// Energy plus shortfall covers each need; a need's shortfall, relative to it, is at most
/// the fairness variable of its kind.
pub(super) fn energy_constraints(
    energy_rows: Vec<(Expression, f64, Variable, bool)>,
    fair: Option<Fairness>,
    constraints: &mut Vec<Constraint>,
) {
    for (energy, need_kwh, s, known) in energy_rows {
        constraints.push(energy.geq(need_kwh));
        if let Some(fair) = fair {
            let mut f = Expression::with_capacity(2);
            f.add_mul(1.0, s);
            f.add_mul(-need_kwh, if known { fair.known } else { fair.unknown });
            constraints.push(f.leq(0.0));
        }
    }
}
