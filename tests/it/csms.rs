//! The local CSMS end to end: simulated chargers of both OCPP versions talk to a real
//! daemon over loopback WebSockets. Every message chargegate sends is validated against the
//! official schema.

use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{RawReply, ReplyPolicy, SimChargePoint, SimError, SimOptions};
use chargegate::store;
use chrono::Utc;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Site, schema_check, url};

const VERSIONS: [OcppVersion; 2] = [OcppVersion::V16, OcppVersion::V201];

fn dir(version: OcppVersion) -> &'static str {
    match version {
        OcppVersion::V16 => "v16",
        OcppVersion::V201 => "v201",
    }
}

/// A charger id of the test site for `version`.
fn charger_for(version: OcppVersion, n: u32) -> String {
    match version {
        OcppVersion::V16 => format!("CP16-{n}"),
        OcppVersion::V201 => format!("CS201-{n}"),
    }
}

async fn connect(
    daemon: &chargegate::daemon::Daemon,
    id: &str,
    version: OcppVersion,
) -> SimChargePoint {
    let mut opts = SimOptions::new(url(daemon), id, &[version]);
    opts.password = Some(PASSWORD.into());
    SimChargePoint::connect(opts)
        .await
        .expect("charger connects")
}

/// Checks a CALLRESULT chargegate sent against the action's response schema.
fn valid(sim: &SimChargePoint, action: &str, response: &Value) {
    schema_check::assert_valid(dir(sim.version()), action, true, response);
}

/// The CALLERROR the CSMS answered to a raw frame.
async fn raw_error(sim: &SimChargePoint) -> (String, String) {
    match sim
        .next_raw_reply(Duration::from_secs(3))
        .await
        .expect("an answer")
    {
        RawReply::Frame(chargegate::ocpp::rpc::Frame::CallError { id, code, .. }) => (id, code),
        other => panic!("expected a CALLERROR, got {other:?}"),
    }
}

fn tx_status_field(version: OcppVersion) -> &'static str {
    match version {
        OcppVersion::V16 => "idTagInfo",
        OcppVersion::V201 => "idTokenInfo",
    }
}

#[tokio::test]
async fn boot_heartbeat_and_status_are_answered_and_recorded() {
    let site = Site::new("");
    let daemon = site.start().await;
    for version in VERSIONS {
        let id = charger_for(version, 1);
        let sim = connect(&daemon, &id, version).await;
        assert_eq!(sim.version(), version);

        let boot = sim.boot().await.unwrap();
        valid(&sim, "BootNotification", &boot);
        assert_eq!(boot["status"], "Accepted");
        assert_eq!(boot["interval"], 120);

        let beat = sim.heartbeat().await.unwrap();
        valid(&sim, "Heartbeat", &beat);
        let current = chargegate::ocpp::time::parse(beat["currentTime"].as_str().unwrap()).unwrap();
        assert!(
            (Utc::now() - current).num_seconds().abs() < 5,
            "currentTime is now"
        );

        let status = sim.status(1, "Available").await.unwrap();
        valid(&sim, "StatusNotification", &status);
        sim.close().await;

        let statuses = daemon
            .csms
            .store()
            .call(move |c| store::connector_statuses(c, &id))
            .await
            .unwrap();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].2, "Available");
    }
    let chargers = daemon
        .csms
        .store()
        .call(|c| store::chargers(c))
        .await
        .unwrap();
    let versions: Vec<_> = chargers
        .iter()
        .map(|c| c.ocpp_version.clone().unwrap())
        .collect();
    assert_eq!(versions, ["ocpp1.6", "ocpp2.0.1"]);
    assert!(
        chargers
            .iter()
            .all(|c| c.registration == "accepted" && !c.connected)
    );
    daemon.stop().await;
}

