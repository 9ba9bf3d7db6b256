//! The `alarms` table.

use crate::store::StoreError;
use crate::store::model::Alarm;
use crate::store::tx::{OptionalExtension as _, Row, Tx, args};
use uuid::Uuid;
use vigie_core::{AlarmState, Outcome, Timestamp};

pub const COLUMNS: &str = "id, shop_id, device_id, code, state, pressed_at, device_pressed_at, received_at, age_ms, recording, step, next_step_at, exhausted, outcome, closed_at";

pub fn from_row(r: &Row) -> Result<Alarm, StoreError> {
    Ok(Alarm {
        id: r.get::<Uuid>(0)?,
        shop_id: r.get(1)?,
        device_id: r.get(2)?,
        code: r.get(3)?,
        state: r.parse(4, AlarmState::parse)?,
        pressed_at: Timestamp(r.get(5)?),
        device_pressed_at: Timestamp(r.get(6)?),
        received_at: Timestamp(r.get(7)?),
        age_ms: r.get(8)?,
        recording: r.get(9)?,
        step: r.get(10)?,
        next_step_at: r.get::<Option<i64>>(11)?.map(Timestamp),
        exhausted: r.get(12)?,
        outcome: r.parse_opt(13, Outcome::parse)?,
        closed_at: r.get::<Option<i64>>(14)?.map(Timestamp),
    })
}

pub fn load(c: &dyn Tx, id: &str) -> Result<Option<Alarm>, StoreError> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM alarms WHERE id = ?1"),
        args![id],
        from_row,
    )
    .optional()
}
