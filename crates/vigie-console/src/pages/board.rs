//! The desk's live board: open alarms (and those closed in the last day)
//! with who was alerted, what became of each SMS and who answered; a map
//! of the Region with every shop coloured by state. The list is a fragment
//! re-sent over Server-Sent Events whenever the store commits a change
//! that alters it.

use super::{Language, duration, phone_display, render, when};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;
use vigie_core::supervision::Liveness;
use vigie_core::{AlarmState, Answer, Timestamp};
use vigie_figures::map::{MapPlace, MapShop, MapView, ShopState, ZOOM_MAX, region_map};
use vigie_hub::store::{BoardAlarm, StepSeen, StoreError};

/// Steps of the server's clock are shown on the board this long after.
const CLOCK_STEPS_SHOWN_MS: i64 = 24 * 3_600_000;
/// Comment lines sent on an idle stream so proxies keep it open, in seconds.
const KEEP_ALIVE_S: u64 = 15;
/// How often a live view looks whether the hub can still write, in
/// milliseconds: a failed write commits nothing, so no commit signal says
/// that the disk is full; this reads one flag, and re-renders only when it
/// changed.
const WRITABLE_CHECK_MS: u64 = 2_000;
/// How far a pan link moves the map: half the view's width or height.
const PAN_FRACTION: f64 = 0.5;

pub fn state_label(state: AlarmState, lang: Lang) -> &'static str {
    match state {
        AlarmState::Open => lang.pick("en cours", "open"),
        AlarmState::Acknowledged => lang.pick("un contact a répondu", "a contact answered"),
        AlarmState::Resolved => lang.pick("close", "resolved"),
        AlarmState::Cancelled => lang.pick("annulée", "cancelled"),
    }
}

pub fn answer_label(answer: Answer, lang: Lang) -> &'static str {
    match answer {
        Answer::Coming => lang.pick("J'arrive", "Coming"),
        Answer::CallingPolice => lang.pick("J'appelle le 17", "Calling 17"),
        Answer::Unavailable => lang.pick("Pas disponible", "Unavailable"),
    }
}

pub fn delivery_label(state: &str, lang: Lang) -> &'static str {
    match state {
        "pending" => lang.pick("à envoyer", "queued"),
        "submitted" => lang.pick("envoyé", "sent"),
        "delivered" => lang.pick("reçu", "delivered"),
        "failed" => lang.pick("échec", "failed"),
        "withdrawn" => lang.pick("retiré", "withdrawn"),
        "" => lang.pick("alerté par le boîtier", "alerted by the box"),
        _ => lang.pick("inconnu", "unknown"),
    }
}

pub fn outcome_label(o: vigie_core::Outcome, lang: Lang) -> &'static str {
    match o {
        vigie_core::Outcome::Incident => lang.pick("incident traité", "incident handled"),
        vigie_core::Outcome::FalseAlarm => lang.pick("fausse alerte", "false alarm"),
        vigie_core::Outcome::Test => lang.pick("essai", "test"),
    }
}

/// One alarm as the board and the alarm page show it.
pub fn alarm_view(b: &BoardAlarm, now: Timestamp, lang: Lang) -> Value {
    let a = &b.alarm;
    let tier = b.contacts.iter().map(|c| c.tier).max().unwrap_or(0);
    let contacts: Vec<Value> = b
        .contacts
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "phone": phone_display(&c.phone),
                "tel": c.phone,
                "tier": c.tier,
                "delivery": if c.delivery.is_empty() { "direct" } else { c.delivery.as_str() },
                "delivery_label": delivery_label(&c.delivery, lang),
                "answer": c.answer.map(|x| x.as_str()),
                "answer_label": c.answer.map(|x| answer_label(x, lang)),
            })
        })
        .collect();
    json!({
        "id": a.id.to_string(),
        "code": a.code,
        "live": a.state.is_live(),
        "state": a.state.as_str(),
        "state_label": state_label(a.state, lang),
        "shop_id": b.shop.id,
        "shop_name": b.shop.name,
        "address": b.shop.address,
        "postcode": b.shop.postcode,
        "lat": format!("{:.5}", b.shop.lat),
        "lon": format!("{:.5}", b.shop.lon),
        "commune": b.shop.commune,
        "departement": b.shop.departement,
        "holder": b.shop.holder_name,
        "holder_tel": b.shop.holder_phone.as_e164(),
        "holder_phone": b.shop.holder_phone.national_display(),
        "pressed_at": when(a.pressed_at),
        "pressed_ms": a.pressed_at.as_ms(),
        "age": duration(now.ms_since(a.pressed_at)),
        "late": a.age_ms.map(duration),
        "tier": tier,
        "recording": a.recording,
        "exhausted": a.exhausted,
        "taken_by": b.taken_by,
        "outcome_label": a.outcome.map(|o| outcome_label(o, lang)),
        "closed_at": a.closed_at.map(when),
        "contacts": contacts,
        "coming": b.contacts.iter().filter(|c| c.answer == Some(Answer::Coming)).count(),
        // Who said they are coming or calling 17: what the desk tells the gendarmerie.
        "answering": b.contacts.iter()
            .filter(|c| matches!(c.answer, Some(Answer::Coming | Answer::CallingPolice)))
            .map(|c| json!({ "name": c.name, "answer_label": c.answer.map(|x| answer_label(x, lang)) }))
            .collect::<Vec<_>>(),
        "next_tier_in": a.next_step_at.filter(|_| a.state.is_live()).map(|t| duration(t.ms_since(now))),
        "next_tier_ms": a.next_step_at.filter(|_| a.state.is_live()).map(|t| t.as_ms()),
    })
}

