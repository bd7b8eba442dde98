//! What a reload (`systemctl reload`, SIGHUP) may change while chargegate runs, decided
//! purely: `diff(running, file)` compares two valid configs key by key and sorts every
//! difference into *live* (applied now) or *needs a restart* (logged, not applied), and
//! builds the config to run on: the running one with the live differences put in.
//!
//! Live: the grid and circuit limits, the margin and the worst-case loads (the control
//! loop replans on them at once, reductions first), chargers added on a circuit that
//! already exists, a charger's password, the local authorization list, the planner's
//! prices, horizon and time budget, the departures, `[dispatch]` except `lease-s`, and the
//! API's tokens (`[[http.token]]`, `require-token-for-reads`).
//! Everything else needs a restart: what is bound or opened at start (listen addresses,
//! TLS files, the store, meters), the shape of the site (phases, voltage, the circuit
//! tree), an existing charger's currents, phases and profile (its failsafe baseline is
//! installed on connect, so the charger itself would still hold the old one, S3),
//! `[upstream.mqtt]` (the session is opened once, with its last will, at start),
//! `[upstream.ocpp]` and a charger's `upstream-password` (the cloud connections are opened
//! with them at start). A
//! charger removed from the file stays in the site model until a restart: it may still be
//! wired and drawing, and S1 must keep counting it.
//!
//! The result may mix old and new values, so the caller checks it again (`recheck`)
//! before running on it. Never performs IO.

use std::fmt::{Debug, Display};

use super::{Charger, Config, IdTokenEntry, UpstreamMqtt, UpstreamOcpp, UpstreamPassword};
use crate::units::Amps;

/// One difference between the running config and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The key as the electrician writes it: `site.grid-limit-a`, `charger.CP-03`.
    pub key: String,
    pub old: String,
    pub new: String,
}

impl Change {
    fn new(key: impl Into<String>, old: impl Into<String>, new: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            old: old.into(),
            new: new.into(),
        }
    }
}

/// What a reload does.
#[derive(Debug, Clone, PartialEq)]
pub struct Reload {
    /// The config to run on: the running one with every live change in it.
    pub effective: Config,
    /// Applied while running.
    pub live: Vec<Change>,
    /// Not applied: they take effect at the next start.
    pub restart: Vec<Change>,
}

impl Reload {
    /// Records a live change when the values differ; true when they do.
    fn live<T: PartialEq>(&mut self, key: &str, old: &T, new: &T, show: fn(&T) -> String) -> bool {
        if old == new {
            return false;
        }
        self.live.push(Change::new(key, show(old), show(new)));
        true
    }

    /// Records a change that needs a restart when the values differ.
    fn restart<T: PartialEq>(&mut self, key: &str, old: &T, new: &T, show: fn(&T) -> String) {
        if old != new {
            self.restart.push(Change::new(key, show(old), show(new)));
        }
    }
}

/// Compares the running config with the file's (both valid).
pub fn diff(old: &Config, new: &Config) -> Reload {
    let mut d = Reload {
        effective: old.clone(),
        live: Vec::new(),
        restart: Vec::new(),
    };
    site(&mut d, old, new);
    bound_at_start(&mut d, old, new);
    api_tokens(&mut d, old, new);
    dispatch(&mut d, old, new);
    circuits(&mut d, old, new);
    chargers(&mut d, old, new);
    tokens(&mut d, old, new);
    planning(&mut d, old, new);
    upstream(&mut d, old, new);
    d
}

fn site(d: &mut Reload, old: &Config, new: &Config) {
    let (o, n) = (&old.site, &new.site);
    d.restart("site.id", &o.id, &n.id, display);
    d.restart("site.phases", &o.phases, &n.phases, display);
    d.restart(
        "site.nominal-voltage-v",
        &o.nominal_voltage.0,
        &n.nominal_voltage.0,
        display,
    );
    if d.live("site.grid-limit-a", &o.grid_limit, &n.grid_limit, amps) {
        d.effective.site.grid_limit = n.grid_limit;
    }
    if d.live("site.margin-a", &o.margin, &n.margin, amps) {
        d.effective.site.margin = n.margin;
    }
    if d.live(
        "site.worst-case-load-a",
        &o.worst_case_load,
        &n.worst_case_load,
        amps,
    ) {
        d.effective.site.worst_case_load = n.worst_case_load;
    }
    if d.live(
        "site.learn-vehicle-phases",
        &o.learn_vehicle_phases,
        &n.learn_vehicle_phases,
        display,
    ) {
        d.effective.site.learn_vehicle_phases = n.learn_vehicle_phases;
    }
}

