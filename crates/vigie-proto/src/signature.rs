//! HTTP Message Signatures (RFC 9421) with `ecdsa-p256-sha256`, and
//! Content-Digest (RFC 9530), as the box signs its requests.
//!
//! Covered components, in this order: `"@method" "@path" "content-digest"`.
//! Parameters: `created` (seconds), `keyid` (the device id), `nonce`
//! (random, never reused) and `alg`. The label is `vigie`. Example:
//!
//! ```text
//! Content-Digest: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:
//! Signature-Input: vigie=("@method" "@path" "content-digest");created=1795699920;keyid="dev-…";nonce="…";alg="ecdsa-p256-sha256"
//! Signature: vigie=:<base64 of r‖s, 64 bytes>:
//! ```
//!
//! The hub checks the digest, the freshness of `created` and that the nonce
//! was not seen before; this module does the parsing and the cryptography.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub const ALG: &str = "ecdsa-p256-sha256";
pub const LABEL: &str = "vigie";
const COMPONENTS: &str = r#"("@method" "@path" "content-digest")"#;
/// A Signature-Input longer than this is not ours.
const SIGNATURE_INPUT_CHARS_MAX: usize = 512;
const NONCE_CHARS_MAX: usize = 64;
const KEYID_CHARS_MAX: usize = 64;

/// The three headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

/// What a Signature-Input says, before the signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    pub created_s: i64,
    pub key_id: String,
    pub nonce: String,
    /// The exact parameter string, as it is signed.
    raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed Signature-Input: {0}")]
    MalformedInput(&'static str),
    #[error("unsupported signature algorithm or covered components")]
    Unsupported,
    #[error("Content-Digest does not match the body")]
    DigestMismatch,
    #[error("malformed Signature header")]
    MalformedSignature,
    #[error("signature does not verify with the device's key")]
    BadSignature,
    #[error("malformed public key")]
    BadPublicKey,
}

/// The device's signing key.
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    pub fn generate() -> Self {
        Self(SigningKey::random(&mut rand::rngs::OsRng))
    }
    /// From the 32-byte secret scalar.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, SignatureError> {
        SigningKey::from_slice(secret)
            .map(Self)
            .map_err(|_| SignatureError::BadPublicKey)
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
    /// The P-256 key itself: the box also seals evidence records with it.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
    /// SEC1 uncompressed public point, base64: what enrolment sends.
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.0.verifying_key().to_encoded_point(false).as_bytes())
    }

    /// Sign a request. `created_s` is the box's clock; `nonce` must be unique.
    pub fn sign(
        &self,
        key_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
        created_s: i64,
        nonce: &str,
    ) -> SignedHeaders {
        let content_digest = content_digest(body);
        let params = format!(
            r#"{COMPONENTS};created={created_s};keyid="{key_id}";nonce="{nonce}";alg="{ALG}""#
        );
        let base = signature_base(method, path, &content_digest, &params);
        let sig: Signature = self.0.sign(base.as_bytes());
        SignedHeaders {
            content_digest,
            signature_input: format!("{LABEL}={params}"),
            signature: format!("{LABEL}=:{}:", B64.encode(sig.to_bytes())),
        }
    }
}

/// A fresh random nonce (128 bits, URL-safe base64).
pub fn new_nonce() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Parse a public key sent at enrolment.
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| SignatureError::BadPublicKey)?;
    VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| SignatureError::BadPublicKey)
}

/// `sha-256=:…:` over the body (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

fn signature_base(method: &str, path: &str, content_digest: &str, params: &str) -> String {
    format!(
        "\"@method\": {method}\n\"@path\": {path}\n\"content-digest\": {content_digest}\n\"@signature-params\": {params}"
    )
}

/// Read the parameters of a Signature-Input header (step one: the caller
/// then finds the device by `key_id`, checks `created` and the nonce).
pub fn parse_signature_input(header: &str) -> Result<SignatureParams, SignatureError> {
    if header.len() > SIGNATURE_INPUT_CHARS_MAX {
        return Err(SignatureError::MalformedInput("too long"));
    }
    let raw = header
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix('='))
        .ok_or(SignatureError::MalformedInput("label must be vigie"))?;
    let params = raw
        .strip_prefix(COMPONENTS)
        .ok_or(SignatureError::Unsupported)?;
    let (mut created, mut key_id, mut nonce, mut alg) = (None, None, None, None);
    for param in params.split(';').skip(1) {
        let (name, value) = param
            .split_once('=')
            .ok_or(SignatureError::MalformedInput("parameter without value"))?;
        let quoted = || {
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.contains('"') && !v.contains('\\'))
                .ok_or(SignatureError::MalformedInput("expected a quoted string"))
        };
        match name {
            "created" => {
                created = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::MalformedInput("created"))?,
                )
            }
            "keyid" => key_id = Some(quoted()?.to_string()),
            "nonce" => nonce = Some(quoted()?.to_string()),
            "alg" => alg = Some(quoted()?.to_string()),
            _ => return Err(SignatureError::MalformedInput("unknown parameter")),
        }
    }
    if params.is_empty() || !params.starts_with(';') {
        return Err(SignatureError::MalformedInput("no parameters"));
    }
    if alg.as_deref() != Some(ALG) {
        return Err(SignatureError::Unsupported);
    }
    let key_id = key_id
        .filter(|k| !k.is_empty() && k.len() <= KEYID_CHARS_MAX)
        .ok_or(SignatureError::MalformedInput("keyid"))?;
    let nonce = nonce
        .filter(|n| n.len() >= 16 && n.len() <= NONCE_CHARS_MAX)
        .ok_or(SignatureError::MalformedInput("nonce"))?;
    let created_s = created.ok_or(SignatureError::MalformedInput("created"))?;
    Ok(SignatureParams {
        created_s,
        key_id,
        nonce,
        raw: raw.to_string(),
    })
}

