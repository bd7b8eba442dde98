//! The `[[charger]]` table: one charger's identity, credentials, currents, phases and
//! charger profile, each problem reported at its key. Cross-charger checks (duplicates,
//! the failsafe budget) are `site::check`'s. No IO beyond loading the charger profile file.

use std::path::PathBuf;

use super::decode::{Table, amps, phases};
use super::upstream::read_password_keys;
use super::{Charger, ChargerSecret, UpstreamPassword};
use crate::ev::IEC_MIN_CURRENT_A;
use crate::profiles::charger::ChargerQuirks;
use crate::units::{Amps, ChargerId};

const CHARGER_KEYS: &[&str] = &[
    "id",
    "password",
    "password-hash",
    "max-current-a",
    "min-current-a",
    "phases",
    "phase-rotation",
    "failsafe-current-a",
    "priority",
    "circuit",
    "profile",
    "upstream-password",
    "upstream-password-file",
];
/// The six phase rotations of OCPP ConnectorPhaseRotation (1.6 §9.1.8, 2.0.1 PhaseRotation).
const ROTATIONS: &[&str] = &["RST", "RTS", "SRT", "STR", "TRS", "TSR"];

pub(super) fn read_charger(t: &Table<'_, '_>, profile_dirs: &[PathBuf]) -> Option<Charger> {
    let id = t
        .req_str(
            "id",
            "the OCPP identity the charger uses in its URL, e.g. id = \"CP-01\"",
        )
        .and_then(|id| {
            ChargerId::new(id)
                .map_err(|e| t.problem("id", e.to_string(), None))
                .ok()
        });
    let secret = read_secret(t);
    let upstream_password = read_upstream_password(t, secret.as_ref());
    if let (Some(id), Some(_)) = (&id, &upstream_password)
        && id.as_str().contains(':')
        && (t.has("upstream-password") || t.has("upstream-password-file"))
    {
        // RFC 7617 §2, toward the cloud as toward chargegate (below).
        let key = if t.has("upstream-password") {
            "upstream-password"
        } else {
            "upstream-password-file"
        };
        t.problem(
            key,
            format!("charger id {id} contains ':', which Basic auth cannot carry"),
            Some(
                "rename the charger, or let the cloud authenticate it by client certificate".into(),
            ),
        );
    }
    if let (Some(id), Some(_)) = (&id, &secret)
        && id.as_str().contains(':')
    {
        // RFC 7617 §2: the Basic user-id cannot contain a colon, and OCPP puts the
        // charger's identity there; such a charger could never log in.
        t.problem(
            "id",
            format!("charger id {id} contains ':', which Basic auth cannot carry"),
            Some(
                "rename the charger, or authenticate it by client certificate (no password)".into(),
            ),
        );
    }
    let max = amps(
        t,
        "max-current-a",
        Some("the charger's rated current per phase, in A"),
    );
    let min = amps(t, "min-current-a", None).unwrap_or(Amps(IEC_MIN_CURRENT_A));
    let phases = if t.has("phases") {
        phases(t, "phases")
    } else {
        Some(3)
    };
    let rotation = read_rotation(t);
    let failsafe = amps(t, "failsafe-current-a", None);
    let priority = t.opt_int("priority", 0, 1000).unwrap_or(1) as u32;
    let circuit = t.opt_str("circuit").filter(|c| c != super::SITE_CIRCUIT);
    let profile = t
        .opt_str("profile")
        .unwrap_or_else(|| "generic".to_string());
    let quirks = read_quirks(t, &profile, profile_dirs);
    t.finish(CHARGER_KEYS);
    let max = max?;
    let quirks = quirks?;
    let failsafe = failsafe.unwrap_or(min);
    check_failsafe_pauses(t, &profile, &quirks, failsafe, min);
    Some(Charger {
        id: id?,
        secret,
        max_current: max,
        min_current: min,
        phases: phases?,
        phase_rotation: rotation,
        failsafe_current: failsafe,
        priority,
        circuit,
        profile,
        quirks,
        upstream_password,
    })
}

