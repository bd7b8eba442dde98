//! Commands from the cloud (`<prefix>/cmd/<name>`, DESIGN.md "MQTT"), answered on
//! `<prefix>/cmd-result/<request_id>`.
//!
//! A command is the HTTP API request it stands for (`ApiCall`): the same handlers check its
//! fields, store what they store, send what they send and write the audit entry
//! (`http::Internal`), so MQTT and HTTP cannot drift apart. This file only reads the
//! envelope (`request_id`, `expires_at`), names the charger or card in the path, and turns
//! the API's answer into the result. Pure: it takes `now`.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The most a command payload may hold (MQTT allows 256 MiB; a command is a few fields).
pub const MAX_COMMAND_BYTES: usize = 16 * 1024;
/// `request_id`: it becomes a topic level, so no `/`, `+`, `#` (MQTT 3.1.1 §4.7).
const MAX_REQUEST_ID: usize = 64;
/// The result topic of a command whose `request_id` cannot be used.
pub const INVALID_REQUEST_TOPIC: &str = "invalid";

/// The commands, by the `<name>` of `cmd/<name>`.
pub const COMMANDS: &[&str] = &[
    "set-site-limit",
    "set-vehicle-need",
    "remote-start",
    "remote-stop",
    "set-availability",
    "reset",
    "id-token",
];

/// The API request a command stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

/// Where a `set-vehicle-need` that names a card must look first.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Call(ApiCall),
    /// `set-vehicle-need` by `id_token`: the charger where that card charges now, then
    /// `PUT /api/v1/chargers/<charger>/need` with `body`.
    NeedByToken {
        id_token: String,
        body: Value,
    },
}

/// A command refused before it reached the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub error: String,
}

fn refuse(status: StatusCode, error: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error: error.into(),
    }
}

fn bad(error: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, error)
}

/// A command as read from the broker: its name, its `request_id` if usable, and either
/// what to do or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub request_id: Option<String>,
    pub parsed: Result<Parsed, Refusal>,
}

impl Command {
    /// The result topic under the prefix: `cmd-result/<request_id>`.
    pub fn result_topic(&self) -> String {
        format!(
            "cmd-result/{}",
            self.request_id.as_deref().unwrap_or(INVALID_REQUEST_TOPIC)
        )
    }
}

/// Reads `payload` sent to `cmd/<name>` at `now`.
pub fn read(name: &str, payload: &[u8], now: DateTime<Utc>) -> Command {
    let name = name.chars().take(64).collect::<String>();
    let object = match parse_object(payload) {
        Ok(object) => object,
        Err(refusal) => {
            return Command {
                name,
                request_id: None,
                parsed: Err(refusal),
            };
        }
    };
    let request_id = match object.get("request_id") {
        Some(Value::String(id)) if is_request_id(id) => Some(id.clone()),
        _ => {
            return Command {
                name,
                request_id: None,
                parsed: Err(bad(format!(
                    "request_id: required, 1 to {MAX_REQUEST_ID} of A-Z a-z 0-9 . _ : -"
                ))),
            };
        }
    };
    let parsed = envelope(object, now).and_then(|fields| parse(&name, fields));
    Command {
        name,
        request_id,
        parsed,
    }
}

fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, Refusal> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a command holds at most {MAX_COMMAND_BYTES} bytes"),
        ));
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad("a command is a JSON object")),
        Err(e) => Err(bad(format!("not JSON: {e}"))),
    }
}

fn is_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Takes off `request_id` and `expires_at`; a command past its `expires_at` is refused.
fn envelope(
    mut object: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, Refusal> {
    object.remove("request_id");
    match object.remove("expires_at") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            let expires = DateTime::parse_from_rfc3339(&text)
                .map_err(|_| bad("expires_at: an RFC 3339 time, e.g. 2026-12-01T18:00:00Z"))?;
            if expires.with_timezone(&Utc) <= now {
                return Err(refuse(
                    StatusCode::GONE,
                    format!("expired at {text}: not carried out"),
                ));
            }
        }
        Some(_) => return Err(bad("expires_at: an RFC 3339 time as a string")),
    }
    Ok(object)
}

