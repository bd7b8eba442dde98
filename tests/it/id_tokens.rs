//! The local authorization list at run time over the HTTP API (issue 10): a card written
//! through `/api/v1/id-tokens` counts for the very next Authorize of a charger of either
//! version, a blocked group blocks its members, the site file's cards are left to the
//! file, and the API's cards outlive a restart.

use std::net::SocketAddr;

use chargegate::config::{ApiRole, ApiToken};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimChargePoint;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Site, connect_settled};

const OPERATOR: &str = "op-5d0c2a9e7b1f";

pub(crate) fn site() -> Site {
    let mut site = Site::new("");
    site.config.http.tokens = vec![ApiToken {
        name: "office".into(),
        token_hash: chargegate::charger::handshake::hash_password(OPERATOR).unwrap(),
        role: ApiRole::Operator,
    }];
    site
}

pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let text = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.expect("HTTP connects");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

/// The status word chargegate answers the charger's Authorize with.
async fn authorize(sim: &SimChargePoint, card: &str) -> String {
    let reply = sim.authorize(card).await.expect("Authorize is answered");
    let info = match sim.version() {
        OcppVersion::V16 => &reply["idTagInfo"],
        OcppVersion::V201 => &reply["idTokenInfo"],
    };
    info["status"].as_str().expect("a status").to_string()
}

