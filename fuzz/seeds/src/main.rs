//! `cargo run --manifest-path fuzz/seeds/Cargo.toml -- fuzz/corpus`: writes
//! the seeds of `evidence_zip`, `evidence_verify`, `evidence_files` and
//! `signature` from the same builders the tests use.

#[path = "../../../crates/vigie-evidence/tests/it/golden.rs"]
#[allow(dead_code)]
mod golden;

use std::path::Path;
use vigie_evidence::export;
use vigie_proto::signature::DeviceKey;

fn write(corpus: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus.join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn main() {
    let corpus = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into());
    let corpus = Path::new(&corpus);

    // A golden export, small: three chunks (the fewest the builder makes).
    let spec = golden::Spec {
        chunks: 3,
        ..golden::Spec::default()
    };
    let zip = golden::build(&spec).zip;
    assert!(golden::verify_anchored(&zip).ok(), "the golden export verifies");
    write(corpus, "evidence_zip", "golden.zip", &zip);
    write(corpus, "evidence_verify", "golden.zip", &zip);
    let tiny = vigie_evidence::strict_zip::write([("a", b"x".as_slice()), ("b/c", b"")])
        .expect("zip");
    write(corpus, "evidence_zip", "two-entries.zip", &tiny);

    // Each file of it, behind the selector byte of `evidence_files`.
    let files = export::unpack(&zip).expect("unpack");
    let pick = |path: &str| -> Option<u8> {
        Some(match path {
            p if p.starts_with("records/") => 0,
            p if p.starts_with("custody/") && p.ends_with(".txt") => 1,
            p if p.starts_with("log/checkpoints/") && p.ends_with(".txt") => 2,
            export::DEVICE_ENTRY => 3,
            p if p.starts_with("log/inclusion/") => 5,
            p if p.starts_with("log/consistency/") => 6,
            export::DEVICE_KEY | export::HUB_KEY => 7,
            export::TSA_CHAIN => 8,
            _ => return None,
        })
    };
    let mut taken = std::collections::BTreeSet::new();
    for (path, bytes) in &files {
        let Some(which) = pick(path) else { continue };
        if !taken.insert(which) && which != 7 {
            continue; // one of each is enough
        }
        let name = path.replace('/', "_");
        write(corpus, "evidence_files", &name, &[&[which][..], bytes].concat());
        let name = format!("path_{name}");
        write(corpus, "evidence_files", &name, &[&[10u8][..], path.as_bytes()].concat());
    }
    let trust = golden::trust().encode();
    write(corpus, "evidence_files", "trust.txt", &[&[4u8][..], &trust].concat());
    let checkpoint = files
        .iter()
        .find(|(p, _)| p.starts_with("log/checkpoints/") && p.ends_with(".txt"))
        .map(|(_, b)| b.clone())
        .expect("a checkpoint");
    write(corpus, "evidence_files", "signature-line.txt", &[&[9u8][..], &checkpoint].concat());

    // Signed device requests, with the key the `signature` target knows.
    let key = DeviceKey::from_bytes(&[0x11; 32]).expect("key");
    for (name, path, body) in [
        ("alarm", "/v1/alarms", &br#"{"alarm_id":"0192f0c3-0000-7000-8000-000000000002","pressed_at_ms":1795699920000,"sent_at_ms":1795699920100}"#[..]),
        ("heartbeat", "/v1/heartbeat", &b"{}"[..]),
        ("empty", "/v1/alarms", &b""[..]),
    ] {
        let h = key.sign("dev-0192-ara-0042", "POST", path, body, 1_795_699_920, "bm9uY2Vub25jZW5vbmNl");
        let input = [
            h.signature_input.as_bytes(),
            b"\n",
            h.signature.as_bytes(),
            b"\n",
            h.content_digest.as_bytes(),
            b"\n",
            key.public_key_b64().as_bytes(),
            b"\n",
            body,
        ]
        .concat();
        write(corpus, "signature", name, &input);
    }
    println!("seeds written under {}", corpus.display());
}
