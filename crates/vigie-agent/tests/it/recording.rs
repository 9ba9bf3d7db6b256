//! Recording on the box, through the agent's own loop: the double press
//! opens the microphone (a WAV from `make_speech.sh`, or a live FIFO), each
//! chunk is sealed and kept in the outbox with its audio encrypted, and the
//! uplink delivers the chunks in order to a real hub.
//!
//! Without a hub, the box's client points at a closed port: the hub is
//! unreachable, exactly as with the network down, and everything stays in
//! the outbox where the test reads it back.

use base64::Engine as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;
use vigie_agent::agent::{AgentEvent, Deps};
use vigie_agent::config::AgentConfig;
use vigie_agent::outbox::{ChunkCipher, Item, Outbox};
use vigie_agent::uplink::HubClient;
use vigie_core::Timestamp;
use vigie_core::press::Edge;
use vigie_evidence::chain::{self, ChainEnd};
use vigie_evidence::record::{self, SignedRecord};
use vigie_hub::app::RunningHub;
use vigie_hub::clock::{Clock, ManualClock};
use vigie_proto::signature::DeviceKey;

/// 2026-11-26 14h32 in Paris.
const T0: Timestamp = Timestamp(1_795_699_920_000);
/// Upper bound for anything the box does; reaching it is a failure.
const DEADLINE: Duration = Duration::from_secs(60);
const DEVICE: &str = "dev-test-box";

struct TestBox {
    edges: mpsc::Sender<(Edge, Timestamp)>,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_box(
    state: &Path,
    client: HubClient,
    clock: Arc<ManualClock>,
    recorder: Option<String>,
) -> TestBox {
    let recorder = recorder
        .map(|r| format!("[recorder]\n{r}\n"))
        .unwrap_or_default();
    let config = AgentConfig::parse(&format!(
        "state_dir = \"{}\"\n{recorder}[timing]\ndirect_sms_delay_ms = 600000\nheartbeat_interval_s = 3600\nself_test_interval_h = 0\n",
        state.display()
    ))
    .expect("agent config");
    let (edges, rx) = mpsc::channel(16);
    let (events_tx, events) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let now = Arc::new(move || clock.now());
    let deps = Deps {
        client: Some(Arc::new(client)),
        modem: None,
        now,
    };
    let task = tokio::spawn(vigie_agent::agent::run(
        config,
        deps,
        rx,
        shutdown_rx,
        events_tx,
    ));
    TestBox {
        edges,
        events,
        shutdown,
        task,
    }
}

impl TestBox {
    async fn press(&self, command: &str, at: Timestamp) {
        for e in vigie_agent::button::edges_for(command, at) {
            self.edges.send(e).await.expect("agent running");
        }
    }

