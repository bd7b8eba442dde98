//! The upstream link as the operator sees it (`/api/v1/site` `upstream`, `/metrics`, the
//! status page). The upstream task (`src/upstream`) publishes it on a watch the daemon
//! hands over in `Sources::with_upstream`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::ocpp::time::format as ts;

/// Where the upstream link stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// `mqtt`.
    pub kind: &'static str,
    /// The broker, as configured (never with credentials).
    pub url: String,
    pub connected: bool,
    /// Since when it is connected, or disconnected.
    pub since: Option<DateTime<Utc>>,
    /// Why the last connection failed or ended.
    pub last_error: Option<String>,
    /// Messages in the outbox, not yet acknowledged by the broker.
    pub pending: u64,
    /// Of those, transaction events (never dropped).
    pub pending_transactions: u64,
    /// When the oldest waiting message was made.
    pub oldest_pending: Option<String>,
    /// Messages the broker acknowledged since start.
    pub delivered: u64,
    /// Commands taken from the broker since start, and how many were refused.
    pub commands: u64,
    pub commands_refused: u64,
    /// The Local Controller (`ocpp`): the chargers' links to the cloud, and how many are up.
    pub links: u64,
    pub links_connected: u64,
}

pub(super) fn upstream_json(s: &UpstreamStatus) -> Value {
    let mut out = json!({
        "kind": s.kind,
        "url": s.url,
        "connected": s.connected,
        "since": s.since.as_ref().map(ts),
        "last_error": s.last_error,
        "pending": s.pending,
        "pending_transactions": s.pending_transactions,
        "oldest_pending": s.oldest_pending,
        "delivered": s.delivered,
        "commands": s.commands,
        "commands_refused": s.commands_refused,
    });
    if s.kind == "ocpp" {
        out["links"] = json!(s.links);
        out["links_connected"] = json!(s.links_connected);
    }
    out
}
