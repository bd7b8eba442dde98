//! The daemon's one clock: wall time for timestamps and plans, and tokio's monotonic
//! `Instant` for timeouts and ages.
//!
//! Every task that reads time gets a `Clock` (issue: virtual time for the whole daemon).
//! In production it is `Clock::system()`: `Utc::now()` for wall time (so NTP corrections
//! after a gateway booted without an RTC are followed) and `tokio::time::Instant` for
//! durations. In tests and simulations it is `Clock::virtual_from(start)`: wall time is
//! `start` plus the tokio time elapsed since the clock was made, so under tokio's paused
//! clock (`start_paused`, `time::advance`) a whole depot day runs in seconds and every run
//! of a seed is the same. Deciding code never holds a `Clock`: it takes `now` as a value.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Where time comes from. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    source: Source,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    System,
    Virtual {
        origin_wall: DateTime<Utc>,
        origin: Instant,
    },
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Self {
            source: Source::System,
        }
    }

    /// A clock that reads `start` now and then moves with tokio's clock (which a test may
    /// pause and advance). Must be called inside the runtime whose time it follows.
    pub fn virtual_from(start: DateTime<Utc>) -> Self {
        Self {
            source: Source::Virtual {
                origin_wall: start,
                origin: Instant::now(),
            },
        }
    }

    /// Wall time now (UTC).
    pub fn now(&self) -> DateTime<Utc> {
        match self.source {
            Source::System => Utc::now(),
            Source::Virtual {
                origin_wall,
                origin,
            } => {
                let elapsed = Instant::now().saturating_duration_since(origin);
                origin_wall + chrono::TimeDelta::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
            }
        }
    }

    /// Monotonic time now, for deadlines and ages (tokio's, so it pauses with the runtime).
    pub fn instant(&self) -> Instant {
        Instant::now()
    }

    /// Whether this clock is virtual (tests, simulations, `demo`).
    pub fn is_virtual(&self) -> bool {
        matches!(self.source, Source::Virtual { .. })
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_virtual_clock_moves_with_the_paused_runtime_only() {
        let start = crate::ocpp::time::parse("2026-12-01T16:00:00Z").unwrap();
        let clock = Clock::virtual_from(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now(), start + chrono::TimeDelta::hours(1));
        let t0 = clock.instant();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(clock.instant() - t0, Duration::from_millis(1500));
        assert_eq!(
            clock.now(),
            start + chrono::TimeDelta::hours(1) + chrono::TimeDelta::milliseconds(1500)
        );
    }

    #[test]
    fn the_system_clock_reads_wall_time() {
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(now >= before && now <= Utc::now());
        assert!(!Clock::system().is_virtual());
    }
}
