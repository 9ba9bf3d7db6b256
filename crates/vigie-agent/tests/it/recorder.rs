//! The recorder: capture, Opus in Ogg, chunks of whole pages.
//!
//! Speech comes from `tests/peers/audio/make_speech.sh` (espeak-ng + sox);
//! every joined recording is checked by `opusinfo` (opus-tools, an
//! independent Ogg Opus reader) and decoded back to compare its length and
//! where the speech is. The real capture path (cpal over ALSA) is tested on
//! an ALSA `file` PCM defined in an `.asoundrc` of a temporary HOME; since a
//! test may not change its own process's environment, that test runs its
//! capture half in a child process (the same test binary, HOME set).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use vigie_agent::recorder::{
    AudioSource, CHUNK_MS_TARGET, CaptureGuard, CaptureInstant, Chunk, CpalSource, EndReason,
    Recorder, RecorderError, SampleSink, WavSource,
};

/// Upper bound for a whole recording to come out; reaching it is a failure.
const DEADLINE: Duration = Duration::from_secs(120);
/// Joined recordings must play for the captured length within this.
const DURATION_TOLERANCE_S: f64 = 0.03;
/// Speech boundaries found in the recording vs the script.
const SPEECH_TOLERANCE_S: f32 = 0.5;
/// Set in the child process of the ALSA test: where to write the recording.
const ALSA_CHILD_ENV: &str = "VIGIE_TEST_ALSA_CHILD_DIR";
const ALSA_TEST_NAME: &str = "recorder::captures_through_cpal_from_an_alsa_file_device";
const ALSA_PCM: &str = "vigie_test_mic";

const AT: CaptureInstant = CaptureInstant {
    wall_ms: 1_795_699_920_000,
    mono_ms: 81_234_567,
};

#[derive(Debug, Deserialize)]
struct Passage {
    name: String,
    kind: String,
    start: f32,
    end: f32,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Script {
    pub(crate) duration: f64,
    passages: Vec<Passage>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn make_speech(dir: &Path) -> (PathBuf, Script) {
    let wav = dir.join("speech.wav");
    let out = Command::new("bash")
        .arg(repo_root().join("tests/peers/audio/make_speech.sh"))
        .arg(&wav)
        .output()
        .expect("run make_speech.sh (needs espeak-ng and sox)");
    assert!(
        out.status.success(),
        "make_speech.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        wav,
        serde_json::from_slice(&out.stdout).expect("passages JSON"),
    )
}

async fn collect(mut rx: mpsc::Receiver<Chunk>) -> Vec<Chunk> {
    tokio::time::timeout(DEADLINE, async move {
        let mut chunks = Vec::new();
        while let Some(chunk) = rx.recv().await {
            chunks.push(chunk);
        }
        chunks
    })
    .await
    .expect("the recording ended before the deadline")
}

/// Walks Ogg page headers: the bytes must be whole pages, nothing else.
fn page_count(bytes: &[u8]) -> usize {
    let mut offset = 0;
    let mut pages = 0;
    while offset < bytes.len() {
        assert_eq!(
            &bytes[offset..offset + 4],
            b"OggS",
            "a page starts at {offset}"
        );
        let segments = usize::from(bytes[offset + 26]);
        let lacing = &bytes[offset + 27..offset + 27 + segments];
        let body: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        offset += 27 + segments + body;
        pages += 1;
    }
    assert_eq!(offset, bytes.len(), "the last page is whole");
    pages
}

/// The invariants every recording has: seq without gaps, whole pages,
/// headers in the first chunk, contiguous times, one final chunk at the end.
fn assert_well_formed(chunks: &[Chunk], at: CaptureInstant) {
    assert!(!chunks.is_empty());
    assert!(chunks[0].bytes.windows(8).any(|w| w == b"OpusHead"));
    assert_eq!(chunks[0].wall_ms_start, at.wall_ms);
    assert_eq!(chunks[0].mono_ms_start, at.mono_ms);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.seq, i as u64);
        assert!(page_count(&chunk.bytes) >= 1);
        assert!(chunk.wall_ms_end >= chunk.wall_ms_start);
        assert!(chunk.mono_ms_end >= chunk.mono_ms_start);
        let last = i + 1 == chunks.len();
        assert_eq!(chunk.is_final, last, "only the last chunk is final");
        assert_eq!(chunk.end.is_some(), last);
        if !last {
            assert_eq!(
                chunk.mono_ms_end - chunk.mono_ms_start,
                CHUNK_MS_TARGET,
                "chunk {i} holds about 2 s"
            );
            let next = &chunks[i + 1];
            assert_eq!(
                next.wall_ms_start, chunk.wall_ms_end,
                "contiguous wall times"
            );
            assert_eq!(
                next.mono_ms_start, chunk.mono_ms_end,
                "contiguous monotonic times"
            );
        } else {
            assert!(chunk.mono_ms_end - chunk.mono_ms_start <= CHUNK_MS_TARGET);
        }
    }
}

