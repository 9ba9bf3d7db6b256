//! The hub's configuration: typed TOML, then `VIGIE__SECTION__KEY`
//! environment overrides. An unknown key or a bad value stops the hub at
//! start with the key named. Documented in `docs/ops/configuration.md`.

use crate::gateway::http::HttpConfig;
use crate::gateway::smpp::SmppConfig;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub escalation: EscalationConfig,
    #[serde(default)]
    pub devices: DevicesConfig,
    #[serde(default)]
    pub supervision: SupervisionConfig,
    #[serde(default)]
    pub vault: VaultConfig,
    #[serde(default)]
    pub console: ConsoleSection,
    /// The SIA DC-09 receiver (alarm panels and transmitters); off unless
    /// a listener is set.
    #[serde(default)]
    pub dc09: Dc09Config,
    /// Gateways in order of preference: the first one that works sends; a
    /// failed alert is retried on the next.
    #[serde(default)]
    pub gateways: Vec<GatewayConfig>,
}

/// `[console]`: the web console served under `/console`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// Shown in page titles and to authenticator apps.
    #[serde(default = "default_region_name")]
    pub region_name: String,
    /// Mark session cookies `Secure`. Default: yes when `server.public_url`
    /// is `https://` or names this machine (browsers accept secure cookies
    /// from `http://localhost` and `http://127.0.0.1`).
    #[serde(default)]
    pub secure_cookies: Option<bool>,
    /// Reverse proxies (their addresses) whose `X-Forwarded-For` names the
    /// client, for sign-in throttling behind a TLS terminator.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A web map tile server drawn under the Region's outlines, e.g.
    /// `https://tile.openstreetmap.org/{z}/{x}/{y}.png`; none: outlines only
    /// (nothing is then loaded from another site).
    #[serde(default)]
    pub tiles_url: Option<String>,
    /// The attribution the tile provider requires, shown on the map.
    #[serde(default = "default_tiles_attribution")]
    pub tiles_attribution: String,
}

fn default_tiles_attribution() -> String {
    "© les contributeurs d'OpenStreetMap".into()
}

fn default_region_name() -> String {
    "Région Auvergne-Rhône-Alpes".into()
}

impl Default for ConsoleSection {
    fn default() -> Self {
        Self {
            region_name: default_region_name(),
            secure_cookies: None,
            trusted_proxies: Vec::new(),
            tiles_url: None,
            tiles_attribution: default_tiles_attribution(),
        }
    }
}

impl Config {
    /// Whether the console's cookies are marked `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.console.secure_cookies.unwrap_or_else(|| {
            let url = self.server.public_url.as_str();
            url.starts_with("https://")
                || url.starts_with("http://127.0.0.1")
                || url.starts_with("http://localhost")
                || url.starts_with("http://[::1]")
        })
    }
}

/// `[dc09]`: the SIA DC-09 receiver (docs/ops/dc09.md). Transmitters are
/// data in the store (`vigie admin transmitter add`), not configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dc09Config {
    /// TCP address to receive frames on, e.g. `0.0.0.0:9000`; unset: no TCP.
    #[serde(default)]
    pub tcp_listen: Option<SocketAddr>,
    /// UDP address to receive frames on; unset: no UDP.
    #[serde(default)]
    pub udp_listen: Option<SocketAddr>,
    /// A frame's time may be this far behind the hub's clock (DC-09: 40),
    /// for transmitters registered without their own window.
    #[serde(default = "default_dc09_window_before_s")]
    pub window_before_s: u32,
    /// And this far ahead (DC-09: 20).
    #[serde(default = "default_dc09_window_after_s")]
    pub window_after_s: u32,
    /// TCP connections open at once, from every source.
    #[serde(default = "default_dc09_connections_max")]
    pub connections_max: u32,
    /// TCP connections open at once from one address (a receiving centre
    /// behind NAT may carry many panels).
    #[serde(default = "default_dc09_connections_per_source_max")]
    pub connections_per_source_max: u32,
    /// Bytes one TCP connection may hold waiting for a frame's end.
    #[serde(default = "default_dc09_connection_buffer_bytes_max")]
    pub connection_buffer_bytes_max: u32,
    /// A partial frame with no byte for this long is dropped.
    #[serde(default = "default_dc09_partial_frame_idle_s")]
    pub partial_frame_idle_s: u32,
    /// A TCP connection with no byte for this long is closed.
    #[serde(default = "default_dc09_connection_idle_s")]
    pub connection_idle_s: u32,
    /// UDP datagrams handled at once.
    #[serde(default = "default_dc09_udp_in_flight_max")]
    pub udp_in_flight_max: u32,
}

