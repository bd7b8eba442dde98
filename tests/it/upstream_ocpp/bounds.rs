//! The cloud's profiles as bounds of their own (issue 13: smart charging authority stays
//! local). On the metered site of `site_liveness` (grid 100 A, margin 4 A, no building
//! load, four 32 A vehicles on chargers of both versions, on tokio's paused clock):
//! - the cloud's ChargingStationMaxProfile of 50 A on chargegate's own identity (issue 13
//!   test c): from the reaction time on, at every tick, the chargers together apply at
//!   most 50 - 4 A per phase, and after settling at least 95 % of it (used, not only kept);
//! - the cloud's station maximum and the operator's temporary limit are kept apart: the
//!   lower applies, and neither raises nor lifts the other's, checked at every tick;
//! - a TxDefaultProfile or a TxProfile from the cloud on a charger's identity caps that
//!   charger at every tick, the room it leaves goes to the others, and its clearing frees
//!   the charger again.

use std::cell::Cell;
use std::time::Duration;

use chargegate::clock::Clock;
use chargegate::daemon::{self, Daemon, Limits};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimMeterServer;
use chargegate::store::Store;

use serde_json::{Value, json};

use super::ocpp_section;
use crate::common::cloud::{Answer, Cloud};
use crate::common::http;
use crate::operator_commands::OPERATOR;
use crate::site_liveness::{
    Bay, GRID_A, MARGIN_A, REPORT_EVERY, TICK, bay_names, connect_bays, drive, report,
};

/// chargegate's identity at the cloud: the liveness site's id.
const IDENTITY: &str = "liveness";
/// From chargegate's answer to a cloud call, or to an operator's order, until the chargers
/// apply the lower bound: replan, the reductions sent first (S2), applied on receipt. Counted
/// from the answer (chargegate holds the bound by then), as an operator's order is counted
/// from its HTTP answer: before it, on a loaded machine the paused clock runs ahead while
/// the daemon's store thread writes the call in real time.
const REACTION: Duration = Duration::from_secs(10);
/// From a change of room until the chargers use it again.
const SETTLE: Duration = Duration::from_secs(60);
const STRETCH: Duration = Duration::from_secs(120);

/// The liveness site with the Local Controller toward `cloud` and the operator's token.
struct CloudSite {
    clock: Clock,
    _dir: tempfile::TempDir,
    server: SimMeterServer,
    daemon: Daemon,
    bays: Vec<Bay>,
    last_report: tokio::time::Instant,
}

impl CloudSite {
    async fn start(cloud: &Cloud) -> Self {
        Self::start_with(cloud, |_| Ok(())).await
    }

