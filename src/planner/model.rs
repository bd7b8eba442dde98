//! The linear program: variables, constraints and objective, solved with microlp.
//!
//! Sparse and small on purpose (CRATES.md §2: a dense 200 x 96 LP took ~370 ms):
//! - periods (`PeriodScheme::Coarser`, the default): every slot in the first hour, 60-minute
//!   periods up to 6 h, 120-minute ones beyond (split at departures when there are few
//!   distinct ones), so 96 slots of 15 min become 18 periods; a period's capacity is the
//!   tightest of its slots, so a period plan is safe in each of its slots;
//! - aggregation: identical vehicles (same circuit, phases, limits, priority, need and
//!   departure) share one variable, multiplied by their count, which also gives equals an
//!   equal share;
//! - a current variable only while the vehicle is present.
//!
//! Objective, in order of weight: shortfall by departure (kWh, weighted by priority and,
//! for a known need, more the further the vehicle is from it: `fairness::SHORT_PIECES`), peak
//! at the grid connection (A), energy cost (price x kWh), a tie-break for earlier charging,
//! and the largest relative shortfall (fairness). This module never performs IO.
//!
//! Imports run one way: `model` uses `repair` (the rounding, and the `Mode` and `Period`
//! it is defined over); `repair` never imports `model`.

use std::collections::BTreeMap;

use good_lp::variable::UnsolvedProblem;
use good_lp::{
    Constraint, Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable,
    WithTimeLimit, microlp, variable,
};

use super::fairness::{Fairness, energy_constraints, share_now_terms, shortfall_terms};
use super::repair::{self, Mode, Period};
use super::{EPS_A, Inputs, Policy};

/// Shortfall weight per kWh: above everything else.
const W_SHORT_PER_KWH: f64 = 1000.0;
/// Extra shortfall weight for priority 1000 over priority 0 (relative).
const W_PRIORITY: f64 = 0.1;
/// Shortfall weight of a vehicle without a known need, relative to a known one: half, so
/// known needs come first, yet far above the peak term (a 1 A single-phase slot of 15 min
/// is worth ~29 against 10 for raising the peak by 1 A once), so a vehicle that wants
/// energy is not left idle to keep the peak down while the site has room (issue 9).
const W_UNKNOWN: f64 = 0.5;
/// Peak weight per A at the grid connection.
const W_PEAK_PER_A: f64 = 10.0;
/// Tie-break per kWh, growing over the horizon: earlier is better.
const W_EARLY_PER_KWH: f64 = 0.01;
/// Weight of the largest relative shortfall (0..1).
const W_FAIR: f64 = 1.0;
/// Weight per A a vehicle's current in the first period moves from the plan in force
/// (`Inputs::previous`): a tie-break below every other term (a 0.01 per kWh price step is
/// 0.002 per A of a single-phase 15-minute slot; the first-hour share reward 0.05 / 32 A per A, up to `fairness::SHARE_NOW`).
const W_STEADY_PER_A: f64 = 0.0005;
/// At most this many departure boundaries split the coarse periods.
const MAX_SPLITS: usize = 24;

/// Why the LP gave no usable answer (the planner then falls back).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("solver: {0}")]
    Solver(#[from] ResolutionError),
    #[error("the solution breaks a limit by {0:.3} A")]
    Unsafe(f64),
}

/// The LP backend: microlp (default, simplex: vertex solutions, time limit) or clarabel
/// (interior point, only with the `clarabel` feature, for the benchmark comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Microlp,
    #[cfg(feature = "clarabel")]
    Clarabel,
}

/// How slots are merged into periods: the LP's size grows with the number of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodScheme {
    /// One period per slot.
    Fine,
    /// Slots for the first hour, 30 min up to 4 h, 60 min beyond (96 x 15 min -> 30).
    Coarse,
    /// Slots for the first hour, 60 min up to 6 h, 120 min beyond (96 x 15 min -> 18).
    Coarser,
}

