//! `vigie bench dc09`: the SIA DC-09 receiver's figures. `vigie serve` runs
//! as its own process (so that its resident memory can be read) on a fresh
//! store, with a DC-09 TCP listener and an SMPP gateway to the SMSC
//! simulator. The transmitters are this process's own load client, built on
//! the hub's codec crate: one TCP connection per transmitter, one frame at a
//! time (stop-and-wait, as panels send), every reply read back and checked
//! (an ACK for the frame's account and sequence, decrypted for AES).
//!
//! In order: the hub's resident memory per idle connection; one alarm at a
//! time on an idle hub (the frame's last byte written → the ACK read, and →
//! the SMSC's record of the first `submit_sm`), beside a signed raise over
//! HTTP as the peer; the ACK's latency with 1, 50 and 200 transmitters
//! sending alarms at once, clear and AES-128; then link tests sustained by
//! 200 transmitters.

use crate::bench::{
    bench_postgres, keyed, ms_since, pct, proc_cpu_s, proc_status_mib, report, sorted, stop_child,
    store_words, verdict, wall_ms,
};
use crate::device::{Button, now_ms};
use anyhow::{Context as _, bail};
use rand::SeedableRng as _;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use uuid::Uuid;
use vigie_core::{PhoneNumber, Timestamp};
use vigie_dc09::{Account, Frame, Header, Key, Reply, Seq, Token};
use vigie_hub::config::Config;
use vigie_hub::store::{NewContact, NewTransmitter, Relation, Store};
use vigie_testkit::smsc::Smsc;

const SYSTEM_ID: &str = "vigie";
const PASSWORD: &str = "bench";
/// Concurrent transmitters of the latency phases (the 1, 50 and 200).
const CONCURRENCY: [usize; 3] = [1, 50, 200];
/// Transmitters of the sustained phase: the most of `CONCURRENCY`.
const SUSTAINED_TRANSMITTERS: usize = 200;
/// Shops seeded: one clear and one AES-128 transmitter each, one contact.
const SHOPS: usize = 200;
/// Accounts: clear ones from this hex number, AES ones from the next.
const CLEAR_ACCOUNT_BASE: usize = 0x1000;
const AES_ACCOUNT_BASE: usize = 0x2000;
/// The AES-128 key, as a panel's menu shows it (16 ASCII characters).
const KEY_ASCII: &str = "0123456789ABCDEF";
/// Contact numbers: +33 7 followed by 8 digits from this base.
const CONTACT_BASE: usize = 10_000_000;
/// SMS per alarm: the contact's alert and the holder's confirmation.
const SMS_PER_ALARM: usize = 2;
/// Escalation tier timeout: longer than the run, so no second round of
/// alerts is mixed into the figures.
const TIER_TIMEOUT_S: u32 = 3_600;
/// Alarms of each intake sent before the measured ones.
const WARMUP_ALARMS: usize = 5;
/// Link tests on one connection before the memory baseline is read.
const WARMUP_LINK_TESTS: usize = 200;
/// Connections opened at once while the idle ones are set up.
const CONNECT_IN_FLIGHT: usize = 64;
/// Connections the hub may hold beyond the idle ones (the load's own).
const CONNECTIONS_SPARE: usize = 256;
/// A reply this late is a failure of the bench.
const REPLY_DEADLINE: Duration = Duration::from_secs(10);
/// A reply longer than this is no DC-09 reply.
const REPLY_BYTES_MAX: usize = 4_096;
/// One alarm's SMS must reach the simulator within this.
const ALARM_DEADLINE: Duration = Duration::from_secs(10);
/// A phase's SMS must all reach the simulator within this.
const DRAIN_DEADLINE: Duration = Duration::from_secs(180);
/// Between two looks at the simulator while one alarm is in flight.
const POLL_MS: u64 = 1;
/// After one alarm's SMS are out, before the next: receipts and outcome
/// writes settle, so each alarm meets an idle hub (as `bench latency`).
const SETTLE_MS: u64 = 10;
/// Before resident memory is read: the hub has finished with connections
/// just closed or just served.
const RSS_SETTLE_MS: u64 = 500;
/// Warm-up of the sustained phase before its window is counted.
const SUSTAINED_WARMUP: Duration = Duration::from_secs(2);
/// How long `vigie serve` may take to answer /healthz and bind the SMSC.
const SERVE_START_DEADLINE: Duration = Duration::from_secs(60);

