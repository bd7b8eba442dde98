//! The RPC rules of one OCPP-J connection, as a pure state machine.
//!
//! OCPP-J allows at most one outstanding CALL per direction (1.6 §4.1.1, 2.0.1 Part 4
//! §4.1.1). Outgoing: `begin` refuses a second CALL while one waits for its answer, and
//! `expired` reports the one whose deadline passed. Incoming: a charger that did not get
//! our answer (a dropped frame) resends the same CALL; `incoming` then hands back the
//! cached answer instead of processing the CALL twice. A resend is the same action with the
//! same payload under the same message id: chargers do reuse ids (a counter that restarts
//! at boot, or one per connector), and a reused id with other content is a new CALL that is
//! processed and answered on its own (issue 17). Time is a parameter (`Instant`).

use serde_json::Value;
use tokio::time::Instant;

/// The state of one connection's RPC. `P` is what the caller keeps with an outgoing call
/// (e.g. the command and whom to answer).
#[derive(Debug)]
pub struct RpcSession<P> {
    next_id: u64,
    prefix: String,
    outstanding: Option<Outstanding<P>>,
    last_answer: Option<Answered>,
}

/// The incoming CALL answered last, and the text of its answer.
#[derive(Debug)]
struct Answered {
    id: String,
    action: String,
    /// The payload as compact JSON text, not its `Value`: a few hundred bytes instead of a
    /// tree of small allocations (8-13 KiB per connection at 500 chargers, BENCHMARKS.md
    /// "heaptrack") kept between every two CALLs for a resend that rarely comes.
    payload: String,
    text: String,
}

impl Answered {
    /// Whether a CALL is a resend of this one: the same JSON, key order and whitespace
    /// aside. Both sides are serialised from a `Value`, whose objects are sorted maps, so
    /// equal JSON gives equal text; the payload is serialised only when id and action match.
    fn is_resent_as(&self, id: &str, action: &str, payload: &Value) -> bool {
        // Not `*payload == self.payload`: `Value == String` is true only for a JSON string.
        self.id == id
            && self.action == action
            && serde_json::to_string(payload).is_ok_and(|text| text == self.payload)
    }
}

/// An outgoing CALL that waits for its CALLRESULT or CALLERROR.
#[derive(Debug)]
pub struct Outstanding<P> {
    pub id: String,
    pub deadline: Instant,
    pub pending: P,
}

/// What to do with an incoming CALL.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Process it.
    Fresh,
    /// A resend of the CALL answered last (same id, action and payload): send this text
    /// again, do not process.
    Repeat(String),
}

