//! `--mode soak` (or `--soak`): N chargers for the window, each in a loop of connect,
//! boot, start a transaction, MeterValues every second for a random 5-30 s, then either a
//! clean stop and close or a close with the transaction still open, and again. chargegate's
//! resident memory is sampled every 10 s. At the end the daemon is killed (SIGKILL: no
//! chance to flush anything) and its database opened read-only: every record a charger got
//! an answer for (each StartTransaction / TransactionEvent Started, each MeterValues /
//! TransactionEvent Updated, each StopTransaction / TransactionEvent Ended) must be there.

use std::time::{Duration, Instant};

use chargegate::sim::SimOptions;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::task::JoinSet;

use crate::load::{self, Mix};
use crate::target::{self, PASSWORD, Target};

/// Between two memory samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Between two MeterValues of a charger in a transaction.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// A session lasts between these many reports (one a second), uniformly.
const MIN_REPORTS: u64 = 5;
const MAX_REPORTS: u64 = 30;
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What one charger got acknowledged in one transaction.
#[derive(Debug, Default)]
struct Acked {
    charger: String,
    /// 1.6: the CSMS's transactionId; 2.0.1: the charger's id.
    tx: String,
    readings: u64,
    stopped: bool,
}

/// A small deterministic generator (xorshift64*): the bench needs spread, not quality.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Runs the soak and prints the memory series and the store check; fails when a record a
/// charger got acknowledged is missing.
pub fn soak(
    runtime: &tokio::runtime::Runtime,
    mut target: Target,
    ids: &[String],
    mix: Mix,
    window: Duration,
    ticks_per_s: u64,
) -> Result<(), String> {
    let pid = target.pid();
    println!(
        "\n== chargegate soak, {} chargers for {:.0} s (pid {pid})",
        ids.len(),
        window.as_secs_f64()
    );
    let ends = Instant::now() + window;
    let mut tasks = JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (url, id) = (target.url.clone(), id.clone());
        let version = mix.version_of(i);
        tasks.spawn_on(
            charger_loop(url, id, version, i as u64 + 1, ends),
            runtime.handle(),
        );
    }
    let started = Instant::now();
    let mut series = Vec::new();
    while Instant::now() < ends {
        let s = target::proc_stats(pid, ticks_per_s)?;
        println!(
            "t = {:4.0} s: VmRSS {:.1} MiB, CPU {:.1} s",
            started.elapsed().as_secs_f64(),
            s.rss_kib as f64 / 1024.0,
            s.cpu.as_secs_f64()
        );
        series.push(s.rss_kib);
        std::thread::sleep(SAMPLE_EVERY.min(ends.saturating_duration_since(Instant::now())));
    }
    let mut acked = Vec::new();
    let mut errors = 0;
    runtime.block_on(async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((records, failures)) => {
                    acked.extend(records);
                    errors += failures;
                }
                Err(_) => errors += 1,
            }
        }
    });
    let store = target.store().ok_or("no store")?;
    target.kill();
    print_memory(&series);
    check_store(&store, &acked, errors).map_err(|e| format!("{e}\n{}", target.log_tail()))
}

fn print_memory(series: &[u64]) {
    let third = series.len() / 3;
    if third == 0 {
        return;
    }
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len() as f64 / 1024.0;
    println!(
        "memory: first third {:.1} MiB mean, last third {:.1} MiB mean, highest {:.1} MiB",
        mean(&series[..third]),
        mean(&series[series.len() - third..]),
        *series.iter().max().unwrap_or(&0) as f64 / 1024.0
    );
}

/// One charger's sessions until `ends`: every acknowledged record, and how many calls
/// failed (a failed call ends its session; the charger reconnects).
async fn charger_loop(
    url: String,
    id: String,
    version: chargegate::ocpp::model::OcppVersion,
    seed: u64,
    ends: Instant,
) -> (Vec<Acked>, u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (mut records, mut failures) = (Vec::new(), 0);
    let mut energy_wh = 0i64;
    while Instant::now() < ends {
        let mut opts = SimOptions::new(&url, id.clone(), &[version]);
        opts.password = Some(PASSWORD.into());
        opts.call_timeout = CALL_TIMEOUT;
        let Ok(ready) = load::prepare_one(opts).await else {
            failures += 1;
            continue;
        };
        let mut acked = Acked {
            charger: id.clone(),
            tx: ready.tx.clone(),
            ..Acked::default()
        };
        let reports = MIN_REPORTS + rng.below(MAX_REPORTS - MIN_REPORTS + 1);
        for _ in 0..reports {
            if Instant::now() >= ends {
                break;
            }
            tokio::time::sleep(REPORT_EVERY).await;
            energy_wh += 10;
            match ready
                .sim
                .meter_values(1, &ready.tx, energy_wh as f64, &[16.0; 3])
                .await
            {
                Ok(_) => acked.readings += 1,
                Err(_) => {
                    failures += 1;
                    break;
                }
            }
        }
        // Half the sessions end cleanly, half by a close with the transaction open.
        if rng.below(2) == 0 {
            let stop = ready
                .sim
                .stop_transaction(&ready.tx, energy_wh, "Local", chrono::Utc::now())
                .await;
            acked.stopped = stop.is_ok();
        }
        records.push(acked);
        load::close_all(vec![ready]).await;
    }
    (records, failures)
}

/// Every acknowledged record must be in the store.
fn check_store(path: &std::path::Path, acked: &[Acked], errors: u64) -> Result<(), String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    let (mut missing, mut readings, mut stops) = (Vec::new(), 0, 0);
    for a in acked {
        readings += a.readings;
        stops += u64::from(a.stopped);
        let row: Option<(i64, String)> = c
            .query_row(
                "SELECT id, status FROM transactions WHERE charger_id = ?1
                 AND (ocpp_tx_id = ?2 OR (ocpp_tx_id_by = 'csms' AND id = CAST(?2 AS INTEGER)))",
                params![a.charger, a.tx],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        let Some((row, status)) = row else {
            missing.push(format!("{} transaction {}: no row", a.charger, a.tx));
            continue;
        };
        let stored: i64 = c
            .query_row(
                "SELECT COUNT(DISTINCT ts) FROM samples WHERE transaction_id = ?1",
                [row],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        let stored = u64::try_from(stored).unwrap_or(0);
        // The start's own reading (1.6 meterStart is no sample) is not counted here.
        if stored < a.readings {
            missing.push(format!(
                "{} transaction {}: {stored} of {} readings",
                a.charger, a.tx, a.readings
            ));
        }
        if a.stopped && status == "open" {
            missing.push(format!(
                "{} transaction {}: stop acknowledged, still open",
                a.charger, a.tx
            ));
        }
    }
    println!(
        "store check: {} transactions, {readings} readings, {stops} stops acknowledged; \
         {} missing; {errors} calls failed or sessions broke off",
        acked.len(),
        missing.len()
    );
    for m in missing.iter().take(10) {
        println!("  missing: {m}");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} acknowledged records are not in the store",
            missing.len()
        ))
    }
}
