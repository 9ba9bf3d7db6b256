//! SMPP 3.4 transceiver gateway.
//!
//! `SmppGateway::start` returns at once and leaves a background task that
//! connects, binds as a transceiver (SMPP 3.4), forwards delivery receipts
//! and contacts' replies to the `Inbound` channel, and reconnects with
//! exponential backoff and jitter whenever the link breaks (peer closed,
//! enquire_link unanswered, broken frame, submit timed out).
//!
//! `submit` never waits for a connection: when the link is down it answers
//! `Transient` at once so the dispatcher can try later or elsewhere.
//! rusmppc has no window of its own, so a semaphore bounds in-flight submits.
//!
//! Invariants: no phone number is logged in full (`PhoneNumber`'s `Display`
//! masks it), the password never leaves `SecretString` except into the bind.

use super::{Gateway, GatewayError, Inbound, InboundTx, OutgoingSms, ReceiptRef, Submitted};
use async_trait::async_trait;
use futures::StreamExt;
use rusmpp::pdus::{BindTransceiver, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, MessageState, Npi, RegisteredDelivery,
    ServiceType, Ton,
};
use rusmpp::{CommandId, CommandStatus, Pdu};
use rusmppc::{Client, ConnectionBuilder, Event};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};
use vigie_core::gsm::{Encoding, GSM_BASIC, GSM_EXTENSION, septets_of};

/// First pause before reconnecting: short, a dropped link is often back at once.
const BACKOFF_MIN_MS: u64 = 100;
/// Longest pause between attempts: an SMSC back up is found within 10 s,
/// while a down one sees at most one connection attempt per ~10 s from us.
const BACKOFF_MAX_MS: u64 = 10_000;
/// TCP connect on a dead route can hang for minutes; an SMSC answers fast.
const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Largest PDU we accept from the SMSC (a deliver_sm with a long
/// message_payload fits); a garbage length beyond this breaks the link.
const PDU_BYTES_MAX: usize = 8_192;
/// short_message is an octet string of at most 254 bytes (SMPP 3.4 §5.2.22);
/// longer texts go in the message_payload TLV.
const SHORT_MESSAGE_BYTES_MAX: usize = 254;
/// message_payload carries at most 64 KiB; our alerts are far below that.
const MESSAGE_PAYLOAD_BYTES_MAX: usize = 65_535;
/// system_id is a C-octet string of 16 bytes with its NUL; password of 9.
const SYSTEM_ID_CHARS_MAX: usize = 15;
const PASSWORD_CHARS_MAX: usize = 8;
/// An alphanumeric sender shows at most 11 characters on a handset.
const SOURCE_ALPHANUMERIC_CHARS_MAX: usize = 11;
/// E.164 numbers have at most 15 digits.
const SOURCE_DIGITS_MAX: usize = 15;

fn default_window() -> usize {
    32
}
fn default_enquire_link_s() -> u64 {
    30
}
fn default_response_timeout_ms() -> u64 {
    5_000
}

/// One SMPP account at an SMSC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: SecretString,
    /// The sender shown to contacts: alphanumeric ("VIGIE") or a number.
    pub source_addr: String,
    /// Whether contacts can reply to this sender (a number, not a name).
    pub replies: bool,
    /// Submits in flight at once.
    #[serde(default = "default_window")]
    pub window: usize,
    /// The sending rate agreed with the provider (SMS per second); none: as
    /// fast as the window allows, slowing down when throttled.
    #[serde(default)]
    pub max_per_s: Option<u32>,
    #[serde(default = "default_enquire_link_s")]
    pub enquire_link_s: u64,
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
}

impl SmppConfig {
    /// Check what the SMSC would refuse, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.system_id.is_empty() || self.system_id.len() > SYSTEM_ID_CHARS_MAX {
            return Err(format!(
                "smpp.system_id: 1 to {SYSTEM_ID_CHARS_MAX} characters"
            ));
        }
        if self.password.expose_secret().len() > PASSWORD_CHARS_MAX {
            return Err(format!(
                "smpp.password: at most {PASSWORD_CHARS_MAX} characters"
            ));
        }
        if self.window == 0 {
            return Err("smpp.window: at least 1".into());
        }
        if self.response_timeout_ms == 0 || self.enquire_link_s == 0 {
            return Err("smpp.response_timeout_ms / smpp.enquire_link_s: at least 1".into());
        }
        source_address(&self.source_addr).map(|_| ())
    }
}

