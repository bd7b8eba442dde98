//! chargegate as an OCPP Local Controller (issue 13, DESIGN.md `[upstream.ocpp]`) between
//! simulated chargers of both versions and the test cloud CSMS (`common::cloud`), all on
//! loopback. The real daemon throughout; every wait is for a condition with a deadline.
//!
//! `test_cloud`: the cloud harness proven on its own (a raw WebSocket client: answers fit
//! the schemas, faults, stop and start again). `relay`: messages both ways, identities,
//! subprotocols and credentials, message ids, Authorize. `bounds`: a cloud
//! ChargingStationMaxProfile becomes the site's limit, kept apart from the operator's, and
//! the cloud's Tx(Default)Profiles cap one charger. `replay`: the cloud down for a whole
//! transaction, then back, and a cloud that refuses or does not answer the replay.
//! `process`: the `chargegate` binary SIGKILLed while the cloud is down.

mod bounds;
mod process;
mod relay;
mod replay;
mod test_cloud;

use std::time::Duration;

use chargegate::config::Config;
use chargegate::daemon::{self, Daemon};
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimChargePoint;
use serde_json::Value;

use crate::common::cloud::{Cloud, Frame, Snapshot};
use crate::common::{PASSWORD, site_toml};

/// How long chargegate may take to (re)connect to the cloud and deliver what it owes:
/// its backoff starts at 1 s and doubles, so a cloud back after a few seconds is found
/// within a few more, and a replay through two refusals and a timeout takes about 8 s.
pub(crate) const WAIT: Duration = Duration::from_secs(20);
/// `[upstream.ocpp] call-timeout-s` in these tests: short, so a silent cloud costs little.
pub(crate) const CALL_TIMEOUT_S: u32 = 1;
/// chargegate's identity at the cloud: `[site] id` of `common::site_toml`.
pub(crate) const OWN_IDENTITY: &str = "test-depot";

/// The `[upstream.ocpp]` section toward `cloud`, chargegate's own connection in `version`.
pub(crate) fn ocpp_section(cloud: &Cloud, version: OcppVersion) -> String {
    let version = match version {
        OcppVersion::V16 => "1.6",
        OcppVersion::V201 => "2.0.1",
    };
    format!(
        "\n[upstream.ocpp]\nurl = \"{}\"\nversion = \"{version}\"\ncall-timeout-s = {CALL_TIMEOUT_S}\n",
        cloud.url()
    )
}

/// The test site (`common::site_toml`: CP16-1, CP16-2, CS201-1, CS201-2, tokens GOOD,
/// BLOCKED, OLD) relayed to `cloud`, its store in `dir`.
pub(crate) fn config_for(dir: &std::path::Path, cloud: &Cloud, version: OcppVersion) -> Config {
    let text = site_toml(&dir.join("chargegate.db"), "") + &ocpp_section(cloud, version);
    chargegate::config::parse(&text).unwrap_or_else(|p| panic!("test config: {p:#?}"))
}

/// The cloud, and the daemon (dispatch driven by the test) relaying to it, its own
/// identity booted at the cloud when `start` returns.
pub(crate) struct Relayed {
    pub(crate) cloud: Cloud,
    pub(crate) daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl Relayed {
    pub(crate) async fn start(own: OcppVersion) -> Self {
        let cloud = Cloud::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config_for(dir.path(), &cloud, own);
        let daemon = daemon::start_manual(&config).await.expect("daemon starts");
        let booted = cloud
            .wait_for(WAIT, |s| {
                !Snapshot::calls(&s.processed, OWN_IDENTITY, "BootNotification").is_empty()
            })
            .await;
        assert!(
            booted,
            "chargegate's own identity {OWN_IDENTITY} did not boot at the cloud; it saw {:#?}",
            cloud.snapshot().connections
        );
        Self {
            cloud,
            daemon,
            _dir: dir,
        }
    }

    /// A configured charger, settled (baseline and local list installed) and booted, and
    /// connected through to the cloud.
    pub(crate) async fn charger(&self, id: &str, version: OcppVersion) -> SimChargePoint {
        let sim = crate::common::connect_settled(&self.daemon, id, version).await;
        sim.boot().await.expect("boot accepted");
        self.cloud.wait_connected(id, WAIT).await;
        sim
    }

    /// Waits until the cloud processed at least `n` CALLs of `action` from `identity`.
    pub(crate) async fn wait_processed(&self, identity: &str, action: &str, n: usize) {
        let done = self
            .cloud
            .wait_for(WAIT, |s| {
                Snapshot::calls(&s.processed, identity, action).len() >= n
            })
            .await;
        assert!(
            done,
            "the cloud processed fewer than {n} {action} from {identity}:\n{}",
            describe(&self.cloud.snapshot().received)
        );
    }
}

/// The basic credentials every relayed charger presents: its id and the test password
/// (the default `upstream-password` is the local `password`).
pub(crate) fn expected_credentials(id: &str) -> String {
    format!("{id}:{PASSWORD}")
}

/// One line per frame, for a failure message.
pub(crate) fn describe(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| format!("  #{} {} {:?}", f.order, f.identity, f.kind))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The CALLs from `identity` in `frames` whose action is one of `actions`, as (action,
/// payload), in order.
pub(crate) fn calls_of(frames: &[Frame], identity: &str, actions: &[&str]) -> Vec<(String, Value)> {
    frames
        .iter()
        .filter(|f| f.identity == identity)
        .filter_map(Frame::call)
        .filter(|(a, _)| actions.contains(a))
        .map(|(a, p)| (a.to_string(), p.clone()))
        .collect()
}
