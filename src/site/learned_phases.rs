//! Where the learned phases of a vehicle (`phases`) narrow the site phases its charger
//! is counted on (DESIGN.md S1, issue 9), and where they may not.
//!
//! A single-phase vehicle on a three-phase charger draws on one site phase; counting its
//! limit on all three holds room on two phases nobody uses (about 40 A a phase of the
//! depot day's evening, `tests/it/depot_day.rs`). Counted on its learned phases only,
//! what chargegate no longer counts is the vehicle switching a phase on: a draw S1 did not
//! commit, like a rise of the building load. The rule that keeps S1 with its margin is
//! that such a switch is *seen at once* and then handled as any other rise of the load:
//!
//! - Only at a circuit measured by a meter with `role = "grid"`: that meter carries the
//!   new draw at its next reading, the derivation subtracts the charger's last sample
//!   there (about 0 A), and the guard cuts within its designed reaction time
//!   (`site::load`), with the margin covering the seconds in between, as it does for a
//!   building-load spike. A building meter does not see the chargers, and an unmetered
//!   sub-board's load is its configured worst case, so there the switch would wait for
//!   the charger's next sample (10-60 s): at such a circuit a charger's limit always
//!   counts on every phase it is wired to (`ChargerState::wired_phases`), while the grid
//!   meter above it lets the same limit count on the learned phases at the grid
//!   connection (`SiteSnapshot::counted_at`). A single-phase vehicle on an unmetered
//!   sub-board thus holds room on one phase of the connection, and on three of the
//!   board.
//! - The charger's own samples end the narrowing on any doubt (`VehiclePhases::learn`:
//!   a draw on another phase, a new vehicle, no confirming sample for `FRESH_FOR`), and so
//!   do a boot, a lost connection (the charger then runs on its failsafe, on every phase),
//!   and a vehicle's departure. Widening is immediate: the next snapshot counts every
//!   phase, and the guard cuts whatever that overcommits. Until the sample that shows a
//!   switch, its draw is counted as other load, not its limit: a limit above what the
//!   vehicle takes is short on the new phases by the difference, which the fuse does not
//!   see (it carries the draw). The rise asks for that sample at once (`switch_watch`),
//!   so the gap is a round trip, or one sample interval where the charger refuses
//!   TriggerMessage.
//!
//! Pure: the caller passes the time of the event.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::ChargerState;
use super::phases::VehiclePhases;
use crate::config::{self, Config, MeterRole};
use crate::ocpp::model::{ChargerEvent, MeterSample, TxPhase};
use crate::units::{Amps, ChargerId};

/// How one charger sits on the site.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wiring {
    /// The site phase each of the charger's phases L1..L3 is on (`phase-rotation`).
    site_phase: [Option<usize>; 3],
    phases: u8,
    /// Its count may follow its vehicle's phases somewhere: `learn-vehicle-phases` is on
    /// and some circuit above it (the grid connection included) is measured by a grid
    /// meter, which sees a phase switched on at its next reading. Only there does the
    /// narrowed count apply (`SiteSnapshot::counted_at`).
    may_narrow: bool,
}

/// The phases each charger's vehicle was learned to draw on, for the chargers where the
/// count may follow them.
#[derive(Debug, Clone, Default)]
pub struct LearnedPhases {
    wiring: HashMap<ChargerId, Wiring>,
    vehicles: HashMap<ChargerId, VehiclePhases>,
}

impl LearnedPhases {
    /// The chargers of `config`, knowing nothing about their vehicles yet.
    pub fn from_config(config: &Config) -> Self {
        let mut out = Self::default();
        out.reconfigure(config);
        out
    }

