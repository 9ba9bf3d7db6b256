//! The SMS outbox: every message to send, one row per attempt, in the
//! order the dispatcher must send them, and what became of each.

use super::effects::notify_late_alert;
use super::effects::test_sms_accepted;
use super::model::AlarmEvent;
use super::model::Notification;
use super::tables::events::record as record_event;
use super::tables::events::record_for;
use super::tables::notifications::COLUMNS as NOTIFICATION_COLUMNS;
use super::tables::notifications::NewSms;
use super::tables::notifications::from_row as notification_from_row;
use super::tables::notifications::queue as queue_sms;
use super::tables::notifications::{
    Accepted, mark_delivered, mark_delivered_by_message, mark_submitted, take_early_receipts,
};
use super::tables::readiness::test_delivered as test_sms_delivered;
use super::tx::{OptionalExtension as _, Tx, args};
use super::{Store, StoreError};
use crate::gateway::ReceiptRef;
use std::collections::{HashMap, HashSet};
use vigie_core::Timestamp;

/// A gateway's receipt saying an SMS was delivered, by its message id.
#[derive(Debug, Clone)]
pub struct DeliveredReceipt {
    pub gateway: String,
    pub message_id: String,
    pub detail: String,
}

/// What the dispatcher learnt from one submit.
#[derive(Debug, Clone)]
pub enum SubmitOutcome {
    Submitted {
        gateway: String,
        message_id: Option<String>,
    },
    /// Try again after a back-off (transient error or throttling).
    Retry { gateway: String, error: String },
    /// The gateway refused it for good.
    Rejected { gateway: String, error: String },
}

impl Store {
    /// SMS due now, most urgent first.
    pub async fn pending_notifications(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE state = 'pending' AND not_before <= ?1 ORDER BY priority, id LIMIT ?2"
                ))?;
                let rows = st.query_map(args![now.as_ms(), limit as i64], notification_from_row)?.collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// When the next deferred SMS becomes due, if any.
    pub async fn next_notification_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.db
            .read(|c| {
                let t: Option<i64> = c.query_row(
                    "SELECT MIN(not_before) FROM notifications WHERE state = 'pending'",
                    args![],
                    |r| r.get(0),
                )?;
                Ok(t.map(Timestamp))
            })
            .await
    }

    /// Record a batch of submit outcomes in one transaction.
    pub async fn record_submits(
        &self,
        outcomes: Vec<(i64, SubmitOutcome)>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let rules = self.rules.clone();
        self.db
            .write(move |c| {
                let accepted: Vec<Accepted<'_>> = outcomes
                    .iter()
                    .filter_map(|(id, outcome)| match outcome {
                        SubmitOutcome::Submitted { gateway, message_id } => Some(Accepted {
                            id: *id,
                            gateway,
                            message_id: message_id.as_deref(),
                        }),
                        _ => None,
                    })
                    .collect();
                record_accepted(c, &rules, &accepted, now)?;
                for (id, outcome) in &outcomes {
                    match outcome {
                        SubmitOutcome::Submitted { .. } => {}
                        SubmitOutcome::Retry { gateway, error } => {
                            // The SMS keeps its place in the queue (no per-SMS
                            // back-off): a "try again" is about the gateway,
                            // which the dispatcher pauses or fails over. A
                            // back-off here let less urgent SMS, never tried
                            // during an outage, go out before alarms' first SMS
                            // once the link was back (ADR 0002).
                            c.execute(
                                "UPDATE notifications SET tries = tries + 1, error = ?1, gateway = ?2 WHERE id = ?3 AND state = 'pending'",
                                args![error, gateway, id],
                            )?;
                        }
                        SubmitOutcome::Rejected { gateway, error } => {
                            c.execute("UPDATE notifications SET gateway = ?1, tries = tries + 1 WHERE id = ?2", args![gateway, id])?;
                            fail_notification(c, &rules, *id, &format!("refusé par {gateway}: {error}"), now)?;
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    /// Delivery receipts that say "delivered", by the gateway's message id,
    /// in one write: the SMS they name marked delivered together; a receipt
    /// whose SMS is not recorded submitted yet is kept for then.
    pub async fn record_deliveries(
        &self,
        receipts: Vec<DeliveredReceipt>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                let pairs: Vec<(&str, &str)> = receipts
                    .iter()
                    .map(|r| (r.gateway.as_str(), r.message_id.as_str()))
                    .collect();
                let mut found: HashSet<(String, String)> = HashSet::new();
                for (id, gateway, message_id, alarm, contact, purpose) in
                    mark_delivered_by_message(c, &pairs, now)?
                {
                    delivered_effects(c, id, (alarm, contact, purpose), now)?;
                    found.insert((gateway, message_id));
                }
                for r in &receipts {
                    if !found.contains(&(r.gateway.clone(), r.message_id.clone())) {
                        keep_early_receipt(c, &r.gateway, &r.message_id, true, &r.detail, now)?;
                    }
                }
                Ok(())
            })
            .await
    }

    /// A delivery receipt from a gateway.
    pub async fn record_receipt(
        &self,
        gateway: String,
        reference: ReceiptRef,
        delivered: bool,
        detail: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let rules = self.rules.clone();
        self.db
            .write(move |c| {
                // The usual case in one statement: an SMS submitted, now delivered.
                if delivered
                    && let ReceiptRef::MessageId(mid) = &reference
                    && let Some(row) = c
                        .query_row(
                            "UPDATE notifications SET state = 'delivered', done_at = ?1 WHERE gateway = ?2 AND message_id = ?3 AND state IN ('submitted', 'pending') RETURNING id, alarm_id, contact_id, purpose",
                            args![now.as_ms(), gateway, mid],
                            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))),
                        )
                        .optional()?
                {
                    let (id, row) = row;
                    return delivered_effects(c, id, row, now);
                }
                // Not submitted yet as far as the store knows (the usual
                // reason a delivery is not found above): kept for the submit.
                if delivered
                    && let ReceiptRef::MessageId(mid) = &reference
                {
                    return keep_early_receipt(c, &gateway, mid, delivered, &detail, now);
                }
                let id: Option<i64> = match &reference {
                    ReceiptRef::MessageId(mid) => c
                        .query_row("SELECT id FROM notifications WHERE gateway = ?1 AND message_id = ?2", args![gateway, mid], |r| r.get(0))
                        .optional()?,
                    ReceiptRef::Notification(id) => {
                        c.query_row("SELECT id FROM notifications WHERE id = ?1", args![id], |r| r.get(0)).optional()?
                    }
                };
                match (id, &reference) {
                    (Some(id), _) => apply_receipt(c, &rules, id, delivered, &detail, now),
                    // The receipt beat the submit's answer to the store: keep it for then.
                    (None, ReceiptRef::MessageId(mid)) => keep_early_receipt(c, &gateway, mid, delivered, &detail, now),
                    (None, ReceiptRef::Notification(id)) => {
                        Err(StoreError::refused("unknown_notification", format!("no notification {id}")))
                    }
                }
            })
            .await
    }

    pub async fn notifications_for_phone(
        &self,
        phone: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        let phone = phone.to_string();
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE phone = ?1 ORDER BY id"
                ))?;
                let rows = st
                    .query_map(args![phone], notification_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }
}

