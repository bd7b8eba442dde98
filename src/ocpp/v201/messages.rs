//! Serde wire types of the OCPP 2.0.1 messages a charging station sends (requests) and
//! chargegate's responses to them, field for field as the `*Request.json` /
//! `*Response.json` schemas define them; also the small types every message shares
//! (IdTokenType, IdTokenInfoType, EVSEType, ComponentType, VariableType).
//!
//! Strict where the schema is: required fields, JSON types, enum values and maxLength fail
//! to parse. Unknown fields and `customData` are ignored (no `deny_unknown_fields`), so a
//! vendor extension never breaks a session. Required fields the model does not need are
//! still declared (as `_name`) so their absence is an OccurrenceConstraintViolation. This
//! module must never hold translation logic: `convert` maps these types to the model.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::charging::{
    ChargingLimitWire, ChargingNeedsWire, ChargingProfileWire, CompositeScheduleWire,
};
use super::enums::*;
use crate::ocpp::strings::Bounded;

// ---- Shared types ---------------------------------------------------------------------------

/// IdTokenType. `additionalInfo` is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenWire {
    #[serde(rename = "idToken")]
    pub id_token: Bounded<36>,
    #[serde(rename = "type")]
    pub kind: IdTokenKind,
}

/// IdTokenInfoType, as chargegate writes it (AuthorizeResponse, TransactionEventResponse,
/// SendLocalListRequest).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdTokenInfoWire {
    pub status: AuthorizationStatusWire,
    #[serde(
        with = "crate::ocpp::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_expiry_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id_token: Option<IdTokenWire>,
}

/// EVSEType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvseWire {
    pub id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}

/// ComponentType. `evse` and `instance` are read for strictness only; the model names a
/// component by its name (see the module doc of `convert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentWire {
    pub name: Bounded<50>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<Bounded<50>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse: Option<EvseWire>,
}

/// VariableType.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableWire {
    pub name: Bounded<50>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<Bounded<50>>,
}

/// A response that is a status enum (most responses to CSMS-to-station commands). The
/// optional `statusInfo` (StatusInfoType: a reason code for people) is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusResponse<S> {
    pub status: S,
}

// ---- Requests: charging station to CSMS ----------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationRequest {
    pub charging_station: ChargingStationWire,
    pub reason: BootReason,
}

/// ChargingStationType. `modem` is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingStationWire {
    pub serial_number: Option<Bounded<25>>,
    pub model: Bounded<20>,
    pub vendor_name: Bounded<50>,
    pub firmware_version: Option<Bounded<50>>,
}

/// HeartbeatRequest has no fields; parsing it still checks that the payload is an object.
#[derive(Debug, Clone, Deserialize)]
pub struct HeartbeatRequest {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotificationRequest {
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub connector_status: ConnectorStatusWire,
    pub evse_id: u32,
    pub connector_id: u32,
}

/// AuthorizeRequest. `certificate` and `iso15118CertificateHashData` (ISO 15118 contract
/// certificates, C07) are ignored: chargegate authorises by token only.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeRequest {
    pub id_token: IdTokenWire,
}

/// TransactionEventRequest (E01-E15).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEventRequest {
    pub event_type: TxPhaseWire,
    pub meter_value: Option<Vec<MeterValueWire>>,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub trigger_reason: TriggerReason,
    pub seq_no: u32,
    /// Absent means false (schema default).
    #[serde(default)]
    pub offline: bool,
    pub reservation_id: Option<i32>,
    pub transaction_info: TransactionWire,
    pub evse: Option<EvseWire>,
    pub id_token: Option<IdTokenWire>,
}

/// TransactionType. `timeSpentCharging` and `remoteStartId` are not in the model.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionWire {
    pub transaction_id: Bounded<36>,
    pub charging_state: Option<ChargingState>,
    pub stopped_reason: Option<StoppedReason>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValuesRequest {
    pub evse_id: u32,
    pub meter_value: Vec<MeterValueWire>,
}

/// MeterValueType.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValueWire {
    pub sampled_value: Vec<SampledValueWire>,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
}

/// SampledValueType. `signedMeterValue` is kept verbatim for billing (calibration law).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValueWire {
    pub value: f64,
    pub context: Option<ReadingContext>,
    pub measurand: Option<Measurand>,
    pub phase: Option<Phase>,
    pub location: Option<Location>,
    pub unit_of_measure: Option<UnitOfMeasureWire>,
    pub signed_meter_value: Option<SignedMeterValueWire>,
}

