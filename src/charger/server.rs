//! The OCPP WebSocket listener: TCP accept, optional TLS (security profiles 2 and 3), the
//! handshake, then one `connection::serve` task per charger.
//!
//! Every step a stranger can stall is bounded in time (`limits.rs`). Unfinished handshakes
//! have a budget in which the oldest socket is closed for a newcomer (per address, then in
//! all), unregistered chargers a small budget and lifetime of their own, and configured
//! chargers none: holding sockets open cannot lock a charger out. Never decides who may
//! connect itself: that is `verify::admit` around `handshake::decide`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{self, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::connection;
use super::handshake::{Admitted, Refusal};
use super::head::{self, Replay};
use super::limits::*;
use super::registry::Chargers;
use super::settings::ServerSettings;
use super::verify::{self, PendingSlot, Shared};
use crate::config::{Live, Tls};
use crate::csms::Csms;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// The bound listener; `run` serves it until shutdown.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    settings: Arc<ServerSettings>,
    /// The config in force, when the listener follows reloads (`follow`).
    config: Option<Live>,
    csms: Csms,
    chargers: Chargers,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<&Tls>,
        settings: ServerSettings,
        csms: Csms,
        chargers: Chargers,
    ) -> Result<Self, ServerError> {
        let tls = tls.map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self {
            listener,
            tls,
            settings: Arc::new(settings),
            config: None,
            csms,
            chargers,
            shared: Arc::new(Shared::default()),
        })
    }

    /// Admits chargers by the config in force from now on: a reload's new chargers and
    /// passwords count from the next handshake (open connections stay as they are).
    pub fn follow(&mut self, mut config: Live) {
        let _ = config.take_change();
        self.config = Some(config);
    }

    /// Takes a reloaded config before the next handshake. Credentials remembered as
    /// passed are forgotten: a changed password must not let the old one in.
    fn follow_reload(&mut self) {
        let Some(config) = self.config.as_mut().and_then(Live::take_change) else {
            return;
        };
        let clock = self.settings.limits.clock;
        self.settings = Arc::new(ServerSettings::from_config(&config, clock));
        self.shared.forget_verified();
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts chargers until `shutdown` turns true; connection tasks see the same signal
    /// and close their sockets.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            let accepted = tokio::select! {
                _ = shutdown.changed() => break,
                accepted = self.listener.accept() => accepted,
                // Reap finished connection tasks so the set does not grow.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                _ = prune.tick() => {
                    tasks.spawn(prune_unknown_chargers(self.csms.clone(), self.settings.clone()));
                    continue;
                }
            };
            let (tcp, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            self.follow_reload();
            let (close, closed) = oneshot::channel();
            let slot = self.open_handshake(peer, close);
            let task = Accepted {
                tls: self.tls.clone(),
                settings: self.settings.clone(),
                shared: self.shared.clone(),
                csms: self.csms.clone(),
                chargers: self.chargers.clone(),
                shutdown: shutdown.clone(),
                peer,
            };
            tasks.spawn(task.serve(tcp, slot, closed));
        }
        // Every connection saw the same shutdown signal and is closing its socket.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "connections still open at the shutdown deadline; aborting them"
            );
            tasks.abort_all();
        }
    }

    /// Takes a handshake slot for a new socket; when the handshakes are full, the oldest
    /// one (of the address, else of all) is closed instead of refusing the newcomer.
    fn open_handshake(&self, peer: SocketAddr, close: oneshot::Sender<()>) -> HandshakeSlot {
        let mut gate = self.shared.gate();
        let (n, evicted) = gate.handshakes.open(peer.ip(), close);
        if let Some(evicted) = evicted {
            let _ = evicted.send(());
            if let Some(more) = gate.logs.evicted.allow(Instant::now()) {
                tracing::warn!(%peer, also = more, open = gate.handshakes.len(), "connection limit reached: closed the oldest unfinished handshake for a new one");
            }
        }
        HandshakeSlot {
            shared: self.shared.clone(),
            n,
        }
    }
}

