//! The operator's monitoring reads over a real loopback socket (issue 10, DESIGN.md
//! "HTTP"): `/api/v1/site`, `/chargers`, `/chargers/<id>`, `/plan`, `/meters`. The facts
//! come from where they happen: simulated chargers of both versions boot, report status,
//! charge and take limits; a simulated SDM630 on Modbus TCP serves the load; the answers
//! must show exactly those values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use chargegate::config;
use chargegate::daemon;
use chargegate::dispatch::DispatchInput;
use chargegate::dispatch::round::Row;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimMeterServer;
use chargegate::units::{Amps, ChargerId};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::get_json as get;

/// Asks `target` until `done` holds for its 200 answer (about 15 s at most: a meter
/// reconnecting after silence backs off a few seconds); returns that answer.
async fn until(addr: SocketAddr, target: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, body) = get(addr, target).await;
        assert_eq!(status, 200, "{target}: {body}");
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{target} never showed what was expected; last answer:\n{last:#}");
}

fn charger_of<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["chargers"]
        .as_array()
        .expect("chargers")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

/// OCPP 2.0.1 TC_B_01_CSMS (Cold Boot Charging Station - Accepted): what the station
/// said at boot is what the operator sees, with its connection and version; a 1.6
/// charger alike; a configured charger that never connected is listed with nulls.
#[tokio::test]
async fn tc_b_01_a_booted_charger_shows_its_vendor_model_firmware_and_version() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let cs = crate::common::connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let (status, one) = get(addr, "/api/v1/chargers/CS201-1").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["id"], "CS201-1");
    assert_eq!(one["configured"], true);
    assert_eq!(one["connected"], true);
    assert_eq!(one["ocpp_version"], "2.0.1");
    assert_eq!(one["registration"], "accepted");
    // The simulator's BootNotification (sim/messages.rs): vendor, model, serial, firmware.
    assert_eq!(one["vendor"], chargegate::sim::messages::SIM_VENDOR);
    assert_eq!(one["model"], chargegate::sim::messages::SIM_MODEL);
    assert_eq!(one["firmware"], chargegate::sim::messages::SIM_FIRMWARE);
    assert_eq!(one["serial"], "CS201-1");
    assert!(one["last_boot"].is_string(), "{one}");
    assert_eq!(one["max_current_a"], 32.0);
    assert_eq!(one["circuit"], "site");
    let list = until(addr, "/api/v1/chargers", |l| {
        charger_of(l, "CP16-1")["vendor"] == chargegate::sim::messages::SIM_VENDOR
    })
    .await;
    let ids: Vec<&str> = list["chargers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CP16-1", "CP16-2", "CS201-1", "CS201-2"]);
    let v16 = charger_of(&list, "CP16-1");
    assert_eq!(v16["ocpp_version"], "1.6");
    assert_eq!(v16["connected"], true);
    // Never connected: listed, every fact it would have told us null.
    let absent = charger_of(&list, "CS201-2");
    assert_eq!(absent["connected"], false);
    for field in [
        "ocpp_version",
        "vendor",
        "model",
        "firmware",
        "transaction",
        "measured",
    ] {
        assert_eq!(absent[field], Value::Null, "{field}: {absent}");
    }
    assert_eq!(absent["connectors"], Value::Array(vec![]));
    // Gone again: disconnected, its boot data kept.
    cp.close().await;
    let v16 = until(addr, "/api/v1/chargers/CP16-1", |c| c["connected"] == false).await;
    assert_eq!(v16["model"], chargegate::sim::messages::SIM_MODEL);
    assert_eq!(v16["ocpp_version"], "1.6");
    cs.close().await;
    daemon.stop().await;
}

