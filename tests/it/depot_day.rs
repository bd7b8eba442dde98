//! A simulated depot day on virtual time (`sim::depot`): 40 vehicles of mixed phases and
//! maxima arriving 16:00-20:00 and leaving 05:00-08:00 with needs of 10-80 kWh, a building
//! load curve with spikes, a meter that goes silent, chargers that reject, time out or drop
//! their connection, two single-phase vehicles that switch their other phases on in the
//! night, a restart of chargegate at 01:30 and a time-of-use tariff, played
//! against the real daemon over loopback WebSocket and Modbus TCP: 18 hours in a few
//! minutes of a debug build.
//!
//! Asserted over the whole day: not one second over the limit on any phase of the grid
//! connection or the sub-board (the limits the chargers apply + the true building load,
//! after the controller's reaction time, each limit on the phases it can draw on, a
//! vehicle's switched-on phases after the reaction time plus one report interval), the
//! silent meter seen as stale (S5), the energy delivered against equal share on the same
//! day, and floors under the utilisation per steady stretch (issue 9: the lowest stretch,
//! the 5th percentile, the share of stretches at 95 %) and its mean, none of it scored while
//! the grid meter is silent (S5 has chargegate assume the worst case then), no charger
//! read as hanging (they send their Heartbeats), the silent meter's alert. Reported next to equal
//! share and first-come-first-served: the stretches and where the room of the short ones
//! went, seconds a wanting vehicle sat at 0 A with room, energy by departure per vehicle,
//! shortfall, peak and cost.
//!
//! Since the plan weighs a kWh short more the further a vehicle is from its need
//! (`planner::fairness::SHORT_PIECES`), chargegate delivers as much as equal share on this
//! day (1,786-1,805 kWh against 1,796) and its least served vehicle gets 43-49 % of its
//! reachable need (36 % with a flat weight): asserted by `ENERGY_VS_EQUAL_SHARE` and
//! `LEAST_SERVED_FLOOR`. The utilisation per stretch fell by 2-4 points with it: the
//! vehicles far from their need include single-phase ones on the unmetered sub-board,
//! counted there on every phase.
//!
//! The target, 95 % in every steady stretch, is not met: runs of seed 1 have about
//! 28 % of the stretches at 95 %, the 5th percentile near 75 % and the lowest near 41 %
//! (BENCHMARKS.md "Depot day" has the diagnosis with its numbers). Counting a charger on its
//! vehicle's learned phases (`site::learned_phases`) took the mean from about 75 to 83 %:
//! before, of the ~57 A per phase between the fair share and what wanting vehicles held in
//! the short stretches, ~40 A were the limits single-phase vehicles held on the two phases
//! of their three-phase charger they do not draw on. Planning a vehicle's energy on the
//! phases it draws on, and counting the sub-board's chargers on their learned phases at the
//! metered connection (every phase stays counted at the board itself, which has no grid
//! meter), took it to about 91 %. In the evening's 0.40 tariff window the plan defers
//! vehicles it expects to fill in the 0.15 night, by design (cost). What is left: room
//! chargegate does not see (a hung charger counted at its fallback while its unreported
//! draw counts as building load, the load derivation's short-term maximum, the restart),
//! limits above what a vehicle takes, and vehicles paused while their phase has room
//! (the report's `paused` and `free` columns). The floors keep what is reached from
//! falling back. What keeps the stretches from 95 % now is mostly by design (BENCHMARKS.md
//! "One wave of increases per stretch"): S1 on the unmetered sub-board, the tariff
//! deferring vehicles the night can fill (a flat tariff scores 91.7 % mean, 80.7 % at the
//! 5th percentile), and the restart.
//!
//! The same stretches are scored on how the applied limits follow what chargegate itself
//! aims at (the plan with the room it leaves filled, before the guard's cuts), once an aim
//! stood for the settle time: the control loop's part alone (issue 9: "limits come back up
//! toward the plan's targets within `min-interval-s` plus one meter reading"). There the
//! stretches reach 95 % with few exceptions (`assert_following`): where the room against
//! the fair share is short, it went to a decision, not to a controller that fails to follow.

use chargegate::sim::depot::{Baseline, DepotDay, DriveOptions, drive, simulate_baseline};

/// chargegate must deliver at least this share of what equal share delivers on the same
/// day (equal share knows the true building load and every vehicle's limit and phases;
/// chargegate learns the limits through a grid meter and MeterValues, counts a limit on
/// every phase of its charger, and keeps S1 with a margin for what it cannot see yet).
/// Runs of seed 1 deliver 99.5-100.5 % with the shortfall weighed by how far each vehicle
/// is from its need, 94-96 % before (with the learned phases counted per circuit), 88 %
/// before the learned phases; a run varies by a few percent with the order of events.
const ENERGY_VS_EQUAL_SHARE: f64 = 0.95;

