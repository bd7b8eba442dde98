//! Turns meter statuses into the control loop's non-charger load readings, once a second.
//!
//! For each `[[meter]]`: the chargers' latest measured currents (Current.Import per phase,
//! from their MeterValues and transaction events) under the meter's circuit go through
//! `load::site_load` with the meter's status; a stale meter (or none usable) becomes a
//! reading of `None`, which the control loop treats as the worst case (S5). Each sample is
//! capped at the lowest limit dispatch accounted the charger at within the vehicles'
//! response time (`load::RecentLimits`), so a reduction chargegate ordered is never hidden
//! by a sample taken before the vehicle followed. Thin: the deciding is in `load`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::ReadingDetail;
use super::learned_phases::measured_currents;
use super::load::{ChargerDraw, LoadSource, LoadWindow, RecentLimits, site_load};
use crate::clock::Clock;
use crate::config::{Config, Live, ancestors};
use crate::csms::{ConnectionEvent, SiteEvent};
use crate::ev::EV_RESPONSE;
use crate::meter::MeterStatus;
use crate::ocpp::model::{ChargerEvent, ConnectorStatus, MeterSample, TxPhase};
use crate::units::{Amps, ChargerId};

/// How often every meter's load is recomputed and sent.
pub const PERIOD: Duration = Duration::from_secs(1);

/// One meter as the feed sees it.
#[derive(Debug)]
struct Feed {
    circuit: Option<String>,
    status: watch::Receiver<MeterStatus>,
    /// The chargers behind this meter, with how their phases sit on the site's.
    chargers: Vec<(ChargerId, String, u8)>,
    worst_case: Amps,
    window: LoadWindow,
}

/// Current.Offered, the highest per phase, if the charger reports it.
fn offered_current(samples: &[MeterSample]) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.measurand == "Current.Offered")
        .map(|s| s.value)
        .reduce(f64::max)
}

/// Each charger's latest measured currents, forgotten as soon as they may be wrong in the
/// unsafe direction: the transaction ended, the connector says no vehicle draws, the
/// connection closed, or the sample grew old.
#[derive(Debug, Default)]
struct LatestSamples {
    latest: HashMap<ChargerId, (Instant, [Option<Amps>; 3])>,
    /// The most a vehicle has shown it takes: its highest current while it drew clearly
    /// less than offered (Current.Offered), for the ramp attribution (`ChargerDraw::ramp`);
    /// forgotten with the samples.
    vehicle_max: HashMap<ChargerId, Amps>,
}

impl LatestSamples {
    fn apply(&mut self, now: Instant, charger: &ChargerId, event: &ChargerEvent) {
        let samples = match event {
            ChargerEvent::MeterValues { samples, .. } => samples.as_slice(),
            ChargerEvent::Transaction(tx) if tx.phase == TxPhase::Ended => {
                self.forget(charger);
                return;
            }
            // 2.0.1 says a vehicle stopped drawing through the transaction's chargingState
            // (E02, trigger ChargingStateChanged), as 1.6 does with SuspendedEV.
            ChargerEvent::Transaction(tx)
                if tx
                    .charging_state
                    .as_deref()
                    .is_some_and(|s| s != "Charging") =>
            {
                self.forget(charger);
                return;
            }
            ChargerEvent::Transaction(tx) => tx.samples.as_slice(),
            ChargerEvent::Status { status, .. } => {
                if !matches!(
                    status,
                    ConnectorStatus::Charging
                        | ConnectorStatus::Occupied
                        | ConnectorStatus::Preparing
                ) {
                    self.forget(charger);
                }
                return;
            }
            _ => return,
        };
        if let Some(currents) = measured_currents(samples) {
            let drawn = currents.iter().flatten().map(|a| a.0).fold(0.0, f64::max);
            if let Some(offered) = offered_current(samples)
                && drawn >= 1.0
                && drawn < 0.8 * offered
            {
                let max = self.vehicle_max.entry(charger.clone()).or_insert(Amps(0.0));
                max.0 = max.0.max(drawn);
            }
            self.latest.insert(charger.clone(), (now, currents));
        }
    }

