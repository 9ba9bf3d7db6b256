//! The durable outbox: what the box must still tell the hub, kept on disk
//! so that a press survives a power cut, a crash or a dead network.
//!
//! An append-only journal of lines `CRC32 JSON`: `put` appends an item and
//! syncs it to disk before returning (a press is durable before anything
//! else happens); `done` appends a marker. On open the journal is replayed:
//! a line whose checksum or JSON is wrong (a torn write, a bad sector) is
//! skipped and counted, never fatal, and the journal is rewritten without
//! it. Alarms are never dropped; when the outbox is full, heartbeats go
//! first, then the oldest other items.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Items kept at most, alarms excepted (they are never dropped).
pub const OUTBOX_ITEMS_MAX: usize = 1_000;
/// A journal line longer than this is corrupt, not an item.
const JOURNAL_LINE_BYTES_MAX: usize = 64 * 1024;
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
}

impl Item {
    pub fn alarm_id(&self) -> Uuid {
        match self {
            Item::Alarm { alarm_id, .. }
            | Item::Cancel { alarm_id, .. }
            | Item::Recording { alarm_id, .. }
            | Item::DirectSent { alarm_id, .. } => *alarm_id,
        }
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
        if !matches!(item, Item::Alarm { .. }) {
            self.make_room()?;
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

    /// Drop the oldest non-alarm item while the outbox is full.
    fn make_room(&mut self) -> Result<(), OutboxError> {
        while self
            .pending
            .values()
            .filter(|i| !matches!(i, Item::Alarm { .. }))
            .count()
            >= OUTBOX_ITEMS_MAX
        {
            let Some(seq) = self
                .pending
                .iter()
                .find(|(_, i)| !matches!(i, Item::Alarm { .. }))
                .map(|(s, _)| *s)
            else {
                break;
            };
            tracing::warn!(seq, "outbox full: dropping the oldest non-alarm item");
            self.done(seq)?;
        }
        Ok(())
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
