//! Offline verification of an export: every check of
//! `docs/protocol/evidence.md` §5, over the ZIP's bytes. The RFC 3161
//! check is injected ([`TsaCheck`]) so that this module stays a pure
//! function and tests can stand in for a TSA; `vigie verify` plugs in
//! [`crate::tsa::verify_token`].
//!
//! Every problem is reported, not only the first, each naming the file at
//! fault; checks that passed are summarised in one line each.

use crate::chain::{self, ChainEnd, ChainError};
use crate::checkpoint::{self, SignedCheckpoint};
use crate::custody::{self, CustodyEvent};
use crate::device;
use crate::export::{
    self, ConsistencyProof, DEVICE_ENTRY, DEVICE_KEY, HUB_KEY, InclusionProof, MANIFEST,
    MANIFEST_SIG, Part, RECORDING, REPORT_EN, REPORT_FR, SINGLE_PARTS, TIMELINE, TSA_CHAIN,
};
use crate::merkle;
use crate::record::{self, SignedRecord};
use crate::report::{
    Fingerprints, Report, Summary, TimeStamp, duration_en, duration_fr, plural_en, plural_fr,
    utc_text,
};
use crate::text::{self, Hash};
use crate::trust::{self, Anchors};
use p256::ecdsa::VerifyingKey;
use std::collections::BTreeMap;

/// The injected time-stamp check: `(checkpoint file, token DER, TSA chain
/// PEM)` → the time the token gives, or why it does not verify.
pub type TsaCheck<'a> = dyn Fn(&[u8], &[u8], &[u8]) -> Result<TimeStamp, String> + 'a;

/// How far ahead of the trusted time a box's or the hub's clock may be
/// before the report warns: clocks drift, and a box may have no network
/// time for a while; two minutes is beyond ordinary drift.
pub const CLOCK_AHEAD_MS_MAX: u64 = 120_000;

/// How long before its trusted time a chunk's box time may end before the
/// report warns that the box's clock was behind (or the chunk arrived
/// late): a chunk sealed live reaches the hub within seconds and is
/// stamped within the minute (docs/protocol/evidence.md §3), so ten
/// minutes is beyond any live delay.
pub const CLOCK_BEHIND_MS_MAX: u64 = 600_000;

/// Largest `MANIFEST.sha256`: a line is at most about 110 bytes.
const MANIFEST_BYTES_MAX: usize = export::EXPORT_ENTRIES_MAX * 128;

/// Largest `timeline.json` parsed: speech segments of an hour of audio fit
/// in far less.
const TIMELINE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Verifies an export ZIP, not anchored: the export's own keys are
/// reported with their fingerprints, not trusted
/// ([`verify_export_anchored`] with [`Anchors::NotAnchored`]).
pub fn verify_export(zip: &[u8], tsa_check: &TsaCheck<'_>) -> Report {
    verify_export_anchored(zip, tsa_check, Anchors::NotAnchored)
}

/// Verifies an export ZIP; with [`Anchors::Anchored`], the hub key and
/// the TSA root must be the Region's.
pub fn verify_export_anchored(
    zip: &[u8],
    tsa_check: &TsaCheck<'_>,
    anchors: Anchors<'_>,
) -> Report {
    match export::entries(zip) {
        Ok(files) => verify_entries(&files, tsa_check, anchors),
        Err(e) => {
            let mut r = Report::default();
            r.fail(
                &["export"],
                format!("l'export n'est pas lisible : {}", e.fr()),
                format!("the export cannot be read: {e}"),
            );
            r
        }
    }
}

/// Verifies the files of an unpacked export, not anchored.
pub fn verify_files(files: &BTreeMap<String, Vec<u8>>, tsa_check: &TsaCheck<'_>) -> Report {
    let borrowed: BTreeMap<String, &[u8]> = files
        .iter()
        .map(|(p, b)| (p.clone(), b.as_slice()))
        .collect();
    verify_entries(&borrowed, tsa_check, Anchors::NotAnchored)
}

fn verify_entries(
    files: &BTreeMap<String, &[u8]>,
    tsa_check: &TsaCheck<'_>,
    anchors: Anchors<'_>,
) -> Report {
    let mut r = Report::default();
    let mut parts: BTreeMap<Part, &[u8]> = BTreeMap::new();
    for (path, bytes) in files {
        match Part::parse(path) {
            Some(part) => {
                parts.insert(part, bytes);
            }
            None => r.fail(
                &[path],
                format!("{path} : fichier en trop, que le format n'autorise pas"),
                format!("{path}: extra file, not allowed by the format"),
            ),
        }
    }
    for part in SINGLE_PARTS {
        if !parts.contains_key(&part) {
            let path = part.path();
            let (fr, en) = if part == Part::DeviceEntry {
                (
                    " (export d'avant la version 2 du format : le hub n'y atteste pas la clé du boîtier ; le réexporter depuis le hub)",
                    " (an export older than format version 2: the hub does not vouch for the device key in it; export it again from the hub)",
                )
            } else {
                ("", "")
            };
            r.fail(
                &[&path],
                format!("{path} : fichier manquant{fr}"),
                format!("{path}: missing{en}"),
            );
        }
    }
    let digests: BTreeMap<&str, Hash> = files
        .iter()
        .map(|(path, bytes)| (path.as_str(), text::sha256(bytes)))
        .collect();
    let device_key = public_key(&parts, Part::DeviceKey, &mut r);
    let hub_key = public_key(&parts, Part::HubKey, &mut r);
    check_manifest(files, &parts, &digests, hub_key.as_ref(), &mut r);
    check_plain_files(&parts, &mut r);

    let (records, end) = check_records(&parts, device_key.as_ref(), &mut r);
    check_audio(&parts, &digests, &records, &mut r);
    let recording = records.first().map(|(_, s)| s.record.recording.clone());
    let custody = check_custody(&parts, recording.as_deref(), &mut r);
    let checkpoints = check_checkpoints(&parts, hub_key.as_ref(), &mut r);
    check_consistency(&parts, &checkpoints, &mut r);

    let record_entries: Vec<(u64, &[u8])> = records
        .iter()
        .map(|(n, s)| (*n, s.bytes.as_slice()))
        .collect();
    let custody_entries: Vec<(u64, &[u8])> = custody.iter().map(|(n, b, _)| (*n, *b)).collect();
    let device_entry = check_device_entry(&parts, device_key.as_ref(), &records, &mut r);
    let mut leaves = BTreeMap::new();
    check_inclusion(
        &parts,
        &device_entry.map(|b| vec![(0, b)]).unwrap_or_default(),
        Kind::Device,
        &checkpoints,
        &mut leaves,
        &mut r,
    );
    let record_cps = check_inclusion(
        &parts,
        &record_entries,
        Kind::Record,
        &checkpoints,
        &mut leaves,
        &mut r,
    );
    check_inclusion(
        &parts,
        &custody_entries,
        Kind::Custody,
        &checkpoints,
        &mut leaves,
        &mut r,
    );
    let times = check_timestamps(&parts, &checkpoints, tsa_check, &mut r);
    let proven_by_ms = check_times(&records, &record_cps, &times, &mut r);
    r.fingerprints = fingerprints(&parts, device_key.as_ref(), hub_key.as_ref());
    check_anchors(&parts, &checkpoints, &times, anchors, &mut r);
    if custody.is_empty() && !records.is_empty() {
        r.warn(
            &["custody/"],
            "custody/ : aucun événement de garde : l'export ne dit ni qui l'a fait ni pourquoi"
                .into(),
            "custody/: no custody event: the export says neither who made it nor why".into(),
        );
    }
    check_hub_texts(&parts, &records, &mut r);

    match end {
        Some(ChainEnd::Final { last_seq }) => {
            let path = Part::Record(last_seq).path();
            r.ok_line(
                &[&path],
                format!("enregistrement complet : {path} est le dernier morceau (final)"),
                format!("complete recording: {path} is the final chunk"),
            );
        }
        Some(ChainEnd::Truncated { last_seq }) => {
            let path = Part::Record(last_seq).path();
            r.warn(
                &[&path],
                format!(
                    "enregistrement tronqué : {path} n'est pas marqué final (boîtier arraché, \
                     coupure ou réseau perdu) ; tout ce qui précède est prouvé"
                ),
                format!(
                    "truncated recording: {path} is not marked final (box torn off, power cut \
                     or network lost); everything up to it is proven"
                ),
            );
        }
        None => {}
    }

    if let Some((_, first)) = records.first() {
        let last = &records[records.len() - 1].1;
        r.summary = Some(Summary {
            recording: first.record.recording.clone(),
            alarm: first.record.alarm.clone(),
            device: first.record.device.clone(),
            chunks: records.len() as u64,
            audio_bytes: records.iter().map(|(_, s)| s.record.audio_bytes).sum(),
            wall_ms: (first.record.wall_ms.0, last.record.wall_ms.1),
            end,
            custody_events: custody.len() as u64,
            checkpoints: checkpoints.len() as u64,
            proven_by_ms,
        });
    }
    r
}

