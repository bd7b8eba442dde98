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

use super::charging::{ChargingProfileWire, ChargingScheduleWire};
use super::enums::{
    AuthorizationStatusWire, AvailabilityType, ChargePointErrorCode, ConnectorStatusWire,
    DataTransferStatusWire, DiagnosticsStatus, FirmwareStatus, GetCompositeScheduleStatus,
    Location, Measurand, Phase, ProfilePurposeWire, RateUnitWire, ReadingContext, Reason,
    RegistrationStatusWire, ResetKindWire, SignedFirmwareStatus, TriggerKindWire, UnitOfMeasure,
    UpdateType, UploadLogStatus, ValueFormat,
};
use crate::ocpp::strings::Bounded;

// ---- Charge point to central system: requests (decoded) -----------------------------------

/// OCPP 1.6 §6.3.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationRequest {
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
pub struct HeartbeatRequest {}

/// OCPP 1.6 §6.47.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotificationRequest {
    pub connector_id: u32,
    pub error_code: ChargePointErrorCode,
    pub info: Option<Bounded<50>>,
    pub status: ConnectorStatusWire,
    #[serde(default, with = "crate::ocpp::time::option")]
    pub timestamp: Option<DateTime<Utc>>,
    #[allow(
        dead_code,
        reason = "declared for its length check only; no model field"
    )]
    pub vendor_id: Option<Bounded<255>>,
    pub vendor_error_code: Option<Bounded<50>>,
}

/// OCPP 1.6 §6.1.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeRequest {
    pub id_tag: Bounded<20>,
}

/// OCPP 1.6 §6.45.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransactionRequest {
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
pub struct StopTransactionRequest {
    pub id_tag: Option<Bounded<20>>,
    /// Wh (§6.49).
    pub meter_stop: i64,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub transaction_id: i64,
    pub reason: Option<Reason>,
    #[serde(default)]
    pub transaction_data: Vec<MeterValueWire>,
}

/// OCPP 1.6 §7.33.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValueWire {
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub sampled_value: Vec<SampledValueWire>,
}

/// OCPP 1.6 §7.43. `value` is a string so that it can carry signed data; a Raw value is a
/// decimal number written as a string.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValueWire {
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
pub struct MeterValuesRequest {
    pub connector_id: u32,
    pub transaction_id: Option<i64>,
    pub meter_value: Vec<MeterValueWire>,
}

/// OCPP 1.6 §6.15 (the charge point's DataTransfer; the direction we answer).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferRequest {
    pub vendor_id: Bounded<255>,
    pub message_id: Option<Bounded<50>>,
    pub data: Option<String>,
}

/// OCPP 1.6 §6.17.
#[derive(Debug, Deserialize)]
pub struct DiagnosticsStatusNotificationRequest {
    pub status: DiagnosticsStatus,
}

/// OCPP 1.6 §6.19.
#[derive(Debug, Deserialize)]
pub struct FirmwareStatusNotificationRequest {
    pub status: FirmwareStatus,
}

/// OCPP 1.6 security whitepaper §5.15.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventNotificationRequest {
    #[serde(rename = "type")]
    pub kind: Bounded<50>,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub tech_info: Option<Bounded<255>>,
}

/// OCPP 1.6 security whitepaper §5.13.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatusNotificationRequest {
    pub status: UploadLogStatus,
    pub request_id: Option<i32>,
}

/// OCPP 1.6 security whitepaper §5.19.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedFirmwareStatusNotificationRequest {
    pub status: SignedFirmwareStatus,
    pub request_id: Option<i32>,
}

// ---- Central system's answers to them (encoded) ------------------------------------------

/// OCPP 1.6 §6.4.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationResponse {
    pub status: RegistrationStatusWire,
    #[serde(with = "crate::ocpp::time")]
    pub current_time: DateTime<Utc>,
    /// Seconds (§6.4).
    pub interval: u32,
}

/// OCPP 1.6 §6.30.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    #[serde(with = "crate::ocpp::time")]
    pub current_time: DateTime<Utc>,
}

/// OCPP 1.6 §7.27.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdTagInfoWire {
    #[serde(
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<Bounded<20>>,
    pub status: AuthorizationStatusWire,
}

/// OCPP 1.6 §6.2.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeResponse {
    pub id_tag_info: IdTagInfoWire,
}

/// OCPP 1.6 §6.46: both fields are required.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransactionResponse {
    pub id_tag_info: IdTagInfoWire,
    pub transaction_id: i64,
}

