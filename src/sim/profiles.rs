//! How a simulated charger answers the smart-charging CALLs (1.6 §5.16, 2.0.1 block K):
//! it holds the profiles it accepted, clears them by criteria, reports them (2.0.1
//! GetChargingProfiles) and answers its composite schedule from them by the OCPP stacking
//! rules (`limits::applied_limit`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::answers::{Answer, ChargerState, int, result, status, text};
use super::messages::timestamp;
use crate::ocpp::model::OcppVersion;

/// Stores an accepted profile in place of the one with its id (unless the charger is
/// faulty and ignores profiles).
pub(super) fn set(
    version: OcppVersion,
    accept: bool,
    payload: &Value,
    state: &mut ChargerState,
) -> Answer {
    if accept && !state.ignores_profiles {
        let (_, id, ..) = profile_view(version, payload);
        state.profiles.retain(|p| profile_view(version, p).1 != id);
        state.profiles.push(payload.clone());
    }
    result(status(accept, "Accepted", "Rejected"))
}

/// Drops the held profiles that match every criterion given.
pub(super) fn clear(
    version: OcppVersion,
    accept: bool,
    payload: &Value,
    state: &mut ChargerState,
) -> Answer {
    let v16 = version == OcppVersion::V16;
    if accept {
        let (id, criteria) = if v16 {
            (int(payload, "id"), payload.clone())
        } else {
            (
                int(payload, "chargingProfileId"),
                payload
                    .get("chargingProfileCriteria")
                    .cloned()
                    .unwrap_or(json!({})),
            )
        };
        let evse = int(&criteria, if v16 { "connectorId" } else { "evseId" });
        let purpose = text(&criteria, "chargingProfilePurpose").map(str::to_string);
        let stack = int(&criteria, "stackLevel");
        state.profiles.retain(|p| {
            let (e, i, s, pu, _) = profile_view(version, p);
            let matches = id.is_none_or(|id| id == i)
                && evse.is_none_or(|evse| evse == e)
                && purpose.as_ref().is_none_or(|purpose| *purpose == pu)
                && stack.is_none_or(|stack| stack == s);
            !matches
        });
    }
    result(status(accept, "Accepted", "Unknown"))
}

/// One period at what the charger applies now (`composite_limit`).
pub(super) fn composite_schedule(
    version: OcppVersion,
    accept: bool,
    payload: &Value,
    state: &ChargerState,
    now: &DateTime<Utc>,
) -> Answer {
    let v16 = version == OcppVersion::V16;
    if !accept {
        return result(json!({ "status": "Rejected" }));
    }
    let evse = int(payload, if v16 { "connectorId" } else { "evseId" }).unwrap_or(0);
    let duration = int(payload, "duration").unwrap_or(86400);
    let unit = text(payload, "chargingRateUnit").unwrap_or("A");
    let limit = composite_limit(version, state, unit, now);
    let periods = json!([{ "startPeriod": 0, "limit": limit }]);
    result(if v16 {
        json!({
            "status": "Accepted",
            "connectorId": evse,
            "scheduleStart": timestamp(now),
            "chargingSchedule": {
                "duration": duration,
                "startSchedule": timestamp(now),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            },
        })
    } else {
        json!({
            "status": "Accepted",
            "schedule": {
                "evseId": evse,
                "duration": duration,
                "scheduleStart": timestamp(now),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            },
        })
    })
}

/// 2.0.1 K09: the matching profiles follow in one ReportChargingProfiles per EVSE.
pub(super) fn report(
    version: OcppVersion,
    accept: bool,
    payload: &Value,
    state: &ChargerState,
) -> Answer {
    let request_id = int(payload, "requestId").unwrap_or(0);
    let criteria = payload.get("chargingProfile").cloned().unwrap_or(json!({}));
    let evse = int(payload, "evseId");
    let purpose = text(&criteria, "chargingProfilePurpose");
    let stack = int(&criteria, "stackLevel");
    let ids: Option<Vec<i64>> = criteria
        .get("chargingProfileId")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect());
    let mut by_evse: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for p in &state.profiles {
        let (e, i, s, pu, profile) = profile_view(version, p);
        if evse.is_none_or(|evse| evse == e)
            && purpose.is_none_or(|purpose| purpose == pu)
            && stack.is_none_or(|stack| stack == s)
            && ids.as_ref().is_none_or(|ids| ids.contains(&i))
        {
            by_evse.entry(e).or_default().push(profile);
        }
    }
    if !accept || by_evse.is_empty() {
        return result(json!({ "status": "NoProfiles" }));
    }
    let count = by_evse.len();
    let follow_ups = by_evse
        .into_iter()
        .enumerate()
        .map(|(n, (e, profiles))| {
            (
                "ReportChargingProfiles".to_string(),
                json!({
                    "requestId": request_id,
                    "chargingLimitSource": "CSO",
                    "evseId": e,
                    "chargingProfile": profiles,
                    "tbc": n + 1 < count,
                }),
            )
        })
        .collect();
    Answer::Result {
        payload: json!({ "status": "Accepted" }),
        follow_ups,
    }
}

/// (evse or connector, profile id, stack level, purpose, the profile object) of a stored
/// SetChargingProfile payload.
fn profile_view(version: OcppVersion, stored: &Value) -> (i64, i64, i64, String, Value) {
    let (evse_key, profile_key, id_key) = match version {
        OcppVersion::V16 => ("connectorId", "csChargingProfiles", "chargingProfileId"),
        OcppVersion::V201 => ("evseId", "chargingProfile", "id"),
    };
    let profile = stored.get(profile_key).cloned().unwrap_or(Value::Null);
    (
        int(stored, evse_key).unwrap_or(-1),
        int(&profile, id_key).unwrap_or(-1),
        int(&profile, "stackLevel").unwrap_or(-1),
        text(&profile, "chargingProfilePurpose")
            .unwrap_or_default()
            .to_string(),
        profile,
    )
}

/// What the charger applies now, as its composite schedule reports it: the OCPP stacking
/// rules over the profiles it holds (`limits::applied_limit`), else its 32 A maximum; in W
/// over three phases at 230 V when asked in W.
fn composite_limit(
    version: OcppVersion,
    state: &ChargerState,
    unit: &str,
    now: &DateTime<Utc>,
) -> f64 {
    let amps = super::limits::applied_limit(version, &state.profiles, *now).unwrap_or(32.0);
    if unit == "W" {
        (amps * 230.0 * 3.0).floor()
    } else {
        (amps * 10.0).floor() / 10.0
    }
}
