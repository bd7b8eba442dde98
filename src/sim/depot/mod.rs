//! A simulated depot day: the site, its chargers and vehicles, the building load, the
//! faults and the tariff of one evening-to-morning, generated from a seed.
//!
//! `DepotDay::generate` is the script that an integration test or a bench plays against
//! the real daemon (it writes the daemon's config with `config_toml`), and that the
//! baselines (`simulate_baseline`) play against an ideal model; `DayMetrics` scores a run
//! either way. Everything here is pure and deterministic: the seed is the only source of
//! randomness and every time is a parameter, so this module must never read the clock,
//! touch a socket or a file. The day is written in depot hours: `start` stands for 15:00,
//! the day ends at 09:00 the next morning (18 h later); with `start` at 15:00 UTC the
//! depot hours are UTC hours. Currents are in A per phase, energy in Wh unless a name says
//! kWh, times are whole seconds.

mod baseline;
mod drive;
mod following;
mod link;
mod metrics;
mod site_config;
mod stretches;
mod view;

use chrono::{DateTime, TimeDelta, Timelike, Utc};

pub use baseline::{Baseline, simulate_baseline};
pub use drive::{DriveError, DriveOptions, DriveOutcome, designed_reaction, drive};
pub use link::{ChargerLink, HEARTBEAT_EVERY, Report};
pub use metrics::{BayStep, DEFAULT_SETTLE, DayMetrics, DaySummary, VehicleOutcome};
pub use site_config::POLL_INTERVAL;
pub use stretches::{BayAtWorst, StretchCauses, StretchScore};
pub use view::LoadView;

use super::SimVehicle;
use super::answers::ReplyPolicy;
use crate::config::{Planner, Tariff};
use crate::ocpp::model::OcppVersion;
use crate::site::synthetic::Rng;

/// The depot hour `start` stands for.
const START_HOUR: i64 = 15;
/// The day ends at 09:00 next morning: 18 h after 15:00.
const DAY_HOURS: i64 = 18;
/// The password every simulated charger uses (HTTP Basic, security profile 1).
pub const PASSWORD: &str = "depot-sim-password";
/// The three phase rotations the bays use: every charger L1 lands on a different site
/// phase, so single-phase chargers spread over the site's phases.
const ROTATIONS: [&str; 3] = ["RST", "STR", "TRS"];
/// IEC 61851-1: no charging below 6 A (DESIGN.md S4).
const MIN_A: f64 = 6.0;
const CHARGER_MAX_A: f64 = 32.0;

/// The site's electrical limits (DESIGN.md config keys, per phase).
#[derive(Debug, Clone, PartialEq)]
pub struct DepotSite {
    pub id: String,
    /// At the grid connection, A per phase.
    pub grid_limit_a: f64,
    /// Kept free below every limit, A.
    pub margin_a: f64,
    /// Non-charger load per phase assumed while the meter is stale; the building load
    /// never exceeds it (DESIGN.md S5), A.
    pub worst_case_load_a: f64,
    pub phases: usize,
    /// Line-to-neutral, V.
    pub voltage_v: f64,
    /// The sub-board's id; it feeds only chargers (its worst-case load is 0 A).
    pub board_id: String,
    /// The sub-board's fuse, A per phase.
    pub board_limit_a: f64,
}

/// The limits a step is scored against: what `DayMetrics` and the baselines take as
/// capacity. Normally `DepotDay::capacity`; a test that lowers the site limit at run time
/// passes its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Grid connection limit per site phase, A.
    pub site_limit_a: [f64; 3],
    /// Sub-board limit per site phase, A.
    pub board_limit_a: [f64; 3],
    /// Kept free below each of them, A.
    pub margin_a: f64,
}

/// The vehicle that uses a bay tonight.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleSpec {
    /// Plugs in (whole seconds), between 16:00 and 20:00.
    pub arrival: DateTime<Utc>,
    /// Leaves, between 05:00 and 08:00 next morning; energy after this does not count.
    pub departure: DateTime<Utc>,
    /// Energy to take before it is full, Wh.
    pub need_wh: f64,
    /// Its on-board charger's maximum, A per phase (10, 16 or 32).
    pub max_a: f64,
    /// The charger phases it draws on, L1 first (1 or 3).
    pub phases: usize,
    /// How long it takes to follow a new offer.
    pub delay: std::time::Duration,
    /// A single-phase vehicle that switches its other phases on at this time, while
    /// charging: what counting a charger on its vehicle's learned phases must survive
    /// (`site::learned_phases`).
    pub three_phases_from: Option<DateTime<Utc>>,
}

