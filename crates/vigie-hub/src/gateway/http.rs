//! HTTP SMS provider gateway: one configurable request per SMS.
//!
//! Most SMS providers (and Kannel's `sendsms` interface) take an SMS as an
//! HTTP request whose URL or body carries the number, the text and a
//! delivery-report URL. The request is a template with placeholders:
//!
//! | placeholder   | value                                                        |
//! | ------------- | ------------------------------------------------------------ |
//! | `{to}`        | destination digits without `+` (`33612345678`)               |
//! | `{to_e164}`   | destination in E.164 (`+33612345678`)                        |
//! | `{text}`      | the SMS text                                                 |
//! | `{from}`      | the configured sender                                        |
//! | `{dlr_url}`   | the hub's receipt URL for this notification (see below)      |
//! | `{reference}` | our notification id                                          |
//! | `{coding}`    | `0` for GSM 7-bit text, `2` for UCS-2 (Kannel's `coding`)    |
//!
//! Every value is URL-encoded when substituted, except in a body whose
//! content type is JSON, where it is escaped as the inside of a JSON string.
//! `{{` and `}}` stand for literal braces.
//!
//! `{dlr_url}` is
//! `{callback_base_url}/v1/gateways/{name}/receipt?secret=…&ref={reference}&status=%d`:
//! Kannel replaces `%d` by the delivery report type (1 delivered, 2 failed,
//! 4 buffered, 8 accepted by the SMSC, 16 rejected by the SMSC). The hub's
//! routes check the secret with [`HttpGateway::check_secret`] and turn the
//! query into an [`Inbound`] with [`parse_receipt`].
//!
//! Replies arrive on `{callback_base_url}/v1/gateways/{name}/reply?secret=…`
//! with `from` and `text` parameters, parsed by [`parse_reply`]. With
//! Kannel, the smsbox service that forwards them is:
//!
//! ```text
//! group = sms-service
//! keyword = default
//! catch-all = yes
//! max-messages = 0
//! get-url = "https://hub.example/v1/gateways/kannel/reply?secret=SECRET&from=%p&text=%a"
//! ```
//!
//! (`%p` is the sender's number, `%a` the whole text; `max-messages = 0`
//! keeps smsbox from answering the contact itself.)
//!
//! Outcome of a submit: 2xx (containing `accepted_body_contains` when set)
//! is accepted; 429 is throttled; 5xx, timeouts and connection failures are
//! transient; any other status is a rejection for good.

use super::{Gateway, GatewayError, Inbound, OutgoingSms, ReceiptRef, Submitted};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use vigie_core::PhoneNumber;
use vigie_core::gsm::Encoding;

/// Default submits in flight at once: a provider's usual per-account limit.
const WINDOW_DEFAULT: usize = 16;
/// More in flight than this is a misconfiguration, not a faster gateway.
const WINDOW_MAX: usize = 1_024;
/// Default time for the whole request, response body included.
const TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Bounds on the request timeout: shorter fails on a healthy provider,
/// longer holds an alarm SMS back for too long.
const TIMEOUT_MS_MIN: u64 = 100;
const TIMEOUT_MS_MAX: u64 = 60_000;
/// How much of a provider's response we read; a real answer is far smaller.
const RESPONSE_BODY_BYTES_MAX: usize = 64 * 1024;
/// How much of a rejection's body goes into the error (and so the logs).
const ERROR_BODY_CHARS_MAX: usize = 200;
/// A webhook secret shorter than this can be guessed.
const WEBHOOK_SECRET_CHARS_MIN: usize = 16;
/// Callback parameters longer than this are not from a real SMS gateway.
const REPLY_FROM_CHARS_MAX: usize = 32;
/// A concatenated SMS of 10 segments, with room to spare.
const REPLY_TEXT_CHARS_MAX: usize = 2_000;
const REFERENCE_CHARS_MAX: usize = 20;
const STATUS_CHARS_MAX: usize = 10;

