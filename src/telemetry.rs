//! Counters for `GET /metrics` that no published state holds: OCPP messages per action,
//! CALLERRORs, command timeouts, guard cuts, the store's write latency.
//!
//! A low layer (beside `clock`) so that the code where each thing happens counts it with
//! one line and no handle to carry: the charger connection, the charger registry, the
//! control loop and the store thread. Process-wide atomics (one daemon per process; tests
//! that start several in one process see their sum, so they check that counters move,
//! not their absolute values). `http::monitor::metrics` reads a `snapshot()` and renders
//! it. Counting never blocks for long (a `Mutex` held for one map update) and never fails.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Distinct action labels kept per direction: every action of OCPP 1.6 and 2.0.1 fits
/// (about 90 together); the bound keeps a charger that sends made-up action names from
/// growing the map (and the scrape) without end. Later names count as `other`.
pub const MAX_ACTIONS: usize = 128;

/// Upper bounds of the store write latency histogram, in seconds: a commit with
/// `synchronous = FULL` is one fsync, 1-10 ms on an SSD, up to seconds on a tired SD card.
pub const STORE_WRITE_BUCKETS_S: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Which way an OCPP message went, seen from chargegate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// From a charger to chargegate.
    In,
    /// From chargegate to a charger.
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

type ActionCounts = BTreeMap<(Direction, String), u64>;

static CALLS: Mutex<ActionCounts> = Mutex::new(BTreeMap::new());
static CALL_ERRORS: Mutex<ActionCounts> = Mutex::new(BTreeMap::new());
static COMMAND_TIMEOUTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static GUARD_CUTS: AtomicU64 = AtomicU64::new(0);
static STORE_WRITES: Histogram = Histogram::new();

/// Counts in buckets (not cumulative here; the exposition sums them), the sum in µs.
struct Histogram {
    buckets: [AtomicU64; STORE_WRITE_BUCKETS_S.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; STORE_WRITE_BUCKETS_S.len()],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = STORE_WRITE_BUCKETS_S.iter().position(|le| seconds <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

fn bump(map: &Mutex<ActionCounts>, direction: Direction, action: &str) {
    // A panic elsewhere while holding the lock leaves a count, never a broken map.
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let key = (direction, action.to_string());
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
        return;
    }
    let distinct = map.keys().filter(|(d, _)| *d == direction).count();
    let key = if distinct < MAX_ACTIONS {
        key
    } else {
        (direction, "other".to_string())
    };
    *map.entry(key).or_insert(0) += 1;
}

/// A CALL received from a charger (`In`, its action as sent, or `unknown` when the
/// version has no such action) or sent to one (`Out`).
pub fn ocpp_call(direction: Direction, action: &str) {
    bump(&CALLS, direction, action);
}

/// A CALLERROR chargegate sent (`Out`: a CALL it refused or could not process, or a
/// malformed frame answered) or received (`In`: a charger refused one of its CALLs).
pub fn ocpp_error(direction: Direction, action: &str) {
    bump(&CALL_ERRORS, direction, action);
}

/// A command the charger did not answer within the call timeout.
pub fn command_timeout(action: &str) {
    let mut map = COMMAND_TIMEOUTS.lock().unwrap_or_else(|e| e.into_inner());
    // Commands are chargegate's own (`ChargerCommand::name`): a closed set.
    *map.entry(action.to_string()).or_insert(0) += 1;
}

/// The guard cut a charger below its plan, or deeper than its cut before.
pub fn guard_cut() {
    GUARD_CUTS.fetch_add(1, Ordering::Relaxed);
}

/// The store thread ran a job that changed the database, taking `took` (commit included).
pub fn store_write(took: Duration) {
    STORE_WRITES.observe(took);
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub calls: ActionCounts,
    pub call_errors: ActionCounts,
    pub command_timeouts: BTreeMap<String, u64>,
    pub guard_cuts: u64,
    /// Per bucket of `STORE_WRITE_BUCKETS_S`, not cumulative.
    pub store_write_buckets: Vec<u64>,
    pub store_writes: u64,
    pub store_write_seconds: f64,
}

pub fn snapshot() -> Snapshot {
    let copy = |m: &Mutex<ActionCounts>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Snapshot {
        calls: copy(&CALLS),
        call_errors: copy(&CALL_ERRORS),
        command_timeouts: COMMAND_TIMEOUTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        guard_cuts: GUARD_CUTS.load(Ordering::Relaxed),
        store_write_buckets: STORE_WRITES
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect(),
        store_writes: STORE_WRITES.count.load(Ordering::Relaxed),
        store_write_seconds: STORE_WRITES.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_actions_beyond_the_bound_count_as_other() {
        let map = Mutex::new(BTreeMap::new());
        for i in 0..MAX_ACTIONS + 10 {
            bump(&map, Direction::In, &format!("Made{i}"));
        }
        bump(&map, Direction::In, "Made0");
        bump(&map, Direction::Out, "Reset");
        let map = map.into_inner().unwrap();
        let ins = map.keys().filter(|(d, _)| *d == Direction::In).count();
        assert_eq!(ins, MAX_ACTIONS + 1, "the bound, plus `other`");
        assert_eq!(map[&(Direction::In, "other".to_string())], 10);
        assert_eq!(map[&(Direction::In, "Made0".to_string())], 2);
        assert_eq!(map[&(Direction::Out, "Reset".to_string())], 1);
    }

    #[test]
    fn a_write_lands_in_the_first_bucket_that_holds_it() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(10));
        let counts: Vec<u64> = h
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[0], 1, "0.5 ms <= 1 ms");
        assert_eq!(counts[2], 1, "3 ms <= 5 ms");
        assert_eq!(counts.iter().sum::<u64>(), 2, "10 s is only in +Inf");
        assert_eq!(h.count.load(Ordering::Relaxed), 3);
        assert_eq!(h.sum_us.load(Ordering::Relaxed), 500 + 3_000 + 10_000_000);
    }
}
