//! The control loop's task: its handle (`Control`), how it is spawned, and `run`, which
//! routes the charger events, the load readings, the timers (slot boundaries, a due
//! replan, a temporary limit's end) and the operator's orders to the `Controller` and
//! publishes its output.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{ControlOutput, Controller, Orders, ReplanReason, orders};
use crate::clock::Clock;
use crate::config::{Config, Live};
use crate::csms::{ConnectionEvent, SiteEvent};
use crate::planner::{self, Policy, forecast::LoadHistory};
use crate::site::feed::LoadReading;
use crate::site::{CapKind, CloudCap, SiteState, TemporaryLimit};
use crate::units::ChargerId;

/// The running loop's ends: where readings go in, where results come out.
#[derive(Debug)]
pub struct Control {
    pub readings: mpsc::Sender<LoadReading>,
    pub output: watch::Receiver<ControlOutput>,
    /// When the loop last went round (at least every `ALIVE_EVERY`): what the systemd
    /// watchdog is fed from, so a stuck loop stops the pings (`service`).
    pub alive: watch::Receiver<Instant>,
    /// The operator's orders (a vehicle's need, a temporary grid limit), for the API.
    pub orders: Orders,
    pub task: JoinHandle<()>,
}

/// The control loop goes round at least this often, idle or not, to show it is alive.
pub const ALIVE_EVERY: Duration = Duration::from_secs(1);

/// Starts the control loop; it ends when `shutdown` turns true.
pub fn spawn(
    config: &Config,
    events: broadcast::Receiver<SiteEvent>,
    shutdown: watch::Receiver<bool>,
) -> Control {
    spawn_with_history(
        config,
        events,
        None,
        shutdown,
        LoadHistory::default(),
        Clock::system(),
    )
}

/// As `spawn`, with the forecast's history seeded (from the store, at start-up).
/// `connections`, when given, marks a charger offline (on its failsafe) when its
/// connection closes.
pub fn spawn_with_history(
    config: &Config,
    events: broadcast::Receiver<SiteEvent>,
    connections: Option<broadcast::Receiver<ConnectionEvent>>,
    shutdown: watch::Receiver<bool>,
    history: LoadHistory,
    clock: Clock,
) -> Control {
    let live = Live::fixed(config);
    let kept = Kept {
        history,
        ..Kept::default()
    };
    spawn_live(live, events, connections, shutdown, kept, clock)
}

/// What the loop starts from besides the config, as the store kept it.
#[derive(Debug, Default)]
pub struct Kept {
    pub history: LoadHistory,
    /// The temporary grid limits (`store::temporary_limits`): in force from the first plan on.
    pub temporary_limits: Vec<TemporaryLimit>,
    /// The cloud's lasting caps per charger (`store::cloud_caps`).
    pub caps: Vec<(ChargerId, CloudCap)>,
}

/// As `spawn_with_history`, following the config in force: a reload reconfigures the
/// site and replans at once (`Controller::reconfigure`).
pub fn spawn_live(
    mut config: Live,
    events: broadcast::Receiver<SiteEvent>,
    connections: Option<broadcast::Receiver<ConnectionEvent>>,
    shutdown: watch::Receiver<bool>,
    kept: Kept,
    clock: Clock,
) -> Control {
    let (readings, readings_rx) = mpsc::channel(256);
    let (orders, orders_rx) = mpsc::channel(orders::QUEUE);
    let (out_tx, output) = watch::channel(ControlOutput::default());
    let (alive_tx, alive) = watch::channel(clock.instant());
    let start = config.current();
    // What the loop starts from is seen; only a later reload is a change.
    let _ = config.take_change();
    let mut policy = Policy::from_config(&start);
    policy.history = kept.history;
    let mut state = SiteState::from_config(&start);
    for limit in kept.temporary_limits {
        state.set_temporary_limit(limit.source, Some(limit));
    }
    for (charger, cap) in kept.caps {
        // A charger no longer in the site file keeps no cap.
        let _ = state.set_cap(&charger, CapKind::Lasting, Some(cap));
    }
    let controller = Controller::new(state, policy);
    let channels = Channels {
        config,
        events,
        connections,
        readings: readings_rx,
        orders: orders_rx,
        out: out_tx,
        alive: alive_tx,
        shutdown,
    };
    let task = tokio::spawn(run(controller, channels, clock));
    Control {
        readings,
        output,
        alive,
        orders: Orders(orders),
        task,
    }
}