impl VehicleSpec {
    /// Whether it is plugged in at `at`.
    pub fn present(&self, at: DateTime<Utc>) -> bool {
        self.arrival <= at && at < self.departure
    }

    /// The simulated vehicle (with its battery need) to put behind the charger.
    pub fn sim(&self, voltage_v: f64) -> SimVehicle {
        let v =
            SimVehicle::new(self.max_a, self.phases, self.delay).with_need(self.need_wh, voltage_v);
        match self.three_phases_from {
            Some(at) => v.with_phases_from(at, 3),
            None => v,
        }
    }

    /// The charger phases it draws on at `at` (1-3, L1 first).
    pub fn phases_at(&self, at: DateTime<Utc>) -> usize {
        match self.three_phases_from {
            Some(from) if at >= from => 3,
            _ => self.phases,
        }
    }
}

/// One charging bay: the charger and tonight's vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bay {
    /// OCPP identity: `CP16-<i>` (1.6J) for even `i`, `CS201-<i>` (2.0.1) for odd.
    pub id: String,
    pub ocpp: OcppVersion,
    /// Charger phases, 1 or 3.
    pub phases: usize,
    /// OCPP ConnectorPhaseRotation: charger L1, L2, L3 on site phases R, S, T.
    pub rotation: &'static str,
    pub max_a: f64,
    pub min_a: f64,
    /// 0 (pause) or 6 A, chosen so that the failsafes fit (DESIGN.md S3).
    pub failsafe_a: f64,
    /// On the sub-board (and so also under the grid connection).
    pub on_board: bool,
    pub vehicle: VehicleSpec,
}

impl Bay {
    /// The site phases (0 = L1/R) of charger L1..L`phases`: what a limit loads (S1).
    pub fn site_phases(&self) -> Vec<usize> {
        rotation_phases(self.rotation, self.phases)
    }

    /// The site phases the vehicle draws on: the first `vehicle.phases` of the charger's.
    pub fn vehicle_site_phases(&self) -> Vec<usize> {
        rotation_phases(self.rotation, self.phases.min(self.vehicle.phases))
    }

    /// As `vehicle_site_phases`, at `at` (after a phase switch, `three_phases_from`).
    pub fn vehicle_site_phases_at(&self, at: DateTime<Utc>) -> Vec<usize> {
        rotation_phases(self.rotation, self.phases.min(self.vehicle.phases_at(at)))
    }

    /// A per-charger-phase current (L1, L2, L3, e.g. `SimVehicle::draw_per_phase`) on the
    /// site phases.
    pub fn to_site(&self, per_charger_phase: [f64; 3]) -> [f64; 3] {
        let mut out = [0.0; 3];
        for (charger_phase, site_phase) in phase_iter(self.rotation, self.phases).enumerate() {
            out[site_phase] += per_charger_phase[charger_phase];
        }
        out
    }

    /// The most the vehicle can use per phase: its own maximum within the charger's, A.
    pub fn usable_a(&self) -> f64 {
        self.vehicle.max_a.min(self.max_a)
    }

    /// The most the vehicle could take by departure with the site to itself, Wh: its need,
    /// or less when even its maximum over its whole stay does not reach it.
    pub fn reachable_wh(&self, voltage_v: f64) -> f64 {
        let stay_h = (self.vehicle.departure - self.vehicle.arrival).as_seconds_f64() / 3600.0;
        let phases = self.phases.min(self.vehicle.phases) as f64;
        let most = self.usable_a() * phases * voltage_v * stay_h.max(0.0);
        self.vehicle.need_wh.min(most)
    }

    /// Constraint bits of what the charger's limit loads: bit `p` for site phase `p`,
    /// bit `3 + p` for the sub-board's phase `p`.
    fn constraint_mask(&self) -> u8 {
        self.mask_of(self.phases)
    }

    /// Constraint bits of what the limit loads with tonight's vehicle behind it: only the
    /// phases the vehicle draws on (a single-phase vehicle on a three-phase charger takes
    /// current on the charger's L1 alone).
    fn vehicle_constraint_mask(&self) -> u8 {
        self.mask_of(self.phases.min(self.vehicle.phases))
    }

    /// As `vehicle_constraint_mask`, at `at` (after a phase switch, `three_phases_from`).
    fn vehicle_constraint_mask_at(&self, at: DateTime<Utc>) -> u8 {
        self.mask_of(self.phases.min(self.vehicle.phases_at(at)))
    }

    fn mask_of(&self, phases: usize) -> u8 {
        let mut mask = 0u8;
        for p in phase_iter(self.rotation, phases) {
            mask |= 1 << p;
            if self.on_board {
                mask |= 1 << (3 + p);
            }
        }
        mask
    }
}

