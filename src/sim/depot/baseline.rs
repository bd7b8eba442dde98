//! Baselines for a depot day: what simple real-time controllers achieve when they know
//! the truth, to put the daemon's numbers in context.
//!
//! Each baseline sees, every step, the true building load and every vehicle's state and
//! maximum and phases (no meter, no OCPP, no delay), and its vehicles follow an offer at
//! once. It ignores the fault schedule: there is no meter to lose and no charger to
//! misbehave. Its limits never exceed any circuit phase's room (limit - margin -
//! building), counting a limit on the phases its vehicle draws on (what the metrics count
//! as committed while a vehicle is plugged in); they are 0 or at least the charger's
//! minimum (S4) and never above what the vehicle takes. Pure and deterministic.

use chrono::{DateTime, TimeDelta, Utc};

use super::metrics::{BayStep, Claim, DEFAULT_SETTLE, DayMetrics, bits, fair_fill, rooms};
use super::{Bay, DepotDay};

/// A real-time charging strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// Every circuit phase's room shared equally (max-min fair) among the vehicles that
    /// want more; when shares fall below the minimum the latest arrivals pause until the
    /// others reach it, and paused ones take what is left if it reaches their minimum.
    EqualShare,
    /// Vehicles in order of arrival each get the most they take while room lasts.
    FirstCome,
}

/// Plays `day` with `strategy` in steps of `step` (at least 1 ms; 1 s is a good default)
/// and scores it with `DEFAULT_SETTLE`.
pub fn simulate_baseline(
    day: &DepotDay,
    strategy: Baseline,
    step: std::time::Duration,
) -> DayMetrics {
    let step = TimeDelta::from_std(step)
        .unwrap_or(TimeDelta::seconds(1))
        .max(TimeDelta::milliseconds(1));
    let capacity = day.capacity();
    let voltage_v = day.site.voltage_v;
    let mut metrics = DayMetrics::new(day, DEFAULT_SETTLE);
    let mut vehicles: Vec<_> = day
        .bays
        .iter()
        .map(|b| {
            // The baseline's vehicles follow at once.
            let mut spec = b.vehicle.clone();
            spec.delay = std::time::Duration::ZERO;
            spec.sim(voltage_v)
        })
        .collect();
    let mut limits = vec![0.0; day.bays.len()];
    let mut decided: Option<(Vec<bool>, [u64; 3], Vec<usize>)> = None;
    let mut steps = Vec::with_capacity(day.bays.len());
    let mut t = day.start;
    while t < day.end {
        let dt = step.min(day.end - t);
        let building = day.building_at(t);
        let wanting: Vec<bool> = day
            .bays
            .iter()
            .zip(&vehicles)
            .map(|(b, v)| b.vehicle.present(t) && v.wants_more(t))
            .collect();
        // Decide again only when what the decision depends on changed.
        let phases: Vec<usize> = day.bays.iter().map(|b| b.vehicle.phases_at(t)).collect();
        let key = (wanting, building.map(f64::to_bits), phases);
        if decided.as_ref() != Some(&key) {
            let room = rooms(&capacity, building);
            limits = match strategy {
                Baseline::EqualShare => equal_share(&day.bays, &key.0, &room, t),
                Baseline::FirstCome => first_come(&day.bays, &key.0, &room, t),
            };
            decided = Some(key);
        }
        let wanting = decided
            .as_ref()
            .map(|(w, _, _)| w.as_slice())
            .unwrap_or_default();
        steps.clear();
        for (i, (bay, vehicle)) in day.bays.iter().zip(vehicles.iter_mut()).enumerate() {
            let limit = if wanting[i] { limits[i] } else { 0.0 };
            vehicle.offer(t, limit);
            // Closes the energy register up to `t` and starts the draw under this offer.
            vehicle.meter_wh(t, voltage_v);
            steps.push(BayStep {
                limit_a: limit,
                draw_a: bay.to_site(vehicle.draw_per_phase(t)),
                wants_more: wanting[i],
                aim_a: None,
            });
        }
        metrics.record_step(t, dt.as_seconds_f64(), &steps, building, &capacity);
        t += dt;
    }
    metrics
}

