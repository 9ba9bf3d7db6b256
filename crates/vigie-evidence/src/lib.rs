//! Evidence that holds up in court: what the box seals, what the hub logs,
//! what an export contains, and how anyone verifies it offline. The format
//! is `docs/protocol/evidence.md`. No I/O here: every function works on
//! bytes, so the box, the hub and `vigie verify` share one implementation.

pub mod chain;
pub mod checkpoint;
pub mod custody;
pub mod device;
pub mod export;
pub mod merkle;
pub mod record;
pub mod report;
pub mod strict_zip;
pub mod text;
pub mod trust;
pub mod tsa;
pub mod verify;