/// The API's tokens are read per request: a token added, revoked or given another role
/// counts from the next request on (a leaked token is revoked without a restart).
fn api_tokens(d: &mut Reload, old: &Config, new: &Config) {
    if d.live("http.token", &old.http.tokens, &new.http.tokens, |ts| {
        list(
            ts.iter()
                .map(|t| format!("{} ({})", t.name, t.role.as_str())),
        )
    }) {
        d.effective.http.tokens = new.http.tokens.clone();
    }
    if d.live(
        "http.require-token-for-reads",
        &old.http.require_token_for_reads,
        &new.http.require_token_for_reads,
        display,
    ) {
        d.effective.http.require_token_for_reads = new.http.require_token_for_reads;
    }
}

/// Listeners, TLS, the store and the meters: opened once, at start.
fn bound_at_start(d: &mut Reload, old: &Config, new: &Config) {
    let (o, n) = (&old.csms, &new.csms);
    d.restart("csms.listen", &o.listen, &n.listen, display);
    d.restart(
        "csms.unknown-chargers",
        &o.unknown_chargers,
        &n.unknown_chargers,
        debug,
    );
    d.restart(
        "csms.tls-cert-file/tls-key-file/client-ca-file/client-ca-key-file",
        &o.tls,
        &n.tls,
        |t| {
            t.as_ref().map_or("(none)".into(), |t| {
                format!("{} {}", t.cert_file.display(), t.key_file.display())
            })
        },
    );
    d.restart(
        "csms.heartbeat-interval-s",
        &o.heartbeat_interval_s,
        &n.heartbeat_interval_s,
        display,
    );
    d.restart(
        "csms.call-timeout-s",
        &o.call_timeout_s,
        &n.call_timeout_s,
        display,
    );
    d.restart(
        "csms.max-message-bytes",
        &o.max_message_bytes,
        &n.max_message_bytes,
        display,
    );
    d.restart("http.listen", &old.http.listen, &new.http.listen, display);
    d.restart(
        "http.allowed-hosts",
        &old.http.allowed_hosts,
        &new.http.allowed_hosts,
        debug,
    );
    let (o, n) = (&old.store, &new.store);
    d.restart("store.path", &o.path, &n.path, |p| p.display().to_string());
    d.restart(
        "store.history-days",
        &o.history_days,
        &n.history_days,
        display,
    );
    d.restart("store.audit-days", &o.audit_days, &n.audit_days, display);
    for m in &new.meters {
        match old.meters.iter().find(|o| o.id == m.id) {
            None => d
                .restart
                .push(Change::new(format!("meter.{}", m.id), "(none)", "added")),
            Some(o) if o != m => {
                d.restart.push(Change::new(
                    format!("meter.{}", m.id),
                    "as running",
                    "changed",
                ));
            }
            Some(_) => {}
        }
    }
    for m in old
        .meters
        .iter()
        .filter(|o| !new.meters.iter().any(|m| m.id == o.id))
    {
        d.restart.push(Change::new(
            format!("meter.{}", m.id),
            "as running",
            "removed",
        ));
    }
}

/// `[dispatch]`: all but the lease, whose length sets the refresh and probe timers.
fn dispatch(d: &mut Reload, old: &Config, new: &Config) {
    let (o, n) = (&old.dispatch, &new.dispatch);
    d.restart("dispatch.lease-s", &o.lease_s, &n.lease_s, display);
    if d.live("dispatch.hysteresis-a", &o.hysteresis, &n.hysteresis, amps) {
        d.effective.dispatch.hysteresis = n.hysteresis;
    }
    if d.live("dispatch.verify", &o.verify, &n.verify, display) {
        d.effective.dispatch.verify = n.verify;
    }
    if d.live(
        "dispatch.min-interval-s",
        &o.min_interval_s,
        &n.min_interval_s,
        display,
    ) {
        d.effective.dispatch.min_interval_s = n.min_interval_s;
    }
}

