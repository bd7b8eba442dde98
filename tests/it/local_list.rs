//! SendLocalList Full and Differential over loopback (issue 10): a charger gets the whole
//! list when its version is not known to chargegate, and afterwards each change as a
//! differential update with exactly the changed cards; a charger that refuses the
//! differential update gets the whole list. Part 6 has no CSMS test case for block D
//! ("intentionally blank"), so the tests follow use cases D01/D02 (Part 2) and 1.6 §5.15.

use std::collections::BTreeMap;
use std::time::Duration;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReceivedCall, SimChargePoint, SimOptions};
use serde_json::{Value, json};

use crate::common::{PASSWORD, url};
use crate::id_tokens::{request, site};

const WAIT: Duration = Duration::from_secs(30);

fn schema_version(sim: &SimChargePoint) -> &'static str {
    match sim.version() {
        OcppVersion::V16 => "v16",
        OcppVersion::V201 => "v201",
    }
}

/// A charger on the daemon's virtual clock that holds `list` from before.
async fn connect(
    daemon: &chargegate::daemon::Daemon,
    clock: chargegate::clock::Clock,
    id: &str,
    version: OcppVersion,
    list: (i64, BTreeMap<String, Value>),
) -> SimChargePoint {
    let mut opts = SimOptions::new(url(daemon), id, &[version]);
    opts.password = Some(PASSWORD.into());
    opts.clock = clock;
    opts.local_list = list;
    let sim = SimChargePoint::connect(opts)
        .await
        .expect("charger connects");
    sim.boot().await.expect("boot accepted");
    sim
}

/// The next SendLocalList, checked against the schema: (updateType, version, entries as
/// (id, status or None for a removal)).
async fn next_list(sim: &SimChargePoint) -> (String, i64, Vec<(String, Option<String>)>) {
    let call: ReceivedCall = sim
        .wait_for_call("SendLocalList", WAIT)
        .await
        .unwrap_or_else(|| panic!("{} got no SendLocalList", sim.id()));
    let p = &call.payload;
    crate::common::schema_check::assert_valid(schema_version(sim), "SendLocalList", false, p);
    let (version, id_of, info): (_, fn(&Value) -> String, _) = match sim.version() {
        OcppVersion::V16 => (
            p["listVersion"].as_i64(),
            |e| e["idTag"].as_str().unwrap().to_string(),
            "idTagInfo",
        ),
        OcppVersion::V201 => (
            p["versionNumber"].as_i64(),
            |e| e["idToken"]["idToken"].as_str().unwrap().to_string(),
            "idTokenInfo",
        ),
    };
    let entries = p["localAuthorizationList"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                id_of(e),
                e.get(info)
                    .map(|i| i["status"].as_str().unwrap().to_string()),
            )
        })
        .collect();
    (
        p["updateType"].as_str().unwrap().to_string(),
        version.expect("a version"),
        entries,
    )
}

async fn site_version(daemon: &chargegate::daemon::Daemon) -> i64 {
    daemon
        .csms
        .store()
        .call(|c| chargegate::store::local_list_version(c))
        .await
        .unwrap()
}

/// The cards the charger holds with their status.
fn held(sim: &SimChargePoint) -> (i64, Vec<(String, String)>) {
    let (version, list) = sim.local_list();
    let cards = list
        .into_iter()
        .map(|(id, info)| (id, info["status"].as_str().unwrap_or("").to_string()))
        .collect();
    (version, cards)
}

