//! Answers one CALL from the cloud CSMS (`messages::classify` decides what it becomes):
//! relayed to the charger through its connection's command queue under chargegate's own
//! message id (Part 4 §6.4: ids of the two sides never meet), or carried out by chargegate
//! itself: its limits and caps go to the control loop (`control::Orders`) as bounds of
//! their own, never into the operator's; its cards into the store.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::messages::{self, CloudCall, CloudLimit, Role};
use crate::charger::CommandError;
use crate::ocpp::model::{ChargerCommand, CommandReply, OcppVersion};
use crate::ocpp::rpc::{self, RpcErrorCode};
use crate::site::CapKind;
use crate::store::{self, CloudCap, LimitSource, TemporaryLimit};
use crate::units::{Amps, ChargerId};

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
        CloudCall::SiteLimit(limit) => site_limit(shared, Some(&limit)).await,
        CloudCall::ClearSiteLimit => site_limit(shared, None).await,
        CloudCall::Cap(kind, limit) => cap(shared, origin, kind, Some(&limit)).await,
        CloudCall::ClearCap(Some(kind)) => cap(shared, origin, kind, None).await,
        CloudCall::ClearCap(None) => {
            let session = cap(shared, origin, CapKind::Session, None).await?;
            let lasting = cap(shared, origin, CapKind::Lasting, None).await?;
            let any = [session, lasting].iter().any(|a| a["status"] == "Accepted");
            Ok(json!({ "status": if any { "Accepted" } else { "Unknown" } }))
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

/// A station-wide maximum on chargegate's own identity: the cloud's own temporary limit on
/// the grid connection (`None` clears it), kept apart from the operator's: the lowest in
/// force applies, so the cloud can neither raise nor lift an operator's curtailment, and
/// one at or above `[site] grid-limit-a` changes nothing. Stored first, so a restart keeps
/// it.
async fn site_limit(shared: &Shared, limit: Option<&CloudLimit>) -> Result<Value, Refusal> {
    let source = LimitSource::Cloud;
    let limit = limit.map(|l| TemporaryLimit {
        limit: Amps(l.limit_a),
        until: l.until,
        set_at: shared.clock.now(),
        source,
    });
    let removed = shared
        .store
        .call(move |c| match &limit {
            Some(l) => store::set_temporary_limit(c, l).map(|()| true),
            None => store::clear_temporary_limit(c, source),
        })
        .await
        .map_err(internal)?;
    shared
        .orders
        .set_temporary_limit(source, limit)
        .await
        .map_err(internal)?;
    match limit {
        Some(l) => {
            tracing::info!(limit_a = l.limit.0, until = ?l.until, "the cloud CSMS set its site limit")
        }
        None => tracing::info!(removed, "the cloud CSMS cleared its site limit"),
    }
    Ok(json!({ "status": if removed { "Accepted" } else { "Unknown" } }))
}

/// A cap of `kind` on the charger the call came for (`None` clears it). A lasting one is
/// stored first, so a restart keeps it; a TxProfile's lives as long as its vehicle.
/// Answered Rejected when it cannot apply (a TxProfile with no vehicle), Unknown when a
/// clear found nothing.
async fn cap(
    shared: &Shared,
    origin: &Origin,
    kind: CapKind,
    limit: Option<&CloudLimit>,
) -> Result<Value, Refusal> {
    let charger = origin.charger.clone().ok_or_else(not_a_charger)?;
    let cap = limit.map(|l| CloudCap {
        limit: Amps(l.limit_a),
        until: l.until,
        set_at: shared.clock.now(),
    });
    if kind == CapKind::Lasting {
        let id = charger.to_string();
        shared
            .store
            .call(move |c| match &cap {
                Some(cap) => store::set_cloud_cap(c, &id, cap),
                None => store::clear_cloud_cap(c, &id).map(drop),
            })
            .await
            .map_err(internal)?;
    }
    let outcome = shared
        .orders
        .set_cap(charger.clone(), kind, cap)
        .await
        .map_err(internal)?;
    let status = match (outcome, cap) {
        (Ok(_), Some(_)) | (Ok(true), None) => "Accepted",
        (Ok(false), None) => "Unknown",
        (Err(refusal), _) => {
            tracing::info!(%charger, ?kind, ?refusal, "the cloud CSMS's cap was not taken");
            "Rejected"
        }
    };
    Ok(json!({ "status": status }))
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
