//! The SMSC simulator (npm `smpp` server) as an SMPP 3.4 peer.
//!
//! `Smsc::start` runs `tests/peers/smsc/smsc.js` on loopback (port 0) and
//! talks to its JSON control server: what it received, a contact's reply,
//! throttling, undeliverable or rejected numbers, dropped connections and
//! broken frames, an outage, floods of inbound messages and bad PDUs
//! (what the hub acknowledged, and how). The node process dies with the
//! guard.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long node may take to load the simulator and listen; generous for a
/// loaded 2-core CI machine, short enough that a broken install fails fast.
const READY_TIMEOUT_MS: u64 = 10_000;
/// Between two looks at `/messages` in `wait_for_messages`.
const POLL_INTERVAL_MS: u64 = 20;
/// A control request is local; past this the simulator is stuck.
const CONTROL_TIMEOUT_MS: u64 = 5_000;

/// One `submit_sm` the simulator accepted, as `GET /messages` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SmscMessage {
    pub seq: u64,
    /// Wall-clock time of the submit in milliseconds since the Unix epoch,
    /// with sub-millisecond precision (`performance.timeOrigin + now()`).
    pub at_ms: f64,
    /// Destination digits, without '+'.
    pub to: String,
    pub from: String,
    /// The short message decoded per `data_coding` (GSM 03.38 or UCS-2).
    pub text: String,
    pub data_coding: u8,
    pub message_id: String,
    pub registered_delivery: u8,
}

/// What became of the flood's deliver_sm (`POST /flood`).
#[derive(Debug, Clone, Deserialize)]
pub struct Acked {
    /// Texts the hub answered with ESME_ROK.
    pub acked: Vec<String>,
    /// command_status (decimal) → how many were answered with it.
    pub refused: std::collections::HashMap<String, u64>,
    /// Sent and not answered (yet).
    pub unanswered: u64,
}

/// One successful bind, and when the last outage ended.
#[derive(Debug, Clone, Deserialize)]
pub struct Binds {
    pub binds: Vec<Bind>,
    pub up_at_ms: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Bind {
    pub at_ms: f64,
}

/// The hub's deliver_sm_resp to a bad or very long deliver_sm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Answer {
    pub kind: String,
    pub status: u32,
}

#[derive(Deserialize)]
struct Ready {
    smpp_port: u16,
    control_port: u16,
}

/// A running simulator; killed on drop.
pub struct Smsc {
    _child: Child,
    smpp_port: u16,
    control: String,
    http: reqwest::Client,
}

/// Start the simulator accepting binds with these credentials.
pub async fn start(system_id: &str, password: &str) -> anyhow::Result<Smsc> {
    Smsc::start(system_id, password).await
}

