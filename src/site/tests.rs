use chrono::TimeZone;

use super::*;
use crate::ocpp::model::{EvChargingNeeds, EvseRef, IdToken, TransactionEvent, TxKey};

const TEXT: &str = r#"
[site]
id = "depot"
grid-limit-a = 400
worst-case-load-a = 50
margin-a = 5

[[circuit]]
id = "inner"
limit-a = 63
parent = "board"

[[circuit]]
id = "board"
limit-a = 125

[[charger]]
id = "CP-01"
password = "pw-long-enough"
max-current-a = 32
circuit = "inner"
phases = 1
phase-rotation = "TRS"

[[charger]]
id = "CP-02"
password = "pw-long-enough"
max-current-a = 32

[[departure]]
charger = "CP-01"
at = "05:00"
energy-kwh = 120

[[departure]]
id-token = "BUS-17"
at = "06:30"
energy-kwh = 200
"#;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap()
}

pub(super) fn status(s: ConnectorStatus) -> ChargerEvent {
    ChargerEvent::Status {
        evse: EvseRef {
            evse_id: 1,
            connector_id: Some(1),
        },
        status: s,
        error_code: None,
        vendor_error_code: None,
        info: None,
        timestamp: None,
    }
}

fn started(token: &str) -> ChargerEvent {
    ChargerEvent::Transaction(TransactionEvent {
        id_token: Some(IdToken {
            id: token.into(),
            kind: None,
        }),
        ..TransactionEvent::bare(TxPhase::Started, None, at(20, 0))
    })
}

#[test]
fn topology_from_config_puts_parents_first() {
    let config = config::parse(TEXT).unwrap_or_else(|p| panic!("{p:#?}"));
    let snap = SiteState::from_config(&config).snapshot(at(20, 0));
    let ids: Vec<&str> = snap.circuits.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["site", "board", "inner"]);
    assert_eq!(snap.chain(2), vec![2, 1, 0]);
    assert_eq!(snap.chargers[0].circuit, 2);
    assert_eq!(
        snap.chargers[0].site_phases,
        [false, false, true],
        "TRS: its L1 on site L3"
    );
    assert_eq!(snap.chargers[1].site_phases, [true; 3]);
    assert!(snap.any_stale(), "no reading yet");
    assert_eq!(snap.assumed_load(0, 0), 50.0, "stale: worst case (S5)");
}

#[test]
fn events_plug_vehicles_with_scheduled_needs() {
    let config = config::parse(TEXT).unwrap_or_else(|p| panic!("{p:#?}"));
    let mut state = SiteState::from_config(&config);
    let cp1 = ChargerId::new("CP-01").unwrap();
    let cp2 = ChargerId::new("CP-02").unwrap();
    // (charger, event, replan?, need kWh and departure afterwards)
    type Step<'a> = (
        &'a ChargerId,
        ChargerEvent,
        bool,
        Option<(f64, DateTime<Utc>)>,
    );
    let steps: Vec<Step<'_>> = vec![
        (
            &cp1,
            status(ConnectorStatus::Occupied),
            true,
            Some((120.0, at(5, 0) + Duration::days(1))),
        ),
        (
            &cp1,
            status(ConnectorStatus::Charging),
            false,
            Some((120.0, at(5, 0) + Duration::days(1))),
        ),
        (
            &cp2,
            started("BUS-17"),
            true,
            Some((200.0, at(6, 30) + Duration::days(1))),
        ),
        (
            &cp2,
            started("UNKNOWN"),
            true,
            Some((200.0, at(6, 30) + Duration::days(1))),
        ),
        (
            &cp2,
            ChargerEvent::EvChargingNeeds(EvChargingNeeds {
                evse_id: 1,
                departure_time: Some(at(23, 0)),
                energy_wh: Some(30_000.0),
                max_current_a: Some(16.0),
                min_current_a: None,
                energy_transfer: "AC_three_phase".into(),
            }),
            true,
            Some((30.0, at(23, 0))),
        ),
        (&cp2, status(ConnectorStatus::Available), true, None),
    ];
    for (i, (id, event, replan, want)) in steps.into_iter().enumerate() {
        assert_eq!(state.apply_event(id, at(20, 0), &event), replan, "step {i}");
        let snap = state.snapshot(at(20, 0));
        let c = snap.chargers.iter().find(|c| &c.id == id).unwrap();
        assert!(c.online);
        let need = c
            .vehicle
            .as_ref()
            .and_then(|v| v.need.as_ref())
            .map(|n| (n.energy.0 / 1000.0, n.departure));
        assert_eq!(need, want, "step {i}");
    }
}