/// The API call for command `name` with its remaining `fields`.
fn parse(name: &str, mut fields: Map<String, Value>) -> Result<Parsed, Refusal> {
    let call = |method: Method, path: String, fields: Map<String, Value>| {
        Ok(Parsed::Call(ApiCall {
            method,
            path,
            body: Some(Value::Object(fields)),
        }))
    };
    match name {
        "set-site-limit" => match fields.get("limit_a") {
            Some(Value::Null) if fields.len() == 1 => Ok(Parsed::Call(ApiCall {
                method: Method::DELETE,
                path: "/api/v1/site/limit".into(),
                body: None,
            })),
            Some(Value::Null) => Err(bad(
                "limit_a null removes the limit and takes no other field",
            )),
            _ => call(Method::PUT, "/api/v1/site/limit".into(), fields),
        },
        "set-vehicle-need" => match (
            take_text(&mut fields, "charger")?,
            take_text(&mut fields, "id_token")?,
        ) {
            (Some(charger), None) => call(Method::PUT, charger_path(&charger, "need"), fields),
            (None, Some(id_token)) => Ok(Parsed::NeedByToken {
                id_token,
                body: Value::Object(fields),
            }),
            _ => Err(bad("set-vehicle-need names either charger or id_token")),
        },
        "remote-start" => {
            charger_call(&mut fields, "remote-start").and_then(|p| call(Method::POST, p, fields))
        }
        "remote-stop" => {
            charger_call(&mut fields, "remote-stop").and_then(|p| call(Method::POST, p, fields))
        }
        "set-availability" => {
            charger_call(&mut fields, "availability").and_then(|p| call(Method::POST, p, fields))
        }
        "reset" => charger_call(&mut fields, "reset").and_then(|p| call(Method::POST, p, fields)),
        "id-token" => {
            let id =
                take_text(&mut fields, "id")?.ok_or_else(|| bad("id: required, the card's id"))?;
            call(
                Method::PUT,
                format!("/api/v1/id-tokens/{}", crate::units::path_segment(&id)),
                fields,
            )
        }
        other => Err(refuse(
            StatusCode::NOT_FOUND,
            format!("unknown command {other:?}; known: {}", COMMANDS.join(", ")),
        )),
    }
}

/// `/api/v1/chargers/<charger>/<action>` with the `charger` field taken off.
fn charger_call(fields: &mut Map<String, Value>, action: &str) -> Result<String, Refusal> {
    let charger =
        take_text(fields, "charger")?.ok_or_else(|| bad("charger: required, the charger's id"))?;
    Ok(charger_path(&charger, action))
}

pub fn charger_path(charger: &str, action: &str) -> String {
    format!(
        "/api/v1/chargers/{}/{action}",
        crate::units::path_segment(charger)
    )
}

fn take_text(fields: &mut Map<String, Value>, key: &str) -> Result<Option<String>, Refusal> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(bad(format!("{key}: a non-empty string"))),
    }
}

/// The result message: ok with the API's answer, or the error with its HTTP status.
pub fn result(command: &Command, outcome: Result<Value, Refusal>) -> Value {
    let mut out = json!({
        "request_id": command.request_id,
        "command": command.name,
    });
    match outcome {
        Ok(answer) => {
            out["ok"] = Value::Bool(true);
            out["result"] = answer;
        }
        Err(refusal) => {
            out["ok"] = Value::Bool(false);
            out["error"] = Value::String(refusal.error);
            out["status"] = Value::from(refusal.status.as_u16());
        }
    }
    out
}

