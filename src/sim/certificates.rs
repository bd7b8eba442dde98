//! How a simulated 2.0.1 station keeps its certificates (block M): InstallCertificate
//! parses the PEM and stores the certificate's hash data, GetInstalledCertificateIds lists
//! it, DeleteCertificate removes the entry whose hash data match exactly.
//!
//! The issuer hashes are BLAKE2s-256 digests (hex) of the issuer's DER name and of the
//! certificate's public key, labelled SHA256: a stand-in of the right shape (a root is
//! its own issuer), enough for a CSMS that must send back what it was given.

use blake2::{Blake2s256, Digest};
use serde_json::{Value, json};

use super::answers::{Answer, ChargerState};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash data of a PEM certificate, or `None` when it is not one.
fn hash_data(pem: &str) -> Option<Value> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = block.parse_x509().ok()?;
    let serial = hex(cert.raw_serial());
    let serial = serial.trim_start_matches('0');
    Some(json!({
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hex(&Blake2s256::digest(cert.issuer().as_raw())),
        "issuerKeyHash": hex(&Blake2s256::digest(cert.public_key().raw)),
        "serialNumber": if serial.is_empty() { "0" } else { serial },
    }))
}

fn result(payload: Value) -> Answer {
    Answer::Result {
        payload,
        follow_ups: Vec::new(),
    }
}

pub(super) fn install(accept: bool, payload: &Value, state: &mut ChargerState) -> Answer {
    let kind = payload["certificateType"].as_str().unwrap_or_default();
    let pem = payload["certificate"].as_str().unwrap_or_default();
    match hash_data(pem).filter(|_| accept) {
        Some(hash) => {
            state.certificates.retain(|(_, h)| *h != hash);
            state.certificates.push((kind.to_string(), hash));
            result(json!({"status": "Accepted"}))
        }
        None => result(json!({"status": "Rejected"})),
    }
}

pub(super) fn installed(payload: &Value, state: &ChargerState) -> Answer {
    let wanted: Vec<&str> = payload["certificateType"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let chain: Vec<Value> = state
        .certificates
        .iter()
        .filter(|(kind, _)| wanted.is_empty() || wanted.contains(&kind.as_str()))
        .map(|(kind, hash)| json!({"certificateType": kind, "certificateHashData": hash}))
        .collect();
    if chain.is_empty() {
        return result(json!({"status": "NotFound"}));
    }
    result(json!({"status": "Accepted", "certificateHashDataChain": chain}))
}

pub(super) fn delete(accept: bool, payload: &Value, state: &mut ChargerState) -> Answer {
    if !accept {
        return result(json!({"status": "Failed"}));
    }
    let hash = &payload["certificateHashData"];
    let before = state.certificates.len();
    state.certificates.retain(|(_, h)| h != hash);
    let status = if state.certificates.len() < before {
        "Accepted"
    } else {
        "NotFound"
    };
    result(json!({ "status": status }))
}

/// A new key and a PEM PKCS#10 request for it with subject CN `cn`: (CSR, key PEM).
/// ECDSA P-256, as a station's TLS client key (A00: at least 224 bits for EC keys).
pub fn certificate_request(cn: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("ring generates a P-256 key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "chargegate simulator");
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .expect("a request with a CN serializes");
    (csr, key.serialize_pem())
}

/// The SignCertificate a station sends to renew its certificate (A02/A03), for its own
/// id; the key is kept until the signed certificate comes.
pub(super) fn sign_request(state: &mut ChargerState) -> (String, Value) {
    let (csr, key) = certificate_request(&state.id);
    state.certificate_key = Some(key);
    (
        "SignCertificate".to_string(),
        json!({"csr": csr, "certificateType": "ChargingStationCertificate"}),
    )
}

/// CertificateSigned: kept (A02.FR.10 has the station check the chain; the simulator
/// keeps whatever parses as PEM certificates) or Rejected under `Reject`.
pub(super) fn signed(accept: bool, payload: &Value, state: &mut ChargerState) -> Answer {
    let chain = payload["certificateChain"].as_str().unwrap_or_default();
    let parses = !chain.is_empty()
        && x509_parser::pem::Pem::iter_from_buffer(chain.as_bytes())
            .all(|p| p.is_ok_and(|p| p.parse_x509().is_ok()));
    if accept && parses {
        state.signed_chains.push(chain.to_string());
        return result(json!({"status": "Accepted"}));
    }
    result(json!({"status": "Rejected"}))
}
