//! The store side of the CSMS rules: looking up what `decide::needs` names, and writing a
//! `decide::Decision`'s records. Both run on the store's owner thread (`Store::call`), each
//! as one call; the write functions they use are idempotent (store/queries.rs), so a
//! charger's resend changes nothing.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::decide::{Facts, Needs, StoredTransaction, Write};
use crate::store::{self, StoreError};

/// What the writes report back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The id `Write::StartAssigningId` gave out.
    pub assigned: Option<i64>,
    /// The charger resent a transaction record already stored; nothing changed.
    pub resent: bool,
    /// The transaction row the writes recorded (`Write::CloseStale` spares it and newer).
    pub row: Option<i64>,
    /// The rows `Write::CloseStale` closed.
    pub closed: usize,
}

/// The facts `decide` needs about an event of `charger` at `now`.
pub fn look_up(
    c: &Connection,
    charger: &str,
    needs: &Needs,
    now: DateTime<Utc>,
) -> Result<Facts, StoreError> {
    let (token, token_busy) = match &needs.token {
        Some(id) => (
            store::effective_token(c, id)?,
            store::token_has_open_transaction(c, id)?,
        ),
        None => (None, false),
    };
    let transaction = match &needs.transaction {
        Some(key) => match store::find_transaction(c, charger, key)? {
            Some(row) => Some(StoredTransaction {
                row,
                evse_id: store::transaction(c, row)?.and_then(|t| t.evse_id),
            }),
            None => None,
        },
        None => None,
    };
    let (reservations, evses) = if needs.reservations {
        (
            store::open_reservations(c, charger, now)?,
            store::known_evses(c, charger)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Facts {
        token,
        token_busy,
        transaction,
        reservations,
        evses,
        operator_accepted: needs.operator_accepted && store::operator_accepted(c, charger)?,
    })
}

/// Writes `writes` for `charger`, in order.
pub fn write(
    c: &mut Connection,
    charger: &str,
    writes: &[Write],
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    for w in writes {
        if let Write::CloseStale {
            evse_id,
            reason,
            by,
        } = w
        {
            let closed = store::close_open_transactions(
                c,
                charger,
                *evse_id,
                applied.row,
                reason,
                *by,
                now,
            )?;
            applied.closed += closed.len();
            continue;
        }
        if let Write::ReservationUsed { id } = w {
            store::reservation_used(c, charger, *id, applied.row, now)?;
            continue;
        }
        let one = write_one(c, charger, w, now)?;
        applied.assigned = applied.assigned.or(one.assigned);
        applied.resent |= one.resent;
        applied.row = one.row.or(applied.row);
    }
    Ok(applied)
}

fn write_one(
    c: &mut Connection,
    charger: &str,
    w: &Write,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    match w {
        Write::Booted { boot, registration } => {
            store::charger_booted(c, charger, boot, registration, now)?;
        }
        Write::Seen => store::charger_seen(c, charger, now)?,
        Write::ConnectorStatus {
            evse_id,
            connector_id,
            status,
            error_code,
            info,
        } => store::connector_status(
            c,
            charger,
            *evse_id,
            *connector_id,
            status,
            error_code.as_deref(),
            info.as_deref(),
            now,
        )?,
        Write::Note { kind, detail, .. } => {
            store::charger_event(c, charger, kind, detail, now)?;
        }
        Write::DeviceStatus {
            kind,
            request_id,
            status,
        } => store::device_status(c, charger, *kind, *request_id, status, now)?,
        Write::Samples {
            evse_id,
            transaction,
            samples,
        } => {
            store::add_samples(c, charger, *evse_id, *transaction, samples)?;
        }
        Write::Signed {
            evse_id,
            transaction,
            readings,
        } => {
            store::add_signed(c, charger, *evse_id, *transaction, readings)?;
        }
        Write::Register { transaction, wh } => {
            store::transaction_register(c, *transaction, *wh, now)?;
        }
        Write::ReservationEnded { id, state, status } => {
            store::end_reservation(c, charger, *id, state, Some(status), now)?;
        }
        transaction => return write_transaction(c, charger, transaction, now),
    }
    Ok(Applied::default())
}

/// The writes of a transaction's start, end or event, which report an assigned id or a
/// resend.
fn write_transaction(
    c: &mut Connection,
    charger: &str,
    w: &Write,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    Ok(match w {
        Write::StartAssigningId {
            connector_id,
            token,
            meter_wh,
            started,
            samples,
        } => {
            let start = store::start_transaction_assigning_id(
                c,
                charger,
                *connector_id,
                token,
                *meter_wh,
                *started,
                now,
            )?;
            store::add_samples(c, charger, *connector_id, Some(start.id), samples)?;
            Applied {
                assigned: Some(start.id),
                resent: start.duplicate,
                row: Some(start.id),
                closed: 0,
            }
        }
        Write::StopAssignedId {
            id,
            meter_wh,
            stopped,
            reason,
        } => {
            let stop = store::stop_transaction_by_assigned_id(
                c,
                charger,
                *id,
                *meter_wh,
                *stopped,
                reason.as_deref(),
                now,
            )?;
            Applied {
                resent: stop.is_some_and(|s| s.duplicate),
                row: stop.map(|s| s.id),
                ..Applied::default()
            }
        }
        Write::ChargerTransactionEvent {
            event,
            evse_id,
            register_wh,
            samples,
            signed,
        } => {
            let tx = store::transaction_event(c, charger, event, *register_wh, now)?;
            if !tx.duplicate {
                store::add_samples(c, charger, *evse_id, Some(tx.id), samples)?;
                store::add_signed(c, charger, *evse_id, Some(tx.id), signed)?;
            }
            Applied {
                resent: tx.duplicate,
                row: Some(tx.id),
                ..Applied::default()
            }
        }
        other => return write_one(c, charger, other, now),
    })
}
