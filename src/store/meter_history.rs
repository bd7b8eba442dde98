//! Queries for the 1-minute meter history (migration 2): write a minute, read a range,
//! prune what is older than `[store] history-days`.
//!
//! Runs on the store's owner thread through `Store::call`. A minute written twice (a
//! restart within the minute) replaces the earlier row. Must never aggregate: the
//! summaries come from `meter::history`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::StoreError;
use crate::meter::history::MinuteSummary;

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Writes (or replaces) one minute.
pub fn insert_meter_minute(conn: &Connection, m: &MinuteSummary) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO meter_history (meter_id, minute, samples, l1_max_a, l2_max_a, \
         l3_max_a, l1_mean_a, l2_mean_a, l3_mean_a, mean_power_w) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            m.meter_id,
            ts(m.minute),
            m.samples,
            m.max_a[0],
            m.max_a[1],
            m.max_a[2],
            m.mean_a[0],
            m.mean_a[1],
            m.mean_a[2],
            m.mean_power_w
        ],
    )?;
    Ok(())
}

/// The minutes of `meter_id` from `since` on, oldest first.
pub fn meter_minutes(
    conn: &Connection,
    meter_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<MinuteSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT minute, samples, l1_max_a, l2_max_a, l3_max_a, l1_mean_a, l2_mean_a, \
         l3_mean_a, mean_power_w FROM meter_history WHERE meter_id = ?1 AND minute >= ?2 \
         ORDER BY minute",
    )?;
    let rows = stmt.query_map(params![meter_id, ts(since)], |r| {
        let minute: String = r.get(0)?;
        Ok(MinuteSummary {
            meter_id: meter_id.to_string(),
            minute: DateTime::parse_from_rfc3339(&minute)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            samples: r.get(1)?,
            max_a: [r.get(2)?, r.get(3)?, r.get(4)?],
            mean_a: [r.get(5)?, r.get(6)?, r.get(7)?],
            mean_power_w: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes minutes before `before`; returns how many.
pub fn prune_meter_history(conn: &Connection, before: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM meter_history WHERE minute < ?1",
        params![ts(before)],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_written_read_replaced_and_pruned() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&mut conn).unwrap();
        let t = |m: i64| DateTime::from_timestamp(1_800_000_000 - 20 + m * 60, 0).unwrap();
        let minute = |m: i64, max: f64| MinuteSummary {
            meter_id: "grid".into(),
            minute: t(m),
            samples: 60,
            max_a: [Some(max), Some(2.0), None],
            mean_a: [Some(1.0), Some(1.5), None],
            mean_power_w: Some(500.0),
        };
        for m in 0..3 {
            insert_meter_minute(&conn, &minute(m, 10.0)).unwrap();
        }
        insert_meter_minute(&conn, &minute(2, 30.0)).unwrap();
        let rows = meter_minutes(&conn, "grid", t(1)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], minute(2, 30.0));
        assert_eq!(prune_meter_history(&conn, t(2)).unwrap(), 2);
        assert_eq!(meter_minutes(&conn, "grid", t(0)).unwrap().len(), 1);
        assert!(meter_minutes(&conn, "other", t(0)).unwrap().is_empty());
    }
}
