//! The demo's run: the simulated grid meter, the site file and store in the working
//! folder, the real daemon (`daemon::start_with_clock`, the code path of `chargegate run`
//! on a virtual clock), the twelve chargers and their vehicles second by second, a
//! summary line every few real seconds, until the demo time is up or a signal stops it.
//!
//! IO. Runs inside the paused current-thread runtime `demo::run` builds, paced by
//! `pace::pace`.

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::bays::{self, Live};
use super::check::Tally;
use super::scenario::DemoSite;
use super::{DemoError, DemoOptions, DemoReport, Stopped, pace, site_file};
use crate::clock::Clock;
use crate::daemon::{self, Daemon, Limits};
use crate::ocpp::model::OcppVersion;
use crate::sim::SimMeterServer;
use crate::sim::depot::{HEARTBEAT_EVERY, POLL_INTERVAL, designed_reaction};
use crate::store::Store;
use crate::units::ChargerId;

/// One simulation step: vehicles follow, the meter and the check are updated.
const TICK: Duration = Duration::from_secs(1);
/// A charger reports its vehicle's current and energy this often (simulated).
const REPORT_EVERY: TimeDelta = TimeDelta::seconds(10);
/// A summary line this often, in real time.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);
/// How long the chargers, connected before the demo day starts, are given to receive
/// their failsafe baseline (S3), simulated.
const BASELINE_WAIT: Duration = Duration::from_secs(60);

/// Runs the demo in `dir` until `opts.duration` of demo time has passed or a signal comes.
pub(super) async fn play(opts: &DemoOptions, dir: &Path) -> Result<DemoReport, DemoError> {
    let mut signals = Signals::install().map_err(DemoError::Signals)?;
    let site = DemoSite::generate(opts.seed, Utc::now());
    let clock = Clock::virtual_from(site.start);
    let pacer = tokio::spawn(pace::pace(opts.speed));
    let server = SimMeterServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1)
        .await
        .map_err(DemoError::Meter)?;
    let result = with_meter(opts, dir, &site, clock, &server, &mut signals).await;
    server.stop();
    pacer.abort();
    result
}

/// The part of `play` that needs the meter: the site file, the store and the daemon.
async fn with_meter(
    opts: &DemoOptions,
    dir: &Path,
    site: &DemoSite,
    clock: Clock,
    server: &SimMeterServer,
    signals: &mut Signals,
) -> Result<DemoReport, DemoError> {
    server.meter.set_building(site.building_at(site.start));
    let site_path = dir.join("site.toml");
    let store_path = dir.join("chargegate.db");
    let text = site_file::site_toml(site, opts.http, server.meter.addr(), &store_path);
    std::fs::write(&site_path, text).map_err(DemoError::WorkDir)?;
    let config = crate::config::load(&site_path).map_err(|e| match e {
        crate::config::ConfigError::Invalid(problems) => DemoError::Config(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        e => DemoError::Config(e.to_string()),
    })?;
    let store = Store::open(&config.store.path)?;
    let daemon = daemon::start_with_clock(&config, store.clone(), Limits::Planned, clock)
        .await
        .map_err(|e| DemoError::start(e, opts.http))?;
    print_header(opts, dir, site, &daemon, server.meter.addr());
    let mut live = bays::idle(site);
    let run = Run {
        opts,
        site,
        clock,
        daemon: &daemon,
        server,
        store: store.for_virtual_time(),
    };
    let result = run.simulate(&mut live, signals).await;
    // The daemon first: it closes the connections itself, so no charger is reported lost.
    daemon.stop().await;
    bays::close_all(live).await;
    result
}

/// What a running demo works with.
struct Run<'a> {
    opts: &'a DemoOptions,
    site: &'a DemoSite,
    clock: Clock,
    daemon: &'a Daemon,
    server: &'a SimMeterServer,
    /// The daemon's store, read for the open alerts (on virtual time, as the daemon's).
    store: Store,
}

impl Run<'_> {
    /// Connects the chargers, then plays the site second by second.
    async fn simulate(
        &self,
        live: &mut [Live],
        signals: &mut Signals,
    ) -> Result<DemoReport, DemoError> {
        let Run {
            opts,
            site,
            clock,
            daemon,
            server,
            store,
        } = self;
        let clock = *clock;
        for (i, l) in live.iter_mut().enumerate() {
            bays::connect(site, daemon, clock, i, l).await?;
        }
        await_baselines(site, daemon).await;
        let meter = &server.meter;
        let reaction = designed_reaction(POLL_INTERVAL);
        let end = opts
            .duration
            .map(|d| site.start + TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX));
        let mut tally = Tally::default();
        let origin = clock.instant();
        let mut step: u32 = 0;
        let mut last_report = clock.now();
        let mut last_heartbeat = clock.now();
        let mut last_summary = std::time::Instant::now();
        let stopped = loop {
            let now = clock.now();
            if end.is_some_and(|end| now >= end) {
                break Stopped::Duration;
            }
            let building = site.building_at(now);
            meter.set_building(building);
            bays::apply_faults(site, daemon, clock, live, now).await?;
            bays::arrivals_and_departures(site, live, now).await?;
            let steps = bays::drive_vehicles(site, live, meter, now);
            tally.record(site, now, TICK.as_secs_f64(), &steps, building, reaction);
            let periodic = now - last_report >= REPORT_EVERY;
            if periodic {
                last_report = now;
            }
            bays::report(site, live, periodic, now).await;
            if now - last_heartbeat >= HEARTBEAT_EVERY {
                last_heartbeat = now;
                bays::heartbeats(live).await;
            }
            if last_summary.elapsed() >= SUMMARY_EVERY {
                last_summary = std::time::Instant::now();
                let charging = steps.iter().filter(|s| s.draw_a.iter().sum::<f64>() > 0.0);
                let alerts = open_alerts(store).await;
                println!(
                    "{}",
                    summary_line(
                        site,
                        now,
                        meter.currents(),
                        charging.count(),
                        &tally,
                        alerts
                    )
                );
            }
            step += 1;
            tokio::select! {
                () = tokio::time::sleep_until(origin + TICK * step) => {}
                signal = signals.next() => break signal,
            }
        };
        Ok(DemoReport {
            stopped,
            at: clock.now(),
            start: site.start,
            tally,
        })
    }
}

