//! Reservations over the HTTP API (issue 10): real loopback HTTP to the real daemon,
//! simulated chargers of both versions on loopback WebSocket. ReserveNow and
//! CancelReservation arrive schema-valid, the charger's answer is stored, chargegate
//! itself keeps other cards off a reserved EVSE until the reservation is used, expires,
//! is cancelled or the station ends it (2.0.1 ReservationStatusUpdate), and all of it
//! outlives a restart. Part 6 of OCPP 2.0.1 leaves block H's CSMS test cases blank
//! (§3.9 "intentionally blank"), so the tests carry the Part 2 use case ids (H01-H04).

use std::net::SocketAddr;
use std::time::Duration;

use chargegate::config::{ApiRole, ApiToken};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint};
use chrono::Utc;
use serde_json::{Value, json};

use crate::common::{Site, connect_booted, schema_check};

const OPERATOR: &str = "op-5d1c7e9a3b2f4e60";
const VIEWER: &str = "view-8a2c4e6f1b3d5079";
const WAIT: Duration = Duration::from_secs(5);

/// The test site with an operator's and a viewer's token and a second card, `OTHER`.
fn site() -> Site {
    let mut site = Site::new("");
    with_tokens(&mut site.config);
    site
}

fn with_tokens(config: &mut chargegate::config::Config) {
    let token = |name: &str, value: &str, role| ApiToken {
        name: name.into(),
        token_hash: chargegate::charger::handshake::hash_password(value).unwrap(),
        role,
    };
    config.http.tokens = vec![
        token("control-room", OPERATOR, ApiRole::Operator),
        token("wall-screen", VIEWER, ApiRole::Viewer),
    ];
    let mut other = config.id_tokens[0].clone();
    other.id = "OTHER".into();
    config.id_tokens.push(other);
}

/// One HTTP/1.1 request; the status and the body as JSON.
async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    crate::common::http(addr, method, target, token, body).await
}

async fn reserve(addr: SocketAddr, body: Value) -> (u16, Value) {
    request(
        addr,
        "POST",
        "/api/v1/reservations",
        Some(OPERATOR),
        Some(&body.to_string()),
    )
    .await
}

fn in_an_hour() -> String {
    chargegate::ocpp::time::format(&(Utc::now() + chrono::Duration::hours(1)))
}

fn dir(version: OcppVersion) -> &'static str {
    match version {
        OcppVersion::V16 => "v16",
        OcppVersion::V201 => "v201",
    }
}

/// The next CALL of `action` the charger got, checked against the official schema.
async fn received(sim: &SimChargePoint, action: &str) -> Value {
    let call = sim
        .wait_for_call(action, WAIT)
        .await
        .unwrap_or_else(|| panic!("{} got no {action}", sim.id()));
    schema_check::assert_valid(dir(sim.version()), action, false, &call.payload);
    call.payload
}

/// The verdict on `card` in an Authorize, its response checked against the schema.
async fn authorize(sim: &SimChargePoint, card: &str) -> String {
    let response = sim.authorize(card).await.expect("Authorize answered");
    schema_check::assert_valid(dir(sim.version()), "Authorize", true, &response);
    let info = match sim.version() {
        OcppVersion::V16 => &response["idTagInfo"],
        OcppVersion::V201 => &response["idTokenInfo"],
    };
    info["status"].as_str().unwrap().to_string()
}

