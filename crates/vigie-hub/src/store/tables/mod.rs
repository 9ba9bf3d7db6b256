//! The only code of the store that holds SQL for the tables the
//! operations share: one module per table, each a leaf that imports the
//! transaction seam and the model and never another table or an operation
//! (a tidy test holds it). The operations (`alarms`, `fleet`, `outbox`, …)
//! load through these, decide with `vigie_core`, and write the effects.

pub mod alarms;
pub mod contacts;
pub mod enrolment_codes;
pub mod events;
pub mod hardware;
pub mod notifications;
pub mod pendants;
pub mod readiness;
pub mod shops;
