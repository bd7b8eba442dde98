//! The status page at `GET /` in a real browser (issue 11): Debian's `chromium`, headless,
//! loads the page from the real daemon with simulated chargers of both OCPP versions and a
//! simulated SDM630 on Modbus TCP, runs its JavaScript against the live API and the event
//! stream, and the DOM it renders is checked against `/api/v1/site` and `/chargers`.
//!
//! Without `chromium` on the PATH the tests fail and say how to install it (`.ci/run`
//! does); they never pass without having looked. Each browser run is bounded by a
//! wall-clock timeout, so a hung browser fails the test instead of hanging CI.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chargegate::config;
use chargegate::daemon;
use chargegate::ocpp::model::OcppVersion;
use chargegate::sim::SimMeterServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::get_json as get;

/// The longest one browser run may take (start, load, a few seconds of live page, dump).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the page runs (in the browser's virtual time) before its DOM is dumped.
const PAGE_BUDGET_MS: u32 = 4000;

fn browser() -> String {
    for name in ["chromium", "chromium-browser"] {
        if std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_string();
        }
    }
    panic!(
        "the status page test needs Debian's chromium: sudo apt-get install -y chromium \
         (.ci/run installs it in CI)"
    );
}

/// The page as the browser shows it after `PAGE_BUDGET_MS`: its DOM, and every URL the
/// page asked the network for (from the browser's net log). Names other than 127.0.0.1 do not
/// resolve, so even a request the check missed could not leave the machine.
async fn dump(addr: SocketAddr, profile: &Path) -> (String, Vec<String>) {
    let net_log = profile.join("net-log.json");
    let dom_file = profile.join("dom.html");
    let mut command = std::process::Command::new(browser());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("chromium").display()
        ))
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg(format!("--virtual-time-budget={PAGE_BUDGET_MS}"))
        .arg("--dump-dom")
        .arg(format!("http://{addr}/"))
        .stdin(std::process::Stdio::null())
        // To files, not pipes: nobody has to drain them while the browser runs.
        .stdout(std::fs::File::create(&dom_file).unwrap())
        .stderr(std::fs::File::create(profile.join("stderr.txt")).unwrap());
    let mut child = command.spawn().expect("chromium starts");
    // Waited for off the runtime (the daemon under test runs on it meanwhile), killed at
    // the wall-clock bound.
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + BROWSER_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("chromium waits") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("chromium did not finish within {BROWSER_TIMEOUT:?}: killed"));
    let dom = std::fs::read_to_string(&dom_file).unwrap_or_default();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed ({status}): {}",
        std::fs::read_to_string(profile.join("stderr.txt")).unwrap_or_default()
    );
    // The page's own requests are those the net log gives the page's origin as their
    // initiator (the browser's background fetches have none).
    let origin = format!("http://{addr}");
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&net_log).unwrap_or_default())
        .unwrap_or_else(|e| panic!("chromium's net log: {e}"));
    let urls = log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter(|e| e["params"]["initiator"] == origin.as_str())
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect();
    (dom, urls)
}

/// The text of the element that carries `attr="key"` (the page's markers for tests).
fn text_of<'a>(dom: &'a str, attr: &str, key: &str) -> Option<&'a str> {
    let marker = format!("{attr}=\"{key}\"");
    let at = dom.find(&marker)?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(&rest[start..end])
}

/// The table row of one charger.
fn row<'a>(dom: &'a str, charger: &str) -> &'a str {
    let marker = format!("data-charger=\"{charger}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no row for {charger}"));
    let end = dom[at..].find("</tr>").expect("row ends") + at;
    &dom[at..end]
}

