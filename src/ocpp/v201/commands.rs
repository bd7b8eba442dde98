//! CSMS-to-charging-station direction of OCPP 2.0.1: `ChargerCommand` -> (action, request
//! payload), and the station's response payload -> `CommandReply`.
//!
//! Owns the choices the model leaves open
//! (the component of a 1.6-style configuration key, the token type of a token without
//! one). Every request it writes validates against its `*Request.json` schema; a command
//! that cannot be written validly is refused with `NotInVersion` rather than sent broken
//! or silently changed. It must never decide *whether* to send a command, and never read a
//! response loosely: a status outside the command's own enum is a
//! PropertyConstraintViolation; what counts as a yes is `model::POSITIVE_STATUSES`, shared
//! with 1.6. The caller decides what a refusal means.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::charging::{
    composite_from_wire, profile_to_wire, purpose_to_wire, rate_unit_to_wire, tx_key_to_wire,
};
use super::convert::id_token_info_to_wire;
use super::enums::*;
use super::messages::*;
use super::{VERSION, parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{
    ChargerCommand, CommandReply, ConfigKey, ConfigValue, IdToken, LocalListEntry, ProfilePurpose,
    ResetKind, TriggerKind,
};
use crate::ocpp::rpc::{PayloadError, RpcErrorCode};
use crate::ocpp::strings::Bounded;
use crate::ocpp::wire_enum::WireEnum;

// ---- Choices the model leaves open ------------------------------------------------------------

/// The device-model component of a well-known variable, for configuration keys that name
/// only a variable (1.6-style keys, `ConfigKey::component == None`). The pairs are the
/// standardized components of the 2.0.1 device model (Part 2, appendix "Standardized
/// Components"); a variable not listed goes to `OCPPCommCtrlr`, the controller of the
/// OCPP connection itself, where most 1.6 core keys live.
const DEFAULT_COMPONENTS: &[(&str, &str)] = &[
    ("AuthorizeRemoteStart", "AuthCtrlr"),
    ("LocalAuthorizeOffline", "AuthCtrlr"),
    ("LocalPreAuthorize", "AuthCtrlr"),
    ("ChargingScheduleChargingRateUnit", "SmartChargingCtrlr"),
    ("LimitChangeSignificance", "SmartChargingCtrlr"),
    ("PeriodsPerSchedule", "SmartChargingCtrlr"),
    ("ProfileStackLevel", "SmartChargingCtrlr"),
    ("TxEndedInterval", "SampledDataCtrlr"),
    ("TxEndedMeasurands", "SampledDataCtrlr"),
    ("TxStartedMeasurands", "SampledDataCtrlr"),
    ("TxUpdatedInterval", "SampledDataCtrlr"),
    ("TxUpdatedMeasurands", "SampledDataCtrlr"),
    ("EVConnectionTimeOut", "TxCtrlr"),
    ("StopTxOnEVSideDisconnect", "TxCtrlr"),
    ("StopTxOnInvalidId", "TxCtrlr"),
    ("TxStartPoint", "TxCtrlr"),
    ("TxStopPoint", "TxCtrlr"),
];
const FALLBACK_COMPONENT: &str = "OCPPCommCtrlr";

fn component_of(key: &ConfigKey) -> &str {
    match &key.component {
        Some(component) => component,
        None => DEFAULT_COMPONENTS
            .iter()
            .find(|(variable, _)| *variable == key.variable)
            .map_or(FALLBACK_COMPONENT, |(_, component)| component),
    }
}

fn refuse(command: &ChargerCommand) -> NotInVersion {
    NotInVersion {
        command: command.name(),
        version: VERSION,
    }
}

/// A string for a bounded field, or `None` if it is too long. Identifiers (tokens,
/// component and variable names, configuration values) are never truncated: a shortened
/// one would name something else.
fn bounded<const N: usize>(text: &str) -> Option<Bounded<N>> {
    (text.chars().count() <= N).then(|| Bounded(text.to_string()))
}

fn variable_ref(key: &ConfigKey) -> Option<(ComponentWire, VariableWire)> {
    Some((
        ComponentWire {
            name: bounded(component_of(key))?,
            instance: None,
            evse: None,
        },
        VariableWire {
            name: bounded(&key.variable)?,
            instance: None,
        },
    ))
}

/// IdTokenType from the model. A token without a type (from a 1.6 station or the local
/// configuration) gets `default`; a type 2.0.1 does not define cannot be sent.
fn id_token_to_wire(token: &IdToken, default: IdTokenKind) -> Option<IdTokenWire> {
    let kind = match &token.kind {
        None => default,
        Some(kind) => IdTokenKind::parse(kind)?,
    };
    Some(IdTokenWire {
        id_token: bounded(&token.id)?,
        kind,
    })
}

fn evse_wire(evse_id: Option<u32>) -> Option<EvseWire> {
    // EVSE id 0 is the charging station as a whole, which 2.0.1 expresses by leaving
    // `evse` out.
    evse_id.filter(|id| *id != 0).map(|id| EvseWire {
        id,
        connector_id: None,
    })
}

/// GetVariablesRequest (B06) for `keys`; `None` for no keys (GetVariables has no "all"
/// form: the full device model comes from GetBaseReport, whose answer arrives as
/// NotifyReport events, so the caller sends `ChargerCommand::GetBaseReport` instead) or for
/// a key too long for 2.0.1.
fn get_variables_request(keys: &[ConfigKey]) -> Option<GetVariablesRequest> {
    if keys.is_empty() {
        return None;
    }
    let get_variable_data = keys
        .iter()
        .map(|key| {
            variable_ref(key).map(|(component, variable)| GetVariableDataWire {
                component,
                variable,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(GetVariablesRequest { get_variable_data })
}

/// The message TriggerMessageRequest asks for (F06). 1.6 DiagnosticsStatusNotification is
/// 2.0.1 LogStatusNotification.
fn message_trigger(kind: TriggerKind) -> TriggerKindWire {
    match kind {
        TriggerKind::BootNotification => TriggerKindWire::BootNotification,
        TriggerKind::Heartbeat => TriggerKindWire::Heartbeat,
        TriggerKind::MeterValues => TriggerKindWire::MeterValues,
        TriggerKind::StatusNotification => TriggerKindWire::StatusNotification,
        TriggerKind::FirmwareStatusNotification => TriggerKindWire::FirmwareStatusNotification,
        TriggerKind::DiagnosticsStatusNotification => TriggerKindWire::LogStatusNotification,
        TriggerKind::TransactionEvent => TriggerKindWire::TransactionEvent,
        TriggerKind::SignChargingStationCertificate => {
            TriggerKindWire::SignChargingStationCertificate
        }
    }
}

/// ClearChargingProfileRequest (K10). The criteria object is left out when it would filter
/// nothing.
fn clear_charging_profile_request(
    id: Option<i32>,
    evse_id: Option<u32>,
    purpose: Option<ProfilePurpose>,
    stack_level: Option<u32>,
) -> ClearChargingProfileRequest {
    let criteria = (evse_id.is_some() || purpose.is_some() || stack_level.is_some()).then(|| {
        ClearChargingProfileWire {
            evse_id,
            charging_profile_purpose: purpose.map(purpose_to_wire),
            stack_level,
        }
    });
    ClearChargingProfileRequest {
        charging_profile_id: id,
        charging_profile_criteria: criteria,
    }
}

/// SendLocalListRequest (D01). Local lists hold cards for offline authorisation: untyped
/// tokens are ISO14443, as for ReserveNow. An empty list is sent without the array
/// (minItems 1): a Full update without entries empties the list. `None` when a token cannot
/// be written in 2.0.1.
fn send_local_list_request(
    version: i32,
    full: bool,
    entries: &[LocalListEntry],
) -> Option<SendLocalListRequest> {
    let local_authorization_list = entries
        .iter()
        .map(|entry| {
            Some(AuthorizationDataWire {
                id_token: id_token_to_wire(&entry.id_token, IdTokenKind::Iso14443)?,
                id_token_info: entry.info.as_ref().map(id_token_info_to_wire),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SendLocalListRequest {
        local_authorization_list,
        version_number: version,
        update_type: if full {
            UpdateKind::Full
        } else {
            UpdateKind::Differential
        },
    })
}

// ---- Commands to requests -------------------------------------------------------------------

/// Writes a command as (action, payload). See the module doc for when it refuses. Routed by
/// functional area, the same areas as in 1.6.
pub fn encode(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    match command {
        C::RemoteStart { .. }
        | C::RemoteStop { .. }
        | C::UnlockConnector { .. }
        | C::ChangeAvailability { .. }
        | C::Trigger { .. } => remote_control_request(command),
        C::Reset { .. }
        | C::GetConfiguration { .. }
        | C::SetConfiguration { .. }
        | C::GetBaseReport { .. } => provisioning_request(command),
        C::SetChargingProfile { .. }
        | C::ClearChargingProfile { .. }
        | C::GetChargingProfiles { .. }
        | C::GetCompositeSchedule { .. } => smart_charging_request(command),
        C::ReserveNow { .. }
        | C::CancelReservation { .. }
        | C::SendLocalList { .. }
        | C::GetLocalListVersion
        | C::ClearCache => authorization_request(command),
        C::UpdateFirmware { .. } | C::GetLog { .. } => super::device::encode(command),
        C::GetTransactionStatus { .. } | C::SetNetworkProfile { .. } => {
            super::station::encode(command)
        }
        C::GetInstalledCertificateIds { .. }
        | C::InstallCertificate { .. }
        | C::DeleteCertificate { .. }
        | C::CertificateSigned { .. } => super::certificates::encode(command),
        C::CustomerInformation { .. } => super::customer::encode(command),
        C::Relay { action, payload } => Ok((action, payload.clone())),
        // P01.
        C::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => {
            let refused = || refuse(command);
            Ok((
                "DataTransfer",
                to_json(&DataTransferRequest {
                    vendor_id: bounded(vendor_id).ok_or_else(refused)?,
                    message_id: match message_id {
                        Some(m) => Some(bounded(m).ok_or_else(refused)?),
                        None => None,
                    },
                    data: data.clone(),
                }),
            ))
        }
    }
}

/// Remote start and stop, unlocking, triggered messages (F) and availability (G).
fn remote_control_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        // F01/F02. The CSMS starts the transaction, so an untyped token is `Central`.
        C::RemoteStart {
            evse_id,
            id_token,
            profile,
            remote_start_id,
        } => (
            "RequestStartTransaction",
            to_json(&RequestStartTransactionRequest {
                evse_id: *evse_id,
                id_token: id_token_to_wire(id_token, IdTokenKind::Central).ok_or_else(refused)?,
                remote_start_id: *remote_start_id,
                charging_profile: match profile {
                    Some(p) => Some(profile_to_wire(p).ok_or_else(refused)?),
                    None => None,
                },
            }),
        ),
        C::RemoteStop { tx } => (
            "RequestStopTransaction",
            to_json(&RequestStopTransactionRequest {
                transaction_id: tx_key_to_wire(tx).ok_or_else(refused)?,
            }),
        ),
        // F05. connectorId is required; an EVSE with one connector (the common case) has
        // connector 1.
        C::UnlockConnector { evse } => (
            "UnlockConnector",
            to_json(&UnlockConnectorRequest {
                evse_id: evse.evse_id,
                connector_id: evse.connector_id.unwrap_or(1),
            }),
        ),
        // G03/G04: no `evse` means the whole charging station.
        C::ChangeAvailability { evse, operative } => (
            "ChangeAvailability",
            to_json(&ChangeAvailabilityRequest {
                evse: evse.filter(|e| e.evse_id != 0).map(|e| EvseWire {
                    id: e.evse_id,
                    connector_id: e.connector_id,
                }),
                operational_status: if *operative {
                    OperationalStatus::Operative
                } else {
                    OperationalStatus::Inoperative
                },
            }),
        ),
        // F06.
        C::Trigger { message, evse_id } => (
            "TriggerMessage",
            to_json(&TriggerMessageRequest {
                evse: evse_wire(*evse_id),
                requested_message: message_trigger(*message),
            }),
        ),
        // Another area's command (`encode` routes): refused rather than sent as something else.
        _ => return Err(refused()),
    })
}

/// Reset, variables and reports of the device model (B).
fn provisioning_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        // B11/B12: OnIdle waits for transactions to end, like 1.6 Soft.
        C::Reset { kind, evse_id } => (
            "Reset",
            to_json(&ResetRequest {
                evse_id: *evse_id,
                kind: match kind {
                    ResetKind::Soft => ResetKindWire::OnIdle,
                    ResetKind::Hard => ResetKindWire::Immediate,
                },
            }),
        ),
        // B06. "Every key" is refused (see `get_variables_request`).
        C::GetConfiguration { keys } => (
            "GetVariables",
            to_json(&get_variables_request(keys).ok_or_else(refused)?),
        ),
        // B05.
        C::SetConfiguration { key, value } => {
            let (component, variable) = variable_ref(key).ok_or_else(refused)?;
            (
                "SetVariables",
                to_json(&SetVariablesRequest {
                    set_variable_data: vec![SetVariableDataWire {
                        attribute_value: bounded(value).ok_or_else(refused)?,
                        component,
                        variable,
                    }],
                }),
            )
        }
        // B07/B08. A report base 2.0.1 does not define cannot be asked for.
        C::GetBaseReport { request_id, report } => (
            "GetBaseReport",
            to_json(&GetBaseReportRequest {
                request_id: *request_id,
                report_base: ReportBase::parse(report).ok_or_else(refused)?,
            }),
        ),
        // Another area's command (`encode` routes).
        _ => return Err(refused()),
    })
}

/// Charging profiles and composite schedules (K).
fn smart_charging_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        // K01. Limits are rounded down to 0.1 in `profile_to_wire`.
        C::SetChargingProfile { evse_id, profile } => (
            "SetChargingProfile",
            to_json(&SetChargingProfileRequest {
                evse_id: *evse_id,
                charging_profile: profile_to_wire(profile).ok_or_else(refused)?,
            }),
        ),
        // K10.
        C::ClearChargingProfile {
            id,
            evse_id,
            purpose,
            stack_level,
        } => (
            "ClearChargingProfile",
            to_json(&clear_charging_profile_request(
                *id,
                *evse_id,
                *purpose,
                *stack_level,
            )),
        ),
        // K09. An empty criterion asks for every profile.
        C::GetChargingProfiles {
            request_id,
            evse_id,
            purpose,
        } => (
            "GetChargingProfiles",
            to_json(&GetChargingProfilesRequest {
                request_id: *request_id,
                evse_id: *evse_id,
                charging_profile: ChargingProfileCriterionWire {
                    charging_profile_purpose: purpose.map(purpose_to_wire),
                },
            }),
        ),
        // K08.
        C::GetCompositeSchedule {
            evse_id,
            duration_s,
            rate_unit,
        } => (
            "GetCompositeSchedule",
            to_json(&GetCompositeScheduleRequest {
                duration: *duration_s,
                charging_rate_unit: rate_unit.map(rate_unit_to_wire),
                evse_id: *evse_id,
            }),
        ),
        // Another area's command (`encode` routes).
        _ => return Err(refused()),
    })
}

