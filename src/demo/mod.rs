//! `chargegate demo`: a whole simulated depot on loopback with the real daemon in between,
//! so a newcomer sees chargegate charging live (status page, API) with nothing to set up.
//!
//! A Modbus TCP grid meter (`sim::meter`) with an office building's day behind it, twelve
//! simulated chargers (`sim::charge_point`) of both OCPP versions on two sub-boards with a
//! vehicle each (`sim::vehicle`), two of them faulty now and then (`scenario`); the site
//! file and the store in a working folder of its own (`workdir`), removed on exit; the
//! daemon started as `chargegate run` starts it, on a virtual clock paced against the
//! wall (`pace`). Every simulated second the committed limits and the true building load
//! are checked against every limit (`check`, DESIGN.md S1): a second over makes the demo
//! exit non-zero, so CI running it is a test of the whole system.
//!
//! Layer 8 (ARCHITECTURE.md): it uses `daemon` and `sim`, nothing uses it but `main.rs`.

mod bays;
pub mod check;
pub mod pace;
mod play;
pub mod scenario;
mod site_file;
mod workdir;

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use bays::BayError;
pub use check::Tally;
pub use workdir::WorkDir;

/// Demo seconds per real second by default: a depot evening (16:30-20:30, when the
/// vehicles arrive) in four minutes.
pub const DEFAULT_SPEED: f64 = 60.0;
/// The fastest `--speed` accepted: beyond it a 2-core machine only falls behind.
const MAX_SPEED: f64 = 10_000.0;

/// How the demo runs (`chargegate demo --speed --http --seed --duration`).
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Demo seconds per real second.
    pub speed: f64,
    /// Where the HTTP API and the status page listen.
    pub http: SocketAddr,
    /// Picks the vehicles, the building's imbalance and noise.
    pub seed: u64,
    /// Demo time after which it stops by itself; `None`: until a signal.
    pub duration: Option<Duration>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            speed: DEFAULT_SPEED,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            seed: 1,
            duration: None,
        }
    }
}

/// Why the demo stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `--duration` of demo time passed.
    Duration,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

/// What a demo run did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub stopped: Stopped,
    /// Demo time when it stopped.
    pub at: DateTime<Utc>,
    /// Demo time when it started.
    pub start: DateTime<Utc>,
    pub tally: Tally,
}

impl DemoReport {
    /// The closing line: how it stopped, the energy delivered and the over-limit seconds.
    pub fn closing_line(&self) -> String {
        let how = match self.stopped {
            Stopped::Duration => "the demo time is up",
            Stopped::Interrupt => "Ctrl-C",
            Stopped::Terminate => "SIGTERM",
        };
        let t = &self.tally;
        format!(
            "demo stopped at {} ({how}) after {} min of demo time: {:.3} kWh delivered to {} \
             vehicles, {} s over a limit",
            self.at.format("%H:%M:%S"),
            (self.at - self.start).num_minutes(),
            t.energy_wh / 1000.0,
            t.vehicles_charged,
            t.over_limit_s
        )
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Options(String),
    #[error("the working folder: {0}")]
    WorkDir(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the simulated grid meter: {0}")]
    Meter(std::io::Error),
    #[error("the demo's site file: {0}")]
    Config(String),
    #[error(
        "{0} is already in use (another chargegate or demo?): pass another address, \
         e.g. --http 127.0.0.1:0 for any free port or --http 127.0.0.1:8081"
    )]
    HttpInUse(SocketAddr),
    #[error("the daemon: {0}")]
    Start(crate::daemon::StartError),
    #[error("the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Bay(#[from] BayError),
}

impl DemoError {
    /// The daemon's start error, with the advice for a taken `--http` port.
    fn start(e: crate::daemon::StartError, http: SocketAddr) -> Self {
        match &e {
            crate::daemon::StartError::Http(h)
                if h.source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                DemoError::HttpInUse(http)
            }
            _ => DemoError::Start(e),
        }
    }
}

impl DemoOptions {
    /// Refuses options the demo cannot honour, naming the option.
    pub fn check(&self) -> Result<(), DemoError> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= MAX_SPEED) {
            return Err(DemoError::Options(format!(
                "--speed {}: give a number of demo seconds per real second above 0 and at \
                 most {MAX_SPEED}",
                self.speed
            )));
        }
        Ok(())
    }
}

/// Runs the demo to its end: builds the paused runtime, the working folder, plays the site
/// and removes the folder. The caller prints the report; the status lines are printed as
/// it runs.
pub fn run(opts: &DemoOptions) -> Result<DemoReport, DemoError> {
    opts.check()?;
    let dir = WorkDir::create().map_err(DemoError::WorkDir)?;
    // Current-thread with the clock paused: the only way tokio pauses time, and what
    // `Clock::virtual_from` expects (see `pace`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(DemoError::Runtime)?;
    let result = runtime.block_on(play::play(opts, dir.path()));
    // The blocking pool holds at most a pacing sleep or an answer wait (50 ms).
    runtime.shutdown_timeout(Duration::from_secs(2));
    let removed = dir.remove().map_err(DemoError::WorkDir);
    let report = result?;
    removed?;
    Ok(report)
}

/// Parses `--duration`: a number with a unit, `s`, `m`, `h` or `d`, or a sum of them
/// (`90m`, `1h30m`, `2h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?}: give a demo time like 90s, 45m, 2h or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_with_their_units() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "2", "h", "0m", "2x", "-1h", "99999999999999999999d"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("1h30m"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_speed_that_cannot_be_honoured_is_refused_by_name() {
        assert!(DemoOptions::default().check().is_ok());
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e6] {
            let opts = DemoOptions {
                speed,
                ..DemoOptions::default()
            };
            let e = opts.check().unwrap_err().to_string();
            assert!(e.starts_with("--speed"), "{e}");
        }
    }

    #[test]
    fn the_closing_line_says_how_it_stopped_the_energy_and_the_seconds_over() {
        let start = crate::ocpp::time::parse("2026-12-01T16:30:00Z").unwrap();
        let mut tally = Tally::default();
        tally.energy_wh = 26_154.0;
        tally.vehicles_charged = 7;
        tally.over_limit_s = 2;
        let report = DemoReport {
            stopped: Stopped::Interrupt,
            at: start + chrono::TimeDelta::minutes(61),
            start,
            tally,
        };
        assert_eq!(
            report.closing_line(),
            "demo stopped at 17:31:00 (Ctrl-C) after 61 min of demo time: 26.154 kWh \
             delivered to 7 vehicles, 2 s over a limit"
        );
    }

    #[test]
    fn a_taken_http_port_says_what_to_do() {
        let http = SocketAddr::from(([127, 0, 0, 1], 8080));
        let taken = crate::daemon::StartError::Http(crate::http::HttpError {
            addr: http,
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        });
        let e = DemoError::start(taken, http).to_string();
        assert!(e.contains("127.0.0.1:8080 is already in use"), "{e}");
        assert!(e.contains("--http 127.0.0.1:0"), "{e}");
    }
}
