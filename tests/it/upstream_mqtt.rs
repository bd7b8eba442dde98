//! The MQTT upstream (issue 12, DESIGN.md "MQTT") against a real Mosquitto of the test's
//! own (`common::mosquitto`): the broker is stopped, killed and restarted under the real
//! daemon while simulated chargers of both OCPP versions charge, and what a subscriber
//! receives is checked against the HTTP API. Real time throughout: the broker is another
//! process, so tokio's paused clock cannot drive it; every wait is for a condition, with
//! a generous deadline.
//!
//! `outbox`: delivery through broker outages and restarts; `process`: the `chargegate`
//! binary killed with SIGKILL (durability, last will); `commands`: `cmd/<name>`.

mod commands;
mod outbox;
mod process;

use std::collections::BTreeMap;
use std::time::Duration;

use chargegate::daemon::{self, Daemon, Limits};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimChargePoint;
use serde_json::Value;

use crate::common::mosquitto::{Broker, Msg, TlsFiles, Watcher};
use crate::common::{Site, http};

/// How long a message may take through a broker restart and chargegate's reconnect (its
/// backoff starts at 0.5 s and doubles up to 10 s, so one missed retry costs 10 s).
pub(crate) const WAIT: Duration = Duration::from_secs(30);
/// The site id of `common::site_toml`, in every envelope.
const SITE_ID: &str = "test-depot";

pub(crate) fn prefix(name: &str) -> String {
    format!("t/{name}")
}

/// The `[upstream.mqtt]` section for `broker`, with a prefix and client id of the test's
/// own `name`; over TLS with the broker's client certificate when it has one.
pub(crate) fn mqtt_section(broker: &Broker, name: &str, tls: Option<&TlsFiles>) -> String {
    let mut text = format!(
        "\n[upstream.mqtt]\nurl = \"{}\"\ntopic-prefix = \"{}\"\nclient-id = \"cg-{name}\"\n\
         keep-alive-s = 5\ntelemetry-interval-s = 1\ntelemetry-retention-days = 7\n",
        broker.url(),
        prefix(name)
    );
    if let Some(tls) = tls {
        text += &format!(
            "ca-file = \"{}\"\nclient-cert-file = \"{}\"\nclient-key-file = \"{}\"\n",
            tls.ca.display(),
            tls.client_cert.display(),
            tls.client_key.display()
        );
    }
    text
}

/// The test site (`common::site_toml`) with the upstream to `broker` and the operator's
/// token of `operator_commands`.
pub(crate) fn site_with_upstream(broker: &Broker, name: &str, tls: Option<&TlsFiles>) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut text = crate::common::site_toml(&dir.path().join("chargegate.db"), "");
    text += &mqtt_section(broker, name, tls);
    let mut config =
        chargegate::config::parse(&text).unwrap_or_else(|p| panic!("test config: {p:#?}"));
    config.http.tokens = vec![chargegate::config::ApiToken {
        name: "control-room".into(),
        token_hash: chargegate::charger::handshake::hash_password(
            crate::operator_commands::OPERATOR,
        )
        .expect("hash"),
        role: chargegate::config::ApiRole::Operator,
    }];
    Site { dir, config }
}

/// A broker, a subscriber on the test's prefix, and the daemon publishing to the broker,
/// online (its `status` said so) when `start` returns.
pub(crate) struct Upstream {
    pub(crate) broker: Broker,
    pub(crate) watcher: Watcher,
    pub(crate) prefix: String,
    pub(crate) daemon: Daemon,
    _site: Site,
}

impl Upstream {
    pub(crate) async fn start(name: &str, limits: Limits) -> Self {
        let broker = Broker::start().await;
        let prefix = prefix(name);
        let watcher =
            Watcher::connect(broker.port(), &format!("w-{name}"), &format!("{prefix}/#")).await;
        let site = site_with_upstream(&broker, name, None);
        let store = chargegate::store::Store::open(&site.config.store.path).expect("store");
        let daemon = daemon::start_with_store(&site.config, store, limits)
            .await
            .expect("daemon starts");
        wait_status(&watcher, &prefix, "online").await;
        Self {
            broker,
            watcher,
            prefix,
            daemon,
            _site: site,
        }
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.daemon.http_addr
    }

    /// A configured charger of `version`, settled (baseline and local list installed).
    pub(crate) async fn charger(&self, id: &str, version: OcppVersion) -> SimChargePoint {
        crate::common::connect_settled(&self.daemon, id, version).await
    }
}