fn public_key(parts: &BTreeMap<Part, &[u8]>, part: Part, r: &mut Report) -> Option<VerifyingKey> {
    let bytes = parts.get(&part)?;
    let key = export::parse_public_key_pem(bytes);
    if key.is_none() {
        let path = part.path();
        r.fail(
            &[&path],
            format!("{path} : pas une clé publique P-256 (PEM SubjectPublicKeyInfo)"),
            format!("{path}: not a P-256 public key (SubjectPublicKeyInfo PEM)"),
        );
    }
    key
}

/// The entries of `MANIFEST.sha256`, strictly: `<hex>  <path>` lines sorted by path.
fn parse_manifest(bytes: &[u8]) -> Result<Vec<(Hash, &str)>, String> {
    let lines = text::lines(bytes, MANIFEST_BYTES_MAX).map_err(|e| e.to_string())?;
    let mut out: Vec<(Hash, &str)> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let (hash, path) = line
            .split_at_checked(64)
            .and_then(|(h, rest)| Some((text::parse_hash(h)?, rest.strip_prefix("  ")?)))
            .ok_or_else(|| format!("line {n} is not `<sha256 hex>  <path>`"))?;
        if path.is_empty() {
            return Err(format!("line {n} names no file"));
        }
        if let Some((_, before)) = out.last()
            && *before >= path
        {
            return Err(format!("line {n}: paths are not sorted or appear twice"));
        }
        out.push((hash, path));
    }
    Ok(out)
}

fn check_manifest(
    files: &BTreeMap<String, &[u8]>,
    parts: &BTreeMap<Part, &[u8]>,
    digests: &BTreeMap<&str, Hash>,
    hub_key: Option<&VerifyingKey>,
    r: &mut Report,
) {
    let Some(bytes) = parts.get(&Part::Manifest) else {
        return;
    };
    let before = r.failure_count();
    match parse_manifest(bytes) {
        Err(e) => r.fail(
            &[MANIFEST],
            format!("{MANIFEST} : mal formé ({e})"),
            format!("{MANIFEST}: malformed ({e})"),
        ),
        Ok(entries) => {
            let listed: BTreeMap<&str, Hash> = entries.iter().map(|(h, p)| (*p, *h)).collect();
            for (path, hash) in &listed {
                if *path == MANIFEST || *path == MANIFEST_SIG {
                    r.fail(
                        &[MANIFEST],
                        format!("{MANIFEST} : ne doit pas lister {path}"),
                        format!("{MANIFEST}: must not list {path}"),
                    );
                    continue;
                }
                match digests.get(path) {
                    None => r.fail(
                        &[path, MANIFEST],
                        format!("{path} : listé dans {MANIFEST} mais absent de l'export"),
                        format!("{path}: listed in {MANIFEST} but missing from the export"),
                    ),
                    Some(actual) if actual != hash => r.fail(
                        &[path, MANIFEST],
                        format!(
                            "{path} : son SHA-256 ne correspond pas à {MANIFEST} (fichier modifié)"
                        ),
                        format!("{path}: SHA-256 does not match {MANIFEST} (the file was altered)"),
                    ),
                    Some(_) => {}
                }
            }
            for path in files.keys() {
                if path != MANIFEST && path != MANIFEST_SIG && !listed.contains_key(path.as_str()) {
                    r.fail(
                        &[path, MANIFEST],
                        format!("{path} : absent de {MANIFEST} (fichier ajouté)"),
                        format!("{path}: not listed in {MANIFEST} (an added file)"),
                    );
                }
            }
        }
    }
    if let (Some(sig), Some(key)) = (parts.get(&Part::ManifestSig), hub_key) {
        let signature = std::str::from_utf8(sig)
            .ok()
            .and_then(|s| s.strip_suffix('\n'))
            .and_then(text::parse_signature);
        match signature {
            None => r.fail(
                &[MANIFEST_SIG],
                format!("{MANIFEST_SIG} : pas une signature (base64 r‖s et fin de ligne)"),
                format!("{MANIFEST_SIG}: not a signature (base64 r‖s and a line end)"),
            ),
            Some(s) if !text::verify(bytes, &s, key) => r.fail(
                &[MANIFEST_SIG, MANIFEST, HUB_KEY],
                format!(
                    "{MANIFEST_SIG} : la signature de {MANIFEST} ne se vérifie pas avec {HUB_KEY}"
                ),
                format!(
                    "{MANIFEST_SIG}: the signature over {MANIFEST} does not verify with {HUB_KEY}"
                ),
            ),
            Some(_) => {}
        }
    }
    if r.failure_count() == before && parts.contains_key(&Part::ManifestSig) && hub_key.is_some() {
        let n = files.len() as u64 - 2;
        r.ok_line(
            &[MANIFEST, MANIFEST_SIG],
            format!(
                "{MANIFEST} : {} ; {MANIFEST_SIG} est signé par le hub ({HUB_KEY})",
                if n <= 1 {
                    format!("{n} fichier intact")
                } else {
                    format!("les {n} fichiers sont intacts")
                }
            ),
            format!(
                "{MANIFEST}: {} intact; {MANIFEST_SIG} is signed by the hub ({HUB_KEY})",
                if n == 1 {
                    "the 1 file".to_owned()
                } else {
                    format!("all {n} files")
                }
            ),
        );
    }
}

