//! Supervision in the store: the latest health of every box, offline and
//! back-online decisions with their notices to the holder, each shop's
//! readiness (silent end-to-end tests), and the fleet view for the desk.
//!
//! Heartbeats are the hub's most frequent request (100,000 boxes every
//! minute, bursts far above), so they never wait for the disk: the latest
//! heartbeat of each box is kept in a map in memory and the engine writes
//! the map to `device_health` in batches (one row per box, updated in
//! place) every supervision pass. A crash loses at most one pass of
//! heartbeats, which the next heartbeat replaces; the restart grace in
//! `vigie_core::supervision::liveness` keeps that from looking like silence.

use super::tables::notifications::NewSms;
use super::tables::notifications::PRIORITY_NOTICE;
use super::tables::notifications::queue as queue_sms;
use super::tables::shops::load as load_shop;
use super::tx::{OptionalExtension as _, Tx, args};
use super::{Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use vigie_core::Timestamp;
use vigie_core::sms;
use vigie_core::supervision::{
    self, Effect, Flag, Liveness, Network, OpeningHours, Reported, Watch,
};
use vigie_proto::{DirectContact, Heartbeat, ModemState, ShopSummary};

/// Boxes whose heartbeat waits in memory for the next write. Only signed
/// requests from enrolled boxes get here, so this is the fleet's size at
/// most; the cap (ten times the largest fleet planned) only guards memory.
const HEALTH_PENDING_DEVICES_MAX: usize = 1_000_000;
/// Rows per write transaction when heartbeats are written, so an alarm
/// queued behind them waits for a short batch, not for the whole fleet.
const HEALTH_ROWS_PER_WRITE_MAX: usize = 1_000;
/// Boxes decided per write transaction in a supervision pass (same reason).
const SUPERVISED_DEVICES_PER_WRITE_MAX: usize = 500;
/// Rows of the fleet view at most (the largest fleet planned, twice).
const FLEET_ROWS_MAX: usize = 200_000;
/// Shops whose configuration generation is tracked; past this the map is
/// cleared and every box refetches its configuration once.
const CONFIG_GENERATIONS_MAX: usize = 200_000;

/// A heartbeat as received: the box's report and when the hub got it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    at: Timestamp,
    heartbeat: Heartbeat,
    /// The signature's `created`, s: a later heartbeat must have a later one.
    signed_created_s: i64,
}

/// Heartbeats not yet written, by device id.
#[derive(Default)]
pub(crate) struct HealthBoard {
    pending: Mutex<HashMap<String, Received>>,
    /// Each box's last accepted heartbeat signature `created`, s (read from
    /// `device_health` the first time after a start): an older or equal one
    /// is a replay, even after a restart forgot the nonces.
    signed_marks: Mutex<HashMap<String, i64>>,
}

impl HealthBoard {
    /// Whether a heartbeat of `device` waits to be written (the inventory
    /// counts such a box as active before the next flush).
    pub(crate) fn heard_from(&self, device: &str) -> bool {
        self.pending.lock().is_ok_and(|p| p.contains_key(device))
    }

    /// Move the times of the heartbeats kept in memory by a step of the
    /// clock (they were received on the time before it).
    pub(crate) fn shift(&self, delta_ms: i64) {
        if let Ok(mut p) = self.pending.lock() {
            for r in p.values_mut() {
                r.at = r.at.plus_ms(delta_ms);
            }
        }
    }
}

/// Counters that change when what a box must know of its shop changes
/// (contacts, consent). The API caches each shop's configuration version
/// with the generation it saw.
#[derive(Default)]
pub(crate) struct ConfigGenerations {
    shops: Mutex<HashMap<i64, u64>>,
    /// Bumped for changes that concern every shop (Region contacts).
    all: AtomicU64,
}

/// When the hub started watching: silence before that is not counted.
#[derive(Default)]
pub(crate) struct WatchingSince(AtomicI64);

fn modem_str(m: ModemState) -> &'static str {
    match m {
        ModemState::Registered => "registered",
        ModemState::Roaming => "roaming",
        ModemState::Searching => "searching",
        ModemState::Denied => "denied",
        ModemState::NoSim => "no_sim",
        ModemState::Absent => "absent",
    }
}

fn network_of(modem: &str) -> Network {
    match modem {
        "registered" | "roaming" => Network::Registered,
        "no_sim" => Network::NoSim,
        _ => Network::NotRegistered,
    }
}

