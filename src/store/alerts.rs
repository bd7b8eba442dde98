//! The alert list (`alerts`, migration 8): what `alerts::task` raised and cleared, for
//! `/api/v1/alerts` and for the task itself after a restart; and the reads of what the
//! task follows in the store (open transactions, the audit log's SetChargingProfile rows).
//!
//! At most one alert per key (kind, charger, meter, part) is open at a time (a partial
//! unique index): raising one that is open already returns the open one, so a condition
//! seen again after a restart is not raised twice. Times are RFC 3339 UTC, milliseconds.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// One alert as stored. `charger`, `meter` and `part` are `None` when they do not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// 0 until the store gave it one.
    pub id: i64,
    /// e.g. `connector-faulted`, `charger-offline`, `meter-stale` (`alerts::Kind`).
    pub kind: String,
    pub charger: Option<String>,
    pub meter: Option<String>,
    /// Which part of the charger or meter: `evse 1`, a 2.0.1 component, a transaction.
    pub part: Option<String>,
    /// `critical` or `warning`.
    pub severity: String,
    pub raised: DateTime<Utc>,
    pub cleared: Option<DateTime<Utc>>,
    pub message: String,
}

const COLUMNS: &str =
    "id, kind, charger_id, meter_id, part, severity, raised_at, cleared_at, message";

fn none_if_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn time(text: &str) -> Result<DateTime<Utc>, rusqlite::Error> {
    crate::ocpp::time::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("not a time: {text:?}").into(),
        )
    })
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    let raised: String = r.get(6)?;
    let cleared: Option<String> = r.get(7)?;
    Ok(AlertRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        charger: none_if_empty(r.get(2)?),
        meter: none_if_empty(r.get(3)?),
        part: none_if_empty(r.get(4)?),
        severity: r.get(5)?,
        raised: time(&raised)?,
        cleared: cleared.as_deref().map(time).transpose()?,
        message: r.get(8)?,
    })
}

/// Stores a raised alert and returns its id; the id of the open alert with the same key
/// when there is one (it stays as it was raised).
pub fn raise_alert(c: &Connection, a: &AlertRecord) -> Result<i64, StoreError> {
    let key = (
        a.kind.as_str(),
        a.charger.as_deref().unwrap_or(""),
        a.meter.as_deref().unwrap_or(""),
        a.part.as_deref().unwrap_or(""),
    );
    let open: Option<i64> = c
        .query_row(
            "SELECT id FROM alerts WHERE kind = ?1 AND charger_id = ?2 AND meter_id = ?3
             AND part = ?4 AND cleared_at IS NULL",
            params![key.0, key.1, key.2, key.3],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        return Ok(id);
    }
    c.execute(
        "INSERT INTO alerts (kind, charger_id, meter_id, part, severity, raised_at, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            key.0,
            key.1,
            key.2,
            key.3,
            a.severity,
            crate::ocpp::time::format(&a.raised),
            a.message
        ],
    )?;
    Ok(c.last_insert_rowid())
}

/// Marks alert `id` cleared at `at`; false when it was not open.
pub fn clear_alert(c: &Connection, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE alerts SET cleared_at = ?2 WHERE id = ?1 AND cleared_at IS NULL",
        params![id, crate::ocpp::time::format(&at)],
    )?;
    Ok(n == 1)
}

/// One alert by id.
pub fn alert(c: &Connection, id: i64) -> Result<Option<AlertRecord>, StoreError> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?;
    Ok(stmt.query_row([id], record).optional()?)
}

