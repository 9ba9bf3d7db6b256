//! The export (`docs/protocol/evidence.md` §4): one ZIP with the audio,
//! the signed records, the log's proofs and checkpoints, the time-stamp
//! tokens, the custody history, the keys, the timeline and the reports,
//! closed by `MANIFEST.sha256` and the hub's `MANIFEST.sig`.
//!
//! [`ExportBuilder`] gathers the parts and writes the ZIP; [`Part`] names
//! every path the format allows; [`entries`] reads a ZIP back strictly
//! and within bounds (`crate::strict_zip`). Entries are stored, not compressed: the audio is already Opus,
//! and a stored ZIP cannot expand into more bytes than it has.

use crate::text::{self, Hash};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest export accepted, in bytes: a 30 min recording is about 8 MB of
/// Opus; 2 GiB leaves room for hours of audio and still fits in memory
/// on the machine that verifies it.
pub const EXPORT_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;

/// Most entries in an export: an hour at 2 s a chunk is 1,800 chunks, so
/// about 5,500 files with records and proofs; ten times that is plenty.
pub const EXPORT_ENTRIES_MAX: usize = 60_000;

/// Largest single entry (the whole recording is the largest), in bytes.
pub const ENTRY_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// Largest proof file: 128 hashes of 64 hex digits plus the JSON around them.
pub const PROOF_FILE_BYTES_MAX: usize = 16 * 1024;

/// Largest number in a file name (six digits).
pub const FILE_NUMBER_MAX: u64 = 999_999;

pub const MANIFEST: &str = "MANIFEST.sha256";
pub const MANIFEST_SIG: &str = "MANIFEST.sig";
pub const RECORDING: &str = "audio/recording.ogg";
pub const DEVICE_KEY: &str = "keys/device.pem";
pub const HUB_KEY: &str = "keys/hub.pem";
pub const TSA_CHAIN: &str = "keys/tsa-chain.pem";
pub const DEVICE_ENTRY: &str = "log/device.txt";
pub const DEVICE_INCLUSION: &str = "log/inclusion/device.json";
pub const TIMELINE: &str = "timeline.json";
pub const REPORT_FR: &str = "report.fr.txt";
pub const REPORT_EN: &str = "report.en.txt";

/// Every file the format allows, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Manifest,
    ManifestSig,
    Recording,
    Chunk(u64),
    Record(u64),
    Checkpoint(u64),
    RecordInclusion(u64),
    CustodyInclusion(u64),
    Consistency(u64, u64),
    Token(u64),
    DeviceKey,
    HubKey,
    TsaChain,
    /// The hub's device entry for the recording (`crate::device`).
    DeviceEntry,
    DeviceInclusion,
    Custody(u64),
    Timeline,
    ReportFr,
    ReportEn,
}

/// The single files every export has.
pub const SINGLE_PARTS: [Part; 11] = [
    Part::Manifest,
    Part::ManifestSig,
    Part::Recording,
    Part::DeviceKey,
    Part::HubKey,
    Part::TsaChain,
    Part::DeviceEntry,
    Part::DeviceInclusion,
    Part::Timeline,
    Part::ReportFr,
    Part::ReportEn,
];

