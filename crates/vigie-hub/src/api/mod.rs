//! The hub's HTTP surface: the device API (`/v1/…`, signed), the contacts'
//! answer and consent pages (`/r/…`, `/c/…`, the token is the credential),
//! and gateway callbacks (`/v1/gateways/…`, shared secret).
//!
//! Handlers parse, persist through the store and wake the engine; they never
//! call a gateway.

mod answer;
mod device;
mod error;
mod recording;
mod webhook;

pub use answer::ANSWER_LINK_AFTER_CLOSE_MS;
pub use error::ApiError;

use crate::clock::SharedClock;
use crate::engine::Engine;
use crate::gateway::http::HttpGateway;
use crate::store::Store;
use axum::Router;
use axum::routing::{get, post};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Nonces remembered to refuse replays; older ones fall out, and their
/// `created` time is then outside the accepted skew anyway.
const NONCES_REMEMBERED_MAX: usize = 200_000;
/// Shops whose configuration version is cached (the largest fleet, twice);
/// past this the cache starts over.
const CONFIG_VERSIONS_CACHED_MAX: usize = 200_000;
/// A cached configuration version is recomputed after this long even if
/// this hub saw no change: another hub sharing the database may have made one.
const CONFIG_VERSION_TTL_MS: i64 = 10 * 60_000;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: SharedClock,
    pub engine: Engine,
    pub settings: Arc<DeviceSettingsConfig>,
    pub http_gateways: Arc<HashMap<String, Arc<HttpGateway>>>,
    /// The evidence vault (recordings' audio, log, trusted time).
    pub vault: Option<Arc<crate::vault::Vault>>,
    /// Every SMS gateway, for the readiness check.
    pub gateways: Vec<Arc<dyn crate::gateway::Gateway>>,
    /// Devices' public keys, read once a minute at most (heartbeats come
    /// from every box every minute).
    device_keys: Arc<DeviceKeyCache>,
    nonces: Arc<Mutex<NonceCache>>,
    config_versions: Arc<Mutex<HashMap<i64, CachedVersion>>>,
}

/// A shop's configuration version, with what it was computed from.
#[derive(Debug, Clone)]
struct CachedVersion {
    version: String,
    generation: (u64, u64),
    at: vigie_core::Timestamp,
}

/// What the hub tells boxes, and how it judges their signatures.
#[derive(Debug, Clone)]
pub struct DeviceSettingsConfig {
    pub signature_skew_s: i64,
    pub settings: vigie_proto::DeviceSettings,
}

impl AppState {
    pub fn new(
        store: Store,
        clock: SharedClock,
        engine: Engine,
        settings: DeviceSettingsConfig,
        http_gateways: HashMap<String, Arc<HttpGateway>>,
    ) -> Self {
        Self {
            store,
            clock,
            engine,
            settings: Arc::new(settings),
            http_gateways: Arc::new(http_gateways),
            vault: None,
            gateways: Vec::new(),
            device_keys: Arc::default(),
            nonces: Arc::new(Mutex::new(NonceCache::default())),
            config_versions: Arc::default(),
        }
    }
}

/// How long a device's key and state are trusted from memory: a device
/// retired (by the admin CLI, another process) is refused within this time.
const DEVICE_KEY_CACHE_MS: u64 = 60_000;
/// Devices remembered at most (a Region has a few thousand; the benchmark 100,000).
const DEVICE_KEYS_CACHED_MAX: usize = 200_000;

type DeviceKeyEntry = (String, i64, String);

#[derive(Default)]
struct DeviceKeyCache {
    keys: Mutex<HashMap<String, (DeviceKeyEntry, std::time::Instant)>>,
}

impl DeviceKeyCache {
    fn get(&self, device: &str) -> Option<DeviceKeyEntry> {
        let keys = self.keys.lock().ok()?;
        let (entry, at) = keys.get(device)?;
        (at.elapsed().as_millis() < u128::from(DEVICE_KEY_CACHE_MS)).then(|| entry.clone())
    }
    fn put(&self, device: &str, entry: DeviceKeyEntry) {
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= DEVICE_KEYS_CACHED_MAX {
                keys.clear();
            }
            keys.insert(device.to_string(), (entry, std::time::Instant::now()));
        }
    }
}

#[derive(Default)]
struct NonceCache {
    /// A keyed 64-bit hash of (device, nonce): 8 bytes an entry instead of
    /// two strings, so 200,000 remembered nonces cost a few MB. The key is
    /// random per process, so nobody can aim for a collision; an accidental
    /// one would refuse one request as a replay, which the box retries.
    hasher: std::collections::hash_map::RandomState,
    seen: std::collections::HashSet<u64>,
    order: VecDeque<u64>,
}

