//! The tables of the site file and the checks that span them.
//!
//! `read` maps each TOML table to its typed value with defaults; `check` does what needs
//! more than one key: ranges between keys, duplicate ids, references, and the failsafe
//! budget of DESIGN.md S3. Nothing here performs IO.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::decode::{Doc, Table, addr, amps, phases};
use super::{
    Charger, Config, CsmsSettings, Dispatch, IdTokenEntry, Site, StoreSettings, Tls, TokenStatus,
    UnknownChargers,
};
use crate::ev::IEC_MIN_CURRENT_A;
use crate::units::{Amps, Volts};

pub const TOP_LEVEL_KEYS: &[&str] = &[
    "site",
    "csms",
    "http",
    "store",
    "charger",
    "id-token",
    "dispatch",
    "meter",
    "profiles",
    "circuit",
    "planner",
    "departure",
    "upstream",
];
const SITE_KEYS: &[&str] = &[
    "id",
    "grid-limit-a",
    "phases",
    "nominal-voltage-v",
    "margin-a",
    "worst-case-load-a",
    "learn-vehicle-phases",
];
const CSMS_KEYS: &[&str] = &[
    "listen",
    "unknown-chargers",
    "tls-cert-file",
    "tls-key-file",
    "client-ca-file",
    "client-ca-key-file",
    "heartbeat-interval-s",
    "call-timeout-s",
    "max-message-bytes",
];
const TOKEN_KEYS: &[&str] = &["id", "status", "expires", "group"];

pub fn read(root: &Table<'_, '_>) -> Option<Config> {
    let site = root
        .req_table("site", "add a [site] table with id and grid-limit-a")
        .and_then(|t| read_site(&t));
    let csms = match root.opt_table("csms") {
        Some(t) => read_csms(&t),
        None => Some(default_csms()),
    };
    let http = super::http::read_http(root);
    if let (Some(csms), Some(http)) = (&csms, &http) {
        check_listeners_apart(root, csms.listen, http.listen);
    }
    let store = read_store(root);
    let dispatch = match root.opt_table("dispatch") {
        Some(t) => read_dispatch(&t),
        None => Some(default_dispatch()),
    };
    // `[profiles] charger-dir` (the `[profiles]` table itself is read with the meters).
    let charger_dirs = root
        .opt_table("profiles")
        .and_then(|t| t.opt_str("charger-dir"))
        .map_or_else(crate::profiles::charger::default_dirs, |d| {
            vec![PathBuf::from(d)]
        });
    let chargers: Vec<Option<Charger>> = root
        .tables("charger")
        .iter()
        .map(|t| super::charger::read_charger(t, &charger_dirs))
        .collect();
    let id_tokens: Vec<Option<IdTokenEntry>> =
        root.tables("id-token").iter().map(read_token).collect();
    let meters = super::meter::read(root);
    let circuits: Vec<Option<super::Circuit>> = root
        .tables("circuit")
        .iter()
        .map(super::circuit::read_circuit)
        .collect();
    let planner = match root.opt_table("planner") {
        Some(t) => super::planner::read_planner(&t),
        None => Some(super::Planner::default()),
    };
    let departures: Vec<Option<super::Departure>> = root
        .tables("departure")
        .iter()
        .map(super::planner::read_departure)
        .collect();
    let upstream =
        super::upstream::read_upstream(root, site.as_ref().map(|s: &Site| s.id.as_str()));
    Some(Config {
        site: site?,
        csms: csms?,
        http: http?,
        store,
        chargers: chargers.into_iter().collect::<Option<Vec<_>>>()?,
        id_tokens: id_tokens.into_iter().collect::<Option<Vec<_>>>()?,
        dispatch: dispatch?,
        meters: meters?,
        circuits: circuits.into_iter().collect::<Option<Vec<_>>>()?,
        planner: planner?,
        departures: departures.into_iter().collect::<Option<Vec<_>>>()?,
        upstream: upstream?,
    })
}

