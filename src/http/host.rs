//! The Host allow-list (issue 17): a web page the operator's browser loads from elsewhere
//! could resolve its own name to the gateway's address (DNS rebinding) and read the API
//! with the browser's LAN access. Such a request always carries the attacker's name in
//! `Host`; chargegate answers only requests addressed to it: an IP literal (the attacker
//! cannot make a browser send one for its own origin), `localhost`, or a name listed in
//! `[http] allowed-hosts`.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{HttpState, error};

/// Whether a request with this `Host` header value is addressed to chargegate.
pub fn allowed(host: &str, names: &[String]) -> bool {
    let name = strip_port(host);
    if name.eq_ignore_ascii_case("localhost") || names.iter().any(|n| n.eq_ignore_ascii_case(name))
    {
        return true;
    }
    let literal = name
        .strip_prefix('[')
        .and_then(|v6| v6.strip_suffix(']'))
        .unwrap_or(name);
    literal.parse::<IpAddr>().is_ok()
}

/// `name`, `name:port`, `[v6]`, `[v6]:port` -> the name or bracketed literal.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Refuses a request whose `Host` is not chargegate's, with a JSON 400 that says how to
/// allow a name. A request without `Host` (HTTP/1.0 from a script) is not from a browser
/// and passes.
pub async fn check(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("(not text)").to_string());
    match host {
        Some(host) if !allowed(&host, &state.allowed_hosts) => error(
            StatusCode::BAD_REQUEST,
            format!(
                "this gateway does not answer to the name {host:?}: use its IP address, or \
                 add the name to [http] allowed-hosts"
            ),
        ),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_listed_names_pass_other_names_do_not() {
        let names = vec!["depot-gw.local".to_string()];
        for host in [
            "192.168.1.10",
            "192.168.1.10:8080",
            "localhost",
            "LOCALHOST:8080",
            "[::1]",
            "[fe80::1]:8080",
            "depot-gw.local",
            "Depot-GW.local:8080",
        ] {
            assert!(allowed(host, &names), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "192.168.1.10.evil.example",
            "localhost.evil.example",
            "depot-gw.local.evil.example",
            "[::1",
            "",
        ] {
            assert!(!allowed(host, &names), "{host}");
        }
    }
}
