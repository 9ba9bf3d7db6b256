//! Where the samples come from: the box's microphone through ALSA (`cpal`),
//! or a WAV file played as if it were the microphone.
//!
//! A source is only a description until [`AudioSource::open`], which only
//! [`Recorder::start`](super::Recorder::start) calls: nothing here touches a
//! device before the double press (CNIL: no sound recording before the
//! holder's deliberate act).
//!
//! Samples reach the encoder as 16 kHz mono `i16` blocks through a bounded
//! channel. A device that cannot deliver that format is captured as it is,
//! then downmixed (mean of the channels) and resampled (linear
//! interpolation, enough for speech). An ALSA `file` device delivers faster
//! than real time; the bounded channel then makes it wait for the encoder.

use super::{EndReason, RecorderError};
use crate::recorder::ogg::SAMPLE_RATE_HZ;
use cpal::FromSample as _;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

/// Frames a WAV source sends at a time: 20 ms at 16 kHz, one Opus frame.
const WAV_BLOCK_FRAMES: usize = 320;
/// Capture channels we are willing to downmix; more is not a microphone.
const CAPTURE_CHANNELS_MAX: u16 = 8;
/// How long cpal may take to set the stream up before the start fails.
const STREAM_BUILD_TIMEOUT_MS: u64 = 2_000;

/// What travels from the capture side to the encoder.
#[derive(Debug)]
pub enum CaptureEvent {
    /// 16 kHz mono samples, in capture order.
    Samples(Vec<i16>),
    /// The source has nothing more (end of file, device lost).
    End(EndReason),
    /// `Recorder::stop` was called.
    Stop,
}

/// The sending end handed to a source when it is opened.
#[derive(Clone)]
pub struct SampleSink {
    tx: SyncSender<CaptureEvent>,
}

impl SampleSink {
    pub(super) fn new(tx: SyncSender<CaptureEvent>) -> Self {
        Self { tx }
    }

    /// Queues samples, waiting while the queue is full. Returns `false` once
    /// the recorder has stopped listening: the source should stop.
    pub fn send(&self, samples: Vec<i16>) -> bool {
        samples.is_empty() || self.tx.send(CaptureEvent::Samples(samples)).is_ok()
    }

    /// Tells the recorder the source is over.
    pub fn end(&self, reason: EndReason) {
        // An error here means the recorder has already ended: nothing to tell.
        let _ = self.tx.send(CaptureEvent::End(reason));
    }
}

/// Keeps an opened source running; dropping it closes the device.
pub struct CaptureGuard(#[allow(dead_code)] Box<dyn Send>);

impl CaptureGuard {
    /// Wraps whatever keeps a source open (a stream, a stop flag).
    pub fn new(keep: impl Send + 'static) -> Self {
        Self(Box::new(keep))
    }
}

/// Something that can be recorded from. Only the recorder opens it.
pub trait AudioSource: Send {
    /// A short description for logs (device or file name; never audio).
    fn describe(&self) -> String;
    /// Opens the input and starts sending samples to `sink`.
    fn open(self: Box<Self>, sink: SampleSink) -> Result<CaptureGuard, RecorderError>;
}

/// Converts interleaved samples of any rate and channel count into 16 kHz
/// mono `i16`: mean of the channels, then linear interpolation.
#[derive(Debug, Clone)]
pub struct Converter {
    channels: usize,
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples from the start of the current block.
    t: f64,
    /// Last mono sample of the previous block (position -1).
    prev: f32,
}

impl Converter {
    pub fn new(rate_hz: u32, channels: u16) -> Self {
        Self {
            channels: usize::from(channels.max(1)),
            step: f64::from(rate_hz) / f64::from(SAMPLE_RATE_HZ),
            t: 0.0,
            prev: 0.0,
        }
    }

    /// True when the input is already 16 kHz mono.
    pub fn is_identity(&self) -> bool {
        self.channels == 1 && (self.step - 1.0).abs() < f64::EPSILON
    }

    /// Converts one block of interleaved samples in [-1, 1].
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<i16>) {
        let frames = interleaved.len() / self.channels;
        let mut previous = self.prev;
        for i in 0..frames {
            let frame = &interleaved[i * self.channels..(i + 1) * self.channels];
            let current = frame.iter().sum::<f32>() / self.channels as f32;
            let index = i as f64;
            while self.t <= index {
                // Between `previous` (at index - 1) and `current` (at index).
                let frac = (self.t - (index - 1.0)) as f32;
                let value = previous + (current - previous) * frac;
                out.push(to_i16(value));
                self.t += self.step;
            }
            previous = current;
        }
        self.t -= frames as f64;
        self.prev = previous;
    }
}

