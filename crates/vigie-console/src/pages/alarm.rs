//! One alarm: its full timeline from the event log and the SMS outbox,
//! and what the desk does to it (take in hand, note, resolve). The list of
//! alarms, newest first, for the desk and a shopkeeper's own. Investigators
//! see none of this (their role is recordings only): an alarm's page holds
//! the contacts' names and numbers.

use super::board::{alarm_view, answer_label, delivery_label, outcome_label, state_label};
use super::{Language, not_found, phone_display, render, see_other, store_error, when};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use vigie_core::{Outcome, Timestamp};
use vigie_hub::store::{AlarmDetail, AlarmEvent, BoardAlarm, BoardContact, DeskAction, StoreError};

/// Alarms listed at most on the alarms page.
const ALARMS_LISTED_MAX: usize = 500;

fn event_label(event: &AlarmEvent, lang: Lang) -> String {
    match event {
        AlarmEvent::Raised { late_by_ms, .. } => match late_by_ms {
            Some(ms) if *ms > 0 => format!(
                "{} ({})",
                lang.pick(
                    "Appui sur le bouton, reçu en retard",
                    "Button pressed, received late"
                ),
                super::duration(*ms)
            ),
            _ => lang
                .pick("Appui sur le bouton", "Button pressed")
                .to_string(),
        },
        AlarmEvent::Escalated {
            tier,
            contacts,
            round,
            ..
        } => {
            let n = contacts.len();
            let again = if *round > 0 {
                lang.pick(" (nouveau tour)", " (again)")
            } else {
                ""
            };
            match lang {
                Lang::Fr => format!("Palier {tier} alerté : {n} contact(s){again}"),
                Lang::En => format!("Tier {tier} alerted: {n} contact(s){again}"),
            }
        }
        AlarmEvent::NoContact { .. } => lang
            .pick(
                "Aucun contact joignable à ce palier",
                "No reachable contact at this tier",
            )
            .to_string(),
        AlarmEvent::Exhausted { .. } => lang
            .pick(
                "Escalade épuisée : personne n'a répondu",
                "Escalation exhausted: nobody answered",
            )
            .to_string(),
        AlarmEvent::Answered { .. } => lang
            .pick("Réponse d'un contact", "A contact answered")
            .to_string(),
        AlarmEvent::Acknowledged { .. } => lang
            .pick(
                "Un contact a répondu : quelqu'un vient ou appelle le 17",
                "A contact answered: someone is coming or calling 17",
            )
            .to_string(),
        AlarmEvent::DirectSms { .. } => lang
            .pick(
                "SMS envoyés directement par le boîtier",
                "SMS sent directly by the box",
            )
            .to_string(),
        AlarmEvent::Cancelled { .. } => lang
            .pick("Annulée par un appui long", "Cancelled by a long press")
            .to_string(),
        AlarmEvent::Resolved { outcome, by } => format!(
            "{} {by} ({})",
            lang.pick("Close par", "Resolved by"),
            Outcome::parse(outcome)
                .map(|o| outcome_label(o, lang))
                .unwrap_or("")
        ),
        AlarmEvent::DeskTaken { by, from } => match from {
            Some(from) => match lang {
                Lang::Fr => format!("Suivie au poste par {by}, à la place de {from}"),
                Lang::En => format!("Followed at the desk by {by}, taking over from {from}"),
            },
            None => format!(
                "{} {by}",
                lang.pick("Suivie au poste par", "Followed at the desk by")
            ),
        },
        AlarmEvent::Note { by, text } => {
            format!("{} {by} : {text}", lang.pick("Note de", "Note by"))
        }
        AlarmEvent::RecordingRequested {} | AlarmEvent::RecordingStarted { .. } => lang
            .pick(
                "Enregistrement démarré (double appui)",
                "Recording started (double press)",
            )
            .to_string(),
        AlarmEvent::Delivered { .. } => lang
            .pick("SMS reçu par le téléphone", "SMS delivered")
            .to_string(),
        AlarmEvent::DeliveryFailed { retry, .. } => if *retry {
            lang.pick(
                "SMS non remis : nouvel essai par la passerelle suivante",
                "SMS not delivered: trying again through the next gateway",
            )
        } else {
            lang.pick("SMS non remis", "SMS not delivered")
        }
        .to_string(),
        AlarmEvent::TestPress { .. } => lang.pick("Essai silencieux", "Silent test").to_string(),
        AlarmEvent::RaisedByPanel {
            event,
            zone,
            silent,
            ..
        } => {
            let silent = if *silent {
                lang.pick(
                    " — silencieuse : rien vers le commerce",
                    " — silent: nothing towards the shop",
                )
            } else {
                ""
            };
            match lang {
                Lang::Fr => format!("Alarme de la centrale (code {event}, zone {zone}){silent}"),
                Lang::En => format!("Alarm from the panel (code {event}, zone {zone}){silent}"),
            }
        }
        AlarmEvent::PanelStillPresent { event, zone, .. } => match lang {
            Lang::Fr => format!("La centrale signale toujours le code {event} (zone {zone})"),
            Lang::En => format!("The panel still reports code {event} (zone {zone})"),
        },
        AlarmEvent::PanelRestore { event, zone, .. } => match lang {
            Lang::Fr => format!(
                "Retour au calme signalé par la centrale (code {event}, zone {zone}) : l'alarme reste ouverte"
            ),
            Lang::En => format!(
                "The panel reports a restore (code {event}, zone {zone}): the alarm stays open"
            ),
        },
        AlarmEvent::TestOk { .. } => lang
            .pick(
                "Essai : SMS pris par la passerelle",
                "Test: SMS taken by the gateway",
            )
            .to_string(),
        AlarmEvent::RaisedByPendant { text, position, .. } => {
            let at = position_label(position.as_ref());
            match lang {
                Lang::Fr => format!(
                    "Alarme d'un pendentif SOS par SMS : « {text} »{at} — canal non authentifié (le numéro d'expéditeur peut être usurpé)"
                ),
                Lang::En => format!(
                    "Alarm from an SOS pendant by SMS: \"{text}\"{at} — unauthenticated channel (the sender number can be spoofed)"
                ),
            }
        }
        AlarmEvent::PendantSms {
            text,
            meaning,
            position,
            ..
        } => {
            let at = position_label(position.as_ref());
            let what = match meaning.as_str() {
                "alarm" => lang.pick("nouvel appel à l'aide", "another call for help"),
                "cancel_or_answer" => lang.pick(
                    "sans effet : un SMS ne peut ni annuler, ni répondre, ni clore une alarme",
                    "no effect: an SMS can neither cancel, answer nor close an alarm",
                ),
                _ => lang.pick("information du pendentif", "information from the pendant"),
            };
            match lang {
                Lang::Fr => format!("SMS du pendentif : « {text} »{at} ({what})"),
                Lang::En => format!("SMS from the pendant: \"{text}\"{at} ({what})"),
            }
        }
        AlarmEvent::PendantFlood {
            messages, window_s, ..
        } => match lang {
            Lang::Fr => format!(
                "Rafale de SMS depuis le numéro du pendentif ({messages} en {window_s} s) : signalée ; l'alarme était déjà partie, les suivants sont comptés sans être listés"
            ),
            Lang::En => format!(
                "Flood of SMS from the pendant's number ({messages} in {window_s} s): flagged; the alarm had already gone out, the next ones are counted, not listed"
            ),
        },
    }
}

