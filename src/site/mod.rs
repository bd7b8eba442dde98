//! The site as the planner and the guard see it: `SiteSnapshot`, a pure value, and the
//! non-charger load per site phase derived from the meters (`load`).
//!
//! `SiteState` is built from the config and then fed charger events and non-charger load
//! readings; `snapshot(now)` freezes it. Circuit 0 is always the grid connection; every
//! other circuit has a parent with a lower index, so a walk to the root ends. The deciding
//! code here and in `load` never performs IO, never reads the clock and carries no serde
//! (STYLE.md §2); `feed` is the one thin task that reads the meters and the chargers'
//! samples and hands `LoadReading`s to the control loop.

mod caps;
mod curtailment;
pub mod feed;
pub mod learned_phases;
pub mod load;
mod lookup;
pub mod phases;
mod reconfigure;
pub mod switch_watch;
pub mod synthetic;
mod topology;
pub mod vehicle;

pub use caps::{CapKind, CapRefusal};
pub use reconfigure::tightest;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveTime, Utc};

use crate::config::{self, Config, DepartureFor};
use crate::ocpp::model::{ChargerEvent, ConnectorStatus, TxKey, TxPhase};
pub use crate::store::{CloudCap, LimitSource, TemporaryLimit};
use crate::units::{Amps, ChargerId, Volts, WattHours};

/// One node of the circuit tree (index 0: the grid connection).
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitNode {
    pub id: String,
    /// Per phase, in A.
    pub limit: Amps,
    /// Index of the parent circuit; `None` only for the grid connection.
    pub parent: Option<usize>,
    /// Non-charger load through this circuit (its sub-circuits included), per site phase.
    pub load: [Amps; 3],
    /// The load reading is missing or too old: planner and guard assume the worst case (S5).
    pub stale: bool,
    /// Non-charger load per phase assumed while stale, in A.
    pub worst_case_load: Amps,
    /// What the meter shows beyond `load`, per phase, that was put down to vehicles
    /// ramping after chargegate's own increases and is not yet confirmed by their samples
    /// (`site::load`): the guard does not cut for it, but no increase goes into it.
    pub unconfirmed: [Amps; 3],
    /// A meter with `role = "grid"` measures this circuit and `learn-vehicle-phases` is
    /// on: a vehicle switching a phase on below it shows at the next reading, so a
    /// charger's limit counts here on its vehicle's learned phases (`learned_phases`);
    /// elsewhere on every phase of the charger (`SiteSnapshot::counted_at`, S1).
    pub sees_phase_switches: bool,
    /// Phases its meter's last reading did not report (their load is the worst case): a
    /// phase switched on there is not seen, so learned phases do not count for them.
    pub unmeasured: [bool; 3],
    /// An increase below this circuit's meter is not yet confirmed by its charger's sample
    /// (`SiteLoad::ramp_open`): no new increase goes onto its rows until it is.
    pub ramp_open: bool,
}

/// What a meter reading says besides the load: see the `CircuitNode` fields of the same
/// names. The default: nothing unconfirmed, every phase reported, no ramp open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadingDetail {
    pub unconfirmed: [Amps; 3],
    pub unmeasured: [bool; 3],
    pub ramp_open: bool,
}

/// What a vehicle needs, from NotifyEVChargingNeeds, the departure schedule or the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub energy: WattHours,
    pub departure: DateTime<Utc>,
}

/// A vehicle plugged into a charger.
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    pub since: DateTime<Utc>,
    /// The vehicle's own limits, when it told us (ISO 15118 NotifyEVChargingNeeds); in a
    /// snapshot lowered to the cloud CSMS's cap on the charger (`caps`).
    pub max_current: Option<Amps>,
    /// The most it was seen to draw when offered clearly more (learned from meter values).
    pub measured_max: Option<Amps>,
    /// What the last meter values suggested for `measured_max`: it changes only when two
    /// samples in a row agree, since one may be taken while the vehicle is still ramping.
    pub learning: Option<Option<Amps>>,
    /// Since when it draws nothing although offered current; once idle (`vehicle`), since
    /// its last probe.
    pub idle_since: Option<DateTime<Utc>>,
    pub min_current: Option<Amps>,
    pub need: Option<Need>,
    pub id_token: Option<String>,
    /// How many phases of its charger it was last clearly seen drawing on (`vehicle`): what
    /// an ampere of its limit delivers, whatever phases S1 counts the limit on.
    pub drawing_phases: Option<u8>,
}

