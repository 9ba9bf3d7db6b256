//! The signed link to the hub: every request after enrolment carries an
//! RFC 9421 signature by the device's key (see `vigie_proto::signature`).
//!
//! Errors are split the way the box must act on them: `Refused` (the hub
//! answered and said no: what to do is in `vigie_proto::refusal`'s table)
//! and `Unreachable` (no answer, a 5xx, a timeout or nonsense: try again
//! later, and meanwhile act alone).
//!
//! **The box's clock.** A Raspberry Pi has no battery-backed clock, and a
//! boot without network time is common: its clock may be days off. Every
//! answer of the hub carries the hub's time (`vigie-hub-time-ms`); the
//! client keeps the difference (`clock_offset_ms`, hub − box) once it is
//! larger than ordinary latency, signs with the corrected time, and when a
//! request is refused as `stale_signature` signs it again with the hub's
//! time at once. Bodies keep the box's own times (presses, chunks): the
//! hub judges them against each other, and evidence keeps the raw time
//! beside the correction the box reports.

use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;
use vigie_proto::refusal::{self, BoxAction, HUB_TIME_HEADER};
use vigie_proto::signature::{DeviceKey, new_nonce};
use vigie_proto::{
    AlarmReceipt, CancelAlarm, ChunkReceipt, DeviceConfig, DirectReport, DirectSms, EnrollRequest,
    EnrollResponse, ErrorBody, Heartbeat, HeartbeatAck, RaiseAlarm, RequestRecording, UploadChunk,
};

/// A request that takes longer than this is treated as unanswered.
pub const REQUEST_TIMEOUT_MS: u64 = 4_000;
/// Bodies from the hub larger than this are nonsense, not answers.
const RESPONSE_BYTES_MAX: usize = 256 * 1024;
/// The box corrects its clock when the hub's time differs from it by more
/// than this: beyond network latency, well within the signature window.
pub const CLOCK_OFFSET_MS_MIN: i64 = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The hub answered and refused: retrying the same request will not help.
    #[error("refused by the hub ({code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// No usable answer: try again later.
    #[error("hub unreachable: {0}")]
    Unreachable(String),
}

impl UplinkError {
    pub fn is_refusal(&self) -> bool {
        matches!(self, UplinkError::Refused { .. })
    }

    /// What the box does with the item: the shared table's word for a
    /// refusal; an unreachable hub means trying again later.
    pub fn box_action(&self) -> BoxAction {
        match self {
            UplinkError::Refused { code, .. } => refusal::box_action(code),
            UplinkError::Unreachable(_) => BoxAction::KeepAndRetry,
        }
    }
}

/// A device's signed client.
pub struct HubClient {
    hub: String,
    device_id: String,
    key: DeviceKey,
    http: reqwest::Client,
    /// Hub time − box time, as last learned from the hub's answers.
    clock_offset_ms: Arc<AtomicI64>,
}

/// The TLS settings of every hub client in this process, made once and
/// cloned into each (the roots are shared, not copied). Left to reqwest,
/// each client reads and parses the system's certificate folder itself
/// (its native-roots feature is switched on for the whole tree by the hub's
/// object storage): milliseconds of CPU, a few hundred file opens and tens
/// of KB of heap per client, paid thousands of times by a process that
/// drives many boxes (the storm bench enrols one per shop) and a heap that
/// then slows every allocation of the run. The roots are the ones reqwest
/// would load (its built-in webpki roots and the system's); the box speaks
/// HTTP/1.1 to the hub, as before that feature brought HTTP/2 in.
fn tls_config() -> rustls::ClientConfig {
    static TLS: OnceLock<rustls::ClientConfig> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        let (_, unparsable) = roots.add_parsable_certificates(native.certs);
        if unparsable > 0 || !native.errors.is_empty() {
            tracing::debug!(
                unparsable,
                errors = native.errors.len(),
                "some of the system's root certificates were skipped"
            );
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .expect("ring supports every TLS version rustls does")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls
    })
    .clone()
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_config())
        .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
        .connect_timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
        .build()
        .unwrap_or_default()
}

