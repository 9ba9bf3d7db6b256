//! Evidence for investigators (and administrators): recordings are listed
//! freely, but listening or exporting needs a reason first, and each access
//! is written to the recording's custody log (inside the signed evidence
//! log) and to the console's audit log. An access given for a recording
//! lasts a while in that session only.

use super::{Language, content_disposition, error_page, not_found, render, store_error, when};
use crate::Console;
use crate::auth::Viewer;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use vigie_evidence::custody::Action;
use vigie_hub::store::StoreError;
use vigie_hub::store::vault::Recording;
use vigie_hub::vault::VaultError;

/// How long an access given with a reason lasts, in milliseconds.
pub const ACCESS_MS: i64 = 30 * 60_000;
/// Shortest reason accepted, in characters (« enquête » is not a reason).
pub const REASON_CHARS_MIN: usize = 10;

fn granted(console: &Console, v: &Viewer, id: Uuid) -> bool {
    let now = console.now();
    console
        .inner
        .evidence_grants
        .lock()
        .map(|g| {
            g.get(&(v.session_hash.clone(), id))
                .is_some_and(|until| *until > now)
        })
        .unwrap_or(false)
}

async fn recording(console: &Console, id: &str) -> Option<Recording> {
    let id = Uuid::parse_str(id).ok()?;
    console.store().recording(id).await.ok().map(|(r, _)| r)
}

pub async fn list(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    let list = match console.store().recordings().await {
        Ok(l) => l,
        Err(e) => return store_error(e, lang),
    };
    let shops = console.store().shops().await.unwrap_or_default();
    let rows: Vec<Value> = list
        .iter()
        .map(|r| {
            let shop = shops.iter().find(|s| s.id == r.shop_id);
            json!({
                "id": r.id.to_string(),
                "alarm_id": r.alarm_id.to_string(),
                "shop": shop.map(|s| format!("{}, {}", s.name, s.commune)),
                "started_at": when(r.started_at),
                "chunks": r.chunks,
                "final": r.is_final,
                "deleted": r.deleted_at.is_some(),
                "hold": r.legal_hold,
                "retention_until": when(r.retention_until),
            })
        })
        .collect();
    render(
        &console,
        Some(&v),
        lang,
        "recordings.html",
        "/console/recordings",
        json!({ "recordings": rows }),
    )
}

/// Speech and raised-voice passages, drawn as an SVG strip under the player.
fn markers_svg(t: &vigie_timeline::Timeline, length_s: f32, lang: crate::Lang) -> String {
    let width = 600.0_f32;
    let x = |s: f32| (s / length_s.max(0.1) * width).clamp(0.0, width);
    let mut out = format!(
        r#"<svg class="markers" viewBox="0 0 {width} 24" role="img" aria-label="{}"><rect class="track" x="0" y="0" width="{width}" height="24"/>"#,
        lang.pick(
            "Parole et voix fortes détectées",
            "Detected speech and raised voices"
        )
    );
    for (a, b) in &t.speech {
        out.push_str(&format!(
            r#"<rect class="speech" x="{:.1}" y="4" width="{:.1}" height="16"/>"#,
            x(*a),
            (x(*b) - x(*a)).max(1.0)
        ));
    }
    for (a, b) in &t.loud {
        out.push_str(&format!(
            r#"<rect class="loud" x="{:.1}" y="0" width="{:.1}" height="24"/>"#,
            x(*a),
            (x(*b) - x(*a)).max(1.0)
        ));
    }
    out.push_str("</svg>");
    out
}

fn mmss(s: f32) -> String {
    let s = s.max(0.0) as u32;
    format!("{}:{:02}", s / 60, s % 60)
}

async fn page_(
    console: &Console,
    v: &Viewer,
    lang: crate::Lang,
    r: Recording,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let access = granted(console, v, r.id);
    let mut markers = Value::Null;
    if access
        && r.deleted_at.is_none()
        && let Some(vault) = console.inner.vault.clone()
        && let Ok(audio) = vault.audio(console.store(), r.id).await
    {
        let audio = audio.concat();
        let decoded = tokio::task::spawn_blocking(move || {
            vigie_timeline::ogg_opus_to_pcm(&audio).map(|(pcm, rate)| {
                let length_s = pcm.len() as f32 / rate.max(1) as f32;
                (vigie_timeline::timeline(&pcm, rate), length_s)
            })
        })
        .await;
        if let Ok(Ok((t, length_s))) = decoded {
            let passage = |kind: &str, label: &str, (a, b): &(f32, f32)| json!({ "kind": kind, "label": label, "from": mmss(*a), "to": mmss(*b), "seek": a });
            let list: Vec<Value> = t
                .speech
                .iter()
                .map(|p| passage("speech", lang.pick("parole", "speech"), p))
                .chain(
                    t.loud
                        .iter()
                        .map(|p| passage("loud", lang.pick("voix forte", "raised voice"), p)),
                )
                .collect();
            markers = json!({ "svg": markers_svg(&t, length_s, lang), "list": list, "length": mmss(length_s) });
        }
    }
    let mut resp = render(
        console,
        Some(v),
        lang,
        "recording.html",
        "/console/recordings",
        json!({
            "id": r.id.to_string(),
            "alarm_id": r.alarm_id.to_string(),
            // Investigators see recordings only, not the alarm (its contacts' numbers).
            "alarm_link": crate::DESK.contains(&v.role()),
            "started_at": when(r.started_at),
            "chunks": r.chunks,
            "final": r.is_final,
            "deleted": r.deleted_at.is_some(),
            "access": access,
            "markers": markers,
            "error": error,
            "reason_min": REASON_CHARS_MIN,
        }),
    );
    *resp.status_mut() = status;
    resp
}

