//! One simulated charger as the depot day (`drive`) and `chargegate demo` drive it: its
//! connection (gone while it is faulted with a disconnect, the profiles it holds kept
//! meanwhile), the running transaction with the 2.0.1 seqNo used on it, the fault in
//! force, and its reports of the vehicle's current and energy. IO, on the caller's clock.

use std::future::Future;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{FaultKind, PASSWORD};
use crate::clock::Clock;
use crate::ocpp::model::OcppVersion;
use crate::sim::{ReplyPolicy, SimChargePoint, SimError, SimOptions, SimVehicle};

/// Whether a charger reports this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Report {
    None,
    /// Its MeterValueSampleInterval: 1.6 MeterValues, 2.0.1 TransactionEvent Updated.
    Periodic,
    /// Asked by TriggerMessage(MeterValues): a MeterValues in both versions (2.0.1 F06).
    Triggered,
    /// The vehicle stopped drawing: 1.6 MeterValues and StatusNotification SuspendedEV,
    /// 2.0.1 TransactionEvent with chargingState SuspendedEV.
    Suspended,
}

/// Each simulated charger's Heartbeat: within chargegate's default interval (300 s,
/// `[csms] heartbeat-interval-s`), which the depot day's and the demo's site files keep.
pub const HEARTBEAT_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(240);

/// A simulated charger's link to chargegate and what it remembers across reconnects.
#[derive(Default)]
pub struct ChargerLink {
    pub sim: Option<SimChargePoint>,
    /// The profiles a disconnected charger keeps applying.
    pub held: Vec<Value>,
    /// The running transaction and the 2.0.1 seqNo used on it.
    pub tx: Option<String>,
    pub seq_used: u64,
    pub fault: Option<FaultKind>,
    /// The vehicle's stop of drawing was reported (once per session).
    pub full_reported: bool,
    /// It sent its BootNotification: it powered up once, and a reconnect (a dropped
    /// network, chargegate's restart) is not a reboot, so it does not boot again (OCPP 1.6
    /// §4.2, 2.0.1 B01: on power-up).
    pub booted: bool,
}

impl std::fmt::Debug for ChargerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChargerLink")
            .field("connected", &self.sim.is_some())
            .field("tx", &self.tx)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl ChargerLink {
    /// Every connected charger sends a Heartbeat (1.6 and 2.0.1 alike), as a real one does
    /// every interval its BootNotification answer set: an idle charger that sends nothing
    /// for two intervals is reported as hanging (alert `charger-silent`).
    pub async fn heartbeats(links: impl Iterator<Item = &ChargerLink>) {
        let calls = links.filter_map(|l| l.sim.as_ref()).map(|sim| async move {
            // A lost heartbeat is lost, as on a real link.
            let _ = sim.heartbeat().await;
        });
        futures_util::future::join_all(calls).await;
    }

    /// Connects (again): boot the first time, its connector status, and on a reconnect
    /// the profiles it held, its running transaction (2.0.1: what it answers
    /// GetTransactionStatus with, E14) and that transaction's seqNo.
    pub async fn connect(
        &mut self,
        csms: SocketAddr,
        clock: Clock,
        id: &str,
        version: OcppVersion,
    ) -> Result<(), SimError> {
        let mut opts = SimOptions::new(format!("ws://{csms}/ocpp"), id, &[version]);
        opts.password = Some(PASSWORD.into());
        opts.clock = clock;
        opts.profiles = std::mem::take(&mut self.held);
        if let Some(tx) = &self.tx {
            let running = crate::sim::TxMemory {
                ongoing: true,
                queued: false,
            };
            opts.transactions.insert(tx.clone(), running);
        }
        let sim = SimChargePoint::connect(opts).await?;
        if !self.booted {
            sim.boot().await?;
            self.booted = true;
        }
        let status = if self.tx.is_some() {
            "Charging"
        } else {
            "Available"
        };
        sim.status(1, status).await?;
        if let Some(tx) = &self.tx {
            // The same device on a new connection: its seqNo counter goes on (2.0.1 E01).
            while sim.next_seq_no(tx) + 1 < self.seq_used {}
        }
        self.sim = Some(sim);
        Ok(())
    }

    /// A fault starts or ends: its reply policy, or its connection (closed, keeping the
    /// profiles it holds; connected again when the disconnect ends).
    pub async fn set_fault(
        &mut self,
        fault: Option<FaultKind>,
        (csms, clock): (SocketAddr, Clock),
        id: &str,
        version: OcppVersion,
    ) -> Result<(), SimError> {
        if fault == self.fault {
            return Ok(());
        }
        if self.fault == Some(FaultKind::Disconnect) {
            self.connect(csms, clock, id, version).await?;
        }
        match fault.map_or(Some(ReplyPolicy::Accept), FaultKind::reply_policy) {
            Some(policy) => {
                if let Some(sim) = &self.sim {
                    sim.set_reply_policy(policy);
                }
            }
            None => {
                if let Some(sim) = self.sim.take() {
                    self.held = sim.profiles();
                    sim.close().await;
                }
            }
        }
        self.fault = fault;
        Ok(())
    }

    /// What the charger offers now: per the profiles it holds, connected or not (`None`:
    /// no profile in force, its hardware maximum).
    pub fn applied_limit(&self, version: OcppVersion, now: DateTime<Utc>) -> Option<f64> {
        match &self.sim {
            Some(sim) => sim.applied_limit(now),
            None => crate::sim::limits::applied_limit(version, &self.held, now),
        }
    }

    /// What is due from a charger whose vehicle is `present`: a report when the vehicle
    /// stopped drawing (once), every `periodic` tick, and when chargegate asked.
    pub fn due(
        &self,
        present: bool,
        ev: &SimVehicle,
        periodic: bool,
        now: DateTime<Utc>,
    ) -> Report {
        let asked = self
            .sim
            .as_ref()
            .is_some_and(|sim| !sim.take_meter_value_requests().is_empty());
        let suspended = present && !self.full_reported && !ev.wants_more(now);
        match (suspended, periodic, asked) {
            (true, _, _) => Report::Suspended,
            (false, true, _) => Report::Periodic,
            (false, false, true) => Report::Triggered,
            (false, false, false) => Report::None,
        }
    }

    /// The report `due` of the vehicle's current on its `phases` and energy at `voltage_v`,
    /// to be awaited (with the other chargers'); `None` when nothing is sent (no report
    /// due, no transaction, a fault). A charger that loses a report loses it, as a real
    /// one might.
    pub fn report(
        &mut self,
        due: Report,
        ev: &mut SimVehicle,
        (version, phases, voltage_v): (OcppVersion, usize, f64),
        now: DateTime<Utc>,
    ) -> Option<impl Future<Output = ()> + '_> {
        if self.fault.is_some() || due == Report::None || self.sim.is_none() || self.tx.is_none() {
            return None;
        }
        let wh = ev.meter_wh(now, voltage_v);
        let currents: Vec<f64> = ev.draw_per_phase(now)[..phases].to_vec();
        let plain = due == Report::Triggered && version == OcppVersion::V201;
        if version == OcppVersion::V201 && !plain {
            self.seq_used += 1;
        }
        self.full_reported |= due == Report::Suspended;
        let (sim, tx) = (self.sim.as_ref()?, self.tx.as_ref()?);
        Some(async move {
            let _ = match due {
                Report::Suspended => sim.vehicle_suspended(1, tx, wh, &currents).await,
                _ if plain => sim.meter_values_plain(1, wh, &currents).await,
                _ => sim.meter_values(1, tx, wh, &currents).await,
            };
        })
    }
}
