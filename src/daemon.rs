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
use crate::clock::Clock;
use crate::config::{Config, Live};
use crate::control::{self, ControlOutput};
use crate::csms::Csms;
use crate::dispatch::round::ChargerLimit;
use crate::dispatch::{self, BaselineState, DispatchInput};
use crate::meter::{self, MeterHandles};
use crate::planner::forecast::LoadHistory;
use crate::site::feed::LoadReading;
use crate::store::{self, Store, StoreError};
use crate::units::Amps;
use crate::units::ChargerId;
use chrono::Utc;

mod upstream;
use upstream::{api_and_upstream, local_controller_wiring, spawn_local_controller};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("CSMS listener: {0}")]
    Server(#[from] crate::charger::server::ServerError),
    #[error("HTTP listener: {0}")]
    Http(#[from] crate::http::HttpError),
    #[error("[csms] client-ca-key-file: {0}")]
    CertificateAuthority(String),
    #[error("upstream: {0}")]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error("upstream OCPP: {0}")]
    LocalController(String),
}

impl StartError {
    /// Whether the config is at fault, so that `run` exits 78 (EX_CONFIG) and systemd does
    /// not restart it in a loop: a TLS file, the store's folder, a listen address this
    /// machine does not have or may not use. A port another program holds is not: it
    /// may be free on the next start.
    pub fn is_config_problem(&self) -> bool {
        use crate::charger::server::ServerError;
        use std::io::ErrorKind;
        let address_is_wrong = |e: &std::io::Error| {
            matches!(
                e.kind(),
                ErrorKind::AddrNotAvailable | ErrorKind::PermissionDenied
            )
        };
        match self {
            StartError::Store(StoreError::Folder { .. } | StoreError::Sqlite(_)) => true,
            StartError::Store(_) => false,
            StartError::Server(ServerError::Tls(_)) | StartError::CertificateAuthority(_) => true,
            StartError::Server(ServerError::Bind { source, .. }) => address_is_wrong(source),
            StartError::Http(e) => address_is_wrong(&e.source),
            StartError::Upstream(e) => matches!(e, crate::upstream::UpstreamError::Options(_)),
            // A password, key or CA file that cannot be read.
            StartError::LocalController(_) => true,
        }
    }
}

/// A started daemon.
#[derive(Debug)]
pub struct Daemon {
    /// Where chargers connect (the bound address, useful with port 0).
    pub csms_addr: SocketAddr,
    /// Where the HTTP API listens (the bound address).
    pub http_addr: SocketAddr,
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
    /// Every alert raised or cleared (`alerts::task`), as stored.
    pub alerts: crate::alerts::Alerts,
    /// The control loop's current plan and guard reductions (for dispatch and the API).
    pub plan: watch::Receiver<ControlOutput>,
    /// Where the meters deliver non-charger load readings.
    pub load_readings: tokio::sync::mpsc::Sender<LoadReading>,
    /// When the control loop last went round (`control::Control::alive`).
    pub control_alive: watch::Receiver<tokio::time::Instant>,
    /// The config in force, which every task follows; `reload` replaces it.
    config: watch::Sender<std::sync::Arc<Config>>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    http: JoinHandle<()>,
    control: JoinHandle<()>,
    /// The upstream broker link (`[upstream.mqtt]`), which says `offline` at shutdown.
    upstream: Option<JoinHandle<()>>,
    /// The OCPP Local Controller (`[upstream.ocpp]`), which closes its links at shutdown.
    local_controller: Option<JoinHandle<()>>,
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
    start_with_clock(config, store, limits, Clock::system()).await
}

/// As `start_with_store`, with every task reading time from `clock`: a virtual clock runs
/// the whole daemon on tokio's paused time (simulated sites, `demo`).
pub async fn start_with_clock(
    config: &Config,
    store: Store,
    limits: Limits,
    clock: Clock,
) -> Result<Daemon, StartError> {
    let (store, csms) = open_csms(config, store, clock).await?;
    let chargers = Chargers::default();
    let (config_tx, live) = Live::channel(config.clone());
    let (mut server, csms_addr) = bind_csms(config, clock, &csms, &chargers).await?;
    server.follow(live.clone());
    let (http_listener, http_addr) = crate::http::bind(config.http.listen).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let audit_days = config.store.audit_days;
    tokio::spawn(prune_audit(
        store.clone(),
        audit_days,
        clock,
        shutdown_rx.clone(),
    ));
    let Dispatching {
        baseline,
        dispatch_input,
        accounting,
    } = spawn_dispatch(&live, &csms, &chargers, clock, &shutdown_rx);
    let meters = start_meters(config, &store, clock, shutdown_rx.clone());
    let alerts = spawn_alerts(config, &csms, &meters, &store, clock, &shutdown_rx);
    // chargegate's own 2.0.1 station requests (issue 10); subscribed before the listener.
    crate::station::spawn(&csms, &chargers, clock, &shutdown_rx);
    let control = spawn_control(config, &live, &csms, &store, clock, &shutdown_rx).await?;
    spawn_load_feed(
        &live,
        &csms,
        &meters,
        &accounting,
        &control,
        clock,
        &shutdown_rx,
    );
    // Control output (plan + guard) -> dispatch input.
    if limits == Limits::Planned {
        tokio::spawn(dispatch::input::run(
            control.output.clone(),
            dispatch_input.clone(),
            clock,
            shutdown_rx.clone(),
        ));
    }
    let monitor = monitor_sources(&control, &accounting, &baseline, &meters, &csms)
        .with_alerts(alerts.sender());
    let state = crate::http::HttpState::new(store.clone(), live.clone(), chargers.clone(), clock)
        .with_orders(control.orders.clone());
    let (lc, monitor) = local_controller_wiring(config, &chargers, &alerts, monitor);
    let (router, upstream) =
        api_and_upstream(config, state, monitor, &csms, &live, clock, &shutdown_rx).await?;
    let local_controller =
        spawn_local_controller(config, lc, &csms, &control.orders, clock, &shutdown_rx).await?;
    let http = tokio::spawn(crate::http::serve(
        http_listener,
        router,
        shutdown_rx.clone(),
    ));
    let server = tokio::spawn(server.run(shutdown_rx));
    tracing::info!(%csms_addr, %http_addr, site = config.site.id, chargers = config.chargers.len(), "chargegate started");
    Ok(Daemon {
        csms_addr,
        http_addr,
        chargers,
        csms,
        baseline,
        dispatch_input,
        accounting,
        meters,
        alerts,
        plan: control.output,
        control_alive: control.alive,
        load_readings: control.readings,
        config: config_tx,
        shutdown,
        server,
        http,
        control: control.task,
        upstream,
        local_controller,
    })
}

/// The control loop, with what the store kept for it: the load history for the forecast,
/// the temporary grid limits and the cloud's lasting caps.
async fn spawn_control(
    config: &Config,
    live: &Live,
    csms: &Csms,
    store: &Store,
    clock: Clock,
    shutdown: &watch::Receiver<bool>,
) -> Result<control::Control, StartError> {
    let (temporary_limits, caps) = stored_limits(store, clock).await?;
    let kept = control::Kept {
        history: stored_history(config, store, clock.now()).await,
        temporary_limits,
        caps,
    };
    Ok(control::spawn_live(
        live.clone(),
        csms.subscribe(),
        Some(csms.subscribe_connections()),
        shutdown.clone(),
        kept,
        clock,
    ))
}

/// The temporary grid limits and the cloud's lasting caps from before a restart: a
/// curtailment stays in force. A store that cannot say whether one is stops the start (the
/// chargers keep their failsafe) rather than guess.
async fn stored_limits(
    store: &Store,
    clock: Clock,
) -> Result<
    (
        Vec<store::TemporaryLimit>,
        Vec<(ChargerId, store::CloudCap)>,
    ),
    StartError,
> {
    let (limits, caps) = store
        .call(|c| Ok((store::temporary_limits(c)?, store::cloud_caps(c)?)))
        .await?;
    for l in limits.iter().filter(|l| l.in_force(clock.now())) {
        tracing::info!(by = l.source.as_str(), limit_a = l.limit.0, until = ?l.until, "temporary grid limit in force");
    }
    let caps = caps
        .into_iter()
        .filter_map(|(id, cap)| Some((ChargerId::new(&id).ok()?, cap)))
        .collect();
    Ok((limits, caps))
}

/// What the API's monitoring reads read: the control loop's, dispatch's, the baseline
/// task's and the meters' published state, and the CSMS's events for `/api/v1/events`.
fn monitor_sources(
    control: &control::Control,
    accounting: &watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
    baseline: &BaselineState,
    meters: &MeterHandles,
    csms: &Csms,
) -> crate::http::MonitorSources {
    crate::http::MonitorSources::new(
        control.output.clone(),
        accounting.clone(),
        meters.status.clone(),
        baseline.clone(),
        Some(csms.clone()),
    )
}

/// The store (on virtual time when the clock is) with every charger marked disconnected,
/// and the CSMS state with the configured id tokens.
async fn open_csms(
    config: &Config,
    store: Store,
    clock: Clock,
) -> Result<(Store, Csms), StartError> {
    let store = if clock.is_virtual() {
        store.for_virtual_time()
    } else {
        store
    };
    store.call(|c| store::all_disconnected(c)).await?;
    let mut csms = Csms::from_config(store.clone(), config);
    // `validate` checked these files; they are read again in case they changed since.
    if let Some(tls) = &config.csms.tls
        && let (Some(cert), Some(key)) = (&tls.client_ca_file, &tls.client_ca_key_file)
    {
        let authority = crate::csms::signing::CertificateAuthority::load(cert, key)
            .map_err(StartError::CertificateAuthority)?;
        csms = csms.with_certificate_authority(authority);
    }
    csms.load_tokens(config).await?;
    Ok((store, csms))
}

/// Binds the chargers' WebSocket listener; returns it and the address it got.
async fn bind_csms(
    config: &Config,
    clock: Clock,
    csms: &Csms,
    chargers: &Chargers,
) -> Result<(Server, SocketAddr), StartError> {
    let server = Server::bind(
        config.csms.listen,
        config.csms.tls.as_ref(),
        ServerSettings::from_config(config, clock),
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
    Ok((server, csms_addr))
}

/// Spawns the alert task, subscribed before the listener runs so that no charger event is
/// missed.
fn spawn_alerts(
    config: &Config,
    csms: &Csms,
    meters: &MeterHandles,
    store: &Store,
    clock: Clock,
    shutdown_rx: &watch::Receiver<bool>,
) -> crate::alerts::Alerts {
    crate::alerts::task::spawn(
        crate::alerts::AlertInputs {
            events: csms.subscribe(),
            connections: csms.subscribe_connections(),
            meters: meters.status.clone(),
            heartbeat: Duration::from_secs(u64::from(config.csms.heartbeat_interval_s)),
        },
        store.clone(),
        clock,
        shutdown_rx.clone(),
    )
}

/// The dispatch side's handles, for the feeds and the `Daemon`.
struct Dispatching {
    baseline: BaselineState,
    dispatch_input: watch::Sender<DispatchInput>,
    accounting: watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
}

/// Spawns the baseline task, the local list sync and the dispatch loop.
fn spawn_dispatch(
    config: &Live,
    csms: &Csms,
    chargers: &Chargers,
    clock: Clock,
    shutdown_rx: &watch::Receiver<bool>,
) -> Dispatching {
    let baseline = BaselineState::default();
    // Subscribed before the listener runs, so no charger's first connection is missed.
    tokio::spawn(dispatch::baseline::run(
        csms,
        chargers.clone(),
        config.clone(),
        baseline.clone(),
        shutdown_rx.clone(),
    ));
    // The local authorization lists on the chargers follow the store's (issue 10).
    tokio::spawn(dispatch::local_list::run(
        csms,
        chargers.clone(),
        clock,
        shutdown_rx.clone(),
    ));
    // What the operator set Inoperative stays so across the chargers' reboots (issue 10).
    tokio::spawn(dispatch::availability::run(
        csms,
        chargers.clone(),
        shutdown_rx.clone(),
    ));
    let (dispatch_input, dispatch_input_rx) = watch::channel(DispatchInput::default());
    let (dispatch_loop, accounting) = dispatch::task::run(
        csms,
        chargers.clone(),
        config.clone(),
        baseline.clone(),
        dispatch_input_rx,
        clock,
        shutdown_rx.clone(),
    );
    tokio::spawn(dispatch_loop);
    Dispatching {
        baseline,
        dispatch_input,
        accounting,
    }
}

/// Spawns meters -> non-charger load readings -> control loop.
fn spawn_load_feed(
    live: &Live,
    csms: &Csms,
    meters: &MeterHandles,
    accounting: &watch::Receiver<BTreeMap<ChargerId, ChargerLimit>>,
    control: &control::Control,
    clock: Clock,
    shutdown_rx: &watch::Receiver<bool>,
) {
    let feed = crate::site::feed::run(
        Config::clone(&live.current()),
        crate::site::feed::FeedInputs {
            meters: meters.status.clone(),
            events: csms.subscribe(),
            connections: csms.subscribe_connections(),
            limits: accounting.clone(),
            reload: live.clone(),
        },
        control.readings.clone(),
        clock,
        shutdown_rx.clone(),
    );
    tokio::spawn(feed);
}

/// The forecast's history from the store's 1-minute meter summaries of the last 8 days
/// (one weekly cycle and a day): per circuit, the per-phase maximum of each minute. A
/// `grid` meter's history includes the chargers' own current, so it overstates the other
/// load: a safe bias (the planner leaves more room), corrected as live readings replace it.
pub async fn stored_history(
    config: &Config,
    store: &Store,
    now: chrono::DateTime<Utc>,
) -> LoadHistory {
    let mut history = LoadHistory::default();
    for meter in &config.meters {
        let id = meter.id.clone();
        let since = now - chrono::Duration::days(8);
        let minutes = match store
            .call(move |c| store::meter_minutes(c, &id, since))
            .await
        {
            Ok(minutes) => minutes,
            Err(e) => {
                tracing::warn!(meter = meter.id, "no stored history for the forecast: {e}");
                continue;
            }
        };
        let circuit = meter
            .circuit
            .as_deref()
            .unwrap_or(crate::config::SITE_CIRCUIT);
        for m in minutes {
            if let [Some(l1), Some(l2), Some(l3)] = m.max_a {
                history.record(circuit, m.minute, [Amps(l1), Amps(l2), Amps(l3)]);
            }
        }
    }
    history
}

/// Deletes audit entries older than `[store] audit-days`, at start and once an hour.
async fn prune_audit(store: Store, days: u32, clock: Clock, mut shutdown: watch::Receiver<bool>) {
    let keep = chrono::Duration::days(i64::from(days));
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = hourly.tick() => {}
        }
        let before = crate::ocpp::time::format(&(clock.now() - keep));
        match store.call(move |c| store::prune_audit(c, &before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, days, "pruned the audit log"),
            Err(e) => tracing::warn!("cannot prune the audit log: {e}"),
        }
    }
}