fn join(chunks: &[Chunk]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|c| c.bytes.iter().copied())
        .collect()
}

/// Runs `opusinfo` on the bytes; returns the playback length it reports, in seconds.
fn opusinfo_length_s(dir: &Path, ogg: &[u8]) -> f64 {
    let path = dir.join("joined.ogg");
    std::fs::write(&path, ogg).expect("write joined.ogg");
    let out = Command::new("opusinfo")
        .arg(&path)
        .output()
        .expect("opusinfo (opus-tools)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "opusinfo failed:\n{text}");
    assert!(
        !text.contains("WARNING") && !text.contains("ERROR"),
        "opusinfo complains:\n{text}"
    );
    assert!(text.contains("Original sample rate: 16000 Hz"), "{text}");
    assert!(text.contains("Channels: 1"), "{text}");
    let length = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Playback length: "))
        .unwrap_or_else(|| panic!("no playback length in:\n{text}"));
    // "0m:11.956s"
    let (minutes, seconds) = length
        .trim_end_matches('s')
        .split_once("m:")
        .unwrap_or_else(|| panic!("odd length {length}"));
    minutes.parse::<f64>().expect("minutes") * 60.0 + seconds.parse::<f64>().expect("seconds")
}

/// Speech found back in the recording where the script put it.
fn assert_speech_where_scripted(ogg: &[u8], script: &Script) {
    let (pcm, rate) = vigie_timeline::ogg_opus_to_pcm(ogg).expect("decode");
    let t = vigie_timeline::timeline(&pcm, rate);
    for p in &script.passages {
        let found: f32 = t
            .speech
            .iter()
            .map(|&(a, b)| (b.min(p.end) - a.max(p.start)).max(0.0))
            .sum();
        if p.kind == "silence" {
            let inner = (p.end - p.start) - 2.0 * SPEECH_TOLERANCE_S;
            if inner > 0.0 {
                assert!(
                    found <= 2.0 * SPEECH_TOLERANCE_S,
                    "{}: speech in the silence: {t:?}",
                    p.name
                );
            }
        } else {
            assert!(
                found >= 0.8 * (p.end - p.start),
                "{}: speech missing: {t:?}",
                p.name
            );
        }
    }
}

#[tokio::test]
async fn speech_wav_gives_2s_chunks_that_join_into_the_whole_ogg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, script) = make_speech(dir.path());
    let (recorder, rx) = Recorder::start_at(
        Box::new(WavSource::new(&wav)),
        Duration::from_secs(30 * 60),
        || AT,
    )
    .expect("start");
    let chunks = collect(rx).await;
    let summary = recorder.finished().await.expect("finished");
    assert_eq!(summary.end, EndReason::SourceEnded);
    assert_eq!(summary.chunks, chunks.len() as u64);
    assert_well_formed(&chunks, AT);
    let expected_chunks = (script.duration * 1_000.0 / CHUNK_MS_TARGET as f64).ceil() as usize;
    assert_eq!(chunks.len(), expected_chunks);
    let captured_ms = chunks
        .last()
        .map(|c| c.mono_ms_end - AT.mono_ms)
        .unwrap_or(0);
    assert!((captured_ms as f64 / 1_000.0 - script.duration).abs() < DURATION_TOLERANCE_S);

    let ogg = join(&chunks);
    let length = opusinfo_length_s(dir.path(), &ogg);
    assert!(
        (length - script.duration).abs() < DURATION_TOLERANCE_S,
        "opusinfo says {length} s, the WAV has {} s",
        script.duration
    );
    // Decoded back: exactly the captured samples (pre-skip and end trimming right).
    let (pcm, rate) = vigie_timeline::ogg_opus_to_pcm(&ogg).expect("decode");
    assert_eq!(rate, 16_000);
    assert_eq!(pcm.len() as u64, summary.samples);
    assert_speech_where_scripted(&ogg, &script);
}