/// A StatusNotification Faulted reaches the operator with the charger's error code (1.6
/// ChargePointErrorCode; 2.0.1 StatusNotification has none: G01, faults come as
/// NotifyEvent) and each connector's status, as OCPP 2.0.1 TC_G_03..07_CSMS check it
/// after a change of availability: every connector's reported state is known.
#[tokio::test]
async fn tc_g_connector_status_and_error_code_are_shown_per_connector() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    cp.status(1, "Faulted").await.expect("status answered");
    cp.status(2, "Available").await.expect("status answered");
    let cs = crate::common::connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    cs.status(1, "Faulted").await.expect("status answered");
    let (status, one) = get(addr, "/api/v1/chargers/CP16-1").await;
    assert_eq!(status, 200, "{one}");
    let connectors = one["connectors"].as_array().expect("connectors");
    assert_eq!(connectors.len(), 2, "{one}");
    assert_eq!(connectors[0]["evse"], 1);
    assert_eq!(connectors[0]["status"], "Faulted");
    // sim/messages.rs: a 1.6 Faulted carries errorCode OtherError.
    assert_eq!(connectors[0]["error_code"], "OtherError");
    assert!(connectors[0]["at"].is_string());
    assert_eq!(connectors[1]["evse"], 2);
    assert_eq!(connectors[1]["status"], "Available");
    assert_eq!(connectors[1]["error_code"], "NoError");
    let (_, two) = get(addr, "/api/v1/chargers/CS201-1").await;
    let c = &two["connectors"][0];
    assert_eq!(
        (c["evse"].clone(), c["connector"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(c["status"], "Faulted");
    assert_eq!(
        c["error_code"],
        Value::Null,
        "2.0.1 has no error code: {two}"
    );
    cp.close().await;
    cs.close().await;
    daemon.stop().await;
}

/// A limit dispatch sent is shown as in force, with the reason it was sent for and the
/// end of its lease (S3: `[dispatch] lease-s`, 600 s by default); the committed current
/// on the site counts it.
#[tokio::test]
async fn a_dispatched_limit_is_shown_with_its_reason_and_lease_end() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let sim = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    // Before any lease of this run: counted at its maximum for one lease (S1).
    let (_, before) = get(addr, "/api/v1/chargers/CS201-1").await;
    assert_eq!(before["limit"]["source"], "assumed", "{before}");
    assert_eq!(before["limit"]["in_force_a"], Value::Null);
    assert_eq!(before["limit"]["baseline_installed"], true);
    let id = ChargerId::new("CS201-1").unwrap();
    daemon
        .dispatch_input
        .send(DispatchInput {
            targets: BTreeMap::from([(id.clone(), Amps(16.0))]),
            rows: vec![Row {
                name: "site/L1".into(),
                capacity: Amps(100.0),
                increase_capacity: Amps(100.0),
                ramp_open: false,
                chargers: vec![id.clone()],
            }],
            why: "operator test".into(),
            notes: Default::default(),
            samples_wanted: Default::default(),
        })
        .unwrap();
    let one = until(addr, "/api/v1/chargers/CS201-1", |c| {
        c["limit"]["in_force_a"] == 16.0
    })
    .await;
    let limit = &one["limit"];
    assert_eq!(limit["source"], "lease", "{limit}");
    assert_eq!(limit["effective_a"], 16.0);
    assert_eq!(limit["responsive"], true);
    assert_eq!(limit["failsafe_a"], 6.0);
    let reason = limit["reason"].as_str().expect("a reason");
    assert!(reason.contains("operator test"), "{reason}");
    assert!(reason.contains("16.0 A"), "{reason}");
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let lease = at(&limit["until"]) - at(&limit["set_at"]);
    assert!(
        (599..=600).contains(&lease.num_seconds()),
        "lease of 600 s: {limit}"
    );
    // The site counts it on the phases the charger loads (three-phase: all of them).
    let (_, site_view) = get(addr, "/api/v1/site").await;
    let grid = &site_view["circuits"][0];
    assert_eq!(grid["id"], "site");
    let committed = grid["committed_a"].as_array().unwrap();
    assert!(
        committed.iter().all(|a| a.as_f64().unwrap() >= 16.0),
        "{grid}"
    );
    sim.close().await;
    daemon.stop().await;
}

fn metered_config(dir: &std::path::Path, meter: SocketAddr) -> config::Config {
    let mut text = crate::common::site_toml(&dir.join("cg.db"), "");
    text.push_str(&format!(
        "\n[[meter]]\nid = \"bldg\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\n\
         modbus-tcp = \"{meter}\"\npoll-interval-ms = 200\nstale-after-ms = 1000\n"
    ));
    config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// The reading the simulated SDM630 serves is what `/meters` shows per phase, and
/// `/site` shows it as the measured and the non-charger load with the headroom left; a
/// meter that goes silent turns stale, and the site assumes its worst case (S5).
#[tokio::test]
async fn the_meter_reading_is_shown_per_phase_and_a_silent_meter_turns_stale() {
    let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    server.meter.set_building([40.0, 30.5, 20.25]);
    let dir = tempfile::tempdir().unwrap();
    let config = metered_config(dir.path(), server.meter.addr());
    let daemon = daemon::start_manual(&config).await.expect("daemon starts");
    let addr = daemon.http_addr;
    let meters = until(addr, "/api/v1/meters", |m| m["meters"][0]["health"] == "ok").await;
    let m = &meters["meters"][0];
    assert_eq!(m["id"], "bldg");
    assert_eq!(m["role"], "building");
    assert_eq!(m["circuit"], "site");
    assert_eq!(m["stale_after_ms"], 1000);
    let reading = &m["last_reading"];
    assert_eq!(reading["current_a"], serde_json::json!([40.0, 30.5, 20.25]));
    // SDM630: power per phase from the simulator's 230 V times the current.
    assert_eq!(reading["power_w"][0], 40.0 * 230.0);
    assert!(
        reading["voltage_v"][0].as_f64().unwrap() > 200.0,
        "{reading}"
    );
    assert!(reading["at"].is_string());
    assert_eq!(m["errors"]["total"], 0);
    // The site: the meter's reading as the measured and (building meter) the
    // non-charger load, per phase; headroom = limit - margin - load - committed.
    let site_view = until(addr, "/api/v1/site", |s| {
        s["circuits"][0]["load_a"] == serde_json::json!([40.0, 30.5, 20.25])
    })
    .await;
    assert_eq!(site_view["id"], "test-depot");
    assert_eq!(site_view["grid_limit_a"], 400.0);
    assert_eq!(site_view["temporary_limit"], Value::Null);
    assert_eq!(site_view["upstream"], Value::Null);
    assert_eq!(site_view["meters"][0]["health"], "ok");
    let grid = &site_view["circuits"][0];
    assert_eq!(grid["measured_a"], serde_json::json!([40.0, 30.5, 20.25]));
    assert_eq!(grid["load_stale"], false);
    assert_eq!(grid["limit_a"], 400.0);
    assert_eq!(grid["usable_a"], 395.0);
    for p in 0..3 {
        let load = grid["load_a"][p].as_f64().unwrap();
        let committed = grid["committed_a"][p].as_f64().unwrap();
        let headroom = grid["headroom_a"][p].as_f64().unwrap();
        assert!(
            (headroom - (395.0 - load - committed)).abs() < 0.02,
            "{grid}"
        );
    }
    // Silent: stale within stale-after-ms, the last reading kept, the worst case assumed.
    server.meter.set_silent(true);
    let meters = until(addr, "/api/v1/meters", |m| {
        m["meters"][0]["health"] == "stale"
    })
    .await;
    assert_eq!(
        meters["meters"][0]["last_reading"]["current_a"],
        serde_json::json!([40.0, 30.5, 20.25])
    );
    let site_view = until(addr, "/api/v1/site", |s| {
        s["circuits"][0]["load_stale"] == true
    })
    .await;
    let grid = &site_view["circuits"][0];
    assert_eq!(grid["measured_a"], Value::Null);
    assert_eq!(
        grid["assumed_load_a"],
        serde_json::json!([100.0, 100.0, 100.0])
    );
    let plan = until(addr, "/api/v1/plan", |p| p["status"] == "failsafe").await;
    assert!(plan["status_reason"].as_str().unwrap().contains("stale"));
    daemon.stop().await;
    server.stop();
}

/// A vehicle charging: the plan in force gives its charger a current in every slot,
/// with the solve's time and status; the charger shows its open transaction, the
/// current it measured and the energy so far.
#[tokio::test]
async fn the_plan_and_a_charging_vehicle_are_shown() {
    // The meter answers once the vehicle is charging: its first reading replans at once
    // (S5, stale -> fresh), with the vehicle in the site state.
    let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    server.meter.set_building([20.0, 20.0, 20.0]);
    server.meter.set_silent(true);
    let dir = tempfile::tempdir().unwrap();
    let config = metered_config(dir.path(), server.meter.addr());
    let daemon = daemon::start_manual(&config).await.expect("daemon starts");
    let addr = daemon.http_addr;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    cp.status(1, "Preparing").await.unwrap();
    let tx = cp
        .start_transaction(1, "GOOD", 1000, chrono::Utc::now())
        .await
        .expect("transaction starts");
    cp.status(1, "Charging").await.unwrap();
    cp.meter_values(1, &tx.key, 1500.0, &[15.5, 16.0, 15.75])
        .await
        .unwrap();
    server.meter.set_silent(false);
    let plan = until(addr, "/api/v1/plan", |p| {
        p["chargers"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["id"] == "CP16-1" && c["current_a"][0].as_f64() > Some(0.0))
        })
    })
    .await;
    assert_eq!(plan["status"], "optimal", "{plan}");
    assert!(plan["planned_at"].is_string());
    assert!(plan["solve_ms"].is_u64());
    assert!(plan["replans"].as_u64() >= Some(1));
    assert_eq!(plan["slot_min"], 15);
    assert_eq!(plan["slots"], 96, "24 h of 15 min slots");
    let mine = charger_of(&plan, "CP16-1");
    let currents = mine["current_a"].as_array().unwrap();
    assert_eq!(currents.len(), 96);
    // S4: 0 or within [6, 32] A in every slot; the vehicle has no stated need.
    for a in currents {
        let a = a.as_f64().unwrap();
        assert!(a == 0.0 || (6.0..=32.0).contains(&a), "{mine}");
    }
    assert_eq!(mine["need_wh"], Value::Null);
    assert!(mine["target_a"].as_f64() >= Some(6.0), "{mine}");
    let idle = charger_of(&plan, "CP16-2");
    assert!(
        idle["current_a"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a == 0.0)
    );
    let one = get(addr, "/api/v1/chargers/CP16-1").await.1;
    let t = &one["transaction"];
    assert_eq!(t["ocpp_id"], tx.key.as_str(), "{one}");
    assert_eq!(t["id_token"], "GOOD");
    assert_eq!(t["meter_start_wh"], 1000.0);
    assert_eq!(t["energy_wh"], 500.0);
    assert_eq!(
        one["measured"]["current_a"],
        serde_json::json!([15.5, 16.0, 15.75]),
        "{one}"
    );
    let vehicle = &one["vehicle"];
    assert!(vehicle["plugged_since"].is_string(), "{one}");
    assert_eq!(vehicle["need"], Value::Null);
    assert!(vehicle["planned_wh"].as_f64() > Some(0.0), "{vehicle}");
    cp.close().await;
    daemon.stop().await;
    server.stop();
}