pub async fn page(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    match recording(&console, &id).await {
        Some(r) => page_(&console, &v, lang, r, StatusCode::OK, None).await,
        None => not_found(lang),
    }
}

#[derive(Deserialize)]
pub struct Reason {
    reason: String,
}

/// Who acts, as the evidence log names people: `role:username`, with the
/// characters the log does not take replaced.
fn custody_actor(v: &Viewer) -> String {
    let name: String = v
        .account
        .username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}:{name}", v.account.role.as_str())
}

/// A reason on one line (the custody log is line-based), spaces collapsed.
fn one_line(reason: &str) -> String {
    reason.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn reason_ok(reason: &str) -> bool {
    let n = reason.chars().count();
    (REASON_CHARS_MIN..=vigie_hub::store::vault::CUSTODY_REASON_CHARS_MAX).contains(&n)
}

const REASON_FR: &str =
    "Indiquez le motif de l'accès (10 caractères au moins, par exemple le numéro de procédure).";
const REASON_EN: &str =
    "Give the reason for access (10 characters at least, e.g. the case number).";

/// The recording and the reason given for touching it, on one line; or the
/// page saying why not (unknown recording, reason too short or too long).
async fn with_reason(
    console: &Console,
    v: &Viewer,
    lang: crate::Lang,
    id: &str,
    reason: &str,
) -> Result<(Recording, String), Response> {
    let Some(r) = recording(console, id).await else {
        return Err(not_found(lang));
    };
    let reason = one_line(reason);
    if !reason_ok(&reason) {
        let why = Some(lang.pick(REASON_FR, REASON_EN));
        return Err(page_(console, v, lang, r, StatusCode::UNPROCESSABLE_ENTITY, why).await);
    }
    Ok((r, reason))
}

pub async fn access(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<Reason>,
) -> Response {
    let (r, reason) = match with_reason(&console, &v, lang, &id, &f.reason).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let now = console.now();
    let actor = custody_actor(&v);
    if let Err(e) = console
        .store()
        .custody(r.id, &actor, Action::Listen, &reason, now)
        .await
    {
        return match e {
            StoreError::Refused { message, .. } => {
                let text = lang.part(&message);
                page_(
                    &console,
                    &v,
                    lang,
                    r,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(text.as_str()),
                )
                .await
            }
            other => store_error(other, lang),
        };
    }
    let mut audit = v.audit("evidence_listen", format!("recording:{}", r.id));
    audit.reason = Some(reason.clone());
    if let Err(e) = console.store().audit(audit, now).await {
        return store_error(e, lang);
    }
    if let Ok(mut g) = console.inner.evidence_grants.lock() {
        g.retain(|_, until| *until > now);
        g.insert((v.session_hash.clone(), r.id), now.plus_ms(ACCESS_MS));
    }
    super::see_other(&format!("/console/recordings/{}", r.id))
}

pub async fn audio(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    let Some(r) = recording(&console, &id).await else {
        return not_found(lang);
    };
    if !granted(&console, &v, r.id) {
        return error_page(StatusCode::FORBIDDEN, lang, REASON_FR, REASON_EN);
    }
    let Some(vault) = console.inner.vault.clone() else {
        return not_found(lang);
    };
    match vault.audio(console.store(), r.id).await {
        Ok(chunks) => {
            let mut resp = chunks.concat().into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg"));
            resp
        }
        Err(e) => {
            tracing::warn!(recording = %r.id, error = %e, "console: audio unavailable");
            error_page(
                StatusCode::GONE,
                lang,
                "L'audio n'est plus disponible (détruit ou illisible).",
                "The audio is no longer available (destroyed or unreadable).",
            )
        }
    }
}

pub async fn export(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<Reason>,
) -> Response {
    let (r, reason) = match with_reason(&console, &v, lang, &id, &f.reason).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(vault) = console.inner.vault.clone() else {
        return not_found(lang);
    };
    let (shop, pressed_at) = match console.store().alarm(r.alarm_id).await {
        Ok(d) => (d.shop, d.alarm.pressed_at),
        Err(e) => return store_error(e, lang),
    };
    let facts = vigie_hub::vault::export::ReportFacts {
        shop: shop.name.clone(),
        commune: shop.commune.clone(),
        alarm_pressed_at: pressed_at,
    };
    let now = console.now();
    let actor = custody_actor(&v);
    let zip = match vigie_hub::vault::export::export(
        &vault,
        console.store(),
        r.id,
        &actor,
        &reason,
        &facts,
        now,
    )
    .await
    {
        Ok(z) => z,
        Err(VaultError::Store(StoreError::Refused { message, .. })) => {
            let text = lang.part(&message);
            return page_(
                &console,
                &v,
                lang,
                r,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(text.as_str()),
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(recording = %r.id, error = %e, "console: export failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "L'export n'a pas pu être scellé (horodatage indisponible ?) ; réessayez plus tard.",
                "The export could not be sealed (time-stamping unavailable?); try again later.",
            );
        }
    };
    let mut audit = v.audit("evidence_export", format!("recording:{}", r.id));
    audit.reason = Some(reason.clone());
    let _ = console.store().audit(audit, now).await;
    let (name, value) = content_disposition(&format!("vigie-{}.zip", r.id));
    let mut resp = zip.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(name, v);
    }
    resp
}