/// `timeline.json` is JSON; the reports are UTF-8 text. Only the hub vouches
/// for their content (through the manifest's signature).
fn check_plain_files(parts: &BTreeMap<Part, &[u8]>, r: &mut Report) {
    if let Some(bytes) = parts.get(&Part::Timeline)
        && !is_canonical_timeline(bytes)
    {
        r.fail(
            &[TIMELINE],
            format!("{TIMELINE} : pas le JSON du format dans son unique écriture ({{\"speech\":[[début,fin]…],\"loud\":[…]}}, compact, une fin de ligne)"),
            format!("{TIMELINE}: not the format's JSON in its one spelling ({{\"speech\":[[start,end]…],\"loud\":[…]}}, compact, one line end)"),
        );
    }
    for part in [Part::ReportFr, Part::ReportEn] {
        if let Some(bytes) = parts.get(&part)
            && std::str::from_utf8(bytes).is_err()
        {
            let path = part.path();
            r.fail(
                &[&path],
                format!("{path} : pas du texte UTF-8"),
                format!("{path}: not UTF-8 text"),
            );
        }
    }
}

/// `timeline.json` as the hub writes it: `{"speech":[[a,b]…],"loud":[…]}`,
/// seconds as the shortest decimal of an `f32`, compact, and `\n` at the
/// end, like every JSON file of the format.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineJson {
    speech: Vec<(f32, f32)>,
    loud: Vec<(f32, f32)>,
}

fn is_canonical_timeline(bytes: &[u8]) -> bool {
    if bytes.len() > TIMELINE_BYTES_MAX {
        return false;
    }
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return false;
    };
    serde_json::from_slice::<TimelineJson>(body)
        .ok()
        .and_then(|t| serde_json::to_vec(&t).ok())
        .is_some_and(|again| again == body)
}

/// The numbered files of one kind, in order.
fn numbered<'a>(
    parts: &BTreeMap<Part, &'a [u8]>,
    pick: impl Fn(Part) -> Option<u64>,
) -> BTreeMap<u64, &'a [u8]> {
    parts
        .iter()
        .filter_map(|(p, b)| pick(*p).map(|n| (n, *b)))
        .collect()
}

/// Fails on the first gap in `numbers` (which must run 0, 1, 2 …).
fn check_gaps(numbers: &BTreeMap<u64, &[u8]>, path: fn(u64) -> String, r: &mut Report) -> bool {
    let gap = numbers
        .keys()
        .enumerate()
        .find(|(i, n)| *i as u64 != **n)
        .map(|(i, _)| i as u64);
    if let Some(missing) = gap {
        let p = path(missing);
        r.fail(
            &[&p],
            format!("{p} : manquant (la numérotation doit partir de 000000 sans trou)"),
            format!("{p}: missing (numbers must run from 000000 without gaps)"),
        );
        return false;
    }
    true
}

fn check_records(
    parts: &BTreeMap<Part, &[u8]>,
    device_key: Option<&VerifyingKey>,
    r: &mut Report,
) -> (Vec<(u64, SignedRecord)>, Option<ChainEnd>) {
    let files = numbered(parts, |p| match p {
        Part::Record(n) => Some(n),
        _ => None,
    });
    if files.is_empty() {
        r.fail(
            &["records/"],
            "records/ : aucun morceau scellé".into(),
            "records/: no sealed chunk record".into(),
        );
        return (Vec::new(), None);
    }
    let before = r.failure_count();
    let contiguous = check_gaps(&files, |n| Part::Record(n).path(), r);
    let mut parsed = Vec::with_capacity(files.len());
    for (n, bytes) in files {
        let path = Part::Record(n).path();
        let rec = match record::parse(bytes) {
            Ok(rec) => rec,
            Err(e) => {
                r.fail(
                    &[&path],
                    format!("{path} : enregistrement de morceau invalide ({e})"),
                    format!("{path}: invalid chunk record ({e})"),
                );
                continue;
            }
        };
        if rec.record.seq != n {
            r.fail(
                &[&path],
                format!(
                    "{path} : seq vaut {}, le nom du fichier dit {n} (ordre modifié)",
                    rec.record.seq
                ),
                format!(
                    "{path}: seq is {}, but the file name says {n} (reordered)",
                    rec.record.seq
                ),
            );
        }
        if let Some(key) = device_key
            && !record::verify(&rec, key)
        {
            r.fail(
                &[&path, DEVICE_KEY],
                format!("{path} : la signature ne se vérifie pas avec {DEVICE_KEY} (autre boîtier ou contenu modifié)"),
                format!("{path}: the signature does not verify with {DEVICE_KEY} (another device, or altered)"),
            );
        }
        parsed.push((n, rec));
    }
    let mut end = None;
    if contiguous && r.failure_count() == before {
        let signed: Vec<SignedRecord> = parsed.iter().map(|(_, s)| s.clone()).collect();
        match chain::check(&signed) {
            Ok(e) => end = Some(e),
            Err(errors) => {
                for e in errors {
                    chain_failure(&e, &parsed, r);
                }
            }
        }
    } else if contiguous {
        // Some records failed on their own; the links are still worth checking.
        let signed: Vec<SignedRecord> = parsed.iter().map(|(_, s)| s.clone()).collect();
        if signed.len() == parsed.last().map_or(0, |(n, _)| *n as usize + 1)
            && let Err(errors) = chain::check(&signed)
        {
            for e in errors {
                chain_failure(&e, &parsed, r);
            }
        }
    }
    if r.failure_count() == before {
        let first = &parsed[0].1.record;
        r.ok_line(
            &["records/"],
            format!(
                "records/ : {} par le boîtier {} ({DEVICE_KEY}), enregistrement {}, alarme {} ; \
                 seq 0…{} sans trou, chacun chaîné au précédent",
                plural_fr(parsed.len() as u64, "morceau scellé", "morceaux scellés"),
                first.device,
                first.recording,
                first.alarm,
                parsed.len() - 1
            ),
            format!(
                "records/: {} by device {} ({DEVICE_KEY}), recording {}, alarm {}; \
                 seq 0…{} without gaps, each linked to the one before",
                plural_en(parsed.len() as u64, "chunk sealed", "chunks sealed"),
                first.device,
                first.recording,
                first.alarm,
                parsed.len() - 1
            ),
        );
    }
    (parsed, end)
}

fn chain_failure(e: &ChainError, parsed: &[(u64, SignedRecord)], r: &mut Report) {
    let path = |i: usize| Part::Record(parsed.get(i).map_or(i as u64, |(n, _)| *n)).path();
    match e {
        // Already reported against the file name.
        ChainError::Seq { .. } | ChainError::Empty => {}
        ChainError::Identity {
            index,
            field,
            expected,
            found,
        } => {
            let (p, first) = (path(*index), path(0));
            r.fail(
                &[&p, &first],
                format!("{p} : {field} vaut {found}, mais {first} dit {expected} (morceau d'un autre enregistrement)"),
                format!("{p}: {field} is {found}, but {first} says {expected} (a chunk from another recording)"),
            );
        }
        ChainError::Prev { index } => {
            let (p, before) = (path(*index), path(index - 1));
            r.fail(
                &[&p, &before],
                format!("{p} : prev ne correspond pas à l'empreinte de {before}"),
                format!("{p}: prev does not match the hash of {before}"),
            );
        }
        ChainError::FirstPrev => {
            let p = path(0);
            r.fail(
                &[&p],
                format!("{p} : le premier morceau doit avoir prev = 64 zéros (début manquant)"),
                format!("{p}: the first chunk must have prev = 64 zeros (the start is missing)"),
            );
        }
        ChainError::FinalNotLast { index } => {
            let (p, next) = (path(*index), path(index + 1));
            r.fail(
                &[&next, &p],
                format!("{next} : suit {p}, qui était marqué final"),
                format!("{next}: follows {p}, which was marked final"),
            );
        }
    }
}

