//! The databases the store runs on. Only this folder knows a database
//! client; everything above speaks to [`super::tx::Tx`].

pub mod postgres;
pub mod sqlite;