/// A reservation as the API lists it.
async fn listed(addr: SocketAddr, id: &Value) -> Value {
    let (status, body) = request(addr, "GET", "/api/v1/reservations", None, None).await;
    assert_eq!(status, 200, "{body}");
    body["reservations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == *id)
        .cloned()
        .unwrap_or_else(|| panic!("reservation {id} not in {body}"))
}

#[tokio::test]
async fn h01_reserve_now_accepted_and_rejected_in_both_versions() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = connect_booted(&daemon, id, version).await;
        let expires = in_an_hour();
        let (status, made) = reserve(
            addr,
            json!({"charger": id, "evse": 1, "id_token": "GOOD", "group": null, "expires": expires}),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["state"], "accepted", "{made}");
        assert_eq!(made["charger_status"], "Accepted");
        let sent = received(&sim, "ReserveNow").await;
        match version {
            OcppVersion::V16 => {
                assert_eq!(sent["reservationId"], made["id"]);
                assert_eq!(
                    (&sent["connectorId"], &sent["idTag"]),
                    (&json!(1), &json!("GOOD"))
                );
            }
            OcppVersion::V201 => {
                assert_eq!(sent["id"], made["id"]);
                assert_eq!(sent["evseId"], 1);
                assert_eq!(sent["idToken"]["idToken"], "GOOD");
            }
        }
        // A group reservation for any EVSE, which the charger refuses.
        sim.set_reply_policy(ReplyPolicy::Reject);
        let (status, refused) = reserve(
            addr,
            json!({"charger": id, "group": "FLEET", "expires": expires}),
        )
        .await;
        assert_eq!(status, 201, "{refused}");
        assert_eq!(refused["state"], "rejected", "{refused}");
        assert_eq!(refused["charger_status"], "Rejected");
        assert!(
            refused["id"].as_i64() > made["id"].as_i64(),
            "ids are never reused"
        );
        let sent = received(&sim, "ReserveNow").await;
        match version {
            OcppVersion::V16 => {
                assert_eq!(
                    (&sent["connectorId"], &sent["parentIdTag"]),
                    (&json!(0), &json!("FLEET"))
                );
            }
            OcppVersion::V201 => {
                assert_eq!(
                    sent["groupIdToken"],
                    json!({"idToken": "FLEET", "type": "Central"})
                );
                assert!(sent.get("evseId").is_none(), "{sent}");
            }
        }
        assert_eq!(listed(addr, &made["id"]).await["state"], "accepted");
        assert_eq!(listed(addr, &refused["id"]).await["state"], "rejected");
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test]
async fn bad_reservations_get_their_own_answer_and_reach_no_charger() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let sim = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let expires = in_an_hour();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"charger": "CP16-1", "id_token": "GOOD"}),
            400,
            "expires",
        ),
        (
            json!({"charger": "CP16-1", "id_token": "GOOD", "expires": "soon"}),
            400,
            "expires",
        ),
        (
            json!({"charger": "CP16-1", "id_token": "GOOD", "expires": expires, "car": 1}),
            400,
            "car",
        ),
        (
            json!({"charger": "CP16-1", "evse": 0, "id_token": "GOOD", "expires": expires}),
            400,
            "evse",
        ),
        (
            json!({"charger": "CP16-1", "expires": expires}),
            400,
            "id_token",
        ),
        (
            json!({"charger": "CP16-1", "id_token": "G".repeat(21), "expires": expires}),
            400,
            "id_token",
        ),
        (
            json!({"charger": "CP16-1", "id_token": "GOOD", "expires": "2020-01-01T00:00:00Z"}),
            400,
            "expires",
        ),
        (
            json!({"charger": "NOPE-9", "id_token": "GOOD", "expires": expires}),
            404,
            "NOPE-9",
        ),
        (
            json!({"charger": "CP16-2", "id_token": "GOOD", "expires": expires}),
            409,
            "offline",
        ),
    ];
    for (body, want, names) in cases {
        let (status, answer) = reserve(addr, body.clone()).await;
        assert_eq!(status, want, "{body}: {answer}");
        let text = answer["error"].as_str().unwrap_or_default();
        assert!(text.contains(names), "{body}: {answer}");
    }
    no_reservation_reached(addr, &sim).await;
    daemon.stop().await;
}