fn check_audio(
    parts: &BTreeMap<Part, &[u8]>,
    digests: &BTreeMap<&str, Hash>,
    records: &[(u64, SignedRecord)],
    r: &mut Report,
) {
    let before = r.failure_count();
    let chunks = numbered(parts, |p| match p {
        Part::Chunk(n) => Some(n),
        _ => None,
    });
    let by_seq: BTreeMap<u64, &SignedRecord> = records.iter().map(|(n, s)| (*n, s)).collect();
    for n in chunks.keys() {
        if !by_seq.contains_key(n) && !parts.contains_key(&Part::Record(*n)) {
            let (p, rec) = (Part::Chunk(*n).path(), Part::Record(*n).path());
            r.fail(
                &[&p, &rec],
                format!("{p} : aucun enregistrement {rec} ne le scelle"),
                format!("{p}: no record {rec} seals it"),
            );
        }
    }
    let mut joined_ok = true;
    for (n, s) in records {
        let (p, rec) = (Part::Chunk(*n).path(), Part::Record(*n).path());
        let Some(audio) = chunks.get(n) else {
            r.fail(
                &[&p, &rec],
                format!("{p} : manquant, alors que {rec} le scelle"),
                format!("{p}: missing, though {rec} seals it"),
            );
            joined_ok = false;
            continue;
        };
        if audio.len() as u64 != s.record.audio_bytes {
            r.fail(
                &[&p, &rec],
                format!(
                    "{p} : {} octets, {rec} en annonce {}",
                    audio.len(),
                    s.record.audio_bytes
                ),
                format!(
                    "{p}: {} bytes, {rec} says {}",
                    audio.len(),
                    s.record.audio_bytes
                ),
            );
        }
        if digests.get(p.as_str()) != Some(&s.record.audio_sha256) {
            r.fail(
                &[&p, &rec],
                format!(
                    "{p} : son SHA-256 ne correspond pas à audio-sha256 de {rec} (audio modifié)"
                ),
                format!("{p}: SHA-256 does not match audio-sha256 in {rec} (altered audio)"),
            );
        }
    }
    if let Some(whole) = parts.get(&Part::Recording)
        && joined_ok
    {
        let mut offset = 0usize;
        let mut mismatch = None;
        for (n, _) in records {
            let audio = chunks.get(n).copied().unwrap_or_default();
            let end = offset + audio.len();
            if whole.get(offset..end) != Some(audio) {
                mismatch = Some(*n);
                break;
            }
            offset = end;
        }
        if mismatch.is_none() && offset != whole.len() {
            mismatch = Some(records.last().map_or(0, |(n, _)| *n));
        }
        if let Some(n) = mismatch {
            let p = Part::Chunk(n).path();
            r.fail(
                &[RECORDING, &p],
                format!(
                    "{RECORDING} : n'est pas la suite exacte des morceaux (diffère à partir de {p})"
                ),
                format!("{RECORDING}: is not the chunks joined (differs from {p} on)"),
            );
        }
    }
    if r.failure_count() == before && !records.is_empty() {
        let bytes: u64 = records.iter().map(|(_, s)| s.record.audio_bytes).sum();
        r.ok_line(
            &["audio/chunks/", RECORDING],
            format!("audio : chaque morceau correspond à son empreinte scellée ; {RECORDING} ({bytes} octets) est exactement leur suite"),
            format!("audio: every chunk matches its sealed hash; {RECORDING} ({bytes} bytes) is exactly the chunks joined"),
        );
    }
}

fn check_custody<'a>(
    parts: &BTreeMap<Part, &'a [u8]>,
    recording: Option<&str>,
    r: &mut Report,
) -> Vec<(u64, &'a [u8], CustodyEvent)> {
    let files = numbered(parts, |p| match p {
        Part::Custody(n) => Some(n),
        _ => None,
    });
    let before = r.failure_count();
    check_gaps(&files, |n| Part::Custody(n).path(), r);
    let mut out = Vec::new();
    for (n, bytes) in files {
        let path = Part::Custody(n).path();
        match custody::parse(bytes) {
            Err(e) => r.fail(
                &[&path],
                format!("{path} : événement de garde invalide ({e})"),
                format!("{path}: invalid custody event ({e})"),
            ),
            Ok(event) => {
                if let Some(rec) = recording
                    && event.recording != rec
                {
                    r.fail(
                        &[&path],
                        format!(
                            "{path} : concerne l'enregistrement {}, pas {rec}",
                            event.recording
                        ),
                        format!("{path}: is about recording {}, not {rec}", event.recording),
                    );
                }
                out.push((n, bytes, event));
            }
        }
    }
    if r.failure_count() == before {
        let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, _, e) in &out {
            *actions.entry(e.action.as_str()).or_default() += 1;
        }
        let list = actions
            .iter()
            .map(|(a, n)| format!("{a} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        r.ok_line(
            &["custody/"],
            format!(
                "custody/ : {} accès journalisés, chacun avec auteur et motif ({list})",
                out.len()
            ),
            format!(
                "custody/: {} logged accesses, each with actor and reason ({list})",
                out.len()
            ),
        );
    }
    out
}

fn check_checkpoints(
    parts: &BTreeMap<Part, &[u8]>,
    hub_key: Option<&VerifyingKey>,
    r: &mut Report,
) -> BTreeMap<u64, SignedCheckpoint> {
    let files = numbered(parts, |p| match p {
        Part::Checkpoint(n) => Some(n),
        _ => None,
    });
    let mut out = BTreeMap::new();
    if files.is_empty() {
        r.fail(
            &["log/checkpoints/"],
            "log/checkpoints/ : aucun point de contrôle du journal".into(),
            "log/checkpoints/: no log checkpoint".into(),
        );
        return out;
    }
    let before = r.failure_count();
    check_gaps(&files, |n| Part::Checkpoint(n).path(), r);
    let mut log_id: Option<String> = None;
    for (n, bytes) in files {
        let path = Part::Checkpoint(n).path();
        let cp = match checkpoint::parse(bytes) {
            Ok(cp) => cp,
            Err(e) => {
                r.fail(
                    &[&path],
                    format!("{path} : point de contrôle invalide ({e})"),
                    format!("{path}: invalid checkpoint ({e})"),
                );
                continue;
            }
        };
        if let Some(key) = hub_key
            && !checkpoint::verify(&cp, key)
        {
            r.fail(
                &[&path, HUB_KEY],
                format!("{path} : la signature ne se vérifie pas avec {HUB_KEY} (point de contrôle falsifié)"),
                format!("{path}: the signature does not verify with {HUB_KEY} (forged checkpoint)"),
            );
        }
        match &log_id {
            None => log_id = Some(cp.checkpoint.log.clone()),
            Some(id) if *id != cp.checkpoint.log => r.fail(
                &[&path],
                format!(
                    "{path} : journal {}, les autres disent {id}",
                    cp.checkpoint.log
                ),
                format!("{path}: log {}, the others say {id}", cp.checkpoint.log),
            ),
            Some(_) => {}
        }
        out.insert(n, cp);
    }
    if r.failure_count() == before {
        let last = out.values().last().map_or(0, |c| c.checkpoint.size);
        r.ok_line(
            &["log/checkpoints/"],
            format!(
                "log/checkpoints/ : {} par le hub ({HUB_KEY}), journal {}, jusqu'à {}",
                plural_fr(
                    out.len() as u64,
                    "point de contrôle signé",
                    "points de contrôle signés"
                ),
                log_id.clone().unwrap_or_default(),
                plural_fr(last, "entrée", "entrées")
            ),
            format!(
                "log/checkpoints/: {} by the hub ({HUB_KEY}), log {}, up to {}",
                plural_en(out.len() as u64, "checkpoint signed", "checkpoints signed"),
                log_id.unwrap_or_default(),
                plural_en(last, "entry", "entries")
            ),
        );
    }
    out
}

