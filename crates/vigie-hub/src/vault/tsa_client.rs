//! RFC 3161 over HTTP (RFC 3161 §3.4): the hub asks a time-stamping
//! authority for a token over a checkpoint file
//! (`docs/protocol/evidence.md` §3 "Trusted time").
//!
//! Every exchange is bounded (one deadline for the whole exchange, a
//! maximum reply size) and carries a fresh random nonce. A reply is kept only
//! after `vigie_evidence::tsa::check_reply` has checked its status, its
//! nonce, its imprint over the checkpoint, and its signature by the
//! certificate it carries with the critical `timeStamping` usage; the chain to
//! the TSA's root is for `vigie verify`.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sha2::{Digest, Sha256};
use vigie_evidence::tsa::{TOKEN_BYTES_MAX, TsaError, build_request, check_reply};

/// Deadline for one whole exchange (connect, send, reply): a TSA answers in
/// well under a second; a checkpoint is stamped at least every 60 s, so a
/// stuck TSA must give up long before the next one.
pub const TSA_EXCHANGE_TIMEOUT_MS: u64 = 10_000;
/// Largest reply read: the token verifier's own bound.
pub const TSA_REPLY_BYTES_MAX: usize = TOKEN_BYTES_MAX;

const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// Why no token was obtained. Every variant is worth retrying later or
/// with another configured TSA; none is a bug of the hub.
#[derive(Debug, thiserror::Error)]
pub enum TsaClientError {
    #[error("TSA unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("TSA gave no reply within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("TSA answered HTTP {0}")]
    HttpStatus(u16),
    #[error("TSA answered content type {0:?}, not {REPLY_CONTENT_TYPE}")]
    ContentType(String),
    #[error("TSA reply larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("TSA reply refused: {0}")]
    Reply(#[from] TsaError),
}

/// A time-stamp token (DER `TimeStampToken`) over SHA-256 of `checkpoint`,
/// from the TSA at `url`.
pub async fn timestamp(
    http: &reqwest::Client,
    url: &str,
    checkpoint: &[u8],
) -> Result<Vec<u8>, TsaClientError> {
    let timeout = Duration::from_millis(TSA_EXCHANGE_TIMEOUT_MS);
    timestamp_within(http, url, checkpoint, timeout).await
}

async fn timestamp_within(
    http: &reqwest::Client,
    url: &str,
    checkpoint: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, TsaClientError> {
    // From the thread's CSPRNG: an attacker must not predict it to
    // prepare a reply in advance.
    let nonce: u64 = rand::random();
    let query = build_request(Sha256::digest(checkpoint).into(), nonce);
    let reply = tokio::time::timeout(timeout, exchange(http, url, query))
        .await
        .map_err(|_| TsaClientError::Timeout {
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        })??;
    Ok(check_reply(&reply, checkpoint, nonce)?.token_der)
}

async fn exchange(
    http: &reqwest::Client,
    url: &str,
    query: Vec<u8>,
) -> Result<Vec<u8>, TsaClientError> {
    let mut response = http
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static(QUERY_CONTENT_TYPE))
        .body(query)
        .send()
        .await
        .map_err(TsaClientError::Transport)?;
    if !response.status().is_success() {
        return Err(TsaClientError::HttpStatus(response.status().as_u16()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(REPLY_CONTENT_TYPE) {
        return Err(TsaClientError::ContentType(content_type));
    }
    let too_large = TsaClientError::TooLarge {
        max: TSA_REPLY_BYTES_MAX,
    };
    let announced = response.content_length().unwrap_or(0);
    if !usize::try_from(announced).is_ok_and(|length| length <= TSA_REPLY_BYTES_MAX) {
        return Err(too_large);
    }
    let mut reply = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(TsaClientError::Transport)? {
        if reply.len() + chunk.len() > TSA_REPLY_BYTES_MAX {
            return Err(too_large);
        }
        reply.extend_from_slice(&chunk);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Stdio;

    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use tokio::io::AsyncBufReadExt;

    use super::*;

    /// How long the peer may take to print its port (python start-up).
    const PEER_START_TIMEOUT: Duration = Duration::from_secs(20);

    fn peers() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/tsa")
    }

    const CHECKPOINT: &[u8] = include_bytes!("../../../../tests/peers/tsa/fixtures/checkpoint.txt");
    /// A genuine reply of the test TSA over `CHECKPOINT`, for another nonce.
    const OLD_REPLY: &[u8] = include_bytes!("../../../../tests/peers/tsa/fixtures/ec/resp.tsr");

    /// Serves `reply` to any request, on a free port; its URL.
    async fn serve(reply: axum::response::Response) -> String {
        let reply = std::sync::Arc::new(std::sync::Mutex::new(Some(reply)));
        let app = axum::Router::new().fallback(move || {
            let reply = reply.clone();
            async move {
                let taken = reply.lock().ok().and_then(|mut reply| reply.take());
                match taken {
                    Some(reply) => reply,
                    None => std::future::pending().await,
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn reply_of(content_type: &'static str, body: Vec<u8>) -> axum::response::Response {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    }

    #[tokio::test]
    async fn a_token_from_the_test_tsa_is_checked_and_kept() {
        let dir = std::env::temp_dir().join(format!("vigie-hub-tsa-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = tokio::process::Command::new(peers().join("make-ca.sh"))
            .arg(&dir)
            .status()
            .await
            .expect("make-ca.sh");
        assert!(made.success());
        let mut peer = tokio::process::Command::new("python3")
            .arg(peers().join("tsa_http.py"))
            .arg(&dir)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tsa_http.py");
        let stdout = peer.stdout.take().expect("stdout");
        let mut port = String::new();
        tokio::time::timeout(
            PEER_START_TIMEOUT,
            tokio::io::BufReader::new(stdout).read_line(&mut port),
        )
        .await
        .expect("the peer prints its port")
        .expect("read port");
        let url = format!("http://127.0.0.1:{}/", port.trim());

        let http = reqwest::Client::new();
        let token = timestamp(&http, &url, CHECKPOINT).await.expect("a token");
        let chain = std::fs::read(dir.join("ca.crt")).expect("ca.crt");
        let info = vigie_evidence::tsa::verify_token(CHECKPOINT, &token, &chain).expect("valid");
        assert!(info.nonce.is_some());
        let _ = peer.kill().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_replayed_reply_is_refused_by_its_nonce() {
        let url = serve(reply_of(REPLY_CONTENT_TYPE, OLD_REPLY.to_vec())).await;
        let error = timestamp(&reqwest::Client::new(), &url, CHECKPOINT).await;
        assert!(
            matches!(error, Err(TsaClientError::Reply(TsaError::NonceMismatch))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_reply_that_is_not_a_time_stamp_is_refused() {
        let url = serve(reply_of("text/html", OLD_REPLY.to_vec())).await;
        let error = timestamp(&reqwest::Client::new(), &url, CHECKPOINT).await;
        assert!(
            matches!(error, Err(TsaClientError::ContentType(_))),
            "{error:?}"
        );
        let url = serve(reply_of(REPLY_CONTENT_TYPE, b"<html>".to_vec())).await;
        let error = timestamp(&reqwest::Client::new(), &url, CHECKPOINT).await;
        assert!(
            matches!(
                error,
                Err(TsaClientError::Reply(TsaError::Malformed { .. }))
            ),
            "{error:?}"
        );
        let url = serve(StatusCode::SERVICE_UNAVAILABLE.into_response()).await;
        let error = timestamp(&reqwest::Client::new(), &url, CHECKPOINT).await;
        assert!(
            matches!(error, Err(TsaClientError::HttpStatus(503))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_oversized_reply_is_not_read() {
        let body = vec![0x30; TSA_REPLY_BYTES_MAX + 1];
        let url = serve(reply_of(REPLY_CONTENT_TYPE, body)).await;
        let error = timestamp(&reqwest::Client::new(), &url, CHECKPOINT).await;
        assert!(
            matches!(error, Err(TsaClientError::TooLarge { .. })),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_tsa_is_given_up_on() {
        // The first request takes the reply; the second waits forever.
        let url = serve(StatusCode::NO_CONTENT.into_response()).await;
        let http = reqwest::Client::new();
        let _ = timestamp(&http, &url, CHECKPOINT).await;
        let error = timestamp_within(&http, &url, CHECKPOINT, Duration::from_millis(200)).await;
        assert!(
            matches!(error, Err(TsaClientError::Timeout { timeout_ms: 200 })),
            "{error:?}"
        );
    }
}