/// What `vigie bench dc09` is asked.
pub struct Options {
    /// Alarms per latency phase, shared out among its transmitters.
    pub frames: usize,
    /// Alarms one at a time, per intake.
    pub single: usize,
    /// Idle connections held for the memory figure.
    pub idle: usize,
    /// Seconds counted in the sustained phase.
    pub seconds: u64,
    pub no_record: bool,
}

pub async fn dc09(options: Options, postgres: bool) -> anyhow::Result<()> {
    if options.frames == 0 || options.single == 0 || options.idle == 0 || options.seconds == 0 {
        bail!("--frames, --single, --idle-connections and --seconds must be at least 1");
    }
    run(&options, None).await?;
    if postgres {
        let url = bench_postgres()?;
        run(&options, Some(url)).await?;
    }
    Ok(())
}

/// One transmitter of the load client: its account, its key, its next sequence.
struct Transmitter {
    account: Account,
    key: Option<Key>,
    seq: Seq,
    rng: rand::rngs::StdRng,
}

impl Transmitter {
    fn new(account: &str, key: Option<Key>) -> anyhow::Result<Self> {
        Ok(Self {
            account: Account::new(account).map_err(|e| anyhow::anyhow!("{e}"))?,
            key,
            seq: Seq::FIRST,
            rng: rand::rngs::StdRng::from_entropy(),
        })
    }

    /// The next frame: a Contact ID 1120 (panic) or a link test (NULL),
    /// clear or encrypted with the time now.
    fn frame(&mut self, alarm: bool) -> anyhow::Result<(Header, Vec<u8>)> {
        let header = Header::new(self.seq, self.account.clone());
        self.seq = self.seq.next();
        let (token, data) = if alarm {
            (
                Token::AdmCid,
                format!("#{}|1120 01 001", self.account.as_str()).into_bytes(),
            )
        } else {
            (Token::Null, Vec::new())
        };
        let mut f = Frame::new(token, header.clone(), data);
        let bytes = match &self.key {
            Some(k) => {
                f.encrypted = true;
                f.timestamp = vigie_dc09::Timestamp::from_unix_s(now_ms().div_euclid(1_000));
                f.encode_encrypted(k, &mut self.rng)
            }
            None => f.encode_plain(),
        }
        .map_err(|e| anyhow::anyhow!("cannot encode a frame: {e}"))?;
        Ok((header, bytes))
    }
}

/// What one frame took.
struct Exchange {
    /// The frame's last byte written → the reply's last byte read, ms.
    round_trip_ms: f64,
    /// Wall clock just after the write and at the reply, ms since the epoch.
    written_wall_ms: f64,
    acked_wall_ms: f64,
    /// When the reply was read.
    at: Instant,
}

