//! `vigie simulate`: a fleet of virtual boxes against a running hub, for
//! the demo and load tests. Each box is enrolled with a one-time code (from
//! a file, or made by opening the hub's SQLite store directly), then
//! heartbeats at its interval (the fleet spread evenly over the interval,
//! each beat jittered) and, at the chosen rate, a random box raises a real
//! signed alarm through the box's own client (`vigie_agent::uplink`).
//!
//! Network loss is simulated on the box's side: a dropped request is never
//! sent. As on a box, a lost heartbeat waits for the next interval, and a
//! lost or unanswered alarm is retried with back-off and jitter until the
//! hub takes it or refuses it. Every request in flight holds a permit of one
//! semaphore (`--in-flight`), so the simulator never opens more than that
//! many connections at once.

use crate::device::now_ms;
use anyhow::{Context as _, bail};
use clap::Args;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;
use vigie_agent::uplink::{HubClient, UplinkError};
use vigie_core::Timestamp;
use vigie_proto::signature::{DeviceKey, new_nonce};
use vigie_proto::{EnrollRequest, EnrollResponse, Heartbeat, ModemState, RaiseAlarm};

/// Between two progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A request slower than this counts as unanswered (a box's own limit).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(vigie_agent::uplink::REQUEST_TIMEOUT_MS);
/// An alarm's retries: from the minimum, doubling, to the maximum, with jitter (as a box).
const RETRY_MS_MIN: u64 = 200;
const RETRY_MS_MAX: u64 = 30_000;
/// Each heartbeat moves by up to this fraction of the interval, either way.
const HEARTBEAT_JITTER: f64 = 0.05;

#[derive(Args)]
pub struct SimulateArgs {
    /// The hub's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    hub: String,
    /// Virtual boxes to enrol and run.
    #[arg(long)]
    devices: usize,
    /// One-time enrolment codes, one per line (`vigie admin code new`).
    #[arg(long, conflicts_with = "seed_db")]
    codes: Option<PathBuf>,
    /// The hub's SQLite file: create the shops (synthetic region) and codes there.
    #[arg(long)]
    seed_db: Option<PathBuf>,
    /// Seconds between two heartbeats of a box.
    #[arg(long, default_value_t = 60)]
    heartbeat_s: u64,
    /// Alarms raised per minute across the fleet (0: none).
    #[arg(long, default_value_t = 0.0)]
    press_per_min: f64,
    /// Percentage of requests dropped before they leave the box.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Stop after this many seconds of running (default: until Ctrl-C).
    #[arg(long)]
    duration_s: Option<u64>,
    /// Requests (and enrolments) in flight at most.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
}

/// One virtual box.
struct VirtualBox {
    device_id: String,
    key: DeviceKey,
}

