//! Physical units and identities as newtypes (STYLE.md §7).
//!
//! Owns the conversions between amps, watts and watt-hours; nothing else in the crate
//! multiplies by a voltage. Never holds behaviour beyond arithmetic and validation.

use std::fmt;

/// An identity (a charger id, a card id) as one URL path segment: every byte but RFC 3986
/// §2.3's unreserved characters as `%XX`, so an id with `/`, `?` or spaces cannot reach
/// another path. The one encoder of the crate: the CSMS endpoint a simulated charger dials,
/// the cloud endpoint per charger (`[upstream.ocpp]`), the API paths an MQTT command maps to.
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Current per phase, in amperes.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Amps(pub f64);

/// Active power, in watts.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Watts(pub f64);

/// Energy, in watt-hours.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct WattHours(pub f64);

/// Line-to-neutral voltage, in volts.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Volts(pub f64);

impl Amps {
    /// Power drawn by `phases` phases each carrying `self` at `voltage` (line to neutral),
    /// assuming unity power factor, which is what OCPP limits in A and W are converted with.
    pub fn to_watts(self, voltage: Volts, phases: u8) -> Watts {
        Watts(self.0 * voltage.0 * f64::from(phases))
    }
}

impl Watts {
    /// Per-phase current for a power spread evenly over `phases` phases.
    pub fn to_amps(self, voltage: Volts, phases: u8) -> Amps {
        if phases == 0 || voltage.0 <= 0.0 {
            return Amps(0.0);
        }
        Amps(self.0 / (voltage.0 * f64::from(phases)))
    }
}

impl fmt::Display for Amps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} A", self.0)
    }
}

impl fmt::Display for Watts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} W", self.0)
    }
}

impl fmt::Display for WattHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Wh", self.0)
    }
}

/// The OCPP identity of a charger: the last segment of `ws://HOST/ocpp/<id>`.
///
/// OCPP 2.0.1 Part 4 §3.1.1 allows at most 48 characters from the URL "unreserved" set
/// (plus `*`, `:` and a few others that 1.6 chargers use); we accept ASCII letters and
/// digits and `ChargerId::SYMBOLS` (not `~`), so that an identity is always safe in a URL,
/// a log line, an MQTT topic and a file name. `ChargerId::rule` says so in words, for every
/// message that tells someone what an id may hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChargerId(String);

/// Why a string is not a charger identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargerIdError {
    #[error("a charger id must not be empty")]
    Empty,
    #[error("a charger id has at most 48 characters, this one has {0}")]
    TooLong(usize),
    #[error("a charger id has {rule} (found {0:?})", rule = ChargerId::rule())]
    BadChar(char),
}

impl ChargerId {
    pub const MAX_LEN: usize = 48;
    /// What a charger id may hold besides ASCII letters and digits.
    pub const SYMBOLS: [char; 7] = ['.', '_', '-', ':', '*', '|', '@'];

    /// The rule in words, from the same constants `new` checks: "1-48 letters, digits and
    /// . _ - : * | @".
    pub fn rule() -> String {
        let symbols: Vec<String> = Self::SYMBOLS.iter().map(char::to_string).collect();
        format!(
            "1-{} letters, digits and {}",
            Self::MAX_LEN,
            symbols.join(" ")
        )
    }

