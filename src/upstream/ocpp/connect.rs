//! Opens one WebSocket to the cloud CSMS: `<url>/<identity>` (the identity
//! percent-encoded, OCPP-J 1.6 §3.1.1, 2.0.1 Part 4 §3.2), the version's subprotocol,
//! HTTP Basic auth when a password is set (Security Profile 1 and 2, Part 2 A00), and for
//! wss:// TLS through rustls on ring (the `[upstream.ocpp]` CA and client certificate).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::ocpp::model::OcppVersion;

/// The socket to the cloud, plain or TLS.
pub trait Socket: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Socket for T {}

pub type CloudSocket = WebSocketStream<Box<dyn Socket>>;

/// How long the TCP, TLS and WebSocket handshakes may take together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest message taken from the cloud (a full SendLocalList of a large depot).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// What one connection needs.
pub struct Target<'a> {
    pub url: &'a str,
    pub identity: &'a str,
    pub version: OcppVersion,
    pub password: Option<&'a str>,
    pub tls: Option<&'a Arc<rustls::ClientConfig>>,
}

/// Connects; the error is a sentence for the log.
pub async fn connect(target: &Target<'_>) -> Result<CloudSocket, String> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(target))
        .await
        .map_err(|_| format!("no handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()))?
}

async fn handshake(target: &Target<'_>) -> Result<CloudSocket, String> {
    let url = format!(
        "{}/{}",
        target.url,
        crate::units::path_segment(target.identity)
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    let protocol = target.version.subprotocol();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    if let Some(password) = target.password {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", target.identity));
        let value = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| "the password cannot go into an HTTP header".to_string())?;
        request.headers_mut().insert("Authorization", value);
    }
    let uri = request.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| format!("{url}: no host"))?
        .to_string();
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Socket> = if tls {
        let config = target
            .tls
            .ok_or_else(|| "wss:// without a TLS configuration".to_string())?;
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("{host}: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?,
        )
    } else {
        Box::new(tcp)
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (ws, response) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| format!("WebSocket handshake with {url}: {e}"))?;
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if chosen != Some(protocol) {
        return Err(format!(
            "the cloud did not agree to {protocol} (it answered {:?})",
            chosen.unwrap_or("no subprotocol")
        ));
    }
    Ok(ws)
}
