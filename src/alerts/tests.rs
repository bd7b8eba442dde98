//! The book and the rules, pure: conditions in, transitions out.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::csms::{Admission, ConnectionEvent, SiteEvent};
use crate::meter::MeterStatus;
use crate::ocpp::model::{ChargerEvent, ConnectorStatus, EvseRef, NotifiedEvent, OcppVersion};

fn t(s: &str) -> DateTime<Utc> {
    crate::ocpp::time::parse(s).unwrap()
}

fn cp() -> ChargerId {
    ChargerId::new("CP-1").unwrap()
}

fn status(status: ConnectorStatus, code: Option<&str>) -> SiteEvent {
    SiteEvent {
        charger: cp(),
        at: t("2026-01-01T00:00:00Z"),
        event: ChargerEvent::Status {
            evse: EvseRef {
                evse_id: 1,
                connector_id: None,
            },
            status,
            error_code: code.map(Into::into),
            info: Some("RCD".into()),
            vendor_error_code: Some("E17".into()),
            timestamp: None,
        },
    }
}

fn run(book: &mut Book, steps: Vec<Step>, now: &str) -> Vec<AlertRecord> {
    steps
        .into_iter()
        .filter_map(|s| book.apply(s, t(now)).map(|(_, r)| r))
        .collect()
}

#[test]
fn a_fault_that_persists_raises_once_and_available_clears_it() {
    let mut book = Book::default();
    let faulted = status(ConnectorStatus::Faulted, Some("GroundFailure"));
    let raised = run(
        &mut book,
        rules::site_event(&faulted),
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(raised.len(), 1);
    let r = &raised[0];
    assert_eq!(
        (r.kind.as_str(), r.severity.as_str(), r.part.as_deref()),
        ("connector-faulted", "critical", Some("connector 1"))
    );
    for needed in ["GroundFailure", "RCD", "E17", "earth leakage"] {
        assert!(r.message.contains(needed), "{needed}: {}", r.message);
    }
    assert!(
        run(
            &mut book,
            rules::site_event(&faulted),
            "2026-01-01T00:01:00Z"
        )
        .is_empty()
    );
    let available = status(ConnectorStatus::Available, Some("NoError"));
    let cleared = run(
        &mut book,
        rules::site_event(&available),
        "2026-01-01T00:02:00Z",
    );
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].raised, t("2026-01-01T00:00:00Z"));
    assert_eq!(cleared[0].cleared, Some(t("2026-01-01T00:02:00Z")));
    assert!(
        run(
            &mut book,
            rules::site_event(&available),
            "2026-01-01T00:03:00Z"
        )
        .is_empty()
    );
}

#[test]
fn a_2_0_1_problem_raises_per_component_and_false_clears_it() {
    let notify = |value: &str| SiteEvent {
        charger: cp(),
        at: t("2026-01-01T00:00:00Z"),
        event: ChargerEvent::Notify {
            events: vec![
                NotifiedEvent {
                    component: "PowerContactor".into(),
                    variable: "Problem".into(),
                    trigger: "Alerting".into(),
                    actual_value: value.into(),
                    tech_info: Some("welded".into()),
                },
                // Not a problem report: ignored.
                NotifiedEvent {
                    component: "EVSE".into(),
                    variable: "Power".into(),
                    trigger: "Delta".into(),
                    actual_value: "7000".into(),
                    tech_info: None,
                },
            ],
        },
    };
    let mut book = Book::default();
    let raised = run(
        &mut book,
        rules::site_event(&notify("true")),
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].part.as_deref(), Some("PowerContactor"));
    assert!(
        raised[0].message.contains("welded"),
        "{}",
        raised[0].message
    );
    let cleared = run(
        &mut book,
        rules::site_event(&notify("false")),
        "2026-01-01T00:01:00Z",
    );
    assert_eq!(cleared.len(), 1);
    assert!(cleared[0].cleared.is_some());
}

