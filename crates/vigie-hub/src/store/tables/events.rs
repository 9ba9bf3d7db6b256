//! The `events` table: what happened to each alarm (and to the Region's
//! contacts and boxes), in order.

use crate::store::StoreError;
use crate::store::tx::{Tx, args};
use vigie_core::Timestamp;

pub fn append(
    c: &dyn Tx,
    alarm: Option<&str>,
    at: Timestamp,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO events (alarm_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        args![alarm, at.as_ms(), kind, detail.to_string()],
    )?;
    Ok(())
}
