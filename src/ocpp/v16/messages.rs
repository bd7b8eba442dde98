//! The OCPP 1.6 JSON payloads (OCPP 1.6 §6, the security whitepaper §5) as serde types.
//!
//! Owns the shape of every payload chargegate reads or writes: field names (camelCase),
//! JSON types, which fields are required, string lengths (`Bounded<N>` for CiStringNType,
//! §7.15-7.19) and closed enumerations (`enums`). Unknown fields are ignored, not refused:
//! chargers add vendor fields and the schemas' `additionalProperties: false` is not worth a
//! failed transaction. Everything else is strict. This module must never hold a conversion
//! to or from the model, and never a default value: those live in `convert` and `commands`.
//!
//! Integers the spec calls `integer` are typed by what they may hold: ids and counters that
//! cannot be negative (connectorId, startPeriod, duration, stackLevel) are unsigned, so a
//! negative value is a PropertyConstraintViolation; transactionId is `i64` to match
//! `TxKey::Csms`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::enums::{
    AuthorizationStatus, AvailabilityType, ChargePointErrorCode, ChargePointStatus,
    ChargingProfileKind, ChargingProfilePurpose, ChargingRateUnit, DataTransferStatus,
    DiagnosticsStatus, FirmwareStatus, GetCompositeScheduleStatus, Location, Measurand,
    MessageTrigger, Phase, ReadingContext, Reason, RecurrencyKind, RegistrationStatus, ResetType,
    SignedFirmwareStatus, UnitOfMeasure, UpdateType, UploadLogStatus, ValueFormat,
};
use crate::ocpp::strings::Bounded;

// ---- Charge point to central system: requests (decoded) -----------------------------------

/// OCPP 1.6 §6.3.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationReq {
    pub charge_point_vendor: Bounded<20>,
    pub charge_point_model: Bounded<20>,
    pub charge_point_serial_number: Option<Bounded<25>>,
    /// Deprecated by 1.6 in favour of chargePointSerialNumber; still sent by old firmware.
    pub charge_box_serial_number: Option<Bounded<25>>,
    pub firmware_version: Option<Bounded<50>>,
    /// The remaining fields have no place in the model; they are declared so that their
    /// lengths are checked like every other field's.
    #[allow(dead_code, reason = "declared for its length check only")]
    pub iccid: Option<Bounded<20>>,
    #[allow(dead_code, reason = "declared for its length check only")]
    pub imsi: Option<Bounded<20>>,
    #[allow(dead_code, reason = "declared for its length check only")]
    pub meter_type: Option<Bounded<25>>,
    #[allow(dead_code, reason = "declared for its length check only")]
    pub meter_serial_number: Option<Bounded<25>>,
}

/// OCPP 1.6 §6.29: no fields.
#[derive(Debug, Deserialize)]
pub struct HeartbeatReq {}

/// OCPP 1.6 §6.47.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotificationReq {
    pub connector_id: u32,
    pub error_code: ChargePointErrorCode,
    pub info: Option<Bounded<50>>,
    pub status: ChargePointStatus,
    #[serde(default, with = "crate::ocpp::time::option")]
    pub timestamp: Option<DateTime<Utc>>,
    #[allow(
        dead_code,
        reason = "declared for its length check only; no model field"
    )]
    pub vendor_id: Option<Bounded<255>>,
    #[allow(
        dead_code,
        reason = "declared for its length check only; no model field"
    )]
    pub vendor_error_code: Option<Bounded<50>>,
}

/// OCPP 1.6 §6.1.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeReq {
    pub id_tag: Bounded<20>,
}

/// OCPP 1.6 §6.45.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransactionReq {
    pub connector_id: u32,
    pub id_tag: Bounded<20>,
    /// Wh (§6.45).
    pub meter_start: i64,
    pub reservation_id: Option<i32>,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
}