fn default_dc09_window_before_s() -> u32 {
    vigie_dc09::WINDOW_BEFORE_S_DEFAULT
}
fn default_dc09_window_after_s() -> u32 {
    vigie_dc09::WINDOW_AFTER_S_DEFAULT
}
fn default_dc09_connections_max() -> u32 {
    4_096
}
fn default_dc09_connections_per_source_max() -> u32 {
    64
}
fn default_dc09_connection_buffer_bytes_max() -> u32 {
    32 * 1_024
}
fn default_dc09_partial_frame_idle_s() -> u32 {
    10
}
fn default_dc09_connection_idle_s() -> u32 {
    300
}
fn default_dc09_udp_in_flight_max() -> u32 {
    256
}

impl Default for Dc09Config {
    fn default() -> Self {
        Self {
            tcp_listen: None,
            udp_listen: None,
            window_before_s: default_dc09_window_before_s(),
            window_after_s: default_dc09_window_after_s(),
            connections_max: default_dc09_connections_max(),
            connections_per_source_max: default_dc09_connections_per_source_max(),
            connection_buffer_bytes_max: default_dc09_connection_buffer_bytes_max(),
            partial_frame_idle_s: default_dc09_partial_frame_idle_s(),
            connection_idle_s: default_dc09_connection_idle_s(),
            udp_in_flight_max: default_dc09_udp_in_flight_max(),
        }
    }
}

impl Dc09Config {
    fn check(&self) -> Result<(), String> {
        if self.connection_buffer_bytes_max < vigie_dc09::FRAME_BYTES_MAX as u32 {
            return Err(format!(
                "dc09.connection_buffer_bytes_max must hold one whole frame: at least {}",
                vigie_dc09::FRAME_BYTES_MAX
            ));
        }
        for (key, v) in [
            ("dc09.connections_max", self.connections_max),
            (
                "dc09.connections_per_source_max",
                self.connections_per_source_max,
            ),
            ("dc09.partial_frame_idle_s", self.partial_frame_idle_s),
            ("dc09.connection_idle_s", self.connection_idle_s),
            ("dc09.udp_in_flight_max", self.udp_in_flight_max),
        ] {
            if v == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        if self.window_before_s > 3_600 || self.window_after_s > 3_600 {
            return Err("dc09.window_before_s and dc09.window_after_s are at most 3600 (a wider window lets old frames be replayed)".into());
        }
        Ok(())
    }
}

/// The evidence vault: keys, encrypted audio, trusted time, retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Hub keys (mode 0600) and encrypted audio; default: `vault/` beside
    /// the SQLite database.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// RFC 3161 time-stamping authorities, tried in order (a qualified
    /// eIDAS TSA in production). Exports need one.
    #[serde(default)]
    pub tsa_urls: Vec<String>,
    /// The TSAs' certificate chain (PEM, root last), copied into exports.
    #[serde(default)]
    pub tsa_chain_pem: Option<PathBuf>,
    /// Days a recording is kept without a legal hold.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// S3-compatible object storage for the encrypted audio instead of
    /// `dir/blobs` (the keys stay in `dir`).
    #[serde(default)]
    pub s3: Option<S3Config>,
}

/// `[vault.s3]`: an S3-compatible bucket (AWS, MinIO, Garage, Ceph…). The
/// audio is encrypted before it leaves the hub.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// The service's URL (`https://s3.example.net`); unset: AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "default_s3_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Allow a plain `http://` endpoint (a test server on loopback).
    #[serde(default)]
    pub allow_http: bool,
}

