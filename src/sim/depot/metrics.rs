//! Scoring a depot day: safety, service, cost and how much of the room a controller uses,
//! accumulated one time step at a time from what the chargers applied and the vehicles
//! drew.
//!
//! The same `DayMetrics` scores the baselines and a run of the real daemon, so they
//! compare. It takes what a step looked like and never asks how it came about: it must
//! not read the clock or know about OCPP. A limit is "committed" on the site phases (and
//! the sub-board's, for a bay on it) where it can draw current: the phases of the vehicle
//! plugged in (a single-phase vehicle on a three-phase charger draws on the charger's L1
//! alone), every phase of the charger while no vehicle is there. The simulated vehicles
//! never change their phases, so that is the physical load of the applied limits.
//!
//! Utilisation compares each step with a reference allocation: the max-min fair share
//! (progressive filling) of the room on every circuit phase among the chargers whose
//! vehicle wants more, each capped at what its vehicle can take and loading only the
//! phases its vehicle draws on (issue 9: "capped by what the vehicles can take"). It is
//! scored per steady stretch (`stretches`). That reference is
//! Pareto-efficient (no charger can get more without another getting less), so a
//! controller that gives everyone their fair maximum scores 100 %, and one that leaves
//! room unused while vehicles wait scores less. It is measured per site phase on what the
//! vehicles can use (a limit above the vehicle's maximum counts as the maximum, a phase
//! the vehicle does not draw on counts nothing), and a step's score is its worst phase.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};

use super::following::{self, Following};
use super::stretches::{self, BayAtWorst, StretchCauses, StretchScore, StretchTally};
use super::{Capacity, DepotDay};
use crate::config::Planner;

/// The default `settle`: chargegate's default `min-interval-s` (30 s, no increase sooner)
/// plus 5 s for the meter poll, a control pass and the charger's answer.
pub const DEFAULT_SETTLE: std::time::Duration = std::time::Duration::from_secs(35);
/// A step is "under-using" the room below this share of the reference.
const TARGET: f64 = 0.95;
/// Tolerance for comparing currents, A.
const EPS_A: f64 = 1e-6;
/// A phase whose reference share is below a charger's minimum (6 A, IEC 61851-1) is not
/// scored: no controller can use it without breaking S4.
const MIN_SCORED_A: f64 = 6.0;

/// What one bay looked like during a step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BayStep {
    /// The limit the charger applies (what it offers the vehicle), A per charger phase;
    /// 0 when paused.
    pub limit_a: f64,
    /// What the vehicle draws, per site phase, A (`Bay::to_site` of its per-phase draw).
    pub draw_a: [f64; 3],
    /// A vehicle is plugged in and its battery is not full.
    pub wants_more: bool,
    /// What the controller aims this charger at (its plan and fill, before the guard's
    /// cuts), A per phase; `None` without a plan, and for the baselines (`following`).
    pub aim_a: Option<f64>,
}

/// One bay's claim on the circuit phases: up to `cap_a`, loading every constraint whose
/// bit is set in `mask` (bit `p`: site phase `p`; bit `3 + p`: the sub-board's phase `p`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim {
    pub cap_a: f64,
    pub mask: u8,
}

pub(super) fn bits(mask: u8) -> impl Iterator<Item = usize> {
    (0..6).filter(move |k| mask & (1 << k) != 0)
}

/// The max-min fair allocation of `rooms` (A per constraint) among `claims`: everyone's
/// share rises together; a claim stops at its cap or when a constraint it loads is full.
pub(super) fn fair_fill(claims: &[Claim], rooms: &[f64; 6]) -> Vec<f64> {
    const EPS: f64 = 1e-9;
    let mut alloc = vec![0.0; claims.len()];
    let mut left = rooms.map(|r| r.max(0.0));
    let mut active: Vec<bool> = claims
        .iter()
        .map(|c| c.cap_a > EPS && c.mask != 0 && bits(c.mask).all(|k| left[k] > EPS))
        .collect();
    // Every round stops at least one claim (the one whose cap or constraint set `delta`),
    // so this ends within `claims.len()` rounds.
    for _ in 0..=claims.len() {
        let mut count = [0usize; 6];
        for (c, _) in claims.iter().zip(&active).filter(|(_, a)| **a) {
            for k in bits(c.mask) {
                count[k] += 1;
            }
        }
        let mut delta = f64::INFINITY;
        for k in 0..6 {
            if count[k] > 0 {
                delta = delta.min(left[k] / count[k] as f64);
            }
        }
        for (i, c) in claims.iter().enumerate().filter(|(i, _)| active[*i]) {
            delta = delta.min(c.cap_a - alloc[i]);
        }
        if !delta.is_finite() {
            break;
        }
        for (i, c) in claims.iter().enumerate().filter(|(i, _)| active[*i]) {
            alloc[i] += delta;
            for k in bits(c.mask) {
                left[k] -= delta;
            }
        }
        for (i, c) in claims.iter().enumerate() {
            if active[i] && (c.cap_a - alloc[i] <= EPS || bits(c.mask).any(|k| left[k] <= EPS)) {
                active[i] = false;
            }
        }
    }
    alloc
}

/// The room per constraint before any charger: limit - margin, less the building load on
/// the site phases (the sub-board feeds only chargers), A.
pub(super) fn rooms(capacity: &Capacity, building: [f64; 3]) -> [f64; 6] {
    std::array::from_fn(|k| {
        if k < 3 {
            capacity.site_limit_a[k] - capacity.margin_a - building[k]
        } else {
            capacity.board_limit_a[k - 3] - capacity.margin_a
        }
    })
}

/// What the metrics keep of a bay.
#[derive(Debug, Clone)]
pub(super) struct BayInfo {
    pub(super) id: String,
    /// Constraints its limit loads (see `Claim`).
    pub(super) mask: u8,
    /// Constraints its limit loads with tonight's vehicle behind it: the vehicle's phases.
    claim_mask: u8,
    /// Site phases its vehicle draws on, as bits 0..3.
    pub(super) vehicle_mask: u8,
    /// A vehicle that switches phases on: from when the controller is held to them (the
    /// switch plus the controller's reaction, `DayMetrics::seeing_phase_switches_after`),
    /// with `claim_mask` and `vehicle_mask` from then on.
    switch: Option<(DateTime<Utc>, u8, u8)>,
    pub(super) min_a: f64,
    pub(super) usable_a: f64,
    need_wh: f64,
    reachable_wh: f64,
    arrival: DateTime<Utc>,
    departure: DateTime<Utc>,
    /// Until when a limit is held to the departed vehicle's phases (the departure plus the
    /// controller's reaction, `DayMetrics::seeing_departures_after`).
    phases_held_until: DateTime<Utc>,
}

