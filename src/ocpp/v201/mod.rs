//! OCPP 2.0.1: the wire messages of this version and their translation to and from the
//! version-blind model (`ocpp::model`).
//!
//! This file only routes: the charging station's actions by name to their decoders in
//! `convert` (which also writes the replies), commands to `commands`, and the station's
//! answers to commands to `replies`. The wire types live in `messages` (station-to-CSMS
//! requests and their responses), `charging` (smart-charging profiles, functional block
//! K), `commands` and `replies`; `enums` holds every schema enumeration. Nothing here does
//! IO, reads the clock or keeps state between messages (STYLE.md §1), and nothing panics on
//! what a station sends: every bad payload becomes a `PayloadError` carrying the CALLERROR
//! code that answers it (OCPP 2.0.1 Part 4 §4.2.3).
mod certificates;
mod charging;
mod commands;
mod convert;
mod customer;
mod device;
mod enums;
mod messages;
mod station;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::NotInVersion;
use super::model::{ChargerCommand, ChargerEvent, CommandReply, EventReply};
use super::rpc::{PayloadError, RpcErrorCode};
use super::wire_enum::wire_enum;

/// The version name in `NotInVersion`.
const VERSION: &str = "v201";

wire_enum! {
    /// Every action OCPP 2.0.1 lets a charging station initiate (Part 2, the messages sent
    /// "Charging Station to CSMS"). Routing matches on this exhaustively, so adding a handler
    /// or an action is a compile-checked decision; a name outside this list is either unknown
    /// or one only the CSMS sends, and gets NotImplemented ("Requested Action is not known by
    /// receiver", OCPP 2.0.1 Part 4 §4.3); a defined action we do not handle gets NotSupported
    /// ("recognized but not supported"). STYLE.md §3 words this the other way round; the
    /// spec's definitions win because chargers act on them.
    Action {
        Authorize,
        BootNotification,
        ClearedChargingLimit,
        DataTransfer,
        FirmwareStatusNotification,
        Get15118EVCertificate,
        GetCertificateStatus,
        Heartbeat,
        LogStatusNotification,
        MeterValues,
        NotifyChargingLimit,
        NotifyCustomerInformation,
        NotifyDisplayMessages,
        NotifyEVChargingNeeds,
        NotifyEVChargingSchedule,
        NotifyEvent,
        NotifyMonitoringReport,
        NotifyReport,
        PublishFirmwareStatusNotification,
        ReportChargingProfiles,
        ReservationStatusUpdate,
        SecurityEventNotification,
        SignCertificate,
        StatusNotification,
        TransactionEvent,
    }
}

/// Decodes a charging station's CALL into an event.
pub fn decode_call(action: &str, payload: Value) -> Result<ChargerEvent, PayloadError> {
    let Some(known) = Action::parse(action) else {
        return Err(PayloadError::new(
            RpcErrorCode::NotImplemented,
            format!("{action} is not an action a charging station sends in OCPP 2.0.1"),
        ));
    };
    use Action as A;
    match known {
        A::Authorize => convert::authorize(parse(payload)?),
        A::BootNotification => convert::boot(parse(payload)?),
        A::DataTransfer => convert::data_transfer(parse(payload)?),
        A::FirmwareStatusNotification => convert::firmware_status(parse(payload)?),
        A::Heartbeat => convert::heartbeat(parse(payload)?),
        A::LogStatusNotification => convert::log_status(parse(payload)?),
        A::MeterValues => convert::meter_values(parse(payload)?),
        A::NotifyChargingLimit => convert::charging_limit(parse(payload)?),
        A::NotifyCustomerInformation => customer::notify_customer_information(parse(payload)?),
        A::NotifyEVChargingNeeds => convert::ev_charging_needs(parse(payload)?),
        A::NotifyEvent => convert::notify_event(parse(payload)?),
        A::NotifyReport => convert::notify_report(parse(payload)?),
        A::ReportChargingProfiles => convert::charging_profiles_report(parse(payload)?),
        A::ReservationStatusUpdate => convert::reservation_status(parse(payload)?),
        A::SecurityEventNotification => convert::security_event(parse(payload)?),
        A::SignCertificate => certificates::sign_certificate(parse(payload)?),
        A::StatusNotification => convert::status(parse(payload)?),
        A::TransactionEvent => convert::transaction(parse(payload)?),
        // Defined by 2.0.1, not handled by chargegate: ISO 15118 contract certificates and
        // OCSP (functional blocks M and A), display messages (O), monitoring reports (N),
        // local firmware publishing (L), and the EV's own schedule and cleared external
        // limits (K), which the planner does not use.
        A::ClearedChargingLimit
        | A::Get15118EVCertificate
        | A::GetCertificateStatus
        | A::NotifyDisplayMessages
        | A::NotifyEVChargingSchedule
        | A::NotifyMonitoringReport
        | A::PublishFirmwareStatusNotification => Err(PayloadError::new(
            RpcErrorCode::NotSupported,
            format!("{action} is not handled by this CSMS"),
        )),
    }
}

