//! Translation between the OCPP 2.0.1 messages a charging station sends and the
//! version-blind model: each request type to its `ChargerEvent`, each `EventReply` to the
//! response payload of the action that carried the event.
//!
//! Owns the meaning of 2.0.1 fields in model terms (defaults the schemas give, the
//! unitOfMeasure multiplier, which attribute of a reported variable counts). It must never
//! route by action name (that is `mod.rs`) nor touch raw JSON beyond `serde_json::Value`
//! payloads. Where the model has no room for a 2.0.1 detail (a component's `instance` or
//! `evse`, a variable's `instance`), the detail is dropped and the doc of the function says so.

use serde_json::Value;

use super::charging::profile_from_wire;
use super::enums::{
    AttributeKind, AuthorizationStatusWire, ChargingNeedsStatus, ConnectorStatusWire,
    DataTransferStatusWire, IdTokenKind, Measurand, ReadingContext, RegistrationStatusWire,
    ReservationUpdateWire, TxPhaseWire,
};
use super::messages::*;
use super::to_json;
use crate::ocpp::model::{
    AuthorizationStatus, ChargerEvent, ConnectorStatus, DataTransferStatus, EvChargingNeeds,
    EventReply, EvseRef, IdToken, IdTokenInfo, MAX_SAMPLE_MAGNITUDE, MeterSample, NotifiedEvent,
    RegistrationStatus, ReportedVariable, ReservationUpdate, SignedReading, TransactionEvent,
    TxKey, TxPhase,
};
use crate::ocpp::rpc::{PayloadError, RpcErrorCode};
use crate::ocpp::strings::Bounded;

// ---- Requests to events ---------------------------------------------------------------------

pub fn boot(req: BootNotificationRequest) -> Result<ChargerEvent, PayloadError> {
    let station = req.charging_station;
    Ok(ChargerEvent::Boot {
        vendor: station.vendor_name.into_inner(),
        model: station.model.into_inner(),
        serial: station.serial_number.map(Bounded::into_inner),
        firmware: station.firmware_version.map(Bounded::into_inner),
        reason: Some(req.reason.as_str().to_string()),
    })
}

pub fn heartbeat(_req: HeartbeatRequest) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::Heartbeat)
}

pub fn status(req: StatusNotificationRequest) -> Result<ChargerEvent, PayloadError> {
    let status = match req.connector_status {
        ConnectorStatusWire::Available => ConnectorStatus::Available,
        ConnectorStatusWire::Occupied => ConnectorStatus::Occupied,
        ConnectorStatusWire::Reserved => ConnectorStatus::Reserved,
        ConnectorStatusWire::Unavailable => ConnectorStatus::Unavailable,
        ConnectorStatusWire::Faulted => ConnectorStatus::Faulted,
    };
    Ok(ChargerEvent::Status {
        evse: EvseRef {
            evse_id: req.evse_id,
            connector_id: Some(req.connector_id),
        },
        status,
        // 2.0.1 reports faults through NotifyEvent, not in StatusNotification.
        error_code: None,
        vendor_error_code: None,
        info: None,
        timestamp: Some(req.timestamp),
    })
}

fn id_token_from_wire(wire: IdTokenWire) -> IdToken {
    IdToken {
        id: wire.id_token.into_inner(),
        kind: Some(wire.kind.as_str().to_string()),
    }
}

pub fn authorize(req: AuthorizeRequest) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::Authorize {
        id_token: id_token_from_wire(req.id_token),
    })
}

