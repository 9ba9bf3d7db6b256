//! The strict text layer shared by chunk records, custody events and
//! checkpoints (`docs/protocol/evidence.md` §2–3): UTF-8 lines ending in
//! `\n`, `key: value` in a fixed order, lowercase hex hashes, and ECDSA
//! P-256 signatures as base64 of r‖s. Parsing accepts exactly one spelling
//! of each value, so that a parsed file re-encodes to the same bytes and no
//! edit of a signed or hashed file can be neutral.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The one signature algorithm of format version 1, named in every signed file.
pub const ALG: &str = "ecdsa-p256-sha256";

/// Length of a base64 r‖s signature: 64 bytes → 88 characters with padding.
const SIGNATURE_BASE64_CHARS: usize = 88;

/// Longest identifier (recording, alarm, device, log, actor): UUIDs and
/// `dev-…` ids are far shorter; the bound keeps records small.
pub const ID_CHARS_MAX: usize = 64;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly 64 lowercase hex digits (uppercase is refused: one spelling only).
pub fn parse_hash(text: &str) -> Option<Hash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_digit(pair[0])?;
        let lo = hex_digit(pair[1])?;
        out[i] = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Parses a decimal `u64` without sign, spaces or leading zeros.
pub fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses `start..end` (two decimals, start ≤ end).
pub fn parse_range(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once("..")?;
    let (a, b) = (parse_u64(a)?, parse_u64(b)?);
    (a <= b).then_some((a, b))
}

/// An identifier: 1 to [`ID_CHARS_MAX`] characters among `A-Z a-z 0-9 . _ : -`.
pub fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= ID_CHARS_MAX
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// Base64 (standard alphabet, padded) of the signature's r‖s.
pub fn signature_base64(signature: &Signature) -> String {
    STANDARD.encode(signature.to_bytes())
}

/// Parses base64 r‖s, refusing any non-canonical spelling: the base64
/// must be the canonical one, and `s` the low one (`s ≤ n/2`). ECDSA
/// accepts both `s` and `n − s` for the same message; allowing only the
/// low one leaves a signed file one spelling, so that nobody can change
/// its bytes (and its hash) without the key.
pub fn parse_signature(text: &str) -> Option<Signature> {
    if text.len() != SIGNATURE_BASE64_CHARS {
        return None;
    }
    let bytes = STANDARD.decode(text).ok()?;
    if STANDARD.encode(&bytes) != text {
        return None;
    }
    let signature = Signature::from_slice(&bytes).ok()?;
    signature.normalize_s().is_none().then_some(signature)
}

/// Signs `body` (ECDSA P-256 over SHA-256 of the bytes, deterministic
/// nonces), with the low `s` that [`parse_signature`] wants.
pub fn sign(body: &[u8], key: &SigningKey) -> Signature {
    let signature: Signature = key.sign(body);
    signature.normalize_s().unwrap_or(signature)
}

/// SHA-256 of a public key's DER SubjectPublicKeyInfo: its fingerprint,
/// as `openssl pkey -pubin -in KEY.pem -outform DER | sha256sum` prints it.
pub fn key_fingerprint(key: &VerifyingKey) -> Hash {
    use p256::pkcs8::EncodePublicKey as _;
    key.to_public_key_der()
        .map(|der| sha256(der.as_bytes()))
        .unwrap_or_default()
}

/// Whether `signature` over `body` verifies with `key`.
pub fn verify(body: &[u8], signature: &Signature, key: &VerifyingKey) -> bool {
    key.verify(body, signature).is_ok()
}

/// Why a text file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("not UTF-8")]
    NotUtf8,
    #[error("does not end with a line end")]
    NoFinalNewline,
    #[error("contains a carriage return or another control character")]
    ControlChar,
    #[error("line {line}: expected `{expected}`")]
    Expected { line: usize, expected: String },
    #[error("line {line}: bad `{key}` value")]
    BadValue { line: usize, key: &'static str },
    #[error("{lines} lines, expected {expected}")]
    LineCount { lines: usize, expected: usize },
}

/// The lines of a bounded UTF-8 text file that ends with `\n`.
pub fn lines(bytes: &[u8], bytes_max: usize) -> Result<Vec<&str>, TextError> {
    if bytes.len() > bytes_max {
        return Err(TextError::TooLarge { max: bytes_max });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| TextError::NotUtf8)?;
    let body = text.strip_suffix('\n').ok_or(TextError::NoFinalNewline)?;
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TextError::ControlChar);
    }
    Ok(body.split('\n').collect())
}

