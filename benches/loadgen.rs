//! OCPP throughput in a closed loop, chargegate against a bare echo server in the same run:
//! `cargo bench --bench loadgen -- [--chargers N] [--seconds S] [--version 1.6|2.0.1|mixed]
//! [--bin PATH] [--mode throughput|memory|idle|soak] [--soak] [--heartbeat-s H]` (defaults:
//! 100 chargers, 10 s, mixed, the `chargegate` binary cargo built with this bench,
//! throughput, 60 s). `--mode memory` and `--mode idle` measure chargegate alone
//! (`loadgen/modes.rs`); `--soak` (`loadgen/soak.rs`) runs chargers that come and go and
//! checks the store at the end.
//!
//! Starts the real daemon as a child process on a generated site (a temporary folder), then
//! N simulated chargers over loopback WebSocket: each boots, starts a transaction and then
//! sends MeterValues (1.6) / TransactionEvent Updated (2.0.1), the next as soon as the last
//! was answered, for S seconds. Prints messages per second, round-trip percentiles, and the
//! daemon's CPU time and memory from /proc; then the same load against the echo server
//! (`loadgen/echo.rs`, the ceiling for message handling on this machine) and the ratio.
//! Absolute numbers on a shared 2-core machine are noisy; the ratio much less so.
//! BENCHMARKS.md records runs. Exits 1 when a charger failed to set up or a message failed.

#[path = "loadgen/echo.rs"]
mod echo;
#[path = "loadgen/load.rs"]
mod load;
#[path = "loadgen/modes.rs"]
mod modes;
#[path = "loadgen/soak.rs"]
mod soak;
#[path = "loadgen/target.rs"]
mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use load::{Mix, Outcome};
use target::{ProcStats, Target};

/// What the run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Messages per second in a closed loop, chargegate against the echo server.
    Throughput,
    /// chargegate's resident memory with the chargers connected, and after they close.
    Memory,
    /// chargegate's CPU time with the chargers only heartbeating.
    Idle,
    /// Chargers coming and going for the window; memory over time; every acknowledged
    /// record in the store at the end.
    Soak,
}

/// The command line (cargo adds `--bench`, which is ignored).
#[derive(Debug)]
struct Args {
    chargers: usize,
    seconds: f64,
    mix: Mix,
    bin: PathBuf,
    mode: Mode,
    /// `--mode idle`: each charger's Heartbeat interval.
    heartbeat: Duration,
    /// Internal: run as the echo server (`target::start_echo`).
    echo_server: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        chargers: 100,
        seconds: 10.0,
        mix: Mix::Mixed,
        // Cargo builds the package's binaries for its benches and names them here, so the
        // daemon measured is the one built from this tree with the bench profile.
        bin: PathBuf::from(env!("CARGO_BIN_EXE_chargegate")),
        mode: Mode::Throughput,
        heartbeat: Duration::from_secs(60),
        echo_server: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--echo-server" => args.echo_server = true,
            "--soak" => args.mode = Mode::Soak,
            "--chargers" => {
                args.chargers = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--chargers takes a whole number above 0")?;
            }
            "--seconds" => {
                args.seconds = value()?
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s.is_finite())
                    .ok_or("--seconds takes a number of seconds above 0")?;
            }
            "--version" => {
                args.mix = Mix::parse(&value()?).ok_or("--version takes 1.6, 2.0.1 or mixed")?;
            }
            "--bin" => args.bin = PathBuf::from(value()?),
            "--mode" => {
                args.mode = match value()?.as_str() {
                    "throughput" => Mode::Throughput,
                    "memory" => Mode::Memory,
                    "idle" => Mode::Idle,
                    "soak" => Mode::Soak,
                    _ => return Err("--mode takes throughput, memory, idle or soak".into()),
                };
            }
            "--heartbeat-s" => {
                let s: f64 = value()?
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s.is_finite())
                    .ok_or("--heartbeat-s takes a number of seconds above 0")?;
                args.heartbeat = Duration::from_secs_f64(s);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// One server's run: the load's outcome and the server's /proc readings when the window
