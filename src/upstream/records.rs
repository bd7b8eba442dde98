//! What goes into the outbox: transaction and alert events from the store's change notes,
//! each charger's state when it changed, and the site's telemetry every
//! `telemetry-interval-s`. Telemetry older than `telemetry-retention-days` is dropped
//! unsent; nothing else ever is.
//!
//! The bodies are the HTTP API's own JSON (`/api/v1/transactions/<id>`, `/api/v1/alerts`,
//! `/api/v1/chargers/<id>`, `/api/v1/site`), so the cloud and the API say the same thing.
//! A note names a row, not what changed: the row is read as it is now, and a body equal to
//! the one last put in the outbox for it adds nothing (`store::published`).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use blake2::{Blake2b, Digest, digest::consts::U32};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, broadcast, watch};

use crate::clock::Clock;
use crate::config::{Live, Planner};
use crate::csms::{ConnectionEvent, SiteEvent};
use crate::http::{Internal, UpstreamStatus};
use crate::ocpp::model::{ChargerEvent, TxPhase};
use crate::store::{self, ChangeKind, NewMessage, Store, StoreError};
use crate::units::ChargerId;

/// How often the notes are turned into messages and the outbox's state is published.
const EVERY: Duration = Duration::from_secs(1);
/// Notes taken per round at most (a round is one store call).
const NOTES_PER_ROUND: u32 = 200;
/// How often old telemetry is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The event messages for a record whose body is now `digest`, given what was last put
/// in the outbox for it: the first message of a record opens it (`started`, `raised`),
/// one that is over says so (`ended`, `cleared`), anything else in between is an update.
/// A record first seen already over gets both. An unchanged body gets none.
pub fn events(
    last: Option<&(String, String)>,
    over: bool,
    digest: &str,
    names: [&'static str; 3],
) -> Vec<&'static str> {
    let [opened, updated, closed] = names;
    match last {
        None if over => vec![opened, closed],
        None => vec![opened],
        Some((_, last_digest)) if last_digest == digest => Vec::new(),
        Some(_) if over => vec![closed],
        Some(_) => vec![updated],
    }
}

const TRANSACTION_EVENTS: [&str; 3] = ["started", "updated", "ended"];
/// An alert's row changes only when it clears; `raised` again would be a repeat.
const ALERT_EVENTS: [&str; 3] = ["raised", "raised", "cleared"];

