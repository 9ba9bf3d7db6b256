//! The durable outbox: what the box must still tell the hub, kept on disk
//! so that a press survives a power cut, a crash or a dead network.
//!
//! An append-only journal of lines `CRC32 JSON`: `put` appends an item and
//! syncs it to disk before returning (a press is durable before anything
//! else happens); `done` appends a marker. On open the journal is replayed:
//! a line whose checksum or JSON is wrong (a torn write, a bad sector) is
//! skipped and counted, never fatal, and the journal is rewritten without
//! it. Alarms are never dropped; when the outbox is full, the oldest other
//! items go first, and audio chunks (evidence) only when nothing else is
//! left to shed.
//!
//! A chunk's audio is kept encrypted (ChaCha20-Poly1305 under a box-local
//! key, [`ChunkCipher`]); its sealed record is kept as it is (it holds only
//! hashes, ids and times, and the hub needs it byte for byte).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Items kept at most, alarms and audio chunks excepted.
pub const OUTBOX_ITEMS_MAX: usize = 1_000;
/// Audio chunks kept at most on top of that: two hours of 2 s chunks
/// (about 30 MB of speech), four maximum-length recordings.
pub const OUTBOX_CHUNKS_MAX: usize = 3_600;
/// A journal line longer than this is corrupt, not an item: a chunk of the
/// largest allowed audio (1 MiB), encrypted and in base64, with its record.
const JOURNAL_LINE_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Rewrite the journal once this many `done` markers have piled up.
const COMPACT_AFTER_DONE: usize = 256;

/// What the box must tell the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Alarm {
        alarm_id: Uuid,
        pressed_at_ms: i64,
        recording: bool,
        test: bool,
    },
    Cancel {
        alarm_id: Uuid,
        cancel_pressed_at_ms: i64,
    },
    Recording {
        alarm_id: Uuid,
        requested_at_ms: i64,
    },
    /// The box sent this SMS itself: the hub must hear of it.
    DirectSent {
        alarm_id: Uuid,
        phone: String,
        sent_at_ms: i64,
    },
    /// A sealed audio chunk of a recording.
    Chunk {
        recording_id: Uuid,
        alarm_id: Uuid,
        seq: u64,
        /// The record file as sealed (`vigie-chunk-v1 …`).
        record: String,
        /// The audio, encrypted by [`ChunkCipher::seal`] (nonce ‖ ciphertext), base64.
        audio_b64: String,
    },
}

impl Item {
    pub fn alarm_id(&self) -> Uuid {
        match self {
            Item::Alarm { alarm_id, .. }
            | Item::Cancel { alarm_id, .. }
            | Item::Recording { alarm_id, .. }
            | Item::DirectSent { alarm_id, .. }
            | Item::Chunk { alarm_id, .. } => *alarm_id,
        }
    }

    fn is_alarm(&self) -> bool {
        matches!(self, Item::Alarm { .. })
    }

