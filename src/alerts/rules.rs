//! Pure rules: what the other tasks publish -> raise and clear steps for the `Book`.
//!
//! Each message names the charger or meter, what was seen and what to check, so the
//! electrician on site can act on it without reading the journal.

use std::time::Duration;

use tokio::time::Instant;

use super::{Condition, Key, Kind, Severity, Step};
use crate::csms::{Admission, ConnectionEvent, SiteEvent};
use crate::meter::MeterStatus;
use crate::ocpp::model::{ChargerEvent, ConnectorStatus, EvseRef, NotifiedEvent};

/// The part a status is about: 1.6 numbers connectors only (`connector N`, 0 the whole
/// charger), 2.0.1 an EVSE's connector.
fn part(evse: &EvseRef) -> String {
    match (evse.evse_id, evse.connector_id) {
        (0, _) => "charger".to_string(),
        (e, None) => format!("connector {e}"),
        (e, Some(c)) => format!("evse {e} connector {c}"),
    }
}

/// What to check for a 1.6 ChargePointErrorCode (OCPP 1.6 §7.6).
fn hint(error_code: &str) -> &'static str {
    match error_code {
        "GroundFailure" => "earth leakage: check the RCD, the cable and the vehicle",
        "OverCurrentFailure" => {
            "the vehicle drew more than allowed: check the vehicle and the cable"
        }
        "HighTemperature" => "too hot: check the cooling, the cable and the plug contacts",
        "ConnectorLockFailure" => "the plug lock failed: check the socket's lock and the plug",
        "EVCommunicationError" => "no pilot signal from the vehicle: check the cable and the plug",
        "PowerMeterFailure" => "its meter failed: the charger's own meter needs service",
        "PowerSwitchFailure" => "its contactor failed: the charger needs service",
        "ReaderFailure" => "its card reader failed",
        "UnderVoltage" | "OverVoltage" => "the supply voltage is out of range: check the feed",
        "WeakSignal" => "weak wireless signal: check the modem and antenna",
        "InternalError" | "OtherError" | "ResetFailure" => {
            "look the vendor code up in the maker's manual; a reset or power cycle may clear it"
        }
        _ => "look the code up in the maker's manual",
    }
}

/// The steps a handled charger event asks for: a Faulted status raises, any other status
/// of the same connector clears it; a 2.0.1 component's `Problem` true raises, false clears.
pub fn site_event(e: &SiteEvent) -> Vec<Step> {
    match &e.event {
        ChargerEvent::Status {
            evse,
            status,
            error_code,
            info,
            vendor_error_code,
            ..
        } => {
            let key = Key::charger(Kind::ConnectorFaulted, &e.charger, Some(part(evse)));
            if *status != ConnectorStatus::Faulted {
                return vec![Step::Clear(key)];
            }
            let mut message = format!("{} {} is Faulted", e.charger, part(evse));
            match error_code.as_deref() {
                Some(code) => {
                    message += &format!(": errorCode {code}");
                    if let Some(info) = info {
                        message += &format!(", info {info:?}");
                    }
                    if let Some(vendor) = vendor_error_code {
                        message += &format!(", vendorErrorCode {vendor:?}");
                    }
                    message += &format!(" ({})", hint(code));
                }
                // 2.0.1 gives the cause in NotifyEvent (its charger-problem alerts).
                None => message += "; its cause comes as a charger-problem alert",
            }
            message += "; it does not charge until it reports Available";
            vec![Step::Raise(Condition {
                key,
                severity: Severity::Critical,
                message,
            })]
        }
        ChargerEvent::Notify { events } => events.iter().filter_map(|n| problem(e, n)).collect(),
        _ => Vec::new(),
    }
}

