//! Opus in Ogg (RFC 7845): speech-quality Opus packets of 20 ms, framed in
//! Ogg pages that are flushed about every second.
//!
//! The writer hands out **whole pages** only, each with the number of input
//! samples it completes, so the chunker can cut the stream on page
//! boundaries and time every chunk. Granule positions count 48 kHz samples
//! (RFC 7845 §4): what a decoder has produced, the pre-skip included; the
//! last page's granule position
//! trims the padding of the last frame, so a decoder gives back exactly the
//! samples that were captured.

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Input sample rate: speech, and what the microphone path delivers.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// Opus frame: 20 ms is the usual speech frame (good quality per bit, low overhead).
pub const FRAME_MS: u32 = 20;
/// Samples per frame at the input rate.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE_HZ * FRAME_MS / 1000) as usize;
/// Target bit rate: 20 kbit/s is transparent enough for speech in a shop and
/// keeps a 30 min recording near 4.5 MB over the holder's mobile data.
pub const BITRATE_BPS: i32 = 20_000;
/// A page is flushed after this much audio, so a chunk of about 2 s is made
/// of whole pages and a torn-off box loses at most about a second.
pub const PAGE_MS_TARGET: u32 = 1_000;
/// Granule positions count samples at 48 kHz whatever the input rate (RFC 7845 §4).
const GRANULE_RATE_HZ: u64 = 48_000;
/// 48 kHz samples per input sample.
const GRANULE_PER_SAMPLE: u64 = GRANULE_RATE_HZ / SAMPLE_RATE_HZ as u64;
/// Largest Opus packet we accept from the encoder (RFC 6716 §3.2.1 allows 1275 bytes per frame).
const PACKET_BYTES_MAX: usize = 1_275;
/// Name in the OpusTags header.
const VENDOR: &str = "vigie-agent";

/// Errors of the codec; all of them are programmer or library errors, not
/// operating conditions.
#[derive(Debug, thiserror::Error)]
pub enum OggOpusError {
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    #[error("ogg framing: {0}")]
    Framing(#[from] std::io::Error),
}

/// One or more whole Ogg pages, as they leave the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pages {
    pub bytes: Vec<u8>,
    /// Input samples (16 kHz) completed by the end of these pages: 0 for the header pages.
    pub samples_end: u64,
    /// True for the OpusHead and OpusTags pages.
    pub header: bool,
    /// True when the last page ends the stream (EOS flag set).
    pub end_of_stream: bool,
}

/// Streams 16 kHz mono PCM into Ogg Opus pages.
pub struct OggOpusWriter {
    encoder: opus::Encoder,
    writer: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    /// Encoder delay at 48 kHz, written as the pre-skip.
    pre_skip: u64,
    /// Encoder delay at the input rate.
    lookahead_samples: u64,
    /// Samples waiting for a whole frame.
    pending: Vec<i16>,
    /// Input samples received so far (without padding).
    samples_in: u64,
    /// Samples encoded so far (whole frames, padding included).
    samples_encoded: u64,
    packets_in_page: u32,
    packet: Vec<u8>,
}

impl OggOpusWriter {
    /// A new stream with the given serial number, and its two header pages.
    pub fn new(serial: u32) -> Result<(Self, Pages), OggOpusError> {
        let mut encoder = opus::Encoder::new(
            SAMPLE_RATE_HZ,
            opus::Channels::Mono,
            opus::Application::Voip,
        )?;
        encoder.set_bitrate(opus::Bitrate::Bits(BITRATE_BPS))?;
        encoder.set_signal(opus::Signal::Voice)?;
        let lookahead = u64::try_from(encoder.get_lookahead()?).unwrap_or(0);
        let pre_skip = lookahead * GRANULE_PER_SAMPLE;

        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&u16::try_from(pre_skip).unwrap_or(u16::MAX).to_le_bytes());
        head.extend_from_slice(&SAMPLE_RATE_HZ.to_le_bytes()); // original input rate
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // mapping family 0: mono or stereo, no table

