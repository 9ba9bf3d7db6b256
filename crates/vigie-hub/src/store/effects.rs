//! Effects several operations write the same way: a table change with its
//! event, a notice to the contact of an alert that went out late. Built
//! from `tables/` only; the operations share these instead of importing
//! each other.

use super::StoreError;
use super::model::Consent;
use super::tables::notifications::{NewSms, PRIORITY_ALERT, PRIORITY_NOTICE};
use super::tables::{alarms, contacts, events, hardware, notifications, readiness, shops};
use super::tx::{Tx, args};
use vigie_core::{AlarmState, Outcome, Timestamp, sms};

pub(crate) fn set_consent(
    c: &dyn Tx,
    contact_id: i64,
    consent: Consent,
    via: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    contacts::set_consent(c, contact_id, consent, now)?;
    events::append(
        c,
        None,
        now,
        "consent",
        &serde_json::json!({ "contact": contact_id, "consent": consent.as_str(), "via": via }),
    )?;
    Ok(())
}

/// The test SMS of alarm `alarm` was accepted by a gateway: the shop's chain works.
pub(crate) fn test_sms_accepted(
    c: &dyn Tx,
    alarm: &str,
    gateway: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    readiness::test_accepted(c, alarm, now)?;
    events::record(
        c,
        alarm,
        now,
        &super::model::AlarmEvent::TestOk {
            gateway: gateway.to_string(),
        },
    )
}

/// Enrolment with a code bound to `serial`: the box must still be assigned
/// to the code's shop; it becomes enrolled with `device_id`. Called by
/// [`Store::enroll`] in its transaction.
pub(crate) fn hardware_enrolled(
    c: &dyn Tx,
    serial: &str,
    shop_id: i64,
    device_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    if !hardware::mark_enrolled(c, serial, shop_id, device_id, now)? {
        return Err(StoreError::refused(
            "hardware_unavailable",
            format!(
                "ce code était pour le boîtier {serial}, qui n'est plus attribué à ce commerce : demandez un nouveau code / this code was for box {serial}, no longer assigned to this shop: ask for a new code"
            ),
        ));
    }
    events::append(
        c,
        None,
        now,
        "hardware_enrolled",
        &serde_json::json!({ "serial": serial, "shop": shop_id, "device": device_id }),
    )
}

/// An alert that went out although it had been withdrawn (the cancel or
/// the resolution raced the gateway): its contact gets the notice the
/// others got, under the same key, so never twice.
pub(crate) fn notify_late_alert(
    c: &dyn Tx,
    alarm_id: &str,
    notification_id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(alarm) = alarms::load(c, alarm_id)? else {
        return Ok(());
    };
    let contact: Option<i64> = c.query_row(
        "SELECT contact_id FROM notifications WHERE id = ?1",
        args![notification_id],
        |r| r.get(0),
    )?;
    let Some(contact_id) = contact else {
        return Ok(());
    };
    let contact = contacts::load(c, contact_id)?;
    let shop = shops::load(c, alarm.shop_id)?;
    let (key, purpose, priority, text) = match alarm.state {
        AlarmState::Cancelled => (
            format!("cancel:{alarm_id}"),
            "cancel",
            PRIORITY_ALERT,
            sms::cancelled(&shop.name, alarm.pressed_at),
        ),
        AlarmState::Resolved => {
            let outcome = alarm.outcome.unwrap_or(Outcome::Incident);
            (
                format!("resolved:{alarm_id}"),
                "resolved",
                PRIORITY_NOTICE,
                sms::resolved(&shop.name, alarm.pressed_at, outcome),
            )
        }
        AlarmState::Open | AlarmState::Acknowledged => return Ok(()),
    };
    notifications::queue(
        c,
        &NewSms {
            dedup_key: format!("{key}:{contact_id}"),
            alarm_id: Some(alarm_id),
            contact_id: Some(contact_id),
            phone: contact.phone.as_e164(),
            purpose,
            step: alarm.step,
            attempt: 0,
            priority,
            text: &text.text,
        },
        now,
    )?;
    Ok(())
}