/// Step two: check the body's digest and the signature with the device's key.
pub fn verify(
    params: &SignatureParams,
    key: &VerifyingKey,
    method: &str,
    path: &str,
    body: &[u8],
    content_digest_header: &str,
    signature_header: &str,
) -> Result<(), SignatureError> {
    if content_digest_header != content_digest(body) {
        return Err(SignatureError::DigestMismatch);
    }
    let sig_b64 = signature_header
        .strip_prefix(LABEL)
        .and_then(|s| s.strip_prefix("=:"))
        .and_then(|s| s.strip_suffix(':'))
        .ok_or(SignatureError::MalformedSignature)?;
    let sig_bytes = B64
        .decode(sig_b64)
        .map_err(|_| SignatureError::MalformedSignature)?;
    // Checks the shape (64 bytes, both scalars in range) for a precise error.
    Signature::from_slice(&sig_bytes).map_err(|_| SignatureError::MalformedSignature)?;
    let base = signature_base(method, path, content_digest_header, &params.raw);
    // The same ECDSA P-256/SHA-256 check as `p256`'s `Verifier`, done by
    // `ring` (assembly field arithmetic): about 5 times faster, which is what
    // sets the hub's heartbeat rate (docs/benchmarks.md, heartbeats).
    let point = key.to_encoded_point(false);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        point.as_bytes(),
    )
    .verify(base.as_bytes(), &sig_bytes)
    .map_err(|_| SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> (DeviceKey, SignedHeaders) {
        let key = DeviceKey::generate();
        let h = key.sign(
            "dev-1",
            "POST",
            "/v1/alarms",
            b"{\"a\":1}",
            1_795_699_920,
            "bm9uY2Vub25jZW5vbmNl",
        );
        (key, h)
    }

    #[test]
    fn round_trip_and_every_tamper_fails() {
        let (key, h) = signed();
        let vk = parse_public_key(&key.public_key_b64()).expect("public key");
        let p = parse_signature_input(&h.signature_input).expect("params");
        assert_eq!((p.created_s, p.key_id.as_str()), (1_795_699_920, "dev-1"));
        let ok = |m: &str, path: &str, body: &[u8], d: &str, s: &str| {
            verify(&p, &vk, m, path, body, d, s)
        };
        assert_eq!(
            ok(
                "POST",
                "/v1/alarms",
                b"{\"a\":1}",
                &h.content_digest,
                &h.signature
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                "PUT",
                "/v1/alarms",
                b"{\"a\":1}",
                &h.content_digest,
                &h.signature
            ),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/alarmz",
                b"{\"a\":1}",
                &h.content_digest,
                &h.signature
            ),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/alarms",
                b"{\"a\":2}",
                &h.content_digest,
                &h.signature
            ),
            Err(SignatureError::DigestMismatch)
        );
        let other_digest = content_digest(b"{\"a\":2}");
        assert_eq!(
            ok(
                "POST",
                "/v1/alarms",
                b"{\"a\":2}",
                &other_digest,
                &h.signature
            ),
            Err(SignatureError::BadSignature)
        );
        let other = DeviceKey::generate();
        let other_vk = parse_public_key(&other.public_key_b64()).expect("public key");
        assert_eq!(
            verify(
                &p,
                &other_vk,
                "POST",
                "/v1/alarms",
                b"{\"a\":1}",
                &h.content_digest,
                &h.signature
            ),
            Err(SignatureError::BadSignature)
        );
        // A changed parameter (here: created) changes the signed base.
        let forged = h
            .signature_input
            .replace("created=1795699920", "created=1795699999");
        let fp = parse_signature_input(&forged).expect("params");
        assert_eq!(
            verify(
                &fp,
                &vk,
                "POST",
                "/v1/alarms",
                b"{\"a\":1}",
                &h.content_digest,
                &h.signature
            ),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/alarms",
                b"{\"a\":1}",
                &h.content_digest,
                "vigie=:AAAA:"
            ),
            Err(SignatureError::MalformedSignature)
        );
    }

    #[test]
    fn malformed_inputs() {
        let bad = [
            "",
            "other=(\"@method\" \"@path\" \"content-digest\");created=1;keyid=\"d\";nonce=\"0123456789abcdef\";alg=\"ecdsa-p256-sha256\"",
            "vigie=(\"@method\");created=1;keyid=\"d\";nonce=\"0123456789abcdef\";alg=\"ecdsa-p256-sha256\"",
            "vigie=(\"@method\" \"@path\" \"content-digest\");created=x;keyid=\"d\";nonce=\"0123456789abcdef\";alg=\"ecdsa-p256-sha256\"",
            "vigie=(\"@method\" \"@path\" \"content-digest\");created=1;keyid=\"d\";nonce=\"short\";alg=\"ecdsa-p256-sha256\"",
            "vigie=(\"@method\" \"@path\" \"content-digest\");created=1;keyid=\"d\";nonce=\"0123456789abcdef\";alg=\"hmac-sha256\"",
            "vigie=(\"@method\" \"@path\" \"content-digest\");created=1;keyid=d;nonce=\"0123456789abcdef\";alg=\"ecdsa-p256-sha256\"",
            "vigie=(\"@method\" \"@path\" \"content-digest\")",
        ];
        for b in bad {
            assert!(parse_signature_input(b).is_err(), "{b}");
        }
        assert_eq!(
            parse_public_key("not base64!").err(),
            Some(SignatureError::BadPublicKey)
        );
        assert_eq!(
            parse_public_key("AAAA").err(),
            Some(SignatureError::BadPublicKey)
        );
    }
}
