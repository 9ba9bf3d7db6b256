//! The hub's side of the module leases (`store::leases`, ADR 0007): one
//! task takes and renews them; the engine's loops ask before each pass
//! whether their module is held here.
//!
//! A lease is trusted here only until `LEASE_MARGIN_MS` before the expiry
//! written with it, counted on this process's monotonic clock from the
//! moment its renewal was sent: a hub that cannot renew (its database is
//! gone, it was paused) stops its passes before another hub may take the
//! lease over.

use crate::clock::SharedClock;
use crate::store::{Module, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vigie_core::Timestamp;

/// A lease lasts this long after each renewal: a dead hub's modules move
/// to another hub within this time plus one renewal period.
pub const LEASE_MS: i64 = 5_000;
/// Leases are renewed (or tried for) this often.
pub const LEASE_RENEW_MS: u64 = 1_000;
/// A lease is trusted locally until this long before it expires: room for
/// a slow renewal and for the hubs' clocks disagreeing a little.
const LEASE_MARGIN_MS: i64 = 1_500;

#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: a hub driven by hand (tests), which holds every module.
    shared: Option<Shared>,
    held: Mutex<HashMap<Module, Held>>,
}

struct Shared {
    store: Store,
    clock: SharedClock,
    hub: String,
}

#[derive(Clone, Copy)]
struct Held {
    token: i64,
    until: Instant,
}

impl Leases {
    /// Every module held, nothing in the database: an engine that a test
    /// drives by hand.
    pub fn sole() -> Self {
        Self {
            inner: Arc::new(Inner {
                shared: None,
                held: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The leases of hub `hub` in `store`; none held until [`Leases::renew`].
    pub fn shared(store: Store, clock: SharedClock, hub: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared: Some(Shared { store, clock, hub }),
                held: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// This hub's id in the leases table.
    pub fn hub(&self) -> &str {
        self.inner
            .shared
            .as_ref()
            .map_or("sole", |s| s.hub.as_str())
    }

    /// Whether `module` may run a pass on this hub now.
    pub fn holds(&self, module: Module) -> bool {
        if self.inner.shared.is_none() {
            return true;
        }
        let held = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.get(&module).is_some_and(|h| Instant::now() < h.until)
    }

    /// Take or renew every module's lease once. Returns the modules this
    /// hub newly holds (their loops should run a pass now).
    pub async fn renew(&self) -> Vec<Module> {
        let Some(s) = &self.inner.shared else {
            return Vec::new();
        };
        let sent = Instant::now();
        let now = s.clock.now();
        let until = Timestamp(now.as_ms() + LEASE_MS);
        let tokens = match s.store.hold_leases(&Module::ALL, &s.hub, now, until).await {
            Ok(tokens) => tokens,
            // Kept until they run out locally: a short outage of the
            // database does not move the modules.
            Err(e) => {
                tracing::warn!(hub = %s.hub, error = %e, "cannot renew the leases");
                return Vec::new();
            }
        };
        let trusted = sent + Duration::from_millis((LEASE_MS - LEASE_MARGIN_MS) as u64);
        let mut held = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut gained = Vec::new();
        for (module, token) in Module::ALL.into_iter().zip(tokens) {
            match token {
                Some(token) => {
                    let before = held.insert(
                        module,
                        Held {
                            token,
                            until: trusted,
                        },
                    );
                    if !before.is_some_and(|b| b.token == token && sent < b.until) {
                        tracing::info!(hub = %s.hub, module = module.as_str(), token, "lease taken: this hub runs the module");
                        gained.push(module);
                    }
                }
                None => {
                    if held.remove(&module).is_some() {
                        tracing::warn!(hub = %s.hub, module = module.as_str(), "lease lost: another hub runs the module");
                    }
                }
            }
        }
        gained
    }

    /// Renew the leases every `LEASE_RENEW_MS` until shutdown, calling
    /// `gained` when this hub takes a module; then give them up, so another
    /// hub takes them at once.
    pub async fn run(self, gained: impl Fn(&[Module]) + Send, mut shutdown: watch::Receiver<bool>) {
        loop {
            let taken = self.renew().await;
            if !taken.is_empty() {
                gained(&taken);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(LEASE_RENEW_MS)) => {}
                _ = shutdown.changed() => break,
            }
        }
        self.release().await;
    }

    /// Give up every lease (the hub stops).
    pub async fn release(&self) {
        let Some(s) = &self.inner.shared else { return };
        self.inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        if let Err(e) = s.store.release_leases(&s.hub).await {
            tracing::warn!(hub = %s.hub, error = %e, "cannot give up the leases; they expire on their own");
        }
    }
}
