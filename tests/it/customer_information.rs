//! Customer information of a 2.0.1 station over the HTTP API (issue 10, block N):
//! CustomerInformation to report and/or clear what the station keeps about a customer,
//! the NotifyCustomerInformation parts assembled and read back. Real loopback HTTP and
//! WebSocket to the real daemon with a simulated charger; what the charger receives is
//! checked against the official schemas. Named after the OCPP 2.0.1 certification cases
//! (part 6, chapter 3, CSMS role) they cover.

use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint};
use serde_json::{Value, json};

use crate::common::connect_settled;
use crate::operator_commands::{OPERATOR, VIEWER, post, received, request, site};

const PATH: &str = "/api/v1/chargers/CS201-1/customer-information";

/// What the station keeps about card 04A2B3C4: 150 characters, three parts of 64.
fn card_history() -> String {
    (1..=5)
        .map(|n| format!("2026-11-0{n} session {n}: 12.5 kWh on EVSE 1.\n"))
        .collect::<String>()
        .chars()
        .take(150)
        .collect()
}

/// `GET .../customer-information/<id>` until it is no longer 202 (at most 5 s).
async fn settled(addr: std::net::SocketAddr, request_id: &Value) -> (u16, Value) {
    let target = format!("{PATH}/{request_id}");
    for _ in 0..250 {
        let (status, body, _) = request(addr, "GET", &target, Some(OPERATOR), None).await;
        if status != 202 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("customer information {request_id} never completed");
}

fn sent(sim: &SimChargePoint) -> usize {
    sim.received_calls()
        .iter()
        .filter(|c| c.action == "CustomerInformation")
        .count()
}

#[tokio::test]
async fn tc_n_27_tc_n_28_csms_get_customer_information_with_and_without_data() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.set_customer_data("04A2B3C4", &card_history());
    let addr = daemon.http_addr;

    let (status, body) = post(
        addr,
        PATH,
        json!({"report": true, "clear": false, "id_token": "04A2B3C4", "id_token_type": "ISO14443"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "Accepted");
    let call = received(&sim, "CustomerInformation").await;
    assert_eq!(call["requestId"], body["request_id"]);
    assert_eq!(
        (&call["report"], &call["clear"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(
        call["idToken"],
        json!({"idToken": "04A2B3C4", "type": "ISO14443"})
    );

    let (status, report) = settled(addr, &body["request_id"]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "complete");
    assert_eq!(report["parts"], 3, "150 characters in parts of 64");
    assert_eq!(report["data"], card_history());
    assert_eq!(report["customer"], "idToken ISO14443 04A2B3C4");
    assert_eq!(sim.customers(), vec!["04A2B3C4".to_string()], "not cleared");
    // Personal data: open reads or not, only an operator reads it.
    let target = format!("{PATH}/{}", body["request_id"]);
    assert_eq!(request(addr, "GET", &target, None, None).await.0, 401);
    assert_eq!(
        request(addr, "GET", &target, Some(VIEWER), None).await.0,
        403
    );

    // TC_N_28: a customer the station knows nothing of: one empty part.
    let (status, body) = post(
        addr,
        PATH,
        json!({"id_token": "FFFF0000", "id_token_type": "ISO14443"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, report) = settled(addr, &body["request_id"]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["status"], &report["data"]),
        (&json!("complete"), &json!(""))
    );

    // A request chargegate did not make.
    let (status, _, _) = request(addr, "GET", &format!("{PATH}/12345"), Some(OPERATOR), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tc_n_29_csms_get_customer_information_not_accepted() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.set_reply_policy(ReplyPolicy::Reject);
    let (status, body) = post(
        daemon.http_addr,
        PATH,
        json!({"report": true, "clear": false, "id_token": "04A2B3C4", "id_token_type": "ISO14443"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["accepted"]),
        (&json!("Rejected"), &json!(false))
    );
    received(&sim, "CustomerInformation").await;
    let (status, report) = settled(daemon.http_addr, &body["request_id"]).await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], "rejected", "{report}");
    assert_eq!(report["detail"], "Rejected");
}

#[tokio::test]
async fn tc_n_30_tc_n_32_csms_clear_with_and_without_report() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.set_customer_data("04A2B3C4", &card_history());
    sim.set_customer_data("0BADCAFE", "one session");
    let addr = daemon.http_addr;

    // N30: clear and report: the data as it was, then gone from the station.
    let (status, body) = post(
        addr,
        PATH,
        json!({"report": true, "clear": true, "id_token": "04A2B3C4", "id_token_type": "ISO14443"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let call = received(&sim, "CustomerInformation").await;
    assert_eq!(
        (&call["report"], &call["clear"]),
        (&json!(true), &json!(true))
    );
    let (_, report) = settled(addr, &body["request_id"]).await;
    assert_eq!(report["data"], card_history());
    assert_eq!(sim.customers(), vec!["0BADCAFE".to_string()]);

    // N32: clear without report: answered at once, no parts expected.
    let (status, body) = post(
        addr,
        PATH,
        json!({"report": false, "clear": true, "id_token": "0BADCAFE", "id_token_type": "ISO14443"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Accepted");
    let call = received(&sim, "CustomerInformation").await;
    assert_eq!(
        (&call["report"], &call["clear"]),
        (&json!(false), &json!(true))
    );
    assert!(sim.customers().is_empty());
    let (status, report) = settled(addr, &body["request_id"]).await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], "complete", "{report}");
    assert_eq!(report["data"], Value::Null);
}

#[tokio::test]
async fn tc_n_62_csms_clear_and_report_by_customer_identifier() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.set_customer_data("OpenChargeAlliance", "fleet account 7");
    let (status, body) = post(
        daemon.http_addr,
        PATH,
        json!({"report": true, "clear": true, "customer_identifier": "OpenChargeAlliance"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let call = received(&sim, "CustomerInformation").await;
    assert_eq!(call["customerIdentifier"], "OpenChargeAlliance");
    assert!(call.get("idToken").is_none());
    let (_, report) = settled(daemon.http_addr, &body["request_id"]).await;
    assert_eq!(report["data"], "fleet account 7");
    assert!(sim.customers().is_empty());
}

#[tokio::test]
async fn customer_information_needs_a_2_0_1_charger_and_an_operator() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let good = json!({"id_token": "04A2B3C4", "id_token_type": "ISO14443"});
    let (status, body) = post(
        daemon.http_addr,
        "/api/v1/chargers/CP16-1/customer-information",
        good.clone(),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("1.6"), "{body}");
    assert!(
        sim.received_calls()
            .iter()
            .all(|c| c.action != "CustomerInformation")
    );
    let (status, _, _) = request(
        daemon.http_addr,
        "POST",
        PATH,
        Some(VIEWER),
        Some(&good.to_string()),
    )
    .await;
    assert_eq!(status, 403);
    // CS201-1 is configured but not connected.
    assert_eq!(post(daemon.http_addr, PATH, good).await.0, 409);
}

#[tokio::test]
async fn malformed_customer_information_bodies_are_400_naming_the_field() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let before = sent(&sim);
    let hash = json!({"hash_algorithm": "SHA256", "issuer_name_hash": "ab",
        "issuer_key_hash": "cd", "serial": "1f"});
    for (body, field) in [
        (json!({"report": true, "clear": false}), "exactly one"),
        (
            json!({"id_token": "A", "id_token_type": "ISO14443", "customer_identifier": "B"}),
            "exactly one",
        ),
        (
            json!({"customer_identifier": "B", "customer_certificate": hash}),
            "exactly one",
        ),
        (json!({"id_token": "04A2B3C4"}), "id_token_type"),
        (
            json!({"id_token": "04A2B3C4", "id_token_type": "Badge"}),
            "id_token_type",
        ),
        (
            json!({"customer_identifier": "B", "id_token_type": "ISO14443"}),
            "id_token_type",
        ),
        (
            json!({"id_token": "x".repeat(37), "id_token_type": "ISO14443"}),
            "id_token",
        ),
        (
            json!({"customer_identifier": "x".repeat(65)}),
            "customer_identifier",
        ),
        (json!({"customer_identifier": ""}), "customer_identifier"),
        (
            json!({"customer_certificate": {"hash_algorithm": "MD5", "issuer_name_hash": "ab",
                "issuer_key_hash": "cd", "serial": "1f"}}),
            "hash_algorithm",
        ),
        (
            json!({"customer_certificate": {"hash_algorithm": "SHA256", "issuer_name_hash": "zz",
                "issuer_key_hash": "cd", "serial": "1f"}}),
            "issuer_name_hash",
        ),
        (
            json!({"report": false, "clear": false, "customer_identifier": "B"}),
            "report",
        ),
        (
            json!({"report": "yes", "customer_identifier": "B"}),
            "report",
        ),
        (json!({"customer_identifier": "B", "purge": true}), "purge"),
    ] {
        let (status, answer) = post(addr, PATH, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (status, _, _) = request(addr, "POST", PATH, Some(OPERATOR), Some("{")).await;
    assert_eq!(status, 400);
    let (status, _, _) = request(addr, "GET", &format!("{PATH}/abc"), Some(OPERATOR), None).await;
    assert_eq!(status, 400);
    assert_eq!(before, sent(&sim), "nothing malformed reached the charger");

    // A customer certificate is sent by its hash data.
    let (status, body) = post(addr, PATH, json!({"customer_certificate": hash})).await;
    assert_eq!(status, 202, "{body}");
    let call = received(&sim, "CustomerInformation").await;
    assert_eq!(call["customerCertificate"]["serialNumber"], "1f");
}
