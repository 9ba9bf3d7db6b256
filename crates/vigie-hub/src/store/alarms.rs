//! Alarms: raise, escalate, answer, cancel, resolve, and SMS replies.
//! Each operation is one transaction: load, decide with `vigie_core`,
//! write the state, the SMS to send and the events together.

pub(super) mod panels;
pub(super) mod pendants;

use super::effects::set_consent;
use super::model::*;
use super::tables::alarms::COLUMNS as ALARM_COLUMNS;
use super::tables::alarms::from_row as alarm_from_row;
use super::tables::alarms::load as load_alarm;
use super::tables::contacts::COLUMNS as CONTACT_COLUMNS;
use super::tables::contacts::from_row as contact_from_row;
use super::tables::contacts::load as load_contact;
use super::tables::events::record as record_event;
use super::tables::notifications::COLUMNS as NOTIFICATION_COLUMNS;
use super::tables::notifications::NewSms;
use super::tables::notifications::PRIORITY_ADMIN;
use super::tables::notifications::PRIORITY_ALERT;
use super::tables::notifications::PRIORITY_FIRST_ALERT;
use super::tables::notifications::PRIORITY_NOTICE;
use super::tables::notifications::from_row as notification_from_row;
use super::tables::notifications::queue as queue_sms;
use super::tables::notifications::queue_later as queue_sms_later;
use super::tables::readiness::test_pressed;
use super::tables::shops::load as load_shop;
use super::tx::{OptionalExtension as _, Tx, args};
use super::{Rules, Store, StoreError, random_token};
use uuid::Uuid;
use vigie_core::alarm::{self, LATE_PRESS_MS_MIN};
use vigie_core::escalation::{self, Reachable, Step};
use vigie_core::reply::{Reply, parse_reply};
use vigie_core::sms::{self, AlertText, ShopLine};
use vigie_core::{AlarmState, Answer, Outcome, PhoneNumber, Timestamp};
use vigie_proto::{AlarmReceipt, CancelAlarm, DirectSms, RaiseAlarm};

/// Characters of an answer link's token (~71 bits: unguessable, short enough for one SMS).
const ANSWER_TOKEN_CHARS: usize = 12;
/// A press stamped this far in the box's future is refused as nonsense.
const PRESS_FUTURE_MS_MAX: i64 = 5 * 60_000;
/// A press older than this is refused: it can no longer be helped by SMS.
const PRESS_AGE_MS_MAX: i64 = 24 * 3_600_000;
/// Alarms advanced per engine pass, so one pass stays short.
pub const DUE_ALARMS_PER_PASS_MAX: usize = 512;
/// SMS a box may report having sent itself for one alarm: more than any
/// shop's contact list; the rest of a longer report is ignored (and logged).
pub const DIRECT_SMS_PER_REPORT_MAX: usize = 64;
/// The "gateway" of an SMS the box sent through its own modem.
pub const BOX_MODEM_GATEWAY: &str = "box-modem";

fn receipt(a: &Alarm, duplicate: bool, contacts_alerting: u32) -> AlarmReceipt {
    AlarmReceipt {
        alarm_id: a.id,
        state: a.state.as_str().into(),
        code: a.code.clone(),
        duplicate,
        late_by_ms: a.age_ms,
        contacts_alerting,
        durable: true,
    }
}

/// "Marie D." from "Marie Dupont": enough for the others to know who.
pub fn short_name(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => "Un contact".into(),
        [one] => (*one).to_string(),
        [first, .., last] => format!("{first} {}.", last.chars().next().unwrap_or(' ')),
    }
}

/// Contacts that may receive this shop's alarms: its own and the Region's,
/// with consent given and a number that has not bounced out.
fn reachable(c: &dyn Tx, shop_id: i64) -> Result<Vec<Reachable>, StoreError> {
    Ok(reachable_contacts(c, shop_id)?
        .iter()
        .map(as_reachable)
        .collect())
}

fn reachable_contacts(c: &dyn Tx, shop_id: i64) -> Result<Vec<Contact>, StoreError> {
    super::tables::contacts::reachable(c, shop_id)
}

fn as_reachable(contact: &Contact) -> Reachable {
    Reachable {
        contact_id: contact.id,
        tier: contact.tier,
    }
}

fn answer_link(
    c: &dyn Tx,
    rules: &Rules,
    alarm: &str,
    contact: i64,
    first_step: bool,
    now: Timestamp,
) -> Result<String, StoreError> {
    // Links are made by escalation steps only: before an alarm's first
    // step it has none to look for.
    let existing: Option<String> = if first_step {
        None
    } else {
        c.query_row(
            "SELECT token FROM answer_links WHERE alarm_id = ?1 AND contact_id = ?2",
            args![alarm, contact],
            |r| r.get(0),
        )
        .optional()?
    };
    let token = match existing {
        Some(t) => t,
        None => {
            let t = random_token(ANSWER_TOKEN_CHARS);
            c.execute_later(
                "INSERT INTO answer_links (token, alarm_id, contact_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                args![t, alarm, contact, now.as_ms()],
            )?;
            t
        }
    };
    Ok(format!("{}/r/{token}", rules.public_url))
}

