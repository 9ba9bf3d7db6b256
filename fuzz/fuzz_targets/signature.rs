//! The signature and digest headers of a device request, as the hub's
//! `Signed` extractor reads them: `Signature-Input`
//! (`parse_signature_input`), then `Content-Digest` and `Signature` against
//! the body with the device's key (`verify`), and an enrolment's public key
//! (`parse_public_key`).
//!
//! Input: four lines (Signature-Input, Signature, Content-Digest, a public
//! key in base64 or anything) and the body after them. The seeds are
//! requests signed with the key below, so mutations reach the ECDSA check.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use p256::ecdsa::VerifyingKey;
use vigie_proto::signature::{DeviceKey, parse_public_key, parse_signature_input, verify};

static KNOWN: LazyLock<VerifyingKey> = LazyLock::new(|| {
    let device = DeviceKey::from_bytes(&[0x11; 32]).expect("a valid scalar");
    *device.signing_key().verifying_key()
});

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(5, |&b| b == b'\n');
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (input, signature, digest, public_key) = (next(), next(), next(), next());
    let body = parts.next().unwrap_or_default();

    let known = *KNOWN;
    let enrolled = parse_public_key(&public_key).ok();

    let Ok(params) = parse_signature_input(&input) else {
        return;
    };
    assert!(!params.key_id.is_empty() && params.key_id.len() <= 64);
    assert!((16..=64).contains(&params.nonce.len()));
    for key in std::iter::once(known).chain(enrolled) {
        for (method, path) in [("POST", "/v1/alarms"), ("POST", "/v1/heartbeat")] {
            if verify(&params, &key, method, path, body, &digest, &signature).is_ok() {
                // Only the body it was signed over passes the digest.
                assert_eq!(digest, vigie_proto::signature::content_digest(body));
            }
        }
    }
});
