//! `[upstream]`: where chargegate reports the site to and takes orders from.
//!
//! `[upstream.mqtt]` (issue 12) names a broker, how to log in to it, the topics and how much
//! telemetry to keep while it is out of reach. `[upstream.ocpp]` (issue 13, `ocpp.rs`)
//! names the cloud CSMS chargegate relays the chargers to as a Local Controller. Both may be
//! set together. Never performs IO: the files named here are checked by `files::check` and
//! read by the upstream tasks (`UpstreamMqtt::password`, `UpstreamOcpp::password`).

use std::path::PathBuf;

use self::url::parse_url;
use super::decode::Table;
use super::site::{is_site_id, quoted_prefix};

mod ocpp;
mod url;

pub use ocpp::UpstreamOcpp;
pub(super) use ocpp::read_password_keys;

const UPSTREAM_KEYS: &[&str] = &["mqtt", "ocpp"];
const MQTT_KEYS: &[&str] = &[
    "url",
    "client-id",
    "username",
    "password",
    "password-file",
    "ca-file",
    "client-cert-file",
    "client-key-file",
    "topic-prefix",
    "keep-alive-s",
    "telemetry-interval-s",
    "telemetry-retention-days",
];
const TLS_KEYS: &[&str] = &["ca-file", "client-cert-file", "client-key-file"];

/// The CA bundle an `mqtts://` broker's certificate is checked against without `ca-file`
/// (Debian's `ca-certificates` package).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

const DEFAULT_KEEP_ALIVE_S: u16 = 30;
const DEFAULT_TELEMETRY_INTERVAL_S: u32 = 60;
const DEFAULT_TELEMETRY_RETENTION_DAYS: u32 = 7;
/// MQTT 3.1.1 §3.1.3.1 obliges a broker to take 1 to 23 characters; every broker we know
/// takes more, and a site id (up to 64) must fit a hand-written one.
const MAX_CLIENT_ID_CHARS: usize = 64;
const MAX_TOPIC_PREFIX_BYTES: usize = 200;
/// An MQTT string carries a 16-bit length (MQTT 3.1.1 §1.5.3).
const MAX_MQTT_STRING_BYTES: usize = 65_535;

