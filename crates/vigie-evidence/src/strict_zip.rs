//! The strict ZIP reader of `vigie verify` (`docs/protocol/evidence.md`
//! §4): an export is one spelling of a ZIP too. Stored entries only, laid
//! end to end from the first byte, the central directory right after them
//! and the end record last; local and central headers agree on every
//! field a reader could take from either (name, sizes, method, CRC,
//! flags); regular files only; no comment, no ZIP64, no extra fields; and
//! every size is checked against the file and the limits before anything
//! is read. Entries are borrowed from the input: nothing is copied or
//! inflated, so memory is the file's own size.

use std::collections::BTreeMap;

/// Why a ZIP was refused; each names the entry at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("the file is {bytes} bytes, more than the {max} accepted")]
    TooLarge { bytes: u64, max: u64 },
    #[error("no end-of-central-directory record at the end of the file (truncated, or not a ZIP)")]
    NoEndRecord,
    #[error("the ZIP has a comment, which the format does not allow")]
    Comment,
    #[error("{0} bytes after the end record")]
    TrailingBytes(u64),
    #[error("{0} bytes before the first entry")]
    LeadingBytes(u64),
    #[error("ZIP64 or multi-disk archive, which the format does not allow")]
    Zip64,
    #[error("the ZIP has {0} entries, more than accepted")]
    TooManyEntries(u64),
    #[error("the central directory does not end where the end record begins")]
    CentralDirectory,
    #[error("entry {index}: {what}")]
    Header { index: u64, what: &'static str },
    #[error("{path}: {what}")]
    Entry { path: String, what: &'static str },
    #[error("{path}: {bytes} bytes, more than the {max} accepted for one entry")]
    EntryTooLarge { path: String, bytes: u64, max: u64 },
    #[error("{0}: the name appears twice")]
    Duplicate(String),
}

impl ZipError {
    /// The same, in French.
    pub fn fr(&self) -> String {
        match self {
            Self::TooLarge { bytes, max } => {
                format!("le fichier fait {bytes} octets, plus que les {max} acceptés")
            }
            Self::NoEndRecord => "pas d'enregistrement de fin de répertoire central à la fin du fichier (tronqué, ou pas un ZIP)".into(),
            Self::Comment => "le ZIP porte un commentaire, que le format n'autorise pas".into(),
            Self::TrailingBytes(n) => format!("{n} octets après l'enregistrement de fin"),
            Self::LeadingBytes(n) => format!("{n} octets avant la première entrée"),
            Self::Zip64 => "archive ZIP64 ou en plusieurs volumes, que le format n'autorise pas".into(),
            Self::TooManyEntries(n) => format!("le ZIP a {n} entrées, plus que le nombre accepté"),
            Self::CentralDirectory => {
                "le répertoire central ne finit pas là où commence l'enregistrement de fin".into()
            }
            Self::Header { index, what } => format!("entrée {index} : {}", fr_what(what)),
            Self::Entry { path, what } => format!("{path} : {}", fr_what(what)),
            Self::EntryTooLarge { path, bytes, max } => {
                format!("{path} : {bytes} octets, plus que les {max} acceptés pour une entrée")
            }
            Self::Duplicate(path) => format!("{path} : le nom apparaît deux fois"),
        }
    }
}

/// Every `what` of [`ZipError::Header`] and [`ZipError::Entry`], in French.
fn fr_what(what: &str) -> &'static str {
    match what {
        CD_CUT => "répertoire central tronqué",
        CD_SIGNATURE => "pas un en-tête central",
        NOT_UTF8 => "nom qui n'est pas de l'UTF-8",
        DIRECTORY => "une entrée de dossier, pas un fichier",
        SYMLINK => "un lien symbolique, pas un fichier ordinaire",
        SPECIAL => "pas un fichier ordinaire",
        COMPRESSED => "compressé ; le format veut des entrées stockées",
        FLAGS => "drapeaux interdits (chiffrement, descripteur de données…)",
        EXTRA => "champ supplémentaire ou commentaire d'entrée, que le format n'autorise pas",
        SIZES => "tailles compressée et réelle différentes pour une entrée stockée",
        LOCAL_CUT => "en-tête local hors du fichier",
        LOCAL_SIGNATURE => "pas d'en-tête local à l'endroit annoncé",
        LOCAL_MISMATCH => "l'en-tête local et l'en-tête central ne concordent pas",
        GAP => "n'est pas juste après l'entrée précédente (octets cachés entre les entrées)",
        DATA_CUT => "données hors du fichier",
        CRC => "CRC-32 faux : contenu altéré",
        _ => "entrée refusée",
    }
}