/// Kannel's delivery report types, as `%d` in a `dlr-url`.
const DLR_DELIVERED: u32 = 1;
const DLR_FAILED: u32 = 2;
const DLR_BUFFERED: u32 = 4;
const DLR_SMSC_SUBMIT: u32 = 8;
const DLR_SMSC_REJECT: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

fn default_method() -> HttpMethod {
    HttpMethod::Get
}
fn default_content_type() -> String {
    "application/x-www-form-urlencoded".to_string()
}
fn default_window() -> usize {
    WINDOW_DEFAULT
}
fn default_timeout_ms() -> u64 {
    TIMEOUT_MS_DEFAULT
}

/// One HTTP SMS provider, as configured (`[[gateways.http]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The gateway's name, also the path segment of its callback URLs.
    pub name: String,
    /// Request URL template (see the module documentation).
    pub url: String,
    #[serde(default = "default_method")]
    pub method: HttpMethod,
    /// Body template, for POST only.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// Sender: a long number or short code (replies possible) or an
    /// alphanumeric name (no replies).
    pub from: String,
    /// Whether contacts can reply to `from`.
    #[serde(default)]
    pub replies: bool,
    #[serde(default = "default_window")]
    pub window: usize,
    /// The sending rate agreed with the provider (SMS per second); none: as
    /// fast as the window allows, slowing down when throttled.
    #[serde(default)]
    pub max_per_s: Option<u32>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The hub's public URL, as the provider reaches it (`https://hub.example`).
    pub callback_base_url: String,
    /// Proves that a callback comes from the provider we gave the URL to.
    pub webhook_secret: SecretString,
    /// A 2xx response must contain this to count as accepted.
    #[serde(default)]
    pub accepted_body_contains: Option<String>,
    /// Where the provider's message id is in a JSON response (RFC 6901).
    #[serde(default)]
    pub message_id_json_pointer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    To,
    ToE164,
    Text,
    From,
    DlrUrl,
    Reference,
    Coding,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "to" => Self::To,
            "to_e164" => Self::ToE164,
            "text" => Self::Text,
            "from" => Self::From,
            "dlr_url" => Self::DlrUrl,
            "reference" => Self::Reference,
            "coding" => Self::Coding,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Value(Placeholder),
}

/// How values are escaped when substituted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    Url,
    Json,
}

/// A parsed request template.
#[derive(Debug, Clone)]
struct Template {
    segments: Vec<Segment>,
    escape: Escape,
}

impl Template {
    /// `what` names the configuration key in error messages.
    fn parse(what: &str, source: &str, escape: Escape) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!(
                            "{what}: unclosed '{{' (write '{{{{' for a literal brace)"
                        ));
                    }
                    let Some(placeholder) = Placeholder::parse(&name) else {
                        return Err(format!(
                            "{what}: unknown placeholder {{{name}}} (known: {{to}}, {{to_e164}}, {{text}}, {{from}}, {{dlr_url}}, {{reference}}, {{coding}})"
                        ));
                    };
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Value(placeholder));
                }
                '}' => {
                    return Err(format!(
                        "{what}: unmatched '}}' (write '}}}}' for a literal brace)"
                    ));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self { segments, escape })
    }

    fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Value(p) => {
                    let value = values.get(*p);
                    match self.escape {
                        Escape::Url => out.push_str(&percent_encode(value)),
                        Escape::Json => out.push_str(&json_escape(value)),
                    }
                }
            }
        }
        out
    }
}

/// The values of one SMS, unescaped.
struct Values<'a> {
    to: &'a str,
    to_e164: &'a str,
    text: &'a str,
    from: &'a str,
    dlr_url: String,
    reference: String,
    coding: &'static str,
}

