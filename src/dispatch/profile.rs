//! The ChargingProfiles chargegate sends, built purely from a charger's settings and `now`.
//!
//! Stack (DESIGN.md S3): the *baseline* is a TxDefaultProfile at stack level 0 on the whole
//! station (1.6 connector 0, 2.0.1 EVSE 0) with the charger's failsafe current and no end.
//! It is deliberately not a ChargePointMaxProfile (1.6) / ChargingStationMaxProfile
//! (2.0.1): the composite schedule is the minimum of the station-max profile and the
//! transaction profiles (OCPP 1.6 §3.13.2, 2.0.1 K08), so a failsafe station-max would cap
//! every later limit at the failsafe. A TxDefaultProfile is instead overridden by higher
//! stack levels while they are valid and comes back by itself when they expire — exactly
//! the dead-man's switch we want. Leased limits (stack level 1 and up, with `validTo`)
//! come with the dispatch issue. Nothing here performs IO.

use chrono::{DateTime, Utc};

use crate::config::Charger;
use crate::ocpp::model::{
    ChargingProfile, ChargingSchedule, ProfileKind, ProfilePurpose, RateUnit, SchedulePeriod, TxKey,
};
use crate::profiles::charger::ChargerQuirks;
use crate::units::{Amps, Volts, floor_limit};

/// The profile id of the baseline. Ids are per charger; a fixed id makes a resent baseline
/// replace the previous one (1.6 §3.13.2: same id replaces) instead of piling up.
pub const BASELINE_PROFILE_ID: i32 = 1;
/// The stack level of the baseline: the lowest.
pub const BASELINE_STACK_LEVEL: u32 = 0;

/// The per-phase current a charger applies for `current`: rounded down to its own step
/// (`step-a`, never up: S1). Dispatch compares limits on it too (`task::send`).
pub fn on_charger_step(current: Amps, quirks: &ChargerQuirks) -> Amps {
    Amps(floor_limit(current.0, quirks.step_a))
}

/// The schedule for a constant per-phase current, in the unit the charger takes.
fn constant_schedule(
    charger: &Charger,
    current: Amps,
    quirks: &ChargerQuirks,
    voltage: Volts,
) -> ChargingSchedule {
    let current = on_charger_step(current, quirks);
    let (rate_unit, limit) = if quirks.watts_only {
        // W limits are totals over the charger's phases (OCPP 1.6 §7.13 chargingRateUnit),
        // rounded down to whole watts.
        (
            RateUnit::Watts,
            current.to_watts(voltage, charger.phases).0.floor(),
        )
    } else {
        (RateUnit::Amps, current.0)
    };
    ChargingSchedule {
        start: None,
        duration_s: None,
        rate_unit,
        periods: vec![SchedulePeriod {
            start_s: 0,
            limit,
            phases: Some(charger.phases),
        }],
        min_rate: None,
    }
}

/// The permanent baseline profile of a charger (S3): TxDefault, stack level 0, failsafe
/// current, relative to each transaction's start, never expiring.
pub fn baseline(charger: &Charger, quirks: &ChargerQuirks, voltage: Volts) -> ChargingProfile {
    ChargingProfile {
        id: BASELINE_PROFILE_ID,
        stack_level: BASELINE_STACK_LEVEL,
        purpose: ProfilePurpose::TxDefault,
        // Relative: the single period starts with every transaction, so no clock on the
        // charger (which may be wrong after a power cut) can make it lapse.
        kind: ProfileKind::Relative,
        recurrency_weekly: None,
        tx: None,
        valid_from: None,
        valid_to: None,
        schedule: constant_schedule(charger, charger.failsafe_current, quirks, voltage),
    }
}

/// The profile id of leased limits: one per charger, so a refreshed or changed lease
/// replaces the previous one (same id, 1.6 §3.13.2; 2.0.1 K01.FR.05).
pub const LEASE_PROFILE_ID: i32 = 2;
/// Leased limits sit just above the baseline.
pub const LEASE_STACK_LEVEL: u32 = 1;

/// A leased limit (S3): a TxProfile for the running transaction when there is one (it
/// then wins over any TxDefaultProfile, 1.6 §3.13.1), else a station-wide
/// TxDefaultProfile; either way it ends at `now + lease_s` (`validTo` and the schedule's
/// duration both), after which the charger is back on its baseline by itself.
pub fn lease(
    charger: &Charger,
    current: Amps,
    quirks: &ChargerQuirks,
    voltage: Volts,
    tx: Option<TxKey>,
    now: DateTime<Utc>,
    lease_s: u32,
) -> ChargingProfile {
    let mut schedule = constant_schedule(charger, current, quirks, voltage);
    schedule.start = Some(now);
    schedule.duration_s = Some(lease_s);
    ChargingProfile {
        id: LEASE_PROFILE_ID,
        stack_level: LEASE_STACK_LEVEL,
        purpose: if tx.is_some() {
            ProfilePurpose::Tx
        } else {
            ProfilePurpose::TxDefault
        },
        kind: ProfileKind::Absolute,
        recurrency_weekly: None,
        tx,
        valid_from: None,
        valid_to: Some(now + chrono::Duration::seconds(i64::from(lease_s))),
        schedule,
    }
}