/// A charger (EVSE) with its place in the topology and its vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerState {
    pub id: ChargerId,
    /// Index into `SiteSnapshot::circuits` of the circuit it hangs on directly.
    pub circuit: usize,
    /// Which site phases (L1, L2, L3) the charger loads, from `phases` and `phase-rotation`;
    /// in a snapshot, narrowed to its vehicle's learned phases where that is allowed
    /// (`learned_phases`). It counts so only at circuits that see a phase switched on
    /// (`SiteSnapshot::counted_at`).
    pub site_phases: [bool; 3],
    /// Every site phase the charger is wired to (`phases`, `phase-rotation`): where its
    /// limit counts at circuits no grid meter measures.
    pub wired_phases: [bool; 3],
    pub min_current: Amps,
    pub max_current: Amps,
    /// Higher is more important.
    pub priority: u32,
    pub failsafe_current: Amps,
    /// Offline chargers run on their failsafe profile (S1, S3): fixed load, not plannable.
    pub online: bool,
    pub vehicle: Option<Vehicle>,
}

impl ChargerState {
    pub fn phase_count(&self) -> u8 {
        self.site_phases.iter().filter(|p| **p).count() as u8
    }

    /// The current range a plan may give this charger now: (min, max) in A, combining the
    /// charger's and the vehicle's limits. `None` when nothing can be charged.
    pub fn range(&self) -> Option<(Amps, Amps)> {
        let v = self.vehicle.as_ref()?;
        let max = [v.max_current, v.measured_max]
            .into_iter()
            .flatten()
            .fold(self.max_current.0, |max, m| max.min(m.0));
        let min = v
            .min_current
            .map_or(self.min_current.0, |m| m.0.max(self.min_current.0));
        (self.online && max >= min && max > 0.0).then_some((Amps(min), Amps(max)))
    }
}

/// Everything the planner and the guard decide from, frozen at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSnapshot {
    pub at: DateTime<Utc>,
    pub phases: u8,
    pub voltage: Volts,
    /// Kept free below every limit, in A.
    pub margin: Amps,
    pub circuits: Vec<CircuitNode>,
    pub chargers: Vec<ChargerState>,
    /// The lowest temporary grid limit in force at `at` (`curtailment`), the operator's or
    /// the cloud's: circuit 0's `limit` already is the lower of it and the configured one.
    pub temporary_limit: Option<TemporaryLimit>,
}

impl SiteSnapshot {
    /// The circuit indices from `circuit` up to and including the grid connection.
    pub fn chain(&self, circuit: usize) -> Vec<usize> {
        let mut out = vec![circuit];
        let mut at = circuit;
        while let Some(p) = self.circuits[at].parent {
            out.push(p);
            at = p;
        }
        out
    }

    /// The site phases on which a charger's limit counts at circuit `c` (S1): its
    /// vehicle's learned phases where `c` sees a phase switched on, every phase it is wired
    /// to elsewhere, while `c`'s meter is stale (nothing sees a switch then; the failsafe
    /// plan that follows counts every phase too), and on the phases its meter did not
    /// report. Whether `c` is on the charger's chain is the caller's to check.
    pub fn counted_at(&self, charger: &ChargerState, c: usize) -> [bool; 3] {
        let node = &self.circuits[c];
        if node.sees_phase_switches && !node.stale {
            std::array::from_fn(|p| {
                charger.site_phases[p] || (charger.wired_phases[p] && node.unmeasured[p])
            })
        } else {
            charger.wired_phases
        }
    }

    /// The non-charger load assumed on circuit `c`, phase `p`: measured, or worst case.
    /// The load an increase must leave room for: the assumed load plus what is not yet
    /// confirmed as a vehicle's ramp.
    pub fn load_for_increase(&self, c: usize, p: usize) -> f64 {
        self.assumed_load(c, p) + self.circuits[c].unconfirmed[p].0
    }

    pub fn assumed_load(&self, c: usize, p: usize) -> f64 {
        let node = &self.circuits[c];
        if node.stale {
            node.worst_case_load.0.max(node.load[p].0)
        } else {
            node.load[p].0
        }
    }

    /// Capacity left for chargers on circuit `c`, phase `p`, in A: limit - margin.
    pub fn budget(&self, c: usize) -> f64 {
        self.circuits[c].limit.0 - self.margin.0
    }

