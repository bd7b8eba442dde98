//! A test cloud CSMS for the OCPP Local Controller tests (issue 13): a tokio-tungstenite
//! server on 127.0.0.1 that accepts OCPP 1.6 and 2.0.1 stations at `/<path>/<identity>`,
//! answers their CALLs with minimal schema-valid payloads, records every frame, and can be
//! told to fail (CALLERROR, or no answer), to go away (`stop`) and to come back on the
//! same port (`start_again`), and to send its own CALLs (`call`).
//!
//! Two lists make exactly-once checkable: `received` holds every frame in arrival order,
//! `processed` only the CALLs the cloud answered with a CALLRESULT (the ones a real cloud
//! would have acted on). It never decides anything about chargegate: the tests do.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

/// The subprotocols the cloud speaks.
pub const V16: &str = "ocpp1.6";
pub const V201: &str = "ocpp2.0.1";
/// The first transactionId the cloud gives a 1.6 StartTransaction (then +1 each).
pub const FIRST_CLOUD_TX_ID: i64 = 9001;
/// The BootNotification interval the cloud returns, in seconds.
pub const HEARTBEAT_INTERVAL_S: i64 = 300;

/// One WebSocket a station opened.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The last path segment, percent-decoded.
    pub identity: String,
    pub path: String,
    /// The subprotocol chosen (`V16` or `V201`).
    pub subprotocol: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// Whether the socket is still open.
    pub open: bool,
}

impl Connection {
    /// `user:password` of a Basic `Authorization` header.
    pub fn basic_credentials(&self) -> Option<String> {
        use base64::Engine;
        let encoded = self.authorization.as_deref()?.strip_prefix("Basic ")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// What a frame was.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    Result {
        id: String,
        payload: Value,
    },
    Error {
        id: String,
        code: String,
    },
    /// Not an OCPP-J frame at all.
    Garbage(String),
}

/// A frame the cloud received, with its place in the arrival order (over all connections).
#[derive(Debug, Clone)]
pub struct Frame {
    pub order: u64,
    /// Index into `Snapshot::connections`.
    pub connection: usize,
    pub identity: String,
    pub kind: Kind,
}

impl Frame {
    /// The action and payload of a CALL.
    pub fn call(&self) -> Option<(&str, &Value)> {
        match &self.kind {
            Kind::Call {
                action, payload, ..
            } => Some((action, payload)),
            _ => None,
        }
    }
}

/// The answer to one of the cloud's own CALLs.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Result(Value),
    Error { code: String, description: String },
}

/// What the cloud does with one CALL of a scripted action.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Answer it as usual.
    Pass,
    /// CALLERROR InternalError.
    Reject,
    /// No answer at all.
    Ignore,
}

/// A copy of what the cloud has seen.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub connections: Vec<Connection>,
    pub received: Vec<Frame>,
    pub processed: Vec<Frame>,
}

impl Snapshot {
    /// The payloads of the CALLs of `action` from `identity` in `list` (received or
    /// processed), in arrival order.
    pub fn calls<'a>(list: &'a [Frame], identity: &str, action: &str) -> Vec<&'a Value> {
        list.iter()
            .filter(|f| f.identity == identity)
            .filter_map(Frame::call)
            .filter(|(a, _)| *a == action)
            .map(|(_, p)| p)
            .collect()
    }

    /// Whether `identity` has an open connection.
    pub fn is_connected(&self, identity: &str) -> bool {
        self.connections
            .iter()
            .any(|c| c.open && c.identity == identity)
    }

    /// The newest connection of `identity`.
    pub fn connection(&self, identity: &str) -> Option<&Connection> {
        self.connections
            .iter()
            .rev()
            .find(|c| c.identity == identity)
    }
}

#[derive(Default)]
struct State {
    seen: Snapshot,
    order: u64,
    /// action -> what to do with its next CALLs, in turn (then: answer).
    script: HashMap<String, VecDeque<Fault>>,
    blocked: HashSet<String>,
    next_tx_id: i64,
    next_call: u64,
    /// Live connections: their index and outbound queue.
    outbound: HashMap<usize, mpsc::UnboundedSender<Message>>,
    /// The cloud's own CALLs awaiting an answer, by message id.
    pending: HashMap<String, oneshot::Sender<Answer>>,
    tasks: Vec<JoinHandle<()>>,
}

