//! The device API: enrolment, then signed requests (RFC 9421).

use super::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::de::DeserializeOwned;
use uuid::Uuid;
use vigie_proto::signature::{self, SignatureError};
use vigie_proto::{
    AlarmReceipt, CancelAlarm, DirectContact, EnrollRequest, EnrollResponse, RaiseAlarm,
    ShopSummary,
};

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge {
            max: vigie_proto::REQUEST_BODY_BYTES_MAX,
        },
        other => ApiError::bad("unreadable_body", other.to_string()),
    })
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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

/// Check a device request's signature; returns the device id.
async fn authenticate(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ApiError> {
    let input = header(headers, "signature-input")?;
    let sig = header(headers, "signature")?;
    let digest = header(headers, "content-digest")?;
    let params = signature::parse_signature_input(input)
        .map_err(|e| ApiError::unauthorized("bad_signature_input", e.to_string()))?;
    let now_s = st.clock.now().as_ms() / 1_000;
    let skew = now_s - params.created_s;
    if skew.abs() > st.settings.signature_skew_s {
        return Err(ApiError::unauthorized(
            "stale_signature",
            format!(
                "signature created {skew} s from the hub's clock (accepted: ±{} s); hub time is {now_s}: check the box's clock",
                st.settings.signature_skew_s
            ),
        ));
    }
    let (public_key, _shop, state) =
        st.store.device_key(&params.key_id).await?.ok_or_else(|| {
            ApiError::unauthorized(
                "unknown_device",
                "unknown device: enrol it with a one-time code first",
            )
        })?;
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
    if !fresh {
        return Err(ApiError::unauthorized(
            "replayed_request",
            "this signature nonce was already used",
        ));
    }
    Ok(params.key_id)
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
    let contacts = st.store.contacts(Some(shop.id)).await?;
    let direct_contacts = contacts
        .into_iter()
        .filter(|c| c.consent == crate::store::Consent::Yes)
        .map(|c| DirectContact {
            name: c.name,
            phone: c.phone.as_e164().to_string(),
            tier: c.tier,
        })
        .collect();
    tracing::info!(device = %device.id, shop = shop.id, "device enrolled");
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            device_id: device.id,
            shop: ShopSummary {
                name: shop.name,
                address: shop.address,
                commune: shop.commune,
            },
            settings: st.settings.settings.clone(),
            direct_contacts,
        }),
    ))
}

pub(super) async fn raise(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AlarmReceipt>), ApiError> {
    let body = body_bytes(body)?;
    let device = authenticate(&st, &method, &uri, &headers, &body).await?;
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
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlarmReceipt>, ApiError> {
    let body = body_bytes(body)?;
    let device = authenticate(&st, &method, &uri, &headers, &body).await?;
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
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body_bytes(body)?;
    let device = authenticate(&st, &method, &uri, &headers, &body).await?;
    let id = alarm_id(&id)?;
    let _req: vigie_proto::RequestRecording = parse_json(&body)?;
    st.store
        .request_recording(&device, id, st.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
