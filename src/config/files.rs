//! The checks of a config against the machine it runs on: the files it names can be read
//! and the store's folder written (issue 17: `validate` passed configs that `run` then
//! refused). `load` runs them, so `validate` and `run` both do; `parse` (a config text
//! alone, as in tests) does not.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::decode::Table;
use super::upstream::SYSTEM_CA_BUNDLE;
use super::{Config, UpstreamMqtt, UpstreamOcpp, UpstreamPassword};

/// Checks the TLS files under `[csms]`, `[upstream.mqtt]` and `[upstream.ocpp]`, the
/// upstream password files (the chargers' too) and the store's folder.
pub(super) fn check(root: &Table<'_, '_>, config: &Config) {
    if let (Some(mqtt), Some(t)) = (
        &config.upstream.mqtt,
        root.opt_table("upstream").and_then(|u| u.opt_table("mqtt")),
    ) {
        check_mqtt(&t, mqtt);
    }
    if let (Some(ocpp), Some(t)) = (
        &config.upstream.ocpp,
        root.opt_table("upstream").and_then(|u| u.opt_table("ocpp")),
    ) {
        check_ocpp(&t, ocpp);
    }
    // `[[charger]]` tables are read in order into `config.chargers`.
    for (t, charger) in root.tables("charger").iter().zip(&config.chargers) {
        if matches!(charger.upstream_password, Some(UpstreamPassword::File(_)))
            && let Err(e) = charger.upstream_password()
        {
            t.problem(
                "upstream-password-file",
                e,
                Some(
                    "the password on the first line, the file readable by the chargegate user"
                        .into(),
                ),
            );
        }
    }
    if let (Some(tls), Some(csms)) = (&config.csms.tls, root.opt_table("csms")) {
        if let Err(e) = certificates(&tls.cert_file) {
            csms.problem("tls-cert-file", e, None);
        }
        if let Err(e) = PrivateKeyDer::from_pem_file(&tls.key_file) {
            csms.problem(
                "tls-key-file",
                format!(
                    "cannot read a private key from {}: {e}",
                    tls.key_file.display()
                ),
                Some("a PEM file with one PKCS#8, PKCS#1 or SEC1 key".into()),
            );
        }
        if let Some(ca) = &tls.client_ca_file
            && let Err(e) = certificates(ca)
        {
            csms.problem("client-ca-file", e, None);
        } else if let (Some(ca), Some(key)) = (&tls.client_ca_file, &tls.client_ca_key_file)
            && let Err(e) = crate::csms::signing::CertificateAuthority::load(ca, key)
        {
            csms.problem(
                "client-ca-key-file",
                e,
                Some(
                    "a PEM PKCS#8 key (BEGIN PRIVATE KEY) of a certificate in client-ca-file"
                        .into(),
                ),
            );
        }
    }
    if let Err(e) = writable_folder_of(&config.store.path) {
        let message = format!(
            "the database {} cannot be written: {e}",
            config.store.path.display()
        );
        let hint = Some("create the folder and give it to the chargegate user".to_string());
        match root.opt_table("store") {
            Some(t) => t.problem("path", message, hint),
            None => root.problem("store", message, hint),
        }
    }
}

/// `[upstream.mqtt]`: the CA (or the system bundle in its place), the client certificate
/// and key, the password file.
fn check_mqtt(t: &Table<'_, '_>, mqtt: &UpstreamMqtt) {
    if let Some(ca) = &mqtt.ca_file {
        if let Err(e) = certificates(ca) {
            t.problem(
                "ca-file",
                e,
                Some(
                    "a PEM file with the CA certificates that sign the broker's certificate".into(),
                ),
            );
        }
    } else if mqtt.tls
        && let Err(e) = certificates(Path::new(SYSTEM_CA_BUNDLE))
    {
        // Without ca-file the broker's certificate is checked against the system's CAs:
        // missing, every connection would fail.
        t.problem(
            "url",
            format!("mqtts:// without ca-file uses the system's CA certificates, but {e}"),
            Some("install the ca-certificates package, or set ca-file to the broker's CA".into()),
        );
    }
    if let Some(cert) = &mqtt.client_cert_file
        && let Err(e) = certificates(cert)
    {
        t.problem("client-cert-file", e, None);
    }
    if let Some(key) = &mqtt.client_key_file
        && let Err(e) = PrivateKeyDer::from_pem_file(key)
    {
        t.problem(
            "client-key-file",
            format!("cannot read a private key from {}: {e}", key.display()),
            Some("a PEM file with one PKCS#8, PKCS#1 or SEC1 key".into()),
        );
    }
    if matches!(mqtt.password, Some(UpstreamPassword::File(_)))
        && let Err(e) = mqtt.password()
    {
        t.problem(
            "password-file",
            e,
            Some("the password on the first line, the file readable by the chargegate user".into()),
        );
    }
}

/// `[upstream.ocpp]`: the CA (or the system bundle in its place), the client certificate
/// and key, the password file.
fn check_ocpp(t: &Table<'_, '_>, ocpp: &UpstreamOcpp) {
    if let Some(ca) = &ocpp.ca_file {
        if let Err(e) = certificates(ca) {
            let hint = "a PEM file with the CA certificates that sign the cloud's certificate";
            t.problem("ca-file", e, Some(hint.into()));
        }
    } else if ocpp.tls
        && let Err(e) = certificates(Path::new(SYSTEM_CA_BUNDLE))
    {
        // Without ca-file the cloud's certificate is checked against the system's CAs.
        t.problem(
            "url",
            format!("wss:// without ca-file uses the system's CA certificates, but {e}"),
            Some("install the ca-certificates package, or set ca-file to the cloud's CA".into()),
        );
    }
    if let Some(cert) = &ocpp.client_cert_file
        && let Err(e) = certificates(cert)
    {
        t.problem("client-cert-file", e, None);
    }
    if let Some(key) = &ocpp.client_key_file
        && let Err(e) = PrivateKeyDer::from_pem_file(key)
    {
        t.problem(
            "client-key-file",
            format!("cannot read a private key from {}: {e}", key.display()),
            Some("a PEM file with one PKCS#8, PKCS#1 or SEC1 key".into()),
        );
    }
    if matches!(ocpp.password, Some(UpstreamPassword::File(_)))
        && let Err(e) = ocpp.password()
    {
        t.problem(
            "password-file",
            e,
            Some("the password on the first line, the file readable by the chargegate user".into()),
        );
    }
}

/// At least one PEM certificate from `path`.
fn certificates(path: &Path) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(())
}

/// Whether the database's folder (or, when it does not exist yet, the nearest existing
/// folder above it, where `run` creates it) takes a new file: tried by creating and
/// removing one, the only test that holds for every user, mount and ACL.
fn writable_folder_of(database: &Path) -> Result<(), String> {
    let mut folder = database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    while !folder.exists() {
        folder = folder.parent().unwrap_or(Path::new("/"));
    }
    if !folder.is_dir() {
        return Err(format!("{} is not a folder", folder.display()));
    }
    let probe = folder.join(format!(".chargegate-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("{}: {e}", folder.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
