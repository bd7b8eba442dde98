//! The RPC rules of one OCPP-J connection, as a pure state machine.
//!
//! OCPP-J allows at most one outstanding CALL per direction (1.6 §4.1.1, 2.0.1 Part 4
//! §4.1.1). Outgoing: `begin` refuses a second CALL while one waits for its answer, and
//! `expired` reports the one whose deadline passed. Incoming: a charger that did not get
//! our answer (a dropped frame) resends the same message id; `incoming` then hands back the
//! cached answer instead of processing the CALL twice. Time is a parameter (`Instant`).

use tokio::time::Instant;

/// The state of one connection's RPC. `P` is what the caller keeps with an outgoing call
/// (e.g. the command and whom to answer).
#[derive(Debug)]
pub struct RpcSession<P> {
    next_id: u64,
    prefix: String,
    outstanding: Option<Outstanding<P>>,
    last_answer: Option<(String, String)>,
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
    /// A resend of the CALL answered last: send this text again, do not process.
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

    /// Classifies an incoming CALL by its message id.
    pub fn incoming(&self, id: &str) -> Incoming {
        match &self.last_answer {
            Some((last, text)) if last == id => Incoming::Repeat(text.clone()),
            _ => Incoming::Fresh,
        }
    }

    /// Remembers the answer sent to an incoming CALL.
    pub fn answered(&mut self, id: &str, text: &str) {
        self.last_answer = Some((id.to_string(), text.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(s.incoming("m1"), Incoming::Fresh);
        s.answered("m1", "[3,\"m1\",{}]");
        assert_eq!(s.incoming("m1"), Incoming::Repeat("[3,\"m1\",{}]".into()));
        assert_eq!(s.incoming("m2"), Incoming::Fresh);
    }
}
