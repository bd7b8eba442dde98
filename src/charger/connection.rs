//! One task per charger connection: the thin async loop around `ocpp::session::RpcSession`.
//!
//! It reads frames, answers the charger's CALLs through `csms::Csms`, sends queued
//! commands one at a time, times them out, and writes every command and its answer to the
//! audit log (DESIGN.md S6). Anything a charger sends is answered or logged; nothing it
//! sends ends the task except a closed or broken socket, or framing WebSocket cannot carry
//! on from (a text message that is not UTF-8, a frame or message over the hard size
//! limit), which is first answered with its close code (RFC 6455 §7.4.1).

use std::time::Duration;

use tokio::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::handshake::Admitted;
use super::registry::{Chargers, CommandError, CommandRequest};
use crate::clock::Clock;
use crate::csms::{Admission, ChargerContext, Csms, CsmsError};
use crate::ocpp::model::{
    ChargerCommand, CommandReply, EventReply, OcppVersion, RegistrationStatus,
};
use crate::ocpp::rpc::{self, Frame, RpcErrorCode};
use crate::ocpp::session::{Incoming, RpcSession};
use crate::store::{self, AuditRecord};
use crate::telemetry::{self, Direction};

/// What a connection task needs besides its socket.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a charger may take to answer one of our CALLs.
    pub call_timeout: Duration,
    /// Larger text messages are refused with a CALLERROR, in bytes.
    pub max_message_bytes: usize,
    /// The Heartbeat interval chargers get at boot (`[csms] heartbeat-interval-s`): the
    /// silence after which the charger is probed and then disconnected (`Silence`).
    /// Zero: never.
    pub heartbeat: Duration,
    /// Where the connection reads time (timestamps of records and the audit log).
    pub clock: Clock,
}

/// An outgoing CALL waiting for its answer.
#[derive(Debug)]
struct Pending {
    command: ChargerCommand,
    action: &'static str,
    request: Value,
    reason: String,
    reply: oneshot::Sender<Result<CommandReply, CommandError>>,
    /// Dropped with the CALL once answered or expired.
    _answer_due: crate::clock::AnswerDue,
}

struct Connection<S> {
    ws: WebSocketStream<S>,
    ctx: ChargerContext,
    csms: Csms,
    rpc: RpcSession<Pending>,
    limits: Limits,
    silence: Silence,
}

/// A charger silent past `PROBE_AFTER_HEARTBEATS` x its Heartbeat interval gets a
/// WebSocket Ping (RFC 6455 §5.5.2: its WebSocket stack answers it even when its OCPP
/// application is busy); with no frame at all (a Pong counts) by
/// `CLOSE_AFTER_HEARTBEATS` x the interval the connection is closed, so that the
/// charger counts as offline for the planner and dispatch instead of as a charger that
/// follows its limits (issue 10: a hung charger stayed "connected"). The
/// `charger-silent` alert (src/alerts) is raised at 2 x already, on the lack of CALLs.
#[derive(Debug)]
struct Silence {
    /// When the last frame of any kind came from the charger.
    last_heard: Instant,
    /// A Ping was sent since.
    probed: bool,
}

/// Silence, in Heartbeat intervals, after which the charger is pinged.
const PROBE_AFTER_HEARTBEATS: u32 = 2;
/// Silence, in Heartbeat intervals, after which the connection is closed: one interval
/// for the Pong to come, ample for any link that still carries frames.
const CLOSE_AFTER_HEARTBEATS: u32 = 3;

impl Silence {
    /// When to act next; `None` when the interval is zero.
    fn deadline(&self, heartbeat: Duration) -> Option<Instant> {
        if heartbeat.is_zero() {
            return None;
        }
        let after = if self.probed {
            CLOSE_AFTER_HEARTBEATS
        } else {
            PROBE_AFTER_HEARTBEATS
        };
        Some(self.last_heard + heartbeat * after)
    }

