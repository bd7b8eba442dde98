//! The integration tests, one binary (one link, one `common`): each module talks to the
//! real daemon the way devices do, over loopback WebSocket, Modbus TCP and HTTP, or drives
//! one layer through its public API. `cargo test --test it <module>::` runs one module.

mod common;

mod alerts;
mod baseline;
mod billing;
mod certificates;
mod cli;
mod close_codes;
mod commands;
mod control_loop;
mod csms;
mod customer_information;
mod demo;
mod depot_day;
mod device_management;
mod dispatch;
mod durability;
mod http_api;
mod id_tokens;
mod listener_attacks;
mod local_list;
mod message_ids;
mod meters;
mod metrics;
mod monitor_api;
mod operator_commands;
mod package;
mod phase_switch;
mod planner_props;
mod planner_scenarios;
mod reload;
mod reservations;
mod silence;
mod site_liveness;
mod site_metered;
mod site_orders;
mod site_planned;
mod site_sim;
mod station_admin;
mod status_page;
mod tls;
mod unit_file;
mod upstream_mqtt;
mod upstream_ocpp;
