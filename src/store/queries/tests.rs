use super::*;
use crate::ocpp::model::{EvseRef, IdToken};
use crate::store::schema;

fn conn() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    schema::prepare(&mut c).unwrap();
    c
}

fn t(s: &str) -> DateTime<Utc> {
    crate::ocpp::time::parse(s).unwrap()
}

fn event(phase: TxPhase, seq_no: u32, register: f64) -> (TransactionEvent, f64) {
    let ev = TransactionEvent {
        seq_no: Some(seq_no),
        evse: Some(EvseRef {
            evse_id: 1,
            connector_id: Some(1),
        }),
        id_token: Some(IdToken {
            id: "CARD".into(),
            kind: Some("ISO14443".into()),
        }),
        stop_reason: (phase == TxPhase::Ended).then(|| "EVDisconnected".into()),
        ..TransactionEvent::bare(
            phase,
            Some(TxKey::Charger("tx-1".into())),
            t("2026-11-24T10:00:00Z") + chrono::Duration::minutes(i64::from(seq_no)),
        )
    };
    (ev, register)
}

#[test]
fn v16_start_resend_returns_the_same_transaction_id() {
    let mut c = conn();
    let now = t("2026-11-24T10:00:00Z");
    let first =
        start_transaction_assigning_id(&mut c, "CP-1", 1, "CARD", 1000.0, now, now).unwrap();
    let again =
        start_transaction_assigning_id(&mut c, "CP-1", 1, "CARD", 1000.0, now, now).unwrap();
    assert_eq!(
        first,
        TxWrite {
            id: first.id,
            duplicate: false
        }
    );
    assert_eq!(
        again,
        TxWrite {
            id: first.id,
            duplicate: true
        }
    );
    let other =
        start_transaction_assigning_id(&mut c, "CP-2", 1, "CARD", 1000.0, now, now).unwrap();
    assert_ne!(
        other.id, first.id,
        "another charger's session gets its own id"
    );
    assert_eq!(
        find_transaction(&c, "CP-1", &TxKey::Csms(first.id)).unwrap(),
        Some(first.id)
    );
}

#[test]
fn v16_stop_closes_once_and_computes_energy() {
    let mut c = conn();
    let now = t("2026-11-24T10:00:00Z");
    let start =
        start_transaction_assigning_id(&mut c, "CP-1", 1, "CARD", 1000.0, now, now).unwrap();
    let stop = stop_transaction_by_assigned_id(
        &mut c,
        "CP-1",
        start.id,
        8500.0,
        now,
        Some("EVDisconnected"),
        now,
    )
    .unwrap();
    assert_eq!(
        stop,
        Some(TxWrite {
            id: start.id,
            duplicate: false
        })
    );
    let resent =
        stop_transaction_by_assigned_id(&mut c, "CP-1", start.id, 9999.0, now, None, now).unwrap();
    assert_eq!(
        resent,
        Some(TxWrite {
            id: start.id,
            duplicate: true
        })
    );
    let record = transaction(&c, start.id).unwrap().unwrap();
    assert_eq!(record.status, "closed");
    assert_eq!(record.energy_wh, Some(7500.0));
    assert_eq!(record.stop_reason.as_deref(), Some("EVDisconnected"));
    assert_eq!(
        stop_transaction_by_assigned_id(&mut c, "CP-9", start.id, 1.0, now, None, now).unwrap(),
        None
    );
}

#[test]
fn v201_events_are_idempotent_by_seq_no() {
    let mut c = conn();
    let now = t("2026-11-24T10:00:00Z");
    let (started, _) = event(TxPhase::Started, 0, 0.0);
    let first = transaction_event(&mut c, "CS-1", &started, Some(2000.0), now).unwrap();
    assert!(!first.duplicate);
    let (updated, _) = event(TxPhase::Updated, 1, 0.0);
    transaction_event(&mut c, "CS-1", &updated, Some(5000.0), now).unwrap();
    let resend = transaction_event(&mut c, "CS-1", &updated, Some(7000.0), now).unwrap();
    assert_eq!(
        resend,
        TxWrite {
            id: first.id,
            duplicate: true
        }
    );
    let (ended, _) = event(TxPhase::Ended, 2, 0.0);
    transaction_event(&mut c, "CS-1", &ended, Some(9000.0), now).unwrap();
    let record = transaction(&c, first.id).unwrap().unwrap();
    assert_eq!(record.status, "closed");
    assert_eq!(record.meter_start_wh, Some(2000.0));
    assert_eq!(
        record.energy_wh,
        Some(7000.0),
        "the resent Updated's 7000 Wh is not used"
    );
    assert_eq!(record.id_token.as_deref(), Some("CARD"));
    assert_eq!(record.ocpp_tx_id.as_deref(), Some("tx-1"));
}

