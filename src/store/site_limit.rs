//! The temporary lower grid limits (migration 16, `site_limits`): one row at most per
//! source, the operator's (`PUT/DELETE /api/v1/site/limit`, MQTT `set-site-limit`) and the
//! cloud CSMS's station maximum (the OCPP Local Controller). Written before the control
//! loop hears of them, read back at start, so a restart during a curtailment keeps it (a
//! distribution operator's curtailment that a reboot lifted would be broken by the gateway
//! itself). Also the cloud's lasting per-charger caps (`cloud_caps`, a TxDefaultProfile).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::StoreError;
use crate::units::Amps;

/// Who set a temporary limit. Each source has its own; the lowest in force applies, so
/// neither can raise or lift the other's (a cloud cannot undo a distribution operator's
/// curtailment the depot operator entered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitSource {
    /// The HTTP API and MQTT `set-site-limit`.
    Operator,
    /// The cloud CSMS above the OCPP Local Controller (a station maximum profile).
    Cloud,
}

impl LimitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Cloud => "cloud",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "operator" => Ok(Self::Operator),
            "cloud" => Ok(Self::Cloud),
            other => Err(StoreError::Corrupt(format!("site_limits.source {other:?}"))),
        }
    }
}

/// A grid limit below the configured one, in force until `until` (or until deleted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemporaryLimit {
    /// Per phase, like `[site] grid-limit-a`; the margin still applies below it.
    pub limit: Amps,
    pub until: Option<DateTime<Utc>>,
    pub set_at: DateTime<Utc>,
    pub source: LimitSource,
}

impl TemporaryLimit {
    /// Whether it is in force at `now`: set, and not yet ended.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

/// The cloud's upper bound on one charger's current, per phase (a TxDefaultProfile or a
/// TxProfile from the cloud CSMS): the planner never gives the charger more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloudCap {
    pub limit: Amps,
    pub until: Option<DateTime<Utc>>,
    pub set_at: DateTime<Utc>,
}

impl CloudCap {
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
        .map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}

fn amps(column: &str, limit_a: f64) -> Result<Amps, StoreError> {
    if !limit_a.is_finite() || limit_a < 0.0 {
        return Err(StoreError::Corrupt(format!("{column} {limit_a}")));
    }
    Ok(Amps(limit_a))
}

/// Sets (or replaces) the temporary limit of `limit.source`.
pub fn set_temporary_limit(conn: &Connection, limit: &TemporaryLimit) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO site_limits (source, limit_a, until, set_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            limit.source.as_str(),
            limit.limit.0,
            limit.until.map(ts),
            ts(limit.set_at)
        ],
    )?;
    Ok(())
}

/// Removes the limit of `source`; true when there was one.
pub fn clear_temporary_limit(conn: &Connection, source: LimitSource) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM site_limits WHERE source = ?1",
        [source.as_str()],
    )? > 0)
}

/// A row of `site_limits` or `cloud_caps`: its key, limit, end and when it was set.
type LimitRow = (String, f64, Option<String>, String);

/// The four columns of `sql` (key, limit_a, until, set_at) row by row.
fn limit_rows(conn: &Connection, sql: &str) -> Result<Vec<LimitRow>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The limit, end and time set of a row of `table`, checked.
fn cap_of(table: &str, (_, limit_a, until, set_at): &LimitRow) -> Result<CloudCap, StoreError> {
    Ok(CloudCap {
        limit: amps(&format!("{table}.limit_a"), *limit_a)?,
        until: until
            .as_deref()
            .map(|u| parse(&format!("{table}.until"), u))
            .transpose()?,
        set_at: parse(&format!("{table}.set_at"), set_at)?,
    })
}

/// The stored temporary limits, ended or not (the caller asks `in_force`), one per source.
pub fn temporary_limits(conn: &Connection) -> Result<Vec<TemporaryLimit>, StoreError> {
    limit_rows(
        conn,
        "SELECT source, limit_a, until, set_at FROM site_limits ORDER BY source",
    )?
    .iter()
    .map(|row| {
        let CloudCap {
            limit,
            until,
            set_at,
        } = cap_of("site_limits", row)?;
        Ok(TemporaryLimit {
            limit,
            until,
            set_at,
            source: LimitSource::parse(&row.0)?,
        })
    })
    .collect()
}

/// Sets (or replaces) the cloud's lasting cap on `charger`.
pub fn set_cloud_cap(conn: &Connection, charger: &str, cap: &CloudCap) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO cloud_caps (charger_id, limit_a, until, set_at) VALUES (?1, ?2, ?3, ?4)",
        params![charger, cap.limit.0, cap.until.map(ts), ts(cap.set_at)],
    )?;
    Ok(())
}

/// Removes the cloud's lasting cap on `charger`; true when there was one.
pub fn clear_cloud_cap(conn: &Connection, charger: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM cloud_caps WHERE charger_id = ?1", [charger])? > 0)
}

