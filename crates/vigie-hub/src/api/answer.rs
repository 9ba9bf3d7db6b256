//! The contact's pages: the answer page behind the link in each alert SMS,
//! and the consent page behind the opt-in link. No login: the unguessable
//! token in the URL is the credential, and the answer page stops taking
//! answers once the alarm is closed. French first, English below.
//!
//! The link is a secret of its contact: the pages are never cached, framed
//! or sniffed, run no script, and send no referrer. A closed alarm's page
//! reveals nothing (no address, position, numbers or names): whoever finds
//! the link later learns only that it is over, and
//! [`ANSWER_LINK_AFTER_CLOSE_MS`] after the close the link is dead.

use super::{ApiError, AppState};
use crate::store::{AnswerPage, StoreError};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigie_core::{AlarmState, Answer};

/// Tokens are 12 base-62 characters; anything else is refused before a lookup.
const TOKEN_CHARS_MAX: usize = 32;
/// An answer link still opens (on a page that says the alarm is closed)
/// this long after the close, in milliseconds: a contact on the way hears
/// it is over; after that the link is unknown, like one never made.
pub const ANSWER_LINK_AFTER_CLOSE_MS: i64 = 6 * 3_600_000;

/// Headers on every answer and consent page: no script at all, styles only
/// from the page itself, no framing, no sniffing, never stored by a cache
/// (a shared phone's history or a proxy), no referrer when a link is followed.
const PAGE_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
];

