//! `chargegate status [--url URL]`: the site at a glance for the electrician at the
//! gateway's shell, from the running daemon's own API (`/api/v1/site`, `/api/v1/chargers`,
//! `/api/v1/alerts?active=true`).
//!
//! Deliberately small: plain HTTP/1.1 GET over one TCP connection (the API listens on
//! loopback or a management network, without TLS), `Connection: close`, the body read to
//! the end. `render` is pure and tested on its own.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The whole exchange (connect, request, answer) takes at most this long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// An answer larger than this is refused (a site with hundreds of chargers is ~1 MB).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0}: only http://HOST:PORT is supported (the API has no TLS)")]
    Url(String),
    #[error("cannot reach chargegate at {url}: {source} (is it running? check [http] listen)")]
    Connect { url: String, source: std::io::Error },
    #[error("chargegate at {0} did not answer within 10 s")]
    Timeout(String),
    #[error("{path}: HTTP {status}: {body}")]
    Http {
        path: String,
        status: u16,
        body: String,
    },
    #[error("{0}: the answer is not what chargegate sends")]
    Answer(String),
}

/// `http://host:port[/]` -> `host:port`.
fn authority(url: &str) -> Result<&str, StatusError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| StatusError::Url(url.to_string()))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err(StatusError::Url(url.to_string()));
    }
    Ok(rest)
}

/// GETs `path` from the API at `url`; the JSON body of a 200.
pub async fn get(url: &str, path: &str, token: Option<&str>) -> Result<Value, StatusError> {
    let host = authority(url)?;
    let exchange = async {
        let mut stream = TcpStream::connect(host)
            .await
            .map_err(|source| StatusError::Connect {
                url: url.to_string(),
                source,
            })?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{auth}Connection: close\r\n\r\n"
        );
        let io = |source| StatusError::Connect {
            url: url.to_string(),
            source,
        };
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(io)?;
        parse_answer(path, &answer)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| StatusError::Timeout(url.to_string()))?
}

/// The JSON body of an HTTP/1.1 answer with a `Content-Length` or read to the close.
fn parse_answer(path: &str, answer: &[u8]) -> Result<Value, StatusError> {
    let bad = || StatusError::Answer(path.to_string());
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&answer[..split]).map_err(|_| bad())?;
    let body = &answer[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(bad());
    }
    if status != 200 {
        let text = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        return Err(StatusError::Http {
            path: path.to_string(),
            status,
            body: text,
        });
    }
    serde_json::from_slice(body).map_err(|_| bad())
}

fn amps(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |a| format!("{a:.1}"))
}

fn per_phase(v: &Value) -> String {
    match v.as_array() {
        Some(list) => list.iter().map(amps).collect::<Vec<_>>().join("/"),
        None => "-".into(),
    }
}

/// The summary table: each circuit's load and headroom per phase, each charger, then the
/// open alerts (`alerts`: the `/api/v1/alerts?active=true` answer).
pub fn render(site: &Value, chargers: &Value, alerts: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "site {}: grid limit {} A per phase, margin {} A; plan: {} ({})",
        site["id"].as_str().unwrap_or("?"),
        amps(&site["grid_limit_a"]),
        amps(&site["margin_a"]),
        site["planner"]["status"].as_str().unwrap_or("-"),
        site["planner"]["status_reason"].as_str().unwrap_or("-"),
    );
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>20} {:>20} {:>20} {:>20}",
        "circuit", "limit A", "measured A", "other load A", "committed A", "headroom A"
    );
    for c in site["circuits"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>20} {:>20} {:>20} {:>20}",
            c["id"].as_str().unwrap_or("?"),
            amps(&c["limit_a"]),
            per_phase(&c["measured_a"]),
            per_phase(&c["load_a"]),
            per_phase(&c["committed_a"]),
            per_phase(&c["headroom_a"]),
        );
    }
    for m in site["meters"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "meter {}: {}",
            m["id"].as_str().unwrap_or("?"),
            m["health"].as_str().unwrap_or("?")
        );
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:<8} {:<14} {:>8} {:>10} {:>10}  limit reason",
        "charger", "ocpp", "status", "limit A", "current A", "energy Wh"
    );
    for ch in chargers["chargers"].as_array().into_iter().flatten() {
        let connected = ch["connected"].as_bool().unwrap_or(false);
        let status = if !connected {
            "offline".to_string()
        } else {
            ch["connectors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["status"].as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<14} {:>8} {:>10} {:>10}  {}",
            ch["id"].as_str().unwrap_or("?"),
            ch["ocpp_version"].as_str().unwrap_or("-"),
            if status.is_empty() { "-" } else { &status },
            amps(&ch["limit"]["in_force_a"]),
            amps(&ch["measured"]["total_a"]),
            ch["transaction"]["energy_wh"]
                .as_f64()
                .map_or("-".into(), |w| format!("{w:.0}")),
            ch["limit"]["reason"].as_str().unwrap_or("-"),
        );
    }
    render_alerts(&mut out, alerts);
    out
}

