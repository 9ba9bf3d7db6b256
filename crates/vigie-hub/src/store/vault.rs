//! The vault's records: recordings, the append-only Merkle log of chunk
//! records, device entries (the hub's word on each recording's device
//! key) and custody events, and signed checkpoints with their RFC 3161
//! tokens. The audio itself is in blob storage, encrypted (`vault::blobs`).
//!
//! The log's leaves are the exact bytes of each record or custody file;
//! indices run 0, 1, 2… without gaps, assigned inside the writer's
//! transaction so concurrent appends cannot collide.

use super::model::AlarmEvent;
use super::tables::events::record as record_event;
use super::tables::notifications::NewSms;
use super::tables::notifications::PRIORITY_NOTICE;
use super::tables::notifications::queue as queue_sms;
use super::tables::shops::load as load_shop;
use super::tx::{OptionalExtension as _, Row, Tx, args};
use super::{Store, StoreError};
use uuid::Uuid;
use vigie_core::Timestamp;
use vigie_evidence::custody::{Action, CustodyEvent};
use vigie_evidence::merkle;
use vigie_evidence::record::SignedRecord;

/// Retention of a recording without a legal hold (the CNIL's default here).
pub const RETENTION_DAYS_DEFAULT: u32 = 30;
/// The holder is reminded this long before a recording is destroyed.
pub const RETENTION_REMINDER_DAYS: i64 = 7;
/// A custody reason longer than this is refused (it is one line of the log).
pub const CUSTODY_REASON_CHARS_MAX: usize = 500;

/// A recording as the hub knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recording {
    pub id: Uuid,
    pub alarm_id: Uuid,
    pub device_id: String,
    pub shop_id: i64,
    pub started_at: Timestamp,
    pub last_chunk_at: Timestamp,
    pub chunks: u64,
    pub is_final: bool,
    pub retention_until: Timestamp,
    pub legal_hold: bool,
    pub deleted_at: Option<Timestamp>,
}

/// What a chunk upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub log_index: u64,
    pub duplicate: bool,
}

/// One entry of the log, as stored.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub idx: u64,
    pub kind: String,
    pub seq: Option<u64>,
    pub entry: Vec<u8>,
}

/// A stored checkpoint.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub body: Vec<u8>,
    pub at: Timestamp,
    pub tsa_token: Option<Vec<u8>>,
}

const RECORDING_COLUMNS: &str = "id, alarm_id, device_id, shop_id, started_at, last_chunk_at, next_seq, final, retention_until, legal_hold, deleted_at";

fn recording_from_row(r: &Row) -> Result<Recording, StoreError> {
    Ok(Recording {
        id: r.get::<Uuid>(0)?,
        alarm_id: r.get::<Uuid>(1)?,
        device_id: r.get(2)?,
        shop_id: r.get(3)?,
        started_at: Timestamp(r.get(4)?),
        last_chunk_at: Timestamp(r.get(5)?),
        chunks: r.get::<i64>(6)? as u64,
        is_final: r.get(7)?,
        retention_until: Timestamp(r.get(8)?),
        legal_hold: r.get(9)?,
        deleted_at: r.get::<Option<i64>>(10)?.map(Timestamp),
    })
}

fn load_recording(c: &dyn Tx, id: Uuid) -> Result<Option<Recording>, StoreError> {
    c.query_row(
        &format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1"),
        args![id.to_string()],
        recording_from_row,
    )
    .optional()
}

fn log_size(c: &dyn Tx) -> Result<u64, StoreError> {
    let max: Option<i64> =
        c.query_row("SELECT MAX(idx) FROM log_entries", args![], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m as u64 + 1))
}

fn append_leaf(
    c: &dyn Tx,
    kind: &str,
    recording: Uuid,
    seq: Option<u64>,
    entry: &[u8],
    now: Timestamp,
) -> Result<u64, StoreError> {
    let idx = log_size(c)?;
    c.execute(
        "INSERT INTO log_entries (idx, kind, recording_id, seq, leaf_hash, entry, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![idx as i64, kind, recording.to_string(), seq.map(|s| s as i64), merkle::leaf_hash(entry).to_vec(), entry, now.as_ms()],
    )?;
    Ok(idx)
}