fn number(text: &str) -> Option<u64> {
    (text.len() == 6 && text.bytes().all(|c| c.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

impl Part {
    /// The role of `path`, if the format allows that path.
    pub fn parse(path: &str) -> Option<Self> {
        let single = SINGLE_PARTS.into_iter().find(|p| p.path() == path);
        if single.is_some() {
            return single;
        }
        let numbered = |prefix: &str, suffix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .and_then(number)
        };
        if let Some(n) = numbered("audio/chunks/", ".ogg") {
            return Some(Self::Chunk(n));
        }
        if let Some(n) = numbered("records/", ".txt") {
            return Some(Self::Record(n));
        }
        if let Some(n) = numbered("log/checkpoints/", ".txt") {
            return Some(Self::Checkpoint(n));
        }
        if let Some(n) = numbered("log/inclusion/records-", ".json") {
            return Some(Self::RecordInclusion(n));
        }
        if let Some(n) = numbered("log/inclusion/custody-", ".json") {
            return Some(Self::CustodyInclusion(n));
        }
        if let Some(n) = numbered("timestamps/", ".tsr") {
            return Some(Self::Token(n));
        }
        if let Some(n) = numbered("custody/", ".txt") {
            return Some(Self::Custody(n));
        }
        let pair = path
            .strip_prefix("log/consistency/")
            .and_then(|rest| rest.strip_suffix(".json"))
            .and_then(|rest| rest.split_once('-'))?;
        Some(Self::Consistency(number(pair.0)?, number(pair.1)?))
    }

    /// The path of this part in the ZIP.
    pub fn path(self) -> String {
        match self {
            Self::Manifest => MANIFEST.into(),
            Self::ManifestSig => MANIFEST_SIG.into(),
            Self::Recording => RECORDING.into(),
            Self::Chunk(n) => format!("audio/chunks/{n:06}.ogg"),
            Self::Record(n) => format!("records/{n:06}.txt"),
            Self::Checkpoint(n) => format!("log/checkpoints/{n:06}.txt"),
            Self::RecordInclusion(n) => format!("log/inclusion/records-{n:06}.json"),
            Self::CustodyInclusion(n) => format!("log/inclusion/custody-{n:06}.json"),
            Self::Consistency(a, b) => format!("log/consistency/{a:06}-{b:06}.json"),
            Self::Token(n) => format!("timestamps/{n:06}.tsr"),
            Self::DeviceKey => DEVICE_KEY.into(),
            Self::HubKey => HUB_KEY.into(),
            Self::TsaChain => TSA_CHAIN.into(),
            Self::DeviceEntry => DEVICE_ENTRY.into(),
            Self::DeviceInclusion => DEVICE_INCLUSION.into(),
            Self::Custody(n) => format!("custody/{n:06}.txt"),
            Self::Timeline => TIMELINE.into(),
            Self::ReportFr => REPORT_FR.into(),
            Self::ReportEn => REPORT_EN.into(),
        }
    }
}

/// Why an export could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Zip(#[from] crate::strict_zip::ZipError),
    #[error("the export would be larger than a ZIP without ZIP64 holds")]
    TooLargeToWrite,
    #[error("{0}: not a file the format allows")]
    NotAPart(String),
    #[error("{0} is missing")]
    Missing(String),
    #[error("cannot encode a public key: {0}")]
    Key(String),
}

impl ExportError {
    /// The same, in French.
    pub fn fr(&self) -> String {
        match self {
            Self::Zip(e) => e.fr(),
            Self::TooLargeToWrite => "l'export serait plus grand qu'un ZIP sans ZIP64".into(),
            Self::NotAPart(p) => format!("{p} : pas un fichier que le format autorise"),
            Self::Missing(p) => format!("{p} manque"),
            Self::Key(e) => format!("clé publique impossible à encoder : {e}"),
        }
    }
}

/// An inclusion proof file: `log/inclusion/{records,custody}-NNNNNN.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's position in the log.
    pub leaf_index: u64,
    /// The size of the tree the path leads to: the checkpoint's size.
    pub tree_size: u64,
    /// The number N of `log/checkpoints/NNNNNN.txt` whose root the path leads to.
    pub checkpoint: u64,
    pub path: Vec<Hash>,
}

/// A consistency proof file: `log/consistency/AAAAAA-BBBBBB.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub from_size: u64,
    pub to_size: u64,
    pub path: Vec<Hash>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionJson {
    leaf_index: u64,
    tree_size: u64,
    checkpoint: u64,
    path: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyJson {
    from_size: u64,
    to_size: u64,
    path: Vec<String>,
}

/// Why a proof file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFileError {
    #[error("larger than {PROOF_FILE_BYTES_MAX} bytes")]
    TooLarge,
    #[error("not the expected JSON: {0}")]
    Json(String),
    #[error("path element {0} is not 64 lowercase hex digits")]
    Hash(usize),
    #[error("more than {} path elements", crate::merkle::PROOF_HASHES_MAX)]
    TooLong,
    #[error("not in canonical form (compact JSON, keys in order, one final line end)")]
    NotCanonical,
}

fn to_json_line<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of integers and strings cannot fail.
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

