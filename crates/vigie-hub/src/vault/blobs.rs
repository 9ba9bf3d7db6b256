//! Recording audio at rest: each chunk encrypted with ChaCha20-Poly1305
//! under its recording's key (nonce = the chunk's sequence number, unique
//! per key), one file per chunk, written atomically and synced. Deleting a
//! recording destroys its key first (in the store), then its files.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("blob {0}: does not decrypt with its recording's key (damaged or swapped)")]
    Corrupt(String),
}

#[derive(Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

fn nonce(seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

impl BlobStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, recording: Uuid, seq: u64) -> PathBuf {
        self.dir
            .join(recording.simple().to_string())
            .join(format!("{seq:06}.bin"))
    }

    pub fn put(
        &self,
        recording: Uuid,
        seq: u64,
        key: &[u8; 32],
        audio: &[u8],
    ) -> Result<(), BlobError> {
        let path = self.path(recording, seq);
        let io = |source| BlobError::Io {
            path: path.display().to_string(),
            source,
        };
        let cipher = ChaCha20Poly1305::new(&Key::from(*key));
        let sealed = cipher
            .encrypt(&Nonce::from(nonce(seq)), audio)
            .map_err(|_| BlobError::Corrupt(path.display().to_string()))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        crate::vault::write_private(&path, &sealed).map_err(io)
    }

    pub fn get(&self, recording: Uuid, seq: u64, key: &[u8; 32]) -> Result<Vec<u8>, BlobError> {
        let path = self.path(recording, seq);
        let sealed = std::fs::read(&path).map_err(|source| BlobError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let cipher = ChaCha20Poly1305::new(&Key::from(*key));
        cipher
            .decrypt(&Nonce::from(nonce(seq)), sealed.as_slice())
            .map_err(|_| BlobError::Corrupt(path.display().to_string()))
    }

    pub fn delete_recording(&self, recording: Uuid) -> Result<(), BlobError> {
        let dir = self.dir.join(recording.simple().to_string());
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(BlobError::Io {
                path: dir.display().to_string(),
                source,
            }),
        }
    }
}
