//! The evidence vault: recordings' audio encrypted at rest, the hub's keys,
//! trusted time, and exports. The log itself lives in the store
//! (`store/vault.rs`); the formats in `vigie_evidence`.

pub mod blobs;
pub mod export;
pub mod keys;
pub mod trust;
pub mod tsa_client;

use crate::store::Store;
use std::sync::Arc;
use uuid::Uuid;
use vigie_core::Timestamp;

/// Checkpoints are signed at least this often while the log grows.
pub const CHECKPOINT_INTERVAL_MS: u64 = 10_000;
/// While a recording is live, a time-stamp at least this often.
pub const TIMESTAMP_INTERVAL_MS: i64 = 60_000;
/// A recording with a chunk this recent counts as live.
const LIVE_WINDOW_MS: i64 = 60_000;

/// The vault as the rest of the hub uses it.
pub struct Vault {
    pub keys: Arc<keys::HubKeys>,
    pub blobs: blobs::BlobStore,
    /// RFC 3161 authorities, tried in order.
    pub tsa_urls: Vec<String>,
    /// The TSAs' certificate chain (PEM, root last), copied into exports.
    pub tsa_chain_pem: Vec<u8>,
    pub retention_days: u32,
    pub http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Blob(#[from] blobs::BlobError),
    #[error("no time-stamping authority answered: {0}")]
    NoTimestamp(String),
    #[error("export: {0}")]
    Export(String),
}

impl Vault {
    /// Time-stamp a checkpoint with the first authority that answers.
    pub async fn timestamp(&self, checkpoint: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut errors = Vec::new();
        for url in &self.tsa_urls {
            match tsa_client::timestamp(&self.http, url, checkpoint).await {
                Ok(token) => return Ok(token),
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        if errors.is_empty() {
            errors.push("no time-stamping authority configured ([vault] tsa_urls)".into());
        }
        Err(VaultError::NoTimestamp(errors.join("; ")))
    }

    /// One pass: sign a checkpoint if the log grew; time-stamp it while a
    /// recording is live; destroy recordings past their retention.
    pub async fn tick(&self, store: &Store, now: Timestamp) -> Result<(), VaultError> {
        let made = store.checkpoint(self.keys.clone(), now).await?;
        if let Some(cp) = made
            && !self.tsa_urls.is_empty()
            && store
                .recording_live_since(now.plus_ms(-LIVE_WINDOW_MS))
                .await?
        {
            let last = store.last_timestamped_at().await?;
            if last.is_none_or(|t| now.ms_since(t) >= TIMESTAMP_INTERVAL_MS) {
                let token = self.timestamp(&cp.body).await?;
                store.set_checkpoint_token(cp.size, token).await?;
            }
        }
        if store.remind_holders(now).await? > 0 {
            tracing::info!("holders reminded of recordings about to be destroyed");
        }
        for id in store.recordings_past_retention(now).await? {
            store
                .custody(
                    id,
                    "hub",
                    vigie_evidence::custody::Action::RetentionDelete,
                    "durée de conservation écoulée / retention period over",
                    now,
                )
                .await?;
            self.blobs.delete_recording(id).await?;
            tracing::info!(recording = %id, "recording destroyed at the end of its retention");
        }
        Ok(())
    }

    /// The whole recording's audio, decrypted (for listening and exports).
    pub async fn audio(&self, store: &Store, recording: Uuid) -> Result<Vec<Vec<u8>>, VaultError> {
        let (rec, wrapped) = store.recording(recording).await?;
        let wrapped =
            wrapped.ok_or_else(|| VaultError::Export("this recording was destroyed".into()))?;
        let key = self.keys.unwrap(&wrapped)?;
        let mut audio = Vec::new();
        for seq in 0..rec.chunks {
            audio.push(self.blobs.get(recording, seq, &key).await?);
        }
        Ok(audio)
    }
}

use std::io::Write as _;
use std::path::Path;

/// Write `bytes` to `path` atomically (temporary file, sync, rename), owner-only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