fn check_consistency(
    parts: &BTreeMap<Part, &[u8]>,
    checkpoints: &BTreeMap<u64, SignedCheckpoint>,
    r: &mut Report,
) {
    let before = r.failure_count();
    for part in parts.keys() {
        if let Part::Consistency(a, b) = *part
            && (a.checked_add(1) != Some(b) || !checkpoints.contains_key(&b))
        {
            let (p, pa, pb) = (
                part.path(),
                Part::Checkpoint(a).path(),
                Part::Checkpoint(b).path(),
            );
            r.fail(
                &[&p, &pa, &pb],
                format!("{p} : ne relie pas deux points de contrôle successifs de l'export"),
                format!("{p}: does not link two successive checkpoints of the export"),
            );
        }
    }
    let mut count = 0;
    for (b, to) in checkpoints {
        let Some(a) = b.checked_sub(1) else { continue };
        let Some(from) = checkpoints.get(&a) else {
            continue;
        };
        let part = Part::Consistency(a, *b);
        let (p, pa, pb) = (
            part.path(),
            Part::Checkpoint(a).path(),
            Part::Checkpoint(*b).path(),
        );
        let Some(bytes) = parts.get(&part) else {
            r.fail(
                &[&p, &pb],
                format!("{p} : manquant ; rien ne prouve que {pb} prolonge {pa}"),
                format!("{p}: missing; nothing proves that {pb} extends {pa}"),
            );
            continue;
        };
        let proof = match ConsistencyProof::parse(bytes) {
            Ok(proof) => proof,
            Err(e) => {
                r.fail(
                    &[&p],
                    format!("{p} : preuve de cohérence invalide ({e})"),
                    format!("{p}: invalid consistency proof ({e})"),
                );
                continue;
            }
        };
        if proof.from_size != from.checkpoint.size || proof.to_size != to.checkpoint.size {
            r.fail(
                &[&p, &pa, &pb],
                format!(
                    "{p} : tailles {}→{}, les points de contrôle disent {}→{}",
                    proof.from_size, proof.to_size, from.checkpoint.size, to.checkpoint.size
                ),
                format!(
                    "{p}: sizes {}→{}, the checkpoints say {}→{}",
                    proof.from_size, proof.to_size, from.checkpoint.size, to.checkpoint.size
                ),
            );
            continue;
        }
        if let Err(e) = merkle::verify_consistency(
            proof.from_size,
            proof.to_size,
            &proof.path,
            &from.checkpoint.root,
            &to.checkpoint.root,
        ) {
            r.fail(
                &[&p, &pb, &pa],
                format!("{p} : {pb} ne prolonge pas {pa} ({e}) : le journal a été réécrit"),
                format!("{p}: {pb} does not extend {pa} ({e}): the log was rewritten"),
            );
            continue;
        }
        count += 1;
    }
    if r.failure_count() == before && checkpoints.len() > 1 {
        r.ok_line(
            &["log/consistency/"],
            format!("log/consistency/ : {count} preuves : chaque point de contrôle prolonge le précédent (journal en ajout seul)"),
            format!("log/consistency/: {count} proofs: each checkpoint extends the one before (append-only log)"),
        );
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Record,
    Custody,
    Device,
}

impl Kind {
    fn entry(self, n: u64) -> Part {
        match self {
            Self::Record => Part::Record(n),
            Self::Custody => Part::Custody(n),
            Self::Device => Part::DeviceEntry,
        }
    }
    fn proof(self, n: u64) -> Part {
        match self {
            Self::Record => Part::RecordInclusion(n),
            Self::Custody => Part::CustodyInclusion(n),
            Self::Device => Part::DeviceInclusion,
        }
    }
    fn of_proof(self, part: Part) -> Option<u64> {
        match (self, part) {
            (Self::Record, Part::RecordInclusion(n))
            | (Self::Custody, Part::CustodyInclusion(n)) => Some(n),
            (Self::Device, Part::DeviceInclusion) => Some(0),
            _ => None,
        }
    }
}

/// Checks the inclusion proof of each entry; returns the checkpoint each
/// entry is proven in.
fn check_inclusion(
    parts: &BTreeMap<Part, &[u8]>,
    entries: &[(u64, &[u8])],
    kind: Kind,
    checkpoints: &BTreeMap<u64, SignedCheckpoint>,
    leaves: &mut BTreeMap<u64, String>,
    r: &mut Report,
) -> BTreeMap<u64, u64> {
    let before = r.failure_count();
    let mut proven = BTreeMap::new();
    let wanted: BTreeMap<u64, &[u8]> = entries.iter().copied().collect();
    for part in parts.keys() {
        if let Some(n) = kind.of_proof(*part)
            && !wanted.contains_key(&n)
            && !parts.contains_key(&kind.entry(n))
        {
            let (p, e) = (part.path(), kind.entry(n).path());
            r.fail(
                &[&p, &e],
                format!("{p} : prouve une entrée absente de l'export ({e})"),
                format!("{p}: proves an entry that is not in the export ({e})"),
            );
        }
    }
    for (n, entry) in entries {
        let (p, e) = (kind.proof(*n).path(), kind.entry(*n).path());
        let Some(bytes) = parts.get(&kind.proof(*n)) else {
            r.fail(
                &[&p, &e],
                format!("{p} : manquant ; rien ne prouve que {e} est dans le journal"),
                format!("{p}: missing; nothing proves that {e} is in the log"),
            );
            continue;
        };
        let proof = match InclusionProof::parse(bytes) {
            Ok(proof) => proof,
            Err(err) => {
                r.fail(
                    &[&p],
                    format!("{p} : preuve d'inclusion invalide ({err})"),
                    format!("{p}: invalid inclusion proof ({err})"),
                );
                continue;
            }
        };
        let c = Part::Checkpoint(proof.checkpoint).path();
        let Some(cp) = checkpoints.get(&proof.checkpoint) else {
            r.fail(
                &[&p, &c],
                format!("{p} : renvoie à {c}, absent ou invalide"),
                format!("{p}: refers to {c}, missing or invalid"),
            );
            continue;
        };
        if proof.tree_size != cp.checkpoint.size {
            r.fail(
                &[&p, &c],
                format!(
                    "{p} : taille d'arbre {}, {c} dit {}",
                    proof.tree_size, cp.checkpoint.size
                ),
                format!(
                    "{p}: tree size {}, {c} says {}",
                    proof.tree_size, cp.checkpoint.size
                ),
            );
            continue;
        }
        if let Some(other) = leaves.insert(proof.leaf_index, p.clone()) {
            r.fail(
                &[&p, &other],
                format!(
                    "{p} : la feuille {} est déjà revendiquée par {other}",
                    proof.leaf_index
                ),
                format!(
                    "{p}: leaf {} is already claimed by {other}",
                    proof.leaf_index
                ),
            );
        }
        let leaf = merkle::leaf_hash(entry);
        if let Err(err) = merkle::verify_inclusion(
            &leaf,
            proof.leaf_index,
            proof.tree_size,
            &proof.path,
            &cp.checkpoint.root,
        ) {
            r.fail(
                &[&p, &e, &c],
                format!(
                    "{p} : {e} n'est pas dans le journal à la feuille {} de {c} ({err})",
                    proof.leaf_index
                ),
                format!(
                    "{p}: {e} is not in the log at leaf {} of {c} ({err})",
                    proof.leaf_index
                ),
            );
            continue;
        }
        proven.insert(*n, proof.checkpoint);
    }
    if r.failure_count() == before && !entries.is_empty() {
        let (fr, en) = match kind {
            Kind::Record => ("chaque morceau scellé", "every sealed chunk"),
            Kind::Custody => ("chaque événement de garde", "every custody event"),
            Kind::Device => (
                "l'attestation de la clé du boîtier",
                "the device key's entry",
            ),
        };
        r.ok_line(
            &["log/inclusion/"],
            format!("log/inclusion/ : {fr} ({}) est dans le journal du hub, sous un point de contrôle signé", entries.len()),
            format!("log/inclusion/: {en} ({}) is in the hub's log, under a signed checkpoint", entries.len()),
        );
    }
    proven
}

fn check_timestamps(
    parts: &BTreeMap<Part, &[u8]>,
    checkpoints: &BTreeMap<u64, SignedCheckpoint>,
    tsa_check: &TsaCheck<'_>,
    r: &mut Report,
) -> BTreeMap<u64, TimeStamp> {
    let before = r.failure_count();
    let mut times = BTreeMap::new();
    let chain = parts.get(&Part::TsaChain).copied().unwrap_or_default();
    for part in parts.keys() {
        if let Part::Token(n) = *part
            && !parts.contains_key(&Part::Checkpoint(n))
        {
            let (p, c) = (part.path(), Part::Checkpoint(n).path());
            r.fail(
                &[&p, &c],
                format!("{p} : aucun point de contrôle {c} ne lui correspond"),
                format!("{p}: there is no checkpoint {c} for it"),
            );
        }
    }
    for (n, cp) in checkpoints {
        let (t, c) = (Part::Token(*n).path(), Part::Checkpoint(*n).path());
        let Some(token) = parts.get(&Part::Token(*n)) else {
            r.fail(
                &[&t, &c],
                format!("{t} : manquant ; {c} n'est pas horodaté"),
                format!("{t}: missing; {c} has no trusted time"),
            );
            continue;
        };
        match tsa_check(&cp.bytes, token, chain) {
            Ok(ts) => {
                if cp.checkpoint.time_ms > ts.time_ms.saturating_add(CLOCK_AHEAD_MS_MAX) {
                    let by = cp.checkpoint.time_ms - ts.time_ms;
                    r.warn(
                        &[&c, &t],
                        format!(
                            "{c} : l'horloge du hub ({}) était en avance de {} sur l'horodatage ({})",
                            utc_text(cp.checkpoint.time_ms),
                            duration_fr(by),
                            utc_text(ts.time_ms)
                        ),
                        format!(
                            "{c}: the hub's clock ({}) was {} ahead of the trusted time ({})",
                            utc_text(cp.checkpoint.time_ms),
                            duration_en(by),
                            utc_text(ts.time_ms)
                        ),
                    );
                }
                times.insert(*n, ts);
            }
            Err(e) => r.fail(
                &[&t, &c, TSA_CHAIN],
                format!(
                    "{t} : le jeton d'horodatage de {c} ne se vérifie pas avec {TSA_CHAIN} : {e}"
                ),
                format!("{t}: the time-stamp token over {c} does not verify with {TSA_CHAIN}: {e}"),
            ),
        }
    }
    if r.failure_count() == before
        && let (Some(first), Some(last)) = (times.values().next(), times.values().last())
    {
        let who = last
            .authority
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        r.ok_line(
            &["timestamps/", TSA_CHAIN],
            format!(
                "timestamps/ : {}{who}, du {} au {}",
                plural_fr(
                    times.len() as u64,
                    "jeton RFC 3161 valide",
                    "jetons RFC 3161 valides"
                ),
                utc_text(first.time_ms),
                utc_text(last.time_ms)
            ),
            format!(
                "timestamps/: {}{who}, from {} to {}",
                plural_en(
                    times.len() as u64,
                    "valid RFC 3161 token",
                    "valid RFC 3161 tokens"
                ),
                utc_text(first.time_ms),
                utc_text(last.time_ms)
            ),
        );
    }
    times
}

/// Compares each record's box time with the trusted time of the checkpoint
/// that proves it; returns the time by which every record is proven.
fn check_times(
    records: &[(u64, SignedRecord)],
    record_cps: &BTreeMap<u64, u64>,
    times: &BTreeMap<u64, TimeStamp>,
    r: &mut Report,
) -> Option<u64> {
    let mut proven_by: Option<u64> = None;
    let mut ahead: Option<(u64, u64)> = None;
    let mut behind: Option<(u64, u64)> = None;
    let mut corrected: Option<(u64, i64)> = None;
    for (n, s) in records {
        let ts = record_cps.get(n).and_then(|c| times.get(c))?;
        proven_by = Some(proven_by.map_or(ts.time_ms, |p| p.max(ts.time_ms)));
        // The box's own time, corrected as the box corrected its
        // signatures (the record says by how much).
        let end = s.record.corrected_wall_ms().1.max(0) as u64;
        if s.record.clock_correction_ms.unsigned_abs() > CLOCK_AHEAD_MS_MAX
            && corrected
                .is_none_or(|(_, c): (u64, i64)| s.record.clock_correction_ms.abs() > c.abs())
        {
            corrected = Some((*n, s.record.clock_correction_ms));
        }
        let by = end.saturating_sub(ts.time_ms);
        if by > CLOCK_AHEAD_MS_MAX && ahead.is_none_or(|(_, b)| by > b) {
            ahead = Some((*n, by));
        }
        let late = ts.time_ms.saturating_sub(end);
        if late > CLOCK_BEHIND_MS_MAX && behind.is_none_or(|(_, b)| late > b) {
            behind = Some((*n, late));
        }
    }
    if let Some((n, by)) = ahead {
        let p = Part::Record(n).path();
        r.warn(
            &[&p],
            format!("{p} : l'horloge du boîtier était en avance de {} sur l'horodatage ; se fier aux heures horodatées", duration_fr(by)),
            format!("{p}: the box's clock was {} ahead of the trusted time; rely on the trusted times", duration_en(by)),
        );
    }
    if let Some((n, by)) = behind {
        let p = Part::Record(n).path();
        r.warn(
            &[&p],
            format!(
                "{p} : horodaté {} après l'heure de fin que donne le boîtier : son horloge retardait, \
                 ou le morceau est arrivé en retard au hub ; se fier aux heures horodatées",
                duration_fr(by)
            ),
            format!(
                "{p}: stamped {} after the end time the box gives: its clock was behind, \
                 or the chunk reached the hub late; rely on the trusted times",
                duration_en(by)
            ),
        );
    }
    if let Some((n, c)) = corrected {
        let p = Part::Record(n).path();
        let by = c.unsigned_abs();
        let (fr, en) = if c > 0 {
            ("en retard", "behind")
        } else {
            ("en avance", "ahead of")
        };
        r.warn(
            &[&p],
            format!(
                "{p} : l'horloge du boîtier était {fr} de {} sur celle du hub ; il a scellé ses propres heures \
                 et la correction qu'il appliquait (clock-correction-ms), comparées corrigées à l'horodatage",
                duration_fr(by)
            ),
            format!(
                "{p}: the box's clock was {} {en} the hub's; it sealed its own times and the correction \
                 it applied (clock-correction-ms), compared corrected with the trusted time",
                duration_en(by)
            ),
        );
    }
    if let Some(t) = proven_by {
        r.ok_line(
            &["timestamps/"],
            format!(
                "horodatage : chaque morceau existait au plus tard le {}",
                utc_text(t)
            ),
            format!("trusted time: every chunk existed by {}", utc_text(t)),
        );
    }
    proven_by
}

/// The hub's device entry (`log/device.txt`): it names the records'
/// recording and device, and the fingerprint of `keys/device.pem`. Its
/// inclusion under a checkpoint signed by the hub (checked with the other
/// entries) is what vouches for the device key. Returns the entry's bytes
/// when it reads and agrees.
fn check_device_entry<'a>(
    parts: &BTreeMap<Part, &'a [u8]>,
    device_key: Option<&VerifyingKey>,
    records: &[(u64, SignedRecord)],
    r: &mut Report,
) -> Option<&'a [u8]> {
    let bytes = *parts.get(&Part::DeviceEntry)?;
    let entry = match device::parse(bytes) {
        Ok(e) => e,
        Err(e) => {
            r.fail(
                &[DEVICE_ENTRY],
                format!("{DEVICE_ENTRY} : attestation de clé invalide ({e})"),
                format!("{DEVICE_ENTRY}: invalid device entry ({e})"),
            );
            return None;
        }
    };
    let before = r.failure_count();
    if let Some((_, first)) = records.first() {
        let first = &first.record;
        for (field, logged, sealed) in [
            ("recording", &entry.recording, &first.recording),
            ("device", &entry.device, &first.device),
        ] {
            if logged != sealed {
                let p = Part::Record(0).path();
                r.fail(
                    &[DEVICE_ENTRY, &p],
                    format!("{DEVICE_ENTRY} : {field} vaut {logged}, mais {p} dit {sealed}"),
                    format!("{DEVICE_ENTRY}: {field} is {logged}, but {p} says {sealed}"),
                );
            }
        }
    }
    if let Some(key) = device_key
        && text::key_fingerprint(key) != entry.key_sha256
    {
        r.fail(
            &[DEVICE_KEY, DEVICE_ENTRY],
            format!(
                "{DEVICE_KEY} : n'est pas la clé que le hub a inscrite pour le boîtier {} ({DEVICE_ENTRY}) : clé substituée",
                entry.device
            ),
            format!(
                "{DEVICE_KEY}: not the key the hub logged for device {} ({DEVICE_ENTRY}): a substituted key",
                entry.device
            ),
        );
    }
    if r.failure_count() != before {
        return None;
    }
    r.ok_line(
        &[DEVICE_ENTRY, DEVICE_KEY],
        format!(
            "{DEVICE_ENTRY} : le hub atteste dans son journal que {DEVICE_KEY} est la clé du boîtier {}",
            entry.device
        ),
        format!(
            "{DEVICE_ENTRY}: the hub vouches in its log that {DEVICE_KEY} is device {}'s key",
            entry.device
        ),
    );
    Some(bytes)
}

