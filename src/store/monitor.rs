//! The store's part of the operator's monitoring reads (`/api/v1/chargers`, issue 10):
//! what each charger said about itself at boot, its connectors' last status and error
//! code, its open transaction with the energy so far, its latest measured current, and
//! the newest limit sent to it with its reason (the audit log, S6).
//!
//! Read-only and bounded: every query reads one charger's rows through an index (the
//! chargers table's key, connectors' key, `transactions_open`, `samples_tx`,
//! `audit_charger_id`), so a monitoring read stays cheap on the store thread however long
//! the site has run. Never writes; never interprets a wire payload.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// What a charger said about itself (BootNotification) and its connection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerInfo {
    pub id: String,
    pub ocpp_version: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    /// `accepted` or `pending`.
    pub registration: String,
    pub first_seen: String,
    pub last_seen: String,
    pub last_boot: Option<String>,
    pub connected: bool,
}

/// One connector's last StatusNotification (2.0.1: per EVSE and connector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorInfo {
    pub evse_id: u32,
    pub connector_id: u32,
    pub status: String,
    /// 1.6 ChargePointErrorCode (`NoError` when fine); 2.0.1 sends none (faults come as
    /// NotifyEvent), so it is `None` there.
    pub error_code: Option<String>,
    pub info: Option<String>,
    pub updated_at: String,
}

/// A transaction still open, with the energy register as far as the charger reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTransaction {
    pub id: i64,
    pub ocpp_tx_id: Option<String>,
    pub evse_id: Option<u32>,
    pub id_token: Option<String>,
    pub started_at: Option<String>,
    pub meter_start_wh: Option<f64>,
    pub meter_last_wh: Option<f64>,
    /// 2.0.1 chargingState (`Charging`, `SuspendedEV`, ...), if reported.
    pub charging_state: Option<String>,
    pub updated_at: String,
}

/// The newest Current.Import samples of a transaction: per phase (`L1`, `L1-N`, ...; `""`
/// for a total) and when they were taken.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredCurrent {
    pub ts: String,
    pub per_phase: Vec<(String, f64)>,
}

/// A SetChargingProfile from the audit log: when, its reason and the charger's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSent {
    pub ts: String,
    pub reason: String,
    pub outcome: String,
}

/// Everything the store knows about one charger for the monitoring reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerMonitor {
    pub info: Option<ChargerInfo>,
    pub connectors: Vec<ConnectorInfo>,
    pub transaction: Option<OpenTransaction>,
    pub measured: Option<MeasuredCurrent>,
    /// The newest SetChargingProfile entries of the charger that are not its failsafe
    /// baseline, newest first, at most `LIMITS_READ`.
    pub limits: Vec<LimitSent>,
    /// The newest firmware update and log upload, with the charger's latest status on
    /// each (`store/devices.rs`).
    pub firmware_update: Option<super::DeviceRequest>,
    pub log_upload: Option<super::DeviceRequest>,
}

/// Audit entries read per charger to find the newest limit and the newest one that is
/// not a lease refresh (a refresh every half lease: a handful per lease).
pub const LIMITS_READ: u32 = 20;

/// The reason dispatch gives the failsafe baseline starts with this (`dispatch::baseline`).
const BASELINE_REASON: &str = "baseline";

/// The newest rows first along `samples_tx` (its entries end in the rowid), so a long
/// transaction's thousands of samples are not read: a reading is at most a total and three
/// phases (and their `-N` spellings).
const MEASURED_SQL: &str = "SELECT ts, phase, value FROM samples
     WHERE transaction_id = ?1 AND measurand = 'Current.Import' ORDER BY id DESC LIMIT 8";

/// `+action`: walk the charger's own entries (`audit_charger_id`) from the newest, not
/// every charger's SetChargingProfile (`audit_action_id`) filtered by charger.
const LIMITS_SQL: &str = "SELECT ts, reason, outcome FROM audit
     WHERE charger_id = ?1 AND +action = 'SetChargingProfile' ORDER BY id DESC LIMIT ?2";

