//! Dispatch end to end (DESIGN.md S1-S3, S6): wanted limits reach simulated chargers of both
//! versions as leased profiles; at every moment the accounting stays within the row's
//! capacity, reductions are acknowledged before the room they free is given away, a
//! rejecting charger keeps counting at what it may draw, and leases are refreshed.

use std::collections::BTreeMap;
use std::time::Duration;

use chargegate::dispatch::DispatchInput;
use chargegate::dispatch::round::{ChargerLimit, Row};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint};
use chargegate::units::{Amps, ChargerId};
use chrono::Utc;
use tokio::sync::watch;

use crate::common::{Site, schema_check};

fn id(s: &str) -> ChargerId {
    ChargerId::new(s).unwrap()
}

fn input(targets: &[(&str, f64)], capacity: f64) -> DispatchInput {
    DispatchInput {
        targets: targets.iter().map(|(c, a)| (id(c), Amps(*a))).collect(),
        rows: vec![Row {
            name: "site/L1".into(),
            capacity: Amps(capacity),
            increase_capacity: Amps(capacity),
            ramp_open: false,
            chargers: vec![id("CP16-1"), id("CS201-1")],
        }],
        why: "test plan".into(),
        notes: Default::default(),
        samples_wanted: Default::default(),
    }
}

/// Waits until `done` holds for the accounting. From the moment both chargers hold their
/// baseline and the row is within capacity (before that they count at their maximum, as S1 says
/// they must), every snapshot is checked: the committed current never exceeds the row.
async fn settle(
    accounting: &mut watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
    capacity: f64,
    done: impl Fn(&BTreeMap<ChargerId, ChargerLimit>) -> bool,
) -> BTreeMap<ChargerId, ChargerLimit> {
    // An increase into room a cut freed waits `EV_RESPONSE` (5 s) after the cut was
    // acknowledged (the cut vehicle may still draw its old current), and a settle here
    // may need two such steps on a busy machine: the deadline only bounds a failure.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut checking = false;
    loop {
        let snapshot = accounting.borrow_and_update().clone();
        let now = Utc::now();
        let both = ["CP16-1", "CS201-1"];
        let committed: f64 = both.iter().map(|c| snapshot[&id(c)].effective(now).0).sum();
        // At start every charger counts at its maximum (it may hold an old lease); from the
        // first moment the row fits, dispatch must never let it overflow again.
        checking |=
            both.iter().all(|c| snapshot[&id(c)].baseline_acknowledged) && committed <= capacity;
        if checking {
            assert!(
                committed <= capacity + 1e-9,
                "S1 broken: {committed} A committed on a {capacity} A row: {snapshot:#?}"
            );
        }
        if done(&snapshot) {
            assert!(checking, "settled without ever being checked");
            return snapshot;
        }
        tokio::select! {
            _ = accounting.changed() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("dispatch did not settle: {snapshot:#?}"),
        }
    }
}

fn acked(s: &BTreeMap<ChargerId, ChargerLimit>, charger: &str, limit: f64) -> bool {
    s[&id(charger)]
        .acknowledged
        .is_some_and(|(a, _)| a == Amps(limit))
        && s[&id(charger)].pending.is_none()
}

fn leases(sim: &SimChargePoint) -> Vec<serde_json::Value> {
    crate::common::calls_after_baseline(sim)
        .into_iter()
        .filter(|c| c.action == "SetChargingProfile")
        .map(|c| c.payload)
        .collect()
}

