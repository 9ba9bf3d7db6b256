//! Sign-in (password, then the second factor when the account has one or
//! its role requires one), sign-out and sign-out everywhere.

use super::{ClientAddr, Language, render, see_other};
use crate::Console;
use crate::auth::throttle::Key;
use crate::auth::{
    self, PRESIGN_COOKIE, SESSION_AGE_MS_MAX, SESSION_COOKIE, Viewer, hash_token, new_token,
    set_cookie, totp,
};
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use vigie_hub::store::Audit;

/// How long the sign-in form stays good, in seconds.
const PRESIGN_MAX_AGE_S: i64 = 30 * 60;
/// How the logs name a sign-in attempt for a username no account has.
const UNKNOWN_ACCOUNT: &str = "(compte inconnu)";

/// `username` if an account has it, else a placeholder: the logs never
/// keep what someone typed, which may be a password.
async fn known_name(console: &Console, username: &str) -> String {
    match console.store().account_by_username(username).await {
        Ok(Some(a)) => a.username,
        _ => UNKNOWN_ACCOUNT.to_string(),
    }
}

/// « Réessayez dans N s » for a wait in milliseconds.
fn too_many(lang: Lang, wait_ms: i64) -> String {
    let s = (wait_ms + 999) / 1_000;
    match lang {
        Lang::Fr => format!("Trop de tentatives : réessayez dans {s} s."),
        Lang::En => format!("Too many attempts: try again in {s} s."),
    }
}

/// A 429 says when to come back (`Retry-After`, whole seconds).
fn retry_after(mut resp: Response, wait_ms: i64) -> Response {
    let s = (wait_ms + 999) / 1_000;
    if let Ok(v) = header::HeaderValue::from_str(&s.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Usernames are at most this long (as accounts are created).
const USERNAME_CHARS_MAX: usize = 64;

/// The throttling name of a client address: IPv6 by its /64 (one host
/// holds a whole /64 and could otherwise change address at every guess).
fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn anonymous_audit(username: &str, action: &'static str, detail: serde_json::Value) -> Audit {
    Audit {
        account_id: None,
        username: username.chars().take(64).collect(),
        action,
        target: "console".into(),
        reason: None,
        detail,
    }
}

fn sign_in_form(
    console: &Console,
    lang: Lang,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let token = new_token();
    let mut resp = render(
        console,
        None,
        lang,
        "sign_in.html",
        "/console/sign-in",
        json!({ "csrf": token, "error": error }),
    );
    *resp.status_mut() = status;
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            PRESIGN_COOKIE,
            &token,
            PRESIGN_MAX_AGE_S,
            console.inner.config.secure_cookies,
        ),
    );
    resp
}

pub async fn page(
    State(console): State<Console>,
    Language(lang): Language,
    viewer: Option<Extension<Viewer>>,
) -> Response {
    match viewer {
        Some(Extension(v)) if v.second_factor_ok => see_other("/console"),
        _ => sign_in_form(&console, lang, StatusCode::OK, None),
    }
}

#[derive(Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
}