/// SignedMeterValueType: every field is required by the schema, lengths as it bounds them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedMeterValueWire {
    pub signed_meter_data: Bounded<2500>,
    pub signing_method: Bounded<50>,
    pub encoding_method: Bounded<50>,
    pub public_key: Bounded<2500>,
}

/// UnitOfMeasureType: `unit` defaults to "Wh", `multiplier` (a power of ten) to 0.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitOfMeasureWire {
    pub unit: Option<Bounded<20>>,
    #[serde(default)]
    pub multiplier: i32,
}

/// NotifyReportRequest (B07/B08, the answer to GetBaseReport).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyReportRequest {
    pub request_id: i32,
    #[serde(rename = "generatedAt", with = "crate::ocpp::time")]
    pub _generated_at: DateTime<Utc>,
    pub report_data: Option<Vec<ReportDataWire>>,
    /// "to be continued": absent means false (schema default).
    #[serde(default)]
    pub tbc: bool,
    pub seq_no: u32,
}

/// ReportDataType. `variableCharacteristics` is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDataWire {
    pub component: ComponentWire,
    pub variable: VariableWire,
    pub variable_attribute: Vec<VariableAttributeWire>,
}

/// VariableAttributeType: `type` defaults to Actual.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableAttributeWire {
    #[serde(rename = "type")]
    pub kind: Option<AttributeKind>,
    pub value: Option<Bounded<2500>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventNotificationRequest {
    #[serde(rename = "type")]
    pub kind: Bounded<50>,
    #[serde(with = "crate::ocpp::time")]
    pub timestamp: DateTime<Utc>,
    pub tech_info: Option<Bounded<255>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareStatusNotificationRequest {
    pub status: FirmwareStatus,
    pub request_id: Option<i32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatusNotificationRequest {
    pub status: UploadLogStatus,
    pub request_id: Option<i32>,
}

/// NotifyEventRequest (N07).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyEventRequest {
    #[serde(rename = "generatedAt", with = "crate::ocpp::time")]
    pub _generated_at: DateTime<Utc>,
    #[serde(rename = "seqNo")]
    pub _seq_no: u32,
    pub event_data: Vec<EventDataWire>,
}

/// EventDataType. `cause`, `techCode`, `cleared`, `transactionId` and
/// `variableMonitoringId` are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDataWire {
    #[serde(rename = "eventId")]
    pub _event_id: i32,
    #[serde(rename = "timestamp", with = "crate::ocpp::time")]
    pub _timestamp: DateTime<Utc>,
    pub trigger: EventTrigger,
    pub actual_value: Bounded<2500>,
    pub tech_info: Option<Bounded<500>>,
    pub component: ComponentWire,
    pub variable: VariableWire,
    #[serde(rename = "eventNotificationType")]
    pub _event_notification_type: EventNotification,
}

/// DataTransferRequest: `data` is "anyType" in the schema, so any JSON value. Both
/// directions: the station's (decoded) and chargegate's own (P01, encoded).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Bounded<50>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    pub vendor_id: Bounded<255>,
}

/// NotifyEVChargingNeedsRequest (K15, ISO 15118). `maxScheduleTuples` is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyEvChargingNeedsRequest {
    pub charging_needs: ChargingNeedsWire,
    pub evse_id: u32,
}

/// NotifyChargingLimitRequest (K12). The optional `chargingSchedule` is ignored: the model
/// records who limits and whether it is grid-critical, and chargegate asks for the profiles
/// with GetChargingProfiles when it needs the numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyChargingLimitRequest {
    pub evse_id: Option<u32>,
    pub charging_limit: ChargingLimitWire,
}

/// ReportChargingProfilesRequest (K09, the answer to GetChargingProfiles).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportChargingProfilesRequest {
    pub request_id: i32,
    pub charging_limit_source: ChargingLimitSource,
    pub charging_profile: Vec<ChargingProfileWire>,
    /// "to be continued": absent means false (schema default).
    #[serde(default)]
    pub tbc: bool,
    pub evse_id: u32,
}

