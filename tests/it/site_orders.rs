//! The operator's orders to the control loop over the HTTP API (issue 10, DESIGN.md
//! "HTTP"): a temporary lower grid limit (`PUT/DELETE /api/v1/site/limit`, e.g. a
//! distribution operator's curtailment) and a vehicle's need (`PUT
//! /api/v1/chargers/<id>/need`). Real loopback HTTP to the real daemon, simulated
//! chargers of both versions on loopback WebSocket, a simulated SDM630 grid meter on
//! Modbus TCP; the site runs on tokio's paused clock and is checked at every tick.

use std::time::Duration;

use chargegate::clock::Clock;
use chargegate::daemon::{self, Limits};
use chargegate::sim::SimMeterServer;
use chargegate::store::Store;
use serde_json::{Value, json};

use crate::common::http;
use crate::operator_commands::{OPERATOR, VIEWER};
use crate::site_liveness::{
    BUILDING_A, GRID_A, MARGIN_A, REPORT_EVERY, TICK, bay_names, connect_bays, drive, report,
};

/// From the order's answer until the chargers apply the lowered limit: the guard cuts in
/// the same turn of the control loop, dispatch sends the reductions first (S2), the
/// charger applies on receipt.
const CUT_WINDOW: Duration = Duration::from_secs(5);
/// From a change of room until the chargers use it again (`min-interval-s` = 5 plus a
/// meter reading, a ramp confirmation and the replan's gap).
const SETTLE: Duration = Duration::from_secs(60);
const CURTAILED_A: f64 = 60.0;

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The liveness site (`site_liveness::config`: margin 4 A, a grid meter, 32 A chargers)
/// with a grid limit of `grid_a` and the operator's token.
fn site_config(
    dir: &std::path::Path,
    meter: std::net::SocketAddr,
    grid_a: f64,
    names: &[(String, f64)],
) -> chargegate::config::Config {
    let text = crate::site_liveness::config(dir, meter, names);
    let text = text.replace(
        &format!("grid-limit-a = {GRID_A}\n"),
        &format!("grid-limit-a = {grid_a}\n"),
    );
    // S3 at 60 A: two failsafes of 6 A and 30 A of building at worst fit 56 A.
    let mut text = text.replace("worst-case-load-a = 50\n", "worst-case-load-a = 30\n");
    text.push_str(&format!(
        "\n[[http.token]]\nname = \"control-room\"\ntoken-hash = \"{}\"\nrole = \"operator\"\n",
        chargegate::charger::handshake::hash_password(OPERATOR).unwrap()
    ));
    chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// A metered site on the paused clock: the liveness site's chargers with their vehicles,
/// the simulated grid meter, the daemon with planned limits (or manual ones).
struct MeteredSite {
    clock: Clock,
    _dir: tempfile::TempDir,
    server: SimMeterServer,
    daemon: daemon::Daemon,
    bays: Vec<crate::site_liveness::Bay>,
    last_report: tokio::time::Instant,
}

impl MeteredSite {
    async fn start(start: &str, grid_a: f64, vehicles: &[f64], limits: Limits) -> Self {
        let clock = Clock::virtual_from(
            chrono::DateTime::parse_from_rfc3339(start)
                .unwrap()
                .to_utc(),
        );
        let dir = tempfile::tempdir().unwrap();
        let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
            .await
            .unwrap();
        server.meter.set_building([BUILDING_A; 3]);
        let names = bay_names(vehicles);
        let config = site_config(dir.path(), server.meter.addr(), grid_a, &names);
        let store = Store::open(&config.store.path).unwrap();
        let daemon = daemon::start_with_clock(&config, store, limits, clock)
            .await
            .unwrap();
        let bays = connect_bays(&daemon, clock, &names).await;
        Self {
            clock,
            _dir: dir,
            server,
            daemon,
            bays,
            last_report: clock.instant(),
        }
    }

    /// Drives the vehicles for `time` (they follow what their chargers apply; the meter
    /// reads them), checking at every tick after `grace` that the chargers together apply
    /// at most `cap` A (S1 for this site: every charger is on all three phases). Returns
    /// the least they applied together after `SETTLE`.
    async fn hold(&mut self, time: Duration, cap: f64, grace: Duration, what: &str) -> f64 {
        let started = self.clock.instant();
        let mut least = f64::INFINITY;
        while self.clock.instant() - started < time {
            let total: f64 = drive(&mut self.bays, &self.server.meter, self.clock)
                .iter()
                .sum();
            let since = self.clock.instant() - started;
            assert!(
                total <= cap + 1e-6 || since < grace,
                "{what}, {since:?} in: {total:.1} A applied of {cap} A (S1)\naudit:\n{}",
                crate::common::audit_tail(&self.daemon, 12).await
            );
            if since >= SETTLE {
                least = least.min(total);
            }
            if self.clock.instant() - self.last_report >= REPORT_EVERY {
                self.last_report = self.clock.instant();
                report(&mut self.bays, self.clock).await;
            }
            tokio::time::sleep(TICK).await;
        }
        least
    }

    async fn stop(self) {
        for bay in self.bays {
            bay.sim.close().await;
        }
        self.daemon.stop().await;
        self.server.stop();
    }
}

/// Grid 100 A, margin 4 A, 20 A of building load, four chargers (1.6 and 2.0.1 in turn)
/// each with a 32 A vehicle: 76 A of room. The operator lowers the grid limit to 60 A
/// for ten minutes: within `CUT_WINDOW` the chargers together stay within 36 A at every
/// tick, and after `SETTLE` they use at least 95 % of it; when the limit ends by itself
/// they are back at 95 % of the 76 A within `SETTLE`, and `/api/v1/site` says so.
#[tokio::test(start_paused = true)]
async fn a_temporary_grid_limit_holds_at_every_tick_and_the_room_returns_when_it_ends() {
    let mut site =
        MeteredSite::start("2026-12-01T10:07:00Z", GRID_A, &[32.0; 4], Limits::Planned).await;
    let addr = site.daemon.http_addr;
    let full = GRID_A - MARGIN_A - BUILDING_A;
    let curtailed = CURTAILED_A - MARGIN_A - BUILDING_A;
    let least = site
        .hold(Duration::from_secs(180), full, CUT_WINDOW, "before")
        .await;
    assert!(least >= 0.95 * full, "before: {least:.1} A of {full} A");

    let until = site.clock.now() + chrono::Duration::minutes(10);
    let body = json!({"limit_a": CURTAILED_A, "until": ts(until)}).to_string();
    let (status, answer) = http(
        addr,
        "PUT",
        "/api/v1/site/limit",
        Some(OPERATOR),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["limit_a"], CURTAILED_A);
    assert_eq!(answer["grid_limit_a"], GRID_A);
    let (_, shown) = http(addr, "GET", "/api/v1/site", None, None).await;
    assert_eq!(shown["temporary_limit"]["limit_a"], CURTAILED_A, "{shown}");
    assert_eq!(shown["circuits"][0]["limit_a"], CURTAILED_A, "{shown}");
    let left = (until - site.clock.now()).to_std().unwrap();
    let least = site.hold(left, curtailed, CUT_WINDOW, "curtailed").await;
    assert!(
        least >= 0.95 * curtailed,
        "curtailed: {least:.1} A of {curtailed} A"
    );

    // The limit ended by itself: the room comes back, and no tick goes over the full one.
    let least = site
        .hold(Duration::from_secs(240), full, Duration::ZERO, "after")
        .await;
    assert!(least >= 0.95 * full, "after: {least:.1} A of {full} A");
    let (_, shown) = http(addr, "GET", "/api/v1/site", None, None).await;
    assert_eq!(shown["temporary_limit"], Value::Null, "{shown}");
    assert_eq!(shown["circuits"][0]["limit_a"], GRID_A, "{shown}");
    site.stop().await;
}

/// Asks `target` every `step` until `done` holds for its 200 answer (the control loop
/// publishes after its turn); returns that answer.
async fn poll(
    addr: std::net::SocketAddr,
    target: &str,
    step: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, answer) = http(addr, "GET", target, None, None).await;
        assert_eq!(status, 200, "{answer}");
        if done(&answer) {
            return answer;
        }
        last = answer;
        tokio::time::sleep(step).await;
    }
    panic!("{target} never showed what was expected; last:\n{last:#}");
}