const CD_CUT: &str = "central directory cut short";
const CD_SIGNATURE: &str = "not a central directory header";
const NOT_UTF8: &str = "a name that is not UTF-8";
const DIRECTORY: &str = "a directory entry, not a file";
const SYMLINK: &str = "a symbolic link, not a regular file";
const SPECIAL: &str = "not a regular file";
const COMPRESSED: &str = "compressed; the format wants stored entries";
const FLAGS: &str = "forbidden flags (encryption, data descriptor…)";
const EXTRA: &str = "an extra field or entry comment, which the format does not allow";
const SIZES: &str = "compressed and real sizes differ for a stored entry";
const LOCAL_CUT: &str = "local header outside the file";
const LOCAL_SIGNATURE: &str = "no local header where the directory says";
const LOCAL_MISMATCH: &str = "the local and central headers disagree";
const GAP: &str = "does not start right after the entry before (bytes hidden between entries)";
const DATA_CUT: &str = "data outside the file";
const CRC: &str = "wrong CRC-32: altered content";

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
/// General-purpose flags allowed: bit 11 (UTF-8 names) only.
const FLAGS_ALLOWED: u16 = 0x0800;
/// The Unix host in "version made by".
const HOST_UNIX: u8 = 3;
/// MS-DOS directory attribute.
const DOS_DIRECTORY: u32 = 0x10;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// CRC-32 (IEEE, as ZIP uses it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (!(crc & 1)).wrapping_add(1));
        }
    }
    !crc
}

/// The fields both headers carry and must agree on.
#[derive(PartialEq, Eq)]
struct Common<'a> {
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    name: &'a [u8],
}