/// The contact's page with its headers.
fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in PAGE_HEADERS {
        h.insert(name, axum::http::HeaderValue::from_static(value));
    }
    resp
}

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:32rem;margin:0 auto;padding:1rem;line-height:1.4;color:#111}}
h1{{font-size:1.4rem;margin:.2rem 0}} .alarm{{background:#b00020;color:#fff;padding:.8rem;border-radius:.5rem}}
.closed{{background:#555}} button{{display:block;width:100%;font-size:1.2rem;padding:1rem;margin:.6rem 0;border:0;border-radius:.5rem;color:#fff}}
.coming{{background:#1b5e20}} .calling{{background:#0d47a1}} .unavailable{{background:#424242}}
.chosen{{outline:.3rem solid #111;outline-offset:.15rem;font-weight:bold}}
.other{{background:#fff;color:#111;border:2px solid #424242;font-size:1rem}}
.done{{background:#e8f5e9;border:3px solid #1b5e20;padding:.8rem;border-radius:.5rem;margin:.8rem 0}}
.done h2{{margin:0 0 .4rem;color:#1b5e20}}
.call{{display:block;text-align:center;background:#0d47a1;color:#fff;font-size:1.3rem;padding:1rem;border-radius:.5rem;text-decoration:none;margin-top:.6rem}}
.en{{color:#4a4a4a;font-size:.9rem}} .alarm .en,button .en,.call .en{{color:inherit}}
ul{{padding-left:1.2rem}} a{{color:#0d47a1}} .call{{color:#fff}}
</style></head><body>{body}</body></html>"#,
        title = escape(title)
    ))
}

fn token_ok(token: &str) -> Result<(), ApiError> {
    if token.is_empty()
        || token.len() > TOKEN_CHARS_MAX
        || !token.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::NotFound {
            code: "unknown_link",
            message: "lien inconnu / unknown link".into(),
        });
    }
    Ok(())
}

/// A closed alarm, as its page shows it: nothing about the shop or people.
fn closed_page(status: StatusCode) -> Response {
    (
        status,
        layout(
            "Alarme close",
            "<div class=\"alarm closed\"><h1>Cette alarme est close</h1></div>\
<p>Merci&nbsp;: plus besoin de répondre ni de venir. <span class=en>This alarm is closed. Thank you: no need to answer or come.</span></p>\
<p>En cas de danger immédiat, appelez le <a href=\"tel:17\">17</a>. <span class=en>In immediate danger, call 17.</span></p>",
        ),
    )
        .into_response()
}

/// Whether the link is past its life: closed longer ago than the grace.
fn expired(p: &AnswerPage, now: vigie_core::Timestamp) -> bool {
    !p.alarm.state.is_live()
        && p.alarm
            .closed_at
            .is_some_and(|at| now.ms_since(at) > ANSWER_LINK_AFTER_CLOSE_MS)
}

fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        layout(
            "Lien inconnu",
            "<h1>Lien inconnu ou expiré</h1><p class=en>Unknown or expired link.</p>",
        ),
    )
        .into_response()
}

/// The three answers as the page offers them: value, class, French, English.
const ANSWER_BUTTONS: [(Answer, &str, &str, &str); 3] = [
    (Answer::Coming, "coming", "1 — J'arrive", "I'm coming"),
    (
        Answer::CallingPolice,
        "calling",
        "2 — J'appelle le 17",
        "I'm calling the police (17)",
    ),
    (
        Answer::Unavailable,
        "unavailable",
        "3 — Pas disponible",
        "Not available",
    ),
];

/// A live alarm's page. Once this contact has answered, the page says so
/// at the top, marks the chosen button and turns the others into « change
/// my answer »; after « J'appelle le 17 » it offers the call itself.
fn render_answer_page(p: &AnswerPage, token: &str) -> Html<String> {
    let at = p.alarm.pressed_at.paris();
    let state_fr = match p.alarm.state {
        AlarmState::Open => "En cours — personne n'a encore répondu",
        AlarmState::Acknowledged => "Quelqu'un a répondu qu'il vient ou appelle le 17",
        AlarmState::Resolved | AlarmState::Cancelled => "Close",
    };
    let mine = p.answers.iter().rfind(|a| a.contact_id == p.contact.id);
    let mut answers = String::new();
    for a in &p.answers {
        let at = a.at.paris().hour_minute_fr();
        let me = if a.contact_id == p.contact.id {
            " (vous)"
        } else {
            ""
        };
        answers.push_str(&format!(
            "<li>{at} — {}{me}&nbsp;: {}</li>",
            // The others by « Marie D. »: enough to know who, no more.
            escape(&if me.is_empty() {
                crate::store::short_name(&a.contact_name)
            } else {
                a.contact_name.clone()
            }),
            escape(a.answer.label_fr())
        ));
    }
    if answers.is_empty() {
        answers.push_str(
            "<li>Aucune réponse pour l'instant. <span class=en>No answer yet.</span></li>",
        );
    }
    let confirmation = mine
        .map(|a| {
            let (fr, en) = ANSWER_BUTTONS
                .iter()
                .find(|(answer, ..)| *answer == a.answer)
                .map(|(_, _, fr, en)| (fr.split_once(" — ").map_or(*fr, |(_, f)| f), *en))
                .unwrap_or(("", ""));
            let call = if a.answer == Answer::CallingPolice {
                r#"<a class="call" href="tel:17">Appeler le 17 maintenant <span class=en>/ Call 17 now</span></a>"#
            } else {
                ""
            };
            format!(
                r#"<div class="done" role="status"><h2>✓ Réponse enregistrée&nbsp;: {fr}</h2>
<p>À {time}. Les autres contacts et le commerce en sont prévenus. <span class=en>Your answer « {en} » was recorded; the others are told.</span></p>{call}</div>"#,
                time = a.at.paris().hour_minute_fr()
            )
        })
        .unwrap_or_default();
    let mut buttons = String::new();
    for (answer, class, fr, en) in ANSWER_BUTTONS {
        let chosen = mine.is_some_and(|a| a.answer == answer);
        let (class, pressed, mark) = match (mine, chosen) {
            (None, _) => (class.to_string(), "false", ""),
            (Some(_), true) => (format!("{class} chosen"), "true", "✓ "),
            (Some(_), false) => ("other".to_string(), "false", "Changer&nbsp;: "),
        };
        buttons.push_str(&format!(
            r#"<button class="{class}" name="answer" value="{value}" aria-pressed="{pressed}">{mark}{fr} <span class=en>/ {en}</span></button>
"#,
            value = answer.as_str(),
        ));
    }
    let question = if mine.is_some() {
        "Votre réponse change ? <span class=en>Changed your mind?</span>"
    } else {
        "Que faites-vous ? <span class=en>What will you do?</span>"
    };
    let (lat, lon) = (p.shop.lat, p.shop.lon);
    let late = p
        .alarm
        .age_ms
        .map(|ms| format!(" (reçue avec {} min de retard)", ms / 60_000))
        .unwrap_or_default();
    layout(
        &format!("ALERTE {}", p.shop.name),
        &format!(
            r#"<div class="alarm"><h1>ALERTE — {name}</h1>
<div>{address}, {postcode} {commune}</div>
<div>Déclenchée à {time} le {day:02}/{month:02}{late}</div>
<div>{state}</div></div>
{confirmation}
<p>Bonjour {contact}. {question}</p>
<form method="post" action="/r/{token}">
{buttons}</form>
<h2>Réponses <span class=en>/ Answers</span></h2><ul>{answers}</ul>
<p>Position&nbsp;: <a href="geo:{lat},{lon}">{lat:.5}, {lon:.5}</a> ·
<a href="https://www.openstreetmap.org/?mlat={lat}&amp;mlon={lon}#map=17/{lat}/{lon}" rel="noreferrer">carte / map</a></p>
<p>Titulaire du commerce&nbsp;: {holder}, <a href="tel:{holder_tel}">{holder_phone}</a></p>
<p>En cas de danger immédiat, appelez le <a href="tel:17">17</a>. <span class=en>In immediate danger, call 17.</span></p>"#,
            name = escape(&p.shop.name),
            address = escape(&p.shop.address),
            postcode = escape(&p.shop.postcode),
            commune = escape(&p.shop.commune),
            time = at.hour_minute_fr(),
            day = at.day,
            month = at.month,
            state = state_fr,
            contact = escape(&p.contact.name),
            token = escape(token),
            holder = escape(&p.shop.holder_name),
            holder_tel = escape(p.shop.holder_phone.as_e164()),
            holder_phone = escape(&p.shop.holder_phone.national_display()),
        ),
    )
}

pub(super) async fn page(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    secured(answer_page(&st, &token).await)
}

async fn answer_page(st: &AppState, token: &str) -> Response {
    if token_ok(token).is_err() {
        return not_found_page();
    }
    match st.store.answer_page(token).await {
        Ok(p) if expired(&p, st.clock.now()) => not_found_page(),
        Ok(p) if !p.alarm.state.is_live() => closed_page(StatusCode::OK),
        Ok(p) => render_answer_page(&p, token).into_response(),
        Err(StoreError::Refused { .. }) => not_found_page(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    answer: String,
}

pub(super) async fn submit(
    State(st): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<AnswerForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    secured(answer_submit(&st, token, form).await)
}

async fn answer_submit(
    st: &AppState,
    token: String,
    form: Result<Form<AnswerForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if token_ok(&token).is_err() {
        return not_found_page();
    }
    let Ok(Form(form)) = form else {
        return ApiError::bad(
            "bad_answer",
            "answer must be coming, calling_police or unavailable",
        )
        .into_response();
    };
    let Some(answer) = Answer::parse(&form.answer) else {
        return ApiError::bad(
            "bad_answer",
            "answer must be coming, calling_police or unavailable",
        )
        .into_response();
    };
    match st
        .store
        .answer_by_token(&token, answer, st.clock.now())
        .await
    {
        Ok(_) => {
            st.engine.wake();
            Redirect::to(&format!("/r/{token}")).into_response()
        }
        Err(StoreError::Refused {
            code: "alarm_closed",
            ..
        }) => match st.store.answer_page(&token).await {
            Ok(p) if expired(&p, st.clock.now()) => not_found_page(),
            Ok(_) => closed_page(StatusCode::CONFLICT),
            Err(e) => ApiError::from(e).into_response(),
        },
        Err(StoreError::Refused { .. }) => not_found_page(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub(super) async fn consent_page(
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    secured(consent_page_of(&st, &token).await)
}

async fn consent_page_of(st: &AppState, token: &str) -> Response {
    if token_ok(token).is_err() {
        return not_found_page();
    }
    match st.store.consent_page(token).await {
        Ok((contact, shop)) => {
            let who = shop
                .map(|s| {
                    format!(
                        "{} ({}, {})",
                        escape(&s.holder_name),
                        escape(&s.name),
                        escape(&s.commune)
                    )
                })
                .unwrap_or_else(|| "La Région".into());
            let t = escape(token);
            let (state, form) = match contact.consent {
                crate::store::Consent::Yes => (
                    format!(
                        r#"<div class="done" role="status"><h2>✓ C'est noté&nbsp;: vous êtes contact d'urgence</h2>
<p>En cas d'alerte chez {who}, vous recevrez un SMS avec un lien pour dire si vous venez. <span class=en>You accepted: if an alarm is raised you will get an SMS with a link.</span></p></div>"#
                    ),
                    format!(
                        r#"<form method="post" action="/c/{t}"><button class="other" name="consent" value="no">Ne plus être contact d'urgence <span class=en>/ Stop being an emergency contact</span></button></form>"#
                    ),
                ),
                crate::store::Consent::No => (
                    "<div class=\"done\" role=\"status\"><h2>Vous avez refusé</h2><p>Vous ne recevrez pas d'alertes. <span class=en>You declined: you will get no alerts.</span></p></div>".to_string(),
                    format!(
                        r#"<form method="post" action="/c/{t}"><button class="coming" name="consent" value="yes">J'accepte finalement <span class=en>/ I accept after all</span></button></form>"#
                    ),
                ),
                _ => (
                    format!(
                        "<p>{who} vous désigne comme contact d'urgence&nbsp;: en cas d'alerte, vous recevrez un SMS avec un lien pour dire si vous venez.</p>\
<p class=en>You are asked to be an emergency contact: if an alarm is raised, you get an SMS with a link to say whether you are coming.</p>"
                    ),
                    format!(
                        r#"<form method="post" action="/c/{t}">
<button class="coming" name="consent" value="yes">J'accepte <span class=en>/ I accept</span></button>
<button class="unavailable" name="consent" value="no">Je refuse <span class=en>/ I decline</span></button>
</form>"#
                    ),
                ),
            };
            layout(
                "Contact d'urgence",
                &format!(
                    r#"<h1>Contact d'urgence Vigie</h1>
{state}
{form}
<h2>Votre numéro <span class=en>/ Your number</span></h2>
<p>La Région, qui fait fonctionner Vigie, garde votre numéro tant que vous êtes contact d'urgence de ce commerce, seulement pour vous envoyer ses alertes&nbsp;; elle ne le donne à personne. Après un arrêt, il ne reste que dans l'historique des alertes déjà envoyées.</p>
<p class=en>The Region, which runs Vigie, keeps your number while you are this shop's emergency contact, only to send you its alerts, and gives it to no one. Once you stop, it stays only in the record of alerts already sent.</p>
<p>Pour arrêter à tout moment&nbsp;: le bouton ci-dessus (cette page reste valable), ou répondez STOP par SMS. <span class=en>To stop at any time: the button above (this page stays valid), or reply STOP by SMS.</span></p>"#
                ),
            )
            .into_response()
        }
        Err(StoreError::Refused { .. }) => not_found_page(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct ConsentForm {
    consent: String,
}

pub(super) async fn consent_submit(
    State(st): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    secured(consent_answer(&st, token, form).await)
}

async fn consent_answer(
    st: &AppState,
    token: String,
    form: Result<Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if token_ok(&token).is_err() {
        return not_found_page();
    }
    let yes = match form.as_ref().map(|f| f.consent.as_str()) {
        Ok("yes") => true,
        Ok("no") => false,
        _ => return ApiError::bad("bad_consent", "consent must be yes or no").into_response(),
    };
    match st
        .store
        .set_consent_by_token(&token, yes, st.clock.now())
        .await
    {
        Ok(_) => Redirect::to(&format!("/c/{token}")).into_response(),
        Err(StoreError::Refused { .. }) => not_found_page(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
