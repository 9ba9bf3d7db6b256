//! The `notifications` table: every SMS to send, one row per attempt.

use crate::store::StoreError;
use crate::store::model::Notification;
use crate::store::tx::{Row, Tx, Value, args};
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
const QUEUE: &str = "INSERT INTO notifications (dedup_key, alarm_id, contact_id, phone, purpose, step, attempt, priority, text, state, created_at, not_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10) ON CONFLICT (dedup_key) DO NOTHING";

fn queue_args(s: &NewSms<'_>, now: Timestamp) -> Vec<crate::store::tx::Value> {
    args![
        s.dedup_key,
        s.alarm_id,
        s.contact_id,
        s.phone,
        s.purpose,
        s.step,
        s.attempt,
        s.priority,
        s.text,
        now.as_ms()
    ]
    .to_vec()
}

impl<'a> NewSms<'a> {
    /// The holder's confirmation that the alarm `alarm_id` went out: one
    /// per alarm (its dedup key), after the alerts (priority notice).
    pub fn holder_confirmation(alarm_id: &'a str, phone: &'a str, text: &'a str) -> Self {
        NewSms {
            dedup_key: format!("holder:{alarm_id}"),
            alarm_id: Some(alarm_id),
            contact_id: None,
            phone,
            purpose: "holder",
            step: 0,
            attempt: 0,
            priority: PRIORITY_NOTICE,
            text,
        }
    }
}

pub fn queue(c: &dyn Tx, s: &NewSms<'_>, now: Timestamp) -> Result<bool, StoreError> {
    let n = c.execute(QUEUE, &queue_args(s, now))?;
    Ok(n == 1)
}

/// [`queue`] for a write that does not ask whether the SMS was new (its
/// dedup key already queued one): not waited for (see [`Tx::execute_later`]).
pub fn queue_later(c: &dyn Tx, s: &NewSms<'_>, now: Timestamp) -> Result<(), StoreError> {
    c.execute_later(QUEUE, &queue_args(s, now))
}

/// An SMS a gateway took: its notification, the gateway, and the gateway's
/// message id when it gave one.
pub struct Accepted<'a> {
    pub id: i64,
    pub gateway: &'a str,
    pub message_id: Option<&'a str>,
}

/// SMS a list statement names at most: one statement per this many, so a
/// backend prepares few distinct statements.
const LIST_ROWS_MAX: usize = 64;

