//! Alarm panels and transmitters that speak SIA DC-09 (`crate::dc09`):
//! their registration per shop, what they report, and their supervision.
//!
//! A frame the receiver accepted is one transaction here: the
//! retransmission check, the transmitter's last contact, and what the frame
//! means (an alarm raised with the shop's normal escalation, an event on
//! the board). The receiver answers ACK only once it has returned.
//!
//! Invariants: a frame seen again within [`FRAME_REPEAT_WINDOW_MS`] (same
//! account, sequence, token and data) changes nothing but the last
//! contact; a restore never closes an alarm; an alarm marked silent
//! (duress, silent hold-up) sends nothing to the holder, ever.

use super::{advance, load_alarm, unique_code};
use crate::store::model::AlarmEvent;
use crate::store::tables::events::record as record_event;
use crate::store::tables::notifications::{NewSms, PRIORITY_NOTICE, queue as queue_sms};
use crate::store::tables::shops::load as load_shop;
use crate::store::tx::{OptionalExtension as _, Row, Tx, args};
use crate::store::{Store, StoreError};
use serde::Serialize;
use uuid::Uuid;
use vigie_core::Timestamp;
use vigie_core::supervision::{self, Effect, OpeningHours, Watch};

/// A frame received again within this window is a retransmission: ACKed
/// again, no new event (the 10 minutes; DC-09 panels retry within
/// seconds, so this is far more than they need).
pub const FRAME_REPEAT_WINDOW_MS: i64 = 10 * 60_000;
/// A transmitter silent for its interval plus this share (per mille) is
/// flagged: 10 % of grace for a late poll.
pub const SUPERVISION_GRACE_PER_MILLE: i64 = 100;
/// Events per frame at most (a SIA DCS block may carry several): more
/// than any panel sends at once; the frame is refused (DUH) beyond it.
pub const EVENTS_PER_FRAME_MAX: usize = 16;
/// Rows of the panel events list at most.
pub const PANEL_EVENTS_LIST_MAX: usize = 1_000;
/// Transmitters supervised per write transaction, so an alarm queued
/// behind a pass waits for a short batch.
const SUPERVISED_TRANSMITTERS_PER_WRITE_MAX: usize = 500;

/// The device id an alarm from a transmitter carries.
pub fn transmitter_device_id(account: &str) -> String {
    format!("dc09:{account}")
}

/// A transmitter to register.
#[derive(Debug, Clone)]
pub struct NewTransmitter {
    /// 3–16 hex digits as the panel sends them (leading zeros kept).
    pub account: String,
    pub shop_id: i64,
    /// The AES key's bytes (16, 24 or 32); `None`: clear frames only.
    pub key: Option<Vec<u8>>,
    /// The accepted time window; `None`: the hub's `[dc09]` window.
    pub window_before_s: Option<u32>,
    pub window_after_s: Option<u32>,
    /// Traffic expected at least this often; `None`: not supervised.
    pub supervision_interval_s: Option<u32>,
}

/// A registered transmitter.
#[derive(Debug, Clone, Serialize)]
pub struct Transmitter {
    pub account: String,
    pub shop_id: i64,
    #[serde(skip)]
    pub key: Option<Vec<u8>>,
    pub encrypted: bool,
    pub window_before_s: Option<u32>,
    pub window_after_s: Option<u32>,
    pub supervision_interval_s: Option<u32>,
    pub last_seen_at: Option<Timestamp>,
    pub silent_since: Option<Timestamp>,
}

/// What one event of a frame is for Vigie (the receiver's mapping decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// Raise an alarm with the shop's escalation.
    Alarm,
    /// A condition still present (Contact ID qualifier 6): joins the live
    /// alarm of the same code and zone, or raises one if none is live.
    AlarmStillPresent,
    /// A trouble (3xx, AT/YT…): on the board.
    Trouble,
    /// The end of a condition: on the board, and on the alarm it ends if
    /// one is live; it never closes it.
    Restore,
    /// A periodic or manual test (6xx, RP/RX): supervision only.
    Test,
    /// Anything else the panel says (open/close, bypass…): on the board.
    Status,
}

