//! A Mosquitto broker of the test's own (a child process on a free loopback port, with its
//! config, persistence and log in a temp folder) and a subscriber that records what the
//! broker delivers. It owns nothing of chargegate's: the upstream tests use it to stop,
//! kill and restart the broker under the daemon. It must never bind anything but
//! 127.0.0.1, and never leaves a broker running after the test (Drop kills it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};

/// How long a broker gets to open its port or to exit after SIGTERM: a cold start on a
/// loaded 2-core CI machine takes well under a second, so this only bounds a hung broker.
const BROKER_DEADLINE: Duration = Duration::from_secs(15);
/// Pause between two checks of a condition that has no event to await (a port opening, a
/// process exiting).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Debian's path; for users without /usr/sbin on PATH (CI as non-root) it is tried first.
fn mosquitto_bin() -> PathBuf {
    let sbin = Path::new("/usr/sbin/mosquitto");
    if sbin.exists() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("mosquitto")
    }
}

/// The PEM files of a TLS broker: its CA, its own certificate (SAN 127.0.0.1 and
/// localhost) and one client certificate signed by the same CA (CN `cg-test-client`,
/// which the broker takes as the username).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// The common name of the test client certificate.
pub const CLIENT_CN: &str = "cg-test-client";

impl TlsFiles {
    /// A fresh CA, server and client certificate, written to `dir` as PEM.
    fn generate(dir: &Path) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mosquitto test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA signs itself");
        let issuer = Issuer::new(ca_params, ca_key);
        let files = Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        write(&files.ca, &ca_cert.pem());
        let server = &["127.0.0.1", "localhost"];
        let (cert, key) = leaf(&issuer, server, ExtendedKeyUsagePurpose::ServerAuth);
        write(&files.server_cert, &cert);
        write(&files.server_key, &key);
        let (cert, key) = leaf(&issuer, &[CLIENT_CN], ExtendedKeyUsagePurpose::ClientAuth);
        write(&files.client_cert, &cert);
        write(&files.client_key, &key);
        files
    }

    /// A rustls client config that trusts the CA and presents the client certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&self.ca).expect("CA PEM"))
            .expect("CA is a certificate");
        let cert = CertificateDer::from_pem_file(&self.client_cert).expect("client PEM");
        let key = PrivateKeyDer::from_pem_file(&self.client_key).expect("client key PEM");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .expect("client certificate and key match");
        Arc::new(config)
    }
}

/// (certificate PEM, key PEM) for `names` (the first is also the CN), signed by `issuer`.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let sans: Vec<String> = names.iter().map(ToString::to_string).collect();
    let mut params = CertificateParams::new(sans).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("CA signs the leaf");
    (cert.pem(), key.serialize_pem())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A Mosquitto child process with its own folder; killed on drop.
#[derive(Debug)]
pub struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    tls: Option<TlsFiles>,
}

impl Broker {
    /// A plain MQTT broker on a free loopback port, accepting connections when this returns.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// A broker whose only listener is TLS and requires a client certificate signed by the
    /// generated CA (`tls_files()`), the certificate's CN being the username.
    pub async fn start_tls() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("broker temp dir");
        let tls = tls.then(|| TlsFiles::generate(dir.path()));
        let mut broker = Self {
            dir,
            port: 0,
            child: None,
            tls,
        };
        // The free port is found by binding and releasing it, so another process may take
        // it before Mosquitto binds: a few attempts on fresh ports.
        for _ in 0..5 {
            broker.port = free_port();
            broker.spawn();
            if broker.wait_up().await {
                return broker;
            }
        }
        panic!("mosquitto did not start:\n{}", broker.log());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certificate files of a `start_tls` broker.
    pub fn tls_files(&self) -> &TlsFiles {
        self.tls.as_ref().expect("a broker from start_tls")
    }

