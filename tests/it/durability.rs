//! Issue 17, durability: what a charger was told is stored stays stored, even when the
//! charger's clock or counters misbehave. Each test reproduces a record that was
//! acknowledged and then dropped.

use chargegate::ocpp::model::OcppVersion;
use chargegate::ocpp::time::format as ts;
use chargegate::store;
use chrono::{Duration, Utc};
use serde_json::json;

use crate::common::{Site, connect_booted, samples_of, stored_transactions};

/// The only stored transaction.
async fn only_transaction(daemon: &chargegate::daemon::Daemon) -> store::TransactionRecord {
    let list = stored_transactions(daemon).await;
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

/// A charger whose clock is unset stamps every sample alike: each acknowledged reading with
/// a new value is a reading, not a resend.
#[tokio::test]
async fn readings_with_the_same_timestamp_but_new_values_are_all_kept() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let stuck = Utc::now() - Duration::days(3650);
    let started = sim.start_transaction(1, "GOOD", 0, stuck).await.unwrap();
    let tx_id: i64 = started.key.parse().unwrap();
    for wh in [100, 200, 300, 400, 500] {
        let payload = json!({
            "connectorId": 1, "transactionId": tx_id,
            "meterValue": [{"timestamp": ts(&stuck), "sampledValue": [
                {"value": wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
            ]}]
        });
        sim.call("MeterValues", payload)
            .await
            .expect("acknowledged");
    }
    // A true resend of the last one changes nothing.
    let resend = json!({
        "connectorId": 1, "transactionId": tx_id,
        "meterValue": [{"timestamp": ts(&stuck), "sampledValue": [
            {"value": "500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        ]}]
    });
    sim.call("MeterValues", resend).await.expect("acknowledged");
    sim.close().await;
    let tx = only_transaction(&daemon).await;
    assert_eq!(
        samples_of(&daemon, tx.id).await,
        5,
        "five readings, one resend"
    );
    daemon.stop().await;
}

/// A 2.0.1 station that restarts its seqNo counter mid-transaction sends new events under
/// numbers already used; they carry new data and must be stored (a duplicate is the same
/// seqNo with the same content).
#[tokio::test]
async fn a_restarted_seq_no_with_new_data_is_not_taken_for_a_resend() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = connect_booted(&daemon, "CS201-1", OcppVersion::V201).await;
    let t0 = Utc::now() - Duration::minutes(30);
    let event = |kind: &str, seq_no: u32, minute: i64, wh: f64| {
        let at = ts(&(t0 + Duration::minutes(minute)));
        json!({
            "eventType": kind, "timestamp": at,
            "triggerReason": if kind == "Started" { "Authorized" } else { "MeterValuePeriodic" },
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": "restart-1"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": at, "sampledValue": [
                {"value": wh, "measurand": "Energy.Active.Import.Register"}
            ]}]
        })
    };
    for (kind, seq_no, minute, wh) in [
        ("Started", 0, 0, 1_000.0),
        ("Updated", 1, 5, 2_000.0),
        // The station rebooted and counts from 0 again.
        ("Updated", 0, 10, 3_000.0),
        ("Updated", 1, 15, 4_000.0),
        // A true resend of the last one.
        ("Updated", 1, 15, 4_000.0),
    ] {
        let reply = sim
            .call("TransactionEvent", event(kind, seq_no, minute, wh))
            .await;
        reply.expect("acknowledged");
    }
    let mut ended = event("Ended", 2, 20, 5_000.0);
    ended["triggerReason"] = json!("EVCommunicationLost");
    sim.call("TransactionEvent", ended)
        .await
        .expect("acknowledged");
    sim.close().await;
    let tx = only_transaction(&daemon).await;
    assert_eq!(tx.energy_wh, Some(4_000.0), "{tx:?}");
    assert_eq!(
        samples_of(&daemon, tx.id).await,
        5,
        "five readings, one resend"
    );
    daemon.stop().await;
}
