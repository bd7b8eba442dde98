//! Certificate management of OCPP 2.0.1 (functional block M): GetInstalledCertificateIds
//! (M03), InstallCertificate (M05), DeleteCertificate (M04); and the station's own
//! certificate (block A, A02/A03): the station's SignCertificate and chargegate's
//! CertificateSigned. The requests, their responses and the status enumerations. A
//! certificate over its schema length, or a type outside its enumeration, is
//! `NotInVersion` rather than cut short or renamed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse, to_json};
use crate::ocpp::NotInVersion;
use crate::ocpp::model::{
    CertificateHash, ChargerCommand, ChargerEvent, CommandReply, InstalledCertificate,
};
use crate::ocpp::rpc::PayloadError;
use crate::ocpp::strings::Bounded;
use crate::ocpp::wire_enum::wire_enum;

wire_enum!(
    /// GetCertificateIdUseEnumType.
    CertificateIdUse { V2GRootCertificate, MORootCertificate, CSMSRootCertificate,
        V2GCertificateChain, ManufacturerRootCertificate }
);
wire_enum!(
    /// InstallCertificateUseEnumType.
    InstallCertificateUse { V2GRootCertificate, MORootCertificate, CSMSRootCertificate,
        ManufacturerRootCertificate }
);
wire_enum!(
    /// HashAlgorithmEnumType.
    HashAlgorithm { SHA256, SHA384, SHA512 }
);
wire_enum!(
    /// GetInstalledCertificateStatusEnumType.
    GetInstalledCertificateStatus { Accepted, NotFound }
);
wire_enum!(
    /// InstallCertificateStatusEnumType.
    InstallCertificateStatus { Accepted, Rejected, Failed }
);
wire_enum!(
    /// DeleteCertificateStatusEnumType.
    DeleteCertificateStatus { Accepted, Failed, NotFound }
);

wire_enum!(
    /// CertificateSigningUseEnumType.
    CertificateSigningUse { ChargingStationCertificate, V2GCertificate }
);
wire_enum!(
    /// CertificateSignedStatusEnumType.
    CertificateSignedStatus { Accepted, Rejected }
);
wire_enum!(
    /// GenericStatusEnumType, as SignCertificateResponse uses it.
    GenericStatus { Accepted, Rejected }
);

/// SignCertificateRequest (A02/A03).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCertificateRequest {
    pub csr: Bounded<5500>,
    pub certificate_type: Option<CertificateSigningUse>,
}

#[derive(Debug, Serialize)]
pub struct SignCertificateResponse {
    pub status: GenericStatus,
}

/// CertificateSignedRequest (A02/A03).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSignedRequest {
    pub certificate_chain: Bounded<10000>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_type: Option<CertificateSigningUse>,
}

/// The station's SignCertificate as an event.
pub fn sign_certificate(req: SignCertificateRequest) -> Result<ChargerEvent, PayloadError> {
    Ok(ChargerEvent::SignCertificate {
        csr: req.csr.into_inner(),
        kind: req.certificate_type.map(|k| k.as_str().to_string()),
    })
}

/// chargegate's answer to SignCertificate.
pub fn sign_certificate_response(accepted: bool) -> Value {
    to_json(&SignCertificateResponse {
        status: if accepted {
            GenericStatus::Accepted
        } else {
            GenericStatus::Rejected
        },
    })
}

/// CertificateHashDataType.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateHashDataWire {
    pub hash_algorithm: HashAlgorithm,
    pub issuer_name_hash: Bounded<128>,
    pub issuer_key_hash: Bounded<128>,
    pub serial_number: Bounded<40>,
}