    pub fn new(id: impl Into<String>) -> Result<Self, ChargerIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ChargerIdError::Empty);
        }
        let len = id.chars().count();
        if len > Self::MAX_LEN {
            return Err(ChargerIdError::TooLong(len));
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || Self::SYMBOLS.contains(c)))
        {
            return Err(ChargerIdError::BadChar(bad));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChargerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Float noise a limit may carry from arithmetic (a plan's 15.999999999 A is 16 A): far
/// below anything a charger or a fuse can tell apart.
const LIMIT_NOISE: f64 = 1e-9;

/// The one rounding of a limit before it goes to a charger (S1: never above the limit
/// decided): the largest multiple of `step` (A or W) not above `limit`, as the decimal it
/// means (7.3 stays 7.3 although 73 * 0.1 is 7.300000000000001 in binary). Float noise up
/// to `LIMIT_NOISE` is absorbed first. A NaN, infinite, zero or negative limit becomes 0,
/// the safe side (and never `null` on the wire); a step that is not positive leaves the
/// limit as it is. Both OCPP versions write limits with one decimal (`step` 0.1), and
/// dispatch rounds to each charger's step with it.
pub fn floor_limit(limit: f64, step: f64) -> f64 {
    if !limit.is_finite() || limit <= 0.0 {
        return 0.0;
    }
    if !(step.is_finite() && step > 0.0) {
        return limit;
    }
    let target = limit + LIMIT_NOISE;
    // A step that is 1/n of a unit (0.1, 0.5) is written as k / n, which is the double
    // nearest the decimal; any other step as k * step.
    let per_unit = (1.0 / step).round();
    let at = |k: f64| {
        if per_unit >= 1.0 && (per_unit * step - 1.0).abs() < 1e-12 {
            k / per_unit
        } else {
            k * step
        }
    };
    let mut k = (target / step).floor();
    // `target / step` can land just below an integer or round up onto one: correct against
    // the value as written.
    if at(k + 1.0) <= target {
        k += 1.0;
    }
    while k > 0.0 && at(k) > target {
        k -= 1.0;
    }
    at(k.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{Just, prop_oneof};

    #[test]
    fn an_identity_stays_one_path_segment() {
        assert_eq!(path_segment("CS-1"), "CS-1");
        assert_eq!(path_segment("a/../b?c"), "a%2F..%2Fb%3Fc");
        assert_eq!(path_segment("dépôt 1"), "d%C3%A9p%C3%B4t%201");
        assert_eq!(path_segment("a:b*c|d@e_f.g~"), "a%3Ab%2Ac%7Cd%40e_f.g~");
    }

    #[test]
    fn a_limit_rounds_down_to_its_step_as_the_decimal_it_means() {
        let cases: &[(f64, f64, f64)] = &[
            (16.0, 0.1, 16.0),
            (7.3, 0.1, 7.3),
            (7.35, 0.1, 7.3),
            (7.39999, 0.1, 7.3),
            (15.97, 0.1, 15.9),
            (6.05, 0.1, 6.0),
            (0.1 + 0.2, 0.1, 0.3),
            (0.04, 0.1, 0.0),
            (11039.99, 0.1, 11039.9),
            (15.999_999_999_9, 1.0, 16.0),
            (15.9, 1.0, 15.0),
            (13.7, 0.5, 13.5),
            (13.7, 6.0, 12.0),
            (5.0, 0.0, 5.0),
            (-3.0, 0.1, 0.0),
            (f64::NAN, 0.1, 0.0),
            (f64::INFINITY, 1.0, 0.0),
        ];
        for &(limit, step, want) in cases {
            assert_eq!(floor_limit(limit, step), want, "{limit} by {step}");
        }
        // Every tenth up to 1000 stays itself; a micro-amp below it rounds to the tenth below.
        for tenths in 1..10_000_i32 {
            let tenth = f64::from(tenths) / 10.0;
            assert_eq!(floor_limit(tenth, 0.1), tenth, "{tenth}");
            assert_eq!(
                floor_limit(tenth - 1e-6, 0.1),
                f64::from(tenths - 1) / 10.0,
                "{tenth}"
            );
        }
    }

    proptest::proptest! {
        /// S1: never above the limit (beyond float noise), never a whole step below it, a
        /// multiple of the step, and rounding again changes nothing.
        #[test]
        fn a_rounded_limit_is_the_largest_step_not_above_it(
            limit in 0.0..100_000.0f64,
            step in prop_oneof![Just(0.1), Just(0.5), Just(1.0), Just(0.01), Just(6.0), 0.05..10.0f64],
        ) {
            let got = floor_limit(limit, step);
            proptest::prop_assert!(got <= limit + LIMIT_NOISE, "{limit} by {step}: {got}");
            proptest::prop_assert!(got > limit - step - 1e-6, "{limit} by {step}: {got}");
            let k = got / step;
            proptest::prop_assert!((k - k.round()).abs() < 1e-6, "{got} is no multiple of {step}");
            proptest::prop_assert_eq!(floor_limit(got, step), got);
        }
    }

    #[test]
    fn charger_id_accepts_url_safe_identities() {
        assert_eq!(ChargerId::new("CP-01").unwrap().as_str(), "CP-01");
        assert_eq!(ChargerId::new("").unwrap_err(), ChargerIdError::Empty);
        assert_eq!(
            ChargerId::new("a/b").unwrap_err(),
            ChargerIdError::BadChar('/')
        );
        assert_eq!(
            ChargerId::new("x".repeat(49)).unwrap_err(),
            ChargerIdError::TooLong(49)
        );
    }

    /// Every printable ASCII character is named by the rule exactly when it is accepted.
    #[test]
    fn the_charger_id_rule_in_words_is_the_rule_checked() {
        let rule = ChargerId::rule();
        assert_eq!(rule, "1-48 letters, digits and . _ - : * | @");
        let listed = rule.split_once(" and ").map_or("", |(_, s)| s);
        for c in (0x21u8..0x7f).map(char::from) {
            let accepted = ChargerId::new(format!("a{c}b")).is_ok();
            let named = c.is_ascii_alphanumeric() || listed.split(' ').any(|s| s.chars().eq([c]));
            assert_eq!(named, accepted, "{c:?}");
        }
        assert_eq!(
            ChargerIdError::BadChar('~').to_string(),
            format!("a charger id has {rule} (found '~')")
        );
    }

    #[test]
    fn amps_and_watts_convert_through_phases_and_voltage() {
        let w = Amps(16.0).to_watts(Volts(230.0), 3);
        assert_eq!(w, Watts(11040.0));
        assert_eq!(w.to_amps(Volts(230.0), 3), Amps(16.0));
        assert_eq!(Watts(100.0).to_amps(Volts(230.0), 0), Amps(0.0));
    }
}
