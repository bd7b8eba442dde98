//! OCPP 2.0.1 smart charging on the wire (functional block K): ChargingProfileType and its
//! schedule in both directions, the charging needs and limits the station reports
//! (NotifyEVChargingNeeds, NotifyChargingLimit), and the composite schedule of
//! GetCompositeSchedule. The messages carrying them are in `messages`.
//!
//! Owns the translation of charging profiles between the model and the wire, including
//! the one grid-safety rule of this layer: a limit is rounded *down* to 0.1 before it is
//! sent, so a charger is never told more than the planner allowed. It must never invent a
//! limit: anything it cannot express exactly is rounded towards less power, never more.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::enums::{
    ChargingLimitSource, EnergyTransferMode, ProfileKindWire, ProfilePurposeWire, RateUnitWire,
    RecurrencyKind,
};
use crate::ocpp::model::WIRE_STEP;
use crate::ocpp::model::{
    ChargingProfile, ChargingSchedule, ProfileKind, ProfilePurpose, RateUnit, SchedulePeriod, TxKey,
};
use crate::ocpp::rpc::{PayloadError, RpcErrorCode};
use crate::ocpp::strings::Bounded;
use crate::units::floor_limit;

// ---- Wire types ---------------------------------------------------------------------------

/// ChargingProfileType (SetChargingProfile, RequestStartTransaction, ReportChargingProfiles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingProfileWire {
    pub id: i32,
    pub stack_level: u32,
    pub charging_profile_purpose: ProfilePurposeWire,
    pub charging_profile_kind: ProfileKindWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrency_kind: Option<RecurrencyKind>,
    #[serde(
        default,
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_to: Option<DateTime<Utc>>,
    /// One to three schedules (the schema's maxItems 3 lets a station offer one per rate
    /// unit); chargegate writes exactly one.
    pub charging_schedule: Vec<ChargingScheduleWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Bounded<36>>,
}

/// ChargingScheduleType. `salesTariff` (ISO 15118 tariffs) is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingScheduleWire {
    pub id: i32,
    #[serde(
        default,
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_schedule: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    pub charging_rate_unit: RateUnitWire,
    pub charging_schedule_period: Vec<SchedulePeriodWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_charging_rate: Option<f64>,
}

/// ChargingSchedulePeriodType. `phaseToUse` (a single-phase station on a three-phase
/// supply) is not in the model and never written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePeriodWire {
    pub start_period: u32,
    pub limit: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_phases: Option<u8>,
}

/// CompositeScheduleType (GetCompositeScheduleResponse, K08).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeScheduleWire {
    pub charging_schedule_period: Vec<SchedulePeriodWire>,
    #[serde(rename = "evseId")]
    pub _evse_id: u32,
    pub duration: u32,
    #[serde(with = "crate::ocpp::time")]
    pub schedule_start: DateTime<Utc>,
    pub charging_rate_unit: RateUnitWire,
}

/// ChargingNeedsType.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingNeedsWire {
    pub ac_charging_parameters: Option<AcChargingParametersWire>,
    pub dc_charging_parameters: Option<DcChargingParametersWire>,
    pub requested_energy_transfer: EnergyTransferMode,
    #[serde(default, with = "crate::ocpp::time::option")]
    pub departure_time: Option<DateTime<Utc>>,
}

/// ACChargingParametersType: energy in Wh, currents in A, voltage in V (integers).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcChargingParametersWire {
    pub energy_amount: i64,
    pub ev_min_current: i64,
    pub ev_max_current: i64,
    #[serde(rename = "evMaxVoltage")]
    pub _ev_max_voltage: i64,
}

/// DCChargingParametersType: only `energyAmount` (Wh) reaches the model; the currents and
/// voltages of a DC vehicle are the charger's business, not the site's AC phases.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DcChargingParametersWire {
    #[serde(rename = "evMaxCurrent")]
    pub _ev_max_current: i64,
    #[serde(rename = "evMaxVoltage")]
    pub _ev_max_voltage: i64,
    pub energy_amount: Option<i64>,
}

