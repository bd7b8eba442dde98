//! The operator's HTTP side (`[http] listen`, by default 127.0.0.1:8080): the JSON API
//! under `/api/v1/`.
//!
//! It serves the audit log (`/api/v1/audit`, DESIGN.md S6: every limit sent to a
//! charger, its answer and why), the billing records (`/api/v1/transactions`, JSON or
//! CSV, `transactions.rs`), the monitoring reads (`/api/v1/site`, `/chargers`, `/plan`,
//! `/meters`, and the event stream `/events`: `monitor/`), the alerts (`alerts.rs`), the
//! cards (`id_tokens.rs`), the reservations (`reservations.rs`) and the operator's
//! commands (`commands.rs`, behind `auth.rs`), `/metrics` (`monitor/metrics.rs`) and the
//! status page at `/` (`page.rs`). Thin: handlers read the store
//! and the daemon's watch channels and never
//! decide anything. Whatever a client sends, it gets an answer with a JSON body: a bad
//! request a 4xx with `{"error": ...}`, a store failure or a busy store a 503; the daemon
//! keeps running. At most `listener::MAX_CONNECTIONS` connections are open and at most
//! `STORE_READERS` store reads in flight, so API clients cannot starve the chargers.

mod alerts;
mod api;
mod auth;
mod certificates;
mod commands;
mod configuration;
mod customer;
mod devices;
mod host;
mod id_tokens;
mod internal;
mod listener;
mod monitor;
mod page;
mod reports;
mod reservations;
mod site_orders;
mod station;
mod transactions;

pub use alerts::alert_json;
pub use internal::Internal;
pub use listener::{ANSWER_TIMEOUT, MAX_CONNECTIONS, MAX_PER_ADDRESS};
pub use monitor::{MAX_EVENT_STREAMS, Sources as MonitorSources, UpstreamStatus};
pub use transactions::transaction_json;

use std::net::SocketAddr;
use std::sync::Arc;

use api::STORE_WAIT;
use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::charger::registry::Chargers;
use crate::clock::Clock;
use crate::config::Live;
use crate::store::{Store, StoreError};

/// Store reads the API may have in flight at once: the store is one thread that also
/// writes what chargers send, so API readers must never queue it up.
const STORE_READERS: usize = 2;

/// What the handlers read and command.
#[derive(Debug, Clone)]
pub struct HttpState {
    store: Store,
    store_readers: Arc<Semaphore>,
    /// `[http] allowed-hosts` at start: names besides IP literals and `localhost`
    /// (`host.rs`; a restart changes them, as it changes the listen address).
    allowed_hosts: Arc<Vec<String>>,
    /// The config in force: the tokens are read per request, so a reload revokes one.
    live: Live,
    /// The connected chargers, for the command endpoints.
    chargers: Chargers,
    gatekeeper: Arc<auth::Gatekeeper>,
    /// Wall time for token expiry (virtual in the simulated sites).
    clock: Clock,
    /// The running tasks' published state for the monitoring reads (`monitor/`).
    monitor: monitor::Sources,
    /// The control loop's order queue (`site_orders.rs`; `None`: no control loop, 503).
    orders: Option<crate::control::Orders>,
}

impl HttpState {
    pub fn new(store: Store, live: Live, chargers: Chargers, clock: Clock) -> Self {
        let allowed_hosts = live.current().http.allowed_hosts.clone();
        Self {
            store,
            store_readers: Arc::new(Semaphore::new(STORE_READERS)),
            allowed_hosts: Arc::new(allowed_hosts),
            live,
            chargers,
            gatekeeper: Arc::new(auth::Gatekeeper::default()),
            clock,
            monitor: monitor::Sources::default(),
            orders: None,
        }
    }

    /// With the control loop's order queue behind `PUT /api/v1/chargers/<id>/need` and
    /// `PUT/DELETE /api/v1/site/limit`.
    pub fn with_orders(mut self, orders: crate::control::Orders) -> Self {
        self.orders = Some(orders);
        self
    }