    pub fn any_stale(&self) -> bool {
        self.circuits.iter().any(|c| c.stale)
    }
}

/// The live site state the control loop keeps; `snapshot` freezes it.
#[derive(Debug, Clone)]
pub struct SiteState {
    snapshot: SiteSnapshot,
    departures: Vec<config::Departure>,
    /// Chargers that sent a connector status since they (re)connected or booted: their
    /// vehicle comes and goes with the status, not with meter values.
    status_known: HashSet<ChargerId>,
    /// The last transaction each charger ended: its late or resent messages bring no
    /// vehicle back.
    ended: HashMap<ChargerId, TxKey>,
    /// Chargers that reported a Reserved connector and have not used the reservation
    /// yet: kept out of the plan (no current), even when a vehicle is plugged in there,
    /// until a transaction names its reservationId (1.6 §5.13, 2.0.1 H03) or the
    /// connector becomes Available, Unavailable or Faulted (expired, cancelled).
    reserved: HashSet<ChargerId>,
    /// The temporary lower grid limits, at most one per source (`curtailment`), ended or
    /// not: the snapshot applies the lowest in force.
    temporary_limits: Vec<TemporaryLimit>,
    /// The cloud CSMS's caps per charger (`caps`): the snapshot lowers the vehicle's
    /// maximum to them.
    caps: HashMap<ChargerId, caps::ChargerCaps>,
    /// The phases vehicles were learned to draw on: the snapshot counts a charger on those
    /// only, where a phase switched on is seen at once (`learned_phases`).
    learned: learned_phases::LearnedPhases,
    /// Rises of the unexplained load that may be a narrowed charger's vehicle switching a
    /// phase on: those chargers are asked for a sample (`switch_watch`).
    switch_watch: switch_watch::SwitchWatch,
    /// Each charger's index in `snapshot.chargers` (charger events are the hot path: one
    /// per MeterValues at hundreds of chargers). Chargers are only ever appended.
    index: HashMap<ChargerId, usize>,
}

impl SiteState {
    /// The site as configured: every charger offline and empty, every metered load stale
    /// until its first reading; an unmetered sub-board at its worst-case load.
    pub fn from_config(config: &Config) -> Self {
        let circuits = topology::circuit_tree(config);
        let chargers = topology::offline_chargers(config, &circuits);
        Self {
            snapshot: SiteSnapshot {
                at: DateTime::<Utc>::UNIX_EPOCH,
                phases: config.site.phases,
                voltage: config.site.nominal_voltage,
                margin: config.site.margin,
                circuits,
                chargers,
                temporary_limit: None,
            },
            departures: config.departures.clone(),
            status_known: HashSet::new(),
            ended: HashMap::new(),
            reserved: HashSet::new(),
            temporary_limits: Vec::new(),
            caps: HashMap::new(),
            learned: learned_phases::LearnedPhases::from_config(config),
            switch_watch: switch_watch::SwitchWatch::default(),
            index: HashMap::new(),
        }
        .indexed()
    }

    /// The site at `now`; a reserved charger shows no vehicle, so no plan gives it
    /// current before its reservation is used.
    pub fn snapshot(&self, now: DateTime<Utc>) -> SiteSnapshot {
        let mut s = self.snapshot.clone();
        s.at = now;
        for c in &mut s.chargers {
            if self.reserved.contains(&c.id) {
                c.vehicle = None;
            }
            if let Some(v) = c.vehicle.as_mut() {
                vehicle::as_planned(v, now);
                self.cap(&c.id, v, now);
            }
            self.learned.narrow(c, now);
        }
        self.curtail(&mut s, now);
        s
    }

    /// Whether the charger is held by a reservation not used yet.
    pub fn is_reserved(&self, charger: &ChargerId) -> bool {
        self.reserved.contains(charger)
    }

    /// A non-charger load reading for a circuit (`None`: the grid connection);
    /// `per_phase = None` marks it stale. Returns false for an unknown circuit.
    pub fn apply_load(&mut self, circuit: Option<&str>, per_phase: Option<[Amps; 3]>) -> bool {
        self.apply_reading(circuit, per_phase, ReadingDetail::default())
    }

