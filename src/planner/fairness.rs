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

/// A known need's shortfall is split into these shares of the need, each weighted by its
/// factor: the kWh a vehicle misses costs more the further it is from its need (convex,
/// so the LP fills the pieces in order). A single-phase vehicle on a phase that three-phase
/// vehicles crowd gets a third of their energy per phase-ampere: with a flat weight per kWh
/// the plan gives the phase to them and leaves it at a quarter of its need while they are
/// full. With these factors it gets the ampere once it is more than half short and they
/// are less than a quarter short (4 against 3 kWh per phase-ampere), without the max-min
/// term's weakness: one need that cannot be reached pins the largest relative shortfall
/// and leaves the others to the flat weight.
pub(super) const SHORT_PIECES: [(f64, f64); 4] =
    [(0.25, 1.0), (0.25, 2.0), (0.25, 4.0), (0.25, 8.0)];

/// The shortfall of a need of `need_kwh` (for `n` identical vehicles, each kWh weighted
/// `w`): one variable when the need is not known or fairness is off, else one per
/// `SHORT_PIECES` share, weighted convexly. Returns their sum.
pub(super) fn shortfall_terms(
    (need_kwh, known, fair): (f64, bool, bool),
    w: f64,
    vars: &mut ProblemVariables,
    objective: &mut Expression,
) -> Expression {
    let pieces: &[(f64, f64)] = if known && fair {
        &SHORT_PIECES
    } else {
        &[(1.0, 1.0)]
    };
    let mut shortfall = Expression::with_capacity(pieces.len());
    for &(share, factor) in pieces {
        let s = vars.add(variable().min(0.0).max(share * need_kwh));
        objective.add_mul(w * factor, s);
        shortfall.add_mul(1.0, s);
    }
    shortfall
}

/// Energy plus shortfall covers each need; a need's shortfall, relative to it, is at most
/// the fairness variable of its kind.
pub(super) fn energy_constraints(
    energy_rows: Vec<(Expression, f64, Expression, bool)>,
    fair: Option<Fairness>,
    constraints: &mut Vec<Constraint>,
) {
    for (energy, need_kwh, shortfall, known) in energy_rows {
        constraints.push(energy.geq(need_kwh));
        if let Some(fair) = fair {
            let mut f = shortfall;
            f.add_mul(-need_kwh, if known { fair.known } else { fair.unknown });
            constraints.push(f.leq(0.0));
        }
    }
}
