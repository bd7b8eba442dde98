//! chargegate: a local smart-charging controller for EV depots.
//!
//! Down: meters -> `meter` -> `site` -> `control` (with `planner`) -> `dispatch` -> chargers.
//! Up: chargers -> `charger` (connections) -> `ocpp` -> `csms` (the CSMS rules) -> `store`,
//! read by `http`. `daemon` wires them. Layers, lowest first, each importing only from its
//! own folder and those before it: `units`, `ev`, `clock`, `logging`, `telemetry`; `ocpp`, `profiles`; `config`;
//! `meter`, then `store`; `csms`, `http`; `charger`, `site`; `planner`; `control`;
//! `dispatch`; `daemon` (with `descriptors`, and `service` for systemd) and the simulator (`sim`) that tests and benches share.
//! ARCHITECTURE.md draws the same in more detail.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod charger;
pub mod clock;
pub mod config;
pub mod control;
pub mod csms;
pub mod daemon;
pub mod demo;
pub mod descriptors;
pub mod dispatch;
pub mod ev;
pub mod http;
pub mod logging;
pub mod meter;
pub mod ocpp;
pub mod planner;
pub mod profiles;
pub mod reload;
pub mod service;
pub mod sim;
pub mod site;
pub mod station;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod units;
pub mod upstream;
