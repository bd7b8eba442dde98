//! The `chargegate` binary as the electrician and systemd use it: `validate` exit codes and
//! output, `run` refusing a bad config, a clean stop on SIGTERM, and the notifications
//! systemd hears (`Type=notify`, watchdog).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};

const BIN: &str = env!("CARGO_BIN_EXE_chargegate");

/// Kills the daemon if the test fails before stopping it, so no process outlives the test.
pub(crate) struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    pub(crate) fn get(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("child is running")
    }

    /// Sends SIGTERM, as systemd stops a service.
    pub(crate) fn terminate(&mut self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.get().id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }

    /// Waits for the daemon to exit and returns how.
    pub(crate) async fn exit_status(&mut self) -> std::process::ExitStatus {
        let mut process = self.0.take().expect("child is running");
        tokio::task::spawn_blocking(move || process.wait())
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A site config on a free fixed port (the first listen is the CSMS's; the HTTP API keeps
/// port 0), written to `dir`; returns its path and the port.
pub(crate) fn site_on_a_free_port(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("site.toml");
    let text = crate::common::site_toml(&dir.join("cg.db"), "").replacen(
        "127.0.0.1:0",
        &format!("127.0.0.1:{port}"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    (config, port)
}

/// `chargegate run` on `config` with its log on a pipe, killed if the test fails first.
pub(crate) fn spawn_run(
    config: &std::path::Path,
    log_format: &str,
    env: &[(&str, &str)],
) -> KillOnDrop {
    let child = Command::new(BIN)
        .args(["run", "--log-format", log_format, "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    KillOnDrop(Some(child))
}

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/site.example.toml")
}

#[test]
fn validate_accepts_the_example_and_prints_a_summary() {
    // `validate` checks that the store's folder can be written; the example's
    // /var/lib/chargegate is the gateway's, so the copy checked here points at a temp one.
    let dir = tempfile::tempdir().unwrap();
    let example_text = std::fs::read_to_string(example()).unwrap();
    let store = dir.path().join("chargegate.db");
    let text = example_text.replace(
        "\"/var/lib/chargegate/chargegate.db\"",
        &format!("{:?}", store.display().to_string()),
    );
    assert_ne!(text, example_text, "the example names its store");
    let copy = dir.path().join("site.toml");
    std::fs::write(&copy, text).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&copy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("CP-01") && stdout.contains("CP-02"),
        "{stdout}"
    );
    assert!(stdout.contains("failsafe sum"), "{stdout}");
}

#[test]
fn validate_lists_every_problem_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[site]\nid = \"x\"\ngrid-limit-a = 100\nworst-case-load-a = 10\nmargn-a = 5\n\n[[charger]]\nid = \"CP-1\"\npassword = \"long-enough-password\"\nmax-current-a = \"32\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("line 5: site.margn-a: unknown key"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `margin-a`?"), "{stderr}");
    assert!(
        stderr.contains("line 10: charger[0].max-current-a: expected a number, found string"),
        "{stderr}"
    );

    let missing = Command::new(BIN)
        .args(["validate", "--config", "/nonexistent/site.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));

    let run = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(78),
        "run refuses a bad config the same way"
    );
}

#[test]
fn hash_password_output_is_accepted_as_password_hash() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-charger-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let secret = chargegate::config::ChargerSecret::Hash(hash);
    assert!(chargegate::charger::handshake::password_matches(
        &secret,
        b"a-charger-password"
    ));
    assert!(!chargegate::charger::handshake::password_matches(
        &secret,
        b"another-password"
    ));
}

#[tokio::test]
async fn run_serves_chargers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = site_on_a_free_port(dir.path());
    let mut child = spawn_run(&config, "json", &[]);
    let mut logs = BufReader::new(child.get().stderr.take().unwrap());
    let mut line = String::new();
    // Wait for the start line (JSON) rather than polling the port.
    loop {
        line.clear();
        assert!(
            logs.read_line(&mut line).unwrap() > 0,
            "daemon exited early"
        );
        if line.contains("chargegate started") {
            let parsed: serde_json::Value =
                serde_json::from_str(&line).expect("--log-format json writes JSON lines");
            assert_eq!(parsed["level"], "INFO");
            break;
        }
    }
    let mut opts = SimOptions::new(
        format!("ws://127.0.0.1:{port}/ocpp"),
        "CP16-1",
        &[OcppVersion::V16],
    );
    opts.password = Some(crate::common::PASSWORD.into());
    let sim = SimChargePoint::connect(opts).await.unwrap();
    assert_eq!(sim.boot().await.unwrap()["status"], "Accepted");

    let started = Instant::now();
    child.terminate();
    let status = child.exit_status().await;
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped within 10 s"
    );
    for _ in 0..100 {
        if sim.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sim.is_closed(), "the charger's connection was closed");
}

