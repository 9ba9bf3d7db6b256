//! The box's main loop.
//!
//! - **Press**: edges go through the pure press machine; a raise is written
//!   to the outbox (synced) before anything else, then the uplink is woken
//!   and a timer armed for the direct SMS.
//! - **Uplink**: sends the outbox in order with the device's signature,
//!   retrying with back-off and jitter while the hub is unreachable. An
//!   alarm the hub has confirmed is "in hand".
//! - **Direct SMS**: an alarm not in hand when its timer fires — or as soon
//!   as the hub is known to be unreachable or refuses it — is sent by the
//!   box itself through its modem to its contacts; each SMS sent is recorded
//!   in the outbox and reported to the hub later, so the hub continues the
//!   escalation without sending it again.
//! - **Heartbeat**: every interval, the box's health; a changed
//!   `config_version` makes it fetch its settings and contacts again.
//! - **Recording**: the second press of a double press (never anything
//!   before it) opens the configured microphone for the current alarm. Each
//!   chunk is sealed as it comes (a `vigie-chunk-v1` record signed with the
//!   device key, chained to the previous one) and put in the outbox with its
//!   audio encrypted; the uplink sends chunks in order once their alarm is
//!   in hand, and forgets each on the hub's receipt. A long press (cancel),
//!   the hub saying the alarm is closed, the maximum duration or the end of
//!   the source stops it; the last chunk is marked final.

use crate::config::{AgentConfig, RecorderConfig};
use crate::identity;
use crate::modem::Modem;
use crate::outbox::{ChunkCipher, CipherError, Item, Outbox};
use crate::recorder::{CaptureInstant, EndReason, Recorder, RecordingSummary};
use crate::uplink::{HubClient, UplinkError};
use base64::Engine as _;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;
use vigie_core::press::{Edge, PressEvent, PressMachine, PressSettings};
use vigie_core::sms::{self, ShopLine};
use vigie_core::{PhoneNumber, Timestamp};
use vigie_evidence::record::{self as evidence, ChunkRecord, PREV_NONE};
use vigie_proto::refusal::BoxAction;
use vigie_proto::{
    DeviceConfig, DeviceSettings, DirectContact, DirectSms, Heartbeat, ModemState, RaiseAlarm,
    ShopSummary, UploadChunk,
};

/// Default delay before the box sends the alarm itself.
pub const DIRECT_SMS_DELAY_MS_DEFAULT: i64 = 5_000;
/// Retry back-off towards the hub: from the minimum, doubling, to the maximum, with jitter.
const UPLINK_BACKOFF_MS_MIN: u64 = 200;
const UPLINK_BACKOFF_MS_MAX: u64 = 30_000;
/// Attempts per direct SMS before the box gives up on that contact.
const DIRECT_SMS_ATTEMPTS_MAX: u32 = 3;
/// Hours between silent end-to-end tests unless configured.
pub const SELF_TEST_INTERVAL_H_DEFAULT: u32 = 7 * 24;
/// A modem status read that takes longer is reported as absent.
const MODEM_STATUS_TIMEOUT_MS: u64 = 3_000;
/// Pause of the uplink when a round sent nothing though items wait.
const UPLINK_STUCK_WAIT_MS: u64 = 1_000;
/// The hub's refusal code for a chunk whose predecessor it does not have.
const CHUNK_GAP: &str = vigie_proto::refusal::code::CHUNK_GAP;
/// The hub's refusal code for anything more about a closed alarm.
const ALARM_CLOSED: &str = vigie_proto::refusal::code::ALARM_CLOSED;
/// The key that encrypts chunks waiting in the outbox (in `state_dir`).
const CHUNK_KEY_FILE: &str = "chunk.key";

/// What the agent runs with: the clock is injected so tests can stamp presses.
pub struct Deps {
    pub client: Option<Arc<HubClient>>,
    pub modem: Option<Arc<dyn Modem>>,
    pub now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

/// Things tests and benchmarks watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A press is on disk: `durable_us` after the edge was handled.
    Durable { alarm_id: Uuid, durable_us: u64 },
    /// The hub confirmed the alarm.
    InHand { alarm_id: Uuid },
    /// The box sent an SMS itself.
    DirectSent { alarm_id: Uuid, phone: String },
    /// A heartbeat reached the hub.
    Heartbeat,
    /// The microphone is being opened for this alarm.
    RecordingStarted { alarm_id: Uuid, recording_id: Uuid },
    /// A chunk is sealed and in the outbox: sealing took `seal_us`
    /// (record, SHA-256 of the audio, ECDSA signature).
    ChunkSealed {
        recording_id: Uuid,
        seq: u64,
        seal_us: u64,
    },
    /// The recording is over and its last chunk in the outbox.
    RecordingEnded { recording_id: Uuid, chunks: u64 },
    /// The hub acknowledged a chunk.
    ChunkUploaded {
        recording_id: Uuid,
        seq: u64,
        log_index: u64,
    },
}