fn fingerprints(
    parts: &BTreeMap<Part, &[u8]>,
    device_key: Option<&VerifyingKey>,
    hub_key: Option<&VerifyingKey>,
) -> Fingerprints {
    let hex = |k: Option<&VerifyingKey>| k.map(|k| text::hex(&text::key_fingerprint(k)));
    Fingerprints {
        device: hex(device_key),
        hub: hex(hub_key),
        tsa_root: parts
            .get(&Part::TsaChain)
            .and_then(|pem| trust::certificate_fingerprints(pem))
            .and_then(|all| all.last().map(|h| text::hex(h))),
    }
}

/// The fingerprints, then: not anchored, a warning that says what to
/// compare; anchored, the hub key must be one of the Region's and valid at
/// every checkpoint's trusted time, and the TSA root one it accepts.
fn check_anchors(
    parts: &BTreeMap<Part, &[u8]>,
    checkpoints: &BTreeMap<u64, SignedCheckpoint>,
    times: &BTreeMap<u64, TimeStamp>,
    anchors: Anchors<'_>,
    r: &mut Report,
) {
    let f = r.fingerprints.clone();
    let none = || "—".to_owned();
    for (path, fr, en, value) in [
        (DEVICE_KEY, "clé du boîtier", "device key", &f.device),
        (HUB_KEY, "clé du hub", "hub key", &f.hub),
        (
            TSA_CHAIN,
            "racine de l'autorité d'horodatage",
            "time-stamping root",
            &f.tsa_root,
        ),
    ] {
        let v = value.clone().unwrap_or_else(none);
        r.ok_line(
            &[path],
            format!("{path} : empreinte SHA-256 de la {fr} : {v}"),
            format!("{path}: SHA-256 fingerprint of the {en}: {v}"),
        );
    }
    let trust = match anchors {
        Anchors::NotAnchored => {
            r.warn(
                &[HUB_KEY, TSA_CHAIN],
                "non ancré : aucun fichier de confiance de la Région n'a été donné ; les clés ci-dessus \
                 viennent de l'export lui-même : comparer ces empreintes avec celles que publie la Région \
                 (vigie verify --trust FICHIER)"
                    .into(),
                "not anchored: no trust file from the Region was given; the keys above come from the \
                 export itself: compare these fingerprints with the ones the Region publishes \
                 (vigie verify --trust FILE)"
                    .into(),
            );
            return;
        }
        Anchors::Anchored(trust) => trust,
    };
    r.anchored_by = Some(trust.region.clone());
    let region = &trust.region;
    let before = r.failure_count();
    if let Some(hub) = f.hub.as_deref().and_then(text::parse_hash) {
        let periods: Vec<_> = trust.hub_key(&hub).collect();
        if periods.is_empty() {
            r.fail(
                &[HUB_KEY],
                format!("{HUB_KEY} : n'est pas une clé du hub de la Région {region} (fichier de confiance) : export forgé ou d'un autre hub"),
                format!("{HUB_KEY}: not a hub key of the Region {region} (trust file): a forged export, or another hub's"),
            );
            r.fail(
                &[DEVICE_KEY, HUB_KEY],
                format!("{DEVICE_KEY} : attestée seulement par une clé de hub que la Région {region} ne publie pas"),
                format!("{DEVICE_KEY}: vouched for only by a hub key that the Region {region} does not publish"),
            );
        } else {
            for (n, ts) in times {
                if !periods.iter().any(|p| p.covers(ts.time_ms)) {
                    let (c, t) = (Part::Checkpoint(*n).path(), Part::Token(*n).path());
                    r.fail(
                        &[&c, &t, HUB_KEY],
                        format!(
                            "{c} : signé le {} par une clé du hub que la Région {region} ne reconnaît pas à cette date (fichier de confiance)",
                            utc_text(ts.time_ms)
                        ),
                        format!(
                            "{c}: signed on {} with a hub key that the Region {region} does not recognise at that date (trust file)",
                            utc_text(ts.time_ms)
                        ),
                    );
                }
            }
            if times.len() < checkpoints.len() && times.is_empty() {
                r.fail(
                    &["timestamps/", HUB_KEY],
                    "timestamps/ : aucune heure de confiance ; la période de validité de la clé du hub ne peut être vérifiée".into(),
                    "timestamps/: no trusted time; the hub key's validity period cannot be checked".into(),
                );
            }
        }
    }
    let root = f.tsa_root.as_deref().and_then(text::parse_hash);
    if !root.is_some_and(|root| trust.accepts_tsa_root(&root))
        && parts.contains_key(&Part::TsaChain)
    {
        r.fail(
            &[TSA_CHAIN],
            format!("{TSA_CHAIN} : la racine de l'autorité d'horodatage n'est pas une de celles qu'accepte la Région {region} (fichier de confiance)"),
            format!("{TSA_CHAIN}: the time-stamping root is not one the Region {region} accepts (trust file)"),
        );
    }
    if r.failure_count() == before {
        r.ok_line(
            &[HUB_KEY, TSA_CHAIN],
            format!("ancré : la clé du hub et la racine d'horodatage sont celles que publie la Région {region}, la clé valide à chaque horodatage"),
            format!("anchored: the hub key and the time-stamping root are those the Region {region} publishes, the key valid at every trusted time"),
        );
    }
}

