//! Chunk records (`docs/protocol/evidence.md` §2): what the box seals for
//! each audio chunk before it leaves the box. [`seal`] writes the one
//! canonical text and signs it with the device key; [`parse`] accepts only
//! that text (keys in order, no extra line, bounded sizes), so a record
//! file has exactly one spelling and its [`record_hash`] is what the next
//! record's `prev` and the hub's log commit to.

use crate::text::{self, ALG, Fields, Hash, TextError};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// First line of every record: the format and its version.
pub const RECORD_MAGIC: &str = "vigie-chunk-v1";

/// Largest record file: about 450 bytes with the longest ids; the bound
/// keeps a hostile file from costing anything to refuse.
pub const RECORD_BYTES_MAX: usize = 1024;

/// Largest audio chunk: a 2 s speech Opus chunk is about 8 KB; 1 MiB leaves
/// room for long chunks or high bit rates while bounding a forged one.
pub const CHUNK_AUDIO_BYTES_MAX: u64 = 1024 * 1024;

/// Largest sequence number: file names have six digits (at 2 s a chunk,
/// 23 days of audio, far beyond the 30 min maximum of a recording).
pub const SEQ_MAX: u64 = 999_999;

/// The `prev` of the first record: 32 zero bytes.
pub const PREV_NONE: Hash = [0; 32];

/// Lines in a record, magic and signature included (one more with a
/// clock correction).
const RECORD_LINES: usize = 13;

/// Largest clock correction a box may record: ten years either way.
pub const CLOCK_CORRECTION_MS_MAX: i64 = 10 * 366 * 24 * 3_600_000;

/// The fields of a chunk record, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRecord {
    /// Recording id (UUID v7 minted by the box).
    pub recording: String,
    pub alarm: String,
    pub device: String,
    /// 0, 1, 2 … without gaps.
    pub seq: u64,
    /// Record hash of the previous record file; [`PREV_NONE`] for seq 0.
    pub prev: Hash,
    pub audio_sha256: Hash,
    pub audio_bytes: u64,
    /// Capture start and end, box wall clock, ms since the Unix epoch.
    pub wall_ms: (u64, u64),
    /// Capture start and end, box monotonic clock, ms.
    pub mono_ms: (u64, u64),
    /// The last chunk of a recording that ended normally.
    pub is_final: bool,
    /// What the box added to its own clock to sign its requests when it
    /// sealed the chunk (hub time − box time, learned from the hub; 0 while
    /// they agreed). `wall_ms` stays the box's own reading; the line is
    /// written only when the correction is not 0.
    pub clock_correction_ms: i64,
}

/// A parsed record file: its fields, its signature, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecord {
    pub record: ChunkRecord,
    pub signature: Signature,
    /// The whole file, as parsed.
    pub bytes: Vec<u8>,
    /// How many leading bytes of `bytes` the signature covers.
    pub signed_len: usize,
    /// [`record_hash`] of `bytes`.
    pub hash: Hash,
}

