//! The station-administration commands of OCPP 2.0.1 that 1.6 has no message for:
//! GetTransactionStatus (E14) and SetNetworkProfile (B09). The requests, their responses
//! and the status enumerations.
//!
//! Every request fits its `*Request.json` schema; a field that cannot be written validly
//! (a transaction id or URL over its length, a security profile above 3, an interface
//! outside OCPPInterfaceEnumType) is `NotInVersion` rather than cut short or changed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{ChargerCommand, CommandReply, NetworkProfile};
use crate::ocpp::rpc::PayloadError;
use crate::ocpp::strings::Bounded;
use crate::ocpp::wire_enum::wire_enum;

wire_enum!(
    /// SetNetworkProfileResponse status (SetNetworkProfileStatusEnumType).
    SetNetworkProfileStatus { Accepted, Rejected, Failed }
);
wire_enum!(
    /// NetworkConnectionProfileType ocppInterface (OCPPInterfaceEnumType).
    OcppInterface { Wired0, Wired1, Wired2, Wired3, Wireless0, Wireless1, Wireless2,
        Wireless3 }
);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTransactionStatusRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Bounded<36>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTransactionStatusResponse {
    pub ongoing_indicator: Option<bool>,
    pub messages_in_queue: bool,
}

/// NetworkConnectionProfileType, without APN and VPN (a depot's chargers are wired or
/// configure their modem locally).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConnectionProfileWire {
    /// OCPPVersionEnumType: a 2.0.1 station is told `OCPP20` (the enum has no 2.0.1).
    pub ocpp_version: &'static str,
    /// OCPPTransportEnumType: OCPP-J.
    pub ocpp_transport: &'static str,
    pub ocpp_csms_url: Bounded<512>,
    pub message_timeout: u32,
    pub security_profile: u8,
    pub ocpp_interface: OcppInterface,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetNetworkProfileRequest {
    pub configuration_slot: i32,
    pub connection_data: NetworkConnectionProfileWire,
}

#[derive(Debug, Deserialize)]
pub struct SetNetworkProfileResponse {
    pub status: SetNetworkProfileStatus,
}

fn bounded<const N: usize>(text: &str) -> Option<Bounded<N>> {
    (text.chars().count() <= N).then(|| Bounded(text.to_string()))
}

fn profile_to_wire(profile: &NetworkProfile) -> Option<NetworkConnectionProfileWire> {
    Some(NetworkConnectionProfileWire {
        ocpp_version: "OCPP20",
        ocpp_transport: "JSON",
        ocpp_csms_url: bounded(&profile.url)?,
        message_timeout: profile.message_timeout_s,
        // Part 2 A00: security profiles 0 (none) to 3.
        security_profile: (profile.security_profile <= 3).then_some(profile.security_profile)?,
        ocpp_interface: OcppInterface::parse(&profile.interface)?,
    })
}

/// The (action, payload) of a station-administration command; any other is not ours.
pub fn encode(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    let refused = || NotInVersion {
        command: command.name(),
        version: super::VERSION,
    };
    match command {
        // E14.
        ChargerCommand::GetTransactionStatus { tx } => Ok((
            "GetTransactionStatus",
            to_json(&GetTransactionStatusRequest {
                transaction_id: tx
                    .as_deref()
                    .map(|t| bounded(t).ok_or_else(refused))
                    .transpose()?,
            }),
        )),
        // B09.
        ChargerCommand::SetNetworkProfile { slot, profile } => Ok((
            "SetNetworkProfile",
            to_json(&SetNetworkProfileRequest {
                configuration_slot: *slot,
                connection_data: profile_to_wire(profile).ok_or_else(refused)?,
            }),
        )),
        _ => Err(refused()),
    }
}

/// Reads the response to a station-administration command, strict on its enumerations.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    match command {
        ChargerCommand::GetTransactionStatus { .. } => {
            let response: GetTransactionStatusResponse = parse(payload)?;
            Ok(CommandReply::TransactionStatus {
                ongoing: response.ongoing_indicator,
                messages_in_queue: response.messages_in_queue,
            })
        }
        _ => {
            let response: SetNetworkProfileResponse = parse(payload)?;
            Ok(CommandReply::from_status(response.status.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ocpp::schema_check::assert_valid;

    fn profile(security_profile: u8, interface: &str) -> NetworkProfile {
        NetworkProfile {
            url: "wss://gateway.depot:8887/ocpp/".into(),
            security_profile,
            interface: interface.into(),
            message_timeout_s: 30,
        }
    }

    #[test]
    fn requests_fit_their_schemas() {
        let commands = [
            ChargerCommand::GetTransactionStatus { tx: None },
            ChargerCommand::GetTransactionStatus {
                tx: Some("tx-1".into()),
            },
            ChargerCommand::SetNetworkProfile {
                slot: 1,
                profile: profile(3, "Wireless0"),
            },
        ];
        for command in commands {
            let (action, payload) = encode(&command).expect("encodes");
            assert_valid("v201", action, false, &payload);
        }
    }

    #[test]
    fn what_cannot_be_written_validly_is_refused() {
        let long = ChargerCommand::GetTransactionStatus {
            tx: Some("x".repeat(37)),
        };
        assert!(encode(&long).is_err());
        for bad in [profile(4, "Wired0"), profile(2, "Ethernet")] {
            let command = ChargerCommand::SetNetworkProfile {
                slot: 1,
                profile: bad,
            };
            assert!(encode(&command).is_err(), "{command:?}");
        }
    }

    #[test]
    fn replies_are_read_strictly() {
        let status = ChargerCommand::GetTransactionStatus { tx: None };
        assert_eq!(
            decode_reply(&status, json!({"messagesInQueue": true})).unwrap(),
            CommandReply::TransactionStatus {
                ongoing: None,
                messages_in_queue: true
            }
        );
        assert!(decode_reply(&status, json!({"ongoingIndicator": true})).is_err());
        let network = ChargerCommand::SetNetworkProfile {
            slot: 1,
            profile: profile(1, "Wired0"),
        };
        assert_eq!(
            decode_reply(&network, json!({"status": "Failed"})).unwrap(),
            CommandReply::from_status("Failed")
        );
        assert!(decode_reply(&network, json!({"status": "Maybe"})).is_err());
    }
}