/// « , position 45.76400, 4.83570 » (the same in both languages) when the SMS gave one.
fn position_label(position: Option<&vigie_core::pendant::Position>) -> String {
    position.map_or_else(String::new, |p| {
        format!(", position {:.5}, {:.5}", p.lat, p.lon)
    })
}

/// Who follows the alarm at the desk: the last « Je prends en main ».
fn desk_holder(d: &AlarmDetail) -> Option<String> {
    d.events.iter().rev().find_map(|e| match &e.event {
        AlarmEvent::DeskTaken { by, .. } => Some(by.clone()),
        _ => None,
    })
}

/// The board's view of an alarm, built from its detail.
fn board_alarm(d: &AlarmDetail, names: &[(i64, String, u8)]) -> BoardAlarm {
    let mut contacts: Vec<BoardContact> = Vec::new();
    for n in d.notifications.iter().filter(|n| n.purpose == "alert") {
        if let Some(c) = contacts
            .iter_mut()
            .find(|c| c.contact_id == n.contact_id && c.phone == n.phone)
        {
            c.delivery = n.state.clone();
            c.tier_step = n.step;
            continue;
        }
        let (name, tier) = names
            .iter()
            .find(|(id, _, _)| Some(*id) == n.contact_id)
            .map(|(_, name, tier)| (name.clone(), *tier))
            .unwrap_or_default();
        contacts.push(BoardContact {
            contact_id: n.contact_id,
            name,
            phone: n.phone.clone(),
            tier,
            tier_step: n.step,
            delivery: n.state.clone(),
            answer: None,
        });
    }
    for a in &d.answers {
        match contacts
            .iter_mut()
            .find(|c| c.contact_id == Some(a.contact_id))
        {
            Some(c) => c.answer = Some(a.answer),
            None => contacts.push(BoardContact {
                contact_id: Some(a.contact_id),
                name: a.contact_name.clone(),
                phone: String::new(),
                tier: 0,
                tier_step: 0,
                delivery: String::new(),
                answer: Some(a.answer),
            }),
        }
    }
    let taken_by = desk_holder(d);
    BoardAlarm {
        alarm: d.alarm.clone(),
        shop: d.shop.clone(),
        contacts,
        taken_by,
    }
}

