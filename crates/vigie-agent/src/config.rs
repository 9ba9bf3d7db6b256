//! The box's configuration: typed TOML, unknown keys refused with the key
//! named. Documented in `docs/ops/box.md`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the device's key (mode 0600), the outbox and the cached
    /// settings live.
    pub state_dir: PathBuf,
    #[serde(default)]
    pub button: ButtonConfig,
    /// The modem carrying the holder's SIM; without it, no direct SMS.
    #[serde(default)]
    pub modem: Option<ModemConfig>,
    /// Without a hub: every alarm goes straight out through the modem.
    #[serde(default)]
    pub direct_only: Option<DirectOnlyConfig>,
    /// Overrides of what the hub says (mostly for tests and benchmarks).
    #[serde(default)]
    pub timing: TimingConfig,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ButtonConfig {
    /// Lines on standard input: `p` press, `d` double press, `l` long press.
    #[default]
    Stdin,
    /// A GPIO line through the character device (uAPI v2).
    Gpio {
        chip: PathBuf,
        line: u32,
        #[serde(default = "default_true")]
        active_low: bool,
    },
    /// A USB HID foot switch or key (evdev).
    Evdev { device: PathBuf, key_code: u16 },
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModemConfig {
    /// Serial port of the modem's AT interface, e.g. `/dev/ttyUSB2`.
    pub port: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
}

fn default_baud() -> u32 {
    115_200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectOnlyConfig {
    pub shop_name: String,
    pub address: String,
    pub commune: String,
    /// E.164 or French national numbers.
    pub contacts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TimingConfig {
    /// Send the SMS through the modem if the hub has not confirmed by then.
    pub direct_sms_delay_ms: Option<i64>,
    pub heartbeat_interval_s: Option<u32>,
    /// Hours between silent end-to-end tests (default a week; 0: never).
    pub self_test_interval_h: Option<u32>,
}

impl AgentConfig {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("agent configuration: {e}"))
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_keys() {
        let c = AgentConfig::parse("state_dir = \"/var/lib/vigie\"\n[button]\nkind = \"gpio\"\nchip = \"/dev/gpiochip0\"\nline = 17\n[modem]\nport = \"/dev/ttyUSB2\"\n")
            .expect("valid");
        assert!(matches!(
            c.button,
            ButtonConfig::Gpio {
                line: 17,
                active_low: true,
                ..
            }
        ));
        assert_eq!(c.modem.map(|m| m.baud), Some(115_200));
        let e = AgentConfig::parse("state_dir = \"x\"\nhub = \"y\"\n").expect_err("unknown key");
        assert!(e.contains("hub"), "{e}");
        let e = AgentConfig::parse("[button]\nkind = \"stdin\"\n").expect_err("missing state_dir");
        assert!(e.contains("state_dir"), "{e}");
    }
}
