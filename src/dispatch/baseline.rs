//! Installs the failsafe baseline profile (DESIGN.md S3) on every configured charger when it
//! connects and when it boots.
//!
//! A thin loop: it listens to the CSMS's connection and boot announcements and sends
//! `profile::baseline` through the command API, which audits each send with its answer
//! (S6). It keeps, per charger, whether the baseline is acknowledged; dispatch counts a
//! charger without an acknowledged baseline at its hardware maximum (S1). Pending
//! (unknown) chargers get nothing: they are not part of the site.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::profile;
use crate::charger::Chargers;
use crate::config::{Charger, Config, Live};
use crate::csms::{Admission, Csms};
use crate::ocpp::model::{ChargerCommand, ChargerEvent};
use crate::units::{ChargerId, Volts};

/// Attempts per connection before the baseline is left unacknowledged (the charger is then
/// counted at its maximum until it reconnects or reboots).
const ATTEMPTS: u32 = 3;
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// Which chargers hold an acknowledged baseline. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BaselineState {
    acknowledged: Arc<Mutex<HashSet<ChargerId>>>,
}

impl BaselineState {
    fn set(&self, id: &ChargerId, acknowledged: bool) {
        // Each operation is a single insert or remove, so a poisoned lock is still consistent.
        let mut set = self.acknowledged.lock().unwrap_or_else(|e| e.into_inner());
        if acknowledged {
            set.insert(id.clone());
        } else {
            set.remove(id);
        }
    }

    /// Whether the charger acknowledged its failsafe baseline.
    pub fn is_acknowledged(&self, id: &ChargerId) -> bool {
        self.acknowledged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }
}

/// The settings the baseline needs, from the config.
#[derive(Debug, Clone)]
pub struct BaselineSettings {
    pub chargers: HashMap<ChargerId, Charger>,
    pub voltage: Volts,
}

impl BaselineSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            chargers: config.chargers_by_id(),
            voltage: config.site.nominal_voltage,
        }
    }
}

/// Subscribes to the CSMS's announcements now (so that nothing after this call is missed)
/// and returns the loop, which runs until `shutdown` turns true. The chargers follow
/// `config` (a reload may add some).
pub fn run(
    csms: &Csms,
    chargers: Chargers,
    config: Live,
    state: BaselineState,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let connections = csms.subscribe_connections();
    let events = csms.subscribe();
    serve(connections, events, chargers, config, state, shutdown)
}

async fn serve(
    mut connections: broadcast::Receiver<crate::csms::ConnectionEvent>,
    mut events: broadcast::Receiver<crate::csms::SiteEvent>,
    chargers: Chargers,
    mut config: Live,
    state: BaselineState,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = config.take_change();
    let mut settings = Arc::new(BaselineSettings::from_config(&config.current()));
    loop {
        let target = tokio::select! {
            _ = shutdown.changed() => break,
            change = connections.recv() => match change {
                Ok(c) if c.admission == Admission::Known => {
                    if !c.connected {
                        state.set(&c.charger, false);
                        continue;
                    }
                    c.charger
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "baseline missed connection events");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            event = events.recv() => match event {
                Ok(e) if matches!(e.event, ChargerEvent::Boot { .. }) => e.charger,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "baseline missed charger events");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        // A charger a reload added is admitted only once the reload is sent, so it is
        // known here by the time it connects.
        if let Some(config) = config.take_change() {
            settings = Arc::new(BaselineSettings::from_config(&config));
        }
        let Some(charger) = settings.chargers.get(&target).cloned() else {
            continue;
        };
        let (chargers, state, voltage) = (chargers.clone(), state.clone(), settings.voltage);
        tokio::spawn(async move { install(&chargers, &charger, voltage, &state).await });
    }
}

/// Sends the baseline, retrying a few times; records whether it was acknowledged.
async fn install(chargers: &Chargers, charger: &Charger, voltage: Volts, state: &BaselineState) {
    let profile = profile::baseline(charger, &charger.quirks, voltage);
    let reason = format!(
        "baseline: failsafe {} A until chargegate sets a leased limit (S3)",
        charger.failsafe_current.0
    );
    for attempt in 1..=ATTEMPTS {
        let command = ChargerCommand::SetChargingProfile {
            evse_id: 0,
            profile: profile.clone(),
        };
        match chargers.send(&charger.id, command, reason.clone()).await {
            Ok(reply) if reply.is_accepted() => {
                state.set(&charger.id, true);
                tracing::info!(charger = %charger.id, "failsafe baseline installed");
                return;
            }
            Ok(reply) => {
                tracing::warn!(charger = %charger.id, attempt, ?reply, "charger rejected the failsafe baseline")
            }
            Err(e) => {
                tracing::warn!(charger = %charger.id, attempt, "failsafe baseline not installed: {e}")
            }
        }
        if !chargers.is_connected(&charger.id) {
            break;
        }
        tokio::time::sleep(RETRY_DELAY).await;
    }
    state.set(&charger.id, false);
    tracing::error!(charger = %charger.id, "no failsafe baseline: the charger counts at its maximum current");
}
