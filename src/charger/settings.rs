//! The CSMS listener's settings, taken from the config: who is configured, what to do
//! with an unknown charger, and each connection's limits. Shared by the listener
//! (`server.rs`) and the admission check (`verify.rs`), so neither imports the other's.

use std::collections::HashMap;
use std::time::Duration;

use super::connection::Limits;
use crate::clock::Clock;
use crate::config::{Charger, Config, UnknownChargers};
use crate::units::ChargerId;

/// The CSMS listener's settings, taken from the config.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub chargers: HashMap<ChargerId, Charger>,
    pub unknown_chargers: UnknownChargers,
    pub limits: Limits,
}

impl ServerSettings {
    pub fn from_config(config: &Config, clock: Clock) -> Self {
        Self {
            chargers: config.chargers_by_id(),
            unknown_chargers: config.csms.unknown_chargers,
            limits: Limits {
                call_timeout: Duration::from_secs(u64::from(config.csms.call_timeout_s)),
                max_message_bytes: config.csms.max_message_bytes,
                heartbeat: Duration::from_secs(u64::from(config.csms.heartbeat_interval_s)),
                clock,
            },
        }
    }
}