impl<P> RpcSession<P> {
    /// `prefix` makes our message ids unique across reconnects of the same charger
    /// (e.g. the connection's start time), so a late answer to an old CALL never matches.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            next_id: 1,
            prefix: prefix.into(),
            outstanding: None,
            last_answer: None,
        }
    }

    pub fn is_busy(&self) -> bool {
        self.outstanding.is_some()
    }

    /// Starts an outgoing CALL and returns its message id, or gives `pending` back when a
    /// CALL is already outstanding.
    pub fn begin(&mut self, pending: P, deadline: Instant) -> Result<String, P> {
        if self.outstanding.is_some() {
            return Err(pending);
        }
        let id = format!("{}-{}", self.prefix, self.next_id);
        self.next_id += 1;
        self.outstanding = Some(Outstanding {
            id: id.clone(),
            deadline,
            pending,
        });
        Ok(id)
    }

    /// Matches an answer (CALLRESULT or CALLERROR) to the outstanding CALL. `None`: not
    /// ours (late, duplicated or invented); the caller logs and drops it.
    pub fn answer(&mut self, id: &str) -> Option<P> {
        match &self.outstanding {
            Some(o) if o.id == id => self.outstanding.take().map(|o| o.pending),
            _ => None,
        }
    }

    /// The deadline of the outstanding CALL, for the connection's timer.
    pub fn deadline(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.deadline)
    }

    /// Takes the outstanding CALL if its deadline has passed at `now`.
    pub fn expired(&mut self, now: Instant) -> Option<Outstanding<P>> {
        if self.outstanding.as_ref().is_some_and(|o| o.deadline <= now) {
            self.outstanding.take()
        } else {
            None
        }
    }

    /// Takes the outstanding CALL (the connection is closing).
    pub fn abandon(&mut self) -> Option<Outstanding<P>> {
        self.outstanding.take()
    }

    /// Classifies an incoming CALL by its message id, action and payload.
    pub fn incoming(&self, id: &str, action: &str, payload: &Value) -> Incoming {
        match &self.last_answer {
            Some(last) if last.is_resent_as(id, action, payload) => {
                Incoming::Repeat(last.text.clone())
            }
            _ => Incoming::Fresh,
        }
    }

    /// Remembers the answer `text` sent to the incoming CALL `[2, id, action, payload]`.
    pub fn answered(&mut self, id: &str, action: &str, payload: Value, text: &str) {
        self.last_answer = Some(Answered {
            id: id.to_string(),
            action: action.to_string(),
            payload: payload.to_string(),
            text: text.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn one_outgoing_call_at_a_time() {
        let t0 = Instant::now();
        let mut s = RpcSession::new("c1");
        let id = s.begin("first", t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(id, "c1-1");
        assert_eq!(s.begin("second", t0), Err("second"));
        assert_eq!(s.answer("c1-9"), None, "an unknown id does not match");
        assert_eq!(s.answer(&id), Some("first"));
        assert_eq!(
            s.answer(&id),
            None,
            "a duplicated answer does not match twice"
        );
        assert_eq!(s.begin("second", t0).unwrap(), "c1-2");
    }

    #[test]
    fn a_call_expires_at_its_deadline() {
        let t0 = Instant::now();
        let mut s = RpcSession::new("c");
        s.begin("x", t0 + Duration::from_secs(5)).unwrap();
        assert!(s.expired(t0 + Duration::from_secs(4)).is_none());
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(5)));
        let gone = s.expired(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(gone.pending, "x");
        assert!(!s.is_busy());
    }

    #[test]
    fn a_resent_incoming_call_gets_the_cached_answer() {
        let mut s: RpcSession<()> = RpcSession::new("c");
        let payload = json!({"connectorId": 1, "meterStart": 0});
        assert_eq!(
            s.incoming("m1", "StartTransaction", &payload),
            Incoming::Fresh
        );
        s.answered("m1", "StartTransaction", payload, "[3,\"m1\",{}]");
        let resend = json!({"meterStart": 0, "connectorId": 1});
        assert_eq!(
            s.incoming("m1", "StartTransaction", &resend),
            Incoming::Repeat("[3,\"m1\",{}]".into()),
            "the same JSON, whatever its key order"
        );
        assert_eq!(
            s.incoming("m2", "StartTransaction", &resend),
            Incoming::Fresh
        );
    }

    /// A MeterValues payload with the given connector id and sampled value.
    fn meter_values(connector_id: Value, value: Value) -> Value {
        json!({
            "connectorId": connector_id,
            "meterValue": [{"sampledValue": [{"value": value}], "timestamp": "t"}]
        })
    }

    /// The cache keeps text: a resend spelled with other whitespace and key order is still
    /// the same CALL, and a value of another JSON type (`1` vs `1.0`, `"1"`) is not.
    #[test]
    fn a_resend_is_compared_as_json_not_as_spelling() {
        let mut s: RpcSession<()> = RpcSession::new("c");
        let sent = concat!(
            r#"{"connectorId":1,"#,
            r#""meterValue":[{"sampledValue":[{"value":"7.5"}],"timestamp":"t"}]}"#
        );
        let sent: Value = serde_json::from_str(sent).unwrap();
        assert_eq!(sent, meter_values(json!(1), json!("7.5")));
        s.answered("m7", "MeterValues", sent, "[3,\"m7\",{}]");
        let respelled = r#"{ "meterValue" : [ { "timestamp" : "t",
            "sampledValue" : [ { "value" : "7.5" } ] } ], "connectorId" : 1 }"#;
        let respelled: Value = serde_json::from_str(respelled).unwrap();
        assert_eq!(
            s.incoming("m7", "MeterValues", &respelled),
            Incoming::Repeat("[3,\"m7\",{}]".into())
        );
        for other in [
            meter_values(json!(1.0), json!("7.5")),
            meter_values(json!("1"), json!("7.5")),
            meter_values(json!(1), json!(7.5)),
        ] {
            assert_eq!(
                s.incoming("m7", "MeterValues", &other),
                Incoming::Fresh,
                "{other} is another payload"
            );
        }
    }

    /// Issue 17: a reused id with another action or payload is a new CALL.
    #[test]
    fn a_reused_id_with_other_content_is_a_new_call() {
        let mut s: RpcSession<()> = RpcSession::new("c");
        let start = json!({"connectorId": 1, "meterStart": 0});
        s.answered("m1", "StartTransaction", start.clone(), "[3,\"m1\",{}]");
        let meter_values = json!({"connectorId": 1, "transactionId": 1});
        assert_eq!(
            s.incoming("m1", "MeterValues", &meter_values),
            Incoming::Fresh
        );
        assert_eq!(s.incoming("m1", "MeterValues", &start), Incoming::Fresh);
        let other_start = json!({"connectorId": 2, "meterStart": 0});
        assert_eq!(
            s.incoming("m1", "StartTransaction", &other_start),
            Incoming::Fresh
        );
        // Only the last answer is kept: once the new CALL is answered, the old is forgotten.
        s.answered("m1", "StartTransaction", other_start.clone(), "second");
        assert_eq!(
            s.incoming("m1", "StartTransaction", &start),
            Incoming::Fresh
        );
        assert_eq!(
            s.incoming("m1", "StartTransaction", &other_start),
            Incoming::Repeat("second".into())
        );
    }
}
