//! Where speech and raised voices occur in a recording, so a court clerk
//! can find the threats without listening to thirty minutes of a shop.
//!
//! - **Speech**: voice activity from `earshot` (a small neural detector
//!   whose weights are inside the crate) over 16 ms frames at 16 kHz, with
//!   hysteresis (a run must reach a higher onset score somewhere, which a
//!   steady tone does not), then smoothed: short gaps are bridged and blips
//!   dropped.
//! - **Loud** ("raised voice"): RMS level in dBFS over
//!   [`LOUD_WINDOW_MS`] windows, inside speech, at least
//!   [`LOUD_DB_ABOVE_SPEECH`] above the recording's median speech level. The
//!   threshold is relative because the microphone's distance and gain differ
//!   from shop to shop.
//!
//! The result is the export's `timeline.json`: segments in seconds from the
//! start of the recording. [`ogg_opus_to_pcm`] decodes the recording (the
//! hub has only the Ogg file) back to PCM for this.
//!
//! Invariant: pure. PCM or bytes in, segments out; no I/O, no clock.

mod decode;

pub use decode::{DecodeError, PCM_SAMPLES_MAX, ogg_opus_to_pcm};

use serde::{Deserialize, Serialize};

/// The rate the voice detector works at.
pub const VAD_SAMPLE_RATE_HZ: u32 = 16_000;
/// Samples per detector frame (16 ms at 16 kHz; fixed by `earshot`).
const VAD_FRAME_SAMPLES: usize = 256;
/// Detector score from which a frame is speech (the crate's recommended default).
pub const VAD_SCORE_MIN: f32 = 0.5;
/// A run of speech frames counts only if one of its frames reaches this
/// score (hysteresis): a steady pure tone scores about 0.5–0.63 on every
/// frame, while words reach 0.8–0.98.
pub const VAD_SCORE_ONSET: f32 = 0.75;
/// Pauses between words and short breaths shorter than this stay inside one segment.
pub const SPEECH_GAP_MS_MAX: u32 = 400;
/// Speech segments shorter than this are clicks or noise, not words.
pub const SPEECH_MS_MIN: u32 = 150;
/// Loudness window: about a syllable, so one shouted word registers.
pub const LOUD_WINDOW_MS: u32 = 250;
/// A raised voice is at least this much above the recording's median speech
/// level (normal to shouted speech is typically 10–20 dB).
pub const LOUD_DB_ABOVE_SPEECH: f32 = 10.0;
/// Loud windows closer than this are one passage.
pub const LOUD_GAP_MS_MAX: u32 = 500;
/// A window counts as speech when this share of its frames is speech.
const WINDOW_SPEECH_SHARE_MIN: f32 = 0.5;
/// Level given to digital silence, instead of minus infinity.
const DBFS_FLOOR: f32 = -120.0;

/// Where speech and raised voices occur, in seconds from the start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// `[start, end]` of each speech passage.
    pub speech: Vec<(f32, f32)>,
    /// `[start, end]` of each raised-voice passage.
    pub loud: Vec<(f32, f32)>,
}

/// Speech and loud segments of `pcm` (mono) at `sample_rate_hz`.
pub fn timeline(pcm: &[i16], sample_rate_hz: u32) -> Timeline {
    let pcm = resample_to_vad_rate(pcm, sample_rate_hz);
    let frame_s = VAD_FRAME_SAMPLES as f32 / VAD_SAMPLE_RATE_HZ as f32;

    let mut detector = earshot::Detector::default();
    let scores: Vec<f32> = pcm
        .chunks_exact(VAD_FRAME_SAMPLES)
        .map(|frame| detector.predict_i16(frame))
        .collect();
    let speech_frames: Vec<bool> = scores.iter().map(|&s| s >= VAD_SCORE_MIN).collect();
    // Bridge first, so a word whose start scores low stays with the rest of its phrase.
    let speech_runs = bridge(
        runs(&speech_frames),
        ms_to_units(SPEECH_GAP_MS_MAX, frame_s),
    );
    let speech_runs: Vec<(usize, usize)> = speech_runs
        .into_iter()
        .filter(|&(a, b)| scores[a..b].iter().any(|&s| s >= VAD_SCORE_ONSET))
        .filter(|(a, b)| b - a >= ms_to_units(SPEECH_MS_MIN, frame_s))
        .collect();
    let mut in_speech = vec![false; speech_frames.len()];
    for &(a, b) in &speech_runs {
        in_speech[a..b].iter_mut().for_each(|f| *f = true);
    }

    let window_samples = (VAD_SAMPLE_RATE_HZ * LOUD_WINDOW_MS / 1_000) as usize;
    let window_s = LOUD_WINDOW_MS as f32 / 1_000.0;
    let windows: Vec<(f32, bool)> = pcm
        .chunks(window_samples)
        .enumerate()
        .map(|(i, w)| {
            let first = i * window_samples / VAD_FRAME_SAMPLES;
            let last = ((i * window_samples + w.len()) / VAD_FRAME_SAMPLES).min(in_speech.len());
            let frames = &in_speech[first.min(last)..last];
            let share = if frames.is_empty() {
                0.0
            } else {
                frames.iter().filter(|s| **s).count() as f32 / frames.len() as f32
            };
            (rms_dbfs(w), share >= WINDOW_SPEECH_SHARE_MIN)
        })
        .collect();
    let mut speech_levels: Vec<f32> = windows.iter().filter(|w| w.1).map(|w| w.0).collect();
    let loud_runs = if speech_levels.is_empty() {
        Vec::new()
    } else {
        speech_levels.sort_by(f32::total_cmp);
        let median = speech_levels[speech_levels.len() / 2];
        let threshold = median + LOUD_DB_ABOVE_SPEECH;
        let loud: Vec<bool> = windows
            .iter()
            .map(|&(db, speech)| speech && db >= threshold)
            .collect();
        bridge(runs(&loud), ms_to_units(LOUD_GAP_MS_MAX, window_s))
    };

    Timeline {
        speech: seconds(&speech_runs, frame_s),
        loud: seconds(&loud_runs, window_s),
    }
}