/// Appends the recording's device entry (`vigie_evidence::device`) unless
/// the log has it: the device and the fingerprint of its key as the hub
/// enrolled it, so that an export's `keys/device.pem` is vouched for by
/// the hub's log and cannot be swapped.
fn ensure_device_entry(c: &dyn Tx, recording: Uuid, now: Timestamp) -> Result<(), StoreError> {
    let logged: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM log_entries WHERE recording_id = ?1 AND kind = 'device')",
        args![recording.to_string()],
        |r| r.get(0),
    )?;
    if logged {
        return Ok(());
    }
    let device: String = c
        .query_row(
            "SELECT device_id FROM recordings WHERE id = ?1",
            args![recording.to_string()],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| {
            StoreError::refused(
                "unknown_recording",
                "enregistrement inconnu / unknown recording",
            )
        })?;
    let key: String = c
        .query_row(
            "SELECT public_key FROM devices WHERE id = ?1",
            args![device],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::refused("unknown_device", "boîtier inconnu / unknown device"))?;
    let key = vigie_proto::signature::parse_public_key(&key)
        .map_err(|e| StoreError::Unexpected(format!("device {device}'s key: {e}")))?;
    let entry = vigie_evidence::device::encode(&vigie_evidence::device::DeviceEntry {
        recording: recording.to_string(),
        device,
        key_sha256: vigie_evidence::text::key_fingerprint(&key),
        at_ms: now.as_ms().max(0) as u64,
    })
    .map_err(|e| StoreError::Unexpected(e.to_string()))?;
    append_leaf(c, "device", recording, None, &entry, now)?;
    Ok(())
}