/// Run the escalation step that is due, if the alarm is still open.
pub(super) fn advance(
    c: &dyn Tx,
    rules: &Rules,
    alarm: &Alarm,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let due = alarm.next_step_at.is_some_and(|t| t <= now);
    if alarm.state != AlarmState::Open || !due {
        return Ok(0);
    }
    let id = alarm.id.to_string();
    let known = reachable_contacts(c, alarm.shop_id)?;
    let contacts: Vec<Reachable> = known.iter().map(as_reachable).collect();
    let shop = load_shop(c, alarm.shop_id)?;
    // The shop's own policy where it has one, the Region's otherwise.
    let policy = escalation::Policy {
        tier_timeout_ms: shop
            .tier_timeout_s
            .map_or(rules.policy.tier_timeout_ms, |s| i64::from(s) * 1_000),
        repeat: shop.escalation_repeat.unwrap_or(rules.policy.repeat),
        ..rules.policy
    };
    match escalation::step(&policy, &contacts, alarm.step, now) {
        Step::Alert {
            step,
            round,
            tier,
            contacts,
            next_step_at,
        } => {
            for (i, contact_id) in contacts.iter().enumerate() {
                let contact = match known.iter().find(|k| k.id == *contact_id) {
                    Some(k) => k.clone(),
                    None => load_contact(c, *contact_id)?,
                };
                let link = answer_link(c, rules, &id, *contact_id, alarm.step == 0, now)?;
                let text = sms::alert(&AlertText {
                    shop: ShopLine {
                        name: &shop.name,
                        address: &shop.address,
                        commune: &shop.commune,
                    },
                    pressed_at: alarm.pressed_at,
                    age_ms: alarm.age_ms,
                    link: &link,
                    alarm_code: &alarm.code,
                    replies_accepted: rules.replies_accepted,
                    round,
                });
                let priority = if step == 0 && i == 0 {
                    PRIORITY_FIRST_ALERT
                } else {
                    PRIORITY_ALERT
                };
                queue_sms_later(
                    c,
                    &NewSms {
                        dedup_key: format!("alert:{id}:{step}:{contact_id}:0"),
                        alarm_id: Some(&id),
                        contact_id: Some(*contact_id),
                        phone: contact.phone.as_e164(),
                        purpose: "alert",
                        step,
                        attempt: 0,
                        priority,
                        text: &text.text,
                    },
                    now,
                )?;
            }
            c.execute_later(
                "UPDATE alarms SET step = ?1, next_step_at = ?2 WHERE id = ?3",
                args![step + 1, next_step_at.as_ms(), id],
            )?;
            record_event(
                c,
                &id,
                now,
                &AlarmEvent::Escalated {
                    step,
                    round,
                    tier,
                    contacts: contacts.clone(),
                },
            )?;
            Ok(contacts.len() as u32)
        }
        Step::NoContact => {
            c.execute(
                "UPDATE alarms SET next_step_at = NULL, exhausted = 1 WHERE id = ?1",
                args![id],
            )?;
            record_event(
                c,
                &id,
                now,
                &AlarmEvent::NoContact {
                    message: "aucun contact joignable / no reachable contact".into(),
                },
            )?;
            Ok(0)
        }
        Step::Exhausted => {
            c.execute(
                "UPDATE alarms SET next_step_at = NULL, exhausted = 1 WHERE id = ?1",
                args![id],
            )?;
            record_event(c, &id, now, &AlarmEvent::Exhausted { steps: alarm.step })?;
            Ok(0)
        }
    }
}

/// Contacts alerted for this alarm so far.
fn alerted_contacts(c: &dyn Tx, alarm: &str) -> Result<Vec<Contact>, StoreError> {
    let mut st = c.prepare(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id IN (SELECT contact_id FROM notifications WHERE alarm_id = ?1 AND purpose = 'alert' AND state <> 'withdrawn') ORDER BY tier, id"
    ))?;
    let rows = st
        .query_map(args![alarm], contact_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Tell every alerted contact (but `except`) and, if set, the holder.
/// One message told to everyone concerned by an alarm.
struct Notice<'a> {
    /// Prefix of each recipient's dedup key.
    key: String,
    purpose: &'static str,
    priority: u8,
    text: &'a str,
    /// The contact who caused it, who is not told.
    except: Option<i64>,
    holder_too: bool,
}

fn broadcast(
    c: &dyn Tx,
    alarm: &Alarm,
    shop: &Shop,
    notice: Notice<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Notice {
        key,
        purpose,
        priority,
        text,
        except,
        holder_too,
    } = notice;
    let id = alarm.id.to_string();
    let mut recipients: Vec<(String, Option<i64>, String)> = alerted_contacts(c, &id)?
        .into_iter()
        .filter(|k| Some(k.id) != except)
        .map(|k| (k.id.to_string(), Some(k.id), k.phone.as_e164().to_string()))
        .collect();
    // A duress or silent hold-up from a panel: nothing towards the premises.
    if holder_too && shop.holder_sms && !panels::silent_alarm(c, &id)? {
        recipients.push((
            "holder".into(),
            None,
            shop.holder_phone.as_e164().to_string(),
        ));
    }
    for (who, contact_id, phone) in recipients {
        queue_sms(
            c,
            &NewSms {
                dedup_key: format!("{key}:{who}"),
                alarm_id: Some(&id),
                contact_id,
                phone: &phone,
                purpose,
                step: alarm.step,
                attempt: 0,
                priority,
                text,
            },
            now,
        )?;
    }
    Ok(())
}

