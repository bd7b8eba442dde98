//! chargegate as an OCPP Local Controller (issue 13; OCPP 2.0.1 Part 1 §8.3, Part 4 §6, in
//! the 2.1 Edition 2 wording of §6.3: the LC answers the stations itself and forwards
//! their transaction messages once the connection is back).
//!
//! Every charger of the site that is connected (or has messages kept for the cloud) gets
//! one WebSocket to `<url>/<charger-id>` in its own version, and chargegate one under its
//! own identity (`link`). The chargers are always answered by the local CSMS:
//! - transaction messages are kept in the store in the commit that answers them
//!   (`store::uplink`, `Csms::handle_relayed`) and sent per charger in order, each until
//!   the cloud answered it, with the cloud's 1.6 transaction ids (`messages`);
//! - Authorize goes to the cloud while the link is up, and its answer is the charger's
//!   (and is kept, for when the cloud is gone); every other message is forwarded while
//!   the link is up;
//! - the cloud's CALLs reach the charger under chargegate's message ids, except what would
//!   take the site's authority away: charging profiles become a site limit (own identity)
//!   or are refused (a charger's), and the cloud's cards go into chargegate's own list.

mod alerts;
mod cloud_calls;
mod connect;
mod link;
pub mod messages;
pub mod settings;
mod status;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::charger::Chargers;
use crate::clock::Clock;
use crate::control::Orders;
use crate::csms::{Admission, Csms};
use crate::ocpp::model::OcppVersion;
use crate::store::{self, JournalEntry, Store};
use crate::units::ChargerId;

/// How long a charger's Authorize waits for the cloud before the local list decides.
pub const AUTHORIZE_WAIT: Duration = Duration::from_secs(5);
/// Forwarded messages waiting for a link at most; more are dropped (they are not kept).
const LIVE_QUEUE: usize = 64;

/// What the Local Controller needs to know (from `[upstream.ocpp]` and `[[charger]]`).
#[derive(Clone)]
pub struct LcSettings {
    /// ws:// or wss://, without a trailing '/'.
    pub url: String,
    pub identity: String,
    /// The version of chargegate's own connection.
    pub version: OcppVersion,
    pub password: Option<String>,
    /// For wss://: the client configuration (CA, client certificate).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How long the cloud may take to answer.
    pub call_timeout: Duration,
    /// The site's chargers and the Basic-auth password the cloud expects for each.
    pub chargers: HashMap<ChargerId, Option<String>>,
}

impl std::fmt::Debug for LcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password.
        f.debug_struct("LcSettings")
            .field("url", &self.url)
            .field("identity", &self.identity)
            .field("version", &self.version)
            .field("chargers", &self.chargers.len())
            .finish_non_exhaustive()
    }
}

/// A charger message forwarded while the link is up; `answer` gets the cloud's answer.
#[derive(Debug)]
pub(crate) struct LiveCall {
    pub action: String,
    pub payload: Value,
    pub answer: Option<oneshot::Sender<Value>>,
}

/// The manager's side of one link.
#[derive(Debug)]
struct LinkControl {
    online: Arc<AtomicBool>,
    live: mpsc::Sender<LiveCall>,
    /// A message was kept for this charger.
    wake: Arc<Notify>,
    /// The charger is connected to chargegate.
    local: watch::Sender<bool>,
}

/// What every link shares.
pub(crate) struct Shared {
    pub settings: LcSettings,
    pub store: Store,
    pub chargers: Chargers,
    /// The control loop: the cloud's limits and caps go there as bounds of their own.
    pub orders: Orders,
    pub clock: Clock,
    links: Mutex<HashMap<ChargerId, LinkControl>>,
    shutdown: watch::Receiver<bool>,
    /// For `/api/v1/site` `local_controller` (`status::publish`).
    pub counters: status::Counters,
}