/// CertificateHashDataChainType.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateHashDataChainWire {
    pub certificate_type: CertificateIdUse,
    pub certificate_hash_data: CertificateHashDataWire,
    #[serde(default)]
    pub child_certificate_hash_data: Vec<CertificateHashDataWire>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInstalledCertificateIdsRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificate_type: Vec<CertificateIdUse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInstalledCertificateIdsResponse {
    pub status: GetInstalledCertificateStatus,
    #[serde(default)]
    pub certificate_hash_data_chain: Vec<CertificateHashDataChainWire>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallCertificateRequest {
    pub certificate_type: InstallCertificateUse,
    pub certificate: Bounded<5500>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteCertificateRequest {
    pub certificate_hash_data: CertificateHashDataWire,
}

#[derive(Debug, Deserialize)]
pub struct StatusOnly<S> {
    pub status: S,
}

fn bounded<const N: usize>(text: &str) -> Option<Bounded<N>> {
    (text.chars().count() <= N).then(|| Bounded(text.to_string()))
}

pub(super) fn hash_to_wire(hash: &CertificateHash) -> Option<CertificateHashDataWire> {
    Some(CertificateHashDataWire {
        hash_algorithm: HashAlgorithm::parse(&hash.algorithm)?,
        issuer_name_hash: bounded(&hash.issuer_name_hash)?,
        issuer_key_hash: bounded(&hash.issuer_key_hash)?,
        serial_number: bounded(&hash.serial)?,
    })
}

fn hash_from_wire(wire: CertificateHashDataWire) -> CertificateHash {
    CertificateHash {
        algorithm: wire.hash_algorithm.as_str().to_string(),
        issuer_name_hash: wire.issuer_name_hash.into_inner(),
        issuer_key_hash: wire.issuer_key_hash.into_inner(),
        serial: wire.serial_number.into_inner(),
    }
}

/// The (action, payload) of a certificate command; any other command is not ours.
pub fn encode(command: &ChargerCommand) -> Result<(&'static str, Value), NotInVersion> {
    let refused = || NotInVersion {
        command: command.name(),
        version: super::VERSION,
    };
    match command {
        ChargerCommand::GetInstalledCertificateIds { kinds } => Ok((
            "GetInstalledCertificateIds",
            to_json(&GetInstalledCertificateIdsRequest {
                certificate_type: kinds
                    .iter()
                    .map(|k| CertificateIdUse::parse(k).ok_or_else(refused))
                    .collect::<Result<_, _>>()?,
            }),
        )),
        ChargerCommand::InstallCertificate { kind, pem } => Ok((
            "InstallCertificate",
            to_json(&InstallCertificateRequest {
                certificate_type: InstallCertificateUse::parse(kind).ok_or_else(refused)?,
                certificate: bounded(pem).ok_or_else(refused)?,
            }),
        )),
        ChargerCommand::DeleteCertificate { hash } => Ok((
            "DeleteCertificate",
            to_json(&DeleteCertificateRequest {
                certificate_hash_data: hash_to_wire(hash).ok_or_else(refused)?,
            }),
        )),
        ChargerCommand::CertificateSigned { chain, kind } => Ok((
            "CertificateSigned",
            to_json(&CertificateSignedRequest {
                certificate_chain: bounded(chain).ok_or_else(refused)?,
                certificate_type: match kind {
                    None => None,
                    Some(k) => Some(CertificateSigningUse::parse(k).ok_or_else(refused)?),
                },
            }),
        )),
        _ => Err(refused()),
    }
}

/// Reads the response to a certificate command, strict on its enumerations.
pub fn decode_reply(
    command: &ChargerCommand,
    payload: Value,
) -> Result<CommandReply, PayloadError> {
    match command {
        ChargerCommand::GetInstalledCertificateIds { .. } => {
            let response: GetInstalledCertificateIdsResponse = parse(payload)?;
            Ok(CommandReply::InstalledCertificates {
                status: response.status.as_str().to_string(),
                certificates: response
                    .certificate_hash_data_chain
                    .into_iter()
                    .map(|c| InstalledCertificate {
                        kind: c.certificate_type.as_str().to_string(),
                        hash: hash_from_wire(c.certificate_hash_data),
                        children: c
                            .child_certificate_hash_data
                            .into_iter()
                            .map(hash_from_wire)
                            .collect(),
                    })
                    .collect(),
            })
        }
        ChargerCommand::InstallCertificate { .. } => {
            let response: StatusOnly<InstallCertificateStatus> = parse(payload)?;
            Ok(CommandReply::from_status(response.status.as_str()))
        }
        ChargerCommand::CertificateSigned { .. } => {
            let response: StatusOnly<CertificateSignedStatus> = parse(payload)?;
            Ok(CommandReply::from_status(response.status.as_str()))
        }
        _ => {
            let response: StatusOnly<DeleteCertificateStatus> = parse(payload)?;
            Ok(CommandReply::from_status(response.status.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ocpp::schema_check::assert_valid;

    fn hash() -> CertificateHash {
        CertificateHash {
            algorithm: "SHA256".into(),
            issuer_name_hash: "ab".repeat(32),
            issuer_key_hash: "cd".repeat(32),
            serial: "1f3a".into(),
        }
    }

    #[test]
    fn requests_fit_their_schemas_and_bad_ones_are_refused() {
        for command in [
            ChargerCommand::GetInstalledCertificateIds { kinds: vec![] },
            ChargerCommand::GetInstalledCertificateIds {
                kinds: vec!["CSMSRootCertificate".into()],
            },
            ChargerCommand::InstallCertificate {
                kind: "ManufacturerRootCertificate".into(),
                pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".into(),
            },
            ChargerCommand::DeleteCertificate { hash: hash() },
            ChargerCommand::CertificateSigned {
                chain: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".into(),
                kind: Some("ChargingStationCertificate".into()),
            },
        ] {
            let (action, payload) = encode(&command).expect("encodes");
            assert_valid("v201", action, false, &payload);
        }
        let mut bad = hash();
        bad.algorithm = "MD5".into();
        assert!(encode(&ChargerCommand::DeleteCertificate { hash: bad }).is_err());
        let long = ChargerCommand::InstallCertificate {
            kind: "CSMSRootCertificate".into(),
            pem: "x".repeat(5501),
        };
        assert!(encode(&long).is_err());
        let v2g_chain = ChargerCommand::InstallCertificate {
            kind: "V2GCertificateChain".into(),
            pem: "x".into(),
        };
        assert!(encode(&v2g_chain).is_err(), "not installable");
        let long_chain = ChargerCommand::CertificateSigned {
            chain: "x".repeat(10_001),
            kind: None,
        };
        assert!(encode(&long_chain).is_err());
    }

    #[test]
    fn sign_certificate_is_read_and_its_answer_checked() {
        let payload = json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----", "certificateType": "V2GCertificate"});
        assert_valid("v201", "SignCertificate", false, &payload);
        let event = sign_certificate(parse(payload).unwrap()).unwrap();
        assert_eq!(
            event,
            ChargerEvent::SignCertificate {
                csr: "-----BEGIN CERTIFICATE REQUEST-----".into(),
                kind: Some("V2GCertificate".into()),
            }
        );
        let too_long: Result<SignCertificateRequest, _> = parse(json!({"csr": "x".repeat(5501)}));
        assert!(too_long.is_err());
        let signed = ChargerCommand::CertificateSigned {
            chain: String::new(),
            kind: None,
        };
        assert!(decode_reply(&signed, json!({"status": "Rejected"})).is_ok());
        assert!(decode_reply(&signed, json!({"status": "NotFound"})).is_err());
    }

    #[test]
    fn the_installed_list_is_read_with_its_hash_data() {
        let get = ChargerCommand::GetInstalledCertificateIds { kinds: vec![] };
        let reply = decode_reply(
            &get,
            json!({"status": "Accepted", "certificateHashDataChain": [{
                "certificateType": "CSMSRootCertificate",
                "certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "ab",
                    "issuerKeyHash": "cd", "serialNumber": "1f3a"}}]}),
        )
        .unwrap();
        let CommandReply::InstalledCertificates {
            status,
            certificates,
        } = reply
        else {
            panic!("{reply:?}")
        };
        assert_eq!(status, "Accepted");
        assert_eq!(certificates[0].hash.serial, "1f3a");
        assert!(decode_reply(&get, json!({"status": "Maybe"})).is_err());
        let delete = ChargerCommand::DeleteCertificate { hash: hash() };
        assert_eq!(
            decode_reply(&delete, json!({"status": "NotFound"})).unwrap(),
            CommandReply::from_status("NotFound")
        );
    }
}