fn metered_config(dir: &Path, meter: SocketAddr) -> config::Config {
    let mut text = crate::common::site_toml(&dir.join("cg.db"), "");
    text.push_str(&format!(
        "\n[[meter]]\nid = \"bldg\"\nprofile = \"eastron-sdm630\"\nrole = \"building\"\n\
         modbus-tcp = \"{meter}\"\npoll-interval-ms = 200\nstale-after-ms = 1000\n"
    ));
    config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// Waits until the site shows the meter's `L1` current.
async fn site_at(addr: SocketAddr, l1: f64) -> Value {
    for _ in 0..300 {
        let (_, site) = get(addr, "/api/v1/site").await;
        let grid = &site["circuits"][0];
        if grid["measured_a"][0] == l1 && grid["load_stale"] == false {
            return site;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the site never showed {l1} A on L1");
}

/// The phases the page shows are the site's measured currents (one decimal), with the
/// limit; each charger has its row with its status and the limit in force.
fn page_matches_api(dom: &str, site: &Value, chargers: &Value) {
    let grid = &site["circuits"][0];
    for (p, phase) in ["L1", "L2", "L3"].into_iter().enumerate() {
        let key = format!("site-{phase}");
        let api = grid["measured_a"][p].as_f64().expect("measured");
        assert_eq!(
            text_of(dom, "data-phase", &key),
            Some(format!("{api:.1}").as_str()),
            "{phase}"
        );
        assert_eq!(text_of(dom, "data-limit", &key), Some("400.0"), "{phase}");
    }
    let list = chargers["chargers"].as_array().unwrap();
    assert_eq!(
        dom.matches("data-charger=\"").count(),
        list.len(),
        "one row per charger"
    );
    for c in list {
        let id = c["id"].as_str().unwrap();
        let row = row(dom, id);
        let limit = match c["limit"]["in_force_a"].as_f64() {
            Some(a) => format!("{a:.1} A"),
            None => "–".to_string(),
        };
        assert_eq!(
            text_of(row, "data-field", "limit"),
            Some(limit.as_str()),
            "{id}: {row}"
        );
        let status = text_of(row, "data-field", "status").unwrap_or_default();
        if c["connected"] == false {
            assert_eq!(status, "offline", "{id}");
        } else if let Some(first) = c["connectors"][0]["status"].as_str() {
            assert!(status.contains(first), "{id}: {status} vs {first}");
        }
    }
}

/// The page in chromium: its phases equal `/api/v1/site`, one row per charger (both
/// versions) with status and limit, an alert when a simulated charger reports Faulted
/// (OCPP 2.0.1 TC_G_03-like: a connector's status reaches the operator), and its numbers
/// follow the meter from one dump to the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_browser_shows_the_site_the_chargers_and_an_alert_live() {
    let browser_dir = tempfile::tempdir().unwrap();
    let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    server.meter.set_building([40.0, 30.5, 20.4]);
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon::start_manual(&metered_config(dir.path(), server.meter.addr()))
        .await
        .expect("daemon starts");
    let addr = daemon.http_addr;
    let cp = crate::common::connect_booted(&daemon, "CP16-1", OcppVersion::V16).await;
    cp.status(1, "Available").await.unwrap();
    let cs = crate::common::connect_settled(&daemon, "CS201-1", OcppVersion::V201).await;
    cs.status(1, "Available").await.unwrap();
    let site = site_at(addr, 40.0).await;
    let (_, chargers) = get(addr, "/api/v1/chargers").await;
    let (dom, urls) = dump(addr, browser_dir.path()).await;
    page_matches_api(&dom, &site, &chargers);
    assert!(
        dom.contains("none configured"),
        "no upstream link configured"
    );
    assert!(dom.contains("<polyline"), "the chart is drawn");
    let (_, alerts) = get(addr, "/api/v1/alerts?active=true").await;
    let open = alerts["alerts"].as_array().unwrap();
    assert!(
        !open.iter().any(|a| a["kind"] == "connector-faulted"),
        "{alerts}"
    );
    assert_eq!(
        dom.matches("data-alert-kind=").count(),
        open.len(),
        "the open alerts: {alerts}"
    );
    assert!(
        !dom.contains("data-alert-kind=\"connector-faulted\""),
        "no fault yet"
    );
    let origin = format!("http://{addr}/");
    assert!(
        urls.iter()
            .any(|u| u.starts_with(&format!("{origin}api/v1/events"))),
        "the page follows the event stream: {urls:?}"
    );
    for url in &urls {
        assert!(
            url.starts_with(&origin),
            "a request outside the gateway: {url}"
        );
    }
    // A fault and a new load: the second look shows both.
    cp.status(1, "Faulted").await.unwrap();
    server.meter.set_building([55.0, 30.5, 20.4]);
    let site = site_at(addr, 55.0).await;
    let (_, alerts) = get(addr, "/api/v1/alerts?active=true").await;
    let faulted = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "connector-faulted");
    assert!(faulted, "{alerts}");
    let (_, chargers) = get(addr, "/api/v1/chargers").await;
    let (dom, _) = dump(addr, browser_dir.path()).await;
    page_matches_api(&dom, &site, &chargers);
    assert_eq!(
        text_of(&dom, "data-phase", "site-L1"),
        Some("55.0"),
        "the number changed"
    );
    assert!(
        dom.contains("data-alert-kind=\"connector-faulted\""),
        "the alert is shown"
    );
    let status = text_of(row(&dom, "CP16-1"), "data-field", "status").unwrap();
    assert!(status.contains("Faulted"), "{status}");
    cp.close().await;
    cs.close().await;
    daemon.stop().await;
    server.stop();
}

/// `GET /` raw: the CSP header allows nothing but this origin, and the document names no
/// other host (its only `scheme://` is SVG's XML namespace, which is no request); served
/// without a token even when reads need one (the reads it makes need it).
#[tokio::test]
async fn the_page_is_self_contained_and_forbids_other_origins() {
    let site = crate::operator_commands::site(true);
    let daemon = site.start().await;
    let mut stream = tokio::net::TcpStream::connect(daemon.http_addr)
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut raw))
        .await
        .expect("answers")
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .expect("a CSP header");
    for directive in [
        "default-src 'none'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive}: {csp}");
    }
    assert!(!csp.contains("http"), "no host allowed: {csp}");
    let schemes: Vec<&str> = body
        .match_indices("://")
        .map(|(i, _)| &body[i.saturating_sub(8)..(i + 30).min(body.len())])
        .collect();
    assert!(
        schemes
            .iter()
            .all(|s| s.contains("http://www.w3.org/2000/svg")),
        "only the SVG namespace: {schemes:?}"
    );
    for tag in ["<link", "<img", "<iframe", "src=", "@import", "url("] {
        assert!(!body.contains(tag), "no {tag} in the page");
    }
    let (status, _) = get(daemon.http_addr, "/api/v1/site").await;
    assert_eq!(status, 401, "the page is open, the reads it makes are not");
    daemon.stop().await;
}

