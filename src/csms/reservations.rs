//! The reservation rules, pure: which open reservation keeps a card off an EVSE, and which
//! reservation a starting transaction uses. No IO, no clock: the store hands over the
//! charger's reservations that are open at the event's `now` (store/reservations.rs).
//!
//! chargegate honours a reservation itself instead of trusting every charger to (OCPP
//! 1.6 §5.13: "refuse charging for all incoming idTags on the reserved connector, except
//! when the incoming idTag or the parent idTag match"; 2.0.1 H03.FR.07/08). A card may use
//! a reservation made for it, or for its group (the card's group in the local list, or
//! the card being the group itself). A reservation for "any EVSE" holds the whole charger
//! for its card: chargegate does not know which EVSE the driver will choose, and on the
//! depot's single-EVSE chargers that is exactly 1.6's "one connector remains available".

use crate::store::ReservationRecord;

/// Whether `token` (whose group in the local list is `group`) may use `r`.
pub fn admits(r: &ReservationRecord, token: &str, group: Option<&str>) -> bool {
    r.id_token == token
        || r.group
            .as_deref()
            .is_some_and(|g| g == token || group == Some(g))
}

/// Whether `r` holds `evse` (a charger-wide reservation holds every EVSE).
fn covers(r: &ReservationRecord, evse: u32) -> bool {
    r.evse_id.is_none_or(|e| e == evse)
}

/// The open reservation that keeps `token` off `evse`, if any.
///
/// `evse = None` is an Authorize, which names no EVSE: the card is refused only when it
/// could charge nowhere on this charger, i.e. a charger-wide reservation for another card
/// holds it, or every EVSE the charger reported (`evses`, plus the reserved ones) is
/// reserved for others. `named` is the reservationId the event carries: the charger
/// says the transaction uses that reservation, so it does not count against the card.
pub fn held_against<'a>(
    open: &'a [ReservationRecord],
    evses: &[u32],
    evse: Option<u32>,
    token: &str,
    group: Option<&str>,
    named: Option<i32>,
) -> Option<&'a ReservationRecord> {
    let others = || {
        open.iter()
            .filter(move |r| Some(r.id) != named && !admits(r, token, group))
    };
    let own = |r: &ReservationRecord| Some(r.id) == named || admits(r, token, group);
    match evse {
        // Its own reservation on that EVSE wins over a charger-wide one for another card.
        Some(e) if open.iter().any(|r| r.evse_id == Some(e) && own(r)) => None,
        Some(e) => others().find(|r| covers(r, e)),
        None if open.iter().any(own) => None,
        None => {
            if let Some(whole) = others().find(|r| r.evse_id.is_none()) {
                return Some(whole);
            }
            let mut all: Vec<u32> = evses.to_vec();
            all.extend(open.iter().filter_map(|r| r.evse_id));
            all.sort_unstable();
            all.dedup();
            if all.is_empty() {
                return None;
            }
            let held: Vec<&ReservationRecord> = all
                .iter()
                .map(|e| others().find(|r| covers(r, *e)))
                .collect::<Option<_>>()?;
            held.into_iter().next()
        }
    }
}

/// The reservation a transaction of `token` starting on `evse` uses: the one the event
/// names (1.6 StartTransaction / 2.0.1 TransactionEvent `reservationId`), else the open
/// one on that EVSE made for the card or its group (a charger may leave the id out).
pub fn used_by(
    open: &[ReservationRecord],
    named: Option<i32>,
    evse: Option<u32>,
    token: Option<&str>,
    group: Option<&str>,
) -> Option<i32> {
    named.or_else(|| {
        let token = token?;
        open.iter()
            .find(|r| evse.is_none_or(|e| covers(r, e)) && admits(r, token, group))
            .map(|r| r.id)
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn t() -> DateTime<Utc> {
        crate::ocpp::time::parse("2026-03-01T10:00:00Z").unwrap()
    }

    fn r(id: i32, evse: Option<u32>, token: &str, group: Option<&str>) -> ReservationRecord {
        ReservationRecord {
            id,
            charger_id: "CP-1".into(),
            evse_id: evse,
            id_token: token.into(),
            group: group.map(str::to_string),
            expires: t(),
            state: "accepted".into(),
            charger_status: Some("Accepted".into()),
            created_at: t(),
            updated_at: t(),
            transaction_id: None,
        }
    }

    #[test]
    fn another_card_is_kept_off_a_reserved_evse_and_the_right_one_is_not() {
        let open = [r(1, Some(1), "ALICE", None)];
        let held = |evse, token| held_against(&open, &[1, 2], evse, token, None, None);
        assert_eq!(held(Some(1), "BOB").map(|r| r.id), Some(1));
        assert_eq!(held(Some(1), "ALICE"), None);
        assert_eq!(held(Some(2), "BOB"), None, "EVSE 2 is free");
        assert_eq!(held(None, "BOB"), None, "Authorize: EVSE 2 is free");
        // On a charger with one EVSE, Authorize is refused too.
        assert_eq!(
            held_against(&open, &[1], None, "BOB", None, None).map(|r| r.id),
            Some(1)
        );
        assert_eq!(
            held_against(&open, &[], None, "BOB", None, None).map(|r| r.id),
            Some(1),
            "no status yet: the reserved EVSE is the one known"
        );
        // The charger says the transaction uses the reservation.
        assert_eq!(
            held_against(&open, &[1], Some(1), "BOB", None, Some(1)),
            None
        );
    }

    #[test]
    fn a_group_reservation_admits_its_members_and_a_charger_wide_one_holds_every_evse() {
        let open = [r(4, None, "FLEET", Some("FLEET"))];
        let held = |evse, token, group| held_against(&open, &[1, 2], evse, token, group, None);
        assert_eq!(held(Some(2), "DRIVER-1", Some("FLEET")), None);
        assert_eq!(held(None, "FLEET", None), None);
        assert_eq!(held(Some(2), "VISITOR", None).map(|r| r.id), Some(4));
        assert_eq!(held(None, "VISITOR", Some("OTHER")).map(|r| r.id), Some(4));
        assert_eq!(
            used_by(&open, None, Some(2), Some("DRIVER-1"), Some("FLEET")),
            Some(4)
        );
        assert_eq!(used_by(&open, None, Some(2), Some("VISITOR"), None), None);
        assert_eq!(used_by(&open, Some(9), Some(2), None, None), Some(9));
    }
}
