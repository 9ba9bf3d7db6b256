//! The mutation loop over the golden export: every file of the ZIP, a bit
//! flipped at several places, and every file deleted. Each must fail, and
//! the failure must name that file. Each mutation is tried twice: as an
//! outsider would make it (the manifest left as it was), and as the hub
//! itself could (the manifest rewritten and re-signed with the hub's key),
//! so that the checks behind the manifest are each proven to catch it.

use crate::golden::{self, Spec, hub_key};
use std::collections::BTreeMap;
use vigie_evidence::export::{self, MANIFEST, MANIFEST_SIG, REPORT_EN, REPORT_FR, TIMELINE};
use vigie_evidence::report::Report;

/// Files whose content only the hub vouches for: nothing but the
/// manifest's signature protects them, so a re-signing hub can change them.
const HUB_ONLY: [&str; 3] = [TIMELINE, REPORT_FR, REPORT_EN];

fn verify(zip: &[u8]) -> Report {
    golden::verify_anchored(zip)
}

/// Every check of `report`, one line each, for assertion messages.
pub(crate) fn describe(report: &Report) -> String {
    report
        .checks
        .iter()
        .map(|c| format!("{} {:?} {}", c.status.symbol(), c.files, c.en))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_fails_on(report: &Report, path: &str, what: &str) {
    assert!(
        !report.ok() && report.fails_on(path),
        "{what}: expected a failure naming {path}, got:\n{}",
        describe(report)
    );
}

#[test]
fn the_golden_export_verifies() {
    let g = golden::build(&Spec::default());
    let report = verify(&g.zip);
    assert!(report.ok(), "{}", describe(&report));
    assert_eq!(report.warnings().count(), 0, "{}", describe(&report));
    let summary = report.summary.clone().expect("summary");
    assert_eq!(summary.chunks, 7);
    assert_eq!(summary.recording, "0192f0c4-7d2a-7b3c-9f00-000000000001");
    assert_eq!(summary.custody_events, 2);
    assert_eq!(summary.checkpoints, 3);
    assert!(summary.proven_by_ms.is_some());
    // Every §5 step reported its success.
    for step in [
        MANIFEST,
        "records/",
        "audio/chunks/",
        "custody/",
        "log/checkpoints/",
        "log/consistency/",
        "log/inclusion/",
        "timestamps/",
        "records/000006.txt",
    ] {
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.files.iter().any(|f| f == step)),
            "no check about {step}:\n{}",
            describe(&report)
        );
    }
}

/// Byte positions to flip in a file of `len` bytes.
fn positions(len: usize) -> Vec<usize> {
    let mut p = vec![0, len / 3, len / 2, len.saturating_sub(1)];
    p.dedup();
    p
}

#[test]
fn every_bit_flip_in_every_file_fails_naming_that_file() {
    let g = golden::build(&Spec::default());
    let files = golden::files(&g.zip);
    let mut tried = 0;
    for (path, bytes) in &files {
        for pos in positions(bytes.len()) {
            for bit in [0u8, 5, 7] {
                let mut m = files.clone();
                m.get_mut(path).expect("file")[pos] ^= 1 << bit;
                let what = format!("bit {bit} of byte {pos} of {path}");
                let outsider = export::pack(&m).expect("pack");
                assert_fails_on(&verify(&outsider), path, &what);
                if path != MANIFEST && path != MANIFEST_SIG && !HUB_ONLY.contains(&path.as_str()) {
                    let insider = export::seal_files(m, &hub_key()).expect("seal");
                    assert_fails_on(&verify(&insider), path, &format!("{what}, re-signed"));
                }
                tried += 1;
            }
        }
    }
    // 7 chunks, 7 records, 7 proofs, 2 custody events and proofs, 3
    // checkpoints and tokens, 2 consistency proofs, and the 11 single files.
    assert_eq!(files.len(), 7 * 3 + 2 * 2 + 3 * 2 + 2 + 11);
    assert!(tried >= files.len() * 6);
}

#[test]
fn every_deleted_file_fails_naming_it() {
    let g = golden::build(&Spec::default());
    let files = golden::files(&g.zip);
    for path in files.keys() {
        let mut m: BTreeMap<String, Vec<u8>> = files.clone();
        m.remove(path);
        assert_fails_on(
            &verify(&export::pack(&m).expect("pack")),
            path,
            &format!("{path} deleted"),
        );
        if path != MANIFEST && path != MANIFEST_SIG {
            let insider = export::seal_files(m, &hub_key()).expect("seal");
            assert_fails_on(
                &verify(&insider),
                path,
                &format!("{path} deleted, re-signed"),
            );
        }
    }
}

#[test]
fn damage_to_the_zip_itself_fails_unless_no_file_changed() {
    let g = golden::build(&Spec::default());
    let files = golden::files(&g.zip);
    // Flips anywhere in the ZIP: in headers, names, the central directory,
    // or contents. A flip in ZIP metadata that no file's name or bytes
    // carry (a timestamp, an attribute) changes no evidence.
    let step = g.zip.len() / 97;
    for i in 0..97 {
        let mut zip = g.zip.clone();
        let at = i * step + (i % 7);
        zip[at] ^= 0x10;
        let report = verify(&zip);
        if report.ok() {
            assert_eq!(
                export::unpack(&zip).expect("it passed, so it unpacks"),
                files,
                "byte {at} of the ZIP flipped, and a changed file passed"
            );
        }
    }
    for cut in [0, 22, g.zip.len() / 2, g.zip.len() - 1] {
        assert!(!verify(&g.zip[..cut]).ok(), "cut at {cut}");
    }
}
