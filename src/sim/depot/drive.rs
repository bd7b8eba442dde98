//! Plays a `DepotDay` against the real daemon on virtual time: a simulated SDM630 on
//! Modbus TCP, one simulated charger per bay over loopback WebSocket (both OCPP versions),
//! a vehicle behind each that arrives, draws what it is offered after its delay until its
//! battery is full, reports its current and energy, and leaves; the building load, the
//! meter's silence, the chargers' faults and chargegate's restart as the day scripts them.
//!
//! IO: this is the doing half of the depot day (the script, the metrics and the baselines
//! are pure, in the sibling modules). It expects tokio's paused clock
//! (`#[tokio::test(start_paused = true)]`, or a current-thread runtime built with
//! `start_paused(true)` in the bench), so 18 h pass in seconds and a seed replays exactly;
//! it also runs on a real clock, in real time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::link::ChargerLink;
use super::{BayStep, DayMetrics, DepotDay, FaultKind, LoadView};
use crate::clock::Clock;
use crate::daemon::{self, Daemon, Limits};
use crate::sim::{ReplyPolicy, SimMeter, SimMeterServer, SimVehicle};
use crate::store::{AlertRecord, Store};

/// How a day is driven.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Simulation step: vehicles follow, the meter and the metrics are updated.
    pub tick: Duration,
    /// Each charger reports its vehicle's current and energy this often
    /// (MeterValueSampleInterval).
    pub report_every: Duration,
    /// The time chargegate is given to follow a rise of the building load before S1 is
    /// held against it (no controller lowers a limit before it saw the reading):
    /// `designed_reaction` by default.
    pub reaction: Duration,
    /// Give the planner each vehicle's departure and need (`[[departure]]`).
    pub departures: bool,
    /// Settle time of the utilisation stretches (`DayMetrics::new`).
    pub settle: Duration,
}

impl Default for DriveOptions {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            report_every: Duration::from_secs(10),
            reaction: designed_reaction(super::site_config::POLL_INTERVAL),
            departures: true,
            settle: super::DEFAULT_SETTLE,
        }
    }
}

/// How long chargegate takes, at most, to lower the limits after a rise of the other load
/// behind a grid meter polled every `poll`: the poll, the site feed's period, the ramp
/// attribution when the rise coincides with a vehicle ramping after chargegate's own
/// increase (`MAX_ATTRIBUTION`: the rise is taken for the vehicle's until its sample says
/// otherwise), one more feed period for the first reading past it, and a second for the
/// dispatch round, the charger's answer and the 1 s step of the simulation. The README
/// gives the electrician the same figure to size `margin-a` by. A rise that comes while a
/// vehicle follows a cut may be taken for its old draw for up to `EV_RESPONSE` after the
/// cut (the README says so too); the depot day holds chargegate to this shorter figure and
/// meets it, so a day that does not would show the longer path taken.
pub fn designed_reaction(poll: Duration) -> Duration {
    poll + 2 * crate::site::feed::PERIOD
        + crate::site::load::MAX_ATTRIBUTION
        + Duration::from_secs(1)
}

/// What a driven day produced.
#[derive(Debug)]
pub struct DriveOutcome {
    pub metrics: DayMetrics,
    /// Plans made over the day (all daemon lifetimes).
    pub replans: u64,
    /// The meter's silence was seen as stale (S5).
    pub saw_stale: bool,
    /// Moments when the applied limits plus the building load went over a limit, with what
    /// chargegate believed (empty on a good day).
    pub violations: Vec<String>,
    /// chargegate's derived building load against the truth.
    pub view: LoadView,
    /// Every alert chargegate raised over the day, open or cleared, oldest first.
    pub alerts: Vec<AlertRecord>,
}

