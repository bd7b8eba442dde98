//! Alerts (issue 10, DESIGN.md `GET /api/v1/alerts`) over real loopback sockets: the
//! simulated chargers of both versions fault, report problems, go and come back; a
//! simulated SDM630 goes silent and answers again; the daemon restarts over its store.
//! Each alert must be raised once, cleared when its condition goes, kept in the store
//! and shown by the API.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::get_json as get;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimMeterServer;
use serde_json::{Value, json};

/// The alerts `target` lists once `done` holds for them (10 s at most).
async fn alerts_until(
    addr: SocketAddr,
    target: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) = get(addr, target).await;
        assert_eq!(status, 200, "{target}: {body}");
        let list = body["alerts"].as_array().expect("alerts").clone();
        if done(&list) {
            return list;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{target} never showed what was expected; last answer:\n{last:#}");
}

fn of_kind<'a>(list: &'a [Value], kind: &str, charger: &str) -> Vec<&'a Value> {
    list.iter()
        .filter(|a| a["kind"] == kind && a["charger"] == charger)
        .collect()
}

/// A 1.6 StatusNotification Faulted with its errorCode, info and vendorErrorCode raises
/// one critical alert that names all three; the same fault again raises nothing new;
/// Available clears it, and the cleared alert stays in the history with both times.
#[tokio::test]
async fn a_1_6_faulted_connector_raises_an_alert_with_its_codes_and_available_clears_it() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let faulted = json!({"connectorId": 1, "errorCode": "GroundFailure", "info": "RCD tripped",
        "status": "Faulted", "vendorErrorCode": "E17"});
    cp.call("StatusNotification", faulted.clone())
        .await
        .expect("answered");
    cp.call("StatusNotification", faulted)
        .await
        .expect("answered");
    let open = alerts_until(addr, "/api/v1/alerts?active=true", |l| {
        !of_kind(l, "connector-faulted", "CP16-1").is_empty()
    })
    .await;
    let a = of_kind(&open, "connector-faulted", "CP16-1");
    assert_eq!(a.len(), 1, "raised once: {open:#?}");
    let a = a[0];
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["part"], "connector 1");
    assert_eq!(a["meter"], Value::Null);
    assert_eq!(a["cleared"], Value::Null);
    assert!(a["raised"].is_string());
    let message = a["message"].as_str().unwrap();
    for needed in ["GroundFailure", "RCD tripped", "E17", "RCD"] {
        assert!(message.contains(needed), "{needed} missing: {message}");
    }
    let id = a["id"].clone();
    cp.status(1, "Available").await.expect("answered");
    alerts_until(addr, "/api/v1/alerts?active=true", |l| {
        of_kind(l, "connector-faulted", "CP16-1").is_empty()
    })
    .await;
    let cleared = alerts_until(addr, "/api/v1/alerts?active=false", |l| !l.is_empty()).await;
    assert_eq!(cleared[0]["id"], id);
    assert!(cleared[0]["cleared"].is_string(), "{cleared:#?}");
    assert_eq!(cleared[0]["active"], false);
    let stored = daemon
        .csms
        .store()
        .call(|c| chargegate::store::alerts(c, None, None, 10))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert!(stored[0].cleared.is_some());
    cp.close().await;
    daemon.stop().await;
}

/// 2.0.1: StatusNotification Faulted (no error code in 2.0.1) raises, a NotifyEvent
/// with a component's `Problem` true raises a charger-problem with its techInfo, false
/// clears it; Available clears the fault.
#[tokio::test]
async fn a_2_0_1_faulted_connector_and_a_notified_problem_raise_and_clear() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let cs = crate::common::connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    cs.status(1, "Faulted").await.expect("answered");
    let notify = |value: &str| {
        json!({"generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "eventData": [{
            "eventId": 1, "timestamp": "2026-01-01T00:00:00Z", "trigger": "Alerting",
            "actualValue": value, "techInfo": "contactor welded",
            "component": {"name": "PowerContactor"}, "variable": {"name": "Problem"},
            "eventNotificationType": "HardWiredNotification"}]})
    };
    cs.call("NotifyEvent", notify("true"))
        .await
        .expect("answered");
    let open = alerts_until(addr, "/api/v1/alerts?active=true", |l| l.len() >= 2).await;
    let fault = of_kind(&open, "connector-faulted", "CS201-1");
    assert_eq!(fault.len(), 1, "{open:#?}");
    assert_eq!(fault[0]["part"], "evse 1 connector 1");
    let problem = of_kind(&open, "charger-problem", "CS201-1");
    assert_eq!(problem.len(), 1, "{open:#?}");
    assert_eq!(problem[0]["part"], "PowerContactor");
    assert!(
        problem[0]["message"]
            .as_str()
            .unwrap()
            .contains("contactor welded")
    );
    cs.call("NotifyEvent", notify("false"))
        .await
        .expect("answered");
    cs.status(1, "Available").await.expect("answered");
    alerts_until(addr, "/api/v1/alerts?active=true", <[Value]>::is_empty).await;
    let all = alerts_until(addr, "/api/v1/alerts", |l| l.len() == 2).await;
    assert!(all.iter().all(|a| a["cleared"].is_string()), "{all:#?}");
    cs.close().await;
    daemon.stop().await;
}

