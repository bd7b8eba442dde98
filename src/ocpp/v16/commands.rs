//! CSMS-to-charger direction of OCPP 1.6: `ChargerCommand` -> (action, request payload),
//! and the charger's .conf payload -> `CommandReply`.
//!
//! Owns what 1.6 can and cannot express. A command 1.6 has no message for, or whose content
//! 1.6 cannot carry without changing its meaning (an id tag over 20 characters, a
//! transaction key that is not a 1.6 integer id), is refused with `NotInVersion` instead of
//! being bent into something else. Limits are rounded down, never up (DESIGN.md S1). This
//! module must never write a request its schema refuses, and never read a .conf loosely: a
//! status outside its enumeration is a PropertyConstraintViolation.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::charging::{
    composite_from_wire, profile_to_wire, purpose_to_wire, rate_unit_to_wire, tx_key_to_wire,
};
use super::convert::id_tag_info;
use super::enums::{
    AvailabilityStatus, AvailabilityType, CancelReservationStatus, ChargingProfileStatus,
    ClearCacheStatus, ClearChargingProfileStatus, ConfigurationStatus, GetCompositeScheduleStatus,
    RemoteStartStopStatus, ReservationStatus, ResetKindWire, ResetStatus, TriggerKindWire,
    TriggerMessageStatus, UnlockStatus, UpdateStatus, UpdateType, WireEnum,
};
use super::messages as wire;
use super::{VERSION, parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{
    ChargerCommand, ChargingProfile, CommandReply, ConfigKey, ConfigValue, IdToken, LocalListEntry,
    ResetKind, TriggerKind,
};
use crate::ocpp::rpc::{PayloadError, RpcErrorCode};
use crate::ocpp::strings::Bounded;

// ---- Commands -> requests -----------------------------------------------------------------

/// The (action, payload) of `command`. `NotInVersion` when 1.6 lacks the message or cannot
/// carry its content (see the module comment). Routed by functional area, the same areas as
/// in 2.0.1.
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
        // 2.0.1 only (E14, B09, M03-M05, A02, N09): 1.6 has no such message (the 1.6
        // security extension's certificate messages are not sent by chargegate).
        C::GetTransactionStatus { .. }
        | C::SetNetworkProfile { .. }
        | C::GetInstalledCertificateIds { .. }
        | C::InstallCertificate { .. }
        | C::DeleteCertificate { .. }
        | C::CertificateSigned { .. }
        | C::CustomerInformation { .. } => Err(refuse(command)),
        C::Relay { action, payload } => Ok((action, payload.clone())),
        C::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => Ok((
            "DataTransfer",
            to_json(&wire::DataTransferCall {
                vendor_id: bounded(vendor_id).ok_or_else(|| refuse(command))?,
                message_id: match message_id {
                    Some(m) => Some(bounded(m).ok_or_else(|| refuse(command))?),
                    None => None,
                },
                data: data.as_ref().map(|d| match d {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                }),
            }),
        )),
    }
}

fn refuse(command: &ChargerCommand) -> NotInVersion {
    NotInVersion {
        command: command.name(),
        version: VERSION,
    }
}

/// Remote start and stop, unlocking, availability and triggered messages (Core and
/// RemoteTrigger profiles).
fn remote_control_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        C::RemoteStart {
            evse_id,
            id_token,
            profile,
            remote_start_id: _,
        } => (
            "RemoteStartTransaction",
            to_json(
                &remote_start_request(*evse_id, id_token, profile.as_ref()).ok_or_else(refused)?,
            ),
        ),
        C::RemoteStop { tx } => (
            "RemoteStopTransaction",
            to_json(&wire::RemoteStopTransactionRequest {
                transaction_id: tx_key_to_wire(tx).ok_or_else(refused)?,
            }),
        ),
        C::UnlockConnector { evse } => (
            "UnlockConnector",
            to_json(&wire::UnlockConnectorRequest {
                connector_id: evse.evse_id,
            }),
        ),
        C::ChangeAvailability { evse, operative } => (
            "ChangeAvailability",
            to_json(&wire::ChangeAvailabilityRequest {
                // §6.7: connectorId 0 is the whole charge point.
                connector_id: evse.map_or(0, |e| e.evse_id),
                kind: if *operative {
                    AvailabilityType::Operative
                } else {
                    AvailabilityType::Inoperative
                },
            }),
        ),
        C::Trigger { message, evse_id } => (
            "TriggerMessage",
            to_json(&wire::TriggerMessageRequest {
                requested_message: message_trigger(*message).ok_or_else(refused)?,
                connector_id: *evse_id,
            }),
        ),
        // Another area's command (`encode` routes): refused rather than sent as something else.
        _ => return Err(refused()),
    })
}

/// Reset and configuration keys (Core profile). 1.6 has no device-model report.
fn provisioning_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        C::Reset {
            kind,
            evse_id: None,
        } => (
            "Reset",
            to_json(&wire::ResetRequest {
                kind: match kind {
                    ResetKind::Soft => ResetKindWire::Soft,
                    ResetKind::Hard => ResetKindWire::Hard,
                },
            }),
        ),
        C::GetConfiguration { keys } => (
            "GetConfiguration",
            to_json(&wire::GetConfigurationRequest {
                // A 1.6 key is only a name; a 2.0.1 component has no 1.6 counterpart.
                key: keys
                    .iter()
                    .map(|k| bounded(&k.variable))
                    .collect::<Option<_>>()
                    .ok_or_else(refused)?,
            }),
        ),
        C::SetConfiguration { key, value } => (
            "ChangeConfiguration",
            to_json(&wire::ChangeConfigurationRequest {
                key: bounded(&key.variable).ok_or_else(refused)?,
                value: bounded(value).ok_or_else(refused)?,
            }),
        ),
        // GetBaseReport, and another area's command (`encode` routes).
        _ => return Err(refused()),
    })
}

