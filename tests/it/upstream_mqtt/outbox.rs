//! Delivery through broker outages: what chargegate records while the broker is away waits
//! in its SQLite outbox and arrives complete, in order, once the broker is back, even when
//! the broker goes away again in the middle of the catch-up.

use chargegate::daemon::Limits;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimChargePoint;

use super::{
    Upstream, WAIT, assert_complete, charge, checked_outbox, has_ended, newest_transaction,
    transaction_events, wait_upstream,
};

/// Broker stopped (SIGTERM) after chargegate went online; a whole session on a 1.6 and on
/// a 2.0.1 charger; the API says the link is down and the events wait. Broker back: both
/// sessions arrive started ... ended, the transactions stream runs 1..n, and each last
/// event carries the API's billing record.
#[tokio::test]
async fn a_transaction_while_the_broker_is_down_arrives_complete_and_in_order_when_it_returns() {
    let mut up = Upstream::start("broker-down", Limits::Manual).await;
    let cp16 = up.charger("CP16-1", OcppVersion::V16).await;
    let cs201 = up.charger("CS201-1", OcppVersion::V201).await;
    up.broker.stop().await;
    wait_upstream(up.addr(), "the link is down", |u| {
        u["kind"] == "mqtt" && u["connected"] == false
    })
    .await;
    charge(&cp16, 10_000, 17_333).await;
    charge(&cs201, 200_000, 222_222).await;
    let ids = [
        newest_transaction(up.addr(), "CP16-1").await,
        newest_transaction(up.addr(), "CS201-1").await,
    ];
    wait_upstream(up.addr(), "the events wait in the outbox", |u| {
        u["pending"].as_u64().is_some_and(|n| n >= 4)
    })
    .await;
    let sent_while_down = up.watcher.messages().len();

    up.broker.start_again().await;
    let prefix = up.prefix.clone();
    let msgs = up
        .watcher
        .wait_for(
            "both sessions ended",
            |m| ids.iter().all(|id| has_ended(&prefix, m, *id)),
            WAIT,
        )
        .await;
    assert!(
        msgs[sent_while_down..]
            .iter()
            .any(|m| m.topic.starts_with(&format!("{prefix}/transactions/"))),
        "the events came after the broker returned"
    );
    let outbox = checked_outbox(&prefix, &msgs);
    for id in ids {
        assert_complete(up.addr(), &transaction_events(&prefix, &outbox, id), id).await;
    }
    // Telemetry keeps coming every second, so only the transactions drain to 0.
    wait_upstream(up.addr(), "the outbox drains", |u| {
        u["connected"] == true && u["pending_transactions"] == 0
    })
    .await;
    up.daemon.stop().await;
}

/// Sessions that pile up while the broker is away: `rounds` sessions on each charger.
async fn sessions(sims: &[&SimChargePoint], rounds: i64) {
    for round in 0..rounds {
        for sim in sims {
            charge(sim, round * 10_000, round * 10_000 + 4_321).await;
        }
    }
}

/// Many records queued (sessions on both versions and a few seconds of telemetry at 1 s)
/// while the broker is stopped; the broker comes back and is stopped again as soon as the
/// first of them arrive, then comes back for good: every transaction event arrives
/// (stream_seq 1..n), and what came twice came with the same msg_id and the same bytes.
#[tokio::test]
async fn a_broker_restart_mid_drain_loses_nothing() {
    let mut up = Upstream::start("mid-drain", Limits::Manual).await;
    let cp16 = up.charger("CP16-2", OcppVersion::V16).await;
    let cs201 = up.charger("CS201-2", OcppVersion::V201).await;
    up.broker.stop().await;
    sessions(&[&cp16, &cs201], 8).await;
    // Telemetry (1 s) piles up on top of the 32 session events and more.
    wait_upstream(up.addr(), "the backlog", |u| {
        u["pending"].as_u64().is_some_and(|n| n >= 40)
    })
    .await;
    let before = up.watcher.messages().len();

    up.broker.start_again().await;
    let prefix = up.prefix.clone();
    let tx_topic = format!("{prefix}/transactions/");
    up.watcher
        .wait_for(
            "the first caught-up events",
            |m| m[before..].iter().any(|m| m.topic.starts_with(&tx_topic)),
            WAIT,
        )
        .await;
    up.broker.stop().await;
    let at_second_stop = up.watcher.messages();
    up.broker.start_again().await;

    let ids = [
        newest_transaction(up.addr(), "CP16-2").await,
        newest_transaction(up.addr(), "CS201-2").await,
    ];
    let msgs = up
        .watcher
        .wait_for(
            "the last sessions ended",
            |m| ids.iter().all(|id| has_ended(&prefix, m, *id)),
            WAIT,
        )
        .await;
    let outbox = checked_outbox(&prefix, &msgs);
    let events = outbox
        .iter()
        .filter(|(t, _)| t.starts_with(&tx_topic))
        .count();
    let early = checked_outbox(&prefix, &at_second_stop)
        .iter()
        .filter(|(t, _)| t.starts_with(&tx_topic))
        .count();
    assert!(
        early < events,
        "the second stop came after the catch-up ({early} of {events} events): the test \
         proved nothing"
    );
    assert!(
        events >= 32,
        "16 sessions give at least 32 events, got {events}"
    );
    up.daemon.stop().await;
}