    /// Takes the chargers' wiring from `config` (a reload may add chargers); what was
    /// learned about vehicles stays.
    pub fn reconfigure(&mut self, config: &Config) {
        self.wiring = config
            .chargers
            .iter()
            .map(|c| {
                let mut site_phase = [None; 3];
                for (i, p) in config::site_phases(c).enumerate().take(3) {
                    site_phase[i] = Some(p);
                }
                let wiring = Wiring {
                    site_phase,
                    phases: c.phases,
                    may_narrow: config::ancestors(&config.circuits, c.circuit.as_deref())
                        .iter()
                        .any(|board| sees_phase_switches(config, Some(&board.id)))
                        || sees_phase_switches(config, None),
                };
                (c.id.clone(), wiring)
            })
            .collect();
        self.vehicles.retain(|id, _| self.wiring.contains_key(id));
    }

    /// Whether any charger's count may follow its vehicle's phases.
    pub fn may_narrow_any(&self) -> bool {
        self.wiring.values().any(|w| w.may_narrow)
    }

    /// Learns from the samples of the vehicle plugged in at `charger` since
    /// `vehicle_since`; returns whether the phases it is counted on changed.
    pub fn observe(
        &mut self,
        charger: &ChargerId,
        vehicle_since: DateTime<Utc>,
        samples: &[MeterSample],
        at: DateTime<Utc>,
    ) -> bool {
        let Some(wiring) = self.wiring.get(charger) else {
            return false;
        };
        if !wiring.may_narrow {
            return false;
        }
        let Some(currents) = measured_currents(samples) else {
            return false;
        };
        let currents = currents.map(|a| a.map(|a| a.0));
        self.vehicles.entry(charger.clone()).or_default().learn(
            vehicle_since,
            currents,
            wiring.phases,
            at,
        )
    }

    /// Learns from a charger event about the vehicle plugged in since `vehicle_since`
    /// (`None`: no vehicle), or forgets on a boot; returns whether the phases it is
    /// counted on changed.
    pub fn observe_event(
        &mut self,
        charger: &ChargerId,
        vehicle_since: Option<DateTime<Utc>>,
        event: &ChargerEvent,
        at: DateTime<Utc>,
    ) -> bool {
        let samples = match event {
            ChargerEvent::Boot { .. } => return self.forget(charger),
            ChargerEvent::MeterValues { samples, .. } => samples,
            ChargerEvent::Transaction(tx)
                if tx.phase == TxPhase::Updated && tx.id_token.is_none() =>
            {
                &tx.samples
            }
            _ => return false,
        };
        vehicle_since.is_some_and(|since| self.observe(charger, since, samples, at))
    }

    /// Forgets what the charger's vehicle taught (a boot, a lost connection); returns
    /// whether anything was.
    pub fn forget(&mut self, charger: &ChargerId) -> bool {
        self.vehicles
            .get_mut(charger)
            .is_some_and(VehiclePhases::forget)
    }

    /// Narrows the snapshot's `site_phases` of `c` to its vehicle's learned phases at
    /// `now`, where the rule above allows it; otherwise leaves every phase.
    pub fn narrow(&self, c: &mut ChargerState, now: DateTime<Utc>) {
        let (Some(vehicle), Some(wiring), Some(learned)) = (
            c.vehicle.as_ref(),
            self.wiring.get(&c.id),
            self.vehicles.get(&c.id),
        ) else {
            return;
        };
        if !c.online || !wiring.may_narrow {
            return;
        }
        let Some(mask) = learned.in_use(vehicle.since, now) else {
            return;
        };
        let mut narrowed = [false; 3];
        for (i, p) in wiring.site_phase.iter().enumerate() {
            if let Some(p) = p
                && mask & (1 << i) != 0
            {
                narrowed[*p] = true;
            }
        }
        // Only ever a subset of what the config says, and never nothing.
        let narrowed: [bool; 3] = std::array::from_fn(|p| narrowed[p] && c.site_phases[p]);
        if narrowed.iter().any(|p| *p) {
            c.site_phases = narrowed;
        }
    }
}

