//! Synthetic sites for benchmarks, property tests and the demo: deterministic from a seed.
//!
//! A site of `n` chargers with nested sub-circuits, mixed one- and three-phase chargers and
//! phase rotations, vehicles with random needs and departures, and a live office load. The
//! limits are sized so that capacity binds (the problem is not trivial) but stays feasible
//! for failsafes. Pure: the seed is the only source of randomness, `now` is a parameter.

use chrono::{DateTime, Duration, Utc};

use super::{ChargerState, CircuitNode, Need, SiteSnapshot, Vehicle};
use crate::units::{Amps, ChargerId, Volts, WattHours};

/// A small deterministic generator (SplitMix64), so the crate needs no RNG dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi` exclusive; `lo` when empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const ROTATIONS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// A random site of `n` chargers (1..=500 sensible) at `now`.
pub fn site(n: usize, seed: u64, now: DateTime<Utc>) -> SiteSnapshot {
    let mut rng = Rng::new(seed);
    let mut circuits = boards(n);
    let chargers: Vec<ChargerState> = (0..n).map(|i| charger(&mut rng, i, now)).collect();
    set_limits_and_loads(&mut circuits, &chargers, n, &mut rng);
    SiteSnapshot {
        at: now,
        phases: 3,
        voltage: Volts(230.0),
        margin: Amps(5.0),
        circuits,
        chargers,
        temporary_limit: None,
    }
}

/// The site and its boards of ~20 chargers; every third nested under the previous one.
/// Limits and loads are set once the chargers are known.
fn boards(n: usize) -> Vec<CircuitNode> {
    let boards = n.div_ceil(20);
    let mut circuits = vec![CircuitNode {
        id: "site".into(),
        limit: Amps(0.0), // set below
        parent: None,
        load: [Amps(0.0); 3],
        stale: false,
        worst_case_load: Amps(50.0),
        unconfirmed: [Amps(0.0); 3],
        sees_phase_switches: false,
        unmeasured: [false; 3],
        ramp_open: false,
    }];
    for b in 0..boards {
        let parent = if b % 3 == 2 { b } else { 0 };
        circuits.push(CircuitNode {
            id: format!("board-{b}"),
            limit: Amps(0.0),
            parent: Some(parent),
            load: [Amps(0.0); 3],
            stale: false,
            worst_case_load: Amps(10.0),
            unconfirmed: [Amps(0.0); 3],
            sees_phase_switches: false,
            unmeasured: [false; 3],
            ramp_open: false,
        });
    }
    circuits
}

/// Charger `i` on board `i / 20`: mostly three-phase, 16 or 32 A, mostly online, mostly
/// with a vehicle that mostly has a known need.
fn charger(rng: &mut Rng, i: usize, now: DateTime<Utc>) -> ChargerState {
    let three_phase = rng.unit() < 0.8;
    let rotation = ROTATIONS[rng.range(0, 6) as usize];
    let mut site_phases = [false; 3];
    for &p in rotation.iter().take(if three_phase { 3 } else { 1 }) {
        site_phases[p] = true;
    }
    let max = if rng.unit() < 0.5 { 16.0 } else { 32.0 };
    let vehicle = (rng.unit() < 0.85).then(|| {
        let dwell_slots = rng.range(8, 96) as i64;
        let energy_kwh = 5.0 + 55.0 * rng.unit();
        Vehicle {
            measured_max: None,
            learning: None,
            idle_since: None,
            since: now - Duration::minutes(rng.range(0, 600) as i64),
            max_current: (rng.unit() < 0.2).then_some(Amps(16.0)),
            min_current: None,
            need: (rng.unit() < 0.9).then(|| Need {
                energy: WattHours(energy_kwh * 1000.0),
                departure: now + Duration::minutes(15 * dwell_slots),
            }),
            id_token: None,
            drawing_phases: None,
        }
    });
    ChargerState {
        id: ChargerId::new(format!("CP-{i:03}")).unwrap_or_else(|_| unreachable!("ids are ascii")),
        circuit: 1 + i / 20,
        site_phases,
        wired_phases: site_phases,
        min_current: Amps(6.0),
        max_current: Amps(max),
        priority: rng.range(0, 3) as u32,
        failsafe_current: Amps(0.0),
        online: rng.unit() < 0.97,
        vehicle,
    }
}

/// Board limits: ~45 % of the board's rated sum (so capacity binds), at least 40 A.
/// Nested boards carry their children too. The site's limit and office load scale with `n`.
fn set_limits_and_loads(
    circuits: &mut [CircuitNode],
    chargers: &[ChargerState],
    n: usize,
    rng: &mut Rng,
) {
    let mut rated = vec![0.0f64; circuits.len()];
    for c in chargers {
        rated[c.circuit] += c.max_current.0;
    }
    for b in (1..circuits.len()).rev() {
        if let Some(p) = circuits[b].parent
            && p != 0
        {
            rated[p] += rated[b];
        }
    }
    for (b, node) in circuits.iter_mut().enumerate().skip(1) {
        node.limit = Amps((0.45 * rated[b]).max(40.0).round());
        node.load = [Amps(rng.range(0, 10) as f64); 3];
    }
    let office = 50.0;
    circuits[0].limit = Amps((0.3 * n as f64 * 24.0 + office + 20.0).round());
    circuits[0].load = [Amps(office), Amps(office * 0.8), Amps(office * 0.6)];
}
