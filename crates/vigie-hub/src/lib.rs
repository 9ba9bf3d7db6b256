//! The Vigie hub: device API, answer pages, escalation engine, SMS gateways
//! and the store. See `ARCHITECTURE.md` for the map.

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod dc09;
pub mod edge;
pub mod engine;
pub mod gateway;
pub mod leases;
pub mod region;
pub mod store;
pub mod vault;
