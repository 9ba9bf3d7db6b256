//! The Region's web console, served by the hub under `/console`.
//!
//! Server-rendered pages (minijinja, escaped by file name), htmx 2 for
//! forms and Server-Sent Events for the live parts, every asset inside the
//! binary. French first, English by a switch.
//!
//! Every route is declared once in [`routes`] with the roles it admits
//! ([`Access`]); the router is built from that table, and a guard in front
//! of each route checks the session, the second factor, the role and, for
//! anything that changes state, the CSRF token and the request's origin.
//! Handlers then only decide what the signed-in person may see inside what
//! the route allows (a shopkeeper's own shop).

pub mod assets;
pub mod auth;
mod i18n;
mod multipart;
pub mod pages;
mod views;

pub use auth::Viewer;
pub use i18n::Lang;

use auth::throttle::Throttle;
use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vigie_hub::clock::SharedClock;
use vigie_hub::store::{Role, Store};
use vigie_hub::vault::Vault;

/// How the console runs in this Region.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Shown in titles and to authenticator apps, e.g. « Région Auvergne-Rhône-Alpes ».
    pub region_name: String,
    /// Mark cookies `Secure` (true unless the hub is served over plain
    /// HTTP to something other than this machine).
    pub secure_cookies: bool,
    /// The origin browsers see (`https://vigie.example.fr`), accepted on
    /// forms even when a proxy rewrites `Host`.
    pub public_origin: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the real client (for
    /// sign-in throttling); requests from anyone else are taken at their
    /// own address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Web map tiles under the map (`{z}/{x}/{y}`) and their attribution;
    /// none: outlines only.
    pub tiles: Option<TileServer>,
}

/// A web map tile server the Region configured.
#[derive(Debug, Clone)]
pub struct TileServer {
    pub url_template: String,
    pub attribution: String,
}

impl TileServer {
    /// The server's origin, for the Content-Security-Policy (`https://host`).
    pub fn origin(&self) -> Option<String> {
        let (scheme, rest) = self.url_template.split_once("://")?;
        let host = rest.split('/').next()?;
        let safe = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
        (matches!(scheme, "https" | "http") && !host.is_empty() && host.chars().all(safe))
            .then(|| format!("{scheme}://{host}"))
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            region_name: "Région Auvergne-Rhône-Alpes".into(),
            secure_cookies: true,
            public_origin: None,
            trusted_proxies: Vec::new(),
            tiles: None,
        }
    }
}

/// The console's state: the hub's store and clock, and what it remembers
/// in memory (sign-in throttling, used TOTP steps, evidence grants).
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: SharedClock,
    vault: Option<Arc<Vault>>,
    config: ConsoleConfig,
    views: views::Views,
    throttle: Mutex<Throttle>,
    /// Recordings an investigator may play in a session, after giving a reason.
    evidence_grants: Mutex<HashMap<(String, uuid::Uuid), vigie_core::Timestamp>>,
    /// Argon2 runs at most this many at once (19 MiB each): a flood of
    /// sign-ins queues here instead of exhausting memory.
    hashing: tokio::sync::Semaphore,
}

/// Password hashes computed at once, at most (one per core of a small hub).
const HASHING_AT_ONCE: usize = 2;

impl Console {
    pub fn new(
        store: Store,
        clock: SharedClock,
        vault: Option<Arc<Vault>>,
        config: ConsoleConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                vault,
                config,
                views: views::Views::new()?,
                throttle: Mutex::default(),
                evidence_grants: Mutex::default(),
                hashing: tokio::sync::Semaphore::new(HASHING_AT_ONCE),
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn now(&self) -> vigie_core::Timestamp {
        self.inner.clock.now()
    }

    /// Check a password (Argon2id) off the async threads, a few at a time.
    pub(crate) async fn verify_password(&self, password: String, stored: Option<String>) -> bool {
        let Ok(_permit) = self.inner.hashing.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || auth::password::verify(&password, stored.as_deref()))
            .await
            .unwrap_or(false)
    }