/// ChargingLimitType.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingLimitWire {
    pub charging_limit_source: ChargingLimitSource,
    pub is_grid_critical: Option<bool>,
}

// ---- Model to wire ------------------------------------------------------------------------

pub fn purpose_to_wire(purpose: ProfilePurpose) -> ProfilePurposeWire {
    match purpose {
        ProfilePurpose::ChargePointMax => ProfilePurposeWire::ChargingStationMaxProfile,
        ProfilePurpose::TxDefault => ProfilePurposeWire::TxDefaultProfile,
        ProfilePurpose::Tx => ProfilePurposeWire::TxProfile,
    }
}

pub fn rate_unit_to_wire(unit: RateUnit) -> RateUnitWire {
    match unit {
        RateUnit::Amps => RateUnitWire::A,
        RateUnit::Watts => RateUnitWire::W,
    }
}

/// The transactionId a TxKey is known by on a 2.0.1 station. A `Csms` key only exists
/// for 1.6 transactions; its decimal string is the best a 2.0.1 station can be told (a
/// station migrated from 1.6 may keep such ids). `None` when it exceeds identifierString
/// 36, which cannot happen for keys that came from a 2.0.1 station (they were parsed
/// with the same bound).
pub fn tx_key_to_wire(tx: &TxKey) -> Option<Bounded<36>> {
    let text = match tx {
        TxKey::Charger(id) => id.clone(),
        TxKey::Csms(id) => id.to_string(),
    };
    (text.chars().count() <= 36).then_some(Bounded(text))
}

/// Writes a model profile as ChargingProfileType. Returns `None` only when a Tx profile's
/// transaction id does not fit the schema (see `tx_key_to_wire`).
pub fn profile_to_wire(profile: &ChargingProfile) -> Option<ChargingProfileWire> {
    let kind = match profile.kind {
        ProfileKind::Absolute => ProfileKindWire::Absolute,
        ProfileKind::Recurring => ProfileKindWire::Recurring,
        ProfileKind::Relative => ProfileKindWire::Relative,
    };
    // recurrencyKind only means something for Recurring profiles (the schema leaves it
    // optional); a Recurring profile without it is taken as Daily, the shorter period, so
    // a missing flag never stretches a limit's validity.
    let recurrency_kind = match profile.kind {
        ProfileKind::Recurring => Some(if profile.recurrency_weekly == Some(true) {
            RecurrencyKind::Weekly
        } else {
            RecurrencyKind::Daily
        }),
        ProfileKind::Absolute | ProfileKind::Relative => None,
    };
    // transactionId belongs to a TxProfile only (ChargingProfileType: "SHALL only be
    // included if ChargingProfilePurpose is set to TxProfile"); for the other purposes it
    // is dropped even if the caller set one.
    let transaction_id = match (profile.purpose, &profile.tx) {
        (ProfilePurpose::Tx, Some(tx)) => Some(tx_key_to_wire(tx)?),
        _ => None,
    };
    let schedule = &profile.schedule;
    Some(ChargingProfileWire {
        id: profile.id,
        stack_level: profile.stack_level,
        charging_profile_purpose: purpose_to_wire(profile.purpose),
        charging_profile_kind: kind,
        recurrency_kind,
        valid_from: profile.valid_from,
        valid_to: profile.valid_to,
        charging_schedule: vec![ChargingScheduleWire {
            // ChargingScheduleType.id is required in 2.0.1; the model has one schedule per
            // profile, so the profile id identifies it uniquely.
            id: profile.id,
            start_schedule: schedule.start,
            duration: schedule.duration_s,
            charging_rate_unit: rate_unit_to_wire(schedule.rate_unit),
            charging_schedule_period: schedule
                .periods
                .iter()
                .map(|p| SchedulePeriodWire {
                    start_period: p.start_s,
                    limit: floor_limit(p.limit, WIRE_STEP),
                    number_phases: p.phases,
                })
                .collect(),
            min_charging_rate: schedule.min_rate.filter(|r| r.is_finite()),
        }],
        transaction_id,
    })
}

// ---- Wire to model ------------------------------------------------------------------------