/// Why a record file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a chunk record: {0}")]
    Text(#[from] TextError),
    #[error("bad value: {0}")]
    Value(&'static str),
}

impl ChunkRecord {
    /// The fields of a record for `audio`, hashing it.
    #[allow(clippy::too_many_arguments)]
    pub fn for_audio(
        recording: &str,
        alarm: &str,
        device: &str,
        seq: u64,
        prev: Hash,
        audio: &[u8],
        wall_ms: (u64, u64),
        mono_ms: (u64, u64),
        is_final: bool,
    ) -> Self {
        Self {
            recording: recording.to_owned(),
            alarm: alarm.to_owned(),
            device: device.to_owned(),
            seq,
            prev,
            audio_sha256: text::sha256(audio),
            audio_bytes: audio.len() as u64,
            wall_ms,
            mono_ms,
            is_final,
            clock_correction_ms: 0,
        }
    }

    /// The same record, with the clock correction the box applied.
    pub fn with_clock_correction(mut self, ms: i64) -> Self {
        self.clock_correction_ms = ms;
        self
    }

    /// `wall_ms` corrected as the box corrected its signatures.
    pub fn corrected_wall_ms(&self) -> (i64, i64) {
        let c = |t: u64| (t as i64).saturating_add(self.clock_correction_ms);
        (c(self.wall_ms.0), c(self.wall_ms.1))
    }

    /// The signed lines (everything but the signature line), canonical.
    pub fn body(&self) -> Vec<u8> {
        let correction = match self.clock_correction_ms {
            0 => String::new(),
            c => format!("clock-correction-ms: {c:+}\n"),
        };
        format!(
            "{RECORD_MAGIC}\nrecording: {}\nalarm: {}\ndevice: {}\nseq: {}\nprev: {}\n\
             audio-sha256: {}\naudio-bytes: {}\nwall-ms: {}..{}\nmono-ms: {}..{}\n\
             {correction}final: {}\nalg: {ALG}\n",
            self.recording,
            self.alarm,
            self.device,
            self.seq,
            text::hex(&self.prev),
            text::hex(&self.audio_sha256),
            self.audio_bytes,
            self.wall_ms.0,
            self.wall_ms.1,
            self.mono_ms.0,
            self.mono_ms.1,
            self.is_final,
        )
        .into_bytes()
    }

    /// Whether the fields are within the format's bounds (what [`parse`] accepts).
    pub fn check(&self) -> Result<(), RecordError> {
        for (name, id) in [
            ("recording", &self.recording),
            ("alarm", &self.alarm),
            ("device", &self.device),
        ] {
            if !text::is_id(id) {
                return Err(RecordError::Value(name));
            }
        }
        if self.seq > SEQ_MAX {
            return Err(RecordError::Value("seq"));
        }
        if self.audio_bytes > CHUNK_AUDIO_BYTES_MAX {
            return Err(RecordError::Value("audio-bytes"));
        }
        if self.wall_ms.0 > self.wall_ms.1 {
            return Err(RecordError::Value("wall-ms"));
        }
        if self.mono_ms.0 > self.mono_ms.1 {
            return Err(RecordError::Value("mono-ms"));
        }
        if self.clock_correction_ms.abs() > CLOCK_CORRECTION_MS_MAX {
            return Err(RecordError::Value("clock-correction-ms"));
        }
        Ok(())
    }
}

/// Seals a record: the canonical text signed with the device key. This is
/// the whole cost of sealing besides hashing the audio (one ECDSA signature).
///
/// Fails only if the fields are out of bounds (a programmer error on the box).
pub fn seal(record: &ChunkRecord, device_key: &SigningKey) -> Result<Vec<u8>, RecordError> {
    record.check()?;
    Ok(text::append_signature(record.body(), device_key))
}

/// The record hash: SHA-256 of the whole record file.
pub fn record_hash(bytes: &[u8]) -> Hash {
    text::sha256(bytes)
}

/// Parses a record file strictly. The signature is parsed, not verified:
/// see [`verify`].
pub fn parse(bytes: &[u8]) -> Result<SignedRecord, RecordError> {
    let lines = text::lines(bytes, RECORD_BYTES_MAX)?;
    let corrected = lines.len() == RECORD_LINES + 1;
    let expected = if corrected {
        RECORD_LINES + 1
    } else {
        RECORD_LINES
    };
    let mut f = Fields::new(lines, RECORD_MAGIC, expected)?;
    let id = |s: &str| text::is_id(s).then(|| s.to_owned());
    let record = ChunkRecord {
        recording: f.parse("recording", id)?,
        alarm: f.parse("alarm", id)?,
        device: f.parse("device", id)?,
        seq: f.parse("seq", |s| text::parse_u64(s).filter(|&n| n <= SEQ_MAX))?,
        prev: f.parse("prev", text::parse_hash)?,
        audio_sha256: f.parse("audio-sha256", text::parse_hash)?,
        audio_bytes: f.parse("audio-bytes", |s| {
            text::parse_u64(s).filter(|&n| n <= CHUNK_AUDIO_BYTES_MAX)
        })?,
        wall_ms: f.parse("wall-ms", text::parse_range)?,
        mono_ms: f.parse("mono-ms", text::parse_range)?,
        // Written with its sign, never for 0 (the one spelling of 0 is no line).
        clock_correction_ms: if corrected {
            f.parse("clock-correction-ms", |s| {
                let digits = s.strip_prefix(['+', '-'])?;
                let n = i64::try_from(text::parse_u64(digits)?).ok()?;
                let n = if s.starts_with('-') { -n } else { n };
                (n != 0 && n.abs() <= CLOCK_CORRECTION_MS_MAX).then_some(n)
            })?
        } else {
            0
        },
        is_final: f.parse("final", |s| match s {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })?,
    };
    f.parse("alg", |s| (s == ALG).then_some(()))?;
    let signed = text::split_signature(bytes)?;
    let signed_len = signed.body.len();
    // The parse above is strict, so the body re-encodes to the same bytes;
    // checked anyway, as it is what the signature covers.
    if record.body() != signed.body {
        return Err(RecordError::Value("canonical form"));
    }
    Ok(SignedRecord {
        record,
        signature: signed.signature,
        bytes: bytes.to_vec(),
        signed_len,
        hash: record_hash(bytes),
    })
}

/// Whether the record's signature verifies with the device's public key.
pub fn verify(record: &SignedRecord, device_key: &VerifyingKey) -> bool {
    text::verify(
        &record.bytes[..record.signed_len],
        &record.signature,
        device_key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_slice(&[n; 32]).expect("key")
    }

    fn sample(seq: u64, prev: Hash, is_final: bool) -> ChunkRecord {
        ChunkRecord::for_audio(
            "0192f0c4-7d2a-7b3c-9f00-000000000001",
            "0192f0c3-0000-7000-8000-000000000002",
            "dev-0192",
            seq,
            prev,
            b"OggS audio",
            (1_795_699_920_000, 1_795_699_922_000),
            (81_234_567, 81_236_567),
            is_final,
        )
    }

    #[test]
    fn sealed_record_has_the_documented_text() {
        let bytes = seal(&sample(0, PREV_NONE, false), &key(1)).expect("seal");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "vigie-chunk-v1");
        assert_eq!(lines[1], "recording: 0192f0c4-7d2a-7b3c-9f00-000000000001");
        assert_eq!(lines[4], "seq: 0");
        assert_eq!(lines[5], format!("prev: {}", "0".repeat(64)));
        assert_eq!(lines[7], "audio-bytes: 10");
        assert_eq!(lines[8], "wall-ms: 1795699920000..1795699922000");
        assert_eq!(lines[9], "mono-ms: 81234567..81236567");
        assert_eq!(lines[10], "final: false");
        assert_eq!(lines[11], "alg: ecdsa-p256-sha256");
        assert!(lines[12].starts_with("signature: "));
        assert_eq!(lines.len(), 13);
        assert!(bytes.ends_with(b"\n"));
    }

    #[test]
    fn parse_round_trips_and_verifies() {
        let record = sample(3, [9; 32], true);
        let bytes = seal(&record, &key(1)).expect("seal");
        let parsed = parse(&bytes).expect("parse");
        assert_eq!(parsed.record, record);
        assert_eq!(parsed.hash, record_hash(&bytes));
        assert!(verify(&parsed, key(1).verifying_key()));
        assert!(!verify(&parsed, key(2).verifying_key()));
    }

    #[test]
    fn a_clock_correction_is_sealed_with_its_sign_and_zero_has_no_line() {
        let behind = 3 * 24 * 3_600_000;
        let record = sample(0, PREV_NONE, false).with_clock_correction(behind);
        let bytes = seal(&record, &key(1)).expect("seal");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(
            text.contains(
                "mono-ms: 81234567..81236567\nclock-correction-ms: +259200000\nfinal: false\n"
            ),
            "{text}"
        );
        let parsed = parse(&bytes).expect("parse");
        assert_eq!(parsed.record.clock_correction_ms, behind);
        assert_eq!(
            parsed.record.corrected_wall_ms().0,
            1_795_699_920_000 + behind
        );
        assert!(verify(&parsed, key(1).verifying_key()));
        let ahead = seal(
            &sample(0, PREV_NONE, false).with_clock_correction(-1_500),
            &key(1),
        )
        .expect("seal");
        assert_eq!(
            parse(&ahead).expect("parse").record.clock_correction_ms,
            -1_500
        );
        // One spelling: a sign always, no zero, no leading zero, within bounds.
        for bad in ["259200000", "+0", "-0", "0", "+0259200000", "+ 1", "+1e3"] {
            let edited = text.replace(
                "clock-correction-ms: +259200000",
                &format!("clock-correction-ms: {bad}"),
            );
            assert!(parse(edited.as_bytes()).is_err(), "{bad}");
        }
        assert!(
            ChunkRecord::check(
                &record
                    .clone()
                    .with_clock_correction(CLOCK_CORRECTION_MS_MAX + 1)
            )
            .is_err()
        );
    }

    #[test]
    fn parse_refuses_every_other_spelling() {
        let bytes = seal(&sample(3, [9; 32], true), &key(1)).expect("seal");
        let text = String::from_utf8(bytes).expect("utf8");
        let edits: Vec<String> = vec![
            text.replace("seq: 3", "seq: 03"),
            text.replace("seq: 3", "seq:  3"),
            text.replace("final: true", "final: True"),
            text.replace("alg: ecdsa-p256-sha256", "alg: ecdsa-p384-sha384"),
            text.replace("\nalarm:", "\nextra: x\nalarm:"),
            text.replace("audio-bytes: 10\n", ""),
            text.replace('\n', "\r\n"),
            text.trim_end().to_owned(),
            text.replace("prev: 0909", "prev: 0A09"),
            text.replace(
                "wall-ms: 1795699920000..1795699922000",
                "wall-ms: 1795699922000..1795699920000",
            ),
            text.replace("dev-0192", "dev 0192"),
            text.replace(
                "audio-bytes: 10",
                &format!("audio-bytes: {}", CHUNK_AUDIO_BYTES_MAX + 1),
            ),
            format!("{text}\n"),
            text.replace("recording:", "alarm:"),
        ];
        for edit in edits {
            assert_ne!(edit, text);
            assert!(parse(edit.as_bytes()).is_err(), "accepted:\n{edit}");
        }
        assert!(parse(&vec![b'a'; RECORD_BYTES_MAX + 1]).is_err());
    }

    #[test]
    fn seal_refuses_fields_out_of_bounds() {
        let mut record = sample(0, PREV_NONE, false);
        record.seq = SEQ_MAX + 1;
        assert_eq!(seal(&record, &key(1)), Err(RecordError::Value("seq")));
        let mut record = sample(0, PREV_NONE, false);
        record.device = "a\nb".into();
        assert!(seal(&record, &key(1)).is_err());
    }
}
