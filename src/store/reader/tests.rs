//! The reader connection: reads that do not queue behind the writer, see what it
//! committed, and cannot write.

use std::time::Duration;

use rusqlite::Connection;

use crate::store::{Store, StoreError};

/// Long enough for a read on an idle machine many times over; a read that queued behind
/// the held writer would never finish within it.
const READ_DEADLINE: Duration = Duration::from_secs(20);

fn chargers(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM chargers", [], |r| r.get(0))?)
}

fn add_charger(c: &mut Connection, id: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO chargers (id, first_seen, last_seen) VALUES (?1, ?2, ?2)",
        [id, "2026-12-02T00:00:00Z"],
    )?;
    Ok(())
}

/// The writer thread is held inside a job (as behind a long queue of commits); a read
/// still comes back, and sees the state committed before the held batch.
#[tokio::test]
async fn a_read_does_not_wait_behind_the_writers_queue() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::open(&dir.path().join("cg.db")).expect("the store opens");
    store
        .call(|c| add_charger(c, "CP-1"))
        .await
        .expect("the first charger is committed");
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
    let writer = store.clone();
    let held_job = tokio::spawn(async move {
        writer
            .call(move |c| {
                let _ = entered_tx.send(());
                add_charger(c, "CP-2")?;
                // Holds the writer thread, and its uncommitted batch, until released.
                let _ = held.recv();
                Ok(())
            })
            .await
    });
    entered.await.expect("the writer runs the held job");
    let seen = tokio::time::timeout(READ_DEADLINE, store.read(chargers))
        .await
        .expect("the read does not wait for the held writer")
        .expect("the read succeeds");
    assert_eq!(seen, 1, "the held batch is not committed yet");
    release.send(()).expect("the held job waits");
    held_job
        .await
        .expect("the held job ends")
        .expect("the held job commits");
    assert_eq!(store.read(chargers).await.expect("a read"), 2);
}

/// The reader connection refuses writes: nothing can compete with the writer thread for
/// the write lock, or write around the group commit.
#[tokio::test]
async fn a_read_cannot_write() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::open(&dir.path().join("cg.db")).expect("the store opens");
    let wrote = store
        .read(|c| {
            c.execute(
                "INSERT INTO chargers (id, first_seen, last_seen) VALUES ('CP-9', 'x', 'x')",
                [],
            )?;
            Ok(())
        })
        .await;
    assert!(
        matches!(
            &wrote,
            Err(StoreError::Sqlite(e)) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly)
        ),
        "a write through the reader must fail as read-only: {wrote:?}"
    );
    assert_eq!(store.read(chargers).await.expect("a read"), 0);
}

/// An in-memory store has no file for a second connection: its reads run on the writer's
/// connection and see its data.
#[tokio::test]
async fn an_in_memory_store_reads_through_its_writer() {
    let store = Store::in_memory().expect("the store opens");
    store
        .call(|c| add_charger(c, "CP-1"))
        .await
        .expect("committed");
    assert_eq!(store.read(chargers).await.expect("a read"), 1);
}
