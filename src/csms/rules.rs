//! The pure rules of a charging session: who may charge, how units are normalised, which
//! sample is the energy register. No IO, no clock (`now` is a parameter).

use chrono::{DateTime, Utc};

use crate::ocpp::model::{AuthorizationStatus, IdTokenInfo, MeterSample};
use crate::store::TokenRecord;

/// The answer for an id token, from its local record.
///
/// An unknown token is `Unknown` (2.0.1; 1.6 encodes it as `Invalid`); an expired one
/// `Expired` even if accepted; a token already charging elsewhere `ConcurrentTx`
/// (1.6 §7.3 AuthorizationStatus), because a depot card must not start two sessions.
pub fn authorize(
    record: Option<&TokenRecord>,
    has_open_transaction: bool,
    now: DateTime<Utc>,
) -> IdTokenInfo {
    let Some(record) = record else {
        return IdTokenInfo::status(AuthorizationStatus::Unknown);
    };
    let status = if record.status != "accepted" {
        AuthorizationStatus::Blocked
    } else if record.expires.is_some_and(|e| e <= now) {
        AuthorizationStatus::Expired
    } else if has_open_transaction {
        AuthorizationStatus::ConcurrentTx
    } else {
        AuthorizationStatus::Accepted
    };
    IdTokenInfo {
        status,
        expiry: record.expires,
        group_id: record.group.clone(),
    }
}

/// The stop reason of a transaction chargegate closes because the charger began another on
/// the same connector or EVSE, which carries one transaction at a time: the older one
/// ended unreported. `Other` is in both versions' vocabularies (1.6 Reason, 2.0.1
/// ReasonEnumType); the record's `closed_by = new-transaction` says why.
pub const STALE_ON_NEW_TRANSACTION: &str = "Other";

/// Whether a BootNotification ends the charger's open transactions, and with which stop
/// reason (`None`: it does not). A charger sends one each time it boots (1.6 §4.2) and
/// runs no transaction across it: after a hard reset a 1.6 charger sends "a
/// StopTransaction.req for previously ongoing transactions after having restarted" if
/// it can (§5.14), and that late stop then replaces chargegate's record; 2.0.1 has no
/// resumption across a reboot (a station sends its queued Ended events). A 2.0.1 boot
/// with reason `Triggered` answers a TriggerMessage and is no restart; after `PowerUp`
/// the power was gone (`PowerLoss`); any other reason, and 1.6, is a `Reboot`. Both words
/// are in both versions' vocabularies. A charger that goes on with a transaction closed
/// this way (a MeterValues or an Updated event naming it) opens it again (store::queries),
/// so the rule cannot lose a running session. A reconnect without a boot closes nothing:
/// 2.0.1 stations and many 1.6 chargers keep charging through a lost connection.
pub fn stale_on_boot(boot_reason: Option<&str>) -> Option<&'static str> {
    match boot_reason {
        Some("Triggered") => None,
        Some("PowerUp") => Some("PowerLoss"),
        _ => Some("Reboot"),
    }
}

/// Brings a sample to base units: `kWh` -> `Wh`, `kW` -> `W`, `kvarh` -> `varh`,
/// `kvar` -> `var`, `kVA` -> `VA` (1.6 UnitOfMeasure allows the k-prefixed ones).
pub fn normalise(mut sample: MeterSample) -> MeterSample {
    let base = match sample.unit.as_deref() {
        Some("kWh") => Some("Wh"),
        Some("kW") => Some("W"),
        Some("kvarh") => Some("varh"),
        Some("kvar") => Some("var"),
        Some("kVA") => Some("VA"),
        _ => None,
    };
    if let Some(base) = base {
        sample.value *= 1000.0;
        sample.unit = Some(base.to_string());
    }
    sample
}

/// The latest total Energy.Active.Import.Register reading among `samples`, in Wh
/// (samples must be normalised). Per-phase registers are ignored: the total is billed.
pub fn energy_register_wh(samples: &[MeterSample]) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.measurand == "Energy.Active.Import.Register" && s.phase.is_none())
        .filter(|s| s.unit.as_deref().is_none_or(|u| u == "Wh"))
        .max_by_key(|s| s.timestamp)
        .map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::ocpp::time::parse("2026-11-24T12:00:00Z").unwrap()
    }

    fn token(status: &str, expires: Option<&str>) -> TokenRecord {
        TokenRecord {
            id: "CARD".into(),
            status: status.into(),
            expires: expires.and_then(crate::ocpp::time::parse),
            group: Some("fleet".into()),
        }
    }

    #[test]
    fn authorization_follows_the_local_list() {
        let cases = [
            (None, false, AuthorizationStatus::Unknown),
            (
                Some(token("accepted", None)),
                false,
                AuthorizationStatus::Accepted,
            ),
            (
                Some(token("blocked", None)),
                false,
                AuthorizationStatus::Blocked,
            ),
            (
                Some(token("accepted", Some("2026-11-24T11:59:59Z"))),
                false,
                AuthorizationStatus::Expired,
            ),
            (
                Some(token("accepted", Some("2027-01-01T00:00:00Z"))),
                false,
                AuthorizationStatus::Accepted,
            ),
            (
                Some(token("accepted", None)),
                true,
                AuthorizationStatus::ConcurrentTx,
            ),
            (
                Some(token("blocked", None)),
                true,
                AuthorizationStatus::Blocked,
            ),
        ];
        for (record, busy, want) in cases {
            assert_eq!(
                authorize(record.as_ref(), busy, now()).status,
                want,
                "{record:?} busy={busy}"
            );
        }
        assert_eq!(
            authorize(Some(&token("accepted", None)), false, now())
                .group_id
                .as_deref(),
            Some("fleet")
        );
    }

    fn sample(
        measurand: &str,
        phase: Option<&str>,
        value: f64,
        unit: &str,
        minute: i64,
    ) -> MeterSample {
        MeterSample {
            timestamp: now() + chrono::Duration::minutes(minute),
            measurand: measurand.into(),
            phase: phase.map(Into::into),
            value,
            unit: Some(unit.into()),
            context: None,
            location: None,
        }
    }

    #[test]
    fn kilo_units_become_base_units() {
        let s = normalise(sample("Energy.Active.Import.Register", None, 1.5, "kWh", 0));
        assert_eq!((s.value, s.unit.as_deref()), (1500.0, Some("Wh")));
        let a = normalise(sample("Current.Import", Some("L1"), 16.0, "A", 0));
        assert_eq!((a.value, a.unit.as_deref()), (16.0, Some("A")));
    }

    #[test]
    fn the_register_is_the_latest_total_energy_reading() {
        let samples = vec![
            sample("Energy.Active.Import.Register", None, 100.0, "Wh", 0),
            sample("Energy.Active.Import.Register", None, 300.0, "Wh", 2),
            sample("Energy.Active.Import.Register", Some("L1"), 900.0, "Wh", 3),
            sample("Current.Import", None, 16.0, "A", 4),
        ];
        assert_eq!(energy_register_wh(&samples), Some(300.0));
        assert_eq!(energy_register_wh(&samples[3..]), None);
    }
}
