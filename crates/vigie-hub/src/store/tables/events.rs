//! The `events` table: what happened to each alarm (and to the Region's
//! contacts and boxes), in order.

use crate::store::StoreError;
use crate::store::model::{AlarmEvent, Event};
use crate::store::tx::{Row, Tx, args};
use vigie_core::Timestamp;

pub fn append(
    c: &dyn Tx,
    alarm: Option<&str>,
    at: Timestamp,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    c.execute_later(
        "INSERT INTO events (alarm_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        args![alarm, at.as_ms(), kind, detail.to_string()],
    )
}

/// Append `event` to the log, of alarm `alarm` when there is one (an SMS
/// outside any alarm, a consent request, has events too).
pub fn record_for(
    c: &dyn Tx,
    alarm: Option<&str>,
    at: Timestamp,
    event: &AlarmEvent,
) -> Result<(), StoreError> {
    let (kind, detail) = event.split().map_err(StoreError::Unexpected)?;
    append(c, alarm, at, &kind, &detail)
}

/// Append `event` to alarm `alarm`'s log.
pub fn record(
    c: &dyn Tx,
    alarm: &str,
    at: Timestamp,
    event: &AlarmEvent,
) -> Result<(), StoreError> {
    let (kind, detail) = event.split().map_err(StoreError::Unexpected)?;
    append(c, Some(alarm), at, &kind, &detail)
}

/// Read one line of an alarm's log (`id, at, kind, detail`).
pub fn from_row(r: &Row) -> Result<Event, StoreError> {
    let kind: String = r.get(2)?;
    let detail = r.json(3)?;
    let event = AlarmEvent::join(&kind, detail).map_err(|why| StoreError::Corrupt {
        table: "events".into(),
        column: "detail".into(),
        why: format!("{kind}: {why}"),
    })?;
    Ok(Event {
        id: r.get(0)?,
        at: r.get(1)?,
        event,
    })
}

/// Alarm `alarm`'s log, in order.
pub fn of_alarm(c: &dyn Tx, alarm: &str) -> Result<Vec<Event>, StoreError> {
    c.query_map(
        "SELECT id, at, kind, detail FROM events WHERE alarm_id = ?1 ORDER BY id",
        args![alarm],
        from_row,
    )
}