pub async fn submit(
    State(console): State<Console>,
    Language(lang): Language,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    let username = f.username.trim().to_lowercase();
    let now = console.now();
    let wrong = || {
        sign_in_form(
            &console,
            lang,
            StatusCode::UNAUTHORIZED,
            Some(
                lang.pick(
                    "Identifiant ou mot de passe incorrect.",
                    "Wrong username or password.",
                )
                .to_string(),
            ),
        )
    };
    // No account has such a name: refused before any work or memory spent on it.
    if username.is_empty() || username.chars().count() > USERNAME_CHARS_MAX {
        return wrong();
    }
    let address = console.client_address(peer, &headers).map(address_key);
    let attempt = console
        .inner
        .throttle
        .lock()
        .map(|mut t| {
            let (waited, counted) = t.sign_in_keys(&username, address.as_deref());
            let attempt = t.attempt(&waited, now);
            if attempt.is_ok() {
                t.failed(&counted, now);
            }
            attempt
        })
        .unwrap_or(Ok(()));
    if let Err(too_early) = attempt {
        if too_early.first {
            let named = known_name(&console, &username).await;
            tracing::warn!(user = %named, wait_ms = too_early.wait_ms, "console: sign-in attempts slowed down");
            let s = (too_early.wait_ms + 999) / 1_000;
            let _ = console
                .store()
                .audit(
                    anonymous_audit(&named, "sign_in_throttled", json!({ "wait_s": s })),
                    now,
                )
                .await;
        }
        return retry_after(
            sign_in_form(
                &console,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                Some(too_many(lang, too_early.wait_ms)),
            ),
            too_early.wait_ms,
        );
    }
    let account = match console.store().account_by_username(&username).await {
        Ok(a) => a.filter(|a| !a.disabled),
        Err(e) => return super::store_error(e, lang),
    };
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let ok = console.verify_password(f.password, stored).await;
    let known = account.as_ref().map(|a| a.username.clone());
    let Some(account) = account.filter(|_| ok) else {
        // The attempt was already counted when it was let through. What
        // was typed as a username is written only if it names an account
        // (people type their password in the wrong box).
        let named = known.unwrap_or_else(|| UNKNOWN_ACCOUNT.to_string());
        tracing::warn!(user = %named, "console: sign-in refused (wrong username or password)");
        let _ = console
            .store()
            .audit(anonymous_audit(&named, "sign_in_failed", json!({})), now)
            .await;
        return wrong();
    };
    if let Ok(mut t) = console.inner.throttle.lock() {
        t.signed_in(&username, address.as_deref());
    }
    // A cookie that came with the request is never promoted: end it.
    if let Some(old) = auth::cookie(&headers, SESSION_COOKIE) {
        let _ = console
            .store()
            .end_sessions(
                &hash_token(old),
                false,
                anonymous_audit(&username, "session_replaced", json!({})),
                now,
            )
            .await;
    }
    // Sessions past their limits are forgotten now and then: at sign-in.
    let _ = console
        .store()
        .purge_sessions(
            now.plus_ms(-auth::SESSION_IDLE_MS_MAX),
            now.plus_ms(-SESSION_AGE_MS_MAX),
        )
        .await;
    let token = new_token();
    let needs_code = account.totp_secret.is_some() || account.role.second_factor_required();
    let audit = Audit {
        account_id: Some(account.id),
        username: account.username.clone(),
        action: if needs_code {
            "sign_in_password"
        } else {
            "sign_in"
        },
        target: "console".into(),
        reason: None,
        detail: json!({}),
    };
    if let Err(e) = console
        .store()
        .create_session(
            hash_token(&token),
            account.id,
            new_token(),
            !needs_code,
            audit,
            now,
        )
        .await
    {
        return super::store_error(e, lang);
    }
    let mut resp = see_other(if needs_code {
        "/console/sign-in/code"
    } else {
        "/console"
    });
    let secure = console.inner.config.secure_cookies;
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, SESSION_AGE_MS_MAX / 1_000, secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(PRESIGN_COOKIE, "", 0, secure),
    );
    resp
}

/// The second factor: enter the code, or (first time, for roles that
/// require one) set up an authenticator app.
pub async fn code_page(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    code_form(&console, &v, lang, StatusCode::OK, None, None)
}

fn code_form(
    console: &Console,
    v: &Viewer,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    secret: Option<String>,
) -> Response {
    let setup = v.account.totp_secret.is_none();
    let (secret, qr, uri) = if setup {
        let secret = secret.unwrap_or_else(totp::new_secret);
        let uri = totp::otpauth_uri(
            &console.inner.config.region_name,
            &v.account.username,
            &secret,
        );
        (Some(secret), Some(super::me::qr_svg(&uri)), Some(uri))
    } else {
        (None, None, None)
    };
    let mut resp = render(
        console,
        None,
        lang,
        "sign_in_code.html",
        "/console/sign-in/code",
        json!({ "csrf": v.csrf, "setup": setup, "secret": secret, "qr": qr, "uri": uri, "error": error, "username": v.account.username }),
    );
    *resp.status_mut() = status;
    resp
}