    /// Events up to and including the first one `want` accepts.
    async fn until(&mut self, what: &str, want: impl Fn(&AgentEvent) -> bool) -> Vec<AgentEvent> {
        let mut seen = Vec::new();
        loop {
            let e = tokio::time::timeout(DEADLINE, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {seen:?}"))
                .expect("agent still running");
            let done = want(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
    }

    /// A clean stop: the loop returns; every event it sent is then in the channel.
    async fn stop(mut self) -> Vec<AgentEvent> {
        let _ = self.shutdown.send(true);
        self.task.await.expect("join").expect("agent ran");
        let mut rest = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            rest.push(e);
        }
        rest
    }

    /// As a crash would: nothing beyond what is already on disk.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A client whose hub is unreachable (a port nobody listens on).
async fn unreachable_client(key: &DeviceKey) -> HubClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    HubClient::new(
        &format!("http://{addr}"),
        DEVICE,
        DeviceKey::from_bytes(&key.to_bytes()).expect("key"),
    )
}

/// The chunks in the box's outbox, in order: (recording, alarm, seq, record, encrypted audio).
fn outbox_chunks(state: &Path) -> Vec<(Uuid, Uuid, u64, String, String)> {
    let (outbox, recovery) = Outbox::open(&state.join("outbox")).expect("outbox");
    assert_eq!(recovery.corrupt_lines, 0);
    outbox
        .pending()
        .into_iter()
        .filter_map(|(_, i)| match i {
            Item::Chunk {
                recording_id,
                alarm_id,
                seq,
                record,
                audio_b64,
            } => Some((recording_id, alarm_id, seq, record, audio_b64)),
            _ => None,
        })
        .collect()
}

/// Parses, verifies and chains the records; checks each chunk's audio
/// decrypts with the box's key and matches its record. Returns the records
/// and the joined audio.
fn check_chunks(
    state: &Path,
    key: &DeviceKey,
    chunks: &[(Uuid, Uuid, u64, String, String)],
) -> (Vec<SignedRecord>, ChainEnd, Vec<u8>) {
    let cipher = ChunkCipher::load_or_create(&state.join("chunk.key")).expect("chunk key");
    let vk = key.signing_key().verifying_key();
    let mut records = Vec::new();
    let mut joined = Vec::new();
    for (recording_id, alarm_id, seq, text, audio_b64) in chunks {
        let signed = record::parse(text.as_bytes()).expect("a valid record");
        assert!(record::verify(&signed, vk), "signed by the device key");
        assert_eq!(signed.record.seq, *seq);
        assert_eq!(signed.record.recording, recording_id.to_string());
        assert_eq!(signed.record.alarm, alarm_id.to_string());
        assert_eq!(signed.record.device, DEVICE);
        // At rest the audio is not the Ogg bytes in base64 ("OggS" is "T2dnUw").
        assert!(!audio_b64.starts_with("T2dnUw"), "audio kept in clear");
        let audio = cipher
            .open(*recording_id, *seq, audio_b64)
            .expect("audio decrypts");
        assert_eq!(
            vigie_evidence::text::sha256(&audio),
            signed.record.audio_sha256
        );
        assert_eq!(audio.len() as u64, signed.record.audio_bytes);
        assert!(audio.starts_with(b"OggS"), "whole Ogg pages");
        joined.extend_from_slice(&audio);
        records.push(signed);
    }
    let end = chain::check(&records).expect("an unbroken chain");
    (records, end, joined)
}

fn seal_times(events: &[AgentEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ChunkSealed { seal_us, .. } => Some(*seal_us),
            _ => None,
        })
        .collect()
}

fn started(events: &[AgentEvent]) -> Option<(Uuid, Uuid)> {
    events.iter().find_map(|e| match e {
        AgentEvent::RecordingStarted {
            alarm_id,
            recording_id,
        } => Some((*alarm_id, *recording_id)),
        _ => None,
    })
}

fn durable(events: &[AgentEvent]) -> Option<Uuid> {
    events.iter().find_map(|e| match e {
        AgentEvent::Durable { alarm_id, .. } => Some(*alarm_id),
        _ => None,
    })
}

#[tokio::test]
async fn a_double_press_seals_chained_chunks_into_the_outbox_and_a_restart_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, script) = crate::recorder::make_speech(dir.path());
    let state = dir.path().join("box");
    let key = DeviceKey::generate();
    let clock = ManualClock::new(T0);
    let mut b = start_box(
        &state,
        unreachable_client(&key).await,
        clock.clone(),
        Some(format!("wav = \"{}\"", wav.display())),
    );
    b.press("d", clock.now()).await;
    let mut events = b
        .until("the end of the recording", |e| {
            matches!(e, AgentEvent::RecordingEnded { .. })
        })
        .await;
    let (alarm_id, recording_id) = started(&events).expect("recording started");
    assert_eq!(
        durable(&events),
        Some(alarm_id),
        "the current alarm is recorded"
    );
    assert_eq!(recording_id.get_version_num(), 7, "a UUID v7");
    events.extend(b.stop().await);