#[derive(Default)]
struct Counters {
    enrolled: AtomicU64,
    heartbeats_ok: AtomicU64,
    heartbeats_lost: AtomicU64,
    presses: AtomicU64,
    alarms_taken: AtomicU64,
    retries: AtomicU64,
    /// Error kind → count.
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn error(&self, kind: String) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind).or_default() += 1;
        }
    }

    fn errors_line(&self) -> String {
        let e = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        if e.is_empty() {
            return "none".into();
        }
        e.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn error_kind(e: &UplinkError) -> String {
    match e {
        UplinkError::Refused { code, .. } => format!("refused:{code}"),
        UplinkError::Unreachable(m) if m.starts_with("hub answered HTTP") => {
            format!("http {}", m.trim_start_matches("hub answered HTTP "))
        }
        UplinkError::Unreachable(_) => "unreachable".into(),
    }
}

/// A small xorshift64* generator per thread (the jitter and loss need no
/// cryptographic randomness), seeded from the clock and the thread.
fn rnd_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15);
            let here = &nanos as *const u64 as u64;
            (nanos ^ here.rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Uniform in [0, 1).
pub fn rnd_f64() -> f64 {
    (rnd_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn lost(loss_pct: f64) -> bool {
    loss_pct > 0.0 && rnd_f64() * 100.0 < loss_pct
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.devices == 0 {
        bail!("--devices must be at least 1");
    }
    if !(0.0..=100.0).contains(&args.loss) {
        bail!("--loss is a percentage (0 to 100)");
    }
    if args.heartbeat_s == 0 {
        bail!("--heartbeat-s must be at least 1");
    }
    let hub = args.hub.trim_end_matches('/').to_string();
    let codes = match (&args.codes, &args.seed_db) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let codes: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if codes.len() < args.devices {
                bail!(
                    "{} holds {} codes for {} devices",
                    path.display(),
                    codes.len(),
                    args.devices
                );
            }
            codes
        }
        (None, Some(db)) => seed_codes(db, args.devices).await?,
        _ => bail!(
            "give the enrolment codes: --codes FILE or --seed-db PATH (the hub's SQLite file)"
        ),
    };
    let counters = Arc::new(Counters::default());
    let gate = Arc::new(Semaphore::new(args.in_flight.max(1)));
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(args.in_flight.max(1))
        .build()?;
    let started = Instant::now();
    let progress = {
        let counters = counters.clone();
        let devices = args.devices;
        tokio::spawn(async move { progress_loop(counters, devices, started).await })
    };

    println!(
        "simulate: enrolling {} boxes against {hub} ({} in flight)…",
        args.devices, args.in_flight
    );
    let boxes = enrol_all(&http, &hub, &codes[..args.devices], &gate, &counters).await?;
    println!(
        "simulate: {} boxes enrolled in {:.1} s; heartbeat every {} s, {} presses/min, {}% loss",
        boxes.len(),
        started.elapsed().as_secs_f64(),
        args.heartbeat_s,
        args.press_per_min,
        args.loss
    );
    let boxes = Arc::new(boxes);
    let run_start = tokio::time::Instant::now();
    let beats = tokio::spawn(heartbeat_loop(
        http.clone(),
        hub.clone(),
        boxes.clone(),
        gate.clone(),
        counters.clone(),
        Duration::from_secs(args.heartbeat_s),
        args.loss,
        run_start,
    ));
    let presses = tokio::spawn(press_loop(
        hub.clone(),
        boxes.clone(),
        gate.clone(),
        counters.clone(),
        args.press_per_min,
        args.loss,
    ));
    match args.duration_s {
        Some(d) => tokio::time::sleep(Duration::from_secs(d)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    beats.abort();
    presses.abort();
    progress.abort();
    let secs = run_start.elapsed().as_secs_f64();
    let ok = counters.heartbeats_ok.load(Ordering::Relaxed);
    println!(
        "simulate: done after {secs:.1} s: {} boxes; heartbeats accepted {ok} ({:.0}/s), lost to simulated loss {}; presses {}, alarms taken by the hub {}, retries {}; errors: {}",
        boxes.len(),
        ok as f64 / secs.max(0.001),
        counters.heartbeats_lost.load(Ordering::Relaxed),
        counters.presses.load(Ordering::Relaxed),
        counters.alarms_taken.load(Ordering::Relaxed),
        counters.retries.load(Ordering::Relaxed),
        counters.errors_line(),
    );
    Ok(())
}

/// Shops `ARA-00001…` of the synthetic region (created if missing) and one
/// fresh code per box, written straight into the hub's store.
async fn seed_codes(db: &std::path::Path, devices: usize) -> anyhow::Result<Vec<String>> {
    let store = vigie_hub::store::Store::open_sqlite(db, vigie_hub::store::Rules::default())
        .with_context(|| format!("cannot open the hub's store at {}", db.display()))?;
    let now = Timestamp(now_ms());
    let existing: HashSet<String> = store
        .shops()
        .await?
        .into_iter()
        .map(|s| s.reference)
        .collect();
    let wanted = vigie_hub::region::synthetic_shops(devices);
    let references: Vec<String> = wanted.iter().map(|s| s.reference.clone()).collect();
    let missing: Vec<_> = wanted
        .into_iter()
        .filter(|s| !existing.contains(&s.reference))
        .collect();
    if !missing.is_empty() {
        println!(
            "simulate: adding {} synthetic shops to {}",
            missing.len(),
            db.display()
        );
        store.import_shops(missing, now).await?;
    }
    let ids: std::collections::HashMap<String, i64> = store
        .shops()
        .await?
        .into_iter()
        .map(|s| (s.reference, s.id))
        .collect();
    let mut codes = Vec::with_capacity(devices);
    for r in &references {
        let id = *ids
            .get(r)
            .context("a synthetic shop is missing after import")?;
        codes.push(store.new_enrolment_code(id, now).await?);
    }
    Ok(codes)
}

async fn enrol_all(
    http: &reqwest::Client,
    hub: &str,
    codes: &[String],
    gate: &Arc<Semaphore>,
    counters: &Arc<Counters>,
) -> anyhow::Result<Vec<VirtualBox>> {
    let mut set = tokio::task::JoinSet::new();
    for code in codes {
        let permit = gate.clone().acquire_owned().await?;
        let (http, url, code, counters) = (
            http.clone(),
            format!("{hub}/v1/enroll"),
            code.clone(),
            counters.clone(),
        );
        set.spawn(async move {
            let _permit = permit;
            let key = DeviceKey::generate();
            let req = EnrollRequest {
                code,
                public_key: key.public_key_b64(),
                version: format!("sim-{}", env!("CARGO_PKG_VERSION")),
            };
            let resp = http
                .post(url)
                .json(&req)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("enrolment: cannot reach the hub: {e}"))?;
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                bail!("enrolment refused (HTTP {status}): {body}");
            }
            let enrolled: EnrollResponse = resp.json().await?;
            counters.enrolled.fetch_add(1, Ordering::Relaxed);
            Ok(VirtualBox {
                device_id: enrolled.device_id,
                key,
            })
        });
    }
    let mut boxes = Vec::with_capacity(codes.len());
    while let Some(joined) = set.join_next().await {
        boxes.push(joined.context("an enrolment task panicked")??);
    }
    Ok(boxes)
}

async fn progress_loop(counters: Arc<Counters>, devices: usize, started: Instant) {
    let mut last_ok = 0u64;
    let mut last_at = Instant::now();
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        let ok = counters.heartbeats_ok.load(Ordering::Relaxed);
        let rate = (ok - last_ok) as f64 / last_at.elapsed().as_secs_f64().max(0.001);
        (last_ok, last_at) = (ok, Instant::now());
        println!(
            "  {:>5.0} s: enrolled {}/{devices}; heartbeats {rate:.0}/s ({ok} accepted, {} lost); presses {} ({} taken, {} retries); errors: {}",
            started.elapsed().as_secs_f64(),
            counters.enrolled.load(Ordering::Relaxed),
            counters.heartbeats_lost.load(Ordering::Relaxed),
            counters.presses.load(Ordering::Relaxed),
            counters.alarms_taken.load(Ordering::Relaxed),
            counters.retries.load(Ordering::Relaxed),
            counters.errors_line(),
        );
    }
}

