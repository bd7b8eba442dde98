//! The simulated charger's socket task: owns the WebSocket until either side closes it,
//! routes CALLRESULTs and CALLERRORs to the waiting `call`, answers the CSMS's CALLs per
//! the `ReplyPolicy` (see `answers`), and hands frames nobody waits for to `next_raw_reply`.
//! It imports `link` (the state it shares with the handle), never `charge_point`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::answers::{self, Answer, ReplyPolicy};
use super::link::{CLOSE_GRACE, Command, RawReply, ReceivedCall, Recorded, Shared, transport};
use crate::ocpp::rpc::{self, Frame};

/// The background task: owns the socket until either side closes it.
pub(super) async fn run<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    raw: mpsc::UnboundedSender<RawReply>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let mut close_requested = false;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send { text, ack }) => {
                    let result = sink.send(Message::text(text)).await.map_err(transport);
                    let failed = result.is_err();
                    let _ = ack.send(result);
                    if failed {
                        break;
                    }
                }
                Some(Command::Close) | None => {
                    close_requested = true;
                    break;
                }
                Some(Command::Hang) => {
                    // A hung charger: nothing read (so no Pong, no close handshake),
                    // nothing sent, the socket held open until the handle closes.
                    while let Some(command) = commands.recv().await {
                        match command {
                            Command::Send { ack, .. } => {
                                let _ = ack.send(Err(super::link::SimError::Timeout));
                            }
                            Command::Close => break,
                            Command::Hang => {}
                        }
                    }
                    break;
                }
            },
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let outgoing = handle_text(&shared, text.as_str(), &raw);
                    let mut failed = false;
                    for frame in outgoing {
                        if sink.send(Message::text(frame)).await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break;
                    }
                }
                // tungstenite answers a close frame itself; the stream ends after it.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    if close_requested && sink.send(Message::Close(None)).await.is_ok() {
        // Wait for the server's close frame so the close handshake completes.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(message)) = stream.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
    }
    shared.closed.store(true, Ordering::SeqCst);
    shared.lock().pending.clear();
    shared.calls.send_modify(|n| *n += 1);
}

/// Handles one text frame from the CSMS; returns the frames to send back.
pub(super) fn handle_text(
    shared: &Shared,
    text: &str,
    raw: &mpsc::UnboundedSender<RawReply>,
) -> Vec<String> {
    let version = shared.version;
    match rpc::parse(text) {
        Ok(Frame::Call {
            id,
            action,
            payload,
        }) => {
            let out = answer_call(shared, id, action, payload);
            shared.calls.send_modify(|n| *n += 1);
            out
        }
        Ok(frame) => {
            route_answer(shared, frame, raw);
            Vec::new()
        }
        Err(e) => {
            let _ = raw.send(RawReply::Unparsed {
                text: text.to_string(),
                error: e.to_string(),
            });
            // A real charger answers a broken CALL whose id it could read.
            match (e.answerable, &e.id) {
                (true, Some(id)) => {
                    vec![rpc::call_error(version, id, e.error.code, &e.error.message)]
                }
                _ => Vec::new(),
            }
        }
    }
}

/// Records a CALL from the CSMS and answers it per the policy: the CALLRESULT or
/// CALLERROR, then the charger's own follow-up CALLs, whose answers it will drop.
fn answer_call(shared: &Shared, id: String, action: String, payload: Value) -> Vec<String> {
    let version = shared.version;
    let mut out = Vec::new();
    let mut inner = shared.lock();
    let policy = inner.policy;
    let answer = match policy {
        ReplyPolicy::Ignore => None,
        ReplyPolicy::AcceptSilently => {
            let applied = answers::answer(
                version,
                ReplyPolicy::Accept,
                &action,
                &payload,
                &mut inner.state,
                &shared.clock.now(),
            );
            drop(applied);
            None
        }
        _ => Some(answers::answer(
            version,
            policy,
            &action,
            &payload,
            &mut inner.state,
            &shared.clock.now(),
        )),
    };
    inner.received.push(Recorded {
        call: ReceivedCall {
            id: id.clone(),
            action,
            payload,
        },
        claimed: false,
    });
    match answer {
        None => {}
        Some(Answer::Result {
            payload,
            follow_ups,
        }) => {
            out.push(rpc::call_result(&id, &payload));
            for (action, payload) in follow_ups {
                let follow_id = shared.new_id("sim-f");
                inner.internal.insert(follow_id.clone());
                out.push(rpc::call(&follow_id, &action, &payload));
            }
        }
        Some(Answer::Error { code, description }) => {
            out.push(rpc::call_error(version, &id, code, &description));
        }
    }
    out
}

/// A CALLRESULT or CALLERROR goes to the `call` waiting for its id; answers to the
/// charger's own follow-ups are dropped; the rest go to `next_raw_reply`.
fn route_answer(shared: &Shared, frame: Frame, raw: &mpsc::UnboundedSender<RawReply>) {
    let id = match &frame {
        Frame::CallResult { id, .. } | Frame::CallError { id, .. } => id.clone(),
        Frame::Call { id, .. } => id.clone(),
    };
    let mut inner = shared.lock();
    if let Some(waiter) = inner.pending.remove(&id) {
        let _ = waiter.send(frame);
    } else if !inner.internal.remove(&id) {
        let _ = raw.send(RawReply::Frame(frame));
    }
}
