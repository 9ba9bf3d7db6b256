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
/// Custody events shown on a recording's page, newest first (the export
/// carries them all).
const CUSTODY_SHOWN_MAX: usize = 200;

/// What a `Range` header asks of a body of `len` bytes (RFC 9110 § 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No range, one that does not parse, or several ranges: the whole
    /// body (200), as the RFC allows.
    Whole,
    /// Bytes `first..=last` (206 with `Content-Range`).
    Part { first: u64, last: u64 },
    /// A range that starts past the end (416 with `Content-Range: bytes */len`).
    Unsatisfiable,
}

/// The answer to `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` over `len` bytes.
pub fn byte_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |t: &str| -> Option<u64> {
        let t = t.trim();
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    match (a.trim().is_empty(), number(a), number(b)) {
        // The last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    first: len - n.min(len),
                    last: len - 1,
                }
            }
        }
        (false, Some(first), last) if b.trim().is_empty() || last.is_some() => {
            if first >= len {
                return ByteRange::Unsatisfiable;
            }
            match last {
                Some(last) if last < first => ByteRange::Whole,
                Some(last) => ByteRange::Part {
                    first,
                    last: last.min(len - 1),
                },
                None => ByteRange::Part {
                    first,
                    last: len - 1,
                },
            }
        }
        _ => ByteRange::Whole,
    }
}

/// The audio answered as the `Range` header asks, `Accept-Ranges` always.
fn ranged(audio: Vec<u8>, range: Option<&str>) -> Response {
    let len = audio.len() as u64;
    let (status, body, content_range) = match byte_range(range, len) {
        ByteRange::Whole => (StatusCode::OK, audio, None),
        ByteRange::Part { first, last } => (
            StatusCode::PARTIAL_CONTENT,
            audio[first as usize..=last as usize].to_vec(),
            Some(format!("bytes {first}-{last}/{len}")),
        ),
        ByteRange::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            Vec::new(),
            Some(format!("bytes */{len}")),
        ),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg"));
    }
    if let Some(v) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    // Decrypted evidence: never kept by a browser cache or a proxy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

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

fn action_label(a: Action, lang: crate::Lang) -> &'static str {
    match a {
        Action::Listen => lang.pick("écoute", "listened"),
        Action::Export => lang.pick("export", "exported"),
        Action::Hold => lang.pick("conservation judiciaire posée", "legal hold set"),
        Action::Release => lang.pick("conservation judiciaire levée", "legal hold released"),
        Action::Delete => lang.pick("destruction", "destroyed"),
        Action::RetentionDelete => lang.pick(
            "destruction à la fin de la conservation",
            "destroyed at the end of retention",
        ),
    }
}

