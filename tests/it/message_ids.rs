//! Issue 17, message id reuse: a resent CALL is the same action with the same payload under
//! the same message id (OCPP-J 1.6 §4.1.1). A charger that reuses an id for different
//! content sends a new CALL, which is processed and answered on its own; only a true resend
//! gets the cached answer (`a_resent_call_is_answered_from_cache_not_processed_twice` in
//! `csms.rs`).

use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::ocpp::rpc::Frame;
use chargegate::ocpp::time::format as ts;
use chargegate::sim::{RawReply, SimChargePoint};
use chrono::Utc;
use serde_json::{Value, json};

use crate::common::{Site, connect_booted, samples_of, schema_check, stored_transactions};

async fn connect(daemon: &chargegate::daemon::Daemon, id: &str) -> SimChargePoint {
    connect_booted(daemon, id, OcppVersion::V16).await
}

/// Writes `[2, id, action, payload]` as raw text (so the test picks the message id) and
/// returns the CALLRESULT's payload, checked against the action's response schema.
async fn call_with_id(sim: &SimChargePoint, id: &str, action: &str, payload: &Value) -> Value {
    schema_check::assert_valid("v16", action, false, payload);
    sim.send_text(&json!([2, id, action, payload]).to_string())
        .await
        .expect("sent");
    match sim
        .next_raw_reply(Duration::from_secs(3))
        .await
        .expect("an answer")
    {
        RawReply::Frame(Frame::CallResult { id: got, payload }) => {
            assert_eq!(got, id, "the answer carries the CALL's message id");
            schema_check::assert_valid("v16", action, true, &payload);
            payload
        }
        other => panic!("expected a CALLRESULT to {action}, got {other:?}"),
    }
}

fn start_transaction(connector: u32, meter_start_wh: u64) -> Value {
    json!({
        "connectorId": connector, "idTag": "GOOD", "meterStart": meter_start_wh,
        "timestamp": ts(&Utc::now())
    })
}

/// The transactionId of a StartTransaction.conf; fails when it has none.
fn transaction_id(answer: &Value) -> i64 {
    answer["transactionId"]
        .as_i64()
        .unwrap_or_else(|| panic!("a StartTransaction.conf carries a transactionId: {answer}"))
}

async fn transaction_count(daemon: &chargegate::daemon::Daemon) -> usize {
    stored_transactions(daemon).await.len()
}

#[tokio::test]
async fn a_meter_values_under_the_start_transactions_id_is_stored() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = connect(&daemon, "CP16-1").await;
    let started = call_with_id(
        &sim,
        "reused-1",
        "StartTransaction",
        &start_transaction(1, 0),
    )
    .await;
    let tx_id = transaction_id(&started);

    // The charger's id counter wrapped (or it reuses ids per connector): same id, new CALL.
    let meter_values = json!({
        "connectorId": 1, "transactionId": tx_id,
        "meterValue": [{"timestamp": ts(&Utc::now()), "sampledValue": [
            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        ]}]
    });
    let answer = call_with_id(&sim, "reused-1", "MeterValues", &meter_values).await;
    assert_eq!(
        answer,
        json!({}),
        "the MeterValues.conf, not the Start's answer"
    );
    assert_eq!(samples_of(&daemon, tx_id).await, 1, "the sample is stored");
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_start_transaction_under_a_reused_id_gets_a_transaction_id() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = connect(&daemon, "CP16-1").await;

    // Two StartTransactions with one id but different content are two transactions.
    let first = call_with_id(
        &sim,
        "reused-2",
        "StartTransaction",
        &start_transaction(1, 0),
    )
    .await;
    let second = call_with_id(
        &sim,
        "reused-2",
        "StartTransaction",
        &start_transaction(2, 700),
    )
    .await;
    assert_ne!(transaction_id(&first), transaction_id(&second));

    // The id of a CALL answered `{}` reused for a StartTransaction.
    let status = json!({"connectorId": 3, "errorCode": "NoError", "status": "Preparing"});
    assert_eq!(
        call_with_id(&sim, "reused-3", "StatusNotification", &status).await,
        json!({})
    );
    let third = call_with_id(
        &sim,
        "reused-3",
        "StartTransaction",
        &start_transaction(3, 0),
    )
    .await;
    transaction_id(&third);

    assert_eq!(transaction_count(&daemon).await, 3);
    sim.close().await;
    daemon.stop().await;
}

/// Issue 17, "Minor": the 36-character limit on a message id (OCPP-J 1.6 §4.1.1, 2.0.1
/// Part 4 §4.1.1) counts characters, not UTF-8 bytes. 36 euro signs (108 bytes) are a good
/// id; 37 are refused with a CALLERROR, which 2.0.1 sends under the id "-1" (Part 4 §4.2.3)
/// because the charger's own id is not a valid one to answer under, with RpcFrameworkError.
#[tokio::test]
async fn a_message_id_is_limited_to_36_characters_not_bytes() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let id = "€".repeat(36);
    sim.send_text(&json!([2, id, "Heartbeat", {}]).to_string())
        .await
        .expect("sent");
    match sim.next_raw_reply(Duration::from_secs(3)).await {
        Ok(RawReply::Frame(Frame::CallResult { id: got, payload })) => {
            assert_eq!(got, id, "the answer carries the CALL's message id");
            schema_check::assert_valid("v201", "Heartbeat", true, &payload);
        }
        other => panic!("a 36-character id is accepted, got {other:?}"),
    }
    let long = "€".repeat(37);
    sim.send_text(&json!([2, long, "Heartbeat", {}]).to_string())
        .await
        .expect("sent");
    match sim.next_raw_reply(Duration::from_secs(3)).await {
        Ok(RawReply::Frame(Frame::CallError { id, code, .. })) => {
            assert_eq!((id.as_str(), code.as_str()), ("-1", "RpcFrameworkError"));
        }
        other => panic!("a 37-character id is refused, got {other:?}"),
    }
    sim.close().await;
    daemon.stop().await;
}