    /// As `apply_load`, with what the reading says besides the load: the part of the
    /// meter's rise put down to ramping vehicles, the phases the meter did not report, and
    /// whether an increase is still unconfirmed (`ReadingDetail`).
    pub fn apply_reading(
        &mut self,
        circuit: Option<&str>,
        per_phase: Option<[Amps; 3]>,
        detail: ReadingDetail,
    ) -> bool {
        let id = circuit.unwrap_or(config::SITE_CIRCUIT);
        let Some(node) = self.snapshot.circuits.iter_mut().find(|c| c.id == id) else {
            return false;
        };
        match per_phase {
            Some(load) => {
                node.load = load;
                node.stale = false;
                node.unconfirmed = detail.unconfirmed;
                node.unmeasured = detail.unmeasured;
                node.ramp_open = detail.ramp_open;
            }
            None => {
                node.stale = true;
                node.unconfirmed = [Amps(0.0); 3];
                node.ramp_open = false;
            }
        }
        true
    }

    /// Applies a charger event; returns whether it can change the plan.
    pub fn apply_event(
        &mut self,
        charger: &ChargerId,
        at: DateTime<Utc>,
        event: &ChargerEvent,
    ) -> bool {
        // A transaction that names its reservation uses it, and so does any start: the
        // CSMS refuses every other card on a reserved EVSE, and a charger that leaves out
        // the reservationId must not leave the holder at 0 A. The charger takes part in the
        // plan again.
        let used = matches!(event, ChargerEvent::Transaction(tx)
            if (tx.reservation_id.is_some() && tx.phase != TxPhase::Ended)
                || tx.phase == TxPhase::Started)
            && self.reserved.remove(charger);
        let changed = self.apply_charger_event(charger, at, event) || used;
        let since = (self.index.get(charger))
            .and_then(|i| self.snapshot.chargers[*i].vehicle.as_ref())
            .map(|v| v.since);
        let changed = self.learned.observe_event(charger, since, event, at) || changed;
        // Not short-circuited: the cap must follow its transaction whatever else changed.
        self.follow_transaction(charger, event) || changed
    }

    fn apply_charger_event(
        &mut self,
        charger: &ChargerId,
        at: DateTime<Utc>,
        event: &ChargerEvent,
    ) -> bool {
        let Some(&i) = self.index.get(charger) else {
            return false;
        };
        let departures = &self.departures;
        let c = &mut self.snapshot.chargers[i];
        c.online = true;
        // Its wiring (the stored snapshot is never narrowed to learned phases).
        let charger_phases = c.phase_count();
        // Whether a transaction's meter values may stand for a vehicle nobody told us
        // about (after a restart of chargegate, or a reconnect without a status): not
        // once the connector status is known, not for replayed offline messages, and not
        // for the transaction that already ended.
        let revives = |tx: Option<&TxKey>, offline: bool| {
            !self.status_known.contains(charger)
                && !offline
                && tx.is_some()
                && tx != self.ended.get(charger)
        };
        match event {
            ChargerEvent::Boot { .. } => {
                self.status_known.remove(charger);
                true
            }
            ChargerEvent::Status { status, .. } => {
                self.status_known.insert(charger.clone());
                let held = hold_for_reservation(&mut self.reserved, charger, *status);
                apply_status(c, departures, charger, at, *status) || held
            }

            ChargerEvent::Transaction(tx)
                if tx.phase == TxPhase::Updated && tx.id_token.is_none() =>
            {
                match c.vehicle.as_mut() {
                    Some(vehicle) => vehicle::learn(vehicle, &tx.samples, charger_phases, at),
                    // A running transaction proves a vehicle, e.g. after chargegate
                    // restarted or the charger reconnected without a StatusNotification.
                    None if revives(tx.tx.as_ref(), tx.offline) => {
                        revive(c, departures, charger, at, &tx.samples)
                    }
                    None => false,
                }
            }
            ChargerEvent::Transaction(tx) => match tx.phase {
                TxPhase::Ended => {
                    if let Some(key) = &tx.tx {
                        self.ended.insert(charger.clone(), key.clone());
                    }
                    c.vehicle.take().is_some()
                }
                TxPhase::Started | TxPhase::Updated => {
                    let token = tx.id_token.as_ref().map(|t| t.id.clone());
                    let vehicle = c
                        .vehicle
                        .get_or_insert_with(|| plugged(departures, charger, None, at));
                    if token.is_some() && vehicle.id_token != token {
                        // A token with its own departure overrides the charger's.
                        let by_token = plugged(departures, charger, token.as_deref(), at);
                        vehicle.id_token = token;
                        if by_token.need.is_some() {
                            vehicle.need = by_token.need;
                        }
                        return true;
                    }
                    tx.phase == TxPhase::Started
                }
            },
            ChargerEvent::MeterValues { samples, tx, .. } => match c.vehicle.as_mut() {
                Some(vehicle) => vehicle::learn(vehicle, samples, charger_phases, at),
                // 1.6 MeterValues of a running transaction: a vehicle is there, as above.
                None if revives(tx.as_ref(), false) => revive(c, departures, charger, at, samples),
                None => false,
            },
            ChargerEvent::EvChargingNeeds(needs) => {
                let vehicle = c
                    .vehicle
                    .get_or_insert_with(|| plugged(departures, charger, None, at));
                vehicle.max_current = needs.max_current_a.map(Amps);
                vehicle.min_current = needs.min_current_a.map(Amps);
                if let (Some(wh), Some(dep)) = (needs.energy_wh, needs.departure_time) {
                    vehicle.need = Some(Need {
                        energy: WattHours(wh),
                        departure: dep,
                    });
                }
                true
            }
            _ => false,
        }
    }
}