/// One box as the desk sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceHealth {
    pub device_id: String,
    pub shop_id: i64,
    pub shop_reference: String,
    pub shop_name: String,
    /// The device's life cycle state (`enrolled`, `active`, `faulty`).
    pub device_state: String,
    pub liveness: Liveness,
    pub last_seen_at: Option<Timestamp>,
    pub battery_pct: Option<u8>,
    pub on_mains: Option<bool>,
    pub signal_csq: Option<u8>,
    pub modem: Option<String>,
    pub free_storage_mb: Option<u32>,
    pub version: Option<String>,
    pub outbox_depth: Option<u32>,
    pub uptime_s: Option<u64>,
    pub last_test_ok_at: Option<Timestamp>,
    /// How far the box's own clock was ahead of the hub's in its last
    /// heartbeat (negative: behind).
    pub box_clock_ahead_ms: Option<i64>,
    /// The correction the box said it applies when it signs.
    pub clock_offset_ms: Option<i64>,
    pub flags: Vec<Flag>,
}

/// Something that happened to a box (offline, back online, holder told).
#[derive(Debug, Clone, Serialize)]
pub struct FleetEvent {
    pub id: i64,
    pub at: Timestamp,
    pub device_id: String,
    pub shop_id: i64,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// A shop's silent end-to-end tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Readiness {
    pub last_test_at: Option<Timestamp>,
    pub last_test_ok_at: Option<Timestamp>,
    pub last_test_delivered_at: Option<Timestamp>,
    pub ready: bool,
}

fn fleet_event(
    c: &dyn Tx,
    at: Timestamp,
    device: &str,
    shop: i64,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO fleet_events (at, device_id, shop_id, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![at.as_ms(), device, shop, kind, detail.to_string()],
    )?;
    Ok(())
}

