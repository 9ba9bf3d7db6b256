//! Vigie's pure domain.
//!
//! Everything here is a function of its arguments: no I/O, no async, no clock
//! reads. The hub and the box read the clock once at their edge and pass `now`
//! down; they persist and carry out the effects these functions return.

pub mod alarm;
pub mod escalation;
pub mod gsm;
pub mod pdu;
pub mod pendant;
pub mod phone;
pub mod press;
pub mod reply;
pub mod sms;
pub mod supervision;
pub mod time;

pub use alarm::{AlarmState, Answer, Outcome};
pub use phone::PhoneNumber;
pub use time::Timestamp;
