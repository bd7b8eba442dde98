//! Charger-to-CSMS direction of OCPP 1.6: decoded requests -> `ChargerEvent`, and
//! `EventReply` -> the .conf payload of the action that carried the event.
//!
//! Owns the 1.6 semantics the wire types leave implicit: the defaults of SampledValue
//! (§7.43), the default stop reason (§6.49), the mapping of ChargePointStatus (§7.7) and of
//! AuthorizationStatus (§7.2). It must never invent data the charger did not send (a field
//! the model has and 1.6 lacks stays `None`) and never write a .conf its schema refuses.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::enums::{
    AuthorizationStatusWire, ConnectorStatusWire, DataTransferStatusWire, Measurand, Reason,
    RegistrationStatusWire, UnitOfMeasure, ValueFormat, WireEnum,
};
use super::messages::{
    AuthorizeRequest, AuthorizeResponse, BootNotificationRequest, BootNotificationResponse,
    DataTransferRequest, DataTransferResponse, DiagnosticsStatusNotificationRequest,
    FirmwareStatusNotificationRequest, HeartbeatRequest, HeartbeatResponse, IdTagInfoWire,
    LogStatusNotificationRequest, MeterValueWire, MeterValuesRequest, SampledValueWire,
    SecurityEventNotificationRequest, SignedFirmwareStatusNotificationRequest,
    StartTransactionRequest, StartTransactionResponse, StatusNotificationRequest,
    StopTransactionRequest, StopTransactionResponse,
};
use super::to_json;
use crate::ocpp::model::{
    AuthorizationStatus, ChargerEvent, ConnectorStatus, DataTransferStatus, EventReply, EvseRef,
    IdToken, IdTokenInfo, MAX_SAMPLE_MAGNITUDE, MeterSample, RegistrationStatus, SignedReading,
    TransactionEvent, TxKey, TxPhase,
};
use crate::ocpp::rpc::{PayloadError, RpcErrorCode};
use crate::ocpp::strings::Bounded;

// ---- Requests -> events -------------------------------------------------------------------

pub fn boot(req: BootNotificationRequest) -> ChargerEvent {
    ChargerEvent::Boot {
        vendor: req.charge_point_vendor.into_inner(),
        model: req.charge_point_model.into_inner(),
        // chargeBoxSerialNumber is deprecated (§6.3) but some firmware sends only that one.
        serial: req
            .charge_point_serial_number
            .or(req.charge_box_serial_number)
            .map(Bounded::into_inner),
        firmware: req.firmware_version.map(Bounded::into_inner),
        reason: None,
    }
}

pub fn heartbeat(_req: HeartbeatRequest) -> ChargerEvent {
    ChargerEvent::Heartbeat
}

pub fn status(req: StatusNotificationRequest) -> ChargerEvent {
    ChargerEvent::Status {
        evse: connector(req.connector_id),
        status: connector_status(req.status),
        error_code: Some(req.error_code.as_str().to_string()),
        info: req.info.map(Bounded::into_inner),
        vendor_error_code: req.vendor_error_code.map(Bounded::into_inner),
        timestamp: req.timestamp,
    }
}

pub fn authorize(req: AuthorizeRequest) -> ChargerEvent {
    ChargerEvent::Authorize {
        id_token: id_token(req.id_tag),
    }
}

/// StartTransaction.req (§6.45): the CSMS assigns the transaction id in its reply, so `tx`
/// is `None`.
pub fn start_transaction(req: StartTransactionRequest) -> ChargerEvent {
    ChargerEvent::Transaction(TransactionEvent {
        phase: TxPhase::Started,
        tx: None,
        seq_no: None,
        evse: Some(connector(req.connector_id)),
        id_token: Some(id_token(req.id_tag)),
        timestamp: req.timestamp,
        meter_wh: Some(req.meter_start as f64),
        stop_reason: None,
        trigger_reason: None,
        charging_state: None,
        offline: false,
        reservation_id: req.reservation_id,
        samples: Vec::new(),
        signed: Vec::new(),
    })
}

/// StopTransaction.req (§6.49). It names no connector; the session layer finds it by `tx`.
pub fn stop_transaction(req: StopTransactionRequest) -> Result<ChargerEvent, PayloadError> {
    // The schema lets transactionData entries carry no sampledValue; accepting them costs
    // nothing, and refusing would lose the transaction's billing record.
    let (samples, signed) = samples(req.transaction_data)?;
    Ok(ChargerEvent::Transaction(TransactionEvent {
        phase: TxPhase::Ended,
        tx: Some(TxKey::Csms(req.transaction_id)),
        seq_no: None,
        evse: None,
        id_token: req.id_tag.map(id_token),
        timestamp: req.timestamp,
        meter_wh: Some(req.meter_stop as f64),
        // §6.49: reason "MAY only be omitted when the Reason is Local".
        stop_reason: Some(req.reason.unwrap_or(Reason::Local).as_str().to_string()),
        trigger_reason: None,
        charging_state: None,
        offline: false,
        reservation_id: None,
        samples,
        signed,
    }))
}

pub fn meter_values(req: MeterValuesRequest) -> Result<ChargerEvent, PayloadError> {
    // §6.31 and §7.33: meterValue and each sampledValue are 1..*.
    if req.meter_value.is_empty() || req.meter_value.iter().any(|m| m.sampled_value.is_empty()) {
        return Err(PayloadError::new(
            RpcErrorCode::OccurrenceConstraintViolation,
            "MeterValues needs at least one meterValue, each with at least one sampledValue",
        ));
    }
    let (samples, signed) = samples(req.meter_value)?;
    Ok(ChargerEvent::MeterValues {
        evse_id: req.connector_id,
        tx: req.transaction_id.map(TxKey::Csms),
        samples,
        signed,
    })
}