/// The periods covering `slots`; coarse further out when `coarse`.
pub fn periods(inputs: &Inputs<'_>, scheme: PeriodScheme) -> Vec<Period> {
    let slot_min = inputs.slot_min.max(1) as usize;
    let mut splits: Vec<usize> = inputs.demands.iter().map(|d| d.end).collect();
    splits.sort_unstable();
    splits.dedup();
    let use_splits = splits.len() <= MAX_SPLITS;
    let mut out = Vec::new();
    let mut t = 0;
    while t < inputs.slots {
        let minute = t * slot_min;
        let want_min = match scheme {
            _ if minute < 60 => slot_min,
            PeriodScheme::Fine => slot_min,
            PeriodScheme::Coarse if minute < 240 => 30,
            PeriodScheme::Coarse => 60,
            PeriodScheme::Coarser if minute < 360 => 60,
            PeriodScheme::Coarser => 120,
        };
        let mut len = (want_min / slot_min).max(1).min(inputs.slots - t);
        if use_splits && let Some(&s) = splits.iter().find(|&&s| s > t && s < t + len) {
            len = s - t;
        }
        out.push((t, len));
        t += len;
    }
    out
}

/// The LP, rounded for S4 and re-solved: currents per demand per slot, in A.
pub fn optimise(inputs: &Inputs<'_>, policy: &Policy) -> Result<Vec<Vec<f64>>, ModelError> {
    let periods = periods(inputs, policy.periods);
    let budget_s = policy.time_budget().as_secs_f64();
    let free = vec![vec![Mode::Free; periods.len()]; inputs.demands.len()];
    let first = solve(inputs, &periods, &free, &[], policy, budget_s * 0.6)?;
    let (mut modes, rounded) = repair::round(inputs, &periods, &first);
    if policy.resolve_only_rounded {
        // "Re-solve the rest": demands the rounding did not touch (neither rounded nor
        // lowered to make room for another's minimum) keep their LP currents and become
        // constants, so the second LP holds only the touched ones.
        for (d, row) in first.iter().enumerate() {
            if row
                .iter()
                .zip(&rounded[d])
                .all(|(x, r)| (x - r).abs() <= EPS_A)
            {
                modes[d].fill(Mode::Fixed);
            }
        }
    }
    let needs_resolve = modes.iter().flatten().any(|m| *m == Mode::On);
    let per_period = if policy.resolve_after_repair && needs_resolve {
        // The rounded point is feasible, so a failed re-solve still leaves a safe plan.
        solve(inputs, &periods, &modes, &first, policy, budget_s * 0.4).unwrap_or(rounded)
    } else {
        rounded
    };
    let mut currents = expand(inputs, &periods, &per_period);
    if policy.top_up {
        super::topup::top_up(inputs, &mut currents);
    }
    let over = super::overload(inputs, &currents);
    if over > 1e-3 {
        return Err(ModelError::Unsafe(over));
    }
    Ok(currents)
}

/// Period values to slot values; 0 after departure.
pub fn expand(inputs: &Inputs<'_>, periods: &[Period], values: &[Vec<f64>]) -> Vec<Vec<f64>> {
    inputs
        .demands
        .iter()
        .zip(values)
        .map(|(d, row)| {
            let mut out = vec![0.0; inputs.slots];
            for (k, &(start, len)) in periods.iter().enumerate() {
                for (t, slot) in out.iter_mut().enumerate().skip(start).take(len) {
                    if t < d.end && row[k] > EPS_A {
                        *slot = row[k];
                    }
                }
            }
            out
        })
        .collect()
}

/// Slots of period `k` before the demand's departure.
fn present(period: Period, end: usize) -> usize {
    let (start, len) = period;
    end.saturating_sub(start).min(len)
}

