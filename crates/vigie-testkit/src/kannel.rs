//! Kannel (bearerbox + smsbox + fakesmsc) as an HTTP SMS gateway peer.
//!
//! `Kannel::start` writes a `kannel.conf` into a fresh temporary directory,
//! on free loopback ports, and starts Debian's `/usr/sbin/bearerbox`,
//! `/usr/sbin/smsbox` and `/usr/lib/kannel/test/fakesmsc` (package
//! `kannel-extras`). The hub sends through smsbox's `sendsms` interface;
//! fakesmsc plays the phones and prints what they receive; delivery
//! reports come back on each message's `dlr-url`; replies are injected with
//! a second, short-lived fakesmsc and reach the hub on smsbox's `get-url`.
//!
//! Quirks found by experiment (Kannel 1.4.5):
//! - A `smsc = fake` connection serves one fakesmsc client at a time: a
//!   second client is not read until the first disconnects. So replies go
//!   through a second fake connection (`smsc-id = inject`) whose
//!   `allowed-smsc-id` keeps outgoing messages off it.
//! - fakesmsc prints what it receives on stderr, as
//!   `Got message N: <from to text TEXT>` (UTF-8) or
//!   `<from to ucs-2 URL-ENCODED-UTF-16BE>`; `-m 0` sends nothing.
//! - `fakesmsc -m 1` does not exit after sending: we wait until bearerbox's
//!   access log shows the message, then kill it.
//! - With `charset=UTF-8`, `coding=0` converts the text to GSM 03.38 (an `ê`
//!   becomes `?`); `coding=2` sends UCS-2. The fake SMSC reports each
//!   message twice on its `dlr-url`: `%d` = 8 (SMSC accepted), then 1
//!   (delivered).
//! - Kannel reads `%` in `get-url`/`dlr-url` as its own escapes, so the URLs
//!   we give it carry no percent-encoded characters of their own.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

const BEARERBOX: &str = "/usr/sbin/bearerbox";
const SMSBOX: &str = "/usr/sbin/smsbox";
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

/// How long bearerbox and smsbox may take to listen and connect; generous
/// for a loaded 2-core CI machine, short enough to fail fast when broken.
const READY_TIMEOUT_MS: u64 = 15_000;
/// How long an injected reply may take to reach bearerbox.
const INJECT_TIMEOUT_MS: u64 = 10_000;
/// Between two looks while waiting for Kannel.
const POLL_INTERVAL_MS: u64 = 25;
/// A request to a local Kannel port; past this it is stuck.
const HTTP_TIMEOUT_MS: u64 = 2_000;
/// Lines of each Kannel log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 30;

const ADMIN_PASSWORD: &str = "vigie-admin";
const SENDSMS_USERNAME: &str = "vigie";
const SENDSMS_PASSWORD: &str = "vigie-sendsms";

/// The number contacts reply to (the receiver of injected replies).
pub const MO_RECEIVER: &str = "33700000001";

/// `@NAME@` tokens are filled in by `Kannel::start`.
const KANNEL_CONF: &str = r#"
group = core
admin-port = @ADMIN_PORT@
admin-interface = 127.0.0.1
admin-password = @ADMIN_PASSWORD@
smsbox-port = @SMSBOX_PORT@
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "@DIR@/bearerbox.log"
log-level = 0
access-log = "@DIR@/access.log"
dlr-storage = internal

# Outgoing messages: fakesmsc connects here and prints what phones receive.
group = smsc
smsc = fake
smsc-id = fake
port = @FAKE_PORT@
connect-allow-ip = 127.0.0.1

# Replies: a short-lived fakesmsc sends one message here. A fake connection
# serves one client at a time, hence a second one; only messages routed to
# "inject" may leave through it, i.e. none.
group = smsc
smsc = fake
smsc-id = inject
allowed-smsc-id = inject
port = @INJECT_PORT@
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = @SMSBOX_PORT@
sendsms-port = @SENDSMS_PORT@
sendsms-interface = 127.0.0.1
log-file = "@DIR@/smsbox.log"
log-level = 0

