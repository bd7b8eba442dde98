//! CustomerInformation requests (2.0.1 N09/N10) and the text assembled from their
//! NotifyCustomerInformation parts (`csms::reports`), for
//! `/api/v1/chargers/<id>/customer-information[/<request_id>]`.
//!
//! As `reports`: a row is written `requested` before the request goes out (a station may
//! send its first part before its answer), then `incomplete` with the parts counted, then
//! `complete` with the text, or `rejected` / `failed` with why. `customer` is what the
//! request named (e.g. `idToken ISO14443 04A2...`), for the operator reading it back. Only
//! the newest `KEEP_CUSTOMER_REPORTS` per charger are kept: customer data is personal
//! data, kept no longer than the operator needs it. Never interprets a wire payload.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::ocpp::time::format as ts;

/// Customer information reports kept per charger.
pub const KEEP_CUSTOMER_REPORTS: i64 = 10;

/// A CustomerInformation request and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerInformationRecord {
    pub request_id: i32,
    pub report: bool,
    pub clear: bool,
    pub customer: String,
    /// `requested`, `incomplete`, `complete`, `rejected` or `failed`.
    pub status: String,
    pub parts: u32,
    /// Why it was rejected or failed.
    pub detail: Option<String>,
    /// Complete: the parts' data joined in seqNo order.
    pub data: Option<String>,
    pub requested_at: String,
    pub updated_at: String,
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records a CustomerInformation about to be sent, dropping the charger's oldest beyond
/// `KEEP_CUSTOMER_REPORTS`.
pub fn customer_information_requested(
    c: &Connection,
    charger: &str,
    request_id: i32,
    (report, clear): (bool, bool),
    customer: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR REPLACE INTO customer_information
           (charger_id, request_id, report, clear, customer, status, requested_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'requested', ?6, ?6)",
        params![charger, request_id, report, clear, customer, ts(&now)],
    )?;
    c.execute(
        "DELETE FROM customer_information WHERE charger_id = ?1 AND rowid NOT IN
           (SELECT rowid FROM customer_information WHERE charger_id = ?1
            ORDER BY requested_at DESC, rowid DESC LIMIT ?2)",
        params![charger, KEEP_CUSTOMER_REPORTS],
    )?;
    Ok(())
}

/// Whether `request_id` is a CustomerInformation of `charger` still being assembled.
pub fn customer_information_open(
    c: &Connection,
    charger: &str,
    request_id: i32,
) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT 1 FROM customer_information WHERE charger_id = ?1 AND request_id = ?2
               AND status IN ('requested', 'incomplete')",
        params![charger, request_id],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// The new state of an open request: `rejected`/`failed` before any part came (then only
