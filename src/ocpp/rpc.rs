//! OCPP-J RPC framing: the only place raw WebSocket text is touched (STYLE.md §2).
//!
//! A frame is a JSON array: `[2, id, action, payload]` (CALL), `[3, id, payload]`
//! (CALLRESULT), `[4, id, code, description, details]` (CALLERROR) — OCPP-J 1.6 §4,
//! OCPP 2.0.1 Part 4 §4. Parsing never panics on anything a peer sends; every failure
//! carries the CALLERROR code that answers it and, where it could be read, the message id.

use serde_json::Value;

use super::model::OcppVersion;

/// The longest message id a peer may use: 36 characters (2.0.1 Part 4 §4.1.1; 1.6 says
/// "maximum of 36 characters" too, OCPP-J 1.6 §4.1.1).
pub const MAX_MESSAGE_ID_LEN: usize = 36;

/// A message id a peer may use: 1 to `MAX_MESSAGE_ID_LEN` characters. The limit counts
/// characters (Unicode scalar values), not UTF-8 bytes: 36 `€` are 108 bytes and a good id.
pub fn valid_message_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_MESSAGE_ID_LEN
}

/// CALLERROR codes, version-blind. `wire` gives each version's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcErrorCode {
    /// 1.6 `FormationViolation`, 2.0.1 `FormatViolation`.
    FormatViolation,
    GenericError,
    InternalError,
    /// 2.0.1 only; 1.6 has no such code and gets `NotSupported`.
    MessageTypeNotSupported,
    NotImplemented,
    NotSupported,
    /// 1.6 `OccurenceConstraintViolation` (sic, OCPP-J 1.6 §4.2.3), 2.0.1 spelled right.
    OccurrenceConstraintViolation,
    PropertyConstraintViolation,
    ProtocolError,
    /// 2.0.1 only; 1.6 gets `ProtocolError`.
    RpcFrameworkError,
    SecurityError,
    TypeConstraintViolation,
}

impl RpcErrorCode {
    pub fn wire(self, version: OcppVersion) -> &'static str {
        use OcppVersion::*;
        use RpcErrorCode::*;
        match (self, version) {
            (FormatViolation, V16) => "FormationViolation",
            (FormatViolation, V201) => "FormatViolation",
            (GenericError, _) => "GenericError",
            (InternalError, _) => "InternalError",
            (MessageTypeNotSupported, V16) => "NotSupported",
            (MessageTypeNotSupported, V201) => "MessageTypeNotSupported",
            (NotImplemented, _) => "NotImplemented",
            (NotSupported, _) => "NotSupported",
            (OccurrenceConstraintViolation, V16) => "OccurenceConstraintViolation",
            (OccurrenceConstraintViolation, V201) => "OccurrenceConstraintViolation",
            (PropertyConstraintViolation, _) => "PropertyConstraintViolation",
            (ProtocolError, _) => "ProtocolError",
            (RpcFrameworkError, V16) => "ProtocolError",
            (RpcFrameworkError, V201) => "RpcFrameworkError",
            (SecurityError, _) => "SecurityError",
            (TypeConstraintViolation, _) => "TypeConstraintViolation",
        }
    }

    /// Reads a peer's code, accepting either version's spelling.
    pub fn from_wire(code: &str) -> Option<Self> {
        use RpcErrorCode::*;
        Some(match code {
            "FormationViolation" | "FormatViolation" => FormatViolation,
            "GenericError" => GenericError,
            "InternalError" => InternalError,
            "MessageTypeNotSupported" => MessageTypeNotSupported,
            "NotImplemented" => NotImplemented,
            "NotSupported" => NotSupported,
            "OccurenceConstraintViolation" | "OccurrenceConstraintViolation" => {
                OccurrenceConstraintViolation
            }
            "PropertyConstraintViolation" => PropertyConstraintViolation,
            "ProtocolError" => ProtocolError,
            "RpcFrameworkError" => RpcFrameworkError,
            "SecurityError" => SecurityError,
            "TypeConstraintViolation" => TypeConstraintViolation,
            _ => return None,
        })
    }
}

/// A payload that does not fit its message type, with the code that answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct PayloadError {
    pub code: RpcErrorCode,
    pub message: String,
}

