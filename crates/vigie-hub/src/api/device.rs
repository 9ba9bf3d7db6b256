//! The device API: enrolment, then signed requests (RFC 9421): alarms,
//! heartbeats, the box's configuration and the SMS it sent itself.

use super::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::de::DeserializeOwned;
use uuid::Uuid;
use vigie_proto::refusal::{HUB_TIME_HEADER, code};
use vigie_proto::signature::{self, SignatureError};
use vigie_proto::{
    AlarmReceipt, CancelAlarm, DeviceConfig, DeviceSettings, DirectContact, DirectReport,
    EnrollRequest, EnrollResponse, Heartbeat, HeartbeatAck, RaiseAlarm, ShopSummary,
};

/// A box's version string longer than this is not a version.
const VERSION_CHARS_MAX: usize = 64;
/// `AT+CSQ` signal: 0 to 31, or 99 for "not known".
const SIGNAL_CSQ_MAX: u8 = 31;
const SIGNAL_CSQ_UNKNOWN: u8 = 99;
const BATTERY_PCT_MAX: u8 = 100;
/// Hex characters of a configuration version (64 bits of SHA-256: a change
/// is never mistaken for no change in practice).
const CONFIG_VERSION_HEX_CHARS: usize = 16;

pub(super) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge {
            max: vigie_proto::REQUEST_BODY_BYTES_MAX,
        },
        other => ApiError::bad("unreadable_body", other.to_string()),
    })
}

pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            "malformed_body",
            format!("corps JSON invalide / malformed JSON body: {e}"),
        )
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unsigned_request",
                format!("missing header {name}: device requests must be signed"),
            )
        })?
        .to_str()
        .map_err(|_| {
            ApiError::unauthorized("bad_signature_input", format!("header {name} is not ASCII"))
        })
}

/// A device request whose signature was checked: the device, its shop, and
/// the body it signed. Every signed route takes this extractor (last in its
/// arguments), so no route can forget to authenticate.
pub(super) struct Signed {
    pub device: String,
    pub shop_id: i64,
    pub body: Bytes,
    /// The signature's `created`, s.
    pub created_s: i64,
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, ApiError> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        let body = body_bytes(Bytes::from_request(req, st).await)?;
        let (device, shop_id, created_s) = authenticate(st, &method, &uri, &headers, &body).await?;
        Ok(Self {
            device,
            shop_id,
            body,
            created_s,
        })
    }
}

/// Check a device request's signature (any method; a GET signs its empty
/// body); returns the device id, its shop and the signature's `created`.
///
/// Replays: a nonce is refused twice while the hub runs (in memory); the
/// nonces of state-changing requests other than a raise (cancel, recording,
/// chunks, direct reports) are also kept in the database for an hour, so
/// a replay after a restart is refused too. A raise is idempotent on its
/// alarm id (a replay gets the stored receipt, nothing else happens), and
/// a heartbeat must not be signed before the box's last one (checked by the
/// heartbeat route against the mark kept with the box's health).
async fn authenticate(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, i64, i64), ApiError> {
    // The signature covers the path, not a query: none is accepted, so
    // nothing can be added to a request after it was signed.
    if uri.query().is_some() {
        return Err(ApiError::unauthorized(
            code::UNSIGNED_QUERY,
            "la signature ne couvre pas de paramètres d'adresse : n'en envoyez pas / \
             the signature covers no query string: send none",
        ));
    }
    let input = header(headers, "signature-input")?;
    let sig = header(headers, "signature")?;
    let digest = header(headers, "content-digest")?;
    let params = signature::parse_signature_input(input)
        .map_err(|e| ApiError::unauthorized("bad_signature_input", e.to_string()))?;
    let now_s = st.clock.now().as_ms() / 1_000;
    // How far the box's clock is from the hub's: positive when it is ahead.
    let box_ahead_s = params.created_s - now_s;
    if box_ahead_s.abs() > st.settings.signature_skew_s {
        let (fr, en) = if box_ahead_s > 0 {
            ("en avance", "ahead of")
        } else {
            ("en retard", "behind")
        };
        return Err(ApiError::unauthorized(
            code::STALE_SIGNATURE,
            format!(
                "horloge du boîtier {fr} de {} s sur celle du hub (toléré : ±{} s) ; heure du hub : {now_s} (en-tête {HUB_TIME_HEADER}) /                  the box's clock is {} s {en} the hub's (accepted: ±{} s); hub time is {now_s} (header {HUB_TIME_HEADER}): sign with it",
                box_ahead_s.abs(),
                st.settings.signature_skew_s,
                box_ahead_s.abs(),
                st.settings.signature_skew_s
            ),
        ));
    }
    let (public_key, shop_id, state) = match st.device_keys.get(&params.key_id) {
        Some(k) => k,
        None => {
            let k = st.store.device_key(&params.key_id).await?.ok_or_else(|| {
                ApiError::unauthorized(
                    "unknown_device",
                    "unknown device: enrol it with a one-time code first",
                )
            })?;
            st.device_keys.put(&params.key_id, k.clone());
            k
        }
    };
    if state == "returned" {
        return Err(ApiError::unauthorized(
            "device_retired",
            "this device was returned and may not raise alarms",
        ));
    }
    let key = signature::parse_public_key(&public_key)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored key unreadable: {e}")))?;
    signature::verify(
        &params,
        &key,
        method.as_str(),
        uri.path(),
        body,
        digest,
        sig,
    )
    .map_err(|e| match e {
        SignatureError::DigestMismatch => ApiError::bad("digest_mismatch", e.to_string()),
        other => ApiError::unauthorized("bad_signature", other.to_string()),
    })?;
    // Only a verified request may take a nonce, so forgeries cannot fill the cache.
    let fresh = st
        .nonces
        .lock()
        .map(|mut n| n.insert(&params.key_id, &params.nonce))
        .unwrap_or(false);
    let replayed = || {
        ApiError::unauthorized(
            code::REPLAYED_REQUEST,
            "this signature nonce was already used",
        )
    };
    if !fresh {
        return Err(replayed());
    }
    let kept = *method == Method::POST && !matches!(uri.path(), "/v1/alarms" | "/v1/heartbeat");
    if kept
        && !st
            .store
            .remember_nonce(&params.key_id, &params.nonce, params.created_s)
            .await?
    {
        return Err(replayed());
    }
    Ok((params.key_id, shop_id, params.created_s))
}

