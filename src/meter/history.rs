//! Pure downsampling of readings to 1-minute summaries (per-phase max and mean current,
//! mean total power) for the store's history, which forecasting and the status page read.
//!
//! The caller passes the wall-clock minute each reading belongs to; a summary is returned
//! when a reading of a later minute arrives. Must never do IO or read the clock.

use chrono::{DateTime, Utc};

/// One minute of one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteSummary {
    pub meter_id: String,
    /// Start of the minute, UTC.
    pub minute: DateTime<Utc>,
    pub samples: u32,
    /// Per phase, in A (absolute values: the fuse sees magnitude).
    pub max_a: [Option<f64>; 3],
    pub mean_a: [Option<f64>; 3],
    pub mean_power_w: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct Acc {
    n: u32,
    max: f64,
    sum: f64,
}

/// Accumulates the readings of the current minute.
#[derive(Debug, Clone)]
pub struct MinuteAggregator {
    meter_id: String,
    minute: Option<DateTime<Utc>>,
    samples: u32,
    phases: [Acc; 3],
    power: Acc,
}

fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

impl MinuteAggregator {
    pub fn new(meter_id: String) -> Self {
        Self {
            meter_id,
            minute: None,
            samples: 0,
            phases: Default::default(),
            power: Acc::default(),
        }
    }

    /// Adds a reading taken at `at` (per-phase currents in A, total power in W); returns
    /// the previous minute's summary when `at` starts a new minute.
    pub fn add(
        &mut self,
        at: DateTime<Utc>,
        current_a: [Option<f64>; 3],
        power_w: Option<f64>,
    ) -> Option<MinuteSummary> {
        let minute = minute_of(at);
        let done = match self.minute {
            Some(m) if m != minute => self.take(),
            _ => None,
        };
        self.minute = Some(minute);
        self.samples += 1;
        for (acc, a) in self.phases.iter_mut().zip(current_a) {
            if let Some(a) = a {
                let a = a.abs();
                acc.max = if acc.n == 0 { a } else { acc.max.max(a) };
                acc.sum += a;
                acc.n += 1;
            }
        }
        if let Some(p) = power_w {
            self.power.sum += p;
            self.power.n += 1;
        }
        done
    }

    /// The summary of the minute being accumulated, and a fresh start.
    pub fn take(&mut self) -> Option<MinuteSummary> {
        let minute = self.minute.take()?;
        let summary = MinuteSummary {
            meter_id: self.meter_id.clone(),
            minute,
            samples: self.samples,
            max_a: self.phases.clone().map(|a| (a.n > 0).then_some(a.max)),
            mean_a: self
                .phases
                .clone()
                .map(|a| (a.n > 0).then(|| a.sum / f64::from(a.n))),
            mean_power_w: (self.power.n > 0).then(|| self.power.sum / f64::from(self.power.n)),
        };
        self.samples = 0;
        self.phases = Default::default();
        self.power = Acc::default();
        Some(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_is_summarised_when_the_next_begins() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_020 + s, 0).unwrap();
        let mut agg = MinuteAggregator::new("grid".into());
        // 1_800_000_020 is 20 s into a minute.
        assert!(
            agg.add(t(0), [Some(10.0), Some(-4.0), None], Some(1000.0))
                .is_none()
        );
        assert!(
            agg.add(t(10), [Some(20.0), Some(2.0), None], Some(3000.0))
                .is_none()
        );
        let s = agg.add(t(40), [Some(1.0), None, None], None).unwrap();
        assert_eq!(s.samples, 2);
        assert_eq!(s.minute, t(-20));
        assert_eq!(s.max_a, [Some(20.0), Some(4.0), None]);
        assert_eq!(s.mean_a, [Some(15.0), Some(3.0), None]);
        assert_eq!(s.mean_power_w, Some(2000.0));
        let last = agg.take().unwrap();
        assert_eq!(last.samples, 1);
        assert!(agg.take().is_none());
    }
}