/// Estimated size of one offline site telemetry message, for `validate`'s worst case, in bytes.
const TELEMETRY_BASE_BYTES: u64 = 600;
const TELEMETRY_PER_CHARGER_BYTES: u64 = 250;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Upstream {
    /// `[upstream.mqtt]`
    pub mqtt: Option<UpstreamMqtt>,
    /// `[upstream.ocpp]`
    pub ocpp: Option<UpstreamOcpp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamMqtt {
    /// `url` as written (for display; it never holds credentials: a url with user:pass@ is
    /// refused with a hint to use username/password keys).
    pub url: String,
    /// `mqtts://` (TLS) rather than `mqtt://`.
    pub tls: bool,
    /// A DNS name or an IP address; an IPv6 address without its brackets.
    pub host: String,
    /// default 1883 for mqtt, 8883 for mqtts
    pub port: u16,
    /// `client-id`, default "chargegate-<site id>"; 1..=64 chars, [A-Za-z0-9_.-] (MQTT 3.1.1 §3.1.3.1)
    pub client_id: String,
    pub username: Option<String>,
    /// `password` or `password-file` (not both; password without username refused)
    pub password: Option<UpstreamPassword>,
    /// `ca-file`: CA certificates (PEM) that sign the broker's certificate (mqtts only;
    /// without it: the system bundle `SYSTEM_CA_BUNDLE`)
    pub ca_file: Option<PathBuf>,
    /// `client-cert-file` + `client-key-file` (both or neither; mqtts only): client certificate auth
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// `topic-prefix`, default "chargegate/<site id>": no `+`, `#`, NUL, no leading or trailing `/`,
    /// no empty level (`a//b`), at most 200 bytes
    pub topic_prefix: String,
    /// `keep-alive-s`, default 30, 5..=3600
    pub keep_alive_s: u16,
    /// `telemetry-interval-s`, default 60, 1..=86400
    pub telemetry_interval_s: u32,
    /// `telemetry-retention-days`, default 7, 1..=366: how long unsent site telemetry is kept while
    /// the broker is unreachable (transaction records are never dropped)
    pub telemetry_retention_days: u32,
}

/// A password toward a broker or a cloud CSMS: in the site file, or in a file of its own
/// (readable by the chargegate user only, so the site file can be shared with whoever
/// services the site).
#[derive(Clone, PartialEq, Eq)]
pub enum UpstreamPassword {
    Inline(String),
    File(PathBuf),
}

impl std::fmt::Debug for UpstreamPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in a debug log; where it lives is no secret.
        match self {
            UpstreamPassword::Inline(_) => f.write_str("Inline(***)"),
            UpstreamPassword::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl UpstreamMqtt {
    /// The password to send: the inline one, or the first line of password-file (trailing
    /// newline trimmed). Err: a message naming the file and what is wrong with it.
    pub fn password(&self) -> Result<Option<String>, String> {
        match &self.password {
            None => Ok(None),
            Some(UpstreamPassword::Inline(p)) => Ok(Some(p.clone())),
            Some(UpstreamPassword::File(path)) => {
                read_password_file(path, "the MQTT password").map(Some)
            }
        }
    }

    /// Worst-case number of telemetry messages kept offline: retention / interval.
    pub fn worst_case_telemetry_messages(&self) -> u64 {
        u64::from(self.telemetry_retention_days) * 86_400 / u64::from(self.telemetry_interval_s)
    }

    /// The broker as chargegate connects to it, with the port even when the url left it out.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// `validate`'s line: the broker, the topics and the worst case kept offline, for a
    /// site with `chargers` chargers (each adds to a telemetry message).
    pub(super) fn summary(&self, chargers: usize) -> String {
        let messages = self.worst_case_telemetry_messages();
        let per_message = TELEMETRY_BASE_BYTES + TELEMETRY_PER_CHARGER_BYTES * chargers as u64;
        format!(
            "upstream mqtt {} as {}, topics under {}, telemetry every {} s, kept {} days offline \
             (at most {messages} messages, about {} by estimate)",
            self.endpoint(),
            self.client_id,
            self.topic_prefix,
            self.telemetry_interval_s,
            self.telemetry_retention_days,
            about_bytes(messages.saturating_mul(per_message))
        )
    }
}

/// The first line of a password file (trailing newline trimmed); Err names the file
/// (`what`: which password it should hold) and what is wrong with it.
pub(super) fn read_password_file(path: &std::path::Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {what} from {}: {e}", path.display()))?;
    // `echo secret > file` ends in a newline, Windows editors in CRLF: neither is part
    // of the password.
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(format!(
            "{} holds no password on its first line (it should hold {what})",
            path.display()
        ));
    }
    Ok(first.to_string())
}

/// A size for a person: whole KiB, MiB or GiB (it is an estimate anyway).
fn about_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    let round = |unit: u64| (bytes + unit / 2) / unit;
    if bytes >= GIB {
        format!("{} GiB", round(GIB))
    } else if bytes >= MIB {
        format!("{} MiB", round(MIB))
    } else {
        format!("{} KiB", round(KIB).max(1))
    }
}

/// `[upstream]`: `[upstream.mqtt]` and/or `[upstream.ocpp]`, or nothing. `site_id` is `None` when `[site] id` did not
/// read (then the defaults cannot be made, and that problem is already reported).
pub(super) fn read_upstream(root: &Table<'_, '_>, site_id: Option<&str>) -> Option<Upstream> {
    let Some(t) = root.opt_table("upstream") else {
        return Some(Upstream::default());
    };
    let mqtt = t.opt_table("mqtt").map(|m| read_mqtt(&m, site_id));
    let ocpp = t.opt_table("ocpp").map(|o| ocpp::read_ocpp(&o, site_id));
    t.finish(UPSTREAM_KEYS);
    let mqtt = match mqtt {
        Some(m) => Some(m?),
        None => None,
    };
    let ocpp = match ocpp {
        Some(o) => Some(o?),
        None => None,
    };
    Some(Upstream { mqtt, ocpp })
}

