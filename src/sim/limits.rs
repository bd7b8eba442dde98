//! What a simulated charger actually applies: the composite of the ChargingProfiles it
//! accepted, evaluated at a given time, as OCPP describes it (1.6 §3.13, 2.0.1 K).
//!
//! Rules applied: a profile counts only inside its validity (`validFrom` <= t < `validTo`)
//! and, for an Absolute schedule, inside `startSchedule` + `duration`; a TxProfile wins over
//! a TxDefaultProfile; within a purpose the highest stack level wins; a station-max profile
//! (ChargePointMaxProfile / ChargingStationMaxProfile) caps the result. Limits in W are
//! converted to A over the period's phases at 230 V. Pure: the time is a parameter, so
//! tests can ask "what after the lease?" without waiting for it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ocpp::model::OcppVersion;

/// Line-to-neutral voltage used to convert W limits, in V.
const VOLTAGE_V: f64 = 230.0;

fn schedule(profile: &Value) -> Option<&Value> {
    let s = profile.get("chargingSchedule")?;
    // 1.6: one schedule object; 2.0.1: an array of them (the first applies here).
    if s.is_array() { s.get(0) } else { Some(s) }
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(crate::ocpp::time::parse)
}

/// The per-phase current limit of one profile at `at`, if it is in force then.
fn limit_at(profile: &Value, at: DateTime<Utc>) -> Option<f64> {
    if time(profile, "validFrom").is_some_and(|from| at < from)
        || time(profile, "validTo").is_some_and(|to| at >= to)
    {
        return None;
    }
    let schedule = schedule(profile)?;
    let offset = match (
        profile.get("chargingProfileKind").and_then(Value::as_str),
        time(schedule, "startSchedule"),
    ) {
        (Some("Absolute"), Some(start)) => (at - start).num_seconds(),
        // Relative (to the transaction's start) and Recurring: the first period applies.
        _ => 0,
    };
    if offset < 0 {
        return None;
    }
    if let Some(duration) = schedule.get("duration").and_then(Value::as_i64)
        && offset >= duration
    {
        return None;
    }
    let periods = schedule.get("chargingSchedulePeriod")?.as_array()?;
    let period = periods.iter().rev().find(|p| {
        p.get("startPeriod")
            .and_then(Value::as_i64)
            .is_some_and(|s| s <= offset)
    })?;
    let limit = period.get("limit")?.as_f64()?;
    let phases = period
        .get("numberPhases")
        .and_then(Value::as_f64)
        .unwrap_or(3.0);
    Some(
        match schedule.get("chargingRateUnit").and_then(Value::as_str) {
            Some("W") => limit / (VOLTAGE_V * phases),
            _ => limit,
        },
    )
}

/// The current per phase the charger lets its vehicle draw at `at`, from the stored
/// SetChargingProfile payloads; `None` when no profile is in force (the charger then
/// allows its hardware maximum).
pub fn applied_limit(version: OcppVersion, stored: &[Value], at: DateTime<Utc>) -> Option<f64> {
    let profile_key = match version {
        OcppVersion::V16 => "csChargingProfiles",
        OcppVersion::V201 => "chargingProfile",
    };
    let mut best: [Option<(i64, f64)>; 3] = [None, None, None]; // station max, TxDefault, Tx
    for payload in stored {
        let Some(profile) = payload.get(profile_key) else {
            continue;
        };
        let slot = match profile
            .get("chargingProfilePurpose")
            .and_then(Value::as_str)
        {
            Some("ChargePointMaxProfile" | "ChargingStationMaxProfile") => 0,
            Some("TxDefaultProfile") => 1,
            Some("TxProfile") => 2,
            _ => continue,
        };
        let Some(limit) = limit_at(profile, at) else {
            continue;
        };
        let stack = profile
            .get("stackLevel")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if best[slot].is_none_or(|(s, _)| stack > s) {
            best[slot] = Some((stack, limit));
        }
    }
    let tx = best[2].or(best[1]).map(|(_, l)| l);
    match (best[0].map(|(_, l)| l), tx) {
        (Some(max), Some(tx)) => Some(max.min(tx)),
        (max, tx) => max.or(tx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        crate::ocpp::time::parse(s).unwrap()
    }

    fn v16(purpose: &str, stack: i64, limit: f64, valid_to: Option<&str>) -> Value {
        let mut profile = json!({
            "chargingProfileId": stack, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
        });
        if let Some(to) = valid_to {
            profile["validTo"] = json!(to);
        }
        json!({"connectorId": 0, "csChargingProfiles": profile})
    }

    #[test]
    fn the_lease_wins_while_valid_then_the_baseline_returns() {
        let stored = [
            v16("TxDefaultProfile", 0, 6.0, None),
            v16("TxDefaultProfile", 1, 16.0, Some("2026-11-24T12:10:00Z")),
        ];
        assert_eq!(
            applied_limit(OcppVersion::V16, &stored, at("2026-11-24T12:09:59Z")),
            Some(16.0)
        );
        assert_eq!(
            applied_limit(OcppVersion::V16, &stored, at("2026-11-24T12:10:00Z")),
            Some(6.0)
        );
        assert_eq!(
            applied_limit(OcppVersion::V16, &[], at("2026-11-24T12:00:00Z")),
            None
        );
    }

    #[test]
    fn tx_profiles_beat_defaults_and_station_max_caps() {
        let stored = [
            v16("TxDefaultProfile", 5, 20.0, None),
            v16("TxProfile", 1, 25.0, None),
            v16("ChargePointMaxProfile", 0, 22.0, None),
        ];
        assert_eq!(
            applied_limit(OcppVersion::V16, &stored, at("2026-11-24T12:00:00Z")),
            Some(22.0)
        );
    }

    #[test]
    fn absolute_schedules_end_with_their_duration_and_watts_convert() {
        let profile = json!({"evseId": 0, "chargingProfile": {
            "id": 2, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 2, "startSchedule": "2026-11-24T12:00:00Z", "duration": 600,
                "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11040.0, "numberPhases": 3}]}]}});
        let stored = [profile];
        assert_eq!(
            applied_limit(OcppVersion::V201, &stored, at("2026-11-24T12:05:00Z")),
            Some(16.0)
        );
        assert_eq!(
            applied_limit(OcppVersion::V201, &stored, at("2026-11-24T12:10:00Z")),
            None
        );
        assert_eq!(
            applied_limit(OcppVersion::V201, &stored, at("2026-11-24T11:59:59Z")),
            None
        );
    }
}