/// One LP: returns currents per demand per period, in A. `Fixed` modes take `fixed`.
pub fn solve(
    inputs: &Inputs<'_>,
    periods: &[Period],
    modes: &[Vec<Mode>],
    fixed: &[Vec<f64>],
    policy: &Policy,
    time_limit_s: f64,
) -> Result<Vec<Vec<f64>>, ModelError> {
    let groups = group_demands(inputs, modes, policy);
    let Lp {
        mut vars,
        mut objective,
        peak,
        fair,
        x,
        energy_rows,
        now_rows,
        steady_rows,
    } = variables_and_objective(inputs, periods, modes, policy, &groups);
    let mut constraints = Vec::with_capacity(
        energy_rows.len() * 2 + inputs.snap.circuits.len() * 3 * periods.len() * 2,
    );
    energy_constraints(energy_rows, fair, &mut constraints);
    if fair.is_some() {
        share_now_terms(&now_rows, &mut vars, &mut objective, &mut constraints);
    }
    for (x, up, down, previous) in steady_rows {
        constraints.push((x - up + down).eq(previous));
    }
    let fixed_load = fixed_load(inputs, periods, modes, fixed);
    let circuits = Circuits {
        groups: &groups,
        x: &x,
        fixed_load: &fixed_load,
        peak,
    };
    capacity_constraints(inputs, periods, &circuits, &mut constraints);
    let values = run_backend(
        vars.minimise(objective),
        constraints,
        &x,
        policy,
        time_limit_s,
    )?;
    Ok(per_demand(periods, modes, fixed, &groups, &values))
}

/// Groups identical demands (same everything, including their repair modes): demand
/// indices per group, each group one variable per period.
fn group_demands(inputs: &Inputs<'_>, modes: &[Vec<Mode>], policy: &Policy) -> Vec<Vec<usize>> {
    let snap = inputs.snap;
    let mut groups: BTreeMap<Vec<u64>, Vec<usize>> = BTreeMap::new();
    for (d, dem) in inputs.demands.iter().enumerate() {
        let c = &snap.chargers[dem.charger];
        let mut key: Vec<u64> = if policy.aggregate {
            vec![
                c.circuit as u64,
                // Both counts: a group's rows take its first member's (`phases_at`).
                u64::from(c.site_phases[0])
                    | u64::from(c.site_phases[1]) << 1
                    | u64::from(c.site_phases[2]) << 2
                    | u64::from(c.wired_phases[0]) << 3
                    | u64::from(c.wired_phases[1]) << 4
                    | u64::from(c.wired_phases[2]) << 5,
                dem.min.to_bits(),
                dem.max.to_bits(),
                u64::from(c.priority),
                dem.end as u64,
                dem.need_wh.to_bits(),
                u64::from(dem.known),
                dem.wh_per_a_slot.to_bits(),
            ]
        } else {
            vec![d as u64]
        };
        key.extend(modes[d].iter().map(|m| *m as u64));
        groups.entry(key).or_default().push(d);
    }
    groups.into_values().collect()
}

/// The LP before its constraints.
struct Lp {
    vars: ProblemVariables,
    objective: Expression,
    /// Peak current at the grid connection, in A.
    peak: Variable,
    /// Largest relative shortfall (0..1) of a known need and of an unknown one, when
    /// fairness is on.
    fair: Option<Fairness>,
    /// x[g][k]: None when the group cannot charge in period k.
    x: Vec<Vec<Option<Variable>>>,
    /// Per group with a need: (energy plus shortfall in kWh, need in kWh, shortfall in
    /// kWh, need known).
    energy_rows: Vec<(Expression, f64, Expression, bool)>,
    /// Per group without a known need, per period of the first hour it may charge in: (its
    /// current there, its maximum in A, its number of vehicles).
    now_rows: Vec<(Variable, f64, f64)>,
    /// Per group with a current in the plan in force for the first period: (its current
    /// there, how far above, how far below that current, that current in A).
    steady_rows: Vec<(Variable, Variable, Variable, f64)>,
}

