//! The signed-in person's own page: their sessions (sign out everywhere),
//! their password, and a second factor (optional for operators and
//! shopkeepers, already required for the others).

use super::{Language, render, see_other, store_error};
use crate::Console;
use crate::auth::{Viewer, totp};
use axum::Extension;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

/// An SVG QR code of `text` (an `otpauth://` URI or an enrolment code).
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(160, 160)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

pub async fn page_(
    console: &Console,
    v: &Viewer,
    lang: crate::Lang,
    status: StatusCode,
    message: Option<&str>,
    error: Option<&str>,
) -> Response {
    let sessions = console.store().sessions_of(v.account.id).await.unwrap_or(0);
    let (secret, qr) = if v.account.totp_secret.is_none() {
        let secret = totp::new_secret();
        let uri = totp::otpauth_uri(
            &console.inner.config.region_name,
            &v.account.username,
            &secret,
        );
        (Some(secret), Some(qr_svg(&uri)))
    } else {
        (None, None)
    };
    let mut resp = render(
        console,
        Some(v),
        lang,
        "me.html",
        "/console/me",
        json!({
            "sessions": sessions,
            "has_totp": v.account.totp_secret.is_some(),
            "secret": secret,
            "qr": qr,
            "message": message,
            "error": error,
        }),
    );
    *resp.status_mut() = status;
    resp
}

pub async fn page(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    page_(&console, &v, lang, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct TotpSetup {
    secret: String,
    code: String,
}

pub async fn totp_confirm(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Form(f): Form<TotpSetup>,
) -> Response {
    if v.account.totp_secret.is_some() {
        return see_other("/console/me");
    }
    let valid = totp::base32_decode(&f.secret).is_some_and(|b| b.len() >= 16)
        && super::sign_in::check_code(&console, v.account.id, &f.secret, &f.code).await;
    if !valid {
        return page_(&console, &v, lang, StatusCode::UNPROCESSABLE_ENTITY, None, Some(lang.pick(
            "Code incorrect : vérifiez l'heure du téléphone et recommencez avec le nouveau secret.",
            "Wrong code: check the phone's time and start again with the new secret.",
        ))).await;
    }
    let now = console.now();
    if let Err(e) = console
        .store()
        .set_totp_secret(
            v.account.id,
            Some(f.secret),
            Some(v.session_hash.clone()),
            now,
        )
        .await
    {
        return store_error(e, lang);
    }
    let _ = console
        .store()
        .audit(v.audit("second_factor_set_up", "console"), now)
        .await;
    see_other("/console/me")
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current: String,
    new: String,
}

pub async fn password(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Form(f): Form<PasswordChange>,
) -> Response {
    let stored = v.account.password_hash.clone();
    if !console.verify_password(f.current, Some(stored)).await {
        return page_(
            &console,
            &v,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(lang.pick("Mot de passe actuel incorrect.", "Wrong current password.")),
        )
        .await;
    }
    let hash = match console.hash_password(f.new).await {
        Ok(h) => h,
        Err(e) => {
            let msg = e.to_string();
            let text = lang.part(&msg);
            return page_(
                &console,
                &v,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(text.as_str()),
            )
            .await;
        }
    };
    let now = console.now();
    // Every session ends, this one too: sign in again with the new password.
    if let Err(e) = console.store().set_password_hash(v.account.id, hash).await {
        return store_error(e, lang);
    }
    let _ = console
        .store()
        .audit(v.audit("password_changed", "console"), now)
        .await;
    see_other("/console/sign-in")
}
