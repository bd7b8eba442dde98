//! `/api/v1/chargers/<id>/...`: the operator's remote control (DESIGN.md "HTTP").
//!
//! Each endpoint checks its body strictly (an unknown or missing field is a 400 that
//! names it), turns it into a version-blind `ChargerCommand`, sends it through the
//! charger registry (which writes the audit entry, with the token holder's name as the
//! reason) and answers with the charger's own answer. The version layer refuses what the
//! charger's OCPP version cannot say; that is a 409, like an offline charger. A charger
//! that does not answer in its call timeout is a 504; a CALLERROR or a malformed answer a
//! 502 that quotes it. Decides nothing about charging: a remote start still goes through
//! the CSMS's own Authorize rules when the charger asks.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Holder;
use super::{ApiError, HttpState, error};
use crate::charger::registry::CommandError;
use crate::csms::rules;
use crate::ocpp::model::{
    AuthorizationStatus, ChargerCommand, CommandReply, EvseRef, IdToken, OcppVersion, ResetKind,
    TriggerKind, TxKey,
};
use crate::store;
use crate::units::ChargerId;

/// 2.0.1 IdToken.idToken is an identifierString of at most 36 characters (1.6 idTag 20;
/// the 1.6 layer refuses a longer one).
const MAX_ID_TOKEN: usize = 36;
/// The id token type a 2.0.1 remote start uses when the request names none: the depot's
/// cards are RFID cards.
const DEFAULT_ID_TOKEN_TYPE: &str = "ISO14443";
/// 2.0.1 IdTokenEnumType.
pub(super) const ID_TOKEN_TYPES: &[&str] = &[
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
];

/// The charger a command goes to: named in the path, known, and connected now.
pub(super) struct Target {
    pub id: ChargerId,
    pub version: OcppVersion,
}

impl HttpState {
    pub(super) fn target(&self, raw: &str) -> Result<Target, ApiError> {
        let id = ChargerId::new(raw.to_string()).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("charger: not a charger id ({})", ChargerId::rule()),
            )
        })?;
        let version = self.chargers.version(&id);
        let configured = self.live.current().chargers.iter().any(|c| c.id == id);
        match version {
            Some(version) => Ok(Target { id, version }),
            None if configured => Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("charger {id} is offline: not connected to chargegate now"),
            )),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no charger {id}: not in the site file and not connected"),
            )),
        }
    }

    /// Sends `command` and answers with the charger's answer.
    pub(super) async fn command(
        &self,
        target: &Target,
        command: ChargerCommand,
        holder: Option<&Holder>,
    ) -> Response {
        match self.send(target, command, holder).await {
            Ok(reply) => Json(reply_json(&reply)).into_response(),
            Err(e) => e.into_response(),
        }
    }

    pub(super) async fn send(
        &self,
        target: &Target,
        command: ChargerCommand,
        holder: Option<&Holder>,
    ) -> Result<CommandReply, ApiError> {
        let name = command.name();
        let reason = match holder {
            Some(h) => format!("operator API, token {:?}", h.name),
            None => "operator API, open read".to_string(),
        };
        tracing::info!(charger = %target.id, command = name, %reason, "operator command");
        self.chargers
            .send(&target.id, command, reason)
            .await
            .map_err(|e| command_error(&target.id, name, e))
    }
}

pub(super) fn command_error(id: &ChargerId, name: &str, e: CommandError) -> ApiError {
    let status = match e {
        CommandError::NotConnected | CommandError::Disconnected | CommandError::NotInVersion(_) => {
            StatusCode::CONFLICT
        }
        CommandError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        CommandError::CallError { .. } | CommandError::BadReply(_) => StatusCode::BAD_GATEWAY,
        CommandError::Busy => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, format!("{name} to {id}: {e}"))
}