/// The rest of the bad requests: malformed JSON, no or a viewer's token, bad ids.
#[tokio::test]
async fn malformed_unauthorised_and_unknown_requests_are_refused() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let sim = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let good = json!({"charger": "CP16-1", "evse": 1, "id_token": "GOOD", "expires": in_an_hour()});
    let path = "/api/v1/reservations";
    let (status, answer) = request(addr, "POST", path, Some(OPERATOR), Some("{\"charger\":")).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = request(addr, "POST", path, None, Some(&good.to_string())).await;
    assert_eq!(status, 401);
    let (status, answer) = request(addr, "POST", path, Some(VIEWER), Some(&good.to_string())).await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = request(
        addr,
        "DELETE",
        "/api/v1/reservations/abc",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = request(
        addr,
        "DELETE",
        "/api/v1/reservations/999",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = request(addr, "DELETE", "/api/v1/reservations/1", None, None).await;
    assert_eq!(status, 401);
    let (status, answer) = request(addr, "GET", "/api/v1/reservations?limit=0", None, None).await;
    assert_eq!(status, 400, "{answer}");
    no_reservation_reached(addr, &sim).await;
    daemon.stop().await;
}

/// Nothing reached the charger and nothing was stored.
async fn no_reservation_reached(addr: SocketAddr, sim: &SimChargePoint) {
    assert!(
        sim.wait_for_call("ReserveNow", Duration::from_millis(300))
            .await
            .is_none(),
        "nothing reached the charger"
    );
    let (_, list) = request(addr, "GET", "/api/v1/reservations", Some(VIEWER), None).await;
    assert_eq!(list, json!({"reservations": []}), "nothing was stored");
}

#[tokio::test]
async fn h02_cancel_reservation_in_both_versions() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = connect_booted(&daemon, id, version).await;
        let (status, made) = reserve(
            addr,
            json!({"charger": id, "evse": 1, "id_token": "GOOD", "expires": in_an_hour()}),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(authorize(&sim, "OTHER").await, "Invalid", "held for GOOD");
        let path = format!("/api/v1/reservations/{}", made["id"]);
        let (status, cancelled) = request(addr, "DELETE", &path, Some(OPERATOR), None).await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
        assert_eq!(cancelled["accepted"], true);
        let sent = received(&sim, "CancelReservation").await;
        assert_eq!(sent, json!({"reservationId": made["id"]}));
        assert_eq!(authorize(&sim, "OTHER").await, "Accepted", "free again");
        let (status, again) = request(addr, "DELETE", &path, Some(OPERATOR), None).await;
        assert_eq!(status, 409, "{again}");
        assert!(
            again["error"].as_str().unwrap().contains("cancelled"),
            "{again}"
        );
        sim.close().await;
    }
    daemon.stop().await;
}