/// Reads meter values into samples, applying the schema defaults of SampledValueType
/// (measurand `Energy.Active.Import.Register`, context `Sample.Periodic`, unit `Wh`) and
/// the unitOfMeasure multiplier (value × 10^multiplier), so the model sees plain units.
fn samples_from_wire(
    meter_values: Vec<MeterValueWire>,
) -> Result<(Vec<MeterSample>, Vec<SignedReading>), PayloadError> {
    let mut samples = Vec::new();
    let mut signed = Vec::new();
    for mv in meter_values {
        for sv in mv.sampled_value {
            let (unit, multiplier) = match sv.unit_of_measure {
                Some(u) => (u.unit.map(Bounded::into_inner), u.multiplier),
                None => (None, 0),
            };
            let value = sv.value * 10f64.powi(multiplier);
            // Finite and small enough to stay finite in base units (`MAX_SAMPLE_MAGNITUDE`);
            // NaN fails the comparison.
            let in_range = value.abs() <= MAX_SAMPLE_MAGNITUDE;
            if !in_range {
                return Err(PayloadError::new(
                    RpcErrorCode::PropertyConstraintViolation,
                    format!(
                        "sampled value {} × 10^{multiplier} is out of range",
                        sv.value
                    ),
                ));
            }
            let sample = MeterSample {
                timestamp: mv.timestamp,
                measurand: sv
                    .measurand
                    .unwrap_or(Measurand::EnergyActiveImportRegister)
                    .as_str()
                    .to_string(),
                phase: sv.phase.map(|p| p.as_str().to_string()),
                value,
                unit: Some(unit.unwrap_or_else(|| "Wh".to_string())),
                context: Some(
                    sv.context
                        .unwrap_or(ReadingContext::SamplePeriodic)
                        .as_str()
                        .to_string(),
                ),
                location: sv.location.map(|l| l.as_str().to_string()),
            };
            if let Some(s) = sv.signed_meter_value {
                signed.push(SignedReading {
                    timestamp: sample.timestamp,
                    measurand: sample.measurand.clone(),
                    context: sample.context.clone(),
                    phase: sample.phase.clone(),
                    location: sample.location.clone(),
                    value: Some(sample.value),
                    data: s.signed_meter_data.into_inner(),
                    signing_method: Some(s.signing_method.into_inner()),
                    encoding_method: Some(s.encoding_method.into_inner()),
                    public_key: Some(s.public_key.into_inner()),
                });
            }
            samples.push(sample);
        }
    }
    Ok((samples, signed))
}

/// TransactionEvent (E01-E15). The meter reading stays in `samples`: 2.0.1 has no
/// meterStart/meterStop, so `meter_wh` (a 1.6 field) is `None`.
pub fn transaction(req: TransactionEventRequest) -> Result<ChargerEvent, PayloadError> {
    let phase = match req.event_type {
        TxPhaseWire::Started => TxPhase::Started,
        TxPhaseWire::Updated => TxPhase::Updated,
        TxPhaseWire::Ended => TxPhase::Ended,
    };
    let info = req.transaction_info;
    let (samples, signed) = samples_from_wire(req.meter_value.unwrap_or_default())?;
    Ok(ChargerEvent::Transaction(TransactionEvent {
        phase,
        tx: Some(TxKey::Charger(info.transaction_id.into_inner())),
        seq_no: Some(req.seq_no),
        evse: req.evse.map(|e| EvseRef {
            evse_id: e.id,
            connector_id: e.connector_id,
        }),
        id_token: req.id_token.map(id_token_from_wire),
        timestamp: req.timestamp,
        meter_wh: None,
        stop_reason: info.stopped_reason.map(|r| r.as_str().to_string()),
        trigger_reason: Some(req.trigger_reason.as_str().to_string()),
        charging_state: info.charging_state.map(|s| s.as_str().to_string()),
        offline: req.offline,
        reservation_id: req.reservation_id,
        samples,
        signed,
    }))
}

/// MeterValues outside a transaction's events (J01). 2.0.1 MeterValues carries no
/// transaction id (transaction meter values travel in TransactionEvent), so `tx` is `None`.
pub fn meter_values(req: MeterValuesRequest) -> Result<ChargerEvent, PayloadError> {
    let (samples, signed) = samples_from_wire(req.meter_value)?;
    Ok(ChargerEvent::MeterValues {
        evse_id: req.evse_id,
        tx: None,
        samples,
        signed,
    })
}