/// A lost connection raises charger-offline (both versions), a new connection clears it.
#[tokio::test]
async fn a_lost_connection_raises_offline_and_the_reconnection_clears_it() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = crate::common::connect_booted(&daemon, id, version).await;
        let (_, before) = get(addr, "/api/v1/alerts?active=true").await;
        assert!(
            of_kind(before["alerts"].as_array().unwrap(), "charger-offline", id).is_empty(),
            "{before}"
        );
        sim.close().await;
        let open = alerts_until(addr, "/api/v1/alerts?active=true", |l| {
            !of_kind(l, "charger-offline", id).is_empty()
        })
        .await;
        let offline = of_kind(&open, "charger-offline", id)[0];
        assert_eq!(offline["severity"], "critical");
        assert!(offline["message"].as_str().unwrap().contains(id));
        let sim = crate::common::connect_booted(&daemon, id, version).await;
        alerts_until(addr, "/api/v1/alerts?active=true", |l| {
            of_kind(l, "charger-offline", id).is_empty()
        })
        .await;
        sim.close().await;
    }
    daemon.stop().await;
}

/// A meter that goes silent raises meter-stale once it is past `stale-after-ms`; when
/// it answers again the alert clears.
#[tokio::test]
async fn a_silent_meter_raises_meter_stale_and_its_recovery_clears_it() {
    let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    server.meter.set_building([10.0, 10.0, 10.0]);
    let dir = tempfile::tempdir().unwrap();
    let mut text = crate::common::site_toml(&dir.path().join("cg.db"), "");
    text.push_str(&format!(
        "\n[[meter]]\nid = \"bldg\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\n\
         modbus-tcp = \"{}\"\npoll-interval-ms = 200\nstale-after-ms = 1000\n",
        server.meter.addr()
    ));
    let config = chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    let daemon = chargegate::daemon::start_manual(&config)
        .await
        .expect("daemon starts");
    let addr = daemon.http_addr;
    let mut meter = daemon.meters.status["bldg"].clone();
    meter.wait_for(|m| !m.stale).await.expect("a reading");
    let (_, none) = get(addr, "/api/v1/alerts").await;
    assert_eq!(none["alerts"], json!([]), "a fresh meter raises nothing");
    server.meter.set_silent(true);
    let open = alerts_until(addr, "/api/v1/alerts?active=true", |l| !l.is_empty()).await;
    assert_eq!(open[0]["kind"], "meter-stale");
    assert_eq!(open[0]["meter"], "bldg");
    assert_eq!(open[0]["charger"], Value::Null);
    assert!(
        open[0]["message"]
            .as_str()
            .unwrap()
            .contains("worst-case-load-a")
    );
    server.meter.set_silent(false);
    // A reconnect after silence backs off a few seconds.
    for _ in 0..40 {
        let (_, body) = get(addr, "/api/v1/alerts?active=true").await;
        if body["alerts"] == json!([]) {
            let (_, all) = get(addr, "/api/v1/alerts").await;
            assert!(all["alerts"][0]["cleared"].is_string(), "{all}");
            daemon.stop().await;
            server.stop();
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the meter-stale alert did not clear when the meter answered again");
}

/// An alert open when the daemon stops is open after its restart, under the same id,
/// and not raised a second time when the charger reports the fault again; the charger's
/// Available then clears it.
#[tokio::test]
async fn open_alerts_survive_a_restart_and_are_not_raised_twice() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    cp.status(1, "Faulted").await.expect("answered");
    let open = alerts_until(daemon.http_addr, "/api/v1/alerts?active=true", |l| {
        !of_kind(l, "connector-faulted", "CP16-1").is_empty()
    })
    .await;
    let id = of_kind(&open, "connector-faulted", "CP16-1")[0]["id"].clone();
    cp.close().await;
    daemon.stop().await;
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let (_, after) = get(addr, "/api/v1/alerts?active=true").await;
    let after = after["alerts"].as_array().unwrap().clone();
    let fault = of_kind(&after, "connector-faulted", "CP16-1");
    assert_eq!(fault.len(), 1, "{after:#?}");
    assert_eq!(fault[0]["id"], id);
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    cp.status(1, "Faulted").await.expect("answered");
    // Connector 2's fault comes after connector 1's on the same ordered stream: once it
    // is listed, connector 1's second report has been seen too.
    cp.status(2, "Faulted").await.expect("answered");
    let list = alerts_until(addr, "/api/v1/alerts", |l| {
        l.iter().any(|a| a["part"] == "connector 2")
    })
    .await;
    let list: Vec<Value> = list
        .into_iter()
        .filter(|a| a["part"] == "connector 1")
        .collect();
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(of_kind(&list, "connector-faulted", "CP16-1")[0]["id"], id);
    cp.status(1, "Available").await.expect("answered");
    cp.status(2, "Available").await.expect("answered");
    alerts_until(addr, "/api/v1/alerts?active=true", |l| {
        of_kind(l, "connector-faulted", "CP16-1").is_empty()
    })
    .await;
    cp.close().await;
    daemon.stop().await;
}

/// A bad query is a 400 naming the known parameters; the daemon keeps answering.
#[tokio::test]
async fn the_alert_list_refuses_a_bad_query() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    for target in [
        "/api/v1/alerts?active=maybe",
        "/api/v1/alerts?kind=meter-stale",
        "/api/v1/alerts?limit=0",
        "/api/v1/alerts?limit=100000",
        "/api/v1/alerts?before=x",
    ] {
        let (status, body) = get(addr, target).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body["error"].is_string(), "{target}: {body}");
    }
    let (status, body) = get(addr, "/api/v1/alerts?active=true&limit=5").await;
    assert_eq!((status, body), (200, json!({"alerts": []})));
    daemon.stop().await;
}

