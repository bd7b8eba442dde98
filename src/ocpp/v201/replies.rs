//! The charging station's answers to chargegate's OCPP 2.0.1 commands: each CALLRESULT
//! payload read back into a version-blind `CommandReply`.
//!
//! Owns the response wire types and what counts as a yes (`Accepted`, `Scheduled`,
//! `Unlocked`, `RebootRequired`). Strict on every status enum: a word outside the
//! command's own enum is a PropertyConstraintViolation, never guessed at. It must never
//! act on a reply; the caller decides what a refusal means.

use serde::Deserialize;
use serde_json::Value;

use super::charging::{CompositeScheduleWire, composite_from_wire};
use super::convert::parse;
use super::enums::*;
use super::messages::{ComponentWire, StatusReply, VariableWire};
use crate::ocpp::model::{ChargerCommand, CommandReply, ConfigKey, ConfigValue};
use crate::ocpp::rpc::{PayloadError, RpcErrorCode};
use crate::ocpp::strings::Bounded;

/// The positive statuses: the station did, or will do, what was asked.
fn is_positive(status: &str) -> bool {
    matches!(
        status,
        "Accepted" | "Scheduled" | "Unlocked" | "RebootRequired"
    )
}

fn status_reply(status: &'static str) -> CommandReply {
    CommandReply::Status {
        status: status.to_string(),
        accepted: is_positive(status),
    }
}

/// Reads a `{status}` response whose status enum is `$enum`, strictly.
macro_rules! status_of {
    ($payload:expr, $enum:ty) => {{
        let reply: StatusReply<$enum> = parse($payload)?;
        status_reply(reply.status.as_str())
    }};
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetVariablesResponse {
    get_variable_result: Vec<GetVariableResult>,
}

/// GetVariableResultType.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetVariableResult {
    attribute_status: GetVariableStatus,
    attribute_value: Option<Bounded<2500>>,
    component: ComponentWire,
    variable: VariableWire,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetVariablesResponse {
    set_variable_result: Vec<SetVariableResult>,
}

/// SetVariableResultType.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetVariableResult {
    attribute_status: SetVariableStatus,
    #[serde(rename = "component")]
    _component: ComponentWire,
    #[serde(rename = "variable")]
    _variable: VariableWire,
}

#[derive(Debug, Deserialize)]
struct GetCompositeScheduleResponse {
    status: GenericStatus,
    schedule: Option<CompositeScheduleWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLocalListVersionResponse {
    version_number: i32,
}

/// Reads the station's CALLRESULT payload for `command`, strict on every status enum.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    Ok(match command {
        ChargerCommand::RemoteStart { .. } | ChargerCommand::RemoteStop { .. } => {
            status_of!(payload, RequestStartStopStatus)
        }
        ChargerCommand::Reset { .. } => status_of!(payload, ResetStatus),
        ChargerCommand::UnlockConnector { .. } => status_of!(payload, UnlockStatus),
        ChargerCommand::ChangeAvailability { .. } => {
            status_of!(payload, ChangeAvailabilityStatus)
        }
        // Accepted results carry values; UnknownComponent/UnknownVariable name keys the
        // station does not have; Rejected and NotSupportedAttributeType are keys it has but
        // would not read, listed with no value. GetVariables says nothing about
        // mutability, so `readonly` is false.
        ChargerCommand::GetConfiguration { .. } => {
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
                    GetVariableStatus::Rejected | GetVariableStatus::NotSupportedAttributeType => {
                        values.push(ConfigValue {
                            key,
                            value: None,
                            readonly: false,
                        })
                    }
                }
            }
            CommandReply::Configuration { values, unknown }
        }
        // One variable was set, so the first result is the answer.
        ChargerCommand::SetConfiguration { .. } => {
            let response: SetVariablesResponse = parse(payload)?;
            match response.set_variable_result.first() {
                Some(result) => status_reply(result.attribute_status.as_str()),
                None => {
                    return Err(PayloadError::new(
                        RpcErrorCode::PropertyConstraintViolation,
                        "setVariableResult is empty (minItems 1)",
                    ));
                }
            }
        }
        ChargerCommand::GetBaseReport { .. } => status_of!(payload, GenericDeviceModelStatus),
        ChargerCommand::Trigger { .. } => status_of!(payload, TriggerMessageStatus),
        ChargerCommand::SetChargingProfile { .. } => status_of!(payload, ChargingProfileStatus),
        ChargerCommand::ClearChargingProfile { .. } => {
            status_of!(payload, ClearChargingProfileStatus)
        }
        ChargerCommand::GetChargingProfiles { .. } => {
            status_of!(payload, GetChargingProfileStatus)
        }
        ChargerCommand::GetCompositeSchedule { .. } => {
            let response: GetCompositeScheduleResponse = parse(payload)?;
            CommandReply::CompositeSchedule {
                accepted: response.status == GenericStatus::Accepted,
                schedule: response.schedule.map(composite_from_wire),
            }
        }
        ChargerCommand::ReserveNow { .. } => status_of!(payload, ReserveNowStatus),
        ChargerCommand::CancelReservation { .. } => status_of!(payload, CancelReservationStatus),
        ChargerCommand::SendLocalList { .. } => status_of!(payload, SendLocalListStatus),
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
    use crate::ocpp::v201::decode_command_reply;

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

    /// Every command, the action it becomes and the exact payload, which must also pass
    /// the request schema.
    fn status(status: &str, accepted: bool) -> CommandReply {
        CommandReply::Status {
            status: status.into(),
            accepted,
        }
    }

    /// Each command with a response the station may send, validated against the response
    /// schema, and the reply it must decode to.
    #[test]
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
