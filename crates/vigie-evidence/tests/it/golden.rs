//! A golden export made the way the box and the hub make one: chunks sealed
//! by a device key, a hub log with other recordings' entries interleaved,
//! checkpoints at three moments, custody events, proofs, and time-stamp
//! tokens from a stand-in TSA (a keyed hash over the checkpoint's SHA-256
//! and the time, so that any change to a token is caught, as a real TSA's
//! signature would be).

use p256::ecdsa::SigningKey;
use std::collections::BTreeMap;
use vigie_evidence::checkpoint::{self, Checkpoint};
use vigie_evidence::custody::{self, Action, CustodyEvent};
use vigie_evidence::device::{self, DeviceEntry};
use vigie_evidence::export::{self, ConsistencyProof, ExportBuilder, InclusionProof};
use vigie_evidence::merkle;
use vigie_evidence::record::{self, ChunkRecord, PREV_NONE};
use vigie_evidence::report::{Report, TimeStamp};
use vigie_evidence::text::{Hash, key_fingerprint, sha256};
use vigie_evidence::trust::{Anchors, HubKeyAnchor, Trust, certificate_fingerprints};
use vigie_evidence::verify::verify_export_anchored;

pub const TSA_CHAIN_PEM: &[u8] =
    b"-----BEGIN CERTIFICATE-----\ndGVzdCBUU0E=\n-----END CERTIFICATE-----\n";
/// A forger's own TSA, named like the real one: its tokens verify against
/// its own chain (as a home-made CA's do with `openssl ts -verify`).
pub const FORGED_TSA_CHAIN_PEM: &[u8] =
    b"-----BEGIN CERTIFICATE-----\ndGVzdCBUU0EgKGZvcmdlZCk=\n-----END CERTIFICATE-----\n";
const TOKEN_MAGIC: &[u8] = b"test-tsr\0";
const TSA_SECRET: &[u8] = b"the stand-in TSA's signing secret";
const FORGED_TSA_SECRET: &[u8] = b"the forger's TSA secret";
const T0_MS: u64 = 1_795_699_920_000;
pub const DEVICE: &str = "dev-0192-ara-0042";

pub fn device_key() -> SigningKey {
    SigningKey::from_slice(&[0x11; 32]).expect("key")
}
pub fn hub_key() -> SigningKey {
    SigningKey::from_slice(&[0x22; 32]).expect("key")
}
pub fn other_key() -> SigningKey {
    SigningKey::from_slice(&[0x33; 32]).expect("key")
}

fn secret(chain: &[u8]) -> Option<&'static [u8]> {
    if chain == TSA_CHAIN_PEM {
        Some(TSA_SECRET)
    } else if chain == FORGED_TSA_CHAIN_PEM {
        Some(FORGED_TSA_SECRET)
    } else {
        None
    }
}

fn token_mac(secret: &[u8], imprint: &[u8], time: &[u8]) -> Hash {
    sha256(&[secret, imprint, time].concat())
}

/// A token over `checkpoint` at `time_ms`, as the TSA of `chain` issues it.
pub fn token_of(chain: &[u8], checkpoint: &[u8], time_ms: u64) -> Vec<u8> {
    let imprint = sha256(checkpoint);
    let time = time_ms.to_be_bytes();
    let secret = secret(chain).expect("a stand-in TSA");
    [
        TOKEN_MAGIC,
        &imprint,
        &time,
        &token_mac(secret, &imprint, &time),
    ]
    .concat()
}

/// A token over `checkpoint` at `time_ms`, as the stand-in TSA issues it.
pub fn token(checkpoint: &[u8], time_ms: u64) -> Vec<u8> {
    token_of(TSA_CHAIN_PEM, checkpoint, time_ms)
}

/// The Region's trust file for the golden export: the hub key since a
/// year before the recording, the stand-in TSA's root.
pub fn trust() -> Trust {
    Trust {
        region: "Auvergne-Rhône-Alpes".into(),
        hub_keys: vec![HubKeyAnchor {
            sha256: key_fingerprint(hub_key().verifying_key()),
            valid_from_ms: T0_MS - 365 * 86_400_000,
            valid_until_ms: None,
        }],
        tsa_roots: certificate_fingerprints(TSA_CHAIN_PEM).expect("pem"),
    }
}

/// Verifies against the golden [`trust`] file.
pub fn verify_anchored(zip: &[u8]) -> Report {
    verify_export_anchored(zip, &tsa_check, Anchors::Anchored(&trust()))
}

