//! `chargegate run` as a child process on a config of its own, for the tests that SIGKILL
//! it and start it again (the upstreams' store-and-forward across a crash).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};

use super::PASSWORD;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `chargegate run` on a config in its own folder (`common::site_toml` plus `upstream`),
/// with fixed ports so that a restart keeps them; killed on drop.
pub struct Chargegate {
    dir: tempfile::TempDir,
    config: PathBuf,
    csms_port: u16,
    pub http: SocketAddr,
    child: Option<Child>,
}

impl Chargegate {
    /// `upstream`: the `[upstream.*]` section the test is about.
    pub fn new(upstream: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (csms_port, http_port) = (free_port(), free_port());
        let text = crate::common::site_toml(&dir.path().join("cg.db"), "")
            .replacen("127.0.0.1:0", &format!("127.0.0.1:{csms_port}"), 1)
            .replacen("127.0.0.1:0", &format!("127.0.0.1:{http_port}"), 1)
            + upstream;
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

    /// Starts the daemon; its HTTP API answers when this returns, within `wait`.
    pub async fn run(&mut self, wait: Duration) {
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
        let deadline = std::time::Instant::now() + wait;
        while tokio::net::TcpStream::connect(self.http).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chargegate's API did not open:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and waits for the exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("chargegate.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A configured charger of `version`, connected and booted.
    pub async fn charger(&self, id: &str, version: OcppVersion) -> SimChargePoint {
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