impl BayInfo {
    /// The constraints a limit loads at `at`: the vehicle's phases while it is plugged in
    /// (it can draw on no other) and until the controller was due to see it leave, every
    /// phase of the charger otherwise.
    pub(super) fn loads(&self, at: DateTime<Utc>) -> u8 {
        if self.arrival <= at && at < self.phases_held_until {
            self.claim_mask_at(at)
        } else {
            self.mask
        }
    }

    /// `claim_mask` at `at`.
    fn claim_mask_at(&self, at: DateTime<Utc>) -> u8 {
        match self.switch {
            Some((from, claim, _)) if at >= from => claim,
            _ => self.claim_mask,
        }
    }

    /// The constraints S1 counts its limit on at `at` with a vehicle behind it: on the site
    /// phases, the vehicle's (chargegate learns them where the grid meter watches); on the
    /// sub-board, which no meter watches, every phase of the charger.
    fn s1_mask_at(&self, at: DateTime<Utc>) -> u8 {
        (self.claim_mask_at(at) & 0b000_111) | (self.mask & 0b111_000)
    }

    /// The site phases its vehicle draws on at `at`, as bits 0..3.
    pub(super) fn vehicle_mask_at(&self, at: DateTime<Utc>) -> u8 {
        match self.switch {
            Some((from, _, vehicle)) if at >= from => vehicle,
            _ => self.vehicle_mask,
        }
    }
}

/// What makes the reference allocation change: the building load, the limits and who
/// wants more. A steady stretch is a run of steps with the same key.
#[derive(Debug, Clone, PartialEq)]
struct StretchKey {
    building: [u64; 3],
    capacity: [u64; 7],
    wanting: Vec<bool>,
    /// The constraints each bay's limit loads (a vehicle that switched phases on).
    claims: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Stretch {
    key: StretchKey,
    since: DateTime<Utc>,
    /// The reference allocation per bay (0 for those not wanting), A.
    reference: Vec<f64>,
    tally: StretchTally,
    /// The same with each claim on the constraints S1 counts it on (`BayInfo::s1_mask_at`).
    s1_reference: Vec<f64>,
    s1_tally: StretchTally,
}

/// One vehicle's night.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleOutcome {
    pub bay: String,
    pub arrival: DateTime<Utc>,
    pub departure: DateTime<Utc>,
    pub need_wh: f64,
    /// The need, or less when the vehicle could not take it even alone (`Bay::reachable_wh`).
    pub reachable_wh: f64,
    /// Taken between arrival and departure, Wh.
    pub delivered_wh: f64,
}

impl VehicleOutcome {
    /// The share (0..1) of what the site could have given it that it got; 1 for a need of 0.
    pub fn reachable_share(&self) -> f64 {
        if self.reachable_wh > 0.0 {
            (self.delivered_wh / self.reachable_wh).min(1.0)
        } else {
            1.0
        }
    }

    /// Energy missing at departure, Wh.
    pub fn shortfall_wh(&self) -> f64 {
        (self.need_wh - self.delivered_wh).max(0.0)
    }

    /// Energy missing at departure that the site could have given, Wh.
    pub fn reachable_shortfall_wh(&self) -> f64 {
        (self.reachable_wh - self.delivered_wh).max(0.0)
    }
}

/// The day's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct DaySummary {
    /// Time recorded, s.
    pub seconds: f64,
    /// Time some circuit phase had committed limits (+ building) above limit - margin, s.
    pub over_limit_s: f64,
    /// Time some circuit phase carried more than limit - margin (building + draws), s.
    pub over_drawn_s: f64,
    /// Charger-seconds a wanting vehicle sat below its minimum (paused) while every
    /// circuit phase its charger loads had room for that minimum.
    pub starved_s: f64,
    /// The highest grid current per site phase (building + draws), A.
    pub peak_grid_a: [f64; 3],
    /// Energy drawn by all vehicles, Wh.
    pub energy_wh: f64,
    /// Energy x the tariff price in force, currency of the tariff.
    pub cost: f64,
    pub shortfall_wh: f64,
    pub reachable_shortfall_wh: f64,
    pub vehicles: Vec<VehicleOutcome>,
    /// Time-weighted mean score over the measured time (0..=1); `None`: nothing measured.
    pub utilisation_mean: Option<f64>,
    /// The lowest stretch average.
    pub utilisation_worst_stretch: Option<f64>,
    /// The 5th percentile of the stretch averages, by count.
    pub utilisation_stretch_p5: Option<f64>,
    /// Share of the stretches whose average reaches 95 % (0..=1; 0 without a stretch).
    pub stretches_at_target: f64,
    /// Every scored stretch, in time order.
    pub stretch_scores: Vec<StretchScore>,
    /// Share of the measured time below 95 % (0..=1).
    pub utilisation_below_target: f64,
    /// Time measured for utilisation (steady, settled, something to share), s.
    pub measured_s: f64,
    /// Time not scored because the controller could not see the room
    /// (`DayMetrics::blind_while`), s.
    pub blind_s: f64,
    /// Steady stretches with measured time.
    pub stretches: usize,
    /// The same stretches scored on how the limits follow the controller's aim
    /// (`following`; empty for the baselines, which have none).
    pub following: Vec<StretchScore>,
    /// The same stretches against the fair share under S1's counting: a vehicle's claim
    /// loads every phase of its charger on the sub-board, which no meter watches, as
    /// chargegate must count it there (the fair share loads only the vehicle's phases).
    pub under_s1: Vec<StretchScore>,
}

impl DaySummary {
    /// The following scores: (time-weighted mean, lowest stretch, 5th percentile, share
    /// at or above 95 %), `None` when nothing was scored.
    pub fn following_distribution(&self) -> Option<(f64, f64, f64, f64)> {
        mean_and_distribution(&self.following)
    }

    /// `under_s1`'s (mean, lowest, p5, share at 95 %), or None without a scored stretch.
    pub fn under_s1_distribution(&self) -> Option<(f64, f64, f64, f64)> {
        mean_and_distribution(&self.under_s1)
    }

    /// The vehicle that got the smallest share of what the site could have given it (the
    /// first of equals).
    pub fn worst_served(&self) -> Option<&VehicleOutcome> {
        self.vehicles
            .iter()
            .min_by(|a, b| a.reachable_share().total_cmp(&b.reachable_share()))
    }
}

