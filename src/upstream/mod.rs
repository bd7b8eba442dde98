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

async fn run_commands(
    executor: Executor,
    mut commands: mpsc::Receiver<Publish>,
    results: mpsc::Sender<(String, serde_json::Value)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let running = Arc::new(Semaphore::new(COMMANDS_AT_ONCE));
    loop {
        let publish = tokio::select! {
            _ = shutdown.changed() => return,
            p = commands.recv() => match p { Some(p) => p, None => return },
        };
        let Ok(permit) = Arc::clone(&running).acquire_owned().await else {
            return;
        };
        let (executor, results) = (executor.clone(), results.clone());
        tokio::spawn(async move {
            let name = publish.topic.rsplit('/').next().unwrap_or_default();
            let command = commands::read(name, &publish.payload, executor.clock.now());
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
