use rusqlite_migration::{M, Migrations};

use super::*;
use crate::config::Tariff;
use crate::ocpp::model::MeterSample;
use crate::store::schema::{self, MIGRATIONS};
use crate::store::{
    TokenRecord, add_samples, charger_connected, charger_disconnected, replace_config_tokens,
    start_transaction_assigning_id, stop_transaction_by_assigned_id, token_has_open_transaction,
    transaction_register,
};

fn conn() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    schema::prepare(&mut c).unwrap();
    c
}

fn t(s: &str) -> DateTime<Utc> {
    parse(s).unwrap()
}

fn register(at: &str, wh: f64) -> MeterSample {
    MeterSample {
        timestamp: t(at),
        measurand: "Energy.Active.Import.Register".into(),
        phase: None,
        value: wh,
        unit: Some("Wh".into()),
        context: Some("Sample.Periodic".into()),
        location: None,
    }
}

fn signed(at: &str, context: &str, data: &str) -> SignedReading {
    SignedReading {
        timestamp: t(at),
        measurand: "Energy.Active.Import.Register".into(),
        context: Some(context.into()),
        phase: None,
        location: Some("Outlet".into()),
        value: Some(1000.0),
        data: data.into(),
        signing_method: Some("ECDSA-secp256r1-SHA256".into()),
        encoding_method: Some("OCMF".into()),
        public_key: Some("MFkw...".into()),
    }
}

fn tariff() -> Planner {
    // 0.10 from 00:00 to 06:00 UTC, 0.40 from 17:00 to 21:00, 0.30 otherwise.
    Planner {
        default_price_per_kwh: 0.30,
        tariffs: vec![
            Tariff {
                from_min: 0,
                to_min: 6 * 60,
                price_per_kwh: 0.10,
            },
            Tariff {
                from_min: 17 * 60,
                to_min: 21 * 60,
                price_per_kwh: 0.40,
            },
        ],
        ..Planner::default()
    }
}

fn all(c: &Connection) -> Vec<BillingRecord> {
    let filter = BillingFilter {
        limit: 100,
        ..BillingFilter::default()
    };
    billing_records(c, &filter, Some(&tariff())).unwrap()
}

#[test]
fn the_cost_follows_the_tariff_reading_by_reading() {
    let p = tariff();
    // 2 kWh drawn 16:00-17:00 at 0.30, 3 kWh 17:00-18:00 at 0.40.
    let points = [
        (t("2026-11-24T16:00:00Z"), 10_000.0),
        (t("2026-11-24T17:00:00Z"), 12_000.0),
        (t("2026-11-24T18:00:00Z"), 15_000.0),
    ];
    assert!((session_cost(&points, &p) - (2.0 * 0.30 + 3.0 * 0.40)).abs() < 1e-9);
    // Only start and stop: 4 kWh spread evenly over 16:00-18:00, half in each window.
    let ends = [points[0], (t("2026-11-24T18:00:00Z"), 14_000.0)];
    assert!((session_cost(&ends, &p) - (2.0 * 0.30 + 2.0 * 0.40)).abs() < 1e-9);
    // Across midnight: 22:00-02:00, 8 kWh: 2 h at 0.30, 2 h at 0.10.
    let night = [
        (t("2026-11-24T22:00:00Z"), 0.0),
        (t("2026-11-25T02:00:00Z"), 8_000.0),
    ];
    assert!((session_cost(&night, &p) - (4.0 * 0.30 + 4.0 * 0.10)).abs() < 1e-9);
    // Without windows: one price; energy that went backwards costs nothing.
    let flat = Planner::default();
    let back = [
        (t("2026-11-24T10:00:00Z"), 5_000.0),
        (t("2026-11-24T11:00:00Z"), 4_000.0),
    ];
    assert_eq!(session_cost(&back, &flat), 0.0);
}

#[test]
fn glitched_readings_are_left_out_so_the_priced_energy_is_the_sessions() {
    let start = (t("2026-11-24T10:00:00Z"), 1_000.0);
    let stop = (t("2026-11-24T12:00:00Z"), 3_000.0);
    let readings = [
        (t("2026-11-24T09:00:00Z"), 900.0),    // before the start
        (t("2026-11-24T10:30:00Z"), 1_500.0),  // kept
        (t("2026-11-24T10:45:00Z"), 1_200.0),  // went backwards
        (t("2026-11-24T11:00:00Z"), 99_000.0), // beyond the stop
        (t("2026-11-24T11:30:00Z"), 2_500.0),  // kept
    ];
    let points = billing_points(start, &readings, stop);
    assert_eq!(points.len(), 4, "{points:?}");
    let energy: f64 = points.windows(2).map(|w| w[1].1 - w[0].1).sum();
    assert_eq!(energy, 2_000.0);
}