/// Waits until the newest message on `<prefix>/status` is `text`.
pub(crate) async fn wait_status(watcher: &Watcher, prefix: &str, text: &str) {
    let topic = format!("{prefix}/status");
    watcher
        .wait_for(
            &format!("{topic} = {text}"),
            |msgs| {
                msgs.iter()
                    .rev()
                    .find(|m| m.topic == topic)
                    .is_some_and(|m| m.payload == text.as_bytes())
            },
            WAIT,
        )
        .await;
}

/// `/api/v1/site`'s `upstream` object.
pub(crate) async fn upstream_state(addr: std::net::SocketAddr) -> Value {
    let (status, site) = http(addr, "GET", "/api/v1/site", None, None).await;
    assert_eq!(status, 200, "{site}");
    site["upstream"].clone()
}

/// Polls `/api/v1/site` until its `upstream` object satisfies `done`.
pub(crate) async fn wait_upstream(
    addr: std::net::SocketAddr,
    what: &str,
    done: impl Fn(&Value) -> bool,
) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let state = upstream_state(addr).await;
        if done(&state) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: /api/v1/site upstream is {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True for the topics of outbox messages (everything but `status` and commands).
fn is_outbox(prefix: &str, topic: &str) -> bool {
    let Some(rest) = topic.strip_prefix(prefix).and_then(|t| t.strip_prefix('/')) else {
        return false;
    };
    rest != "status" && !rest.starts_with("cmd/") && !rest.starts_with("cmd-result/")
}

/// The outbox messages received, each once (first arrival), after checking the envelope
/// contract over all of them: each has `msg_id`, `seq`, `stream`, `stream_seq`, `site_id`
/// and an RFC 3339 `at`; a resend (same `msg_id`) is byte for byte the first; no two
/// messages share a `seq`, and `seq` rises in arrival order; per stream `stream_seq`
/// rises, and for `transactions` and `alerts` (which lose nothing) runs 1, 2, 3 ... with
/// no gap.
pub(crate) fn checked_outbox(prefix: &str, msgs: &[Msg]) -> Vec<(String, Value)> {
    let mut first: BTreeMap<String, &Msg> = BTreeMap::new();
    let mut unique = Vec::new();
    for m in msgs.iter().filter(|m| is_outbox(prefix, &m.topic)) {
        let json = m.json();
        let id = envelope(&m.topic, &json);
        match first.get(&id) {
            Some(earlier) => assert!(
                earlier.payload == m.payload && earlier.topic == m.topic,
                "msg_id {id} sent twice with different content:\n  {} {}\n  {} {}",
                earlier.topic,
                earlier.text(),
                m.topic,
                m.text()
            ),
            None => {
                first.insert(id, m);
                unique.push((m.topic.clone(), json));
            }
        }
    }
    let seqs: Vec<i64> = unique
        .iter()
        .map(|(_, j)| j["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq does not rise in arrival order: {seqs:?}"
    );
    let mut streams: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, j) in &unique {
        let stream = j["stream"].as_str().unwrap().to_string();
        streams
            .entry(stream)
            .or_default()
            .push(j["stream_seq"].as_i64().unwrap());
    }
    for (stream, nums) in &streams {
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "stream {stream}: stream_seq does not rise in arrival order: {nums:?}"
        );
        if stream == "transactions" || stream == "alerts" {
            let want: Vec<i64> = (1..=nums.len() as i64).collect();
            assert_eq!(
                nums, &want,
                "stream {stream} has a gap or does not start at 1"
            );
        }
    }
    unique
}

/// Checks one message's envelope; returns its `msg_id`.
fn envelope(topic: &str, json: &Value) -> String {
    let ok = json["msg_id"].is_string()
        && json["seq"].is_i64()
        && json["stream"].is_string()
        && json["stream_seq"].as_i64().is_some_and(|n| n >= 1)
        && json["site_id"] == SITE_ID
        && json["at"]
            .as_str()
            .is_some_and(|at| chrono::DateTime::parse_from_rfc3339(at).is_ok());
    assert!(ok, "{topic}: not a complete envelope: {json}");
    json["msg_id"].as_str().unwrap().to_string()
}

/// The distinct events of transaction `id` (the API's integer id), in arrival order.
pub(crate) fn transaction_events(prefix: &str, outbox: &[(String, Value)], id: i64) -> Vec<Value> {
    let topic = format!("{prefix}/transactions/{id}");
    outbox
        .iter()
        .filter(|(t, _)| *t == topic)
        .map(|(_, j)| j.clone())
        .collect()
}

/// True once transaction `id` has an `ended` event among `msgs`.
pub(crate) fn has_ended(prefix: &str, msgs: &[Msg], id: i64) -> bool {
    let topic = format!("{prefix}/transactions/{id}");
    msgs.iter()
        .filter(|m| m.topic == topic)
        .any(|m| serde_json::from_slice::<Value>(&m.payload).is_ok_and(|j| j["event"] == "ended"))
}