/// The recording in progress (one at a time).
struct ActiveRecording {
    alarm_id: Uuid,
    recording_id: Uuid,
    stop: Arc<Notify>,
}

struct Shared {
    config: AgentConfig,
    outbox: Mutex<Outbox>,
    /// Alarms the hub has confirmed.
    in_hand: Mutex<HashSet<Uuid>>,
    /// (alarm, phone) pairs sent through the modem, including before a restart.
    direct: Mutex<HashSet<(Uuid, String)>>,
    /// Alarms being sent through the modem right now: the timer, every
    /// failed round to the hub and a refusal may all ask for the same one
    /// while the modem is still busy with it.
    sending: Mutex<HashSet<Uuid>>,
    device: Mutex<Option<DeviceConfig>>,
    recording: Mutex<Option<ActiveRecording>>,
    /// Made on first use (the first chunk, or the first one sent after a restart).
    cipher: Mutex<Option<Arc<ChunkCipher>>>,
    wake_uplink: Notify,
    deps: Deps,
    events: mpsc::UnboundedSender<AgentEvent>,
    started: Instant,
}

impl Shared {
    fn now(&self) -> Timestamp {
        (self.deps.now)()
    }

    fn settings(&self) -> DeviceSettings {
        let from_hub = self
            .device
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|d| d.settings.clone()));
        let mut s = from_hub.unwrap_or(DeviceSettings {
            heartbeat_interval_s: 60,
            double_press_window_ms: 700,
            long_press_ms: 3_000,
            cancel_window_ms: vigie_core::alarm::CANCEL_WINDOW_MS_DEFAULT,
            direct_sms_delay_ms: DIRECT_SMS_DELAY_MS_DEFAULT,
        });
        if let Some(d) = self.config.timing.direct_sms_delay_ms {
            s.direct_sms_delay_ms = d;
        }
        if let Some(h) = self.config.timing.heartbeat_interval_s {
            s.heartbeat_interval_s = h;
        }
        s
    }

    fn put(&self, item: Item) -> Option<u64> {
        match self.outbox.lock().map(|mut o| o.put(item)) {
            Ok(Ok(seq)) => Some(seq),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "outbox write failed");
                None
            }
            Err(_) => None,
        }
    }

    fn done(&self, seq: u64) {
        if let Ok(mut o) = self.outbox.lock()
            && let Err(e) = o.done(seq)
        {
            tracing::error!(error = %e, "outbox write failed");
        }
    }

    fn cipher(&self) -> Result<Arc<ChunkCipher>, CipherError> {
        let mut slot = self.cipher.lock().map_err(|_| CipherError::Damaged)?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(ChunkCipher::load_or_create(
            &self.config.state_dir.join(CHUNK_KEY_FILE),
        )?);
        *slot = Some(c.clone());
        Ok(c)
    }

    fn is_in_hand(&self, id: Uuid) -> bool {
        self.in_hand
            .lock()
            .map(|s| s.contains(&id))
            .unwrap_or(false)
    }
}

