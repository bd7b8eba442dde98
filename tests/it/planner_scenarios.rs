//! Scenario tests with known answers, through the config, the site state and its events as
//! the daemon would build them, and a comparison against the naive strategies.

use chargegate::ocpp::model::{ChargerEvent, ConnectorStatus, EvseRef};
use chargegate::planner::{self, PlanKind, Policy, fallback};
use chargegate::site::{Need, SiteSnapshot, SiteState, Vehicle};
use chargegate::units::{Amps, WattHours};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// kW per A on a three-phase 230 V charger.
const KW_PER_A: f64 = 3.0 * 230.0 / 1000.0;

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap()
}

/// A depot of `buses` three-phase 32 A chargers behind `grid` A, each with a departure at
/// 05:00 needing `kwh`; all plugged in at 18:00, the office load at `office` A.
fn depot(buses: usize, grid: f64, office: f64, kwh: f64) -> (SiteSnapshot, Policy) {
    let mut text = format!(
        "[site]\nid = \"depot\"\ngrid-limit-a = {grid}\nmargin-a = 5\nworst-case-load-a = {office}\n[planner]\nslot-min = 15\nhorizon-h = 24\ntime-budget-ms = 60000\n"
    );
    for i in 0..buses {
        text += &format!(
            "[[charger]]\nid = \"BUS-{i:02}\"\npassword = \"pw-long-enough\"\nmax-current-a = 32\nfailsafe-current-a = 0\n[[departure]]\ncharger = \"BUS-{i:02}\"\nat = \"05:00\"\nenergy-kwh = {kwh}\n"
        );
    }
    let config = chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    let mut state = SiteState::from_config(&config);
    state.apply_load(None, Some([Amps(office); 3]));
    for c in &config.chargers {
        let plugged = ChargerEvent::Status {
            evse: EvseRef {
                evse_id: 1,
                connector_id: Some(1),
            },
            status: ConnectorStatus::Occupied,
            error_code: None,
            vendor_error_code: None,
            info: None,
            timestamp: None,
        };
        assert!(state.apply_event(&c.id, at(18), &plugged));
    }
    (state.snapshot(at(18)), Policy::from_config(&config))
}

#[test]
fn forty_buses_are_full_by_five_at_the_lowest_peak() {
    // 400 A grid, 5 A margin, 50 A office: 345 A for chargers, 11 h until 05:00.
    // 40 x 60 kWh = 2400 kWh = 3478 A h over 11 h: 316.2 A on average, which is the lowest
    // possible peak for the chargers (7.9 A each, above the 6 A minimum).
    let (snap, policy) = depot(40, 400.0, 50.0, 60.0);
    let plan = planner::plan(&snap, &policy, at(18));
    assert_eq!(plan.kind, PlanKind::Optimal);
    for c in &plan.chargers {
        assert!(
            c.shortfall.0 < 10.0,
            "{} short by {} Wh",
            c.id,
            c.shortfall.0
        );
        assert!(
            (c.delivered.0 - 60_000.0).abs() < 100.0,
            "{}: {} Wh",
            c.id,
            c.delivered.0
        );
    }
    let lowest = 50.0 + 40.0 * 60.0 / KW_PER_A / 11.0;
    assert!(
        plan.peak.0 <= lowest + 0.5,
        "peak {} A, lowest possible {lowest:.1} A",
        plan.peak
    );
    assert!(
        plan.peak.0 >= lowest - 0.5,
        "peak {} A below the physical minimum {lowest:.1}",
        plan.peak
    );
    // Nothing after departure.
    let after = plan.slot_at(at(5) + Duration::days(1)).unwrap();
    assert!(
        plan.chargers
            .iter()
            .all(|c| c.current[after..].iter().all(|a| a.0 == 0.0))
    );
}

#[test]
fn when_energy_runs_short_equals_share_the_shortfall() {
    // 40 x 80 kWh = 3200 kWh, but 345 A x 11 h x 0.69 kW/A = 2618.6 kWh fit: 581.4 kWh short,
    // the same for every bus.
    let (snap, policy) = depot(40, 400.0, 50.0, 80.0);
    let plan = planner::plan(&snap, &policy, at(18));
    let total = plan.total_shortfall().0 / 1000.0;
    let want = 3200.0 - 345.0 * 11.0 * KW_PER_A;
    assert!(
        (total - want).abs() < 1.0,
        "total shortfall {total:.1} kWh, want {want:.1}"
    );
    let each: Vec<f64> = plan
        .chargers
        .iter()
        .map(|c| c.shortfall.0 / 1000.0)
        .collect();
    let (lo, hi) = each
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    assert!(hi - lo < 0.5, "shortfalls range {lo:.2}..{hi:.2} kWh");
}

#[test]
fn the_plan_beats_equal_share_and_first_come_first_served() {
    // 20 chargers behind 200 A (165 A for chargers after margin and a 30 A load).
    // Ten vehicles leave in 3 h needing 30 kWh (14.5 A each, 145 A together); ten arrived
    // earlier, leave in 12 h and need 50 kWh. The plan serves the early leavers first and
    // spreads the rest; equal share starves the early leavers, FCFS serves the wrong ones.
    let (mut snap, policy) = depot(20, 200.0, 30.0, 0.0);
    for (i, c) in snap.chargers.iter_mut().enumerate() {
        let early = i < 10;
        c.vehicle = Some(Vehicle {
            measured_max: None,
            learning: None,
            idle_since: None,
            since: at(18) - Duration::hours(if early { 1 } else { 5 }),
            max_current: None,
            min_current: None,
            need: Some(Need {
                energy: WattHours(if early { 30_000.0 } else { 50_000.0 }),
                departure: at(18) + Duration::hours(if early { 3 } else { 12 }),
            }),
            id_token: None,
            drawing_phases: None,
        });
    }
    let plan = planner::plan(&snap, &policy, at(18));
    let inputs = planner::inputs(&snap, &policy, at(18));
    let equal = planner::finish(
        &inputs,
        at(18),
        PlanKind::Optimal,
        fallback::equal_share_currents(&inputs),
    );
    let fcfs = planner::finish(
        &inputs,
        at(18),
        PlanKind::Optimal,
        fallback::first_come(&inputs),
    );
    let kwh = |p: &planner::Plan| p.total_shortfall().0 / 1000.0;
    assert!(kwh(&plan) < 0.01, "plan short by {} kWh", kwh(&plan));
    for (name, other) in [("equal share", &equal), ("first come", &fcfs)] {
        assert!(
            kwh(other) > kwh(&plan) + 50.0,
            "{name}: {} kWh short vs the plan's {}",
            kwh(other),
            kwh(&plan)
        );
        assert!(
            other.peak.0 > plan.peak.0 + 10.0,
            "{name}: peak {} vs the plan's {}",
            other.peak,
            plan.peak
        );
        assert!(
            planner::overload(&inputs, &as_rows(&inputs, other)) <= 1e-6,
            "{name} is safe too"
        );
    }
    // The lowest possible peak: 30 A load + 145 A for the early leavers.
    assert!((plan.peak.0 - 175.0).abs() < 1.0, "plan peak {}", plan.peak);
}

fn as_rows(inputs: &planner::Inputs<'_>, plan: &planner::Plan) -> Vec<Vec<f64>> {
    inputs
        .demands
        .iter()
        .map(|d| {
            plan.chargers[d.charger]
                .current
                .iter()
                .map(|a| a.0)
                .collect()
        })
        .collect()
}