impl PayloadError {
    pub fn new(code: RpcErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Classifies a serde error the way OCPP-J 1.6 §4.2.3 describes the codes: a missing
    /// required field is an occurrence violation, a wrong JSON type a type violation, a
    /// value out of its enum, range or length a property violation.
    pub fn from_serde(err: &serde_json::Error) -> Self {
        let message = err.to_string();
        let code = if message.starts_with("missing field") {
            RpcErrorCode::OccurrenceConstraintViolation
        } else if message.starts_with("invalid type") {
            RpcErrorCode::TypeConstraintViolation
        } else if message.starts_with("unknown variant")
            || message.starts_with("invalid value")
            || message.starts_with("invalid length")
            || message.starts_with("string longer than")
        {
            RpcErrorCode::PropertyConstraintViolation
        } else {
            RpcErrorCode::FormatViolation
        };
        Self { code, message }
    }
}

/// One OCPP-J frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    CallResult {
        id: String,
        payload: Value,
    },
    CallError {
        id: String,
        code: String,
        description: String,
        details: Value,
    },
}

/// A frame that could not be parsed. `id` is set when the message id could be read, so
/// the peer can be answered with a CALLERROR for it; without an id the frame cannot be
/// answered and is only logged (OCPP 2.0.1 Part 4 §4.2.3 answers it with id "-1").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct FrameError {
    pub id: Option<String>,
    /// True when the broken frame was a CALL, i.e. a CALLERROR may answer it. A broken
    /// CALLRESULT or CALLERROR is never answered (OCPP-J 1.6 §4.2.3).
    pub answerable: bool,
    pub error: PayloadError,
}

impl FrameError {
    fn new(
        id: Option<String>,
        answerable: bool,
        code: RpcErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            id,
            answerable,
            error: PayloadError::new(code, message),
        }
    }
}

/// Parses one WebSocket text message into a frame.
pub fn parse(text: &str) -> Result<Frame, FrameError> {
    let (type_id, id, mut items) = read_envelope(text)?;
    // Take the elements out by position; `read_envelope` checked the lengths.
    let rest = items.drain(2..);
    match type_id {
        2 => read_call(id, rest),
        3 => read_call_result(id, rest),
        _ => read_call_error(id, rest),
    }
}

/// Reads what every frame shares: a JSON array of the right length for its message type
/// (2, 3 or 4) with a readable message id. Returns the type, the id and the elements.
fn read_envelope(text: &str) -> Result<(u64, String, Vec<Value>), FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        FrameError::new(
            None,
            true,
            RpcErrorCode::FormatViolation,
            format!("not JSON: {e}"),
        )
    })?;
    let Value::Array(items) = value else {
        return Err(FrameError::new(
            None,
            true,
            RpcErrorCode::FormatViolation,
            "an OCPP-J message is a JSON array",
        ));
    };
    let id = match items.get(1) {
        Some(Value::String(id)) if valid_message_id(id) => Some(id.clone()),
        _ => None,
    };
    let Some(type_id) = items.first().and_then(Value::as_u64) else {
        return Err(FrameError::new(
            id,
            true,
            RpcErrorCode::FormatViolation,
            "the first element must be the message type 2, 3 or 4",
        ));
    };
    let answerable = type_id == 2;
    let Some(id) = id else {
        return Err(FrameError::new(
            None,
            answerable,
            RpcErrorCode::FormatViolation,
            format!(
                "the second element must be a message id of 1 to {MAX_MESSAGE_ID_LEN} characters"
            ),
        ));
    };
    let expected_len = match type_id {
        2 => 4,
        3 => 3,
        4 => 5,
        other => {
            return Err(FrameError::new(
                Some(id),
                true,
                RpcErrorCode::MessageTypeNotSupported,
                format!("message type {other} is not 2, 3 or 4"),
            ));
        }
    };
    if items.len() != expected_len {
        return Err(FrameError::new(
            Some(id),
            answerable,
            RpcErrorCode::FormatViolation,
            format!(
                "message type {type_id} has {expected_len} elements, this one {}",
                items.len()
            ),
        ));
    }
    Ok((type_id, id, items))
}

