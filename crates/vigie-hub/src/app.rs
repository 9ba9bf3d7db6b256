//! Assembling a running hub: store, gateways, engine loops, HTTP server.
//! `start` binds the given listener (port 0 in tests) and returns a handle
//! that stops everything on `shutdown`.

use crate::api::{AppState, DeviceSettingsConfig};
use crate::clock::SharedClock;
use crate::config::{Config, GatewayConfig};
use crate::engine::Engine;
use crate::gateway::http::HttpGateway;
use crate::gateway::log::LogGateway;
use crate::gateway::smpp::SmppGateway;
use crate::gateway::{Gateway, INBOUND_QUEUE_MAX};
use crate::store::{Rules, Store};
use anyhow::Context as _;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vigie_core::escalation::Policy;

pub struct RunningHub {
    pub addr: SocketAddr,
    pub store: Store,
    pub engine: Engine,
    pub clock: SharedClock,
    log_gateways: HashMap<String, Arc<LogGateway>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningHub {
    /// The log gateway of that name, to see what phones received.
    pub fn log_gateway(&self, name: &str) -> Option<Arc<LogGateway>> {
        self.log_gateways.get(name).cloned()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop the loops and the server, and wait for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

pub fn rules_from(config: &Config, replies_accepted: bool) -> Rules {
    Rules {
        policy: Policy {
            tier_timeout_ms: i64::from(config.escalation.tier_timeout_s) * 1_000,
            repeat: config.escalation.repeat,
            duration_ms_max: i64::from(config.escalation.duration_max_s) * 1_000,
        },
        cancel_window_ms: i64::from(config.devices.cancel_window_s) * 1_000,
        public_url: config.server.public_url.trim_end_matches('/').to_string(),
        replies_accepted,
        enrolment_code_ttl_ms: i64::from(config.devices.enrolment_code_days) * 86_400_000,
        attempts_max: config.escalation.attempts_max,
        supervision: config
            .supervision
            .limits(config.devices.heartbeat_interval_s),
        test_sink_phone: config.supervision.test_sink(),
    }
}

/// Start a hub on `listener` (bind it to port 0 in tests).
pub async fn start(
    config: &Config,
    clock: SharedClock,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<RunningHub> {
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE_MAX);
    let mut gateways: Vec<Arc<dyn Gateway>> = Vec::new();
    let mut http_gateways = HashMap::new();
    let mut log_gateways = HashMap::new();
    for g in &config.gateways {
        match g {
            GatewayConfig::Smpp(c) => {
                gateways.push(Arc::new(SmppGateway::start(c.clone(), inbound_tx.clone())))
            }
            GatewayConfig::Http(c) => {
                let gw = Arc::new(
                    HttpGateway::new(c.clone())
                        .map_err(|e| anyhow::anyhow!("gateway {}: {e}", c.name))?,
                );
                http_gateways.insert(c.name.clone(), gw.clone());
                gateways.push(gw);
            }
            GatewayConfig::Log { name } => {
                let gw = Arc::new(LogGateway::new(name, Some(inbound_tx.clone()), false));
                log_gateways.insert(name.clone(), gw.clone());
                gateways.push(gw);
            }
        }
    }
    // Texts are rendered before the gateway is chosen: invite SMS replies only if
    // every gateway can carry them back (an alphanumeric sender cannot).
    let replies_accepted = !gateways.is_empty() && gateways.iter().all(|g| g.accepts_replies());
    let rules = rules_from(config, replies_accepted);
    let path = config.store.sqlite_path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open_sqlite(&path, rules))
        .await?
        .with_context(|| {
            format!(
                "opening the database {}",
                config.store.sqlite_path.display()
            )
        })?;
    // Silence before now is not held against any box (a restarted hub has
    // missed their heartbeats, they have not missed it).
    store.start_watching(clock.now());
    let engine = Engine::new(store.clone(), clock.clone());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let settings = DeviceSettingsConfig {
        signature_skew_s: i64::from(config.devices.signature_skew_s),
        settings: vigie_proto::DeviceSettings {
            heartbeat_interval_s: config.devices.heartbeat_interval_s,
            double_press_window_ms: 700,
            long_press_ms: 3_000,
            cancel_window_ms: i64::from(config.devices.cancel_window_s) * 1_000,
            direct_sms_delay_ms: 5_000,
        },
    };
    let state = AppState::new(
        store.clone(),
        clock.clone(),
        engine.clone(),
        settings,
        http_gateways,
    );
    let addr = listener.local_addr()?;
    let mut tasks = vec![
        tokio::spawn(engine.clone().run_escalation(shutdown_rx.clone())),
        tokio::spawn(engine.clone().run_dispatch(gateways, shutdown_rx.clone())),
        tokio::spawn(engine.clone().run_inbound(inbound_rx, shutdown_rx.clone())),
        tokio::spawn(engine.clone().run_supervision(shutdown_rx.clone())),
    ];
    let mut server_shutdown = shutdown_rx.clone();
    let app = crate::api::router(state);
    tasks.push(tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = server_shutdown.changed().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    }));
    tracing::info!(%addr, "hub listening");
    Ok(RunningHub {
        addr,
        store,
        engine,
        clock,
        log_gateways,
        shutdown: shutdown_tx,
        tasks,
    })
}