/// The source address and its type: letters make it alphanumeric.
fn source_address(source: &str) -> Result<(Ton, Npi, COctetString<1, 21>), String> {
    let digits = source.strip_prefix('+').unwrap_or(source);
    let (ton, npi, value, max) = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    {
        (Ton::International, Npi::Isdn, digits, SOURCE_DIGITS_MAX)
    } else {
        (
            Ton::Alphanumeric,
            Npi::Unknown,
            source,
            SOURCE_ALPHANUMERIC_CHARS_MAX,
        )
    };
    if value.is_empty() || value.len() > max || !value.is_ascii() {
        return Err(format!("smpp.source_addr: 1 to {max} ASCII characters"));
    }
    let addr = COctetString::from_str(value).map_err(|e| format!("smpp.source_addr: {e}"))?;
    Ok((ton, npi, addr))
}

/// State shared by the gateway handle and its connection task.
struct Link {
    /// The bound client, `None` while disconnected.
    client: watch::Sender<Option<Client>>,
    /// Why the last connection or bind failed, for `submit`'s error.
    last_error: Mutex<Option<String>>,
    /// A submit saw the link misbehave (timeout): drop and reconnect.
    reconnect: Notify,
}

impl Link {
    fn set_error(&self, error: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }
}

pub struct SmppGateway {
    config: SmppConfig,
    link: Arc<Link>,
    window: Semaphore,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmppGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmppGateway {
    /// Start connecting in the background; returns at once.
    pub fn start(config: SmppConfig, inbound: InboundTx) -> SmppGateway {
        let link = Arc::new(Link {
            client: watch::channel(None).0,
            last_error: Mutex::new(None),
            reconnect: Notify::new(),
        });
        let task = tokio::spawn(run(config.clone(), link.clone(), inbound));
        let window = Semaphore::new(config.window.max(1));
        SmppGateway {
            config,
            link,
            window,
            task,
        }
    }

    /// Whether the gateway is currently bound to its SMSC.
    pub fn is_bound(&self) -> bool {
        self.link
            .client
            .borrow()
            .as_ref()
            .is_some_and(|c| c.is_active())
    }

    fn bound_client(&self) -> Result<Client, GatewayError> {
        match self.link.client.borrow().as_ref() {
            Some(client) if client.is_active() => Ok(client.clone()),
            _ => {
                let why = self.link.last_error.lock().ok().and_then(|e| e.clone());
                Err(GatewayError::Transient(match why {
                    Some(why) => format!("not bound ({why})"),
                    None => "not bound".into(),
                }))
            }
        }
    }
}

#[async_trait]
impl Gateway for SmppGateway {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn accepts_replies(&self) -> bool {
        self.config.replies
    }
    fn window(&self) -> usize {
        self.config.window
    }
    fn max_per_s(&self) -> Option<u32> {
        self.config.max_per_s
    }