/// RMS level of `samples` in dB relative to full scale.
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return DBFS_FLOOR;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / samples.len() as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        DBFS_FLOOR
    } else {
        ((20.0 * rms.log10()) as f32).max(DBFS_FLOOR)
    }
}

fn ms_to_units(ms: u32, unit_s: f32) -> usize {
    (ms as f32 / 1_000.0 / unit_s).round() as usize
}

/// Half-open runs `[start, end)` of `true`.
fn runs(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &flag) in flags.iter().enumerate() {
        match (flag, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, flags.len()));
    }
    out
}

/// Joins runs separated by at most `gap_max` units.
fn bridge(runs: Vec<(usize, usize)>, gap_max: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (a, b) in runs {
        match out.last_mut() {
            Some(last) if a - last.1 <= gap_max => last.1 = b,
            _ => out.push((a, b)),
        }
    }
    out
}

fn seconds(runs: &[(usize, usize)], unit_s: f32) -> Vec<(f32, f32)> {
    runs.iter()
        .map(|&(a, b)| (round_ms(a as f32 * unit_s), round_ms(b as f32 * unit_s)))
        .collect()
}

/// Seconds to the millisecond: the JSON stays readable and stable.
fn round_ms(s: f32) -> f32 {
    (s * 1_000.0).round() / 1_000.0
}

/// Linear resampling to the detector's rate (speech needs no better).
fn resample_to_vad_rate(pcm: &[i16], rate_hz: u32) -> std::borrow::Cow<'_, [i16]> {
    if rate_hz == VAD_SAMPLE_RATE_HZ || rate_hz == 0 || pcm.is_empty() {
        return std::borrow::Cow::Borrowed(pcm);
    }
    let step = f64::from(rate_hz) / f64::from(VAD_SAMPLE_RATE_HZ);
    let len = (pcm.len() as f64 / step).floor() as usize;
    let out = (0..len)
        .map(|n| {
            let t = n as f64 * step;
            let i = t.floor() as usize;
            let frac = t - i as f64;
            let a = f64::from(pcm[i]);
            let b = f64::from(*pcm.get(i + 1).unwrap_or(&pcm[i]));
            (a + (b - a) * frac).round() as i16
        })
        .collect();
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_bridges() {
        let flags = [false, true, true, false, true, false, false, false, true];
        assert_eq!(runs(&flags), vec![(1, 3), (4, 5), (8, 9)]);
        assert_eq!(bridge(runs(&flags), 1), vec![(1, 5), (8, 9)]);
        assert_eq!(bridge(runs(&flags), 3), vec![(1, 9)]);
    }

    #[test]
    fn levels_in_dbfs() {
        assert_eq!(rms_dbfs(&[0; 100]), DBFS_FLOOR);
        let full: Vec<i16> = (0..1_000)
            .map(|i| if i % 2 == 0 { 32_767 } else { -32_768 })
            .collect();
        assert!(rms_dbfs(&full).abs() < 0.01);
        let half: Vec<i16> = full.iter().map(|s| s / 2).collect();
        assert!((rms_dbfs(&half) + 6.02).abs() < 0.05);
    }

    #[test]
    fn silence_is_neither_speech_nor_loud() {
        let t = timeline(&vec![0; 16_000 * 3], 16_000);
        assert_eq!(t, Timeline::default());
    }

    #[test]
    fn resampling_keeps_the_duration() {
        let pcm = vec![1_000i16; 48_000];
        assert_eq!(resample_to_vad_rate(&pcm, 48_000).len(), 16_000);
    }

    #[test]
    fn serialises_as_pairs() {
        let t = Timeline {
            speech: vec![(0.5, 2.25)],
            loud: vec![],
        };
        let json = serde_json::to_string(&t).expect("json");
        assert_eq!(json, r#"{"speech":[[0.5,2.25]],"loud":[]}"#);
    }
}
