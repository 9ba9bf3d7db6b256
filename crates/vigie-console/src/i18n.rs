//! The viewer's language: French unless they switched to English (a
//! cookie, set by `/console/lang`).

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub const LANG_COOKIE: &str = "vigie_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn of(headers: &HeaderMap) -> Lang {
        match crate::auth::cookie(headers, LANG_COOKIE) {
            Some("en") => Lang::En,
            _ => Lang::Fr,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
    pub fn pick<'a>(self, fr: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    /// This language's half of a « français / English » message (the
    /// hub's refusals are written that way); the whole when it has no `/`.
    pub fn part(self, message: &str) -> String {
        match message.split_once(" / ") {
            Some((fr, en)) => self.pick(fr, en).to_string(),
            None => message.to_string(),
        }
    }
}

#[derive(Deserialize)]
pub struct Switch {
    to: String,
    back: Option<String>,
}

/// Set the language and go back where the person was (only to a console page).
pub async fn switch(Query(q): Query<Switch>) -> Response {
    let lang = if q.to == "en" { "en" } else { "fr" };
    let back = q
        .back
        .filter(|b| b.starts_with("/console") && !b.contains("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/console".into());
    let mut resp = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={lang}; Path=/console; SameSite=Lax; Max-Age=31536000"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bilingual_message_gives_each_language_its_half() {
        let m = "alarme inconnue / unknown alarm";
        assert_eq!(Lang::Fr.part(m), "alarme inconnue");
        assert_eq!(Lang::En.part(m), "unknown alarm");
        assert_eq!(Lang::En.part("seulement ceci"), "seulement ceci");
    }
}
