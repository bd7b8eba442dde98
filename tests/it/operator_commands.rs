//! The operator's remote control over the HTTP API (issue 10), as a script or browser uses
//! it: real loopback HTTP to the real daemon, simulated chargers of both versions on
//! loopback WebSocket. Each command arrives at the charger schema-valid, the answer is the
//! charger's own, every command is in the audit log with the token holder's name, and bad
//! input, missing or weak tokens, offline and silent chargers get their own answer.
//! Tests covering an OCPP 2.0.1 certification case are named after it (part 6, chapter 3).

use std::net::SocketAddr;
use std::time::Duration;

use chargegate::config::{ApiRole, ApiToken};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint};
use serde_json::{Value, json};

use crate::common::{Site, connect_settled, schema_check};

pub(crate) const OPERATOR: &str = "op-7c1e9b5a0d2f4c83a6e1";
pub(crate) const VIEWER: &str = "view-2b8f3e61c9a04d7d";
const WAIT: Duration = Duration::from_secs(5);

/// The test site with an operator's and a viewer's token.
pub(crate) fn site(require_token_for_reads: bool) -> Site {
    let mut site = Site::new("");
    let token = |name: &str, value: &str, role| ApiToken {
        name: name.into(),
        token_hash: chargegate::charger::handshake::hash_password(value).unwrap(),
        role,
    };
    site.config.http.tokens = vec![
        token("control-room", OPERATOR, ApiRole::Operator),
        token("wall-screen", VIEWER, ApiRole::Viewer),
    ];
    site.config.http.require_token_for_reads = require_token_for_reads;
    site
}

/// One HTTP/1.1 request as is; the status, the body as JSON and the raw head.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value, String) {
    crate::common::http_with_head(addr, method, target, token, body).await
}

pub(crate) async fn post(addr: SocketAddr, target: &str, body: Value) -> (u16, Value) {
    let (status, json, _) = request(
        addr,
        "POST",
        target,
        Some(OPERATOR),
        Some(&body.to_string()),
    )
    .await;
    (status, json)
}

fn dir(version: OcppVersion) -> &'static str {
    match version {
        OcppVersion::V16 => "v16",
        OcppVersion::V201 => "v201",
    }
}

/// The next CALL of `action` the charger got, checked against the official schema.
pub(crate) async fn received(sim: &SimChargePoint, action: &str) -> Value {
    let call = sim
        .wait_for_call(action, WAIT)
        .await
        .unwrap_or_else(|| panic!("{} got no {action}", sim.id()));
    schema_check::assert_valid(dir(sim.version()), action, false, &call.payload);
    call.payload
}