/// A step's causes per site phase against `reference`, and its score: the worst phase's
/// (None when no phase is scored).
fn phase_scores(
    at: DateTime<Utc>,
    bays: &[BayInfo],
    per_bay: &[BayStep],
    reference: &[f64],
    room0: &[f64; 6],
) -> ([StretchCauses; 3], Option<f64>) {
    let phases: [StretchCauses; 3] =
        std::array::from_fn(|p| StretchCauses::of_step(p, at, bays, per_bay, reference, room0));
    let worst = phases
        .iter()
        .filter_map(|c| c.score(MIN_SCORED_A))
        .reduce(f64::min);
    (phases, worst)
}

/// The time-weighted mean of `scores`, then their lowest, 5th percentile and share at 95 %.
fn mean_and_distribution(scores: &[StretchScore]) -> Option<(f64, f64, f64, f64)> {
    let (lowest, p5, share) = stretches::distribution(scores, TARGET)?;
    let measured: f64 = scores.iter().map(|s| s.measured_s).sum();
    let mean = scores.iter().map(|s| s.mean * s.measured_s).sum::<f64>() / measured;
    Some((mean, lowest, p5, share))
}

/// Accumulates a day's scores step by step.
#[derive(Debug, Clone)]
pub struct DayMetrics {
    settle: TimeDelta,
    voltage_v: f64,
    tariff: Planner,
    bays: Vec<BayInfo>,
    seconds: f64,
    over_limit_s: f64,
    over_drawn_s: f64,
    starved_s: f64,
    peak_grid_a: [f64; 3],
    energy_wh: f64,
    cost: f64,
    delivered_wh: Vec<f64>,
    stretch: Option<Stretch>,
    measured_s: f64,
    score_s: f64,
    below_s: f64,
    /// The stretches closed so far.
    closed: Vec<StretchScore>,
    /// The same stretches against the reference under S1's counting.
    closed_s1: Vec<StretchScore>,
    /// Spans in which the controller cannot see the room (`blind_while`), and the time
    /// spent in them.
    blind: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    blind_s: f64,
    /// How the limits follow the controller's aim, in the same stretches.
    following: Following,
}

impl DayMetrics {
    /// Metrics for `day`; utilisation is measured only after `settle` of a steady stretch
    /// (the controller's allowance to follow a change).
    pub fn new(day: &DepotDay, settle: std::time::Duration) -> Self {
        let voltage_v = day.site.voltage_v;
        let bays: Vec<BayInfo> = day
            .bays
            .iter()
            .map(|b| BayInfo {
                id: b.id.clone(),
                mask: b.constraint_mask(),
                claim_mask: b.vehicle_constraint_mask(),
                vehicle_mask: b.vehicle_site_phases().iter().fold(0, |m, p| m | 1 << p),
                switch: b.vehicle.three_phases_from.map(|from| {
                    let vehicle = b.vehicle_site_phases_at(from);
                    let mask = vehicle.iter().fold(0, |m, p| m | 1 << p);
                    (from, b.vehicle_constraint_mask_at(from), mask)
                }),
                min_a: b.min_a,
                usable_a: b.usable_a(),
                need_wh: b.vehicle.need_wh,
                reachable_wh: b.reachable_wh(voltage_v),
                arrival: b.vehicle.arrival,
                departure: b.vehicle.departure,
                phases_held_until: b.vehicle.departure,
            })
            .collect();
        let settle = TimeDelta::from_std(settle).unwrap_or(TimeDelta::MAX);
        Self {
            following: Following::new(bays.len(), settle),
            settle,
            voltage_v,
            tariff: day.tariff.clone(),
            delivered_wh: vec![0.0; bays.len()],
            bays,
            seconds: 0.0,
            over_limit_s: 0.0,
            over_drawn_s: 0.0,
            starved_s: 0.0,
            peak_grid_a: [0.0; 3],
            energy_wh: 0.0,
            cost: 0.0,
            stretch: None,
            measured_s: 0.0,
            score_s: 0.0,
            below_s: 0.0,
            closed: Vec::new(),
            closed_s1: Vec::new(),
            blind: Vec::new(),
            blind_s: 0.0,
        }
    }

    /// The same metrics not scoring utilisation in `[from, to)`, when the controller cannot
    /// see the room: its grid meter is silent, so DESIGN.md S5 has it assume the worst-case
    /// load, and a limit that used the true room would be a guess S5 forbids. A stretch
    /// ends at both bounds, so the one after starts with its settle time. Safety, energy
    /// and starvation are recorded as ever.
    #[must_use]
    pub fn blind_while(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.blind.push((from, to));
        self
    }

    /// The same metrics holding a controller to a vehicle's phase switch only `reaction`
    /// after it, as to a rise of the building load (`drive`; the baselines know it at once).
    #[must_use]
    pub fn seeing_phase_switches_after(mut self, reaction: std::time::Duration) -> Self {
        let reaction = TimeDelta::from_std(reaction).unwrap_or_default();
        for b in &mut self.bays {
            if let Some((from, _, _)) = b.switch.as_mut() {
                *from += reaction;
            }
        }
        self
    }

    /// The same metrics holding a controller to a vehicle's departure only `reaction`
    /// after it: until then a limit counts on the phases the departed vehicle drew on. The
    /// charger's own StatusNotification tells the controller at once; no other vehicle can
    /// be plugged in and draw on the other phases that soon (`drive`; the baselines know
    /// it at once).
    #[must_use]
    pub fn seeing_departures_after(mut self, reaction: std::time::Duration) -> Self {
        let reaction = TimeDelta::from_std(reaction).unwrap_or_default();
        for b in &mut self.bays {
            b.phases_held_until = b.departure + reaction;
        }
        self
    }