fn owned(cards: &[(&str, &str)]) -> Vec<(String, String)> {
    cards
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn change(id: &str, status: Option<&str>) -> (String, Option<String>) {
    (id.to_string(), status.map(str::to_string))
}

async fn put(addr: std::net::SocketAddr, id: &str, body: Value) {
    let (status, reply) =
        request(addr, "PUT", &format!("/api/v1/id-tokens/{id}"), Some(body)).await;
    assert!(status == 200 || status == 201, "{status} {reply}");
}

/// Each charger's next SendLocalList is a Differential with exactly `expected`.
async fn each_gets_differential(sims: [&SimChargePoint; 2], expected: &[(&str, Option<&str>)]) {
    let expected: Vec<_> = expected.iter().map(|(id, s)| change(id, *s)).collect();
    for sim in sims {
        let (kind, _, entries) = next_list(sim).await;
        assert_eq!(
            (kind.as_str(), &entries),
            ("Differential", &expected),
            "{}",
            sim.id()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn d01_full_on_connect_then_each_change_as_a_differential_with_exactly_that_card() {
    let (daemon, clock) = site().start_virtual("2026-12-01T18:00:00Z").await;
    let addr = daemon.http_addr;
    let v201 = connect(
        &daemon,
        clock,
        "CS201-1",
        OcppVersion::V201,
        Default::default(),
    )
    .await;
    let v16 = connect(
        &daemon,
        clock,
        "CP16-1",
        OcppVersion::V16,
        Default::default(),
    )
    .await;
    let sims = [&v201, &v16];
    let version = site_version(&daemon).await;
    let file = owned(&[
        ("BLOCKED", "Blocked"),
        ("GOOD", "Accepted"),
        ("OLD", "Expired"),
    ]);
    for sim in sims {
        let (kind, v, entries) = next_list(sim).await;
        assert_eq!((kind.as_str(), v), ("Full", version), "{}", sim.id());
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(held(sim), (version, file.clone()));
    }

    // A card added through the API: exactly that card, as the next version.
    put(
        addr,
        "VAN-3",
        json!({"status": "accepted", "type": "ISO15693"}),
    )
    .await;
    each_gets_differential(sims, &[("VAN-3", Some("Accepted"))]).await;
    for sim in sims {
        assert_eq!(held(sim).0, version + 1);
    }
    let calls = v201.received_calls();
    let last = calls
        .iter()
        .rev()
        .find(|c| c.action == "SendLocalList")
        .unwrap();
    assert_eq!(
        last.payload["localAuthorizationList"][0]["idToken"]["type"], "ISO15693",
        "the card's own IdTokenEnumType"
    );

    // Blocked: exactly that card again.
    put(addr, "VAN-3", json!({"status": "blocked"})).await;
    each_gets_differential(sims, &[("VAN-3", Some("Blocked"))]).await;

    // A removal is an entry without info; the charger drops the card.
    let (status, _) = request(addr, "DELETE", "/api/v1/id-tokens/VAN-3", None).await;
    assert_eq!(status, 200);
    each_gets_differential(sims, &[("VAN-3", None)]).await;
    // After all the updates each charger holds what a full list would be.
    let now = site_version(&daemon).await;
    for sim in sims {
        assert_eq!(held(sim), (now, file.clone()), "{}", sim.id());
    }
    // Nothing changes: nothing is sent.
    assert!(v201.wait_for_call("SendLocalList", WAIT).await.is_none());
    v201.close().await;
    v16.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d01_a_blocked_group_reaches_each_member_as_a_differential() {
    let (daemon, clock) = site().start_virtual("2026-12-01T18:00:00Z").await;
    let addr = daemon.http_addr;
    let v201 = connect(
        &daemon,
        clock,
        "CS201-1",
        OcppVersion::V201,
        Default::default(),
    )
    .await;
    let v16 = connect(
        &daemon,
        clock,
        "CP16-1",
        OcppVersion::V16,
        Default::default(),
    )
    .await;
    let sims = [&v201, &v16];
    for sim in sims {
        assert_eq!(next_list(sim).await.0, "Full");
    }
    // A charger cannot know that a group is blocked: each member's entry says so.
    put(addr, "FLEET", json!({"status": "accepted"})).await;
    put(
        addr,
        "DRIVER-9",
        json!({"status": "accepted", "group": "FLEET"}),
    )
    .await;
    each_gets_differential(
        sims,
        &[("DRIVER-9", Some("Accepted")), ("FLEET", Some("Accepted"))],
    )
    .await;
    put(addr, "FLEET", json!({"status": "blocked"})).await;
    each_gets_differential(
        sims,
        &[("DRIVER-9", Some("Blocked")), ("FLEET", Some("Blocked"))],
    )
    .await;

    for sim in sims {
        let cards = held(sim).1;
        assert!(
            cards.contains(&("DRIVER-9".into(), "Blocked".into())),
            "{cards:?}"
        );
    }
    v201.close().await;
    v16.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn d02_a_charger_that_answers_version_mismatch_or_failed_gets_the_full_list() {
    let (daemon, clock) = site().start_virtual("2026-12-01T18:00:00Z").await;
    let addr = daemon.http_addr;
    let v201 = connect(
        &daemon,
        clock,
        "CS201-1",
        OcppVersion::V201,
        Default::default(),
    )
    .await;
    let v16 = connect(
        &daemon,
        clock,
        "CP16-1",
        OcppVersion::V16,
        Default::default(),
    )
    .await;
    for sim in [&v201, &v16] {
        assert_eq!(next_list(sim).await.0, "Full");
    }
    v201.refuse_next_differential("VersionMismatch");
    v16.refuse_next_differential("Failed");
    put(addr, "VAN-4", json!({"status": "accepted"})).await;
    let version = site_version(&daemon).await;
    for sim in [&v201, &v16] {
        let refused = next_list(sim).await;
        assert_eq!(
            refused,
            (
                "Differential".into(),
                version,
                vec![change("VAN-4", Some("Accepted"))]
            )
        );
        let (kind, v, entries) = next_list(sim).await;
        assert_eq!((kind.as_str(), v), ("Full", version), "{}", sim.id());
        assert_eq!(entries.len(), 4);
        assert_eq!(held(sim).0, version);
    }
    // Taken: the next change is a differential update again.
    put(addr, "VAN-5", json!({"status": "accepted"})).await;
    for sim in [&v201, &v16] {
        let (kind, _, entries) = next_list(sim).await;
        assert_eq!(kind, "Differential");
        assert_eq!(entries, vec![change("VAN-5", Some("Accepted"))]);
    }
    v201.close().await;
    v16.close().await;
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_gets_nothing_when_its_version_matches_and_only_what_it_missed_otherwise() {
    let (daemon, clock) = site().start_virtual("2026-12-01T18:00:00Z").await;
    let addr = daemon.http_addr;
    for (id, version) in [("CS201-1", OcppVersion::V201), ("CP16-1", OcppVersion::V16)] {
        let sim = connect(&daemon, clock, id, version, Default::default()).await;
        assert_eq!(next_list(&sim).await.0, "Full");
        let list = sim.local_list();
        sim.close().await;

        // Back with the list it holds: asked its version, sent nothing.
        let sim = connect(&daemon, clock, id, version, list.clone()).await;
        sim.wait_for_call("GetLocalListVersion", WAIT)
            .await
            .expect("asked its version");
        assert!(
            sim.wait_for_call("SendLocalList", WAIT).await.is_none(),
            "{id}: a list it already holds is not sent"
        );
        sim.close().await;

        // A card changed while it was away: back, it gets exactly that card.
        let card = format!("AWAY-{id}");
        put(addr, &card, json!({"status": "accepted"})).await;
        let sim = connect(&daemon, clock, id, version, list.clone()).await;
        let update = next_list(&sim).await;
        assert_eq!(
            update,
            (
                "Differential".into(),
                site_version(&daemon).await,
                vec![change(&card, Some("Accepted"))]
            )
        );
        sim.close().await;

        // A version newer than the site's (the store restored from a backup): Full.
        let newer = (list.0 + 50, list.1.clone());
        let sim = connect(&daemon, clock, id, version, newer).await;
        let (kind, v, _) = next_list(&sim).await;
        assert_eq!((kind.as_str(), v), ("Full", site_version(&daemon).await));
        sim.close().await;
    }
    daemon.stop().await;
}
