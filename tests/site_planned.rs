//! The whole daemon on a simulated depot: 16 chargers of both versions with vehicles, the
//! non-charger load fed to the control loop as a meter would (including spikes and a meter
//! that goes silent), chargers that reject or stop answering. The plan, the guard and
//! dispatch decide every limit. Sampled all along: the limits the chargers actually apply
//! plus the non-charger load never exceed the grid limit - margin (DESIGN.md S1), allowing
//! the control loop a short reaction time after the load rises (no controller can lower a
//! limit before it has seen the reading).

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chargegate::control::LoadReading;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint, SimOptions};
use chargegate::units::Amps;
use chrono::Utc;

const CHARGERS: usize = 16;
const GRID_A: f64 = 250.0;
const MARGIN_A: f64 = 5.0;
const WORST_CASE_A: f64 = 90.0;
const MAX_A: f64 = 32.0;
/// Time the control loop, dispatch and the chargers get to follow a higher load.
const REACTION: Duration = Duration::from_secs(3);

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
         [csms]\nlisten = \"127.0.0.1:0\"\ncall-timeout-s = 1\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[store]\npath = \"{}\"\n\n[dispatch]\nmin-interval-s = 0\n",
        dir.join("cg.db").display()
    );
    for i in 0..CHARGERS {
        text.push_str(&format!(
            "\n[[charger]]\nid = \"{}\"\npassword = \"{}\"\nmax-current-a = {MAX_A}\nfailsafe-current-a = 6\n",
            name(i),
            common::PASSWORD
        ));
    }
    chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// The non-charger load the site assumes at each moment: what was last sent (worst case
/// while the meter is silent), with when it was sent.
struct LoadLog(VecDeque<(Instant, f64)>);

impl LoadLog {
    fn push(&mut self, load: f64) {
        self.0.push_back((Instant::now(), load));
    }

    /// The load the controller must be measured against now: the lowest value in force
    /// during the last `REACTION` (a rise counts once the reaction time has passed).
    fn due(&self) -> f64 {
        let now = Instant::now();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planned_site_never_applies_more_than_the_grid_carries() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let daemon = chargegate::daemon::start(&config).await.unwrap();
    let mut sims = Vec::new();
    for i in 0..CHARGERS {
        let mut opts = SimOptions::new(
            common::url(&daemon),
            name(i),
            &[if i.is_multiple_of(2) {
                OcppVersion::V16
            } else {
                OcppVersion::V201
            }],
        );
        opts.password = Some(common::PASSWORD.into());
        opts.call_timeout = Duration::from_secs(2);
        let sim = SimChargePoint::connect(opts).await.unwrap();
        sim.boot().await.unwrap();
        sim.start_transaction(1, "GOOD", 0, Utc::now())
            .await
            .unwrap();
        sims.push(sim);
    }
    let mut log = LoadLog(VecDeque::new());
    let send_load = async |load: Option<f64>, log: &mut LoadLog| {
        let reading = LoadReading {
            circuit: None,
            per_phase: load.map(|a| [Amps(a); 3]),
            at: Utc::now(),
        };
        daemon.load_readings.send(reading).await.unwrap();
        log.push(load.unwrap_or(WORST_CASE_A));
    };
    send_load(Some(40.0), &mut log).await;
    // Let the first plan reach the chargers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sims
        .iter()
        .any(|s| s.applied_limit(Utc::now()).is_none_or(|a| a <= 6.0))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let charging = sims
        .iter()
        .filter(|s| s.applied_limit(Utc::now()).is_some_and(|a| a > 6.0))
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

    let mut rng = common::Rng(0x5eed);
    let mut checks = 0;
    for _step in 0..15 {
        match rng.below(8) {
            0 | 1 => send_load(Some(20.0 + rng.below(70) as f64), &mut log).await,
            2 => send_load(None, &mut log).await,
            3 => sims[rng.below(CHARGERS as u64) as usize].set_reply_policy(ReplyPolicy::Reject),
            4 => sims[rng.below(CHARGERS as u64) as usize].set_reply_policy(ReplyPolicy::Ignore),
            5 => sims
                .iter()
                .for_each(|s| s.set_reply_policy(ReplyPolicy::Accept)),
            _ => send_load(Some(20.0 + rng.below(40) as f64), &mut log).await,
        }
        for _ in 0..8 {
            let limits: Vec<f64> = sims
                .iter()
                .map(|s| s.applied_limit(Utc::now()).unwrap_or(MAX_A))
                .collect();
            // S4: no vehicle is offered less than its 6 A minimum unless it is paused.
            assert!(limits.iter().all(|a| *a == 0.0 || *a >= 6.0), "{limits:?}");
            let applied: f64 = limits.iter().sum();
            let load = log.due();
            assert!(
                applied + load <= GRID_A - MARGIN_A + 1e-6,
                "chargers apply {applied:.1} A + load {load:.1} A > {} A",
                GRID_A - MARGIN_A
            );
            checks += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(checks >= 120);
    for sim in sims {
        sim.close().await;
    }
    daemon.stop().await;
}
