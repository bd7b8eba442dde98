//! The Local Controller as the operator sees it (`/api/v1/site` `local_controller`, in the
//! shape of the MQTT upstream's `upstream`): chargegate's own link, the chargers' links,
//! the messages waiting for the cloud and what was delivered and asked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::Uplink;
use crate::http::UpstreamStatus;
use crate::store;

/// How often the state is read again (one cheap store query).
const EVERY: Duration = Duration::from_secs(1);

/// What the links count as they go.
#[derive(Debug, Default)]
pub struct Counters {
    /// chargegate's own link is up.
    pub own_online: AtomicBool,
    /// Kept messages the cloud answered since start.
    pub delivered: AtomicU64,
    /// The cloud's CALLs, and how many were refused.
    pub commands: AtomicU64,
    pub commands_refused: AtomicU64,
    /// The last failure of any link, with its identity.
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn failed(&self, identity: &str, why: &str) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(format!("{identity}: {why}"));
    }

    pub fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Publishes the state every second until the receivers are gone.
pub(super) async fn publish(uplink: Uplink, status: watch::Sender<UpstreamStatus>) {
    let mut interval = tokio::time::interval(EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = uplink.shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = interval.tick() => {}
        }
        let stats = uplink
            .shared
            .store
            .call(|c| store::journal_stats(c))
            .await
            .unwrap_or_default();
        let counters = &uplink.shared.counters;
        let (links, links_connected) = uplink.link_counts();
        let connected = counters.own_online.load(Ordering::Acquire);
        let now = uplink.shared.clock.now();
        let last_error = counters
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        status.send_if_modified(|s| {
            let before = s.clone();
            if s.connected != connected || s.since.is_none() {
                s.since = Some(now);
            }
            s.connected = connected;
            s.last_error.clone_from(&last_error);
            s.pending = stats.0;
            s.pending_transactions = stats.0;
            s.oldest_pending.clone_from(&stats.1);
            s.delivered = counters.delivered.load(Ordering::Relaxed);
            s.commands = counters.commands.load(Ordering::Relaxed);
            s.commands_refused = counters.commands_refused.load(Ordering::Relaxed);
            s.links = links;
            s.links_connected = links_connected;
            *s != before
        });
        if status.is_closed() {
            return;
        }
    }
}