    /// Hash a new password, off the async threads, a few at a time.
    pub(crate) async fn hash_password(
        &self,
        password: String,
    ) -> Result<String, auth::password::PasswordError> {
        let _permit = self
            .inner
            .hashing
            .acquire()
            .await
            .map_err(|_| auth::password::PasswordError::Hash("shutting down".into()))?;
        tokio::task::spawn_blocking(move || auth::password::hash(&password))
            .await
            .map_err(|e| auth::password::PasswordError::Hash(e.to_string()))?
    }

    /// The client's address: the TCP peer, or what a trusted proxy says.
    pub(crate) fn client_address(
        &self,
        peer: Option<std::net::IpAddr>,
        headers: &axum::http::HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let peer = peer?;
        if !self.inner.config.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
            .or(Some(peer))
    }
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in pages, assets).
    Public,
    /// Signed in (with the second factor when the role needs it) and
    /// holding one of these roles.
    Roles(&'static [Role]),
    /// Signed in with a password but still owing the second factor:
    /// only the pages that collect it.
    SecondFactorPending,
}

/// One declared route: method, path, who may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

pub(crate) const EVERYONE: &[Role] = &[
    Role::Admin,
    Role::Operator,
    Role::Shopkeeper,
    Role::Investigator,
];
pub(crate) const DESK: &[Role] = &[Role::Admin, Role::Operator];
pub(crate) const DESK_AND_SHOP: &[Role] = &[Role::Admin, Role::Operator, Role::Shopkeeper];
pub(crate) const EVIDENCE: &[Role] = &[Role::Admin, Role::Investigator];
pub(crate) const ADMIN: &[Role] = &[Role::Admin];