/// The board's order: what needs a person first. Escalation exhausted
/// (nobody answered, nobody else will be asked), then the alarms nobody has
/// answered, longest waiting first, then those a contact answered, then the
/// closed ones, latest closed first.
fn needs_a_person_first(a: &vigie_hub::store::Alarm) -> (u8, i64) {
    match a.state {
        AlarmState::Open if a.exhausted => (0, a.pressed_at.as_ms()),
        AlarmState::Open => (1, a.pressed_at.as_ms()),
        AlarmState::Acknowledged => (2, a.pressed_at.as_ms()),
        AlarmState::Resolved | AlarmState::Cancelled => {
            (3, -a.closed_at.unwrap_or(a.pressed_at).as_ms())
        }
    }
}

/// The live part of the board, for one viewer.
pub async fn board_fragment(
    console: &Console,
    viewer: &Viewer,
    lang: Lang,
) -> Result<String, StoreError> {
    let now = console.now();
    let mut board = console.store().board(now, viewer.own_shop()).await?;
    board.alarms.sort_by_key(|b| needs_a_person_first(&b.alarm));
    let alarms: Vec<Value> = board
        .alarms
        .iter()
        .map(|b| alarm_view(b, now, lang))
        .collect();
    // Steps of the server's clock in the last day: the desk must know the
    // times it reads may have jumped, and that escalation kept its rhythm.
    let clock_steps: Vec<Value> = if crate::DESK.contains(&viewer.role()) {
        console
            .store()
            .clock_steps(now.plus_ms(-CLOCK_STEPS_SHOWN_MS))
            .await?
            .iter()
            .map(|s| {
                json!({
                    "at": when(s.at),
                    "sign": if s.delta_ms < 0 { "−" } else { "+" },
                    "by": duration(s.delta_ms.abs()),
                    "at_start": s.seen == StepSeen::AtStart,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let live = board.live_total;
    let shown = board
        .alarms
        .iter()
        .filter(|b| b.alarm.state.is_live())
        .count();
    let ctx = json!({
        "lang": lang.code(),
        "csrf": viewer.csrf,
        "alarms": alarms,
        "live": live,
        "hidden": live - shown,
        "now_ms": now.as_ms(),
        "desk": crate::DESK.contains(&viewer.role()),
        "clock_steps": clock_steps,
        "store_cannot_write": !console.store().can_write(),
    });
    console
        .inner
        .views
        .render("board_live.html", &ctx)
        .map_err(|e| StoreError::Unexpected(format!("board template: {e}")))
}

/// What part of the Region the map shows, as links and the board's script
/// ask for it: `?zoom=3&center=45.7772,3.0870`, or `?dept=63` (and the
/// script's `&px=`). Anything unreadable shows the whole Region.
#[derive(Debug, Default, Deserialize)]
pub struct MapQuery {
    zoom: Option<String>,
    center: Option<String>,
    dept: Option<String>,
    /// The map's width on the desk's screen, in CSS pixels (the board's
    /// script sends it), so names and marks are sized and spaced for it.
    px: Option<String>,
}

impl MapQuery {
    fn view(&self) -> MapView {
        let view = MapView::from_query(
            region_map(),
            self.zoom.as_deref(),
            self.center.as_deref(),
            self.dept.as_deref(),
        );
        match self
            .px
            .as_deref()
            .and_then(|p| p.trim().parse::<f64>().ok())
        {
            Some(px) => view.for_width_px(px),
            None => view,
        }
    }
}

/// The Region's communes the map may name, read once from the shipped table.
fn places() -> &'static [MapPlace] {
    static PLACES: LazyLock<Vec<MapPlace>> = LazyLock::new(|| {
        vigie_hub::region::communes()
            .into_iter()
            .map(|c| MapPlace {
                name: c.name,
                lat: c.lat,
                lon: c.lon,
                population: c.population,
            })
            .collect()
    });
    &PLACES
}

/// Every shop on the map, coloured: alarm, offline, not ready, ready, no
/// box. A shop in alarm links to its alarm's page (the newest, when it has
/// several) and is named by shop, commune and code.
pub async fn map_svg(
    console: &Console,
    viewer: &Viewer,
    view: &MapView,
    lang: Lang,
) -> Result<String, StoreError> {
    let now = console.now();
    let store = console.store();
    let shops = store.shops().await?;
    let health = match viewer.own_shop() {
        Some(shop) => store.shop_health(shop, now).await?,
        None => store.fleet_health(now).await?,
    };
    let alarm_shops: HashSet<i64> = store
        .shops_in_alarm(viewer.own_shop())
        .await?
        .into_iter()
        .collect();
    // The live alarms the board lists (the newest 100): their pages. A shop
    // in alarm beyond those (a regional storm) links to the shop's page,
    // which lists its alarms.
    let board = store.board(now, viewer.own_shop()).await?;
    let mut alarm_of: HashMap<i64, (String, String)> = HashMap::new();
    for b in board.alarms.iter().filter(|b| b.alarm.state.is_live()) {
        // The board lists the newest first: keep the first seen per shop.
        alarm_of
            .entry(b.shop.id)
            .or_insert_with(|| (b.alarm.id.to_string(), b.alarm.code.clone()));
    }
    let mut points = Vec::with_capacity(shops.len());
    let mut boxes_of: HashMap<i64, Vec<&vigie_hub::store::DeviceHealth>> = HashMap::new();
    for h in &health {
        boxes_of.entry(h.shop_id).or_default().push(h);
    }
    for s in shops.iter().filter(|s| viewer.can_see_shop(s.id)) {
        let boxes = boxes_of.get(&s.id).map(Vec::as_slice).unwrap_or_default();
        let state = if alarm_shops.contains(&s.id) {
            ShopState::Alarm
        } else if boxes.is_empty() {
            ShopState::NoBox
        } else if boxes
            .iter()
            .any(|h| h.liveness == Liveness::Online && h.flags.is_empty())
        {
            ShopState::Ready
        } else if boxes.iter().all(|h| h.liveness == Liveness::Offline) {
            ShopState::Offline
        } else {
            ShopState::NotReady
        };
        let (label, href) = match (state, alarm_of.get(&s.id)) {
            (ShopState::Alarm, Some((id, code))) => (
                format!(
                    "{} : {}, {} — code {code}",
                    lang.pick("Alarme", "Alarm"),
                    s.name,
                    s.commune
                ),
                format!("/console/alarms/{id}"),
            ),
            (ShopState::Alarm, None) => (
                format!(
                    "{} : {}, {}",
                    lang.pick("Alarme", "Alarm"),
                    s.name,
                    s.commune
                ),
                format!("/console/shops/{}", s.id),
            ),
            _ => (
                format!("{}, {}", s.name, s.commune),
                format!("/console/shops/{}", s.id),
            ),
        };
        points.push(MapShop {
            id: s.id,
            lat: s.lat,
            lon: s.lon,
            state,
            label,
            href: Some(href),
        });
    }
    let map = region_map();
    Ok(match &console.inner.config.tiles {
        Some(t) => map.svg_view_with_tiles(
            &points,
            places(),
            view,
            &map.tiles(&t.url_template),
            &t.attribution,
        ),
        None => map.svg_view(&points, places(), view),
    })
}

/// The map with its controls (zoom, pan, the whole Region, each
/// département), all plain links that the board's script follows in place.
pub async fn map_fragment(
    console: &Console,
    viewer: &Viewer,
    view: &MapView,
    lang: Lang,
) -> Result<String, StoreError> {
    let svg = map_svg(console, viewer, view, lang).await?;
    let map = region_map();
    let href = |v: MapView| format!("/console/board?{}", v.query(map));
    let departements: Vec<Value> = map
        .departements()
        .iter()
        .map(|d| {
            json!({
                "code": d.code(),
                "name": d.name(),
                "href": format!("/console/board?dept={}", d.code()),
            })
        })
        .collect();
    let ctx = json!({
        "lang": lang.code(),
        "svg": svg,
        "zoom": view.zoom(),
        "zoom_max": ZOOM_MAX,
        "zoom_in": (view.zoom() < ZOOM_MAX).then(|| href(view.zoomed(map, 1))),
        "zoom_out": (view.zoom() > 0).then(|| href(view.zoomed(map, -1))),
        "whole": href(MapView::whole(map)),
        "north": (view.zoom() > 0).then(|| href(view.panned(map, 0.0, -PAN_FRACTION))),
        "south": (view.zoom() > 0).then(|| href(view.panned(map, 0.0, PAN_FRACTION))),
        "west": (view.zoom() > 0).then(|| href(view.panned(map, -PAN_FRACTION, 0.0))),
        "east": (view.zoom() > 0).then(|| href(view.panned(map, PAN_FRACTION, 0.0))),
        "departements": departements,
    });
    console
        .inner
        .views
        .render("map_view.html", &ctx)
        .map_err(|e| StoreError::Unexpected(format!("map template: {e}")))
}

pub async fn page_html(console: &Console, viewer: &Viewer, lang: Lang, view: &MapView) -> Response {
    let fragment = match board_fragment(console, viewer, lang).await {
        Ok(f) => f,
        Err(e) => return super::store_error(e, lang),
    };
    // A shopkeeper's board shows her shop, not the Region's map.
    let own = match viewer
        .account
        .shop_id
        .filter(|_| viewer.own_shop().is_some())
    {
        Some(id) => match console.store().shop(id).await {
            Ok(s) => Some(json!({
                "id": s.id, "name": s.name, "address": s.address, "postcode": s.postcode,
                "commune": s.commune,
                "opening_hours": super::fleet::opening_hours_words(&s.opening_hours, lang),
            })),
            Err(e) => return super::store_error(e, lang),
        },
        None => None,
    };
    let map = if own.is_some() {
        String::new()
    } else {
        match map_fragment(console, viewer, view, lang).await {
            Ok(m) => m,
            Err(e) => return super::store_error(e, lang),
        }
    };
    render(
        console,
        Some(viewer),
        lang,
        "board.html",
        "/console/board",
        json!({ "fragment": fragment, "map": map, "own_shop": own }),
    )
}

pub async fn page(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(q): Query<MapQuery>,
) -> Response {
    page_html(&console, &v, lang, &q.view()).await
}

/// The map and its controls alone, for a view (the board's script fetches
/// it to zoom and pan in place, and when the shops in alarm change).
pub async fn map(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(q): Query<MapQuery>,
) -> Response {
    match map_fragment(&console, &v, &q.view(), lang).await {
        Ok(html) => {
            let mut resp = html.into_response();
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        Err(e) => super::store_error(e, lang),
    }
}

#[derive(Deserialize)]
pub struct LiveQuery {
    alarm: Option<uuid::Uuid>,
}

/// Server-Sent Events: `board` (the board's fragment) or, with `?alarm=`,
/// `alarm` (that alarm's timeline), sent at once and again after each
/// commit that changes what this viewer sees.
pub async fn live(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(q): Query<LiveQuery>,
) -> Response {
    if let Some(id) = q.alarm {
        match console.store().alarm(id).await {
            Ok(d) if v.can_see_shop(d.shop.id) => {}
            _ => return super::not_found(lang),
        }
    }
    Sse::new(stream(console, v, lang, q.alarm))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(KEEP_ALIVE_S)))
        .into_response()
}

fn stream(
    console: Console,
    viewer: Viewer,
    lang: Lang,
    alarm: Option<uuid::Uuid>,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    let commits = console.store().commits();
    // What the last fragment was rendered with: its text without the ages,
    // and whether the hub could write then.
    let state = (console, viewer, commits, None::<String>, true);
    futures::stream::unfold(
        state,
        move |(console, viewer, mut commits, mut last, mut writable)| async move {
            loop {
                if last.is_some() {
                    // Wait for the next commit, or for the hub to stop (or
                    // start again) being able to write; a closed store ends
                    // the stream.
                    let mut check = tokio::time::interval(Duration::from_millis(WRITABLE_CHECK_MS));
                    loop {
                        tokio::select! {
                            changed = commits.changed() => { changed.ok()?; break; }
                            _ = check.tick() => {
                                if console.store().can_write() != writable { break; }
                            }
                        }
                    }
                    // Signed out (here or everywhere), disabled or expired:
                    // the stream ends with the session.
                    if !crate::auth::still_signed_in(&console, &viewer.session_hash).await {
                        return None;
                    }
                }
                writable = console.store().can_write();
                let rendered = match alarm {
                    None => board_fragment(&console, &viewer, lang).await,
                    Some(id) => super::alarm::timeline_fragment(&console, &viewer, id, lang).await,
                };
                let html = match rendered {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::warn!(error = %e, "live view: cannot render");
                        last.get_or_insert_with(String::new);
                        continue;
                    }
                };
                // Ages change every second: re-send only when something else did.
                let key = strip_ages(&html);
                if last.as_deref() != Some(key.as_str()) {
                    let name = if alarm.is_some() { "alarm" } else { "board" };
                    let event = Event::default().event(name).data(html);
                    return Some((Ok(event), (console, viewer, commits, Some(key), writable)));
                }
                last = Some(key);
            }
        },
    )
}

/// The fragment without its `data-age` parts (they change every second).
fn strip_ages(html: &str) -> String {
    html.lines()
        .filter(|l| !l.contains("data-age"))
        .collect::<Vec<_>>()
        .join("\n")
}
