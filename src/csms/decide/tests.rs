//! The CSMS rules in bulk: a table of events and facts with the reply and records each
//! must give, and properties over random events (the version never matters, a Pending
//! charger gets nothing but boot and heartbeat, every accepted event leaves a record
//! unless it only asks a question, a token's answer is the local list's).

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::config::UnknownChargers;
use crate::ocpp::model::{
    AuthorizationStatus, ConnectorStatus, EvChargingNeeds, EvseRef, IdToken, NotifiedEvent,
    OcppVersion, ReportedVariable,
};
use crate::units::ChargerId;

fn now() -> DateTime<Utc> {
    crate::ocpp::time::parse("2026-11-30T12:00:00Z").unwrap()
}

fn policy() -> RegistrationPolicy {
    RegistrationPolicy {
        heartbeat_interval_s: 300,
        unknown_chargers: UnknownChargers::Pending,
        pending_retry_s: 60,
        signs_certificates: false,
    }
}

fn ctx(version: OcppVersion, admission: Admission) -> ChargerContext {
    ChargerContext {
        id: ChargerId::new("CP-1").unwrap(),
        version,
        admission,
    }
}

fn known() -> ChargerContext {
    ctx(OcppVersion::V201, Admission::Known)
}

fn token(status: &str) -> TokenRecord {
    TokenRecord {
        id: "CARD".into(),
        status: status.into(),
        expires: None,
        group: None,
    }
}

fn sample(measurand: &str, value: f64, unit: &str) -> MeterSample {
    MeterSample {
        timestamp: now(),
        measurand: measurand.into(),
        phase: None,
        value,
        unit: Some(unit.into()),
        context: None,
        location: None,
    }
}

fn tx_event(phase: TxPhase, tx: Option<TxKey>, token: Option<&str>) -> TransactionEvent {
    TransactionEvent {
        phase,
        tx,
        seq_no: None,
        evse: Some(EvseRef {
            evse_id: 2,
            connector_id: None,
        }),
        id_token: token.map(|id| IdToken {
            id: id.into(),
            kind: None,
        }),
        timestamp: now() - Duration::seconds(5),
        meter_wh: Some(1500.0),
        stop_reason: None,
        trigger_reason: None,
        charging_state: None,
        offline: false,
        reservation_id: None,
        signed: Vec::new(),
        samples: vec![sample("Energy.Active.Import.Register", 1.5, "kWh")],
    }
}

fn info(status: AuthorizationStatus) -> Option<IdTokenInfo> {
    Some(IdTokenInfo::status(status))
}

fn stored(row: i64, evse_id: u32) -> Facts {
    Facts {
        transaction: Some(StoredTransaction {
            row,
            evse_id: Some(evse_id),
        }),
        ..Facts::default()
    }
}