group = sendsms-user
username = @SENDSMS_USERNAME@
password = @SENDSMS_PASSWORD@
concatenation = true
max-messages = 10

# Every reply goes to the hub; %p = sender, %a = the whole text.
# max-messages = 0: smsbox answers nothing to the contact.
group = sms-service
keyword = default
catch-all = yes
max-messages = 0
get-url = "@REPLY_URL@"
"#;

/// One message a phone received, as fakesmsc printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSms {
    pub from: String,
    /// Destination digits, without '+'.
    pub to: String,
    pub text: String,
}

/// A running Kannel; its processes are killed on drop.
pub struct Kannel {
    dir: PathBuf,
    sendsms_port: u16,
    inject_port: u16,
    children: Vec<Child>,
    received: Arc<Mutex<Vec<FakeSms>>>,
    /// One injection at a time: the inject connection takes one client.
    inject_lock: Mutex<()>,
}

/// Start Kannel forwarding replies to `reply_url`.
pub async fn start(reply_url: &str) -> anyhow::Result<Kannel> {
    Kannel::start(reply_url).await
}

impl Kannel {
    /// Starts Kannel; replies are forwarded to
    /// `reply_url` + `from=%p&text=%a` (joined with `?` or `&`).
    pub async fn start(reply_url: &str) -> anyhow::Result<Kannel> {
        for binary in [BEARERBOX, SMSBOX, FAKESMSC] {
            if !Path::new(binary).is_file() {
                bail!(
                    "{binary} is missing: install Kannel with `apt-get install kannel kannel-extras`"
                );
            }
        }
        if reply_url.contains(['%', '"', '\n']) {
            bail!(
                "reply URL {reply_url:?} must not contain '%', '\"' or a newline (Kannel rewrites '%')"
            );
        }
        let separator = if reply_url.contains('?') { '&' } else { '?' };
        let get_url = format!("{reply_url}{separator}from=%p&text=%a");

        let dir = unique_temp_dir()?;
        let [
            admin_port,
            smsbox_port,
            fake_port,
            inject_port,
            sendsms_port,
        ] = free_ports::<5>()?;
        let conf = KANNEL_CONF
            .replace("@DIR@", &dir.display().to_string())
            .replace("@ADMIN_PORT@", &admin_port.to_string())
            .replace("@ADMIN_PASSWORD@", ADMIN_PASSWORD)
            .replace("@SMSBOX_PORT@", &smsbox_port.to_string())
            .replace("@FAKE_PORT@", &fake_port.to_string())
            .replace("@INJECT_PORT@", &inject_port.to_string())
            .replace("@SENDSMS_PORT@", &sendsms_port.to_string())
            .replace("@SENDSMS_USERNAME@", SENDSMS_USERNAME)
            .replace("@SENDSMS_PASSWORD@", SENDSMS_PASSWORD)
            .replace("@REPLY_URL@", &get_url);
        let conf_path = dir.join("kannel.conf");
        std::fs::write(&conf_path, conf)
            .with_context(|| format!("writing {}", conf_path.display()))?;

        let mut kannel = Kannel {
            dir: dir.clone(),
            sendsms_port,
            inject_port,
            children: Vec::new(),
            received: Arc::new(Mutex::new(Vec::new())),
            inject_lock: Mutex::new(()),
        };
        kannel.children.push(spawn_box(
            BEARERBOX,
            &conf_path,
            &dir.join("bearerbox.out"),
        )?);

        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(HTTP_TIMEOUT_MS))
            .build()?;
        let status_url =
            format!("http://127.0.0.1:{admin_port}/status.txt?password={ADMIN_PASSWORD}");
        let sendsms_url = format!("http://127.0.0.1:{sendsms_port}/cgi-bin/sendsms");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
        // smsbox and fakesmsc give up at once if bearerbox is not listening
        // yet: each is started once bearerbox answers, and again if it quit.
        let mut smsbox: Option<Child> = None;
        let mut phones: Option<Child> = None;
        loop {
            if let Some(status) = kannel.children[0].try_wait()? {
                bail!(
                    "bearerbox exited ({status}) while starting\n{}",
                    kannel.logs()
                );
            }
            let status = bearerbox_status(&http, &status_url).await;
            if status
                .as_deref()
                .is_some_and(|s| s.contains("Status: running"))
            {
                if exited(&mut smsbox)? {
                    smsbox = Some(spawn_box(SMSBOX, &conf_path, &dir.join("smsbox.out"))?);
                }
                if exited(&mut phones)? {
                    phones = Some(kannel.spawn_phones(fake_port)?);
                }
            }
            let phones_online = status.as_deref().is_some_and(|s| {
                s.lines()
                    .any(|l| l.trim_start().starts_with("fake[fake]") && l.contains("(online"))
            });
            if phones_online && http.get(&sendsms_url).send().await.is_ok() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                kannel.children.extend(smsbox.into_iter().chain(phones));
                bail!(
                    "Kannel did not come up within {READY_TIMEOUT_MS} ms\n{}",
                    kannel.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
        kannel.children.extend(smsbox.into_iter().chain(phones));
        Ok(kannel)
    }

    /// Starts the fakesmsc that plays the phones, collecting what it prints.
    fn spawn_phones(&self, fake_port: u16) -> anyhow::Result<Child> {
        let mut child = Command::new(FAKESMSC)
            .args([
                "-H",
                "127.0.0.1",
                "-r",
                &fake_port.to_string(),
                "-m",
                "0",
                "0 0 text unused",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {FAKESMSC}"))?;
        let stderr = child.stderr.take().context("fakesmsc stderr")?;
        let received = self.received.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            // A text with newlines spans several lines, up to the closing '>'.
            let mut pending: Option<String> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                let entry = match pending.take() {
                    Some(mut p) => {
                        p.push('\n');
                        p.push_str(&line);
                        p
                    }
                    None => match line.split_once("Got message ") {
                        Some((_, rest)) => rest.to_string(),
                        None => continue,
                    },
                };
                if !entry.ends_with('>') {
                    pending = Some(entry);
                    continue;
                }
                if let Some(sms) = parse_fakesmsc_line(&entry) {
                    received.lock().await.push(sms);
                }
            }
        });
        Ok(child)
    }