    fn is_chunk(&self) -> bool {
        matches!(self, Item::Chunk { .. })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    Put { seq: u64, item: Item },
    Done { seq: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What opening found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    pub pending: usize,
    pub corrupt_lines: usize,
}

pub struct Outbox {
    path: PathBuf,
    file: File,
    next_seq: u64,
    pending: BTreeMap<u64, Item>,
    done_since_compact: usize,
    /// Other items (neither alarms nor chunks) kept at most.
    others_max: usize,
    /// Chunks kept at most, beyond the other items.
    chunks_max: usize,
}

/// CRC-32 (IEEE 802.3), bitwise: records are small.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn encode(record: &Record) -> Vec<u8> {
    let json = serde_json::to_string(record).unwrap_or_default();
    format!("{:08x} {json}\n", crc32(json.as_bytes())).into_bytes()
}

fn decode(line: &str) -> Option<Record> {
    if line.len() > JOURNAL_LINE_BYTES_MAX {
        return None;
    }
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    if crc32(json.as_bytes()) != crc {
        return None;
    }
    serde_json::from_str(json).ok()
}

impl Outbox {
    /// Open (or create) the outbox in `dir`, replaying its journal.
    pub fn open(dir: &Path) -> Result<(Self, Recovery), OutboxError> {
        let io = |source| OutboxError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("journal");
        let mut pending = BTreeMap::new();
        let mut next_seq = 1;
        let mut recovery = Recovery::default();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(io)?;
                let parsed = std::str::from_utf8(&line).ok().and_then(decode);
                match parsed {
                    Some(Record::Put { seq, item }) => {
                        next_seq = next_seq.max(seq + 1);
                        pending.insert(seq, item);
                    }
                    Some(Record::Done { seq }) => {
                        pending.remove(&seq);
                    }
                    None if line.is_empty() => {}
                    None => recovery.corrupt_lines += 1,
                }
            }
        }
        recovery.pending = pending.len();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut outbox = Self {
            path,
            file,
            next_seq,
            pending,
            done_since_compact: 0,
            others_max: OUTBOX_ITEMS_MAX,
            chunks_max: OUTBOX_CHUNKS_MAX,
        };
        if recovery.corrupt_lines > 0 {
            tracing::warn!(
                corrupt_lines = recovery.corrupt_lines,
                "outbox: skipped damaged journal lines; rewriting the journal"
            );
            outbox.compact()?;
        }
        Ok((outbox, recovery))
    }

    /// Other bounds than the defaults (tests: a full outbox without
    /// thousands of synced writes).
    pub fn with_limits(mut self, others_max: usize, chunks_max: usize) -> Self {
        self.others_max = others_max;
        self.chunks_max = chunks_max;
        self
    }

    fn io(&self, source: std::io::Error) -> OutboxError {
        OutboxError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn append(&mut self, record: &Record, sync: bool) -> Result<(), OutboxError> {
        let bytes = encode(record);
        self.file.write_all(&bytes).map_err(|e| self.io(e))?;
        if sync {
            self.file.sync_data().map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Store an item durably; returns its sequence number once it is on disk.
    pub fn put(&mut self, item: Item) -> Result<u64, OutboxError> {
        if !item.is_alarm() {
            self.make_room(item.is_chunk())?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.append(
            &Record::Put {
                seq,
                item: item.clone(),
            },
            true,
        )?;
        self.pending.insert(seq, item);
        Ok(seq)
    }

    /// The hub has it: forget the item. Not synced: if the marker is lost,
    /// the item is sent again, and the hub treats a repeat as the same.
    pub fn done(&mut self, seq: u64) -> Result<(), OutboxError> {
        if self.pending.remove(&seq).is_none() {
            return Ok(());
        }
        self.append(&Record::Done { seq }, false)?;
        self.done_since_compact += 1;
        if self.done_since_compact >= COMPACT_AFTER_DONE {
            self.compact()?;
        }
        Ok(())
    }

    /// Make room for one more item while the outbox is full. Alarms are
    /// never dropped. Other items go oldest first; chunks are evidence, so
    /// one is dropped only to make room for another chunk, and only once no
    /// other item is left to shed.
    fn make_room(&mut self, for_chunk: bool) -> Result<(), OutboxError> {
        loop {
            let others = self
                .pending
                .values()
                .filter(|i| !i.is_alarm() && !i.is_chunk())
                .count();
            let chunks = self.pending.values().filter(|i| i.is_chunk()).count();
            let full = if for_chunk {
                others + chunks >= self.others_max + self.chunks_max
            } else {
                others >= self.others_max
            };
            if !full {
                return Ok(());
            }
            let oldest_other = self
                .pending
                .iter()
                .find(|(_, i)| !i.is_alarm() && !i.is_chunk())
                .map(|(s, _)| *s);
            let victim = match (oldest_other, for_chunk) {
                (Some(seq), _) => seq,
                (None, true) => {
                    let Some(seq) = self
                        .pending
                        .iter()
                        .find(|(_, i)| i.is_chunk())
                        .map(|(s, _)| *s)
                    else {
                        return Ok(());
                    };
                    tracing::error!(seq, "outbox full of audio: dropping the oldest chunk");
                    seq
                }
                (None, false) => return Ok(()),
            };
            tracing::warn!(seq = victim, "outbox full: dropping the oldest item");
            self.done(victim)?;
        }
    }

    /// Items not yet acknowledged by the hub, oldest first.
    pub fn pending(&self) -> Vec<(u64, Item)> {
        self.pending.iter().map(|(s, i)| (*s, i.clone())).collect()
    }

    pub fn depth(&self) -> usize {
        self.pending.len()
    }

    /// Rewrite the journal with only the pending items (atomic rename).
    fn compact(&mut self) -> Result<(), OutboxError> {
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = File::create(&tmp).map_err(|e| self.io(e))?;
            for (seq, item) in &self.pending {
                f.write_all(&encode(&Record::Put {
                    seq: *seq,
                    item: item.clone(),
                }))
                .map_err(|e| self.io(e))?;
            }
            f.sync_all().map_err(|e| self.io(e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        self.done_since_compact = 0;
        Ok(())
    }
}

/// Nonce length of ChaCha20-Poly1305.
const NONCE_BYTES: usize = 12;

/// Why a chunk's audio could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("chunk key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chunk key {0} is not 32 bytes")]
    BadKey(PathBuf),
    #[error("the chunk's audio does not decrypt (damaged, or another box's key)")]
    Damaged,
}

/// The box-local key that keeps chunks' audio encrypted while they wait in
/// the outbox: 32 random bytes in a file of mode 0600, made on first use.
/// The audio is bound to its recording and sequence number (associated
/// data), so a blob moved to another item does not decrypt.
pub struct ChunkCipher {
    cipher: chacha20poly1305::ChaCha20Poly1305,
}

impl ChunkCipher {
    /// Loads the key at `path`, or makes it.
    pub fn load_or_create(path: &Path) -> Result<Self, CipherError> {
        use chacha20poly1305::KeyInit as _;
        let io = |source| CipherError::Io {
            path: path.to_path_buf(),
            source,
        };
        let key = match std::fs::read(path) {
            Ok(key) => key,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                crate::identity::write_private(path, &key).map_err(io)?;
                key.to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        let cipher = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| CipherError::BadKey(path.to_path_buf()))?;
        Ok(Self { cipher })
    }

    fn aad(recording_id: Uuid, seq: u64) -> Vec<u8> {
        let mut aad = recording_id.as_bytes().to_vec();
        aad.extend_from_slice(&seq.to_be_bytes());
        aad
    }

    /// Encrypts a chunk's audio: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, recording_id: Uuid, seq: u64, audio: &[u8]) -> String {
        use base64::Engine as _;
        use chacha20poly1305::aead::{Aead as _, Payload};
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let aad = Self::aad(recording_id, seq);
        // Encryption only fails for inputs beyond 256 GiB.
        let sealed = self
            .cipher
            .encrypt(
                &chacha20poly1305::Nonce::from(nonce),
                Payload {
                    msg: audio,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// The audio back from [`ChunkCipher::seal`].
    pub fn open(&self, recording_id: Uuid, seq: u64, b64: &str) -> Result<Vec<u8>, CipherError> {
        use base64::Engine as _;
        use chacha20poly1305::aead::{Aead as _, Payload};
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| CipherError::Damaged)?;
        if bytes.len() < NONCE_BYTES {
            return Err(CipherError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CipherError::Damaged)?;
        let aad = Self::aad(recording_id, seq);
        self.cipher
            .decrypt(
                &chacha20poly1305::Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigie-outbox-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn alarm(n: i64) -> Item {
        Item::Alarm {
            alarm_id: Uuid::now_v7(),
            pressed_at_ms: n,
            recording: false,
            test: false,
        }
    }

    #[test]
    fn survives_reopen_and_forgets_what_is_done() {
        let d = dir();
        let (mut o, r) = Outbox::open(&d).expect("open");
        assert_eq!(r, Recovery::default());
        let a = o.put(alarm(1)).expect("put");
        let b = o.put(alarm(2)).expect("put");
        o.done(a).expect("done");
        drop(o);
        let (o, r) = Outbox::open(&d).expect("reopen");
        assert_eq!(r.pending, 1);
        assert_eq!(o.pending()[0].0, b);
        let (mut o, _) = Outbox::open(&d).expect("reopen");
        let c = o.put(alarm(3)).expect("put");
        assert!(c > b, "sequence numbers keep growing across restarts");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn damaged_lines_are_skipped_and_the_rest_kept() {
        let d = dir();
        let (mut o, _) = Outbox::open(&d).expect("open");
        o.put(alarm(1)).expect("put");
        let second = alarm(2);
        o.put(second.clone()).expect("put");
        drop(o);
        let path = d.join("journal");
        let mut text = std::fs::read_to_string(&path).expect("read");
        // Flip a character inside the first record, and add a torn last line.
        text.replace_range(20..21, "#");
        text.push_str("0000abcd {\"op\":\"put\",\"seq\":9");
        std::fs::write(&path, text).expect("write");
        let (o, r) = Outbox::open(&d).expect("reopen");
        assert_eq!(
            r,
            Recovery {
                pending: 1,
                corrupt_lines: 2
            }
        );
        assert_eq!(o.pending()[0].1, second, "the intact record is kept");
        drop(o);
        // The journal was rewritten: a second open finds nothing damaged.
        let (_, r) = Outbox::open(&d).expect("reopen");
        assert_eq!(
            r,
            Recovery {
                pending: 1,
                corrupt_lines: 0
            }
        );
        std::fs::write(&path, [0xff, 0xfe, b'\n', 0x00]).expect("garbage");
        let (o, r) = Outbox::open(&d).expect("garbage journal opens");
        assert_eq!((o.depth(), r.corrupt_lines), (0, 2));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn full_outbox_sheds_other_items_never_alarms() {
        let d = dir();
        let (mut o, _) = Outbox::open(&d).expect("open");
        let id = Uuid::now_v7();
        for i in 0..OUTBOX_ITEMS_MAX + 5 {
            o.put(Item::Recording {
                alarm_id: id,
                requested_at_ms: i as i64,
            })
            .expect("put");
        }
        for i in 0..10 {
            o.put(alarm(i)).expect("alarms always fit");
        }
        let items = o.pending();
        assert_eq!(
            items
                .iter()
                .filter(|(_, i)| matches!(i, Item::Alarm { .. }))
                .count(),
            10
        );
        assert_eq!(
            items
                .iter()
                .filter(|(_, i)| matches!(i, Item::Recording { .. }))
                .count(),
            OUTBOX_ITEMS_MAX
        );
        // The oldest were shed.
        assert!(!items.iter().any(|(_, i)| *i
            == Item::Recording {
                alarm_id: id,
                requested_at_ms: 0
            }));
        let _ = std::fs::remove_dir_all(&d);
    }

    fn chunk(recording_id: Uuid, seq: u64) -> Item {
        Item::Chunk {
            recording_id,
            alarm_id: Uuid::nil(),
            seq,
            record: format!("record {seq}"),
            audio_b64: "x".repeat(100_000),
        }
    }

    fn chunk_seqs(o: &Outbox) -> Vec<u64> {
        o.pending()
            .into_iter()
            .filter_map(|(_, i)| match i {
                Item::Chunk { seq, .. } => Some(seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn chunks_are_shed_last_and_big_ones_survive_a_reopen() {
        let d = dir();
        let (o, _) = Outbox::open(&d).expect("open");
        let mut o = o.with_limits(3, 4);
        let rec = Uuid::now_v7();
        let other = |i| Item::Recording {
            alarm_id: rec,
            requested_at_ms: i,
        };
        for i in 0..3 {
            o.put(other(i)).expect("put");
        }
        o.put(alarm(0)).expect("alarm");
        // Seven non-alarm items fit; then chunks push out the other items.
        for seq in 0..7 {
            o.put(chunk(rec, seq)).expect("chunk");
        }
        let count =
            |o: &Outbox, f: fn(&Item) -> bool| o.pending().iter().filter(|(_, i)| f(i)).count();
        assert_eq!(count(&o, Item::is_alarm), 1);
        assert_eq!(
            chunk_seqs(&o),
            (0..7).collect::<Vec<_>>(),
            "every chunk kept, the others shed"
        );
        assert_eq!(o.depth(), 8);
        // Another item never pushes a chunk out.
        o.put(other(9)).expect("put");
        assert_eq!(chunk_seqs(&o), (0..7).collect::<Vec<_>>());
        assert_eq!(o.depth(), 9);
        // A new chunk sheds the other item first, then (nothing else left)
        // the oldest chunk.
        o.put(chunk(rec, 7)).expect("chunk");
        assert_eq!(chunk_seqs(&o), (1..8).collect::<Vec<_>>());
        assert_eq!(o.depth(), 8, "the other item went first");
        assert_eq!(count(&o, Item::is_alarm), 1, "alarms never");
        drop(o);
        // 100 kB lines are items, not damage.
        let (o, r) = Outbox::open(&d).expect("reopen");
        assert_eq!(r.corrupt_lines, 0);
        assert_eq!(chunk_seqs(&o), (1..8).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn chunk_audio_is_encrypted_and_bound_to_its_place() {
        let d = dir();
        let path = d.join("keys").join("chunk.key");
        let c = ChunkCipher::load_or_create(&path).expect("key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let rec = Uuid::now_v7();
        let audio = b"OggS speech speech speech".to_vec();
        let sealed = c.seal(rec, 3, &audio);
        assert!(!sealed.contains("c3BlZWNo"), "not plain base64");
        // The same key after a restart opens it; the wrong place does not.
        let c = ChunkCipher::load_or_create(&path).expect("key again");
        assert_eq!(c.open(rec, 3, &sealed).expect("open"), audio);
        assert!(c.open(rec, 4, &sealed).is_err());
        assert!(c.open(Uuid::now_v7(), 3, &sealed).is_err());
        let other = ChunkCipher::load_or_create(&d.join("other.key")).expect("other");
        assert!(other.open(rec, 3, &sealed).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn compaction_keeps_pending_items() {
        let d = dir();
        let (mut o, _) = Outbox::open(&d).expect("open");
        let keep = o.put(alarm(0)).expect("put");
        for i in 0..(COMPACT_AFTER_DONE as i64 + 3) {
            let s = o.put(alarm(i)).expect("put");
            o.done(s).expect("done");
        }
        drop(o);
        let (o, r) = Outbox::open(&d).expect("reopen");
        assert_eq!((r.pending, o.pending()[0].0), (1, keep));
        let _ = std::fs::remove_dir_all(&d);
    }
}