fn rotation_phases(rotation: &str, phases: usize) -> Vec<usize> {
    phase_iter(rotation, phases).collect()
}

/// The site phases of the first `phases` letters of `rotation` (R, S, T = 0, 1, 2),
/// without allocating: `to_site` runs for every bay at every step.
fn phase_iter(rotation: &str, phases: usize) -> impl Iterator<Item = usize> + '_ {
    rotation.bytes().take(phases).filter_map(|l| match l {
        b'R' => Some(0),
        b'S' => Some(1),
        b'T' => Some(2),
        _ => None,
    })
}

/// A stretch of building load: a machine, a kitchen, a heat pump switching on.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// A added per phase.
    pub amps: f64,
    /// One site phase, or `None` for all three.
    pub phase: Option<usize>,
}

/// The non-charger load of the site, per site phase: a piecewise-constant evening/night
/// curve (the building switches in steps of minutes, so a controller can settle) plus
/// spikes, never above the worst case.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildingLoad {
    /// From each instant on (sorted, the first at `start`), the base load per phase, A.
    pub steps: Vec<(DateTime<Utc>, [f64; 3])>,
    pub spikes: Vec<Spike>,
    /// The cap (the site's worst-case load), A.
    pub worst_case_a: f64,
}

impl BuildingLoad {
    /// The load per site phase at `at`, A (the first step's before it begins).
    pub fn at(&self, at: DateTime<Utc>) -> [f64; 3] {
        let i = self.steps.partition_point(|(t, _)| *t <= at);
        let mut load = self.steps[i.saturating_sub(1)].1;
        for s in self.spikes.iter().filter(|s| s.from <= at && at < s.to) {
            for (p, amps) in load.iter_mut().enumerate() {
                if s.phase.is_none_or(|only| only == p) {
                    *amps += s.amps;
                }
            }
        }
        load.map(|a| round_01(a.clamp(0.0, self.worst_case_a)))
    }

    /// Every instant the load may change, sorted, without duplicates.
    pub fn changes(&self) -> Vec<DateTime<Utc>> {
        let mut out: Vec<DateTime<Utc>> = self.steps.iter().map(|(t, _)| *t).collect();
        for s in &self.spikes {
            out.push(s.from);
            out.push(s.to);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// What a faulty charger does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answers SetChargingProfile (and every CALL with a status) with Rejected.
    Reject,
    /// Answers no CALL: the daemon's call timeout (`call-timeout-s`) fires.
    Ignore,
    /// Drops its WebSocket and reconnects when the fault ends.
    Disconnect,
}

impl FaultKind {
    /// The simulated charger's reply policy during the fault; `None`: disconnect instead.
    pub fn reply_policy(self) -> Option<ReplyPolicy> {
        match self {
            FaultKind::Reject => Some(ReplyPolicy::Reject),
            FaultKind::Ignore => Some(ReplyPolicy::Ignore),
            FaultKind::Disconnect => None,
        }
    }
}

/// One charger fault, from `at` until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerFault {
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Index into `DepotDay::bays`.
    pub bay: usize,
    pub kind: FaultKind,
}

/// What goes wrong tonight.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSchedule {
    /// The grid meter answers nothing in `[from, to)` (3 min around 22:00): longer than
    /// any `stale-after-ms`, so the daemon must fall back to the worst case (S5).
    pub meter_silent: (DateTime<Utc>, DateTime<Utc>),
    /// Sorted by `at`; at most one per bay.
    pub charger_faults: Vec<ChargerFault>,
    /// The controller is stopped and started again at 01:30 (chargers ride it out on their
    /// leases and failsafes, S3).
    pub restart_at: DateTime<Utc>,
}

impl FaultSchedule {
    /// Whether the meter is silent at `at`.
    pub fn meter_silent_at(&self, at: DateTime<Utc>) -> bool {
        self.meter_silent.0 <= at && at < self.meter_silent.1
    }

    /// The fault of `bay` in force at `at`, if any.
    pub fn fault_at(&self, bay: usize, at: DateTime<Utc>) -> Option<FaultKind> {
        self.charger_faults
            .iter()
            .find(|f| f.bay == bay && f.at <= at && at < f.until)
            .map(|f| f.kind)
    }
}