    let chunks = outbox_chunks(&state);
    let expected = (script.duration * 1_000.0 / 2_000.0).ceil() as usize;
    assert_eq!(chunks.len(), expected, "one chunk per 2 s of speech");
    let (records, end, joined) = check_chunks(&state, &key, &chunks);
    assert_eq!(
        end,
        ChainEnd::Final {
            last_seq: expected as u64 - 1
        },
        "the WAV's end closes the recording"
    );
    assert!(
        records
            .iter()
            .all(|r| r.record.alarm == alarm_id.to_string())
    );
    for pair in records.windows(2) {
        assert_eq!(pair[0].record.wall_ms.1, pair[1].record.wall_ms.0);
        assert_eq!(pair[0].record.mono_ms.1, pair[1].record.mono_ms.0);
    }
    // The chunks joined are the whole recording, with the speech in it.
    let (pcm, rate) = vigie_timeline::ogg_opus_to_pcm(&joined).expect("decode");
    let played = pcm.len() as f64 / f64::from(rate);
    assert!((played - script.duration).abs() < 0.05, "{played} s");
    // Every chunk's sealing was measured.
    let times = seal_times(&events);
    assert_eq!(times.len(), expected);
    let mut sorted = times.clone();
    sorted.sort_unstable();
    eprintln!(
        "seal time per 2 s chunk: median {} µs, max {} µs ({} chunks, this build's profile)",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
        sorted.len()
    );
    let key_mode = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(state.join("chunk.key"))
            .expect("chunk key made on first use")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(key_mode, 0o600);

    // A restart with the hub still away: the chunks are all still there.
    let b = start_box(
        &state,
        unreachable_client(&key).await,
        clock.clone(),
        Some(format!("wav = \"{}\"", wav.display())),
    );
    let after = b.stop().await;
    assert!(started(&after).is_none(), "a restart records nothing");
    assert_eq!(outbox_chunks(&state), chunks, "kept across the restart");
}

#[tokio::test]
async fn a_single_press_opens_no_microphone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, _) = crate::recorder::make_speech(dir.path());
    let state = dir.path().join("box");
    let key = DeviceKey::generate();
    let clock = ManualClock::new(T0);
    let mut b = start_box(
        &state,
        unreachable_client(&key).await,
        clock.clone(),
        Some(format!("wav = \"{}\"", wav.display())),
    );
    b.press("p", clock.now()).await;
    let mut events = b
        .until("the press on disk", |e| {
            matches!(e, AgentEvent::Durable { .. })
        })
        .await;
    // A second press long after the double-press window is no double press.
    clock.advance_ms(2_000);
    b.press("p", clock.now()).await;
    events.extend(b.stop().await);
    assert!(
        !events.iter().any(|e| matches!(
            e,
            AgentEvent::RecordingStarted { .. } | AgentEvent::ChunkSealed { .. }
        )),
        "{events:?}"
    );
    assert!(outbox_chunks(&state).is_empty());
    assert!(
        !state.join("chunk.key").exists(),
        "nothing was ever sealed or encrypted"
    );
}

#[tokio::test]
async fn no_recorder_section_means_no_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("box");
    let key = DeviceKey::generate();
    let clock = ManualClock::new(T0);
    let mut b = start_box(&state, unreachable_client(&key).await, clock.clone(), None);
    b.press("d", clock.now()).await;
    b.until("the press on disk", |e| {
        matches!(e, AgentEvent::Durable { .. })
    })
    .await;
    let events = b.stop().await;
    assert!(started(&events).is_none(), "{events:?}");
    // The request itself still reaches the hub.
    let (outbox, _) = Outbox::open(&state.join("outbox")).expect("outbox");
    assert!(
        outbox
            .pending()
            .iter()
            .any(|(_, i)| matches!(i, Item::Recording { .. }))
    );
    assert!(outbox_chunks(&state).is_empty());
}

