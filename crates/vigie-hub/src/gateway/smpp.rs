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
//! Inbound `deliver_sm` are acknowledged (`deliver_sm_resp`) only once the
//! store has committed them: each is handed over with a completion, and its
//! answer is sent when the completion says it is on disk. At most
//! `INBOUND_IN_FLIGHT_MAX` wait for their commit; past that the link stops
//! taking more, and rusmppc (patched) stops reading past
//! `INBOUND_READ_AHEAD_MAX`, so a flood waits in the SMSC, not in memory.
//! A PDU that cannot be read is answered with an error status and the link
//! stays up. On `close`, the link stops reading, answers what it handed
//! over, unbinds and closes.
//!
//! Every field of `submit_sm` is set here, none from a library default
//! (`esm_class` 0x00: default mode, normal message; see docs/ops/smpp.md).
//!
//! Invariants: no phone number is logged in full (`PhoneNumber`'s `Display`
//! masks it), the password never leaves `SecretString` except into the bind.

use super::{
    Delivery, Gateway, GatewayError, Inbound, InboundTx, Kept, OutgoingSms, ReceiptRef, Submitted,
};
use async_trait::async_trait;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use rusmpp::pdus::{BindTransceiver, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::types::EmptyOrFullCOctetString;
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, MessageState, Npi, PriorityFlag,
    RegisteredDelivery, ReplaceIfPresentFlag, ServiceType, Ton,
};
use rusmpp::{CommandId, CommandStatus, Pdu};
use rusmppc::{Client, ConnectionBuilder, Event};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, watch};
use vigie_core::gsm::{Encoding, GSM_BASIC, GSM_EXTENSION, septets_of};

/// First pause before reconnecting: short, a dropped link is often back at once.
const BACKOFF_MIN_MS: u64 = 100;
/// Longest pause between attempts: an SMSC back up is found within a
/// second (alarms wait while it is not), while a down one sees at most one
/// or two connection attempts per second from us — nothing for an SMSC.
const BACKOFF_MAX_MS: u64 = 1_000;
/// TCP connect on a dead route can hang for minutes; an SMSC answers fast.
const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Largest PDU we read from the SMSC: a deliver_sm with the largest legal
/// message_payload (64 KiB) and its other fields. A longer one is discarded
/// as it arrives and answered with an error; only a length that cannot be a
/// PDU (rusmppc's `FRAME_BYTES_MAX`, 16 MiB) breaks the link.
const PDU_BYTES_MAX: usize = MESSAGE_PAYLOAD_BYTES_MAX + 4_096;
/// deliver_sm handed to the store and not yet committed, per link: enough
/// to fill a write batch of the store; past it the link takes no more
/// until commits come back (the SMSC waits for our answers).
pub const INBOUND_IN_FLIGHT_MAX: usize = 512;
/// PDUs rusmppc reads ahead of us; past it, it stops reading the socket.
const INBOUND_READ_AHEAD_MAX: usize = 64;
/// On close, how long we wait for the commits of what we handed over and
/// for the SMSC's unbind_resp; what is not answered by then is delivered
/// again by the SMSC after the next bind.
const CLOSE_TIMEOUT_MS: u64 = 5_000;
/// Repeated faults are logged once, then summarised at most this often.
const FAULT_SUMMARY_MS: u64 = 60_000;
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
/// A sender of at most this many digits without '+' is a short code
/// (French short codes have 5 digits, some networks 3 to 8).
const SHORT_CODE_DIGITS_MAX: usize = 8;
/// deliver_sm_resp for a deliver_sm we could not store: try again later
/// (SMPP 3.4 §5.1.3, ESME_RX_T_APPN).
const STATUS_NOT_KEPT: CommandStatus = CommandStatus::EsmeRxTAppn;
/// deliver_sm_resp for one we cannot read (undecodable, too long): sending
/// it again will not help (ESME_RX_P_APPN).
const STATUS_UNREADABLE: CommandStatus = CommandStatus::EsmeRxPAppn;

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

