//! The poll loops: one task per Modbus TCP meter and one per RTU bus (several meters on
//! one RS-485 line are polled in turn, one request at a time, STYLE.md §10).
//!
//! Each loop waits for the next meter that is due, reads its blocks with a time limit,
//! decodes, updates the meter's `Health` and publishes a `MeterStatus` on its `watch`
//! channel after every attempt. Transport failures and timeouts drop the connection and
//! reconnect with backoff; device exceptions keep it. Completed 1-minute summaries go to
//! the history channel. Must never decide anything the pure modules decide.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::decode::{RegisterImage, Values, decode};
use super::health::{Health, StaleChange, backoff};
use super::history::{MinuteAggregator, MinuteSummary};
use super::modbus::{Connection, ReadError, connect, describe};
use super::plan::{Block, plan};
use super::{MeterReading, MeterStatus};
use crate::clock::Clock;
use crate::config::{Meter, MeterTransport};

/// Recorded when an answer repeats the previous register image word for word.
const FROZEN: &str = "same register values as the previous read: the measurement may have frozen";

/// The meters' latest status, by meter id, and their poll tasks.
#[derive(Debug, Default)]
pub struct MeterHandles {
    pub status: BTreeMap<String, watch::Receiver<MeterStatus>>,
    tasks: Vec<JoinHandle<()>>,
}

