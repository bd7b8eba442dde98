//! One WebSocket to the cloud CSMS under one identity (a charger's, or chargegate's own),
//! kept up with a backoff, for as long as the charger is connected to chargegate or has
//! messages kept for the cloud.
//!
//! One CALL of ours is outstanding at a time (OCPP-J 1.6 §4.1.1, 2.0.1 Part 4 §4.1.1), in
//! this order of precedence: what a new connection owes the cloud (the charger's last
//! BootNotification and statuses; chargegate's own BootNotification and Heartbeat), the
//! forwarded messages, then the kept transaction messages oldest first. A kept message
//! leaves the store on the cloud's CALLRESULT only; a CALLERROR or no answer within
//! `call-timeout-s` sends it again after a backoff (1 s doubling to 30 s) and holds back
//! the ones after it, so the cloud sees every transaction whole and in order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::cloud_calls::{self, Origin};
use super::connect::{self, CloudSocket, Target};
use super::messages::{self, Role};
use super::{LinkControl, LiveCall, Shared, Uplink};
use crate::ocpp::model::OcppVersion;
use crate::ocpp::rpc::{self, Frame};
use crate::store::{self, JournalRow};
use crate::units::ChargerId;

/// Reconnect backoff: from 0.5 s, doubling to 30 s.
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// Resend backoff for a kept message the cloud refused or did not answer.
const RESEND_FIRST: Duration = Duration::from_secs(1);
const RESEND_MAX: Duration = Duration::from_secs(30);
/// chargegate's own Heartbeat until the cloud's BootNotification answer says (2.0.1 B01).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(300);
/// A refused own BootNotification is sent again after this (or the cloud's interval).
const BOOT_RETRY: Duration = Duration::from_secs(30);

/// Whom a link speaks for.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    name: String,
    charger: Option<ChargerId>,
    version: OcppVersion,
    role: Role,
}

impl Identity {
    pub fn charger(id: ChargerId, version: OcppVersion) -> Self {
        Self {
            name: id.to_string(),
            charger: Some(id),
            version,
            role: Role::Charger,
        }
    }
}

/// Starts a charger's link.
pub(super) fn spawn(shared: Arc<Shared>, identity: Identity, local: bool) -> LinkControl {
    let (live_tx, live) = mpsc::channel(super::LIVE_QUEUE);
    let (local_tx, local_rx) = watch::channel(local);
    let control = LinkControl {
        online: Arc::new(AtomicBool::new(false)),
        live: live_tx,
        wake: Arc::new(Notify::new()),
        local: local_tx,
    };
    let link = Link::new(shared, identity, &control, live, local_rx);
    tokio::spawn(link.run());
    control
}

/// Starts chargegate's own link; it ends at shutdown. The sender forwards chargegate's
/// own messages (its alerts) while the link is up.
pub(super) fn spawn_own(
    shared: Arc<Shared>,
) -> (tokio::task::JoinHandle<()>, mpsc::Sender<LiveCall>) {
    let identity = Identity {
        name: shared.settings.identity.clone(),
        charger: None,
        version: shared.settings.version,
        role: Role::Own,
    };
    let (live_tx, live) = mpsc::channel(super::LIVE_QUEUE);
    let (local_tx, local_rx) = watch::channel(true);
    let control = LinkControl {
        online: Arc::new(AtomicBool::new(false)),
        live: live_tx.clone(),
        wake: Arc::new(Notify::new()),
        local: local_tx,
    };
    let link = Link::new(shared, identity, &control, live, local_rx);
    let task = tokio::spawn(async move {
        // Held for the task's life: dropping it would close the watch the link selects on.
        let _control = control;
        link.run().await;
    });
    (task, live_tx)
}

/// What one of our outstanding CALLs was.
#[derive(Debug)]
enum Sent {
    Kept(JournalRow),
    Forwarded(Option<oneshot::Sender<Value>>),
    OwnBoot,
    Plain,
}

#[derive(Debug)]
struct InFlight {
    id: String,
    action: String,
    sent: Sent,
    deadline: Instant,
}

/// How a session with the cloud ended.
enum End {
    Shutdown,
    Lost(String),
    /// The charger is gone and nothing is owed: the link ends.
    Done,
}