/// The chargers' and the API's listeners cannot share a socket address: `run` would fail
/// to bind the second (issue 17: `validate` passed it).
fn check_listeners_apart(root: &Table<'_, '_>, csms: SocketAddr, http: SocketAddr) {
    // Port 0 asks the kernel for a free port each: never the same.
    let overlap = csms.port() == http.port()
        && csms.port() != 0
        && (csms.ip() == http.ip() || csms.ip().is_unspecified() || http.ip().is_unspecified());
    if !overlap {
        return;
    }
    let message = format!("the HTTP API ({http}) and the chargers' listener ({csms}) share a port");
    let hint = Some("give [http] listen and [csms] listen different ports".to_string());
    match (root.opt_table("http"), root.opt_table("csms")) {
        (Some(t), _) if t.has("listen") => t.problem("listen", message, hint),
        (_, Some(t)) => t.problem("listen", message, hint),
        _ => root.problem("http", message, hint),
    }
}

/// `[store]`: the database path and how many days of history and audit it keeps.
fn read_store(root: &Table<'_, '_>) -> StoreSettings {
    match root.opt_table("store") {
        Some(t) => {
            let path = t
                .opt_str("path")
                .map(PathBuf::from)
                .unwrap_or_else(default_store_path);
            let history_days = t
                .opt_int("history-days", 1, 3650)
                .unwrap_or(DEFAULT_HISTORY_DAYS) as u32;
            let audit_days = t
                .opt_int("audit-days", 1, 3650)
                .unwrap_or(DEFAULT_AUDIT_DAYS) as u32;
            t.finish(&["path", "history-days", "audit-days"]);
            StoreSettings {
                path,
                history_days,
                audit_days,
            }
        }
        None => StoreSettings {
            path: default_store_path(),
            history_days: DEFAULT_HISTORY_DAYS as u32,
            audit_days: DEFAULT_AUDIT_DAYS as u32,
        },
    }
}

fn default_dispatch() -> Dispatch {
    Dispatch {
        lease_s: 600,
        hysteresis: Amps(1.0),
        verify: false,
        min_interval_s: 30,
    }
}

fn read_dispatch(t: &Table<'_, '_>) -> Option<Dispatch> {
    let defaults = default_dispatch();
    // At least a minute: a shorter lease risks a charger dropping to its failsafe between
    // two refreshes on a slow network; at most a day, so a dead chargegate is noticed.
    let lease_s = t
        .opt_int("lease-s", 60, 86_400)
        .map_or(defaults.lease_s, |v| v as u32);
    let hysteresis = amps(t, "hysteresis-a", None).unwrap_or(defaults.hysteresis);
    let verify = t.opt_bool("verify").unwrap_or(defaults.verify);
    let min_interval_s = t
        .opt_int("min-interval-s", 0, 3600)
        .map_or(defaults.min_interval_s, |v| v as u32);
    t.finish(&["lease-s", "hysteresis-a", "verify", "min-interval-s"]);
    Some(Dispatch {
        lease_s,
        hysteresis,
        verify,
        min_interval_s,
    })
}

/// Days of 1-minute meter history kept in the store.
const DEFAULT_HISTORY_DAYS: i64 = 30;
/// The audit log grows by a lease refresh per charger every `lease-s / 2` (about 0.6 kB
/// each): 30 days of a 20-charger depot is some 100 MB.
const DEFAULT_AUDIT_DAYS: i64 = 30;

fn default_store_path() -> PathBuf {
    PathBuf::from("/var/lib/chargegate/chargegate.db")
}

fn default_csms() -> CsmsSettings {
    CsmsSettings {
        listen: SocketAddr::from(([0, 0, 0, 0], 8887)),
        unknown_chargers: UnknownChargers::Reject,
        tls: None,
        heartbeat_interval_s: 300,
        call_timeout_s: 30,
        max_message_bytes: 64 * 1024,
    }
}

/// A site id names MQTT topics, upstream records and files: short and plain.
const MAX_SITE_ID: usize = 64;

