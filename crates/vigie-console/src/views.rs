//! Templates: minijinja, with HTML escaping chosen by the file name (every
//! template here ends in `.html`), all compiled into the binary.
//!
//! Templates call `tr("français", "English")` for their text (French first,
//! the viewer's language picked at render time) and `csrf_field()` for the hidden
//! token every form carries.

use minijinja::value::{Serde, Value};
use minijinja::{Environment, State};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "store_banner.html",
    "sign_in.html",
    "sign_in_code.html",
    "error.html",
    "board.html",
    "board_live.html",
    "map_view.html",
    "alarm_live.html",
    "alarms.html",
    "alarm.html",
    "shops.html",
    "shop.html",
    "fleet.html",
    "stats.html",
    "recordings.html",
    "recording.html",
    "accounts.html",
    "audit.html",
    "me.html",
];

pub struct Views {
    env: Environment<'static>,
}

fn tr(state: &State<'_, '_>, fr: &str, en: &str) -> String {
    let english = state
        .lookup("lang")
        .and_then(|v| v.as_str().map(|s| s == "en"))
        .unwrap_or(false);
    if english { en } else { fr }.to_string()
}

fn csrf(state: &State<'_, '_>) -> Value {
    let token = state
        .lookup("csrf")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    // The token is URL-safe base64: nothing to escape.
    Value::from_safe_string(format!(
        r#"<input type="hidden" name="_csrf" value="{}">"#,
        token.replace(
            |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            ""
        )
    ))
}

impl Views {
    pub fn new() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        env.add_function("tr", tr);
        env.add_function("csrf_field", csrf);
        Ok(Self { env })
    }

    /// Render `name` with `ctx` (any serialisable map).
    pub fn render(&self, name: &str, ctx: &serde_json::Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(Serde(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes_html() {
        let views = Views::new().expect("templates");
        let html = views
            .render(
                "error.html",
                &serde_json::json!({ "lang": "fr", "title": "<script>x</script>", "message": "a & b" }),
            )
            .expect("render");
        assert!(html.contains("&lt;script&gt;x"), "{html}");
        assert!(html.contains("a &amp; b"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
    }

    #[test]
    fn tr_picks_the_viewers_language() {
        let mut env = Environment::new();
        env.add_function("tr", tr);
        env.add_template("t.html", r#"{{ tr("Bonjour", "Hello") }}"#)
            .expect("add");
        let t = env.get_template("t.html").expect("get");
        assert_eq!(
            t.render(Serde(serde_json::json!({"lang": "fr"})))
                .expect("fr"),
            "Bonjour"
        );
        assert_eq!(
            t.render(Serde(serde_json::json!({"lang": "en"})))
                .expect("en"),
            "Hello"
        );
        assert_eq!(
            t.render(Serde(serde_json::json!({}))).expect("none"),
            "Bonjour"
        );
    }
}
