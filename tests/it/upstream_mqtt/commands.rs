//! Commands over MQTT: `<prefix>/cmd/<name>` with a `request_id`, answered on
//! `<prefix>/cmd-result/<request_id>` with the HTTP API's answer (or its error and
//! status). Each test checks the effect where it shows: on the simulated charger, in the
//! plan, in the API.

use std::time::{Duration, Instant};

use chargegate::daemon::Limits;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimChargePoint;
use serde_json::{Value, json};

use super::{Upstream, WAIT};
use crate::common::http;
use crate::common::mosquitto::Msg;
use crate::operator_commands::{OPERATOR, post, received};

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Publishes `body` on `cmd/<name>` as is (raw text, for malformed commands).
async fn publish_raw(up: &Upstream, name: &str, body: &str) {
    let topic = format!("{}/cmd/{name}", up.prefix);
    up.watcher.publish(&topic, body.as_bytes().to_vec()).await;
}

/// The answers on `cmd-result/<request_id>` so far.
fn results(up: &Upstream, msgs: &[Msg], request_id: &str) -> Vec<Value> {
    let topic = format!("{}/cmd-result/{request_id}", up.prefix);
    msgs.iter()
        .filter(|m| m.topic == topic)
        .map(Msg::json)
        .collect()
}

/// Waits for the answer to `request_id`.
async fn result(up: &Upstream, request_id: &str) -> Value {
    let msgs = up
        .watcher
        .wait_for(
            &format!("the answer to {request_id}"),
            |m| !results(up, m, request_id).is_empty(),
            WAIT,
        )
        .await;
    results(up, &msgs, request_id).remove(0)
}

/// Sends command `name` with `body` and `request_id`; returns its answer, checked to be
/// for this request and command.
async fn command(up: &Upstream, name: &str, request_id: &str, mut body: Value) -> Value {
    body["request_id"] = request_id.into();
    publish_raw(up, name, &body.to_string()).await;
    let answer = result(up, request_id).await;
    assert_eq!(answer["request_id"], request_id, "{answer}");
    assert_eq!(answer["command"], name, "{answer}");
    answer
}

/// As `command`, asserting `ok` = true; returns `result`.
async fn ok(up: &Upstream, name: &str, request_id: &str, body: Value) -> Value {
    let answer = command(up, name, request_id, body).await;
    assert_eq!(answer["ok"], true, "{name}: {answer}");
    answer["result"].clone()
}

/// What the chargers apply together now, in A per phase.
fn applied_sum(sims: &[&SimChargePoint]) -> f64 {
    let now = chrono::Utc::now();
    sims.iter()
        .map(|s| s.applied_limit(now).unwrap_or(0.0))
        .sum()
}