#[derive(Deserialize)]
pub struct Code {
    code: String,
    secret: Option<String>,
}

/// Check a TOTP code for an account; a step is good once, on every hub
/// (the step used is kept in the database). A database that cannot be
/// written refuses the code.
pub async fn check_code(console: &Console, account_id: i64, secret: &str, code: &str) -> bool {
    let now = console.now();
    let Some(step) = totp::matching_step(secret, code, now) else {
        return false;
    };
    match console.store().use_totp_step(account_id, step).await {
        Ok(fresh) => fresh,
        Err(e) => {
            tracing::error!(error = %e, account = account_id, "cannot record the TOTP step used; code refused");
            false
        }
    }
}

pub async fn code_submit(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Form(f): Form<Code>,
) -> Response {
    let now = console.now();
    let keys = vec![Key::code(v.account.id)];
    let attempt = console
        .inner
        .throttle
        .lock()
        .map(|mut t| t.attempt(&keys, now))
        .unwrap_or(Ok(()));
    if let Err(too_early) = attempt {
        return retry_after(
            code_form(
                &console,
                &v,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&too_many(lang, too_early.wait_ms)),
                f.secret,
            ),
            too_early.wait_ms,
        );
    }
    let setup = v.account.totp_secret.is_none();
    let secret = if setup {
        f.secret
            .clone()
            .filter(|s| totp::base32_decode(s).is_some_and(|b| b.len() >= 16))
    } else {
        v.account.totp_secret.clone()
    };
    let ok = match secret.as_deref() {
        Some(s) => check_code(&console, v.account.id, s, &f.code).await,
        None => false,
    };
    if !ok {
        // Counted when it was let through.
        let _ = console
            .store()
            .audit(v.audit("second_factor_failed", "console"), now)
            .await;
        return code_form(
            &console,
            &v,
            lang,
            StatusCode::UNAUTHORIZED,
            Some(lang.pick(
                "Code incorrect ou déjà utilisé : attendez le suivant.",
                "Wrong or already used code: wait for the next one.",
            )),
            f.secret,
        );
    }
    if let Ok(mut t) = console.inner.throttle.lock() {
        t.succeeded(&keys);
    }
    if setup
        && let Err(e) = console
            .store()
            .set_totp_secret(v.account.id, secret, Some(v.session_hash.clone()), now)
            .await
    {
        return super::store_error(e, lang);
    }
    let token = new_token();
    let action = if setup {
        "second_factor_set_up"
    } else {
        "sign_in"
    };
    if let Err(e) = console
        .store()
        .promote_session(
            &v.session_hash,
            hash_token(&token),
            v.audit(action, "console"),
            now,
        )
        .await
    {
        return super::store_error(e, lang);
    }
    let mut resp = see_other("/console");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &token,
            SESSION_AGE_MS_MAX / 1_000,
            console.inner.config.secure_cookies,
        ),
    );
    resp
}

async fn end(console: Console, v: Viewer, everywhere: bool, lang: Lang) -> Response {
    let action = if everywhere {
        "sign_out_everywhere"
    } else {
        "sign_out"
    };
    if let Err(e) = console
        .store()
        .end_sessions(
            &v.session_hash,
            everywhere,
            v.audit(action, "console"),
            console.now(),
        )
        .await
    {
        return super::store_error(e, lang);
    }
    let mut resp = see_other("/console/sign-in");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, console.inner.config.secure_cookies),
    );
    resp
}

pub async fn sign_out(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    end(console, v, false, lang).await
}

pub async fn sign_out_everywhere(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    end(console, v, true, lang).await
}