/// `GET /api/v1/meters/<id>/history`: the stored 1-minute summaries of the last hours,
/// oldest first (what the page draws before it was opened); a bad `hours` is a 400 and
/// a meter not in the site file a 404.
#[tokio::test]
async fn a_meters_history_gives_the_stored_minutes_of_the_last_hours() {
    let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("meter listens");
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon::start_manual(&metered_config(dir.path(), server.meter.addr()))
        .await
        .expect("daemon starts");
    let now = chrono::Utc::now();
    for (ago_min, l1) in [(8 * 60, 99.0), (120, 41.5), (60, 42.25)] {
        let minute = chargegate::meter::history::MinuteSummary {
            meter_id: "bldg".into(),
            minute: now - chrono::TimeDelta::minutes(ago_min),
            samples: 60,
            max_a: [Some(l1), Some(20.0), None],
            mean_a: [Some(l1 - 1.0), Some(19.0), None],
            mean_power_w: Some(9000.0),
        };
        daemon
            .csms
            .store()
            .call(move |c| chargegate::store::insert_meter_minute(c, &minute))
            .await
            .unwrap();
    }
    let addr = daemon.http_addr;
    let (status, body) = get(addr, "/api/v1/meters/bldg/history").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["circuit"], "site");
    assert_eq!(body["hours"], 6);
    let minutes = body["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 2, "the last 6 h only: {body}");
    assert_eq!(minutes[0]["max_a"], serde_json::json!([41.5, 20.0, null]));
    assert_eq!(minutes[1]["mean_a"][0], 41.25);
    assert_eq!(minutes[1]["samples"], 60);
    let (_, all) = get(addr, "/api/v1/meters/bldg/history?hours=9").await;
    assert_eq!(all["minutes"].as_array().unwrap().len(), 3, "{all}");
    for (target, status) in [
        ("/api/v1/meters/bldg/history?hours=0", 400),
        ("/api/v1/meters/bldg/history?hours=25", 400),
        ("/api/v1/meters/bldg/history?hours=x", 400),
        ("/api/v1/meters/bldg/history?days=1", 400),
        ("/api/v1/meters/nope/history", 404),
    ] {
        let (got, body) = get(addr, target).await;
        assert_eq!(got, status, "{target}: {body}");
        assert!(body["error"].is_string(), "{target}: {body}");
    }
    daemon.stop().await;
    server.stop();
}
