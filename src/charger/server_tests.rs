//! The connection's WebSocket settings: a read buffer far smaller than tungstenite's
//! default must still deliver large messages whole.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::ws_config;

/// The site default of `max-message-bytes`.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Sends `text` from a client to a server with chargegate's settings over an in-memory
/// pipe that carries at most `pipe_bytes` at a time; returns what the server read.
async fn through_server(text: String, pipe_bytes: usize) -> Message {
    let (client_io, server_io) = tokio::io::duplex(pipe_bytes);
    let config = ws_config(MAX_MESSAGE_BYTES);
    let mut server = WebSocketStream::from_raw_socket(server_io, Role::Server, Some(config)).await;
    let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let send = tokio::spawn(async move {
        client
            .send(Message::text(text))
            .await
            .expect("client sends");
        client
    });
    let got = server
        .next()
        .await
        .expect("a message")
        .expect("read without error");
    let _client = send.await.expect("the sender ends");
    got
}

#[tokio::test]
async fn a_message_many_times_the_read_buffer_arrives_whole() {
    let read_buffer = ws_config(MAX_MESSAGE_BYTES).read_buffer_size;
    // A NotifyReport part near the message limit: 15 times the read buffer.
    let text = format!(
        r#"[2,"r-1","NotifyReport",{{"data":"{}"}}]"#,
        "x".repeat(60 * 1024)
    );
    assert!(
        text.len() > 10 * read_buffer,
        "the test must exceed the buffer"
    );
    let got = through_server(text.clone(), 8 * 1024).await;
    assert_eq!(got, Message::text(text));
}

#[tokio::test]
async fn a_message_between_the_limit_and_the_hard_limit_is_still_read_whole() {
    // Past `max-message-bytes` the connection answers with a CALLERROR, which needs the
    // message read whole first (up to 4x the limit, `ws_config`).
    let text = "y".repeat(3 * MAX_MESSAGE_BYTES);
    let got = through_server(text.clone(), 16 * 1024).await;
    assert_eq!(got, Message::text(text));
}

#[test]
fn the_read_buffer_is_small_and_the_size_limits_are_four_times_the_message_limit() {
    let config = ws_config(MAX_MESSAGE_BYTES);
    assert!(
        config.read_buffer_size <= 8 * 1024,
        "{}",
        config.read_buffer_size
    );
    assert_eq!(config.max_message_size, Some(4 * MAX_MESSAGE_BYTES));
    assert_eq!(config.max_frame_size, Some(4 * MAX_MESSAGE_BYTES));
}
