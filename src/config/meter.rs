//! The `[[meter]]` tables and `[profiles]`: which meters to poll, how, and through which
//! device profile.
//!
//! Each meter's profile file is found and parsed here, so a wrong profile name or a broken
//! profile is a config problem at the meter's `profile` key, reported with everything
//! else. Meters sharing an RTU bus must agree on the serial settings and have distinct
//! unit ids. Reads profile files; must never open a socket or a serial port.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use super::decode::{Doc, Table};
use crate::profiles::meter::{Profile, ProfileError, default_profile_dirs};

pub const METER_KEYS: &[&str] = &[
    "id",
    "profile",
    "role",
    "modbus-tcp",
    "modbus-rtu",
    "unit-id",
    "poll-interval-ms",
    "stale-after-ms",
    "circuit",
    "invert",
];
const RTU_KEYS: &[&str] = &["device", "baud", "parity", "data-bits", "stop-bits"];
/// `[profiles]`: `charger-dir` is read with the chargers (config::site).
const PROFILES_KEYS: &[&str] = &["meter-dir", "charger-dir"];

/// What a meter measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterRole {
    /// The whole connection (or circuit), chargers included: the non-charger load is the
    /// meter's current minus the chargers' measured currents.
    Grid,
    /// Everything but the chargers: read directly as the non-charger load.
    Building,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// Serial settings of an RS-485 bus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtuSettings {
    pub device: String,
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterTransport {
    /// `host:port` of the meter or of a Modbus TCP gateway.
    Tcp(String),
    Rtu(RtuSettings),
}

/// One `[[meter]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    pub id: String,
    /// The profile's name (`profiles/meter/<name>.toml`) and its parsed content.
    pub profile_name: String,
    pub profile: Profile,
    pub role: MeterRole,
    pub transport: MeterTransport,
    /// Modbus unit (slave) id.
    pub unit_id: u8,
    pub poll_interval: Duration,
    pub stale_after: Duration,
    /// A sub-circuit meter: the `[[circuit]]` id it measures.
    pub circuit: Option<String>,
    /// The CT is mounted the wrong way round: flip the sign of currents and powers.
    pub invert: bool,
}

/// Reads `[profiles]` and every `[[meter]]`.
pub fn read(root: &Table<'_, '_>) -> Option<Vec<Meter>> {
    let dirs = match root.opt_table("profiles") {
        Some(t) => {
            let dir = t.opt_str("meter-dir").map(PathBuf::from);
            // Read again, and used, with the chargers (site.rs); taken here so that this
            // table's check of unknown keys knows it.
            let _ = t.opt_str("charger-dir");
            t.finish(PROFILES_KEYS);
            match dir {
                Some(d) => vec![d],
                None => default_profile_dirs(),
            }
        }
        None => default_profile_dirs(),
    };
    let meters: Vec<Option<Meter>> = root
        .tables("meter")
        .iter()
        .map(|t| read_meter(t, &dirs))
        .collect();
    meters.into_iter().collect()
}

fn read_meter(t: &Table<'_, '_>, dirs: &[PathBuf]) -> Option<Meter> {
    let id = t.req_str("id", "name the meter, e.g. id = \"grid\"");
    let profile_name = t.req_str(
        "profile",
        "the register map, a file name in profiles/meter/ without .toml, e.g. \"eastron-sdm630\"",
    );
    let profile = profile_name
        .as_deref()
        .and_then(|name| load_profile(t, name, dirs));
    let role = read_role(t);
    let transport = read_transport(t);
    // Modbus Application Protocol §4.1 / over serial line §2.2: unit ids 1-247 address a
    // device; 0 is broadcast (no answer). Gateways use 255 for "the gateway itself".
    let unit_id = t.opt_int("unit-id", 1, 255).unwrap_or(1) as u8;
    let poll = t.opt_int("poll-interval-ms", 100, 60_000).unwrap_or(1000) as u64;
    let stale = t.opt_int("stale-after-ms", 500, 600_000).unwrap_or(5000) as u64;
    let circuit = t.opt_str("circuit");
    let invert = t.opt_bool("invert").unwrap_or(false);
    t.finish(METER_KEYS);
    if stale <= poll {
        t.problem(
            "stale-after-ms",
            format!("stale-after-ms ({stale}) must be longer than poll-interval-ms ({poll})"),
            Some("allow a few missed polls, e.g. 5 x poll-interval-ms".into()),
        );
    }
    Some(Meter {
        id: id?,
        profile_name: profile_name?,
        profile: profile?,
        role: role?,
        transport: transport?,
        unit_id,
        poll_interval: Duration::from_millis(poll),
        stale_after: Duration::from_millis(stale),
        circuit,
        invert,
    })
}

