//! The `chargegate` binary SIGKILLed and restarted while the cloud is down (issue 13 test
//! e): the transaction messages were in the store before the charger heard its answers,
//! so when the cloud comes back it gets the whole transaction once, in order, as in
//! `replay`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};

use super::replay::{assert_whole_transaction, stamps, wait_whole_transaction, whole_transaction};
use super::{OWN_IDENTITY, WAIT, ocpp_section};
use crate::common::PASSWORD;
use crate::common::cloud::{Cloud, Snapshot};

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
    fn new(cloud: &Cloud) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (csms_port, http_port) = (free_port(), free_port());
        let text = crate::common::site_toml(&dir.path().join("cg.db"), "")
            .replacen("127.0.0.1:0", &format!("127.0.0.1:{csms_port}"), 1)
            .replacen("127.0.0.1:0", &format!("127.0.0.1:{http_port}"), 1)
            + &ocpp_section(cloud, OcppVersion::V201);
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

/// Both versions at once: the cloud up (chargegate and both chargers connected through),
/// the cloud stopped, a whole transaction on each charger, SIGKILL right after the last
/// answer, chargegate restarted, the cloud back: each transaction arrives once, in order,
/// with the charger's timestamps (and 1.6 under the cloud's id).
#[tokio::test]
async fn a_sigkill_while_the_cloud_is_down_loses_and_repeats_nothing() {
    let cloud = Cloud::start().await;
    let mut chargegate = Chargegate::new(&cloud);
    chargegate.run().await;
    let v16 = chargegate.charger("CP16-1", OcppVersion::V16).await;
    let v201 = chargegate.charger("CS201-1", OcppVersion::V201).await;
    for id in [OWN_IDENTITY, "CP16-1", "CS201-1"] {
        cloud.wait_connected(id, WAIT).await;
    }
    cloud.stop().await;
    let at = stamps();
    let tx16 = whole_transaction(&v16, &at).await;
    let tx201 = whole_transaction(&v201, &at).await;
    chargegate.kill();
    drop((v16, v201));

    chargegate.run().await;
    cloud.start_again().await;
    let booted = cloud.wait_for(WAIT, |s| s.is_connected(OWN_IDENTITY)).await;
    assert!(
        booted,
        "chargegate did not come back to the cloud:\n{}",
        chargegate.log()
    );
    wait_whole_transaction(&cloud, "CP16-1", OcppVersion::V16).await;
    wait_whole_transaction(&cloud, "CS201-1", OcppVersion::V201).await;
    assert_whole_transaction(&cloud, "CP16-1", OcppVersion::V16, &tx16, &at);
    assert_whole_transaction(&cloud, "CS201-1", OcppVersion::V201, &tx201, &at);
    // Before the restart the cloud had processed nothing of either transaction: what
    // arrived came from the store.
    let seen = cloud.snapshot();
    assert!(
        Snapshot::calls(&seen.processed, "CP16-1", "StartTransaction").len() == 1,
        "{:#?}",
        seen.processed
    );
}
