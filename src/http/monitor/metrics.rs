//! `GET /metrics`: the Prometheus text exposition format, version 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>), written by hand.
//!
//! The gauges are read from the very JSON `/api/v1/site`, `/chargers` and `/meters`
//! answer (`site_json`, `charger_list`, `meters_json`), so a scrape and the API never
//! disagree; the counters nothing publishes come from `telemetry`. Names and units follow
//! Prometheus' conventions: base units (`_amperes`, `_seconds`, `_watt_hours`), `_total`
//! on counters. A fact chargegate does not have (a `null` in the API) is left out, never
//! written as 0. Phases are the site's `L1`..`L3` for circuits and the charger's own for
//! a charger's measured current, as in the API.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{NoQuery, meters_json, no_query, planner_state, site_json};
use crate::http::HttpState;
use crate::telemetry::{self, STORE_WRITE_BUCKETS_S};

/// The exposition format's media type (0.0.4 is the text format every Prometheus reads).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const PHASES: [&str; 3] = ["L1", "L2", "L3"];

/// The planner states `chargegate_planner_status` has a series for (`/api/v1/site`'s
/// `planner.status`).
const PLANNER_STATUSES: [&str; 4] = ["none", "optimal", "equal-share", "failsafe"];

type Labels = Vec<(&'static str, String)>;

/// `GET /metrics`: 200 with every family below; follows `require-token-for-reads` like
/// the other reads (`auth::check`).
pub async fn metrics(
    State(state): State<HttpState>,
    query: Result<Query<NoQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = no_query(query) {
        return e.into_response();
    }
    let now = state.monitor_now();
    let chargers = match super::chargers::charger_list(&state, &now).await {
        Ok(list) => list,
        Err(e) => return e.into_response(),
    };
    let mut out = Exposition::default();
    site_families(&mut out, &site_json(&now));
    charger_families(&mut out, &chargers);
    meter_families(&mut out, &meters_json(&state, &now));
    planner_families(&mut out, &planner_state(&now.control));
    upstream_families(&mut out, &site_json(&now)["upstream"]);
    counter_families(&mut out, &telemetry::snapshot());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.text).into_response()
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn site_families(out: &mut Exposition, site: &Value) {
    let phases = site["phases"].as_u64().unwrap_or(3).clamp(1, 3) as usize;
    let circuits = site["circuits"].as_array().cloned().unwrap_or_default();
    let per_phase = |field: &str, scalar: bool| -> Vec<(Labels, f64)> {
        let mut samples = Vec::new();
        for c in &circuits {
            let id = c["id"].as_str().unwrap_or_default().to_string();
            for (p, phase) in PHASES.iter().enumerate().take(phases) {
                let value = if scalar { &c[field] } else { &c[field][p] };
                if let Some(v) = num(value) {
                    samples.push((vec![("circuit", id.clone()), ("phase", (*phase).into())], v));
                }
            }
        }
        samples
    };
    let families: [(&str, &str, &str, bool); 6] = [
        (
            "chargegate_circuit_limit_amperes",
            "The circuit's limit per phase (the grid connection's for circuit \"site\").",
            "limit_a",
            true,
        ),
        (
            "chargegate_circuit_usable_amperes",
            "The circuit's limit minus the site margin: what plans and the guard keep under.",
            "usable_a",
            true,
        ),
        (
            "chargegate_circuit_current_amperes",
            "What the circuit's meter measures per phase (a grid meter: chargers included); absent without a fresh meter.",
            "measured_a",
            false,
        ),
        (
            "chargegate_circuit_load_amperes",
            "The non-charger load per phase as the controller assumes it (worst case while its meter is stale, S5).",
            "assumed_load_a",
            false,
        ),
        (
            "chargegate_circuit_committed_amperes",
            "What the chargers' limits in force add up to per phase (S1 accounting).",
            "committed_a",
            false,
        ),
        (
            "chargegate_circuit_headroom_amperes",
            "Usable limit minus assumed load minus committed limits, per phase.",
            "headroom_a",
            false,
        ),
    ];
    for (name, help, field, scalar) in families {
        out.family(name, "gauge", help, per_phase(field, scalar));
    }
    let stale = circuits.iter().filter_map(|c| {
        let id = c["id"].as_str()?.to_string();
        Some((vec![("circuit", id)], flag(c["load_stale"] == true)))
    });
    out.family(
        "chargegate_circuit_load_stale",
        "gauge",
        "1 while the circuit's load reading is stale and its worst case is assumed (S5).",
        stale.collect(),
    );
    out.family(
        "chargegate_site_margin_amperes",
        "gauge",
        "The safety margin kept under every limit ([site] margin-a).",
        num(&site["margin_a"])
            .map(|v| (vec![], v))
            .into_iter()
            .collect(),
    );
}

fn charger_families(out: &mut Exposition, chargers: &[Value]) {
    let id = |c: &Value| c["id"].as_str().unwrap_or_default().to_string();
    let scalar = |path: &[&str]| -> Vec<(Labels, f64)> {
        chargers
            .iter()
            .filter_map(|c| {
                let v = path.iter().fold(c, |v, key| &v[*key]);
                Some((vec![("charger", id(c))], num(v)?))
            })
            .collect()
    };
    out.family(
        "chargegate_charger_connected",
        "gauge",
        "1 while the charger has an open OCPP connection.",
        chargers
            .iter()
            .map(|c| (vec![("charger", id(c))], flag(c["connected"] == true)))
            .collect(),
    );
    out.family(
        "chargegate_charger_info",
        "gauge",
        "1 per charger with the OCPP version it speaks (or last spoke).",
        chargers
            .iter()
            .filter_map(|c| {
                let version = c["ocpp_version"].as_str()?.to_string();
                Some((vec![("charger", id(c)), ("ocpp_version", version)], 1.0))
            })
            .collect(),
    );
    out.family(
        "chargegate_charger_limit_amperes",
        "gauge",
        "The limit in force on the charger (an accepted lease, or its failsafe baseline); absent when unknown.",
        scalar(&["limit", "in_force_a"]),
    );
    out.family(
        "chargegate_charger_effective_limit_amperes",
        "gauge",
        "What the charger may draw as dispatch counts it (S1: the higher of pending and acknowledged).",
        scalar(&["limit", "effective_a"]),
    );
    let measured = chargers.iter().flat_map(|c| {
        PHASES.iter().enumerate().filter_map(move |(p, phase)| {
            let v = num(&c["measured"]["current_a"][p])?;
            Some((vec![("charger", id(c)), ("phase", (*phase).into())], v))
        })
    });
    out.family(
        "chargegate_charger_current_amperes",
        "gauge",
        "The charger's latest Current.Import per its own phase.",
        measured.collect(),
    );
    out.family(
        "chargegate_charger_session_energy_watt_hours",
        "gauge",
        "Energy of the open transaction so far (meter now minus meter at start).",
        scalar(&["transaction", "energy_wh"]),
    );
}

fn meter_families(out: &mut Exposition, meters: &[Value]) {
    let id = |m: &Value| m["id"].as_str().unwrap_or_default().to_string();
    let each = |f: &dyn Fn(&Value) -> Option<f64>| -> Vec<(Labels, f64)> {
        meters
            .iter()
            .filter_map(|m| Some((vec![("meter", id(m))], f(m)?)))
            .collect()
    };
    out.family(
        "chargegate_meter_stale",
        "gauge",
        "1 while the meter has no good reading within stale-after-ms (its load is taken at worst-case-load-a, S5).",
        each(&|m| Some(flag(m["health"] != "ok"))),
    );
    out.family(
        "chargegate_meter_reading_age_seconds",
        "gauge",
        "Age of the meter's last good reading.",
        each(&|m| Some(num(&m["last_reading"]["age_ms"])? / 1000.0)),
    );
    out.family(
        "chargegate_meter_read_errors_total",
        "counter",
        "Failed or implausible reads of the meter since start.",
        each(&|m| num(&m["errors"]["total"])),
    );
    out.family(
        "chargegate_meter_consecutive_read_errors",
        "gauge",
        "Failed reads of the meter since its last good one.",
        each(&|m| num(&m["errors"]["consecutive"])),
    );
}

fn planner_families(out: &mut Exposition, planner: &Value) {
    let one = |v: Option<f64>| v.map(|v| (vec![], v)).into_iter().collect();
    out.family(
        "chargegate_planner_last_solve_duration_seconds",
        "gauge",
        "How long the last plan took to make.",
        one(num(&planner["solve_ms"]).map(|ms| ms / 1000.0)),
    );
    let planned_at = planner["planned_at"]
        .as_str()
        .and_then(crate::ocpp::time::parse)
        .map(|t| t.timestamp_millis() as f64 / 1000.0);
    out.family(
        "chargegate_planner_last_solve_timestamp_seconds",
        "gauge",
        "When the last plan was made, in seconds since the Unix epoch.",
        one(planned_at),
    );
    out.family(
        "chargegate_planner_status",
        "gauge",
        "1 for the kind of the plan in force (failsafe: a load reading is stale, S5).",
        PLANNER_STATUSES
            .iter()
            .map(|s| (vec![("status", (*s).into())], flag(planner["status"] == *s)))
            .collect(),
    );
    out.family(
        "chargegate_planner_replans_total",
        "counter",
        "Plans made since start.",
        one(num(&planner["replans"])),
    );
    out.family(
        "chargegate_guard_active_cuts",
        "gauge",
        "Chargers the guard holds below their plan now.",
        one(num(&planner["guard_cuts"])),
    );
}

/// The upstream link (`/api/v1/site` `upstream`); nothing without `[upstream.mqtt]`.
fn upstream_families(out: &mut Exposition, upstream: &Value) {
    if upstream.is_null() {
        return;
    }
    let one = |v: Option<f64>| v.map(|v| (vec![], v)).into_iter().collect();
    out.family(
        "chargegate_upstream_connected",
        "gauge",
        "1 while the upstream broker connection is up.",
        one(upstream["connected"].as_bool().map(flag)),
    );
    out.family(
        "chargegate_upstream_outbox_messages",
        "gauge",
        "Messages waiting in the outbox for the broker's acknowledgement.",
        one(num(&upstream["pending"])),
    );
    out.family(
        "chargegate_upstream_outbox_transaction_messages",
        "gauge",
        "Of those, transaction events (never dropped).",
        one(num(&upstream["pending_transactions"])),
    );
    out.family(
        "chargegate_upstream_delivered_total",
        "counter",
        "Outbox messages the broker acknowledged since start.",
        one(num(&upstream["delivered"])),
    );
    out.family(
        "chargegate_upstream_commands_total",
        "counter",
        "Commands taken from the broker since start.",
        one(num(&upstream["commands"])),
    );
    out.family(
        "chargegate_upstream_commands_refused_total",
        "counter",
        "Of those, the ones answered with an error.",
        one(num(&upstream["commands_refused"])),
    );
}

fn counter_families(out: &mut Exposition, t: &telemetry::Snapshot) {
    let by_action = |m: &std::collections::BTreeMap<(telemetry::Direction, String), u64>| {
        m.iter()
            .map(|((d, a), n)| {
                let labels = vec![("direction", d.as_str().into()), ("action", a.clone())];
                (labels, *n as f64)
            })
            .collect()
    };
    out.family(
        "chargegate_guard_cuts_total",
        "counter",
        "Times the guard cut a charger below its plan or deeper than before (S1).",
        vec![(vec![], t.guard_cuts as f64)],
    );
    out.family(
        "chargegate_ocpp_messages_total",
        "counter",
        "OCPP CALLs by direction (in: from chargers, out: to chargers) and action (unknown: not an action of the charger's version).",
        by_action(&t.calls),
    );
    out.family(
        "chargegate_ocpp_errors_total",
        "counter",
        "OCPP errors: in, a charger's CALLERROR to a command (by its action) or a frame that could not be parsed (malformed); out, a CALLERROR chargegate answered a CALL with.",
        by_action(&t.call_errors),
    );
    out.family(
        "chargegate_command_timeouts_total",
        "counter",
        "Commands a charger did not answer within the call timeout, by action.",
        t.command_timeouts
            .iter()
            .map(|(a, n)| (vec![("action", a.clone())], *n as f64))
            .collect(),
    );
    out.histogram(
        "chargegate_store_write_duration_seconds",
        "Time the store thread took for one job that wrote to the database, commit (fsync) included.",
        &t.store_write_buckets,
        t.store_writes,
        t.store_write_seconds,
    );
}

/// The text being written; each family once, its samples together (the format's rule).
#[derive(Default)]
struct Exposition {
    text: String,
    declared: BTreeSet<&'static str>,
}

impl Exposition {
    fn header(&mut self, name: &'static str, kind: &str, help: &str) {
        debug_assert!(self.declared.insert(name), "{name} declared twice");
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn family(&mut self, name: &'static str, kind: &str, help: &str, samples: Vec<(Labels, f64)>) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            self.sample(name, &labels, value);
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, String)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }

    /// A histogram from per-bucket counts: cumulative `_bucket{le}` lines, `+Inf`
    /// (= `_count`), `_sum`, `_count`.
    fn histogram(&mut self, name: &'static str, help: &str, buckets: &[u64], count: u64, sum: f64) {
        self.header(name, "histogram", help);
        let mut cumulative = 0;
        for (le, n) in STORE_WRITE_BUCKETS_S.iter().zip(buckets) {
            cumulative += n;
            let labels = [("le", format_value(*le))];
            self.sample(&format!("{name}_bucket"), &labels, cumulative as f64);
        }
        self.sample(
            &format!("{name}_bucket"),
            &[("le", "+Inf".into())],
            count as f64,
        );
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count as f64);
    }
}