fn heartbeat_body(started: Instant) -> Heartbeat {
    Heartbeat {
        sent_at_ms: now_ms(),
        battery_pct: None,
        on_mains: true,
        signal_csq: Some(18),
        modem: ModemState::Registered,
        free_storage_mb: 1_024,
        version: format!("sim-{}", env!("CARGO_PKG_VERSION")),
        outbox_depth: 0,
        uptime_s: started.elapsed().as_secs(),
        clock_offset_ms: 0,
    }
}

/// Box `i` beats at `(round + (i + u_i) / n) × interval`, `u_i` random in
/// [0, 1), each beat moved by up to ±5 % of the interval.
#[allow(clippy::too_many_arguments)]
async fn heartbeat_loop(
    http: reqwest::Client,
    hub: String,
    boxes: Arc<Vec<VirtualBox>>,
    gate: Arc<Semaphore>,
    counters: Arc<Counters>,
    interval: Duration,
    loss: f64,
    start: tokio::time::Instant,
) {
    let n = boxes.len();
    let offsets: Vec<f64> = (0..n).map(|i| (i as f64 + rnd_f64()) / n as f64).collect();
    let url = format!("{hub}/v1/heartbeat");
    let began = Instant::now();
    for round in 0u64.. {
        for (i, offset) in offsets.iter().enumerate() {
            let jitter = (rnd_f64() * 2.0 - 1.0) * HEARTBEAT_JITTER;
            let at = (round as f64 + offset + jitter).max(0.0) * interval.as_secs_f64();
            tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
            if lost(loss) {
                counters.heartbeats_lost.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Ok(permit) = gate.clone().acquire_owned().await else {
                return;
            };
            let (http, url, boxes, counters) =
                (http.clone(), url.clone(), boxes.clone(), counters.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let b = &boxes[i];
                let result = send_heartbeat(&http, &url, b, began).await;
                match result {
                    Ok(()) => {
                        counters.heartbeats_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(kind) => counters.error(format!("heartbeat {kind}")),
                }
            });
        }
    }
}

async fn send_heartbeat(
    http: &reqwest::Client,
    url: &str,
    b: &VirtualBox,
    began: Instant,
) -> Result<(), String> {
    let body = serde_json::to_vec(&heartbeat_body(began)).map_err(|e| e.to_string())?;
    let h = b.key.sign(
        &b.device_id,
        "POST",
        "/v1/heartbeat",
        &body,
        now_ms() / 1_000,
        &new_nonce(),
    );
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("content-digest", h.content_digest)
        .header("signature-input", h.signature_input)
        .header("signature", h.signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timeout".to_string()
            } else {
                "unreachable".to_string()
            }
        })?;
    let status = resp.status();
    let _ = resp.bytes().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("http {}", status.as_u16()))
    }
}