/// Ids of every charger the store has seen (configured or admitted as Pending).
pub fn known_chargers(c: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT id FROM chargers ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the store knows about `charger` (empty parts where it never connected).
pub fn charger_monitor(c: &Connection, charger: &str) -> Result<ChargerMonitor, StoreError> {
    let transaction = open_transaction(c, charger)?;
    let measured = match &transaction {
        Some(tx) => measured_current(c, tx.id)?,
        None => None,
    };
    Ok(ChargerMonitor {
        info: charger_info(c, charger)?,
        connectors: connectors(c, charger)?,
        transaction,
        measured,
        limits: limits_sent(c, charger)?,
        firmware_update: super::device_request_of(c, charger, super::DeviceRequestKind::Firmware)?,
        log_upload: super::device_request_of(c, charger, super::DeviceRequestKind::Log)?,
    })
}

fn charger_info(c: &Connection, charger: &str) -> Result<Option<ChargerInfo>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, ocpp_version, vendor, model, serial, firmware, registration, first_seen,
                last_seen, last_boot, connected FROM chargers WHERE id = ?1",
    )?;
    Ok(stmt
        .query_row([charger], |r| {
            Ok(ChargerInfo {
                id: r.get(0)?,
                ocpp_version: r.get(1)?,
                vendor: r.get(2)?,
                model: r.get(3)?,
                serial: r.get(4)?,
                firmware: r.get(5)?,
                registration: r.get(6)?,
                first_seen: r.get(7)?,
                last_seen: r.get(8)?,
                last_boot: r.get(9)?,
                connected: r.get::<_, i64>(10)? != 0,
            })
        })
        .optional()?)
}