/// Deletes stored rows of unconfigured chargers not seen for `UNKNOWN_ROW_RETENTION`.
async fn prune_unknown_chargers(csms: Csms, settings: Arc<ServerSettings>) {
    let configured: Vec<String> = settings.chargers.keys().map(|id| id.to_string()).collect();
    let retention = chrono::TimeDelta::from_std(UNKNOWN_ROW_RETENTION).unwrap_or_default();
    let before = settings.limits.clock.now() - retention;
    let pruned = csms
        .store()
        .call(move |c| crate::store::prune_unknown_chargers(c, &configured, before))
        .await;
    match pruned {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "forgot unconfigured chargers not seen for a day"),
        Err(e) => tracing::warn!("cannot prune unconfigured chargers: {e}"),
    }
}

/// A socket's place among the unfinished handshakes; freed when dropped.
struct HandshakeSlot {
    shared: Arc<Shared>,
    n: u64,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.shared.gate().handshakes.close(self.n);
    }
}

struct Accepted {
    tls: Option<TlsAcceptor>,
    settings: Arc<ServerSettings>,
    shared: Arc<Shared>,
    csms: Csms,
    chargers: Chargers,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
}

/// An upgraded, admitted connection.
type Upgraded<S> = (WebSocketStream<Replay<S>>, Admitted, Option<PendingSlot>);

impl Accepted {
    /// The handshake within `HANDSHAKE_TIMEOUT` unless evicted (`closed`), then the
    /// connection.
    async fn serve(self, tcp: TcpStream, slot: HandshakeSlot, mut closed: oneshot::Receiver<()>) {
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let Some(acceptor) = self.tls.clone() else {
            return self.serve_on(tcp, None, deadline, slot, closed).await;
        };
        let accepted = tokio::select! {
            _ = &mut closed => return,
            accepted = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => accepted,
        };
        match accepted {
            Ok(Ok(stream)) => {
                let peer_certificates = stream.get_ref().1.peer_certificates();
                let subject = peer_certificates.and_then(|c| c.first()).map(common_name);
                self.serve_on(stream, subject, deadline, slot, closed).await
            }
            Ok(Err(e)) => tracing::debug!(peer = %self.peer, "TLS handshake failed: {e}"),
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    /// `client_certificate`: the subject CN of the verified client certificate, if any.
    async fn serve_on<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        stream: S,
        client_certificate: Option<String>,
        deadline: Instant,
        slot: HandshakeSlot,
        mut closed: oneshot::Receiver<()>,
    ) {
        let upgraded = tokio::select! {
            _ = &mut closed => return,
            upgraded = tokio::time::timeout_at(deadline, self.upgrade(stream, client_certificate)) => upgraded,
        };
        drop(slot);
        let (ws, admitted, pending) = match upgraded {
            Ok(Some(upgraded)) => upgraded,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!(peer = %self.peer, "handshake timed out");
                return;
            }
        };
        self.run_connection(ws, admitted, pending).await;
    }