/// while still `requested`), `incomplete` with the parts counted, `complete` with the text,
/// or `failed` in assembly with why.
fn update(
    c: &Connection,
    charger: &str,
    request_id: i32,
    set: &str,
    only_requested: bool,
    values: (&str, Option<i64>, Option<&str>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (status, parts, detail, data) = values;
    let states = if only_requested {
        "('requested')"
    } else {
        "('requested', 'incomplete')"
    };
    c.execute(
        &format!(
            "UPDATE customer_information SET status = ?3, {set}, updated_at = ?6
             WHERE charger_id = ?1 AND request_id = ?2 AND status IN {states}"
        ),
        params![
            charger,
            request_id,
            status,
            parts,
            detail.or(data),
            ts(&now)
        ],
    )?;
    Ok(())
}

/// The answer settles the request when no part follows: the charger refused it or it
/// never reached the charger (`status` `rejected` or `failed`), or it was accepted
/// without a report asked (`complete`, clear only); unless parts already arrived.
pub fn customer_information_answered(
    c: &Connection,
    charger: &str,
    request_id: i32,
    status: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let set = "parts = coalesce(?4, parts), detail = ?5";
    let values = (status, None, Some(detail), None);
    update(c, charger, request_id, set, true, values, now)
}

/// Parts arrived, the text is not complete yet.
pub fn customer_information_progress(
    c: &Connection,
    charger: &str,
    request_id: i32,
    parts: usize,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let set = "parts = ?4, detail = coalesce(?5, detail)";
    let values = ("incomplete", Some(count(parts)), None, None);
    update(c, charger, request_id, set, false, values, now)
}

/// Assembly failed (over a cap): why.
pub fn customer_information_failed(
    c: &Connection,
    charger: &str,
    request_id: i32,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let set = "parts = coalesce(?4, parts), detail = ?5";
    let values = ("failed", None, Some(detail), None);
    update(c, charger, request_id, set, false, values, now)
}

/// The whole text.
pub fn customer_information_complete(
    c: &Connection,
    charger: &str,
    request_id: i32,
    parts: usize,
    data: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let set = "parts = ?4, data = ?5";
    let values = ("complete", Some(count(parts)), None, Some(data));
    update(c, charger, request_id, set, false, values, now)
}

/// `charger`'s CustomerInformation `request_id`, if chargegate sent it.
pub fn customer_information(
    c: &Connection,
    charger: &str,
    request_id: i32,
) -> Result<Option<CustomerInformationRecord>, StoreError> {
    Ok(c.query_row(
        "SELECT report, clear, customer, status, parts, detail, data, requested_at, updated_at
         FROM customer_information WHERE charger_id = ?1 AND request_id = ?2",
        params![charger, request_id],
        |r| {
            Ok(CustomerInformationRecord {
                request_id,
                report: r.get(0)?,
                clear: r.get(1)?,
                customer: r.get(2)?,
                status: r.get(3)?,
                parts: r.get(4)?,
                detail: r.get(5)?,
                data: r.get(6)?,
                requested_at: r.get(7)?,
                updated_at: r.get(8)?,
            })
        },
    )
    .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_request_goes_from_requested_to_complete_and_old_ones_are_dropped() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&mut c).unwrap();
        customer_information_requested(&c, "CS", 1, (true, false), "idToken x", t(0)).unwrap();
        assert!(customer_information_open(&c, "CS", 1).unwrap());
        assert!(!customer_information_open(&c, "CS", 2).unwrap());
        customer_information_progress(&c, "CS", 1, 1, t(1)).unwrap();
        let r = customer_information(&c, "CS", 1).unwrap().unwrap();
        assert_eq!((r.status.as_str(), r.parts), ("incomplete", 1));
        // A refusal after parts arrived changes nothing.
        customer_information_answered(&c, "CS", 1, "rejected", "Rejected", t(2)).unwrap();
        customer_information_complete(&c, "CS", 1, 2, "hello world", t(3)).unwrap();
        let r = customer_information(&c, "CS", 1).unwrap().unwrap();
        assert_eq!((r.status.as_str(), r.parts), ("complete", 2));
        assert_eq!(r.data.as_deref(), Some("hello world"));
        assert_eq!(
            (r.report, r.clear, r.customer.as_str()),
            (true, false, "idToken x")
        );
        assert!(!customer_information_open(&c, "CS", 1).unwrap());

        customer_information_requested(&c, "CS", 2, (false, true), "c", t(4)).unwrap();
        customer_information_answered(&c, "CS", 2, "rejected", "Invalid", t(5)).unwrap();
        let r = customer_information(&c, "CS", 2).unwrap().unwrap();
        assert_eq!(
            (r.status.as_str(), r.detail.as_deref()),
            ("rejected", Some("Invalid"))
        );
        for id in 3..=KEEP_CUSTOMER_REPORTS as i32 + 1 {
            customer_information_requested(&c, "CS", id, (true, true), "c", t(i64::from(id) + 5))
                .unwrap();
        }
        assert!(customer_information(&c, "CS", 1).unwrap().is_none());
        assert!(customer_information(&c, "CS", 2).unwrap().is_some());
    }
}
