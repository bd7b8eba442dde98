//! The demo site: what `chargegate demo` simulates, generated from a seed. Pure: no clock,
//! no socket, no file; every time is a parameter.
//!
//! One grid connection (160 A per phase) with a building behind it whose load follows an
//! office day (people from 07:00, a canteen at noon, a heat pump cycling day and night),
//! and twelve chargers on two sub-boards (63 A and 80 A): both OCPP versions, one- and
//! three-phase, each with a vehicle that comes every evening and leaves every morning
//! with its own maximum, arrival, departure and need. One charger rejects charging
//! profiles now and then, one drops its connection now and then. Times are depot hours
//! in UTC; currents are A per phase, energy Wh.
//!
//! The bays reuse `sim::depot`'s `Bay` and `VehicleSpec` (phases, rotation, vehicle), so
//! the demo draws and counts exactly as the depot-day tests do; `on_board` is true for
//! every bay and `DemoBay::board` says which of the two boards.

use chrono::{DateTime, NaiveTime, TimeDelta, Timelike, Utc};

use crate::ocpp::model::OcppVersion;
use crate::sim::depot::{Bay, FaultKind, VehicleSpec};
use crate::site::synthetic::Rng;

/// How many chargers the demo site has.
pub const CHARGERS: usize = 12;
/// The charger that rejects profiles now and then (`CS201-3`, OCPP 2.0.1).
pub const REJECTING_BAY: usize = 3;
/// The charger that drops its connection now and then (`CP16-8`, OCPP 1.6J).
pub const DROPPING_BAY: usize = 8;
/// The three phase rotations (charger L1 on a different site phase each).
const ROTATIONS: [&str; 3] = ["RST", "STR", "TRS"];
/// When the demo day starts: late afternoon, vehicles arriving.
const START_TIME: (u32, u32) = (16, 30);

/// A sub-board: a fuse that feeds only chargers.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub id: &'static str,
    /// A per phase.
    pub limit_a: f64,
}

/// One bay of the demo: the charger, tonight's vehicle and its sub-board.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoBay {
    pub bay: Bay,
    /// Index into `DemoSite::boards`.
    pub board: usize,
}

/// The whole simulated site.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSite {
    pub seed: u64,
    pub id: &'static str,
    /// The demo's first instant (16:30 of the given day, whole seconds).
    pub start: DateTime<Utc>,
    /// A per phase at the grid connection.
    pub grid_limit_a: f64,
    /// Kept free below every limit, A.
    pub margin_a: f64,
    /// The building's load never exceeds this per phase (the config's S5 figure), A.
    pub worst_case_load_a: f64,
    /// Line-to-neutral, V.
    pub voltage_v: f64,
    pub boards: Vec<Board>,
    /// The first evening's vehicles; `visit` gives later evenings'.
    pub bays: Vec<DemoBay>,
    /// Per-phase share of the building load (imbalance), 0.9-1.1.
    imbalance: [f64; 3],
    /// Where in its 30 min cycle the heat pump is at midnight, s.
    heat_pump_offset_s: i64,
}

impl DemoSite {
    /// The site for `seed`, its day starting at 16:30 UTC of `day`'s date.
    pub fn generate(seed: u64, day: DateTime<Utc>) -> Self {
        let start = day
            .date_naive()
            .and_time(NaiveTime::from_hms_opt(START_TIME.0, START_TIME.1, 0).unwrap_or_default())
            .and_utc();
        let mut rng = Rng::new(seed);
        let imbalance = std::array::from_fn(|_| 0.9 + 0.2 * rng.unit());
        let heat_pump_offset_s = rng.range(0, 1800) as i64;
        let boards = vec![
            Board {
                id: "board-a",
                limit_a: 63.0,
            },
            Board {
                id: "board-b",
                limit_a: 80.0,
            },
        ];
        let bays = (0..CHARGERS)
            .map(|i| DemoBay {
                bay: bay(&mut rng, i, start),
                board: usize::from(i >= CHARGERS / 2),
            })
            .collect();
        Self {
            seed,
            id: "demo-depot",
            start,
            grid_limit_a: 160.0,
            margin_a: 5.0,
            worst_case_load_a: 90.0,
            voltage_v: 230.0,
            boards,
            bays,
            imbalance,
            heat_pump_offset_s,
        }
    }

