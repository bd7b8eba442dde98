//! The SQL behind the store, as plain functions on a connection (run on the owner thread).
//!
//! Every write that a charger may repeat (it resends after a lost connection) is written so
//! that the repeat changes nothing: UNIQUE keys plus `INSERT OR IGNORE`, and a 2.0.1 seqNo
//! table. Functions take `now` from the caller and never read the clock.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::ocpp::model::{MeterSample, TransactionEvent, TxKey, TxPhase};
use crate::ocpp::time::format as ts;

/// What a charger said about itself at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRecord {
    pub vendor: String,
    pub model: String,
    pub serial: Option<String>,
    pub firmware: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChargerRecord {
    pub id: String,
    pub ocpp_version: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub registration: String,
    pub last_seen: String,
    pub connected: bool,
}

/// A locally known id token (from the config, or later the API and upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    /// `accepted` or `blocked`.
    pub status: String,
    pub expires: Option<DateTime<Utc>>,
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRecord {
    pub id: i64,
    pub charger_id: String,
    pub ocpp_tx_id: Option<String>,
    pub evse_id: Option<u32>,
    pub id_token: Option<String>,
    pub started_at: Option<String>,
    pub meter_start_wh: Option<f64>,
    pub stopped_at: Option<String>,
    pub meter_stop_wh: Option<f64>,
    pub energy_wh: Option<f64>,
    pub stop_reason: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    pub offline: bool,
}

/// Result of recording a transaction event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxWrite {
    /// The row id (for 1.6 also the transactionId given to the charger).
    pub id: i64,
    /// The charger resent something already recorded; nothing changed.
    pub duplicate: bool,
}

pub fn charger_connected(
    c: &Connection,
    id: &str,
    version: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO chargers (id, ocpp_version, first_seen, last_seen, connected) VALUES (?1, ?2, ?3, ?3, 1)
         ON CONFLICT(id) DO UPDATE SET ocpp_version = ?2, last_seen = ?3, connected = 1",
        params![id, version, ts(&now)],
    )?;
    Ok(())
}

pub fn charger_disconnected(
    c: &Connection,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE chargers SET connected = 0, last_seen = ?2 WHERE id = ?1",
        params![id, ts(&now)],
    )?;
    Ok(())
}

/// Deletes the rows of chargers that are not in `configured`, not connected, last seen
/// before `seen_before`, not accepted by the operator, and that hold no connector or
/// transaction: the trace of a stranger (or an unregistered charger) that connected in
/// Pending mode. Returns how many.
pub fn prune_unknown_chargers(
    c: &Connection,
    configured: &[String],
    seen_before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let configured = serde_json::to_string(configured).unwrap_or_else(|_| "[]".into());
    let deleted = c.execute(
        "DELETE FROM chargers WHERE connected = 0 AND last_seen < ?1
           AND id NOT IN (SELECT value FROM json_each(?2))
           AND id NOT IN (SELECT id FROM accepted_chargers)
           AND NOT EXISTS (SELECT 1 FROM connectors WHERE charger_id = chargers.id)
           AND NOT EXISTS (SELECT 1 FROM transactions WHERE charger_id = chargers.id)",
        params![ts(&seen_before), configured],
    )?;
    Ok(deleted)
}

/// Marks every charger disconnected: at start-up no connection exists yet.
pub fn all_disconnected(c: &Connection) -> Result<(), StoreError> {
    c.execute("UPDATE chargers SET connected = 0", [])?;
    Ok(())
}

pub fn charger_booted(
    c: &Connection,
    id: &str,
    boot: &BootRecord,
    registration: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE chargers SET vendor = ?2, model = ?3, serial = ?4, firmware = ?5, registration = ?6,
                last_boot = ?7, last_seen = ?7 WHERE id = ?1",
        params![id, boot.vendor, boot.model, boot.serial, boot.firmware, registration, ts(&now)],
    )?;
    Ok(())
}

pub fn charger_seen(c: &Connection, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    c.execute(
        "UPDATE chargers SET last_seen = ?2 WHERE id = ?1",
        params![id, ts(&now)],
    )?;
    Ok(())
}

