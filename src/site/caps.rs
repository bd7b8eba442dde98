//! The cloud CSMS's upper bounds on one charger's current (the OCPP Local Controller,
//! issue 13): a TxDefaultProfile holds for every vehicle on the charger until the cloud
//! clears it or it ends; a TxProfile only for the vehicle plugged in when it came.
//!
//! Smart charging stays chargegate's: the cloud's profile is never sent to the charger.
//! It lowers the vehicle's maximum in the snapshot, so the plan, the fill and the
//! restorations never give the charger more; a cap below the charger's minimum leaves it
//! at 0 A, as a charger does with a limit it cannot apply. Pure, like the rest of `site`.

use chrono::{DateTime, Utc};

use super::{SiteState, Vehicle};
use crate::ocpp::model::{ChargerEvent, TxKey, TxPhase};
use crate::store::CloudCap;
use crate::units::{Amps, ChargerId};

/// Which of the cloud's profiles a cap stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    /// TxDefaultProfile: every vehicle on the charger, until cleared or ended.
    Lasting,
    /// TxProfile: the vehicle plugged in now, until it leaves.
    Session,
}

/// The cloud's caps on one charger.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ChargerCaps {
    lasting: Option<CloudCap>,
    session: Option<SessionCap>,
}

/// A TxProfile's cap with the vehicle it was set for: another vehicle is not bound by it.
#[derive(Debug, Clone, PartialEq)]
struct SessionCap {
    cap: CloudCap,
    /// `Vehicle::since` of that vehicle.
    since: DateTime<Utc>,
    /// Its transaction, from the first message that names it: a reconnect or restart that
    /// revives the vehicle (a new `since`) keeps the cap with the transaction.
    tx: Option<TxKey>,
}

/// Why a cap was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapRefusal {
    UnknownCharger,
    /// A TxProfile with no vehicle plugged in (1.6 §5.16.1: rejected without a transaction).
    NoVehicle,
}

impl SiteState {
    /// Sets (`Some`) or clears the cloud's cap of `kind` on `charger`.
    pub fn set_cap(
        &mut self,
        charger: &ChargerId,
        kind: CapKind,
        cap: Option<CloudCap>,
    ) -> Result<(), CapRefusal> {
        let state = self
            .snapshot
            .chargers
            .iter()
            .find(|c| &c.id == charger)
            .ok_or(CapRefusal::UnknownCharger)?;
        let since = state.vehicle.as_ref().map(|v| v.since);
        let caps = self.caps.entry(charger.clone()).or_default();
        match (kind, cap) {
            (CapKind::Lasting, cap) => caps.lasting = cap,
            (CapKind::Session, None) => caps.session = None,
            (CapKind::Session, Some(cap)) => {
                caps.session = Some(SessionCap {
                    cap,
                    since: since.ok_or(CapRefusal::NoVehicle)?,
                    tx: None,
                });
            }
        }
        Ok(())
    }

    /// Whether `charger` has a cap of `kind` (ended or not).
    pub fn has_cap(&self, charger: &ChargerId, kind: CapKind) -> bool {
        self.caps.get(charger).is_some_and(|c| match kind {
            CapKind::Lasting => c.lasting.is_some(),
            CapKind::Session => c.session.is_some(),
        })
    }

    /// The earliest end of a cap still kept (the loop wakes then and replans).
    pub fn caps_end(&self) -> Option<DateTime<Utc>> {
        self.caps
            .values()
            .flat_map(|c| [c.lasting, c.session.as_ref().map(|s| s.cap)])
            .flatten()
            .filter_map(|c| c.until)
            .min()
    }

    /// Forgets caps that ended by `now`; true when one did.
    pub fn end_caps(&mut self, now: DateTime<Utc>) -> bool {
        let mut ended = false;
        for caps in self.caps.values_mut() {
            if caps.lasting.is_some_and(|c| !c.in_force(now)) {
                caps.lasting = None;
                ended = true;
            }
            if caps.session.as_ref().is_some_and(|s| !s.cap.in_force(now)) {
                caps.session = None;
                ended = true;
            }
        }
        ended
    }

