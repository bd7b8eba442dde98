//! Answers one CALL from the cloud CSMS (`messages::classify` decides what it becomes):
//! relayed to the charger through its connection's command queue under chargegate's own
//! message id (Part 4 §6.4: ids of the two sides never meet), or carried out by chargegate
//! itself through the HTTP API's own handlers (`http::Internal`: the same checks and audit
//! entries as an operator's request) and the store.

use std::sync::Arc;

use axum::http::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::messages::{self, CloudCall, CloudLimit, Role};
use crate::charger::CommandError;
use crate::ocpp::model::{ChargerCommand, CommandReply, OcppVersion};
use crate::ocpp::rpc::{self, RpcErrorCode};
use crate::store;
use crate::units::ChargerId;

/// The API caller name the audit log shows for the cloud's requests.
const CALLER: &str = "upstream OCPP (cloud CSMS)";

/// Where a cloud CALL came in.
pub(super) struct Origin {
    pub role: Role,
    pub version: OcppVersion,
    /// The charger whose identity it came on (`None`: chargegate's own).
    pub charger: Option<ChargerId>,
}

/// Carries out the cloud's CALL and sends the answer frame to `answers` (the link writes
/// it). Runs as its own task: a relayed call waits for the charger.
pub(super) fn spawn(
    shared: Arc<Shared>,
    origin: Origin,
    id: String,
    action: String,
    payload: Value,
    answers: mpsc::Sender<String>,
) {
    tokio::spawn(async move {
        let now = shared.clock.now();
        let call = messages::classify(origin.role, origin.version, &action, &payload, now);
        let counters = &shared.counters;
        counters.count(&counters.commands);
        let answer = match carry_out(&shared, &origin, &action, payload, call).await {
            Ok(reply) => rpc::call_result(&id, &reply),
            Err((code, description)) => {
                counters.count(&counters.commands_refused);
                tracing::info!(
                    action,
                    code = code.wire(origin.version),
                    description,
                    "cloud CSMS CALL refused"
                );
                rpc::call_error(origin.version, &id, code, &description)
            }
        };
        // The link is gone (the cloud's socket closed): the cloud resends if it still wants.
        let _ = answers.send(answer).await;
    });
}

type Refusal = (RpcErrorCode, String);

async fn carry_out(
    shared: &Shared,
    origin: &Origin,
    action: &str,
    payload: Value,
    call: CloudCall,
) -> Result<Value, Refusal> {
    match call {
        CloudCall::Refuse(code, why) => Err((code, why)),
        CloudCall::Relay => relay(shared, origin, action, payload).await,
        CloudCall::RelayRemoteStop { cloud_tx } => {
            let charger = origin.charger.clone().ok_or_else(not_a_charger)?;
            let id = charger.to_string();
            let local = shared
                .store
                .call(move |c| store::local_tx(c, &id, cloud_tx))
                .await
                .map_err(internal)?;
            match local {
                Some(local) => {
                    relay(shared, origin, action, json!({ "transactionId": local })).await
                }
                // The charger never ran it under an id the cloud knows.
                None => Ok(json!({ "status": "Rejected" })),
            }
        }
        CloudCall::SiteLimit(limit) => site_limit(shared, &limit).await,
        CloudCall::ClearSiteLimit => {
            let (status, answer) = shared
                .internal
                .call(Method::DELETE, "/api/v1/site/limit", None, CALLER)
                .await;
            let removed = answer.get("removed").and_then(Value::as_bool) == Some(true);
            Ok(json!({
                "status": if status.is_success() && removed { "Accepted" } else { "Unknown" }
            }))
        }
        CloudCall::SendLocalList {
            version,
            full,
            cards,
        } => {
            shared
                .store
                .call(move |c| store::apply_cloud_list(c, version, full, &cards))
                .await
                .map_err(internal)?;
            Ok(json!({ "status": "Accepted" }))
        }
        CloudCall::GetLocalListVersion => {
            let version = shared
                .store
                .call(|c| store::cloud_list_version(c))
                .await
                .map_err(internal)?;
            let key = match origin.version {
                OcppVersion::V16 => "listVersion",
                OcppVersion::V201 => "versionNumber",
            };
            Ok(json!({ key: version }))
        }
        CloudCall::ClearCache => {
            // The cloud's verdicts kept from Authorize answers; its SendLocalList cards
            // stay, as a station's local list does (1.6 §5.4, 2.0.1 C11).
            let cleared = shared
                .store
                .call(store::clear_cloud_verdicts)
                .await
                .map_err(internal)?;
            tracing::info!(cleared, "the cloud cleared the cache of its verdicts");
            Ok(json!({ "status": "Accepted" }))
        }
    }
}