/// Waits until the chargers apply `done` together; returns how long that took. On
/// failure it shows the site, the plan's state and the newest commands sent.
async fn applied_until(
    up: &Upstream,
    sims: &[&SimChargePoint],
    what: &str,
    done: impl Fn(f64) -> bool,
) -> Duration {
    let started = Instant::now();
    while !done(applied_sum(sims)) {
        if started.elapsed() > WAIT {
            let (_, site) = http(up.addr(), "GET", "/api/v1/site", None, None).await;
            panic!(
                "{what}: the chargers apply {:.1} A together\nsite: {site}\n{}\naudit:\n{}",
                applied_sum(sims),
                crate::common::control_state(&up.daemon),
                crate::common::audit_tail(&up.daemon, 12).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// A vehicle charging on connector 1: status Charging, a session started with `GOOD`.
async fn plug_in(sim: &SimChargePoint) -> String {
    sim.status(1, "Charging").await.expect("status accepted");
    let tx = sim
        .start_transaction(1, "GOOD", 0, chrono::Utc::now())
        .await
        .expect("the transaction starts");
    tx.key
}

/// Grid 400 A, margin 5 A, and no grid meter: the load is unknown (S5), so the planner
/// keeps both chargers on their 6 A failsafe and assumes 100 A of building load.
/// `set-site-limit` 110 A for 15 s leaves 5 A of room: within 5 s of the answer the two
/// apply at most that together, and after `until` they are back at 6 A each.
#[tokio::test]
async fn set_site_limit_lowers_the_chargers_profiles_within_seconds_and_lifts_at_expiry() {
    const LOWERED_A: f64 = 110.0;
    const ROOM_A: f64 = LOWERED_A - 5.0 - 100.0;
    const FAILSAFES_A: f64 = 12.0;
    let up = Upstream::start("cmd-site-limit", Limits::Planned).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    plug_in(&cp16).await;
    plug_in(&cs201).await;
    let sims = [&cp16, &cs201];
    applied_until(&up, &sims, "before the order", |a| a >= FAILSAFES_A - 1e-6).await;

    let until = chrono::Utc::now() + chrono::Duration::seconds(15);
    let body = json!({"limit_a": LOWERED_A, "until": ts(until)});
    let result = ok(&up, "set-site-limit", "limit-1", body).await;
    assert_eq!(result["limit_a"], LOWERED_A, "{result}");
    // The limit ends at the `until` chargegate stored (whole seconds as sent).
    let until: chrono::DateTime<chrono::Utc> = result["until"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("until in {result}"));
    let cut = applied_until(&up, &sims, "the cut", |a| a <= ROOM_A + 1e-6).await;
    assert!(cut <= Duration::from_secs(5), "the cut took {cut:?}");
    let (_, site) = http(up.addr(), "GET", "/api/v1/site", None, None).await;
    assert_eq!(site["temporary_limit"]["limit_a"], LOWERED_A, "{site}");

    // The whole stretch until `until`, not one moment: the cut holds.
    while chrono::Utc::now() < until - chrono::Duration::milliseconds(500) {
        let applied = applied_sum(&sims);
        assert!(
            applied <= ROOM_A + 1e-6,
            "{applied} A applied under the limit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    applied_until(&up, &sims, "after until", |a| a >= FAILSAFES_A - 1e-6).await;
    assert!(
        chrono::Utc::now() >= until,
        "the room came back before the limit ended"
    );
    up.daemon.stop().await;
}

/// `"limit_a": null` removes a temporary limit, as DELETE /api/v1/site/limit does.
#[tokio::test]
async fn set_site_limit_with_null_removes_the_limit() {
    let up = Upstream::start("cmd-site-limit-null", Limits::Manual).await;
    ok(&up, "set-site-limit", "set", json!({"limit_a": 200})).await;
    let (_, site) = http(up.addr(), "GET", "/api/v1/site", None, None).await;
    assert_eq!(site["temporary_limit"]["limit_a"], 200.0, "{site}");
    let result = ok(&up, "set-site-limit", "remove", json!({"limit_a": null})).await;
    assert_eq!(result["removed"], true, "{result}");
    let (_, site) = http(up.addr(), "GET", "/api/v1/site", None, None).await;
    assert_eq!(site["temporary_limit"], Value::Null, "{site}");
    up.daemon.stop().await;
}

/// remote-start reaches either version's charger with the card; the charger starts the
/// session, which shows in the API and as a `started` event.
#[tokio::test]
async fn remote_start_makes_the_charger_start_a_transaction() {
    let up = Upstream::start("cmd-remote-start", Limits::Manual).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    let body = json!({"charger": "CP16-1", "id_token": "GOOD"});
    let result = ok(&up, "remote-start", "start-16", body).await;
    assert_eq!(result["status"], "Accepted", "{result}");
    assert_eq!(
        received(&cp16, "RemoteStartTransaction").await["idTag"],
        "GOOD"
    );
    let body = json!({"charger": "CS201-1", "evse": 1, "id_token": "GOOD"});
    ok(&up, "remote-start", "start-201", body).await;
    let call = received(&cs201, "RequestStartTransaction").await;
    assert_eq!(call["idToken"]["idToken"], "GOOD", "{call}");
    assert_eq!(call["evseId"], 1, "{call}");

    // The charger does what it was asked.
    cp16.start_transaction(1, "GOOD", 0, chrono::Utc::now())
        .await
        .expect("the transaction starts");
    let id = super::newest_transaction(up.addr(), "CP16-1").await;
    let topic = format!("{}/transactions/{id}", up.prefix);
    up.watcher
        .wait_for(
            "the started event",
            |m| {
                m.iter().any(|m| {
                    m.topic == topic
                        && serde_json::from_slice::<Value>(&m.payload)
                            .is_ok_and(|j| j["event"] == "started")
                })
            },
            WAIT,
        )
        .await;
    up.daemon.stop().await;
}

/// remote-stop names the charger's own transaction id; an unknown one gets `ok: false`
/// with the status the API gives the same request (404).
#[tokio::test]
async fn remote_stop_reaches_the_charger_and_an_unknown_transaction_is_refused() {
    let up = Upstream::start("cmd-remote-stop", Limits::Manual).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    let key = plug_in(&cs201).await;
    let body = json!({"charger": "CS201-1", "transaction": key});
    ok(&up, "remote-stop", "stop-1", body).await;
    let call = received(&cs201, "RequestStopTransaction").await;
    assert_eq!(call["transactionId"], key.as_str(), "{call}");

    let unknown = json!({"transaction": "no-such-transaction"});
    let (status, _) = post(up.addr(), "/api/v1/chargers/CS201-1/remote-stop", unknown).await;
    let body = json!({"charger": "CS201-1", "transaction": "no-such-transaction"});
    let answer = command(&up, "remote-stop", "stop-2", body).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["status"], status, "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{answer}"
    );
    up.daemon.stop().await;
}

/// set-availability takes a 1.6 charger out of service and a 2.0.1 EVSE back in.
#[tokio::test]
async fn set_availability_reaches_chargers_of_both_versions() {
    let up = Upstream::start("cmd-availability", Limits::Manual).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    let body = json!({"charger": "CP16-1", "operative": false});
    let result = ok(&up, "set-availability", "avail-16", body).await;
    assert_eq!(result["status"], "Accepted", "{result}");
    let call = received(&cp16, "ChangeAvailability").await;
    assert_eq!(call["type"], "Inoperative", "{call}");
    let body = json!({"charger": "CS201-1", "evse": 1, "operative": true});
    ok(&up, "set-availability", "avail-201", body).await;
    let call = received(&cs201, "ChangeAvailability").await;
    assert_eq!(call["operationalStatus"], "Operative", "{call}");
    assert_eq!(call["evse"]["id"], 1, "{call}");
    up.daemon.stop().await;
}

/// reset: the charger gets the kind asked for, and the answer is the API's for the same
/// request.
#[tokio::test]
async fn reset_reaches_the_charger_and_answers_as_the_api() {
    let up = Upstream::start("cmd-reset", Limits::Manual).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    let result = ok(
        &up,
        "reset",
        "reset-16",
        json!({"charger": "CP16-1", "kind": "hard"}),
    )
    .await;
    assert_eq!(received(&cp16, "Reset").await, json!({"type": "Hard"}));
    let (status, api) = post(
        up.addr(),
        "/api/v1/chargers/CP16-1/reset",
        json!({"kind": "hard"}),
    )
    .await;
    assert_eq!((status, &api), (200, &result), "MQTT and HTTP answer alike");
    ok(
        &up,
        "reset",
        "reset-201",
        json!({"charger": "CS201-1", "kind": "soft"}),
    )
    .await;
    assert_eq!(received(&cs201, "Reset").await["type"], "OnIdle");
    up.daemon.stop().await;
}

/// id-token adds a card and then blocks it (a card of the site file cannot be changed at
/// run time): the API lists it, and a charger's Authorize follows each change.
#[tokio::test]
async fn id_token_adds_and_blocks_a_card() {
    let up = Upstream::start("cmd-id-token", Limits::Manual).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let status_of = |answer: Value| answer["idTagInfo"]["status"].clone();
    let added = json!({"id": "CARD-7", "status": "accepted"});
    ok(&up, "id-token", "add", added).await;
    let answer = cp16.authorize("CARD-7").await.expect("Authorize answered");
    assert_eq!(status_of(answer), "Accepted");
    ok(
        &up,
        "id-token",
        "block",
        json!({"id": "CARD-7", "status": "blocked"}),
    )
    .await;
    let (status, entry) = http(up.addr(), "GET", "/api/v1/id-tokens/CARD-7", None, None).await;
    assert_eq!(
        (status, &entry["status"]),
        (200, &json!("blocked")),
        "{entry}"
    );
    let answer = cp16.authorize("CARD-7").await.expect("Authorize answered");
    assert_eq!(status_of(answer), "Blocked");
    up.daemon.stop().await;
}

/// One charger's need in `/api/v1/plan`, once the plan shows it.
async fn planned_need(up: &Upstream, charger: &str, energy_wh: f64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, plan) = http(up.addr(), "GET", "/api/v1/plan", None, None).await;
        let entry = plan["chargers"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["id"] == charger).cloned());
        if entry.as_ref().is_some_and(|e| e["need_wh"] == energy_wh) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{charger}'s need is not planned:\n{plan:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// set-vehicle-need by card (the only open session with it) and by charger: the plan
/// carries each need.
#[tokio::test]
async fn set_vehicle_need_moves_the_plan() {
    let up = Upstream::start("cmd-need", Limits::Manual).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let departure = ts(chrono::Utc::now() + chrono::Duration::hours(2));
    plug_in(&cs201).await;
    let body = json!({"id_token": "GOOD", "energy_wh": 20_000, "departure": departure});
    ok(&up, "set-vehicle-need", "need-card", body).await;
    planned_need(&up, "CS201-1", 20_000.0).await;
    plug_in(&cp16).await;
    let body = json!({"charger": "CP16-1", "energy_wh": 30_000, "departure": departure});
    ok(&up, "set-vehicle-need", "need-charger", body).await;
    planned_need(&up, "CP16-1", 30_000.0).await;
    up.daemon.stop().await;
}

/// The refused commands: each answer says `ok: false` with an error, where the API has
/// the same request its status too; those without a usable request_id are answered on
/// `cmd-result/invalid`. None of them changes the site limit.
#[tokio::test]
async fn bad_commands_get_errors_and_change_nothing() {
    let up = Upstream::start("cmd-bad", Limits::Manual).await;
    let past = ts(chrono::Utc::now() - chrono::Duration::minutes(1));
    let refused = [
        ("no-such-command", json!({"limit_a": 120})),
        ("set-site-limit", json!({"limit_a": 120, "phase": 1})),
        (
            "set-site-limit",
            json!({"limit_a": 120, "expires_at": past}),
        ),
        ("set-site-limit", json!({"limit_a": 500})),
    ];
    for (n, (name, body)) in refused.iter().enumerate() {
        let answer = command(&up, name, &format!("bad-{n}"), body.clone()).await;
        assert_eq!(answer["ok"], false, "{name} {body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    // The unknown field and the limit over the grid's: the API's 400 for the same body.
    for n in [1, 3] {
        let body = refused[n].1.to_string();
        let (status, _) = http(
            up.addr(),
            "PUT",
            "/api/v1/site/limit",
            Some(OPERATOR),
            Some(&body),
        )
        .await;
        assert_eq!(
            results(&up, &up.watcher.messages(), &format!("bad-{n}"))[0]["status"],
            status
        );
    }
    let long = "x".repeat(65);
    let unusable = [
        r#"{"request_id": "bad-json", "limit_a": "#.to_string(),
        json!({"limit_a": 120}).to_string(),
        json!({"request_id": 42, "limit_a": 120}).to_string(),
        json!({"request_id": "a b", "limit_a": 120}).to_string(),
        json!({"request_id": long, "limit_a": 120}).to_string(),
    ];
    for body in &unusable {
        publish_raw(&up, "set-site-limit", body).await;
    }
    let msgs = up
        .watcher
        .wait_for(
            "an answer on cmd-result/invalid for each",
            |m| results(&up, m, "invalid").len() >= unusable.len(),
            WAIT,
        )
        .await;
    for answer in results(&up, &msgs, "invalid") {
        assert_eq!(answer["ok"], false, "{answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let (_, site) = http(up.addr(), "GET", "/api/v1/site", None, None).await;
    assert_eq!(
        site["temporary_limit"],
        Value::Null,
        "nothing refused is in force: {site}"
    );
    up.daemon.stop().await;
}