/// One simulated depot day.
#[derive(Debug, Clone, PartialEq)]
pub struct DepotDay {
    pub seed: u64,
    /// 15:00 in depot hours.
    pub start: DateTime<Utc>,
    /// 09:00 next morning.
    pub end: DateTime<Utc>,
    pub site: DepotSite,
    pub bays: Vec<Bay>,
    pub building: BuildingLoad,
    pub faults: FaultSchedule,
    /// The time-of-use tariff as the daemon's `[planner]` reads it: expensive 16:00-21:00,
    /// cheap 23:00-06:00 (depot hours, written as UTC times of day).
    pub tariff: Planner,
}

impl DepotDay {
    /// The default number of bays.
    pub const CHARGERS: usize = 40;

    /// The day for `seed` with `chargers` bays; `start` stands for 15:00 and is cut to
    /// whole seconds (the tariff windows use its minute of the day).
    pub fn generate(seed: u64, chargers: usize, start: DateTime<Utc>) -> DepotDay {
        let start = start
            .with_nanosecond(0)
            .expect("0 ns is always a valid nanosecond");
        let mut rng = Rng::new(seed);
        let site = DepotSite {
            id: "depot-sim".into(),
            grid_limit_a: 250.0,
            margin_a: 5.0,
            worst_case_load_a: 90.0,
            phases: 3,
            voltage_v: 230.0,
            board_id: "board-a".into(),
            board_limit_a: 100.0,
        };
        let mut bays = bays(&mut rng, chargers, start, &site);
        switch_phases_on(seed, &mut bays, start);
        let building = building(&mut rng, start, &site);
        let faults = faults(&mut rng, chargers, start);
        DepotDay {
            seed,
            start,
            end: start + TimeDelta::hours(DAY_HOURS),
            tariff: tariff(start),
            site,
            bays,
            building,
            faults,
        }
    }

    /// The building (non-charger) load per site phase at `at`, A.
    pub fn building_at(&self, at: DateTime<Utc>) -> [f64; 3] {
        self.building.at(at)
    }

    /// The energy price at `at`, per kWh: exactly what the daemon's planner uses
    /// (`config::price_at` on the same windows).
    pub fn price_at(&self, at: DateTime<Utc>) -> f64 {
        crate::config::price_at(&self.tariff, minute_of_day(at))
    }

    /// The configured limits.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            site_limit_a: [self.site.grid_limit_a; 3],
            board_limit_a: [self.site.board_limit_a; 3],
            margin_a: self.site.margin_a,
        }
    }

    /// The instant of depot hour `hour`, from 15.0 (`start`) to 33.0 (09:00 next
    /// morning, `end`): e.g. `at_hour(25.5)` is 01:30.
    pub fn at_hour(&self, hour: f64) -> DateTime<Utc> {
        depot_time(self.start, hour)
    }
}

/// The instant of depot hour `hour` (>= 15) for a day starting at `start`, to the second.
fn depot_time(start: DateTime<Utc>, hour: f64) -> DateTime<Utc> {
    let seconds = ((hour - START_HOUR as f64) * 3600.0).round() as i64;
    start + TimeDelta::seconds(seconds)
}

fn minute_of_day(at: DateTime<Utc>) -> u32 {
    at.hour() * 60 + at.minute()
}

/// Rounds to 0.1 A, a meter's resolution, so equal loads compare equal.
fn round_01(a: f64) -> f64 {
    (a * 10.0).round() / 10.0
}

fn seconds_between(rng: &mut Rng, start: DateTime<Utc>, from_h: f64, to_h: f64) -> DateTime<Utc> {
    let lo = depot_time(start, from_h);
    let hi = depot_time(start, to_h);
    let span = (hi - lo).num_seconds().max(0) as u64;
    lo + TimeDelta::seconds(rng.range(0, span) as i64)
}

