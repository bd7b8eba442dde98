//! The site configuration: one TOML file written by the site's electrician.
//!
//! Parse, don't validate (STYLE.md §5): `load` turns the text into typed values or into the
//! complete list of problems, each with key path, line and hint. Keys are kebab-case,
//! unknown keys are rejected, physical keys carry their unit. This module must never reach
//! the network or the store; `summary` renders what `chargegate validate` prints.

mod charger;
mod circuit;
mod decode;
pub mod diff;
mod files;
mod http;
mod live;
mod meter;
mod planner;
mod site;
mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

pub use circuit::{Circuit, SITE as SITE_CIRCUIT, ancestors};
pub use decode::Problem;
use decode::{Doc, Table};
pub use http::{ApiRole, ApiToken, Http};
pub use live::Live;
pub use meter::{Meter, MeterRole, MeterTransport, Parity, RtuSettings};
pub use planner::{Departure, DepartureFor, Planner, Tariff, parse_time_of_day, price_at};
pub use site::site_phases;
/// The name `UpstreamPassword` had when only MQTT used it.
pub use upstream::UpstreamPassword as MqttPassword;
pub use upstream::{SYSTEM_CA_BUNDLE, Upstream, UpstreamMqtt, UpstreamOcpp, UpstreamPassword};

use crate::units::{Amps, ChargerId, Volts};

/// Exit status of `validate` and `run` on a bad config: EX_CONFIG from sysexits.h.
pub const EXIT_BAD_CONFIG: i32 = 78;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub site: Site,
    pub csms: CsmsSettings,
    pub http: Http,
    pub store: StoreSettings,
    pub chargers: Vec<Charger>,
    pub id_tokens: Vec<IdTokenEntry>,
    pub dispatch: Dispatch,
    pub meters: Vec<Meter>,
    /// `[[circuit]]`: sub-circuits under the grid connection.
    pub circuits: Vec<Circuit>,
    pub planner: Planner,
    /// `[[departure]]`: the depot's daily departure schedule.
    pub departures: Vec<Departure>,
    /// `[upstream]`: the broker and/or the cloud CSMS the site reports to.
    pub upstream: Upstream,
}

/// `[dispatch]`: how limits are sent (DESIGN.md S2, S3).
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// A limit above the failsafe holds this long unless refreshed, in seconds.
    pub lease_s: u32,
    /// Increases smaller than this are not sent (reductions always are).
    pub hysteresis: Amps,
    /// Read the composite schedule back after every limit (one more message per limit).
    pub verify: bool,
    /// An increase is not sent to a charger within this long of its last limit (no
    /// chatter); reductions always go out at once.
    pub min_interval_s: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: String,
    /// Per phase, at the grid connection (the main fuse).
    pub grid_limit: Amps,
    pub phases: u8,
    pub nominal_voltage: Volts,
    /// Kept free below every limit.
    pub margin: Amps,
    /// Non-charger load per phase assumed while the grid meter is stale (DESIGN.md S5).
    pub worst_case_load: Amps,
    /// Count a charger on the phases its vehicle was seen to draw on, where a grid meter
    /// sees a phase switched on (`site::learned_phases`); false (the default): always on
    /// every phase.
    pub learn_vehicle_phases: bool,
}

/// What to do with a charger whose id is not in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownChargers {
    /// Refuse the WebSocket handshake (HTTP 404).
    Reject,
    /// Accept the connection, answer BootNotification with Pending and list it for the operator.
    Pending,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Security profile 3: chargers must present a certificate signed by this CA.
    pub client_ca_file: Option<PathBuf>,
    /// The private key of the CA in `client_ca_file`: chargegate signs chargers'
    /// certificate requests with it (2.0.1 A02/A03).
    pub client_ca_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsmsSettings {
    pub listen: SocketAddr,
    pub unknown_chargers: UnknownChargers,
    /// Security profiles 2 and 3.
    pub tls: Option<Tls>,
    /// Sent in BootNotification.conf, in seconds.
    pub heartbeat_interval_s: u32,
    /// How long a charger may take to answer one of our CALLs, in seconds.
    pub call_timeout_s: u32,
    /// WebSocket messages above this size are refused (a Pi has little memory), in bytes.
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// How long the 1-minute meter history is kept, in days.
    pub history_days: u32,
    /// How long the audit log (every command sent to a charger) is kept.
    pub audit_days: u32,
}

/// How a charger proves who it is (security profile 1: HTTP Basic auth).
#[derive(Clone, PartialEq, Eq)]
pub enum ChargerSecret {
    /// A plain password from the file.
    Password(String),
    /// An argon2 PHC string (`$argon2id$...`), from `chargegate hash-password`.
    Hash(String),
}