/// Reads the entries of a strict ZIP (see the module documentation).
pub fn read(
    zip: &[u8],
    bytes_max: u64,
    entries_max: u64,
    entry_bytes_max: u64,
) -> Result<BTreeMap<String, &[u8]>, ZipError> {
    let total = zip.len() as u64;
    if total > bytes_max {
        return Err(ZipError::TooLarge {
            bytes: total,
            max: bytes_max,
        });
    }
    let end = zip
        .len()
        .checked_sub(END_LEN)
        .ok_or(ZipError::NoEndRecord)?;
    if u32_at(zip, end) != END_SIG {
        // Somewhere before the end: a comment, or bytes appended.
        let from = end.saturating_sub(usize::from(u16::MAX));
        let found = (from..end).rev().find(|&at| u32_at(zip, at) == END_SIG);
        return Err(match found {
            Some(at) if usize::from(u16_at(zip, at + 20)) == end - at => ZipError::Comment,
            Some(at) => ZipError::TrailingBytes((end - at) as u64),
            None => ZipError::NoEndRecord,
        });
    }
    let (disk, cd_disk) = (u16_at(zip, end + 4), u16_at(zip, end + 6));
    let (on_disk, count) = (u16_at(zip, end + 8), u16_at(zip, end + 10));
    let (cd_size, cd_offset) = (u32_at(zip, end + 12), u32_at(zip, end + 16));
    if u16_at(zip, end + 20) != 0 {
        return Err(ZipError::Comment);
    }
    if disk != 0 || cd_disk != 0 || on_disk != count || count == u16::MAX || cd_offset == u32::MAX {
        return Err(ZipError::Zip64);
    }
    if u64::from(count) > entries_max {
        return Err(ZipError::TooManyEntries(u64::from(count)));
    }
    let cd_start = cd_offset as usize;
    if cd_start.checked_add(cd_size as usize) != Some(end) {
        return Err(ZipError::CentralDirectory);
    }
    let mut files = BTreeMap::new();
    let mut at = cd_start;
    let mut next_local = 0usize;
    for index in 0..u64::from(count) {
        let header = |what| ZipError::Header { index, what };
        if at + CENTRAL_LEN > end {
            return Err(header(CD_CUT));
        }
        if u32_at(zip, at) != CENTRAL_SIG {
            return Err(header(CD_SIGNATURE));
        }
        let made_by_host = zip[at + 5];
        let name_len = usize::from(u16_at(zip, at + 28));
        let extra_len = usize::from(u16_at(zip, at + 30));
        let comment_len = usize::from(u16_at(zip, at + 32));
        let (disk_start, attrs) = (u16_at(zip, at + 34), u32_at(zip, at + 38));
        let local = u32_at(zip, at + 42) as usize;
        let name_end = at + CENTRAL_LEN + name_len;
        if name_end + extra_len + comment_len > end {
            return Err(header(CD_CUT));
        }
        let central = Common {
            flags: u16_at(zip, at + 8),
            method: u16_at(zip, at + 10),
            crc: u32_at(zip, at + 16),
            compressed: u32_at(zip, at + 20),
            size: u32_at(zip, at + 24),
            name: &zip[at + CENTRAL_LEN..name_end],
        };
        let path = std::str::from_utf8(central.name)
            .map_err(|_| header(NOT_UTF8))?
            .to_owned();
        let entry = |what| ZipError::Entry {
            path: path.clone(),
            what,
        };
        if disk_start != 0 || central.size == u32::MAX || central.compressed == u32::MAX {
            return Err(ZipError::Zip64);
        }
        let unix_type = (attrs >> 16) & 0o170_000;
        if path.ends_with('/') || attrs & DOS_DIRECTORY != 0 {
            return Err(entry(DIRECTORY));
        }
        if made_by_host == HOST_UNIX && unix_type == 0o120_000 {
            return Err(entry(SYMLINK));
        }
        if made_by_host == HOST_UNIX && unix_type != 0 && unix_type != 0o100_000 {
            return Err(entry(SPECIAL));
        }
        if central.method != 0 {
            return Err(entry(COMPRESSED));
        }
        if central.flags & !FLAGS_ALLOWED != 0 {
            return Err(entry(FLAGS));
        }
        if extra_len != 0 || comment_len != 0 {
            return Err(entry(EXTRA));
        }
        if central.compressed != central.size {
            return Err(entry(SIZES));
        }
        if u64::from(central.size) > entry_bytes_max {
            return Err(ZipError::EntryTooLarge {
                path,
                bytes: u64::from(central.size),
                max: entry_bytes_max,
            });
        }
        if local != next_local {
            return Err(if index == 0 {
                ZipError::LeadingBytes(local as u64)
            } else {
                entry(GAP)
            });
        }
        if local + LOCAL_LEN > cd_start {
            return Err(entry(LOCAL_CUT));
        }
        if u32_at(zip, local) != LOCAL_SIG {
            return Err(entry(LOCAL_SIGNATURE));
        }
        let local_name_len = usize::from(u16_at(zip, local + 26));
        let local_extra_len = usize::from(u16_at(zip, local + 28));
        let data_start = local + LOCAL_LEN + local_name_len + local_extra_len;
        let data_end = data_start + central.size as usize;
        if data_end > cd_start {
            return Err(entry(DATA_CUT));
        }
        let local_fields = Common {
            flags: u16_at(zip, local + 6),
            method: u16_at(zip, local + 8),
            crc: u32_at(zip, local + 14),
            compressed: u32_at(zip, local + 18),
            size: u32_at(zip, local + 22),
            name: &zip[local + LOCAL_LEN..local + LOCAL_LEN + local_name_len],
        };
        if local_fields != central {
            return Err(entry(LOCAL_MISMATCH));
        }
        if local_extra_len != 0 {
            return Err(entry(EXTRA));
        }
        let data = &zip[data_start..data_end];
        if crc32(data) != central.crc {
            return Err(entry(CRC));
        }
        if files.insert(path.clone(), data).is_some() {
            return Err(ZipError::Duplicate(path));
        }
        next_local = data_end;
        at = name_end;
    }
    if at != end {
        return Err(ZipError::CentralDirectory);
    }
    if next_local != cd_start {
        return Err(ZipError::TrailingBytes((cd_start - next_local) as u64));
    }
    Ok(files)
}

