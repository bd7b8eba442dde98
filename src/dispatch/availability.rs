//! Keeps what the operator set Inoperative Inoperative across a charger's reboots: OCPP
//! 1.6 §5.2 ("the availability shall persist across reboots") and 2.0.1 G03.FR.05/06 say
//! so, but a charger that forgot (or was replaced, or reset to factory settings) comes
//! back reporting its connectors Available.
//!
//! The operator's settings are in the store (`store::set_availability`, written by the
//! API when the charger accepted them). When a charger boots and then reports a connector
//! Available that an Inoperative station, EVSE or connector covers, ChangeAvailability
//! (Inoperative, that scope) goes out again, through the command API, which audits it
//! (S6). Once per scope per boot: a charger that refuses is not asked in a loop; its next
//! boot asks again. Never decides availability itself.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};

use crate::charger::Chargers;
use crate::csms::{Csms, SiteEvent};
use crate::ocpp::model::{ChargerCommand, ChargerEvent, ConnectorStatus, EvseRef};
use crate::store::{self, Store};
use crate::units::ChargerId;

/// Why the command goes out, for the audit log.
const REASON: &str =
    "availability set by the operator persists across reboots (OCPP 1.6 §5.2, 2.0.1 G03)";

/// Subscribes to the CSMS's events now and returns the loop, which runs until `shutdown`
/// turns true.
pub fn run(
    csms: &Csms,
    chargers: Chargers,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let events = csms.subscribe();
    let store = csms.store().clone();
    serve(events, chargers, store, shutdown)
}

/// The ChangeAvailability that sets scope (evse, connector; 0 for "all") Inoperative.
fn inoperative(evse_id: u32, connector_id: u32) -> ChargerCommand {
    ChargerCommand::ChangeAvailability {
        evse: (evse_id != 0).then_some(EvseRef {
            evse_id,
            connector_id: (connector_id != 0).then_some(connector_id),
        }),
        operative: false,
    }
}

/// A charger's last boot and the scopes sent again since.
#[derive(Debug)]
struct SinceBoot {
    at: DateTime<Utc>,
    sent: HashSet<(u32, u32)>,
}

async fn serve(
    mut events: broadcast::Receiver<SiteEvent>,
    chargers: Chargers,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) {
    // Per charger, once it booted while chargegate watched.
    let mut since_boot: HashMap<ChargerId, SinceBoot> = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => break,
            event = events.recv() => match event {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "availability missed charger events");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        let (evse_id, connector_id) = match &event.event {
            // A 2.0.1 boot the CSMS triggered (F06) is no reboot: nothing was forgotten.
            ChargerEvent::Boot { reason, .. } if reason.as_deref() == Some("Triggered") => continue,
            ChargerEvent::Boot { .. } => {
                let boot = SinceBoot {
                    at: event.at,
                    sent: HashSet::new(),
                };
                since_boot.insert(event.charger.clone(), boot);
                continue;
            }
            ChargerEvent::Status {
                evse,
                status: ConnectorStatus::Available,
                ..
            } => (evse.evse_id, evse.connector_id.unwrap_or(0)),
            _ => continue,
        };
        // Only after a boot, and only what was set before it: a reconnect without a boot is
        // the charger carrying on, and a setting since is the charger's to apply.
        let Some(SinceBoot { at: booted, sent }) = since_boot.get_mut(&event.charger) else {
            continue;
        };
        let (id, before) = (event.charger.to_string(), *booted);
        let scopes = match store
            .call(move |c| store::inoperative_covering(c, &id, evse_id, connector_id, before))
            .await
        {
            Ok(scopes) => scopes,
            Err(e) => {
                tracing::warn!(charger = %event.charger, "availability look-up failed: {e}");
                continue;
            }
        };
        for scope in scopes {
            if !sent.insert(scope) {
                continue;
            }
            tracing::info!(charger = %event.charger, evse = scope.0, connector = scope.1,
                "reports Available after a reboot what the operator set Inoperative: sent again");
            let chargers = chargers.clone();
            let charger = event.charger.clone();
            // Not awaited here: one slow charger must not hold the others' events.
            tokio::spawn(async move {
                if let Err(e) = chargers
                    .send(&charger, inoperative(scope.0, scope.1), REASON)
                    .await
                {
                    tracing::warn!(charger = %charger, "ChangeAvailability not delivered: {e}");
                }
            });
        }
    }
}
