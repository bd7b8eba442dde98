//! The running daemon: wires the store, the CSMS rules, the charger listener and the meter
//! pollers together
//! and owns the shutdown signal.
//!
//! `start` is what `chargegate run` and the integration tests call, so the tests exercise
//! exactly the daemon's wiring. Must never contain protocol or charging rules.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::charger::{Chargers, Server, ServerSettings};
use crate::config::Config;
use crate::control::{self, ControlOutput, LoadReading};
use crate::dispatch::round::ChargerLimit;
use crate::dispatch::{self, BaselineSettings, BaselineState, DispatchInput, DispatchSettings};
use crate::meter::{self, MeterHandles};
use crate::session::Csms;
use crate::store::{self, Store, StoreError};
use crate::units::ChargerId;

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
    /// Which chargers hold their failsafe baseline (S3).
    pub baseline: BaselineState,
    /// The wanted limits and the rows they must fit in: the control loop publishes here.
    pub dispatch_input: watch::Sender<DispatchInput>,
    /// Dispatch's S1 accounting per charger, after every round.
    pub accounting: watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
    /// The latest status of every `[[meter]]`, by id (DESIGN.md S5: check `usable`).
    pub meters: MeterHandles,
    /// The control loop's current plan and guard reductions (for dispatch and the API).
    pub plan: watch::Receiver<ControlOutput>,
    /// Where the meters deliver non-charger load readings.
    pub load_readings: tokio::sync::mpsc::Sender<LoadReading>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    control: JoinHandle<()>,
}

/// Who decides the limits dispatch sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// The control loop: plan and guard (the daemon).
    Planned,
    /// Whoever publishes on `Daemon::dispatch_input` (tests that drive dispatch directly).
    Manual,
}

/// Opens the store, loads the local authorization list and starts everything: listener,
/// meters, control loop, dispatch.
pub async fn start(config: &Config) -> Result<Daemon, StartError> {
    let store = Store::open(&config.store.path)?;
    start_with_store(config, store, Limits::Planned).await
}

/// As `start`, with limits decided by the caller instead of the plan.
pub async fn start_manual(config: &Config) -> Result<Daemon, StartError> {
    let store = Store::open(&config.store.path)?;
    start_with_store(config, store, Limits::Manual).await
}

/// As `start`, with a given store (in-memory for `demo` and tests).
pub async fn start_with_store(
    config: &Config,
    store: Store,
    limits: Limits,
) -> Result<Daemon, StartError> {
    store.call(|c| store::all_disconnected(c)).await?;
    let csms = Csms::from_config(store.clone(), config);
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
    let baseline = BaselineState::default();
    // Subscribed before the listener runs, so no charger's first connection is missed.
    tokio::spawn(dispatch::baseline::run(
        &csms,
        chargers.clone(),
        BaselineSettings::from_config(config),
        baseline.clone(),
        shutdown_rx.clone(),
    ));
    let (dispatch_input, dispatch_input_rx) = watch::channel(DispatchInput::default());
    let (dispatch_loop, accounting) = dispatch::task::run(
        &csms,
        chargers.clone(),
        DispatchSettings::from_config(config),
        baseline.clone(),
        dispatch_input_rx,
        shutdown_rx.clone(),
    );
    tokio::spawn(dispatch_loop);
    let meters = start_meters(config, &store, shutdown_rx.clone());
    let control = control::spawn(config, csms.subscribe(), shutdown_rx.clone());
    // Meters -> non-charger load readings -> control loop.
    let feed = crate::site::feed::run(
        config.clone(),
        meters.status.clone(),
        csms.subscribe(),
        control.readings.clone(),
        shutdown_rx.clone(),
    );
    tokio::spawn(feed);
    // Control output (plan + guard) -> dispatch input.
    if limits == Limits::Planned {
        tokio::spawn(dispatch::feed::run(
            control.output.clone(),
            dispatch_input.clone(),
            shutdown_rx.clone(),
        ));
    }
    let server = tokio::spawn(server.run(shutdown_rx));
    tracing::info!(%csms_addr, site = config.site.id, chargers = config.chargers.len(), "chargegate started");
    Ok(Daemon {
        csms_addr,
        chargers,
        csms,
        baseline,
        dispatch_input,
        accounting,
        meters,
        plan: control.output,
        load_readings: control.readings,
        shutdown,
        server,
        control: control.task,
    })
}

/// Starts the meter pollers and the task that writes their 1-minute history and prunes
/// it once an hour after `[store] history-days`.
fn start_meters(config: &Config, store: &Store, shutdown: watch::Receiver<bool>) -> MeterHandles {
    if config.meters.is_empty() {
        return MeterHandles::default();
    }
    let (history_tx, mut history_rx) = tokio::sync::mpsc::channel(256);
    let store = store.clone();
    let keep = chrono::Duration::days(i64::from(config.store.history_days));
    tokio::spawn(async move {
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                minute = history_rx.recv() => {
                    let Some(minute) = minute else { return };
                    if let Err(e) = store.call(move |c| store::insert_meter_minute(c, &minute)).await {
                        tracing::warn!("cannot write meter history: {e}");
                    }
                }
                _ = prune.tick() => {
                    let before = chrono::Utc::now() - keep;
                    if let Err(e) = store.call(move |c| store::prune_meter_history(c, before)).await {
                        tracing::warn!("cannot prune meter history: {e}");
                    }
                }
            }
        }
    });
    meter::spawn_meters(&config.meters, Some(history_tx), shutdown)
}

impl Daemon {
    /// Stops accepting, closes every charger connection and waits for them, at most
    /// `SHUTDOWN_LIMIT` (DESIGN.md: graceful shutdown within 10 s).
    pub async fn stop(self) {
        const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);
        let _ = self.shutdown.send(true);
        self.meters.abort();
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