/// Charging profiles and composite schedules (SmartCharging profile). 1.6 has no
/// GetChargingProfiles.
fn smart_charging_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        C::SetChargingProfile { evse_id, profile } => (
            "SetChargingProfile",
            to_json(&wire::SetChargingProfileRequest {
                connector_id: *evse_id,
                cs_charging_profiles: profile_to_wire(profile).ok_or_else(refused)?,
            }),
        ),
        C::ClearChargingProfile {
            id,
            evse_id,
            purpose,
            stack_level,
        } => (
            "ClearChargingProfile",
            to_json(&wire::ClearChargingProfileRequest {
                id: *id,
                connector_id: *evse_id,
                charging_profile_purpose: purpose.map(purpose_to_wire),
                stack_level: *stack_level,
            }),
        ),
        C::GetCompositeSchedule {
            evse_id,
            duration_s,
            rate_unit,
        } => (
            "GetCompositeSchedule",
            to_json(&wire::GetCompositeScheduleRequest {
                connector_id: *evse_id,
                duration: *duration_s,
                charging_rate_unit: rate_unit.map(rate_unit_to_wire),
            }),
        ),
        // GetChargingProfiles, and another area's command (`encode` routes).
        _ => return Err(refused()),
    })
}

/// Reservations and the local authorization list (Reservation and LocalAuthListManagement
/// profiles).
fn authorization_request(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    use ChargerCommand as C;
    let refused = || refuse(command);
    Ok(match command {
        C::ReserveNow {
            reservation_id,
            evse_id,
            expiry,
            id_token,
            group_id,
        } => (
            "ReserveNow",
            to_json(&wire::ReserveNowRequest {
                // §6.37: connectorId 0 reserves "not a specific connector".
                connector_id: evse_id.unwrap_or(0),
                expiry_date: *expiry,
                id_tag: bounded(&id_token.id).ok_or_else(refused)?,
                // §5.13: a group reservation admits every idTag with this parent idTag.
                parent_id_tag: match group_id {
                    Some(g) => Some(bounded(g).ok_or_else(refused)?),
                    None => None,
                },
                reservation_id: *reservation_id,
            }),
        ),
        C::CancelReservation { reservation_id } => (
            "CancelReservation",
            to_json(&wire::CancelReservationRequest {
                reservation_id: *reservation_id,
            }),
        ),
        C::SendLocalList {
            version,
            full,
            entries,
        } => (
            "SendLocalList",
            to_json(&send_local_list_request(*version, *full, entries).ok_or_else(refused)?),
        ),
        C::GetLocalListVersion => ("GetLocalListVersion", serde_json::json!({})),
        // §5.4.
        C::ClearCache => ("ClearCache", serde_json::json!({})),
        // Another area's command (`encode` routes).
        _ => return Err(refused()),
    })
}

/// RemoteStartTransaction.req (§6.33); `None` when the id tag or the profile cannot be
/// written in 1.6.
fn remote_start_request(
    evse_id: Option<u32>,
    id_token: &IdToken,
    profile: Option<&ChargingProfile>,
) -> Option<wire::RemoteStartTransactionRequest> {
    Some(wire::RemoteStartTransactionRequest {
        // §6.33: connectorId "SHALL be > 0"; "any connector" is said by leaving it out.
        connector_id: evse_id.filter(|&id| id > 0),
        id_tag: bounded(&id_token.id)?,
        charging_profile: match profile {
            Some(profile) => Some(profile_to_wire(profile)?),
            None => None,
        },
    })
}

/// The message TriggerMessage.req asks for (§7.32); 1.6 has no TransactionEvent.
fn message_trigger(kind: TriggerKind) -> Option<TriggerKindWire> {
    Some(match kind {
        TriggerKind::BootNotification => TriggerKindWire::BootNotification,
        TriggerKind::Heartbeat => TriggerKindWire::Heartbeat,
        TriggerKind::MeterValues => TriggerKindWire::MeterValues,
        TriggerKind::StatusNotification => TriggerKindWire::StatusNotification,
        TriggerKind::FirmwareStatusNotification => TriggerKindWire::FirmwareStatusNotification,
        TriggerKind::DiagnosticsStatusNotification => {
            TriggerKindWire::DiagnosticsStatusNotification
        }
        // The security extension's ExtendedTriggerMessage is not sent by chargegate.
        TriggerKind::TransactionEvent | TriggerKind::SignChargingStationCertificate => {
            return None;
        }
    })
}

/// SendLocalList.req (§6.41); `None` when an id tag is too long for 1.6.
fn send_local_list_request(
    version: i32,
    full: bool,
    entries: &[LocalListEntry],
) -> Option<wire::SendLocalListRequest> {
    let mut list = Vec::with_capacity(entries.len());
    for entry in entries {
        // §6.41/§7.1: in a full update every entry carries idTagInfo, and a tag that
        // is not in the list is not authorized locally; an entry without info is
        // therefore simply left out. In a differential update it deletes the tag.
        if full && entry.info.is_none() {
            continue;
        }
        list.push(wire::AuthorizationDataWire {
            // Refusing the whole list rather than dropping one entry: a dropped
            // deletion would leave a revoked tag authorized.
            id_tag: bounded(&entry.id_token.id)?,
            id_tag_info: entry.info.as_ref().map(id_tag_info),
        });
    }
    Some(wire::SendLocalListRequest {
        list_version: version,
        local_authorization_list: list,
        update_type: if full {
            UpdateType::Full
        } else {
            UpdateType::Differential
        },
    })
}

