//! Issue 17, "Minor": a charger that breaks the WebSocket framing is told why before the
//! socket closes, with the close code RFC 6455 §7.4.1 names: 1007 for a text message that
//! is not UTF-8, 1009 for a frame or a message over the listener's hard size limit (4x
//! `max-message-bytes`; below that an oversized OCPP message gets a CALLERROR instead).
//! A raw client over loopback sends the bad frame and reads the close frame's code.

use std::time::Duration;

use base64::Engine;
use chargegate::daemon::Daemon;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use crate::common::{PASSWORD, Site};

/// How long the daemon may take to close: it answers at once, this only bounds a failure.
const WITHIN: Duration = Duration::from_secs(5);

/// The test config's `max-message-bytes` (common::site_toml) times the listener's factor.
const HARD_LIMIT: usize = 4 * 4096;

/// A configured OCPP 1.6 charger's WebSocket, opened by hand.
async fn open(daemon: &Daemon, id: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(daemon.csms_addr).await.expect("connect");
    let mut request = format!("ws://{}/ocpp/{id}", daemon.csms_addr)
        .into_client_request()
        .expect("request");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{PASSWORD}"));
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("ocpp1.6"),
    );
    headers.insert(
        "Authorization",
        HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
    );
    let (ws, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("the charger is admitted");
    ws
}

/// A data frame as written, so its payload and size are the test's choice.
fn frame(payload: Vec<u8>, opcode: Data, fin: bool) -> Message {
    Message::Frame(Frame::message(payload, OpCode::Data(opcode), fin))
}

/// Reads until the daemon's close frame (skipping the CALLs it sends a new charger) and
/// returns its code; `None` when the socket ends without one.
async fn close_code(ws: &mut WebSocketStream<TcpStream>) -> Option<CloseCode> {
    let read = async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => {}
                Err(e) => panic!("the socket ended without a close frame: {e}"),
            }
        }
        panic!("the socket ended without a close frame")
    };
    tokio::time::timeout(WITHIN, read)
        .await
        .expect("the daemon closes within 5 s")
}

#[tokio::test]
async fn a_text_message_that_is_not_utf8_gets_close_code_1007() {
    let site = Site::new("");
    let daemon = site.start().await;
    let mut ws = open(&daemon, "CP16-1").await;
    // `[2,"1","Heartbeat",{}]` with a lone continuation byte inside the id.
    let mut text = br#"[2,"1","Heartbeat",{}]"#.to_vec();
    text.insert(5, 0x80);
    ws.send(frame(text, Data::Text, true)).await.expect("sent");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Invalid));
}

#[tokio::test]
async fn a_frame_over_the_hard_limit_gets_close_code_1009() {
    let site = Site::new("");
    let daemon = site.start().await;
    let mut ws = open(&daemon, "CP16-1").await;
    let text = vec![b' '; HARD_LIMIT + 1];
    ws.send(frame(text, Data::Text, true)).await.expect("sent");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
}

#[tokio::test]
async fn a_message_over_the_hard_limit_in_small_frames_gets_close_code_1009() {
    let site = Site::new("");
    let daemon = site.start().await;
    let mut ws = open(&daemon, "CP16-1").await;
    // Each fragment is under the frame limit; together they pass the message limit.
    let part = HARD_LIMIT / 2 + 1;
    ws.feed(frame(vec![b' '; part], Data::Text, false))
        .await
        .expect("sent");
    ws.send(frame(vec![b' '; part], Data::Continue, true))
        .await
        .expect("sent");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
}

/// The daemon's answer to the CALL `id`, skipping the CALLs it sends a new charger.
async fn answer_to(ws: &mut WebSocketStream<TcpStream>, id: &str) -> String {
    let needle = format!(r#","{id}","#);
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains(&needle) && !t.starts_with("[2") => {
                    return t.to_string();
                }
                Some(Ok(Message::Close(f))) => panic!("closed: {f:?}"),
                None | Some(Err(_)) => panic!("the socket ended"),
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(WITHIN, read)
        .await
        .expect("an answer within 5 s")
}

#[tokio::test]
async fn a_message_between_the_limits_is_refused_and_the_connection_stays_up() {
    let site = Site::new("");
    let daemon = site.start().await;
    let mut ws = open(&daemon, "CP16-1").await;
    let padding = " ".repeat(5000);
    let call = format!(r#"[2,"big-1","Heartbeat",{{}}{padding}]"#);
    ws.send(Message::text(call)).await.expect("sent");
    let answer = answer_to(&mut ws, "big-1").await;
    assert!(
        answer.starts_with(r#"[4,"big-1","FormationViolation""#),
        "{answer}"
    );
    ws.send(Message::text(r#"[2,"hb-1","Heartbeat",{}]"#))
        .await
        .expect("sent");
    let answer = answer_to(&mut ws, "hb-1").await;
    assert!(answer.starts_with(r#"[3,"hb-1","#), "{answer}");
}