/// Presses arrive as a Poisson process of `per_min` a minute, each on a random box.
async fn press_loop(
    hub: String,
    boxes: Arc<Vec<VirtualBox>>,
    gate: Arc<Semaphore>,
    counters: Arc<Counters>,
    per_min: f64,
    loss: f64,
) {
    if per_min <= 0.0 {
        return;
    }
    let mean_s = 60.0 / per_min;
    loop {
        let wait = -mean_s * (1.0 - rnd_f64()).ln();
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        let i = rnd_u64() as usize % boxes.len();
        let b = &boxes[i];
        let Ok(key) = DeviceKey::from_bytes(&b.key.to_bytes()) else {
            continue;
        };
        let client = HubClient::new(&hub, &b.device_id, key);
        counters.presses.fetch_add(1, Ordering::Relaxed);
        let (gate, counters) = (gate.clone(), counters.clone());
        tokio::spawn(async move { raise_until_taken(client, gate, counters, loss).await });
    }
}

/// One alarm, retried like a box until the hub takes it or refuses it.
async fn raise_until_taken(
    client: HubClient,
    gate: Arc<Semaphore>,
    counters: Arc<Counters>,
    loss: f64,
) {
    let pressed = now_ms();
    let alarm_id = Uuid::now_v7();
    let mut backoff = RETRY_MS_MIN;
    loop {
        let outcome: Result<(), String> = if lost(loss) {
            Err("dropped".to_string())
        } else {
            let Ok(_permit) = gate.acquire().await else {
                return;
            };
            let now = now_ms();
            let req = RaiseAlarm {
                alarm_id,
                pressed_at_ms: pressed,
                sent_at_ms: now,
                recording: false,
                direct_sms: Vec::new(),
                test: false,
            };
            match client.raise(&req, now).await {
                Ok(_) => {
                    counters.alarms_taken.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) if e.is_refusal() => {
                    counters.error(format!("alarm {}", error_kind(&e)));
                    return;
                }
                Err(e) => Err(error_kind(&e)),
            }
        };
        if let Err(kind) = outcome {
            if kind != "dropped" {
                counters.error(format!("alarm {kind}"));
            }
            counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        let jittered = backoff / 2 + rnd_u64() % (backoff / 2 + 1);
        tokio::time::sleep(Duration::from_millis(jittered)).await;
        backoff = (backoff * 2).min(RETRY_MS_MAX);
    }
}