/// Run the box until `shutdown` turns true or the edges stop.
pub async fn run(
    config: AgentConfig,
    deps: Deps,
    mut edges: mpsc::Receiver<(Edge, Timestamp)>,
    mut shutdown: watch::Receiver<bool>,
    events: mpsc::UnboundedSender<AgentEvent>,
) -> anyhow::Result<()> {
    let (outbox, recovery) = Outbox::open(&config.state_dir.join("outbox"))?;
    if recovery.pending > 0 || recovery.corrupt_lines > 0 {
        tracing::warn!(
            pending = recovery.pending,
            corrupt_lines = recovery.corrupt_lines,
            "outbox recovered after a restart"
        );
    }
    let device = identity::load_config(&config.state_dir).or_else(|| direct_only_config(&config));
    let shared = Arc::new(Shared {
        outbox: Mutex::new(outbox),
        in_hand: Mutex::new(HashSet::new()),
        direct: Mutex::new(HashSet::new()),
        sending: Mutex::new(HashSet::new()),
        device: Mutex::new(device),
        recording: Mutex::new(None),
        cipher: Mutex::new(None),
        wake_uplink: Notify::new(),
        config,
        deps,
        events,
        started: Instant::now(),
    });
    // What the journal says was already sent directly, and alarms still to deliver.
    let pending = shared
        .outbox
        .lock()
        .map(|o| o.pending())
        .unwrap_or_default();
    for (_, item) in &pending {
        if let Item::DirectSent {
            alarm_id, phone, ..
        } = item
            && let Ok(mut d) = shared.direct.lock()
        {
            d.insert((*alarm_id, phone.clone()));
        }
    }
    for (_, item) in pending {
        if let Item::Alarm {
            alarm_id,
            pressed_at_ms,
            test: false,
            ..
        } = item
        {
            arm_direct(&shared, alarm_id, Timestamp(pressed_at_ms));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    if shared.deps.client.is_some() {
        tasks.spawn(uplink_loop(shared.clone(), shutdown.clone()));
        tasks.spawn(heartbeat_loop(shared.clone(), shutdown.clone()));
        tasks.spawn(self_test_loop(shared.clone(), shutdown.clone()));
    }
    let s = shared.settings();
    let mut press = PressMachine::new(PressSettings {
        double_press_window_ms: s.double_press_window_ms,
        long_press_ms: s.long_press_ms,
        cancel_window_ms: s.cancel_window_ms,
        ..PressSettings::default()
    });
    let mut current: Option<Uuid> = None;
    loop {
        let poll_in = press
            .next_poll_at()
            .map(|t| Duration::from_millis(t.ms_since(shared.now()).max(0) as u64));
        let event = tokio::select! {
            e = edges.recv() => match e {
                Some((edge, at)) => press.edge(edge, at),
                None => break,
            },
            _ = tokio::time::sleep(poll_in.unwrap_or(Duration::from_secs(3_600))), if poll_in.is_some() => press.poll(shared.now()),
            _ = shutdown.changed() => break,
        };
        let Some(event) = event else { continue };
        let handled = Instant::now();
        match event {
            PressEvent::RaiseAlarm { at } => {
                let id = Uuid::now_v7();
                current = Some(id);
                if shared
                    .put(Item::Alarm {
                        alarm_id: id,
                        pressed_at_ms: at.as_ms(),
                        recording: false,
                        test: false,
                    })
                    .is_some()
                {
                    let durable_us = handled.elapsed().as_micros() as u64;
                    tracing::info!(alarm = %id, durable_us, "press recorded");
                    let _ = shared.events.send(AgentEvent::Durable {
                        alarm_id: id,
                        durable_us,
                    });
                }
                shared.wake_uplink.notify_one();
                if shared.deps.client.is_none() {
                    spawn_direct(&shared, id, at);
                } else {
                    arm_direct(&shared, id, at);
                }
            }
            PressEvent::AddRecording { at } => {
                if let Some(id) = current {
                    shared.put(Item::Recording {
                        alarm_id: id,
                        requested_at_ms: at.as_ms(),
                    });
                    shared.wake_uplink.notify_one();
                    start_recording(&shared, id);
                }
            }
            PressEvent::Cancel { at } => {
                if let Some(id) = current.take() {
                    shared.put(Item::Cancel {
                        alarm_id: id,
                        cancel_pressed_at_ms: at.as_ms(),
                    });
                    shared.wake_uplink.notify_one();
                    stop_recording(&shared, id);
                    cancel_direct(&shared, id, at);
                }
            }
        }
    }
    drop(tasks);
    // A recording in progress ends with a final chunk.
    if let Ok(slot) = shared.recording.lock()
        && let Some(active) = slot.as_ref()
    {
        active.stop.notify_one();
    }
    Ok(())
}

/// The holder asked for a recording of `alarm_id`: open the microphone.
/// Only called on the holder's act (CNIL: nothing is captured before it).
fn start_recording(shared: &Arc<Shared>, alarm_id: Uuid) {
    let Some(config) = shared.config.recorder.clone() else {
        tracing::warn!(alarm = %alarm_id, "recording asked, but this box has no microphone ([recorder] is not configured)");
        return;
    };
    let Some(client) = shared.deps.client.clone() else {
        tracing::warn!(alarm = %alarm_id, "recording asked, but this box has no hub to keep it");
        return;
    };
    let recording_id = Uuid::now_v7();
    let stop = Arc::new(Notify::new());
    {
        let Ok(mut slot) = shared.recording.lock() else {
            return;
        };
        if let Some(active) = slot.as_ref() {
            tracing::info!(alarm = %alarm_id, recording = %active.recording_id, "already recording");
            return;
        }
        *slot = Some(ActiveRecording {
            alarm_id,
            recording_id,
            stop: stop.clone(),
        });
    }
    tracing::info!(alarm = %alarm_id, recording = %recording_id, "recording asked by the holder: opening the microphone");
    let _ = shared.events.send(AgentEvent::RecordingStarted {
        alarm_id,
        recording_id,
    });
    tokio::spawn(record(
        shared.clone(),
        client,
        config,
        alarm_id,
        recording_id,
        stop,
    ));
}

/// Stop the recording of `alarm_id`, if there is one: its last chunk comes out final.
fn stop_recording(shared: &Shared, alarm_id: Uuid) {
    if let Ok(slot) = shared.recording.lock()
        && let Some(active) = slot.as_ref()
        && active.alarm_id == alarm_id
    {
        tracing::info!(alarm = %alarm_id, recording = %active.recording_id, "stopping the recording");
        active.stop.notify_one();
    }
}

async fn record(
    shared: Arc<Shared>,
    client: Arc<HubClient>,
    config: RecorderConfig,
    alarm_id: Uuid,
    recording_id: Uuid,
    stop: Arc<Notify>,
) {
    let mut chunks = 0;
    match seal_chunks(
        &shared,
        &client,
        &config,
        (alarm_id, recording_id),
        &stop,
        &mut chunks,
    )
    .await
    {
        Ok(summary) => {
            tracing::info!(recording = %recording_id, chunks, end = ?summary.end, "recording sealed")
        }
        Err(e) => {
            tracing::error!(recording = %recording_id, chunks, error = %e, "recording failed")
        }
    }
    if let Ok(mut slot) = shared.recording.lock()
        && slot
            .as_ref()
            .is_some_and(|a| a.recording_id == recording_id)
    {
        *slot = None;
    }
    let _ = shared.events.send(AgentEvent::RecordingEnded {
        recording_id,
        chunks,
    });
}

/// Capture, seal each chunk as it comes, and put it in the outbox.
async fn seal_chunks(
    shared: &Arc<Shared>,
    client: &HubClient,
    config: &RecorderConfig,
    (alarm_id, recording_id): (Uuid, Uuid),
    stop: &Notify,
    sealed: &mut u64,
) -> anyhow::Result<RecordingSummary> {
    let cipher = shared.cipher()?;
    let source = config.source();
    let max = config.max_duration();
    // Opening a device may block (up to a few seconds for ALSA): not on the loop.
    // The wall clock of the records is the box's own (the one presses are
    // stamped with), never corrected: evidence keeps the raw box time.
    let wall_ms = shared.now().as_ms();
    let (recorder, mut rx) = tokio::task::spawn_blocking(move || {
        Recorder::start_at(source, max, move || CaptureInstant {
            wall_ms,
            ..CaptureInstant::now()
        })
    })
    .await??;
    let (recording, alarm) = (recording_id.to_string(), alarm_id.to_string());
    let device = client.device_id().to_string();
    let key = client.key().signing_key();
    let ms = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut prev = PREV_NONE;
    let mut stopping = false;
    loop {
        let chunk = tokio::select! {
            c = rx.recv() => match c {
                Some(c) => c,
                None => break,
            },
            _ = stop.notified(), if !stopping => {
                stopping = true;
                recorder.stop();
                continue;
            }
        };
        let started = Instant::now();
        // A device that failed mid-way leaves the recording truncated, not final.
        let is_final = chunk.is_final && !matches!(chunk.end, Some(EndReason::SourceFailed(_)));
        let record = ChunkRecord::for_audio(
            &recording,
            &alarm,
            &device,
            chunk.seq,
            prev,
            &chunk.bytes,
            (ms(chunk.wall_ms_start), ms(chunk.wall_ms_end)),
            (chunk.mono_ms_start, chunk.mono_ms_end),
            is_final,
        )
        // The box's own times stay in the record, with the correction it
        // signs its requests with, so evidence keeps both.
        .with_clock_correction(client.clock_offset_ms());
        let file = evidence::seal(&record, key)?;
        let seal_us = started.elapsed().as_micros() as u64;
        prev = evidence::record_hash(&file);
        let record = String::from_utf8(file)?;
        let audio_b64 = cipher.seal(recording_id, chunk.seq, &chunk.bytes);
        if shared
            .put(Item::Chunk {
                recording_id,
                alarm_id,
                seq: chunk.seq,
                record,
                audio_b64,
            })
            .is_none()
        {
            anyhow::bail!("chunk {} could not be written to the outbox", chunk.seq);
        }
        *sealed += 1;
        tracing::debug!(recording = %recording_id, seq = chunk.seq, seal_us, "chunk sealed");
        let _ = shared.events.send(AgentEvent::ChunkSealed {
            recording_id,
            seq: chunk.seq,
            seal_us,
        });
        shared.wake_uplink.notify_one();
    }
    Ok(recorder.finished().await?)
}

/// Whether an earlier chunk of the recording is still waiting in the outbox.
fn earlier_chunk_pending(shared: &Shared, recording: Uuid, before: u64) -> bool {
    shared
        .outbox
        .lock()
        .map(|o| {
            o.pending().iter().any(|(_, i)| {
                matches!(i, Item::Chunk { recording_id, seq, .. } if *recording_id == recording && *seq < before)
            })
        })
        .unwrap_or(false)
}

fn direct_only_config(config: &AgentConfig) -> Option<DeviceConfig> {
    let d = config.direct_only.as_ref()?;
    Some(DeviceConfig {
        config_version: "local".into(),
        shop: ShopSummary {
            name: d.shop_name.clone(),
            address: d.address.clone(),
            commune: d.commune.clone(),
        },
        settings: DeviceSettings {
            heartbeat_interval_s: 60,
            double_press_window_ms: 700,
            long_press_ms: 3_000,
            cancel_window_ms: vigie_core::alarm::CANCEL_WINDOW_MS_DEFAULT,
            direct_sms_delay_ms: 0,
        },
        direct_contacts: d
            .contacts
            .iter()
            .filter_map(|p| PhoneNumber::parse(p).ok())
            .map(|p| DirectContact {
                name: String::new(),
                phone: p.as_e164().to_string(),
                tier: 1,
            })
            .collect(),
    })
}

/// Arm the timer after which an alarm not in hand goes out through the modem.
fn arm_direct(shared: &Arc<Shared>, id: Uuid, pressed_at: Timestamp) {
    let delay = shared.settings().direct_sms_delay_ms;
    let remaining = (delay - shared.now().ms_since(pressed_at)).max(0) as u64;
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(remaining)).await;
        if !shared.is_in_hand(id) {
            direct_send(&shared, id, pressed_at).await;
        }
    });
}