/// The wanting bays in order of arrival (then index).
fn by_arrival(bays: &[Bay], wanting: &[bool]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bays.len()).filter(|i| wanting[*i]).collect();
    order.sort_by_key(|i| (bays[*i].vehicle.arrival, *i));
    order
}

/// Room left per constraint after `limits`.
fn left(bays: &[Bay], limits: &[f64], room: &[f64; 6], t: DateTime<Utc>) -> [f64; 6] {
    let mut left = *room;
    for (bay, limit) in bays.iter().zip(limits) {
        for k in bits(bay.vehicle_constraint_mask_at(t)) {
            left[k] -= limit;
        }
    }
    left
}

/// The most bay `i` can get on top of `left` (its maximum, or the tightest room); 0 below
/// its minimum.
fn top_up(bay: &Bay, left: &[f64; 6], t: DateTime<Utc>) -> f64 {
    let most = bits(bay.vehicle_constraint_mask_at(t)).fold(bay.usable_a(), |m, k| m.min(left[k]));
    if most >= bay.min_a { most } else { 0.0 }
}

fn equal_share(bays: &[Bay], wanting: &[bool], room: &[f64; 6], t: DateTime<Utc>) -> Vec<f64> {
    let order = by_arrival(bays, wanting);
    let mut running: Vec<bool> = wanting.to_vec();
    let mut limits = vec![0.0; bays.len()];
    // Each round pauses one bay, so this ends within `order.len()` rounds.
    for _ in 0..=order.len() {
        let claims: Vec<Claim> = bays
            .iter()
            .zip(&running)
            .map(|(b, run)| Claim {
                cap_a: if *run { b.usable_a() } else { 0.0 },
                mask: b.vehicle_constraint_mask_at(t),
            })
            .collect();
        limits = fair_fill(&claims, room);
        // S4: below its minimum a share is useless; pause the latest arrival below it.
        let below = order
            .iter()
            .rev()
            .find(|&&i| running[i] && limits[i] < bays[i].min_a - 1e-9);
        match below {
            Some(&i) => running[i] = false,
            None => break,
        }
    }
    for (i, limit) in limits.iter_mut().enumerate() {
        if !running[i] {
            *limit = 0.0;
        }
    }
    // What the running ones cannot take goes to the paused, earliest first.
    for &i in order.iter().filter(|i| !running[**i]) {
        let free = left(bays, &limits, room, t);
        limits[i] = top_up(&bays[i], &free, t);
    }
    limits
}