/// Changes whenever anything in the box's configuration changes.
fn config_version(
    settings: &DeviceSettings,
    shop: &ShopSummary,
    contacts: &[DirectContact],
) -> String {
    use sha2::{Digest as _, Sha256};
    // Derived serialisation writes fields in a fixed order: same content, same bytes.
    let bytes = serde_json::to_vec(&(settings, shop, contacts)).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .take(CONFIG_VERSION_HEX_CHARS / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The configuration of the boxes of `shop_id`; remembers its version.
async fn device_config(st: &AppState, shop_id: i64) -> Result<DeviceConfig, ApiError> {
    // Read the generation first: a change after it makes the cached version stale, never wrong.
    let generation = st.store.config_generation(shop_id);
    let (shop, direct_contacts) = st.store.direct_contacts(shop_id).await?;
    let settings = st.settings.settings.clone();
    let version = config_version(&settings, &shop, &direct_contacts);
    if let Ok(mut cache) = st.config_versions.lock() {
        if cache.len() >= super::CONFIG_VERSIONS_CACHED_MAX && !cache.contains_key(&shop_id) {
            cache.clear();
        }
        cache.insert(
            shop_id,
            super::CachedVersion {
                version: version.clone(),
                generation,
                at: st.clock.now(),
            },
        );
    }
    Ok(DeviceConfig {
        config_version: version,
        shop,
        settings,
        direct_contacts,
    })
}

/// The configuration version for a heartbeat's answer: from the cache
/// unless a contact of the shop changed (or the entry is old).
async fn current_config_version(st: &AppState, shop_id: i64) -> Result<String, ApiError> {
    let generation = st.store.config_generation(shop_id);
    let now = st.clock.now();
    let cached = st.config_versions.lock().ok().and_then(|cache| {
        cache
            .get(&shop_id)
            .filter(|c| {
                let age = now.ms_since(c.at);
                c.generation == generation && (0..super::CONFIG_VERSION_TTL_MS).contains(&age)
            })
            .map(|c| c.version.clone())
    });
    match cached {
        Some(v) => Ok(v),
        None => Ok(device_config(st, shop_id).await?.config_version),
    }
}

fn check_heartbeat(hb: &Heartbeat) -> Result<(), ApiError> {
    if hb.version.chars().count() > VERSION_CHARS_MAX {
        return Err(ApiError::bad(
            "bad_heartbeat",
            format!("version longer than {VERSION_CHARS_MAX} characters"),
        ));
    }
    if hb.battery_pct.is_some_and(|p| p > BATTERY_PCT_MAX) {
        return Err(ApiError::bad(
            "bad_heartbeat",
            "battery_pct is a percentage (0 to 100)",
        ));
    }
    if hb
        .signal_csq
        .is_some_and(|q| q > SIGNAL_CSQ_MAX && q != SIGNAL_CSQ_UNKNOWN)
    {
        return Err(ApiError::bad(
            "bad_heartbeat",
            "signal_csq is 0 to 31, or 99 when unknown (AT+CSQ)",
        ));
    }
    Ok(())
}

/// `POST /v1/heartbeat`: kept in memory (written in batches by the
/// engine), answered with the configuration version and the hub's time.
pub(super) async fn heartbeat(
    State(st): State<AppState>,
    signed: Signed,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let Signed {
        device,
        shop_id,
        body,
        created_s,
    } = signed;
    let hb: Heartbeat = parse_json(&body)?;
    check_heartbeat(&hb)?;
    // Signed before the box's last heartbeat: a replay (perhaps of a box
    // torn off, to make it look alive), even across a restart.
    if !st.store.heartbeat_is_fresh(&device, created_s).await? {
        return Err(ApiError::unauthorized(
            code::REPLAYED_REQUEST,
            "heartbeat signed before the box's last one: a replay",
        ));
    }
    let now = st.clock.now();
    st.store.record_heartbeat(&device, hb, created_s, now)?;
    Ok(Json(HeartbeatAck {
        config_version: current_config_version(&st, shop_id).await?,
        server_time_ms: now.as_ms(),
    }))
}

/// `GET /v1/device/config`: settings and the contacts the box may alert itself.
pub(super) async fn config(
    State(st): State<AppState>,
    signed: Signed,
) -> Result<Json<DeviceConfig>, ApiError> {
    let Signed { shop_id, .. } = signed;
    Ok(Json(device_config(&st, shop_id).await?))
}

/// `POST /v1/alarms/{id}/direct`: the SMS the box sent itself for an alarm.
pub(super) async fn direct(
    State(st): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<StatusCode, ApiError> {
    let Signed { device, body, .. } = signed;
    let id = alarm_id(&id)?;
    let report: DirectReport = parse_json(&body)?;
    let max = crate::store::DIRECT_SMS_PER_REPORT_MAX;
    if report.direct_sms.len() > max {
        return Err(ApiError::bad(
            "too_many_direct_sms",
            format!("a report names at most {max} SMS"),
        ));
    }
    st.store
        .report_direct(&device, id, report.direct_sms, st.clock.now())
        .await?;
    tracing::info!(alarm = %id, device = %device, "direct SMS reported");
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn enroll(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let body = body_bytes(body)?;
    let req: EnrollRequest = parse_json(&body)?;
    signature::parse_public_key(&req.public_key).map_err(|_| {
        ApiError::bad(
            "bad_public_key",
            "public_key must be a base64 SEC1 P-256 point",
        )
    })?;
    if req.version.len() > 64 {
        return Err(ApiError::bad(
            "bad_version",
            "version longer than 64 characters",
        ));
    }
    let (device, shop) = st
        .store
        .enroll(&req.code, &req.public_key, &req.version, st.clock.now())
        .await?;
    let config = device_config(&st, shop.id).await?;
    tracing::info!(device = %device.id, shop = shop.id, "device enrolled");
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            device_id: device.id,
            shop: config.shop,
            settings: config.settings,
            direct_contacts: config.direct_contacts,
        }),
    ))
}

