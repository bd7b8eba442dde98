//! `[upstream.ocpp]` (issue 13): the cloud CSMS chargegate stands in front of as an OCPP
//! Local Controller (OCPP 2.0.1 Part 1 §8.3, Part 4 §6), and how it logs in there under its
//! own identity. The per-charger password toward the cloud is `[[charger]]
//! upstream-password`, read in `config::charger`. Never performs IO: the files named here
//! are checked by `files::check` and read by the upstream task (`UpstreamOcpp::password`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::{UpstreamPassword, opt_path, read_password_file};
use crate::config::decode::Table;
use crate::config::http::is_host_name;
use crate::config::site::quoted_prefix;
use crate::ocpp::model::OcppVersion;
use crate::units::ChargerId;

pub(super) const OCPP_KEYS: &[&str] = &[
    "url",
    "identity",
    "version",
    "password",
    "password-file",
    "ca-file",
    "client-cert-file",
    "client-key-file",
    "call-timeout-s",
];
const TLS_KEYS: &[&str] = &["ca-file", "client-cert-file", "client-key-file"];

const DEFAULT_CALL_TIMEOUT_S: u32 = 30;
/// OCPP 2.0.1 BasicAuthPassword is a passwordString of at most 40 characters and 1.6's
/// AuthorizationKey 40 hex digits; a cloud may take longer ones, but not unbounded ones.
const MAX_PASSWORD_CHARS: usize = 256;

const URL_FORM: &str = "write ws://HOST[:PORT]/PATH (plain) or wss://HOST[:PORT]/PATH (TLS), \
                        the cloud's OCPP endpoint without the station id, \
                        e.g. \"wss://cloud.example/ocpp\"";

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamOcpp {
    /// `url` as written, without a trailing '/': ws:// or wss:// only, no query, no fragment,
    /// no credentials in it. Each charger connects as `<url>/<charger-id>`, chargegate as
    /// `<url>/<identity>` (ids percent-encoded: `endpoint_for`).
    pub url: String,
    /// `wss://` (TLS) rather than `ws://`.
    pub tls: bool,
    /// `identity`, default `[site] id`; a valid OCPP identity (the charger id rule).
    pub identity: String,
    /// `version` of chargegate's own connection: "2.0.1" (default) or "1.6".
    pub version: OcppVersion,
    /// `password` or `password-file` (not both): the Basic auth password of `identity`.
    pub password: Option<UpstreamPassword>,
    /// `ca-file`: CA certificates (PEM) that sign the cloud's certificate (wss only;
    /// without it: the system bundle `SYSTEM_CA_BUNDLE`).
    pub ca_file: Option<PathBuf>,
    /// `client-cert-file` + `client-key-file` (both or neither; wss only): client
    /// certificate auth (security profile 3).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// `call-timeout-s`, default 30, 1..=300: how long the cloud may take to answer.
    pub call_timeout_s: u32,
}

impl UpstreamOcpp {
    /// The password of chargegate's own identity: the inline one, or the first line of
    /// password-file. Err: a message naming the file and what is wrong with it.
    pub fn password(&self) -> Result<Option<String>, String> {
        match &self.password {
            None => Ok(None),
            Some(UpstreamPassword::Inline(p)) => Ok(Some(p.clone())),
            Some(UpstreamPassword::File(path)) => {
                read_password_file(path, "the OCPP upstream password").map(Some)
            }
        }
    }

    /// The WebSocket url a station `id` (a charger's id or `identity`) connects to:
    /// `<url>/<id>` with the id percent-encoded (RFC 3986 §2.1; an OCPP identity may hold
    /// ':', '*', '|' and '@', which a path segment must not carry raw).
    pub fn endpoint_for(&self, id: &str) -> String {
        format!("{}/{}", self.url, crate::units::path_segment(id))
    }

    /// `validate`'s line, for a site whose chargers have `with_password` upstream passwords
    /// among `chargers`.
    pub(in crate::config) fn summary(&self, chargers: usize, with_password: usize) -> String {
        let version = match self.version {
            OcppVersion::V16 => "1.6",
            OcppVersion::V201 => "2.0.1",
        };
        format!(
            "upstream: OCPP Local Controller toward {} as {} (OCPP {version}); \
             {chargers} chargers relayed, {with_password} with a password",
            self.url, self.identity
        )
    }
}

