//! Simulated chargers (being written).
