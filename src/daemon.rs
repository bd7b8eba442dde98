//! The running daemon: wires the store, the CSMS rules and the charger listener together
//! and owns the shutdown signal.
//!
//! `start` is what `chargegate run` and the integration tests call, so the tests exercise
//! exactly the daemon's wiring. Must never contain protocol or charging rules.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::charger::{Chargers, Server, ServerSettings};
use crate::config::Config;
use crate::control::{self, ControlOutput, LoadReading};
use crate::session::Csms;
use crate::store::{self, Store, StoreError};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("CSMS listener: {0}")]
    Server(#[from] crate::charger::server::ServerError),
}

/// A started daemon.
#[derive(Debug)]
pub struct Daemon {
    /// Where chargers connect (the bound address, useful with port 0).
    pub csms_addr: SocketAddr,
    pub chargers: Chargers,
    pub csms: Csms,
    /// The control loop's current plan and guard reductions (for dispatch and the API).
    pub plan: watch::Receiver<ControlOutput>,
    /// Where the meters deliver non-charger load readings.
    pub load_readings: tokio::sync::mpsc::Sender<LoadReading>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    control: JoinHandle<()>,
}

/// Opens the store, loads the local authorization list and starts the CSMS listener.
pub async fn start(config: &Config) -> Result<Daemon, StartError> {
    let store = Store::open(&config.store.path)?;
    start_with_store(config, store).await
}

/// As `start`, with a given store (in-memory for `demo` and tests).
pub async fn start_with_store(config: &Config, store: Store) -> Result<Daemon, StartError> {
    store.call(|c| store::all_disconnected(c)).await?;
    let csms = Csms::from_config(store, config);
    csms.load_tokens(config).await?;
    let chargers = Chargers::default();
    let server = Server::bind(
        config.csms.listen,
        config.csms.tls.as_ref(),
        ServerSettings::from_config(config),
        csms.clone(),
        chargers.clone(),
    )
    .await?;
    let csms_addr =
        server
            .local_addr()
            .map_err(|source| crate::charger::server::ServerError::Bind {
                addr: config.csms.listen,
                source,
            })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let control = control::spawn(config, csms.subscribe(), shutdown_rx.clone());
    let server = tokio::spawn(server.run(shutdown_rx));
    tracing::info!(%csms_addr, site = config.site.id, chargers = config.chargers.len(), "chargegate started");
    Ok(Daemon {
        csms_addr,
        chargers,
        csms,
        plan: control.output,
        load_readings: control.readings,
        shutdown,
        server,
        control: control.task,
    })
}

impl Daemon {
    /// Stops accepting, closes every charger connection and waits for them, at most
    /// `SHUTDOWN_LIMIT` (DESIGN.md: graceful shutdown within 10 s).
    pub async fn stop(self) {
        const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);
        let _ = self.shutdown.send(true);
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_LIMIT, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("shutdown took longer than 10 s; stopping anyway");
            server.abort();
        }
        let mut control = self.control;
        if tokio::time::timeout(Duration::from_secs(1), &mut control)
            .await
            .is_err()
        {
            control.abort();
        }
        tracing::info!("chargegate stopped");
    }
}
