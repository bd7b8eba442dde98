//! Reservations (`/api/v1/reservations`, OCPP 1.6 §5.13 / 2.0.1 H01-H04): what the
//! operator reserved, for whom, and what became of it.
//!
//! chargegate chooses the reservation id (the row id: unique, never reused, kept across
//! restarts; it is the reservationId the charger gets). A reservation is `requested`
//! until the charger answers ReserveNow, then `accepted` or `rejected`; an accepted one
//! ends `used` (a transaction named it, or its card started on it), `expired` (its time
//! passed, or the charger said so), or `cancelled` (the operator, or the charger removed
//! it). Expiry is applied when the store is read or written with the caller's `now`
//! (`expire_due`), so it follows the injected clock and holds across restarts. Must never
//! decide who may charge: that is `csms::reservations`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// One reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRecord {
    /// The reservationId the charger knows.
    pub id: i32,
    pub charger_id: String,
    /// `None`: any EVSE of the charger.
    pub evse_id: Option<u32>,
    /// The card the reservation is for (for a group reservation, the group's id).
    pub id_token: String,
    /// A group reservation: every card of this group may use it.
    pub group: Option<String>,
    pub expires: DateTime<Utc>,
    /// `requested`, `accepted`, `rejected`, `used`, `expired` or `cancelled`.
    pub state: String,
    /// The charger's last word about it (ReserveNow / CancelReservation status, or the
    /// 2.0.1 ReservationStatusUpdate), verbatim.
    pub charger_status: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The transaction that used it, when known (the store's row id).
    pub transaction_id: Option<i64>,
}

impl ReservationRecord {
    /// Still holds its EVSE: requested or accepted and not yet expired at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        OPEN_STATES.contains(&self.state.as_str()) && self.expires > now
    }
}

/// The states in which a reservation still holds its EVSE (until it expires).
pub const OPEN_STATES: &[&str] = &["requested", "accepted"];

/// A new reservation, before the charger has answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    pub charger_id: String,
    pub evse_id: Option<u32>,
    pub id_token: String,
    pub group: Option<String>,
    pub expires: DateTime<Utc>,
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn time(text: &str) -> rusqlite::Result<DateTime<Utc>> {
    crate::ocpp::time::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("not a timestamp: {text:?}").into(),
        )
    })
}

const COLUMNS: &str = "id, charger_id, evse_id, id_token, group_id, expires, state, \
                       charger_status, created_at, updated_at, transaction_id";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReservationRecord> {
    Ok(ReservationRecord {
        id: r.get(0)?,
        charger_id: r.get(1)?,
        evse_id: r.get(2)?,
        id_token: r.get(3)?,
        group: r.get(4)?,
        expires: time(&r.get::<_, String>(5)?)?,
        state: r.get(6)?,
        charger_status: r.get(7)?,
        created_at: time(&r.get::<_, String>(8)?)?,
        updated_at: time(&r.get::<_, String>(9)?)?,
        transaction_id: r.get(10)?,
    })
}

/// Stores a new reservation as `requested` and returns it with the id chargegate chose.
/// Ids stay within the i32 the OCPP schemas give reservationId.
pub fn create_reservation(
    c: &Connection,
    new: &NewReservation,
    now: DateTime<Utc>,
) -> Result<ReservationRecord, StoreError> {
    c.execute(
        "INSERT INTO reservations (charger_id, evse_id, id_token, group_id, expires, state,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'requested', ?6, ?6)",
        params![
            new.charger_id,
            new.evse_id,
            new.id_token,
            new.group,
            rfc3339(&new.expires),
            rfc3339(&now)
        ],
    )?;
    let row = c.last_insert_rowid();
    let id = i32::try_from(row).map_err(|_| {
        StoreError::Corrupt(format!("reservation id {row} is beyond an OCPP integer"))
    })?;
    reservation(c, id)?.ok_or_else(|| StoreError::Corrupt("reservation vanished".into()))
}

pub fn reservation(c: &Connection, id: i32) -> Result<Option<ReservationRecord>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM reservations WHERE id = ?1"),
        [id],
        record,
    )
    .optional()?)
}

/// Reservations newest first, after the id `before` (a cursor), at most `limit`.
pub fn reservations(
    c: &Connection,
    before: Option<i32>,
    limit: u32,
) -> Result<Vec<ReservationRecord>, StoreError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM reservations WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![before.unwrap_or(i32::MAX), limit], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The charger's reservations that still hold an EVSE at `now`, oldest first.
pub fn open_reservations(
    c: &Connection,
    charger: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ReservationRecord>, StoreError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM reservations
         WHERE charger_id = ?1 AND state IN ('requested', 'accepted') AND expires > ?2
         ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![charger, rfc3339(&now)], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks the reservations whose time has passed at `now` as `expired`; returns how many.
/// OCPP 1.6 §5.13 and 2.0.1 H01: a reservation ends at its expiry time.
pub fn expire_due(c: &Connection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let now = rfc3339(&now);
    // Cached: every CALL a charger sends runs this first (`csms::Csms::handle`).
    Ok(c.prepare_cached(
        "UPDATE reservations SET state = 'expired', updated_at = ?1
         WHERE state IN ('requested', 'accepted') AND expires <= ?1",
    )?
    .execute([&now])?)
}

/// Records the charger's answer to ReserveNow (`accepted`: it took the reservation).
/// Only a `requested` reservation changes: a late answer does not revive an ended one.
pub fn reservation_answered(
    c: &Connection,
    id: i32,
    accepted: bool,
    charger_status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE reservations SET state = ?2, charger_status = ?3, updated_at = ?4
         WHERE id = ?1 AND state = 'requested'",
        params![
            id,
            if accepted { "accepted" } else { "rejected" },
            charger_status,
            rfc3339(&now)
        ],
    )?;
    Ok(())
}