#[tokio::test]
async fn a_write_needs_an_operator_token_and_a_read_does_not() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let reset = r#"{"kind": "soft"}"#;
    let path = "/api/v1/chargers/CS201-1/reset";
    let addr = daemon.http_addr;

    let (status, body, head) = request(addr, "POST", path, None, Some(reset)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"chargegate\""),
        "{head}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("operator token"),
        "{body}"
    );
    let (status, body, _) = request(addr, "POST", path, Some("not-a-token"), Some(reset)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = request(addr, "POST", path, Some(VIEWER), Some(reset)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("wall-screen"),
        "{body}"
    );
    // None of these reached the charger.
    assert!(
        sim.wait_for_call("Reset", Duration::from_millis(300))
            .await
            .is_none()
    );

    let (status, body, _) = request(addr, "POST", path, Some(OPERATOR), Some(reset)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Accepted", "accepted": true}));
    assert_eq!(received(&sim, "Reset").await, json!({"type": "OnIdle"}));
    // The audit log names who sent it.
    let (status, audit, _) = request(addr, "GET", "/api/v1/audit?action=Reset", None, None).await;
    assert_eq!(status, 200, "{audit}");
    let reason = audit["entries"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("control-room"), "{audit}");
    // An unknown path is a 404 for anyone, a known path a 405 for another verb.
    let (status, _, _) = request(addr, "POST", "/api/v1/nothing", None, Some("{}")).await;
    assert_eq!(status, 404);
    let (status, _, _) = request(addr, "DELETE", path, Some(OPERATOR), None).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn closed_reads_need_a_token_of_either_role() {
    let site = site(true);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let (status, body, _) = request(addr, "GET", "/api/v1/audit", None, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = request(addr, "GET", "/api/v1/audit", Some(VIEWER), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = request(addr, "GET", "/api/v1/audit", Some(OPERATOR), None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn tc_b_20_and_tc_b_25_reset_station_and_evse() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;

    // TC_B_20: the whole station, OnIdle.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/reset",
        json!({"kind": "soft"}),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("Accepted")),
        "{body}"
    );
    assert_eq!(received(&v201, "Reset").await, json!({"type": "OnIdle"}));
    // TC_B_25: one EVSE, Immediate.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/reset",
        json!({"kind": "hard", "evse": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v201, "Reset").await,
        json!({"type": "Immediate", "evseId": 1})
    );
    // 1.6: Soft and Hard of the whole charge point; no per-EVSE reset in 1.6.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/reset",
        json!({"kind": "hard"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(received(&v16, "Reset").await, json!({"type": "Hard"}));
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/reset",
        json!({"kind": "soft", "evse": 1}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // A refusal is the charger's own answer, not an HTTP error.
    v201.set_reply_policy(ReplyPolicy::Reject);
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/reset",
        json!({"kind": "soft"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Rejected", "accepted": false}));
}

#[tokio::test]
async fn tc_f_02_remote_start_checks_the_card_first_for_both_versions() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;

    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/remote-start",
        json!({"evse": 1, "id_token": "GOOD"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let start = received(&v201, "RequestStartTransaction").await;
    assert_eq!(
        start["idToken"],
        json!({"idToken": "GOOD", "type": "ISO14443"})
    );
    assert_eq!(start["evseId"], 1);
    assert!(
        start["remoteStartId"].as_i64().is_some_and(|id| id >= 0),
        "{start}"
    );

    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/remote-start",
        json!({"evse": 1, "id_token": "GOOD"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "RemoteStartTransaction").await,
        json!({"connectorId": 1, "idTag": "GOOD"})
    );

    // Cards the local list refuses never reach the charger.
    for (token, word) in [
        ("BLOCKED", "Blocked"),
        ("OLD", "Expired"),
        ("NOBODY", "Unknown"),
    ] {
        let (status, body) = post(
            addr,
            "/api/v1/chargers/CS201-1/remote-start",
            json!({"id_token": token}),
        )
        .await;
        assert_eq!(status, 409, "{token}: {body}");
        assert!(body["error"].as_str().unwrap().contains(word), "{body}");
    }
    // Bad input names the field.
    for (body, field) in [
        (json!({"evse": 1}), "id_token"),
        (json!({"id_token": "GOOD", "colour": "red"}), "colour"),
        (
            json!({"id_token": "GOOD", "id_token_type": "Passport"}),
            "id_token_type",
        ),
        (json!({"id_token": "GOOD", "evse": 0}), "evse"),
        (json!({"id_token": "x".repeat(37)}), "id_token"),
    ] {
        let (status, answer) = post(addr, "/api/v1/chargers/CS201-1/remote-start", body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    assert!(
        v201.wait_for_call("RequestStartTransaction", Duration::from_millis(300))
            .await
            .is_none(),
        "a refused start reached the charger"
    );
}

#[tokio::test]
async fn remote_stop_names_an_open_transaction_of_the_charger() {
    let site = site(false);
    let daemon = site.start().await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;
    let started = v16
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "GOOD", "meterStart": 1000,
                   "timestamp": chrono::Utc::now().to_rfc3339()}),
        )
        .await
        .expect("the transaction starts");
    let tx = started["transactionId"]
        .as_i64()
        .expect("a 1.6 transaction id");

    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/remote-stop",
        json!({"transaction": tx.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "RemoteStopTransaction").await,
        json!({"transactionId": tx})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/remote-stop",
        json!({"transaction": (tx + 1000).to_string()}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/remote-stop",
        json!({"transaction": "tx-abc"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Once it ended, it is not stopped again.
    v16.call(
        "StopTransaction",
        json!({"transactionId": tx, "meterStop": 5000,
               "timestamp": chrono::Utc::now().to_rfc3339()}),
    )
    .await
    .expect("the transaction stops");
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/remote-stop",
        json!({"transaction": tx.to_string()}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn tc_f_06_unlock_and_tc_f_11_tc_f_20_trigger() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;

    // TC_F_06: unlock.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/unlock",
        json!({"evse": 1, "connector": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Unlocked");
    assert_eq!(
        received(&v201, "UnlockConnector").await,
        json!({"evseId": 1, "connectorId": 1})
    );
    let (status, body) = post(addr, "/api/v1/chargers/CP16-1/unlock", json!({"evse": 2})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "UnlockConnector").await,
        json!({"connectorId": 2})
    );

    // TC_F_11: MeterValues of one EVSE; TC_F_20: Heartbeat.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/trigger",
        json!({"message": "MeterValues", "evse": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v201, "TriggerMessage").await,
        json!({"requestedMessage": "MeterValues", "evse": {"id": 1}})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/trigger",
        json!({"message": "Heartbeat"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "TriggerMessage").await,
        json!({"requestedMessage": "Heartbeat"})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/trigger",
        json!({"message": "Coffee"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // 1.6 has no TransactionEvent to trigger.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/trigger",
        json!({"message": "TransactionEvent"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn tc_g_03_tc_g_05_availability_of_an_evse_and_the_station() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;

    // TC_G_03: one EVSE inoperative; TC_G_05: the whole station; 1.6 connector 0.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/availability",
        json!({"evse": 1, "operative": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v201, "ChangeAvailability").await,
        json!({"operationalStatus": "Inoperative", "evse": {"id": 1}})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/availability",
        json!({"operative": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v201, "ChangeAvailability").await,
        json!({"operationalStatus": "Operative"})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/availability",
        json!({"operative": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "ChangeAvailability").await,
        json!({"connectorId": 0, "type": "Inoperative"})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/availability",
        json!({"connector": 1, "operative": false}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn tc_b_06_b_07_get_and_tc_b_09_b_10_set_variables() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let path = "/api/v1/chargers/CS201-1/configuration";

    // TC_B_09 / TC_B_10: set one and two variables.
    let (status, body, _) = request(
        addr,
        "PUT",
        path,
        Some(OPERATOR),
        Some(r#"{"OCPPCommCtrlr.HeartbeatInterval": "120", "SampledDataCtrlr.TxUpdatedInterval": "30"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"]["OCPPCommCtrlr.HeartbeatInterval"]["status"],
        "Accepted"
    );
    assert_eq!(
        body["results"]["SampledDataCtrlr.TxUpdatedInterval"]["status"],
        "Accepted"
    );
    received(&v201, "SetVariables").await;
    received(&v201, "SetVariables").await;
    // TC_B_06 / TC_B_07: read them back, one of them unknown.
    let (status, body, _) = request(
        addr,
        "GET",
        &format!("{path}?key=OCPPCommCtrlr.HeartbeatInterval&key=SampledDataCtrlr.TxUpdatedInterval&key=Nope.Nothing"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let values = body["values"].as_array().expect("values");
    let value = |key: &str| {
        values
            .iter()
            .find(|v| v["key"] == key)
            .map(|v| v["value"].clone())
    };
    assert_eq!(
        value("OCPPCommCtrlr.HeartbeatInterval"),
        Some(json!("120")),
        "{body}"
    );
    assert_eq!(
        value("SampledDataCtrlr.TxUpdatedInterval"),
        Some(json!("30")),
        "{body}"
    );
    assert_eq!(body["unknown"], json!(["Nope.Nothing"]), "{body}");
    received(&v201, "GetVariables").await;

    // Bad input.
    for (method, target, body) in [
        ("GET", format!("{path}?key=HeartbeatInterval"), None),
        ("GET", format!("{path}?colour=red"), None),
        ("GET", path.to_string(), None),
        (
            "PUT",
            path.to_string(),
            Some(r#"{"OCPPCommCtrlr.HeartbeatInterval": 120}"#),
        ),
        ("PUT", path.to_string(), Some("{}")),
        ("PUT", path.to_string(), Some("{not json")),
    ] {
        let (status, answer, _) = request(addr, method, &target, Some(OPERATOR), body).await;
        assert_eq!(status, 400, "{method} {target} {body:?}: {answer}");
    }
}

#[tokio::test]
async fn offline_unknown_and_silent_chargers_get_their_own_answers() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let reset = json!({"kind": "soft"});

    let (status, body) = post(addr, "/api/v1/chargers/CP16-2/reset", reset.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("offline"),
        "{body}"
    );
    let (status, body) = post(addr, "/api/v1/chargers/CP-NOWHERE/reset", reset.clone()).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(addr, "/api/v1/chargers/bad%20id/reset", reset.clone()).await;
    assert_eq!(status, 400, "{body}");
    // A charger that never answers: 504 after its call timeout (2 s in the test site).
    v201.set_reply_policy(ReplyPolicy::Ignore);
    let (status, body) = post(addr, "/api/v1/chargers/CS201-1/reset", reset.clone()).await;
    assert_eq!(status, 504, "{body}");
    // The daemon still answers.
    let (status, _, _) = request(addr, "GET", "/api/v1/audit", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_1_6_charger_reads_and_changes_configuration_keys() {
    let site = site(false);
    let daemon = site.start().await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;
    // 1.6: every key without a key parameter; a change by name.
    let (status, body, _) = request(
        addr,
        "GET",
        "/api/v1/chargers/CP16-1/configuration",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["values"].as_array().is_some_and(|v| v.len() > 3),
        "{body}"
    );
    assert_eq!(received(&v16, "GetConfiguration").await, json!({}));
    let (status, body, _) = request(
        addr,
        "PUT",
        "/api/v1/chargers/CP16-1/configuration",
        Some(OPERATOR),
        Some(r#"{"HeartbeatInterval": "120"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "ChangeConfiguration").await,
        json!({"key": "HeartbeatInterval", "value": "120"})
    );
}

#[tokio::test]
async fn tc_c_37_clear_cache_and_a_vendor_data_transfer_for_both_versions() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;

    // TC_C_37: ClearCache, accepted; TC_C_38: rejected, still the charger's own answer.
    for sim in [&v201, &v16] {
        let path = format!("/api/v1/chargers/{}/clear-cache", sim.id());
        let (status, body, _) = request(addr, "POST", &path, Some(OPERATOR), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"status": "Accepted", "accepted": true}));
        assert_eq!(received(sim, "ClearCache").await, json!({}));
    }
    v201.set_reply_policy(ReplyPolicy::Reject);
    let (status, body) = post(addr, "/api/v1/chargers/CS201-1/clear-cache", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Rejected");
    v201.set_reply_policy(ReplyPolicy::Accept);
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/clear-cache",
        json!({"evse": 1}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // DataTransfer: 2.0.1 carries any JSON, 1.6 text; the charger's data comes back.
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/data-transfer",
        json!({"vendor_id": "com.example", "message_id": "Ping", "data": {"n": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"n": 1}), "{body}");
    assert_eq!(
        received(&v201, "DataTransfer").await,
        json!({"vendorId": "com.example", "messageId": "Ping", "data": {"n": 1}})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/data-transfer",
        json!({"vendor_id": "com.example", "data": {"n": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&v16, "DataTransfer").await,
        json!({"vendorId": "com.example", "data": "{\"n\":1}"})
    );
    let (status, body) = post(
        addr,
        "/api/v1/chargers/CP16-1/data-transfer",
        json!({"vendor_id": ""}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
