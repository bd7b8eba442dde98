//! What chargegate learns of a vehicle from its charger's meter values: how much it takes
//! (its on-board charger's limit), and whether it takes anything at all.
//!
//! Both free room for other vehicles (issue 9). A vehicle limited to 16 A that is offered
//! 32 A holds 16 A of room nobody uses; a full vehicle offered the IEC 61851-1 minimum
//! holds 6 A on every phase of its charger. Over a depot night a dozen full vehicles held
//! about a tenth of the grid connection that way.
//!
//! A vehicle seen drawing nothing while offered at least the minimum, for `IDLE_CONFIRM`,
//! is *idle*: full, or paused by its own battery management. The plan gives it nothing. A
//! vehicle at 0 A cannot show that it wants current again (IEC 61851-1: the charger reports
//! SuspendedEVSE whatever the vehicle does), so every `IDLE_PROBE_AFTER` the snapshot
//! offers it the minimum once more (a *probe*); a sample drawing nothing makes it idle
//! again, a sample drawing makes it an ordinary vehicle. Pure: the caller passes the
//! time of the event.

use chrono::{DateTime, TimeDelta, Utc};

use super::Vehicle;
use super::learned_phases::measured_currents;
use super::phases::drawing_phase_count;
use crate::ev::IEC_MIN_CURRENT_A;
use crate::ocpp::model::MeterSample;
use crate::units::Amps;

/// How long a vehicle must draw nothing while offered at least the minimum before it is
/// idle: longer than a vehicle takes to wake up and start after the control pilot offers
/// current (real vehicles take up to about 30 s), so a slow starter is not paused.
pub const IDLE_CONFIRM: TimeDelta = TimeDelta::seconds(60);

/// How long an idle vehicle is left at 0 A before the minimum is offered again to see
/// whether it wants current: one planning slot, so a probe costs at most 1/15 of a
/// minimum's worth of room while a vehicle that wants again waits at most this long.
pub const IDLE_PROBE_AFTER: TimeDelta = TimeDelta::minutes(15);

/// `Vehicle::measured_max` of an idle vehicle.
const IDLE: Amps = Amps(0.0);

/// Below this draw, in A, a vehicle takes nothing (meters show a little noise).
const DRAWS_NOTHING_A: f64 = 1.0;

/// Learns from `samples` (a charger's MeterValues at `at`). Returns whether what a plan may
/// give the vehicle changed enough to plan again (a learned limit that moved by 2 A or
/// more, the vehicle going idle, a probe answered).
///
/// - Drawing clearly less than offered (Current.Import below 80 % of Current.Offered): its
///   on-board charger limits it, to about what it draws; learned once two samples agree,
///   since one may be taken while the vehicle still ramps up.
/// - Drawing what it is offered, and at least what it was thought to take: whatever was
///   learned is forgotten (a warmer battery, a phase switched on). Offered just its
///   learned limit and drawing a little less is no news: keeping it avoids a replan loop
///   of learn, offer the learned limit, forget, offer everything.
/// - Drawing nothing while offered at least the minimum: idle (see the module).
/// - Offered less than the minimum (paused by chargegate): nothing to learn.
///
/// Also the phases it draws on (`learn_drawing_phases`), whatever they change.
pub(super) fn learn(
    vehicle: &mut Vehicle,
    samples: &[MeterSample],
    charger_phases: u8,
    at: DateTime<Utc>,
) -> bool {
    let phases_changed = learn_drawing_phases(vehicle, samples, charger_phases);
    learn_limit(vehicle, samples, at) || phases_changed
}

/// How many of its charger's phases the vehicle draws on, from a sample that shows it
/// clearly (`phases::drawing_phase_count`): a single-phase vehicle on a three-phase
/// charger takes a third of the energy a plan counting three phases expects per ampere,
/// and a plan that thinks it fills the vehicle in the cheap night hours leaves it short
/// at departure. Kept until a sample shows otherwise (a phase switched on). Returns
/// whether what a plan counts changed.
fn learn_drawing_phases(
    vehicle: &mut Vehicle,
    samples: &[MeterSample],
    charger_phases: u8,
) -> bool {
    let Some(currents) = measured_currents(samples) else {
        return false;
    };
    let Some(count) = drawing_phase_count(currents.map(|a| a.map(|a| a.0)), charger_phases) else {
        return false;
    };
    // Until a sample shows them, a plan counts every phase of the charger: learning
    // just that changes nothing to plan again for.
    vehicle
        .drawing_phases
        .replace(count)
        .unwrap_or(charger_phases)
        != count
}