    /// Keeps a TxProfile's cap with its transaction: it learns the transaction's key from
    /// the first message of its vehicle that names one, and follows that transaction to
    /// the vehicle a reconnect or a restart revives for it. A late message of a
    /// transaction that ended moves nothing. True when the cap moved to a revived vehicle:
    /// it bounds that vehicle from now on, so the plan must change.
    pub(super) fn follow_transaction(&mut self, charger: &ChargerId, event: &ChargerEvent) -> bool {
        let tx = match event {
            ChargerEvent::Transaction(t) if t.phase != TxPhase::Ended => t.tx.as_ref(),
            ChargerEvent::MeterValues { tx, .. } => tx.as_ref(),
            _ => None,
        };
        let Some(tx) = tx.filter(|tx| self.ended.get(charger) != Some(*tx)) else {
            return false;
        };
        let since = (self.index.get(charger))
            .and_then(|i| self.snapshot.chargers[*i].vehicle.as_ref())
            .map(|v| v.since);
        let session = self.caps.get_mut(charger).and_then(|c| c.session.as_mut());
        let (Some(since), Some(session)) = (since, session) else {
            return false;
        };
        match &session.tx {
            None if session.since == since => {
                session.tx = Some(tx.clone());
                false
            }
            Some(key) if key == tx && session.since != since => {
                session.since = since;
                true
            }
            _ => false,
        }
    }