    /// Records the step `[at, at + dt_s)`: what every bay looked like (in the day's bay
    /// order), the building load per site phase (A) and the limits in force. Steps come in
    /// time order without gaps.
    pub fn record_step(
        &mut self,
        at: DateTime<Utc>,
        dt_s: f64,
        per_bay: &[BayStep],
        building: [f64; 3],
        capacity: &Capacity,
    ) {
        assert_eq!(per_bay.len(), self.bays.len(), "one BayStep per bay");
        let dt_s = dt_s.max(0.0);
        self.seconds += dt_s;
        let room0 = rooms(capacity, building);
        let mut committed = [0.0; 6];
        let mut drawn = [0.0; 3];
        for (info, step) in self.bays.iter().zip(per_bay) {
            for k in bits(info.loads(at)) {
                committed[k] += step.limit_a;
            }
            for (p, a) in step.draw_a.iter().enumerate() {
                drawn[p] += a;
            }
        }
        let room: [f64; 6] = std::array::from_fn(|k| room0[k] - committed[k]);
        if room.iter().any(|r| *r < -EPS_A) {
            self.over_limit_s += dt_s;
        }
        let mut over_drawn = false;
        for p in 0..3 {
            let grid = building[p] + drawn[p];
            self.peak_grid_a[p] = self.peak_grid_a[p].max(grid);
            over_drawn |= grid > capacity.site_limit_a[p] - capacity.margin_a + EPS_A;
        }
        let mut board_drawn = [0.0; 3];
        for (info, step) in self.bays.iter().zip(per_bay) {
            if info.mask >> 3 != 0 {
                for (p, a) in step.draw_a.iter().enumerate() {
                    board_drawn[p] += a;
                }
            }
        }
        over_drawn |=
            (0..3).any(|p| board_drawn[p] > capacity.board_limit_a[p] - capacity.margin_a + EPS_A);
        if over_drawn {
            self.over_drawn_s += dt_s;
        }
        for (info, step) in self.bays.iter().zip(per_bay) {
            if step.wants_more
                && step.limit_a < info.min_a - EPS_A
                && bits(info.loads(at)).all(|k| room[k] >= info.min_a - EPS_A)
            {
                self.starved_s += dt_s;
            }
        }
        let price = crate::config::price_at(&self.tariff, super::minute_of_day(at));
        let step_wh = drawn.iter().sum::<f64>() * self.voltage_v * dt_s / 3600.0;
        self.energy_wh += step_wh;
        self.cost += step_wh / 1000.0 * price;
        for (i, (info, step)) in self.bays.iter().zip(per_bay).enumerate() {
            if info.arrival <= at && at < info.departure {
                self.delivered_wh[i] +=
                    step.draw_a.iter().sum::<f64>() * self.voltage_v * dt_s / 3600.0;
            }
        }
        self.score(at, dt_s, per_bay, building, capacity, &room0);
    }

    /// The utilisation part of `record_step`.
    fn score(
        &mut self,
        at: DateTime<Utc>,
        dt_s: f64,
        per_bay: &[BayStep],
        building: [f64; 3],
        capacity: &Capacity,
        room0: &[f64; 6],
    ) {
        self.following.observe(at, per_bay);
        if self.blind.iter().any(|(from, to)| *from <= at && at < *to) {
            self.close_stretch();
            self.blind_s += dt_s;
            return;
        }
        let key = StretchKey {
            building: building.map(f64::to_bits),
            capacity: [
                capacity.site_limit_a[0].to_bits(),
                capacity.site_limit_a[1].to_bits(),
                capacity.site_limit_a[2].to_bits(),
                capacity.board_limit_a[0].to_bits(),
                capacity.board_limit_a[1].to_bits(),
                capacity.board_limit_a[2].to_bits(),
                capacity.margin_a.to_bits(),
            ],
            wanting: per_bay.iter().map(|s| s.wants_more).collect(),
            claims: self.bays.iter().map(|b| b.claim_mask_at(at)).collect(),
        };
        if self.stretch.as_ref().is_none_or(|s| s.key != key) {
            self.close_stretch();
            let claims = |mask: &dyn Fn(&BayInfo) -> u8| -> Vec<Claim> {
                self.bays
                    .iter()
                    .zip(&key.wanting)
                    .map(|(info, wants)| Claim {
                        cap_a: if *wants { info.usable_a } else { 0.0 },
                        mask: mask(info),
                    })
                    .collect()
            };
            let reference = fair_fill(&claims(&|b| b.claim_mask_at(at)), room0);
            let s1_reference = fair_fill(&claims(&|b| b.s1_mask_at(at)), room0);
            self.stretch = Some(Stretch {
                reference,
                key,
                since: at,
                tally: StretchTally::default(),
                s1_reference,
                s1_tally: StretchTally::default(),
            });
        }
        let Some(stretch) = self.stretch.as_mut() else {
            return;
        };
        if at - stretch.since < self.settle {
            return;
        }
        self.following
            .score(stretch.since, at, dt_s, &self.bays, per_bay);
        let (phases, worst) = phase_scores(at, &self.bays, per_bay, &stretch.reference, room0);
        if let Some(score) = worst {
            let bays = &self.bays;
            stretch.tally.add(dt_s, score, &phases, || {
                BayAtWorst::of_step(bays, per_bay, &stretch.reference)
            });
            self.measured_s += dt_s;
            self.score_s += score * dt_s;
            if score < TARGET {
                self.below_s += dt_s;
            }
        }
        let (s1_phases, s1_worst) =
            phase_scores(at, &self.bays, per_bay, &stretch.s1_reference, room0);
        if let Some(score) = s1_worst {
            let bays = &self.bays;
            stretch.s1_tally.add(dt_s, score, &s1_phases, || {
                BayAtWorst::of_step(bays, per_bay, &stretch.s1_reference)
            });
        }
    }

    fn close_stretch(&mut self) {
        if let Some(stretch) = self.stretch.take() {
            self.closed.extend(stretch.tally.close(stretch.since));
            self.closed_s1.extend(stretch.s1_tally.close(stretch.since));
        }
        self.following.close_stretch();
    }

    /// The scores so far.
    pub fn summary(&self) -> DaySummary {
        let mut closed = self.closed.clone();
        closed.extend(self.stretch.as_ref().and_then(|s| s.tally.close(s.since)));
        let mut under_s1 = self.closed_s1.clone();
        under_s1.extend(
            self.stretch
                .as_ref()
                .and_then(|s| s.s1_tally.close(s.since)),
        );
        let distribution = stretches::distribution(&closed, TARGET);
        let vehicles: Vec<VehicleOutcome> = self
            .bays
            .iter()
            .zip(&self.delivered_wh)
            .map(|(b, delivered)| VehicleOutcome {
                bay: b.id.clone(),
                arrival: b.arrival,
                departure: b.departure,
                need_wh: b.need_wh,
                reachable_wh: b.reachable_wh,
                delivered_wh: *delivered,
            })
            .collect();
        DaySummary {
            seconds: self.seconds,
            over_limit_s: self.over_limit_s,
            over_drawn_s: self.over_drawn_s,
            starved_s: self.starved_s,
            peak_grid_a: self.peak_grid_a,
            energy_wh: self.energy_wh,
            cost: self.cost,
            shortfall_wh: vehicles.iter().map(VehicleOutcome::shortfall_wh).sum(),
            reachable_shortfall_wh: vehicles
                .iter()
                .map(VehicleOutcome::reachable_shortfall_wh)
                .sum(),
            vehicles,
            utilisation_mean: (self.measured_s > 0.0).then(|| self.score_s / self.measured_s),
            utilisation_worst_stretch: distribution.map(|d| d.0),
            utilisation_stretch_p5: distribution.map(|d| d.1),
            stretches_at_target: distribution.map_or(0.0, |d| d.2),
            utilisation_below_target: if self.measured_s > 0.0 {
                self.below_s / self.measured_s
            } else {
                0.0
            },
            measured_s: self.measured_s,
            blind_s: self.blind_s,
            stretches: closed.len(),
            stretch_scores: closed,
            under_s1,
            following: self.following.scores(),
        }
    }

