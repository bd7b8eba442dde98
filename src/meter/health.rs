//! Pure per-meter health: last good reading, error counts, staleness, frozen values, and
//! the reconnect backoff.
//!
//! DESIGN.md S5: a meter with no good reading for `stale-after-ms` is stale, never "0 W".
//! A reading whose register image is bit-for-bit the same as the previous one does not
//! count as new: a meter whose firmware froze keeps answering with the same words, and
//! after `stale-after-ms` of that it is stale like a silent one. (A live meter's voltage
//! and frequency registers change from poll to poll, so an idle site does not freeze.)
//! Takes `now` as a parameter; must never read the clock or do IO.

use std::time::Duration;

use tokio::time::Instant;

/// The health of one meter.
#[derive(Debug, Clone)]
pub struct Health {
    stale_after: Duration,
    last_good: Option<Instant>,
    last_fingerprint: Option<u64>,
    /// Every failed poll since start (transport, exception, timeout, implausible).
    pub errors_total: u64,
    /// Failed polls since the last good one; drives the backoff.
    pub consecutive_errors: u32,
    pub last_error: Option<String>,
}

impl Health {
    pub fn new(stale_after: Duration) -> Self {
        Self {
            stale_after,
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
        let mut h = Health::new(5 * S);
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
        let mut h = Health::new(5 * S);
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
        let mut h = Health::new(5 * S);
        h.error("x".into());
        assert_eq!(h.backoff(S), S);
        h.error("x".into());
        assert_eq!(h.backoff(S), 2 * S);
        for _ in 0..20 {
            h.error("x".into());
        }
        assert_eq!(h.backoff(S), 10 * S);
    }
}