/// The recording's custody log, newest first, as the signed evidence log
/// holds it: who did what, when, and why.
async fn custody_log(
    console: &Console,
    id: Uuid,
    lang: crate::Lang,
) -> Result<Vec<Value>, StoreError> {
    let entries = console.store().recording_entries(id).await?;
    Ok(entries
        .iter()
        .rev()
        .filter(|e| e.kind == "custody")
        .filter_map(|e| vigie_evidence::custody::parse(&e.entry).ok())
        .take(CUSTODY_SHOWN_MAX)
        .map(|c| {
            let (role, who) = c.actor.split_once(':').unwrap_or(("", c.actor.as_str()));
            let role_label = vigie_hub::store::Role::parse(role)
                .map(|r| super::role_label(r, lang))
                .unwrap_or(role);
            json!({
                "at": when(vigie_core::Timestamp(c.at_ms as i64)),
                "who": who,
                "role": role_label,
                "action": c.action.as_str(),
                "action_label": action_label(c.action, lang),
                "reason": c.reason,
            })
        })
        .collect())
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
    let shop = console.store().shop(r.shop_id).await.ok().map(|s| {
        json!({ "name": s.name, "address": s.address, "postcode": s.postcode, "commune": s.commune, "departement": s.departement })
    });
    let custody = match custody_log(console, r.id, lang).await {
        Ok(c) => c,
        Err(e) => return store_error(e, lang),
    };
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
            "shop": shop,
            "custody": custody,
            "custody_more": custody.len() >= CUSTODY_SHOWN_MAX,
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

/// Why a reason is refused, in the viewer's language; none: it is good.
fn reason_refused(reason: &str, lang: crate::Lang) -> Option<String> {
    let n = reason.chars().count();
    let max = vigie_hub::store::vault::CUSTODY_REASON_CHARS_MAX;
    if n == 0 {
        Some(lang.pick(
            &format!("Motif manquant : indiquez pourquoi vous accédez à cet enregistrement ({REASON_CHARS_MIN} caractères au moins, par exemple le numéro de procédure)."),
            &format!("No reason given: say why you access this recording ({REASON_CHARS_MIN} characters at least, e.g. the case number)."),
        ).to_string())
    } else if n < REASON_CHARS_MIN {
        Some(lang.pick(
            &format!("Motif trop court ({n} caractères) : {REASON_CHARS_MIN} caractères au moins, par exemple le numéro de procédure."),
            &format!("Reason too short ({n} characters): {REASON_CHARS_MIN} characters at least, e.g. the case number."),
        ).to_string())
    } else if n > max {
        Some(
            lang.pick(
                &format!("Motif trop long ({n} caractères) : {max} au plus, sur une ligne."),
                &format!("Reason too long ({n} characters): {max} at most, on one line."),
            )
            .to_string(),
        )
    } else {
        None
    }
}

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
    if let Some(why) = reason_refused(&reason, lang) {
        return Err(page_(
            console,
            v,
            lang,
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(why.as_str()),
        )
        .await);
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
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(r) = recording(&console, &id).await else {
        return not_found(lang);
    };
    if !granted(&console, &v, r.id) {
        return error_page(
            StatusCode::FORBIDDEN,
            lang,
            "Pas d'accès à cet audio dans cette session : donnez le motif de l'écoute sur la page de l'enregistrement (un accès dure 30 minutes).",
            "No access to this audio in this session: give the reason for listening on the recording's page (an access lasts 30 minutes).",
        );
    }
    let Some(vault) = console.inner.vault.clone() else {
        return not_found(lang);
    };
    match vault.audio(console.store(), r.id).await {
        Ok(chunks) => ranged(
            chunks.concat(),
            headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_header_gives_the_part_asked_or_says_why_not() {
        use ByteRange::*;
        let part = |first, last| Part { first, last };
        for (header, want) in [
            (None, Whole),
            (Some("bytes=0-99"), part(0, 99)),
            (Some("bytes=100-"), part(100, 999)),
            (Some("bytes=-100"), part(900, 999)),
            (Some("bytes=-5000"), part(0, 999)),
            (Some("bytes=990-5000"), part(990, 999)),
            (Some("bytes=999-999"), part(999, 999)),
            // Past the end: unsatisfiable (416).
            (Some("bytes=1000-"), Unsatisfiable),
            (Some("bytes=5000-6000"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            // Several ranges, other units, nonsense: the whole body.
            (Some("bytes=0-1,5-6"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=9-1"), Whole),
            (Some("bytes=a-b"), Whole),
            (Some("bytes=-"), Whole),
            (Some("bytes=+1-2"), Whole),
            (Some("bytes=99999999999999999999999-"), Whole),
        ] {
            assert_eq!(byte_range(header, 1_000), want, "{header:?}");
        }
        assert_eq!(byte_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=-1"), 0), Unsatisfiable);
    }

    #[tokio::test]
    async fn ranged_audio_answers_206_416_or_the_whole_file() {
        let audio: Vec<u8> = (0..=255u8).cycle().take(1_000).collect();
        let whole = ranged(audio.clone(), None);
        assert_eq!(whole.status(), StatusCode::OK);
        assert_eq!(whole.headers()[header::ACCEPT_RANGES], "bytes");
        let part = ranged(audio.clone(), Some("bytes=10-19"));
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.headers()[header::CONTENT_RANGE], "bytes 10-19/1000");
        assert_eq!(part.headers()[header::ACCEPT_RANGES], "bytes");
        let body = axum::body::to_bytes(part.into_body(), 10_000)
            .await
            .expect("body");
        assert_eq!(&body[..], &audio[10..20]);
        let past = ranged(audio.clone(), Some("bytes=1000-"));
        assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(past.headers()[header::CONTENT_RANGE], "bytes */1000");
        let multi = ranged(audio, Some("bytes=0-1,5-6"));
        assert_eq!(multi.status(), StatusCode::OK);
        assert!(multi.headers().get(header::CONTENT_RANGE).is_none());
    }

    #[test]
    fn a_refused_reason_says_why() {
        let fr = crate::Lang::Fr;
        assert_eq!(reason_refused("PV 2026/117 vol à main armée", fr), None);
        let short = reason_refused("pour voir", fr).expect("too short");
        assert!(
            short.contains("trop court (9 caractères)") && short.contains("10"),
            "{short}"
        );
        let long = reason_refused(&"x".repeat(501), crate::Lang::En).expect("too long");
        assert!(
            long.contains("too long (501 characters)") && long.contains("500"),
            "{long}"
        );
        assert!(
            reason_refused("", fr)
                .expect("empty")
                .starts_with("Motif manquant")
        );
    }
}
