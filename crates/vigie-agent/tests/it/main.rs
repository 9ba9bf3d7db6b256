//! The box's integration tests: one binary, one module per concern.

mod agent;
mod modem;
