//! GSM SOS pendants: their registration per shop, and what an SMS from one
//! does (`docs/ops/pendants.md`).
//!
//! An SMS from a pendant's number is one transaction with the row that
//! records it in `inbound_sms` (`Store::receive_sms`): read by
//! `vigie_core::pendant`, it raises an alarm with the shop's normal
//! escalation, or is recorded on the alarm the pendant raised within the
//! repeat window, or is kept as information. The gateway is answered once
//! that transaction is committed, as for any SMS.
//!
//! Invariants: an SMS from a pendant never cancels, answers or closes an
//! alarm, whatever its text (a sender number can be spoofed); a flood from
//! one number is flagged but never holds back the alarm its first SMS
//! raised; nothing is ever sent to a pendant's number (it would take an
//! SMS for a command); a number is a pendant, a contact or a holder's
//! phone, never two of them.

use super::{advance, load_alarm, unique_code};
use crate::store::model::AlarmEvent;
use crate::store::tables::events::record as record_event;
use crate::store::tables::notifications::{NewSms, queue as queue_sms};
use crate::store::tables::pendants::{self as table, NewMessage, Pendant, PendantMessage};
use crate::store::tables::shops::load as load_shop;
use crate::store::tx::{Tx, args};
use crate::store::{Rules, Store, StoreError};
use uuid::Uuid;
use vigie_core::pendant::{self, Meaning, NonAlarmPattern, Position};
use vigie_core::{PhoneNumber, Timestamp};

/// An alarm SMS within this time of the pendant's last alarm SMS joins
/// the alarm it raised, while that alarm is live: trackers repeat their
/// SOS every few minutes (TK-203: every 3) until someone stops them.
pub const PENDANT_REPEAT_WINDOW_MS: i64 = 30 * 60_000;
/// This many SMS from one pendant within [`PENDANT_FLOOD_WINDOW_MS`] is a
/// flood (the design notes' « ≥ 10 SMS a minute »): no pendant repeats that
/// fast by itself, a spoofer or a broken device does.
pub const PENDANT_FLOOD_SMS_MIN: u32 = 10;
/// The window a flood is counted in: one minute, the SMS just received included.
pub const PENDANT_FLOOD_WINDOW_MS: i64 = 60_000;
/// Characters of an SMS copied into the alarm's timeline (the whole text
/// stays in `inbound_sms`): two segments, more than a pendant's SOS.
pub const PENDANT_TEXT_CHARS_ON_TIMELINE_MAX: usize = 320;
/// Messages listed at most (`Store::pendant_messages`).
pub const PENDANT_MESSAGES_LIST_MAX: usize = 1_000;

/// The device id an alarm from a pendant carries (its number stays out of
/// ids and logs).
pub fn pendant_device_id(pendant: i64) -> String {
    format!("pendant:{pendant}")
}

/// A pendant to register.
#[derive(Debug, Clone)]
pub struct NewPendant {
    pub shop_id: i64,
    pub phone: PhoneNumber,
    /// Non-alarm messages of this device, as the operator types them.
    pub patterns: Vec<String>,
}

/// What the store made of an SMS from a pendant.
#[derive(Debug, Clone, PartialEq)]
pub struct PendantReceipt {
    pub pendant: i64,
    pub meaning: Meaning,
    pub position: Option<Position>,
    /// The alarm it raised or was recorded on.
    pub alarm: Option<Uuid>,
    pub raised: bool,
    /// Part of a flood from this number.
    pub flood: bool,
    /// SMS queued (alerts and the holder's confirmation): the engine has work.
    pub sms_queued: u32,
}

fn excerpt(text: &str) -> String {
    text.chars()
        .take(PENDANT_TEXT_CHARS_ON_TIMELINE_MAX)
        .collect()
}