/// Reservations (H) and the local authorization list (D).
fn authorization_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        // H01. A reservation is for a driver's card, so an untyped token is ISO14443
        // (RFID), the token type 1.6 idTags stand for.
        C::ReserveNow {
            reservation_id,
            evse_id,
            expiry,
            id_token,
            group_id,
        } => (
            "ReserveNow",
            to_json(&ReserveNowRequest {
                id: *reservation_id,
                expiry_date_time: *expiry,
                id_token: id_token_to_wire(id_token, IdTokenKind::Iso14443).ok_or_else(refused)?,
                evse_id: *evse_id,
                // H03.FR.08: a group reservation admits the cards of this group; a group
                // is a Central token, as in idTokenInfo.groupIdToken (convert.rs).
                group_id_token: match group_id {
                    Some(g) => Some(IdTokenWire {
                        id_token: bounded(g).ok_or_else(refused)?,
                        kind: IdTokenKind::Central,
                    }),
                    None => None,
                },
            }),
        ),
        // H02.
        C::CancelReservation { reservation_id } => (
            "CancelReservation",
            to_json(&CancelReservationRequest {
                reservation_id: *reservation_id,
            }),
        ),
        // D01.
        C::SendLocalList {
            version,
            full,
            entries,
        } => (
            "SendLocalList",
            to_json(&send_local_list_request(*version, *full, entries).ok_or_else(refused)?),
        ),
        // C11.
        C::ClearCache => ("ClearCache", serde_json::json!({})),
        // D02.
        C::GetLocalListVersion => (
            "GetLocalListVersion",
            to_json(&GetLocalListVersionRequest {}),
        ),
        // Another area's command (`encode` routes).
        _ => return Err(refused()),
    })
}