#[test]
fn a_lost_connection_raises_offline_and_a_new_one_clears_it_for_configured_chargers_only() {
    let conn = |connected: bool, admission: Admission| ConnectionEvent {
        charger: cp(),
        version: OcppVersion::V16,
        admission,
        connected,
        at: t("2026-01-01T00:00:00Z"),
    };
    let mut book = Book::default();
    assert!(rules::connection(&conn(false, Admission::Pending)).is_empty());
    let raised = run(
        &mut book,
        rules::connection(&conn(false, Admission::Known)),
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(raised[0].kind, "charger-offline");
    assert!(book.is_open(&Key::charger(Kind::ChargerOffline, &cp(), None)));
    let cleared = run(
        &mut book,
        rules::connection(&conn(true, Admission::Known)),
        "2026-01-01T00:05:00Z",
    );
    assert_eq!(cleared.len(), 1);
    assert_eq!(book.open().count(), 0);
}

#[test]
fn a_meter_is_stale_only_after_its_chance_to_answer_and_clears_with_a_reading() {
    let start = tokio::time::Instant::now();
    let mut m = MeterStatus::new(
        "grid".into(),
        crate::config::MeterRole::Grid,
        None,
        Duration::from_secs(3),
    );
    assert_eq!(
        rules::meter(&m, start + Duration::from_secs(1), start),
        None
    );
    let Some(Step::Raise(c)) = rules::meter(&m, start + Duration::from_secs(4), start) else {
        panic!("a meter that never answered is stale after stale-after-ms");
    };
    assert_eq!(c.key, Key::meter(Kind::MeterStale, "grid"));
    assert!(c.message.contains("3000 ms"), "{}", c.message);
    m.stale = false;
    m.reading = Some(crate::meter::MeterReading {
        at: start + Duration::from_secs(5),
        current: [None; 3],
        voltage: [None; 3],
        power: [None; 3],
        power_total: None,
        energy_import: None,
        energy_export: None,
        frequency: None,
    });
    assert_eq!(
        rules::meter(&m, start + Duration::from_secs(6), start),
        Some(Step::Clear(Key::meter(Kind::MeterStale, "grid")))
    );
    // Its reading ages past stale-after-ms: stale again.
    assert!(matches!(
        rules::meter(&m, start + Duration::from_secs(9), start),
        Some(Step::Raise(_))
    ));
}

#[test]
fn the_open_alerts_read_back_are_not_raised_again() {
    let mut book = Book::default();
    let faulted = status(ConnectorStatus::Faulted, Some("GroundFailure"));
    let mut raised = run(
        &mut book,
        rules::site_event(&faulted),
        "2026-01-01T00:00:00Z",
    );
    raised[0].id = 7;
    // A restart: the store's open alerts, and one of a kind a newer version wrote.
    let mut unknown = raised[0].clone();
    unknown.kind = "from-the-future".into();
    let mut again = Book::from_open(vec![raised[0].clone(), unknown]);
    assert_eq!(again.open().count(), 1);
    assert!(
        run(
            &mut again,
            rules::site_event(&faulted),
            "2026-01-01T01:00:00Z"
        )
        .is_empty()
    );
    let available = status(ConnectorStatus::Available, Some("NoError"));
    let cleared = run(
        &mut again,
        rules::site_event(&available),
        "2026-01-01T02:00:00Z",
    );
    assert_eq!(cleared[0].id, 7);
}

#[test]
fn a_charger_is_silent_past_twice_its_heartbeat_interval_and_clears_when_heard() {
    let last = tokio::time::Instant::now();
    let beat = Duration::from_secs(120);
    assert_eq!(rules::silent(&cp(), last, last + beat * 2, beat), None);
    let Some(Step::Raise(c)) =
        rules::silent(&cp(), last, last + beat * 2 + Duration::from_secs(1), beat)
    else {
        panic!("silent past 2 x 120 s");
    };
    assert_eq!(c.key, Key::charger(Kind::ChargerSilent, &cp(), None));
    assert!(c.message.contains("241 s"), "{}", c.message);
    let mut book = Book::default();
    assert!(
        book.apply(Step::Raise(c), t("2026-01-01T00:04:01Z"))
            .is_some()
    );
    let cleared = book.apply(rules::heard(&cp()), t("2026-01-01T00:05:00Z"));
    assert!(cleared.is_some_and(|(_, r)| r.cleared.is_some()));
}