    /// What phones received so far, in order.
    pub async fn received(&self) -> Vec<FakeSms> {
        self.received.lock().await.clone()
    }

    /// Waits until phones received at least `count` messages.
    pub async fn wait_for_received(
        &self,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<FakeSms>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received().await;
            if received.len() >= count {
                return Ok(received);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "phones received {} of {count} messages: {received:?}\n{}",
                    received.len(),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
    }

    /// The request template for `vigie_hub::gateway::http::HttpConfig::url`.
    pub fn sendsms_url_template(&self) -> String {
        format!(
            "http://127.0.0.1:{}/cgi-bin/sendsms?username={SENDSMS_USERNAME}&password={SENDSMS_PASSWORD}\
             &from={{from}}&to={{to}}&text={{text}}&charset=UTF-8&coding={{coding}}\
             &dlr-mask=31&dlr-url={{dlr_url}}",
            self.sendsms_port
        )
    }

    /// The directory holding `kannel.conf` and the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A contact's phone `from` (digits, no '+') sends `text` to
    /// [`MO_RECEIVER`]; returns once bearerbox has received it (smsbox then
    /// calls the reply URL).
    pub async fn inject_reply(&self, from: &str, text: &str) -> anyhow::Result<()> {
        if from.is_empty() || !from.bytes().all(|b| b.is_ascii_digit()) {
            bail!("inject_reply: sender {from:?} must be digits");
        }
        let _one_at_a_time = self.inject_lock.lock().await;
        let before = self.injected_count();
        let message = format!("{from} {MO_RECEIVER} text {text}");
        let mut child = Command::new(FAKESMSC)
            .args([
                "-H",
                "127.0.0.1",
                "-r",
                &self.inject_port.to_string(),
                "-m",
                "1",
                &message,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {FAKESMSC}"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(INJECT_TIMEOUT_MS);
        let outcome = loop {
            if self.injected_count() > before {
                break Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "bearerbox did not receive the injected reply within {INJECT_TIMEOUT_MS} ms\n{}",
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        };
        // fakesmsc -m 1 waits for answers forever; it has done its part.
        let _ = child.start_kill();
        let _ = child.wait().await;
        outcome
    }

    /// Messages bearerbox received on the inject connection, per its access log.
    fn injected_count(&self) -> usize {
        std::fs::read_to_string(self.dir.join("access.log"))
            .map(|log| {
                log.lines()
                    .filter(|l| l.contains("Receive SMS [SMSC:inject]"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The tail of each Kannel log, for error messages.
    pub fn logs(&self) -> String {
        let mut out = format!("Kannel directory: {}\n", self.dir.display());
        for name in [
            "bearerbox.out",
            "bearerbox.log",
            "smsbox.out",
            "smsbox.log",
            "access.log",
        ] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            out.push_str(&format!(
                "--- {name} (last {} lines)\n{}\n",
                tail.len(),
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
        // Keep the configuration and logs of a failed test to look at.
        if std::thread::panicking() {
            eprintln!("Kannel logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn spawn_box(binary: &str, conf: &Path, out: &Path) -> anyhow::Result<Child> {
    // Appended: a box restarted while bearerbox starts keeps its first words.
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let err = out.try_clone()?;
    Command::new(binary)
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {binary}"))
}

/// bearerbox's status page, once its admin port answers.
async fn bearerbox_status(http: &reqwest::Client, status_url: &str) -> Option<String> {
    http.get(status_url).send().await.ok()?.text().await.ok()
}

/// Whether a child is not running (never started, or quit).
fn exited(child: &mut Option<Child>) -> anyhow::Result<bool> {
    Ok(match child {
        None => true,
        Some(c) => c.try_wait()?.is_some(),
    })
}

/// `from to type data>` (after "Got message N: <") → a message.
fn parse_fakesmsc_line(entry: &str) -> Option<FakeSms> {
    let body = entry.split_once(": <")?.1.strip_suffix('>')?;
    let mut parts = body.splitn(4, ' ');
    let from = parts.next()?.to_string();
    let to = parts.next()?.to_string();
    let kind = parts.next()?;
    let data = parts.next().unwrap_or("");
    let text = match kind {
        "ucs-2" | "ucs2" => {
            let bytes = url_decode(data);
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        "data" => String::from_utf8_lossy(&url_decode(data)).into_owned(),
        _ => data.to_string(),
    };
    Some(FakeSms { from, to, text })
}

/// fakesmsc's URL encoding: `%XX` and `+` for a 0x20 byte.
fn url_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A fresh directory under the system temp dir, unique per process and call.
fn unique_temp_dir() -> anyhow::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vigie-kannel-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `N` distinct loopback ports that were free a moment ago.
fn free_ports<const N: usize>() -> anyhow::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("picking free loopback ports")?;
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fakesmsc_output() {
        assert_eq!(
            parse_fakesmsc_line("1: <12345 33612345678 text Café à l'èù & +>"),
            Some(FakeSms {
                from: "12345".into(),
                to: "33612345678".into(),
                text: "Café à l'èù & +".into()
            })
        );
        // As Kannel 1.4.5 printed "Fête ça €" sent with coding=2.
        assert_eq!(
            parse_fakesmsc_line(
                "5: <12345 33612345678 ucs-2 %00F%00%EA%00t%00e%00+%00%E7%00a%00++%AC>"
            )
            .map(|s| s.text),
            Some("Fête ça €".into())
        );
        assert_eq!(parse_fakesmsc_line("garbage"), None);
    }
}
