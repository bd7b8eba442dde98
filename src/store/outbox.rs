//! The upstream outbox (issue 12, migration 14): every message chargegate owes the cloud,
//! kept until the broker acknowledged it.
//!
//! Records the cloud must not miss (transactions, alerts) are noted by triggers in the same
//! statement that changes them (`upstream_changes`), while the upstream is enabled; the
//! upstream task turns the notes into messages (`take_changes`, `append`, `mark_published`,
//! `consume_changes`) in one transaction. Each message gets `seq` (one sequence over the
//! outbox, never reused) and `stream_seq` (per stream, without gaps) and the `msg_id`
//! `<epoch>-<seq>`, the same on every resend, so a consumer can drop duplicates. Only
//! telemetry (`STREAM_SITE`) is ever dropped unsent, past its retention.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::StoreError;
use crate::ocpp::time::format as ts;

/// The streams, each with its own gap-free `stream_seq`.
pub const STREAM_TRANSACTIONS: &str = "transactions";
pub const STREAM_ALERTS: &str = "alerts";
pub const STREAM_CHARGERS: &str = "chargers";
pub const STREAM_SITE: &str = "site";

/// What kind of record a change note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Transaction,
    Alert,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Transaction => "transaction",
            ChangeKind::Alert => "alert",
        }
    }
}

/// A note that a transaction or alert row changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub kind: ChangeKind,
    pub row_id: i64,
}

/// One message waiting for the broker's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub seq: i64,
    /// Under the topic prefix, e.g. `transactions/12`.
    pub topic: String,
    pub retain: bool,
    /// The whole JSON message, envelope included.
    pub payload: String,
}

/// How full the outbox is (the status page, `/api/v1/site`, `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    /// Of those, transaction events (never dropped).
    pub pending_transactions: u64,
    /// When the oldest waiting message was made.
    pub oldest: Option<String>,
}

/// A message to append: its stream, topic under the prefix, retain flag and body (an
/// object; the envelope fields are added).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub stream: &'static str,
    pub topic: String,
    pub retain: bool,
    pub body: Map<String, Value>,
}

/// Turns the change notes on or off and returns the database's epoch. Off also drops
/// the notes not yet taken (nothing will take them); on keeps what was noted before.
pub fn enable_upstream(c: &Connection, enabled: bool) -> Result<String, StoreError> {
    c.execute(
        "UPDATE upstream SET enabled = ?1 WHERE one = 1",
        params![i64::from(enabled)],
    )?;
    if !enabled {
        c.execute("DELETE FROM upstream_changes", [])?;
    }
    Ok(c.query_row("SELECT epoch FROM upstream WHERE one = 1", [], |r| r.get(0))?)
}

/// The oldest change notes, at most `limit`.
pub fn take_changes(c: &Connection, limit: u32) -> Result<Vec<Change>, StoreError> {
    let mut stmt =
        c.prepare_cached("SELECT id, kind, row_id FROM upstream_changes ORDER BY id LIMIT ?1")?;
    let rows = stmt.query_map([limit], |r| {
        let kind: String = r.get(1)?;
        Ok((r.get::<_, i64>(0)?, kind, r.get::<_, i64>(2)?))
    })?;
    let mut changes = Vec::new();
    for row in rows {
        let (id, kind, row_id) = row?;
        let kind = match kind.as_str() {
            "transaction" => ChangeKind::Transaction,
            "alert" => ChangeKind::Alert,
            other => return Err(StoreError::Corrupt(format!("upstream change kind {other}"))),
        };
        changes.push(Change { id, kind, row_id });
    }
    Ok(changes)
}

/// Deletes the notes up to and including `last_id`.
pub fn consume_changes(c: &Connection, last_id: i64) -> Result<(), StoreError> {
    c.execute("DELETE FROM upstream_changes WHERE id <= ?1", [last_id])?;
    Ok(())
}