fn decided(event: ChargerEvent, facts: Facts) -> Decision {
    decide(&known(), &policy(), &event, &facts, now()).unwrap()
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table: an event, its facts and the decision it must give, per row"
)]
fn the_table_of_events_and_facts() {
    let wh = |v: f64| vec![sample("Energy.Active.Import.Register", v, "Wh")];
    let cases: Vec<(&str, ChargerEvent, Facts, Decision)> = vec![
        (
            "a heartbeat tells the time and marks the charger seen",
            ChargerEvent::Heartbeat,
            Facts::default(),
            Decision::reply(
                EventReply::Heartbeat {
                    current_time: now(),
                },
                vec![Write::Seen],
            ),
        ),
        (
            "a status names connector 0 when the version has none",
            ChargerEvent::Status {
                evse: EvseRef {
                    evse_id: 1,
                    connector_id: None,
                },
                status: ConnectorStatus::Faulted,
                error_code: Some("GroundFailure".into()),
                vendor_error_code: None,
                info: None,
                timestamp: None,
            },
            Facts::default(),
            Decision::reply(
                EventReply::Empty,
                vec![Write::ConnectorStatus {
                    evse_id: 1,
                    connector_id: 0,
                    status: "Faulted",
                    error_code: Some("GroundFailure".into()),
                    info: None,
                }],
            ),
        ),
        (
            "Authorize checks the local list and concurrency, and writes nothing",
            ChargerEvent::Authorize {
                id_token: IdToken {
                    id: "CARD".into(),
                    kind: None,
                },
            },
            Facts {
                token: Some(token("accepted")),
                token_busy: true,
                transaction: None,
                ..Facts::default()
            },
            Decision::reply(
                EventReply::Authorize {
                    info: IdTokenInfo::status(AuthorizationStatus::ConcurrentTx),
                },
                Vec::new(),
            ),
        ),
        (
            "a start without an id gets one assigned, samples in base units",
            ChargerEvent::Transaction(tx_event(TxPhase::Started, None, Some("CARD"))),
            Facts {
                token: Some(token("accepted")),
                // Its own session: the concurrency check is Authorize's.
                token_busy: true,
                transaction: None,
                ..Facts::default()
            },
            Decision {
                reply: Reply::WithAssignedId {
                    info: info(AuthorizationStatus::Accepted),
                },
                writes: vec![
                    Write::StartAssigningId {
                        connector_id: 2,
                        token: "CARD".into(),
                        meter_wh: 1500.0,
                        started: now() - Duration::seconds(5),
                        samples: wh(1500.0),
                    },
                    // What was open on that connector ended unreported.
                    Write::CloseStale {
                        evse_id: Some(2),
                        reason: "Other",
                        by: ClosedBy::NewTransaction,
                    },
                ],
            },
        ),
        (
            "a stop by our id takes the stored transaction's connector",
            ChargerEvent::Transaction(TransactionEvent {
                evse: None,
                ..tx_event(TxPhase::Ended, Some(TxKey::Csms(7)), Some("CARD"))
            }),
            Facts {
                token: Some(token("blocked")),
                ..stored(70, 3)
            },
            Decision {
                reply: Reply::Ready(EventReply::Transaction {
                    transaction_id: None,
                    info: info(AuthorizationStatus::Blocked),
                }),
                writes: vec![
                    Write::StopAssignedId {
                        id: 7,
                        meter_wh: 1500.0,
                        stopped: now() - Duration::seconds(5),
                        reason: None,
                    },
                    Write::Samples {
                        evse_id: 3,
                        transaction: Some(70),
                        samples: wh(1500.0),
                    },
                ],
            },
        ),
        (
            "a stop of an unknown id is acknowledged, noted, and its samples kept unlinked",
            ChargerEvent::Transaction(tx_event(TxPhase::Ended, Some(TxKey::Csms(8)), None)),
            Facts::default(),
            Decision {
                reply: Reply::Ready(EventReply::Transaction {
                    transaction_id: None,
                    info: None,
                }),
                writes: vec![
                    Write::Note {
                        kind: "StopTransaction",
                        detail: "unknown transaction 8".into(),
                        severity: Severity::Warning,
                    },
                    Write::Samples {
                        evse_id: 2,
                        transaction: None,
                        samples: wh(1500.0),
                    },
                ],
            },
        ),
        (
            "an event under the charger's id carries its register reading",
            ChargerEvent::Transaction(tx_event(
                TxPhase::Updated,
                Some(TxKey::Charger("0042".into())),
                None,
            )),
            Facts::default(),
            Decision {
                reply: Reply::Ready(EventReply::Transaction {
                    transaction_id: None,
                    info: None,
                }),
                writes: vec![Write::ChargerTransactionEvent {
                    event: Box::new(tx_event(
                        TxPhase::Updated,
                        Some(TxKey::Charger("0042".into())),
                        None,
                    )),
                    evse_id: 2,
                    register_wh: Some(1500.0),
                    signed: Vec::new(),
                    samples: wh(1500.0),
                }],
            },
        ),
        (
            "meter values of a known transaction update its register",
            ChargerEvent::MeterValues {
                evse_id: 1,
                tx: Some(TxKey::Csms(7)),
                signed: Vec::new(),
                samples: vec![sample("Energy.Active.Import.Register", 2.0, "kWh")],
            },
            stored(70, 1),
            Decision::reply(
                EventReply::Empty,
                vec![
                    Write::Samples {
                        evse_id: 1,
                        transaction: Some(70),
                        samples: wh(2000.0),
                    },
                    Write::Register {
                        transaction: 70,
                        wh: 2000.0,
                    },
                ],
            ),
        ),
        (
            "meter values without a transaction are kept, unlinked",
            ChargerEvent::MeterValues {
                evse_id: 0,
                tx: None,
                signed: Vec::new(),
                samples: vec![sample("Current.Import", 16.0, "A")],
            },
            Facts::default(),
            Decision::reply(
                EventReply::Empty,
                vec![Write::Samples {
                    evse_id: 0,
                    transaction: None,
                    samples: vec![sample("Current.Import", 16.0, "A")],
                }],
            ),
        ),
        (
            "a vendor's DataTransfer is refused so the charger does not retry (1.6 §4.3)",
            ChargerEvent::DataTransfer {
                vendor_id: "com.acme".into(),
                message_id: None,
                data: Some("x".into()),
            },
            Facts::default(),
            Decision::note(
                "DataTransfer",
                "vendor com.acme message -".into(),
                Severity::Info,
                EventReply::DataTransfer {
                    status: DataTransferStatus::UnknownVendorId,
                    data: None,
                },
            ),
        ),
        (
            "a security event is a warning",
            ChargerEvent::SecurityEvent {
                kind: "TamperDetectionActivated".into(),
                timestamp: now(),
                tech_info: None,
            },
            Facts::default(),
            Decision::note(
                "SecurityEvent",
                "TamperDetectionActivated ".into(),
                Severity::Warning,
                EventReply::Empty,
            ),
        ),
        (
            "each notified event is noted",
            ChargerEvent::Notify {
                events: vec![notified("A"), notified("B")],
            },
            Facts::default(),
            Decision::reply(
                EventReply::Empty,
                ["A", "B"]
                    .map(|c| Write::Note {
                        kind: "Notify",
                        detail: format!("{c}.Problem Alerting = true"),
                        severity: Severity::Info,
                    })
                    .to_vec(),
            ),
        ),
    ];
    for (name, event, facts, want) in cases {
        assert_eq!(decided(event, facts), want, "{name}");
    }
}

