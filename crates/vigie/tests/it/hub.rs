//! The test kit for process tests: a fresh directory, free loopback ports,
//! `vigie serve` as a child process (killed on drop), a signed button, and
//! polling with a deadline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin, Command};
use vigie_core::{PhoneNumber, Timestamp};
use vigie_hub::config::Config;
use vigie_hub::store::{NewContact, NewShop, Relation, Store};
use vigie_proto::signature::{DeviceKey, new_nonce};
use vigie_proto::{EnrollRequest, EnrollResponse};

pub const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");
/// The log gateway: SMS recorded in the store, printed nowhere.
pub const LOG_GATEWAY: &str = "[[gateways]]\nkind = \"log\"\nname = \"phones\"\n";
/// How long a test waits for something that a working hub does in well
/// under a second; generous for a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL_MS: u64 = 20;

/// A fresh directory, removed on drop unless the test failed.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Poll `f` until it gives a value, or fail the test at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
    }
}

/// A hub's configuration file: listen on `port`, database in `dir`, no
/// escalation beyond the first tier during a test, then `extra` (gateways).
pub fn write_config(dir: &TempDir, port: u16, extra: &str) -> PathBuf {
    let store = vigie_testkit::store::toml(&dir.0, "hub.db").expect("the test store");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         {store}\
         [escalation]\ntier_timeout_s = 3600\nrepeat = false\n\
         {extra}"
    );
    let path = dir.path("vigie.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The hub's store, opened from the test on the same database.
pub fn open_store(config: &Path) -> Store {
    let text = std::fs::read_to_string(config).expect("config");
    let config = Config::parse(&text, []).expect("valid config");
    let rules = vigie_hub::app::rules_from(&config, true);
    Store::open(&config.store.location(), rules).expect("open the hub's database")
}

/// `vigie serve` as a child process; SIGKILLed on drop.
pub struct HubProcess {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl HubProcess {
    /// Start `vigie serve --config FILE` and wait until `/healthz` answers.
    pub async fn start(dir: &TempDir, config: &Path, port: u16) -> Self {
        Self::start_with_env(dir, config, port, &[]).await
    }

    /// [`HubProcess::start`] with more environment variables.
    pub async fn start_with_env(
        dir: &TempDir,
        config: &Path,
        port: u16,
        env: &[(&str, String)],
    ) -> Self {
        let n = std::fs::read_dir(&dir.0).map(|d| d.count()).unwrap_or(0);
        let log = dir.path(&format!("hub-{n}.log"));
        let out = std::fs::File::create(&log).expect("hub log");
        let err = out.try_clone().expect("hub log");
        let child = Command::new(VIGIE)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("VIGIE_LOG", "info")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("start vigie serve");
        let mut hub = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let healthz = format!("{}/healthz", hub.url);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(status) = hub.child.try_wait().expect("try_wait") {
                panic!("vigie serve exited ({status}) at start:\n{}", hub.log());
            }
            if let Ok(r) = http.get(&healthz).send().await
                && r.status().is_success()
            {
                return hub;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "vigie serve did not answer /healthz within {DEADLINE:?}:\n{}",
                hub.log()
            );
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
    }

    /// What the hub printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM (as systemd or a container stop sends), and wait for the exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the hub runs");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM sent");
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the hub stops within the deadline")
            .expect("wait for the hub")
    }

    /// kill -9, and wait until the process is gone.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL the hub");
        let status = self.child.wait().await.expect("wait for the hub");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

/// Run `vigie ARGS…` to completion.
pub async fn vigie(args: &[&str]) -> std::process::Output {
    Command::new(VIGIE)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run vigie")
}

pub fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64,
    )
}

/// A shop in Riom; `reference` and `holder` make it distinct.
pub fn shop(reference: &str, name: &str, holder: &str) -> NewShop {
    NewShop {
        reference: reference.into(),
        name: name.into(),
        address: "12 rue de la République".into(),
        insee: "63300".into(),
        commune: "Riom".into(),
        postcode: "63200".into(),
        departement: "63".into(),
        lat: 45.894,
        lon: 3.113,
        rural: false,
        holder_name: "Jeanne Martin".into(),
        holder_phone: PhoneNumber::parse(holder).expect("holder phone"),
        opening_hours: "mo-sa 07:00-19:30".into(),
    }
}

/// A police contact (approved at once, no opt-in) of `shop_id`, tier 1.
pub async fn police_contact(store: &Store, shop_id: i64, name: &str, phone: &str) {
    store
        .add_contact(
            NewContact {
                shop_id: Some(shop_id),
                name: name.into(),
                phone: PhoneNumber::parse(phone).expect("contact phone"),
                relation: Relation::Police,
                tier: 1,
            },
            now(),
        )
        .await
        .expect("add contact");
}

/// Storm shop `i`'s holder.
pub fn storm_holder(i: usize) -> String {
    format!("+3361{i:07}")
}

/// Storm shop `i`'s two police contacts (approved at once).
pub fn storm_contacts(i: usize) -> [String; 2] {
    [format!("+3362{i:07}"), format!("+3363{i:07}")]
}

