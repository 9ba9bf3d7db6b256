//! Ogg Opus (RFC 7845) back to PCM, for the timeline: the hub keeps only
//! the recording's Ogg file.
//!
//! Decodes at the input rate named in `OpusHead` when Opus can produce it
//! (8, 12, 16, 24 or 48 kHz; else 48 kHz), mono; drops the pre-skip and
//! trims the end to the last page's granule position, so the PCM has the
//! length that was captured. Bytes from anywhere: every length is bounded
//! and every malformed input is an error, never a crash.

use std::io::Cursor;

/// Most samples decoded: two hours at 48 kHz (a recording is at most 30 min
/// by default); bounds memory for hostile input.
pub const PCM_SAMPLES_MAX: usize = 2 * 3_600 * 48_000;
/// Longest Opus packet duration (RFC 6716 §3.2.1): 120 ms.
const PACKET_MS_MAX: usize = 120;
/// Granule positions count 48 kHz samples (RFC 7845 §4).
const GRANULE_RATE_HZ: u64 = 48_000;
/// Rates libopus can decode to.
const OPUS_RATES_HZ: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// Why a recording could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not an Ogg stream: {0}")]
    Ogg(String),
    #[error("the first packet is not an OpusHead")]
    NotOpus,
    #[error("OpusHead: {0}")]
    BadHead(&'static str),
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    #[error("the recording is longer than {PCM_SAMPLES_MAX} samples")]
    TooLong,
}

struct Head {
    channels: u8,
    pre_skip: u64,
    input_rate_hz: u32,
}

fn parse_head(data: &[u8]) -> Result<Head, DecodeError> {
    if data.len() < 19 || &data[..8] != b"OpusHead" {
        return Err(DecodeError::NotOpus);
    }
    if data[8] >> 4 != 0 {
        return Err(DecodeError::BadHead("unsupported major version"));
    }
    let channels = data[9];
    if !(1..=2).contains(&channels) || data[18] != 0 {
        return Err(DecodeError::BadHead(
            "only mono or stereo, mapping family 0",
        ));
    }
    Ok(Head {
        channels,
        pre_skip: u64::from(u16::from_le_bytes([data[10], data[11]])),
        input_rate_hz: u32::from_le_bytes([data[12], data[13], data[14], data[15]]),
    })
}

/// Decodes an Ogg Opus file to mono PCM; returns the samples and their rate.
pub fn ogg_opus_to_pcm(bytes: &[u8]) -> Result<(Vec<i16>, u32), DecodeError> {
    let mut reader = ogg::reading::PacketReader::new(Cursor::new(bytes));
    let ogg_err = |e: ogg::OggReadError| DecodeError::Ogg(e.to_string());
    let first = reader
        .read_packet()
        .map_err(ogg_err)?
        .ok_or(DecodeError::NotOpus)?;
    let head = parse_head(&first.data)?;
    let serial = first.stream_serial();
    let rate_hz = if OPUS_RATES_HZ.contains(&head.input_rate_hz) {
        head.input_rate_hz
    } else {
        GRANULE_RATE_HZ as u32
    };
    let channels = if head.channels == 2 {
        opus::Channels::Stereo
    } else {
        opus::Channels::Mono
    };
    let mut decoder = opus::Decoder::new(rate_hz, channels)?;
    let frame_max = rate_hz as usize * PACKET_MS_MAX / 1_000 * usize::from(head.channels);
    let mut buffer = vec![0i16; frame_max];
    let mut pcm: Vec<i16> = Vec::new();
    let mut last_granule = None;
    let mut packets = 0usize;
    while let Some(packet) = reader.read_packet().map_err(ogg_err)? {
        if packet.stream_serial() != serial {
            continue; // another logical stream: not ours
        }
        packets += 1;
        if packets == 1 {
            continue; // OpusTags
        }
        let frames = decoder.decode(&packet.data, &mut buffer, false)?;
        let decoded = &buffer[..frames * usize::from(head.channels)];
        if head.channels == 2 {
            pcm.extend(
                decoded
                    .chunks_exact(2)
                    .map(|lr| ((i32::from(lr[0]) + i32::from(lr[1])) / 2) as i16),
            );
        } else {
            pcm.extend_from_slice(decoded);
        }
        if pcm.len() > PCM_SAMPLES_MAX {
            return Err(DecodeError::TooLong);
        }
        if packet.last_in_page() {
            last_granule = Some(packet.absgp_page());
        }
    }
    // A granule position is any 64-bit value on the wire: scaled in 128 bits.
    let per_granule = |g: u64| {
        usize::try_from(u128::from(g) * u128::from(rate_hz) / u128::from(GRANULE_RATE_HZ))
            .unwrap_or(usize::MAX)
    };
    let skip = per_granule(head.pre_skip);
    if let Some(granule) = last_granule {
        let end = per_granule(granule);
        pcm.truncate(end);
    }
    let skip = skip.min(pcm.len());
    pcm.drain(..skip);
    Ok((pcm, rate_hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        assert!(ogg_opus_to_pcm(b"").is_err());
        assert!(ogg_opus_to_pcm(b"OggS not really").is_err());
        assert!(ogg_opus_to_pcm(&[0u8; 4096]).is_err());
    }
}
