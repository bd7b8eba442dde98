//! The control loop end to end through its channels: charger events and load readings in,
//! plans and guard reductions out, on a paused clock.

use std::time::Duration;

use chargegate::control::{self, ControlOutput};
use chargegate::csms::SiteEvent;
use chargegate::ocpp::model::{ChargerEvent, ConnectorStatus, EvseRef};
use chargegate::planner::PlanKind;
use chargegate::site::feed::LoadReading;
use chargegate::units::{Amps, ChargerId};
use chrono::Utc;
use tokio::sync::{broadcast, watch};

const CONFIG: &str = r#"
[site]
id = "loop"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 20

[planner]
slot-min = 15
horizon-h = 4

[[charger]]
id = "CP-01"
password = "pw-long-enough"
max-current-a = 32
failsafe-current-a = 6
priority = 1

[[charger]]
id = "CP-02"
password = "pw-long-enough"
max-current-a = 32
failsafe-current-a = 6
priority = 5
"#;

fn plugged(id: &str) -> SiteEvent {
    SiteEvent {
        charger: ChargerId::new(id).unwrap(),
        at: Utc::now(),
        event: ChargerEvent::Status {
            evse: EvseRef {
                evse_id: 1,
                connector_id: Some(1),
            },
            status: ConnectorStatus::Occupied,
            error_code: None,
            vendor_error_code: None,
            info: None,
            timestamp: None,
        },
    }
}

fn reading(amps: Option<f64>) -> LoadReading {
    LoadReading {
        circuit: None,
        per_phase: amps.map(|a| [Amps(a); 3]),
        detail: Default::default(),
        at: Utc::now(),
    }
}

fn now_a(out: &ControlOutput, id: &str) -> f64 {
    out.limits_at(Utc::now())
        .into_iter()
        .find(|(c, _)| c.as_str() == id)
        .map_or(-1.0, |(_, a)| a.0)
}

async fn until(
    rx: &mut watch::Receiver<ControlOutput>,
    what: &str,
    f: impl FnMut(&ControlOutput) -> bool,
) -> ControlOutput {
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|_| panic!("control loop ended while waiting for {what}"))
        .clone()
}

#[tokio::test(start_paused = true)]
async fn events_and_readings_drive_plans_and_the_guard() {
    let config = chargegate::config::parse(CONFIG).unwrap_or_else(|p| panic!("{p:#?}"));
    let (events, events_rx) = broadcast::channel(16);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut c = control::spawn(&config, events_rx, shutdown_rx);

    // No reading yet: the load is stale, so the first plan is the failsafe plan (S5).
    let out = until(&mut c.output, "a first plan", |o| o.plan.is_some()).await;
    assert_eq!(out.plan.as_ref().unwrap().kind, PlanKind::Failsafe);

    // A good reading: back to the optimiser.
    c.readings.send(reading(Some(10.0))).await.unwrap();
    let out = until(&mut c.output, "an optimal plan", |o| {
        o.plan.as_ref().is_some_and(|p| p.kind == PlanKind::Optimal)
    })
    .await;
    assert_eq!(now_a(&out, "CP-01"), 0.0, "no vehicle yet");

    // Both vehicles plug in: each gets current (no known need: they take what fits).
    events.send(plugged("CP-01")).unwrap();
    events.send(plugged("CP-02")).unwrap();
    let out = until(&mut c.output, "both charging", |o| {
        now_a(o, "CP-01") > 0.0 && now_a(o, "CP-02") > 0.0
    })
    .await;
    let replans = out.replans;
    assert!(
        now_a(&out, "CP-01") + now_a(&out, "CP-02") <= 85.0 + 1e-6,
        "95 A budget - 10 A load"
    );

    // The office load jumps to 70 A: only 25 A left. The guard cuts the lower priority
    // (CP-01) first, at once, without a replan.
    c.readings.send(reading(Some(70.0))).await.unwrap();
    let out = until(&mut c.output, "guard reductions", |o| {
        !o.reductions.is_empty()
    })
    .await;
    assert_eq!(out.replans, replans, "the guard does not wait for a plan");
    let total = now_a(&out, "CP-01") + now_a(&out, "CP-02");
    assert!(total <= 25.0 + 1e-6, "{total} A committed with a 70 A load");
    assert!(
        out.reductions.iter().any(|r| r.charger.as_str() == "CP-01"),
        "{:?}",
        out.reductions
    );
    for id in ["CP-01", "CP-02"] {
        let a = now_a(&out, id);
        assert!(a == 0.0 || a >= 6.0, "{id} at {a} A (S4)");
    }

    // The load falls back: the cut lifts with the very next reading, before any replan
    // (issue 9: a cut used to hold until the next slot).
    c.readings.send(reading(Some(10.0))).await.unwrap();
    let out = until(&mut c.output, "the cut lifted", |o| o.reductions.is_empty()).await;
    assert_eq!(out.replans, replans, "the guard lifts its cut by itself");
    assert!(now_a(&out, "CP-01") > 0.0 && now_a(&out, "CP-02") > 0.0);
    c.readings.send(reading(Some(70.0))).await.unwrap();
    until(&mut c.output, "the cut again", |o| !o.reductions.is_empty()).await;

    // One slot later the loop replans with the new load; the fresh plan fits by itself.
    tokio::time::advance(Duration::from_secs(15 * 60)).await;
    let out = until(&mut c.output, "a replan", |o| o.replans > replans).await;
    assert!(out.reductions.is_empty(), "{:?}", out.reductions);
    let total = now_a(&out, "CP-01") + now_a(&out, "CP-02");
    assert!(total <= 25.0 + 1e-6, "{total} A planned with a 70 A load");

    // The meter goes stale: failsafe plan at once.
    c.readings.send(reading(None)).await.unwrap();
    let out = until(&mut c.output, "the failsafe plan", |o| {
        o.plan
            .as_ref()
            .is_some_and(|p| p.kind == PlanKind::Failsafe)
    })
    .await;
    assert_eq!(now_a(&out, "CP-01"), 6.0);

    shutdown.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), c.task)
        .await
        .unwrap()
        .unwrap();
}
