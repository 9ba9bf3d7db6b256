//! The box's recorder: capture, Opus in Ogg, chunks of about 2 s.
//!
//! **Never before the double press.** The CNIL does not accept continuous
//! sound recording in shops. Nothing in this module opens a microphone,
//! buffers audio or keeps a ring of "the seconds before": a source is a
//! description until [`Recorder::start`] opens it, and the device is closed
//! as soon as the recording ends. Starting is the caller's decision, taken
//! only on the holder's deliberate act (second press of a double press, or a
//! recording request on an open alarm).
//!
//! ```text
//!  source (cpal callback / WAV thread) ──bounded──▶ encoder thread ──bounded──▶ chunks (tokio)
//!  16 kHz mono i16 blocks                           Opus 20 ms, Ogg pages ~1 s   whole pages, ~2 s
//! ```
//!
//! The recording stops at the maximum duration (counted in captured audio,
//! default [`RECORDING_MS_MAX_DEFAULT`]), on [`Recorder::stop`], or when the
//! source ends or fails. The last chunk holds the end-of-stream page and is
//! marked final, with the reason.
//!
//! Invariants: the chunks joined byte for byte are one valid Ogg Opus file
//! (RFC 7845); `seq` runs 0, 1, 2… without gaps; each chunk's capture times
//! start where the previous one's end.

pub mod capture;
pub mod chunker;
pub mod ogg;

pub use capture::{
    AudioSource, CaptureEvent, CaptureGuard, Converter, CpalSource, SampleSink, WavSource,
};
pub use chunker::{CHUNK_MS_TARGET, Chunk, Chunker};

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Default maximum length of a recording: long enough for any robbery or
/// dispute in a shop, short enough to bound storage and the holder's data plan.
pub const RECORDING_MS_MAX_DEFAULT: u64 = 30 * 60 * 1_000;
/// Capture blocks queued towards the encoder. A block is one device period
/// (10–40 ms) or 20 ms from a WAV file: several seconds of slack, far more
/// than the encoder ever needs, while a file device waits instead of losing audio.
const CAPTURE_BLOCKS_QUEUED_MAX: usize = 256;
/// Chunks queued towards the sealer: 32 s of audio; the sealer takes about a
/// millisecond per chunk, so this fills only if it has stopped.
const CHUNKS_QUEUED_MAX: usize = 16;

/// Why a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// [`Recorder::stop`]: a long press, or the alarm was closed.
    Stopped,
    /// The maximum duration was reached.
    MaxDuration,
    /// The source has no more audio (end of a file).
    SourceEnded,
    /// The device failed mid-recording (unplugged, driver error).
    SourceFailed(String),
}

/// Errors starting or running a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("no audio input device named {0:?}")]
    NoDevice(String),
    #[error("audio input: {0}")]
    Device(String),
    #[error("encoder: {0}")]
    Encoder(#[from] ogg::OggOpusError),
    #[error("the chunk receiver was dropped")]
    ReceiverGone,
    #[error("the recorder thread could not start: {0}")]
    Thread(std::io::Error),
}

/// When the first sample was captured, on both of the box's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureInstant {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
    /// Milliseconds on the agent's monotonic clock.
    pub mono_ms: u64,
}

impl CaptureInstant {
    /// Reads both clocks now. The monotonic clock counts from the first time
    /// the agent process reads it; only differences within a process matter.
    pub fn now() -> Self {
        static ANCHOR: OnceLock<Instant> = OnceLock::new();
        let anchor = *ANCHOR.get_or_init(Instant::now);
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mono_ms = u64::try_from(anchor.elapsed().as_millis()).unwrap_or(u64::MAX);
        Self { wall_ms, mono_ms }
    }
}

/// What a finished recording amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    pub chunks: u64,
    /// Captured audio, in 16 kHz samples.
    pub samples: u64,
    pub end: EndReason,
}

/// A running recording. Dropping it does not stop it: call [`Recorder::stop`].
pub struct Recorder {
    stop: Arc<AtomicBool>,
    wake: SyncSender<CaptureEvent>,
    done: oneshot::Receiver<Result<RecordingSummary, RecorderError>>,
}

impl Recorder {
    /// Opens `source` and starts recording, for at most `max_duration` of
    /// audio. Chunks arrive on the returned channel, which closes after the
    /// final chunk. This is the only place a microphone is opened.
    pub fn start(
        source: Box<dyn AudioSource>,
        max_duration: Duration,
    ) -> Result<(Self, mpsc::Receiver<Chunk>), RecorderError> {
        Self::start_at(source, max_duration, CaptureInstant::now)
    }