/// A string for a CiStringN field, or `None` when it is too long. Cutting would change an
/// identifier into another one, so callers refuse the command instead.
fn bounded<const N: usize>(text: &str) -> Option<Bounded<N>> {
    (text.chars().count() <= N).then(|| Bounded(text.to_string()))
}

// ---- .conf payloads -> replies ------------------------------------------------------------

/// Decodes the .conf of `command`.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    use ChargerCommand as C;
    match command {
        C::RemoteStart { .. } | C::RemoteStop { .. } => status::<RemoteStartStopStatus>(payload),
        C::Reset { .. } => status::<ResetStatus>(payload),
        C::UnlockConnector { .. } => status::<UnlockStatus>(payload),
        C::ChangeAvailability { .. } => status::<AvailabilityStatus>(payload),
        C::SetConfiguration { .. } => status::<ConfigurationStatus>(payload),
        C::Trigger { .. } => status::<TriggerMessageStatus>(payload),
        C::SetChargingProfile { .. } => status::<ChargingProfileStatus>(payload),
        C::ClearChargingProfile { .. } => status::<ClearChargingProfileStatus>(payload),
        C::ReserveNow { .. } => status::<ReservationStatus>(payload),
        C::CancelReservation { .. } => status::<CancelReservationStatus>(payload),
        C::SendLocalList { .. } => status::<UpdateStatus>(payload),
        C::ClearCache => status::<ClearCacheStatus>(payload),
        C::DataTransfer { .. } => {
            let conf: wire::DataTransferConf = parse(payload)?;
            let status = conf.status.as_str();
            Ok(CommandReply::DataTransfer {
                status: status.to_string(),
                accepted: status == "Accepted",
                data: conf.data.map(Value::String),
            })
        }
        C::GetConfiguration { .. } => Ok(configuration(parse(payload)?)),
        C::GetCompositeSchedule { .. } => {
            let response: wire::GetCompositeScheduleResponse = parse(payload)?;
            Ok(CommandReply::CompositeSchedule {
                accepted: response.status == GetCompositeScheduleStatus::Accepted,
                schedule: response
                    .charging_schedule
                    .map(|s| composite_from_wire(s, response.schedule_start)),
            })
        }
        C::GetLocalListVersion => {
            let conf: wire::GetLocalListVersionResponse = parse(payload)?;
            Ok(CommandReply::LocalListVersion(conf.list_version))
        }
        // `encode` refuses these, so no 1.6 charger can be answering one.
        C::UpdateFirmware { .. } | C::GetLog { .. } => {
            super::device::decode_reply(command, payload)
        }
        C::GetBaseReport { .. }
        | C::GetChargingProfiles { .. }
        | C::GetTransactionStatus { .. }
        | C::SetNetworkProfile { .. }
        | C::GetInstalledCertificateIds { .. }
        | C::InstallCertificate { .. }
        | C::DeleteCertificate { .. }
        | C::CertificateSigned { .. }
        | C::CustomerInformation { .. } => Err(PayloadError::new(
            RpcErrorCode::InternalError,
            format!("{} is never sent to an OCPP 1.6 charger", command.name()),
        )),
        C::Relay { .. } => Ok(CommandReply::Relayed(payload)),
    }
}

/// A .conf carrying only a status of the enumeration `S`, read strictly; what counts as a
/// yes is `model::POSITIVE_STATUSES`, shared with 2.0.1.
fn status<S: WireEnum + DeserializeOwned>(payload: Value) -> Result<CommandReply, PayloadError> {
    let conf: wire::StatusResponse<S> = parse(payload)?;
    Ok(CommandReply::from_status(conf.status.as_str()))
}

fn configuration(conf: wire::GetConfigurationResponse) -> CommandReply {
    CommandReply::Configuration {
        values: conf
            .configuration_key
            .into_iter()
            .map(|kv| ConfigValue {
                key: config_key(kv.key),
                value: kv.value.map(Bounded::into_inner),
                readonly: kv.readonly,
            })
            .collect(),
        unknown: conf.unknown_key.into_iter().map(config_key).collect(),
    }
}