/// The injected TSA check for the stand-in TSA: chain, imprint, MAC.
pub fn tsa_check(checkpoint: &[u8], token: &[u8], chain: &[u8]) -> Result<TimeStamp, String> {
    let secret = secret(chain).ok_or("the certificate chain is not the TSA's")?;
    let rest = token
        .strip_prefix(TOKEN_MAGIC)
        .filter(|r| r.len() == 32 + 8 + 32)
        .ok_or("not a time-stamp token")?;
    let (imprint, rest) = rest.split_at(32);
    let (time, mac) = rest.split_at(8);
    if token_mac(secret, imprint, time) != mac {
        return Err("the token's signature does not verify".into());
    }
    if imprint != sha256(checkpoint) {
        return Err("the message imprint is not SHA-256 of the checkpoint".into());
    }
    let time_ms = u64::from_be_bytes(time.try_into().map_err(|_| "time")?);
    Ok(TimeStamp {
        time_ms,
        accuracy_ms: Some(1000),
        authority: Some("stand-in TSA".into()),
    })
}

/// What to make.
#[derive(Clone)]
pub struct Spec {
    pub recording: &'static str,
    pub alarm: &'static str,
    pub chunks: u64,
    pub seed: u64,
    /// Replace this log entry after checkpoint 0 was stamped (a rewritten log).
    pub rewrite_after_first_checkpoint: Option<usize>,
    /// Who signs: the box, the hub, and the TSA's chain.
    pub device_key: SigningKey,
    pub hub_key: SigningKey,
    pub tsa_chain: &'static [u8],
    /// Added to every token's time (negative: backdated).
    pub token_shift_ms: i64,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            recording: "0192f0c4-7d2a-7b3c-9f00-000000000001",
            alarm: "0192f0c3-0000-7000-8000-000000000002",
            chunks: 7,
            seed: 1,
            rewrite_after_first_checkpoint: None,
            device_key: device_key(),
            hub_key: hub_key(),
            tsa_chain: TSA_CHAIN_PEM,
            token_shift_ms: 0,
        }
    }
}

/// Pseudo-random "Ogg" bytes (xorshift), about 8 KB like a 2 s speech chunk.
pub fn audio(seed: u64, seq: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (seq + 1);
    let len = 7000 + usize::try_from(seq * 311 % 2000).expect("small");
    let mut out = b"OggS\0".to_vec();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out
}

/// A golden export and what went into it.
pub struct Golden {
    pub zip: Vec<u8>,
}

/// The files of a golden export.
pub fn files(zip: &[u8]) -> BTreeMap<String, Vec<u8>> {
    export::unpack(zip).expect("unpack")
}

struct Log {
    entries: Vec<Vec<u8>>,
}

impl Log {
    fn push(&mut self, entry: &[u8]) -> u64 {
        self.entries.push(entry.to_vec());
        self.entries.len() as u64 - 1
    }
    fn leaves(&self, size: u64) -> Vec<Hash> {
        self.entries[..usize::try_from(size).expect("size")]
            .iter()
            .map(|e| merkle::leaf_hash(e))
            .collect()
    }
    fn inclusion(&self, index: u64, size: u64, checkpoint: u64) -> InclusionProof {
        InclusionProof {
            leaf_index: index,
            tree_size: size,
            checkpoint,
            path: merkle::inclusion_proof(&self.leaves(size), index).expect("index"),
        }
    }
    fn checkpoint(&self, time_ms: u64, hub: &SigningKey) -> Vec<u8> {
        let size = self.entries.len() as u64;
        checkpoint::sign(
            &Checkpoint {
                log: "hub-ara-1".into(),
                size,
                root: merkle::root(&self.leaves(size)),
                time_ms,
            },
            hub,
        )
        .expect("checkpoint")
    }
}

pub fn custody_event(recording: &str, n: u64) -> Vec<u8> {
    let (actor, action, reason) = if n == 0 {
        (
            "investigator:marie.durand",
            Action::Listen,
            "PV 2026/1234, plainte pour menaces",
        )
    } else {
        (
            "investigator:marie.durand",
            Action::Export,
            "Réquisition du parquet de Lyon, PV 2026/1234",
        )
    };
    custody::encode(&CustodyEvent {
        recording: recording.into(),
        at_ms: T0_MS + 86_400_000 + n * 60_000,
        actor: actor.into(),
        action,
        reason: reason.into(),
    })
    .expect("custody")
}

