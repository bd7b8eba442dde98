//! The demo's chargers and vehicles while it runs: one simulated charger per bay over
//! loopback WebSocket, a vehicle behind it that arrives, draws what it is offered after its
//! delay until its battery is full, reports its current and energy, and leaves in the
//! morning (the next evening another comes); the two faulty chargers' faults.
//!
//! IO, on the demo's virtual clock. Each charger is a `sim::depot::ChargerLink`, as in the
//! depot day (which plays one fixed night to its end on one sub-board); here for a site
//! that runs until it is stopped, with a new vehicle every evening.

use chrono::{DateTime, Utc};

use super::scenario::DemoSite;
use crate::clock::Clock;
use crate::daemon::Daemon;
use crate::sim::depot::{BayStep, ChargerLink, VehicleSpec};
use crate::sim::{SimError, SimMeter, SimVehicle};

/// A simulated charger failed in a way the demo cannot go on from (a connection refused,
/// a CALL unanswered); names the charger.
#[derive(Debug, thiserror::Error)]
#[error("simulated charger {0}: {1}")]
pub struct BayError(pub String, pub SimError);

/// One bay while the demo runs.
#[derive(Debug)]
pub(super) struct Live {
    link: ChargerLink,
    spec: VehicleSpec,
    /// Which evening's vehicle `spec` is (0: the first).
    evening: u32,
    ev: SimVehicle,
    arrived: bool,
}

/// Every bay before the demo starts: not connected, the first evening's vehicle on its way.
pub(super) fn idle(site: &DemoSite) -> Vec<Live> {
    (0..site.bays.len())
        .map(|i| {
            let spec = site.visit(i, 0);
            Live {
                link: ChargerLink::default(),
                ev: spec.sim(site.voltage_v),
                spec,
                evening: 0,
                arrived: false,
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
    l.link
        .connect(daemon.csms_addr, clock, bay.id.as_str(), bay.ocpp)
        .await
        .map_err(|e| BayError(bay.id.clone(), e))
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
        let bay = &site.bays[i].bay;
        l.link
            .set_fault(
                site.fault_at(i, now),
                (daemon.csms_addr, clock),
                &bay.id,
                bay.ocpp,
            )
            .await
            .map_err(|e| BayError(bay.id.clone(), e))?;
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
        let Some(sim) = &l.link.sim else { continue };
        if l.link.fault.is_some() {
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
            l.link.tx = Some(tx.key);
            l.link.seq_used = 1;
        } else if l.arrived && now >= l.spec.departure {
            if let Some(tx) = l.link.tx.take() {
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
            l.link.full_reported = false;
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
        let applied = l.link.applied_limit(bay.ocpp, now).unwrap_or(bay.max_a);
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
            aim_a: None,
        });
    }
    steps
}

/// Each charger with a running transaction reports its vehicle's current and energy when
/// its vehicle stops drawing, when `periodic`, and when chargegate asked.
pub(super) async fn report(site: &DemoSite, live: &mut [Live], periodic: bool, now: DateTime<Utc>) {
    let mut calls = Vec::new();
    for (b, l) in site.bays.iter().zip(live.iter_mut()) {
        let due = l.link.due(l.arrived, &l.ev, periodic, now);
        let shape = (b.bay.ocpp, b.bay.phases, site.voltage_v);
        calls.extend(l.link.report(due, &mut l.ev, shape, now));
    }
    futures_util::future::join_all(calls).await;
}

/// Every connected charger sends a Heartbeat (`ChargerLink::heartbeats`).
pub(super) async fn heartbeats(live: &[Live]) {
    ChargerLink::heartbeats(live.iter().map(|l| &l.link)).await;
}

/// Closes every charger's connection (the end of the demo).
pub(super) async fn close_all(live: Vec<Live>) {
    for l in live {
        if let Some(sim) = l.link.sim {
            sim.close().await;
        }
    }
}
