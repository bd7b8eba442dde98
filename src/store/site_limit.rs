//! The temporary lower grid limit (`PUT/DELETE /api/v1/site/limit`, migration 11): one
//! row at most. Written before the control loop hears of it, read back at start, so a
//! restart during a curtailment keeps it (a distribution operator's curtailment that a
//! reboot lifted would be broken by the gateway itself).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::units::Amps;

/// A grid limit below the configured one, in force until `until` (or until deleted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemporaryLimit {
    /// Per phase, like `[site] grid-limit-a`; the margin still applies below it.
    pub limit: Amps,
    pub until: Option<DateTime<Utc>>,
    pub set_at: DateTime<Utc>,
}

impl TemporaryLimit {
    /// Whether it is in force at `now`: set, and not yet ended.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse(column: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("site_limit.{column} {text:?}: {e}")))
}

/// Sets (or replaces) the temporary limit.
pub fn set_temporary_limit(conn: &Connection, limit: &TemporaryLimit) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO site_limit (one, limit_a, until, set_at) VALUES (1, ?1, ?2, ?3)",
        params![limit.limit.0, limit.until.map(ts), ts(limit.set_at)],
    )?;
    Ok(())
}

/// Removes it; true when there was one.
pub fn clear_temporary_limit(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM site_limit", [])? > 0)
}

/// The stored temporary limit, ended or not (the caller asks `in_force`).
pub fn temporary_limit(conn: &Connection) -> Result<Option<TemporaryLimit>, StoreError> {
    let row = conn
        .query_row(
            "SELECT limit_a, until, set_at FROM site_limit WHERE one = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, f64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((limit_a, until, set_at)) = row else {
        return Ok(None);
    };
    if !limit_a.is_finite() || limit_a < 0.0 {
        return Err(StoreError::Corrupt(format!("site_limit.limit_a {limit_a}")));
    }
    Ok(Some(TemporaryLimit {
        limit: Amps(limit_a),
        until: until.as_deref().map(|u| parse("until", u)).transpose()?,
        set_at: parse("set_at", &set_at)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::prepare;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        prepare(&mut c).unwrap();
        c
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_limit_is_read_back_replaced_and_cleared() {
        let c = conn();
        assert_eq!(temporary_limit(&c).unwrap(), None);
        let first = TemporaryLimit {
            limit: Amps(120.0),
            until: Some(at("2026-12-01T18:00:00Z")),
            set_at: at("2026-12-01T08:00:00.250Z"),
        };
        set_temporary_limit(&c, &first).unwrap();
        assert_eq!(temporary_limit(&c).unwrap(), Some(first));
        let second = TemporaryLimit {
            limit: Amps(90.5),
            until: None,
            set_at: at("2026-12-01T09:00:00Z"),
        };
        set_temporary_limit(&c, &second).unwrap();
        assert_eq!(temporary_limit(&c).unwrap(), Some(second));
        assert!(clear_temporary_limit(&c).unwrap());
        assert!(!clear_temporary_limit(&c).unwrap());
        assert_eq!(temporary_limit(&c).unwrap(), None);
    }

    #[test]
    fn in_force_until_its_end_only() {
        let l = TemporaryLimit {
            limit: Amps(100.0),
            until: Some(at("2026-12-01T18:00:00Z")),
            set_at: at("2026-12-01T08:00:00Z"),
        };
        assert!(l.in_force(at("2026-12-01T17:59:59Z")));
        assert!(!l.in_force(at("2026-12-01T18:00:00Z")));
        let open = TemporaryLimit { until: None, ..l };
        assert!(open.in_force(at("2030-01-01T00:00:00Z")));
    }
}
