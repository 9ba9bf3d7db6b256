//! A button on the command line: `vigie device enroll`, then `press`,
//! `cancel`. It signs its requests exactly as a box does, so anyone can
//! raise a real alarm without hardware.

use anyhow::Context as _;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use std::path::Path;
use uuid::Uuid;
use vigie_agent::uplink::HubClient;
use vigie_proto::signature::DeviceKey;
use vigie_proto::{AlarmReceipt, EnrollResponse, RaiseAlarm};

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Enrol with a one-time code printed by `vigie admin code new`.
    Enroll {
        #[arg(long)]
        hub: String,
        #[arg(long)]
        code: String,
    },
    /// Press the button: raise an alarm (with --double, ask for recording too).
    Press {
        #[arg(long)]
        double: bool,
        /// Pretend the press happened this many seconds ago (queued while offline).
        #[arg(long, default_value_t = 0)]
        ago_s: i64,
    },
    /// Long press: cancel the last alarm (within the cancel window).
    Cancel,
}

/// What the command-line device remembers.
#[derive(Serialize, Deserialize)]
pub struct DeviceState {
    pub hub: String,
    pub device_id: String,
    /// The P-256 secret scalar, hex.
    pub key: String,
    pub last_alarm: Option<Uuid>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                .context("the device key is not hex")
        })
        .collect()
}

/// A signed button: the box's own hub client, used by this command, the
/// demo and the benchmarks.
pub struct Button {
    client: HubClient,
}

impl Button {
    pub async fn enroll(
        _http: reqwest::Client,
        hub: &str,
        code: &str,
    ) -> anyhow::Result<(Self, EnrollResponse)> {
        let (client, enrolled) = HubClient::enroll(hub, code, env!("CARGO_PKG_VERSION"))
            .await
            .context("enrolment failed")?;
        Ok((Self { client }, enrolled))
    }

    pub fn from_state(state: &DeviceState) -> anyhow::Result<Self> {
        let key = DeviceKey::from_bytes(&unhex(&state.key)?)
            .map_err(|e| anyhow::anyhow!("device key: {e}"))?;
        Ok(Self {
            client: HubClient::new(&state.hub, &state.device_id, key),
        })
    }

    pub fn state(&self, last_alarm: Option<Uuid>) -> DeviceState {
        DeviceState {
            hub: self.client.hub().to_string(),
            device_id: self.client.device_id().to_string(),
            key: hex(&self.client.key().to_bytes()),
            last_alarm,
        }
    }

    pub async fn raise(
        &self,
        alarm_id: Uuid,
        pressed_at_ms: i64,
        recording: bool,
        now_ms: i64,
    ) -> anyhow::Result<AlarmReceipt> {
        let req = RaiseAlarm {
            alarm_id,
            pressed_at_ms,
            sent_at_ms: now_ms,
            recording,
            direct_sms: Vec::new(),
            test: false,
        };
        Ok(self.client.raise(&req, now_ms).await?)
    }

    pub async fn cancel(
        &self,
        alarm_id: Uuid,
        cancel_pressed_at_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<AlarmReceipt> {
        Ok(self
            .client
            .cancel(alarm_id, cancel_pressed_at_ms, now_ms)
            .await?)
    }
}

/// Write the device's state, key included: created with mode 0600 so the
/// key is never readable by others, not even for a moment.
fn save(path: &Path, state: &DeviceState) -> anyhow::Result<()> {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(state)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // An older file keeps its mode when truncated: tighten it too.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<DeviceState> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "no device state at {}: run `vigie device enroll --hub URL --code CODE` first",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a device state file", path.display()))
}

pub async fn run(state_path: &Path, command: DeviceCommand) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Enroll { hub, code } => {
            let hub = hub.trim_end_matches('/').to_string();
            let (button, enrolled) = Button::enroll(reqwest::Client::new(), &hub, &code).await?;
            save(state_path, &button.state(None))?;
            println!(
                "Boîtier enrôlé / device enrolled: {} — {}, {}",
                enrolled.device_id, enrolled.shop.name, enrolled.shop.commune
            );
            println!(
                "{} contact(s) joignable(s) directement / reachable directly",
                enrolled.direct_contacts.len()
            );
        }
        DeviceCommand::Press { double, ago_s } => {
            let state = load(state_path)?;
            let button = Button::from_state(&state)?;
            let now = now_ms();
            let id = Uuid::now_v7();
            let receipt = button.raise(id, now - ago_s * 1_000, double, now).await?;
            save(state_path, &button.state(Some(id)))?;
            println!("{}", serde_json::to_string_pretty(&receipt)?);
        }
        DeviceCommand::Cancel => {
            let state = load(state_path)?;
            let id = state
                .last_alarm
                .context("no alarm to cancel: press first")?;
            let button = Button::from_state(&state)?;
            let now = now_ms();
            let receipt = button.cancel(id, now, now).await?;
            println!("{}", serde_json::to_string_pretty(&receipt)?);
        }
    }
    Ok(())
}