fn digest(body: &Value) -> String {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(body.to_string().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who the messages are from.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub epoch: String,
    pub site_id: String,
}

/// Turns the oldest change notes into outbox messages, in one transaction with their
/// deletion; returns how many messages it added.
pub fn collect_changes(
    c: &mut Connection,
    origin_epoch: &str,
    site_id: &str,
    planner: Option<&Planner>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    // Most rounds find no note: no write transaction for them.
    if store::take_changes(c, 1)?.is_empty() {
        return Ok(0);
    }
    let db = c.savepoint()?;
    let notes = store::take_changes(&db, NOTES_PER_ROUND)?;
    let Some(last_note) = notes.last().map(|n| n.id) else {
        return Ok(0);
    };
    let mut seen = HashSet::new();
    let mut added = 0;
    for note in notes {
        if !seen.insert((note.kind == ChangeKind::Alert, note.row_id)) {
            continue;
        }
        let (body, over, stream, topic, names, field) = match note.kind {
            ChangeKind::Transaction => {
                let Some(record) = store::billing_record(&db, note.row_id, planner)? else {
                    continue;
                };
                (
                    crate::http::transaction_json(&record),
                    record.status != "open",
                    store::STREAM_TRANSACTIONS,
                    format!("transactions/{}", note.row_id),
                    TRANSACTION_EVENTS,
                    "transaction",
                )
            }
            ChangeKind::Alert => {
                let Some(alert) = store::alert(&db, note.row_id)? else {
                    continue;
                };
                (
                    crate::http::alert_json(&alert),
                    alert.cleared.is_some(),
                    store::STREAM_ALERTS,
                    "alerts".to_string(),
                    ALERT_EVENTS,
                    "alert",
                )
            }
        };
        let digest = digest(&body);
        let last = store::published(&db, note.kind, note.row_id)?;
        let events = events(last.as_ref(), over, &digest, names);
        for event in &events {
            let mut fields = Map::new();
            fields.insert("event".into(), Value::from(*event));
            fields.insert(field.into(), body.clone());
            let message = NewMessage {
                stream,
                topic: topic.clone(),
                retain: false,
                body: fields,
            };
            store::append(&db, origin_epoch, site_id, message, now)?;
            added += 1;
        }
        if let Some(event) = events.last() {
            store::mark_published(&db, note.kind, note.row_id, event, &digest)?;
        }
    }
    store::consume_changes(&db, last_note)?;
    db.commit()?;
    Ok(added)
}

/// The recorder task's inputs.
pub(super) struct Recorder {
    pub store: Store,
    pub internal: Internal,
    pub origin: Origin,
    pub live: Live,
    pub telemetry_every: Duration,
    pub retention: chrono::Duration,
    pub status: watch::Sender<UpstreamStatus>,
    /// Tells the link the outbox has more.
    pub wake: Arc<Notify>,
    pub clock: Clock,
}

/// Whether a charger event changes its state as the cloud follows it: a boot, a status,
/// a session beginning or ending (readings within a session are the transaction's
/// `updated` events, not a new charger state).
fn changes_state(event: &ChargerEvent) -> bool {
    match event {
        ChargerEvent::Boot { .. } | ChargerEvent::Status { .. } => true,
        ChargerEvent::Transaction(t) => t.phase != TxPhase::Updated,
        _ => false,
    }
}

pub(super) async fn run(
    recorder: Recorder,
    mut events: broadcast::Receiver<SiteEvent>,
    mut connections: broadcast::Receiver<ConnectionEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every charger's state once at start: the retained topics are then complete.
    let mut dirty: BTreeSet<ChargerId> = recorder.configured();
    let mut round = tokio::time::interval(EVERY);
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut telemetry = tokio::time::interval(recorder.telemetry_every);
    telemetry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            e = events.recv() => match e {
                Ok(e) if changes_state(&e.event) => { dirty.insert(e.charger); }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => dirty.extend(recorder.configured()),
                Err(RecvError::Closed) => return,
            },
            e = connections.recv() => match e {
                Ok(e) => { dirty.insert(e.charger); }
                Err(RecvError::Lagged(_)) => dirty.extend(recorder.configured()),
                Err(RecvError::Closed) => return,
            },
            _ = telemetry.tick() => recorder.site().await,
            _ = prune.tick() => recorder.prune().await,
            _ = round.tick() => {
                recorder.changes().await;
                for charger in std::mem::take(&mut dirty) {
                    recorder.charger(&charger).await;
                }
                recorder.outbox_state().await;
            }
        }
    }
}

impl Recorder {
    fn configured(&self) -> BTreeSet<ChargerId> {
        self.live
            .current()
            .chargers
            .iter()
            .map(|c| c.id.clone())
            .collect()
    }

    async fn changes(&self) {
        let (epoch, site) = (self.origin.epoch.clone(), self.origin.site_id.clone());
        let planner = self.live.current().planner.clone();
        let now = self.clock.now();
        match self
            .store
            .call(move |c| collect_changes(c, &epoch, &site, Some(&planner), now))
            .await
        {
            Ok(0) => {}
            Ok(_) => self.wake.notify_one(),
            // The notes stay; the next round tries again.
            Err(e) => tracing::warn!(
                "cannot put transaction and alert events in the upstream outbox: {e}"
            ),
        }
    }

    /// Appends the API's answer to `path` as `field` of a retained message on `topic`.
    async fn snapshot(&self, path: &str, stream: &'static str, topic: String, field: &str) {
        let (status, body) = self
            .internal
            .call(Method::GET, path, None, "upstream telemetry")
            .await;
        if status != StatusCode::OK {
            tracing::debug!(path, %status, "no upstream snapshot");
            return;
        }
        let mut fields = Map::new();
        fields.insert(field.into(), body);
        let message = NewMessage {
            stream,
            topic,
            retain: true,
            body: fields,
        };
        let (epoch, site) = (self.origin.epoch.clone(), self.origin.site_id.clone());
        let now = self.clock.now();
        match self
            .store
            .call(move |c| {
                // The envelope is written after the row: both or neither.
                let db = c.savepoint()?;
                let seq = store::append(&db, &epoch, &site, message, now)?;
                db.commit()?;
                Ok(seq)
            })
            .await
        {
            Ok(_) => self.wake.notify_one(),
            Err(e) => tracing::warn!("cannot put {path} in the upstream outbox: {e}"),
        }
    }

    async fn site(&self) {
        self.snapshot("/api/v1/site", store::STREAM_SITE, "site".into(), "site")
            .await;
    }

    async fn charger(&self, id: &ChargerId) {
        self.snapshot(
            &format!("/api/v1/chargers/{id}"),
            store::STREAM_CHARGERS,
            format!("chargers/{id}"),
            "charger",
        )
        .await;
    }

