//! The chargers' side of the CSMS: the WebSocket listener, the handshake, one task per
//! connection, and the registry through which the rest of chargegate commands a charger.
//!
//! Must never interpret OCPP payloads (that is `ocpp/`) nor decide charging rules (that is
//! `session/`).

pub mod connection;
pub mod gate;
pub mod handshake;
mod head;
pub mod limits;
pub mod registry;
pub mod server;
pub mod settings;
mod verify;

pub use registry::{Chargers, CommandError};
pub use server::Server;
pub use settings::ServerSettings;