impl HubClient {
    pub fn new(hub: &str, device_id: &str, key: DeviceKey) -> Self {
        Self {
            hub: hub.trim_end_matches('/').to_string(),
            device_id: device_id.to_string(),
            key,
            http: http_client(),
            clock_offset_ms: Arc::default(),
        }
    }

    /// The correction the box applies to its clock when it signs (hub time
    /// − box time; 0 while the two agree).
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Learn the hub's time from an answer sent when the box's clock read
    /// `box_ms`. Returns whether the correction changed.
    fn learn_hub_time(&self, resp: &reqwest::Response, box_ms: i64) -> bool {
        let Some(hub_ms) = resp
            .headers()
            .get(HUB_TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
        else {
            return false;
        };
        let sample = hub_ms - box_ms;
        let current = self.clock_offset_ms();
        let new = if sample.abs() < CLOCK_OFFSET_MS_MIN {
            0
        } else {
            sample
        };
        if (new - current).abs() < CLOCK_OFFSET_MS_MIN {
            return false;
        }
        tracing::warn!(
            offset_ms = new,
            "the box's clock disagrees with the hub's: signing with the hub's time"
        );
        self.clock_offset_ms.store(new, Ordering::Relaxed);
        true
    }

    pub fn hub(&self) -> &str {
        &self.hub
    }
    pub fn device_id(&self) -> &str {
        &self.device_id
    }
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// Enrol with a one-time code: a new key is made and registered.
    pub async fn enroll(
        hub: &str,
        code: &str,
        version: &str,
    ) -> Result<(Self, EnrollResponse), UplinkError> {
        let hub = hub.trim_end_matches('/').to_string();
        let key = DeviceKey::generate();
        let req = EnrollRequest {
            code: code.to_string(),
            public_key: key.public_key_b64(),
            version: version.to_string(),
        };
        let http = http_client();
        let resp = http
            .post(format!("{hub}/v1/enroll"))
            .json(&req)
            .send()
            .await
            .map_err(|e| UplinkError::Unreachable(format!("cannot reach the hub at {hub}: {e}")))?;
        let enrolled: EnrollResponse = read_answer(resp).await?;
        let client = Self {
            hub,
            device_id: enrolled.device_id.clone(),
            key,
            http,
            clock_offset_ms: Arc::default(),
        };
        Ok((client, enrolled))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        now_ms: i64,
    ) -> Result<reqwest::Response, UplinkError> {
        let mut fixed_clock = false;
        loop {
            let signed_ms = now_ms + self.clock_offset_ms();
            let h = self.key.sign(
                &self.device_id,
                method.as_str(),
                path,
                &body,
                signed_ms / 1_000,
                &new_nonce(),
            );
            let resp = self
                .http
                .request(method.clone(), format!("{}{path}", self.hub))
                .header("content-type", "application/json")
                .header("content-digest", h.content_digest)
                .header("signature-input", h.signature_input)
                .header("signature", h.signature)
                .body(body.clone())
                .send()
                .await
                .map_err(|e| UplinkError::Unreachable(e.to_string()))?;
            let learned = self.learn_hub_time(&resp, now_ms);
            // Refused for the clock alone: once more, on the hub's time.
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && learned && !fixed_clock {
                fixed_clock = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// A signed POST of `body`, answer parsed as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        now_ms: i64,
    ) -> Result<T, UplinkError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| UplinkError::Unreachable(format!("cannot encode the request: {e}")))?;
        read_answer(self.send(reqwest::Method::POST, path, body, now_ms).await?).await
    }

    /// A signed POST whose answer has no body (204).
    pub async fn post_empty(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        now_ms: i64,
    ) -> Result<(), UplinkError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| UplinkError::Unreachable(format!("cannot encode the request: {e}")))?;
        let resp = self.send(reqwest::Method::POST, path, body, now_ms).await?;
        check_status(resp).await.map(|_| ())
    }

    pub async fn raise(&self, req: &RaiseAlarm, now_ms: i64) -> Result<AlarmReceipt, UplinkError> {
        self.post("/v1/alarms", req, now_ms).await
    }

    pub async fn cancel(
        &self,
        alarm_id: Uuid,
        cancel_pressed_at_ms: i64,
        now_ms: i64,
    ) -> Result<AlarmReceipt, UplinkError> {
        self.post(
            &format!("/v1/alarms/{alarm_id}/cancel"),
            &CancelAlarm {
                cancel_pressed_at_ms,
                sent_at_ms: now_ms,
            },
            now_ms,
        )
        .await
    }

    pub async fn request_recording(
        &self,
        alarm_id: Uuid,
        requested_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), UplinkError> {
        self.post_empty(
            &format!("/v1/alarms/{alarm_id}/recording"),
            &RequestRecording { requested_at_ms },
            now_ms,
        )
        .await
    }

    pub async fn report_direct(
        &self,
        alarm_id: Uuid,
        direct_sms: Vec<DirectSms>,
        now_ms: i64,
    ) -> Result<(), UplinkError> {
        self.post_empty(
            &format!("/v1/alarms/{alarm_id}/direct"),
            &DirectReport { direct_sms },
            now_ms,
        )
        .await
    }

    pub async fn heartbeat(
        &self,
        hb: &Heartbeat,
        now_ms: i64,
    ) -> Result<HeartbeatAck, UplinkError> {
        self.post("/v1/heartbeat", hb, now_ms).await
    }

    /// One sealed chunk of a recording; the hub answers with its place in
    /// the log. A repeat is acknowledged again (`duplicate`); a chunk whose
    /// predecessor the hub lacks is refused with the code `chunk_gap`.
    pub async fn upload_chunk(
        &self,
        recording_id: Uuid,
        chunk: &UploadChunk,
        now_ms: i64,
    ) -> Result<ChunkReceipt, UplinkError> {
        let receipt: ChunkReceipt = self
            .post(
                &format!("/v1/recordings/{recording_id}/chunks"),
                chunk,
                now_ms,
            )
            .await?;
        if receipt.recording_id != recording_id {
            return Err(UplinkError::Unreachable(format!(
                "the hub acknowledged recording {} instead of {recording_id}",
                receipt.recording_id
            )));
        }
        Ok(receipt)
    }

    /// The box's settings and direct contacts (a signed GET with an empty body).
    pub async fn config(&self, now_ms: i64) -> Result<DeviceConfig, UplinkError> {
        read_answer(
            self.send(
                reqwest::Method::GET,
                "/v1/device/config",
                Vec::new(),
                now_ms,
            )
            .await?,
        )
        .await
    }
}

