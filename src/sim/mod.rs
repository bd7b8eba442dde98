//! Simulated charge points: the charger side of OCPP-J 1.6 and 2.0.1, for integration
//! tests, the `demo` command and load generation.
//!
//! A `SimChargePoint` connects to a CSMS over `ws://` or `wss://`, offers the configured
//! subprotocols (with HTTP Basic credentials when given), sends CALLs and waits for their
//! answers, records every CALL the CSMS sends and answers it per `ReplyPolicy`. Payloads
//! are built with `serde_json::json!` (`messages`, `answers`), deliberately independent of
//! chargegate's own message types so that tests do not check our types against themselves;
//! only the frame codec (`ocpp::rpc`) and `OcppVersion` are shared.
//!
//! `SimVehicle` is the EV behind a charger (draws what it is offered, after a delay, up
//! to its own maximum); `SimMeterServer` a grid meter on Modbus TCP that sums the
//! building load and every vehicle's draw per phase.

mod actions;
pub mod answers;
pub mod certificates;
pub mod charge_point;
mod customer;
pub mod depot;
pub mod limits;
mod link;
pub mod messages;
pub mod meter;
mod profiles;
mod socket;
pub mod vehicle;

pub use answers::{ReplyPolicy, TxMemory};
pub use charge_point::{
    RawReply, ReceivedCall, SimChargePoint, SimError, SimOptions, StartedTransaction,
};
pub use meter::{SimMeter, SimMeterServer};
pub use vehicle::SimVehicle;
