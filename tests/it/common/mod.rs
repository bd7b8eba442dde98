//! Shared set-up for the integration tests: a real daemon on loopback with a temporary
//! database, and the schema check for every message it sends.
#![allow(dead_code)]

pub mod cloud;
pub mod mosquitto;
pub mod process;

#[path = "../../../src/ocpp/schema_check.rs"]
pub mod schema_check;

use std::path::PathBuf;

use chargegate::config::{self, Config};
use chargegate::daemon::{self, Daemon};

pub const PASSWORD: &str = "test-password-0123";

/// A site config for tests: chargers `CP16-1`, `CP16-2` (1.6) and `CS201-1`, `CS201-2`
/// (2.0.1, though any charger may speak either version), tokens `GOOD`, `BLOCKED`, `OLD`.
pub fn site_toml(store: &std::path::Path, extra_csms: &str) -> String {
    let mut toml = format!(
        r#"
[site]
id = "test-depot"
grid-limit-a = 400
margin-a = 5
worst-case-load-a = 100

[csms]
listen = "127.0.0.1:0"
call-timeout-s = 2
max-message-bytes = 4096
heartbeat-interval-s = 120
{extra_csms}

[http]
listen = "127.0.0.1:0"

[store]
path = "{}"

[dispatch]
min-interval-s = 0


[[id-token]]
id = "GOOD"

[[id-token]]
id = "BLOCKED"
status = "blocked"

[[id-token]]
id = "OLD"
expires = 2020-01-01T00:00:00Z
"#,
        store.display()
    );
    for id in ["CP16-1", "CP16-2", "CS201-1", "CS201-2"] {
        toml.push_str(&format!(
            "\n[[charger]]\nid = \"{id}\"\npassword = \"{PASSWORD}\"\nmax-current-a = 32\n"
        ));
    }
    toml
}

/// A temporary folder holding the database; dropped at the end of the test.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl Site {
    pub fn new(extra_csms: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = site_toml(&dir.path().join("chargegate.db"), extra_csms);
        let config = config::parse(&text).unwrap_or_else(|p| panic!("test config: {p:#?}"));
        Self { dir, config }
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.store.path.clone()
    }

    /// The daemon with dispatch driven by the test (`Daemon::dispatch_input`), so that the
    /// plan does not send limits the test did not ask for.
    pub async fn start(&self) -> Daemon {
        daemon::start_manual(&self.config)
            .await
            .expect("daemon starts")
    }

    /// A config whose listener reuses a fixed port (for restart tests).
    pub fn with_port(&self, port: u16) -> Config {
        let mut config = self.config.clone();
        config.csms.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        config
    }
}

impl Site {
    /// The daemon on a virtual clock (tokio's paused clock, started at `start`, RFC 3339),
    /// with dispatch driven by the test as in `start`.
    pub async fn start_virtual(&self, start: &str) -> (Daemon, chargegate::clock::Clock) {
        let clock = chargegate::clock::Clock::virtual_from(
            chrono::DateTime::parse_from_rfc3339(start)
                .expect("test start time")
                .to_utc(),
        );
        let store = chargegate::store::Store::open(&self.config.store.path).expect("store");
        let daemon = daemon::start_with_clock(&self.config, store, daemon::Limits::Manual, clock)
            .await
            .expect("daemon starts");
        (daemon, clock)
    }
}

/// Connects a simulated charger on the daemon's virtual `clock`, holding `profiles` (a
/// charger that comes back with what it applied before), and boots it.
pub async fn connect_virtual(
    daemon: &Daemon,
    clock: chargegate::clock::Clock,
    id: &str,
    version: chargegate::ocpp::model::OcppVersion,
    profiles: Vec<serde_json::Value>,
) -> chargegate::sim::SimChargePoint {
    let mut opts = chargegate::sim::SimOptions::new(url(daemon), id, &[version]);
    opts.password = Some(PASSWORD.into());
    opts.clock = clock;
    opts.profiles = profiles;
    let sim = chargegate::sim::SimChargePoint::connect(opts)
        .await
        .expect("charger connects");
    sim.boot().await.expect("boot accepted");
    sim
}

pub fn url(daemon: &Daemon) -> String {
    format!("ws://{}/ocpp", daemon.csms_addr)
}