fn first_come(bays: &[Bay], wanting: &[bool], room: &[f64; 6], t: DateTime<Utc>) -> Vec<f64> {
    let mut limits = vec![0.0; bays.len()];
    for i in by_arrival(bays, wanting) {
        let free = left(bays, &limits, room, t);
        limits[i] = top_up(&bays[i], &free, t);
    }
    limits
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::start;
    use super::*;
    use crate::sim::depot::DaySummary;

    fn run(seed: u64, chargers: usize, strategy: Baseline, step_s: u64) -> DaySummary {
        let day = DepotDay::generate(seed, chargers, start());
        simulate_baseline(&day, strategy, Duration::from_secs(step_s)).summary()
    }

    /// Shortfall (Wh) of the first and the last quarter of the vehicles by arrival.
    fn early_and_late(day: &DepotDay, s: &DaySummary) -> (f64, f64) {
        let mut order: Vec<usize> = (0..day.bays.len()).collect();
        order.sort_by_key(|i| day.bays[*i].vehicle.arrival);
        let q = day.bays.len() / 4;
        let short = |idx: &[usize]| -> f64 {
            idx.iter()
                .map(|i| s.vehicles[*i].reachable_shortfall_wh())
                .sum()
        };
        (short(&order[..q]), short(&order[order.len() - q..]))
    }

    #[test]
    fn baselines_never_go_over_a_limit_and_never_break_s4() {
        for seed in 1..4 {
            for strategy in [Baseline::EqualShare, Baseline::FirstCome] {
                let s = run(seed, 40, strategy, 5);
                assert_eq!(s.over_limit_s, 0.0, "seed {seed} {strategy:?}");
                assert_eq!(s.over_drawn_s, 0.0, "seed {seed} {strategy:?}");
                for p in 0..3 {
                    assert!(s.peak_grid_a[p] <= 245.0 + 1e-6, "{:?}", s.peak_grid_a);
                }
                assert_eq!(
                    s.starved_s, 0.0,
                    "seed {seed} {strategy:?}: paused with room"
                );
            }
        }
        // Every limit they decide is 0 or within [min, what the vehicle takes].
        let day = DepotDay::generate(2, 40, start());
        let wanting = vec![true; 40];
        let room = rooms(&day.capacity(), [80.0, 70.0, 90.0]);
        for limits in [
            equal_share(&day.bays, &wanting, &room, day.start),
            first_come(&day.bays, &wanting, &room, day.start),
        ] {
            for (bay, l) in day.bays.iter().zip(&limits) {
                assert!(
                    *l == 0.0 || (*l >= 6.0 - 1e-9 && *l <= bay.usable_a() + 1e-9),
                    "{l}"
                );
            }
            let free = left(&day.bays, &limits, &room, day.start);
            assert!(free.iter().all(|f| *f >= -1e-9), "{free:?}");
        }
    }

    #[test]
    fn equal_share_delivers_and_uses_the_room() {
        let day = DepotDay::generate(1, 40, start());
        let need: f64 = day.bays.iter().map(|b| b.reachable_wh(230.0)).sum();
        let s = run(1, 40, Baseline::EqualShare, 5);
        assert!(s.energy_wh > 0.6 * need, "{} of {need} Wh", s.energy_wh);
        // Fair share is the reference, so it scores close to 100 %; S4 pauses and steps
        // of the building load cost a little.
        let mean = s.utilisation_mean.expect("something was measured");
        assert!(mean > 0.97, "{mean}");
        assert!(
            s.utilisation_below_target < 0.05,
            "{}",
            s.utilisation_below_target
        );
        assert!(s.measured_s > 3600.0);
    }

    #[test]
    fn first_come_leaves_late_arrivals_short_on_a_constrained_day() {
        // 60 bays on the same 250 A connection: more need than the night holds.
        let day = DepotDay::generate(1, 60, start());
        let first = simulate_baseline(&day, Baseline::FirstCome, Duration::from_secs(5)).summary();
        let equal = simulate_baseline(&day, Baseline::EqualShare, Duration::from_secs(5)).summary();
        assert!(
            first.reachable_shortfall_wh > 0.0,
            "the day must be constrained"
        );
        let (first_early, first_late) = early_and_late(&day, &first);
        let (equal_early, equal_late) = early_and_late(&day, &equal);
        assert!(
            first_late > 2.0 * first_early,
            "{first_early} vs {first_late}"
        );
        assert!(first_late > equal_late, "{first_late} vs {equal_late}");
        assert!(first_early <= equal_early, "{first_early} vs {equal_early}");
    }

    #[test]
    fn baselines_are_deterministic_per_seed() {
        for strategy in [Baseline::EqualShare, Baseline::FirstCome] {
            let a = run(5, 20, strategy, 10);
            assert_eq!(a, run(5, 20, strategy, 10));
            assert_ne!(a, run(6, 20, strategy, 10));
        }
    }

    #[test]
    fn seed_1_report() {
        let day = DepotDay::generate(1, DepotDay::CHARGERS, start());
        for strategy in [Baseline::EqualShare, Baseline::FirstCome] {
            let m = simulate_baseline(&day, strategy, Duration::from_secs(5));
            let report = m.report();
            println!(
                "seed 1, {} bays, {strategy:?}, 5 s steps\n{report}",
                DepotDay::CHARGERS
            );
            assert_eq!(m.summary().over_limit_s, 0.0);
            // One row per vehicle, and the stretches' distribution.
            let rows = report
                .lines()
                .filter(|l| {
                    day.bays
                        .iter()
                        .any(|b| l.starts_with(&format!("  {} ", b.id)))
                })
                .count();
            assert_eq!(rows, DepotDay::CHARGERS);
            assert!(report.contains("steady stretches"), "{report}");
        }
    }
}
