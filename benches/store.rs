//! `cargo bench --bench store`: what acknowledging a record costs, with the durability
//! chargegate uses (WAL, `synchronous = FULL`: a record is on disk before its CALLRESULT)
//! against `synchronous = NORMAL` (WAL; survives a process kill, may lose the last
//! commits on power loss). Each run writes 2,000 2.0.1 TransactionEvents with three
//! samples each, one at a time and each awaited, as a charger connection does, to a
//! database file in the system temp folder; prints events per second and the median and
//! 99th-percentile time per acknowledged event. BENCHMARKS.md records the results.

use std::time::Instant;

use chargegate::ocpp::model::{EvseRef, MeterSample, TransactionEvent, TxKey, TxPhase};
use chargegate::store::{self, Store};
use chrono::{Duration, TimeZone, Utc};

const EVENTS: usize = 2_000;

fn event(seq_no: u32) -> TransactionEvent {
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
        + Duration::seconds(i64::from(seq_no) * 10);
    let sample = |measurand: &str, phase: Option<&str>, value: f64, unit: &str| MeterSample {
        timestamp: at,
        measurand: measurand.into(),
        phase: phase.map(Into::into),
        value,
        unit: Some(unit.into()),
        context: Some("Sample.Periodic".into()),
        location: None,
    };
    TransactionEvent {
        phase: if seq_no == 0 {
            TxPhase::Started
        } else {
            TxPhase::Updated
        },
        tx: Some(TxKey::Charger(format!("bench-{}", seq_no / 100))),
        seq_no: Some(seq_no),
        evse: Some(EvseRef {
            evse_id: 1,
            connector_id: Some(1),
        }),
        id_token: None,
        timestamp: at,
        meter_wh: None,
        stop_reason: None,
        trigger_reason: Some("MeterValuePeriodic".into()),
        charging_state: Some("Charging".into()),
        offline: false,
        reservation_id: None,
        signed: Vec::new(),
        samples: vec![
            sample(
                "Energy.Active.Import.Register",
                None,
                f64::from(seq_no) * 30.0,
                "Wh",
            ),
            sample("Current.Import", Some("L1"), 16.0, "A"),
            sample("Power.Active.Import", None, 11_000.0, "W"),
        ],
    }
}

async fn run(synchronous: &'static str) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("bench.db")).expect("store");
    store
        .call(move |c| Ok(c.pragma_update(None, "synchronous", synchronous)?))
        .await
        .expect("pragma");
    let mut times = Vec::with_capacity(EVENTS);
    let started = Instant::now();
    for seq_no in 0..EVENTS as u32 {
        let e = event(seq_no);
        let t = Instant::now();
        store
            .call(move |c| {
                let write = store::transaction_event(
                    c,
                    "CS-1",
                    &e,
                    e.samples.first().map(|s| s.value),
                    e.timestamp,
                )?;
                store::add_samples(c, "CS-1", 1, Some(write.id), &e.samples)?;
                Ok(())
            })
            .await
            .expect("write");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let per_s = EVENTS as f64 / started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    (per_s, times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("| synchronous | events/s | median ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for mode in ["FULL", "NORMAL", "FULL", "NORMAL"] {
        let (per_s, median, p99) = rt.block_on(run(mode));
        println!("| {mode} | {per_s:.0} | {median:.2} | {p99:.2} |");
    }
}