/// Reads `key: value` lines in a fixed order.
pub struct Fields<'a> {
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> Fields<'a> {
    /// Checks the count and the first line (the format's magic).
    pub fn new(lines: Vec<&'a str>, magic: &str, expected: usize) -> Result<Self, TextError> {
        if lines.len() != expected {
            return Err(TextError::LineCount {
                lines: lines.len(),
                expected,
            });
        }
        if lines[0] != magic {
            return Err(TextError::Expected {
                line: 1,
                expected: magic.to_owned(),
            });
        }
        Ok(Self { lines, next: 1 })
    }

    /// The value of the next line, which must be `key: value`.
    pub fn take(&mut self, key: &'static str) -> Result<&'a str, TextError> {
        let line_no = self.next + 1;
        let line = self.lines.get(self.next).copied().unwrap_or_default();
        self.next += 1;
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(": "))
            .ok_or_else(|| TextError::Expected {
                line: line_no,
                expected: format!("{key}: …"),
            })
    }

    /// The next value, parsed; `None` from `parse` is a bad value.
    pub fn parse<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&'a str) -> Option<T>,
    ) -> Result<T, TextError> {
        let line = self.next + 1;
        let value = self.take(key)?;
        parse(value).ok_or(TextError::BadValue { line, key })
    }
}

/// A signed text file split into the signed lines and the signature line.
pub struct Signed<'a> {
    /// The bytes covered by the signature: every line but the last, each with its `\n`.
    pub body: &'a [u8],
    pub signature: Signature,
}

/// Splits off and parses the last line, `signature: <base64>`.
pub fn split_signature(bytes: &[u8]) -> Result<Signed<'_>, TextError> {
    let without_final = bytes.strip_suffix(b"\n").ok_or(TextError::NoFinalNewline)?;
    let start = without_final
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let last = std::str::from_utf8(&without_final[start..]).map_err(|_| TextError::NotUtf8)?;
    let value = last
        .strip_prefix("signature: ")
        .ok_or_else(|| TextError::Expected {
            line: 0,
            expected: "signature: …".to_owned(),
        })?;
    let signature = parse_signature(value).ok_or(TextError::BadValue {
        line: 0,
        key: "signature",
    })?;
    Ok(Signed {
        body: &bytes[..start],
        signature,
    })
}

/// Appends `signature: <base64>\n` to a body.
pub fn append_signature(mut body: Vec<u8>, key: &SigningKey) -> Vec<u8> {
    let signature = sign(&body, key);
    body.extend_from_slice(b"signature: ");
    body.extend_from_slice(signature_base64(&signature).as_bytes());
    body.push(b'\n');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_in_lowercase_only() {
        let h = sha256(b"abc");
        let text = hex(&h);
        assert_eq!(parse_hash(&text), Some(h));
        assert_eq!(parse_hash(&text.to_uppercase()), None);
        assert_eq!(parse_hash(&text[1..]), None);
    }

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("120"), Some(120));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_range("3..5"), Some((3, 5)));
        assert_eq!(parse_range("5..3"), None);
    }

    #[test]
    fn signatures_have_one_spelling() {
        let key = SigningKey::from_slice(&[7u8; 32]).expect("key");
        let sig = sign(b"body", &key);
        let text = signature_base64(&sig);
        assert_eq!(parse_signature(&text), Some(sig));
        assert_eq!(parse_signature(&text[..86]), None);
        assert!(verify(b"body", &sig, key.verifying_key()));
        assert!(!verify(b"bodz", &sig, key.verifying_key()));
    }

    #[test]
    fn high_s_signatures_are_refused() {
        // The same signature with s replaced by n − s verifies in ECDSA; the
        // format refuses it so that a signed file has one spelling.
        for i in 0u8..16 {
            let key = SigningKey::from_slice(&[i + 1; 32]).expect("key");
            let sig = sign(&[i], &key);
            assert_eq!(sig.normalize_s(), None, "sign makes low s");
            let (r, s) = sig.split_scalars();
            let high = Signature::from_scalars(r, -*s).expect("high s");
            assert!(
                key.verifying_key().verify(&[i], &high).is_ok(),
                "ECDSA accepts it"
            );
            assert_eq!(parse_signature(&signature_base64(&high)), None);
            assert_eq!(parse_signature(&signature_base64(&sig)), Some(sig));
        }
    }
}