/// `upstream-password` or `upstream-password-file`; neither: the local plain password,
/// which the cloud then expects too (a hash cannot be sent on).
fn read_upstream_password(
    t: &Table<'_, '_>,
    secret: Option<&ChargerSecret>,
) -> Option<UpstreamPassword> {
    if t.has("upstream-password") || t.has("upstream-password-file") {
        return read_password_keys(t, "upstream-password", "upstream-password-file");
    }
    match secret {
        Some(ChargerSecret::Password(p)) => Some(UpstreamPassword::Inline(p.clone())),
        Some(ChargerSecret::Hash(_)) | None => None,
    }
}

/// `password` or `password-hash`, not both; `None` when the charger needs no credentials.
fn read_secret(t: &Table<'_, '_>) -> Option<ChargerSecret> {
    let password = t.opt_str("password");
    let hash = t.opt_str("password-hash");
    match (password, hash) {
        (Some(_), Some(_)) => {
            t.problem(
                "password-hash",
                "both password and password-hash are set",
                Some("keep one of them".into()),
            );
            None
        }
        (Some(p), None) => {
            // OCPP 1.6 security whitepaper §3.2 / 2.0.1 A00.FR.205: 16 to 40 characters.
            if p.chars().count() < 8 {
                t.problem(
                    "password",
                    "a charger password needs at least 8 characters",
                    Some("OCPP recommends 16 to 40 random characters".into()),
                );
            }
            Some(ChargerSecret::Password(p))
        }
        (None, Some(h)) => {
            if !is_argon2_hash(&h) {
                t.problem(
                    "password-hash",
                    "not a PHC password hash",
                    Some("create one with `chargegate hash-password`".into()),
                );
            }
            Some(ChargerSecret::Hash(h))
        }
        (None, None) => None,
    }
}

/// `phase-rotation`, RST unless set.
fn read_rotation(t: &Table<'_, '_>) -> String {
    let rotation = t
        .opt_str("phase-rotation")
        .unwrap_or_else(|| "RST".to_string());
    if !ROTATIONS.contains(&rotation.as_str()) {
        t.problem(
            "phase-rotation",
            format!("{rotation:?} is not a phase rotation"),
            Some(format!("one of {}", ROTATIONS.join(", "))),
        );
    }
    rotation
}

/// The charger profile's quirks; `None` (and a problem) when it cannot be loaded.
fn read_quirks(
    t: &Table<'_, '_>,
    profile: &str,
    profile_dirs: &[PathBuf],
) -> Option<ChargerQuirks> {
    match crate::profiles::charger::load(profile, profile_dirs) {
        Ok(q) => Some(q),
        Err(e) => {
            t.problem("profile", e.to_string(), Some("a file in profiles/charger/ without .toml, e.g. \"generic\"; or set [profiles] charger-dir".into()));
            None
        }
    }
}

/// A charger that cannot pause at 0 A must not be told to fall back below its minimum.
fn check_failsafe_pauses(
    t: &Table<'_, '_>,
    profile: &str,
    quirks: &ChargerQuirks,
    failsafe: Amps,
    min: Amps,
) {
    if !quirks.zero_pause && failsafe.0 < min.0 {
        t.problem(
            "failsafe-current-a",
            format!("profile {profile:?} cannot pause at 0 A, so its failsafe must be at least min-current-a ({} A)", min.0),
            Some("raise failsafe-current-a, or use another charger profile".into()),
        );
    }
}

/// A PHC string chargegate can verify: an argon2 variant, valid parameters, a salt and a
/// hash. A string that merely parses as PHC (another algorithm, a cost out of range)
/// passed before and then refused every login (issue 17).
pub(super) fn is_argon2_hash(text: &str) -> bool {
    let Ok(hash) = argon2::password_hash::PasswordHash::new(text) else {
        return false;
    };
    argon2::Algorithm::try_from(hash.algorithm).is_ok()
        && argon2::Params::try_from(&hash).is_ok()
        && hash.salt.is_some()
        && hash.hash.is_some()
}
