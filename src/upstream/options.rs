//! The rumqttc options for `[upstream.mqtt]`: identity, credentials, keep-alive, the last
//! will, packet sizes and, for `mqtts://`, a rustls client on the ring provider (the CA
//! file or the system's bundle; the client certificate when configured).

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{SYSTEM_CA_BUNDLE, UpstreamMqtt};

/// The largest message chargegate takes from the broker (commands are small).
const MAX_INCOMING_BYTES: usize = 64 * 1024;
/// The largest it sends: a long session's transaction with every signed meter value.
const MAX_OUTGOING_BYTES: usize = 8 * 1024 * 1024;
/// How many publishes may wait in rumqttc's request channel.
pub const REQUEST_CAPACITY: usize = 64;

/// The retained `status` payloads.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// The full topic of `topic` under the prefix.
pub fn topic(config: &UpstreamMqtt, topic: &str) -> String {
    format!("{}/{topic}", config.topic_prefix)
}

/// Why the options could not be made (a file changed since `validate`).
#[derive(Debug, thiserror::Error)]
#[error("[upstream.mqtt] {0}")]
pub struct OptionsError(String);

/// The client options. `clean_session` stays true: what the broker held for the last
/// session is not needed, the outbox holds every unacknowledged message and is sent again
/// from its oldest on every connection (CRATES.md: rumqttc drops them anyway).
pub fn mqtt_options(config: &UpstreamMqtt) -> Result<MqttOptions, OptionsError> {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options.set_keep_alive(Duration::from_secs(u64::from(config.keep_alive_s)));
    options.set_clean_session(true);
    options.set_max_packet_size(MAX_INCOMING_BYTES, MAX_OUTGOING_BYTES);
    options.set_request_channel_capacity(REQUEST_CAPACITY);
    options.set_last_will(LastWill::new(
        topic(config, "status"),
        OFFLINE,
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &config.username {
        let password = config.password().map_err(OptionsError)?.unwrap_or_default();
        options.set_credentials(user.clone(), password);
    }
    if config.tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(config)?),
        )));
    }
    Ok(options)
}

fn tls_config(config: &UpstreamMqtt) -> Result<rustls::ClientConfig, OptionsError> {
    client_tls(
        config.ca_file.as_deref(),
        config.client_cert_file.as_deref(),
        config.client_key_file.as_deref(),
    )
    .map_err(OptionsError)
}

/// A rustls client on the ring provider trusting `ca_file` (or the system's bundle), with
/// the client certificate when both files are given (both upstreams use it). Err: a
/// sentence naming the file.
pub fn client_tls(
    ca_file: Option<&std::path::Path>,
    client_cert_file: Option<&std::path::Path>,
    client_key_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, String> {
    let ca_path = ca_file.unwrap_or(std::path::Path::new(SYSTEM_CA_BUNDLE));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("ca-file {}: {e}", ca_path.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "ca-file {}: no usable CA certificate",
            ca_path.display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    match (client_cert_file, client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("client-cert-file {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client-key-file {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