    /// Reads the request head, decides (`verify::admit`), and lets tungstenite answer:
    /// the 101 with the chosen subprotocol, or the refusal.
    async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        client_certificate: Option<String>,
    ) -> Option<Upgraded<S>> {
        let (request_head, bytes) = match head::read_head(&mut stream).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(peer = %self.peer, "no request head: {e}");
                return None;
            }
        };
        let verdict = verify::admit(
            &self.shared,
            &self.settings,
            &request_head,
            self.peer,
            client_certificate.as_deref(),
        )
        .await;
        if let Err(refusal) = &verdict {
            let mut gate = self.shared.gate();
            if let Some(more) = gate.logs.refused.allow(Instant::now()) {
                tracing::warn!(peer = %self.peer, path = request_head.path, status = refusal.status, also = more, "handshake refused: {}", refusal.reason());
            }
        }
        let admitted = verdict.as_ref().ok().map(|(a, _)| a.clone());
        // The signature is tungstenite's; its error type is an HTTP response by design.
        #[allow(clippy::result_large_err)]
        let callback = |_: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
            match &verdict {
                Ok((ok, _)) => {
                    // Echo the chosen subprotocol: a client that offered one fails the
                    // handshake without it (RFC 6455 §4.1, CRATES.md §1).
                    response.headers_mut().insert(
                        http::header::SEC_WEBSOCKET_PROTOCOL,
                        HeaderValue::from_static(ok.version.subprotocol()),
                    );
                    Ok(response)
                }
                Err(refusal) => Err(refused(refusal)),
            }
        };
        let replay = Replay::new(bytes, stream);
        let upgraded = tokio_tungstenite::accept_hdr_async_with_config(
            replay,
            callback,
            Some(self.ws_config()),
        )
        .await;
        let ws = match upgraded {
            Ok(ws) => ws,
            Err(e) => {
                tracing::debug!(peer = %self.peer, "WebSocket handshake ended: {e}");
                return None;
            }
        };
        let pending = verdict.ok().and_then(|(_, pending)| pending);
        Some((ws, admitted?, pending))
    }

    fn ws_config(&self) -> WebSocketConfig {
        ws_config(self.settings.limits.max_message_bytes)
    }

    /// Serves an admitted charger; a Pending one for `PENDING_LIFETIME` at most (it then
    /// reconnects and boots again, and its slot goes back to the budget).
    async fn run_connection<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        ws: WebSocketStream<Replay<S>>,
        admitted: Admitted,
        pending: Option<PendingSlot>,
    ) {
        let expires = pending.as_ref().map(|_| Instant::now() + PENDING_LIFETIME);
        let id = admitted.id.clone();
        let (stop, stopped) = watch::channel(false);
        let limits = self.settings.limits.clone();
        let conn = connection::serve(ws, admitted, self.csms, self.chargers, limits, stopped);
        tokio::pin!(conn);
        let mut shutdown = self.shutdown;
        let mut stopping = false;
        loop {
            tokio::select! {
                () = &mut conn => break,
                _ = shutdown.changed(), if !stopping => {
                    stopping = true;
                    let _ = stop.send(true);
                }
                () = sleep_until(expires), if !stopping && expires.is_some() => {
                    tracing::info!(charger = %id, "closing a Pending connection at the end of its lifetime");
                    stopping = true;
                    let _ = stop.send(true);
                }
            }
        }
        drop(pending);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// The HTTP answer to a refused handshake.
fn refused(refusal: &Refusal) -> ErrorResponse {
    let mut builder = http::Response::builder().status(refusal.status);
    if refusal.challenge {
        builder = builder.header(http::header::WWW_AUTHENTICATE, "Basic realm=\"chargegate\"");
    }
    builder
        .body(Some(refusal.body.clone()))
        .unwrap_or_else(|_| ErrorResponse::new(Some(refusal.body.clone())))
}

/// The subject CN of a certificate rustls already verified; "" when it has none (the
/// handshake then refuses it, as no charger id is empty).
fn common_name(cert: &rustls::pki_types::CertificateDer<'_>) -> String {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return String::new();
    };
    let cn = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok());
    cn.unwrap_or_default().to_string()
}

fn tls_acceptor(tls: &Tls) -> Result<TlsAcceptor, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_err = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        ServerError::Tls(format!("cannot read {what} {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .map_err(|e| read_err("certificate", &tls.cert_file, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err("certificate", &tls.cert_file, &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| read_err("key", &tls.key_file, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca_file)
                .map_err(|e| read_err("client CA", ca_file, &e))?
            {
                let cert = cert.map_err(|e| read_err("client CA", ca_file, &e))?;
                roots.add(cert).map_err(|e| {
                    ServerError::Tls(format!("client CA {}: {e}", ca_file.display()))
                })?;
            }
            // Chargers with a password may still connect without a certificate; the
            // handshake then requires Basic auth (handshake::decide).
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| ServerError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The WebSocket settings of every charger connection, for a message limit of
/// `max_message_bytes`.
fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    let mut ws_config = WebSocketConfig::default();
    // Not tungstenite's 128 KiB per connection: see `READ_BUFFER_BYTES`.
    ws_config.read_buffer_size = READ_BUFFER_BYTES;
    // Frames past 4x the message limit are not even buffered and close the connection
    // with 1009 (connection::framing_close); between 1x and 4x the connection answers
    // with a CALLERROR and stays up.
    let hard_limit = max_message_bytes.saturating_mul(4);
    ws_config.max_message_size = Some(hard_limit);
    ws_config.max_frame_size = Some(hard_limit);
    ws_config
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