pub(super) fn read_ocpp(t: &Table<'_, '_>, site_id: Option<&str>) -> Option<UpstreamOcpp> {
    let url = t
        .req_str(
            "url",
            "the cloud's OCPP endpoint, e.g. url = \"wss://cloud.example/ocpp\"",
        )
        .and_then(|url| match parse_ws_url(&url) {
            Ok(parsed) => Some(parsed),
            Err((message, hint)) => {
                // A url with an '@' may hold a password: never repeat it.
                let shown = if url.contains('@') {
                    "the url".to_string()
                } else {
                    quoted_prefix(&url)
                };
                t.problem("url", format!("{shown} {message}"), Some(hint));
                None
            }
        });
    let identity = read_identity(t, site_id);
    let version = read_version(t);
    let password = read_password(t, identity.as_deref());
    let [ca_file, client_cert_file, client_key_file] =
        read_tls_files(t, url.as_ref().map(|(_, tls)| *tls));
    let call_timeout_s = t
        .opt_int("call-timeout-s", 1, 300)
        .map_or(DEFAULT_CALL_TIMEOUT_S, |v| v as u32);
    t.finish(OCPP_KEYS);
    let (url, tls) = url?;
    Some(UpstreamOcpp {
        url,
        tls,
        identity: identity?,
        version: version?,
        password,
        ca_file,
        client_cert_file,
        client_key_file,
        call_timeout_s,
    })
}

/// `ws[s]://HOST[:PORT][/PATH]` without a trailing '/': the url and whether it is TLS.
/// Err: the message (to follow the url) and the hint.
fn parse_ws_url(url: &str) -> Result<(String, bool), (String, String)> {
    let bad = |m: &str, h: &str| (m.to_string(), h.to_string());
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("is not a URL", URL_FORM));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "ws" => false,
        "wss" => true,
        "http" | "https" => {
            return Err(bad(
                "has an HTTP scheme",
                "OCPP-J runs over WebSocket: write ws:// for http:// and wss:// for https://",
            ));
        }
        _ => return Err(bad("has a scheme other than ws or wss", URL_FORM)),
    };
    // The authority ends at the first '/', '?' or '#' (RFC 3986 §3.2).
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(bad(
            "holds a user name or password (an '@')",
            "put the password in password (or password-file), never in the url: the url is \
             shown in logs and summaries, and the user is always the station's identity",
        ));
    }
    if tail.contains(['?', '#']) {
        return Err(bad(
            "has a query or fragment",
            "chargegate appends /<station id> to the url, which a query or fragment would break",
        ));
    }
    if tail.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(
            "has a space or control character in its path",
            URL_FORM,
        ));
    }
    check_authority(authority)?;
    let path = tail.trim_end_matches('/');
    Ok((format!("{scheme}://{authority}{path}"), tls))
}

/// HOST[:PORT] with HOST a DNS name, an IPv4 address or an IPv6 address in brackets.
fn check_authority(authority: &str) -> Result<(), (String, String)> {
    let bad = |m: String| (m, URL_FORM.to_string());
    let (host_ok, port) = if let Some(inner) = authority.strip_prefix('[') {
        let Some((ip, after)) = inner.split_once(']') else {
            return Err(bad("has a '[' without its ']'".into()));
        };
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| bad("has something after ']' that is not :PORT".into()))?,
            ),
        };
        (ip.parse::<Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(bad("has no host".into()));
        }
        let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let ok = if numeric {
            host.parse::<Ipv4Addr>().is_ok()
        } else {
            is_host_name(host)
        };
        (ok, port)
    };
    if !host_ok {
        return Err(bad(format!(
            "has {} as host, which is neither a name nor an IP address",
            quoted_prefix(authority)
        )));
    }
    if let Some(port) = port {
        let good =
            port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !good {
            return Err(bad(format!(
                "has {} as port, not 1 to 65535",
                quoted_prefix(port)
            )));
        }
    }
    Ok(())
}