fn to_i16(value: f32) -> i16 {
    (value * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

/// The microphone through ALSA, with `cpal`.
#[derive(Debug, Clone, Default)]
pub struct CpalSource {
    /// ALSA PCM name (as in `arecord -L`); `None` for the default input.
    device: Option<String>,
}

impl CpalSource {
    /// The default ALSA input.
    pub fn default_input() -> Self {
        Self { device: None }
    }

    /// A named ALSA PCM (as listed by `arecord -L`; a PCM defined in an
    /// `.asoundrc` must have a `hint` to be listed).
    pub fn named(device: impl Into<String>) -> Self {
        Self {
            device: Some(device.into()),
        }
    }

    fn find_device(&self, host: &cpal::Host) -> Result<cpal::Device, RecorderError> {
        let Some(name) = &self.device else {
            return host
                .default_input_device()
                .ok_or_else(|| RecorderError::NoDevice("default".into()));
        };
        let devices = host
            .devices()
            .map_err(|e| RecorderError::Device(e.to_string()))?;
        for device in devices {
            let id_matches = device.id().is_ok_and(|id| id.id() == name.as_str());
            if id_matches {
                return Ok(device);
            }
        }
        Err(RecorderError::NoDevice(name.clone()))
    }
}

/// The stream configuration to ask for: 16 kHz mono `i16` if the device can,
/// else what it prefers.
fn choose_config(
    device: &cpal::Device,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat), RecorderError> {
    let ranges: Vec<cpal::SupportedStreamConfigRange> = device
        .supported_input_configs()
        .map_err(|e| RecorderError::Device(e.to_string()))?
        .collect();
    let wanted = |r: &cpal::SupportedStreamConfigRange, channels: Option<u16>| {
        r.sample_format() == cpal::SampleFormat::I16
            && channels.is_none_or(|c| r.channels() == c)
            && r.channels() <= CAPTURE_CHANNELS_MAX
            && (r.min_sample_rate()..=r.max_sample_rate()).contains(&SAMPLE_RATE_HZ)
    };
    let exact = ranges
        .iter()
        .find(|r| wanted(r, Some(1)))
        .or_else(|| ranges.iter().find(|r| wanted(r, None)));
    if let Some(range) = exact {
        let config = cpal::StreamConfig {
            channels: range.channels(),
            sample_rate: SAMPLE_RATE_HZ,
            buffer_size: cpal::BufferSize::Default,
        };
        return Ok((config, cpal::SampleFormat::I16));
    }
    let default = device
        .default_input_config()
        .map_err(|e| RecorderError::Device(e.to_string()))?;
    if default.channels() > CAPTURE_CHANNELS_MAX {
        return Err(RecorderError::Device(format!(
            "{} input channels",
            default.channels()
        )));
    }
    Ok((default.config(), default.sample_format()))
}

fn build_stream<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    sink: SampleSink,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let mut converter = Converter::new(config.sample_rate, config.channels);
    let identity_i16 = converter.is_identity() && T::FORMAT == cpal::SampleFormat::I16;
    let error_sink = sink.clone();
    let mut scratch: Vec<f32> = Vec::new();
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _info: &cpal::InputCallbackInfo| {
            let mut out = Vec::with_capacity(data.len());
            if identity_i16 {
                out.extend(data.iter().map(|s| to_i16(f32::from_sample_(*s))));
            } else {
                scratch.clear();
                scratch.extend(data.iter().map(|s| f32::from_sample_(*s)));
                converter.push(&scratch, &mut out);
            }
            // `false` means the recorder has ended; the stream is about to be dropped.
            let _ = sink.send(out);
        },
        move |error: cpal::Error| match error.kind() {
            // The stream recovers from these by itself: audio may have a gap, the recording goes on.
            cpal::ErrorKind::Xrun
            | cpal::ErrorKind::DeviceChanged
            | cpal::ErrorKind::RealtimeDenied => {
                tracing::warn!(error = %error, "audio capture glitch");
            }
            _ => error_sink.end(EndReason::SourceFailed(error.to_string())),
        },
        Some(std::time::Duration::from_millis(STREAM_BUILD_TIMEOUT_MS)),
    )
}

impl AudioSource for CpalSource {
    fn describe(&self) -> String {
        format!("alsa:{}", self.device.as_deref().unwrap_or("default"))
    }