    /// The scores as a readable table.
    pub fn report(&self) -> String {
        let s = self.summary();
        let mut out = String::new();
        report_safety(&mut out, &s);
        report_energy(&mut out, &s);
        stretches::report(&mut out, &s.stretch_scores, TARGET);
        report_under_s1(&mut out, &s);
        following::report(&mut out, &s.following, TARGET);
        report_vehicles(&mut out, &s);
        out
    }
}

/// The stretches against the fair share under S1's counting, with the lowest of them.
fn report_under_s1(out: &mut String, s: &DaySummary) {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let Some((mean, lowest, p5, share)) = s.under_s1_distribution() else {
        let _ = writeln!(out, "fair share under S1: nothing scored");
        return;
    };
    let _ = writeln!(
        out,
        "{:<34} mean {}, lowest {}, p5 {}, {} of {} at >= {}",
        "fair share under S1's counting",
        pct(mean),
        pct(lowest),
        pct(p5),
        pct(share),
        s.under_s1.len(),
        pct(TARGET)
    );
    let mut short: Vec<&StretchScore> = s.under_s1.iter().filter(|x| x.mean < TARGET).collect();
    short.sort_by(|a, b| a.mean.total_cmp(&b.mean));
    for x in short.into_iter().take(5) {
        let _ = writeln!(
            out,
            "  {} {:>6.0} s {}",
            x.since.format("%H:%M:%S"),
            x.measured_s,
            pct(x.mean)
        );
    }
}

/// Time over a limit, starved chargers, the grid peak.
fn report_safety(out: &mut String, s: &DaySummary) {
    let _ = writeln!(out, "{:<34} {:.2} h", "recorded", s.seconds / 3600.0);
    let _ = writeln!(
        out,
        "{:<34} {:.0} s",
        "over a limit (committed)", s.over_limit_s
    );
    let _ = writeln!(
        out,
        "{:<34} {:.0} s",
        "over a limit (drawn)", s.over_drawn_s
    );
    let _ = writeln!(
        out,
        "{:<34} {:.0} charger-s",
        "paused with room (starved)", s.starved_s
    );
    let _ = writeln!(
        out,
        "{:<34} {:.1} / {:.1} / {:.1} A",
        "peak grid current L1 / L2 / L3", s.peak_grid_a[0], s.peak_grid_a[1], s.peak_grid_a[2]
    );
}

/// Energy, cost, shortfall and utilisation.
fn report_energy(out: &mut String, s: &DaySummary) {
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.1} %", x * 100.0));
    let short = |f: fn(&VehicleOutcome) -> f64| s.vehicles.iter().filter(|v| f(v) > 1.0).count();
    let _ = writeln!(
        out,
        "{:<34} {:.1} kWh",
        "energy delivered",
        s.energy_wh / 1000.0
    );
    let _ = writeln!(
        out,
        "{:<34} {:.2} ({:.3} per kWh)",
        "cost",
        s.cost,
        if s.energy_wh > 0.0 {
            s.cost / (s.energy_wh / 1000.0)
        } else {
            0.0
        }
    );
    let _ = writeln!(
        out,
        "{:<34} {:.1} kWh, {} vehicle(s) short",
        "shortfall vs need",
        s.shortfall_wh / 1000.0,
        short(VehicleOutcome::shortfall_wh)
    );
    let _ = writeln!(
        out,
        "{:<34} {:.1} kWh, {} vehicle(s) short",
        "shortfall vs reachable need",
        s.reachable_shortfall_wh / 1000.0,
        short(VehicleOutcome::reachable_shortfall_wh)
    );
    if let Some(worst) = s.worst_served() {
        let _ = writeln!(
            out,
            "{:<34} {:.1} % ({}), {} vehicle(s) under half",
            "lowest share of reachable need",
            worst.reachable_share() * 100.0,
            worst.bay,
            s.vehicles
                .iter()
                .filter(|v| v.reachable_share() < 0.5)
                .count()
        );
    }
    let _ = writeln!(
        out,
        "{:<34} mean {}, worst stretch {}, {:.1} % of the time below 95 % ({:.1} h in {} stretches)",
        "utilisation vs fair share",
        pct(s.utilisation_mean),
        pct(s.utilisation_worst_stretch),
        s.utilisation_below_target * 100.0,
        s.measured_s / 3600.0,
        s.stretches
    );
    if s.blind_s > 0.0 {
        let _ = writeln!(
            out,
            "{:<34} {:.0} s (the grid meter silent, S5)",
            "not scored: room not visible", s.blind_s
        );
    }
}

