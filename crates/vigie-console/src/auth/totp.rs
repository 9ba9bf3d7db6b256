//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30 s steps, six
//! digits), the second factor admins and investigators must give. Secrets
//! are 20 random bytes shown as base32 (RFC 4648) and as an `otpauth://`
//! URI for authenticator apps.

use ring::hmac;
use vigie_core::Timestamp;

/// Length of a TOTP step, in seconds.
pub const STEP_S: i64 = 30;
/// Steps accepted either side of now (clock drift of a phone).
pub const STEPS_TOLERATED: i64 = 1;
/// Secret length, in bytes (RFC 4226 recommends 160 bits).
const SECRET_BYTES: usize = 20;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A fresh random secret, base32 without padding.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    base32_encode(&bytes)
}

pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(BASE32[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for ch in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = BASE32
            .iter()
            .position(|&b| b as char == ch.to_ascii_uppercase())?;
        buffer = (buffer << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The code for one step.
pub fn code_at_step(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 1_000_000
}

pub fn step_at(now: Timestamp) -> i64 {
    now.as_ms().div_euclid(STEP_S * 1_000)
}

/// The step `code` matches around `now`, if any. The caller refuses a
/// step already used (a code is good once).
pub fn matching_step(secret_b32: &str, code: &str, now: Timestamp) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let secret = base32_decode(secret_b32)?;
    let now_step = step_at(now);
    (-STEPS_TOLERATED..=STEPS_TOLERATED)
        .map(|d| now_step + d)
        .find(|&s| {
            super::tokens_equal(
                &format!("{:06}", code_at_step(&secret, s)),
                &format!("{given:06}"),
            )
        })
}

/// The URI an authenticator app reads from a QR code.
pub fn otpauth_uri(issuer: &str, username: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits=6&period={STEP_S}",
        enc(issuer),
        enc(username),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B, SHA-1 column (8 digits there; the last six here).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59i64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(code_at_step(secret, t / STEP_S), want % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32_decode("MZXW6YTBOI======").as_deref(),
            Some(&b"foobar"[..])
        );
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_eq!(base32_decode(&s).map(|b| b.len()), Some(20));
        assert_eq!(base32_decode("not base32!"), None);
    }

    #[test]
    fn a_code_matches_within_one_step_and_not_beyond() {
        let secret = new_secret();
        let raw = base32_decode(&secret).expect("decode");
        let now = Timestamp(1_800_000_000_000);
        let step = step_at(now);
        let code = |s: i64| format!("{:06}", code_at_step(&raw, s));
        assert_eq!(matching_step(&secret, &code(step), now), Some(step));
        assert_eq!(matching_step(&secret, &code(step - 1), now), Some(step - 1));
        assert_eq!(matching_step(&secret, &code(step + 1), now), Some(step + 1));
        assert_eq!(matching_step(&secret, &code(step - 3), now), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn the_uri_names_the_issuer_and_account() {
        let uri = otpauth_uri("Vigie AURA", "enquêteur@x", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/Vigie%20AURA:enqu%C3%AAteur%40x?secret=ABC&issuer=Vigie%20AURA&algorithm=SHA1&digits=6&period=30"
        );
    }
}