/// What a mobile-originated SMS was.
#[derive(Debug, Clone, PartialEq)]
pub enum SmsReceived {
    /// From a contact, or from a number the hub does not know.
    Reply(Reply),
    /// From a registered pendant.
    Pendant(pendants::PendantReceipt),
}

/// Outcome of an answer, for the page or the SMS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerResult {
    Recorded {
        state: AlarmState,
    },
    /// The contact had already given this very answer.
    Unchanged,
}

fn apply_answer(
    c: &dyn Tx,
    alarm: &Alarm,
    contact: &Contact,
    answer: Answer,
    via: &str,
    now: Timestamp,
) -> Result<AnswerResult, StoreError> {
    if !alarm.state.is_live() {
        return Err(StoreError::refused(
            "alarm_closed",
            "cette alarme est close / this alarm is closed",
        ));
    }
    let id = alarm.id.to_string();
    let last: Option<String> = c
        .query_row(
            "SELECT answer FROM answers WHERE alarm_id = ?1 AND contact_id = ?2 ORDER BY id DESC LIMIT 1",
            args![id, contact.id],
            |r| r.get(0),
        )
        .optional()?;
    if last.as_deref() == Some(answer.as_str()) {
        return Ok(AnswerResult::Unchanged);
    }
    let answer_id: i64 = c.query_row(
        "INSERT INTO answers (alarm_id, contact_id, answer, via, at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        args![id, contact.id, answer.as_str(), via, now.as_ms()],
        |r| r.get(0),
    )?;
    record_event(
        c,
        &id,
        now,
        &AlarmEvent::Answered {
            contact: contact.id,
            name: contact.name.clone(),
            answer: answer.as_str().into(),
            via: via.into(),
        },
    )?;
    let state = alarm::state_after_answer(alarm.state, answer);
    if state != alarm.state {
        c.execute(
            "UPDATE alarms SET state = ?1, next_step_at = NULL WHERE id = ?2",
            args![state.as_str(), id],
        )?;
        record_event(c, &id, now, &AlarmEvent::Acknowledged { by: contact.id })?;
    }
    let shop = load_shop(c, alarm.shop_id)?;
    let text = sms::answer_broadcast(&shop.name, &short_name(&contact.name), answer, now);
    let notice = Notice {
        key: format!("answer:{answer_id}"),
        purpose: "answer",
        priority: PRIORITY_ALERT,
        text: &text.text,
        except: Some(contact.id),
        holder_too: true,
    };
    broadcast(c, alarm, &shop, notice, now)?;
    Ok(AnswerResult::Recorded { state })
}

fn reply_sms(
    c: &dyn Tx,
    phone: &PhoneNumber,
    key: String,
    text: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    queue_sms(
        c,
        &NewSms {
            dedup_key: key,
            alarm_id: None,
            contact_id: None,
            phone: phone.as_e164(),
            purpose: "reply",
            step: 0,
            attempt: 0,
            priority: PRIORITY_ADMIN,
            text,
        },
        now,
    )?;
    Ok(())
}