fn notified(component: &str) -> NotifiedEvent {
    NotifiedEvent {
        component: component.into(),
        variable: "Problem".into(),
        trigger: "Alerting".into(),
        actual_value: "true".into(),
        tech_info: None,
    }
}

#[test]
fn boot_accepts_known_chargers_and_parks_pending_ones() {
    let boot = ChargerEvent::Boot {
        vendor: "Acme".into(),
        model: "Wallbox".into(),
        serial: None,
        firmware: Some("1.2".into()),
        reason: None,
    };
    for (admission, status, interval_s, registration) in [
        (
            Admission::Known,
            RegistrationStatus::Accepted,
            300,
            "accepted",
        ),
        (
            Admission::Pending,
            RegistrationStatus::Pending,
            60,
            "pending",
        ),
    ] {
        let ctx = ctx(OcppVersion::V16, admission);
        let decision = decide(&ctx, &policy(), &boot, &Facts::default(), now()).unwrap();
        assert_eq!(
            decision.reply,
            Reply::Ready(EventReply::Boot {
                status,
                current_time: now(),
                interval_s
            })
        );
        assert_eq!(
            decision.writes,
            vec![
                Write::Booted {
                    boot: BootRecord {
                        vendor: "Acme".into(),
                        model: "Wallbox".into(),
                        serial: None,
                        firmware: Some("1.2".into()),
                    },
                    registration,
                },
                // A charger that booted runs none of the transactions it had open.
                Write::CloseStale {
                    evse_id: None,
                    reason: "Reboot",
                    by: ClosedBy::Boot,
                },
            ]
        );
    }
}

#[test]
fn a_boot_closes_the_chargers_open_transactions_unless_it_was_triggered() {
    for (reason, closes) in [
        (None, Some("Reboot")),
        (Some("PowerUp"), Some("PowerLoss")),
        (Some("Watchdog"), Some("Reboot")),
        (Some("RemoteReset"), Some("Reboot")),
        // 2.0.1 TriggerMessage(BootNotification): no restart, nothing ends.
        (Some("Triggered"), None),
    ] {
        let boot = ChargerEvent::Boot {
            vendor: "Acme".into(),
            model: "Wallbox".into(),
            serial: None,
            firmware: None,
            reason: reason.map(String::from),
        };
        let decision = decide(&known(), &policy(), &boot, &Facts::default(), now()).unwrap();
        let close = decision.writes.iter().find_map(|w| match w {
            Write::CloseStale {
                evse_id: None,
                reason,
                by: ClosedBy::Boot,
            } => Some(*reason),
            _ => None,
        });
        assert_eq!(close, closes, "boot reason {reason:?}");
    }
}