/// What the hub says of the export in its own words: the reports' lines
/// naming the recording, the alarm and the device are checked against the
/// records; the rest of the reports and `timeline.json` are the hub's
/// account, and the report says they were not checked.
fn check_hub_texts(parts: &BTreeMap<Part, &[u8]>, records: &[(u64, SignedRecord)], r: &mut Report) {
    let Some((_, first)) = records.first() else {
        return;
    };
    let first = &first.record;
    let before = r.failure_count();
    let facts = [
        (
            Part::ReportFr,
            "Enregistrement : ",
            &first.recording,
            "enregistrement",
            "recording",
        ),
        (Part::ReportFr, "Alarme : ", &first.alarm, "alarme", "alarm"),
        (
            Part::ReportFr,
            "Boîtier : ",
            &first.device,
            "boîtier",
            "device",
        ),
        (
            Part::ReportEn,
            "Recording: ",
            &first.recording,
            "enregistrement",
            "recording",
        ),
        (Part::ReportEn, "Alarm: ", &first.alarm, "alarme", "alarm"),
        (
            Part::ReportEn,
            "Device: ",
            &first.device,
            "boîtier",
            "device",
        ),
    ];
    for (part, prefix, verified, fr, en) in facts {
        let Some(text) = parts.get(&part).and_then(|b| std::str::from_utf8(b).ok()) else {
            continue;
        };
        for said in text.lines().filter_map(|l| l.strip_prefix(prefix)) {
            let id = said.split([',', ' ']).next().unwrap_or_default();
            if id != verified {
                let p = part.path();
                r.fail(
                    &[&p],
                    format!("{p} : dit {fr} {id}, les morceaux scellés disent {verified}"),
                    format!("{p}: says {en} {id}, the sealed chunks say {verified}"),
                );
            }
        }
    }
    if r.failure_count() == before {
        r.ok_line(
            &[REPORT_FR, REPORT_EN, TIMELINE],
            format!("{REPORT_FR}, {REPORT_EN} : l'enregistrement, l'alarme et le boîtier qu'ils nomment sont ceux des morceaux ; le reste de ces rapports et {TIMELINE} sont le récit du hub, non vérifiés"),
            format!("{REPORT_FR}, {REPORT_EN}: the recording, alarm and device they name are the chunks'; the rest of these reports and {TIMELINE} are the hub's account, not checked"),
        );
    }
}