struct Link {
    shared: Arc<Shared>,
    id: Identity,
    online: Arc<AtomicBool>,
    live: mpsc::Receiver<LiveCall>,
    wake: Arc<Notify>,
    local: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
    /// The charger's last BootNotification and StatusNotification per connector/EVSE,
    /// sent again on every new connection (they are not kept across a restart: the charger
    /// sends them again when it reconnects).
    last_boot: Option<Value>,
    statuses: BTreeMap<String, Value>,
    /// Message ids of ours: the connection's start and a counter, never reused.
    prefix: String,
    next_id: u64,
    resend_backoff: Duration,
}

/// The per-session state.
struct Session {
    ws: CloudSocket,
    in_flight: Option<InFlight>,
    /// Owed on this connection before anything else.
    first: VecDeque<(String, Value, Sent)>,
    /// The store may hold a kept message to send (unknown until asked).
    kept_ready: bool,
    resend_at: Option<Instant>,
    heartbeat: Option<Instant>,
    heartbeat_every: Duration,
    /// chargegate's own BootNotification is due again (the cloud did not accept it).
    boot_due: Option<Instant>,
    answers_tx: mpsc::Sender<String>,
    answers: mpsc::Receiver<String>,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Link {
    fn new(
        shared: Arc<Shared>,
        id: Identity,
        control: &LinkControl,
        live: mpsc::Receiver<LiveCall>,
        local: watch::Receiver<bool>,
    ) -> Self {
        let shutdown = shared.shutdown.clone();
        let prefix = format!("lc{}", shared.clock.now().timestamp_millis());
        Self {
            shared,
            id,
            online: Arc::clone(&control.online),
            live,
            wake: Arc::clone(&control.wake),
            local,
            shutdown,
            last_boot: None,
            statuses: BTreeMap::new(),
            prefix,
            next_id: 0,
            resend_backoff: RESEND_FIRST,
        }
    }

    fn message_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", self.prefix, self.next_id)
    }

    async fn run(mut self) {
        let mut backoff = RECONNECT_FIRST;
        let mut last_error = String::new();
        loop {
            if *self.shutdown.borrow() || self.may_end().await {
                break;
            }
            let password = match &self.id.charger {
                Some(c) => self.shared.settings.chargers.get(c).cloned().flatten(),
                None => self.shared.settings.password.clone(),
            };
            let target = Target {
                url: &self.shared.settings.url,
                identity: &self.id.name,
                version: self.id.version,
                password: password.as_deref(),
                tls: self.shared.settings.tls.as_ref(),
            };
            match connect::connect(&target).await {
                Ok(ws) => {
                    tracing::info!(identity = %self.id.name, "connected to the cloud CSMS");
                    backoff = RECONNECT_FIRST;
                    last_error.clear();
                    self.set_online(true);
                    let end = self.session(ws).await;
                    self.set_online(false);
                    match end {
                        End::Shutdown => break,
                        End::Done => {
                            if Uplink::link_done(
                                &self.shared,
                                self.id.charger.as_ref().expect("a charger's link"),
                            ) {
                                tracing::info!(identity = %self.id.name, "charger gone and nothing owed: link to the cloud closed");
                                return;
                            }
                            continue;
                        }
                        End::Lost(why) => {
                            tracing::warn!(identity = %self.id.name, "link to the cloud CSMS lost: {why}");
                            self.shared.counters.failed(&self.id.name, &why);
                        }
                    }
                }
                Err(e) => {
                    // Once per kind of failure: a dead cloud must not flood the journal.
                    if e != last_error {
                        tracing::warn!(identity = %self.id.name, "cannot reach the cloud CSMS: {e}; retrying");
                        self.shared.counters.failed(&self.id.name, &e);
                        last_error = e;
                    }
                }
            }
            tokio::select! {
                _ = self.shutdown.changed() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RECONNECT_MAX);
        }
        self.set_online(false);
    }

    fn set_online(&self, up: bool) {
        self.online.store(up, Ordering::Release);
        if self.id.role == Role::Own {
            self.shared.counters.own_online.store(up, Ordering::Release);
        }
    }

