//! The WebSocket handshake decision: path, subprotocol and HTTP Basic auth.
//!
//! Pure: takes the request's path and headers, the known chargers and the password check's
//! verdict, returns either the admitted connection or the HTTP refusal. The check itself
//! (argon2 off the runtime, the cache, backoff) is `verify.rs`; it runs before tungstenite's
//! synchronous callback, which only replays this decision (`head.rs`).
//!
//! An unknown id is refused exactly like a wrong password (401 with the Basic challenge),
//! so the answers do not tell which charger ids exist.

use std::collections::HashMap;

use base64::Engine;
use subtle::ConstantTimeEq;

use crate::config::{Charger, ChargerSecret, UnknownChargers};
use crate::csms::{self, Admission};
use crate::ocpp::model::OcppVersion;
use crate::units::ChargerId;

/// An admitted handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub id: ChargerId,
    pub version: OcppVersion,
    pub admission: Admission,
}

/// A refused handshake: the HTTP status, a body for the charger's log, and a line for ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub body: String,
    /// Send `WWW-Authenticate: Basic` (RFC 7617) with a 401.
    pub challenge: bool,
    /// For our log only, when it says more than `body` may tell a stranger.
    pub detail: Option<String>,
}

impl Refusal {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            challenge: false,
            detail: None,
        }
    }

    /// 401 with the Basic challenge: wrong, missing or unchecked credentials, or an unknown
    /// id; all look the same to the client. `detail` goes to our log.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            status: 401,
            body: "wrong or missing credentials".into(),
            challenge: true,
            detail: Some(detail.into()),
        }
    }

    /// The line for our log.
    pub fn reason(&self) -> &str {
        self.detail.as_deref().unwrap_or(&self.body)
    }
}

/// The charger id of a request path `/ocpp/<id>` (OCPP-J 1.6 §3.1.1, 2.0.1 Part 4
/// §3.1.1: the identity is the last path segment, percent-encoded).
pub fn charger_id_from_path(path: &str) -> Result<ChargerId, Refusal> {
    let path = path.split('?').next().unwrap_or("");
    let Some(raw) = path.strip_prefix("/ocpp/") else {
        return Err(Refusal::new(404, "chargers connect to /ocpp/<charger-id>"));
    };
    let decoded = percent_decode(raw)
        .ok_or_else(|| Refusal::new(400, "the charger id is not valid percent-encoding"))?;
    ChargerId::new(decoded).map_err(|e| Refusal::new(400, format!("bad charger id: {e}")))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Picks the subprotocol: the highest version both sides support, from every
/// `Sec-WebSocket-Protocol` header (each may hold a comma list, RFC 6455 §11.3.4).
pub fn select_version<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<OcppVersion> {
    let tokens: Vec<&str> = offered
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    OcppVersion::PREFERENCE
        .into_iter()
        .find(|v| tokens.contains(&v.subprotocol()))
}

/// Splits `Authorization: Basic base64(user:password)`.
pub fn basic_credentials(header: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Checks a password against a charger's secret: in constant time for a plain password,
/// by argon2 for a hash.
pub fn password_matches(secret: &ChargerSecret, password: &[u8]) -> bool {
    match secret {
        ChargerSecret::Password(expected) => bool::from(expected.as_bytes().ct_eq(password)),
        ChargerSecret::Hash(phc) => {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            let Ok(parsed) = PasswordHash::new(phc) else {
                return false;
            };
            argon2::Argon2::default()
                .verify_password(password, &parsed)
                .is_ok()
        }
    }
}

/// Hashes a password for `password-hash` (argon2id with the crate's default cost).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// The request facts the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub path: &'a str,
    pub subprotocols: &'a [&'a str],
    pub authorization: Option<&'a str>,
    /// The subject CN of the client certificate the TLS layer verified (security
    /// profile 3); `Some("")` for a verified certificate without a CN.
    pub client_certificate: Option<&'a str>,
}

