//! The SIA DC-09 receiver: alarm panels and transmitters send their events
//! to the hub over TCP or UDP, and the hub answers each frame with ACK,
//! NAK or DUH, or not at all (`receiver.rs` says which). Documented in
//! `docs/protocol/dc09.md` and `docs/ops/dc09.md`.
//!
//! - `tcp`: a byte stream cut into frames at LF…CR (several frames in one
//!   segment, one frame over several), each answered in order; bounded
//!   connections per source address and in all, bytes buffered per
//!   connection, a partial frame dropped once idle.
//! - `udp`: one datagram, one frame, answered to its sender.
//! - `mapping`: what each Contact ID or SIA code means for Vigie.
//!
//! Invariants: an ACK leaves only after the store has committed what the
//! frame says (`Store::receive_panel_frame`); a frame with a broken
//! envelope is never answered (DC-09), but counted per peer; nothing a
//! peer sends makes the receiver buffer more than its limits.

pub mod mapping;
mod receiver;
mod tcp;
mod udp;

pub use receiver::Receiver;

use crate::clock::SharedClock;
use crate::config::Dc09Config;
use crate::engine::Engine;
use crate::store::Store;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Peers whose envelope errors are counted one by one; past this, the
/// rest are counted together (a scan from many addresses cannot grow the map).
pub const PEERS_COUNTED_MAX: usize = 10_000;

/// The receiver's limits, from `[dc09]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub window_before_s: u32,
    pub window_after_s: u32,
    pub connections_max: usize,
    pub connections_per_source_max: usize,
    pub connection_buffer_bytes_max: usize,
    pub partial_frame_idle_ms: u64,
    pub connection_idle_ms: u64,
    pub udp_in_flight_max: usize,
}

impl Settings {
    pub fn from_config(c: &Dc09Config) -> Settings {
        Settings {
            window_before_s: c.window_before_s,
            window_after_s: c.window_after_s,
            connections_max: c.connections_max as usize,
            connections_per_source_max: c.connections_per_source_max as usize,
            connection_buffer_bytes_max: c.connection_buffer_bytes_max as usize,
            partial_frame_idle_ms: u64::from(c.partial_frame_idle_s) * 1_000,
            connection_idle_ms: u64::from(c.connection_idle_s) * 1_000,
            udp_in_flight_max: c.udp_in_flight_max as usize,
        }
    }
}

/// What the receiver has seen since the hub started.
#[derive(Debug, Default)]
pub struct Counters {
    frames: AtomicU64,
    acks: AtomicU64,
    naks: AtomicU64,
    duhs: AtomicU64,
    repeats: AtomicU64,
    envelope_errors: AtomicU64,
    store_failures: AtomicU64,
    partial_frames_dropped: AtomicU64,
    connections_refused: AtomicU64,
    by_peer: Mutex<HashMap<IpAddr, u64>>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountersSnapshot {
    pub frames: u64,
    pub acks: u64,
    pub naks: u64,
    pub duhs: u64,
    /// Frames seen again within the repeat window (ACKed, nothing new).
    pub repeats: u64,
    /// Frames not answered: bad CRC, length, layout, header.
    pub envelope_errors: u64,
    /// Frames not answered because the store could not take them.
    pub store_failures: u64,
    pub partial_frames_dropped: u64,
    pub connections_refused: u64,
}

impl Counters {
    fn add(c: &AtomicU64) -> u64 {
        c.fetch_add(1, Ordering::Relaxed) + 1
    }
    fn count_frame(&self) {
        Self::add(&self.frames);
    }
    fn count_ack(&self) {
        Self::add(&self.acks);
    }
    fn count_nak(&self) {
        Self::add(&self.naks);
    }
    fn count_duh(&self) {
        Self::add(&self.duhs);
    }
    fn count_repeat(&self) {
        Self::add(&self.repeats);
    }
    fn count_store_failure(&self) {
        Self::add(&self.store_failures);
    }
    fn count_partial_dropped(&self) {
        Self::add(&self.partial_frames_dropped);
    }
    fn count_connection_refused(&self) {
        Self::add(&self.connections_refused);
    }

    /// Count an unanswered frame from `peer`; returns that peer's count.
    fn count_envelope_error(&self, peer: IpAddr) -> u64 {
        Self::add(&self.envelope_errors);
        let Ok(mut map) = self.by_peer.lock() else {
            return 0;
        };
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        let key = if map.len() < PEERS_COUNTED_MAX || map.contains_key(&peer) {
            peer
        } else {
            unspecified
        };
        let n = map.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            frames: g(&self.frames),
            acks: g(&self.acks),
            naks: g(&self.naks),
            duhs: g(&self.duhs),
            repeats: g(&self.repeats),
            envelope_errors: g(&self.envelope_errors),
            store_failures: g(&self.store_failures),
            partial_frames_dropped: g(&self.partial_frames_dropped),
            connections_refused: g(&self.connections_refused),
        }
    }

    /// Unanswered frames from one peer (CRC, length, layout errors).
    pub fn envelope_errors_from(&self, peer: IpAddr) -> u64 {
        self.by_peer
            .lock()
            .ok()
            .and_then(|m| m.get(&peer).copied())
            .unwrap_or(0)
    }
}

/// The running receiver: where it listens and what it counted.
pub struct Dc09Listeners {
    pub tcp_addr: Option<SocketAddr>,
    pub udp_addr: Option<SocketAddr>,
    pub counters: Arc<Counters>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Bind the listeners `[dc09]` names and serve them until `shutdown`.
pub async fn start(
    config: &Dc09Config,
    store: Store,
    clock: SharedClock,
    engine: Engine,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Dc09Listeners> {
    use anyhow::Context as _;
    let counters = Arc::new(Counters::default());
    let receiver = Arc::new(Receiver {
        store,
        clock,
        engine,
        settings: Settings::from_config(config),
        counters: counters.clone(),
    });
    let mut tasks = Vec::new();
    let mut tcp_addr = None;
    let mut udp_addr = None;
    if let Some(addr) = config.tcp_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("dc09.tcp_listen: cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        tcp_addr = Some(bound);
        tracing::info!(addr = %bound, "dc09: TCP receiver listening");
        tasks.push(tokio::spawn(tcp::serve(
            listener,
            receiver.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(addr) = config.udp_listen {
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("dc09.udp_listen: cannot listen on {addr}"))?;
        let bound = socket.local_addr()?;
        udp_addr = Some(bound);
        tracing::info!(addr = %bound, "dc09: UDP receiver listening");
        tasks.push(tokio::spawn(udp::serve(
            socket,
            receiver.clone(),
            shutdown.clone(),
        )));
    }
    Ok(Dc09Listeners {
        tcp_addr,
        udp_addr,
        counters,
        tasks,
    })
}
