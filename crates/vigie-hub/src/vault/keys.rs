//! The hub's own keys, kept in the vault folder (files mode 0600): the
//! signing key of checkpoints and export manifests, and the key that wraps
//! each recording's key. Created on first start.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use p256::ecdsa::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Bytes of a wrapped recording key: 12-byte nonce, 32-byte key, 16-byte tag.
const WRAPPED_KEY_BYTES: usize = 12 + 32 + 16;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("vault key file {path}: {message}")]
    File { path: String, message: String },
    #[error("a recording key could not be unwrapped (wrong hub key or damaged row)")]
    Unwrap,
}

pub struct HubKeys {
    pub signing: SigningKey,
    wrap: ChaCha20Poly1305,
    /// Names this hub's log in checkpoints.
    pub log_id: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn load_or_make(path: &Path, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, KeyError> {
    let err = |message: String| KeyError::File {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => unhex(&text).ok_or_else(|| err("not hex".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make();
            crate::vault::write_private(path, hex(&bytes).as_bytes())
                .map_err(|e| err(e.to_string()))?;
            Ok(bytes)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

impl HubKeys {
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        std::fs::create_dir_all(dir).map_err(|e| KeyError::File {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let signing_path = dir.join("hub-signing.key");
        let secret = load_or_make(&signing_path, || {
            SigningKey::random(&mut rand::rngs::OsRng)
                .to_bytes()
                .to_vec()
        })?;
        let signing = SigningKey::from_slice(&secret).map_err(|e| KeyError::File {
            path: signing_path.display().to_string(),
            message: e.to_string(),
        })?;
        let wrap_path = dir.join("hub-wrap.key");
        let wrap = load_or_make(&wrap_path, || rand::random::<[u8; 32]>().to_vec())?;
        let wrap: [u8; 32] = wrap.try_into().map_err(|_| KeyError::File {
            path: wrap_path.display().to_string(),
            message: "expected 32 bytes".into(),
        })?;
        let public = VerifyingKey::from(&signing).to_encoded_point(false);
        let log_id = hex(&Sha256::digest(public.as_bytes())[..8]);
        Ok(Self {
            signing,
            wrap: ChaCha20Poly1305::new(&Key::from(wrap)),
            log_id,
        })
    }

    pub fn verifying(&self) -> VerifyingKey {
        VerifyingKey::from(&self.signing)
    }

    /// Wrap a recording key: random nonce, then the sealed key.
    pub fn wrap(&self, key: &[u8; 32]) -> Vec<u8> {
        let nonce: [u8; 12] = rand::random();
        let mut out = nonce.to_vec();
        // Encryption with a fresh nonce and a 32-byte input cannot fail.
        out.extend(
            self.wrap
                .encrypt(&Nonce::from(nonce), key.as_slice())
                .unwrap_or_default(),
        );
        out
    }

    pub fn unwrap(&self, wrapped: &[u8]) -> Result<[u8; 32], KeyError> {
        if wrapped.len() != WRAPPED_KEY_BYTES {
            return Err(KeyError::Unwrap);
        }
        let nonce: [u8; 12] = wrapped[..12].try_into().map_err(|_| KeyError::Unwrap)?;
        let key = self
            .wrap
            .decrypt(&Nonce::from(nonce), &wrapped[12..])
            .map_err(|_| KeyError::Unwrap)?;
        key.try_into().map_err(|_| KeyError::Unwrap)
    }
}