    fn open(self: Box<Self>, sink: SampleSink) -> Result<CaptureGuard, RecorderError> {
        let host = cpal::default_host();
        let device = self.find_device(&host)?;
        let (config, format) = choose_config(&device)?;
        let stream = match format {
            cpal::SampleFormat::I16 => build_stream::<i16>(&device, config, sink),
            cpal::SampleFormat::I32 => build_stream::<i32>(&device, config, sink),
            cpal::SampleFormat::U16 => build_stream::<u16>(&device, config, sink),
            cpal::SampleFormat::U8 => build_stream::<u8>(&device, config, sink),
            cpal::SampleFormat::F32 => build_stream::<f32>(&device, config, sink),
            other => {
                return Err(RecorderError::Device(format!(
                    "unsupported sample format {other}"
                )));
            }
        }
        .map_err(|e| RecorderError::Device(e.to_string()))?;
        stream
            .play()
            .map_err(|e| RecorderError::Device(e.to_string()))?;
        Ok(CaptureGuard(Box::new(stream)))
    }
}

/// A WAV file played as the microphone (tests, replays), as fast as the
/// encoder takes it. Any rate and channel count; 16-bit integer or float.
#[derive(Debug, Clone)]
pub struct WavSource {
    path: PathBuf,
}

impl WavSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl AudioSource for WavSource {
    fn describe(&self) -> String {
        format!("wav:{}", self.path.display())
    }

    fn open(self: Box<Self>, sink: SampleSink) -> Result<CaptureGuard, RecorderError> {
        let reader = hound::WavReader::open(&self.path)
            .map_err(|e| RecorderError::Device(format!("{}: {e}", self.path.display())))?;
        let spec = reader.spec();
        if spec.channels == 0 || spec.channels > CAPTURE_CHANNELS_MAX {
            return Err(RecorderError::Device(format!(
                "{}: {} channels",
                self.path.display(),
                spec.channels
            )));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("vigie-wav-source".into())
            .spawn(move || play_wav(reader, sink, &stopped))
            .map_err(|e| RecorderError::Device(e.to_string()))?;
        Ok(CaptureGuard(Box::new(StopOnDrop(stop))))
    }
}

fn play_wav<R: std::io::Read>(reader: hound::WavReader<R>, sink: SampleSink, stop: &AtomicBool) {
    let spec = reader.spec();
    let mut converter = Converter::new(spec.sample_rate, spec.channels);
    let block_samples = WAV_BLOCK_FRAMES * usize::from(spec.channels);
    let scale = match spec.sample_format {
        hound::SampleFormat::Int => 1.0 / f32::powi(2.0, i32::from(spec.bits_per_sample) - 1),
        hound::SampleFormat::Float => 1.0,
    };
    let mut samples: Box<dyn Iterator<Item = Result<f32, hound::Error>>> = match spec.sample_format
    {
        hound::SampleFormat::Int => Box::new(
            reader
                .into_samples::<i32>()
                .map(move |s| s.map(|v| v as f32 * scale)),
        ),
        hound::SampleFormat::Float => Box::new(reader.into_samples::<f32>()),
    };
    let mut block = Vec::with_capacity(block_samples);
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        block.clear();
        for sample in samples.by_ref().take(block_samples) {
            match sample {
                Ok(value) => block.push(value),
                Err(e) => {
                    sink.end(EndReason::SourceFailed(e.to_string()));
                    return;
                }
            }
        }
        if block.is_empty() {
            sink.end(EndReason::SourceEnded);
            return;
        }
        let mut out = Vec::with_capacity(block.len());
        converter.push(&block, &mut out);
        if !sink.send(out) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converter_passes_16k_mono_through() {
        let mut c = Converter::new(16_000, 1);
        assert!(c.is_identity());
        let mut out = Vec::new();
        c.push(&[0.0, 0.5, -0.5], &mut out);
        c.push(&[0.25], &mut out);
        assert_eq!(out, vec![0, 16_384, -16_384, 8_192]);
    }

    #[test]
    fn converter_downmixes_and_resamples_48k_stereo() {
        let mut c = Converter::new(48_000, 2);
        let mut out = Vec::new();
        // 48 stereo frames in two blocks → 16 mono samples.
        let block: Vec<f32> = (0..48).flat_map(|i| [i as f32 / 100.0, 0.0]).collect();
        c.push(&block[..30], &mut out);
        c.push(&block[30..], &mut out);
        assert_eq!(out.len(), 16);
        // Output n sits on input frame 3n; its left channel is 3n/100, halved by the downmix.
        for (n, value) in out.iter().enumerate() {
            let expected = to_i16(3.0 * n as f32 / 100.0 / 2.0);
            assert!(
                (value - expected).abs() <= 1,
                "sample {n}: {value} vs {expected}"
            );
        }
    }

    #[test]
    fn converter_interpolates_when_upsampling() {
        let mut c = Converter::new(8_000, 1);
        let mut out = Vec::new();
        c.push(&[0.0, 0.5], &mut out);
        // Outputs at input positions 0, 0.5, 1 (the next one needs the next block).
        assert_eq!(out, vec![0, 8_192, 16_384]);
    }
}
