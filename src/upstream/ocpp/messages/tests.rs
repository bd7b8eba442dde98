use super::*;

fn row(version: OcppVersion, action: &str, offline: bool) -> JournalRow {
    JournalRow {
        seq: 1,
        charger: "CS-1".into(),
        version: version.subprotocol().into(),
        action: action.into(),
        payload: "{}".into(),
        offline,
        local_tx: None,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    crate::ocpp::time::parse(text).unwrap()
}

#[test]
fn only_transaction_messages_and_security_events_are_kept() {
    for kept in [
        "StartTransaction",
        "StopTransaction",
        "MeterValues",
        "TransactionEvent",
        "SecurityEventNotification",
    ] {
        assert!(journaled(kept), "{kept}");
    }
    for live in [
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "DataTransfer",
    ] {
        assert!(!journaled(live), "{live}");
    }
}

#[test]
fn a_16_message_reaches_the_cloud_under_the_clouds_transaction_id() {
    let meter = row(OcppVersion::V16, "MeterValues", true);
    let payload = json!({"connectorId": 1, "transactionId": 7, "meterValue": []});
    assert_eq!(local_tx_of(&meter, &payload), Some(7));
    let out = outgoing(&meter, payload, Some(9001));
    assert_eq!(out["transactionId"], 9001);
    assert_eq!(out["connectorId"], 1);
    assert!(out.get("offline").is_none(), "1.6 has no offline flag");
    let start = row(OcppVersion::V16, "StartTransaction", false);
    assert_eq!(
        cloud_tx_in_answer(
            &start,
            &json!({"transactionId": 9001, "idTagInfo": {"status": "Accepted"}})
        ),
        Some(9001)
    );
    assert_eq!(
        cloud_tx_in_answer(&meter, &json!({"transactionId": 3})),
        None
    );
}

#[test]
fn a_201_event_received_offline_is_flagged_and_otherwise_untouched() {
    let payload =
        json!({"eventType": "Updated", "seqNo": 4, "transactionInfo": {"transactionId": "T-1"}});
    let offline = row(OcppVersion::V201, "TransactionEvent", true);
    assert_eq!(
        local_tx_of(&offline, &payload),
        None,
        "2.0.1 ids are the station's"
    );
    let out = outgoing(&offline, payload.clone(), None);
    assert_eq!(out["offline"], true);
    assert_eq!(out["seqNo"], 4);
    let online = row(OcppVersion::V201, "TransactionEvent", false);
    assert_eq!(outgoing(&online, payload.clone(), None), payload);
}

#[test]
fn a_station_maximum_on_the_own_identity_becomes_the_lowest_limit_until_its_end() {
    let now = at("2026-12-01T10:00:00Z");
    let payload = json!({
        "evseId": 0,
        "chargingProfile": {
            "id": 1, "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Absolute",
            "validTo": "2026-12-01T14:00:00Z",
            "chargingSchedule": [{
                "id": 1, "startSchedule": "2026-12-01T10:00:00Z", "duration": 7200,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 80.0}, {"startPeriod": 600, "limit": 50.0}]
            }]
        }
    });
    let call = classify(
        Role::Own,
        OcppVersion::V201,
        "SetChargingProfile",
        &payload,
        now,
    );
    assert_eq!(
        call,
        CloudCall::SiteLimit(CloudLimit {
            limit_a: 50.0,
            until: Some(at("2026-12-01T12:00:00Z")),
        })
    );
}

#[test]
fn a_16_limit_in_watts_is_amperes_per_phase_at_230_v() {
    let payload = json!({
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 34500.0, "numberPhases": 3}]
            }
        }
    });
    let call = classify(
        Role::Own,
        OcppVersion::V16,
        "SetChargingProfile",
        &payload,
        Utc::now(),
    );
    let CloudCall::SiteLimit(limit) = call else {
        panic!("{call:?}");
    };
    assert!((limit.limit_a - 50.0).abs() < 1e-9, "{}", limit.limit_a);
    assert_eq!(limit.until, None);
}

#[test]
fn a_tx_profile_caps_the_vehicle_on_its_charger_and_is_never_the_site_limit() {
    let tx = json!({
        "connectorId": 1,
        "csChargingProfiles": {"chargingProfileId": 2, "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}}
    });
    let now = Utc::now();
    assert_eq!(
        classify(
            Role::Charger,
            OcppVersion::V16,
            "SetChargingProfile",
            &tx,
            now
        ),
        CloudCall::Cap(
            CapKind::Session,
            CloudLimit {
                limit_a: 6.0,
                until: None
            }
        )
    );
    assert!(matches!(
        classify(Role::Own, OcppVersion::V16, "SetChargingProfile", &tx, now),
        CloudCall::Refuse(RpcErrorCode::NotSupported, _)
    ));
    let negative = json!({
        "connectorId": 0,
        "csChargingProfiles": {"chargingProfileId": 2, "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": -5.0}]}}
    });
    assert!(matches!(
        classify(
            Role::Own,
            OcppVersion::V16,
            "SetChargingProfile",
            &negative,
            now
        ),
        CloudCall::Refuse(RpcErrorCode::FormatViolation, _)
    ));
}