/// Limits and worst-case loads are live; the tree itself (ids, parents) needs a restart.
fn circuits(d: &mut Reload, old: &Config, new: &Config) {
    for n in &new.circuits {
        let Some(i) = old.circuits.iter().position(|o| o.id == n.id) else {
            d.restart.push(Change::new(
                format!("circuit.{}", n.id),
                "(none)",
                format!("{} A", n.limit.0),
            ));
            continue;
        };
        let o = &old.circuits[i];
        d.restart(
            &format!("circuit.{}.parent", n.id),
            &o.parent,
            &n.parent,
            |p| p.as_deref().unwrap_or(super::SITE_CIRCUIT).to_string(),
        );
        if d.live(
            &format!("circuit.{}.limit-a", n.id),
            &o.limit,
            &n.limit,
            amps,
        ) {
            d.effective.circuits[i].limit = n.limit;
        }
        let key = format!("circuit.{}.worst-case-load-a", n.id);
        if d.live(&key, &o.worst_case_load, &n.worst_case_load, |a| {
            a.map_or("(the site's)".into(), |a| amps(&a))
        }) {
            d.effective.circuits[i].worst_case_load = n.worst_case_load;
        }
    }
    for o in old
        .circuits
        .iter()
        .filter(|o| !new.circuits.iter().any(|n| n.id == o.id))
    {
        d.restart.push(Change::new(
            format!("circuit.{}", o.id),
            format!("{} A", o.limit.0),
            "removed",
        ));
    }
}

/// Chargers added on a known circuit and passwords are live; see the module doc.
fn chargers(d: &mut Reload, old: &Config, new: &Config) {
    // Without a cloud CSMS a charger's upstream password is unused: its change (with the
    // local password it defaults to) is no reason for a restart.
    let relayed = old.upstream.ocpp.is_some() || new.upstream.ocpp.is_some();
    for n in &new.chargers {
        let key = format!("charger.{}", n.id);
        match old.chargers.iter().find(|o| o.id == n.id) {
            Some(o) => charger_fields(d, o, n, relayed),
            None => {
                let circuit_runs = n
                    .circuit
                    .as_ref()
                    .is_none_or(|c| old.circuits.iter().any(|o| &o.id == c));
                if circuit_runs {
                    d.live.push(Change::new(key, "(none)", describe(n)));
                    d.effective.chargers.push(n.clone());
                } else {
                    let why = format!("{} (its circuit is new)", describe(n));
                    d.restart.push(Change::new(key, "(none)", why));
                }
            }
        }
    }
    for o in old
        .chargers
        .iter()
        .filter(|o| !new.chargers.iter().any(|n| n.id == o.id))
    {
        let why = "removed (still counted and admitted until the restart)";
        d.restart
            .push(Change::new(format!("charger.{}", o.id), describe(o), why));
    }
}

fn charger_fields(d: &mut Reload, o: &Charger, n: &Charger, relayed: bool) {
    let key = |field: &str| format!("charger.{}.{field}", n.id);
    if o.secret != n.secret
        && let Some(c) = d.effective.chargers.iter_mut().find(|c| c.id == n.id)
    {
        c.secret = n.secret.clone();
        // Never a secret in the log, not even a hash.
        d.live
            .push(Change::new(key("password"), "***", "*** (changed)"));
    }
    if o.upstream_password != n.upstream_password
        && !relayed
        && let Some(c) = d.effective.chargers.iter_mut().find(|c| c.id == n.id)
    {
        c.upstream_password = n.upstream_password.clone();
    } else if o.upstream_password != n.upstream_password {
        // The charger's connection to the cloud logs in with it once, at start.
        d.restart.push(password_change(
            key("upstream-password"),
            &o.upstream_password,
            &n.upstream_password,
        ));
    }
    d.restart(&key("max-current-a"), &o.max_current, &n.max_current, amps);
    d.restart(&key("min-current-a"), &o.min_current, &n.min_current, amps);
    d.restart(
        &key("failsafe-current-a"),
        &o.failsafe_current,
        &n.failsafe_current,
        amps,
    );
    d.restart(&key("phases"), &o.phases, &n.phases, display);
    d.restart(
        &key("phase-rotation"),
        &o.phase_rotation,
        &n.phase_rotation,
        display,
    );
    d.restart(&key("priority"), &o.priority, &n.priority, display);
    d.restart(&key("circuit"), &o.circuit, &n.circuit, |c| {
        c.as_deref().unwrap_or(super::SITE_CIRCUIT).to_string()
    });
    d.restart(&key("profile"), &o.profile, &n.profile, display);
    if o.profile == n.profile && o.quirks != n.quirks {
        let changed = "the profile file changed";
        d.restart
            .push(Change::new(key("profile"), o.profile.clone(), changed));
    }
}

