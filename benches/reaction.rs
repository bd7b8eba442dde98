//! Reaction to a step in the building load: `cargo bench --bench reaction -- [--chargers
//! N[,N...]] [--version 1.6|2.0.1|mixed] [--bin PATH]` (defaults: 10,100,500 chargers,
//! mixed, the `chargegate` binary cargo built with this bench).
//!
//! For each N: the real daemon as a child process (`loadgen/target.rs`) on a site whose
//! non-charger load comes from a building meter (the SDM630 simulator, `sim::SimMeter`,
//! served here through a wrapper that notes when each answer left and what it carried), and
//! N simulated chargers in a transaction whose vehicles draw what their charger offers
//! (MeterValues every second). Once no profile has moved for a while, the building load
//! steps up so far that every charger's limit must come down. Measured: from the meter's
//! first answer carrying the step to the last charger's first SetChargingProfile after it
//! (each charger notes its arrival), with the first and the median on the way.
//! BENCHMARKS.md records runs. Exits 1 when a charger got no reduction.

#[allow(dead_code)] // shared with the loadgen; this bench uses its set-up only
#[path = "loadgen/load.rs"]
mod load;
#[path = "reaction/meter.rs"]
mod meter;
#[allow(dead_code)] // shared with the loadgen; this bench uses the daemon's start only
#[path = "loadgen/target.rs"]
mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Mix, Ready};
use tokio::task::JoinSet;

/// Every charger's (and vehicle's) maximum, per phase.
const MAX_A: f64 = 16.0;
/// The building load before the step, per phase.
const BUILDING_A: f64 = 20.0;
const MARGIN_A: f64 = 5.0;
/// The step per charger: after it each charger's share is `MAX_A - STEP_PER_CHARGER_A`
/// (10 A), below what every charger holds before it and above the 6 A minimum.
const STEP_PER_CHARGER_A: f64 = 6.0;
/// No SetChargingProfile anywhere for this long: the start-up rounds are over.
const QUIET: Duration = Duration::from_secs(5);
/// How long the start-up rounds may take at most.
const SETTLE_DEADLINE: Duration = Duration::from_secs(180);
/// How long the reduction may take before a charger counts as missed.
const REACTION_DEADLINE: Duration = Duration::from_secs(30);
/// Between two MeterValues of a charger: the vehicle's draw as chargegate sees it.
const REPORT_EVERY: Duration = Duration::from_secs(1);
const SET_PROFILE: &str = "SetChargingProfile";