/// An endless 440 Hz microphone that tells whether it is open.
struct EndlessTone {
    opened: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

struct CloseFlag(Arc<AtomicBool>);

impl Drop for CloseFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl AudioSource for EndlessTone {
    fn describe(&self) -> String {
        "test:tone".into()
    }

    fn open(self: Box<Self>, sink: SampleSink) -> Result<CaptureGuard, RecorderError> {
        self.opened.store(true, Ordering::SeqCst);
        let closed = self.closed.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            loop {
                let block: Vec<i16> = (0..160)
                    .map(|_| {
                        n += 1;
                        let t = n as f32 / 16_000.0;
                        (8_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
                    })
                    .collect();
                if closed.load(Ordering::SeqCst) || !sink.send(block) {
                    return;
                }
            }
        });
        Ok(CaptureGuard::new(CloseFlag(self.closed.clone())))
    }
}

fn endless_tone() -> (EndlessTone, Arc<AtomicBool>, Arc<AtomicBool>) {
    let opened = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicBool::new(false));
    (
        EndlessTone {
            opened: opened.clone(),
            closed: closed.clone(),
        },
        opened,
        closed,
    )
}

#[tokio::test]
async fn stop_ends_with_a_final_chunk_and_closes_the_microphone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, opened, closed) = endless_tone();
    assert!(
        !opened.load(Ordering::SeqCst),
        "nothing opened before start"
    );
    let (recorder, mut rx) =
        Recorder::start_at(Box::new(source), Duration::from_secs(30 * 60), || AT).expect("start");
    assert!(opened.load(Ordering::SeqCst), "start opens the microphone");
    let mut chunks = Vec::new();
    while chunks.len() < 2 {
        chunks.push(rx.recv().await.expect("a chunk"));
    }
    recorder.stop();
    chunks.extend(collect(rx).await);
    let summary = recorder.finished().await.expect("finished");
    assert_eq!(summary.end, EndReason::Stopped);
    assert!(
        closed.load(Ordering::SeqCst),
        "the microphone is closed at the end"
    );
    assert_well_formed(&chunks, AT);
    let last = chunks.last().expect("chunks");
    assert_eq!(last.end, Some(EndReason::Stopped));
    let length = opusinfo_length_s(dir.path(), &join(&chunks));
    let captured_s = (last.mono_ms_end - AT.mono_ms) as f64 / 1_000.0;
    assert!(
        (length - captured_s).abs() < DURATION_TOLERANCE_S,
        "{length} vs {captured_s}"
    );
    assert!(captured_s < 30.0 * 60.0, "stopped early");
}

