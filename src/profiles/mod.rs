//! Device profiles: what a real charger or meter model is like, as data (STYLE.md §6).
//!
//! `charger` reads `profiles/charger/*.toml` (how a charger model takes limits), `meter`
//! reads `profiles/meter/*.toml` (a meter's register map). Both are loaded by the config
//! and used by the layers above it (dispatch builds leases to fit a charger profile, the
//! meter pollers read by a meter profile), so they sit below the config and import
//! nothing of chargegate's. Never performs IO beyond reading the profile files.

pub mod charger;
pub mod meter;