#[test]
fn a_boot_closes_open_transactions_at_their_last_reading_and_a_late_stop_corrects_it() {
    let mut c = conn();
    let start = t("2026-11-24T10:00:00Z");
    let tx = start_transaction_assigning_id(&mut c, "CP-1", 1, "CARD", 1000.0, start, start)
        .unwrap()
        .id;
    add_samples(
        &mut c,
        "CP-1",
        1,
        Some(tx),
        &[register("2026-11-24T10:15:00Z", 2500.0)],
    )
    .unwrap();
    transaction_register(&c, tx, 2500.0, start).unwrap();
    let other = start_transaction_assigning_id(&mut c, "CP-2", 1, "CARD2", 0.0, start, start)
        .unwrap()
        .id;

    let boot = t("2026-11-24T11:00:00Z");
    let closed =
        close_open_transactions(&c, "CP-1", None, None, "Reboot", ClosedBy::Boot, boot).unwrap();
    assert_eq!(closed, [tx], "only the booted charger's transactions");
    let r = &all(&c)[0];
    assert_eq!(
        (
            r.status.as_str(),
            r.closed_by.as_deref(),
            r.stop_reason.as_deref()
        ),
        ("closed", Some("boot"), Some("Reboot"))
    );
    assert_eq!(r.stopped_at.as_deref(), Some("2026-11-24T10:15:00.000Z"));
    assert_eq!((r.meter_stop_wh, r.energy_wh), (Some(2500.0), Some(1500.0)));
    assert_eq!(
        all(&c)[1].status,
        "open",
        "CP-2's transaction {other} goes on"
    );

    // The charger's own StopTransaction arrives after its boot: its values win, once.
    let stopped = t("2026-11-24T10:20:00Z");
    let late = stop_transaction_by_assigned_id(
        &mut c,
        "CP-1",
        tx,
        2800.0,
        stopped,
        Some("PowerLoss"),
        boot,
    )
    .unwrap()
    .unwrap();
    assert!(!late.duplicate);
    let r = &all(&c)[0];
    assert_eq!(
        (
            r.closed_by.as_deref(),
            r.stop_reason.as_deref(),
            r.energy_wh
        ),
        (Some("charger"), Some("PowerLoss"), Some(1800.0))
    );
    let again =
        stop_transaction_by_assigned_id(&mut c, "CP-1", tx, 9999.0, stopped, Some("Local"), boot)
            .unwrap()
            .unwrap();
    assert!(again.duplicate, "a resent stop changes nothing");
    assert_eq!(all(&c)[0].energy_wh, Some(1800.0));
}