/// opened and when the last answer had arrived.
struct Measured {
    outcome: Outcome,
    before: ProcStats,
    after: ProcStats,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.echo_server {
        echo::serve()
    } else if args.mode == Mode::Throughput {
        compare(&args)
    } else {
        alone(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The same load against chargegate, then against the echo server; prints both and the
/// ratio. Fails when any message failed, after printing what was measured.
fn compare(args: &Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let ids = load::charger_ids(args.chargers);
    let ticks_per_s = target::clock_ticks_per_s();
    println!("{}", header(args));
    let gate = target::start_chargegate(&args.bin, &ids)?;
    let gate_run = measure(&runtime, &gate, args, &ids, ticks_per_s)?;
    report(&gate, &gate_run);
    drop(gate);
    let echo = target::start_echo()?;
    let echo_run = measure(&runtime, &echo, args, &ids, ticks_per_s)?;
    report(&echo, &echo_run);
    drop(echo);
    println!(
        "\nratio chargegate/echo: {:.2} x messages/s ({:.0} vs {:.0}/s)",
        gate_run.outcome.messages_per_s() / echo_run.outcome.messages_per_s(),
        gate_run.outcome.messages_per_s(),
        echo_run.outcome.messages_per_s()
    );
    let failed = gate_run.outcome.failures.len() + echo_run.outcome.failures.len();
    if failed > 0 {
        return Err(format!(
            "{failed} chargers' loops ended on a failed message"
        ));
    }
    Ok(())
}

/// `--mode memory` or `--mode idle`: chargegate alone.
fn alone(args: &Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let ids = load::charger_ids(args.chargers);
    let ticks_per_s = target::clock_ticks_per_s();
    println!("{}", header(args));
    let gate = target::start_chargegate(&args.bin, &ids)?;
    let window = Duration::from_secs_f64(args.seconds);
    let result = match args.mode {
        Mode::Memory => modes::memory(&runtime, &gate, &ids, args.mix, window, ticks_per_s),
        // The soak kills the daemon itself before it reads the store.
        Mode::Soak => return soak::soak(&runtime, gate, &ids, args.mix, window, ticks_per_s),
        _ => modes::idle(
            &runtime,
            &gate,
            &ids,
            args.mix,
            window,
            args.heartbeat,
            ticks_per_s,
        ),
    };
    result.map_err(|e| format!("{e}\n{}", gate.log_tail()))
}

fn header(args: &Args) -> String {
    let versions: Vec<_> = (0..args.chargers).map(|i| args.mix.version_of(i)).collect();
    let v16 = versions
        .iter()
        .filter(|v| **v == chargegate::ocpp::model::OcppVersion::V16)
        .count();
    format!(
        "OCPP closed loop: {} chargers ({v16} x 1.6, {} x 2.0.1), {} s per server, {} CPUs\n\
         chargegate: {}",
        args.chargers,
        args.chargers - v16,
        args.seconds,
        std::thread::available_parallelism().map_or(0, usize::from),
        args.bin.display()
    )
}

/// Sets the chargers up against `target`, reads its /proc, runs the window, reads again.
fn measure(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    args: &Args,
    ids: &[String],
    ticks_per_s: u64,
) -> Result<Measured, String> {
    let with_log = |e: String| format!("{}: {e}\n{}", target.name, target.log_tail());
    let ready = runtime
        .block_on(load::prepare(&target.url, ids, args.mix))
        .map_err(with_log)?;
    let before = target::proc_stats(target.pid(), ticks_per_s).map_err(with_log)?;
    let (outcome, still) =
        runtime.block_on(load::drive(ready, Duration::from_secs_f64(args.seconds)));
    drop(still);
    let after = target::proc_stats(target.pid(), ticks_per_s).map_err(with_log)?;
    if outcome.round_trips.is_empty() {
        return Err(with_log(format!(
            "no message was answered; first failure: {:?}",
            outcome.failures.first()
        )));
    }
    Ok(Measured {
        outcome,
        before,
        after,
    })
}

fn report(target: &Target, run: &Measured) {
    let o = &run.outcome;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cpu = run.after.cpu.saturating_sub(run.before.cpu);
    let secs = o.elapsed.as_secs_f64();
    println!(
        "\n== {} (pid {})\n\
         answered {} messages in {secs:.2} s: {:.0} messages/s; {} chargers stopped on a failure\n\
         round trip ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\n\
         CPU during the window {:.2} s ({:.0} % of one core), {:.0} us per message; {:.2} s since start\n\
         memory at the end: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        target.name,
        target.pid(),
        o.round_trips.len(),
        o.messages_per_s(),
        o.failures.len(),
        ms(o.percentile(50.0)),
        ms(o.percentile(90.0)),
        ms(o.percentile(99.0)),
        ms(o.percentile(100.0)),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / secs * 100.0,
        cpu.as_secs_f64() * 1e6 / o.round_trips.len() as f64,
        run.after.cpu.as_secs_f64(),
        run.after.rss_kib as f64 / 1024.0,
        run.after.hwm_kib as f64 / 1024.0,
    );
    for failure in o.failures.iter().take(5) {
        println!("  failed: {failure}");
    }
}