async fn check_status(resp: reqwest::Response) -> Result<Vec<u8>, UplinkError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| UplinkError::Unreachable(format!("answer cut short: {e}")))?;
    if bytes.len() > RESPONSE_BYTES_MAX {
        return Err(UplinkError::Unreachable(format!(
            "answer of {} bytes is not from a hub",
            bytes.len()
        )));
    }
    if status.is_success() {
        return Ok(bytes.to_vec());
    }
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        return Err(UplinkError::Unreachable(format!(
            "hub answered HTTP {status}"
        )));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(e) => Err(UplinkError::Refused {
            status: status.as_u16(),
            code: e.code,
            message: e.message,
        }),
        // A 4xx that is not ours (a proxy, a captive portal): not a real refusal.
        Err(_) => Err(UplinkError::Unreachable(format!(
            "HTTP {status} without a hub's error body"
        ))),
    }
}

async fn read_answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, UplinkError> {
    let bytes = check_status(resp).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        UplinkError::Unreachable(format!("the hub's answer is not what a box expects: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest takes the shared settings only if they are of its own rustls
    /// version; otherwise `build` fails and each client would fall back to
    /// reqwest's defaults without a word.
    #[test]
    fn clients_take_the_shared_tls_settings() {
        let built = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config())
            .build();
        assert!(built.is_ok(), "{:?}", built.err());
        assert!(!tls_config().alpn_protocols.is_empty());
    }
}