fn spawn_direct(shared: &Arc<Shared>, id: Uuid, pressed_at: Timestamp) {
    let shared = shared.clone();
    tokio::spawn(async move { direct_send(&shared, id, pressed_at).await });
}

/// Marks an alarm as being sent through the modem until dropped.
struct Sending<'a> {
    shared: &'a Shared,
    id: Uuid,
}

impl<'a> Sending<'a> {
    /// None if the alarm is already being sent.
    fn claim(shared: &'a Shared, id: Uuid) -> Option<Self> {
        let claimed = shared
            .sending
            .lock()
            .map(|mut s| s.insert(id))
            .unwrap_or(false);
        // Built only when claimed: a guard dropped unused would release
        // another sender's claim (as `claimed.then_some(..)` did).
        if claimed {
            Some(Self { shared, id })
        } else {
            None
        }
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.sending.lock() {
            s.remove(&self.id);
        }
    }
}

/// Send the alarm to every contact through the modem (once per contact).
async fn direct_send(shared: &Arc<Shared>, id: Uuid, pressed_at: Timestamp) {
    // Already on its way: a second sender would check "already sent" before
    // the first has finished and send every contact the alarm again.
    let Some(_sending) = Sending::claim(shared, id) else {
        return;
    };
    let Some(modem) = shared.deps.modem.clone() else {
        tracing::error!(alarm = %id, "the hub has not confirmed the alarm and this box has no modem: nobody can be alerted directly");
        return;
    };
    let Some(device) = shared.device.lock().ok().and_then(|d| d.clone()) else {
        tracing::error!(alarm = %id, "no contacts known to this box: it was never configured by the hub");
        return;
    };
    let text = sms::direct_alert(
        &ShopLine {
            name: &device.shop.name,
            address: &device.shop.address,
            commune: &device.shop.commune,
        },
        pressed_at,
    );
    let mut contacts = device.direct_contacts.clone();
    contacts.sort_by_key(|c| c.tier);
    for contact in contacts {
        let already = shared
            .direct
            .lock()
            .map(|d| d.contains(&(id, contact.phone.clone())))
            .unwrap_or(false);
        // Sent before (perhaps before a restart), or the hub has it now: skip.
        if already || shared.is_in_hand(id) {
            continue;
        }
        let Ok(phone) = PhoneNumber::parse(&contact.phone) else {
            continue;
        };
        for attempt in 1..=DIRECT_SMS_ATTEMPTS_MAX {
            match modem.send_sms(&phone, &text.text).await {
                Ok(()) => {
                    if let Ok(mut d) = shared.direct.lock() {
                        d.insert((id, contact.phone.clone()));
                    }
                    shared.put(Item::DirectSent {
                        alarm_id: id,
                        phone: contact.phone.clone(),
                        sent_at_ms: shared.now().as_ms(),
                    });
                    tracing::info!(alarm = %id, to = %phone, "alarm SMS sent through the modem");
                    let _ = shared.events.send(AgentEvent::DirectSent {
                        alarm_id: id,
                        phone: contact.phone.clone(),
                    });
                    shared.wake_uplink.notify_one();
                    break;
                }
                Err(e) => {
                    tracing::warn!(alarm = %id, to = %phone, attempt, error = %e, "direct SMS failed")
                }
            }
        }
    }
    // Without a hub, the alarm is done once the modem has sent it.
    if shared.deps.client.is_none() {
        finish_direct_only(shared, id);
    }
}

