//! Certificate management of a 2.0.1 station over the HTTP API (issue 10, block M):
//! install a root, list what the charger holds, delete one by its serial number. Real
//! loopback HTTP and WebSocket to the real daemon with a simulated charger; what the
//! charger receives is checked against the official schemas. Named after the OCPP 2.0.1
//! certification cases (part 6, chapter 3, CSMS role) they cover.

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::ReplyPolicy;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SerialNumber};
use serde_json::json;

use crate::common::{connect_settled, schema_check};
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

// ---- The station's own certificate: SignCertificate -> CertificateSigned (block A) ----

/// A CA for security profile 3 whose key chargegate holds (`[csms] client-ca-key-file`).
struct Ca {
    issuer: rcgen::Issuer<'static, KeyPair>,
    der: rustls::pki_types::CertificateDer<'static>,
    pem: String,
}

impl Ca {
    fn new() -> (Self, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "depot charger CA");
        let cert = params.self_signed(&key).unwrap();
        let key_pem = key.serialize_pem();
        let ca = Self {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        };
        (ca, key_pem)
    }

    /// The TLS client config a charger uses: trusts this CA, with `client` (cert PEM, key
    /// PEM) as its certificate.
    fn client(&self, client: Option<(&str, &str)>) -> std::sync::Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        std::sync::Arc::new(match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![
                        rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap(),
                    ],
                    rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
        })
    }
}

/// The test site over TLS (the server certificate signed by the CA), with the CA as
/// `client-ca-file` and, when `signs`, its key as `client-ca-key-file`.
fn tls_site(ca: &Ca, ca_key: &str, signs: bool) -> crate::common::Site {
    let mut site = site(false);
    let dir = site.dir.path();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca.issuer)
        .unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(dir.join("ca-key.pem"), ca_key).unwrap();
    site.config.csms.tls = Some(chargegate::config::Tls {
        cert_file: dir.join("server.pem"),
        key_file: dir.join("server-key.pem"),
        client_ca_file: Some(dir.join("ca.pem")),
        client_ca_key_file: signs.then(|| dir.join("ca-key.pem")),
    });
    site
}

/// CS201-1 over wss, with its password (profile 2) or a client certificate (profile 3).
async fn connect_tls(
    daemon: &chargegate::daemon::Daemon,
    tls: std::sync::Arc<rustls::ClientConfig>,
    password: bool,
) -> Result<chargegate::sim::SimChargePoint, chargegate::sim::SimError> {
    let mut opts = chargegate::sim::SimOptions::new(
        format!("wss://{}/ocpp", daemon.csms_addr),
        "CS201-1",
        &[OcppVersion::V201],
    );
    opts.tls = Some(tls);
    opts.password = password.then(|| crate::common::PASSWORD.to_string());
    chargegate::sim::SimChargePoint::connect(opts).await
}

/// The PEM certificates of a chain, parsed: (DER blocks).
fn chain_blocks(chain: &str) -> Vec<x509_parser::pem::Pem> {
    x509_parser::pem::Pem::iter_from_buffer(chain.as_bytes())
        .map(|p| p.expect("PEM"))
        .collect()
}

/// The audit entries of `action`, newest first: (outcome, reason).
async fn audited(daemon: &chargegate::daemon::Daemon, action: &str) -> Vec<(String, String)> {
    let action = action.to_string();
    daemon
        .csms
        .store()
        .call(move |c| chargegate::store::audit_entries(c, Some("CS201-1"), Some(&action), 20))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.outcome, r.reason))
        .collect()
}