pub(super) async fn raise(
    State(st): State<AppState>,
    signed: Signed,
) -> Result<(StatusCode, Json<AlarmReceipt>), ApiError> {
    let Signed { device, body, .. } = signed;
    let req: RaiseAlarm = parse_json(&body)?;
    let receipt = st.store.raise_alarm(&device, req, st.clock.now()).await?;
    st.engine.wake_dispatch();
    if !receipt.duplicate {
        tracing::info!(alarm = %receipt.alarm_id, device = %device, late_by_ms = ?receipt.late_by_ms, "alarm raised");
    }
    let status = if receipt.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(receipt)))
}

fn alarm_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad("bad_alarm_id", "alarm id must be a UUID"))
}

pub(super) async fn cancel(
    State(st): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Json<AlarmReceipt>, ApiError> {
    let Signed { device, body, .. } = signed;
    let id = alarm_id(&id)?;
    let req: CancelAlarm = parse_json(&body)?;
    let receipt = st
        .store
        .cancel_alarm(&device, id, req, st.clock.now())
        .await?;
    st.engine.wake();
    Ok(Json(receipt))
}

pub(super) async fn recording(
    State(st): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<StatusCode, ApiError> {
    let Signed { device, body, .. } = signed;
    let id = alarm_id(&id)?;
    let _req: vigie_proto::RequestRecording = parse_json(&body)?;
    st.store
        .request_recording(&device, id, st.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