/// Raise an alarm for a pendant's SMS: the rows a box's press makes (the
/// alarm, its first escalation step, the events) and the holder's
/// confirmation.
#[allow(clippy::too_many_arguments)]
fn raise(
    c: &dyn Tx,
    rules: &Rules,
    id: &str,
    pendant: &Pendant,
    gateway: &str,
    text: &str,
    position: Option<Position>,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let code = unique_code(c)?;
    let device = pendant_device_id(pendant.id);
    c.execute(
        "INSERT INTO alarms (id, shop_id, device_id, code, state, pressed_at, device_pressed_at, received_at, age_ms, recording, step, next_step_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?5, ?5, NULL, 0, 0, ?5)",
        args![id, pendant.shop_id, device, code, now.as_ms()],
    )?;
    record_event(
        c,
        id,
        now,
        &AlarmEvent::RaisedByPendant {
            device,
            pendant: pendant.id,
            gateway: gateway.to_string(),
            text: excerpt(text),
            position,
        },
    )?;
    let alarm =
        load_alarm(c, id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))?;
    let alerting = advance(c, rules, &alarm, now)?;
    let mut queued = alerting;
    let shop = load_shop(c, pendant.shop_id)?;
    // Never towards the pendant itself: a holder's phone is never one,
    // but the shop's record may have been edited since.
    if shop.holder_sms && shop.holder_phone != pendant.phone {
        let text = vigie_core::sms::holder_confirmation(now, alerting as usize);
        queued += u32::from(queue_sms(
            c,
            &NewSms::holder_confirmation(id, shop.holder_phone.as_e164(), &text.text),
            now,
        )?);
    }
    Ok(queued)
}

/// Record an SMS from a pendant, in the transaction that stored it as
/// `inbound_sms` row `inbound_id`. `new_alarm` is the id of the alarm it
/// raises if it raises one (minted outside: the write may run again).
#[allow(clippy::too_many_arguments)]
pub(super) fn receive(
    c: &dyn Tx,
    rules: &Rules,
    pendant: &Pendant,
    inbound_id: i64,
    gateway: &str,
    text: &str,
    new_alarm: Uuid,
    now: Timestamp,
) -> Result<PendantReceipt, StoreError> {
    let patterns =
        NonAlarmPattern::parse_all(&pendant.patterns).map_err(|e| StoreError::Corrupt {
            table: "pendants".into(),
            column: "patterns".into(),
            why: e.to_string(),
        })?;
    let reading = pendant::read(text, &patterns);
    let recent = table::messages_since(c, pendant.id, now.plus_ms(-PENDANT_FLOOD_WINDOW_MS))?
        .saturating_add(1);
    let flood = recent >= PENDANT_FLOOD_SMS_MIN;
    let live = table::live_alarm(c, pendant.id, now.plus_ms(-PENDANT_REPEAT_WINDOW_MS))?;
    let mut receipt = PendantReceipt {
        pendant: pendant.id,
        meaning: reading.meaning,
        position: reading.position,
        alarm: None,
        raised: false,
        flood,
        sms_queued: 0,
    };
    let alarm: Option<String> = match (reading.meaning, live) {
        // The first SMS of a press: the alarm goes out, flood or not.
        (Meaning::Alarm, None) => {
            let id = new_alarm.to_string();
            receipt.sms_queued =
                raise(c, rules, &id, pendant, gateway, text, reading.position, now)?;
            receipt.raised = true;
            Some(id)
        }
        // A repeat, a spoofed « annuler » or « 1 », the battery running low
        // during the alarm: on its timeline, and nothing else.
        (_, Some(live)) => {
            if !flood {
                record_event(
                    c,
                    &live,
                    now,
                    &AlarmEvent::PendantSms {
                        pendant: pendant.id,
                        text: excerpt(text),
                        meaning: reading.meaning.as_str().into(),
                        position: reading.position,
                    },
                )?;
            }
            Some(live)
        }
        // Words that would cancel or answer, with no alarm to speak of, and
        // information: kept with the pendant's messages.
        (Meaning::CancelOrAnswer | Meaning::Info(_), None) => None,
    };
    if flood {
        match &alarm {
            Some(a) if !table::flood_flagged(c, a)? => record_event(
                c,
                a,
                now,
                &AlarmEvent::PendantFlood {
                    pendant: pendant.id,
                    messages: recent,
                    window_s: (PENDANT_FLOOD_WINDOW_MS / 1_000) as u32,
                },
            )?,
            _ => {}
        }
    }
    table::insert_message(
        c,
        &NewMessage {
            pendant_id: pendant.id,
            shop_id: pendant.shop_id,
            inbound_id,
            meaning: reading.meaning,
            position: reading.position,
            alarm_id: alarm.as_deref(),
            raised: receipt.raised,
            flood,
        },
        now,
    )?;
    receipt.alarm = match alarm {
        Some(a) => Some(Uuid::parse_str(&a).map_err(|e| StoreError::Corrupt {
            table: "pendant_messages".into(),
            column: "alarm_id".into(),
            why: e.to_string(),
        })?),
        None => None,
    };
    Ok(receipt)
}