pub fn chargers(c: &Connection) -> Result<Vec<ChargerRecord>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT id, ocpp_version, vendor, model, registration, last_seen, connected FROM chargers ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ChargerRecord {
            id: r.get(0)?,
            ocpp_version: r.get(1)?,
            vendor: r.get(2)?,
            model: r.get(3)?,
            registration: r.get(4)?,
            last_seen: r.get(5)?,
            connected: r.get::<_, i64>(6)? != 0,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[allow(clippy::too_many_arguments)]
pub fn connector_status(
    c: &Connection,
    charger: &str,
    evse_id: u32,
    connector_id: u32,
    status: &str,
    error_code: Option<&str>,
    info: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO connectors (charger_id, evse_id, connector_id, status, error_code, info, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(charger_id, evse_id, connector_id)
         DO UPDATE SET status = ?4, error_code = ?5, info = ?6, updated_at = ?7",
        params![charger, evse_id, connector_id, status, error_code, info, ts(&now)],
    )?;
    Ok(())
}

pub fn connector_statuses(
    c: &Connection,
    charger: &str,
) -> Result<Vec<(u32, u32, String)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT evse_id, connector_id, status FROM connectors WHERE charger_id = ?1 ORDER BY evse_id, connector_id",
    )?;
    let rows = stmt.query_map([charger], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a notification that has no table of its own (firmware, diagnostics, security
/// events, reports), so the operator can see it later.
pub fn charger_event(
    c: &Connection,
    charger: &str,
    kind: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO charger_events (ts, charger_id, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        params![ts(&now), charger, kind, detail],
    )?;
    Ok(())
}

pub fn charger_events(c: &Connection, charger: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        c.prepare("SELECT kind, detail FROM charger_events WHERE charger_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([charger], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces the tokens that came from the config file with `tokens`, leaving tokens from
/// other sources alone.
pub fn replace_config_tokens(c: &mut Connection, tokens: &[TokenRecord]) -> Result<(), StoreError> {
    let tx = c.savepoint()?;
    let before = config_tokens_text(&tx)?;
    tx.execute("DELETE FROM id_tokens WHERE source = 'config'", [])?;
    for t in tokens {
        tx.execute(
            "INSERT INTO id_tokens (id, status, expires, group_id, source) VALUES (?1, ?2, ?3, ?4, 'config')
             ON CONFLICT(id) DO UPDATE SET status = ?2, expires = ?3, group_id = ?4, source = 'config'",
            params![t.id, t.status, t.expires.as_ref().map(ts), t.group],
        )?;
    }
    // A changed file is a new list for the chargers that hold one (SendLocalList), with
    // the cards it changed recorded for a differential update.
    let after = config_tokens_text(&tx)?;
    let changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|id| before.get(*id) != after.get(*id))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !changed.is_empty() {
        super::record_change(&tx, &changed)?;
    }
    tx.commit()?;
    Ok(())
}

/// The file's cards, each as one text, to tell which a start or reload changed.
fn config_tokens_text(
    c: &Connection,
) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT id, status, COALESCE(expires, ''), COALESCE(group_id, '') FROM id_tokens
         WHERE source = 'config' ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            format!(
                "{}\u{1f}{}\u{1f}{}",
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?
            ),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn token(c: &Connection, id: &str) -> Result<Option<TokenRecord>, StoreError> {
    let row = c
        .query_row(
            "SELECT id, status, expires, group_id FROM id_tokens WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(id, status, expires, group)| TokenRecord {
        id,
        status,
        expires: expires.as_deref().and_then(crate::ocpp::time::parse),
        group,
    }))
}

/// Whether the token has an open transaction on a connected charger (for ConcurrentTx).
/// A transaction on a charger that is gone does not count: it may have ended unseen, and
/// a stale record must never lock a card out (issue 10); it is closed when its charger
/// boots or starts another transaction on that connector (`billing::close_open_transactions`).
pub fn token_has_open_transaction(c: &Connection, id: &str) -> Result<bool, StoreError> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM transactions t JOIN chargers ch ON ch.id = t.charger_id
         WHERE t.id_token = ?1 AND t.status = 'open' AND ch.connected = 1",
        [id],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// The charger where `id` has its newest open transaction (an upstream command that names
/// the vehicle's card instead of the charger).
pub fn charger_of_open_token(c: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(c.query_row(
        "SELECT charger_id FROM transactions WHERE id_token = ?1 AND status = 'open'
         ORDER BY id DESC LIMIT 1",
        [id],
        |r| r.get(0),
    )
    .optional()?)
}

/// Records the start of a transaction whose id the CSMS assigns (1.6 StartTransaction): the
/// id is the row id. A resend (same connector, timestamp, meter and tag)
/// returns the id already given out, so the charger never gets two ids for one session.
pub fn start_transaction_assigning_id(
    c: &mut Connection,
    charger: &str,
    connector_id: u32,
    id_token: &str,
    meter_start_wh: f64,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TxWrite, StoreError> {
    let start_key = format!(
        "{connector_id}|{}|{meter_start_wh}|{id_token}",
        ts(&started)
    );
    let tx = c.savepoint()?;
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO transactions
           (charger_id, start_key, evse_id, id_token, id_token_group, started_at, meter_start_wh,
            meter_last_wh, status, updated_at)
         VALUES (?1, ?2, ?3, ?4, (SELECT group_id FROM id_tokens WHERE id = ?4), ?5, ?6, ?6,
                 'open', ?7)",
        params![
            charger,
            start_key,
            connector_id,
            id_token,
            ts(&started),
            meter_start_wh,
            ts(&now)
        ],
    )?;
    let id: i64 = tx.query_row(
        "SELECT id FROM transactions WHERE charger_id = ?1 AND start_key = ?2",
        params![charger, start_key],
        |r| r.get(0),
    )?;
    if inserted == 1 {
        tx.execute(
            "UPDATE transactions SET ocpp_tx_id = ?1, ocpp_tx_id_by = 'csms' WHERE id = ?2",
            params![id.to_string(), id],
        )?;
    }
    tx.commit()?;
    Ok(TxWrite {
        id,
        duplicate: inserted == 0,
    })
}

/// Records the end of a transaction named by the id the CSMS assigned (1.6
/// StopTransaction). `Ok(None)`: no such transaction of this charger (it is
/// still acknowledged, or the charger would resend it forever; OCPP 1.6 §4.10). A
/// transaction chargegate closed itself (`billing::ClosedBy`: the charger booted or began
/// another) takes the charger's own values when its late stop arrives; one the charger
/// closed already is a resend.
pub fn stop_transaction_by_assigned_id(
    c: &mut Connection,
    charger: &str,
    transaction_id: i64,
    meter_stop_wh: f64,
    stopped: DateTime<Utc>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<TxWrite>, StoreError> {
    let tx = c.savepoint()?;
    let row: Option<(String, Option<f64>, Option<String>)> = tx
        .query_row(
            "SELECT status, meter_start_wh, closed_by FROM transactions WHERE id = ?1 AND charger_id = ?2",
            params![transaction_id, charger],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((status, meter_start, closed_by)) = row else {
        return Ok(None);
    };
    if status == "closed" && closed_by.as_deref().is_none_or(|by| by == "charger") {
        return Ok(Some(TxWrite {
            id: transaction_id,
            duplicate: true,
        }));
    }
    let energy = meter_start.map(|start| (meter_stop_wh - start).max(0.0));
    tx.execute(
        "UPDATE transactions SET stopped_at = ?2, meter_stop_wh = ?3, meter_last_wh = ?3, energy_wh = ?4,
                stop_reason = ?5, status = 'closed', closed_by = 'charger', updated_at = ?6 WHERE id = ?1",
        params![transaction_id, ts(&stopped), meter_stop_wh, energy, reason.unwrap_or("Local"), ts(&now)],
    )?;
    tx.commit()?;
    Ok(Some(TxWrite {
        id: transaction_id,
        duplicate: false,
    }))
}

fn key_text(key: &TxKey) -> String {
    match key {
        TxKey::Csms(id) => id.to_string(),
        TxKey::Charger(id) => id.clone(),
    }
}

/// The row id of a charger's transaction.
pub fn find_transaction(
    c: &Connection,
    charger: &str,
    key: &TxKey,
) -> Result<Option<i64>, StoreError> {
    Ok(
        c.prepare_cached("SELECT id FROM transactions WHERE charger_id = ?1 AND ocpp_tx_id = ?2")?
            .query_row(params![charger, key_text(key)], |r| r.get(0))
            .optional()?,
    )
}

/// Records an event of a transaction named by the charger's own id (2.0.1 TransactionEvent).
/// The transaction row is created by the first event
/// seen (normally Started, but an Updated after a lost Started still opens it); an event
/// whose seqNo was already recorded is a resend and changes nothing (2.0.1 E01-E15:
/// the station retries until it gets a response). `energy_register_wh` is the event's
/// Energy.Active.Import.Register reading, if it had one.
pub fn transaction_event(
    c: &mut Connection,
    charger: &str,
    event: &TransactionEvent,
    energy_register_wh: Option<f64>,
    now: DateTime<Utc>,
) -> Result<TxWrite, StoreError> {
    let key = event.tx.as_ref().map(key_text).unwrap_or_default();
    let evse = event.evse.map(|e| e.evse_id);
    let connector = event.evse.and_then(|e| e.connector_id);
    let token = event.id_token.as_ref().map(|t| t.id.clone());
    let tx = c.savepoint()?;
    tx.execute(
        "INSERT OR IGNORE INTO transactions (charger_id, ocpp_tx_id, evse_id, connector_id, id_token,
            id_token_group, started_at, status, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT group_id FROM id_tokens WHERE id = ?5), ?6, 'open', ?7)",
        params![charger, key, evse, connector, token, ts(&event.timestamp), ts(&now)],
    )?;
    let id: i64 = tx.query_row(
        "SELECT id FROM transactions WHERE charger_id = ?1 AND ocpp_tx_id = ?2",
        params![charger, key],
        |r| r.get(0),
    )?;
    if let Some(seq_no) = event.seq_no {
        let phase = match event.phase {
            TxPhase::Started => "Started",
            TxPhase::Updated => "Updated",
            TxPhase::Ended => "Ended",
        };
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO transaction_events (transaction_id, seq_no, digest, phase, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, seq_no, event_digest(event), phase, ts(&now)],
        )?;
        if fresh == 0 {
            tx.commit()?;
            return Ok(TxWrite {
                id,
                duplicate: true,
            });
        }
    }
    tx.execute(
        "UPDATE transactions SET
            evse_id = COALESCE(evse_id, ?2), connector_id = COALESCE(connector_id, ?3),
            id_token = COALESCE(id_token, ?4),
            id_token_group = COALESCE(id_token_group, (SELECT group_id FROM id_tokens WHERE id = ?4)),
            started_at = CASE WHEN ?5 = 'Started' THEN ?6 ELSE started_at END,
            charging_state = COALESCE(?7, charging_state),
            offline = offline OR ?8,
            last_seq_no = MAX(COALESCE(last_seq_no, 0), COALESCE(?9, 0)),
            meter_start_wh = COALESCE(meter_start_wh, ?10),
            meter_last_wh = COALESCE(?10, meter_last_wh),
            updated_at = ?11
         WHERE id = ?1",
        params![
            id,
            evse,
            connector,
            token,
            if event.phase == TxPhase::Started {
                "Started"
            } else {
                ""
            },
            ts(&event.timestamp),
            event.charging_state,
            event.offline,
            event.seq_no,
            energy_register_wh,
            ts(&now)
        ],
    )?;
    if event.phase == TxPhase::Ended {
        super::billing::end_by_the_charger(&tx, id, event)?;
    } else {
        super::billing::reopen_if_closed_for_the_charger(&tx, id)?;
    }
    tx.commit()?;
    Ok(TxWrite {
        id,
        duplicate: false,
    })
}

