//! The console's pages. Each handler reads through the store, checks what
//! the signed-in person may see inside what their route allows, and
//! renders a template; forms answer with a redirect (post, redirect, get).

pub mod admin;
pub mod alarm;
pub mod board;
pub mod contacts;
pub mod evidence;
pub mod fleet;
pub mod me;
pub mod shop_record;
pub mod sign_in;
pub mod stats;

use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use vigie_core::Timestamp;
use vigie_hub::store::{Role, StoreError};

/// The viewer's language, read from the request.
pub struct Language(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for Language {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Language(Lang::of(&parts.headers)))
    }
}

/// The client's address (for sign-in throttling), when the server records it.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

pub fn role_label(role: Role, lang: Lang) -> &'static str {
    match role {
        Role::Admin => lang.pick("administrateur", "administrator"),
        Role::Operator => lang.pick("opérateur", "operator"),
        Role::Shopkeeper => lang.pick("titulaire d'un commerce", "shopkeeper"),
        Role::Investigator => lang.pick("enquêteur", "investigator"),
    }
}

/// The menu for a role: only what the role may open.
fn nav(viewer: &Viewer, lang: Lang, current: &str) -> Vec<Value> {
    let role = viewer.role();
    let mut items: Vec<(&str, String)> = Vec::new();
    let rules = crate::route_rules();
    let allowed = |path: &str| {
        rules.iter().any(|r| {
            r.method == "GET"
                && r.path == path
                && matches!(r.access, crate::Access::Roles(roles) if roles.contains(&role))
        })
    };
    let mut add = |path: &'static str, fr: &str, en: &str| {
        if allowed(path) {
            items.push((path, lang.pick(fr, en).to_string()));
        }
    };
    add("/console/board", "Tableau de bord", "Board");
    add("/console/alarms", "Alarmes", "Alarms");
    add("/console/shops", "Boutiques", "Shops");
    add("/console/fleet", "Boîtiers", "Devices");
    add("/console/stats", "Statistiques", "Statistics");
    add("/console/recordings", "Enregistrements", "Recordings");
    add("/console/accounts", "Comptes", "Accounts");
    add("/console/audit", "Journal d'audit", "Audit log");
    if role == Role::Shopkeeper
        && let Some(shop) = viewer.account.shop_id
    {
        items.insert(
            1,
            (
                "",
                format!(
                    "{}|/console/shops/{shop}",
                    lang.pick("Ma boutique", "My shop")
                ),
            ),
        );
    }
    items
        .into_iter()
        .map(|(path, label)| {
            let (label, href) = match label.split_once('|') {
                Some((l, h)) => (l.to_string(), h.to_string()),
                None => (label, path.to_string()),
            };
            json!({ "href": href, "label": label, "current": href == current })
        })
        .collect()
}

/// Render a page for a signed-in (or not) person.
pub fn render(
    console: &Console,
    viewer: Option<&Viewer>,
    lang: Lang,
    template: &str,
    current: &str,
    mut ctx: Value,
) -> Response {
    if let Some(map) = ctx.as_object_mut() {
        map.insert("lang".into(), json!(lang.code()));
        map.insert("path".into(), json!(current));
        map.insert("region".into(), json!(console.inner.config.region_name));
        // A hub that cannot write keeps no alarm: every page says so.
        map.insert(
            "store_cannot_write".into(),
            json!(!console.store().can_write()),
        );
        if let Some(v) = viewer {
            map.insert("csrf".into(), json!(v.csrf));
            map.insert(
                "viewer".into(),
                json!({
                    "username": v.account.username,
                    "display_name": v.account.display_name,
                    "role": v.role().as_str(),
                    "role_label": role_label(v.role(), lang),
                    "shop_id": v.account.shop_id,
                }),
            );
            map.insert("nav".into(), json!(nav(v, lang, current)));
        } else if !map.contains_key("csrf") {
            map.insert("csrf".into(), json!(""));
        }
    }
    match console.inner.views.render(template, &ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "console page failed to render");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                "La page n'a pas pu être affichée ; l'erreur est dans le journal du hub.",
                "The page could not be shown; the error is in the hub's log.",
            )
        }
    }
}

