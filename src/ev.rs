//! How an electric vehicle follows the current a charger offers, as far as chargegate
//! relies on it: the control pilot's duty cycle (IEC 61851-1) tells the vehicle's on-board
//! charger the most it may draw, and the vehicle follows a change after a delay. The site
//! derivation (`site::load`) and dispatch (`dispatch::task`) both time things by these.

use std::time::Duration;

/// How long a vehicle may take to follow a lower offer (IEC 61851-1: 5 s after the
/// control pilot's duty cycle changes).
pub const EV_RESPONSE: Duration = Duration::from_secs(5);

/// A sample taken this long after a higher offer shows the vehicle's ramp: vehicles
/// follow a higher offer within a second or two (the IEC 61851-1 bound of 5 s is for
/// reductions).
pub const RAMP_SETTLE: Duration = Duration::from_secs(2);

/// The lowest current a vehicle may charge with (IEC 61851-1: a duty cycle below 10 %
/// means no charging): a limit is 0 or at least this (DESIGN.md S4), in A.
pub const IEC_MIN_CURRENT_A: f64 = 6.0;
