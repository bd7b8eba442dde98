//! The alerts' IO loop: the CSMS's events and connections, the meters' statuses and
//! (every `follow::STORE_CHECK`) the store's open transactions and audit rows in,
//! the `Book`'s changes out to the store, the journal and a broadcast.
//!
//! At start it reads the store's open alerts back, so an alert open before a restart is
//! neither raised again nor lost; it is cleared when its condition is seen gone.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};

use super::{Book, Key, Step, rules};
use crate::clock::Clock;
use crate::csms::{ConnectionEvent, SiteEvent};
use crate::meter::MeterStatus;
use crate::store::{self, AlertRecord, Store};
use crate::units::ChargerId;

/// What the alerts follow, subscribed before the listener admits any charger.
#[derive(Debug)]
pub struct AlertInputs {
    pub events: broadcast::Receiver<SiteEvent>,
    pub connections: broadcast::Receiver<ConnectionEvent>,
    /// Each `[[meter]]`'s status, by id.
    pub meters: BTreeMap<String, watch::Receiver<MeterStatus>>,
    /// `[csms] heartbeat-interval-s` at start, the interval chargers get at boot.
    pub heartbeat: Duration,
}

/// The running alert task's announcements: every raise and clear, as stored. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Alerts {
    changes: broadcast::Sender<AlertRecord>,
}

impl Default for Alerts {
    /// No task behind it: nothing is ever announced.
    fn default() -> Self {
        Self {
            changes: broadcast::channel(1).0,
        }
    }
}

impl Alerts {
    /// Every raise and clear from now on (for `/api/v1/events`).
    pub fn subscribe(&self) -> broadcast::Receiver<AlertRecord> {
        self.changes.subscribe()
    }

    /// The sending side, for a reader in a lower layer that subscribes per client (the
    /// API's event streams): it only ever calls `subscribe` on it.
    pub fn sender(&self) -> broadcast::Sender<AlertRecord> {
        self.changes.clone()
    }
}

/// Spawns the alert task.
pub fn spawn(
    inputs: AlertInputs,
    store: Store,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> Alerts {
    let (changes, _) = broadcast::channel(256);
    let alerts = Alerts {
        changes: changes.clone(),
    };
    tokio::spawn(run(inputs, store, clock, changes, shutdown));
    alerts
}

struct Task {
    book: Book,
    store: Store,
    changes: broadcast::Sender<AlertRecord>,
}

async fn run(
    mut inputs: AlertInputs,
    store: Store,
    clock: Clock,
    changes: broadcast::Sender<AlertRecord>,
    mut shutdown: watch::Receiver<bool>,
) {
    let open = match store.call(|c| store::open_alerts(c)).await {
        Ok(open) => open,
        Err(e) => {
            // Raised again when seen (the store's unique index keeps one row open).
            tracing::warn!("cannot read the open alerts back: {e}");
            Vec::new()
        }
    };
    let mut task = Task {
        book: Book::from_open(open),
        store,
        changes,
    };
    let started = clock.instant();
    // When each connected charger last sent a CALL (its events, Heartbeat included).
    let mut heard: HashMap<ChargerId, tokio::time::Instant> = HashMap::new();
    let mut meter_check = tokio::time::interval(rules::METER_CHECK);
    meter_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut follow = super::follow::Follow::default();
    let mut store_check = tokio::time::interval(super::follow::STORE_CHECK);
    store_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let steps = tokio::select! {
            _ = shutdown.changed() => return,
            e = inputs.events.recv() => match e {
                Ok(e) => {
                    if let Some(last) = heard.get_mut(&e.charger) {
                        *last = clock.instant();
                    }
                    follow.event(&e, clock.instant());
                    let mut steps = rules::site_event(&e);
                    steps.push(rules::heard(&e.charger));
                    steps
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "alerts fell behind the charger events");
                    Vec::new()
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            e = inputs.connections.recv() => match e {
                Ok(e) => {
                    if e.connected && e.admission == crate::csms::Admission::Known {
                        heard.insert(e.charger.clone(), clock.instant());
                    } else {
                        heard.remove(&e.charger);
                    }
                    rules::connection(&e)
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "alerts fell behind the connection events");
                    Vec::new()
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = meter_check.tick() => {
                let now = clock.instant();
                let meters = inputs
                    .meters
                    .values()
                    .filter_map(|m| rules::meter(&m.borrow(), now, started));
                let silent = heard
                    .iter()
                    .filter_map(|(id, last)| rules::silent(id, *last, now, inputs.heartbeat));
                meters.chain(silent).collect()
            }
            _ = store_check.tick() => {
                follow.check(&task.store, &task.book, clock.instant(), clock.now()).await
            }
        };
        let now = clock.now();
        for step in steps {
            task.apply(step, now).await;
        }
    }
}

impl Task {
    async fn apply(&mut self, step: Step, now: DateTime<Utc>) {
        let Some((key, mut record)) = self.book.apply(step, now) else {
            return;
        };
        if record.cleared.is_none() {
            self.raised(&key, &mut record).await;
        } else {
            self.cleared(&record, now).await;
        }
        // Nobody listening is fine.
        let _ = self.changes.send(record);
    }

    async fn raised(&mut self, key: &Key, record: &mut AlertRecord) {
        tracing::warn!(
            kind = record.kind,
            severity = record.severity,
            "alert raised: {}",
            record.message
        );
        let row = record.clone();
        match self.store.call(move |c| store::raise_alert(c, &row)).await {
            Ok(id) => {
                record.id = id;
                self.book.numbered(key, id);
            }
            Err(e) => tracing::warn!(kind = record.kind, "cannot store the alert: {e}"),
        }
    }

    async fn cleared(&mut self, record: &AlertRecord, now: DateTime<Utc>) {
        tracing::info!(
            id = record.id,
            kind = record.kind,
            "alert cleared: {}",
            record.message
        );
        let id = record.id;
        if let Err(e) = self
            .store
            .call(move |c| store::clear_alert(c, id, now))
            .await
        {
            tracing::warn!(id, "cannot store the alert's clearing: {e}");
        }
    }
}
