//! Store and forward (issue 13 tests d and f): the cloud down for a whole transaction,
//! then back, gets the complete transaction exactly once (`processed`), in the charger's
//! order, with the charger's timestamps; 1.6 under the cloud's own transactionId, 2.0.1
//! marked offline with the charger's seqNos. A cloud that refuses (CALLERROR) or does not
//! answer a replayed message gets it again, and the next one waits.

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, messages};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Relayed, WAIT, calls_of, describe};
use crate::common::cloud::{Cloud, FIRST_CLOUD_TX_ID};

const V16_TX: &[&str] = &["StartTransaction", "MeterValues", "StopTransaction"];
const V201_TX: &[&str] = &["TransactionEvent"];

/// The charger's timestamps for start, two readings and stop: in the past, whole
/// seconds, so that a replay stamped "now" cannot match them by chance.
pub(crate) fn stamps() -> [DateTime<Utc>; 4] {
    let start = Utc::now() - chrono::Duration::hours(1);
    let start = DateTime::from_timestamp(start.timestamp(), 0).expect("a time");
    [0, 60, 120, 180].map(|s| start + chrono::Duration::seconds(s))
}

/// A whole transaction on connector/EVSE 1 of `sim` at `at`: start, two readings, stop.
/// Returns the charger's own transaction key (1.6: chargegate's local id).
pub(crate) async fn whole_transaction(sim: &SimChargePoint, at: &[DateTime<Utc>; 4]) -> String {
    let version = sim.version();
    let tx = sim
        .start_transaction(1, "GOOD", 1000, at[0])
        .await
        .expect("start answered by chargegate")
        .key;
    for (i, t) in at[1..3].iter().enumerate() {
        let energy = 1000.0 + 500.0 * (i as f64 + 1.0);
        let (action, payload) = match version {
            OcppVersion::V16 => {
                let local: i64 = tx.parse().expect("1.6 ids are integers");
                let p = messages::meter_values(version, 1, Some(local), energy, &[16.0; 3], t);
                ("MeterValues", p)
            }
            OcppVersion::V201 => {
                let seq = sim.next_seq_no(&tx);
                let p = messages::transaction_updated_v201(&tx, seq, 1, energy, &[16.0; 3], t);
                ("TransactionEvent", p)
            }
        };
        sim.call(action, payload).await.expect("reading answered");
    }
    sim.stop_transaction(&tx, 2500, "Local", at[3])
        .await
        .expect("stop answered by chargegate");
    tx
}

