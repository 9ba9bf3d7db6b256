//! The device's identity on disk: its id, the hub's address and its private
//! key (file mode 0600, written atomically), and the settings and contacts
//! the hub last gave it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use vigie_proto::DeviceConfig;
use vigie_proto::signature::DeviceKey;

#[derive(serde::Serialize, serde::Deserialize)]
struct IdentityFile {
    hub: String,
    device_id: String,
    /// P-256 secret scalar, hex.
    key: String,
}

pub struct Identity {
    pub hub: String,
    pub device_id: String,
    pub key: DeviceKey,
}

fn identity_path(dir: &Path) -> PathBuf {
    dir.join("device.json")
}
fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}

/// Write `bytes` to `path` atomically, readable by the owner only.
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

impl Identity {
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let file = IdentityFile {
            hub: self.hub.clone(),
            device_id: self.device_id.clone(),
            key: hex(&self.key.to_bytes()),
        };
        write_private(
            &identity_path(dir),
            serde_json::to_string_pretty(&file)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = identity_path(dir);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("no device identity at {} ({e}): run `vigie agent enroll --hub URL --code CODE` first", path.display()))?;
        let f: IdentityFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
        let key = unhex(&f.key)
            .and_then(|k| DeviceKey::from_bytes(&k).ok())
            .ok_or_else(|| format!("{}: the key is unreadable", path.display()))?;
        Ok(Self {
            hub: f.hub,
            device_id: f.device_id,
            key,
        })
    }
}

pub fn save_config(dir: &Path, config: &DeviceConfig) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_private(
        &config_path(dir),
        serde_json::to_string_pretty(config)
            .unwrap_or_default()
            .as_bytes(),
    )
}

pub fn load_config(dir: &Path) -> Option<DeviceConfig> {
    let text = std::fs::read_to_string(config_path(dir)).ok()?;
    serde_json::from_str(&text).ok()
}