fn bays(rng: &mut Rng, n: usize, start: DateTime<Utc>, site: &DepotSite) -> Vec<Bay> {
    // A quarter of the bays, drawn at random, hang on the sub-board.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.range(0, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut on_board = vec![false; n];
    for &i in order.iter().take(n / 4) {
        on_board[i] = true;
    }
    // S3: the failsafes plus the worst-case load must fit each limit - margin, per phase.
    // The sub-board feeds only chargers (worst case 0 A).
    let mut site_left = [site.grid_limit_a - site.margin_a - site.worst_case_load_a; 3];
    let mut board_left = [site.board_limit_a - site.margin_a; 3];
    (0..n)
        .map(|i| {
            let phases = if rng.range(0, 4) == 0 { 1 } else { 3 };
            let rotation = ROTATIONS[rng.range(0, 3) as usize];
            let wants_failsafe = rng.range(0, 3) != 0;
            let phase_list = rotation_phases(rotation, phases);
            let fits = phase_list
                .iter()
                .all(|&p| site_left[p] >= MIN_A && (!on_board[i] || board_left[p] >= MIN_A));
            let failsafe_a = if wants_failsafe && fits {
                for &p in &phase_list {
                    site_left[p] -= MIN_A;
                    if on_board[i] {
                        board_left[p] -= MIN_A;
                    }
                }
                MIN_A
            } else {
                0.0
            };
            let arrival = seconds_between(rng, start, 16.0, 20.0);
            let departure = seconds_between(rng, start, 29.0, 32.0);
            // 10-80 kWh, to 100 Wh.
            let need_wh = rng.range(100, 801) as f64 * 100.0;
            let max_a = [10.0, 16.0, 32.0][rng.range(0, 3) as usize];
            let vehicle_phases = if phases == 1 || rng.range(0, 4) == 0 {
                1
            } else {
                3
            };
            let delay = std::time::Duration::from_millis(rng.range(200, 2001));
            let v16 = i % 2 == 0;
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
                rotation,
                max_a: CHARGER_MAX_A,
                min_a: MIN_A,
                failsafe_a,
                on_board: on_board[i],
                vehicle: VehicleSpec {
                    arrival,
                    departure,
                    need_wh,
                    max_a,
                    phases: vehicle_phases,
                    delay,
                    three_phases_from: None,
                },
            }
        })
        .collect()
}

/// Two single-phase vehicles on three-phase chargers under the grid meter alone (where
/// chargegate counts a charger on its vehicle's learned phases) switch their other two
/// phases on in the night: the two with the largest need, so that they still charge. Drawn
/// from their own generator, so the rest of the day is the same as without them.
fn switch_phases_on(seed: u64, bays: &mut [Bay], start: DateTime<Utc>) {
    let mut rng = Rng::new(seed ^ 0x5157_1c4e_d0f1_a5e5);
    let mut candidates: Vec<usize> = (0..bays.len())
        .filter(|&i| bays[i].phases == 3 && bays[i].vehicle.phases == 1 && !bays[i].on_board)
        .collect();
    candidates.sort_by(|&a, &b| bays[b].vehicle.need_wh.total_cmp(&bays[a].vehicle.need_wh));
    for (&i, hour) in candidates.iter().zip([22.5, 0.5 + 24.0]) {
        let at = seconds_between(&mut rng, start, hour - 0.25, hour + 0.25);
        let v = &mut bays[i].vehicle;
        if v.arrival < at && at < v.departure {
            v.three_phases_from = Some(at);
        }
    }
}

/// The base building load by depot hour, A per phase before imbalance: busy in the
/// evening (60-80 A), quiet at night (20-30 A), rising again from 06:00.
const BUILDING_CURVE: [(f64, f64); 10] = [
    (15.0, 66.0),
    (17.0, 76.0),
    (19.0, 72.0),
    (21.0, 60.0),
    (22.5, 34.0),
    (24.0, 27.0),
    (29.0, 22.0),
    (30.0, 27.0),
    (31.5, 52.0),
    (33.0, 64.0),
];

fn curve(hour: f64) -> f64 {
    let i = BUILDING_CURVE.partition_point(|(h, _)| *h <= hour);
    match i {
        0 => BUILDING_CURVE[0].1,
        i if i >= BUILDING_CURVE.len() => BUILDING_CURVE[BUILDING_CURVE.len() - 1].1,
        i => {
            let (h0, a0) = BUILDING_CURVE[i - 1];
            let (h1, a1) = BUILDING_CURVE[i];
            a0 + (a1 - a0) * (hour - h0) / (h1 - h0)
        }
    }
}

fn building(rng: &mut Rng, start: DateTime<Utc>, site: &DepotSite) -> BuildingLoad {
    // Per-phase imbalance: each phase carries 88-112 % of the curve.
    let imbalance: [f64; 3] = std::array::from_fn(|_| 0.88 + 0.24 * rng.unit());
    let end = start + TimeDelta::hours(DAY_HOURS);
    let mut steps = Vec::new();
    let mut t = start;
    while t < end {
        let hour = START_HOUR as f64 + (t - start).as_seconds_f64() / 3600.0;
        let base = curve(hour);
        // Steps of 2-8 min with a few A of noise per phase.
        let load = std::array::from_fn(|p| {
            let noise = (rng.unit() - 0.5) * 6.0;
            round_01((base * imbalance[p] + noise).clamp(0.0, site.worst_case_load_a))
        });
        steps.push((t, load));
        t += TimeDelta::seconds(rng.range(120, 481) as i64);
    }
    let spikes = (0..10)
        .map(|_| {
            let from = seconds_between(rng, start, 15.0, 32.8);
            let to = from + TimeDelta::seconds(rng.range(60, 601) as i64);
            let amps = rng.range(30, 71) as f64;
            let phase = if rng.range(0, 2) == 0 {
                None
            } else {
                Some(rng.range(0, 3) as usize)
            };
            Spike {
                from,
                to,
                amps,
                phase,
            }
        })
        .collect();
    BuildingLoad {
        steps,
        spikes,
        worst_case_a: site.worst_case_load_a,
    }
}