fn default_s3_region() -> String {
    "us-east-1".into()
}

fn default_retention_days() -> u32 {
    crate::store::vault::RETENTION_DAYS_DEFAULT
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            dir: None,
            tsa_urls: Vec::new(),
            tsa_chain_pem: None,
            retention_days: default_retention_days(),
            s3: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The hub's address as contacts' phones reach it, for links in SMS.
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// Connections open at once at most; one more is closed at once. The
    /// hub raises its open-files limit to fit (docs/ops/configuration.md).
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
    /// A request's headers must arrive within this, and an idle
    /// keep-alive connection is closed after it.
    #[serde(default = "default_header_read_timeout_s")]
    pub header_read_timeout_s: u32,
    /// A whole request (body included) must be read and answered within
    /// this; live streams are answered at once and are not bound by it.
    #[serde(default = "default_request_timeout_s")]
    pub request_timeout_s: u32,
    /// This hub's name among the hubs sharing one database (the leases'
    /// holder). Default: the host's name and the port it listens on, which
    /// a restarted hub keeps, so it takes its own leases back at once.
    #[serde(default)]
    pub hub_id: Option<String>,
}

fn default_connections_max() -> u32 {
    16_384
}
fn default_header_read_timeout_s() -> u32 {
    10
}
fn default_request_timeout_s() -> u32 {
    30
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_public_url() -> String {
    "http://127.0.0.1:8080".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: default_public_url(),
            connections_max: default_connections_max(),
            header_read_timeout_s: default_header_read_timeout_s(),
            request_timeout_s: default_request_timeout_s(),
            hub_id: None,
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite database file (created if missing): the default store.
    #[serde(default = "default_db")]
    pub sqlite_path: PathBuf,
    /// A PostgreSQL database instead (`postgres://user:password@host/db`,
    /// several hosts and `target_session_attrs=read-write` accepted): the
    /// store several hubs share. Takes the place of `sqlite_path`.
    #[serde(default)]
    pub url: Option<String>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("location", &self.location())
            .finish()
    }
}

impl StoreConfig {
    /// Where the store lives.
    pub fn location(&self) -> crate::store::Location {
        match &self.url {
            Some(url) => crate::store::Location::Postgres(url.clone()),
            None => crate::store::Location::Sqlite(self.sqlite_path.clone()),
        }
    }

    fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "store.url: {:?} is not a PostgreSQL URL; write postgres://user@host/database, or remove store.url to use sqlite_path",
                crate::store::redact_url(url)
            ));
        }
        Ok(())
    }
}

fn default_db() -> PathBuf {
    PathBuf::from("vigie.db")
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            sqlite_path: default_db(),
            url: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// Time given to a tier before the next one is alerted.
    #[serde(default = "default_tier_timeout_s")]
    pub tier_timeout_s: u32,
    /// Start over from the first tier after the last.
    #[serde(default = "default_true")]
    pub repeat: bool,
    /// No new escalation step after this long.
    #[serde(default = "default_duration_max_s")]
    pub duration_max_s: u32,
    /// How many attempts an alert SMS gets, each on the next gateway.
    #[serde(default = "default_attempts_max")]
    pub attempts_max: u32,
}

fn default_tier_timeout_s() -> u32 {
    60
}
fn default_true() -> bool {
    true
}
fn default_duration_max_s() -> u32 {
    1_800
}
fn default_attempts_max() -> u32 {
    3
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            tier_timeout_s: default_tier_timeout_s(),
            repeat: true,
            duration_max_s: default_duration_max_s(),
            attempts_max: default_attempts_max(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// A long press cancels within this time after the press.
    #[serde(default = "default_cancel_window_s")]
    pub cancel_window_s: u32,
    /// Signed requests whose `created` is further than this from the hub's clock are refused.
    #[serde(default = "default_signature_skew_s")]
    pub signature_skew_s: u32,
    /// Days an enrolment code stays valid.
    #[serde(default = "default_code_days")]
    pub enrolment_code_days: u32,
    #[serde(default = "default_heartbeat_s")]
    pub heartbeat_interval_s: u32,
}

fn default_cancel_window_s() -> u32 {
    60
}
fn default_signature_skew_s() -> u32 {
    300
}
fn default_code_days() -> u32 {
    30
}
fn default_heartbeat_s() -> u32 {
    60
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            cancel_window_s: default_cancel_window_s(),
            signature_skew_s: default_signature_skew_s(),
            enrolment_code_days: default_code_days(),
            heartbeat_interval_s: default_heartbeat_s(),
        }
    }
}