pub(super) fn is_site_id(id: &str) -> bool {
    (1..=MAX_SITE_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A value for a message, cut to 40 characters (a megabyte id must not fill the screen).
pub(super) fn quoted_prefix(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    if cut.len() < value.len() {
        format!("{cut:?}... ({} bytes)", value.len())
    } else {
        format!("{cut:?}")
    }
}

fn read_site(t: &Table<'_, '_>) -> Option<Site> {
    let id = t.req_str("id", "name the site, e.g. id = \"depot-nord\"");
    let grid_limit = amps(
        t,
        "grid-limit-a",
        Some("the main fuse rating per phase, in A"),
    );
    let phases = if t.has("phases") {
        phases(t, "phases")
    } else {
        Some(3)
    };
    let voltage = t.opt_f64("nominal-voltage-v").unwrap_or(230.0);
    let margin = amps(t, "margin-a", None).unwrap_or(Amps(0.0));
    let worst = amps(
        t,
        "worst-case-load-a",
        Some("the highest non-charger load per phase, in A, assumed while the meter is silent"),
    );
    let learn_vehicle_phases = t.opt_bool("learn-vehicle-phases").unwrap_or(false);
    t.finish(SITE_KEYS);
    if let Some(id) = &id
        && !is_site_id(id)
    {
        t.problem(
            "id",
            format!("{} is not a site id", quoted_prefix(id)),
            Some(format!(
                "1 to {MAX_SITE_ID} letters, digits, '-' or '_' (it names MQTT topics and files)"
            )),
        );
    }
    if !(100.0..=500.0).contains(&voltage) {
        t.problem(
            "nominal-voltage-v",
            format!("{voltage} V is not a mains voltage"),
            Some("230 in Europe, 120 or 277 in North America".into()),
        );
    }
    let grid_limit = grid_limit?;
    if grid_limit.0 <= 0.0 {
        t.problem("grid-limit-a", "the grid limit must be above 0 A", None);
    }
    Some(Site {
        id: id?,
        grid_limit,
        phases: phases?,
        nominal_voltage: Volts(voltage),
        margin,
        worst_case_load: worst?,
        learn_vehicle_phases,
    })
}

fn read_csms(t: &Table<'_, '_>) -> Option<CsmsSettings> {
    let defaults = default_csms();
    let listen = if t.has("listen") {
        addr(t, "listen")
    } else {
        Some(defaults.listen)
    };
    let unknown = match t.opt_str("unknown-chargers").as_deref() {
        None | Some("reject") => Some(UnknownChargers::Reject),
        Some("pending") => Some(UnknownChargers::Pending),
        Some(other) => {
            t.problem(
                "unknown-chargers",
                format!("{other:?} is not a choice"),
                Some("\"reject\" or \"pending\"".into()),
            );
            None
        }
    };
    let cert = t.opt_str("tls-cert-file").map(PathBuf::from);
    let key = t.opt_str("tls-key-file").map(PathBuf::from);
    let ca = t.opt_str("client-ca-file").map(PathBuf::from);
    let ca_key = t.opt_str("client-ca-key-file").map(PathBuf::from);
    if ca_key.is_some() && ca.is_none() {
        t.problem(
            "client-ca-key-file",
            "the key of client-ca-file, which is not set",
            Some("set client-ca-file to the CA certificate of this key".into()),
        );
    }
    let tls = match (cert, key) {
        (Some(cert_file), Some(key_file)) => Some(Tls {
            cert_file,
            key_file,
            client_ca_file: ca,
            client_ca_key_file: ca_key,
        }),
        (None, None) => {
            if ca.is_some() {
                t.problem(
                    "client-ca-file",
                    "client certificates need TLS",
                    Some("set tls-cert-file and tls-key-file too".into()),
                );
            }
            None
        }
        (Some(_), None) => {
            t.problem(
                "tls-key-file",
                "tls-cert-file is set but tls-key-file is not",
                Some("TLS needs both".into()),
            );
            None
        }
        (None, Some(_)) => {
            t.problem(
                "tls-cert-file",
                "tls-key-file is set but tls-cert-file is not",
                Some("TLS needs both".into()),
            );
            None
        }
    };
    let heartbeat = t
        .opt_int("heartbeat-interval-s", 10, 86_400)
        .map(|v| v as u32);
    let call_timeout = t.opt_int("call-timeout-s", 1, 600).map(|v| v as u32);
    let max_message = t
        .opt_int("max-message-bytes", 1024, 16 * 1024 * 1024)
        .map(|v| v as usize);
    t.finish(CSMS_KEYS);
    Some(CsmsSettings {
        listen: listen?,
        unknown_chargers: unknown?,
        tls,
        heartbeat_interval_s: heartbeat.unwrap_or(defaults.heartbeat_interval_s),
        call_timeout_s: call_timeout.unwrap_or(defaults.call_timeout_s),
        max_message_bytes: max_message.unwrap_or(defaults.max_message_bytes),
    })
}

fn read_token(t: &Table<'_, '_>) -> Option<IdTokenEntry> {
    let id = t.req_str("id", "the card's UID or token as the charger reports it");
    let status = match t.opt_str("status").as_deref() {
        None | Some("accepted") => Some(TokenStatus::Accepted),
        Some("blocked") => Some(TokenStatus::Blocked),
        Some(other) => {
            t.problem(
                "status",
                format!("{other:?} is not a token status"),
                Some("\"accepted\" or \"blocked\"".into()),
            );
            None
        }
    };
    let expires = t.opt_datetime("expires");
    let group = t.opt_str("group");
    t.finish(TOKEN_KEYS);
    let id = id?;
    if id.is_empty() || id.chars().count() > 36 {
        t.problem(
            "id",
            "an id token has 1 to 36 characters",
            Some("OCPP 2.0.1 IdTokenType; 1.6 idTag allows only 20".into()),
        );
    }
    Some(IdTokenEntry {
        id,
        status: status?,
        expires,
        group,
    })
}

/// The site phases a charger loads: the first `phases` letters of its rotation
/// (R, S, T = site L1, L2, L3).
pub fn site_phases(charger: &Charger) -> impl Iterator<Item = usize> + '_ {
    charger
        .phase_rotation
        .chars()
        .take(usize::from(charger.phases))
        .filter_map(|c| match c {
            'R' => Some(0),
            'S' => Some(1),
            'T' => Some(2),
            _ => None,
        })
}

/// (failsafe current on the most loaded site phase, grid limit - margin), in A.
pub fn failsafe_budget(config: &Config) -> (f64, f64) {
    failsafe_budget_of(config, None)
}

/// As `failsafe_budget`, for the chargers under `circuit` (`None`: the grid connection,
/// i.e. every charger) against that circuit's limit - margin.
pub fn failsafe_budget_of(config: &Config, circuit: Option<&str>) -> (f64, f64) {
    let mut per_phase = [0.0f64; 3];
    for c in &config.chargers {
        let under = match circuit {
            None => true,
            Some(id) => super::ancestors(&config.circuits, c.circuit.as_deref())
                .iter()
                .any(|a| a.id == id),
        };
        if !under {
            continue;
        }
        for p in site_phases(c) {
            per_phase[p] += c.failsafe_current.0;
        }
    }
    let worst = per_phase
        .iter()
        .take(usize::from(config.site.phases))
        .fold(0.0f64, |a, b| a.max(*b));
    let limit = match circuit {
        None => config.site.grid_limit.0,
        Some(id) => config
            .circuits
            .iter()
            .find(|c| c.id == id)
            .map_or(config.site.grid_limit.0, |c| c.limit.0),
    };
    (worst, limit - config.site.margin.0)
}

/// Checks that need the whole config. Problems point at the key that has to change.
pub fn check(doc: &Doc<'_>, config: &Config) {
    let site = &config.site;
    if site.margin.0 >= site.grid_limit.0 {
        doc.report(
            "site.margin-a",
            None,
            "the margin leaves nothing of the grid limit",
            Some("the margin is a few A kept free below grid-limit-a".into()),
        );
    }
    check_chargers(doc, config);
    check_id_tokens(doc, config);
    check_failsafe_budgets(doc, config);
    super::circuit::check(doc, config);
    super::planner::check(doc, config);
}

/// Per charger: a unique id, its phases within the site's, and some way to authenticate.
fn check_chargers(doc: &Doc<'_>, config: &Config) {
    let site = &config.site;
    let mut seen = HashSet::new();
    for (i, c) in config.chargers.iter().enumerate() {
        let path = format!("charger[{i}]");
        if !seen.insert(c.id.clone()) {
            doc.report(
                &format!("{path}.id"),
                None,
                format!("charger id {} is used twice", c.id),
                Some("every charger needs its own OCPP identity".into()),
            );
        }
        check_charger_currents(doc, &path, c);
        if c.phases > site.phases {
            doc.report(
                &format!("{path}.phases"),
                None,
                format!(
                    "the charger has {} phases but the site only {}",
                    c.phases, site.phases
                ),
                None,
            );
        }
        if c.secret.is_none()
            && config
                .csms
                .tls
                .as_ref()
                .is_none_or(|t| t.client_ca_file.is_none())
        {
            doc.report(
                &format!("{path}.password"),
                None,
                "the charger has no password and no client certificate is required",
                Some("set password (security profile 1) or client-ca-file (profile 3)".into()),
            );
        }
    }
}

/// Min, max and failsafe current of one charger against each other and IEC 61851-1.
fn check_charger_currents(doc: &Doc<'_>, path: &str, c: &Charger) {
    if c.min_current.0 > c.max_current.0 {
        doc.report(
            &format!("{path}.min-current-a"),
            None,
            format!(
                "min-current-a {} A is above max-current-a {} A",
                c.min_current.0, c.max_current.0
            ),
            None,
        );
    }
    if c.min_current.0 < IEC_MIN_CURRENT_A {
        doc.report(
            &format!("{path}.min-current-a"),
            None,
            format!(
                "{} A is below the 6 A minimum of IEC 61851-1",
                c.min_current.0
            ),
            Some("vehicles do not charge below 6 A".into()),
        );
    }
    if c.failsafe_current.0 > c.max_current.0 {
        doc.report(
            &format!("{path}.failsafe-current-a"),
            None,
            format!(
                "failsafe {} A is above max-current-a {} A",
                c.failsafe_current.0, c.max_current.0
            ),
            None,
        );
    }
    if c.failsafe_current.0 > 0.0 && c.failsafe_current.0 < c.min_current.0 {
        doc.report(
            &format!("{path}.failsafe-current-a"),
            None,
            format!(
                "failsafe {} A is between 0 and the minimum {} A (DESIGN.md S4)",
                c.failsafe_current.0, c.min_current.0
            ),
            Some("use 0 (pause) or at least min-current-a".into()),
        );
    }
}

/// Every id token once.
fn check_id_tokens(doc: &Doc<'_>, config: &Config) {
    let mut tokens = HashSet::new();
    for (i, t) in config.id_tokens.iter().enumerate() {
        if !tokens.insert(t.id.as_str()) {
            doc.report(
                &format!("id-token[{i}].id"),
                None,
                format!("id token {} is listed twice", t.id),
                None,
            );
        }
    }
}

/// DESIGN.md S3: if chargegate stops, the failsafe currents plus the worst-case load fit
/// under the site's limit and under each sub-circuit's.
fn check_failsafe_budgets(doc: &Doc<'_>, config: &Config) {
    let site = &config.site;
    let (failsafe, budget) = failsafe_budget(config);
    if failsafe + site.worst_case_load.0 > budget {
        doc.report(
            "charger[*].failsafe-current-a",
            None,
            format!(
                "failsafe currents ({failsafe:.1} A on the most loaded phase) plus worst-case-load-a ({} A) exceed grid-limit-a - margin-a ({budget:.1} A): if chargegate stops, the main fuse can trip (DESIGN.md S3)",
                site.worst_case_load.0
            ),
            Some("lower failsafe-current-a (0 pauses a charger) or check worst-case-load-a".into()),
        );
    }
    // The same promise for every sub-circuit, with the board's own worst-case load (the
    // site's unless the board says otherwise).
    for (i, circuit) in config.circuits.iter().enumerate() {
        let (failsafe, budget) = failsafe_budget_of(config, Some(&circuit.id));
        let worst = circuit.worst_case_load.unwrap_or(site.worst_case_load).0;
        if failsafe + worst > budget {
            doc.report(
                &format!("circuit[{i}].limit-a"),
                None,
                format!(
                    "failsafe currents under circuit {} ({failsafe:.1} A on the most loaded phase) plus its worst-case load ({worst} A) exceed its limit-a - margin-a ({budget:.1} A) (DESIGN.md S3)",
                    circuit.id
                ),
                Some("lower failsafe-current-a of its chargers, or set the board's worst-case-load-a (0 if it feeds only chargers)".into()),
            );
        }
    }
}
