//! The cloud's charging profiles (issue 13: smart charging authority stays local). No
//! profile of the cloud's is ever sent to a charger; each becomes a bound the planner keeps:
//! - on chargegate's own identity at connector/EVSE 0, a station maximum (1.6
//!   ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile or
//!   ChargingStationExternalConstraints) is the cloud's temporary limit on the grid
//!   connection;
//! - on a charger's identity, a TxProfile caps the vehicle plugged in now, and a
//!   TxDefaultProfile or a station maximum caps every vehicle on that charger.
//!
//! The lowest limit of a profile's periods holds for the whole schedule: never above any
//! period the cloud asked for, with no timer to miss.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{CloudCall, CloudLimit, Role};
use crate::ocpp::model::OcppVersion;
use crate::ocpp::rpc::RpcErrorCode;
use crate::site::CapKind;

/// The nominal phase voltage a limit in W is turned into A with (IEC 60038, 230 V).
const PHASE_VOLTS: f64 = 230.0;

/// The station-maximum purposes of `version`.
fn station_max(version: OcppVersion) -> &'static [&'static str] {
    match version {
        OcppVersion::V16 => &["ChargePointMaxProfile"],
        OcppVersion::V201 => &[
            "ChargingStationMaxProfile",
            "ChargingStationExternalConstraints",
        ],
    }
}

/// What a profile of `purpose` on a charger's identity bounds.
fn cap_kind(purpose: &str) -> Option<CapKind> {
    match purpose {
        "TxProfile" => Some(CapKind::Session),
        "TxDefaultProfile"
        | "ChargePointMaxProfile"
        | "ChargingStationMaxProfile"
        | "ChargingStationExternalConstraints" => Some(CapKind::Lasting),
        _ => None,
    }
}

/// SetChargingProfile from the cloud, on a link of `role`.
pub(super) fn set_profile(
    role: Role,
    version: OcppVersion,
    payload: &Value,
    now: DateTime<Utc>,
) -> CloudCall {
    let (place, profile) = match version {
        OcppVersion::V16 => (
            payload.get("connectorId"),
            payload.get("csChargingProfiles"),
        ),
        OcppVersion::V201 => (payload.get("evseId"), payload.get("chargingProfile")),
    };
    let Some(profile) = profile else {
        return CloudCall::Refuse(RpcErrorCode::FormatViolation, "no charging profile".into());
    };
    let Some(place) = place.and_then(Value::as_i64) else {
        return CloudCall::Refuse(
            RpcErrorCode::FormatViolation,
            "connectorId / evseId: an integer".into(),
        );
    };
    let purpose = profile
        .get("chargingProfilePurpose")
        .and_then(Value::as_str)
        .unwrap_or("");
    let bound = match role {
        Role::Own if place == 0 && station_max(version).contains(&purpose) => None,
        Role::Own => {
            return CloudCall::Refuse(
                RpcErrorCode::NotSupported,
                format!(
                    "only a station maximum ({}) at 0 sets the site's limit",
                    station_max(version).join(", ")
                ),
            );
        }
        Role::Charger => match cap_kind(purpose) {
            Some(kind) if place >= 0 => Some(kind),
            _ => {
                return CloudCall::Refuse(
                    RpcErrorCode::NotSupported,
                    format!("a {purpose:?} profile does not bound a charger"),
                );
            }
        },
    };
    let schedule = match version {
        OcppVersion::V16 => profile.get("chargingSchedule"),
        OcppVersion::V201 => profile.get("chargingSchedule").and_then(|s| s.get(0)),
    };
    match (schedule.and_then(|s| lowest_limit(s, profile, now)), bound) {
        (Some(limit), None) => CloudCall::SiteLimit(limit),
        (Some(limit), Some(kind)) => CloudCall::Cap(kind, limit),
        (None, _) => CloudCall::Refuse(
            RpcErrorCode::FormatViolation,
            "chargingSchedule: a rate unit A or W and at least one period with a limit".into(),
        ),
    }
}

/// ClearChargingProfile from the cloud on a charger's identity: the caps its purpose names
/// (1.6 `chargingProfilePurpose`, 2.0.1 `chargingProfileCriteria.chargingProfilePurpose`),
/// or both without one. chargegate's own profiles on the charger are never cleared by it.
pub(super) fn clear_cap(version: OcppVersion, payload: &Value) -> CloudCall {
    let purpose = match version {
        OcppVersion::V16 => payload.get("chargingProfilePurpose"),
        OcppVersion::V201 => payload
            .get("chargingProfileCriteria")
            .and_then(|c| c.get("chargingProfilePurpose")),
    };
    match purpose.map(|p| p.as_str().and_then(cap_kind)) {
        None => CloudCall::ClearCap(None),
        Some(Some(kind)) => CloudCall::ClearCap(Some(kind)),
        Some(None) => CloudCall::Refuse(
            RpcErrorCode::NotSupported,
            "the chargers' other profiles are chargegate's; it kept none of the cloud's".into(),
        ),
    }
}

/// The lowest period limit of `schedule` in A per phase, and when the schedule ends.
fn lowest_limit(schedule: &Value, profile: &Value, now: DateTime<Utc>) -> Option<CloudLimit> {
    let unit = schedule.get("chargingRateUnit")?.as_str()?;
    let periods = schedule.get("chargingSchedulePeriod")?.as_array()?;
    let mut lowest: Option<f64> = None;
    for period in periods {
        let limit = period.get("limit")?.as_f64()?;
        let phases = period
            .get("numberPhases")
            .and_then(Value::as_f64)
            .unwrap_or(3.0)
            .clamp(1.0, 3.0);
        let amps = match unit {
            "A" => limit,
            "W" => limit / (PHASE_VOLTS * phases),
            _ => return None,
        };
        if !amps.is_finite() || amps < 0.0 {
            return None;
        }
        lowest = Some(lowest.map_or(amps, |l: f64| l.min(amps)));
    }
    let time = |v: Option<&Value>| v.and_then(Value::as_str).and_then(crate::ocpp::time::parse);
    let start = time(schedule.get("startSchedule")).unwrap_or(now);
    let ends_by_duration = schedule
        .get("duration")
        .and_then(Value::as_i64)
        .map(|s| start + chrono::Duration::seconds(s));
    let until = match (time(profile.get("validTo")), ends_by_duration) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(CloudLimit {
        limit_a: lowest?,
        until,
    })
}