/// `identity`, or the site id: the station id chargegate has at the cloud.
fn read_identity(t: &Table<'_, '_>, site_id: Option<&str>) -> Option<String> {
    let hint = || {
        Some(format!(
            "the station id the cloud knows chargegate by: {}",
            ChargerId::rule()
        ))
    };
    if !t.has("identity") {
        // A bad site id is reported at [site] id.
        let id = site_id?;
        if let Err(e) = ChargerId::new(id) {
            t.problem(
                "identity",
                format!("the default identity, the site id {id:?}, is no OCPP identity: {e}"),
                hint(),
            );
            return None;
        }
        return Some(id.to_string());
    }
    let id = t.opt_str("identity")?;
    if let Err(e) = ChargerId::new(id.as_str()) {
        t.problem(
            "identity",
            format!("{} is no OCPP identity: {e}", quoted_prefix(&id)),
            hint(),
        );
        return None;
    }
    Some(id)
}

fn read_version(t: &Table<'_, '_>) -> Option<OcppVersion> {
    let Some(text) = t.opt_str("version") else {
        // Absent (or of the wrong type, reported): 2.0.1, the Local Controller's own version.
        return (!t.has("version")).then_some(OcppVersion::V201);
    };
    match text.as_str() {
        "2.0.1" => Some(OcppVersion::V201),
        "1.6" => Some(OcppVersion::V16),
        _ => {
            t.problem(
                "version",
                format!(
                    "{} is not an OCPP version chargegate speaks",
                    quoted_prefix(&text)
                ),
                Some("\"2.0.1\" or \"1.6\"".into()),
            );
            None
        }
    }
}

/// `password` or `password-file` for `identity`.
fn read_password(t: &Table<'_, '_>, identity: Option<&str>) -> Option<UpstreamPassword> {
    let password = read_password_keys(t, "password", "password-file");
    if password.is_some()
        && let Some(id) = identity
        && id.contains(':')
    {
        // RFC 7617 §2: the Basic user-id cannot contain a colon.
        let key = if t.has("password") {
            "password"
        } else {
            "password-file"
        };
        t.problem(
            key,
            format!("identity {id} contains ':', which Basic auth cannot carry"),
            Some("choose an identity without ':', or log in by client certificate".into()),
        );
    }
    password
}

/// `inline_key` or `file_key` (not both), for the `[upstream.ocpp]` password and a
/// charger's `upstream-password`. A problem leaves `None`: the config is refused anyway.
pub(in crate::config) fn read_password_keys(
    t: &Table<'_, '_>,
    inline_key: &str,
    file_key: &str,
) -> Option<UpstreamPassword> {
    let inline = t.opt_str(inline_key);
    // Read before any refusal, so that a bad password is not also reported as an unknown key.
    let file = opt_path(t, file_key);
    if let Some(p) = &inline
        && (p.is_empty()
            || p.chars().count() > MAX_PASSWORD_CHARS
            || p.chars().any(char::is_control))
    {
        t.problem(
            inline_key,
            format!(
                "a password has 1 to {MAX_PASSWORD_CHARS} characters and no control characters"
            ),
            Some(format!("remove {inline_key} if the cloud needs none")),
        );
        return None;
    }
    match (inline, file) {
        (Some(_), Some(_)) => {
            t.problem(
                file_key,
                format!("{inline_key} and {file_key} are both set"),
                Some(format!(
                    "keep one: {file_key} keeps the password out of the site file"
                )),
            );
            None
        }
        (Some(p), None) => Some(UpstreamPassword::Inline(p)),
        (None, Some(path)) => Some(UpstreamPassword::File(path)),
        (None, None) => None,
    }
}

/// `ca-file`, `client-cert-file`, `client-key-file`: wss only (`tls` is `None` when the url
/// did not read), the client certificate and its key together.
fn read_tls_files(t: &Table<'_, '_>, tls: Option<bool>) -> [Option<PathBuf>; 3] {
    let [ca, cert, key] = [0, 1, 2].map(|i| opt_path(t, TLS_KEYS[i]));
    if tls == Some(false) {
        for key in TLS_KEYS.iter().filter(|k| t.has(k)) {
            t.problem(
                key,
                "needs wss://: the url is plain ws://, without TLS",
                Some("write the url as wss://HOST/PATH, or remove this key".into()),
            );
        }
    }
    let both = "a client certificate needs its private key: set both or neither";
    match (&cert, &key) {
        (Some(_), None) => t.problem(
            "client-key-file",
            "client-cert-file is set but client-key-file is not",
            Some(both.into()),
        ),
        (None, Some(_)) => t.problem(
            "client-cert-file",
            "client-key-file is set but client-cert-file is not",
            Some(both.into()),
        ),
        _ => {}
    }
    [ca, cert, key]
}

#[cfg(test)]
mod tests;