    /// A charger's link may end: its charger is gone and nothing is kept for it.
    async fn may_end(&self) -> bool {
        let Some(charger) = &self.id.charger else {
            return false;
        };
        if *self.local.borrow() || !self.live.is_empty() {
            return false;
        }
        let id = charger.to_string();
        let pending = self
            .shared
            .store
            .call(move |c| store::journal_pending(c, Some(&id)))
            .await;
        matches!(pending, Ok(0)) && Uplink::link_done(&self.shared, charger)
    }

    /// What a new connection owes the cloud first.
    fn owed_first(&mut self) -> VecDeque<(String, Value, Sent)> {
        let mut first = VecDeque::new();
        match self.id.role {
            Role::Own => first.push_back((
                "BootNotification".into(),
                own_boot(self.id.version),
                Sent::OwnBoot,
            )),
            Role::Charger => {
                if let Some(boot) = &self.last_boot {
                    first.push_back(("BootNotification".into(), boot.clone(), Sent::Plain));
                }
                for status in self.statuses.values() {
                    first.push_back(("StatusNotification".into(), status.clone(), Sent::Plain));
                }
            }
        }
        first
    }

    async fn session(&mut self, ws: CloudSocket) -> End {
        // What was forwarded while the link was down is not sent late (a Heartbeat from
        // minutes ago, an Authorize the local list already decided); the charger's boot
        // and statuses are remembered and go first.
        while let Ok(stale) = self.live.try_recv() {
            self.remember(&stale);
        }
        let (answers_tx, answers) = mpsc::channel(16);
        let mut s = Session {
            ws,
            in_flight: None,
            first: self.owed_first(),
            kept_ready: self.id.role == Role::Charger,
            resend_at: None,
            heartbeat: None,
            heartbeat_every: DEFAULT_HEARTBEAT,
            boot_due: None,
            answers_tx,
            answers,
        };
        loop {
            if s.in_flight.is_none()
                && let Err(e) = self.send_next(&mut s).await
            {
                return End::Lost(e);
            }
            if s.in_flight.is_none() && self.owes_nothing(&mut s) {
                let _ = s.ws.close(None).await;
                return End::Done;
            }
            let deadline = s.in_flight.as_ref().map(|f| f.deadline);
            let idle = s.in_flight.is_none() && s.first.is_empty();
            tokio::select! {
                _ = self.shutdown.changed() => {
                    let _ = s.ws.close(None).await;
                    return End::Shutdown;
                }
                frame = s.ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_frame(&mut s, text.as_str()).await,
                    Some(Ok(Message::Close(_))) | None => return End::Lost("closed by the cloud".into()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return End::Lost(e.to_string()),
                },
                Some(call) = self.live.recv(), if idle => {
                    if let Err(e) = self.send_live(&mut s, call).await {
                        return End::Lost(e);
                    }
                }
                () = self.wake.notified() => s.kept_ready = true,
                () = sleep_until(deadline) => self.on_timeout(&mut s),
                () = sleep_until(s.resend_at) => {
                    s.resend_at = None;
                    s.kept_ready = true;
                }
                () = sleep_until(s.boot_due) => {
                    s.boot_due = None;
                    s.first.push_back(("BootNotification".into(), own_boot(self.id.version), Sent::OwnBoot));
                }
                () = sleep_until(s.heartbeat) => {
                    s.heartbeat = Some(Instant::now() + s.heartbeat_every);
                    s.first.push_back(("Heartbeat".into(), json!({}), Sent::Plain));
                }
                Some(answer) = s.answers.recv() => {
                    if let Err(e) = s.ws.send(Message::Text(answer.into())).await {
                        return End::Lost(e.to_string());
                    }
                }
                Ok(()) = self.local.changed() => {}
            }
        }
    }

    /// The charger is gone, nothing is queued and the store keeps nothing for it: the
    /// store said so (`kept_ready` false after an empty `journal_head`) and no message was
    /// kept since (a pending `wake`, taken here, would say so). No store read per turn.
    fn owes_nothing(&self, s: &mut Session) -> bool {
        if self.id.role == Role::Own || *self.local.borrow() {
            return false;
        }
        if self.wake.notified().now_or_never().is_some() {
            s.kept_ready = true;
        }
        s.first.is_empty() && self.live.is_empty() && !s.kept_ready && s.resend_at.is_none()
    }

