//! Cutting the Ogg stream into chunks of whole pages, about
//! [`CHUNK_MS_TARGET`] of audio each, so the chunks joined byte for byte are
//! the whole `.ogg` file (evidence format §1). The first chunk carries the
//! header pages. Pure: pages in, chunks out.
//!
//! Capture times are the recording's start instant plus the audio position
//! (samples / 16 kHz), so successive chunks are exactly contiguous: chunk
//! `n + 1` starts at the millisecond chunk `n` ends. On the box, the sound
//! card's clock and the system clock agree to well under 0.1 %.

use super::ogg::{Pages, SAMPLE_RATE_HZ};
use super::{CaptureInstant, EndReason};

/// Audio per chunk: short enough that little is lost if the box is torn off,
/// long enough that sealing and uploading stay cheap (evidence format §1).
pub const CHUNK_MS_TARGET: u64 = 2_000;

/// One chunk of the recording, ready to be sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// 0, 1, 2… without gaps.
    pub seq: u64,
    /// Whole Ogg pages.
    pub bytes: Vec<u8>,
    /// Capture start and end, box wall clock (ms since the Unix epoch).
    pub wall_ms_start: i64,
    pub wall_ms_end: i64,
    /// Capture start and end, box monotonic clock (ms).
    pub mono_ms_start: u64,
    pub mono_ms_end: u64,
    /// The last chunk of the recording (it holds the end-of-stream page).
    pub is_final: bool,
    /// Why the recording ended; on the final chunk only.
    pub end: Option<EndReason>,
}

/// Gathers pages into chunks.
#[derive(Debug)]
pub struct Chunker {
    at: CaptureInstant,
    seq: u64,
    bytes: Vec<u8>,
    /// Audio position (16 kHz samples) where the pending chunk starts.
    start_samples: u64,
    /// Audio position the pending pages reach.
    end_samples: u64,
}

fn samples_to_ms(samples: u64) -> u64 {
    samples * 1_000 / u64::from(SAMPLE_RATE_HZ)
}

impl Chunker {
    /// A chunker for a recording whose first sample was captured at `at`.
    pub fn new(at: CaptureInstant) -> Self {
        Self {
            at,
            seq: 0,
            bytes: Vec::new(),
            start_samples: 0,
            end_samples: 0,
        }
    }

    /// Adds pages; returns a chunk once enough audio has gathered.
    pub fn push(&mut self, pages: Pages) -> Option<Chunk> {
        self.bytes.extend_from_slice(&pages.bytes);
        self.end_samples = self.end_samples.max(pages.samples_end);
        let gathered_ms = samples_to_ms(self.end_samples - self.start_samples);
        (gathered_ms >= CHUNK_MS_TARGET).then(|| self.emit(false, None))
    }

    /// Adds the last pages and returns the final chunk.
    pub fn finish(mut self, pages: Pages, reason: EndReason) -> Chunk {
        self.bytes.extend_from_slice(&pages.bytes);
        self.end_samples = self.end_samples.max(pages.samples_end);
        self.emit(true, Some(reason))
    }

    fn emit(&mut self, is_final: bool, end: Option<EndReason>) -> Chunk {
        let start_ms = samples_to_ms(self.start_samples);
        let end_ms = samples_to_ms(self.end_samples);
        let chunk = Chunk {
            seq: self.seq,
            bytes: std::mem::take(&mut self.bytes),
            wall_ms_start: self.at.wall_ms.saturating_add_unsigned(start_ms),
            wall_ms_end: self.at.wall_ms.saturating_add_unsigned(end_ms),
            mono_ms_start: self.at.mono_ms.saturating_add(start_ms),
            mono_ms_end: self.at.mono_ms.saturating_add(end_ms),
            is_final,
            end,
        };
        self.seq += 1;
        self.start_samples = self.end_samples;
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(tag: u8, samples_end: u64) -> Pages {
        Pages {
            bytes: vec![tag; 3],
            samples_end,
            header: samples_end == 0,
            end_of_stream: false,
        }
    }

    #[test]
    fn chunks_of_two_seconds_with_headers_first_and_contiguous_times() {
        let at = CaptureInstant {
            wall_ms: 1_795_699_920_000,
            mono_ms: 81_234_567,
        };
        let mut chunker = Chunker::new(at);
        assert_eq!(chunker.push(pages(0, 0)), None);
        assert_eq!(chunker.push(pages(1, 16_000)), None);
        let first = chunker.push(pages(2, 32_000)).expect("2 s gathered");
        assert_eq!(first.seq, 0);
        assert_eq!(first.bytes, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
        assert_eq!(
            (first.wall_ms_start, first.wall_ms_end),
            (1_795_699_920_000, 1_795_699_922_000)
        );
        assert_eq!(
            (first.mono_ms_start, first.mono_ms_end),
            (81_234_567, 81_236_567)
        );
        assert!(!first.is_final);
        assert_eq!(chunker.push(pages(3, 48_000)), None);
        let last = chunker.finish(pages(4, 52_000), EndReason::Stopped);
        assert_eq!(last.seq, 1);
        assert_eq!(last.bytes, vec![3, 3, 3, 4, 4, 4]);
        assert_eq!(last.wall_ms_start, first.wall_ms_end);
        assert_eq!(last.mono_ms_end, 81_234_567 + 3_250);
        assert!(last.is_final);
        assert_eq!(last.end, Some(EndReason::Stopped));
    }
}
