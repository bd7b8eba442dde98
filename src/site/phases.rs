//! Which of its charger's phases a vehicle draws on, learned from the charger's per-phase
//! Current.Import (issue 9).
//!
//! A single-phase vehicle on a three-phase charger takes current on the charger's L1
//! alone, but a limit counted on every phase of the charger (DESIGN.md S1 as the config
//! describes the charger) holds the same room on L2 and L3, which nobody uses. Over a
//! depot night that is a third of such a vehicle's limit on two phases, per vehicle.
//!
//! Learned: a phase drawing less than `UNUSED_A` while another draws at least `ACTIVE_A`,
//! in `CONFIRM_SAMPLES` samples in a row with the same phases, every phase of the charger
//! reported.
//!
//! Used by `learned_phases`, which narrows a charger's count to these phases where a
//! phase switched on is seen at once (a grid meter on every circuit above it).
//!
//! Forgotten, back to every phase of the charger, on any doubt:
//! - a sample shows the vehicle drawing `UNUSED_A` or more on a phase not learned (a
//!   vehicle that switched a phase on): at once, with a replan; before that sample
//!   arrives, a grid meter already carries the draw and the derivation subtracts the
//!   charger's last sample there (about 0 A), so the guard sees it as other load and
//!   cuts (`site::load`); behind a building meter only the sample would show it, so
//!   `learned_phases` does not narrow there; and because a sample may never come, learned
//!   phases also go stale:
//! - no sample confirming them for `FRESH_FOR` (a vehicle paused or full teaches nothing);
//! - a new vehicle or none (the vehicle's `since` changed), a boot, the charger offline
//!   (it runs on its failsafe, on every phase), an ambiguous sample (a phase between
//!   `UNUSED_A` and `ACTIVE_A` while another is unused, or phases missing while learning).
//!
//! Pure: the caller passes the time of the event.

use chrono::{DateTime, TimeDelta, Utc};

/// A phase drawing less than this, in A, is not used (meters show a little noise).
pub const UNUSED_A: f64 = 1.0;

/// Some phase must draw at least this, in A (the IEC 61851-1 minimum), for a sample to
/// teach which phases are unused: a vehicle drawing little may still be starting up.
pub const ACTIVE_A: f64 = 6.0;

/// Samples in a row that must show the same phases before they are learned.
pub const CONFIRM_SAMPLES: u8 = 3;

/// How long learned phases hold without a sample confirming them: twice the usual upper
/// end of MeterValueSampleInterval (60 s).
pub const FRESH_FOR: TimeDelta = TimeDelta::seconds(120);

/// What the samples of one vehicle taught about its phases (charger phases L1..L3 as bits
/// 0..3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VehiclePhases {
    /// The vehicle these are about (`Vehicle::since`).
    vehicle_since: Option<DateTime<Utc>>,
    /// The phases the last samples showed, and how many in a row showed them.
    candidate: Option<(u8, u8)>,
    /// The learned phases and the time of the last sample that confirmed them.
    learned: Option<(u8, DateTime<Utc>)>,
}

/// What one sample shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// These phases draw, the others are unused, one draws at least `ACTIVE_A`.
    Clear(u8),
    /// Drawing on these phases, but too little (or too mixed) to learn from.
    Weak(u8),
    /// Not every phase of the charger is reported; these of the reported ones draw.
    Missing(u8),
}

fn evidence(currents_a: [Option<f64>; 3], charger_phases: u8) -> Evidence {
    let n = usize::from(charger_phases.min(3));
    let mut drawing = 0u8;
    let mut active = false;
    let mut unclear = false;
    let mut missing = false;
    for (i, current) in currents_a.iter().take(n).enumerate() {
        let Some(a) = current else {
            missing = true;
            continue;
        };
        if *a >= UNUSED_A {
            drawing |= 1 << i;
        }
        active |= *a >= ACTIVE_A;
        unclear |= (UNUSED_A..ACTIVE_A).contains(a);
    }
    if missing {
        Evidence::Missing(drawing)
    } else if active && !unclear && drawing != 0 {
        Evidence::Clear(drawing)
    } else {
        Evidence::Weak(drawing)
    }
}

