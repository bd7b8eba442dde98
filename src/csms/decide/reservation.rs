//! The reservation side of `decide`: Authorize and transaction starts checked against
//! the charger's open reservations (`csms::reservations`), the reservation a start uses
//! up, and the 2.0.1 ReservationStatusUpdate. Pure, like `decide`.

use chrono::{DateTime, Utc};

use super::{Decision, Facts, Severity, Write};
use crate::csms::{reservations, rules};
use crate::ocpp::model::{
    AuthorizationStatus, EventReply, IdTokenInfo, ReservationUpdate, TransactionEvent, TxPhase,
};

/// Authorize: the card's own verdict, and no EVSE left that is not reserved for another.
pub(super) fn authorize(token: &str, facts: &Facts, now: DateTime<Utc>) -> Decision {
    let info = rules::authorize(facts.token.as_ref(), facts.token_busy, now);
    Decision::reply(
        EventReply::Authorize {
            info: honour_reservations(info, facts, None, token, None),
        },
        Vec::new(),
    )
}

/// `info` for `token` on `evse` (`None`: Authorize), refused with `Invalid` when an open
/// reservation for another card holds it (`reservations::held_against`). `Invalid` is
/// the one status both versions have for "not allowed to charge here" (1.6 §7.2; 2.0.1
/// AuthorizationStatusEnumType, where the station itself would check H03.FR.07/08); a
/// card refused for its own reasons keeps them.
pub(super) fn honour_reservations(
    mut info: IdTokenInfo,
    facts: &Facts,
    evse: Option<u32>,
    token: &str,
    named: Option<i32>,
) -> IdTokenInfo {
    let group = facts.token.as_ref().and_then(|t| t.group.as_deref());
    if info.status == AuthorizationStatus::Accepted
        && reservations::held_against(&facts.reservations, &facts.evses, evse, token, group, named)
            .is_some()
    {
        info.status = AuthorizationStatus::Invalid;
    }
    info
}

/// The reservation an accepted transaction start (or a 2.0.1 event naming one) uses up.
pub(super) fn reservation_used(
    tx: &TransactionEvent,
    facts: &Facts,
    info: Option<&IdTokenInfo>,
) -> Option<Write> {
    if info.is_some_and(|i| i.status != AuthorizationStatus::Accepted) {
        return None;
    }
    let starts = tx.phase == TxPhase::Started;
    let named = tx.reservation_id.filter(|_| tx.phase != TxPhase::Ended);
    if !starts && named.is_none() {
        return None;
    }
    let group = facts.token.as_ref().and_then(|t| t.group.as_deref());
    reservations::used_by(
        &facts.reservations,
        named,
        tx.evse.map(|e| e.evse_id),
        tx.id_token.as_ref().map(|t| t.id.as_str()),
        group,
    )
    .map(|id| Write::ReservationUsed { id })
}

/// 2.0.1 ReservationStatusUpdate (H04): the station ended the reservation; chargegate
/// stops honouring it. `Removed` (e.g. its EVSE became Inoperative) is stored as
/// `cancelled`, with the station's word beside it.
pub(super) fn reservation_status(id: i32, update: ReservationUpdate) -> Decision {
    let (state, status) = match update {
        ReservationUpdate::Expired => ("expired", "Expired"),
        ReservationUpdate::Removed => ("cancelled", "Removed"),
    };
    Decision::reply(
        EventReply::Empty,
        vec![
            Write::ReservationEnded { id, state, status },
            Write::Note {
                kind: "ReservationStatus",
                detail: format!("reservation {id}: {status}"),
                severity: Severity::Info,
            },
        ],
    )
}
