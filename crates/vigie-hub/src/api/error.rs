//! API errors: a stable machine-readable code and a sentence, as JSON.

use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigie_proto::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body larger than {max} bytes")]
    TooLarge { max: usize },
    /// Try again shortly (a bounded queue is full).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::Unexpected(_) => "internal",
        }
    }
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.cannot_write() {
            tracing::error!(error = %e, "the database cannot be written: requests refused until it can");
            return ApiError::Unavailable {
                code: vigie_proto::refusal::code::STORE_CANNOT_WRITE,
                message: "le hub ne peut plus écrire (disque plein ?) : rien n'a été gardé, le boîtier alerte ses contacts lui-même / \
                          the hub cannot write (disk full?): nothing was kept, the box alerts its contacts itself"
                    .into(),
            };
        }
        match e {
            StoreError::Refused { code, message } => match code {
                "unknown_device" | "unknown_code" | "code_used" | "code_expired" => {
                    ApiError::Unauthorized { code, message }
                }
                "unknown_alarm" | "unknown_link" | "unknown_shop" | "unknown_contact"
                | "unknown_recording" => ApiError::NotFound { code, message },
                "alarm_closed"
                | "cancel_window_passed"
                | "alarm_id_taken"
                | "duplicate_shop"
                | "duplicate_contact"
                | "chunk_gap"
                | "chunk_conflict"
                | "chunk_chain"
                | "recording_mismatch"
                | "recording_deleted" => ApiError::Conflict { code, message },
                "busy" => ApiError::Unavailable { code, message },
                _ => ApiError::BadRequest { code, message },
            },
            other => ApiError::Unexpected(anyhow::anyhow!(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unexpected(e) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
        let body = ErrorBody {
            code: self.code().to_string(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}