/// Whether a profile is still in force at `now` (used when accounting a charger's limit).
pub fn in_force(profile: &ChargingProfile, now: DateTime<Utc>) -> bool {
    profile.valid_from.is_none_or(|from| from <= now) && profile.valid_to.is_none_or(|to| now < to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ChargerId;

    fn charger(phases: u8, failsafe: f64) -> Charger {
        Charger {
            id: ChargerId::new("CP-1").unwrap(),
            secret: None,
            max_current: Amps(32.0),
            min_current: Amps(6.0),
            phases,
            phase_rotation: "RST".into(),
            failsafe_current: Amps(failsafe),
            priority: 1,
            circuit: None,
            profile: "generic".into(),
            quirks: Default::default(),
            upstream_password: None,
        }
    }

    #[test]
    fn rounding_never_goes_up() {
        for (value, step, want) in [
            (15.97, 0.1, 15.9),
            (15.9, 0.1, 15.9),
            (6.0, 0.1, 6.0),
            (6.05, 0.5, 6.0),
            (31.99, 1.0, 31.0),
            (-3.0, 0.1, 0.0),
            (f64::NAN, 0.1, 0.0),
        ] {
            assert_eq!(
                Amps(floor_limit(value, step)),
                Amps(want),
                "{value} step {step}"
            );
        }
    }

    #[test]
    fn the_baseline_is_a_permanent_lowest_tx_default_at_failsafe() {
        let profile = baseline(&charger(3, 6.0), &ChargerQuirks::default(), Volts(230.0));
        assert_eq!(profile.purpose, ProfilePurpose::TxDefault);
        assert_eq!(profile.stack_level, 0);
        assert_eq!((profile.valid_from, profile.valid_to), (None, None));
        assert_eq!(profile.schedule.rate_unit, RateUnit::Amps);
        assert_eq!(
            profile.schedule.periods,
            vec![SchedulePeriod {
                start_s: 0,
                limit: 6.0,
                phases: Some(3)
            }]
        );
        assert!(in_force(&profile, Utc::now()));
    }

    #[test]
    fn watts_only_chargers_get_total_watts_over_their_phases() {
        let quirks = ChargerQuirks {
            watts_only: true,
            ..ChargerQuirks::default()
        };
        let single = baseline(&charger(1, 10.0), &quirks, Volts(230.0));
        assert_eq!(single.schedule.rate_unit, RateUnit::Watts);
        assert_eq!(single.schedule.periods[0].limit, 2300.0);
        let three = baseline(&charger(3, 6.0), &quirks, Volts(230.0));
        assert_eq!(three.schedule.periods[0].limit, 4140.0);
    }

    #[test]
    fn a_lease_ends_by_itself_and_targets_the_running_transaction() {
        let now = Utc::now();
        let q = ChargerQuirks::default();
        let idle = lease(
            &charger(3, 6.0),
            Amps(15.97),
            &q,
            Volts(230.0),
            None,
            now,
            600,
        );
        assert_eq!(
            (idle.purpose, idle.stack_level, idle.tx.clone()),
            (ProfilePurpose::TxDefault, 1, None)
        );
        assert_eq!(idle.valid_to, Some(now + chrono::Duration::seconds(600)));
        assert_eq!(idle.schedule.duration_s, Some(600));
        assert_eq!(idle.schedule.periods[0].limit, 15.9);
        assert!(in_force(&idle, now) && !in_force(&idle, now + chrono::Duration::seconds(600)));
        let busy = lease(
            &charger(3, 6.0),
            Amps(16.0),
            &q,
            Volts(230.0),
            Some(TxKey::Csms(7)),
            now,
            600,
        );
        assert_eq!(
            (busy.purpose, busy.tx),
            (ProfilePurpose::Tx, Some(TxKey::Csms(7)))
        );
    }

    #[test]
    fn a_paused_failsafe_is_zero() {
        let profile = baseline(&charger(3, 0.0), &ChargerQuirks::default(), Volts(230.0));
        assert_eq!(profile.schedule.periods[0].limit, 0.0);
    }
}
