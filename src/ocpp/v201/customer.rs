//! Customer information of OCPP 2.0.1 (functional block N, N09/N10): chargegate's
//! CustomerInformation and the station's NotifyCustomerInformation parts that answer it.
//! A customer reference that does not fit its schema field is `NotInVersion` rather than
//! cut short (a shortened token names another customer).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::certificates::{CertificateHashDataWire, StatusOnly, hash_to_wire};
use super::enums::IdTokenKind;
use super::messages::IdTokenWire;
use super::{parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{ChargerCommand, ChargerEvent, CommandReply, Customer};
use crate::ocpp::rpc::PayloadError;
use crate::ocpp::strings::Bounded;
use crate::ocpp::wire_enum::wire_enum;

wire_enum!(
    /// CustomerInformationStatusEnumType.
    CustomerInformationStatus { Accepted, Rejected, Invalid }
);

/// CustomerInformationRequest (N09/N10).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInformationRequest {
    pub request_id: i32,
    pub report: bool,
    pub clear: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_certificate: Option<CertificateHashDataWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<IdTokenWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_identifier: Option<Bounded<64>>,
}

/// NotifyCustomerInformationRequest: one part of the station's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyCustomerInformationRequest {
    pub data: Bounded<512>,
    /// "to be continued": absent means false (schema default).
    #[serde(default)]
    pub tbc: bool,
    pub seq_no: u32,
    #[serde(rename = "generatedAt", with = "crate::ocpp::time")]
    pub _generated_at: DateTime<Utc>,
    pub request_id: i32,
}

/// One NotifyCustomerInformation part as an event.
pub fn notify_customer_information(
    req: NotifyCustomerInformationRequest,
) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::CustomerInformation {
        request_id: req.request_id,
        seq_no: req.seq_no,
        more_to_follow: req.tbc,
        data: req.data.into_inner(),
    })
}

fn bounded<const N: usize>(text: &str) -> Option<Bounded<N>> {
    (text.chars().count() <= N).then(|| Bounded(text.to_string()))
}

/// The (action, payload) of a CustomerInformation; any other command is not ours.
pub fn encode(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    let refused = || NotInVersion {
        command: command.name(),
        version: super::VERSION,
    };
    let ChargerCommand::CustomerInformation {
        request_id,
        report,
        clear,
        customer,
    } = command
    else {
        return Err(refused());
    };
    let mut request = CustomerInformationRequest {
        request_id: *request_id,
        report: *report,
        clear: *clear,
        customer_certificate: None,
        id_token: None,
        customer_identifier: None,
    };
    match customer {
        Customer::IdToken(token) => {
            // A token without a type cannot be named: 2.0.1 requires one.
            let kind = token.kind.as_deref().and_then(IdTokenKind::parse);
            request.id_token = Some(IdTokenWire {
                id_token: bounded(&token.id).ok_or_else(refused)?,
                kind: kind.ok_or_else(refused)?,
            });
        }
        Customer::Identifier(id) => {
            request.customer_identifier = Some(bounded(id).ok_or_else(refused)?);
        }
        Customer::Certificate(hash) => {
            request.customer_certificate = Some(hash_to_wire(hash).ok_or_else(refused)?);
        }
    }
    Ok(("CustomerInformation", to_json(&request)))
}

/// Reads the CustomerInformationResponse, strict on its status.
pub fn decode_reply(payload: Value) -> Result<CommandReply, PayloadError> {
    let response: StatusOnly<CustomerInformationStatus> = parse(payload)?;
    Ok(CommandReply::from_status(response.status.as_str()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ocpp::model::{CertificateHash, IdToken};
    use crate::ocpp::schema_check::assert_valid;

    fn command(customer: Customer) -> ChargerCommand {
        ChargerCommand::CustomerInformation {
            request_id: 7,
            report: true,
            clear: false,
            customer,
        }
    }

    #[test]
    fn requests_fit_their_schema_and_bad_references_are_refused() {
        let token = IdToken {
            id: "04A2B3C4".into(),
            kind: Some("ISO14443".into()),
        };
        let hash = CertificateHash {
            algorithm: "SHA256".into(),
            issuer_name_hash: "ab".into(),
            issuer_key_hash: "cd".into(),
            serial: "1f".into(),
        };
        for customer in [
            Customer::IdToken(token.clone()),
            Customer::Identifier("OpenChargeAlliance".into()),
            Customer::Certificate(hash),
        ] {
            let (action, payload) = encode(&command(customer)).expect("encodes");
            assert_valid("v201", action, false, &payload);
            assert_eq!(payload["requestId"], 7);
        }
        let (_, payload) = encode(&command(Customer::IdToken(token))).unwrap();
        assert_eq!(
            payload["idToken"],
            json!({"idToken": "04A2B3C4", "type": "ISO14443"})
        );
        let untyped = IdToken {
            id: "x".into(),
            kind: None,
        };
        assert!(encode(&command(Customer::IdToken(untyped))).is_err());
        assert!(encode(&command(Customer::Identifier("x".repeat(65)))).is_err());
    }

    #[test]
    fn parts_and_answers_are_read_strictly() {
        let part = json!({"data": "card 04A2: 3 sessions", "tbc": true, "seqNo": 0,
            "generatedAt": "2026-03-01T08:00:00Z", "requestId": 7});
        assert_valid("v201", "NotifyCustomerInformation", false, &part);
        let event = notify_customer_information(parse(part).unwrap()).unwrap();
        assert_eq!(
            event,
            ChargerEvent::CustomerInformation {
                request_id: 7,
                seq_no: 0,
                more_to_follow: true,
                data: "card 04A2: 3 sessions".into(),
            }
        );
        let long: Result<NotifyCustomerInformationRequest, _> = parse(json!({"data":
            "x".repeat(513), "seqNo": 0, "generatedAt": "2026-03-01T08:00:00Z", "requestId": 7}));
        assert!(long.is_err());
        assert_eq!(
            decode_reply(json!({"status": "Invalid"})).unwrap(),
            CommandReply::from_status("Invalid")
        );
        assert!(decode_reply(json!({"status": "Maybe"})).is_err());
    }
}