/// A start on the reserved EVSE, naming the reservation (1.6 StartTransaction, 2.0.1
/// TransactionEvent `reservationId`); the CSMS's response, schema-checked, and its
/// idTagInfo / idTokenInfo status.
async fn start_on_reservation(
    sim: &SimChargePoint,
    card: &str,
    reservation: Option<&Value>,
) -> String {
    let now = Utc::now();
    let (action, mut payload) = match sim.version() {
        OcppVersion::V16 => (
            "StartTransaction",
            chargegate::sim::messages::start_transaction_v16(1, card, 0, &now),
        ),
        OcppVersion::V201 => (
            "TransactionEvent",
            chargegate::sim::messages::transaction_started_v201(
                &format!("tx-{card}"),
                1,
                card,
                0,
                &now,
            ),
        ),
    };
    if let Some(id) = reservation {
        payload["reservationId"] = id.clone();
    }
    schema_check::assert_valid(dir(sim.version()), action, false, &payload);
    let response = sim.call(action, payload).await.expect("answered");
    schema_check::assert_valid(dir(sim.version()), action, true, &response);
    let info = match sim.version() {
        OcppVersion::V16 => &response["idTagInfo"],
        OcppVersion::V201 => &response["idTokenInfo"],
    };
    info["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn h03_another_card_is_refused_on_a_reserved_evse_and_the_right_one_uses_it() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = connect_booted(&daemon, id, version).await;
        sim.status(1, "Available").await.unwrap();
        sim.status(2, "Available").await.unwrap();
        let (_, made) = reserve(
            addr,
            json!({"charger": id, "evse": 1, "id_token": "GOOD", "expires": in_an_hour()}),
        )
        .await;
        assert_eq!(made["state"], "accepted", "{made}");
        // EVSE 2 is free, so the card as such is fine; on EVSE 1 it is refused.
        assert_eq!(authorize(&sim, "OTHER").await, "Accepted");
        assert_eq!(start_on_reservation(&sim, "OTHER", None).await, "Invalid");
        assert_eq!(listed(addr, &made["id"]).await["state"], "accepted");
        // The card it is for starts and uses it up.
        assert_eq!(
            start_on_reservation(&sim, "GOOD", Some(&made["id"])).await,
            "Accepted"
        );
        let used = listed(addr, &made["id"]).await;
        assert_eq!(used["state"], "used", "{used}");
        assert!(used["transaction"].is_i64(), "{used}");
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test]
async fn h04_a_reservation_status_update_ends_the_reservation() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let sim = connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    for (word, state) in [("Removed", "cancelled"), ("Expired", "expired")] {
        let (_, made) = reserve(
            addr,
            json!({"charger": "CS201-1", "id_token": "GOOD", "expires": in_an_hour()}),
        )
        .await;
        assert_eq!(authorize(&sim, "OTHER").await, "Invalid", "{made}");
        let update = json!({"reservationId": made["id"], "reservationUpdateStatus": word});
        schema_check::assert_valid("v201", "ReservationStatusUpdate", false, &update);
        let response = sim
            .call("ReservationStatusUpdate", update)
            .await
            .expect("answered");
        schema_check::assert_valid("v201", "ReservationStatusUpdate", true, &response);
        let ended = listed(addr, &made["id"]).await;
        assert_eq!(
            (&ended["state"], &ended["charger_status"]),
            (&json!(state), &json!(word)),
            "{ended}"
        );
        assert_eq!(authorize(&sim, "OTHER").await, "Accepted");
    }
    daemon.stop().await;
}