    fn new() -> Self {
        Self {
            last_heard: Instant::now(),
            probed: false,
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.probed = false;
    }
}

/// Serves one admitted charger until its socket closes, a newer connection replaces it, or
/// chargegate shuts down.
pub async fn serve<S>(
    ws: WebSocketStream<S>,
    admitted: Admitted,
    csms: Csms,
    chargers: Chargers,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ctx = ChargerContext {
        id: admitted.id.clone(),
        version: admitted.version,
        admission: admitted.admission,
    };
    let mut registration = chargers.register(&ctx.id, ctx.version);
    match csms.connected(&ctx, limits.clock.now()).await {
        // A Pending charger the operator accepted at run time (`csms::Admission`).
        Ok(admission) => ctx.admission = admission,
        Err(e) => tracing::error!(charger = %ctx.id, "cannot record the connection: {e}"),
    }
    tracing::info!(charger = %ctx.id, version = ctx.version.subprotocol(), admission = ?ctx.admission, "charger connected");
    // Message ids carry the connection's start so that they never repeat across reconnects.
    let prefix = format!("cg{}", limits.clock.now().timestamp_millis());
    let mut conn = Connection {
        ws,
        ctx,
        csms,
        rpc: RpcSession::new(prefix),
        limits,
        silence: Silence::new(),
    };
    let close_reason = loop {
        let deadline = conn.rpc.deadline();
        let silence = conn.silence.deadline(conn.limits.heartbeat);
        tokio::select! {
            _ = shutdown.changed() => break Some((CloseCode::Away, "chargegate is shutting down")),
            _ = &mut registration.superseded => break Some((CloseCode::Policy, "replaced by a newer connection")),
            message = conn.ws.next() => {
                if let Some(close) = conn.on_message(message).await {
                    break close;
                }
            }
            Some(request) = registration.commands.recv(), if !conn.rpc.is_busy() => {
                if let Err(e) = conn.send_command(*request).await {
                    tracing::warn!(charger = %conn.ctx.id, "cannot write to the charger: {e}");
                    break None;
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => conn.expire().await,
            _ = sleep_until(silence), if silence.is_some() => {
                if let Some(close) = conn.on_silence().await {
                    break close;
                }
            }
        }
    };
    if let Some((code, reason)) = close_reason {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.ws.close(Some(frame))).await;
    }
    if let Some(outstanding) = conn.rpc.abandon() {
        conn.finish(outstanding.pending, None, Err(CommandError::Disconnected))
            .await;
    }
    // A replaced connection leaves the charger's record alone: the newer one owns it.
    if chargers.unregister(&conn.ctx.id, registration.generation)
        && let Err(e) = conn
            .csms
            .disconnected(&conn.ctx, conn.limits.clock.now())
            .await
    {
        tracing::error!(charger = %conn.ctx.id, "cannot record the disconnection: {e}");
    }
    tracing::info!(charger = %conn.ctx.id, "charger disconnected");
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// The close frame that tells a charger why its framing ended the connection (RFC 6455
/// §7.4.1). tungstenite reports these as errors and leaves the closing to us; without a
/// close frame the charger sees only a dropped socket and cannot tell a bug from a network
/// fault. Its reader is finished after such an error (the stream is fused, and after an
/// oversized frame's header it would otherwise buffer the payload), but writing still works.
/// Other errors (a reset, an I/O error, a protocol violation) close without one.
fn framing_close(error: &WsError) -> Option<(CloseCode, &'static str)> {
    match error {
        // 1007: data in a message not consistent with its type (a text frame not UTF-8).
        WsError::Utf8(_) => Some((CloseCode::Invalid, "text message is not UTF-8")),
        // 1009: a frame or a reassembled message over `WebSocketConfig`'s hard limit.
        WsError::Capacity(_) => Some((CloseCode::Size, "message too big")),
        _ => None,
    }
}

/// The bytes an oversized CALL's id is looked for in: `[2,"`, some spaces, and 36
/// characters of up to 4 bytes each.
const ID_HEAD_BYTES: usize = 32 + 4 * rpc::MAX_MESSAGE_ID_LEN;

/// The message id of a frame too large to parse, read from its first bytes, if it is a CALL.
/// An id with a JSON escape is not read (its text is not the id), so such a frame is only
/// logged.
fn call_id_prefix(text: &str) -> Option<&str> {
    let head = &text[..text.floor_char_boundary(ID_HEAD_BYTES)];
    let rest = head
        .trim_start()
        .strip_prefix('[')?
        .trim_start()
        .strip_prefix('2')?;
    let rest = rest
        .trim_start()
        .strip_prefix(',')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    let id = &rest[..end];
    (rpc::valid_message_id(id) && !id.contains('\\')).then_some(id)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn version(&self) -> OcppVersion {
        self.ctx.version
    }

    /// One read from the socket; `Some` ends the connection with that close frame.
    async fn on_message(
        &mut self,
        message: Option<Result<Message, WsError>>,
    ) -> Option<Option<(CloseCode, &'static str)>> {
        // Any frame is a sign of life, a Pong included.
        if matches!(message, Some(Ok(_))) {
            self.silence.heard();
        }
        match message {
            None | Some(Ok(Message::Close(_))) => Some(None),
            Some(Err(e)) => {
                tracing::warn!(charger = %self.ctx.id, "connection error: {e}");
                Some(framing_close(&e))
            }
            Some(Ok(Message::Text(text))) => match self.on_text(text.as_str()).await {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(charger = %self.ctx.id, "cannot write to the charger: {e}");
                    Some(None)
                }
            },
            Some(Ok(Message::Binary(_))) => {
                // OCPP-J uses text frames only (1.6 §3.5, 2.0.1 Part 4 §3.5).
                tracing::warn!(charger = %self.ctx.id, "binary frame ignored");
                None
            }
            Some(Ok(_)) => None,
        }
    }

    /// The charger has been silent to the `Silence` deadline: a Ping, or after an
    /// unanswered one, the close (`Some`: end the connection with this close frame).
    async fn on_silence(&mut self) -> Option<Option<(CloseCode, &'static str)>> {
        let quiet = self.silence.last_heard.elapsed().as_secs();
        let heartbeat = self.limits.heartbeat.as_secs();
        if self.silence.probed {
            tracing::warn!(charger = %self.ctx.id, quiet_s = quiet, heartbeat_s = heartbeat, "no frame from the charger for {CLOSE_AFTER_HEARTBEATS} Heartbeat intervals, not even a Pong: closing the connection; it counts as offline until it reconnects");
            return Some(Some((
                CloseCode::Policy,
                "silent past 3 heartbeat intervals",
            )));
        }
        tracing::info!(charger = %self.ctx.id, quiet_s = quiet, "charger silent: WebSocket Ping sent");
        self.silence.probed = true;
        match self.ws.send(Message::Ping(Vec::new().into())).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(charger = %self.ctx.id, "cannot write to the charger: {e}");
                Some(None)
            }
        }
    }