/// The open alerts in the store.
async fn open_in_store(daemon: &chargegate::daemon::Daemon) -> Vec<chargegate::store::AlertRecord> {
    daemon
        .csms
        .store()
        .call(|c| chargegate::store::open_alerts(c))
        .await
        .expect("store answers")
}

/// A charger whose connection stays open but that sends nothing (the simulator sends
/// Heartbeat only when asked) raises charger-silent once it is past 2 x the Heartbeat
/// interval it was given at boot (120 s on the test site), not before; its next Heartbeat
/// clears it. Both versions, on tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn a_silent_charger_raises_charger_silent_and_its_heartbeat_clears_it() {
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = crate::common::connect_virtual(&daemon, clock, id, version, Vec::new()).await;
        let silent = |list: &[chargegate::store::AlertRecord]| {
            list.iter()
                .any(|a| a.kind == "charger-silent" && a.charger.as_deref() == Some(id))
        };
        // 2 x 120 s less a few seconds: still within twice the interval.
        tokio::time::sleep(Duration::from_secs(235)).await;
        assert!(
            !silent(&open_in_store(&daemon).await),
            "{id}: raised too early"
        );
        let mut raised = false;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if silent(&open_in_store(&daemon).await) {
                raised = true;
                break;
            }
        }
        assert!(raised, "{id}: not raised after 2 x 120 s of silence");
        assert!(!sim.is_closed(), "{id}: the connection stays open");
        sim.heartbeat().await.expect("heartbeat answered");
        let mut cleared = false;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if !silent(&open_in_store(&daemon).await) {
                cleared = true;
                break;
            }
        }
        assert!(cleared, "{id}: the Heartbeat did not clear charger-silent");
        sim.close().await;
    }
    daemon.stop().await;
}

/// The alerts of one `event: alert` each in what the event stream sent so far.
fn alert_events(seen: &str) -> Vec<Value> {
    seen.split("event: alert\ndata: ")
        .skip(1)
        .map(|rest| serde_json::from_str(rest.lines().next().unwrap_or("")).unwrap())
        .collect()
}