/// The vehicle's own limit, and whether it is idle (see `learn`).
fn learn_limit(vehicle: &mut Vehicle, samples: &[MeterSample], at: DateTime<Utc>) -> bool {
    let highest = |measurand: &str| -> Option<f64> {
        samples
            .iter()
            .filter(|s| s.measurand == measurand && s.unit.as_deref().is_none_or(|u| u == "A"))
            .map(|s| s.value)
            .reduce(f64::max)
    };
    let (Some(import), Some(offered)) = (highest("Current.Import"), highest("Current.Offered"))
    else {
        return false;
    };
    if offered < IEC_MIN_CURRENT_A - 0.5 {
        return false;
    }
    if import < DRAWS_NOTHING_A {
        return draws_nothing(vehicle, at);
    }
    vehicle.idle_since = None;
    if vehicle.measured_max == Some(IDLE) {
        // It draws at its probe: an ordinary vehicle again at once (one sample is enough,
        // a vehicle drawing current wants it), before the next plan takes the probe back.
        vehicle.measured_max = None;
        vehicle.learning = None;
        return true;
    }
    let learned = if import < 0.8 * offered {
        Some(Amps(import.ceil() + 1.0))
    } else if vehicle
        .measured_max
        .is_none_or(|learned| import >= learned.0 - 0.5)
    {
        None
    } else {
        return false;
    };
    let differs = |a: Option<Amps>, b: Option<Amps>| match (a, b) {
        (Some(old), Some(new)) => (old.0 - new.0).abs() >= 2.0,
        (None, None) => false,
        _ => true,
    };
    let confirmed = vehicle
        .learning
        .replace(learned)
        .is_some_and(|previous| !differs(previous, learned));
    let changed = confirmed && differs(vehicle.measured_max, learned);
    if changed {
        vehicle.measured_max = learned;
    }
    changed
}

/// A sample drawing nothing although offered at least the minimum.
fn draws_nothing(vehicle: &mut Vehicle, at: DateTime<Utc>) -> bool {
    if vehicle.measured_max == Some(IDLE) {
        // A probe answered (or a late sample of an idle vehicle): idle again, the next
        // probe a full `IDLE_PROBE_AFTER` from now. Plan again so the probe's minimum goes
        // back to the others.
        vehicle.idle_since = Some(at);
        return true;
    }
    let since = *vehicle.idle_since.get_or_insert(at);
    if at - since < IDLE_CONFIRM {
        return false;
    }
    vehicle.measured_max = Some(IDLE);
    vehicle.learning = None;
    vehicle.idle_since = Some(at);
    true
}

/// The vehicle as a plan made at `now` sees it: an idle vehicle whose probe is due is
/// offered the minimum (its learned limit the minimum until a sample answers).
pub(super) fn as_planned(vehicle: &mut Vehicle, now: DateTime<Utc>) {
    if vehicle.measured_max == Some(IDLE)
        && vehicle
            .idle_since
            .is_some_and(|since| now - since >= IDLE_PROBE_AFTER)
    {
        vehicle.measured_max = Some(Amps(IEC_MIN_CURRENT_A));
    }
}