impl Smsc {
    pub async fn start(system_id: &str, password: &str) -> anyhow::Result<Smsc> {
        let dir = crate::repo_root().join("tests/peers/smsc");
        if !dir.join("node_modules/smpp").is_dir() {
            bail!(
                "the SMSC simulator's dependencies are missing: run `npm ci --prefix tests/peers/smsc` (in {})",
                crate::repo_root().display()
            );
        }
        let mut child = Command::new("node")
            .arg(dir.join("smsc.js"))
            .args([
                "--port",
                "0",
                "--system-id",
                system_id,
                "--password",
                password,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting `node` for the SMSC simulator (is Node.js installed?)")?;
        let stdout = child
            .stdout
            .take()
            .context("simulator stdout not captured")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_millis(READY_TIMEOUT_MS), lines.next_line())
            .await
            .context("the SMSC simulator did not print its ports in time")?
            .context("reading the SMSC simulator's stdout")?
            .context("the SMSC simulator exited before it was ready")?;
        let ready: Ready = serde_json::from_str(&line)
            .with_context(|| format!("unexpected ready line from the simulator: {line}"))?;
        // Keep draining stdout so the simulator never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(CONTROL_TIMEOUT_MS))
            .build()?;
        Ok(Smsc {
            _child: child,
            smpp_port: ready.smpp_port,
            control: format!("http://127.0.0.1:{}", ready.control_port),
            http,
        })
    }

    pub fn smpp_port(&self) -> u16 {
        self.smpp_port
    }

    /// Every `submit_sm` accepted so far, in order.
    pub async fn messages(&self) -> anyhow::Result<Vec<SmscMessage>> {
        let resp = self
            .http
            .get(format!("{}/messages", self.control))
            .send()
            .await?;
        Ok(resp.error_for_status()?.json().await?)
    }

    /// The submits accepted after the first `since` (cheap to poll in a storm).
    pub async fn messages_since(&self, since: usize) -> anyhow::Result<Vec<SmscMessage>> {
        let resp = self
            .http
            .get(format!("{}/messages?since={since}", self.control))
            .send()
            .await?;
        Ok(resp.error_for_status()?.json().await?)
    }

    /// A contact's mobile-originated SMS, pushed to every bound session.
    pub async fn reply(&self, from: &str, to: &str, text: &str) -> anyhow::Result<()> {
        self.post(
            "/reply",
            serde_json::json!({ "from": from, "to": to, "text": text }),
        )
        .await
    }

    /// `{throttle_per_s, undeliverable, reject, garbage_next, down,
    /// bad_after_bind, redeliver}`, any subset.
    pub async fn configure(&self, config: serde_json::Value) -> anyhow::Result<()> {
        self.post("/config", config).await
    }

    /// Send `n` deliver_sm replies `{text}-{i}` from `from` at once, with no
    /// window (each counted in `acked`).
    pub async fn flood(&self, n: usize, from: &str, text: &str) -> anyhow::Result<()> {
        self.post(
            "/flood",
            serde_json::json!({ "n": n, "from": from, "text": text }),
        )
        .await
    }

    /// The submit_sm of `message_id` as it came on the wire, in hex
    /// (header included).
    pub async fn submit_pdu_hex(&self, message_id: &str) -> anyhow::Result<String> {
        let all: Vec<serde_json::Value> = self.get("/messages").await?;
        all.iter()
            .find(|m| m["message_id"] == message_id)
            .and_then(|m| m["pdu_hex"].as_str())
            .map(str::to_string)
            .with_context(|| format!("no submit_sm bytes for message {message_id}"))
    }

    /// How the hub answered the flood so far.
    pub async fn acked(&self) -> anyhow::Result<Acked> {
        self.get("/acked").await
    }

    /// Every successful bind so far, and the end of the last outage.
    pub async fn binds(&self) -> anyhow::Result<Binds> {
        self.get("/binds").await
    }

    /// The hub's answers to bad or very long deliver_sm.
    pub async fn answers(&self) -> anyhow::Result<Vec<Answer>> {
        self.get("/answers").await
    }

    /// An outage: every socket cut and every new connection closed at
    /// once while `down`; `false` ends it.
    pub async fn set_down(&self, down: bool) -> anyhow::Result<()> {
        self.configure(serde_json::json!({ "down": down })).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .http
            .get(format!("{}{path}", self.control))
            .send()
            .await?;
        Ok(resp.error_for_status()?.json().await?)
    }

    /// Destroy every SMPP socket, as a network cut would.
    pub async fn drop_connections(&self) -> anyhow::Result<()> {
        self.post("/drop", serde_json::json!({})).await
    }

    /// Forget the messages received so far.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.post("/reset", serde_json::json!({})).await
    }

    /// Poll until at least `n` messages were accepted, or fail at `deadline`.
    pub async fn wait_for_messages(
        &self,
        n: usize,
        deadline: Duration,
    ) -> anyhow::Result<Vec<SmscMessage>> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let messages = self.messages().await?;
            if messages.len() >= n {
                return Ok(messages);
            }
            if tokio::time::Instant::now() >= until {
                bail!(
                    "the SMSC received {} messages, expected {n} within {deadline:?}",
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await?;
        resp.error_for_status()
            .with_context(|| format!("SMSC control {path}"))?;
        Ok(())
    }
}