    /// Lowers `vehicle`'s maximum at `charger` to the caps in force for it at `now`.
    pub(super) fn cap(&self, charger: &ChargerId, vehicle: &mut Vehicle, now: DateTime<Utc>) {
        let Some(caps) = self.caps.get(charger) else {
            return;
        };
        let session = caps
            .session
            .as_ref()
            .filter(|s| s.since == vehicle.since)
            .map(|s| s.cap);
        let lowest = [caps.lasting, session]
            .into_iter()
            .flatten()
            .filter(|c| c.in_force(now))
            .map(|c| c.limit.0)
            .reduce(f64::min);
        if let Some(cap) = lowest {
            vehicle.max_current = Some(Amps(vehicle.max_current.map_or(cap, |m| m.0.min(cap))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::model::{ConnectorStatus, EvseRef};

    const SITE: &str = r#"
[site]
id = "t"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 20

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
max-current-a = 32
min-current-a = 6
"#;

    fn status(status: ConnectorStatus) -> ChargerEvent {
        ChargerEvent::Status {
            evse: EvseRef {
                evse_id: 1,
                connector_id: Some(1),
            },
            status,
            error_code: None,
            vendor_error_code: None,
            info: None,
            timestamp: None,
        }
    }

    fn plug(s: &mut SiteState, cp: &ChargerId, now: DateTime<Utc>) {
        s.apply_event(cp, now, &status(ConnectorStatus::Occupied));
        assert!(s.snapshot(now).chargers[0].vehicle.is_some());
    }

    fn unplug(s: &mut SiteState, cp: &ChargerId, now: DateTime<Utc>) {
        s.apply_event(cp, now, &status(ConnectorStatus::Available));
        assert!(s.snapshot(now).chargers[0].vehicle.is_none());
    }

    fn one_charger_with_vehicle(now: DateTime<Utc>) -> (SiteState, ChargerId) {
        let config = crate::config::parse(SITE).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut s = SiteState::from_config(&config);
        let cp = ChargerId::new("CP-01").unwrap();
        plug(&mut s, &cp, now);
        (s, cp)
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cap(limit_a: f64, until: Option<&str>) -> CloudCap {
        CloudCap {
            limit: Amps(limit_a),
            until: until.map(at),
            set_at: at("2026-12-01T08:00:00Z"),
        }
    }

    fn range_at(s: &SiteState, now: &str) -> Option<(Amps, Amps)> {
        s.snapshot(at(now)).chargers[0].range()
    }

    #[test]
    fn a_lasting_cap_bounds_every_vehicle_until_it_ends() {
        let (mut s, cp) = one_charger_with_vehicle(at("2026-12-01T09:00:00Z"));
        assert_eq!(
            range_at(&s, "2026-12-01T10:00:00Z"),
            Some((Amps(6.0), Amps(32.0)))
        );
        s.set_cap(
            &cp,
            CapKind::Lasting,
            Some(cap(10.0, Some("2026-12-01T12:00:00Z"))),
        )
        .unwrap();
        assert_eq!(
            range_at(&s, "2026-12-01T10:00:00Z"),
            Some((Amps(6.0), Amps(10.0)))
        );
        assert_eq!(s.caps_end(), Some(at("2026-12-01T12:00:00Z")));
        assert_eq!(
            range_at(&s, "2026-12-01T12:00:00Z"),
            Some((Amps(6.0), Amps(32.0)))
        );
        assert!(s.end_caps(at("2026-12-01T12:00:00Z")));
        assert!(!s.has_cap(&cp, CapKind::Lasting));
    }

    #[test]
    fn a_cap_below_the_minimum_leaves_nothing_to_charge() {
        let (mut s, cp) = one_charger_with_vehicle(at("2026-12-01T09:00:00Z"));
        s.set_cap(&cp, CapKind::Lasting, Some(cap(0.0, None)))
            .unwrap();
        assert_eq!(range_at(&s, "2026-12-01T10:00:00Z"), None);
    }

    #[test]
    fn a_session_cap_holds_for_its_vehicle_only_and_needs_one() {
        let (mut s, cp) = one_charger_with_vehicle(at("2026-12-01T09:00:00Z"));
        s.set_cap(&cp, CapKind::Session, Some(cap(8.0, None)))
            .unwrap();
        assert_eq!(
            range_at(&s, "2026-12-01T10:00:00Z"),
            Some((Amps(6.0), Amps(8.0)))
        );
        unplug(&mut s, &cp, at("2026-12-01T10:30:00Z"));
        assert_eq!(
            s.set_cap(&cp, CapKind::Session, Some(cap(8.0, None))),
            Err(CapRefusal::NoVehicle)
        );
        plug(&mut s, &cp, at("2026-12-01T11:00:00Z"));
        assert_eq!(
            range_at(&s, "2026-12-01T11:30:00Z"),
            Some((Amps(6.0), Amps(32.0))),
            "the next vehicle is not bound by the last one's TxProfile"
        );
    }

    fn meter_values(tx: &str) -> ChargerEvent {
        ChargerEvent::MeterValues {
            evse_id: 1,
            tx: Some(TxKey::Charger(tx.into())),
            samples: Vec::new(),
            signed: Vec::new(),
        }
    }

    fn ended(tx: &str) -> ChargerEvent {
        ChargerEvent::Transaction(crate::ocpp::model::TransactionEvent::bare(
            TxPhase::Ended,
            Some(TxKey::Charger(tx.into())),
            at("2026-12-01T12:00:00Z"),
        ))
    }

    /// A charger that reports Unavailable and then Charging again during a transaction
    /// (a reboot, a passing fault) brings back a vehicle with a new `since`: the
    /// TxProfile's cap stays with the transaction, not with the first `since`.
    #[test]
    fn a_session_cap_follows_its_transaction_to_the_revived_vehicle_and_no_further() {
        let (mut s, cp) = one_charger_with_vehicle(at("2026-12-01T09:00:00Z"));
        s.set_cap(&cp, CapKind::Session, Some(cap(8.0, None)))
            .unwrap();
        s.apply_event(&cp, at("2026-12-01T09:01:00Z"), &meter_values("T1"));
        s.apply_event(
            &cp,
            at("2026-12-01T10:00:00Z"),
            &status(ConnectorStatus::Unavailable),
        );
        s.apply_event(
            &cp,
            at("2026-12-01T10:01:00Z"),
            &status(ConnectorStatus::Charging),
        );
        assert!(
            s.apply_event(&cp, at("2026-12-01T10:02:00Z"), &meter_values("T1")),
            "the cap moving to the revived vehicle changes the plan"
        );
        assert_eq!(
            range_at(&s, "2026-12-01T10:05:00Z"),
            Some((Amps(6.0), Amps(8.0))),
            "the revived vehicle of transaction T1 keeps its TxProfile's cap"
        );
        s.apply_event(&cp, at("2026-12-01T11:00:00Z"), &ended("T1"));
        plug(&mut s, &cp, at("2026-12-01T11:10:00Z"));
        s.apply_event(&cp, at("2026-12-01T11:11:00Z"), &meter_values("T1"));
        s.apply_event(&cp, at("2026-12-01T11:12:00Z"), &meter_values("T2"));
        assert_eq!(
            range_at(&s, "2026-12-01T11:15:00Z"),
            Some((Amps(6.0), Amps(32.0))),
            "a late message of the ended T1 does not move its cap to the next vehicle"
        );
    }

    #[test]
    fn the_lower_of_both_caps_and_the_vehicles_own_maximum_applies() {
        let (mut s, cp) = one_charger_with_vehicle(at("2026-12-01T09:00:00Z"));
        s.set_cap(&cp, CapKind::Lasting, Some(cap(16.0, None)))
            .unwrap();
        s.set_cap(&cp, CapKind::Session, Some(cap(12.0, None)))
            .unwrap();
        assert_eq!(
            range_at(&s, "2026-12-01T10:00:00Z"),
            Some((Amps(6.0), Amps(12.0)))
        );
        s.set_cap(&cp, CapKind::Session, None).unwrap();
        assert_eq!(
            range_at(&s, "2026-12-01T10:00:00Z"),
            Some((Amps(6.0), Amps(16.0)))
        );
        assert_eq!(
            s.set_cap(&ChargerId::new("CP-99").unwrap(), CapKind::Lasting, None),
            Err(CapRefusal::UnknownCharger)
        );
    }
}