/// The test cloud. Dropping it stops it.
pub struct Cloud {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for task in self.lock().tasks.drain(..) {
            task.abort();
        }
    }
}

impl Cloud {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Cloud {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("cloud binds");
        let cloud = Cloud {
            addr: listener.local_addr().expect("cloud address"),
            state: Arc::new(Mutex::new(State {
                next_tx_id: FIRST_CLOUD_TX_ID,
                ..State::default()
            })),
        };
        cloud.serve(listener);
        cloud
    }

    /// The `[upstream.ocpp] url` that reaches this cloud.
    pub fn url(&self) -> String {
        format!("ws://{}/ocpp", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn_state = state.clone();
                let task = tokio::spawn(connection(stream, conn_state));
                lock(&state).tasks.push(task);
            }
        });
        self.lock().tasks.push(accept);
    }

    /// Closes every socket and stops listening: the cloud is unreachable.
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut state = self.lock();
            state.outbound.clear();
            for c in &mut state.seen.connections {
                c.open = false;
            }
            state.tasks.drain(..).collect()
        };
        for task in tasks {
            task.abort();
            // Awaited so that the listening socket is closed when `stop` returns.
            let _ = task.await;
        }
    }

    /// Listens again on the same port (so that the configured url stays valid).
    pub async fn start_again(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The old socket may take a moment to be released after `stop`.
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the cloud cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// The next `n` CALLs of `action` (after those already scripted) get CALLERROR
    /// InternalError, and are not processed.
    pub fn reject_next(&self, action: &str, n: u32) {
        self.script(action, Fault::Reject, n);
    }

    /// The next `n` CALLs of `action` (after those already scripted) get no answer at all,
    /// and are not processed.
    pub fn ignore_next(&self, action: &str, n: u32) {
        self.script(action, Fault::Ignore, n);
    }

    /// The next `n` CALLs of `action` (after those already scripted) are answered as
    /// usual: to let some through before a fault.
    pub fn pass_next(&self, action: &str, n: u32) {
        self.script(action, Fault::Pass, n);
    }

    fn script(&self, action: &str, fault: Fault, n: u32) {
        let mut state = self.lock();
        let queue = state.script.entry(action.into()).or_default();
        queue.extend(std::iter::repeat_n(fault, n as usize));
    }

    /// Authorize (and StartTransaction's idTagInfo) of `token` is answered Blocked.
    pub fn block(&self, token: &str) {
        self.lock().blocked.insert(token.into());
    }

    /// A copy of everything seen so far.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().seen.clone()
    }

    /// Polls `pred` on the snapshot every 10 ms until it holds (true) or `within` passed.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&Snapshot) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if pred(&self.snapshot()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `identity` is connected; panics with what the cloud saw otherwise.
    pub async fn wait_connected(&self, identity: &str, within: Duration) {
        if !self.wait_for(within, |s| s.is_connected(identity)).await {
            panic!(
                "{identity} did not connect to the cloud within {within:?}; connections: {:#?}",
                self.snapshot().connections
            );
        }
    }

    /// Sends a CALL (id `cloud-N`) to `identity`'s newest open connection and awaits the
    /// answer for up to `within`. Err: not connected, or no answer in time.
    pub async fn call(
        &self,
        identity: &str,
        action: &str,
        payload: Value,
        within: Duration,
    ) -> Result<Answer, String> {
        let (id, rx) = {
            let mut state = self.lock();
            let conn = state
                .seen
                .connections
                .iter()
                .rposition(|c| c.open && c.identity == identity)
                .ok_or_else(|| format!("{identity} is not connected to the cloud"))?;
            state.next_call += 1;
            let id = format!("cloud-{}", state.next_call);
            let text = json!([2, id, action, payload]).to_string();
            let sender = state
                .outbound
                .get(&conn)
                .ok_or_else(|| format!("{identity}'s connection is closing"))?;
            sender
                .send(Message::text(text))
                .map_err(|_| format!("{identity}'s connection closed"))?;
            let (tx, rx) = oneshot::channel();
            state.pending.insert(id.clone(), tx);
            (id, rx)
        };
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(format!("{id}: the connection closed before the answer")),
            Err(_) => {
                self.lock().pending.remove(&id);
                Err(format!(
                    "{id} ({action} to {identity}): no answer within {within:?}"
                ))
            }
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last path segment, percent-decoded.
fn identity_of(path: &str) -> String {
    let segment = path.rsplit('/').next().unwrap_or("");
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The handshake: record path, auth and subprotocol; pick the first offered protocol the
/// cloud speaks (400 when the station offers only others).
// The signature is tungstenite's; its error type is an HTTP response by design.
#[allow(clippy::result_large_err)]
fn handshake(
    req: &Request,
    mut resp: Response,
    record: &mut Option<Connection>,
) -> Result<Response, ErrorResponse> {
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let offered = header("sec-websocket-protocol");
    let chosen = offered
        .split(',')
        .map(str::trim)
        .find(|p| *p == V16 || *p == V201)
        .map(str::to_string);
    if chosen.is_none() && !offered.trim().is_empty() {
        let mut refuse = ErrorResponse::new(Some(format!("no OCPP version in {offered}")));
        *refuse.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refuse);
    }
    if let Some(p) = &chosen {
        resp.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(p).expect("a token"),
        );
    }
    let authorization = Some(header("authorization")).filter(|a| !a.is_empty());
    *record = Some(Connection {
        identity: identity_of(&path),
        path,
        subprotocol: chosen,
        authorization,
        open: true,
    });
    Ok(resp)
}