/// `/api/v1/events` carries every raise and clear as an `alert` event, as
/// `/api/v1/alerts` shows it: a status page hears of a fault without polling.
#[tokio::test]
async fn the_event_stream_carries_each_raise_and_clear() {
    use crate::monitor_api::{open_events, read_until};
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let (mut stream, mut seen) = open_events(daemon.http_addr).await;
    read_until(
        &mut stream,
        &mut seen,
        "event: site\n",
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|| panic!("no site event: {seen}"));
    cp.call(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "HighTemperature", "status": "Faulted"}),
    )
    .await
    .expect("answered");
    read_until(
        &mut stream,
        &mut seen,
        "event: alert\n",
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|| panic!("no alert event: {seen}"));
    read_until(&mut stream, &mut seen, "\n\n", Duration::from_secs(2)).await;
    let raised = alert_events(&seen);
    assert_eq!(raised.len(), 1, "{seen}");
    assert_eq!(raised[0]["kind"], "connector-faulted");
    assert_eq!(raised[0]["charger"], "CP16-1");
    assert_eq!(raised[0]["active"], true);
    let (_, listed) = get(daemon.http_addr, "/api/v1/alerts?active=true").await;
    assert_eq!(
        listed["alerts"][0], raised[0],
        "the event is the alert as listed"
    );
    seen.clear();
    cp.status(1, "Available").await.expect("answered");
    read_until(
        &mut stream,
        &mut seen,
        "event: alert\n",
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|| panic!("no clear event: {seen}"));
    read_until(&mut stream, &mut seen, "\n\n", Duration::from_secs(2)).await;
    let cleared = alert_events(&seen);
    assert_eq!(cleared.len(), 1, "{seen}");
    assert_eq!(cleared[0]["id"], raised[0]["id"]);
    assert_eq!(cleared[0]["active"], false);
    assert!(cleared[0]["cleared"].is_string(), "{cleared:?}");
    cp.close().await;
    daemon.stop().await;
}

/// Polls the store's open alerts on the virtual clock, `step` at a time for at most
/// `steps` steps, until `done` holds; whether it did.
async fn open_until(
    daemon: &chargegate::daemon::Daemon,
    step: Duration,
    steps: u32,
    done: impl Fn(&[chargegate::store::AlertRecord]) -> bool,
) -> bool {
    for _ in 0..steps {
        if done(&open_in_store(daemon).await) {
            return true;
        }
        tokio::time::sleep(step).await;
    }
    done(&open_in_store(daemon).await)
}

fn has(list: &[chargegate::store::AlertRecord], kind: &str, charger: &str) -> bool {
    list.iter()
        .any(|a| a.kind == kind && a.charger.as_deref() == Some(charger))
}

/// An open transaction whose charger sends no meter data for an hour raises
/// transaction-without-meter-values (not before), naming the transaction; meter data
/// (1.6 MeterValues, 2.0.1 TransactionEvent Updated with meterValue) clears it; after
/// another silent hour the transaction's end clears it again. Both versions, on tokio's
/// paused clock.
#[tokio::test(start_paused = true)]
async fn a_transaction_without_meter_values_for_an_hour_raises_and_meter_data_or_its_end_clears() {
    const KIND: &str = "transaction-without-meter-values";
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = crate::common::connect_virtual(&daemon, clock, id, version, Vec::new()).await;
        let tx = sim
            .start_transaction(1, "GOOD", 1_000, clock.now())
            .await
            .expect("started")
            .key;
        // Within the hour (less one store check): nothing.
        tokio::time::sleep(Duration::from_secs(59 * 60 + 40)).await;
        assert!(
            !has(&open_in_store(&daemon).await, KIND, id),
            "{id}: raised too early"
        );
        assert!(
            open_until(&daemon, Duration::from_secs(5), 20, |l| has(l, KIND, id)).await,
            "{id}: not raised after an hour without meter values"
        );
        let open = open_in_store(&daemon).await;
        let a = open.iter().find(|a| a.kind == KIND).unwrap();
        assert_eq!(
            a.part.as_deref(),
            Some(format!("transaction {tx}").as_str())
        );
        assert_eq!(a.severity, "warning");
        assert!(a.message.contains(&tx), "{}", a.message);
        sim.meter_values(1, &tx, 2_000.0, &[16.0, 16.0, 16.0])
            .await
            .expect("answered");
        assert!(
            open_until(&daemon, Duration::from_secs(5), 4, |l| !has(l, KIND, id)).await,
            "{id}: meter data did not clear it"
        );
        // Another silent hour raises it again; the transaction's end clears it.
        tokio::time::sleep(Duration::from_secs(61 * 60)).await;
        assert!(
            has(&open_in_store(&daemon).await, KIND, id),
            "{id}: not raised again"
        );
        sim.stop_transaction(&tx, 3_000, "Local", clock.now())
            .await
            .expect("answered");
        assert!(
            open_until(&daemon, Duration::from_secs(5), 4, |l| !has(l, KIND, id)).await,
            "{id}: the transaction's end did not clear it"
        );
        let (_, all) = get(daemon.http_addr, "/api/v1/alerts").await;
        let listed = all["alerts"].as_array().unwrap();
        let ours: Vec<_> = listed
            .iter()
            .filter(|a| a["kind"] == KIND && a["charger"] == id)
            .collect();
        assert_eq!(ours.len(), 2, "raised twice, each cleared: {all:#}");
        assert!(ours.iter().all(|a| a["cleared"].is_string()), "{all:#}");
        sim.close().await;
    }
    daemon.stop().await;
}