/// OCPP 2.0.1 part 2 appendix: the standard variable `Problem` of a component (e.g.
/// `EVSE`, `Connector`, `ChargingStation`, `PowerContactor`) is true while it has one.
fn problem(e: &SiteEvent, n: &NotifiedEvent) -> Option<Step> {
    if !n.variable.eq_ignore_ascii_case("Problem") {
        return None;
    }
    let key = Key::charger(Kind::ChargerProblem, &e.charger, Some(n.component.clone()));
    match n.actual_value.to_ascii_lowercase().as_str() {
        "true" => {
            let mut message = format!("{} component {} reports a problem", e.charger, n.component);
            if let Some(tech) = &n.tech_info {
                message += &format!(" ({tech})");
            }
            message += "; see the charger's display or the maker's manual";
            Some(Step::Raise(Condition {
                key,
                severity: Severity::Critical,
                message,
            }))
        }
        "false" => Some(Step::Clear(key)),
        _ => None,
    }
}

/// A configured charger's connection: gone raises `charger-offline`, back clears it and
/// `charger-silent`. An unconfigured (Pending) charger is nobody's to repair.
pub fn connection(e: &ConnectionEvent) -> Vec<Step> {
    if e.admission != Admission::Known {
        return Vec::new();
    }
    let offline = Key::charger(Kind::ChargerOffline, &e.charger, None);
    if e.connected {
        return vec![
            Step::Clear(offline),
            Step::Clear(Key::charger(Kind::ChargerSilent, &e.charger, None)),
        ];
    }
    vec![Step::Raise(Condition {
        key: offline,
        severity: Severity::Critical,
        message: format!(
            "{} lost its connection to chargegate: check its power, its network link and \
             its CSMS address; it holds its failsafe limit meanwhile (S3)",
            e.charger
        ),
    })]
}

/// A meter's health at `now`: stale (no new good reading for `stale-after-ms`, or
/// none since `started` once it had that long to answer) raises, a usable reading clears.
pub fn meter(status: &MeterStatus, now: Instant, started: Instant) -> Option<Step> {
    let key = Key::meter(Kind::MeterStale, &status.id);
    if status.usable(now).is_some() {
        return Some(Step::Clear(key));
    }
    if status.reading.is_none() && now.saturating_duration_since(started) < status.stale_after {
        // Still starting: it has not had its chance to answer.
        return None;
    }
    let mut message = format!(
        "meter {} has no new good reading for more than {} ms",
        status.id,
        status.stale_after.as_millis()
    );
    if let Some(e) = &status.last_error {
        message += &format!(" (last error: {e})");
    }
    message += "; the site assumes worst-case-load-a for its circuit meanwhile (S5): check \
                the meter's power, its cable and its Modbus address";
    Some(Step::Raise(Condition {
        key,
        severity: Severity::Critical,
        message,
    }))
}

/// How often the task re-checks the meters besides their own updates: a meter whose
/// poller stopped publishing still turns stale within this of its `stale-after-ms`.
pub const METER_CHECK: Duration = Duration::from_secs(1);

/// OCPP's Heartbeat interval is the longest a charger should stay silent (1.6 §4.6, 2.0.1
/// G02: a charger may skip a Heartbeat when it sent something else). Twice it leaves
/// room for one late or lost Heartbeat before the charger counts as hung.
pub const SILENT_AFTER_HEARTBEATS: u32 = 2;

/// A connected charger last heard from at `last`: silent past `SILENT_AFTER_HEARTBEATS` x
/// `heartbeat` (the interval chargegate gave it at boot) raises `charger-silent`.
pub fn silent(
    charger: &crate::units::ChargerId,
    last: Instant,
    now: Instant,
    heartbeat: Duration,
) -> Option<Step> {
    let quiet = now.saturating_duration_since(last);
    if quiet <= heartbeat * SILENT_AFTER_HEARTBEATS {
        return None;
    }
    Some(Step::Raise(Condition {
        key: Key::charger(Kind::ChargerSilent, charger, None),
        severity: Severity::Critical,
        message: format!(
            "{charger} has sent nothing for {} s although its connection is open (its \
             Heartbeat interval is {} s): it may hang; power-cycle it if it does not recover",
            quiet.as_secs(),
            heartbeat.as_secs()
        ),
    }))
}

/// Anything a charger sends shows it is alive: clears `charger-silent`.
pub fn heard(charger: &crate::units::ChargerId) -> Step {
    Step::Clear(Key::charger(Kind::ChargerSilent, charger, None))
}