/// Waits (on the demo's clock) until every charger holds its failsafe baseline, as the
/// chargers of a real site do before the evening: connected before the demo time starts.
async fn await_baselines(site: &DemoSite, daemon: &Daemon) {
    let ids: Vec<ChargerId> = site
        .bays
        .iter()
        .filter_map(|b| ChargerId::new(b.bay.id.as_str()).ok())
        .collect();
    let waited = tokio::time::timeout(BASELINE_WAIT, async {
        while !ids.iter().all(|id| daemon.baseline.is_acknowledged(id)) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if waited.is_err() {
        tracing::warn!("not every simulated charger acknowledged its baseline profile");
    }
}

/// Open alerts in the store; `None` when it cannot be read (the line says `?`).
async fn open_alerts(store: &Store) -> Option<usize> {
    store
        .call(|c| crate::store::open_alerts(c))
        .await
        .ok()
        .map(|a| a.len())
}

/// One summary line: demo time, grid current per phase against the limit, chargers
/// charging, energy delivered, open alerts, and over-limit seconds when there are any.
pub(super) fn summary_line(
    site: &DemoSite,
    now: DateTime<Utc>,
    grid_a: [f64; 3],
    charging: usize,
    tally: &Tally,
    alerts: Option<usize>,
) -> String {
    let mut line = format!(
        "{}  grid {:.0}/{:.0}/{:.0} A of {:.0} A  |  {charging}/{} charging  |  {:.1} kWh  |  alerts {}",
        now.format("%H:%M:%S"),
        grid_a[0],
        grid_a[1],
        grid_a[2],
        site.grid_limit_a,
        site.bays.len(),
        tally.energy_wh / 1000.0,
        alerts.map_or_else(|| "?".to_string(), |n| n.to_string()),
    );
    if tally.over_limit_s > 0 {
        let _ = write!(line, "  |  OVER A LIMIT {} s", tally.over_limit_s);
    }
    line
}

fn print_header(
    opts: &DemoOptions,
    dir: &Path,
    site: &DemoSite,
    daemon: &Daemon,
    meter: SocketAddr,
) {
    let v16 = site
        .bays
        .iter()
        .filter(|b| b.bay.ocpp == OcppVersion::V16)
        .count();
    let http = daemon.http_addr;
    println!(
        "chargegate demo: a simulated depot on this machine (seed {}, {}x real time)",
        opts.seed, opts.speed
    );
    println!("  status page:  http://{http}/");
    println!("  API:          http://{http}/api/v1/site  (and /api/v1/chargers, /api/v1/events)");
    println!(
        "  {} chargers ({v16} OCPP 1.6J, {} OCPP 2.0.1) on sub-boards {}, listening on ws://{}/ocpp",
        site.bays.len(),
        site.bays.len() - v16,
        site.boards
            .iter()
            .map(|b| format!("{} ({} A)", b.id, b.limit_a))
            .collect::<Vec<_>>()
            .join(" and "),
        daemon.csms_addr
    );
    println!(
        "  grid connection {} A per phase, grid meter on Modbus TCP {meter}",
        site.grid_limit_a
    );
    println!("  working folder: {} (removed on exit)", dir.display());
    println!(
        "  demo time starts {}; {}",
        site.start.format("%Y-%m-%d %H:%M UTC"),
        match opts.duration {
            Some(d) => format!("stops after {} min of demo time", d.as_secs() / 60),
            None => "Ctrl-C stops".into(),
        }
    );
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Stopped {
        tokio::select! {
            _ = self.int.recv() => Stopped::Interrupt,
            _ = self.term.recv() => Stopped::Terminate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_says_time_grid_chargers_energy_and_alerts() {
        let site = DemoSite::generate(1, crate::ocpp::time::parse("2026-12-01T16:30:00Z").unwrap());
        let mut tally = Tally::default();
        tally.energy_wh = 12_345.0;
        let line = summary_line(&site, site.start, [61.2, 58.0, 49.9], 5, &tally, Some(1));
        assert_eq!(
            line,
            "16:30:00  grid 61/58/50 A of 160 A  |  5/12 charging  |  12.3 kWh  |  alerts 1"
        );
        tally.over_limit_s = 3;
        let line = summary_line(&site, site.start, [0.0; 3], 0, &tally, None);
        assert!(line.ends_with("alerts ?  |  OVER A LIMIT 3 s"), "{line}");
    }
}