impl Store {
    /// Logs the recording's device entry if it is not yet in the log (a
    /// recording logged before device entries existed gets it at export).
    pub async fn ensure_device_entry(
        &self,
        recording: Uuid,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| ensure_device_entry(c, recording, now))
            .await
    }

    /// The wrapped key of a recording, creating the recording (with
    /// `new_wrapped_key`) if this is its first chunk. Refuses a recording
    /// that belongs to another device or alarm, or whose key is destroyed.
    pub async fn recording_key(
        &self,
        device_id: &str,
        recording: Uuid,
        alarm: Uuid,
        new_wrapped_key: Vec<u8>,
        retention_days: u32,
        now: Timestamp,
    ) -> Result<Vec<u8>, StoreError> {
        let device_id = device_id.to_string();
        self.db
            .write(move |c| {
                let row: Option<(String, String, Option<Vec<u8>>)> = c
                    .query_row("SELECT device_id, alarm_id, wrapped_key FROM recordings WHERE id = ?1", args![recording.to_string()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                if let Some((dev, a, key)) = row {
                    if dev != device_id || a != alarm.to_string() {
                        return Err(StoreError::refused("recording_mismatch", "cet enregistrement appartient à un autre boîtier ou une autre alarme / recording belongs to another device or alarm"));
                    }
                    return key.ok_or_else(|| StoreError::refused("recording_deleted", "cet enregistrement a été détruit / this recording was destroyed"));
                }
                let (shop_id, alarm_device): (i64, String) = c
                    .query_row("SELECT shop_id, device_id FROM alarms WHERE id = ?1", args![alarm.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .ok_or_else(|| StoreError::refused("unknown_alarm", "alarme inconnue / unknown alarm"))?;
                if alarm_device != device_id {
                    return Err(StoreError::refused("recording_mismatch", "l'alarme appartient à un autre boîtier / alarm belongs to another device"));
                }
                let retention_until = now.plus_ms(i64::from(retention_days) * 86_400_000);
                c.execute(
                    "INSERT INTO recordings (id, alarm_id, device_id, shop_id, started_at, last_chunk_at, wrapped_key, next_seq, last_record_hash, retention_until)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, 0, ?7, ?8)",
                    args![recording.to_string(), alarm.to_string(), device_id, shop_id, now.as_ms(), new_wrapped_key, vec![0u8; 32], retention_until.as_ms()],
                )?;
                record_event(c, &alarm.to_string(), now, &AlarmEvent::RecordingStarted { recording })?;
                Ok(new_wrapped_key.clone())
            })
            .await
    }

    /// Append a verified chunk record (its audio already in blob storage).
    /// In order: seq must be the next one and `prev` the last record's hash;
    /// a repeat of a stored record is answered as before.
    pub async fn append_chunk(
        &self,
        recording: Uuid,
        record: SignedRecord,
        now: Timestamp,
    ) -> Result<Appended, StoreError> {
        self.db
            .write(move |c| {
                let (next_seq, last_hash, deleted): (i64, Vec<u8>, Option<i64>) = c
                    .query_row("SELECT next_seq, last_record_hash, deleted_at FROM recordings WHERE id = ?1", args![recording.to_string()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?
                    .ok_or_else(|| StoreError::refused("unknown_recording", "enregistrement inconnu / unknown recording"))?;
                if deleted.is_some() {
                    return Err(StoreError::refused("recording_deleted", "cet enregistrement a été détruit / this recording was destroyed"));
                }
                let seq = record.record.seq;
                if (seq as i64) < next_seq {
                    let stored: Option<(i64, Vec<u8>)> = c
                        .query_row(
                            "SELECT idx, entry FROM log_entries WHERE recording_id = ?1 AND kind = 'record' AND seq = ?2",
                            args![recording.to_string(), seq as i64],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    return match stored {
                        Some((idx, entry)) if entry == record.bytes => Ok(Appended { log_index: idx as u64, duplicate: true }),
                        _ => Err(StoreError::refused("chunk_conflict", format!("le morceau {seq} existe déjà avec un autre contenu / chunk {seq} already stored with other content"))),
                    };
                }
                if seq as i64 > next_seq {
                    return Err(StoreError::refused("chunk_gap", format!("morceau {seq} reçu, {next_seq} attendu d'abord / chunk {seq} received, {next_seq} expected first")));
                }
                if record.record.prev.as_slice() != last_hash.as_slice() {
                    return Err(StoreError::refused("chunk_chain", "le champ prev ne suit pas le morceau précédent / prev does not follow the previous chunk"));
                }
                if seq == 0 {
                    ensure_device_entry(c, recording, now)?;
                }
                let idx = append_leaf(c, "record", recording, Some(seq), &record.bytes, now)?;
                c.execute(
                    "UPDATE recordings SET next_seq = ?1, last_record_hash = ?2, last_chunk_at = ?3, final = ?4 WHERE id = ?5",
                    args![seq as i64 + 1, record.hash.to_vec(), now.as_ms(), record.record.is_final, recording.to_string()],
                )?;
                Ok(Appended { log_index: idx, duplicate: false })
            })
            .await
    }

    /// Log who did what to a recording, and why. The reason is mandatory.
    pub async fn custody(
        &self,
        recording: Uuid,
        actor: &str,
        action: Action,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(StoreError::refused(
                "reason_required",
                "un motif est obligatoire / a reason is required",
            ));
        }
        if reason.chars().count() > CUSTODY_REASON_CHARS_MAX || reason.contains('\n') {
            return Err(StoreError::refused(
                "bad_reason",
                "motif sur une ligne, 500 caractères au plus / one-line reason, 500 characters at most",
            ));
        }
        let event = CustodyEvent {
            recording: recording.to_string(),
            at_ms: now.as_ms().max(0) as u64,
            actor: actor.to_string(),
            action,
            reason,
        };
        let bytes = vigie_evidence::custody::encode(&event)
            .map_err(|e| StoreError::refused("bad_custody", e.to_string()))?;
        self.db
            .write(move |c| {
                load_recording(c, recording)?.ok_or_else(|| StoreError::refused("unknown_recording", "enregistrement inconnu / unknown recording"))?;
                let idx = append_leaf(c, "custody", recording, None, &bytes, now)?;
                match action {
                    Action::Hold => {
                        c.execute("UPDATE recordings SET legal_hold = 1 WHERE id = ?1", args![recording.to_string()])?;
                    }
                    Action::Release => {
                        c.execute("UPDATE recordings SET legal_hold = 0 WHERE id = ?1", args![recording.to_string()])?;
                    }
                    Action::Delete | Action::RetentionDelete => {
                        // Destroying the key destroys the audio, whatever happens to the files.
                        c.execute("UPDATE recordings SET wrapped_key = NULL, deleted_at = ?1 WHERE id = ?2", args![now.as_ms(), recording.to_string()])?;
                    }
                    Action::Listen | Action::Export => {}
                }
                Ok(idx)
            })
            .await
    }

    /// Sign a checkpoint over the whole log if it grew since the last one.
    pub async fn checkpoint(
        &self,
        keys: std::sync::Arc<crate::vault::keys::HubKeys>,
        now: Timestamp,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.db
            .write(move |c| {
                let size = log_size(c)?;
                let last: Option<i64> =
                    c.query_row("SELECT MAX(size) FROM checkpoints", args![], |r| r.get(0))?;
                if size == 0 || last == Some(size as i64) {
                    return Ok(None);
                }
                let leaves = leaf_hashes(c, size)?;
                let cp = vigie_evidence::checkpoint::Checkpoint {
                    log: keys.log_id.clone(),
                    size,
                    root: merkle::root(&leaves),
                    time_ms: now.as_ms().max(0) as u64,
                };
                let body = vigie_evidence::checkpoint::sign(&cp, &keys.signing)
                    .map_err(|e| StoreError::Unexpected(e.to_string()))?;
                c.execute(
                    "INSERT INTO checkpoints (size, body, at) VALUES (?1, ?2, ?3)",
                    args![size as i64, body, now.as_ms()],
                )?;
                Ok(Some(StoredCheckpoint {
                    size,
                    body,
                    at: now,
                    tsa_token: None,
                }))
            })
            .await
    }

    pub async fn set_checkpoint_token(&self, size: u64, token: Vec<u8>) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE checkpoints SET tsa_token = ?1 WHERE size = ?2",
                    args![token, size as i64],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.db
            .read(|c| {
                let mut st =
                    c.prepare("SELECT size, body, at, tsa_token FROM checkpoints ORDER BY size")?;
                let rows = st
                    .query_map(args![], |r| {
                        Ok(StoredCheckpoint {
                            size: r.get::<i64>(0)? as u64,
                            body: r.get(1)?,
                            at: Timestamp(r.get(2)?),
                            tsa_token: r.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// The latest checkpoint that has a time-stamp token.
    pub async fn last_timestamped_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT MAX(at) FROM checkpoints WHERE tsa_token IS NOT NULL",
                    args![],
                    |r| r.get::<Option<i64>>(0),
                )?
                .map(Timestamp))
            })
            .await
    }

    /// Whether a recording received a chunk since `since`.
    pub async fn recording_live_since(&self, since: Timestamp) -> Result<bool, StoreError> {
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM recordings WHERE last_chunk_at >= ?1)",
                    args![since.as_ms()],
                    |r| r.get(0),
                )
            })
            .await
    }

    /// Every leaf hash of the first `size` entries (for proofs).
    pub async fn log_leaves(&self, size: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        self.db.read(move |c| leaf_hashes(c, size)).await
    }

    /// A recording's log entries (device entry, records and custody events), in log order.
    pub async fn recording_entries(&self, recording: Uuid) -> Result<Vec<LogEntry>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare("SELECT idx, kind, seq, entry FROM log_entries WHERE recording_id = ?1 ORDER BY idx")?;
                let rows = st
                    .query_map(args![recording.to_string()], |r| {
                        Ok(LogEntry { idx: r.get::<i64>(0)? as u64, kind: r.get(1)?, seq: r.get::<Option<i64>>(2)?.map(|s| s as u64), entry: r.get(3)? })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    pub async fn recording(&self, id: Uuid) -> Result<(Recording, Option<Vec<u8>>), StoreError> {
        self.db
            .read(move |c| {
                let r = load_recording(c, id)?.ok_or_else(|| {
                    StoreError::refused(
                        "unknown_recording",
                        "enregistrement inconnu / unknown recording",
                    )
                })?;
                let key: Option<Vec<u8>> = c.query_row(
                    "SELECT wrapped_key FROM recordings WHERE id = ?1",
                    args![id.to_string()],
                    |r| r.get(0),
                )?;
                Ok((r, key))
            })
            .await
    }

    pub async fn recordings(&self) -> Result<Vec<Recording>, StoreError> {
        self.db
            .read(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY started_at DESC"
                ))?;
                let rows = st
                    .query_map(args![], recording_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// Remind holders of recordings that will be destroyed within
    /// [`RETENTION_REMINDER_DAYS`], once each, by SMS. Returns how many.
    pub async fn remind_holders(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.db
            .write(move |c| {
                let horizon = now.plus_ms(RETENTION_REMINDER_DAYS * 86_400_000);
                let mut st = c.prepare(
                    "SELECT id, shop_id, started_at, retention_until FROM recordings
                     WHERE reminded_at IS NULL AND legal_hold = 0 AND deleted_at IS NULL AND retention_until <= ?1",
                )?;
                let due: Vec<(String, i64, i64, i64)> = st
                    .query_map(args![horizon.as_ms()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                for (id, shop_id, started, until) in &due {
                    let shop = load_shop(c, *shop_id)?;
                    let text = vigie_core::sms::recording_reminder(&shop.name, Timestamp(*started), Timestamp(*until));
                    queue_sms(
                        c,
                        &NewSms {
                            dedup_key: format!("retention-reminder:{id}"),
                            alarm_id: None,
                            contact_id: None,
                            phone: shop.holder_phone.as_e164(),
                            purpose: "reminder",
                            step: 0,
                            attempt: 0,
                            priority: PRIORITY_NOTICE,
                            text: &text.text,
                        },
                        now,
                    )?;
                    c.execute("UPDATE recordings SET reminded_at = ?1 WHERE id = ?2", args![now.as_ms(), id])?;
                }
                Ok(due.len())
            })
            .await
    }

    /// Recordings past their retention and not held.
    pub async fn recordings_past_retention(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare("SELECT id FROM recordings WHERE retention_until <= ?1 AND legal_hold = 0 AND deleted_at IS NULL")?;
                let rows = st
                    .query_map(args![now.as_ms()], |r| r.get::<Uuid>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// The device key of a recording's box (SEC1 base64), for exports.
    pub async fn device_public_key(&self, device_id: &str) -> Result<String, StoreError> {
        let device_id = device_id.to_string();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT public_key FROM devices WHERE id = ?1",
                    args![device_id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| {
                    StoreError::refused("unknown_device", "boîtier inconnu / unknown device")
                })
            })
            .await
    }
}

fn leaf_hashes(c: &dyn Tx, size: u64) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut st = c.prepare("SELECT leaf_hash FROM log_entries WHERE idx < ?1 ORDER BY idx")?;
    let rows = st
        .query_map(args![size as i64], |r| r.get::<Vec<u8>>(0))?
        .map(|r| {
            r.and_then(|v| {
                v.try_into()
                    .map_err(|_| StoreError::Unexpected("a leaf hash is not 32 bytes".into()))
            })
        })
        .collect::<Result<Vec<[u8; 32]>, StoreError>>()?;
    Ok(rows)
}
