//! Callbacks from HTTP SMS providers: delivery receipts and replies.
//! Authenticated by the gateway's shared secret (`?secret=`).

use super::{ApiError, AppState};
use crate::gateway::Inbound;
use crate::gateway::http::HttpGateway;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

fn gateway(
    st: &AppState,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Arc<HttpGateway>, ApiError> {
    let gw = st
        .http_gateways
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            code: "unknown_gateway",
            message: format!("no HTTP gateway named {name}"),
        })?;
    let given = query.get("secret").map(String::as_str).unwrap_or("");
    if !gw.check_secret(given) {
        return Err(ApiError::unauthorized(
            "bad_secret",
            "wrong or missing webhook secret",
        ));
    }
    Ok(gw)
}

async fn apply(st: &AppState, inbound: Inbound) -> Result<StatusCode, ApiError> {
    let now = st.clock.now();
    match inbound {
        Inbound::Receipt {
            gateway,
            reference,
            delivered,
            detail,
        } => {
            st.store
                .record_receipt(gateway, reference, delivered, detail, now)
                .await?;
        }
        Inbound::Reply {
            gateway,
            from,
            text,
        } => {
            let received = st.store.receive_sms(&gateway, &from, &text, now).await?;
            if let crate::store::SmsReceived::Pendant(p) = &received {
                let from = vigie_core::PhoneNumber::parse(&from)
                    .map_or_else(|_| "(not a number)".to_string(), |n| n.to_string());
                crate::engine::log_pendant_sms(&gateway, &from, p);
            }
        }
    }
    st.engine.wake();
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn receipt(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    gateway(&st, &name, &query)?;
    match crate::gateway::http::parse_receipt(&name, &query) {
        Ok(inbound) => apply(&st, inbound).await,
        Err(crate::gateway::http::CallbackError::Interim(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(ApiError::bad("bad_callback", e.to_string())),
    }
}

pub(super) async fn reply(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    gateway(&st, &name, &query)?;
    let inbound = crate::gateway::http::parse_reply(&name, &query)
        .map_err(|e| ApiError::bad("bad_callback", e.to_string()))?;
    apply(&st, inbound).await
}
