//! The non-charger load per site phase: what the planner and the guard must leave room
//! for (DESIGN.md S1, S5).
//!
//! - A `building` meter measures everything but the chargers: its current is the load.
//! - A `grid` meter measures the whole connection, chargers included: the load is the
//!   meter's current minus each charger's measured current (from its MeterValues), mapped
//!   to site phases through the charger's phase rotation.
//! - A missing or stale meter gives `worst-case-load-a` on every phase, never 0 (S5).
//!
//! Timing caveat of the derived value: the meter is read every second, while a charger's
//! MeterValues arrive every `MeterValueSampleInterval` (often 10-60 s) and describe the
//! past. When a charger lowers its current, its last sample still shows the old, higher
//! value, so "meter minus chargers" underestimates the other load until the next sample
//! arrives — the unsafe direction. It is made safe by taking, per phase, the larger of the
//! derived value and its maximum over a short window (`LoadWindow`, which should span at
//! least the chargers' sample interval): an underestimate caused by a stale charger sample
//! is covered by the derived values seen before that charger changed. The reductions
//! chargegate itself orders are known at once: a charger's sample is subtracted at most up
//! to the lowest limit it held within the vehicle's response time (`ChargerDraw::cap`; IEC
//! 61851-1 gives the EV 5 s to follow), so a sample taken before a reduction reached the
//! vehicle (after a restart, a failsafe plan, a guard cut) cannot hide load, also when the
//! window has no history yet. While such a vehicle is still following (within the
//! response time, `ChargerDraw::settling`), the meter still carries its old draw and the
//! reading counts it as other load — it is on the fuse — but the window does not remember
//! that reading, so one cut does not shrink the room for the window's whole span. The
//! opposite lag (a charger ramping up before reporting) overestimates the load, which is
//! safe. A negative derived or measured load (PV exporting) counts as 0: production can
//! vanish with a cloud, so it is not treated as headroom. Must never do IO or read the
//! clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::MeterRole;
use crate::meter::MeterStatus;
use crate::units::{Amps, ChargerId};

/// How long a vehicle may take to follow a lower offer (IEC 61851-1: 5 s after the
/// control pilot's duty cycle changes).
pub const EV_RESPONSE: Duration = Duration::from_secs(5);

/// The default window of the short-term maximum: the usual upper end of chargers'
/// MeterValueSampleInterval.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// One charger's measured current, and the site phase each of its phases is on.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerDraw {
    /// Charger L1..L3 -> site phase index 0..3 (None: the charger has fewer phases).
    pub site_phase: [Option<usize>; 3],
    /// Measured current of the charger's L1..L3 (None: not reported).
    pub measured: [Option<Amps>; 3],
    /// The lowest limit the charger held within the vehicle's response time (None:
    /// unknown). A sample is never subtracted above it: after a reduction the vehicle
    /// draws less than its last sample says, once it has followed.
    pub cap: Option<Amps>,
    /// The limit fell within the response time: the vehicle may still draw more than
    /// `cap`, and the meter sees it (see `site_load`).
    pub settling: bool,
}

impl ChargerDraw {
    /// From the OCPP ConnectorPhaseRotation notation (`RST`, `STR`, ...: R, S, T are site
    /// L1, L2, L3), the charger's phase count and its measured currents.
    pub fn new(rotation: &str, phases: u8, measured: [Option<Amps>; 3]) -> Self {
        let mut site_phase = [None; 3];
        for (i, c) in rotation
            .chars()
            .take(usize::from(phases.min(3)))
            .enumerate()
        {
            site_phase[i] = match c {
                'R' => Some(0),
                'S' => Some(1),
                'T' => Some(2),
                _ => None,
            };
        }
        Self {
            site_phase,
            measured,
            cap: None,
            settling: false,
        }
    }

    /// The same draw, never subtracted above `cap` per phase; `settling` when the cap
    /// comes from a reduction within the response time.
    pub fn capped(mut self, cap: Option<Amps>, settling: bool) -> Self {
        self.cap = cap;
        self.settling = settling;
        self
    }
}

/// Each charger's limits over the last `span` (the vehicles' response time), for
/// `ChargerDraw::cap`: the lowest of them bounds what a sample may account for.
#[derive(Debug, Clone)]
pub struct RecentLimits {
    span: Duration,
    seen: HashMap<ChargerId, VecDeque<(Instant, Amps)>>,
}