/// Encodes chargegate's reply to `event` as the CALLRESULT payload of its action.
pub fn encode_reply(event: &ChargerEvent, reply: &EventReply) -> Result<Value, PayloadError> {
    convert::reply(event, reply)
}

/// Encodes a command as (action, payload).
pub fn encode_command(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    commands::encode(command)
}

/// Decodes the charging station's CALLRESULT payload for `command`.
pub fn decode_command_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    commands::decode_reply(command, payload)
}

/// Parses a payload into its wire type, classifying failures as CALLERROR codes
/// (OCPP 2.0.1 Part 4 §4.2.3). The payload must be a JSON object: serde would otherwise
/// accept a struct written as an array, which no OCPP message is.
fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, PayloadError> {
    if !payload.is_object() {
        return Err(PayloadError::new(
            RpcErrorCode::TypeConstraintViolation,
            "the payload must be a JSON object",
        ));
    }
    serde_json::from_value(payload).map_err(|e| PayloadError::from_serde(&e))
}

/// Serializes a wire type.
fn to_json<T: Serialize>(wire: &T) -> Value {
    // Our wire types are plain structs with string keys and finite numbers, which
    // serde_json always serializes to a Value.
    serde_json::to_value(wire).expect("v201 wire types serialize to JSON")
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::ocpp::model::*;
    use crate::ocpp::schema_check::assert_valid;

    fn t(text: &str) -> DateTime<Utc> {
        crate::ocpp::time::parse(text).expect("test timestamp")
    }

    fn decode_valid(action: &str, payload: Value) -> ChargerEvent {
        assert_valid("v201", action, false, &payload);
        decode_call(action, payload).unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn sample(ts: &str, measurand: &str, value: f64, unit: &str, context: &str) -> MeterSample {
        MeterSample {
            timestamp: t(ts),
            measurand: measurand.to_string(),
            phase: None,
            value,
            unit: Some(unit.to_string()),
            context: Some(context.to_string()),
            location: None,
        }
    }

    /// One realistic fixture per handled action, each valid against its schema, with the
    /// event it must decode to.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn decodes_every_handled_action() {
        let cases: Vec<(&str, Value, ChargerEvent)> = vec![
            (
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {
                    "vendorName": "Alfen BV", "model": "Eve Double Pro",
                    "serialNumber": "ACE0123456", "firmwareVersion": "6.4.0-4141",
                    "modem": {"iccid": "8931", "imsi": "2040"}},
                    "customData": {"vendorId": "x"}}),
                ChargerEvent::Boot {
                    vendor: "Alfen BV".into(),
                    model: "Eve Double Pro".into(),
                    serial: Some("ACE0123456".into()),
                    firmware: Some("6.4.0-4141".into()),
                    reason: Some("PowerUp".into()),
                },
            ),
            ("Heartbeat", json!({}), ChargerEvent::Heartbeat),
            (
                "StatusNotification",
                json!({"timestamp": "2026-03-01T08:00:00.000Z", "connectorStatus": "Occupied",
                    "evseId": 2, "connectorId": 1}),
                ChargerEvent::Status {
                    evse: EvseRef {
                        evse_id: 2,
                        connector_id: Some(1),
                    },
                    status: ConnectorStatus::Occupied,
                    error_code: None,
                    vendor_error_code: None,
                    info: None,
                    timestamp: Some(t("2026-03-01T08:00:00Z")),
                },
            ),
            (
                "Authorize",
                json!({"idToken": {"idToken": "04A2B3C4D5E680", "type": "ISO14443"}}),
                ChargerEvent::Authorize {
                    id_token: IdToken {
                        id: "04A2B3C4D5E680".into(),
                        kind: Some("ISO14443".into()),
                    },
                },
            ),
            (
                "TransactionEvent",
                json!({"eventType": "Started", "timestamp": "2026-03-01T08:00:05Z",
                    "triggerReason": "Authorized", "seqNo": 0,
                    "transactionInfo": {"transactionId": "d3b0c1e2-7f", "chargingState": "EVConnected"},
                    "evse": {"id": 1, "connectorId": 1}, "reservationId": 42,
                    "idToken": {"idToken": "04A2B3C4D5E680", "type": "ISO14443"},
                    "meterValue": [{"timestamp": "2026-03-01T08:00:05Z", "sampledValue": [
                        {"value": 1234.5, "context": "Transaction.Begin"},
                        {"value": 16.2, "measurand": "Current.Import", "phase": "L1",
                         "location": "Outlet", "unitOfMeasure": {"unit": "A"}}]}]}),
                ChargerEvent::Transaction(TransactionEvent {
                    phase: TxPhase::Started,
                    tx: Some(TxKey::Charger("d3b0c1e2-7f".into())),
                    seq_no: Some(0),
                    evse: Some(EvseRef {
                        evse_id: 1,
                        connector_id: Some(1),
                    }),
                    id_token: Some(IdToken {
                        id: "04A2B3C4D5E680".into(),
                        kind: Some("ISO14443".into()),
                    }),
                    timestamp: t("2026-03-01T08:00:05Z"),
                    meter_wh: None,
                    stop_reason: None,
                    trigger_reason: Some("Authorized".into()),
                    charging_state: Some("EVConnected".into()),
                    offline: false,
                    reservation_id: Some(42),
                    signed: Vec::new(),
                    samples: vec![
                        sample(
                            "2026-03-01T08:00:05Z",
                            "Energy.Active.Import.Register",
                            1234.5,
                            "Wh",
                            "Transaction.Begin",
                        ),
                        MeterSample {
                            phase: Some("L1".into()),
                            location: Some("Outlet".into()),
                            ..sample(
                                "2026-03-01T08:00:05Z",
                                "Current.Import",
                                16.2,
                                "A",
                                "Sample.Periodic",
                            )
                        },
                    ],
                }),
            ),
            (
                "TransactionEvent",
                json!({"eventType": "Ended", "timestamp": "2026-03-01T10:00:00Z",
                    "triggerReason": "EVDeparted", "seqNo": 7, "offline": true,
                    "transactionInfo": {"transactionId": "d3b0c1e2-7f", "chargingState": "Idle",
                        "stoppedReason": "EVDisconnected", "timeSpentCharging": 7000},
                    "meterValue": [{"timestamp": "2026-03-01T10:00:00Z", "sampledValue": [
                        {"value": 21.5, "context": "Transaction.End",
                         "unitOfMeasure": {"unit": "kWh", "multiplier": 0}}]}]}),
                ChargerEvent::Transaction(TransactionEvent {
                    phase: TxPhase::Ended,
                    tx: Some(TxKey::Charger("d3b0c1e2-7f".into())),
                    seq_no: Some(7),
                    evse: None,
                    id_token: None,
                    timestamp: t("2026-03-01T10:00:00Z"),
                    meter_wh: None,
                    stop_reason: Some("EVDisconnected".into()),
                    trigger_reason: Some("EVDeparted".into()),
                    charging_state: Some("Idle".into()),
                    offline: true,
                    reservation_id: None,
                    signed: Vec::new(),
                    samples: vec![sample(
                        "2026-03-01T10:00:00Z",
                        "Energy.Active.Import.Register",
                        21.5,
                        "kWh",
                        "Transaction.End",
                    )],
                }),
            ),
            (
                "MeterValues",
                json!({"evseId": 0, "meterValue": [{"timestamp": "2026-03-01T08:15:00Z",
                    "sampledValue": [{"value": 12.5, "measurand": "Energy.Active.Import.Register",
                        "context": "Sample.Clock", "unitOfMeasure": {"unit": "Wh", "multiplier": 3},
                        "signedMeterValue": {"signedMeterData": "T0NNRnx7fQ==",
                            "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
                            "publicKey": ""}}]}]}),
                ChargerEvent::MeterValues {
                    evse_id: 0,
                    tx: None,
                    // Kept verbatim beside the plain value it signs.
                    signed: vec![SignedReading {
                        timestamp: crate::ocpp::time::parse("2026-03-01T08:15:00Z").unwrap(),
                        measurand: "Energy.Active.Import.Register".into(),
                        context: Some("Sample.Clock".into()),
                        phase: None,
                        location: None,
                        value: Some(12500.0),
                        data: "T0NNRnx7fQ==".into(),
                        signing_method: Some("ECDSA-secp256r1-SHA256".into()),
                        encoding_method: Some("OCMF".into()),
                        public_key: Some(String::new()),
                    }],
                    samples: vec![sample(
                        "2026-03-01T08:15:00Z",
                        "Energy.Active.Import.Register",
                        12500.0,
                        "Wh",
                        "Sample.Clock",
                    )],
                },
            ),
            (
                "NotifyReport",
                json!({"requestId": 5, "generatedAt": "2026-03-01T08:00:00Z", "seqNo": 0, "tbc": true,
                    "reportData": [
                        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                         "variableAttribute": [{"type": "Target", "value": "60"}, {"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
                         "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": false, "unit": "s"}},
                        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
                         "variableAttribute": [{"mutability": "WriteOnly"}]},
                        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power", "instance": "Max"},
                         "variableAttribute": [{"value": "22000"}]}]}),
                ChargerEvent::Report {
                    request_id: 5,
                    seq_no: 0,
                    more_to_follow: true,
                    variables: vec![
                        ReportedVariable {
                            component: "OCPPCommCtrlr".into(),
                            variable: "HeartbeatInterval".into(),
                            value: Some("300".into()),
                        },
                        ReportedVariable {
                            component: "SecurityCtrlr".into(),
                            variable: "BasicAuthPassword".into(),
                            value: None,
                        },
                        ReportedVariable {
                            component: "EVSE".into(),
                            variable: "Power".into(),
                            value: Some("22000".into()),
                        },
                    ],
                },
            ),
            (
                "NotifyEVChargingNeeds",
                json!({"evseId": 1, "maxScheduleTuples": 3, "chargingNeeds": {
                    "requestedEnergyTransfer": "AC_three_phase", "departureTime": "2026-03-01T17:00:00Z",
                    "acChargingParameters": {"energyAmount": 30000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 400}}}),
                ChargerEvent::EvChargingNeeds(EvChargingNeeds {
                    evse_id: 1,
                    departure_time: Some(t("2026-03-01T17:00:00Z")),
                    energy_wh: Some(30000.0),
                    max_current_a: Some(32.0),
                    min_current_a: Some(6.0),
                    energy_transfer: "AC_three_phase".into(),
                }),
            ),
            (
                "NotifyEVChargingNeeds",
                json!({"evseId": 3, "chargingNeeds": {"requestedEnergyTransfer": "DC",
                    "dcChargingParameters": {"evMaxCurrent": 200, "evMaxVoltage": 800, "energyAmount": 45000, "stateOfCharge": 20}}}),
                ChargerEvent::EvChargingNeeds(EvChargingNeeds {
                    evse_id: 3,
                    departure_time: None,
                    energy_wh: Some(45000.0),
                    max_current_a: None,
                    min_current_a: None,
                    energy_transfer: "DC".into(),
                }),
            ),
            (
                "NotifyChargingLimit",
                json!({"evseId": 1, "chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": true}}),
                ChargerEvent::ChargingLimit {
                    evse_id: Some(1),
                    source: "SO".into(),
                    grid_critical: Some(true),
                },
            ),
            (
                "ReportChargingProfiles",
                json!({"requestId": 77, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [{
                    "id": 100, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Absolute", "transactionId": "d3b0c1e2-7f",
                    "validFrom": "2026-03-01T08:00:00Z", "validTo": "2026-03-02T08:00:00Z",
                    "chargingSchedule": [{"id": 100, "startSchedule": "2026-03-01T08:00:00Z", "duration": 3600,
                        "chargingRateUnit": "A", "minChargingRate": 6.0,
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                                                   {"startPeriod": 1800, "limit": 10.5}]}]}]}),
                ChargerEvent::ChargingProfilesReport {
                    request_id: 77,
                    evse_id: 1,
                    source: "CSO".into(),
                    more_to_follow: false,
                    profiles: vec![ChargingProfile {
                        id: 100,
                        stack_level: 1,
                        purpose: ProfilePurpose::Tx,
                        kind: ProfileKind::Absolute,
                        recurrency_weekly: None,
                        tx: Some(TxKey::Charger("d3b0c1e2-7f".into())),
                        valid_from: Some(t("2026-03-01T08:00:00Z")),
                        valid_to: Some(t("2026-03-02T08:00:00Z")),
                        schedule: ChargingSchedule {
                            start: Some(t("2026-03-01T08:00:00Z")),
                            duration_s: Some(3600),
                            rate_unit: RateUnit::Amps,
                            periods: vec![
                                SchedulePeriod {
                                    start_s: 0,
                                    limit: 16.0,
                                    phases: Some(3),
                                },
                                SchedulePeriod {
                                    start_s: 1800,
                                    limit: 10.5,
                                    phases: None,
                                },
                            ],
                            min_rate: Some(6.0),
                        },
                    }],
                },
            ),
            (
                "SecurityEventNotification",
                json!({"type": "FirmwareUpdated", "timestamp": "2026-03-01T08:00:00Z", "techInfo": "6.4.0"}),
                ChargerEvent::SecurityEvent {
                    kind: "FirmwareUpdated".into(),
                    timestamp: t("2026-03-01T08:00:00Z"),
                    tech_info: Some("6.4.0".into()),
                },
            ),
            (
                "FirmwareStatusNotification",
                json!({"status": "Installing", "requestId": 12}),
                ChargerEvent::FirmwareStatus {
                    status: "Installing".into(),
                    request_id: Some(12),
                },
            ),
            (
                "LogStatusNotification",
                json!({"status": "Uploaded", "requestId": 3}),
                ChargerEvent::DiagnosticsStatus {
                    status: "Uploaded".into(),
                    request_id: Some(3),
                },
            ),
            (
                "NotifyEvent",
                json!({"generatedAt": "2026-03-01T08:00:00Z", "seqNo": 0, "eventData": [{
                    "eventId": 1, "timestamp": "2026-03-01T08:00:00Z", "trigger": "Delta",
                    "actualValue": "Faulted", "techInfo": "RCD tripped", "techCode": "E12",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"}, "eventNotificationType": "HardWiredNotification"}]}),
                ChargerEvent::Notify {
                    events: vec![NotifiedEvent {
                        component: "Connector".into(),
                        variable: "AvailabilityState".into(),
                        trigger: "Delta".into(),
                        actual_value: "Faulted".into(),
                        tech_info: Some("RCD tripped".into()),
                    }],
                },
            ),
            (
                "ReservationStatusUpdate",
                json!({"reservationId": 7, "reservationUpdateStatus": "Removed"}),
                ChargerEvent::ReservationStatus {
                    reservation_id: 7,
                    update: ReservationUpdate::Removed,
                },
            ),
            (
                "DataTransfer",
                json!({"vendorId": "com.alfen", "messageId": "Socket", "data": {"slot": 1, "on": true}}),
                ChargerEvent::DataTransfer {
                    vendor_id: "com.alfen".into(),
                    message_id: Some("Socket".into()),
                    data: Some(r#"{"on":true,"slot":1}"#.into()),
                },
            ),
            (
                "DataTransfer",
                json!({"vendorId": "com.alfen", "data": "plain text"}),
                ChargerEvent::DataTransfer {
                    vendor_id: "com.alfen".into(),
                    message_id: None,
                    data: Some("plain text".into()),
                },
            ),
        ];
        for (action, payload, want) in cases {
            assert_eq!(decode_valid(action, payload), want, "{action}");
        }
    }

    #[test]
    fn timestamps_without_offset_are_read_as_utc() {
        let event = decode_call(
            "StatusNotification",
            json!({"timestamp": "2026-03-01T08:00:00", "connectorStatus": "Available",
                "evseId": 1, "connectorId": 1}),
        )
        .unwrap();
        let ChargerEvent::Status { timestamp, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(timestamp, Some(t("2026-03-01T08:00:00Z")));
    }

    #[test]
    fn multiplier_scales_the_value() {
        let cases: &[(Value, f64, &str)] = &[
            (json!({"unit": "kWh", "multiplier": 0}), 2.5, "kWh"),
            (json!({"multiplier": 3}), 2500.0, "Wh"),
            (json!({"unit": "W", "multiplier": -1}), 0.25, "W"),
            (json!({}), 2.5, "Wh"),
        ];
        for (unit, want, want_unit) in cases {
            let payload = json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z",
                "sampledValue": [{"value": 2.5, "unitOfMeasure": unit}]}]});
            let ChargerEvent::MeterValues { samples, .. } = decode_valid("MeterValues", payload)
            else {
                panic!("not MeterValues")
            };
            assert_eq!(samples[0].value, *want, "{unit}");
            assert_eq!(samples[0].unit.as_deref(), Some(*want_unit), "{unit}");
        }
    }

    /// Payloads that break their schema, and the CALLERROR code each must get.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn bad_payloads_get_the_right_error_code() {
        use RpcErrorCode::*;
        let long_token = "X".repeat(37);
        let cases: Vec<(&str, Value, RpcErrorCode)> = vec![
            (
                "BootNotification",
                json!({"chargingStation": {"vendorName": "A", "model": "B"}}),
                OccurrenceConstraintViolation,
            ),
            (
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {"vendorName": "A"}}),
                OccurrenceConstraintViolation,
            ),
            (
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {"vendorName": "A", "model": 7}}),
                TypeConstraintViolation,
            ),
            (
                "BootNotification",
                json!({"reason": "Reboot", "chargingStation": {"vendorName": "A", "model": "B"}}),
                PropertyConstraintViolation,
            ),
            (
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {"vendorName": "A", "model": "M".repeat(21)}}),
                PropertyConstraintViolation,
            ),
            (
                "StatusNotification",
                json!({"timestamp": "2026-03-01T08:00:00Z", "connectorStatus": "Available", "evseId": 1}),
                OccurrenceConstraintViolation,
            ),
            (
                "StatusNotification",
                json!({"timestamp": "2026-03-01T08:00:00Z", "connectorStatus": "Charging", "evseId": 1, "connectorId": 1}),
                PropertyConstraintViolation,
            ),
            (
                "StatusNotification",
                json!({"timestamp": "2026-03-01T08:00:00Z", "connectorStatus": "Available", "evseId": "1", "connectorId": 1}),
                TypeConstraintViolation,
            ),
            (
                "StatusNotification",
                json!({"timestamp": "yesterday", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
                PropertyConstraintViolation,
            ),
            (
                "Authorize",
                json!({"idToken": {"idToken": long_token, "type": "ISO14443"}}),
                PropertyConstraintViolation,
            ),
            (
                "Authorize",
                json!({"idToken": {"idToken": "abc", "type": "RFID"}}),
                PropertyConstraintViolation,
            ),
            (
                "Authorize",
                json!({"idToken": {"idToken": "abc"}}),
                OccurrenceConstraintViolation,
            ),
            ("Authorize", json!([]), TypeConstraintViolation),
            (
                "TransactionEvent",
                json!({"eventType": "Started", "timestamp": "2026-03-01T08:00:00Z", "triggerReason": "Authorized", "seqNo": 0}),
                OccurrenceConstraintViolation,
            ),
            (
                "TransactionEvent",
                json!({"eventType": "Started", "timestamp": "2026-03-01T08:00:00Z", "triggerReason": "Authorized", "seqNo": 0.5, "transactionInfo": {"transactionId": "t"}}),
                TypeConstraintViolation,
            ),
            (
                "TransactionEvent",
                json!({"eventType": "Begun", "timestamp": "2026-03-01T08:00:00Z", "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "t"}}),
                PropertyConstraintViolation,
            ),
            (
                "MeterValues",
                json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [{"value": "12.5"}]}]}),
                TypeConstraintViolation,
            ),
            (
                "MeterValues",
                json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [{"value": 1, "measurand": "Energy"}]}]}),
                PropertyConstraintViolation,
            ),
            (
                "MeterValues",
                json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [{"value": 1e300, "unitOfMeasure": {"multiplier": 300}}]}]}),
                PropertyConstraintViolation,
            ),
            (
                // Finite as sent, infinite in Wh once the session layer scales kWh (issue 17).
                "MeterValues",
                json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [{"value": 1e306, "unitOfMeasure": {"unit": "kWh"}}]}]}),
                PropertyConstraintViolation,
            ),
            (
                "NotifyReport",
                json!({"requestId": 1, "seqNo": 0}),
                OccurrenceConstraintViolation,
            ),
            (
                "NotifyEvent",
                json!({"generatedAt": "2026-03-01T08:00:00Z", "seqNo": 0, "eventData": [{"eventId": 1, "timestamp": "2026-03-01T08:00:00Z", "trigger": "Delta", "actualValue": "x", "component": {"name": "C"}, "variable": {"name": "V"}}]}),
                OccurrenceConstraintViolation,
            ),
            (
                "NotifyEVChargingNeeds",
                json!({"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase", "acChargingParameters": {"energyAmount": 1, "evMinCurrent": 6, "evMaxCurrent": 16}}}),
                OccurrenceConstraintViolation,
            ),
            (
                "ReportChargingProfiles",
                json!({"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [{"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1, "chargingRateUnit": "kW", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}]}]}]}),
                PropertyConstraintViolation,
            ),
            (
                "DataTransfer",
                json!({"messageId": "x"}),
                OccurrenceConstraintViolation,
            ),
            (
                "FirmwareStatusNotification",
                json!({"status": "Done"}),
                PropertyConstraintViolation,
            ),
            (
                "LogStatusNotification",
                json!({"status": "Uploaded", "requestId": "3"}),
                TypeConstraintViolation,
            ),
            (
                "SecurityEventNotification",
                json!({"type": "T".repeat(51), "timestamp": "2026-03-01T08:00:00Z"}),
                PropertyConstraintViolation,
            ),
            (
                "NotifyChargingLimit",
                json!({"chargingLimit": {"chargingLimitSource": "DSO"}}),
                PropertyConstraintViolation,
            ),
            // Routing: unknown, CSMS-only, and defined-but-unhandled actions.
            ("FlyToTheMoon", json!({}), NotImplemented),
            ("RequestStartTransaction", json!({}), NotImplemented),
            ("heartbeat", json!({}), NotImplemented),
            ("GetCertificateStatus", json!({}), NotSupported),
            (
                "ReservationStatusUpdate",
                json!({"reservationId": 1, "reservationUpdateStatus": "Cancelled"}),
                PropertyConstraintViolation,
            ),
            ("NotifyEVChargingSchedule", json!({}), NotSupported),
        ];
        for (action, payload, want) in cases {
            let err = decode_call(action, payload.clone())
                .expect_err(&format!("{action} {payload} should fail"));
            assert_eq!(err.code, want, "{action} {payload}: {}", err.message);
        }
    }

    #[test]
    fn unknown_fields_and_custom_data_are_ignored() {
        let event = decode_call(
            "Heartbeat",
            json!({"customData": {"vendorId": "x", "anything": [1, 2]}, "extra": true}),
        )
        .unwrap();
        assert_eq!(event, ChargerEvent::Heartbeat);
    }
}