    /// `mqtt://127.0.0.1:<port>`, or `mqtts://` for a TLS broker.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, as systemd stops it, and waits for the exit, so that Mosquitto has saved its
    /// persistence (sessions, queued and retained messages).
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("the broker is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM to mosquitto");
        let deadline = Instant::now() + BROKER_DEADLINE;
        while child.try_wait().expect("wait on mosquitto").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mosquitto ignored SIGTERM:\n{}", self.log());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// SIGKILL: the broker saves nothing beyond its last autosave (every second).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The broker again on the same port with the same persistence folder, accepting
    /// connections when this returns.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop or kill the broker first");
        self.spawn();
        assert!(
            self.wait_up().await,
            "mosquitto did not start again on port {}:\n{}",
            self.port,
            self.log()
        );
    }

    /// Mosquitto's log (and its stderr), for a failure message.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "{}{}",
            read("mosquitto.log").unwrap_or_default(),
            read("mosquitto.out").unwrap_or_default()
        )
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let conf = dir.join("mosquitto.conf");
        write(&conf, &self.config_text());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("mosquitto.out"))
            .expect("mosquitto.out");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup mosquitto.out"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{e}: mosquitto is needed for the MQTT tests (Debian package mosquitto)")
            });
        self.child = Some(child);
    }

    fn config_text(&self) -> String {
        let dir = self.dir.path().display();
        // `user root`: run as root, Mosquitto otherwise drops to the `mosquitto` user, which
        // cannot write this root-owned temp folder; it is ignored when not run as root.
        // max_queued_messages: the default 1000 could drop a long drain for an offline
        // subscriber, which a test would misread as a loss by chargegate.
        let mut text = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {dir}/\n\
             autosave_interval 1\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type all\n\
             log_timestamp_format %H:%M:%S\n\
             connection_messages true\n\
             max_queued_messages 100000\n\
             user root\n",
            port = self.port
        );
        if let Some(tls) = &self.tls {
            text += &format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n\
                 use_identity_as_username true\n",
                tls.ca.display(),
                tls.server_cert.display(),
                tls.server_key.display()
            );
        }
        text
    }

    /// Waits until the port accepts; false if Mosquitto exited first (port taken).
    async fn wait_up(&mut self) -> bool {
        let deadline = Instant::now() + BROKER_DEADLINE;
        let child = self.child.as_mut().expect("spawned");
        loop {
            if child.try_wait().expect("wait on mosquitto").is_some() {
                self.child = None;
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return true;
            }
            if Instant::now() > deadline {
                panic!("mosquitto did not open port {}:\n{}", self.port, self.log());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One message as the subscriber received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The payload as JSON; panics with the topic and text when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// A subscriber with a persistent session (clean_session = false) at QoS 1: what is
/// published while it is disconnected waits at the broker. It reconnects by itself and
/// records every message in arrival order.
#[derive(Debug)]
pub struct Watcher {
    client: AsyncClient,
    messages: Arc<Mutex<Vec<Msg>>>,
    subscribed: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Connected and subscribed to `filter` (e.g. `t/x/#`) when this returns.
    pub async fn connect(port: u16, client_id: &str, filter: &str) -> Self {
        Self::connect_with(options(port, client_id), filter).await
    }

    /// As `connect`, over TLS with the broker's client certificate.
    pub async fn connect_tls(port: u16, client_id: &str, filter: &str, tls: &TlsFiles) -> Self {
        let mut opts = options(port, client_id);
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            tls.client_config(),
        )));
        Self::connect_with(opts, filter).await
    }

    async fn connect_with(opts: MqttOptions, filter: &str) -> Self {
        let (client, mut events) = AsyncClient::new(opts, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(Mutex::new(false));
        let task = {
            let (client, messages, subscribed) =
                (client.clone(), messages.clone(), subscribed.clone());
            let filter = filter.to_string();
            tokio::spawn(async move {
                loop {
                    match events.poll().await {
                        // A session the broker kept still holds the subscription (and a
                        // new SUBSCRIBE would resend the retained messages); a new one
                        // needs it. try_: awaiting here would stop the loop that drains
                        // the request channel.
                        Ok(Event::Incoming(Packet::ConnAck(ack))) if !ack.session_present => {
                            let _ = client.try_subscribe(filter.as_str(), QoS::AtLeastOnce);
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            *subscribed.lock().expect("not poisoned") = true;
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            messages.lock().expect("not poisoned").push(Msg {
                                topic: p.topic,
                                payload: p.payload.to_vec(),
                                retain: p.retain,
                            });
                        }
                        Ok(_) => {}
                        // Broker down: rumqttc reconnects on the next poll, which fails at
                        // once while the port is closed; the pause paces the retries.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        };
        let watcher = Self {
            client,
            messages,
            subscribed,
            task,
        };
        let deadline = Instant::now() + BROKER_DEADLINE;
        while !*watcher.subscribed.lock().expect("not poisoned") {
            assert!(Instant::now() < deadline, "no SUBACK for {filter}");
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        watcher
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<Msg> {
        self.messages.lock().expect("not poisoned").clone()
    }

    /// Waits until `done` holds for the messages received so far and returns them, or
    /// `None` after `within`.
    pub async fn try_wait_for(
        &self,
        done: impl Fn(&[Msg]) -> bool,
        within: Duration,
    ) -> Option<Vec<Msg>> {
        let deadline = Instant::now() + within;
        loop {
            let msgs = self.messages();
            if done(&msgs) {
                return Some(msgs);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// As `try_wait_for`, panicking with `what` and the messages received after `within`.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[Msg]) -> bool,
        within: Duration,
    ) -> Vec<Msg> {
        match self.try_wait_for(done, within).await {
            Some(msgs) => msgs,
            None => panic!("{what}: not within {within:?}; received:\n{}", self.dump()),
        }
    }

    /// The messages received, one line each, for a failure message.
    pub fn dump(&self) -> String {
        self.messages()
            .iter()
            .map(|m| format!("  {} (retain {}): {}", m.topic, m.retain, m.text()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Publishes at QoS 1, not retained (a command for chargegate).
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .expect("the watcher's event loop runs");
    }

    /// Publishes at QoS 1, retained.
    pub async fn publish_retained(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload.into())
            .await
            .expect("the watcher's event loop runs");
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn options(port: u16, client_id: &str) -> MqttOptions {
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_clean_session(false);
    opts.set_keep_alive(Duration::from_secs(5));
    // rumqttc's default limit is 10 KiB (CRATES.md); a site message can be larger.
    opts.set_max_packet_size(1 << 20, 1 << 20);
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(20);

    fn has(msgs: &[Msg], topic: &str, payload: &str) -> bool {
        msgs.iter()
            .any(|m| m.topic == topic && m.payload == payload.as_bytes() && m.retain)
    }

    /// The retained message comes to a watcher that subscribed after it was published, and
    /// again after a SIGTERM and restart (saved persistence), to a fresh watcher.
    #[tokio::test]
    async fn a_retained_message_survives_a_broker_stop_and_start_again() {
        let mut broker = Broker::start().await;
        let publisher = Watcher::connect(broker.port(), "harness-pub", "harness/none").await;
        publisher.publish_retained("harness/x/r", "kept").await;
        let watcher = Watcher::connect(broker.port(), "harness-sub", "harness/x/#").await;
        watcher
            .wait_for(
                "the retained message",
                |m| has(m, "harness/x/r", "kept"),
                WAIT,
            )
            .await;
        broker.stop().await;
        broker.start_again().await;
        let late = Watcher::connect(broker.port(), "harness-late", "harness/x/#").await;
        late.wait_for(
            "the retained message after a restart",
            |m| has(m, "harness/x/r", "kept"),
            WAIT,
        )
        .await;
        // The first watcher's session survived the restart, so it reconnects without a
        // new SUBSCRIBE: a message published now reaches it.
        publisher.publish("harness/x/after", "new").await;
        watcher
            .wait_for(
                "a message after the restart",
                |m| m.iter().any(|m| m.topic == "harness/x/after"),
                WAIT,
            )
            .await;
    }

    /// The TLS listener takes the generated client certificate.
    #[tokio::test]
    async fn a_tls_watcher_with_the_client_certificate_gets_its_message() {
        let broker = Broker::start_tls().await;
        let tls = broker.tls_files().clone();
        let watcher = Watcher::connect_tls(broker.port(), "harness-tls", "tls/#", &tls).await;
        watcher.publish("tls/m", "over tls").await;
        // Its own message, delivered to it as a live subscriber of `tls/#`.
        watcher
            .wait_for(
                "the message over TLS",
                |m| {
                    m.iter()
                        .any(|m| m.topic == "tls/m" && m.payload == b"over tls")
                },
                WAIT,
            )
            .await;
    }
}
