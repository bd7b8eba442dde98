//! Billing: the transactions as billing records (`GET /api/v1/transactions`), the signed
//! meter values kept verbatim beside them, the price of a session from the configured
//! time-of-use tariff, and the closing of a transaction the charger has forgotten.
//!
//! Reads never change a record. A transaction chargegate closes itself (its charger
//! booted, or started another transaction on the same connector) is marked `closed_by`
//! that cause, so the charger's own stop, arriving late, still replaces chargegate's
//! guess (`queries::stop_transaction_by_assigned_id`, `queries::transaction_event`).
//! Functions take `now` from the caller and never read the clock.

use chrono::{DateTime, Duration, Timelike, Utc};
use rusqlite::{Connection, ToSql, params};

use super::StoreError;
use crate::config::{Planner, price_at};
use crate::ocpp::model::{SignedReading, TransactionEvent};
use crate::ocpp::time::{format as ts, parse};

/// Who closed a transaction: the charger itself, or chargegate on the charger's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The charger's own StopTransaction / TransactionEvent Ended.
    Charger,
    /// The charger booted: it no longer runs the transactions it had open.
    Boot,
    /// The charger started another transaction on the same connector or EVSE.
    NewTransaction,
    /// A 2.0.1 charger answered GetTransactionStatus after a reconnect: not ongoing, and no
    /// messages about it left in its queue (E14), so its end will never be reported.
    NotOngoing,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Charger => "charger",
            ClosedBy::Boot => "boot",
            ClosedBy::NewTransaction => "new-transaction",
            ClosedBy::NotOngoing => "not-ongoing",
        }
    }
}

/// Which transactions a billing read returns: each filter given narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingFilter {
    pub charger: Option<String>,
    pub id_token: Option<String>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
    /// Only records with a larger id (the cursor of the page before).
    pub after: Option<i64>,
    pub limit: u32,
}

/// A signed meter value as stored: verbatim, with where and when it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRecord {
    pub ts: String,
    pub measurand: String,
    pub context: Option<String>,
    pub phase: Option<String>,
    pub value: Option<f64>,
    pub data: String,
    pub signing_method: Option<String>,
    pub encoding_method: Option<String>,
    pub public_key: Option<String>,
}

/// One transaction as billed.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingRecord {
    pub id: i64,
    pub charger_id: String,
    pub ocpp_tx_id: Option<String>,
    pub evse_id: Option<u32>,
    pub connector_id: Option<u32>,
    pub id_token: Option<String>,
    /// The token's group when the session began (the local list's `group`).
    pub id_token_group: Option<String>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub meter_start_wh: Option<f64>,
    pub meter_stop_wh: Option<f64>,
    pub energy_wh: Option<f64>,
    pub stop_reason: Option<String>,
    /// `charger`, `boot`, `new-transaction` or `not-ongoing` (`ClosedBy`); `None` while open.
    pub closed_by: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    /// The price of the energy under the tariff (`session_cost`); `None` while open or
    /// when the meter readings are missing.
    pub cost: Option<f64>,
    /// Every signed meter value of the session, oldest first.
    pub signed: Vec<SignedRecord>,
}

/// Stores signed readings verbatim; a resent one (same charger, EVSE, time, measurand,
/// context, phase, location and data) is ignored. Returns how many were new.
pub fn add_signed(
    c: &mut Connection,
    charger: &str,
    evse_id: u32,
    transaction_id: Option<i64>,
    readings: &[SignedReading],
) -> Result<usize, StoreError> {
    if readings.is_empty() {
        return Ok(0);
    }
    let tx = c.savepoint()?;
    let mut inserted = 0;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO signed_meter_values (charger_id, evse_id, transaction_id, ts,
                measurand, context, phase, location, value, data, signing_method, encoding_method,
                public_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for r in readings {
            inserted += stmt.execute(params![
                charger,
                evse_id,
                transaction_id,
                ts(&r.timestamp),
                r.measurand,
                r.context.as_deref().unwrap_or(""),
                r.phase.as_deref().unwrap_or(""),
                r.location.as_deref().unwrap_or(""),
                r.value,
                r.data,
                r.signing_method.as_deref().unwrap_or(""),
                r.encoding_method.as_deref().unwrap_or(""),
                r.public_key.as_deref().unwrap_or(""),
            ])?;
        }
    }
    tx.commit()?;
    Ok(inserted)
}