/// One TCP connection to the receiver.
struct Link {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl Link {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to the DC-09 receiver at {addr}"))?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Self {
            reader: BufReader::new(r),
            writer: w,
            buf: Vec::with_capacity(256),
        })
    }

    /// Send `t`'s next frame and read its reply, which must be its ACK.
    async fn exchange(&mut self, t: &mut Transmitter, alarm: bool) -> anyhow::Result<Exchange> {
        let (header, bytes) = t.frame(alarm)?;
        self.writer.write_all(&bytes).await?;
        let written = Instant::now();
        let written_wall_ms = wall_ms();
        self.buf.clear();
        let n = tokio::time::timeout(
            REPLY_DEADLINE,
            (&mut self.reader)
                .take(REPLY_BYTES_MAX as u64)
                .read_until(b'\r', &mut self.buf),
        )
        .await
        .with_context(|| {
            format!(
                "no reply within {REPLY_DEADLINE:?} to {} seq {}",
                header.account.as_ref().map_or("", |a| a.as_str()),
                header.seq
            )
        })??;
        let round_trip_ms = ms_since(written);
        let acked_wall_ms = wall_ms();
        if n == 0 || self.buf.last() != Some(&b'\r') {
            bail!("the receiver closed the connection or sent no whole reply");
        }
        let reply = Reply::parse(&self.buf, t.key.as_ref()).map_err(|e| {
            anyhow::anyhow!(
                "not a reply ({e}): {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })?;
        match &reply {
            Reply::Ack { .. } if reply.answers(&header) => Ok(Exchange {
                round_trip_ms,
                written_wall_ms,
                acked_wall_ms,
                at: Instant::now(),
            }),
            other => bail!("{other:?} to {} seq {}", t.account.as_str(), header.seq),
        }
    }
}

/// `vigie serve` and the SMSC simulator; the hub is killed on drop
/// (SIGINT, a graceful stop, by `stop`).
struct Rig {
    dir: PathBuf,
    smsc: Smsc,
    child: std::process::Child,
    pid: String,
    url: String,
    dc09: SocketAddr,
    /// Destination digits of shop 0's contact and holder.
    contact0: String,
    holder0: String,
    clear: Vec<Transmitter>,
    aes: Vec<Transmitter>,
    code: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

impl Rig {
    async fn start(store: Option<&str>, idle: usize) -> anyhow::Result<Rig> {
        let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await?;
        let dir =
            std::env::temp_dir().join(format!("vigie-bench-dc09-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let http: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let dc09: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let connections = idle + CONNECTIONS_SPARE;
        let toml = format!(
            "[server]\nlisten = \"{http}\"\npublic_url = \"http://{http}\"\n\
             [store]\nsqlite_path = \"{db}\"\n{url}\
             [escalation]\ntier_timeout_s = {TIER_TIMEOUT_S}\n\
             [dc09]\ntcp_listen = \"{dc09}\"\nconnections_max = {connections}\nconnections_per_source_max = {connections}\n\
             [[gateways]]\nkind = \"smpp\"\nname = \"smsc\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             system_id = \"{SYSTEM_ID}\"\npassword = \"{PASSWORD}\"\nsource_addr = \"VIGIE\"\nreplies = false\n",
            db = dir.join("vigie.db").display(),
            url = store
                .map(|u| format!("url = \"{u}\"\n"))
                .unwrap_or_default(),
            port = smsc.smpp_port(),
        );
        let config_path = dir.join("vigie.toml");
        std::fs::write(&config_path, &toml)?;
        let config = Config::parse(&toml, [])?;

        // Seeded through the store before the hub starts.
        let location = config.store.location();
        let rules = vigie_hub::app::rules_from(&config, false);
        let db = tokio::task::spawn_blocking(move || Store::open(&location, rules))
            .await?
            .context("cannot open the bench's store")?;
        let now = Timestamp(now_ms());
        let list = vigie_hub::region::synthetic_shops(SHOPS);
        let holder0 = list[0].holder_phone.digits().to_string();
        let references: Vec<String> = list.iter().map(|s| s.reference.clone()).collect();
        db.import_shops(list, now).await?;
        let rows = db.shops().await?;
        let by_ref: HashMap<&str, i64> =
            rows.iter().map(|s| (s.reference.as_str(), s.id)).collect();
        let key = Key::from_ascii(KEY_ASCII).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut clear = Vec::with_capacity(SHOPS);
        let mut aes = Vec::with_capacity(SHOPS);
        let mut contact0 = String::new();
        for (i, reference) in references.iter().enumerate() {
            let shop_id = *by_ref
                .get(reference.as_str())
                .context("an imported shop is missing")?;
            let phone = PhoneNumber::parse(&format!("+337{:08}", CONTACT_BASE + i))
                .map_err(|e| anyhow::anyhow!("contact number: {e}"))?;
            if i == 0 {
                contact0 = phone.digits().to_string();
            }
            db.add_contact(
                NewContact {
                    shop_id: Some(shop_id),
                    name: "Brigade 1".into(),
                    phone,
                    relation: Relation::Police,
                    tier: 1,
                },
                now,
            )
            .await?;
            for (base, key, list) in [
                (CLEAR_ACCOUNT_BASE, None, &mut clear),
                (AES_ACCOUNT_BASE, Some(key.clone()), &mut aes),
            ] {
                let account = format!("{:X}", base + i);
                db.add_transmitter(
                    NewTransmitter {
                        account: account.clone(),
                        shop_id,
                        key: key.as_ref().map(|_| KEY_ASCII.as_bytes().to_vec()),
                        window_before_s: None,
                        window_after_s: None,
                        supervision_interval_s: None,
                    },
                    now,
                )
                .await?;
                list.push(Transmitter::new(&account, key)?);
            }
        }
        let first_shop = *by_ref
            .get(references[0].as_str())
            .context("the first shop is missing")?;
        let code = db.new_enrolment_code(first_shop, now).await?;
        drop(db);
        println!(
            "  seeded {SHOPS} shops, each with one contact, one clear and one AES-128 transmitter"
        );

        let child = std::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("VIGIE_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log"))?)
            .spawn()
            .context("cannot start vigie serve")?;
        let pid = child.id().to_string();
        let mut rig = Rig {
            dir,
            smsc,
            child,
            pid,
            url: format!("http://{http}"),
            dc09,
            contact0,
            holder0,
            clear,
            aes,
            code,
        };
        let until = Instant::now() + SERVE_START_DEADLINE;
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = rig.child.try_wait()? {
                bail!(
                    "vigie serve exited ({status}); see {}",
                    rig.dir.join("serve.log").display()
                );
            }
            let up = client
                .get(format!("{}/healthz", rig.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let bound = up && !rig.smsc.binds().await?.binds.is_empty();
            if bound {
                break;
            }
            if Instant::now() > until {
                bail!(
                    "vigie serve did not answer /healthz and bind the SMSC within {SERVE_START_DEADLINE:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(rig)
    }

    fn rss_mib(&self) -> anyhow::Result<f64> {
        proc_status_mib(&self.pid, "VmRSS:").context("cannot read the hub's VmRSS")
    }

    async fn stop(mut self) {
        stop_child(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The memory figure: the hub's VmRSS with `n` idle connections (each has
/// sent one link test and read its ACK) minus without, per connection.
struct Memory {
    n: usize,
    without_mib: f64,
    with_mib: f64,
    after_mib: f64,
}

async fn memory(rig: &mut Rig, n: usize) -> anyhow::Result<Memory> {
    let addr = rig.dc09;
    {
        let mut link = Link::connect(addr).await?;
        for _ in 0..WARMUP_LINK_TESTS {
            link.exchange(&mut rig.clear[0], false).await?;
        }
    }
    tokio::time::sleep(Duration::from_millis(RSS_SETTLE_MS)).await;
    let without_mib = rig.rss_mib()?;
    let mut links = Vec::with_capacity(n);
    // Round-robin over the clear accounts, each handed back after its link test.
    let mut slots: Vec<Option<Transmitter>> = std::mem::take(&mut rig.clear)
        .into_iter()
        .map(Some)
        .collect();
    let mut next = 0usize;
    while links.len() < n {
        let batch = CONNECT_IN_FLIGHT.min(n - links.len()).min(slots.len());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let k = next % slots.len();
            next += 1;
            let mut t = slots[k].take().context("a transmitter is already in use")?;
            set.spawn(async move {
                let result = async {
                    let mut link = Link::connect(addr).await?;
                    link.exchange(&mut t, false).await?;
                    anyhow::Ok(link)
                }
                .await;
                (k, t, result)
            });
        }
        let mut failed = None;
        while let Some(joined) = set.join_next().await {
            let (k, t, result) = joined.context("a connecting task panicked")?;
            slots[k] = Some(t);
            match result {
                Ok(link) => links.push(link),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            rig.clear = slots.into_iter().flatten().collect();
            return Err(e.context("an idle connection could not be opened"));
        }
        if links.len() % 500 < batch {
            println!("  idle connections: {}/{n}…", links.len());
        }
    }
    rig.clear = slots.into_iter().flatten().collect();
    tokio::time::sleep(Duration::from_millis(RSS_SETTLE_MS)).await;
    let with_mib = rig.rss_mib()?;
    drop(links);
    tokio::time::sleep(Duration::from_millis(RSS_SETTLE_MS)).await;
    let after_mib = rig.rss_mib()?;
    Ok(Memory {
        n,
        without_mib,
        with_mib,
        after_mib,
    })
}

/// One alarm at a time on an idle hub, per intake: (ack round trip,
/// last byte or request start → first submit_sm, ack → first submit_sm), ms.
#[derive(Default)]
struct Single {
    ack: Vec<f64>,
    to_submit: Vec<f64>,
    ack_to_submit: Vec<f64>,
}

impl Single {
    fn sorted(self) -> Single {
        Single {
            ack: sorted(self.ack),
            to_submit: sorted(self.to_submit),
            ack_to_submit: sorted(self.ack_to_submit),
        }
    }

    fn push(&mut self, ack: f64, to_submit: f64, ack_to_submit: f64) {
        self.ack.push(ack);
        self.to_submit.push(to_submit);
        self.ack_to_submit.push(ack_to_submit);
    }
}

/// Wait for shop 0's alert and confirmation at the simulator: the first
/// alert's wall-clock time.
async fn first_submit(rig: &Rig) -> anyhow::Result<f64> {
    let until = Instant::now() + ALARM_DEADLINE;
    loop {
        let messages = rig.smsc.messages().await?;
        let alert = messages
            .iter()
            .filter(|m| m.to == rig.contact0)
            .map(|m| m.at_ms)
            .fold(f64::INFINITY, f64::min);
        let holder = messages.iter().any(|m| m.to == rig.holder0);
        if alert.is_finite() && holder {
            return Ok(alert);
        }
        if Instant::now() > until {
            bail!(
                "shop 0's alert (seen: {}) and confirmation (seen: {holder}) not at the SMSC within {ALARM_DEADLINE:?}",
                alert.is_finite()
            );
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

async fn single(rig: &mut Rig, n: usize) -> anyhow::Result<[Single; 3]> {
    let (button, _) = Button::enroll(reqwest::Client::new(), &rig.url, &rig.code).await?;
    let mut clear_link = Link::connect(rig.dc09).await?;
    let mut aes_link = Link::connect(rig.dc09).await?;
    let mut out: [Single; 3] = Default::default();
    for i in 0..WARMUP_ALARMS + n {
        for (intake, results) in out.iter_mut().enumerate() {
            rig.smsc.reset().await?;
            let (ack, written, acked) = match intake {
                0 => {
                    let e = clear_link.exchange(&mut rig.clear[0], true).await?;
                    (e.round_trip_ms, e.written_wall_ms, e.acked_wall_ms)
                }
                1 => {
                    let e = aes_link.exchange(&mut rig.aes[0], true).await?;
                    (e.round_trip_ms, e.written_wall_ms, e.acked_wall_ms)
                }
                _ => {
                    let t0 = wall_ms();
                    let start = Instant::now();
                    let now = now_ms();
                    let receipt = button.raise(Uuid::now_v7(), now, false, now).await?;
                    if receipt.duplicate || receipt.contacts_alerting != 1 {
                        bail!(
                            "the signed raise alerts {} contacts, duplicate={}",
                            receipt.contacts_alerting,
                            receipt.duplicate
                        );
                    }
                    (ms_since(start), t0, wall_ms())
                }
            };
            let first = first_submit(rig).await?;
            if i >= WARMUP_ALARMS {
                results.push(ack, first - written, first - acked);
            }
            tokio::time::sleep(Duration::from_millis(SETTLE_MS)).await;
        }
        let done = i + 1;
        if done > WARMUP_ALARMS && (done - WARMUP_ALARMS).is_multiple_of(100) {
            println!("  one at a time: {}/{n}…", done - WARMUP_ALARMS);
        }
    }
    Ok(out)
}

/// A phase with `n` transmitters at once.
struct Load {
    /// Round trips of the counted frames, ms, sorted.
    latencies: Vec<f64>,
    /// Frames counted over `window_s`.
    frames: usize,
    window_s: f64,
    hub_cpu_s: Option<f64>,
    own_cpu_s: Option<f64>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.frames as f64 / self.window_s.max(1e-9)
    }
}

/// `n` transmitters of `aes` or clear accounts, each on its own
/// connection: a link test to open it, then, all together, `per` alarms
/// each (`Some`) or link tests until `window` has passed after a warm-up
/// (`None` for `per`).
async fn load(
    rig: &mut Rig,
    n: usize,
    aes: bool,
    per: Option<usize>,
    window: Duration,
) -> anyhow::Result<Load> {
    let list = if aes { &mut rig.aes } else { &mut rig.clear };
    let transmitters: Vec<Transmitter> = list.drain(..n.min(list.len())).collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(transmitters.len() + 1));
    let addr = rig.dc09;
    let mut set = tokio::task::JoinSet::new();
    for (k, mut t) in transmitters.into_iter().enumerate() {
        let barrier = barrier.clone();
        set.spawn(async move {
            let result = async {
                let mut link = Link::connect(addr).await?;
                link.exchange(&mut t, false).await?;
                anyhow::Ok(link)
            }
            .await;
            // Every task reaches the barrier, even one that failed to connect.
            barrier.wait().await;
            let mut link = result?;
            let start = Instant::now();
            let mut seen: Vec<(Instant, f64)> = Vec::new();
            match per {
                Some(per) => {
                    for _ in 0..per {
                        let e = link.exchange(&mut t, true).await?;
                        seen.push((e.at, e.round_trip_ms));
                    }
                }
                None => {
                    let end = start + SUSTAINED_WARMUP + window;
                    while Instant::now() < end {
                        let e = link.exchange(&mut t, false).await?;
                        seen.push((e.at, e.round_trip_ms));
                    }
                }
            }
            anyhow::Ok((k, t, seen))
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let cpu = |pid: &str| proc_cpu_s(pid);
    // CPU over what is counted: the whole phase of N alarms each, or the
    // sustained phase's window (its tasks run while this one waits).
    let mut cpu_window = None;
    if per.is_none() {
        tokio::time::sleep_until((start + SUSTAINED_WARMUP).into()).await;
        let from = (cpu(&rig.pid), cpu("self"));
        tokio::time::sleep_until((start + SUSTAINED_WARMUP + window).into()).await;
        let to = (cpu(&rig.pid), cpu("self"));
        cpu_window = Some((from, to));
    }
    let (hub_cpu, own_cpu) = (cpu(&rig.pid), cpu("self"));
    let mut back: Vec<Option<Transmitter>> = (0..set.len()).map(|_| None).collect();
    let mut all = Vec::new();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined.context("a transmitter task panicked")? {
            Ok((k, t, seen)) => {
                back[k] = Some(t);
                all.extend(seen);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed();
    let ((hub_from, own_from), (hub_to, own_to)) =
        cpu_window.unwrap_or(((hub_cpu, own_cpu), (cpu(&rig.pid), cpu("self"))));
    let hub_cpu_s = hub_from.zip(hub_to).map(|(a, b)| b - a);
    let own_cpu_s = own_from.zip(own_to).map(|(a, b)| b - a);
    if let Some(e) = first_error {
        return Err(e.context("a transmitter failed"));
    }
    let list = if aes { &mut rig.aes } else { &mut rig.clear };
    let mut returned: Vec<Transmitter> = back.into_iter().flatten().collect();
    returned.append(list);
    *list = returned;
    let (counted, window_s): (Vec<f64>, f64) = match per {
        Some(_) => (all.iter().map(|(_, l)| *l).collect(), elapsed.as_secs_f64()),
        None => {
            let from = start + SUSTAINED_WARMUP;
            let to = from + window;
            (
                all.iter()
                    .filter(|(at, _)| *at >= from && *at < to)
                    .map(|(_, l)| *l)
                    .collect(),
                window.as_secs_f64(),
            )
        }
    };
    Ok(Load {
        frames: counted.len(),
        latencies: sorted(counted),
        window_s,
        hub_cpu_s,
        own_cpu_s,
    })
}

/// Wait until the simulator holds `n` SMS (the phase's alarms all sent),
/// then empty it for the next phase.
async fn drain(rig: &Rig, n: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    rig.smsc
        .wait_for_messages(n, DRAIN_DEADLINE)
        .await
        .with_context(|| format!("the phase's {n} SMS did not all reach the SMSC"))?;
    let took = start.elapsed().as_secs_f64();
    rig.smsc.reset().await?;
    Ok(took)
}

fn triple(v: &[f64]) -> String {
    format!(
        "{:.2} / {:.2} / {:.2}",
        pct(v, 50.0),
        pct(v, 99.0),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn cores(cpu_s: Option<f64>, window_s: f64) -> String {
    cpu_s
        .map(|c| format!("{:.2}", c / window_s.max(1e-9)))
        .unwrap_or_else(|| "?".into())
}

async fn run(options: &Options, store: Option<String>) -> anyhow::Result<()> {
    let store = store.as_deref();
    println!(
        "bench dc09: {} idle connections, {} alarms one at a time per intake, {} alarms per phase with {CONCURRENCY:?} transmitters (clear, AES-128), {} s of link tests by {SUSTAINED_TRANSMITTERS}; store: {}",
        options.idle,
        options.single,
        options.frames,
        options.seconds,
        store_words(store)
    );
    let mut rig = Rig::start(store, options.idle).await?;
    let result = phases(&mut rig, options, store).await;
    rig.stop().await;
    result
}

async fn phases(rig: &mut Rig, options: &Options, store: Option<&str>) -> anyhow::Result<()> {
    println!("  memory: {} idle connections…", options.idle);
    let mem = memory(rig, options.idle).await?;
    let per_conn_kib = (mem.with_mib - mem.without_mib) * 1_024.0 / mem.n as f64;
    println!(
        "  VmRSS {:.1} MiB without, {:.1} MiB with {} idle connections: {per_conn_kib:.1} KiB each",
        mem.without_mib, mem.with_mib, mem.n
    );

    println!("  one alarm at a time: {} per intake…", options.single);
    let [clear1, aes1, http1] = single(rig, options.single).await?;
    let (clear1, aes1, http1) = (clear1.sorted(), aes1.sorted(), http1.sorted());

    let mut rows = Vec::new();
    for n in CONCURRENCY {
        let per = options.frames.div_ceil(n);
        let mut pair = Vec::new();
        for aes in [false, true] {
            println!(
                "  {n} transmitter(s), {} alarms, {}…",
                per * n,
                if aes { "AES-128" } else { "clear" }
            );
            let l = load(rig, n, aes, Some(per), Duration::ZERO).await?;
            let took = drain(rig, l.frames * SMS_PER_ALARM).await?;
            println!(
                "    ACK p50/p99/max {} ms, {:.0} frames/s; their SMS all at the SMSC {took:.1} s after",
                triple(&l.latencies),
                l.rate()
            );
            pair.push(l);
        }
        rows.push((n, pair));
    }

    let window = Duration::from_secs(options.seconds);
    let mut sustained = Vec::new();
    for aes in [false, true] {
        println!(
            "  sustained: {SUSTAINED_TRANSMITTERS} transmitters, link tests, {}…",
            if aes { "AES-128" } else { "clear" }
        );
        let l = load(rig, SUSTAINED_TRANSMITTERS, aes, None, window).await?;
        println!(
            "    {:.0} frames/s, p50/p99/max {} ms",
            l.rate(),
            triple(&l.latencies)
        );
        sustained.push((aes, l));
    }
    let log = std::fs::read_to_string(rig.dir.join("serve.log")).unwrap_or_default();
    let errors = log.lines().filter(|l| l.contains("ERROR")).count();

    let single_row = |what: &str, s: &Single| {
        format!(
            "| {what} | {} | {} | {} |",
            triple(&s.ack),
            triple(&s.to_submit),
            triple(&s.ack_to_submit)
        )
    };
    let ack_ok = pct(&clear1.ack, 99.0) <= 10.0 && pct(&aes1.ack, 99.0) <= 10.0;
    let first_ok = [&clear1, &aes1]
        .iter()
        .all(|s| pct(&s.to_submit, 50.0) <= 5.0 && pct(&s.to_submit, 99.0) <= 25.0);
    let mut table = vec![
        format!(
            "| one alarm at a time on an idle hub ({} each) | ACK p50 / p99 / max (ms) | last byte → first submit_sm p50 / p99 / max (ms) | ACK → first submit_sm p50 / p99 / max (ms) |",
            options.single
        ),
        "| --- | --- | --- | --- |".to_string(),
        single_row("DC-09 ADM-CID 1120, clear, TCP", &clear1),
        single_row("DC-09 ADM-CID 1120, AES-128, TCP", &aes1),
        single_row(
            "peer: signed `POST /v1/alarms` (answer; request start → first submit_sm)",
            &http1,
        ),
        String::new(),
        "| transmitters at once, alarms (1120) | alarms | clear: ACK p50 / p99 / max (ms) | clear: frames/s | AES-128: ACK p50 / p99 / max (ms) | AES-128: frames/s |".to_string(),
        "| ---: | ---: | --- | ---: | --- | ---: |".to_string(),
    ];
    for (n, pair) in &rows {
        table.push(format!(
            "| {n} | {} | {} | {:.0} | {} | {:.0} |",
            pair[0].frames,
            triple(&pair[0].latencies),
            pair[0].rate(),
            triple(&pair[1].latencies),
            pair[1].rate()
        ));
    }
    table.push(String::new());
    table.push(format!(
        "| sustained: {SUSTAINED_TRANSMITTERS} transmitters, link tests (NULL), {} s counted | frames/s | ACK p50 / p99 / max (ms) | hub CPU (cores) | load client CPU (cores) |",
        options.seconds
    ));
    table.push("| --- | ---: | --- | ---: | ---: |".to_string());
    for (aes, l) in &sustained {
        table.push(format!(
            "| {} | {:.0} | {} | {} | {} |",
            if *aes { "AES-128" } else { "clear" },
            l.rate(),
            triple(&l.latencies),
            cores(l.hub_cpu_s, l.window_s),
            cores(l.own_cpu_s, l.window_s)
        ));
    }
    table.push(String::new());
    table.push("| resident memory (`vigie serve`, VmRSS) | value |".to_string());
    table.push("| --- | --- |".to_string());
    table.push(format!(
        "| per idle connection: (with {} − without) / {} | {per_conn_kib:.1} KiB |",
        mem.n, mem.n
    ));
    table.push(format!(
        "| without / with {} idle connections / after closing them | {:.1} / {:.1} / {:.1} MiB |",
        mem.n, mem.without_mib, mem.with_mib, mem.after_mib
    ));
    let table = table.join("\n");
    let notes = format!(
        "`vigie serve` in its own process (log level info, to a file), {store}, an SMPP gateway to the SMSC simulator (window 32), escalation tier timeout {TIER_TIMEOUT_S} s (no second round during the run); \
         {SHOPS} shops, each with one tier-1 contact, one clear and one AES-128 transmitter, seeded through the store before the hub starts. \
         The transmitters are the bench's own load client on the hub's codec crate (`vigie-dc09`), one TCP connection each, stop-and-wait (the next frame once the ACK is read), every reply checked to be the ACK of its account and sequence (decrypted for AES); \
         each alarm frame is a new Contact ID 1120 (its own sequence number), so it raises an alarm whose contact alert and holder confirmation are queued in the transaction that the ACK waits for. \
         ACK times are taken by the client, from just after the frame's last byte is written to the reply's last byte read: an upper bound of the hub's last byte in → ACK out (loopback both ways and the client's scheduling included). \
         Submit times are the simulator's wall-clock record of the first `submit_sm` for the alarm, against this process's wall clock; the hub wakes its dispatcher before it writes the ACK, so ACK → first submit can be below zero. \
         One at a time: the simulator emptied before each alarm, the alarm's two SMS awaited, then {SETTLE_MS} ms, after {WARMUP_ALARMS} warm-up alarms per intake; intakes taken in turn (clear, AES, HTTP) on shop 0. The alarm bars of the brief applied to DC-09 (clear and AES): ACK p99 ≤ 10 ms: {}; first submit p50 ≤ 5 ms, p99 ≤ 25 ms: {}. \
         Ratio in this run: DC-09 clear ACK p50 / signed raise answer p50 = {:.2}. \
         With N transmitters: each opens its connection with a link test, then all start together and send their share of {} alarms; frames/s = alarms / time from the start to the last ACK; the phase's SMS are all at the simulator before the next phase starts. \
         Sustained: link tests (each a durable write: last contact, repeat check) from {SUSTAINED_TRANSMITTERS} transmitters, {} s of warm-up then {} s counted (a frame counts when its ACK arrives in the window); CPU from /proc over the counted window. \
         Memory: {WARMUP_LINK_TESTS} link tests on one connection, closed, {RSS_SETTLE_MS} ms, VmRSS read; then {} connections each send one link test, read its ACK and stay open; {RSS_SETTLE_MS} ms, VmRSS read again; the hub's connection limits set to {} for the run (one source address). \
         `ERROR` lines in the hub's log during the run: {errors}.",
        verdict(ack_ok),
        verdict(first_ok),
        pct(&clear1.ack, 50.0) / pct(&http1.ack, 50.0),
        options.frames,
        SUSTAINED_WARMUP.as_secs(),
        options.seconds,
        mem.n,
        options.idle + CONNECTIONS_SPARE,
        store = store_words(store),
    );
    let (key, title) = keyed(
        "dc09",
        "DC-09: frame → ACK, ACK → first SMS, throughput, memory per connection",
        store,
    );
    report(&key, &title, &table, &notes, options.no_record)
}
