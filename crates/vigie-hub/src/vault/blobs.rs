//! Recording audio at rest: each chunk encrypted with ChaCha20-Poly1305
//! under its recording's key (nonce = the chunk's sequence number, unique
//! per key), one object per chunk (`<recording>/<seq>.bin`). Deleting a
//! recording destroys its key first (in the store), then its objects.
//!
//! Two backends: a local folder (the default; files written atomically and
//! synced) or an S3-compatible bucket (`[vault.s3]`). Either way only
//! ciphertext is stored there.

use crate::config::S3Config;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use secrecy::ExposeSecret as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("blob {path}: object storage: {source}")]
    Object {
        path: String,
        source: object_store::Error,
    },
    #[error("blob {0}: does not decrypt with its recording's key (damaged or swapped)")]
    Corrupt(String),
    #[error("vault.s3: {0}")]
    Config(String),
}

#[derive(Clone)]
enum Backend {
    Local(PathBuf),
    S3(Arc<dyn ObjectStore>),
}

#[derive(Clone)]
pub struct BlobStore {
    backend: Backend,
}

fn nonce(seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

fn recording_dir(recording: Uuid) -> String {
    recording.simple().to_string()
}

fn chunk_name(seq: u64) -> String {
    format!("{seq:06}.bin")
}

impl BlobStore {
    /// Blobs in a local folder.
    pub fn new(dir: &Path) -> Self {
        Self {
            backend: Backend::Local(dir.to_path_buf()),
        }
    }

    /// Blobs in any object store (S3 in production, in-memory if wanted).
    pub fn object_store(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            backend: Backend::S3(store),
        }
    }

    /// Blobs in an S3-compatible bucket.
    pub fn s3(config: &S3Config) -> Result<Self, BlobError> {
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(config.secret_access_key.expose_secret())
            .with_allow_http(config.allow_http);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(Self::object_store(Arc::new(store)))
    }

    fn local_path(dir: &Path, recording: Uuid, seq: u64) -> PathBuf {
        dir.join(recording_dir(recording)).join(chunk_name(seq))
    }

    fn object_path(recording: Uuid, seq: u64) -> ObjectPath {
        ObjectPath::from(format!("{}/{}", recording_dir(recording), chunk_name(seq)))
    }

    /// Where a chunk lives, for error messages.
    fn describe(&self, recording: Uuid, seq: u64) -> String {
        match &self.backend {
            Backend::Local(dir) => Self::local_path(dir, recording, seq).display().to_string(),
            Backend::S3(store) => format!("{store}/{}", Self::object_path(recording, seq)),
        }
    }

    pub async fn put(
        &self,
        recording: Uuid,
        seq: u64,
        key: &[u8; 32],
        audio: &[u8],
    ) -> Result<(), BlobError> {
        let cipher = ChaCha20Poly1305::new(&Key::from(*key));
        let sealed = cipher
            .encrypt(&Nonce::from(nonce(seq)), audio)
            .map_err(|_| BlobError::Corrupt(self.describe(recording, seq)))?;
        match &self.backend {
            Backend::Local(dir) => {
                let path = Self::local_path(dir, recording, seq);
                let shown = path.display().to_string();
                let written = tokio::task::spawn_blocking(move || {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    crate::vault::write_private(&path, &sealed)
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
                written.map_err(|source| BlobError::Io {
                    path: shown,
                    source,
                })
            }
            Backend::S3(store) => {
                let path = Self::object_path(recording, seq);
                store
                    .put(&path, sealed.into())
                    .await
                    .map(|_| ())
                    .map_err(|source| BlobError::Object {
                        path: path.to_string(),
                        source,
                    })
            }
        }
    }

    pub async fn get(
        &self,
        recording: Uuid,
        seq: u64,
        key: &[u8; 32],
    ) -> Result<Vec<u8>, BlobError> {
        let sealed = match &self.backend {
            Backend::Local(dir) => {
                let path = Self::local_path(dir, recording, seq);
                tokio::fs::read(&path)
                    .await
                    .map_err(|source| BlobError::Io {
                        path: path.display().to_string(),
                        source,
                    })?
            }
            Backend::S3(store) => {
                let path = Self::object_path(recording, seq);
                let object = |source| BlobError::Object {
                    path: path.to_string(),
                    source,
                };
                store
                    .get(&path)
                    .await
                    .map_err(object)?
                    .bytes()
                    .await
                    .map_err(object)?
                    .to_vec()
            }
        };
        let cipher = ChaCha20Poly1305::new(&Key::from(*key));
        cipher
            .decrypt(&Nonce::from(nonce(seq)), sealed.as_slice())
            .map_err(|_| BlobError::Corrupt(self.describe(recording, seq)))
    }

    pub async fn delete_recording(&self, recording: Uuid) -> Result<(), BlobError> {
        match &self.backend {
            Backend::Local(dir) => {
                let dir = dir.join(recording_dir(recording));
                match tokio::fs::remove_dir_all(&dir).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(BlobError::Io {
                        path: dir.display().to_string(),
                        source,
                    }),
                }
            }
            Backend::S3(store) => {
                let prefix = ObjectPath::from(recording_dir(recording));
                let object = |source| BlobError::Object {
                    path: prefix.to_string(),
                    source,
                };
                let locations = store
                    .list(Some(&prefix))
                    .map_ok(|meta| meta.location)
                    .boxed();
                let deleted: Vec<ObjectPath> = store
                    .delete_stream(locations)
                    .try_collect()
                    .await
                    .map_err(object)?;
                tracing::debug!(recording = %recording, objects = deleted.len(), "blobs deleted");
                Ok(())
            }
        }
    }
}
