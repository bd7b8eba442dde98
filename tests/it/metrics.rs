//! `GET /metrics` over a real loopback socket (issue 11): the Prometheus text exposition
//! format 0.0.4, checked line by line by a strict reader written from the format's
//! specification (not from chargegate's writer), values equal to what `/api/v1/site`,
//! `/chargers` and `/meters` answer at the same moment, and counters that move when OCPP
//! messages flow. Simulated chargers of both versions and a simulated SDM630 on Modbus
//! TCP provide the facts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use chargegate::config;
use chargegate::daemon;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::{ReplyPolicy, SimMeterServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::get_json as get;
use crate::operator_commands::{OPERATOR, VIEWER, request};

/// One series: its name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// `GET /metrics` (with a bearer token if given): status, Content-Type, body.
async fn scrape(addr: SocketAddr, token: Option<&str>) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head =
        format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answers")
        .unwrap();
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// A Prometheus float: Go's spelling (`+Inf`, `-Inf`, `NaN`) or a decimal.
fn value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

fn metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `{k="v",...}` with the format's escapes; the rest of the line after `}`.
fn labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((out, after));
        }
        let (key, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
        if !metric_name(key) || key.contains(':') {
            return Err(format!("bad label name {key:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("escape \\{c} is not in the format")),
                },
                (_, c) => value.push(c),
            }
        };
        if out.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// One sample line: name, labels, value (and an optional integer timestamp).
fn sample_line(line: &str) -> Result<(&str, BTreeMap<String, String>, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample has a value")?;
    let name = &line[..name_end];
    if !metric_name(name) {
        return Err("bad metric name".into());
    }
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(inner) => labels(inner)?,
        None => (BTreeMap::new(), &line[name_end..]),
    };
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("a space before the value")?
        .split(' ');
    let v = value(fields.next().unwrap_or_default()).ok_or("not a float")?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok((name, labels, v))
}

/// Reads the exposition strictly: every line a HELP, a TYPE or a sample; each family's
/// TYPE before its samples and its samples together; counters named `_total`; histogram
/// samples only `_bucket` (with `le`), `_sum`, `_count`; no series twice.
fn parse(text: &str) -> BTreeMap<Series, f64> {
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut samples = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(metric_name(name), "{}", at("bad name"));
            assert!(helped.insert(name.to_string()), "{}", at("HELP twice"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(metric_name(name), "{}", at("bad name"));
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{}",
                at("unknown type")
            );
            assert!(helped.contains(name), "{}", at("every family has a HELP"));
            let old = types.insert(name.to_string(), kind.to_string());
            assert!(old.is_none(), "{}", at("TYPE twice"));
            if let Some(done) = current.replace(name.to_string()) {
                finished.insert(done);
            }
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "{}",
            at("stray line")
        );
        let (name, labels, v) = sample_line(line).unwrap_or_else(|e| panic!("{}", at(&e)));
        let family = current
            .clone()
            .unwrap_or_else(|| panic!("{}", at("a sample before any TYPE")));
        assert!(!finished.contains(&family), "{}", at("family not together"));
        match types[&family].as_str() {
            "counter" => {
                assert_eq!(name, family, "{}", at("a counter's own name"));
                assert!(
                    name.ends_with("_total"),
                    "{}",
                    at("a counter ends in _total")
                );
                assert!(v >= 0.0, "{}", at("a counter is never negative"));
            }
            "histogram" => {
                let suffix = name.strip_prefix(family.as_str()).unwrap_or_default();
                assert!(
                    ["_bucket", "_sum", "_count"].contains(&suffix),
                    "{}",
                    at("histogram suffix")
                );
                assert_eq!(
                    suffix == "_bucket",
                    labels.contains_key("le"),
                    "{}",
                    at("le on buckets")
                );
            }
            _ => assert_eq!(name, family, "{}", at("sample of another family")),
        }
        let old = samples.insert((name.to_string(), labels), v);
        assert!(old.is_none(), "{}", at("series twice"));
    }
    samples
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (name.to_string(), labels)
}

