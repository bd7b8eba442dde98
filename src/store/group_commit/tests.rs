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
fn a_failing_job_in_the_middle_of_a_batch_is_undone_alone_and_its_neighbours_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, gate) = held_store(dir.path());
    let before = store.submit(|c| insert_charger(c, "CP-1")).unwrap();
    // Its own savepoint, nested in the job's: the first insert is undone when the
    // second one fails.
    let nested = store
        .submit(|c| {
            let sp = c.savepoint()?;
            insert_charger(&sp, "CP-NESTED")?;
            insert_charger(&sp, "CP-1")?;
            sp.commit()?;
            Ok(())
        })
        .unwrap();
    // No savepoint of its own: a write, then an error. The job's savepoint undoes it.
    let bare = store
        .submit(|c| {
            insert_charger(c, "CP-BARE")?;
            Err::<(), _>(StoreError::Corrupt("the job gives up after writing".into()))
        })
        .unwrap();
    let after = store.submit(|c| insert_charger(c, "CP-2")).unwrap();
    release.send(()).unwrap();
    gate.blocking_recv().unwrap().unwrap();
    before.blocking_recv().unwrap().unwrap();
    let nested_error = nested.blocking_recv().unwrap().unwrap_err();
    let bare_error = bare.blocking_recv().unwrap().unwrap_err();
    after.blocking_recv().unwrap().unwrap();
    assert!(
        matches!(nested_error, StoreError::Sqlite(_)),
        "the job's own error, not the batch's: {nested_error}"
    );
    assert!(
        matches!(bare_error, StoreError::Corrupt(_)),
        "the job's own error, not the batch's: {bare_error}"
    );
    assert_eq!(charger_ids(&dir.path().join("cg.db")), ["CP-1", "CP-2"]);
}

/// Whether `id` is committed, seen from a connection of its own (not the store's, which
/// sees its own uncommitted writes).
fn committed(path: &Path, id: &str) -> bool {
    let c = Connection::open(path).unwrap();
    c.query_row("SELECT COUNT(*) FROM chargers WHERE id = ?1", [id], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap()
        == 1
}

#[test]
fn a_batch_is_one_transaction_and_no_answer_leaves_before_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cg.db");
    let (store, release, gate) = held_store(dir.path());
    let first = store.submit(|c| insert_charger(c, "CP-1")).unwrap();
    let watched: Watched = Arc::new(Mutex::new(Some(first)));
    let (seen, db_path) = (watched.clone(), db.clone());
    // Runs after the first job in the same batch, on the store thread.
    let later = store
        .submit(move |c| {
            insert_charger(c, "CP-2")?;
            Ok((
                !c.is_autocommit(),
                committed(&db_path, "CP-1"),
                still_unanswered(&seen),
            ))
        })
        .unwrap();
    release.send(()).unwrap();
    gate.blocking_recv().unwrap().unwrap();
    let (in_transaction, first_committed, first_waited) = later.blocking_recv().unwrap().unwrap();
    assert!(in_transaction, "the jobs ran outside a batch transaction");
    assert!(
        !first_committed,
        "the first job committed on its own, before its batch ended"
    );
    assert!(
        first_waited,
        "the first job's answer left before its batch ended"
    );
    let first = watched.lock().unwrap().take().unwrap();
    first.blocking_recv().unwrap().unwrap();
    // Once answered, both are committed for every reader.
    assert!(committed(&db, "CP-1") && committed(&db, "CP-2"));
    let level = store
        .submit(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))?))
        .unwrap()
        .blocking_recv()
        .unwrap()
        .unwrap();
    // FULL: the batch's COMMIT syncs the WAL before the answers leave.
    assert_eq!(level, 2, "the batch commits unsynced");
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

#[test]
fn when_the_whole_transaction_is_rolled_back_the_jobs_before_get_an_error_and_the_rest_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, gate) = held_store(dir.path());
    let lost = store.submit(|c| insert_charger(c, "CP-LOST")).unwrap();
    // What SQLite does on some I/O or full-disk errors: the whole transaction is gone.
    let rolling = store.submit(|c| Ok(c.execute_batch("ROLLBACK")?)).unwrap();
    let kept = store.submit(|c| insert_charger(c, "CP-KEPT")).unwrap();
    release.send(()).unwrap();
    gate.blocking_recv().unwrap().unwrap();
    let lost_error = lost.blocking_recv().unwrap().unwrap_err();
    assert!(
        matches!(lost_error, StoreError::Sync(_)),
        "a job whose writes were rolled back was told they are durable: {lost_error}"
    );
    assert!(rolling.blocking_recv().unwrap().is_err());
    kept.blocking_recv().unwrap().unwrap();
    assert_eq!(charger_ids(&dir.path().join("cg.db")), ["CP-KEPT"]);
}
