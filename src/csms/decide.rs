//! The CSMS rules as one pure function: the charger's context, an event, the facts the
//! store holds about it and the time in; the reply and the records to write out.
//!
//! `Csms::handle` runs the three steps around it: look the facts up (`needs`, then
//! `apply::look_up`), `decide`, apply the writes (`apply::write`) and only then answer,
//! because the CALLRESULT is the charger's acknowledgement. Nothing here awaits, reads a
//! clock or knows the OCPP version: a transaction whose id the CSMS assigns is told apart
//! by the event's shape (no id yet, or a `TxKey::Csms`), not by the version.

use chrono::{DateTime, Utc};

use self::reservation::{authorize, reservation_status};
use self::transaction::{meter_values, transaction};
use super::rules;
use super::{Admission, ChargerContext, CsmsError, RegistrationPolicy};
use crate::ocpp::model::{
    ChargerEvent, DataTransferStatus, EventReply, IdTokenInfo, MeterSample, RegistrationStatus,
    SignedReading, TransactionEvent, TxKey, TxPhase,
};
use crate::store::{BootRecord, ClosedBy, DeviceRequestKind, ReservationRecord, TokenRecord};

/// What must be read from the store before deciding on an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The id token the event presents.
    pub token: Option<String>,
    /// The transaction the event names by an id the store already knows.
    pub transaction: Option<TxKey>,
    /// The charger's open reservations and its EVSEs (`reservations::held_against`).
    pub reservations: bool,
    /// Whether the operator accepted the charger at run time (a boot of a Pending one).
    pub operator_accepted: bool,
}

/// What the store said about `Needs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The token's local record (`None`: not in the local list).
    pub token: Option<TokenRecord>,
    /// The token already has an open transaction somewhere.
    pub token_busy: bool,
    /// The named transaction, if the store has it.
    pub transaction: Option<StoredTransaction>,
    /// The charger's reservations open at the event's `now`, oldest first.
    pub reservations: Vec<ReservationRecord>,
    /// The EVSEs the charger has reported a status for.
    pub evses: Vec<u32>,
    /// The operator accepted the charger at run time (`POST .../accept`).
    pub operator_accepted: bool,
}

/// A transaction the store knows, as far as the rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredTransaction {
    /// The store's row id.
    pub row: i64,
    pub evse_id: Option<u32>,
}

/// How serious a note is: a warning is also logged, for the electrician's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
}

/// One record to write, in order, in one store call.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Booted {
        boot: BootRecord,
        /// `accepted` or `pending`, as the store spells it.
        registration: &'static str,
    },
    Seen,
    ConnectorStatus {
        evse_id: u32,
        connector_id: u32,
        status: &'static str,
        error_code: Option<String>,
        info: Option<String>,
    },
    /// An event worth keeping in the charger's event log but not acting on.
    Note {
        kind: &'static str,
        detail: String,
        severity: Severity,
    },
    /// A status the charger reported on a firmware update or a log upload.
    DeviceStatus {
        kind: DeviceRequestKind,
        request_id: Option<i32>,
        status: String,
    },
    /// Samples (normalised), linked to a transaction's row when one is known.
    Samples {
        evse_id: u32,
        transaction: Option<i64>,
        samples: Vec<MeterSample>,
    },
    /// Signed meter values, verbatim, linked to a transaction's row when one is known.
    Signed {
        evse_id: u32,
        transaction: Option<i64>,
        readings: Vec<SignedReading>,
    },
    /// Closes the charger's open transactions that it cannot be running any more (see
    /// `rules::stale_on_boot`, `rules::STALE_ON_NEW_TRANSACTION`): on one connector / EVSE
    /// or all (`None`), older than the transaction the writes before this one recorded.
    CloseStale {
        evse_id: Option<u32>,
        reason: &'static str,
        by: ClosedBy,
    },
    /// The reservation a transaction used (linked to the transaction the writes before
    /// this one recorded, if any).
    ReservationUsed {
        id: i32,
    },
    /// The charger ended a reservation itself (2.0.1 ReservationStatusUpdate).
    ReservationEnded {
        id: i32,
        /// `expired` or `cancelled`, as the store spells it.
        state: &'static str,
        /// The charger's word.
        status: &'static str,
    },
    /// The latest energy register of an open transaction, in Wh.
    Register {
        transaction: i64,
        wh: f64,
    },
    /// A transaction that gets its id from the CSMS (1.6 StartTransaction); a resend
    /// gets the id already given out. Its samples follow it.
    StartAssigningId {
        connector_id: u32,
        token: String,
        meter_wh: f64,
        started: DateTime<Utc>,
        samples: Vec<MeterSample>,
    },
    /// The end of a transaction named by the id the CSMS assigned (1.6 StopTransaction).
    StopAssignedId {
        id: i64,
        meter_wh: f64,
        stopped: DateTime<Utc>,
        reason: Option<String>,
    },
    /// A transaction event named by the charger's own id (2.0.1 TransactionEvent), with
    /// its samples unless the event is a resend.
    ChargerTransactionEvent {
        event: Box<TransactionEvent>,
        evse_id: u32,
        register_wh: Option<f64>,
        samples: Vec<MeterSample>,
        signed: Vec<SignedReading>,
    },
}

