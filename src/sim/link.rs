//! What a simulated charge point's handle (`charge_point`) and its socket task (`socket`)
//! share: the state behind the mutex, the commands to the task, what the CSMS sent, and
//! the errors. Imports run one way: `charge_point` -> `socket` -> `link`; this module
//! imports neither of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::answers::{ChargerState, ReplyPolicy};
use crate::ocpp::model::OcppVersion;
use crate::ocpp::rpc::Frame;

/// How long `close` waits for the server's close frame before dropping the socket.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What can go wrong talking to the CSMS.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The server answered the WebSocket upgrade with this HTTP status (401, 400, 404...).
    #[error("handshake refused with HTTP {status}: {body}")]
    Handshake { status: u16, body: String },
    /// The upgrade succeeded without an OCPP subprotocol we offered.
    #[error("no usable OCPP subprotocol: {0}")]
    Subprotocol(String),
    /// The options cannot be used (bad URL, bad header value, bad TLS server name).
    #[error("invalid options: {0}")]
    Options(String),
    /// TCP, TLS or WebSocket failure.
    #[error("transport: {0}")]
    Transport(String),
    /// The CSMS answered with a CALLERROR.
    #[error("CALLERROR {code}: {description}")]
    CallError {
        code: String,
        description: String,
        details: Value,
    },
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// A CALLRESULT that lacks what the helper needs.
    #[error("unexpected response: {0}")]
    BadResponse(String),
}

/// A CALL the CSMS sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedCall {
    pub id: String,
    pub action: String,
    pub payload: Value,
}

/// A frame from the CSMS that answers no `call` of the simulator: the reply to a frame
/// written with `send_text`, or text that is no OCPP-J frame at all.
#[derive(Debug, Clone, PartialEq)]
pub enum RawReply {
    Frame(Frame),
    Unparsed { text: String, error: String },
}

pub(super) enum Command {
    Send {
        text: String,
        ack: oneshot::Sender<Result<(), SimError>>,
    },
    Close,
    /// Stop reading and writing, socket left open: a hung charger.
    Hang,
}

pub(super) struct Recorded {
    pub(super) call: ReceivedCall,
    pub(super) claimed: bool,
}

pub(super) struct Inner {
    pub(super) pending: HashMap<String, oneshot::Sender<Frame>>,
    /// Ids of the charger's own follow-up CALLs, whose answers are dropped.
    pub(super) internal: HashSet<String>,
    pub(super) received: Vec<Recorded>,
    pub(super) policy: ReplyPolicy,
    pub(super) state: ChargerState,
    /// 2.0.1: the next seqNo per transaction id.
    pub(super) seq: HashMap<String, u64>,
}

pub(super) struct Shared {
    pub(super) version: OcppVersion,
    pub(super) inner: Mutex<Inner>,
    /// Bumped on every received CALL and when the connection ends.
    pub(super) calls: watch::Sender<u64>,
    pub(super) closed: AtomicBool,
    pub(super) next_id: AtomicU64,
    pub(super) clock: crate::clock::Clock,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

pub(super) fn transport(e: impl fmt::Display) -> SimError {
    SimError::Transport(e.to_string())
}