async fn site_until(addr: std::net::SocketAddr, done: impl Fn(&Value) -> bool) -> Value {
    poll(addr, "/api/v1/site", Duration::from_millis(50), done).await
}

/// A temporary limit is stored before it is in force, so a restart during a curtailment
/// keeps it; DELETE lifts it, and says whether there was one.
#[tokio::test]
async fn a_temporary_limit_survives_a_restart_until_it_is_deleted() {
    let site = crate::operator_commands::site(false);
    let daemon = site.start().await;
    let until = chrono::Utc::now() + chrono::Duration::hours(1);
    let body = json!({"limit_a": 150, "until": ts(until)}).to_string();
    let until_s = chrono::DateTime::parse_from_rfc3339(&ts(until))
        .unwrap()
        .to_utc();
    let (status, answer) = http(
        daemon.http_addr,
        "PUT",
        "/api/v1/site/limit",
        Some(OPERATOR),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["until"],
        until_s.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    site_until(daemon.http_addr, |s| s["circuits"][0]["limit_a"] == 150.0).await;
    daemon.stop().await;

    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let site_now = site_until(addr, |s| s["temporary_limit"]["limit_a"] == 150.0).await;
    assert_eq!(site_now["circuits"][0]["limit_a"], 150.0);
    assert_eq!(
        site_now["grid_limit_a"], 400.0,
        "the configured limit is still shown"
    );
    let (status, answer) = http(addr, "DELETE", "/api/v1/site/limit", Some(OPERATOR), None).await;
    assert_eq!(
        (status, &answer["removed"]),
        (200, &json!(true)),
        "{answer}"
    );
    site_until(addr, |s| {
        s["temporary_limit"].is_null() && s["circuits"][0]["limit_a"] == 400.0
    })
    .await;
    let (status, answer) = http(addr, "DELETE", "/api/v1/site/limit", Some(OPERATOR), None).await;
    assert_eq!(
        (status, &answer["removed"]),
        (200, &json!(false)),
        "{answer}"
    );
    daemon.stop().await;

    let daemon = site.start().await;
    site_until(daemon.http_addr, |s| s["circuits"][0]["limit_a"] == 400.0).await;
    let (_, s) = http(daemon.http_addr, "GET", "/api/v1/site", None, None).await;
    assert_eq!(
        s["temporary_limit"],
        Value::Null,
        "deleted stays deleted: {s}"
    );
    daemon.stop().await;
}

/// Sends each `(body, status, words)` to `target` with the operator's token: the answer
/// has that status and its error names `words` (the field).
async fn assert_refused(addr: std::net::SocketAddr, target: &str, cases: &[(String, u16, &str)]) {
    for (body, want, words) in cases {
        let (status, answer) = http(addr, "PUT", target, Some(OPERATOR), Some(body)).await;
        assert_eq!(status, *want, "PUT {target} {body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(words),
            "{body}: {message:?} should name {words:?}"
        );
    }
}

/// A bad temporary limit gets a 400 that names the field, a missing token 401, a viewer
/// 403; none of them is in force afterwards.
#[tokio::test]
async fn bad_site_limits_are_refused_with_the_field_named() {
    let site = crate::operator_commands::site(false);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let past = ts(chrono::Utc::now() - chrono::Duration::minutes(1));
    let body = |v: Value| v.to_string();
    let cases = [
        (body(json!({"limit_a": 500})), 400, "limit_a"),
        (body(json!({"limit_a": 0})), 400, "limit_a"),
        (body(json!({"limit_a": "120"})), 400, "limit_a"),
        (body(json!({"limit_a": 120, "until": past})), 400, "until"),
        (
            body(json!({"limit_a": 120, "until": "tomorrow"})),
            400,
            "until",
        ),
        (body(json!({"limit_a": 120, "phase": 1})), 400, "phase"),
        ("{\"limit_a\": 1".to_string(), 400, ""),
    ];
    assert_refused(addr, "/api/v1/site/limit", &cases).await;
    let good = json!({"limit_a": 120}).to_string();
    let (status, _) = http(addr, "PUT", "/api/v1/site/limit", None, Some(&good)).await;
    assert_eq!(status, 401);
    let (status, _) = http(addr, "PUT", "/api/v1/site/limit", Some(VIEWER), Some(&good)).await;
    assert_eq!(status, 403);
    let (status, _) = http(addr, "DELETE", "/api/v1/site/limit", Some(VIEWER), None).await;
    assert_eq!(status, 403);
    let (_, s) = http(addr, "GET", "/api/v1/site", None, None).await;
    assert_eq!(
        s["temporary_limit"],
        Value::Null,
        "nothing refused is in force: {s}"
    );
    daemon.stop().await;
}

/// A bad need gets a 400 that names the field; an unknown charger 404; a charger with no
/// vehicle 409 (a need belongs to a vehicle); a viewer 403.
#[tokio::test]
async fn bad_needs_are_refused_with_the_field_named() {
    let site = crate::operator_commands::site(false);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let past = ts(chrono::Utc::now() - chrono::Duration::minutes(1));
    let soon = ts(chrono::Utc::now() + chrono::Duration::hours(2));
    let late = ts(chrono::Utc::now() + chrono::Duration::days(8));
    let body = |v: Value| v.to_string();
    let cases = [
        (
            body(json!({"energy_wh": 0, "departure": soon})),
            400,
            "energy_wh",
        ),
        (
            body(json!({"energy_wh": 3.0e6, "departure": soon})),
            400,
            "energy_wh",
        ),
        (
            body(json!({"energy_wh": 20000, "departure": past})),
            400,
            "departure",
        ),
        (
            body(json!({"energy_wh": 20000, "departure": late})),
            400,
            "departure",
        ),
        (body(json!({"energy_wh": 20000})), 400, "departure"),
        (
            body(json!({"energy_wh": 20000, "departure": soon})),
            409,
            "no vehicle",
        ),
    ];
    assert_refused(addr, "/api/v1/chargers/CP16-1/need", &cases).await;
    let good = json!({"energy_wh": 20000, "departure": soon}).to_string();
    assert_refused(
        addr,
        "/api/v1/chargers/CP-NOPE/need",
        &[(good.clone(), 404, "CP-NOPE")],
    )
    .await;
    let target = "/api/v1/chargers/CP16-1/need";
    let (status, _) = http(addr, "PUT", target, Some(VIEWER), Some(&good)).await;
    assert_eq!(status, 403);
    daemon.stop().await;
}

/// One charger's entry in `/api/v1/plan`.
fn planned<'a>(plan: &'a Value, id: &str) -> Option<&'a Value> {
    plan["chargers"].as_array()?.iter().find(|c| c["id"] == id)
}