/// The action and payload of a CALL, `[2, id, action, payload]`.
fn read_call(id: String, mut rest: impl Iterator<Item = Value>) -> Result<Frame, FrameError> {
    let action = rest.next().unwrap_or(Value::Null);
    let payload = rest.next().unwrap_or(Value::Null);
    let Value::String(action) = action else {
        return Err(FrameError::new(
            Some(id),
            true,
            RpcErrorCode::FormatViolation,
            "the action must be a string",
        ));
    };
    if !payload.is_object() {
        return Err(FrameError::new(
            Some(id),
            true,
            RpcErrorCode::FormatViolation,
            "the payload must be a JSON object",
        ));
    }
    Ok(Frame::Call {
        id,
        action,
        payload,
    })
}

/// The payload of a CALLRESULT, `[3, id, payload]`.
fn read_call_result(
    id: String,
    mut rest: impl Iterator<Item = Value>,
) -> Result<Frame, FrameError> {
    let payload = rest.next().unwrap_or(Value::Null);
    if !payload.is_object() {
        return Err(FrameError::new(
            Some(id),
            false,
            RpcErrorCode::FormatViolation,
            "the payload must be a JSON object",
        ));
    }
    Ok(Frame::CallResult { id, payload })
}

/// The code, description and details of a CALLERROR, `[4, id, code, description, details]`.
fn read_call_error(id: String, mut rest: impl Iterator<Item = Value>) -> Result<Frame, FrameError> {
    let code = rest.next().unwrap_or(Value::Null);
    let description = rest.next().unwrap_or(Value::Null);
    let details = rest.next().unwrap_or(Value::Null);
    match (code, description) {
        (Value::String(code), Value::String(description)) => Ok(Frame::CallError {
            id,
            code,
            description,
            details,
        }),
        _ => Err(FrameError::new(
            Some(id),
            false,
            RpcErrorCode::FormatViolation,
            "a CALLERROR has a string code and a string description",
        )),
    }
}

/// The message id a CALLERROR for an unparseable frame goes out with: the frame's own id
/// when it could be read; otherwise "-1" in 2.0.1 (Part 4 §4.2.3), and none in 1.6, which
/// has no such rule (the frame is then only logged).
pub fn error_reply_id(version: OcppVersion, parsed_id: Option<&str>) -> Option<String> {
    match (parsed_id, version) {
        (Some(id), _) => Some(id.to_string()),
        (None, OcppVersion::V201) => Some("-1".to_string()),
        (None, OcppVersion::V16) => None,
    }
}

/// The code of the CALLERROR for an unparseable frame: RpcFrameworkError when its message
/// id could not be read ("Content of the call is not a valid RPC Request, for example:
/// MessageId could not be read", OCPP 2.0.1 Part 4, the error code table; ProtocolError in
/// 1.6, which never answers such a frame), otherwise what was wrong with the frame.
pub fn error_reply_code(error: &FrameError) -> RpcErrorCode {
    if error.id.is_none() {
        RpcErrorCode::RpcFrameworkError
    } else {
        error.error.code
    }
}

/// Writes a CALL.
pub fn call(id: &str, action: &str, payload: &Value) -> String {
    Value::Array(vec![2.into(), id.into(), action.into(), payload.clone()]).to_string()
}

/// Writes a CALLRESULT.
pub fn call_result(id: &str, payload: &Value) -> String {
    Value::Array(vec![3.into(), id.into(), payload.clone()]).to_string()
}

