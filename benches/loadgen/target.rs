//! The two servers under load, each a child process of the bench: the real `chargegate run`
//! on a generated site file in a temporary folder, and the bare echo server (`echo.rs`, the
//! bench binary itself with `--echo-server`). Owns their start (up to a listening port),
//! their CPU time and memory read from /proc, and their end (killed when dropped).
//!
//! Only processes started here are ever signalled, by their own pid.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of every generated charger (HTTP Basic, security profile 1).
pub const PASSWORD: &str = "loadgen-password-0123";
/// The card every simulated charger starts its transaction with.
pub const ID_TAG: &str = "LOADGEN";

/// How long a server gets from its start to a listening port: chargegate opens and
/// migrates its database first, which takes well under a second on an idle machine.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Between two tries of the listening port while a server starts.
const START_POLL: Duration = Duration::from_millis(10);

/// A server under load, killed and reaped when dropped.
pub struct Target {
    pub name: &'static str,
    /// Where chargers connect: `ws://ADDR/ocpp` (the simulator appends `/<id>`).
    pub url: String,
    child: Child,
    /// chargegate's site file, database and log; None for the echo server.
    dir: Option<tempfile::TempDir>,
}

impl Target {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now (SIGKILL to our own child) and reaps it; its folder stays
    /// until the target is dropped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// chargegate's database file (None for the echo server).
    pub fn store(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| store_path(d.path()))
    }

    /// The last lines of chargegate's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let Some(dir) = &self.dir else {
            return String::new();
        };
        let text = std::fs::read_to_string(log_path(dir.path())).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // SIGKILL to our own child only; its temporary folder goes with `dir`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chargegate's database in the target's folder.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("chargegate.db")
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("chargegate.log")
}

/// A port on 127.0.0.1 that was free a moment ago. chargegate's chargers must reach it
/// from outside and `listen = "127.0.0.1:0"` would hide the port it got, so the bench picks
/// one first; another process could take it in between, which `wait_listening` reports.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    Ok(listener
        .local_addr()
        .map_err(|e| format!("free port: {e}"))?
        .port())
}

/// The site file: `ids` as chargers with the bench's password, a grid limit no load here
/// reaches (so the controller never has to cut), no meters.
pub fn site_toml(csms_port: u16, store: &Path, ids: &[String]) -> String {
    let mut toml = format!(
        r#"[site]
id = "loadgen"
grid-limit-a = 10000
margin-a = 5
worst-case-load-a = 10

[csms]
listen = "127.0.0.1:{csms_port}"

[http]
listen = "127.0.0.1:0"

[store]
path = "{}"

[[id-token]]
id = "{ID_TAG}"
"#,
        store.display()
    );
    for id in ids {
        let _ = write!(
            toml,
            "\n[[charger]]\nid = \"{id}\"\npassword = \"{PASSWORD}\"\nmax-current-a = 32\n"
        );
    }
    toml
}

/// Starts `bin run` on a generated site with chargers `ids` and waits until it listens.
pub fn start_chargegate(bin: &Path, ids: &[String]) -> Result<Target, String> {
    start_chargegate_on(bin, |port, store| site_toml(port, store, ids))
}

/// Starts `bin run` on the site file `site(csms_port, store_path)` returns and waits
/// until it listens.
pub fn start_chargegate_on(
    bin: &Path,
    site: impl FnOnce(u16, &Path) -> String,
) -> Result<Target, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let port = free_port()?;
    let config = dir.path().join("site.toml");
    let text = site(port, &store_path(dir.path()));
    std::fs::write(&config, text).map_err(|e| format!("writing the site file: {e}"))?;
    let log = std::fs::File::create(log_path(dir.path())).map_err(|e| format!("log: {e}"))?;
    let log_err = log.try_clone().map_err(|e| format!("log: {e}"))?;
    let child = Command::new(bin)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env_remove("CHARGEGATE_STORE_PATH")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let mut target = Target {
        name: "chargegate",
        url: format!("ws://127.0.0.1:{port}/ocpp"),
        child,
        dir: Some(dir),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(&mut target, addr).map_err(|e| format!("{e}\n{}", target.log_tail()))?;
    Ok(target)
}

/// Polls `addr` until it accepts a TCP connection, failing early when the child exits.
fn wait_listening(target: &mut Target, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(Some(status)) = target.child.try_wait() {
            return Err(format!("{} exited at start: {status}", target.name));
        }
        if TcpStream::connect_timeout(&addr, START_POLL).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not listening on {addr} after {START_DEADLINE:?}",
                target.name
            ));
        }
        std::thread::sleep(START_POLL);
    }
}

/// Starts this bench binary as the echo server and reads the port it announces.
pub fn start_echo() -> Result<Target, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--echo-server")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the echo server: {e}"))?;
    let stdout = child.stdout.take().ok_or("the echo server's stdout")?;
    // The first line is the port; read on a thread so that a child that never writes it
    // cannot hang the bench past the deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    let mut target = Target {
        name: "echo",
        url: String::new(),
        child,
        dir: None,
    };
    let line = rx
        .recv_timeout(START_DEADLINE)
        .map_err(|_| "the echo server announced no port".to_string())?
        .map_err(|e| format!("reading the echo server's port: {e}"))?;
    let port: u16 = line
        .trim()
        .parse()
        .map_err(|_| format!("the echo server announced {line:?}, not a port"))?;
    target.url = format!("ws://127.0.0.1:{port}/ocpp");
    wait_listening(&mut target, SocketAddr::from(([127, 0, 0, 1], port)))?;
    Ok(target)
}

/// A process's CPU time and memory, as /proc shows them.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    /// User plus system time since the process started.
    pub cpu: Duration,
    /// Resident set now, in KiB.
    pub rss_kib: u64,
    /// The highest resident set so far, in KiB.
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/stat` (utime, stime) and `/proc/<pid>/status` (VmRSS, VmHWM).
pub fn proc_stats(pid: u32, ticks_per_s: u64) -> Result<ProcStats, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| format!("no utime/stime in {stat:?}"))?;
    let kib = |key: &str| {
        status_kib(&status, key).ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
    };
    Ok(ProcStats {
        cpu: Duration::from_secs_f64(ticks as f64 / ticks_per_s as f64),
        rss_kib: kib("VmRSS:")?,
        hwm_kib: kib("VmHWM:")?,
    })
}

/// utime + stime (fields 14 and 15 of proc(5) stat), in clock ticks. The fields are
/// counted after the command name's closing parenthesis, since the name may hold spaces.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Key:   1234 kB` line of /proc/<pid>/status, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second for /proc stat times (`getconf CLK_TCK`): sysconf is not reachable
/// without unsafe code or another nix feature, and getconf is in every glibc system. 100
/// is Linux's value on every architecture chargegate targets, the fallback if it fails.
pub fn clock_ticks_per_s() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}
