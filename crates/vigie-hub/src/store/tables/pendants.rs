//! The `pendants` and `pendant_messages` tables: GSM SOS pendants
//! registered per shop by the number of their SIM, and what each SMS from
//! one meant and did (migration 0003).

use crate::store::StoreError;
use crate::store::tx::{OptionalExtension as _, Row, Tx, args};
use serde::Serialize;
use vigie_core::pendant::{Meaning, Position};
use vigie_core::{PhoneNumber, Timestamp};

/// A pendant in service, with what it last did.
#[derive(Debug, Clone, Serialize)]
pub struct Pendant {
    pub id: i64,
    /// E.164.
    pub phone: PhoneNumber,
    pub shop_id: i64,
    /// Its non-alarm patterns, as the operator typed them.
    pub patterns: Vec<String>,
    pub created_at: Timestamp,
    /// Its last SMS, if it ever sent one.
    pub last_message_at: Option<Timestamp>,
    /// The last SMS that was part of a flood from its number.
    pub last_flood_at: Option<Timestamp>,
}

/// One SMS a pendant sent, as the store recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct PendantMessage {
    pub id: i64,
    pub pendant_id: i64,
    pub shop_id: i64,
    pub at: Timestamp,
    /// `alarm`, `cancel_or_answer`, `low_battery`… ([`Meaning::as_str`]).
    pub meaning: String,
    pub position: Option<Position>,
    /// The alarm it raised or was recorded on.
    pub alarm_id: Option<uuid::Uuid>,
    pub raised: bool,
    pub flood: bool,
    /// The SMS as received (from `inbound_sms`).
    pub text: String,
}

/// A message to record.
pub struct NewMessage<'a> {
    pub pendant_id: i64,
    pub shop_id: i64,
    pub inbound_id: i64,
    pub meaning: Meaning,
    pub position: Option<Position>,
    pub alarm_id: Option<&'a str>,
    pub raised: bool,
    pub flood: bool,
}

const COLUMNS: &str = "p.id, p.phone, p.shop_id, p.patterns, p.created_at, \
    (SELECT MAX(m.at) FROM pendant_messages m WHERE m.pendant_id = p.id), \
    (SELECT MAX(m.at) FROM pendant_messages m WHERE m.pendant_id = p.id AND m.flood = 1)";

fn from_row(r: &Row) -> Result<Pendant, StoreError> {
    let patterns: String = r.get(3)?;
    Ok(Pendant {
        id: r.get(0)?,
        phone: r.get(1)?,
        shop_id: r.get(2)?,
        patterns: serde_json::from_str(&patterns).map_err(|e| StoreError::Corrupt {
            table: "pendants".into(),
            column: "patterns".into(),
            why: e.to_string(),
        })?,
        created_at: r.get(4)?,
        last_message_at: r.get(5)?,
        last_flood_at: r.get(6)?,
    })
}

/// The pendant in service under this number (E.164), if any.
pub fn in_service(c: &dyn Tx, phone: &str) -> Result<Option<Pendant>, StoreError> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM pendants p WHERE p.phone = ?1 AND p.removed_at IS NULL"),
        args![phone],
        from_row,
    )
    .optional()
}

/// The pendants in service, of one shop or all, by number.
pub fn in_service_of(c: &dyn Tx, shop: Option<i64>) -> Result<Vec<Pendant>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {COLUMNS} FROM pendants p WHERE p.removed_at IS NULL AND (CAST(?1 AS BIGINT) IS NULL OR p.shop_id = ?1) ORDER BY p.phone"
        ),
        args![shop],
        from_row,
    )
}

/// A pendant's number is never a contact's: the hub would send alarms to
/// a device that takes SMS for commands, and read its SOS as a reply.
pub fn refuse_as_contact(c: &dyn Tx, phone: &PhoneNumber) -> Result<(), StoreError> {
    if in_service(c, phone.as_e164())?.is_some() {
        return Err(StoreError::refused(
            "number_is_pendant",
            format!(
                "le {} est celui d'un pendentif SOS : un contact ne peut pas avoir ce numéro ; vérifiez-le, ou retirez d'abord le pendentif (vigie admin pendant remove) / this number is an SOS pendant's: check it, or remove the pendant first",
                phone.national_display()
            ),
        ));
    }
    Ok(())
}

/// Register a pendant; its id.
pub fn insert(
    c: &dyn Tx,
    phone: &str,
    shop_id: i64,
    patterns: &[String],
    now: Timestamp,
) -> Result<i64, StoreError> {
    let patterns = serde_json::to_string(patterns)
        .map_err(|e| StoreError::Unexpected(format!("patterns as JSON: {e}")))?;
    c.query_row(
        "INSERT INTO pendants (phone, shop_id, patterns, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        args![phone, shop_id, patterns, now.as_ms()],
        |r| r.get(0),
    )
}

