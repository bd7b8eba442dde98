//! Issue 14: a reload (`systemctl reload`, SIGHUP) re-reads the config. A bad file changes
//! nothing; a good one applies what can be live (chargers added, id tokens, limits) and
//! names what needs a restart without applying it. Once over the real binary, as systemd
//! drives it (SIGHUP, the notify socket, the log), and once in-process on virtual time for
//! a lowered grid limit reaching the chargers.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use chargegate::clock::Clock;
use chargegate::daemon::{self, Limits};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimOptions};
use chargegate::site::feed::LoadReading;
use chargegate::store::Store;
use chargegate::units::Amps;

use crate::cli::{KillOnDrop, next_notification, site_on_a_free_port, spawn_run};
use crate::common::PASSWORD;

/// The daemon's log lines (JSON), read on a thread so the pipe never fills.
fn log_lines(child: &mut KillOnDrop) -> mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.get().stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str(&line).unwrap_or(serde_json::json!({ "raw": line }));
            if tx.send(parsed).is_err() {
                return;
            }
        }
    });
    rx
}

/// Every log line until one whose message contains `until` (that one included).
fn lines_until(logs: &mpsc::Receiver<serde_json::Value>, until: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    loop {
        let line = logs
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no log line with {until:?}; seen: {seen:#?}"));
        let level = line["level"].as_str().unwrap_or("").to_string();
        let message = line["fields"]["message"]
            .as_str()
            .map_or_else(|| line.to_string(), str::to_string);
        let done = message.contains(until);
        seen.push((level, message));
        if done {
            return seen;
        }
    }
}

fn hang_up(child: &mut KillOnDrop) {
    let pid = child.get().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// The notifications of one reload: RELOADING=1, then READY=1 with the outcome's STATUS=.
async fn reload_notes(socket: &tokio::net::UnixDatagram) -> String {
    let mut reloading = false;
    for _ in 0..20 {
        let note = next_notification(socket).await;
        if note.lines().any(|l| l == "RELOADING=1") {
            assert!(note.contains("MONOTONIC_USEC="), "{note:?}");
            reloading = true;
        } else if reloading && note.lines().any(|l| l == "READY=1") {
            return note;
        }
    }
    panic!("no RELOADING=1 then READY=1");
}

async fn charger(port: u16, id: &str, password: &str) -> Result<SimChargePoint, String> {
    let mut opts = SimOptions::new(
        format!("ws://127.0.0.1:{port}/ocpp"),
        id,
        &[OcppVersion::V16],
    );
    opts.password = Some(password.into());
    SimChargePoint::connect(opts)
        .await
        .map_err(|e| e.to_string())
}

const NEW_CHARGER: &str =
    "\n[[charger]]\nid = \"CP-NEW\"\npassword = \"a-new-chargers-password\"\nmax-current-a = 16\n";

/// The daemon as systemd runs it, with the file it was started on.
struct Running {
    child: KillOnDrop,
    logs: mpsc::Receiver<serde_json::Value>,
    socket: tokio::net::UnixDatagram,
    config: std::path::PathBuf,
    port: u16,
    good: String,
}

impl Running {
    /// Writes `text` to the config file, sends SIGHUP and waits for the reload's
    /// notifications; returns them and the log lines up to the reload's last one.
    async fn reload(&mut self, text: Option<&str>, last: &str) -> (String, Vec<(String, String)>) {
        match text {
            Some(text) => std::fs::write(&self.config, text).unwrap(),
            None => std::fs::remove_file(&self.config).unwrap(),
        }
        hang_up(&mut self.child);
        let note = reload_notes(&self.socket).await;
        (note, lines_until(&self.logs, last))
    }
}

#[tokio::test]
async fn sighup_refuses_a_bad_file_and_applies_the_live_part_of_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = site_on_a_free_port(dir.path());
    let good = std::fs::read_to_string(&config).unwrap();
    let path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&path).unwrap();
    let mut child = spawn_run(
        &config,
        "json",
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    let logs = log_lines(&mut child);
    lines_until(&logs, "chargegate started");
    let ready = next_notification(&socket).await;
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    let mut daemon = Running {
        child,
        logs,
        socket,
        config,
        port,
        good,
    };
    let old = bad_files_change_nothing(&mut daemon).await;
    let new = a_good_file_applies_its_live_part(&mut daemon).await;
    new.close().await;
    old.close().await;
    daemon.child.terminate();
    assert!(daemon.child.exit_status().await.success());
}

/// (a) A file that cannot be read, is not TOML, or has problems: each problem at ERROR,
/// systemd told, the old config runs on. Returns a configured charger, connected after.
async fn bad_files_change_nothing(daemon: &mut Running) -> SimChargePoint {
    let with_new = format!("{}{NEW_CHARGER}", daemon.good);
    let two_problems = with_new.replace("margin-a = 5", "margin-a = 500") + "max-curent-a = 3\n";
    let cases: [(Option<&str>, &[&str]); 3] = [
        (None, &["cannot read"]),
        (Some(&format!("{with_new}[site\n")), &["TOML"]),
        (
            Some(&two_problems),
            &["site.margin-a: the margin", "max-curent-a: unknown key"],
        ),
    ];
    for (text, problems) in cases {
        let (note, seen) = daemon.reload(text, "reload refused").await;
        assert!(note.contains("STATUS=reload failed"), "{note:?}");
        for problem in problems {
            assert!(
                seen.iter()
                    .any(|(level, m)| level == "ERROR" && m.contains(problem)),
                "{problem}: {seen:#?}"
            );
        }
        assert!(
            charger(daemon.port, "CP-NEW", "a-new-chargers-password")
                .await
                .is_err(),
            "not configured by a bad file"
        );
    }
    let old = charger(daemon.port, "CP16-1", PASSWORD)
        .await
        .expect("the old config admits");
    assert_eq!(old.boot().await.unwrap()["status"], "Accepted");
    old
}

/// (b) A new charger connects and boots, (c) a new id token authorizes, (d) a restart-only
/// change is named and not applied. Returns the new charger, connected.
async fn a_good_file_applies_its_live_part(daemon: &mut Running) -> SimChargePoint {
    let next = daemon
        .good
        .replace("heartbeat-interval-s = 120", "heartbeat-interval-s = 60")
        + NEW_CHARGER
        + "\n[[id-token]]\nid = \"NEWCARD\"\n";
    let (note, seen) = daemon.reload(Some(&next), "needs a restart").await;
    assert!(
        note.contains("STATUS=reloaded: 2 change(s) applied, 1 need a restart"),
        "{note:?}"
    );
    let logged = |level: &str, text: &str| seen.iter().any(|(l, m)| l == level && m.contains(text));
    assert!(
        logged("INFO", "reload applied charger.CP-NEW: (none) -> 6-16 A"),
        "{seen:#?}"
    );
    assert!(
        logged(
            "INFO",
            "reload applied id-token.NEWCARD: (none) -> accepted"
        ),
        "{seen:#?}"
    );
    assert!(
        logged(
            "WARN",
            "needs a restart: csms.heartbeat-interval-s (120 -> 60)"
        ),
        "{seen:#?}"
    );
    let new = charger(daemon.port, "CP-NEW", "a-new-chargers-password")
        .await
        .expect("the reloaded config admits the new charger");
    let boot = new.boot().await.unwrap();
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(
        boot["interval"], 120,
        "a restart-only change is not applied"
    );
    for token in ["NEWCARD", "GOOD"] {
        let answer = new.authorize(token).await.unwrap();
        assert_eq!(answer["idTagInfo"]["status"], "Accepted", "{token}");
    }
    assert!(
        charger(daemon.port, "CP-NEW", "a-wrong-password")
            .await
            .is_err()
    );
    new
}

const GRID_A: f64 = 100.0;
const LOAD_A: f64 = 20.0;

fn planned_site(dir: &std::path::Path, grid_a: f64) -> chargegate::config::Config {
    let mut text = format!(
        "[site]\nid = \"reload\"\ngrid-limit-a = {grid_a}\nmargin-a = 5\nworst-case-load-a = 20\n\n\
         [csms]\nlisten = \"127.0.0.1:0\"\ncall-timeout-s = 2\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
         [store]\npath = \"{}\"\n\n[dispatch]\nmin-interval-s = 0\n\n[[id-token]]\nid = \"GOOD\"\n",
        dir.join("cg.db").display()
    );
    for id in ["CP16-1", "CS201-1"] {
        text.push_str(&format!(
            "\n[[charger]]\nid = \"{id}\"\npassword = \"{PASSWORD}\"\nmax-current-a = 32\nfailsafe-current-a = 6\n"
        ));
    }
    chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

async fn reading(daemon: &daemon::Daemon, clock: Clock) {
    let reading = LoadReading {
        circuit: None,
        per_phase: Some([Amps(LOAD_A); 3]),
        detail: Default::default(),
        at: clock.now(),
    };
    daemon.load_readings.send(reading).await.unwrap();
}

/// Runs the site for `d` of virtual time (a reading a second) until `done` holds; the
/// applied limits when it did.
async fn run_until(
    daemon: &daemon::Daemon,
    sims: &[SimChargePoint],
    clock: Clock,
    d: Duration,
    done: impl Fn(&[f64]) -> bool,
) -> Option<Vec<f64>> {
    let end = clock.instant() + d;
    while clock.instant() < end {
        let applied: Vec<f64> = sims
            .iter()
            .map(|s| s.applied_limit(clock.now()).unwrap_or(32.0))
            .collect();
        if done(&applied) {
            return Some(applied);
        }
        reading(daemon, clock).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// A lowered grid limit reaches the chargers through the guard and dispatch's reductions
/// within a couple of seconds, before the planner's next look at the site; a raised one
/// comes back after the replan.
#[tokio::test(start_paused = true)]
async fn a_lowered_grid_limit_lowers_the_chargers_limits_at_once() {
    let clock = Clock::virtual_from(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T10:07:00Z")
            .unwrap()
            .to_utc(),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = planned_site(dir.path(), GRID_A);
    let store = Store::open(&config.store.path).unwrap();
    let daemon = daemon::start_with_clock(&config, store, Limits::Planned, clock)
        .await
        .unwrap();
    let mut sims = Vec::new();
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = crate::common::connect_virtual(&daemon, clock, id, version, Vec::new()).await;
        sim.status(1, "Charging").await.unwrap();
        sim.start_transaction(1, "GOOD", 0, clock.now())
            .await
            .unwrap();
        sims.push(sim);
    }
    // 100 A - 5 A margin - 20 A load: room for both at 32 A.
    let both_full = |a: &[f64]| a.iter().all(|a| *a >= 31.9);
    run_until(&daemon, &sims, clock, Duration::from_secs(60), both_full)
        .await
        .unwrap_or_else(|| {
            panic!(
                "both chargers at 32 A\n{}",
                crate::common::control_state(&daemon)
            )
        });

    // 60 A: 35 A of room for the two.
    let lowered = daemon.reload(planned_site(dir.path(), 60.0)).await.unwrap();
    assert_eq!(lowered.live.len(), 1, "{lowered:?}");
    assert_eq!(lowered.live[0].key, "site.grid-limit-a");
    assert!(lowered.restart.is_empty(), "{lowered:?}");
    assert_eq!(daemon.config().site.grid_limit, Amps(60.0));
    let fits = |a: &[f64]| a.iter().sum::<f64>() + LOAD_A <= 60.0 - 5.0 + 1e-6;
    let applied = run_until(&daemon, &sims, clock, Duration::from_secs(2), fits).await;
    assert!(
        applied.is_some(),
        "within 2 s the chargers fit 60 A\n{}\n{}",
        crate::common::control_state(&daemon),
        crate::common::audit_tail(&daemon, 10).await
    );
    // Nothing rises above the new limit afterwards.
    let over = |a: &[f64]| !fits(a);
    let broke = run_until(&daemon, &sims, clock, Duration::from_secs(30), over).await;
    assert!(broke.is_none(), "over the lowered limit: {broke:?}");

    // Back to 100 A: the room is used again after the replan.
    daemon
        .reload(planned_site(dir.path(), GRID_A))
        .await
        .unwrap();
    run_until(&daemon, &sims, clock, Duration::from_secs(30), both_full)
        .await
        .expect("both chargers back at 32 A");
    for sim in sims {
        sim.close().await;
    }
    daemon.stop().await;
}