/// How boxes are watched: offline detection, flags, silent tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionConfig {
    /// A box silent for this many heartbeat intervals is declared offline.
    #[serde(default = "default_offline_after_intervals")]
    pub offline_after_intervals: u32,
    /// Battery charge below which a box is flagged.
    #[serde(default = "default_battery_low_pct")]
    pub battery_low_pct: u8,
    /// Boxes run a silent end-to-end test this often.
    #[serde(default = "default_test_period_days")]
    pub test_period_days: u32,
    /// Grace after the period before a shop is flagged "not ready".
    #[serde(default = "default_test_slack_hours")]
    pub test_slack_hours: u32,
    /// The number that receives the test SMS; unset: the shop's holder.
    #[serde(default)]
    pub test_sink_phone: Option<String>,
}

fn default_offline_after_intervals() -> u32 {
    3
}
fn default_battery_low_pct() -> u8 {
    20
}
fn default_test_period_days() -> u32 {
    7
}
fn default_test_slack_hours() -> u32 {
    24
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        Self {
            offline_after_intervals: default_offline_after_intervals(),
            battery_low_pct: default_battery_low_pct(),
            test_period_days: default_test_period_days(),
            test_slack_hours: default_test_slack_hours(),
            test_sink_phone: None,
        }
    }
}

impl SupervisionConfig {
    /// The thresholds as the core uses them.
    pub fn limits(&self, heartbeat_interval_s: u32) -> vigie_core::supervision::Limits {
        vigie_core::supervision::Limits {
            heartbeat_interval_ms: i64::from(heartbeat_interval_s) * 1_000,
            offline_after_intervals: self.offline_after_intervals,
            battery_low_pct: self.battery_low_pct,
            test_period_ms: i64::from(self.test_period_days) * 86_400_000,
            test_slack_ms: i64::from(self.test_slack_hours) * 3_600_000,
        }
    }