fn finish_direct_only(shared: &Arc<Shared>, id: Uuid) {
    let seqs: Vec<u64> = shared
        .outbox
        .lock()
        .map(|o| o.pending())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, i)| i.alarm_id() == id)
        .map(|(s, _)| s)
        .collect();
    for s in seqs {
        shared.done(s);
    }
}

/// A cancel: those the box alerted itself are told it was a false alarm.
fn cancel_direct(shared: &Arc<Shared>, id: Uuid, at: Timestamp) {
    let phones: Vec<String> = shared
        .direct
        .lock()
        .map(|d| {
            d.iter()
                .filter(|(a, _)| *a == id)
                .map(|(_, p)| p.clone())
                .collect()
        })
        .unwrap_or_default();
    let (Some(modem), false) = (shared.deps.modem.clone(), phones.is_empty()) else {
        return;
    };
    let name = shared
        .device
        .lock()
        .ok()
        .and_then(|d| d.as_ref().map(|d| d.shop.name.clone()))
        .unwrap_or_default();
    let text = sms::cancelled(&name, at);
    tokio::spawn(async move {
        for p in phones {
            if let Ok(phone) = PhoneNumber::parse(&p)
                && let Err(e) = modem.send_sms(&phone, &text.text).await
            {
                tracing::warn!(to = %phone, error = %e, "cancel SMS through the modem failed");
            }
        }
    });
}

