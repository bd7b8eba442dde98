//! Which chargers counted on their vehicle's learned phases (`learned_phases`) should be
//! asked for a sample now: those that may have just switched a phase on.
//!
//! A narrowed charger's limit is not counted on the phases its vehicle was not drawing on.
//! If the vehicle switches one on, the grid meter carries its draw at the next reading and
//! the derivation takes it for other load, so the guard cuts for the draw at once; but its
//! *limit* counts there only from the charger's next sample, which shows the new phase
//! (`VehiclePhases::learn` then widens the count). Until then S1 on that phase is short by
//! the limit less the draw, for up to one `MeterValueSampleInterval` (often 60 s). So a
//! rise of the derived other load on a phase, at least the smallest draw of a vehicle on a phase
//! (`RISE_A`), asks every narrowed charger below that meter that is wired to that phase
//! but not counted on it for a sample (TriggerMessage MeterValues, sent by dispatch): the
//! gap shrinks to a round trip. A rise of the building load asks too; a sample more is
//! all it costs.
//!
//! Pure: the caller passes the time of each reading.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};

use super::{ReadingDetail, SiteState};
use crate::config;
use crate::units::{Amps, ChargerId};

/// A rise of the unexplained load on a phase by this much within `RISE_WINDOW` may be a
/// vehicle switching that phase on, in A: IEC 61851-1's 6 A minimum draw on a phase in
/// use, less 1 A for the meter's rounding and a ramp not finished at the reading.
pub const RISE_A: f64 = 5.0;
/// How far back a rise is measured from the lowest reading: a vehicle's ramp takes up to
/// 5 s (IEC 61851-1), and the readings come every second or so.
const RISE_WINDOW: TimeDelta = TimeDelta::seconds(10);
/// A charger is asked again no sooner than this: the load stays risen over the whole
/// window, and its answer takes a round trip.
const ASK_AGAIN: TimeDelta = TimeDelta::seconds(10);
/// How long a wish for a sample stands (dispatch may be busy for a moment).
const WANTED_FOR: TimeDelta = TimeDelta::seconds(30);

/// A reading's time and its unexplained load per site phase, in A.
type Reading = (DateTime<Utc>, [f64; 3]);

/// The recent unexplained load per metered circuit, and the chargers to ask.
#[derive(Debug, Clone, Default)]
pub struct SwitchWatch {
    /// Per circuit id: (time, unexplained load per site phase in A), oldest first, within
    /// `RISE_WINDOW`.
    recent: HashMap<String, VecDeque<Reading>>,
    /// Chargers to ask for a sample, with the time of the rise that asked.
    wanted: BTreeMap<ChargerId, DateTime<Utc>>,
}

impl SwitchWatch {
    /// Takes a reading of circuit `circuit`'s derived non-charger load (`None`: stale) at
    /// `at`; returns the phases on which it rose by at least `RISE_A` over the lowest
    /// reading of the last `RISE_WINDOW`. The part of a rise put down to a vehicle's ramp
    /// after chargegate's own increase (`CircuitNode::unconfirmed`) is left out, or every
    /// increase would ask the chargers on other phases: a switch hidden so joins the
    /// derived load when the attribution ends (`site::load::MAX_ATTRIBUTION`) and asks then.
    pub fn rising(
        &mut self,
        circuit: &str,
        load: Option<[f64; 3]>,
        at: DateTime<Utc>,
    ) -> [bool; 3] {
        let Some(load) = load else {
            // A stale meter: the site runs on worst cases (S5); start afresh after it.
            self.recent.remove(circuit);
            return [false; 3];
        };
        let window = self.recent.entry(circuit.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|(t, _)| *t < at - RISE_WINDOW || *t > at)
        {
            window.pop_front();
        }
        window.push_back((at, load));
        std::array::from_fn(|p| {
            let lowest = window
                .iter()
                .map(|(_, l)| l[p])
                .fold(f64::INFINITY, f64::min);
            load[p] - lowest >= RISE_A
        })
    }

    /// Asks for a sample of `charger` for a rise at `at`, unless it was asked less than
    /// `ASK_AGAIN` before.
    pub fn want(&mut self, charger: &ChargerId, at: DateTime<Utc>) {
        let again = self
            .wanted
            .get(charger)
            .is_none_or(|asked| at - *asked >= ASK_AGAIN);
        if again {
            self.wanted.insert(charger.clone(), at);
        }
    }