/// A microphone that never ends by itself: a WAV header announcing a huge
/// length, then a tone written into a FIFO for as long as someone reads.
/// The thread returns how many bytes it wrote before the reader went away.
fn live_microphone(dir: &Path) -> (PathBuf, std::thread::JoinHandle<u64>) {
    let path = dir.join("mic.wav");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let fifo = path.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open the FIFO");
        let data_len: u32 = 0x7fff_0000;
        let mut header = Vec::new();
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&(data_len + 36).to_le_bytes());
        header.extend_from_slice(b"WAVEfmt ");
        header.extend_from_slice(&16u32.to_le_bytes());
        header.extend_from_slice(&1u16.to_le_bytes()); // PCM
        header.extend_from_slice(&1u16.to_le_bytes()); // mono
        header.extend_from_slice(&16_000u32.to_le_bytes());
        header.extend_from_slice(&32_000u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&16u16.to_le_bytes());
        header.extend_from_slice(b"data");
        header.extend_from_slice(&data_len.to_le_bytes());
        if f.write_all(&header).is_err() {
            return 0;
        }
        let mut written = 0u64;
        let mut n = 0u64;
        loop {
            let block: Vec<u8> = (0..320)
                .flat_map(|_| {
                    n += 1;
                    let t = n as f32 / 16_000.0;
                    ((6_000.0 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()) as i16)
                        .to_le_bytes()
                })
                .collect();
            // The reader closed: the microphone was closed.
            if f.write_all(&block).is_err() {
                return written;
            }
            written += block.len() as u64;
        }
    });
    (path, writer)
}

#[tokio::test]
async fn a_cancel_stops_the_recording_with_a_final_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mic, writer) = live_microphone(dir.path());
    let state = dir.path().join("box");
    let key = DeviceKey::generate();
    let clock = ManualClock::new(T0);
    let mut b = start_box(
        &state,
        unreachable_client(&key).await,
        clock.clone(),
        Some(format!("wav = \"{}\"\nmax_duration_s = 600", mic.display())),
    );
    let pressed = clock.now();
    b.press("d", pressed).await;
    b.until(
        "three chunks",
        |e| matches!(e, AgentEvent::ChunkSealed { seq, .. } if *seq >= 2),
    )
    .await;
    // A long press within the cancel window: the alarm is cancelled.
    b.press("l", pressed.plus_ms(5_000)).await;
    let events = b
        .until("the end of the recording", |e| {
            matches!(e, AgentEvent::RecordingEnded { .. })
        })
        .await;
    b.stop().await;
    let written = writer.join().expect("writer");
    let chunks = outbox_chunks(&state);
    let (records, end, _) = check_chunks(&state, &key, &chunks);
    let last = records.last().expect("records");
    assert_eq!(
        end,
        ChainEnd::Final {
            last_seq: last.record.seq
        }
    );
    assert!(last.record.is_final, "the last chunk is final");
    let recorded_s = (last.record.mono_ms.1 - records[0].record.mono_ms.0) / 1_000;
    assert!(recorded_s < 600, "stopped by the cancel, not the maximum");
    assert!(
        written < 600 * 32_000,
        "the microphone was closed: {written} bytes written"
    );
    assert!(events.iter().any(|e| matches!(e, AgentEvent::RecordingEnded { chunks, .. } if *chunks == records.len() as u64)));
    let (outbox, _) = Outbox::open(&state.join("outbox")).expect("outbox");
    assert!(
        outbox
            .pending()
            .iter()
            .any(|(_, i)| matches!(i, Item::Cancel { .. })),
        "the cancel is on its way to the hub"
    );
}

// ---- Against a real hub ----

fn uploaded(events: &[AgentEvent], recording: Uuid) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ChunkUploaded {
                recording_id, seq, ..
            } if *recording_id == recording => Some(*seq),
            _ => None,
        })
        .collect()
}

/// The hub's log holds exactly the box's records, in order, once each.
async fn assert_hub_has(hub: &RunningHub, recording: Uuid, records: &[SignedRecord]) {
    let entries = hub
        .store
        .recording_entries(recording)
        .await
        .expect("log entries");
    let logged: Vec<&[u8]> = entries
        .iter()
        .filter(|e| e.kind == "record")
        .map(|e| e.entry.as_slice())
        .collect();
    let boxed: Vec<&[u8]> = records.iter().map(|r| r.bytes.as_slice()).collect();
    assert_eq!(
        logged, boxed,
        "the hub logged the box's records, in order, once"
    );
    let (rec, _) = hub.store.recording(recording).await.expect("recording");
    assert_eq!(rec.chunks, records.len() as u64);
    assert!(rec.is_final, "the hub knows the recording ended");
}