/// Deliver the outbox to the hub, in order, until shutdown.
async fn uplink_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let Some(client) = shared.deps.client.clone() else {
        return;
    };
    let mut backoff_ms = UPLINK_BACKOFF_MS_MIN;
    loop {
        let items = shared
            .outbox
            .lock()
            .map(|o| o.pending())
            .unwrap_or_default();
        let mut unreachable = false;
        let mut again = false;
        // An item refused for now: the round goes on, the next one waits.
        let mut kept = false;
        for (seq, item) in &items {
            match deliver(&shared, &client, *seq, item, &items).await {
                Ok(()) => {}
                Err(UplinkError::Refused { code, .. })
                    if code == CHUNK_GAP
                        && matches!(item, Item::Chunk { recording_id, seq: s, .. }
                            if earlier_chunk_pending(&shared, *recording_id, *s)) =>
                {
                    tracing::warn!(
                        ?seq,
                        "the hub misses an earlier chunk: sending again from the earliest one here"
                    );
                    again = true;
                    break;
                }
                Err(UplinkError::Refused { code, message, .. })
                    if code == ALARM_CLOSED && matches!(item, Item::Chunk { .. }) =>
                {
                    tracing::info!(alarm = %item.alarm_id(), %message, "the hub says the alarm is closed: recording stopped");
                    stop_recording(&shared, item.alarm_id());
                    shared.done(*seq);
                }
                Err(UplinkError::Unreachable(e)) => {
                    tracing::warn!(error = %e, backoff_ms, "hub unreachable; will retry");
                    // The hub is known to be out of reach: alarms not in hand go out now.
                    for (_, i) in &items {
                        if let Item::Alarm {
                            alarm_id,
                            pressed_at_ms,
                            test: false,
                            ..
                        } = i
                            && !shared.is_in_hand(*alarm_id)
                            && !shared
                                .direct
                                .lock()
                                .map(|d| d.iter().any(|(a, _)| a == alarm_id))
                                .unwrap_or(true)
                        {
                            spawn_direct(&shared, *alarm_id, Timestamp(*pressed_at_ms));
                        }
                    }
                    unreachable = true;
                    break;
                }
                Err(refused) if refused.box_action() != BoxAction::Drop => {
                    // Recoverable (the shared table says so): nothing sealed is
                    // dropped. Kept for the next round, after the others.
                    tracing::warn!(error = %refused, ?item, "the hub refused this item for now; keeping it");
                    if let Item::Alarm {
                        alarm_id,
                        pressed_at_ms,
                        test: false,
                        ..
                    } = item
                        && !shared.is_in_hand(*alarm_id)
                    {
                        // Not in the hub's hands: the contacts must not wait for it.
                        spawn_direct(&shared, *alarm_id, Timestamp(*pressed_at_ms));
                    }
                    kept = true;
                }
                Err(refused) => {
                    tracing::error!(error = %refused, ?item, "the hub refused this item for good; dropping it");
                    if let Item::Alarm {
                        alarm_id,
                        pressed_at_ms,
                        test: false,
                        ..
                    } = item
                    {
                        // The hub will not handle it: the box alerts the contacts itself.
                        spawn_direct(&shared, *alarm_id, Timestamp(*pressed_at_ms));
                    }
                    shared.done(*seq);
                }
            }
        }
        let wait = if unreachable || kept {
            let jitter = rand::random::<u64>() % (backoff_ms / 2 + 1);
            let w = backoff_ms + jitter;
            backoff_ms = (backoff_ms * 2).min(UPLINK_BACKOFF_MS_MAX);
            Duration::from_millis(w)
        } else {
            backoff_ms = UPLINK_BACKOFF_MS_MIN;
            Duration::from_secs(60)
        };
        let (more, progressed) = shared
            .outbox
            .lock()
            .map(|o| {
                let still: HashSet<u64> = o.pending().iter().map(|(s, _)| *s).collect();
                (
                    !still.is_empty(),
                    items.iter().any(|(s, _)| !still.contains(s)),
                )
            })
            .unwrap_or((false, false));
        let wait = if again || (!unreachable && !kept && more && progressed) {
            Duration::ZERO
        } else if !unreachable && !kept && more {
            // Items wait (a chunk for its alarm): look again soon, not in a spin.
            Duration::from_millis(UPLINK_STUCK_WAIT_MS)
        } else {
            wait
        };
        tokio::select! {
            _ = shared.wake_uplink.notified(), if !unreachable => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn deliver(
    shared: &Arc<Shared>,
    client: &HubClient,
    seq: u64,
    item: &Item,
    all: &[(u64, Item)],
) -> Result<(), UplinkError> {
    let now = shared.now().as_ms();
    match item {
        Item::Alarm {
            alarm_id,
            pressed_at_ms,
            recording,
            test,
        } => {
            let direct: Vec<(u64, DirectSms)> = all
                .iter()
                .filter_map(|(s, i)| match i {
                    Item::DirectSent {
                        alarm_id: a,
                        phone,
                        sent_at_ms,
                    } if a == alarm_id => Some((
                        *s,
                        DirectSms {
                            phone: phone.clone(),
                            sent_at_ms: *sent_at_ms,
                        },
                    )),
                    _ => None,
                })
                .collect();
            let req = RaiseAlarm {
                alarm_id: *alarm_id,
                pressed_at_ms: *pressed_at_ms,
                sent_at_ms: now,
                recording: *recording,
                direct_sms: direct.iter().map(|(_, d)| d.clone()).collect(),
                test: *test,
            };
            let receipt = client.raise(&req, now).await?;
            if let Ok(mut h) = shared.in_hand.lock() {
                h.insert(*alarm_id);
            }
            tracing::info!(alarm = %alarm_id, duplicate = receipt.duplicate, late_by_ms = ?receipt.late_by_ms, "alarm in hand at the hub");
            let _ = shared.events.send(AgentEvent::InHand {
                alarm_id: *alarm_id,
            });
            shared.done(seq);
            for (s, _) in direct {
                shared.done(s);
            }
        }
        Item::Cancel {
            alarm_id,
            cancel_pressed_at_ms,
        } => {
            client.cancel(*alarm_id, *cancel_pressed_at_ms, now).await?;
            shared.done(seq);
        }
        Item::Recording {
            alarm_id,
            requested_at_ms,
        } => {
            client
                .request_recording(*alarm_id, *requested_at_ms, now)
                .await?;
            shared.done(seq);
        }
        Item::Chunk {
            recording_id,
            alarm_id,
            seq: chunk_seq,
            record,
            audio_b64,
        } => {
            // The hub files chunks under their alarm: wait until it has it.
            let alarm_waiting = !shared.is_in_hand(*alarm_id)
                && all
                    .iter()
                    .any(|(_, i)| matches!(i, Item::Alarm { alarm_id: a, .. } if a == alarm_id));
            if alarm_waiting {
                return Ok(());
            }
            let audio = match shared
                .cipher()
                .and_then(|c| c.open(*recording_id, *chunk_seq, audio_b64))
            {
                Ok(audio) => audio,
                Err(e) => {
                    tracing::error!(recording = %recording_id, seq = chunk_seq, error = %e, "chunk unreadable in the outbox; dropping it");
                    shared.done(seq);
                    return Ok(());
                }
            };
            let body = UploadChunk {
                record: record.clone(),
                audio: base64::engine::general_purpose::STANDARD.encode(audio),
            };
            let receipt = client.upload_chunk(*recording_id, &body, now).await?;
            tracing::debug!(recording = %recording_id, seq = chunk_seq, log_index = receipt.log_index, duplicate = receipt.duplicate, "chunk acknowledged");
            shared.done(seq);
            let _ = shared.events.send(AgentEvent::ChunkUploaded {
                recording_id: *recording_id,
                seq: *chunk_seq,
                log_index: receipt.log_index,
            });
        }
        Item::DirectSent {
            alarm_id,
            phone,
            sent_at_ms,
        } => {
            // Reported with its alarm if the alarm is still to be raised.
            if shared.is_in_hand(*alarm_id) {
                client
                    .report_direct(
                        *alarm_id,
                        vec![DirectSms {
                            phone: phone.clone(),
                            sent_at_ms: *sent_at_ms,
                        }],
                        now,
                    )
                    .await?;
                shared.done(seq);
            }
        }
    }
    Ok(())
}

/// The silent end-to-end test: a test alarm through the same outbox and
/// uplink as a real one, which the hub turns into one SMS to its test sink
/// (never to the contacts). The time of the last one is kept on disk so a
/// restart does not skip or repeat it.
async fn self_test_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let hours = shared
        .config
        .timing
        .self_test_interval_h
        .unwrap_or(SELF_TEST_INTERVAL_H_DEFAULT);
    if hours == 0 {
        return;
    }
    let period_ms = i64::from(hours) * 3_600_000;
    let path = shared.config.state_dir.join("last_self_test");
    loop {
        let last = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok());
        let now = shared.now();
        // A new box tests within the first hour; then every period.
        let due_at = match last {
            Some(t) => Timestamp(t).plus_ms(period_ms),
            None => now.plus_ms((rand::random::<u64>() % 3_600_000) as i64),
        };
        let wait = due_at.ms_since(now);
        if wait <= 0 {
            let id = Uuid::now_v7();
            if shared
                .put(Item::Alarm {
                    alarm_id: id,
                    pressed_at_ms: now.as_ms(),
                    recording: false,
                    test: true,
                })
                .is_some()
            {
                tracing::info!(alarm = %id, "silent end-to-end test queued");
                shared.wake_uplink.notify_one();
                if let Err(e) = identity::write_private(&path, now.as_ms().to_string().as_bytes()) {
                    tracing::warn!(error = %e, "cannot record the self-test time");
                }
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Tell the hub the box is alive, and refresh settings when they changed.
async fn heartbeat_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let Some(client) = shared.deps.client.clone() else {
        return;
    };
    loop {
        let (state, signal_csq) = match &shared.deps.modem {
            Some(m) => match tokio::time::timeout(
                Duration::from_millis(MODEM_STATUS_TIMEOUT_MS),
                m.status(),
            )
            .await
            {
                Ok(Ok(s)) => (s.state, s.signal_csq),
                _ => (ModemState::Absent, None),
            },
            None => (ModemState::Absent, None),
        };
        let (battery_pct, on_mains) =
            crate::health::power(std::path::Path::new("/sys/class/power_supply"));
        let hb = Heartbeat {
            sent_at_ms: shared.now().as_ms(),
            battery_pct,
            on_mains,
            signal_csq,
            modem: state,
            free_storage_mb: crate::health::free_storage_mb(&shared.config.state_dir),
            version: env!("CARGO_PKG_VERSION").into(),
            outbox_depth: shared.outbox.lock().map(|o| o.depth() as u32).unwrap_or(0),
            uptime_s: shared.started.elapsed().as_secs(),
            clock_offset_ms: client.clock_offset_ms(),
        };
        match client.heartbeat(&hb, hb.sent_at_ms).await {
            Ok(ack) => {
                let _ = shared.events.send(AgentEvent::Heartbeat);
                let known = shared
                    .device
                    .lock()
                    .ok()
                    .and_then(|d| d.as_ref().map(|d| d.config_version.clone()));
                if known.as_deref() != Some(ack.config_version.as_str()) {
                    match client.config(shared.now().as_ms()).await {
                        Ok(config) => {
                            if let Err(e) = identity::save_config(&shared.config.state_dir, &config)
                            {
                                tracing::warn!(error = %e, "cannot cache the settings");
                            }
                            tracing::info!(version = %config.config_version, contacts = config.direct_contacts.len(), "settings and contacts updated");
                            if let Ok(mut d) = shared.device.lock() {
                                *d = Some(config);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot fetch settings"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat not delivered"),
        }
        let interval =
            Duration::from_secs(u64::from(shared.settings().heartbeat_interval_s.max(1)));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
