//! `/api/v1/chargers/<id>/transaction-status` and `/network-profile`: the 2.0.1 station
//! commands 1.6 has no message for (GetTransactionStatus E14, SetNetworkProfile B09),
//! through the charger registry like every other command (`commands.rs`: audited, 409
//! offline or a 1.6 charger, 504 on its timeout, 502 on a CALLERROR). Bodies are checked
//! strictly; what the charger then does with a network profile is its own business.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Holder;
use super::commands::{Target, body, try_response};
use super::{ApiError, HttpState};
use crate::ocpp::model::{ChargerCommand, NetworkProfile, OcppVersion};

/// 2.0.1 transactionId: identifierString[0..36].
const MAX_TX_ID: usize = 36;
/// NetworkConnectionProfileType.ocppCsmsUrl: string[0..512].
const MAX_URL: usize = 512;
/// OCPPInterfaceEnumType.
const INTERFACES: &[&str] = &[
    "Wired0",
    "Wired1",
    "Wired2",
    "Wired3",
    "Wireless0",
    "Wireless1",
    "Wireless2",
    "Wireless3",
];
/// The longest messageTimeout accepted, in seconds: Part 2 suggests 30 s; a timeout of
/// more than an hour is a typo, not a slow network.
const MAX_MESSAGE_TIMEOUT_S: u32 = 3600;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// 409 before anything is sent: the command exists only in 2.0.1.
fn only_201(target: &Target, what: &str) -> Result<(), ApiError> {
    if target.version == OcppVersion::V201 {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "{}: {what} is OCPP 2.0.1 only; this charger speaks 1.6",
            target.id
        ),
    ))
}

/// `POST .../transaction-status` `{"transaction": "..." or null}`: GetTransactionStatus.
/// The answer is `{"ongoing": true|false|null, "messages_in_queue": bool}` (`ongoing` is
/// null when no transaction was named).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionStatus {
    #[serde(default)]
    transaction: Option<String>,
}

pub async fn transaction_status(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<TransactionStatus>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    if let Some(tx) = &request.transaction
        && (tx.is_empty() || tx.chars().count() > MAX_TX_ID)
    {
        return bad(format!(
            "transaction: the charger's transaction id, 1 to {MAX_TX_ID} characters, or null"
        ))
        .into_response();
    }
    let target = try_response!(state.target(&id));
    try_response!(only_201(&target, "GetTransactionStatus"));
    let command = ChargerCommand::GetTransactionStatus {
        tx: request.transaction,
    };
    state.command(&target, command, holder.as_deref()).await
}

/// `POST .../network-profile` `{"slot", "security_profile", "url", "interface",
/// "message_timeout_s"}`: SetNetworkProfile (OCPP 2.0 over JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkProfileBody {
    slot: i32,
    security_profile: u8,
    url: String,
    interface: String,
    message_timeout_s: u32,
}

/// The profile, or a 400 naming the first field that is wrong.
fn network_profile(request: NetworkProfileBody) -> Result<(i32, NetworkProfile), ApiError> {
    if request.slot < 0 {
        return Err(bad(
            "slot: a configuration slot of the charger's NetworkConfigurationPriority, 0 or more",
        ));
    }
    if request.security_profile > 3 {
        return Err(bad("security_profile: 0 to 3"));
    }
    // Profiles 2 and 3 are TLS (Part 2 A00.FR.301/401), 0 and 1 plain WebSocket.
    let scheme = if request.security_profile >= 2 {
        "wss"
    } else {
        "ws"
    };
    let url_ok = request
        .url
        .split_once("://")
        .is_some_and(|(s, rest)| s.eq_ignore_ascii_case(scheme) && host_of(rest))
        && request.url.chars().count() <= MAX_URL
        && !request
            .url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if !url_ok {
        return Err(bad(format!(
            "url: a {scheme}:// URL with a host for security profile {} (profiles 2 and 3 \
             are wss://, 0 and 1 ws://), at most {MAX_URL} characters, e.g. \
             {scheme}://gateway.depot:8887/ocpp/",
            request.security_profile
        )));
    }
    if !INTERFACES.contains(&request.interface.as_str()) {
        return Err(bad(format!("interface: one of {}", INTERFACES.join(", "))));
    }
    if request.message_timeout_s == 0 || request.message_timeout_s > MAX_MESSAGE_TIMEOUT_S {
        return Err(bad(format!(
            "message_timeout_s: 1 to {MAX_MESSAGE_TIMEOUT_S} seconds (30 is a good start)"
        )));
    }
    Ok((
        request.slot,
        NetworkProfile {
            url: request.url,
            security_profile: request.security_profile,
            interface: request.interface,
            message_timeout_s: request.message_timeout_s,
        },
    ))
}

/// The part after `scheme://` starts with a host.
fn host_of(rest: &str) -> bool {
    rest.split(['/', '?', '#'])
        .next()
        .is_some_and(|authority| !authority.is_empty() && !authority.starts_with(':'))
}

pub async fn network_profile_post(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<NetworkProfileBody>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let (slot, profile) = try_response!(network_profile(request));
    let target = try_response!(state.target(&id));
    try_response!(only_201(&target, "SetNetworkProfile"));
    let command = ChargerCommand::SetNetworkProfile { slot, profile };
    state.command(&target, command, holder.as_deref()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(security_profile: u8, url: &str) -> NetworkProfileBody {
        NetworkProfileBody {
            slot: 1,
            security_profile,
            url: url.into(),
            interface: "Wired0".into(),
            message_timeout_s: 30,
        }
    }

    #[test]
    fn the_url_scheme_follows_the_security_profile() {
        assert!(network_profile(body(1, "ws://gw:8887/ocpp/")).is_ok());
        assert!(network_profile(body(3, "wss://gw:8887/ocpp/")).is_ok());
        for (profile, url) in [
            (1, "wss://gw/ocpp/"),
            (2, "ws://gw/ocpp/"),
            (1, "http://gw/"),
            (1, "ws://"),
            (1, "ws://:8887/"),
            (1, "ws://gw/a b"),
        ] {
            let e = network_profile(body(profile, url)).unwrap_err();
            assert!(e.message.starts_with("url:"), "{url}: {}", e.message);
        }
    }

    #[test]
    fn each_field_is_named_when_wrong() {
        let mut b = body(4, "wss://gw/");
        assert!(
            network_profile(b)
                .unwrap_err()
                .message
                .starts_with("security_profile")
        );
        b = body(1, "ws://gw/");
        b.slot = -1;
        assert!(network_profile(b).unwrap_err().message.starts_with("slot"));
        b = body(1, "ws://gw/");
        b.interface = "eth0".into();
        assert!(
            network_profile(b)
                .unwrap_err()
                .message
                .starts_with("interface")
        );
        b = body(1, "ws://gw/");
        b.message_timeout_s = 0;
        assert!(
            network_profile(b)
                .unwrap_err()
                .message
                .starts_with("message_timeout_s")
        );
    }
}