/// What makes a transaction event the same event, as a stable digest (FNV-1a, 64 bit, in
/// hex; stored, so it must not change between releases): everything the station says
/// about it except the seqNo. A resend repeats all of it; a station that restarted its
/// seqNo sends new timestamps and readings under old numbers.
pub fn event_digest(event: &TransactionEvent) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = write!(
        text,
        "{:?}|{}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
        event.phase,
        ts(&event.timestamp),
        event.trigger_reason,
        event.charging_state,
        event.stop_reason,
        event.offline,
        event.id_token.as_ref().map(|t| &t.id),
        event.evse.map(|e| (e.evse_id, e.connector_id)),
        event.meter_wh,
        event.reservation_id,
    );
    for s in &event.samples {
        let _ = write!(
            text,
            "|{} {} {:?} {} {:?} {:?} {:?}",
            ts(&s.timestamp),
            s.measurand,
            s.phase,
            s.value,
            s.unit,
            s.context,
            s.location
        );
    }
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The newest open transaction of a charger: (EVSE or connector id, its OCPP id in the
/// kind the charger knows it by).
pub fn open_transaction_of(
    c: &Connection,
    charger: &str,
) -> Result<Option<(u32, TxKey)>, StoreError> {
    let row: Option<(u32, String, String)> = c
        .query_row(
            "SELECT COALESCE(evse_id, 0), ocpp_tx_id, ocpp_tx_id_by FROM transactions
             WHERE charger_id = ?1 AND status = 'open' AND ocpp_tx_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            [charger],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((evse, id, by)) = row else {
        return Ok(None);
    };
    let key = match by.as_str() {
        // Written by `start_transaction_assigning_id` from the row id, so always an integer.
        "csms" => TxKey::Csms(id.parse().map_err(|_| StoreError::Corrupt(format!(
            "transaction id {id:?} of {charger} was assigned by chargegate but is not an integer"
        )))?),
        _ => TxKey::Charger(id),
    };
    Ok(Some((evse, key)))
}

/// Updates the latest energy register of an open transaction (from 1.6 MeterValues). A
/// transaction chargegate closed on the charger's behalf (`billing::ClosedBy`) that the
/// charger still reports on is running after all: it is open again.
pub fn transaction_register(
    c: &Connection,
    tx_id: i64,
    energy_wh: f64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    super::billing::reopen_if_closed_for_the_charger(c, tx_id)?;
    // Cached, like the other statements of the per-message path: a statement parsed per
    // call costs more CPU than running it (BENCHMARKS.md "Where the CPU and the memory go").
    c.prepare_cached(
        "UPDATE transactions SET meter_last_wh = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'open'",
    )?
    .execute(params![tx_id, energy_wh, ts(&now)])?;
    Ok(())
}

/// Stores meter samples; a resent sample (same charger, EVSE, time, measurand, phase and
/// location) is ignored. Returns how many were new.
pub fn add_samples(
    c: &mut Connection,
    charger: &str,
    evse_id: u32,
    transaction_id: Option<i64>,
    samples: &[MeterSample],
) -> Result<usize, StoreError> {
    let tx = c.savepoint()?;
    let mut inserted = 0;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO samples (charger_id, evse_id, transaction_id, ts, measurand, phase, location, context, value, unit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for s in samples {
            inserted += stmt.execute(params![
                charger,
                evse_id,
                transaction_id,
                ts(&s.timestamp),
                s.measurand,
                s.phase.as_deref().unwrap_or(""),
                s.location.as_deref().unwrap_or(""),
                s.context,
                s.value,
                s.unit
            ])?;
        }
    }
    tx.commit()?;
    Ok(inserted)
}

pub fn sample_count(c: &Connection, transaction_id: i64) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM samples WHERE transaction_id = ?1",
        [transaction_id],
        |r| r.get(0),
    )?)
}