/// The current variables per group and period, the shortfall variables, and the
/// weighted objective over them.
fn variables_and_objective(
    inputs: &Inputs<'_>,
    periods: &[Period],
    modes: &[Vec<Mode>],
    policy: &Policy,
    groups: &[Vec<usize>],
) -> Lp {
    let mut vars = ProblemVariables::new();
    let mut objective = Expression::with_capacity(groups.len() * (periods.len() + 1) + 2);
    let peak = vars.add(variable().min(0.0));
    let fair = policy.fairness.then(|| Fairness {
        known: vars.add(variable().min(0.0).max(1.0)),
        unknown: vars.add(variable().min(0.0).max(1.0)),
    });
    objective.add_mul(W_PEAK_PER_A, peak);
    if let Some(fair) = fair {
        objective.add_mul(W_FAIR, fair.known);
        objective.add_mul(W_FAIR * W_UNKNOWN, fair.unknown);
    }
    let max_priority = inputs
        .snap
        .chargers
        .iter()
        .map(|c| c.priority)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut x: Vec<Vec<Option<Variable>>> = Vec::with_capacity(groups.len());
    let mut energy_rows = Vec::new();
    let mut now_rows = Vec::new();
    let mut steady_rows = Vec::new();
    for members in groups {
        let d0 = members[0];
        let n = members.len() as f64;
        let mut energy = Expression::with_capacity(periods.len() + 1);
        let row = current_variables(
            inputs,
            periods,
            (d0, n),
            &modes[d0],
            &mut vars,
            &mut objective,
            &mut energy,
        );
        let dem = &inputs.demands[d0];
        now_rows.extend(first_hour_rows(inputs, periods, (dem, n), &row));
        if let Some(Some(first)) = row.first()
            && let Some(steady) = steady_row(inputs, members, *first, &mut vars, &mut objective)
        {
            steady_rows.push(steady);
        }
        x.push(row);
        let need_kwh = dem.need_wh / 1000.0;
        let all_fixed = modes[d0].iter().all(|m| *m == Mode::Fixed);
        if need_kwh > 0.0 && !all_fixed {
            let w = if dem.known {
                1.0 + W_PRIORITY * f64::from(inputs.snap.chargers[dem.charger].priority)
                    / f64::from(max_priority)
            } else {
                W_UNKNOWN
            };
            let shortfall = shortfall_terms(
                (need_kwh, dem.known, policy.fairness),
                n * W_SHORT_PER_KWH * w,
                &mut vars,
                &mut objective,
            );
            energy += shortfall.clone();
            energy_rows.push((energy, need_kwh, shortfall, dem.known));
        }
    }
    Lp {
        vars,
        objective,
        peak,
        fair,
        x,
        energy_rows,
        now_rows,
        steady_rows,
    }
}

/// A group without a known need: (its current, its maximum, its vehicles) in each period
/// of the first hour it may charge in, for `fairness::share_now_terms`.
fn first_hour_rows(
    inputs: &Inputs<'_>,
    periods: &[Period],
    (dem, n): (&super::Demand, f64),
    row: &[Option<Variable>],
) -> Vec<(Variable, f64, f64)> {
    if dem.known || dem.max <= EPS_A {
        return Vec::new();
    }
    let first_hour = periods
        .iter()
        .take_while(|(start, _)| start * (inputs.slot_min as usize) < 60);
    row.iter()
        .zip(first_hour)
        .filter_map(|(x, _)| x.map(|x| (x, dem.max, n)))
        .collect()
}

