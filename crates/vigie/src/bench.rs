//! Benchmarks of the quality bars: `vigie bench latency` and `vigie bench
//! storm`, then heartbeats, the box, evidence and slow clients (the
//! console's are in `bench_console.rs`, DC-09's in `bench_dc09.rs`). Each
//! runs the real thing on loopback: the npm SMSC simulator
//! (tests/peers/smsc), a hub started in-process on a fresh SQLite file in a
//! temporary folder with the system clock, and signed buttons raising
//! alarms over HTTP. Each prints its figures with the targets and replaces
//! its section of `docs/benchmarks.md` (unless `--no-record`).
//!
//! Times on the wire come from the simulator: it stamps every accepted
//! submit_sm with its wall clock (`performance.timeOrigin + now()`, sub-ms),
//! compared with this process's wall clock taken just before a request.

use crate::device::{Button, now_ms};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use uuid::Uuid;
use vigie_core::gsm::Encoding;
use vigie_core::{PhoneNumber, Timestamp};
use vigie_hub::app::RunningHub;
use vigie_hub::clock::{SharedClock, SystemClock};
use vigie_hub::config::Config;
use vigie_hub::gateway::smpp::{SmppConfig, SmppGateway};
use vigie_hub::gateway::{Gateway, INBOUND_QUEUE_MAX, OutgoingSms};
use vigie_hub::store::{NewContact, Relation};
use vigie_testkit::smsc::{Smsc, SmscMessage};