/// A charger that rejects the failsafe baseline SetChargingProfile (S3) raises a critical
/// failsafe-refused; once it accepts the baseline (sent again at its next boot) the alert
/// clears. Both versions; what the charger receives is schema-valid.
#[tokio::test(start_paused = true)]
async fn a_charger_refusing_the_failsafe_baseline_raises_and_an_accepted_baseline_clears() {
    use chargegate::sim::{ReplyPolicy, SimChargePoint, SimOptions};
    const KIND: &str = "failsafe-refused";
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    for (id, version, dir) in [
        ("CP16-1", OcppVersion::V16, "v16"),
        ("CS201-1", OcppVersion::V201, "v201"),
    ] {
        let mut opts = SimOptions::new(crate::common::url(&daemon), id, &[version]);
        opts.password = Some(crate::common::PASSWORD.into());
        opts.clock = clock;
        opts.reply_policy = ReplyPolicy::Reject;
        let sim = SimChargePoint::connect(opts).await.expect("connects");
        sim.boot().await.expect("boot accepted");
        let sent = sim
            .wait_for_call("SetChargingProfile", Duration::from_secs(5))
            .await
            .expect("the baseline is sent");
        crate::common::schema_check::assert_valid(dir, "SetChargingProfile", false, &sent.payload);
        assert!(
            open_until(&daemon, Duration::from_secs(5), 6, |l| has(l, KIND, id)).await,
            "{id}: the refusal raised nothing"
        );
        let open = open_in_store(&daemon).await;
        let a = open.iter().find(|a| a.kind == KIND).unwrap();
        assert_eq!(a.severity, "critical");
        assert!(a.message.contains("rejected"), "{}", a.message);
        // The retries (3 per connection) raise nothing more.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let (_, all) = get(daemon.http_addr, "/api/v1/alerts").await;
        let raised = all["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == KIND && a["charger"] == id)
            .count();
        assert_eq!(raised, 1, "{all:#}");
        sim.set_reply_policy(ReplyPolicy::Accept);
        sim.boot().await.expect("boot accepted");
        assert!(
            open_until(&daemon, Duration::from_secs(5), 6, |l| !has(l, KIND, id)).await,
            "{id}: the accepted baseline did not clear it"
        );
        sim.close().await;
    }
    daemon.stop().await;
}

/// The guard's cuts as dispatch audits them (`..., guard cut, <why>: <limit>`, one row
/// per limit sent to the charger): a fourth within 15 minutes raises
/// repeated-guard-cuts, three do not, a lifted cut or a plan with cuts elsewhere does
/// not count; 15 minutes without a cut clear it. On tokio's paused clock, shown by the
/// API over loopback.
#[tokio::test(start_paused = true)]
async fn repeated_guard_cuts_raise_and_fifteen_quiet_minutes_clear() {
    const KIND: &str = "repeated-guard-cuts";
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    let id = "CP16-1";
    let sim =
        crate::common::connect_virtual(&daemon, clock, id, OcppVersion::V16, Vec::new()).await;
    let audit = |reason: &str| {
        let record = chargegate::store::AuditRecord {
            ts: chargegate::ocpp::time::format(&clock.now()),
            charger_id: id.into(),
            action: "SetChargingProfile".into(),
            request: "{}".into(),
            response: Some(r#"{"status":"Accepted"}"#.into()),
            outcome: "accepted".into(),
            reason: reason.into(),
        };
        let store = daemon.csms.store().clone();
        async move {
            store
                .call(move |c| chargegate::store::audit(c, &record))
                .await
                .unwrap()
        }
    };
    let cut = "plan #2 (Optimal) with guard cuts, guard cut, L1 over by 4 A: 6 A (lease 300 s)";
    for _ in 0..3 {
        audit(cut).await;
        audit("plan #2 (Optimal) with guard cuts, guard cut lifted, 20 A free: 16 A").await;
        audit("plan #2 (Optimal) with guard cuts: 16 A").await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    assert!(
        !has(&open_in_store(&daemon).await, KIND, id),
        "three cuts raised it"
    );
    audit(cut).await;
    assert!(
        open_until(&daemon, Duration::from_secs(5), 4, |l| has(l, KIND, id)).await,
        "four cuts within 15 min raised nothing"
    );
    let (_, open) = get(daemon.http_addr, "/api/v1/alerts?active=true").await;
    let listed = of_kind(open["alerts"].as_array().unwrap(), KIND, id)[0].clone();
    assert_eq!(listed["severity"], "warning");
    assert!(
        listed["message"].as_str().unwrap().contains("4 times"),
        "{listed}"
    );
    // The last cut was at minute 3: still open at minute 17, cleared after minute 18.
    tokio::time::sleep(Duration::from_secs(14 * 60)).await;
    assert!(
        has(&open_in_store(&daemon).await, KIND, id),
        "cleared too early"
    );
    assert!(
        open_until(&daemon, Duration::from_secs(5), 40, |l| !has(l, KIND, id)).await,
        "15 minutes without a cut did not clear it"
    );
    sim.close().await;
    daemon.stop().await;
}

/// A transaction-without-meter-values alert open when the daemon stops stays open after
/// its restart (the quiet hour counts anew only for raising), under the same id, while
/// the charger reconnects without booting, until meter data comes. 1.6 on tokio's
/// paused clock.
#[tokio::test(start_paused = true)]
async fn a_transaction_alert_survives_a_restart_until_meter_data_comes() {
    const KIND: &str = "transaction-without-meter-values";
    let id = "CP16-1";
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    let sim =
        crate::common::connect_virtual(&daemon, clock, id, OcppVersion::V16, Vec::new()).await;
    let tx = sim
        .start_transaction(1, "GOOD", 1_000, clock.now())
        .await
        .expect("started")
        .key;
    tokio::time::sleep(Duration::from_secs(61 * 60)).await;
    let before = open_in_store(&daemon).await;
    let raised = before.iter().find(|a| a.kind == KIND).expect("raised").id;
    sim.close().await;
    daemon.stop().await;
    let (daemon, clock) = site.start_virtual("2026-03-02T09:02:00Z").await;
    // It reconnects without a boot (a boot would close its transaction, and clear the
    // alert with it).
    let mut opts =
        chargegate::sim::SimOptions::new(crate::common::url(&daemon), id, &[OcppVersion::V16]);
    opts.password = Some(crate::common::PASSWORD.into());
    opts.clock = clock;
    let sim = chargegate::sim::SimChargePoint::connect(opts)
        .await
        .expect("reconnects");
    // Several store checks after the restart: still the same open alert.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = open_in_store(&daemon).await;
    let kept: Vec<_> = after.iter().filter(|a| a.kind == KIND).collect();
    assert_eq!(kept.len(), 1, "{after:#?}");
    assert_eq!(kept[0].id, raised);
    sim.meter_values(1, &tx, 2_000.0, &[16.0, 16.0, 16.0])
        .await
        .expect("answered");
    assert!(
        open_until(&daemon, Duration::from_secs(5), 4, |l| !has(l, KIND, id)).await,
        "meter data after the restart did not clear it"
    );
    sim.close().await;
    daemon.stop().await;
}

/// A dispatch plan for CP16-1 and CS201-1 on one row with room for both.
fn plan(targets: &[(&str, f64)]) -> chargegate::dispatch::DispatchInput {
    use chargegate::units::{Amps, ChargerId};
    let id = |s: &str| ChargerId::new(s).unwrap();
    chargegate::dispatch::DispatchInput {
        targets: targets.iter().map(|(c, a)| (id(c), Amps(*a))).collect(),
        rows: vec![chargegate::dispatch::round::Row {
            name: "site/L1".into(),
            capacity: Amps(80.0),
            increase_capacity: Amps(80.0),
            ramp_open: false,
            chargers: vec![id("CP16-1"), id("CS201-1")],
        }],
        why: "test plan".into(),
        notes: Default::default(),
        samples_wanted: Default::default(),
    }
}

/// The open composite-misreported alert of `id` is a warning naming both currents: the
/// simulator's composite shows its 32 A maximum, whatever it accepted.
async fn check_misreport_message(daemon: &chargegate::daemon::Daemon, id: &str) {
    const KIND: &str = "composite-misreported";
    let open = open_in_store(daemon).await;
    let a = open
        .iter()
        .find(|a| a.kind == KIND && a.charger.as_deref() == Some(id))
        .unwrap();
    assert_eq!(a.severity, "warning");
    // The simulator's composite shows its 32 A maximum, whatever it accepted.
    let text = &a.message;
    let accepted = text
        .split("while it accepted ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|a| a.parse::<f64>().ok());
    assert!(
        text.starts_with(&format!("{id} applies 32 A while it accepted "))
            && accepted.is_some_and(|a| a < 32.0)
            && text.contains("firmware ignores or misapplies ChargingProfiles"),
        "{text}"
    );
}

/// With `[dispatch] verify`, a charger that accepts its limit but whose composite schedule
/// shows another (the simulator's faulty firmware applies no profile) raises
/// composite-misreported with the limits in the message; once it applies what it
/// accepts, the next verification clears it. Both versions; the checks the chargers get
/// are schema-valid GetCompositeSchedule.
#[tokio::test(start_paused = true)]
async fn a_charger_misreporting_its_composite_schedule_raises_and_a_matching_one_clears() {
    use chargegate::sim::{SimChargePoint, SimOptions};
    const KIND: &str = "composite-misreported";
    let mut site = crate::common::Site::new("");
    site.config.dispatch.verify = true;
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    let mut sims = Vec::new();
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let mut opts = SimOptions::new(crate::common::url(&daemon), id, &[version]);
        opts.password = Some(crate::common::PASSWORD.into());
        opts.clock = clock;
        opts.ignores_profiles = true;
        let sim = SimChargePoint::connect(opts).await.expect("connects");
        sim.boot().await.expect("boot accepted");
        sims.push(sim);
    }
    daemon
        .dispatch_input
        .send(plan(&[("CP16-1", 16.0), ("CS201-1", 10.0)]))
        .unwrap();
    for id in ["CP16-1", "CS201-1"] {
        assert!(
            open_until(&daemon, Duration::from_secs(2), 60, |l| has(l, KIND, id)).await,
            "{id}: the misreport raised nothing"
        );
        check_misreport_message(&daemon, id).await;
    }
    for (sim, dir) in sims.iter().zip(["v16", "v201"]) {
        let checks: Vec<_> = sim
            .received_calls()
            .into_iter()
            .filter(|c| c.action == "GetCompositeSchedule")
            .collect();
        assert!(!checks.is_empty(), "{}", sim.id());
        for c in &checks {
            crate::common::schema_check::assert_valid(
                dir,
                "GetCompositeSchedule",
                false,
                &c.payload,
            );
        }
        sim.set_ignores_profiles(false);
    }
    // Mended: the next limits are applied as accepted, and verified.
    daemon
        .dispatch_input
        .send(plan(&[("CP16-1", 14.0), ("CS201-1", 12.0)]))
        .unwrap();
    for id in ["CP16-1", "CS201-1"] {
        assert!(
            open_until(&daemon, Duration::from_secs(2), 60, |l| !has(l, KIND, id)).await,
            "{id}: a matching verification did not clear it"
        );
    }
    let (_, all) = get(daemon.http_addr, "/api/v1/alerts").await;
    let shown = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == KIND && !a["cleared"].is_null())
        .count();
    assert_eq!(
        shown, 2,
        "both shown raised and cleared on the API: {all:#}"
    );
    for sim in sims {
        sim.close().await;
    }
    daemon.stop().await;
}