/// How many of a charger's `charger_phases` phases one sample (A per charger phase, `None`:
/// not reported) shows its vehicle drawing on, where it shows that clearly: some phase
/// draws at least `ACTIVE_A` and every reported one either that much or less than
/// `UNUSED_A`, and none is missing. What an ampere of its limit delivers follows it
/// (`Vehicle::drawing_phases`); it counts for no limit (S1).
pub fn drawing_phase_count(currents_a: [Option<f64>; 3], charger_phases: u8) -> Option<u8> {
    match evidence(currents_a, charger_phases) {
        Evidence::Clear(drawing) => Some(drawing.count_ones() as u8),
        Evidence::Weak(_) | Evidence::Missing(_) => None,
    }
}

impl VehiclePhases {
    /// Learns from one sample of the vehicle plugged in since `vehicle_since`: the
    /// measured current per charger phase (None: not reported) of a charger with
    /// `charger_phases` phases, at `at`. Returns whether the phases a plan may count
    /// changed (learned, or forgotten).
    pub fn learn(
        &mut self,
        vehicle_since: DateTime<Utc>,
        currents_a: [Option<f64>; 3],
        charger_phases: u8,
        at: DateTime<Utc>,
    ) -> bool {
        let mut changed = false;
        if self.vehicle_since != Some(vehicle_since) {
            changed = self.forget();
            self.vehicle_since = Some(vehicle_since);
        }
        if charger_phases < 2 {
            return changed;
        }
        let all = (1u8 << charger_phases.min(3)) - 1;
        let seen = evidence(currents_a, charger_phases);
        if let Some((mask, _)) = self.learned {
            return match seen {
                // A draw on a phase not learned, in whatever sample: forgotten.
                Evidence::Clear(d) | Evidence::Weak(d) | Evidence::Missing(d) if d & !mask != 0 => {
                    self.forget() || changed
                }
                Evidence::Clear(d) | Evidence::Weak(d) if d != 0 => {
                    self.learned = Some((mask, at));
                    changed
                }
                // Drawing nothing, or phases missing: no news either way; `FRESH_FOR` ends it.
                _ => changed,
            };
        }
        match seen {
            Evidence::Clear(d) if d != all => {
                let count = match self.candidate {
                    Some((m, n)) if m == d => n.saturating_add(1),
                    _ => 1,
                };
                if count >= CONFIRM_SAMPLES {
                    self.candidate = None;
                    self.learned = Some((d, at));
                    return true;
                }
                self.candidate = Some((d, count));
            }
            // Drawing on every phase, drawing too little, or phases missing: start again.
            _ => self.candidate = None,
        }
        changed
    }

    /// Forgets what was learned; returns whether anything was.
    pub fn forget(&mut self) -> bool {
        self.candidate = None;
        self.learned.take().is_some()
    }