/// A label value with `\`, `"` and line feeds escaped (the format's only escapes).
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Go's float spelling the format asks for: `+Inf`, `-Inf`, `NaN`; Rust's `Display` for
/// the rest (no exponent, shortest round-trip digits).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_link_is_exported_only_when_configured() {
        let mut out = Exposition::default();
        upstream_families(&mut out, &Value::Null);
        assert!(out.text.is_empty());
        let status = super::super::UpstreamStatus {
            kind: "mqtt",
            connected: true,
            pending: 7,
            pending_transactions: 2,
            delivered: 40,
            commands: 3,
            commands_refused: 1,
            ..Default::default()
        };
        upstream_families(&mut out, &super::super::upstream::upstream_json(&status));
        for line in [
            "chargegate_upstream_connected 1",
            "chargegate_upstream_outbox_messages 7",
            "chargegate_upstream_outbox_transaction_messages 2",
            "chargegate_upstream_delivered_total 40",
            "chargegate_upstream_commands_total 3",
            "chargegate_upstream_commands_refused_total 1",
        ] {
            assert!(
                out.text.lines().any(|l| l == line),
                "{line} in\n{}",
                out.text
            );
        }
    }

    #[test]
    fn label_values_are_escaped_and_special_floats_spelled_as_go_does() {
        let mut out = Exposition::default();
        out.family(
            "x_total",
            "counter",
            "a \\ help\nline",
            vec![(vec![("action", "a\"b\\c\nd".into())], 2.0)],
        );
        assert_eq!(
            out.text,
            "# HELP x_total a \\\\ help\\nline\n# TYPE x_total counter\n\
             x_total{action=\"a\\\"b\\\\c\\nd\"} 2\n"
        );
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(0.0025), "0.0025");
        assert_eq!(format_value(1e-7), "0.0000001");
    }

    #[test]
    fn a_histogram_is_cumulative_and_ends_with_inf_sum_and_count() {
        let mut out = Exposition::default();
        let mut buckets = vec![0; STORE_WRITE_BUCKETS_S.len()];
        buckets[0] = 2;
        buckets[3] = 1;
        out.histogram("h_seconds", "h", &buckets, 4, 12.5);
        let lines: Vec<&str> = out.text.lines().collect();
        assert_eq!(lines[2], "h_seconds_bucket{le=\"0.001\"} 2");
        assert_eq!(lines[5], "h_seconds_bucket{le=\"0.01\"} 3");
        assert_eq!(lines[12], "h_seconds_bucket{le=\"2.5\"} 3");
        assert_eq!(lines[13], "h_seconds_bucket{le=\"+Inf\"} 4");
        assert_eq!(lines[14], "h_seconds_sum 12.5");
        assert_eq!(lines[15], "h_seconds_count 4");
    }
}
