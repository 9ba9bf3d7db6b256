//! A button on the command line: `vigie device enroll`, then `press`,
//! `cancel`. It signs its requests exactly as a box does, so anyone can
//! raise a real alarm without hardware.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use std::path::Path;
use uuid::Uuid;
use vigie_proto::signature::{DeviceKey, new_nonce};
use vigie_proto::{
    AlarmReceipt, CancelAlarm, EnrollRequest, EnrollResponse, ErrorBody, RaiseAlarm,
};

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

/// A signed device client, also used by the demo and the benchmarks.
pub struct Button {
    pub hub: String,
    pub device_id: String,
    key: DeviceKey,
    http: reqwest::Client,
}

impl Button {
    pub async fn enroll(
        http: reqwest::Client,
        hub: &str,
        code: &str,
    ) -> anyhow::Result<(Self, EnrollResponse)> {
        let key = DeviceKey::generate();
        let req = EnrollRequest {
            code: code.to_string(),
            public_key: key.public_key_b64(),
            version: env!("CARGO_PKG_VERSION").into(),
        };
        let resp = http
            .post(format!("{hub}/v1/enroll"))
            .json(&req)
            .send()
            .await
            .with_context(|| format!("cannot reach the hub at {hub}"))?;
        if !resp.status().is_success() {
            let err: ErrorBody = resp.json().await.unwrap_or(ErrorBody {
                code: "unknown".into(),
                message: "no details".into(),
            });
            bail!("enrolment refused ({}): {}", err.code, err.message);
        }
        let enrolled: EnrollResponse = resp.json().await?;
        Ok((
            Self {
                hub: hub.to_string(),
                device_id: enrolled.device_id.clone(),
                key,
                http,
            },
            enrolled,
        ))
    }

    pub fn from_state(state: &DeviceState) -> anyhow::Result<Self> {
        let key = DeviceKey::from_bytes(&unhex(&state.key)?)
            .map_err(|e| anyhow::anyhow!("device key: {e}"))?;
        Ok(Self {
            hub: state.hub.clone(),
            device_id: state.device_id.clone(),
            key,
            http: reqwest::Client::new(),
        })
    }

    pub fn state(&self, last_alarm: Option<Uuid>) -> DeviceState {
        DeviceState {
            hub: self.hub.clone(),
            device_id: self.device_id.clone(),
            key: hex(&self.key.to_bytes()),
            last_alarm,
        }
    }

    /// A signed POST; returns the status and body.
    pub async fn post(
        &self,
        path: &str,
        body: &[u8],
        now_ms: i64,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let h = self.key.sign(
            &self.device_id,
            "POST",
            path,
            body,
            now_ms / 1_000,
            &new_nonce(),
        );
        let resp = self
            .http
            .post(format!("{}{path}", self.hub))
            .header("content-type", "application/json")
            .header("content-digest", h.content_digest)
            .header("signature-input", h.signature_input)
            .header("signature", h.signature)
            .body(body.to_vec())
            .send()
            .await
            .with_context(|| format!("cannot reach the hub at {}", self.hub))?;
        Ok((resp.status().as_u16(), resp.bytes().await?.to_vec()))
    }

    pub async fn raise(
        &self,
        alarm_id: Uuid,
        pressed_at_ms: i64,
        recording: bool,
        now_ms: i64,
    ) -> anyhow::Result<AlarmReceipt> {
        let body = serde_json::to_vec(&RaiseAlarm {
            alarm_id,
            pressed_at_ms,
            sent_at_ms: now_ms,
            recording,
        })?;
        let (status, body) = self.post("/v1/alarms", &body, now_ms).await?;
        parse_answer(status, &body)
    }

    pub async fn cancel(
        &self,
        alarm_id: Uuid,
        cancel_pressed_at_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<AlarmReceipt> {
        let body = serde_json::to_vec(&CancelAlarm {
            cancel_pressed_at_ms,
            sent_at_ms: now_ms,
        })?;
        let (status, body) = self
            .post(&format!("/v1/alarms/{alarm_id}/cancel"), &body, now_ms)
            .await?;
        parse_answer(status, &body)
    }
}

fn parse_answer<T: serde::de::DeserializeOwned>(status: u16, body: &[u8]) -> anyhow::Result<T> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).context("the hub's answer is not what a box expects");
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => bail!("refused by the hub ({}): {}", e.code, e.message),
        Err(_) => bail!("the hub answered HTTP {status}"),
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
