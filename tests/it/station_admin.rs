//! The 2.0.1 station commands 1.6 has no message for (issue 10): GetTransactionStatus,
//! over the API and sent by chargegate itself after a reconnect, and SetNetworkProfile.
//! Real loopback HTTP and WebSocket to the real daemon with simulated chargers; what the
//! charger receives is checked against the official schemas, the outcome against the
//! store. Tests are named after the OCPP 2.0.1 certification cases (part 6, chapter 3,
//! CSMS role) they cover.

use std::collections::BTreeMap;
use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint, SimOptions, TxMemory};
use chargegate::units::ChargerId;
use serde_json::json;

use crate::common::{PASSWORD, connect_booted, connect_settled, stored_transactions, url};
use crate::operator_commands::{OPERATOR, VIEWER, post, received, request, site};

const STATUS: &str = "/api/v1/chargers/CS201-1/transaction-status";
const NETWORK: &str = "/api/v1/chargers/CS201-1/network-profile";
const SETTLE: Duration = Duration::from_secs(5);

/// Waits until the daemon no longer counts `id` as connected.
async fn gone(daemon: &chargegate::daemon::Daemon, id: &str) {
    let id = ChargerId::new(id).unwrap();
    let deadline = tokio::time::Instant::now() + SETTLE;
    while daemon.chargers.is_connected(&id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} stays connected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn tc_e_30_tc_e_31_open_transactions_are_checked_after_a_reconnect() {
    let site = site(false);
    let daemon = site.start().await;
    let first = connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let mut keys = Vec::new();
    for evse in 1..=3 {
        let tx = first
            .start_transaction(evse, "GOOD", 1000, chrono::Utc::now())
            .await
            .expect("started");
        keys.push(tx.key);
    }
    first.close().await;
    gone(&daemon, "CS201-1").await;

    // It comes back (no boot: a reconnect) still running the first, with the end of the
    // second queued, and knowing nothing of the third.
    let mut opts = SimOptions::new(url(&daemon), "CS201-1", &[OcppVersion::V201]);
    opts.password = Some(PASSWORD.into());
    opts.transactions = BTreeMap::from([
        (
            keys[0].clone(),
            TxMemory {
                ongoing: true,
                queued: false,
            },
        ),
        (
            keys[1].clone(),
            TxMemory {
                ongoing: false,
                queued: true,
            },
        ),
    ]);
    let again = SimChargePoint::connect(opts).await.expect("reconnects");
    let mut asked = Vec::new();
    for _ in 0..3 {
        let call = received(&again, "GetTransactionStatus").await;
        asked.push(
            call["transactionId"]
                .as_str()
                .expect("names one")
                .to_string(),
        );
    }
    assert_eq!(asked, keys, "each open transaction asked about, in order");

    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let stored = stored_transactions(&daemon).await;
        let by_key = |k: &str| {
            stored
                .iter()
                .find(|t| t.ocpp_tx_id.as_deref() == Some(k))
                .cloned()
                .expect("stored")
        };
        let third = by_key(&keys[2]);
        if third.status == "closed" {
            assert_eq!(third.stop_reason.as_deref(), Some("NotOngoing"));
            // Ongoing, or its end still queued: left open for the charger to report.
            assert_eq!(by_key(&keys[0]).status, "open");
            assert_eq!(by_key(&keys[1]).status, "open");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unknown transaction was never closed: {third:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, audit, _) = request(
        daemon.http_addr,
        "GET",
        "/api/v1/audit?action=GetTransactionStatus",
        None,
        None,
    )
    .await;
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(3),
        "{audit}"
    );
}

#[tokio::test]
async fn a_1_6_charger_that_reconnects_is_not_asked_and_its_transaction_stays_open() {
    let site = site(false);
    let daemon = site.start().await;
    let first = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    first
        .start_transaction(1, "GOOD", 1000, chrono::Utc::now())
        .await
        .expect("started");
    first.close().await;
    gone(&daemon, "CP16-1").await;
    let again = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        again
            .received_calls()
            .iter()
            .all(|c| c.action != "GetTransactionStatus")
    );
    assert_eq!(stored_transactions(&daemon).await[0].status, "open");
}