impl NonceCache {
    /// False if this (device, nonce) was seen before.
    fn insert(&mut self, device: &str, nonce: &str) -> bool {
        use std::hash::BuildHasher as _;
        let key = self.hasher.hash_one((device, nonce));
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() >= NONCES_REMEMBERED_MAX
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(key);
        self.order.push_back(key);
        true
    }
}

pub fn router(state: AppState) -> Router {
    // Chunks of audio are larger than every other request: their own limit.
    let uploads = Router::new()
        .route("/v1/recordings/{id}/chunks", post(recording::upload_chunk))
        .layer(axum::extract::DefaultBodyLimit::max(
            vigie_proto::CHUNK_UPLOAD_BYTES_MAX,
        ));
    Router::new()
        .merge(uploads)
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/openapi.json", get(openapi))
        .route("/readyz", get(readyz))
        .route("/v1/enroll", post(device::enroll))
        .route("/v1/alarms", post(device::raise))
        .route("/v1/alarms/{id}/cancel", post(device::cancel))
        .route("/v1/alarms/{id}/recording", post(device::recording))
        .route("/v1/alarms/{id}/direct", post(device::direct))
        .route("/v1/heartbeat", post(device::heartbeat))
        .route("/v1/device/config", get(device::config))
        .route("/r/{token}", get(answer::page).post(answer::submit))
        .route(
            "/c/{token}",
            get(answer::consent_page).post(answer::consent_submit),
        )
        .route(
            "/v1/gateways/{name}/receipt",
            get(webhook::receipt).post(webhook::receipt),
        )
        .route(
            "/v1/gateways/{name}/reply",
            get(webhook::reply).post(webhook::reply),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            vigie_proto::REQUEST_BODY_BYTES_MAX,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge_of_the_api,
        ))
        .with_state(state)
}

/// `GET /readyz`: whether this hub can do its work, for a load balancer
/// and an operator: the database takes writes, and at least one SMS
/// gateway is bound. 200 when ready, 503 with what is wrong otherwise.
async fn readyz(
    axum::extract::State(st): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let store = st.store.can_write();
    let gateways: Vec<serde_json::Value> = st
        .gateways
        .iter()
        .map(|g| serde_json::json!({ "name": g.name(), "ready": g.is_ready() }))
        .collect();
    let gateway_ready = st.gateways.iter().any(|g| g.is_ready());
    let ready = store && gateway_ready;
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({
            "ready": ready,
            "store": if store { "ok" } else { "cannot_write" },
            "gateways": gateways,
        })),
    )
        .into_response()
}

/// The OpenAPI document of the device API and the contacts' pages
/// (`api/openapi.json`; `tests/it/openapi.rs` keeps it true).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}

/// Every answer of the API says the hub's time, refusals included: a box
/// whose clock is off (no network time at boot) corrects its signatures
/// with it. And every refusal of `/v1` is JSON with a stable code, the
/// framework's own too (an unknown path, a wrong method, a bad path
/// parameter), so that a client never has to read plain text.
async fn edge_of_the_api(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let api = req.uri().path().starts_with("/v1/");
    let mut resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if api && resp.status().is_client_error() && !is_json {
        resp = framework_refusal(resp).await;
    }
    let now = st.clock.now().as_ms();
    if let Ok(v) = axum::http::HeaderValue::from_str(&now.to_string()) {
        resp.headers_mut()
            .insert(vigie_proto::refusal::HUB_TIME_HEADER, v);
    }
    resp
}

/// Largest framework message kept in a JSON refusal.
const FRAMEWORK_MESSAGE_BYTES_MAX: usize = 512;

/// The framework's own refusal (plain text or empty) as the API's JSON.
async fn framework_refusal(resp: axum::response::Response) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    let status = resp.status();
    let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(resp.into_body(), FRAMEWORK_MESSAGE_BYTES_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, fr, en) = match status {
        StatusCode::NOT_FOUND => ("not_found", "adresse inconnue", "no such path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "méthode non acceptée à cette adresse",
            "method not allowed on this path",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "type de contenu non accepté",
            "content type not accepted",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "corps de requête trop grand",
            "request body too large",
        ),
        _ => (
            "bad_request",
            "requête non comprise",
            "request not understood",
        ),
    };
    let message = if text.is_empty() {
        format!("{fr} / {en}")
    } else {
        format!("{fr} / {en}: {text}")
    };
    let mut out = (
        status,
        axum::Json(vigie_proto::ErrorBody {
            code: code.to_string(),
            message,
        }),
    )
        .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}