/// The API's answer as an outcome: a 2xx is ok, anything else its `error` text.
pub fn answer(status: StatusCode, body: Value) -> Result<Value, Refusal> {
    if status.is_success() {
        return Ok(body);
    }
    let error = body["error"]
        .as_str()
        .map_or_else(|| format!("refused with HTTP {status}"), str::to_string);
    Err(refuse(status, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn call(name: &str, payload: Value) -> ApiCall {
        match read(name, payload.to_string().as_bytes(), now()).parsed {
            Ok(Parsed::Call(call)) => call,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn each_command_becomes_its_api_request_with_the_charger_in_the_path() {
        let c = call(
            "remote-start",
            json!({"request_id": "r1", "charger": "CP-1", "evse": 1, "id_token": "CARD"}),
        );
        assert_eq!(c.method, Method::POST);
        assert_eq!(c.path, "/api/v1/chargers/CP-1/remote-start");
        assert_eq!(c.body, Some(json!({"evse": 1, "id_token": "CARD"})));
        let c = call(
            "set-availability",
            json!({"request_id": "r", "charger": "A", "operative": false}),
        );
        assert_eq!(c.path, "/api/v1/chargers/A/availability");
        let c = call(
            "id-token",
            json!({"request_id": "r", "id": "04A1", "status": "blocked"}),
        );
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::PUT, "/api/v1/id-tokens/04A1")
        );
        assert_eq!(c.body, Some(json!({"status": "blocked"})));
        let c = call(
            "set-site-limit",
            json!({"request_id": "r", "limit_a": 30, "until": "x"}),
        );
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::PUT, "/api/v1/site/limit")
        );
        let c = call(
            "set-site-limit",
            json!({"request_id": "r", "limit_a": null}),
        );
        assert_eq!((c.method, c.body), (Method::DELETE, None));
    }

    #[test]
    fn a_hostile_charger_name_cannot_reach_another_route() {
        let c = call(
            "reset",
            json!({"request_id": "r", "charger": "../../site/limit?x=1", "kind": "soft"}),
        );
        assert_eq!(
            c.path,
            "/api/v1/chargers/..%2F..%2Fsite%2Flimit%3Fx%3D1/reset"
        );
    }

    #[test]
    fn a_need_by_card_looks_the_charger_up_first() {
        let parsed = read(
            "set-vehicle-need",
            json!({"request_id": "r", "id_token": "CARD", "energy_wh": 1000, "departure": "d"})
                .to_string()
                .as_bytes(),
            now(),
        )
        .parsed;
        assert_eq!(
            parsed,
            Ok(Parsed::NeedByToken {
                id_token: "CARD".into(),
                body: json!({"energy_wh": 1000, "departure": "d"})
            })
        );
    }

    #[test]
    fn bad_commands_are_refused_with_a_reason() {
        let refused = |name: &str, payload: &[u8]| {
            let c = read(name, payload, now());
            (
                c.request_id.clone(),
                c.result_topic(),
                c.parsed.unwrap_err(),
            )
        };
        let (id, topic, r) = refused("reset", b"{not json");
        assert_eq!((id, topic.as_str()), (None, "cmd-result/invalid"));
        assert!(r.error.starts_with("not JSON"), "{r:?}");
        let (_, topic, r) = refused("reset", br#"{"request_id": "a/b"}"#);
        assert_eq!(topic, "cmd-result/invalid");
        assert!(r.error.contains("request_id"));
        let (_, topic, r) = refused("launch", br#"{"request_id": "r9"}"#);
        assert_eq!(
            (topic.as_str(), r.status),
            ("cmd-result/r9", StatusCode::NOT_FOUND)
        );
        let (_, _, r) = refused(
            "reset",
            br#"{"request_id": "r", "charger": "A", "kind": "soft", "expires_at": "2026-12-01T11:59:59Z"}"#,
        );
        assert_eq!(r.status, StatusCode::GONE);
        let (_, _, r) = refused(
            "set-vehicle-need",
            br#"{"request_id": "r", "energy_wh": 1}"#,
        );
        assert!(r.error.contains("either charger or id_token"));
        let (_, _, r) = refused("remote-stop", br#"{"request_id": "r", "charger": 5}"#);
        assert!(r.error.starts_with("charger:"));
        let big = format!(
            r#"{{"request_id": "r", "pad": "{}"}}"#,
            "x".repeat(MAX_COMMAND_BYTES)
        );
        let (_, _, r) = refused("reset", big.as_bytes());
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn a_command_not_yet_expired_goes_ahead() {
        let c = call(
            "reset",
            json!({"request_id": "r", "charger": "A", "kind": "hard", "expires_at": "2026-12-01T12:00:05Z"}),
        );
        assert_eq!(c.body, Some(json!({"kind": "hard"})));
    }

    #[test]
    fn results_carry_the_api_answer_or_its_error() {
        let c = read("reset", br#"{"request_id": "r1", "charger": "A"}"#, now());
        let ok = result(&c, answer(StatusCode::OK, json!({"status": "Accepted"})));
        assert_eq!(
            ok,
            json!({"request_id": "r1", "command": "reset", "ok": true, "result": {"status": "Accepted"}})
        );
        let refused = result(
            &c,
            answer(
                StatusCode::CONFLICT,
                json!({"error": "charger A is offline"}),
            ),
        );
        assert_eq!(
            refused,
            json!({"request_id": "r1", "command": "reset", "ok": false, "error": "charger A is offline", "status": 409})
        );
    }
}
