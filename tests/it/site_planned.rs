//! The whole daemon on a simulated depot: 16 chargers of both versions with vehicles, the
//! non-charger load fed to the control loop as a meter would (once a second, including
//! spikes and a meter that goes silent), chargers that reject or stop answering. The
//! plan, the guard and dispatch decide every limit. Runs on tokio's paused clock with a
//! virtual `Clock` shared by the daemon and every simulated charger, so a run is the same
//! for its seed and takes seconds. Checked at every tick:
//! - S1: the limits the chargers actually apply plus the non-charger load never exceed
//!   the grid limit - margin, allowing the control loop a short reaction time after the
//!   load rises (no controller can lower a limit before it has seen the reading);
//! - S4: every charger applies 0 or at least the 6 A minimum;
//! - utilisation: once the load and the set of faults have been steady for `SETTLE`, the
//!   chargers together apply at least 95 % of what the site allows them (the room left by
//!   the load, or what they can take).

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use chargegate::clock::Clock;
use chargegate::daemon::{Daemon, Limits};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint, SimOptions};
use chargegate::site::feed::LoadReading;
use chargegate::store::Store;
use chargegate::units::Amps;
use tokio::time::Instant;

const CHARGERS: usize = 16;
const GRID_A: f64 = 250.0;
const MARGIN_A: f64 = 5.0;
const WORST_CASE_A: f64 = 90.0;
const MAX_A: f64 = 32.0;
/// Time the control loop, dispatch and the chargers get to follow a higher load.
const REACTION: Duration = Duration::from_secs(3);
/// `[dispatch] min-interval-s`: at most one increase per charger this often.
const MIN_INTERVAL_S: u64 = 5;
/// How often the "meter" feeds the control loop a reading.
const READING_EVERY: Duration = Duration::from_secs(1);
/// After a change of the load or of the faults, the time the site gets before it must use
/// the room: `min-interval-s` + 5 s, + one reading.
const SETTLE: Duration = Duration::from_secs(MIN_INTERVAL_S + 5 + 1);
/// How long each random step lasts (virtual time).
const STEP: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_millis(100);
/// Utilisation demanded of a settled stretch.
const UTILISATION: f64 = 0.95;

fn name(i: usize) -> String {
    if i.is_multiple_of(2) {
        format!("CP16-{i}")
    } else {
        format!("CS201-{i}")
    }
}