/// The charger's answer as JSON: its status word and whether it means "done or will do".
pub(super) fn reply_json(reply: &CommandReply) -> Value {
    match reply {
        CommandReply::Status { status, accepted } => {
            json!({"status": status, "accepted": accepted})
        }
        CommandReply::Relayed(payload) => {
            json!({"reply": payload, "accepted": reply.is_accepted()})
        }
        CommandReply::Configuration { values, unknown } => json!({
            "values": values.iter().map(|v| json!({
                "key": super::configuration::key_text(&v.key),
                "value": v.value,
                "readonly": v.readonly,
            })).collect::<Vec<_>>(),
            "unknown": unknown
                .iter()
                .map(super::configuration::key_text)
                .collect::<Vec<_>>(),
        }),
        CommandReply::CompositeSchedule { accepted, .. } => json!({"accepted": accepted}),
        CommandReply::LocalListVersion(v) => json!({"version": v}),
        CommandReply::DataTransfer {
            status,
            accepted,
            data,
        } => json!({"status": status, "accepted": accepted, "data": data}),
        CommandReply::Log {
            status,
            accepted,
            file_name,
        } => json!({"status": status, "accepted": accepted, "file_name": file_name}),
        CommandReply::TransactionStatus {
            ongoing,
            messages_in_queue,
        } => json!({"ongoing": ongoing, "messages_in_queue": messages_in_queue}),
        CommandReply::InstalledCertificates {
            status,
            certificates,
        } => super::certificates::installed_json(status, certificates),
    }
}

/// The request body, or a 400 that names what is wrong with it.
pub(super) fn body<T>(parsed: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    parsed
        .map(|Json(b)| b)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// An EVSE or connector number: 1 or more (0 is "the whole station", said with null).
pub(super) fn positive(field: &str, value: Option<u32>) -> Result<Option<u32>, ApiError> {
    match value {
        Some(0) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{field}: numbered from 1; null means the whole charger"),
        )),
        v => Ok(v),
    }
}

macro_rules! try_response {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        }
    };
}
pub(super) use try_response;

/// `POST .../remote-start` `{"evse": 1, "id_token": "...", "id_token_type": "ISO14443"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteStart {
    evse: Option<u32>,
    id_token: String,
    id_token_type: Option<String>,
}

pub async fn remote_start(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<RemoteStart>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let evse = try_response!(positive("evse", request.evse));
    let token = request.id_token;
    if token.is_empty()
        || token.len() > MAX_ID_TOKEN
        || !token.chars().all(|c| c.is_ascii_graphic())
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("id_token: 1 to {MAX_ID_TOKEN} printable ASCII characters"),
        );
    }
    let kind = match (target.version, request.id_token_type) {
        (OcppVersion::V16, Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "id_token_type: a 1.6 charger has no id token types; leave it out",
            );
        }
        (OcppVersion::V16, None) => None,
        (OcppVersion::V201, None) => Some(DEFAULT_ID_TOKEN_TYPE.to_string()),
        (OcppVersion::V201, Some(t)) if ID_TOKEN_TYPES.contains(&t.as_str()) => Some(t),
        (OcppVersion::V201, Some(t)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "id_token_type: {t:?} is not one of {}",
                    ID_TOKEN_TYPES.join(", ")
                ),
            );
        }
    };
    // The token's own status first: a blocked or unknown card is not started remotely,
    // whatever the charger's AuthorizeRemoteStart says (it would only ask us again).
    let lookup = token.clone();
    let known = state
        .store
        .call(move |c| {
            Ok((
                store::effective_token(c, &lookup)?,
                store::token_has_open_transaction(c, &lookup)?,
            ))
        })
        .await;
    let (record, charging) = match known {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!("id token lookup failed: {e}");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is not available",
            );
        }
    };
    let info = rules::authorize(record.as_ref(), charging, state.clock_now());
    if info.status != AuthorizationStatus::Accepted {
        return error(
            StatusCode::CONFLICT,
            format!(
                "id token {token:?} is {:?} in the local authorization list; not started",
                info.status
            ),
        );
    }
    let command = ChargerCommand::RemoteStart {
        evse_id: evse,
        id_token: IdToken { id: token, kind },
        profile: None,
        remote_start_id: remote_start_id(),
    };
    state.command(&target, command, holder.as_deref()).await
}