/// Ends a reservation that still holds its EVSE (`requested` or `accepted`) in `state`
/// (`expired` or `cancelled`), with the charger's word; false when it held none.
pub fn end_reservation(
    c: &Connection,
    charger: &str,
    id: i32,
    state: &str,
    charger_status: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE reservations
         SET state = ?3, charger_status = COALESCE(?4, charger_status), updated_at = ?5
         WHERE id = ?1 AND charger_id = ?2 AND state IN ('requested', 'accepted')",
        params![id, charger, state, charger_status, rfc3339(&now)],
    )? > 0)
}

/// Marks the charger's reservation `id` as used by the transaction in row `transaction`.
/// An `expired` one counts too: the charger's own clock decided it was still valid when
/// it started (OCPP 1.6 §5.13: the reservationId in StartTransaction ends it). A
/// rejected, cancelled or already used reservation is left as it is.
pub fn reservation_used(
    c: &Connection,
    charger: &str,
    id: i32,
    transaction: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE reservations SET state = 'used', transaction_id = ?3, updated_at = ?4
         WHERE id = ?1 AND charger_id = ?2 AND state IN ('requested', 'accepted', 'expired')",
        params![id, charger, transaction, rfc3339(&now)],
    )? > 0)
}

/// The EVSE ids the charger has reported a status for (EVSE 0, the station, left out).
pub fn known_evses(c: &Connection, charger: &str) -> Result<Vec<u32>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT DISTINCT evse_id FROM connectors WHERE charger_id = ?1 AND evse_id > 0
         ORDER BY evse_id",
    )?;
    let rows = stmt.query_map([charger], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::prepare(&mut c).unwrap();
        c
    }

    fn t(text: &str) -> DateTime<Utc> {
        crate::ocpp::time::parse(text).unwrap()
    }

    fn new(charger: &str) -> NewReservation {
        NewReservation {
            charger_id: charger.into(),
            evse_id: Some(1),
            id_token: "GOOD".into(),
            group: None,
            expires: t("2026-03-01T10:00:00Z"),
        }
    }

    #[test]
    fn a_reservation_goes_from_requested_to_its_end_once() {
        let c = db();
        let now = t("2026-03-01T09:00:00Z");
        let a = create_reservation(&c, &new("CP-1"), now).unwrap();
        let b = create_reservation(&c, &new("CP-1"), now).unwrap();
        assert_eq!(a.state, "requested");
        assert!(b.id > a.id, "ids are chosen by the store and never reused");
        reservation_answered(&c, a.id, true, "Accepted", now).unwrap();
        reservation_answered(&c, b.id, false, "Occupied", now).unwrap();
        assert_eq!(reservation(&c, b.id).unwrap().unwrap().state, "rejected");
        // A late answer does not revive a rejected one.
        reservation_answered(&c, b.id, true, "Accepted", now).unwrap();
        assert_eq!(reservation(&c, b.id).unwrap().unwrap().state, "rejected");
        let open = open_reservations(&c, "CP-1", now).unwrap();
        assert_eq!(open.iter().map(|r| r.id).collect::<Vec<_>>(), [a.id]);
        assert!(!reservation_used(&c, "CP-2", a.id, None, now).unwrap());
        assert!(reservation_used(&c, "CP-1", a.id, None, now).unwrap());
        assert!(!end_reservation(&c, "CP-1", a.id, "cancelled", None, now).unwrap());
        assert_eq!(reservation(&c, a.id).unwrap().unwrap().state, "used");
    }

    #[test]
    fn reservations_expire_at_their_time_and_not_before() {
        let c = db();
        let r = create_reservation(&c, &new("CP-1"), t("2026-03-01T09:00:00Z")).unwrap();
        reservation_answered(&c, r.id, true, "Accepted", t("2026-03-01T09:00:00Z")).unwrap();
        assert_eq!(expire_due(&c, t("2026-03-01T09:59:59.999Z")).unwrap(), 0);
        assert_eq!(
            open_reservations(&c, "CP-1", t("2026-03-01T10:00:00Z"))
                .unwrap()
                .len(),
            0,
            "not open at its expiry time even before expire_due ran"
        );
        assert_eq!(expire_due(&c, t("2026-03-01T10:00:00Z")).unwrap(), 1);
        let stored = reservation(&c, r.id).unwrap().unwrap();
        assert_eq!(stored.state, "expired");
        assert!(!stored.is_open(t("2026-03-01T09:00:00Z")));
        let all = reservations(&c, None, 10).unwrap();
        assert_eq!(all.len(), 1);
        assert!(reservations(&c, Some(r.id), 10).unwrap().is_empty());
    }
}
