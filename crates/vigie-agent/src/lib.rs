//! The Vigie box: what runs on the small Linux board under the counter.
//!
//! A press is written to the durable outbox before anything else happens,
//! then sent to the hub with the device's signature; if the hub has not
//! confirmed it in time, the box sends the alarm SMS itself through its
//! modem, and tells the hub later so nothing is sent twice. Heartbeats tell
//! the hub the box is alive.

pub mod agent;
pub mod button;
pub mod config;
pub mod health;
pub mod identity;
pub mod modem;
pub mod outbox;
pub mod recorder;
pub mod uplink;