/// Why a day could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("simulated meter: {0}")]
    Meter(#[from] std::io::Error),
    #[error("the day's config: {0}")]
    Config(String),
    #[error("daemon: {0}")]
    Daemon(#[from] daemon::StartError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("charger {0}: {1}")]
    Charger(String, crate::sim::SimError),
}

/// One bay while the day runs.
struct Live {
    link: ChargerLink,
    ev: SimVehicle,
    arrived: bool,
    left: bool,
}

/// Plays `day` against the daemon and returns the metrics. Panics nowhere: a failure of a
/// simulated device is an error.
pub async fn drive(day: &DepotDay, opts: &DriveOptions) -> Result<DriveOutcome, DriveError> {
    let clock = Clock::virtual_from(day.start);
    let server = SimMeterServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1).await?;
    let meter = server.meter.clone();
    meter.set_building(day.building_at(day.start));
    let config = depot_config(day, opts, meter.addr())?;
    let store = Store::in_memory()?;
    let mut daemon =
        daemon::start_with_clock(&config, store.clone(), Limits::Planned, clock).await?;
    let mut live = idle_bays(day);
    for (bay, l) in day.bays.iter().zip(live.iter_mut()) {
        let fail = |e| DriveError::Charger(bay.id.clone(), e);
        l.link
            .connect(daemon.csms_addr, clock, bay.id.as_str(), bay.ocpp)
            .await
            .map_err(fail)?;
    }
    let mut metrics = day_metrics(day, opts);
    let capacity = day.capacity();
    let mut building_log: VecDeque<(DateTime<Utc>, [f64; 3])> = VecDeque::new();
    let mut outcome = Outcome::default();
    let mut restarted = false;
    let origin = clock.instant();
    let mut step: u32 = 0;
    let mut last_report = day.start;
    let mut last_heartbeat = day.start;
    loop {
        let now = clock.now();
        if now >= day.end {
            break;
        }
        // The script: building load, meter silence, faults, the restart.
        let building = day.building_at(now);
        meter.set_building(building);
        building_log.push_back((now, building));
        meter.set_silent(day.faults.meter_silent_at(now));
        outcome.saw_stale |= daemon.meters.status.values().any(|m| m.borrow().stale);
        apply_faults(day, &daemon, clock, &mut live, now).await?;
        if !restarted && now >= day.faults.restart_at {
            restarted = true;
            outcome.replans += daemon.plan.borrow().replans;
            daemon = restart(day, &config, &store, daemon, clock, &mut live).await?;
        }
        arrivals_and_departures(day, clock, &mut live, now).await?;
        // The physics: every vehicle follows what its charger offers now.
        let steps = drive_vehicles(day, &mut live, &meter, now, &daemon);
        let due = due_building(&mut building_log, now, opts.reaction);
        metrics.record_step(now, opts.tick.as_secs_f64(), &steps, due, &capacity);
        trace_tick(&mut outcome.trace, &steps, building, now, &daemon);
        record_view(&mut outcome.view, building, opts.tick, &daemon);
        check_step(
            day,
            &steps,
            (due, switch_seen_after(opts), opts.reaction),
            now,
            &daemon,
            &mut outcome,
        );
        let periodic = (now - last_report).to_std().unwrap_or_default() >= opts.report_every;
        if periodic {
            last_report = now;
        }
        report(day, &mut live, periodic, now).await;
        if now - last_heartbeat >= super::HEARTBEAT_EVERY {
            last_heartbeat = now;
            ChargerLink::heartbeats(live.iter().map(|l| &l.link)).await;
        }
        step += 1;
        tokio::time::sleep_until(origin + opts.tick * step).await;
    }
    outcome.replans += daemon.plan.borrow().replans;
    let alerts = wind_down(daemon, &store, live).await?;
    server.stop();
    Ok(DriveOutcome {
        metrics,
        replans: outcome.replans,
        saw_stale: outcome.saw_stale,
        violations: outcome.violations,
        view: outcome.view,
        alerts,
    })
}

/// The end of the day: every alert raised over it (oldest first), then the chargers'
/// connections closed and the daemon stopped.
async fn wind_down(
    daemon: Daemon,
    store: &Store,
    live: Vec<Live>,
) -> Result<Vec<AlertRecord>, DriveError> {
    let mut alerts = store
        .call(|c| crate::store::alerts(c, None, None, u32::MAX))
        .await?;
    alerts.reverse();
    for l in live {
        if let Some(sim) = l.link.sim {
            sim.close().await;
        }
    }
    daemon.stop().await;
    Ok(alerts)
}

/// The daemon's config for `day`, its meter at `meter`, with the departures when asked.
fn depot_config(
    day: &DepotDay,
    opts: &DriveOptions,
    meter: SocketAddr,
) -> Result<crate::config::Config, DriveError> {
    let mut text = day.config_toml(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        meter,
        Path::new(":memory:"),
    );
    if opts.departures {
        text.push_str(&day.departures_toml());
    }
    crate::config::parse(&text).map_err(|p| DriveError::Config(format!("{p:?}")))
}

/// Every bay before the day starts: no connection, no vehicle arrived yet.
fn idle_bays(day: &DepotDay) -> Vec<Live> {
    day.bays
        .iter()
        .map(|b| Live {
            link: ChargerLink::default(),
            ev: b.vehicle.sim(day.site.voltage_v),
            arrived: false,
            left: false,
        })
        .collect()
}