    /// As `start`, with `kept` written to the store before the daemon opens it (what an
    /// earlier run of chargegate left there).
    async fn start_with(
        cloud: &Cloud,
        kept: impl FnOnce(&mut rusqlite::Connection) -> Result<(), chargegate::store::StoreError>
        + Send
        + 'static,
    ) -> Self {
        let clock = Clock::virtual_from(
            chrono::DateTime::parse_from_rfc3339("2026-12-01T10:07:00Z")
                .expect("start")
                .to_utc(),
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let server = SimMeterServer::start("127.0.0.1:0".parse().expect("addr"), 1)
            .await
            .expect("meter");
        server.meter.set_building([0.0; 3]);
        let names = bay_names(&[32.0; 4]);
        let mut text = crate::site_liveness::config(dir.path(), server.meter.addr(), &names)
            + &ocpp_section(cloud, OcppVersion::V201);
        text.push_str(&format!(
            "\n[[http.token]]\nname = \"control-room\"\ntoken-hash = \"{}\"\nrole = \"operator\"\n",
            chargegate::charger::handshake::hash_password(OPERATOR).expect("hash")
        ));
        let config = chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
        let store = Store::open(&config.store.path).expect("store");
        store.call(kept).await.expect("kept in the store");
        let daemon = daemon::start_with_clock(&config, store, Limits::Planned, clock)
            .await
            .expect("daemon starts");
        let bays = connect_bays(&daemon, clock, &names).await;
        cloud
            .wait_connected(IDENTITY, Duration::from_secs(30))
            .await;
        for bay in &bays {
            cloud
                .wait_connected(&bay.name, Duration::from_secs(30))
                .await;
        }
        Self {
            clock,
            _dir: dir,
            server,
            daemon,
            bays,
            last_report: clock.instant(),
        }
    }

    /// Drives the vehicles for `time` (they follow what their chargers apply; the meter
    /// reads them) and hands every tick's applied currents, per bay, to `check` with the
    /// time since the start of the stretch.
    async fn drive(&mut self, time: Duration, check: impl FnMut(Duration, &[f64])) {
        let started = Cell::new(Some(self.clock.instant()));
        self.drive_from(time, &started, check).await;
    }

    /// As `drive`, with the time handed to `check` counted from `origin` once it is set
    /// (zero before).
    async fn drive_from(
        &mut self,
        time: Duration,
        origin: &Cell<Option<tokio::time::Instant>>,
        mut check: impl FnMut(Duration, &[f64]),
    ) {
        let started = self.clock.instant();
        while self.clock.instant() - started < time {
            let applied = drive(&mut self.bays, &self.server.meter, self.clock);
            let since = origin.get().map_or(Duration::ZERO, |at| {
                self.clock.instant().saturating_duration_since(at)
            });
            check(since, &applied);
            if self.clock.instant() - self.last_report >= REPORT_EVERY {
                self.last_report = self.clock.instant();
                report(&mut self.bays, self.clock).await;
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// The cloud's CALL on `identity`, the site driven meanwhile and for `time` in all
    /// (checked by `check` as in `drive`); the cloud's answer.
    async fn cloud_call(
        &mut self,
        cloud: &Cloud,
        (identity, action, payload): (&str, &str, Value),
        time: Duration,
        check: impl FnMut(Duration, &[f64]),
    ) -> Value {
        let clock = self.clock;
        let answered = Cell::new(None);
        let call = async {
            let answer = cloud
                .call(identity, action, payload, Duration::from_secs(30))
                .await;
            answered.set(Some(clock.instant()));
            answer
        };
        let (answer, ()) = tokio::join!(call, self.drive_from(time, &answered, check));
        match answer.expect("the cloud's CALL is answered") {
            Answer::Result(v) => v,
            other => panic!("{action} on {identity}: {other:?}"),
        }
    }

    async fn operator(&self, method: &str, body: Option<&str>) -> Value {
        let (status, answer) = http(
            self.daemon.http_addr,
            method,
            "/api/v1/site/limit",
            Some(OPERATOR),
            body,
        )
        .await;
        assert_eq!(status, 200, "{method} /api/v1/site/limit: {answer}");
        answer
    }

    async fn shown_limit(&self) -> Value {
        let (_, site) = http(self.daemon.http_addr, "GET", "/api/v1/site", None, None).await;
        site["temporary_limit"].clone()
    }

    async fn stop(self) {
        for bay in self.bays {
            bay.sim.close().await;
        }
        self.daemon.stop().await;
        self.server.stop();
    }
}

fn start_of(clock: Clock) -> String {
    (clock.now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A 2.0.1 SetChargingProfile (K01) of `purpose` at `evse_id`, in A, for `identity`.
fn profile_201<'a>(
    identity: &'a str,
    evse_id: u32,
    purpose: &str,
    clock: Clock,
    limit_a: f64,
) -> (&'a str, &'static str, Value) {
    let payload = json!({
        "evseId": evse_id,
        "chargingProfile": {
            "id": 500 + evse_id, "stackLevel": 0,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{
                "id": 1, "startSchedule": start_of(clock), "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]
            }]
        }
    });
    crate::common::schema_check::assert_valid("v201", "SetChargingProfile", false, &payload);
    (identity, "SetChargingProfile", payload)
}

/// ChargingStationMaxProfile on chargegate's own identity.
fn station_max(clock: Clock, limit_a: f64) -> (&'static str, &'static str, Value) {
    profile_201(IDENTITY, 0, "ChargingStationMaxProfile", clock, limit_a)
}

/// Asserts at every tick from `REACTION` on that the chargers together apply at most `cap` A.
fn at_most(cap: f64, what: &'static str) -> impl FnMut(Duration, &[f64]) {
    move |since, applied| {
        let total: f64 = applied.iter().sum();
        assert!(
            since < REACTION || total <= cap + 1e-6,
            "{what}, {since:?} in: {total:.1} A applied of {cap} A ({applied:?})"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_cloud_station_max_profile_of_50_a_caps_the_chargers_and_is_used() {
    let cloud = Cloud::start().await;
    let mut site = CloudSite::start(&cloud).await;
    let cap = 50.0 - MARGIN_A;
    let mut least = f64::INFINITY;
    let call = station_max(site.clock, 50.0);
    let answer = site
        .cloud_call(&cloud, call, STRETCH + SETTLE, |since, applied| {
            at_most(cap, "the cloud's 50 A")(since, applied);
            if since >= SETTLE {
                least = least.min(applied.iter().sum());
            }
        })
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert!(
        least >= 0.95 * cap,
        "after settling the chargers applied as little as {least:.1} A of {cap} A"
    );
    site.stop().await;
}

/// A cloud limit above the fuse is not shown as in force. Operator 60 A, then the cloud
/// 80 A: 60 A holds at every tick. The cloud clears its
/// limit: the operator's stays. The cloud sets 40 A: it holds, also after the operator
/// deletes the 60 A.
#[tokio::test(start_paused = true)]
async fn the_clouds_site_limit_neither_raises_nor_lifts_the_operators() {
    let cloud = Cloud::start().await;
    let mut site = CloudSite::start(&cloud).await;
    let above = station_max(site.clock, GRID_A + 50.0);
    let answer = site
        .cloud_call(
            &cloud,
            above,
            REACTION,
            at_most(GRID_A - MARGIN_A, "cloud above the fuse"),
        )
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert_eq!(
        site.shown_limit().await,
        Value::Null,
        "a cloud limit above grid-limit-a lowers nothing and is not shown as in force"
    );
    site.operator("PUT", Some(r#"{"limit_a": 60}"#)).await;
    let operators = 60.0 - MARGIN_A;
    site.drive(SETTLE, at_most(operators, "operator's 60 A"))
        .await;

    let higher = station_max(site.clock, 80.0);
    let answer = site
        .cloud_call(
            &cloud,
            higher,
            STRETCH,
            at_most(operators, "cloud 80 A over operator 60 A"),
        )
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    let shown = site.shown_limit().await;
    assert_eq!(shown["limit_a"], 60.0, "{shown}");
    assert_eq!(shown["source"], "operator", "{shown}");

    let clear = (IDENTITY, "ClearChargingProfile", json!({}));
    let answer = site
        .cloud_call(
            &cloud,
            clear,
            STRETCH,
            at_most(operators, "after the cloud's clear"),
        )
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert_eq!(site.shown_limit().await["limit_a"], 60.0);

    let lower = station_max(site.clock, 40.0);
    let clouds = 40.0 - MARGIN_A;
    let mut least = f64::INFINITY;
    let answer = site
        .cloud_call(&cloud, lower, STRETCH, |since, applied| {
            at_most(clouds, "cloud 40 A under operator 60 A")(since, applied);
            if since >= SETTLE {
                least = least.min(applied.iter().sum());
            }
        })
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert!(
        least >= 0.95 * clouds,
        "the cloud's 40 A is used: {least:.1} A of {clouds} A"
    );
    site.operator("DELETE", None).await;
    site.drive(STRETCH, |since, applied| {
        let total: f64 = applied.iter().sum();
        assert!(
            total <= clouds + 1e-6,
            "{since:?} after the operator's delete: {total:.1} A of the cloud's {clouds} A"
        );
    })
    .await;
    let shown = site.shown_limit().await;
    assert_eq!(shown["source"], "cloud", "{shown}");
    site.stop().await;
}

/// TxProfile (1.6 §5.16) on a charger's identity, connector 1, in A.
fn tx_profile(charger: &str, limit_a: f64) -> (&str, &'static str, Value) {
    let payload = json!({
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 78, "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]
            }
        }
    });
    crate::common::schema_check::assert_valid("v16", "SetChargingProfile", false, &payload);
    (charger, "SetChargingProfile", payload)
}

/// Caps `cap` A on bay `bay` at every tick from `REACTION` on; after `SETTLE` the site's
/// room (96 A, or what the vehicles can take) used to 95 %.
fn capped(
    bay: usize,
    cap: f64,
    can_take: f64,
    least: &mut f64,
) -> impl FnMut(Duration, &[f64]) + '_ {
    move |since, applied| {
        assert!(
            since < REACTION || applied[bay] <= cap + 1e-6,
            "{since:?} in: bay {bay} applies {:.1} A over the cloud's {cap} A cap ({applied:?})",
            applied[bay]
        );
        let total: f64 = applied.iter().sum();
        assert!(
            total <= GRID_A - MARGIN_A + 1e-6,
            "{since:?}: {total:.1} A (S1)"
        );
        if since >= SETTLE {
            *least = least.min(total / can_take.min(GRID_A - MARGIN_A));
        }
    }
}

/// A 2.0.1 TxDefaultProfile of 10 A on CS201-1 and a 1.6 TxProfile of 8 A on CP16-0: each
/// charger stays at its cap, the others share the rest of the room; the cloud's clearing
/// of CS201-1's frees it.
#[tokio::test(start_paused = true)]
async fn a_clouds_tx_profiles_cap_their_chargers_and_the_room_goes_to_the_others() {
    let cloud = Cloud::start().await;
    let mut site = CloudSite::start(&cloud).await;
    site.drive(SETTLE, |_, _| {}).await;
    let (cs, cp) = (site.bays[1].name.clone(), site.bays[0].name.clone());

    let mut least = f64::INFINITY;
    let call = profile_201(&cs, 1, "TxDefaultProfile", site.clock, 10.0);
    let answer = site
        .cloud_call(
            &cloud,
            call,
            STRETCH,
            capped(1, 10.0, 10.0 + 3.0 * 32.0, &mut least),
        )
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert!(least >= 0.95, "the room around the cap is used: {least:.2}");

    let mut least = f64::INFINITY;
    let answer = site
        .cloud_call(&cloud, tx_profile(&cp, 8.0), STRETCH, |since, applied| {
            capped(1, 10.0, 8.0 + 10.0 + 2.0 * 32.0, &mut least)(since, applied);
            capped(0, 8.0, 8.0 + 10.0 + 2.0 * 32.0, &mut least)(since, applied);
        })
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert!(least >= 0.95, "both caps kept, the rest used: {least:.2}");

    let clear = (
        cs.as_str(),
        "ClearChargingProfile",
        json!({"chargingProfileCriteria": {"chargingProfilePurpose": "TxDefaultProfile"}}),
    );
    let mut freed = f64::INFINITY;
    let answer = site
        .cloud_call(&cloud, clear, STRETCH, |since, applied| {
            if since >= SETTLE {
                freed = freed.min(applied[1]);
            }
            assert!(
                since < REACTION || applied[0] <= 8.0 + 1e-6,
                "CP16-0 keeps its TxProfile"
            );
        })
        .await;
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert!(
        freed > 16.0,
        "cleared, CS201-1 takes its share again: {freed:.1} A"
    );
    site.stop().await;
}

/// A TxDefaultProfile cap the store kept from before a restart holds from the first plan
/// on, at every tick, while the other chargers use the room.
#[tokio::test(start_paused = true)]
async fn a_lasting_cap_kept_in_the_store_holds_from_the_start() {
    let cloud = Cloud::start().await;
    let cap = chargegate::store::CloudCap {
        limit: chargegate::units::Amps(10.0),
        until: None,
        set_at: chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .expect("time")
            .to_utc(),
    };
    let mut site = CloudSite::start_with(&cloud, move |c| {
        chargegate::store::set_cloud_cap(c, "CS201-1", &cap)
    })
    .await;
    assert_eq!(site.bays[1].name, "CS201-1");
    let mut least = f64::INFINITY;
    site.drive(SETTLE + STRETCH, |since, applied| {
        assert!(
            applied[1] <= 10.0 + 1e-6,
            "{since:?} after the start: CS201-1 applies {:.1} A over its kept 10 A cap",
            applied[1]
        );
        if since >= SETTLE {
            least = least.min(applied.iter().sum());
        }
    })
    .await;
    let room = GRID_A - MARGIN_A;
    assert!(
        least >= 0.95 * room,
        "the others use the room: {least:.1} A of {room} A"
    );
    site.stop().await;
}