/// The source address and its type: letters make it alphanumeric
/// (TON 5, NPI 0), '+' and digits international (TON 1, NPI 1, sent
/// without the '+'), up to 8 digits a short code (TON 3 network-specific,
/// NPI 0), more digits an international number written without '+'.
fn source_address(source: &str) -> Result<(Ton, Npi, COctetString<1, 21>), String> {
    let plus = source.strip_prefix('+');
    let digits = plus.unwrap_or(source);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let (ton, npi, value, max) =
        if all_digits && plus.is_none() && digits.len() <= SHORT_CODE_DIGITS_MAX {
            (
                Ton::NetworkSpecific,
                Npi::Unknown,
                digits,
                SHORT_CODE_DIGITS_MAX,
            )
        } else if all_digits {
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
    /// Set on shutdown: stop reading, answer what was handed over, close.
    closing: watch::Sender<bool>,
    /// Told when the link is bound (the dispatcher resumes at once).
    on_bound: Mutex<Option<Arc<Notify>>>,
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
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for SmppGateway {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

impl SmppGateway {
    /// Start connecting in the background; returns at once.
    pub fn start(config: SmppConfig, inbound: InboundTx) -> SmppGateway {
        let link = Arc::new(Link {
            client: watch::channel(None).0,
            last_error: Mutex::new(None),
            reconnect: Notify::new(),
            closing: watch::channel(false).0,
            on_bound: Mutex::new(None),
        });
        let task = tokio::spawn(run(config.clone(), link.clone(), inbound));
        let window = Semaphore::new(config.window.max(1));
        SmppGateway {
            config,
            link,
            window,
            task: Mutex::new(Some(task)),
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
    fn is_ready(&self) -> bool {
        self.is_bound()
    }
    fn wake_when_ready(&self, wake: Arc<Notify>) {
        if let Ok(mut on_bound) = self.link.on_bound.lock() {
            *on_bound = Some(wake);
        }
    }

    async fn close(&self) {
        self.link.closing.send_replace(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let abort = task.abort_handle();
            // The task bounds each of its waits; this is the last resort.
            if tokio::time::timeout(Duration::from_millis(3 * CLOSE_TIMEOUT_MS), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
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
                tracing::debug!(gateway = %self.config.name, notification = sms.notification_id, to = %sms.to, %message_id, "smpp submit_sm accepted");
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
                tracing::debug!(gateway = %self.config.name, notification = sms.notification_id, to = %sms.to, status = %status_name(status), "smpp submit_sm refused");
                Err(error)
            }
            Err(error) => {
                tracing::debug!(gateway = %self.config.name, notification = sms.notification_id, %error, "smpp submit_sm failed; the link is dropped and bound again");
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

/// esm_class of every submit_sm: default mode, normal message, no UDH.
const ESM_CLASS_NORMAL: u8 = 0x00;
/// registered_delivery: an SMSC receipt on final outcome, success or failure.
const REGISTERED_DELIVERY_RECEIPT: u8 = 0x01;

fn build_submit(source: &str, sms: &OutgoingSms) -> Result<SubmitSm, GatewayError> {
    let (source_ton, source_npi, source_addr) =
        source_address(source).map_err(GatewayError::Rejected)?;
    let destination = COctetString::from_str(sms.to.digits())
        .map_err(|e| GatewayError::Rejected(format!("destination: {e}")))?;
    let (data_coding, bytes) = encode(&sms.text, sms.encoding);
    // Every field deliberately (SMPP 3.4 §4.4.1), none left to a library
    // default: rusmpp's default esm_class is 0x08, an "ESME delivery
    // acknowledgement" in SMPP 3.4, which a strict SMSC refuses or misroutes.
    let builder = SubmitSm::builder()
        // The SMSC's default service.
        .service_type(ServiceType::default())
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(source_addr)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(destination)
        // Default messaging mode (store and forward), normal message, no UDH.
        .esm_class(EsmClass::from(ESM_CLASS_NORMAL))
        .protocol_id(0)
        // Priority 0: the dispatcher already orders our SMS; an SMSC may
        // refuse a priority the account is not provisioned for.
        .priority_flag(PriorityFlag::from(0u8))
        // Deliver at once, keep it for the SMSC's default validity.
        .schedule_delivery_time(EmptyOrFullCOctetString::empty())
        .validity_period(EmptyOrFullCOctetString::empty())
        // SMSC delivery receipt on success and failure (bit 0).
        .registered_delivery(RegisteredDelivery::from(REGISTERED_DELIVERY_RECEIPT))
        .replace_if_present_flag(ReplaceIfPresentFlag::from(0u8))
        .data_coding(data_coding)
        .sm_default_msg_id(0);
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

/// A fault that repeats (connect refused while the SMSC is down): logged
/// at its first occurrence, then summarised, and closed by the recovery.
struct Repeated {
    since: Option<Instant>,
    count: u64,
    last_summary: Instant,
}

impl Repeated {
    fn new() -> Self {
        Self {
            since: None,
            count: 0,
            last_summary: Instant::now(),
        }
    }
    /// Whether this occurrence should be logged at WARN: the first one of
    /// an episode, then one summary per `FAULT_SUMMARY_MS`.
    fn occurred(&mut self) -> bool {
        let now = Instant::now();
        self.count += 1;
        if self.since.is_none() {
            self.since = Some(now);
            self.last_summary = now;
            return true;
        }
        if now.duration_since(self.last_summary) >= Duration::from_millis(FAULT_SUMMARY_MS) {
            self.last_summary = now;
            return true;
        }
        false
    }
    /// The episode ended: how long it lasted and how often it happened.
    fn ended(&mut self) -> Option<(Duration, u64)> {
        let since = self.since.take()?;
        let count = std::mem::take(&mut self.count);
        Some((since.elapsed(), count))
    }
}

/// The connection task: connect, bind, serve, back off, again — until closed.
async fn run(config: SmppConfig, link: Arc<Link>, inbound: InboundTx) {
    let gateway = config.name.clone();
    if let Err(error) = config.validate() {
        tracing::error!(%gateway, %error, "smpp configuration invalid, gateway stays down");
        link.set_error(error);
        return;
    }
    let mut closing = link.closing.subscribe();
    let mut backoff_ms = BACKOFF_MIN_MS;
    let mut failing = Repeated::new();
    loop {
        if *closing.borrow() {
            return;
        }
        match connect(&config).await {
            Ok((client, events)) => {
                match failing.ended() {
                    Some((down, attempts)) => tracing::info!(
                        %gateway, host = %config.host, port = config.port,
                        down_ms = down.as_millis() as u64, failed_attempts = attempts,
                        "smpp bound again after {} s and {attempts} failed attempts", down.as_secs()
                    ),
                    None => {
                        tracing::info!(%gateway, host = %config.host, port = config.port, "smpp bound")
                    }
                }
                backoff_ms = BACKOFF_MIN_MS;
                if let Ok(mut last) = link.last_error.lock() {
                    *last = None;
                }
                link.client.send_replace(Some(client.clone()));
                if let Some(wake) = link.on_bound.lock().ok().and_then(|w| w.clone()) {
                    wake.notify_one();
                }
                let end = serve(&gateway, &client, events, &link, &inbound, &mut closing).await;
                link.client.send_replace(None);
                match end {
                    End::Closed => {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(CLOSE_TIMEOUT_MS),
                            client.unbind(),
                        )
                        .await;
                        let _ = client.close().await;
                        tracing::info!(%gateway, "smpp unbound and closed");
                        return;
                    }
                    End::Lost(why) => {
                        let _ = client.close().await;
                        tracing::warn!(%gateway, reason = %why, "smpp link lost; binding again");
                        link.set_error(format!("link lost: {why}"));
                        failing.occurred();
                    }
                }
            }
            Err(error) => {
                if failing.occurred() {
                    tracing::warn!(%gateway, %error, failed_attempts = failing.count, "smpp cannot bind; SMS for this gateway wait (trying again every second at most)");
                } else {
                    tracing::debug!(%gateway, %error, retry_ms = backoff_ms, "smpp connect failed");
                }
                link.set_error(error);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(jittered(backoff_ms))) => {}
            _ = closing.changed() => return,
        }
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
        .max_pending_incoming(INBOUND_READ_AHEAD_MAX)
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

/// How a bound session ended.
enum End {
    /// The hub is stopping: unbind and stay down.
    Closed,
    /// The link broke: bind again.
    Lost(String),
}

type Answer = BoxFuture<'static, Result<(), rusmppc::error::Error>>;

/// Send a deliver_sm_resp (in the background of the serve loop).
fn answer(client: &Client, sequence: u32, status: CommandStatus) -> Answer {
    let client = client.clone();
    Box::pin(async move {
        client
            .status(status)
            .deliver_sm_resp(sequence, DeliverSmResp::default())
            .await
    })
}

/// Handle the SMSC's commands until the link breaks or the gateway closes.
async fn serve(
    gateway: &str,
    client: &Client,
    mut events: impl futures::Stream<Item = Event> + Unpin,
    link: &Link,
    inbound: &InboundTx,
    closing: &mut watch::Receiver<bool>,
) -> End {
    // deliver_sm handed to the store, by sequence number, until committed.
    let mut kept: FuturesUnordered<BoxFuture<'static, (u32, Kept)>> = FuturesUnordered::new();
    // deliver_sm_resp being written.
    let mut answers: FuturesUnordered<Answer> = FuturesUnordered::new();
    let mut unreadable = Repeated::new();
    loop {
        tokio::select! {
            biased;
            Some((sequence, outcome)) = kept.next(), if !kept.is_empty() => {
                answers.push(answer(client, sequence, status_of(outcome)));
            }
            Some(sent) = answers.next(), if !answers.is_empty() => {
                if let Err(error) = sent {
                    return End::Lost(format!("deliver_sm_resp: {error}"));
                }
            }
            _ = closing.changed() => {
                finish(gateway, client, kept, answers).await;
                return End::Closed;
            }
            () = link.reconnect.notified() => return End::Lost("a submit timed out".into()),
            event = events.next(), if kept.len() < INBOUND_IN_FLIGHT_MAX => {
                let command = match event {
                    None => return End::Lost("connection closed".into()),
                    Some(Event::Error(error)) => return End::Lost(error.to_string()),
                    Some(Event::Incoming(command)) => command,
                };
                let sequence = command.sequence_number();
                match (command.id(), command.pdu()) {
                    (CommandId::DeliverSm, Some(Pdu::DeliverSm(deliver))) => {
                        match inbound_of(gateway, deliver) {
                            Some(event) => {
                                let (delivery, done) = Delivery::awaited(event);
                                if inbound.send(delivery).await.is_err() {
                                    answers.push(answer(client, sequence, STATUS_NOT_KEPT));
                                } else {
                                    kept.push(Box::pin(async move { (sequence, done.await) }));
                                }
                            }
                            // Of a kind we deliberately ignore: taken.
                            None => answers.push(answer(client, sequence, CommandStatus::EsmeRok)),
                        }
                    }
                    (CommandId::DeliverSm, other) => {
                        let bytes = match other {
                            Some(Pdu::Other { body, .. }) => body.as_ref().len(),
                            _ => 0,
                        };
                        if unreadable.occurred() {
                            tracing::warn!(gateway, sequence, body_bytes = bytes, seen = unreadable.count, status = %status_name(STATUS_UNREADABLE), "smpp deliver_sm unreadable (too long or malformed): refused, the link stays up");
                        }
                        answers.push(answer(client, sequence, STATUS_UNREADABLE));
                    }
                    (CommandId::Unbind, _) => {
                        let _ = client.unbind_resp(sequence).await;
                        return End::Lost("the SMSC unbound".into());
                    }
                    (id, pdu) => {
                        tracing::debug!(gateway, ?id, sequence, "smpp command ignored");
                        if !id.is_response() {
                            let status = match (id, pdu) {
                                (CommandId::Other(_), _) => CommandStatus::EsmeRinvcmdid,
                                _ => CommandStatus::EsmeRinvcmdlen,
                            };
                            let _ = client.status(status).generic_nack(sequence).await;
                        }
                    }
                }
            }
        }
    }
}

/// On close: read nothing more; wait (bounded) for the commits of what was
/// handed over and write their answers.
async fn finish(
    gateway: &str,
    client: &Client,
    mut kept: FuturesUnordered<BoxFuture<'static, (u32, Kept)>>,
    mut answers: FuturesUnordered<Answer>,
) {
    let waiting = kept.len();
    let drain = async {
        loop {
            tokio::select! {
                Some((sequence, outcome)) = kept.next(), if !kept.is_empty() => {
                    answers.push(answer(client, sequence, status_of(outcome)));
                }
                Some(_) = answers.next(), if !answers.is_empty() => {}
                else => break,
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_millis(CLOSE_TIMEOUT_MS), drain)
        .await
        .is_ok();
    if finished {
        tracing::info!(
            gateway,
            answered = waiting,
            "smpp closing: every deliver_sm handed over is stored and acknowledged"
        );
    } else {
        tracing::warn!(
            gateway,
            "smpp closing: some deliver_sm not stored in time, left unacknowledged (the SMSC delivers them again)"
        );
    }
}

/// deliver_sm_resp status for what became of a deliver_sm.
fn status_of(kept: Kept) -> CommandStatus {
    match kept {
        Kept::Stored | Kept::Refused => CommandStatus::EsmeRok,
        Kept::Failed => STATUS_NOT_KEPT,
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
    let from = sender_number(deliver.source_addr_ton, deliver.source_addr.as_str());
    tracing::debug!(gateway, chars = text.chars().count(), "smpp reply");
    Some(Inbound::Reply {
        gateway: gateway.to_string(),
        from,
        text,
    })
}

/// What an alphanumeric sender (TON 5) is given as: text the number
/// parser refuses, so that such a sender is never taken for a contact or
/// a pendant, whatever its characters (they are the sender's to choose).
const ALPHANUMERIC_SENDER_PREFIX: &str = "alphanumeric:";

/// The sender of a mobile-originated SMS as the store reads numbers: an
/// international number gets its `+`; a national one (`06…`, TON national,
/// or unknown with a leading 0, as some SMSCs give French senders) is
/// left for the number parser to read as French; an alphanumeric sender
/// is marked as one; anything else as it came.
fn sender_number(ton: Ton, source: &str) -> String {
    if matches!(ton, Ton::Alphanumeric) {
        return format!("{ALPHANUMERIC_SENDER_PREFIX}{source}");
    }
    let digits = source.strip_prefix('+').unwrap_or(source);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return source.to_string();
    }
    let national = matches!(ton, Ton::National)
        || (!matches!(ton, Ton::International)
            && digits.starts_with('0')
            && !source.starts_with('+'));
    if national {
        digits.to_string()
    } else {
        format!("+{digits}")
    }
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

    #[test]
    fn senders_in_national_or_international_format_reach_the_same_contact() {
        let parse = |ton, addr| {
            vigie_core::PhoneNumber::parse(&sender_number(ton, addr))
                .map(|p| p.as_e164().to_string())
        };
        let marie = Ok("+33611223344".to_string());
        assert_eq!(parse(Ton::International, "33611223344"), marie);
        assert_eq!(parse(Ton::International, "+33611223344"), marie);
        assert_eq!(parse(Ton::National, "0611223344"), marie);
        assert_eq!(parse(Ton::Unknown, "0611223344"), marie);
        assert_eq!(parse(Ton::Unknown, "33611223344"), marie);
        // An alphanumeric sender is no number, even one made of digits.
        assert_eq!(
            sender_number(Ton::Alphanumeric, "VIGIE"),
            "alphanumeric:VIGIE"
        );
        assert!(parse(Ton::Alphanumeric, "0611223344").is_err());
        assert!(parse(Ton::Alphanumeric, "33611223344").is_err());
    }
}