pub fn data_transfer(req: DataTransferRequest) -> ChargerEvent {
    ChargerEvent::DataTransfer {
        vendor_id: req.vendor_id.into_inner(),
        message_id: req.message_id.map(Bounded::into_inner),
        data: req.data,
    }
}

pub fn diagnostics_status(req: DiagnosticsStatusNotificationRequest) -> ChargerEvent {
    ChargerEvent::DiagnosticsStatus {
        status: req.status.as_str().to_string(),
        request_id: None,
    }
}

pub fn firmware_status(req: FirmwareStatusNotificationRequest) -> ChargerEvent {
    ChargerEvent::FirmwareStatus {
        status: req.status.as_str().to_string(),
        request_id: None,
    }
}

pub fn security_event(req: SecurityEventNotificationRequest) -> ChargerEvent {
    ChargerEvent::SecurityEvent {
        kind: req.kind.into_inner(),
        timestamp: req.timestamp,
        tech_info: req.tech_info.map(Bounded::into_inner),
    }
}

/// LogStatusNotification (whitepaper §5.13) is the security extension's diagnostics upload.
pub fn log_status(req: LogStatusNotificationRequest) -> ChargerEvent {
    ChargerEvent::DiagnosticsStatus {
        status: req.status.as_str().to_string(),
        request_id: req.request_id,
    }
}

pub fn signed_firmware_status(req: SignedFirmwareStatusNotificationRequest) -> ChargerEvent {
    ChargerEvent::FirmwareStatus {
        status: req.status.as_str().to_string(),
        request_id: req.request_id,
    }
}

/// In 1.6 a connectorId is the whole address (`EvseRef` doc).
fn connector(connector_id: u32) -> EvseRef {
    EvseRef {
        evse_id: connector_id,
        connector_id: None,
    }
}

fn id_token(id_tag: Bounded<20>) -> IdToken {
    IdToken {
        id: id_tag.into_inner(),
        kind: None,
    }
}

fn connector_status(status: ConnectorStatusWire) -> ConnectorStatus {
    match status {
        ConnectorStatusWire::Available => ConnectorStatus::Available,
        ConnectorStatusWire::Preparing => ConnectorStatus::Preparing,
        ConnectorStatusWire::Charging => ConnectorStatus::Charging,
        ConnectorStatusWire::SuspendedEvse => ConnectorStatus::SuspendedEvse,
        ConnectorStatusWire::SuspendedEv => ConnectorStatus::SuspendedEv,
        ConnectorStatusWire::Finishing => ConnectorStatus::Finishing,
        ConnectorStatusWire::Reserved => ConnectorStatus::Reserved,
        ConnectorStatusWire::Unavailable => ConnectorStatus::Unavailable,
        ConnectorStatusWire::Faulted => ConnectorStatus::Faulted,
    }
}

/// Flattens meter values into samples, applying the SampledValue defaults of §7.43, and
/// the signed readings among them.
fn samples(
    values: Vec<MeterValueWire>,
) -> Result<(Vec<MeterSample>, Vec<SignedReading>), PayloadError> {
    let mut out = Vec::new();
    let mut signed_out = Vec::new();
    for meter_value in values {
        for sampled in meter_value.sampled_value {
            // §7.49: SignedData is an opaque signed reading, not a number: kept verbatim for
            // billing, apart from the Raw readings (chargers send the Raw value beside it).
            if sampled.format == Some(ValueFormat::SignedData) {
                signed_out.push(signed(meter_value.timestamp, sampled));
                continue;
            }
            out.push(sample(meter_value.timestamp, sampled)?);
        }
    }
    Ok((out, signed_out))
}

/// A `SignedData` sampled value as a signed reading, with the §7.43 defaults.
fn signed(timestamp: DateTime<Utc>, sampled: SampledValueWire) -> SignedReading {
    SignedReading {
        timestamp,
        measurand: sampled
            .measurand
            .unwrap_or(Measurand::EnergyActiveImportRegister)
            .as_str()
            .to_string(),
        context: Some(
            sampled
                .context
                .map_or("Sample.Periodic", WireEnum::as_str)
                .to_string(),
        ),
        phase: sampled.phase.map(|p| p.as_str().to_string()),
        location: Some(
            sampled
                .location
                .map_or("Outlet", WireEnum::as_str)
                .to_string(),
        ),
        value: None,
        data: sampled.value,
        signing_method: None,
        encoding_method: None,
        public_key: None,
    }
}

fn sample(
    timestamp: DateTime<Utc>,
    sampled: SampledValueWire,
) -> Result<MeterSample, PayloadError> {
    let measurand = sampled
        .measurand
        .unwrap_or(Measurand::EnergyActiveImportRegister);
    let unit = match sampled.unit {
        // The spec's misspelling (§7.45) is a 1.6 quirk; the model speaks one spelling.
        Some(UnitOfMeasure::Celcius) => Some(UnitOfMeasure::Celsius.as_str()),
        Some(unit) => Some(unit.as_str()),
        // §7.43: the unit defaults to Wh only "if the (default) measurand is an Energy type";
        // for any other measurand an absent unit stays unknown.
        None if measurand.as_str().starts_with("Energy.") => Some(UnitOfMeasure::Wh.as_str()),
        None => None,
    };
    Ok(MeterSample {
        timestamp,
        measurand: measurand.as_str().to_string(),
        phase: sampled.phase.map(|p| p.as_str().to_string()),
        value: raw_value(&sampled.value)?,
        unit: unit.map(str::to_string),
        context: Some(
            sampled
                .context
                .map_or("Sample.Periodic", WireEnum::as_str)
                .to_string(),
        ),
        location: Some(
            sampled
                .location
                .map_or("Outlet", WireEnum::as_str)
                .to_string(),
        ),
    })
}

