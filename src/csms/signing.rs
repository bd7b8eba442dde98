//! The certificate authority that signs chargers' certificate requests (OCPP 2.0.1 A02/A03:
//! SignCertificate -> CertificateSigned), with `[csms] client-ca-key-file`, the key of
//! `client-ca-file` (the CA that security profile 3 trusts): a certificate it signs opens
//! the charger's own URL over TLS with that certificate.
//!
//! A request is signed only if it is a PEM PKCS#10 request whose self-signature verifies
//! (the charger holds the key) and whose subject CN is the charger's id (A00.FR.4xx: the
//! certificate names the station; `charger::verify` maps a client certificate to the id
//! by that CN). Only the subject and the public key are taken from the request: the
//! extensions it asks for (a CA flag, other usages) are ignored, and the certificate gets
//! exactly ChargingStationCertificate usage: digitalSignature + keyAgreement, extended key
//! usage clientAuth, not a CA, valid `VALIDITY_DAYS` from a day before `now` (a charger
//! whose clock lags still accepts it). Pure apart from reading the two files at start.

use std::path::Path;

use chrono::{DateTime, Datelike, Duration, Utc};
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};

/// How long a signed certificate is valid, in days.
pub const VALIDITY_DAYS: i64 = 365;

/// The CA certificate (PEM, as sent after the leaf) and its signing key.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// Why a request was not signed; the text goes to the log and the audit entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the CSR is not a PEM CERTIFICATE REQUEST")]
    NotPem,
    #[error("the CSR does not parse or its signature does not verify ({0})")]
    Invalid(String),
    #[error("the CSR's subject CN is {found:?}, not the charger id {expected:?}")]
    WrongName { found: String, expected: String },
    #[error("certificate type {0} is not signed by chargegate (only ChargingStationCertificate)")]
    Kind(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

impl CertificateAuthority {
    /// Reads the CA's certificate(s) from `cert_file` and its key from `key_file`; the
    /// certificate used is the one in `cert_file` whose public key is the key's. The error
    /// names the file and says what is wrong (`validate` shows it under the key).
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, String> {
        let key_text = std::fs::read_to_string(key_file)
            .map_err(|e| format!("cannot read {}: {e}", key_file.display()))?;
        let key = KeyPair::from_pem(&key_text).map_err(|e| {
            format!(
                "{} holds no private key chargegate can sign with ({e})",
                key_file.display()
            )
        })?;
        let cert_text = std::fs::read_to_string(cert_file)
            .map_err(|e| format!("cannot read {}: {e}", cert_file.display()))?;
        let spki = key.subject_public_key_info();
        let ca_pem = matching_certificate(&cert_text, &spki).ok_or_else(|| {
            format!(
                "the key in {} is not the key of any certificate in {}",
                key_file.display(),
                cert_file.display()
            )
        })?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)
            .map_err(|e| format!("{}: {e}", cert_file.display()))?;
        Ok(Self { issuer, ca_pem })
    }

    /// Checks `csr` (see the module comment) and returns the certificate chain, PEM: the
    /// new certificate, then the CA's.
    pub fn sign(
        &self,
        charger: &str,
        csr: &str,
        kind: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, Refusal> {
        if let Some(kind) = kind.filter(|k| *k != "ChargingStationCertificate") {
            // V2GCertificate belongs to the ISO 15118 PKI (a V2G root), not this CA.
            return Err(Refusal::Kind(kind.to_string()));
        }
        if !csr.contains("-----BEGIN CERTIFICATE REQUEST-----") {
            return Err(Refusal::NotPem);
        }
        let request = CertificateSigningRequestParams::from_pem(csr)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        let found = match request.params.distinguished_name.get(&DnType::CommonName) {
            Some(DnValue::PrintableString(s)) => s.to_string(),
            Some(DnValue::Utf8String(s)) => s.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        if found != charger {
            return Err(Refusal::WrongName {
                found,
                expected: charger.to_string(),
            });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = request.params.distinguished_name.clone();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let from = now - Duration::days(1);
        let until = from + Duration::days(VALIDITY_DAYS + 1);
        let (y, m, d) = day(from);
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = day(until);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        params.serial_number = Some(serial(now));
        let signed = CertificateSigningRequestParams {
            params,
            public_key: request.public_key,
        }
        .signed_by(&self.issuer)
        .map_err(|e| Refusal::Signing(e.to_string()))?;
        Ok(format!("{}{}", signed.pem(), self.ca_pem))
    }
}

/// The PEM of the certificate in `text` whose SubjectPublicKeyInfo is `spki`.
fn matching_certificate(text: &str, spki: &[u8]) -> Option<String> {
    let mut rest = text.as_bytes();
    while let Ok((after, block)) = x509_parser::pem::parse_x509_pem(rest) {
        if block.label == "CERTIFICATE"
            && block
                .parse_x509()
                .is_ok_and(|c| c.tbs_certificate.subject_pki.raw == spki)
        {
            let start = text.len() - rest.len();
            let end = text.len() - after.len();
            let pem = text[start..end].trim();
            return Some(format!("{pem}\n"));
        }
        if after.len() == rest.len() {
            break;
        }
        rest = after;
    }
    None
}

/// `at`'s calendar day, UTC (rcgen takes dates: validity runs from midnight).
fn day(at: DateTime<Utc>) -> (i32, u8, u8) {
    // Month 1..=12 and day 1..=31 always fit a u8.
    let small = |n: u32| u8::try_from(n).unwrap_or(1);
    (at.year(), small(at.month()), small(at.day()))
}

/// A serial number unique per certificate: 8 random bytes after the signing time, with
/// the top bit clear (RFC 5280 §4.1.2.2: positive, at most 20 octets).
fn serial(now: DateTime<Utc>) -> SerialNumber {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&now.timestamp().to_be_bytes());
    let mut random = [0u8; 8];
    OsRng.fill_bytes(&mut random);
    bytes.extend_from_slice(&random);
    bytes[0] &= 0x7f;
    SerialNumber::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, DistinguishedName};

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// (CA certificate PEM, CA key PEM).
    fn ca() -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "depot CA");
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn csr(cn: &str) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_request_for_the_charger_is_signed_as_a_client_leaf() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca();
        let other = ca().0;
        // The CA is found among other certificates in the file.
        let bundle = write(dir.path(), "ca.pem", &format!("{other}{cert}"));
        let ca = CertificateAuthority::load(&bundle, &write(dir.path(), "k.pem", &key)).unwrap();
        let chain = ca.sign("CP-1", &csr("CP-1"), None, now()).unwrap();
        let blocks: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(chain.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(blocks.len(), 2);
        let leaf = blocks[0].parse_x509().unwrap();
        let root = blocks[1].parse_x509().unwrap();
        assert_eq!(
            leaf.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "CP-1"
        );
        leaf.verify_signature(Some(root.public_key())).unwrap();
        // The request asked to be a CA; the certificate is not one.
        assert!(!leaf.is_ca());
        assert!(
            leaf.extended_key_usage()
                .unwrap()
                .unwrap()
                .value
                .client_auth
        );
        let validity = leaf.validity();
        assert!(validity.not_before.timestamp() <= now().timestamp());
        assert!(validity.not_after.timestamp() >= now().timestamp() + 364 * 86_400);
    }

    #[test]
    fn wrong_names_kinds_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca();
        let ca = CertificateAuthority::load(
            &write(dir.path(), "c.pem", &cert),
            &write(dir.path(), "k.pem", &key),
        )
        .unwrap();
        assert!(matches!(
            ca.sign("CP-1", &csr("CP-2"), None, now()),
            Err(Refusal::WrongName { .. })
        ));
        assert!(matches!(
            ca.sign("CP-1", &csr("CP-1"), Some("V2GCertificate"), now()),
            Err(Refusal::Kind(_))
        ));
        assert_eq!(ca.sign("CP-1", "hello", None, now()), Err(Refusal::NotPem));
        // A request whose body was altered after signing fails its signature.
        let good = csr("CP-1");
        let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
        let middle = lines.len() / 2;
        lines[middle] = lines[middle].chars().rev().collect();
        assert!(matches!(
            ca.sign("CP-1", &lines.join("\n"), None, now()),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn a_key_that_is_not_the_cas_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = ca();
        let (_, stranger) = ca();
        let c = write(dir.path(), "c.pem", &cert);
        let err =
            CertificateAuthority::load(&c, &write(dir.path(), "k.pem", &stranger)).unwrap_err();
        assert!(err.contains("not the key of any certificate"), "{err}");
        let err =
            CertificateAuthority::load(&c, &write(dir.path(), "g.pem", "garbage")).unwrap_err();
        assert!(err.contains("no private key"), "{err}");
        let err = CertificateAuthority::load(&c, &dir.path().join("missing.pem")).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
    }
}
