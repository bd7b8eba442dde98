//! What the Local Controller does with each message, as pure functions: which charger
//! messages are kept for the cloud, how a kept message is rewritten when it is sent (the
//! cloud's 1.6 transaction id, 2.0.1 `offline`), and what becomes of each CALL the cloud
//! sends (relayed to the charger, or answered by chargegate because the authority over the
//! site's current and its cards stays local, issue 13).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

mod profiles;

use crate::ocpp::model::OcppVersion;
use crate::ocpp::rpc::RpcErrorCode;
use crate::site::CapKind;
use crate::store::{CloudCard, JournalRow, TokenRecord};

/// The charger messages kept in the store until the cloud answered them: the transaction
/// messages (1.6 §4.7-4.10, 2.0.1 E/J: the cloud bills from them) and security events
/// (2.0.1 A04: the station queues them too). Every other message is forwarded only while the
/// link is up.
pub fn journaled(action: &str) -> bool {
    matches!(
        action,
        "StartTransaction"
            | "StopTransaction"
            | "MeterValues"
            | "TransactionEvent"
            | "SecurityEventNotification"
    )
}

/// The local 1.6 transaction id a kept message names (MeterValues, StopTransaction).
pub fn local_tx_of(row: &JournalRow, payload: &Value) -> Option<i64> {
    if row.version != OcppVersion::V16.subprotocol() {
        return None;
    }
    match row.action.as_str() {
        "MeterValues" | "StopTransaction" => payload.get("transactionId")?.as_i64(),
        _ => None,
    }
}

/// The payload the cloud gets for a kept message: as the charger sent it, with the cloud's
/// transaction id for the local one (1.6; `cloud_tx` from the cloud's answer to the Start),
/// and `offline: true` on a 2.0.1 TransactionEvent chargegate received while the link was
/// down (E04.FR.01's meaning: "this event happened while the CSMS could not be reached").
pub fn outgoing(row: &JournalRow, mut payload: Value, cloud_tx: Option<i64>) -> Value {
    if let (Some(cloud), Some(object)) = (cloud_tx, payload.as_object_mut())
        && object.contains_key("transactionId")
    {
        object.insert("transactionId".into(), json!(cloud));
    }
    if row.action == "TransactionEvent"
        && row.offline
        && let Some(object) = payload.as_object_mut()
    {
        object.insert("offline".into(), json!(true));
    }
    payload
}

/// The cloud's transaction id in its answer to a 1.6 StartTransaction.
pub fn cloud_tx_in_answer(row: &JournalRow, answer: &Value) -> Option<i64> {
    (row.action == "StartTransaction")
        .then(|| answer.get("transactionId")?.as_i64())
        .flatten()
}

/// Who a link speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A charger of the site, under its own identity.
    Charger,
    /// chargegate itself (`[upstream.ocpp] identity`): the site as one station.
    Own,
}

/// A temporary grid limit from the cloud: amperes per phase, until when.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudLimit {
    pub limit_a: f64,
    pub until: Option<DateTime<Utc>>,
}

/// What chargegate does with a CALL from the cloud.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudCall {
    /// Sent to the charger as it came (under chargegate's own message id).
    Relay,
    /// 1.6 RemoteStopTransaction: relayed with the local id for the cloud's one.
    RelayRemoteStop {
        cloud_tx: i64,
    },
    /// A site limit on chargegate's own identity.
    SiteLimit(CloudLimit),
    /// ClearChargingProfile on chargegate's own identity: the cloud's limit ends.
    ClearSiteLimit,
    /// A profile on a charger's identity: an upper bound on that charger's current.
    Cap(CapKind, CloudLimit),
    /// ClearChargingProfile on a charger's identity: its caps of that kind end (`None`:
    /// both).
    ClearCap(Option<CapKind>),
    /// The cloud's cards, into chargegate's own list.
    SendLocalList {
        version: i64,
        full: bool,
        cards: Vec<CloudCard>,
    },
    GetLocalListVersion,
    /// The cloud's verdicts kept from Authorize answers are forgotten.
    ClearCache,
    /// Answered with this CALLERROR.
    Refuse(RpcErrorCode, String),
}