/// Bad input gets a JSON 4xx: an unknown charger 404, a malformed id 400, any query
/// parameter on these reads 400; a wrong verb 405.
#[tokio::test]
async fn bad_monitoring_requests_get_a_json_error() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for (target, status, says) in [
        ("/api/v1/chargers/NOPE-9", 404, "no charger NOPE-9"),
        ("/api/v1/chargers/bad%20id", 400, "not a charger id"),
        ("/api/v1/chargers?bogus=1", 400, "no parameters"),
        ("/api/v1/chargers/CP16-1?verbose=1", 400, "no parameters"),
        ("/api/v1/site?x=1", 400, "no parameters"),
        ("/api/v1/plan?slot=3", 400, "no parameters"),
        ("/api/v1/meters?id=grid", 400, "no parameters"),
    ] {
        let (got, body) = get(addr, target).await;
        assert_eq!(got, status, "{target}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{target}: {error}");
    }
    // Without meters: an empty list, the site's load stale at its worst case (S5).
    let (_, meters) = get(addr, "/api/v1/meters").await;
    assert_eq!(meters["meters"], Value::Array(vec![]));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"DELETE /api/v1/site HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    daemon.stop().await;
}

/// Opens `/api/v1/events` and returns the socket once the response head is read, with
/// what came after the head.
pub(crate) async fn open_events(addr: SocketAddr) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.expect("HTTP connects");
    stream
        .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("\r\n\r\n") {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the head: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    let rest = seen.split_once("\r\n\r\n").unwrap().1.to_string();
    (stream, rest)
}

