//! The upstream over MQTT (issue 12, DESIGN.md "MQTT"): every record the cloud is owed
//! reaches the broker once the link is up, and the cloud can steer the site.
//!
//! Three tasks, none of which local control waits for: `records` fills the SQLite outbox
//! (transactions and alerts from the store's change notes, charger states, telemetry),
//! `link` publishes it to the broker in order and deletes what the broker acknowledged,
//! and the command task answers `cmd/<name>` through the HTTP API's own handlers
//! (`commands`, `http::Internal`). They talk over bounded channels; a dead broker only
//! makes the outbox longer.

pub mod commands;
mod link;
pub mod ocpp;
pub mod options;
pub mod records;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use rumqttc::Publish;
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::clock::Clock;
use crate::config::{Live, UpstreamMqtt};
use crate::csms::Csms;
use crate::http::{Internal, UpstreamStatus};
use crate::store::{self, Store, StoreError};
use commands::{Command, Parsed, Refusal};

/// Commands waiting for the command task at most; more are answered busy.
const COMMAND_QUEUE: usize = 16;
/// Commands carried out at once (a remote start waits for the charger's answer).
const COMMANDS_AT_ONCE: usize = 4;

/// Why the upstream could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Options(#[from] options::OptionsError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The running upstream's state, for the API.
pub fn status_channel(
    config: &UpstreamMqtt,
) -> (
    watch::Sender<UpstreamStatus>,
    watch::Receiver<UpstreamStatus>,
) {
    watch::channel(UpstreamStatus {
        kind: "mqtt",
        url: config.url.clone(),
        ..UpstreamStatus::default()
    })
}

/// What the upstream needs from the daemon.
#[derive(Debug)]
pub struct UpstreamInputs {
    pub config: UpstreamMqtt,
    pub site_id: String,
    pub store: Store,
    pub csms: Csms,
    pub internal: Internal,
    pub live: Live,
    pub status: watch::Sender<UpstreamStatus>,
    pub clock: Clock,
}