    fn forget(&mut self, charger: &ChargerId) {
        self.latest.remove(charger);
        self.vehicle_max.remove(charger);
    }

    fn forget_all(&mut self) {
        self.latest.clear();
        self.vehicle_max.clear();
    }

    /// The most the charger's vehicle has shown it takes, if it was ever offered more.
    fn vehicle_max(&self, charger: &ChargerId) -> Option<Amps> {
        self.vehicle_max.get(charger).copied()
    }

    /// The latest currents of `charger` and when they were received (none when unknown).
    /// How old a sample may be and still be subtracted is `site_load`'s rule (its window).
    fn currents(&self, charger: &ChargerId) -> ([Option<Amps>; 3], Option<Instant>) {
        match self.latest.get(charger) {
            Some((at, currents)) => (*currents, Some(*at)),
            None => ([None; 3], None),
        }
    }
}

/// A non-charger load reading from the meters, for the control loop.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReading {
    /// The `[[circuit]]` id; `None`: the grid connection.
    pub circuit: Option<String>,
    /// Per site phase (L1, L2, L3), in A; `None`: the meter is stale (S5).
    pub per_phase: Option<[Amps; 3]>,
    /// What the reading says besides the load: what the meter shows beyond `per_phase`
    /// that is put down to vehicles ramping after chargegate's own increases (no increase
    /// goes into it), the phases the meter did not report, whether an increase is still
    /// unconfirmed (`site::load::SiteLoad`).
    pub detail: ReadingDetail,
    pub at: DateTime<Utc>,
}

/// What the feed needs to know of each charger's limit, from dispatch's S1 accounting
/// (dispatch implements it; the feed follows its published accounting).
pub trait LimitAccount {
    /// The current the charger may draw at `now` as far as the accounting knows (S1).
    fn may_draw(&self, now: DateTime<Utc>) -> Amps;
    /// The limit chargegate last sent it, in flight or acknowledged: what its vehicle is
    /// told it may ramp up to.
    fn ordered(&self) -> Option<Amps>;
}

/// What the feed listens to.
#[derive(Debug)]
pub struct FeedInputs<L> {
    /// Every meter's status, by `[[meter]] id`.
    pub meters: BTreeMap<String, watch::Receiver<MeterStatus>>,
    /// Charger events (their Current.Import samples, transaction ends, statuses).
    pub events: broadcast::Receiver<SiteEvent>,
    pub connections: broadcast::Receiver<ConnectionEvent>,
    /// Dispatch's accounting: the limits chargegate gave each charger.
    pub limits: watch::Receiver<BTreeMap<ChargerId, L>>,
    /// Later versions of the config `run` starts with (a reload adds chargers behind the
    /// meters and changes worst-case loads).
    pub reload: Live,
}