    async fn submit(&self, sms: &OutgoingSms) -> Result<Submitted, GatewayError> {
        self.bound_client()?;
        let timeout = Duration::from_millis(self.config.response_timeout_ms);
        // A full window frees as responses arrive or time out; waiting longer
        // than one response timeout means the link is stuck.
        let _permit = tokio::time::timeout(timeout, self.window.acquire())
            .await
            .map_err(|_| GatewayError::Transient("window full".into()))?
            .map_err(|_| GatewayError::Transient("gateway closed".into()))?;
        let client = self.bound_client()?;
        let submit = build_submit(&self.config.source_addr, sms)?;
        match client.submit_sm(submit).await {
            Ok(resp) => {
                let message_id = resp.message_id().as_str().to_string();
                tracing::debug!(gateway = %self.config.name, to = %sms.to, %message_id, "smpp submitted");
                Ok(Submitted {
                    message_id: Some(message_id),
                })
            }
            Err(rusmppc::error::Error::UnexpectedResponse { response }) => {
                let status = response.status();
                let error = match status {
                    CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful => {
                        GatewayError::Throttled
                    }
                    other => GatewayError::Rejected(status_name(other)),
                };
                tracing::info!(gateway = %self.config.name, to = %sms.to, status = %status_name(status), "smpp submit refused");
                Err(error)
            }
            Err(error) => {
                tracing::warn!(gateway = %self.config.name, to = %sms.to, %error, "smpp submit failed, reconnecting");
                self.link.reconnect.notify_waiters();
                Err(GatewayError::Transient(format!("submit_sm: {error}")))
            }
        }
    }
}

/// `ESME_RINVDSTADR 0x0000000B`, from rusmpp's `EsmeRinvdstadr`.
fn status_name(status: CommandStatus) -> String {
    let code = u32::from(status);
    let debug = format!("{status:?}");
    match debug.strip_prefix("Esme") {
        Some(rest) => format!("ESME_{} 0x{code:08X}", rest.to_uppercase()),
        None => format!("command_status 0x{code:08X}"),
    }
}

fn build_submit(source: &str, sms: &OutgoingSms) -> Result<SubmitSm, GatewayError> {
    let (source_ton, source_npi, source_addr) =
        source_address(source).map_err(GatewayError::Rejected)?;
    let destination = COctetString::from_str(sms.to.digits())
        .map_err(|e| GatewayError::Rejected(format!("destination: {e}")))?;
    let (data_coding, bytes) = encode(&sms.text, sms.encoding);
    let builder = SubmitSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(source_addr)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(destination)
        .esm_class(EsmClass::default())
        // SMSC delivery receipt on success and failure (bit 0).
        .registered_delivery(RegisteredDelivery::from(1u8))
        .data_coding(data_coding);
    let builder = if bytes.len() <= SHORT_MESSAGE_BYTES_MAX {
        let short = OctetString::from_slice(&bytes)
            .map_err(|e| GatewayError::Rejected(format!("short_message: {e}")))?;
        builder.short_message(short)
    } else if bytes.len() <= MESSAGE_PAYLOAD_BYTES_MAX {
        builder.short_message(OctetString::empty()).push_tlv(
            MessageSubmissionRequestTlvValue::MessagePayload(MessagePayload::new(
                AnyOctetString::from_vec(bytes),
            )),
        )
    } else {
        return Err(GatewayError::Rejected(format!(
            "text too long: {} bytes",
            bytes.len()
        )));
    };
    Ok(builder.build())
}

/// GSM 03.38 as unpacked septets (one byte each, extension characters as
/// 0x1B + code), or UCS-2 big-endian when the text needs it.
fn encode(text: &str, encoding: Encoding) -> (DataCoding, Vec<u8>) {
    if let Encoding::Gsm7 { .. } = encoding {
        let mut out = Vec::with_capacity(text.len());
        let all_gsm = text.chars().all(|c| match septets_of(c) {
            Some((code, None)) => {
                out.push(code);
                true
            }
            Some((escape, Some(code))) => {
                out.extend([escape, code]);
                true
            }
            None => false,
        });
        if all_gsm {
            return (DataCoding::McSpecific, out);
        }
    }
    let ucs2 = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    (DataCoding::Ucs2, ucs2)
}

/// Text of a deliver_sm per its data_coding.
fn decode(bytes: &[u8], data_coding: u8) -> String {
    match data_coding & 0x0F {
        0x00 => {
            let mut out = String::with_capacity(bytes.len());
            let mut it = bytes.iter();
            while let Some(&b) = it.next() {
                if b == 0x1B {
                    if let Some(&code) = it.next() {
                        let ext = GSM_EXTENSION
                            .iter()
                            .find(|(_, c)| *c == code)
                            .map(|(ch, _)| *ch);
                        out.push(ext.unwrap_or(GSM_BASIC[usize::from(code & 0x7F)]));
                    }
                } else {
                    out.push(GSM_BASIC[usize::from(b & 0x7F)]);
                }
            }
            out
        }
        0x08 => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        0x03 => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The connection task: connect, bind, serve, back off, again.
async fn run(config: SmppConfig, link: Arc<Link>, inbound: InboundTx) {
    let gateway = config.name.clone();
    if let Err(error) = config.validate() {
        tracing::error!(%gateway, %error, "smpp configuration invalid, gateway stays down");
        link.set_error(error);
        return;
    }
    let mut backoff_ms = BACKOFF_MIN_MS;
    loop {
        match connect(&config).await {
            Ok((client, events)) => {
                tracing::info!(%gateway, host = %config.host, port = config.port, "smpp bound");
                backoff_ms = BACKOFF_MIN_MS;
                if let Ok(mut last) = link.last_error.lock() {
                    *last = None;
                }
                link.client.send_replace(Some(client.clone()));
                let why = serve(&gateway, &client, events, &link, &inbound).await;
                link.client.send_replace(None);
                let _ = client.close().await;
                tracing::warn!(%gateway, reason = %why, "smpp link lost");
                link.set_error(format!("link lost: {why}"));
            }
            Err(error) => {
                tracing::warn!(%gateway, %error, retry_ms = backoff_ms, "smpp connect failed");
                link.set_error(error);
            }
        }
        tokio::time::sleep(Duration::from_millis(jittered(backoff_ms))).await;
        backoff_ms = (backoff_ms * 2).min(BACKOFF_MAX_MS);
    }
}

/// Between half and all of `ms`, so gateways that lost the same SMSC do not
/// all come back at the same instant.
fn jittered(ms: u64) -> u64 {
    use rand::Rng;
    ms / 2 + rand::thread_rng().gen_range(0..=ms / 2)
}

async fn connect(
    config: &SmppConfig,
) -> Result<(Client, impl futures::Stream<Item = Event> + Unpin + 'static), String> {
    let timeout = Duration::from_millis(config.response_timeout_ms);
    let stream = tokio::time::timeout(
        Duration::from_millis(CONNECT_TIMEOUT_MS),
        tokio::net::TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (client, events) = ConnectionBuilder::new()
        .max_command_length(PDU_BYTES_MAX)
        .enquire_link_interval(Duration::from_secs(config.enquire_link_s))
        .enquire_link_response_timeout(timeout)
        .response_timeout(timeout)
        // rusmppc speaks SMPP 5.0 but the PDUs we use are 3.4's.
        .disable_interface_version_check()
        .connected(stream);
    let bind = BindTransceiver::builder()
        .system_id(credential(&config.system_id, "system_id")?)
        .password(credential(config.password.expose_secret(), "password")?)
        .system_type(COctetString::empty())
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build();
    match client.bind_transceiver(bind).await {
        Ok(_) => Ok((client, events)),
        Err(error) => {
            let _ = client.close().await;
            Err(match error {
                rusmppc::error::Error::UnexpectedResponse { response } => {
                    format!("bind failed: {}", status_name(response.status()))
                }
                other => format!("bind failed: {other}"),
            })
        }
    }
}

fn credential<const N: usize>(value: &str, key: &str) -> Result<COctetString<1, N>, String> {
    COctetString::from_str(value).map_err(|e| format!("smpp.{key}: {e}"))
}

/// Handle the SMSC's commands until the link breaks; returns why.
async fn serve(
    gateway: &str,
    client: &Client,
    mut events: impl futures::Stream<Item = Event> + Unpin,
    link: &Link,
    inbound: &InboundTx,
) -> String {
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = link.reconnect.notified() => return "a submit timed out".into(),
        };
        let command = match event {
            None => return "connection closed".into(),
            Some(Event::Error(error)) => return error.to_string(),
            Some(Event::Incoming(command)) => command,
        };
        let sequence = command.sequence_number();
        match (command.id(), command.pdu()) {
            (CommandId::DeliverSm, Some(Pdu::DeliverSm(deliver))) => {
                if let Some(event) = inbound_of(gateway, deliver) {
                    // Forward before acknowledging: if we die in between, the
                    // SMSC delivers again (at-least-once).
                    if inbound.send(event).await.is_err() {
                        tracing::warn!(gateway, "inbound channel closed, dropping deliver_sm");
                    }
                }
                if let Err(error) = client
                    .deliver_sm_resp(sequence, DeliverSmResp::default())
                    .await
                {
                    return format!("deliver_sm_resp: {error}");
                }
            }
            (CommandId::Unbind, _) => {
                let _ = client.unbind_resp(sequence).await;
                return "the SMSC unbound".into();
            }
            (id, _) => {
                tracing::debug!(gateway, ?id, sequence, "smpp command ignored");
                if !id.is_response() {
                    let _ = client.generic_nack(sequence).await;
                }
            }
        }
    }
}

/// A deliver_sm as a receipt (esm_class message type 0x04) or a reply.
fn inbound_of(gateway: &str, deliver: &DeliverSm) -> Option<Inbound> {
    let esm_class = u8::from(deliver.esm_class);
    let data_coding = u8::from(deliver.data_coding);
    let mut text_bytes = deliver.short_message().as_ref().to_vec();
    let mut receipted_id = None;
    let mut state = None;
    for tlv in deliver.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => receipted_id = Some(id.as_str().to_string()),
            Some(TlvValue::MessageState(s)) => state = Some(*s),
            Some(TlvValue::MessagePayload(p)) if text_bytes.is_empty() => {
                text_bytes = p.value.as_ref().to_vec()
            }
            _ => {}
        }
    }
    let text = decode(&text_bytes, data_coding);
    // Message type, bits 5-2: 0001 = SMSC delivery receipt.
    if esm_class & 0b0011_1100 == 0b0000_0100 {
        let field = |name: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_string)
        };
        let stat = field("stat:");
        let Some(message_id) = receipted_id.or_else(|| field("id:")) else {
            tracing::warn!(gateway, "smpp receipt without a message id, ignored");
            return None;
        };
        let delivered = match state {
            Some(state) => state == MessageState::Delivered,
            None => stat.as_deref() == Some("DELIVRD"),
        };
        let detail = stat.unwrap_or_else(|| format!("{state:?}"));
        tracing::debug!(gateway, %message_id, delivered, %detail, "smpp receipt");
        return Some(Inbound::Receipt {
            gateway: gateway.to_string(),
            reference: ReceiptRef::MessageId(message_id),
            delivered,
            detail,
        });
    }
    if esm_class & 0b0011_1100 != 0 {
        tracing::debug!(
            gateway,
            esm_class,
            "smpp deliver_sm of another type, ignored"
        );
        return None;
    }
    let source = deliver.source_addr.as_str();
    let digits = source.strip_prefix('+').unwrap_or(source);
    let from = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{digits}")
    } else {
        source.to_string()
    };
    tracing::debug!(gateway, chars = text.chars().count(), "smpp reply");
    Some(Inbound::Reply {
        gateway: gateway.to_string(),
        from,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_round_trip_with_extension() {
        let text = "Alarme é à ù è [1] 5€";
        let (dc, bytes) = encode(text, Encoding::of(text));
        assert_eq!(dc, DataCoding::McSpecific);
        assert_eq!(&bytes[..2], &[0x41, 0x6C]);
        assert!(bytes.windows(2).any(|w| w == [0x1B, 0x65]));
        assert_eq!(decode(&bytes, 0), text);
    }

    #[test]
    fn ucs2_round_trip() {
        let text = "Hôtel 🚨";
        let (dc, bytes) = encode(text, Encoding::of(text));
        assert_eq!(dc, DataCoding::Ucs2);
        assert_eq!(&bytes[..2], &[0x00, 0x48]);
        assert_eq!(decode(&bytes, 8), text);
    }

    #[test]
    fn source_types() {
        assert!(matches!(
            source_address("VIGIE"),
            Ok((Ton::Alphanumeric, Npi::Unknown, _))
        ));
        assert!(matches!(
            source_address("+33612345678"),
            Ok((Ton::International, Npi::Isdn, _))
        ));
        assert!(source_address("VIGIE-TOO-LONG-NAME").is_err());
    }

    #[test]
    fn status_names() {
        assert_eq!(
            status_name(CommandStatus::EsmeRinvdstadr),
            "ESME_RINVDSTADR 0x0000000B"
        );
        assert_eq!(
            status_name(CommandStatus::Other(0x400)),
            "command_status 0x00000400"
        );
    }
}