/// Whether the vehicle is idle at `now` (for the operator's view): it drew nothing while
/// offered current and is left at 0 A until its next probe.
pub fn is_idle(vehicle: &Vehicle) -> bool {
    vehicle.measured_max == Some(IDLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vehicle() -> Vehicle {
        Vehicle {
            since: DateTime::<Utc>::UNIX_EPOCH,
            max_current: None,
            measured_max: None,
            learning: None,
            idle_since: None,
            min_current: None,
            need: None,
            id_token: None,
            drawing_phases: None,
        }
    }

    fn sample(measurand: &str, value: f64) -> MeterSample {
        MeterSample {
            timestamp: DateTime::<Utc>::UNIX_EPOCH,
            measurand: measurand.into(),
            phase: None,
            value,
            unit: Some("A".into()),
            context: None,
            location: None,
        }
    }

    fn values(import: f64, offered: f64) -> Vec<MeterSample> {
        vec![
            sample("Current.Import", import),
            sample("Current.Offered", offered),
        ]
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(s)
    }

    fn planned(v: &Vehicle, now: DateTime<Utc>) -> Option<Amps> {
        let mut v = v.clone();
        as_planned(&mut v, now);
        v.measured_max
    }

    /// A sample of `per_phase` A on L1, L2, L3 (`None`: not reported), offered 16 A.
    fn per_phase(per_phase: [Option<f64>; 3]) -> Vec<MeterSample> {
        let mut out = vec![sample("Current.Offered", 16.0)];
        for (phase, a) in ["L1", "L2", "L3"].iter().zip(per_phase) {
            if let Some(a) = a {
                out.push(MeterSample {
                    phase: Some((*phase).into()),
                    ..sample("Current.Import", a)
                });
            }
        }
        out
    }

    #[test]
    fn the_phases_a_vehicle_draws_on_are_learned_from_a_clear_sample_and_kept() {
        let mut v = vehicle();
        // Ramping (a phase between 1 and 6 A) or a phase not reported: nothing learned.
        learn(
            &mut v,
            &per_phase([Some(3.0), Some(0.0), Some(0.0)]),
            3,
            t(0),
        );
        learn(&mut v, &per_phase([Some(16.0), None, Some(0.0)]), 3, t(10));
        assert_eq!(v.drawing_phases, None);
        // On L1 alone: one phase, a change the plan must hear of.
        assert!(learn(
            &mut v,
            &per_phase([Some(16.0), Some(0.2), Some(0.0)]),
            3,
            t(20)
        ));
        assert_eq!(v.drawing_phases, Some(1));
        // Paused (nothing drawn) or a ramp: kept.
        learn(
            &mut v,
            &per_phase([Some(0.0), Some(0.0), Some(0.0)]),
            3,
            t(30),
        );
        learn(
            &mut v,
            &per_phase([Some(9.0), Some(2.0), Some(2.0)]),
            3,
            t(40),
        );
        assert_eq!(v.drawing_phases, Some(1));
        // A phase switched on: three.
        assert!(learn(
            &mut v,
            &per_phase([Some(16.0), Some(15.5), Some(16.0)]),
            3,
            t(50)
        ));
        assert_eq!(v.drawing_phases, Some(3));
        assert!(!learn(
            &mut v,
            &per_phase([Some(16.0), Some(15.5), Some(16.0)]),
            3,
            t(60)
        ));
    }

    #[test]
    fn a_vehicle_drawing_nothing_is_idle_only_after_the_confirmation_time() {
        let mut v = vehicle();
        // A slow starter: nothing for the first samples, within `IDLE_CONFIRM`.
        assert!(!learn(&mut v, &values(0.0, 16.0), 3, t(0)));
        assert!(!learn(&mut v, &values(0.2, 16.0), 3, t(30)));
        assert_eq!(v.measured_max, None);
        // Starting to draw ends the wait: the next silence starts it again.
        assert!(!learn(&mut v, &values(16.0, 16.0), 3, t(40)));
        assert!(!learn(&mut v, &values(0.0, 16.0), 3, t(50)));
        assert!(!learn(&mut v, &values(0.0, 16.0), 3, t(100)));
        assert!(
            learn(&mut v, &values(0.0, 16.0), 3, t(110)),
            "idle after 60 s"
        );
        assert!(is_idle(&v));
        assert_eq!(planned(&v, t(110)), Some(IDLE));
    }

    #[test]
    fn an_idle_vehicle_is_probed_with_the_minimum_and_resumes_when_it_draws() {
        let mut v = vehicle();
        learn(&mut v, &values(0.0, 32.0), 3, t(0));
        assert!(learn(&mut v, &values(0.0, 32.0), 3, t(60)));
        // Paused at 0 A: its samples show nothing to learn, and it stays idle.
        assert!(!learn(&mut v, &values(0.0, 0.0), 3, t(300)));
        assert_eq!(planned(&v, t(60 + 899)), Some(IDLE));
        // The probe: the minimum, once `IDLE_PROBE_AFTER` has passed.
        assert_eq!(planned(&v, t(60 + 900)), Some(Amps(IEC_MIN_CURRENT_A)));
        // Still nothing at the probe: idle again at once, the next probe 15 min later.
        assert!(learn(&mut v, &values(0.0, 6.0), 3, t(962)));
        assert_eq!(planned(&v, t(962 + 899)), Some(IDLE));
        assert_eq!(planned(&v, t(962 + 900)), Some(Amps(6.0)));
        // At the next probe it draws: an ordinary vehicle again at once.
        assert!(learn(&mut v, &values(6.0, 6.0), 3, t(1864)));
        assert!(!learn(&mut v, &values(6.0, 6.0), 3, t(1872)));
        assert_eq!(v.measured_max, None);
        assert!(!is_idle(&v));
        assert_eq!(planned(&v, t(9999)), None);
    }

    #[test]
    fn a_vehicle_paused_by_chargegate_teaches_nothing() {
        let mut v = vehicle();
        for s in 0..10 {
            assert!(!learn(&mut v, &values(0.0, 0.0), 3, t(s * 60)));
        }
        assert_eq!(v.measured_max, None);
        assert_eq!(v.idle_since, None);
    }
}