/// The open alerts, one line each: severity, what and where, since when, the message.
fn render_alerts(out: &mut String, alerts: &Value) {
    let open: Vec<&Value> = alerts["alerts"].as_array().into_iter().flatten().collect();
    if open.is_empty() {
        let _ = writeln!(out, "\nactive alerts: none");
        return;
    }
    let _ = writeln!(out, "\nactive alerts: {}", open.len());
    for a in open {
        let subject = a["charger"]
            .as_str()
            .or_else(|| a["meter"].as_str())
            .unwrap_or("site");
        let _ = writeln!(
            out,
            "  {:<8} {} {} since {}: {}",
            a["severity"].as_str().unwrap_or("?"),
            a["kind"].as_str().unwrap_or("?"),
            subject,
            a["raised"].as_str().unwrap_or("?"),
            a["message"].as_str().unwrap_or(""),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert_eq!(
            authority("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(authority("http://gw.local:8080/").unwrap(), "gw.local:8080");
        for bad in [
            "https://gw:8080",
            "127.0.0.1:8080",
            "http://",
            "http://a/b",
            "http://u@h:1",
        ] {
            assert!(authority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_answer_is_its_json_body_or_the_apis_error() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"id\":\"depot\"}";
        assert_eq!(parse_answer("/x", ok).unwrap(), json!({"id": "depot"}));
        let refused = b"HTTP/1.1 401 Unauthorized\r\n\r\n{\"error\":\"this needs a token\"}";
        match parse_answer("/x", refused) {
            Err(StatusError::Http { status, body, .. }) => {
                assert_eq!((status, body.as_str()), (401, "this needs a token"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_answer("/x", b"garbage").is_err());
    }

    #[test]
    fn the_table_shows_each_circuit_phase_and_each_charger() {
        let site = json!({
            "id": "depot-nord", "grid_limit_a": 250.0, "margin_a": 5.0,
            "planner": {"status": "optimal", "status_reason": "plan #3"},
            "circuits": [{"id": "site", "limit_a": 250.0, "measured_a": [120.5, 100.0, 90.25],
                "load_a": [60.0, 40.0, 30.0], "committed_a": [64.0, 64.0, 64.0],
                "headroom_a": [121.0, 141.0, 151.0]}],
            "meters": [{"id": "grid", "health": "ok"}],
        });
        let chargers = json!({"chargers": [
            {"id": "CP-01", "connected": true, "ocpp_version": "2.0.1",
             "connectors": [{"status": "Occupied"}],
             "limit": {"in_force_a": 32.0, "reason": "plan #3 (Optimal)"},
             "measured": {"total_a": 31.5}, "transaction": {"energy_wh": 12345.6}},
            {"id": "CP-02", "connected": false, "connectors": [], "limit": null,
             "measured": null, "transaction": null},
        ]});
        let alerts = json!({"alerts": [{"id": 7, "kind": "meter-stale", "meter": "grid",
            "charger": null, "severity": "critical", "raised": "2026-12-01T03:00:00Z",
            "message": "grid meter silent"}]});
        let text = render(&site, &chargers, &alerts);
        assert!(text.contains("active alerts: 1"), "{text}");
        let alert = text.lines().find(|l| l.contains("meter-stale")).unwrap();
        for part in [
            "critical",
            "grid",
            "2026-12-01T03:00:00Z",
            "grid meter silent",
        ] {
            assert!(alert.contains(part), "{part} in {alert}");
        }
        assert!(render(&site, &chargers, &json!({"alerts": []})).contains("active alerts: none"));
        assert!(
            text.contains("site depot-nord: grid limit 250.0 A"),
            "{text}"
        );
        assert!(text.contains("120.5/100.0/90.2"), "{text}");
        assert!(text.contains("121.0/141.0/151.0"), "{text}");
        assert!(text.contains("meter grid: ok"), "{text}");
        let cp1 = text.lines().find(|l| l.starts_with("CP-01")).unwrap();
        for part in [
            "2.0.1",
            "Occupied",
            "32.0",
            "31.5",
            "12346",
            "plan #3 (Optimal)",
        ] {
            assert!(cp1.contains(part), "{part} in {cp1}");
        }
        let cp2 = text.lines().find(|l| l.starts_with("CP-02")).unwrap();
        assert!(cp2.contains("offline"), "{cp2}");
    }
}
