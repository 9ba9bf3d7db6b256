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
    /// The microphone; without it, a recording request is logged and ignored.
    #[serde(default)]
    pub recorder: Option<RecorderConfig>,
}

/// Where the box records from (only after the double press).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// ALSA input as cpal names it (`arecord -L`); `"default"` is the default input.
    #[serde(default)]
    pub device: Option<String>,
    /// A WAV file played as the microphone (tests, demos).
    #[serde(default)]
    pub wav: Option<PathBuf>,
    /// Longest recording, in seconds of audio.
    #[serde(default = "default_max_duration_s")]
    pub max_duration_s: u64,
}

fn default_max_duration_s() -> u64 {
    crate::recorder::RECORDING_MS_MAX_DEFAULT / 1_000
}

impl RecorderConfig {
    /// The source described: nothing is opened here (the recorder opens it).
    pub fn source(&self) -> Box<dyn crate::recorder::AudioSource> {
        use crate::recorder::{CpalSource, WavSource};
        match (&self.wav, self.device.as_deref()) {
            (Some(wav), _) => Box::new(WavSource::new(wav.clone())),
            (None, None | Some("default")) => Box::new(CpalSource::default_input()),
            (None, Some(name)) => Box::new(CpalSource::named(name)),
        }
    }

    pub fn max_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_duration_s)
    }
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
        let config: Self = toml::from_str(text).map_err(|e| format!("agent configuration: {e}"))?;
        if let Some(r) = &config.recorder {
            if r.device.is_some() == r.wav.is_some() {
                return Err(
                    "agent configuration: [recorder] needs exactly one of `device` or `wav`".into(),
                );
            }
            if r.max_duration_s == 0 {
                return Err(
                    "agent configuration: [recorder] max_duration_s must be above 0".into(),
                );
            }
        }
        Ok(config)
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

    #[test]
    fn recorder_section() {
        let c = AgentConfig::parse("state_dir = \"x\"\n").expect("valid");
        assert!(c.recorder.is_none(), "no section, no microphone");
        let c = AgentConfig::parse("state_dir = \"x\"\n[recorder]\ndevice = \"default\"\n")
            .expect("valid");
        let r = c.recorder.expect("recorder");
        assert_eq!(r.max_duration_s, 1_800);
        assert_eq!(r.source().describe(), "alsa:default");
        let c = AgentConfig::parse(
            "state_dir = \"x\"\n[recorder]\nwav = \"/tmp/s.wav\"\nmax_duration_s = 60\n",
        )
        .expect("valid");
        let r = c.recorder.expect("recorder");
        assert_eq!(
            (r.max_duration_s, r.source().describe()),
            (60, "wav:/tmp/s.wav".to_string())
        );
        for bad in [
            "[recorder]\n",
            "[recorder]\ndevice = \"hw:1\"\nwav = \"/a.wav\"\n",
            "[recorder]\ndevice = \"hw:1\"\nmax_duration_s = 0\n",
            "[recorder]\ndevise = \"hw:1\"\n",
        ] {
            let e = AgentConfig::parse(&format!("state_dir = \"x\"\n{bad}")).expect_err(bad);
            assert!(e.contains("recorder") || e.contains("devise"), "{e}");
        }
    }
}