        let mut tags = Vec::with_capacity(8 + 4 + VENDOR.len() + 4);
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(VENDOR.len() as u32).to_le_bytes());
        tags.extend_from_slice(VENDOR.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes()); // no user comments

        let mut writer = PacketWriter::new(Vec::new());
        // Each header packet alone on its page, granule position 0 (RFC 7845 §3).
        writer.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        writer.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        let bytes = std::mem::take(writer.inner_mut());
        let this = Self {
            encoder,
            writer,
            serial,
            pre_skip,
            lookahead_samples: lookahead,
            pending: Vec::with_capacity(FRAME_SAMPLES),
            samples_in: 0,
            samples_encoded: 0,
            packets_in_page: 0,
            packet: vec![0; PACKET_BYTES_MAX],
        };
        let headers = Pages {
            bytes,
            samples_end: 0,
            header: true,
            end_of_stream: false,
        };
        Ok((this, headers))
    }

    /// Encoder delay in 48 kHz samples (the OpusHead pre-skip).
    pub fn pre_skip(&self) -> u64 {
        self.pre_skip
    }

    /// Input samples received so far.
    pub fn samples_in(&self) -> u64 {
        self.samples_in
    }

    /// Encodes `samples`; returns the pages completed by them, if any.
    pub fn push(&mut self, samples: &[i16]) -> Result<Vec<Pages>, OggOpusError> {
        let mut out = Vec::new();
        self.samples_in += samples.len() as u64;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (FRAME_SAMPLES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == FRAME_SAMPLES
                && let Some(pages) = self.encode_pending(false)?
            {
                out.push(pages);
            }
        }
        Ok(out)
    }

    /// Pads the last frame, encodes enough silence to flush the encoder's
    /// delay, and ends the stream. The last page's granule position makes a
    /// decoder drop the padding.
    pub fn finish(mut self) -> Result<Pages, OggOpusError> {
        // The decoder, after the pre-skip, must reach every input sample.
        let needed = self.samples_in + self.lookahead_samples;
        let mut bytes = Vec::new();
        loop {
            self.pending.resize(FRAME_SAMPLES, 0);
            let last = self.samples_encoded + FRAME_SAMPLES as u64 >= needed;
            if let Some(mut pages) = self.encode_pending(last)? {
                bytes.append(&mut pages.bytes);
                if last {
                    pages.bytes = bytes;
                    return Ok(pages);
                }
            } else if last {
                return Err(OggOpusError::Framing(std::io::Error::other(
                    "the end of the stream wrote no page",
                )));
            }
        }
    }

    fn encode_pending(&mut self, end: bool) -> Result<Option<Pages>, OggOpusError> {
        let len = self.encoder.encode(&self.pending, &mut self.packet)?;
        self.pending.clear();
        self.samples_encoded += FRAME_SAMPLES as u64;
        self.packets_in_page += 1;
        let granule = if end {
            // End trimming (RFC 7845 §4.4): the decoder stops at the last real sample.
            self.pre_skip + self.samples_in * GRANULE_PER_SAMPLE
        } else {
            // Samples a decoder has produced by the end of this packet, the pre-skip among them.
            self.samples_encoded * GRANULE_PER_SAMPLE
        };
        let page_full = self.packets_in_page >= PAGE_MS_TARGET / FRAME_MS;
        let info = if end {
            PacketWriteEndInfo::EndStream
        } else if page_full {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        self.writer
            .write_packet(self.packet[..len].to_vec(), self.serial, info, granule)?;
        if end || page_full {
            self.packets_in_page = 0;
        }
        let written = self.writer.inner_mut();
        if written.is_empty() {
            return Ok(None);
        }
        Ok(Some(Pages {
            bytes: std::mem::take(written),
            samples_end: self.samples_encoded.min(self.samples_in),
            header: false,
            end_of_stream: end,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_count(bytes: &[u8]) -> usize {
        bytes.windows(4).filter(|w| w == b"OggS").count()
    }

    /// Granule position of the last page in `bytes`.
    fn granule(bytes: &[u8]) -> u64 {
        let start = bytes
            .windows(4)
            .rposition(|w| w == b"OggS")
            .expect("a page");
        let mut gp = [0u8; 8];
        gp.copy_from_slice(&bytes[start + 6..start + 14]);
        u64::from_le_bytes(gp)
    }

    #[test]
    fn header_pages_carry_opus_head_and_tags() {
        let (writer, headers) = OggOpusWriter::new(7).expect("writer");
        assert!(headers.header);
        assert_eq!(page_count(&headers.bytes), 2);
        assert!(headers.bytes.windows(8).any(|w| w == b"OpusHead"));
        assert!(headers.bytes.windows(8).any(|w| w == b"OpusTags"));
        assert!(writer.pre_skip() > 0, "libopus has an encoder delay");
    }

    #[test]
    fn a_page_is_flushed_every_second() {
        let (mut writer, _) = OggOpusWriter::new(7).expect("writer");
        let second = vec![0i16; SAMPLE_RATE_HZ as usize];
        let pages = writer.push(&second).expect("push");
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].samples_end, u64::from(SAMPLE_RATE_HZ));
        assert_eq!(page_count(&pages[0].bytes), 1);
        assert_eq!(
            granule(&pages[0].bytes),
            48_000,
            "50 packets decode to 48,000 samples"
        );
        let writer_pre_skip = writer.pre_skip();
        let last = writer.push(&second[..100]).expect("push");
        assert!(last.is_empty(), "less than a page of audio stays pending");
        let end = writer.finish().expect("finish");
        assert!(end.end_of_stream);
        assert_eq!(end.samples_end, u64::from(SAMPLE_RATE_HZ) + 100);
        let pre_skip = writer_pre_skip;
        assert_eq!(
            granule(&end.bytes),
            pre_skip + (u64::from(SAMPLE_RATE_HZ) + 100) * 3,
            "the last granule position trims to the captured samples"
        );
    }
}
