//! The `chargegate` binary under the broker: SIGKILL while records wait for the broker
//! loses none of them (they are in the SQLite outbox before the charger hears its
//! answer), and SIGKILL while connected makes the broker publish the last will.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};

use super::{
    WAIT, assert_complete, charge, checked_outbox, has_ended, mqtt_section, newest_transaction,
    prefix, transaction_events, wait_status,
};
use crate::common::mosquitto::{Broker, Watcher};
use crate::common::{PASSWORD, http};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `chargegate run` on a config in its own folder, with fixed ports so that a restart
/// keeps them; killed on drop.
struct Chargegate {
    dir: tempfile::TempDir,
    config: PathBuf,
    csms_port: u16,
    http: SocketAddr,
    child: Option<Child>,
}

impl Chargegate {
    fn new(broker: &Broker, name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (csms_port, http_port) = (free_port(), free_port());
        let text = crate::common::site_toml(&dir.path().join("cg.db"), "")
            .replacen("127.0.0.1:0", &format!("127.0.0.1:{csms_port}"), 1)
            .replacen("127.0.0.1:0", &format!("127.0.0.1:{http_port}"), 1)
            + &mqtt_section(broker, name, None);
        let config = dir.path().join("site.toml");
        std::fs::write(&config, text).expect("config written");
        Self {
            dir,
            config,
            csms_port,
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            child: None,
        }
    }

    /// Starts the daemon; its HTTP API answers when this returns.
    async fn run(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_chargegate"))
            .args(["run", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("chargegate starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(self.http).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chargegate's API did not open:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and waits for the exit.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("chargegate.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A configured charger of `version`, connected and booted.
    async fn charger(&self, id: &str, version: OcppVersion) -> SimChargePoint {
        let url = format!("ws://127.0.0.1:{}/ocpp", self.csms_port);
        let mut opts = SimOptions::new(url, id, &[version]);
        opts.password = Some(PASSWORD.into());
        let sim = SimChargePoint::connect(opts)
            .await
            .expect("charger connects");
        sim.boot().await.expect("boot accepted");
        sim
    }
}

impl Drop for Chargegate {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The process online, the broker stopped, a whole 1.6 session, then SIGKILL right after
/// the charger got its answer to StopTransaction. chargegate restarted, broker back: the
/// session arrives started ... ended with nothing missing, as the API has it.
#[tokio::test]
async fn a_transaction_survives_sigkill_of_chargegate_while_the_broker_is_down() {
    let name = "sigkill";
    let prefix = prefix(name);
    let mut broker = Broker::start().await;
    let watcher = Watcher::connect(broker.port(), "w-sigkill", &format!("{prefix}/#")).await;
    let mut cg = Chargegate::new(&broker, name);
    cg.run().await;
    wait_status(&watcher, &prefix, "online").await;
    let sim = cg.charger("CP16-1", OcppVersion::V16).await;
    broker.stop().await;
    charge(&sim, 5_000, 12_345).await;
    cg.kill();
    drop(sim);

    cg.run().await;
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
    let mut cg = Chargegate::new(&broker, name);
    cg.run().await;
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