/// The real RFC 3161 check for [`verify_export`]: imprint, signature, the
/// critical `timeStamping` usage, and the chain to the root in
/// `keys/tsa-chain.pem` (`crate::tsa::verify_token`).
pub fn rfc3161_check(
    checkpoint: &[u8],
    token: &[u8],
    chain_pem: &[u8],
) -> Result<crate::report::TimeStamp, String> {
    crate::tsa::verify_token(checkpoint, token, chain_pem)
        .map(|info| crate::report::TimeStamp {
            time_ms: info.gen_time_ms,
            accuracy_ms: info.accuracy_ms,
            authority: info.tsa_name,
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;

    const T: u64 = 1_795_699_920_000;
    const DAYS_3: i64 = 3 * 24 * 3_600_000;

    fn record(wall: u64, correction: i64) -> (u64, SignedRecord) {
        let r = record::ChunkRecord::for_audio(
            "rec-1",
            "alarm-1",
            "dev-1",
            0,
            record::PREV_NONE,
            b"audio",
            (wall, wall + 2_000),
            (0, 2_000),
            true,
        )
        .with_clock_correction(correction);
        let key = SigningKey::from_slice(&[7; 32]).expect("key");
        let bytes = record::seal(&r, &key).expect("seal");
        (0, record::parse(&bytes).expect("parse"))
    }

    fn times_report(records: &[(u64, SignedRecord)]) -> Report {
        let cps = BTreeMap::from([(0, 0)]);
        let times = BTreeMap::from([(
            0,
            TimeStamp {
                time_ms: T + 2_000 + 5_000,
                accuracy_ms: None,
                authority: None,
            },
        )]);
        let mut r = Report::default();
        check_times(records, &cps, &times, &mut r);
        r
    }

    #[test]
    fn a_box_three_days_behind_that_corrected_is_told_once_and_not_as_late() {
        let r = times_report(&[record(T - DAYS_3 as u64, DAYS_3)]);
        let warnings: Vec<&str> = r.warnings().map(|w| w.en.as_str()).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("3 days behind the hub's"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("clock-correction-ms"), "{warnings:?}");
    }

    #[test]
    fn a_box_three_days_behind_that_did_not_correct_is_flagged_late() {
        let r = times_report(&[record(T - DAYS_3 as u64, 0)]);
        let warnings: Vec<&str> = r.warnings().map(|w| w.en.as_str()).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("after the end time the box gives"),
            "{warnings:?}"
        );
    }
}