impl RecentLimits {
    pub fn new(span: Duration) -> Self {
        Self {
            span,
            seen: HashMap::new(),
        }
    }

    /// The charger holds `limit` (per phase) from `now` on.
    pub fn record(&mut self, now: Instant, charger: &ChargerId, limit: Amps) {
        let entries = self.seen.entry(charger.clone()).or_default();
        if entries.back().is_none_or(|(_, last)| *last != limit) {
            entries.push_back((now, limit));
        }
        // Keep the entry in force at the horizon and everything after it (where the clock
        // cannot go back a whole span, keep everything: the safe side).
        if let Some(horizon) = now.checked_sub(self.span) {
            while entries.len() > 1 && entries[1].0 <= horizon {
                entries.pop_front();
            }
        }
    }

    /// The lowest limit the charger held during the last `span` (None: never seen).
    pub fn lowest(&self, charger: &ChargerId) -> Option<Amps> {
        self.seen
            .get(charger)?
            .iter()
            .map(|(_, a)| *a)
            .reduce(|a, b| if b.0 < a.0 { b } else { a })
    }

    /// Whether the charger's limit fell during the last `span`: its vehicle may still be
    /// following.
    pub fn fell(&self, charger: &ChargerId) -> bool {
        self.seen.get(charger).is_some_and(|entries| {
            entries
                .iter()
                .zip(entries.iter().skip(1))
                .any(|((_, a), (_, b))| b.0 < a.0)
        })
    }
}

/// Where the load figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Read from a building meter.
    Measured,
    /// Grid meter minus the chargers, with the short-term maximum.
    Derived,
    /// No usable meter: `worst-case-load-a`.
    WorstCase,
}

/// The non-charger load per site phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SiteLoad {
    pub per_phase: [Amps; 3],
    pub source: LoadSource,
}

/// The derived loads of the last `window`, for the short-term maximum.
#[derive(Debug, Clone)]
pub struct LoadWindow {
    window: Duration,
    entries: VecDeque<(Instant, [f64; 3])>,
}

impl LoadWindow {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            entries: VecDeque::new(),
        }
    }

    /// Adds `value` at `now` and returns the per-phase maximum over the window.
    fn push_max(&mut self, now: Instant, value: [f64; 3]) -> [f64; 3] {
        let max = self.max_with(now, value);
        self.entries.push_back((now, value));
        max
    }

    /// The per-phase maximum of the window and `value`, without remembering `value`.
    fn max_with(&mut self, now: Instant, value: [f64; 3]) -> [f64; 3] {
        while let Some((t, _)) = self.entries.front() {
            if now.saturating_duration_since(*t) > self.window {
                self.entries.pop_front();
            } else {
                break;
            }
        }
        let mut max = value;
        for (_, v) in &self.entries {
            for p in 0..3 {
                max[p] = max[p].max(v[p]);
            }
        }
        max
    }
}