    /// The charger phases (bits 0..3 for L1..L3) a plan made at `now` may count the
    /// vehicle plugged in since `vehicle_since` on, or `None`: every phase of the charger.
    pub fn in_use(&self, vehicle_since: DateTime<Utc>, now: DateTime<Utc>) -> Option<u8> {
        let (mask, confirmed) = self.learned?;
        (self.vehicle_since == Some(vehicle_since)
            && now >= confirmed
            && now - confirmed <= FRESH_FOR
            && mask != 0)
            .then_some(mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(s)
    }

    const SINCE: i64 = 0;

    /// Feeds `samples` (A on L1, L2, L3) 10 s apart from `from`; returns the last answer.
    fn feed(p: &mut VehiclePhases, from: i64, samples: &[[f64; 3]]) -> bool {
        let mut changed = false;
        for (i, s) in samples.iter().enumerate() {
            changed = p.learn(t(SINCE), s.map(Some), 3, t(from + 10 * i as i64));
        }
        changed
    }

    const ONE_PHASE: [f64; 3] = [16.0, 0.0, 0.0];

    #[test]
    fn a_single_phase_vehicle_is_learned_after_three_clear_samples() {
        let mut p = VehiclePhases::default();
        assert!(!feed(&mut p, 10, &[ONE_PHASE, ONE_PHASE]));
        assert_eq!(
            p.in_use(t(SINCE), t(30)),
            None,
            "two samples are not enough"
        );
        assert!(feed(&mut p, 30, &[ONE_PHASE]));
        assert_eq!(p.in_use(t(SINCE), t(30)), Some(0b001));
        // A two-phase vehicle too.
        let mut p = VehiclePhases::default();
        assert!(feed(&mut p, 10, &[[10.0, 10.0, 0.2]; 3]));
        assert_eq!(p.in_use(t(SINCE), t(40)), Some(0b011));
    }

    #[test]
    fn unclear_samples_teach_nothing() {
        let cases: [(&str, [Option<f64>; 3]); 5] = [
            ("every phase draws", [Some(16.0); 3]),
            ("too little to tell", [Some(4.0), Some(0.0), Some(0.0)]),
            ("a phase between", [Some(16.0), Some(3.0), Some(0.0)]),
            ("nothing", [Some(0.0); 3]),
            ("a phase missing", [Some(16.0), None, Some(0.0)]),
        ];
        for (why, sample) in cases {
            let mut p = VehiclePhases::default();
            for i in 0..10 {
                assert!(!p.learn(t(SINCE), sample, 3, t(10 * i)), "{why}");
            }
            assert_eq!(p.in_use(t(SINCE), t(100)), None, "{why}");
        }
        // An unclear sample in between starts the count again.
        let mut p = VehiclePhases::default();
        feed(
            &mut p,
            10,
            &[ONE_PHASE, ONE_PHASE, [3.0, 0.0, 0.0], ONE_PHASE, ONE_PHASE],
        );
        assert_eq!(p.in_use(t(SINCE), t(60)), None);
        assert!(feed(&mut p, 60, &[ONE_PHASE]));
        // A single-phase charger has nothing to learn.
        let mut p = VehiclePhases::default();
        for i in 0..5 {
            assert!(!p.learn(t(SINCE), [Some(16.0), None, None], 1, t(10 * i)));
        }
        assert_eq!(p.in_use(t(SINCE), t(50)), None);
    }

    #[test]
    fn a_draw_on_another_phase_forgets_at_once() {
        let mut p = VehiclePhases::default();
        feed(&mut p, 10, &[ONE_PHASE; 3]);
        // Even a small draw on L2 is doubt enough.
        assert!(p.learn(t(SINCE), [Some(16.0), Some(1.5), Some(0.0)], 3, t(40)));
        assert_eq!(p.in_use(t(SINCE), t(40)), None);
        // So is a draw in a sample that leaves a phase out.
        feed(&mut p, 100, &[ONE_PHASE; 3]);
        assert_eq!(p.in_use(t(SINCE), t(120)), Some(0b001));
        assert!(p.learn(t(SINCE), [None, Some(8.0), None], 3, t(125)));
        assert_eq!(p.in_use(t(SINCE), t(125)), None);
        // And it has to be learned again from scratch.
        assert!(!feed(&mut p, 50, &[ONE_PHASE, ONE_PHASE]));
        assert_eq!(p.in_use(t(SINCE), t(60)), None);
        assert!(feed(&mut p, 70, &[ONE_PHASE]));
    }

    #[test]
    fn learned_phases_go_stale_without_confirming_samples() {
        let mut p = VehiclePhases::default();
        feed(&mut p, 10, &[ONE_PHASE; 3]); // confirmed at 30
        assert_eq!(p.in_use(t(SINCE), t(30) + FRESH_FOR), Some(0b001));
        assert_eq!(p.in_use(t(SINCE), t(31) + FRESH_FOR), None);
        // A vehicle tapering to 3 A on L1 still confirms; one drawing nothing does not.
        assert!(!p.learn(t(SINCE), [Some(3.0), Some(0.0), Some(0.0)], 3, t(100)));
        assert!(!p.learn(t(SINCE), [Some(0.0); 3], 3, t(200)));
        assert_eq!(p.in_use(t(SINCE), t(100) + FRESH_FOR), Some(0b001));
        assert_eq!(p.in_use(t(SINCE), t(101) + FRESH_FOR), None);
        // A time before the confirmation (a clock that went back) is no use either.
        assert_eq!(p.in_use(t(SINCE), t(99)), None);
    }

    #[test]
    fn another_vehicle_starts_from_nothing() {
        let mut p = VehiclePhases::default();
        feed(&mut p, 10, &[ONE_PHASE; 3]);
        assert_eq!(p.in_use(t(SINCE), t(40)), Some(0b001));
        // The snapshot asks about the vehicle plugged in now: another one knows nothing.
        assert_eq!(p.in_use(t(35), t(40)), None);
        // A sample of the new vehicle forgets the old one's phases (and says so).
        assert!(p.learn(t(35), ONE_PHASE.map(Some), 3, t(45)));
        assert_eq!(p.in_use(t(35), t(45)), None);
        // `forget` says whether there was anything to forget.
        feed_since(&mut p, 35, 50, 3);
        assert_eq!(p.in_use(t(35), t(80)), Some(0b001));
        assert!(p.forget());
        assert_eq!(p.in_use(t(35), t(80)), None);
        assert!(!p.forget());
    }

    fn feed_since(p: &mut VehiclePhases, since: i64, from: i64, n: i64) {
        for i in 0..n {
            p.learn(t(since), ONE_PHASE.map(Some), 3, t(from + 10 * i));
        }
    }

    fn current() -> impl Strategy<Value = Option<f64>> {
        use proptest::prelude::{Just, prop_oneof};
        prop_oneof![
            Just(None),
            Just(Some(0.0)),
            (0.0..1.5f64).prop_map(Some),
            (0.0..40.0f64).prop_map(Some),
        ]
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// The safety of the learning: whatever samples came before (a single-phase vehicle
        /// learned first, when `learned_first`), right after a sample every phase it shows
        /// drawing (`UNUSED_A` or more) is counted, and learned phases hold at most
        /// `FRESH_FOR` after the last sample.
        #[test]
        fn a_phase_seen_drawing_is_always_counted(
            samples in proptest::collection::vec(
                (proptest::array::uniform3(current()), 1i64..90), 0..40),
            ask_after in 0i64..300,
            learned_first in proptest::bool::ANY,
        ) {
            let mut p = VehiclePhases::default();
            let mut at = 0;
            if learned_first {
                for _ in 0..CONFIRM_SAMPLES {
                    at += 10;
                    p.learn(t(SINCE), ONE_PHASE.map(Some), 3, t(at));
                }
                proptest::prop_assert_eq!(p.in_use(t(SINCE), t(at)), Some(0b001));
            }
            for (currents, gap) in &samples {
                at += gap;
                p.learn(t(SINCE), *currents, 3, t(at));
                if let Some(mask) = p.in_use(t(SINCE), t(at)) {
                    for (i, a) in currents.iter().enumerate() {
                        let drawing = a.is_some_and(|a| a >= UNUSED_A);
                        proptest::prop_assert!(
                            !drawing || mask & (1 << i) != 0,
                            "L{} draws {a:?} but only {mask:03b} is counted", i + 1
                        );
                    }
                }
            }
            let later = t(at + ask_after);
            if p.in_use(t(SINCE), later).is_some() {
                proptest::prop_assert!(ask_after <= FRESH_FOR.num_seconds());
            }
            // Another vehicle is never counted on what this one taught.
            proptest::prop_assert_eq!(p.in_use(t(SINCE + 1), later), None);
        }
    }
}
