//! The test cloud (`common::cloud`) on its own, against a raw tokio-tungstenite client:
//! its answers fit the official schemas, it records what it is sent and who sent it, its
//! faults happen exactly as scripted, its own calls are matched to their answers, and
//! `stop` / `start_again` take it away and bring it back on the same port. The
//! Local Controller tests rely on all of it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::cloud::{
    Answer, Cloud, FIRST_CLOUD_TX_ID, Kind, Snapshot, V16, V201, answer_for, parse,
};
use crate::common::schema_check;

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
const WITHIN: Duration = Duration::from_secs(5);

async fn connect(cloud: &Cloud, path_id: &str, protocol: &str, auth: Option<&str>) -> Client {
    try_connect(cloud, path_id, protocol, auth)
        .await
        .expect("the cloud accepts the station")
}

async fn try_connect(
    cloud: &Cloud,
    path_id: &str,
    protocol: &str,
    auth: Option<&str>,
) -> Result<Client, String> {
    let mut request = format!("{}/{path_id}", cloud.url())
        .into_client_request()
        .expect("a request");
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", protocol.parse().expect("header"));
    if let Some(auth) = auth {
        headers.insert("authorization", auth.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// The next text frame, parsed; panics after `WITHIN`.
async fn next(client: &mut Client) -> Kind {
    loop {
        let message = tokio::time::timeout(WITHIN, client.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return parse(text.as_str());
        }
    }
}

async fn send(client: &mut Client, frame: Value) {
    client
        .send(Message::text(frame.to_string()))
        .await
        .expect("sent");
}

/// A request of each action the cloud answers, valid for its version's schema.
fn requests(version: &str) -> Vec<(&'static str, Value)> {
    let now = "2026-12-01T10:00:00Z";
    if version == V16 {
        vec![
            (
                "BootNotification",
                json!({"chargePointVendor": "v", "chargePointModel": "m"}),
            ),
            ("Heartbeat", json!({})),
            (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
            ),
            ("Authorize", json!({"idTag": "T"})),
            (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now}),
            ),
            (
                "MeterValues",
                json!({"connectorId": 1, "meterValue": [{"timestamp": now, "sampledValue": [{"value": "1"}]}]}),
            ),
            (
                "StopTransaction",
                json!({"transactionId": 1, "meterStop": 5, "timestamp": now}),
            ),
            ("DataTransfer", json!({"vendorId": "v"})),
            ("DiagnosticsStatusNotification", json!({"status": "Idle"})),
            ("FirmwareStatusNotification", json!({"status": "Idle"})),
        ]
    } else {
        let token = json!({"idToken": "T", "type": "ISO14443"});
        vec![
            (
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}),
            ),
            ("Heartbeat", json!({})),
            (
                "StatusNotification",
                json!({"timestamp": now, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
            ),
            ("Authorize", json!({"idToken": token})),
            (
                "TransactionEvent",
                json!({"eventType": "Started", "timestamp": now, "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "t1"}, "idToken": token}),
            ),
            (
                "TransactionEvent",
                json!({"eventType": "Ended", "timestamp": now, "triggerReason": "StopAuthorized", "seqNo": 1, "offline": true, "transactionInfo": {"transactionId": "t1"}}),
            ),
            (
                "MeterValues",
                json!({"evseId": 1, "meterValue": [{"timestamp": now, "sampledValue": [{"value": 1.0}]}]}),
            ),
            (
                "NotifyEvent",
                json!({"generatedAt": now, "seqNo": 0, "eventData": [{"eventId": 1, "timestamp": now, "trigger": "Alerting", "actualValue": "x", "eventNotificationType": "HardWiredNotification", "component": {"name": "c"}, "variable": {"name": "v"}}]}),
            ),
            ("DataTransfer", json!({"vendorId": "v"})),
            (
                "SecurityEventNotification",
                json!({"type": "StartupOfTheDevice", "timestamp": now}),
            ),
            (
                "NotifyEVChargingNeeds",
                json!({"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}),
            ),
        ]
    }
}

#[test]
fn every_answer_of_the_cloud_fits_its_schema_in_both_versions() {
    for (version, dir) in [(V16, "v16"), (V201, "v201")] {
        for blocked in [&[][..], &["T"][..]] {
            for (action, request) in requests(version) {
                schema_check::assert_valid(dir, action, false, &request);
                let answer = answer_for(version, action, &request, blocked)
                    .unwrap_or_else(|| panic!("{version} {action} has an answer"));
                schema_check::assert_valid(dir, action, true, &answer);
            }
        }
        let blocked = answer_for(version, "Authorize", &requests(version)[3].1, &["T"]).unwrap();
        let status = blocked
            .pointer("/idTagInfo/status")
            .or_else(|| blocked.pointer("/idTokenInfo/status"));
        assert_eq!(status, Some(&json!("Blocked")), "{version}: {blocked}");
        assert_eq!(answer_for(version, "NoSuchAction", &json!({}), &[]), None);
    }
}

#[tokio::test]
async fn a_station_is_recorded_with_its_identity_protocol_and_credentials() {
    let cloud = Cloud::start().await;
    let mut client = connect(&cloud, "CP%3A1", V16, Some("Basic Q1A6MTpwdw==")).await;
    let boot = requests(V16)[0].1.clone();
    send(&mut client, json!([2, "b1", "BootNotification", boot])).await;
    let Kind::Result { id, payload } = next(&mut client).await else {
        panic!("a CALLRESULT")
    };
    assert_eq!(id, "b1");
    schema_check::assert_valid("v16", "BootNotification", true, &payload);
    assert_eq!(payload["interval"], 300);
    let seen = cloud.snapshot();
    let connection = seen.connection("CP:1").expect("percent-decoded identity");
    assert_eq!(connection.subprotocol.as_deref(), Some(V16));
    assert_eq!(connection.path, "/ocpp/CP%3A1");
    assert_eq!(connection.basic_credentials().as_deref(), Some("CP:1:pw"));
    assert!(seen.is_connected("CP:1"));
    assert_eq!(
        Snapshot::calls(&seen.processed, "CP:1", "BootNotification"),
        [&boot]
    );

    // Both StartTransactions get ids of the cloud's own, counting from 9001.
    for n in 0..2 {
        let start = requests(V16)[4].1.clone();
        send(
            &mut client,
            json!([2, format!("s{n}"), "StartTransaction", start]),
        )
        .await;
        let Kind::Result { payload, .. } = next(&mut client).await else {
            panic!("a CALLRESULT")
        };
        assert_eq!(payload["transactionId"], FIRST_CLOUD_TX_ID + n);
    }
    // 2.0.1 is chosen when offered; an offer of neither version is refused.
    let _v201 = connect(&cloud, "CS-2", "ocpp2.1, ocpp2.0.1", None).await;
    let seen = cloud.snapshot();
    assert_eq!(
        seen.connection("CS-2").unwrap().subprotocol.as_deref(),
        Some(V201)
    );
    assert_eq!(seen.connection("CS-2").unwrap().authorization, None);
    let refused = try_connect(&cloud, "CS-3", "ocpp2.1", None).await;
    assert!(refused.is_err(), "ocpp2.1 alone is refused");
}

#[tokio::test]
async fn scripted_faults_hit_exactly_the_next_calls_and_are_not_processed() {
    let cloud = Cloud::start().await;
    let mut client = connect(&cloud, "CP-1", V201, None).await;
    cloud.pass_next("Heartbeat", 1);
    cloud.reject_next("Heartbeat", 1);
    cloud.ignore_next("Heartbeat", 1);
    for n in 1..=4 {
        send(&mut client, json!([2, format!("h{n}"), "Heartbeat", {}])).await;
    }
    // h1 answered, h2 refused, h3 not answered at all, h4 answered.
    assert!(matches!(next(&mut client).await, Kind::Result { id, .. } if id == "h1"));
    assert!(
        matches!(next(&mut client).await, Kind::Error { id, code } if id == "h2" && code == "InternalError")
    );
    assert!(matches!(next(&mut client).await, Kind::Result { id, .. } if id == "h4"));
    let seen = cloud.snapshot();
    let ids = |frames: &[crate::common::cloud::Frame]| -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| match &f.kind {
                Kind::Call { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(ids(&seen.received), ["h1", "h2", "h3", "h4"]);
    assert_eq!(ids(&seen.processed), ["h1", "h4"]);
    let orders: Vec<u64> = seen.received.iter().map(|f| f.order).collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
}

#[tokio::test]
async fn the_clouds_own_calls_get_their_answers_or_fail_in_time() {
    let cloud = Cloud::start().await;
    let mut client = connect(&cloud, "CP-1", V16, None).await;
    cloud.wait_connected("CP-1", WITHIN).await;
    let payload = json!({"connectorId": 1, "idTag": "T"});
    let call = cloud.call("CP-1", "RemoteStartTransaction", payload.clone(), WITHIN);
    let station = async {
        let Kind::Call {
            id,
            action,
            payload: got,
        } = next(&mut client).await
        else {
            panic!("a CALL")
        };
        assert_eq!(
            (action.as_str(), &got),
            ("RemoteStartTransaction", &payload)
        );
        send(&mut client, json!([4, "unrelated", "GenericError", "", {}])).await;
        send(&mut client, json!([3, id, {"status": "Accepted"}])).await;
        id
    };
    let (answer, id) = tokio::join!(call, station);
    assert_eq!(id, "cloud-1");
    assert_eq!(answer, Ok(Answer::Result(json!({"status": "Accepted"}))));

    let unanswered = cloud
        .call(
            "CP-1",
            "Reset",
            json!({"type": "Soft"}),
            Duration::from_millis(200),
        )
        .await;
    assert!(unanswered.unwrap_err().contains("no answer"));
    let nobody = cloud.call("CP-9", "Reset", json!({}), WITHIN).await;
    assert!(nobody.unwrap_err().contains("not connected"));
}

#[tokio::test]
async fn stop_closes_every_socket_and_start_again_listens_on_the_same_port() {
    let cloud = Cloud::start().await;
    let url = cloud.url();
    let mut client = connect(&cloud, "CP-1", V16, None).await;
    cloud.wait_connected("CP-1", WITHIN).await;
    cloud.stop().await;
    let ended = tokio::time::timeout(WITHIN, async {
        loop {
            match client.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the station's socket closed");
    assert!(!cloud.snapshot().is_connected("CP-1"));
    assert!(
        try_connect(&cloud, "CP-1", V16, None).await.is_err(),
        "nobody listens"
    );

    cloud.start_again().await;
    assert_eq!(cloud.url(), url);
    let mut again = connect(&cloud, "CP-1", V16, None).await;
    send(&mut again, json!([2, "x", "Heartbeat", {}])).await;
    assert!(matches!(next(&mut again).await, Kind::Result { .. }));
    let seen = cloud.snapshot();
    assert_eq!(seen.connections.len(), 2);
    assert!(!seen.connections[0].open && seen.connections[1].open);
}