/// Every console route with its rule. The router is built from this list,
/// so a route cannot exist without a rule.
pub fn routes() -> Vec<(RouteRule, MethodRouter<Console>)> {
    use axum::routing::{get, post};
    use pages::*;
    let r =
        |method: &'static str, path: &'static str, access: Access, mr: MethodRouter<Console>| {
            (
                RouteRule {
                    method,
                    path,
                    access,
                },
                mr,
            )
        };
    vec![
        r("GET", "/", Access::Public, get(home)),
        r("GET", "/console", Access::Public, get(home)),
        r(
            "GET",
            "/console/assets/{name}",
            Access::Public,
            get(assets::serve),
        ),
        r("GET", "/console/lang", Access::Public, get(i18n::switch)),
        r(
            "GET",
            "/console/sign-in",
            Access::Public,
            get(sign_in::page),
        ),
        r(
            "POST",
            "/console/sign-in",
            Access::Public,
            post(sign_in::submit),
        ),
        r(
            "GET",
            "/console/sign-in/code",
            Access::SecondFactorPending,
            get(sign_in::code_page),
        ),
        r(
            "POST",
            "/console/sign-in/code",
            Access::SecondFactorPending,
            post(sign_in::code_submit),
        ),
        r(
            "POST",
            "/console/sign-out",
            Access::Roles(EVERYONE),
            post(sign_in::sign_out),
        ),
        r(
            "POST",
            "/console/sign-out-everywhere",
            Access::Roles(EVERYONE),
            post(sign_in::sign_out_everywhere),
        ),
        r("GET", "/console/me", Access::Roles(EVERYONE), get(me::page)),
        r(
            "POST",
            "/console/me/totp",
            Access::Roles(EVERYONE),
            post(me::totp_confirm),
        ),
        r(
            "POST",
            "/console/me/password",
            Access::Roles(EVERYONE),
            post(me::password),
        ),
        r(
            "GET",
            "/console/board",
            Access::Roles(DESK_AND_SHOP),
            get(board::page),
        ),
        r(
            "GET",
            "/console/live",
            Access::Roles(DESK_AND_SHOP),
            get(board::live),
        ),
        r(
            "GET",
            "/console/map",
            Access::Roles(DESK_AND_SHOP),
            get(board::map),
        ),
        r(
            "GET",
            "/console/alarms",
            Access::Roles(DESK_AND_SHOP),
            get(alarm::list),
        ),
        r(
            "GET",
            "/console/alarms/{id}",
            Access::Roles(DESK_AND_SHOP),
            get(alarm::page),
        ),
        r(
            "POST",
            "/console/alarms/{id}/take",
            Access::Roles(DESK),
            post(alarm::take),
        ),
        r(
            "POST",
            "/console/alarms/{id}/note",
            Access::Roles(DESK),
            post(alarm::note),
        ),
        r(
            "POST",
            "/console/alarms/{id}/resolve",
            Access::Roles(DESK_AND_SHOP),
            post(alarm::resolve),
        ),
        r(
            "GET",
            "/console/shops",
            Access::Roles(DESK),
            get(fleet::shops),
        ),
        r(
            "POST",
            "/console/shops/import",
            Access::Roles(DESK),
            post(shop_record::import),
        ),
        r(
            "GET",
            "/console/shops/{id}",
            Access::Roles(DESK_AND_SHOP),
            get(fleet::shop),
        ),
        r(
            "POST",
            "/console/shops/{id}",
            Access::Roles(DESK_AND_SHOP),
            post(shop_record::edit),
        ),
        r(
            "POST",
            "/console/shops/{id}/codes",
            Access::Roles(DESK),
            post(fleet::new_code),
        ),
        r(
            "POST",
            "/console/shops/{id}/contacts",
            Access::Roles(DESK_AND_SHOP),
            post(contacts::add),
        ),
        r(
            "POST",
            "/console/contacts/{id}",
            Access::Roles(DESK_AND_SHOP),
            post(contacts::edit),
        ),
        r(
            "POST",
            "/console/contacts/{id}/tier",
            Access::Roles(DESK_AND_SHOP),
            post(contacts::tier),
        ),
        r(
            "POST",
            "/console/contacts/{id}/opt-in",
            Access::Roles(DESK_AND_SHOP),
            post(contacts::opt_in),
        ),
        r(
            "POST",
            "/console/contacts/{id}/remove",
            Access::Roles(DESK_AND_SHOP),
            post(contacts::remove),
        ),
        r(
            "GET",
            "/console/fleet",
            Access::Roles(DESK),
            get(fleet::fleet),
        ),
        r(
            "POST",
            "/console/fleet/hardware",
            Access::Roles(DESK),
            post(fleet::add_hardware),
        ),
        r(
            "POST",
            "/console/fleet/hardware/{serial}/assign",
            Access::Roles(DESK),
            post(fleet::assign),
        ),
        r(
            "POST",
            "/console/fleet/hardware/{serial}/state",
            Access::Roles(DESK),
            post(fleet::set_state),
        ),
        r(
            "GET",
            "/console/stats",
            Access::Roles(DESK),
            get(stats::page),
        ),
        r(
            "GET",
            "/console/stats.csv",
            Access::Roles(DESK),
            get(stats::csv),
        ),
        r(
            "GET",
            "/console/recordings",
            Access::Roles(EVIDENCE),
            get(evidence::list),
        ),
        r(
            "GET",
            "/console/recordings/{id}",
            Access::Roles(EVIDENCE),
            get(evidence::page),
        ),
        r(
            "POST",
            "/console/recordings/{id}/access",
            Access::Roles(EVIDENCE),
            post(evidence::access),
        ),
        r(
            "GET",
            "/console/recordings/{id}/audio",
            Access::Roles(EVIDENCE),
            get(evidence::audio),
        ),
        r(
            "POST",
            "/console/recordings/{id}/export",
            Access::Roles(EVIDENCE),
            post(evidence::export),
        ),
        r(
            "GET",
            "/console/accounts",
            Access::Roles(ADMIN),
            get(admin::accounts),
        ),
        r(
            "POST",
            "/console/accounts",
            Access::Roles(ADMIN),
            post(admin::create_account),
        ),
        r(
            "POST",
            "/console/accounts/{id}",
            Access::Roles(ADMIN),
            post(admin::change_account),
        ),
        r(
            "GET",
            "/console/audit",
            Access::Roles(ADMIN),
            get(admin::audit),
        ),
    ]
}

