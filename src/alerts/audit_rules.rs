//! Pure rules over what the store holds: open transactions without meter data, the
//! failsafe baseline's answers and the guard's cuts as the audit log records them (S6).
//!
//! Reading the audit log keeps dispatch and the control loop as they are: the baseline
//! task and dispatch already audit every SetChargingProfile with its reason and answer.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Condition, Key, Kind, Severity, Step};
use crate::store::{self, ProfileSent, Verification};
use crate::units::ChargerId;

/// How long an open transaction may go without meter data (issue 10: an hour). Chargers
/// sample every `MeterValueSampleInterval` / `TxUpdatedInterval` (60 s by default), so an
/// hour of nothing is a charger or meter fault, not a slow setting.
pub const TX_METER_GAP: Duration = Duration::from_secs(60 * 60);

/// More than this many guard cuts within `GUARD_WINDOW` raise `repeated-guard-cuts`.
pub const GUARD_CUTS: usize = 3;

/// The window the guard cuts are counted in; the alert clears once it holds none.
pub const GUARD_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How `dispatch::baseline` words the reason of the failsafe baseline it sends.
const BASELINE_REASON: &str = "baseline: failsafe";

/// How dispatch words a limit sent under a guard cut (`guard cut, <why>`); a lifted cut
/// reads `guard cut lifted, ...` and a plan with cuts elsewhere `... with guard cuts, ...`,
/// neither of which contains this.
const GUARD_CUT_NOTE: &str = "guard cut, ";

fn tx_key(charger: &ChargerId, tx: &str) -> Key {
    Key::charger(
        Kind::TxWithoutMeterValues,
        charger,
        Some(format!("transaction {tx}")),
    )
}

/// Open transaction `tx` of `charger`, `quiet` long without meter data (or since chargegate
/// saw it open): past `TX_METER_GAP` raises, within it clears.
pub fn tx_quiet(charger: &ChargerId, tx: &str, quiet: Duration) -> Step {
    let key = tx_key(charger, tx);
    if quiet <= TX_METER_GAP {
        return Step::Clear(key);
    }
    Step::Raise(Condition {
        key,
        severity: Severity::Warning,
        message: format!(
            "{charger} transaction {tx} has sent no meter values for more than {} min: its \
             bill lacks readings and the planner its draw; check the charger's meter and its \
             MeterValueSampleInterval (1.6) / TxUpdatedInterval (2.0.1)",
            quiet.as_secs() / 60
        ),
    })
}

/// An alert of `key` is about a transaction not in `open` (it ended, or was closed on
/// the charger's boot): its clearing step.
pub fn tx_ended(key: &Key, open: &[(ChargerId, String)]) -> Option<Step> {
    if key.kind != Kind::TxWithoutMeterValues {
        return None;
    }
    let charger = key.charger.as_ref()?;
    let tx = key.part.as_deref()?.strip_prefix("transaction ")?;
    let still = open.iter().any(|(c, t)| c == charger && t == tx);
    (!still).then(|| Step::Clear(key.clone()))
}

/// A baseline answer: Rejected or a CALLERROR raises `failsafe-refused`, Accepted clears
/// it. A timeout or an unsent command is the charger's connection (`charger-offline`,
/// `charger-silent`), not a refusal. Any other SetChargingProfile: `None`.
pub fn baseline(charger: &ChargerId, sent: &ProfileSent) -> Option<Step> {
    if !sent.reason.starts_with(BASELINE_REASON) {
        return None;
    }
    let key = Key::charger(Kind::FailsafeRefused, charger, None);
    match sent.outcome.as_str() {
        "accepted" => Some(Step::Clear(key)),
        "rejected" | "error" => Some(Step::Raise(Condition {
            key,
            severity: Severity::Critical,
            message: format!(
                "{charger} refused its failsafe baseline profile ({}): if it loses \
                 chargegate it may draw its maximum current, so chargegate counts it at its \
                 maximum (S1, S3); check its smart-charging settings (1.6 \
                 SmartCharging profile, 2.0.1 SmartChargingCtrlr) and its firmware",
                sent.outcome
            ),
        })),
        _ => None,
    }
}

/// Whether the audit row is a limit sent because of a guard cut.
pub fn is_guard_cut(sent: &ProfileSent) -> bool {
    sent.reason.contains(GUARD_CUT_NOTE)
}

/// The guard cuts of `charger` within `GUARD_WINDOW` before `now`: more than `GUARD_CUTS`
/// raise, none clear, a few leave the alert as it is.
pub fn guard_cuts(charger: &ChargerId, cuts: usize) -> Option<Step> {
    let key = Key::charger(Kind::RepeatedGuardCuts, charger, None);
    if cuts == 0 {
        return Some(Step::Clear(key));
    }
    if cuts <= GUARD_CUTS {
        return None;
    }
    Some(Step::Raise(Condition {
        key,
        severity: Severity::Warning,
        message: format!(
            "the guard cut {charger} {cuts} times within {} min: the site runs at its limit \
             (check the building load and the circuit's meter) or the charger draws more \
             than it is given (check that it applies its profiles)",
            GUARD_WINDOW.as_secs() / 60
        ),
    }))
}

/// Keeps the cuts of the last `GUARD_WINDOW` before `now`.
pub fn within_window(cuts: &mut Vec<DateTime<Utc>>, now: DateTime<Utc>) {
    let window = chrono::Duration::from_std(GUARD_WINDOW).unwrap_or(chrono::Duration::MAX);
    cuts.retain(|t| now.signed_duration_since(*t) < window);
}