/// NotifyReport (B07/B08). Each reportData entry becomes one variable whose value is its
/// `Actual` attribute (an attribute without `type` is Actual, the schema default); a
/// variable with no readable Actual value (WriteOnly, or only Target/MinSet/MaxSet)
/// is reported with `None`. Component and variable `instance` and the component's `evse`
/// are dropped: `ReportedVariable` has no field for them.
pub fn notify_report(req: NotifyReportRequest) -> Result<ChargerEvent, PayloadError> {
    let variables = req
        .report_data
        .unwrap_or_default()
        .into_iter()
        .map(|data| ReportedVariable {
            component: data.component.name.into_inner(),
            variable: data.variable.name.into_inner(),
            value: data
                .variable_attribute
                .into_iter()
                .find(|a| a.kind.is_none_or(|k| k == AttributeKind::Actual))
                .and_then(|a| a.value)
                .map(Bounded::into_inner),
        })
        .collect();
    Ok(ChargerEvent::Report {
        request_id: req.request_id,
        seq_no: req.seq_no,
        more_to_follow: req.tbc,
        variables,
    })
}

/// NotifyEVChargingNeeds (K15). Energy comes from the AC parameters, else the DC ones;
/// the currents are AC only (the model plans AC phases).
pub fn ev_charging_needs(req: NotifyEvChargingNeedsRequest) -> Result<ChargerEvent, PayloadError> {
    let needs = req.charging_needs;
    let ac = needs.ac_charging_parameters;
    let dc = needs.dc_charging_parameters;
    // i64 -> f64 is exact below 2^53 Wh, far beyond any battery.
    let energy_wh = ac
        .as_ref()
        .map(|a| a.energy_amount)
        .or_else(|| dc.as_ref().and_then(|d| d.energy_amount))
        .map(|wh| wh as f64);
    Ok(ChargerEvent::EvChargingNeeds(EvChargingNeeds {
        evse_id: req.evse_id,
        departure_time: needs.departure_time,
        energy_wh,
        max_current_a: ac.as_ref().map(|a| a.ev_max_current as f64),
        min_current_a: ac.as_ref().map(|a| a.ev_min_current as f64),
        energy_transfer: needs.requested_energy_transfer.as_str().to_string(),
    }))
}

pub fn charging_limit(req: NotifyChargingLimitRequest) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::ChargingLimit {
        evse_id: req.evse_id,
        source: req
            .charging_limit
            .charging_limit_source
            .as_str()
            .to_string(),
        grid_critical: req.charging_limit.is_grid_critical,
    })
}

/// ReportChargingProfiles (K09). See `charging::profile_from_wire` for what the model
/// cannot hold.
pub fn charging_profiles_report(
    req: ReportChargingProfilesRequest,
) -> Result<ChargerEvent, PayloadError> {
    let profiles = req
        .charging_profile
        .into_iter()
        .map(profile_from_wire)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChargerEvent::ChargingProfilesReport {
        request_id: req.request_id,
        evse_id: req.evse_id,
        source: req.charging_limit_source.as_str().to_string(),
        profiles,
        more_to_follow: req.tbc,
    })
}

pub fn security_event(req: SecurityEventNotificationRequest) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::SecurityEvent {
        kind: req.kind.into_inner(),
        timestamp: req.timestamp,
        tech_info: req.tech_info.map(Bounded::into_inner),
    })
}

pub fn firmware_status(
    req: FirmwareStatusNotificationRequest,
) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::FirmwareStatus {
        status: req.status.as_str().to_string(),
        request_id: req.request_id,
    })
}

/// LogStatusNotification is 2.0.1's DiagnosticsStatusNotification (N01).
pub fn log_status(req: LogStatusNotificationRequest) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::DiagnosticsStatus {
        status: req.status.as_str().to_string(),
        request_id: req.request_id,
    })
}