impl PanelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PanelKind::Alarm | PanelKind::AlarmStillPresent => "alarm",
            PanelKind::Trouble => "trouble",
            PanelKind::Restore => "restore",
            PanelKind::Test => "test",
            PanelKind::Status => "status",
        }
    }
}

/// One event of a frame, mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelEvent {
    pub kind: PanelKind,
    /// As sent: Contact ID `"120"`, SIA `"PA"`.
    pub code: String,
    /// Zone or user, as sent.
    pub zone: String,
    /// Duress or silent hold-up: no feedback towards the premises.
    pub silent: bool,
    /// What the board shows besides (qualifier, partition, text…).
    pub detail: serde_json::Value,
}

/// A frame as the store keeps it.
#[derive(Debug, Clone)]
pub struct PanelFrame {
    pub account: String,
    pub seq: u16,
    /// Hex SHA-256 of the token and the data block: with the account and
    /// the sequence, what makes a frame the same frame.
    pub digest: String,
    /// One per event, for the alarms they may raise (minted outside the
    /// transaction, which may run more than once).
    pub alarm_ids: Vec<Uuid>,
    pub events: Vec<PanelEvent>,
}

/// What the store made of a frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PanelReceipt {
    /// The same frame was accepted within the repeat window: nothing new.
    pub duplicate: bool,
    /// Alarms raised by this frame.
    pub raised: Vec<Uuid>,
    /// SMS queued (alerts and notices): the engine has work.
    pub sms_queued: u32,
}

