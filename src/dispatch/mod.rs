//! Dispatch: limits reach the chargers as ChargingProfiles without the site ever going over
//! its limit (DESIGN.md S1-S6).
//!
//! `input` turns the control loop's output into `DispatchInput` (targets and rows);
//! `round` decides purely which limits go out now (S1, S2, S4); `profile` builds the
//! profiles (the S3 baseline, the leases); `task` runs the rounds, keeps the S1 accounting
//! and sends the leases; `samples` asks chargers for a sample outside their interval (a
//! ramp to confirm, a phase that may have been switched on); `baseline` installs the failsafe baseline on every connect and
//! boot. Deciding code (`round`, `profile`) is pure; `task`, `input` and `baseline` are thin
//! loops.

pub mod availability;
pub mod baseline;
pub mod input;
pub mod local_list;
pub mod profile;
pub mod round;
pub mod samples;
pub mod task;

pub use baseline::{BaselineSettings, BaselineState};
pub use task::{DispatchInput, DispatchSettings};