/// Take the pendant under this number out of service; how many were.
pub fn remove(c: &dyn Tx, phone: &str, now: Timestamp) -> Result<usize, StoreError> {
    c.execute(
        "UPDATE pendants SET removed_at = ?1 WHERE phone = ?2 AND removed_at IS NULL",
        args![now.as_ms(), phone],
    )
}

/// How many SMS the pendant sent since `since` (its flood count).
pub fn messages_since(c: &dyn Tx, pendant: i64, since: Timestamp) -> Result<u32, StoreError> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM pendant_messages WHERE pendant_id = ?1 AND at >= ?2",
        args![pendant, since.as_ms()],
        |r| r.get(0),
    )?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The live alarm (open or acknowledged) an alarm SMS of this pendant
/// raised or joined since `since`, the newest.
pub fn live_alarm(
    c: &dyn Tx,
    pendant: i64,
    since: Timestamp,
) -> Result<Option<String>, StoreError> {
    c.query_row(
        "SELECT m.alarm_id FROM pendant_messages m JOIN alarms a ON a.id = m.alarm_id
         WHERE m.pendant_id = ?1 AND m.at >= ?2 AND m.meaning = 'alarm' AND a.state IN ('open', 'acknowledged')
         ORDER BY m.id DESC LIMIT 1",
        args![pendant, since.as_ms()],
        |r| r.get(0),
    )
    .optional()
}

/// Whether a flood from a pendant was already flagged on this alarm.
pub fn flood_flagged(c: &dyn Tx, alarm: &str) -> Result<bool, StoreError> {
    c.exists(
        "SELECT 1 FROM pendant_messages WHERE alarm_id = ?1 AND flood = 1",
        args![alarm],
    )
}

pub fn insert_message(c: &dyn Tx, m: &NewMessage<'_>, now: Timestamp) -> Result<i64, StoreError> {
    c.query_row(
        "INSERT INTO pendant_messages (pendant_id, shop_id, inbound_id, at, meaning, lat, lon, alarm_id, raised, flood)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        args![
            m.pendant_id,
            m.shop_id,
            m.inbound_id,
            now.as_ms(),
            m.meaning.as_str(),
            m.position.map(|p| p.lat),
            m.position.map(|p| p.lon),
            m.alarm_id,
            m.raised,
            m.flood
        ],
        |r| r.get(0),
    )
}

fn message_from_row(r: &Row) -> Result<PendantMessage, StoreError> {
    let meaning: String = r.get(4)?;
    if Meaning::parse(&meaning).is_none() {
        return Err(StoreError::Corrupt {
            table: "pendant_messages".into(),
            column: "meaning".into(),
            why: format!("{meaning:?} is no meaning this version writes"),
        });
    }
    let (lat, lon): (Option<f64>, Option<f64>) = (r.get(5)?, r.get(6)?);
    let position = match (lat, lon) {
        (Some(lat), Some(lon)) => {
            Some(Position::new(lat, lon).ok_or_else(|| StoreError::Corrupt {
                table: "pendant_messages".into(),
                column: "lat".into(),
                why: format!("{lat}, {lon} is not a position"),
            })?)
        }
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt {
                table: "pendant_messages".into(),
                column: "lon".into(),
                why: "a latitude without a longitude, or the reverse".into(),
            });
        }
    };
    Ok(PendantMessage {
        id: r.get(0)?,
        pendant_id: r.get(1)?,
        shop_id: r.get(2)?,
        at: r.get(3)?,
        meaning,
        position,
        alarm_id: r.get(7)?,
        raised: r.get(8)?,
        flood: r.get(9)?,
        text: r.get(10)?,
    })
}

/// The newest messages, of one pendant or all, newest first.
pub fn messages(
    c: &dyn Tx,
    pendant: Option<i64>,
    limit: usize,
) -> Result<Vec<PendantMessage>, StoreError> {
    c.query_map(
        "SELECT m.id, m.pendant_id, m.shop_id, m.at, m.meaning, m.lat, m.lon, m.alarm_id, m.raised, m.flood, i.text
         FROM pendant_messages m JOIN inbound_sms i ON i.id = m.inbound_id
         WHERE CAST(?1 AS BIGINT) IS NULL OR m.pendant_id = ?1 ORDER BY m.id DESC LIMIT ?2",
        args![pendant, limit as i64],
        message_from_row,
    )
}