/// A row of the panel events list (the board's "panels" column).
#[derive(Debug, Clone, Serialize)]
pub struct PanelEventRow {
    pub id: i64,
    pub account: String,
    pub shop_id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub code: String,
    pub zone: String,
    pub silent: bool,
    pub alarm_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

const TRANSMITTER_COLUMNS: &str = "account, shop_id, key_hex, window_before_s, window_after_s, supervision_interval_s, last_seen_at, silent_since";

fn transmitter_from_row(r: &Row) -> Result<Transmitter, StoreError> {
    let key_hex: Option<String> = r.get(2)?;
    let key = match key_hex {
        Some(h) => Some(hex_decode(&h).ok_or_else(|| StoreError::Corrupt {
            table: "transmitters".into(),
            column: "key_hex".into(),
            why: "not hex digits".into(),
        })?),
        None => None,
    };
    let seconds = |i: usize| -> Result<Option<u32>, StoreError> {
        let Some(v) = r.get::<Option<i64>>(i)? else {
            return Ok(None);
        };
        u32::try_from(v).map(Some).map_err(|_| StoreError::Corrupt {
            table: "transmitters".into(),
            column: ["window_before_s", "window_after_s"][i - 3].into(),
            why: format!("{v} is not a number of seconds"),
        })
    };
    let interval: Option<i64> = r.get(5)?;
    Ok(Transmitter {
        account: r.get(0)?,
        shop_id: r.get(1)?,
        encrypted: key.is_some(),
        key,
        window_before_s: seconds(3)?,
        window_after_s: seconds(4)?,
        supervision_interval_s: interval.and_then(|v| u32::try_from(v).ok()),
        last_seen_at: r.get::<Option<i64>>(6)?.map(Timestamp),
        silent_since: r.get::<Option<i64>>(7)?.map(Timestamp),
    })
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `alarm` was raised silent (duress, silent hold-up) by a panel:
/// then nothing about it goes to the holder.
pub(super) fn silent_alarm(c: &dyn Tx, alarm: &str) -> Result<bool, StoreError> {
    c.exists(
        "SELECT 1 FROM panel_events WHERE alarm_id = ?1 AND silent = 1",
        args![alarm],
    )
}

#[allow(clippy::too_many_arguments)]
fn insert_event(
    c: &dyn Tx,
    account: &str,
    shop_id: i64,
    at: Timestamp,
    kind: &str,
    code: &str,
    zone: &str,
    silent: bool,
    alarm_id: Option<&str>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO panel_events (account, shop_id, at, kind, code, zone, silent, alarm_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![account, shop_id, at.as_ms(), kind, code, zone, silent, alarm_id, detail.to_string()],
    )?;
    Ok(())
}

/// The live alarm a panel raised for this code and zone, if any.
fn live_alarm_for(
    c: &dyn Tx,
    account: &str,
    code: &str,
    zone: &str,
) -> Result<Option<String>, StoreError> {
    c.query_row(
        "SELECT e.alarm_id FROM panel_events e JOIN alarms a ON a.id = e.alarm_id
         WHERE e.account = ?1 AND e.code = ?2 AND e.zone = ?3 AND e.kind = 'alarm'
           AND a.state IN ('open', 'acknowledged')
         ORDER BY e.id DESC LIMIT 1",
        args![account, code, zone],
        |r| r.get(0),
    )
    .optional()
}

/// Raise an alarm for a panel's event: the same rows a box's press makes
/// (the alarm, its first escalation step, the events), and the holder's
/// confirmation unless the alarm is silent.
fn raise_panel_alarm(
    c: &dyn Tx,
    rules: &crate::store::Rules,
    id: &str,
    account: &str,
    shop_id: i64,
    event: &PanelEvent,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let code = unique_code(c)?;
    let device = transmitter_device_id(account);
    c.execute(
        "INSERT INTO alarms (id, shop_id, device_id, code, state, pressed_at, device_pressed_at, received_at, age_ms, recording, step, next_step_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?5, ?5, NULL, 0, 0, ?5)",
        args![id, shop_id, device, code, now.as_ms()],
    )?;
    insert_event(
        c,
        account,
        shop_id,
        now,
        "alarm",
        &event.code,
        &event.zone,
        event.silent,
        Some(id),
        &event.detail,
    )?;
    record_event(
        c,
        id,
        now,
        &AlarmEvent::RaisedByPanel {
            device: device.to_string(),
            account: account.to_string(),
            event: event.code.clone(),
            zone: event.zone.clone(),
            silent: event.silent,
            detail: event.detail.clone(),
        },
    )?;
    let alarm =
        load_alarm(c, id)?.ok_or_else(|| StoreError::Unexpected("alarm vanished".into()))?;
    let alerting = advance(c, rules, &alarm, now)?;
    let mut queued = alerting;
    let shop = load_shop(c, shop_id)?;
    if shop.holder_sms && !event.silent {
        let text = vigie_core::sms::holder_confirmation(now, alerting as usize);
        queued += u32::from(queue_sms(
            c,
            &NewSms::holder_confirmation(id, shop.holder_phone.as_e164(), &text.text),
            now,
        )?);
    }
    Ok(queued)
}

/// Record one accepted frame (see [`Store::receive_panel_frame`]).
fn receive(
    c: &dyn Tx,
    rules: &crate::store::Rules,
    frame: &PanelFrame,
    now: Timestamp,
) -> Result<PanelReceipt, StoreError> {
    let account = frame.account.as_str();
    let t = c
        .query_row(
            &format!(
                "SELECT {TRANSMITTER_COLUMNS} FROM transmitters WHERE account = ?1 AND removed_at IS NULL"
            ),
            args![account],
            transmitter_from_row,
        )
        .optional()?
        .ok_or_else(|| {
            StoreError::refused(
                "unknown_account",
                format!("compte DC-09 inconnu / unknown DC-09 account {account}"),
            )
        })?;
    c.execute(
        "DELETE FROM panel_frames WHERE account = ?1 AND received_at < ?2",
        args![account, now.as_ms() - FRAME_REPEAT_WINDOW_MS],
    )?;
    let fresh = c.execute(
        "INSERT INTO panel_frames (account, seq, digest, received_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        args![account, i64::from(frame.seq), frame.digest, now.as_ms()],
    )? == 1;
    // Any frame, a repeat included, is news from the transmitter.
    c.execute(
        "UPDATE transmitters SET last_seen_at = ?1 WHERE account = ?2 AND (last_seen_at IS NULL OR last_seen_at < ?1)",
        args![now.as_ms(), account],
    )?;
    let mut receipt = PanelReceipt {
        duplicate: !fresh,
        ..PanelReceipt::default()
    };
    if !fresh {
        return Ok(receipt);
    }
    if t.silent_since.is_some() {
        receipt.sms_queued += supervise_one(c, account, Timestamp(i64::MIN), now)?;
    }
    for (event, alarm_id) in frame.events.iter().zip(&frame.alarm_ids) {
        let id = alarm_id.to_string();
        match event.kind {
            PanelKind::Alarm => {
                receipt.sms_queued +=
                    raise_panel_alarm(c, rules, &id, account, t.shop_id, event, now)?;
                receipt.raised.push(*alarm_id);
            }
            PanelKind::AlarmStillPresent => {
                match live_alarm_for(c, account, &event.code, &event.zone)? {
                    Some(live) => {
                        insert_event(
                            c,
                            account,
                            t.shop_id,
                            now,
                            "still_present",
                            &event.code,
                            &event.zone,
                            event.silent,
                            Some(&live),
                            &event.detail,
                        )?;
                        record_event(
                            c,
                            &live,
                            now,
                            &AlarmEvent::PanelStillPresent {
                                account: account.to_string(),
                                event: event.code.clone(),
                                zone: event.zone.clone(),
                            },
                        )?;
                    }
                    // None live (a restart, or it was closed): fail safe, raise.
                    None => {
                        receipt.sms_queued +=
                            raise_panel_alarm(c, rules, &id, account, t.shop_id, event, now)?;
                        receipt.raised.push(*alarm_id);
                    }
                }
            }
            PanelKind::Restore => {
                let live = live_alarm_for(c, account, &event.code, &event.zone)?;
                insert_event(
                    c,
                    account,
                    t.shop_id,
                    now,
                    "restore",
                    &event.code,
                    &event.zone,
                    false,
                    live.as_deref(),
                    &event.detail,
                )?;
                if let Some(live) = &live {
                    // Recorded on the alarm; only a person closes it.
                    record_event(
                        c,
                        live,
                        now,
                        &AlarmEvent::PanelRestore {
                            account: account.to_string(),
                            event: event.code.clone(),
                            zone: event.zone.clone(),
                        },
                    )?;
                }
            }
            PanelKind::Trouble | PanelKind::Test | PanelKind::Status => insert_event(
                c,
                account,
                t.shop_id,
                now,
                event.kind.as_str(),
                &event.code,
                &event.zone,
                false,
                None,
                &event.detail,
            )?,
        }
    }
    Ok(receipt)
}

/// The core's box supervision, with a transmitter's interval plus the grace
/// as the one interval after which it is silent.
fn limits_for(interval_s: u32) -> supervision::Limits {
    let interval_ms = i64::from(interval_s) * 1_000;
    supervision::Limits {
        heartbeat_interval_ms: interval_ms + interval_ms * SUPERVISION_GRACE_PER_MILLE / 1_000,
        offline_after_intervals: 1,
        ..supervision::Limits::default()
    }
}

/// "Vigie: le transmetteur d'alarme … ne donne plus de nouvelles": one GSM
/// segment whatever the account (at most 16 characters).
pub fn transmitter_silent_text(account: &str, last_seen: Timestamp) -> String {
    let at = last_seen.paris().hour_minute_fr();
    format!(
        "Vigie: le transmetteur d'alarme de votre commerce (compte {account}) ne donne plus de nouvelles depuis {at}. Faites-le vérifier. La Région est informée."
    )
}

pub fn transmitter_back_text(account: &str, at: Timestamp) -> String {
    let at = at.paris().hour_minute_fr();
    format!(
        "Vigie: le transmetteur d'alarme de votre commerce (compte {account}) donne de nouveau des nouvelles ({at}). Merci."
    )
}

/// shop, interval, created, last seen, silent since, holder told.
type WatchRow = (i64, Option<i64>, i64, Option<i64>, Option<i64>, bool);

/// Decide one transmitter's supervision in the writer's transaction, as a
/// box's: flagged silent, back, and the holder told while the shop is open.
fn supervise_one(
    c: &dyn Tx,
    account: &str,
    watching_since: Timestamp,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let row: Option<WatchRow> = c
        .query_row(
            "SELECT shop_id, supervision_interval_s, created_at, last_seen_at, silent_since, holder_told_silent FROM transmitters WHERE account = ?1 AND removed_at IS NULL",
            args![account],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let Some((shop_id, interval, created_at, last_seen, silent_since, told)) = row else {
        return Ok(0);
    };
    let interval = interval.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    if interval == 0 && silent_since.is_none() && !told {
        return Ok(0);
    }
    let shop = load_shop(c, shop_id)?;
    let hours = OpeningHours::parse(&shop.opening_hours).unwrap_or_else(|e| {
        tracing::warn!(shop = shop_id, error = %e, "opening hours unreadable; treated as always open");
        OpeningHours::always()
    });
    let watch = Watch {
        offline_since: silent_since.map(Timestamp),
        holder_told_offline: told,
    };
    // Never heard from: its registration starts the interval.
    let seen = Timestamp(last_seen.unwrap_or(created_at));
    let (next, effects) = supervision::supervise(
        watch,
        seen,
        watching_since,
        now,
        hours.is_open(&now.paris()),
        &limits_for(interval.max(1)),
    );
    if next != watch {
        c.execute(
            "UPDATE transmitters SET silent_since = ?1, holder_told_silent = ?2 WHERE account = ?3",
            args![
                next.offline_since.map(Timestamp::as_ms),
                next.holder_told_offline,
                account
            ],
        )?;
    }
    let mut queued = 0;
    for effect in effects {
        let (kind, detail, text) = match effect {
            Effect::DeclaredOffline { last_seen } => (
                "transmitter_silent",
                serde_json::json!({ "last_seen_at": last_seen, "silent_ms": now.ms_since(last_seen), "interval_s": interval }),
                None,
            ),
            Effect::BackOnline => (
                "transmitter_back",
                serde_json::json!({ "silent_since": silent_since }),
                None,
            ),
            Effect::TellHolderOffline { last_seen } => (
                "holder_told_silent",
                serde_json::json!({ "last_seen_at": last_seen }),
                Some(transmitter_silent_text(account, last_seen)),
            ),
            Effect::TellHolderBack => (
                "holder_told_back",
                serde_json::json!({}),
                Some(transmitter_back_text(account, now)),
            ),
        };
        insert_event(c, account, shop_id, now, kind, "", "", false, None, &detail)?;
        if let Some(text) = text {
            queued += u32::from(queue_sms(
                c,
                &NewSms {
                    dedup_key: format!("{kind}:dc09:{account}:{}", now.as_ms()),
                    alarm_id: None,
                    contact_id: None,
                    phone: shop.holder_phone.as_e164(),
                    purpose: "supervision",
                    step: 0,
                    attempt: 0,
                    priority: PRIORITY_NOTICE,
                    text: &text,
                },
                now,
            )?);
        }
    }
    Ok(queued)
}

fn panel_event_from_row(r: &Row) -> Result<PanelEventRow, StoreError> {
    let alarm: Option<String> = r.get(8)?;
    let detail: String = r.get(9)?;
    Ok(PanelEventRow {
        id: r.get(0)?,
        account: r.get(1)?,
        shop_id: r.get(2)?,
        at: Timestamp(r.get(3)?),
        kind: r.get(4)?,
        code: r.get(5)?,
        zone: r.get(6)?,
        silent: r.get(7)?,
        alarm_id: match alarm {
            Some(a) => Some(Uuid::parse_str(&a).map_err(|e| StoreError::Corrupt {
                table: "panel_events".into(),
                column: "alarm_id".into(),
                why: e.to_string(),
            })?),
            None => None,
        },
        detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt {
            table: "panel_events".into(),
            column: "detail".into(),
            why: e.to_string(),
        })?,
    })
}

impl Store {
    /// Register a transmitter for a shop. An account is registered once
    /// (remove it first to move it to another shop).
    pub async fn add_transmitter(
        &self,
        t: NewTransmitter,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let account = t.account.to_ascii_uppercase();
        let valid =
            (3..=16).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(StoreError::refused(
                "bad_account",
                format!(
                    "un compte DC-09 est fait de 3 à 16 chiffres hexadécimaux / a DC-09 account is 3 to 16 hex digits, not {:?}",
                    t.account
                ),
            ));
        }
        if let Some(k) = &t.key
            && ![16, 24, 32].contains(&k.len())
        {
            return Err(StoreError::refused(
                "bad_key",
                format!(
                    "une clé AES fait 16, 24 ou 32 octets / an AES key is 16, 24 or 32 bytes, not {}",
                    k.len()
                ),
            ));
        }
        if t.supervision_interval_s == Some(0) {
            return Err(StoreError::refused(
                "bad_interval",
                "l'intervalle de supervision est d'au moins 1 s / the supervision interval is at least 1 s",
            ));
        }
        let key_hex = t.key.as_deref().map(hex_encode);
        self.db
            .write(move |c| {
                if !c.exists("SELECT 1 FROM shops WHERE id = ?1", args![t.shop_id])? {
                    return Err(StoreError::refused(
                        "unknown_shop",
                        format!("commerce inconnu / unknown shop {}", t.shop_id),
                    ));
                }
                let taken = c.exists(
                    "SELECT 1 FROM transmitters WHERE account = ?1 AND removed_at IS NULL",
                    args![account],
                )?;
                if taken {
                    return Err(StoreError::refused(
                        "account_taken",
                        format!("le compte {account} est déjà enregistré / account {account} is already registered"),
                    ));
                }
                c.execute(
                    "INSERT INTO transmitters (account, shop_id, key_hex, window_before_s, window_after_s, supervision_interval_s, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (account) DO UPDATE SET shop_id = excluded.shop_id, key_hex = excluded.key_hex,
                       window_before_s = excluded.window_before_s, window_after_s = excluded.window_after_s,
                       supervision_interval_s = excluded.supervision_interval_s, created_at = excluded.created_at,
                       last_seen_at = NULL, silent_since = NULL, holder_told_silent = 0, removed_at = NULL",
                    args![
                        account,
                        t.shop_id,
                        key_hex,
                        t.window_before_s.map(i64::from),
                        t.window_after_s.map(i64::from),
                        t.supervision_interval_s.map(i64::from),
                        now.as_ms()
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// Take a transmitter out of service: its frames get DUH from now on.
    pub async fn remove_transmitter(
        &self,
        account: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let account = account.to_ascii_uppercase();
        self.db
            .write(move |c| {
                let n = c.execute(
                    "UPDATE transmitters SET removed_at = ?1 WHERE account = ?2 AND removed_at IS NULL",
                    args![now.as_ms(), account],
                )?;
                if n == 0 {
                    return Err(StoreError::refused(
                        "unknown_account",
                        format!("compte DC-09 inconnu / unknown DC-09 account {account}"),
                    ));
                }
                Ok(())
            })
            .await
    }

    /// The transmitter in service under `account` (any case), if any.
    pub async fn transmitter(&self, account: &str) -> Result<Option<Transmitter>, StoreError> {
        let account = account.to_ascii_uppercase();
        self.db
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {TRANSMITTER_COLUMNS} FROM transmitters WHERE account = ?1 AND removed_at IS NULL"),
                    args![account],
                    transmitter_from_row,
                )
                .optional()
            })
            .await
    }

    /// The transmitters in service, of one shop or all.
    pub async fn transmitters(&self, shop: Option<i64>) -> Result<Vec<Transmitter>, StoreError> {
        self.db
            .read(move |c| {
                c.query_map(
                    &format!("SELECT {TRANSMITTER_COLUMNS} FROM transmitters WHERE removed_at IS NULL AND (CAST(?1 AS BIGINT) IS NULL OR shop_id = ?1) ORDER BY account"),
                    args![shop],
                    transmitter_from_row,
                )
            })
            .await
    }

    /// Record a frame the receiver accepted, in one transaction: the
    /// repeat check, the transmitter's last contact, then each event
    /// (alarms raised with the shop's escalation, events on the board).
    /// The receiver ACKs once this returns `Ok`, and never otherwise.
    pub async fn receive_panel_frame(
        &self,
        frame: PanelFrame,
        now: Timestamp,
    ) -> Result<PanelReceipt, StoreError> {
        if frame.events.len() > EVENTS_PER_FRAME_MAX || frame.alarm_ids.len() < frame.events.len() {
            return Err(StoreError::refused(
                "too_many_events",
                format!(
                    "au plus {EVENTS_PER_FRAME_MAX} événements par trame / at most {EVENTS_PER_FRAME_MAX} events per frame"
                ),
            ));
        }
        let rules = self.rules.clone();
        let frame = std::sync::Arc::new(frame);
        self.db
            .write(move |c| receive(c, &rules, &frame, now))
            .await
    }

    /// What panels reported lately, newest first (of one shop or all).
    pub async fn panel_events(
        &self,
        shop: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PanelEventRow>, StoreError> {
        let limit = limit.min(PANEL_EVENTS_LIST_MAX) as i64;
        self.db
            .read(move |c| {
                c.query_map(
                    "SELECT id, account, shop_id, at, kind, code, zone, silent, alarm_id, detail FROM panel_events
                     WHERE (CAST(?1 AS BIGINT) IS NULL OR shop_id = ?1) ORDER BY id DESC LIMIT ?2",
                    args![shop, limit],
                    panel_event_from_row,
                )
            })
            .await
    }

    /// One supervision pass over the transmitters: flag those silent past
    /// their interval plus 10 %, notice those back, tell holders while
    /// their shop is open. Forgets frames older than the repeat window.
    /// Returns how many SMS it queued.
    pub async fn supervise_transmitters(&self, now: Timestamp) -> Result<u32, StoreError> {
        let watching_since = self.watching_since();
        let mut after = String::new();
        let mut queued = 0;
        self.db
            .write(move |c| {
                c.execute(
                    "DELETE FROM panel_frames WHERE received_at < ?1",
                    args![now.as_ms() - FRAME_REPEAT_WINDOW_MS],
                )
            })
            .await?;
        loop {
            let from = after.clone();
            let candidates: Vec<String> = self
                .db
                .read(move |c| {
                    c.query_map(
                        "SELECT account FROM transmitters WHERE removed_at IS NULL AND account > ?1 AND (
                           (silent_since IS NULL AND supervision_interval_s IS NOT NULL)
                           OR silent_since IS NOT NULL OR holder_told_silent = 1)
                         ORDER BY account LIMIT ?2",
                        args![from, SUPERVISED_TRANSMITTERS_PER_WRITE_MAX as i64],
                        |r| r.get::<String>(0),
                    )
                })
                .await?;
            let Some(last) = candidates.last().cloned() else {
                break;
            };
            let full = candidates.len() >= SUPERVISED_TRANSMITTERS_PER_WRITE_MAX;
            queued += self
                .db
                .write(move |c| {
                    let mut queued = 0;
                    for account in &candidates {
                        queued += supervise_one(c, account, watching_since, now)?;
                    }
                    Ok(queued)
                })
                .await?;
            if !full {
                break;
            }
            after = last;
        }
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_texts_fit_one_sms_for_the_longest_account() {
        let account = "0123456789ABCDEF";
        for text in [
            transmitter_silent_text(account, Timestamp(1_795_699_920_000)),
            transmitter_back_text(account, Timestamp(1_795_699_920_000)),
        ] {
            let septets = vigie_core::gsm::gsm_septets(&text).expect("GSM 03.38");
            assert!(septets <= 160, "{septets} septets: {text}");
        }
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let key = b"0123456789ABCDEF".to_vec();
        assert_eq!(hex_decode(&hex_encode(&key)), Some(key));
        assert_eq!(hex_decode("ABC"), None);
        assert_eq!(hex_decode("ZZ"), None);
    }
}