/// Starts the meter pollers and the task that writes their 1-minute history and prunes
/// it once an hour after `[store] history-days`.
fn start_meters(
    config: &Config,
    store: &Store,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> MeterHandles {
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
                    let before = clock.now() - keep;
                    if let Err(e) = store.call(move |c| store::prune_meter_history(c, before)).await {
                        tracing::warn!("cannot prune meter history: {e}");
                    }
                }
            }
        }
    });
    meter::spawn_meters(&config.meters, Some(history_tx), clock, shutdown)
}

impl Daemon {
    /// Runs on `new` where it can be applied live and says what needs a restart
    /// (`crate::reload`); on an error nothing changed.
    pub async fn reload(
        &self,
        new: Config,
    ) -> Result<crate::config::diff::Reload, crate::reload::ReloadError> {
        crate::reload::apply(&self.config, &self.csms, new).await
    }

    /// The config in force (the file's at start, with every reload's live changes).
    pub fn config(&self) -> std::sync::Arc<Config> {
        self.config.borrow().clone()
    }

    /// Turns true when `stop` begins.
    pub fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

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
        let mut http = self.http;
        if tokio::time::timeout(Duration::from_secs(1), &mut http)
            .await
            .is_err()
        {
            // A client that keeps a request open does not hold up the shutdown.
            http.abort();
        }
        if let Some(mut links) = self.local_controller
            && tokio::time::timeout(Duration::from_secs(2), &mut links)
                .await
                .is_err()
        {
            links.abort();
        }
        if let Some(mut upstream) = self.upstream {
            // Its goodbye (`offline`, a clean disconnect) is bounded by the link itself.
            if tokio::time::timeout(Duration::from_secs(3), &mut upstream)
                .await
                .is_err()
            {
                upstream.abort();
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::history::MinuteSummary;

    #[tokio::test]
    async fn the_forecast_history_is_seeded_from_the_store() {
        let profiles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/meter");
        let text = format!(
            "[site]\nid = \"t\"\ngrid-limit-a = 100\nworst-case-load-a = 10\n[profiles]\nmeter-dir = \"{}\"\n\
             [[meter]]\nid = \"bldg\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\nmodbus-tcp = \"127.0.0.1:1502\"\n",
            profiles.display()
        );
        let config = crate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
        let store = Store::in_memory().unwrap();
        let now = crate::ocpp::time::parse("2026-11-24T12:00:00Z").unwrap();
        // Four Tuesdays-at-noon minutes a week ago: enough samples for the bucket.
        for minute in 0..4 {
            let summary = MinuteSummary {
                meter_id: "bldg".into(),
                minute: now - chrono::Duration::days(7) + chrono::Duration::minutes(minute),
                samples: 60,
                max_a: [Some(20.0 + minute as f64), Some(10.0), Some(5.0)],
                mean_a: [Some(15.0), Some(8.0), Some(4.0)],
                mean_power_w: None,
            };
            store
                .call(move |c| store::insert_meter_minute(c, &summary))
                .await
                .unwrap();
        }
        // Too old to matter: nine days back.
        let old = MinuteSummary {
            meter_id: "bldg".into(),
            minute: now - chrono::Duration::days(9),
            samples: 60,
            max_a: [Some(99.0); 3],
            mean_a: [Some(99.0); 3],
            mean_power_w: None,
        };
        store
            .call(move |c| store::insert_meter_minute(c, &old))
            .await
            .unwrap();
        let history = stored_history(&config, &store, now).await;
        let q = history
            .quantile(crate::config::SITE_CIRCUIT, now)
            .expect("a seeded bucket");
        assert_eq!(
            q,
            [23.0, 10.0, 5.0],
            "the 90 % quantile of the stored per-minute maxima"
        );
        assert_eq!(
            history.quantile(crate::config::SITE_CIRCUIT, now - chrono::Duration::days(2)),
            None
        );
    }
}
