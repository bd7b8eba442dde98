//! OCPP v16: wire types and their translation to the version-blind model (being written).

use serde_json::Value;

use super::NotInVersion;
use super::model::{ChargerCommand, ChargerEvent, CommandReply, EventReply};
use super::rpc::{PayloadError, RpcErrorCode};

pub fn decode_call(action: &str, _payload: Value) -> Result<ChargerEvent, PayloadError> {
    Err(PayloadError::new(
        RpcErrorCode::NotImplemented,
        format!("{action} is not handled yet"),
    ))
}

pub fn encode_reply(_event: &ChargerEvent, _reply: &EventReply) -> Result<Value, PayloadError> {
    Err(PayloadError::new(
        RpcErrorCode::InternalError,
        "not written yet",
    ))
}

pub fn encode_command(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    Err(NotInVersion {
        command: command.name(),
        version: "v16",
    })
}

pub fn decode_command_reply(
    _command: &ChargerCommand,
    _payload: Value,
) -> Result<CommandReply, PayloadError> {
    Err(PayloadError::new(
        RpcErrorCode::InternalError,
        "not written yet",
    ))
}
