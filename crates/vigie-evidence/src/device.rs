//! The device entry (`docs/protocol/evidence.md` §3): the hub's word, in
//! its log, that a recording's chunks are signed by this device's key.
//! The hub appends it when the recording's first chunk arrives (and at
//! export for a recording logged before entries existed); it is proven
//! by inclusion under a checkpoint the hub signed, like the chunks, so a
//! forger cannot put another device key in an export without the hub's
//! key.

use crate::text::{self, Fields, Hash, TextError};

/// First line of every device entry.
pub const DEVICE_MAGIC: &str = "vigie-device-v1";

/// Largest device entry file: identifiers and one hash.
pub const DEVICE_ENTRY_BYTES_MAX: usize = 512;

/// Lines in a device entry, magic included.
const DEVICE_LINES: usize = 5;

/// One device entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    pub recording: String,
    pub device: String,
    /// SHA-256 of the device key's DER SubjectPublicKeyInfo
    /// ([`text::key_fingerprint`]).
    pub key_sha256: Hash,
    /// When the hub logged it, ms since the Unix epoch (the hub's clock).
    pub at_ms: u64,
}

/// Why a device entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceEntryError {
    #[error("not a device entry: {0}")]
    Text(#[from] TextError),
    #[error("bad value: {0}")]
    Value(&'static str),
}

/// Encodes an entry as its one canonical text.
pub fn encode(entry: &DeviceEntry) -> Result<Vec<u8>, DeviceEntryError> {
    if !text::is_id(&entry.recording) {
        return Err(DeviceEntryError::Value("recording"));
    }
    if !text::is_id(&entry.device) {
        return Err(DeviceEntryError::Value("device"));
    }
    Ok(format!(
        "{DEVICE_MAGIC}\nrecording: {}\ndevice: {}\nkey-sha256: {}\nat-ms: {}\n",
        entry.recording,
        entry.device,
        text::hex(&entry.key_sha256),
        entry.at_ms
    )
    .into_bytes())
}

/// Parses a device entry strictly.
pub fn parse(bytes: &[u8]) -> Result<DeviceEntry, DeviceEntryError> {
    let lines = text::lines(bytes, DEVICE_ENTRY_BYTES_MAX)?;
    let mut f = Fields::new(lines, DEVICE_MAGIC, DEVICE_LINES)?;
    let id = |s: &str| text::is_id(s).then(|| s.to_owned());
    let entry = DeviceEntry {
        recording: f.parse("recording", id)?,
        device: f.parse("device", id)?,
        key_sha256: f.parse("key-sha256", text::parse_hash)?,
        at_ms: f.parse("at-ms", text::parse_u64)?,
    };
    if encode(&entry)? != bytes {
        return Err(DeviceEntryError::Value("canonical form"));
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_one_spelling() {
        let e = DeviceEntry {
            recording: "0192f0c4-7d2a-7b3c-9f00-000000000001".into(),
            device: "dev-0192-ara-0042".into(),
            key_sha256: [0xab; 32],
            at_ms: 1_795_699_920_000,
        };
        let bytes = encode(&e).expect("encode");
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("utf8"),
            format!(
                "vigie-device-v1\nrecording: 0192f0c4-7d2a-7b3c-9f00-000000000001\n\
                 device: dev-0192-ara-0042\nkey-sha256: {}\nat-ms: 1795699920000\n",
                "ab".repeat(32)
            )
        );
        assert_eq!(parse(&bytes), Ok(e));
        let text = String::from_utf8(bytes).expect("utf8");
        for bad in [
            text.replace("abab", "ABAB"),
            text.replace("at-ms: 1", "at-ms: 01"),
            text.replace("device: ", "device:  "),
            format!("{text}extra: 1\n"),
            text.trim_end().to_owned(),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "accepted:\n{bad}");
        }
    }
}