/// Decides a handshake. Order: path, then who (unknown ids are refused like a wrong
/// password, before anything about them is revealed), then credentials, then the
/// subprotocol. `password_ok` checks a password against the charger's secret: the caller's
/// precomputed verdict (`verify.rs`), or `password_matches` where blocking is fine.
pub fn decide(
    request: &Request<'_>,
    chargers: &HashMap<ChargerId, Charger>,
    unknown: UnknownChargers,
    password_ok: &dyn Fn(&ChargerSecret, &[u8]) -> bool,
) -> Result<Admitted, Refusal> {
    let id = charger_id_from_path(request.path)?;
    let admission = csms::admission(chargers, &id, unknown).ok_or_else(|| {
        Refusal::unauthorized(format!("charger {id} is not configured on this site"))
    })?;
    // A certificate is the charger's identity: its CN must be the id it connects as
    // (security profile 3: the station certificate's CN carries the station identity), or
    // one charger's certificate would open every charger's URL.
    if let Some(cn) = request.client_certificate
        && cn != id.as_str()
    {
        return Err(Refusal::new(
            401,
            format!("the client certificate is for {cn:?}, not for {id}"),
        ));
    }
    if let Some(secret) = chargers.get(&id).and_then(|c| c.secret.as_ref()) {
        let (user, password) = request
            .authorization
            .and_then(basic_credentials)
            .ok_or_else(|| Refusal::unauthorized(format!("{id}: no Basic credentials")))?;
        // The user name must be the charger's own identity (1.6 security whitepaper §3.1.2).
        if user != id.as_str() || !password_ok(secret, &password) {
            return Err(Refusal::unauthorized(format!("{id}: wrong credentials")));
        }
    } else if admission == Admission::Known && request.client_certificate.is_none() {
        // Same answer as an unknown id: a stranger learns nothing of certificate-only ids.
        return Err(Refusal::unauthorized(format!(
            "{id}: this charger must present a client certificate"
        )));
    }
    let version = select_version(request.subprotocols.iter().copied()).ok_or_else(|| {
        Refusal::new(
            400,
            "no supported OCPP subprotocol: offer ocpp2.0.1 or ocpp1.6 in Sec-WebSocket-Protocol",
        )
    })?;
    Ok(Admitted {
        id,
        version,
        admission,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Amps;

    fn chargers() -> HashMap<ChargerId, Charger> {
        let mut map = HashMap::new();
        for (id, secret) in [
            (
                "CP-1",
                Some(ChargerSecret::Password("secret-password-1".into())),
            ),
            (
                "CP-2",
                Some(ChargerSecret::Hash(
                    hash_password("hashed-password-2").unwrap(),
                )),
            ),
            ("CP-3", None),
        ] {
            let id = ChargerId::new(id).unwrap();
            map.insert(
                id.clone(),
                Charger {
                    id,
                    secret,
                    max_current: Amps(32.0),
                    min_current: Amps(6.0),
                    phases: 3,
                    phase_rotation: "RST".into(),
                    failsafe_current: Amps(6.0),
                    priority: 1,
                    circuit: None,
                    profile: "generic".into(),
                    quirks: Default::default(),
                    upstream_password: None,
                },
            );
        }
        map
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    fn decide_with(
        path: &str,
        protocols: &[&str],
        auth: Option<&str>,
        unknown: UnknownChargers,
    ) -> Result<Admitted, Refusal> {
        let request = Request {
            path,
            subprotocols: protocols,
            authorization: auth,
            client_certificate: None,
        };
        decide(&request, &chargers(), unknown, &password_matches)
    }

    #[test]
    fn the_highest_common_version_wins() {
        assert_eq!(select_version(["ocpp1.6"]), Some(OcppVersion::V16));
        assert_eq!(
            select_version(["ocpp1.6, ocpp2.0.1"]),
            Some(OcppVersion::V201)
        );
        assert_eq!(
            select_version(["ocpp1.6", "ocpp2.0.1"]),
            Some(OcppVersion::V201)
        );
        assert_eq!(select_version(["ocpp2.1"]), None);
        assert_eq!(select_version([]), None);
    }

    #[test]
    fn paths_name_a_valid_charger() {
        assert_eq!(charger_id_from_path("/ocpp/CP-1").unwrap().as_str(), "CP-1");
        assert_eq!(
            charger_id_from_path("/ocpp/CP%2D1").unwrap().as_str(),
            "CP-1"
        );
        assert_eq!(charger_id_from_path("/other/CP-1").unwrap_err().status, 404);
        assert_eq!(charger_id_from_path("/ocpp/a/b").unwrap_err().status, 400);
        assert_eq!(charger_id_from_path("/ocpp/%zz").unwrap_err().status, 400);
    }

    #[test]
    fn credentials_are_checked_per_charger() {
        let reject = UnknownChargers::Reject;
        let ok = decide_with(
            "/ocpp/CP-1",
            &["ocpp1.6"],
            Some(&basic("CP-1", "secret-password-1")),
            reject,
        )
        .unwrap();
        assert_eq!(
            (ok.version, ok.admission),
            (OcppVersion::V16, Admission::Known)
        );
        let hashed = decide_with(
            "/ocpp/CP-2",
            &["ocpp2.0.1"],
            Some(&basic("CP-2", "hashed-password-2")),
            reject,
        );
        assert_eq!(hashed.unwrap().version, OcppVersion::V201);
        for auth in [
            None,
            Some(basic("CP-1", "wrong")),
            Some(basic("CP-2", "secret-password-1")),
            Some("Bearer x".into()),
        ] {
            let refusal =
                decide_with("/ocpp/CP-1", &["ocpp1.6"], auth.as_deref(), reject).unwrap_err();
            assert_eq!((refusal.status, refusal.challenge), (401, true), "{auth:?}");
        }
        let no_cert = decide_with("/ocpp/CP-3", &["ocpp1.6"], None, reject).unwrap_err();
        assert_eq!(no_cert.status, 401);
    }

    #[test]
    fn a_client_certificate_must_name_the_charger() {
        let request = |cn| Request {
            path: "/ocpp/CP-3",
            subprotocols: &["ocpp1.6"],
            authorization: None,
            client_certificate: cn,
        };
        assert!(
            decide(
                &request(Some("CP-3")),
                &chargers(),
                UnknownChargers::Reject,
                &password_matches
            )
            .is_ok()
        );
        assert_eq!(
            decide(
                &request(Some("CP-1")),
                &chargers(),
                UnknownChargers::Reject,
                &password_matches
            )
            .unwrap_err()
            .status,
            401
        );
        assert_eq!(
            decide(
                &request(None),
                &chargers(),
                UnknownChargers::Reject,
                &password_matches
            )
            .unwrap_err()
            .status,
            401
        );
    }

    #[test]
    fn unknown_chargers_follow_the_policy() {
        // Issue 17: an unknown id is answered like a wrong password (it was a 404).
        let unknown =
            decide_with("/ocpp/NEW", &["ocpp1.6"], None, UnknownChargers::Reject).unwrap_err();
        let wrong = decide_with(
            "/ocpp/CP-1",
            &["ocpp1.6"],
            Some(&basic("CP-1", "wrong")),
            UnknownChargers::Reject,
        )
        .unwrap_err();
        assert_eq!(
            (unknown.status, unknown.challenge, &unknown.body),
            (wrong.status, wrong.challenge, &wrong.body)
        );
        assert_eq!(unknown.status, 401);
        let pending =
            decide_with("/ocpp/NEW", &["ocpp1.6"], None, UnknownChargers::Pending).unwrap();
        assert_eq!(pending.admission, Admission::Pending);
    }

    #[test]
    fn no_common_subprotocol_is_a_400_after_auth() {
        let refusal = decide_with(
            "/ocpp/CP-1",
            &["ocpp2.1"],
            Some(&basic("CP-1", "secret-password-1")),
            UnknownChargers::Reject,
        );
        assert_eq!(refusal.unwrap_err().status, 400);
    }
}