/// The pendant in service under this number, if any (a pendant's SMS is
/// never a contact's reply).
pub(super) fn in_service(c: &dyn Tx, phone: &PhoneNumber) -> Result<Option<Pendant>, StoreError> {
    table::in_service(c, phone.as_e164())
}

/// Why `phone` cannot be a pendant: it already is one, or a contact's, or
/// a holder's phone; each with what to do.
fn check_number_free(c: &dyn Tx, phone: &PhoneNumber) -> Result<(), StoreError> {
    let shown = phone.national_display();
    if let Some(p) = table::in_service(c, phone.as_e164())? {
        let shop = load_shop(c, p.shop_id)?;
        return Err(StoreError::refused(
            "pendant_taken",
            format!(
                "le {shown} est déjà le pendentif du commerce {} : retirez-le d'abord (vigie admin pendant remove --phone …) / {shown} is already the pendant of shop {}: remove it first",
                shop.reference, shop.reference
            ),
        ));
    }
    if let Some(k) = crate::store::tables::contacts::with_phone(c, phone.as_e164())?.first() {
        let whose = match k.shop_id {
            Some(s) => format!("du commerce {}", load_shop(c, s)?.reference),
            None => "de la Région".to_string(),
        };
        return Err(StoreError::refused(
            "number_is_contact",
            format!(
                "le {shown} est celui d'un contact ({}, {whose}) : un pendentif a le numéro de sa propre carte SIM ; vérifiez le numéro, ou retirez d'abord ce contact / {shown} is a contact's number: a pendant has its own SIM's number; check it, or remove that contact first",
                k.name
            ),
        ));
    }
    if let Some(s) = crate::store::tables::shops::held_by(c, phone.as_e164())?.first() {
        return Err(StoreError::refused(
            "number_is_holder",
            format!(
                "le {shown} est le téléphone du titulaire du commerce {} : un pendentif a le numéro de sa propre carte SIM, vérifiez le numéro / {shown} is the holder's phone of shop {}: a pendant has its own SIM's number",
                s.reference, s.reference
            ),
        ));
    }
    Ok(())
}

impl Store {
    /// Register a pendant for a shop under the number of its SIM. A number
    /// is one pendant, in service once; never a contact or a holder.
    pub async fn add_pendant(&self, p: NewPendant, now: Timestamp) -> Result<Pendant, StoreError> {
        NonAlarmPattern::parse_all(&p.patterns)
            .map_err(|e| StoreError::refused("bad_pattern", e.to_string()))?;
        let patterns: Vec<String> = p.patterns.iter().map(|t| t.trim().to_string()).collect();
        self.db
            .write(move |c| {
                load_shop(c, p.shop_id)?;
                check_number_free(c, &p.phone)?;
                table::insert(c, p.phone.as_e164(), p.shop_id, &patterns, now)?;
                table::in_service(c, p.phone.as_e164())?
                    .ok_or_else(|| StoreError::Unexpected("pendant vanished".into()))
            })
            .await
    }

    /// Take the pendant under this number out of service: its SMS are a
    /// stranger's from now on (kept, and nothing done).
    pub async fn remove_pendant(
        &self,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let phone = phone.clone();
        self.db
            .write(move |c| {
                if table::remove(c, phone.as_e164(), now)? == 0 {
                    return Err(StoreError::refused(
                        "unknown_pendant",
                        format!(
                            "aucun pendentif en service au {} (vigie admin pendant list) / no pendant in service at that number",
                            phone.national_display()
                        ),
                    ));
                }
                Ok(())
            })
            .await
    }

    /// The pendants in service, of one shop or all.
    pub async fn pendants(&self, shop: Option<i64>) -> Result<Vec<Pendant>, StoreError> {
        self.db.read(move |c| table::in_service_of(c, shop)).await
    }

    /// What pendants sent lately, of one pendant or all, newest first.
    pub async fn pendant_messages(
        &self,
        pendant: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendantMessage>, StoreError> {
        let limit = limit.min(PENDANT_MESSAGES_LIST_MAX);
        self.db
            .read(move |c| table::messages(c, pendant, limit))
            .await
    }
}