#[tokio::test]
async fn a_card_written_through_the_api_counts_for_the_next_authorize() {
    let site = site();
    let daemon = site.start().await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    assert_eq!(authorize(&v201, "CARD-7").await, "Unknown");
    assert_eq!(authorize(&v16, "CARD-7").await, "Invalid");

    let (status, body) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/CARD-7",
        Some(json!({"status": "accepted", "type": "ISO14443"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "api");
    assert_eq!(authorize(&v201, "CARD-7").await, "Accepted");
    assert_eq!(authorize(&v16, "CARD-7").await, "Accepted");

    let (status, body) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/CARD-7",
        Some(json!({"status": "blocked"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(authorize(&v201, "CARD-7").await, "Blocked");
    assert_eq!(authorize(&v16, "CARD-7").await, "Blocked");

    let (status, body) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/CARD-7",
        Some(json!({"status": "accepted", "expires": "2020-06-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(authorize(&v201, "CARD-7").await, "Expired");

    let (status, body) = request(addr, "DELETE", "/api/v1/id-tokens/CARD-7", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(authorize(&v201, "CARD-7").await, "Unknown");
    let (status, _) = request(addr, "DELETE", "/api/v1/id-tokens/CARD-7", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tc_c_39_a_group_authorizes_and_a_blocked_group_blocks_its_members() {
    let site = site();
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    for (card, body) in [
        ("FLEET-A", json!({"status": "accepted"})),
        (
            "DRIVER-1",
            json!({"status": "accepted", "group": "FLEET-A"}),
        ),
    ] {
        let (status, answer) = request(
            addr,
            "PUT",
            &format!("/api/v1/id-tokens/{card}"),
            Some(body),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
    }
    let reply = v201.authorize("DRIVER-1").await.unwrap();
    assert_eq!(reply["idTokenInfo"]["status"], "Accepted");
    assert_eq!(reply["idTokenInfo"]["groupIdToken"]["idToken"], "FLEET-A");

    let (status, _) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/FLEET-A",
        Some(json!({"status": "blocked"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(authorize(&v201, "DRIVER-1").await, "Blocked");
    // The member's own entry is unchanged: unblocking the group lets it in again.
    let (_, entry) = request(addr, "GET", "/api/v1/id-tokens/DRIVER-1", None).await;
    assert_eq!(entry["status"], "accepted", "{entry}");
    let (status, _) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/FLEET-A",
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(authorize(&v201, "DRIVER-1").await, "Accepted");
}

#[tokio::test]
async fn the_site_files_cards_are_left_to_the_file_and_api_cards_outlive_a_restart() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    // GOOD is an [[id-token]] of the test site file.
    let (status, body) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/GOOD",
        Some(json!({"status": "blocked"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("site file"),
        "{body}"
    );
    let (status, _) = request(addr, "DELETE", "/api/v1/id-tokens/GOOD", None).await;
    assert_eq!(status, 409);
    let (status, _) = request(
        addr,
        "PUT",
        "/api/v1/id-tokens/VAN-12",
        Some(json!({"status": "accepted", "group": "GOOD"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, before) = request(addr, "GET", "/api/v1/id-tokens", None).await;
    daemon.stop().await;

    let daemon = site.start().await;
    let (status, after) = request(daemon.http_addr, "GET", "/api/v1/id-tokens", None).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["id_tokens"], before["id_tokens"],
        "the list is the same after a restart"
    );
    let sources: Vec<(String, String)> = after["id_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        sources.contains(&("VAN-12".into(), "api".into())),
        "{sources:?}"
    );
    assert!(
        sources.contains(&("GOOD".into(), "config".into())),
        "{sources:?}"
    );
    assert!(
        after["local_list_version"].as_i64().is_some_and(|v| v > 1),
        "{after}"
    );
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    assert_eq!(authorize(&v201, "VAN-12").await, "Accepted");
}

#[tokio::test]
async fn bad_cards_are_refused_with_the_field_named() {
    let site = site();
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for (target, body, field) in [
        (
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "maybe"}),
            "status",
        ),
        ("/api/v1/id-tokens/CARD-1", json!({}), "status"),
        (
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "accepted", "pin": 1}),
            "pin",
        ),
        (
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "accepted", "expires": "tomorrow"}),
            "expires",
        ),
        (
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "accepted", "group": "CARD-1"}),
            "group",
        ),
        (
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "accepted", "type": "Passport"}),
            "type",
        ),
        (
            "/api/v1/id-tokens/CARD%201",
            json!({"status": "accepted"}),
            "id",
        ),
    ] {
        let (status, answer) = request(addr, "PUT", target, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (status, _) = request(addr, "GET", "/api/v1/id-tokens?limit=0", None).await;
    assert_eq!(status, 400);
    let (status, _) = request(addr, "GET", "/api/v1/id-tokens/NOBODY", None).await;
    assert_eq!(status, 404);
}

/// The site's local-list version now.
async fn site_list_version(daemon: &chargegate::daemon::Daemon) -> i64 {
    daemon
        .csms
        .store()
        .call(|c| chargegate::store::local_list_version(c))
        .await
        .unwrap()
}

/// The 2.0.1 charger got the whole list at `version`: the test site file's cards, each
/// with its verdict.
async fn check_full_list(v201: &SimChargePoint, version: i64) {
    let wait = std::time::Duration::from_secs(30);
    let full = v201
        .wait_for_call("SendLocalList", wait)
        .await
        .expect("a list");
    crate::common::schema_check::assert_valid("v201", "SendLocalList", false, &full.payload);
    assert_eq!(full.payload["updateType"], "Full");
    assert_eq!(full.payload["versionNumber"], version);
    let statuses: Vec<(String, String)> = full.payload["localAuthorizationList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["idToken"]["idToken"].as_str().unwrap().to_string(),
                e["idTokenInfo"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        ("GOOD", "Accepted"),
        ("BLOCKED", "Blocked"),
        ("OLD", "Expired"),
    ] {
        assert!(
            statuses.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {statuses:?}"
        );
    }
}

/// Use case D01 (Part 2, Send Local Authorization List): Part 6 has no CSMS test case for
/// block D ("intentionally blank"), so the test follows the use case.
#[tokio::test(start_paused = true)]
async fn d01_each_charger_gets_the_local_list_on_connect_and_after_every_change() {
    let site = site();
    let (daemon, clock) = site.start_virtual("2026-12-01T18:00:00Z").await;
    let v201 =
        crate::common::connect_virtual(&daemon, clock, "CS201-1", OcppVersion::V201, Vec::new())
            .await;
    let v16 =
        crate::common::connect_virtual(&daemon, clock, "CP16-1", OcppVersion::V16, Vec::new())
            .await;
    let wait = std::time::Duration::from_secs(30);
    let version = site_list_version(&daemon).await;
    for sim in [&v201, &v16] {
        sim.wait_for_call("GetLocalListVersion", wait)
            .await
            .expect("the charger is asked for its list version");
    }
    // The whole list, each card with its verdict: the test site file's GOOD, BLOCKED, OLD.
    check_full_list(&v201, version).await;
    let full16 = v16
        .wait_for_call("SendLocalList", wait)
        .await
        .expect("a list");
    crate::common::schema_check::assert_valid("v16", "SendLocalList", false, &full16.payload);
    assert_eq!(full16.payload["listVersion"], version);
    assert_eq!(full16.payload["updateType"], "Full");

    // A card added at run time reaches both within a poll, with the next version.
    daemon
        .csms
        .store()
        .call(|c| {
            chargegate::store::put_api_token(
                c,
                &chargegate::store::TokenRecord {
                    id: "VAN-3".into(),
                    status: "accepted".into(),
                    expires: None,
                    group: None,
                },
                None,
            )
        })
        .await
        .unwrap();
    for sim in [&v201, &v16] {
        let update = sim
            .wait_for_call("SendLocalList", wait)
            .await
            .unwrap_or_else(|| panic!("{} got the changed list", sim.id()));
        let text = update.payload.to_string();
        assert!(text.contains("VAN-3"), "{text}");
        assert!(text.contains(&(version + 1).to_string()), "{text}");
    }
    // Nothing changes: nothing is sent again.
    assert!(
        v201.wait_for_call("SendLocalList", wait).await.is_none(),
        "a list already held is not sent again"
    );
    v201.close().await;
    v16.close().await;
    daemon.stop().await;
}