    /// The test number, parsed (checked at start by `Config::validate`).
    pub fn test_sink(&self) -> Option<vigie_core::PhoneNumber> {
        self.test_sink_phone
            .as_deref()
            .and_then(|p| vigie_core::PhoneNumber::parse(p).ok())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GatewayConfig {
    Smpp(SmppConfig),
    Http(HttpConfig),
    /// Prints SMS instead of sending them (demo).
    Log {
        name: String,
        /// Report every SMS delivered at once, as a network would (false:
        /// no receipts, for tests that give them).
        #[serde(default = "default_true")]
        receipts: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Parse TOML text, applying `VIGIE__SECTION__KEY=value` overrides from `env`.
    pub fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        for (key, value) in env {
            let Some(path) = key.strip_prefix("VIGIE__") else {
                continue;
            };
            let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if parts.iter().any(String::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "bad environment override {key}"
                )));
            }
            set_path(&mut table, &parts, parse_scalar(&value))
                .map_err(|e| ConfigError::Invalid(format!("environment override {key}: {e}")))?;
        }
        let text = toml::to_string(&table).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, std::env::vars())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.store.check().map_err(ConfigError::Invalid)?;
        self.dc09.check().map_err(ConfigError::Invalid)?;
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(
                "server.public_url must start with http:// or https://".into(),
            ));
        }
        // Links in SMS are this address plus a short path: a longer one
        // would leave no room for the link in a one-segment SMS.
        let url = self.server.public_url.trim_end_matches('/');
        let max = vigie_core::sms::PUBLIC_URL_SEPTETS_MAX;
        if vigie_core::gsm::gsm_septets(url).is_none_or(|n| n > max) {
            return Err(ConfigError::Invalid(format!(
                "server.public_url must be at most {max} plain characters (it ends every SMS link); use a shorter address"
            )));
        }
        if !(1..=1_800).contains(&self.devices.signature_skew_s) {
            return Err(ConfigError::Invalid(
                "devices.signature_skew_s must be 1 to 1800 (replayed requests are refused for an hour)"
                    .into(),
            ));
        }
        if self.server.connections_max < 16 {
            return Err(ConfigError::Invalid(
                "server.connections_max must be at least 16".into(),
            ));
        }
        if self.server.header_read_timeout_s == 0 || self.server.request_timeout_s == 0 {
            return Err(ConfigError::Invalid(
                "server.header_read_timeout_s and server.request_timeout_s must be at least 1"
                    .into(),
            ));
        }
        if self.escalation.tier_timeout_s == 0 {
            return Err(ConfigError::Invalid(
                "escalation.tier_timeout_s must be at least 1".into(),
            ));
        }
        if self.escalation.attempts_max == 0 {
            return Err(ConfigError::Invalid(
                "escalation.attempts_max must be at least 1".into(),
            ));
        }
        if self.devices.heartbeat_interval_s == 0 {
            return Err(ConfigError::Invalid(
                "devices.heartbeat_interval_s must be at least 1".into(),
            ));
        }
        let sup = &self.supervision;
        if sup.offline_after_intervals == 0 {
            return Err(ConfigError::Invalid(
                "supervision.offline_after_intervals must be at least 1".into(),
            ));
        }
        if sup.battery_low_pct > 100 {
            return Err(ConfigError::Invalid(
                "supervision.battery_low_pct is a percentage (0 to 100)".into(),
            ));
        }
        if sup.test_period_days == 0 {
            return Err(ConfigError::Invalid(
                "supervision.test_period_days must be at least 1".into(),
            ));
        }
        if let Some(p) = &sup.test_sink_phone
            && let Err(e) = vigie_core::PhoneNumber::parse(p)
        {
            return Err(ConfigError::Invalid(format!(
                "supervision.test_sink_phone: {e}"
            )));
        }
        if let Some(s3) = &self.vault.s3 {
            if s3.bucket.trim().is_empty() {
                return Err(ConfigError::Invalid(
                    "vault.s3.bucket must not be empty".into(),
                ));
            }
            if let Some(e) = &s3.endpoint
                && e.starts_with("http://")
                && !s3.allow_http
            {
                return Err(ConfigError::Invalid(
                    "vault.s3.endpoint is plain http://: set vault.s3.allow_http = true (tests only)"
                        .into(),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for g in &self.gateways {
            let name = match g {
                GatewayConfig::Smpp(c) => &c.name,
                GatewayConfig::Http(c) => &c.name,
                GatewayConfig::Log { name, .. } => name,
            };
            if !names.insert(name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "gateways: the name {name:?} is used twice"
                )));
            }
        }
        Ok(())
    }
}

fn parse_scalar(value: &str) -> toml::Value {
    if let Ok(b) = value.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    // Phone numbers ("+33…", "06…") look like integers but are text.
    if value.starts_with('+') || (value.len() > 1 && value.starts_with('0')) {
        return toml::Value::String(value.to_string());
    }
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(value.to_string())
}