#[test]
fn a_new_transaction_closes_only_older_ones_on_its_connector_and_a_reading_reopens() {
    let mut c = conn();
    let at = t("2026-11-24T10:00:00Z");
    let old1 = start_transaction_assigning_id(&mut c, "CP-1", 1, "A", 0.0, at, at)
        .unwrap()
        .id;
    let old2 = start_transaction_assigning_id(&mut c, "CP-1", 2, "B", 0.0, at, at)
        .unwrap()
        .id;
    let new1 = start_transaction_assigning_id(&mut c, "CP-1", 1, "A", 10.0, at, at)
        .unwrap()
        .id;
    let closed = close_open_transactions(
        &c,
        "CP-1",
        Some(1),
        Some(new1),
        "Other",
        ClosedBy::NewTransaction,
        at,
    )
    .unwrap();
    assert_eq!(closed, [old1]);
    let status = |c: &Connection| {
        all(c)
            .iter()
            .map(|r| (r.id, r.status.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        status(&c),
        [
            (old1, "closed".to_string()),
            (old2, "open".to_string()),
            (new1, "open".to_string())
        ]
    );
    // The charger reports on the old one after all: it was running, open again.
    transaction_register(&c, old1, 50.0, at).unwrap();
    assert_eq!(status(&c)[0], (old1, "open".to_string()));
    assert_eq!(all(&c)[0].closed_by, None);
}

#[test]
fn a_stale_transaction_on_a_charger_that_is_gone_does_not_make_the_card_busy() {
    let mut c = conn();
    let at = t("2026-11-24T10:00:00Z");
    charger_connected(&c, "CP-1", "ocpp1.6", at).unwrap();
    start_transaction_assigning_id(&mut c, "CP-1", 1, "CARD", 0.0, at, at).unwrap();
    assert!(token_has_open_transaction(&c, "CARD").unwrap());
    charger_disconnected(&c, "CP-1", at).unwrap();
    assert!(!token_has_open_transaction(&c, "CARD").unwrap());
}

/// Three sessions of 2 kWh, an hour each: CP-1 and CP-2 in November with CARD (group
/// `fleet-a`), CP-1 in December with OTHER. Their ids, oldest first.
fn three_sessions(c: &mut Connection) -> Vec<i64> {
    replace_config_tokens(
        c,
        &[TokenRecord {
            id: "CARD".into(),
            status: "accepted".into(),
            expires: None,
            group: Some("fleet-a".into()),
        }],
    )
    .unwrap();
    let mut ids = Vec::new();
    for (charger, token, start) in [
        ("CP-1", "CARD", "2026-11-01T10:00:00Z"),
        ("CP-2", "CARD", "2026-11-15T10:00:00Z"),
        ("CP-1", "OTHER", "2026-12-01T10:00:00Z"),
    ] {
        let at = t(start);
        let id = start_transaction_assigning_id(c, charger, 1, token, 1000.0, at, at)
            .unwrap()
            .id;
        stop_transaction_by_assigned_id(c, charger, id, 3000.0, at + Duration::hours(1), None, at)
            .unwrap();
        ids.push(id);
    }
    ids
}

#[test]
fn billing_records_filter_by_charger_token_and_time_and_page_by_cursor() {
    let mut c = conn();
    let ids = three_sessions(&mut c);
    let read = |filter: BillingFilter| {
        billing_records(
            &c,
            &BillingFilter {
                limit: 10,
                ..filter
            },
            Some(&tariff()),
        )
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(read(BillingFilter::default()), ids);
    let cp1 = Some("CP-1".to_string());
    assert_eq!(
        read(BillingFilter {
            charger: cp1,
            ..Default::default()
        }),
        [ids[0], ids[2]]
    );
    let card = Some("CARD".to_string());
    assert_eq!(
        read(BillingFilter {
            id_token: card,
            ..Default::default()
        }),
        [ids[0], ids[1]]
    );
    let november = BillingFilter {
        from: Some(t("2026-11-01T00:00:00Z")),
        to: Some(t("2026-12-01T00:00:00Z")),
        ..Default::default()
    };
    assert_eq!(read(november.clone()), [ids[0], ids[1]]);
    let page = BillingFilter {
        limit: 1,
        ..november.clone()
    };
    let first = billing_records(&c, &page, None).unwrap();
    assert_eq!(first.len(), 1);
    let next = BillingFilter {
        after: Some(first[0].id),
        ..november
    };
    assert_eq!(read(next), [ids[1]]);
}

#[test]
fn a_billing_record_carries_the_group_the_cost_and_the_signed_values_verbatim() {
    let mut c = conn();
    let ids = three_sessions(&mut c);
    let sig = [
        signed(
            "2026-11-01T10:00:00Z",
            "Transaction.Begin",
            "OCMF|{\"RD\":[1]}|{}",
        ),
        signed(
            "2026-11-01T11:00:00Z",
            "Transaction.End",
            "OCMF|{\"RD\":[3]}|{}",
        ),
    ];
    assert_eq!(
        add_signed(&mut c, "CP-1", 1, Some(ids[0]), &sig).unwrap(),
        2
    );
    assert_eq!(
        add_signed(&mut c, "CP-1", 1, Some(ids[0]), &sig).unwrap(),
        0
    );

    let r = billing_record(&c, ids[0], Some(&tariff()))
        .unwrap()
        .unwrap();
    assert_eq!(r.id_token_group.as_deref(), Some("fleet-a"));
    assert_eq!(r.energy_wh, Some(2000.0));
    // 2 kWh, 10:00-11:00 UTC at the default 0.30.
    assert!((r.cost.unwrap() - 0.60).abs() < 1e-9, "{:?}", r.cost);
    assert_eq!(r.signed.len(), 2);
    assert_eq!(r.signed[1].data, "OCMF|{\"RD\":[3]}|{}");
    assert_eq!(r.signed[1].encoding_method.as_deref(), Some("OCMF"));
    assert_eq!(
        billing_record(&c, ids[0], None).unwrap().unwrap().cost,
        None
    );
    assert_eq!(billing_record(&c, 999, None).unwrap(), None);
}

#[test]
fn an_existing_database_is_upgraded_without_losing_a_transaction() {
    let mut c = Connection::open_in_memory().unwrap();
    let before = Migrations::new(MIGRATIONS[..5].iter().map(|sql| M::up(sql)).collect());
    before.to_latest(&mut c).unwrap();
    c.execute_batch(
        "INSERT INTO id_tokens (id, status, group_id, source) VALUES ('CARD', 'accepted', 'g', 'config');
         INSERT INTO transactions (charger_id, ocpp_tx_id, id_token, started_at, meter_start_wh,
            stopped_at, meter_stop_wh, energy_wh, stop_reason, status, updated_at)
         VALUES ('CP-1', '1', 'CARD', '2026-11-01T10:00:00.000Z', 100, '2026-11-01T11:00:00.000Z',
            600, 500, 'Local', 'closed', '2026-11-01T11:00:00.000Z'),
                ('CP-1', '2', 'CARD', '2026-11-02T10:00:00.000Z', 100, NULL, NULL, NULL, NULL,
            'open', '2026-11-02T10:00:00.000Z');",
    )
    .unwrap();
    schema::prepare(&mut c).unwrap();
    let records = all(&c);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].closed_by.as_deref(), Some("charger"));
    assert_eq!(records[0].energy_wh, Some(500.0));
    assert_eq!(records[0].id_token_group.as_deref(), Some("g"));
    assert_eq!(
        (records[1].status.as_str(), records[1].closed_by.as_deref()),
        ("open", None)
    );
}
