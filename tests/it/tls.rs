//! OCPP security profiles 2 (TLS + Basic auth) and 3 (TLS client certificates) over real
//! loopback sockets, with certificates made for the test.

use std::sync::Arc;

use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{SimChargePoint, SimError, SimOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::common::{PASSWORD, schema_check};

struct Pki {
    ca: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "chargegate test CA");
        let ca = params.self_signed(&key).unwrap().der().clone();
        Self {
            ca,
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM, certificate DER, key DER) for `names`.
    fn leaf(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (
        String,
        String,
        CertificateDer<'static>,
        PrivateKeyDer<'static>,
    ) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.pem(), key.serialize_pem(), cert.der().clone(), key_der)
    }

    fn ca_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.ca.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    fn client_config(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

fn site(dir: &std::path::Path, pki: &Pki) -> chargegate::config::Config {
    let (cert, key, _, _) = pki.leaf(
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
    let text = format!(
        r#"
[site]
id = "tls-depot"
grid-limit-a = 100
worst-case-load-a = 20

[csms]
listen = "127.0.0.1:0"
tls-cert-file = "{d}/cert.pem"
tls-key-file = "{d}/key.pem"
client-ca-file = "{d}/ca.pem"

[http]
listen = "127.0.0.1:0"

[store]
path = "{d}/chargegate.db"

[[charger]]
id = "CP-PASSWORD"
password = "{PASSWORD}"
max-current-a = 16

[[charger]]
id = "CP-CERT"
max-current-a = 16
"#,
        d = dir.display()
    );
    chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

fn options(
    daemon: &chargegate::daemon::Daemon,
    id: &str,
    tls: Arc<rustls::ClientConfig>,
) -> SimOptions {
    let mut opts = SimOptions::new(
        format!("wss://{}/ocpp", daemon.csms_addr),
        id,
        &[OcppVersion::V201, OcppVersion::V16],
    );
    opts.tls = Some(tls);
    opts
}

#[tokio::test]
async fn profile_2_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let daemon = chargegate::daemon::start(&site(dir.path(), &pki))
        .await
        .unwrap();

    let mut opts = options(&daemon, "CP-PASSWORD", pki.client_config(None));
    opts.password = Some(PASSWORD.into());
    let sim = SimChargePoint::connect(opts)
        .await
        .expect("wss with Basic auth");
    let boot = sim.boot().await.unwrap();
    schema_check::assert_valid("v201", "BootNotification", true, &boot);
    assert_eq!(boot["status"], "Accepted");
    sim.close().await;

    let mut wrong = options(&daemon, "CP-PASSWORD", pki.client_config(None));
    wrong.password = Some("not-the-password".into());
    assert!(matches!(
        SimChargePoint::connect(wrong).await,
        Err(SimError::Handshake { status: 401, .. })
    ));

    // A plain ws:// client on the TLS port gets no WebSocket.
    let plain = SimOptions::new(
        format!("ws://{}/ocpp", daemon.csms_addr),
        "CP-PASSWORD",
        &[OcppVersion::V16],
    );
    assert!(SimChargePoint::connect(plain).await.is_err());
    daemon.stop().await;
}

#[tokio::test]
async fn profile_3_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let daemon = chargegate::daemon::start(&site(dir.path(), &pki))
        .await
        .unwrap();

    let (_, _, cert, key) = pki.leaf(&["CP-CERT"], ExtendedKeyUsagePurpose::ClientAuth);
    let sim = SimChargePoint::connect(options(
        &daemon,
        "CP-CERT",
        pki.client_config(Some((cert, key))),
    ))
    .await
    .expect("wss with a client certificate");
    assert_eq!(sim.boot().await.unwrap()["status"], "Accepted");
    sim.close().await;

    // The same charger without a certificate (and no password configured) is refused.
    let refused =
        SimChargePoint::connect(options(&daemon, "CP-CERT", pki.client_config(None))).await;
    assert!(
        matches!(refused, Err(SimError::Handshake { status: 401, .. })),
        "{:?}",
        refused.map(|s| s.version())
    );

    // A valid certificate of another charger does not open this charger's URL.
    let (_, _, cert, key) = pki.leaf(&["CP-PASSWORD"], ExtendedKeyUsagePurpose::ClientAuth);
    let other = SimChargePoint::connect(options(
        &daemon,
        "CP-CERT",
        pki.client_config(Some((cert, key))),
    ))
    .await;
    assert!(
        matches!(other, Err(SimError::Handshake { status: 401, .. })),
        "{:?}",
        other.map(|s| s.version())
    );

    // A certificate from another CA fails the TLS handshake.
    let stranger = Pki::new();
    // Trust our server, present the stranger's client certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let (_, _, cert, key) = stranger.leaf(&["CP-CERT"], ExtendedKeyUsagePurpose::ClientAuth);
    let foreign_client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .unwrap(),
    );
    assert!(
        SimChargePoint::connect(options(&daemon, "CP-CERT", foreign_client))
            .await
            .is_err()
    );
    daemon.stop().await;
}
