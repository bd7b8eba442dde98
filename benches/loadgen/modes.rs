//! The loadgen's other measurements of chargegate alone (no echo server):
//! `--mode memory`: resident memory with N chargers connected and transacting, and what
//! comes back after they close (twice, so a leak per connection shows as growth);
//! `--mode idle`: CPU time over a window with N chargers that only send Heartbeats.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::load::{self, Mix, Ready};
use crate::target::{self, ProcStats, Target};

/// How long the daemon gets to notice that every charger closed (its file descriptors
/// back to where they were before the chargers came).
const CLOSED_DEADLINE: Duration = Duration::from_secs(30);
const CLOSED_POLL: Duration = Duration::from_millis(50);
/// Sockets the daemon may still hold open beyond its idle count once the chargers closed
/// (a listener re-armed, a log file rotated): anything above is a connection not closed.
const FD_SLACK: usize = 4;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn open_fds(pid: u32) -> Result<usize, String> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("/proc/{pid}/fd: {e}"))?
        .count())
}

/// Waits until the daemon holds no more descriptors than `idle_fds` (plus slack): every
/// closed charger's socket is gone on its side too.
fn wait_closed(target: &Target, idle_fds: usize) -> Result<(), String> {
    let deadline = Instant::now() + CLOSED_DEADLINE;
    loop {
        let fds = open_fds(target.pid())?;
        if fds <= idle_fds + FD_SLACK {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{fds} descriptors open {CLOSED_DEADLINE:?} after the chargers closed (idle: {idle_fds})"
            ));
        }
        std::thread::sleep(CLOSED_POLL);
    }
}

/// Memory with `ids` connected and in a closed loop for `window`, then after they all
/// closed; twice. Prints each reading and the cost per connection.
pub fn memory(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    ids: &[String],
    mix: Mix,
    window: Duration,
    ticks_per_s: u64,
) -> Result<(), String> {
    let stats = || target::proc_stats(target.pid(), ticks_per_s);
    let idle = stats()?;
    let idle_fds = open_fds(target.pid())?;
    println!(
        "\n== chargegate memory, {} chargers (pid {})\nidle: VmRSS {:.1} MiB, {idle_fds} descriptors",
        ids.len(),
        target.pid(),
        mib(idle.rss_kib)
    );
    let mut failed = 0;
    for round in 1..=2 {
        let ready = runtime.block_on(load::prepare(&target.url, ids, mix))?;
        let (outcome, still) = runtime.block_on(load::drive(ready, window));
        failed += outcome.failures.len();
        let busy = stats()?;
        runtime.block_on(load::close_all(still));
        wait_closed(target, idle_fds)?;
        let closed = stats()?;
        let per_connection_kib =
            |s: &ProcStats| s.rss_kib.saturating_sub(idle.rss_kib) as f64 / ids.len() as f64;
        println!(
            "round {round}: {:.0} messages/s in the window; connected and transacting: VmRSS {:.1} MiB \
             ({:.0} KiB per connection above idle), VmHWM {:.1} MiB; all closed: VmRSS {:.1} MiB \
             ({:.0} KiB per connection kept)",
            outcome.messages_per_s(),
            mib(busy.rss_kib),
            per_connection_kib(&busy),
            mib(busy.hwm_kib),
            mib(closed.rss_kib),
            per_connection_kib(&closed),
        );
    }
    if failed > 0 {
        return Err(format!(
            "{failed} chargers' loops ended on a failed message"
        ));
    }
    Ok(())
}

/// CPU time over `window` with `ids` connected, booted, in a transaction, and each
/// sending a Heartbeat every `every` (spread evenly over the interval) and nothing else.
pub fn idle(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    ids: &[String],
    mix: Mix,
    window: Duration,
    every: Duration,
    ticks_per_s: u64,
) -> Result<(), String> {
    let ready = runtime.block_on(load::prepare(&target.url, ids, mix))?;
    let before = target::proc_stats(target.pid(), ticks_per_s)?;
    let started = Instant::now();
    let (beats, failures, chargers) = runtime.block_on(heartbeats(ready, window, every));
    let elapsed = started.elapsed();
    let after = target::proc_stats(target.pid(), ticks_per_s)?;
    runtime.block_on(load::close_all(chargers));
    let cpu = after.cpu.saturating_sub(before.cpu);
    println!(
        "\n== chargegate idle, {} chargers heartbeating every {:.0} s (pid {})\n\
         {beats} heartbeats in {:.1} s; CPU {:.3} s = {:.2} % of one core; VmRSS {:.1} MiB",
        ids.len(),
        every.as_secs_f64(),
        target.pid(),
        elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0,
        mib(after.rss_kib),
    );
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} heartbeats failed, first: {first}",
            failures.len()
        ));
    }
    Ok(())
}

/// Every charger's heartbeat loop for `window`, charger i first after i/N of `every`.
async fn heartbeats(
    chargers: Vec<Ready>,
    window: Duration,
    every: Duration,
) -> (usize, Vec<String>, Vec<Ready>) {
    let opened = tokio::time::Instant::now();
    let n = chargers.len().max(1) as u32;
    let mut tasks = JoinSet::new();
    for (i, charger) in chargers.into_iter().enumerate() {
        let first = opened + every * i as u32 / n;
        tasks.spawn(async move {
            let mut next = first;
            let mut beats = 0;
            while next < opened + window {
                tokio::time::sleep_until(next).await;
                if let Err(e) = charger.sim.heartbeat().await {
                    return (beats, Some(format!("{}: {e}", charger.sim.id())), charger);
                }
                beats += 1;
                next += every;
            }
            (beats, None, charger)
        });
    }
    let (mut beats, mut failures, mut chargers) = (0, Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((n, failure, charger)) => {
                beats += n;
                failures.extend(failure);
                chargers.push(charger);
            }
            Err(e) => failures.push(format!("heartbeat task: {e}")),
        }
    }
    (beats, failures, chargers)
}