/// Issue 17, log injection: a line break in a value from the wire (here an action name, in
/// a frame any connected charger can send) is written escaped, so it cannot forge a log
/// line, in the journal or a terminal.
#[tokio::test]
async fn a_line_break_from_the_wire_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = site_on_a_free_port(dir.path());
    // As under systemd: plain lines without colours or time.
    let mut child = spawn_run(&config, "plain", &[("JOURNAL_STREAM", "8:12345")]);
    let logs = std::thread::spawn({
        let stderr = child.get().stderr.take().unwrap();
        move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        }
    });
    let mut opts = SimOptions::new(
        format!("ws://127.0.0.1:{port}/ocpp"),
        "CP16-1",
        &[OcppVersion::V16],
    );
    opts.password = Some(crate::common::PASSWORD.into());
    let mut sim = None;
    for _ in 0..100 {
        match SimChargePoint::connect(opts.clone()).await {
            Ok(connected) => {
                sim = Some(connected);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let sim = sim.expect("the daemon listens");
    sim.send_text(r#"[2,"forge-1","Heartbeat\nERROR chargegate: FORGED main breaker open",{}]"#)
        .await
        .unwrap();
    let _ = sim.next_raw_reply(Duration::from_secs(3)).await;
    sim.close().await;
    child.terminate();
    child.exit_status().await;
    let lines = logs.join().unwrap();
    let forged: Vec<_> = lines.iter().filter(|l| l.contains("FORGED")).collect();
    assert!(!forged.is_empty(), "the action name is logged: {lines:#?}");
    for line in forged {
        assert!(
            !line.starts_with("ERROR") && line.contains("Heartbeat\\nERROR"),
            "a forged line: {line:?}"
        );
    }
}

/// Issue 17: a config `run` would refuse fails `validate` with exit 78, and `run` itself
/// exits 78 on it (systemd then does not restart it in a loop).
#[test]
fn a_missing_tls_file_fails_validate_and_run_with_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    let text = crate::common::site_toml(&dir.path().join("cg.db"), "").replacen(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\ntls-cert-file = \"/nonexistent/cert.pem\"\ntls-key-file = \"/nonexistent/key.pem\"",
        1,
    );
    std::fs::write(&config, text).unwrap();
    for command in ["validate", "run"] {
        let out = Command::new(BIN)
            .args([command, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{command}: {stderr}");
        assert!(
            stderr.contains("csms.tls-cert-file") && stderr.contains("/nonexistent/cert.pem"),
            "{command}: {stderr}"
        );
    }
}

/// The next notification the daemon sends to its `NOTIFY_SOCKET`, as text.
pub(crate) async fn next_notification(socket: &tokio::net::UnixDatagram) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buf))
        .await
        .expect("a notification within 10 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Issue 14: under systemd (`Type=notify`, `WatchdogSec=`) the daemon says READY=1 once the
/// chargers' port listens, feeds the watchdog from its control loop at half the interval
/// with a status line, and says STOPPING=1 on SIGTERM. systemd's side is a datagram
/// socket here, as `NOTIFY_SOCKET` is under systemd.
#[tokio::test]
async fn systemd_hears_ready_watchdog_pings_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = site_on_a_free_port(dir.path());
    let path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&path).unwrap();
    let path = path.to_str().unwrap();
    let mut child = spawn_run(
        &config,
        "json",
        &[("NOTIFY_SOCKET", path), ("WATCHDOG_USEC", "1000000")],
    );
    let ready = next_notification(&socket).await;
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains("STATUS=listening for chargers"), "{ready:?}");
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the chargers' port listens once READY=1 is sent");
    // WatchdogSec=1 s: a ping every 0.5 s, each with the site's status line.
    let started = Instant::now();
    for _ in 0..3 {
        let ping = next_notification(&socket).await;
        assert!(ping.lines().any(|l| l == "WATCHDOG=1"), "{ping:?}");
        assert!(
            ping.contains("STATUS=") && ping.contains("plan"),
            "{ping:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "three pings took {:?} at WatchdogSec=1s",
        started.elapsed()
    );
    child.terminate();
    let mut stopping = false;
    for _ in 0..20 {
        let note = next_notification(&socket).await;
        if note.lines().any(|l| l == "STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 after SIGTERM");
    let status = child.exit_status().await;
    assert!(status.success(), "{status:?}");
}

/// Issue 14: `--version` names the release, the commit and the target triple, so a gateway
/// in the field says exactly what it runs.
#[test]
fn version_names_the_release_commit_and_target() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected_start = format!("chargegate {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected_start), "{text:?}");
    let inside = text
        .trim()
        .strip_prefix(&expected_start)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text:?}"));
    let (commit, target) = inside
        .split_once(", ")
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit:?}"
    );
    assert!(target.contains("-linux-"), "{target:?}");
}

#[tokio::test]
async fn status_prints_the_site_and_its_chargers_from_the_running_daemon() {
    let site = crate::common::Site::new("");
    let daemon = site.start().await;
    let sim = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    sim.status(1, "Faulted").await.expect("answered");
    // The alert task has it once the API lists it (it runs beside the CSMS).
    for _ in 0..200 {
        let (_, open) =
            crate::common::get_json(daemon.http_addr, "/api/v1/alerts?active=true").await;
        if open["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("http://{}", daemon.http_addr);
    // On the blocking pool: the daemon runs on this test's runtime meanwhile.
    let status = |url: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["status", "--url", &url])
                .output()
                .expect("chargegate status runs")
        })
    };
    let out = status(url.clone()).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("site test-depot: grid limit 400.0 A"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("CS201-1"))
        .unwrap_or_else(|| panic!("no row for CS201-1: {text}"));
    assert!(row.contains("2.0.1"), "{row}");
    let offline = text
        .lines()
        .find(|l| l.starts_with("CP16-2"))
        .expect("a row");
    assert!(offline.contains("offline"), "{offline}");
    let alert = text
        .lines()
        .find(|l| l.contains("connector-faulted"))
        .unwrap_or_else(|| panic!("no active alert line: {text}"));
    assert!(
        alert.contains("CS201-1") && alert.contains("critical"),
        "{alert}"
    );
    daemon.stop().await;

    // Nothing listening: a clear error and a failure exit.
    let out = status(url).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach chargegate"), "{err}");
}