fn time_of(payload: &Value) -> DateTime<Utc> {
    let text = payload
        .get("timestamp")
        .or_else(|| payload.pointer("/meterValue/0/timestamp"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no timestamp in {payload}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .to_utc()
}

/// Waits until the cloud processed the four messages of one transaction from `id`.
pub(crate) async fn wait_whole_transaction(cloud: &Cloud, id: &str, version: OcppVersion) {
    let actions = match version {
        OcppVersion::V16 => V16_TX,
        OcppVersion::V201 => V201_TX,
    };
    let done = cloud
        .wait_for(WAIT, |s| calls_of(&s.processed, id, actions).len() >= 4)
        .await;
    assert!(
        done,
        "the cloud did not process {id}'s transaction:\n{}",
        describe(&cloud.snapshot().received)
    );
}

/// What the cloud processed of `id`'s transaction is complete, once, in order, with the
/// charger's timestamps, and (1.6) under the cloud's transactionId, (2.0.1) offline with
/// the charger's seqNos and transactionId `tx`.
pub(crate) fn assert_whole_transaction(
    cloud: &Cloud,
    id: &str,
    version: OcppVersion,
    tx: &str,
    at: &[DateTime<Utc>; 4],
) {
    let seen = cloud.snapshot();
    let actions = match version {
        OcppVersion::V16 => V16_TX,
        OcppVersion::V201 => V201_TX,
    };
    let got = calls_of(&seen.processed, id, actions);
    let names: Vec<&str> = got.iter().map(|(a, _)| a.as_str()).collect();
    let want: Vec<&str> = match version {
        OcppVersion::V16 => vec![V16_TX[0], V16_TX[1], V16_TX[1], V16_TX[2]],
        OcppVersion::V201 => vec![V201_TX[0]; 4],
    };
    assert_eq!(
        names,
        want,
        "once each, in order:\n{}",
        describe(&seen.received)
    );
    let times: Vec<DateTime<Utc>> = got.iter().map(|(_, p)| time_of(p)).collect();
    assert_eq!(times, at.to_vec(), "the charger's timestamps");
    match version {
        OcppVersion::V16 => {
            for (action, payload) in &got[1..] {
                assert_eq!(
                    payload["transactionId"].as_i64(),
                    Some(FIRST_CLOUD_TX_ID),
                    "{action} under the cloud's transactionId (local {tx}): {payload}"
                );
            }
        }
        OcppVersion::V201 => {
            for (n, (_, payload)) in got.iter().enumerate() {
                assert_eq!(payload["seqNo"].as_u64(), Some(n as u64), "{payload}");
                assert_eq!(payload["transactionInfo"]["transactionId"], tx, "{payload}");
                assert_eq!(payload["offline"], true, "{payload}");
            }
        }
    }
}

/// The charger connected and relayed, the cloud stopped, a whole transaction, the cloud
/// back on the same port.
async fn offline_transaction(
    id: &str,
    version: OcppVersion,
) -> (Relayed, String, [DateTime<Utc>; 4]) {
    let relayed = Relayed::start(OcppVersion::V201).await;
    let sim = relayed.charger(id, version).await;
    relayed.cloud.stop().await;
    let at = stamps();
    let tx = whole_transaction(&sim, &at).await;
    relayed.cloud.start_again().await;
    (relayed, tx, at)
}

#[tokio::test]
async fn a_16_transaction_while_the_cloud_is_down_arrives_once_in_order_under_the_clouds_id() {
    let (relayed, tx, at) = offline_transaction("CP16-1", OcppVersion::V16).await;
    wait_whole_transaction(&relayed.cloud, "CP16-1", OcppVersion::V16).await;
    assert_whole_transaction(&relayed.cloud, "CP16-1", OcppVersion::V16, &tx, &at);
}

#[tokio::test]
async fn a_201_transaction_while_the_cloud_is_down_arrives_once_in_order_marked_offline() {
    let (relayed, tx, at) = offline_transaction("CS201-1", OcppVersion::V201).await;
    wait_whole_transaction(&relayed.cloud, "CS201-1", OcppVersion::V201).await;
    assert_whole_transaction(&relayed.cloud, "CS201-1", OcppVersion::V201, &tx, &at);
}

/// The first replayed reading is refused twice with CALLERROR, then left unanswered past
/// call-timeout-s once: it is sent again each time, never dropped, processed once, and the
/// StopTransaction behind it waits for it.
#[tokio::test]
async fn a_refused_or_unanswered_replay_is_retried_never_dropped_nor_duplicated() {
    for (id, version, action) in [
        ("CP16-1", OcppVersion::V16, "MeterValues"),
        ("CS201-1", OcppVersion::V201, "TransactionEvent"),
    ] {
        let relayed = Relayed::start(OcppVersion::V201).await;
        let sim = relayed.charger(id, version).await;
        relayed.cloud.stop().await;
        let at = stamps();
        let tx = whole_transaction(&sim, &at).await;
        // 2.0.1: the Started event is a TransactionEvent too; let it through first.
        let skip = u32::from(version == OcppVersion::V201);
        relayed.cloud.pass_next(action, skip);
        relayed.cloud.reject_next(action, 2);
        relayed.cloud.ignore_next(action, 1);
        relayed.cloud.start_again().await;
        wait_whole_transaction(&relayed.cloud, id, version).await;
        assert_whole_transaction(&relayed.cloud, id, version, &tx, &at);
        let received = calls_of(&relayed.cloud.snapshot().received, id, &[action]);
        let readings = if version == OcppVersion::V16 { 2 } else { 4 };
        assert_eq!(
            received.len(),
            readings + 3,
            "{id}: the refused and the unanswered attempts were sent again:\n{}",
            describe(&relayed.cloud.snapshot().received)
        );
        relayed.daemon.stop().await;
    }
}