fn parse_path(path: &[String]) -> Result<Vec<Hash>, ProofFileError> {
    if path.len() > crate::merkle::PROOF_HASHES_MAX {
        return Err(ProofFileError::TooLong);
    }
    path.iter()
        .enumerate()
        .map(|(i, h)| text::parse_hash(h).ok_or(ProofFileError::Hash(i)))
        .collect()
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ProofFileError> {
    if bytes.len() > PROOF_FILE_BYTES_MAX {
        return Err(ProofFileError::TooLarge);
    }
    serde_json::from_slice(bytes).map_err(|e| ProofFileError::Json(e.to_string()))
}

impl InclusionProof {
    /// The canonical file: compact JSON, keys in the documented order, `\n`.
    pub fn encode(&self) -> Vec<u8> {
        to_json_line(&InclusionJson {
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
            checkpoint: self.checkpoint,
            path: self.path.iter().map(|h| text::hex(h)).collect(),
        })
    }

    /// Parses the canonical file only.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProofFileError> {
        let json: InclusionJson = parse_json(bytes)?;
        let proof = Self {
            leaf_index: json.leaf_index,
            tree_size: json.tree_size,
            checkpoint: json.checkpoint,
            path: parse_path(&json.path)?,
        };
        if proof.encode() != bytes {
            return Err(ProofFileError::NotCanonical);
        }
        Ok(proof)
    }
}

impl ConsistencyProof {
    /// The canonical file: compact JSON, keys in the documented order, `\n`.
    pub fn encode(&self) -> Vec<u8> {
        to_json_line(&ConsistencyJson {
            from_size: self.from_size,
            to_size: self.to_size,
            path: self.path.iter().map(|h| text::hex(h)).collect(),
        })
    }

    /// Parses the canonical file only.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProofFileError> {
        let json: ConsistencyJson = parse_json(bytes)?;
        let proof = Self {
            from_size: json.from_size,
            to_size: json.to_size,
            path: parse_path(&json.path)?,
        };
        if proof.encode() != bytes {
            return Err(ProofFileError::NotCanonical);
        }
        Ok(proof)
    }
}

/// A public key as SubjectPublicKeyInfo PEM with `\n` line ends.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, ExportError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| ExportError::Key(e.to_string()))
}

/// Parses a public key PEM, only in the canonical form [`public_key_pem`] writes.
pub fn parse_public_key_pem(bytes: &[u8]) -> Option<VerifyingKey> {
    let text = std::str::from_utf8(bytes).ok()?;
    let key = VerifyingKey::from_public_key_pem(text).ok()?;
    (public_key_pem(&key).ok()? == text).then_some(key)
}

/// `MANIFEST.sha256`: a `sha256sum` line for every file but the two
/// manifest files, sorted by path.
pub fn manifest(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        if path == MANIFEST || path == MANIFEST_SIG {
            continue;
        }
        out.extend_from_slice(text::hex(&text::sha256(bytes)).as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
    }
    out
}

/// `MANIFEST.sig`: base64 r‖s of the hub's signature over the manifest, and `\n`.
pub fn manifest_signature(manifest: &[u8], hub_key: &SigningKey) -> Vec<u8> {
    let mut out = text::signature_base64(&text::sign(manifest, hub_key)).into_bytes();
    out.push(b'\n');
    out
}

