//! `POST /v1/recordings/{id}/chunks`: a sealed chunk from the box. Checked
//! (device signature on the request and on the record, the record names
//! this recording and this device, the audio matches its hash), its audio
//! encrypted into blob storage, then its record appended to the log.

use super::device::{Signed, parse_json};
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use uuid::Uuid;
use vigie_proto::{ChunkReceipt, UploadChunk};

pub(super) async fn upload_chunk(
    State(st): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<(StatusCode, Json<ChunkReceipt>), ApiError> {
    let Signed { device, body, .. } = signed;
    let recording = Uuid::parse_str(&id)
        .map_err(|_| ApiError::bad("bad_recording_id", "recording id must be a UUID"))?;
    let up: UploadChunk = parse_json(&body)?;
    let audio = base64::engine::general_purpose::STANDARD
        .decode(up.audio.as_bytes())
        .map_err(|_| ApiError::bad("bad_audio", "audio must be base64"))?;
    let signed = vigie_evidence::record::parse(up.record.as_bytes())
        .map_err(|e| ApiError::bad("bad_record", e.to_string()))?;
    let r = &signed.record;
    if r.recording != recording.to_string() || r.device != device {
        return Err(ApiError::bad(
            "record_mismatch",
            "the record names another recording or device",
        ));
    }
    let key = st.store.device_public_key(&device).await?;
    let vk = vigie_proto::signature::parse_public_key(&key)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored key: {e}")))?;
    if !vigie_evidence::record::verify(&signed, &vk) {
        return Err(ApiError::unauthorized(
            "bad_record_signature",
            "the record is not signed by this device",
        ));
    }
    if vigie_evidence::text::sha256(&audio) != r.audio_sha256 || audio.len() as u64 != r.audio_bytes
    {
        return Err(ApiError::bad(
            "audio_mismatch",
            "the audio does not match its record's hash or size",
        ));
    }
    let alarm = Uuid::parse_str(&r.alarm)
        .map_err(|_| ApiError::bad("bad_record", "alarm is not a UUID"))?;
    let vault = st
        .vault
        .clone()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no vault configured")))?;
    let now = st.clock.now();
    let wrapped = st
        .store
        .recording_key(
            &device,
            recording,
            alarm,
            vault.keys.wrap(&rand::random()),
            vault.retention_days,
            now,
        )
        .await?;
    let key = vault
        .keys
        .unwrap(&wrapped)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e)))?;
    let seq = r.seq;
    vault
        .blobs
        .put(recording, seq, &key, &audio)
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e)))?;
    let appended = st.store.append_chunk(recording, signed, now).await?;
    let status = if appended.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(ChunkReceipt {
            recording_id: recording,
            seq,
            log_index: appended.log_index,
            duplicate: appended.duplicate,
        }),
    ))
}
