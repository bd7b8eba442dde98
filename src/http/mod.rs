//! The operator's HTTP side (`[http] listen`, by default 127.0.0.1:8080): the JSON API
//! under `/api/v1/`.
//!
//! Today it serves the audit log (`/api/v1/audit`, DESIGN.md S6: every limit sent to a
//! charger, its answer and why) and the billing records (`/api/v1/transactions`, JSON or
//! CSV, `transactions.rs`). The status page, `/api/v1/site`, `/chargers`, `/plan` and
//! `/metrics` hang on the same router when the operator's side is built. Thin: handlers read the store (and later the daemon's watch channels) and never
//! decide anything. Whatever a client sends, it gets an answer with a JSON body: a bad
//! request a 4xx with `{"error": ...}`, a store failure or a busy store a 503; the daemon
//! keeps running. At most `listener::MAX_CONNECTIONS` connections are open and at most
//! `STORE_READERS` store reads in flight, so API clients cannot starve the chargers.

mod api;
mod host;
mod listener;
mod transactions;

pub use listener::{ANSWER_TIMEOUT, MAX_CONNECTIONS, MAX_PER_ADDRESS};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::Live;
use crate::store::Store;

/// Store reads the API may have in flight at once: the store is one thread that also
/// writes what chargers send, so API readers must never queue it up.
const STORE_READERS: usize = 2;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct HttpState {
    store: Store,
    store_readers: Arc<Semaphore>,
    /// `[http] allowed-hosts`: names besides IP literals and `localhost` (`host.rs`).
    allowed_hosts: Arc<Vec<String>>,
    /// The config in force, for the tariff that prices billing records (`None`: unpriced).
    config: Option<Live>,
}

impl HttpState {
    pub fn new(store: Store, allowed_hosts: Vec<String>) -> Self {
        Self {
            store,
            store_readers: Arc::new(Semaphore::new(STORE_READERS)),
            allowed_hosts: Arc::new(allowed_hosts),
            config: None,
        }
    }

    /// Prices billing records under the tariff of the config in force (followed across
    /// reloads).
    pub fn with_config(mut self, config: Live) -> Self {
        self.config = Some(config);
        self
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
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host::check,
        ))
        .with_state(state)
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

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "this resource only answers GET",
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
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("HTTP server stopped: {e}");
    }
}