async fn connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut record = None;
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| handshake(req, resp, &mut record);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let Some(record) = record else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (index, identity, version) = {
        let mut s = lock(&state);
        let index = s.seen.connections.len();
        let version = record.subprotocol.clone().unwrap_or_else(|| V201.into());
        let identity = record.identity.clone();
        s.seen.connections.push(record);
        s.outbound.insert(index, tx.clone());
        (index, identity, version)
    };
    let (mut sink, mut source) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = on_frame(&state, index, &identity, &version, text.as_str());
                    if let Some(reply) = reply
                        && sink.send(Message::text(reply)).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let mut s = lock(&state);
    s.outbound.remove(&index);
    if let Some(c) = s.seen.connections.get_mut(index) {
        c.open = false;
    }
}

/// Records one frame and returns the reply to send, if any.
fn on_frame(
    state: &Mutex<State>,
    connection: usize,
    identity: &str,
    version: &str,
    text: &str,
) -> Option<String> {
    let kind = parse(text);
    let mut s = lock(state);
    s.order += 1;
    let frame = Frame {
        order: s.order,
        connection,
        identity: identity.to_string(),
        kind: kind.clone(),
    };
    s.seen.received.push(frame.clone());
    match kind {
        Kind::Call {
            id,
            action,
            payload,
        } => {
            let fault = s.script.get_mut(&action).and_then(VecDeque::pop_front);
            match fault {
                Some(Fault::Reject) => {
                    let refusal = json!([4, id, "InternalError", "the test cloud refuses", {}]);
                    return Some(refusal.to_string());
                }
                Some(Fault::Ignore) => return None,
                Some(Fault::Pass) | None => {}
            }
            let reply = match answer(&mut s, version, &action, &payload) {
                Some(result) => {
                    s.seen.processed.push(frame);
                    json!([3, id, result])
                }
                None => json!([
                    4,
                    id,
                    "NotImplemented",
                    format!("the test cloud has no {action}"),
                    {}
                ]),
            };
            Some(reply.to_string())
        }
        Kind::Result { id, payload } => {
            if let Some(tx) = s.pending.remove(&id) {
                let _ = tx.send(Answer::Result(payload));
            }
            None
        }
        Kind::Error { id, code } => {
            if let Some(tx) = s.pending.remove(&id) {
                let description = text.to_string();
                let _ = tx.send(Answer::Error { code, description });
            }
            None
        }
        Kind::Garbage(_) => None,
    }
}