fn config_key(key: Bounded<50>) -> ConfigKey {
    ConfigKey {
        component: None,
        variable: key.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_command_reply, encode_command};
    use super::*;
    use crate::ocpp::model::{
        AuthorizationStatus, ChargingProfile, ChargingSchedule, EvseRef, IdToken, IdTokenInfo,
        LocalListEntry, ProfileKind, ProfilePurpose, RateUnit, SchedulePeriod, TxKey,
    };
    use crate::ocpp::schema_check::assert_valid;
    use crate::ocpp::time;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn t(text: &str) -> DateTime<Utc> {
        time::parse(text).expect("test timestamp")
    }

    fn tag(id: &str) -> IdToken {
        IdToken {
            id: id.to_string(),
            kind: None,
        }
    }

    fn amps(periods: &[(u32, f64, Option<u8>)]) -> ChargingSchedule {
        ChargingSchedule {
            start: None,
            duration_s: None,
            rate_unit: RateUnit::Amps,
            periods: periods
                .iter()
                .map(|&(start_s, limit, phases)| SchedulePeriod {
                    start_s,
                    limit,
                    phases,
                })
                .collect(),
            min_rate: None,
        }
    }

    fn profile(
        purpose: ProfilePurpose,
        kind: ProfileKind,
        schedule: ChargingSchedule,
    ) -> ChargingProfile {
        ChargingProfile {
            id: 100,
            stack_level: 1,
            purpose,
            kind,
            recurrency_weekly: None,
            tx: None,
            valid_from: None,
            valid_to: None,
            schedule,
        }
    }

    fn refused(command: &ChargerCommand) -> NotInVersion {
        NotInVersion {
            command: command.name(),
            version: "v16",
        }
    }

    /// The check of `encodes_every_command_*`: each case as the test's doc says.
    fn encodes_every_command_cases(cases: Vec<(ChargerCommand, &str, Value)>) {
        for (command, want_action, want) in cases {
            let (action, payload) =
                encode_command(&command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
            assert_eq!(action, want_action, "{command:?}");
            assert_valid("v16", action, false, &payload);
            assert_eq!(payload, want, "{command:?}");
        }
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// Remote start and stop.
    #[test]
    fn encodes_every_command_remote_start_stop() {
        let lease = ChargingProfile {
            id: 7,
            stack_level: 2,
            tx: Some(TxKey::Csms(1234)),
            valid_to: Some(t("2026-03-01T08:10:00Z")),
            ..profile(
                ProfilePurpose::Tx,
                ProfileKind::Relative,
                amps(&[(0, 15.97, Some(3)), (600, 6.0, None)]),
            )
        };
        encodes_every_command_cases(vec![
            (
                ChargerCommand::RemoteStart {
                    evse_id: Some(1),
                    id_token: tag("04A2B3C4D5E6F7"),
                    profile: Some(ChargingProfile {
                        tx: None,
                        ..lease.clone()
                    }),
                    remote_start_id: 5,
                },
                "RemoteStartTransaction",
                json!({"connectorId": 1, "idTag": "04A2B3C4D5E6F7", "chargingProfile": {
                    "chargingProfileId": 7, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative", "validTo": "2026-03-01T08:10:00.000Z",
                    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 15.9, "numberPhases": 3},
                        {"startPeriod": 600, "limit": 6.0}
                    ]}
                }}),
            ),
            (
                // Connector 0 means "any" and is said by leaving connectorId out (§6.33).
                ChargerCommand::RemoteStart {
                    evse_id: Some(0),
                    id_token: tag("APP-42"),
                    profile: None,
                    remote_start_id: 6,
                },
                "RemoteStartTransaction",
                json!({"idTag": "APP-42"}),
            ),
            (
                ChargerCommand::RemoteStop {
                    tx: TxKey::Csms(1234),
                },
                "RemoteStopTransaction",
                json!({"transactionId": 1234}),
            ),
            (
                ChargerCommand::RemoteStop {
                    tx: TxKey::Charger("77".into()),
                },
                "RemoteStopTransaction",
                json!({"transactionId": 77}),
            ),
        ]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// Unlocking, availability and triggered messages.
    #[test]
    fn encodes_every_command_station_control() {
        encodes_every_command_cases(vec![
            (
                ChargerCommand::UnlockConnector {
                    evse: EvseRef {
                        evse_id: 2,
                        connector_id: None,
                    },
                },
                "UnlockConnector",
                json!({"connectorId": 2}),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    evse: None,
                    operative: false,
                },
                "ChangeAvailability",
                json!({"connectorId": 0, "type": "Inoperative"}),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    evse: Some(EvseRef {
                        evse_id: 3,
                        connector_id: None,
                    }),
                    operative: true,
                },
                "ChangeAvailability",
                json!({"connectorId": 3, "type": "Operative"}),
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::StatusNotification,
                    evse_id: Some(1),
                },
                "TriggerMessage",
                json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::DiagnosticsStatusNotification,
                    evse_id: None,
                },
                "TriggerMessage",
                json!({"requestedMessage": "DiagnosticsStatusNotification"}),
            ),
        ]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// Reset, configuration and reports.
    #[test]
    fn encodes_every_command_provisioning() {
        encodes_every_command_cases(vec![
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Soft,
                    evse_id: None,
                },
                "Reset",
                json!({"type": "Soft"}),
            ),
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Hard,
                    evse_id: None,
                },
                "Reset",
                json!({"type": "Hard"}),
            ),
            (
                ChargerCommand::GetConfiguration { keys: Vec::new() },
                "GetConfiguration",
                json!({}),
            ),
            (
                ChargerCommand::GetConfiguration {
                    keys: vec![
                        ConfigKey {
                            component: None,
                            variable: "HeartbeatInterval".into(),
                        },
                        ConfigKey {
                            component: Some("OCPPCommCtrlr".into()),
                            variable: "MeterValueSampleInterval".into(),
                        },
                    ],
                },
                "GetConfiguration",
                json!({"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}),
            ),
            (
                ChargerCommand::SetConfiguration {
                    key: ConfigKey {
                        component: None,
                        variable: "MeterValueSampleInterval".into(),
                    },
                    value: "60".into(),
                },
                "ChangeConfiguration",
                json!({"key": "MeterValueSampleInterval", "value": "60"}),
            ),
        ]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// A station-wide limit.
    #[test]
    fn encodes_every_command_station_max_profile() {
        let station_max = ChargingProfile {
            id: 1,
            stack_level: 0,
            valid_from: Some(t("2026-03-01T00:00:00Z")),
            // A key on a non-Tx profile has no 1.6 field and is dropped.
            tx: Some(TxKey::Csms(99)),
            schedule: ChargingSchedule {
                start: Some(t("2026-03-01T00:00:00Z")),
                duration_s: Some(86400),
                rate_unit: RateUnit::Watts,
                periods: vec![SchedulePeriod {
                    start_s: 0,
                    limit: 11039.99,
                    phases: None,
                }],
                min_rate: Some(4140.05),
            },
            ..profile(
                ProfilePurpose::ChargePointMax,
                ProfileKind::Absolute,
                amps(&[]),
            )
        };
        encodes_every_command_cases(vec![(
            ChargerCommand::SetChargingProfile {
                evse_id: 0,
                profile: station_max,
            },
            "SetChargingProfile",
            json!({"connectorId": 0, "csChargingProfiles": {
                "chargingProfileId": 1, "stackLevel": 0,
                "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Absolute",
                "validFrom": "2026-03-01T00:00:00.000Z",
                "chargingSchedule": {"duration": 86400, "startSchedule": "2026-03-01T00:00:00.000Z",
                    "chargingRateUnit": "W", "minChargingRate": 4140.0,
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11039.9}]}
            }}),
        )]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// Setting charging profiles.
    #[test]
    fn encodes_every_command_set_charging_profile() {
        let lease = ChargingProfile {
            id: 7,
            stack_level: 2,
            tx: Some(TxKey::Csms(1234)),
            valid_to: Some(t("2026-03-01T08:10:00Z")),
            ..profile(
                ProfilePurpose::Tx,
                ProfileKind::Relative,
                amps(&[(0, 15.97, Some(3)), (600, 6.0, None)]),
            )
        };
        let nightly = ChargingProfile {
            recurrency_weekly: Some(false),
            schedule: ChargingSchedule {
                start: Some(t("2026-03-01T22:00:00Z")),
                duration_s: Some(28800),
                ..amps(&[(0, 32.0, None)])
            },
            ..profile(ProfilePurpose::TxDefault, ProfileKind::Recurring, amps(&[]))
        };
        encodes_every_command_cases(vec![
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 1,
                    profile: lease,
                },
                "SetChargingProfile",
                json!({"connectorId": 1, "csChargingProfiles": {
                    "chargingProfileId": 7, "transactionId": 1234, "stackLevel": 2,
                    "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                    "validTo": "2026-03-01T08:10:00.000Z",
                    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 15.9, "numberPhases": 3},
                        {"startPeriod": 600, "limit": 6.0}
                    ]}
                }}),
            ),
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 0,
                    profile: nightly,
                },
                "SetChargingProfile",
                json!({"connectorId": 0, "csChargingProfiles": {
                    "chargingProfileId": 100, "stackLevel": 1,
                    "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
                    "recurrencyKind": "Daily",
                    "chargingSchedule": {"duration": 28800, "startSchedule": "2026-03-01T22:00:00.000Z",
                        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}
                }}),
            ),
        ]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// Clearing and reading profiles and schedules.
    #[test]
    fn encodes_every_command_charging_queries() {
        encodes_every_command_cases(vec![
            (
                ChargerCommand::ClearChargingProfile {
                    id: None,
                    evse_id: None,
                    purpose: None,
                    stack_level: None,
                },
                "ClearChargingProfile",
                json!({}),
            ),
            (
                ChargerCommand::ClearChargingProfile {
                    id: Some(7),
                    evse_id: Some(1),
                    purpose: Some(ProfilePurpose::TxDefault),
                    stack_level: Some(2),
                },
                "ClearChargingProfile",
                json!({"id": 7, "connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}),
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 1,
                    duration_s: 3600,
                    rate_unit: Some(RateUnit::Amps),
                },
                "GetCompositeSchedule",
                json!({"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}),
            ),
            (
                ChargerCommand::GetCompositeSchedule {
                    evse_id: 0,
                    duration_s: 86400,
                    rate_unit: None,
                },
                "GetCompositeSchedule",
                json!({"connectorId": 0, "duration": 86400}),
            ),
        ]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// Reservations.
    #[test]
    fn encodes_every_command_reservations() {
        encodes_every_command_cases(vec![
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 11,
                    evse_id: None,
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: tag("04A2B3C4"),
                    group_id: None,
                },
                "ReserveNow",
                json!({"connectorId": 0, "expiryDate": "2026-03-01T09:00:00.000Z", "idTag": "04A2B3C4", "reservationId": 11}),
            ),
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 12,
                    evse_id: Some(2),
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: tag("04A2B3C4"),
                    group_id: None,
                },
                "ReserveNow",
                json!({"connectorId": 2, "expiryDate": "2026-03-01T09:00:00.000Z", "idTag": "04A2B3C4", "reservationId": 12}),
            ),
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 13,
                    evse_id: Some(1),
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: tag("FLEET"),
                    group_id: Some("FLEET".into()),
                },
                "ReserveNow",
                json!({"connectorId": 1, "expiryDate": "2026-03-01T09:00:00.000Z", "idTag": "FLEET",
                    "parentIdTag": "FLEET", "reservationId": 13}),
            ),
            (
                ChargerCommand::CancelReservation { reservation_id: 11 },
                "CancelReservation",
                json!({"reservationId": 11}),
            ),
        ]);
    }

    /// Every command 1.6 can carry, with the exact request it becomes; each passes the
    /// official request schema.
    /// The local authorization list.
    #[test]
    fn encodes_every_command_local_list() {
        encodes_every_command_cases(vec![
            (
                ChargerCommand::SendLocalList {
                    version: 3,
                    full: true,
                    entries: vec![
                        LocalListEntry {
                            id_token: tag("04A2B3C4"),
                            info: Some(IdTokenInfo {
                                status: AuthorizationStatus::Accepted,
                                expiry: Some(t("2026-12-31T00:00:00Z")),
                                group_id: Some("FLEET".into()),
                            }),
                        },
                        // No info in a full list: left out (not in the list = not authorized).
                        LocalListEntry {
                            id_token: tag("DEADBEEF"),
                            info: None,
                        },
                        LocalListEntry {
                            id_token: tag("0BADCAFE"),
                            info: Some(IdTokenInfo::status(AuthorizationStatus::Blocked)),
                        },
                    ],
                },
                "SendLocalList",
                json!({"listVersion": 3, "updateType": "Full", "localAuthorizationList": [
                    {"idTag": "04A2B3C4", "idTagInfo": {"status": "Accepted", "expiryDate": "2026-12-31T00:00:00.000Z", "parentIdTag": "FLEET"}},
                    {"idTag": "0BADCAFE", "idTagInfo": {"status": "Blocked"}}
                ]}),
            ),
            (
                ChargerCommand::SendLocalList {
                    version: 4,
                    full: false,
                    entries: vec![LocalListEntry {
                        id_token: tag("DEADBEEF"),
                        info: None,
                    }],
                },
                "SendLocalList",
                json!({"listVersion": 4, "updateType": "Differential", "localAuthorizationList": [{"idTag": "DEADBEEF"}]}),
            ),
            (
                ChargerCommand::SendLocalList {
                    version: 5,
                    full: true,
                    entries: Vec::new(),
                },
                "SendLocalList",
                json!({"listVersion": 5, "updateType": "Full"}),
            ),
            (
                ChargerCommand::GetLocalListVersion,
                "GetLocalListVersion",
                json!({}),
            ),
        ]);
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn refuses_what_1_6_cannot_say() {
        let too_long = "A".repeat(21);
        let tx_profile = |tx| ChargingProfile {
            tx: Some(tx),
            ..profile(
                ProfilePurpose::Tx,
                ProfileKind::Relative,
                amps(&[(0, 16.0, None)]),
            )
        };
        let cases = vec![
            ChargerCommand::GetBaseReport {
                request_id: 1,
                report: "FullInventory".into(),
            },
            // 1.6 resets the whole charge point only (§5.14).
            ChargerCommand::Reset {
                kind: ResetKind::Soft,
                evse_id: Some(1),
            },
            ChargerCommand::GetChargingProfiles {
                request_id: 1,
                evse_id: None,
                purpose: None,
            },
            ChargerCommand::Trigger {
                message: TriggerKind::TransactionEvent,
                evse_id: Some(1),
            },
            // A 2.0.1-style transaction id names no 1.6 transaction.
            ChargerCommand::RemoteStop {
                tx: TxKey::Charger("0f2c4b7e-1d3a-4c59".into()),
            },
            ChargerCommand::SetChargingProfile {
                evse_id: 1,
                profile: tx_profile(TxKey::Charger("tx-abc".into())),
            },
            // Identifiers longer than their CiString are not cut into other identifiers.
            ChargerCommand::RemoteStart {
                evse_id: Some(1),
                id_token: tag(&too_long),
                profile: None,
                remote_start_id: 1,
            },
            ChargerCommand::ReserveNow {
                reservation_id: 1,
                evse_id: None,
                expiry: t("2026-03-01T09:00:00Z"),
                id_token: tag(&too_long),
                group_id: None,
            },
            ChargerCommand::SetConfiguration {
                key: ConfigKey {
                    component: None,
                    variable: "K".repeat(51),
                },
                value: "1".into(),
            },
            ChargerCommand::SetConfiguration {
                key: ConfigKey {
                    component: None,
                    variable: "AuthorizationKey".into(),
                },
                value: "v".repeat(501),
            },
            ChargerCommand::GetConfiguration {
                keys: vec![ConfigKey {
                    component: None,
                    variable: "K".repeat(51),
                }],
            },
            ChargerCommand::SendLocalList {
                version: 1,
                full: false,
                entries: vec![LocalListEntry {
                    id_token: tag(&too_long),
                    info: None,
                }],
            },
        ];
        for command in cases {
            assert_eq!(
                encode_command(&command),
                Err(refused(&command)),
                "{command:?}"
            );
        }
        // A Tx profile whose key is an integer in text is usable.
        let (_, payload) = encode_command(&ChargerCommand::SetChargingProfile {
            evse_id: 1,
            profile: tx_profile(TxKey::Charger("1234".into())),
        })
        .unwrap();
        assert_eq!(payload["csChargingProfiles"]["transactionId"], json!(1234));
    }

    #[test]
    fn limits_round_down_to_one_decimal() {
        // The rounding itself is `units::floor_limit`'s (property-tested there).
        // As written on the wire, and accepted by the schema's multipleOf 0.1.
        let (action, payload) = encode_command(&ChargerCommand::SetChargingProfile {
            evse_id: 1,
            profile: profile(
                ProfilePurpose::TxDefault,
                ProfileKind::Absolute,
                ChargingSchedule {
                    min_rate: Some(6.09),
                    ..amps(&[
                        (0, 15.97, None),
                        (900, 0.1 + 0.2, None),
                        (1800, 31.99, Some(1)),
                    ])
                },
            ),
        })
        .unwrap();
        assert_valid("v16", action, false, &payload);
        let schedule = &payload["csChargingProfiles"]["chargingSchedule"];
        assert_eq!(
            schedule["chargingSchedulePeriod"][0]["limit"].to_string(),
            "15.9"
        );
        assert_eq!(
            schedule["chargingSchedulePeriod"][1]["limit"].to_string(),
            "0.3"
        );
        assert_eq!(
            schedule["chargingSchedulePeriod"][2]["limit"].to_string(),
            "31.9"
        );
        assert_eq!(schedule["minChargingRate"].to_string(), "6.0");
        // The schema check has teeth: the unrounded limit is refused.
        let mut unrounded = payload.clone();
        unrounded["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] =
            json!(15.97);
        assert!(crate::ocpp::schema_check::validate("v16", action, false, &unrounded).is_err());
    }

    fn status(status: &str, accepted: bool) -> CommandReply {
        CommandReply::Status {
            status: status.to_string(),
            accepted,
        }
    }

    /// One command of each reply kind, for `decodes_every_reply_kind` and the bad-enum test.
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn status_commands() -> Vec<(ChargerCommand, &'static str)> {
        let evse = EvseRef {
            evse_id: 1,
            connector_id: None,
        };
        vec![
            (
                ChargerCommand::RemoteStart {
                    evse_id: Some(1),
                    id_token: tag("A"),
                    profile: None,
                    remote_start_id: 1,
                },
                "RemoteStartTransaction",
            ),
            (
                ChargerCommand::RemoteStop { tx: TxKey::Csms(1) },
                "RemoteStopTransaction",
            ),
            (
                ChargerCommand::Reset {
                    kind: ResetKind::Soft,
                    evse_id: None,
                },
                "Reset",
            ),
            (ChargerCommand::UnlockConnector { evse }, "UnlockConnector"),
            (
                ChargerCommand::ChangeAvailability {
                    evse: None,
                    operative: true,
                },
                "ChangeAvailability",
            ),
            (
                ChargerCommand::SetConfiguration {
                    key: ConfigKey {
                        component: None,
                        variable: "K".into(),
                    },
                    value: "V".into(),
                },
                "ChangeConfiguration",
            ),
            (
                ChargerCommand::Trigger {
                    message: TriggerKind::Heartbeat,
                    evse_id: None,
                },
                "TriggerMessage",
            ),
            (
                ChargerCommand::SetChargingProfile {
                    evse_id: 1,
                    profile: profile(
                        ProfilePurpose::TxDefault,
                        ProfileKind::Absolute,
                        amps(&[(0, 6.0, None)]),
                    ),
                },
                "SetChargingProfile",
            ),
            (
                ChargerCommand::ClearChargingProfile {
                    id: Some(1),
                    evse_id: None,
                    purpose: None,
                    stack_level: None,
                },
                "ClearChargingProfile",
            ),
            (
                ChargerCommand::ReserveNow {
                    reservation_id: 1,
                    evse_id: None,
                    expiry: t("2026-03-01T09:00:00Z"),
                    id_token: tag("A"),
                    group_id: None,
                },
                "ReserveNow",
            ),
            (
                ChargerCommand::CancelReservation { reservation_id: 1 },
                "CancelReservation",
            ),
            (
                ChargerCommand::SendLocalList {
                    version: 1,
                    full: true,
                    entries: Vec::new(),
                },
                "SendLocalList",
            ),
        ]
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn decodes_every_reply_kind() {
        let by_action = |action: &str| {
            status_commands()
                .into_iter()
                .find(|(_, a)| *a == action)
                .expect("a command for the action")
                .0
        };
        let cases: Vec<(&str, Value, CommandReply)> = vec![
            (
                "RemoteStartTransaction",
                json!({"status": "Accepted"}),
                status("Accepted", true),
            ),
            (
                "RemoteStopTransaction",
                json!({"status": "Rejected"}),
                status("Rejected", false),
            ),
            (
                "Reset",
                json!({"status": "Accepted"}),
                status("Accepted", true),
            ),
            (
                "UnlockConnector",
                json!({"status": "Unlocked"}),
                status("Unlocked", true),
            ),
            (
                "UnlockConnector",
                json!({"status": "UnlockFailed"}),
                status("UnlockFailed", false),
            ),
            (
                "ChangeAvailability",
                json!({"status": "Scheduled"}),
                status("Scheduled", true),
            ),
            (
                "ChangeConfiguration",
                json!({"status": "RebootRequired"}),
                status("RebootRequired", true),
            ),
            (
                "ChangeConfiguration",
                json!({"status": "NotSupported"}),
                status("NotSupported", false),
            ),
            (
                "TriggerMessage",
                json!({"status": "NotImplemented"}),
                status("NotImplemented", false),
            ),
            (
                "SetChargingProfile",
                json!({"status": "Accepted"}),
                status("Accepted", true),
            ),
            (
                "SetChargingProfile",
                json!({"status": "NotSupported"}),
                status("NotSupported", false),
            ),
            (
                "ClearChargingProfile",
                json!({"status": "Unknown"}),
                status("Unknown", false),
            ),
            (
                "ReserveNow",
                json!({"status": "Occupied"}),
                status("Occupied", false),
            ),
            (
                "CancelReservation",
                json!({"status": "Accepted"}),
                status("Accepted", true),
            ),
            (
                "SendLocalList",
                json!({"status": "VersionMismatch"}),
                status("VersionMismatch", false),
            ),
        ];
        for (action, payload, want) in cases {
            assert_valid("v16", action, true, &payload);
            let got = decode_command_reply(&by_action(action), payload).unwrap();
            assert_eq!(got, want, "{action}");
        }

        let payload = json!({
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": false, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": true, "value": "2"},
                {"key": "AuthorizationKey", "readonly": false}
            ],
            "unknownKey": ["Foo"]
        });
        assert_valid("v16", "GetConfiguration", true, &payload);
        let key = |name: &str| ConfigKey {
            component: None,
            variable: name.to_string(),
        };
        let got = decode_command_reply(
            &ChargerCommand::GetConfiguration { keys: Vec::new() },
            payload,
        )
        .unwrap();
        assert_eq!(
            got,
            CommandReply::Configuration {
                values: vec![
                    ConfigValue {
                        key: key("HeartbeatInterval"),
                        value: Some("300".into()),
                        readonly: false,
                    },
                    ConfigValue {
                        key: key("NumberOfConnectors"),
                        value: Some("2".into()),
                        readonly: true,
                    },
                    ConfigValue {
                        key: key("AuthorizationKey"),
                        value: None,
                        readonly: false,
                    },
                ],
                unknown: vec![key("Foo")],
            }
        );
        let empty = decode_command_reply(
            &ChargerCommand::GetConfiguration { keys: Vec::new() },
            json!({}),
        )
        .unwrap();
        assert_eq!(
            empty,
            CommandReply::Configuration {
                values: Vec::new(),
                unknown: Vec::new()
            }
        );

        let composite = ChargerCommand::GetCompositeSchedule {
            evse_id: 1,
            duration_s: 3600,
            rate_unit: Some(RateUnit::Amps),
        };
        let payload = json!({
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-03-01T08:00:00Z",
            "chargingSchedule": {
                "duration": 3600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                    {"startPeriod": 1800, "limit": 6.0}
                ],
                "minChargingRate": 6.0
            }
        });
        assert_valid("v16", "GetCompositeSchedule", true, &payload);
        assert_eq!(
            decode_command_reply(&composite, payload).unwrap(),
            CommandReply::CompositeSchedule {
                accepted: true,
                schedule: Some(ChargingSchedule {
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
                            limit: 6.0,
                            phases: None,
                        },
                    ],
                    min_rate: Some(6.0),
                }),
            }
        );
        let rejected = json!({"status": "Rejected"});
        assert_valid("v16", "GetCompositeSchedule", true, &rejected);
        let got = decode_command_reply(&composite, rejected).unwrap();
        assert_eq!(
            got,
            CommandReply::CompositeSchedule {
                accepted: false,
                schedule: None
            }
        );
        assert!(!got.is_accepted());

        let version = json!({"listVersion": 12});
        assert_valid("v16", "GetLocalListVersion", true, &version);
        assert_eq!(
            decode_command_reply(&ChargerCommand::GetLocalListVersion, version).unwrap(),
            CommandReply::LocalListVersion(12)
        );
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of cases, one row per message or value of the version"
    )]
    fn malformed_replies_get_the_right_code() {
        use RpcErrorCode::{
            OccurrenceConstraintViolation as Occurrence, PropertyConstraintViolation as Property,
            TypeConstraintViolation as Type,
        };
        // Every status reply is strict on its own enumeration: a word of a sibling enum
        // ("Unlocked" for Reset) is as wrong as "Maybe".
        for (command, action) in status_commands() {
            for (payload, want) in [
                (json!({"status": "Maybe"}), Property),
                (json!({"status": "accepted"}), Property),
                (json!({}), Occurrence),
                (json!({"status": 1}), Type),
            ] {
                let err = decode_command_reply(&command, payload.clone()).unwrap_err();
                assert_eq!(err.code, want, "{action} {payload}");
            }
        }
        let reset = ChargerCommand::Reset {
            kind: ResetKind::Hard,
            evse_id: None,
        };
        let err = decode_command_reply(&reset, json!({"status": "Unlocked"})).unwrap_err();
        assert_eq!(err.code, Property);

        let get_config = ChargerCommand::GetConfiguration { keys: Vec::new() };
        let composite = ChargerCommand::GetCompositeSchedule {
            evse_id: 1,
            duration_s: 60,
            rate_unit: None,
        };
        let cases: Vec<(&ChargerCommand, Value, RpcErrorCode)> = vec![
            (
                &get_config,
                json!({"configurationKey": [{"key": "K", "readonly": "yes"}]}),
                Type,
            ),
            (
                &get_config,
                json!({"configurationKey": [{"key": "K"}]}),
                Occurrence,
            ),
            (
                &get_config,
                json!({"configurationKey": [{"key": "K".repeat(51), "readonly": true}]}),
                Property,
            ),
            (
                &get_config,
                json!({"configurationKey": [{"key": "K", "readonly": true, "value": "v".repeat(501)}]}),
                Property,
            ),
            (&get_config, json!({"unknownKey": "Foo"}), Type),
            (&composite, json!({"status": "Maybe"}), Property),
            (
                &composite,
                json!({"status": "Accepted", "chargingSchedule": {"chargingRateUnit": "kW", "chargingSchedulePeriod": []}}),
                Property,
            ),
            (
                &composite,
                json!({"status": "Accepted", "chargingSchedule": {"chargingRateUnit": "A"}}),
                Occurrence,
            ),
            (
                &composite,
                json!({"status": "Accepted", "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": "16"}]}}),
                Type,
            ),
            (&ChargerCommand::GetLocalListVersion, json!({}), Occurrence),
            (
                &ChargerCommand::GetLocalListVersion,
                json!({"listVersion": "3"}),
                Type,
            ),
        ];
        for (command, payload, want) in cases {
            let err = decode_command_reply(command, payload.clone()).unwrap_err();
            assert_eq!(err.code, want, "{} {payload}", command.name());
        }

        // Never sent to a 1.6 charger, so a reply to it is chargegate's bug.
        let base_report = ChargerCommand::GetBaseReport {
            request_id: 1,
            report: "FullInventory".into(),
        };
        let err = decode_command_reply(&base_report, json!({"status": "Accepted"})).unwrap_err();
        assert_eq!(err.code, RpcErrorCode::InternalError);
    }
}