    /// The building's (non-charger) load per site phase at `at`, A, to 0.1 A: a base of
    /// 14 A, office hours (07:00-18:00, ramping over an hour at each end) up to 38 A more,
    /// the canteen 11:45-13:30 (+26 A on L1 and L2: the kitchen's three-phase ovens are
    /// on L1/L2, its hot-water boiler on L2), the heat pump 12 min of every 30 (+11 A),
    /// and a few A of noise that changes every 2 min.
    pub fn building_at(&self, at: DateTime<Utc>) -> [f64; 3] {
        let hour = f64::from(at.num_seconds_from_midnight()) / 3600.0;
        let office = 38.0 * ramp(hour, 7.0, 8.0) * (1.0 - ramp(hour, 17.0, 18.0));
        let canteen = if (11.75..13.5).contains(&hour) {
            26.0
        } else {
            0.0
        };
        let cycle_s = (i64::from(at.num_seconds_from_midnight()) + self.heat_pump_offset_s) % 1800;
        let heat_pump = if cycle_s < 12 * 60 { 11.0 } else { 0.0 };
        let slot = at.timestamp().div_euclid(120) as u64;
        std::array::from_fn(|p| {
            let mut noise = Rng::new(self.seed ^ slot.wrapping_mul(0x9E37_79B9) ^ p as u64);
            let kitchen = match p {
                0 => canteen * 0.7,
                1 => canteen,
                _ => 0.0,
            };
            let amps = (14.0 + office) * self.imbalance[p]
                + kitchen
                + heat_pump
                + (noise.unit() - 0.5) * 4.0;
            (amps.clamp(0.0, self.worst_case_load_a) * 10.0).round() / 10.0
        })
    }

    /// The vehicle of `bay` on evening `evening` (0: the first): the first evening's
    /// vehicle's habits, `evening` days later, with another need.
    pub fn visit(&self, bay: usize, evening: u32) -> VehicleSpec {
        let first = &self.bays[bay].bay.vehicle;
        if evening == 0 {
            return first.clone();
        }
        let mut rng = Rng::new(self.seed ^ (u64::from(evening) << 32) ^ bay as u64);
        let days = TimeDelta::days(i64::from(evening));
        // Later evenings start from the usual window, not from an arrival before 16:30.
        let arrival = first.arrival.max(self.start) + days;
        VehicleSpec {
            arrival: arrival + TimeDelta::seconds(rng.range(0, 1800) as i64),
            departure: first.departure + days,
            need_wh: 15_000.0 + rng.range(0, 50) as f64 * 1000.0,
            ..first.clone()
        }
    }

    /// The fault of `bay` in force at `at`: `REJECTING_BAY` rejects profiles for 4 min
    /// of every 40 (from 10 min in), `DROPPING_BAY` is gone for 3 min of every 55 (from
    /// 25 min in).
    pub fn fault_at(&self, bay: usize, at: DateTime<Utc>) -> Option<FaultKind> {
        let since = (at - self.start).num_seconds();
        let periodic = |first_s: i64, every_s: i64, for_s: i64| {
            since >= first_s && (since - first_s) % every_s < for_s
        };
        match bay {
            REJECTING_BAY if periodic(600, 2400, 240) => Some(FaultKind::Reject),
            DROPPING_BAY if periodic(1500, 3300, 180) => Some(FaultKind::Disconnect),
            _ => None,
        }
    }
}

/// 0 before `from`, 1 after `to`, linear between.
fn ramp(hour: f64, from: f64, to: f64) -> f64 {
    ((hour - from) / (to - from)).clamp(0.0, 1.0)
}