#[test]
fn the_clouds_calls_to_a_charger_are_relayed_and_unknown_words_refused() {
    let now = Utc::now();
    let relay = |v, a: &str| classify(Role::Charger, v, a, &json!({}), now);
    assert_eq!(
        relay(OcppVersion::V16, "RemoteStartTransaction"),
        CloudCall::Relay
    );
    assert_eq!(
        relay(OcppVersion::V201, "RequestStartTransaction"),
        CloudCall::Relay
    );
    assert_eq!(
        relay(OcppVersion::V201, "GetCompositeSchedule"),
        CloudCall::Relay
    );
    assert!(matches!(
        relay(OcppVersion::V16, "RequestStartTransaction"),
        CloudCall::Refuse(RpcErrorCode::NotImplemented, _)
    ));
    assert_eq!(
        classify(
            Role::Charger,
            OcppVersion::V16,
            "RemoteStopTransaction",
            &json!({"transactionId": 9001}),
            now
        ),
        CloudCall::RelayRemoteStop { cloud_tx: 9001 }
    );
    assert!(matches!(
        classify(
            Role::Own,
            OcppVersion::V201,
            "RequestStartTransaction",
            &json!({}),
            now
        ),
        CloudCall::Refuse(RpcErrorCode::NotSupported, _)
    ));
}

#[test]
fn the_clouds_local_list_becomes_cards_in_both_versions() {
    let v16 = json!({"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [
        {"idTag": "A", "idTagInfo": {"status": "Accepted", "parentIdTag": "G"}},
        {"idTag": "B"}
    ]});
    let CloudCall::SendLocalList {
        version,
        full,
        cards,
    } = classify(
        Role::Charger,
        OcppVersion::V16,
        "SendLocalList",
        &v16,
        Utc::now(),
    )
    else {
        panic!("not a list");
    };
    assert_eq!((version, full), (3, false));
    assert_eq!(
        cards[0].record.as_ref().unwrap().group.as_deref(),
        Some("G")
    );
    assert_eq!(cards[1].record, None, "no info removes the card");
    let v201 = json!({"versionNumber": 9, "updateType": "Full", "localAuthorizationList": [
        {"idToken": {"idToken": "C", "type": "ISO14443"}, "idTokenInfo": {"status": "Blocked"}}
    ]});
    let CloudCall::SendLocalList {
        version,
        full,
        cards,
    } = classify(
        Role::Own,
        OcppVersion::V201,
        "SendLocalList",
        &v201,
        Utc::now(),
    )
    else {
        panic!("not a list");
    };
    assert_eq!((version, full), (9, true));
    assert_eq!(cards[0].record.as_ref().unwrap().status, "blocked");
}

#[test]
fn the_clouds_authorize_answer_is_read_as_a_card() {
    let verdict = authorize_verdict(
        OcppVersion::V201,
        &json!({"idToken": {"idToken": "X", "type": "ISO14443"}}),
        &json!({"idTokenInfo": {"status": "Blocked"}}),
    )
    .unwrap();
    assert_eq!(
        (verdict.id.as_str(), verdict.status.as_str()),
        ("X", "blocked")
    );
    let accepted = authorize_verdict(
        OcppVersion::V16,
        &json!({"idTag": "Y"}),
        &json!({"idTagInfo": {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z"}}),
    )
    .unwrap();
    assert_eq!(accepted.status, "accepted");
    assert!(accepted.expires.is_some());
}

#[test]
fn a_201_tx_default_profile_in_watts_caps_the_charger_until_its_valid_to() {
    let profile = json!({
        "evseId": 1,
        "chargingProfile": {"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "validTo": "2026-12-01T18:00:00Z",
            "chargingSchedule": [{"id": 1, "startSchedule": "2026-12-01T08:00:00Z", "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11040.0},
                    {"startPeriod": 3600, "limit": 6900.0, "numberPhases": 1}]}]}
    });
    let now = at("2026-12-01T08:00:00Z");
    let CloudCall::Cap(kind, limit) = classify(
        Role::Charger,
        OcppVersion::V201,
        "SetChargingProfile",
        &profile,
        now,
    ) else {
        panic!("a TxDefaultProfile on a charger is a cap");
    };
    assert_eq!(kind, CapKind::Lasting);
    assert!(
        (limit.limit_a - 16.0).abs() < 1e-9,
        "11,040 W on 3 phases = 16 A, the lowest of 16 A and 30 A (6,900 W on 1): {}",
        limit.limit_a
    );
    assert_eq!(limit.until, Some(at("2026-12-01T18:00:00Z")));
}

#[test]
fn the_cloud_clears_its_caps_on_a_charger_by_purpose_and_never_chargegates_own() {
    let clear = |v, payload: Value| {
        classify(
            Role::Charger,
            v,
            "ClearChargingProfile",
            &payload,
            Utc::now(),
        )
    };
    assert_eq!(
        clear(OcppVersion::V16, json!({})),
        CloudCall::ClearCap(None)
    );
    assert_eq!(
        clear(
            OcppVersion::V16,
            json!({"chargingProfilePurpose": "TxProfile"})
        ),
        CloudCall::ClearCap(Some(CapKind::Session))
    );
    assert_eq!(
        clear(
            OcppVersion::V201,
            json!({"chargingProfileCriteria": {"chargingProfilePurpose": "TxDefaultProfile"}})
        ),
        CloudCall::ClearCap(Some(CapKind::Lasting))
    );
    assert!(matches!(
        clear(
            OcppVersion::V201,
            json!({"chargingProfileCriteria": {"chargingProfilePurpose": "PriorityCharging"}})
        ),
        CloudCall::Refuse(RpcErrorCode::NotSupported, _)
    ));
}