/// Decides what becomes of the cloud's CALL `action` on a link of `role`.
pub fn classify(
    role: Role,
    version: OcppVersion,
    action: &str,
    payload: &Value,
    now: DateTime<Utc>,
) -> CloudCall {
    match action {
        "SendLocalList" => send_local_list(version, payload),
        "GetLocalListVersion" => CloudCall::GetLocalListVersion,
        "ClearCache" => CloudCall::ClearCache,
        "SetChargingProfile" => profiles::set_profile(role, version, payload, now),
        "ClearChargingProfile" => match role {
            Role::Own => CloudCall::ClearSiteLimit,
            Role::Charger => profiles::clear_cap(version, payload),
        },
        _ if role == Role::Own => CloudCall::Refuse(
            RpcErrorCode::NotSupported,
            format!("{action} is not supported on the Local Controller's own identity"),
        ),
        "RemoteStopTransaction" if version == OcppVersion::V16 => {
            match payload.get("transactionId").and_then(Value::as_i64) {
                Some(cloud_tx) => CloudCall::RelayRemoteStop { cloud_tx },
                None => CloudCall::Refuse(
                    RpcErrorCode::FormatViolation,
                    "transactionId: an integer".into(),
                ),
            }
        }
        _ => match crate::ocpp::relay_action(version, action) {
            Some(_) => CloudCall::Relay,
            None => CloudCall::Refuse(
                RpcErrorCode::NotImplemented,
                format!("{action} is not an OCPP {} action", version.subprotocol()),
            ),
        },
    }
}

/// SendLocalList (1.6 §5.15, 2.0.1 D01) as cards for chargegate's own list.
fn send_local_list(version: OcppVersion, payload: &Value) -> CloudCall {
    let version_key = match version {
        OcppVersion::V16 => "listVersion",
        OcppVersion::V201 => "versionNumber",
    };
    let Some(list_version) = payload.get(version_key).and_then(Value::as_i64) else {
        return CloudCall::Refuse(
            RpcErrorCode::FormatViolation,
            format!("{version_key}: an integer"),
        );
    };
    let full = match payload.get("updateType").and_then(Value::as_str) {
        Some("Full") => true,
        Some("Differential") => false,
        _ => {
            return CloudCall::Refuse(
                RpcErrorCode::FormatViolation,
                "updateType: Full or Differential".into(),
            );
        }
    };
    let entries = payload
        .get("localAuthorizationList")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut cards = Vec::with_capacity(entries.len());
    for entry in &entries {
        match cloud_card(version, entry) {
            Some(card) => cards.push(card),
            None => {
                return CloudCall::Refuse(
                    RpcErrorCode::FormatViolation,
                    "localAuthorizationList: an entry without a card id".into(),
                );
            }
        }
    }
    CloudCall::SendLocalList {
        version: list_version,
        full,
        cards,
    }
}

/// One list entry: 1.6 `{idTag, idTagInfo}`, 2.0.1 `{idToken: {idToken}, idTokenInfo}`.
fn cloud_card(version: OcppVersion, entry: &Value) -> Option<CloudCard> {
    let (id, info) = match version {
        OcppVersion::V16 => (entry.get("idTag")?.as_str()?, entry.get("idTagInfo")),
        OcppVersion::V201 => (
            entry.get("idToken")?.get("idToken")?.as_str()?,
            entry.get("idTokenInfo"),
        ),
    };
    Some(CloudCard {
        id: id.to_string(),
        record: info.map(|info| token_record(version, id, info)),
    })
}

/// The card a cloud IdTagInfo / IdTokenInfo describes, in the store's words.
pub fn token_record(version: OcppVersion, id: &str, info: &Value) -> TokenRecord {
    let status = match info.get("status").and_then(Value::as_str) {
        Some("Accepted") => "accepted",
        _ => "blocked",
    };
    let (expiry, group) = match version {
        OcppVersion::V16 => (
            info.get("expiryDate"),
            info.get("parentIdTag").and_then(Value::as_str),
        ),
        OcppVersion::V201 => (
            info.get("cacheExpiryDateTime"),
            info.get("groupIdToken")
                .and_then(|g| g.get("idToken"))
                .and_then(Value::as_str),
        ),
    };
    TokenRecord {
        id: id.to_string(),
        status: status.into(),
        expires: expiry
            .and_then(Value::as_str)
            .and_then(crate::ocpp::time::parse),
        group: group.map(str::to_string),
    }
}

/// The card id of a charger's Authorize (1.6 idTag, 2.0.1 idToken.idToken) and the card's
/// info in the cloud's answer.
pub fn authorize_verdict(
    version: OcppVersion,
    request: &Value,
    answer: &Value,
) -> Option<TokenRecord> {
    let (id, info) = match version {
        OcppVersion::V16 => (request.get("idTag")?.as_str()?, answer.get("idTagInfo")?),
        OcppVersion::V201 => (
            request.get("idToken")?.get("idToken")?.as_str()?,
            answer.get("idTokenInfo")?,
        ),
    };
    Some(token_record(version, id, info))
}

#[cfg(test)]
mod tests;
