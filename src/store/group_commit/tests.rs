//! Group commit, driven deterministically: a first job holds the store thread until the
//! test has queued the jobs it wants batched, so they are drained as one batch.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::MAX_BATCH_JOBS;
use crate::store::{Store, StoreError};

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

/// A store on a file (the WAL exists only there) whose thread is held inside a job, and
/// the release of that job. Returns once the job runs: its batch is closed by then, so
/// every job queued afterwards waits for the next one.
fn held_store(dir: &Path) -> (Store, std_mpsc::Sender<()>, Reply<()>) {
    let store = Store::open(&dir.join("cg.db")).unwrap();
    let (release, held) = std_mpsc::channel::<()>();
    let (running, started) = std_mpsc::channel::<()>();
    let gate = store
        .submit(move |_| {
            running.send(()).expect("the test waits for the start");
            held.recv().expect("the test releases the thread");
            Ok(())
        })
        .unwrap();
    started
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the store thread runs the holding job");
    (store, release, gate)
}

fn insert_charger(c: &Connection, id: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO chargers (id, first_seen, last_seen) VALUES (?1, 'x', 'x')",
        [id],
    )?;
    Ok(())
}

fn charger_ids(path: &Path) -> Vec<String> {
    let c = Connection::open(path).unwrap();
    let mut stmt = c.prepare("SELECT id FROM chargers ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A reply that must still be outstanding, checked from inside a later job.
type Watched = Arc<Mutex<Option<Reply<()>>>>;

fn still_unanswered(watched: &Watched) -> bool {
    let mut slot = watched.lock().unwrap();
    let rx = slot.as_mut().expect("the reply is being watched");
    matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
}

#[test]
fn a_failing_job_in_a_batch_rolls_back_alone_and_gets_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, gate) = held_store(dir.path());
    let before = store.submit(|c| insert_charger(c, "CP-1")).unwrap();
    // Its own transaction: the first insert is undone when the second one fails.
    let failing = store
        .submit(|c| {
            let tx = c.transaction()?;
            insert_charger(&tx, "CP-HALF")?;
            insert_charger(&tx, "CP-1")?;
            tx.commit()?;
            Ok(())
        })
        .unwrap();
    let after = store.submit(|c| insert_charger(c, "CP-2")).unwrap();
    release.send(()).unwrap();
    gate.blocking_recv().unwrap().unwrap();
    before.blocking_recv().unwrap().unwrap();
    let error = failing.blocking_recv().unwrap().unwrap_err();
    after.blocking_recv().unwrap().unwrap();
    assert!(
        matches!(error, StoreError::Sqlite(_)),
        "the job's own error, not the batch's: {error}"
    );
    assert_eq!(charger_ids(&dir.path().join("cg.db")), ["CP-1", "CP-2"]);
}

#[test]
fn no_answer_leaves_before_the_batch_has_ended_and_its_sync_commit_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("cg.db-wal");
    let (store, release, gate) = held_store(dir.path());
    let first = store.submit(|c| insert_charger(c, "CP-1")).unwrap();
    let watched: Watched = Arc::new(Mutex::new(Some(first)));
    let seen = watched.clone();
    let wal_path = wal.clone();
    // Runs after the first job in the same batch, on the store thread.
    let later = store
        .submit(move |c| {
            insert_charger(c, "CP-2")?;
            let size = std::fs::metadata(&wal_path).unwrap().len();
            Ok((still_unanswered(&seen), size))
        })
        .unwrap();
    release.send(()).unwrap();
    gate.blocking_recv().unwrap().unwrap();
    let (first_waited, wal_at_batch_end) = later.blocking_recv().unwrap().unwrap();
    let first = watched.lock().unwrap().take().unwrap();
    first.blocking_recv().unwrap().unwrap();
    assert!(
        first_waited,
        "the first job's answer left before its batch ended"
    );
    // The batch's last commit (the one synced under FULL) came after every job's writes.
    let wal_at_answer = std::fs::metadata(&wal).unwrap().len();
    assert!(
        wal_at_answer > wal_at_batch_end,
        "no commit after the batch's jobs: {wal_at_answer} vs {wal_at_batch_end} bytes"
    );
    let level = store
        .submit(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))?))
        .unwrap()
        .blocking_recv()
        .unwrap()
        .unwrap();
    assert_eq!(
        level,
        super::FULL,
        "a lone job after a batch commits synced"
    );
}

#[test]
fn a_long_queue_is_answered_in_batches_of_at_most_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, gate) = held_store(dir.path());
    let first = store.submit(|c| insert_charger(c, "CP-0")).unwrap();
    let watched: Watched = Arc::new(Mutex::new(Some(first)));
    let mut replies = Vec::new();
    for i in 1..=MAX_BATCH_JOBS {
        let seen = watched.clone();
        replies.push(
            store
                .submit(move |c| {
                    insert_charger(c, &format!("CP-{i}"))?;
                    Ok(still_unanswered(&seen))
                })
                .unwrap(),
        );
    }
    release.send(()).unwrap();
    gate.blocking_recv().unwrap().unwrap();
    let waited: Vec<bool> = replies
        .into_iter()
        .map(|r| r.blocking_recv().unwrap().unwrap())
        .collect();
    // Jobs 0..MAX_BATCH_JOBS made the first batch; job MAX_BATCH_JOBS began the next.
    assert!(waited[..MAX_BATCH_JOBS - 1].iter().all(|w| *w));
    assert!(
        !waited[MAX_BATCH_JOBS - 1],
        "the first batch's answers waited for the next batch"
    );
    assert_eq!(
        charger_ids(&dir.path().join("cg.db")).len(),
        MAX_BATCH_JOBS + 1
    );
}