/// The current the plan gives a charger in the slot in force.
fn current_of(plan: &Value, id: &str) -> Option<f64> {
    let slot = plan["current_slot"].as_u64()? as usize;
    planned(plan, id)?["current_a"][slot].as_f64()
}

/// Polls `/api/v1/plan` once a (virtual) second until `done` holds.
async fn plan_until(addr: std::net::SocketAddr, done: impl Fn(&Value) -> bool) -> Value {
    poll(addr, "/api/v1/plan", Duration::from_secs(1), done).await
}

/// Two vehicles share 36 A (grid 60 A, margin 4 A, 20 A of building load on the grid
/// meter). Without a need they share it; the operator says one needs 30 kWh within two
/// hours (21.7 A on average, on three phases at 230 V): the plan delivers that by the
/// departure, with no shortfall, and `/api/v1/chargers/<id>` shows the need.
#[tokio::test(start_paused = true)]
async fn a_need_set_by_the_operator_moves_the_plan_for_that_vehicle() {
    let site = MeteredSite::start("2026-12-01T09:00:00Z", 60.0, &[32.0; 2], Limits::Manual).await;
    let (addr, clock) = (site.daemon.http_addr, site.clock);
    let (shared_id, needy) = (site.bays[0].name.clone(), site.bays[1].name.clone());
    let departure = clock.now() + chrono::Duration::hours(2);
    // What the plan gives `needy` before `departure`, in Wh (15-minute slots, 3 x 230 V).
    let planned_wh = |plan: &Value| -> f64 {
        let start = chrono::DateTime::parse_from_rfc3339(plan["start"].as_str().unwrap())
            .unwrap()
            .to_utc();
        let end = ((departure - start).num_minutes() / 15) as usize;
        let row = &planned(plan, &needy).unwrap()["current_a"];
        (0..end)
            .map(|t| row[t].as_f64().unwrap() * 0.25 * 3.0 * 230.0)
            .sum()
    };
    let before = plan_until(addr, |p| {
        p["status"] == "optimal"
            && current_of(p, &shared_id).is_some_and(|a| a > 0.0)
            && current_of(p, &needy).is_some_and(|a| a > 0.0)
    })
    .await;
    assert!(
        planned_wh(&before) < 30_000.0,
        "without a need {needy} already gets {} Wh in 2 h: the test would prove nothing",
        planned_wh(&before)
    );
    let body = json!({"energy_wh": 30_000, "departure": ts(departure)}).to_string();
    let (status, answer) = http(
        addr,
        "PUT",
        &format!("/api/v1/chargers/{needy}/need"),
        Some(OPERATOR),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["energy_wh"], 30_000.0);
    let after = plan_until(addr, |p| {
        planned(p, &needy).is_some_and(|c| c["need_wh"] == 30_000.0)
    })
    .await;
    assert_eq!(after["status"], "optimal", "{after:#}");
    assert!(
        planned_wh(&after) >= 30_000.0 - 1.0,
        "{needy} needs 30 kWh in 2 h and is planned {} Wh:\n{after:#}",
        planned_wh(&after)
    );
    let shortfall = planned(&after, &needy).unwrap()["shortfall_wh"]
        .as_f64()
        .unwrap();
    assert!(shortfall < 1.0, "shortfall {shortfall} Wh:\n{after:#}");
    let (_, charger) = http(
        addr,
        "GET",
        &format!("/api/v1/chargers/{needy}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        charger["vehicle"]["need"]["energy_wh"], 30_000.0,
        "{charger}"
    );
    site.stop().await;
}