fn rate_unit_from_wire(unit: RateUnitWire) -> RateUnit {
    match unit {
        RateUnitWire::A => RateUnit::Amps,
        RateUnitWire::W => RateUnit::Watts,
    }
}

fn periods_from_wire(periods: Vec<SchedulePeriodWire>) -> Vec<SchedulePeriod> {
    periods
        .into_iter()
        .map(|p| SchedulePeriod {
            start_s: p.start_period,
            limit: p.limit,
            phases: p.number_phases,
        })
        .collect()
}

/// Reads a reported ChargingProfileType into the model.
///
/// Two things the model cannot hold are mapped, not dropped, because a limit someone else
/// set matters to the site's grid safety:
/// - `ChargingStationExternalConstraints` (a limit from an EMS or grid operator, K11/K12)
///   becomes `ChargePointMax`: it caps the whole station like one. The report's `source`
///   still says who set it.
/// - Of up to three schedules only the first is kept; the schema requires at least one.
pub fn profile_from_wire(wire: ChargingProfileWire) -> Result<ChargingProfile, PayloadError> {
    let purpose = match wire.charging_profile_purpose {
        ProfilePurposeWire::ChargingStationMaxProfile
        | ProfilePurposeWire::ChargingStationExternalConstraints => ProfilePurpose::ChargePointMax,
        ProfilePurposeWire::TxDefaultProfile => ProfilePurpose::TxDefault,
        ProfilePurposeWire::TxProfile => ProfilePurpose::Tx,
    };
    let kind = match wire.charging_profile_kind {
        ProfileKindWire::Absolute => ProfileKind::Absolute,
        ProfileKindWire::Recurring => ProfileKind::Recurring,
        ProfileKindWire::Relative => ProfileKind::Relative,
    };
    let Some(schedule) = wire.charging_schedule.into_iter().next() else {
        return Err(PayloadError::new(
            RpcErrorCode::PropertyConstraintViolation,
            format!(
                "chargingProfile {} has no chargingSchedule (minItems 1)",
                wire.id
            ),
        ));
    };
    Ok(ChargingProfile {
        id: wire.id,
        stack_level: wire.stack_level,
        purpose,
        kind,
        recurrency_weekly: wire.recurrency_kind.map(|k| k == RecurrencyKind::Weekly),
        tx: wire
            .transaction_id
            .map(|id| TxKey::Charger(id.into_inner())),
        valid_from: wire.valid_from,
        valid_to: wire.valid_to,
        schedule: ChargingSchedule {
            start: schedule.start_schedule,
            duration_s: schedule.duration,
            rate_unit: rate_unit_from_wire(schedule.charging_rate_unit),
            periods: periods_from_wire(schedule.charging_schedule_period),
            min_rate: schedule.min_charging_rate,
        },
    })
}

/// Reads a CompositeScheduleType: the station's effective limits from `scheduleStart` on.
pub fn composite_from_wire(wire: CompositeScheduleWire) -> ChargingSchedule {
    ChargingSchedule {
        start: Some(wire.schedule_start),
        duration_s: Some(wire.duration),
        rate_unit: rate_unit_from_wire(wire.charging_rate_unit),
        periods: periods_from_wire(wire.charging_schedule_period),
        min_rate: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_constraints_read_as_station_max() {
        let wire: ChargingProfileWire = serde_json::from_value(serde_json::json!({
            "id": 9, "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationExternalConstraints",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}]
        }))
        .unwrap();
        let profile = profile_from_wire(wire).unwrap();
        assert_eq!(profile.purpose, ProfilePurpose::ChargePointMax);
        assert_eq!(profile.schedule.rate_unit, RateUnit::Watts);
        assert_eq!(profile.schedule.periods[0].limit, 11000.0);
    }

    #[test]
    fn a_profile_without_schedule_is_a_property_violation() {
        let wire: ChargingProfileWire = serde_json::from_value(serde_json::json!({
            "id": 9, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": []
        }))
        .unwrap();
        let err = profile_from_wire(wire).unwrap_err();
        assert_eq!(err.code, RpcErrorCode::PropertyConstraintViolation);
    }
}