/// Closes the open transactions of `charger` that it cannot be running any more: all of
/// them (`evse` `None`, at its boot) or those on one connector / EVSE, and only those
/// older than row `before` (the transaction that replaces them) when given. Each is
/// closed at its last known reading: the register as meter stop, the time of the last
/// sample (or its start) as stop time, `reason` as stop reason. Returns the rows closed.
pub fn close_open_transactions(
    c: &Connection,
    charger: &str,
    evse: Option<u32>,
    before: Option<i64>,
    reason: &str,
    by: ClosedBy,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<i64> = {
        let mut stmt = c.prepare_cached(
            "SELECT id FROM transactions WHERE charger_id = ?1 AND status = 'open'
               AND (?2 IS NULL OR evse_id = ?2) AND (?3 IS NULL OR id < ?3) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![charger, evse, before], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for row in &rows {
        close_row(c, *row, reason, by, now)?;
    }
    Ok(rows)
}

/// Closes row `row` at its last known reading (see `close_open_transactions`).
fn close_row(
    c: &Connection,
    row: i64,
    reason: &str,
    by: ClosedBy,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE transactions SET status = 'closed',
            stopped_at = COALESCE((SELECT MAX(ts) FROM samples WHERE transaction_id = ?1),
                                  started_at),
            meter_stop_wh = meter_last_wh,
            energy_wh = CASE WHEN meter_last_wh IS NULL OR meter_start_wh IS NULL THEN NULL
                             ELSE MAX(meter_last_wh - meter_start_wh, 0) END,
            stop_reason = ?2, closed_by = ?3, updated_at = ?4
         WHERE id = ?1 AND status = 'open'",
        params![row, reason, by.as_str(), ts(&now)],
    )?;
    Ok(())
}

/// The open transactions of `charger` that it named itself (2.0.1 transactionIds):
/// (row id, transactionId), oldest first.
pub fn open_charger_named_transactions(
    c: &Connection,
    charger: &str,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, ocpp_tx_id FROM transactions WHERE charger_id = ?1 AND status = 'open'
           AND ocpp_tx_id IS NOT NULL AND ocpp_tx_id_by = 'charger' ORDER BY id",
    )?;
    let rows = stmt.query_map([charger], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Closes the open transaction row `row` of `charger` with `reason`, at its last known
/// reading, marked `by` (chargegate's guess: the charger's own late stop still replaces
/// it). False when it was not open any more (the charger's own end came first).
pub fn close_transaction(
    c: &Connection,
    charger: &str,
    row: i64,
    reason: &str,
    by: ClosedBy,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let open: bool = c.query_row(
        "SELECT COUNT(*) > 0 FROM transactions WHERE id = ?1 AND charger_id = ?2 AND status = 'open'",
        params![row, charger],
        |r| r.get(0),
    )?;
    if open {
        close_row(c, row, reason, by, now)?;
    }
    Ok(open)
}

/// A charger goes on with a transaction chargegate closed on its behalf (on its boot, or
/// a new transaction on the connector: `billing::ClosedBy`): it was running after all, so
/// it is open again; the charger knows best.
pub(super) fn reopen_if_closed_for_the_charger(
    c: &Connection,
    tx_id: i64,
) -> Result<(), StoreError> {
    // Cached: runs for every 1.6 MeterValues; parsing it each time was ~6 % of the
    // daemon's CPU under load (BENCHMARKS.md "Where the CPU and the memory go").
    c.prepare_cached(
        "UPDATE transactions SET status = 'open', stopped_at = NULL, meter_stop_wh = NULL,
            energy_wh = NULL, stop_reason = NULL, closed_by = NULL
         WHERE id = ?1 AND status = 'closed' AND closed_by IN ('boot', 'new-transaction', 'not-ongoing')",
    )?
    .execute([tx_id])?;
    Ok(())
}

/// Closes a transaction with the charger's own Ended event (after chargegate's own guess
/// too: the charger's values replace it).
pub(super) fn end_by_the_charger(
    c: &Connection,
    id: i64,
    event: &TransactionEvent,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE transactions SET status = 'closed', closed_by = 'charger', stopped_at = ?2, stop_reason = COALESCE(?3, 'Local'),
            meter_stop_wh = meter_last_wh,
            energy_wh = CASE WHEN meter_last_wh IS NULL OR meter_start_wh IS NULL THEN NULL
                             ELSE MAX(meter_last_wh - meter_start_wh, 0) END
         WHERE id = ?1",
        params![id, ts(&event.timestamp), event.stop_reason],
    )?;
    Ok(())
}

/// Billing records in id order (the order transactions began in), filtered, at most
/// `filter.limit`; each priced under `planner` (if given) and with its signed meter values.
pub fn billing_records(
    c: &Connection,
    filter: &BillingFilter,
    planner: Option<&Planner>,
) -> Result<Vec<BillingRecord>, StoreError> {
    let from = filter.from.as_ref().map(ts);
    let to = filter.to.as_ref().map(ts);
    // Only the filters given go into the statement, so each read uses its index
    // (migration 6). Times compare as text: every stored time is `ocpp::time::format`.
    let filters: Vec<(&str, &dyn ToSql)> = [
        (
            "charger_id = ?",
            filter.charger.as_ref().map(|v| v as &dyn ToSql),
        ),
        (
            "id_token = ?",
            filter.id_token.as_ref().map(|v| v as &dyn ToSql),
        ),
        ("started_at >= ?", from.as_ref().map(|v| v as &dyn ToSql)),
        ("started_at < ?", to.as_ref().map(|v| v as &dyn ToSql)),
        ("id > ?", filter.after.as_ref().map(|v| v as &dyn ToSql)),
    ]
    .into_iter()
    .filter_map(|(clause, value)| value.map(|v| (clause, v)))
    .collect();
    let mut sql = format!("SELECT {BILLING_COLUMNS} FROM transactions");
    for (i, (clause, _)) in filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(clause);
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    let mut values: Vec<&dyn ToSql> = filters.iter().map(|(_, v)| *v).collect();
    values.push(&filter.limit);
    let mut records: Vec<BillingRecord> = {
        let mut stmt = c.prepare_cached(&sql)?;
        let rows = stmt.query_map(values.as_slice(), billing_row)?;
        rows.collect::<Result<_, _>>()?
    };
    for r in &mut records {
        complete(c, r, planner)?;
    }
    Ok(records)
}

/// One billing record, priced and with its signed meter values.
pub fn billing_record(
    c: &Connection,
    id: i64,
    planner: Option<&Planner>,
) -> Result<Option<BillingRecord>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {BILLING_COLUMNS} FROM transactions WHERE id = ?1"
    ))?;
    let mut rows = stmt.query_map([id], billing_row)?;
    let Some(row) = rows.next() else {
        return Ok(None);
    };
    let mut record = row?;
    complete(c, &mut record, planner)?;
    Ok(Some(record))
}

