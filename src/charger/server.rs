//! The OCPP WebSocket listener: TCP accept, optional TLS (security profiles 2 and 3), the
//! handshake, then one `connection::serve` task per charger.
//!
//! Every step a stranger can stall is bounded in time, and the number of sockets is capped,
//! so a port scan or a slow client cannot starve the chargers. Never decides who may
//! connect itself: that is `handshake::decide`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{self, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::connection::{self, Limits};
use super::handshake::{self, Admitted};
use super::registry::Chargers;
use crate::clock::Clock;
use crate::config::{Charger, Config, Tls, UnknownChargers};
use crate::csms::Csms;
use crate::units::ChargerId;

/// A TLS handshake plus a WebSocket upgrade must finish within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections get to close at shutdown (systemd's stop timeout is longer).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// Open sockets at most (a depot has tens of chargers; this is a flood guard).
const MAX_CONNECTIONS: usize = 1024;

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

/// The CSMS listener's settings, taken from the config.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub chargers: HashMap<ChargerId, Charger>,
    pub unknown_chargers: UnknownChargers,
    pub limits: Limits,
}

impl ServerSettings {
    pub fn from_config(config: &Config, clock: Clock) -> Self {
        Self {
            chargers: config.chargers_by_id(),
            unknown_chargers: config.csms.unknown_chargers,
            limits: Limits {
                call_timeout: Duration::from_secs(u64::from(config.csms.call_timeout_s)),
                max_message_bytes: config.csms.max_message_bytes,
                clock,
            },
        }
    }
}

/// The bound listener; `run` serves it until shutdown.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    settings: Arc<ServerSettings>,
    csms: Csms,
    chargers: Chargers,
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
            csms,
            chargers,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts chargers until `shutdown` turns true; connection tasks see the same signal
    /// and close their sockets.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.changed() => break,
                accepted = self.listener.accept() => accepted,
                // Reap finished connection tasks so the set does not grow.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
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
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "connection limit reached, refusing");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let task = Accepted {
                tls: self.tls.clone(),
                settings: self.settings.clone(),
                csms: self.csms.clone(),
                chargers: self.chargers.clone(),
                shutdown: shutdown.clone(),
                peer,
            };
            tasks.spawn(async move {
                task.serve(tcp).await;
                drop(permit);
            });
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
}

struct Accepted {
    tls: Option<TlsAcceptor>,
    settings: Arc<ServerSettings>,
    csms: Csms,
    chargers: Chargers,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Accepted {
    async fn serve(self, tcp: TcpStream) {
        match self.tls.clone() {
            None => self.upgrade(tcp, None).await,
            Some(acceptor) => {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let peer_certificates = stream.get_ref().1.peer_certificates();
                        let subject = peer_certificates.and_then(|c| c.first()).map(common_name);
                        self.upgrade(stream, subject).await
                    }
                    Ok(Err(e)) => tracing::warn!(peer = %self.peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::warn!(peer = %self.peer, "TLS handshake timed out"),
                }
            }
        }
    }

    /// `client_certificate`: the subject CN of the verified client certificate, if any.
    async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        stream: S,
        client_certificate: Option<String>,
    ) {
        let mut admitted: Option<Admitted> = None;
        let settings = self.settings.clone();
        let peer = self.peer;
        // The signature is tungstenite's; its error type is an HTTP response by design.
        #[allow(clippy::result_large_err)]
        let callback = |request: &Request,
                        mut response: Response|
         -> Result<Response, ErrorResponse> {
            let offered: Vec<&str> = request
                .headers()
                .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let authorization = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let facts = handshake::Request {
                path: request.uri().path(),
                subprotocols: &offered,
                authorization,
                client_certificate: client_certificate.as_deref(),
            };
            match handshake::decide(&facts, &settings.chargers, settings.unknown_chargers) {
                Ok(ok) => {
                    // Echo the chosen subprotocol: a client that offered one fails the
                    // handshake without it (RFC 6455 §4.1, CRATES.md §1).
                    response.headers_mut().insert(
                        http::header::SEC_WEBSOCKET_PROTOCOL,
                        HeaderValue::from_static(ok.version.subprotocol()),
                    );
                    admitted = Some(ok);
                    Ok(response)
                }
                Err(refusal) => {
                    tracing::warn!(%peer, path = request.uri().path(), status = refusal.status, "handshake refused: {}", refusal.body);
                    let mut builder = http::Response::builder().status(refusal.status);
                    if refusal.challenge {
                        builder = builder
                            .header(http::header::WWW_AUTHENTICATE, "Basic realm=\"chargegate\"");
                    }
                    let mut error = ErrorResponse::new(Some(refusal.body.clone()));
                    if let Ok(built) = builder.body(Some(refusal.body)) {
                        error = built;
                    }
                    Err(error)
                }
            }
        };
        let mut ws_config = WebSocketConfig::default();
        // Frames past 4x the message limit are not even buffered; between 1x and 4x the
        // connection answers with a CALLERROR and stays up.
        let hard_limit = self.settings.limits.max_message_bytes.saturating_mul(4);
        ws_config.max_message_size = Some(hard_limit);
        ws_config.max_frame_size = Some(hard_limit);
        let upgraded = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config)),
        )
        .await;
        let ws = match upgraded {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, "WebSocket handshake ended: {e}");
                return;
            }
            Err(_) => {
                tracing::warn!(peer = %self.peer, "WebSocket handshake timed out");
                return;
            }
        };
        let Some(admitted) = admitted else { return };
        connection::serve(
            ws,
            admitted,
            self.csms,
            self.chargers,
            self.settings.limits.clone(),
            self.shutdown,
        )
        .await;
    }
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