#[tokio::test]
async fn the_maximum_duration_ends_the_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, _, closed) = endless_tone();
    let (recorder, rx) =
        Recorder::start_at(Box::new(source), Duration::from_millis(5_500), || AT).expect("start");
    let chunks = collect(rx).await;
    let summary = recorder.finished().await.expect("finished");
    assert_eq!(summary.end, EndReason::MaxDuration);
    assert_eq!(summary.samples, 5_500 * 16);
    assert!(closed.load(Ordering::SeqCst));
    assert_well_formed(&chunks, AT);
    assert_eq!(chunks.len(), 3);
    let last = chunks.last().expect("chunks");
    assert_eq!(last.mono_ms_end - AT.mono_ms, 5_500);
    assert_eq!(last.end, Some(EndReason::MaxDuration));
    let length = opusinfo_length_s(dir.path(), &join(&chunks));
    assert!((length - 5.5).abs() < DURATION_TOLERANCE_S, "{length}");
}

#[tokio::test]
async fn an_unknown_device_fails_at_start_not_before() {
    // Naming a device touches nothing; the start is where it is looked up.
    let source = CpalSource::named("no-such-vigie-device");
    let result = Recorder::start(Box::new(source), Duration::from_secs(1));
    assert!(
        matches!(result, Err(RecorderError::NoDevice(ref name)) if name == "no-such-vigie-device"),
        "{:?}",
        result.as_ref().err()
    );
}

/// The real capture path: cpal over ALSA, from an ALSA `file` PCM whose
/// input is the test speech. The parent writes the `.asoundrc` and runs the
/// capture in a child (this same test, HOME pointing at it); the parent
/// then checks what the child recorded.
#[tokio::test]
async fn captures_through_cpal_from_an_alsa_file_device() {
    if let Ok(out_dir) = std::env::var(ALSA_CHILD_ENV) {
        return alsa_child(Path::new(&out_dir)).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, script) = make_speech(dir.path());
    let raw = dir.path().join("speech.raw");
    let status = Command::new("sox")
        .arg(&wav)
        .args([
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            "-r",
            "16000",
        ])
        .arg(&raw)
        .status()
        .expect("sox");
    assert!(status.success());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    // A plug over a file PCM over null: capture reads `infile`, then silence.
    let asoundrc = format!(
        "pcm.{ALSA_PCM} {{\n  type plug\n  slave.pcm {{\n    type file\n    slave.pcm \"null\"\n    file \"/dev/null\"\n    infile \"{}\"\n    format \"raw\"\n  }}\n  hint {{\n    show on\n    description \"Vigie test microphone\"\n  }}\n}}\n",
        raw.display()
    );
    std::fs::write(home.join(".asoundrc"), asoundrc).expect("asoundrc");
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("out");
    std::fs::write(
        out_dir.join("duration_ms"),
        format!("{}", (script.duration * 1_000.0).round()),
    )
    .expect("duration");
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args(["--exact", ALSA_TEST_NAME, "--nocapture", "--test-threads=1"])
        .env("HOME", &home)
        .env(ALSA_CHILD_ENV, &out_dir)
        .output()
        .expect("run the capture child");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "capture child failed:\n{log}");
    assert!(
        log.contains("1 passed"),
        "the child ran the capture:\n{log}"
    );
    let ogg = std::fs::read(out_dir.join("recording.ogg")).expect("the child's recording");
    let length = opusinfo_length_s(dir.path(), &ogg);
    assert!(
        (length - script.duration).abs() < DURATION_TOLERANCE_S,
        "opusinfo says {length} s, the WAV has {} s",
        script.duration
    );
    assert_speech_where_scripted(&ogg, &script);
}

async fn alsa_child(out_dir: &Path) {
    let duration_ms: u64 = std::fs::read_to_string(out_dir.join("duration_ms"))
        .expect("duration")
        .trim()
        .parse()
        .expect("duration ms");
    let (recorder, rx) = Recorder::start_at(
        Box::new(CpalSource::named(ALSA_PCM)),
        Duration::from_millis(duration_ms),
        || AT,
    )
    .expect("start capture through cpal");
    let chunks = collect(rx).await;
    let summary = recorder.finished().await.expect("finished");
    assert_eq!(summary.end, EndReason::MaxDuration);
    assert_well_formed(&chunks, AT);
    std::fs::write(out_dir.join("recording.ogg"), join(&chunks)).expect("write recording");
}