/// The local authorization list, one change per token.
fn tokens(d: &mut Reload, old: &Config, new: &Config) {
    let before = d.live.len();
    for n in &new.id_tokens {
        let key = format!("id-token.{}", n.id);
        match old.id_tokens.iter().find(|o| o.id == n.id) {
            None => d.live.push(Change::new(key, "(none)", token(n))),
            Some(o) if o != n => d.live.push(Change::new(key, token(o), token(n))),
            Some(_) => {}
        }
    }
    for o in &old.id_tokens {
        if !new.id_tokens.iter().any(|n| n.id == o.id) {
            let key = format!("id-token.{}", o.id);
            d.live.push(Change::new(key, token(o), "(removed)"));
        }
    }
    if d.live.len() > before {
        d.effective.id_tokens = new.id_tokens.clone();
    }
}

/// `[planner]` but the slot length (the control loop's timer), and the departures.
fn planning(d: &mut Reload, old: &Config, new: &Config) {
    let (o, n) = (&old.planner, &new.planner);
    d.restart("planner.slot-min", &o.slot_min, &n.slot_min, display);
    if d.live("planner.horizon-h", &o.horizon_h, &n.horizon_h, display) {
        d.effective.planner.horizon_h = n.horizon_h;
    }
    if d.live(
        "planner.time-budget-ms",
        &o.time_budget_ms,
        &n.time_budget_ms,
        display,
    ) {
        d.effective.planner.time_budget_ms = n.time_budget_ms;
    }
    if d.live(
        "planner.default-price-per-kwh",
        &o.default_price_per_kwh,
        &n.default_price_per_kwh,
        display,
    ) {
        d.effective.planner.default_price_per_kwh = n.default_price_per_kwh;
    }
    if d.live("planner.tariff", &o.tariffs, &n.tariffs, |ts| {
        list(ts.iter().map(|t| {
            format!(
                "{}-{} {}",
                hhmm(t.from_min),
                hhmm(t.to_min),
                t.price_per_kwh
            )
        }))
    }) {
        d.effective.planner.tariffs = n.tariffs.clone();
    }
    if d.live("departure", &old.departures, &new.departures, |ds| {
        list(ds.iter().map(|d| {
            let who = match &d.who {
                super::DepartureFor::Charger(c) => format!("charger {c}"),
                super::DepartureFor::IdToken(t) => format!("id-token {t}"),
            };
            format!("{who} at {} {} kWh", hhmm(d.at_min), d.energy_kwh)
        }))
    }) {
        d.effective.departures = new.departures.clone();
    }
}

/// `[upstream.mqtt]` and `[upstream.ocpp]`: every key needs a restart, each reported by name.
fn upstream(d: &mut Reload, old: &Config, new: &Config) {
    match (&old.upstream.mqtt, &new.upstream.mqtt) {
        (None, None) => {}
        (None, Some(n)) => d
            .restart
            .push(Change::new("upstream.mqtt", "(none)", n.url.clone())),
        (Some(o), None) => d
            .restart
            .push(Change::new("upstream.mqtt", o.url.clone(), "(removed)")),
        (Some(o), Some(n)) => mqtt_fields(d, o, n),
    }
    match (&old.upstream.ocpp, &new.upstream.ocpp) {
        (None, None) => {}
        (None, Some(n)) => d
            .restart
            .push(Change::new("upstream.ocpp", "(none)", n.url.clone())),
        (Some(o), None) => d
            .restart
            .push(Change::new("upstream.ocpp", o.url.clone(), "(removed)")),
        (Some(o), Some(n)) => ocpp_fields(d, o, n),
    }
}

/// A password change for the log: never the secret; where it is kept is no secret.
fn password_change(
    key: String,
    old: &Option<UpstreamPassword>,
    new: &Option<UpstreamPassword>,
) -> Change {
    let show = |p: &Option<UpstreamPassword>| match p {
        None => "(none)".to_string(),
        Some(UpstreamPassword::Inline(_)) => "***".to_string(),
        Some(UpstreamPassword::File(path)) => format!("file {}", path.display()),
    };
    let shown_new = match new {
        Some(UpstreamPassword::Inline(_)) => "*** (changed)".to_string(),
        other => show(other),
    };
    Change::new(key, show(old), shown_new)
}

