//! The internal command API end to end: every CSMS-to-charger command goes to simulated
//! chargers of both versions, each CALL chargegate sends is validated against the official
//! schema, the answers come back typed, and every command lands in the audit log.

use std::time::Duration;

use chargegate::charger::CommandError;
use chargegate::ocpp::model::*;
use chargegate::sim::{ReplyPolicy, SimChargePoint, SimOptions};
use chargegate::store;
use chargegate::units::ChargerId;
use chrono::Utc;

use crate::common::{PASSWORD, Site, schema_check, url};

fn profile(purpose: ProfilePurpose, tx: Option<TxKey>, limit: f64) -> ChargingProfile {
    ChargingProfile {
        id: 7,
        stack_level: 1,
        purpose,
        kind: ProfileKind::Absolute,
        recurrency_weekly: None,
        tx,
        valid_from: None,
        valid_to: Some(Utc::now() + chrono::Duration::minutes(10)),
        schedule: ChargingSchedule {
            start: Some(Utc::now()),
            duration_s: Some(600),
            rate_unit: RateUnit::Amps,
            periods: vec![SchedulePeriod {
                start_s: 0,
                limit,
                phases: Some(3),
            }],
            min_rate: None,
        },
    }
}

fn token(id: &str) -> IdToken {
    IdToken {
        id: id.into(),
        kind: None,
    }
}

/// Every command, with the transaction key style the version uses.
fn commands(version: OcppVersion) -> Vec<ChargerCommand> {
    let tx = match version {
        OcppVersion::V16 => TxKey::Csms(42),
        OcppVersion::V201 => TxKey::Charger("tx-42".into()),
    };
    let mut list = remote_control_commands(&tx);
    list.extend(profile_reservation_and_list_commands(tx));
    if version == OcppVersion::V201 {
        add_v201_only_commands(&mut list);
    }
    list
}

/// Start and stop, reset, unlock, availability, configuration and trigger.
fn remote_control_commands(tx: &TxKey) -> Vec<ChargerCommand> {
    vec![
        ChargerCommand::RemoteStart {
            evse_id: Some(1),
            id_token: token("GOOD"),
            profile: None,
            remote_start_id: 1,
        },
        ChargerCommand::RemoteStop { tx: tx.clone() },
        ChargerCommand::ClearCache,
        ChargerCommand::DataTransfer {
            vendor_id: "com.example.depot".into(),
            message_id: Some("Ping".into()),
            data: Some(serde_json::json!({"n": 1})),
        },
        ChargerCommand::Reset {
            kind: ResetKind::Soft,
            evse_id: None,
        },
        ChargerCommand::UnlockConnector {
            evse: EvseRef {
                evse_id: 1,
                connector_id: Some(1),
            },
        },
        ChargerCommand::ChangeAvailability {
            evse: None,
            operative: false,
        },
        ChargerCommand::GetConfiguration {
            keys: vec![ConfigKey {
                component: Some("OCPPCommCtrlr".into()),
                variable: "HeartbeatInterval".into(),
            }],
        },
        ChargerCommand::SetConfiguration {
            key: ConfigKey {
                component: Some("OCPPCommCtrlr".into()),
                variable: "HeartbeatInterval".into(),
            },
            value: "60".into(),
        },
        ChargerCommand::Trigger {
            message: TriggerKind::StatusNotification,
            evse_id: Some(1),
        },
    ]
}

/// Charging profiles, the composite schedule, reservations and the local list.
fn profile_reservation_and_list_commands(tx: TxKey) -> Vec<ChargerCommand> {
    vec![
        ChargerCommand::SetChargingProfile {
            evse_id: 0,
            profile: profile(ProfilePurpose::ChargePointMax, None, 6.0),
        },
        ChargerCommand::SetChargingProfile {
            evse_id: 1,
            profile: profile(ProfilePurpose::Tx, Some(tx), 15.97),
        },
        ChargerCommand::ClearChargingProfile {
            id: Some(7),
            evse_id: None,
            purpose: None,
            stack_level: None,
        },
        ChargerCommand::GetCompositeSchedule {
            evse_id: 1,
            duration_s: 3600,
            rate_unit: Some(RateUnit::Amps),
        },
        ChargerCommand::ReserveNow {
            reservation_id: 3,
            evse_id: Some(1),
            expiry: Utc::now() + chrono::Duration::hours(1),
            id_token: token("GOOD"),
            group_id: Some("FLEET".into()),
        },
        ChargerCommand::CancelReservation { reservation_id: 3 },
        ChargerCommand::SendLocalList {
            version: 2,
            full: true,
            entries: vec![LocalListEntry {
                id_token: token("GOOD"),
                info: Some(IdTokenInfo::status(AuthorizationStatus::Accepted)),
            }],
        },
        ChargerCommand::GetLocalListVersion,
    ]
}

/// GetChargingProfiles and GetBaseReport, which 1.6 does not have.
fn add_v201_only_commands(list: &mut Vec<ChargerCommand>) {
    // Before ClearChargingProfile, so that the charger has a profile to report.
    let clear = list
        .iter()
        .position(|c| matches!(c, ChargerCommand::ClearChargingProfile { .. }))
        .unwrap_or(0);
    list.insert(
        clear,
        ChargerCommand::GetChargingProfiles {
            request_id: 10,
            evse_id: Some(1),
            purpose: None,
        },
    );
    list.push(ChargerCommand::GetBaseReport {
        request_id: 9,
        report: "ConfigurationInventory".into(),
    });
}