/// A fresh 2.0.1 remoteStartId (a positive integer the charger echoes in its
/// TransactionEvent); random so that it does not repeat across restarts.
fn remote_start_id() -> i32 {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    (OsRng.next_u32() >> 1) as i32
}

/// `POST .../remote-stop` `{"transaction": "..."}`: the transaction id the charger knows
/// (1.6: the integer chargegate gave it; 2.0.1: the charger's own).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteStop {
    transaction: String,
}

pub async fn remote_stop(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<RemoteStop>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let text = request.transaction;
    let tx = match target.version {
        OcppVersion::V16 => match text.parse::<i64>() {
            Ok(n) => TxKey::Csms(n),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("transaction: a 1.6 transaction id is an integer, not {text:?}"),
                );
            }
        },
        OcppVersion::V201 if !text.is_empty() && text.len() <= MAX_ID_TOKEN => {
            TxKey::Charger(text.clone())
        }
        OcppVersion::V201 => {
            return error(
                StatusCode::BAD_REQUEST,
                "transaction: a 2.0.1 transaction id has 1 to 36 characters",
            );
        }
    };
    let charger = target.id.as_str().to_string();
    let key = tx.clone();
    let open = state
        .store
        .call(move |c| {
            let Some(row) = store::find_transaction(c, &charger, &key)? else {
                return Ok(None);
            };
            Ok(store::transaction(c, row)?.map(|t| t.status == "open"))
        })
        .await;
    match open {
        Ok(Some(true)) => {}
        Ok(Some(false)) => {
            return error(
                StatusCode::CONFLICT,
                format!("transaction {text} on {} has already ended", target.id),
            );
        }
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no transaction {text} on {}", target.id),
            );
        }
        Err(e) => {
            tracing::warn!("transaction lookup failed: {e}");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is not available",
            );
        }
    }
    state
        .command(
            &target,
            ChargerCommand::RemoteStop { tx },
            holder.as_deref(),
        )
        .await
}

/// `POST .../reset` `{"kind": "soft" | "hard", "evse": null}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    kind: ResetWord,
    #[serde(default)]
    evse: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResetWord {
    Soft,
    Hard,
}

pub async fn reset(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Reset>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let evse_id = try_response!(positive("evse", request.evse));
    let kind = match request.kind {
        ResetWord::Soft => ResetKind::Soft,
        ResetWord::Hard => ResetKind::Hard,
    };
    state
        .command(
            &target,
            ChargerCommand::Reset { kind, evse_id },
            holder.as_deref(),
        )
        .await
}

/// `POST .../unlock` `{"evse": 1, "connector": 1}` (1.6: the connector is the EVSE).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unlock {
    evse: u32,
    #[serde(default)]
    connector: Option<u32>,
}

pub async fn unlock(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Unlock>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let evse_id = try_response!(positive("evse", Some(request.evse))).unwrap_or(1);
    let connector_id = try_response!(positive("connector", request.connector));
    let evse = EvseRef {
        evse_id,
        // 2.0.1 UnlockConnector needs a connector; an EVSE has connector 1 unless said.
        connector_id: Some(connector_id.unwrap_or(1)),
    };
    state
        .command(
            &target,
            ChargerCommand::UnlockConnector { evse },
            holder.as_deref(),
        )
        .await
}

/// `POST .../availability` `{"evse": null, "connector": null, "operative": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    #[serde(default)]
    evse: Option<u32>,
    #[serde(default)]
    connector: Option<u32>,
    operative: bool,
}