fn connectors(c: &Connection, charger: &str) -> Result<Vec<ConnectorInfo>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT evse_id, connector_id, status, error_code, info, updated_at FROM connectors
         WHERE charger_id = ?1 ORDER BY evse_id, connector_id",
    )?;
    let rows = stmt.query_map([charger], |r| {
        Ok(ConnectorInfo {
            evse_id: r.get(0)?,
            connector_id: r.get(1)?,
            status: r.get(2)?,
            error_code: r.get(3)?,
            info: r.get(4)?,
            updated_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn open_transaction(c: &Connection, charger: &str) -> Result<Option<OpenTransaction>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, ocpp_tx_id, evse_id, id_token, started_at, meter_start_wh, meter_last_wh,
                charging_state, updated_at
         FROM transactions WHERE status = 'open' AND charger_id = ?1 ORDER BY id DESC LIMIT 1",
    )?;
    Ok(stmt
        .query_row([charger], |r| {
            Ok(OpenTransaction {
                id: r.get(0)?,
                ocpp_tx_id: r.get(1)?,
                evse_id: r.get(2)?,
                id_token: r.get(3)?,
                started_at: r.get(4)?,
                meter_start_wh: r.get(5)?,
                meter_last_wh: r.get(6)?,
                charging_state: r.get(7)?,
                updated_at: r.get(8)?,
            })
        })
        .optional()?)
}

fn measured_current(c: &Connection, tx: i64) -> Result<Option<MeasuredCurrent>, StoreError> {
    let mut stmt = c.prepare_cached(MEASURED_SQL)?;
    let rows: Vec<(String, String, f64)> = stmt
        .query_map([tx], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // A resent offline sample may be stored after a newer one: the newest time wins.
    let Some(ts) = rows.iter().map(|r| r.0.clone()).max() else {
        return Ok(None);
    };
    let mut per_phase: Vec<(String, f64)> = rows
        .into_iter()
        .filter(|r| r.0 == ts)
        .map(|(_, p, v)| (p, v))
        .collect();
    per_phase.sort_by(|a, b| a.0.cmp(&b.0));
    per_phase.dedup_by(|a, b| a.0 == b.0);
    Ok(Some(MeasuredCurrent { ts, per_phase }))
}

fn limits_sent(c: &Connection, charger: &str) -> Result<Vec<LimitSent>, StoreError> {
    let mut stmt = c.prepare_cached(LIMITS_SQL)?;
    let rows = stmt.query_map(rusqlite::params![charger, LIMITS_READ], |r| {
        Ok(LimitSent {
            ts: r.get(0)?,
            reason: r.get(1)?,
            outcome: r.get(2)?,
        })
    })?;
    let all: Vec<LimitSent> = rows.collect::<Result<_, _>>()?;
    Ok(all
        .into_iter()
        .filter(|l| !l.reason.starts_with(BASELINE_REASON))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditRecord, BootRecord, audit, charger_booted, charger_connected};
    use crate::store::{connector_status, schema};

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        schema::prepare(&mut c).unwrap();
        c
    }

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        crate::ocpp::time::parse(s).unwrap()
    }

    #[test]
    fn a_charger_as_the_store_knows_it() {
        let c = db();
        assert_eq!(
            charger_monitor(&c, "CP-01").unwrap(),
            ChargerMonitor {
                info: None,
                connectors: vec![],
                transaction: None,
                measured: None,
                limits: vec![],
                firmware_update: None,
                log_upload: None,
            }
        );
        charger_connected(&c, "CP-01", "1.6", at("2026-11-30T08:00:00Z")).unwrap();
        let boot = BootRecord {
            vendor: "ACME".into(),
            model: "Wallbox 22".into(),
            serial: Some("S-1".into()),
            firmware: Some("1.2.3".into()),
        };
        charger_booted(&c, "CP-01", &boot, "accepted", at("2026-11-30T08:00:01Z")).unwrap();
        connector_status(
            &c,
            "CP-01",
            1,
            1,
            "Faulted",
            Some("GroundFailure"),
            None,
            at("2026-11-30T08:01:00Z"),
        )
        .unwrap();
        for (reason, outcome) in [
            ("baseline: failsafe 6 A until ...", "accepted"),
            ("plan: up (lease 600 s)", "accepted"),
            ("refresh lease (lease 600 s)", "rejected"),
        ] {
            audit(
                &c,
                &AuditRecord {
                    ts: "2026-11-30T08:02:00.000Z".into(),
                    charger_id: "CP-01".into(),
                    action: "SetChargingProfile".into(),
                    request: "{}".into(),
                    response: None,
                    outcome: outcome.into(),
                    reason: reason.into(),
                },
            )
            .unwrap();
        }
        let m = charger_monitor(&c, "CP-01").unwrap();
        let info = m.info.unwrap();
        assert_eq!(
            (info.vendor.as_deref(), info.model.as_deref()),
            (Some("ACME"), Some("Wallbox 22"))
        );
        assert_eq!(info.firmware.as_deref(), Some("1.2.3"));
        assert!(info.connected);
        assert_eq!(m.connectors.len(), 1);
        assert_eq!(m.connectors[0].error_code.as_deref(), Some("GroundFailure"));
        // Newest first, the baseline left out.
        let reasons: Vec<&str> = m.limits.iter().map(|l| l.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["refresh lease (lease 600 s)", "plan: up (lease 600 s)"]
        );
        assert_eq!(known_chargers(&c).unwrap(), ["CP-01"]);
    }

    #[test]
    fn the_reads_use_the_charger_and_transaction_indexes() {
        let c = db();
        let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt
                .query_map(params, |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>();
            rows.join("; ")
        };
        let samples = plan(MEASURED_SQL, &[&1]);
        assert!(
            samples.contains("samples_tx") && !samples.contains("TEMP B-TREE"),
            "{samples}"
        );
        let audit = plan(LIMITS_SQL, &[&"CP-01", &LIMITS_READ]);
        assert!(
            audit.contains("audit_charger_id") && !audit.contains("TEMP B-TREE"),
            "{audit}"
        );
    }
}
