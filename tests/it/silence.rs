//! A charger whose socket stays open but that sends nothing, not even a WebSocket Pong,
//! is disconnected after 3 x its Heartbeat interval (issue 10: a hung charger stayed
//! "connected", so the control loop still counted on it following its limits); one that
//! sends no CALL but answers the Pings chargegate sends stays connected. On tokio's paused
//! clock; the test site gives chargers a Heartbeat interval of 120 s.

use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::units::ChargerId;
use serde_json::Value;

use crate::common::get_json as get;

const HEARTBEAT: Duration = Duration::from_secs(120);

/// Whether chargegate counts the charger as connected: its registry (planner and
/// dispatch) and the HTTP API.
async fn connected(daemon: &chargegate::daemon::Daemon, id: &str) -> bool {
    let id_ = ChargerId::new(id).unwrap();
    let before = daemon.chargers.is_connected(&id_);
    let (status, body): (u16, Value) =
        get(daemon.http_addr, &format!("/api/v1/chargers/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let registry = daemon.chargers.is_connected(&id_);
    if before == registry {
        assert_eq!(
            body["connected"], registry,
            "the API and the registry agree: {body}"
        );
    }
    registry
}

#[tokio::test(start_paused = true)]
async fn a_hung_charger_is_disconnected_after_three_heartbeat_intervals_without_a_frame() {
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    for (id, version) in [("CP16-1", OcppVersion::V16), ("CS201-1", OcppVersion::V201)] {
        let sim = crate::common::connect_virtual(&daemon, clock, id, version, Vec::new()).await;
        // Its boot-time exchanges (baseline, local list) settle, then it hangs: no CALL,
        // no answer, no Pong, socket open.
        tokio::time::sleep(Duration::from_secs(5)).await;
        sim.hang();
        // Past 2 x: pinged, still connected (the Pong may yet come).
        tokio::time::sleep(HEARTBEAT * 5 / 2).await;
        assert!(
            connected(&daemon, id).await,
            "{id}: closed before 3 x its interval"
        );
        let mut closed_after = None;
        for s in 0..120u64 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !connected(&daemon, id).await {
                closed_after = Some(s);
                break;
            }
        }
        let s = closed_after.unwrap_or_else(|| panic!("{id}: still connected after 3 x + 60 s"));
        // Closed 3 x 120 s after its last frame, which came before the hang.
        assert!(s >= 50, "{id}: closed {s} s after 2.5 x: too early");
        let mut offline = false;
        for _ in 0..50 {
            let (_, alerts) = get(daemon.http_addr, "/api/v1/alerts").await;
            offline = alerts["alerts"].as_array().unwrap().iter().any(|a| {
                a["kind"] == "charger-offline" && a["charger"] == id && a["cleared"].is_null()
            });
            if offline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            offline,
            "{id}: the closed connection raises charger-offline"
        );
        sim.close().await;
    }
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_charger_that_only_answers_pings_stays_connected() {
    let site = crate::common::Site::new("");
    let (daemon, clock) = site.start_virtual("2026-03-02T08:00:00Z").await;
    let v16 =
        crate::common::connect_virtual(&daemon, clock, "CP16-1", OcppVersion::V16, Vec::new())
            .await;
    let v201 =
        crate::common::connect_virtual(&daemon, clock, "CS201-1", OcppVersion::V201, Vec::new())
            .await;
    // Ten intervals without a CALL: the simulator's WebSocket answers each Ping.
    for _ in 0..20 {
        tokio::time::sleep(HEARTBEAT / 2).await;
        for (sim, id) in [(&v16, "CP16-1"), (&v201, "CS201-1")] {
            assert!(
                connected(&daemon, id).await,
                "{id}: a charger answering Pings was closed"
            );
            assert!(!sim.is_closed(), "{id}");
        }
    }
    v16.close().await;
    v201.close().await;
    daemon.stop().await;
}