    /// The chargers to ask for a sample at `now`, each with the time of the rise that asked
    /// (dispatch asks once per time); older wishes are dropped.
    pub fn wanted(&mut self, now: DateTime<Utc>) -> BTreeMap<ChargerId, DateTime<Utc>> {
        self.wanted.retain(|_, at| now - *at < WANTED_FOR);
        self.wanted.clone()
    }
}

impl SiteState {
    /// As `apply_reading`, for a reading taken at `at`: a rise of the derived load on a
    /// phase asks the chargers below that circuit that are counted off that phase, on
    /// their vehicle's learned phases, for a sample (`switch_watch`).
    pub fn apply_reading_at(
        &mut self,
        circuit: Option<&str>,
        per_phase: Option<[Amps; 3]>,
        detail: ReadingDetail,
        at: DateTime<Utc>,
    ) -> bool {
        if !self.apply_reading(circuit, per_phase, detail) {
            return false;
        }
        // Nothing to watch where no count may narrow (`learn-vehicle-phases` off, or no
        // charger behind grid meters only): no window, no work per reading.
        if !self.learned.may_narrow_any() {
            return true;
        }
        let id = circuit.unwrap_or(config::SITE_CIRCUIT);
        let load = per_phase.map(|l| l.map(|a| a.0));
        let rising = self.switch_watch.rising(id, load, at);
        if rising.iter().any(|r| *r) {
            self.ask_switched(id, rising, at);
        }
        true
    }

    /// Asks for a sample of every charger below circuit `id` wired to a `rising` phase
    /// but counted off it now.
    fn ask_switched(&mut self, id: &str, rising: [bool; 3], at: DateTime<Utc>) {
        let Some(circuit) = self.snapshot.circuits.iter().position(|c| c.id == id) else {
            return;
        };
        for wired in &self.snapshot.chargers {
            if !self.snapshot.chain(wired.circuit).contains(&circuit) {
                continue;
            }
            let mut counted = wired.clone();
            self.learned.narrow(&mut counted, at);
            let off_a_rising_phase =
                (0..3).any(|p| rising[p] && wired.wired_phases[p] && !counted.site_phases[p]);
            if off_a_rising_phase {
                self.switch_watch.want(&wired.id, at);
            }
        }
    }

    /// The chargers to ask for a sample at `now`, with the time of the rise that asked
    /// (`switch_watch`).
    pub fn samples_wanted(&mut self, now: DateTime<Utc>) -> BTreeMap<ChargerId, DateTime<Utc>> {
        self.switch_watch.wanted(now)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 22, 0, 0).unwrap() + TimeDelta::seconds(s)
    }

    #[test]
    fn a_rise_over_the_lowest_reading_of_the_window_is_seen_until_it_leaves_the_window() {
        let mut w = SwitchWatch::default();
        assert_eq!(w.rising("site", Some([20.0; 3]), t(0)), [false; 3]);
        // A ramp over three readings: 2 A, then 4 A, then 7 A over the lowest.
        assert_eq!(w.rising("site", Some([22.0, 20.0, 20.0]), t(1)), [false; 3]);
        assert_eq!(w.rising("site", Some([24.0, 20.0, 20.0]), t(2)), [false; 3]);
        assert_eq!(
            w.rising("site", Some([27.0, 20.5, 19.0]), t(3)),
            [true, false, false]
        );
        // Still risen while the 20 A reading is in the window, no longer once it left.
        assert_eq!(
            w.rising("site", Some([27.0, 20.0, 20.0]), t(10)),
            [true, false, false]
        );
        assert_eq!(
            w.rising("site", Some([27.0, 20.0, 20.0]), t(14)),
            [false; 3]
        );
        // A stale reading starts afresh; another circuit has its own window.
        assert_eq!(w.rising("board", Some([0.0; 3]), t(14)), [false; 3]);
        assert_eq!(w.rising("site", None, t(15)), [false; 3]);
        assert_eq!(w.rising("site", Some([40.0; 3]), t(16)), [false; 3]);
        assert_eq!(w.rising("board", Some([6.0; 3]), t(16)), [true; 3]);
    }

    #[test]
    fn a_charger_is_asked_once_per_rise_and_the_wish_lapses() {
        let mut w = SwitchWatch::default();
        let a = ChargerId::new("A").unwrap();
        w.want(&a, t(0));
        w.want(&a, t(5));
        assert_eq!(w.wanted(t(5)).get(&a), Some(&t(0)), "asked again too soon");
        w.want(&a, t(10));
        assert_eq!(w.wanted(t(10)).get(&a), Some(&t(10)));
        assert!(w.wanted(t(40)).is_empty(), "a wish 30 s old lapses");
    }
}
