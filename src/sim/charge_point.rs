//! One simulated charge point: the WebSocket connection, OCPP-J RPC correlation, the
//! automatic answers to the CSMS's CALLs, and high-level helpers per OCPP version.
//!
//! A background task owns the socket. Outgoing frames reach it over a channel; incoming
//! CALLRESULTs and CALLERRORs are routed to the pending `call` by message id, frames for
//! ids the simulator did not issue (answers to `send_text`) go to `next_raw_reply`, and
//! every CALL from the CSMS is recorded and answered per the `ReplyPolicy`.
//!
//! Imports run one way: this handle uses `socket` (the task) and `link` (what both share);
//! neither imports it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};

use super::answers::{ChargerState, ReplyPolicy, TxMemory};
use super::link::{CLOSE_GRACE, Command, Inner, Shared, transport};
pub use super::link::{RawReply, ReceivedCall, SimError};
use crate::ocpp::model::OcppVersion;
use crate::ocpp::rpc::{self, Frame};

/// How to connect a simulated charger.
#[derive(Clone)]
pub struct SimOptions {
    /// The CSMS endpoint without the charger identity, e.g. `ws://127.0.0.1:PORT/ocpp`
    /// (`wss://` with `tls`); the simulator appends `/` and the percent-encoded `id`.
    pub url: String,
    /// The charge point identity.
    pub id: String,
    /// The subprotocols offered, in order of preference.
    pub versions: Vec<OcppVersion>,
    /// HTTP Basic password (user = `id`), sent when set.
    pub password: Option<String>,
    /// TLS client configuration; when set the URL is `wss://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How long `connect` and `call` wait.
    pub call_timeout: Duration,
    /// How the charger answers the CSMS's CALLs at first.
    pub reply_policy: ReplyPolicy,
    /// ChargingProfiles the charger already holds (accepted SetChargingProfile payloads):
    /// a real charger keeps them across a reconnect.
    pub profiles: Vec<Value>,
    /// A faulty charger that accepts ChargingProfiles and ignores them.
    pub ignores_profiles: bool,
    /// 2.0.1 transactions the charger remembers from before this connection (what it
    /// answers GetTransactionStatus with).
    pub transactions: BTreeMap<String, TxMemory>,
    /// The local authorisation list the charger holds from before this connection (its
    /// version and entries, as `SimChargePoint::local_list` returns them).
    pub local_list: (i64, BTreeMap<String, Value>),
    /// The charger's clock (its message timestamps, the profiles' validity).
    pub clock: crate::clock::Clock,
}

impl SimOptions {
    /// Plain `ws://`, no password, 5 s timeout, answers everything positively.
    pub fn new(url: impl Into<String>, id: impl Into<String>, versions: &[OcppVersion]) -> Self {
        Self {
            url: url.into(),
            id: id.into(),
            versions: versions.to_vec(),
            password: None,
            tls: None,
            call_timeout: Duration::from_secs(5),
            reply_policy: ReplyPolicy::Accept,
            profiles: Vec::new(),
            ignores_profiles: false,
            transactions: BTreeMap::new(),
            local_list: (0, BTreeMap::new()),
            clock: crate::clock::Clock::system(),
        }
    }
}

impl fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOptions")
            .field("url", &self.url)
            .field("id", &self.id)
            .field("versions", &self.versions)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.is_some())
            .field("call_timeout", &self.call_timeout)
            .field("reply_policy", &self.reply_policy)
            .finish()
    }
}

/// A transaction the simulator started.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedTransaction {
    /// 1.6: the CSMS's transactionId as a string; 2.0.1: the id the charger chose.
    pub key: String,
    /// The StartTransaction / TransactionEvent response.
    pub response: Value,
}

/// A simulated OCPP charge point connected to a CSMS.
pub struct SimChargePoint {
    pub(super) id: String,
    call_timeout: Duration,
    pub(super) shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    raw: tokio::sync::Mutex<mpsc::UnboundedReceiver<RawReply>>,
    task: JoinHandle<()>,
}

impl fmt::Debug for SimChargePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimChargePoint")
            .field("id", &self.id)
            .field("version", &self.shared.version)
            .field("closed", &self.is_closed())
            .finish()
    }
}

fn handshake_error(e: WsError) -> SimError {
    match e {
        WsError::Http(response) => SimError::Handshake {
            status: response.status().as_u16(),
            body: response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        },
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(e)) => {
            SimError::Subprotocol(e.to_string())
        }
        other => transport(other),
    }
}