/// Writes `files` as a strict ZIP of stored entries, in path order, as
/// they are (`crate::strict_zip::write`).
pub fn pack(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    crate::strict_zip::write(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
        .ok_or(ExportError::TooLargeToWrite)
}

/// Adds `MANIFEST.sha256` and `MANIFEST.sig` (signed with the hub's key)
/// to `files` and writes the ZIP.
pub fn seal_files(
    mut files: BTreeMap<String, Vec<u8>>,
    hub_key: &SigningKey,
) -> Result<Vec<u8>, ExportError> {
    files.remove(MANIFEST);
    files.remove(MANIFEST_SIG);
    let manifest = manifest(&files);
    files.insert(
        MANIFEST_SIG.to_owned(),
        manifest_signature(&manifest, hub_key),
    );
    files.insert(MANIFEST.to_owned(), manifest);
    pack(&files)
}

/// Reads every entry of a strict ZIP (`crate::strict_zip::read`) within
/// [`EXPORT_BYTES_MAX`], [`EXPORT_ENTRIES_MAX`] and [`ENTRY_BYTES_MAX`],
/// borrowing each entry's bytes from `zip_bytes`.
pub fn entries(zip_bytes: &[u8]) -> Result<BTreeMap<String, &[u8]>, ExportError> {
    Ok(crate::strict_zip::read(
        zip_bytes,
        EXPORT_BYTES_MAX,
        EXPORT_ENTRIES_MAX as u64,
        ENTRY_BYTES_MAX,
    )?)
}

/// [`entries`], copied.
pub fn unpack(zip_bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ExportError> {
    Ok(entries(zip_bytes)?
        .into_iter()
        .map(|(p, b)| (p, b.to_vec()))
        .collect())
}

/// Gathers the parts of an export, then writes the ZIP.
///
/// The hub gives the bytes it holds (record files, custody events,
/// checkpoints and tokens exactly as logged and stamped); the builder
/// names them, joins the chunks into `audio/recording.ogg`, writes the
/// manifest and signs it.
#[derive(Debug, Clone, Default)]
pub struct ExportBuilder {
    files: BTreeMap<String, Vec<u8>>,
    chunks: BTreeMap<u64, Vec<u8>>,
}

impl ExportBuilder {
    /// Starts an export with the public keys and the TSA's certificate chain (PEM, root last).
    pub fn new(
        device_key: &VerifyingKey,
        hub_key: &VerifyingKey,
        tsa_chain_pem: &[u8],
    ) -> Result<Self, ExportError> {
        let mut b = Self::default();
        b.put(Part::DeviceKey, public_key_pem(device_key)?.into_bytes());
        b.put(Part::HubKey, public_key_pem(hub_key)?.into_bytes());
        b.put(Part::TsaChain, tsa_chain_pem.to_vec());
        Ok(b)
    }

    fn put(&mut self, part: Part, bytes: Vec<u8>) {
        self.files.insert(part.path(), bytes);
    }

    /// Chunk `seq`: its audio and its record file as sealed by the box.
    pub fn chunk(&mut self, seq: u64, audio: &[u8], record: &[u8]) -> &mut Self {
        self.chunks.insert(seq, audio.to_vec());
        self.put(Part::Chunk(seq), audio.to_vec());
        self.put(Part::Record(seq), record.to_vec());
        self
    }

    /// The inclusion proof of record `seq`.
    pub fn record_inclusion(&mut self, seq: u64, proof: &InclusionProof) -> &mut Self {
        self.put(Part::RecordInclusion(seq), proof.encode());
        self
    }

    /// The hub's device entry for the recording as logged, and its inclusion proof.
    pub fn device_entry(&mut self, entry: &[u8], proof: &InclusionProof) -> &mut Self {
        self.put(Part::DeviceEntry, entry.to_vec());
        self.put(Part::DeviceInclusion, proof.encode());
        self
    }

    /// Custody event `n` as logged, and its inclusion proof.
    pub fn custody(&mut self, n: u64, event: &[u8], proof: &InclusionProof) -> &mut Self {
        self.put(Part::Custody(n), event.to_vec());
        self.put(Part::CustodyInclusion(n), proof.encode());
        self
    }

    /// Checkpoint `n` and the RFC 3161 token (DER) over it.
    pub fn checkpoint(&mut self, n: u64, checkpoint: &[u8], token_der: &[u8]) -> &mut Self {
        self.put(Part::Checkpoint(n), checkpoint.to_vec());
        self.put(Part::Token(n), token_der.to_vec());
        self
    }

    /// The consistency proof from checkpoint `from` to checkpoint `to` (`to` = `from` + 1).
    pub fn consistency(&mut self, from: u64, to: u64, proof: &ConsistencyProof) -> &mut Self {
        self.put(Part::Consistency(from, to), proof.encode());
        self
    }

    /// `timeline.json`.
    pub fn timeline(&mut self, json: &[u8]) -> &mut Self {
        self.put(Part::Timeline, json.to_vec());
        self
    }

    /// `report.fr.txt` and `report.en.txt`.
    pub fn reports(&mut self, fr: &str, en: &str) -> &mut Self {
        self.put(Part::ReportFr, fr.as_bytes().to_vec());
        self.put(Part::ReportEn, en.as_bytes().to_vec());
        self
    }

    /// The files gathered so far, with `audio/recording.ogg` (no manifest).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = self.files.clone();
        files.insert(
            RECORDING.to_owned(),
            self.chunks.values().flatten().copied().collect(),
        );
        files
    }

    /// Writes the ZIP, with the manifest signed by the hub's key. Fails if
    /// a single file (timeline, reports) was not given, or a number does not
    /// fit in six digits.
    pub fn finish(&self, hub_key: &SigningKey) -> Result<Vec<u8>, ExportError> {
        let files = self.files();
        for part in SINGLE_PARTS {
            if !matches!(part, Part::Manifest | Part::ManifestSig)
                && !files.contains_key(&part.path())
            {
                return Err(ExportError::Missing(part.path()));
            }
        }
        if let Some(path) = files.keys().find(|p| Part::parse(p).is_none()) {
            return Err(ExportError::NotAPart(path.clone()));
        }
        seal_files(files, hub_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_round_trips_through_its_path() {
        let parts = [
            Part::Chunk(0),
            Part::Record(12),
            Part::Checkpoint(3),
            Part::RecordInclusion(999_999),
            Part::CustodyInclusion(1),
            Part::Consistency(1, 2),
            Part::Token(4),
            Part::Custody(0),
        ];
        for part in SINGLE_PARTS.into_iter().chain(parts) {
            assert_eq!(Part::parse(&part.path()), Some(part), "{}", part.path());
        }
        for bad in [
            "records/1.txt",
            "records/0000001.txt",
            "records/00000a.txt",
            "records/000001.txt.bak",
            "audio/chunks/000001.opus",
            "log/consistency/000001.json",
            "notes.txt",
            "./records/000001.txt",
            "Records/000001.txt",
        ] {
            assert_eq!(Part::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn proof_files_are_canonical() {
        let proof = InclusionProof {
            leaf_index: 5,
            tree_size: 8,
            checkpoint: 1,
            path: vec![[0xab; 32]],
        };
        let bytes = proof.encode();
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("utf8"),
            format!(
                "{{\"leaf_index\":5,\"tree_size\":8,\"checkpoint\":1,\"path\":[\"{}\"]}}\n",
                "ab".repeat(32)
            )
        );
        assert_eq!(InclusionProof::parse(&bytes), Ok(proof));
        let text = String::from_utf8(bytes).expect("utf8");
        for bad in [
            text.replace("ab", "AB"),
            text.replace(":5,", ": 5,"),
            text.replace(":5,", ":5.0,"),
            text.trim_end().to_owned(),
            text.replace("\"checkpoint\":1,", "\"checkpoint\":1,\"extra\":0,"),
        ] {
            assert!(InclusionProof::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let c = ConsistencyProof {
            from_size: 3,
            to_size: 8,
            path: vec![[1; 32], [2; 32]],
        };
        assert_eq!(ConsistencyProof::parse(&c.encode()), Ok(c));
    }

    #[test]
    fn keys_round_trip_in_canonical_pem_only() {
        let key = SigningKey::from_slice(&[9; 32]).expect("key");
        let pem = public_key_pem(key.verifying_key()).expect("pem");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(
            parse_public_key_pem(pem.as_bytes()),
            Some(*key.verifying_key())
        );
        assert_eq!(
            parse_public_key_pem(pem.replace('\n', "\r\n").as_bytes()),
            None
        );
        assert_eq!(parse_public_key_pem(format!("{pem}\n").as_bytes()), None);
    }

    #[test]
    fn pack_unpack_round_trip() {
        let mut files = BTreeMap::new();
        files.insert("a.txt".to_owned(), b"hello\n".to_vec());
        files.insert("b/c.bin".to_owned(), vec![0u8, 1, 2, 255]);
        let zip = pack(&files).expect("pack");
        assert_eq!(unpack(&zip).expect("unpack"), files);
        assert!(unpack(b"not a zip").is_err());
        assert!(unpack(&zip[..zip.len() / 2]).is_err());
    }
}