#[tokio::test]
async fn tc_e_29_tc_e_33_tc_e_34_transaction_status_over_the_api() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let tx = sim
        .start_transaction(1, "GOOD", 1000, chrono::Utc::now())
        .await
        .expect("started");

    // E34: no transaction named, nothing queued.
    let (status, body) = post(addr, STATUS, json!({"transaction": null})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"ongoing": null, "messages_in_queue": false}));
    assert_eq!(received(&sim, "GetTransactionStatus").await, json!({}));
    // E29/E30: a named transaction that runs.
    let (status, body) = post(addr, STATUS, json!({"transaction": tx.key})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"ongoing": true, "messages_in_queue": false}));
    let last = sim.received_calls().pop().expect("a call");
    assert_eq!(last.payload, json!({"transactionId": tx.key}));
    // An empty body is "no transaction named" too.
    let (status, _) = post(addr, STATUS, json!({})).await;
    assert_eq!(status, 200);

    for (body, why) in [
        (r#"{"transaction": ""}"#, "transaction"),
        (
            &format!(r#"{{"transaction": "{}"}}"#, "x".repeat(37)),
            "transaction",
        ),
        (r#"{"transaction": 7}"#, "transaction"),
        (r#"{"tx": "a"}"#, "tx"),
        (r#"{"transaction": "#, ""),
    ] {
        let (status, answer, _) = request(addr, "POST", STATUS, Some(OPERATOR), Some(body)).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(why),
            "{body}: {answer}"
        );
    }
    let (status, _, _) = request(addr, "POST", STATUS, None, Some("{}")).await;
    assert_eq!(status, 401);
    let (status, _, _) = request(addr, "POST", STATUS, Some(VIEWER), Some("{}")).await;
    assert_eq!(status, 403);
    let unknown = "/api/v1/chargers/CS-NOWHERE/transaction-status";
    assert_eq!(post(addr, unknown, json!({})).await.0, 404);
    let offline = "/api/v1/chargers/CS201-2/transaction-status";
    assert_eq!(post(addr, offline, json!({})).await.0, 409);
    // 1.6 has no GetTransactionStatus: refused before anything is sent.
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/transaction-status",
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("2.0.1"), "{body}");
    assert!(
        v16.received_calls()
            .iter()
            .all(|c| c.action != "GetTransactionStatus")
    );
}

#[tokio::test]
async fn tc_b_42_tc_b_44_set_network_profile_accepted_and_refused() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let good = json!({
        "slot": 1,
        "security_profile": 2,
        "url": "wss://gateway.depot:8443/ocpp/",
        "interface": "Wired0",
        "message_timeout_s": 30,
    });
    let (status, body) = post(addr, NETWORK, good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Accepted", "accepted": true}));
    assert_eq!(
        received(&sim, "SetNetworkProfile").await,
        json!({
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "wss://gateway.depot:8443/ocpp/",
                "messageTimeout": 30,
                "securityProfile": 2,
                "ocppInterface": "Wired0",
            }
        })
    );
    // B44: the station refuses; its word is the answer.
    sim.set_reply_policy(ReplyPolicy::Reject);
    let (status, body) = post(addr, NETWORK, good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Rejected", "accepted": false}));
    sim.set_reply_policy(ReplyPolicy::Accept);

    let with = |field: &str, value: serde_json::Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("interface");
    for (body, field) in [
        (with("security_profile", json!(4)), "security_profile"),
        (with("security_profile", json!(-1)), "security_profile"),
        (with("url", json!("ws://gateway.depot/ocpp/")), "url"),
        (with("url", json!("https://gateway.depot/")), "url"),
        (with("slot", json!(-2)), "slot"),
        (with("interface", json!("eth0")), "interface"),
        (with("message_timeout_s", json!(0)), "message_timeout_s"),
        (with("vpn", json!({})), "vpn"),
        (missing, "interface"),
    ] {
        let (status, answer) = post(addr, NETWORK, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (status, _, _) = request(addr, "POST", NETWORK, Some(OPERATOR), Some("{")).await;
    assert_eq!(status, 400);
    let (status, _, _) = request(addr, "POST", NETWORK, None, Some(&good.to_string())).await;
    assert_eq!(status, 401);
    let sent = sim
        .received_calls()
        .iter()
        .filter(|c| c.action == "SetNetworkProfile")
        .count();
    assert_eq!(sent, 2, "nothing bad reached the charger");
    let _v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let v16_path = "/api/v1/chargers/CP16-1/network-profile";
    assert_eq!(post(addr, v16_path, good.clone()).await.0, 409);
    let offline = "/api/v1/chargers/CS201-2/network-profile";
    assert_eq!(post(addr, offline, good).await.0, 409);
}