/// NotifyEvent (N07), one `NotifiedEvent` per eventData entry. As for NotifyReport, the
/// component's instance and evse are dropped.
pub fn notify_event(req: NotifyEventRequest) -> Result<ChargerEvent, PayloadError> {
    let events = req
        .event_data
        .into_iter()
        .map(|e| NotifiedEvent {
            component: e.component.name.into_inner(),
            variable: e.variable.name.into_inner(),
            trigger: e.trigger.as_str().to_string(),
            actual_value: e.actual_value.into_inner(),
            tech_info: e.tech_info.map(Bounded::into_inner),
        })
        .collect();
    Ok(ChargerEvent::Notify { events })
}

/// ReservationStatusUpdate (H04): the station ended a reservation on its own.
pub fn reservation_status(
    req: ReservationStatusUpdateRequest,
) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::ReservationStatus {
        reservation_id: req.reservation_id,
        update: match req.reservation_update_status {
            ReservationUpdateWire::Expired => ReservationUpdate::Expired,
            ReservationUpdateWire::Removed => ReservationUpdate::Removed,
        },
    })
}

/// DataTransfer, station to CSMS. `data` is any JSON in 2.0.1 but text in the model (and in 1.6): a
/// JSON string is kept as its content, so a vendor's text reads the same in both versions;
/// any other value (object, array, number, bool) is kept as its compact JSON text.
pub fn data_transfer(req: DataTransferRequest) -> Result<ChargerEvent, PayloadError> {
    let data = req.data.map(|d| match d {
        Value::String(text) => text,
        other => other.to_string(),
    });
    Ok(ChargerEvent::DataTransfer {
        vendor_id: req.vendor_id.into_inner(),
        message_id: req.message_id.map(Bounded::into_inner),
        data,
    })
}

// ---- Replies to responses ---------------------------------------------------------------------

/// IdTokenInfoType from the model. The model's group id is a bare string; 2.0.1 wants an
/// IdTokenType, and a group is a CSMS-side notion, so it is written as type `Central`
/// (truncated to identifierString 36, which a group id longer than that cannot fit anyway).
pub fn id_token_info_to_wire(info: &IdTokenInfo) -> IdTokenInfoWire {
    let status = match info.status {
        AuthorizationStatus::Accepted => AuthorizationStatusWire::Accepted,
        AuthorizationStatus::Blocked => AuthorizationStatusWire::Blocked,
        AuthorizationStatus::Expired => AuthorizationStatusWire::Expired,
        AuthorizationStatus::Invalid => AuthorizationStatusWire::Invalid,
        AuthorizationStatus::ConcurrentTx => AuthorizationStatusWire::ConcurrentTx,
        AuthorizationStatus::Unknown => AuthorizationStatusWire::Unknown,
    };
    IdTokenInfoWire {
        status,
        cache_expiry_date_time: info.expiry,
        group_id_token: info.group_id.as_ref().map(|g| IdTokenWire {
            id_token: Bounded::truncating(g.as_str()),
            kind: IdTokenKind::Central,
        }),
    }
}

fn mismatch(event: &ChargerEvent, reply: &EventReply) -> PayloadError {
    PayloadError::new(
        RpcErrorCode::InternalError,
        format!("reply {reply:?} does not answer event {event:?}"),
    )
}

fn registration_status(status: RegistrationStatus) -> RegistrationStatusWire {
    match status {
        RegistrationStatus::Accepted => RegistrationStatusWire::Accepted,
        RegistrationStatus::Pending => RegistrationStatusWire::Pending,
        RegistrationStatus::Rejected => RegistrationStatusWire::Rejected,
    }
}

