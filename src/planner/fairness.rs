//! The LP's fairness terms and the energy rows they bound (`model` builds the LP).
//!
//! Imports run one way: `model` uses `fairness`; `fairness` never imports `model`.

use good_lp::{Constraint, Expression, ProblemVariables, Variable, variable};

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
/// the plan applied now gives them 0 A. So each of them is rewarded, as a tie-break, for
/// its share of its maximum in each period of the first hour (the slots a replan on the
/// slot tick applies): `share_now_terms`.
#[derive(Clone, Copy)]
pub(super) struct Fairness {
    pub known: Variable,
    pub unknown: Variable,
}

/// The share of its maximum (0..1) that the first-hour reward values most: up to it, each
/// vehicle without a known need is rewarded five times as much per share as beyond it.
/// Concave per vehicle, so that the room is spread before anyone gets more, and summed
/// over vehicles, so that one that can get nothing (a full board) does not pin it at 0
/// for all, as a max-min share over every vehicle did.
pub(super) const SHARE_NOW: f64 = 0.3;
/// The reward per share (0..1) up to `SHARE_NOW`, and beyond: a tie-break, below what a
/// price step of 0.03 per kWh moves for a vehicle taking 1.8 kWh in the period.
const W_SHARE_NOW: f64 = 0.05;
const W_SHARE_BEYOND: f64 = 0.01;

/// Rewards each (current, its maximum in A, vehicles in the group) for its share of the
/// maximum, concavely (`SHARE_NOW`).
pub(super) fn share_now_terms(
    rows: &[(Variable, f64, f64)],
    vars: &mut ProblemVariables,
    objective: &mut Expression,
    out: &mut Vec<Constraint>,
) {
    for &(x, max, n) in rows {
        let first = vars.add(variable().min(0.0).max(SHARE_NOW));
        let beyond = vars.add(variable().min(0.0).max(1.0 - SHARE_NOW));
        objective.add_mul(-n * W_SHARE_NOW, first);
        objective.add_mul(-n * W_SHARE_BEYOND, beyond);
        let mut share = Expression::with_capacity(3);
        share.add_mul(1.0, first);
        share.add_mul(1.0, beyond);
        share.add_mul(-1.0 / max, x);
        out.push(share.leq(0.0));
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