/// Writes a CALLERROR. The description is cut to 255 characters, the limit 2.0.1 sets
/// (Part 4 §4.2.3) and a sensible one for 1.6.
pub fn call_error(version: OcppVersion, id: &str, code: RpcErrorCode, description: &str) -> String {
    let description: String = description.chars().take(255).collect();
    Value::Array(vec![
        4.into(),
        id.into(),
        code.wire(version).into(),
        description.into(),
        Value::Object(Default::default()),
    ])
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of(text: &str) -> (Option<String>, RpcErrorCode) {
        let err = parse(text).unwrap_err();
        (err.id, err.error.code)
    }

    #[test]
    fn parses_the_three_frame_types() {
        assert_eq!(
            parse(r#"[2,"a1","Heartbeat",{}]"#).unwrap(),
            Frame::Call {
                id: "a1".into(),
                action: "Heartbeat".into(),
                payload: json!({})
            }
        );
        assert_eq!(
            parse(r#"[3,"a1",{"currentTime":"x"}]"#).unwrap(),
            Frame::CallResult {
                id: "a1".into(),
                payload: json!({"currentTime":"x"})
            }
        );
        assert_eq!(
            parse(r#"[4,"a1","NotImplemented","no",{}]"#).unwrap(),
            Frame::CallError {
                id: "a1".into(),
                code: "NotImplemented".into(),
                description: "no".into(),
                details: json!({})
            }
        );
    }

    #[test]
    fn malformed_frames_get_the_right_code_and_keep_the_id_when_readable() {
        assert_eq!(code_of("{nope"), (None, RpcErrorCode::FormatViolation));
        assert_eq!(code_of(r#"{"a":1}"#), (None, RpcErrorCode::FormatViolation));
        assert_eq!(
            code_of(r#"[2,"x","Heartbeat"]"#),
            (Some("x".into()), RpcErrorCode::FormatViolation)
        );
        assert_eq!(
            code_of(r#"[2,"x",5,{}]"#),
            (Some("x".into()), RpcErrorCode::FormatViolation)
        );
        assert_eq!(
            code_of(r#"[2,"x","Heartbeat",[]]"#),
            (Some("x".into()), RpcErrorCode::FormatViolation)
        );
        assert_eq!(
            code_of(r#"[7,"x",{}]"#),
            (Some("x".into()), RpcErrorCode::MessageTypeNotSupported)
        );
        assert_eq!(
            code_of(r#"[2,7,"Heartbeat",{}]"#),
            (None, RpcErrorCode::FormatViolation)
        );
        let long_id = "i".repeat(37);
        assert_eq!(
            code_of(&format!(r#"[2,"{long_id}","Heartbeat",{{}}]"#)).0,
            None
        );
        assert!(!parse(r#"[3,"x",5]"#).unwrap_err().answerable);
    }

    #[test]
    fn the_message_id_limit_counts_characters_not_bytes() {
        // 36 characters of 2, 3 and 4 bytes each: 72, 108 and 144 bytes.
        for c in ['é', '€', '🔌'] {
            let id: String = std::iter::repeat_n(c, MAX_MESSAGE_ID_LEN).collect();
            let frame = parse(&format!(r#"[2,"{id}","Heartbeat",{{}}]"#));
            assert!(
                matches!(&frame, Ok(Frame::Call { id: got, .. }) if *got == id),
                "{c}: {frame:?}"
            );
            let long = format!("{id}{c}");
            let err = parse(&format!(r#"[2,"{long}","Heartbeat",{{}}]"#)).unwrap_err();
            assert_eq!(err.id, None, "{c}: 37 characters are too many");
            assert!(err.answerable);
            assert_eq!(err.error.code, RpcErrorCode::FormatViolation);
        }
    }

    #[test]
    fn an_unreadable_message_id_is_answered_as_minus_one_in_201_only() {
        assert_eq!(
            error_reply_id(OcppVersion::V16, Some("m7")).as_deref(),
            Some("m7")
        );
        assert_eq!(
            error_reply_id(OcppVersion::V201, Some("m7")).as_deref(),
            Some("m7")
        );
        assert_eq!(
            error_reply_id(OcppVersion::V201, None).as_deref(),
            Some("-1")
        );
        assert_eq!(error_reply_id(OcppVersion::V16, None), None);
    }

    #[test]
    fn error_codes_are_spelled_per_version() {
        let v16 = call_error(OcppVersion::V16, "1", RpcErrorCode::FormatViolation, "bad");
        assert_eq!(v16, r#"[4,"1","FormationViolation","bad",{}]"#);
        let v201 = call_error(
            OcppVersion::V201,
            "1",
            RpcErrorCode::OccurrenceConstraintViolation,
            "x",
        );
        assert_eq!(v201, r#"[4,"1","OccurrenceConstraintViolation","x",{}]"#);
        assert_eq!(
            RpcErrorCode::OccurrenceConstraintViolation.wire(OcppVersion::V16),
            "OccurenceConstraintViolation"
        );
        assert_eq!(
            RpcErrorCode::from_wire("FormationViolation"),
            Some(RpcErrorCode::FormatViolation)
        );
        assert_eq!(RpcErrorCode::from_wire("Nonsense"), None);
    }

    #[test]
    fn serde_errors_are_classified() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let code =
            |v: Value| PayloadError::from_serde(&serde_json::from_value::<T>(v).unwrap_err()).code;
        assert_eq!(code(json!({})), RpcErrorCode::OccurrenceConstraintViolation);
        assert_eq!(
            code(json!({"a": "x"})),
            RpcErrorCode::TypeConstraintViolation
        );
    }
}
