//! A whole evidence export through `vigie verify`'s checks
//! (`verify::verify_export_anchored`): the strict ZIP, then every part the
//! export holds (manifest and its signature, keys, chunk records, the audio,
//! the log entries and proofs, checkpoints, tokens, custody, reports,
//! timeline). The time-stamp check is the golden tests' stand-in TSA, so
//! mutations of a golden export get past the tokens into the log checks;
//! the real RFC 3161 check runs on the same bytes, not anchored.
#![no_main]

#[path = "../../crates/vigie-evidence/tests/it/golden.rs"]
#[allow(dead_code)]
mod golden;

use libfuzzer_sys::fuzz_target;
use vigie_evidence::verify::{rfc3161_check, verify_export};

fuzz_target!(|data: &[u8]| {
    let report = golden::verify_anchored(data);
    let _ = (report.ok(), report.failure_count(), report.warnings().count());
    let report = verify_export(data, &rfc3161_check);
    let _ = report.ok();
});
