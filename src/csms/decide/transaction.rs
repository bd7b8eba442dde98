//! The transaction side of `decide`: MeterValues, 1.6 Start/StopTransaction (the CSMS
//! assigns the id) and 2.0.1 TransactionEvent (the charger's id), each turned into the
//! records to write, with the token's status and the reservation a start uses up. Pure,
//! like `decide`.

use chrono::{DateTime, Utc};

use super::reservation::{honour_reservations, reservation_used};
use super::{Decision, Facts, Reply, Severity, StoredTransaction, Write};
use crate::csms::{CsmsError, rules};
use crate::ocpp::model::{
    EventReply, MeterSample, SignedReading, TransactionEvent, TxKey, TxPhase,
};
use crate::store::ClosedBy;

pub(super) fn meter_values(
    evse_id: u32,
    samples: &[MeterSample],
    signed: &[SignedReading],
    facts: &Facts,
) -> Decision {
    let samples: Vec<_> = samples.iter().cloned().map(rules::normalise).collect();
    let transaction = facts.transaction.map(|t| t.row);
    let register = rules::energy_register_wh(&samples);
    let mut writes = vec![Write::Samples {
        evse_id,
        transaction,
        samples,
    }];
    if !signed.is_empty() {
        writes.push(Write::Signed {
            evse_id,
            transaction,
            readings: signed.to_vec(),
        });
    }
    if let (Some(transaction), Some(wh)) = (transaction, register) {
        writes.push(Write::Register { transaction, wh });
    }
    Decision::reply(EventReply::Empty, writes)
}

pub(super) fn transaction(
    tx: &TransactionEvent,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Decision, CsmsError> {
    let samples: Vec<_> = tx.samples.iter().cloned().map(rules::normalise).collect();
    // The token's status is reported back whenever the event carries one, so a charger
    // stops a session whose card was blocked meanwhile (1.6 §5.11, 2.0.1 E05). The
    // concurrency check is for Authorize only: this token's own session is open.
    let info = tx.id_token.as_ref().map(|token| {
        let info = rules::authorize(facts.token.as_ref(), false, now);
        if tx.phase == TxPhase::Ended {
            return info;
        }
        honour_reservations(
            info,
            facts,
            tx.evse.map(|e| e.evse_id),
            &token.id,
            tx.reservation_id,
        )
    });
    let used = reservation_used(tx, facts, info.as_ref());
    let evse_id = tx.evse.map_or(0, |e| e.evse_id);
    let ready = |info| {
        Reply::Ready(EventReply::Transaction {
            transaction_id: None,
            info,
        })
    };
    Ok(match (&tx.tx, tx.phase) {
        // No id yet: the CSMS assigns it (1.6 StartTransaction).
        // An older transaction still open on that connector is one the charger forgot.
        (None, TxPhase::Started) => Decision {
            reply: Reply::WithAssignedId { info },
            writes: [
                Write::StartAssigningId {
                    connector_id: evse_id,
                    token: tx
                        .id_token
                        .as_ref()
                        .map(|t| t.id.clone())
                        .unwrap_or_default(),
                    meter_wh: tx.meter_wh.unwrap_or(0.0),
                    started: tx.timestamp,
                    samples,
                },
                Write::CloseStale {
                    evse_id: Some(evse_id),
                    reason: rules::STALE_ON_NEW_TRANSACTION,
                    by: ClosedBy::NewTransaction,
                },
            ]
            .into_iter()
            .chain(used)
            .collect(),
        },
        // The end of a transaction named by our id (1.6 StopTransaction). An unknown id
        // is still acknowledged, or the charger would resend it forever (1.6 §4.10); its
        // samples are kept, unlinked.
        (Some(TxKey::Csms(id)), TxPhase::Ended) => Decision {
            reply: ready(info),
            writes: stop_by_our_id(*id, tx, facts.transaction, evse_id, samples),
        },
        // A transaction named by the charger's id (2.0.1 TransactionEvent).
        // A Started one on an EVSE ends what the station forgot there, as above.
        (Some(TxKey::Charger(_)), phase) => {
            let mut writes = vec![Write::ChargerTransactionEvent {
                event: Box::new(tx.clone()),
                evse_id,
                register_wh: rules::energy_register_wh(&samples),
                samples,
                signed: tx.signed.clone(),
            }];
            if phase == TxPhase::Started && tx.evse.is_some() {
                writes.push(Write::CloseStale {
                    evse_id: Some(evse_id),
                    reason: rules::STALE_ON_NEW_TRANSACTION,
                    by: ClosedBy::NewTransaction,
                });
            }
            writes.extend(used);
            Decision {
                reply: ready(info),
                writes,
            }
        }
        // A started or updated transaction under an id only the CSMS gives out, or an
        // update without any id: no message of either version has that shape.
        (Some(TxKey::Csms(_)), TxPhase::Started | TxPhase::Updated) | (None, _) => {
            return Err(CsmsError::Mismatch);
        }
    })
}

/// The records of a 1.6 StopTransaction: the stop of the transaction the store knows
/// (else a note), its samples and signed values under the transaction's connector (the
/// message names none).
fn stop_by_our_id(
    id: i64,
    tx: &TransactionEvent,
    known: Option<StoredTransaction>,
    evse_id: u32,
    samples: Vec<MeterSample>,
) -> Vec<Write> {
    let mut writes = Vec::new();
    if known.is_some() {
        writes.push(Write::StopAssignedId {
            id,
            meter_wh: tx.meter_wh.unwrap_or(0.0),
            stopped: tx.timestamp,
            reason: tx.stop_reason.clone(),
        });
    } else {
        writes.push(Write::Note {
            kind: "StopTransaction",
            detail: format!("unknown transaction {id}"),
            severity: Severity::Warning,
        });
    }
    let evse_id = known.and_then(|t| t.evse_id).unwrap_or(evse_id);
    let transaction = known.map(|t| t.row);
    writes.push(Write::Samples {
        evse_id,
        transaction,
        samples,
    });
    if !tx.signed.is_empty() {
        writes.push(Write::Signed {
            evse_id,
            transaction,
            readings: tx.signed.clone(),
        });
    }
    writes
}