const BILLING_COLUMNS: &str = "id, charger_id, ocpp_tx_id, evse_id, connector_id, id_token,
    id_token_group, started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh,
    stop_reason, closed_by, status";

fn billing_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BillingRecord> {
    Ok(BillingRecord {
        id: r.get(0)?,
        charger_id: r.get(1)?,
        ocpp_tx_id: r.get(2)?,
        evse_id: r.get(3)?,
        connector_id: r.get(4)?,
        id_token: r.get(5)?,
        id_token_group: r.get(6)?,
        started_at: r.get(7)?,
        stopped_at: r.get(8)?,
        meter_start_wh: r.get(9)?,
        meter_stop_wh: r.get(10)?,
        energy_wh: r.get(11)?,
        stop_reason: r.get(12)?,
        closed_by: r.get(13)?,
        status: r.get(14)?,
        cost: None,
        signed: Vec::new(),
    })
}

/// Adds the cost (with a tariff) and the signed values to a record read from
/// `transactions`.
fn complete(
    c: &Connection,
    r: &mut BillingRecord,
    planner: Option<&Planner>,
) -> Result<(), StoreError> {
    r.signed = signed_values(c, r.id)?;
    let Some(planner) = planner else {
        return Ok(());
    };
    let ends = (
        r.started_at.as_deref().and_then(parse),
        r.meter_start_wh,
        r.stopped_at.as_deref().and_then(parse),
        r.meter_stop_wh,
    );
    if let (Some(start), Some(start_wh), Some(stop), Some(stop_wh)) = ends {
        let readings = register_readings(c, r.id)?;
        let points = billing_points((start, start_wh), &readings, (stop, stop_wh));
        r.cost = Some(session_cost(&points, planner));
    }
    Ok(())
}