#[derive(Default)]
struct Outcome {
    replans: u64,
    saw_stale: bool,
    violations: Vec<String>,
    /// The last `TRACE_TICKS` seconds as the test and chargegate saw them, for the first
    /// violation's message.
    trace: VecDeque<String>,
    view: LoadView,
}

/// How many ticks of `Outcome::trace` a violation's message shows.
const TRACE_TICKS: usize = 20;

/// A charger's fault starts or ends: its reply policy, or its connection.
async fn apply_faults(
    day: &DepotDay,
    daemon: &Daemon,
    clock: Clock,
    live: &mut [Live],
    now: DateTime<Utc>,
) -> Result<(), DriveError> {
    for (i, l) in live.iter_mut().enumerate() {
        let bay = &day.bays[i];
        let fault = day.faults.fault_at(i, now);
        l.link
            .set_fault(fault, (daemon.csms_addr, clock), &bay.id, bay.ocpp)
            .await
            .map_err(|e| DriveError::Charger(bay.id.clone(), e))?;
    }
    Ok(())
}

/// chargegate is stopped and started again on the same store; every charger keeps what it
/// holds and reconnects.
async fn restart(
    day: &DepotDay,
    config: &crate::config::Config,
    store: &Store,
    daemon: Daemon,
    clock: Clock,
    live: &mut [Live],
) -> Result<Daemon, DriveError> {
    for sim in live.iter().filter_map(|l| l.link.sim.as_ref()) {
        sim.set_reply_policy(ReplyPolicy::Ignore);
    }
    daemon.stop().await;
    let daemon = daemon::start_with_clock(config, store.clone(), Limits::Planned, clock).await?;
    for (i, l) in live.iter_mut().enumerate() {
        let link = &mut l.link;
        if let Some(sim) = link.sim.take() {
            link.held = sim.profiles();
            sim.close().await;
            let bay = &day.bays[i];
            link.connect(daemon.csms_addr, clock, &bay.id, bay.ocpp)
                .await
                .map_err(|e| DriveError::Charger(bay.id.clone(), e))?;
            if let (Some(sim), Some(policy)) =
                (&link.sim, link.fault.and_then(FaultKind::reply_policy))
            {
                sim.set_reply_policy(policy);
            }
        }
    }
    Ok(daemon)
}

/// Vehicles plug in (status, transaction) and leave (end of transaction, Available).
async fn arrivals_and_departures(
    day: &DepotDay,
    clock: Clock,
    live: &mut [Live],
    now: DateTime<Utc>,
) -> Result<(), DriveError> {
    for (bay, l) in day.bays.iter().zip(live.iter_mut()) {
        let Some(sim) = &l.link.sim else { continue };
        let fail = |e| DriveError::Charger(bay.id.clone(), e);
        if !l.arrived && bay.vehicle.present(now) && l.link.fault.is_none() {
            l.arrived = true;
            sim.status(1, "Preparing").await.map_err(fail)?;
            let tx = sim
                .start_transaction(1, "DEPOT", 0, clock.now())
                .await
                .map_err(fail)?;
            sim.status(1, "Charging").await.map_err(fail)?;
            l.link.tx = Some(tx.key);
            l.link.seq_used = 1;
        } else if l.arrived && !l.left && now >= bay.vehicle.departure && l.link.fault.is_none() {
            l.left = true;
            if let Some(tx) = l.link.tx.take() {
                let wh = l.ev.meter_wh(now, day.site.voltage_v);
                sim.stop_transaction(&tx, wh.round() as i64, "EVDisconnected", now)
                    .await
                    .map_err(fail)?;
            }
            sim.status(1, "Available").await.map_err(fail)?;
        }
    }
    Ok(())
}

/// Every present vehicle follows its charger's offer; the meter sees the result. Each
/// step carries what chargegate aims the charger at.
fn drive_vehicles(
    day: &DepotDay,
    live: &mut [Live],
    meter: &SimMeter,
    now: DateTime<Utc>,
    daemon: &Daemon,
) -> Vec<BayStep> {
    let mut steps = Vec::with_capacity(live.len());
    for (bay, l) in day.bays.iter().zip(live.iter_mut()) {
        // What the charger offers: per the profiles it holds, connected or not; its
        // hardware maximum without a profile in force.
        let applied = match &l.link.sim {
            Some(sim) => sim.applied_limit(now),
            None => crate::sim::limits::applied_limit(bay.ocpp, &l.link.held, now),
        }
        .unwrap_or(bay.max_a);
        let here = l.arrived && !l.left;
        l.ev.offer(now, if here { applied } else { 0.0 });
        l.ev.meter_wh(now, day.site.voltage_v);
        let draw = if here {
            bay.to_site(l.ev.draw_per_phase(now))
        } else {
            [0.0; 3]
        };
        meter.set_draw(&bay.id, draw);
        steps.push(BayStep {
            limit_a: applied,
            draw_a: draw,
            wants_more: here && l.ev.wants_more(now),
            aim_a: None,
        });
    }
    aims(day, &mut steps, now, daemon);
    steps
}