#[test]
fn loads_and_times_of_day() {
    let config = config::parse(TEXT).unwrap_or_else(|p| panic!("{p:#?}"));
    let mut state = SiteState::from_config(&config);
    assert!(state.apply_load(None, Some([Amps(10.0), Amps(20.0), Amps(30.0)])));
    assert!(state.apply_load(Some("board"), Some([Amps(1.0); 3])));
    assert!(state.apply_load(Some("inner"), Some([Amps(1.0); 3])));
    assert!(!state.apply_load(Some("nope"), None));
    let snap = state.snapshot(at(20, 0));
    assert!(!snap.any_stale());
    assert_eq!(snap.assumed_load(0, 2), 30.0);
    state.apply_load(Some("board"), None);
    assert!(state.snapshot(at(20, 0)).any_stale());
    assert_eq!(next_time_of_day(at(4, 0), 300), at(5, 0));
    assert_eq!(
        next_time_of_day(at(5, 0), 300),
        at(5, 0) + Duration::days(1)
    );
}

fn meter_values(import: f64, offered: f64) -> ChargerEvent {
    let sample =
        |measurand: &str, phase: Option<&str>, value: f64| crate::ocpp::model::MeterSample {
            timestamp: at(22, 0),
            measurand: measurand.into(),
            phase: phase.map(Into::into),
            value,
            unit: Some("A".into()),
            context: None,
            location: None,
        };
    ChargerEvent::MeterValues {
        evse_id: 1,
        tx: None,
        signed: Vec::new(),
        samples: vec![
            sample("Current.Import", Some("L1"), import),
            sample("Current.Import", Some("L2"), import - 0.5),
            sample("Current.Offered", None, offered),
        ],
    }
}

#[test]
fn a_vehicle_that_draws_less_than_offered_is_planned_at_what_it_draws() {
    let config = config::parse(TEXT).unwrap();
    let mut state = SiteState::from_config(&config);
    let cp = ChargerId::new("CP-01").unwrap();
    assert!(state.apply_event(&cp, at(22, 0), &status(ConnectorStatus::Preparing)));
    let range = |state: &SiteState| {
        state
            .snapshot(at(22, 0))
            .chargers
            .iter()
            .find(|c| c.id == cp)
            .unwrap()
            .range()
    };
    assert_eq!(range(&state), Some((Amps(6.0), Amps(32.0))));
    // Offered 32 A, draws 10 A: its on-board charger limits it to about 11 A — once a
    // second sample agrees (one may be taken while the vehicle still ramps up).
    assert!(!state.apply_event(&cp, at(22, 1), &meter_values(10.0, 32.0)));
    assert_eq!(range(&state), Some((Amps(6.0), Amps(32.0))));
    assert!(state.apply_event(&cp, at(22, 1), &meter_values(10.0, 32.0)));
    assert_eq!(range(&state), Some((Amps(6.0), Amps(11.0))));
    // A wobble of under 2 A is no reason to replan.
    assert!(!state.apply_event(&cp, at(22, 2), &meter_values(10.6, 32.0)));
    // Drawing what it is offered clears the learned limit.
    assert!(!state.apply_event(&cp, at(22, 3), &meter_values(11.0, 11.0)));
    assert!(state.apply_event(&cp, at(22, 3), &meter_values(11.0, 11.0)));
    assert_eq!(range(&state), Some((Amps(6.0), Amps(32.0))));
    // Offered enough to charge but drawing nothing for a minute (full, or paused by the
    // vehicle): idle, its share goes elsewhere until a probe (`site::vehicle`).
    assert!(!state.apply_event(&cp, at(22, 4), &meter_values(0.5, 16.0)));
    assert!(state.apply_event(&cp, at(22, 5), &meter_values(0.5, 16.0)));
    assert_eq!(range(&state), None);
    // Without an offer nothing is learned.
    let no_offer = ChargerEvent::MeterValues {
        evse_id: 1,
        tx: None,
        signed: Vec::new(),
        samples: Vec::new(),
    };
    assert!(!state.apply_event(&cp, at(22, 4), &no_offer));
}

#[test]
fn an_unmetered_board_is_at_its_worst_case_and_never_stale() {
    // TEXT has no meter: only the grid connection waits for a reading.
    let mut text = TEXT.replace(
        "[[circuit]]\nid = \"board\"\nlimit-a = 125\n",
        "[[circuit]]\nid = \"board\"\nlimit-a = 125\nworst-case-load-a = 7\n",
    );
    text.push_str(
        "\n[[meter]]\nid = \"inner-meter\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\nmodbus-tcp = \"127.0.0.1:502\"\ncircuit = \"inner\"\n",
    );
    let config = config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    let mut state = SiteState::from_config(&config);
    let snap = state.snapshot(at(20, 0));
    let stale: Vec<(&str, bool)> = snap
        .circuits
        .iter()
        .map(|c| (c.id.as_str(), c.stale))
        .collect();
    assert_eq!(stale, [("site", true), ("board", false), ("inner", true)]);
    assert_eq!(snap.assumed_load(1, 0), 7.0, "the board's configured load");
    // Once the metered circuits read, nothing is stale: the plan is not the failsafe.
    state.apply_load(None, Some([Amps(10.0); 3]));
    state.apply_load(Some("inner"), Some([Amps(1.0); 3]));
    assert!(!state.snapshot(at(20, 0)).any_stale());
}

