//! Billing over the HTTP API (issue 10): simulated chargers of both OCPP versions charge
//! with meter registers the test knows, and `GET /api/v1/transactions` gives them back to
//! the Wh, as JSON and as CSV, with the signed meter values verbatim and the cost under
//! the configured tariff. A transaction a rebooted charger forgot is closed and never
//! locks its card out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chargegate::daemon::Daemon;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{PASSWORD, Site, schema_check, url};

/// Status, head and body of a GET with extra header lines.
async fn http_get(addr: SocketAddr, target: &str, headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("HTTP connects");
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers")
        .unwrap();
    let text = String::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

async fn get_json(daemon: &Daemon, target: &str) -> (u16, Value) {
    let (status, _, body) = http_get(daemon.http_addr, target, "").await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, json)
}

/// An RFC 4180 parser, independent of the one that wrote the file: records of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "every record ends in CRLF"
    );
    records
}

/// The CSV's records as maps from the header's names.
fn csv_maps(text: &str) -> Vec<HashMap<String, String>> {
    let mut records = parse_csv(text).into_iter();
    let header = records.next().expect("a header row");
    records
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            header.iter().cloned().zip(r).collect()
        })
        .collect()
}

async fn connect(daemon: &Daemon, id: &str, version: OcppVersion) -> SimChargePoint {
    let mut opts = SimOptions::new(url(daemon), id, &[version]);
    opts.password = Some(PASSWORD.into());
    SimChargePoint::connect(opts)
        .await
        .expect("charger connects")
}

async fn booted(daemon: &Daemon, id: &str, version: OcppVersion) -> SimChargePoint {
    let sim = connect(daemon, id, version).await;
    sim.boot().await.expect("boot");
    sim
}

/// The authorization status in a response of either version.
fn status(response: &Value) -> &str {
    let info = response
        .get("idTagInfo")
        .or_else(|| response.get("idTokenInfo"))
        .unwrap_or_else(|| panic!("no token info in {response}"));
    info["status"].as_str().unwrap()
}

/// A session the test ran, as the charger's meter register saw it.
#[derive(Debug)]
struct Session {
    charger: &'static str,
    token: &'static str,
    start_wh: i64,
    stop_wh: i64,
}

