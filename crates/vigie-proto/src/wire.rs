//! Request and response bodies of the device API (`/v1/…`).
//!
//! Times are milliseconds since the Unix epoch on the sender's clock. Ids
//! of alarms are minted by the box (UUID v7), so a retry of the same
//! request names the same alarm.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The path prefix of this version of the API.
pub const API_PREFIX: &str = "/v1";
/// Bodies larger than this are refused before they are parsed.
pub const REQUEST_BODY_BYTES_MAX: usize = 16 * 1024;

/// `POST /v1/enroll` — unsigned: the one-time code is the credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time enrolment code printed for this shop (e.g. `7KQ4-M2XD`).
    pub code: String,
    /// The device's P-256 public key, SEC1 uncompressed point, base64.
    pub public_key: String,
    /// The box software's version.
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The key id to put in every signature (`keyid="…"`).
    pub device_id: String,
    pub shop: ShopSummary,
    pub settings: DeviceSettings,
    /// Contacts the box may alert itself through its modem if the hub is unreachable.
    pub direct_contacts: Vec<DirectContact>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShopSummary {
    pub name: String,
    pub address: String,
    pub commune: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceSettings {
    pub heartbeat_interval_s: u32,
    pub double_press_window_ms: i64,
    pub long_press_ms: i64,
    pub cancel_window_ms: i64,
    /// The box sends the SMS itself if the hub has not confirmed by then.
    pub direct_sms_delay_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DirectContact {
    pub name: String,
    /// E.164.
    pub phone: String,
    pub tier: u8,
}

/// `POST /v1/alarms` — raise an alarm (or repeat the request for one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaiseAlarm {
    pub alarm_id: Uuid,
    /// When the button was pressed, on the box's clock.
    pub pressed_at_ms: i64,
    /// When this request was sent, on the box's clock (gives the press's age
    /// even if the box's clock is wrong).
    pub sent_at_ms: i64,
    /// A double press: record what is said.
    #[serde(default)]
    pub recording: bool,
    /// SMS the box already sent itself through its modem because the hub
    /// did not answer in time: the hub must not send these again.
    #[serde(default)]
    pub direct_sms: Vec<DirectSms>,
    /// A silent end-to-end test: exercises box → hub → SMS gateway without
    /// alerting the contacts.
    #[serde(default)]
    pub test: bool,
}

/// One SMS the box sent through its own modem.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DirectSms {
    /// E.164.
    pub phone: String,
    pub sent_at_ms: i64,
}

/// `POST /v1/alarms/{id}/direct` — the box tells the hub, once it can reach
/// it again, which SMS it sent itself for an alarm the hub already had.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectReport {
    pub direct_sms: Vec<DirectSms>,
}

/// `POST /v1/heartbeat` — the box is alive, and how it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub sent_at_ms: i64,
    /// Battery charge, if the box has a battery.
    pub battery_pct: Option<u8>,
    /// On mains power (false: running on battery).
    pub on_mains: bool,
    /// Signal strength as the modem reports it (`AT+CSQ`: 0–31, 99 unknown).
    pub signal_csq: Option<u8>,
    pub modem: ModemState,
    pub free_storage_mb: u32,
    pub version: String,
    /// Items waiting in the box's outbox.
    pub outbox_depth: u32,
    pub uptime_s: u64,
    /// The correction the box applies to its clock when it signs (hub time
    /// − box time, learned from the hub's answers; 0 while they agree).
    /// `sent_at_ms` is the box's own, uncorrected time.
    #[serde(default)]
    pub clock_offset_ms: i64,
}

/// What the modem says of its network registration (`AT+CREG?`) and SIM.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModemState {
    Registered,
    Roaming,
    Searching,
    Denied,
    NoSim,
    /// No modem, or it does not answer.
    Absent,
}

/// The hub's answer to a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeartbeatAck {
    /// Changes whenever the box's settings or contacts change: fetch
    /// `GET /v1/device/config` when it differs from the one the box has.
    pub config_version: String,
    pub server_time_ms: i64,
}

/// `GET /v1/device/config` — the box's settings and the contacts it may
/// alert itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceConfig {
    pub config_version: String,
    pub shop: ShopSummary,
    pub settings: DeviceSettings,
    pub direct_contacts: Vec<DirectContact>,
}

/// What the hub has done with an alarm; the answer to raise and cancel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlarmReceipt {
    pub alarm_id: Uuid,
    /// `open`, `acknowledged`, `resolved` or `cancelled`.
    pub state: String,
    /// Short code naming the alarm in SMS replies.
    pub code: String,
    /// True if the hub already had this alarm (a retry).
    pub duplicate: bool,
    /// Set if the press reached the hub late: its age when the box sent it.
    pub late_by_ms: Option<i64>,
    /// Contacts the hub is alerting now (first tier).
    pub contacts_alerting: u32,
    /// The alarm is stored durably: the box may stop retrying.
    pub durable: bool,
}

/// `POST /v1/alarms/{id}/cancel` — a long press within the cancel window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelAlarm {
    pub cancel_pressed_at_ms: i64,
    pub sent_at_ms: i64,
}

/// `POST /v1/alarms/{id}/recording` — a double press on an open alarm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRecording {
    pub requested_at_ms: i64,
}

/// Every error the API returns: a stable machine-readable code and a
/// sentence for the person reading the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// `POST /v1/recordings/{recording_id}/chunks` — one sealed chunk of a
/// recording (docs/protocol/evidence.md §2). Chunks go in order; a repeat
/// of a stored chunk is answered as before.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadChunk {
    /// The chunk record file, as sealed by the box (`vigie-chunk-v1 …`).
    pub record: String,
    /// The chunk's Ogg pages, base64.
    pub audio: String,
}

/// The hub's receipt for a chunk: its place in the append-only log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkReceipt {
    pub recording_id: Uuid,
    pub seq: u64,
    pub log_index: u64,
    /// True if the hub already had this chunk.
    pub duplicate: bool,
}

/// Largest upload body: a chunk's audio (2 s of Opus is a few kB; the
/// record format allows up to 256 KiB) in base64, plus its record.
pub const CHUNK_UPLOAD_BYTES_MAX: usize = 400 * 1024;