/// The CALLRESULT payload answering `event` with `reply`. A reply of the wrong kind is a
/// bug above this layer; it becomes an InternalError to the station rather than a
/// response that would lie about what was decided.
pub fn reply(event: &ChargerEvent, reply: &EventReply) -> Result<Value, PayloadError> {
    let payload = match (event, reply) {
        (
            ChargerEvent::Boot { .. },
            EventReply::Boot {
                status,
                current_time,
                interval_s,
            },
        ) => to_json(&BootNotificationResponse {
            current_time: *current_time,
            interval: *interval_s,
            status: registration_status(*status),
        }),
        (ChargerEvent::Heartbeat, EventReply::Heartbeat { current_time }) => {
            to_json(&HeartbeatResponse {
                current_time: *current_time,
            })
        }
        (ChargerEvent::Authorize { .. }, EventReply::Authorize { info }) => {
            // Part 2 AuthorizationStatusEnumType: ConcurrentTx is "only relevant for the
            // response to a TransactionEventRequest". The card itself is valid: Authorize
            // says Accepted, and the Started event that would open a second session gets
            // the ConcurrentTx (rules::authorize).
            let mut info = info.clone();
            if info.status == AuthorizationStatus::ConcurrentTx {
                info.status = AuthorizationStatus::Accepted;
            }
            to_json(&AuthorizeResponse {
                id_token_info: id_token_info_to_wire(&info),
            })
        }
        // idTokenInfo is the verdict on the event's idToken (E01-E07 authorise the token a
        // transaction starts with); an event without a token gets none. `transaction_id` is 1.6 only.
        (ChargerEvent::Transaction(tx), EventReply::Transaction { info, .. }) => {
            to_json(&TransactionEventResponse {
                id_token_info: info
                    .as_ref()
                    .filter(|_| tx.id_token.is_some())
                    .map(id_token_info_to_wire),
            })
        }
        (ChargerEvent::SignCertificate { .. }, EventReply::SignCertificate { accepted }) => {
            super::certificates::sign_certificate_response(*accepted)
        }
        (ChargerEvent::EvChargingNeeds(_), EventReply::EvChargingNeeds { accepted }) => {
            to_json(&NotifyEvChargingNeedsResponse {
                status: if *accepted {
                    ChargingNeedsStatus::Accepted
                } else {
                    ChargingNeedsStatus::Rejected
                },
            })
        }
        // `data` goes back as a JSON string: the model holds text (see `data_transfer`).
        (ChargerEvent::DataTransfer { .. }, EventReply::DataTransfer { status, data }) => {
            to_json(&DataTransferResponse {
                status: match status {
                    DataTransferStatus::Accepted => DataTransferStatusWire::Accepted,
                    DataTransferStatus::Rejected => DataTransferStatusWire::Rejected,
                    DataTransferStatus::UnknownMessageId => {
                        DataTransferStatusWire::UnknownMessageId
                    }
                    DataTransferStatus::UnknownVendorId => DataTransferStatusWire::UnknownVendorId,
                },
                data: data.clone().map(Value::String),
            })
        }
        (
            ChargerEvent::Status { .. }
            | ChargerEvent::MeterValues { .. }
            | ChargerEvent::DiagnosticsStatus { .. }
            | ChargerEvent::FirmwareStatus { .. }
            | ChargerEvent::Report { .. }
            | ChargerEvent::ChargingLimit { .. }
            | ChargerEvent::ChargingProfilesReport { .. }
            | ChargerEvent::SecurityEvent { .. }
            | ChargerEvent::Notify { .. }
            | ChargerEvent::ReservationStatus { .. }
            | ChargerEvent::CustomerInformation { .. },
            EventReply::Empty,
        ) => to_json(&EmptyResponse {}),
        _ => return Err(mismatch(event, reply)),
    };
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;
    use crate::ocpp::schema_check::assert_valid;
    use crate::ocpp::v201::{decode_call, encode_reply};

    fn t(text: &str) -> DateTime<Utc> {
        crate::ocpp::time::parse(text).expect("test timestamp")
    }

    /// The events of the actions whose replies we test, decoded from minimal valid payloads
    /// so the (action, event) pairing is the one the session layer will see.
    fn event(action: &str, payload: Value) -> ChargerEvent {
        decode_call(action, payload).unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn tx_event(with_token: bool) -> ChargerEvent {
        let mut payload = json!({"eventType": "Started", "timestamp": "2026-03-01T08:00:00Z",
            "triggerReason": "CablePluggedIn", "seqNo": 0,
            "transactionInfo": {"transactionId": "tx-1"}});
        if with_token {
            payload["idToken"] = json!({"idToken": "04A2B3C4", "type": "ISO14443"});
        }
        event("TransactionEvent", payload)
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn every_reply_is_schema_valid_and_carries_the_decision() {
        let now = t("2026-03-01T08:00:00.250Z");
        let info = IdTokenInfo {
            status: AuthorizationStatus::Accepted,
            expiry: Some(t("2026-03-02T00:00:00Z")),
            group_id: Some("DEPOT-FLEET".into()),
        };
        let info_json = json!({"status": "Accepted", "cacheExpiryDateTime": "2026-03-02T00:00:00.000Z",
            "groupIdToken": {"idToken": "DEPOT-FLEET", "type": "Central"}});
        let status = json!({"timestamp": "2026-03-01T08:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1});
        let cases: Vec<(&str, ChargerEvent, EventReply, Value)> = vec![
            (
                "BootNotification",
                event(
                    "BootNotification",
                    json!({"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}),
                ),
                EventReply::Boot {
                    status: RegistrationStatus::Pending,
                    current_time: now,
                    interval_s: 30,
                },
                json!({"currentTime": "2026-03-01T08:00:00.250Z", "interval": 30, "status": "Pending"}),
            ),
            (
                "Heartbeat",
                ChargerEvent::Heartbeat,
                EventReply::Heartbeat { current_time: now },
                json!({"currentTime": "2026-03-01T08:00:00.250Z"}),
            ),
            (
                "Authorize",
                event(
                    "Authorize",
                    json!({"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}}),
                ),
                EventReply::Authorize { info: info.clone() },
                json!({"idTokenInfo": info_json}),
            ),
            (
                "Authorize",
                event(
                    "Authorize",
                    json!({"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}}),
                ),
                EventReply::Authorize {
                    info: IdTokenInfo::status(AuthorizationStatus::Unknown),
                },
                json!({"idTokenInfo": {"status": "Unknown"}}),
            ),
            // A card already charging is valid for Authorize; only the TransactionEvent
            // that would start a second session is told ConcurrentTx.
            (
                "Authorize",
                event(
                    "Authorize",
                    json!({"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}}),
                ),
                EventReply::Authorize {
                    info: IdTokenInfo::status(AuthorizationStatus::ConcurrentTx),
                },
                json!({"idTokenInfo": {"status": "Accepted"}}),
            ),
            (
                "TransactionEvent",
                tx_event(true),
                EventReply::Transaction {
                    transaction_id: None,
                    info: Some(IdTokenInfo::status(AuthorizationStatus::ConcurrentTx)),
                },
                json!({"idTokenInfo": {"status": "ConcurrentTx"}}),
            ),
            (
                "TransactionEvent",
                tx_event(true),
                EventReply::Transaction {
                    transaction_id: None,
                    info: Some(IdTokenInfo::status(AuthorizationStatus::Blocked)),
                },
                json!({"idTokenInfo": {"status": "Blocked"}}),
            ),
            (
                "TransactionEvent",
                tx_event(false),
                EventReply::Transaction {
                    transaction_id: Some(5),
                    info: Some(IdTokenInfo::status(AuthorizationStatus::Accepted)),
                },
                json!({}),
            ),
            (
                "NotifyEVChargingNeeds",
                event(
                    "NotifyEVChargingNeeds",
                    json!({"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_single_phase"}}),
                ),
                EventReply::EvChargingNeeds { accepted: false },
                json!({"status": "Rejected"}),
            ),
            (
                "DataTransfer",
                event("DataTransfer", json!({"vendorId": "com.example"})),
                EventReply::DataTransfer {
                    status: DataTransferStatus::UnknownVendorId,
                    data: None,
                },
                json!({"status": "UnknownVendorId"}),
            ),
            (
                "DataTransfer",
                event(
                    "DataTransfer",
                    json!({"vendorId": "com.example", "messageId": "Ping"}),
                ),
                EventReply::DataTransfer {
                    status: DataTransferStatus::Accepted,
                    data: Some("pong".into()),
                },
                json!({"status": "Accepted", "data": "pong"}),
            ),
            (
                "StatusNotification",
                event("StatusNotification", status.clone()),
                EventReply::Empty,
                json!({}),
            ),
            (
                "MeterValues",
                event(
                    "MeterValues",
                    json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T08:00:00Z", "sampledValue": [{"value": 1}]}]}),
                ),
                EventReply::Empty,
                json!({}),
            ),
            (
                "NotifyReport",
                event(
                    "NotifyReport",
                    json!({"requestId": 1, "generatedAt": "2026-03-01T08:00:00Z", "seqNo": 0}),
                ),
                EventReply::Empty,
                json!({}),
            ),
            (
                "NotifyEvent",
                ChargerEvent::Notify { events: vec![] },
                EventReply::Empty,
                json!({}),
            ),
            (
                "ReservationStatusUpdate",
                event(
                    "ReservationStatusUpdate",
                    json!({"reservationId": 3, "reservationUpdateStatus": "Expired"}),
                ),
                EventReply::Empty,
                json!({}),
            ),
            (
                "NotifyChargingLimit",
                event(
                    "NotifyChargingLimit",
                    json!({"chargingLimit": {"chargingLimitSource": "EMS"}}),
                ),
                EventReply::Empty,
                json!({}),
            ),
            (
                "SecurityEventNotification",
                event(
                    "SecurityEventNotification",
                    json!({"type": "X", "timestamp": "2026-03-01T08:00:00Z"}),
                ),
                EventReply::Empty,
                json!({}),
            ),
            (
                "FirmwareStatusNotification",
                event("FirmwareStatusNotification", json!({"status": "Idle"})),
                EventReply::Empty,
                json!({}),
            ),
            (
                "LogStatusNotification",
                event("LogStatusNotification", json!({"status": "Idle"})),
                EventReply::Empty,
                json!({}),
            ),
            (
                "ReportChargingProfiles",
                ChargerEvent::ChargingProfilesReport {
                    request_id: 1,
                    evse_id: 0,
                    source: "CSO".into(),
                    profiles: vec![],
                    more_to_follow: false,
                },
                EventReply::Empty,
                json!({}),
            ),
        ];
        for (action, event, reply, want) in cases {
            let got = encode_reply(&event, &reply).unwrap_or_else(|e| panic!("{action}: {e}"));
            assert_valid("v201", action, true, &got);
            assert_eq!(got, want, "{action}");
        }
    }

    #[test]
    fn a_reply_that_does_not_answer_its_event_is_an_internal_error() {
        let now = t("2026-03-01T08:00:00Z");
        let cases: Vec<(ChargerEvent, EventReply)> = vec![
            (ChargerEvent::Heartbeat, EventReply::Empty),
            (
                ChargerEvent::Heartbeat,
                EventReply::Boot {
                    status: RegistrationStatus::Accepted,
                    current_time: now,
                    interval_s: 60,
                },
            ),
            (tx_event(true), EventReply::Empty),
            (
                ChargerEvent::Notify { events: vec![] },
                EventReply::Heartbeat { current_time: now },
            ),
            (
                ChargerEvent::DataTransfer {
                    vendor_id: "v".into(),
                    message_id: None,
                    data: None,
                },
                EventReply::EvChargingNeeds { accepted: true },
            ),
        ];
        for (event, reply) in cases {
            let err = encode_reply(&event, &reply).unwrap_err();
            assert_eq!(
                err.code,
                RpcErrorCode::InternalError,
                "{event:?} / {reply:?}"
            );
        }
    }
}
