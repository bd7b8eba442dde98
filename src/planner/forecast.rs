//! Forecast of the non-charger load per circuit, phase and slot.
//!
//! `LoadHistory` keeps recent readings per circuit in buckets of weekday x 15 minutes of the
//! day; the forecast for a later slot is a high quantile (90 %) of its bucket, the current
//! slot uses the live reading. A bucket without enough history is forecast at the live
//! reading; a stale circuit at its worst case (S5). The guard covers a load that beats the
//! forecast. Pure: readings and times come in as values. The control loop keeps the history
//! in memory; at start-up the daemon seeds it from the store's 1-minute meter history
//! (`daemon::stored_history`).

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::site::SiteSnapshot;
use crate::units::Amps;

/// Bucket width, in minutes of the day.
const BUCKET_MIN: u32 = 15;
/// Samples kept per bucket (the most recent ones).
const KEEP: usize = 64;
/// A bucket needs this many samples before it is trusted over the live reading.
const MIN_SAMPLES: usize = 4;
/// The quantile used: the planner should rarely meet a load above its forecast.
const QUANTILE: f64 = 0.9;

/// Readings per circuit id, weekday (0 = Monday) and 15-minute bucket of the day.
#[derive(Debug, Clone, Default)]
pub struct LoadHistory {
    buckets: BTreeMap<(String, u8, u16), VecDeque<[f64; 3]>>,
}

fn bucket_of(at: DateTime<Utc>) -> (u8, u16) {
    let weekday = at.weekday().num_days_from_monday() as u8;
    let minute = at.hour() * 60 + at.minute();
    (weekday, (minute / BUCKET_MIN) as u16)
}

impl LoadHistory {
    /// Records one good reading (stale readings are not history).
    pub fn record(&mut self, circuit: &str, at: DateTime<Utc>, per_phase: [Amps; 3]) {
        let (weekday, bucket) = bucket_of(at);
        let samples = self
            .buckets
            .entry((circuit.to_string(), weekday, bucket))
            .or_default();
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(per_phase.map(|a| a.0));
    }

    /// The quantile of a bucket, per phase, if it has enough samples.
    pub fn quantile(&self, circuit: &str, at: DateTime<Utc>) -> Option<[f64; 3]> {
        let (weekday, bucket) = bucket_of(at);
        let samples = self.buckets.get(&(circuit.to_string(), weekday, bucket))?;
        if samples.len() < MIN_SAMPLES {
            return None;
        }
        Some(std::array::from_fn(|p| {
            let mut v: Vec<f64> = samples.iter().map(|s| s[p]).collect();
            v.sort_by(f64::total_cmp);
            let idx = ((v.len() - 1) as f64 * QUANTILE).ceil() as usize;
            v[idx.min(v.len() - 1)]
        }))
    }

    /// Forecast non-charger load: circuit x slot x phase, in A.
    pub fn forecast(
        &self,
        snap: &SiteSnapshot,
        start: DateTime<Utc>,
        slot_min: u32,
        slots: usize,
    ) -> Vec<Vec<[f64; 3]>> {
        (0..snap.circuits.len())
            .map(|c| {
                let live: [f64; 3] = std::array::from_fn(|p| snap.assumed_load(c, p));
                (0..slots)
                    .map(|t| {
                        if t == 0 || snap.circuits[c].stale {
                            return live;
                        }
                        let at = start + chrono::Duration::minutes(i64::from(slot_min) * t as i64);
                        self.quantile(&snap.circuits[c].id, at).unwrap_or(live)
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn quantile_needs_enough_samples_and_picks_a_high_one() {
        let mut h = LoadHistory::default();
        let monday_8 = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        for (i, a) in [10.0, 20.0, 30.0].iter().enumerate() {
            h.record(
                "site",
                monday_8 + chrono::Duration::weeks(i as i64),
                [Amps(*a); 3],
            );
        }
        assert_eq!(
            h.quantile("site", monday_8),
            None,
            "3 samples are not enough"
        );
        h.record(
            "site",
            monday_8 + chrono::Duration::minutes(5),
            [Amps(100.0); 3],
        );
        assert_eq!(h.quantile("site", monday_8), Some([100.0; 3]));
        // Another weekday and another time of day have no history.
        assert_eq!(
            h.quantile("site", monday_8 + chrono::Duration::days(1)),
            None
        );
        assert_eq!(
            h.quantile("site", monday_8 + chrono::Duration::hours(1)),
            None
        );
    }
}