#[test]
fn a_started_event_on_an_evse_closes_what_the_station_forgot_there() {
    let started = tx_event(
        TxPhase::Started,
        Some(TxKey::Charger("new".into())),
        Some("CARD"),
    );
    let event = ChargerEvent::Transaction(started.clone());
    let decision = decide(&known(), &policy(), &event, &Facts::default(), now()).unwrap();
    assert_eq!(
        decision.writes.last(),
        Some(&Write::CloseStale {
            evse_id: Some(2),
            reason: "Other",
            by: ClosedBy::NewTransaction,
        })
    );
    // Updated and Ended events close nothing.
    for phase in [TxPhase::Updated, TxPhase::Ended] {
        let event = ChargerEvent::Transaction(TransactionEvent {
            phase,
            ..started.clone()
        });
        let decision = decide(&known(), &policy(), &event, &Facts::default(), now()).unwrap();
        assert!(
            !decision
                .writes
                .iter()
                .any(|w| matches!(w, Write::CloseStale { .. })),
            "{phase:?}"
        );
    }
}

#[test]
fn signed_meter_values_are_kept_with_the_transaction() {
    let reading = SignedReading {
        timestamp: now(),
        measurand: "Energy.Active.Import.Register".into(),
        context: Some("Transaction.End".into()),
        phase: None,
        location: None,
        value: None,
        data: "OCMF|{}|{}".into(),
        signing_method: None,
        encoding_method: None,
        public_key: None,
    };
    let event = ChargerEvent::MeterValues {
        evse_id: 2,
        tx: Some(TxKey::Csms(7)),
        samples: Vec::new(),
        signed: vec![reading.clone()],
    };
    let decision = decide(&known(), &policy(), &event, &stored(70, 2), now()).unwrap();
    assert!(decision.writes.contains(&Write::Signed {
        evse_id: 2,
        transaction: Some(70),
        readings: vec![reading.clone()],
    }));
    let stop = ChargerEvent::Transaction(TransactionEvent {
        evse: None,
        signed: vec![reading.clone()],
        ..tx_event(TxPhase::Ended, Some(TxKey::Csms(7)), None)
    });
    let decision = decide(&known(), &policy(), &stop, &stored(70, 3), now()).unwrap();
    assert!(decision.writes.contains(&Write::Signed {
        evse_id: 3,
        transaction: Some(70),
        readings: vec![reading],
    }));
}

#[test]
fn shapes_no_version_sends_are_refused() {
    for (tx, phase) in [
        (Some(TxKey::Csms(1)), TxPhase::Started),
        (Some(TxKey::Csms(1)), TxPhase::Updated),
        (None, TxPhase::Updated),
        (None, TxPhase::Ended),
    ] {
        let event = ChargerEvent::Transaction(tx_event(phase, tx.clone(), None));
        let result = decide(&known(), &policy(), &event, &Facts::default(), now());
        assert!(
            matches!(result, Err(CsmsError::Mismatch)),
            "{tx:?} {phase:?}: {result:?}"
        );
    }
}

#[test]
fn a_reply_waiting_for_an_id_needs_the_write_to_assign_one() {
    let reply = Reply::WithAssignedId { info: None };
    assert!(matches!(
        reply.clone().complete(None),
        Err(CsmsError::Mismatch)
    ));
    assert_eq!(
        reply.complete(Some(9)).unwrap(),
        EventReply::Transaction {
            transaction_id: Some(9),
            info: None
        }
    );
}

#[test]
fn needs_name_the_token_and_only_transactions_the_store_can_know() {
    let start = ChargerEvent::Transaction(tx_event(TxPhase::Started, None, Some("CARD")));
    assert_eq!(
        needs(&start),
        Needs {
            token: Some("CARD".into()),
            transaction: None,
            reservations: true,
            operator_accepted: false,
        }
    );
    let stop = ChargerEvent::Transaction(tx_event(TxPhase::Ended, Some(TxKey::Csms(4)), None));
    assert_eq!(needs(&stop).transaction, Some(TxKey::Csms(4)));
    // The charger's own id is resolved by the write itself (insert-or-find).
    let update = ChargerEvent::Transaction(tx_event(
        TxPhase::Ended,
        Some(TxKey::Charger("t".into())),
        None,
    ));
    assert_eq!(needs(&update).transaction, None);
    assert_eq!(needs(&ChargerEvent::Heartbeat), Needs::default());
}

// --- properties over random events ---

fn any_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{0,8}"
}