/// The vehicle that got the smallest share of its reachable need must get at least this:
/// 43-49 % in six runs of seed 1 with the shortfall weighed by how far each vehicle is
/// from its need, 36 % with a flat weight per kWh (equal share: 66 %).
const LEAST_SERVED_FLOOR: f64 = 0.38;

/// The mean utilisation (limits of wanting vehicles against the max-min fair share of the
/// room on the phases each vehicle draws on, after the settle time) must not fall back:
/// runs of seed 1 scored 90.5-90.7 % with the learned phases counted per circuit and the energy
/// per ampere on the vehicle's phases, 83.3-83.6 % before them, 74.9-76.2 % before the
/// learned phases. With the shortfall weighed by how far each vehicle is from its need:
/// 86.6-89.4 % in six runs.
const UTILISATION_FLOOR: f64 = 0.84;

/// Per steady stretch (issue 9's measure), the floors that runs of seed 1 met with a few
/// points to spare (a run is not bit-for-bit the same: the store's SQLite thread and the
/// loopback sockets run in real time, so the order of events varies a little): the lowest
/// stretch, the 5th percentile (75.2-76.4 % with the learned phases counted per circuit;
/// 62.3-64.2 % before, with the steady split; 54.7-56.6 % before the learned phases), and
/// the share of stretches at 95 % or more (28.3-32.0 %; 19.9-25.2 % before). The issue asks for
/// 95 % in every one.
///
/// The lowest stretch varies most: 42.4-52.2 % in three runs with the learned phases (an
/// evening or night stretch, the 01:30 restart at 44.5-53.4 %); before them it was the
/// restart in almost every run, at 24.6-42 % (BENCHMARKS.md "The feed on each meter
/// answer, and the restart stretch"), because its score depends on how the chargers'
/// reconnections interleave with the first readings: the new process knows no charger's
/// sample yet, so the whole vehicle draw counts as building load for the first readings
/// and the first leases are 0 A; then `min-interval-s` (30 s) before the first increase;
/// then increase waves and cuts until the pre-restart level is back. The two vehicles that
/// switch phases on make short low stretches too: the guard cuts their new draw as other
/// load, and the chargers it cut wait `min-interval-s` before the room comes back (a 1 s
/// stretch at 23.8 % at 22:24:30 in CI). The floor is set well below these so that it
/// catches a site that no longer recovers, not the order of events: a stretch can be a
/// second long (one run of a branch that also asks reconnecting chargers for a sample
/// showed a 4 s stretch at 21 %). Since a rise asks the narrowed chargers for a sample
/// (`site::switch_watch`) and the simulated chargers no longer boot on reconnecting, three
/// runs had their lowest at 43.5-52.0 %, the restart stretch at 56.5 %. One CI run then
/// had an 18 s stretch at 14 % at 22:40: a second wave of increases a second after the
/// first ramped past the attribution and the guard cut the depot; since no increase goes
/// out while an earlier one is unconfirmed (`Row::ramp_open`), four runs had their lowest
/// at 55.2-64.4 %.
const LOWEST_STRETCH_FLOOR: f64 = 0.15;
/// The 5th percentile: 64.9-76.0 % in six runs with the shortfall weighed by how far
/// each vehicle is from its need (one of them traced, before the sub-ampere ramp fix).
const P5_STRETCH_FLOOR: f64 = 0.62;
const STRETCHES_AT_TARGET_FLOOR: f64 = 0.20;