/// The reply, or what it still needs from the writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ready(EventReply),
    /// The transaction id `Write::StartAssigningId` assigns goes into the reply.
    WithAssignedId {
        info: Option<IdTokenInfo>,
    },
}

impl Reply {
    /// The reply to send, once the writes are done; `assigned` is the id
    /// `Write::StartAssigningId` gave out, if there was one.
    pub fn complete(self, assigned: Option<i64>) -> Result<EventReply, CsmsError> {
        match self {
            Reply::Ready(reply) => Ok(reply),
            Reply::WithAssignedId { info } => Ok(EventReply::Transaction {
                transaction_id: Some(assigned.ok_or(CsmsError::Mismatch)?),
                info,
            }),
        }
    }
}

/// The outcome of `decide`: the reply and the records behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub reply: Reply,
    pub writes: Vec<Write>,
}

impl Decision {
    fn reply(reply: EventReply, writes: Vec<Write>) -> Self {
        Self {
            reply: Reply::Ready(reply),
            writes,
        }
    }

    /// A boot's decision that also ends the transactions the charger no longer runs
    /// (`rules::stale_on_boot`).
    fn closing_stale_on_boot(mut self, boot_reason: Option<&str>) -> Self {
        if let Some(reason) = rules::stale_on_boot(boot_reason) {
            self.writes.push(Write::CloseStale {
                evse_id: None,
                reason,
                by: ClosedBy::Boot,
            });
        }
        self
    }

    /// An event that is only kept in the charger's event log.
    fn note(kind: &'static str, detail: String, severity: Severity, reply: EventReply) -> Self {
        Self::reply(
            reply,
            vec![Write::Note {
                kind,
                detail,
                severity,
            }],
        )
    }
}

/// What `decide` needs looked up for `event`.
pub fn needs(event: &ChargerEvent) -> Needs {
    match event {
        ChargerEvent::Boot { .. } => Needs {
            operator_accepted: true,
            ..Needs::default()
        },
        ChargerEvent::Authorize { id_token } => Needs {
            token: Some(id_token.id.clone()),
            reservations: true,
            ..Needs::default()
        },
        ChargerEvent::Transaction(tx) => Needs {
            token: tx.id_token.as_ref().map(|t| t.id.clone()),
            transaction: match (&tx.tx, tx.phase) {
                (Some(key @ TxKey::Csms(_)), TxPhase::Ended) => Some(key.clone()),
                _ => None,
            },
            reservations: tx.phase != TxPhase::Ended,
            operator_accepted: false,
        },
        ChargerEvent::MeterValues { tx, .. } => Needs {
            token: None,
            transaction: tx.clone(),
            reservations: false,
            operator_accepted: false,
        },
        _ => Needs::default(),
    }
}

