//! Physical units and identities as newtypes (STYLE.md §7).
//!
//! Owns the conversions between amps, watts and watt-hours; nothing else in the crate
//! multiplies by a voltage. Never holds behaviour beyond arithmetic and validation.

use std::fmt;

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
/// (plus `*`, `:` and a few others that 1.6 chargers use); we accept exactly that set so
/// that an identity is always safe in a URL, a log line, an MQTT topic and a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChargerId(String);

/// Why a string is not a charger identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargerIdError {
    #[error("a charger id must not be empty")]
    Empty,
    #[error("a charger id has at most 48 characters, this one has {0}")]
    TooLong(usize),
    #[error("a charger id may only hold letters, digits and . _ - : * | @ (found {0:?})")]
    BadChar(char),
}

impl ChargerId {
    pub const MAX_LEN: usize = 48;

    pub fn new(id: impl Into<String>) -> Result<Self, ChargerIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ChargerIdError::Empty);
        }
        let len = id.chars().count();
        if len > Self::MAX_LEN {
            return Err(ChargerIdError::TooLong(len));
        }
        if let Some(bad) = id.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '*' | '|' | '@'))
        }) {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn amps_and_watts_convert_through_phases_and_voltage() {
        let w = Amps(16.0).to_watts(Volts(230.0), 3);
        assert_eq!(w, Watts(11040.0));
        assert_eq!(w.to_amps(Volts(230.0), 3), Amps(16.0));
        assert_eq!(Watts(100.0).to_amps(Volts(230.0), 0), Amps(0.0));
    }
}
