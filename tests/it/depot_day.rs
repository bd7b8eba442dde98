//! A simulated depot day on virtual time (`sim::depot`): 40 vehicles of mixed phases and
//! maxima arriving 16:00-20:00 and leaving 05:00-08:00 with needs of 10-80 kWh, a building
//! load curve with spikes, a meter that goes silent, chargers that reject, time out or drop
//! their connection, a restart of chargegate at 01:30 and a time-of-use tariff, played
//! against the real daemon over loopback WebSocket and Modbus TCP: 18 hours in a few
//! minutes of a debug build.
//!
//! Asserted over the whole day: not one second over the limit on any phase of the grid
//! connection or the sub-board (the limits the chargers apply + the true building load,
//! after the controller's reaction time), the silent meter seen as stale (S5), the energy
//! delivered against equal share on the same day, and a floor under the mean utilisation.
//! Reported next to equal share and first-come-first-served: utilisation, seconds a
//! wanting vehicle sat at 0 A with room, energy by departure per vehicle, shortfall, peak
//! and cost (issue 9 keeps what is not yet met).

use chargegate::sim::depot::{Baseline, DepotDay, DriveOptions, drive, simulate_baseline};

/// chargegate must deliver at least this share of what equal share delivers on the same
/// day (equal share knows the true building load and every vehicle's limit; chargegate
/// learns them through a grid meter and MeterValues, and keeps S1 with a margin for what it
/// cannot see yet). Runs deliver 87-91 % since chargegate asks for a sample after each
/// increase; a run varies by a few percent with the order of events.
const ENERGY_VS_EQUAL_SHARE: f64 = 0.85;

/// The mean utilisation (limits of wanting vehicles against the max-min fair share of the
/// room, per phase, after the response time) must not fall back: runs of seed 1 score
/// 89.7-91.6 % since full vehicles stopped holding their minimum (issue 9). The issue's
/// target is 95 % in every steady stretch; what keeps it below is in the notes.
const UTILISATION_FLOOR: f64 = 0.87;

#[tokio::test(start_paused = true)]
async fn a_depot_day_stays_within_limits_and_charges_what_they_allow() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
        .unwrap()
        .to_utc();
    let day = DepotDay::generate(1, DepotDay::CHARGERS, start);
    let opts = DriveOptions::default();
    let wall = std::time::Instant::now();
    let run = drive(&day, &opts).await.expect("the day runs");
    let ours = run.metrics.summary();
    let equal = simulate_baseline(&day, Baseline::EqualShare, opts.tick);
    let first = simulate_baseline(&day, Baseline::FirstCome, opts.tick);
    eprintln!(
        "chargegate, {} plans, {:.1} s wall:\n{}\nequal share:\n{}\nfirst come:\n{}",
        run.replans,
        wall.elapsed().as_secs_f64(),
        run.metrics.report(),
        equal.report(),
        first.report()
    );
    assert!(
        run.violations.is_empty(),
        "S1:\n{}",
        run.violations.join("\n")
    );
    assert_eq!(ours.over_limit_s, 0.0, "seconds over a limit");
    assert!(run.saw_stale, "the silent meter was never seen as stale");
    let equal = equal.summary();
    assert!(
        ours.energy_wh >= ENERGY_VS_EQUAL_SHARE * equal.energy_wh,
        "chargegate delivered {:.0} kWh, equal share {:.0} kWh",
        ours.energy_wh / 1000.0,
        equal.energy_wh / 1000.0
    );
    let utilisation = ours
        .utilisation_mean
        .expect("steady stretches were measured");
    assert!(
        utilisation >= UTILISATION_FLOOR,
        "mean utilisation {:.1} %, floor {:.0} %",
        utilisation * 100.0,
        UTILISATION_FLOOR * 100.0
    );
    assert!(ours.vehicles.iter().all(|v| v.delivered_wh >= 0.0));
    assert!(
        ours.vehicles
            .iter()
            .filter(|v| v.delivered_wh > 1000.0)
            .count()
            >= day.bays.len() * 9 / 10,
        "most vehicles got at least 1 kWh"
    );
}
