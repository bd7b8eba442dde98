//! The connected chargers and the internal API to command them.
//!
//! `Chargers::send` is how dispatch, the HTTP API and upstream sync talk to a charger: it
//! queues a version-blind `ChargerCommand` on the charger's connection task and awaits the
//! answer. A reconnecting charger replaces its old connection (the newest one wins; the old
//! task is told to close). Holds no protocol state itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::ocpp::NotInVersion;
use crate::ocpp::model::{ChargerCommand, CommandReply, OcppVersion};
use crate::ocpp::rpc::PayloadError;
use crate::units::ChargerId;

/// Commands waiting for a connection's single outstanding CALL slot.
const COMMAND_QUEUE: usize = 32;

/// A command as it waits in a connection's queue: boxed, because tokio's mpsc allocates
/// its slots 32 at a time when the channel is made, whatever its capacity, so every
/// connection paid 32 unboxed `CommandRequest`s (7.7 KiB) while its queue was empty
/// (heaptrack, BENCHMARKS.md "Where the CPU and the memory go"); 32 boxes are 256 bytes.
pub type QueuedCommand = Box<CommandRequest>;

/// Why a command got no usable answer. Dispatch treats every variant as "the charger did
/// not do it" (DESIGN.md S2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("charger is not connected")]
    NotConnected,
    #[error(transparent)]
    NotInVersion(#[from] NotInVersion),
    #[error("charger did not answer in time")]
    Timeout,
    #[error("charger answered with CALLERROR {code}: {description}")]
    CallError { code: String, description: String },
    #[error("charger's answer does not fit the message: {0}")]
    BadReply(PayloadError),
    #[error("connection closed before the charger answered")]
    Disconnected,
    #[error("too many commands queued for this charger")]
    Busy,
}

/// A command on its way to a connection task.
#[derive(Debug)]
pub struct CommandRequest {
    pub command: ChargerCommand,
    /// Why it is sent, for the audit log (DESIGN.md S6).
    pub reason: String,
    pub reply: oneshot::Sender<Result<CommandReply, CommandError>>,
}

#[derive(Debug)]
struct Handle {
    version: OcppVersion,
    generation: u64,
    commands: mpsc::Sender<QueuedCommand>,
    /// Dropping this tells the connection task it was replaced.
    _superseded: oneshot::Sender<()>,
}

/// What a new connection task receives when it registers.
#[derive(Debug)]
pub struct Registration {
    pub generation: u64,
    pub commands: mpsc::Receiver<QueuedCommand>,
    /// Resolves (with an error) when a newer connection of the same charger replaced this one.
    pub superseded: oneshot::Receiver<()>,
}

#[derive(Debug, Default)]
struct Inner {
    next_generation: u64,
    handles: HashMap<ChargerId, Handle>,
}

/// The set of connected chargers. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Chargers {
    inner: Arc<Mutex<Inner>>,
}

impl Chargers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent (every
        // operation is a single insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection, replacing (and closing) any older one of the charger.
    pub fn register(&self, id: &ChargerId, version: OcppVersion) -> Registration {
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (superseded_tx, superseded) = oneshot::channel();
        let mut inner = self.lock();
        inner.next_generation += 1;
        let generation = inner.next_generation;
        let old = inner.handles.insert(
            id.clone(),
            Handle {
                version,
                generation,
                commands,
                _superseded: superseded_tx,
            },
        );
        if old.is_some() {
            tracing::info!(charger = %id, "new connection replaces the old one");
        }
        Registration {
            generation,
            commands: commands_rx,
            superseded,
        }
    }

    /// Removes a connection, unless a newer one already replaced it. Returns whether it
    /// was still the charger's current connection.
    pub fn unregister(&self, id: &ChargerId, generation: u64) -> bool {
        let mut inner = self.lock();
        if inner
            .handles
            .get(id)
            .is_some_and(|h| h.generation == generation)
        {
            inner.handles.remove(id);
            true
        } else {
            false
        }
    }

    /// The connected chargers and their OCPP versions, sorted by id.
    /// The OCPP version the charger speaks on its current connection (None: not connected).
    pub fn version(&self, id: &ChargerId) -> Option<OcppVersion> {
        self.lock().handles.get(id).map(|h| h.version)
    }

    pub fn connected(&self) -> Vec<(ChargerId, OcppVersion)> {
        let mut list: Vec<_> = self
            .lock()
            .handles
            .iter()
            .map(|(id, h)| (id.clone(), h.version))
            .collect();
        list.sort();
        list
    }

    pub fn is_connected(&self, id: &ChargerId) -> bool {
        self.lock().handles.contains_key(id)
    }

    /// Sends a command and waits for the charger's answer (bounded by the connection's
    /// call timeout; a queue that is full fails at once rather than piling up).
    pub async fn send(
        &self,
        id: &ChargerId,
        command: ChargerCommand,
        reason: impl Into<String>,
    ) -> Result<CommandReply, CommandError> {
        let sender = self
            .lock()
            .handles
            .get(id)
            .map(|h| h.commands.clone())
            .ok_or(CommandError::NotConnected)?;
        let (reply, answer) = oneshot::channel();
        let action = command.name();
        let request = Box::new(CommandRequest {
            command,
            reason: reason.into(),
            reply,
        });
        sender.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => CommandError::Busy,
            mpsc::error::TrySendError::Closed(_) => CommandError::NotConnected,
        })?;
        let result = answer.await.map_err(|_| CommandError::Disconnected)?;
        if result == Err(CommandError::Timeout) {
            crate::telemetry::command_timeout(action);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_slot_is_one_pointer_not_a_whole_request() {
        // tokio's mpsc allocates 32 slots per channel at once; each connection has one.
        assert_eq!(size_of::<QueuedCommand>(), size_of::<usize>());
        // The reason for the box: a request is many times larger than a pointer.
        assert!(size_of::<CommandRequest>() > 10 * size_of::<QueuedCommand>());
    }

    #[tokio::test]
    async fn a_boxed_command_reaches_the_connection_and_its_answer_comes_back() {
        let chargers = Chargers::default();
        let id = ChargerId::new("CP-1").expect("a valid charger id");
        let mut registration = chargers.register(&id, OcppVersion::V16);
        let sender = chargers.clone();
        let sent = tokio::spawn(async move {
            sender
                .send(&id, ChargerCommand::GetLocalListVersion, "test")
                .await
        });
        let request = registration
            .commands
            .recv()
            .await
            .expect("a queued command");
        assert_eq!(request.reason, "test");
        request
            .reply
            .send(Err(CommandError::Timeout))
            .expect("the sender waits for the answer");
        assert_eq!(
            sent.await.expect("the send task"),
            Err(CommandError::Timeout)
        );
    }
}