    async fn send(&mut self, text: String) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        tracing::trace!(charger = %self.ctx.id, "-> {text}");
        self.ws.send(Message::Text(text.into())).await
    }

    async fn on_text(&mut self, text: &str) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        tracing::trace!(charger = %self.ctx.id, "<- {text}");
        if text.len() > self.limits.max_message_bytes {
            tracing::warn!(charger = %self.ctx.id, bytes = text.len(), "message over the size limit refused");
            if let Some(id) = call_id_prefix(text) {
                let description = format!(
                    "message of {} bytes exceeds the limit of {}",
                    text.len(),
                    self.limits.max_message_bytes
                );
                let answer = rpc::call_error(
                    self.version(),
                    id,
                    RpcErrorCode::FormatViolation,
                    &description,
                );
                return self.send(answer).await;
            }
            return Ok(());
        }
        match rpc::parse(text) {
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => self.on_call(id, action, payload).await,
            Ok(Frame::CallResult { id, payload }) => {
                self.on_answer(&id, Ok(payload)).await;
                Ok(())
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
                ..
            }) => {
                self.on_answer(&id, Err(CommandError::CallError { code, description }))
                    .await;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(charger = %self.ctx.id, "malformed frame: {e}");
                telemetry::ocpp_error(Direction::In, "malformed");
                match rpc::error_reply_id(self.version(), e.id.as_deref()).filter(|_| e.answerable)
                {
                    Some(id) => {
                        self.send(rpc::call_error(
                            self.version(),
                            &id,
                            rpc::error_reply_code(&e),
                            &e.error.message,
                        ))
                        .await
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// A Pending connection whose boot was Accepted (the operator accepted the charger
    /// meanwhile) has its later events processed.
    fn accepted_at_boot(&mut self, reply: &EventReply) {
        if self.ctx.admission == Admission::Pending
            && matches!(
                reply,
                EventReply::Boot {
                    status: RegistrationStatus::Accepted,
                    ..
                }
            )
        {
            tracing::info!(charger = %self.ctx.id, "accepted by the operator at run time");
            self.ctx.admission = Admission::Accepted;
        }
    }

    async fn on_call(
        &mut self,
        id: String,
        action: String,
        payload: Value,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        if let Incoming::Repeat(answer) = self.rpc.incoming(&id, &action, &payload) {
            tracing::info!(charger = %self.ctx.id, id, action, "resent CALL answered from cache");
            return self.send(answer).await;
        }
        // Kept for the resend cache, which compares the whole CALL (decoding consumes it).
        let request = payload.clone();
        let version = self.version();
        let decoded = crate::ocpp::decode_call(version, &action, payload);
        // An action the version does not have is counted as `unknown`, not by its name.
        let label = match &decoded {
            Err(e) if e.code == RpcErrorCode::NotImplemented => "unknown",
            _ => action.as_str(),
        };
        telemetry::ocpp_call(Direction::In, label);
        let answer = match decoded {
            Err(e) => {
                tracing::warn!(charger = %self.ctx.id, action, "refused CALL: {e}");
                telemetry::ocpp_error(Direction::Out, label);
                rpc::call_error(version, &id, e.code, &e.message)
            }
            Ok(_) if let Some(answer) = self.cloud_authorize(&action, &request).await => {
                rpc::call_result(&id, &answer)
            }
            Ok(event) => match self.handle_and_relay(&action, &request, &event).await {
                Ok(reply) => {
                    self.accepted_at_boot(&reply);
                    match crate::ocpp::encode_reply(version, &event, &reply) {
                        Ok(payload) => rpc::call_result(&id, &payload),
                        Err(e) => {
                            tracing::error!(charger = %self.ctx.id, action, "cannot encode our reply: {e}");
                            telemetry::ocpp_error(Direction::Out, label);
                            rpc::call_error(
                                version,
                                &id,
                                RpcErrorCode::InternalError,
                                "reply could not be encoded",
                            )
                        }
                    }
                }
                Err(CsmsError::NotAccepted) => {
                    telemetry::ocpp_error(Direction::Out, label);
                    rpc::call_error(
                        version,
                        &id,
                        RpcErrorCode::SecurityError,
                        "charger is not accepted (Pending)",
                    )
                }
                Err(e) => {
                    // Not cached: the charger's resend is processed again once the store recovers.
                    tracing::error!(charger = %self.ctx.id, action, "cannot handle CALL: {e}");
                    telemetry::ocpp_error(Direction::Out, label);
                    let answer = rpc::call_error(
                        version,
                        &id,
                        RpcErrorCode::InternalError,
                        "temporarily unable to process",
                    );
                    return self.send(answer).await;
                }
            },
        };
        self.rpc.answered(&id, &action, request, &answer);
        self.send(answer).await
    }

    /// The cloud CSMS's answer to an Authorize, while the Local Controller's link is up
    /// (`upstream::ocpp`); `None`: the local CSMS decides.
    async fn cloud_authorize(&self, action: &str, request: &Value) -> Option<Value> {
        if action != "Authorize" {
            return None;
        }
        let uplink = self.csms.uplink()?;
        uplink
            .authorize(&self.ctx.id, self.version(), request)
            .await
    }

    /// The local CSMS handles the event; with a Local Controller, a transaction message is
    /// kept for the cloud in the same commit (and its link woken), any other forwarded.
    async fn handle_and_relay(
        &self,
        action: &str,
        request: &Value,
        event: &crate::ocpp::model::ChargerEvent,
    ) -> Result<EventReply, CsmsError> {
        let now = self.limits.clock.now();
        let Some(uplink) = self.csms.uplink() else {
            return self.csms.handle(&self.ctx, event, now).await;
        };
        let entry = uplink.journal_entry(&self.ctx.id, self.version(), action, request);
        let kept = entry.is_some();
        let reply = self
            .csms
            .handle_relayed(&self.ctx, event, now, entry)
            .await?;
        if kept {
            uplink.kept(&self.ctx.id, self.version());
        } else if self.ctx.admission != Admission::Pending {
            uplink.forward(&self.ctx.id, self.version(), action, request.clone());
        }
        Ok(reply)
    }

    async fn send_command(
        &mut self,
        request: CommandRequest,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let CommandRequest {
            command,
            reason,
            reply,
        } = request;
        let (action, payload) = match crate::ocpp::encode_command(self.version(), &command) {
            Ok(encoded) => encoded,
            Err(e) => {
                let record =
                    self.audit_record(command.name(), &Value::Null, None, "not-sent", &reason);
                self.write_audit(record).await;
                let _ = reply.send(Err(CommandError::NotInVersion(e)));
                return Ok(());
            }
        };
        telemetry::ocpp_call(Direction::Out, action);
        let deadline = Instant::now() + self.limits.call_timeout;
        let frame_payload = payload.clone();
        let pending = Pending {
            command,
            action,
            request: payload,
            reason,
            reply,
            _answer_due: self.limits.clock.answer_due(),
        };
        let id = match self.rpc.begin(pending, deadline) {
            Ok(id) => id,
            Err(pending) => {
                // The select loop only takes a command while no CALL is outstanding.
                let _ = pending.reply.send(Err(CommandError::Busy));
                return Ok(());
            }
        };
        self.send(rpc::call(&id, action, &frame_payload)).await
    }

    async fn on_answer(&mut self, id: &str, answer: Result<Value, CommandError>) {
        let Some(pending) = self.rpc.answer(id) else {
            tracing::warn!(charger = %self.ctx.id, id, "answer to no outstanding CALL ignored");
            return;
        };
        let raw = match &answer {
            Ok(payload) => Some(payload.to_string()),
            Err(e) => {
                telemetry::ocpp_error(Direction::In, pending.action);
                Some(e.to_string())
            }
        };
        let result = answer.and_then(|payload| {
            crate::ocpp::decode_command_reply(self.version(), &pending.command, payload)
                .map_err(CommandError::BadReply)
        });
        self.finish(pending, raw, result).await;
    }

    async fn expire(&mut self) {
        if let Some(outstanding) = self.rpc.expired(Instant::now()) {
            tracing::warn!(charger = %self.ctx.id, action = outstanding.pending.action, "charger did not answer in time");
            self.finish(outstanding.pending, None, Err(CommandError::Timeout))
                .await;
        }
    }

    /// Audits a command's outcome and hands it to whoever asked.
    async fn finish(
        &mut self,
        pending: Pending,
        raw: Option<String>,
        result: Result<CommandReply, CommandError>,
    ) {
        let outcome = match &result {
            Ok(reply) if reply.is_accepted() => "accepted",
            Ok(_) => "rejected",
            Err(CommandError::Timeout) => "timeout",
            Err(_) => "error",
        };
        let record = self.audit_record(
            pending.action,
            &pending.request,
            raw,
            outcome,
            &pending.reason,
        );
        self.write_audit(record).await;
        let _ = pending.reply.send(result);
    }

    fn audit_record(
        &self,
        action: &str,
        request: &Value,
        response: Option<String>,
        outcome: &str,
        reason: &str,
    ) -> AuditRecord {
        AuditRecord {
            ts: crate::ocpp::time::format(&self.limits.clock.now()),
            charger_id: self.ctx.id.to_string(),
            action: action.to_string(),
            request: request.to_string(),
            response,
            outcome: outcome.to_string(),
            reason: reason.to_string(),
        }
    }

    async fn write_audit(&self, record: AuditRecord) {
        if let Err(e) = self
            .csms
            .store()
            .call(move |c| store::audit(c, &record))
            .await
        {
            tracing::error!(charger = %self.ctx.id, "cannot write the audit log: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_errors_get_their_close_code_and_others_none() {
        use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
        let too_long = WsError::Capacity(CapacityError::MessageTooLong {
            size: 20,
            max_size: 10,
        });
        let code = |e: &WsError| framing_close(e).map(|(code, _)| u16::from(code));
        assert_eq!(code(&WsError::Utf8("bad".into())), Some(1007));
        assert_eq!(code(&too_long), Some(1009));
        let reset = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(code(&reset), None);
        assert_eq!(code(&WsError::ConnectionClosed), None);
    }

    #[test]
    fn the_id_of_an_oversized_call_is_read_from_its_head() {
        assert_eq!(
            call_id_prefix(r#"[2,"abc","DataTransfer",{"data":"xxxx"#),
            Some("abc")
        );
        assert_eq!(call_id_prefix(r#" [ 2 , "id-1" ,"#), Some("id-1"));
        assert_eq!(call_id_prefix(r#"[3,"abc",{}]"#), None);
        assert_eq!(call_id_prefix(r#"[2,"","x"]"#), None);
        assert_eq!(call_id_prefix("garbage"), None);
        assert_eq!(call_id_prefix(r#"[2,"a\"b","DataTransfer",{"#), None);
    }

    #[test]
    fn the_id_of_an_oversized_call_may_be_36_multibyte_characters() {
        for c in ['é', '€', '🔌'] {
            let id: String = std::iter::repeat_n(c, rpc::MAX_MESSAGE_ID_LEN).collect();
            let head = format!(
                r#"[2,"{id}","DataTransfer",{{"data":"{}"}}]"#,
                "x".repeat(100)
            );
            assert_eq!(call_id_prefix(&head), Some(id.as_str()), "{c}");
            let long = format!(r#"[2,"{id}{c}","DataTransfer",{{}}]"#);
            assert_eq!(call_id_prefix(&long), None, "{c}: 37 characters");
        }
        // A char boundary that is not at the head's end does not lose the id.
        let head = format!(r#"[2,"a","DataTransfer",{{"data":"{}"}}]"#, "é".repeat(100));
        assert_eq!(call_id_prefix(&head), Some("a"));
    }
}
