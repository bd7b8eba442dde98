//! What the demo counts every simulated second: energy delivered, the grid current, and
//! the over-limit check (DESIGN.md S1) the depot-day tests make: the limits the chargers
//! apply, counted on every site phase of the charger (and of its sub-board), plus the true
//! building load chargegate had time to see, against each limit less the margin.
//!
//! Pure: the caller hands it each second's `BayStep`s and loads.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::scenario::DemoSite;
use crate::sim::depot::BayStep;

/// Tolerance for comparing currents, A.
const EPS_A: f64 = 1e-6;
/// How many over-limit seconds are kept with their detail for the final message.
const KEPT: usize = 5;

/// The demo's running totals.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Simulated seconds checked.
    pub seconds: u64,
    /// Seconds with a circuit phase over its limit less the margin.
    pub over_limit_s: u64,
    /// The first few of them, with the phase and the amounts.
    pub over_limit: Vec<String>,
    /// Energy the vehicles took, Wh.
    pub energy_wh: f64,
    /// Vehicles that took energy since the demo began.
    pub vehicles_charged: usize,
    /// Per bay: took energy.
    charged: Vec<bool>,
    /// The building load in force over the last `reaction`, for `due_building`.
    building_log: VecDeque<(DateTime<Utc>, [f64; 3])>,
}

impl Tally {
    /// Counts the second `[now, now + dt_s)`: each bay's step (in `site.bays` order) and
    /// the true building load per site phase now. `reaction` is how long chargegate is
    /// given to follow a rise of the building load (`sim::depot::designed_reaction`).
    pub fn record(
        &mut self,
        site: &DemoSite,
        now: DateTime<Utc>,
        dt_s: f64,
        steps: &[BayStep],
        building: [f64; 3],
        reaction: Duration,
    ) {
        self.seconds += 1;
        self.charged.resize(steps.len(), false);
        for (i, step) in steps.iter().enumerate() {
            let amps: f64 = step.draw_a.iter().sum();
            self.energy_wh += amps * site.voltage_v * dt_s / 3600.0;
            if amps > 0.0 && !self.charged[i] {
                self.charged[i] = true;
                self.vehicles_charged += 1;
            }
        }
        self.building_log.push_back((now, building));
        let due = due_building(&mut self.building_log, now, reaction);
        let over = over_limit(site, steps, due);
        if !over.is_empty() {
            self.over_limit_s += 1;
            if self.over_limit.len() < KEPT {
                self.over_limit
                    .push(format!("{}: {}", now.format("%H:%M:%S"), over.join("; ")));
            }
        }
    }
}

/// Every circuit phase whose committed limits (plus the building load `building` on the
/// grid connection) exceed its limit less the margin, described.
pub fn over_limit(site: &DemoSite, steps: &[BayStep], building: [f64; 3]) -> Vec<String> {
    let mut grid = building;
    let mut boards = vec![[0.0; 3]; site.boards.len()];
    for (b, step) in site.bays.iter().zip(steps) {
        for p in b.bay.site_phases() {
            grid[p] += step.limit_a;
            boards[b.board][p] += step.limit_a;
        }
    }
    let mut out = Vec::new();
    for p in 0..3 {
        let room = site.grid_limit_a - site.margin_a;
        if grid[p] > room + EPS_A {
            out.push(format!(
                "grid L{}: {:.1} A committed (building {:.1} A) > {room:.1} A",
                p + 1,
                grid[p],
                building[p]
            ));
        }
        for (board, amps) in site.boards.iter().zip(&boards) {
            let room = board.limit_a - site.margin_a;
            if amps[p] > room + EPS_A {
                out.push(format!(
                    "{} L{}: {:.1} A committed > {room:.1} A",
                    board.id,
                    p + 1,
                    amps[p]
                ));
            }
        }
    }
    out
}

/// The building load chargegate can be held to now: per phase the lowest value in force
/// during the last `reaction` (a rise counts once chargegate had time to see it), as the
/// depot day holds it.
fn due_building(
    log: &mut VecDeque<(DateTime<Utc>, [f64; 3])>,
    now: DateTime<Utc>,
    reaction: Duration,
) -> [f64; 3] {
    let horizon = now - TimeDelta::from_std(reaction).unwrap_or_default();
    // Keep the entry in force at the horizon.
    while log.len() > 1 && log[1].0 <= horizon {
        log.pop_front();
    }
    let mut due = [f64::INFINITY; 3];
    for (_, b) in &*log {
        for p in 0..3 {
            due[p] = due[p].min(b[p]);
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::scenario::CHARGERS;

    fn site() -> DemoSite {
        DemoSite::generate(1, crate::ocpp::time::parse("2026-12-01T16:30:00Z").unwrap())
    }

    fn steps(limit_a: f64) -> Vec<BayStep> {
        vec![
            BayStep {
                limit_a,
                draw_a: [0.0; 3],
                wants_more: true,
                aim_a: None,
            };
            CHARGERS
        ]
    }

    #[test]
    fn limits_within_every_circuit_are_not_over() {
        let site = site();
        // 6 A on every charger: at most 6 x 6 A on a board phase, far under 58 A.
        assert!(over_limit(&site, &steps(6.0), [80.0; 3]).is_empty());
    }

    #[test]
    fn a_board_or_the_grid_over_its_limit_less_the_margin_is_named() {
        let site = site();
        // Six three-phase-ish chargers at 32 A on a 63 A board.
        let over = over_limit(&site, &steps(32.0), [0.0; 3]);
        assert!(over.iter().any(|o| o.starts_with("board-a")), "{over:?}");
        assert!(over.iter().any(|o| o.starts_with("board-b")), "{over:?}");
        // The building alone above the grid connection's room.
        let over = over_limit(&site, &steps(0.0), [0.0, 156.0, 0.0]);
        assert_eq!(over.len(), 1, "{over:?}");
        assert!(over[0].starts_with("grid L2"), "{over:?}");
    }

    #[test]
    fn a_rise_of_the_building_counts_after_the_reaction_time() {
        let site = site();
        let t0 = site.start;
        let reaction = Duration::from_secs(5);
        let mut tally = Tally::default();
        let quiet = steps(0.0);
        tally.record(&site, t0, 1.0, &quiet, [10.0; 3], reaction);
        // The building jumps over the limit: not held against chargegate at once...
        for s in 1..=5 {
            let at = t0 + TimeDelta::seconds(s);
            tally.record(&site, at, 1.0, &quiet, [160.0; 3], reaction);
        }
        assert_eq!(tally.over_limit_s, 0);
        // ...but once it had the reaction time.
        tally.record(
            &site,
            t0 + TimeDelta::seconds(6),
            1.0,
            &quiet,
            [160.0; 3],
            reaction,
        );
        assert_eq!(tally.over_limit_s, 1);
        assert_eq!(tally.over_limit.len(), 1);
        assert_eq!(tally.seconds, 7);
    }

    #[test]
    fn energy_and_vehicles_are_counted() {
        let site = site();
        let mut tally = Tally::default();
        let mut s = steps(16.0);
        s[0].draw_a = [16.0, 16.0, 16.0];
        for k in 0..3600 {
            let at = site.start + TimeDelta::seconds(k);
            tally.record(&site, at, 1.0, &s, [0.0; 3], Duration::from_secs(5));
        }
        // 48 A x 230 V for an hour.
        assert!(
            (tally.energy_wh - 11_040.0).abs() < 1e-6,
            "{}",
            tally.energy_wh
        );
        assert_eq!(tally.vehicles_charged, 1);
    }
}