impl Values<'_> {
    fn get(&self, p: Placeholder) -> &str {
        match p {
            Placeholder::To => self.to,
            Placeholder::ToE164 => self.to_e164,
            Placeholder::Text => self.text,
            Placeholder::From => self.from,
            Placeholder::DlrUrl => &self.dlr_url,
            Placeholder::Reference => &self.reference,
            Placeholder::Coding => self.coding,
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so the
/// result is safe in a path, a query and a form body alike (space is `%20`).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inside of a JSON string literal (no surrounding quotes).
fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

fn is_url_safe(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub struct HttpGateway {
    config: HttpConfig,
    url: Template,
    body: Option<Template>,
    client: reqwest::Client,
    /// SHA-256 of the webhook secret: compared digest to digest so that
    /// neither content nor length leaks through timing.
    secret_digest: [u8; 32],
}

impl std::fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGateway")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    /// Checks the configuration; every error names the key at fault.
    pub fn new(config: HttpConfig) -> Result<Self, String> {
        if config.name.is_empty() || !is_url_safe(&config.name) {
            return Err(format!(
                "name: {:?} must be non-empty letters, digits, '-', '_', '.' or '~'",
                config.name
            ));
        }
        let url = Template::parse("url", &config.url, Escape::Url)?;
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err("url: must start with http:// or https://".to_string());
        }
        let body = match (config.method, &config.body) {
            (HttpMethod::Get, None) => None,
            (HttpMethod::Get, Some(_)) => {
                return Err("body: only with method = \"POST\"".to_string());
            }
            (HttpMethod::Post, None) => {
                return Err("body: required with method = \"POST\"".to_string());
            }
            (HttpMethod::Post, Some(body)) => {
                let escape = if config.content_type.to_ascii_lowercase().contains("json") {
                    Escape::Json
                } else {
                    Escape::Url
                };
                Some(Template::parse("body", body, escape)?)
            }
        };
        if config.from.is_empty() {
            return Err("from: must not be empty".to_string());
        }
        if !(1..=WINDOW_MAX).contains(&config.window) {
            return Err(format!(
                "window: {} is not within 1..={WINDOW_MAX}",
                config.window
            ));
        }
        if !(TIMEOUT_MS_MIN..=TIMEOUT_MS_MAX).contains(&config.timeout_ms) {
            return Err(format!(
                "timeout_ms: {} is not within {TIMEOUT_MS_MIN}..={TIMEOUT_MS_MAX}",
                config.timeout_ms
            ));
        }
        let base = config.callback_base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err("callback_base_url: must start with http:// or https://".to_string());
        }
        // Kannel reads '%' in a dlr-url as its own escapes; '?' and '#' would
        // break the path we append.
        if base.contains(['%', '?', '#', ' ']) {
            return Err("callback_base_url: must not contain '%', '?', '#' or spaces".to_string());
        }
        let secret = config.webhook_secret.expose_secret();
        if secret.chars().count() < WEBHOOK_SECRET_CHARS_MIN || !is_url_safe(secret) {
            return Err(format!(
                "webhook_secret: must be at least {WEBHOOK_SECRET_CHARS_MIN} letters, digits, '-', '_', '.' or '~' \
                 (it travels in URLs that Kannel rewrites)"
            ));
        }
        if let Some(pointer) = &config.message_id_json_pointer
            && !pointer.is_empty()
            && !pointer.starts_with('/')
        {
            return Err("message_id_json_pointer: must start with '/' (RFC 6901)".to_string());
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let secret_digest = Sha256::digest(secret.as_bytes()).into();
        Ok(Self {
            config,
            url,
            body,
            client,
            secret_digest,
        })
    }

    /// Whether a callback's `secret` parameter is ours (constant time).
    pub fn check_secret(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        given
            .iter()
            .zip(self.secret_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The receipt URL the provider calls back for one notification.
    pub fn dlr_url(&self, notification_id: i64) -> String {
        format!(
            "{}/v1/gateways/{}/receipt?secret={}&ref={notification_id}&status=%d",
            self.config.callback_base_url.trim_end_matches('/'),
            self.config.name,
            self.config.webhook_secret.expose_secret(),
        )
    }

    fn values<'a>(&'a self, sms: &'a OutgoingSms) -> Values<'a> {
        Values {
            to: sms.to.digits(),
            to_e164: sms.to.as_e164(),
            text: &sms.text,
            from: &self.config.from,
            dlr_url: self.dlr_url(sms.notification_id),
            reference: sms.notification_id.to_string(),
            coding: match sms.encoding {
                Encoding::Gsm7 { .. } => "0",
                Encoding::Ucs2 { .. } => "2",
            },
        }
    }

    /// The request for one SMS: URL and optional body.
    fn render(&self, sms: &OutgoingSms) -> (String, Option<String>) {
        let values = self.values(sms);
        (
            self.url.render(&values),
            self.body.as_ref().map(|b| b.render(&values)),
        )
    }

    fn accepted(&self, body: &str) -> Result<Submitted, GatewayError> {
        if let Some(needle) = &self.config.accepted_body_contains
            && !body.contains(needle.as_str())
        {
            return Err(GatewayError::Rejected(format!(
                "2xx response without {needle:?}: {}",
                truncate_chars(body, ERROR_BODY_CHARS_MAX)
            )));
        }
        let message_id = match &self.config.message_id_json_pointer {
            Some(pointer) => serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.pointer(pointer).cloned())
                .and_then(|v| match v {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
            None => None,
        };
        Ok(Submitted { message_id })
    }
}

fn truncate_chars(s: &str, chars_max: usize) -> String {
    s.chars().take(chars_max).collect()
}

/// A transport failure, without the URL (it carries credentials and numbers).
fn transport_error(e: reqwest::Error) -> GatewayError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    GatewayError::Transient(format!("{kind}: {}", e.without_url()))
}

/// Reads at most `RESPONSE_BODY_BYTES_MAX` of the body.
async fn read_body(mut response: reqwest::Response) -> Result<String, GatewayError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        let room = RESPONSE_BODY_BYTES_MAX - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= RESPONSE_BODY_BYTES_MAX {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[async_trait]
impl Gateway for HttpGateway {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn accepts_replies(&self) -> bool {
        self.config.replies
    }
    fn window(&self) -> usize {
        self.config.window
    }
    fn max_per_s(&self) -> Option<u32> {
        self.config.max_per_s
    }

    async fn submit(&self, sms: &OutgoingSms) -> Result<Submitted, GatewayError> {
        let (url, body) = self.render(sms);
        let request = match body {
            None => self.client.get(url),
            Some(body) => self
                .client
                .post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    self.config.content_type.as_str(),
                )
                .body(body),
        };
        let result = async {
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status();
            let body = read_body(response).await?;
            if status.is_success() {
                self.accepted(&body)
            } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                Err(GatewayError::Throttled)
            } else if status.is_server_error() {
                Err(GatewayError::Transient(format!(
                    "HTTP {status}: {}",
                    truncate_chars(&body, ERROR_BODY_CHARS_MAX)
                )))
            } else {
                Err(GatewayError::Rejected(format!(
                    "HTTP {status}: {}",
                    truncate_chars(&body, ERROR_BODY_CHARS_MAX)
                )))
            }
        }
        .await;
        match &result {
            Ok(_) => {
                tracing::debug!(gateway = %self.config.name, notification_id = sms.notification_id, to = %sms.to, "SMS submitted")
            }
            Err(e) => {
                tracing::warn!(gateway = %self.config.name, notification_id = sms.notification_id, to = %sms.to, error = %e, "SMS submit failed")
            }
        }
        result
    }
}

/// Why a provider's callback could not be turned into an [`Inbound`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("missing parameter '{0}'")]
    MissingParameter(&'static str),
    #[error("parameter '{parameter}' longer than {chars_max} characters")]
    TooLong {
        parameter: &'static str,
        chars_max: usize,
    },
    #[error("bad reference {0:?}: expected a notification id")]
    BadReference(String),
    #[error("bad delivery status {0:?}: expected 1, 2, 4, 8 or 16")]
    BadStatus(String),
    #[error("bad sender {0:?}: expected a phone number")]
    BadSender(String),
    /// An intermediate report (buffered, accepted by the SMSC): not an
    /// outcome. Callers answer 200 and ignore it.
    #[error("interim delivery status {0}")]
    Interim(u32),
}

fn param<'a>(
    query: &'a HashMap<String, String>,
    name: &'static str,
    chars_max: usize,
) -> Result<&'a str, CallbackError> {
    let value = query
        .get(name)
        .ok_or(CallbackError::MissingParameter(name))?;
    if value.chars().count() > chars_max {
        return Err(CallbackError::TooLong {
            parameter: name,
            chars_max,
        });
    }
    Ok(value)
}

