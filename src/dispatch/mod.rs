//! Dispatch: limits reach the chargers as ChargingProfiles without the site ever going over
//! its limit (DESIGN.md S1-S6).
//!
//! Today: the failsafe baseline of S3 (`profile::baseline`, installed by `baseline::run` on
//! every connect and boot). The leased limits, the S1 accounting and the S2 ordering come
//! with the dispatch issue and attach to the same command API. Deciding code (`profile`)
//! is pure; `baseline` is the thin loop.

pub mod baseline;
pub mod feed;
pub mod profile;
pub mod round;
pub mod task;

pub use baseline::{BaselineSettings, BaselineState};
pub use task::{DispatchInput, DispatchSettings};