/// Connects a configured charger and waits until its failsafe baseline (DESIGN.md S3) is
/// installed, so that a test's own commands and assertions start from a settled charger.
pub async fn connect_settled(
    daemon: &Daemon,
    id: &str,
    version: chargegate::ocpp::model::OcppVersion,
) -> chargegate::sim::SimChargePoint {
    use chargegate::sim::{SimChargePoint, SimOptions};
    let mut opts = SimOptions::new(url(daemon), id, &[version]);
    opts.password = Some(PASSWORD.into());
    let sim = SimChargePoint::connect(opts)
        .await
        .expect("charger connects");
    let charger = chargegate::units::ChargerId::new(id).expect("test id");
    for _ in 0..200 {
        if daemon.baseline.is_acknowledged(&charger) {
            // And the local authorization list of the test site's cards, sent on connect
            // (`calls_after_baseline` leaves it out).
            sim.wait_for_call("SendLocalList", std::time::Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("{id}: the local list was not sent"));
            return sim;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{id}: the failsafe baseline was not installed");
}

/// The CALLs a charger received, without the failsafe baseline profiles and the local
/// list sync on connect (its first GetLocalListVersion and SendLocalList).
pub fn calls_after_baseline(
    sim: &chargegate::sim::SimChargePoint,
) -> Vec<chargegate::sim::ReceivedCall> {
    let mut sync = ["GetLocalListVersion", "SendLocalList"].to_vec();
    sim.received_calls()
        .into_iter()
        .filter(|c| {
            !(c.action == "SetChargingProfile"
                && c.payload.to_string().contains("\"stackLevel\":0"))
        })
        .filter(|c| {
            if let Some(i) = sync.iter().position(|a| *a == c.action) {
                sync.remove(i);
                false
            } else {
                true
            }
        })
        .collect()
}

/// xorshift64*: a seeded generator for the simulated sites, so a failing run can be
/// replayed from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The newest `n` audit entries, one line each, for a failure message.
pub async fn audit_tail(daemon: &Daemon, n: u32) -> String {
    let rows = daemon
        .csms
        .store()
        .call(move |c| chargegate::store::audit_entries(c, None, None, n))
        .await
        .unwrap_or_default();
    rows.iter()
        .map(|r| format!("  {} {} {}: {}", r.ts, r.charger_id, r.outcome, r.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The control loop's state, for a failure message: replans, guard cuts with their reasons,
/// notes, and the load each circuit is believed to carry.
pub fn control_state(daemon: &Daemon) -> String {
    let plan = daemon.plan.borrow();
    let mut out = format!(
        "replans {}; guard reductions: {:?}\nnotes: {:?}\n",
        plan.replans,
        plan.reductions
            .iter()
            .map(|r| format!("{} {:.1}->{:.1} ({})", r.charger, r.from.0, r.to.0, r.why))
            .collect::<Vec<_>>(),
        plan.notes
    );
    if let Some(snap) = &plan.snapshot {
        out += &format!(
            "snapshot load: {:?}\n",
            snap.circuits
                .iter()
                .map(|c| (&c.id, c.load, c.stale))
                .collect::<Vec<_>>()
        );
    }
    out
}

/// A simulated charger of `version` with the test password, connected and booted.
pub async fn connect_booted(
    daemon: &Daemon,
    id: &str,
    version: chargegate::ocpp::model::OcppVersion,
) -> chargegate::sim::SimChargePoint {
    let mut opts = chargegate::sim::SimOptions::new(url(daemon), id, &[version]);
    opts.password = Some(PASSWORD.into());
    let sim = chargegate::sim::SimChargePoint::connect(opts)
        .await
        .expect("charger connects");
    sim.boot().await.expect("boot");
    sim
}

/// The stored transactions, newest first.
pub async fn stored_transactions(daemon: &Daemon) -> Vec<chargegate::store::TransactionRecord> {
    daemon
        .csms
        .store()
        .call(|c| chargegate::store::transactions(c, 10))
        .await
        .expect("store answers")
}

/// How many samples the store links to transaction row `tx`.
pub async fn samples_of(daemon: &Daemon, tx: i64) -> i64 {
    daemon
        .csms
        .store()
        .call(move |c| chargegate::store::sample_count(c, tx))
        .await
        .expect("store answers")
}

/// `GET target` on a fresh connection: the status and the body as JSON.
pub async fn get_json(addr: std::net::SocketAddr, target: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("HTTP connects");
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server answers and closes")
    .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, json)
}

/// One HTTP/1.1 request with an optional bearer token and JSON body: the status and the
/// body as JSON. Waits up to 10 minutes for the answer, of virtual time where the test's
/// clock is paused (time runs ahead while the store thread works).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, json, _) = http_with_head(addr, method, target, token, body).await;
    (status, json)
}

/// As `http`, with the response head as received.
pub async fn http_with_head(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if method != "GET" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body);
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("HTTP connects");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(600),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server answers and closes")
    .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, json, head.to_string())
}
