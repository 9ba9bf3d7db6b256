//! Checkpoints (`docs/protocol/evidence.md` §3): the hub's signed
//! statement of its log's size and root at a time. Time-stamp tokens are
//! taken over the whole checkpoint file, so a checkpoint and its token
//! prove that every entry of the log up to `size` existed then.

use crate::text::{self, ALG, Fields, Hash, TextError};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// First line of every checkpoint.
pub const CHECKPOINT_MAGIC: &str = "vigie-checkpoint-v1";

/// Largest checkpoint file: about 300 bytes with the longest log id.
pub const CHECKPOINT_BYTES_MAX: usize = 1024;

/// Lines in a checkpoint, magic and signature included.
const CHECKPOINT_LINES: usize = 7;

/// The state of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The hub's log id.
    pub log: String,
    /// Number of leaves.
    pub size: u64,
    /// Merkle root of the first `size` leaves.
    pub root: Hash,
    /// When the hub made it, ms since the Unix epoch (the hub's clock; the
    /// trusted time is the token's).
    pub time_ms: u64,
}

/// A parsed checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signature: Signature,
    pub bytes: Vec<u8>,
    pub signed_len: usize,
}

/// Why a checkpoint file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint: {0}")]
    Text(#[from] TextError),
    #[error("bad value: {0}")]
    Value(&'static str),
}

impl Checkpoint {
    /// The signed lines, canonical.
    pub fn body(&self) -> Vec<u8> {
        format!(
            "{CHECKPOINT_MAGIC}\nlog: {}\nsize: {}\nroot: {}\ntime-ms: {}\nalg: {ALG}\n",
            self.log,
            self.size,
            text::hex(&self.root),
            self.time_ms
        )
        .into_bytes()
    }
}

/// Encodes and signs a checkpoint with the hub's key.
pub fn sign(checkpoint: &Checkpoint, hub_key: &SigningKey) -> Result<Vec<u8>, CheckpointError> {
    if !text::is_id(&checkpoint.log) {
        return Err(CheckpointError::Value("log"));
    }
    Ok(text::append_signature(checkpoint.body(), hub_key))
}

/// Parses a checkpoint file strictly (the signature is parsed, not verified).
pub fn parse(bytes: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
    let lines = text::lines(bytes, CHECKPOINT_BYTES_MAX)?;
    let mut f = Fields::new(lines, CHECKPOINT_MAGIC, CHECKPOINT_LINES)?;
    let checkpoint = Checkpoint {
        log: f.parse("log", |s| text::is_id(s).then(|| s.to_owned()))?,
        size: f.parse("size", text::parse_u64)?,
        root: f.parse("root", text::parse_hash)?,
        time_ms: f.parse("time-ms", text::parse_u64)?,
    };
    f.parse("alg", |s| (s == ALG).then_some(()))?;
    let signed = text::split_signature(bytes)?;
    if checkpoint.body() != signed.body {
        return Err(CheckpointError::Value("canonical form"));
    }
    Ok(SignedCheckpoint {
        checkpoint,
        signature: signed.signature,
        signed_len: signed.body.len(),
        bytes: bytes.to_vec(),
    })
}

/// Whether the checkpoint's signature verifies with the hub's public key.
pub fn verify(checkpoint: &SignedCheckpoint, hub_key: &VerifyingKey) -> bool {
    text::verify(
        &checkpoint.bytes[..checkpoint.signed_len],
        &checkpoint.signature,
        hub_key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let key = SigningKey::from_slice(&[5; 32]).expect("key");
        let other = SigningKey::from_slice(&[6; 32]).expect("key");
        let cp = Checkpoint {
            log: "region-ara-1".into(),
            size: 1234,
            root: [0xab; 32],
            time_ms: 1_795_700_000_000,
        };
        let bytes = sign(&cp, &key).expect("sign");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.starts_with(&format!(
            "vigie-checkpoint-v1\nlog: region-ara-1\nsize: 1234\nroot: {}\ntime-ms: 1795700000000\nalg: ecdsa-p256-sha256\nsignature: ",
            "ab".repeat(32)
        )));
        let parsed = parse(&bytes).expect("parse");
        assert_eq!(parsed.checkpoint, cp);
        assert!(verify(&parsed, key.verifying_key()));
        assert!(!verify(&parsed, other.verifying_key()));
        let forged = text.replace("size: 1234", "size: 1235");
        let forged = parse(forged.as_bytes()).expect("still well-formed");
        assert!(!verify(&forged, key.verifying_key()));
        assert!(parse(text.replace("size: 1234", "size: 1234 ").as_bytes()).is_err());
    }
}
