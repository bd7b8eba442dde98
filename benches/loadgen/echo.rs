//! The reference server: a bare tokio-tungstenite server that answers every OCPP CALL with
//! a minimal CALLRESULT and does nothing else (no authentication, no store, no state). It
//! is the ceiling for message handling on this machine, measured with the same load in
//! the same invocation as chargegate.
//!
//! It runs in a child process of the bench (`loadgen --echo-server`), like chargegate, so
//! that both targets get their own multi-thread runtime with the default worker count and
//! their CPU time and memory are read the same way from /proc. It must stay minimal: any
//! work added here lowers the ceiling and flatters chargegate's ratio.

use std::io::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use futures_util::{SinkExt as _, StreamExt as _};
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;

/// The subprotocols the echo server accepts, in the order it prefers them.
const SUBPROTOCOLS: [&str; 2] = ["ocpp2.0.1", "ocpp1.6"];

/// The 1.6 transactionIds handed out (StartTransaction.conf needs an integer).
static NEXT_TRANSACTION_ID: AtomicI64 = AtomicI64::new(1);

/// Binds 127.0.0.1 on a free port, writes the port as one line to standard output (the
/// bench reads it) and serves until the process is killed.
pub fn serve() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("echo server runtime: {e}"))?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("echo server bind: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("echo server address: {e}"))?
            .port();
        let mut out = std::io::stdout();
        writeln!(out, "{port}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("echo server announces its port: {e}"))?;
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("echo server accept: {e}"))?;
            tokio::spawn(connection(stream));
        }
    })
}

/// One charger's connection: every text frame that is a CALL gets its CALLRESULT before the
/// next frame is read (the load is a closed loop per charger, so nothing waits behind it).
async fn connection(stream: TcpStream) {
    // As the simulated chargers do: small frames must not wait for Nagle.
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, select_subprotocol).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if let Some(answer) = answer(&text)
            && ws.send(Message::text(answer)).await.is_err()
        {
            return;
        }
    }
}

/// Picks the first offered OCPP subprotocol the server knows; the simulated charger refuses
/// a connection without one (OCPP-J 1.6 §3.1.2, 2.0.1 Part 4 §3.1.2).
#[allow(
    clippy::result_large_err,
    reason = "the signature is tungstenite's handshake callback"
)]
fn select_subprotocol(
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let chosen = SUBPROTOCOLS
        .into_iter()
        .find(|known| offered.split(',').any(|o| o.trim() == *known));
    if let Some(chosen) = chosen {
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(chosen));
    }
    Ok(response)
}

/// The CALLRESULT for a CALL frame `[2, id, action, payload]`, or None for anything else.
/// The payload is skipped without being built (`IgnoredAny`): the server reads only what it
/// needs to answer.
fn answer(text: &str) -> Option<String> {
    let (kind, id, action, IgnoredAny) =
        serde_json::from_str::<(u8, String, String, IgnoredAny)>(text).ok()?;
    if kind != 2 {
        return None;
    }
    serde_json::to_string(&(3, id, result_payload(&action))).ok()
}

/// `{}` for every action but the few whose answer the simulated charger reads: Boot
/// (status, currentTime, interval are required) and 1.6 StartTransaction (transactionId,
/// idTagInfo). A 2.0.1 TransactionEvent answer has no required field.
fn result_payload(action: &str) -> Value {
    match action {
        "BootNotification" => json!({
            "status": "Accepted",
            "currentTime": chargegate::sim::messages::timestamp(&chrono::Utc::now()),
            "interval": 300,
        }),
        "StartTransaction" => json!({
            "transactionId": NEXT_TRANSACTION_ID.fetch_add(1, Ordering::Relaxed),
            "idTagInfo": { "status": "Accepted" },
        }),
        _ => json!({}),
    }
}
