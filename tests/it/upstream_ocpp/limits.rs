//! A cloud limit becomes the site's limit (issue 13 test c): the cloud's
//! ChargingStationMaxProfile of 50 A on chargegate's own identity is the temporary grid
//! limit, as `PUT /api/v1/site/limit` would set it. On the metered site of
//! `site_liveness` (margin 4 A, building load 0 A here, four 32 A vehicles on chargers of
//! both versions) on tokio's paused clock: from the reaction time on, at every tick, the
//! chargers together apply at most 50 - 4 A per phase, and after settling at least 95 %
//! of it (the limit is used, not only kept).

use std::time::Duration;

use chargegate::clock::Clock;
use chargegate::daemon::{self, Limits};
use chargegate::sim::SimMeterServer;
use chargegate::store::Store;
use serde_json::{Value, json};

use super::ocpp_section;
use crate::common::cloud::{Answer, Cloud};
use crate::site_liveness::{MARGIN_A, REPORT_EVERY, TICK, bay_names, connect_bays, drive, report};

/// chargegate's identity at the cloud: the liveness site's id.
const IDENTITY: &str = "liveness";
const CLOUD_LIMIT_A: f64 = 50.0;
/// From the cloud's call until the chargers apply the lower limit: answer, replan, the
/// reductions sent first (S2), applied on receipt.
const REACTION: Duration = Duration::from_secs(10);
/// From the call until the chargers use the room again (`min-interval-s` = 5, a meter
/// reading, a ramp confirmation and the replan's gap).
const SETTLE: Duration = Duration::from_secs(60);
const STRETCH: Duration = Duration::from_secs(180);

/// ChargingStationMaxProfile (2.0.1 K01) on the whole station, in A.
fn max_profile(start: &str, limit_a: f64) -> Value {
    json!({
        "evseId": 0,
        "chargingProfile": {
            "id": 501,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{
                "id": 1,
                "startSchedule": start,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]
            }]
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_cloud_station_max_profile_of_50_a_caps_the_chargers_and_is_used() {
    let clock = Clock::virtual_from(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T10:07:00Z")
            .expect("start")
            .to_utc(),
    );
    let cloud = Cloud::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = SimMeterServer::start("127.0.0.1:0".parse().expect("addr"), 1)
        .await
        .expect("meter");
    server.meter.set_building([0.0; 3]);
    let names = bay_names(&[32.0; 4]);
    let text = crate::site_liveness::config(dir.path(), server.meter.addr(), &names)
        + &ocpp_section(&cloud, chargegate::ocpp::model::OcppVersion::V201);
    let config = chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    let store = Store::open(&config.store.path).expect("store");
    let daemon = daemon::start_with_clock(&config, store, Limits::Planned, clock)
        .await
        .expect("daemon starts");
    let mut bays = connect_bays(&daemon, clock, &names).await;
    cloud
        .wait_connected(IDENTITY, Duration::from_secs(30))
        .await;

    let start = clock.now() - chrono::Duration::minutes(1);
    let payload = max_profile(
        &start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        CLOUD_LIMIT_A,
    );
    crate::common::schema_check::assert_valid("v201", "SetChargingProfile", false, &payload);
    let called = clock.instant();
    let call = cloud.call(
        IDENTITY,
        "SetChargingProfile",
        payload,
        Duration::from_secs(30),
    );
    let drive_site = async {
        let mut totals = Vec::new();
        let mut last_report = clock.instant();
        while clock.instant() - called < STRETCH {
            let total: f64 = drive(&mut bays, &server.meter, clock).iter().sum();
            totals.push((clock.instant() - called, total));
            if clock.instant() - last_report >= REPORT_EVERY {
                last_report = clock.instant();
                report(&mut bays, clock).await;
            }
            tokio::time::sleep(TICK).await;
        }
        totals
    };
    let (answer, totals) = tokio::join!(call, drive_site);
    assert_eq!(
        answer.expect("the cloud's SetChargingProfile is answered"),
        Answer::Result(json!({"status": "Accepted"}))
    );
    let cap = CLOUD_LIMIT_A - MARGIN_A;
    for (since, total) in totals.iter().filter(|(since, _)| *since >= REACTION) {
        assert!(
            *total <= cap + 1e-6,
            "{since:?} after the cloud's limit: {total:.1} A applied of {cap} A\naudit:\n{}",
            crate::common::audit_tail(&daemon, 12).await
        );
    }
    let least = totals
        .iter()
        .filter(|(since, _)| *since >= SETTLE)
        .map(|(_, total)| *total)
        .fold(f64::INFINITY, f64::min);
    assert!(
        least >= 0.95 * cap,
        "after settling the chargers applied as little as {least:.1} A of {cap} A"
    );
    for bay in bays {
        bay.sim.close().await;
    }
    daemon.stop().await;
    server.stop();
}