#[tokio::test]
async fn every_command_reaches_both_versions_valid_and_audited() {
    let site = Site::new("");
    let daemon = site.start().await;
    for (version, id) in [(OcppVersion::V16, "CP16-1"), (OcppVersion::V201, "CS201-1")] {
        let sim = crate::common::connect_settled(&daemon, id, version).await;
        let charger = ChargerId::new(id).unwrap();
        let list = commands(version);
        for command in &list {
            let answer = daemon
                .chargers
                .send(&charger, command.clone(), "test: every command")
                .await;
            let answer = answer.unwrap_or_else(|e| panic!("{version:?} {}: {e}", command.name()));
            assert!(
                answer.is_accepted(),
                "{version:?} {}: {answer:?}",
                command.name()
            );
        }
        let calls = crate::common::calls_after_baseline(&sim);
        assert_eq!(calls.len(), list.len(), "one CALL per command");
        let dir = if version == OcppVersion::V16 {
            "v16"
        } else {
            "v201"
        };
        for call in &calls {
            schema_check::assert_valid(dir, &call.action, false, &call.payload);
        }
        // Limits are rounded down, never up: 15.97 A goes out as 15.9 A.
        let profiles: Vec<_> = calls
            .iter()
            .filter(|c| c.action == "SetChargingProfile")
            .map(|c| &c.payload)
            .collect();
        assert_eq!(profiles.len(), 2);
        let text = serde_json::to_string(&profiles).unwrap();
        assert!(text.contains("15.9") && !text.contains("15.97"), "{text}");

        // A rejection comes back as such and is audited as rejected.
        sim.set_reply_policy(ReplyPolicy::Reject);
        let rejected = daemon
            .chargers
            .send(
                &charger,
                ChargerCommand::Reset {
                    kind: ResetKind::Hard,
                    evse_id: None,
                },
                "test: reject",
            )
            .await
            .unwrap();
        assert!(!rejected.is_accepted());
        let audit = daemon
            .csms
            .store()
            .call(move |c| store::audit_log(c, id, 100))
            .await
            .unwrap();
        let audit: Vec<_> = audit
            .into_iter()
            .filter(|a| a.reason.starts_with("test:"))
            .collect();
        assert_eq!(audit.len(), list.len() + 1);
        assert_eq!(audit[0].outcome, "rejected");
        assert!(
            audit[1..]
                .iter()
                .all(|a| a.outcome == "accepted" && a.reason == "test: every command")
        );
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test]
async fn commands_the_version_lacks_and_absent_chargers_fail_cleanly() {
    let site = Site::new("");
    let daemon = site.start().await;
    let sim = crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let charger = ChargerId::new("CP16-1").unwrap();
    let report = ChargerCommand::GetBaseReport {
        request_id: 1,
        report: "FullInventory".into(),
    };
    let answer = daemon.chargers.send(&charger, report, "test").await;
    assert!(
        matches!(answer, Err(CommandError::NotInVersion(_))),
        "{answer:?}"
    );
    assert!(
        crate::common::calls_after_baseline(&sim).is_empty(),
        "nothing was sent"
    );
    let audit = daemon
        .csms
        .store()
        .call(|c| store::audit_log(c, "CP16-1", 10))
        .await
        .unwrap();
    assert_eq!(audit[0].outcome, "not-sent");

    let absent = ChargerId::new("CP16-2").unwrap();
    let answer = daemon
        .chargers
        .send(&absent, ChargerCommand::GetLocalListVersion, "test")
        .await;
    assert_eq!(answer, Err(CommandError::NotConnected));

    // A charger that disconnects while a command waits: the caller hears about it.
    sim.set_reply_policy(ReplyPolicy::Ignore);
    let chargers = daemon.chargers.clone();
    let waiting = tokio::spawn(async move {
        chargers
            .send(&charger, ChargerCommand::GetLocalListVersion, "test")
            .await
    });
    assert!(
        sim.wait_for_call("GetLocalListVersion", Duration::from_secs(2))
            .await
            .is_some()
    );
    sim.close().await;
    assert_eq!(waiting.await.unwrap(), Err(CommandError::Disconnected));
    daemon.stop().await;
}

#[tokio::test]
async fn a_reconnecting_charger_replaces_its_old_connection() {
    let site = Site::new("");
    let daemon = site.start().await;
    let connect = || {
        let mut opts = SimOptions::new(url(&daemon), "CS201-2", &[OcppVersion::V201]);
        opts.password = Some(PASSWORD.into());
        SimChargePoint::connect(opts)
    };
    let old = connect().await.unwrap();
    let new = connect().await.unwrap();
    let charger = ChargerId::new("CS201-2").unwrap();
    let answer = daemon
        .chargers
        .send(&charger, ChargerCommand::ClearCache, "test")
        .await
        .unwrap();
    assert_eq!(answer, CommandReply::from_status("Accepted"));
    // Only the test's command counts: the local list sync of each connection runs beside.
    let cleared = |sim: &SimChargePoint| {
        sim.received_calls()
            .iter()
            .filter(|c| c.action == "ClearCache")
            .count()
    };
    assert_eq!(cleared(&new), 1, "the command went to the new connection");
    assert_eq!(cleared(&old), 0);
    // The old socket is closed by chargegate.
    for _ in 0..50 {
        if old.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(old.is_closed());
    assert_eq!(daemon.chargers.connected().len(), 1);
    // The old connection's end does not mark the charger disconnected (its task cleans up
    // right after the close handshake; give it that moment).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let records = daemon
        .csms
        .store()
        .call(|c| store::chargers(c))
        .await
        .unwrap();
    assert!(
        records
            .iter()
            .find(|r| r.id == "CS201-2")
            .unwrap()
            .connected
    );
    new.close().await;
    daemon.stop().await;
}
