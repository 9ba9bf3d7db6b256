//! The evidence vault. Only the RFC 3161 client for now.

pub mod tsa_client;