fn any_tx_event() -> impl Strategy<Value = TransactionEvent> {
    (
        prop_oneof![
            Just(TxPhase::Started),
            Just(TxPhase::Updated),
            Just(TxPhase::Ended)
        ],
        prop_oneof![
            Just(None),
            (0i64..100).prop_map(|i| Some(TxKey::Csms(i))),
            any_text().prop_map(|t| Some(TxKey::Charger(t))),
        ],
        proptest::option::of(any_text()),
        0.0f64..1e6,
    )
        .prop_map(|(phase, tx, token, wh)| TransactionEvent {
            meter_wh: Some(wh),
            ..tx_event(phase, tx, token.as_deref())
        })
}

fn meter_values(evse_id: u32, kwh: f64) -> ChargerEvent {
    ChargerEvent::MeterValues {
        evse_id,
        tx: Some(TxKey::Csms(1)),
        signed: Vec::new(),
        samples: vec![sample("Energy.Active.Import.Register", kwh, "kWh")],
    }
}

fn any_event() -> impl Strategy<Value = ChargerEvent> {
    prop_oneof![
        (any_text(), any_text()).prop_map(|(vendor, model)| ChargerEvent::Boot {
            vendor,
            model,
            serial: None,
            firmware: None,
            reason: None,
        }),
        Just(ChargerEvent::Heartbeat),
        (0u32..4).prop_map(|evse_id| ChargerEvent::Status {
            evse: EvseRef {
                evse_id,
                connector_id: None
            },
            status: ConnectorStatus::Charging,
            error_code: None,
            vendor_error_code: None,
            info: None,
            timestamp: None,
        }),
        any_text().prop_map(|id| ChargerEvent::Authorize {
            id_token: IdToken { id, kind: None }
        }),
        any_tx_event().prop_map(ChargerEvent::Transaction),
        (0u32..4, 0.0f64..100.0).prop_map(|(evse_id, kwh)| meter_values(evse_id, kwh)),
        any_text().prop_map(|vendor_id| ChargerEvent::DataTransfer {
            vendor_id,
            message_id: None,
            data: None
        }),
        any_text().prop_map(|status| ChargerEvent::DiagnosticsStatus {
            status,
            request_id: None
        }),
        any_text().prop_map(|status| ChargerEvent::FirmwareStatus {
            status,
            request_id: None
        }),
        (0i32..9, 0u32..3).prop_map(|(request_id, seq_no)| ChargerEvent::Report {
            request_id,
            seq_no,
            more_to_follow: false,
            variables: vec![ReportedVariable {
                component: "EVSE".into(),
                variable: "Power".into(),
                value: None
            }],
        }),
        (1u32..4).prop_map(|evse_id| ChargerEvent::EvChargingNeeds(EvChargingNeeds {
            evse_id,
            departure_time: None,
            energy_wh: Some(20_000.0),
            max_current_a: Some(32.0),
            min_current_a: None,
            energy_transfer: "AC_three_phase".into(),
        })),
        any_text().prop_map(|source| ChargerEvent::ChargingLimit {
            evse_id: None,
            source,
            grid_critical: None
        }),
        (0i32..9).prop_map(|request_id| ChargerEvent::ChargingProfilesReport {
            request_id,
            evse_id: 0,
            source: "CSO".into(),
            profiles: Vec::new(),
            more_to_follow: false,
        }),
        any_text().prop_map(|kind| ChargerEvent::SecurityEvent {
            kind,
            timestamp: now(),
            tech_info: None
        }),
        proptest::collection::vec(any_text(), 1..4).prop_map(|cs| ChargerEvent::Notify {
            events: cs.iter().map(|c| notified(c)).collect()
        }),
    ]
}

fn any_facts() -> impl Strategy<Value = Facts> {
    (
        prop_oneof![
            Just(None),
            Just(Some(token("accepted"))),
            Just(Some(token("blocked")))
        ],
        any::<bool>(),
        proptest::option::of((1i64..100, 0u32..4)),
    )
        .prop_map(|(token, token_busy, tx)| Facts {
            token,
            token_busy,
            transaction: tx.map(|(row, evse)| StoredTransaction {
                row,
                evse_id: Some(evse),
            }),
            ..Facts::default()
        })
}

