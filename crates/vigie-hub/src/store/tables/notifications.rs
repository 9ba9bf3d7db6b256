//! The `notifications` table: every SMS to send, one row per attempt.

use crate::store::StoreError;
use crate::store::model::Notification;
use crate::store::tx::{Row, Tx, args};
use vigie_core::Timestamp;

/// An alarm's first SMS: before anything else, so that in a storm every
/// alarm reaches someone before any alarm reaches a second person.
pub const PRIORITY_FIRST_ALERT: u8 = 0;

/// The other alerts, answers broadcast, cancellations.
pub const PRIORITY_ALERT: u8 = 1;

/// Confirmations to the holder, closing notices.
pub const PRIORITY_NOTICE: u8 = 2;

/// Consent requests and replies to stray SMS.
pub const PRIORITY_ADMIN: u8 = 3;

pub const COLUMNS: &str = "id, alarm_id, contact_id, phone, purpose, step, attempt, priority, text, state, tries, gateway, message_id, error, created_at, submitted_at, done_at";

pub fn from_row(r: &Row) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: r.get(0)?,
        alarm_id: r.get::<Option<uuid::Uuid>>(1)?,
        contact_id: r.get(2)?,
        phone: r.get(3)?,
        purpose: r.get(4)?,
        step: r.get(5)?,
        attempt: r.get(6)?,
        priority: r.get(7)?,
        text: r.get(8)?,
        state: r.get(9)?,
        tries: r.get(10)?,
        gateway: r.get(11)?,
        message_id: r.get(12)?,
        error: r.get(13)?,
        created_at: Timestamp(r.get(14)?),
        submitted_at: r.get::<Option<i64>>(15)?.map(Timestamp),
        done_at: r.get::<Option<i64>>(16)?.map(Timestamp),
    })
}

pub struct NewSms<'a> {
    pub dedup_key: String,
    pub alarm_id: Option<&'a str>,
    pub contact_id: Option<i64>,
    pub phone: &'a str,
    pub purpose: &'static str,
    pub step: u32,
    pub attempt: u32,
    pub priority: u8,
    pub text: &'a str,
}

/// Queue an SMS; returns false if one with the same key was already queued.
pub fn queue(c: &dyn Tx, s: &NewSms<'_>, now: Timestamp) -> Result<bool, StoreError> {
    let n = c.execute(
        "INSERT INTO notifications (dedup_key, alarm_id, contact_id, phone, purpose, step, attempt, priority, text, state, created_at, not_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10) ON CONFLICT (dedup_key) DO NOTHING",
        args![s.dedup_key, s.alarm_id, s.contact_id, s.phone, s.purpose, s.step, s.attempt, s.priority, s.text, now.as_ms()],
    )?;
    Ok(n == 1)
}