fn config(dir: &std::path::Path) -> chargegate::config::Config {
    let mut text = format!(
        "[site]\nid = \"planned-depot\"\ngrid-limit-a = {GRID_A}\nmargin-a = {MARGIN_A}\nworst-case-load-a = {WORST_CASE_A}\n\n\
         [csms]\nlisten = \"127.0.0.1:0\"\ncall-timeout-s = 1\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[store]\npath = \"{}\"\n\n\
         [dispatch]\nmin-interval-s = {MIN_INTERVAL_S}\n",
        dir.join("cg.db").display()
    );
    for i in 0..CHARGERS {
        text.push_str(&format!(
            "\n[[charger]]\nid = \"{}\"\npassword = \"{}\"\nmax-current-a = {MAX_A}\nfailsafe-current-a = 6\n",
            name(i),
            crate::common::PASSWORD
        ));
    }
    chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// The non-charger load the site assumes at each moment: what was last sent (worst case
/// while the meter is silent), with when it was sent.
struct LoadLog(VecDeque<(Instant, f64)>);

impl LoadLog {
    fn push(&mut self, at: Instant, load: f64) {
        self.0.push_back((at, load));
    }

    /// The load the controller must be measured against at `now`: the lowest value in
    /// force during the last `REACTION` (a rise counts once the reaction time has passed).
    fn due(&self, now: Instant) -> f64 {
        let mut due = f64::INFINITY;
        for (i, (_, load)) in self.0.iter().enumerate() {
            let until = self.0.get(i + 1).map_or(now, |(next, _)| *next);
            if now.saturating_duration_since(until) <= REACTION || i + 1 == self.0.len() {
                due = due.min(*load);
            }
        }
        due
    }
}

/// What the control loop and dispatch were doing, for a failure message.
async fn diagnose(daemon: &Daemon) -> String {
    let mut out = String::new();
    out += &crate::common::control_state(daemon);
    {
        let input = daemon.dispatch_input.borrow();
        out += &format!(
            "dispatch input ({}): targets {:?}\nrows {:?}\n",
            input.why,
            input
                .targets
                .iter()
                .map(|(id, a)| (id.as_str().to_string(), a.0))
                .collect::<Vec<_>>(),
            input
                .rows
                .iter()
                .map(|r| (&r.name, r.capacity.0))
                .collect::<Vec<_>>()
        );
    }
    let rows = daemon
        .csms
        .store()
        .call(|c| chargegate::store::audit_entries(c, None, None, 30))
        .await
        .unwrap_or_default();
    out += "audit:\n";
    for r in rows {
        out += &format!("  {} {} {}: {}\n", r.ts, r.charger_id, r.outcome, r.reason);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_planned_site_never_applies_more_than_the_grid_carries() {
    let clock = Clock::virtual_from(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T10:07:00Z")
            .unwrap()
            .to_utc(),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let store = Store::open(&config.store.path).unwrap();
    let daemon = chargegate::daemon::start_with_clock(&config, store, Limits::Planned, clock)
        .await
        .unwrap();
    let sims = connect_chargers(&daemon, clock).await;
    let mut run = Run {
        clock,
        load: Some(40.0),
        faulty: BTreeSet::new(),
        steady_since: clock.instant(),
        last_reading: clock.instant(),
        log: LoadLog(VecDeque::new()),
        settled_checks: 0,
        worst: None,
    };
    send_load(&daemon, clock, run.load).await;
    run.log.push(clock.instant(), 40.0);
    wait_for_the_first_plan(&daemon, &sims, clock).await;

    let mut rng = crate::common::Rng(0x5eed);
    let mut checks = 0;
    run.steady_since = clock.instant();
    run.last_reading = clock.instant();
    for step in 0..15 {
        let before = (run.load, run.faulty.clone());
        disturb(&mut rng, &sims, &mut run);
        if before.0 != run.load {
            send_load(&daemon, clock, run.load).await;
            run.last_reading = clock.instant();
            run.log
                .push(clock.instant(), run.load.unwrap_or(WORST_CASE_A));
        }
        if before != (run.load, run.faulty.clone()) {
            run.steady_since = clock.instant();
        }
        let step_end = clock.instant() + STEP;
        while clock.instant() < step_end {
            if clock.instant() - run.last_reading >= READING_EVERY {
                send_load(&daemon, clock, run.load).await;
                run.last_reading = clock.instant();
            }
            check_tick(&daemon, &sims, &mut run, step).await;
            checks += 1;
            tokio::time::sleep(TICK).await;
        }
    }
    eprintln!(
        "{checks} checks, {} in settled stretches; worst utilisation {:?}",
        run.settled_checks,
        run.worst
            .map(|(s, a, r)| format!("{:.1} % ({a:.1} A of {r:.1} A)", 100.0 * s))
    );
    assert!(checks >= 120);
    assert!(run.settled_checks > 0, "no settled stretch was checked");
    for sim in sims {
        sim.close().await;
    }
    daemon.stop().await;
}

/// The test's view of the run.
struct Run {
    clock: Clock,
    /// The non-charger load per phase, in A (`None`: no reading, the worst case).
    load: Option<f64>,
    /// The faulty chargers, and when the load or the faults last changed.
    faulty: BTreeSet<usize>,
    steady_since: Instant,
    last_reading: Instant,
    log: LoadLog,
    settled_checks: usize,
    /// The worst utilisation seen settled: (share, applied A, allowed A).
    worst: Option<(f64, f64, f64)>,
}

/// The chargers, 1.6 and 2.0.1 in turn, booted and each with a transaction running.
async fn connect_chargers(daemon: &Daemon, clock: Clock) -> Vec<SimChargePoint> {
    let mut sims = Vec::new();
    for i in 0..CHARGERS {
        let mut opts = SimOptions::new(
            crate::common::url(daemon),
            name(i),
            &[if i.is_multiple_of(2) {
                OcppVersion::V16
            } else {
                OcppVersion::V201
            }],
        );
        opts.password = Some(crate::common::PASSWORD.into());
        opts.call_timeout = Duration::from_secs(2);
        opts.clock = clock;
        let sim = SimChargePoint::connect(opts).await.unwrap();
        sim.boot().await.unwrap();
        sim.start_transaction(1, "GOOD", 0, clock.now())
            .await
            .unwrap();
        sims.push(sim);
    }
    sims
}

/// Hands the control loop a non-charger load reading (`None`: no usable reading).
async fn send_load(daemon: &Daemon, clock: Clock, load: Option<f64>) {
    let reading = LoadReading {
        circuit: None,
        per_phase: load.map(|a| [Amps(a); 3]),
        detail: Default::default(),
        at: clock.now(),
    };
    daemon.load_readings.send(reading).await.unwrap();
}

/// Lets the first plan reach the chargers: some vehicle gets more than its failsafe.
async fn wait_for_the_first_plan(daemon: &Daemon, sims: &[SimChargePoint], clock: Clock) {
    let deadline = clock.instant() + Duration::from_secs(10);
    while sims
        .iter()
        .any(|s| s.applied_limit(clock.now()).is_none_or(|a| a <= 6.0))
        && clock.instant() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let charging = sims
        .iter()
        .filter(|s| s.applied_limit(clock.now()).is_some_and(|a| a > 6.0))
        .count();
    assert!(
        charging > 0,
        "the plan gave no vehicle more than its failsafe: {:#?} {:?} {:?}",
        daemon
            .accounting
            .borrow()
            .iter()
            .take(2)
            .collect::<Vec<_>>(),
        daemon
            .dispatch_input
            .borrow()
            .targets
            .iter()
            .collect::<Vec<_>>(),
        daemon
            .dispatch_input
            .borrow()
            .rows
            .iter()
            .map(|r| (&r.name, r.capacity))
            .collect::<Vec<_>>()
    );
}

/// The load moves or its reading goes missing, a charger starts rejecting or ignoring
/// its CALLs, or every charger answers again.
fn disturb(rng: &mut crate::common::Rng, sims: &[SimChargePoint], run: &mut Run) {
    match rng.below(8) {
        0 | 1 => run.load = Some(20.0 + rng.below(70) as f64),
        2 => run.load = None,
        3 => {
            let i = rng.below(CHARGERS as u64) as usize;
            sims[i].set_reply_policy(ReplyPolicy::Reject);
            run.faulty.insert(i);
        }
        4 => {
            let i = rng.below(CHARGERS as u64) as usize;
            sims[i].set_reply_policy(ReplyPolicy::Ignore);
            run.faulty.insert(i);
        }
        5 => {
            sims.iter()
                .for_each(|s| s.set_reply_policy(ReplyPolicy::Accept));
            run.faulty.clear();
        }
        _ => run.load = Some(20.0 + rng.below(40) as f64),
    }
}

/// S4 and S1 on what the chargers apply now; in a settled stretch, the utilisation.
async fn check_tick(daemon: &Daemon, sims: &[SimChargePoint], run: &mut Run, step: usize) {
    let clock = run.clock;
    let now = clock.now();
    let limits: Vec<f64> = sims
        .iter()
        .map(|s| s.applied_limit(now).unwrap_or(MAX_A))
        .collect();
    // S4: no vehicle is offered less than its 6 A minimum unless it is paused.
    assert!(limits.iter().all(|a| *a == 0.0 || *a >= 6.0), "{limits:?}");
    let applied: f64 = limits.iter().sum();
    let due = run.log.due(clock.instant());
    assert!(
        applied + due <= GRID_A - MARGIN_A + 1e-6,
        "chargers apply {applied:.1} A + load {due:.1} A > {} A",
        GRID_A - MARGIN_A
    );
    // Utilisation: every vehicle wants more (no energy need), each takes up to the
    // charger's maximum on all three phases, and the load is the same on every
    // phase, so the site allows min(room, what the chargers can take).
    if let Some(building) = run.load
        && run.faulty.is_empty()
        && clock.instant() - run.steady_since >= SETTLE
    {
        let room = GRID_A - MARGIN_A - building;
        let allowed = room.min(MAX_A * CHARGERS as f64);
        let share = applied / allowed;
        if run.worst.is_none_or(|(w, _, _)| share < w) {
            run.worst = Some((share, applied, allowed));
        }
        run.settled_checks += 1;
        assert!(
            applied >= UTILISATION * allowed,
            "step {step}, {:?} into a steady stretch: the chargers apply {applied:.1} A of the \
             {allowed:.1} A the site allows ({building} A load): {limits:?}\n{}",
            clock.instant() - run.steady_since,
            diagnose(daemon).await
        );
    }
}
