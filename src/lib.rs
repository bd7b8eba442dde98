//! chargegate: a local smart-charging controller for EV depots.
//!
//! Modules in data-flow order (ARCHITECTURE.md): configuration, units, the OCPP protocol,
//! the charger connections, the charging-session rules, the store, the site snapshot, the
//! planner and guard, the control loop, dispatch, the HTTP API, and the simulator that tests
//! and `demo` share.
#![forbid(unsafe_code)]

pub mod charger;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dispatch;
pub mod ev;
pub mod http;
pub mod meter;
pub mod ocpp;
pub mod planner;
pub mod profiles;
pub mod session;
pub mod sim;
pub mod site;
pub mod store;
pub mod units;
