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

/// How long, in real time, a virtual clock waits for an answer on the wire before it lets
/// virtual time run on. Loopback delivers in microseconds on an idle machine; on a busy one
/// the kernel may hand packets to `ksoftirqd`, which can wait a few milliseconds for a CPU.
const ANSWER_REAL_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

impl Clock {
    /// Marks an answer as due over a socket (a Modbus response, a CALLRESULT) until the
    /// returned guard is dropped. On the system clock it does nothing. On a virtual clock
    /// under tokio's paused time it keeps virtual time from jumping ahead while the answer
    /// is still in the kernel: the paused clock advances to the next timer whenever the
    /// runtime has nothing ready, and it only knows to wait while a blocking task runs, so
    /// the guard is one, for at most `ANSWER_REAL_WAIT` of real time (a device that never
    /// answers costs that much once, then its timeout runs on virtual time as usual).
    /// Without it a busy machine turns a late packet into seconds of virtual time: a
    /// reading seen seconds late, a CALL timed out that was answered.
    pub fn answer_due(&self) -> AnswerDue {
        if !self.is_virtual() {
            return AnswerDue { _answered: None };
        }
        let (answered, wait) = std::sync::mpsc::channel::<()>();
        // The task's handle is not needed: dropping the sender ends the wait.
        drop(tokio::task::spawn_blocking(move || {
            let _ = wait.recv_timeout(ANSWER_REAL_WAIT);
        }));
        AnswerDue {
            _answered: Some(answered),
        }
    }
}

/// Held while an answer is due (`Clock::answer_due`); dropping it says the wait is over.
#[derive(Debug)]
#[must_use = "the answer is only awaited while the guard lives"]
pub struct AnswerDue {
    _answered: Option<std::sync::mpsc::Sender<()>>,
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

    /// The answer comes from another thread after 20 ms of real time, as a packet the
    /// kernel delivers late would; a timer 1 s ahead would otherwise win at once.
    #[tokio::test(start_paused = true)]
    async fn virtual_time_waits_for_an_answer_that_is_due() {
        let clock = Clock::virtual_from(crate::ocpp::time::parse("2026-12-01T16:00:00Z").unwrap());
        let t0 = clock.instant();
        let (answer, answered) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = answer.send(());
        });
        let due = clock.answer_due();
        tokio::select! {
            _ = answered => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                panic!("virtual time ran past an answer that was due")
            }
        }
        drop(due);
        assert!(clock.instant() - t0 < Duration::from_secs(1));
    }

    /// A device that never answers holds virtual time for a moment of real time only.
    #[tokio::test(start_paused = true)]
    async fn an_answer_that_never_comes_lets_virtual_time_run_on() {
        let clock = Clock::virtual_from(crate::ocpp::time::parse("2026-12-01T16:00:00Z").unwrap());
        let _due = clock.answer_due();
        let real = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(real.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_system_clock_does_not_wait_for_answers() {
        let due = Clock::system().answer_due();
        assert!(due._answered.is_none());
    }

    #[test]
    fn the_system_clock_reads_wall_time() {
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(now >= before && now <= Utc::now());
        assert!(!Clock::system().is_virtual());
    }
}
