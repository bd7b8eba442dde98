//! The simulated depot day as a report: `cargo bench --bench depot_day [-- SEED [CHARGERS]]`.
//!
//! Plays `sim::depot::DepotDay` (40 vehicles arriving 16:00-20:00 and leaving 05:00-08:00,
//! a building load with spikes, a silent meter, faulty chargers, a restart at 01:30, a
//! time-of-use tariff) against the real daemon on tokio's paused clock, and prints
//! chargegate's day next to equal share and first-come-first-served on the same day:
//! seconds over a limit, utilisation, seconds a wanting vehicle sat at 0 A with room,
//! energy against need by departure, shortfall, peak and cost. BENCHMARKS.md records a run.

use std::time::{Duration, Instant};

use chargegate::sim::depot::{Baseline, DepotDay, DriveOptions, drive, simulate_baseline};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seed = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
    let chargers = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(DepotDay::CHARGERS);
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
        .expect("a valid start")
        .to_utc();
    let day = DepotDay::generate(seed, chargers, start);
    let opts = DriveOptions::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let wall = Instant::now();
    let run = runtime.block_on(drive(&day, &opts)).expect("the day runs");
    let took = wall.elapsed();
    println!(
        "depot day, seed {seed}, {chargers} chargers: 18 h simulated in {:.1} s wall, {} plans",
        took.as_secs_f64(),
        run.replans
    );
    println!("\n== chargegate\n{}", run.metrics.report());
    for (name, strategy) in [
        ("equal share", Baseline::EqualShare),
        ("first come, first served", Baseline::FirstCome),
    ] {
        let metrics = simulate_baseline(&day, strategy, Duration::from_secs(1));
        println!(
            "\n== {name} (ideal real-time model, same day)\n{}",
            metrics.report()
        );
    }
    if !run.violations.is_empty() {
        println!("\nS1 VIOLATIONS:\n{}", run.violations.join("\n"));
    }
}