impl std::fmt::Debug for ChargerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in a debug log.
        match self {
            ChargerSecret::Password(_) => f.write_str("Password(***)"),
            ChargerSecret::Hash(_) => f.write_str("Hash(***)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Charger {
    pub id: ChargerId,
    /// `None`: the charger connects without Basic auth (only sensible with client
    /// certificates, security profile 3, or on a closed network).
    pub secret: Option<ChargerSecret>,
    pub max_current: Amps,
    pub min_current: Amps,
    pub phases: u8,
    /// OCPP ConnectorPhaseRotation notation, e.g. `RST`: charger L1, L2, L3 on site phases.
    pub phase_rotation: String,
    pub failsafe_current: Amps,
    pub priority: u32,
    /// The charger profile's name (`profiles/charger/<name>.toml`).
    pub profile: String,
    /// How it takes limits, from that profile.
    pub quirks: crate::profiles::charger::ChargerQuirks,
    /// The `[[circuit]]` the charger hangs on; `None`: directly on the grid connection.
    pub circuit: Option<String>,
    /// The Basic auth password the cloud CSMS of `[upstream.ocpp]` expects for this charger:
    /// `upstream-password` or `upstream-password-file` (not both); when neither is set, the
    /// charger's local plain `password` (a `password-hash` cannot be sent on: then `None`).
    pub upstream_password: Option<UpstreamPassword>,
}

impl Charger {
    /// The password toward the cloud CSMS: inline, or the first line of
    /// `upstream-password-file`. Err: a message naming the file and what is wrong with it.
    pub fn upstream_password(&self) -> Result<Option<String>, String> {
        match &self.upstream_password {
            None => Ok(None),
            Some(UpstreamPassword::Inline(p)) => Ok(Some(p.clone())),
            Some(UpstreamPassword::File(path)) => upstream::read_password_file(
                path,
                &format!("charger {}'s upstream password", self.id),
            )
            .map(Some),
        }
    }
}

/// Authorization status of a locally listed id token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Accepted,
    Blocked,
}

/// An entry of the local authorization list (`[[id-token]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenEntry {
    pub id: String,
    pub status: TokenStatus,
    pub expires: Option<DateTime<Utc>>,
    pub group: Option<String>,
}

impl Config {
    /// The configured chargers, by OCPP identity.
    pub fn chargers_by_id(&self) -> std::collections::HashMap<ChargerId, Charger> {
        self.chargers
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect()
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} problem(s) in the config", .0.len())]
    Invalid(Vec<Problem>),
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    checked(&text, true).map_err(ConfigError::Invalid)
}

/// Parses config text; `Err` holds every problem, sorted by line. The files it names are
/// not looked at: `load` does that.
pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    checked(text, false)
}

fn checked(text: &str, with_files: bool) -> Result<Config, Vec<Problem>> {
    let doc = Doc::new(text);
    let parsed = match toml::de::DeTable::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            // A syntax error: the tree is incomplete, so report just that.
            doc.report(
                "(file)",
                e.span(),
                e.message().to_string(),
                Some("fix the TOML syntax first".into()),
            );
            return Err(doc.into_problems());
        }
    };
    let root = Table::root(&doc, &parsed);
    let config = site::read(&root);
    root.finish(site::TOP_LEVEL_KEYS);
    if let Some(config) = &config {
        site::check(&doc, config);
        meter::check(&doc, &config.meters);
        if with_files {
            files::check(&root, config);
        }
    }
    match config {
        Some(config) if !doc.has_problems() => Ok(config),
        _ => Err(doc.into_problems()),
    }
}

/// The cross-key checks of `load` on a config value (a reload's mix of the running
/// config and the file's live changes, `diff`); the problems carry no line.
pub fn recheck(config: &Config) -> Vec<Problem> {
    let doc = Doc::new("");
    site::check(&doc, config);
    meter::check(&doc, &config.meters);
    doc.into_problems()
}

/// The one-screen summary `chargegate validate` prints for a good config.
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    summarise_site(&mut out, config);
    summarise_chargers(&mut out, config);
    summarise_meters(&mut out, config);
    summarise_circuits_and_planning(&mut out, config);
    match (&config.upstream.mqtt, &config.upstream.ocpp) {
        (None, None) => out.push_str("upstream: none (nothing is reported off the site)\n"),
        (mqtt, ocpp) => {
            if let Some(mqtt) = mqtt {
                out.push_str(&mqtt.summary(config.chargers.len()));
                out.push('\n');
            }
            if let Some(ocpp) = ocpp {
                let with_password = config
                    .chargers
                    .iter()
                    .filter(|c| c.upstream_password.is_some())
                    .count();
                out.push_str(&ocpp.summary(config.chargers.len(), with_password));
                out.push('\n');
            }
        }
    }
    out
}