/// The box sent the alert itself to these phones (its modem, the holder's
/// SIM). For each phone that is a reachable contact of the shop, the alert
/// row of that contact's escalation step (first round) is recorded as sent
/// by the box, under the key the escalation would use, so the dispatcher
/// never sends it: a pending row is marked sent, a missing one (a later
/// tier) is inserted so the step finds it taken. A row the hub already sent
/// is left as it is. Everything lands in the alarm's log as `direct_sms`.
fn record_direct(
    c: &dyn Tx,
    alarm: &Alarm,
    reported: &[DirectSms],
    via: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = alarm.id.to_string();
    let contacts = reachable(c, alarm.shop_id)?;
    let tiers = escalation::tiers(&contacts);
    let shop = load_shop(c, alarm.shop_id)?;
    let text = sms::direct_alert(
        &ShopLine {
            name: &shop.name,
            address: &shop.address,
            commune: &shop.commune,
        },
        alarm.pressed_at,
    );
    // The box's clock to the hub's, as the press gave it.
    let offset = alarm.pressed_at.ms_since(alarm.device_pressed_at);
    let (mut by_box, mut already_sent, mut unmatched) = (Vec::new(), Vec::new(), Vec::new());
    let mut same_phone = c.prepare(
        "SELECT id FROM contacts WHERE (shop_id = ?1 OR shop_id IS NULL) AND consent = 'yes' AND phone = ?2 ORDER BY id",
    )?;
    for d in reported.iter().take(DIRECT_SMS_PER_REPORT_MAX) {
        let Ok(phone) = PhoneNumber::parse(&d.phone) else {
            unmatched.push(d.phone.chars().take(32).collect::<String>());
            continue;
        };
        let sent_at = Timestamp(d.sent_at_ms.saturating_add(offset))
            .clamp(alarm.pressed_at, now.max(alarm.pressed_at));
        let ids = same_phone
            .query_map(args![alarm.shop_id, phone.as_e164()], |r| r.get::<i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let matched: Vec<(i64, usize)> = ids
            .iter()
            .filter_map(|cid| {
                let tier = contacts.iter().find(|k| k.contact_id == *cid)?.tier;
                Some((*cid, tiers.iter().position(|t| *t == tier)?))
            })
            .collect();
        if matched.is_empty() {
            unmatched.push(phone.as_e164().to_string());
            continue;
        }
        for (contact_id, step) in matched {
            let key = format!("alert:{id}:{step}:{contact_id}:0");
            let state: Option<String> = c
                .query_row(
                    "SELECT state FROM notifications WHERE dedup_key = ?1",
                    args![key],
                    |r| r.get(0),
                )
                .optional()?;
            match state.as_deref() {
                Some("pending") => {
                    c.execute(
                        "UPDATE notifications SET state = 'submitted', gateway = ?1, submitted_at = ?2, tries = tries + 1, error = NULL WHERE dedup_key = ?3 AND state = 'pending'",
                        args![BOX_MODEM_GATEWAY, sent_at.as_ms(), key],
                    )?;
                    by_box.push(contact_id);
                }
                Some(_) => already_sent.push(contact_id),
                None if alarm.state.is_live() => {
                    c.execute(
                        "INSERT INTO notifications (dedup_key, alarm_id, contact_id, phone, purpose, step, attempt, priority, text, state, tries, gateway, created_at, not_before, submitted_at)
                         VALUES (?1, ?2, ?3, ?4, 'alert', ?5, 0, ?6, ?7, 'submitted', 1, ?8, ?9, ?9, ?10) ON CONFLICT (dedup_key) DO NOTHING",
                        args![key, id, contact_id, phone.as_e164(), step as i64, PRIORITY_ALERT, text.text, BOX_MODEM_GATEWAY, now.as_ms(), sent_at.as_ms()],
                    )?;
                    by_box.push(contact_id);
                }
                None => {}
            }
        }
    }
    record_event(
        c,
        &id,
        now,
        &AlarmEvent::DirectSms {
            via: via.into(),
            by_box,
            already_sent,
            unmatched,
            ignored: reported.len().saturating_sub(DIRECT_SMS_PER_REPORT_MAX),
            reason: None,
        },
    )
}

/// A silent end-to-end test: stored closed with outcome `test`, no contact
/// alerted, one SMS through the gateways to the Region's test number (or
/// the holder); the shop is ready once a gateway accepts it.
#[allow(clippy::too_many_arguments)]
fn raise_test(
    c: &dyn Tx,
    rules: &Rules,
    id: &str,
    device_id: &str,
    shop_id: i64,
    code: &str,
    req: &RaiseAlarm,
    pressed_at: Timestamp,
    late: Option<i64>,
    now: Timestamp,
) -> Result<AlarmReceipt, StoreError> {
    c.execute(
        "INSERT INTO alarms (id, shop_id, device_id, code, state, pressed_at, device_pressed_at, received_at, age_ms, recording, step, next_step_at, outcome, closed_at, closed_by)
         VALUES (?1, ?2, ?3, ?4, 'resolved', ?5, ?6, ?7, ?8, 0, 0, NULL, 'test', ?7, 'test')",
        args![id, shop_id, device_id, code, pressed_at.as_ms(), req.pressed_at_ms, now.as_ms(), late],
    )?;
    c.execute(
        "UPDATE devices SET state = 'active', last_seen_at = ?1 WHERE id = ?2",
        args![now.as_ms(), device_id],
    )?;
    let shop = load_shop(c, shop_id)?;
    let (to, who) = match &rules.test_sink_phone {
        Some(sink) => (sink.clone(), "test_sink"),
        None => (shop.holder_phone.clone(), "holder"),
    };
    let text = sms::test_press(&shop.name, pressed_at);
    queue_sms(
        c,
        &NewSms {
            dedup_key: format!("test:{id}"),
            alarm_id: Some(id),
            contact_id: None,
            phone: to.as_e164(),
            purpose: "test",
            step: 0,
            attempt: 0,
            priority: PRIORITY_ADMIN,
            text: &text.text,
        },
        now,
    )?;
    test_pressed(c, shop_id, now)?;
    record_event(
        c,
        id,
        now,
        &AlarmEvent::TestPress {
            device: device_id.into(),
            late_by_ms: late,
            to: who.into(),
            direct_sms_ignored: req.direct_sms.len(),
        },
    )?;
    let alarm =
        load_alarm(c, id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))?;
    Ok(receipt(&alarm, false, 0))
}