/// The meter profile `name` from `dirs`; `None` (and a problem) when it cannot be loaded.
fn load_profile(t: &Table<'_, '_>, name: &str, dirs: &[PathBuf]) -> Option<Profile> {
    match Profile::load(name, dirs) {
        Ok((p, _)) => Some(p),
        Err(e) => {
            let hint = match &e {
                ProfileError::NotFound { .. } => {
                    "check the spelling, or set [profiles] meter-dir".to_string()
                }
                _ => "fix the profile file (profiles/README.md documents every field)".to_string(),
            };
            t.problem("profile", e.to_string(), Some(hint));
            None
        }
    }
}

/// `role`, required: grid or building.
fn read_role(t: &Table<'_, '_>) -> Option<MeterRole> {
    match t.opt_str("role").as_deref() {
        Some("grid") => Some(MeterRole::Grid),
        Some("building") => Some(MeterRole::Building),
        None => {
            t.problem(
                "role",
                "required key is missing",
                Some("\"grid\" (measures the chargers too) or \"building\" (everything but the chargers)".into()),
            );
            None
        }
        Some(other) => {
            t.problem(
                "role",
                format!("{other:?} is not a meter role"),
                Some("\"grid\" or \"building\"".into()),
            );
            None
        }
    }
}

/// `modbus-tcp` or `modbus-rtu`, exactly one.
fn read_transport(t: &Table<'_, '_>) -> Option<MeterTransport> {
    let tcp = t.opt_str("modbus-tcp");
    let rtu = t.opt_table("modbus-rtu").and_then(|r| read_rtu(&r));
    match (tcp, rtu, t.has("modbus-rtu")) {
        (Some(_), _, true) => {
            t.problem(
                "modbus-rtu",
                "both modbus-tcp and modbus-rtu are set",
                Some("a meter is reached one way; keep one".into()),
            );
            None
        }
        (Some(addr), _, false) => {
            if tcp_address_ok(&addr) {
                Some(MeterTransport::Tcp(addr))
            } else {
                t.problem(
                    "modbus-tcp",
                    format!("{addr:?} is not host:port"),
                    Some("e.g. \"192.168.1.50:502\"".into()),
                );
                None
            }
        }
        (None, Some(rtu), _) => Some(MeterTransport::Rtu(rtu)),
        (None, None, true) => None,
        (None, None, false) => {
            t.problem(
                "modbus-tcp",
                "the meter has neither modbus-tcp nor modbus-rtu",
                Some("modbus-tcp = \"192.168.1.50:502\" or modbus-rtu = { device = \"/dev/ttyUSB0\", baud = 9600 }".into()),
            );
            None
        }
    }
}