fn set_path(table: &mut toml::Table, parts: &[String], value: toml::Value) -> Result<(), String> {
    match parts {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [head, rest @ ..] => {
            let entry = table
                .entry(head.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("{head} is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_env_overrides_and_named_errors() {
        let c = Config::parse("", []).expect("empty config is valid");
        assert_eq!(c.escalation.tier_timeout_s, 60);
        let c = Config::parse(
            "[server]\nlisten = \"127.0.0.1:9000\"\n",
            [
                (
                    "VIGIE__ESCALATION__TIER_TIMEOUT_S".to_string(),
                    "90".to_string(),
                ),
                ("OTHER".into(), "x".into()),
            ],
        )
        .expect("valid");
        assert_eq!(c.escalation.tier_timeout_s, 90);
        assert_eq!(c.server.listen.port(), 9000);
        let e = Config::parse("[server]\nlisten_addr = \"x\"\n", []).expect_err("unknown key");
        assert!(e.to_string().contains("listen_addr"), "{e}");
        let e =
            Config::parse("[escalation]\ntier_timeout_s = \"soon\"\n", []).expect_err("bad type");
        assert!(e.to_string().contains("tier_timeout_s"), "{e}");
        let e = Config::parse(
            "",
            [(
                "VIGIE__SERVER__PUBLIC_URL".to_string(),
                "ftp://x".to_string(),
            )],
        )
        .expect_err("bad url");
        assert!(e.to_string().contains("public_url"), "{e}");
        let long = format!("https://{}.fr", "a".repeat(60));
        let e = Config::parse("", [("VIGIE__SERVER__PUBLIC_URL".to_string(), long)])
            .expect_err("an address that leaves no room for SMS links");
        assert!(e.to_string().contains("at most 64"), "{e}");
        let e = Config::parse("[[gateways]]\nkind = \"log\"\nname = \"a\"\n[[gateways]]\nkind = \"log\"\nname = \"a\"\n", [])
            .expect_err("duplicate");
        assert!(e.to_string().contains("used twice"), "{e}");
    }

    #[test]
    fn vault_s3_section() {
        assert!(Config::parse("", []).expect("defaults").vault.s3.is_none());
        let c = Config::parse(
            "[vault.s3]\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:9000\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\nallow_http = true\n",
            [],
        )
        .expect("valid");
        let s3 = c.vault.s3.expect("s3 section");
        assert_eq!((s3.bucket.as_str(), s3.region.as_str()), ("b", "us-east-1"));
        assert!(
            !format!("{s3:?}").contains("\"s\""),
            "the secret is not printed"
        );
        for (toml, key) in [
            (
                "[vault.s3]\nbucket = \"b\"\nendpoint = \"http://x\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n",
                "allow_http",
            ),
            (
                "[vault.s3]\nbucket = \"\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n",
                "bucket",
            ),
            ("[vault.s3]\nbucket = \"b\"\n", "access_key_id"),
        ] {
            let e = Config::parse(toml, []).expect_err(toml);
            assert!(e.to_string().contains(key), "{toml}: {e}");
        }
    }

    #[test]
    fn supervision_section() {
        let c = Config::parse("", []).expect("defaults");
        assert_eq!(c.supervision.offline_after_intervals, 3);
        assert_eq!(c.supervision.limits(60).offline_after_ms(), 180_000);
        assert!(c.supervision.test_sink().is_none());
        let c = Config::parse(
            "[supervision]\noffline_after_intervals = 5\n",
            [(
                "VIGIE__SUPERVISION__TEST_SINK_PHONE".to_string(),
                "+33612345678".to_string(),
            )],
        )
        .expect("valid");
        assert_eq!(c.supervision.offline_after_intervals, 5);
        assert_eq!(
            c.supervision.test_sink().map(|p| p.as_e164().to_string()),
            Some("+33612345678".to_string())
        );
        for (toml, key) in [
            ("[supervision]\noffline_after = 3\n", "offline_after"),
            (
                "[supervision]\noffline_after_intervals = 0\n",
                "offline_after_intervals",
            ),
            ("[supervision]\nbattery_low_pct = 120\n", "battery_low_pct"),
            (
                "[supervision]\ntest_sink_phone = \"12\"\n",
                "test_sink_phone",
            ),
            (
                "[devices]\nheartbeat_interval_s = 0\n",
                "heartbeat_interval_s",
            ),
        ] {
            let e = Config::parse(toml, []).expect_err(toml);
            assert!(e.to_string().contains(key), "{toml}: {e}");
        }
    }
}
