//! The `chargegate` binary under the broker: SIGKILL while records wait for the broker
//! loses none of them (they are in the SQLite outbox before the charger hears its
//! answer), and SIGKILL while connected makes the broker publish the last will.

use chargegate::ocpp::model::OcppVersion;

use super::{
    WAIT, assert_complete, charge, checked_outbox, has_ended, mqtt_section, newest_transaction,
    prefix, transaction_events, wait_status,
};
use crate::common::http;
use crate::common::mosquitto::{Broker, Watcher};
use crate::common::process::Chargegate;

/// The process online, the broker stopped, a whole 1.6 session, then SIGKILL right after
/// the charger got its answer to StopTransaction. chargegate restarted, broker back: the
/// session arrives started ... ended with nothing missing, as the API has it.
#[tokio::test]
async fn a_transaction_survives_sigkill_of_chargegate_while_the_broker_is_down() {
    let name = "sigkill";
    let prefix = prefix(name);
    let mut broker = Broker::start().await;
    let watcher = Watcher::connect(broker.port(), "w-sigkill", &format!("{prefix}/#")).await;
    let mut cg = Chargegate::new(&mqtt_section(&broker, name, None));
    cg.run(WAIT).await;
    wait_status(&watcher, &prefix, "online").await;
    let sim = cg.charger("CP16-1", OcppVersion::V16).await;
    broker.stop().await;
    charge(&sim, 5_000, 12_345).await;
    cg.kill();
    drop(sim);

    cg.run(WAIT).await;
    broker.start_again().await;
    let id = newest_transaction(cg.http, "CP16-1").await;
    let Some(msgs) = watcher
        .try_wait_for(|m| has_ended(&prefix, m, id), WAIT)
        .await
    else {
        panic!(
            "transaction {id} did not end upstream; received:\n{}\nchargegate:\n{}",
            watcher.dump(),
            cg.log()
        );
    };
    let outbox = checked_outbox(&prefix, &msgs);
    assert_complete(cg.http, &transaction_events(&prefix, &outbox, id), id).await;
    let (status, record) = http(
        cg.http,
        "GET",
        &format!("/api/v1/transactions/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &record["energy_wh"]),
        (200, &serde_json::json!(7_345.0))
    );
}

/// chargegate online, then SIGKILL: the broker publishes the last will, `offline`, and
/// keeps it retained for whoever subscribes later.
#[tokio::test]
async fn the_last_will_says_offline_when_chargegate_is_killed() {
    let name = "last-will";
    let prefix = prefix(name);
    let broker = Broker::start().await;
    let watcher = Watcher::connect(broker.port(), "w-will", &format!("{prefix}/#")).await;
    let mut cg = Chargegate::new(&mqtt_section(&broker, name, None));
    cg.run(WAIT).await;
    wait_status(&watcher, &prefix, "online").await;
    cg.kill();
    wait_status(&watcher, &prefix, "offline").await;
    let late = Watcher::connect(broker.port(), "w-will-late", &format!("{prefix}/status")).await;
    let topic = format!("{prefix}/status");
    late.wait_for(
        "the retained offline",
        |m| {
            m.iter()
                .any(|m| m.topic == topic && m.retain && m.payload == b"offline")
        },
        WAIT,
    )
    .await;
}