/// `VALUES` rows of `width` parameters each, numbered from `first`; the
/// first column cast to an integer when `id_first` (PostgreSQL types a
/// bare parameter in `VALUES` as text).
fn values_rows(first: usize, rows: usize, width: usize, id_first: bool) -> String {
    (0..rows)
        .map(|r| {
            let base = first + r * width;
            let cells: Vec<String> = (0..width)
                .map(|i| {
                    if i == 0 && id_first {
                        format!("CAST(?{} AS BIGINT)", base + i)
                    } else {
                        format!("?{}", base + i)
                    }
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Mark SMS submitted that are still pending, in one statement per
/// [`LIST_ROWS_MAX`]: `(id, purpose, alarm)` of each one marked. An SMS
/// not returned was no longer pending (withdrawn meanwhile, or already
/// recorded).
pub fn mark_submitted(
    c: &dyn Tx,
    accepted: &[Accepted<'_>],
    now: Timestamp,
) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
    let mut marked = Vec::with_capacity(accepted.len());
    for chunk in accepted.chunks(LIST_ROWS_MAX) {
        let sql = format!(
            "WITH accepted (id, gateway, message_id) AS (VALUES {}) \
             UPDATE notifications SET state = 'submitted', gateway = accepted.gateway, message_id = accepted.message_id, submitted_at = ?1, tries = tries + 1, error = NULL \
             FROM accepted WHERE notifications.id = accepted.id AND notifications.state = 'pending' \
             RETURNING notifications.id, notifications.purpose, notifications.alarm_id",
            values_rows(2, chunk.len(), 3, true)
        );
        let mut params = vec![Value::Int(now.as_ms())];
        for a in chunk {
            params.extend([
                Value::Int(a.id),
                Value::Text(a.gateway.to_string()),
                a.message_id
                    .map_or(Value::Null, |m| Value::Text(m.to_string())),
            ]);
        }
        marked.extend(c.query_map(&sql, &params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?);
    }
    Ok(marked)
}

/// Take the receipts that arrived before their SMS was recorded submitted:
/// `(gateway, message id, delivered, detail)` of each, removed from
/// `early_receipts`.
pub fn take_early_receipts(
    c: &dyn Tx,
    accepted: &[(&str, &str)],
) -> Result<Vec<(String, String, bool, String)>, StoreError> {
    let mut taken = Vec::new();
    for chunk in accepted.chunks(LIST_ROWS_MAX) {
        let sql = format!(
            "WITH accepted (gateway, message_id) AS (VALUES {}) \
             DELETE FROM early_receipts WHERE EXISTS (SELECT 1 FROM accepted WHERE accepted.gateway = early_receipts.gateway AND accepted.message_id = early_receipts.message_id) \
             RETURNING gateway, message_id, delivered, detail",
            values_rows(1, chunk.len(), 2, false)
        );
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(g, m)| [Value::Text((*g).to_string()), Value::Text((*m).to_string())])
            .collect();
        taken.extend(c.query_map(&sql, &params, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?);
    }
    Ok(taken)
}

/// Mark SMS delivered that were submitted (or still pending), in one
/// statement per [`LIST_ROWS_MAX`]: `(id, alarm, contact, purpose)` of each
/// one marked.
#[allow(clippy::type_complexity)]
pub fn mark_delivered(
    c: &dyn Tx,
    ids: &[i64],
    now: Timestamp,
) -> Result<Vec<(i64, Option<String>, Option<i64>, String)>, StoreError> {
    let mut marked = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(LIST_ROWS_MAX) {
        let sql = format!(
            "UPDATE notifications SET state = 'delivered', done_at = ?1 WHERE id IN ({}) AND state IN ('submitted', 'pending') \
             RETURNING id, alarm_id, contact_id, purpose",
            crate::store::tx::placeholders(2, chunk.len())
        );
        let mut params = vec![Value::Int(now.as_ms())];
        params.extend(chunk.iter().map(|id| Value::Int(*id)));
        marked.extend(c.query_map(&sql, &params, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?);
    }
    Ok(marked)
}

/// An SMS marked delivered by its gateway's message id: `(id, gateway,
/// message id, alarm, contact, purpose)`.
pub type DeliveredRow = (i64, String, String, Option<String>, Option<i64>, String);

/// Mark delivered the submitted (or still pending) SMS that these
/// `(gateway, message id)` name, in one statement per [`LIST_ROWS_MAX`].
/// A pair not returned names no such SMS yet (its submit is not recorded),
/// or one already delivered or failed.
pub fn mark_delivered_by_message(
    c: &dyn Tx,
    receipts: &[(&str, &str)],
    now: Timestamp,
) -> Result<Vec<DeliveredRow>, StoreError> {
    let mut marked = Vec::with_capacity(receipts.len());
    for chunk in receipts.chunks(LIST_ROWS_MAX) {
        let sql = format!(
            "WITH receipt (gateway, message_id) AS (VALUES {}) \
             UPDATE notifications SET state = 'delivered', done_at = ?1 FROM receipt \
             WHERE notifications.gateway = receipt.gateway AND notifications.message_id = receipt.message_id \
             AND notifications.state IN ('submitted', 'pending') \
             RETURNING notifications.id, notifications.gateway, notifications.message_id, notifications.alarm_id, notifications.contact_id, notifications.purpose",
            values_rows(2, chunk.len(), 2, false)
        );
        let mut params = vec![Value::Int(now.as_ms())];
        for (g, m) in chunk {
            params.extend([Value::Text((*g).to_string()), Value::Text((*m).to_string())]);
        }
        marked.extend(c.query_map(&sql, &params, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?);
    }
    Ok(marked)
}