/// A composite-schedule verification as dispatch recorded it (`[dispatch] verify`,
/// detail `accepted <A> reported <A or none>`): a misreport raises
/// `composite-misreported`, a match clears it.
pub fn composite(charger: &ChargerId, v: &Verification) -> Option<Step> {
    let key = Key::charger(Kind::CompositeMisreported, charger, None);
    if v.kind == store::VERIFIED {
        return Some(Step::Clear(key));
    }
    if v.kind != store::MISREPORTED {
        return None;
    }
    let mut words = v.detail.split_whitespace();
    let accepted = match (words.next(), words.next()) {
        (Some("accepted"), Some(a)) => a,
        _ => "?",
    };
    let applies = match (words.next(), words.next()) {
        (Some("reported"), Some("none") | None) => {
            "no limit at all (its hardware maximum)".to_string()
        }
        (Some("reported"), Some(r)) => format!("{r} A"),
        _ => "another limit".to_string(),
    };
    Some(Step::Raise(Condition {
        key,
        severity: Severity::Warning,
        message: format!(
            "{charger} applies {applies} while it accepted {accepted} A \
             (GetCompositeSchedule after SetChargingProfile): its firmware ignores or \
             misapplies ChargingProfiles, so chargegate counts it at its maximum current and \
             the site has less room for the others; update its firmware or ask the vendor, \
             and check its smart-charging settings"
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ChargerId {
        ChargerId::new("CP-1").unwrap()
    }

    fn sent(outcome: &str, reason: &str) -> ProfileSent {
        ProfileSent {
            id: 1,
            ts: "2026-01-01T00:00:00.000Z".into(),
            charger: "CP-1".into(),
            outcome: outcome.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn only_the_baseline_s_rejection_raises_and_its_acceptance_clears() {
        let reason = "baseline: failsafe 6 A until chargegate sets a leased limit (S3)";
        assert!(matches!(
            baseline(&id(), &sent("rejected", reason)),
            Some(Step::Raise(_))
        ));
        assert!(matches!(
            baseline(&id(), &sent("error", reason)),
            Some(Step::Raise(_))
        ));
        assert!(matches!(
            baseline(&id(), &sent("accepted", reason)),
            Some(Step::Clear(_))
        ));
        assert_eq!(baseline(&id(), &sent("timeout", reason)), None);
        assert_eq!(baseline(&id(), &sent("rejected", "plan #2: 16 A")), None);
    }

    #[test]
    fn guard_cut_notes_are_told_from_lifts_and_plans_with_cuts() {
        assert!(is_guard_cut(&sent(
            "accepted",
            "plan #3 (Optimal), guard cut, L1 over by 4 A: 6 A"
        )));
        assert!(!is_guard_cut(&sent(
            "accepted",
            "plan #3 (Optimal) with guard cuts, guard cut lifted, 20 A free: 16 A"
        )));
        assert!(!is_guard_cut(&sent(
            "accepted",
            "plan #3 (Optimal) with guard cuts: 16 A"
        )));
    }

    #[test]
    fn more_than_three_cuts_raise_none_clear() {
        assert_eq!(guard_cuts(&id(), 3), None);
        assert!(matches!(guard_cuts(&id(), 4), Some(Step::Raise(_))));
        assert!(matches!(guard_cuts(&id(), 0), Some(Step::Clear(_))));
        let now = crate::ocpp::time::parse("2026-01-01T01:00:00Z").unwrap();
        let mut cuts = vec![
            now - chrono::Duration::minutes(15),
            now - chrono::Duration::minutes(14),
        ];
        within_window(&mut cuts, now);
        assert_eq!(cuts.len(), 1);
    }

    #[test]
    fn a_transaction_quiet_for_an_hour_raises_and_its_end_clears() {
        assert!(matches!(tx_quiet(&id(), "7", TX_METER_GAP), Step::Clear(_)));
        let Step::Raise(c) = tx_quiet(&id(), "7", TX_METER_GAP + Duration::from_secs(1)) else {
            panic!("not raised");
        };
        assert_eq!(c.key.part.as_deref(), Some("transaction 7"));
        assert_eq!(tx_ended(&c.key, &[(id(), "7".into())]), None);
        assert_eq!(tx_ended(&c.key, &[]), Some(Step::Clear(c.key.clone())));
    }

    fn verdict(kind: &str, detail: &str) -> Verification {
        Verification {
            id: 1,
            charger: "CP-07".into(),
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_misreport_raises_with_both_currents_and_a_match_clears() {
        use crate::store::{MISREPORTED, VERIFIED};
        let cp = ChargerId::new("CP-07").unwrap();
        let Some(Step::Raise(c)) = composite(&cp, &verdict(MISREPORTED, "accepted 10 reported 16"))
        else {
            panic!("a misreport raises");
        };
        assert_eq!(c.severity, Severity::Warning);
        assert!(
            c.message
                .starts_with("CP-07 applies 16 A while it accepted 10 A"),
            "{}",
            c.message
        );
        let Some(Step::Raise(c)) =
            composite(&cp, &verdict(MISREPORTED, "accepted 10 reported none"))
        else {
            panic!("a misreport raises");
        };
        assert!(
            c.message.contains("applies no limit at all"),
            "{}",
            c.message
        );
        assert!(matches!(
            composite(&cp, &verdict(VERIFIED, "accepted 10 reported 10")),
            Some(Step::Clear(k)) if k.kind == Kind::CompositeMisreported
        ));
        assert_eq!(composite(&cp, &verdict("Alert", "x")), None);
    }
}