#[tokio::test]
async fn reservations_and_their_ids_survive_a_restart() {
    let site = site();
    let daemon = site.start().await;
    let sim = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let (_, made) = reserve(
        daemon.http_addr,
        json!({"charger": "CP16-1", "evse": 1, "id_token": "GOOD", "expires": in_an_hour()}),
    )
    .await;
    assert_eq!(made["state"], "accepted", "{made}");
    sim.close().await;
    daemon.stop().await;

    let daemon = site.start().await;
    let addr = daemon.http_addr;
    assert_eq!(listed(addr, &made["id"]).await, made, "stored as it was");
    let sim = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    assert_eq!(authorize(&sim, "OTHER").await, "Invalid", "still honoured");
    let (_, next) = reserve(
        addr,
        json!({"charger": "CP16-1", "evse": 2, "id_token": "OTHER", "expires": in_an_hour()}),
    )
    .await;
    assert!(next["id"].as_i64() > made["id"].as_i64(), "{next}");
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn reservations_expire_on_time_on_the_daemons_clock() {
    let site = site();
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let sim =
        crate::common::connect_virtual(&daemon, clock, "CS201-1", OcppVersion::V201, Vec::new())
            .await;
    let expires = clock.now() + chrono::Duration::minutes(10);
    let id = daemon
        .csms
        .store()
        .call(move |c| {
            let new = chargegate::store::NewReservation {
                charger_id: "CS201-1".into(),
                evse_id: Some(1),
                id_token: "GOOD".into(),
                group: None,
                expires,
            };
            let made = chargegate::store::create_reservation(c, &new, clock.now())?;
            chargegate::store::reservation_answered(c, made.id, true, "Accepted", clock.now())?;
            Ok(made.id)
        })
        .await
        .unwrap();
    let state = || async {
        let store = daemon.csms.store().clone();
        store
            .call(move |c| chargegate::store::reservation(c, id))
            .await
            .unwrap()
            .unwrap()
            .state
    };
    tokio::time::sleep(Duration::from_secs(9 * 60 + 59)).await;
    assert_eq!(authorize(&sim, "OTHER").await, "Invalid", "a second before");
    assert_eq!(state().await, "accepted");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(authorize(&sim, "OTHER").await, "Accepted", "at its expiry");
    assert_eq!(state().await, "expired");
    daemon.stop().await;
}

/// The current the plan in force gives `charger` in each slot (empty before a plan).
async fn planned(addr: SocketAddr, charger: &str) -> Vec<f64> {
    let (status, plan) = request(addr, "GET", "/api/v1/plan", None, None).await;
    assert_eq!(status, 200, "{plan}");
    plan["chargers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == charger)
        .map(|c| {
            c["current_a"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_f64().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the plan until `charger` gets current in its first slot (40 s: a replan waits
/// for the planner's 15 s gap).
async fn until_planned(addr: SocketAddr, charger: &str) -> Vec<f64> {
    for _ in 0..800 {
        let current = planned(addr, charger).await;
        if current.first().is_some_and(|a| *a > 0.0) {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{charger} never got current in the plan");
}

/// "A reserved charger is kept out of the plan until used": with a vehicle plugged in
/// on each of two chargers, the reserved one gets no current while the other does; the
/// start that names the reservation brings it into the plan.
#[tokio::test]
async fn h03_a_reserved_charger_gets_no_current_until_the_reservation_is_used() {
    let server = chargegate::sim::SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    server.meter.set_building([20.0, 20.0, 20.0]);
    server.meter.set_silent(true);
    let dir = tempfile::tempdir().unwrap();
    let mut config = chargegate::config::parse(&format!(
        "{}\n[[meter]]\nid = \"bldg\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\n\
         modbus-tcp = \"{}\"\npoll-interval-ms = 200\nstale-after-ms = 1000\n",
        crate::common::site_toml(&dir.path().join("cg.db"), ""),
        server.meter.addr()
    ))
    .unwrap_or_else(|p| panic!("{p:#?}"));
    with_tokens(&mut config);
    let daemon = chargegate::daemon::start_manual(&config)
        .await
        .expect("daemon starts");
    let addr = daemon.http_addr;
    let reserved = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let free = connect_booted(&daemon, "CP16-2", OcppVersion::V16).await;
    let (_, made) = reserve(
        addr,
        json!({"charger": "CP16-1", "evse": 1, "id_token": "GOOD", "expires": in_an_hour()}),
    )
    .await;
    assert_eq!(made["state"], "accepted", "{made}");
    reserved.status(1, "Reserved").await.unwrap();
    // Both vehicles plug in; the reserved charger's driver has not come yet.
    reserved.status(1, "Preparing").await.unwrap();
    free.status(1, "Preparing").await.unwrap();
    free.start_transaction(1, "OTHER", 0, Utc::now())
        .await
        .unwrap();
    server.meter.set_silent(false);
    until_planned(addr, "CP16-2").await;
    let held = planned(addr, "CP16-1").await;
    assert!(
        !held.is_empty() && held.iter().all(|a| *a == 0.0),
        "{held:?}"
    );
    // The driver the reservation is for starts on it.
    assert_eq!(
        start_on_reservation(&reserved, "GOOD", Some(&made["id"])).await,
        "Accepted"
    );
    let current = until_planned(addr, "CP16-1").await;
    assert!(current[0] >= 6.0, "{current:?}");
    assert_eq!(listed(addr, &made["id"]).await["state"], "used");
    daemon.stop().await;
    server.stop();
}
