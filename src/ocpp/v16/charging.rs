//! OCPP 1.6 smart charging on the wire (§3.13, §7.8, §7.13, §7.14): ChargingProfile and its
//! schedule as chargegate writes them (SetChargingProfile, RemoteStartTransaction) and the
//! composite schedule it reads back (GetCompositeSchedule). The messages carrying them are
//! in `messages`.
//!
//! Owns the translation of charging profiles between the model and the wire, including
//! the one grid-safety rule of this layer: a limit is rounded *down* to 0.1 before it is
//! sent, so a charger is never told more than the planner allowed (DESIGN.md S1). It must
//! never invent a limit or a transaction: a profile it cannot express is refused (`None`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::enums::{ProfileKindWire, ProfilePurposeWire, RateUnitWire, RecurrencyKind};
use crate::ocpp::model::WIRE_STEP;
use crate::ocpp::model::{
    ChargingProfile, ChargingSchedule, ProfileKind, ProfilePurpose, RateUnit, SchedulePeriod, TxKey,
};
use crate::units::floor_limit;

// ---- Wire types ---------------------------------------------------------------------------

/// OCPP 1.6 §7.8.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingProfileWire {
    pub charging_profile_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i64>,
    pub stack_level: u32,
    pub charging_profile_purpose: ProfilePurposeWire,
    pub charging_profile_kind: ProfileKindWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrency_kind: Option<RecurrencyKind>,
    #[serde(
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_to: Option<DateTime<Utc>>,
    pub charging_schedule: ChargingScheduleWire,
}

/// OCPP 1.6 §7.13; written in profiles, read in GetCompositeSchedule.conf.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingScheduleWire {
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(
        default,
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_schedule: Option<DateTime<Utc>>,
    pub charging_rate_unit: RateUnitWire,
    pub charging_schedule_period: Vec<SchedulePeriodWire>,
    /// In `charging_rate_unit`, at most one fractional digit (§7.13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_charging_rate: Option<f64>,
}

/// OCPP 1.6 §7.14.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePeriodWire {
    /// Seconds from the start of the schedule.
    pub start_period: u32,
    /// In the schedule's rate unit, at most one fractional digit (§7.14).
    pub limit: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_phases: Option<u8>,
}

// ---- Model to wire ------------------------------------------------------------------------

/// A 1.6 transactionId is the integer the CSMS assigned (§6.46). A `TxKey::Charger` is
/// usable only when it is such an integer written as text; any other string names no 1.6
/// transaction, and guessing one (e.g. 0) could stop or limit the wrong session.
pub fn tx_key_to_wire(tx: &TxKey) -> Option<i64> {
    match tx {
        TxKey::Csms(id) => Some(*id),
        TxKey::Charger(text) => text.parse().ok(),
    }
}

/// ChargingProfile (§7.8); `None` when its transaction key is not a 1.6 id.
pub fn profile_to_wire(profile: &ChargingProfile) -> Option<ChargingProfileWire> {
    let transaction_id = match (profile.purpose, &profile.tx) {
        (ProfilePurpose::Tx, Some(tx)) => Some(tx_key_to_wire(tx)?),
        // §7.8: transactionId is "only valid if ChargingProfilePurpose is set to TxProfile";
        // a key on another purpose is dropped, not sent.
        _ => None,
    };
    Some(ChargingProfileWire {
        charging_profile_id: profile.id,
        transaction_id,
        stack_level: profile.stack_level,
        charging_profile_purpose: purpose_to_wire(profile.purpose),
        charging_profile_kind: match profile.kind {
            ProfileKind::Absolute => ProfileKindWire::Absolute,
            ProfileKind::Recurring => ProfileKindWire::Recurring,
            ProfileKind::Relative => ProfileKindWire::Relative,
        },
        // §7.8: recurrencyKind belongs to Recurring profiles only.
        recurrency_kind: match profile.kind {
            ProfileKind::Recurring => profile.recurrency_weekly.map(|weekly| {
                if weekly {
                    RecurrencyKind::Weekly
                } else {
                    RecurrencyKind::Daily
                }
            }),
            ProfileKind::Absolute | ProfileKind::Relative => None,
        },
        valid_from: profile.valid_from,
        valid_to: profile.valid_to,
        charging_schedule: schedule_to_wire(&profile.schedule),
    })
}

fn schedule_to_wire(schedule: &ChargingSchedule) -> ChargingScheduleWire {
    ChargingScheduleWire {
        duration: schedule.duration_s,
        start_schedule: schedule.start,
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
        min_charging_rate: schedule.min_rate.map(|r| floor_limit(r, WIRE_STEP)),
    }
}

pub fn purpose_to_wire(purpose: ProfilePurpose) -> ProfilePurposeWire {
    match purpose {
        ProfilePurpose::ChargePointMax => ProfilePurposeWire::ChargePointMax,
        ProfilePurpose::TxDefault => ProfilePurposeWire::TxDefault,
        ProfilePurpose::Tx => ProfilePurposeWire::Tx,
    }
}

pub fn rate_unit_to_wire(unit: RateUnit) -> RateUnitWire {
    match unit {
        RateUnit::Amps => RateUnitWire::A,
        RateUnit::Watts => RateUnitWire::W,
    }
}

// ---- Wire to model ------------------------------------------------------------------------

/// The chargingSchedule of GetCompositeSchedule.conf, starting at the response's
/// `scheduleStart` unless it says otherwise.
pub fn composite_from_wire(
    s: ChargingScheduleWire,
    schedule_start: Option<DateTime<Utc>>,
) -> ChargingSchedule {
    ChargingSchedule {
        // §6.22: scheduleStart is the start of the composite schedule; a startSchedule
        // inside it, when a charger sends one, says the same more specifically.
        start: s.start_schedule.or(schedule_start),
        duration_s: s.duration,
        rate_unit: match s.charging_rate_unit {
            RateUnitWire::A => RateUnit::Amps,
            RateUnitWire::W => RateUnit::Watts,
        },
        periods: s
            .charging_schedule_period
            .into_iter()
            .map(|p| SchedulePeriod {
                start_s: p.start_period,
                limit: p.limit,
                phases: p.number_phases,
            })
            .collect(),
        min_rate: s.min_charging_rate,
    }
}