fn ocpp_fields(d: &mut Reload, o: &UpstreamOcpp, n: &UpstreamOcpp) {
    let before = d.restart.len();
    let key = |field: &str| format!("upstream.ocpp.{field}");
    d.restart(&key("url"), &o.url, &n.url, display);
    d.restart(&key("identity"), &o.identity, &n.identity, display);
    d.restart(&key("version"), &o.version, &n.version, |v| {
        v.subprotocol().to_string()
    });
    if o.password != n.password {
        d.restart
            .push(password_change(key("password"), &o.password, &n.password));
    }
    d.restart(&key("ca-file"), &o.ca_file, &n.ca_file, path);
    d.restart(
        &key("client-cert-file"),
        &o.client_cert_file,
        &n.client_cert_file,
        path,
    );
    d.restart(
        &key("client-key-file"),
        &o.client_key_file,
        &n.client_key_file,
        path,
    );
    d.restart(
        &key("call-timeout-s"),
        &o.call_timeout_s,
        &n.call_timeout_s,
        display,
    );
    // A field added to UpstreamOcpp but not above must still not change silently.
    if o != n && d.restart.len() == before {
        d.restart
            .push(Change::new("upstream.ocpp", "as running", "changed"));
    }
}

fn mqtt_fields(d: &mut Reload, o: &UpstreamMqtt, n: &UpstreamMqtt) {
    let before = d.restart.len();
    let key = |field: &str| format!("upstream.mqtt.{field}");
    // host, port and tls are read from the url: a change to them is a change of url.
    d.restart(&key("url"), &o.url, &n.url, display);
    d.restart(&key("client-id"), &o.client_id, &n.client_id, display);
    d.restart(&key("username"), &o.username, &n.username, |u| {
        u.clone().unwrap_or_else(|| "(none)".into())
    });
    if o.password != n.password {
        d.restart
            .push(password_change(key("password"), &o.password, &n.password));
    }
    d.restart(&key("ca-file"), &o.ca_file, &n.ca_file, path);
    d.restart(
        &key("client-cert-file"),
        &o.client_cert_file,
        &n.client_cert_file,
        path,
    );
    d.restart(
        &key("client-key-file"),
        &o.client_key_file,
        &n.client_key_file,
        path,
    );
    d.restart(
        &key("topic-prefix"),
        &o.topic_prefix,
        &n.topic_prefix,
        display,
    );
    d.restart(
        &key("keep-alive-s"),
        &o.keep_alive_s,
        &n.keep_alive_s,
        display,
    );
    d.restart(
        &key("telemetry-interval-s"),
        &o.telemetry_interval_s,
        &n.telemetry_interval_s,
        display,
    );
    d.restart(
        &key("telemetry-retention-days"),
        &o.telemetry_retention_days,
        &n.telemetry_retention_days,
        display,
    );
    // A field added to UpstreamMqtt but not above must still not change silently.
    if o != n && d.restart.len() == before {
        d.restart
            .push(Change::new("upstream.mqtt", "as running", "changed"));
    }
}

fn display<T: Display>(v: &T) -> String {
    v.to_string()
}

fn debug<T: Debug>(v: &T) -> String {
    format!("{v:?}")
}

fn path(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map_or_else(|| "(none)".into(), |p| p.display().to_string())
}

fn amps(a: &Amps) -> String {
    format!("{} A", a.0)
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

fn describe(c: &Charger) -> String {
    format!(
        "{}-{} A, failsafe {} A, {} phase(s), circuit {}",
        c.min_current.0,
        c.max_current.0,
        c.failsafe_current.0,
        c.phases,
        c.circuit.as_deref().unwrap_or(super::SITE_CIRCUIT)
    )
}

fn token(t: &IdTokenEntry) -> String {
    let mut out = format!("{:?}", t.status).to_lowercase();
    if let Some(expires) = t.expires {
        out += &format!(", expires {}", expires.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    if let Some(group) = &t.group {
        out += &format!(", group {group}");
    }
    out
}

#[cfg(test)]
mod tests;
