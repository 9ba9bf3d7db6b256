//! Who is asking: sessions, the guard in front of every route, CSRF, the
//! second factor, and the headers that keep pages from being framed or
//! sniffed.
//!
//! A session cookie holds 32 random bytes; the store keeps their SHA-256,
//! so reading the database gives no usable cookie. Sign-in always starts a
//! new session (a cookie planted before sign-in is never promoted), and so
//! does giving the second factor. Forms carry the session's CSRF token in
//! `_csrf` (htmx sends it as `X-CSRF-Token`); the sign-in form, before any
//! session, carries a token paired with a short-lived cookie.

pub mod password;
pub mod throttle;
pub mod totp;

use crate::i18n::Lang;
use crate::{Access, Console, RouteRule, is_safe};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use sha2::Digest as _;
use vigie_hub::store::{Account, Audit, Role};

pub const SESSION_COOKIE: &str = "vigie_session";
/// Pairs the sign-in form's token with the browser that loaded it.
pub const PRESIGN_COOKIE: &str = "vigie_presign";
/// A session unused this long ends, in milliseconds.
pub const SESSION_IDLE_MS_MAX: i64 = 12 * 3_600_000;
/// A session ends this long after sign-in whatever happens, in milliseconds.
pub const SESSION_AGE_MS_MAX: i64 = 7 * 24 * 3_600_000;
/// A session's last use is written at most this often, in milliseconds.
const SESSION_TOUCH_MS: i64 = 5 * 60_000;
/// A form body is read up to this size (a Region's shop list fits).
pub const FORM_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Random bytes in a session cookie or CSRF token.
const TOKEN_BYTES: usize = 32;

/// The signed-in person, as every handler behind the guard sees them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: Account,
    pub session_hash: String,
    pub csrf: String,
    pub second_factor_ok: bool,
}

impl Viewer {
    pub fn role(&self) -> Role {
        self.account.role
    }

    /// Whether this person may see that shop's alarms, contacts and boxes.
    pub fn can_see_shop(&self, shop_id: i64) -> bool {
        match self.account.role {
            Role::Admin | Role::Operator => true,
            Role::Shopkeeper => self.account.shop_id == Some(shop_id),
            Role::Investigator => false,
        }
    }

    /// The shop this person is limited to, if any.
    pub fn own_shop(&self) -> Option<i64> {
        match self.account.role {
            Role::Shopkeeper => self.account.shop_id.or(Some(-1)),
            _ => None,
        }
    }

    pub fn audit(&self, action: &'static str, target: impl Into<String>) -> Audit {
        Audit {
            account_id: Some(self.account.id),
            username: self.account.username.clone(),
            action,
            target: target.into(),
            reason: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }
}

/// A fresh random token, URL-safe.
pub fn new_token() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session cookie.
pub fn hash_token(token: &str) -> String {
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value; `max_age_s` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Compare two tokens in time that depends on their length only.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session behind the request's cookie, if it is still good.
pub async fn session_of(console: &Console, headers: &HeaderMap) -> Option<Viewer> {
    let token = cookie(headers, SESSION_COOKIE)?;
    if token.len() > 64 {
        return None;
    }
    let hash = hash_token(token);
    let s = console.store().session(&hash).await.ok()??;
    let now = console.now();
    if s.account.disabled
        || now.ms_since(s.last_seen_at) > SESSION_IDLE_MS_MAX
        || now.ms_since(s.created_at) > SESSION_AGE_MS_MAX
    {
        return None;
    }
    if now.ms_since(s.last_seen_at) > SESSION_TOUCH_MS {
        let _ = console.store().touch_session(&hash, now).await;
    }
    Some(Viewer {
        account: s.account,
        session_hash: hash,
        csrf: s.csrf,
        second_factor_ok: s.second_factor_ok,
    })
}

/// Whether a session is still good (for a live stream that outlives the
/// request that opened it); watching the board counts as using it.
pub async fn still_signed_in(console: &Console, hash: &str) -> bool {
    let Ok(Some(s)) = console.store().session(hash).await else {
        return false;
    };
    let now = console.now();
    if s.account.disabled
        || now.ms_since(s.last_seen_at) > SESSION_IDLE_MS_MAX
        || now.ms_since(s.created_at) > SESSION_AGE_MS_MAX
    {
        return false;
    }
    if now.ms_since(s.last_seen_at) > SESSION_TOUCH_MS {
        let _ = console.store().touch_session(hash, now).await;
    }
    true
}

/// Refuse requests that change state from another site: browsers say
/// where a request comes from (`Sec-Fetch-Site`, `Origin`). The origin must
/// be the hub's public one, or match `Host` when none is configured; a
/// request that does not say where it comes from is refused too (every
/// browser sends `Origin` on a form post; the console has no other client).
fn cross_site(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), _) if public_origin == Some(origin) => false,
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(origin);
            origin == "null" || origin_host != host
        }
        (Some(_), None) | (None, _) => true,
    }
}

/// The `_csrf` field of a urlencoded form (tokens are URL-safe: no decoding).
pub fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn refuse(status: StatusCode, lang: Lang, fr: &str, en: &str) -> Response {
    crate::pages::error_page(status, lang, fr, en)
}