/// The shop and the contacts its box may alert itself: consented contacts
/// of the shop, as enrolment gives them.
pub(crate) fn direct_contacts(
    c: &dyn Tx,
    shop_id: i64,
) -> Result<(ShopSummary, Vec<DirectContact>), StoreError> {
    let shop = load_shop(c, shop_id)?;
    let mut st = c.prepare(
        "SELECT name, phone, tier FROM contacts WHERE shop_id = ?1 AND consent = 'yes' AND removed_at IS NULL ORDER BY tier, id",
    )?;
    let contacts = st
        .query_map(args![shop_id], |r| {
            Ok(DirectContact {
                name: r.get(0)?,
                phone: r.get(1)?,
                tier: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        ShopSummary {
            name: shop.name,
            address: shop.address,
            commune: shop.commune,
        },
        contacts,
    ))
}

fn write_health(c: &dyn Tx, rows: &[(String, Received)]) -> Result<(), StoreError> {
    let mut upsert = c.prepare(
        "INSERT INTO device_health (device_id, last_seen_at, box_sent_at, battery_pct, on_mains, signal_csq, modem, free_storage_mb, version, outbox_depth, uptime_s, clock_offset_ms, signed_created_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, box_sent_at = excluded.box_sent_at,
           battery_pct = excluded.battery_pct, on_mains = excluded.on_mains, signal_csq = excluded.signal_csq,
           modem = excluded.modem, free_storage_mb = excluded.free_storage_mb, version = excluded.version,
           outbox_depth = excluded.outbox_depth, uptime_s = excluded.uptime_s, clock_offset_ms = excluded.clock_offset_ms,
           signed_created_s = CASE WHEN excluded.signed_created_s > device_health.signed_created_s THEN excluded.signed_created_s ELSE device_health.signed_created_s END
         WHERE excluded.last_seen_at >= device_health.last_seen_at",
    )?;
    let mut device = c.prepare(
        "UPDATE devices SET last_seen_at = ?1, version = ?2, state = CASE WHEN state = 'enrolled' THEN 'active' ELSE state END
         WHERE id = ?3 AND (last_seen_at IS NULL OR last_seen_at <= ?1)",
    )?;
    for (id, r) in rows {
        let h = &r.heartbeat;
        upsert.execute(args![
            id,
            r.at.as_ms(),
            h.sent_at_ms,
            h.battery_pct,
            h.on_mains,
            h.signal_csq,
            modem_str(h.modem),
            h.free_storage_mb,
            h.version,
            h.outbox_depth,
            // SQLite integers are signed: an absurd uptime is stored as the largest.
            i64::try_from(h.uptime_s).unwrap_or(i64::MAX),
            h.clock_offset_ms,
            r.signed_created_s,
        ])?;
        device.execute(args![r.at.as_ms(), h.version, id])?;
    }
    Ok(())
}

/// Decide one box's supervision in the writer's transaction.
fn supervise_device(
    c: &dyn Tx,
    rules: &super::Rules,
    device: &str,
    watching_since: Timestamp,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let row: Option<(i64, i64, Option<i64>, bool)> = c
        .query_row(
            "SELECT d.shop_id, h.last_seen_at, h.offline_since, h.holder_told_offline FROM device_health h JOIN devices d ON d.id = h.device_id WHERE h.device_id = ?1",
            args![device],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((shop_id, last_seen, offline_since, told)) = row else {
        return Ok(0);
    };
    let shop = load_shop(c, shop_id)?;
    let hours = OpeningHours::parse(&shop.opening_hours).unwrap_or_else(|e| {
        tracing::warn!(shop = shop_id, error = %e, "opening hours unreadable; treated as always open");
        OpeningHours::always()
    });
    let watch = Watch {
        offline_since: offline_since.map(Timestamp),
        holder_told_offline: told,
    };
    let (next, effects) = supervision::supervise(
        watch,
        Timestamp(last_seen),
        watching_since,
        now,
        hours.is_open(&now.paris()),
        &rules.supervision,
    );
    if next != watch {
        c.execute(
            "UPDATE device_health SET offline_since = ?1, holder_told_offline = ?2 WHERE device_id = ?3",
            args![next.offline_since.map(Timestamp::as_ms), next.holder_told_offline, device],
        )?;
    }
    let mut queued = 0;
    for effect in effects {
        let (kind, detail, text) = match effect {
            Effect::DeclaredOffline { last_seen } => (
                "device_offline",
                serde_json::json!({ "last_seen_at": last_seen, "silent_ms": now.ms_since(last_seen) }),
                None,
            ),
            Effect::BackOnline => (
                "device_online",
                serde_json::json!({ "offline_since": offline_since }),
                None,
            ),
            Effect::TellHolderOffline { last_seen } => (
                "holder_told_offline",
                serde_json::json!({ "last_seen_at": last_seen }),
                Some(sms::device_offline(&shop.name, last_seen, now)),
            ),
            Effect::TellHolderBack => (
                "holder_told_online",
                serde_json::json!({}),
                Some(sms::device_back(&shop.name, now)),
            ),
        };
        fleet_event(c, now, device, shop_id, kind, &detail)?;
        if let Some(text) = text {
            let sent = queue_sms(
                c,
                &NewSms {
                    dedup_key: format!("{kind}:{device}:{}", now.as_ms()),
                    alarm_id: None,
                    contact_id: None,
                    phone: shop.holder_phone.as_e164(),
                    purpose: "supervision",
                    step: 0,
                    attempt: 0,
                    priority: PRIORITY_NOTICE,
                    text: &text.text,
                },
                now,
            )?;
            queued += u32::from(sent);
        }
    }
    Ok(queued)
}

impl Store {
    /// Silence before `t` (the hub's start) is not held against a box.
    pub fn start_watching(&self, t: Timestamp) {
        self.watching_since.0.store(t.as_ms(), Ordering::SeqCst);
    }

    pub(super) fn watching_since(&self) -> Timestamp {
        Timestamp(self.watching_since.0.load(Ordering::SeqCst))
    }

    /// Keep a box's latest heartbeat; written by the next
    /// [`Store::flush_health`]. Costs a map insert, no disk.
    pub fn record_heartbeat(
        &self,
        device: &str,
        heartbeat: Heartbeat,
        signed_created_s: i64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Ok(mut marks) = self.health.signed_marks.lock() {
            let mark = marks.entry(device.to_string()).or_insert(i64::MIN);
            *mark = (*mark).max(signed_created_s);
        }
        let mut pending = self
            .health
            .pending
            .lock()
            .map_err(|_| StoreError::Unexpected("heartbeat map poisoned".into()))?;
        if pending.len() >= HEALTH_PENDING_DEVICES_MAX && !pending.contains_key(device) {
            return Err(StoreError::refused(
                "busy",
                "trop de boîtiers en attente d'écriture, réessayez / too many heartbeats waiting, retry",
            ));
        }
        pending.insert(
            device.to_string(),
            Received {
                at: now,
                heartbeat,
                signed_created_s,
            },
        );
        Ok(())
    }

    /// Whether a heartbeat signed at `created_s` is not older than the
    /// box's last accepted one (an older one is a replay: refused, even
    /// after a restart; one in the same second passes, as a box may send
    /// two, and the nonce cache refuses an exact replay while the hub runs).
    pub async fn heartbeat_is_fresh(
        &self,
        device: &str,
        created_s: i64,
    ) -> Result<bool, StoreError> {
        let known = self
            .health
            .signed_marks
            .lock()
            .ok()
            .and_then(|m| m.get(device).copied());
        let mark = match known {
            Some(m) => m,
            None => {
                let id = device.to_string();
                let m: i64 = self
                    .db
                    .read(move |c| {
                        Ok(c.query_row(
                            "SELECT signed_created_s FROM device_health WHERE device_id = ?1",
                            args![id],
                            |r| r.get(0),
                        )
                        .optional()?
                        .unwrap_or(i64::MIN))
                    })
                    .await?;
                if let Ok(mut marks) = self.health.signed_marks.lock()
                    && marks.len() < HEALTH_PENDING_DEVICES_MAX
                {
                    marks.entry(device.to_string()).or_insert(m);
                }
                m
            }
        };
        Ok(created_s >= mark)
    }

    /// Remember the nonce of a signed state-changing request; `false` if it
    /// was already used (a replay, perhaps across a restart).
    pub async fn remember_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        created_s: i64,
    ) -> Result<bool, StoreError> {
        let (key_id, nonce) = (key_id.to_string(), nonce.to_string());
        self.db
            .write(move |c| {
                Ok(c.execute(
                    "INSERT INTO request_nonces (key_id, nonce, created_s) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    args![key_id, nonce, created_s],
                )? == 1)
            })
            .await
    }

    /// Forget the nonces signed before `before_s`: their requests are stale
    /// anyway, so the table holds one signature window of requests.
    pub async fn forget_nonces_before(&self, before_s: i64) -> Result<usize, StoreError> {
        self.db
            .write(move |c| {
                c.execute(
                    "DELETE FROM request_nonces WHERE created_s < ?1",
                    args![before_s],
                )
            })
            .await
    }

    /// Write the heartbeats kept in memory, in short batches. Returns how
    /// many boxes were written.
    pub async fn flush_health(&self) -> Result<usize, StoreError> {
        let taken: Vec<(String, Received)> = match self.health.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p).into_iter().collect(),
            Err(_) => return Err(StoreError::Unexpected("heartbeat map poisoned".into())),
        };
        let total = taken.len();
        let mut rest = taken;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(HEALTH_ROWS_PER_WRITE_MAX));
            let chunk = std::sync::Arc::new(std::mem::replace(&mut rest, tail));
            let written = chunk.clone();
            let result = self.db.write(move |c| write_health(c, &written)).await;
            if let Err(e) = result {
                // Keep what could not be written, unless a newer heartbeat came meanwhile.
                let mut unwritten: Vec<(String, Received)> =
                    std::sync::Arc::try_unwrap(chunk).unwrap_or_else(|shared| (*shared).clone());
                unwritten.append(&mut rest);
                if let Ok(mut p) = self.health.pending.lock() {
                    for (id, r) in unwritten {
                        p.entry(id).or_insert(r);
                    }
                }
                return Err(e);
            }
        }
        Ok(total)
    }

    /// One supervision pass at `now`: declare silent boxes offline, notice
    /// the ones that came back, and tell holders what they must know while
    /// their shop is open. Returns how many SMS it queued. Call
    /// [`Store::flush_health`] first so the latest heartbeats count.
    pub async fn supervise(&self, now: Timestamp) -> Result<u32, StoreError> {
        let watching_since = self.watching_since();
        let silent_before = now.plus_ms(-self.rules.supervision.offline_after_ms());
        let mut after = String::new();
        let mut queued = 0;
        loop {
            let from = after.clone();
            let candidates: Vec<String> = self
                .db
                .read(move |c| {
                    let mut st = c.prepare(
                        "SELECT h.device_id FROM device_health h JOIN devices d ON d.id = h.device_id
                         WHERE d.state IN ('enrolled', 'active') AND h.device_id > ?1 AND (
                           (h.offline_since IS NULL AND h.last_seen_at <= ?2)
                           OR (h.offline_since IS NOT NULL AND h.last_seen_at > h.offline_since)
                           OR (h.offline_since IS NOT NULL AND h.holder_told_offline = 0)
                           OR (h.offline_since IS NULL AND h.holder_told_offline = 1))
                         ORDER BY h.device_id LIMIT ?3",
                    )?;
                    let ids = st
                        .query_map(
                            args![
                                from,
                                silent_before.as_ms(),
                                SUPERVISED_DEVICES_PER_WRITE_MAX as i64
                            ],
                            |r| r.get::<String>(0),
                        )?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(ids)
                })
                .await?;
            let Some(last) = candidates.last().cloned() else {
                break;
            };
            let full = candidates.len() >= SUPERVISED_DEVICES_PER_WRITE_MAX;
            let rules = self.rules.clone();
            queued += self
                .db
                .write(move |c| {
                    let mut queued = 0;
                    for id in &candidates {
                        queued += supervise_device(c, &rules, id, watching_since, now)?;
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

    /// Every box that is not returned, with its liveness, latest health and
    /// flags, for the desk.
    pub async fn fleet_health(&self, now: Timestamp) -> Result<Vec<DeviceHealth>, StoreError> {
        self.health_of(None, now).await
    }

    /// The boxes of one shop, as [`Store::fleet_health`] describes them.
    pub async fn shop_health(
        &self,
        shop_id: i64,
        now: Timestamp,
    ) -> Result<Vec<DeviceHealth>, StoreError> {
        self.health_of(Some(shop_id), now).await
    }

    async fn health_of(
        &self,
        shop: Option<i64>,
        now: Timestamp,
    ) -> Result<Vec<DeviceHealth>, StoreError> {
        let rows: Vec<(DeviceHealth, Option<String>)> = self
            .db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT d.id, d.shop_id, s.reference, s.name, d.state, h.last_seen_at, h.battery_pct, h.on_mains,
                            h.signal_csq, h.modem, h.free_storage_mb, h.version, h.outbox_depth, h.uptime_s, r.last_test_ok_at,
                            h.box_sent_at - h.last_seen_at, h.clock_offset_ms
                     FROM devices d JOIN shops s ON s.id = d.shop_id
                     LEFT JOIN device_health h ON h.device_id = d.id
                     LEFT JOIN shop_readiness r ON r.shop_id = d.shop_id
                     WHERE d.state <> 'returned' AND (CAST(?2 AS BIGINT) IS NULL OR d.shop_id = ?2)
                     ORDER BY s.reference, d.id LIMIT ?1",
                )?;
                let rows = st
                    .query_map(args![FLEET_ROWS_MAX as i64, shop], |r| {
                        let modem: Option<String> = r.get(9)?;
                        Ok((
                            DeviceHealth {
                                device_id: r.get(0)?,
                                shop_id: r.get(1)?,
                                shop_reference: r.get(2)?,
                                shop_name: r.get(3)?,
                                device_state: r.get(4)?,
                                liveness: Liveness::NeverSeen,
                                last_seen_at: r.get::<Option<i64>>(5)?.map(Timestamp),
                                battery_pct: r.get(6)?,
                                on_mains: r.get(7)?,
                                signal_csq: r.get(8)?,
                                modem: modem.clone(),
                                free_storage_mb: r.get(10)?,
                                version: r.get(11)?,
                                outbox_depth: r.get(12)?,
                                uptime_s: r.get::<Option<i64>>(13)?.map(|u| u.max(0) as u64),
                                last_test_ok_at: r.get::<Option<i64>>(14)?.map(Timestamp),
                                box_clock_ahead_ms: r.get(15)?,
                                clock_offset_ms: r.get(16)?,
                                flags: Vec::new(),
                            },
                            modem,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        // Heartbeats not written yet are fresher than the table.
        let pending: HashMap<String, Received> = match self.health.pending.lock() {
            Ok(p) => rows
                .iter()
                .filter_map(|(d, _)| {
                    p.get(&d.device_id)
                        .map(|r| (d.device_id.clone(), r.clone()))
                })
                .collect(),
            Err(_) => HashMap::new(),
        };
        let limits = &self.rules.supervision;
        let watching_since = self.watching_since();
        Ok(rows
            .into_iter()
            .map(|(mut d, _)| {
                if let Some(r) = pending.get(&d.device_id) {
                    let h = &r.heartbeat;
                    d.last_seen_at = Some(r.at);
                    d.battery_pct = h.battery_pct;
                    d.on_mains = Some(h.on_mains);
                    d.signal_csq = h.signal_csq;
                    d.modem = Some(modem_str(h.modem).to_string());
                    d.free_storage_mb = Some(h.free_storage_mb);
                    d.version = Some(h.version.clone());
                    d.outbox_depth = Some(h.outbox_depth);
                    d.uptime_s = Some(h.uptime_s);
                    d.box_clock_ahead_ms = Some(h.sent_at_ms - r.at.as_ms());
                    d.clock_offset_ms = Some(h.clock_offset_ms);
                }
                d.liveness = supervision::liveness(d.last_seen_at, watching_since, now, limits);
                let reported = match (&d.modem, d.on_mains) {
                    (Some(modem), Some(on_mains)) => Some(Reported {
                        battery_pct: d.battery_pct,
                        on_mains,
                        network: network_of(modem),
                        box_clock_ahead_ms: d.box_clock_ahead_ms.unwrap_or(0),
                    }),
                    _ => None,
                };
                d.flags = supervision::flags(reported.as_ref(), d.last_test_ok_at, now, limits);
                d
            })
            .collect())
    }

    /// What happened to a box, oldest first.
    pub async fn fleet_events(&self, device: &str) -> Result<Vec<FleetEvent>, StoreError> {
        let device = device.to_string();
        self.db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT id, at, device_id, shop_id, kind, detail FROM fleet_events WHERE device_id = ?1 ORDER BY id",
                )?;
                let rows = st
                    .query_map(args![device], |r| {
                        Ok(FleetEvent {
                            id: r.get(0)?,
                            at: Timestamp(r.get(1)?),
                            device_id: r.get(2)?,
                            shop_id: r.get(3)?,
                            kind: r.get(4)?,
                            detail: r.json(5)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// A shop's silent tests and whether it counts as ready at `now`.
    pub async fn readiness(&self, shop_id: i64, now: Timestamp) -> Result<Readiness, StoreError> {
        let limits = self.rules.supervision;
        self.db
            .read(move |c| {
                let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = c
                    .query_row(
                        "SELECT last_test_at, last_test_ok_at, last_test_delivered_at FROM shop_readiness WHERE shop_id = ?1",
                        args![shop_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let (at, ok, delivered) = row.unwrap_or_default();
                let ok = ok.map(Timestamp);
                Ok(Readiness {
                    last_test_at: at.map(Timestamp),
                    last_test_ok_at: ok,
                    last_test_delivered_at: delivered.map(Timestamp),
                    ready: supervision::ready(ok, now, &limits),
                })
            })
            .await
    }

    /// The shop and its box's direct contacts.
    pub async fn direct_contacts(
        &self,
        shop_id: i64,
    ) -> Result<(ShopSummary, Vec<DirectContact>), StoreError> {
        self.db.read(move |c| direct_contacts(c, shop_id)).await
    }

    /// Changes whenever what a box of `shop_id` must know may have changed.
    pub fn config_generation(&self, shop_id: i64) -> (u64, u64) {
        let shop = self
            .config_generations
            .shops
            .lock()
            .map(|m| m.get(&shop_id).copied().unwrap_or(0))
            .unwrap_or(0);
        (self.config_generations.all.load(Ordering::SeqCst), shop)
    }

    /// Called after a committed change to a shop's contacts (`None`: the Region's).
    pub(crate) fn config_changed(&self, shop_id: Option<i64>) {
        let Some(shop_id) = shop_id else {
            self.config_generations.all.fetch_add(1, Ordering::SeqCst);
            return;
        };
        if let Ok(mut m) = self.config_generations.shops.lock() {
            if m.len() >= CONFIG_GENERATIONS_MAX && !m.contains_key(&shop_id) {
                m.clear();
                self.config_generations.all.fetch_add(1, Ordering::SeqCst);
            }
            *m.entry(shop_id).or_insert(0) += 1;
        }
    }
}