/// The group's move from the plan in force in the first period (`first`), weighed by
/// `W_STEADY_PER_A`: (first, above, below, that current), if every member had one.
fn steady_row(
    inputs: &Inputs<'_>,
    members: &[usize],
    first: Variable,
    vars: &mut ProblemVariables,
    objective: &mut Expression,
) -> Option<(Variable, Variable, Variable, f64)> {
    let previous: Vec<f64> = members
        .iter()
        .map(|d| inputs.previous[*d])
        .collect::<Option<_>>()?;
    let n = members.len() as f64;
    let mean = previous.iter().sum::<f64>() / n;
    let (up, down) = (vars.add(variable().min(0.0)), vars.add(variable().min(0.0)));
    objective.add_mul(n * W_STEADY_PER_A, up);
    objective.add_mul(n * W_STEADY_PER_A, down);
    Some((first, up, down, mean))
}

/// One group's current variables, one per period it may charge in (`None` otherwise);
/// adds their cost (price and the early tie-break, per kWh) to `objective` and their
/// energy (kWh) to `energy`. `group` is (first member, number of members).
fn current_variables(
    inputs: &Inputs<'_>,
    periods: &[Period],
    (d0, n): (usize, f64),
    modes: &[Mode],
    vars: &mut ProblemVariables,
    objective: &mut Expression,
    energy: &mut Expression,
) -> Vec<Option<Variable>> {
    let dem = &inputs.demands[d0];
    let mut row = Vec::with_capacity(periods.len());
    for (k, &period) in periods.iter().enumerate() {
        let slots = present(period, dem.end);
        let mode = modes[k];
        if slots == 0 || mode == Mode::Off || mode == Mode::Fixed {
            row.push(None);
            continue;
        }
        let lb = if mode == Mode::On { dem.min } else { 0.0 };
        let v = vars.add(variable().min(lb).max(dem.max));
        let kwh_per_a = dem.wh_per_a_slot * slots as f64 / 1000.0;
        let price = (period.0..period.0 + slots)
            .map(|t| inputs.price[t])
            .sum::<f64>()
            / slots as f64;
        let early = W_EARLY_PER_KWH * period.0 as f64 / inputs.slots.max(1) as f64;
        objective.add_mul(n * kwh_per_a * (price + early), v);
        energy.add_mul(kwh_per_a, v);
        row.push(Some(v));
    }
    row
}

/// Currents of fixed demands: constants on their circuits, circuit x period x phase, in A.
fn fixed_load(
    inputs: &Inputs<'_>,
    periods: &[Period],
    modes: &[Vec<Mode>],
    fixed: &[Vec<f64>],
) -> Vec<Vec<[f64; 3]>> {
    let snap = inputs.snap;
    let mut fixed_load = vec![vec![[0.0f64; 3]; periods.len()]; snap.circuits.len()];
    for (d, dem) in inputs.demands.iter().enumerate() {
        for (k, mode) in modes[d].iter().enumerate() {
            if *mode != Mode::Fixed || present(periods[k], dem.end) == 0 {
                continue;
            }
            for c in snap.chain(snap.chargers[dem.charger].circuit) {
                for (p, on) in inputs.phases_at(d, c).iter().enumerate() {
                    if *on {
                        fixed_load[c][k][p] += fixed[d][k];
                    }
                }
            }
        }
    }
    fixed_load
}

/// What the circuit rows are built from.
struct Circuits<'a> {
    groups: &'a [Vec<usize>],
    x: &'a [Vec<Option<Variable>>],
    /// Circuit x period x phase, in A.
    fixed_load: &'a [Vec<[f64; 3]>],
    peak: Variable,
}

