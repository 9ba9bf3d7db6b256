//! Structural tampering, each made by someone who holds the hub's key (the
//! manifest is rewritten and re-signed), so that only the deeper checks can
//! catch it: chunks deleted, reordered, duplicated or spliced from another
//! recording, a record signed by another device, a rewritten log, a forged
//! checkpoint, a token over another checkpoint, an extra file; and a
//! truncated recording, which is a warning, not a failure.

use crate::golden::{self, Spec, device_key, hub_key, other_key};
use std::collections::BTreeMap;
use vigie_evidence::chain::ChainEnd;
use vigie_evidence::checkpoint;
use vigie_evidence::custody;
use vigie_evidence::export::{self, Part, RECORDING};
use vigie_evidence::record;
use vigie_evidence::report::{Report, Status};

type Files = BTreeMap<String, Vec<u8>>;

fn golden() -> Files {
    golden::files(&golden::build(&Spec::default()).zip)
}

fn resealed(files: Files) -> Report {
    let zip = export::seal_files(files, &hub_key()).expect("seal");
    golden::verify_anchored(&zip)
}

fn describe(report: &Report) -> String {
    report
        .checks
        .iter()
        .map(|c| format!("{} {}", c.status.symbol(), c.en))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_failure(report: &Report, path: &str, says: &str) {
    assert!(
        report
            .failures()
            .any(|c| c.files.first().is_some_and(|f| f == path) && c.en.contains(says)),
        "expected a failure on {path} saying {says:?}, got:\n{}",
        describe(report)
    );
}

/// The three files of chunk `n`: audio, record, inclusion proof.
fn chunk_parts(n: u64) -> [String; 3] {
    [
        Part::Chunk(n).path(),
        Part::Record(n).path(),
        Part::RecordInclusion(n).path(),
    ]
}

fn take_chunk(files: &mut Files, n: u64) -> [Vec<u8>; 3] {
    chunk_parts(n).map(|p| files.remove(&p).expect("part"))
}

fn put_chunk(files: &mut Files, n: u64, parts: [Vec<u8>; 3]) {
    for (path, bytes) in chunk_parts(n).into_iter().zip(parts) {
        files.insert(path, bytes);
    }
}

fn chunk_count(files: &Files) -> u64 {
    files
        .keys()
        .filter(|p| matches!(Part::parse(p), Some(Part::Chunk(_))))
        .count() as u64
}

/// Joins the chunks again, as a forger would to keep `recording.ogg` consistent.
fn rejoin(files: &mut Files) {
    let whole: Vec<u8> = files
        .iter()
        .filter(|(p, _)| matches!(Part::parse(p), Some(Part::Chunk(_))))
        .flat_map(|(_, bytes)| bytes.clone())
        .collect();
    files.insert(RECORDING.to_owned(), whole);
}

#[test]
fn a_deleted_chunk_fails() {
    // Deleted, and the following chunks renumbered to close the gap.
    let mut files = golden();
    let count = chunk_count(&files);
    take_chunk(&mut files, 3);
    for n in 4..count {
        let parts = take_chunk(&mut files, n);
        put_chunk(&mut files, n - 1, parts);
    }
    rejoin(&mut files);
    let report = resealed(files);
    assert_failure(
        &report,
        "records/000003.txt",
        "seq is 4, but the file name says 3",
    );
    assert_failure(
        &report,
        "records/000003.txt",
        "prev does not match the hash of records/000002.txt",
    );

    // Deleted, leaving a gap.
    let mut files = golden();
    take_chunk(&mut files, 3);
    rejoin(&mut files);
    assert_failure(&resealed(files), "records/000003.txt", "missing");
}

#[test]
fn reordered_chunks_fail() {
    let mut files = golden();
    let (a, b) = (take_chunk(&mut files, 2), take_chunk(&mut files, 3));
    put_chunk(&mut files, 2, b);
    put_chunk(&mut files, 3, a);
    rejoin(&mut files);
    let report = resealed(files);
    assert_failure(
        &report,
        "records/000002.txt",
        "seq is 3, but the file name says 2",
    );
    assert_failure(
        &report,
        "records/000003.txt",
        "seq is 2, but the file name says 3",
    );
}

#[test]
fn a_duplicated_chunk_fails() {
    let mut files = golden();
    let count = chunk_count(&files);
    for n in (3..count).rev() {
        let parts = take_chunk(&mut files, n);
        put_chunk(&mut files, n + 1, parts);
    }
    let copy = chunk_parts(2).map(|p| files[&p].clone());
    put_chunk(&mut files, 3, copy);
    rejoin(&mut files);
    let report = resealed(files);
    assert_failure(
        &report,
        "records/000003.txt",
        "seq is 2, but the file name says 3",
    );
}

#[test]
fn a_chunk_spliced_from_another_recording_fails() {
    let other = golden::files(
        &golden::build(&Spec {
            recording: "0192f0c4-7d2a-7b3c-9f00-0000000000ff",
            alarm: "0192f0c3-0000-7000-8000-0000000000fe",
            seed: 2,
            ..Spec::default()
        })
        .zip,
    );
    // The whole chunk: audio, record and proof.
    let mut files = golden();
    take_chunk(&mut files, 3);
    put_chunk(&mut files, 3, chunk_parts(3).map(|p| other[&p].clone()));
    rejoin(&mut files);
    let report = resealed(files);
    assert_failure(
        &report,
        "records/000003.txt",
        "(a chunk from another recording)",
    );
    assert_failure(
        &report,
        "records/000004.txt",
        "prev does not match the hash of records/000003.txt",
    );

    // Only the audio.
    let mut files = golden();
    let path = Part::Chunk(3).path();
    files.insert(path.clone(), other[&path].clone());
    rejoin(&mut files);
    let report = resealed(files);
    assert_failure(
        &report,
        &path,
        "SHA-256 does not match audio-sha256 in records/000003.txt",
    );
}

#[test]
fn a_record_signed_by_another_device_fails() {
    let mut files = golden();
    let path = Part::Record(3).path();
    let fields = record::parse(&files[&path]).expect("record").record;
    files.insert(
        path.clone(),
        record::seal(&fields, &other_key()).expect("seal"),
    );
    let report = resealed(files);
    assert_failure(
        &report,
        &path,
        "the signature does not verify with keys/device.pem",
    );

    // The whole recording re-sealed by another device, whose key replaces
    // the real one: the chain holds, but the hub never logged these records.
    let mut files = golden();
    let mut prev = record::PREV_NONE;
    for n in 0..chunk_count(&files) {
        let path = Part::Record(n).path();
        let mut fields = record::parse(&files[&path]).expect("record").record;
        fields.prev = prev;
        let bytes = record::seal(&fields, &other_key()).expect("seal");
        prev = record::record_hash(&bytes);
        files.insert(path, bytes);
    }
    files.insert(
        export::DEVICE_KEY.to_owned(),
        export::public_key_pem(other_key().verifying_key())
            .expect("pem")
            .into_bytes(),
    );
    let report = resealed(files);
    assert_failure(
        &report,
        "log/inclusion/records-000000.json",
        "records/000000.txt is not in the log",
    );
}

#[test]
fn a_record_resealed_by_the_device_breaks_the_chain_after_it() {
    // Even with the device's own key, changing a chunk breaks the next link
    // and the log's proof.
    let mut files = golden();
    let audio = b"OggS other words".to_vec();
    let path = Part::Record(3).path();
    let mut fields = record::parse(&files[&path]).expect("record").record;
    fields.audio_sha256 = vigie_evidence::text::sha256(&audio);
    fields.audio_bytes = audio.len() as u64;
    files.insert(path, record::seal(&fields, &device_key()).expect("seal"));
    files.insert(Part::Chunk(3).path(), audio);
    rejoin(&mut files);
    let report = resealed(files);
    let lines: Vec<&str> = report.failures().map(|c| c.en.as_str()).collect();
    assert!(
        lines.contains(&"records/000004.txt: prev does not match the hash of records/000003.txt"),
        "{lines:#?}"
    );
    assert_failure(
        &report,
        "log/inclusion/records-000003.json",
        "records/000003.txt is not in the log",
    );
}

#[test]
fn a_rewritten_log_fails_consistency() {
    // The hub rewrote an entry after checkpoint 0 was time-stamped and made
    // new checkpoints (and got new tokens) over the rewritten log.
    let g = golden::build(&Spec {
        rewrite_after_first_checkpoint: Some(1),
        ..Spec::default()
    });
    let report = golden::verify_anchored(&g.zip);
    assert_failure(
        &report,
        "log/consistency/000000-000001.json",
        "log/checkpoints/000001.txt does not extend log/checkpoints/000000.txt",
    );
    assert!(
        report
            .failures()
            .all(|c| c.files[0] == "log/consistency/000000-000001.json"),
        "{}",
        describe(&report)
    );

    // A custody event rewritten after it was logged (the reason changed).
    let mut files = golden();
    let path = Part::Custody(0).path();
    let mut event = custody::parse(&files[&path]).expect("event");
    event.reason = "sans motif".into();
    files.insert(path, custody::encode(&event).expect("encode"));
    let report = resealed(files);
    assert_failure(
        &report,
        "log/inclusion/custody-000000.json",
        "custody/000000.txt is not in the log",
    );
}

#[test]
fn a_forged_checkpoint_fails() {
    // The same statement, signed by another key.
    let mut files = golden();
    let path = Part::Checkpoint(1).path();
    let cp = checkpoint::parse(&files[&path])
        .expect("checkpoint")
        .checkpoint;
    let forged = checkpoint::sign(&cp, &other_key()).expect("sign");
    files.insert(path.clone(), forged.clone());
    // Even with a fresh token over the forged checkpoint (a TSA stamps anything).
    files.insert(Part::Token(1).path(), golden::token(&forged, cp.time_ms));
    let report = resealed(files);
    assert_failure(
        &report,
        &path,
        "the signature does not verify with keys/hub.pem",
    );
}

#[test]
fn a_token_over_another_checkpoint_fails() {
    let mut files = golden();
    let (a, b) = (Part::Token(0).path(), Part::Token(1).path());
    let token_a = files[&a].clone();
    let token_b = files[&b].clone();
    files.insert(a.clone(), token_b);
    files.insert(b.clone(), token_a);
    let report = resealed(files);
    assert_failure(
        &report,
        &a,
        "the message imprint is not SHA-256 of the checkpoint",
    );
    assert_failure(
        &report,
        &b,
        "the message imprint is not SHA-256 of the checkpoint",
    );
}

#[test]
fn an_extra_file_fails() {
    for (path, listed) in [
        ("notes.txt", true),
        ("notes.txt", false),
        ("audio/chunks/000099.ogg", true),
        ("records/000003.txt.orig", true),
        ("log/consistency/000000-000002.json", true),
    ] {
        let mut files = golden();
        files.insert(path.to_owned(), b"ajout\n".to_vec());
        let report = if listed {
            resealed(files)
        } else {
            golden::verify_anchored(&export::pack(&files).expect("pack"))
        };
        assert!(
            !report.ok() && report.fails_on(path),
            "{path}: {}",
            describe(&report)
        );
    }
}

#[test]
fn a_truncated_recording_is_a_warning_not_a_failure() {
    // The box was torn off before the last chunk: the hub has chunks
    // 0…5, the last of them not final, and everything else consistent.
    let mut files = golden();
    let last = chunk_count(&files) - 1;
    take_chunk(&mut files, last);
    rejoin(&mut files);
    // Chunk 5 is not final in the golden export: only the last one is.
    let report = resealed(files);
    assert!(report.ok(), "{}", describe(&report));
    let warnings: Vec<_> = report.warnings().collect();
    assert_eq!(warnings.len(), 1, "{}", describe(&report));
    assert_eq!(warnings[0].status, Status::Warning);
    assert_eq!(warnings[0].files, ["records/000005.txt"]);
    assert!(warnings[0].en.starts_with("truncated recording"));
    assert!(warnings[0].fr.starts_with("enregistrement tronqué"));
    assert_eq!(
        report.summary.expect("summary").end,
        Some(ChainEnd::Truncated { last_seq: 5 })
    );
}

/// The English warnings of the golden export with its tokens shifted by `ms`.
fn warnings_with_tokens_shifted(ms: i64) -> Vec<String> {
    let spec = Spec {
        token_shift_ms: ms,
        ..Spec::default()
    };
    let report = golden::verify_anchored(&golden::build(&spec).zip);
    assert!(report.ok(), "{}", describe(&report));
    report.warnings().map(|c| c.en.clone()).collect()
}

#[test]
fn clocks_ahead_of_the_trusted_time_are_warnings() {
    // A TSA that answers an hour earlier than the box's and the hub's clocks.
    let warnings = warnings_with_tokens_shifted(-3_600_000);
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
    for (n, w) in warnings[..3].iter().enumerate() {
        assert!(
            w.starts_with(&format!("log/checkpoints/{n:06}.txt: the hub's clock"))
                && w.contains("was 59 minutes ahead of the trusted time"),
            "{warnings:#?}"
        );
    }
    assert_eq!(
        warnings[3],
        "records/000002.txt: the box's clock was 59 minutes ahead of the trusted time; rely on the trusted times"
    );
}

#[test]
fn a_box_ten_years_behind_the_trusted_time_is_flagged() {
    // Today's behaviour before this check: not a word. A chunk sealed live
    // is stamped within minutes, so ten years late means a wrong clock.
    let ten_years = 10 * 365 * 86_400_000;
    let warnings = warnings_with_tokens_shifted(ten_years);
    assert_eq!(
        warnings,
        [format!(
            "records/000003.txt: stamped {} after the end time the box gives: its clock was behind, \
             or the chunk reached the hub late; rely on the trusted times",
            "3650 days"
        )],
    );
    // Within ten minutes, nothing: the golden export's own delays are seconds.
    assert_eq!(
        warnings_with_tokens_shifted(9 * 60_000),
        Vec::<String>::new()
    );
}