/// A Raw value is a decimal number in a string (§7.43). Anything else, including `NaN` and
/// `inf` which Rust's parser would accept, and a number beyond `MAX_SAMPLE_MAGNITUDE`
/// (`1e400` parses as infinity, `1e306` kWh is infinite in Wh), is a
/// PropertyConstraintViolation.
fn raw_value(text: &str) -> Result<f64, PayloadError> {
    match text.trim().parse::<f64>() {
        // NaN fails the comparison.
        Ok(value) if value.abs() <= MAX_SAMPLE_MAGNITUDE => Ok(value),
        _ => Err(PayloadError::new(
            RpcErrorCode::PropertyConstraintViolation,
            format!(
                "sampledValue.value {text:?} is not a decimal number of at most \
                 {MAX_SAMPLE_MAGNITUDE:e} in magnitude"
            ),
        )),
    }
}

// ---- Replies -> .conf payloads ------------------------------------------------------------

/// The .conf of the action that carried `event`. A reply that does not answer that action is
/// chargegate's bug, reported as InternalError rather than sent.
pub fn reply(event: &ChargerEvent, reply: &EventReply) -> Result<Value, PayloadError> {
    use ChargerEvent as E;
    use EventReply as R;
    Ok(match (event, reply) {
        (
            E::Boot { .. },
            R::Boot {
                status,
                current_time,
                interval_s,
            },
        ) => to_json(&BootNotificationResponse {
            status: registration_status(*status),
            current_time: *current_time,
            interval: *interval_s,
        }),
        (E::Heartbeat, R::Heartbeat { current_time }) => to_json(&HeartbeatResponse {
            current_time: *current_time,
        }),
        (E::Authorize { .. }, R::Authorize { info }) => to_json(&AuthorizeResponse {
            id_tag_info: id_tag_info(info),
        }),
        (
            E::Transaction(tx),
            R::Transaction {
                transaction_id,
                info,
            },
        ) => match tx.phase {
            TxPhase::Started => {
                let Some(transaction_id) = *transaction_id else {
                    return Err(PayloadError::new(
                        RpcErrorCode::InternalError,
                        "StartTransaction.conf needs a transactionId (OCPP 1.6 §6.46)",
                    ));
                };
                to_json(&StartTransactionResponse {
                    // §6.46 makes idTagInfo required. A reply without one means the session
                    // layer did not object to the tag; Accepted says exactly that.
                    id_tag_info: id_tag_info(
                        info.as_ref()
                            .unwrap_or(&IdTokenInfo::status(AuthorizationStatus::Accepted)),
                    ),
                    transaction_id,
                })
            }
            TxPhase::Ended => to_json(&StopTransactionResponse {
                id_tag_info: info.as_ref().map(id_tag_info),
            }),
            TxPhase::Updated => {
                return Err(PayloadError::new(
                    RpcErrorCode::InternalError,
                    "OCPP 1.6 has no transaction update message to answer",
                ));
            }
        },
        (E::DataTransfer { .. }, R::DataTransfer { status, data }) => {
            to_json(&DataTransferResponse {
                status: data_transfer_status(*status),
                data: data.clone(),
            })
        }
        // §6.18, §6.20, §6.32, §6.48 and whitepaper §5.14/§5.16/§5.20: no fields.
        (
            E::Status { .. }
            | E::MeterValues { .. }
            | E::DiagnosticsStatus { .. }
            | E::FirmwareStatus { .. }
            | E::SecurityEvent { .. },
            R::Empty,
        ) => json!({}),
        (event, reply) => {
            return Err(PayloadError::new(
                RpcErrorCode::InternalError,
                format!(
                    "{reply:?} does not answer {} in OCPP 1.6",
                    event_action(event)
                ),
            ));
        }
    })
}

/// The 1.6 action that carries `event`, for error messages.
fn event_action(event: &ChargerEvent) -> &'static str {
    match event {
        ChargerEvent::Boot { .. } => "BootNotification",
        ChargerEvent::Heartbeat => "Heartbeat",
        ChargerEvent::Status { .. } => "StatusNotification",
        ChargerEvent::Authorize { .. } => "Authorize",
        ChargerEvent::Transaction(tx) => match tx.phase {
            TxPhase::Started => "StartTransaction",
            TxPhase::Ended => "StopTransaction",
            TxPhase::Updated => "a transaction update (no 1.6 action)",
        },
        ChargerEvent::MeterValues { .. } => "MeterValues",
        ChargerEvent::DataTransfer { .. } => "DataTransfer",
        ChargerEvent::DiagnosticsStatus { .. } => "DiagnosticsStatusNotification",
        ChargerEvent::FirmwareStatus { .. } => "FirmwareStatusNotification",
        ChargerEvent::SecurityEvent { .. } => "SecurityEventNotification",
        ChargerEvent::Report { .. }
        | ChargerEvent::EvChargingNeeds(_)
        | ChargerEvent::ChargingLimit { .. }
        | ChargerEvent::ChargingProfilesReport { .. }
        | ChargerEvent::Notify { .. }
        | ChargerEvent::ReservationStatus { .. }
        | ChargerEvent::SignCertificate { .. }
        | ChargerEvent::CustomerInformation { .. } => "a 2.0.1-only event",
    }
}

