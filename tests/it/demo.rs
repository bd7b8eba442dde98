//! `chargegate demo` as a newcomer and CI run it: the built binary, its printed lines, its
//! HTTP API while it runs, its exit on a bounded demo time and on a signal, its working
//! folder removed. The demo checks every simulated second against every limit itself
//! (src/demo/check.rs) and exits non-zero when one was over, so a bounded run that exits
//! 0 is the "charged vehicles without an over-limit second".
//!
//! Real time (a child process paced against the wall), bounded by `WALL_LIMIT` per wait.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chargegate");
/// The most any one wait on the demo may take, real time: generous for a 2-core machine
/// building other things (`--speed 600 --duration 1h` takes about 7 s idle).
const WALL_LIMIT: Duration = Duration::from_secs(120);

/// A running `chargegate demo`: its standard output line by line, killed if the test fails
/// first.
struct Demo {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl Demo {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("demo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line that contains `text`, within `WALL_LIMIT`.
    fn line_with(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WALL_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {text:?} ({e}); read so far:\n{:#?}",
                    self.seen
                ),
            }
        }
    }

    /// The status page's address, from the header.
    fn http_addr(&mut self) -> std::net::SocketAddr {
        let line = self.line_with("status page:");
        let url = line.split_whitespace().last().unwrap();
        url.trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The working folder, from the header.
    fn workdir(&mut self) -> PathBuf {
        let line = self.line_with("working folder:");
        let path = line
            .split_once("working folder: ")
            .and_then(|(_, rest)| rest.split(" (removed").next())
            .unwrap_or_else(|| panic!("{line}"));
        PathBuf::from(path)
    }

    fn signal(&mut self, name: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let sent = Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(sent.success());
    }

    /// Waits (within `WALL_LIMIT`) for the exit; returns the status and standard error.
    fn exit(&mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + WALL_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the demo did not exit within {WALL_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (status, stderr)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The figure before `unit` in `line` (`"26.154 kWh"` -> 26.154).
fn number_before(line: &str, unit: &str) -> f64 {
    let head = line.split(unit).next().unwrap_or("");
    head.split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {unit:?} in {line:?}"))
}

#[test]
fn demo_runs_a_bounded_demo_time_and_charges_without_an_over_limit_second() {
    let mut demo = Demo::spawn(&[
        "--speed",
        "600",
        "--duration",
        "1h",
        "--http",
        "127.0.0.1:0",
        "--seed",
        "1",
    ]);
    let workdir = demo.workdir();
    assert!(workdir.join("site.toml").exists(), "{workdir:?}");
    let closing = demo.line_with("demo stopped at");
    let (status, stderr) = demo.exit();
    assert!(status.success(), "{status:?}\n{closing}\n{stderr}");
    assert!(
        closing.contains("(the demo time is up) after 60 min"),
        "{closing}"
    );
    assert!(number_before(&closing, "kWh delivered") > 1.0, "{closing}");
    assert!(number_before(&closing, "vehicles") >= 4.0, "{closing}");
    assert!(closing.ends_with(" 0 s over a limit"), "{closing}");
    assert!(!workdir.exists(), "{workdir:?} is removed on exit");
}

#[tokio::test]
async fn the_api_answers_while_the_demo_runs_and_sigterm_stops_it() {
    let mut demo = Demo::spawn(&["--speed", "60", "--http", "127.0.0.1:0"]);
    let addr = demo.http_addr();
    let workdir = demo.workdir();
    // The first summary line: the chargers are connected and the day is running.
    let summary = demo.line_with("charging");
    assert!(summary.contains("of 160 A"), "{summary}");

    let (status, site) = crate::common::get_json(addr, "/api/v1/site").await;
    assert_eq!(status, 200, "{site}");
    assert_eq!(site["id"], "demo-depot", "{site}");
    assert_eq!(site["grid_limit_a"], 160.0, "{site}");
    let circuits: Vec<&str> = site["circuits"]
        .as_array()
        .expect("circuits")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(circuits, ["site", "board-a", "board-b"], "{site}");
    // The grid meter on Modbus TCP is read: the building and the vehicles on each phase.
    let measured = site["circuits"][0]["measured_a"]
        .as_array()
        .expect("measured");
    assert!(
        measured.iter().all(|a| a.as_f64().is_some_and(|a| a > 0.0)),
        "{site}"
    );
    let (status, body) = crate::common::get_json(addr, "/api/v1/chargers").await;
    assert_eq!(status, 200, "{body}");
    let chargers = body["chargers"].as_array().expect("a list of chargers");
    assert_eq!(chargers.len(), 12, "{body}");
    let mut versions: Vec<&str> = chargers
        .iter()
        .filter_map(|c| c["ocpp_version"].as_str())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions, ["1.6", "2.0.1"], "{body}");
    let connected = chargers.iter().filter(|c| c["connected"] == true).count();
    // The one that drops its connection now and then may be away.
    assert!(connected >= 11, "{body}");
    let boards: std::collections::BTreeSet<&str> = chargers
        .iter()
        .filter_map(|c| c["circuit"].as_str())
        .collect();
    assert_eq!(boards.len(), 2, "two sub-boards: {boards:?}");

    demo.signal("-TERM");
    let closing = demo.line_with("demo stopped at");
    let (status, stderr) = demo.exit();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(closing.contains("(SIGTERM)"), "{closing}");
    assert!(!workdir.exists(), "{workdir:?} is removed on exit");
}

#[test]
fn ctrl_c_stops_the_demo_cleanly_and_removes_its_folder() {
    let mut demo = Demo::spawn(&["--speed", "60", "--http", "127.0.0.1:0"]);
    let workdir = demo.workdir();
    assert!(workdir.exists());
    demo.line_with("charging");
    let asked = Instant::now();
    demo.signal("-INT");
    let closing = demo.line_with("demo stopped at");
    let (status, stderr) = demo.exit();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(closing.contains("(Ctrl-C)"), "{closing}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stopped promptly"
    );
    assert!(!workdir.exists(), "{workdir:?} is removed on exit");
}

#[test]
fn a_taken_http_port_is_refused_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut demo = Demo::spawn(&["--http", &addr, "--duration", "1h"]);
    let (status, stderr) = demo.exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{addr} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--http 127.0.0.1:0"), "{stderr}");
}

#[test]
fn a_bad_speed_or_duration_is_refused_by_name() {
    for (args, expected) in [
        (["--speed", "0"], "--speed"),
        (["--duration", "soon"], "--duration"),
    ] {
        let mut demo = Demo::spawn(&args);
        let (status, stderr) = demo.exit();
        assert!(!status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