fn sample(m: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.get(&series(name, labels)).copied()
}

fn metered_config(dir: &std::path::Path, meter: SocketAddr) -> config::Config {
    let mut text = crate::common::site_toml(&dir.join("cg.db"), "");
    text.push_str(&format!(
        "\n[[meter]]\nid = \"bldg\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\n\
         modbus-tcp = \"{meter}\"\npoll-interval-ms = 200\nstale-after-ms = 1000\n"
    ));
    config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// `/api/v1/site`, `/metrics`, `/api/v1/site` again until both site reads agree (the
/// control loop and dispatch publish between requests), with `/chargers` in the middle.
async fn consistent(addr: SocketAddr) -> (Value, Value, BTreeMap<Series, f64>) {
    let strip = |mut v: Value| {
        v["at"] = Value::Null;
        v
    };
    for _ in 0..100 {
        let (_, before) = get(addr, "/api/v1/site").await;
        let (_, chargers) = get(addr, "/api/v1/chargers").await;
        let (status, _, text) = scrape(addr, None).await;
        assert_eq!(status, 200, "{text}");
        let (_, after) = get(addr, "/api/v1/site").await;
        let (_, chargers_after) = get(addr, "/api/v1/chargers").await;
        let before = strip(before);
        if before == strip(after) && chargers == chargers_after {
            return (before, chargers, parse(&text));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the site never held still for one scrape");
}

/// The scrape parses, every value equals the API's: per circuit and phase the measured
/// current, limit, load, committed current and headroom as `/api/v1/site`; per charger its
/// connection, version, limit in force, measured current and session energy as
/// `/api/v1/chargers`; the meter's health and errors as `/api/v1/meters`; the planner's
/// status. Both OCPP versions connected, one of them charging.
#[tokio::test]
async fn the_scrape_parses_and_every_value_matches_the_api() {
    let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    server.meter.set_building([40.0, 30.5, 20.25]);
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon::start_manual(&metered_config(dir.path(), server.meter.addr()))
        .await
        .expect("daemon starts");
    let addr = daemon.http_addr;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    let cs = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    cp.status(1, "Preparing").await.unwrap();
    let tx = cp
        .start_transaction(1, "GOOD", 1000, chrono::Utc::now())
        .await
        .expect("transaction starts");
    cp.meter_values(1, &tx.key, 1750.5, &[15.5, 16.0, 15.75])
        .await
        .unwrap();
    for _ in 0..200 {
        let (_, site) = get(addr, "/api/v1/site").await;
        let grid = &site["circuits"][0];
        if grid["measured_a"][0] == 40.0 && grid["load_stale"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (site, chargers, m) = consistent(addr).await;
    circuits_match(&m, &site);
    chargers_match(&m, &chargers);
    meter_and_planner_match(addr, &m, &site).await;
    cp.close().await;
    cs.close().await;
    daemon.stop().await;
    server.stop();
}

/// Per circuit and phase, as `/api/v1/site` says.
fn circuits_match(m: &BTreeMap<Series, f64>, site: &Value) {
    let grid = &site["circuits"][0];
    assert_eq!(grid["id"], "site");
    for (p, phase) in ["L1", "L2", "L3"].into_iter().enumerate() {
        let at = [("circuit", "site"), ("phase", phase)];
        for (name, field) in [
            ("chargegate_circuit_current_amperes", "measured_a"),
            ("chargegate_circuit_load_amperes", "assumed_load_a"),
            ("chargegate_circuit_committed_amperes", "committed_a"),
            ("chargegate_circuit_headroom_amperes", "headroom_a"),
        ] {
            assert_eq!(
                sample(m, name, &at),
                grid[field][p].as_f64(),
                "{name} {phase}: {grid}"
            );
        }
        assert_eq!(
            sample(m, "chargegate_circuit_limit_amperes", &at),
            Some(400.0)
        );
        assert_eq!(
            sample(m, "chargegate_circuit_usable_amperes", &at),
            Some(395.0)
        );
    }
    assert_eq!(
        sample(
            m,
            "chargegate_circuit_current_amperes",
            &[("circuit", "site"), ("phase", "L2")]
        ),
        Some(30.5)
    );
    assert_eq!(
        sample(m, "chargegate_circuit_load_stale", &[("circuit", "site")]),
        Some(0.0)
    );
    assert_eq!(sample(m, "chargegate_site_margin_amperes", &[]), Some(5.0));
}

/// Per charger, as `/api/v1/chargers` says.
fn chargers_match(m: &BTreeMap<Series, f64>, chargers: &Value) {
    for c in chargers["chargers"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let at = [("charger", id)];
        let connected = if c["connected"] == true { 1.0 } else { 0.0 };
        assert_eq!(
            sample(m, "chargegate_charger_connected", &at),
            Some(connected),
            "{id}"
        );
        assert_eq!(
            sample(m, "chargegate_charger_limit_amperes", &at),
            c["limit"]["in_force_a"].as_f64(),
            "{id}: {c}"
        );
        assert_eq!(
            sample(m, "chargegate_charger_effective_limit_amperes", &at),
            c["limit"]["effective_a"].as_f64(),
            "{id}"
        );
        assert_eq!(
            sample(m, "chargegate_charger_session_energy_watt_hours", &at),
            c["transaction"]["energy_wh"].as_f64(),
            "{id}"
        );
    }
    assert_eq!(
        sample(
            m,
            "chargegate_charger_info",
            &[("charger", "CP16-1"), ("ocpp_version", "1.6")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            m,
            "chargegate_charger_info",
            &[("charger", "CS201-1"), ("ocpp_version", "2.0.1")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(m, "chargegate_charger_connected", &[("charger", "CS201-2")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            m,
            "chargegate_charger_session_energy_watt_hours",
            &[("charger", "CP16-1")]
        ),
        Some(750.5)
    );
    assert_eq!(
        sample(
            m,
            "chargegate_charger_current_amperes",
            &[("charger", "CP16-1"), ("phase", "L3")]
        ),
        Some(15.75)
    );
    // CS201-1 before any lease of this run: no limit known in force, counted at its
    // maximum (the API's `assumed`); the metric is absent, not 0.
    let cs_at = [("charger", "CS201-1")];
    assert_eq!(
        sample(m, "chargegate_charger_effective_limit_amperes", &cs_at),
        Some(32.0)
    );
}

/// The meter as `/api/v1/meters` says, the planner as `/api/v1/site`, the store's writes.
async fn meter_and_planner_match(addr: SocketAddr, m: &BTreeMap<Series, f64>, site: &Value) {
    let (_, meters) = get(addr, "/api/v1/meters").await;
    let bldg = &meters["meters"][0];
    assert_eq!(
        sample(m, "chargegate_meter_stale", &[("meter", "bldg")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            m,
            "chargegate_meter_read_errors_total",
            &[("meter", "bldg")]
        ),
        bldg["errors"]["total"].as_f64()
    );
    let age = sample(
        m,
        "chargegate_meter_reading_age_seconds",
        &[("meter", "bldg")],
    )
    .expect("an age");
    assert!((0.0..1.0).contains(&age), "fresh: {age}");
    let status = site["planner"]["status"].as_str().unwrap();
    assert_eq!(
        sample(m, "chargegate_planner_status", &[("status", status)]),
        Some(1.0),
        "{status}"
    );
    let ones = m
        .iter()
        .filter(|((n, _), v)| n == "chargegate_planner_status" && **v == 1.0)
        .count();
    assert_eq!(ones, 1, "one planner status at a time");
    assert_eq!(
        sample(m, "chargegate_planner_replans_total", &[]),
        site["planner"]["replans"].as_f64()
    );
    // The store wrote (boots, statuses, samples): its latency histogram counted them.
    let writes = sample(m, "chargegate_store_write_duration_seconds_count", &[]).unwrap();
    assert!(writes > 0.0, "store writes counted");
    let inf = sample(
        m,
        "chargegate_store_write_duration_seconds_bucket",
        &[("le", "+Inf")],
    );
    assert_eq!(inf, Some(writes));
}

fn counter(m: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(m, name, labels).unwrap_or(0.0)
}

async fn scrape_parsed(addr: SocketAddr, token: Option<&str>) -> BTreeMap<Series, f64> {
    let (status, content_type, text) = scrape(addr, token).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&text)
}

/// The OCPP counters move with the messages (other tests in this process count too, so
/// only increases are checked): CALLs in by action for both versions, an action the
/// version lacks as `unknown` with the CALLERROR chargegate answered, a malformed frame,
/// chargegate's CALLs out, and a command the charger never answers as a timeout (OCPP
/// 2.0.1 TC_C_37_CSMS-like ClearCache, with the charger silent).
#[tokio::test]
async fn ocpp_counters_move_when_messages_flow() {
    let site = crate::operator_commands::site(true);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let before = scrape_parsed(addr, Some(VIEWER)).await;
    let cp = crate::common::connect_settled(&daemon, "CP16-1", OcppVersion::V16).await;
    let cs = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    cp.call("Heartbeat", serde_json::json!({}))
        .await
        .expect("answered");
    cs.call("Heartbeat", serde_json::json!({}))
        .await
        .expect("answered");
    let refused = cs.call("MadeUpAction", serde_json::json!({})).await;
    assert!(refused.is_err(), "NotImplemented: {refused:?}");
    cs.send_text("[2, not json").await.unwrap();
    cs.set_reply_policy(ReplyPolicy::Ignore);
    let (status, body, _) = request(
        addr,
        "POST",
        "/api/v1/chargers/CS201-1/clear-cache",
        Some(OPERATOR),
        Some("{}"),
    )
    .await;
    assert_eq!(status, 504, "{body}");
    let after = scrape_parsed(addr, Some(VIEWER)).await;
    let moved = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (b, a) = (
            counter(&before, name, labels),
            counter(&after, name, labels),
        );
        assert!(a >= b + by, "{name}{labels:?}: {b} -> {a}");
    };
    let msgs = "chargegate_ocpp_messages_total";
    moved(msgs, &[("direction", "in"), ("action", "Heartbeat")], 2.0);
    moved(msgs, &[("direction", "in"), ("action", "unknown")], 1.0);
    moved(
        msgs,
        &[("direction", "out"), ("action", "SetChargingProfile")],
        2.0,
    );
    moved(msgs, &[("direction", "out"), ("action", "ClearCache")], 1.0);
    let errors = "chargegate_ocpp_errors_total";
    moved(errors, &[("direction", "out"), ("action", "unknown")], 1.0);
    moved(errors, &[("direction", "in"), ("action", "malformed")], 1.0);
    moved(
        "chargegate_command_timeouts_total",
        &[("action", "ClearCache")],
        1.0,
    );
    assert!(
        !after
            .keys()
            .any(|(_, l)| l.get("action").is_some_and(|a| a == "MadeUpAction")),
        "a made-up action is not a label of its own"
    );
    cp.close().await;
    cs.close().await;
    daemon.stop().await;
}

/// `/metrics` is a read like the others: with `require-token-for-reads` a scrape without
/// a token is 401 (with the JSON error), a viewer's token reads it; a query parameter is
/// a 400.
#[tokio::test]
async fn a_scrape_needs_a_token_when_reads_do() {
    let site = crate::operator_commands::site(true);
    let daemon = site.start().await;
    let addr = daemon.http_addr;
    let (status, _, body) = scrape(addr, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (status, _, body) = scrape(addr, Some("not-a-token")).await;
    assert_eq!(status, 401, "{body}");
    let m = scrape_parsed(addr, Some(VIEWER)).await;
    assert!(
        m.keys().any(|(n, _)| n == "chargegate_guard_cuts_total"),
        "the families are there"
    );
    let (status, body, _) = request(addr, "GET", "/metrics?x=1", Some(VIEWER), None).await;
    assert_eq!(status, 400, "{body}");
    daemon.stop().await;
}
