//! Device management over the HTTP API (issue 10): firmware updates and log uploads with
//! the charger's status notifications tracked, as the operator uses them: real loopback
//! HTTP to the real daemon, simulated chargers of both versions on loopback WebSocket.
//! What reaches a charger is checked against the official schemas; the statuses against
//! the store and `GET /api/v1/chargers/<id>`. Tests covering an OCPP 2.0.1 certification
//! case are named after it (part 6, chapter 3, CSMS role).

use std::net::SocketAddr;
use std::time::Duration;

use chargegate::config::UnknownChargers;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint, SimError, SimOptions};
use serde_json::{Value, json};

use crate::common::connect_settled;
use crate::operator_commands::{OPERATOR, VIEWER, post, received, request, site};

/// The 2.0.1 charger's report endpoint.
const REPORT: &str = "/api/v1/chargers/CS201-1/report";
/// How long the charger's status notifications may take to reach the store.
const SETTLE: Duration = Duration::from_secs(5);

/// `GET /api/v1/chargers/<id>`'s `field` once `done` holds for it; panics with the last
/// value after `SETTLE`.
async fn wait_for(addr: SocketAddr, id: &str, field: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/chargers/{id}");
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (status, body, _) = request(addr, "GET", &path, None, None).await;
        assert_eq!(status, 200, "{body}");
        if done(&body[field]) {
            return body[field].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: {field} never got there: {}",
            body[field]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The charger's event-log entries of `kind`, oldest first.
async fn events(daemon: &chargegate::daemon::Daemon, id: &str, kind: &str) -> Vec<String> {
    let (id, kind) = (id.to_string(), kind.to_string());
    daemon
        .csms
        .store()
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT detail FROM charger_events WHERE charger_id = ?1 AND kind = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map([id, kind], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
        .expect("store answers")
}

#[tokio::test]
async fn tc_l_01_secure_firmware_update_is_signed_and_each_status_is_tracked() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;

    let (status, body) = post(
        addr,
        "/api/v1/chargers/CS201-1/firmware",
        json!({
            "location": "https://files.example/fw-2.1.bin",
            "retrieve_at": "2030-01-01T00:00:00Z",
            "install_at": "2030-01-01T01:00:00Z",
            "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "signature": "c2lnbmF0dXJl",
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["accepted"]),
        (&json!("Accepted"), &json!(true))
    );
    let request_id = body["request_id"].as_i64().expect("a 2.0.1 requestId");
    let call = received(&sim, "UpdateFirmware").await;
    assert_eq!(call["requestId"], request_id);
    assert_eq!(
        call["firmware"],
        json!({
            "location": "https://files.example/fw-2.1.bin",
            "retrieveDateTime": "2030-01-01T00:00:00.000Z",
            "installDateTime": "2030-01-01T01:00:00.000Z",
            "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "signature": "c2lnbmF0dXJl",
        })
    );
    let update = wait_for(addr, "CS201-1", "firmware_update", |f| {
        f["status"] == "Installed"
    })
    .await;
    assert_eq!(update["request_id"], request_id);
    assert_eq!(update["location"], "https://files.example/fw-2.1.bin");
    assert!(update["updated"].is_string(), "{update}");
    // Every status is kept with its time, in order, naming the request.
    let history = events(&daemon, "CS201-1", "FirmwareStatus").await;
    let expected: Vec<String> = [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "Installed",
    ]
    .iter()
    .map(|s| format!("{s} (request {request_id})"))
    .collect();
    assert_eq!(history, expected);
    // The command is in the audit log with its sender.
    let (_, audit, _) = request(
        addr,
        "GET",
        "/api/v1/audit?action=UpdateFirmware",
        None,
        None,
    )
    .await;
    assert!(
        audit["entries"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("control-room")),
        "{audit}"
    );
}

#[tokio::test]
async fn a_1_6_firmware_update_is_plain_and_a_signed_one_is_refused() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;
    let path = "/api/v1/chargers/CP16-1/firmware";

    for (body, word) in [
        (
            json!({"location": "ftp://f.example/fw", "signing_certificate": "C", "signature": "S"}),
            "signature",
        ),
        (
            json!({"location": "ftp://f.example/fw", "install_at": "2030-01-01T00:00:00Z"}),
            "install_at",
        ),
    ] {
        let (status, answer) = post(addr, path, body).await;
        assert_eq!(status, 409, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(word), "{answer}");
    }
    assert!(
        sim.wait_for_call("UpdateFirmware", Duration::from_millis(300))
            .await
            .is_none(),
        "a refused update reached the charger"
    );

    let (status, body) = post(
        addr,
        path,
        json!({"location": "ftp://f.example/fw", "retrieve_at": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request_id"], Value::Null, "1.6 has no requestId");
    assert_eq!(
        received(&sim, "UpdateFirmware").await,
        json!({"location": "ftp://f.example/fw", "retrieveDate": "2030-01-01T00:00:00.000Z"})
    );
    let update = wait_for(addr, "CP16-1", "firmware_update", |f| {
        f["status"] == "Installed"
    })
    .await;
    assert_eq!(update["request_id"], Value::Null);
    assert_eq!(update["location"], "ftp://f.example/fw");
    assert_eq!(
        events(&daemon, "CP16-1", "FirmwareStatus").await,
        ["Downloading", "Downloaded", "Installing", "Installed"]
    );
}

#[tokio::test]
async fn tc_n_25_retrieve_log_diagnostics_log_for_both_versions() {
    let site = site(false);
    let daemon = site.start().await;
    let v201 = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;
    let body = json!({"log_type": "DiagnosticsLog", "location": "https://logs.example/up/"});

    let (status, answer) = post(addr, "/api/v1/chargers/CS201-1/logs", body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["file_name"], "CS201-1-diagnostics.log");
    let request_id = answer["request_id"].as_i64().expect("a requestId");
    assert_eq!(
        received(&v201, "GetLog").await,
        json!({"log": {"remoteLocation": "https://logs.example/up/"},
               "logType": "DiagnosticsLog", "requestId": request_id})
    );
    let upload = wait_for(addr, "CS201-1", "log_upload", |l| l["status"] == "Uploaded").await;
    assert_eq!(upload["request_id"], request_id);
    assert_eq!(upload["file_name"], "CS201-1-diagnostics.log");

    let (status, answer) = post(addr, "/api/v1/chargers/CP16-1/logs", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        received(&v16, "GetDiagnostics").await,
        json!({"location": "https://logs.example/up/"})
    );
    let upload = wait_for(addr, "CP16-1", "log_upload", |l| l["status"] == "Uploaded").await;
    assert_eq!(upload["file_name"], "CP16-1-diagnostics.log");
    assert_eq!(
        events(&daemon, "CP16-1", "DiagnosticsStatus").await,
        ["Uploading", "Uploaded"]
    );

    // 1.6 has no security log; 2.0.1 does.
    let security = json!({"log_type": "SecurityLog", "location": "https://logs.example/up/"});
    let (status, answer) = post(addr, "/api/v1/chargers/CP16-1/logs", security.clone()).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("SecurityLog"),
        "{answer}"
    );
    let (status, answer) = post(addr, "/api/v1/chargers/CS201-1/logs", security).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(received(&v201, "GetLog").await["logType"], "SecurityLog");
}

#[tokio::test]
async fn firmware_and_logs_refuse_bad_bodies_naming_the_field() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let firmware = "/api/v1/chargers/CS201-1/firmware";
    let logs = "/api/v1/chargers/CS201-1/logs";

    for (path, body, field) in [
        (
            firmware,
            json!({"location": "files.example/fw"}),
            "location",
        ),
        (
            firmware,
            json!({"location": "file:///etc/passwd"}),
            "location",
        ),
        (
            firmware,
            json!({"location": format!("https://h/{}", "a".repeat(600))}),
            "location",
        ),
        (
            firmware,
            json!({"location": "https://h/f", "colour": 1}),
            "colour",
        ),
        (firmware, json!({}), "location"),
        (
            firmware,
            json!({"location": "https://h/f", "signature": "S"}),
            "signing_certificate",
        ),
        (
            firmware,
            json!({"location": "https://h/f", "retrieve_at": "soon"}),
            "retrieve_at",
        ),
        (
            logs,
            json!({"log_type": "AllTheLogs", "location": "https://h/"}),
            "log_type",
        ),
        (
            logs,
            json!({"log_type": "DiagnosticsLog", "location": "h"}),
            "location",
        ),
    ] {
        let (status, answer) = post(addr, path, body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    let (status, _, _) = request(addr, "POST", firmware, Some(OPERATOR), Some("{not json")).await;
    assert_eq!(status, 400);
    assert!(
        sim.wait_for_call("UpdateFirmware", Duration::from_millis(300))
            .await
            .is_none(),
        "bad input reached the charger"
    );
}

#[tokio::test]
async fn firmware_and_logs_answer_strangers_offline_chargers_and_refusals() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let firmware = "/api/v1/chargers/CS201-1/firmware";
    let logs = "/api/v1/chargers/CS201-1/logs";
    let good = json!({"location": "https://h/f"}).to_string();
    let (status, _, _) = request(addr, "POST", firmware, None, Some(&good)).await;
    assert_eq!(status, 401);
    let (status, _, _) = request(addr, "POST", firmware, Some(VIEWER), Some(&good)).await;
    assert_eq!(status, 403);
    let (status, answer) = post(
        addr,
        "/api/v1/chargers/NOBODY/firmware",
        json!({"location": "https://h/f"}),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = post(
        addr,
        "/api/v1/chargers/CP16-2/logs",
        json!({"log_type": "DiagnosticsLog", "location": "https://h/"}),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("offline"),
        "{answer}"
    );

    // A refusal is the charger's answer, and the request's stored status.
    sim.set_reply_policy(ReplyPolicy::Reject);
    let (status, answer) = post(addr, firmware, json!({"location": "https://h/f"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], false);
    let update = wait_for(addr, "CS201-1", "firmware_update", |f| {
        f["status"] == "Rejected"
    })
    .await;
    assert_eq!(update["location"], "https://h/f");
    // A charger that does not answer: 504, and the request is marked so.
    sim.set_reply_policy(ReplyPolicy::Ignore);
    let (status, answer) = post(
        addr,
        logs,
        json!({"log_type": "DiagnosticsLog", "location": "https://h/"}),
    )
    .await;
    assert_eq!(status, 504, "{answer}");
    wait_for(addr, "CS201-1", "log_upload", |l| {
        l["status"] == "NotAnswered"
    })
    .await;
}

/// A stranger of `version` connected without credentials (admitted Pending) and booted.
async fn stranger(
    daemon: &chargegate::daemon::Daemon,
    id: &str,
    version: OcppVersion,
) -> (SimChargePoint, Value) {
    let opts = SimOptions::new(crate::common::url(daemon), id, &[version]);
    let sim = SimChargePoint::connect(opts)
        .await
        .expect("admitted as Pending");
    let boot = sim.boot().await.expect("boot answered");
    crate::common::schema_check::assert_valid(
        if version == OcppVersion::V16 {
            "v16"
        } else {
            "v201"
        },
        "BootNotification",
        true,
        &boot,
    );
    (sim, boot)
}

#[tokio::test]
async fn tc_b_02_a_pending_charger_accepted_by_the_operator_boots_accepted_for_good() {
    let mut site = site(false);
    site.config.csms.unknown_chargers = UnknownChargers::Pending;
    let daemon = site.start().await;
    let addr = daemon.http_addr;

    for (id, version) in [("NEW16", OcppVersion::V16), ("NEW201", OcppVersion::V201)] {
        let path = format!("/api/v1/chargers/{id}/accept");
        let (status, body) = post(addr, &path, json!({})).await;
        assert_eq!(status, 404, "never seen: {body}");
        let (sim, boot) = stranger(&daemon, id, version).await;
        assert_eq!(boot["status"], "Pending");
        assert!(
            matches!(
                sim.status(1, "Available").await,
                Err(SimError::CallError { .. })
            ),
            "a Pending charger's status is not processed"
        );
        let (status, _, _) = request(addr, "POST", &path, Some(VIEWER), Some("{}")).await;
        assert_eq!(status, 403);
        let (status, _, _) = request(addr, "POST", &path, Some(OPERATOR), Some("{\"x\": 1}")).await;
        assert_eq!(status, 400);
        let (status, body) = post(addr, &path, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["accepted"], &body["connected"]),
            (&json!(true), &json!(true))
        );
        let (status, body) = post(addr, &path, json!({})).await;
        assert_eq!(status, 409, "accepted twice: {body}");

        // Its next boot, on the same connection, is Accepted and its events count.
        assert_eq!(sim.boot().await.expect("boot")["status"], "Accepted");
        sim.status(1, "Available")
            .await
            .expect("processed once accepted");
        sim.close().await;
        // A reconnect without a boot (1.6 allows it) is accepted too.
        let opts = SimOptions::new(crate::common::url(&daemon), id, &[version]);
        let again = SimChargePoint::connect(opts).await.expect("reconnects");
        again
            .status(1, "Available")
            .await
            .expect("accepted on reconnect");
        again.close().await;
    }
    let (status, body) = post(addr, "/api/v1/chargers/CP16-1/accept", json!({})).await;
    assert_eq!(status, 409, "in the site file: {body}");
    daemon.stop().await;

    // Persisted: after a restart of chargegate its boot is Accepted at once.
    let daemon = site.start().await;
    let (sim, boot) = stranger(&daemon, "NEW16", OcppVersion::V16).await;
    assert_eq!(boot["status"], "Accepted");
    let registration = daemon
        .csms
        .store()
        .call(|c| chargegate::store::chargers(c))
        .await
        .expect("store answers")
        .into_iter()
        .find(|c| c.id == "NEW16")
        .map(|c| c.registration);
    assert_eq!(registration.as_deref(), Some("accepted"));
    sim.close().await;
    daemon.stop().await;
}

/// `GET .../report/<request_id>`: its status code and body.
async fn report(addr: SocketAddr, id: &str, request_id: i64) -> (u16, Value) {
    let path = format!("/api/v1/chargers/{id}/report/{request_id}");
    let (status, body, _) = request(addr, "GET", &path, None, None).await;
    (status, body)
}

fn part(request_id: i64, seq_no: u32, tbc: bool, names: &[&str]) -> Value {
    let data: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": n},
                        "variableAttribute": [{"value": "1"}]})
        })
        .collect();
    let payload = json!({"requestId": request_id, "generatedAt": "2030-01-01T00:00:00Z",
                         "seqNo": seq_no, "tbc": tbc, "reportData": data});
    crate::common::schema_check::assert_valid("v201", "NotifyReport", false, &payload);
    payload
}

#[tokio::test]
async fn tc_b_13_get_base_report_full_inventory_is_assembled_from_its_parts() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;

    // The simulator sends its 10 variables in parts of 4.
    let (status, body) = post(addr, REPORT, json!({"base": "FullInventory"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "Accepted");
    let request_id = body["request_id"].as_i64().expect("a requestId");
    assert_eq!(
        received(&sim, "GetBaseReport").await,
        json!({"requestId": request_id, "reportBase": "FullInventory"})
    );
    let deadline = tokio::time::Instant::now() + SETTLE;
    let complete = loop {
        let (status, body) = report(addr, "CS201-1", request_id).await;
        if status == 200 {
            break body;
        }
        assert_eq!(
            (status, &body["status"]),
            (202, &json!("incomplete")),
            "{body}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "never complete: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(complete["status"], "complete", "{complete}");
    assert_eq!(complete["parts"], 3);
    let variables = complete["variables"].as_array().expect("variables");
    assert_eq!(variables.len(), 10, "{complete}");
    assert!(variables.contains(
        &json!({"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "300"})
    ));
}

#[tokio::test]
async fn tc_b_12_get_base_report_parts_out_of_order_and_before_the_answer() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;

    // The station sends its parts, the last one first, and never answers the request.
    sim.set_reply_policy(ReplyPolicy::Ignore);
    let pending = tokio::spawn(post(
        addr,
        REPORT,
        json!({"base": "ConfigurationInventory"}),
    ));
    let call = received(&sim, "GetBaseReport").await;
    assert_eq!(call["reportBase"], "ConfigurationInventory");
    let id = call["requestId"].as_i64().expect("a requestId");
    sim.call("NotifyReport", part(id, 1, false, &["B"]))
        .await
        .expect("part 1 acknowledged");
    let (status, body) = report(addr, "CS201-1", id).await;
    assert_eq!(
        (status, &body["status"], &body["parts"]),
        (202, &json!("incomplete"), &json!(1))
    );
    assert_eq!(body["variables"], Value::Null);
    sim.call("NotifyReport", part(id, 0, true, &["A"]))
        .await
        .expect("part 0 acknowledged");
    let (status, body) = report(addr, "CS201-1", id).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variable"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B"], "in seqNo order");
    let (status, _) = pending.await.unwrap();
    assert_eq!(status, 504, "the station never answered");
    assert_eq!(report(addr, "CS201-1", id).await.1["status"], "complete");
}

#[tokio::test]
async fn a_report_is_2_0_1_only_and_refusals_and_strangers_get_their_answers() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let _v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let addr = daemon.http_addr;

    // Parts of a report nobody asked for are not assembled; unknown and bad ids.
    sim.call("NotifyReport", part(4242, 0, false, &["X"]))
        .await
        .expect("acknowledged");
    assert_eq!(report(addr, "CS201-1", 4242).await.0, 404);
    let bad_id = "/api/v1/chargers/CS201-1/report/abc";
    assert_eq!(request(addr, "GET", bad_id, None, None).await.0, 400);
    // 1.6 has no GetBaseReport; bad bodies name the field.
    let v16 = "/api/v1/chargers/CP16-1/report";
    let (status, body) = post(addr, v16, json!({"base": "FullInventory"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(addr, REPORT, json!({"base": "Everything"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("base"), "{body}");
    let (status, _, _) = request(addr, "POST", REPORT, Some(VIEWER), Some("{}")).await;
    assert_eq!(status, 403);
    // A refusal is the station's answer, and stored as such.
    sim.set_reply_policy(ReplyPolicy::Reject);
    let (status, body) = post(addr, REPORT, json!({"base": "SummaryInventory"})).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(false)), "{body}");
    let rejected = body["request_id"].as_i64().unwrap();
    assert_eq!(
        report(addr, "CS201-1", rejected).await.1["status"],
        "rejected"
    );
}

/// The operator's Inoperative scopes in the store, as (charger, evse, connector).
async fn inoperative(daemon: &chargegate::daemon::Daemon) -> Vec<(String, u32, u32)> {
    daemon
        .csms
        .store()
        .call(|c| {
            let mut stmt = c.prepare(
                "SELECT charger_id, evse_id, connector_id FROM availability ORDER BY charger_id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("store answers")
}

#[tokio::test]
async fn tc_g_03_and_tc_g_04_inoperative_is_sent_again_after_a_reboot() {
    let site = site(false);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let cases = [
        // TC_G_03: one EVSE of a 2.0.1 station.
        (
            "CS201-1",
            OcppVersion::V201,
            json!({"evse": 1, "operative": false}),
            json!({"operationalStatus": "Inoperative", "evse": {"id": 1}}),
        ),
        // TC_G_04's 1.6 counterpart: the whole charge point (connector 0).
        (
            "CP16-1",
            OcppVersion::V16,
            json!({"operative": false}),
            json!({"connectorId": 0, "type": "Inoperative"}),
        ),
    ];
    for (id, version, body, expected) in &cases {
        let sim = connect_settled(&daemon, id, *version).await;
        sim.boot().await.expect("boot");
        let (status, answer) = post(
            addr,
            &format!("/api/v1/chargers/{id}/availability"),
            body.clone(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(&received(&sim, "ChangeAvailability").await, expected);
        // Set after this boot, an Available report is the charger's business (it may be
        // Scheduled behind a transaction): nothing is sent again.
        sim.status(1, "Available").await.expect("status");
        assert!(
            sim.wait_for_call("ChangeAvailability", Duration::from_millis(300))
                .await
                .is_none(),
            "{id}: sent again without a reboot"
        );
        sim.close().await;

        // The charger reboots having forgotten: ChangeAvailability goes out again, once.
        let rebooted = connect_settled(&daemon, id, *version).await;
        rebooted.boot().await.expect("boot");
        rebooted.status(1, "Available").await.expect("status");
        assert_eq!(&received(&rebooted, "ChangeAvailability").await, expected);
        rebooted.status(1, "Available").await.expect("status");
        assert!(
            rebooted
                .wait_for_call("ChangeAvailability", Duration::from_millis(300))
                .await
                .is_none(),
            "{id}: sent once per boot, not per status"
        );
        let count = rebooted
            .received_calls()
            .iter()
            .filter(|c| c.action == "ChangeAvailability")
            .count();
        assert_eq!(count, 1, "{id}: sent once per boot, not per status");
        rebooted.close().await;
    }
    assert_eq!(
        inoperative(&daemon).await,
        [("CP16-1".to_string(), 0, 0), ("CS201-1".to_string(), 1, 0)]
    );
    let audit = crate::common::audit_tail(&daemon, 50).await;
    assert!(audit.contains("persists across reboots"), "{audit}");
}

#[tokio::test]
async fn an_availability_set_operative_again_or_refused_is_not_kept() {
    let site = site(false);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let path = "/api/v1/chargers/CS201-1/availability";
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let (status, answer) = post(addr, path, json!({"evse": 1, "operative": false})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(inoperative(&daemon).await, [("CS201-1".to_string(), 1, 0)]);
    // Operative again: forgotten, so a later reboot leaves the charger alone.
    let (status, answer) = post(addr, path, json!({"evse": 1, "operative": true})).await;
    assert_eq!(status, 200, "{answer}");
    sim.close().await;
    assert!(inoperative(&daemon).await.is_empty());
    let again = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    again.boot().await.expect("boot");
    again.status(1, "Available").await.expect("status");
    assert!(
        again
            .wait_for_call("ChangeAvailability", Duration::from_millis(500))
            .await
            .is_none(),
        "an Operative EVSE is left alone"
    );
    // A refused change is not kept.
    again.set_reply_policy(ReplyPolicy::Reject);
    let (status, answer) = post(addr, path, json!({"operative": false})).await;
    assert_eq!(
        (status, &answer["accepted"]),
        (200, &json!(false)),
        "{answer}"
    );
    assert!(inoperative(&daemon).await.is_empty());
}