/// `shops` shops for a storm, references `{prefix}000`…, each with its
/// holder ([`storm_holder`]) and two police contacts ([`storm_contacts`]);
/// their ids in order.
pub async fn storm_shops(store: &Store, prefix: &str, shops: usize) -> Vec<i64> {
    let new: Vec<_> = (0..shops)
        .map(|i| {
            shop(
                &format!("{prefix}{i:03}"),
                &format!("Tabac n°{i}"),
                &storm_holder(i),
            )
        })
        .collect();
    store.import_shops(new, now()).await.expect("import");
    let ids: Vec<i64> = store
        .shops()
        .await
        .expect("shops")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), shops);
    futures::future::join_all(ids.iter().enumerate().flat_map(|(i, &id)| {
        storm_contacts(i)
            .into_iter()
            .zip(["Agent Alpha", "Agent Bravo"])
            .map(move |(phone, name)| async move { police_contact(store, id, name, &phone).await })
    }))
    .await;
    ids
}

/// Wait until no SMS is left to send.
pub async fn drained(store: &Store) {
    eventually("the outbox to drain", || async {
        store
            .pending_notifications(Timestamp(i64::MAX), 1)
            .await
            .expect("pending")
            .is_empty()
            .then_some(())
    })
    .await;
}

/// A button that signs its requests as a box does.
pub struct Button {
    pub id: String,
    pub(crate) key: DeviceKey,
    pub(crate) hub: String,
    pub(crate) http: reqwest::Client,
}

impl Button {
    /// Enrol with a fresh code for `shop_id`.
    pub async fn enroll(store: &Store, hub: &str, shop_id: i64) -> Self {
        let code = store
            .new_enrolment_code(shop_id, now())
            .await
            .expect("enrolment code");
        let key = DeviceKey::generate();
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{hub}/v1/enroll"))
            .json(&EnrollRequest {
                code,
                public_key: key.public_key_b64(),
                version: "test".into(),
            })
            .send()
            .await
            .expect("enroll");
        assert_eq!(resp.status(), 201, "enrolment accepted");
        let e: EnrollResponse = resp.json().await.expect("enroll body");
        Self {
            id: e.device_id,
            key,
            hub: hub.to_string(),
            http,
        }
    }

    /// Press: raise alarm `id` now. Err if the hub could not be reached.
    pub async fn press(&self, id: uuid::Uuid) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let t = now().as_ms();
        let body = serde_json::json!({
            "alarm_id": id, "pressed_at_ms": t, "sent_at_ms": t, "recording": false
        })
        .to_string();
        let h = self.key.sign(
            &self.id,
            "POST",
            "/v1/alarms",
            body.as_bytes(),
            t / 1_000,
            &new_nonce(),
        );
        let resp = self
            .http
            .post(format!("{}/v1/alarms", self.hub))
            .header("content-type", "application/json")
            .header("content-digest", h.content_digest)
            .header("signature-input", h.signature_input)
            .header("signature", h.signature)
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, json))
    }
}

/// An E.164 number's digits, as SMSCs write destinations.
pub fn digits(phone: &str) -> String {
    PhoneNumber::parse(phone)
        .expect("phone")
        .as_e164()
        .trim_start_matches('+')
        .to_string()
}

/// `vigie agent --config FILE` with its button on a pipe; SIGKILLed on drop.
pub struct AgentProcess {
    child: Child,
    button: ChildStdin,
    stdout: Arc<Mutex<Vec<String>>>,
    log: PathBuf,
}

impl AgentProcess {
    pub fn start(dir: &TempDir, config: &Path) -> Self {
        let n = std::fs::read_dir(&dir.0).map(|d| d.count()).unwrap_or(0);
        let log = dir.path(&format!("agent-{n}.log"));
        let mut child = Command::new(VIGIE)
            .arg("agent")
            .arg("--config")
            .arg(config)
            .env("VIGIE_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("agent log"))
            .kill_on_drop(true)
            .spawn()
            .expect("start vigie agent");
        let button = child.stdin.take().expect("stdin");
        let out = child.stdout.take().expect("stdout");
        let stdout: Arc<Mutex<Vec<String>>> = Arc::default();
        let lines = stdout.clone();
        tokio::spawn(async move {
            let mut out = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = out.next_line().await {
                lines.lock().expect("lock").push(line);
            }
        });
        Self {
            child,
            button,
            stdout,
            log,
        }
    }

    /// `p`, `d` or `l` on the button.
    pub async fn button(&mut self, command: &str) {
        self.button
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("the button");
        self.button.flush().await.expect("the button");
    }

    /// What the agent logged so far, without terminal colours.
    pub fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut plain = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                // ESC [ parameters m
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// The first line of standard output containing `needle`.
    pub async fn line(&mut self, needle: &str, deadline: Duration) -> String {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(l) = self
                .stdout
                .lock()
                .expect("lock")
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "vigie agent exited ({status}) before printing {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                tokio::time::Instant::now() < end,
                "vigie agent did not print {needle:?} within {deadline:?}; it printed {:?} and logged:\n{}",
                self.stdout.lock().expect("lock"),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
    }

    pub async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL the agent");
        let status = self.child.wait().await.expect("wait for the agent");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

/// An `[[gateways]]` section for the SMSC simulator (system id `vigie`, password `s3cret`).
pub fn smpp_gateway(smsc: &vigie_testkit::smsc::Smsc, source_addr: &str, replies: bool) -> String {
    format!(
        "[[gateways]]\nkind = \"smpp\"\nname = \"smsc\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"vigie\"\npassword = \"s3cret\"\nsource_addr = \"{source_addr}\"\nreplies = {replies}\n",
        smsc.smpp_port()
    )
}