// ---- Responses chargegate writes ---------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationResponse {
    #[serde(with = "crate::ocpp::time")]
    pub current_time: DateTime<Utc>,
    pub interval: u32,
    pub status: RegistrationStatusWire,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    #[serde(with = "crate::ocpp::time")]
    pub current_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeResponse {
    pub id_token_info: IdTokenInfoWire,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEventResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_info: Option<IdTokenInfoWire>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotifyEvChargingNeedsResponse {
    pub status: ChargingNeedsStatus,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DataTransferResponse {
    pub status: DataTransferStatusWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// ReservationStatusUpdateRequest (H04).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationStatusUpdateRequest {
    pub reservation_id: i32,
    pub reservation_update_status: ReservationUpdateWire,
}

/// The empty response object (`{}`) of StatusNotification, MeterValues, NotifyReport, ...
#[derive(Debug, Clone, Serialize)]
pub struct EmptyResponse {}

// ---- Requests chargegate sends -------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestStartTransactionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    pub id_token: IdTokenWire,
    pub remote_start_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfileWire>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestStopTransactionRequest {
    pub transaction_id: Bounded<36>,
}

#[derive(Debug, Serialize)]
pub struct ResetRequest {
    #[serde(rename = "type")]
    pub kind: ResetKindWire,
    #[serde(rename = "evseId", skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockConnectorRequest {
    pub evse_id: u32,
    pub connector_id: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeAvailabilityRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse: Option<EvseWire>,
    pub operational_status: OperationalStatus,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetVariablesRequest {
    pub get_variable_data: Vec<GetVariableDataWire>,
}

/// GetVariableDataType; `attributeType` is left out, meaning Actual.
#[derive(Debug, Serialize)]
pub struct GetVariableDataWire {
    pub component: ComponentWire,
    pub variable: VariableWire,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariablesRequest {
    pub set_variable_data: Vec<SetVariableDataWire>,
}

/// SetVariableDataType; `attributeType` is left out, meaning Actual.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariableDataWire {
    pub attribute_value: Bounded<1000>,
    pub component: ComponentWire,
    pub variable: VariableWire,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetBaseReportRequest {
    pub request_id: i32,
    pub report_base: ReportBase,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse: Option<EvseWire>,
    pub requested_message: TriggerKindWire,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetChargingProfileRequest {
    pub evse_id: u32,
    pub charging_profile: ChargingProfileWire,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearChargingProfileRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile_criteria: Option<ClearChargingProfileWire>,
}

/// ClearChargingProfileType.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearChargingProfileWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile_purpose: Option<ProfilePurposeWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_level: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetChargingProfilesRequest {
    pub request_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    pub charging_profile: ChargingProfileCriterionWire,
}

/// ChargingProfileCriterionType: required by the schema even when it filters nothing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingProfileCriterionWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_profile_purpose: Option<ProfilePurposeWire>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCompositeScheduleRequest {
    pub duration: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_rate_unit: Option<RateUnitWire>,
    pub evse_id: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveNowRequest {
    pub id: i32,
    #[serde(with = "crate::ocpp::time")]
    pub expiry_date_time: DateTime<Utc>,
    pub id_token: IdTokenWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id_token: Option<IdTokenWire>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelReservationRequest {
    pub reservation_id: i32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendLocalListRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local_authorization_list: Vec<AuthorizationDataWire>,
    pub version_number: i32,
    pub update_type: UpdateKind,
}

/// AuthorizationData: without `idTokenInfo` a Differential update removes the entry (D01).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationDataWire {
    pub id_token: IdTokenWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_info: Option<IdTokenInfoWire>,
}

#[derive(Debug, Serialize)]
pub struct GetLocalListVersionRequest {}

// ---- Responses to chargegate's requests ------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetVariablesResponse {
    pub get_variable_result: Vec<GetVariableResultWire>,
}

/// GetVariableResultType.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetVariableResultWire {
    pub attribute_status: GetVariableStatus,
    pub attribute_value: Option<Bounded<2500>>,
    pub component: ComponentWire,
    pub variable: VariableWire,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariablesResponse {
    pub set_variable_result: Vec<SetVariableResultWire>,
}

/// SetVariableResultType.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariableResultWire {
    pub attribute_status: SetVariableStatus,
    #[serde(rename = "component")]
    pub _component: ComponentWire,
    #[serde(rename = "variable")]
    pub _variable: VariableWire,
}

#[derive(Debug, Deserialize)]
pub struct GetCompositeScheduleResponse {
    pub status: GenericStatus,
    pub schedule: Option<CompositeScheduleWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLocalListVersionResponse {
    pub version_number: i32,
}