/// The cloud's lasting caps, per charger id, ended or not.
pub fn cloud_caps(conn: &Connection) -> Result<Vec<(String, CloudCap)>, StoreError> {
    limit_rows(
        conn,
        "SELECT charger_id, limit_a, until, set_at FROM cloud_caps ORDER BY charger_id",
    )?
    .iter()
    .map(|row| Ok((row.0.clone(), cap_of("cloud_caps", row)?)))
    .collect()
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

    fn limit(source: LimitSource, limit_a: f64) -> TemporaryLimit {
        TemporaryLimit {
            limit: Amps(limit_a),
            until: Some(at("2026-12-01T18:00:00Z")),
            set_at: at("2026-12-01T08:00:00.250Z"),
            source,
        }
    }

    #[test]
    fn each_source_keeps_its_own_limit_replaced_and_cleared_alone() {
        let c = conn();
        assert_eq!(temporary_limits(&c).unwrap(), vec![]);
        let operator = limit(LimitSource::Operator, 60.0);
        let cloud = limit(LimitSource::Cloud, 80.0);
        set_temporary_limit(&c, &operator).unwrap();
        set_temporary_limit(&c, &cloud).unwrap();
        assert_eq!(temporary_limits(&c).unwrap(), vec![cloud, operator]);
        let replaced = TemporaryLimit {
            until: None,
            ..limit(LimitSource::Cloud, 90.5)
        };
        set_temporary_limit(&c, &replaced).unwrap();
        assert_eq!(temporary_limits(&c).unwrap(), vec![replaced, operator]);
        assert!(clear_temporary_limit(&c, LimitSource::Cloud).unwrap());
        assert!(!clear_temporary_limit(&c, LimitSource::Cloud).unwrap());
        assert_eq!(
            temporary_limits(&c).unwrap(),
            vec![operator],
            "the cloud's clearing leaves the operator's"
        );
        assert!(clear_temporary_limit(&c, LimitSource::Operator).unwrap());
        assert_eq!(temporary_limits(&c).unwrap(), vec![]);
    }

    #[test]
    fn the_one_limit_of_migration_11_becomes_the_operators() {
        let mut c = Connection::open_in_memory().unwrap();
        let before_16 = super::super::schema::MIGRATIONS.len() - 1;
        rusqlite_migration::Migrations::new(
            super::super::schema::MIGRATIONS[..before_16]
                .iter()
                .map(|sql| rusqlite_migration::M::up(sql))
                .collect(),
        )
        .to_latest(&mut c)
        .unwrap();
        c.execute(
            "INSERT INTO site_limit (one, limit_a, until, set_at) VALUES (1, 75.0, NULL, '2026-12-01T08:00:00.000Z')",
            [],
        )
        .unwrap();
        prepare(&mut c).unwrap();
        assert_eq!(
            temporary_limits(&c).unwrap(),
            vec![TemporaryLimit {
                limit: Amps(75.0),
                until: None,
                set_at: at("2026-12-01T08:00:00Z"),
                source: LimitSource::Operator,
            }]
        );
    }

    #[test]
    fn a_cloud_cap_is_read_back_per_charger_and_cleared() {
        let c = conn();
        let cap = CloudCap {
            limit: Amps(10.0),
            until: None,
            set_at: at("2026-12-01T08:00:00Z"),
        };
        set_cloud_cap(&c, "CP-01", &cap).unwrap();
        set_cloud_cap(
            &c,
            "CP-02",
            &CloudCap {
                limit: Amps(16.0),
                ..cap
            },
        )
        .unwrap();
        set_cloud_cap(
            &c,
            "CP-01",
            &CloudCap {
                limit: Amps(12.0),
                ..cap
            },
        )
        .unwrap();
        assert_eq!(
            cloud_caps(&c).unwrap(),
            vec![
                (
                    "CP-01".to_string(),
                    CloudCap {
                        limit: Amps(12.0),
                        ..cap
                    }
                ),
                (
                    "CP-02".to_string(),
                    CloudCap {
                        limit: Amps(16.0),
                        ..cap
                    }
                ),
            ]
        );
        assert!(clear_cloud_cap(&c, "CP-01").unwrap());
        assert!(!clear_cloud_cap(&c, "CP-01").unwrap());
        assert_eq!(cloud_caps(&c).unwrap().len(), 1);
    }

    #[test]
    fn in_force_until_its_end_only() {
        let l = limit(LimitSource::Operator, 100.0);
        assert!(l.in_force(at("2026-12-01T17:59:59Z")));
        assert!(!l.in_force(at("2026-12-01T18:00:00Z")));
        let open = TemporaryLimit { until: None, ..l };
        assert!(open.in_force(at("2030-01-01T00:00:00Z")));
    }
}