fn transaction_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TransactionRecord> {
    Ok(TransactionRecord {
        id: r.get(0)?,
        charger_id: r.get(1)?,
        ocpp_tx_id: r.get(2)?,
        evse_id: r.get(3)?,
        id_token: r.get(4)?,
        started_at: r.get(5)?,
        meter_start_wh: r.get(6)?,
        stopped_at: r.get(7)?,
        meter_stop_wh: r.get(8)?,
        energy_wh: r.get(9)?,
        stop_reason: r.get(10)?,
        status: r.get(11)?,
        offline: r.get::<_, i64>(12)? != 0,
    })
}

const TX_COLUMNS: &str =
    "id, charger_id, ocpp_tx_id, evse_id, id_token, started_at, meter_start_wh, stopped_at,
     meter_stop_wh, energy_wh, stop_reason, status, offline";

/// The newest transactions first.
pub fn transactions(c: &Connection, limit: u32) -> Result<Vec<TransactionRecord>, StoreError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {TX_COLUMNS} FROM transactions ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], transaction_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn transaction(c: &Connection, id: i64) -> Result<Option<TransactionRecord>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {TX_COLUMNS} FROM transactions WHERE id = ?1"
    ))?
    .query_row([id], transaction_row)
    .optional()?)
}

#[cfg(test)]
mod tests;