/// Buffer the body and check its CSRF token against `expected`.
async fn check_csrf(req: Request, expected: &str, lang: Lang) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_BYTES_MAX)
        .await
        .map_err(|_| {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                lang,
                "Formulaire trop volumineux (4 Mo au plus).",
                "Form too large (4 MB at most).",
            )
        })?;
    let given = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| form_field(&bytes, "_csrf"))
        .or_else(|| {
            let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE)?;
            crate::multipart::field(&bytes, content_type.to_str().ok()?, "_csrf")
        })
        .unwrap_or("");
    if !tokens_equal(given, expected) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            lang,
            "Formulaire expiré ou venu d'ailleurs : rechargez la page et recommencez.",
            "This form expired or came from elsewhere: reload the page and try again.",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// In front of every console route: the rule's access, then CSRF and origin
/// for anything that changes state.
pub async fn guard(State(console): State<Console>, req: Request, next: Next) -> Response {
    let Some(rule) = req.extensions().get::<RouteRule>().copied() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let lang = Lang::of(req.headers());
    let unsafe_method = !is_safe(req.method());
    if unsafe_method && cross_site(req.headers(), console.inner.config.public_origin.as_deref()) {
        return refuse(
            StatusCode::FORBIDDEN,
            lang,
            "Requête venue d'un autre site : refusée.",
            "Request from another site: refused.",
        );
    }
    let mut req = req;
    match rule.access {
        Access::Public => {
            if unsafe_method {
                let paired = cookie(req.headers(), PRESIGN_COOKIE)
                    .unwrap_or("")
                    .to_string();
                req = match check_csrf(req, &paired, lang).await {
                    Ok(r) => r,
                    Err(resp) => return resp,
                };
            }
            if let Some(v) = session_of(&console, req.headers()).await {
                req.extensions_mut().insert(v);
            }
        }
        Access::SecondFactorPending => {
            let Some(v) = session_of(&console, req.headers()).await else {
                return Redirect::to("/console/sign-in").into_response();
            };
            if v.second_factor_ok {
                return Redirect::to("/console").into_response();
            }
            if unsafe_method {
                req = match check_csrf(req, &v.csrf, lang).await {
                    Ok(r) => r,
                    Err(resp) => return resp,
                };
            }
            req.extensions_mut().insert(v);
        }
        Access::Roles(roles) => {
            let Some(v) = session_of(&console, req.headers()).await else {
                if *req.method() == Method::GET {
                    return Redirect::to("/console/sign-in").into_response();
                }
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    lang,
                    "Session terminée : reconnectez-vous.",
                    "Your session ended: sign in again.",
                );
            };
            if !v.second_factor_ok {
                return Redirect::to("/console/sign-in/code").into_response();
            }
            if !roles.contains(&v.account.role) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    lang,
                    "Votre rôle ne donne pas accès à cette page.",
                    "Your role does not give access to this page.",
                );
            }
            if unsafe_method {
                req = match check_csrf(req, &v.csrf, lang).await {
                    Ok(r) => r,
                    Err(resp) => return resp,
                };
            }
            req.extensions_mut().insert(v);
        }
    }
    // Who did what, for the hub's log: never a query string, a form or a
    // cookie (they can hold passwords, numbers and tokens).
    let who = req
        .extensions()
        .get::<Viewer>()
        .map(|v| v.account.username.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if unsafe_method {
        tracing::info!(%method, path, user = %who, status = resp.status().as_u16(), "console");
    } else {
        tracing::debug!(%method, path, user = %who, status = resp.status().as_u16(), "console");
    }
    resp
}

/// Headers on every console response: no framing, no sniffing, no
/// referrer outside the hub (`same-origin`: with `no-referrer` browsers
/// send `Origin: null` on form posts, which the origin check refuses),
/// scripts only from the hub.
pub async fn security_headers(
    State(console): State<Console>,
    req: Request,
    next: Next,
) -> Response {
    let is_asset = req.uri().path().starts_with("/console/assets/");
    let mut resp = next.run(req).await;
    let tiles = console
        .inner
        .config
        .tiles
        .as_ref()
        .and_then(|t| t.origin())
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn only_the_hubs_own_origin_may_post() {
        let public = Some("https://vigie.example.fr");
        // Behind a proxy that rewrites Host: the public origin is accepted.
        let proxied = headers(&[
            ("origin", "https://vigie.example.fr"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(!cross_site(&proxied, public));
        assert!(cross_site(&proxied, None), "without it, Host must match");
        let direct = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(!cross_site(&direct, None));
        for bad in [
            headers(&[
                ("origin", "https://evil.example"),
                ("host", "vigie.example.fr"),
            ]),
            headers(&[("origin", "null"), ("host", "vigie.example.fr")]),
            headers(&[
                ("sec-fetch-site", "cross-site"),
                ("host", "vigie.example.fr"),
            ]),
            headers(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://vigie.example.fr"),
            ]),
        ] {
            assert!(cross_site(&bad, public), "{bad:?}");
        }
        // No Origin at all (a script, an old client): refused, whatever the token.
        assert!(cross_site(&headers(&[]), public));
        assert!(cross_site(
            &headers(&[
                ("sec-fetch-site", "same-origin"),
                ("host", "vigie.example.fr")
            ]),
            public
        ));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
        assert!(!tokens_equal("", ""), "an empty token never matches");
    }

    #[test]
    fn the_form_field_is_found_among_others() {
        assert_eq!(
            form_field(b"a=1&_csrf=tok-en_1&b=2", "_csrf"),
            Some("tok-en_1")
        );
        assert_eq!(form_field(b"a=1", "_csrf"), None);
        assert_eq!(form_field(&[0xff, 0xfe], "_csrf"), None);
    }
}