#[tokio::test]
async fn limits_move_without_ever_overcommitting_the_row() {
    let site = Site::new("");
    let daemon = site.start().await;
    let v16 = crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let v201 = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let mut accounting = daemon.accounting.clone();

    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 16.0), ("CS201-1", 16.0)], 40.0))
        .unwrap();
    settle(&mut accounting, 40.0, |s| {
        acked(s, "CP16-1", 16.0) && acked(s, "CS201-1", 16.0)
    })
    .await;

    // Swap: CP16-1 down to 6 A, CS201-1 up to 32 A. The 10 A it frees may only be used
    // once CP16-1 acknowledged; every snapshot on the way is checked against the 40 A row.
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 6.0), ("CS201-1", 32.0)], 40.0))
        .unwrap();
    settle(&mut accounting, 40.0, |s| {
        acked(s, "CP16-1", 6.0) && acked(s, "CS201-1", 32.0)
    })
    .await;

    for (sim, dir) in [(&v16, "v16"), (&v201, "v201")] {
        let sent = leases(sim);
        assert!(sent.len() >= 2, "{sent:?}");
        for payload in &sent {
            schema_check::assert_valid(dir, "SetChargingProfile", false, payload);
            let profile = payload
                .get("csChargingProfiles")
                .or(payload.get("chargingProfile"))
                .unwrap();
            assert_eq!(profile["stackLevel"], 1);
            assert!(
                profile.get("validTo").is_some(),
                "a lease ends by itself: {profile}"
            );
        }
    }
    let audit = daemon
        .csms
        .store()
        .call(|c| chargegate::store::audit_log(c, "CS201-1", 20))
        .await
        .unwrap();
    assert!(
        audit.iter().any(
            |a| a.reason.starts_with("test plan: increase") && a.reason.contains("lease 600 s")
        ),
        "{audit:#?}"
    );
    v16.close().await;
    v201.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_rejecting_charger_keeps_counting_at_what_it_may_draw() {
    let site = Site::new("");
    let daemon = site.start().await;
    let v16 = crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let v201 = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let mut accounting = daemon.accounting.clone();
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 20.0), ("CS201-1", 20.0)], 40.0))
        .unwrap();
    settle(&mut accounting, 40.0, |s| {
        acked(s, "CP16-1", 20.0) && acked(s, "CS201-1", 20.0)
    })
    .await;

    // CS201-1 now refuses everything; the plan wants it at 6 A and CP16-1 at 32 A.
    v201.set_reply_policy(ReplyPolicy::Reject);
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 32.0), ("CS201-1", 6.0)], 40.0))
        .unwrap();
    let s = settle(&mut accounting, 40.0, |s| {
        !s[&id("CS201-1")].responsive && s[&id("CS201-1")].pending.is_none()
    })
    .await;
    // Its 20 A lease still runs, so it still counts at 20 A and CP16-1 stays at 20 A.
    assert_eq!(s[&id("CS201-1")].effective(Utc::now()), Amps(20.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = accounting.borrow().clone();
    assert_eq!(s[&id("CP16-1")].effective(Utc::now()), Amps(20.0), "{s:#?}");
    v16.close().await;
    v201.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn leases_are_refreshed_before_they_end() {
    let site = Site::new("");
    let mut config = site.config.clone();
    config.dispatch.lease_s = 2;
    let daemon = chargegate::daemon::start_manual(&config).await.unwrap();
    let v201 = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    // CP16-1 is offline without a baseline, so it counts at its 32 A maximum on the row.
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 16.0)], 80.0))
        .unwrap();
    // Sent once, then again at half the lease, with the same limit. (A failsafe probe may
    // come first if the connection was not yet registered when the first tick ran.)
    let at_16 = |sim: &SimChargePoint| -> usize {
        let limit = "/chargingProfile/chargingSchedule/0/chargingSchedulePeriod/0/limit";
        leases(sim)
            .iter()
            .filter(|p| p.pointer(limit).and_then(|v| v.as_f64()) == Some(16.0))
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while at_16(&v201) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        at_16(&v201) >= 3,
        "refreshed at half of a 2 s lease: {:?}",
        leases(&v201)
    );
    v201.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_stopped_chargegate_leaves_every_charger_on_its_failsafe_within_one_lease() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sims = [
        crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await,
        crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await,
    ];
    let mut accounting = daemon.accounting.clone();
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 16.0), ("CS201-1", 20.0)], 40.0))
        .unwrap();
    settle(&mut accounting, 40.0, |s| {
        acked(s, "CP16-1", 16.0) && acked(s, "CS201-1", 20.0)
    })
    .await;
    let now = Utc::now();
    assert_eq!(sims[0].applied_limit(now), Some(16.0));
    assert_eq!(sims[1].applied_limit(now), Some(20.0));

    daemon.stop().await;
    // Nobody renews the leases: one lease (600 s) later every charger is on its 6 A failsafe.
    let after_lease = now + chrono::Duration::seconds(601);
    for sim in &sims {
        assert_eq!(sim.applied_limit(after_lease), Some(6.0), "{}", sim.id());
    }
}

