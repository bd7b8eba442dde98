//! Device management records (issue 10): the operator's newest firmware update and log
//! upload per charger and the status the charger last reported on each, and the chargers
//! the operator accepted at run time.
//!
//! One row per charger and kind: a new request replaces the old one, and every status the
//! charger reports overwrites the row's status (the history is in `charger_events`, one
//! note per status, written by the CSMS). The HTTP side writes the request *before* it is
//! sent, as `Requested`, because the charger's first status may arrive before its answer
//! does; the answer then only replaces a status still `Requested`. Never interprets a wire
//! payload.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::ocpp::time::format as ts;

/// The status a request has between being written and the charger's answer.
pub const REQUESTED: &str = "Requested";

/// Which request a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequestKind {
    /// UpdateFirmware; FirmwareStatusNotification reports on it.
    Firmware,
    /// GetDiagnostics / GetLog; DiagnosticsStatusNotification / LogStatusNotification.
    Log,
}

impl DeviceRequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceRequestKind::Firmware => "firmware",
            DeviceRequestKind::Log => "log",
        }
    }
}

/// A request and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// 2.0.1 requestId; `None` for 1.6.
    pub request_id: Option<i32>,
    /// `None` for a status of a request chargegate did not send.
    pub location: Option<String>,
    /// `Requested`, the charger's answer (`Accepted`, `Rejected`, ...), a status it
    /// reported since (`Downloading`, `Installed`, `Uploaded`, ...), or `NotSent` when the
    /// request never reached it.
    pub status: String,
    /// GetDiagnostics / GetLog: the file the charger said it would upload.
    pub file_name: Option<String>,
    pub requested_at: Option<String>,
    pub updated_at: String,
}

/// Records a new request of `kind`, replacing the charger's previous one.
pub fn device_request(
    c: &Connection,
    charger: &str,
    kind: DeviceRequestKind,
    request_id: Option<i32>,
    location: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR REPLACE INTO device_requests
           (charger_id, kind, request_id, location, status, file_name, requested_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?6)",
        params![
            charger,
            kind.as_str(),
            request_id,
            location,
            REQUESTED,
            ts(&now)
        ],
    )?;
    Ok(())
}

/// The charger's answer to the request written by `device_request`: replaces a status
/// still `Requested` (a status the charger already reported is newer than its answer).
pub fn device_request_answered(
    c: &Connection,
    charger: &str,
    kind: DeviceRequestKind,
    status: &str,
    file_name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE device_requests SET file_name = COALESCE(?4, file_name),
                status = CASE WHEN status = ?5 THEN ?3 ELSE status END,
                updated_at = CASE WHEN status = ?5 THEN ?6 ELSE updated_at END
         WHERE charger_id = ?1 AND kind = ?2",
        params![
            charger,
            kind.as_str(),
            status,
            file_name,
            REQUESTED,
            ts(&now)
        ],
    )?;
    Ok(())
}

/// A status the charger reported. A status naming another requestId than the stored one
/// is about a request chargegate did not send (or no longer holds): it replaces the row,
/// without a location.
pub fn device_status(
    c: &Connection,
    charger: &str,
    kind: DeviceRequestKind,
    request_id: Option<i32>,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let updated = c.execute(
        "UPDATE device_requests SET status = ?4, updated_at = ?5
         WHERE charger_id = ?1 AND kind = ?2
           AND (?3 IS NULL OR request_id IS NULL OR request_id = ?3)",
        params![charger, kind.as_str(), request_id, status, ts(&now)],
    )?;
    if updated == 0 {
        c.execute(
            "INSERT OR REPLACE INTO device_requests
               (charger_id, kind, request_id, location, status, file_name, requested_at, updated_at)
             VALUES (?1, ?2, ?3, NULL, ?4, NULL, NULL, ?5)",
            params![charger, kind.as_str(), request_id, status, ts(&now)],
        )?;
    }
    Ok(())
}