pub async fn availability(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Availability>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let evse_id = try_response!(positive("evse", request.evse));
    let connector_id = try_response!(positive("connector", request.connector));
    let evse = match (evse_id, connector_id) {
        (None, Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "connector: name the evse it belongs to",
            );
        }
        (None, None) => None,
        (Some(evse_id), connector_id) => Some(EvseRef {
            evse_id,
            connector_id,
        }),
    };
    let command = ChargerCommand::ChangeAvailability {
        evse,
        operative: request.operative,
    };
    let reply = match state.send(&target, command, holder.as_deref()).await {
        Ok(reply) => reply,
        Err(e) => return e.into_response(),
    };
    // Kept when the charger took it (Accepted or Scheduled), so that it is sent again if
    // the charger forgets it in a reboot (`dispatch::availability`).
    if reply.is_accepted() {
        let (charger, now) = (target.id.to_string(), state.clock_now());
        let (evse_id, connector_id) =
            evse.map_or((0, 0), |e| (e.evse_id, e.connector_id.unwrap_or(0)));
        let operative = request.operative;
        let stored = state
            .store
            .call(move |c| {
                store::set_availability(c, &charger, evse_id, connector_id, operative, now)
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!("availability not stored: {e}");
        }
    }
    Json(reply_json(&reply)).into_response()
}

/// `POST .../trigger` `{"message": "MeterValues", "evse": null}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    message: String,
    #[serde(default)]
    evse: Option<u32>,
    /// Accepted for the contract's shape; a trigger names an EVSE, so only null or the
    /// EVSE's first connector (1) mean something here.
    #[serde(default)]
    connector: Option<u32>,
}

pub async fn trigger(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<Trigger>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    let evse_id = try_response!(positive("evse", request.evse));
    if request.connector.is_some_and(|c| c != 1) {
        return error(
            StatusCode::BAD_REQUEST,
            "connector: a trigger names the evse; leave connector null",
        );
    }
    let message = match request.message.as_str() {
        "BootNotification" => TriggerKind::BootNotification,
        "Heartbeat" => TriggerKind::Heartbeat,
        "MeterValues" => TriggerKind::MeterValues,
        "StatusNotification" => TriggerKind::StatusNotification,
        "FirmwareStatusNotification" => TriggerKind::FirmwareStatusNotification,
        "DiagnosticsStatusNotification" => TriggerKind::DiagnosticsStatusNotification,
        "TransactionEvent" => TriggerKind::TransactionEvent,
        // 2.0.1 A02: the station renews its certificate (a 1.6 charger: 409).
        "SignChargingStationCertificate" => TriggerKind::SignChargingStationCertificate,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "message: {other:?} is not one of BootNotification, Heartbeat, MeterValues, \
                     StatusNotification, FirmwareStatusNotification, \
                     DiagnosticsStatusNotification, TransactionEvent, \
                     SignChargingStationCertificate"
                ),
            );
        }
    };
    state
        .command(
            &target,
            ChargerCommand::Trigger { message, evse_id },
            holder.as_deref(),
        )
        .await
}

/// `POST .../clear-cache` (no body, or `{}`): ClearCache.
pub async fn clear_cache(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    body: axum::body::Bytes,
) -> Response {
    let empty = body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Map<String, Value>>(&body)
            .is_ok_and(|m| m.is_empty());
    if !empty {
        return error(
            StatusCode::BAD_REQUEST,
            "body: clear-cache takes no fields; send nothing or {}",
        );
    }
    let target = try_response!(state.target(&id));
    state
        .command(&target, ChargerCommand::ClearCache, holder.as_deref())
        .await
}

/// `POST .../data-transfer` `{"vendor_id", "message_id", "data"}`: DataTransfer; the answer
/// has the charger's `data`, if it sent any.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTransfer {
    vendor_id: String,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

pub async fn data_transfer(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<DataTransfer>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    // 1.6 CiString255 / 2.0.1 string[0..255] and CiString50 / string[0..50].
    if request.vendor_id.is_empty() || request.vendor_id.chars().count() > 255 {
        return error(StatusCode::BAD_REQUEST, "vendor_id: 1 to 255 characters");
    }
    if request
        .message_id
        .as_ref()
        .is_some_and(|m| m.chars().count() > 50)
    {
        return error(StatusCode::BAD_REQUEST, "message_id: at most 50 characters");
    }
    let command = ChargerCommand::DataTransfer {
        vendor_id: request.vendor_id,
        message_id: request.message_id,
        data: request.data,
    };
    state.command(&target, command, holder.as_deref()).await
}
