//! The HTTP edge: accepting connections within bounds, so that alarm
//! intake stays fast while slow or idle clients hold sockets.
//!
//! - **Connections** are counted; past `connections_max` a new one is
//!   closed at once (and logged once a minute at most) instead of waiting
//!   in the kernel while the process runs out of file descriptors. At
//!   start the open-files limit is raised to fit the cap; where it cannot
//!   be, the cap is lowered to what fits, leaving room for the database,
//!   the SMPP links and the vault.
//! - **Headers** must arrive within `header_read_timeout_s`, which also
//!   closes an idle keep-alive connection (hyper starts that timer when a
//!   connection waits for its next request).
//! - **A whole request** (a body sent byte by byte included) must be read
//!   and answered within `request_timeout_s`; a live stream's response
//!   starts at once, so it is not cut.
//!
//! Every accepted socket gets `TCP_NODELAY`: a live board's small events
//! must not wait for the client's delayed acknowledgement (Nagle: 40 ms).

use axum::Router;
use axum::extract::ConnectInfo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// File descriptors kept for everything but client connections.
const FDS_RESERVED: u64 = 512;
/// After a failed accept (e.g. out of descriptors), the loop pauses this
/// long rather than spinning.
const ACCEPT_ERROR_PAUSE_MS: u64 = 50;
/// At shutdown, connections get this long to finish what they are doing.
const SHUTDOWN_GRACE_MS: u64 = 5_000;
/// "Connection limit reached" is logged at most this often.
const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The bounds of the edge.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    pub connections_max: usize,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
}

impl EdgeLimits {
    pub fn from_config(c: &crate::config::ServerConfig) -> Self {
        Self {
            connections_max: c.connections_max as usize,
            header_read_timeout: Duration::from_secs(u64::from(c.header_read_timeout_s)),
            request_timeout: Duration::from_secs(u64::from(c.request_timeout_s)),
        }
    }

    /// Raise the open-files limit to fit the cap, or lower the cap to fit
    /// the limit. Returns the limits in force.
    pub fn fitted_to_open_files(mut self) -> Self {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let want = self.connections_max as u64 + FDS_RESERVED;
        let limit = getrlimit(Resource::Nofile);
        let current = limit.current.unwrap_or(u64::MAX);
        if current < want {
            let raised = limit.maximum.map_or(want, |m| m.min(want));
            let mut new = limit;
            new.current = Some(raised);
            if let Err(e) = setrlimit(Resource::Nofile, new) {
                tracing::warn!(error = %e, "cannot raise the open-files limit");
            }
        }
        let current = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        if current < want {
            let fits = current.saturating_sub(FDS_RESERVED).max(16) as usize;
            tracing::warn!(
                open_files = current,
                connections_max = fits,
                "the open-files limit is low: fewer connections accepted (raise LimitNOFILE)"
            );
            self.connections_max = fits;
        }
        self
    }
}

/// Serve `app` on `listener` within `limits` until `shutdown` changes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let open = Arc::new(Semaphore::new(limits.connections_max));
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut last_limit_log: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        // Reap finished connections so the set stays the size of what is open.
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_PAUSE_MS)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let now = tokio::time::Instant::now();
            if last_limit_log.is_none_or(|t| now - t >= LIMIT_LOG_INTERVAL) {
                last_limit_log = Some(now);
                tracing::warn!(
                    connections_max = limits.connections_max,
                    %peer,
                    "connection limit reached: new connections are closed at once"
                );
            }
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let mut closing = closing.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let app = app.clone();
                    async move {
                        let req = req.map(axum::body::Body::new);
                        let resp =
                            match tokio::time::timeout(limits.request_timeout, app.oneshot(req))
                                .await
                            {
                                Ok(Ok(r)) => r,
                                Ok(Err(never)) => match never {},
                                Err(_) => request_timed_out(limits.request_timeout),
                            };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, %peer, "connection ended");
                    }
                }
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = closing_tx.send(true);
    let grace = tokio::time::sleep(Duration::from_millis(SHUTDOWN_GRACE_MS));
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            _ = &mut grace => {
                connections.abort_all();
                break;
            }
        }
    }
}

fn request_timed_out(after: Duration) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        axum::Json(vigie_proto::ErrorBody {
            code: "request_timeout".into(),
            message: format!(
                "requête non reçue en entier en {} s / request not received whole within {} s",
                after.as_secs(),
                after.as_secs()
            ),
        }),
    )
        .into_response()
}
