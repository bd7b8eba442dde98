//! The store thread's loop: group commit.
//!
//! Every job used to be its own synced commit (synchronous = FULL), so the store thread
//! answered at most one fsync's worth of records at a time (about 1,100 per second on the
//! build VM, BENCHMARKS.md). Now the thread takes every job already queued (up to
//! `MAX_BATCH_JOBS`), runs them one after another with `synchronous = NORMAL` (each job's
//! commits are written to the WAL, in order, but not synced), then syncs the WAL once and
//! only then sends every job's answer. A CALLRESULT still means durable: no answer leaves
//! before the sync that covers its commit.
//!
//! Why not one SQLite transaction around the batch with a savepoint per job: jobs open
//! their own transactions (`Connection::transaction`, BEGIN IMMEDIATE; some outside the
//! store module, e.g. `upstream::records`), and SQLite refuses BEGIN inside a transaction.
//! Here every job runs exactly as it did alone — its own transactions, its own rollback
//! on failure, nothing of a failing job's neighbours undone — and only the sync is
//! shared. A job alone in its batch runs under FULL, as before, with no extra write.

use std::sync::mpsc;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// At most this many jobs share one sync: every answer of a batch waits for its last job,
/// so the cap bounds how long a long queue can hold back the first job's answer (256 jobs
/// of about 0.1 ms each: a few tens of ms).
pub(super) const MAX_BATCH_JOBS: usize = 256;

/// SQLite's `PRAGMA synchronous` values used here.
const FULL: i64 = 2;
const NORMAL: i64 = 1;

/// A queued call: runs on the store thread and gives back the answer to send once the
/// batch is durable.
pub(super) struct Job(Box<dyn FnOnce(&mut Connection) -> Answer + Send>);

/// A job's result, held until its batch is durable. Called with the reason when the
/// batch could not be made durable: then the caller gets that error instead.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

impl Job {
    pub(super) fn new<T, F>(f: F, tx: oneshot::Sender<Result<T, StoreError>>) -> Self
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        Self(Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |not_durable: Option<&str>| {
                let result = match not_durable {
                    Some(why) => Err(StoreError::Sync(why.to_string())),
                    None => result,
                };
                // The receiver may be gone (the caller was cancelled); the work is done.
                let _ = tx.send(result);
            })
        }))
    }
}

/// The store thread: batches until every `Store` handle (every sender) is dropped.
pub(super) fn serve(mut conn: Connection, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_JOBS {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch);
    }
}

/// Runs `batch`, makes it durable, then answers every job.
fn run_batch(conn: &mut Connection, batch: Vec<Job>) {
    // A lone job commits under FULL itself, as it always did. For several, NORMAL while
    // they run; if NORMAL cannot be set, they simply run under FULL (slower, as durable).
    let shared_sync = batch.len() > 1 && set_synchronous(conn, NORMAL).is_ok();
    let mut answers = Vec::with_capacity(batch.len());
    // (started, wrote) per job: a job that changed rows is a write for `/metrics`, and
    // its latency runs until the sync that made it durable.
    let mut writes: Vec<Instant> = Vec::new();
    let changes_before = conn.total_changes();
    for Job(job) in batch {
        let (changes, started) = (conn.total_changes(), Instant::now());
        answers.push(job(conn));
        if conn.total_changes() != changes {
            writes.push(started);
        }
    }
    let failure = if shared_sync {
        make_durable(conn, conn.total_changes() != changes_before)
            .err()
            .map(|e| e.to_string())
    } else {
        None
    };
    if let Some(why) = &failure {
        tracing::error!("store: the batch's commits could not be synced: {why}");
    }
    for started in writes {
        crate::telemetry::store_write(started.elapsed());
    }
    for answer in answers {
        answer(failure.as_deref());
    }
}

fn set_synchronous(conn: &Connection, level: i64) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", level)
}

/// Back to FULL, then, if the batch wrote, one synced commit: syncing the WAL file makes
/// every frame before it durable too, so the batch's unsynced commits are now as safe as
/// if each had been synced.
fn make_durable(conn: &Connection, wrote: bool) -> rusqlite::Result<()> {
    set_synchronous(conn, FULL)?;
    if wrote {
        // The smallest write SQLite always commits: the header's user_version, set to the
        // value it has (rusqlite_migration's schema version, so nothing changes). Under
        // FULL its commit syncs the WAL.
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        conn.pragma_update(None, "user_version", version)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