/// One charge from `start_wh` to `stop_wh` in an hour that began `hours_ago`, with a
/// reading in between; the token's status in the start's answer.
async fn charge(
    sim: &SimChargePoint,
    token: &str,
    start_wh: i64,
    stop_wh: i64,
    hours_ago: i64,
) -> String {
    let start = Utc::now() - chrono::Duration::hours(hours_ago);
    let tx = sim
        .start_transaction(1, token, start_wh, start)
        .await
        .unwrap();
    let middle = (start_wh + stop_wh) as f64 / 2.0;
    sim.meter_values(1, &tx.key, middle, &[16.0, 16.0, 16.0])
        .await
        .unwrap();
    sim.stop_transaction(
        &tx.key,
        stop_wh,
        "EVDisconnected",
        start + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    status(&tx.response).to_string()
}

/// The site's tariff: one price all day, so the test knows each session's cost.
const PRICE_PER_KWH: f64 = 0.25;

fn site() -> Site {
    let mut site = Site::new("");
    site.config.planner.default_price_per_kwh = PRICE_PER_KWH;
    site.config.planner.tariffs.clear();
    site
}

/// A CSV record holds the session as the charger's register saw it, to the Wh, priced.
fn assert_row_is(row: &HashMap<String, String>, s: &Session) {
    let wh = |name: &str| -> i64 {
        row[name]
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{name} in {row:?}")) as i64
    };
    assert_eq!(row["charger"], s.charger);
    assert_eq!(row["id_token"], s.token);
    assert_eq!(row["evse"], "1");
    assert_eq!(row["status"], "closed");
    assert_eq!(row["stop_reason"], "EVDisconnected");
    assert_eq!(row["closed_by"], "charger");
    assert_eq!(wh("meter_start_wh"), s.start_wh, "{row:?}");
    assert_eq!(wh("meter_stop_wh"), s.stop_wh, "{row:?}");
    assert_eq!(wh("energy_wh"), s.stop_wh - s.start_wh, "{row:?}");
    let cost: f64 = row["cost"].parse().unwrap();
    let want = (s.stop_wh - s.start_wh) as f64 / 1000.0 * PRICE_PER_KWH;
    assert!((cost - want).abs() < 0.0001, "cost {cost} want {want}");
    for time in ["start", "stop"] {
        assert!(DateTime::parse_from_rfc3339(&row[time]).is_ok(), "{row:?}");
    }
}

#[tokio::test]
async fn the_csv_export_matches_the_chargers_meter_registers_to_the_wh_in_both_versions() {
    let site = site();
    let daemon = site.start().await;
    let cp16 = booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let cs201 = booted(&daemon, "CS201-1", OcppVersion::V201).await;
    // Registers with odd Wh, so a rounding or a kWh slip shows.
    let sessions = [
        Session {
            charger: "CP16-1",
            token: "GOOD",
            start_wh: 1_234_567,
            stop_wh: 1_241_889,
        },
        Session {
            charger: "CS201-1",
            token: "GOOD",
            start_wh: 98_001,
            stop_wh: 119_437,
        },
        Session {
            charger: "CP16-1",
            token: "GOOD",
            start_wh: 1_241_889,
            stop_wh: 1_250_002,
        },
        Session {
            charger: "CS201-1",
            token: "GOOD",
            start_wh: 119_437,
            stop_wh: 119_438,
        },
    ];
    for (i, s) in sessions.iter().enumerate() {
        let sim = if s.charger == "CP16-1" { &cp16 } else { &cs201 };
        let answer = charge(sim, s.token, s.start_wh, s.stop_wh, 8 - i as i64).await;
        assert_eq!(answer, "Accepted");
    }

    for (target, accept) in [
        ("/api/v1/transactions?format=csv", ""),
        ("/api/v1/transactions", "Accept: text/csv\r\n"),
    ] {
        let (code, head, body) = http_get(daemon.http_addr, target, accept).await;
        assert_eq!(code, 200, "{body}");
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: text/csv; charset=utf-8"),
            "{head}"
        );
        assert!(
            head.contains("content-disposition: attachment; filename="),
            "{head}"
        );
        let rows = csv_maps(&body);
        assert_eq!(rows.len(), sessions.len(), "{body}");
        for (row, s) in rows.iter().zip(&sessions) {
            assert_row_is(row, s);
        }
    }

    // The JSON has the same numbers, under the contract's names.
    let (code, page) = get_json(&daemon, "/api/v1/transactions?charger=CS201-1").await;
    assert_eq!(code, 200);
    let list = page["transactions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{page}");
    assert_eq!(list[0]["meter_start_wh"], json!(98_001.0));
    assert_eq!(list[0]["meter_stop_wh"], json!(119_437.0));
    assert_eq!(list[0]["energy_wh"], json!(21_436.0));
    assert_eq!(page["next_after"], Value::Null);
    cp16.close().await;
    cs201.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn filters_and_pages_select_the_sessions_an_export_asks_for() {
    let site = site();
    let daemon = site.start().await;
    let cp16 = booted(&daemon, "CP16-2", OcppVersion::V16).await;
    let cs201 = booted(&daemon, "CS201-2", OcppVersion::V201).await;
    charge(&cp16, "GOOD", 0, 1_000, 30).await; // started 30 h ago
    charge(&cs201, "GOOD", 0, 2_000, 20).await;
    // An expired card: the charger is told, and what it did is on record all the same.
    assert_eq!(charge(&cp16, "OLD", 1_000, 4_000, 10).await, "Expired");
    charge(&cs201, "GOOD", 2_000, 5_000, 5).await;
    let ids = |page: &Value| -> Vec<i64> {
        page["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    let (_, all) = get_json(&daemon, "/api/v1/transactions").await;
    let all = ids(&all);
    assert_eq!(
        all.len(),
        4,
        "a refused start is still a record the charger made"
    );

    let (_, cp) = get_json(&daemon, "/api/v1/transactions?charger=CP16-2").await;
    assert_eq!(ids(&cp), [all[0], all[2]]);
    let (_, card) = get_json(&daemon, "/api/v1/transactions?id-token=OLD").await;
    assert_eq!(ids(&card), [all[2]]);
    let from = chargegate::ocpp::time::format(&(Utc::now() - chrono::Duration::hours(25)));
    let to = chargegate::ocpp::time::format(&(Utc::now() - chrono::Duration::hours(7)));
    let window = format!("/api/v1/transactions?from={from}&to={to}");
    let (_, window_page) = get_json(&daemon, &window).await;
    assert_eq!(ids(&window_page), [all[1], all[2]]);

    // Page by page, following `next_after` and the Link header.
    let (_, head, _) = http_get(daemon.http_addr, "/api/v1/transactions?limit=5", "").await;
    assert!(
        !head.to_ascii_lowercase().contains("link:"),
        "not a full page"
    );
    let (code, head, body) = http_get(
        daemon.http_addr,
        "/api/v1/transactions?id-token=GOOD&limit=2",
        "",
    )
    .await;
    assert_eq!(code, 200);
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ids(&first), [all[0], all[1]]);
    assert_eq!(first["next_after"], json!(all[1]));
    let link = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("link:"))
        .expect("a Link header on a full page");
    let next = link
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(target, _)| target.to_string())
        .unwrap();
    assert!(next.contains("id-token=GOOD"), "{next}");
    let (_, second) = get_json(&daemon, &next).await;
    assert_eq!(ids(&second), [all[3]]);
    assert_eq!(second["next_after"], Value::Null);
    cp16.close().await;
    cs201.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn bad_queries_get_a_400_naming_the_field() {
    let site = site();
    let daemon = site.start().await;
    for (target, field) in [
        ("/api/v1/transactions?chargr=CP16-1", "chargr"),
        ("/api/v1/transactions?from=yesterday", "from"),
        ("/api/v1/transactions?to=2026-13-01T00:00:00Z", "to"),
        (
            "/api/v1/transactions?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            "to",
        ),
        ("/api/v1/transactions?limit=0", "limit"),
        ("/api/v1/transactions?limit=1001", "limit"),
        ("/api/v1/transactions?limit=ten", "limit"),
        ("/api/v1/transactions?after=x", "after"),
        ("/api/v1/transactions?format=xml", "format"),
        ("/api/v1/transactions?charger=a%20b", "charger"),
        (
            "/api/v1/transactions?id-token=0123456789012345678901234567890123456789",
            "id-token",
        ),
        ("/api/v1/transactions/abc", "id"),
    ] {
        let (code, body) = get_json(&daemon, target).await;
        assert_eq!(code, 400, "{target}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(field), "{target}: {message}");
    }
    let (code, body) = get_json(&daemon, "/api/v1/transactions/999").await;
    assert_eq!((code, body["error"].is_string()), (404, true));
    daemon.stop().await;
}

/// An OCMF-like signed reading: commas and quotes, as real ones have, so the CSV must quote.
fn ocmf(register_kwh: &str) -> String {
    format!(
        "OCMF|{{\"FV\":\"1.0\",\"GI\":\"SIM\",\"RD\":[{{\"TM\":\"2026-11-30T10:00:00,000+0000 S\",\"RV\":{register_kwh},\"RU\":\"kWh\"}}]}}|{{\"SA\":\"ECDSA-secp256r1-SHA256\",\"SD\":\"3045022100AB\"}}"
    )
}

#[tokio::test]
async fn tc_e_11_signed_meter_values_are_stored_verbatim_and_exported_with_the_session() {
    let site = site();
    let daemon = site.start().await;
    let at = Utc::now() - chrono::Duration::hours(1);
    let stamp = chargegate::ocpp::time::format(&at);
    let end = chargegate::ocpp::time::format(&(at + chrono::Duration::minutes(30)));

    // 2.0.1 (TC_E_11_CSMS, start option DataSigned): signedMeterValue beside the
    // Transaction.Begin and Transaction.End readings.
    let cs = booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let signed_value = |kwh: &str, wh: f64, context: &str, time: &str| {
        json!({"timestamp": time, "sampledValue": [{
            "value": wh, "context": context, "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh"},
            "signedMeterValue": {"signedMeterData": ocmf(kwh),
                "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
                "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}}]})
    };
    let started = json!({
        "eventType": "Started", "timestamp": stamp, "triggerReason": "SignedDataReceived", "seqNo": 0,
        "transactionInfo": {"transactionId": "sig-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1}, "idToken": {"idToken": "GOOD", "type": "ISO14443"},
        "meterValue": [signed_value("10.000", 10_000.0, "Transaction.Begin", &stamp)]
    });
    let ended = json!({
        "eventType": "Ended", "timestamp": end, "triggerReason": "EVCommunicationLost",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "sig-1", "stoppedReason": "EVDisconnected"},
        "meterValue": [signed_value("17.250", 17_250.0, "Transaction.End", &end)]
    });
    for payload in [started, ended] {
        schema_check::assert_valid("v201", "TransactionEvent", false, &payload);
        cs.call("TransactionEvent", payload).await.unwrap();
    }

    // 1.6: SignedData sampled values in StopTransaction's transactionData (§7.49).
    let cp = booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let tx = cp.start_transaction(1, "GOOD", 5_000, at).await.unwrap();
    let data = |kwh: &str, context: &str, time: &str| {
        json!({"timestamp": time, "sampledValue": [
            {"value": ocmf(kwh), "format": "SignedData", "context": context},
            {"value": "0", "context": context}]})
    };
    let stop = json!({
        "transactionId": tx.key.parse::<i64>().unwrap(), "meterStop": 6_500, "timestamp": end,
        "reason": "EVDisconnected",
        "transactionData": [data("5.000", "Transaction.Begin", &stamp),
                            data("6.500", "Transaction.End", &end)]
    });
    schema_check::assert_valid("v16", "StopTransaction", false, &stop);
    cp.call("StopTransaction", stop).await.unwrap();

    let (_, body) = get_json(&daemon, "/api/v1/transactions").await;
    let list = body["transactions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{body}");
    for (entry, (begin, finish)) in list.iter().zip([("10.000", "17.250"), ("5.000", "6.500")]) {
        assert_eq!(
            entry["signed_start"]["signed_meter_data"],
            json!(ocmf(begin))
        );
        assert_eq!(
            entry["signed_stop"]["signed_meter_data"],
            json!(ocmf(finish))
        );
        let id = entry["id"].as_i64().unwrap();
        let (code, one) = get_json(&daemon, &format!("/api/v1/transactions/{id}")).await;
        assert_eq!(code, 200);
        let all = one["signed_meter_values"].as_array().unwrap();
        assert_eq!(all.len(), 2, "{one}");
        assert_eq!(all[1]["context"], "Transaction.End");
    }
    assert_eq!(list[0]["signed_stop"]["encoding_method"], "OCMF");
    assert_eq!(list[0]["signed_stop"]["value"], json!(17_250.0));
    assert_eq!(list[0]["energy_wh"], json!(7_250.0));
    assert_eq!(list[1]["energy_wh"], json!(1_500.0));

    let (_, _, csv) = http_get(daemon.http_addr, "/api/v1/transactions?format=csv", "").await;
    let rows = csv_maps(&csv);
    assert_eq!(rows[0]["signed_start"], ocmf("10.000"));
    assert_eq!(rows[0]["signed_stop"], ocmf("17.250"));
    assert_eq!(rows[0]["encoding_method"], "OCMF");
    assert_eq!(rows[1]["signed_stop"], ocmf("6.500"));
    cs.close().await;
    cp.close().await;
    daemon.stop().await;
}

/// The billing record of the transaction with OCPP id `key` on `charger`.
async fn record(daemon: &Daemon, charger: &str, key: &str) -> Value {
    let (_, page) = get_json(daemon, &format!("/api/v1/transactions?charger={charger}")).await;
    page["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ocpp_transaction_id"] == key)
        .unwrap_or_else(|| panic!("no transaction {key} in {page}"))
        .clone()
}

async fn wait_disconnected(daemon: &Daemon, charger: &str) {
    for _ in 0..200 {
        let chargers = daemon
            .csms
            .store()
            .call(|c| chargegate::store::chargers(c))
            .await
            .unwrap();
        if chargers.iter().any(|c| c.id == charger && !c.connected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{charger} is still connected");
}

#[tokio::test]
async fn a_16_charger_that_rebooted_mid_session_gets_the_same_card_accepted_again() {
    let site = site();
    let daemon = site.start().await;
    let sim = booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let start = Utc::now() - chrono::Duration::minutes(30);
    let old = sim
        .start_transaction(1, "GOOD", 40_000, start)
        .await
        .unwrap();
    sim.meter_values(1, &old.key, 42_500.0, &[16.0, 16.0, 16.0])
        .await
        .unwrap();
    // While the session runs, the card is busy elsewhere (a depot card charges once).
    let other = booted(&daemon, "CP16-2", OcppVersion::V16).await;
    assert_eq!(
        status(&other.authorize("GOOD").await.unwrap()),
        "ConcurrentTx"
    );

    // The charger loses power and comes back: it boots and forgot the session.
    sim.close().await;
    wait_disconnected(&daemon, "CP16-1").await;
    // Gone, its stale session locks nobody out.
    assert_eq!(status(&other.authorize("GOOD").await.unwrap()), "Accepted");
    let sim = booted(&daemon, "CP16-1", OcppVersion::V16).await;
    assert_eq!(status(&sim.authorize("GOOD").await.unwrap()), "Accepted");
    let closed = record(&daemon, "CP16-1", &old.key).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closed_by"], "boot");
    assert_eq!(closed["stop_reason"], "Reboot");
    assert_eq!(closed["meter_stop_wh"], json!(42_500.0), "the last reading");
    assert_eq!(closed["energy_wh"], json!(2_500.0));
    let new = sim
        .start_transaction(1, "GOOD", 42_600, Utc::now())
        .await
        .unwrap();
    assert_eq!(status(&new.response), "Accepted");
    assert_ne!(new.key, old.key);

    // The charger kept the old stop in its queue (1.6 §5.14) and sends it late: its own
    // values replace chargegate's.
    let late = sim
        .stop_transaction(
            &old.key,
            42_600,
            "PowerLoss",
            start + chrono::Duration::minutes(20),
        )
        .await
        .unwrap();
    assert_eq!(late, json!({}), "accepted, no idTagInfo asked for");
    let corrected = record(&daemon, "CP16-1", &old.key).await;
    assert_eq!(corrected["closed_by"], "charger");
    assert_eq!(corrected["stop_reason"], "PowerLoss");
    assert_eq!(corrected["meter_stop_wh"], json!(42_600.0));
    assert_eq!(corrected["energy_wh"], json!(2_600.0));
    assert_eq!(record(&daemon, "CP16-1", &new.key).await["status"], "open");
    sim.close().await;
    other.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_new_transaction_on_the_connector_closes_the_one_a_charger_forgot_without_a_boot() {
    let site = site();
    let daemon = site.start().await;
    let sim = booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let old = sim
        .start_transaction(1, "GOOD", 1_000, Utc::now())
        .await
        .unwrap();
    sim.meter_values(1, &old.key, 1_800.0, &[10.0])
        .await
        .unwrap();
    sim.close().await;
    // It reconnects without a boot and starts on the same connector: the old one ended.
    let sim = connect(&daemon, "CP16-1", OcppVersion::V16).await;
    let new = sim
        .start_transaction(1, "GOOD", 1_900, Utc::now())
        .await
        .unwrap();
    assert_eq!(status(&new.response), "Accepted");
    let closed = record(&daemon, "CP16-1", &old.key).await;
    assert_eq!(
        (
            &closed["closed_by"],
            &closed["stop_reason"],
            &closed["meter_stop_wh"]
        ),
        (&json!("new-transaction"), &json!("Other"), &json!(1_800.0))
    );
    assert_eq!(record(&daemon, "CP16-1", &new.key).await["status"], "open");
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_201_station_keeps_its_transaction_over_a_reconnect_and_ends_it_itself_after_a_boot() {
    let site = site();
    let daemon = site.start().await;
    let sim = booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let start = Utc::now() - chrono::Duration::minutes(30);
    let tx = sim
        .start_transaction(1, "GOOD", 7_000, start)
        .await
        .unwrap();
    sim.close().await;
    // A lost connection is no reboot: the transaction goes on (2.0.1 E block, offline).
    let sim = connect(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.meter_values(1, &tx.key, 8_000.0, &[16.0])
        .await
        .unwrap();
    assert_eq!(record(&daemon, "CS201-1", &tx.key).await["status"], "open");

    // Power loss: the station boots (PowerUp) and chargegate closes the session at 8 kWh...
    sim.close().await;
    let sim = booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let closed = record(&daemon, "CS201-1", &tx.key).await;
    assert_eq!(
        (
            &closed["closed_by"],
            &closed["stop_reason"],
            &closed["energy_wh"]
        ),
        (&json!("boot"), &json!("PowerLoss"), &json!(1_000.0))
    );
    assert_eq!(status(&sim.authorize("GOOD").await.unwrap()), "Accepted");
    // ...until the station's queued Ended arrives with its own reading.
    sim.stop_transaction(
        &tx.key,
        8_200,
        "PowerLoss",
        start + chrono::Duration::minutes(25),
    )
    .await
    .unwrap();
    let ended = record(&daemon, "CS201-1", &tx.key).await;
    assert_eq!(
        (
            &ended["closed_by"],
            &ended["stop_reason"],
            &ended["energy_wh"]
        ),
        (&json!("charger"), &json!("PowerLoss"), &json!(1_200.0))
    );
    sim.close().await;
    daemon.stop().await;
}
