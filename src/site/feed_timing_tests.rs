//! When the feed makes its readings (on tokio's paused clock): at once after a meter
//! answer, `FALLBACK` after the last one without news, and at the instant the meter's last
//! answer turns stale.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::{FALLBACK, FeedInputs, LimitAccount, LoadReading, run};
use crate::clock::Clock;
use crate::config::{Live, MeterRole};
use crate::meter::{MeterReading, MeterStatus};
use crate::units::{Amps, ChargerId};

const SITE: &str = r#"
[site]
id = "depot"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 40

[csms]
listen = "127.0.0.1:0"

[[meter]]
id = "building"
profile = "eastron-sdm630"
role = "building"
modbus-tcp = "127.0.0.1:1502"
poll-interval-ms = 250
stale-after-ms = 3000

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
max-current-a = 16
failsafe-current-a = 6
"#;

const STALE_AFTER: Duration = Duration::from_secs(3);

/// No limits are ever sent in these tests; the type only has to exist.
#[derive(Debug)]
struct NoLimit;

impl LimitAccount for NoLimit {
    fn may_draw(&self, _now: DateTime<Utc>) -> Amps {
        Amps(0.0)
    }
    fn ordered(&self) -> Option<Amps> {
        None
    }
}

/// The feed running on one building meter; what the test drives it with.
struct Running {
    status: watch::Sender<MeterStatus>,
    readings: mpsc::Receiver<LoadReading>,
    _shutdown: watch::Sender<bool>,
    _events: broadcast::Sender<crate::csms::SiteEvent>,
    _connections: broadcast::Sender<crate::csms::ConnectionEvent>,
    _limits: watch::Sender<BTreeMap<ChargerId, NoLimit>>,
}

fn start() -> Running {
    let config = crate::config::parse(SITE).unwrap_or_else(|p| panic!("{p:#?}"));
    let status = MeterStatus::new("building".into(), MeterRole::Building, None, STALE_AFTER);
    let (status_tx, status_rx) = watch::channel(status);
    let (events, events_rx) = broadcast::channel(16);
    let (connections, connections_rx) = broadcast::channel(16);
    let (limits, limits_rx) = watch::channel(BTreeMap::new());
    let (readings_tx, readings) = mpsc::channel(16);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let inputs = FeedInputs {
        meters: BTreeMap::from([("building".to_string(), status_rx)]),
        events: events_rx,
        connections: connections_rx,
        limits: limits_rx,
        reload: Live::fixed(&config),
    };
    let clock = Clock::virtual_from(Utc::now());
    tokio::spawn(run(config, inputs, readings_tx, clock, shutdown_rx));
    Running {
        status: status_tx,
        readings,
        _shutdown: shutdown,
        _events: events,
        _connections: connections,
        _limits: limits,
    }
}

/// A good answer of the building meter carrying `amps` on every phase, taken now.
fn answer(status: &watch::Sender<MeterStatus>, amps: f64) {
    status.send_modify(|s| {
        s.stale = false;
        s.reading = Some(MeterReading {
            at: Instant::now(),
            current: [Some(Amps(amps)); 3],
            voltage: [None; 3],
            power: [None; 3],
            power_total: None,
            energy_import: None,
            energy_export: None,
            frequency: None,
        });
    });
}

/// The next reading and how long (virtual time) it took to come.
async fn next(running: &mut Running) -> (LoadReading, Duration) {
    let asked = Instant::now();
    let reading = tokio::time::timeout(Duration::from_secs(10), running.readings.recv())
        .await
        .expect("a reading within 10 s")
        .expect("the feed runs");
    (reading, asked.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_meter_answer_is_passed_on_at_once_not_on_the_next_period() {
    let mut running = start();
    // The first reading comes at start: no answer yet, so the worst case (S5).
    let (first, _) = next(&mut running).await;
    assert_eq!(first.per_phase, None);
    // Some time into the period, the meter answers with a step of the load.
    tokio::time::advance(Duration::from_millis(300)).await;
    answer(&running.status, 80.0);
    let (reading, waited) = next(&mut running).await;
    assert_eq!(reading.per_phase, Some([Amps(80.0); 3]));
    assert!(
        waited < Duration::from_millis(1),
        "the reading waited {waited:?} after the answer"
    );
}

#[tokio::test(start_paused = true)]
async fn without_news_a_reading_comes_a_fallback_after_the_last_one() {
    let mut running = start();
    let _ = next(&mut running).await;
    answer(&running.status, 30.0);
    let (_, _) = next(&mut running).await;
    // Nothing new from the meter: the next reading is due `FALLBACK` later, with the
    // same load (the chargers' samples may have changed in between).
    let (reading, waited) = next(&mut running).await;
    assert_eq!(reading.per_phase, Some([Amps(30.0); 3]));
    assert!(
        waited >= FALLBACK && waited < FALLBACK + Duration::from_millis(5),
        "waited {waited:?}, expected {FALLBACK:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_meter_is_read_as_stale_at_the_instant_its_answer_turns_stale() {
    let mut running = start();
    let _ = next(&mut running).await;
    answer(&running.status, 30.0);
    let answered = Instant::now();
    let (_, _) = next(&mut running).await;
    // The meter says no more: fallback readings with its answer, then the worst case at
    // exactly `stale-after-ms` after the answer (S5), not up to a period later.
    loop {
        let (reading, _) = next(&mut running).await;
        let age = answered.elapsed();
        if reading.per_phase.is_none() {
            assert_eq!(age, STALE_AFTER, "stale noticed {age:?} after the answer");
            break;
        }
        assert!(
            age < STALE_AFTER,
            "still read as good {age:?} after the answer"
        );
    }
}