/// What was last put in the outbox for a record: its event and the body's digest.
pub fn published(
    c: &Connection,
    kind: ChangeKind,
    row_id: i64,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(c.query_row(
        "SELECT event, digest FROM upstream_published WHERE kind = ?1 AND row_id = ?2",
        params![kind.as_str(), row_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

pub fn mark_published(
    c: &Connection,
    kind: ChangeKind,
    row_id: i64,
    event: &str,
    digest: &str,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO upstream_published (kind, row_id, event, digest) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, row_id) DO UPDATE SET event = excluded.event, digest = excluded.digest",
        params![kind.as_str(), row_id, event, digest],
    )?;
    Ok(())
}

/// Appends a message and returns its `seq`; call it inside a transaction (the row is
/// written first, its payload with the envelope after). The envelope: `msg_id`, `seq`, `stream`,
/// `stream_seq`, `site_id` and `at` (when it was made), then the body's fields.
pub fn append(
    c: &Connection,
    epoch: &str,
    site_id: &str,
    message: NewMessage,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let at = ts(&now);
    c.execute(
        "INSERT INTO outbox_streams (stream, last_seq) VALUES (?1, 1)
         ON CONFLICT (stream) DO UPDATE SET last_seq = last_seq + 1",
        [message.stream],
    )?;
    let stream_seq: i64 = c.query_row(
        "SELECT last_seq FROM outbox_streams WHERE stream = ?1",
        [message.stream],
        |r| r.get(0),
    )?;
    c.execute(
        "INSERT INTO outbox (stream, stream_seq, topic, retain, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, '', ?5)",
        params![
            message.stream,
            stream_seq,
            message.topic,
            i64::from(message.retain),
            at
        ],
    )?;
    let seq = c.last_insert_rowid();
    let mut payload = Map::new();
    payload.insert("msg_id".into(), Value::from(format!("{epoch}-{seq}")));
    payload.insert("seq".into(), Value::from(seq));
    payload.insert("stream".into(), Value::from(message.stream));
    payload.insert("stream_seq".into(), Value::from(stream_seq));
    payload.insert("site_id".into(), Value::from(site_id));
    payload.insert("at".into(), Value::from(at));
    payload.extend(message.body);
    c.execute(
        "UPDATE outbox SET payload = ?2 WHERE seq = ?1",
        params![seq, Value::Object(payload).to_string()],
    )?;
    Ok(seq)
}

/// The waiting messages after `after_seq`, oldest first, at most `limit`.
pub fn pending_messages(
    c: &Connection,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, topic, retain, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit], |r| {
        Ok(OutboxMessage {
            seq: r.get(0)?,
            topic: r.get(1)?,
            retain: r.get::<_, i64>(2)? != 0,
            payload: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes the messages the broker acknowledged.
pub fn acknowledged(c: &mut Connection, seqs: &[i64]) -> Result<(), StoreError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let tx = c.savepoint()?;
    {
        let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
        for seq in seqs {
            stmt.execute([seq])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Drops unsent telemetry made before `before` (`telemetry-retention-days`); returns how
/// many. Nothing else is ever dropped.
pub fn prune_telemetry(c: &Connection, before: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(c.execute(
        "DELETE FROM outbox WHERE stream = ?1 AND created_at < ?2",
        params![STREAM_SITE, ts(&before)],
    )?)
}

pub fn outbox_stats(c: &Connection) -> Result<OutboxStats, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*), COALESCE(SUM(stream = ?1), 0), MIN(created_at) FROM outbox",
        [STREAM_TRANSACTIONS],
        |r| {
            Ok(OutboxStats {
                pending: r.get::<_, i64>(0)?.try_into().unwrap_or(0),
                pending_transactions: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
                oldest: r.get(2)?,
            })
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        schema::prepare(&mut c).unwrap();
        c
    }

    fn message(stream: &'static str, n: i64) -> NewMessage {
        let mut body = Map::new();
        body.insert("n".into(), Value::from(n));
        NewMessage {
            stream,
            topic: format!("{stream}/{n}"),
            retain: false,
            body,
        }
    }

    fn insert_transaction(c: &Connection) -> i64 {
        c.execute(
            "INSERT INTO transactions (charger_id, status, updated_at) VALUES ('CP1', 'open', 'x')",
            [],
        )
        .unwrap();
        c.last_insert_rowid()
    }

    #[test]
    fn changes_are_noted_only_while_the_upstream_is_enabled() {
        let c = db();
        insert_transaction(&c);
        assert!(take_changes(&c, 10).unwrap().is_empty());
        enable_upstream(&c, true).unwrap();
        let id = insert_transaction(&c);
        c.execute("UPDATE transactions SET energy_wh = 5 WHERE id = ?1", [id])
            .unwrap();
        let changes = take_changes(&c, 10).unwrap();
        assert_eq!(changes.len(), 2);
        assert!(
            changes
                .iter()
                .all(|ch| ch.kind == ChangeKind::Transaction && ch.row_id == id)
        );
        consume_changes(&c, changes[0].id).unwrap();
        assert_eq!(take_changes(&c, 10).unwrap(), vec![changes[1]]);
        enable_upstream(&c, false).unwrap();
        assert!(take_changes(&c, 10).unwrap().is_empty());
    }

    #[test]
    fn seq_never_repeats_and_stream_seq_has_no_gap_per_stream() {
        let mut c = db();
        let epoch = enable_upstream(&c, true).unwrap();
        let now = Utc::now();
        let a = append(&c, &epoch, "s", message(STREAM_TRANSACTIONS, 1), now).unwrap();
        let b = append(&c, &epoch, "s", message(STREAM_SITE, 2), now).unwrap();
        let d = append(&c, &epoch, "s", message(STREAM_TRANSACTIONS, 3), now).unwrap();
        acknowledged(&mut c, &[a, b, d]).unwrap();
        // Acknowledged and deleted: the next seq is still new.
        let e = append(&c, &epoch, "s", message(STREAM_TRANSACTIONS, 4), now).unwrap();
        assert!(a < b && b < d && d < e);
        let waiting = pending_messages(&c, 0, 10).unwrap();
        assert_eq!(waiting.len(), 1);
        let payload: Value = serde_json::from_str(&waiting[0].payload).unwrap();
        assert_eq!(payload["seq"], e);
        assert_eq!(payload["stream_seq"], 3);
        assert_eq!(payload["msg_id"], format!("{epoch}-{e}"));
        assert_eq!(payload["n"], 4);
        assert_eq!(payload["site_id"], "s");
    }

    #[test]
    fn only_old_telemetry_is_pruned() {
        let c = db();
        let epoch = enable_upstream(&c, true).unwrap();
        let old = Utc::now() - chrono::Duration::days(10);
        append(&c, &epoch, "s", message(STREAM_SITE, 1), old).unwrap();
        append(&c, &epoch, "s", message(STREAM_TRANSACTIONS, 2), old).unwrap();
        append(&c, &epoch, "s", message(STREAM_SITE, 3), Utc::now()).unwrap();
        let pruned = prune_telemetry(&c, Utc::now() - chrono::Duration::days(7)).unwrap();
        assert_eq!(pruned, 1);
        let stats = outbox_stats(&c).unwrap();
        assert_eq!((stats.pending, stats.pending_transactions), (2, 1));
        assert_eq!(stats.oldest, Some(ts(&old)));
    }

    #[test]
    fn published_state_is_kept_per_record() {
        let c = db();
        assert_eq!(published(&c, ChangeKind::Alert, 3).unwrap(), None);
        mark_published(&c, ChangeKind::Alert, 3, "raised", "d1").unwrap();
        mark_published(&c, ChangeKind::Alert, 3, "cleared", "d2").unwrap();
        mark_published(&c, ChangeKind::Transaction, 3, "started", "d3").unwrap();
        assert_eq!(
            published(&c, ChangeKind::Alert, 3).unwrap(),
            Some(("cleared".into(), "d2".into()))
        );
    }
}