/// OCPP-J framing (1.6 §4.1, 2.0.1 Part 4 §4.2).
pub fn parse(text: &str) -> Kind {
    let garbage = || Kind::Garbage(text.to_string());
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return garbage();
    };
    let id = || items.get(1).and_then(Value::as_str).map(str::to_string);
    match (items.first().and_then(Value::as_i64), id()) {
        (Some(2), Some(id)) => match (items.get(2).and_then(Value::as_str), items.get(3)) {
            (Some(action), Some(payload)) => Kind::Call {
                id,
                action: action.into(),
                payload: payload.clone(),
            },
            _ => garbage(),
        },
        (Some(3), Some(id)) => Kind::Result {
            id,
            payload: items.get(2).cloned().unwrap_or(Value::Null),
        },
        (Some(4), Some(id)) => Kind::Error {
            id,
            code: items
                .get(2)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        },
        _ => garbage(),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The cloud's answer to a station's CALL, minimal and schema-valid; `None`: an action the
/// test cloud does not know (answered NotImplemented).
fn answer(s: &mut State, version: &str, action: &str, payload: &Value) -> Option<Value> {
    if version == V16 {
        answer_v16(s, action, payload)
    } else {
        answer_v201(s, action, payload)
    }
}

fn token_status(s: &State, token: Option<&str>) -> &'static str {
    match token {
        Some(t) if s.blocked.contains(t) => "Blocked",
        _ => "Accepted",
    }
}

/// Answers in OCPP 1.6.
fn answer_v16(s: &mut State, action: &str, payload: &Value) -> Option<Value> {
    let tag = payload.get("idTag").and_then(Value::as_str);
    Some(match action {
        "BootNotification" => {
            json!({"status": "Accepted", "currentTime": now(), "interval": HEARTBEAT_INTERVAL_S})
        }
        "Heartbeat" => json!({"currentTime": now()}),
        "Authorize" => json!({"idTagInfo": {"status": token_status(s, tag)}}),
        "StartTransaction" => {
            let id = s.next_tx_id;
            s.next_tx_id += 1;
            json!({"transactionId": id, "idTagInfo": {"status": token_status(s, tag)}})
        }
        "DataTransfer" => json!({"status": "Accepted"}),
        "StatusNotification"
        | "StopTransaction"
        | "MeterValues"
        | "DiagnosticsStatusNotification"
        | "FirmwareStatusNotification"
        | "SecurityEventNotification"
        | "LogStatusNotification"
        | "SignedFirmwareStatusNotification" => json!({}),
        _ => return None,
    })
}

/// Answers in OCPP 2.0.1.
fn answer_v201(s: &mut State, action: &str, payload: &Value) -> Option<Value> {
    let token = payload.pointer("/idToken/idToken").and_then(Value::as_str);
    Some(match action {
        "BootNotification" => {
            json!({"status": "Accepted", "currentTime": now(), "interval": HEARTBEAT_INTERVAL_S})
        }
        "Heartbeat" => json!({"currentTime": now()}),
        "Authorize" => json!({"idTokenInfo": {"status": token_status(s, token)}}),
        "TransactionEvent" if token.is_some() => {
            json!({"idTokenInfo": {"status": token_status(s, token)}})
        }
        "DataTransfer" => json!({"status": "Accepted"}),
        "NotifyEVChargingNeeds" => json!({"status": "Accepted"}),
        "StatusNotification"
        | "TransactionEvent"
        | "MeterValues"
        | "NotifyEvent"
        | "NotifyReport"
        | "NotifyChargingLimit"
        | "ReportChargingProfiles"
        | "SecurityEventNotification"
        | "FirmwareStatusNotification"
        | "LogStatusNotification"
        | "NotifyMonitoringReport"
        | "NotifyCustomerInformation" => json!({}),
        _ => return None,
    })
}

/// The answers of both versions to a request, without a connection (for the cloud's own
/// schema test): a fresh state with `blocked` blocked.
pub fn answer_for(version: &str, action: &str, payload: &Value, blocked: &[&str]) -> Option<Value> {
    let mut s = State {
        next_tx_id: FIRST_CLOUD_TX_ID,
        blocked: blocked.iter().map(|b| (*b).to_string()).collect(),
        ..State::default()
    };
    answer(&mut s, version, action, payload)
}