/// OCPP 1.6 §6.49.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTransactionReq {
    pub id_tag: Option<Bounded<20>>,
    /// Wh (§6.49).
    pub meter_stop: i64,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub transaction_id: i64,
    pub reason: Option<Reason>,
    #[serde(default)]
    pub transaction_data: Vec<MeterValue>,
}

/// OCPP 1.6 §7.33.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValue {
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub sampled_value: Vec<SampledValue>,
}

/// OCPP 1.6 §7.43. `value` is a string so that it can carry signed data; a Raw value is a
/// decimal number written as a string.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValue {
    pub value: String,
    pub context: Option<ReadingContext>,
    pub format: Option<ValueFormat>,
    pub measurand: Option<Measurand>,
    pub phase: Option<Phase>,
    pub location: Option<Location>,
    pub unit: Option<UnitOfMeasure>,
}

/// OCPP 1.6 §6.31.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValuesReq {
    pub connector_id: u32,
    pub transaction_id: Option<i64>,
    pub meter_value: Vec<MeterValue>,
}

/// OCPP 1.6 §6.15 (the charge point's DataTransfer; the direction we answer).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferReq {
    pub vendor_id: Bounded<255>,
    pub message_id: Option<Bounded<50>>,
    pub data: Option<String>,
}

/// OCPP 1.6 §6.17.
#[derive(Debug, Deserialize)]
pub struct DiagnosticsStatusNotificationReq {
    pub status: DiagnosticsStatus,
}

/// OCPP 1.6 §6.19.
#[derive(Debug, Deserialize)]
pub struct FirmwareStatusNotificationReq {
    pub status: FirmwareStatus,
}

/// OCPP 1.6 security whitepaper §5.15.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventNotificationReq {
    #[serde(rename = "type")]
    pub kind: Bounded<50>,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub tech_info: Option<Bounded<255>>,
}

/// OCPP 1.6 security whitepaper §5.13.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatusNotificationReq {
    pub status: UploadLogStatus,
    pub request_id: Option<i32>,
}

/// OCPP 1.6 security whitepaper §5.19.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedFirmwareStatusNotificationReq {
    pub status: SignedFirmwareStatus,
    pub request_id: Option<i32>,
}

// ---- Central system's answers to them (encoded) ------------------------------------------

/// OCPP 1.6 §6.4.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationConf {
    pub status: RegistrationStatus,
    #[serde(with = "crate::ocpp::time")]
    pub current_time: DateTime<Utc>,
    /// Seconds (§6.4).
    pub interval: u32,
}

/// OCPP 1.6 §6.30.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatConf {
    #[serde(with = "crate::ocpp::time")]
    pub current_time: DateTime<Utc>,
}

/// OCPP 1.6 §7.27.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdTagInfo {
    #[serde(
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<Bounded<20>>,
    pub status: AuthorizationStatus,
}

/// OCPP 1.6 §6.2.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeConf {
    pub id_tag_info: IdTagInfo,
}

/// OCPP 1.6 §6.46: both fields are required.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransactionConf {
    pub id_tag_info: IdTagInfo,
    pub transaction_id: i64,
}

/// OCPP 1.6 §6.50.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTransactionConf {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}

/// OCPP 1.6 §6.16.
#[derive(Debug, Serialize)]
pub struct DataTransferConf {
    pub status: DataTransferStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

// ---- Central system to charge point: requests (encoded) -----------------------------------

/// OCPP 1.6 §6.33.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteStartTransactionReq {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    pub id_tag: Bounded<20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfile>,
}

/// OCPP 1.6 §6.35.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteStopTransactionReq {
    pub transaction_id: i64,
}

/// OCPP 1.6 §6.39.
#[derive(Debug, Serialize)]
pub struct ResetReq {
    #[serde(rename = "type")]
    pub kind: ResetType,
}

/// OCPP 1.6 §6.53.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockConnectorReq {
    pub connector_id: u32,
}

/// OCPP 1.6 §6.7.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeAvailabilityReq {
    pub connector_id: u32,
    #[serde(rename = "type")]
    pub kind: AvailabilityType,
}

