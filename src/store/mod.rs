//! The store: one SQLite database (WAL) owned by one thread.
//!
//! Every record chargegate must not lose lives here: chargers, connectors, id tokens,
//! transactions, meter samples, signed meter values (billing), reservations, the audit log, the downsampled grid-meter history, a temporary grid
//! limit and the upstream outbox (what the cloud is still owed). `Store` is a cheap handle; each call ships
//! a closure to the owner thread and awaits its result, so SQLite never blocks an async
//! worker (STYLE.md §10). A CALLRESULT that acknowledges a charger's record is sent only
//! after the record is committed here. Must never hold protocol knowledge: callers pass
//! version-blind values.

mod alerts;
mod audit;
mod billing;
mod customer;
mod devices;
mod group_commit;
mod id_tokens;
mod list_changes;
mod meter_history;
mod monitor;
mod outbox;
mod queries;
mod reader;
mod reports;
mod reservations;
mod schema;
mod site_limit;
mod uplink;

use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

pub use alerts::*;
pub use audit::*;
pub use billing::*;
pub use customer::*;
pub use devices::*;
pub use id_tokens::*;
pub use list_changes::*;
pub use meter_history::*;
pub use monitor::*;
pub use outbox::*;
pub use queries::*;
pub use reports::*;
pub use reservations::*;
pub use site_limit::*;
pub use uplink::*;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migrating the database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("the store thread has stopped")]
    Closed,
    #[error("cannot make the database durable: {0}")]
    Sync(String),
    #[error("stored data contradicts itself: {0}")]
    Corrupt(String),
}

/// A handle to the store's owner thread. Clone it freely.
#[derive(Debug, Clone)]
pub struct Store {
    jobs: mpsc::Sender<group_commit::Job>,
    /// The read-only connection's queue (`reader`); none for an in-memory store, or when
    /// it could not be opened: then `read` goes through `jobs`.
    reads: Option<mpsc::Sender<reader::ReadJob>>,
    /// Wait for results on tokio's blocking pool (see `for_virtual_time`).
    virtual_time: bool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it forward.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder {
                path: folder.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        let mut store = Self::start(conn)?;
        // After `start`: the writer has made the file WAL and migrated it.
        store.reads = match reader::start(path) {
            Ok(reads) => Some(reads),
            Err(e) => {
                tracing::warn!("store: no separate reader ({e}); reads queue behind writes");
                None
            }
        };
        Ok(store)
    }

    /// An in-memory store, for tests and `demo`.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::start(Connection::open_in_memory()?)
    }

    fn start(mut conn: Connection) -> Result<Self, StoreError> {
        schema::prepare(&mut conn)?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("store".into())
            // Runs until every `Store` handle is dropped.
            .spawn(move || group_commit::serve(conn, &rx))
            .map_err(|source| StoreError::Folder {
                path: "(store thread)".into(),
                source,
            })?;
        Ok(Self {
            jobs,
            reads: None,
            virtual_time: false,
        })
    }

    /// Runs `f` on the owner thread and returns its result.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let rx = self.submit(f)?;
        self.answer(rx).await
    }

    /// Runs the read `f` on the read-only connection, which does not wait behind the
    /// writer's queue, and returns its result. It sees the last committed state: writes
    /// still queued or in an uncommitted batch are not there yet (`reader`). Without a
    /// reader (an in-memory store) it runs on the owner thread like `call`.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let rx = match &self.reads {
            Some(reads) => reader::submit(reads, f)?,
            None => self.submit(move |c| f(c))?,
        };
        self.answer(rx).await
    }

    /// Awaits a job's result from the store's threads.
    async fn answer<T: Send + 'static>(
        &self,
        rx: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.virtual_time {
            // tokio does not advance a paused clock while a blocking-pool task runs, so
            // virtual time stands still while SQLite works, as it would for a fast disk.
            return tokio::task::spawn_blocking(move || rx.blocking_recv())
                .await
                .map_err(|_| StoreError::Closed)?
                .map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` for the owner thread; its result arrives once its batch is durable.
    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(group_commit::Job::new(f, tx))
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// The same store for a daemon on a virtual clock (`clock::Clock::virtual_from`):
    /// without this, a paused runtime that waits for the store thread looks idle and
    /// tokio jumps its clock to the next timer, firing timeouts that never happened.
    pub fn for_virtual_time(mut self) -> Self {
        self.virtual_time = true;
        self
    }
}
