//! Relay both ways (issue 13 tests a, b, g): what a charger sends reaches the cloud under
//! the charger's own identity, subprotocol and credentials; what the cloud sends reaches
//! the charger and its answer comes back under the cloud's message id; chargegate's own
//! calls and the cloud's never share an id; the cloud decides Authorize while it is up,
//! the local list while it is down.

use std::collections::HashSet;
use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use futures_util::future::join_all;
use serde_json::{Value, json};

use super::{OWN_IDENTITY, Relayed, WAIT, describe, expected_credentials};
use crate::common::cloud::{Answer, Kind, Snapshot, V16, V201};

const CLOUD_CALL: Duration = Duration::from_secs(10);

/// The cloud's remote start in the charger's version.
fn remote_start(version: OcppVersion) -> (&'static str, Value) {
    match version {
        OcppVersion::V16 => (
            "RemoteStartTransaction",
            json!({"connectorId": 1, "idTag": "GOOD"}),
        ),
        OcppVersion::V201 => (
            "RequestStartTransaction",
            json!({"evseId": 1, "remoteStartId": 77,
                   "idToken": {"idToken": "GOOD", "type": "ISO14443"}}),
        ),
    }
}

/// Boot, status and authorize of `id` reach the cloud on a connection of the charger's
/// own, in its version, with its credentials; the cloud's remote start reaches the
/// charger under an id of chargegate's and the charger's answer reaches the cloud.
async fn relays_both_ways(id: &str, version: OcppVersion) {
    let relayed = Relayed::start(OcppVersion::V201).await;
    let sim = relayed.charger(id, version).await;
    sim.status(1, "Available").await.expect("status answered");
    sim.authorize("GOOD").await.expect("authorize answered");
    for action in ["BootNotification", "StatusNotification", "Authorize"] {
        relayed.wait_processed(id, action, 1).await;
    }
    let seen = relayed.cloud.snapshot();
    let connection = seen.connection(id).expect("the charger's connection");
    let subprotocol = match version {
        OcppVersion::V16 => V16,
        OcppVersion::V201 => V201,
    };
    assert_eq!(connection.subprotocol.as_deref(), Some(subprotocol));
    assert_eq!(connection.path, format!("/ocpp/{id}"));
    assert_eq!(
        connection.basic_credentials(),
        Some(expected_credentials(id))
    );
    let authorize = Snapshot::calls(&seen.processed, id, "Authorize");
    let token = authorize[0]
        .get("idTag")
        .or_else(|| authorize[0].pointer("/idToken/idToken"));
    assert_eq!(token, Some(&json!("GOOD")), "{authorize:?}");

    let (action, payload) = remote_start(version);
    let answer = relayed
        .cloud
        .call(id, action, payload.clone(), CLOUD_CALL)
        .await
        .expect("the cloud's call is answered");
    assert_eq!(answer, Answer::Result(json!({"status": "Accepted"})));
    let at_charger = sim
        .wait_for_call(action, WAIT)
        .await
        .unwrap_or_else(|| panic!("{action} did not reach {id}"));
    assert_eq!(at_charger.payload, payload, "relayed unchanged");
    assert!(
        !at_charger.id.starts_with("cloud-"),
        "the charger got the cloud's message id {}",
        at_charger.id
    );
    // Nothing but the answer to its own call came back to the cloud.
    let answers: Vec<String> = relayed
        .cloud
        .snapshot()
        .received
        .iter()
        .filter_map(|f| match &f.kind {
            Kind::Result { id, .. } | Kind::Error { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(answers, ["cloud-1"], "answers the cloud received");
}

#[tokio::test]
async fn a_16_charger_is_relayed_both_ways_under_its_identity_and_credentials() {
    relays_both_ways("CP16-1", OcppVersion::V16).await;
}

#[tokio::test]
async fn a_201_charger_is_relayed_both_ways_under_its_identity_and_credentials() {
    relays_both_ways("CS201-1", OcppVersion::V201).await;
}

#[tokio::test]
async fn chargegate_boots_its_own_identity_at_the_cloud_in_each_version() {
    for (version, subprotocol) in [(OcppVersion::V16, V16), (OcppVersion::V201, V201)] {
        let relayed = Relayed::start(version).await;
        let seen = relayed.cloud.snapshot();
        let own = seen.connection(OWN_IDENTITY).expect("own connection");
        assert_eq!(own.subprotocol.as_deref(), Some(subprotocol));
        let boot = Snapshot::calls(&seen.processed, OWN_IDENTITY, "BootNotification")[0].clone();
        match version {
            OcppVersion::V16 => {
                assert_eq!(boot["chargePointVendor"], "chargegate", "{boot}");
                assert_eq!(boot["chargePointModel"], "chargegate", "{boot}");
            }
            OcppVersion::V201 => {
                assert_eq!(boot["reason"], "PowerUp", "{boot}");
                assert_eq!(
                    boot["chargingStation"]["vendorName"], "chargegate",
                    "{boot}"
                );
                assert_eq!(boot["chargingStation"]["model"], "chargegate", "{boot}");
            }
        }
        crate::common::schema_check::assert_valid(
            if version == OcppVersion::V16 {
                "v16"
            } else {
                "v201"
            },
            "BootNotification",
            false,
            &boot,
        );
        relayed.daemon.stop().await;
    }
}

/// 30 cloud DataTransfers at once (the charger sim echoes their data) while chargegate
/// sends the charger profiles of its own: every CALL the charger sees has an id of its
/// own, each cloud call gets the answer to itself, and the cloud receives no answer to a
/// call it did not make.
#[tokio::test]
async fn message_ids_never_collide_between_the_clouds_calls_and_chargegates() {
    let relayed = Relayed::start(OcppVersion::V201).await;
    let sim = relayed.charger("CS201-1", OcppVersion::V201).await;
    let cloud_calls = (0..30).map(|n| {
        let payload = json!({"vendorId": "cloud", "messageId": "echo", "data": format!("n{n}")});
        relayed
            .cloud
            .call("CS201-1", "DataTransfer", payload, CLOUD_CALL)
    });
    let own_profiles = async {
        // Limits of chargegate's own, sent while the cloud's calls are in flight.
        for amps in [10.0, 12.0, 14.0, 16.0] {
            send_limit(&relayed.daemon, "CS201-1", amps);
            // The baseline's profile first, then each limit's: one at a time, so that
            // every limit goes out while cloud calls are in flight.
            sim.wait_for_call("SetChargingProfile", WAIT).await;
        }
    };
    let (answers, ()) = tokio::join!(join_all(cloud_calls), own_profiles);
    for (n, answer) in answers.into_iter().enumerate() {
        let answer = answer.expect("answered");
        assert_eq!(
            answer,
            Answer::Result(json!({"status": "Accepted", "data": format!("n{n}")})),
            "cloud call {n} got another call's answer"
        );
    }
    let calls = sim.received_calls();
    let ids: HashSet<&str> = calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), calls.len(), "the charger saw a message id twice");
    assert!(
        calls.iter().any(|c| c.action == "SetChargingProfile"),
        "chargegate's own profiles went out too"
    );
    let seen = relayed.cloud.snapshot();
    let made: HashSet<String> = (1..=30).map(|n| format!("cloud-{n}")).collect();
    for frame in &seen.received {
        if let Kind::Result { id, .. } | Kind::Error { id, .. } = &frame.kind {
            assert!(
                made.contains(id),
                "the cloud received an answer to {id}, which it never sent:\n{}",
                describe(&seen.received)
            );
        }
    }
}

/// The cloud's Authorize answer is what the charger gets while the cloud is up (a token
/// the local list accepts is refused when the cloud blocks it); with the cloud down the
/// local list decides again (GOOD accepted, BLOCKED refused).
#[tokio::test]
async fn the_cloud_decides_authorize_while_up_and_the_local_list_while_down() {
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let relayed = Relayed::start(OcppVersion::V201).await;
        let sim = relayed.charger(id, version).await;
        relayed.cloud.block("GOOD");
        let answer = sim.authorize("GOOD").await.expect("answered");
        assert_eq!(status_of(&answer), "Blocked", "{id} online: {answer}");
        relayed.wait_processed(id, "Authorize", 1).await;

        relayed.cloud.stop().await;
        let answer = sim.authorize("GOOD").await.expect("answered");
        assert_eq!(status_of(&answer), "Accepted", "{id} offline: {answer}");
        let answer = sim.authorize("BLOCKED").await.expect("answered");
        assert_eq!(status_of(&answer), "Blocked", "{id} offline: {answer}");
        relayed.daemon.stop().await;
    }
}

/// Asks dispatch (driven by the test) for `amps` on `charger`, alone on a 32 A row.
fn send_limit(daemon: &chargegate::daemon::Daemon, charger: &str, amps: f64) {
    use chargegate::dispatch::DispatchInput;
    use chargegate::dispatch::round::Row;
    use chargegate::units::{Amps, ChargerId};
    let id = ChargerId::new(charger).expect("test id");
    let input = DispatchInput {
        targets: [(id.clone(), Amps(amps))].into_iter().collect(),
        rows: vec![Row {
            name: "site/L1".into(),
            capacity: Amps(32.0),
            increase_capacity: Amps(32.0),
            ramp_open: false,
            chargers: vec![id],
        }],
        why: "test plan".into(),
        notes: Default::default(),
        samples_wanted: Default::default(),
    };
    daemon.dispatch_input.send(input).expect("dispatch runs");
}

fn status_of(answer: &Value) -> &str {
    answer
        .pointer("/idTagInfo/status")
        .or_else(|| answer.pointer("/idTokenInfo/status"))
        .and_then(Value::as_str)
        .unwrap_or("(none)")
}