/// Every open alert, oldest first.
pub fn open_alerts(c: &Connection) -> Result<Vec<AlertRecord>, StoreError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE cleared_at IS NULL ORDER BY id"
    ))?;
    let rows = stmt.query_map([], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Alerts newest first: only the open ones (`active` true), only the cleared ones
/// (false) or both (`None`); at most `limit`, with an id below `before` when given.
pub fn alerts(
    c: &Connection,
    active: Option<bool>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AlertRecord>, StoreError> {
    let filter = match active {
        Some(true) => "cleared_at IS NULL",
        Some(false) => "cleared_at IS NOT NULL",
        None => "1",
    };
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE {filter} AND id < ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An open transaction as the alerts follow it (`transaction-without-meter-values`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFollowed {
    pub charger: String,
    /// The id the charger uses: 1.6 the row id chargegate assigned, 2.0.1 its own.
    pub ocpp_id: String,
    /// 2.0.1 EVSE, 1.6 connector.
    pub evse: Option<u32>,
}

/// The open transactions, oldest first (at most 10 000: a depot has far fewer chargers).
pub fn open_transactions(c: &Connection) -> Result<Vec<TxFollowed>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT charger_id, COALESCE(ocpp_tx_id, CAST(id AS TEXT)), evse_id FROM transactions
         WHERE status = 'open' ORDER BY id LIMIT 10000",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TxFollowed {
            charger: r.get(0)?,
            ocpp_id: r.get(1)?,
            evse: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One SetChargingProfile of the audit log, as the alerts read it (`failsafe-refused`,
/// `repeated-guard-cuts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSent {
    pub id: i64,
    pub ts: String,
    pub charger: String,
    /// `accepted`, `rejected`, `error`, `timeout`, `not-sent`.
    pub outcome: String,
    pub reason: String,
}

/// The SetChargingProfile audit rows after row `after`, oldest first, at most `limit`
/// (index `audit_action_id`).
pub fn profiles_sent_after(
    c: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<ProfileSent>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, ts, charger_id, outcome, reason FROM audit
         WHERE action = 'SetChargingProfile' AND id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok(ProfileSent {
            id: r.get(0)?,
            ts: r.get(1)?,
            charger: r.get(2)?,
            outcome: r.get(3)?,
            reason: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The charger event kind of a GetCompositeSchedule that matched the limit just accepted
/// (`dispatch::task`, `[dispatch] verify`).
pub const VERIFIED: &str = "CompositeVerified";
/// ... and of one that reported another limit than the charger accepted.
pub const MISREPORTED: &str = "CompositeMisreported";

/// A verification's verdict as dispatch recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: i64,
    pub charger: String,
    /// `VERIFIED` or `MISREPORTED`.
    pub kind: String,
    /// `accepted <A> reported <A or none>`.
    pub detail: String,
}

/// The verifications recorded after charger event `after`, oldest first, at most `limit`.
pub fn verifications_after(
    c: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<Verification>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, charger_id, kind, detail FROM charger_events
         WHERE id > ?1 AND kind IN (?2, ?3) ORDER BY id LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![after, VERIFIED, MISREPORTED, limit], |r| {
        Ok(Verification {
            id: r.get(0)?,
            charger: r.get(1)?,
            kind: r.get(2)?,
            detail: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest charger event's id (0: none): where following verifications starts.
pub fn last_charger_event(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.query_row("SELECT COALESCE(MAX(id), 0) FROM charger_events", [], |r| {
            r.get(0)
        })?,
    )
}

/// The audit row before the first one stamped at or after `since` (RFC 3339, as the
/// audit log writes it): where reading resumes after a restart; the last row when none is.
pub fn audit_before(c: &Connection, since: &str) -> Result<i64, StoreError> {
    let first: Option<i64> = c
        .query_row(
            "SELECT id FROM audit WHERE ts >= ?1 ORDER BY id LIMIT 1",
            [since],
            |r| r.get(0),
        )
        .optional()?;
    match first {
        Some(id) => Ok(id - 1),
        None => Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM audit", [], |r| r.get(0))?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&mut c).unwrap();
        c
    }

    fn faulted(at: &str) -> AlertRecord {
        AlertRecord {
            id: 0,
            kind: "connector-faulted".into(),
            charger: Some("CP-1".into()),
            meter: None,
            part: Some("evse 1".into()),
            severity: "critical".into(),
            raised: crate::ocpp::time::parse(at).unwrap(),
            cleared: None,
            message: "Faulted".into(),
        }
    }

    #[test]
    fn an_open_alert_is_raised_once_and_cleared_once() {
        let c = store();
        let first = raise_alert(&c, &faulted("2026-01-01T00:00:00Z")).unwrap();
        let again = raise_alert(&c, &faulted("2026-01-01T00:05:00Z")).unwrap();
        assert_eq!(first, again);
        let open = open_alerts(&c).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].raised.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(open[0].meter, None);
        let at = crate::ocpp::time::parse("2026-01-01T01:00:00Z").unwrap();
        assert!(clear_alert(&c, first, at).unwrap());
        assert!(!clear_alert(&c, first, at).unwrap(), "cleared twice");
        assert!(open_alerts(&c).unwrap().is_empty());
        // The same condition later is a new alert; the old one stays in the history.
        let second = raise_alert(&c, &faulted("2026-01-01T02:00:00Z")).unwrap();
        assert_ne!(second, first);
        let all = alerts(&c, None, None, 10).unwrap();
        assert_eq!(
            all.iter().map(|a| a.id).collect::<Vec<_>>(),
            [second, first]
        );
        assert_eq!(all[1].cleared, Some(at));
        assert_eq!(alerts(&c, Some(true), None, 10).unwrap()[0].id, second);
        assert_eq!(alerts(&c, Some(false), None, 10).unwrap()[0].id, first);
        assert_eq!(alerts(&c, None, Some(second), 10).unwrap()[0].id, first);
    }

    #[test]
    fn profile_rows_are_read_after_a_cursor_that_a_restart_finds_by_time() {
        let c = store();
        let row = |ts: &str, action: &str, reason: &str| super::super::AuditRecord {
            ts: ts.into(),
            charger_id: "CP-1".into(),
            action: action.into(),
            request: "{}".into(),
            response: None,
            outcome: "rejected".into(),
            reason: reason.into(),
        };
        assert_eq!(audit_before(&c, "2026-01-01T00:00:00.000Z").unwrap(), 0);
        for (ts, action, reason) in [
            ("2026-01-01T00:00:00.000Z", "SetChargingProfile", "old"),
            ("2026-01-01T00:20:00.000Z", "Reset", "not a profile"),
            ("2026-01-01T00:30:00.000Z", "SetChargingProfile", "new"),
        ] {
            super::super::audit(&c, &row(ts, action, reason)).unwrap();
        }
        let cursor = audit_before(&c, "2026-01-01T00:15:00.000Z").unwrap();
        let rows = profiles_sent_after(&c, cursor, 10).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (rows[0].reason.as_str(), rows[0].outcome.as_str()),
            ("new", "rejected")
        );
        assert!(profiles_sent_after(&c, rows[0].id, 10).unwrap().is_empty());
        assert_eq!(audit_before(&c, "2026-01-02T00:00:00.000Z").unwrap(), 3);
        assert_eq!(profiles_sent_after(&c, 0, 1).unwrap()[0].reason, "old");
        assert!(open_transactions(&c).unwrap().is_empty());
    }
}