/// Writes `files` as a strict ZIP: stored entries in path order, no extra
/// field, no comment, the DOS time of 1980-01-01 00:00 (an export's times
/// are in its files, not in its ZIP headers). Sizes must fit in 32 bits.
pub fn write<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut count: u16 = 0;
    for (name, data) in files {
        let offset = u32::try_from(out.len()).ok()?;
        let size = u32::try_from(data.len()).ok()?;
        let name_len = u16::try_from(name.len()).ok()?;
        let crc = crc32(data);
        let flags: u16 = if name.is_ascii() { 0 } else { FLAGS_ALLOWED };
        // version needed 1.0, flags, stored, time 00:00, date 1980-01-01
        let common = |b: &mut Vec<u8>| {
            b.extend_from_slice(&10u16.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&0x21u16.to_le_bytes());
            b.extend_from_slice(&crc.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&name_len.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        // made by: Unix, 1.0
        central.extend_from_slice(&[10, HOST_UNIX]);
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        count = count.checked_add(1).filter(|c| *c < u16::MAX)?;
    }
    let cd_offset = u32::try_from(out.len()).ok()?;
    let cd_size = u32::try_from(central.len()).ok()?;
    out.extend_from_slice(&central);
    out.extend_from_slice(&END_SIG.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    u32::try_from(out.len()).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 30;

    fn sample() -> Vec<u8> {
        write([
            ("a.txt", &b"hello\n"[..]),
            ("b/c.bin", &[0u8, 1, 2, 255][..]),
        ])
        .expect("zip")
    }

    fn read_all(zip: &[u8]) -> Result<BTreeMap<String, &[u8]>, ZipError> {
        read(zip, MAX, 100, MAX)
    }

    /// Offsets in [`sample`]: the first local header, the second, the
    /// central directory, its second header, the end record.
    fn layout(zip: &[u8]) -> (usize, usize, usize, usize) {
        let second = 30 + 5 + 6;
        let end = zip.len() - END_LEN;
        let cd = u32_at(zip, end + 16) as usize;
        let cd2 = cd + CENTRAL_LEN + 5;
        (second, cd, cd2, end)
    }

    #[test]
    fn crc32_is_zip_s() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_strict_zip_reads_back() {
        let zip = sample();
        let files = read_all(&zip).expect("read");
        assert_eq!(files["a.txt"], b"hello\n");
        assert_eq!(files["b/c.bin"], [0, 1, 2, 255]);
        // `unzip` and Python read it too (tested by the export tests through sha256sum).
    }

    #[test]
    fn every_departure_from_the_one_spelling_is_named() {
        let zip = sample();
        let (second, cd, cd2, end) = layout(&zip);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut z = zip.clone();
            f(&mut z);
            read_all(&z).map(|_| ()).expect_err("refused")
        };
        let entry = |path: &str, what| ZipError::Entry {
            path: path.into(),
            what,
        };
        // A comment, and bytes after the end.
        assert_eq!(
            with(&|z| {
                z[end + 20] = 3;
                z.extend_from_slice(b"hi!");
            }),
            ZipError::Comment
        );
        assert_eq!(
            with(&|z| z.extend_from_slice(b"tail")),
            ZipError::TrailingBytes(4)
        );
        assert_eq!(with(&|z| z.truncate(z.len() - 1)), ZipError::NoEndRecord);
        // Bytes before the first entry (offsets shifted so the rest holds).
        let mut shifted = b"JUNK".to_vec();
        shifted.extend_from_slice(&zip);
        let e = shifted.len() - END_LEN;
        let cd_off = u32_at(&shifted, e + 16) + 4;
        shifted[e + 16..e + 20].copy_from_slice(&cd_off.to_le_bytes());
        let c2 = cd2 + 4;
        let off2 = u32_at(&shifted, c2 + 42) + 4;
        shifted[c2 + 42..c2 + 46].copy_from_slice(&off2.to_le_bytes());
        shifted[cd + 4 + 42..cd + 4 + 46].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            read_all(&shifted).map(|_| ()).expect_err("refused"),
            ZipError::LeadingBytes(4)
        );
        // Local and central headers that disagree: name, size, method, CRC.
        assert_eq!(with(&|z| z[30] = b'A'), entry("a.txt", LOCAL_MISMATCH));
        assert_eq!(
            with(&|z| {
                z[second + 14] ^= 1;
            }),
            entry("b/c.bin", LOCAL_MISMATCH)
        );
        assert_eq!(with(&|z| z[8] = 8), entry("a.txt", LOCAL_MISMATCH));
        assert_eq!(with(&|z| z[cd + 10] = 8), entry("a.txt", COMPRESSED));
        // Altered data.
        assert_eq!(with(&|z| z[30 + 5] ^= 1), entry("a.txt", CRC));
        // A symbolic link, a directory, a device.
        assert_eq!(
            with(&|z| z[cd + 40..cd + 42].copy_from_slice(&0o120_777u16.to_le_bytes())),
            entry("a.txt", SYMLINK)
        );
        assert_eq!(with(&|z| z[cd + 38] = 0x10), entry("a.txt", DIRECTORY));
        assert_eq!(
            with(&|z| z[cd + 40..cd + 42].copy_from_slice(&0o020_644u16.to_le_bytes())),
            entry("a.txt", SPECIAL)
        );
        // Encryption or a data descriptor.
        assert_eq!(
            with(&|z| {
                z[cd + 8] = 1;
                z[6] = 1;
            }),
            entry("a.txt", FLAGS)
        );
        // Declared sizes larger than the file, or than the limits.
        assert_eq!(
            with(&|z| {
                for at in [cd2 + 20, cd2 + 24, second + 18, second + 22] {
                    z[at..at + 4].copy_from_slice(&0x0100_0000u32.to_le_bytes());
                }
            }),
            entry("b/c.bin", DATA_CUT)
        );
        assert!(matches!(
            read(&zip, MAX, 100, 5).expect_err("refused"),
            ZipError::EntryTooLarge { .. }
        ));
        assert_eq!(
            read(&zip, MAX, 1, MAX).expect_err("refused"),
            ZipError::TooManyEntries(2)
        );
        assert!(matches!(
            read(&zip, 10, 100, MAX).expect_err("refused"),
            ZipError::TooLarge { .. }
        ));
        // ZIP64 markers and a central directory that does not reach the end record.
        assert_eq!(with(&|z| z[end + 10] = 0xff), ZipError::Zip64);
        assert_eq!(with(&|z| z[end + 12] ^= 1), ZipError::CentralDirectory);
        // Every French text is French.
        for e in [
            ZipError::Comment,
            entry("a.txt", CRC),
            entry("a.txt", SYMLINK),
        ] {
            assert!(!e.fr().contains(" the "), "{}", e.fr());
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let zip = write([("a", &b"1"[..]), ("a", &b"2"[..])]).expect("zip");
        assert_eq!(
            read_all(&zip).expect_err("refused"),
            ZipError::Duplicate("a".into())
        );
    }
}