    /// Sends the next of our CALLs, if any is due.
    async fn send_next(&mut self, s: &mut Session) -> Result<(), String> {
        if let Some((action, payload, sent)) = s.first.pop_front() {
            return self.send_call(s, action, payload, sent).await;
        }
        if let Ok(call) = self.live.try_recv() {
            return self.send_live(s, call).await;
        }
        if !s.kept_ready || s.resend_at.is_some() {
            return Ok(());
        }
        let charger = self.id.name.clone();
        let head = self
            .shared
            .store
            .call(move |c| store::journal_head(c, &charger))
            .await;
        let row = match head {
            Ok(Some(row)) => row,
            Ok(None) => {
                s.kept_ready = false;
                return Ok(());
            }
            Err(e) => {
                tracing::error!(identity = %self.id.name, "cannot read the kept messages: {e}");
                s.resend_at = Some(Instant::now() + self.resend_backoff);
                return Ok(());
            }
        };
        let payload = self.outgoing(&row).await;
        let action = row.action.clone();
        self.send_call(s, action, payload, Sent::Kept(row)).await
    }

    /// A kept message as the cloud gets it (`messages::outgoing`).
    async fn outgoing(&self, row: &JournalRow) -> Value {
        let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
        let cloud_tx = match messages::local_tx_of(row, &payload) {
            Some(local) => {
                let charger = row.charger.clone();
                self.shared
                    .store
                    .call(move |c| store::cloud_tx(c, &charger, local))
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        messages::outgoing(row, payload, cloud_tx)
    }

    /// Keeps the charger's last boot and status per connector for the next connection.
    fn remember(&mut self, call: &LiveCall) {
        match call.action.as_str() {
            "BootNotification" => {
                self.last_boot = Some(call.payload.clone());
                self.statuses.clear();
            }
            "StatusNotification" => {
                let key = status_key(&call.payload);
                self.statuses.insert(key, call.payload.clone());
            }
            _ => {}
        }
    }

    async fn send_live(&mut self, s: &mut Session, call: LiveCall) -> Result<(), String> {
        self.remember(&call);
        self.send_call(s, call.action, call.payload, Sent::Forwarded(call.answer))
            .await
    }

    async fn send_call(
        &mut self,
        s: &mut Session,
        action: String,
        payload: Value,
        sent: Sent,
    ) -> Result<(), String> {
        let id = self.message_id();
        let frame = rpc::call(&id, &action, &payload);
        s.in_flight = Some(InFlight {
            id,
            action,
            sent,
            deadline: Instant::now() + self.shared.settings.call_timeout,
        });
        s.ws.send(Message::Text(frame.into()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn on_frame(&mut self, s: &mut Session, text: &str) {
        match rpc::parse(text) {
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => {
                let origin = Origin {
                    role: self.id.role,
                    version: self.id.version,
                    charger: self.id.charger.clone(),
                };
                cloud_calls::spawn(
                    Arc::clone(&self.shared),
                    origin,
                    id,
                    action,
                    payload,
                    s.answers_tx.clone(),
                );
            }
            Ok(Frame::CallResult { id, payload }) => match take(s, &id) {
                Some(done) => self.answered(s, done, payload).await,
                None => {
                    tracing::debug!(identity = %self.id.name, id, "late or unknown answer from the cloud ignored")
                }
            },
            Ok(Frame::CallError {
                id,
                code,
                description,
                ..
            }) => {
                if let Some(done) = take(s, &id) {
                    tracing::warn!(identity = %self.id.name, action = done.action, code, description, "the cloud refused our message");
                    self.failed(s, done);
                }
            }
            Err(e) => {
                tracing::warn!(identity = %self.id.name, "malformed frame from the cloud: {e}");
                if let Some(id) = e.id.clone().filter(|_| e.answerable) {
                    let answer = rpc::call_error(
                        self.id.version,
                        &id,
                        rpc::error_reply_code(&e),
                        &e.error.message,
                    );
                    let _ = s.answers_tx.try_send(answer);
                }
            }
        }
    }

    async fn answered(&mut self, s: &mut Session, done: InFlight, payload: Value) {
        match done.sent {
            Sent::Kept(row) => {
                let cloud_tx = messages::cloud_tx_in_answer(&row, &payload);
                let seq = row.seq;
                let stored = self
                    .shared
                    .store
                    .call(move |c| store::journal_delivered(c, seq, cloud_tx))
                    .await;
                match stored {
                    Ok(()) => {
                        self.resend_backoff = RESEND_FIRST;
                        s.kept_ready = true;
                        let counters = &self.shared.counters;
                        counters.count(&counters.delivered);
                    }
                    Err(e) => {
                        // Sent again later: the cloud gets it twice only if this write
                        // keeps failing, and nothing is lost.
                        tracing::error!(identity = %self.id.name, "cannot mark a message delivered: {e}");
                        s.resend_at = Some(Instant::now() + self.resend_backoff);
                    }
                }
            }
            Sent::Forwarded(answer) => {
                if let Some(answer) = answer {
                    let _ = answer.send(payload);
                }
            }
            Sent::OwnBoot => {
                let interval = payload
                    .get("interval")
                    .or_else(|| payload.get("heartbeatInterval"))
                    .and_then(Value::as_u64)
                    .filter(|s| *s > 0)
                    .map_or(DEFAULT_HEARTBEAT, Duration::from_secs);
                s.heartbeat_every = interval;
                if payload.get("status").and_then(Value::as_str) == Some("Accepted") {
                    s.heartbeat = Some(Instant::now() + interval);
                } else {
                    tracing::warn!(identity = %self.id.name, answer = %payload, "the cloud did not accept chargegate's BootNotification; sent again later");
                    s.resend_boot_after(interval.min(BOOT_RETRY));
                }
            }
            Sent::Plain => {}
        }
    }

    fn failed(&mut self, s: &mut Session, done: InFlight) {
        match done.sent {
            Sent::Kept(_) => {
                s.resend_at = Some(Instant::now() + self.resend_backoff);
                self.resend_backoff = (self.resend_backoff * 2).min(RESEND_MAX);
            }
            Sent::OwnBoot => s.resend_boot_after(BOOT_RETRY),
            // A forwarded message is not kept; an Authorize falls back to the local list.
            Sent::Forwarded(_) | Sent::Plain => {}
        }
    }

    fn on_timeout(&mut self, s: &mut Session) {
        if let Some(done) = s.in_flight.take() {
            tracing::warn!(identity = %self.id.name, action = done.action, "the cloud did not answer in time");
            self.failed(s, done);
        }
    }
}

impl Session {
    /// The own BootNotification goes again after `after`; no Heartbeat meanwhile (2.0.1
    /// B02: a station not accepted sends nothing else).
    fn resend_boot_after(&mut self, after: Duration) {
        self.heartbeat = None;
        self.boot_due = Some(Instant::now() + after);
    }
}

/// Takes the outstanding CALL `id` answers.
fn take(s: &mut Session, id: &str) -> Option<InFlight> {
    if s.in_flight.as_ref().is_some_and(|f| f.id == id) {
        s.in_flight.take()
    } else {
        None
    }
}

/// The key of a StatusNotification: 1.6 connectorId, 2.0.1 evseId/connectorId.
fn status_key(payload: &Value) -> String {
    let part = |k: &str| payload.get(k).map_or_else(String::new, Value::to_string);
    format!("{}/{}", part("evseId"), part("connectorId"))
}

/// chargegate's own BootNotification.
fn own_boot(version: OcppVersion) -> Value {
    let firmware = env!("CARGO_PKG_VERSION");
    match version {
        OcppVersion::V16 => json!({
            "chargePointVendor": "chargegate",
            "chargePointModel": "chargegate",
            "firmwareVersion": firmware,
        }),
        OcppVersion::V201 => json!({
            "reason": "PowerUp",
            "chargingStation": {
                "vendorName": "chargegate",
                "model": "chargegate",
                "firmwareVersion": firmware,
            },
        }),
    }
}