/// The signed meter values of a transaction, oldest first.
pub fn signed_values(c: &Connection, tx: i64) -> Result<Vec<SignedRecord>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT ts, measurand, context, phase, value, data, signing_method, encoding_method,
                public_key
         FROM signed_meter_values WHERE transaction_id = ?1 ORDER BY ts, id",
    )?;
    // '' stands for "none" in these columns (schema.rs: they take part in the UNIQUE key).
    fn text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
        r.get::<_, String>(i).map(|s| (!s.is_empty()).then_some(s))
    }
    let rows = stmt.query_map([tx], |r| {
        Ok(SignedRecord {
            ts: r.get(0)?,
            measurand: r.get(1)?,
            context: text(r, 2)?,
            phase: text(r, 3)?,
            value: r.get(4)?,
            data: r.get(5)?,
            signing_method: text(r, 6)?,
            encoding_method: text(r, 7)?,
            public_key: text(r, 8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The total energy register readings (Wh) of a transaction, in time order.
fn register_readings(c: &Connection, tx: i64) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT ts, value FROM samples WHERE transaction_id = ?1
           AND measurand = 'Energy.Active.Import.Register' AND phase = ''
           AND (unit IS NULL OR unit = 'Wh') ORDER BY ts, id",
    )?;
    let rows = stmt.query_map([tx], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (at, wh) = row?;
        if let Some(at) = parse(&at) {
            out.push((at, wh));
        }
    }
    Ok(out)
}

/// The readings a session is priced by: its start, the register readings in between that
/// keep time and energy in order (a reading outside the session or below the one before
/// is a charger's glitch and left out), and its stop. So the energy priced is exactly
/// meter stop - meter start, the session's `energy_wh`.
pub fn billing_points(
    start: (DateTime<Utc>, f64),
    readings: &[(DateTime<Utc>, f64)],
    stop: (DateTime<Utc>, f64),
) -> Vec<(DateTime<Utc>, f64)> {
    let mut points = vec![start];
    for &(at, wh) in readings {
        let last = points[points.len() - 1];
        if at > last.0 && at < stop.0 && wh >= last.1 && wh <= stop.1 {
            points.push((at, wh));
        }
    }
    points.push(stop);
    points
}

/// The price of a session's energy under the time-of-use tariff (`[planner]`
/// `default-price-per-kwh` and `[[planner.tariff]]` windows, UTC). The rule: the energy
/// between two consecutive readings is taken as drawn evenly over that interval, and each
/// part of the interval is priced by the tariff in force then (split where a window
/// begins or ends). With periodic meter values that is the price when the energy was
/// drawn; with only the start and stop registers, the session's energy is spread evenly
/// over its whole length. Energy that went backwards counts as none.
pub fn session_cost(points: &[(DateTime<Utc>, f64)], planner: &Planner) -> f64 {
    let price = |at: DateTime<Utc>| price_at(planner, at.hour() * 60 + at.minute());
    let mut cost = 0.0;
    for pair in points.windows(2) {
        let ((t0, e0), (t1, e1)) = (pair[0], pair[1]);
        let kwh = (e1 - e0).max(0.0) / 1000.0;
        if kwh == 0.0 {
            continue;
        }
        if t1 <= t0 {
            cost += kwh * price(t0);
            continue;
        }
        let total = (t1 - t0).num_milliseconds() as f64;
        let mut at = t0;
        while at < t1 {
            let next = next_boundary(at, planner).min(t1);
            cost += kwh * ((next - at).num_milliseconds() as f64 / total) * price(at);
            at = next;
        }
    }
    cost
}

/// The first moment after `at` where the tariff may change price (a window's start or
/// end); far in the future without windows.
fn next_boundary(at: DateTime<Utc>, planner: &Planner) -> DateTime<Utc> {
    let midnight = at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |m| m.and_utc());
    planner
        .tariffs
        .iter()
        .flat_map(|t| [t.from_min, t.to_min])
        .map(|minute| {
            let today = midnight + Duration::minutes(i64::from(minute));
            if today > at {
                today
            } else {
                today + Duration::days(1)
            }
        })
        .min()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests;