#[tokio::test]
async fn authorize_follows_the_local_list() {
    let site = Site::new("");
    let daemon = site.start().await;
    for version in VERSIONS {
        let sim = connect(&daemon, &charger_for(version, 1), version).await;
        let unknown = match version {
            OcppVersion::V16 => "Invalid",
            OcppVersion::V201 => "Unknown",
        };
        for (token, want) in [
            ("GOOD", "Accepted"),
            ("BLOCKED", "Blocked"),
            ("OLD", "Expired"),
            ("NOBODY", unknown),
        ] {
            let answer = sim.authorize(token).await.unwrap();
            valid(&sim, "Authorize", &answer);
            assert_eq!(
                answer[tx_status_field(version)]["status"],
                want,
                "{version:?} {token}"
            );
        }
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test]
async fn a_whole_transaction_is_persisted_with_its_meter_values() {
    let site = Site::new("");
    let daemon = site.start().await;
    for version in VERSIONS {
        let sim = connect(&daemon, &charger_for(version, 1), version).await;
        sim.boot().await.unwrap();
        charge_7_kwh_in_half_an_hour(&sim, version).await;
        sim.close().await;
        assert_the_transaction_is_stored(&daemon, version).await;
    }
    daemon.stop().await;
}

/// Start at 10 kWh, one sample of energy and three phase currents, stop at 17 kWh after
/// 30 min; each message valid against the version's schema.
async fn charge_7_kwh_in_half_an_hour(sim: &SimChargePoint, version: OcppVersion) {
    let start = Utc::now();
    let started = sim
        .start_transaction(1, "GOOD", 10_000, start)
        .await
        .unwrap();
    valid(
        sim,
        if version == OcppVersion::V16 {
            "StartTransaction"
        } else {
            "TransactionEvent"
        },
        &started.response,
    );
    assert_eq!(
        started.response[tx_status_field(version)]["status"],
        "Accepted"
    );

    let mv = sim
        .meter_values(1, &started.key, 12_500.0, &[16.0, 16.0, 15.5])
        .await
        .unwrap();
    valid(
        sim,
        if version == OcppVersion::V16 {
            "MeterValues"
        } else {
            "TransactionEvent"
        },
        &mv,
    );
    let stop = sim
        .stop_transaction(
            &started.key,
            17_000,
            "EVDisconnected",
            start + chrono::Duration::minutes(30),
        )
        .await
        .unwrap();
    valid(
        sim,
        if version == OcppVersion::V16 {
            "StopTransaction"
        } else {
            "TransactionEvent"
        },
        &stop,
    );
}

/// The newest stored transaction is the closed 7 kWh one, with its samples.
async fn assert_the_transaction_is_stored(
    daemon: &chargegate::daemon::Daemon,
    version: OcppVersion,
) {
    let list = daemon
        .csms
        .store()
        .call(|c| store::transactions(c, 10))
        .await
        .unwrap();
    let tx = &list[0];
    assert_eq!(tx.charger_id, charger_for(version, 1));
    assert_eq!(tx.status, "closed");
    assert_eq!(tx.id_token.as_deref(), Some("GOOD"));
    assert_eq!(tx.meter_start_wh, Some(10_000.0));
    assert_eq!(tx.energy_wh, Some(7_000.0), "{version:?}: {tx:?}");
    assert_eq!(tx.stop_reason.as_deref(), Some("EVDisconnected"));
    let tx_id = tx.id;
    let samples = daemon
        .csms
        .store()
        .call(move |c| store::sample_count(c, tx_id))
        .await
        .unwrap();
    assert!(
        samples >= 4,
        "energy and three phase currents are stored ({samples})"
    );
}

#[tokio::test]
async fn a_transaction_survives_a_restart_and_resends_are_not_double_counted() {
    let site = Site::new("");
    let daemon = site.start().await;
    let start = Utc::now();
    let mut keys = Vec::new();
    for version in VERSIONS {
        let sim = connect(&daemon, &charger_for(version, 2), version).await;
        let started = sim
            .start_transaction(1, "GOOD", 1_000, start)
            .await
            .unwrap();
        sim.meter_values(1, &started.key, 2_000.0, &[10.0, 10.0, 10.0])
            .await
            .unwrap();
        keys.push(started.key);
        sim.close().await;
    }
    daemon.stop().await;

    // chargegate comes back on the same database; the chargers reconnect.
    let daemon = site.start().await;
    let open = daemon
        .csms
        .store()
        .call(|c| store::transactions(c, 10))
        .await
        .unwrap();
    assert_eq!(
        open.iter().filter(|t| t.status == "open").count(),
        2,
        "{open:?}"
    );
    for (version, key) in VERSIONS.into_iter().zip(&keys) {
        let sim = connect(&daemon, &charger_for(version, 2), version).await;
        if version == OcppVersion::V16 {
            // A 1.6 charger that never got the StartTransaction.conf resends it: same id.
            let again = sim
                .start_transaction(1, "GOOD", 1_000, start)
                .await
                .unwrap();
            assert_eq!(&again.key, key);
        } else {
            // A 2.0.1 station resends an event whose response it missed: same seqNo.
            let resend = json!({
                "eventType": "Updated", "timestamp": chargegate::ocpp::time::format(&start),
                "triggerReason": "MeterValuePeriodic", "seqNo": 1,
                "transactionInfo": {"transactionId": key},
                "meterValue": [{"timestamp": chargegate::ocpp::time::format(&start),
                    "sampledValue": [{"value": 999_999.0, "measurand": "Energy.Active.Import.Register"}]}]
            });
            schema_check::assert_valid("v201", "TransactionEvent", false, &resend);
            valid(
                &sim,
                "TransactionEvent",
                &sim.call("TransactionEvent", resend).await.unwrap(),
            );
            // The station's own counter goes on after the reconnect: Started was 0, the
            // Updated 1, so the Ended below is 2.
            assert_eq!((sim.next_seq_no(key), sim.next_seq_no(key)), (0, 1));
        }
        sim.stop_transaction(key, 5_000, "Local", start + chrono::Duration::minutes(10))
            .await
            .unwrap();
        sim.close().await;
    }
    let list = daemon
        .csms
        .store()
        .call(|c| store::transactions(c, 10))
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "no transaction was created twice: {list:?}");
    for tx in &list {
        assert_eq!(tx.status, "closed", "{tx:?}");
        assert_eq!(tx.energy_wh, Some(4_000.0), "{tx:?}");
    }
    daemon.stop().await;
}