/// Floors under how the limits follow chargegate's aim (`assert_following`). Two runs of
/// seed 1 since a vehicle cut during its ramp keeps its old draw for the response time:
/// mean 99.5 %, 98.4-98.8 % of the stretches at 95 %, 5th percentile 97.6-98.3 %, lowest
/// 89.9-91.3 % (every stretch under 95 % but a 19 s one is one of the day's faults: a
/// charger ignoring, rejecting or gone). Before: 98.9-99.2 %, 94.9-97.6 %, 94.9-96.4 %, 70.3-88.6 %.
const FOLLOWING_MEAN_FLOOR: f64 = 0.98;
const FOLLOWING_AT_TARGET_FLOOR: f64 = 0.95;
const FOLLOWING_P5_FLOOR: f64 = 0.95;
const FOLLOWING_LOWEST_FLOOR: f64 = 0.80;

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
        "chargegate, {} plans, {:.1} s wall:\n{}{}\nequal share:\n{}\nfirst come:\n{}",
        run.replans,
        wall.elapsed().as_secs_f64(),
        run.metrics.report(),
        run.view.report(),
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
    // Every charger sends its Heartbeat (`HEARTBEAT_EVERY`), faulted or idle ones too:
    // none reads as hanging. Before the day's chargers sent them, every idle one raised
    // `charger-silent` ten minutes into the day.
    let silent: Vec<_> = run
        .alerts
        .iter()
        .filter(|a| a.kind == "charger-silent")
        .map(|a| format!("{:?} at {}", a.charger, a.raised.format("%H:%M:%S")))
        .collect();
    assert!(silent.is_empty(), "charger-silent: {silent:?}");
    assert!(
        run.alerts.iter().any(|a| a.kind == "meter-stale"),
        "the silent meter raises its alert: {:?}",
        run.alerts.iter().map(|a| &a.kind).collect::<Vec<_>>()
    );
    let equal = equal.summary();
    assert!(
        ours.energy_wh >= ENERGY_VS_EQUAL_SHARE * equal.energy_wh,
        "chargegate delivered {:.0} kWh, equal share {:.0} kWh",
        ours.energy_wh / 1000.0,
        equal.energy_wh / 1000.0
    );
    assert_utilisation(&ours);
    let least = ours.worst_served().expect("vehicles were scored");
    assert!(
        least.reachable_share() >= LEAST_SERVED_FLOOR,
        "{} got {:.1} % of its reachable need, floor {:.0} %",
        least.bay,
        least.reachable_share() * 100.0,
        LEAST_SERVED_FLOOR * 100.0
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

/// The utilisation floors: per steady stretch, then the mean.
fn assert_utilisation(ours: &chargegate::sim::depot::DaySummary) {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let lowest = ours
        .utilisation_worst_stretch
        .expect("steady stretches were measured");
    let p5 = ours.utilisation_stretch_p5.expect("and a percentile");
    assert!(ours.stretches >= 100, "{} stretches", ours.stretches);
    assert!(
        lowest >= LOWEST_STRETCH_FLOOR,
        "lowest stretch {}, floor {}",
        pct(lowest),
        pct(LOWEST_STRETCH_FLOOR)
    );
    assert!(
        p5 >= P5_STRETCH_FLOOR,
        "5th percentile of the stretches {}, floor {}",
        pct(p5),
        pct(P5_STRETCH_FLOOR)
    );
    assert!(
        ours.stretches_at_target >= STRETCHES_AT_TARGET_FLOOR,
        "{} of the stretches at 95 %, floor {}",
        pct(ours.stretches_at_target),
        pct(STRETCHES_AT_TARGET_FLOOR)
    );
    let mean = ours
        .utilisation_mean
        .expect("steady stretches were measured");
    assert!(
        mean >= UTILISATION_FLOOR,
        "mean utilisation {}, floor {}",
        pct(mean),
        pct(UTILISATION_FLOOR)
    );
    assert_following(ours);
}

/// How the applied limits follow chargegate's own aim (plan + fill, before the guard's
/// cuts; `sim::depot` `following`), in the same stretches: the control loop's part of
/// the utilisation, apart from what the plan decides (the tariff, the needs, S1 on the
/// unmetered sub-board). Three runs of seed 1: mean 98.9-99.2 %, 94.9-97.6 % of the
/// stretches at 95 %, the 5th percentile 94.9-96.4 %, the lowest stretch 70.3-88.6 % (an
/// evening stretch in which the guard cut chargers that had been raised, or a faulty
/// charger that holds 0 A while its aim is 32 A).
fn assert_following(ours: &chargegate::sim::depot::DaySummary) {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let (mean, lowest, p5, at_target) = ours
        .following_distribution()
        .expect("the limits were held to chargegate's aim");
    assert!(
        ours.following.len() * 10 >= ours.stretches * 9,
        "{} of {} stretches scored on following",
        ours.following.len(),
        ours.stretches
    );
    for (what, got, floor) in [
        ("mean", mean, FOLLOWING_MEAN_FLOOR),
        (
            "share of stretches at 95 %",
            at_target,
            FOLLOWING_AT_TARGET_FLOOR,
        ),
        ("5th percentile", p5, FOLLOWING_P5_FLOOR),
        ("lowest stretch", lowest, FOLLOWING_LOWEST_FLOOR),
    ] {
        assert!(
            got >= floor,
            "following the aim, {what}: {}, floor {}",
            pct(got),
            pct(floor)
        );
    }
}