/// The non-charger load per site phase at `now`. `meter` is the site-level meter's
/// status (None: no meter configured); a phase the meter does not report gets the worst
/// case too.
pub fn site_load(
    now: Instant,
    meter: Option<&MeterStatus>,
    chargers: &[ChargerDraw],
    worst_case: Amps,
    window: &mut LoadWindow,
) -> SiteLoad {
    let worst = SiteLoad {
        per_phase: [worst_case; 3],
        source: LoadSource::WorstCase,
    };
    let Some(status) = meter else { return worst };
    let Some(reading) = status.usable(now) else {
        return worst;
    };
    // A phase the meter does not report is marked infinite and gets the worst case.
    let mut per_phase = reading.current.map(|a| a.map_or(f64::INFINITY, |a| a.0));
    // A vehicle still following a cut: the meter sees its old draw, which this reading
    // counts as other load (it is on the fuse), but the window must not remember it.
    let mut settling = false;
    let source = match status.role {
        MeterRole::Building => LoadSource::Measured,
        MeterRole::Grid => {
            for c in chargers {
                for (i, site_phase) in c.site_phase.iter().enumerate() {
                    if let (Some(p), Some(Amps(a))) = (site_phase, c.measured[i]) {
                        let a = a.max(0.0);
                        let cap = c.cap.map_or(f64::INFINITY, |c| c.0.max(0.0));
                        settling |= c.settling && cap < a;
                        per_phase[*p] -= a.min(cap);
                    }
                }
            }
            LoadSource::Derived
        }
    };
    let mut clean = per_phase.map(|a| if a.is_finite() { a.max(0.0) } else { 0.0 });
    if source == LoadSource::Derived {
        clean = if settling {
            window.max_with(now, clean)
        } else {
            window.push_max(now, clean)
        };
    }
    let mut out = [Amps(0.0); 3];
    for (o, (raw, clean)) in out.iter_mut().zip(per_phase.iter().zip(clean)) {
        *o = if raw.is_infinite() {
            worst_case
        } else {
            Amps(clean)
        };
    }
    SiteLoad {
        per_phase: out,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::{MeterReading, Quantity, Values};
    use proptest::prelude::{Just, Strategy, any, prop_oneof};

    const S: Duration = Duration::from_secs(1);

    fn status(role: MeterRole, at: Instant, amps: [f64; 3]) -> MeterStatus {
        let mut v = Values::default();
        for (q, a) in [
            Quantity::CurrentL1,
            Quantity::CurrentL2,
            Quantity::CurrentL3,
        ]
        .into_iter()
        .zip(amps)
        {
            v.0.insert(q, a);
        }
        let mut s = MeterStatus::new("grid".into(), role, None, 5 * S);
        s.reading = Some(MeterReading::from_values(&v, at, false));
        s.stale = false;
        s
    }

    fn amps(load: &SiteLoad) -> [f64; 3] {
        load.per_phase.map(|a| a.0)
    }

    #[test]
    fn building_meter_is_read_directly_and_stale_means_worst_case() {
        let t0 = Instant::now();
        let mut w = LoadWindow::new(DEFAULT_WINDOW);
        let s = status(MeterRole::Building, t0, [10.0, 20.0, -3.0]);
        let load = site_load(t0, Some(&s), &[], Amps(150.0), &mut w);
        assert_eq!(load.source, LoadSource::Measured);
        assert_eq!(amps(&load), [10.0, 20.0, 0.0]);
        let load = site_load(t0 + 5 * S, Some(&s), &[], Amps(150.0), &mut w);
        assert_eq!(load.source, LoadSource::WorstCase);
        assert_eq!(amps(&load), [150.0; 3]);
        assert_eq!(
            site_load(t0, None, &[], Amps(150.0), &mut w).source,
            LoadSource::WorstCase
        );
        let mut stale = s.clone();
        stale.stale = true;
        assert_eq!(
            amps(&site_load(t0, Some(&stale), &[], Amps(150.0), &mut w)),
            [150.0; 3]
        );
    }

    #[test]
    fn grid_meter_minus_chargers_through_their_rotation() {
        let t0 = Instant::now();
        let mut w = LoadWindow::new(DEFAULT_WINDOW);
        let s = status(MeterRole::Grid, t0, [50.0, 60.0, 70.0]);
        let three = ChargerDraw::new("RST", 3, [Some(Amps(16.0)); 3]);
        // A single-phase charger with rotation STR: its L1 is on site L2.
        let single = ChargerDraw::new("STR", 1, [Some(Amps(10.0)), None, None]);
        assert_eq!(single.site_phase, [Some(1), None, None]);
        let load = site_load(t0, Some(&s), &[three, single], Amps(150.0), &mut w);
        assert_eq!(load.source, LoadSource::Derived);
        assert_eq!(amps(&load), [34.0, 34.0, 54.0]);
    }

    #[test]
    fn a_sample_is_never_subtracted_above_the_charger_s_lowest_recent_limit() {
        // chargegate restarted (no window history) and cut a charger to 6 A; its last
        // sample, taken before the vehicle followed, says 30 A. Meter: 20 A other + 6 A.
        let t0 = Instant::now();
        let mut w = LoadWindow::new(DEFAULT_WINDOW);
        let meter = status(MeterRole::Grid, t0, [26.0; 3]);
        let sample = [Some(Amps(30.0)); 3];
        let naive = site_load(
            t0,
            Some(&meter),
            &[ChargerDraw::new("RST", 3, sample)],
            Amps(150.0),
            &mut LoadWindow::new(DEFAULT_WINDOW),
        );
        assert_eq!(amps(&naive), [0.0; 3], "what an uncapped sample would hide");
        let capped = ChargerDraw::new("RST", 3, sample).capped(Some(Amps(6.0)), true);
        let load = site_load(t0, Some(&meter), &[capped], Amps(150.0), &mut w);
        assert_eq!(amps(&load), [20.0; 3]);
        // A cap above the sample changes nothing.
        let loose =
            ChargerDraw::new("RST", 3, [Some(Amps(6.0)); 3]).capped(Some(Amps(32.0)), false);
        let load = site_load(t0, Some(&meter), &[loose], Amps(150.0), &mut w);
        assert_eq!(amps(&load), [20.0; 3]);
    }

    #[test]
    fn recent_limits_keep_the_lowest_within_the_response_time() {
        let t0 = Instant::now();
        let cp = ChargerId::new("CP-1").unwrap();
        let mut r = RecentLimits::new(EV_RESPONSE);
        assert_eq!(r.lowest(&cp), None);
        r.record(t0, &cp, Amps(32.0));
        r.record(t0 + S, &cp, Amps(6.0));
        r.record(t0 + 2 * S, &cp, Amps(16.0));
        assert_eq!(r.lowest(&cp), Some(Amps(6.0)));
        // 6 A ended at 2 s: still within 5 s at 6.9 s, gone at 7.1 s.
        r.record(t0 + 6 * S + 900 * S / 1000, &cp, Amps(16.0));
        assert_eq!(r.lowest(&cp), Some(Amps(6.0)));
        r.record(t0 + 7 * S + 100 * S / 1000, &cp, Amps(16.0));
        assert_eq!(r.lowest(&cp), Some(Amps(16.0)));
    }

    #[test]
    fn a_vehicle_following_a_cut_counts_now_but_is_not_remembered() {
        let t0 = Instant::now();
        let mut w = LoadWindow::new(DEFAULT_WINDOW);
        let meter = |t, a| status(MeterRole::Grid, t, [a; 3]);
        let sample = [Some(Amps(30.0)); 3];
        let steady = ChargerDraw::new("RST", 3, sample).capped(Some(Amps(32.0)), false);
        let l = site_load(t0, Some(&meter(t0, 50.0)), &[steady], Amps(150.0), &mut w);
        assert_eq!(amps(&l), [20.0; 3]);
        // Cut to 6 A: for a moment the vehicle still draws 30 A; the fuse carries it.
        let cut = ChargerDraw::new("RST", 3, sample).capped(Some(Amps(6.0)), true);
        let t1 = t0 + S;
        let l = site_load(
            t1,
            Some(&meter(t1, 50.0)),
            std::slice::from_ref(&cut),
            Amps(150.0),
            &mut w,
        );
        assert_eq!(amps(&l), [44.0; 3]);
        // Once it followed, the other load is 20 A again, not the 44 A of that moment.
        let t2 = t0 + 2 * S;
        let l = site_load(t2, Some(&meter(t2, 26.0)), &[cut], Amps(150.0), &mut w);
        assert_eq!(amps(&l), [20.0; 3]);
    }

    #[test]
    fn a_fall_is_settling_for_the_response_time_only() {
        let t0 = Instant::now();
        let cp = ChargerId::new("CP-1").unwrap();
        let mut r = RecentLimits::new(EV_RESPONSE);
        r.record(t0, &cp, Amps(6.0));
        r.record(t0 + S, &cp, Amps(16.0));
        assert!(!r.fell(&cp), "a rise is not a fall");
        r.record(t0 + 2 * S, &cp, Amps(10.0));
        assert!(r.fell(&cp));
        r.record(t0 + 8 * S, &cp, Amps(10.0));
        assert!(!r.fell(&cp), "followed by now");
    }

    #[test]
    fn a_lagging_charger_sample_is_covered_by_the_short_term_max() {
        let t0 = Instant::now();
        let mut w = LoadWindow::new(10 * S);
        // Other load 20 A, charger draws 30 A: meter 50 A.
        let c = |a| [ChargerDraw::new("RST", 3, [Some(Amps(a)); 3])];
        let l = site_load(
            t0,
            Some(&status(MeterRole::Grid, t0, [50.0; 3])),
            &c(30.0),
            Amps(150.0),
            &mut w,
        );
        assert_eq!(amps(&l), [20.0; 3]);
        // The charger drops to 6 A; its last MeterValues still say 30 A. The meter shows
        // 26 A; naive derivation would say -4 A of other load.
        let t1 = t0 + 2 * S;
        let l = site_load(
            t1,
            Some(&status(MeterRole::Grid, t1, [26.0; 3])),
            &c(30.0),
            Amps(150.0),
            &mut w,
        );
        assert_eq!(amps(&l), [20.0; 3], "the window keeps the earlier 20 A");
        // After the window, with a fresh charger sample, the derived value is used again.
        let t2 = t0 + 13 * S;
        let l = site_load(
            t2,
            Some(&status(MeterRole::Grid, t2, [21.0; 3])),
            &c(6.0),
            Amps(150.0),
            &mut w,
        );
        assert_eq!(amps(&l), [15.0; 3]);
    }

    #[test]
    fn a_phase_the_meter_does_not_report_gets_the_worst_case() {
        let t0 = Instant::now();
        let mut w = LoadWindow::new(DEFAULT_WINDOW);
        let mut s = status(MeterRole::Building, t0, [5.0, 5.0, 5.0]);
        if let Some(r) = s.reading.as_mut() {
            r.current[2] = None;
        }
        assert_eq!(
            amps(&site_load(t0, Some(&s), &[], Amps(99.0), &mut w)),
            [5.0, 5.0, 99.0]
        );
    }

    /// One charger of a random site: rotation, phases, the limit before and after a
    /// change within the response time, what its vehicle wants, whether the vehicle has
    /// followed the change, and whether its last sample was taken after it followed.
    fn charger_case() -> impl Strategy<Value = (usize, bool, f64, f64, f64, bool, bool)> {
        // S4: dispatch only ever sends 0 or at least the 6 A minimum.
        let limit = prop_oneof![Just(0.0), 6.0..32.0f64];
        (
            0..6usize,
            any::<bool>(),
            limit.clone(),
            limit,
            0.0..32.0f64,
            any::<bool>(),
            any::<bool>(),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// S1 input: with no window history to fall back on, the derived other load is
        /// never below the true other load, whatever the chargers' limits did within the
        /// vehicles' response time and whenever their samples were taken.
        #[test]
        fn the_derived_load_never_hides_other_load(
            other in proptest::array::uniform3(0.0..200.0f64),
            chargers in proptest::collection::vec(charger_case(), 1..10),
        ) {
            const ROTATIONS: [&str; 6] = ["RST", "RTS", "SRT", "STR", "TRS", "TSR"];
            let t0 = Instant::now();
            let now = t0 + 2 * S;
            let mut recent = RecentLimits::new(EV_RESPONSE);
            let mut meter = other;
            let mut draws = Vec::new();
            for (i, &(rotation, single, before, after, want, followed, sampled_after)) in
                chargers.iter().enumerate()
            {
                let id = ChargerId::new(format!("CP-{i}")).unwrap();
                recent.record(t0, &id, Amps(before));
                recent.record(t0 + S, &id, Amps(after));
                // IEC 61851-1: no charging below a 6 A offer.
                let draw = |offer: f64| if offer < 6.0 { 0.0 } else { want.min(offer) };
                let actual = draw(if followed { after } else { before });
                let sample = draw(if sampled_after && followed { after } else { before });
                let phases: u8 = if single { 1 } else { 3 };
                let c = ChargerDraw::new(ROTATIONS[rotation], phases, [Some(Amps(sample)); 3])
                    .capped(recent.lowest(&id), recent.fell(&id));
                for p in c.site_phase.iter().flatten() {
                    meter[*p] += actual;
                }
                draws.push(c);
            }
            let reading = status(MeterRole::Grid, now, meter);
            let mut window = LoadWindow::new(DEFAULT_WINDOW);
            let load = site_load(now, Some(&reading), &draws, Amps(500.0), &mut window);
            for (p, (derived, truth)) in load.per_phase.iter().zip(other).enumerate() {
                proptest::prop_assert!(
                    derived.0 >= truth - 1e-9,
                    "phase {p}: derived {} < true {truth}", derived.0
                );
            }
        }
    }
}