/// A plain error page (no menu), in the viewer's language.
pub fn error_page(status: StatusCode, lang: Lang, fr: &str, en: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => lang.pick("Page introuvable", "Page not found"),
        StatusCode::FORBIDDEN => lang.pick("Accès refusé", "Access denied"),
        StatusCode::UNAUTHORIZED => lang.pick("Connexion requise", "Sign-in required"),
        StatusCode::TOO_MANY_REQUESTS => lang.pick("Trop de tentatives", "Too many attempts"),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            lang.pick("Demande incorrecte", "Bad request")
        }
        _ => lang.pick("Erreur", "Error"),
    };
    let message = lang.pick(fr, en);
    let html = ERROR_VIEWS
        .with(|v| {
            v.render(
                "error.html",
                &json!({ "lang": lang.code(), "title": title, "message": message, "csrf": "" }),
            )
        })
        .unwrap_or_else(|_| format!("{title}: {message}"));
    (status, Html(html)).into_response()
}

thread_local! {
    static ERROR_VIEWS: crate::views::Views = crate::views::Views::new().unwrap_or_else(|e| {
        tracing::error!(error = %e, "console templates failed to load");
        std::process::abort()
    });
}

/// A store refusal shown to the person who asked, or a failure logged.
pub fn store_error(e: StoreError, lang: Lang) -> Response {
    match e {
        StoreError::Refused { code, message } => {
            let status = if code.starts_with("unknown") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            // Store messages are « français / English ».
            let (fr, en) = message.split_once(" / ").unwrap_or((&message, &message));
            error_page(status, lang, fr, en)
        }
        other => {
            tracing::error!(error = %other, "console: store failure");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "Le hub n'a pas pu lire ou écrire ses données ; réessayez dans un instant.",
                "The hub could not read or write its data; try again in a moment.",
            )
        }
    }
}

pub fn not_found(lang: Lang) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        lang,
        "Cette page n'existe pas, ou vous n'y avez pas accès.",
        "This page does not exist, or you do not have access to it.",
    )
}

pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `/console`: the board for the desk and shopkeepers, evidence for investigators.
pub async fn home(State(console): State<Console>, headers: axum::http::HeaderMap) -> Response {
    match crate::auth::session_of(&console, &headers).await {
        None => see_other("/console/sign-in"),
        Some(v) if !v.second_factor_ok => see_other("/console/sign-in/code"),
        Some(v) => match v.role() {
            Role::Investigator => see_other("/console/recordings"),
            _ => see_other("/console/board"),
        },
    }
}

/// Paris time as people read it: « 26/11/2026 14:03:12 ».
pub fn when(t: Timestamp) -> String {
    let c = t.paris();
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
        c.day, c.month, c.year, c.hour, c.minute, c.second
    )
}

/// A duration as people read it: « 45 s », « 3 min 05 s », « 2 h 10 min ».
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1_000;
    if s < 60 {
        format!("{s} s")
    } else if s < 3_600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{} h {:02} min", s / 3_600, (s % 3_600) / 60)
    } else {
        format!("{} j {} h", s / 86_400, (s % 86_400) / 3_600)
    }
}

/// A phone number for a person to read: « 06 12 34 56 78 ».
pub fn phone_display(e164: &str) -> String {
    vigie_core::PhoneNumber::parse(e164)
        .map(|p| p.national_display())
        .unwrap_or_else(|_| e164.to_string())
}

/// A download's `Content-Disposition` header.
pub fn content_disposition(filename: &str) -> (header::HeaderName, String) {
    (
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", filename.replace('"', "")),
    )
}