/// The reply to `event` and the records to write for it.
pub fn decide(
    ctx: &ChargerContext,
    policy: &RegistrationPolicy,
    event: &ChargerEvent,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Decision, CsmsError> {
    if ctx.admission == Admission::Pending
        && !matches!(event, ChargerEvent::Boot { .. } | ChargerEvent::Heartbeat)
    {
        // 2.0.1 B02.FR.09 and 1.6 §4.2: a Pending station may only boot (and keep alive).
        return Err(CsmsError::NotAccepted);
    }
    let mut decision = decide_event(ctx, policy, event, facts, now)?;
    if ctx.admission == Admission::Accepted {
        refuse_charging(&mut decision);
    }
    Ok(decision)
}

/// A charger the operator accepted at run time is in no circuit of the site file: no
/// limit, no baseline and no plan reach it, and nothing counts its draw (DESIGN.md S1). It
/// may boot, report and be managed, but no card may charge on it until it is added as
/// `[[charger]]`: every card it presents is answered `Invalid` (a charger stops a session
/// whose card is refused, 1.6 StopTransactionOnInvalidId, 2.0.1 StopTxOnInvalidId).
fn refuse_charging(decision: &mut Decision) {
    let (Reply::Ready(
        EventReply::Authorize { info }
        | EventReply::Transaction {
            info: Some(info), ..
        },
    )
    | Reply::WithAssignedId { info: Some(info) }) = &mut decision.reply
    else {
        return;
    };
    info.status = crate::ocpp::model::AuthorizationStatus::Invalid;
}

/// `decide` for an admitted charger.
fn decide_event(
    ctx: &ChargerContext,
    policy: &RegistrationPolicy,
    event: &ChargerEvent,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Decision, CsmsError> {
    let empty = EventReply::Empty;
    Ok(match event {
        ChargerEvent::Boot {
            vendor,
            model,
            serial,
            firmware,
            reason,
        } => {
            // A Pending charger the operator accepted since it connected is accepted now
            // (OCPP 1.6 §4.2.1, 2.0.1 B02: its next BootNotification gets Accepted).
            let admission = match ctx.admission {
                Admission::Pending if facts.operator_accepted => Admission::Accepted,
                other => other,
            };
            boot(admission, policy, vendor, model, serial, firmware, now)
                .closing_stale_on_boot(reason.as_deref())
        }
        ChargerEvent::Heartbeat => Decision::reply(
            EventReply::Heartbeat { current_time: now },
            vec![Write::Seen],
        ),
        ChargerEvent::Status {
            evse,
            status,
            error_code,
            info,
            ..
        } => Decision::reply(
            empty,
            vec![Write::ConnectorStatus {
                evse_id: evse.evse_id,
                connector_id: evse.connector_id.unwrap_or(0),
                status: status.as_str(),
                error_code: error_code.clone(),
                info: info.clone(),
            }],
        ),
        ChargerEvent::Authorize { id_token } => authorize(&id_token.id, facts, now),
        ChargerEvent::ReservationStatus {
            reservation_id,
            update,
        } => reservation_status(*reservation_id, *update),
        ChargerEvent::Transaction(tx) => transaction(tx, facts, now)?,
        ChargerEvent::MeterValues {
            evse_id,
            samples,
            signed,
            ..
        } => meter_values(*evse_id, samples, signed, facts),
        ChargerEvent::DataTransfer {
            vendor_id,
            message_id,
            ..
        } => Decision::note(
            "DataTransfer",
            format!(
                "vendor {vendor_id} message {}",
                message_id.as_deref().unwrap_or("-")
            ),
            Severity::Info,
            // No vendor extensions are implemented: OCPP 1.6 §4.3 says to answer
            // UnknownVendorId, which tells the charger not to retry.
            EventReply::DataTransfer {
                status: DataTransferStatus::UnknownVendorId,
                data: None,
            },
        ),
        ChargerEvent::DiagnosticsStatus { status, request_id } => {
            device_status(DeviceRequestKind::Log, status, *request_id)
        }
        ChargerEvent::FirmwareStatus { status, request_id } => {
            device_status(DeviceRequestKind::Firmware, status, *request_id)
        }
        ChargerEvent::SignCertificate { .. } | ChargerEvent::CustomerInformation { .. } => {
            certificates_and_customers(policy, event)
        }
        other => notice(other),
    })
}

/// SignCertificate (A02/A03): Accepted when a CA key is configured; the CSR is checked
/// and signed after the answer (`station::signing`), which audits the outcome. Without
/// one, Rejected (A02.FR.06 lets the CSMS refuse; the charger keeps its certificate).
/// A NotifyCustomerInformation part (N09/N10): noted; `Csms::handle` assembles it.
fn certificates_and_customers(policy: &RegistrationPolicy, event: &ChargerEvent) -> Decision {
    match event {
        ChargerEvent::SignCertificate { kind, .. } => {
            let verdict = if policy.signs_certificates {
                "accepted, to be signed"
            } else {
                "rejected: no [csms] client-ca-key-file"
            };
            Decision::note(
                "SignCertificate",
                format!(
                    "{}: {verdict}",
                    kind.as_deref().unwrap_or("ChargingStationCertificate")
                ),
                Severity::Info,
                EventReply::SignCertificate {
                    accepted: policy.signs_certificates,
                },
            )
        }
        ChargerEvent::CustomerInformation {
            request_id,
            seq_no,
            data,
            ..
        } => Decision::note(
            "CustomerInformation",
            // Not the data itself: customer data stays in its report (which the store
            // keeps only for the newest requests), not in the event log.
            format!(
                "request {request_id} part {seq_no}: {} character(s)",
                data.chars().count()
            ),
            Severity::Info,
            EventReply::Empty,
        ),
        other => notice(other),
    }
}

/// A firmware or log status: kept in the charger's event log with its time (the history)
/// and as the request's latest status (the API's `firmware_update` / `log_upload`).
fn device_status(kind: DeviceRequestKind, status: &str, request_id: Option<i32>) -> Decision {
    let note = match kind {
        DeviceRequestKind::Firmware => "FirmwareStatus",
        DeviceRequestKind::Log => "DiagnosticsStatus",
    };
    let detail = match request_id {
        Some(id) => format!("{status} (request {id})"),
        None => status.to_string(),
    };
    Decision::reply(
        EventReply::Empty,
        vec![
            Write::Note {
                kind: note,
                detail,
                severity: Severity::Info,
            },
            Write::DeviceStatus {
                kind,
                request_id,
                status: status.to_string(),
            },
        ],
    )
}

/// The events that are only logged: reports and notices the CSMS does not act on yet.
fn notice(event: &ChargerEvent) -> Decision {
    let (kind, detail, severity, reply) = match event {
        ChargerEvent::SecurityEvent {
            kind, tech_info, ..
        } => (
            "SecurityEvent",
            format!("{kind} {}", tech_info.as_deref().unwrap_or("")),
            Severity::Warning,
            EventReply::Empty,
        ),
        ChargerEvent::Report {
            request_id,
            seq_no,
            variables,
            ..
        } => (
            "Report",
            format!(
                "request {request_id} part {seq_no}: {} variable(s)",
                variables.len()
            ),
            Severity::Info,
            EventReply::Empty,
        ),
        ChargerEvent::EvChargingNeeds(needs) => (
            "EvChargingNeeds",
            format!(
                "evse {} departure {} energy {:?} Wh max {:?} A",
                needs.evse_id,
                needs
                    .departure_time
                    .map(|t| crate::ocpp::time::format(&t))
                    .unwrap_or_default(),
                needs.energy_wh,
                needs.max_current_a
            ),
            Severity::Info,
            EventReply::EvChargingNeeds { accepted: true },
        ),
        ChargerEvent::ChargingLimit {
            source, evse_id, ..
        } => (
            "ChargingLimit",
            format!("source {source} evse {evse_id:?}: a limit set by another party"),
            Severity::Warning,
            EventReply::Empty,
        ),
        ChargerEvent::ChargingProfilesReport {
            request_id,
            evse_id,
            profiles,
            ..
        } => (
            "ChargingProfilesReport",
            format!(
                "request {request_id} evse {evse_id}: {} profile(s)",
                profiles.len()
            ),
            Severity::Info,
            EventReply::Empty,
        ),
        ChargerEvent::Notify { events } => {
            let writes = events
                .iter()
                .map(|e| Write::Note {
                    kind: "Notify",
                    detail: format!(
                        "{}.{} {} = {}",
                        e.component, e.variable, e.trigger, e.actual_value
                    ),
                    severity: Severity::Info,
                })
                .collect();
            return Decision::reply(EventReply::Empty, writes);
        }
        handled_by_decide => unreachable!("decide handles {handled_by_decide:?} itself"),
    };
    Decision::note(kind, detail, severity, reply)
}

fn boot(
    admission: Admission,
    policy: &RegistrationPolicy,
    vendor: &str,
    model: &str,
    serial: &Option<String>,
    firmware: &Option<String>,
    now: DateTime<Utc>,
) -> Decision {
    let (status, interval_s, registration) = match admission {
        Admission::Known | Admission::Accepted => (
            RegistrationStatus::Accepted,
            policy.heartbeat_interval_s,
            "accepted",
        ),
        Admission::Pending => (
            RegistrationStatus::Pending,
            policy.pending_retry_s,
            "pending",
        ),
    };
    let boot = BootRecord {
        vendor: vendor.to_string(),
        model: model.to_string(),
        serial: serial.clone(),
        firmware: firmware.clone(),
    };
    Decision::reply(
        EventReply::Boot {
            status,
            current_time: now,
            interval_s,
        },
        vec![Write::Booted { boot, registration }],
    )
}

mod reservation;
mod transaction;

#[cfg(test)]
mod tests;
