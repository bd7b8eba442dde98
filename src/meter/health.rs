//! Pure per-meter health: last good reading, error counts, staleness, frozen values, the
//! changes of staleness worth a log line, and the reconnect backoff.
//!
//! DESIGN.md S5: a meter with no good reading for `stale-after-ms` is stale, never "0 W".
//! A reading whose register image is bit-for-bit the same as the previous one does not
//! count as new: a meter whose firmware froze keeps answering with the same words, and
//! after `stale-after-ms` of that it is stale like a silent one. (A live meter's voltage
//! and frequency registers change from poll to poll, so an idle site does not freeze.)
//!
//! `staleness_change` reports each change once: going stale (a meter that never answered
//! counts as stale from its start, but is reported only once it had `stale-after-ms` to
//! answer), and reading again with how long the meter was stale, so the journal shows
//! one line each way however often the meter is polled meanwhile.
//! Takes `now` as a parameter; must never read the clock or do IO.

use std::time::Duration;

use tokio::time::Instant;

/// A change of a meter's staleness, reported once (`Health::staleness_change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleChange {
    /// No new good reading for `stale-after-ms` (or none since the start).
    WentStale,
    /// A new good reading after `stale_for` without one (from when it went stale).
    ReadingAgain { stale_for: Duration },
}

/// The health of one meter.
#[derive(Debug, Clone)]
pub struct Health {
    stale_after: Duration,
    /// When polling began: a meter that never answered is stale from here.
    started: Instant,
    /// Since when the meter is stale, once that was reported; `None` while it is not.
    reported_stale_since: Option<Instant>,
    last_good: Option<Instant>,
    last_fingerprint: Option<u64>,
    /// Every failed poll since start (transport, exception, timeout, implausible).
    pub errors_total: u64,
    /// Failed polls since the last good one; drives the backoff.
    pub consecutive_errors: u32,
    pub last_error: Option<String>,
}

impl Health {
    pub fn new(stale_after: Duration, started: Instant) -> Self {
        Self {
            stale_after,
            started,
            reported_stale_since: None,
            last_good: None,
            last_fingerprint: None,
            errors_total: 0,
            consecutive_errors: 0,
            last_error: None,
        }
    }

    /// Records an answer whose values decoded and passed the plausibility check.
    /// Returns false when the answer is a repeat of the previous image (frozen).
    pub fn good(&mut self, now: Instant, fingerprint: u64) -> bool {
        self.consecutive_errors = 0;
        if self.last_fingerprint == Some(fingerprint) {
            return false;
        }
        self.last_fingerprint = Some(fingerprint);
        self.last_good = Some(now);
        self.last_error = None;
        true
    }

    /// Records a failed poll.
    pub fn error(&mut self, message: String) {
        self.errors_total += 1;
        self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        self.last_error = Some(message);
    }

    /// When the last new good reading arrived.
    pub fn last_good(&self) -> Option<Instant> {
        self.last_good
    }

    /// Stale: no new good reading within `stale-after-ms` (or none yet).
    pub fn is_stale(&self, now: Instant) -> bool {
        match self.last_good {
            None => true,
            Some(t) => now.saturating_duration_since(t) >= self.stale_after,
        }
    }

    /// The change of staleness at `now` not reported yet, if any: `WentStale` once when
    /// the meter turns stale, `ReadingAgain` once when it has a new good reading after.
    /// A meter that has not answered since its start is not reported before it had
    /// `stale-after-ms` to answer (it is still stale for the site, S5).
    pub fn staleness_change(&mut self, now: Instant) -> Option<StaleChange> {
        let stale = self.is_stale(now);
        match self.reported_stale_since {
            None if stale => {
                // Stale since the last good reading's end of life, or since the start.
                let since = self
                    .last_good
                    .map_or(self.started, |t| t + self.stale_after);
                if self.last_good.is_none() && now < self.started + self.stale_after {
                    return None;
                }
                self.reported_stale_since = Some(since);
                Some(StaleChange::WentStale)
            }
            Some(since) if !stale => {
                self.reported_stale_since = None;
                let stale_for = now.saturating_duration_since(since);
                Some(StaleChange::ReadingAgain { stale_for })
            }
            _ => None,
        }
    }

    /// How long to wait before reconnecting after a transport failure: doubles from the
    /// poll interval up to 10 s, so a meter that comes back is used again within 10 s
    /// while a dead one is not hammered.
    pub fn backoff(&self, poll_interval: Duration) -> Duration {
        backoff(self.consecutive_errors, poll_interval)
    }
}