/// The rules alone, for tests and documentation.
pub fn route_rules() -> Vec<RouteRule> {
    routes().into_iter().map(|(rule, _)| rule).collect()
}

/// The console's router, every route behind its guard.
pub fn router(console: Console) -> Router {
    let mut router: Router<Console> = Router::new();
    for (rule, mr) in routes() {
        let guarded: MethodRouter<Console> = mr
            .layer::<_, std::convert::Infallible>(axum::middleware::from_fn_with_state(
                console.clone(),
                auth::guard,
            ))
            .layer::<_, std::convert::Infallible>(axum::Extension(rule));
        router = router.route(rule.path, guarded);
    }
    router
        .layer(axum::extract::DefaultBodyLimit::max(auth::FORM_BYTES_MAX))
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            auth::security_headers,
        ))
        .with_state(console)
}

/// Whether `method` is one that changes nothing (no CSRF token needed).
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// The console's settings from the hub's configuration file.
pub fn config_from(c: &vigie_hub::config::Config) -> ConsoleConfig {
    let url = c.server.public_url.trim_end_matches('/');
    let origin = url
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")));
    ConsoleConfig {
        region_name: c.console.region_name.clone(),
        secure_cookies: c.secure_cookies(),
        public_origin: origin,
        trusted_proxies: c.console.trusted_proxies.clone(),
        tiles: c.console.tiles_url.clone().map(|url_template| TileServer {
            url_template,
            attribution: c.console.tiles_attribution.clone(),
        }),
    }
}

/// Mount the console on a hub started with `vigie_hub::app::start_with_ui`.
pub fn mount(config: ConsoleConfig) -> vigie_hub::app::UiBuilder {
    Box::new(move |parts| {
        Ok(router(Console::new(
            parts.store,
            parts.clock,
            Some(parts.vault),
            config,
        )?))
    })
}

/// An account to create.
pub struct AccountRequest<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub shop_id: Option<i64>,
    pub password: &'a str,
    pub with_totp: bool,
}

/// Create an account (the password hashed here, never stored as typed);
/// with `with_totp`, a second factor is set up at once and its secret
/// returned, for scripts and tests that compute codes themselves.
pub async fn create_account(
    store: &Store,
    request: AccountRequest<'_>,
    now: vigie_core::Timestamp,
) -> anyhow::Result<(vigie_hub::store::Account, Option<String>)> {
    let AccountRequest {
        username,
        display_name,
        role,
        shop_id,
        password: password_text,
        with_totp,
    } = request;
    let pw = password_text.to_string();
    let hash = tokio::task::spawn_blocking(move || auth::password::hash(&pw)).await??;
    let secret = with_totp.then(auth::totp::new_secret);
    let account = store
        .create_account(
            vigie_hub::store::NewAccount {
                username: username.to_string(),
                display_name: display_name.to_string(),
                role,
                shop_id,
                password_hash: hash,
                totp_secret: secret.clone(),
            },
            now,
        )
        .await?;
    Ok((account, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tile_servers_origin_is_only_ever_a_scheme_and_host() {
        let t = |url: &str| TileServer {
            url_template: url.into(),
            attribution: String::new(),
        };
        assert_eq!(
            t("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
                .origin()
                .as_deref(),
            Some("https://tile.openstreetmap.org")
        );
        assert_eq!(
            t("http://127.0.0.1:8081/{z}/{x}/{y}.png")
                .origin()
                .as_deref(),
            Some("http://127.0.0.1:8081")
        );
        // Nothing that could widen the policy: another scheme, spaces, quotes, semicolons.
        for bad in [
            "javascript:alert(1)",
            "https://a.org; script-src *",
            "https://'self'/x",
            "ftp://a/b",
            "https:///x",
        ] {
            assert_eq!(t(bad).origin(), None, "{bad}");
        }
    }
}
