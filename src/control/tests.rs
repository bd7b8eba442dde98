//! The targets the guard checks, from the plan made at the budget to the next reading.

use chrono::{Duration, TimeZone};

use super::*;
use crate::config;
use crate::planner::guard::WIRE_STEP_A;
use crate::site::{Need, Vehicle};
use crate::units::WattHours;

fn wall() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 17, 30, 0).unwrap()
}

/// Grid limit 65 A, margin 5 A: 60 A per phase for three 32 A chargers.
fn config() -> Config {
    let mut text =
        "[site]\nid = \"t\"\nworst-case-load-a = 10\nmargin-a = 5\ngrid-limit-a = 65\n".to_string();
    for (id, priority) in [("A", 1), ("B", 2), ("C", 3)] {
        text.push_str(&format!(
            "[[charger]]\nid = \"{id}\"\npassword = \"pw-long-enough\"\nmax-current-a = 32\n\
             failsafe-current-a = 0\npriority = {priority}\n"
        ));
    }
    config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// The site with `load_a` on every phase, every charger online with a vehicle that wants
/// more than the night gives it (so the plan uses all the room).
fn site(load_a: f64) -> SiteSnapshot {
    let mut state = SiteState::from_config(&config());
    state.apply_load(None, Some([Amps(load_a); 3]));
    let mut snap = state.snapshot(wall());
    for c in &mut snap.chargers {
        c.online = true;
        c.vehicle = Some(Vehicle {
            since: wall(),
            max_current: None,
            measured_max: None,
            learning: None,
            idle_since: None,
            min_current: None,
            need: Some(Need {
                energy: WattHours(200_000.0),
                departure: wall() + Duration::hours(3),
            }),
            id_token: None,
            drawing_phases: None,
        });
    }
    snap
}

/// The sum of `targets` and the load on phase L1, against the 60 A budget.
fn headroom_a(load_a: f64, targets: &[(ChargerId, Amps)]) -> f64 {
    60.0 - load_a - targets.iter().map(|(_, a)| a.0).sum::<f64>()
}

#[test]
fn a_plan_at_the_budget_takes_no_round_off_cut_from_the_next_reading() {
    // 17.63 A of other load as the plan saw it; the next reading of the same load, a grid
    // meter's f32 register at 137.63 A less 120 A of charger samples, is a few µA higher
    // (as in the depot day: `plan_a=32.0 to_a=31.999998`).
    let (planned_load_a, read_load_a) = (17.63, f64::from(137.63f32) - 120.0);
    let jitter_a = read_load_a - planned_load_a;
    assert!(jitter_a > 1e-6 && jitter_a < 1e-5, "{jitter_a}");
    let policy = Policy::from_config(&config());
    let plan = planner::plan(&site(planned_load_a), &policy, wall());
    let raw = plan.currents_at(wall());
    // The trap: the plan fills the room exactly, so the µA are over the budget.
    assert!(
        headroom_a(planned_load_a, &raw).abs() < 1e-6,
        "the plan leaves {} A",
        headroom_a(planned_load_a, &raw)
    );
    let snap = site(read_load_a);
    assert!(
        !planner::guard(&snap, &raw).is_empty(),
        "the plan's own limits are over by round-off"
    );
    let (targets, filled) = targets_now(&snap, &plan, wall(), &BTreeMap::new());
    let cuts = planner::guard(&snap, &targets);
    assert!(cuts.is_empty(), "round-off cut: {cuts:?}");
    // The headroom is the part of a step the wire never carried, and no more.
    let room = headroom_a(read_load_a, &targets);
    assert!(room > 0.0 && room < 3.0 * WIRE_STEP_A, "headroom {room} A");
    // Dispatch aims at what the guard checked.
    let output = ControlOutput {
        plan: Some(Arc::new(plan)),
        filled,
        ..ControlOutput::default()
    };
    assert_eq!(output.limits_at(wall()), targets);
    for (id, a) in &targets {
        assert_eq!(a.0, on_wire(a.0), "{id}: {a:?} is not on the wire's step");
    }
}

/// A charger event as the CSMS hands it to the site.
fn event(charger: &str, at: DateTime<Utc>, event: crate::ocpp::model::ChargerEvent) -> SiteEvent {
    SiteEvent {
        charger: ChargerId::new(charger).unwrap(),
        at,
        event,
    }
}

/// A MeterValues with Current.Import on L1 only, in A.
fn drawing_on_l1(amps: f64) -> crate::ocpp::model::ChargerEvent {
    use crate::ocpp::model::MeterSample;
    let samples = [("L1", amps), ("L2", 0.0), ("L3", 0.0)]
        .into_iter()
        .map(|(phase, value)| MeterSample {
            timestamp: wall(),
            measurand: "Current.Import".into(),
            phase: Some(phase.into()),
            value,
            unit: Some("A".into()),
            context: None,
            location: None,
        })
        .collect();
    crate::ocpp::model::ChargerEvent::MeterValues {
        evse_id: 1,
        tx: None,
        samples,
        signed: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn learned_phases_that_go_stale_ask_for_a_replan() {
    // Issue 9: a charger counted on its vehicle's learned phase counts on every phase again
    // once no sample has confirmed them for `FRESH_FOR`, with no event to say so; the plan
    // made for the narrow count must not stay in force.
    let mut control = learning_controller();
    let t0 = Instant::now();
    let at = seconds_after(t0);
    let read = |control: &mut Controller, s: i64| grid_reading(control, t0, s, [false; 3]);
    read(&mut control, 0);
    learn_l1_and_replan(&mut control, &at);
    let counted =
        |control: &Controller| control.output().snapshot.as_ref().unwrap().chargers[0].site_phases;
    assert_eq!(counted(&control), [true, false, false], "learned: L1 only");
    read(&mut control, 40);
    assert_eq!(control.replan_due(), None, "nothing changed");
    // 30 + FRESH_FOR: the last sample is too old; the reading after asks for a replan.
    let stale = 31 + crate::site::phases::FRESH_FOR.num_seconds();
    read(&mut control, stale);
    assert_eq!(counted(&control), [true; 3]);
    assert!(
        control.replan_due().is_some(),
        "the plan still counts A on L1 only"
    );
}

/// The one-charger site of the learned-phases tests: grid limit 100 A, a grid meter, A
/// with phase learning on.
fn learning_controller() -> Controller {
    let text = "[site]\nid = \"t\"\nworst-case-load-a = 10\nmargin-a = 5\ngrid-limit-a = 100\n\
                learn-vehicle-phases = true\n\
                [[meter]]\nid = \"main\"\nprofile = \"eastron-sdm630\"\nrole = \"grid\"\n\
                modbus-tcp = \"127.0.0.1:502\"\n\
                [[charger]]\nid = \"A\"\npassword = \"pw-long-enough\"\nmax-current-a = 32\n";
    let config = config::parse(text).unwrap_or_else(|p| panic!("{p:#?}"));
    Controller::new(
        SiteState::from_config(&config),
        Policy::from_config(&config),
    )
}

/// Second `s` of a test as (wall clock, instant), from `wall()` and `t0`.
fn seconds_after(t0: Instant) -> impl Fn(i64) -> (DateTime<Utc>, Instant) {
    move |s: i64| {
        (
            wall() + Duration::seconds(s),
            t0 + std::time::Duration::from_secs(s as u64),
        )
    }
}

/// A grid-meter reading of 20 A per phase at second `s`, `unmeasured` as given.
fn grid_reading(control: &mut Controller, t0: Instant, s: i64, unmeasured: [bool; 3]) {
    let wall = wall() + Duration::seconds(s);
    let now = t0 + std::time::Duration::from_secs(s as u64);
    let reading = LoadReading {
        circuit: None,
        per_phase: Some([Amps(20.0); 3]),
        detail: crate::site::ReadingDetail {
            unmeasured,
            ..Default::default()
        },
        at: wall,
    };
    assert!(control.on_reading(wall, now, &reading));
}

/// A starts charging at second 1, draws on L1 only at 10, 20 and 30, and the plan is made
/// at 31 with A counted on L1.
fn learn_l1_and_replan(control: &mut Controller, at: &dyn Fn(i64) -> (DateTime<Utc>, Instant)) {
    use crate::ocpp::model::{ChargerEvent, ConnectorStatus, EvseRef};
    let charging = ChargerEvent::Status {
        evse: EvseRef {
            evse_id: 1,
            connector_id: Some(1),
        },
        status: ConnectorStatus::Charging,
        error_code: None,
        vendor_error_code: None,
        info: None,
        timestamp: None,
    };
    control.on_event(at(1).1, &event("A", at(1).0, charging));
    for s in [10, 20, 30] {
        control.on_event(at(s).1, &event("A", at(s).0, drawing_on_l1(16.0)));
    }
    control.replan(at(31).0, at(31).1, ReplanReason::Vehicle);
}

#[tokio::test(start_paused = true)]
async fn a_phase_the_grid_meter_stops_reporting_asks_for_a_replan() {
    // A charger narrowed to its vehicle's L1 counts on L3 as well at a circuit whose meter
    // no longer reports L3 (a switch there is not seen), while its site phases stay L1:
    // the plan made for the narrow count must not stay in force.
    let mut control = learning_controller();
    let t0 = Instant::now();
    let at = seconds_after(t0);
    grid_reading(&mut control, t0, 0, [false; 3]);
    learn_l1_and_replan(&mut control, &at);
    grid_reading(&mut control, t0, 40, [false; 3]);
    assert_eq!(control.replan_due(), None, "nothing changed");
    grid_reading(&mut control, t0, 45, [false, false, true]);
    let snap = control.output().snapshot.clone().unwrap();
    assert_eq!(snap.chargers[0].site_phases, [true, false, false]);
    assert_eq!(snap.counted_at(&snap.chargers[0], 0), [true, false, true]);
    assert!(
        control.replan_due().is_some(),
        "the plan still counts A on L1 only at the connection"
    );
}