impl Store {
    /// Accept an alarm from a device: durable, planned, and its first SMS
    /// queued, in one transaction. A retry with the same id is the same alarm.
    pub async fn raise_alarm(
        &self,
        device_id: &str,
        req: RaiseAlarm,
        now: Timestamp,
    ) -> Result<AlarmReceipt, StoreError> {
        let rules = self.rules.clone();
        let device_id = device_id.to_string();
        self.db
            .write(move |c| {
                let id = req.alarm_id.to_string();
                if let Some(existing) = load_alarm(c, &id)? {
                    if existing.device_id != device_id {
                        return Err(StoreError::refused("alarm_id_taken", "cet identifiant d'alarme appartient à un autre boîtier / alarm id belongs to another device"));
                    }
                    return Ok(receipt(&existing, true, 0));
                }
                let shop_id: i64 = c
                    .query_row("SELECT shop_id FROM devices WHERE id = ?1 AND state IN ('enrolled', 'active')", args![device_id], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::refused("unknown_device", "boîtier inconnu ou retiré / unknown or retired device"))?;
                if req.pressed_at_ms > req.sent_at_ms.saturating_add(PRESS_FUTURE_MS_MAX) {
                    return Err(StoreError::refused("press_in_future", "l'heure de l'appui est postérieure à l'envoi / press time is after send time"));
                }
                let age = alarm::press_age_ms(Timestamp(req.pressed_at_ms), Timestamp(req.sent_at_ms));
                if age > PRESS_AGE_MS_MAX {
                    return Err(StoreError::refused("press_too_old", "appui de plus de 24 h / press older than 24 h"));
                }
                let late = (age >= LATE_PRESS_MS_MIN).then_some(age);
                let code = unique_code(c)?;
                let pressed_at = now.plus_ms(-age);
                if req.test {
                    return raise_test(c, &rules, &id, &device_id, shop_id, &code, &req, pressed_at, late, now);
                }
                c.execute(
                    "INSERT INTO alarms (id, shop_id, device_id, code, state, pressed_at, device_pressed_at, received_at, age_ms, recording, step, next_step_at)
                     VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9, 0, ?7)",
                    args![id, shop_id, device_id, code, pressed_at.as_ms(), req.pressed_at_ms, now.as_ms(), late, req.recording],
                )?;
                c.execute_later("UPDATE devices SET state = 'active', last_seen_at = ?1 WHERE id = ?2", args![now.as_ms(), device_id])?;
                record_event(c, &id, now, &AlarmEvent::Raised { device: device_id.clone(), late_by_ms: late, recording: req.recording })?;
                let alarm = load_alarm(c, &id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))?;
                let alerting = advance(c, &rules, &alarm, now)?;
                if !req.direct_sms.is_empty() {
                    record_direct(c, &alarm, &req.direct_sms, "raise", now)?;
                }
                let shop = load_shop(c, shop_id)?;
                if shop.holder_sms {
                    let text = sms::holder_confirmation(pressed_at, alerting as usize);
                    queue_sms_later(c, &NewSms::holder_confirmation(&id, shop.holder_phone.as_e164(), &text.text), now)?;
                }
                let alarm = load_alarm(c, &id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))?;
                Ok(receipt(&alarm, false, alerting))
            })
            .await
    }

    /// A long press within the cancel window: stop, withdraw what is not
    /// sent yet, and tell those already alerted that it was a false alarm.
    pub async fn cancel_alarm(
        &self,
        device_id: &str,
        alarm_id: Uuid,
        req: CancelAlarm,
        now: Timestamp,
    ) -> Result<AlarmReceipt, StoreError> {
        let rules = self.rules.clone();
        let device_id = device_id.to_string();
        self.db
            .write(move |c| {
                let id = alarm_id.to_string();
                let alarm = load_alarm(c, &id)?
                    .filter(|a| a.device_id == device_id)
                    .ok_or_else(|| StoreError::refused("unknown_alarm", "alarme inconnue pour ce boîtier / unknown alarm for this device"))?;
                if alarm.state == AlarmState::Cancelled {
                    return Ok(receipt(&alarm, true, 0));
                }
                alarm::check_cancel(alarm.state, alarm.device_pressed_at, Timestamp(req.cancel_pressed_at_ms), rules.cancel_window_ms)
                    .map_err(|e| match e {
                        alarm::TransitionError::AlreadyClosed => StoreError::refused("alarm_closed", e.to_string()),
                        alarm::TransitionError::CancelWindowPassed { .. } => StoreError::refused("cancel_window_passed", e.to_string()),
                    })?;
                c.execute(
                    "UPDATE alarms SET state = 'cancelled', next_step_at = NULL, outcome = 'false_alarm', closed_at = ?1, closed_by = 'holder' WHERE id = ?2",
                    args![now.as_ms(), id],
                )?;
                let withdrawn = c.execute(
                    "UPDATE notifications SET state = 'withdrawn', done_at = ?1 WHERE alarm_id = ?2 AND state = 'pending' AND purpose = 'alert'",
                    args![now.as_ms(), id],
                )?;
                record_event(c, &id, now, &AlarmEvent::Cancelled { by: "holder".into(), withdrawn: withdrawn as u64 })?;
                let shop = load_shop(c, alarm.shop_id)?;
                let text = sms::cancelled(&shop.name, alarm.pressed_at);
                let notice = Notice { key: format!("cancel:{id}"), purpose: "cancel", priority: PRIORITY_ALERT, text: &text.text, except: None, holder_too: false };
                broadcast(c, &alarm, &shop, notice, now)?;
                let alarm = load_alarm(c, &id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))?;
                Ok(receipt(&alarm, false, 0))
            })
            .await
    }

    /// The box tells, once it reaches the hub again, which SMS it sent
    /// itself for an alarm the hub already has.
    pub async fn report_direct(
        &self,
        device_id: &str,
        alarm_id: Uuid,
        direct_sms: Vec<DirectSms>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let device_id = device_id.to_string();
        self.db
            .write(move |c| {
                let id = alarm_id.to_string();
                let alarm = load_alarm(c, &id)?
                    .filter(|a| a.device_id == device_id)
                    .ok_or_else(|| {
                        StoreError::refused(
                            "unknown_alarm",
                            "alarme inconnue pour ce boîtier / unknown alarm for this device",
                        )
                    })?;
                if alarm.outcome == Some(Outcome::Test) {
                    return record_event(
                        c,
                        &id,
                        now,
                        &AlarmEvent::DirectSms {
                            via: "report".into(),
                            by_box: Vec::new(),
                            already_sent: Vec::new(),
                            unmatched: Vec::new(),
                            ignored: direct_sms.len(),
                            reason: Some("test".into()),
                        },
                    );
                }
                record_direct(c, &alarm, &direct_sms, "report", now)
            })
            .await
    }

    /// A double press on an open alarm: recording is asked for.
    pub async fn request_recording(
        &self,
        device_id: &str,
        alarm_id: Uuid,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let device_id = device_id.to_string();
        self.db
            .write(move |c| {
                let id = alarm_id.to_string();
                let n = c.execute(
                    "UPDATE alarms SET recording = 1 WHERE id = ?1 AND device_id = ?2",
                    args![id, device_id],
                )?;
                if n == 0 {
                    return Err(StoreError::refused(
                        "unknown_alarm",
                        "alarme inconnue pour ce boîtier / unknown alarm for this device",
                    ));
                }
                record_event(c, &id, now, &AlarmEvent::RecordingRequested {})?;
                Ok(())
            })
            .await
    }

    /// Alarms whose next escalation step is due.
    pub async fn due_alarms(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT id FROM alarms WHERE next_step_at IS NOT NULL AND next_step_at <= ?1 AND state = 'open' ORDER BY next_step_at LIMIT ?2",
                )?;
                let ids = st
                    .query_map(args![now.as_ms(), DUE_ALARMS_PER_PASS_MAX as i64], |r| r.get::<Uuid>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await
    }

    /// When the next escalation step of any alarm is due.
    pub async fn next_step_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.db
            .read(|c| {
                let t: Option<i64> =
                    c.query_row("SELECT MIN(next_step_at) FROM alarms WHERE next_step_at IS NOT NULL AND state = 'open'", args![], |r| r.get(0))?;
                Ok(t.map(Timestamp))
            })
            .await
    }

    /// Run the due escalation steps of these alarms, in one transaction.
    pub async fn advance_alarms(&self, ids: Vec<Uuid>, now: Timestamp) -> Result<u32, StoreError> {
        let rules = self.rules.clone();
        self.db
            .write(move |c| {
                let mut queued = 0;
                for id in &ids {
                    if let Some(alarm) = load_alarm(c, &id.to_string())? {
                        queued += advance(c, &rules, &alarm, now)?;
                    }
                }
                Ok(queued)
            })
            .await
    }

    /// A contact answers through their link.
    pub async fn answer_by_token(
        &self,
        token: &str,
        answer: Answer,
        now: Timestamp,
    ) -> Result<AnswerResult, StoreError> {
        let token = token.to_string();
        self.db
            .write(move |c| {
                let (alarm_id, contact_id) = link_target(c, &token)?;
                let alarm = load_alarm(c, &alarm_id)?.ok_or_else(|| {
                    StoreError::refused("unknown_link", "lien inconnu / unknown link")
                })?;
                let contact = load_contact(c, contact_id)?;
                apply_answer(c, &alarm, &contact, answer, "web", now)
            })
            .await
    }

    pub async fn answer_page(&self, token: &str) -> Result<AnswerPage, StoreError> {
        let token = token.to_string();
        self.db
            .read(move |c| {
                let (alarm_id, contact_id) = link_target(c, &token)?;
                let alarm = load_alarm(c, &alarm_id)?.ok_or_else(|| {
                    StoreError::refused("unknown_link", "lien inconnu / unknown link")
                })?;
                Ok(AnswerPage {
                    shop: load_shop(c, alarm.shop_id)?,
                    contact: load_contact(c, contact_id)?,
                    answers: answers(c, &alarm_id)?,
                    alarm,
                })
            })
            .await
    }

    /// The holder or an operator closes the alarm with an outcome.
    pub async fn resolve_alarm(
        &self,
        alarm_id: Uuid,
        outcome: Outcome,
        by: &str,
        now: Timestamp,
    ) -> Result<Alarm, StoreError> {
        let by = by.to_string();
        self.db
            .write(move |c| {
                let id = alarm_id.to_string();
                let alarm = load_alarm(c, &id)?.ok_or_else(|| StoreError::refused("unknown_alarm", "alarme inconnue / unknown alarm"))?;
                if !alarm.state.is_live() {
                    return Err(StoreError::refused("alarm_closed", "cette alarme est déjà close / this alarm is already closed"));
                }
                c.execute(
                    "UPDATE alarms SET state = 'resolved', next_step_at = NULL, outcome = ?1, closed_at = ?2, closed_by = ?3 WHERE id = ?4",
                    args![outcome.as_str(), now.as_ms(), by, id],
                )?;
                c.execute(
                    "UPDATE notifications SET state = 'withdrawn', done_at = ?1 WHERE alarm_id = ?2 AND state = 'pending' AND purpose = 'alert'",
                    args![now.as_ms(), id],
                )?;
                record_event(c, &id, now, &AlarmEvent::Resolved { outcome: outcome.as_str().into(), by: by.clone() })?;
                let shop = load_shop(c, alarm.shop_id)?;
                let text = sms::resolved(&shop.name, alarm.pressed_at, outcome);
                let notice = Notice { key: format!("resolved:{id}"), purpose: "resolved", priority: PRIORITY_NOTICE, text: &text.text, except: None, holder_too: false };
                broadcast(c, &alarm, &shop, notice, now)?;
                load_alarm(c, &id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))
            })
            .await
    }

    /// The texts of the SMS received from `phone` (E.164), oldest first.
    pub async fn inbound_texts(&self, phone: &str) -> Result<Vec<String>, StoreError> {
        let phone = phone.to_string();
        self.db
            .read(move |c| {
                let mut st =
                    c.prepare("SELECT text FROM inbound_sms WHERE phone = ?1 ORDER BY id")?;
                let rows = st
                    .query_map(args![phone], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// An SMS from a contact (see [`Store::receive_sms`]), as the contact's reply it was.
    pub async fn handle_reply(
        &self,
        gateway: &str,
        from: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<Reply, StoreError> {
        Ok(match self.receive_sms(gateway, from, text, now).await? {
            SmsReceived::Reply(reply) => reply,
            SmsReceived::Pendant(_) => Reply::Unknown,
        })
    }

    /// A mobile-originated SMS, stored with what it did in one transaction:
    /// from a registered pendant, an alarm raised or joined (never
    /// cancelled, answered or closed); from a contact, an answer, consent,
    /// STOP, or something to help with; from anyone else, kept and nothing
    /// said back.
    pub async fn receive_sms(
        &self,
        gateway: &str,
        from: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<SmsReceived, StoreError> {
        let (gateway, from, text) = (gateway.to_string(), from.to_string(), text.to_string());
        let consent_phone = from.clone();
        let rules = self.rules.clone();
        // The alarm a pendant's SMS may raise: minted once, as the write may run again.
        let new_alarm = Uuid::now_v7();
        let received = self
            .db
            .write(move |c| {
                let Ok(phone) = PhoneNumber::parse(&from) else {
                    c.execute(
                        "INSERT INTO inbound_sms (gateway, phone, text, at, understood) VALUES (?1, ?2, ?3, ?4, 'bad_sender')",
                        args![gateway, from, text, now.as_ms()],
                    )?;
                    return Ok(SmsReceived::Reply(Reply::Unknown));
                };
                if let Some(pendant) = pendants::in_service(c, &phone)? {
                    let inbound: i64 = c.query_row(
                        "INSERT INTO inbound_sms (gateway, phone, text, at, understood) VALUES (?1, ?2, ?3, ?4, 'pendant') RETURNING id",
                        args![gateway, phone.as_e164(), text, now.as_ms()],
                        |r| r.get(0),
                    )?;
                    let receipt =
                        pendants::receive(c, &rules, &pendant, inbound, &gateway, &text, new_alarm, now)?;
                    return Ok(SmsReceived::Pendant(receipt));
                }
                let reply = parse_reply(&text);
                let understood = match &reply {
                    Reply::Answer { .. } => "answer",
                    Reply::ConsentYes => "consent_yes",
                    Reply::ConsentNo => "consent_no",
                    Reply::Stop => "stop",
                    Reply::Unknown => "unknown",
                };
                let inbound: i64 = c.query_row(
                    "INSERT INTO inbound_sms (gateway, phone, text, at, understood) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                    args![gateway, phone.as_e164(), text, now.as_ms(), understood],
                    |r| r.get(0),
                )?;
                let mut st = c.prepare(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE phone = ?1"))?;
                let contacts = st.query_map(args![phone.as_e164()], contact_from_row)?.collect::<Result<Vec<_>, _>>()?;
                if contacts.is_empty() {
                    // Not one of ours: say nothing, so no SMS loop with a stranger.
                    return Ok(SmsReceived::Reply(reply));
                }
                let key = format!("reply:{inbound}");
                match &reply {
                    Reply::Answer { answer, alarm_code } => {
                        let mut open: Vec<(Alarm, Contact)> = Vec::new();
                        for contact in &contacts {
                            let mut st = c.prepare(&format!(
                                "SELECT {ALARM_COLUMNS} FROM alarms WHERE state IN ('open', 'acknowledged') AND id IN (SELECT alarm_id FROM answer_links WHERE contact_id = ?1)"
                            ))?;
                            for a in st.query_map(args![contact.id], alarm_from_row)? {
                                open.push((a?, contact.clone()));
                            }
                        }
                        if let Some(code) = alarm_code {
                            open.retain(|(a, _)| &a.code == code);
                        }
                        match open.as_slice() {
                            [] => reply_sms(c, &phone, key, &sms::reply_no_open_alarm().text, now)?,
                            [(alarm, contact)] => {
                                apply_answer(c, alarm, contact, *answer, "sms", now)?;
                            }
                            many => {
                                let codes: Vec<String> = many.iter().map(|(a, _)| a.code.clone()).collect();
                                reply_sms(c, &phone, key, &sms::reply_which_alarm(&codes).text, now)?;
                            }
                        }
                    }
                    Reply::ConsentYes => {
                        for contact in contacts.iter().filter(|k| k.consent != Consent::Yes) {
                            set_consent(c, contact.id, Consent::Yes, "sms", now)?;
                        }
                        let shop_name = match contacts.iter().find_map(|k| k.shop_id) {
                            Some(s) => load_shop(c, s)?.name,
                            None => "votre Région".into(),
                        };
                        reply_sms(c, &phone, key, &sms::consent_confirmed(&shop_name).text, now)?;
                    }
                    Reply::ConsentNo | Reply::Stop => {
                        for contact in contacts.iter().filter(|k| !k.relation.pre_approved()) {
                            set_consent(c, contact.id, Consent::No, "sms", now)?;
                        }
                        reply_sms(c, &phone, key, &sms::consent_withdrawn().text, now)?;
                    }
                    Reply::Unknown => reply_sms(c, &phone, key, &sms::reply_help().text, now)?,
                }
                Ok(SmsReceived::Reply(reply))
            })
            .await?;
        if matches!(
            received,
            SmsReceived::Reply(Reply::ConsentYes | Reply::ConsentNo | Reply::Stop)
        ) {
            // The boxes of the shops this number is a contact of must refetch their configuration.
            let shops = self.contact_shops(&consent_phone).await?;
            for shop in shops {
                self.config_changed(shop);
            }
        }
        Ok(received)
    }

    /// The shops (`None`: the Region) that have this phone among their contacts.
    async fn contact_shops(&self, phone: &str) -> Result<Vec<Option<i64>>, StoreError> {
        let Ok(phone) = PhoneNumber::parse(phone) else {
            return Ok(Vec::new());
        };
        self.db
            .read(move |c| {
                let mut st = c.prepare("SELECT DISTINCT shop_id FROM contacts WHERE phone = ?1")?;
                let shops = st
                    .query_map(args![phone.as_e164()], |r| r.get::<Option<i64>>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(shops)
            })
            .await
    }

    pub async fn alarm(&self, alarm_id: Uuid) -> Result<AlarmDetail, StoreError> {
        self.db
            .read(move |c| {
                let id = alarm_id.to_string();
                let alarm = load_alarm(c, &id)?.ok_or_else(|| StoreError::refused("unknown_alarm", "alarme inconnue / unknown alarm"))?;
                let events = super::tables::events::of_alarm(c, &id)?;
                let mut st = c.prepare(&format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE alarm_id = ?1 ORDER BY id"))?;
                let notifications = st.query_map(args![id], notification_from_row)?.collect::<Result<Vec<_>, _>>()?;
                Ok(AlarmDetail { shop: load_shop(c, alarm.shop_id)?, answers: answers(c, &id)?, alarm, events, notifications })
            })
            .await
    }

    pub async fn alarms(&self, limit: usize) -> Result<Vec<Alarm>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {ALARM_COLUMNS} FROM alarms ORDER BY received_at DESC LIMIT ?1"
                ))?;
                let rows = st
                    .query_map(args![limit as i64], alarm_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }
}

fn link_target(c: &dyn Tx, token: &str) -> Result<(String, i64), StoreError> {
    c.query_row(
        "SELECT alarm_id, contact_id FROM answer_links WHERE token = ?1",
        args![token],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .ok_or_else(|| StoreError::refused("unknown_link", "lien inconnu / unknown link"))
}

fn answers(c: &dyn Tx, alarm: &str) -> Result<Vec<AnswerRow>, StoreError> {
    let mut st = c.prepare(
        "SELECT a.contact_id, k.name, a.answer, a.via, a.at FROM answers a JOIN contacts k ON k.id = a.contact_id WHERE a.alarm_id = ?1 ORDER BY a.id",
    )?;
    let rows = st
        .query_map(args![alarm], |r| {
            let answer: String = r.get(2)?;
            Ok(AnswerRow {
                contact_id: r.get(0)?,
                contact_name: r.get(1)?,
                answer: Answer::parse(&answer).unwrap_or(Answer::Unavailable),
                via: r.get(3)?,
                at: Timestamp(r.get(4)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A reply code not shared with another live alarm.
pub(super) fn unique_code(c: &dyn Tx) -> Result<String, StoreError> {
    let mut code = String::new();
    for _ in 0..8 {
        code = alarm::alarm_code_from_bytes(rand::random());
        let taken: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM alarms WHERE code = ?1 AND state IN ('open', 'acknowledged'))",
            args![code],
            |r| r.get(0),
        )?;
        if !taken {
            break;
        }
    }
    Ok(code)
}