fn read_mqtt(t: &Table<'_, '_>, site_id: Option<&str>) -> Option<UpstreamMqtt> {
    let url = t.req_str(
        "url",
        "the broker, e.g. url = \"mqtts://broker.example:8883\"",
    );
    let endpoint = url.as_deref().and_then(|url| match parse_url(url) {
        Ok(endpoint) => Some(endpoint),
        Err(bad) => {
            // A url with an '@' may hold a password: never repeat it.
            let shown = if url.contains('@') {
                "the url".to_string()
            } else {
                quoted_prefix(url)
            };
            t.problem("url", format!("{shown} {}", bad.message), Some(bad.hint));
            None
        }
    });
    let client_id = read_client_id(t, site_id);
    let (username, password) = read_credentials(t);
    let [ca_file, client_cert_file, client_key_file] =
        read_tls_files(t, endpoint.as_ref().map(|e| e.tls));
    let topic_prefix = read_topic_prefix(t, site_id);
    let keep_alive_s = t
        .opt_int("keep-alive-s", 5, 3600)
        .map_or(DEFAULT_KEEP_ALIVE_S, |v| v as u16);
    let telemetry_interval_s = t
        .opt_int("telemetry-interval-s", 1, 86_400)
        .map_or(DEFAULT_TELEMETRY_INTERVAL_S, |v| v as u32);
    let telemetry_retention_days = t
        .opt_int("telemetry-retention-days", 1, 366)
        .map_or(DEFAULT_TELEMETRY_RETENTION_DAYS, |v| v as u32);
    t.finish(MQTT_KEYS);
    let endpoint = endpoint?;
    Some(UpstreamMqtt {
        url: url?,
        tls: endpoint.tls,
        host: endpoint.host,
        port: endpoint.port,
        client_id: client_id?,
        username,
        password,
        ca_file,
        client_cert_file,
        client_key_file,
        topic_prefix: topic_prefix?,
        keep_alive_s,
        telemetry_interval_s,
        telemetry_retention_days,
    })
}

/// `client-id`, or `chargegate-<site id>`. The broker drops an older session with the same
/// id, so two gateways sharing one would keep throwing each other off.
fn read_client_id(t: &Table<'_, '_>, site_id: Option<&str>) -> Option<String> {
    let hint = || {
        Some(format!(
            "1 to {MAX_CLIENT_ID_CHARS} letters, digits, '-', '_' or '.', \
             different for every gateway on the broker"
        ))
    };
    if !t.has("client-id") {
        // A bad site id is reported at [site] id; its default client id would only repeat it.
        let site_id = site_id.filter(|id| is_site_id(id))?;
        let id = format!("chargegate-{site_id}");
        if !is_client_id(&id) {
            t.problem(
                "client-id",
                format!(
                    "the default client id, {id:?}, is longer than {MAX_CLIENT_ID_CHARS} characters"
                ),
                hint(),
            );
            return None;
        }
        return Some(id);
    }
    let id = t.opt_str("client-id")?;
    if !is_client_id(&id) {
        t.problem(
            "client-id",
            format!("{} is not an MQTT client id", quoted_prefix(&id)),
            hint(),
        );
        return None;
    }
    Some(id)
}

fn is_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `username` and `password` or `password-file`. A problem leaves the values as read: the
/// config is refused anyway.
fn read_credentials(t: &Table<'_, '_>) -> (Option<String>, Option<UpstreamPassword>) {
    let username = t.opt_str("username");
    if let Some(name) = &username
        && (name.is_empty()
            || name.len() > MAX_MQTT_STRING_BYTES
            || name.chars().any(char::is_control))
    {
        t.problem(
            "username",
            "a user name has 1 to 65535 bytes and no control characters",
            Some("remove username if the broker takes clients without a login".into()),
        );
    }
    let inline = t.opt_str("password");
    if let Some(p) = &inline
        && (p.is_empty() || p.len() > MAX_MQTT_STRING_BYTES)
    {
        t.problem(
            "password",
            "a password has 1 to 65535 bytes",
            Some("remove password if the broker needs none".into()),
        );
    }
    let file = opt_path(t, "password-file");
    let password = match (inline, file) {
        (Some(_), Some(_)) => {
            t.problem(
                "password-file",
                "password and password-file are both set",
                Some("keep one: password-file keeps the password out of the site file".into()),
            );
            None
        }
        (Some(p), None) => Some(UpstreamPassword::Inline(p)),
        (None, Some(path)) => Some(UpstreamPassword::File(path)),
        (None, None) => None,
    };
    if password.is_some() && !t.has("username") {
        let key = if t.has("password") {
            "password"
        } else {
            "password-file"
        };
        t.problem(
            key,
            "a password needs a username (MQTT 3.1.1 §3.1.2.9)",
            Some("set username to the broker login this password belongs to".into()),
        );
    }
    (username, password)
}