fn faults(rng: &mut Rng, n: usize, start: DateTime<Utc>) -> FaultSchedule {
    // 3 min, starting 22:00 - 90 s, give or take 30 s.
    let silent_from = depot_time(start, 22.0) - TimeDelta::seconds(90)
        + TimeDelta::seconds(rng.range(0, 61) as i64 - 30);
    let silent = (silent_from, silent_from + TimeDelta::minutes(3));
    // Six faults on six different bays between 17:00 and 06:00, 2-15 min each.
    let mut bays: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.range(0, i as u64 + 1) as usize;
        bays.swap(i, j);
    }
    let kinds = [FaultKind::Reject, FaultKind::Ignore, FaultKind::Disconnect];
    let mut charger_faults: Vec<ChargerFault> = bays
        .into_iter()
        .take(6)
        .enumerate()
        .map(|(k, bay)| {
            let at = seconds_between(rng, start, 17.0, 30.0);
            ChargerFault {
                at,
                until: at + TimeDelta::seconds(rng.range(120, 901) as i64),
                bay,
                kind: kinds[k % kinds.len()],
            }
        })
        .collect();
    charger_faults.sort_by_key(|f| (f.at, f.bay));
    FaultSchedule {
        meter_silent: silent,
        charger_faults,
        restart_at: depot_time(start, 25.5),
    }
}

