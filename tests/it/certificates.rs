//! Certificate management of a 2.0.1 station over the HTTP API (issue 10, block M):
//! install a root, list what the charger holds, delete one by its serial number. Real
//! loopback HTTP and WebSocket to the real daemon with a simulated charger; what the
//! charger receives is checked against the official schemas. Named after the OCPP 2.0.1
//! certification cases (part 6, chapter 3, CSMS role) they cover.

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::ReplyPolicy;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SerialNumber};
use serde_json::json;

use crate::common::connect_settled;
use crate::operator_commands::{OPERATOR, VIEWER, post, received, request, site};

const CERTS: &str = "/api/v1/chargers/CS201-1/certificates";

/// A self-signed root certificate with serial `serial`, PEM.
fn root(serial: &[u8]) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.serial_number = Some(SerialNumber::from(serial.to_vec()));
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test]
async fn tc_m_01_tc_m_18_tc_m_20_install_list_and_delete_by_serial() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;

    // M19: nothing installed yet.
    let (status, body, _) = request(addr, "GET", CERTS, None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "NotFound");
    assert_eq!(
        received(&sim, "GetInstalledCertificateIds").await,
        json!({})
    );

    // M01: install a CSMS root.
    let pem = root(&[0x00, 0x1f, 0x3a]);
    let (status, body) = post(
        addr,
        CERTS,
        json!({"type": "CSMSRootCertificate", "certificate": pem}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Accepted", "accepted": true}));
    let call = received(&sim, "InstallCertificate").await;
    assert_eq!(
        call,
        json!({"certificateType": "CSMSRootCertificate", "certificate": pem})
    );

    // M18: the list, with the serial as OCPP writes it.
    let (status, body, _) = request(addr, "GET", CERTS, None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["certificates"][0]["type"], "CSMSRootCertificate");
    assert_eq!(body["certificates"][0]["serial"], "1f3a");
    let listed = body["certificates"][0].clone();
    let (status, body, _) = request(
        addr,
        "GET",
        &format!("{CERTS}?type=ManufacturerRootCertificate"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("NotFound")),
        "{body}"
    );
    let narrowed = sim.received_calls().pop().unwrap();
    assert_eq!(
        narrowed.payload,
        json!({"certificateType": ["ManufacturerRootCertificate"]})
    );

    // M20: delete by serial (any case, colons allowed); the hash data are the charger's.
    let (status, body, _) = request(
        addr,
        "DELETE",
        &format!("{CERTS}/1F:3A"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Accepted", "accepted": true}));
    let call = received(&sim, "DeleteCertificate").await;
    assert_eq!(call["certificateHashData"]["serialNumber"], "1f3a");
    assert_eq!(
        call["certificateHashData"]["issuerNameHash"],
        listed["issuer_name_hash"]
    );
    let (status, body, _) = request(
        addr,
        "DELETE",
        &format!("{CERTS}/1f3a"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn tc_m_05_tc_m_21_refusals_and_bad_input() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let pem = root(&[0x42]);
    let good = json!({"type": "ManufacturerRootCertificate", "certificate": pem});
    assert_eq!(post(addr, CERTS, good.clone()).await.0, 200);

    // M05 / M21: the charger refuses; its word is the answer.
    sim.set_reply_policy(ReplyPolicy::Reject);
    let (status, body) = post(addr, CERTS, good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Rejected");
    let (status, body, _) =
        request(addr, "DELETE", &format!("{CERTS}/42"), Some(OPERATOR), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Failed", "accepted": false}));
    sim.set_reply_policy(ReplyPolicy::Accept);

    let installs_before = sim
        .received_calls()
        .iter()
        .filter(|c| c.action == "InstallCertificate")
        .count();
    let garbage = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    for (body, field) in [
        (
            json!({"type": "V2GCertificateChain", "certificate": pem}),
            "type",
        ),
        (
            json!({"type": "CSMSRootCertificate", "certificate": "hello"}),
            "certificate",
        ),
        (
            json!({"type": "CSMSRootCertificate", "certificate": garbage}),
            "certificate",
        ),
        (
            json!({"type": "CSMSRootCertificate", "certificate": format!("{pem}{pem}")}),
            "certificate",
        ),
        (json!({"type": "CSMSRootCertificate"}), "certificate"),
        (
            json!({"type": "CSMSRootCertificate", "certificate": pem, "x": 1}),
            "x",
        ),
    ] {
        let (status, answer) = post(addr, CERTS, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let installs_after = sim
        .received_calls()
        .iter()
        .filter(|c| c.action == "InstallCertificate")
        .count();
    assert_eq!(
        installs_before, installs_after,
        "nothing bad reached the charger"
    );
    let (status, _, _) = request(addr, "POST", CERTS, Some(OPERATOR), Some("{")).await;
    assert_eq!(status, 400);
    let (status, _, _) = request(addr, "GET", &format!("{CERTS}?kind=x"), None, None).await;
    assert_eq!(status, 400);
    let (status, _, _) =
        request(addr, "DELETE", &format!("{CERTS}/zz"), Some(OPERATOR), None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn certificate_commands_need_a_token_and_a_2_0_1_charger_online() {
    let site = site(false);
    let daemon = site.start().await;
    let _sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let addr = daemon.http_addr;
    let good = json!({"type": "ManufacturerRootCertificate", "certificate": root(&[0x42])});
    let (status, _, _) = request(addr, "DELETE", &format!("{CERTS}/42"), None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = request(addr, "DELETE", &format!("{CERTS}/42"), Some(VIEWER), None).await;
    assert_eq!(status, 403);
    let offline = "/api/v1/chargers/CS201-2/certificates";
    assert_eq!(post(addr, offline, good.clone()).await.0, 409);
    let unknown = "/api/v1/chargers/CS-NOWHERE/certificates";
    assert_eq!(post(addr, unknown, good.clone()).await.0, 404);
    let v16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let (status, body) = post(addr, "/api/v1/chargers/CP16-1/certificates", good).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("2.0.1"), "{body}");
    assert!(
        v16.received_calls()
            .iter()
            .all(|c| !c.action.contains("Certificate"))
    );
}