/// What a double press recorded live to a real hub, once every chunk is
/// acknowledged and the box stopped.
struct Recorded {
    hub: RunningHub,
    events: Vec<AgentEvent>,
    alarm: Uuid,
    /// The chunk records in the hub's log, in order.
    records: Vec<SignedRecord>,
}

/// A double press on a box whose clock is `box_clock`, recorded live to a
/// hub on `hub_clock`; fails unless every chunk reaches the hub and the
/// outbox forgets them.
async fn record_live(
    dir: &Path,
    hub_clock: Arc<ManualClock>,
    box_clock: Arc<ManualClock>,
) -> Recorded {
    let (wav, _) = crate::recorder::make_speech(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hub = crate::hub_on(listener, &dir.join("hub.db"), hub_clock.clone()).await;
    let code = crate::seed(&hub, &hub_clock).await;
    let (client, _) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
    let state = dir.join("box");
    let mut b = start_box(
        &state,
        client,
        box_clock.clone(),
        Some(format!("wav = \"{}\"", wav.display())),
    );
    b.press("d", box_clock.now()).await;
    let mut events = b
        .until("the end of the recording", |e| {
            matches!(e, AgentEvent::RecordingEnded { .. })
        })
        .await;
    let (alarm, recording) = started(&events).expect("started");
    let chunks = events
        .iter()
        .filter(|e| matches!(e, AgentEvent::ChunkSealed { .. }))
        .count() as u64;
    while uploaded(&events, recording).len() < chunks as usize {
        events.extend(
            b.until("every chunk at the hub", |e| {
                matches!(e, AgentEvent::ChunkUploaded { .. })
            })
            .await,
        );
    }
    assert_eq!(
        uploaded(&events, recording),
        (0..chunks).collect::<Vec<_>>()
    );
    events.extend(b.stop().await);
    assert!(
        outbox_chunks(&state).is_empty(),
        "acknowledged chunks are forgotten"
    );
    let records: Vec<SignedRecord> = hub
        .store
        .recording_entries(recording)
        .await
        .expect("entries")
        .iter()
        .filter(|e| e.kind == "record")
        .map(|e| record::parse(&e.entry).expect("record"))
        .collect();
    assert_eq!(records.len() as u64, chunks);
    assert_hub_has(&hub, recording, &records).await;
    Recorded {
        hub,
        events,
        alarm,
        records,
    }
}

#[tokio::test]
async fn chunks_go_live_to_the_hub_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let r = record_live(dir.path(), clock.clone(), clock).await;
    assert_eq!(
        chain::check(&r.records).expect("chain"),
        ChainEnd::Final {
            last_seq: r.records.len() as u64 - 1
        }
    );
    r.hub.shutdown().await;
}