/// Expensive 16:00-21:00 (0.40/kWh), cheap 23:00-06:00 (0.15/kWh), 0.28 otherwise, with
/// the windows at `start`'s times of day.
fn tariff(start: DateTime<Utc>) -> Planner {
    let window = |from_h: f64, to_h: f64, price: f64| Tariff {
        from_min: minute_of_day(depot_time(start, from_h)),
        to_min: minute_of_day(depot_time(start, to_h)),
        price_per_kwh: price,
    };
    Planner {
        default_price_per_kwh: 0.28,
        tariffs: vec![window(16.0, 21.0, 0.40), window(23.0, 30.0, 0.15)],
        ..Planner::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T15:00:00Z")
            .expect("a valid RFC 3339 time")
            .with_timezone(&Utc)
    }

    fn hm(day: &DepotDay, h: u32, m: u32) -> DateTime<Utc> {
        day.at_hour(if h < 15 { 24.0 } else { 0.0 } + f64::from(h) + f64::from(m) / 60.0)
    }

    #[test]
    fn the_same_seed_gives_the_same_day_and_another_seed_another() {
        let a = DepotDay::generate(7, 40, start());
        assert_eq!(a, DepotDay::generate(7, 40, start()));
        assert_ne!(a, DepotDay::generate(8, 40, start()));
        assert_eq!(a.end - a.start, TimeDelta::hours(18));
    }

    #[test]
    fn bays_follow_the_site_plan() {
        for seed in 0..20 {
            let day = DepotDay::generate(seed, 40, start());
            assert_eq!(day.bays.len(), 40);
            assert_eq!(day.bays.iter().filter(|b| b.on_board).count(), 10);
            let single = day.bays.iter().filter(|b| b.phases == 1).count();
            assert!(
                (3..=20).contains(&single),
                "seed {seed}: {single} single-phase"
            );
            for (i, b) in day.bays.iter().enumerate() {
                let (prefix, version) = if i % 2 == 0 {
                    ("CP16", OcppVersion::V16)
                } else {
                    ("CS201", OcppVersion::V201)
                };
                assert_eq!(b.id, format!("{prefix}-{i}"));
                assert_eq!(b.ocpp, version);
                assert!(ROTATIONS.contains(&b.rotation));
                assert_eq!(b.site_phases().len(), b.phases);
                assert!(b.failsafe_a == 0.0 || b.failsafe_a == 6.0);
                let v = &b.vehicle;
                assert!(hm(&day, 16, 0) <= v.arrival && v.arrival < hm(&day, 20, 0));
                assert!(hm(&day, 5, 0) <= v.departure && v.departure < hm(&day, 8, 0));
                assert!((10_000.0..=80_000.0).contains(&v.need_wh));
                assert!([10.0, 16.0, 32.0].contains(&v.max_a));
                if b.phases == 1 {
                    assert_eq!(v.phases, 1);
                }
                assert!((200..=2000).contains(&v.delay.as_millis()), "{:?}", v.delay);
            }
        }
    }

    #[test]
    fn failsafes_and_the_worst_case_fit_every_limit() {
        for seed in 0..20 {
            let day = DepotDay::generate(seed, 40, start());
            let mut site = [day.site.worst_case_load_a; 3];
            let mut board = [0.0; 3];
            for b in &day.bays {
                for p in b.site_phases() {
                    site[p] += b.failsafe_a;
                    if b.on_board {
                        board[p] += b.failsafe_a;
                    }
                }
            }
            for p in 0..3 {
                assert!(
                    site[p] <= day.site.grid_limit_a - day.site.margin_a,
                    "{site:?}"
                );
                assert!(
                    board[p] <= day.site.board_limit_a - day.site.margin_a,
                    "{board:?}"
                );
            }
            // Not trivially all zero: most bays keep a 6 A failsafe.
            let with = day.bays.iter().filter(|b| b.failsafe_a > 0.0).count();
            assert!(with >= 15, "seed {seed}: {with}");
        }
    }

    #[test]
    fn site_phases_follow_the_rotation() {
        let mut day = DepotDay::generate(1, 1, start());
        let bay = &mut day.bays[0];
        bay.phases = 3;
        bay.rotation = "STR";
        bay.vehicle.phases = 1;
        assert_eq!(bay.site_phases(), vec![1, 2, 0]);
        assert_eq!(bay.vehicle_site_phases(), vec![1]);
        assert_eq!(bay.to_site([10.0, 0.0, 0.0]), [0.0, 10.0, 0.0]);
        assert_eq!(bay.to_site([1.0, 2.0, 3.0]), [3.0, 1.0, 2.0]);
        bay.phases = 1;
        bay.rotation = "TRS";
        bay.vehicle.phases = 3;
        assert_eq!(bay.site_phases(), vec![2]);
        assert_eq!(bay.vehicle_site_phases(), vec![2]);
        assert_eq!(bay.to_site([10.0, 10.0, 10.0]), [0.0, 0.0, 10.0]);
    }

    #[test]
    fn two_single_phase_vehicles_off_the_board_switch_phases_on_in_the_night() {
        for seed in 0..20 {
            let day = DepotDay::generate(seed, DepotDay::CHARGERS, start());
            let switching: Vec<&Bay> = day
                .bays
                .iter()
                .filter(|b| b.vehicle.three_phases_from.is_some())
                .collect();
            assert_eq!(switching.len(), 2, "seed {seed}");
            for b in switching {
                let at = b.vehicle.three_phases_from.unwrap();
                assert!(b.phases == 3 && b.vehicle.phases == 1 && !b.on_board);
                assert!(b.vehicle.arrival < at && at < b.vehicle.departure);
                assert!(day.at_hour(22.25) <= at && at <= day.at_hour(24.75));
                assert_eq!(b.vehicle_site_phases_at(at).len(), 3);
                let before = at - TimeDelta::seconds(1);
                assert_eq!(b.vehicle_site_phases_at(before), b.vehicle_site_phases());
                assert_eq!(b.vehicle.sim(230.0).phases_at(at), 3);
            }
        }
    }

    #[test]
    fn the_building_load_is_an_evening_and_night_curve_under_the_worst_case() {
        for seed in 0..10 {
            let day = DepotDay::generate(seed, 40, start());
            let mut t = day.start;
            let (mut evening, mut night, mut imbalance, mut spiky) = (0.0f64, 0.0f64, 0.0f64, 0);
            let mut counts = (0, 0, 0);
            let mut morning = 0.0f64;
            while t < day.end {
                let load = day.building_at(t);
                for a in load {
                    assert!((0.0..=90.0).contains(&a), "seed {seed} at {t}: {load:?}");
                }
                let mean = load.iter().sum::<f64>() / 3.0;
                let spread = load.iter().fold(0.0f64, |m, a| m.max(*a))
                    - load.iter().fold(f64::MAX, |m, a| m.min(*a));
                imbalance = imbalance.max(spread);
                if t >= hm(&day, 17, 0) && t < hm(&day, 20, 0) {
                    evening += mean;
                    counts.0 += 1;
                }
                if t >= hm(&day, 0, 0) && t < hm(&day, 5, 0) {
                    night += mean;
                    counts.1 += 1;
                }
                if t >= hm(&day, 8, 0) {
                    morning += mean;
                    counts.2 += 1;
                }
                t += TimeDelta::seconds(10);
            }
            let (evening, night) = (evening / counts.0 as f64, night / counts.1 as f64);
            let morning = morning / counts.2 as f64;
            assert!(morning > night + 15.0, "seed {seed}: {morning} after 08:00");
            assert!(
                (60.0..=85.0).contains(&evening),
                "seed {seed}: evening {evening}"
            );
            assert!((18.0..=35.0).contains(&night), "seed {seed}: night {night}");
            assert!(imbalance > 3.0, "seed {seed}: phases must differ");
            // Every spike shows: the load during it is above the load just before, or
            // already at the worst case.
            for s in &day.building.spikes {
                let during = day.building_at(s.from);
                let before = day.building_at(s.from - TimeDelta::seconds(1));
                let p = s.phase.unwrap_or(0);
                if during[p] > before[p] || during[p] >= 90.0 {
                    spiky += 1;
                }
            }
            assert!(spiky >= 8, "seed {seed}: {spiky} visible spikes");
            // Piecewise constant: the load only changes at the listed instants.
            let changes = day.building.changes();
            for w in changes.windows(2) {
                let mid = w[0] + (w[1] - w[0]) / 2;
                assert_eq!(day.building_at(w[0]), day.building_at(mid));
            }
        }
    }

    #[test]
    fn the_fault_schedule_is_where_the_day_needs_it() {
        for seed in 0..20 {
            let day = DepotDay::generate(seed, 40, start());
            let f = &day.faults;
            assert_eq!(f.meter_silent.1 - f.meter_silent.0, TimeDelta::minutes(3));
            assert!(f.meter_silent.0 >= hm(&day, 21, 58) && f.meter_silent.0 <= hm(&day, 21, 59));
            assert!(f.meter_silent_at(f.meter_silent.0));
            assert!(!f.meter_silent_at(f.meter_silent.1));
            assert_eq!(f.restart_at, hm(&day, 1, 30));
            assert_eq!(f.charger_faults.len(), 6);
            let mut bays: Vec<usize> = f.charger_faults.iter().map(|c| c.bay).collect();
            bays.sort();
            bays.dedup();
            assert_eq!(bays.len(), 6, "one fault per bay");
            for kind in [FaultKind::Reject, FaultKind::Ignore, FaultKind::Disconnect] {
                assert_eq!(
                    f.charger_faults.iter().filter(|c| c.kind == kind).count(),
                    2
                );
            }
            for c in &f.charger_faults {
                assert!(c.at >= hm(&day, 17, 0) && c.until <= hm(&day, 6, 16));
                assert!(c.until > c.at);
                assert_eq!(f.fault_at(c.bay, c.at), Some(c.kind));
                assert_eq!(f.fault_at(c.bay, c.until), None);
            }
        }
        assert_eq!(FaultKind::Ignore.reply_policy(), Some(ReplyPolicy::Ignore));
        assert_eq!(FaultKind::Disconnect.reply_policy(), None);
        // Fewer bays than faults: every bay at most once.
        assert_eq!(
            DepotDay::generate(1, 2, start())
                .faults
                .charger_faults
                .len(),
            2
        );
    }

    #[test]
    fn the_tariff_is_time_of_use() {
        let day = DepotDay::generate(1, 4, start());
        assert_eq!(day.price_at(hm(&day, 15, 30)), 0.28);
        assert_eq!(day.price_at(hm(&day, 16, 0)), 0.40);
        assert_eq!(day.price_at(hm(&day, 20, 59)), 0.40);
        assert_eq!(day.price_at(hm(&day, 21, 0)), 0.28);
        assert_eq!(day.price_at(hm(&day, 23, 0)), 0.15);
        assert_eq!(day.price_at(hm(&day, 2, 0)), 0.15);
        assert_eq!(day.price_at(hm(&day, 6, 0)), 0.28);
        // Another start shifts the windows with it: they are depot hours.
        let shifted = DepotDay::generate(1, 4, start() + TimeDelta::hours(2));
        assert_eq!(shifted.price_at(start() + TimeDelta::hours(3)), 0.40);
        assert_eq!(shifted.price_at(start() + TimeDelta::hours(1)), 0.28);
    }

    #[test]
    fn a_vehicle_spec_becomes_a_sim_vehicle_with_its_need() {
        let day = DepotDay::generate(5, 8, start());
        let spec = &day.bays[0].vehicle;
        let v = spec.sim(230.0);
        assert_eq!(v.need_wh(), Some(spec.need_wh));
        assert_eq!(v.phases(), spec.phases);
        assert!(spec.present(spec.arrival));
        assert!(!spec.present(spec.departure));
        assert!(!spec.present(spec.arrival - TimeDelta::seconds(1)));
    }
}
