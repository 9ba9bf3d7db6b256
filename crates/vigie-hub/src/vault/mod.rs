//! The evidence vault: recordings' audio encrypted at rest, the hub's keys,
//! trusted time, and exports. The log itself lives in the store
//! (`store/vault.rs`); the formats in `vigie_evidence`.

pub mod blobs;
pub mod keys;
pub mod tsa_client;

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
