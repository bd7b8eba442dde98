//! `/api/v1/chargers/<id>/configuration`: the charger's own settings, read and written
//! by the operator. 1.6 GetConfiguration / ChangeConfiguration name a key (§5.8, §5.3);
//! 2.0.1 GetVariables / SetVariables a `Component.Variable` (B06, B05). The key is checked
//! for the charger's version before anything is sent, and a write goes out one CALL per key.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Holder;
use super::commands::{body, reply_json, try_response};
use super::{ApiError, HttpState, error};
use crate::ocpp::model::{ChargerCommand, ConfigKey, OcppVersion};

/// Keys one configuration request may read or write (each write is one CALL).
const MAX_KEYS: usize = 32;
/// `Component.Variable` (2.0.1) or the 1.6 key name.
pub(super) fn key_text(key: &ConfigKey) -> String {
    match &key.component {
        Some(c) => format!("{c}.{}", key.variable),
        None => key.variable.clone(),
    }
}

/// A configuration key as the operator writes it, for the charger's version.
fn parse_key(text: &str, version: OcppVersion) -> Result<ConfigKey, ApiError> {
    let bad = |why: &str| {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("key {text:?}: {why}"),
        ))
    };
    if text.is_empty() || text.len() > 100 || !text.chars().all(|c| c.is_ascii_graphic()) {
        return bad("1 to 100 printable ASCII characters");
    }
    match version {
        OcppVersion::V16 => Ok(ConfigKey {
            component: None,
            variable: text.to_string(),
        }),
        OcppVersion::V201 => match text.split_once('.') {
            Some((component, variable)) if !component.is_empty() && !variable.is_empty() => {
                Ok(ConfigKey {
                    component: Some(component.to_string()),
                    variable: variable.to_string(),
                })
            }
            _ => bad(
                "a 2.0.1 charger names a variable as Component.Variable, e.g. \
                 OCPPCommCtrlr.HeartbeatInterval",
            ),
        },
    }
}

/// `GET .../configuration?key=K&key=K2`: GetConfiguration (1.6; no key: every key) or
/// GetVariables (2.0.1, `Component.Variable`).
pub async fn get(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    RawQuery(query): RawQuery,
) -> Response {
    let target = try_response!(state.target(&id));
    let mut keys = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name != "key" {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown parameter {name:?}; known parameters: key"),
            );
        }
        keys.push(try_response!(parse_key(&value, target.version)));
    }
    if keys.len() > MAX_KEYS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("key: at most {MAX_KEYS} keys at once"),
        );
    }
    if keys.is_empty() && target.version == OcppVersion::V201 {
        return error(
            StatusCode::BAD_REQUEST,
            "key: a 2.0.1 charger is asked per Component.Variable (every variable: \
             POST .../report)",
        );
    }
    state
        .command(
            &target,
            ChargerCommand::GetConfiguration { keys },
            holder.as_deref(),
        )
        .await
}

/// `PUT .../configuration` `{"K": "value", ...}`: ChangeConfiguration (1.6) or
/// SetVariables (2.0.1), one key per CALL in the order given; the answer has each key's
/// result. A key after a failed CALL is still tried: the keys are independent.
pub async fn set(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    holder: Option<axum::Extension<Holder>>,
    request: Result<Json<serde_json::Map<String, Value>>, JsonRejection>,
) -> Response {
    let request = try_response!(body(request));
    let target = try_response!(state.target(&id));
    if request.is_empty() || request.len() > MAX_KEYS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("body: an object of 1 to {MAX_KEYS} \"key\": \"value\" pairs"),
        );
    }
    let mut settings = Vec::new();
    for (name, value) in &request {
        let key = try_response!(parse_key(name, target.version));
        let Some(value) = value.as_str() else {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{name}: the value is a string, e.g. \"300\" (OCPP sends text)"),
            );
        };
        if value.len() > 1000 {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{name}: at most 1000 characters"),
            );
        }
        settings.push((name.clone(), key, value.to_string()));
    }
    let mut results = serde_json::Map::new();
    for (name, key, value) in settings {
        let answer = state
            .send(
                &target,
                ChargerCommand::SetConfiguration { key, value },
                holder.as_deref(),
            )
            .await;
        let result = match answer {
            Ok(reply) => reply_json(&reply),
            Err(e) => json!({"error": e.message, "http_status": e.status.as_u16()}),
        };
        results.insert(name, result);
    }
    Json(json!({ "results": results })).into_response()
}