/// Whether a charger's limit may count on its vehicle's learned phases at `circuit`
/// (`None`: the grid connection): `learn-vehicle-phases` is on and a meter with
/// `role = "grid"` measures that circuit, so a phase switched on below it shows at the
/// meter's next reading (`CircuitNode::sees_phase_switches`).
pub fn sees_phase_switches(config: &Config, circuit: Option<&str>) -> bool {
    config.site.learn_vehicle_phases
        && config
            .meters
            .iter()
            .any(|m| m.role == MeterRole::Grid && m.circuit.as_deref() == circuit)
}

/// The measured current per charger phase L1..L3 from a charger's samples, if any.
pub fn measured_currents(samples: &[MeterSample]) -> Option<[Option<Amps>; 3]> {
    let mut out = [None; 3];
    let mut any = false;
    for s in samples.iter().filter(|s| s.measurand == "Current.Import") {
        let index = match s.phase.as_deref() {
            Some("L1" | "L1-N") => 0,
            Some("L2" | "L2-N") => 1,
            Some("L3" | "L3-N") => 2,
            _ => continue,
        };
        out[index] = Some(Amps(s.value));
        any = true;
    }
    any.then_some(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::tests::status;
    use super::super::{ReadingDetail, SiteState};
    use super::*;
    use crate::ocpp::model::ConnectorStatus;

    /// A grid meter at the connection and on "board"; "dark" has no meter. Every charger
    /// three-phase, "A" with its L1 on site L2.
    fn site(connection_role: &str) -> String {
        format!(
            r#"
[site]
id = "depot"
grid-limit-a = 250
worst-case-load-a = 50
margin-a = 5
learn-vehicle-phases = true

[[meter]]
id = "main"
profile = "eastron-sdm630"
role = "{connection_role}"
modbus-tcp = "127.0.0.1:502"

[[meter]]
id = "board-meter"
profile = "eastron-sdm630"
role = "grid"
circuit = "board"
modbus-tcp = "127.0.0.1:503"

[[circuit]]
id = "board"
limit-a = 100

[[circuit]]
id = "dark"
limit-a = 100
worst-case-load-a = 0

[[charger]]
id = "A"
password = "pw-long-enough"
max-current-a = 32
phase-rotation = "STR"

[[charger]]
id = "B"
password = "pw-long-enough"
max-current-a = 32
circuit = "board"

[[charger]]
id = "C"
password = "pw-long-enough"
max-current-a = 32
circuit = "dark"
"#
        )
    }

    fn at(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap() + chrono::TimeDelta::seconds(s.into())
    }

    /// A sample of Current.Import per charger phase L1..L3, in A.
    fn drawing(amps: [f64; 3]) -> ChargerEvent {
        let samples = amps
            .iter()
            .zip(["L1", "L2", "L3"])
            .map(|(a, phase)| MeterSample {
                timestamp: at(0),
                measurand: "Current.Import".into(),
                phase: Some(phase.into()),
                value: *a,
                unit: Some("A".into()),
                context: None,
                location: None,
            })
            .collect();
        ChargerEvent::MeterValues {
            evse_id: 1,
            tx: None,
            samples,
            signed: Vec::new(),
        }
    }

    const L1_ONLY: [f64; 3] = [16.0, 0.0, 0.0];

    fn id(s: &str) -> ChargerId {
        ChargerId::new(s).unwrap()
    }

    /// Plugs a vehicle in at every charger and feeds three single-phase samples 10 s
    /// apart from `from`; returns whether the last one changed the plan.
    fn learn_single_phase(state: &mut SiteState, from: u32) -> [bool; 3] {
        ["A", "B", "C"].map(|c| {
            state.apply_event(&id(c), at(from), &status(ConnectorStatus::Charging));
            let mut changed = false;
            for i in 1..=3 {
                changed = state.apply_event(&id(c), at(from + 10 * i), &drawing(L1_ONLY));
            }
            changed
        })
    }

    /// The site of `config` with a fresh reading of both meters (a stale meter sees no
    /// phase switched on).
    fn metered(config: &Config) -> SiteState {
        let mut state = SiteState::from_config(config);
        for circuit in [None, Some("board")] {
            assert!(state.apply_load(circuit, Some([Amps(20.0); 3])));
        }
        state
    }

    /// The site phases each charger's limit counts on at the grid connection.
    fn phases_of(state: &SiteState, now: u32) -> Vec<[bool; 3]> {
        let snap = state.snapshot(at(now));
        snap.chargers
            .iter()
            .map(|c| snap.counted_at(c, 0))
            .collect()
    }

    /// The site phases each charger's limit counts on at its own circuit.
    fn phases_on_its_board(state: &SiteState, now: u32) -> Vec<[bool; 3]> {
        let snap = state.snapshot(at(now));
        snap.chargers
            .iter()
            .map(|c| snap.counted_at(c, c.circuit))
            .collect()
    }

    const EVERY: [bool; 3] = [true; 3];

    #[test]
    fn a_single_phase_vehicle_is_counted_on_its_phase_only_where_a_grid_meter_sees_a_switch() {
        let config = config::parse(&site("grid")).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = metered(&config);
        assert_eq!(phases_of(&state, 0), [EVERY; 3]);
        let replan = learn_single_phase(&mut state, 0);
        assert_eq!(replan, [true; 3], "a change of phases replans");
        assert_eq!(
            phases_of(&state, 30),
            [
                [false, true, false],
                [true, false, false],
                [true, false, false]
            ],
            "A's L1 is on site L2 (STR); the connection's grid meter sees a phase switched \
             on below it, C's included"
        );
        assert_eq!(
            phases_on_its_board(&state, 30),
            [[false, true, false], [true, false, false], EVERY],
            "C's board has no meter: a phase C's vehicle switched on would wait for its \
             next sample there"
        );
        // A stale meter at the connection sees no switch: every phase there meanwhile.
        state.apply_load(None, None);
        assert_eq!(phases_of(&state, 30), [EVERY; 3]);
        // A reading without L3: a phase switched on there is not seen, so it counts.
        let fresh_load = Some([Amps(20.0); 3]);
        let l3_unread = ReadingDetail {
            unmeasured: [false, false, true],
            ..ReadingDetail::default()
        };
        state.apply_reading(None, fresh_load, l3_unread);
        assert_eq!(
            phases_of(&state, 30),
            [
                [false, true, true],
                [true, false, true],
                [true, false, true]
            ]
        );
        state.apply_load(None, fresh_load);
        // Nothing confirms them for `FRESH_FOR`: every phase again, with no event.
        let fresh = u32::try_from(super::super::phases::FRESH_FOR.num_seconds()).unwrap();
        assert_eq!(phases_of(&state, 30 + fresh)[0], [false, true, false]);
        assert_eq!(phases_of(&state, 31 + fresh), [EVERY; 3]);
    }

    #[test]
    fn a_building_meter_at_the_connection_or_the_setting_left_off_keeps_every_phase_counted() {
        // Off unless switched on.
        let off = site("grid").replace("learn-vehicle-phases = true\n", "");
        let config = config::parse(&off).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = metered(&config);
        assert_eq!(learn_single_phase(&mut state, 0), [false; 3]);
        assert_eq!(phases_of(&state, 30), [EVERY; 3]);
        assert_eq!(phases_on_its_board(&state, 30), [EVERY; 3]);
        // A building meter at the connection does not see the chargers: every phase
        // there. B's board has a grid meter of its own, which sees B's vehicle.
        let config = config::parse(&site("building")).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = metered(&config);
        assert_eq!(learn_single_phase(&mut state, 0), [false, true, false]);
        assert_eq!(phases_of(&state, 30), [EVERY; 3]);
        assert_eq!(
            phases_on_its_board(&state, 30),
            [EVERY, [true, false, false], EVERY]
        );
        // Switched on by a reload: learned from the next samples on.
        let config = config::parse(&site("grid")).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = metered(&config);
        let mut off = config.clone();
        off.site.learn_vehicle_phases = false;
        state.reconfigure(&off);
        learn_single_phase(&mut state, 0);
        assert_eq!(phases_of(&state, 30)[0], EVERY);
        state.reconfigure(&config);
        assert!(learn_single_phase(&mut state, 100)[0]);
        assert_eq!(phases_of(&state, 130)[0], [false, true, false]);
    }

    #[test]
    fn doubt_counts_every_phase_again_at_once() {
        let config = config::parse(&site("grid")).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = metered(&config);
        let a = id("A");
        learn_single_phase(&mut state, 0);
        assert_eq!(phases_of(&state, 30)[0], [false, true, false]);
        // The vehicle switched L2 on: the sample that shows it replans with every phase.
        assert!(state.apply_event(&a, at(40), &drawing([16.0, 8.0, 0.0])));
        assert_eq!(phases_of(&state, 40)[0], EVERY);

        // Learned again, then the connection drops: it runs on its failsafe, and after
        // the reconnection its vehicle is learned from scratch.
        learn_single_phase(&mut state, 100);
        assert_eq!(phases_of(&state, 130)[0], [false, true, false]);
        state.set_offline(&a);
        state.apply_event(&a, at(131), &status(ConnectorStatus::Charging));
        assert_eq!(phases_of(&state, 131)[0], EVERY);

        // A boot forgets too.
        learn_single_phase(&mut state, 200);
        assert_eq!(phases_of(&state, 230)[0], [false, true, false]);
        let boot = ChargerEvent::Boot {
            vendor: "v".into(),
            model: "m".into(),
            serial: None,
            firmware: None,
            reason: None,
        };
        state.apply_event(&a, at(231), &boot);
        assert_eq!(phases_of(&state, 231)[0], EVERY);

        // Another vehicle: what the last one taught does not count for it.
        learn_single_phase(&mut state, 300);
        state.apply_event(&a, at(331), &status(ConnectorStatus::Available));
        state.apply_event(&a, at(332), &status(ConnectorStatus::Charging));
        assert_eq!(phases_of(&state, 332)[0], EVERY);
    }

    #[test]
    fn a_rise_on_a_phase_a_narrowed_charger_is_not_counted_on_asks_it_for_a_sample() {
        let config = config::parse(&site("grid")).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = metered(&config);
        learn_single_phase(&mut state, 0);
        // At the connection: A counted on site L2 only, B and C on L1 only.
        let read = |state: &mut SiteState, circuit: Option<&str>, load: [f64; 3], s: u32| {
            let load = load.map(Amps);
            assert!(state.apply_reading_at(circuit, Some(load), ReadingDetail::default(), at(s)));
            state.samples_wanted(at(s)).into_iter().collect::<Vec<_>>()
        };
        assert!(read(&mut state, None, [20.0; 3], 30).is_empty());
        // A rise on L2 at the connection: A is counted there, B and C are not.
        assert_eq!(
            read(&mut state, None, [20.0, 27.0, 20.0], 31),
            [(id("B"), at(31)), (id("C"), at(31))]
        );
        // A rise put down to a ramp after chargegate's own increase asks nobody, even
        // once B may be asked again.
        read(&mut state, Some("board"), [0.0; 3], 32);
        let ramp = [Amps(0.0), Amps(6.0), Amps(6.0)];
        assert!(state.apply_reading_at(
            Some("board"),
            Some([Amps(0.0); 3]),
            ReadingDetail {
                unconfirmed: ramp,
                ..ReadingDetail::default()
            },
            at(42)
        ));
        assert_eq!(
            state.samples_wanted(at(42)).into_iter().collect::<Vec<_>>(),
            [(id("B"), at(31)), (id("C"), at(31))]
        );
        // On L3 at the connection, 12 s later: every narrowed charger.
        read(&mut state, None, [20.0, 20.0, 20.0], 40);
        assert_eq!(
            read(&mut state, None, [20.0, 20.0, 26.0], 43),
            [(id("A"), at(43)), (id("B"), at(43)), (id("C"), at(43))]
        );
        // The wishes lapse.
        assert!(state.samples_wanted(at(80)).is_empty());
    }
}