/// One row per vehicle.
fn report_vehicles(out: &mut String, s: &DaySummary) {
    let _ = writeln!(
        out,
        "  {:<10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "bay", "arrives", "leaves", "need kWh", "reach kWh", "got kWh", "short"
    );
    for v in &s.vehicles {
        let _ = writeln!(
            out,
            "  {:<10} {:>8} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>8.1}",
            v.bay,
            v.arrival.format("%H:%M"),
            v.departure.format("%H:%M"),
            v.need_wh / 1000.0,
            v.reachable_wh / 1000.0,
            v.delivered_wh / 1000.0,
            v.shortfall_wh() / 1000.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::start;
    use super::*;

    fn claim(cap_a: f64, mask: u8) -> Claim {
        Claim { cap_a, mask }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn fair_fill_shares_equally_and_gives_leftovers_to_who_can_take_them() {
        // Two three-phase and one single-phase (L1) on 60 A per phase: 20 A each.
        let rooms = [60.0, 60.0, 60.0, 100.0, 100.0, 100.0];
        let a = fair_fill(
            &[claim(32.0, 0b111), claim(32.0, 0b111), claim(32.0, 0b001)],
            &rooms,
        );
        assert!(a.iter().all(|x| close(*x, 20.0)), "{a:?}");
        // A 10 A vehicle leaves its share to the others: (60 - 10) / 2 on L1.
        let a = fair_fill(
            &[claim(32.0, 0b111), claim(32.0, 0b111), claim(10.0, 0b001)],
            &rooms,
        );
        assert!(
            close(a[2], 10.0) && close(a[0], 25.0) && close(a[1], 25.0),
            "{a:?}"
        );
        // L1 is tight, L2 is not: the L2-only claim gets what L2 has left.
        let rooms = [30.0, 60.0, 60.0, 100.0, 100.0, 100.0];
        let a = fair_fill(
            &[claim(32.0, 0b011), claim(32.0, 0b001), claim(64.0, 0b010)],
            &rooms,
        );
        assert!(
            close(a[0], 15.0) && close(a[1], 15.0) && close(a[2], 45.0),
            "{a:?}"
        );
        // The sub-board binds its chargers; the site's room goes to the others.
        let rooms = [100.0, 100.0, 100.0, 20.0, 20.0, 20.0];
        let a = fair_fill(
            &[
                claim(32.0, 0b111_111),
                claim(32.0, 0b111_111),
                claim(32.0, 0b111),
            ],
            &rooms,
        );
        assert!(
            close(a[0], 10.0) && close(a[1], 10.0) && close(a[2], 32.0),
            "{a:?}"
        );
        // No room, no cap, no claim.
        let a = fair_fill(
            &[claim(32.0, 0b1), claim(0.0, 0b10)],
            &[0.0, 9.0, 9.0, 9.0, 9.0, 9.0],
        );
        assert_eq!(a, vec![0.0, 0.0]);
    }

    /// A two-bay day: bay 0 three-phase (RST) with a 3-phase 32 A vehicle, bay 1
    /// single-phase on L1 with a 16 A vehicle, neither on the sub-board.
    fn two_bays() -> DepotDay {
        let mut day = DepotDay::generate(1, 2, start());
        for (bay, (phases, vmax)) in day.bays.iter_mut().zip([(3, 32.0), (1, 16.0)]) {
            bay.phases = phases;
            bay.rotation = "RST";
            bay.on_board = false;
            bay.vehicle.phases = phases;
            bay.vehicle.max_a = vmax;
            bay.vehicle.arrival = day.start;
            bay.vehicle.departure = day.start + TimeDelta::hours(2);
            bay.vehicle.need_wh = 50_000.0;
        }
        day
    }

    fn step(limit_a: f64, draw_a: [f64; 3], wants_more: bool) -> BayStep {
        BayStep {
            limit_a,
            draw_a,
            wants_more,
            aim_a: None,
        }
    }

    #[test]
    fn over_the_limit_counts_committed_limits_on_every_charger_phase() {
        let day = two_bays();
        let mut m = DayMetrics::new(&day, DEFAULT_SETTLE);
        let mut cap = day.capacity();
        cap.site_limit_a = [60.0, 250.0, 250.0];
        // L1: 20 + 20 + 10 = 50 <= 55: fine.
        m.record_step(
            day.start,
            10.0,
            &[step(20.0, [0.0; 3], true), step(10.0, [0.0; 3], true)],
            [20.0, 0.0, 0.0],
            &cap,
        );
        assert_eq!(m.summary().over_limit_s, 0.0);
        // The single-phase vehicle draws nothing, but its 16 A limit is committed: 56 > 55.
        m.record_step(
            day.start,
            10.0,
            &[step(20.0, [0.0; 3], true), step(16.0, [0.0; 3], true)],
            [20.0, 0.0, 0.0],
            &cap,
        );
        let s = m.summary();
        assert_eq!(s.over_limit_s, 10.0);
        assert_eq!(s.over_drawn_s, 0.0, "nothing drawn");
        // Drawing over: building 40 + 16 on L1 > 55.
        m.record_step(
            day.start,
            5.0,
            &[
                step(0.0, [0.0; 3], true),
                step(16.0, [16.0, 0.0, 0.0], true),
            ],
            [40.0, 0.0, 0.0],
            &cap,
        );
        let s = m.summary();
        assert_eq!(s.over_limit_s, 15.0);
        assert_eq!(s.over_drawn_s, 5.0);
        assert_eq!(s.peak_grid_a, [56.0, 0.0, 0.0]);
    }

    #[test]
    fn a_departed_single_phase_vehicle_holds_its_phase_for_the_reaction_then_every_phase_counts() {
        // Bay 0 a three-phase charger with a single-phase vehicle on L1 at 32 A; L2 has
        // 10 A of room. Gone at 2 h: its limit counts on L2 and L3 once the controller was
        // due to see it leave (10 s here), not before.
        let mut day = two_bays();
        day.bays[0].vehicle.phases = 1;
        let cap = day.capacity();
        let building = [0.0, cap.site_limit_a[1] - cap.margin_a - 10.0, 0.0];
        let left = day.bays[0].vehicle.departure;
        let m = DayMetrics::new(&day, DEFAULT_SETTLE)
            .seeing_departures_after(std::time::Duration::from_secs(10));
        let over_after = |mut m: DayMetrics, s: i64| {
            m.record_step(
                left + TimeDelta::seconds(s),
                1.0,
                &[step(32.0, [0.0; 3], false), step(0.0, [0.0; 3], false)],
                building,
                &cap,
            );
            m.summary().over_limit_s
        };
        assert_eq!(over_after(m.clone(), -1), 0.0, "plugged in: L1 only");
        assert_eq!(over_after(m.clone(), 9), 0.0, "within the reaction");
        assert_eq!(over_after(m.clone(), 10), 1.0, "past it: 32 A on L2");
        let at_once = DayMetrics::new(&day, DEFAULT_SETTLE);
        assert_eq!(over_after(at_once, 0), 1.0, "the baselines know at once");
    }

    #[test]
    fn the_sub_board_is_a_limit_of_its_own() {
        let mut day = two_bays();
        day.bays[0].on_board = true;
        let mut m = DayMetrics::new(&day, DEFAULT_SETTLE);
        let mut cap = day.capacity();
        cap.board_limit_a = [30.0; 3];
        m.record_step(
            day.start,
            1.0,
            &[step(25.0, [25.0; 3], true), step(0.0, [0.0; 3], false)],
            [0.0; 3],
            &cap,
        );
        assert_eq!(m.summary().over_limit_s, 0.0);
        m.record_step(
            day.start,
            1.0,
            &[step(26.0, [26.0; 3], true), step(0.0, [0.0; 3], false)],
            [0.0; 3],
            &cap,
        );
        let s = m.summary();
        assert_eq!((s.over_limit_s, s.over_drawn_s), (1.0, 1.0));
    }

    #[test]
    fn a_paused_charger_with_room_is_starved_and_one_without_is_not() {
        let day = two_bays();
        let mut m = DayMetrics::new(&day, DEFAULT_SETTLE);
        let mut cap = day.capacity();
        cap.site_limit_a = [60.0, 250.0, 250.0];
        // L1 room: 55 - 20 - 30 = 5 < 6: bay 1 cannot start.
        m.record_step(
            day.start,
            10.0,
            &[step(30.0, [30.0; 3], true), step(0.0, [0.0; 3], true)],
            [20.0, 0.0, 0.0],
            &cap,
        );
        assert_eq!(m.summary().starved_s, 0.0);
        // With 25 A on bay 0 there are 10 A: bay 1 starves. A full vehicle does not.
        m.record_step(
            day.start,
            10.0,
            &[step(25.0, [25.0; 3], true), step(0.0, [0.0; 3], true)],
            [20.0, 0.0, 0.0],
            &cap,
        );
        m.record_step(
            day.start,
            10.0,
            &[step(25.0, [25.0; 3], true), step(0.0, [0.0; 3], false)],
            [20.0, 0.0, 0.0],
            &cap,
        );
        assert_eq!(m.summary().starved_s, 10.0);
    }

    #[test]
    fn energy_cost_and_shortfall_follow_the_draws() {
        let day = two_bays();
        let mut m = DayMetrics::new(&day, DEFAULT_SETTLE);
        let cap = day.capacity();
        // One hour from 15:00 (0.28) at 32 A x 3 on bay 0 and 16 A on bay 1, in 60 s steps;
        // then an hour at 16:00 (0.40) with bay 1 only.
        let mut t = day.start;
        for _ in 0..60 {
            m.record_step(
                t,
                60.0,
                &[
                    step(32.0, [32.0; 3], true),
                    step(16.0, [16.0, 0.0, 0.0], true),
                ],
                [10.0; 3],
                &cap,
            );
            t += TimeDelta::minutes(1);
        }
        for _ in 0..60 {
            m.record_step(
                t,
                60.0,
                &[
                    step(0.0, [0.0; 3], false),
                    step(16.0, [16.0, 0.0, 0.0], true),
                ],
                [10.0; 3],
                &cap,
            );
            t += TimeDelta::minutes(1);
        }
        // After departure nothing counts for the vehicle, though it still counts as energy.
        m.record_step(
            t,
            3600.0,
            &[
                step(0.0, [0.0; 3], false),
                step(16.0, [16.0, 0.0, 0.0], true),
            ],
            [10.0; 3],
            &cap,
        );
        let s = m.summary();
        let bay0 = 32.0 * 3.0 * 230.0;
        let bay1 = 16.0 * 230.0;
        assert!(
            close(s.vehicles[0].delivered_wh, bay0),
            "{:?}",
            s.vehicles[0]
        );
        assert!(close(s.vehicles[1].delivered_wh, 2.0 * bay1));
        assert!(close(s.energy_wh, bay0 + 3.0 * bay1));
        // 15:00-16:00 at 0.28, then 16:00-18:00 at 0.40.
        assert!(close(
            s.cost,
            (bay0 + bay1) / 1000.0 * 0.28 + 2.0 * bay1 / 1000.0 * 0.40
        ));
        assert!(close(s.shortfall_wh, 2.0 * 50_000.0 - bay0 - 2.0 * bay1));
        // Bay 1 alone could take 16 A x 230 V x 2 h = 7360 Wh: all of it reached.
        assert!(close(s.vehicles[1].reachable_wh, 2.0 * bay1));
        assert!(close(s.vehicles[1].reachable_shortfall_wh(), 0.0));
        assert!(close(s.vehicles[0].reachable_wh, 2.0 * bay0));
        assert!(close(s.reachable_shortfall_wh, bay0));
        assert!(m.report().contains("energy delivered"));
    }

    #[test]
    fn utilisation_is_full_for_the_fair_share_and_counts_only_usable_current() {
        let day = two_bays();
        let mut cap = day.capacity();
        cap.site_limit_a = [45.0, 250.0, 250.0];
        // L1 room 40: fair share 20 A each; bay 1's vehicle takes 16, so 24 / 16.
        let room0 = rooms(&cap, [0.0; 3]);
        let reference = fair_fill(&[claim(32.0, 0b111), claim(16.0, 0b001)], &room0);
        assert!(
            close(reference[0], 24.0) && close(reference[1], 16.0),
            "{reference:?}"
        );
        let run = |limits: [f64; 2]| {
            let mut m = DayMetrics::new(&day, std::time::Duration::from_secs(30));
            let mut t = day.start;
            for _ in 0..120 {
                m.record_step(
                    t,
                    1.0,
                    &[
                        step(limits[0], [0.0; 3], true),
                        step(limits[1], [0.0; 3], true),
                    ],
                    [0.0; 3],
                    &cap,
                );
                t += TimeDelta::seconds(1);
            }
            m.summary()
        };
        let fair = run([24.0, 16.0]);
        assert_eq!(
            fair.measured_s, 90.0,
            "the first 30 s of the stretch are not scored"
        );
        assert_eq!(fair.stretches, 1);
        assert!(close(fair.utilisation_mean.unwrap(), 1.0));
        assert_eq!(fair.utilisation_below_target, 0.0);
        // Giving bay 1 more than its vehicle takes is no use: L1 carries 12 + 16 of 40,
        // and L2 (bay 0 alone) 12 of 24, the worst phase.
        let wasteful = run([12.0, 28.0]);
        assert!(
            close(wasteful.utilisation_worst_stretch.unwrap(), 0.5),
            "{wasteful:?}"
        );
        assert_eq!(wasteful.utilisation_below_target, 1.0);
        // Half of everything: 50 %.
        let half = run([12.0, 8.0]);
        assert!(close(half.utilisation_mean.unwrap(), 0.5));
    }

    #[test]
    fn under_s1_a_vehicle_on_the_sub_board_claims_every_phase_of_its_charger() {
        // Both on the sub-board (40 A of room per phase): a single-phase vehicle on L1 of a
        // three-phase charger, and one on a single-phase charger on L2, both taking 32 A.
        // The fair share gives each 32 A (they draw on different phases); S1 must count
        // the first charger on L2 too, where no meter watches: 20 A each.
        let mut day = two_bays();
        for (bay, rotation) in day.bays.iter_mut().zip(["RST", "SRT"]) {
            bay.on_board = true;
            bay.rotation = rotation;
            bay.vehicle.phases = 1;
            bay.vehicle.max_a = 32.0;
        }
        day.bays[1].phases = 1;
        let mut cap = day.capacity();
        cap.board_limit_a = [40.0 + cap.margin_a; 3];
        let mut m = DayMetrics::new(&day, std::time::Duration::from_secs(30));
        let mut t = day.start;
        for _ in 0..120 {
            let steps = [step(20.0, [0.0; 3], true), step(20.0, [0.0; 3], true)];
            m.record_step(t, 1.0, &steps, [0.0; 3], &cap);
            t += TimeDelta::seconds(1);
        }
        let s = m.summary();
        assert!(
            close(s.utilisation_mean.unwrap(), 20.0 / 32.0),
            "{:?}",
            s.utilisation_mean
        );
        let (mean, lowest, _, share) = s.under_s1_distribution().unwrap();
        assert!(close(mean, 1.0) && close(lowest, 1.0), "{mean} {lowest}");
        assert_eq!(share, 1.0);
        assert!(m.report().contains("fair share under S1's counting"));
    }

    #[test]
    fn a_change_of_building_load_starts_a_new_stretch() {
        let day = two_bays();
        let cap = day.capacity();
        let mut m = DayMetrics::new(&day, std::time::Duration::from_secs(10));
        let mut t = day.start;
        for i in 0..60 {
            // The building steps every 20 s; only the last 10 s of each are scored.
            let building = [if (i / 20) % 2 == 0 { 30.0 } else { 40.0 }; 3];
            m.record_step(
                t,
                1.0,
                &[
                    step(32.0, [32.0; 3], true),
                    step(16.0, [16.0, 0.0, 0.0], true),
                ],
                building,
                &cap,
            );
            t += TimeDelta::seconds(1);
        }
        let s = m.summary();
        assert_eq!(s.stretches, 3);
        assert_eq!(s.measured_s, 30.0);
        // Both vehicles at their maximum: nothing more to give.
        assert!(close(s.utilisation_mean.unwrap(), 1.0));
    }

    #[test]
    fn while_the_controller_cannot_see_the_room_nothing_is_scored_and_the_stretch_restarts() {
        // One steady minute; both vehicles paused (S5's worst case) from 20 s to 40 s.
        let day = two_bays();
        let cap = day.capacity();
        let settle = std::time::Duration::from_secs(10);
        let silent = (
            day.start + TimeDelta::seconds(20),
            day.start + TimeDelta::seconds(40),
        );
        let run = |m: DayMetrics| {
            let mut m = m;
            for i in 0..60 {
                let at = day.start + TimeDelta::seconds(i);
                let paused = silent.0 <= at && at < silent.1;
                let (a, b) = if paused { (0.0, 0.0) } else { (32.0, 16.0) };
                let steps = [step(a, [a; 3], true), step(b, [b, 0.0, 0.0], true)];
                m.record_step(at, 1.0, &steps, [30.0; 3], &cap);
            }
            (m.summary(), m.report())
        };
        let (seen, report) = run(DayMetrics::new(&day, settle));
        assert!(!report.contains("not scored"));
        // Scored, one stretch: 30 s at the full share, 20 s at none.
        assert_eq!((seen.measured_s, seen.stretches), (50.0, 1));
        assert!(close(seen.utilisation_worst_stretch.unwrap(), 0.6));
        let (blind, report) = run(DayMetrics::new(&day, settle).blind_while(silent.0, silent.1));
        // 10 s scored before the silence, 10 s after it (each after its settle time).
        assert_eq!((blind.measured_s, blind.blind_s), (20.0, 20.0));
        assert_eq!(blind.stretches, 2);
        assert!(close(blind.utilisation_worst_stretch.unwrap(), 1.0));
        assert!(report.contains("not scored: room not visible"), "{report}");
    }

    #[test]
    fn the_limits_are_held_to_an_aim_only_once_it_stood_for_the_settle_time() {
        // A steady minute, both vehicles wanting. Bay 0 is aimed at 10 A, at 32 A from
        // 20 s, at 20 A from 45 s; bay 1 at 16 A throughout, which it holds.
        let day = two_bays();
        let cap = day.capacity();
        let settle = std::time::Duration::from_secs(10);
        let run = |limit0: &dyn Fn(i64) -> f64, aimed: bool| {
            let mut m = DayMetrics::new(&day, settle);
            for i in 0..60 {
                let aim0 = match i {
                    ..20 => 10.0,
                    20..45 => 32.0,
                    _ => 20.0,
                };
                let a = limit0(i);
                let mut steps = [step(a, [a; 3], true), step(16.0, [16.0, 0.0, 0.0], true)];
                if aimed {
                    steps[0].aim_a = Some(aim0);
                    steps[1].aim_a = Some(16.0);
                }
                m.record_step(
                    day.start + TimeDelta::seconds(i),
                    1.0,
                    &steps,
                    [30.0; 3],
                    &cap,
                );
            }
            (m.summary(), m.report())
        };
        // Raised 15 s after the aim rose (5 s beyond the settle time), then held above the
        // aim once it fell: 5 s at (10 + 16) / (32 + 16), 45 s in full, from 10 s on.
        let late = |i: i64| {
            if (20..35).contains(&i) || i < 20 {
                10.0
            } else {
                32.0
            }
        };
        let (s, report) = run(&late, true);
        let (mean, lowest, _, at_target) = s.following_distribution().unwrap();
        assert_eq!(s.following.len(), 1);
        assert!(close(s.following[0].lowest, 26.0 / 48.0));
        assert!(close(mean, (45.0 + 5.0 * 26.0 / 48.0) / 50.0), "{mean}");
        assert!(close(lowest, mean) && close(at_target, 1.0));
        assert!(report.contains("following the aim"), "{report}");
        // Never raised: 15 s short of 32 A, then 15 s short of 20 A (a fall is due at
        // once), and the report names the bay below its aim.
        let (s, report) = run(&|_| 10.0, true);
        let (mean, ..) = s.following_distribution().unwrap();
        let short = 15.0 * 26.0 / 48.0 + 15.0 * 26.0 / 36.0;
        assert!(close(mean, (20.0 + short) / 50.0), "{mean}");
        assert!(
            report.contains(&format!("{} 10/32", day.bays[0].id)),
            "{report}"
        );
        // Without an aim (the baselines) nothing is scored.
        let (s, _) = run(&late, false);
        assert!(s.following.is_empty() && s.following_distribution().is_none());
    }
}