/// Whether a connector status changes the charger's reservation hold: `Reserved` starts
/// it, a free or out-of-service connector (the reservation expired or was cancelled)
/// ends it.
fn hold_for_reservation(
    reserved: &mut HashSet<ChargerId>,
    charger: &ChargerId,
    status: ConnectorStatus,
) -> bool {
    match status {
        ConnectorStatus::Reserved => reserved.insert(charger.clone()),
        ConnectorStatus::Available | ConnectorStatus::Unavailable | ConnectorStatus::Faulted => {
            reserved.remove(charger)
        }
        _ => false,
    }
}

/// A connector status: a vehicle plugs in with any status but the free ones. Returns
/// whether the plan may change.
fn apply_status(
    c: &mut ChargerState,
    departures: &[config::Departure],
    charger: &ChargerId,
    at: DateTime<Utc>,
    status: ConnectorStatus,
) -> bool {
    match status {
        ConnectorStatus::Available
        | ConnectorStatus::Unavailable
        | ConnectorStatus::Faulted
        | ConnectorStatus::Reserved => c.vehicle.take().is_some(),
        _ if c.vehicle.is_none() => {
            c.vehicle = Some(plugged(departures, charger, None, at));
            true
        }
        _ => false,
    }
}

/// Plans the vehicle behind a running transaction nobody announced, learning its limit
/// from the samples that revealed it.
fn revive(
    c: &mut ChargerState,
    departures: &[config::Departure],
    charger: &ChargerId,
    at: DateTime<Utc>,
    samples: &[crate::ocpp::model::MeterSample],
) -> bool {
    let mut vehicle = plugged(departures, charger, None, at);
    vehicle::learn(&mut vehicle, samples, c.phase_count(), at);
    c.vehicle = Some(vehicle);
    true
}

/// A freshly plugged vehicle with the scheduled need (by token first, then by charger).
fn plugged(
    departures: &[config::Departure],
    charger: &ChargerId,
    token: Option<&str>,
    at: DateTime<Utc>,
) -> Vehicle {
    let by_token = token.and_then(|t| {
        departures
            .iter()
            .find(|d| d.who == DepartureFor::IdToken(t.to_string()))
    });
    let by_charger = || {
        departures
            .iter()
            .find(|d| d.who == DepartureFor::Charger(charger.as_str().to_string()))
    };
    let need = by_token.or_else(by_charger).map(|d| Need {
        energy: WattHours(d.energy_kwh * 1000.0),
        departure: next_time_of_day(at, d.at_min),
    });
    Vehicle {
        measured_max: None,
        learning: None,
        idle_since: None,
        since: at,
        max_current: None,
        min_current: None,
        need,
        id_token: token.map(str::to_string),
        drawing_phases: None,
    }
}

/// The first moment after `at` whose UTC time of day is `minute` minutes past midnight.
pub fn next_time_of_day(at: DateTime<Utc>, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0).unwrap_or_default();
    let today = at.date_naive().and_time(time).and_utc();
    if today > at {
        today
    } else {
        today + Duration::days(1)
    }
}

#[cfg(test)]
mod tests;
