//! A second connection, read-only, on a thread of its own: reads that stand between a
//! decision and the wire must not queue behind the writer's commits.
//!
//! The writer thread (`group_commit`) runs every job in arrival order and answers after
//! the batch's synced commit. With 500 chargers each sending MeterValues every second, a
//! read queued behind them waited about 590 ms (BENCHMARKS.md "Reaction and memory at 500
//! chargers, again"): dispatch reads each charger's running transaction before it sends a
//! limit, so the reaction to a load step waited on other chargers' fsyncs. In WAL mode a
//! reader on its own connection sees the last committed state and neither waits for the
//! writer nor blocks it, so these reads go here.
//!
//! What a read sees is the last *committed* state: a record whose batch is still being
//! written is not there yet (on the writer's queue, a read saw the writes queued before
//! it). Only reads that can live with that belong here. An in-memory store has no file a
//! second connection could open: its reads go through the writer's queue.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// A queued read: runs on the reader thread and sends its own result.
pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// How long a read waits for a lock SQLite cannot share at once (WAL recovery after a
/// crash, a checkpoint that restarts the log), in ms.
const BUSY_TIMEOUT_MS: u64 = 2_000;

/// Opens the read-only connection to the database at `path` (already prepared by the
/// writer: WAL, migrated) and starts its thread. Returns the queue to it.
pub(super) fn start(path: &Path) -> Result<mpsc::Sender<ReadJob>, StoreError> {
    let conn = Connection::open(path)?;
    // A connection of ours that can only read: a job that tries to write fails instead
    // of competing with the writer thread for the write lock.
    conn.pragma_update(None, "query_only", "ON")?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    let (jobs, rx) = mpsc::channel::<ReadJob>();
    std::thread::Builder::new()
        .name("store-read".into())
        // Runs until every `Store` handle is dropped.
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                job(&conn);
            }
        })
        .map_err(|source| StoreError::Folder {
            path: "(store reader thread)".into(),
            source,
        })?;
    Ok(jobs)
}

/// Queues `f` for the reader thread; its result arrives as soon as it ran.
pub(super) fn submit<T, F>(
    reads: &mpsc::Sender<ReadJob>,
    f: F,
) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    reads
        .send(Box::new(move |conn| {
            // The receiver may be gone (the caller was cancelled); nothing was changed.
            let _ = tx.send(f(conn));
        }))
        .map_err(|_| StoreError::Closed)?;
    Ok(rx)
}

#[cfg(test)]
#[path = "reader/tests.rs"]
mod tests;