/// Per circuit, phase and period: the groups' currents stay within the capacity left by
/// the fixed demands; at the grid connection they also bound the peak.
#[expect(
    clippy::needless_range_loop,
    reason = "circuit x period x phase rows read clearer with indices"
)]
fn capacity_constraints(
    inputs: &Inputs<'_>,
    periods: &[Period],
    lp: &Circuits<'_>,
    constraints: &mut Vec<Constraint>,
) {
    let Circuits {
        groups,
        x,
        fixed_load,
        peak,
    } = *lp;
    // Which groups load which circuit: a group's chain from its circuit to the root.
    let snap = inputs.snap;
    let mut under: Vec<Vec<usize>> = vec![Vec::new(); snap.circuits.len()];
    for (g, members) in groups.iter().enumerate() {
        let c = snap.chargers[inputs.demands[members[0]].charger].circuit;
        for circuit in snap.chain(c) {
            under[circuit].push(g);
        }
    }
    for (c, gs) in under.iter().enumerate() {
        for p in 0..3 {
            let on_p: Vec<usize> = gs
                .iter()
                .copied()
                .filter(|&g| inputs.phases_at(groups[g][0], c)[p])
                .collect();
            if on_p.is_empty() {
                continue;
            }
            for (k, &(start, len)) in periods.iter().enumerate() {
                let mut sum = Expression::with_capacity(on_p.len() + 1);
                let mut any = false;
                // Rows the chargers can never reach are kept: leaving them out made microlp
                // slower at 500 chargers (BENCHMARKS.md).
                for &g in &on_p {
                    if let Some(v) = x[g][k] {
                        sum.add_mul(groups[g].len() as f64, v);
                        any = true;
                    }
                }
                if !any {
                    continue;
                }
                let cap = (start..start + len)
                    .map(|t| inputs.cap[c][t][p])
                    .fold(f64::INFINITY, f64::min)
                    - fixed_load[c][k][p];
                if c == 0 {
                    let base = (start..start + len)
                        .map(|t| inputs.grid_load[t][p])
                        .fold(0.0, f64::max)
                        + fixed_load[0][k][p];
                    let mut with_peak = sum.clone();
                    with_peak.add_mul(-1.0, peak);
                    constraints.push(with_peak.leq(-base));
                }
                constraints.push(sum.leq(cap));
            }
        }
    }
}

/// Solves with the policy's backend: the value of each variable of `x`.
fn run_backend(
    problem: UnsolvedProblem,
    constraints: Vec<Constraint>,
    x: &[Vec<Option<Variable>>],
    policy: &Policy,
    time_limit_s: f64,
) -> Result<Vec<Vec<Option<f64>>>, ModelError> {
    Ok(match policy.backend {
        Backend::Microlp => {
            let mut model = problem
                .using(microlp)
                .with_time_limit(time_limit_s.max(0.001));
            for c in constraints {
                model.add_constraint(c);
            }
            read_values(&model.solve()?, x)
        }
        #[cfg(feature = "clarabel")]
        Backend::Clarabel => {
            // No time limit in good_lp's clarabel backend: bench-only comparison.
            let mut model = problem.using(good_lp::clarabel);
            for c in constraints {
                model.add_constraint(c);
            }
            read_values(&model.solve()?, x)
        }
    })
}

/// Group values back to currents per demand per period: `Fixed` ones keep `fixed`.
fn per_demand(
    periods: &[Period],
    modes: &[Vec<Mode>],
    fixed: &[Vec<f64>],
    groups: &[Vec<usize>],
    values: &[Vec<Option<f64>>],
) -> Vec<Vec<f64>> {
    let mut out = vec![vec![0.0; periods.len()]; modes.len()];
    for (d, row) in modes.iter().enumerate() {
        for (k, mode) in row.iter().enumerate() {
            if *mode == Mode::Fixed {
                out[d][k] = fixed[d][k];
            }
        }
    }
    for (g, members) in groups.iter().enumerate() {
        for (k, v) in values[g].iter().enumerate() {
            if let Some(value) = v {
                for &d in members {
                    out[d][k] = value.max(0.0);
                }
            }
        }
    }
    out
}

fn read_values<S: Solution>(solution: &S, x: &[Vec<Option<Variable>>]) -> Vec<Vec<Option<f64>>> {
    x.iter()
        .map(|row| row.iter().map(|v| v.map(|v| solution.value(v))).collect())
        .collect()
}
