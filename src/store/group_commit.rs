//! The store thread's loop: group commit, one SQLite transaction per batch.
//!
//! Every job used to be its own synced commit, so the store thread answered at most one
//! fsync's worth of records at a time (about 1,100 per second on the build VM,
//! BENCHMARKS.md). Then the thread batched the queued jobs and shared one sync, but each
//! job still committed on its own: ~15 WAL writes and ~23 lock calls per message. Now the
//! thread takes every job already queued (up to `MAX_BATCH_JOBS`), opens one transaction
//! (BEGIN IMMEDIATE), runs each job inside its own savepoint, commits once (under
//! `synchronous = FULL`: that commit syncs the WAL) and only then sends every job's
//! answer. A CALLRESULT still means durable: no answer leaves before the commit that
//! covers it.
//!
//! A job that fails (returns an error) is rolled back to its savepoint: its writes are
//! undone, its neighbours' are kept. Jobs therefore must not BEGIN themselves (SQLite
//! refuses BEGIN inside a transaction): they use `Connection::savepoint`, which nests here
//! and is a transaction of its own when run alone. When SQLite itself rolls back the
//! whole transaction (some I/O, full-disk or out-of-memory errors do), the jobs already run
//! in it lost their writes: they get an error, and the rest of the batch goes on in a new
//! transaction.

use std::sync::mpsc;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// At most this many jobs share one commit: every answer of a batch waits for its last
/// job, so the cap bounds how long a long queue can hold back the first job's answer (256
/// jobs of about 0.1 ms each: a few tens of ms).
pub(super) const MAX_BATCH_JOBS: usize = 256;

/// Each job's savepoint; distinct from rusqlite's own (`_rusqlite_sp`), which jobs nest
/// inside it.
const JOB_SAVEPOINT: &str = "group_commit_job";

/// A queued call: runs on the store thread and gives back the answer to send once the
/// batch is durable, and whether it succeeded (a failed job's writes are rolled back).
pub(super) struct Job(Box<Run>);

/// A job's work: its answer, and whether it succeeded.
type Run = dyn FnOnce(&mut Connection) -> (Answer, bool) + Send;

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
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |not_durable: Option<&str>| {
                let result = match not_durable {
                    Some(why) => Err(StoreError::Sync(why.to_string())),
                    None => result,
                };
                // The receiver may be gone (the caller was cancelled); the work is done.
                let _ = tx.send(result);
            });
            (answer, ok)
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

/// A job's answer and, once known, why it cannot be trusted (its writes were lost).
struct Pending {
    answer: Answer,
    lost: Option<String>,
}

/// Runs `batch` in one transaction, commits it, then answers every job.
fn run_batch(conn: &mut Connection, batch: Vec<Job>) {
    let mut pending: Vec<Pending> = Vec::with_capacity(batch.len());
    // A job that changed rows is a write for `/metrics`; its latency runs until the
    // commit that made it durable.
    let mut writes: Vec<Instant> = Vec::new();
    // If BEGIN fails (another process holds the write lock past the busy timeout), the
    // jobs run as they would alone: each statement or savepoint its own synced commit.
    // `open`: the index of the first answer since the current transaction began: what a
    // rollback of the whole transaction takes with it.
    let mut open = begin(conn, 0);
    for Job(job) in batch {
        let (changes, started) = (conn.total_changes(), Instant::now());
        let in_savepoint = open.is_some() && conn.execute_batch(&savepoint_sql()).is_ok();
        let (answer, ok) = job(conn);
        pending.push(Pending { answer, lost: None });
        if conn.total_changes() != changes {
            writes.push(started);
        }
        if let Some(since) = open {
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back under this job: every job
                // since BEGIN, this one included, lost its writes.
                lose(
                    &mut pending[since..],
                    "the batch's transaction was rolled back",
                );
                open = begin(conn, pending.len());
            } else if in_savepoint {
                end_savepoint(conn, ok);
            }
        }
    }
    if let Some(since) = open
        && let Err(e) = conn.execute_batch("COMMIT")
    {
        let why = format!("the batch's commit failed: {e}");
        tracing::error!("store: {why}");
        // COMMIT can fail and leave the transaction open (SQLITE_BUSY): end it.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        lose(&mut pending[since..], &why);
    }
    for started in writes {
        crate::telemetry::store_write(started.elapsed());
    }
    for p in pending {
        (p.answer)(p.lost.as_deref());
    }
}

fn savepoint_sql() -> String {
    format!("SAVEPOINT {JOB_SAVEPOINT}")
}

/// Opens the batch's transaction; `since` is the index of the next job's answer.
fn begin(conn: &Connection, since: usize) -> Option<usize> {
    match conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => Some(since),
        Err(e) => {
            tracing::warn!("store: cannot begin a batch transaction, jobs commit alone: {e}");
            None
        }
    }
}

/// Keeps a successful job's writes in the batch, or undoes a failed job's.
fn end_savepoint(conn: &Connection, ok: bool) {
    let sql = if ok {
        format!("RELEASE {JOB_SAVEPOINT}")
    } else {
        format!("ROLLBACK TO {JOB_SAVEPOINT}; RELEASE {JOB_SAVEPOINT}")
    };
    if let Err(e) = conn.execute_batch(&sql) {
        // Only possible when a job released or rolled back past its own savepoint
        // (a bug in that job); its neighbours' writes are still in the transaction.
        tracing::error!("store: ending a job's savepoint: {e}");
    }
}

fn lose(pending: &mut [Pending], why: &str) {
    for p in pending {
        p.lost.get_or_insert_with(|| why.to_string());
    }
}

#[cfg(test)]
mod tests;
