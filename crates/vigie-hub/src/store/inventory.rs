//! The Region's boxes, by serial number, from the stock to a shop and back.
//!
//! A box is bought (`stock`), given to a shop (`assigned`: an enrolment code
//! bound to its serial is made for that shop), enrolled with that code
//! (`enrolled`: the hub knows its device and key), heard from (`active`),
//! until it breaks (`faulty`) or comes back (`returned`). A faulty or
//! returned box's device is retired at once: the device API refuses it.
//!
//! `active` is not stored: it is derived when listing, from the device the
//! heartbeats already mark active (`devices.state`, written at each
//! heartbeat flush) or from a heartbeat still waiting in memory. So the first
//! heartbeat shows in the inventory at once, without a write per heartbeat.

use super::tables::enrolment_codes::insert as insert_enrolment_code;
use super::tables::events::append as log_event;
use super::tables::shops::load as load_shop;
use super::tx::{OptionalExtension as _, Tx, args};
use super::{Store, StoreError};
use serde::Serialize;
use std::collections::HashSet;
use vigie_core::Timestamp;
use vigie_core::supervision::Liveness;

/// Characters of a serial number at most (manufacturers' serials are ~20).
pub const SERIAL_CHARS_MAX: usize = 64;
/// Serials added in one go at most: a delivery, with room to spare (the
/// Region's fleet is 2,671 shops).
pub const HARDWARE_BATCH_MAX: usize = 20_000;
/// Characters of a note on a faulty or returned box at most.
pub const HARDWARE_NOTE_CHARS_MAX: usize = 500;
/// Rows of the inventory listing at most (the largest fleet planned, twice).
const HARDWARE_ROWS_MAX: usize = 200_000;

/// Where a box is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HardwareState {
    /// Bought, in the Region's stock.
    Stock,
    /// Given to a shop, with an enrolment code bound to its serial.
    Assigned,
    /// Enrolled with that code; the hub has not heard from it yet.
    Enrolled,
    /// Enrolled and heard from (derived, never stored).
    Active,
    /// Broken; its device is retired.
    Faulty,
    /// Given back; its device is retired.
    Returned,
}

impl HardwareState {
    pub fn as_str(self) -> &'static str {
        match self {
            HardwareState::Stock => "stock",
            HardwareState::Assigned => "assigned",
            HardwareState::Enrolled => "enrolled",
            HardwareState::Active => "active",
            HardwareState::Faulty => "faulty",
            HardwareState::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "stock" => HardwareState::Stock,
            "assigned" => HardwareState::Assigned,
            "enrolled" => HardwareState::Enrolled,
            "active" => HardwareState::Active,
            "faulty" => HardwareState::Faulty,
            "returned" => HardwareState::Returned,
            _ => return None,
        })
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            HardwareState::Stock => "en stock",
            HardwareState::Assigned => "attribué",
            HardwareState::Enrolled => "enrôlé",
            HardwareState::Active => "actif",
            HardwareState::Faulty => "en panne",
            HardwareState::Returned => "retourné",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            HardwareState::Stock => "in stock",
            HardwareState::Assigned => "assigned",
            HardwareState::Enrolled => "enrolled",
            HardwareState::Active => "active",
            HardwareState::Faulty => "faulty",
            HardwareState::Returned => "returned",
        }
    }

    /// Faulty and returned boxes are out of service for good.
    fn out_of_service(self) -> bool {
        matches!(self, HardwareState::Faulty | HardwareState::Returned)
    }
}

/// One box of the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareRow {
    pub serial: String,
    pub state: HardwareState,
    /// The shop it was assigned to (kept once faulty or returned).
    pub shop_id: Option<i64>,
    pub shop_name: Option<String>,
    /// Its device once enrolled.
    pub device_id: Option<String>,
    pub updated_at: Timestamp,
    pub note: Option<String>,
}

/// An enrolment code made for a shop, bound to a box's serial or not.
#[derive(Debug, Clone, Serialize)]
pub struct EnrolmentCode {
    /// `XXXX-XXXX`, typed into the box (or given to `vigie agent --enroll`).
    pub code: String,
    pub shop_id: i64,
    pub serial: Option<String>,
    pub expires_at: Timestamp,
}

