//! `[upstream.mqtt] url`: `mqtt[s]://HOST[:PORT][/]`, by hand: the `url` crate is not a
//! dependency, and the form is small. Pure; the problem's wording around it is the caller's.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::http::is_host_name;
use crate::config::site::quoted_prefix;

const DEFAULT_MQTT_PORT: u16 = 1883;
const DEFAULT_MQTTS_PORT: u16 = 8883;

/// Where `url` points.
#[derive(Debug, PartialEq)]
pub(super) struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// Why a url is refused, to follow the url in a problem.
#[derive(Debug)]
pub(super) struct BadUrl {
    pub message: String,
    pub hint: String,
}

const URL_FORM: &str = "write mqtt://HOST:PORT (plain) or mqtts://HOST:PORT (TLS), \
                        e.g. \"mqtts://broker.example:8883\"";

fn bad(message: impl Into<String>, hint: impl Into<String>) -> BadUrl {
    BadUrl {
        message: message.into(),
        hint: hint.into(),
    }
}

/// `mqtt[s]://HOST[:PORT][/]`: HOST a DNS name, an IPv4 address or an IPv6 address in
/// brackets (RFC 3986 §3.2.2).
pub(super) fn parse_url(url: &str) -> Result<Endpoint, BadUrl> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("is not a URL", URL_FORM));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" => false,
        "mqtts" => true,
        "tcp" => {
            return Err(bad(
                "has scheme tcp",
                "write mqtt:// for a plain connection",
            ));
        }
        s @ ("ssl" | "tls") => {
            return Err(bad(format!("has scheme {s}"), "write mqtts:// for TLS"));
        }
        "ws" | "wss" => {
            return Err(bad(
                "is MQTT over WebSocket, which chargegate does not speak",
                "most brokers also listen on mqtt:// (port 1883) and mqtts:// (port 8883)",
            ));
        }
        _ => return Err(bad("has a scheme other than mqtt or mqtts", URL_FORM)),
    };
    if rest.contains('@') {
        return Err(bad(
            "holds a user name or password (an '@')",
            "put them in username and password (or password-file), never in the url: \
             the url is shown in logs and summaries",
        ));
    }
    // The authority ends at the first '/', '?' or '#' (RFC 3986 §3.2).
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !tail.is_empty() && tail != "/" {
        return Err(bad(
            "has a path, query or fragment",
            "an MQTT url is only the broker: mqtts://HOST:PORT; topics go in topic-prefix",
        ));
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None if tls => DEFAULT_MQTTS_PORT,
        None => DEFAULT_MQTT_PORT,
        Some(text) => parse_port(text)?,
    };
    Ok(Endpoint { tls, host, port })
}

/// The host (an IPv6 address without brackets) and the port text, if any.
fn split_host_port(authority: &str) -> Result<(String, Option<&str>), BadUrl> {
    const IPV6_FORM: &str = "an IPv6 address goes in brackets: mqtt://[2001:db8::1]:1883";
    if let Some(inner) = authority.strip_prefix('[') {
        let Some((ip, after)) = inner.split_once(']') else {
            return Err(bad("has a '[' without its ']'", IPV6_FORM));
        };
        if ip.parse::<Ipv6Addr>().is_err() {
            return Err(bad("has no IPv6 address in its brackets", IPV6_FORM));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| bad("has something after ']' that is not :PORT", IPV6_FORM))?,
            ),
        };
        return Ok((ip.to_string(), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => {
            return Err(bad("has more than one ':'", IPV6_FORM));
        }
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(bad("has no host", URL_FORM));
    }
    let looks_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let good = if looks_numeric {
        host.parse::<Ipv4Addr>().is_ok()
    } else {
        is_host_name(host)
    };
    if !good {
        return Err(bad(
            format!(
                "has {} as host, which is neither a name nor an IP address",
                quoted_prefix(host)
            ),
            URL_FORM,
        ));
    }
    Ok((host.to_string(), port))
}

fn parse_port(text: &str) -> Result<u16, BadUrl> {
    // `u16::from_str` takes a leading '+', a url does not.
    let port = text
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .filter(|p| *p != 0);
    port.ok_or_else(|| {
        bad(
            format!("has {} as port", quoted_prefix(text)),
            "a port is 1 to 65535; mqtt:// uses 1883 and mqtts:// 8883 unless the broker says otherwise",
        )
    })
}