struct Channels {
    config: Live,
    events: broadcast::Receiver<SiteEvent>,
    connections: Option<broadcast::Receiver<ConnectionEvent>>,
    readings: mpsc::Receiver<LoadReading>,
    orders: mpsc::Receiver<orders::Order>,
    out: watch::Sender<ControlOutput>,
    alive: watch::Sender<Instant>,
    shutdown: watch::Receiver<bool>,
}

async fn run(mut controller: Controller, mut ch: Channels, clock: Clock) {
    let slot_min = controller.policy.planner.slot_min.max(1);
    // Plans are cut into slots on the wall clock (10:00, 10:15, ...): replan at each
    // boundary, not a slot after start, or the plan's next slot (made a slot earlier, for
    // another load) takes over between two plans.
    let next_boundary = |clock: &Clock| -> Instant {
        let now = clock.now();
        let next =
            planner::slot_start(now, slot_min) + chrono::TimeDelta::minutes(i64::from(slot_min));
        clock.instant() + (next - now).to_std().unwrap_or_default()
    };
    let mut slot_at = clock.instant();
    let mut events_open = true;
    let mut readings_open = true;
    let mut first = true;
    let mut alive = tokio::time::interval(ALIVE_EVERY);
    alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = controller.replan_due();
        let limit_ends = controller
            .temporary_limit_ends()
            .map(|until| clock.instant() + (until - clock.now()).to_std().unwrap_or_default());
        tokio::select! {
            _ = ch.shutdown.changed() => break,
            _ = alive.tick() => {
                ch.alive.send_replace(clock.instant());
                continue;
            }
            _ = tokio::time::sleep_until(slot_at) => {
                let reason = if std::mem::take(&mut first) { ReplanReason::Start } else { ReplanReason::Slot };
                // Not rate-limited: the slot changes now.
                controller.replan(clock.now(), clock.instant(), reason);
                slot_at = next_boundary(&clock);
            }
            _ = sleep_until(due), if due.is_some() => {}
            _ = sleep_until(limit_ends), if limit_ends.is_some() => {
                controller.end_temporary_limit(clock.now(), clock.instant());
            }
            config = ch.config.changed() => {
                controller.reconfigure(&config, clock.now());
                // The guard's cuts under the lowered limits go out before the solve.
                ch.out.send_replace(controller.output().clone());
                controller.replan(clock.now(), clock.instant(), ReplanReason::Reload);
            }
            Some(order) = ch.orders.recv() => match order {
                orders::Order::Need { charger, need, reply } => {
                    let _ = reply.send(controller.set_need(clock.instant(), &charger, need));
                }
                orders::Order::TemporaryLimit { source, limit, reply } => {
                    controller.set_temporary_limit(clock.now(), source, limit);
                    // The guard's cuts under a lowered limit go out before the solve.
                    ch.out.send_replace(controller.output().clone());
                    controller.replan(clock.now(), clock.instant(), ReplanReason::SiteLimit);
                    let _ = reply.send(());
                }
                orders::Order::Cap { charger, kind, cap, reply } => {
                    let _ = reply.send(controller.set_cap(clock.instant(), &charger, kind, cap));
                }
            },
            change = next_connection(&mut ch.connections) => if let Some(c) = change {
                controller.on_connection(clock.instant(), &c);
            },
            event = ch.events.recv(), if events_open => match event {
                Ok(e) => controller.on_event(clock.instant(), &e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "control loop lagged behind charger events");
                    controller.on_missed_events(clock.instant());
                }
                Err(broadcast::error::RecvError::Closed) => events_open = false,
            },
            reading = ch.readings.recv(), if readings_open => match reading {
                Some(r) => {
                    if !controller.on_reading(clock.now(), clock.instant(), &r) {
                        tracing::warn!(circuit = ?r.circuit, "load reading for an unknown circuit");
                    }
                }
                None => readings_open = false,
            },
        }
        controller.replan_if_due(clock.now(), clock.instant());
        ch.out.send_replace(controller.output().clone());
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next connection change; pends forever without a receiver, and drops the receiver
/// once its channel closed.
async fn next_connection(
    connections: &mut Option<broadcast::Receiver<ConnectionEvent>>,
) -> Option<ConnectionEvent> {
    let Some(rx) = connections else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(c) => return Some(c),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                *connections = None;
                return None;
            }
        }
    }
}