/// How far the Region's roll-out has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deployment {
    pub shops_total: u32,
    /// Shops with an enrolled or active box.
    pub shops_with_box: u32,
    /// Shops whose box is online now.
    pub shops_active: u32,
    /// Shops with a box whose silent end-to-end test succeeded recently
    /// (within the test period and its slack: 8 days by default).
    pub shops_ready: u32,
}

/// A serial as stored: trimmed, upper case; refused when empty, too long or
/// made of anything but letters, digits, `-`, `_`, `.` and `/`.
pub fn normalize_serial(serial: &str) -> Result<String, StoreError> {
    let s = serial.trim().to_ascii_uppercase();
    if s.is_empty() || s.chars().count() > SERIAL_CHARS_MAX {
        return Err(StoreError::refused(
            "bad_serial",
            format!(
                "numéro de série vide ou de plus de {SERIAL_CHARS_MAX} caractères / serial number empty or longer than {SERIAL_CHARS_MAX} characters"
            ),
        ));
    }
    if !s
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.' | '/'))
    {
        return Err(StoreError::refused(
            "bad_serial",
            format!(
                "numéro de série « {s} » : lettres, chiffres, - _ . / seulement / serial number: letters, digits, - _ . / only"
            ),
        ));
    }
    Ok(s)
}

/// The stored state of a box and its shop and device.
struct Stored {
    state: HardwareState,
    shop_id: Option<i64>,
    device_id: Option<String>,
}

/// A box's row as read, before its state is derived.
struct Raw {
    state: String,
    device_state: Option<String>,
    shop_id: Option<i64>,
    device_id: Option<String>,
}

