//! The box ⇄ hub contract, version 1: the JSON bodies of the device API and
//! the HTTP message signatures that authenticate every request after
//! enrolment. This crate is the one serialised contract between the two
//! sides; `docs/protocol/device-api.md` describes it for other implementers.

pub mod refusal;
pub mod signature;
pub mod wire;

pub use signature::{DeviceKey, SignatureError, SignedHeaders};
pub use wire::*;