/// Reads the event stream into `seen` until `pattern` is in it (`None`: the stream
/// closed or `within` passed first).
pub(crate) async fn read_until(
    stream: &mut TcpStream,
    seen: &mut String,
    pattern: &str,
    within: Duration,
) -> Option<()> {
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(pattern) {
        let mut buf = [0u8; 8192];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Some(())
}

/// `/api/v1/events`: the site at once, a charger's connection and boot as `charger`
/// events; an idle stream is kept open past the listener's 8 s answer timeout by its
/// keep-alive comments (virtual time: a minute passes in an instant).
#[tokio::test(start_paused = true)]
async fn the_event_stream_follows_chargers_and_outlives_the_answer_timeout() {
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-12-01T08:00:00Z").await;
    let (mut stream, mut seen) = open_events(daemon.http_addr).await;
    read_until(
        &mut stream,
        &mut seen,
        "event: site\n",
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|| panic!("no site event: {seen}"));
    let data = seen
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    let site_view: Value = serde_json::from_str(data).unwrap();
    assert_eq!(site_view["id"], "test-depot");
    seen.clear();
    let sim =
        crate::common::connect_virtual(&daemon, clock, "CP16-1", OcppVersion::V16, vec![]).await;
    read_until(&mut stream, &mut seen, "\"boot\"", Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no boot event: {seen}"));
    let charger: Vec<Value> = seen
        .split("event: charger\ndata: ")
        .skip(1)
        .map(|rest| serde_json::from_str(rest.lines().next().unwrap()).unwrap())
        .collect();
    assert!(
        charger
            .iter()
            .all(|c| c["charger"] == "CP16-1" && c["connected"] == true),
        "{charger:?}"
    );
    assert!(
        charger.iter().any(|c| c["changes"]
            .as_array()
            .unwrap()
            .contains(&Value::from("connected"))),
        "{charger:?}"
    );
    // Idle for a minute: keep-alive comments, never closed by the listener.
    seen.clear();
    let idle = tokio::time::Instant::now();
    let closed = read_until(
        &mut stream,
        &mut seen,
        "never sent",
        Duration::from_secs(60),
    )
    .await;
    assert!(closed.is_none());
    assert!(
        idle.elapsed() >= Duration::from_secs(60),
        "the stream closed after {:?}: {seen:?}",
        idle.elapsed()
    );
    let comments = seen.lines().filter(|l| l.starts_with(':')).count();
    assert!(comments >= 10, "keep-alive comments every 5 s: {seen:?}");
    sim.close().await;
    daemon.stop().await;
}

/// At most `MAX_EVENT_STREAMS` streams: the next gets a 503 with a JSON error, and a
/// closed stream gives its place back; a parameter is a 400.
#[tokio::test]
async fn event_streams_are_capped_and_take_no_parameters() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let mut open = Vec::new();
    for _ in 0..chargegate::http::MAX_EVENT_STREAMS {
        open.push(open_events(addr).await);
    }
    let (status, body) = get(addr, "/api/v1/events").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("event streams"));
    drop(open.pop());
    let mut again = None;
    for _ in 0..100 {
        // The server notices the closed socket at its next write (a keep-alive at most
        // 5 s later) or at once; then the place is free.
        let (status, _) = get(addr, "/api/v1/events?x=1").await;
        assert_eq!(status, 400);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.unwrap();
        if buf[..n].starts_with(b"HTTP/1.1 200") {
            again = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a closed stream gives its place back");
    daemon.stop().await;
}

/// `[http] require-token-for-reads = true` closes the monitoring reads and the event
/// stream too: 401 without a token.
#[tokio::test]
async fn closed_reads_need_a_token() {
    let mut site = crate::common::Site::new("");
    site.config.http.require_token_for_reads = true;
    let daemon = site.start().await;
    for target in [
        "/api/v1/site",
        "/api/v1/chargers",
        "/api/v1/chargers/CP16-1",
        "/api/v1/plan",
        "/api/v1/meters",
        "/api/v1/events",
        "/api/v1/alerts",
    ] {
        let (status, body) = get(daemon.http_addr, target).await;
        assert_eq!(status, 401, "{target}: {body}");
        assert!(body["error"].is_string(), "{target}: {body}");
    }
    daemon.stop().await;
}