/// SMS the gateways took: marked submitted together (a statement per
/// batch, not per SMS: a storm's SMS are recorded by the thousand), then
/// what is particular to a few of them.
fn record_accepted(
    c: &dyn Tx,
    rules: &super::Rules,
    accepted: &[Accepted<'_>],
    now: Timestamp,
) -> Result<(), StoreError> {
    if accepted.is_empty() {
        return Ok(());
    }
    let marked = mark_submitted(c, accepted, now)?;
    let marked_ids: HashSet<i64> = marked.iter().map(|(id, _, _)| *id).collect();
    for a in accepted.iter().filter(|a| !marked_ids.contains(&a.id)) {
        // Withdrawn (the alarm was cancelled or closed) while the
        // gateway was already taking it: it went out all the same,
        // so record it and tell that contact how the alarm ended.
        let late: Option<Option<String>> = c
            .query_row(
                "UPDATE notifications SET state = 'submitted', gateway = ?1, message_id = ?2, submitted_at = ?3, tries = tries + 1 WHERE id = ?4 AND state = 'withdrawn' RETURNING alarm_id",
                args![a.gateway, a.message_id, now.as_ms(), a.id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(Some(alarm)) = late {
            notify_late_alert(c, &alarm, a.id, now)?;
        }
    }
    // A silent test's SMS accepted by a gateway: the shop's chain works.
    for (id, purpose, alarm) in &marked {
        if purpose == "test"
            && let Some(alarm) = alarm
            && let Some(a) = accepted.iter().find(|a| a.id == *id)
        {
            test_sms_accepted(c, alarm, a.gateway, now)?;
        }
    }
    let by_message: HashMap<(&str, &str), i64> = accepted
        .iter()
        .filter_map(|a| a.message_id.map(|m| ((a.gateway, m), a.id)))
        .collect();
    let with_ids: Vec<(&str, &str)> = by_message.keys().copied().collect();
    let mut delivered_ids = Vec::new();
    for (gateway, message_id, delivered, detail) in take_early_receipts(c, &with_ids)? {
        if let Some(id) = by_message.get(&(gateway.as_str(), message_id.as_str())) {
            if delivered {
                delivered_ids.push(*id);
            } else {
                apply_receipt(c, rules, *id, delivered, &detail, now)?;
            }
        }
    }
    for (id, alarm, contact, purpose) in mark_delivered(c, &delivered_ids, now)? {
        delivered_effects(c, id, (alarm, contact, purpose), now)?;
    }
    Ok(())
}

fn apply_receipt(
    c: &dyn Tx,
    rules: &super::Rules,
    id: i64,
    delivered: bool,
    detail: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    if delivered {
        let row: Option<(Option<String>, Option<i64>, String)> = c
            .query_row(
                "UPDATE notifications SET state = 'delivered', done_at = ?1 WHERE id = ?2 AND state IN ('submitted', 'pending') RETURNING alarm_id, contact_id, purpose",
                args![now.as_ms(), id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match row {
            Some(row) => delivered_effects(c, id, row, now),
            None => Ok(()),
        }
    } else {
        fail_notification(c, rules, id, &format!("non distribué: {detail}"), now)
    }
}

/// A receipt for an SMS the store has not recorded submitted under this
/// message id: kept until it is (`record_accepted` takes it). One that
/// names an SMS already recorded (a receipt sent twice) is not kept.
fn keep_early_receipt(
    c: &dyn Tx,
    gateway: &str,
    message_id: &str,
    delivered: bool,
    detail: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    c.execute_later(
        "INSERT INTO early_receipts (gateway, message_id, delivered, detail, at) \
         SELECT ?1, ?2, CAST(?3 AS BIGINT), ?4, CAST(?5 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE gateway = ?1 AND message_id = ?2) \
         ON CONFLICT DO NOTHING",
        args![gateway, message_id, delivered, detail, now.as_ms()],
    )
}

/// What follows an SMS marked delivered: `row` is its alarm, contact and purpose.
fn delivered_effects(
    c: &dyn Tx,
    id: i64,
    row: (Option<String>, Option<i64>, String),
    now: Timestamp,
) -> Result<(), StoreError> {
    let (alarm, contact, purpose) = row;
    // The number works: a contact flagged by an earlier failure is not
    // bouncing any more.
    if let Some(contact) = contact {
        c.execute_later(
            "UPDATE contacts SET bounced = 0 WHERE id = ?1 AND bounced = 1",
            args![contact],
        )?;
    }
    if let Some(alarm) = alarm {
        if purpose == "test" {
            test_sms_delivered(c, &alarm, now)?;
        }
        record_event(
            c,
            &alarm,
            now,
            &AlarmEvent::Delivered {
                notification: id,
                contact,
                purpose,
            },
        )?;
    }
    Ok(())
}

/// Mark an attempt failed, make it visible, and retry an alert on the next
/// gateway while attempts remain and the alarm is live.
fn fail_notification(
    c: &dyn Tx,
    rules: &super::Rules,
    id: i64,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let n = c
        .query_row(
            &format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = ?1"),
            args![id],
            notification_from_row,
        )
        .optional()?;
    let Some(n) = n else { return Ok(()) };
    if n.state == "failed" || n.state == "delivered" {
        return Ok(());
    }
    c.execute(
        "UPDATE notifications SET state = 'failed', error = ?1, done_at = ?2 WHERE id = ?3",
        args![error, now.as_ms(), id],
    )?;
    let alarm = n.alarm_id.map(|a| a.to_string());
    let retry = n.purpose == "alert" && n.attempt + 1 < rules.attempts_max;
    let live = match &alarm {
        Some(a) => c
            .query_row("SELECT state FROM alarms WHERE id = ?1", args![a], |r| {
                r.get::<String>(0)
            })
            .optional()?
            .is_some_and(|s| s == "open" || s == "acknowledged"),
        None => false,
    };
    // Bouncing is the verdict of the last attempt: one that another follows
    // says nothing yet.
    if let Some(contact) = n.contact_id
        && !(retry && live)
    {
        c.execute(
            "UPDATE contacts SET bounced = 1 WHERE id = ?1",
            args![contact],
        )?;
    }
    record_for(
        c,
        alarm.as_deref(),
        now,
        &AlarmEvent::DeliveryFailed {
            notification: id,
            contact: n.contact_id,
            error: error.to_string(),
            retry: retry && live,
        },
    )?;
    if retry && live {
        let key = format!(
            "alert:{}:{}:{}:{}",
            alarm.as_deref().unwrap_or("-"),
            n.step,
            n.contact_id.unwrap_or(0),
            n.attempt + 1
        );
        queue_sms(
            c,
            &NewSms {
                dedup_key: key,
                alarm_id: alarm.as_deref(),
                contact_id: n.contact_id,
                phone: &n.phone,
                purpose: "alert",
                step: n.step,
                attempt: n.attempt + 1,
                priority: n.priority,
                text: &n.text,
            },
            now,
        )?;
    }
    Ok(())
}