fn tcp_address_ok(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

fn read_rtu(t: &Table<'_, '_>) -> Option<RtuSettings> {
    let device = t.req_str("device", "the serial port, e.g. \"/dev/ttyUSB0\"");
    let baud = t.opt_int("baud", 1200, 921_600).unwrap_or(9600) as u32;
    let parity = match t.opt_str("parity").as_deref() {
        // Modbus over serial line V1.02 §2.5.1: even parity is the default.
        None | Some("even") => Some(Parity::Even),
        Some("none") => Some(Parity::None),
        Some("odd") => Some(Parity::Odd),
        Some(other) => {
            t.problem(
                "parity",
                format!("{other:?} is not a parity"),
                Some("\"none\", \"even\" or \"odd\"".into()),
            );
            None
        }
    };
    let data_bits = t.opt_int("data-bits", 7, 8).unwrap_or(8) as u8;
    let stop_bits = t.opt_int("stop-bits", 1, 2).unwrap_or(1) as u8;
    t.finish(RTU_KEYS);
    Some(RtuSettings {
        device: device?,
        baud,
        parity: parity?,
        data_bits,
        stop_bits,
    })
}

/// Checks across meters: unique ids, one site-level meter, consistent RTU buses.
pub fn check(doc: &Doc<'_>, meters: &[Meter]) {
    let mut ids = HashSet::new();
    let mut site_level = 0;
    let mut buses: HashMap<&str, (&RtuSettings, HashSet<u8>)> = HashMap::new();
    for (i, m) in meters.iter().enumerate() {
        let path = format!("meter[{i}]");
        if !ids.insert(m.id.as_str()) {
            doc.report(
                &format!("{path}.id"),
                None,
                format!("meter id {} is used twice", m.id),
                None,
            );
        }
        if m.circuit.is_none() {
            site_level += 1;
            if site_level == 2 {
                doc.report(
                    &format!("{path}.circuit"),
                    None,
                    "more than one meter measures the whole site",
                    Some("give sub-circuit meters their circuit = \"...\"".into()),
                );
            }
        }
        if let MeterTransport::Rtu(rtu) = &m.transport {
            let (first, units) = buses
                .entry(rtu.device.as_str())
                .or_insert_with(|| (rtu, HashSet::new()));
            if *first != rtu {
                doc.report(
                    &format!("{path}.modbus-rtu"),
                    None,
                    format!(
                        "{} is used with different serial settings by another meter",
                        rtu.device
                    ),
                    Some("meters on one RS-485 bus share baud, parity, data and stop bits".into()),
                );
            }
            if !units.insert(m.unit_id) {
                doc.report(
                    &format!("{path}.unit-id"),
                    None,
                    format!("unit id {} is used twice on {}", m.unit_id, rtu.device),
                    Some("every meter on a bus needs its own address".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{MeterRole, MeterTransport, Parity, parse};

    const SITE: &str = "[site]\nid = \"d\"\ngrid-limit-a = 100\nworst-case-load-a = 40\n";

    #[test]
    fn meters_parse_with_defaults() {
        let text = format!(
            "{SITE}\n[[meter]]\nid = \"grid\"\nprofile = \"eastron-sdm630\"\nrole = \"grid\"\nmodbus-tcp = \"127.0.0.1:502\"\n\n\
             [[meter]]\nid = \"sub\"\nprofile = \"abb-b23\"\nrole = \"building\"\ncircuit = \"board-a\"\ninvert = true\n\
             modbus-rtu = {{ device = \"/dev/ttyUSB0\", baud = 19200, parity = \"none\" }}\nunit-id = 7\n"
        );
        let c = parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
        assert_eq!(c.meters.len(), 2);
        assert_eq!(c.meters[0].role, MeterRole::Grid);
        assert_eq!(c.meters[0].poll_interval.as_millis(), 1000);
        assert_eq!(c.meters[0].stale_after.as_millis(), 5000);
        assert!(c.meters[1].invert);
        let MeterTransport::Rtu(rtu) = &c.meters[1].transport else {
            panic!("rtu")
        };
        assert_eq!(
            (rtu.baud, rtu.parity, rtu.data_bits),
            (19200, Parity::None, 8)
        );
        assert_eq!(c.store.history_days, 30);
    }

    #[test]
    fn meter_problems_are_reported_with_paths() {
        let text = format!(
            "{SITE}\n[[meter]]\nid = \"grid\"\nprofile = \"nope-x\"\nrole = \"grid\"\nmodbus-tcp = \"nohost\"\n\
             poll-interval-ms = 1000\nstale-after-ms = 800\ncolour = 1\n\n[[meter]]\nid = \"grid\"\nprofile = \"eastron-sdm630\"\nrole = \"sky\"\n"
        );
        let problems = parse(&text).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "meter[0].profile",
            "meter[0].modbus-tcp",
            "meter[0].stale-after-ms",
            "meter[0].colour",
            "meter[1].role",
            "meter[1].modbus-tcp",
        ] {
            assert!(paths.contains(&want), "{want} missing in {problems:#?}");
        }
        assert!(problems.iter().all(|p| p.line.is_some()), "{problems:#?}");
    }

    #[test]
    fn a_shared_bus_must_agree() {
        let m = |id: &str, baud: u32, unit: u8, circuit: &str| {
            format!(
                "[[meter]]\nid = \"{id}\"\nprofile = \"eastron-sdm72d-m\"\nrole = \"building\"\ncircuit = \"{circuit}\"\nunit-id = {unit}\n\
                 modbus-rtu = {{ device = \"/dev/ttyUSB0\", baud = {baud} }}\n"
            )
        };
        let text = format!(
            "{SITE}\n{}\n{}\n{}",
            m("a", 9600, 1, "x"),
            m("b", 9600, 1, "y"),
            m("c", 19200, 2, "z")
        );
        let problems = parse(&text).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter().any(|p| p.contains("unit id 1 is used twice")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|p| p.contains("different serial settings")),
            "{text:#?}"
        );
    }
}