/// Starts the three tasks (returns the link's, which says goodbye at shutdown),
/// subscribed to the CSMS before the listener admits a charger.
/// The change notes must already be on (`store::enable_upstream`, which gives `epoch`).
pub fn spawn(
    inputs: UpstreamInputs,
    epoch: String,
    shutdown: &watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, UpstreamError> {
    let options = options::mqtt_options(&inputs.config)?;
    let wake = Arc::new(Notify::new());
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (results_tx, results_rx) = mpsc::channel(COMMAND_QUEUE);
    let recorder = records::Recorder {
        store: inputs.store.clone(),
        internal: inputs.internal.clone(),
        origin: records::Origin {
            epoch,
            site_id: inputs.site_id.clone(),
        },
        live: inputs.live.clone(),
        telemetry_every: Duration::from_secs(u64::from(inputs.config.telemetry_interval_s)),
        retention: chrono::Duration::days(i64::from(inputs.config.telemetry_retention_days)),
        status: inputs.status.clone(),
        wake: Arc::clone(&wake),
        clock: inputs.clock,
    };
    tokio::spawn(records::run(
        recorder,
        inputs.csms.subscribe(),
        inputs.csms.subscribe_connections(),
        shutdown.clone(),
    ));
    let executor = Executor {
        internal: inputs.internal,
        store: inputs.store.clone(),
        status: inputs.status.clone(),
        clock: inputs.clock,
    };
    tokio::spawn(run_commands(
        executor,
        commands_rx,
        results_tx,
        shutdown.clone(),
    ));
    let link = link::Link {
        options,
        prefix: inputs.config.topic_prefix.clone(),
        store: inputs.store,
        status: inputs.status,
        wake,
        commands: commands_tx,
        results: results_rx,
        clock: inputs.clock,
    };
    // The daemon's stop waits for this one: `offline` on `status` before the exit.
    Ok(tokio::spawn(link::run(link, shutdown.clone())))
}

/// Carries out commands through the API.
#[derive(Clone)]
struct Executor {
    internal: Internal,
    store: Store,
    status: watch::Sender<UpstreamStatus>,
    clock: Clock,
}

/// The newest results kept by request id: a command the broker delivers again (QoS 1 is at
/// least once) is answered with its first result, not carried out twice.
const REMEMBERED_RESULTS: usize = 256;

/// The results of the newest commands, by request id.
#[derive(Debug, Default)]
struct Answered {
    /// `None` while the command is being carried out.
    results: std::collections::HashMap<String, Option<serde_json::Value>>,
    order: std::collections::VecDeque<String>,
}

impl Answered {
    /// `Some(None)`: being carried out now; `Some(Some(result))`: done.
    fn get(&self, id: &str) -> Option<Option<serde_json::Value>> {
        self.results.get(id).cloned()
    }

    fn keep(&mut self, id: String, result: Option<serde_json::Value>) {
        if self.results.insert(id.clone(), result).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > REMEMBERED_RESULTS {
            if let Some(old) = self.order.pop_front() {
                self.results.remove(&old);
            }
        }
    }
}

async fn run_commands(
    executor: Executor,
    mut commands: mpsc::Receiver<Publish>,
    results: mpsc::Sender<(String, serde_json::Value)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let running = Arc::new(Semaphore::new(COMMANDS_AT_ONCE));
    let answered = Arc::new(std::sync::Mutex::new(Answered::default()));
    loop {
        let publish = tokio::select! {
            _ = shutdown.changed() => return,
            p = commands.recv() => match p { Some(p) => p, None => return },
        };
        let name = publish.topic.rsplit('/').next().unwrap_or_default();
        let mut command = commands::read(name, &publish.payload, executor.clock.now());
        if publish.retain && command.parsed.is_ok() {
            // A retained command would be carried out again on every connection.
            command.parsed = Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                error: "a retained command is not carried out: publish commands with retain \
                        off (and clear the retained one with an empty retained message)"
                    .into(),
            });
        }
        // Decided under the lock, answered after it.
        let earlier = command.request_id.clone().and_then(|id| {
            let mut book = answered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let earlier = book.get(&id);
            if earlier.is_none() {
                book.keep(id, None);
            }
            earlier
        });
        match earlier {
            // Being carried out: its result answers this delivery too.
            Some(None) => continue,
            Some(Some(result)) => {
                tracing::info!(command = command.name, request_id = ?command.request_id, "upstream command delivered again: its first result sent again");
                let _ = results.send((command.result_topic(), result)).await;
                continue;
            }
            None => {}
        }
        let Ok(permit) = Arc::clone(&running).acquire_owned().await else {
            return;
        };
        let (executor, results, answered) =
            (executor.clone(), results.clone(), Arc::clone(&answered));
        tokio::spawn(async move {
            let outcome = executor.execute(&command).await;
            executor.status.send_modify(|s| {
                s.commands += 1;
                s.commands_refused += u64::from(outcome.is_err());
            });
            match &outcome {
                Ok(_) => {
                    tracing::info!(command = command.name, request_id = ?command.request_id, "upstream command carried out")
                }
                Err(r) => {
                    tracing::info!(command = command.name, request_id = ?command.request_id, error = r.error, "upstream command refused")
                }
            }
            let result = commands::result(&command, outcome);
            if let Some(id) = &command.request_id {
                answered
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .keep(id.clone(), Some(result.clone()));
            }
            // The link is gone only at shutdown.
            let _ = results.send((command.result_topic(), result)).await;
            drop(permit);
        });
    }
}

impl Executor {
    async fn execute(&self, command: &Command) -> Result<serde_json::Value, Refusal> {
        let caller = format!(
            "upstream MQTT, request {}",
            command.request_id.as_deref().unwrap_or("-")
        );
        let call = match command.parsed.clone()? {
            Parsed::Call(call) => call,
            Parsed::NeedByToken { id_token, body } => {
                let card = id_token.clone();
                let charger = self
                    .store
                    .call(move |c| store::charger_of_open_token(c, &card))
                    .await
                    .map_err(|e| Refusal {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        error: format!("store: {e}"),
                    })?
                    .ok_or_else(|| Refusal {
                        status: StatusCode::CONFLICT,
                        error: format!("card {id_token:?} has no open transaction"),
                    })?;
                commands::ApiCall {
                    method: Method::PUT,
                    path: commands::charger_path(&charger, "need"),
                    body: Some(body),
                }
            }
        };
        let (status, answer) = self
            .internal
            .call(call.method, &call.path, call.body.as_ref(), &caller)
            .await;
        commands::answer(status, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_results_are_remembered_by_request_id() {
        let mut answered = Answered::default();
        for i in 0..=REMEMBERED_RESULTS {
            answered.keep(format!("r{i}"), Some(serde_json::json!(i)));
        }
        assert_eq!(answered.get("r0"), None, "the oldest is forgotten");
        assert_eq!(answered.get("r1"), Some(Some(serde_json::json!(1))));
        answered.keep("r1".into(), None);
        assert_eq!(
            answered.get("r1"),
            Some(None),
            "kept again, not added twice"
        );
        assert_eq!(answered.order.len(), REMEMBERED_RESULTS);
    }
}
