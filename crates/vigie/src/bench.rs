//! Benchmarks of the quality bars: `vigie bench latency` and `vigie bench
//! storm`. Each runs the real thing on loopback: the npm SMSC simulator
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
        /// Print only; leave docs/benchmarks.md alone.
        #[arg(long)]
        no_record: bool,
    },
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Latency {
            alarms,
            contacts,
            window,
            no_record,
        } => latency(alarms, contacts, window, no_record).await,
        BenchCommand::Storm {
            shops,
            contacts,
            throttle,
            unpaced,
            window,
            in_flight,
            no_record,
        } => {
            let pace = if unpaced { None } else { throttle };
            storm(
                shops, contacts, throttle, pace, window, in_flight, no_record,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- the rig

/// Simulator + hub + HTTP client; the hub's folder is removed on `stop`.
struct Rig {
    dir: PathBuf,
    smsc: Smsc,
    hub: RunningHub,
    http: reqwest::Client,
}

impl Rig {
    async fn start(window: usize, max_per_s: Option<u32>) -> anyhow::Result<Rig> {
        let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await?;
        let dir = std::env::temp_dir().join(format!("vigie-bench-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let toml = format!(
            "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n\
             [store]\nsqlite_path = \"{db}\"\n\
             [escalation]\ntier_timeout_s = {TIER_TIMEOUT_S}\n\
             [[gateways]]\nkind = \"smpp\"\nname = \"smsc\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             system_id = \"{SYSTEM_ID}\"\npassword = \"{PASSWORD}\"\nsource_addr = \"VIGIE\"\n\
             replies = false\nwindow = {window}\n{pace}",
            db = dir.join("vigie.db").display(),
            port = smsc.smpp_port(),
            pace = max_per_s
                .map(|r| format!("max_per_s = {r}\n"))
                .unwrap_or_default(),
        );
        let config = Config::parse(&toml, [])?;
        let clock: SharedClock = Arc::new(SystemClock);
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
    let list = crate::region::synthetic_shops(shops);
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

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1_000.0)
        .unwrap_or(0.0)
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1_000.0
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn verdict(ok: bool) -> &'static str {
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

async fn latency(
    alarms: usize,
    contacts: usize,
    window: usize,
    no_record: bool,
) -> anyhow::Result<()> {
    if alarms == 0 || contacts == 0 {
        bail!("--alarms and --contacts must be at least 1");
    }
    println!(
        "bench latency: {alarms} alarms (+{WARMUP_ALARMS} warm-up), one at a time, {contacts} tier-1 contacts each, SMPP window {window}"
    );
    let rig = Rig::start(window, None).await?;
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
         Bench hub: SQLite (WAL, synchronous = FULL) in the temporary folder, SMPP window {window}, tier timeout {TIER_TIMEOUT_S} s (no escalation during the run).",
        pct(&first, 50.0) / pct(&bare, 50.0),
        pct(&ack, 50.0) / pct(&health, 50.0),
    );
    report(
        "latency",
        "Latency: alarm → first SMS, and durable acknowledgement",
        &table,
        &notes,
        no_record,
    )
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
    no_record: bool,
) -> anyhow::Result<()> {
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
    let rig = Rig::start(window, pace).await?;
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
         The holder's confirmation SMS is counted apart. Bench hub: SQLite (WAL, synchronous = FULL) in a temporary folder, SMPP window {window}, \
         tier timeout {TIER_TIMEOUT_S} s (no escalation round during the run)."
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

fn report(key: &str, title: &str, table: &str, notes: &str, no_record: bool) -> anyhow::Result<()> {
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
```

| bench | measures | targets |
| --- | --- | --- |
| `latency` | one alarm at a time on an idle hub: client clock just before the raise request → the SMSC's record of the first `submit_sm` (an upper bound: signing, HTTP, signature check, durable write included); and the raise request's round trip, answered after the fsync'd commit. Peers: a bare SMPP submit, `GET /healthz`. | first SMS p50 ≤ 5 ms, p99 ≤ 25 ms; ack p99 ≤ 10 ms |
| `storm` | 2,671 shops × 5 tier-1 contacts raise at once (64 requests in flight): loss and duplicates per number, when every alarm's first SMS and every alert were submitted, and whether any alarm's first SMS came after another's second. | zero loss; every first before any second; all 13,355 in ≤ 5 s |
| `storm --throttle 100` | the same through a simulator answering `ESME_RTHROTTLED` above 100 SMS/s; stops once every alarm's first SMS is in. | first SMS of every alarm ≤ 30 s |
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

#[cfg(test)]
mod tests {
    use super::*;

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
