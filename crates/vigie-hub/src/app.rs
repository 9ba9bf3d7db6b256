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
use crate::leases::Leases;
use crate::store::{Module, Rules, Store};
use anyhow::Context as _;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vigie_core::escalation::Policy;

/// Where the DC-09 receiver listens, and what it counted.
pub struct DcListeners {
    pub tcp_addr: Option<SocketAddr>,
    pub udp_addr: Option<SocketAddr>,
    pub counters: Arc<crate::dc09::Counters>,
}

pub struct RunningHub {
    pub addr: SocketAddr,
    pub store: Store,
    pub engine: Engine,
    pub clock: SharedClock,
    pub vault: Arc<crate::vault::Vault>,
    /// The DC-09 receiver's addresses and counters, when `[dc09]` sets a listener.
    pub dc09: Option<DcListeners>,
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

/// What a web interface mounted on the hub is built from.
pub struct UiParts {
    pub store: Store,
    pub clock: SharedClock,
    pub vault: Arc<crate::vault::Vault>,
}

/// Builds the routes of a web interface served beside the hub's API (the
/// console lives in its own crate, above this one).
pub type UiBuilder = Box<dyn FnOnce(UiParts) -> anyhow::Result<axum::Router> + Send>;

/// Start a hub on `listener` (bind it to port 0 in tests).
pub async fn start(
    config: &Config,
    clock: SharedClock,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<RunningHub> {
    start_with_ui(config, clock, listener, None).await
}

/// Start a hub with a web interface mounted beside its API.
pub async fn start_with_ui(
    config: &Config,
    clock: SharedClock,
    listener: tokio::net::TcpListener,
    ui: Option<UiBuilder>,
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
            GatewayConfig::Log { name, receipts } => {
                let gw = Arc::new(LogGateway::new(
                    name,
                    Some(inbound_tx.clone()),
                    *receipts,
                    false,
                ));
                log_gateways.insert(name.clone(), gw.clone());
                gateways.push(gw);
            }
        }
    }
    // Texts are rendered before the gateway is chosen: invite SMS replies only if
    // every gateway can carry them back (an alphanumeric sender cannot).
    let replies_accepted = !gateways.is_empty() && gateways.iter().all(|g| g.accepts_replies());
    let rules = rules_from(config, replies_accepted);
    let location = config.store.location();
    let opening = location.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&opening, rules))
        .await?
        .with_context(|| format!("opening the store {location:?}"))?;
    // Silence before now is not held against any box (a restarted hub has
    // missed their heartbeats, they have not missed it).
    store.start_watching(clock.now());
    store
        .listen_for_other_hubs()
        .context("listening for other hubs' commits")?;
    let hub_id = hub_id(config, listener.local_addr()?.port());
    let leases = Leases::shared(store.clone(), clock.clone(), hub_id.clone());
    // The modules this hub may run, before any loop starts (one hub on
    // SQLite: all of them, at once).
    leases.renew().await;
    tracing::info!(hub = %hub_id, "hub id");
    let engine = Engine::with_leases(store.clone(), clock.clone(), leases.clone());
    // Deadlines written before a step of the wall clock while the hub was
    // stopped are moved before anything reads them.
    engine
        .check_clock_at_start()
        .await
        .context("checking the clock against the last time the hub ran")?;
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
    let vault = Arc::new(open_vault(config)?);
    let mut state = AppState::new(
        store.clone(),
        clock.clone(),
        engine.clone(),
        settings,
        http_gateways,
    );
    state.vault = Some(vault.clone());
    state.gateways = gateways.clone();
    let addr = listener.local_addr()?;
    let mut tasks = vec![
        tokio::spawn(run_vault(
            vault.clone(),
            store.clone(),
            clock.clone(),
            leases.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn({
            let engine = engine.clone();
            leases
                .clone()
                .run(move |_| engine.wake(), shutdown_rx.clone())
        }),
        // Another hub's commit (PostgreSQL's notifications) may have left
        // work for a module this hub holds.
        tokio::spawn({
            let engine = engine.clone();
            let mut foreign = store.foreign_commits();
            let mut shutdown = shutdown_rx.clone();
            async move {
                loop {
                    tokio::select! {
                        changed = foreign.changed() => if changed.is_err() { return },
                        _ = shutdown.changed() => return,
                    }
                    engine.wake();
                }
            }
        }),
        tokio::spawn(engine.clone().run_escalation(shutdown_rx.clone())),
        // The inbound loop outlives the dispatcher: on shutdown the
        // dispatcher closes the gateways, which wait for the inbound loop to
        // store what they handed over before they acknowledge it and unbind.
        {
            let dispatch = tokio::spawn(engine.clone().run_dispatch(gateways, shutdown_rx.clone()));
            let (inbound_stop, inbound_stopped) = watch::channel(false);
            let inbound = tokio::spawn(engine.clone().run_inbound(inbound_rx, inbound_stopped));
            tokio::spawn(async move {
                let _ = dispatch.await;
                let _ = inbound_stop.send(true);
                let _ = inbound.await;
            })
        },
        tokio::spawn(engine.clone().run_supervision(shutdown_rx.clone())),
    ];
    let dc09 = if config.dc09.tcp_listen.is_some() || config.dc09.udp_listen.is_some() {
        let l = crate::dc09::start(
            &config.dc09,
            store.clone(),
            clock.clone(),
            engine.clone(),
            shutdown_rx.clone(),
        )
        .await?;
        tasks.extend(l.tasks);
        Some(DcListeners {
            tcp_addr: l.tcp_addr,
            udp_addr: l.udp_addr,
            counters: l.counters,
        })
    } else {
        None
    };
    let server_shutdown = shutdown_rx.clone();
    let mut app = crate::api::router(state);
    if let Some(ui) = ui {
        app = app.merge(ui(UiParts {
            store: store.clone(),
            clock: clock.clone(),
            vault: vault.clone(),
        })?);
    }
    let limits = crate::edge::EdgeLimits::from_config(&config.server).fitted_to_open_files();
    tasks.push(tokio::spawn(crate::edge::serve(
        listener,
        app,
        limits,
        server_shutdown,
    )));
    tracing::info!(%addr, "hub listening");
    Ok(RunningHub {
        addr,
        store,
        engine,
        clock,
        vault,
        dc09,
        log_gateways,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// Open the evidence vault (keys created on first start).
pub fn open_vault(config: &Config) -> anyhow::Result<crate::vault::Vault> {
    let v = &config.vault;
    let dir = match &v.dir {
        Some(d) => d.clone(),
        None => config
            .store
            .sqlite_path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("vault"),
    };
    let keys = crate::vault::keys::HubKeys::load_or_create(&dir)
        .with_context(|| format!("vault keys in {}", dir.display()))?;
    let tsa_chain_pem = match &v.tsa_chain_pem {
        Some(p) => std::fs::read(p)
            .with_context(|| format!("vault.tsa_chain_pem: cannot read {}", p.display()))?,
        None => Vec::new(),
    };
    let blobs = match &v.s3 {
        Some(s3) => crate::vault::blobs::BlobStore::s3(s3)?,
        None => crate::vault::blobs::BlobStore::new(&dir.join("blobs")),
    };
    Ok(crate::vault::Vault {
        keys: Arc::new(keys),
        blobs,
        tsa_urls: v.tsa_urls.clone(),
        tsa_chain_pem,
        retention_days: v.retention_days,
        http: reqwest::Client::new(),
    })
}

/// The vault's loop: checkpoints, trusted time while recordings are live, retention.
async fn run_vault(
    vault: Arc<crate::vault::Vault>,
    store: Store,
    clock: SharedClock,
    leases: Leases,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if leases.holds(Module::Vault)
            && let Err(e) = vault.tick(&store, clock.now()).await
        {
            tracing::error!(error = %e, "vault pass failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(crate::vault::CHECKPOINT_INTERVAL_MS)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// This hub's id among the hubs of one database: `server.hub_id`, else
/// the host's name and the port it listens on.
fn hub_id(config: &Config, port: u16) -> String {
    if let Some(id) = &config.server.hub_id {
        return id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hub".into());
    format!("{host}:{port}")
}
