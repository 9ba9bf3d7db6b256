//! `vigie bench console`: the console's quality bars. A press → the alarm
//! on a connected board (the Server-Sent Event that carries it received by
//! an HTTP client signed in as an operator), one press at a time; then the
//! board of a whole Region (2,671 shops) with 50 open alarms: page weight
//! and the time the hub takes to serve it on loopback.

use crate::bench::{pct, report, sorted};
use crate::device::{Button, now_ms};
use anyhow::{Context as _, bail};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use vigie_core::{Outcome, Timestamp};
use vigie_hub::clock::{SharedClock, SystemClock};
use vigie_hub::config::Config;

/// The Region's shops.
const REGION_SHOPS: usize = 2_671;
/// Open alarms on the board when it is weighed.
const BOARD_OPEN_ALARMS: usize = 50;
/// Board pages fetched for the timing.
const BOARD_FETCHES: usize = 30;
/// How long one press may take to reach the board before the bench gives up.
const EVENT_DEADLINE: Duration = Duration::from_secs(10);
const OPERATOR: &str = "bench.desk";
const PASSWORD: &str = "bench password for the desk";

/// A signed-in operator: the session cookie.
struct Desk {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next().map(str::to_string))
        .collect()
}

impl Desk {
    async fn sign_in(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let page = http.get(format!("{base}/console/sign-in")).send().await?;
        let presign = set_cookies(&page).join("; ");
        let html = page.text().await?;
        let token = html
            .split(r#"name="_csrf" value=""#)
            .nth(1)
            .and_then(|s| s.split('"').next())
            .context("the sign-in page has no CSRF token")?
            .to_string();
        let resp = http
            .post(format!("{base}/console/sign-in"))
            .header(reqwest::header::COOKIE, presign)
            .header(reqwest::header::ORIGIN, base)
            .form(&[
                ("_csrf", token.as_str()),
                ("username", OPERATOR),
                ("password", PASSWORD),
            ])
            .send()
            .await?;
        let cookie = set_cookies(&resp)
            .into_iter()
            .find(|c| c.starts_with("vigie_session=") && c.len() > "vigie_session=".len())
            .context("sign-in gave no session")?;
        Ok(Self {
            http,
            base: base.to_string(),
            cookie,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("GET {path}: {}", resp.status());
        }
        Ok(resp)
    }
}

/// Read the event stream until `needle` appears in one event; the events
/// before it are dropped.
async fn until(
    live: &mut reqwest::Response,
    buffer: &mut String,
    needle: &str,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.contains(needle) {
                return Ok(());
            }
        }
        let chunk = tokio::time::timeout_at(deadline, live.chunk())
            .await
            .context("no event in time")??
            .context("the event stream ended")?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

pub async fn console(presses: usize, no_record: bool) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("vigie-bench-console-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let config = Config::parse(
        &format!(
            "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n[store]\nsqlite_path = \"{}\"\n[[gateways]]\nkind = \"log\"\nname = \"phones\"\n",
            dir.join("vigie.db").display()
        ),
        [],
    )?;
    let clock: SharedClock = Arc::new(SystemClock::new());
    let ui = vigie_console::mount(vigie_console::config_from(&config));
    let hub = vigie_hub::app::start_with_ui(&config, clock, listener, Some(ui)).await?;
    let store = hub.store.clone();
    let now = Timestamp(now_ms());
    store
        .import_shops(vigie_hub::region::synthetic_shops(REGION_SHOPS), now)
        .await?;
    let shops = store.shops().await?;
    vigie_console::create_account(
        &store,
        vigie_console::AccountRequest {
            username: OPERATOR,
            display_name: "Bench desk",
            role: vigie_hub::store::Role::Operator,
            shop_id: None,
            password: PASSWORD,
            with_totp: false,
        },
        now,
    )
    .await?;
    let desk = Desk::sign_in(&hub.url()).await?;
    let http = reqwest::Client::new();
    let mut buttons = Vec::new();
    for shop in shops.iter().take(BOARD_OPEN_ALARMS.max(1)) {
        let code = store.new_enrolment_code(shop.id, now).await?;
        buttons.push(Button::enroll(http.clone(), &hub.url(), &code).await?.0);
    }

    // 1. Press → the board's event, one press at a time; each alarm is
    // closed before the next so the board stays the size of a quiet day.
    let mut live = desk.get("/console/live").await?;
    let mut buffer = String::new();
    until(&mut live, &mut buffer, "event: board").await?;
    let mut to_event = Vec::with_capacity(presses);
    let mut to_ack = Vec::with_capacity(presses);
    let warm_up = 5;
    for i in 0..presses + warm_up {
        let button = &buttons[i % buttons.len()];
        let id = Uuid::now_v7();
        let t0 = Instant::now();
        let t = now_ms();
        button.raise(id, t, false, t).await?;
        let acked = t0.elapsed();
        until(&mut live, &mut buffer, &id.to_string()).await?;
        let seen = t0.elapsed();
        if i >= warm_up {
            to_event.push(seen.as_secs_f64() * 1_000.0);
            to_ack.push(acked.as_secs_f64() * 1_000.0);
        }
        store
            .resolve_alarm(id, Outcome::Test, "bench", Timestamp(now_ms()))
            .await?;
    }
    drop(live);
    let to_event = sorted(to_event);
    let to_ack = sorted(to_ack);

    // 2. The board with the whole Region and 50 open alarms.
    for button in &buttons {
        let t = now_ms();
        button.raise(Uuid::now_v7(), t, false, t).await?;
    }
    let mut board_ms = Vec::with_capacity(BOARD_FETCHES);
    let mut board_bytes = 0;
    for _ in 0..BOARD_FETCHES {
        let t0 = Instant::now();
        let body = desk.get("/console/board").await?.bytes().await?;
        board_ms.push(t0.elapsed().as_secs_f64() * 1_000.0);
        board_bytes = body.len();
        let html = String::from_utf8_lossy(&body);
        let open = html.matches(r#"data-live="1""#).count();
        if open != BOARD_OPEN_ALARMS.min(buttons.len()) {
            bail!("the board shows {open} open alarms, expected {BOARD_OPEN_ALARMS}");
        }
    }
    let board_ms = sorted(board_ms);
    let map_bytes = desk.get("/console/map").await?.bytes().await?.len();
    let mut peer_ms = Vec::with_capacity(BOARD_FETCHES);
    for _ in 0..BOARD_FETCHES {
        let t0 = Instant::now();
        http.get(format!("{}/healthz", hub.url()))
            .send()
            .await?
            .bytes()
            .await?;
        peer_ms.push(t0.elapsed().as_secs_f64() * 1_000.0);
    }
    let peer_ms = sorted(peer_ms);
    let assets = vigie_console::assets::total_bytes();
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);

    let kib = |b: usize| b as f64 / 1024.0;
    let table = format!(
        "| figure | p50 | p99 | max | target |\n| --- | --- | --- | --- | --- |\n\
         | press → alarm on a connected board (SSE event received), ms, {presses} presses | {:.2} | {:.2} | {:.2} | as fast as the alarm's first SMS |\n\
         | press → durable acknowledgement (same presses), ms | {:.2} | {:.2} | {:.2} | |\n\
         | board page served, 2,671 shops + 50 open alarms, ms ({BOARD_FETCHES} fetches) | {:.1} | {:.1} | {:.1} | |\n\
         | peer: `GET /healthz` on the same hub, ms | {:.2} | {:.2} | {:.2} | |\n\n\
         | page weight | KiB |\n| --- | --- |\n\
         | board HTML (50 alarms with their contacts, map of 2,671 shops inline) | {:.1} |\n\
         | of which the map (`/console/map`) | {:.1} |\n\
         | scripts and stylesheet (htmx, SSE extension, console.js, console.css; cached) | {:.1} |",
        pct(&to_event, 50.0),
        pct(&to_event, 99.0),
        to_event.last().copied().unwrap_or(f64::NAN),
        pct(&to_ack, 50.0),
        pct(&to_ack, 99.0),
        to_ack.last().copied().unwrap_or(f64::NAN),
        pct(&board_ms, 50.0),
        pct(&board_ms, 99.0),
        board_ms.last().copied().unwrap_or(f64::NAN),
        pct(&peer_ms, 50.0),
        pct(&peer_ms, 99.0),
        peer_ms.last().copied().unwrap_or(f64::NAN),
        kib(board_bytes),
        kib(map_bytes),
        kib(assets),
    );
    let notes = "A hub on a fresh SQLite file with the system clock, the console mounted, \
        an operator signed in over HTTP and listening on `/console/live`. Each press is a \
        signed raise from an enrolled button, timed from just before the request to the \
        event that carries the new alarm (the board re-rendered after the commit); the \
        alarm is then closed so the board stays small. The board fetch is timed on \
        loopback by the client (server render, 2,671 shops read for the map, transfer), \
        uncompressed. Found by this bench: without `TCP_NODELAY` on the hub's accepted \
        connections, about 1 % of events waited for the client's delayed acknowledgement \
        of the previous write (Nagle), p99 44.7 ms, max 47.9 ms over 500 presses; the hub \
        now sets it on every connection.";
    report(
        "console",
        "Console: press → live board, and the board of a whole Region",
        &table,
        notes,
        no_record,
    )
}