#[tokio::test]
async fn a_recording_made_while_the_hub_is_down_survives_a_crash_and_arrives_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, _) = crate::recorder::make_speech(dir.path());
    let clock = ManualClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hub = crate::hub_on(listener, &dir.path().join("hub.db"), clock.clone()).await;
    let code = crate::seed(&hub, &clock).await;
    let (client, _) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
    let (hub_url, device_id) = (client.hub().to_string(), client.device_id().to_string());
    let key = DeviceKey::from_bytes(&client.key().to_bytes()).expect("key");
    hub.shutdown().await;

    // The hub is down: the whole recording waits in the outbox; the box crashes.
    let state = dir.path().join("box");
    let recorder = Some(format!("wav = \"{}\"", wav.display()));
    let mut b = start_box(&state, client, clock.clone(), recorder.clone());
    b.press("d", clock.now()).await;
    let events = b
        .until("the end of the recording", |e| {
            matches!(e, AgentEvent::RecordingEnded { .. })
        })
        .await;
    let (_, recording) = started(&events).expect("started");
    assert!(uploaded(&events, recording).is_empty());
    b.kill().await;
    let waiting = outbox_chunks(&state);
    assert!(waiting.len() >= 2);

    // The hub is back and the box restarts: every chunk arrives, in order, once.
    clock.advance_ms(60_000);
    let listener = crate::rebind(addr).await;
    let hub = crate::hub_on(listener, &dir.path().join("hub.db"), clock.clone()).await;
    let client = HubClient::new(
        &hub_url,
        &device_id,
        DeviceKey::from_bytes(&key.to_bytes()).expect("key"),
    );
    let mut b = start_box(&state, client, clock.clone(), recorder);
    let mut events = Vec::new();
    while uploaded(&events, recording).len() < waiting.len() {
        events.extend(
            b.until("the chunks at the hub", |e| {
                matches!(e, AgentEvent::ChunkUploaded { .. })
            })
            .await,
        );
    }
    let in_hand = events
        .iter()
        .position(|e| matches!(e, AgentEvent::InHand { .. }))
        .expect("the alarm reached the hub");
    let first_chunk = events
        .iter()
        .position(|e| matches!(e, AgentEvent::ChunkUploaded { .. }))
        .expect("chunks");
    assert!(in_hand < first_chunk, "chunks wait for their alarm");
    assert_eq!(
        uploaded(&events, recording),
        (0..waiting.len() as u64).collect::<Vec<_>>()
    );
    b.stop().await;
    assert!(outbox_chunks(&state).is_empty());
    let (records, _, _) = check_chunks_from_texts(&waiting);
    assert_hub_has(&hub, recording, &records).await;
    hub.shutdown().await;
}

fn check_chunks_from_texts(
    chunks: &[(Uuid, Uuid, u64, String, String)],
) -> (Vec<SignedRecord>, ChainEnd, ()) {
    let records: Vec<SignedRecord> = chunks
        .iter()
        .map(|(_, _, _, text, _)| record::parse(text.as_bytes()).expect("record"))
        .collect();
    let end = chain::check(&records).expect("chain");
    (records, end, ())
}

#[test]
fn the_base64_of_ogg_starts_as_the_at_rest_check_assumes() {
    // `check_chunks` relies on this to tell encrypted audio from plain.
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"OggS\0\x02");
    assert!(b64.starts_with("T2dnUw"));
}

#[tokio::test]
async fn a_box_three_days_behind_with_no_modem_gets_its_alarm_escalated_and_its_recording_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub_clock = ManualClock::new(T0);
    // A Raspberry Pi booted without network time: three days behind.
    let box_clock = ManualClock::new(T0.plus_ms(-3 * 24 * 3_600_000));
    let r = record_live(dir.path(), hub_clock.clone(), box_clock).await;
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, AgentEvent::InHand { alarm_id } if *alarm_id == r.alarm)),
        "the hub took the alarm"
    );
    // The hub escalates the alarm: its first tier is alerted by SMS.
    let detail = r
        .hub
        .store
        .alarm(r.alarm)
        .await
        .expect("the alarm is at the hub");
    assert!(
        detail.events.iter().any(|e| e.kind() == "escalated"),
        "{:?}",
        detail.events
    );
    assert!(
        detail.notifications.iter().any(|n| n.purpose == "alert"),
        "an alert SMS queued"
    );
    // Received now on the hub's clock, not three days ago.
    assert!(
        detail.alarm.received_at.ms_since(hub_clock.now()).abs() < 60_000,
        "{:?}",
        detail.alarm
    );
    // The recording is whole at the hub, the box's raw times kept in it,
    // with the correction the box applied: corrected, they are the hub's.
    let first = &r.records[0].record;
    assert!(
        (first.wall_ms.0 as i64) < T0.plus_ms(-2 * 24 * 3_600_000).as_ms(),
        "the sealed records keep the box's own time"
    );
    assert!(
        (first.clock_correction_ms - 3 * 24 * 3_600_000).abs() < 60_000,
        "{first:?}"
    );
    assert!(
        (first.corrected_wall_ms().0 - T0.as_ms()).abs() < 60_000,
        "{first:?}"
    );
    r.hub.shutdown().await;
}