// ---- Responses to replies ------------------------------------------------------------------

/// A response carrying only a status of the enumeration `S`, read strictly.
fn status<S: WireEnum + DeserializeOwned>(payload: Value) -> Result<CommandReply, PayloadError> {
    let response: StatusResponse<S> = parse(payload)?;
    Ok(CommandReply::from_status(response.status.as_str()))
}

/// Accepted results carry values; UnknownComponent/UnknownVariable name keys the
/// station does not have; Rejected and NotSupportedAttributeType are keys it has but
/// would not read, listed with no value. GetVariables says nothing about
/// mutability, so `readonly` is false.
fn get_variables_reply(payload: Value) -> Result<CommandReply, PayloadError> {
    let response: GetVariablesResponse = parse(payload)?;
    let mut values = Vec::new();
    let mut unknown = Vec::new();
    for result in response.get_variable_result {
        let key = ConfigKey {
            component: Some(result.component.name.into_inner()),
            variable: result.variable.name.into_inner(),
        };
        match result.attribute_status {
            GetVariableStatus::Accepted => values.push(ConfigValue {
                key,
                value: result.attribute_value.map(Bounded::into_inner),
                readonly: false,
            }),
            GetVariableStatus::UnknownComponent | GetVariableStatus::UnknownVariable => {
                unknown.push(key)
            }
            GetVariableStatus::Rejected | GetVariableStatus::NotSupportedAttributeType => values
                .push(ConfigValue {
                    key,
                    value: None,
                    readonly: false,
                }),
        }
    }
    Ok(CommandReply::Configuration { values, unknown })
}

