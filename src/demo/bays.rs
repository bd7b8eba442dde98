//! The demo's chargers and vehicles while it runs: one simulated charger per bay over
//! loopback WebSocket, a vehicle behind it that arrives, draws what it is offered after its
//! delay until its battery is full, reports its current and energy, and leaves in the
//! morning (the next evening another comes); the two faulty chargers' faults.
//!
//! IO, on the demo's virtual clock. The same moves as `sim::depot::drive` makes for a
//! depot day (which plays one fixed night to its end on one sub-board), for a site that
//! runs until it is stopped.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::scenario::DemoSite;
use crate::clock::Clock;
use crate::daemon::Daemon;
use crate::ocpp::model::OcppVersion;
use crate::sim::depot::{BayStep, FaultKind, PASSWORD, VehicleSpec};
use crate::sim::{ReplyPolicy, SimChargePoint, SimError, SimMeter, SimOptions, SimVehicle};

/// A simulated charger failed in a way the demo cannot go on from (a connection refused,
/// a CALL unanswered); names the charger.
#[derive(Debug, thiserror::Error)]
#[error("simulated charger {0}: {1}")]
pub struct BayError(pub String, pub SimError);

/// One bay while the demo runs.
pub(super) struct Live {
    sim: Option<SimChargePoint>,
    /// The profiles a disconnected charger keeps applying.
    held: Vec<Value>,
    spec: VehicleSpec,
    /// Which evening's vehicle `spec` is (0: the first).
    evening: u32,
    ev: SimVehicle,
    /// The running transaction and the 2.0.1 seqNo used on it.
    tx: Option<String>,
    seq_used: u64,
    arrived: bool,
    fault: Option<FaultKind>,
    full_reported: bool,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("connected", &self.sim.is_some())
            .field("evening", &self.evening)
            .field("arrived", &self.arrived)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

/// Every bay before the demo starts: not connected, the first evening's vehicle on its way.
pub(super) fn idle(site: &DemoSite) -> Vec<Live> {
    (0..site.bays.len())
        .map(|i| {
            let spec = site.visit(i, 0);
            Live {
                sim: None,
                held: Vec::new(),
                ev: spec.sim(site.voltage_v),
                spec,
                evening: 0,
                tx: None,
                seq_used: 0,
                arrived: false,
                fault: None,
                full_reported: false,
            }
        })
        .collect()
}

/// Connects bay `i`'s charger (again): boot, its connector status, and on a reconnect the
/// profiles it held and its transaction's seqNo.
pub(super) async fn connect(
    site: &DemoSite,
    daemon: &Daemon,
    clock: Clock,
    i: usize,
    l: &mut Live,
) -> Result<(), BayError> {
    let bay = &site.bays[i].bay;
    let fail = |e| BayError(bay.id.clone(), e);
    let url = format!("ws://{}/ocpp", daemon.csms_addr);
    let mut opts = SimOptions::new(url, bay.id.as_str(), &[bay.ocpp]);
    opts.password = Some(PASSWORD.into());
    opts.clock = clock;
    opts.profiles = std::mem::take(&mut l.held);
    let sim = SimChargePoint::connect(opts).await.map_err(fail)?;
    sim.boot().await.map_err(fail)?;
    let status = if l.tx.is_some() {
        "Charging"
    } else {
        "Available"
    };
    sim.status(1, status).await.map_err(fail)?;
    if let Some(tx) = &l.tx {
        // The same device on a new connection: its seqNo counter goes on (2.0.1 E01).
        while sim.next_seq_no(tx) + 1 < l.seq_used {}
    }
    l.sim = Some(sim);
    Ok(())
}

/// A charger's fault starts or ends: its reply policy, or its connection.
pub(super) async fn apply_faults(
    site: &DemoSite,
    daemon: &Daemon,
    clock: Clock,
    live: &mut [Live],
    now: DateTime<Utc>,
) -> Result<(), BayError> {
    for (i, l) in live.iter_mut().enumerate() {
        let fault = site.fault_at(i, now);
        if fault == l.fault {
            continue;
        }
        if l.fault == Some(FaultKind::Disconnect) {
            connect(site, daemon, clock, i, l).await?;
        }
        let policy = match fault {
            Some(kind) => kind.reply_policy(),
            None => Some(ReplyPolicy::Accept),
        };
        match policy {
            Some(policy) => {
                if let Some(sim) = &l.sim {
                    sim.set_reply_policy(policy);
                }
            }
            None => {
                if let Some(sim) = l.sim.take() {
                    l.held = sim.profiles();
                    sim.close().await;
                }
            }
        }
        l.fault = fault;
    }
    Ok(())
}

/// Vehicles plug in (status, transaction) and leave (end of transaction, Available; the
/// next evening's vehicle is on its way).
pub(super) async fn arrivals_and_departures(
    site: &DemoSite,
    live: &mut [Live],
    now: DateTime<Utc>,
) -> Result<(), BayError> {
    for (i, l) in live.iter_mut().enumerate() {
        let Some(sim) = &l.sim else { continue };
        if l.fault.is_some() {
            continue;
        }
        let fail = |e| BayError(site.bays[i].bay.id.clone(), e);
        if !l.arrived && l.spec.present(now) {
            l.arrived = true;
            sim.status(1, "Preparing").await.map_err(fail)?;
            let tx = sim
                .start_transaction(1, "DEPOT", 0, now)
                .await
                .map_err(fail)?;
            sim.status(1, "Charging").await.map_err(fail)?;
            l.tx = Some(tx.key);
            l.seq_used = 1;
        } else if l.arrived && now >= l.spec.departure {
            if let Some(tx) = l.tx.take() {
                let wh = l.ev.meter_wh(now, site.voltage_v);
                sim.stop_transaction(&tx, wh.round() as i64, "EVDisconnected", now)
                    .await
                    .map_err(fail)?;
            }
            sim.status(1, "Available").await.map_err(fail)?;
            l.evening += 1;
            l.spec = site.visit(i, l.evening);
            l.ev = l.spec.sim(site.voltage_v);
            l.arrived = false;
            l.full_reported = false;
        }
    }
    Ok(())
}

/// Every present vehicle follows its charger's offer; the meter sees the result. Returns
/// what each bay looked like this second.
pub(super) fn drive_vehicles(
    site: &DemoSite,
    live: &mut [Live],
    meter: &SimMeter,
    now: DateTime<Utc>,
) -> Vec<BayStep> {
    let mut steps = Vec::with_capacity(live.len());
    for (b, l) in site.bays.iter().zip(live.iter_mut()) {
        let bay = &b.bay;
        // What the charger offers: per the profiles it holds, connected or not; its
        // hardware maximum without a profile in force.
        let applied = match &l.sim {
            Some(sim) => sim.applied_limit(now),
            None => crate::sim::limits::applied_limit(bay.ocpp, &l.held, now),
        }
        .unwrap_or(bay.max_a);
        let here = l.arrived;
        l.ev.offer(now, if here { applied } else { 0.0 });
        l.ev.meter_wh(now, site.voltage_v);
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
        });
    }
    steps
}