/// OCPP 1.6 §6.23: no keys asks for every key.
#[derive(Debug, Serialize)]
pub struct GetConfigurationReq {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<Bounded<50>>,
}

/// OCPP 1.6 §6.9.
#[derive(Debug, Serialize)]
pub struct ChangeConfigurationReq {
    pub key: Bounded<50>,
    pub value: Bounded<500>,
}

/// OCPP 1.6 §6.51.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageReq {
    pub requested_message: MessageTrigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}

/// OCPP 1.6 §6.43.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetChargingProfileReq {
    pub connector_id: u32,
    pub cs_charging_profiles: ChargingProfile,
}

/// OCPP 1.6 §7.8.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingProfile {
    pub charging_profile_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i64>,
    pub stack_level: u32,
    pub charging_profile_purpose: ChargingProfilePurpose,
    pub charging_profile_kind: ChargingProfileKind,
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
    pub charging_schedule: ChargingSchedule,
}

/// OCPP 1.6 §7.13; written in profiles, read in GetCompositeSchedule.conf.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingSchedule {
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(
        default,
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_schedule: Option<DateTime<Utc>>,
    pub charging_rate_unit: ChargingRateUnit,
    pub charging_schedule_period: Vec<ChargingSchedulePeriod>,
    /// In `charging_rate_unit`, at most one fractional digit (§7.13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_charging_rate: Option<f64>,
}

/// OCPP 1.6 §7.14.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingSchedulePeriod {
    /// Seconds from the start of the schedule.
    pub start_period: u32,
    /// In the schedule's rate unit, at most one fractional digit (§7.14).
    pub limit: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_phases: Option<u8>,
}

/// OCPP 1.6 §6.13: every field is an optional filter.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearChargingProfileReq {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile_purpose: Option<ChargingProfilePurpose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_level: Option<u32>,
}

/// OCPP 1.6 §6.21.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCompositeScheduleReq {
    pub connector_id: u32,
    /// Seconds.
    pub duration: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_rate_unit: Option<ChargingRateUnit>,
}

/// OCPP 1.6 §6.37. parentIdTag is never written: the model has no field for it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveNowReq {
    pub connector_id: u32,
    #[serde(with = "crate::ocpp::time")]
    pub expiry_date: DateTime<Utc>,
    pub id_tag: Bounded<20>,
    pub reservation_id: i32,
}

/// OCPP 1.6 §6.5.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelReservationReq {
    pub reservation_id: i32,
}

/// OCPP 1.6 §6.41.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendLocalListReq {
    pub list_version: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local_authorization_list: Vec<AuthorizationData>,
    pub update_type: UpdateType,
}

/// OCPP 1.6 §7.1.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationData {
    pub id_tag: Bounded<20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}

// ---- Charge point's answers to them (decoded) --------------------------------------------

/// Every .conf that carries only a status enumeration (§6.6, §6.8, §6.10, ...).
#[derive(Debug, Deserialize)]
pub struct StatusConf<S> {
    pub status: S,
}

/// OCPP 1.6 §6.24.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetConfigurationConf {
    #[serde(default)]
    pub configuration_key: Vec<KeyValue>,
    #[serde(default)]
    pub unknown_key: Vec<Bounded<50>>,
}

/// OCPP 1.6 §7.29.
#[derive(Debug, Deserialize)]
pub struct KeyValue {
    pub key: Bounded<50>,
    pub readonly: bool,
    pub value: Option<Bounded<500>>,
}

/// OCPP 1.6 §6.22.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCompositeScheduleConf {
    pub status: GetCompositeScheduleStatus,
    #[allow(
        dead_code,
        reason = "declared for its type check only; echoes the request"
    )]
    pub connector_id: Option<u32>,
    #[serde(default, with = "crate::ocpp::time::option")]
    pub schedule_start: Option<DateTime<Utc>>,
    pub charging_schedule: Option<ChargingSchedule>,
}

/// OCPP 1.6 §6.28.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLocalListVersionConf {
    pub list_version: i32,
}
