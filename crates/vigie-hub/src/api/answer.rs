//! The contact's pages: the answer page behind the link in each alert SMS,
//! and the consent page behind the opt-in link. No login: the unguessable
//! token in the URL is the credential, and the answer page stops taking
//! answers once the alarm is closed. French first, English below.

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
.coming{{background:#1b5e20}} .calling{{background:#0d47a1}} .unavailable{{background:#616161}}
.en{{color:#555;font-size:.9rem}} ul{{padding-left:1.2rem}} a{{color:#0d47a1}}
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

fn render_answer_page(p: &AnswerPage, token: &str, flash: Option<&str>) -> Html<String> {
    let at = p.alarm.pressed_at.paris();
    let live = p.alarm.state.is_live();
    let state_fr = match p.alarm.state {
        AlarmState::Open => "En cours — personne n'a encore répondu",
        AlarmState::Acknowledged => "Prise en charge",
        AlarmState::Resolved => "Close",
        AlarmState::Cancelled => "Annulée par le commerçant (fausse alerte)",
    };
    let mut answers = String::new();
    for a in &p.answers {
        let at = a.at.paris().hour_minute_fr();
        let me = if a.contact_id == p.contact.id {
            " (vous)"
        } else {
            ""
        };
        answers.push_str(&format!(
            "<li>{at} — {}{me} : {}</li>",
            escape(&a.contact_name),
            escape(a.answer.label_fr())
        ));
    }
    if answers.is_empty() {
        answers.push_str(
            "<li>Aucune réponse pour l'instant. <span class=en>No answer yet.</span></li>",
        );
    }
    let buttons = if live {
        format!(
            r#"<form method="post" action="/r/{token}">
<button class="coming" name="answer" value="coming">1 — J'arrive <span class=en>/ I'm coming</span></button>
<button class="calling" name="answer" value="calling_police">2 — J'appelle le 17 <span class=en>/ I'm calling the police</span></button>
<button class="unavailable" name="answer" value="unavailable">3 — Pas disponible <span class=en>/ Not available</span></button>
</form>"#,
            token = escape(token)
        )
    } else {
        "<p>Cette alarme est close : plus besoin de répondre. <span class=en>This alarm is closed.</span></p>".into()
    };
    let flash = flash
        .map(|f| format!("<p><strong>{}</strong></p>", escape(f)))
        .unwrap_or_default();
    let (lat, lon) = (p.shop.lat, p.shop.lon);
    let late = p
        .alarm
        .age_ms
        .map(|ms| format!(" (reçue avec {} min de retard)", ms / 60_000))
        .unwrap_or_default();
    layout(
        &format!("ALERTE {}", p.shop.name),
        &format!(
            r#"<div class="alarm{closed}"><h1>ALERTE — {name}</h1>
<div>{address}, {postcode} {commune}</div>
<div>Déclenchée à {time} le {day:02}/{month:02}{late}</div>
<div>{state}</div></div>
{flash}
<p>Bonjour {contact}. Que faites-vous ? <span class=en>Hello — what will you do?</span></p>
{buttons}
<h2>Réponses <span class=en>/ Answers</span></h2><ul>{answers}</ul>
<p>Position : <a href="geo:{lat},{lon}">{lat:.5}, {lon:.5}</a> ·
<a href="https://www.openstreetmap.org/?mlat={lat}&amp;mlon={lon}#map=17/{lat}/{lon}" rel="noreferrer">carte / map</a></p>
<p>Commerçant : {holder}, <a href="tel:{holder_tel}">{holder_phone}</a></p>
<p>En cas de danger immédiat, appelez le 17. <span class=en>In immediate danger, call 17.</span></p>"#,
            closed = if live { "" } else { " closed" },
            name = escape(&p.shop.name),
            address = escape(&p.shop.address),
            postcode = escape(&p.shop.postcode),
            commune = escape(&p.shop.commune),
            time = at.hour_minute_fr(),
            day = at.day,
            month = at.month,
            state = state_fr,
            contact = escape(&p.contact.name),
            holder = escape(&p.shop.holder_name),
            holder_tel = escape(p.shop.holder_phone.as_e164()),
            holder_phone = escape(&p.shop.holder_phone.national_display()),
        ),
    )
}

pub(super) async fn page(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    if token_ok(&token).is_err() {
        return not_found_page();
    }
    match st.store.answer_page(&token).await {
        Ok(p) => render_answer_page(&p, &token, None).into_response(),
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
            Ok(p) => (
                StatusCode::CONFLICT,
                render_answer_page(
                    &p,
                    &token,
                    Some("Cette alarme est close. / This alarm is closed."),
                ),
            )
                .into_response(),
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
    if token_ok(&token).is_err() {
        return not_found_page();
    }
    match st.store.consent_page(&token).await {
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
            let state = match contact.consent {
                crate::store::Consent::Yes => {
                    "Vous avez accepté. <span class=en>You accepted.</span>"
                }
                crate::store::Consent::No => {
                    "Vous avez refusé. <span class=en>You declined.</span>"
                }
                _ => "En attente de votre réponse. <span class=en>Waiting for your answer.</span>",
            };
            layout(
                "Contact d'urgence",
                &format!(
                    r#"<h1>Contact d'urgence Vigie</h1>
<p>{who} vous désigne comme contact d'urgence : en cas d'alerte, vous recevrez un SMS avec un lien pour dire si vous venez.</p>
<p class=en>You are asked to be an emergency contact: if an alarm is raised, you get an SMS with a link to say whether you are coming.</p>
<p>{state}</p>
<form method="post" action="/c/{token}">
<button class="coming" name="consent" value="yes">J'accepte <span class=en>/ I accept</span></button>
<button class="unavailable" name="consent" value="no">Je refuse <span class=en>/ I decline</span></button>
</form>
<p>Vous pouvez arrêter à tout moment en répondant STOP. <span class=en>Reply STOP at any time to stop.</span></p>"#,
                    token = escape(&token)
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