#[test]
fn resent_samples_are_not_stored_twice() {
    let mut c = conn();
    let now = t("2026-11-24T10:00:00Z");
    let start = start_transaction_assigning_id(&mut c, "CP-1", 1, "CARD", 0.0, now, now).unwrap();
    let samples: Vec<MeterSample> = ["L1", "L2", "L3"]
        .iter()
        .map(|p| MeterSample {
            timestamp: now,
            measurand: "Current.Import".into(),
            phase: Some((*p).into()),
            value: 16.0,
            unit: Some("A".into()),
            context: None,
            location: None,
        })
        .collect();
    assert_eq!(
        add_samples(&mut c, "CP-1", 1, Some(start.id), &samples).unwrap(),
        3
    );
    assert_eq!(
        add_samples(&mut c, "CP-1", 1, Some(start.id), &samples).unwrap(),
        0
    );
    assert_eq!(sample_count(&c, start.id).unwrap(), 3);
}

#[test]
fn config_tokens_are_replaced_without_touching_others() {
    let mut c = conn();
    let tok = |id: &str, status: &str| TokenRecord {
        id: id.into(),
        status: status.into(),
        expires: None,
        group: None,
    };
    c.execute(
        "INSERT INTO id_tokens (id, status, source) VALUES ('API1', 'accepted', 'api')",
        [],
    )
    .unwrap();
    replace_config_tokens(&mut c, &[tok("A", "accepted"), tok("B", "blocked")]).unwrap();
    replace_config_tokens(&mut c, &[tok("B", "accepted")]).unwrap();
    assert_eq!(token(&c, "A").unwrap(), None);
    assert_eq!(token(&c, "B").unwrap().unwrap().status, "accepted");
    assert!(token(&c, "API1").unwrap().is_some());
}

#[test]
fn an_open_transaction_comes_back_in_the_kind_of_id_its_charger_uses() {
    let mut c = conn();
    let now = t("2026-11-24T10:00:00Z");
    let v16 = start_transaction_assigning_id(&mut c, "CP-16", 2, "CARD", 0.0, now, now).unwrap();
    assert_eq!(
        open_transaction_of(&c, "CP-16").unwrap(),
        Some((2, TxKey::Csms(v16.id)))
    );
    // A 2.0.1 id that reads as a number stays the station's text.
    let (mut started, register) = event(TxPhase::Started, 0, 0.0);
    started.tx = Some(TxKey::Charger("0042".into()));
    transaction_event(&mut c, "CP-201", &started, Some(register), now).unwrap();
    assert_eq!(
        open_transaction_of(&c, "CP-201").unwrap(),
        Some((1, TxKey::Charger("0042".into())))
    );
    assert_eq!(open_transaction_of(&c, "CP-none").unwrap(), None);
}

#[test]
fn rows_from_before_the_id_kind_was_stored_get_their_kind_from_the_start_key() {
    // Schema 3 plus one row of each version, then migration 4.
    let mut c = Connection::open_in_memory().unwrap();
    let before = rusqlite_migration::Migrations::new(
        schema::MIGRATIONS[..3]
            .iter()
            .map(|sql| rusqlite_migration::M::up(sql))
            .collect(),
    );
    before.to_latest(&mut c).unwrap();
    c.execute_batch(
        "INSERT INTO transactions (charger_id, ocpp_tx_id, start_key, status, updated_at)
           VALUES ('CP-16', '7', '1|x|0|CARD', 'open', 'x');
         INSERT INTO transactions (charger_id, ocpp_tx_id, status, updated_at)
           VALUES ('CP-201', '0042', 'open', 'x');",
    )
    .unwrap();
    schema::prepare(&mut c).unwrap();
    assert_eq!(
        open_transaction_of(&c, "CP-16").unwrap(),
        Some((0, TxKey::Csms(7)))
    );
    assert_eq!(
        open_transaction_of(&c, "CP-201").unwrap(),
        Some((0, TxKey::Charger("0042".into())))
    );
}

#[test]
fn an_events_digest_is_its_content_and_is_stable_across_releases() {
    let (first, _) = event(TxPhase::Updated, 1, 0.0);
    let mut renumbered = first.clone();
    renumbered.seq_no = Some(7);
    assert_eq!(event_digest(&first), event_digest(&renumbered));
    let mut later = first.clone();
    later.timestamp += chrono::Duration::seconds(1);
    assert_ne!(event_digest(&first), event_digest(&later));
    // Stored in the database: a new release must compute the same digest.
    assert_eq!(event_digest(&first), "6a09c744b6b4df1b");
}