/// A whole session on `sim`'s connector 1: started at `start_wh`, two readings, stopped
/// at `stop_wh`; returns the charger's key for it.
pub(crate) async fn charge(sim: &SimChargePoint, start_wh: i64, stop_wh: i64) -> String {
    let now = chrono::Utc::now();
    let tx = sim
        .start_transaction(1, "GOOD", start_wh, now)
        .await
        .expect("the transaction starts");
    for part in [1, 2] {
        let wh = start_wh + (stop_wh - start_wh) * part / 3;
        sim.meter_values(1, &tx.key, wh as f64, &[16.0, 16.0, 16.0])
            .await
            .expect("the reading is taken");
    }
    sim.stop_transaction(&tx.key, stop_wh, "EVDisconnected", chrono::Utc::now())
        .await
        .expect("the transaction stops");
    tx.key
}

/// The API's integer id of the newest transaction on `charger`.
pub(crate) async fn newest_transaction(addr: std::net::SocketAddr, charger: &str) -> i64 {
    let (status, page) = http(
        addr,
        "GET",
        &format!("/api/v1/transactions?charger={charger}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["transactions"]
        .as_array()
        .and_then(|all| all.iter().filter_map(|t| t["id"].as_i64()).max())
        .unwrap_or_else(|| panic!("no transaction on {charger}: {page}"))
}

/// Transaction `id`'s events: `started` first, `ended` last, `updated` between, and the
/// last one carries the API's record of it, energy included.
pub(crate) async fn assert_complete(addr: std::net::SocketAddr, events: &[Value], id: i64) {
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?"))
        .collect();
    assert!(
        names.len() >= 2
            && names[0] == "started"
            && names[names.len() - 1] == "ended"
            && names[1..names.len() - 1].iter().all(|n| *n == "updated"),
        "transaction {id}: events {names:?}"
    );
    assert!(
        events.iter().all(|e| e["stream"] == "transactions"),
        "transaction {id}: {events:?}"
    );
    let (status, record) = http(
        addr,
        "GET",
        &format!("/api/v1/transactions/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{record}");
    let last = &events[events.len() - 1]["transaction"];
    assert_eq!(last["energy_wh"], record["energy_wh"], "transaction {id}");
    assert_eq!(
        last, &record,
        "transaction {id}: the ended event is the API's record"
    );
}

/// Over TLS with a client certificate (`mqtts://`, `ca-file`, `client-cert-file`,
/// `client-key-file`): the broker accepts chargegate only with the certificate, and a
/// subscriber that comes later finds `status` = `online` and the site message retained.
#[tokio::test]
async fn mqtts_with_a_client_certificate() {
    let broker = Broker::start_tls().await;
    let tls = broker.tls_files().clone();
    let name = "mqtts";
    let site = site_with_upstream(&broker, name, Some(&tls));
    let daemon = daemon::start_manual(&site.config)
        .await
        .expect("daemon starts");
    let prefix = prefix(name);
    let filter = format!("{prefix}/#");
    let watcher = Watcher::connect_tls(broker.port(), "w-mqtts", &filter, &tls).await;
    let site_topic = format!("{prefix}/site");
    wait_status(&watcher, &prefix, "online").await;
    watcher
        .wait_for(
            "a site message",
            |m| m.iter().any(|m| m.topic == site_topic),
            WAIT,
        )
        .await;
    // Retained: a subscriber that comes now gets both at once (retain flag set).
    let late = Watcher::connect_tls(broker.port(), "w-mqtts-late", &filter, &tls).await;
    let status = format!("{prefix}/status");
    let msgs = late
        .wait_for(
            "retained status and site over TLS",
            |m| {
                m.iter()
                    .any(|m| m.topic == status && m.retain && m.payload == b"online")
                    && m.iter().any(|m| m.topic == site_topic && m.retain)
            },
            WAIT,
        )
        .await;
    let site_msg = msgs.iter().find(|m| m.topic == site_topic).unwrap().json();
    assert_eq!(site_msg["stream"], "site", "{site_msg}");
    assert_eq!(site_msg["site"]["upstream"]["kind"], "mqtt", "{site_msg}");
    // Mosquitto logs "... as cg-mqtts (p2, c0, k5, u'cg-test-client')": chargegate came
    // in with the certificate, whose name became its user.
    let log = broker.log();
    assert!(
        log.lines()
            .any(|l| l.contains("as cg-mqtts") && l.contains(crate::common::mosquitto::CLIENT_CN)),
        "chargegate's connection with the client certificate:\n{log}"
    );
    daemon.stop().await;
}