pub fn build(spec: &Spec) -> Golden {
    let device = spec.device_key.clone();
    let mut log = Log {
        entries: Vec::new(),
    };
    log.push(b"an entry of another recording");
    let device_entry = device::encode(&DeviceEntry {
        recording: spec.recording.into(),
        device: DEVICE.into(),
        key_sha256: key_fingerprint(device.verifying_key()),
        at_ms: T0_MS,
    })
    .expect("device entry");
    let device_index = log.push(&device_entry);
    log.push(b"another entry of another recording");
    let mut b = ExportBuilder::new(
        device.verifying_key(),
        spec.hub_key.verifying_key(),
        spec.tsa_chain,
    )
    .expect("builder");
    let mut prev = PREV_NONE;
    let mut records = Vec::new();
    let mut chunks = Vec::new();
    let mut indexes: Vec<u64> = Vec::new(); // leaf index per record
    let mut proofs: Vec<InclusionProof> = Vec::new();
    let mut cps: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut sizes = Vec::new();
    let mut device_proof = None;
    for seq in 0..spec.chunks {
        let audio = audio(spec.seed, seq);
        let start = T0_MS + seq * 2000;
        let rec = ChunkRecord::for_audio(
            spec.recording,
            spec.alarm,
            DEVICE,
            seq,
            prev,
            &audio,
            (start, start + 2000),
            (81_234_567 + seq * 2000, 81_236_567 + seq * 2000),
            seq + 1 == spec.chunks,
        );
        let bytes = record::seal(&rec, &device).expect("seal");
        prev = record::record_hash(&bytes);
        let index = log.push(&bytes);
        if seq == 1 {
            log.push(b"a heartbeat-free entry of another shop");
        }
        indexes.push(index);
        // Checkpoint 0 after the first three chunks, checkpoint 1 after the last.
        if seq == 2 {
            let time = start + 2500;
            cps.push((log.checkpoint(time, &spec.hub_key), time));
            let size = log.entries.len() as u64;
            sizes.push(size);
            proofs.extend(indexes.iter().map(|i| log.inclusion(*i, size, 0)));
            device_proof = Some(log.inclusion(device_index, size, 0));
            if let Some(i) = spec.rewrite_after_first_checkpoint {
                log.entries[i] = b"a rewritten entry".to_vec();
            }
        }
        records.push(bytes);
        chunks.push(audio);
    }
    log.push(b"a last entry of another recording");
    let time = T0_MS + spec.chunks * 2000 + 1000;
    cps.push((log.checkpoint(time, &spec.hub_key), time));
    let size = log.entries.len() as u64;
    sizes.push(size);
    proofs.extend(
        indexes[proofs.len()..]
            .iter()
            .map(|i| log.inclusion(*i, size, 1)),
    );
    let custody: Vec<(Vec<u8>, u64)> = (0..2)
        .map(|n| {
            let event = custody_event(spec.recording, n);
            let index = log.push(&event);
            log.push(b"an access to another recording");
            (event, index)
        })
        .collect();
    let time = T0_MS + 86_400_000 + 120_000;
    cps.push((log.checkpoint(time, &spec.hub_key), time));
    sizes.push(log.entries.len() as u64);

    for (seq, ((bytes, audio), proof)) in records.iter().zip(&chunks).zip(&proofs).enumerate() {
        let seq = seq as u64;
        b.chunk(seq, audio, bytes);
        b.record_inclusion(seq, proof);
    }
    let device_proof = device_proof.unwrap_or_else(|| log.inclusion(device_index, sizes[0], 0));
    b.device_entry(&device_entry, &device_proof);
    for (n, (event, index)) in custody.iter().enumerate() {
        b.custody(n as u64, event, &log.inclusion(*index, sizes[2], 2));
    }
    let all = log.leaves(sizes[2]);
    for (n, (bytes, time)) in cps.iter().enumerate() {
        let at = time.saturating_add_signed(500 + spec.token_shift_ms);
        b.checkpoint(n as u64, bytes, &token_of(spec.tsa_chain, bytes, at));
        if n > 0 {
            let to = &all[..usize::try_from(sizes[n]).expect("size")];
            b.consistency(
                n as u64 - 1,
                n as u64,
                &ConsistencyProof {
                    from_size: sizes[n - 1],
                    to_size: sizes[n],
                    path: merkle::consistency_proof(to, sizes[n - 1]).expect("sizes"),
                },
            );
        }
    }
    b.timeline(b"{\"speech\":[[0.4,3.1],[5.0,11.2]],\"loud\":[[6.2,7.9]]}\n");
    b.reports(
        &format!(
            "Rapport de preuve\nBoutique : Tabac de la Gare, Lyon\nAlarme : {}\nEnregistrement : {}, {} morceaux\nBoîtier : {DEVICE}\n",
            spec.alarm, spec.recording, spec.chunks
        ),
        &format!(
            "Evidence report\nShop: Tabac de la Gare, Lyon\nAlarm: {}\nRecording: {}, {} chunks\nDevice: {DEVICE}\n",
            spec.alarm, spec.recording, spec.chunks
        ),
    );
    Golden {
        zip: b.finish(&spec.hub_key).expect("finish"),
    }
}