/// Events and SMS in time order.
fn timeline(d: &AlarmDetail, lang: Lang, names: &[(i64, String, u8)]) -> Vec<Value> {
    let mut items: Vec<(Timestamp, i64, Value)> = Vec::new();
    for e in &d.events {
        if matches!(e.event, AlarmEvent::Delivered { .. }) {
            continue; // shown on the SMS line
        }
        items.push((
            e.at,
            e.id,
            json!({ "at": when(e.at), "kind": e.event.kind(), "text": event_label(&e.event, lang) }),
        ));
    }
    for a in &d.answers {
        items.push((
            a.at,
            i64::MAX,
            json!({
                "at": when(a.at),
                "kind": "answer",
                "text": format!("{} : {} ({})", a.contact_name, answer_label(a.answer, lang),
                    if a.via == "sms" { "SMS" } else { lang.pick("lien", "link") }),
            }),
        ));
    }
    // Retries of one SMS (same contact, purpose and step) are one line:
    // the first attempt's time, the last one's outcome, and how many.
    let mut groups: Vec<(
        &vigie_hub::store::Notification,
        &vigie_hub::store::Notification,
        usize,
    )> = Vec::new();
    for n in &d.notifications {
        let key = |m: &vigie_hub::store::Notification| {
            (m.contact_id, m.phone.clone(), m.purpose.clone(), m.step)
        };
        match groups.iter_mut().find(|(first, _, _)| key(first) == key(n)) {
            Some(g) => {
                if n.attempt >= g.1.attempt {
                    g.1 = n;
                }
                g.2 += 1;
            }
            None => groups.push((n, n, 1)),
        }
    }
    for (first, n, attempts) in groups {
        let who = names
            .iter()
            .find(|(id, _, _)| Some(*id) == n.contact_id)
            .map(|(_, name, _)| name.clone())
            .unwrap_or_else(|| phone_display(&n.phone));
        let at = first.submitted_at.unwrap_or(first.created_at);
        let tries = match (attempts, lang) {
            (1, _) => String::new(),
            (k, Lang::Fr) => format!(" ({k} essais)"),
            (k, Lang::En) => format!(" ({k} attempts)"),
        };
        items.push((
            at,
            i64::MAX - 1,
            json!({
                "at": when(at),
                "kind": format!("sms-{}", n.state),
                "text": format!("SMS {} → {who} : {}{tries}{}{}",
                    purpose_label(&n.purpose, lang),
                    delivery_label(&n.state, lang),
                    n.done_at.filter(|_| n.state == "delivered").map(|t| format!(" ({})", when(t))).unwrap_or_default(),
                    n.error.as_ref().map(|e| format!(" — {e}")).unwrap_or_default()),
                // The link answers as its contact: never shown here.
                "sms": vigie_core::sms::hide_links(&n.text),
            }),
        ));
    }
    items.sort_by_key(|(at, id, _)| (*at, *id));
    items.into_iter().map(|(_, _, v)| v).collect()
}

fn purpose_label(p: &str, lang: Lang) -> &'static str {
    match p {
        "alert" => lang.pick("d'alerte", "alert"),
        "answer" => lang.pick("de réponse", "answer"),
        "cancel" => lang.pick("d'annulation", "cancel"),
        "resolved" => lang.pick("de clôture", "resolution"),
        "holder" => lang.pick("au titulaire", "to the holder"),
        _ => lang.pick("", ""),
    }
}

async fn contact_names(console: &Console, shop: i64) -> Result<Vec<(i64, String, u8)>, StoreError> {
    let mut out: Vec<(i64, String, u8)> = console
        .store()
        .contacts(Some(shop))
        .await?
        .into_iter()
        .map(|c| (c.id, c.name, c.tier))
        .collect();
    out.extend(
        console
            .store()
            .contacts(None)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name, c.tier)),
    );
    Ok(out)
}