const SYSTEM_ID: &str = "vigie";
const PASSWORD: &str = "bench";
/// The hub's default SMPP window (`window` of an smpp gateway).
const WINDOW_DEFAULT: usize = 32;
/// Escalation tier timeout in the bench hub: longer than any run, so no
/// second round of alerts (tier timeout, repeat) is mixed into the figures.
const TIER_TIMEOUT_S: u32 = 3_600;
/// Store writes and enrolments in flight while seeding (the store group-commits them).
const SEED_IN_FLIGHT: usize = 128;
/// Alarms raised before the measured ones, to open connections and warm caches.
const WARMUP_ALARMS: usize = 5;
/// How long one alarm of the latency bench may take to reach the SMSC.
const ALARM_DEADLINE_MS: u64 = 10_000;
/// Between two looks at the simulator: short while one alarm is in flight,
/// longer in a storm (each look costs the simulator a little CPU).
const POLL_LATENCY_MS: u64 = 1;
const POLL_STORM_MS: u64 = 50;
/// The storm's deadline, for all the alerts (or every first alert when throttled).
const STORM_DEADLINE_S: u64 = 120;
/// After the last expected alert, look once more this much later for extras.
const STORM_GRACE_MS: u64 = 500;
/// Contact numbers: +33 7 followed by 8 digits from this base.
const CONTACT_BASE: usize = 10_000_000;
const CONTACT_MAX: usize = 89_999_999;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Alarm intake while slow clients hold connections: the durable
    /// acknowledgement p50/p99 idle, then with N slow connections held
    /// (half send a request line and stall, half send nothing).
    SlowClients {
        #[arg(long, default_value_t = 200)]
        alarms: usize,
        #[arg(long, default_value_t = 2_000)]
        connections: usize,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// Signed heartbeats accepted per second by a hub with 100,000 enrolled
    /// boxes, their latency, and the hub's resident memory.
    Heartbeats {
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        /// Measured seconds per phase (after 2 s of warm-up).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// HTTP/1.1 keep-alive connections, one request in flight on each.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Heartbeats signed before the clock starts (each phase stops early if they run out).
        #[arg(long, default_value_t = 300_000)]
        requests: usize,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// The box: press → durable, resident memory, idle CPU, press → direct
    /// SMS on the modem with the hub down.
    Box {
        /// Presses timed through the outbox (and half as many through the agent loop).
        #[arg(long, default_value_t = 1_000)]
        presses: usize,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// Evidence: sealing a 2 s chunk on the box, the box's CPU while
    /// recording, and verifying a one-hour export (beside sha256sum).
    Evidence {
        /// Chunks of about 2 s in the export to verify (1,800 = one hour).
        #[arg(long, default_value_t = 1_800)]
        chunks: usize,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// Alarm received → first submit_sm on the wire, and the durable
    /// acknowledgement, one alarm at a time on an idle hub.
    Latency {
        /// Measured alarms (after 5 warm-up alarms).
        #[arg(long, default_value_t = 300)]
        alarms: usize,
        /// Tier-1 contacts per shop (all alerted at once).
        #[arg(long, default_value_t = 5)]
        contacts: usize,
        /// The hub's SMPP window (submits in flight).
        #[arg(long, default_value_t = WINDOW_DEFAULT)]
        window: usize,
        /// Then the same again on PostgreSQL (a server started for the
        /// bench, every commit flushed to disk), recorded beside SQLite.
        #[arg(long)]
        postgres: bool,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// The console: press → alarm on a connected board (SSE), and the
    /// board of 2,671 shops with 50 open alarms (weight, time to serve).
    Console {
        /// Measured presses (after 5 warm-up presses).
        #[arg(long, default_value_t = 200)]
        presses: usize,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// SIA DC-09 transmitters: frame → ACK (1, 50, 200 at once, clear and
    /// AES-128), ACK → first submit_sm, frames per second sustained, and
    /// the hub's resident memory per idle connection.
    Dc09 {
        /// Alarms per phase of N transmitters, shared out among them.
        #[arg(long, default_value_t = 2_000)]
        frames: usize,
        /// Alarms one at a time on an idle hub, per intake (after 5 warm-up ones).
        #[arg(long, default_value_t = 200)]
        single: usize,
        /// Idle connections held for the memory figure.
        #[arg(long, default_value_t = 2_000)]
        idle_connections: usize,
        /// Seconds of link tests counted in the sustained phase (after 2 s of warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Then the same again on PostgreSQL (a server started for the
        /// bench, every commit flushed to disk), recorded beside SQLite.
        #[arg(long)]
        postgres: bool,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
    /// A regional storm: every shop raises an alarm at once.
    Storm {
        #[arg(long, default_value_t = 2_671)]
        shops: usize,
        /// Tier-1 contacts per shop (all alerted at once).
        #[arg(long, default_value_t = 5)]
        contacts: usize,
        /// The simulator answers ESME_RTHROTTLED above this many SMS per second;
        /// the hub's gateway is told the same rate (`max_per_s`), as an operator's contract would.
        #[arg(long)]
        throttle: Option<u32>,
        /// With --throttle: do not tell the hub the rate; it finds it by being throttled.
        #[arg(long)]
        unpaced: bool,
        /// The hub's SMPP window (submits in flight).
        #[arg(long, default_value_t = WINDOW_DEFAULT)]
        window: usize,
        /// Raise requests in flight at once (the buttons' side).
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
        /// Then the same again on PostgreSQL (a server started for the
        /// bench, every commit flushed to disk), recorded beside SQLite.
        #[arg(long)]
        postgres: bool,
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Heartbeats {
            devices,
            seconds,
            connections,
            requests,
            no_record,
        } => heartbeats(devices, seconds, connections, requests, no_record).await,
        BenchCommand::Box { presses, no_record } => box_bench(presses, no_record).await,
        BenchCommand::SlowClients {
            alarms,
            connections,
            no_record,
        } => slow_clients(alarms, connections, no_record).await,
        BenchCommand::Console { presses, no_record } => {
            crate::bench_console::console(presses, no_record).await
        }
        BenchCommand::Evidence { chunks, no_record } => evidence(chunks, no_record).await,
        BenchCommand::Dc09 {
            frames,
            single,
            idle_connections,
            seconds,
            postgres,
            no_record,
        } => {
            let options = crate::bench_dc09::Options {
                frames,
                single,
                idle: idle_connections,
                seconds,
                no_record,
            };
            crate::bench_dc09::dc09(options, postgres).await
        }
        BenchCommand::Latency {
            alarms,
            contacts,
            window,
            postgres,
            no_record,
        } => {
            latency(alarms, contacts, window, None, no_record).await?;
            if postgres {
                let url = bench_postgres()?;
                latency(alarms, contacts, window, Some(url), no_record).await?;
            }
            Ok(())
        }
        BenchCommand::Storm {
            shops,
            contacts,
            throttle,
            unpaced,
            window,
            in_flight,
            postgres,
            no_record,
        } => {
            let pace = if unpaced { None } else { throttle };
            storm(
                shops, contacts, throttle, pace, window, in_flight, None, no_record,
            )
            .await?;
            if postgres {
                let url = bench_postgres()?;
                storm(
                    shops,
                    contacts,
                    throttle,
                    pace,
                    window,
                    in_flight,
                    Some(url),
                    no_record,
                )
                .await?;
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------- the rig

/// A fresh database on the bench's own PostgreSQL server, which flushes
/// every commit to disk in the temporary folder, as SQLite does.
pub(crate) fn bench_postgres() -> anyhow::Result<String> {
    vigie_testkit::postgres::durable_server()?.fresh_database()
}

/// The bench hub's store, in words for the notes.
pub(crate) fn store_words(store: Option<&str>) -> &'static str {
    match store {
        None => "SQLite (WAL, synchronous = FULL) in the temporary folder",
        Some(_) => {
            "PostgreSQL 15 (SERIALIZABLE writes, fsync and synchronous_commit on) on a unix socket, data in the temporary folder"
        }
    }
}

/// The bench's section key and title for a store.
pub(crate) fn keyed(key: &str, title: &str, store: Option<&str>) -> (String, String) {
    match store {
        None => (key.to_string(), title.to_string()),
        Some(_) => (format!("{key}-postgres"), format!("{title} — PostgreSQL")),
    }
}

/// Simulator + hub + HTTP client; the hub's folder is removed on `stop`.
struct Rig {
    dir: PathBuf,
    smsc: Smsc,
    hub: RunningHub,
    http: reqwest::Client,
}

impl Rig {
    async fn start(
        window: usize,
        max_per_s: Option<u32>,
        store: Option<&str>,
    ) -> anyhow::Result<Rig> {
        let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await?;
        let dir = std::env::temp_dir().join(format!("vigie-bench-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let toml = format!(
            "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n\
             [store]\nsqlite_path = \"{db}\"\n{url}\
             [escalation]\ntier_timeout_s = {TIER_TIMEOUT_S}\n\
             [[gateways]]\nkind = \"smpp\"\nname = \"smsc\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             system_id = \"{SYSTEM_ID}\"\npassword = \"{PASSWORD}\"\nsource_addr = \"VIGIE\"\n\
             replies = false\nwindow = {window}\n{pace}",
            db = dir.join("vigie.db").display(),
            url = store
                .map(|u| format!("url = \"{u}\"\n"))
                .unwrap_or_default(),
            port = smsc.smpp_port(),
            pace = max_per_s
                .map(|r| format!("max_per_s = {r}\n"))
                .unwrap_or_default(),
        );
        let config = Config::parse(&toml, [])?;
        let clock: SharedClock = Arc::new(SystemClock::new());
        let hub = vigie_hub::app::start(&config, clock, listener).await?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1_024)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Rig {
            dir,
            smsc,
            hub,
            http,
        })
    }

    async fn stop(self) {
        self.hub.shutdown().await;
        drop(self.smsc);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Who a destination number belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// A contact of shop `.0`.
    Contact(usize),
    /// The holder of shop `.0` (the confirmation SMS).
    Holder(usize),
}

struct Region {
    /// One enrolled button per shop, in shop order.
    buttons: Vec<Button>,
    /// Destination digits (as the SMSC records them) → who.
    dest: HashMap<String, Dest>,
}

/// `shops` shops, each with `contacts` tier-1 police contacts (pre-approved:
/// no opt-in SMS) and one enrolled button.
async fn seed(rig: &Rig, shops: usize, contacts: usize) -> anyhow::Result<Region> {
    if shops * contacts > CONTACT_MAX - CONTACT_BASE {
        bail!("too many contacts for the numbering plan: {shops} × {contacts}");
    }
    let store = rig.hub.store.clone();
    let now = Timestamp(now_ms());
    let list = vigie_hub::region::synthetic_shops(shops);
    let mut dest = HashMap::new();
    for (i, s) in list.iter().enumerate() {
        dest.insert(s.holder_phone.digits().to_string(), Dest::Holder(i));
    }
    let references: Vec<String> = list.iter().map(|s| s.reference.clone()).collect();
    store.import_shops(list, now).await?;
    let rows = store.shops().await?;
    let by_ref: HashMap<&str, i64> = rows.iter().map(|s| (s.reference.as_str(), s.id)).collect();
    let ids = references
        .iter()
        .map(|r| by_ref.get(r.as_str()).copied())
        .collect::<Option<Vec<i64>>>()
        .context("an imported shop is missing")?;
    println!("seeded {shops} shops");

    let mut jobs: Vec<Job<()>> = Vec::with_capacity(shops * contacts);
    for (i, &shop_id) in ids.iter().enumerate() {
        for k in 0..contacts {
            let phone = PhoneNumber::parse(&format!("+337{:08}", CONTACT_BASE + i * contacts + k))
                .map_err(|e| anyhow::anyhow!("contact number: {e}"))?;
            dest.insert(phone.digits().to_string(), Dest::Contact(i));
            let store = store.clone();
            jobs.push(Box::pin(async move {
                store
                    .add_contact(
                        NewContact {
                            shop_id: Some(shop_id),
                            name: format!("Brigade {}", k + 1),
                            phone,
                            relation: Relation::Police,
                            tier: 1,
                        },
                        now,
                    )
                    .await?;
                Ok(())
            }));
        }
    }
    bounded(Some("contacts added"), jobs, SEED_IN_FLIGHT).await?;

    let jobs: Vec<Job<Button>> = ids
        .iter()
        .map(|&shop_id| {
            let store = store.clone();
            let http = rig.http.clone();
            let url = rig.hub.url();
            let job: Job<Button> = Box::pin(async move {
                let code = store.new_enrolment_code(shop_id, now).await?;
                let (button, _) = Button::enroll(http, &url, &code).await?;
                Ok(button)
            });
            job
        })
        .collect();
    let buttons = bounded(Some("buttons enrolled"), jobs, SEED_IN_FLIGHT).await?;
    Ok(Region { buttons, dest })
}

type Job<T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send>>;

/// Run `jobs` with at most `in_flight` at once; results in job order. With
/// `progress`, print a line every 1,000 done.
async fn bounded<T: Send + 'static>(
    progress: Option<&str>,
    jobs: Vec<Job<T>>,
    in_flight: usize,
) -> anyhow::Result<Vec<T>> {
    let total = jobs.len();
    let mut out: Vec<Option<T>> = (0..total).map(|_| None).collect();
    let mut set = JoinSet::new();
    let mut done = 0usize;
    let mut jobs = jobs.into_iter().enumerate();
    loop {
        while set.len() < in_flight.max(1) {
            let Some((i, job)) = jobs.next() else { break };
            set.spawn(async move { (i, job.await) });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (i, result) = joined.context("a benchmark task panicked")?;
        out[i] = Some(result?);
        done += 1;
        if let Some(what) = progress
            && (done.is_multiple_of(1_000) || done == total)
        {
            println!("  {what}: {done}/{total}…");
        }
    }
    out.into_iter()
        .collect::<Option<Vec<T>>>()
        .context("a benchmark job gave no result")
}

pub(crate) fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1_000.0)
        .unwrap_or(0.0)
}

pub(crate) fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1_000.0
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// Raise one alarm for shop `i` and wait for its `contacts` alerts and the
/// holder's confirmation. Returns (first alert − request start, ack round trip) in ms.
async fn one_alarm(
    rig: &Rig,
    region: &Region,
    i: usize,
    contacts: usize,
) -> anyhow::Result<(f64, f64)> {
    rig.smsc.reset().await?;
    let button = &region.buttons[i];
    let t0 = wall_ms();
    let start = Instant::now();
    let now = now_ms();
    let receipt = button.raise(Uuid::now_v7(), now, false, now).await?;
    let ack = ms_since(start);
    if receipt.duplicate || receipt.contacts_alerting as usize != contacts {
        bail!(
            "alarm {i}: the hub alerts {} contacts (expected {contacts}), duplicate={}",
            receipt.contacts_alerting,
            receipt.duplicate
        );
    }
    let until = Instant::now() + Duration::from_millis(ALARM_DEADLINE_MS);
    loop {
        let messages = rig.smsc.messages().await?;
        let alerts: Vec<&SmscMessage> = messages
            .iter()
            .filter(|m| region.dest.get(&m.to) == Some(&Dest::Contact(i)))
            .collect();
        let holder = messages
            .iter()
            .any(|m| region.dest.get(&m.to) == Some(&Dest::Holder(i)));
        if alerts.len() >= contacts && holder {
            let first = alerts.iter().map(|m| m.at_ms).fold(f64::INFINITY, f64::min);
            return Ok((first - t0, ack));
        }
        if Instant::now() > until {
            bail!(
                "alarm {i}: {} of {contacts} alerts (holder SMS: {holder}) within {ALARM_DEADLINE_MS} ms",
                alerts.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(POLL_LATENCY_MS)).await;
    }
}

// ---------------------------------------------------------------- latency

async fn slow_clients(alarms: usize, connections: usize, no_record: bool) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    if alarms == 0 {
        bail!("--alarms must be at least 1");
    }
    println!(
        "bench slow-clients: {alarms} alarms idle, then {alarms} with {connections} slow connections held"
    );
    let rig = Rig::start(WINDOW_DEFAULT, None, None).await?;
    let region = seed(&rig, WARMUP_ALARMS + 2 * alarms, 1).await?;
    let mut idle = Vec::with_capacity(alarms);
    let mut held = Vec::with_capacity(alarms);
    for i in 0..WARMUP_ALARMS + alarms {
        let (_, ack) = one_alarm(&rig, &region, i, 1).await?;
        if i >= WARMUP_ALARMS {
            idle.push(ack);
        }
    }
    let addr = rig.hub.addr;
    let mut slow = Vec::with_capacity(connections);
    for k in 0..connections {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        if k % 2 == 0 {
            s.write_all(b"POST /v1/alarms HTTP/1.1\r\nHost: hub\r\n")
                .await?;
        }
        slow.push(s);
        if (k + 1) % 500 == 0 {
            println!("  slow connections held: {}/{connections}…", k + 1);
        }
    }
    for i in 0..alarms {
        let (_, ack) = one_alarm(&rig, &region, WARMUP_ALARMS + alarms + i, 1).await?;
        held.push(ack);
    }
    drop(slow);
    rig.stop().await;
    let idle = sorted(idle);
    let held = sorted(held);
    let row = |what: &str, v: &[f64]| {
        format!(
            "| {what} | {:.2} | {:.2} | {:.2} |",
            pct(v, 50.0),
            pct(v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    let within = pct(&held, 99.0) - pct(&idle, 99.0) <= 50.0;
    let table = [
        "| durable acknowledgement of a raise (ms) | p50 | p99 | max |".to_string(),
        "| --- | ---: | ---: | ---: |".to_string(),
        row("idle hub", &idle),
        row(&format!("{connections} slow connections held"), &held),
    ]
    .join("\n");
    let notes = format!(
        "{alarms} alarms each, one at a time (one contact), after {WARMUP_ALARMS} warm-up ones. \
         Held connections: half sent a request line and stalled, half sent nothing; the hub closes them after \
         header_read_timeout_s (10 s by default), so they are opened just before the measured alarms. \
         Target: p99 within 50 ms of the idle figure: {}.",
        verdict(within)
    );
    report(
        "slow-clients",
        "Slow clients: alarm intake while connections are held",
        &table,
        &notes,
        no_record,
    )
}

async fn latency(
    alarms: usize,
    contacts: usize,
    window: usize,
    store: Option<String>,
    no_record: bool,
) -> anyhow::Result<()> {
    let store = store.as_deref();
    if alarms == 0 || contacts == 0 {
        bail!("--alarms and --contacts must be at least 1");
    }
    println!(
        "bench latency: {alarms} alarms (+{WARMUP_ALARMS} warm-up), one at a time, {contacts} tier-1 contacts each, SMPP window {window}; store: {}",
        store_words(store)
    );
    let rig = Rig::start(window, None, store).await?;
    let region = seed(&rig, WARMUP_ALARMS + alarms, contacts).await?;
    let mut first = Vec::with_capacity(alarms);
    let mut ack = Vec::with_capacity(alarms);
    for i in 0..WARMUP_ALARMS + alarms {
        let (f, a) = one_alarm(&rig, &region, i, contacts).await?;
        if i >= WARMUP_ALARMS {
            first.push(f);
            ack.push(a);
            let n = i + 1 - WARMUP_ALARMS;
            if n.is_multiple_of(100) || n == alarms {
                println!("  alarms: {n}/{alarms}…");
            }
        }
        // Let receipts and outcome writes settle: the next alarm meets an idle hub.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Peers in the same run: the HTTP floor and the bare SMPP submit.
    let mut health = Vec::with_capacity(alarms);
    for _ in 0..alarms {
        let start = Instant::now();
        rig.http
            .get(format!("{}/healthz", rig.hub.url()))
            .send()
            .await?
            .error_for_status()?;
        health.push(ms_since(start));
    }
    let bare = bare_submits(&rig.smsc, alarms, window).await?;
    rig.stop().await;

    let first = sorted(first);
    let ack = sorted(ack);
    let health = sorted(health);
    let bare = sorted(bare);
    let row = |what: &str, v: &[f64], target: &str| {
        format!(
            "| {what} | {:.2} | {:.2} | {:.2} | {:.2} | {target} |",
            pct(v, 50.0),
            pct(v, 90.0),
            pct(v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    let first_ok = pct(&first, 50.0) <= 5.0 && pct(&first, 99.0) <= 25.0;
    let ack_ok = pct(&ack, 99.0) <= 10.0;
    let table = [
        "| measure (ms) | p50 | p90 | p99 | max | target |".to_string(),
        "| --- | ---: | ---: | ---: | ---: | --- |".to_string(),
        row(
            "alarm received → first submit_sm (client clock before the request → SMSC's record)",
            &first,
            &format!("p50 ≤ 5, p99 ≤ 25: {}", verdict(first_ok)),
        ),
        row(
            "durable acknowledgement (raise request round trip, after the fsync'd commit)",
            &ack,
            &format!("p99 ≤ 10: {}", verdict(ack_ok)),
        ),
        row(
            "peer: bare SMPP submit (hub's gateway alone → SMSC's record)",
            &bare,
            "—",
        ),
        row("peer: HTTP GET /healthz round trip", &health, "—"),
    ]
    .join("\n");
    let notes = format!(
        "{alarms} alarms measured after {WARMUP_ALARMS} warm-up ones, one at a time: each waits until its {contacts} alerts and the holder's confirmation are on the wire, then 10 ms, so every alarm meets an idle hub. \
         The first figure is an upper bound: it includes signing the request, HTTP, the signature check and the durable write. \
         Ratios in this run: first submit p50 / bare submit p50 = {:.1}; ack p50 / healthz p50 = {:.1}. \
         Bench hub: {}, SMPP window {window}, tier timeout {TIER_TIMEOUT_S} s (no escalation during the run).",
        pct(&first, 50.0) / pct(&bare, 50.0),
        pct(&ack, 50.0) / pct(&health, 50.0),
        store_words(store),
    );
    let (key, title) = keyed(
        "latency",
        "Latency: alarm → first SMS, and durable acknowledgement",
        store,
    );
    report(&key, &title, &table, &notes, no_record)
}

/// `n` submits one at a time through a bare SMPP gateway bound to the same
/// simulator: request start → the SMSC's record, in ms.
async fn bare_submits(smsc: &Smsc, n: usize, window: usize) -> anyhow::Result<Vec<f64>> {
    let config: SmppConfig = serde_json::from_value(serde_json::json!({
        "name": "bare", "host": "127.0.0.1", "port": smsc.smpp_port(),
        "system_id": SYSTEM_ID, "password": PASSWORD, "source_addr": "VIGIE",
        "replies": false, "window": window,
    }))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(INBOUND_QUEUE_MAX);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let gateway = SmppGateway::start(config, tx);
    let until = Instant::now() + Duration::from_millis(ALARM_DEADLINE_MS);
    while !gateway.is_bound() {
        if Instant::now() > until {
            bail!("the bare SMPP gateway did not bind");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let text = "ALERTE Vigie : test de latence du lien SMPP seul.";
    let to = PhoneNumber::parse("+33799999999").map_err(|e| anyhow::anyhow!("{e}"))?;
    smsc.reset().await?;
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let sms = OutgoingSms {
            notification_id: k as i64,
            to: to.clone(),
            text: text.into(),
            encoding: Encoding::of(text),
        };
        let t0 = wall_ms();
        gateway
            .submit(&sms)
            .await
            .map_err(|e| anyhow::anyhow!("bare submit: {e:?}"))?;
        let m = smsc.messages_since(k).await?;
        let at = m.first().context("the bare submit is not recorded")?.at_ms;
        out.push(at - t0);
    }
    drop(gateway);
    drain.abort();
    Ok(out)
}

// ---------------------------------------------------------------- storm

struct Raised {
    sent_at: f64,
    acked_at: f64,
    ack_ms: f64,
}

#[allow(clippy::too_many_arguments)]
async fn storm(
    shops: usize,
    contacts: usize,
    throttle: Option<u32>,
    pace: Option<u32>,
    window: usize,
    in_flight: usize,
    store: Option<String>,
    no_record: bool,
) -> anyhow::Result<()> {
    let store = store.as_deref();
    if shops == 0 || contacts < 2 {
        bail!("--shops must be at least 1 and --contacts at least 2 (the bar is about second SMS)");
    }
    let expected = shops * contacts;
    println!(
        "bench storm: {shops} shops × {contacts} tier-1 contacts = {expected} alerts, {in_flight} raise requests in flight, SMPP window {window}, SMSC {}",
        match throttle {
            Some(t) => format!("throttled at {t} SMS/s"),
            None => "unthrottled".into(),
        }
    );
    let rig = Rig::start(window, pace, store).await?;
    // One more shop for the warm-up alarm (binds the gateway, opens connections).
    let region = seed(&rig, shops + 1, contacts).await?;
    one_alarm(&rig, &region, shops, contacts).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.smsc.reset().await?;
    if let Some(t) = throttle {
        rig.smsc
            .configure(serde_json::json!({ "throttle_per_s": t }))
            .await?;
    }
    println!("storm: raising {shops} alarms…");

    let Region { buttons, dest } = region;
    let t_start = wall_ms();
    let jobs: Vec<Job<Raised>> = buttons
        .into_iter()
        .take(shops)
        .map(|button| {
            let job: Job<Raised> = Box::pin(async move {
                let sent_at = wall_ms();
                let start = Instant::now();
                let now = now_ms();
                let receipt = button.raise(Uuid::now_v7(), now, false, now).await?;
                let ack_ms = ms_since(start);
                if receipt.duplicate {
                    bail!("a fresh alarm was taken for a duplicate");
                }
                Ok(Raised {
                    sent_at,
                    acked_at: wall_ms(),
                    ack_ms,
                })
            });
            job
        })
        .collect();
    let raising = tokio::spawn(bounded(None, jobs, in_flight));

    let deadline = Instant::now() + Duration::from_secs(STORM_DEADLINE_S);
    let mut messages: Vec<SmscMessage> = Vec::with_capacity(expected + shops);
    let mut has_first = vec![false; shops];
    let mut firsts = 0usize;
    let mut alerts = 0usize;
    let mut holders = 0usize;
    let mut next_report = Instant::now() + Duration::from_secs(5);
    let complete = loop {
        let new = rig.smsc.messages_since(messages.len()).await?;
        for m in &new {
            match dest.get(&m.to) {
                Some(Dest::Contact(i)) if *i < shops => {
                    alerts += 1;
                    if !has_first[*i] {
                        has_first[*i] = true;
                        firsts += 1;
                    }
                }
                Some(Dest::Holder(i)) if *i < shops => holders += 1,
                _ => {}
            }
        }
        messages.extend(new);
        let done = match throttle {
            Some(_) => firsts == shops,
            None => alerts >= expected && holders >= shops,
        };
        if done || Instant::now() > deadline {
            break done;
        }
        if Instant::now() > next_report {
            println!(
                "  {:.0} s: {firsts}/{shops} alarms reached someone, {alerts}/{expected} alerts, {holders} holder SMS…",
                (wall_ms() - t_start) / 1_000.0
            );
            next_report += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(POLL_STORM_MS)).await;
    };
    let stopped_at = wall_ms();
    if complete && throttle.is_none() {
        // Anything sent after the last expected alert is a duplicate or a stray.
        tokio::time::sleep(Duration::from_millis(STORM_GRACE_MS)).await;
        let extra = rig.smsc.messages_since(messages.len()).await?;
        messages.extend(extra);
    }
    let raised = raising.await.context("the raising task panicked")??;
    rig.stop().await;

    let a = analyse(&messages, &dest, &raised, shops, contacts, t_start, window);
    let rel = |t: f64| (t - t_start) / 1_000.0;
    let acks = sorted(raised.iter().map(|r| r.ack_ms).collect());
    let last_ack = raised.iter().map(|r| r.acked_at).fold(0.0, f64::max);
    let last_sent = raised.iter().map(|r| r.sent_at).fold(0.0, f64::max);
    let mut rows: Vec<(String, String, String)> = vec![
        (
            "alarms raised (all acknowledged durable)".into(),
            format!(
                "{shops}; last request sent at {:.2} s, last ack at {:.2} s",
                rel(last_sent),
                rel(last_ack)
            ),
            "—".into(),
        ),
        (
            "ack round trip under the storm, p50 / p99 / max".into(),
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                pct(&acks, 50.0),
                pct(&acks, 99.0),
                acks.last().copied().unwrap_or(f64::NAN)
            ),
            "—".into(),
        ),
        (
            "every alarm's first SMS submitted by".into(),
            if a.firsts == shops {
                format!("{:.2} s", rel(a.last_first))
            } else {
                format!(
                    "never: {} of {shops} alarms reached no one by {:.1} s",
                    shops - a.firsts,
                    rel(stopped_at)
                )
            },
            match throttle {
                Some(_) => format!(
                    "≤ 30 s: {}",
                    verdict(a.firsts == shops && rel(a.last_first) <= 30.0)
                ),
                None => "—".into(),
            },
        ),
    ];
    match throttle {
        None => {
            let lossless = a.missing == 0 && a.duplicates == 0 && a.strays == 0;
            rows.push((
                "loss: contacts without their alert / duplicate alerts / stray SMS".into(),
                format!("{} / {} / {}", a.missing, a.duplicates, a.strays),
                format!("zero loss: {}", verdict(lossless)),
            ));
            rows.push((
                "all alerts submitted by (first request → last alert submit_sm)".into(),
                if a.alerts_distinct == expected {
                    format!("{:.2} s ({expected} alerts)", rel(a.last_alert))
                } else {
                    format!(
                        "never: {}/{expected} by the {STORM_DEADLINE_S} s deadline",
                        a.alerts_distinct
                    )
                },
                format!(
                    "≤ 5 s: {}",
                    verdict(a.alerts_distinct == expected && rel(a.last_alert) <= 5.0)
                ),
            ));
            rows.push((
                "holder confirmations (priority \"notice\", after the alerts)".into(),
                format!("{}/{shops}, last at {:.2} s", a.holders, rel(a.last_holder)),
                "—".into(),
            ));
        }
        Some(t) => {
            rows.push((
                format!("other SMS submitted by then (throttled at {t}/s)"),
                format!(
                    "{} more alerts of {} (duplicates {}), {} holder confirmations",
                    a.alerts_distinct.saturating_sub(a.firsts),
                    expected - shops,
                    a.duplicates,
                    a.holders
                ),
                "—".into(),
            ));
            let span = rel(a.last_any) - rel(a.first_any);
            rows.push((
                "SMSC acceptance rate over the run".into(),
                format!(
                    "{:.0} SMS/s ({} accepted between {:.2} s and {:.2} s)",
                    if span > 0.0 {
                        messages.len() as f64 / span
                    } else {
                        f64::NAN
                    },
                    messages.len(),
                    rel(a.first_any),
                    rel(a.last_any)
                ),
                format!("≤ {t}/s (simulator)"),
            ));
        }
    }
    rows.push((
        "ordering: last first-SMS vs first second-SMS".into(),
        format!("{:.3} s vs {:.3} s", rel(a.last_first), rel(a.first_second)),
        "every first before any second".into(),
    ));
    rows.push((
        "alarms whose first SMS came after some alarm's second SMS".into(),
        format!("{} of {shops}", a.after_any_second),
        format!("0: {}", verdict(a.after_any_second == 0)),
    ));
    rows.push((
        "… of which another alarm's second SMS reached the SMSC after this alarm was acknowledged"
            .into(),
        format!("{} of {shops}", a.inverted),
        "—".into(),
    ));
    rows.push((
        format!("… of which beyond the {window} submits that may already have been in flight (priority inversion by the hub)"),
        format!("{} of {shops}", a.inverted_beyond_window),
        format!("0: {}", verdict(a.inverted_beyond_window == 0)),
    ));
    let table = std::iter::once("| measure | value | target |".to_string())
        .chain(std::iter::once("| --- | --- | --- |".to_string()))
        .chain(rows.iter().map(|(m, v, t)| format!("| {m} | {v} | {t} |")))
        .collect::<Vec<_>>()
        .join("\n");
    let mut notes = format!(
        "Times are from the first raise request sent (t = 0, client wall clock) to the SMSC's record of each submit_sm. \
         {shops} shops × {contacts} tier-1 police contacts (pre-approved), one enrolled button per shop (enrolled before the clock starts), \
         alarms raised with {in_flight} requests in flight; an alarm's first SMS is the earliest submit to any of its contacts, its second the next one. \
         The holder's confirmation SMS is counted apart. Bench hub: {}, SMPP window {window}, \
         tier timeout {TIER_TIMEOUT_S} s (no escalation round during the run).",
        store_words(store)
    );
    match (throttle.is_some(), complete) {
        (true, true) => notes.push_str(
            " Throttled run: stopped as soon as every alarm's first SMS was in (the rest would take more than 130 s at 100/s).",
        ),
        (true, false) => notes.push_str(&format!(
            " Throttled run: **not every alarm's first SMS was in by the {STORM_DEADLINE_S} s deadline**; stopped there."
        )),
        (false, false) => notes.push_str(&format!(
            " **The storm did not complete within {STORM_DEADLINE_S} s.**"
        )),
        (false, true) => {}
    }
    let key = match (throttle, pace) {
        (Some(t), Some(_)) => format!("storm-throttle-{t}"),
        (Some(t), None) => format!("storm-throttle-{t}-unpaced"),
        (None, _) => "storm".into(),
    };
    let key = if window == WINDOW_DEFAULT {
        key
    } else {
        format!("{key}-window-{window}")
    };
    let title = match (throttle, pace) {
        (Some(t), Some(p)) => {
            format!("Storm through a throttled SMSC ({t} SMS/s; hub paced at max_per_s = {p})")
        }
        (Some(t), None) => {
            format!("Storm through a throttled SMSC ({t} SMS/s; hub not told the rate)")
        }
        (None, _) => "Storm: every shop raises an alarm at once".into(),
    };
    let title = if window == WINDOW_DEFAULT {
        title
    } else {
        format!("{title}, SMPP window {window}")
    };
    let (key, title) = keyed(&key, &title, store);
    report(&key, &title, &table, &notes, no_record)
}

#[derive(Default)]
struct Analysis {
    /// Alarms with at least one alert submitted.
    firsts: usize,
    /// Distinct (contact) destinations that got an alert.
    alerts_distinct: usize,
    /// Contacts of storm alarms who got nothing.
    missing: usize,
    /// Alerts beyond the first to the same contact.
    duplicates: usize,
    /// SMS to a number that is neither a contact nor a holder of the storm.
    strays: usize,
    holders: usize,
    last_first: f64,
    first_second: f64,
    last_alert: f64,
    last_holder: f64,
    first_any: f64,
    last_any: f64,
    after_any_second: usize,
    inverted: usize,
    /// Inversions beyond the submits that may already have been in flight
    /// when the alarm was committed (at most one window of them).
    inverted_beyond_window: usize,
}

fn analyse(
    messages: &[SmscMessage],
    dest: &HashMap<String, Dest>,
    raised: &[Raised],
    shops: usize,
    contacts: usize,
    t_start: f64,
    window: usize,
) -> Analysis {
    let mut a = Analysis {
        first_second: f64::INFINITY,
        first_any: f64::INFINITY,
        last_first: t_start,
        last_alert: t_start,
        last_holder: t_start,
        last_any: t_start,
        ..Analysis::default()
    };
    // Per number: how many alerts.
    let mut per_number: HashMap<&str, usize> = HashMap::new();
    for m in messages {
        a.first_any = a.first_any.min(m.at_ms);
        a.last_any = a.last_any.max(m.at_ms);
        match dest.get(&m.to) {
            Some(Dest::Contact(i)) if *i < shops => {
                *per_number.entry(m.to.as_str()).or_default() += 1;
                a.last_alert = a.last_alert.max(m.at_ms);
            }
            Some(Dest::Holder(i)) if *i < shops => {
                a.holders += 1;
                a.last_holder = a.last_holder.max(m.at_ms);
            }
            _ => a.strays += 1,
        }
    }
    a.alerts_distinct = per_number.len();
    a.duplicates = per_number.values().map(|n| n - 1).sum();
    a.missing = shops * contacts - a.alerts_distinct;
    // The simulator records submits in order: index k is the k-th submit.
    let mut first_index = vec![usize::MAX; shops];
    let mut seen = vec![0usize; shops];
    let mut is_second = vec![false; messages.len()];
    for (k, m) in messages.iter().enumerate() {
        if let Some(Dest::Contact(i)) = dest.get(&m.to)
            && *i < shops
        {
            seen[*i] += 1;
            match seen[*i] {
                1 => {
                    first_index[*i] = k;
                    a.firsts += 1;
                    a.last_first = a.last_first.max(m.at_ms);
                }
                2 => {
                    is_second[k] = true;
                    a.first_second = a.first_second.min(m.at_ms);
                }
                _ => {}
            }
        }
    }
    // seconds_before[k]: second SMS among the first k submits.
    let mut seconds_before = vec![0usize; messages.len() + 1];
    for (k, &second) in is_second.iter().enumerate() {
        seconds_before[k + 1] = seconds_before[k] + usize::from(second);
    }
    for (i, &k1) in first_index.iter().enumerate() {
        if k1 == usize::MAX {
            continue;
        }
        if seconds_before[k1] > 0 {
            a.after_any_second += 1;
        }
        let Some(r) = raised.get(i) else { continue };
        // The first submit recorded after this alarm's acknowledgement.
        let k0 = messages.partition_point(|m| m.at_ms <= r.acked_at).min(k1);
        if seconds_before[k1] > seconds_before[k0] {
            a.inverted += 1;
        }
        let k0w = (k0 + window).min(k1);
        if seconds_before[k1] > seconds_before[k0w] {
            a.inverted_beyond_window += 1;
        }
    }
    a
}

// ---------------------------------------------------------------- recording

pub(crate) fn report(
    key: &str,
    title: &str,
    table: &str,
    notes: &str,
    no_record: bool,
) -> anyhow::Result<()> {
    let machine = machine();
    let date = utc_now();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let commit = git_commit();
    println!("\n{title}\n\n{table}\n\n{notes}\n");
    println!("machine: {machine}; {date}; commit {commit}");
    if no_record {
        return Ok(());
    }
    let section = format!(
        "<!-- bench:{key} -->\n## {title}\n\n\
         - command: `{command}`\n- date: {date}\n- machine: {machine}\n- commit: {commit}\n\n\
         {table}\n\n{notes}\n<!-- /bench:{key} -->\n"
    );
    let path = vigie_testkit::repo_root().join("docs/benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| HEADER.to_string());
    let begin = format!("<!-- bench:{key} -->");
    let end = format!("<!-- /bench:{key} -->\n");
    let text = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{section}{}", &text[..b], &text[e + end.len()..])
        }
        _ => format!("{}\n{section}", text.trim_end()),
    };
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("recorded in {}", path.display());
    Ok(())
}

const HEADER: &str = "# Benchmarks

Figures for the alarm core's quality bars, written by the benchmark
commands themselves: each run replaces its own section below (add
`--no-record` to print only). Everything runs on loopback against real
parts: the SMSC simulator (`tests/peers/smsc`, npm `smpp`), a hub started
in-process on a fresh SQLite file (WAL, `synchronous = FULL`) with the
system clock and an SMPP gateway, and signed buttons raising alarms over
HTTP. Wire times are the simulator's sub-millisecond wall-clock stamp of
each `submit_sm`. Absolute times on a shared 2-core machine are noisy: each
bench also measures a peer in the same run.

To run them:

```sh
npm ci --prefix tests/peers/smsc
cargo build --release -p vigie
./target/release/vigie bench latency            # [--alarms 300] [--contacts 5] [--window 32]
./target/release/vigie bench storm              # [--shops 2671] [--contacts 5] [--in-flight 64] [--window 32]
./target/release/vigie bench storm --throttle 100
./target/release/vigie bench console            # [--presses 200]
```

| bench | measures | targets |
| --- | --- | --- |
| `latency` | one alarm at a time on an idle hub: client clock just before the raise request → the SMSC's record of the first `submit_sm` (an upper bound: signing, HTTP, signature check, durable write included); and the raise request's round trip, answered after the fsync'd commit. Peers: a bare SMPP submit, `GET /healthz`. | first SMS p50 ≤ 5 ms, p99 ≤ 25 ms; ack p99 ≤ 10 ms |
| `storm` | 2,671 shops × 5 tier-1 contacts raise at once (64 requests in flight): loss and duplicates per number, when every alarm's first SMS and every alert were submitted, and whether any alarm's first SMS came after another's second. | zero loss; every first before any second; all 13,355 in ≤ 5 s |
| `storm --throttle 100` | the same through a simulator answering `ESME_RTHROTTLED` above 100 SMS/s; stops once every alarm's first SMS is in. | first SMS of every alarm ≤ 30 s |
| `console` | an operator signed in and listening on `/console/live`: a signed press → the Server-Sent Event carrying the new alarm; then the board with the Region's 2,671 shops and 50 open alarms: bytes and time to serve on loopback. Peer: `GET /healthz`. | reported, no target in the brief |
";

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB RAM", kb / 1_048_576.0))
        .unwrap_or_else(|| "unknown memory".into());
    format!("{cpus} CPUs (nproc), {model}, {mem}")
}

fn git_commit() -> String {
    let root = vigie_testkit::repo_root();
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(c) => match run(&[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs/benchmarks.md",
        ]) {
            Some(s) if !s.is_empty() => format!("{c} (with uncommitted changes)"),
            _ => c,
        },
        None => "unknown (not a git checkout)".into(),
    }
}

/// "2026-11-26 14:03 UTC", from the system clock (proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

// ---------------------------------------------------------------- heartbeats

/// Warm-up before each measured window (connections opened, caches filled).
const HEARTBEAT_WARMUP: Duration = Duration::from_secs(2);
/// Signature checks timed alone, on one core, as the peer of the heartbeat bench.
const VERIFY_PEER_N: usize = 10_000;
/// Enrolments in flight while seeding the fleet through the store.
const ENROL_IN_FLIGHT: usize = 256;
/// How long `vigie serve` may take to answer /healthz.
const SERVE_START_DEADLINE: Duration = Duration::from_secs(60);

/// A resident-memory line of /proc/PID/status (`VmRSS`, `VmHWM`), in MiB.
pub(crate) fn proc_status_mib(pid: &str, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1_024.0)
}

/// utime + stime of a process, in seconds (clock ticks of 1/100 s, Linux's USER_HZ).
pub(crate) fn proc_cpu_s(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn mib(v: Option<f64>) -> String {
    v.map(|m| format!("{m:.1} MiB"))
        .unwrap_or_else(|| "unknown".into())
}

/// `devices` synthetic shops with one enrolled box each, written through the
/// store (no HTTP): returns each box's id and key.
async fn seed_fleet(
    db: &std::path::Path,
    devices: usize,
) -> anyhow::Result<Vec<(String, vigie_proto::signature::DeviceKey)>> {
    use vigie_proto::signature::DeviceKey;
    let store = vigie_hub::store::Store::open_sqlite(db, vigie_hub::store::Rules::default())?;
    let now = Timestamp(now_ms());
    let list = vigie_hub::region::synthetic_shops(devices);
    let references: Vec<String> = list.iter().map(|s| s.reference.clone()).collect();
    store.import_shops(list, now).await?;
    let by_ref: HashMap<String, i64> = store
        .shops()
        .await?
        .into_iter()
        .map(|s| (s.reference, s.id))
        .collect();
    let ids = references
        .iter()
        .map(|r| by_ref.get(r).copied())
        .collect::<Option<Vec<i64>>>()
        .context("an imported shop is missing")?;
    // Key generation on every core.
    let keys: Vec<DeviceKey> = {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per = devices.div_ceil(threads);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let n = per.min(devices.saturating_sub(t * per));
                std::thread::spawn(move || {
                    (0..n).map(|_| DeviceKey::generate()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut keys = Vec::with_capacity(devices);
        for h in handles {
            keys.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a key generation thread panicked"))?,
            );
        }
        keys
    };
    let jobs: Vec<Job<String>> = ids
        .iter()
        .zip(&keys)
        .map(|(&shop_id, key)| {
            let store = store.clone();
            let public_key = key.public_key_b64();
            let job: Job<String> = Box::pin(async move {
                let code = store.new_enrolment_code(shop_id, now).await?;
                let (device, _) = store.enroll(&code, &public_key, "bench", now).await?;
                Ok(device.id)
            });
            job
        })
        .collect();
    let ids = bounded(None, jobs, ENROL_IN_FLIGHT).await?;
    Ok(ids.into_iter().zip(keys).collect())
}

/// Complete HTTP/1.1 requests, each a heartbeat of box `k % n` with its own
/// nonce, all with the same `created` (within the hub's accepted skew for
/// the whole run), signed on every core.
fn presign(
    fleet: &[(String, vigie_proto::signature::DeviceKey)],
    count: usize,
    created_s: i64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    use vigie_proto::signature::new_nonce;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunks: Vec<Vec<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|k| {
                            let (id, key) = &fleet[k % fleet.len()];
                            let body = serde_json::to_vec(&vigie_proto::Heartbeat {
                                sent_at_ms: created_s * 1_000,
                                battery_pct: None,
                                on_mains: true,
                                signal_csq: Some(18),
                                modem: vigie_proto::ModemState::Registered,
                                free_storage_mb: 1_024,
                                version: "bench".into(),
                                outbox_depth: 0,
                                uptime_s: 3_600,
                                clock_offset_ms: 0,
                            })
                            .unwrap_or_default();
                            let h = key.sign(id, "POST", "/v1/heartbeat", &body, created_s, &new_nonce());
                            let mut req = format!(
                                "POST /v1/heartbeat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
                                 content-digest: {}\r\nsignature-input: {}\r\nsignature: {}\r\ncontent-length: {}\r\n\r\n",
                                h.content_digest,
                                h.signature_input,
                                h.signature,
                                body.len()
                            )
                            .into_bytes();
                            req.extend_from_slice(&body);
                            req
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Result<Vec<_>, _>>()
    })
    .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?;
    // Interleave back into k order (so consecutive requests are different boxes).
    let mut iters: Vec<_> = chunks.into_iter().map(|c| c.into_iter()).collect();
    let mut out = Vec::with_capacity(count);
    'outer: loop {
        for it in iters.iter_mut() {
            match it.next() {
                Some(r) => out.push(r),
                None => break 'outer,
            }
        }
    }
    Ok(out)
}

/// One keep-alive connection's results.
#[derive(Default)]
struct ConnStats {
    /// Round trips of the requests sent inside the window, µs.
    latencies_us: Vec<f64>,
    /// 200s answered inside the window.
    accepted: u64,
    /// Status or failure → count, inside the window.
    errors: HashMap<String, u64>,
}

/// Read one HTTP/1.1 answer (headers, then Content-Length bytes): its status.
async fn read_answer(conn: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    use tokio::io::AsyncReadExt as _;
    buf.clear();
    let mut chunk = [0u8; 4_096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).context("answer headers not UTF-8")?;
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .context("no HTTP status")?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .context("answer without content-length")?;
            while buf.len() < end + 4 + length {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    bail!("connection closed mid-answer");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

struct LoadResult {
    window_s: f64,
    accepted: u64,
    latencies: Vec<f64>,
    errors: HashMap<String, u64>,
    requests_used: usize,
    ran_out: bool,
    /// CPU seconds of the hub process and of this process over the window.
    hub_cpu_s: Option<f64>,
    own_cpu_s: Option<f64>,
}

/// Send the pre-signed requests from `connections` keep-alive connections
/// as fast as they are answered: `HEARTBEAT_WARMUP`, then `seconds` counted.
async fn drive(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    seconds: u64,
    hub_pid: Option<String>,
) -> anyhow::Result<LoadResult> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt as _;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let t0 = start + HEARTBEAT_WARMUP;
    let t1 = t0 + Duration::from_secs(seconds);
    let cpu_at_t0 = {
        let hub_pid = hub_pid.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(t0.into()).await;
            (
                hub_pid.as_deref().and_then(proc_cpu_s),
                proc_cpu_s("self"),
                Instant::now(),
            )
        })
    };
    let mut set = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (requests, next) = (requests.clone(), next.clone());
        set.spawn(async move {
            let mut stats = ConnStats::default();
            let mut conn = tokio::net::TcpStream::connect(addr).await?;
            conn.set_nodelay(true)?;
            let mut buf = Vec::with_capacity(1_024);
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(k) else { break };
                let sent = Instant::now();
                if sent >= t1 {
                    break;
                }
                let counted = sent >= t0;
                let outcome = match conn.write_all(req).await {
                    Ok(()) => read_answer(&mut conn, &mut buf).await,
                    Err(e) => Err(e.into()),
                };
                let done = Instant::now();
                if counted && done <= t1 {
                    stats
                        .latencies_us
                        .push(done.duration_since(sent).as_secs_f64() * 1e6);
                    match &outcome {
                        Ok(200) => stats.accepted += 1,
                        Ok(status) => {
                            *stats.errors.entry(format!("HTTP {status}")).or_default() += 1
                        }
                        Err(_) => *stats.errors.entry("connection".into()).or_default() += 1,
                    }
                }
                if outcome.is_err() {
                    conn = tokio::net::TcpStream::connect(addr).await?;
                    conn.set_nodelay(true)?;
                }
            }
            anyhow::Ok((stats, Instant::now()))
        });
    }
    let mut all = ConnStats::default();
    let mut last_done = t0;
    while let Some(joined) = set.join_next().await {
        let (stats, ended) = joined.context("a load connection panicked")??;
        last_done = last_done.max(ended);
        all.accepted += stats.accepted;
        all.latencies_us.extend(stats.latencies_us);
        for (k, n) in stats.errors {
            *all.errors.entry(k).or_default() += n;
        }
    }
    let (hub_cpu0, own_cpu0, at0) = cpu_at_t0.await.context("the CPU probe panicked")?;
    let hub_cpu1 = hub_pid.as_deref().and_then(proc_cpu_s);
    let own_cpu1 = proc_cpu_s("self");
    let used = next.load(Ordering::Relaxed).min(requests.len());
    let ran_out = used >= requests.len();
    let end = if ran_out { last_done.min(t1) } else { t1 };
    let window_s = end.saturating_duration_since(at0).as_secs_f64();
    Ok(LoadResult {
        window_s,
        accepted: all.accepted,
        latencies: sorted(
            all.latencies_us
                .into_iter()
                .map(|us| us / 1_000.0)
                .collect(),
        ),
        errors: all.errors,
        requests_used: used,
        ran_out,
        hub_cpu_s: hub_cpu0.zip(hub_cpu1).map(|(a, b)| b - a),
        own_cpu_s: own_cpu0.zip(own_cpu1).map(|(a, b)| b - a),
    })
}

/// `VERIFY_PEER_N` signature checks of one heartbeat as the hub does them
/// (parse the key and the Signature-Input, digest, verify), on one core: µs each.
fn verify_peer() -> anyhow::Result<f64> {
    use vigie_proto::signature::{self, DeviceKey};
    let key = DeviceKey::generate();
    let body = br#"{"sent_at_ms":1795699920000,"battery_pct":null,"on_mains":true}"#;
    let h = key.sign(
        "dev-peer",
        "POST",
        "/v1/heartbeat",
        body,
        1_795_699_920,
        "bm9uY2Vub25jZW5vbmNl",
    );
    let public = key.public_key_b64();
    let start = Instant::now();
    for _ in 0..VERIFY_PEER_N {
        let params = signature::parse_signature_input(&h.signature_input)?;
        let vk = signature::parse_public_key(&public)?;
        signature::verify(
            &params,
            &vk,
            "POST",
            "/v1/heartbeat",
            body,
            &h.content_digest,
            &h.signature,
        )?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / VERIFY_PEER_N as f64)
}

fn errors_text(errors: &HashMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    let mut e: Vec<_> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    e.sort();
    e.join(", ")
}

/// `vigie serve` on `db`, as a child process; its address.
async fn spawn_serve(
    dir: &std::path::Path,
    db: &std::path::Path,
) -> anyhow::Result<(std::process::Child, std::net::SocketAddr)> {
    let port = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        l.local_addr()?.port()
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let config = dir.join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n\
             [store]\nsqlite_path = \"{}\"\n[[gateways]]\nkind = \"log\"\nname = \"log\"\n",
            db.display()
        ),
    )?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("VIGIE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.log"))?)
        .spawn()
        .context("cannot start vigie serve")?;
    let http = reqwest::Client::new();
    let until = Instant::now() + SERVE_START_DEADLINE;
    loop {
        if http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok((child, addr));
        }
        if Instant::now() > until {
            bail!("vigie serve did not answer /healthz within {SERVE_START_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGINT (a graceful stop: the heartbeat map is written), then wait.
pub(crate) fn stop_child(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn load_row(what: &str, r: &LoadResult) -> String {
    let rate = r.accepted as f64 / r.window_s.max(1e-9);
    let l = &r.latencies;
    format!(
        "| {what} | {rate:.0} | {:.2} / {:.2} / {:.2} | {} |",
        pct(l, 50.0),
        pct(l, 99.0),
        l.last().copied().unwrap_or(f64::NAN),
        errors_text(&r.errors),
    )
}

async fn heartbeats(
    devices: usize,
    seconds: u64,
    connections: usize,
    requests: usize,
    no_record: bool,
) -> anyhow::Result<()> {
    if devices == 0 || seconds == 0 || requests == 0 {
        bail!("--devices, --seconds and --requests must be at least 1");
    }
    println!(
        "bench heartbeats: {devices} enrolled boxes, {connections} keep-alive connections, {seconds} s measured per phase"
    );
    let dir = std::env::temp_dir().join(format!("vigie-bench-hb-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("vigie.db");
    let t = Instant::now();
    let fleet = seed_fleet(&db, devices).await?;
    let seed_s = t.elapsed().as_secs_f64();
    println!("  {devices} shops and boxes enrolled through the store in {seed_s:.1} s");
    let verify_us = verify_peer()?;
    println!("  peer: one signature check {verify_us:.1} µs on one core");
    // Valid for ±300 s (the default skew) around created: sign 150 s ahead.
    let created_s = now_ms() / 1_000 + 150;
    let t = Instant::now();
    let reqs = Arc::new(presign(&fleet, requests, created_s)?);
    let sign_s = t.elapsed().as_secs_f64();
    drop(fleet);
    println!("  {requests} heartbeats signed in {sign_s:.1} s");

    // Phase 1: the hub in this process.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let toml = format!(
        "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n\
         [store]\nsqlite_path = \"{}\"\n[[gateways]]\nkind = \"log\"\nname = \"log\"\n",
        db.display()
    );
    let config = Config::parse(&toml, [])?;
    let clock: SharedClock = Arc::new(SystemClock::new());
    let hub = vigie_hub::app::start(&config, clock, listener).await?;
    println!("  phase 1: hub in this process…");
    let inproc = drive(addr, reqs.clone(), connections, seconds, None).await?;
    let inproc_rss = proc_status_mib("self", "VmRSS:");
    hub.shutdown().await;
    println!("  {}", load_row("in-process", &inproc));

    // Phase 2: `vigie serve` as its own process (a new nonce cache: the same requests are fresh to it).
    println!("  phase 2: vigie serve as a separate process…");
    let (mut child, addr) = spawn_serve(&dir, &db).await?;
    let pid = child.id().to_string();
    let idle_rss = proc_status_mib(&pid, "VmRSS:");
    let separate = drive(addr, reqs.clone(), connections, seconds, Some(pid.clone())).await;
    let loaded_rss = proc_status_mib(&pid, "VmRSS:");
    let peak_rss = proc_status_mib(&pid, "VmHWM:");
    stop_child(&mut child);
    let separate = separate?;
    println!("  {}", load_row("separate process", &separate));
    let _ = std::fs::remove_dir_all(&dir);

    let rate = separate.accepted as f64 / separate.window_s.max(1e-9);
    let rate_ok = rate >= 20_000.0;
    let p99_ok = pct(&separate.latencies, 99.0) <= 50.0;
    let mem_ok = peak_rss.is_some_and(|m| m * 1_048_576.0 <= 200e6);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ceiling = cores as f64 * 1e6 / verify_us;
    let table = [
        "| measure | heartbeats accepted/s | latency p50 / p99 / max (ms) | errors |".to_string(),
        "| --- | ---: | --- | --- |".to_string(),
        load_row("`vigie serve` in its own process (the figure that counts)", &separate),
        load_row("hub in the bench's process", &inproc),
        format!(
            "| peer: signature checks alone, all {cores} cores, nothing else ({verify_us:.1} µs each on one core) | {ceiling:.0} | — | — |"
        ),
        String::new(),
        "| measure | value | target |".to_string(),
        "| --- | --- | --- |".to_string(),
        format!(
            "| heartbeats accepted per second (`vigie serve`) | {rate:.0}/s | ≥ 20,000/s: {} |",
            verdict(rate_ok)
        ),
        format!(
            "| heartbeat round trip p99 (`vigie serve`) | {:.2} ms | ≤ 50 ms: {} |",
            pct(&separate.latencies, 99.0),
            verdict(p99_ok)
        ),
        format!(
            "| hub resident memory, {devices} enrolled boxes: after start / after the load / peak (VmHWM) | {} / {} / {} | ≤ 200 MB (190.7 MiB): {} |",
            mib(idle_rss),
            mib(loaded_rss),
            mib(peak_rss),
            verdict(mem_ok)
        ),
        format!(
            "| CPU over the measured window: hub / load generator (`vigie serve` phase) | {} / {} of {cores} cores | — |",
            separate
                .hub_cpu_s
                .map(|c| format!("{:.2}", c / separate.window_s.max(1e-9)))
                .unwrap_or_else(|| "?".into()),
            separate
                .own_cpu_s
                .map(|c| format!("{:.2}", c / separate.window_s.max(1e-9)))
                .unwrap_or_else(|| "?".into()),
        ),
        format!(
            "| resident memory of the bench's process in phase 1 (hub + load generator + {requests} pre-signed requests) | {} | — |",
            mib(inproc_rss)
        ),
    ]
    .join("\n");
    let mut notes = format!(
        "{devices} synthetic shops with one box each, enrolled through the store's public API (`new_enrolment_code` + `enroll`, {ENROL_IN_FLIGHT} in flight, {seed_s:.0} s) before the clock starts; SQLite (WAL, synchronous = FULL) in a temporary folder, log gateway. \
         The load generator shares the machine's {cores} cores with the hub: to keep it light, {requests} heartbeats (each with its own nonce, `created` within the hub's ±300 s skew, box k mod {devices}) were signed before the measured windows ({sign_s:.0} s on all cores) and are written as raw HTTP/1.1 requests on {connections} keep-alive connections, one request in flight on each, as fast as the hub answers. \
         Each phase: {} s warm-up, then {seconds} s counted (a heartbeat counts when its answer arrives in the window; latency is the request's round trip). \
         Phase 1 runs the hub in the bench's process; phase 2 runs `vigie serve` on the same database as a child process, whose /proc/PID/status gives the memory figure (the same requests are fresh to it: nonces are remembered per hub process). \
         The peer row is the ceiling set by ECDSA P-256 verification alone (parse key and Signature-Input, digest, verify) if every core did nothing else.",
        HEARTBEAT_WARMUP.as_secs()
    );
    for (name, r) in [("phase 1", &inproc), ("phase 2", &separate)] {
        if r.ran_out {
            notes.push_str(&format!(
                " {name} used up the {} pre-signed heartbeats after {:.1} s: its window is that long.",
                r.requests_used, r.window_s
            ));
        }
    }
    report(
        "heartbeats",
        &format!("Heartbeats: signed heartbeats per second, {devices} enrolled boxes"),
        &table,
        &notes,
        no_record,
    )
}

// ---------------------------------------------------------------- the box

/// Upper bound for anything the box bench waits for (peers starting, the
/// first heartbeat, the direct SMS); reaching it is a failure.
const BOX_DEADLINE: Duration = Duration::from_secs(30);
/// Idle CPU is measured over this long.
const BOX_IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Between two looks at the simulator's file.
const BOX_POLL: Duration = Duration::from_millis(2);
/// Synthetic time between two presses of the in-process agent: longer than
/// the box's alarm session (30 min), so each press raises a new alarm.
const PRESS_SPACING_MS: i64 = 31 * 60_000;

/// socat + the GSM modem simulator (tests/peers/modem) in `dir`; killed on drop.
struct ModemSim {
    dir: PathBuf,
    socat: std::process::Child,
    sim: std::process::Child,
}

impl ModemSim {
    fn start(dir: &std::path::Path) -> anyhow::Result<ModemSim> {
        use std::process::Command;
        let socat = Command::new("socat")
            .args(["-d", "-d"])
            .arg(format!(
                "pty,raw,echo=0,link={}",
                dir.join("modem").display()
            ))
            .arg(format!(
                "pty,raw,echo=0,link={}",
                dir.join("host").display()
            ))
            .stderr(std::fs::File::create(dir.join("socat.log"))?)
            .spawn()
            .context("cannot start socat (apt-get install socat)")?;
        let mut sim = ModemSim {
            dir: dir.to_path_buf(),
            socat,
            // Replaced below once the ptys exist.
            sim: Command::new("true").spawn()?,
        };
        wait_for("socat's pty links", || {
            (dir.join("modem").exists() && dir.join("host").exists()).then_some(())
        })?;
        let _ = sim.sim.wait();
        std::fs::create_dir_all(dir.join("inbox"))?;
        sim.sim = Command::new("python3")
            .arg(vigie_testkit::repo_root().join("tests/peers/modem/modem_sim.py"))
            .arg(dir.join("modem"))
            .arg("--sent")
            .arg(dir.join("sent.jsonl"))
            .arg("--inbox")
            .arg(dir.join("inbox"))
            .arg("--ready")
            .arg(dir.join("ready"))
            .stderr(std::fs::File::create(dir.join("sim.log"))?)
            .spawn()
            .context("cannot start the modem simulator (python3)")?;
        wait_for("the modem simulator", || {
            dir.join("ready").exists().then_some(())
        })?;
        Ok(sim)
    }

    fn port(&self) -> PathBuf {
        self.dir.join("host")
    }

    fn sent_lines(&self) -> usize {
        std::fs::read_to_string(self.dir.join("sent.jsonl"))
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
            .unwrap_or(0)
    }
}

impl Drop for ModemSim {
    fn drop(&mut self) {
        let _ = self.sim.kill();
        let _ = self.sim.wait();
        let _ = self.socat.kill();
        let _ = self.socat.wait();
    }
}

fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let until = Instant::now() + BOX_DEADLINE;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() > until {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Press → durable through `Outbox::put` alone (each then marked done), ms.
fn outbox_puts(dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<f64>> {
    use vigie_agent::outbox::{Item, Outbox};
    let (mut outbox, _) = Outbox::open(dir)?;
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let start = Instant::now();
        let seq = outbox.put(Item::Alarm {
            alarm_id: Uuid::now_v7(),
            pressed_at_ms: now_ms(),
            recording: false,
            test: false,
        })?;
        out.push(ms_since(start));
        outbox.done(seq)?;
        if (k + 1) % 250 == 0 {
            println!("  outbox puts: {}/{n}…", k + 1);
        }
    }
    Ok(out)
}

/// Press → durable through the agent's loop (`AgentEvent::Durable`), with
/// no hub and no modem, on a synthetic clock: ms.
async fn agent_loop_presses(state_dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<f64>> {
    use std::sync::atomic::{AtomicI64, Ordering};
    use vigie_agent::agent::{AgentEvent, Deps};
    use vigie_core::press::Edge;
    let config = vigie_agent::config::AgentConfig::parse(&format!(
        "state_dir = \"{}\"\n",
        state_dir.display()
    ))
    .map_err(anyhow::Error::msg)?;
    let clock = Arc::new(AtomicI64::new(now_ms()));
    let now = {
        let clock = clock.clone();
        Arc::new(move || Timestamp(clock.load(Ordering::SeqCst)))
    };
    let (edges_tx, edges_rx) = tokio::sync::mpsc::channel(vigie_agent::button::EDGE_QUEUE_MAX);
    let (_shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let deps = Deps {
        client: None,
        modem: None,
        now,
    };
    let agent = tokio::spawn(vigie_agent::agent::run(
        config,
        deps,
        edges_rx,
        shutdown_rx,
        events_tx,
    ));
    let mut out = Vec::with_capacity(n);
    let base = now_ms();
    for k in 0..n {
        let at = base + k as i64 * PRESS_SPACING_MS;
        clock.store(at + 200, Ordering::SeqCst);
        edges_tx.send((Edge::Down, Timestamp(at))).await?;
        edges_tx.send((Edge::Up, Timestamp(at + 120))).await?;
        let until = Instant::now() + BOX_DEADLINE;
        loop {
            let e = tokio::time::timeout_at(until.into(), events.recv())
                .await
                .context("no durable press from the agent loop")?
                .context("the agent loop stopped")?;
            if let AgentEvent::Durable { durable_us, .. } = e {
                out.push(durable_us as f64 / 1_000.0);
                break;
            }
        }
    }
    drop(edges_tx);
    let _ = tokio::time::timeout(BOX_DEADLINE, agent).await;
    Ok(out)
}

async fn box_bench(presses: usize, no_record: bool) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};
    use vigie_hub::store::NewShop;
    if presses == 0 {
        bail!("--presses must be at least 1");
    }
    // On the real filesystem (the temporary folder here is not a tmpfs: checked below).
    let dir = std::env::temp_dir().join(format!("vigie-bench-box-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let fs = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(&dir)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    println!(
        "bench box: {presses} outbox puts on {} ({fs})",
        dir.display()
    );
    let puts = sorted(outbox_puts(&dir.join("outbox-puts"), presses)?);
    let loop_n = (presses / 2).clamp(1, vigie_agent::outbox::OUTBOX_ITEMS_MAX - 1);
    println!("  {loop_n} presses through the agent loop…");
    let looped = sorted(agent_loop_presses(&dir.join("agent-loop"), loop_n).await?);

    // The real box: `vigie agent` as a child process, enrolled against an in-process hub.
    println!("  starting the modem simulator, a hub and `vigie agent`…");
    let modem = ModemSim::start(&dir)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let toml = format!(
        "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n\
         [store]\nsqlite_path = \"{}\"\n[[gateways]]\nkind = \"log\"\nname = \"log\"\n",
        dir.join("hub.db").display()
    );
    let clock: SharedClock = Arc::new(SystemClock::new());
    let hub = vigie_hub::app::start(&Config::parse(&toml, [])?, clock, listener).await?;
    let now = Timestamp(now_ms());
    let shop = vigie_hub::region::synthetic_shops(1)
        .into_iter()
        .next()
        .context("no synthetic shop")?;
    let shop_id = hub.store.add_shop(NewShop { ..shop }, now).await?;
    hub.store
        .add_contact(
            NewContact {
                shop_id: Some(shop_id),
                name: "Gendarmerie".into(),
                phone: PhoneNumber::parse("+33473000017").map_err(|e| anyhow::anyhow!("{e}"))?,
                relation: Relation::Police,
                tier: 1,
            },
            now,
        )
        .await?;
    let code = hub.store.new_enrolment_code(shop_id, now).await?;
    let state = dir.join("box");
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[modem]\nport = \"{}\"\n",
            state.display(),
            modem.port().display()
        ),
    )?;
    let exe = std::env::current_exe()?;
    let enrolled = std::process::Command::new(&exe)
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .args(["enroll", "--hub", &hub.url(), "--code", &code])
        .env("VIGIE_LOG", "warn")
        .output()?;
    if !enrolled.status.success() {
        bail!(
            "vigie agent enroll failed: {}",
            String::from_utf8_lossy(&enrolled.stderr)
        );
    }
    let mut child = std::process::Command::new(&exe)
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .env("VIGIE_LOG", "info")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("agent.log"))?)
        .spawn()
        .context("cannot start vigie agent")?;
    let pid = child.id().to_string();
    // The agent's own lines, stamped as they arrive.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<(Instant, String)>();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if lines_tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
    }
    let outcome = async {
        let until = Instant::now() + BOX_DEADLINE;
        loop {
            hub.store.flush_health().await?;
            let seen = hub
                .store
                .fleet_health(Timestamp(now_ms()))
                .await?
                .iter()
                .any(|d| d.last_seen_at.is_some());
            if seen {
                break;
            }
            if Instant::now() > until {
                bail!("the agent sent no heartbeat within {BOX_DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = proc_status_mib(&pid, "VmRSS:");
        let hwm = proc_status_mib(&pid, "VmHWM:");
        println!(
            "  agent up, first heartbeat in: VmRSS {}; idle CPU over {BOX_IDLE_WINDOW:?}…",
            mib(rss)
        );
        let cpu0 = proc_cpu_s(&pid);
        tokio::time::sleep(BOX_IDLE_WINDOW).await;
        let cpu1 = proc_cpu_s(&pid);
        let idle_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);

        // The hub goes away (its port closed), then the holder presses.
        hub.shutdown().await;
        while lines_rx.try_recv().is_ok() {}
        let before = modem.sent_lines();
        let stdin = child.stdin.as_mut().context("the agent's stdin")?;
        let pressed = Instant::now();
        stdin.write_all(b"p\n")?;
        stdin.flush()?;
        let until = pressed + BOX_DEADLINE;
        let sms_ms = loop {
            if modem.sent_lines() > before {
                break ms_since(pressed);
            }
            if Instant::now() > until {
                bail!("no SMS reached the modem within {BOX_DEADLINE:?} of the press");
            }
            tokio::time::sleep(BOX_POLL).await;
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lines: Vec<(Instant, String)> = lines_rx.try_iter().collect();
        let at = |needle: &str| {
            lines
                .iter()
                .find(|(_, l)| l.contains(needle))
                .map(|(t, _)| t.saturating_duration_since(pressed).as_secs_f64() * 1_000.0)
        };
        anyhow::Ok((
            rss,
            hwm,
            idle_cpu,
            sms_ms,
            at("press recorded"),
            at("SMS sent by the box"),
        ))
    }
    .await;
    stop_child(&mut child);
    drop(modem);
    let (rss, hwm, idle_cpu, sms_ms, recorded_ms, reported_ms) = outcome?;
    let _ = std::fs::remove_dir_all(&dir);

    let row = |what: &str, v: &[f64], target: &str| {
        format!(
            "| {what} | {:.2} | {:.2} | {:.2} | {:.2} | {target} |",
            pct(v, 50.0),
            pct(v, 90.0),
            pct(v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    let opt_ms = |v: Option<f64>| {
        v.map(|m| format!("{m:.0} ms"))
            .unwrap_or_else(|| "not seen".into())
    };
    let rss_ok = rss.is_some_and(|m| m * 1_048_576.0 <= 15e6);
    let table = [
        "| press → durable on disk (ms) | p50 | p90 | p99 | max | target |".to_string(),
        "| --- | ---: | ---: | ---: | ---: | --- |".to_string(),
        row(
            &format!("through the agent loop (`AgentEvent::Durable`), {loop_n} presses"),
            &looped,
            &format!("≤ 5: {}", verdict(pct(&looped, 99.0) <= 5.0)),
        ),
        row(
            &format!("peer: `Outbox::put` alone (one fsync'd append), {presses} presses"),
            &puts,
            "—",
        ),
        String::new(),
        "| measure | value | target |".to_string(),
        "| --- | --- | --- |".to_string(),
        format!(
            "| `vigie agent` resident memory after its first heartbeat (VmRSS; peak VmHWM) | {} ({}) | ≤ 15 MB (14.3 MiB): {} |",
            mib(rss),
            mib(hwm),
            verdict(rss_ok)
        ),
        format!(
            "| `vigie agent` CPU when idle (utime + stime over {} s) | {} | — |",
            BOX_IDLE_WINDOW.as_secs(),
            idle_cpu
                .map(|c| format!("{:.2} s ({:.2} %)", c, c * 100.0 / BOX_IDLE_WINDOW.as_secs_f64()))
                .unwrap_or_else(|| "unknown".into())
        ),
        format!(
            "| press on stdin → SMS written by the modem simulator, hub's port closed | {sms_ms:.0} ms | ≤ 5 s: {} |",
            verdict(sms_ms <= 5_000.0)
        ),
        format!(
            "| … the agent's own lines: \"press recorded\" / \"SMS sent by the box\" | {} / {} | — |",
            opt_ms(recorded_ms),
            opt_ms(reported_ms)
        ),
    ]
    .join("\n");
    let notes = format!(
        "Release build. The outbox lives in a temporary folder on the real filesystem ({fs}), every put synced (`sync_data`) before it returns. \
         The agent-loop figure is `durable_us` of `AgentEvent::Durable`: from the press machine's raise to the synced outbox write, with no hub and no modem, presses {} min apart on a synthetic clock so each raises a new alarm. \
         Memory, idle CPU and the direct SMS are measured on `vigie agent --config …` run as a child process (stdin button, the GSM modem simulator `tests/peers/modem/modem_sim.py` on a socat pty pair), enrolled with `vigie agent enroll` against a hub in the bench's process (one shop, one police contact reachable directly). \
         Idle CPU starts 1 s after the first heartbeat; the hub's heartbeat interval is 60 s, so the idle window holds no heartbeat. \
         For the direct SMS the hub is shut down (its port closed), then `p` is written to the agent's stdin; the time runs to the simulator's line in its `--sent` file (polled every {} ms), so it includes the uplink failing, the AT exchange and the PDU on the serial link. One press, run once.",
        PRESS_SPACING_MS / 60_000,
        BOX_POLL.as_millis()
    );
    report(
        "box",
        "The box: press → durable, memory, idle CPU, direct SMS",
        &table,
        &notes,
        no_record,
    )
}

// ---------------------------------------------------------------- evidence

/// Chunks sealed one after the other for the sealing figures.
const SEAL_N: usize = 1_000;
/// Seals before the clock starts (caches, page faults).
const SEAL_WARMUP: usize = 20;
/// Audio recorded for the CPU figure.
const RECORDING_S: u64 = 60;
/// Runs of each verification, of which the median is reported.
const VERIFY_RUNS: usize = 5;
/// Audio per chunk in the one-hour export (the recorder's target).
const EXPORT_CHUNK_MS: u64 = 2_000;
/// The vault is run every this many chunks while uploading: 60 s of audio,
/// as often as a live recording is time-stamped (`TIMESTAMP_INTERVAL_MS`).
const VAULT_PASS_CHUNKS: usize = 30;

/// Standard base64 with padding (the wire's `audio` field).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Pseudo-random bytes (xorshift64*): audio of a real chunk's size that
/// nothing can compress or deduplicate.
fn noise_bytes(state: &mut u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn median(v: &[f64]) -> f64 {
    pct(&sorted(v.to_vec()), 50.0)
}

/// A WAV of `seconds` of test speech (tests/peers/audio/make_speech.sh,
/// repeated by sox), 16 kHz mono.
fn speech_wav(dir: &std::path::Path, seconds: u64) -> anyhow::Result<PathBuf> {
    let root = vigie_testkit::repo_root();
    let one = dir.join("speech.wav");
    let made = std::process::Command::new(root.join("tests/peers/audio/make_speech.sh"))
        .arg(&one)
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run tests/peers/audio/make_speech.sh (needs espeak-ng and sox)")?;
    if !made.success() {
        bail!("make_speech.sh failed (needs espeak-ng and sox)");
    }
    let out = dir.join(format!("speech-{seconds}s.wav"));
    // Ten repeats of the ~12 s passage are more than a minute; then cut.
    let cut = std::process::Command::new("sox")
        .arg(&one)
        .arg(&out)
        .args(["repeat", "9", "trim", "0", &seconds.to_string()])
        .status()
        .context("cannot run sox")?;
    if !cut.success() {
        bail!("sox could not make the {seconds} s WAV");
    }
    Ok(out)
}

/// What recording a minute of speech on the box cost.
struct RecordingRun {
    /// Opus chunks, in order (the first holds the Ogg headers).
    chunks: Vec<Vec<u8>>,
    audio_s: f64,
    wall_s: f64,
    cpu_s: f64,
    seal_us: Vec<f64>,
}

/// The box's path, in this process: the recorder (WAV played as the
/// microphone → Opus → Ogg chunks of ~2 s), each chunk sealed as the agent
/// does (`ChunkRecord::for_audio` + `seal`) and encrypted for the outbox.
/// CPU is utime + stime of the whole process, which does nothing else meanwhile.
async fn record_and_seal(
    dir: &std::path::Path,
    wav: &std::path::Path,
) -> anyhow::Result<RecordingRun> {
    use vigie_agent::recorder::{Recorder, WavSource};
    use vigie_evidence::record::{ChunkRecord, PREV_NONE, record_hash, seal};
    let key = vigie_proto::DeviceKey::generate();
    let cipher = vigie_agent::outbox::ChunkCipher::load_or_create(&dir.join("chunk.key"))?;
    let (recording_id, alarm_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (recording, alarm) = (recording_id.to_string(), alarm_id.to_string());
    let ms = |v: i64| u64::try_from(v).unwrap_or(0);
    let cpu0 = proc_cpu_s("self").context("cannot read /proc/self/stat")?;
    let t0 = Instant::now();
    let (recorder, mut rx) =
        Recorder::start(Box::new(WavSource::new(wav)), Duration::from_secs(30 * 60))?;
    let mut prev = PREV_NONE;
    let mut chunks = Vec::new();
    let mut seal_us = Vec::new();
    let mut outbox_bytes = 0usize;
    while let Some(chunk) = rx.recv().await {
        let started = Instant::now();
        let record = ChunkRecord::for_audio(
            &recording,
            &alarm,
            "bench-box",
            chunk.seq,
            prev,
            &chunk.bytes,
            (ms(chunk.wall_ms_start), ms(chunk.wall_ms_end)),
            (chunk.mono_ms_start, chunk.mono_ms_end),
            chunk.is_final,
        );
        let file = seal(&record, key.signing_key())?;
        seal_us.push(started.elapsed().as_secs_f64() * 1e6);
        prev = record_hash(&file);
        outbox_bytes += cipher.seal(recording_id, chunk.seq, &chunk.bytes).len();
        chunks.push(chunk.bytes);
    }
    let summary = recorder.finished().await?;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = proc_cpu_s("self").context("cannot read /proc/self/stat")? - cpu0;
    if outbox_bytes == 0 || chunks.is_empty() {
        bail!("the recorder produced no chunk");
    }
    Ok(RecordingRun {
        chunks,
        audio_s: summary.samples as f64 / 16_000.0,
        wall_s,
        cpu_s,
        seal_us,
    })
}

/// `n` seals (hash the chunk, sign the record with a P-256 key) over the
/// given real chunks in turn, one at a time; and the peer: hashing alone.
fn seal_timings(chunks: &[Vec<u8>], n: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    use vigie_evidence::record::{ChunkRecord, PREV_NONE, record_hash, seal};
    let key = vigie_proto::DeviceKey::generate();
    let (recording, alarm) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let t0 = 1_795_699_920_000u64;
    let mut prev = PREV_NONE;
    let mut seals = Vec::with_capacity(n);
    for i in 0..n + SEAL_WARMUP {
        let audio = &chunks[i % chunks.len()];
        let seq = i as u64;
        let at = seq * EXPORT_CHUNK_MS;
        let started = Instant::now();
        let record = ChunkRecord::for_audio(
            &recording,
            &alarm,
            "bench-box",
            seq,
            prev,
            audio,
            (t0 + at, t0 + at + EXPORT_CHUNK_MS),
            (at, at + EXPORT_CHUNK_MS),
            false,
        );
        let file = seal(&record, key.signing_key())?;
        let us = started.elapsed().as_secs_f64() * 1e6;
        prev = record_hash(&file);
        if i >= SEAL_WARMUP {
            seals.push(us);
        }
    }
    let mut hashes = Vec::with_capacity(n);
    let mut sink = 0u8;
    for i in 0..n {
        let audio = &chunks[i % chunks.len()];
        let started = Instant::now();
        let h = vigie_evidence::text::sha256(audio);
        hashes.push(started.elapsed().as_secs_f64() * 1e6);
        sink ^= h[0];
    }
    std::hint::black_box(sink);
    Ok((sorted(seals), sorted(hashes)))
}

/// A one-hour export made by the hub: `chunks` sealed chunks of `chunk_bytes`
/// of random audio uploaded over HTTP to a hub in this process (vault on,
/// the openssl TSA peer), the vault's pass run every 60 s of audio, then
/// `vigie_hub::vault::export::export`. The hub's clock is a manual one that
/// starts an hour in the past and moves 2 s a chunk, so the log, its
/// checkpoints and their time-stamps are spread as over a real hour.
async fn hour_export(
    dir: &std::path::Path,
    chunks: usize,
    chunk_bytes: usize,
) -> anyhow::Result<(Vec<u8>, f64, f64)> {
    use vigie_evidence::record::{ChunkRecord, PREV_NONE, record_hash, seal};
    use vigie_hub::clock::{Clock as _, ManualClock};
    let tsa = tokio::task::spawn_blocking(vigie_testkit::tsa::Tsa::start)
        .await?
        .context("the TSA peer (openssl ts) did not start")?;
    let chain = dir.join("tsa-chain.pem");
    std::fs::write(&chain, tsa.chain_pem()?)?;
    let span_ms = chunks as i64 * EXPORT_CHUNK_MS as i64;
    let clock = ManualClock::new(Timestamp(now_ms() - span_ms - 120_000));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let toml = format!(
        "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n\
         [store]\nsqlite_path = \"{}\"\n[[gateways]]\nkind = \"log\"\nname = \"log\"\n\
         [vault]\ntsa_urls = [\"{}\"]\ntsa_chain_pem = \"{}\"\n",
        dir.join("hub.db").display(),
        tsa.url(),
        chain.display()
    );
    let shared: SharedClock = clock.clone();
    let hub = vigie_hub::app::start(&Config::parse(&toml, [])?, shared, listener).await?;
    let result = async {
        let now = clock.now();
        let shop = vigie_hub::region::synthetic_shops(1)
            .into_iter()
            .next()
            .context("no synthetic shop")?;
        let shop_id = hub.store.add_shop(shop, now).await?;
        let key = vigie_proto::DeviceKey::generate();
        let code = hub.store.new_enrolment_code(shop_id, now).await?;
        let (device, _) = hub
            .store
            .enroll(&code, &key.public_key_b64(), "bench", now)
            .await?;
        let client = vigie_agent::uplink::HubClient::new(&hub.url(), &device.id, key);
        let alarm_id = Uuid::now_v7();
        let pressed = clock.now().as_ms();
        client
            .raise(
                &vigie_proto::RaiseAlarm {
                    alarm_id,
                    pressed_at_ms: pressed,
                    sent_at_ms: pressed,
                    recording: true,
                    direct_sms: Vec::new(),
                    test: false,
                },
                pressed,
            )
            .await?;
        let recording_id = Uuid::now_v7();
        let (recording, alarm) = (recording_id.to_string(), alarm_id.to_string());
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut prev = PREV_NONE;
        let started = Instant::now();
        for seq in 0..chunks {
            let audio = noise_bytes(&mut rng, chunk_bytes);
            let t = clock.now().as_ms().max(0) as u64;
            let mono = seq as u64 * EXPORT_CHUNK_MS;
            let record = ChunkRecord::for_audio(
                &recording,
                &alarm,
                &device.id,
                seq as u64,
                prev,
                &audio,
                (t, t + EXPORT_CHUNK_MS),
                (mono, mono + EXPORT_CHUNK_MS),
                seq + 1 == chunks,
            );
            let file = seal(&record, client.key().signing_key())?;
            prev = record_hash(&file);
            clock.advance_ms(EXPORT_CHUNK_MS as i64);
            let upload = vigie_proto::UploadChunk {
                record: String::from_utf8(file)?,
                audio: base64(&audio),
            };
            client
                .upload_chunk(recording_id, &upload, clock.now().as_ms())
                .await
                .with_context(|| format!("upload of chunk {seq}"))?;
            if (seq + 1) % VAULT_PASS_CHUNKS == 0 {
                hub.vault.tick(&hub.store, clock.now()).await?;
            }
        }
        hub.vault.tick(&hub.store, clock.now()).await?;
        let upload_s = started.elapsed().as_secs_f64();
        println!("  {chunks} chunks uploaded and logged in {upload_s:.1} s");
        let facts = vigie_hub::vault::export::ReportFacts {
            shop: "Tabac du banc d'essai".into(),
            commune: "Riom".into(),
            alarm_pressed_at: Timestamp(pressed),
        };
        let started = Instant::now();
        let zip = vigie_hub::vault::export::export(
            &hub.vault,
            &hub.store,
            recording_id,
            "bench",
            "mesure des performances / benchmark",
            &facts,
            clock.now(),
        )
        .await?;
        let export_s = started.elapsed().as_secs_f64();
        anyhow::Ok((zip, upload_s, export_s))
    }
    .await;
    hub.shutdown().await;
    drop(tsa);
    result
}

/// `sha256sum` over every file of the unpacked export, run from its folder.
fn sha256sum_files(root: &std::path::Path, names: &[String]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = std::process::Command::new("sha256sum")
        .args(names)
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run sha256sum")?;
    let ms = ms_since(started);
    if !out.status.success() {
        bail!("sha256sum failed");
    }
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
    if lines != names.len() {
        bail!("sha256sum hashed {lines} files of {}", names.len());
    }
    Ok(ms)
}

async fn evidence(chunks: usize, no_record: bool) -> anyhow::Result<()> {
    if chunks == 0 {
        bail!("--chunks must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("vigie-bench-ev-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let result = evidence_in(&dir, chunks, no_record).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn evidence_in(dir: &std::path::Path, chunks: usize, no_record: bool) -> anyhow::Result<()> {
    println!(
        "bench evidence: {RECORDING_S} s of speech through the recorder, {SEAL_N} seals, a {chunks}-chunk export"
    );
    let wav = speech_wav(dir, RECORDING_S)?;

    // 1. The box: recording a minute, sealing as it goes; then sealing alone.
    let rec = record_and_seal(dir, &wav).await?;
    let middle: Vec<Vec<u8>> = if rec.chunks.len() > 2 {
        rec.chunks[1..rec.chunks.len() - 1].to_vec()
    } else {
        rec.chunks.clone()
    };
    let chunk_mean = middle.iter().map(Vec::len).sum::<usize>() / middle.len().max(1);
    let (chunk_min, chunk_max) = (
        middle.iter().map(Vec::len).min().unwrap_or(0),
        middle.iter().map(Vec::len).max().unwrap_or(0),
    );
    let cpu_per_min = rec.cpu_s / (rec.audio_s / 60.0).max(1e-9);
    println!(
        "  recorded {:.1} s of audio in {:.2} s: {} chunks of {chunk_mean} bytes on average, {:.2} CPU s",
        rec.audio_s,
        rec.wall_s,
        rec.chunks.len(),
        rec.cpu_s
    );
    let (seals, hashes) = seal_timings(&middle, SEAL_N)?;
    let rec_seals = sorted(rec.seal_us.clone());
    println!(
        "  sealing: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        pct(&seals, 50.0),
        pct(&seals, 99.0),
        pct(&seals, 100.0)
    );

    // 2. A one-hour export, made by the hub, verified offline beside sha256sum.
    println!("  building a {chunks}-chunk export through a hub and the TSA peer…");
    let (zip, upload_s, export_s) = hour_export(dir, chunks, chunk_mean).await?;
    let files = vigie_evidence::export::unpack(&zip)?;
    let tokens = files
        .keys()
        .filter(|k| k.starts_with("timestamps/"))
        .count();
    let audio_bytes: usize = files
        .iter()
        .filter(|(k, _)| k.starts_with("audio/"))
        .map(|(_, v)| v.len())
        .sum();
    let files_bytes: usize = files.values().map(Vec::len).sum();
    let timeline: String = files
        .get(vigie_evidence::export::TIMELINE)
        .map(|t| String::from_utf8_lossy(t).chars().take(200).collect())
        .unwrap_or_else(|| "(missing)".into());
    let root = dir.join("export");
    let mut names = Vec::with_capacity(files.len());
    for (name, bytes) in &files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        names.push(name.clone());
    }
    drop(files);
    let mut verify_ms = Vec::with_capacity(VERIFY_RUNS);
    let mut sha_ms = Vec::with_capacity(VERIFY_RUNS);
    let mut outcome = None;
    for run in 0..VERIFY_RUNS {
        let started = Instant::now();
        let checked =
            vigie_evidence::verify::verify_export(&zip, &vigie_evidence::verify::rfc3161_check);
        verify_ms.push(ms_since(started));
        sha_ms.push(sha256sum_files(&root, &names)?);
        println!(
            "  run {}: verify_export {:.0} ms, sha256sum {:.0} ms",
            run + 1,
            verify_ms[run],
            sha_ms[run]
        );
        if outcome.is_none() {
            outcome = Some(checked);
        }
    }
    let checked = outcome.context("no verification ran")?;
    if !checked.ok() {
        bail!("the export does not verify: {checked:#?}");
    }
    let warnings: Vec<String> = checked.warnings().map(|w| w.en.clone()).collect();
    let (v, s) = (median(&verify_ms), median(&sha_ms));

    let mib = |b: usize| b as f64 / 1_048_576.0;
    let hours = chunks as f64 * EXPORT_CHUNK_MS as f64 / 3_600_000.0;
    let seal_ok = pct(&seals, 99.0) <= 1_000.0;
    let table = format!(
        "| measure | p50 | p99 | max | target |\n\
         | --- | ---: | ---: | ---: | --- |\n\
         | sealing one 2 s chunk (`ChunkRecord::for_audio` + `seal`, P-256), {SEAL_N} real Opus chunks, µs | {:.0} | {:.0} | {:.0} | ≤ 1,000 µs (on p99): {} |\n\
         | … the same, in the recording run ({} chunks, beside the encoder), µs | {:.0} | {:.0} | {:.0} | — |\n\
         | peer: SHA-256 of the chunk alone, µs | {:.1} | {:.1} | {:.1} | — |\n\n\
         | measure | value | target |\n\
         | --- | --- | --- |\n\
         | box CPU while recording: recorder (WAV → 16 kHz → Opus 20 kb/s → Ogg chunks) + sealing + outbox encryption | {:.2} CPU s per minute of audio ({:.1} % of one core in real time); {:.1} s of audio in {:.2} s | — |\n\
         | Opus chunk size (20 kb/s, {} chunks of about 2 s, headers and last chunk left out) | mean {chunk_mean} B, min {chunk_min} B, max {chunk_max} B | — |\n\
         | export: {chunks} chunks ({hours:.2} h), {} files, {:.1} MiB ({:.1} MiB of audio: chunks and the whole file), {tokens} RFC 3161 tokens | made by the hub in {export_s:.2} s (uploads: {upload_s:.1} s) | — |\n\
         | `vigie_evidence::verify::verify_export` (what `vigie verify` runs), median of {VERIFY_RUNS} | {v:.0} ms (runs: {}) | ≤ 1 s: {} |\n\
         | peer: `sha256sum` over the same files, unpacked, median of {VERIFY_RUNS} | {s:.0} ms (runs: {}) | — |\n\
         | ratio verify / sha256sum | {:.1} | — |",
        pct(&seals, 50.0),
        pct(&seals, 99.0),
        pct(&seals, 100.0),
        verdict(seal_ok),
        rec_seals.len(),
        pct(&rec_seals, 50.0),
        pct(&rec_seals, 99.0),
        pct(&rec_seals, 100.0),
        pct(&hashes, 50.0),
        pct(&hashes, 99.0),
        pct(&hashes, 100.0),
        cpu_per_min,
        rec.cpu_s / rec.audio_s.max(1e-9) * 100.0,
        rec.audio_s,
        rec.wall_s,
        middle.len(),
        names.len(),
        mib(files_bytes),
        mib(audio_bytes),
        verify_ms
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        verdict(v <= 1_000.0),
        sha_ms
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        v / s.max(1e-9),
    );
    let warned = if warnings.is_empty() {
        "none".to_string()
    } else {
        warnings.join("; ")
    };
    let notes = format!(
        "Release build, on this machine (no box hardware here: a Raspberry-Pi-class box is several times slower per core). \
         Sealing: {SEAL_N} seals one after the other ({SEAL_WARMUP} warm-up ones first), each hashing one of the {} real chunks in turn and signing its record with a fresh P-256 key (`p256`, as the agent does); the chunks come from the recording run: \
         `tests/peers/audio/make_speech.sh` (espeak-ng French speech, a shout, brown noise) repeated by sox to {RECORDING_S} s, played as the microphone by `WavSource` through `vigie_agent::recorder::Recorder`, \
         each chunk sealed and encrypted for the outbox (`ChunkCipher::seal`, not written to disk) as it came out. The WAV is read as fast as the encoder takes it, so the CPU figure is the work per minute of audio \
         (utime + stime of the bench's process from /proc/self/stat, 10 ms ticks, over the whole run; nothing else runs in the process meanwhile), not a real-time load. \
         Export: {chunks} chunks of {chunk_mean} bytes of random audio (the mean real chunk size; random so that nothing compresses), each sealed by an enrolled device key and uploaded with its signed request (`HubClient::upload_chunk`) to a hub in this process \
         (SQLite WAL, synchronous = FULL; vault on; the RFC 3161 peer `openssl ts` behind tests/peers/tsa/tsa_http.py), its vault pass run every {VAULT_PASS_CHUNKS} chunks ({} s of audio: a checkpoint time-stamped while the recording is live); \
         the hub's clock is a manual one moving 2 s a chunk from an hour ago, so checkpoints and tokens are spread as over a real hour. The export is `vigie_hub::vault::export::export`. \
         Random audio is not Ogg Opus, so the hub cannot decode it for the speech timeline (it logs a warning, not shown here: the bench prints no logs) and the export's `timeline.json` is `{timeline}`; decoding happens when exporting, not when verifying, which only checks that file's hash and that it is JSON. \
         Verification: `verify_export(zip, &rfc3161_check)` over the ZIP in memory (unpacking, manifest and its signature, every record's signature and chain, inclusion and consistency proofs, every token's signature and chain), checked ok; \
         its warnings: {warned}. The peer hashes the same files written unpacked to the temporary folder (page cache warm), one `sha256sum` process over all {} paths, in the same loop.",
        middle.len(),
        VAULT_PASS_CHUNKS as u64 * EXPORT_CHUNK_MS / 1_000,
        names.len(),
    );
    report(
        "evidence",
        "Evidence: sealing a chunk on the box, CPU while recording, verifying a one-hour export",
        &table,
        &notes,
        no_record,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(pct(&v, 50.0), 50.0);
        assert_eq!(pct(&v, 99.0), 99.0);
        assert_eq!(pct(&v, 100.0), 100.0);
        assert_eq!(pct(&[3.0], 50.0), 3.0);
        assert!(pct(&[], 50.0).is_nan());
    }

    fn msg(to: &str, at_ms: f64) -> SmscMessage {
        SmscMessage {
            seq: 0,
            at_ms,
            to: to.into(),
            from: "VIGIE".into(),
            text: String::new(),
            data_coding: 0,
            message_id: String::new(),
            registered_delivery: 1,
        }
    }

    #[test]
    fn analysis_counts_loss_duplicates_and_order() {
        let dest: HashMap<String, Dest> = [
            ("a1", Dest::Contact(0)),
            ("a2", Dest::Contact(0)),
            ("b1", Dest::Contact(1)),
            ("b2", Dest::Contact(1)),
            ("h0", Dest::Holder(0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let raised = [
            Raised {
                sent_at: 0.0,
                acked_at: 1.0,
                ack_ms: 1.0,
            },
            Raised {
                sent_at: 0.0,
                acked_at: 1.0,
                ack_ms: 1.0,
            },
        ];
        // Alarm 0: first at 2, second at 3; alarm 1: first at 4 (after 0's
        // second, while acknowledged: an inversion), b2 never, a1 twice.
        let m = [
            msg("a1", 2.0),
            msg("a2", 3.0),
            msg("b1", 4.0),
            msg("a1", 5.0),
            msg("h0", 6.0),
            msg("zz", 7.0),
        ];
        let a = analyse(&m, &dest, &raised, 2, 2, 0.0, 0);
        assert_eq!(a.firsts, 2);
        assert_eq!(a.missing, 1);
        assert_eq!(a.duplicates, 1);
        assert_eq!(a.strays, 1);
        assert_eq!(a.holders, 1);
        assert_eq!(a.last_first, 4.0);
        assert_eq!(a.first_second, 3.0);
        assert_eq!(a.after_any_second, 1);
        assert_eq!(a.inverted, 1);
        assert_eq!(a.inverted_beyond_window, 1);
        let a = analyse(&m, &dest, &raised, 2, 2, 0.0, 2);
        assert_eq!(a.inverted, 1);
        assert_eq!(a.inverted_beyond_window, 0);
    }

    #[test]
    fn utc_date_is_plausible() {
        let d = utc_now();
        assert!(d.starts_with("20") && d.ends_with(" UTC"), "{d}");
    }
}