/// Runs until `shutdown`; returns at once when no meter is configured (the control loop
/// then keeps assuming the worst case).
pub async fn run<L: LimitAccount>(
    config: Config,
    inputs: FeedInputs<L>,
    readings: mpsc::Sender<LoadReading>,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    let FeedInputs {
        meters,
        mut events,
        mut connections,
        mut limits,
        mut reload,
    } = inputs;
    let mut feeds = feeds_of(&config, &meters);
    if feeds.is_empty() {
        return;
    }
    let mut samples = LatestSamples::default();
    let mut recent = RecentLimits::new(EV_RESPONSE);
    let mut ordered = RecentLimits::new(EV_RESPONSE);
    let mut limits_open = true;
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            config = reload.changed() => {
                refeed(&mut feeds, feeds_of(&config, &meters));
                continue;
            }
            changed = limits.changed(), if limits_open => {
                match changed {
                    Ok(()) => record_limits(&mut recent, &mut ordered, &limits.borrow_and_update(), clock),
                    // Dispatch is gone: the last limits seen stay in `recent` and age out;
                    // the readings go on.
                    Err(_) => limits_open = false,
                }
                continue;
            }
            connection = connections.recv() => {
                match connection {
                    Ok(c) if !c.connected => samples.forget(&c.charger),
                    Ok(_) => {}
                    // A missed disconnect could leave a sample that no vehicle draws:
                    // forget them all (subtracting nothing is the safe side).
                    Err(broadcast::error::RecvError::Lagged(_)) => samples.forget_all(),
                    Err(broadcast::error::RecvError::Closed) => break,
                }
                continue;
            }
            event = events.recv() => {
                match event {
                    Ok(e) => samples.apply(clock.instant(), &e.charger, &e.event),
                    // A missed end of a transaction, as above.
                    Err(broadcast::error::RecvError::Lagged(_)) => samples.forget_all(),
                    Err(broadcast::error::RecvError::Closed) => break,
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        record_limits(&mut recent, &mut ordered, &limits.borrow(), clock);
        let now = clock.instant();
        for feed in &mut feeds {
            let reading = feed.reading(&samples, &recent, &ordered, now, clock);
            if readings.send(reading).await.is_err() {
                return;
            }
        }
    }
}

/// The feeds of a reloaded config, each keeping its meter's window: the meters are the
/// same and in the same order (changing them needs a restart, `config::diff`).
fn refeed(feeds: &mut Vec<Feed>, mut fresh: Vec<Feed>) {
    for (new, old) in fresh.iter_mut().zip(feeds.iter_mut()) {
        std::mem::swap(&mut new.window, &mut old.window);
    }
    *feeds = fresh;
}

/// One feed per meter that reports: the chargers behind it (all for the grid meter, those
/// under its circuit for a sub-meter) and its circuit's worst-case load.
fn feeds_of(config: &Config, meters: &BTreeMap<String, watch::Receiver<MeterStatus>>) -> Vec<Feed> {
    config
        .meters
        .iter()
        .filter_map(|m| {
            let status = meters.get(&m.id)?.clone();
            let chargers = config
                .chargers
                .iter()
                .filter(|c| match &m.circuit {
                    None => true,
                    Some(circuit) => ancestors(&config.circuits, c.circuit.as_deref())
                        .iter()
                        .any(|a| &a.id == circuit),
                })
                .map(|c| (c.id.clone(), c.phase_rotation.clone(), c.phases))
                .collect();
            let worst_case = m
                .circuit
                .as_deref()
                .and_then(|id| config.circuits.iter().find(|c| c.id == id))
                .and_then(|c| c.worst_case_load)
                .unwrap_or(config.site.worst_case_load);
            Some(Feed {
                circuit: m.circuit.clone(),
                status,
                chargers,
                worst_case,
                window: LoadWindow::new(super::load::DEFAULT_WINDOW),
            })
        })
        .collect()
}

/// What each charger may draw now and what was last ordered, per `limits`.
fn record_limits<L: LimitAccount>(
    recent: &mut RecentLimits,
    ordered: &mut RecentLimits,
    limits: &BTreeMap<ChargerId, L>,
    clock: Clock,
) {
    let (now, wall) = (clock.instant(), clock.now());
    for (id, limit) in limits {
        recent.record(now, id, limit.may_draw(wall));
        if let Some(sent) = limit.ordered() {
            ordered.record(now, id, sent);
        }
    }
}

impl Feed {
    /// The non-charger load behind this meter now: the metered current less what its
    /// chargers' samples and limits account for.
    fn reading(
        &mut self,
        samples: &LatestSamples,
        recent: &RecentLimits,
        ordered: &RecentLimits,
        now: Instant,
        clock: Clock,
    ) -> LoadReading {
        let draws: Vec<ChargerDraw> = self
            .chargers
            .iter()
            .map(|(id, rotation, phases)| {
                let (currents, sampled_at) = samples.currents(id);
                ChargerDraw::new(rotation, *phases, currents)
                    .with_limits(recent, ordered, id, sampled_at, now)
                    .with_vehicle_max(samples.vehicle_max(id))
            })
            .collect();
        let status = self.status.borrow().clone();
        let load = site_load(
            now,
            Some(&status),
            &draws,
            self.worst_case,
            &mut self.window,
        );
        let per_phase = (load.source != LoadSource::WorstCase).then_some(load.per_phase);
        LoadReading {
            circuit: self.circuit.clone(),
            per_phase,
            detail: ReadingDetail {
                unconfirmed: load.unconfirmed,
                unmeasured: load.unmeasured,
                ramp_open: load.ramp_open,
            },
            at: clock.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn sample(measurand: &str, phase: Option<&str>, value: f64) -> MeterSample {
        MeterSample {
            timestamp: Utc::now(),
            measurand: measurand.into(),
            phase: phase.map(Into::into),
            value,
            unit: Some("A".into()),
            context: None,
            location: None,
        }
    }

    #[test]
    fn phase_currents_come_from_current_import_samples() {
        let samples = [
            sample("Current.Import", Some("L1"), 16.0),
            sample("Current.Import", Some("L3-N"), 15.5),
            sample("Current.Import", None, 99.0),
            sample("Energy.Active.Import.Register", None, 1000.0),
        ];
        assert_eq!(
            measured_currents(&samples),
            Some([Some(Amps(16.0)), None, Some(Amps(15.5))])
        );
        assert_eq!(measured_currents(&samples[3..]), None);
    }

    fn meter_values(amps: f64) -> ChargerEvent {
        ChargerEvent::MeterValues {
            evse_id: 1,
            tx: None,
            signed: Vec::new(),
            samples: vec![sample("Current.Import", Some("L1"), amps)],
        }
    }

    fn status(status: ConnectorStatus) -> ChargerEvent {
        ChargerEvent::Status {
            evse: crate::ocpp::model::EvseRef {
                evse_id: 1,
                connector_id: Some(1),
            },
            status,
            error_code: None,
            vendor_error_code: None,
            info: None,
            timestamp: None,
        }
    }

    #[test]
    fn samples_are_forgotten_when_they_may_overstate_the_draw() {
        let t0 = Instant::now();
        let cp = ChargerId::new("CP-1").unwrap();
        let mut s = LatestSamples::default();
        let known = [Some(Amps(16.0)), None, None];
        s.apply(t0, &cp, &meter_values(16.0));
        assert_eq!(s.currents(&cp).0, known);
        // Charging states keep it; a connector without a drawing vehicle drops it.
        s.apply(t0, &cp, &status(ConnectorStatus::Charging));
        assert_eq!(s.currents(&cp).0, known);
        s.apply(t0, &cp, &status(ConnectorStatus::SuspendedEv));
        assert_eq!(s.currents(&cp).0, [None; 3]);
        // So does the end of the connection (old age is site_load's: its window).
        s.apply(t0, &cp, &meter_values(16.0));
        s.forget(&cp);
        assert_eq!(s.currents(&cp).0, [None; 3]);
    }

    /// A 2.0.1 TransactionEvent carrying a transaction with the given chargingState.
    fn tx_updated(charging_state: &str, amps: f64) -> ChargerEvent {
        ChargerEvent::Transaction(crate::ocpp::model::TransactionEvent {
            phase: TxPhase::Updated,
            tx: None,
            seq_no: Some(3),
            evse: None,
            id_token: None,
            timestamp: Utc::now(),
            meter_wh: None,
            stop_reason: None,
            trigger_reason: Some("ChargingStateChanged".into()),
            charging_state: Some(charging_state.into()),
            offline: false,
            reservation_id: None,
            signed: Vec::new(),
            samples: vec![sample("Current.Import", Some("L1"), amps)],
        })
    }

    #[test]
    fn a_2_0_1_vehicle_that_stops_drawing_is_no_longer_subtracted() {
        // 2.0.1 has no SuspendedEV connector status: the transaction's chargingState says
        // it (E02, trigger ChargingStateChanged). Its sample would otherwise be subtracted
        // from the grid meter until the next one, hiding a building rise as large as it.
        let t0 = Instant::now();
        let cp = ChargerId::new("CP-1").unwrap();
        for state in ["SuspendedEV", "SuspendedEVSE", "EVConnected", "Idle"] {
            let mut s = LatestSamples::default();
            s.apply(t0, &cp, &meter_values(16.0));
            s.apply(t0, &cp, &tx_updated(state, 16.0));
            assert_eq!(s.currents(&cp).0, [None; 3], "{state}");
        }
        let mut s = LatestSamples::default();
        s.apply(t0, &cp, &tx_updated("Charging", 16.0));
        assert_eq!(s.currents(&cp).0[0], Some(Amps(16.0)), "Charging keeps it");
    }
}