/// Phases, voltage, grid limit, the CSMS endpoint and its security profile, the store.
fn summarise_site(out: &mut String, config: &Config) {
    use std::fmt::Write;
    let site = &config.site;
    let _ = writeln!(
        out,
        "site {}: {} phase(s) at {} V",
        site.id, site.phases, site.nominal_voltage.0
    );
    let _ = writeln!(
        out,
        "grid limit {} A per phase, margin {} A, worst-case non-charger load {} A",
        site.grid_limit.0, site.margin.0, site.worst_case_load.0
    );
    let tls = match &config.csms.tls {
        None => "plain ws (security profile 1)".to_string(),
        Some(t) if t.client_ca_key_file.is_some() => {
            "wss with client certificates (profile 3), signing chargers' certificate requests"
                .to_string()
        }
        Some(t) if t.client_ca_file.is_some() => {
            "wss with client certificates (profile 3)".to_string()
        }
        Some(_) => "wss (security profile 2)".to_string(),
    };
    let scheme = if config.csms.tls.is_some() {
        "wss"
    } else {
        "ws"
    };
    let _ = writeln!(
        out,
        "csms {scheme}://{}/ocpp/<id>, {tls}, unknown chargers: {:?}",
        config.csms.listen, config.csms.unknown_chargers
    );
    let _ = writeln!(out, "store {}", config.store.path.display());
    let tokens: Vec<String> = config
        .http
        .tokens
        .iter()
        .map(|t| format!("{} ({})", t.name, t.role.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "api http://{}, reads {}, tokens: {}",
        config.http.listen,
        if config.http.require_token_for_reads {
            "need a token"
        } else {
            "open"
        },
        if tokens.is_empty() {
            "none (no commands possible)".to_string()
        } else {
            tokens.join(", ")
        }
    );
}

/// One row per charger, then the site's failsafe budget.
fn summarise_chargers(out: &mut String, config: &Config) {
    use std::fmt::Write;
    let _ = writeln!(out, "{} charger(s):", config.chargers.len());
    let _ = writeln!(
        out,
        "  {:<20} {:>6} {:>6} {:>9} {:>6}  {:<8} auth",
        "id", "min A", "max A", "failsafe", "phases", "rotation"
    );
    for c in &config.chargers {
        let auth = match &c.secret {
            Some(ChargerSecret::Password(_)) => "password",
            Some(ChargerSecret::Hash(_)) => "password-hash",
            None => "none",
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>6} {:>6} {:>9} {:>6}  {:<8} {auth}",
            c.id.as_str(),
            c.min_current.0,
            c.max_current.0,
            c.failsafe_current.0,
            c.phases,
            c.phase_rotation
        );
    }
    let (per_phase, budget) = site::failsafe_budget(config);
    let _ = writeln!(
        out,
        "failsafe sum {:.1} A on the most loaded phase + worst-case load {} A = {:.1} A of {} A available (grid limit - margin)",
        per_phase,
        config.site.worst_case_load.0,
        per_phase + config.site.worst_case_load.0,
        budget
    );
}

/// One row per meter.
fn summarise_meters(out: &mut String, config: &Config) {
    use std::fmt::Write;
    let _ = writeln!(out, "{} meter(s):", config.meters.len());
    for m in &config.meters {
        let transport = match &m.transport {
            MeterTransport::Tcp(addr) => format!("tcp {addr}"),
            MeterTransport::Rtu(r) => format!("rtu {} {} baud", r.device, r.baud),
        };
        let _ = writeln!(
            out,
            "  {:<20} {:<8} {:<24} unit {:>3}  {transport}, stale after {} ms{}",
            m.id,
            format!("{:?}", m.role).to_lowercase(),
            m.profile_name,
            m.unit_id,
            m.stale_after.as_millis(),
            m.circuit
                .as_deref()
                .map(|c| format!(", circuit {c}"))
                .unwrap_or_default()
        );
    }
}

/// Each sub-circuit with its failsafe budget, the planner, the local list.
fn summarise_circuits_and_planning(out: &mut String, config: &Config) {
    use std::fmt::Write;
    for c in &config.circuits {
        let (failsafe, budget) = site::failsafe_budget_of(config, Some(&c.id));
        let _ = writeln!(
            out,
            "circuit {} under {}: {} A per phase, failsafe sum {failsafe:.1} A of {budget:.1} A",
            c.id,
            c.parent.as_deref().unwrap_or(SITE_CIRCUIT),
            c.limit.0
        );
    }
    let _ = writeln!(
        out,
        "planner: {} min slots over {} h, {} ms budget, {} tariff window(s), {} departure(s)",
        config.planner.slot_min,
        config.planner.horizon_h,
        config.planner.time_budget_ms,
        config.planner.tariffs.len(),
        config.departures.len()
    );
    let _ = writeln!(
        out,
        "{} id token(s) in the local list",
        config.id_tokens.len()
    );
}

#[cfg(test)]
mod tests;