/// The wait after `failures` consecutive failures: the poll interval, doubled per further
/// failure, at most 10 s.
pub fn backoff(failures: u32, poll_interval: Duration) -> Duration {
    const MAX: Duration = Duration::from_secs(10);
    let shift = failures.saturating_sub(1).min(8);
    poll_interval.saturating_mul(1 << shift).min(MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn stale_until_first_reading_then_after_silence() {
        let t0 = Instant::now();
        let mut h = Health::new(5 * S, Instant::now());
        assert!(h.is_stale(t0));
        assert!(h.good(t0, 1));
        assert!(!h.is_stale(t0 + 4 * S));
        h.error("timeout".into());
        assert!(!h.is_stale(t0 + 4 * S), "one error does not make it stale");
        assert!(h.is_stale(t0 + 5 * S));
        assert!(h.good(t0 + 6 * S, 2));
        assert!(!h.is_stale(t0 + 6 * S));
        assert_eq!(h.errors_total, 1);
        assert_eq!(h.consecutive_errors, 0);
    }

    #[test]
    fn frozen_values_go_stale() {
        let t0 = Instant::now();
        let mut h = Health::new(5 * S, Instant::now());
        assert!(h.good(t0, 7));
        for i in 1..=5 {
            assert!(!h.good(t0 + i * S, 7));
        }
        assert!(h.is_stale(t0 + 5 * S));
        assert!(h.good(t0 + 6 * S, 8));
        assert!(!h.is_stale(t0 + 6 * S));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut h = Health::new(5 * S, Instant::now());
        h.error("x".into());
        assert_eq!(h.backoff(S), S);
        h.error("x".into());
        assert_eq!(h.backoff(S), 2 * S);
        for _ in 0..20 {
            h.error("x".into());
        }
        assert_eq!(h.backoff(S), 10 * S);
    }

    /// Polls every second through `script` (good reading with an image id, or an error)
    /// and returns the changes reported, with the second they were reported in.
    fn changes(script: &[Option<u64>]) -> Vec<(u32, StaleChange)> {
        let t0 = Instant::now();
        let mut h = Health::new(3 * S, t0);
        let mut out = Vec::new();
        for (i, poll) in (0u32..).zip(script) {
            let now = t0 + i * S;
            match poll {
                Some(image) => {
                    h.good(now, *image);
                }
                None => h.error("timeout".into()),
            }
            if let Some(change) = h.staleness_change(now) {
                out.push((i, change));
            }
        }
        out
    }

    #[test]
    fn going_stale_and_reading_again_are_each_reported_once() {
        // Good at 0-2, silent 3-9 (stale from 2 + 3 = 5), good again at 10-12, silent 13-17
        // (stale from 12 + 3 = 15), good at 18.
        let mut script = vec![Some(1), Some(2), Some(3)];
        script.extend([None; 7]);
        script.extend([Some(4), Some(5), Some(6)]);
        script.extend([None; 5]);
        script.push(Some(7));
        let again = |s| StaleChange::ReadingAgain {
            stale_for: Duration::from_secs(s),
        };
        assert_eq!(
            changes(&script),
            vec![
                (5, StaleChange::WentStale),
                (10, again(5)),
                (15, StaleChange::WentStale),
                (18, again(3)),
            ]
        );
    }

    #[test]
    fn a_frozen_meter_is_reported_stale_once_and_reading_again_once() {
        // The same image from 1 to 7 is not new: stale from 0 + 3 = 3 until 8.
        let mut script = vec![Some(1); 8];
        script.push(Some(2));
        script.push(Some(3));
        let changes = changes(&script);
        assert_eq!(
            changes,
            vec![
                (3, StaleChange::WentStale),
                (8, StaleChange::ReadingAgain { stale_for: 5 * S }),
            ]
        );
    }

    #[test]
    fn a_meter_that_never_answered_is_reported_once_it_had_time_to() {
        // Silent from the start: stale for the site at once, reported after 3 s.
        let mut script = vec![None; 6];
        script.push(Some(1));
        assert_eq!(
            changes(&script),
            vec![
                (3, StaleChange::WentStale),
                (6, StaleChange::ReadingAgain { stale_for: 6 * S }),
            ]
        );
        // A first reading within `stale-after-ms` of the start is not a recovery.
        assert_eq!(changes(&[None, Some(1), Some(2)]), vec![]);
    }
}