#[tokio::test]
async fn a_charger_that_ignores_its_profiles_is_caught_and_counted_at_its_maximum() {
    let site = Site::new("");
    let mut config = site.config.clone();
    config.dispatch.verify = true;
    let daemon = chargegate::daemon::start_manual(&config).await.unwrap();
    let honest = crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    // CS201-1 says Accepted to every profile and applies none of them (its baseline too,
    // so it is connected without a working failsafe).
    let mut opts = chargegate::sim::SimOptions::new(
        crate::common::url(&daemon),
        "CS201-1",
        &[OcppVersion::V201],
    );
    opts.password = Some(crate::common::PASSWORD.into());
    opts.ignores_profiles = true;
    let liar = SimChargePoint::connect(opts).await.unwrap();
    let mut accounting = daemon.accounting.clone();
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 20.0), ("CS201-1", 16.0)], 80.0))
        .unwrap();
    let s = settle(&mut accounting, 80.0, |s| {
        s[&id("CS201-1")].distrusted && acked(s, "CP16-1", 20.0)
    })
    .await;
    // The liar counts at its 32 A maximum, which is what it actually lets a vehicle draw.
    assert_eq!(s[&id("CS201-1")].effective(Utc::now()), Amps(32.0));
    assert_eq!(liar.applied_limit(Utc::now()), None);
    // Every check was a schema-valid GetCompositeSchedule.
    let checks: Vec<_> = liar
        .received_calls()
        .into_iter()
        .filter(|c| c.action == "GetCompositeSchedule")
        .collect();
    assert!(!checks.is_empty());
    for c in &checks {
        schema_check::assert_valid("v201", "GetCompositeSchedule", false, &c.payload);
    }
    let events = daemon
        .csms
        .store()
        .call(|c| chargegate::store::charger_events(c, "CS201-1"))
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|(kind, detail)| kind == "Alert" && detail.contains("counted at its maximum")),
        "{events:?}"
    );
    let verified: Vec<_> = honest
        .received_calls()
        .into_iter()
        .filter(|c| c.action == "GetCompositeSchedule")
        .collect();
    assert!(!verified.is_empty(), "the honest charger was verified too");
    honest.close().await;
    liar.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn the_plan_reaches_the_chargers_through_dispatch() {
    // The full daemon: control loop -> plan -> dispatch -> leases. Without a meter the
    // site's load is unknown, so the plan is the failsafe plan (S5): every online charger
    // gets a lease no higher than its failsafe.
    let site = Site::new("");
    let daemon = chargegate::daemon::start(&site.config).await.unwrap();
    let sim = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.boot().await.unwrap();
    sim.start_transaction(1, "GOOD", 0, Utc::now())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while leases(&sim).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no lease from the plan"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lease = &leases(&sim)[0];
    schema_check::assert_valid("v201", "SetChargingProfile", false, lease);
    let limit = lease
        .pointer("/chargingProfile/chargingSchedule/0/chargingSchedulePeriod/0/limit")
        .and_then(|v| v.as_f64())
        .unwrap();
    assert!(
        limit <= 6.0,
        "a stale site gets at most the failsafe: {lease}"
    );
    let audit = daemon
        .csms
        .store()
        .call(|c| chargegate::store::audit_log(c, "CS201-1", 20))
        .await
        .unwrap();
    assert!(
        audit.iter().any(|a| a.reason.starts_with("plan #")),
        "{audit:#?}"
    );
    // When the charger goes away the plan counts it offline (on its failsafe).
    sim.close().await;
    let mut plan = daemon.plan.clone();
    let offline = |o: &chargegate::control::ControlOutput| {
        o.snapshot.as_ref().is_some_and(|s| {
            s.chargers
                .iter()
                .any(|c| c.id.as_str() == "CS201-1" && !c.online)
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !offline(&plan.borrow_and_update()) {
        tokio::select! {
            _ = plan.changed() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("the plan never saw the charger leave"),
        }
    }
    daemon.stop().await;
}

#[tokio::test]
async fn limits_fit_each_charger_profile() {
    let site = Site::new("");
    let mut config = site.config.clone();
    let dirs = chargegate::profiles::charger::default_dirs();
    for c in &mut config.chargers {
        match c.id.as_str() {
            "CS201-1" => {
                c.quirks = chargegate::profiles::charger::load("watts-only", &dirs).unwrap()
            }
            "CP16-1" => {
                c.quirks = chargegate::profiles::charger::load("no-zero-pause", &dirs).unwrap()
            }
            _ => {}
        }
    }
    let daemon = chargegate::daemon::start_manual(&config).await.unwrap();
    let watts = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let no_pause = crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let mut accounting = daemon.accounting.clone();
    // CP16-1 is asked to pause: it cannot, so it gets its 6 A minimum and counts at 6 A.
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 0.0), ("CS201-1", 16.0)], 80.0))
        .unwrap();
    settle(&mut accounting, 80.0, |s| {
        acked(s, "CP16-1", 6.0) && acked(s, "CS201-1", 16.0)
    })
    .await;

    // The W-only charger got W schedules: 16 A x 230 V x 3 phases, and its baseline in W too.
    let baseline = watts
        .profiles()
        .into_iter()
        .find(|p| p["chargingProfile"]["stackLevel"] == 0)
        .unwrap();
    assert_eq!(
        baseline["chargingProfile"]["chargingSchedule"][0]["chargingRateUnit"],
        "W"
    );
    let lease = leases(&watts).pop().unwrap();
    schema_check::assert_valid("v201", "SetChargingProfile", false, &lease);
    let schedule = &lease["chargingProfile"]["chargingSchedule"][0];
    assert_eq!(schedule["chargingRateUnit"], "W");
    assert_eq!(
        schedule["chargingSchedulePeriod"][0]["limit"].as_f64(),
        Some(11040.0)
    );
    assert_eq!(watts.applied_limit(Utc::now()), Some(16.0));

    let lease = leases(&no_pause).pop().unwrap();
    let limit = lease
        .pointer("/csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit")
        .and_then(|v| v.as_f64());
    assert_eq!(limit, Some(6.0), "{lease}");
    watts.close().await;
    no_pause.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn increases_wait_out_the_minimum_interval_but_reductions_do_not() {
    let site = Site::new("");
    let mut config = site.config.clone();
    config.dispatch.min_interval_s = 30;
    let daemon = chargegate::daemon::start_manual(&config).await.unwrap();
    let sim = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let accounting = daemon.accounting.clone();
    let wait = async |done: &dyn Fn(&BTreeMap<ChargerId, ChargerLimit>) -> bool| {
        for _ in 0..100 {
            if done(&accounting.borrow()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dispatch did not get there: {:#?}", accounting.borrow());
    };
    // First limit: the failsafe (the charger's state is only assumed at start).
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 16.0)], 80.0))
        .unwrap();
    wait(&|s| acked(s, "CS201-1", 6.0)).await;
    // The increase to 16 A must wait 30 s: nothing more is sent for now.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(leases(&sim).len(), 1, "{:?}", leases(&sim));
    // A reduction goes out at once.
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 0.0)], 80.0))
        .unwrap();
    wait(&|s| acked(s, "CS201-1", 0.0)).await;
    assert_eq!(leases(&sim).len(), 2);
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_lease_refresh_does_not_hold_back_an_increase() {
    // `min-interval-s` keeps an increase from following a charger's last *change* of limit
    // too soon. A lease refresh resends the same limit; counted as a new limit, it started
    // the interval again, and with leases refreshed every half lease (10 s here) more often
    // than the interval (15 s), an increase waited for ever.
    let mut site = Site::new("");
    site.config.dispatch.lease_s = 20;
    site.config.dispatch.min_interval_s = 15;
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let sim =
        crate::common::connect_virtual(&daemon, clock, "CS201-1", OcppVersion::V201, Vec::new())
            .await;
    let start = clock.instant();
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 6.0)], 80.0))
        .unwrap();
    // A minute at 6 A: the lease is refreshed five or six times.
    tokio::time::sleep_until(start + Duration::from_secs(60)).await;
    assert_eq!(
        sim.applied_limit(clock.now()),
        Some(6.0),
        "{:?}",
        leases(&sim)
    );
    let refreshed = leases(&sim).len();
    assert!(
        refreshed >= 5,
        "refreshed every half lease: {:?}",
        leases(&sim)
    );
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 16.0)], 80.0))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.applied_limit(clock.now()),
        Some(16.0),
        "the last change of limit was a minute ago: {:?}",
        leases(&sim)
    );
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cut_the_chargers_coarser_step_does_not_show_does_not_hold_back_an_increase() {
    // A charger with `step-a = 1` applies 16.4 A and 16.2 A alike, as 16 A: a cut between
    // them is no change of its limit, and must not start `min-interval-s` again (it did:
    // the interval ran from any change of the decided value, and the guard's 0.1 A steps
    // held such a charger's increases back for an interval after each).
    let mut site = Site::new("");
    site.config.dispatch.min_interval_s = 15;
    let dirs = chargegate::profiles::charger::default_dirs();
    for c in &mut site.config.chargers {
        c.quirks = chargegate::profiles::charger::load("no-zero-pause", &dirs).unwrap();
    }
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let sim =
        crate::common::connect_virtual(&daemon, clock, "CS201-1", OcppVersion::V201, Vec::new())
            .await;
    let start = clock.instant();
    let send = |a: f64| {
        daemon
            .dispatch_input
            .send(input(&[("CS201-1", a)], 80.0))
            .unwrap();
    };
    let applies_16 = || {
        assert_eq!(
            sim.applied_limit(clock.now()),
            Some(16.0),
            "{:?}",
            leases(&sim)
        );
    };
    send(16.4);
    // Past the interval after the charger's last change of limit (its first lease).
    tokio::time::sleep_until(start + Duration::from_secs(40)).await;
    applies_16();
    send(16.2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    applies_16();
    send(20.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.applied_limit(clock.now()),
        Some(20.0),
        "the charger's limit last changed 40 s ago: {:?}",
        leases(&sim)
    );
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_charger_back_late_in_its_lease_is_refreshed_before_the_lease_ends() {
    // The depot day found it: the lease check ran only every quarter lease, so a charger
    // that came back after the last check before its lease ended fell to its failsafe for
    // a moment that nobody had made room for. Every applied limit is checked each second.
    let site = Site::new("");
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let connect = |profiles| {
        crate::common::connect_virtual(&daemon, clock, "CS201-1", OcppVersion::V201, profiles)
    };
    let sim = connect(Vec::new()).await;
    let start = clock.instant();
    // The limit goes out a minute in: its 600 s lease ends at 660 s, after the quarter-lease
    // ticks at 150, 300, 450 and 600 s.
    tokio::time::sleep_until(start + Duration::from_secs(60)).await;
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 16.0)], 80.0))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        sim.applied_limit(clock.now()),
        Some(16.0),
        "{:?}",
        leases(&sim)
    );
    // Gone at 100 s, back at 605 s (after the last tick before the lease ends) with the
    // profiles it holds.
    tokio::time::sleep_until(start + Duration::from_secs(100)).await;
    let held = sim.profiles();
    sim.close().await;
    tokio::time::sleep_until(start + Duration::from_secs(605)).await;
    let sim = connect(held).await;
    for s in 606..=900 {
        tokio::time::sleep_until(start + Duration::from_secs(s)).await;
        assert_eq!(
            sim.applied_limit(clock.now()),
            Some(16.0),
            "at {s} s the charger applies another limit: {:?}",
            sim.profiles()
        );
    }
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_increase_is_followed_by_a_triggered_sample_once_the_vehicle_has_ramped() {
    // Until a charger's sample shows its vehicle's ramp, a rise of the grid meter is put
    // down to that ramp (site::load); the sooner the sample, the shorter a coinciding rise
    // of the building load stays hidden (S1). A reduction needs no sample.
    let site = Site::new("");
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let mut sims = Vec::new();
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = crate::common::connect_virtual(&daemon, clock, id, version, Vec::new()).await;
        sim.status(1, "Charging").await.unwrap();
        sim.start_transaction(1, "TAG", 0, clock.now())
            .await
            .unwrap();
        sims.push(sim);
    }
    let start = clock.instant();
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 16.0), ("CS201-1", 16.0)], 80.0))
        .unwrap();
    let (leased, triggered) = lease_and_trigger_times(&sims, start).await;
    for (i, sim) in sims.iter().enumerate() {
        let (Some(leased), Some(triggered)) = (leased[i], triggered[i]) else {
            panic!(
                "{}: leased {:?}, triggered {:?}",
                sim.id(),
                leased[i],
                triggered[i]
            );
        };
        let after = triggered.saturating_sub(leased);
        assert!(
            after >= Duration::from_millis(1900) && after <= Duration::from_secs(3),
            "{}: asked {after:?} after the increase, not once the vehicle had 2 s to ramp",
            sim.id()
        );
        assert_asked_for_a_meter_value_of_evse_1(sim, if i == 0 { "v16" } else { "v201" });
    }
    // A reduction: no sample asked for.
    let before: Vec<usize> = sims
        .iter()
        .map(|sim| calls(sim, "SetChargingProfile"))
        .collect();
    daemon
        .dispatch_input
        .send(input(&[("CP16-1", 10.0), ("CS201-1", 10.0)], 80.0))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    for (sim, before) in sims.iter().zip(before) {
        assert_eq!(calls(sim, "SetChargingProfile"), before + 1, "{}", sim.id());
        assert_eq!(calls(sim, "TriggerMessage"), 1, "{}", sim.id());
    }
    for sim in sims {
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_charger_that_refused_the_sample_trigger_is_asked_again_after_it_reconnects() {
    // A refusal holds while the charger stays connected (asking again is noise); a
    // reconnection may follow a reboot with other firmware, so it clears the refusal.
    let site = Site::new("");
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let id = "CP16-1";
    let offer = |a: f64| daemon.dispatch_input.send(input(&[(id, a)], 80.0)).unwrap();
    let sim = charging_v16(&daemon, clock, id, Vec::new()).await;
    offer(10.0);
    assert!(
        wait_for_calls(&sim, "SetChargingProfile", 1).await,
        "no lease"
    );
    // The increase is accepted; its ramp confirmation, 2 s later, is refused.
    sim.set_reply_policy(ReplyPolicy::Reject);
    assert!(
        wait_for_calls(&sim, "TriggerMessage", 1).await,
        "never asked"
    );
    sim.set_reply_policy(ReplyPolicy::Accept);
    offer(16.0);
    assert!(
        wait_for_calls(&sim, "SetChargingProfile", 2).await,
        "no second lease"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        calls(&sim, "TriggerMessage"),
        1,
        "a charger that refused was asked again on the same connection"
    );
    let held = sim.profiles();
    sim.close().await;
    // It rebooted (a firmware update): the boot ended the transaction, the vehicle starts
    // a new one.
    let sim = charging_v16(&daemon, clock, id, held).await;
    offer(24.0);
    assert!(
        wait_for_calls(&sim, "TriggerMessage", 1).await,
        "not asked for a sample after an increase once it reconnected: {:?}",
        crate::common::calls_after_baseline(&sim)
            .iter()
            .map(|c| &c.action)
            .collect::<Vec<_>>()
    );
    sim.close().await;
    daemon.stop().await;
}

/// A 1.6 charger on the virtual clock, holding `profiles`, with a vehicle charging in a
/// transaction on connector 1.
async fn charging_v16(
    daemon: &chargegate::daemon::Daemon,
    clock: chargegate::clock::Clock,
    id: &str,
    profiles: Vec<serde_json::Value>,
) -> SimChargePoint {
    let sim = crate::common::connect_virtual(daemon, clock, id, OcppVersion::V16, profiles).await;
    sim.status(1, "Charging").await.unwrap();
    sim.start_transaction(1, "TAG", 0, clock.now())
        .await
        .unwrap();
    sim
}

/// Waits (10 s of the paused clock at most) until the charger got `n` CALLs of `action`
/// after its baseline; whether it did.
async fn wait_for_calls(sim: &SimChargePoint, action: &str, n: usize) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if calls(sim, action) >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// How many CALLs of `action` the charger got after its baseline.
fn calls(sim: &SimChargePoint, action: &str) -> usize {
    crate::common::calls_after_baseline(sim)
        .into_iter()
        .filter(|c| c.action == action)
        .count()
}

/// When each charger got its lease and when it was asked for a sample, to 100 ms, over
/// the 10 s after `start`.
async fn lease_and_trigger_times(
    sims: &[SimChargePoint],
    start: tokio::time::Instant,
) -> ([Option<Duration>; 2], [Option<Duration>; 2]) {
    let mut leased = [None; 2];
    let mut triggered = [None; 2];
    while start.elapsed() < Duration::from_secs(10) {
        for (i, sim) in sims.iter().enumerate() {
            if leased[i].is_none() && calls(sim, "SetChargingProfile") > 0 {
                leased[i] = Some(start.elapsed());
            }
            if triggered[i].is_none() && calls(sim, "TriggerMessage") > 0 {
                triggered[i] = Some(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (leased, triggered)
}

/// The charger's TriggerMessage asks for MeterValues of EVSE (1.6: connector) 1.
fn assert_asked_for_a_meter_value_of_evse_1(sim: &SimChargePoint, schema_dir: &str) {
    let trigger = crate::common::calls_after_baseline(sim)
        .into_iter()
        .find(|c| c.action == "TriggerMessage")
        .unwrap();
    schema_check::assert_valid(schema_dir, "TriggerMessage", false, &trigger.payload);
    assert_eq!(trigger.payload["requestedMessage"], "MeterValues");
    let evse = trigger
        .payload
        .get("connectorId")
        .or_else(|| trigger.payload.pointer("/evse/id"));
    assert_eq!(evse, Some(&serde_json::json!(1)), "{}", trigger.payload);
}

#[tokio::test]
async fn a_2_0_1_transaction_id_reaches_the_charger_as_it_named_it() {
    // 2.0.1 transaction ids are the station's strings: "0042" is not the number 42.
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.status(1, "Occupied").await.unwrap();
    let started =
        chargegate::sim::messages::transaction_started_v201("0042", 1, "GOOD", 0, &Utc::now());
    sim.call("TransactionEvent", started).await.unwrap();
    daemon
        .dispatch_input
        .send(input(&[("CS201-1", 16.0)], 80.0))
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let lease = loop {
        if let Some(lease) = leases(&sim).pop() {
            break lease;
        }
        assert!(tokio::time::Instant::now() < deadline, "no lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    schema_check::assert_valid("v201", "SetChargingProfile", false, &lease);
    assert_eq!(
        lease["chargingProfile"]["chargingProfilePurpose"], "TxProfile",
        "{lease}"
    );
    assert_eq!(lease["chargingProfile"]["transactionId"], "0042", "{lease}");
    sim.close().await;
    daemon.stop().await;
}