/// Reads the station's CALLRESULT payload for `command`, strict on every status enum.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    Ok(match command {
        ChargerCommand::RemoteStart { .. } | ChargerCommand::RemoteStop { .. } => {
            status::<RequestStartStopStatus>(payload)?
        }
        ChargerCommand::Reset { .. } => status::<ResetStatus>(payload)?,
        ChargerCommand::UnlockConnector { .. } => status::<UnlockStatus>(payload)?,
        ChargerCommand::ChangeAvailability { .. } => status::<ChangeAvailabilityStatus>(payload)?,
        ChargerCommand::GetConfiguration { .. } => get_variables_reply(payload)?,
        // One variable was set, so the first result is the answer.
        ChargerCommand::SetConfiguration { .. } => {
            let response: SetVariablesResponse = parse(payload)?;
            match response.set_variable_result.first() {
                Some(result) => CommandReply::from_status(result.attribute_status.as_str()),
                None => {
                    return Err(PayloadError::new(
                        RpcErrorCode::PropertyConstraintViolation,
                        "setVariableResult is empty (minItems 1)",
                    ));
                }
            }
        }
        ChargerCommand::GetBaseReport { .. } => status::<GenericDeviceModelStatus>(payload)?,
        ChargerCommand::Trigger { .. } => status::<TriggerMessageStatus>(payload)?,
        ChargerCommand::SetChargingProfile { .. } => status::<ChargingProfileStatus>(payload)?,
        ChargerCommand::ClearChargingProfile { .. } => {
            status::<ClearChargingProfileStatus>(payload)?
        }
        ChargerCommand::GetChargingProfiles { .. } => status::<GetChargingProfileStatus>(payload)?,
        ChargerCommand::GetCompositeSchedule { .. } => {
            let response: GetCompositeScheduleResponse = parse(payload)?;
            CommandReply::CompositeSchedule {
                accepted: response.status == GenericStatus::Accepted,
                schedule: response.schedule.map(composite_from_wire),
            }
        }
        ChargerCommand::ReserveNow { .. } => status::<ReserveNowStatus>(payload)?,
        ChargerCommand::CancelReservation { .. } => status::<CancelReservationStatus>(payload)?,
        ChargerCommand::SendLocalList { .. } => status::<SendLocalListStatus>(payload)?,
        ChargerCommand::ClearCache => status::<ClearCacheStatus>(payload)?,
        ChargerCommand::DataTransfer { .. } => {
            let response: DataTransferResponse = parse(payload)?;
            let status = response.status.as_str();
            CommandReply::DataTransfer {
                status: status.to_string(),
                accepted: status == "Accepted",
                data: response.data,
            }
        }
        ChargerCommand::UpdateFirmware { .. } | ChargerCommand::GetLog { .. } => {
            super::device::decode_reply(command, payload)?
        }
        ChargerCommand::GetTransactionStatus { .. } | ChargerCommand::SetNetworkProfile { .. } => {
            super::station::decode_reply(command, payload)?
        }
        ChargerCommand::GetInstalledCertificateIds { .. }
        | ChargerCommand::InstallCertificate { .. }
        | ChargerCommand::DeleteCertificate { .. }
        | ChargerCommand::CertificateSigned { .. } => {
            super::certificates::decode_reply(command, payload)?
        }
        ChargerCommand::CustomerInformation { .. } => super::customer::decode_reply(payload)?,
        ChargerCommand::Relay { .. } => CommandReply::Relayed(payload),
        ChargerCommand::GetLocalListVersion => {
            let response: GetLocalListVersionResponse = parse(payload)?;
            CommandReply::LocalListVersion(response.version_number)
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;
    use crate::ocpp::model::*;
    use crate::ocpp::schema_check::assert_valid;
    use crate::ocpp::v201::{decode_command_reply, encode_command};

    fn t(text: &str) -> DateTime<Utc> {
        crate::ocpp::time::parse(text).expect("test timestamp")
    }

    fn token(id: &str, kind: Option<&str>) -> IdToken {
        IdToken {
            id: id.into(),
            kind: kind.map(str::to_string),
        }
    }

    fn profile(purpose: ProfilePurpose, tx: Option<TxKey>, limits: &[f64]) -> ChargingProfile {
        ChargingProfile {
            id: 31,
            stack_level: 2,
            purpose,
            kind: ProfileKind::Absolute,
            recurrency_weekly: None,
            tx,
            valid_from: Some(t("2026-03-01T00:00:00Z")),
            valid_to: None,
            schedule: ChargingSchedule {
                start: Some(t("2026-03-01T08:00:00Z")),
                duration_s: Some(900),
                rate_unit: RateUnit::Amps,
                periods: limits
                    .iter()
                    .enumerate()
                    .map(|(i, &limit)| SchedulePeriod {
                        start_s: 300 * i as u32,
                        limit,
                        phases: Some(3),
                    })
                    .collect(),
                min_rate: Some(6.0),
            },
        }
    }

    fn key(component: Option<&str>, variable: &str) -> ConfigKey {
        ConfigKey {
            component: component.map(str::to_string),
            variable: variable.into(),
        }
    }

    /// The check of `every_command_encodes_to_a_valid_request_*`: each case as the test's doc says.
    fn every_command_encodes_to_a_valid_request_cases(cases: Vec<(ChargerCommand, &str, Value)>) {
        for (command, want_action, want) in cases {
            let (action, payload) =
                encode_command(&command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
            assert_eq!(action, want_action, "{command:?}");
            assert_valid("v201", action, false, &payload);
            assert_eq!(payload, want, "{command:?}");
        }
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// Remote start and stop.
    #[test]
    fn every_command_encodes_to_a_valid_request_remote_start_stop() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::RemoteStart {
                    evse_id: Some(1),
                    id_token: token("APP-7", None),
                    profile: Some(profile(ProfilePurpose::Tx, None, &[16.0])),
                    remote_start_id: 9001,
                },
                "RequestStartTransaction",
                json!({"evseId": 1, "idToken": {"idToken": "APP-7", "type": "Central"}, "remoteStartId": 9001,
                    "chargingProfile": {"id": 31, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
                        "chargingProfileKind": "Absolute", "validFrom": "2026-03-01T00:00:00.000Z",
                        "chargingSchedule": [{"id": 31, "startSchedule": "2026-03-01T08:00:00.000Z", "duration": 900,
                            "chargingRateUnit": "A", "minChargingRate": 6.0,
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}]}}),
            ),
            (
                ChargerCommand::RemoteStart {
                    evse_id: None,
                    id_token: token("04A2B3C4", Some("ISO14443")),
                    profile: None,
                    remote_start_id: 1,
                },
                "RequestStartTransaction",
                json!({"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}, "remoteStartId": 1}),
            ),
            (
                ChargerCommand::RemoteStop {
                    tx: TxKey::Charger("d3b0c1e2-7f".into()),
                },
                "RequestStopTransaction",
                json!({"transactionId": "d3b0c1e2-7f"}),
            ),
            (
                ChargerCommand::RemoteStop {
                    tx: TxKey::Csms(1234),
                },
                "RequestStopTransaction",
                json!({"transactionId": "1234"}),
            ),
        ]);
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// Unlocking, availability and triggered messages.
    #[test]
    fn every_command_encodes_to_a_valid_request_station_control() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::UnlockConnector {
                    evse: EvseRef {
                        evse_id: 2,
                        connector_id: None,
                    },
                },
                "UnlockConnector",
                json!({"evseId": 2, "connectorId": 1}),
            ),
            (
                ChargerCommand::UnlockConnector {
                    evse: EvseRef {
                        evse_id: 1,
                        connector_id: Some(2),
                    },
                },
                "UnlockConnector",
                json!({"evseId": 1, "connectorId": 2}),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    evse: None,
                    operative: false,
                },
                "ChangeAvailability",
                json!({"operationalStatus": "Inoperative"}),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    evse: Some(EvseRef {
                        evse_id: 0,
                        connector_id: None,
                    }),
                    operative: true,
                },
                "ChangeAvailability",
                json!({"operationalStatus": "Operative"}),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    evse: Some(EvseRef {
                        evse_id: 2,
                        connector_id: Some(1),
                    }),
                    operative: true,
                },
                "ChangeAvailability",
                json!({"operationalStatus": "Operative", "evse": {"id": 2, "connectorId": 1}}),
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::DiagnosticsStatusNotification,
                    evse_id: None,
                },
                "TriggerMessage",
                json!({"requestedMessage": "LogStatusNotification"}),
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::StatusNotification,
                    evse_id: Some(2),
                },
                "TriggerMessage",
                json!({"requestedMessage": "StatusNotification", "evse": {"id": 2}}),
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::TransactionEvent,
                    evse_id: Some(0),
                },
                "TriggerMessage",
                json!({"requestedMessage": "TransactionEvent"}),
            ),
        ]);
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// Reset, configuration and reports.
    #[test]
    fn every_command_encodes_to_a_valid_request_provisioning() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Soft,
                    evse_id: None,
                },
                "Reset",
                json!({"type": "OnIdle"}),
            ),
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Hard,
                    evse_id: None,
                },
                "Reset",
                json!({"type": "Immediate"}),
            ),
            // B11/B12: a reset of one EVSE.
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Hard,
                    evse_id: Some(2),
                },
                "Reset",
                json!({"type": "Immediate", "evseId": 2}),
            ),
            (
                ChargerCommand::GetConfiguration {
                    keys: vec![
                        key(None, "HeartbeatInterval"),
                        key(None, "TxUpdatedInterval"),
                        key(Some("EVSE"), "Power"),
                    ],
                },
                "GetVariables",
                json!({"getVariableData": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}},
                    {"component": {"name": "EVSE"}, "variable": {"name": "Power"}}]}),
            ),
            (
                ChargerCommand::SetConfiguration {
                    key: key(None, "LocalPreAuthorize"),
                    value: "true".into(),
                },
                "SetVariables",
                json!({"setVariableData": [{"attributeValue": "true",
                    "component": {"name": "AuthCtrlr"}, "variable": {"name": "LocalPreAuthorize"}}]}),
            ),
            (
                ChargerCommand::GetBaseReport {
                    request_id: 5,
                    report: "FullInventory".into(),
                },
                "GetBaseReport",
                json!({"requestId": 5, "reportBase": "FullInventory"}),
            ),
        ]);
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// Setting charging profiles.
    #[test]
    fn every_command_encodes_to_a_valid_request_set_charging_profile() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 1,
                    profile: profile(
                        ProfilePurpose::Tx,
                        Some(TxKey::Charger("tx-9".into())),
                        &[16.07, 7.3, 0.0],
                    ),
                },
                "SetChargingProfile",
                json!({"evseId": 1, "chargingProfile": {"id": 31, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Absolute", "validFrom": "2026-03-01T00:00:00.000Z", "transactionId": "tx-9",
                    "chargingSchedule": [{"id": 31, "startSchedule": "2026-03-01T08:00:00.000Z", "duration": 900,
                        "chargingRateUnit": "A", "minChargingRate": 6.0, "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                            {"startPeriod": 300, "limit": 7.3, "numberPhases": 3},
                            {"startPeriod": 600, "limit": 0.0, "numberPhases": 3}]}]}}),
            ),
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 0,
                    profile: ChargingProfile {
                        kind: ProfileKind::Recurring,
                        recurrency_weekly: Some(true),
                        schedule: ChargingSchedule {
                            start: None,
                            duration_s: None,
                            rate_unit: RateUnit::Watts,
                            periods: vec![SchedulePeriod {
                                start_s: 0,
                                limit: 11039.99,
                                phases: None,
                            }],
                            min_rate: None,
                        },
                        // A station-wide profile never carries a transaction id.
                        ..profile(ProfilePurpose::ChargePointMax, Some(TxKey::Csms(3)), &[])
                    },
                },
                "SetChargingProfile",
                json!({"evseId": 0, "chargingProfile": {"id": 31, "stackLevel": 2,
                    "chargingProfilePurpose": "ChargingStationMaxProfile", "chargingProfileKind": "Recurring",
                    "recurrencyKind": "Weekly", "validFrom": "2026-03-01T00:00:00.000Z",
                    "chargingSchedule": [{"id": 31, "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11039.9}]}]}}),
            ),
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 1,
                    profile: ChargingProfile {
                        kind: ProfileKind::Recurring,
                        ..profile(ProfilePurpose::TxDefault, None, &[32.0])
                    },
                },
                "SetChargingProfile",
                json!({"evseId": 1, "chargingProfile": {"id": 31, "stackLevel": 2,
                    "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
                    "recurrencyKind": "Daily", "validFrom": "2026-03-01T00:00:00.000Z",
                    "chargingSchedule": [{"id": 31, "startSchedule": "2026-03-01T08:00:00.000Z", "duration": 900,
                        "chargingRateUnit": "A", "minChargingRate": 6.0,
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0, "numberPhases": 3}]}]}}),
            ),
        ]);
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// Clearing and reading profiles and schedules.
    #[test]
    fn every_command_encodes_to_a_valid_request_charging_queries() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::ClearChargingProfile {
                    id: Some(31),
                    evse_id: None,
                    purpose: None,
                    stack_level: None,
                },
                "ClearChargingProfile",
                json!({"chargingProfileId": 31}),
            ),
            (
                ChargerCommand::ClearChargingProfile {
                    id: None,
                    evse_id: Some(1),
                    purpose: Some(ProfilePurpose::TxDefault),
                    stack_level: Some(0),
                },
                "ClearChargingProfile",
                json!({"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}}),
            ),
            (
                ChargerCommand::GetChargingProfiles {
                    request_id: 8,
                    evse_id: None,
                    purpose: None,
                },
                "GetChargingProfiles",
                json!({"requestId": 8, "chargingProfile": {}}),
            ),
            (
                ChargerCommand::GetChargingProfiles {
                    request_id: 8,
                    evse_id: Some(1),
                    purpose: Some(ProfilePurpose::ChargePointMax),
                },
                "GetChargingProfiles",
                json!({"requestId": 8, "evseId": 1, "chargingProfile": {"chargingProfilePurpose": "ChargingStationMaxProfile"}}),
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 1,
                    duration_s: 3600,
                    rate_unit: Some(RateUnit::Watts),
                },
                "GetCompositeSchedule",
                json!({"evseId": 1, "duration": 3600, "chargingRateUnit": "W"}),
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 0,
                    duration_s: 60,
                    rate_unit: None,
                },
                "GetCompositeSchedule",
                json!({"evseId": 0, "duration": 60}),
            ),
        ]);
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// Reservations.
    #[test]
    fn every_command_encodes_to_a_valid_request_reservations() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 4,
                    evse_id: Some(2),
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: token("04A2B3C4", None),
                    group_id: None,
                },
                "ReserveNow",
                json!({"id": 4, "evseId": 2, "expiryDateTime": "2026-03-01T09:00:00.000Z",
                    "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}}),
            ),
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 5,
                    evse_id: None,
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: token("DRIVER-1", None),
                    group_id: Some("FLEET".into()),
                },
                "ReserveNow",
                json!({"id": 5, "expiryDateTime": "2026-03-01T09:00:00.000Z",
                    "idToken": {"idToken": "DRIVER-1", "type": "ISO14443"},
                    "groupIdToken": {"idToken": "FLEET", "type": "Central"}}),
            ),
            (
                ChargerCommand::CancelReservation { reservation_id: 4 },
                "CancelReservation",
                json!({"reservationId": 4}),
            ),
        ]);
    }

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    /// The local authorization list.
    #[test]
    fn every_command_encodes_to_a_valid_request_local_list() {
        every_command_encodes_to_a_valid_request_cases(vec![
            (
                ChargerCommand::SendLocalList {
                    version: 12,
                    full: false,
                    entries: vec![
                        LocalListEntry {
                            id_token: token("04A2B3C4", None),
                            info: Some(IdTokenInfo {
                                status: AuthorizationStatus::Accepted,
                                expiry: Some(t("2026-12-31T23:59:59Z")),
                                group_id: Some("FLEET".into()),
                            }),
                        },
                        LocalListEntry {
                            id_token: token("KEY-1", Some("KeyCode")),
                            info: None,
                        },
                    ],
                },
                "SendLocalList",
                json!({"versionNumber": 12, "updateType": "Differential", "localAuthorizationList": [
                    {"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"},
                     "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2026-12-31T23:59:59.000Z",
                        "groupIdToken": {"idToken": "FLEET", "type": "Central"}}},
                    {"idToken": {"idToken": "KEY-1", "type": "KeyCode"}}]}),
            ),
            (
                ChargerCommand::SendLocalList {
                    version: 13,
                    full: true,
                    entries: vec![],
                },
                "SendLocalList",
                json!({"versionNumber": 13, "updateType": "Full"}),
            ),
            (
                ChargerCommand::GetLocalListVersion,
                "GetLocalListVersion",
                json!({}),
            ),
        ]);
    }

    #[test]
    fn commands_2_0_1_cannot_express_are_refused() {
        let cases: Vec<ChargerCommand> = vec![
            // "Every key" has no GetVariables form (GetBaseReport is the 2.0.1 way).
            ChargerCommand::GetConfiguration { keys: vec![] },
            ChargerCommand::GetConfiguration {
                keys: vec![key(None, &"V".repeat(51))],
            },
            ChargerCommand::SetConfiguration {
                key: key(Some("OCPPCommCtrlr"), "HeartbeatInterval"),
                value: "9".repeat(1001),
            },
            ChargerCommand::GetBaseReport {
                request_id: 1,
                report: "Everything".into(),
            },
            ChargerCommand::RemoteStart {
                evse_id: None,
                id_token: token("X", Some("RFID")),
                profile: None,
                remote_start_id: 1,
            },
            ChargerCommand::ReserveNow {
                reservation_id: 1,
                evse_id: None,
                expiry: t("2026-03-01T09:00:00Z"),
                id_token: token(&"9".repeat(37), None),
                group_id: None,
            },
            ChargerCommand::RemoteStop {
                tx: TxKey::Charger("T".repeat(37)),
            },
        ];
        for command in cases {
            let err = encode_command(&command).expect_err(&format!("{command:?}"));
            assert_eq!(
                err,
                NotInVersion {
                    command: command.name(),
                    version: "v201"
                }
            );
        }
    }

    /// A status reply.
    fn status(status: &str, accepted: bool) -> CommandReply {
        CommandReply::Status {
            status: status.into(),
            accepted,
        }
    }

    /// Each command with a response the station may send, validated against the response
    /// schema, and the reply it must decode to.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn every_command_reply_decodes() {
        let start = ChargerCommand::RemoteStart {
            evse_id: None,
            id_token: token("A", None),
            profile: None,
            remote_start_id: 1,
        };
        let get_config = ChargerCommand::GetConfiguration {
            keys: vec![key(None, "HeartbeatInterval")],
        };
        let set_config = ChargerCommand::SetConfiguration {
            key: key(None, "HeartbeatInterval"),
            value: "60".into(),
        };
        let cases: Vec<(ChargerCommand, &str, Value, CommandReply)> = vec![
            (
                start.clone(),
                "RequestStartTransaction",
                json!({"status": "Accepted", "transactionId": "tx-1"}),
                status("Accepted", true),
            ),
            (
                start,
                "RequestStartTransaction",
                json!({"status": "Rejected", "statusInfo": {"reasonCode": "Occupied"}}),
                status("Rejected", false),
            ),
            (
                ChargerCommand::RemoteStop { tx: TxKey::Csms(1) },
                "RequestStopTransaction",
                json!({"status": "Rejected"}),
                status("Rejected", false),
            ),
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Soft,
                    evse_id: None,
                },
                "Reset",
                json!({"status": "Scheduled"}),
                status("Scheduled", true),
            ),
            (
                ChargerCommand::UnlockConnector {
                    evse: EvseRef::default(),
                },
                "UnlockConnector",
                json!({"status": "Unlocked"}),
                status("Unlocked", true),
            ),
            (
                ChargerCommand::UnlockConnector {
                    evse: EvseRef::default(),
                },
                "UnlockConnector",
                json!({"status": "OngoingAuthorizedTransaction"}),
                status("OngoingAuthorizedTransaction", false),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    evse: None,
                    operative: true,
                },
                "ChangeAvailability",
                json!({"status": "Scheduled"}),
                status("Scheduled", true),
            ),
            (
                get_config,
                "GetVariables",
                json!({"getVariableResult": [
                    {"attributeStatus": "Accepted", "attributeValue": "300", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"attributeStatus": "UnknownVariable", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
                    {"attributeStatus": "UnknownComponent", "component": {"name": "Nothing"}, "variable": {"name": "X"}},
                    {"attributeStatus": "Rejected", "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]}),
                CommandReply::Configuration {
                    values: vec![
                        ConfigValue {
                            key: key(Some("OCPPCommCtrlr"), "HeartbeatInterval"),
                            value: Some("300".into()),
                            readonly: false,
                        },
                        ConfigValue {
                            key: key(Some("SecurityCtrlr"), "BasicAuthPassword"),
                            value: None,
                            readonly: false,
                        },
                    ],
                    unknown: vec![
                        key(Some("OCPPCommCtrlr"), "Nope"),
                        key(Some("Nothing"), "X"),
                    ],
                },
            ),
            (
                set_config.clone(),
                "SetVariables",
                json!({"setVariableResult": [{"attributeStatus": "RebootRequired", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
                status("RebootRequired", true),
            ),
            (
                set_config,
                "SetVariables",
                json!({"setVariableResult": [{"attributeStatus": "UnknownVariable", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
                status("UnknownVariable", false),
            ),
            (
                ChargerCommand::GetBaseReport {
                    request_id: 1,
                    report: "FullInventory".into(),
                },
                "GetBaseReport",
                json!({"status": "EmptyResultSet"}),
                status("EmptyResultSet", false),
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::Heartbeat,
                    evse_id: None,
                },
                "TriggerMessage",
                json!({"status": "NotImplemented"}),
                status("NotImplemented", false),
            ),
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 1,
                    profile: profile(ProfilePurpose::TxDefault, None, &[16.0]),
                },
                "SetChargingProfile",
                json!({"status": "Accepted"}),
                status("Accepted", true),
            ),
            (
                ChargerCommand::ClearChargingProfile {
                    id: Some(1),
                    evse_id: None,
                    purpose: None,
                    stack_level: None,
                },
                "ClearChargingProfile",
                json!({"status": "Unknown"}),
                status("Unknown", false),
            ),
            (
                ChargerCommand::GetChargingProfiles {
                    request_id: 1,
                    evse_id: None,
                    purpose: None,
                },
                "GetChargingProfiles",
                json!({"status": "NoProfiles"}),
                status("NoProfiles", false),
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 1,
                    duration_s: 600,
                    rate_unit: Some(RateUnit::Amps),
                },
                "GetCompositeSchedule",
                json!({"status": "Accepted", "schedule": {"evseId": 1, "duration": 600, "scheduleStart": "2026-03-01T08:00:00Z",
                    "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 13.5, "numberPhases": 1}]}}),
                CommandReply::CompositeSchedule {
                    accepted: true,
                    schedule: Some(ChargingSchedule {
                        start: Some(t("2026-03-01T08:00:00Z")),
                        duration_s: Some(600),
                        rate_unit: RateUnit::Amps,
                        periods: vec![SchedulePeriod {
                            start_s: 0,
                            limit: 13.5,
                            phases: Some(1),
                        }],
                        min_rate: None,
                    }),
                },
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 9,
                    duration_s: 600,
                    rate_unit: None,
                },
                "GetCompositeSchedule",
                json!({"status": "Rejected"}),
                CommandReply::CompositeSchedule {
                    accepted: false,
                    schedule: None,
                },
            ),
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 1,
                    evse_id: None,
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: token("A", None),
                    group_id: None,
                },
                "ReserveNow",
                json!({"status": "Occupied"}),
                status("Occupied", false),
            ),
            (
                ChargerCommand::CancelReservation { reservation_id: 1 },
                "CancelReservation",
                json!({"status": "Accepted"}),
                status("Accepted", true),
            ),
            (
                ChargerCommand::SendLocalList {
                    version: 1,
                    full: true,
                    entries: vec![],
                },
                "SendLocalList",
                json!({"status": "VersionMismatch"}),
                status("VersionMismatch", false),
            ),
            (
                ChargerCommand::GetLocalListVersion,
                "GetLocalListVersion",
                json!({"versionNumber": 12}),
                CommandReply::LocalListVersion(12),
            ),
        ];
        for (command, action, payload, want) in cases {
            assert_valid("v201", action, true, &payload);
            let got =
                decode_command_reply(&command, payload).unwrap_or_else(|e| panic!("{action}: {e}"));
            assert_eq!(got, want, "{action}");
        }
    }

    #[test]
    fn bad_command_replies_get_the_right_error_code() {
        use RpcErrorCode::*;
        let reset = ChargerCommand::Reset {
            kind: ResetKind::Hard,
            evse_id: None,
        };
        let cases: Vec<(ChargerCommand, Value, RpcErrorCode)> = vec![
            // An enum value of a neighbouring type is still wrong for this one.
            (
                reset.clone(),
                json!({"status": "Unlocked"}),
                PropertyConstraintViolation,
            ),
            (
                reset.clone(),
                json!({"status": "accepted"}),
                PropertyConstraintViolation,
            ),
            (reset.clone(), json!({}), OccurrenceConstraintViolation),
            (reset, json!({"status": 1}), TypeConstraintViolation),
            (
                ChargerCommand::GetLocalListVersion,
                json!({"versionNumber": "12"}),
                TypeConstraintViolation,
            ),
            (
                ChargerCommand::GetLocalListVersion,
                json!({}),
                OccurrenceConstraintViolation,
            ),
            (
                ChargerCommand::GetConfiguration {
                    keys: vec![key(None, "HeartbeatInterval")],
                },
                json!({"getVariableResult": [{"attributeStatus": "Maybe", "component": {"name": "C"}, "variable": {"name": "V"}}]}),
                PropertyConstraintViolation,
            ),
            (
                ChargerCommand::SetConfiguration {
                    key: key(None, "HeartbeatInterval"),
                    value: "1".into(),
                },
                json!({"setVariableResult": []}),
                PropertyConstraintViolation,
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 1,
                    duration_s: 60,
                    rate_unit: None,
                },
                json!({"status": "Accepted", "schedule": {"evseId": 1, "duration": 60, "scheduleStart": "2026-03-01T08:00:00Z",
                    "chargingRateUnit": "kW", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}]}}),
                PropertyConstraintViolation,
            ),
        ];
        for (command, payload, want) in cases {
            let err =
                decode_command_reply(&command, payload.clone()).expect_err(&format!("{payload}"));
            assert_eq!(err.code, want, "{payload}: {}", err.message);
        }
    }
}