struct Args {
    sizes: Vec<usize>,
    mix: Mix,
    bin: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![10, 100, 500],
        mix: Mix::Mixed,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_chargegate")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--chargers" => {
                args.sizes = value()?
                    .split(',')
                    .map(|n| n.trim().parse().ok().filter(|&n: &usize| n > 0))
                    .collect::<Option<_>>()
                    .ok_or("--chargers takes whole numbers above 0, comma-separated")?;
            }
            "--version" => {
                args.mix = Mix::parse(&value()?).ok_or("--version takes 1.6, 2.0.1 or mixed")?;
            }
            "--bin" => args.bin = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("reaction: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("reaction: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Reaction to a building-load step, {} CPUs; chargegate: {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        args.bin.display()
    );
    let mut failed = false;
    for &n in &args.sizes {
        if let Err(e) = runtime.block_on(one_size(&args, n)) {
            eprintln!("reaction: {n} chargers: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The site: a building meter, `ids` on the grid connection only, a grid limit that lets
/// every charger have its maximum before the step.
fn site_toml(
    csms_port: u16,
    store: &std::path::Path,
    meter: std::net::SocketAddr,
    ids: &[String],
) -> String {
    let grid_a = BUILDING_A + MARGIN_A + MAX_A * ids.len() as f64;
    let mut toml = format!(
        "[site]\nid = \"reaction\"\ngrid-limit-a = {grid_a}\nmargin-a = {MARGIN_A}\nworst-case-load-a = {BUILDING_A}\n\n\
         [csms]\nlisten = \"127.0.0.1:{csms_port}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
         [dispatch]\nmin-interval-s = 0\n\n\
         [store]\npath = \"{}\"\n\n[[id-token]]\nid = \"{}\"\n\n\
         [[meter]]\nid = \"building\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\n\
         modbus-tcp = \"{meter}\"\npoll-interval-ms = 250\nstale-after-ms = 5000\n",
        store.display(),
        target::ID_TAG,
    );
    for id in ids {
        toml.push_str(&format!(
            "\n[[charger]]\nid = \"{id}\"\npassword = \"{}\"\nmax-current-a = {MAX_A}\nfailsafe-current-a = 0\n",
            target::PASSWORD
        ));
    }
    toml
}

/// One run with `n` chargers; prints its line.
async fn one_size(args: &Args, n: usize) -> Result<(), String> {
    let ids = load::charger_ids(n);
    let meter = meter::TimedMeter::start().await?;
    meter.meter.set_building([BUILDING_A; 3]);
    let (bin, addr, site_ids) = (args.bin.clone(), meter.addr, ids.clone());
    let gate = tokio::task::spawn_blocking(move || {
        target::start_chargegate_on(&bin, |port, store| site_toml(port, store, addr, &site_ids))
    })
    .await
    .map_err(|e| e.to_string())??;
    let with_log = |e: String| format!("{e}\n{}", gate.log_tail());
    let chargers: Vec<Arc<Ready>> = load::prepare(&gate.url, &ids, args.mix)
        .await
        .map_err(with_log)?
        .into_iter()
        .map(Arc::new)
        .collect();
    let reporting = Reporting::start(&chargers);
    settle(&chargers).await.map_err(with_log)?;
    let above = chargers
        .iter()
        .filter(|c| limit_now(c) > MAX_A - STEP_PER_CHARGER_A)
        .count();
    // Claim every profile so far, so that each waiter below sees only the step's.
    for c in &chargers {
        while c
            .sim
            .wait_for_call(SET_PROFILE, Duration::ZERO)
            .await
            .is_some()
        {}
    }
    let mut waiters = JoinSet::new();
    for (i, c) in chargers.iter().enumerate() {
        let c = c.clone();
        waiters.spawn(async move {
            let got = c.sim.wait_for_call(SET_PROFILE, REACTION_DEADLINE).await;
            (i, got.map(|_| Instant::now()))
        });
    }
    let stepped_a = BUILDING_A + STEP_PER_CHARGER_A * n as f64;
    let step = Instant::now();
    meter.meter.set_building([stepped_a; 3]);
    let mut arrivals = Vec::new();
    let mut missed = 0;
    while let Some(joined) = waiters.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            (_, Some(at)) => arrivals.push(at),
            (_, None) => missed += 1,
        }
    }
    reporting.stop().await;
    let answered = meter
        .first_answer_at_least(stepped_a)
        .ok_or_else(|| with_log("the meter never answered with the step".into()))?;
    report(n, above, step, answered, arrivals, missed);
    // Every task holding a charger has ended, so each Arc is the last one.
    load::close_all(
        chargers
            .into_iter()
            .filter_map(|c| Arc::try_unwrap(c).ok())
            .collect(),
    )
    .await;
    drop(gate);
    meter.stop();
    if missed > 0 {
        return Err(format!(
            "{missed} chargers got no profile within {REACTION_DEADLINE:?}"
        ));
    }
    Ok(())
}

fn report(
    n: usize,
    above: usize,
    step: Instant,
    answered: Instant,
    mut arrivals: Vec<Instant>,
    missed: usize,
) {
    arrivals.sort_unstable();
    let ms = |at: Instant| at.saturating_duration_since(answered).as_secs_f64() * 1e3;
    let (first, median, last) = match (arrivals.first(), arrivals.last()) {
        (Some(&f), Some(&l)) => (ms(f), ms(arrivals[arrivals.len() / 2]), ms(l)),
        _ => (f64::NAN, f64::NAN, f64::NAN),
    };
    println!(
        "{n} chargers ({above} held more than the share after the step): meter answered {:.0} ms \
         after the step; from that answer to the first profile {first:.1} ms, median {median:.1} ms, \
         LAST {last:.1} ms; {} profiles, {missed} chargers missed",
        answered.saturating_duration_since(step).as_secs_f64() * 1e3,
        arrivals.len(),
    );
}

/// The limit charger `c` applies now (its maximum when it holds no profile).
fn limit_now(c: &Ready) -> f64 {
    c.sim
        .applied_limit(chrono::Utc::now())
        .unwrap_or(MAX_A)
        .min(MAX_A)
}

/// Waits until every charger holds more than its share after the step (so that each one
/// needs a reduction) and no charger has received a SetChargingProfile for `QUIET`.
/// `[dispatch] min-interval-s = 0` in the site file: the start-up increases are not held
/// back (reductions never are, so the measured path is the same).
async fn settle(chargers: &[Arc<Ready>]) -> Result<(), String> {
    let all_above = || {
        chargers
            .iter()
            .all(|c| limit_now(c) > MAX_A - STEP_PER_CHARGER_A)
    };
    let count = || -> usize {
        chargers
            .iter()
            .map(|c| {
                c.sim
                    .received_calls()
                    .iter()
                    .filter(|r| r.action == SET_PROFILE)
                    .count()
            })
            .sum()
    };
    let deadline = Instant::now() + SETTLE_DEADLINE;
    let (mut last, mut since) = (count(), Instant::now());
    while since.elapsed() < QUIET || !all_above() {
        if Instant::now() > deadline {
            let below = chargers
                .iter()
                .filter(|c| limit_now(c) <= MAX_A - STEP_PER_CHARGER_A)
                .count();
            return Err(format!(
                "after {SETTLE_DEADLINE:?}: {below} chargers at or below the share after the step, \
                 last profile {:.1} s ago",
                since.elapsed().as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    Ok(())
}

/// Every vehicle draws what its charger offers, reported once a second per charger.
struct Reporting {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Reporting {
    fn start(chargers: &[Arc<Ready>]) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = JoinSet::new();
        for c in chargers {
            let (c, mut stopped) = (c.clone(), stopped.clone());
            tasks.spawn(async move {
                let (sim, tx) = (&c.sim, &c.tx);
                let mut energy_wh = 0.0;
                loop {
                    let a = sim
                        .applied_limit(chrono::Utc::now())
                        .unwrap_or(MAX_A)
                        .min(MAX_A);
                    energy_wh += a * 230.0 * 3.0 * REPORT_EVERY.as_secs_f64() / 3600.0;
                    // A failed report only leaves chargegate's picture of the draw older.
                    let _ = sim.meter_values(1, tx, energy_wh, &[a; 3]).await;
                    tokio::select! {
                        _ = stopped.changed() => return,
                        () = tokio::time::sleep(REPORT_EVERY) => {}
                    }
                }
            });
        }
        drop(stopped);
        Self { stop, tasks }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
