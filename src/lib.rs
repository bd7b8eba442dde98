//! chargegate: a local smart-charging controller for EV depots.
//!
//! The data flows meters -> `site` -> `control` (with `planner`) -> `dispatch` -> chargers,
//! and chargers -> `charger` (connections) -> `session` (the CSMS rules) -> `store`; the
//! daemon (`daemon`) wires them, `http` reads them. Layers, lowest first, each importing
//! only from those below it: `units`, `ev`, `clock`, `ocpp` and `profiles`; `config`;
//! `meter`; `store`; `session`, `http`; `charger`, `site`; `planner`; `control`;
//! `dispatch`; `daemon`; and the simulator (`sim`) that tests and `demo` share.
//! ARCHITECTURE.md draws the same in more detail.
#![forbid(unsafe_code)]

pub mod charger;
pub mod clock;
pub mod config;
pub mod control;
pub mod csms;
pub mod daemon;
pub mod dispatch;
pub mod ev;
pub mod http;
pub mod meter;
pub mod ocpp;
pub mod planner;
pub mod profiles;
pub mod sim;
pub mod site;
pub mod store;
pub mod units;