    async fn prune(&self) {
        let before = self.clock.now() - self.retention;
        match self
            .store
            .call(move |c| store::prune_telemetry(c, before))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                dropped = n,
                "unsent upstream telemetry past its retention dropped"
            ),
            Err(e) => tracing::warn!("cannot drop old upstream telemetry: {e}"),
        }
    }

    async fn outbox_state(&self) {
        if let Ok(stats) = self.store.call(|c| store::outbox_stats(c)).await {
            self.status.send_if_modified(|s| {
                let changed = (s.pending, s.pending_transactions, &s.oldest_pending)
                    != (stats.pending, stats.pending_transactions, &stats.oldest);
                s.pending = stats.pending;
                s.pending_transactions = stats.pending_transactions;
                s.oldest_pending = stats.oldest.clone();
                changed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(event: &str, digest: &str) -> Option<(String, String)> {
        Some((event.into(), digest.into()))
    }

    fn store_with_notes() -> Connection {
        let store_path = tempfile::tempdir().unwrap().keep().join("cg.db");
        let c = Connection::open(&store_path).unwrap();
        drop(c);
        // The store's own migrations, through a Store on the same file.
        drop(Store::open(&store_path).unwrap());
        let c = Connection::open(&store_path).unwrap();
        store::enable_upstream(&c, true).unwrap();
        c
    }

    fn outbox(c: &Connection) -> Vec<Value> {
        store::pending_messages(c, 0, 100)
            .unwrap()
            .iter()
            .map(|m| serde_json::from_str(&m.payload).unwrap())
            .collect()
    }

    #[test]
    fn a_session_becomes_started_updated_ended_in_order_and_each_note_once() {
        let mut c = store_with_notes();
        let now = Utc::now();
        c.execute(
            "INSERT INTO transactions (charger_id, id_token, status, meter_start_wh, updated_at)
             VALUES ('CP1', 'CARD', 'open', 1000, 'x')",
            [],
        )
        .unwrap();
        assert_eq!(collect_changes(&mut c, "e", "s", None, now).unwrap(), 1);
        // Nothing changed since: no message, and the note is gone.
        c.execute("UPDATE transactions SET updated_at = 'x' WHERE id = 1", [])
            .unwrap();
        assert_eq!(collect_changes(&mut c, "e", "s", None, now).unwrap(), 0);
        c.execute(
            "UPDATE transactions SET meter_last_wh = 1500, energy_wh = 500 WHERE id = 1",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE transactions SET meter_last_wh = 2000, energy_wh = 1000 WHERE id = 1",
            [],
        )
        .unwrap();
        assert_eq!(
            collect_changes(&mut c, "e", "s", None, now).unwrap(),
            1,
            "two notes, one row: one update"
        );
        c.execute(
            "UPDATE transactions SET status = 'closed', meter_stop_wh = 2500, energy_wh = 1500 WHERE id = 1",
            [],
        )
        .unwrap();
        assert_eq!(collect_changes(&mut c, "e", "s", None, now).unwrap(), 1);
        let messages = outbox(&c);
        let events: Vec<_> = messages.iter().map(|m| m["event"].clone()).collect();
        assert_eq!(events, ["started", "updated", "ended"]);
        let stream_seqs: Vec<_> = messages.iter().map(|m| m["stream_seq"].clone()).collect();
        assert_eq!(stream_seqs, [1, 2, 3]);
        assert_eq!(messages[1]["transaction"]["energy_wh"], 1000.0);
        assert_eq!(messages[2]["transaction"]["energy_wh"], 1500.0);
        assert_eq!(messages[2]["transaction"]["id_token"], "CARD");
        assert!(store::take_changes(&c, 10).unwrap().is_empty());
    }

    #[test]
    fn a_record_opens_updates_and_closes_once_each_change() {
        let t = TRANSACTION_EVENTS;
        assert_eq!(events(None, false, "a", t), ["started"]);
        assert_eq!(events(None, true, "a", t), ["started", "ended"]);
        assert!(events(last("started", "a").as_ref(), false, "a", t).is_empty());
        assert_eq!(
            events(last("started", "a").as_ref(), false, "b", t),
            ["updated"]
        );
        assert_eq!(
            events(last("updated", "b").as_ref(), true, "c", t),
            ["ended"]
        );
        // The charger's own stop replaces chargegate's guess: the record ends again.
        assert_eq!(events(last("ended", "c").as_ref(), true, "d", t), ["ended"]);
        assert!(events(last("ended", "d").as_ref(), true, "d", t).is_empty());
        assert_eq!(events(None, true, "a", ALERT_EVENTS), ["raised", "cleared"]);
    }
}