proptest! {
    /// Nothing above `ocpp/` knows the version: the same event gets the same decision.
    #[test]
    fn the_version_never_changes_a_decision(event in any_event(), facts in any_facts()) {
        let decide_as = |version| {
            format!("{:?}", decide(&ctx(version, Admission::Known), &policy(), &event, &facts, now()))
        };
        prop_assert_eq!(decide_as(OcppVersion::V16), decide_as(OcppVersion::V201));
    }

    /// 2.0.1 B02.FR.09, 1.6 §4.2: a Pending charger's other messages are refused and
    /// leave nothing behind.
    #[test]
    fn a_pending_charger_only_boots_and_keeps_alive(event in any_event(), facts in any_facts()) {
        let result = decide(&ctx(OcppVersion::V201, Admission::Pending), &policy(), &event, &facts, now());
        match event {
            ChargerEvent::Boot { .. } | ChargerEvent::Heartbeat => prop_assert!(result.is_ok()),
            _ => prop_assert!(matches!(result, Err(CsmsError::NotAccepted)), "{:?}", result),
        }
    }

    /// The reply acknowledges a record: every accepted event but a question (Authorize)
    /// writes something before it is answered.
    #[test]
    fn every_acknowledged_event_leaves_a_record(event in any_event(), facts in any_facts()) {
        if let Ok(decision) = decide(&known(), &policy(), &event, &facts, now()) {
            let question = matches!(event, ChargerEvent::Authorize { .. });
            prop_assert_eq!(decision.writes.is_empty(), question, "{:?}", decision);
        }
    }

    /// A token's answer is the local list's, whichever event carries it.
    #[test]
    fn a_tokens_answer_is_the_local_lists(tx in any_tx_event(), facts in any_facts()) {
        let event = ChargerEvent::Transaction(tx.clone());
        let Ok(decision) = decide(&known(), &policy(), &event, &facts, now()) else {
            return Ok(());
        };
        let info = match decision.reply {
            Reply::Ready(EventReply::Transaction { info, .. }) | Reply::WithAssignedId { info } => info,
            other => panic!("a transaction event answered with {other:?}"),
        };
        let want = tx.id_token.map(|_| rules::authorize(facts.token.as_ref(), false, now()));
        prop_assert_eq!(info, want);
    }
}

#[test]
fn a_charger_accepted_at_run_time_may_not_charge_until_it_is_in_the_site_file() {
    // In no circuit, nothing limits or counts its draw (S1): every card is refused on it,
    // in Authorize and in a transaction start, while a known charger takes the same card.
    let facts = Facts {
        token: Some(token("accepted")),
        ..Facts::default()
    };
    let authorize = ChargerEvent::Authorize {
        id_token: IdToken {
            id: "CARD".into(),
            kind: None,
        },
    };
    let status = |admission, event: &ChargerEvent| {
        let decision = decide(
            &ctx(OcppVersion::V16, admission),
            &policy(),
            event,
            &facts,
            now(),
        )
        .unwrap();
        match decision.reply {
            Reply::Ready(EventReply::Authorize { info }) => info.status,
            Reply::WithAssignedId { info: Some(info) } => info.status,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        status(Admission::Known, &authorize),
        AuthorizationStatus::Accepted
    );
    assert_eq!(
        status(Admission::Accepted, &authorize),
        AuthorizationStatus::Invalid
    );
    let start = ChargerEvent::Transaction(TransactionEvent {
        id_token: Some(IdToken {
            id: "CARD".into(),
            kind: None,
        }),
        meter_wh: Some(0.0),
        ..TransactionEvent::bare(TxPhase::Started, None, now())
    });
    assert_eq!(
        status(Admission::Known, &start),
        AuthorizationStatus::Accepted
    );
    assert_eq!(
        status(Admission::Accepted, &start),
        AuthorizationStatus::Invalid
    );
}

#[test]
fn sign_certificate_is_accepted_only_when_a_ca_key_is_configured() {
    let event = ChargerEvent::SignCertificate {
        csr: "-----BEGIN CERTIFICATE REQUEST-----".into(),
        kind: None,
    };
    let known = ctx(OcppVersion::V201, Admission::Known);
    let answer = |policy: &RegistrationPolicy| {
        let decision = decide(&known, policy, &event, &Facts::default(), now()).unwrap();
        decision.reply.complete(None).unwrap()
    };
    assert_eq!(
        answer(&policy()),
        EventReply::SignCertificate { accepted: false }
    );
    let signing = RegistrationPolicy {
        signs_certificates: true,
        ..policy()
    };
    assert_eq!(
        answer(&signing),
        EventReply::SignCertificate { accepted: true }
    );
}