/// The charger's newest request of `kind`, if any.
pub fn device_request_of(
    c: &Connection,
    charger: &str,
    kind: DeviceRequestKind,
) -> Result<Option<DeviceRequest>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT request_id, location, status, file_name, requested_at, updated_at
         FROM device_requests WHERE charger_id = ?1 AND kind = ?2",
    )?;
    Ok(stmt
        .query_row(params![charger, kind.as_str()], |r| {
            Ok(DeviceRequest {
                request_id: r.get(0)?,
                location: r.get(1)?,
                status: r.get(2)?,
                file_name: r.get(3)?,
                requested_at: r.get(4)?,
                updated_at: r.get(5)?,
            })
        })
        .optional()?)
}

/// What `accept_charger` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Recorded: its next BootNotification is Accepted.
    Accepted,
    /// Accepted before.
    AlreadyAccepted,
    /// chargegate never saw this charger (no row in `chargers`).
    Unknown,
}

/// Records that the operator (`by`) accepted `charger`, a charger chargegate has seen.
pub fn accept_charger(
    c: &Connection,
    charger: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<AcceptOutcome, StoreError> {
    let seen = c
        .query_row(
            "SELECT 1 FROM chargers WHERE id = ?1",
            [charger],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !seen {
        return Ok(AcceptOutcome::Unknown);
    }
    let inserted = c.execute(
        "INSERT OR IGNORE INTO accepted_chargers (id, accepted_at, accepted_by) VALUES (?1, ?2, ?3)",
        params![charger, ts(&now), by],
    )?;
    Ok(if inserted == 1 {
        AcceptOutcome::Accepted
    } else {
        AcceptOutcome::AlreadyAccepted
    })
}

/// Whether the operator accepted `charger` at run time.
pub fn operator_accepted(c: &Connection, charger: &str) -> Result<bool, StoreError> {
    let mut stmt = c.prepare_cached("SELECT 1 FROM accepted_chargers WHERE id = ?1")?;
    Ok(stmt.query_row([charger], |_| Ok(())).optional()?.is_some())
}

/// The operator set a station (`evse_id` 0), an EVSE (`connector_id` 0) or a connector
/// Inoperative (`operative` false: kept) or Operative again (that scope's record dropped).
pub fn set_availability(
    c: &Connection,
    charger: &str,
    evse_id: u32,
    connector_id: u32,
    operative: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if operative {
        c.execute(
            "DELETE FROM availability WHERE charger_id = ?1 AND evse_id = ?2 AND connector_id = ?3",
            params![charger, evse_id, connector_id],
        )?;
    } else {
        c.execute(
            "INSERT OR REPLACE INTO availability (charger_id, evse_id, connector_id, set_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![charger, evse_id, connector_id, ts(&now)],
        )?;
    }
    Ok(())
}

/// The Inoperative scopes of `charger` set before `before` that cover connector
/// (`evse_id`, `connector_id`): the station, the EVSE, or the connector itself, as
/// (evse, connector) with 0 for "all".
pub fn inoperative_covering(
    c: &Connection,
    charger: &str,
    evse_id: u32,
    connector_id: u32,
    before: DateTime<Utc>,
) -> Result<Vec<(u32, u32)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT evse_id, connector_id FROM availability WHERE charger_id = ?1
           AND (evse_id = 0 OR (evse_id = ?2 AND (connector_id = 0 OR connector_id = ?3)))
           AND set_at < ?4
         ORDER BY evse_id, connector_id",
    )?;
    let rows = stmt.query_map(params![charger, evse_id, connector_id, ts(&before)], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::ocpp::time::parse(s).unwrap()
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&mut c).unwrap();
        c
    }

    #[test]
    fn inoperative_scopes_cover_what_they_contain() {
        let c = db();
        let now = t("2026-01-01T00:00:00Z");
        let later = t("2026-01-01T00:00:01Z");
        let inoperative_covering =
            |c: &Connection, id: &str, e: u32, k: u32| inoperative_covering(c, id, e, k, later);
        set_availability(&c, "CP", 2, 0, false, now).unwrap();
        set_availability(&c, "CP", 3, 1, false, now).unwrap();
        assert_eq!(inoperative_covering(&c, "CP", 2, 1).unwrap(), [(2, 0)]);
        assert_eq!(inoperative_covering(&c, "CP", 3, 1).unwrap(), [(3, 1)]);
        assert!(inoperative_covering(&c, "CP", 3, 2).unwrap().is_empty());
        assert!(inoperative_covering(&c, "CP", 1, 0).unwrap().is_empty());
        assert!(inoperative_covering(&c, "OTHER", 2, 1).unwrap().is_empty());
        set_availability(&c, "CP", 0, 0, false, now).unwrap();
        assert_eq!(inoperative_covering(&c, "CP", 1, 0).unwrap(), [(0, 0)]);
        // Set after the boot: not the charger's forgetting.
        assert!(
            super::inoperative_covering(&c, "CP", 1, 0, now)
                .unwrap()
                .is_empty()
        );
        set_availability(&c, "CP", 0, 0, true, now).unwrap();
        set_availability(&c, "CP", 2, 0, true, now).unwrap();
        assert!(inoperative_covering(&c, "CP", 2, 1).unwrap().is_empty());
    }

    #[test]
    fn only_a_charger_seen_is_accepted_and_only_once() {
        let c = db();
        let now = t("2026-01-01T00:00:00Z");
        assert_eq!(
            accept_charger(&c, "NEW", "op", now).unwrap(),
            AcceptOutcome::Unknown
        );
        assert!(!operator_accepted(&c, "NEW").unwrap());
        super::super::charger_connected(&c, "NEW", "ocpp1.6", now).unwrap();
        assert_eq!(
            accept_charger(&c, "NEW", "op", now).unwrap(),
            AcceptOutcome::Accepted
        );
        assert_eq!(
            accept_charger(&c, "NEW", "op", now).unwrap(),
            AcceptOutcome::AlreadyAccepted
        );
        assert!(operator_accepted(&c, "NEW").unwrap());
        // Pruning strangers spares it.
        super::super::charger_disconnected(&c, "NEW", now).unwrap();
        let later = t("2026-02-01T00:00:00Z");
        assert_eq!(
            super::super::prune_unknown_chargers(&c, &[], later).unwrap(),
            0
        );
    }

    #[test]
    fn a_status_reported_before_the_answer_is_kept() {
        let c = db();
        let kind = DeviceRequestKind::Firmware;
        device_request(
            &c,
            "CP",
            kind,
            Some(7),
            "https://x/fw",
            t("2026-01-01T00:00:00Z"),
        )
        .unwrap();
        device_status(
            &c,
            "CP",
            kind,
            Some(7),
            "Downloading",
            t("2026-01-01T00:00:01Z"),
        )
        .unwrap();
        device_request_answered(&c, "CP", kind, "Accepted", None, t("2026-01-01T00:00:02Z"))
            .unwrap();
        let row = device_request_of(&c, "CP", kind).unwrap().unwrap();
        assert_eq!(row.status, "Downloading");
        assert_eq!(row.updated_at, "2026-01-01T00:00:01.000Z");
        assert_eq!(row.location.as_deref(), Some("https://x/fw"));
    }

    #[test]
    fn a_status_of_another_request_replaces_the_row_without_a_location() {
        let c = db();
        let kind = DeviceRequestKind::Log;
        device_request(
            &c,
            "CP",
            kind,
            Some(7),
            "https://x/up",
            t("2026-01-01T00:00:00Z"),
        )
        .unwrap();
        device_request_answered(
            &c,
            "CP",
            kind,
            "Accepted",
            Some("a.log"),
            t("2026-01-01T00:00:01Z"),
        )
        .unwrap();
        assert_eq!(
            device_request_of(&c, "CP", kind)
                .unwrap()
                .unwrap()
                .file_name
                .as_deref(),
            Some("a.log")
        );
        device_status(
            &c,
            "CP",
            kind,
            Some(8),
            "Uploading",
            t("2026-01-01T00:00:02Z"),
        )
        .unwrap();
        let row = device_request_of(&c, "CP", kind).unwrap().unwrap();
        assert_eq!(
            (row.request_id, row.location, row.status.as_str()),
            (Some(8), None, "Uploading")
        );
        // Another charger and the other kind are untouched.
        assert!(
            device_request_of(&c, "CP", DeviceRequestKind::Firmware)
                .unwrap()
                .is_none()
        );
        assert!(device_request_of(&c, "CP2", kind).unwrap().is_none());
    }
}