fn registration_status(status: RegistrationStatus) -> RegistrationStatusWire {
    match status {
        RegistrationStatus::Accepted => RegistrationStatusWire::Accepted,
        RegistrationStatus::Pending => RegistrationStatusWire::Pending,
        RegistrationStatus::Rejected => RegistrationStatusWire::Rejected,
    }
}

fn data_transfer_status(status: DataTransferStatus) -> DataTransferStatusWire {
    match status {
        DataTransferStatus::Accepted => DataTransferStatusWire::Accepted,
        DataTransferStatus::Rejected => DataTransferStatusWire::Rejected,
        DataTransferStatus::UnknownMessageId => DataTransferStatusWire::UnknownMessageId,
        DataTransferStatus::UnknownVendorId => DataTransferStatusWire::UnknownVendorId,
    }
}

/// IdTagInfo (§7.27), shared with SendLocalList.req.
pub fn id_tag_info(info: &IdTokenInfo) -> IdTagInfoWire {
    IdTagInfoWire {
        expiry_date: info.expiry,
        // parentIdTag is a CiString20 (§7.27). A longer group id (a 2.0.1 groupIdToken may
        // hold 36) is left out rather than cut: a cut id would be a different, possibly
        // someone else's, group.
        parent_id_tag: info
            .group_id
            .as_ref()
            .filter(|g| g.chars().count() <= 20)
            .map(|g| Bounded(g.clone())),
        status: match info.status {
            AuthorizationStatus::Accepted => AuthorizationStatusWire::Accepted,
            AuthorizationStatus::Blocked => AuthorizationStatusWire::Blocked,
            AuthorizationStatus::Expired => AuthorizationStatusWire::Expired,
            AuthorizationStatus::Invalid => AuthorizationStatusWire::Invalid,
            AuthorizationStatus::ConcurrentTx => AuthorizationStatusWire::ConcurrentTx,
            // 1.6 has no Unknown (§7.2); Invalid is its word for a tag it does not accept.
            AuthorizationStatus::Unknown => AuthorizationStatusWire::Invalid,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_call, encode_reply};
    use super::*;
    use crate::ocpp::model::IdTokenInfo;
    use crate::ocpp::schema_check::assert_valid;
    use crate::ocpp::time;

    fn t(text: &str) -> DateTime<Utc> {
        time::parse(text).expect("test timestamp")
    }

    fn tag(id: &str) -> IdToken {
        IdToken {
            id: id.to_string(),
            kind: None,
        }
    }

    fn sample(
        at: &str,
        measurand: &str,
        phase: Option<&str>,
        value: f64,
        unit: Option<&str>,
        context: &str,
        location: &str,
    ) -> MeterSample {
        MeterSample {
            timestamp: t(at),
            measurand: measurand.to_string(),
            phase: phase.map(str::to_string),
            value,
            unit: unit.map(str::to_string),
            context: Some(context.to_string()),
            location: Some(location.to_string()),
        }
    }

    fn tx_event(phase: TxPhase) -> TransactionEvent {
        TransactionEvent::bare(phase, None, t("2026-03-01T08:00:00Z"))
    }

    /// Every charger action with a realistic fixture (itself valid against the official
    /// schema) and the event it must decode to.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn decodes_every_charger_action() {
        let cases: Vec<(&str, Value, ChargerEvent)> = vec![
            (
                "BootNotification",
                json!({
                    "chargePointVendor": "Alfen BV",
                    "chargePointModel": "NG920-61503",
                    "chargePointSerialNumber": "ACE0012345",
                    "chargeBoxSerialNumber": "BOX-OLD",
                    "firmwareVersion": "6.1.0-4100",
                    "iccid": "89310410106543789301",
                    "meterType": "Eastron SDM630"
                }),
                ChargerEvent::Boot {
                    vendor: "Alfen BV".into(),
                    model: "NG920-61503".into(),
                    serial: Some("ACE0012345".into()),
                    firmware: Some("6.1.0-4100".into()),
                    reason: None,
                },
            ),
            (
                "BootNotification",
                json!({"chargePointVendor": "ABB", "chargePointModel": "Terra AC", "chargeBoxSerialNumber": "TACW-221"}),
                ChargerEvent::Boot {
                    vendor: "ABB".into(),
                    model: "Terra AC".into(),
                    serial: Some("TACW-221".into()),
                    firmware: None,
                    reason: None,
                },
            ),
            ("Heartbeat", json!({}), ChargerEvent::Heartbeat),
            (
                "StatusNotification",
                json!({
                    "connectorId": 1,
                    "errorCode": "NoError",
                    "status": "SuspendedEVSE",
                    "info": "waiting for power",
                    "timestamp": "2026-03-01T08:00:00.000Z",
                    "vendorId": "com.alfen"
                }),
                ChargerEvent::Status {
                    evse: EvseRef {
                        evse_id: 1,
                        connector_id: None,
                    },
                    status: ConnectorStatus::SuspendedEvse,
                    error_code: Some("NoError".into()),
                    vendor_error_code: None,
                    info: Some("waiting for power".into()),
                    timestamp: Some(t("2026-03-01T08:00:00Z")),
                },
            ),
            (
                "StatusNotification",
                json!({"connectorId": 0, "errorCode": "GroundFailure", "status": "Faulted", "vendorErrorCode": "E17"}),
                ChargerEvent::Status {
                    evse: EvseRef::default(),
                    status: ConnectorStatus::Faulted,
                    error_code: Some("GroundFailure".into()),
                    vendor_error_code: Some("E17".into()),
                    info: None,
                    timestamp: None,
                },
            ),
            (
                "Authorize",
                json!({"idTag": "04A2B3C4D5E6F7"}),
                ChargerEvent::Authorize {
                    id_token: tag("04A2B3C4D5E6F7"),
                },
            ),
            (
                "StartTransaction",
                json!({
                    "connectorId": 2,
                    "idTag": "04A2B3C4D5E6F7",
                    "meterStart": 123456,
                    "reservationId": 7,
                    "timestamp": "2026-03-01T08:00:00Z"
                }),
                ChargerEvent::Transaction(TransactionEvent {
                    evse: Some(EvseRef {
                        evse_id: 2,
                        connector_id: None,
                    }),
                    id_token: Some(tag("04A2B3C4D5E6F7")),
                    meter_wh: Some(123456.0),
                    reservation_id: Some(7),
                    ..tx_event(TxPhase::Started)
                }),
            ),
            (
                "StopTransaction",
                json!({
                    "idTag": "04A2B3C4D5E6F7",
                    "meterStop": 135000,
                    "timestamp": "2026-03-01T10:30:00Z",
                    "transactionId": 1234,
                    "reason": "EVDisconnected",
                    "transactionData": [
                        {"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [
                            {"value": "123456", "context": "Transaction.Begin", "unit": "Wh"}
                        ]},
                        {"timestamp": "2026-03-01T10:30:00Z", "sampledValue": [
                            {"value": "135.0", "context": "Transaction.End", "unit": "kWh",
                             "measurand": "Energy.Active.Import.Register", "location": "Outlet"}
                        ]}
                    ]
                }),
                ChargerEvent::Transaction(TransactionEvent {
                    tx: Some(TxKey::Csms(1234)),
                    id_token: Some(tag("04A2B3C4D5E6F7")),
                    timestamp: t("2026-03-01T10:30:00Z"),
                    meter_wh: Some(135000.0),
                    stop_reason: Some("EVDisconnected".into()),
                    samples: vec![
                        sample(
                            "2026-03-01T08:00:00Z",
                            "Energy.Active.Import.Register",
                            None,
                            123456.0,
                            Some("Wh"),
                            "Transaction.Begin",
                            "Outlet",
                        ),
                        sample(
                            "2026-03-01T10:30:00Z",
                            "Energy.Active.Import.Register",
                            None,
                            135.0,
                            Some("kWh"),
                            "Transaction.End",
                            "Outlet",
                        ),
                    ],
                    ..tx_event(TxPhase::Ended)
                }),
            ),
            (
                // No idTag (a reset stopped it) and no reason: §6.49's default "Local".
                "StopTransaction",
                json!({"meterStop": 2000, "timestamp": "2026-03-01T09:00:00Z", "transactionId": 9}),
                ChargerEvent::Transaction(TransactionEvent {
                    tx: Some(TxKey::Csms(9)),
                    timestamp: t("2026-03-01T09:00:00Z"),
                    meter_wh: Some(2000.0),
                    stop_reason: Some("Local".into()),
                    ..tx_event(TxPhase::Ended)
                }),
            ),
            (
                "MeterValues",
                json!({
                    "connectorId": 1,
                    "transactionId": 1234,
                    "meterValue": [{
                        "timestamp": "2026-03-01T08:15:00Z",
                        "sampledValue": [
                            {"value": "12345.6"},
                            {"value": "15.97", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                            {"value": "80", "measurand": "SoC", "unit": "Percent", "location": "EV", "context": "Sample.Clock"},
                            {"value": "231.4", "measurand": "Voltage", "phase": "L1-N"},
                            {"value": "21.5", "measurand": "Temperature", "unit": "Celcius", "location": "Body"},
                            {"value": "MEUCIQ...signed", "format": "SignedData", "context": "Sample.Periodic"},
                            {"value": " 4.2 ", "measurand": "Energy.Active.Import.Interval", "format": "Raw"}
                        ]
                    }]
                }),
                ChargerEvent::MeterValues {
                    evse_id: 1,
                    tx: Some(TxKey::Csms(1234)),
                    // §7.49: the signed value verbatim, with the §7.43 defaults.
                    signed: vec![SignedReading {
                        timestamp: t("2026-03-01T08:15:00Z"),
                        measurand: "Energy.Active.Import.Register".into(),
                        context: Some("Sample.Periodic".into()),
                        phase: None,
                        location: Some("Outlet".into()),
                        value: None,
                        data: "MEUCIQ...signed".into(),
                        signing_method: None,
                        encoding_method: None,
                        public_key: None,
                    }],
                    samples: vec![
                        sample(
                            "2026-03-01T08:15:00Z",
                            "Energy.Active.Import.Register",
                            None,
                            12345.6,
                            Some("Wh"),
                            "Sample.Periodic",
                            "Outlet",
                        ),
                        sample(
                            "2026-03-01T08:15:00Z",
                            "Current.Import",
                            Some("L1"),
                            15.97,
                            Some("A"),
                            "Sample.Periodic",
                            "Outlet",
                        ),
                        sample(
                            "2026-03-01T08:15:00Z",
                            "SoC",
                            None,
                            80.0,
                            Some("Percent"),
                            "Sample.Clock",
                            "EV",
                        ),
                        sample(
                            "2026-03-01T08:15:00Z",
                            "Voltage",
                            Some("L1-N"),
                            231.4,
                            None,
                            "Sample.Periodic",
                            "Outlet",
                        ),
                        sample(
                            "2026-03-01T08:15:00Z",
                            "Temperature",
                            None,
                            21.5,
                            Some("Celsius"),
                            "Sample.Periodic",
                            "Body",
                        ),
                        sample(
                            "2026-03-01T08:15:00Z",
                            "Energy.Active.Import.Interval",
                            None,
                            4.2,
                            Some("Wh"),
                            "Sample.Periodic",
                            "Outlet",
                        ),
                    ],
                },
            ),
            (
                "MeterValues",
                json!({"connectorId": 0, "meterValue": [{"timestamp": "2026-03-01T08:15:00Z",
                    "sampledValue": [{"value": "-3.5", "measurand": "Power.Active.Import", "unit": "kW", "location": "Inlet"}]}]}),
                ChargerEvent::MeterValues {
                    evse_id: 0,
                    tx: None,
                    signed: Vec::new(),
                    samples: vec![sample(
                        "2026-03-01T08:15:00Z",
                        "Power.Active.Import",
                        None,
                        -3.5,
                        Some("kW"),
                        "Sample.Periodic",
                        "Inlet",
                    )],
                },
            ),
            (
                "DataTransfer",
                json!({"vendorId": "com.alfen", "messageId": "LoadBalancing", "data": "{\"max\":32}"}),
                ChargerEvent::DataTransfer {
                    vendor_id: "com.alfen".into(),
                    message_id: Some("LoadBalancing".into()),
                    data: Some("{\"max\":32}".into()),
                },
            ),
            (
                "DiagnosticsStatusNotification",
                json!({"status": "Uploaded"}),
                ChargerEvent::DiagnosticsStatus {
                    status: "Uploaded".into(),
                    request_id: None,
                },
            ),
            (
                "FirmwareStatusNotification",
                json!({"status": "InstallationFailed"}),
                ChargerEvent::FirmwareStatus {
                    status: "InstallationFailed".into(),
                    request_id: None,
                },
            ),
            (
                "SecurityEventNotification",
                json!({"type": "StartupOfTheDevice", "timestamp": "2026-03-01T07:59:00Z", "techInfo": "cold boot"}),
                ChargerEvent::SecurityEvent {
                    kind: "StartupOfTheDevice".into(),
                    timestamp: t("2026-03-01T07:59:00Z"),
                    tech_info: Some("cold boot".into()),
                },
            ),
            (
                "LogStatusNotification",
                json!({"status": "Uploading", "requestId": 42}),
                ChargerEvent::DiagnosticsStatus {
                    status: "Uploading".into(),
                    request_id: Some(42),
                },
            ),
            (
                "SignedFirmwareStatusNotification",
                json!({"status": "SignatureVerified", "requestId": 9}),
                ChargerEvent::FirmwareStatus {
                    status: "SignatureVerified".into(),
                    request_id: Some(9),
                },
            ),
        ];
        for (action, fixture, want) in cases {
            assert_valid("v16", action, false, &fixture);
            let got = decode_call(action, fixture).unwrap_or_else(|e| panic!("{action}: {e}"));
            assert_eq!(got, want, "{action}");
        }
    }

    /// The schemas forbid additional properties, but chargers add vendor fields; refusing
    /// them would refuse the charger. Known fields stay strict.
    #[test]
    fn ignores_unknown_fields() {
        let got = decode_call(
            "Authorize",
            json!({"idTag": "04A2B3C4", "vendorExtension": {"pin": 1234}}),
        )
        .unwrap();
        assert_eq!(
            got,
            ChargerEvent::Authorize {
                id_token: tag("04A2B3C4")
            }
        );
        let got = decode_call("Heartbeat", json!({"uptime": 86400})).unwrap();
        assert_eq!(got, ChargerEvent::Heartbeat);
    }

    #[test]
    fn accepts_timestamps_real_chargers_send() {
        let start = decode_call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "2026-03-01T08:00:00"}),
        )
        .unwrap();
        let ChargerEvent::Transaction(tx) = start else {
            panic!("not a transaction: {start:?}");
        };
        assert_eq!(tx.timestamp, t("2026-03-01T08:00:00Z"));

        let meter = decode_call(
            "MeterValues",
            json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-03-01 09:15:00.250",
                "sampledValue": [{"value": "1"}]}]}),
        )
        .unwrap();
        let ChargerEvent::MeterValues { samples, .. } = meter else {
            panic!("not meter values: {meter:?}");
        };
        assert_eq!(samples[0].timestamp, t("2026-03-01T09:15:00.250Z"));
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn malformed_payloads_get_the_right_code() {
        use RpcErrorCode::{
            OccurrenceConstraintViolation as Occurrence, PropertyConstraintViolation as Property,
            TypeConstraintViolation as Type,
        };
        let meter = |sampled: Value| json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [sampled]}]});
        let cases: Vec<(&str, Value, RpcErrorCode)> = vec![
            // Missing required fields.
            (
                "BootNotification",
                json!({"chargePointVendor": "ABB"}),
                Occurrence,
            ),
            (
                "StatusNotification",
                json!({"connectorId": 1, "status": "Available"}),
                Occurrence,
            ),
            ("Authorize", json!({}), Occurrence),
            (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "A", "timestamp": "2026-03-01T08:00:00Z"}),
                Occurrence,
            ),
            (
                "StopTransaction",
                json!({"meterStop": 1, "timestamp": "2026-03-01T08:00:00Z"}),
                Occurrence,
            ),
            ("MeterValues", json!({"connectorId": 1}), Occurrence),
            (
                "MeterValues",
                json!({"connectorId": 1, "meterValue": []}),
                Occurrence,
            ),
            (
                "MeterValues",
                json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": []}]}),
                Occurrence,
            ),
            ("MeterValues", meter(json!({"unit": "Wh"})), Occurrence),
            (
                "SecurityEventNotification",
                json!({"type": "X"}),
                Occurrence,
            ),
            ("DataTransfer", json!({"messageId": "x"}), Occurrence),
            ("FirmwareStatusNotification", json!({}), Occurrence),
            // Wrong JSON types.
            (
                "StartTransaction",
                json!({"connectorId": "1", "idTag": "A", "meterStart": 0, "timestamp": "2026-03-01T08:00:00Z"}),
                Type,
            ),
            (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "A", "meterStart": 10.5, "timestamp": "2026-03-01T08:00:00Z"}),
                Type,
            ),
            (
                "StopTransaction",
                json!({"meterStop": 1, "timestamp": "2026-03-01T08:00:00Z", "transactionId": "1234"}),
                Type,
            ),
            ("MeterValues", meter(json!({"value": 12.5})), Type),
            ("Authorize", json!({"idTag": 4711}), Type),
            (
                "DataTransfer",
                json!({"vendorId": "v", "data": {"x": 1}}),
                Type,
            ),
            (
                "LogStatusNotification",
                json!({"status": "Idle", "requestId": "7"}),
                Type,
            ),
            // Values outside their enumeration, length or range.
            (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Occupied"}),
                Property,
            ),
            (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "Broken", "status": "Available"}),
                Property,
            ),
            (
                "StatusNotification",
                json!({"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
                Property,
            ),
            ("Authorize", json!({"idTag": "A".repeat(21)}), Property),
            (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "B".repeat(21), "meterStart": 0, "timestamp": "2026-03-01T08:00:00Z"}),
                Property,
            ),
            (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "yesterday"}),
                Property,
            ),
            (
                "BootNotification",
                json!({"chargePointVendor": "V".repeat(21), "chargePointModel": "M"}),
                Property,
            ),
            (
                "BootNotification",
                json!({"chargePointVendor": "V", "chargePointModel": "M", "iccid": "9".repeat(21)}),
                Property,
            ),
            (
                "StopTransaction",
                json!({"meterStop": 1, "timestamp": "2026-03-01T08:00:00Z", "transactionId": 1, "reason": "Bored"}),
                Property,
            ),
            ("MeterValues", meter(json!({"value": "abc"})), Property),
            ("MeterValues", meter(json!({"value": "NaN"})), Property),
            // Issue 17: what converts to infinity, as read or in base units (x1000).
            ("MeterValues", meter(json!({"value": "1e400"})), Property),
            (
                "MeterValues",
                meter(json!({"value": "1e306", "unit": "kWh"})),
                Property,
            ),
            (
                "MeterValues",
                meter(json!({"value": "-1e306", "unit": "kW", "measurand": "Power.Active.Import"})),
                Property,
            ),
            ("MeterValues", meter(json!({"value": ""})), Property),
            (
                "MeterValues",
                meter(json!({"value": "1", "measurand": "Energy.Bogus"})),
                Property,
            ),
            (
                "MeterValues",
                meter(json!({"value": "1", "unit": "MWh"})),
                Property,
            ),
            (
                "DiagnosticsStatusNotification",
                json!({"status": "Done"}),
                Property,
            ),
            (
                "SignedFirmwareStatusNotification",
                json!({"status": "Bricked"}),
                Property,
            ),
            (
                "DataTransfer",
                json!({"vendorId": "v".repeat(256)}),
                Property,
            ),
        ];
        for (action, payload, want) in cases {
            let err = decode_call(action, payload.clone())
                .expect_err(&format!("{action} {payload} must be refused"));
            assert_eq!(err.code, want, "{action} {payload}: {}", err.message);
        }
    }

    fn decoded(action: &str, fixture: Value) -> ChargerEvent {
        decode_call(action, fixture).expect("fixture decodes")
    }

    /// Every reply, encoded for the action that carried its event, is the exact .conf and
    /// passes the official response schema.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn encodes_every_reply() {
        let now = t("2026-03-01T08:00:00Z");
        let boot = decoded(
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M"}),
        );
        let authorize = decoded("Authorize", json!({"idTag": "04A2B3C4"}));
        let start = ChargerEvent::Transaction(tx_event(TxPhase::Started));
        let stop = ChargerEvent::Transaction(tx_event(TxPhase::Ended));
        let data_transfer = decoded("DataTransfer", json!({"vendorId": "com.alfen"}));
        let info = |status| IdTokenInfo::status(status);
        let cases: Vec<(&str, ChargerEvent, EventReply, Value)> = vec![
            (
                "BootNotification",
                boot.clone(),
                EventReply::Boot {
                    status: RegistrationStatus::Accepted,
                    current_time: now,
                    interval_s: 300,
                },
                json!({"status": "Accepted", "currentTime": "2026-03-01T08:00:00.000Z", "interval": 300}),
            ),
            (
                "BootNotification",
                boot,
                EventReply::Boot {
                    status: RegistrationStatus::Pending,
                    current_time: now,
                    interval_s: 60,
                },
                json!({"status": "Pending", "currentTime": "2026-03-01T08:00:00.000Z", "interval": 60}),
            ),
            (
                "Heartbeat",
                ChargerEvent::Heartbeat,
                EventReply::Heartbeat { current_time: now },
                json!({"currentTime": "2026-03-01T08:00:00.000Z"}),
            ),
            (
                "Authorize",
                authorize.clone(),
                EventReply::Authorize {
                    info: IdTokenInfo {
                        status: AuthorizationStatus::Accepted,
                        expiry: Some(t("2026-12-31T23:59:59Z")),
                        group_id: Some("FLEET-NORD".into()),
                    },
                },
                json!({"idTagInfo": {"status": "Accepted", "expiryDate": "2026-12-31T23:59:59.000Z", "parentIdTag": "FLEET-NORD"}}),
            ),
            (
                // 1.6 has no Unknown; a 36-character 2.0.1 group id does not fit parentIdTag.
                "Authorize",
                authorize.clone(),
                EventReply::Authorize {
                    info: IdTokenInfo {
                        status: AuthorizationStatus::Unknown,
                        expiry: None,
                        group_id: Some("0f2c4b7e-1d3a-4c59-8e6f-7a9b0c1d2e3f".into()),
                    },
                },
                json!({"idTagInfo": {"status": "Invalid"}}),
            ),
            (
                "Authorize",
                authorize,
                EventReply::Authorize {
                    info: info(AuthorizationStatus::ConcurrentTx),
                },
                json!({"idTagInfo": {"status": "ConcurrentTx"}}),
            ),
            (
                "StartTransaction",
                start.clone(),
                EventReply::Transaction {
                    transaction_id: Some(17),
                    info: None,
                },
                json!({"idTagInfo": {"status": "Accepted"}, "transactionId": 17}),
            ),
            (
                "StartTransaction",
                start,
                EventReply::Transaction {
                    transaction_id: Some(18),
                    info: Some(info(AuthorizationStatus::Blocked)),
                },
                json!({"idTagInfo": {"status": "Blocked"}, "transactionId": 18}),
            ),
            (
                "StopTransaction",
                stop.clone(),
                EventReply::Transaction {
                    transaction_id: None,
                    info: None,
                },
                json!({}),
            ),
            (
                "StopTransaction",
                stop,
                EventReply::Transaction {
                    transaction_id: None,
                    info: Some(info(AuthorizationStatus::Expired)),
                },
                json!({"idTagInfo": {"status": "Expired"}}),
            ),
            (
                "DataTransfer",
                data_transfer.clone(),
                EventReply::DataTransfer {
                    status: DataTransferStatus::UnknownVendorId,
                    data: None,
                },
                json!({"status": "UnknownVendorId"}),
            ),
            (
                "DataTransfer",
                data_transfer,
                EventReply::DataTransfer {
                    status: DataTransferStatus::Accepted,
                    data: Some("pong".into()),
                },
                json!({"status": "Accepted", "data": "pong"}),
            ),
        ];
        for (action, event, reply, want) in cases {
            let got = encode_reply(&event, &reply).unwrap_or_else(|e| panic!("{action}: {e}"));
            assert_valid("v16", action, true, &got);
            assert_eq!(got, want, "{action}");
        }

        // The notifications whose .conf has no fields.
        let empty = [
            (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
            ),
            (
                "MeterValues",
                json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [{"value": "1"}]}]}),
            ),
            ("DiagnosticsStatusNotification", json!({"status": "Idle"})),
            ("FirmwareStatusNotification", json!({"status": "Idle"})),
            (
                "SecurityEventNotification",
                json!({"type": "X", "timestamp": "2026-03-01T08:00:00Z"}),
            ),
            ("LogStatusNotification", json!({"status": "Idle"})),
            (
                "SignedFirmwareStatusNotification",
                json!({"status": "Idle"}),
            ),
        ];
        for (action, fixture) in empty {
            let got = encode_reply(&decoded(action, fixture), &EventReply::Empty).unwrap();
            assert_valid("v16", action, true, &got);
            assert_eq!(got, json!({}), "{action}");
        }
    }

    #[test]
    fn a_reply_that_does_not_answer_the_event_is_an_internal_error() {
        let now = t("2026-03-01T08:00:00Z");
        let status = decoded(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        );
        let cases: Vec<(ChargerEvent, EventReply)> = vec![
            (ChargerEvent::Heartbeat, EventReply::Empty),
            (status, EventReply::Heartbeat { current_time: now }),
            (
                ChargerEvent::Heartbeat,
                EventReply::Boot {
                    status: RegistrationStatus::Accepted,
                    current_time: now,
                    interval_s: 1,
                },
            ),
            // StartTransaction.conf cannot be written without the transaction id.
            (
                ChargerEvent::Transaction(tx_event(TxPhase::Started)),
                EventReply::Transaction {
                    transaction_id: None,
                    info: None,
                },
            ),
            (
                ChargerEvent::Transaction(tx_event(TxPhase::Updated)),
                EventReply::Transaction {
                    transaction_id: None,
                    info: None,
                },
            ),
            (
                ChargerEvent::Report {
                    request_id: 1,
                    seq_no: 0,
                    more_to_follow: false,
                    variables: Vec::new(),
                },
                EventReply::Empty,
            ),
        ];
        for (event, reply) in cases {
            let err = encode_reply(&event, &reply).expect_err("mismatch must be refused");
            assert_eq!(
                err.code,
                RpcErrorCode::InternalError,
                "{event:?} / {reply:?}"
            );
        }
        let err = encode_reply(&ChargerEvent::Heartbeat, &EventReply::Empty).unwrap_err();
        assert_eq!(err.message, "Empty does not answer Heartbeat in OCPP 1.6");
    }
}
