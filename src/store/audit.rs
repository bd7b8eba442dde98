//! The audit log (DESIGN.md S6): every command sent to a charger, its answer and why it
//! was sent. Written by the charger connections, read by tests and the HTTP API.

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::StoreError;

/// One command sent to a charger, its answer and why it was sent (DESIGN.md S6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub ts: String,
    pub charger_id: String,
    pub action: String,
    pub request: String,
    pub response: Option<String>,
    /// `accepted`, `rejected`, `error`, `timeout`, `not-sent`.
    pub outcome: String,
    pub reason: String,
}

pub fn audit(c: &Connection, record: &AuditRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO audit (ts, charger_id, action, request, response, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![record.ts, record.charger_id, record.action, record.request, record.response, record.outcome, record.reason],
    )?;
    Ok(())
}

/// The newest audit entries of a charger first.
pub fn audit_log(
    c: &Connection,
    charger: &str,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    audit_entries(c, Some(charger), None, limit)
}

/// The newest audit entries first, of one charger or all (`None`), of one action (e.g.
/// `SetChargingProfile`) or all.
pub fn audit_entries(
    c: &Connection,
    charger: Option<&str>,
    action: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    // Only the filters given go into the statement, so that each query uses its index
    // (migration 3) and reads only the rows it returns.
    let filters: Vec<(&str, &str)> = [("charger_id", charger), ("action", action)]
        .into_iter()
        .filter_map(|(column, value)| value.map(|v| (column, v)))
        .collect();
    let mut sql = String::from(
        "SELECT ts, charger_id, action, request, response, outcome, reason FROM audit",
    );
    for (i, (column, _)) in filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(column);
        sql.push_str(" = ?");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    let mut values: Vec<&dyn ToSql> = filters.iter().map(|(_, v)| v as &dyn ToSql).collect();
    values.push(&limit);
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(values.as_slice(), audit_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes the audit entries older than `before` (`[store] audit-days`); returns how many.
pub fn prune_audit(c: &Connection, before: &str) -> Result<usize, StoreError> {
    // Entries are appended in time order, so the first one to keep bounds a rowid range:
    // no scan of the whole table on the store thread.
    let first_kept: Option<i64> = c
        .query_row(
            "SELECT id FROM audit WHERE ts >= ?1 ORDER BY id LIMIT 1",
            [before],
            |r| r.get(0),
        )
        .optional()?;
    let deleted = match first_kept {
        Some(id) => c.execute("DELETE FROM audit WHERE id < ?1", [id])?,
        None => c.execute("DELETE FROM audit", [])?,
    };
    Ok(deleted)
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        ts: r.get(0)?,
        charger_id: r.get(1)?,
        action: r.get(2)?,
        request: r.get(3)?,
        response: r.get(4)?,
        outcome: r.get(5)?,
        reason: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(charger: &str, action: &str, reason: &str) -> AuditRecord {
        AuditRecord {
            ts: "2026-11-30T04:00:00.000Z".into(),
            charger_id: charger.into(),
            action: action.into(),
            request: "{}".into(),
            response: Some(r#"{"status":"Accepted"}"#.into()),
            outcome: "accepted".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn entries_filter_by_charger_and_action_newest_first() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&mut c).unwrap();
        audit(&c, &record("CP-1", "SetChargingProfile", "first")).unwrap();
        audit(&c, &record("CP-2", "SetChargingProfile", "second")).unwrap();
        audit(&c, &record("CP-1", "Reset", "third")).unwrap();
        let reasons = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.reason).collect::<Vec<_>>();
        assert_eq!(
            reasons(audit_entries(&c, None, None, 10).unwrap()),
            ["third", "second", "first"]
        );
        assert_eq!(
            reasons(audit_entries(&c, Some("CP-1"), None, 10).unwrap()),
            ["third", "first"]
        );
        assert_eq!(
            reasons(audit_entries(&c, None, Some("SetChargingProfile"), 1).unwrap()),
            ["second"]
        );
        assert_eq!(reasons(audit_log(&c, "CP-2", 10).unwrap()), ["second"]);
        assert!(
            audit_entries(&c, Some("CP-9"), None, 10)
                .unwrap()
                .is_empty()
        );
    }
}