/// A delivery callback (`ref`, `status` as Kannel's `%d`) → a receipt.
pub fn parse_receipt(
    gateway: &str,
    query: &HashMap<String, String>,
) -> Result<Inbound, CallbackError> {
    let reference = param(query, "ref", REFERENCE_CHARS_MAX)?;
    let reference: i64 = reference
        .trim()
        .parse()
        .map_err(|_| CallbackError::BadReference(reference.to_string()))?;
    let status_text = param(query, "status", STATUS_CHARS_MAX)?;
    let status: u32 = status_text
        .trim()
        .parse()
        .map_err(|_| CallbackError::BadStatus(status_text.to_string()))?;
    let (delivered, detail) = match status {
        DLR_DELIVERED => (true, "delivered"),
        DLR_FAILED => (false, "failed"),
        DLR_SMSC_REJECT => (false, "rejected by the SMSC"),
        DLR_BUFFERED | DLR_SMSC_SUBMIT => return Err(CallbackError::Interim(status)),
        _ => return Err(CallbackError::BadStatus(status_text.to_string())),
    };
    Ok(Inbound::Receipt {
        gateway: gateway.to_string(),
        reference: ReceiptRef::Notification(reference),
        delivered,
        detail: format!("{detail} ({status})"),
    })
}

/// A reply callback (`from`, `text`) → a reply, its sender in E.164.
///
/// Kannel's `%p` gives the sender's digits without `+` (`33612345678`);
/// a number that is already E.164 or French national is taken as it is.
pub fn parse_reply(
    gateway: &str,
    query: &HashMap<String, String>,
) -> Result<Inbound, CallbackError> {
    let from = param(query, "from", REPLY_FROM_CHARS_MAX)?;
    let text = param(query, "text", REPLY_TEXT_CHARS_MAX)?;
    let trimmed = from.trim();
    let phone = if !trimmed.is_empty()
        && trimmed.bytes().all(|b| b.is_ascii_digit())
        && !trimmed.starts_with('0')
    {
        PhoneNumber::parse(&format!("+{trimmed}"))
    } else {
        PhoneNumber::parse(trimmed)
    }
    .map_err(|_| CallbackError::BadSender(from.to_string()))?;
    Ok(Inbound::Reply {
        gateway: gateway.to_string(),
        from: phone.as_e164().to_string(),
        text: text.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret-0123456789abcdef";

    fn config(url: &str) -> HttpConfig {
        HttpConfig {
            name: "kannel".into(),
            url: url.into(),
            method: HttpMethod::Get,
            body: None,
            content_type: default_content_type(),
            from: "+33700000000".into(),
            replies: true,
            window: WINDOW_DEFAULT,
            max_per_s: None,
            timeout_ms: TIMEOUT_MS_DEFAULT,
            callback_base_url: "http://127.0.0.1:8080/".into(),
            webhook_secret: SecretString::from(SECRET),
            accepted_body_contains: None,
            message_id_json_pointer: None,
        }
    }

    fn sms(text: &str) -> OutgoingSms {
        OutgoingSms {
            notification_id: 42,
            to: PhoneNumber::parse("06 12 34 56 78").unwrap(),
            text: text.into(),
            encoding: Encoding::of(text),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_deserializes_with_defaults_and_denies_unknown_fields() {
        let toml_ok = r#"
            name = "kannel"
            url = "http://127.0.0.1:13013/cgi-bin/sendsms?to={to}&text={text}"
            from = "VIGIE"
            callback_base_url = "http://127.0.0.1:8080"
            webhook_secret = "0123456789abcdefXYZ"
        "#;
        let c: HttpConfig = toml::from_str(toml_ok).unwrap();
        assert_eq!(
            (c.method, c.window, c.timeout_ms, c.replies),
            (HttpMethod::Get, 16, 5_000, false)
        );
        assert_eq!(c.content_type, "application/x-www-form-urlencoded");
        let err = toml::from_str::<HttpConfig>(&format!("{toml_ok}\nretries = 3")).unwrap_err();
        assert!(err.to_string().contains("retries"), "{err}");
        let err =
            toml::from_str::<HttpConfig>(&toml_ok.replace("VIGIE\"", "VIGIE\"\nmethod = \"PUT\""))
                .unwrap_err();
        assert!(err.to_string().contains("PUT"), "{err}");
    }

    #[test]
    fn unknown_or_broken_placeholders_are_named() {
        let err = HttpGateway::new(config("http://x/send?to={to}&msg={message}")).unwrap_err();
        assert!(
            err.starts_with("url:") && err.contains("{message}"),
            "{err}"
        );
        let err = HttpGateway::new(config("http://x/send?to={to")).unwrap_err();
        assert!(err.contains("unclosed"), "{err}");
        let err = HttpGateway::new(config("http://x/send?to=}")).unwrap_err();
        assert!(err.contains("unmatched"), "{err}");
        let mut post = config("http://x/send");
        post.method = HttpMethod::Post;
        post.body = Some("to={to}&t={txt}".into());
        let err = HttpGateway::new(post).unwrap_err();
        assert!(err.starts_with("body:") && err.contains("{txt}"), "{err}");
    }

    #[test]
    fn bad_configuration_names_the_key() {
        type Mutate = fn(&mut HttpConfig);
        let cases: Vec<(&str, Mutate)> = vec![
            ("name:", |c| c.name = "a b".into()),
            ("url:", |c| c.url = "ftp://x/{to}".into()),
            ("body:", |c| c.method = HttpMethod::Post),
            ("body:", |c| c.body = Some("x".into())),
            ("from:", |c| c.from = String::new()),
            ("window:", |c| c.window = 0),
            ("timeout_ms:", |c| c.timeout_ms = 10),
            ("callback_base_url:", |c| {
                c.callback_base_url = "127.0.0.1:8080".into()
            }),
            ("callback_base_url:", |c| {
                c.callback_base_url = "http://h/a%20b".into()
            }),
            ("webhook_secret:", |c| {
                c.webhook_secret = SecretString::from("short")
            }),
            ("webhook_secret:", |c| {
                c.webhook_secret = SecretString::from("0123456789abcdef&x=1")
            }),
            ("message_id_json_pointer:", |c| {
                c.message_id_json_pointer = Some("id".into())
            }),
        ];
        for (key, mutate) in cases {
            let mut c = config("http://x/send?to={to}");
            mutate(&mut c);
            let err = HttpGateway::new(c).unwrap_err();
            assert!(err.starts_with(key), "expected {key} in {err}");
            assert!(!err.contains(SECRET));
        }
    }

    #[test]
    fn values_are_url_encoded_and_braces_escaped() {
        let gw = HttpGateway::new(config(
            "http://x/s?to={to}&e={to_e164}&from={from}&text={text}&ref={reference}&c={coding}&dlr={dlr_url}&lit={{x}}",
        ))
        .unwrap();
        let (url, body) = gw.render(&sms("Vol à l'étal: viens & +vite ê"));
        assert_eq!(body, None);
        assert_eq!(
            url,
            format!(
                "http://x/s?to=33612345678&e=%2B33612345678&from=%2B33700000000\
                 &text=Vol%20%C3%A0%20l%27%C3%A9tal%3A%20viens%20%26%20%2Bvite%20%C3%AA&ref=42&c=2\
                 &dlr=http%3A%2F%2F127.0.0.1%3A8080%2Fv1%2Fgateways%2Fkannel%2Freceipt%3Fsecret%3D{SECRET}%26ref%3D42%26status%3D%25d\
                 &lit={{x}}"
            )
        );
        let (url, _) = gw.render(&sms("é à è ù"));
        assert!(url.contains("&c=0&"), "GSM text is coding 0: {url}");
        assert_eq!(
            gw.dlr_url(7),
            format!(
                "http://127.0.0.1:8080/v1/gateways/kannel/receipt?secret={SECRET}&ref=7&status=%d"
            )
        );
    }

    #[test]
    fn json_bodies_are_json_escaped() {
        let mut c = config("http://x/send");
        c.method = HttpMethod::Post;
        c.content_type = "application/json".into();
        c.body = Some(r#"{{"to":"{to_e164}","text":"{text}"}}"#.into());
        let gw = HttpGateway::new(c).unwrap();
        let (_, body) = gw.render(&sms("dit \"stop\" & +"));
        let body = body.unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"to": "+33612345678", "text": "dit \"stop\" & +"})
        );
    }

    #[test]
    fn check_secret_accepts_only_the_secret() {
        let gw = HttpGateway::new(config("http://x/{to}")).unwrap();
        assert!(gw.check_secret(SECRET));
        assert!(!gw.check_secret(""));
        assert!(!gw.check_secret(&SECRET[..SECRET.len() - 1]));
        assert!(!gw.check_secret(&format!("{SECRET}x")));
        assert!(!format!("{gw:?}").contains(SECRET));
    }

    #[test]
    fn receipts_map_kannel_statuses() {
        let r = parse_receipt("k", &query(&[("ref", "42"), ("status", "1")])).unwrap();
        assert_eq!(
            r,
            Inbound::Receipt {
                gateway: "k".into(),
                reference: ReceiptRef::Notification(42),
                delivered: true,
                detail: "delivered (1)".into()
            }
        );
        for status in ["2", "16"] {
            match parse_receipt("k", &query(&[("ref", "42"), ("status", status)])).unwrap() {
                Inbound::Receipt { delivered, .. } => assert!(!delivered),
                other => panic!("{other:?}"),
            }
        }
        for status in [4, 8] {
            assert_eq!(
                parse_receipt(
                    "k",
                    &query(&[("ref", "42"), ("status", &status.to_string())])
                ),
                Err(CallbackError::Interim(status))
            );
        }
    }

    #[test]
    fn receipt_errors_are_specific() {
        assert_eq!(
            parse_receipt("k", &query(&[("status", "1")])),
            Err(CallbackError::MissingParameter("ref"))
        );
        assert_eq!(
            parse_receipt("k", &query(&[("ref", "1")])),
            Err(CallbackError::MissingParameter("status"))
        );
        assert_eq!(
            parse_receipt("k", &query(&[("ref", "abc"), ("status", "1")])),
            Err(CallbackError::BadReference("abc".into()))
        );
        // A provider that does not fill Kannel's %d sends it back literally.
        assert_eq!(
            parse_receipt("k", &query(&[("ref", "1"), ("status", "%d")])),
            Err(CallbackError::BadStatus("%d".into()))
        );
        assert_eq!(
            parse_receipt("k", &query(&[("ref", "1"), ("status", "3")])),
            Err(CallbackError::BadStatus("3".into()))
        );
        let long = "9".repeat(REFERENCE_CHARS_MAX + 1);
        assert_eq!(
            parse_receipt("k", &query(&[("ref", &long), ("status", "1")])),
            Err(CallbackError::TooLong {
                parameter: "ref",
                chars_max: REFERENCE_CHARS_MAX
            })
        );
    }

    #[test]
    fn replies_normalise_the_sender() {
        for from in ["33612345678", "+33612345678", "0612345678"] {
            assert_eq!(
                parse_reply("k", &query(&[("from", from), ("text", "1 K7P")])).unwrap(),
                Inbound::Reply {
                    gateway: "k".into(),
                    from: "+33612345678".into(),
                    text: "1 K7P".into()
                }
            );
        }
        assert_eq!(
            parse_reply("k", &query(&[("text", "1")])),
            Err(CallbackError::MissingParameter("from"))
        );
        assert_eq!(
            parse_reply("k", &query(&[("from", "33612345678")])),
            Err(CallbackError::MissingParameter("text"))
        );
        assert_eq!(
            parse_reply("k", &query(&[("from", "VIGIE"), ("text", "1")])),
            Err(CallbackError::BadSender("VIGIE".into()))
        );
        let long = "x".repeat(REPLY_TEXT_CHARS_MAX + 1);
        assert_eq!(
            parse_reply("k", &query(&[("from", "33612345678"), ("text", &long)])),
            Err(CallbackError::TooLong {
                parameter: "text",
                chars_max: REPLY_TEXT_CHARS_MAX
            })
        );
    }

    /// A provider that answers every request with `status` and `body`.
    async fn provider(status: u16, body: &'static str) -> String {
        use axum::http::StatusCode;
        let app = axum::Router::new().fallback(move || async move {
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
                body,
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/send?to={{to}}&text={{text}}")
    }

    #[tokio::test]
    async fn submit_maps_http_statuses() {
        let cases: [(u16, &str, Result<Submitted, GatewayError>); 5] = [
            (
                202,
                "0: Accepted for delivery",
                Ok(Submitted { message_id: None }),
            ),
            (429, "slow down", Err(GatewayError::Throttled)),
            (
                500,
                "oops",
                Err(GatewayError::Transient(
                    "HTTP 500 Internal Server Error: oops".into(),
                )),
            ),
            (
                503,
                "busy",
                Err(GatewayError::Transient(
                    "HTTP 503 Service Unavailable: busy".into(),
                )),
            ),
            (
                403,
                "Authorization failed for sendsms",
                Err(GatewayError::Rejected(
                    "HTTP 403 Forbidden: Authorization failed for sendsms".into(),
                )),
            ),
        ];
        for (status, body, expected) in cases {
            let mut c = config(&provider(status, body).await);
            c.accepted_body_contains = Some("Accepted for delivery".into());
            let gw = HttpGateway::new(c).unwrap();
            assert_eq!(gw.submit(&sms("x")).await, expected, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn rejection_body_is_truncated() {
        static LONG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| "é".repeat(500));
        let gw = HttpGateway::new(config(&provider(400, LONG.as_str()).await)).unwrap();
        match gw.submit(&sms("x")).await {
            Err(GatewayError::Rejected(msg)) => {
                assert!(msg.starts_with("HTTP 400 Bad Request: "), "{msg}");
                assert_eq!(
                    msg.trim_start_matches("HTTP 400 Bad Request: ")
                        .chars()
                        .count(),
                    ERROR_BODY_CHARS_MAX
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn accepted_needs_the_substring_and_finds_the_message_id() {
        let mut c = config(&provider(200, r#"{"status":"error"}"#).await);
        c.accepted_body_contains = Some("\"ok\"".into());
        let gw = HttpGateway::new(c).unwrap();
        assert!(
            matches!(gw.submit(&sms("x")).await, Err(GatewayError::Rejected(m)) if m.contains("error"))
        );

        let mut c = config(&provider(200, r#"{"status":"ok","messages":[{"id":"abc-1"}]}"#).await);
        c.accepted_body_contains = Some("\"ok\"".into());
        c.message_id_json_pointer = Some("/messages/0/id".into());
        let gw = HttpGateway::new(c).unwrap();
        assert_eq!(
            gw.submit(&sms("x")).await,
            Ok(Submitted {
                message_id: Some("abc-1".into())
            })
        );
    }

    #[tokio::test]
    async fn unreachable_and_slow_providers_are_transient() {
        // A port that was free a moment ago: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gw =
            HttpGateway::new(config(&format!("http://127.0.0.1:{port}/send?to={{to}}"))).unwrap();
        match gw.submit(&sms("x")).await {
            Err(GatewayError::Transient(m)) => {
                assert!(m.starts_with("connection failed"), "{m}");
                assert!(!m.contains("33612345678"), "the URL must not leak: {m}");
            }
            other => panic!("{other:?}"),
        }
        // A provider that accepts the connection and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let mut c = config(&format!("http://{addr}/send?to={{to}}"));
        c.timeout_ms = TIMEOUT_MS_MIN;
        let gw = HttpGateway::new(c).unwrap();
        assert!(
            matches!(gw.submit(&sms("x")).await, Err(GatewayError::Transient(m)) if m.starts_with("timeout"))
        );
    }
}