/// What chargegate aims each bay's charger at now (`ControlOutput::aims_at`), for the
/// metrics' `following`.
fn aims(day: &DepotDay, steps: &mut [BayStep], now: DateTime<Utc>, daemon: &Daemon) {
    let aims: std::collections::BTreeMap<_, _> =
        daemon.plan.borrow().aims_at(now).into_iter().collect();
    for (bay, step) in day.bays.iter().zip(steps) {
        step.aim_a = crate::units::ChargerId::new(bay.id.as_str())
            .ok()
            .and_then(|id| aims.get(&id))
            .map(|a| a.0);
    }
}

/// The building load chargegate can be held to now: per phase the lowest value in force
/// during the last `reaction` (a rise counts once chargegate had time to see it).
fn due_building(
    log: &mut VecDeque<(DateTime<Utc>, [f64; 3])>,
    now: DateTime<Utc>,
    reaction: Duration,
) -> [f64; 3] {
    let horizon = now - chrono::TimeDelta::from_std(reaction).unwrap_or_default();
    // Keep the entry in force at the horizon.
    while log.len() > 1 && log[1].0 <= horizon {
        log.pop_front();
    }
    let mut due = [f64::INFINITY; 3];
    for (_, b) in log.iter() {
        for p in 0..3 {
            due[p] = due[p].min(b[p]);
        }
    }
    due
}

/// chargegate's view of the grid connection's building load against the truth, for `tick`.
fn record_view(view: &mut LoadView, building: [f64; 3], tick: Duration, daemon: &Daemon) {
    if let Some(snap) = daemon.plan.borrow().snapshot.as_ref() {
        view.record(&snap.circuits[0], building, tick.as_secs_f64());
    }
}

/// One line per tick: the true building load, what the grid meter last told chargegate,
/// what the vehicles draw, and the other load chargegate derived (per site phase, A).
fn trace_tick(
    trace: &mut VecDeque<String>,
    steps: &[BayStep],
    building: [f64; 3],
    now: DateTime<Utc>,
    daemon: &Daemon,
) {
    let mut draws = [0.0; 3];
    for step in steps {
        for (sum, a) in draws.iter_mut().zip(step.draw_a) {
            *sum += a;
        }
    }
    let metered = daemon.meters.status.values().next().and_then(|m| {
        let m = m.borrow();
        m.reading
            .as_ref()
            .map(|r| r.current.map(|a| a.map_or(f64::NAN, |a| a.0)))
    });
    let believed = daemon
        .plan
        .borrow()
        .snapshot
        .as_ref()
        .map(|snap| snap.circuits[0].load.map(|a| a.0));
    let f = |v: [f64; 3]| format!("{:.1}/{:.1}/{:.1}", v[0], v[1], v[2]);
    trace.push_back(format!(
        "{}: building {} metered {} draw {} believed {}",
        now.format("%H:%M:%S"),
        f(building),
        metered.map_or("-".into(), f),
        f(draws),
        believed.map_or("-".into(), f)
    ));
    if trace.len() > TRACE_TICKS {
        trace.pop_front();
    }
}

/// The day's metrics, holding chargegate to a phase switch and to a departure only after
/// it could see them, and not scoring its utilisation while the grid meter is silent.
fn day_metrics(day: &DepotDay, opts: &DriveOptions) -> DayMetrics {
    let (silent_from, silent_to) = day.faults.meter_silent;
    DayMetrics::new(day, opts.settle)
        .seeing_phase_switches_after(switch_seen_after(opts))
        .seeing_departures_after(opts.reaction)
        .blind_while(silent_from, silent_to)
}

/// How long after a vehicle switched a phase on S1 holds chargegate to its limit on that
/// phase: the switch's draw is other load on the grid meter at once and seen within the
/// designed reaction (`reaction`); the charger's own count widens with its next sample
/// (`site::learned_phases`), which that rise asks for at once (`site::switch_watch`):
/// the trigger's round trip, one feed period for the snapshot that counts it and one
/// second for the dispatch round and the simulation's step. Until then a limit above
/// what the vehicle draws is counted on its learned phase alone; the fuse sees only the
/// draw.
fn switch_seen_after(opts: &DriveOptions) -> Duration {
    opts.reaction + SAMPLE_ASKED_WITHIN
}