    /// With the control loop's, dispatch's and the meters' published state behind the
    /// monitoring reads (`/api/v1/site`, `/chargers`, `/plan`, `/meters`, `/events`).
    pub fn with_monitor(mut self, sources: monitor::Sources) -> Self {
        self.monitor = sources;
        self
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// Why the HTTP listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for HTTP on {addr}: {source} (check [http] listen)")]
pub struct HttpError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Every route of the API.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/api/v1/audit", get(api::audit))
        .route("/api/v1/transactions", get(transactions::list))
        .route("/api/v1/transactions/{id}", get(transactions::one))
        .route("/api/v1/site", get(monitor::site))
        .route("/api/v1/chargers", get(monitor::chargers))
        .route("/api/v1/chargers/{id}", get(monitor::charger))
        .route("/api/v1/plan", get(monitor::plan))
        .route("/api/v1/meters", get(monitor::meters))
        .route("/api/v1/meters/{id}/history", get(monitor::meter_history))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/events", get(monitor::events))
        .route("/metrics", get(monitor::metrics))
        .route("/api/v1/id-tokens", get(id_tokens::list))
        .route(
            "/api/v1/id-tokens/{id}",
            get(id_tokens::get_one)
                .put(id_tokens::put)
                .delete(id_tokens::delete),
        )
        .route(
            "/api/v1/reservations",
            get(reservations::list).post(reservations::create),
        )
        .route(
            "/api/v1/reservations/{id}",
            axum::routing::delete(reservations::cancel),
        )
        .route(
            "/api/v1/chargers/{id}/remote-start",
            post(commands::remote_start),
        )
        .route(
            "/api/v1/chargers/{id}/remote-stop",
            post(commands::remote_stop),
        )
        .route("/api/v1/chargers/{id}/reset", post(commands::reset))
        .route("/api/v1/chargers/{id}/unlock", post(commands::unlock))
        .route(
            "/api/v1/chargers/{id}/availability",
            post(commands::availability),
        )
        .route("/api/v1/chargers/{id}/trigger", post(commands::trigger))
        .route(
            "/api/v1/chargers/{id}/clear-cache",
            post(commands::clear_cache),
        )
        .route(
            "/api/v1/chargers/{id}/data-transfer",
            post(commands::data_transfer),
        )
        .route("/api/v1/chargers/{id}/firmware", post(devices::firmware))
        .route("/api/v1/chargers/{id}/logs", post(devices::logs))
        .route("/api/v1/chargers/{id}/accept", post(devices::accept))
        .route("/api/v1/chargers/{id}/report", post(reports::request))
        .route(
            "/api/v1/chargers/{id}/report/{request_id}",
            get(reports::get),
        )
        .merge(station_routes())
        .merge(order_routes())
        .route(
            "/api/v1/chargers/{id}/configuration",
            get(configuration::get).put(configuration::set),
        )
        // Only matched routes ask for a token: an unknown path is a 404 for everyone.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check,
        ))
        // After the token layer: the page holds no data (`page.rs`), the reads it makes do.
        .route("/", get(page::status_page))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host::check,
        ))
        .with_state(state)
}

/// The operator's orders to the control loop (`site_orders.rs`); merged before the token
/// check, so it covers them.
fn order_routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/chargers/{id}/need", put(site_orders::put_need))
        .route(
            "/api/v1/site/limit",
            put(site_orders::put_site_limit).delete(site_orders::delete_site_limit),
        )
}

/// The 2.0.1 station commands 1.6 has no message for (`station.rs`, `certificates.rs`,
/// `customer.rs`);
/// merged before the token check, so it covers them.
fn station_routes() -> Router<HttpState> {
    Router::new()
        .route(
            "/api/v1/chargers/{id}/transaction-status",
            post(station::transaction_status),
        )
        .route(
            "/api/v1/chargers/{id}/network-profile",
            post(station::network_profile_post),
        )
        .route(
            "/api/v1/chargers/{id}/certificates",
            get(certificates::list).post(certificates::install),
        )
        .route(
            "/api/v1/chargers/{id}/certificates/{serial}",
            axum::routing::delete(certificates::delete),
        )
        .route(
            "/api/v1/chargers/{id}/customer-information",
            post(customer::request),
        )
        .route(
            "/api/v1/chargers/{id}/customer-information/{request_id}",
            get(customer::get),
        )
}

impl HttpState {
    /// Runs `f` on the store with a reader slot; 503 when busy or failing.
    pub(crate) async fn read_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Ok(Ok(_reader)) =
            tokio::time::timeout(STORE_WAIT, Arc::clone(&self.store_readers).acquire_owned()).await
        else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: too many API requests at once, try again",
            ));
        };
        self.store.call(f).await.map_err(|e| {
            tracing::warn!("API store call failed: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is not available",
            )
        })
    }
}

/// A query string parsed strictly, or a 400 that lists the known parameters.
pub(crate) fn query<T>(
    parsed: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
    known: &str,
) -> Result<T, ApiError> {
    parsed.map(|q| q.0).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{}; known parameters: {known}", e.body_text()),
        )
    })
}

/// An error answer not yet rendered: small enough to return in a `Result`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, self.message)
    }
}

/// A JSON error answer.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, axum::Json(body)).into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such resource: {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not answer {method}", uri.path()),
    )
}

/// Binds `addr` (port 0 for a free one); returns the listener and the bound address.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), HttpError> {
    let error = |source| HttpError { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}

/// Serves `router` on `listener` until `shutdown` turns true, then lets open requests end.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let stop = async move {
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
    };
    let listener = listener::LimitedListener::new(listener, MAX_CONNECTIONS);
    let service = router.into_make_service_with_connect_info::<auth::Peer>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("HTTP server stopped: {e}");
    }
}
