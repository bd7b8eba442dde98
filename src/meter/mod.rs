//! Energy meters over Modbus TCP and RTU, described by device profiles
//! (`profiles::meter`, the register-map files).
//!
//! Deciding code is pure: `plan` (batched reads),
//! `decode` (words to quantities, plausibility), `health` (staleness, frozen values,
//! backoff), `history` (1-minute downsampling). Doing code is thin: `modbus` (one
//! time-limited request at a time), `task` (one poller per TCP meter and one per RTU bus),
//! `probe` (the commissioning read). The pollers publish a `MeterStatus` per meter on a
//! `watch` channel. This module must never decide what a reading means for the chargers;
//! that is `site::load`.

pub mod decode;
pub mod health;
pub mod history;
pub mod modbus;
pub mod plan;
pub mod probe;
pub mod task;

use std::time::Duration;

use tokio::time::Instant;

use crate::config::MeterRole;
use crate::units::{Amps, Volts, WattHours, Watts};

pub use crate::profiles::meter::{Profile, ProfileError, Quantity};
pub use decode::{DecodeError, RegisterImage, Values};
pub use task::{MeterHandles, spawn_bus_on, spawn_meters};

/// One good reading of a meter, in base units, with `invert` applied. Phase index 0..3 is
/// L1..L3 of the meter (which the electrician wires to site L1..L3).
#[derive(Debug, Clone, PartialEq)]
pub struct MeterReading {
    /// When the answer arrived (monotonic clock of the poller).
    pub at: Instant,
    /// Per-phase current. Signed when the profile maps per-phase power (negative:
    /// exporting on that phase); otherwise as the meter reports it (usually unsigned).
    pub current: [Option<Amps>; 3],
    pub voltage: [Option<Volts>; 3],
    pub power: [Option<Watts>; 3],
    pub power_total: Option<Watts>,
    pub energy_import: Option<WattHours>,
    pub energy_export: Option<WattHours>,
    /// Grid frequency in Hz.
    pub frequency: Option<f64>,
}

impl MeterReading {
    /// Builds a reading from decoded values. `invert` (a CT mounted the wrong way) flips
    /// the sign of currents and powers and swaps import with export.
    pub fn from_values(values: &Values, at: Instant, invert: bool) -> Self {
        let sign = if invert { -1.0 } else { 1.0 };
        let get = |q| values.get(q);
        let power: [Option<Watts>; 3] = [Quantity::PowerL1, Quantity::PowerL2, Quantity::PowerL3]
            .map(|q| get(q).map(|w| Watts(w * sign)));
        let currents = [
            Quantity::CurrentL1,
            Quantity::CurrentL2,
            Quantity::CurrentL3,
        ];
        let mut current = [None; 3];
        for (i, q) in currents.into_iter().enumerate() {
            current[i] = get(q).map(|a| {
                // Direction comes from the phase's active power when the meter reports
                // current as a magnitude (most do).
                let a = match power[i] {
                    Some(Watts(p)) if p < 0.0 => -a.abs(),
                    Some(_) => a.abs(),
                    None => a * sign,
                };
                Amps(a)
            });
        }
        let (import, export) = (
            get(Quantity::EnergyImport).map(WattHours),
            get(Quantity::EnergyExport).map(WattHours),
        );
        Self {
            at,
            current,
            voltage: [
                Quantity::VoltageL1,
                Quantity::VoltageL2,
                Quantity::VoltageL3,
            ]
            .map(|q| get(q).map(Volts)),
            power,
            power_total: get(Quantity::PowerTotal).map(|w| Watts(w * sign)),
            energy_import: if invert { export } else { import },
            energy_export: if invert { import } else { export },
            frequency: get(Quantity::Frequency),
        }
    }
}

/// What a poller publishes after every attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterStatus {
    pub id: String,
    pub role: MeterRole,
    pub circuit: Option<String>,
    /// The last good reading, however old: check `usable` before using it.
    pub reading: Option<MeterReading>,
    pub stale_after: Duration,
    /// Stale when published (the consumer re-checks with its own `now`).
    pub stale: bool,
    pub errors_total: u64,
    pub consecutive_errors: u32,
    pub last_error: Option<String>,
}

impl MeterStatus {
    pub fn new(
        id: String,
        role: MeterRole,
        circuit: Option<String>,
        stale_after: Duration,
    ) -> Self {
        Self {
            id,
            role,
            circuit,
            reading: None,
            stale_after,
            stale: true,
            errors_total: 0,
            consecutive_errors: 0,
            last_error: None,
        }
    }

    /// The reading, if it is good at `now`: not stale when published and not older than
    /// `stale-after-ms` (DESIGN.md S5; never read a stale meter as zero).
    pub fn usable(&self, now: Instant) -> Option<&MeterReading> {
        self.reading
            .as_ref()
            .filter(|r| !self.stale && now.saturating_duration_since(r.at) < self.stale_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert_and_power_sign_give_current_direction() {
        let mut v = Values::default();
        v.0.insert(Quantity::CurrentL1, 10.0);
        v.0.insert(Quantity::CurrentL2, 5.0);
        v.0.insert(Quantity::PowerL1, 2300.0);
        v.0.insert(Quantity::PowerL2, -1150.0);
        v.0.insert(Quantity::EnergyImport, 100.0);
        let now = Instant::now();
        let r = MeterReading::from_values(&v, now, false);
        assert_eq!(r.current[0], Some(Amps(10.0)));
        assert_eq!(r.current[1], Some(Amps(-5.0)));
        assert_eq!(r.current[2], None);
        let r = MeterReading::from_values(&v, now, true);
        assert_eq!(r.current[0], Some(Amps(-10.0)));
        assert_eq!(r.current[1], Some(Amps(5.0)));
        assert_eq!(r.energy_export, Some(WattHours(100.0)));
        assert_eq!(r.energy_import, None);
    }

    #[test]
    fn a_stale_status_is_never_usable() {
        let now = Instant::now();
        let mut s = MeterStatus::new("m".into(), MeterRole::Grid, None, Duration::from_secs(5));
        assert!(s.usable(now).is_none());
        s.reading = Some(MeterReading::from_values(&Values::default(), now, false));
        assert!(s.usable(now).is_none(), "flagged stale");
        s.stale = false;
        assert!(s.usable(now).is_some());
        assert!(s.usable(now + Duration::from_secs(5)).is_none(), "too old");
    }
}