#[test]
fn a_running_transaction_brings_back_its_vehicle() {
    // After a restart of chargegate the site knows no vehicle; the charger goes on
    // reporting its transaction without a new StatusNotification.
    let config = config::parse(TEXT).unwrap();
    let mut state = SiteState::from_config(&config);
    let cp1 = ChargerId::new("CP-01").unwrap();
    let cp2 = ChargerId::new("CP-02").unwrap();
    let mut v16 = meter_values(16.0, 16.0);
    if let ChargerEvent::MeterValues { tx, .. } = &mut v16 {
        *tx = Some(TxKey::Csms(7));
    }
    assert!(state.apply_event(&cp1, at(22, 0), &v16));
    let ChargerEvent::Transaction(mut updated) = started("BUS-17") else {
        unreachable!()
    };
    updated.phase = TxPhase::Updated;
    updated.id_token = None;
    updated.tx = Some(TxKey::Charger("tx-1".into()));
    assert!(state.apply_event(&cp2, at(22, 0), &ChargerEvent::Transaction(updated.clone())));
    assert!(
        !state.apply_event(&cp2, at(22, 0), &ChargerEvent::Transaction(updated)),
        "known by now: no new plan"
    );
    let snap = state.snapshot(at(22, 0));
    assert!(snap.chargers.iter().all(|c| c.vehicle.is_some()));
    // Meter values outside a transaction prove nothing.
    let mut state = SiteState::from_config(&config);
    assert!(!state.apply_event(&cp1, at(22, 0), &meter_values(16.0, 16.0)));
    assert!(state.snapshot(at(22, 0)).chargers[0].vehicle.is_none());
}

#[test]
fn no_phantom_vehicle_from_late_replayed_or_statused_meter_values() {
    let config = config::parse(TEXT).unwrap();
    let cp = ChargerId::new("CP-02").unwrap();
    let has_vehicle = |state: &SiteState| state.snapshot(at(22, 0)).chargers[1].vehicle.is_some();
    let tx_event = |phase: TxPhase, key: &str, offline: bool| {
        let ChargerEvent::Transaction(mut e) = started("BUS-17") else {
            unreachable!()
        };
        e.phase = phase;
        e.id_token = None;
        e.tx = Some(TxKey::Charger(key.into()));
        e.offline = offline;
        ChargerEvent::Transaction(e)
    };
    // Ended, then a late update of the same transaction: no vehicle.
    let mut state = SiteState::from_config(&config);
    assert!(state.apply_event(&cp, at(22, 0), &tx_event(TxPhase::Updated, "tx-1", false)));
    assert!(state.apply_event(&cp, at(22, 0), &tx_event(TxPhase::Ended, "tx-1", false)));
    assert!(!state.apply_event(&cp, at(22, 0), &tx_event(TxPhase::Updated, "tx-1", false)));
    assert!(!has_vehicle(&state));
    // A replayed offline message brings none back either.
    assert!(!state.apply_event(&cp, at(22, 0), &tx_event(TxPhase::Updated, "tx-2", true)));
    assert!(!has_vehicle(&state));
    // Unplugged with the transaction still running: the status rules until a reconnect.
    let mut state = SiteState::from_config(&config);
    state.apply_event(&cp, at(22, 0), &status(ConnectorStatus::Available));
    assert!(!state.apply_event(&cp, at(22, 0), &tx_event(TxPhase::Updated, "tx-3", false)));
    assert!(!has_vehicle(&state));
    state.set_offline(&cp);
    assert!(state.apply_event(&cp, at(22, 0), &tx_event(TxPhase::Updated, "tx-3", false)));
    assert!(
        has_vehicle(&state),
        "after a reconnect the transaction is the news"
    );
}

#[test]
fn a_reserved_charger_is_out_of_the_plan_until_a_transaction_starts_on_it() {
    let config = config::parse(TEXT).unwrap();
    let mut state = SiteState::from_config(&config);
    let cp = ChargerId::new("CP-01").unwrap();
    let planned = |state: &SiteState| {
        state
            .snapshot(at(20, 0))
            .chargers
            .iter()
            .find(|c| c.id == cp)
            .unwrap()
            .vehicle
            .is_some()
    };
    state.apply_event(&cp, at(20, 0), &status(ConnectorStatus::Reserved));
    state.apply_event(&cp, at(20, 1), &status(ConnectorStatus::Preparing));
    assert!(
        !planned(&state),
        "plugged in, but the reservation is not used yet"
    );
    // The holder's card starts. A charger that leaves out the reservationId (it SHALL
    // send it, 1.6 §5.13, 2.0.1 H03.FR.*) must not leave its driver at 0 A: the CSMS has
    // already refused every other card on this EVSE, so any start uses the reservation.
    state.apply_event(&cp, at(20, 2), &started("HOLDER"));
    assert!(planned(&state), "the started session is planned");
}