fn load_hardware(c: &dyn Tx, serial: &str) -> Result<Stored, StoreError> {
    let raw = c
        .query_row(
            "SELECT h.state, d.state, h.shop_id, h.device_id FROM hardware h LEFT JOIN devices d ON d.id = h.device_id WHERE h.serial = ?1",
            args![serial],
            |r| {
                Ok(Raw {
                    state: r.get(0)?,
                    device_state: r.get(1)?,
                    shop_id: r.get(2)?,
                    device_id: r.get(3)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| {
            StoreError::refused(
                "unknown_hardware",
                format!(
                    "aucun boîtier n° {serial} dans l'inventaire / no box {serial} in the inventory"
                ),
            )
        })?;
    Ok(Stored {
        state: derive_state(&raw.state, raw.device_state.as_deref(), false)?,
        shop_id: raw.shop_id,
        device_id: raw.device_id,
    })
}

/// The state shown for a stored row: `enrolled` becomes `active` once the
/// hub has heard from the device.
fn derive_state(
    stored: &str,
    device_state: Option<&str>,
    heartbeat_waiting: bool,
) -> Result<HardwareState, StoreError> {
    let state = HardwareState::parse(stored).ok_or_else(|| {
        StoreError::Unexpected(format!("hardware state {stored:?} unknown in the database"))
    })?;
    Ok(
        if state == HardwareState::Enrolled && (device_state == Some("active") || heartbeat_waiting)
        {
            HardwareState::Active
        } else {
            state
        },
    )
}

/// Why a box in `state` cannot be assigned.
fn refuse_assign(serial: &str, state: HardwareState) -> StoreError {
    match state {
        HardwareState::Assigned => StoreError::refused(
            "already_assigned",
            format!(
                "le boîtier {serial} est déjà attribué à un commerce / box {serial} is already assigned to a shop"
            ),
        ),
        HardwareState::Enrolled | HardwareState::Active => StoreError::refused(
            "already_enrolled",
            format!(
                "le boîtier {serial} est déjà enrôlé dans un commerce / box {serial} is already enrolled in a shop"
            ),
        ),
        _ => StoreError::refused(
            "hardware_out_of_service",
            format!(
                "le boîtier {serial} est {} : il ne peut plus être attribué / box {serial} is {} and cannot be assigned",
                state.label_fr(),
                state.label_en()
            ),
        ),
    }
}

impl Store {
    /// Add boxes to the stock. All or nothing: a serial already known, or
    /// given twice, refuses the whole delivery and is named.
    pub async fn add_hardware(
        &self,
        serials: Vec<String>,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        if serials.len() > HARDWARE_BATCH_MAX {
            return Err(StoreError::refused(
                "too_many_serials",
                format!(
                    "au plus {HARDWARE_BATCH_MAX} boîtiers à la fois / at most {HARDWARE_BATCH_MAX} boxes at once"
                ),
            ));
        }
        let serials = serials
            .iter()
            .map(|s| normalize_serial(s))
            .collect::<Result<Vec<_>, _>>()?;
        self.db
            .write(move |c| {
                let mut seen = HashSet::with_capacity(serials.len());
                let mut insert = c.prepare(
                    "INSERT INTO hardware (serial, state, updated_at) VALUES (?1, 'stock', ?2) ON CONFLICT (serial) DO NOTHING",
                )?;
                for serial in &serials {
                    if !seen.insert(serial.as_str()) || insert.execute(args![serial, now.as_ms()])? == 0 {
                        return Err(StoreError::refused(
                            "duplicate_serial",
                            format!(
                                "le boîtier {serial} est déjà dans l'inventaire (ou donné deux fois) : rien n'a été ajouté / box {serial} is already in the inventory (or given twice): nothing was added"
                            ),
                        ));
                    }
                }
                let count = u32::try_from(serials.len()).unwrap_or(u32::MAX);
                log_event(
                    c,
                    None,
                    now,
                    "hardware_added",
                    &serde_json::json!({ "count": count, "first": serials.first(), "last": serials.last() }),
                )?;
                Ok(count)
            })
            .await
    }

    /// Give a box in stock to a shop: it becomes assigned and gets an
    /// enrolment code for that shop, valid for that box only.
    pub async fn assign_hardware(
        &self,
        serial: &str,
        shop_id: i64,
        now: Timestamp,
    ) -> Result<EnrolmentCode, StoreError> {
        let serial = normalize_serial(serial)?;
        let ttl = self.rules.enrolment_code_ttl_ms;
        self.db
            .write(move |c| {
                let stored = load_hardware(c, &serial)?;
                if stored.state != HardwareState::Stock {
                    return Err(refuse_assign(&serial, stored.state));
                }
                load_shop(c, shop_id)?;
                let code = insert_enrolment_code(c, shop_id, Some(&serial), ttl, now)?;
                c.execute(
                    "UPDATE hardware SET state = 'assigned', shop_id = ?1, updated_at = ?2 WHERE serial = ?3",
                    args![shop_id, now.as_ms(), serial],
                )?;
                log_event(
                    c,
                    None,
                    now,
                    "hardware_assigned",
                    &serde_json::json!({ "serial": serial, "shop": shop_id }),
                )?;
                Ok(EnrolmentCode {
                    code,
                    shop_id,
                    serial: Some(serial.clone()),
                    expires_at: now.plus_ms(ttl),
                })
            })
            .await
    }

    /// Declare a box faulty or returned, with a note saying why. Its device,
    /// if enrolled, is retired in the same transaction: the device API
    /// refuses it from then on (within the API's key cache time) and
    /// supervision stops watching it; a `device_retired` fleet event says so.
    pub async fn set_hardware_state(
        &self,
        serial: &str,
        state: HardwareState,
        note: &str,
        now: Timestamp,
    ) -> Result<HardwareRow, StoreError> {
        if !state.out_of_service() {
            return Err(StoreError::refused(
                "bad_hardware_state",
                "seuls « en panne » et « retourné » se déclarent ainsi ; attribuez un boîtier avec un code / only faulty and returned can be set here; assign a box to give it a code",
            ));
        }
        let serial = normalize_serial(serial)?;
        let note = note.trim().to_string();
        if note.chars().count() > HARDWARE_NOTE_CHARS_MAX {
            return Err(StoreError::refused(
                "note_too_long",
                format!(
                    "la note dépasse {HARDWARE_NOTE_CHARS_MAX} caractères / the note is longer than {HARDWARE_NOTE_CHARS_MAX} characters"
                ),
            ));
        }
        self.db
            .write(move |c| {
                let stored = load_hardware(c, &serial)?;
                if stored.state == state || stored.state == HardwareState::Returned {
                    return Err(StoreError::refused(
                        "illegal_transition",
                        format!(
                            "le boîtier {serial} est déjà {} / box {serial} is already {}",
                            stored.state.label_fr(),
                            stored.state.label_en()
                        ),
                    ));
                }
                let note = (!note.is_empty()).then_some(note.clone());
                c.execute(
                    "UPDATE hardware SET state = ?1, note = ?2, updated_at = ?3 WHERE serial = ?4",
                    args![state.as_str(), note, now.as_ms(), serial],
                )?;
                if let Some(device) = &stored.device_id {
                    let shop: Option<i64> = c
                        .query_row(
                            "UPDATE devices SET state = 'returned' WHERE id = ?1 AND state IN ('enrolled', 'active') RETURNING shop_id",
                            args![device],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(shop) = shop {
                        c.execute(
                            "INSERT INTO fleet_events (at, device_id, shop_id, kind, detail) VALUES (?1, ?2, ?3, 'device_retired', ?4)",
                            args![
                                now.as_ms(),
                                device,
                                shop,
                                serde_json::json!({ "serial": serial, "hardware": state.as_str(), "note": note }).to_string()
                            ],
                        )?;
                    }
                }
                log_event(
                    c,
                    None,
                    now,
                    &format!("hardware_{}", state.as_str()),
                    &serde_json::json!({ "serial": serial, "shop": stored.shop_id, "device": stored.device_id, "note": note }),
                )?;
                let shop_name = stored
                    .shop_id
                    .map(|id| load_shop(c, id).map(|s| s.name))
                    .transpose()?;
                Ok(HardwareRow {
                    serial: serial.clone(),
                    state,
                    shop_id: stored.shop_id,
                    shop_name,
                    device_id: stored.device_id,
                    updated_at: now,
                    note,
                })
            })
            .await
    }

    /// Every box of the inventory, by serial.
    pub async fn hardware(&self) -> Result<Vec<HardwareRow>, StoreError> {
        let rows: Vec<(HardwareRow, String, Option<String>)> = self
            .db
            .read(|c| {
                let mut st = c.prepare(
                    "SELECT h.serial, h.state, h.shop_id, s.name, h.device_id, h.updated_at, h.note, d.state
                     FROM hardware h LEFT JOIN shops s ON s.id = h.shop_id LEFT JOIN devices d ON d.id = h.device_id
                     ORDER BY h.serial LIMIT ?1",
                )?;
                let rows = st
                    .query_map(args![HARDWARE_ROWS_MAX as i64], |r| {
                        Ok((
                            HardwareRow {
                                serial: r.get(0)?,
                                state: HardwareState::Stock,
                                shop_id: r.get(2)?,
                                shop_name: r.get(3)?,
                                device_id: r.get(4)?,
                                updated_at: Timestamp(r.get(5)?),
                                note: r.get(6)?,
                            },
                            r.get::<String>(1)?,
                            r.get::<Option<String>>(7)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(mut row, stored, device_state)| {
                let waiting = stored == HardwareState::Enrolled.as_str()
                    && row
                        .device_id
                        .as_deref()
                        .is_some_and(|d| self.health.heard_from(d));
                row.state = derive_state(&stored, device_state.as_deref(), waiting)?;
                Ok(row)
            })
            .collect()
    }

    /// How far the roll-out has come at `now`: shops, shops with a box,
    /// with a box online (as [`Store::fleet_health`] sees it), and ready.
    pub async fn deployment(&self, now: Timestamp) -> Result<Deployment, StoreError> {
        let limits = self.rules.supervision;
        let ready_since = now.plus_ms(-limits.test_period_ms.saturating_add(limits.test_slack_ms));
        let (shops_total, shops_with_box, shops_ready) = self
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT (SELECT COUNT(*) FROM shops),
                            (SELECT COUNT(DISTINCT shop_id) FROM devices WHERE state IN ('enrolled', 'active')),
                            (SELECT COUNT(*) FROM shop_readiness r WHERE r.last_test_ok_at >= ?1
                               AND EXISTS (SELECT 1 FROM devices d WHERE d.shop_id = r.shop_id AND d.state IN ('enrolled', 'active')))",
                    args![ready_since.as_ms()],
                    |r| Ok((r.get::<u32>(0)?, r.get::<u32>(1)?, r.get::<u32>(2)?)),
                )
            })
            .await?;
        let online: HashSet<i64> = self
            .fleet_health(now)
            .await?
            .into_iter()
            .filter(|d| {
                d.liveness == Liveness::Online
                    && matches!(d.device_state.as_str(), "enrolled" | "active")
            })
            .map(|d| d.shop_id)
            .collect();
        Ok(Deployment {
            shops_total,
            shops_with_box,
            shops_active: u32::try_from(online.len()).unwrap_or(u32::MAX),
            shops_ready,
        })
    }
}