/// OCPP 1.6 §6.50.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTransactionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfoWire>,
}

/// OCPP 1.6 §6.16.
#[derive(Debug, Serialize)]
pub struct DataTransferResponse {
    pub status: DataTransferStatusWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

// ---- Central system to charge point: requests (encoded) -----------------------------------

/// OCPP 1.6 §6.15, sent by chargegate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferCall {
    pub vendor_id: Bounded<255>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Bounded<50>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// OCPP 1.6 §6.33.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteStartTransactionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    pub id_tag: Bounded<20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfileWire>,
}

/// OCPP 1.6 §6.35.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteStopTransactionRequest {
    pub transaction_id: i64,
}

/// OCPP 1.6 §6.39.
#[derive(Debug, Serialize)]
pub struct ResetRequest {
    #[serde(rename = "type")]
    pub kind: ResetKindWire,
}

/// OCPP 1.6 §6.53.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockConnectorRequest {
    pub connector_id: u32,
}

/// OCPP 1.6 §6.7.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeAvailabilityRequest {
    pub connector_id: u32,
    #[serde(rename = "type")]
    pub kind: AvailabilityType,
}

/// OCPP 1.6 §6.23: no keys asks for every key.
#[derive(Debug, Serialize)]
pub struct GetConfigurationRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<Bounded<50>>,
}

/// OCPP 1.6 §6.9.
#[derive(Debug, Serialize)]
pub struct ChangeConfigurationRequest {
    pub key: Bounded<50>,
    pub value: Bounded<500>,
}

/// OCPP 1.6 §6.51.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageRequest {
    pub requested_message: TriggerKindWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}

/// OCPP 1.6 §6.43.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetChargingProfileRequest {
    pub connector_id: u32,
    pub cs_charging_profiles: ChargingProfileWire,
}

/// OCPP 1.6 §6.13: every field is an optional filter.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearChargingProfileRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile_purpose: Option<ProfilePurposeWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_level: Option<u32>,
}

/// OCPP 1.6 §6.21.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCompositeScheduleRequest {
    pub connector_id: u32,
    /// Seconds.
    pub duration: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_rate_unit: Option<RateUnitWire>,
}

/// OCPP 1.6 §6.37.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveNowRequest {
    pub connector_id: u32,
    #[serde(with = "crate::ocpp::time")]
    pub expiry_date: DateTime<Utc>,
    pub id_tag: Bounded<20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<Bounded<20>>,
    pub reservation_id: i32,
}

/// OCPP 1.6 §6.5.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelReservationRequest {
    pub reservation_id: i32,
}

/// OCPP 1.6 §6.41.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendLocalListRequest {
    pub list_version: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local_authorization_list: Vec<AuthorizationDataWire>,
    pub update_type: UpdateType,
}

/// OCPP 1.6 §7.1.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationDataWire {
    pub id_tag: Bounded<20>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfoWire>,
}

// ---- Charge point's answers to them (decoded) --------------------------------------------

/// DataTransfer.conf (§6.16) to chargegate's own DataTransfer.req.
#[derive(Debug, Deserialize)]
pub struct DataTransferConf {
    pub status: DataTransferStatusWire,
    pub data: Option<String>,
}

/// Every .conf that carries only a status enumeration (§6.6, §6.8, §6.10, ...).
#[derive(Debug, Deserialize)]
pub struct StatusResponse<S> {
    pub status: S,
}

/// OCPP 1.6 §6.24.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetConfigurationResponse {
    #[serde(default)]
    pub configuration_key: Vec<KeyValueWire>,
    #[serde(default)]
    pub unknown_key: Vec<Bounded<50>>,
}

/// OCPP 1.6 §7.29.
#[derive(Debug, Deserialize)]
pub struct KeyValueWire {
    pub key: Bounded<50>,
    pub readonly: bool,
    pub value: Option<Bounded<500>>,
}

/// OCPP 1.6 §6.22.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCompositeScheduleResponse {
    pub status: GetCompositeScheduleStatus,
    #[allow(
        dead_code,
        reason = "declared for its type check only; echoes the request"
    )]
    pub connector_id: Option<u32>,
    #[serde(default, with = "crate::ocpp::time::option")]
    pub schedule_start: Option<DateTime<Utc>>,
    pub charging_schedule: Option<ChargingScheduleWire>,
}

/// OCPP 1.6 §6.28.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLocalListVersionResponse {
    pub list_version: i32,
}