impl MeterHandles {
    /// Stops every poller (they hold no state worth saving).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Per-request time limit: the poll interval, but at least 500 ms (an 80-register RTU
/// answer at 9600 baud takes ~200 ms) and at most 3 s.
fn request_limit(meter: &Meter) -> Duration {
    meter
        .poll_interval
        .clamp(Duration::from_millis(500), Duration::from_secs(3))
}

/// Starts the pollers: TCP meters one task each, RTU meters one task per serial device.
pub fn spawn_meters(
    meters: &[Meter],
    history: Option<mpsc::Sender<MinuteSummary>>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> MeterHandles {
    let mut handles = MeterHandles::default();
    let mut groups: Vec<(MeterTransport, Vec<Slot>)> = Vec::new();
    for meter in meters {
        let (tx, rx) = watch::channel(MeterStatus::new(
            meter.id.clone(),
            meter.role,
            meter.circuit.clone(),
            meter.stale_after,
        ));
        handles.status.insert(meter.id.clone(), rx);
        let slot = Slot::new(meter.clone(), tx, history.clone(), clock);
        let shared = match &meter.transport {
            MeterTransport::Rtu(rtu) => groups.iter_mut().find(
                |(t, _)| matches!(t, MeterTransport::Rtu(other) if other.device == rtu.device),
            ),
            MeterTransport::Tcp(_) => None,
        };
        match shared {
            Some((_, slots)) => slots.push(slot),
            None => groups.push((meter.transport.clone(), vec![slot])),
        }
    }
    for (transport, slots) in groups {
        handles.tasks.push(tokio::spawn(run_group(
            transport,
            None,
            slots,
            shutdown.clone(),
        )));
    }
    handles
}

/// As `spawn_meters` for meters that share one bus, over an already open connection (a
/// serial line opened elsewhere, or a pseudo-terminal in tests); a broken connection is
/// reopened from the first meter's transport.
pub fn spawn_bus_on(
    conn: Connection,
    meters: &[Meter],
    history: Option<mpsc::Sender<MinuteSummary>>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> MeterHandles {
    let mut handles = MeterHandles::default();
    let Some(first) = meters.first() else {
        return handles;
    };
    let mut slots = Vec::new();
    for meter in meters {
        let (tx, rx) = watch::channel(MeterStatus::new(
            meter.id.clone(),
            meter.role,
            meter.circuit.clone(),
            meter.stale_after,
        ));
        handles.status.insert(meter.id.clone(), rx);
        slots.push(Slot::new(meter.clone(), tx, history.clone(), clock));
    }
    handles.tasks.push(tokio::spawn(run_group(
        first.transport.clone(),
        Some(conn),
        slots,
        shutdown,
    )));
    handles
}

/// One meter inside a poll loop.
#[derive(Debug)]
struct Slot {
    meter: Meter,
    /// The read plan; `None` until the SunSpec model is found.
    blocks: Option<(u16, Vec<Block>)>,
    health: Health,
    last: Option<MeterReading>,
    next_due: Instant,
    status: watch::Sender<MeterStatus>,
    minutes: MinuteAggregator,
    history: Option<mpsc::Sender<MinuteSummary>>,
    /// Wall time for the history's minutes.
    clock: Clock,
}

impl Slot {
    fn new(
        meter: Meter,
        status: watch::Sender<MeterStatus>,
        history: Option<mpsc::Sender<MinuteSummary>>,
        clock: Clock,
    ) -> Self {
        let blocks = meter
            .profile
            .sunspec
            .is_none()
            .then(|| (0, plan(&meter.profile, 0)));
        Self {
            health: Health::new(meter.stale_after, Instant::now()),
            minutes: MinuteAggregator::new(meter.id.clone()),
            blocks,
            last: None,
            next_due: Instant::now(),
            status,
            history,
            meter,
            clock,
        }
    }

    /// Reads and decodes one image.
    async fn read(&mut self, conn: &mut Connection) -> Result<(RegisterImage, Values), ReadError> {
        let limit = request_limit(&self.meter);
        let unit = self.meter.unit_id;
        let _due = self.clock.answer_due();
        if self.blocks.is_none()
            && let Some(spec) = &self.meter.profile.sunspec
        {
            let base = conn.find_sunspec(unit, spec, limit).await?;
            self.blocks = Some((base, plan(&self.meter.profile, base)));
        }
        let (base, blocks) = self.blocks.as_ref().expect("plan is set above");
        let image = conn.read_image(unit, blocks, limit).await?;
        let values = decode(&self.meter.profile, &image, *base)?;
        Ok((image, values))
    }

    fn record(&mut self, result: Result<(RegisterImage, Values), ReadError>) {
        let now = Instant::now();
        match result {
            Ok((image, values)) => {
                let mut h = DefaultHasher::new();
                image.hash(&mut h);
                if self.health.good(now, h.finish()) {
                    let reading = MeterReading::from_values(&values, now, self.meter.invert);
                    self.add_to_history(&reading);
                    self.last = Some(reading);
                } else {
                    tracing::debug!(meter = self.meter.id, "same register image as before");
                    self.health.last_error = Some(FROZEN.to_string());
                }
            }
            Err(e) => {
                tracing::warn!(meter = self.meter.id, "read failed: {e}");
                if self.meter.profile.sunspec.is_some() && !e.needs_reconnect() {
                    // The device may have been reconfigured: find the model again.
                    self.blocks = None;
                }
                self.health.error(e.to_string());
            }
        }
        self.publish(now);
    }

    fn add_to_history(&mut self, r: &MeterReading) {
        let current = r.current.map(|a| a.map(|a| a.0));
        let power = r.power_total.map(|w| w.0);
        if let Some(done) = self.minutes.add(self.clock.now(), current, power)
            && let Some(tx) = &self.history
            && tx.try_send(done).is_err()
        {
            tracing::warn!(
                meter = self.meter.id,
                "meter history is behind; a minute was dropped"
            );
        }
    }

    fn publish(&mut self, now: Instant) {
        let stale = self.health.is_stale(now);
        match self.health.staleness_change(now) {
            Some(StaleChange::WentStale) => tracing::warn!(
                meter = self.meter.id,
                "meter is STALE: no good reading for {} ms; the site assumes worst-case-load-a",
                self.meter.stale_after.as_millis()
            ),
            Some(StaleChange::ReadingAgain { stale_for }) => tracing::info!(
                meter = self.meter.id,
                stale_ms = stale_for.as_millis(),
                "meter reading again after {:.1} s STALE",
                stale_for.as_secs_f64()
            ),
            None => {}
        }
        self.status.send_replace(MeterStatus {
            id: self.meter.id.clone(),
            role: self.meter.role,
            circuit: self.meter.circuit.clone(),
            reading: self.last.clone(),
            stale_after: self.meter.stale_after,
            stale,
            errors_total: self.health.errors_total,
            consecutive_errors: self.health.consecutive_errors,
            last_error: self.health.last_error.clone(),
        });
    }
}

async fn run_group(
    transport: MeterTransport,
    mut preopened: Option<Connection>,
    mut slots: Vec<Slot>,
    mut shutdown: watch::Receiver<bool>,
) {
    let target = describe(&transport);
    let connect_limit = slots
        .iter()
        .map(|s| request_limit(&s.meter))
        .max()
        .unwrap_or(Duration::from_secs(1));
    let mut conn: Option<Connection> = None;
    let mut connect_failures = 0u32;
    let mut reconnect_at = Instant::now();
    loop {
        let Some(i) = (0..slots.len()).min_by_key(|&i| slots[i].next_due) else {
            return;
        };
        let due = if conn.is_none() {
            slots[i].next_due.max(reconnect_at)
        } else {
            slots[i].next_due
        };
        tokio::select! {
            _ = sleep_until(due) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        if conn.is_none() {
            let opened = match preopened.take() {
                Some(c) => Ok(c),
                None => {
                    let _due = slots[i].clock.answer_due();
                    connect(&transport, connect_limit).await
                }
            };
            match opened {
                Ok(c) => {
                    tracing::info!(target, "meter connection open");
                    connect_failures = 0;
                    conn = Some(c);
                }
                Err(e) => {
                    connect_failures += 1;
                    let interval = slots[i].meter.poll_interval;
                    reconnect_at = Instant::now() + backoff(connect_failures, interval);
                    for slot in &mut slots {
                        slot.record(Err(e.clone()));
                        slot.next_due = reconnect_at;
                    }
                    continue;
                }
            }
        }
        let slot = &mut slots[i];
        let c = conn.as_mut().expect("connected above");
        let result = slot.read(c).await;
        let reconnect = result.as_ref().err().is_some_and(|e| match &transport {
            MeterTransport::Tcp(_) => e.needs_reconnect(),
            // A serial port does not break when one meter on the bus is silent; reopening
            // it would stall the other meters. Only a broken port is reopened.
            MeterTransport::Rtu(_) => {
                matches!(e, ReadError::Transport(_) | ReadError::Connect { .. })
            }
        });
        let failed = result.is_err();
        slot.record(result);
        // A failing meter is retried with backoff, so that a dead meter does not take the
        // bus time of the others.
        let wait = if failed {
            slot.health.backoff(slot.meter.poll_interval)
        } else {
            slot.meter.poll_interval
        };
        slot.next_due = Instant::now() + wait;
        if reconnect {
            tracing::info!(target, "dropping the meter connection to reconnect");
            conn = None;
            reconnect_at = Instant::now() + slot.health.backoff(slot.meter.poll_interval);
        }
    }
}