impl SimChargePoint {
    /// Opens the WebSocket, offering `opts.versions`, and starts the background task.
    pub async fn connect(opts: SimOptions) -> Result<Self, SimError> {
        let timeout = opts.call_timeout;
        let _due = opts.clock.answer_due();
        tokio::time::timeout(timeout, Self::connect_inner(opts))
            .await
            .map_err(|_| SimError::Timeout)?
    }

    async fn connect_inner(opts: SimOptions) -> Result<Self, SimError> {
        let url = format!(
            "{}/{}",
            opts.url.trim_end_matches('/'),
            crate::units::path_segment(&opts.id)
        );
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| SimError::Options(e.to_string()))?;
        let header =
            |s: &str| HeaderValue::from_str(s).map_err(|e| SimError::Options(e.to_string()));
        if !opts.versions.is_empty() {
            let offered: Vec<&str> = opts.versions.iter().map(|v| v.subprotocol()).collect();
            request
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, header(&offered.join(", "))?);
        }
        if let Some(password) = &opts.password {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", opts.id));
            request
                .headers_mut()
                .insert(AUTHORIZATION, header(&format!("Basic {token}"))?);
        }
        let uri = request.uri().clone();
        let host = uri
            .host()
            .ok_or_else(|| SimError::Options(format!("no host in {url}")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if opts.tls.is_some() { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(transport)?;
        tcp.set_nodelay(true).map_err(transport)?;
        match &opts.tls {
            None => Self::handshake(opts, request, tcp).await,
            Some(config) => {
                let name = rustls_pki_types::ServerName::try_from(host)
                    .map_err(|e| SimError::Options(e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(transport)?;
                Self::handshake(opts, request, stream).await
            }
        }
    }

    async fn handshake<S>(
        opts: SimOptions,
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
        stream: S,
    ) -> Result<Self, SimError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(handshake_error)?;
        let chosen = response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let version = chosen
            .and_then(OcppVersion::from_subprotocol)
            .filter(|v| opts.versions.contains(v))
            .ok_or_else(|| SimError::Subprotocol(format!("server selected {chosen:?}")))?;
        let (calls, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            version,
            clock: opts.clock,
            inner: Mutex::new(Inner {
                pending: HashMap::new(),
                internal: HashSet::new(),
                received: Vec::new(),
                policy: opts.reply_policy,
                state: ChargerState {
                    profiles: opts.profiles.clone(),
                    ignores_profiles: opts.ignores_profiles,
                    transactions: opts.transactions.clone(),
                    local_list_version: opts.local_list.0,
                    local_list: opts.local_list.1.clone(),
                    ..ChargerState::new(&opts.id)
                },
                seq: HashMap::new(),
            }),
            calls,
            closed: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
        });
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(super::socket::run(ws, shared.clone(), command_rx, raw_tx));
        Ok(Self {
            id: opts.id,
            call_timeout: opts.call_timeout,
            shared,
            commands,
            raw: tokio::sync::Mutex::new(raw_rx),
            task,
        })
    }

    /// The charge point identity.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The negotiated OCPP version.
    pub fn version(&self) -> OcppVersion {
        self.shared.version
    }

    /// True once the connection has ended, from either side.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Sends a CALL and waits `call_timeout` for its CALLRESULT (`Ok`) or CALLERROR.
    pub async fn call(&self, action: &str, payload: Value) -> Result<Value, SimError> {
        self.call_with_timeout(action, payload, self.call_timeout)
            .await
    }

    /// `call` with its own timeout.
    pub async fn call_with_timeout(
        &self,
        action: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Value, SimError> {
        let id = self.shared.new_id("sim-");
        let (tx, rx) = oneshot::channel();
        self.shared.lock().pending.insert(id.clone(), tx);
        let text = rpc::call(&id, action, &payload);
        let _due = self.shared.clock.answer_due();
        let outcome = tokio::time::timeout(timeout, async {
            self.send_text(&text).await?;
            rx.await.map_err(|_| SimError::Closed)
        })
        .await;
        self.shared.lock().pending.remove(&id);
        match outcome {
            Err(_) => Err(SimError::Timeout),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Frame::CallResult { payload, .. })) => Ok(payload),
            Ok(Ok(Frame::CallError {
                code,
                description,
                details,
                ..
            })) => Err(SimError::CallError {
                code,
                description,
                details,
            }),
            Ok(Ok(Frame::Call { .. })) => {
                Err(SimError::BadResponse("a CALL routed as an answer".into()))
            }
        }
    }

    /// Writes one raw text frame, e.g. a malformed one.
    pub async fn send_text(&self, text: &str) -> Result<(), SimError> {
        if self.is_closed() {
            return Err(SimError::Closed);
        }
        let (ack, done) = oneshot::channel();
        self.commands
            .send(Command::Send {
                text: text.to_string(),
                ack,
            })
            .map_err(|_| SimError::Closed)?;
        done.await.map_err(|_| SimError::Closed)?
    }

    /// The next frame from the CSMS that answered no `call` (see `RawReply`).
    pub async fn next_raw_reply(&self, timeout: Duration) -> Result<RawReply, SimError> {
        let mut raw = self.raw.lock().await;
        match tokio::time::timeout(timeout, raw.recv()).await {
            Err(_) => Err(SimError::Timeout),
            Ok(None) => Err(SimError::Closed),
            Ok(Some(reply)) => Ok(reply),
        }
    }

    /// Every CALL the CSMS sent so far, oldest first.
    pub fn received_calls(&self) -> Vec<ReceivedCall> {
        self.shared
            .lock()
            .received
            .iter()
            .map(|r| r.call.clone())
            .collect()
    }

    /// The oldest CALL of `action` not yet returned by this method, waiting up to
    /// `timeout` for one to arrive. `None` on timeout or when the connection ends.
    pub async fn wait_for_call(&self, action: &str, timeout: Duration) -> Option<ReceivedCall> {
        let mut changes = self.shared.calls.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            {
                let mut inner = self.shared.lock();
                if let Some(r) = inner
                    .received
                    .iter_mut()
                    .find(|r| !r.claimed && r.call.action == action)
                {
                    r.claimed = true;
                    return Some(r.call.clone());
                }
            }
            if self.is_closed() {
                return None;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// Changes how later CALLs from the CSMS are answered.
    pub fn set_reply_policy(&self, policy: ReplyPolicy) {
        self.shared.lock().policy = policy;
    }

    /// The accepted SetChargingProfile payloads the charger holds, oldest first.
    pub fn profiles(&self) -> Vec<Value> {
        self.shared.lock().state.profiles.clone()
    }

    /// 2.0.1: the certificate chains (PEM) received in CertificateSigned, oldest first.
    pub fn signed_chains(&self) -> Vec<String> {
        self.shared.lock().state.signed_chains.clone()
    }

    /// 2.0.1: the private key (PEM) of the last certificate request sent.
    pub fn certificate_key(&self) -> Option<String> {
        self.shared.lock().state.certificate_key.clone()
    }

    /// 2.0.1: what the station keeps about customer `key` (an id token, a customer
    /// identifier or a certificate serial), for CustomerInformation.
    pub fn set_customer_data(&self, key: &str, data: &str) {
        let mut inner = self.shared.lock();
        inner
            .state
            .customer_data
            .insert(key.to_string(), data.to_string());
    }

    /// 2.0.1: the customers the station keeps data about.
    pub fn customers(&self) -> Vec<String> {
        self.shared
            .lock()
            .state
            .customer_data
            .keys()
            .cloned()
            .collect()
    }

    /// 2.0.1 SignCertificate for a new key with subject CN `cn` (the station's own id when
    /// `None`), as the station sends it on its own (A03); the answer.
    pub async fn sign_certificate(&self, cn: Option<&str>) -> Result<Value, SimError> {
        let (csr, key) = super::certificates::certificate_request(cn.unwrap_or(self.id()));
        self.shared.lock().state.certificate_key = Some(key);
        self.call(
            "SignCertificate",
            serde_json::json!({"csr": csr, "certificateType": "ChargingStationCertificate"}),
        )
        .await
    }

    /// The local authorisation list the charger holds: its version and id ->
    /// idTagInfo (1.6) / idTokenInfo (2.0.1).
    pub fn local_list(&self) -> (i64, BTreeMap<String, Value>) {
        let inner = self.shared.lock();
        (
            inner.state.local_list_version,
            inner.state.local_list.clone(),
        )
    }

    /// Answers the next differential SendLocalList with `status` (`VersionMismatch`,
    /// `Failed`) instead of applying it.
    pub fn refuse_next_differential(&self, status: &str) {
        self.shared.lock().state.refuse_next_differential = Some(status.to_string());
    }

    /// The EVSEs (1.6 connectors) the CSMS asked for a MeterValues by TriggerMessage since
    /// the last call, oldest first: the caller, who knows what the vehicles draw, sends them.
    pub fn take_meter_value_requests(&self) -> Vec<u32> {
        std::mem::take(&mut self.shared.lock().state.meter_value_requests)
    }

    /// The current per phase this charger lets its vehicle draw at `at`, from the profiles
    /// it accepted (`None`: no profile in force, its hardware maximum applies).
    pub fn applied_limit(&self, at: chrono::DateTime<Utc>) -> Option<f64> {
        super::limits::applied_limit(self.version(), &self.profiles(), at)
    }

    /// Makes the charger faulty (it accepts ChargingProfiles and applies none, so its
    /// composite schedule shows none) or mends it.
    pub fn set_ignores_profiles(&self, ignores: bool) {
        self.shared.lock().state.ignores_profiles = ignores;
    }

    /// Hangs the charger: from now on it reads nothing (so it answers neither CALLs nor
    /// WebSocket Pings) and sends nothing, but keeps its socket open until `close`.
    pub fn hang(&self) {
        let _ = self.commands.send(Command::Hang);
    }

    /// Closes the WebSocket cleanly and waits for the task to end.
    pub async fn close(self) {
        let _ = self.commands.send(Command::Close);
        let mut task = self.task;
        if tokio::time::timeout(CLOSE_GRACE * 2, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::schema_check::assert_valid;
    use crate::sim::messages;
    use futures_util::{SinkExt, StreamExt};
    use serde_json::json;
    use tokio::net::TcpListener;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode};

    const WAIT: Duration = Duration::from_secs(5);

    /// A one-connection OCPP server: selects the first offered subprotocol it supports,
    /// answers the simulator's CALLs, forwards every frame it receives to `from_sim` and
    /// writes whatever the test puts in `to_sim`.
    struct TestServer {
        url: String,
        request: oneshot::Receiver<(String, HeaderMap)>,
        from_sim: mpsc::UnboundedReceiver<Value>,
        to_sim: mpsc::UnboundedSender<String>,
        closed: oneshot::Receiver<()>,
    }

    impl TestServer {
        async fn start(supported: &'static [&'static str], refuse: Option<u16>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}/ocpp", listener.local_addr().unwrap());
            let (request_tx, request) = oneshot::channel();
            let (from_tx, from_sim) = mpsc::unbounded_channel();
            let (to_sim, to_rx) = mpsc::unbounded_channel();
            let (closed_tx, closed) = oneshot::channel();
            tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                // The callback's signature is tungstenite's.
                #[allow(clippy::result_large_err)]
                let callback = move |req: &Request, mut resp: Response| {
                    let _ = request_tx.send((req.uri().path().to_string(), req.headers().clone()));
                    if let Some(status) = refuse {
                        let mut err = ErrorResponse::new(Some("go away".to_string()));
                        *err.status_mut() = StatusCode::from_u16(status).unwrap();
                        return Err(err);
                    }
                    let offered = req
                        .headers()
                        .get(SEC_WEBSOCKET_PROTOCOL)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    if let Some(p) = offered
                        .split(',')
                        .map(str::trim)
                        .find(|p| supported.contains(p))
                    {
                        resp.headers_mut()
                            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p).unwrap());
                    }
                    Ok(resp)
                };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                serve(ws, from_tx, to_rx).await;
                let _ = closed_tx.send(());
            });
            Self {
                url,
                request,
                from_sim,
                to_sim,
                closed,
            }
        }

        /// The next frame from the simulator that satisfies `pick`.
        async fn next_where(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
            tokio::time::timeout(WAIT, async {
                loop {
                    let v = self.from_sim.recv().await.expect("server gone");
                    if pick(&v) {
                        return v;
                    }
                }
            })
            .await
            .expect("no such frame from the simulator")
        }

        /// The answer to the server's CALL `id`.
        async fn answer_to(&mut self, id: &str) -> Value {
            let id = id.to_string();
            self.next_where(move |v| v[0] != 2 && v[1] == id.as_str())
                .await
        }
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        ws: WebSocketStream<S>,
        from_sim: mpsc::UnboundedSender<Value>,
        mut to_sim: mpsc::UnboundedReceiver<String>,
    ) {
        let (mut sink, mut stream) = ws.split();
        let mut echoes: Vec<(String, Value)> = Vec::new();
        loop {
            tokio::select! {
                out = to_sim.recv() => match out {
                    Some(text) if text == "CLOSE" => {
                        let _ = sink.send(Message::Close(None)).await;
                    }
                    Some(text) => {
                        if sink.send(Message::text(text)).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                msg = stream.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(Message::Close(_))) => continue,
                        Some(Ok(_)) => continue,
                        _ => return,
                    };
                    let v: Value = serde_json::from_str(&text).unwrap();
                    let _ = from_sim.send(v.clone());
                    if v[0] != 2 {
                        continue;
                    }
                    let id = v[1].as_str().unwrap().to_string();
                    let now = messages::timestamp(&Utc::now());
                    let reply = match v[2].as_str().unwrap() {
                        "BootNotification" => Some(rpc::call_result(
                            &id,
                            &json!({"status": "Accepted", "currentTime": now, "interval": 300}),
                        )),
                        "Heartbeat" => Some(rpc::call_result(&id, &json!({"currentTime": now}))),
                        "StartTransaction" => Some(rpc::call_result(
                            &id,
                            &json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
                        )),
                        "Authorize" => Some(rpc::call_error(
                            OcppVersion::V201,
                            &id,
                            rpc::RpcErrorCode::NotImplemented,
                            "no auth here",
                        )),
                        "Silence" => None,
                        // Three Echo calls are answered together, in reverse order.
                        "Echo" => {
                            echoes.push((id, v[3].clone()));
                            if echoes.len() == 3 {
                                for (id, payload) in echoes.drain(..).rev() {
                                    let _ = sink.send(Message::text(rpc::call_result(&id, &payload))).await;
                                }
                            }
                            None
                        }
                        _ => Some(rpc::call_result(&id, &json!({}))),
                    };
                    if let Some(reply) = reply
                        && sink.send(Message::text(reply)).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    }

    fn options(url: &str, versions: &[OcppVersion]) -> SimOptions {
        SimOptions::new(url, "CP-1", versions)
    }

    fn dir(v: OcppVersion) -> &'static str {
        match v {
            OcppVersion::V16 => "v16",
            OcppVersion::V201 => "v201",
        }
    }

    #[tokio::test]
    async fn negotiates_the_subprotocol_and_sends_basic_credentials() {
        let mut server = TestServer::start(&["ocpp1.6"], None).await;
        let mut opts = options(&server.url, &[OcppVersion::V201, OcppVersion::V16]);
        opts.id = "CP 1".into();
        opts.password = Some("s3cret".into());
        let sim = SimChargePoint::connect(opts).await.unwrap();
        assert_eq!(sim.version(), OcppVersion::V16);
        let (path, headers) = (&mut server.request).await.unwrap();
        assert_eq!(path, "/ocpp/CP%201");
        assert_eq!(headers[SEC_WEBSOCKET_PROTOCOL], "ocpp2.0.1, ocpp1.6");
        let expected = base64::engine::general_purpose::STANDARD.encode("CP 1:s3cret");
        assert_eq!(headers[AUTHORIZATION], format!("Basic {expected}").as_str());
        assert!(!sim.is_closed());
        sim.close().await;
        tokio::time::timeout(WAIT, server.closed)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn no_credentials_without_a_password_and_v201_when_both_agree() {
        let mut server = TestServer::start(&["ocpp2.0.1", "ocpp1.6"], None).await;
        let sim = SimChargePoint::connect(options(&server.url, &[OcppVersion::V201]))
            .await
            .unwrap();
        assert_eq!(sim.version(), OcppVersion::V201);
        let (_, headers) = (&mut server.request).await.unwrap();
        assert!(headers.get(AUTHORIZATION).is_none());
    }

    #[tokio::test]
    async fn a_server_without_a_common_subprotocol_is_refused() {
        let server = TestServer::start(&["ocpp2.1"], None).await;
        let err = SimChargePoint::connect(options(&server.url, &[OcppVersion::V16]))
            .await
            .unwrap_err();
        assert!(matches!(err, SimError::Subprotocol(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_refused_handshake_reports_its_http_status() {
        let server = TestServer::start(&["ocpp1.6"], Some(401)).await;
        let err = SimChargePoint::connect(options(&server.url, &[OcppVersion::V16]))
            .await
            .unwrap_err();
        let SimError::Handshake { status, body } = err else {
            panic!("not a handshake error: {err:?}");
        };
        assert_eq!(status, 401);
        assert!(body.contains("go away"), "{body:?}");
    }

    #[tokio::test]
    async fn results_and_errors_reach_the_right_call() {
        let server = TestServer::start(&["ocpp2.0.1"], None).await;
        let sim = SimChargePoint::connect(options(&server.url, &[OcppVersion::V201]))
            .await
            .unwrap();
        let boot = sim.boot().await.unwrap();
        assert_eq!(boot["status"], "Accepted");
        assert_eq!(boot["interval"], 300);
        let beat = sim.heartbeat().await.unwrap();
        assert!(beat["currentTime"].as_str().unwrap().ends_with('Z'));
        let err = sim.authorize("TAG-1").await.unwrap_err();
        assert_eq!(
            err,
            SimError::CallError {
                code: "NotImplemented".into(),
                description: "no auth here".into(),
                details: json!({}),
            }
        );
        // Answered in reverse order, each result still reaches its own call.
        let (a, b, c) = tokio::join!(
            sim.call("Echo", json!({"n": 1})),
            sim.call("Echo", json!({"n": 2})),
            sim.call("Echo", json!({"n": 3})),
        );
        assert_eq!(
            (a.unwrap(), b.unwrap(), c.unwrap()),
            (json!({"n": 1}), json!({"n": 2}), json!({"n": 3}))
        );
    }

    #[tokio::test]
    async fn an_unanswered_call_times_out_and_the_connection_survives() {
        let server = TestServer::start(&["ocpp1.6"], None).await;
        let mut opts = options(&server.url, &[OcppVersion::V16]);
        opts.call_timeout = Duration::from_millis(200);
        let sim = SimChargePoint::connect(opts).await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(sim.call("Silence", json!({})).await, Err(SimError::Timeout));
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(sim.shared.lock().pending.is_empty());
        assert!(sim.heartbeat().await.unwrap()["currentTime"].is_string());
    }

    #[tokio::test]
    async fn csms_calls_are_recorded_and_answered_per_policy() {
        for version in [OcppVersion::V16, OcppVersion::V201] {
            let mut server = TestServer::start(&["ocpp1.6", "ocpp2.0.1"], None).await;
            let sim = SimChargePoint::connect(options(&server.url, &[version]))
                .await
                .unwrap();
            assert_eq!(sim.version(), version);
            let profile = set_charging_profile(version);
            assert_valid(dir(version), "SetChargingProfile", false, &profile);

            accept_then_reject_a_profile(&mut server, &sim, &profile).await;
            unknown_and_ignored_calls(&mut server, &sim).await;
            heartbeat_follows_its_trigger(&mut server, &sim).await;

            let actions: Vec<String> = sim.received_calls().into_iter().map(|c| c.action).collect();
            assert_eq!(
                actions,
                [
                    "SetChargingProfile",
                    "SetChargingProfile",
                    "MakeCoffee",
                    "Reset",
                    "TriggerMessage"
                ]
            );
            // The second SetChargingProfile was rejected: still one profile.
            assert_eq!(sim.profiles().len(), 1);
            assert!(
                sim.wait_for_call("SetChargingProfile", WAIT)
                    .await
                    .is_some()
            );
            assert!(
                sim.wait_for_call("SetChargingProfile", Duration::from_millis(50))
                    .await
                    .is_none()
            );
        }
    }

    /// A 10 A TxDefaultProfile, as the CSMS of `version` sends it.
    fn set_charging_profile(version: OcppVersion) -> Value {
        match version {
            OcppVersion::V16 => json!({"connectorId": 1, "csChargingProfiles": {
                "chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute", "chargingSchedule": {"chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}}),
            OcppVersion::V201 => json!({"evseId": 1, "chargingProfile": {
                "id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}]}}),
        }
    }

    /// srv-1 is accepted and recorded, srv-2 rejected under `ReplyPolicy::Reject`.
    async fn accept_then_reject_a_profile(
        server: &mut TestServer,
        sim: &SimChargePoint,
        profile: &Value,
    ) {
        let version = sim.version();
        server
            .to_sim
            .send(rpc::call("srv-1", "SetChargingProfile", profile))
            .unwrap();
        let answer = server.answer_to("srv-1").await;
        assert_eq!(answer[0], 3);
        assert_valid(dir(version), "SetChargingProfile", true, &answer[2]);
        assert_eq!(answer[2]["status"], "Accepted");
        let call = sim.wait_for_call("SetChargingProfile", WAIT).await.unwrap();
        assert_eq!(
            call,
            ReceivedCall {
                id: "srv-1".into(),
                action: "SetChargingProfile".into(),
                payload: profile.clone(),
            }
        );
        assert_eq!(sim.profiles(), vec![profile.clone()]);

        sim.set_reply_policy(ReplyPolicy::Reject);
        server
            .to_sim
            .send(rpc::call("srv-2", "SetChargingProfile", profile))
            .unwrap();
        let answer = server.answer_to("srv-2").await;
        assert_valid(dir(version), "SetChargingProfile", true, &answer[2]);
        assert_eq!(answer[2]["status"], "Rejected");
    }

    /// srv-3, an unknown action, gets NotSupported; srv-4 under `ReplyPolicy::Ignore` is
    /// recorded and never answered.
    async fn unknown_and_ignored_calls(server: &mut TestServer, sim: &SimChargePoint) {
        sim.set_reply_policy(ReplyPolicy::Accept);
        server
            .to_sim
            .send(rpc::call("srv-3", "MakeCoffee", &json!({})))
            .unwrap();
        let answer = server.answer_to("srv-3").await;
        assert_eq!(answer[0], 4);
        assert_eq!(answer[2], "NotSupported");

        sim.set_reply_policy(ReplyPolicy::Ignore);
        server
            .to_sim
            .send(rpc::call("srv-4", "Reset", &json!({"type": "Soft"})))
            .unwrap();
        let reset = sim.wait_for_call("Reset", WAIT).await.unwrap();
        assert_eq!(reset.id, "srv-4");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(server.from_sim.try_recv().is_err());
    }

    /// Follow-up messages of a real charger: TriggerMessage Heartbeat (srv-5) is accepted,
    /// then the Heartbeat follows.
    async fn heartbeat_follows_its_trigger(server: &mut TestServer, sim: &SimChargePoint) {
        sim.set_reply_policy(ReplyPolicy::Accept);
        server
            .to_sim
            .send(rpc::call(
                "srv-5",
                "TriggerMessage",
                &json!({"requestedMessage": "Heartbeat"}),
            ))
            .unwrap();
        let answer = server.answer_to("srv-5").await;
        assert_valid(dir(sim.version()), "TriggerMessage", true, &answer[2]);
        assert_eq!(answer[2]["status"], "Accepted");
        let beat = server.next_where(|v| v[0] == 2).await;
        assert_eq!(beat[2], "Heartbeat");
    }

    #[tokio::test]
    async fn raw_frames_and_their_replies() {
        let mut server = TestServer::start(&["ocpp1.6"], None).await;
        let sim = SimChargePoint::connect(options(&server.url, &[OcppVersion::V16]))
            .await
            .unwrap();
        sim.send_text(r#"[2,"raw-1","Heartbeat",{}]"#)
            .await
            .unwrap();
        let RawReply::Frame(Frame::CallResult { id, payload }) =
            sim.next_raw_reply(WAIT).await.unwrap()
        else {
            panic!("no CALLRESULT");
        };
        assert_eq!(id, "raw-1");
        assert!(payload["currentTime"].is_string());

        server.to_sim.send("not json".into()).unwrap();
        let RawReply::Unparsed { text, .. } = sim.next_raw_reply(WAIT).await.unwrap() else {
            panic!("not reported as unparsed");
        };
        assert_eq!(text, "not json");
        // A broken CALL with a readable id is answered like a real charger would.
        server.to_sim.send(r#"[2,"bad-1","Reset"]"#.into()).unwrap();
        let answer = server.answer_to("bad-1").await;
        assert_eq!(answer[2], "FormationViolation");
        assert!(matches!(
            sim.next_raw_reply(WAIT).await.unwrap(),
            RawReply::Unparsed { .. }
        ));
        assert_eq!(
            sim.next_raw_reply(Duration::from_millis(50)).await,
            Err(SimError::Timeout)
        );
    }

    #[tokio::test]
    async fn v16_transaction_helpers() {
        let mut server = TestServer::start(&["ocpp1.6"], None).await;
        let sim = SimChargePoint::connect(options(&server.url, &[OcppVersion::V16]))
            .await
            .unwrap();
        sim.status(1, "Preparing").await.unwrap();
        let tx = sim
            .start_transaction(1, "TAG-1", 1000, Utc::now())
            .await
            .unwrap();
        assert_eq!(tx.key, "42");
        assert_eq!(tx.response["idTagInfo"]["status"], "Accepted");
        sim.meter_values(1, &tx.key, 2500.0, &[16.0, 16.0, 15.5])
            .await
            .unwrap();
        sim.stop_transaction(&tx.key, 4000, "Local", Utc::now())
            .await
            .unwrap();
        let mut actions = Vec::new();
        for _ in 0..4 {
            let call = server.next_where(|v| v[0] == 2).await;
            let action = call[2].as_str().unwrap().to_string();
            assert_valid("v16", &action, false, &call[3]);
            if action == "MeterValues" {
                assert_eq!(call[3]["transactionId"], 42);
                assert_eq!(call[3]["meterValue"][0]["sampledValue"][0]["value"], "2500");
                assert_eq!(call[3]["meterValue"][0]["sampledValue"][3]["value"], "15.5");
            }
            if action == "StopTransaction" {
                assert_eq!(call[3]["transactionId"], 42);
                assert_eq!(call[3]["meterStop"], 4000);
            }
            actions.push(action);
        }
        assert_eq!(
            actions,
            [
                "StatusNotification",
                "StartTransaction",
                "MeterValues",
                "StopTransaction"
            ]
        );
        assert!(matches!(
            sim.meter_values(1, "not-a-number", 1.0, &[]).await,
            Err(SimError::Options(_))
        ));
    }

    #[tokio::test]
    async fn v201_transaction_helpers_number_their_events() {
        let mut server = TestServer::start(&["ocpp2.0.1"], None).await;
        let sim = SimChargePoint::connect(options(&server.url, &[OcppVersion::V201]))
            .await
            .unwrap();
        let tx = sim
            .start_transaction(2, "TAG-1", 1000, Utc::now())
            .await
            .unwrap();
        assert_eq!(tx.key.len(), 36);
        assert_eq!(tx.key.matches('-').count(), 4);
        sim.meter_values(2, &tx.key, 1500.0, &[16.0]).await.unwrap();
        sim.meter_values(2, &tx.key, 2000.0, &[16.0]).await.unwrap();
        sim.stop_transaction(&tx.key, 2500, "Remote", Utc::now())
            .await
            .unwrap();
        sim.meter_values_plain(2, 2500.0, &[0.0]).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..5 {
            let call = server.next_where(|v| v[0] == 2).await;
            let action = call[2].as_str().unwrap().to_string();
            assert_valid("v201", &action, false, &call[3]);
            if action == "TransactionEvent" {
                assert_eq!(call[3]["transactionInfo"]["transactionId"], tx.key.as_str());
                seen.push((
                    call[3]["eventType"].as_str().unwrap().to_string(),
                    call[3]["seqNo"].as_u64().unwrap(),
                ));
            } else {
                assert_eq!(action, "MeterValues");
                assert_eq!(call[3]["evseId"], 2);
            }
        }
        assert_eq!(
            seen,
            [
                ("Started".to_string(), 0),
                ("Updated".to_string(), 1),
                ("Updated".to_string(), 2),
                ("Ended".to_string(), 3)
            ]
        );
        assert_ne!(
            super::super::actions::uuid_like(),
            super::super::actions::uuid_like()
        );
    }

    #[tokio::test]
    async fn a_server_close_ends_the_connection() {
        let server = TestServer::start(&["ocpp1.6"], None).await;
        let sim = SimChargePoint::connect(options(&server.url, &[OcppVersion::V16]))
            .await
            .unwrap();
        server.to_sim.send("CLOSE".into()).unwrap();
        let waited = sim.wait_for_call("Reset", WAIT).await;
        assert!(waited.is_none());
        assert!(sim.is_closed());
        assert_eq!(sim.heartbeat().await, Err(SimError::Closed));
    }

    #[tokio::test]
    async fn connects_over_tls() {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = certified.cert.der().clone();
        let key =
            rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let server_config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://{}/ocpp", listener.local_addr().unwrap());
        let (from_tx, mut from_sim) = mpsc::unbounded_channel();
        let (_to_sim, to_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            #[allow(clippy::result_large_err)]
            let callback = |_: &Request, mut resp: Response| {
                resp.headers_mut()
                    .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("ocpp1.6"));
                Ok(resp)
            };
            let ws = tokio_tungstenite::accept_hdr_async(tls, callback)
                .await
                .unwrap();
            serve(ws, from_tx, to_rx).await;
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut opts = options(&url, &[OcppVersion::V16]);
        opts.tls = Some(Arc::new(client_config));
        let sim = SimChargePoint::connect(opts).await.unwrap();
        assert_eq!(sim.version(), OcppVersion::V16);
        assert!(sim.heartbeat().await.unwrap()["currentTime"].is_string());
        let seen = from_sim.recv().await.unwrap();
        assert_eq!(seen[2], "Heartbeat");
        sim.close().await;
    }
}
