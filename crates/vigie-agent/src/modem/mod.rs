//! The box's own GSM modem (SIMCom/Quectel class, AT commands over a serial
//! port, 3GPP TS 27.005 in PDU mode): the emergency path when the hub
//! cannot be reached, with the holder's own SIM.

pub mod at;

use async_trait::async_trait;
use vigie_core::PhoneNumber;
use vigie_proto::ModemState;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModemError {
    /// The modem answered `+CMS ERROR: n` (TS 27.005 §3.2.5) or `ERROR`.
    #[error("the modem refused: {0}")]
    Refused(String),
    /// No answer in time, garbage, or the port is gone.
    #[error("the modem does not answer: {0}")]
    Unresponsive(String),
}

/// What the modem says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModemStatus {
    pub state: ModemState,
    /// `AT+CSQ` RSSI: 0–31, 99 unknown.
    pub signal_csq: Option<u8>,
}

#[async_trait]
pub trait Modem: Send + Sync {
    /// Send one SMS (one segment: texts come from `vigie_core::sms`), in PDU mode.
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), ModemError>;
    /// Registration, SIM and signal (`AT+CPIN?`, `AT+CREG?`, `AT+CSQ`).
    async fn status(&self) -> Result<ModemStatus, ModemError>;
}