/// The alarm's live part: its summary and timeline.
pub async fn timeline_fragment(
    console: &Console,
    viewer: &Viewer,
    id: Uuid,
    lang: Lang,
) -> Result<String, StoreError> {
    let d = console.store().alarm(id).await?;
    if !viewer.can_see_shop(d.shop.id) {
        return Err(StoreError::refused(
            "unknown_alarm",
            "alarme inconnue / unknown alarm",
        ));
    }
    timeline_html(console, &d, lang).await
}

/// The alarm's summary and timeline from its detail, already read.
async fn timeline_html(
    console: &Console,
    d: &AlarmDetail,
    lang: Lang,
) -> Result<String, StoreError> {
    let names = contact_names(console, d.shop.id).await?;
    let ctx = json!({
        "lang": lang.code(),
        "alarm": alarm_view(&board_alarm(d, &names), console.now(), lang),
        "timeline": timeline(d, lang, &names),
    });
    console
        .inner
        .views
        .render("alarm_live.html", &ctx)
        .map_err(|e| StoreError::Unexpected(format!("alarm template: {e}")))
}

pub async fn page(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found(lang);
    };
    let d = match console.store().alarm(id).await {
        Ok(d) => d,
        Err(e) => return store_error(e, lang),
    };
    if !v.can_see_shop(d.shop.id) {
        return not_found(lang);
    }
    let fragment = match timeline_html(&console, &d, lang).await {
        Ok(f) => f,
        Err(e) => return store_error(e, lang),
    };
    let recordings: Vec<Value> = if crate::EVIDENCE.contains(&v.role()) {
        match console.store().recordings().await {
            Ok(list) => list
                .into_iter()
                .filter(|r| r.alarm_id == id)
                .map(|r| json!({ "id": r.id.to_string(), "started_at": when(r.started_at), "chunks": r.chunks, "final": r.is_final }))
                .collect(),
            Err(e) => return store_error(e, lang),
        }
    } else {
        Vec::new()
    };
    let role = v.role();
    let taken_by = desk_holder(&d);
    render(
        &console,
        Some(&v),
        lang,
        "alarm.html",
        "/console/alarms",
        json!({
            "id": id.to_string(),
            "title": format!("{} — {}", d.shop.name, d.alarm.code),
            "taken_by": taken_by,
            "taken_by_me": taken_by.as_deref() == Some(v.account.username.as_str()),
            "fragment": fragment,
            "live_ok": crate::DESK_AND_SHOP.contains(&role),
            "live": d.alarm.state.is_live(),
            "desk": crate::DESK.contains(&role),
            "can_resolve": crate::DESK_AND_SHOP.contains(&role),
            "recordings": recordings,
        }),
    )
}

/// The alarm list's filters (a GET form: works without JavaScript).
#[derive(Deserialize)]
pub struct ListFilter {
    /// `live` (open or acknowledged), or one state (`open`, `resolved`…).
    state: Option<String>,
    /// Part of the shop's name, reference or commune, any case.
    shop: Option<String>,
    /// Pressed on or after / on or before this day (`YYYY-MM-DD`, Paris).
    from: Option<String>,
    to: Option<String>,
}

/// `2026-11-26` as (year, month, day).
fn day(s: &str) -> Option<(i64, u32, u32)> {
    let mut it = s.trim().splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    Some((y, m, d))
}

impl ListFilter {
    fn keeps(&self, a: &vigie_hub::store::Alarm, shop: Option<&vigie_hub::store::Shop>) -> bool {
        let state_ok = match self.state.as_deref().unwrap_or("") {
            "" => true,
            "live" => a.state.is_live(),
            s => a.state.as_str() == s,
        };
        let wanted = self.shop.as_deref().unwrap_or("").trim().to_lowercase();
        let shop_ok = wanted.is_empty()
            || shop.is_some_and(|s| {
                [&s.name, &s.reference, &s.commune]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&wanted))
            });
        let p = a.pressed_at.paris();
        let pressed = (p.year, p.month, p.day);
        let from_ok = self
            .from
            .as_deref()
            .and_then(day)
            .is_none_or(|d| pressed >= d);
        let to_ok = self
            .to
            .as_deref()
            .and_then(day)
            .is_none_or(|d| pressed <= d);
        state_ok && shop_ok && from_ok && to_ok
    }
}

