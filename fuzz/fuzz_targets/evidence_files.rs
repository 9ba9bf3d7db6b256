//! Every file format the evidence verifier checks, one at a time: the first
//! byte picks the format, the rest is the file. Chunk records
//! (`record::parse`), custody events, checkpoints, the hub's device entry,
//! the Region's trust file, inclusion and consistency proofs, public keys
//! and certificate chains in PEM, the signature line, an export's part
//! names, and the Merkle proof checks fed with what a proof file says.
//! Whatever parses is re-encoded: every format has one spelling.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use p256::ecdsa::{SigningKey, VerifyingKey};
use vigie_evidence::export::{self, ConsistencyProof, InclusionProof, Part};
use vigie_evidence::trust::{Trust, certificate_fingerprints};
use vigie_evidence::{checkpoint, custody, device, merkle, record, text};

/// The golden export's keys (crates/vigie-evidence/tests/it/golden.rs).
fn key(byte: u8) -> VerifyingKey {
    *SigningKey::from_slice(&[byte; 32]).expect("key").verifying_key()
}
static DEVICE_KEY: LazyLock<VerifyingKey> = LazyLock::new(|| key(0x11));
static HUB_KEY: LazyLock<VerifyingKey> = LazyLock::new(|| key(0x22));

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else {
        return;
    };
    let (device_key, hub_key) = (*DEVICE_KEY, *HUB_KEY);
    match which % 12 {
        0 => {
            if let Ok(r) = record::parse(file) {
                assert_eq!(r.record.body(), &file[..r.signed_len]);
                let _ = r.record.check();
                let _ = r.record.corrected_wall_ms();
                let _ = record::verify(&r, &device_key);
            }
        }
        1 => {
            if let Ok(event) = custody::parse(file) {
                assert_eq!(custody::encode(&event).expect("encodes"), file);
            }
        }
        2 => {
            if let Ok(c) = checkpoint::parse(file) {
                assert_eq!(c.checkpoint.body(), &file[..c.signed_len]);
                let _ = checkpoint::verify(&c, &hub_key);
            }
        }
        3 => {
            if let Ok(entry) = device::parse(file) {
                assert_eq!(device::encode(&entry).expect("encodes"), file);
            }
        }
        4 => {
            if let Ok(trust) = Trust::parse(file) {
                assert_eq!(trust.encode(), file);
                let _ = trust.hub_key(&[0; 32]).count();
                let _ = trust.accepts_tsa_root(&[0; 32]);
            }
        }
        5 => {
            if let Ok(proof) = InclusionProof::parse(file) {
                assert_eq!(proof.encode(), file);
                let leaf = merkle::leaf_hash(b"entry");
                let _ = merkle::verify_inclusion(
                    &leaf,
                    proof.leaf_index,
                    proof.tree_size,
                    &proof.path,
                    &[0; 32],
                );
            }
        }
        6 => {
            if let Ok(proof) = ConsistencyProof::parse(file) {
                assert_eq!(proof.encode(), file);
                let _ = merkle::verify_consistency(
                    proof.from_size,
                    proof.to_size,
                    &proof.path,
                    &[0; 32],
                    &[1; 32],
                );
            }
        }
        7 => {
            if let Some(key) = export::parse_public_key_pem(file) {
                let pem = export::public_key_pem(&key).expect("a key writes as PEM");
                assert_eq!(export::parse_public_key_pem(pem.as_bytes()), Some(key));
            }
        }
        8 => {
            let _ = certificate_fingerprints(file);
        }
        9 => {
            if let Ok(signed) = text::split_signature(file) {
                let _ = text::verify(signed.body, &signed.signature, &hub_key);
            }
        }
        10 => {
            let path = String::from_utf8_lossy(file);
            if let Some(part) = Part::parse(&path) {
                assert_eq!(Part::parse(&part.path()), Some(part));
            }
        }
        _ => {
            let _ = text::lines(file, 4096);
            let s = String::from_utf8_lossy(file);
            let _ = (text::parse_hash(&s), text::parse_u64(&s), text::parse_range(&s));
            let _ = text::parse_signature(&s);
        }
    }
});