/// A station-wide maximum on chargegate's own identity: the site's temporary limit. A
/// limit at or above the grid connection's own lifts the cloud's earlier one; the site
/// never goes above what the site file allows.
async fn site_limit(shared: &Shared, limit: &CloudLimit) -> Result<Value, Refusal> {
    let (_, site) = shared
        .internal
        .call(Method::GET, "/api/v1/site", None, CALLER)
        .await;
    let configured = site.get("grid_limit_a").and_then(Value::as_f64);
    let lifts = configured.is_some_and(|grid| limit.limit_a >= grid);
    let (status, answer) = if lifts {
        shared
            .internal
            .call(Method::DELETE, "/api/v1/site/limit", None, CALLER)
            .await
    } else {
        // A limit of 0 A stops charging; the API takes "more than 0", so the smallest.
        let body = json!({
            "limit_a": limit.limit_a.max(0.1),
            "until": limit.until.map(|t| crate::ocpp::time::format(&t)),
        });
        shared
            .internal
            .call(Method::PUT, "/api/v1/site/limit", Some(&body), CALLER)
            .await
    };
    if status.is_success() {
        tracing::info!(limit_a = limit.limit_a, until = ?limit.until, lifts, "the cloud CSMS set the site's limit");
        Ok(json!({ "status": "Accepted" }))
    } else {
        tracing::warn!(%status, %answer, "the cloud CSMS's site limit was not taken");
        Ok(json!({ "status": "Rejected" }))
    }
}

/// Sends the cloud's CALL to the charger and returns its answer.
async fn relay(
    shared: &Shared,
    origin: &Origin,
    action: &str,
    payload: Value,
) -> Result<Value, Refusal> {
    let charger = origin.charger.clone().ok_or_else(not_a_charger)?;
    let Some(action) = crate::ocpp::relay_action(origin.version, action) else {
        return Err((
            RpcErrorCode::NotImplemented,
            format!(
                "{action} is not an OCPP {} action",
                origin.version.subprotocol()
            ),
        ));
    };
    let command = ChargerCommand::Relay { action, payload };
    let reason = format!("relayed from the cloud CSMS ({action})");
    match shared.chargers.send(&charger, command, reason).await {
        Ok(CommandReply::Relayed(answer)) => Ok(answer),
        Ok(other) => Err(internal(format!("unexpected reply {other:?}"))),
        Err(CommandError::CallError { code, description }) => Err((
            RpcErrorCode::from_wire(&code).unwrap_or(RpcErrorCode::GenericError),
            description,
        )),
        Err(CommandError::NotConnected | CommandError::Disconnected) => {
            Err((RpcErrorCode::GenericError, "charger not connected".into()))
        }
        Err(CommandError::Timeout) => Err((
            RpcErrorCode::GenericError,
            "the charger did not answer in time".into(),
        )),
        Err(e) => Err((RpcErrorCode::GenericError, e.to_string())),
    }
}

fn not_a_charger() -> Refusal {
    (
        RpcErrorCode::NotSupported,
        "not on the Local Controller's own identity".into(),
    )
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    tracing::error!("cannot carry out the cloud's CALL: {e}");
    (
        RpcErrorCode::InternalError,
        "temporarily unable to process".into(),
    )
}