/// The handle the charger connections use. Cheap to clone.
#[derive(Clone)]
pub struct Uplink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Uplink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uplink")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl Uplink {
    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<ChargerId, LinkControl>> {
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        self.shared
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn relayed(&self, charger: &ChargerId) -> bool {
        self.shared.settings.chargers.contains_key(charger)
    }

    /// The chargers' links, and how many are up.
    fn link_counts(&self) -> (u64, u64) {
        let links = self.links();
        let up = links
            .values()
            .filter(|l| l.online.load(Ordering::Acquire))
            .count();
        (links.len() as u64, up as u64)
    }

    /// Whether `charger`'s link to the cloud is up.
    pub fn is_online(&self, charger: &ChargerId) -> bool {
        self.links()
            .get(charger)
            .is_some_and(|l| l.online.load(Ordering::Acquire))
    }

    /// The entry to keep with the local CSMS's records of this CALL, when it is one the
    /// cloud must get (`messages::journaled`).
    pub fn journal_entry(
        &self,
        charger: &ChargerId,
        version: OcppVersion,
        action: &str,
        payload: &Value,
    ) -> Option<JournalEntry> {
        (self.relayed(charger) && messages::journaled(action)).then(|| JournalEntry {
            version: version.subprotocol().to_string(),
            action: action.to_string(),
            payload: payload.to_string(),
            offline: !self.is_online(charger),
        })
    }

    /// A message was kept for `charger`: its link (started here if the manager has not
    /// yet heard of the connection) sends it.
    pub fn kept(&self, charger: &ChargerId, version: OcppVersion) {
        self.charger_connected(charger, version);
        if let Some(link) = self.links().get(charger) {
            link.wake.notify_one();
        }
    }

    /// Forwards a message the cloud need not get when the link is down. The charger's
    /// first messages (its boot, its statuses) may come before the manager heard of its
    /// connection: the link starts here then, so they are remembered for the cloud.
    pub fn forward(&self, charger: &ChargerId, version: OcppVersion, action: &str, payload: Value) {
        if messages::journaled(action) || !self.relayed(charger) {
            return;
        }
        self.charger_connected(charger, version);
        if let Some(link) = self.links().get(charger) {
            let call = LiveCall {
                action: action.to_string(),
                payload,
                answer: None,
            };
            if link.live.try_send(call).is_err() {
                tracing::debug!(charger = %charger, action, "link busy or down: message not forwarded");
            }
        }
    }

    /// The cloud's answer to the charger's Authorize, while the link is up, within
    /// `AUTHORIZE_WAIT`; `None`: the local list decides. The cloud's verdict is kept.
    pub async fn authorize(
        &self,
        charger: &ChargerId,
        version: OcppVersion,
        payload: &Value,
    ) -> Option<Value> {
        if !self.relayed(charger) || !self.is_online(charger) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let live = self.links().get(charger)?.live.clone();
        let call = LiveCall {
            action: "Authorize".into(),
            payload: payload.clone(),
            answer: Some(tx),
        };
        live.try_send(call).ok()?;
        let answer = tokio::time::timeout(AUTHORIZE_WAIT, rx).await.ok()?.ok()?;
        let record = messages::authorize_verdict(version, payload, &answer)?;
        let kept = self
            .shared
            .store
            .call(move |c| store::remember_cloud_verdict(c, &record))
            .await;
        if let Err(e) = kept {
            tracing::warn!(charger = %charger, "cannot keep the cloud's verdict on a card: {e}");
        }
        Some(answer)
    }

    /// Starts or keeps the link of a charger that connected.
    fn charger_connected(&self, charger: &ChargerId, version: OcppVersion) {
        if !self.relayed(charger) {
            return;
        }
        let mut links = self.links();
        if let Some(link) = links.get(charger) {
            link.local.send_replace(true);
            return;
        }
        let control = link::spawn(
            Arc::clone(&self.shared),
            link::Identity::charger(charger.clone(), version),
            true,
        );
        links.insert(charger.clone(), control);
    }

    fn charger_disconnected(&self, charger: &ChargerId) {
        if let Some(link) = self.links().get(charger) {
            link.local.send_replace(false);
        }
    }

    /// A link that is done (its charger gone, nothing kept) leaves the map, unless its
    /// charger came back meanwhile; true: it may end.
    pub(crate) fn link_done(shared: &Arc<Shared>, charger: &ChargerId) -> bool {
        let mut links = shared
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let back = links.get(charger).is_some_and(|l| *l.local.borrow());
        if !back {
            links.remove(charger);
        }
        !back
    }
}

/// Why the Local Controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum LcError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
}

/// Starts chargegate's own link (and the forwarding of its alerts), the links of chargers
/// with kept messages, and the task that follows the chargers' connections. Subscribes before the listener admits a charger.
#[allow(clippy::too_many_arguments)] // each is one of the daemon's parts; a struct would only rename them
pub async fn spawn(
    settings: LcSettings,
    store: Store,
    csms: &Csms,
    chargers: Chargers,
    orders: Orders,
    clock: Clock,
    alerts: tokio::sync::broadcast::Receiver<store::AlertRecord>,
    status: watch::Sender<crate::http::UpstreamStatus>,
    shutdown: watch::Receiver<bool>,
) -> Result<(Uplink, tokio::task::JoinHandle<()>), LcError> {
    let mut connections = csms.subscribe_connections();
    let uplink = Uplink {
        shared: Arc::new(Shared {
            settings,
            store: store.clone(),
            chargers,
            orders,
            clock,
            links: Mutex::default(),
            shutdown: shutdown.clone(),
            counters: status::Counters::default(),
        }),
    };
    let waiting = store.call(|c| store::journal_chargers(c)).await?;
    for (id, version) in waiting {
        let (Ok(charger), Some(version)) =
            (ChargerId::new(id), OcppVersion::from_subprotocol(&version))
        else {
            continue;
        };
        if uplink.relayed(&charger) {
            let control = link::spawn(
                Arc::clone(&uplink.shared),
                link::Identity::charger(charger.clone(), version),
                false,
            );
            uplink.links().insert(charger, control);
        }
    }
    let (own, own_live) = link::spawn_own(Arc::clone(&uplink.shared));
    tokio::spawn(alerts::forward(
        alerts,
        own_live,
        uplink.shared.settings.version,
        uplink.shared.shutdown.clone(),
    ));
    tokio::spawn(status::publish(uplink.clone(), status));
    let follower = uplink.clone();
    let mut stop = shutdown;
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                event = connections.recv() => match event {
                    Ok(e) if e.admission == Admission::Known => {
                        if e.connected {
                            follower.charger_connected(&e.charger, e.version);
                        } else {
                            follower.charger_disconnected(&e.charger);
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "Local Controller missed connection events; links follow the next ones");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        // The links see the same shutdown; chargegate's own says goodbye by closing.
        let _ = own.await;
    });
    Ok((uplink, task))
}
