//! DESIGN.md S3: every configured charger gets a permanent failsafe profile at the lowest
//! stack level when it connects and when it boots, valid for its OCPP version, audited.

use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimChargePoint, SimOptions};
use chargegate::store;
use chargegate::units::ChargerId;

use crate::common::{PASSWORD, Site, schema_check, url};

#[tokio::test]
async fn the_failsafe_baseline_is_installed_on_connect_and_on_boot() {
    let site = Site::new("");
    let daemon = site.start().await;
    for (version, id, dir) in [
        (OcppVersion::V16, "CP16-1", "v16"),
        (OcppVersion::V201, "CS201-1", "v201"),
    ] {
        let sim = crate::common::connect_settled(&daemon, id, version).await;
        let first = sim
            .wait_for_call("SetChargingProfile", Duration::from_secs(2))
            .await
            .unwrap();
        schema_check::assert_valid(dir, "SetChargingProfile", false, &first.payload);
        let (evse_key, profile_key, period) = match version {
            OcppVersion::V16 => (
                "connectorId",
                "csChargingProfiles",
                "/chargingSchedule/chargingSchedulePeriod/0",
            ),
            OcppVersion::V201 => (
                "evseId",
                "chargingProfile",
                "/chargingSchedule/0/chargingSchedulePeriod/0",
            ),
        };
        assert_eq!(first.payload[evse_key], 0, "the whole station");
        let profile = &first.payload[profile_key];
        assert_eq!(profile["stackLevel"], 0);
        assert_eq!(profile["chargingProfilePurpose"], "TxDefaultProfile");
        assert!(
            profile.get("validTo").is_none(),
            "the baseline never expires: {profile}"
        );
        // The test site's chargers: min 6 A, failsafe defaults to the minimum.
        assert_eq!(
            profile.pointer(period).unwrap()["limit"].as_f64(),
            Some(6.0)
        );

        // A boot (the charger restarted) installs it again.
        sim.boot().await.unwrap();
        assert!(
            sim.wait_for_call("SetChargingProfile", Duration::from_secs(2))
                .await
                .is_some()
        );

        let audit = daemon
            .csms
            .store()
            .call(move |c| store::audit_log(c, id, 10))
            .await
            .unwrap();
        // Besides the baseline only the local list sync (`dispatch::local_list`) is sent.
        let audit: Vec<_> = audit
            .into_iter()
            .filter(|a| !a.reason.starts_with("local list:"))
            .collect();
        assert!(
            audit
                .iter()
                .all(|a| a.action == "SetChargingProfile" && a.reason.contains("(S3)")),
            "{audit:?}"
        );
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test]
async fn a_charger_that_rejects_the_baseline_is_not_counted_as_safe() {
    let site = Site::new("");
    let daemon = site.start().await;
    let mut opts = SimOptions::new(url(&daemon), "CP16-2", &[OcppVersion::V16]);
    opts.password = Some(PASSWORD.into());
    opts.reply_policy = ReplyPolicy::Reject;
    let sim = SimChargePoint::connect(opts).await.unwrap();
    assert!(
        sim.wait_for_call("SetChargingProfile", Duration::from_secs(2))
            .await
            .is_some()
    );
    let charger = ChargerId::new("CP16-2").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!daemon.baseline.is_acknowledged(&charger));
    let audit = daemon
        .csms
        .store()
        .call(|c| store::audit_log(c, "CP16-2", 10))
        .await
        .unwrap();
    assert_eq!(audit[0].outcome, "rejected");
    sim.close().await;
    daemon.stop().await;
}

#[tokio::test]
async fn pending_chargers_get_no_baseline() {
    let site = Site::new("unknown-chargers = \"pending\"");
    let daemon = site.start().await;
    let sim = SimChargePoint::connect(SimOptions::new(
        url(&daemon),
        "NEWCOMER",
        &[OcppVersion::V201],
    ))
    .await
    .unwrap();
    sim.boot().await.unwrap();
    assert!(
        sim.wait_for_call("SetChargingProfile", Duration::from_millis(500))
            .await
            .is_none()
    );
    sim.close().await;
    daemon.stop().await;
}
