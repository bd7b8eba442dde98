//! The daemon's links above the depot, wired before the charger listener opens so that no
//! charger's record goes unnoted: the OCPP Local Controller toward a cloud CSMS
//! (`[upstream.ocpp]`) and the MQTT upstream (`[upstream.mqtt]`) with the API router it
//! answers the cloud's commands through.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::StartError;
use crate::charger::Chargers;
use crate::clock::Clock;
use crate::config::{Config, Live};
use crate::control;
use crate::csms::Csms;
use crate::store;

/// What the Local Controller is handed besides its settings.
pub(super) struct LcWiring {
    chargers: Chargers,
    alerts: tokio::sync::broadcast::Receiver<store::AlertRecord>,
    /// Its state for the API (`/api/v1/site` `local_controller`).
    status: watch::Sender<crate::http::UpstreamStatus>,
}

/// With `[upstream.ocpp]`: the Local Controller's state channel, its receiver added to the
/// API's sources before the router is built.
pub(super) fn local_controller_wiring(
    config: &Config,
    chargers: &Chargers,
    alerts: &crate::alerts::Alerts,
    monitor: crate::http::MonitorSources,
) -> (Option<LcWiring>, crate::http::MonitorSources) {
    let Some(ocpp) = &config.upstream.ocpp else {
        return (None, monitor);
    };
    let (status, rx) = watch::channel(crate::http::UpstreamStatus {
        kind: "ocpp",
        url: ocpp.url.clone(),
        ..crate::http::UpstreamStatus::default()
    });
    let wiring = LcWiring {
        chargers: chargers.clone(),
        alerts: alerts.subscribe(),
        status,
    };
    (Some(wiring), monitor.with_local_controller(rx))
}

/// The OCPP Local Controller (`[upstream.ocpp]`), started before the listener so that the
/// first charger's messages are kept for the cloud; the cloud's limits and caps go to the
/// control loop.
pub(super) async fn spawn_local_controller(
    config: &Config,
    wiring: Option<LcWiring>,
    csms: &Csms,
    orders: &control::Orders,
    clock: Clock,
    shutdown_rx: &watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>, StartError> {
    let settings = crate::upstream::ocpp::settings::from_config(config)
        .map_err(StartError::LocalController)?;
    let (Some(settings), Some(wiring)) = (settings, wiring) else {
        return Ok(None);
    };
    tracing::info!(
        url = settings.url,
        identity = settings.identity,
        "OCPP Local Controller toward the cloud CSMS"
    );
    let (uplink, task) = crate::upstream::ocpp::spawn(
        settings,
        csms.store().clone(),
        csms,
        wiring.chargers,
        orders.clone(),
        clock,
        wiring.alerts,
        wiring.status,
        shutdown_rx.clone(),
    )
    .await
    .map_err(|e| StartError::LocalController(e.to_string()))?;
    csms.set_uplink(uplink);
    Ok(Some(task))
}

/// The API's router, and the upstream (`[upstream.mqtt]`), which answers the cloud's
/// commands through it: the store's change notes turned on (or off without it) and its
/// tasks started, before the listener, so that no charger's record goes unnoted.
pub(super) async fn api_and_upstream(
    config: &Config,
    state: crate::http::HttpState,
    monitor: crate::http::MonitorSources,
    csms: &Csms,
    live: &Live,
    clock: Clock,
    shutdown_rx: &watch::Receiver<bool>,
) -> Result<(axum::Router, Option<JoinHandle<()>>), StartError> {
    let store = csms.store().clone();
    let Some(mqtt) = config.upstream.mqtt.clone() else {
        store.call(|c| store::enable_upstream(c, false)).await?;
        let router = crate::http::router(state.with_monitor(monitor));
        return Ok((router, None));
    };
    let (status, status_rx) = crate::upstream::status_channel(&mqtt);
    let router = crate::http::router(state.with_monitor(monitor.with_upstream(status_rx)));
    let epoch = store.call(|c| store::enable_upstream(c, true)).await?;
    let link = crate::upstream::spawn(
        crate::upstream::UpstreamInputs {
            config: mqtt,
            site_id: config.site.id.clone(),
            store,
            csms: csms.clone(),
            internal: crate::http::Internal::new(router.clone()),
            live: live.clone(),
            status,
            clock,
        },
        epoch,
        shutdown_rx,
    )?;
    Ok((router, Some(link)))
}