pub async fn list(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    axum::extract::Query(filter): axum::extract::Query<ListFilter>,
) -> Response {
    let now = console.now();
    let alarms = match console
        .store()
        .alarms_of(v.own_shop(), false, ALARMS_LISTED_MAX)
        .await
    {
        Ok(a) => a,
        Err(e) => return store_error(e, lang),
    };
    let shops = match console.store().shops().await {
        Ok(s) => s,
        Err(e) => return store_error(e, lang),
    };
    let rows: Vec<Value> = alarms
        .iter()
        .filter(|a| v.can_see_shop(a.shop_id))
        .filter(|a| filter.keeps(a, shops.iter().find(|s| s.id == a.shop_id)))
        .map(|a| {
            let shop = shops.iter().find(|s| s.id == a.shop_id);
            json!({
                "id": a.id.to_string(),
                "code": a.code,
                "shop_name": shop.map(|s| s.name.as_str()).unwrap_or(""),
                "commune": shop.map(|s| s.commune.as_str()).unwrap_or(""),
                "pressed_at": when(a.pressed_at),
                "state": a.state.as_str(),
                "state_label": state_label(a.state, lang),
                "outcome_label": a.outcome.map(|o| outcome_label(o, lang)),
                "recording": a.recording,
                "age": super::duration(now.ms_since(a.pressed_at)),
            })
        })
        .collect();
    render(
        &console,
        Some(&v),
        lang,
        "alarms.html",
        "/console/alarms",
        json!({
            "alarms": rows,
            "filter": {
                "state": filter.state.unwrap_or_default(),
                "shop": filter.shop.unwrap_or_default(),
                "from": filter.from.unwrap_or_default(),
                "to": filter.to.unwrap_or_default(),
            },
            "shopkeeper": v.own_shop().is_some(),
        }),
    )
}

async fn visible(console: &Console, v: &Viewer, id: &str, lang: Lang) -> Result<Uuid, Response> {
    let id = Uuid::parse_str(id).map_err(|_| not_found(lang))?;
    match console.store().alarm(id).await {
        Ok(d) if v.can_see_shop(d.shop.id) => Ok(id),
        Ok(_) => Err(not_found(lang)),
        Err(e) => Err(store_error(e, lang)),
    }
}

/// The desk takes the alarm in hand or notes something: into the alarm's
/// log and the audit log, then back to the alarm.
async fn desk(console: &Console, v: &Viewer, lang: Lang, id: &str, action: DeskAction) -> Response {
    let id = match visible(console, v, id, lang).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let audit = match action {
        DeskAction::Take | DeskAction::TakeOver => "alarm_taken",
        DeskAction::Note(_) => "alarm_note",
    };
    let audit = v.audit(audit, format!("alarm:{id}"));
    match console
        .store()
        .desk_action(id, action, audit, console.now())
        .await
    {
        Ok(()) => see_other(&format!("/console/alarms/{id}")),
        Err(e) => store_error(e, lang),
    }
}

#[derive(Deserialize)]
pub struct Take {
    /// `yes`: take it from the operator who has it, on purpose.
    takeover: Option<String>,
}

pub async fn take(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<Take>,
) -> Response {
    let action = if f.takeover.as_deref() == Some("yes") {
        DeskAction::TakeOver
    } else {
        DeskAction::Take
    };
    desk(&console, &v, lang, &id, action).await
}

#[derive(Deserialize)]
pub struct Note {
    text: String,
}

pub async fn note(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<Note>,
) -> Response {
    desk(&console, &v, lang, &id, DeskAction::Note(f.text)).await
}

#[derive(Deserialize)]
pub struct Resolve {
    outcome: String,
}

pub async fn resolve(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<Resolve>,
) -> Response {
    let id = match visible(&console, &v, &id, lang).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(outcome) = Outcome::parse(&f.outcome) else {
        return super::error_page(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            lang,
            "Choisissez une issue : incident, fausse alerte ou essai.",
            "Choose an outcome: incident, false alarm or test.",
        );
    };
    let now = console.now();
    let by = format!("{} ({})", v.account.display_name, v.account.username);
    if let Err(e) = console.store().resolve_alarm(id, outcome, &by, now).await {
        return store_error(e, lang);
    }
    let mut audit = v.audit("alarm_resolved", format!("alarm:{id}"));
    audit.detail = json!({ "outcome": outcome.as_str() });
    let _ = console.store().audit(audit, now).await;
    see_other(&format!("/console/alarms/{id}"))
}
