//! GetBaseReport requests and the reports assembled from their NotifyReport parts
//! (`csms::reports`), for `/api/v1/chargers/<id>/report[/<request_id>]`.
//!
//! A row is written `requested` before the GetBaseReport goes out (a station may send its
//! first part before its answer), then `incomplete` with the parts counted, then
//! `complete` with the variables as JSON, or `rejected` / `failed` with why. Only the
//! newest `KEEP_REPORTS` per charger are kept: a FullInventory can be large, and an
//! operator who asks again wants the new one. Never interprets a wire payload.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::ocpp::model::ReportedVariable;
use crate::ocpp::time::format as ts;

/// Reports kept per charger.
pub const KEEP_REPORTS: i64 = 10;

/// A report request and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub request_id: i32,
    pub base: String,
    /// `requested`, `incomplete`, `complete`, `rejected` or `failed`.
    pub status: String,
    pub parts: u32,
    /// Why it was rejected or failed.
    pub detail: Option<String>,
    /// Complete: (component, variable, value) in the order reported.
    pub variables: Option<Vec<ReportedVariable>>,
    pub requested_at: String,
    pub updated_at: String,
}

/// A count as SQLite stores it (parts are capped far below `i64::MAX`).
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records a GetBaseReport about to be sent, dropping the charger's oldest beyond
/// `KEEP_REPORTS`.
pub fn report_requested(
    c: &Connection,
    charger: &str,
    request_id: i32,
    base: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR REPLACE INTO reports (charger_id, request_id, base, status, requested_at, updated_at)
         VALUES (?1, ?2, ?3, 'requested', ?4, ?4)",
        params![charger, request_id, base, ts(&now)],
    )?;
    c.execute(
        "DELETE FROM reports WHERE charger_id = ?1 AND rowid NOT IN
           (SELECT rowid FROM reports WHERE charger_id = ?1 ORDER BY requested_at DESC, rowid DESC LIMIT ?2)",
        params![charger, KEEP_REPORTS],
    )?;
    Ok(())
}

/// Whether `request_id` is a report of `charger` still being assembled.
pub fn report_open(c: &Connection, charger: &str, request_id: i32) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT 1 FROM reports WHERE charger_id = ?1 AND request_id = ?2
               AND status IN ('requested', 'incomplete')",
        params![charger, request_id],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// The charger refused the request, or it never reached the charger (`status`
/// `rejected` or `failed`), unless parts already arrived.
pub fn report_refused(
    c: &Connection,
    charger: &str,
    request_id: i32,
    status: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE reports SET status = ?3, detail = ?4, updated_at = ?5
         WHERE charger_id = ?1 AND request_id = ?2 AND status = 'requested'",
        params![charger, request_id, status, detail, ts(&now)],
    )?;
    Ok(())
}

/// Parts arrived, the report is not complete yet.
pub fn report_progress(
    c: &Connection,
    charger: &str,
    request_id: i32,
    parts: usize,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE reports SET status = 'incomplete', parts = ?3, updated_at = ?4
         WHERE charger_id = ?1 AND request_id = ?2 AND status IN ('requested', 'incomplete')",
        params![charger, request_id, count(parts), ts(&now)],
    )?;
    Ok(())
}

/// Assembly failed (over a cap): why.
pub fn report_failed(
    c: &Connection,
    charger: &str,
    request_id: i32,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE reports SET status = 'failed', detail = ?3, updated_at = ?4
         WHERE charger_id = ?1 AND request_id = ?2",
        params![charger, request_id, detail, ts(&now)],
    )?;
    Ok(())
}

/// The whole report.
pub fn report_complete(
    c: &Connection,
    charger: &str,
    request_id: i32,
    parts: usize,
    variables: &[ReportedVariable],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let json = serde_json::Value::Array(
        variables
            .iter()
            .map(|v| serde_json::json!([v.component, v.variable, v.value]))
            .collect(),
    )
    .to_string();
    c.execute(
        "UPDATE reports SET status = 'complete', parts = ?3, variables = ?4, updated_at = ?5
         WHERE charger_id = ?1 AND request_id = ?2",
        params![charger, request_id, count(parts), json, ts(&now)],
    )?;
    Ok(())
}

/// `charger`'s report `request_id`, if chargegate asked for it.
pub fn report(
    c: &Connection,
    charger: &str,
    request_id: i32,
) -> Result<Option<ReportRecord>, StoreError> {
    let row = c
        .query_row(
            "SELECT base, status, parts, detail, variables, requested_at, updated_at
             FROM reports WHERE charger_id = ?1 AND request_id = ?2",
            params![charger, request_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((base, status, parts, detail, variables, requested_at, updated_at)) = row else {
        return Ok(None);
    };
    let variables = match variables {
        None => None,
        Some(text) => {
            let rows: Vec<(String, String, Option<String>)> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("report {request_id}: {e}")))?;
            Some(
                rows.into_iter()
                    .map(|(component, variable, value)| ReportedVariable {
                        component,
                        variable,
                        value,
                    })
                    .collect(),
            )
        }
    };
    Ok(Some(ReportRecord {
        request_id,
        base,
        status,
        parts,
        detail,
        variables,
        requested_at,
        updated_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_report_goes_from_requested_to_complete_and_old_ones_are_dropped() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&mut c).unwrap();
        report_requested(&c, "CS", 1, "FullInventory", t(0)).unwrap();
        assert!(report_open(&c, "CS", 1).unwrap());
        assert!(!report_open(&c, "CS", 2).unwrap());
        report_progress(&c, "CS", 1, 1, t(1)).unwrap();
        let vars = [ReportedVariable {
            component: "OCPPCommCtrlr".into(),
            variable: "HeartbeatInterval".into(),
            value: None,
        }];
        report_complete(&c, "CS", 1, 2, &vars, t(2)).unwrap();
        let r = report(&c, "CS", 1).unwrap().unwrap();
        assert_eq!((r.status.as_str(), r.parts), ("complete", 2));
        assert_eq!(r.variables.as_deref(), Some(&vars[..]));
        assert!(!report_open(&c, "CS", 1).unwrap());
        // A refusal after parts arrived changes nothing.
        report_refused(&c, "CS", 1, "rejected", "Rejected", t(3)).unwrap();
        assert_eq!(report(&c, "CS", 1).unwrap().unwrap().status, "complete");
        for id in 2..=KEEP_REPORTS as i32 + 1 {
            report_requested(&c, "CS", id, "SummaryInventory", t(i64::from(id))).unwrap();
        }
        assert!(
            report(&c, "CS", 1).unwrap().is_none(),
            "the oldest is dropped"
        );
        assert!(report(&c, "CS", 2).unwrap().is_some());
    }
}