/// Whether a charger reports this second.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Report {
    None,
    /// Its MeterValueSampleInterval: 1.6 MeterValues, 2.0.1 TransactionEvent Updated.
    Periodic,
    /// Asked by TriggerMessage(MeterValues): a MeterValues in both versions (2.0.1 F06).
    Triggered,
    /// The vehicle stopped drawing: 1.6 MeterValues and StatusNotification SuspendedEV,
    /// 2.0.1 TransactionEvent with chargingState SuspendedEV.
    Suspended,
}

/// Each charger with a running transaction reports its vehicle's current and energy when
/// its vehicle stops drawing, when `periodic`, and when chargegate asked.
pub(super) async fn report(site: &DemoSite, live: &mut [Live], periodic: bool, now: DateTime<Utc>) {
    let mut calls = Vec::new();
    for (b, l) in site.bays.iter().zip(live.iter_mut()) {
        let bay = &b.bay;
        let (Some(sim), Some(tx)) = (&l.sim, &l.tx) else {
            continue;
        };
        let asked = !sim.take_meter_value_requests().is_empty();
        let due = match (!l.full_reported && !l.ev.wants_more(now), periodic, asked) {
            (true, _, _) => Report::Suspended,
            (false, true, _) => Report::Periodic,
            (false, false, true) => Report::Triggered,
            (false, false, false) => Report::None,
        };
        if l.fault.is_some() || due == Report::None {
            continue;
        }
        let wh = l.ev.meter_wh(now, site.voltage_v);
        let currents: Vec<f64> = l.ev.draw_per_phase(now)[..bay.phases].to_vec();
        let plain = due == Report::Triggered && bay.ocpp == OcppVersion::V201;
        if bay.ocpp == OcppVersion::V201 && !plain {
            l.seq_used += 1;
        }
        l.full_reported |= due == Report::Suspended;
        calls.push(async move {
            // A charger that loses a report loses it, as a real one might.
            let _ = match due {
                Report::Suspended => sim.vehicle_suspended(1, tx, wh, &currents).await,
                _ if plain => sim.meter_values_plain(1, wh, &currents).await,
                _ => sim.meter_values(1, tx, wh, &currents).await,
            };
        });
    }
    futures_util::future::join_all(calls).await;
}

/// Every connected charger sends a Heartbeat (1.6 and 2.0.1 alike), as a real one does
/// every interval its BootNotification answer set: an idle charger that sends nothing
/// for two intervals is reported as hanging (alert `charger-silent`).
pub(super) async fn heartbeats(live: &[Live]) {
    let calls = live
        .iter()
        .filter_map(|l| l.sim.as_ref())
        .map(|sim| async move {
            // A lost heartbeat is lost, as on a real link.
            let _ = sim.heartbeat().await;
        });
    futures_util::future::join_all(calls).await;
}

/// Closes every charger's connection (the end of the demo).
pub(super) async fn close_all(live: Vec<Live>) {
    for l in live {
        if let Some(sim) = l.sim {
            sim.close().await;
        }
    }
}