#[tokio::test]
async fn handshakes_are_refused_with_a_clear_http_status() {
    let site = Site::new("");
    let daemon = site.start().await;
    let attempt = |id: &str, versions: &[OcppVersion], password: Option<&str>| {
        let mut opts = SimOptions::new(url(&daemon), id, versions);
        opts.password = password.map(Into::into);
        SimChargePoint::connect(opts)
    };
    let status = |r: Result<SimChargePoint, SimError>| match r {
        Err(SimError::Handshake { status, .. }) => status,
        other => panic!(
            "expected a refused handshake, got {:?}",
            other.map(|s| s.version())
        ),
    };
    assert_eq!(
        status(attempt("CP16-1", &[OcppVersion::V16], Some("wrong-password")).await),
        401
    );
    assert_eq!(
        status(attempt("CP16-1", &[OcppVersion::V16], None).await),
        401
    );
    // Issue 17: an unknown id is answered like a wrong password, so that the answers do
    // not tell which charger ids exist (it was a 404).
    assert_eq!(
        status(attempt("STRANGER", &[OcppVersion::V16], Some(PASSWORD)).await),
        401
    );
    assert_eq!(status(attempt("CP16-1", &[], Some(PASSWORD)).await), 400);
    // Offering both, the charger gets 2.0.1.
    let both = attempt(
        "CP16-1",
        &[OcppVersion::V16, OcppVersion::V201],
        Some(PASSWORD),
    )
    .await
    .unwrap();
    assert_eq!(both.version(), OcppVersion::V201);
    both.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn unknown_chargers_may_be_admitted_as_pending() {
    let site = Site::new("unknown-chargers = \"pending\"");
    let daemon = site.start().await;
    for version in VERSIONS {
        let sim = SimChargePoint::connect(SimOptions::new(url(&daemon), "NEWCOMER", &[version]))
            .await
            .unwrap();
        let boot = sim.boot().await.unwrap();
        valid(&sim, "BootNotification", &boot);
        assert_eq!(boot["status"], "Pending");
        // Nothing but boot and heartbeat is processed for a pending charger.
        match sim.authorize("GOOD").await {
            Err(SimError::CallError { code, .. }) => assert_eq!(code, "SecurityError"),
            other => panic!("expected SecurityError, got {other:?}"),
        }
        sim.close().await;
    }
    let chargers = daemon
        .csms
        .store()
        .call(|c| store::chargers(c))
        .await
        .unwrap();
    assert_eq!(chargers[0].registration, "pending");
    daemon.stop().await;
}

#[tokio::test]
async fn malformed_input_gets_the_right_callerror_and_the_connection_stays_up() {
    let site = Site::new("");
    let daemon = site.start().await;
    for version in VERSIONS {
        let sim = connect(&daemon, &charger_for(version, 1), version).await;
        let v16 = version == OcppVersion::V16;

        // Not JSON: 2.0.1 answers with id "-1" and RpcFrameworkError ("MessageId could not
        // be read", Part 4's error code table); 1.6 has no id to answer.
        sim.send_text("{this is not json").await.unwrap();
        if v16 {
            assert!(
                sim.next_raw_reply(Duration::from_millis(500))
                    .await
                    .is_err()
            );
        } else {
            assert_eq!(
                raw_error(&sim).await,
                ("-1".into(), "RpcFrameworkError".into())
            );
        }

        // Wrong type for a field.
        let wrong_type = if v16 {
            r#"[2,"m-type","BootNotification",{"chargePointVendor":5,"chargePointModel":"X"}]"#
        } else {
            r#"[2,"m-type","BootNotification",{"reason":"PowerUp","chargingStation":{"model":5,"vendorName":"X"}}]"#
        };
        sim.send_text(wrong_type).await.unwrap();
        assert_eq!(
            raw_error(&sim).await,
            ("m-type".into(), "TypeConstraintViolation".into())
        );

        // A required field missing.
        sim.send_text(r#"[2,"m-missing","Authorize",{}]"#)
            .await
            .unwrap();
        let want = if v16 {
            "OccurenceConstraintViolation"
        } else {
            "OccurrenceConstraintViolation"
        };
        assert_eq!(raw_error(&sim).await, ("m-missing".into(), want.into()));

        // An action nobody knows (OCPP-J: NotImplemented = "not known by receiver").
        sim.send_text(r#"[2,"m-unknown","FlyToTheMoon",{}]"#)
            .await
            .unwrap();
        assert_eq!(
            raw_error(&sim).await,
            ("m-unknown".into(), "NotImplemented".into())
        );

        // A frame that is JSON but not OCPP-J.
        sim.send_text(r#"[2,"m-short","Heartbeat"]"#).await.unwrap();
        let want = if v16 {
            "FormationViolation"
        } else {
            "FormatViolation"
        };
        assert_eq!(raw_error(&sim).await, ("m-short".into(), want.into()));

        // Over the 4096-byte limit of the test config.
        let big = format!(
            r#"[2,"m-big","DataTransfer",{{"vendorId":"x","data":"{}"}}]"#,
            "a".repeat(5000)
        );
        sim.send_text(&big).await.unwrap();
        assert_eq!(raw_error(&sim).await, ("m-big".into(), want.into()));

        // After all that, the connection still works.
        valid(&sim, "Heartbeat", &sim.heartbeat().await.unwrap());
        assert!(!sim.is_closed());
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test]
async fn a_resent_call_is_answered_from_cache_not_processed_twice() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = connect(&daemon, "CP16-1", OcppVersion::V16).await;
    let frame = r#"[2,"same-id","StartTransaction",{"connectorId":1,"idTag":"GOOD","meterStart":0,"timestamp":"2026-11-24T08:00:00Z"}]"#;
    sim.send_text(frame).await.unwrap();
    let first = sim.next_raw_reply(Duration::from_secs(3)).await.unwrap();
    sim.send_text(frame).await.unwrap();
    let second = sim.next_raw_reply(Duration::from_secs(3)).await.unwrap();
    assert_eq!(format!("{first:?}"), format!("{second:?}"));
    let list = daemon
        .csms
        .store()
        .call(|c| store::transactions(c, 10))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_charger_that_never_answers_times_out_and_stays_connected() {
    let site = Site::new("");
    let daemon = site.start().await;
    for version in VERSIONS {
        let id = charger_for(version, 1);
        let sim = crate::common::connect_settled(&daemon, &id, version).await;
        sim.set_reply_policy(ReplyPolicy::Ignore);
        let charger = chargegate::units::ChargerId::new(id.clone()).unwrap();
        let reset = chargegate::ocpp::model::ChargerCommand::Reset {
            kind: chargegate::ocpp::model::ResetKind::Soft,
            evse_id: None,
        };
        let started = std::time::Instant::now();
        let answer = daemon
            .chargers
            .send(&charger, reset.clone(), "test: slow charger")
            .await;
        assert_eq!(answer, Err(chargegate::charger::CommandError::Timeout));
        assert!(
            started.elapsed() >= Duration::from_millis(1900),
            "the 2 s call timeout applies"
        );
        // The charger is still connected and answers once it is responsive again.
        sim.set_reply_policy(ReplyPolicy::Accept);
        let answer = daemon
            .chargers
            .send(&charger, reset, "test: after the timeout")
            .await
            .unwrap();
        assert!(answer.is_accepted());
        let audit = daemon
            .csms
            .store()
            .call(move |c| store::audit_log(c, &id, 10))
            .await
            .unwrap();
        let outcomes: Vec<(&str, &str)> = audit
            .iter()
            .map(|a| (a.outcome.as_str(), a.reason.as_str()))
            .collect();
        assert_eq!(
            outcomes[..2],
            [
                ("accepted", "test: after the timeout"),
                ("timeout", "test: slow charger")
            ]
        );
        for call in sim.received_calls() {
            schema_check::assert_valid(dir(version), &call.action, false, &call.payload);
        }
        sim.close().await;
    }
    daemon.stop().await;
}

/// Issue 17, "Minor": a sampled value that is infinite as read ("1e400") or once in base
/// units ("1e306" kWh is 1e309 Wh) is refused with a CALLERROR and never stored, so it
/// reaches neither the energy register nor the load; the next good value is stored.
#[tokio::test]
async fn a_meter_value_that_converts_to_infinity_is_refused_and_not_stored() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let now = chargegate::ocpp::time::format(&Utc::now());
    let start = json!([2, "s-1", "StartTransaction",
        {"connectorId": 1, "idTag": "GOOD", "meterStart": 0, "timestamp": now}]);
    sim.send_text(&start.to_string()).await.unwrap();
    let tx = match sim.next_raw_reply(Duration::from_secs(3)).await {
        Ok(RawReply::Frame(chargegate::ocpp::rpc::Frame::CallResult { payload, .. })) => {
            payload["transactionId"].as_i64().expect("a transactionId")
        }
        other => panic!("StartTransaction answered, got {other:?}"),
    };
    let meter_values = |id: &str, value: &str| {
        json!([2, id, "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
            {"timestamp": now, "sampledValue": [{"value": value, "unit": "kWh"}]}]}])
        .to_string()
    };
    for (id, value) in [("m-inf", "1e400"), ("m-big", "1e306")] {
        sim.send_text(&meter_values(id, value)).await.unwrap();
        assert_eq!(
            raw_error(&sim).await,
            (id.into(), "PropertyConstraintViolation".into()),
            "{value} kWh"
        );
    }
    assert_eq!(crate::common::samples_of(&daemon, tx).await, 0);
    sim.send_text(&meter_values("m-ok", "12.5")).await.unwrap();
    match sim.next_raw_reply(Duration::from_secs(3)).await {
        Ok(RawReply::Frame(chargegate::ocpp::rpc::Frame::CallResult { id, .. })) => {
            assert_eq!(id, "m-ok");
        }
        other => panic!("a good MeterValues is answered, got {other:?}"),
    }
    assert_eq!(crate::common::samples_of(&daemon, tx).await, 1);
    sim.close().await;
    daemon.stop().await;
}