#[tokio::test]
async fn tc_a_11_csms_renew_the_station_certificate_by_trigger_message() {
    let (ca, ca_key) = Ca::new();
    let site = tls_site(&ca, &ca_key, true);
    let daemon = site.start().await;
    let sim = connect_tls(&daemon, ca.client(None), true)
        .await
        .expect("wss with Basic auth");
    assert_eq!(sim.boot().await.unwrap()["status"], "Accepted");

    // TriggerMessage SignChargingStationCertificate; the station sends its CSR.
    let (status, body) = post(
        daemon.http_addr,
        "/api/v1/chargers/CS201-1/trigger",
        json!({"message": "SignChargingStationCertificate"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Accepted");
    let trigger = received(&sim, "TriggerMessage").await;
    assert_eq!(
        trigger["requestedMessage"],
        "SignChargingStationCertificate"
    );

    // CertificateSigned: leaf for CS201-1 signed by the CA, then the CA.
    let signed = received(&sim, "CertificateSigned").await;
    assert_eq!(signed["certificateType"], "ChargingStationCertificate");
    let chain = signed["certificateChain"].as_str().unwrap();
    let blocks = chain_blocks(chain);
    assert_eq!(blocks.len(), 2, "{chain}");
    let leaf = blocks[0].parse_x509().unwrap();
    let root = blocks[1].parse_x509().unwrap();
    let cn = leaf.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "CS201-1");
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca.der).unwrap();
    assert_eq!(root.subject(), ca_cert.subject());
    leaf.verify_signature(Some(ca_cert.public_key()))
        .expect("the leaf verifies against the CA");
    assert!(!leaf.is_ca());
    assert!(
        leaf.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .client_auth
    );
    // The station installed it (answered Accepted), and the command is audited.
    for _ in 0..100 {
        if !audited(&daemon, "CertificateSigned").await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(sim.signed_chains(), vec![chain.to_string()]);
    let audit = audited(&daemon, "CertificateSigned").await;
    assert_eq!(audit[0].0, "accepted", "{audit:?}");
    let key = sim.certificate_key().unwrap();
    sim.close().await;

    // The new certificate passes the TLS client verifier (it chains to the CA) and the
    // handshake's CN check for CS201-1 (CS201-1 also has a password, so Basic auth is
    // still asked; a certificate for another id would be refused, tls.rs).
    let leaf_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64_lines(&blocks[0].contents)
    );
    let renewed = connect_tls(&daemon, ca.client(Some((&leaf_pem, &key))), true)
        .await
        .expect("the signed certificate is accepted for CS201-1");
    assert_eq!(renewed.boot().await.unwrap()["status"], "Accepted");
    renewed.close().await;
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn tc_a_14_csms_a_station_that_rejects_the_signed_certificate() {
    let (ca, ca_key) = Ca::new();
    let site = tls_site(&ca, &ca_key, true);
    let daemon = site.start().await;
    let sim = connect_tls(&daemon, ca.client(None), true).await.unwrap();
    // The station asks on its own (A03), then refuses what it gets.
    let answer = sim.sign_certificate(None).await.unwrap();
    schema_check::assert_valid("v201", "SignCertificate", true, &answer);
    assert_eq!(answer["status"], "Accepted");
    sim.set_reply_policy(ReplyPolicy::Reject);
    let signed = received(&sim, "CertificateSigned").await;
    assert_eq!(
        chain_blocks(signed["certificateChain"].as_str().unwrap()).len(),
        2
    );
    let mut audit = Vec::new();
    for _ in 0..100 {
        audit = audited(&daemon, "CertificateSigned").await;
        if !audit.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(audit[0].0, "rejected", "{audit:?}");
    assert!(sim.signed_chains().is_empty());
    // The connection carries on.
    assert!(sim.heartbeat().await.unwrap()["currentTime"].is_string());
}

#[tokio::test]
async fn a_csr_that_names_another_charger_is_refused_and_audited() {
    let (ca, ca_key) = Ca::new();
    let site = tls_site(&ca, &ca_key, true);
    let daemon = site.start().await;
    let sim = connect_tls(&daemon, ca.client(None), true).await.unwrap();
    let answer = sim.sign_certificate(Some("CS201-2")).await.unwrap();
    assert_eq!(answer["status"], "Accepted");
    let mut audit = Vec::new();
    for _ in 0..100 {
        audit = audited(&daemon, "CertificateSigned").await;
        if !audit.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].0, "not-sent");
    assert!(
        audit[0].1.contains("CN") && audit[0].1.contains("CS201-2"),
        "{audit:?}"
    );
    // A garbage CSR too; neither reaches the charger as a certificate.
    let garbage = sim
        .call("SignCertificate", json!({"csr": "not a request"}))
        .await
        .unwrap();
    assert_eq!(garbage["status"], "Accepted");
    for _ in 0..100 {
        if audited(&daemon, "CertificateSigned").await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(audited(&daemon, "CertificateSigned").await.len(), 2);
    assert!(
        sim.wait_for_call("CertificateSigned", std::time::Duration::from_millis(300))
            .await
            .is_none()
    );
    assert!(sim.heartbeat().await.is_ok());
}

#[tokio::test]
async fn sign_certificate_without_a_ca_key_is_rejected() {
    let site = site(false);
    let daemon = site.start().await;
    let sim = connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    let answer = sim.sign_certificate(None).await.unwrap();
    schema_check::assert_valid("v201", "SignCertificate", true, &answer);
    assert_eq!(answer["status"], "Rejected");
    assert!(
        sim.wait_for_call("CertificateSigned", std::time::Duration::from_millis(300))
            .await
            .is_none()
    );
    // A 1.6 charger has no TriggerMessage for it.
    let _cp16 = connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let (status, body) = post(
        daemon.http_addr,
        "/api/v1/chargers/CP16-1/trigger",
        json!({"message": "SignChargingStationCertificate"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
}