    /// [`Recorder::start`] with the clocks injected (tests, replays).
    pub fn start_at(
        source: Box<dyn AudioSource>,
        max_duration: Duration,
        now: impl FnOnce() -> CaptureInstant,
    ) -> Result<(Self, mpsc::Receiver<Chunk>), RecorderError> {
        let (sample_tx, sample_rx) = std::sync::mpsc::sync_channel(CAPTURE_BLOCKS_QUEUED_MAX);
        let (chunk_tx, chunk_rx) = mpsc::channel(CHUNKS_QUEUED_MAX);
        let (done_tx, done_rx) = oneshot::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let max_samples = u64::try_from(max_duration.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(ogg::SAMPLE_RATE_HZ))
            / 1_000;
        let serial: u32 = rand::random();
        let (writer, headers) = ogg::OggOpusWriter::new(serial)?;
        let description = source.describe();
        let at = now();
        let guard = source.open(SampleSink::new(sample_tx.clone()))?;
        tracing::info!(source = %description, max_ms = max_duration.as_millis() as u64, "recording started");
        let stopped = stop.clone();
        let job = EncodeJob {
            rx: sample_rx,
            guard,
            writer,
            chunker: Chunker::new(at),
            headers,
            max_samples,
            stop: stopped,
            chunks: chunk_tx,
        };
        std::thread::Builder::new()
            .name("vigie-recorder".into())
            .spawn(move || {
                let result = job.run();
                match &result {
                    Ok(summary) => tracing::info!(chunks = summary.chunks, samples = summary.samples, end = ?summary.end, "recording ended"),
                    Err(e) => tracing::warn!(error = %e, "recording failed"),
                }
                // Nobody waiting for the outcome is fine.
                let _ = done_tx.send(result);
            })
            .map_err(RecorderError::Thread)?;
        Ok((
            Self {
                stop,
                wake: sample_tx,
                done: done_rx,
            },
            chunk_rx,
        ))
    }

    /// Ends the recording: audio captured after this call is not kept; the
    /// last chunk comes out marked final. Idempotent.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // A full queue will be read soon and the flag seen; a closed one means it has ended.
        match self.wake.try_send(CaptureEvent::Stop) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Waits for the recording to end (after [`Recorder::stop`], the
    /// maximum duration, or the end of the source).
    pub async fn finished(self) -> Result<RecordingSummary, RecorderError> {
        drop(self.wake);
        self.done
            .await
            .unwrap_or_else(|_| Err(RecorderError::Device("the recorder thread died".into())))
    }
}

struct EncodeJob {
    rx: Receiver<CaptureEvent>,
    guard: CaptureGuard,
    writer: ogg::OggOpusWriter,
    chunker: Chunker,
    headers: ogg::Pages,
    max_samples: u64,
    stop: Arc<AtomicBool>,
    chunks: mpsc::Sender<Chunk>,
}

impl EncodeJob {
    fn run(self) -> Result<RecordingSummary, RecorderError> {
        let Self {
            rx,
            guard,
            mut writer,
            mut chunker,
            headers,
            max_samples,
            stop,
            chunks,
        } = self;
        let mut sent = 0u64;
        let mut send = |chunk: Chunk| -> Result<(), RecorderError> {
            chunks
                .blocking_send(chunk)
                .map_err(|_| RecorderError::ReceiverGone)?;
            sent += 1;
            Ok(())
        };
        // Header pages never complete a chunk on their own.
        if let Some(chunk) = chunker.push(headers) {
            send(chunk)?;
        }
        let end = loop {
            let event = match rx.recv() {
                Ok(event) => event,
                // Every sender gone: the source is over.
                Err(_) => break EndReason::SourceEnded,
            };
            if stop.load(Ordering::Relaxed) {
                break EndReason::Stopped;
            }
            match event {
                CaptureEvent::Samples(samples) => {
                    let room = max_samples.saturating_sub(writer.samples_in());
                    let take = usize::try_from(room)
                        .unwrap_or(usize::MAX)
                        .min(samples.len());
                    for pages in writer.push(&samples[..take])? {
                        if let Some(chunk) = chunker.push(pages) {
                            send(chunk)?;
                        }
                    }
                    if writer.samples_in() >= max_samples {
                        break EndReason::MaxDuration;
                    }
                }
                CaptureEvent::End(reason) => break reason,
                CaptureEvent::Stop => break EndReason::Stopped,
            }
        };
        // Close the microphone first: the receiver goes, so a capture
        // callback blocked on a full queue returns, then the device closes.
        drop(rx);
        drop(guard);
        let samples = writer.samples_in();
        let last = writer.finish()?;
        send(chunker.finish(last, end.clone()))?;
        Ok(RecordingSummary {
            chunks: sent,
            samples,
            end,
        })
    }
}