/// A file path key: absent, or a non-empty string (the file itself is `files::check`'s).
fn opt_path(t: &Table<'_, '_>, key: &str) -> Option<PathBuf> {
    let text = t.opt_str(key)?;
    if text.is_empty() {
        t.problem(
            key,
            "the file name is empty",
            Some("a path such as \"/etc/chargegate/mqtt/ca.pem\", or remove the key".into()),
        );
        return None;
    }
    Some(PathBuf::from(text))
}

/// `ca-file`, `client-cert-file`, `client-key-file`: TLS only (`tls` is `None` when the url
/// did not read), the client certificate and its key together.
fn read_tls_files(t: &Table<'_, '_>, tls: Option<bool>) -> [Option<PathBuf>; 3] {
    let [ca, cert, key] = [0, 1, 2].map(|i| opt_path(t, TLS_KEYS[i]));
    if tls == Some(false) {
        for key in TLS_KEYS.iter().filter(|k| t.has(k)) {
            t.problem(
                key,
                "needs mqtts://: the url is plain mqtt://, without TLS",
                Some(
                    "write the url as mqtts://HOST (TLS, port 8883 by default), or remove this key"
                        .into(),
                ),
            );
        }
    }
    match (&cert, &key) {
        (Some(_), None) => t.problem(
            "client-key-file",
            "client-cert-file is set but client-key-file is not",
            Some("a client certificate needs its private key: set both or neither".into()),
        ),
        (None, Some(_)) => t.problem(
            "client-cert-file",
            "client-key-file is set but client-cert-file is not",
            Some("a client certificate needs its private key: set both or neither".into()),
        ),
        _ => {}
    }
    [ca, cert, key]
}

/// `topic-prefix`, or `chargegate/<site id>`.
fn read_topic_prefix(t: &Table<'_, '_>, site_id: Option<&str>) -> Option<String> {
    if !t.has("topic-prefix") {
        // A site id has no '/', '+', '#' and at most 64 bytes: its default is a good prefix.
        return site_id
            .filter(|id| is_site_id(id))
            .map(|id| format!("chargegate/{id}"));
    }
    let prefix = t.opt_str("topic-prefix")?;
    if let Err(why) = check_topic_prefix(&prefix) {
        t.problem(
            "topic-prefix",
            format!("{} {why}", quoted_prefix(&prefix)),
            Some(
                "topic levels joined by '/', e.g. \"fleet/depot-nord\": no '+' or '#', \
                 no '/' at either end"
                    .into(),
            ),
        );
        return None;
    }
    Some(prefix)
}

/// The rules of MQTT 3.1.1 §4.7 for a topic chargegate publishes under, plus ours: the
/// topics below it are `<prefix>/<name>`, so a '/' at either end would make an empty level.
fn check_topic_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("is empty".into());
    }
    if prefix.len() > MAX_TOPIC_PREFIX_BYTES {
        return Err(format!("is longer than {MAX_TOPIC_PREFIX_BYTES} bytes"));
    }
    if prefix.contains(['+', '#']) {
        return Err("holds a wildcard ('+' or '#'), which cannot be published to".into());
    }
    // NUL is forbidden (§4.7.3), other control characters are best avoided (§1.5.3).
    if prefix.chars().any(char::is_control) {
        return Err("holds a control character".into());
    }
    if prefix.starts_with('/') || prefix.ends_with('/') {
        return Err("starts or ends with '/'".into());
    }
    if prefix.contains("//") {
        return Err("has an empty level ('//')".into());
    }
    if prefix.starts_with('$') {
        return Err("starts with '$', which brokers keep for themselves (§4.7.2)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