/// Bay `i`: even bays OCPP 1.6J (`CP16-<i>`), odd ones 2.0.1 (`CS201-<i>`), as in the
/// depot day; bays 2, 5 and 9 single-phase; failsafe 6 A on the 1.6 chargers, 0 A (pause)
/// on the others, so the failsafes and the worst case fit every limit (S3).
fn bay(rng: &mut Rng, i: usize, start: DateTime<Utc>) -> Bay {
    let v16 = i.is_multiple_of(2);
    let phases = if matches!(i, 2 | 5 | 9) { 1 } else { 3 };
    let max_a = [10.0, 16.0, 32.0][rng.range(0, 3) as usize];
    // Four vehicles are already plugged in when the demo starts, the rest arrive over the
    // evening, one every 10-25 min.
    let arrival = if i < 4 {
        start - TimeDelta::minutes(10 + 10 * i as i64)
    } else {
        start + TimeDelta::minutes(3 + 15 * (i as i64 - 4) + rng.range(0, 10) as i64)
    };
    let departure = start + TimeDelta::minutes(13 * 60 + rng.range(0, 150) as i64);
    let vehicle_phases = if phases == 1 || rng.range(0, 4) == 0 {
        1
    } else {
        3
    };
    Bay {
        id: if v16 {
            format!("CP16-{i}")
        } else {
            format!("CS201-{i}")
        },
        ocpp: if v16 {
            OcppVersion::V16
        } else {
            OcppVersion::V201
        },
        phases,
        rotation: ROTATIONS[i % 3],
        max_a: 32.0,
        min_a: 6.0,
        failsafe_a: if v16 { 6.0 } else { 0.0 },
        on_board: true,
        vehicle: VehicleSpec {
            arrival,
            departure,
            need_wh: 15_000.0 + rng.range(0, 50) as f64 * 1000.0,
            max_a,
            phases: vehicle_phases,
            delay: std::time::Duration::from_millis(rng.range(300, 2001)),
            three_phases_from: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> DateTime<Utc> {
        crate::ocpp::time::parse("2026-12-01T09:12:00Z").expect("a valid time")
    }

    fn at(site: &DemoSite, h: u32, m: u32) -> DateTime<Utc> {
        site.start
            .date_naive()
            .and_hms_opt(h, m, 0)
            .unwrap()
            .and_utc()
    }

    #[test]
    fn the_site_has_twelve_chargers_of_both_versions_on_two_boards() {
        let site = DemoSite::generate(1, day());
        assert_eq!(site, DemoSite::generate(1, day()));
        assert_ne!(site, DemoSite::generate(2, day()));
        assert_eq!(site.start, at(&site, 16, 30));
        assert_eq!(site.bays.len(), CHARGERS);
        let v16 = site.bays.iter().filter(|b| b.bay.ocpp == OcppVersion::V16);
        assert_eq!(v16.count(), 6);
        assert!(site.bays.iter().any(|b| b.bay.phases == 1));
        assert!(site.bays.iter().any(|b| b.bay.phases == 3));
        for board in 0..2 {
            assert_eq!(site.bays.iter().filter(|b| b.board == board).count(), 6);
        }
        // Something happens at once: vehicles plugged in, more arriving within the hour.
        let present = |t| {
            site.bays
                .iter()
                .filter(|b| b.bay.vehicle.present(t))
                .count()
        };
        assert_eq!(present(site.start), 4);
        assert!(present(site.start + TimeDelta::hours(1)) >= 7);
    }

    #[test]
    fn the_building_follows_an_office_day_under_the_worst_case() {
        let site = DemoSite::generate(3, day());
        let mean = |t| site.building_at(t).iter().sum::<f64>() / 3.0;
        let night = mean(at(&site, 3, 20));
        let office = mean(at(&site, 10, 20));
        let lunch = site.building_at(at(&site, 12, 40));
        assert!(office > night + 25.0, "office {office} night {night}");
        assert!(lunch[1] > site.building_at(at(&site, 10, 20))[1] + 15.0);
        // The heat pump cycles: within an hour of night the load takes two levels.
        let mut levels: Vec<f64> = (0..60)
            .map(|m| mean(at(&site, 2, 0) + TimeDelta::minutes(m)))
            .collect();
        levels.sort_by(f64::total_cmp);
        assert!(levels[59] - levels[0] > 7.0, "{levels:?}");
        for m in 0..24 * 60 {
            for a in site.building_at(site.start + TimeDelta::minutes(m)) {
                assert!((0.0..=site.worst_case_load_a).contains(&a));
            }
        }
    }

    #[test]
    fn failsafes_and_the_worst_case_fit_every_limit() {
        let site = DemoSite::generate(7, day());
        let mut grid = [site.worst_case_load_a; 3];
        let mut boards = [[0.0; 3]; 2];
        for b in &site.bays {
            for p in b.bay.site_phases() {
                grid[p] += b.bay.failsafe_a;
                boards[b.board][p] += b.bay.failsafe_a;
            }
        }
        for p in 0..3 {
            assert!(grid[p] <= site.grid_limit_a - site.margin_a);
            for (k, board) in boards.iter().enumerate() {
                assert!(board[p] <= site.boards[k].limit_a - site.margin_a);
            }
        }
    }

    #[test]
    fn the_faulty_chargers_fail_now_and_then() {
        let site = DemoSite::generate(1, day());
        let minute = |m| site.start + TimeDelta::minutes(m);
        assert_eq!(site.fault_at(REJECTING_BAY, minute(5)), None);
        assert_eq!(
            site.fault_at(REJECTING_BAY, minute(11)),
            Some(FaultKind::Reject)
        );
        assert_eq!(
            site.fault_at(REJECTING_BAY, minute(51)),
            Some(FaultKind::Reject)
        );
        assert_eq!(site.fault_at(REJECTING_BAY, minute(20)), None);
        assert_eq!(
            site.fault_at(DROPPING_BAY, minute(26)),
            Some(FaultKind::Disconnect)
        );
        assert_eq!(site.fault_at(DROPPING_BAY, minute(30)), None);
        assert_eq!(site.fault_at(0, minute(26)), None);
    }

    #[test]
    fn a_bay_gets_a_vehicle_every_evening() {
        let site = DemoSite::generate(5, day());
        for i in 0..CHARGERS {
            let first = site.visit(i, 0);
            let second = site.visit(i, 1);
            assert!(first.departure > site.start + TimeDelta::hours(12));
            assert!(second.arrival > first.departure);
            assert!(second.arrival < second.departure);
            assert!(second.arrival >= site.start + TimeDelta::days(1));
            assert_eq!(second.max_a, first.max_a);
        }
    }
}
