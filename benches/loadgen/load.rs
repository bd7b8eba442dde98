//! The load: N simulated chargers (`chargegate::sim::SimChargePoint`) over loopback
//! WebSocket, each connected, booted and in a transaction before the measured window opens,
//! then in a closed loop: the next MeterValues (1.6) or TransactionEvent Updated (2.0.1) as
//! soon as the last one was answered, until the window closes. Records every round trip.
//!
//! Knows nothing of which server it loads: chargegate and the echo server get the same calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::target::{ID_TAG, PASSWORD};

/// How long one call may take. Generous: 100 chargers booting at once queue on two cores,
/// and a message that takes this long is a failure worth reporting, not a slow sample.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Chargers in their handshake, boot and transaction start at once: a whole depot
/// reconnecting at the same instant is not the load measured here.
const SETUP_CONCURRENCY: usize = 16;
/// Energy added per reading (Wh): the register must rise, as a real meter's does.
const ENERGY_STEP_WH: f64 = 10.0;
/// The per-phase currents every reading reports (A).
const CURRENTS_A: [f64; 3] = [16.0, 16.0, 16.0];

/// Which OCPP versions the chargers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    V16,
    V201,
    /// Even-numbered chargers 1.6, odd ones 2.0.1.
    Mixed,
}

impl Mix {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1.6" => Some(Self::V16),
            "2.0.1" => Some(Self::V201),
            "mixed" => Some(Self::Mixed),
            _ => None,
        }
    }

    pub fn version_of(self, index: usize) -> OcppVersion {
        match self {
            Self::V16 => OcppVersion::V16,
            Self::V201 => OcppVersion::V201,
            Self::Mixed if index.is_multiple_of(2) => OcppVersion::V16,
            Self::Mixed => OcppVersion::V201,
        }
    }
}

/// The charger ids of a run of `n`: `LG-0001`...
pub fn charger_ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("LG-{i:04}")).collect()
}

/// A charger ready for the closed loop: booted, with its transaction open.
pub struct Ready {
    pub sim: SimChargePoint,
    /// 1.6: the CSMS's transactionId; 2.0.1: the id the charger chose.
    pub tx: String,
}

/// Connects, boots and starts a transaction on every charger of `ids`, `SETUP_CONCURRENCY`
/// at a time; the first charger that fails fails the run.
pub async fn prepare(url: &str, ids: &[String], mix: Mix) -> Result<Vec<Ready>, String> {
    let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let mut opts = SimOptions::new(url, id.clone(), &[mix.version_of(i)]);
        opts.password = Some(PASSWORD.into());
        opts.call_timeout = CALL_TIMEOUT;
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let id = opts.id.clone();
            prepare_one(opts)
                .await
                .map_err(|e| format!("charger {id}: {e}"))
        });
    }
    let mut ready = Vec::with_capacity(ids.len());
    while let Some(joined) = tasks.join_next().await {
        ready.push(joined.map_err(|e| format!("setup task: {e}"))??);
    }
    Ok(ready)
}

/// Connects, boots and starts a transaction on one charger.
pub async fn prepare_one(opts: SimOptions) -> Result<Ready, String> {
    let sim = SimChargePoint::connect(opts)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let boot = sim.boot().await.map_err(|e| format!("boot: {e}"))?;
    if boot["status"] != "Accepted" {
        return Err(format!("boot not accepted: {boot}"));
    }
    let started = sim
        .start_transaction(1, ID_TAG, 0, chrono::Utc::now())
        .await
        .map_err(|e| format!("transaction start: {e}"))?;
    Ok(Ready {
        sim,
        tx: started.key,
    })
}

/// What one closed-loop run measured.
#[derive(Debug)]
pub struct Outcome {
    /// From the window's opening until the last charger's last answer.
    pub elapsed: Duration,
    /// Every answered message's round trip, sorted.
    pub round_trips: Vec<Duration>,
    /// The calls that got no CALLRESULT (each ends its charger's loop), with the error.
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn messages_per_s(&self) -> f64 {
        self.round_trips.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The nearest-rank percentile `p` (0-100] of the round trips.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.round_trips, p)
    }
}

/// The nearest-rank percentile `p` (0-100] of sorted `samples`: the smallest sample with
/// at least p % of all samples at or below it. Zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs every charger's closed loop for `window`; a charger sends no new message after the
/// window closes, and the answers to those in flight still count. Gives back the chargers
/// still connected (those whose loop did not fail), for whatever the caller does next.
pub async fn drive(chargers: Vec<Ready>, window: Duration) -> (Outcome, Vec<Ready>) {
    let opened = Instant::now();
    let closes = opened + window;
    let mut tasks = JoinSet::new();
    for charger in chargers {
        tasks.spawn(closed_loop(charger, closes));
    }
    let mut round_trips = Vec::new();
    let mut failures = Vec::new();
    let mut still = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((times, Ok(charger))) => {
                round_trips.extend(times);
                still.push(charger);
            }
            Ok((times, Err(failure))) => {
                round_trips.extend(times);
                failures.push(failure);
            }
            Err(e) => failures.push(format!("charger task: {e}")),
        }
    }
    let elapsed = opened.elapsed();
    round_trips.sort_unstable();
    let outcome = Outcome {
        elapsed,
        round_trips,
        failures,
    };
    (outcome, still)
}

/// One charger's loop: a reading, its answer, the next reading. Stops at `closes` or at
/// the first call without a CALLRESULT (the connection's state is unknown after it).
async fn closed_loop(charger: Ready, closes: Instant) -> (Vec<Duration>, Result<Ready, String>) {
    let mut times = Vec::new();
    let mut energy_wh = 0.0;
    while Instant::now() < closes {
        energy_wh += ENERGY_STEP_WH;
        let sent = Instant::now();
        if let Err(e) = charger
            .sim
            .meter_values(1, &charger.tx, energy_wh, &CURRENTS_A)
            .await
        {
            return (times, Err(format!("{}: {e}", charger.sim.id())));
        }
        times.push(sent.elapsed());
    }
    (times, Ok(charger))
}

/// Closes every charger's WebSocket cleanly, all at once.
pub async fn close_all(chargers: Vec<Ready>) {
    let mut tasks = JoinSet::new();
    for charger in chargers {
        tasks.spawn(charger.sim.close());
    }
    while tasks.join_next().await.is_some() {}
}