/// A sample asked for by TriggerMessage arrives and counts within this (see above).
const SAMPLE_ASKED_WITHIN: Duration = Duration::from_secs(3);

/// `check_s1` on this step; the first violation comes with the seconds before it.
fn check_step(
    day: &DepotDay,
    steps: &[BayStep],
    (due, switch_after, departure_after): ([f64; 3], Duration, Duration),
    now: DateTime<Utc>,
    daemon: &Daemon,
    outcome: &mut Outcome,
) {
    let before = outcome.violations.len();
    let ago = |d: Duration| now - chrono::TimeDelta::from_std(d).unwrap_or_default();
    check_s1(
        day,
        steps,
        (due, ago(switch_after), ago(departure_after)),
        now,
        daemon,
        &mut outcome.violations,
    );
    if before == 0 && !outcome.violations.is_empty() {
        outcome.violations.push(format!(
            "the seconds before (building, metered, vehicles draw, chargegate's other load):\n{}",
            Vec::from(outcome.trace.clone()).join("\n")
        ));
    }
}

/// S1 on what the chargers apply, per phase of the grid connection and of the sub-board,
/// each limit on the phases it can draw on (the plugged-in vehicle's, or every phase of
/// the charger without one: `DayMetrics` counts the same); a violation is kept with what
/// chargegate believed, for the failure message. `building` is the building load,
/// `seen` the instant whose vehicle phases chargegate can be held to now (a vehicle that
/// switches a phase on is due after `switch_seen_after`) and `left` the instant whose
/// departures it can be held to: the charger's StatusNotification tells chargegate at
/// once, and it has the designed reaction to count the charger on every phase again (no
/// other vehicle is plugged in and drawing that soon).
fn check_s1(
    day: &DepotDay,
    steps: &[BayStep],
    (building, seen, left): ([f64; 3], DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    daemon: &Daemon,
    violations: &mut Vec<String>,
) {
    let mut site = [0.0; 3];
    let mut board = [0.0; 3];
    for (bay, step) in day.bays.iter().zip(steps) {
        let phases = if bay.vehicle.present(now) || bay.vehicle.present(left) {
            bay.vehicle_site_phases_at(seen)
        } else {
            bay.site_phases()
        };
        for p in phases {
            site[p] += step.limit_a;
            if bay.on_board {
                board[p] += step.limit_a;
            }
        }
    }
    let s = &day.site;
    for p in 0..3 {
        let over_site = site[p] + building[p] - (s.grid_limit_a - s.margin_a);
        let over_board = board[p] - (s.board_limit_a - s.margin_a);
        if (over_site > 1e-6 || over_board > 1e-6) && violations.len() < 20 {
            let believed = daemon
                .plan
                .borrow()
                .snapshot
                .as_ref()
                .map(|snap| snap.circuits[0].load[p].0);
            // The chargers that apply more than dispatch's S1 accounting counts for them.
            let accounting = daemon.accounting.borrow();
            let beyond: Vec<String> = day
                .bays
                .iter()
                .zip(steps)
                .filter_map(|(bay, step)| {
                    let id = crate::units::ChargerId::new(bay.id.as_str()).ok()?;
                    let counted = accounting.get(&id)?.effective(now).0;
                    (step.limit_a > counted + 0.1).then(|| {
                        format!(
                            "{} applies {:.1} A, counted {counted:.1} A",
                            bay.id, step.limit_a
                        )
                    })
                })
                .collect();
            violations.push(format!(
                "{now}: L{}: chargers apply {:.1} A (board {:.1} A) + building {:.1} A; chargegate believed the load {believed:?}; {beyond:?}",
                p + 1,
                site[p],
                board[p],
                building[p]
            ));
        }
    }
}

/// Each charger with a running transaction reports its vehicle's current and energy when
/// its vehicle stops drawing (a status change is sent when it happens), every
/// `report_every` (`periodic`), and when chargegate asks (TriggerMessage).
async fn report(day: &DepotDay, live: &mut [Live], periodic: bool, now: DateTime<Utc>) {
    let mut calls = Vec::new();
    for (bay, l) in day.bays.iter().zip(live.iter_mut()) {
        let due = l.link.due(l.arrived && !l.left, &l.ev, periodic, now);
        let shape = (bay.ocpp, bay.phases, day.site.voltage_v);
        calls.extend(l.link.report(due, &mut l.ev, shape, now));
    }
    futures_util::future::join_all(calls).await;
}
