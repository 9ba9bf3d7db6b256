//! SMS gateways: one contract, three kinds (SMPP 3.4, HTTP provider, log).
//!
//! A gateway submits one SMS and says what happened: accepted (with the
//! SMSC's message id when the protocol gives one), rejected for good, or
//! "try again" (connection down, window full, throttled). Delivery receipts
//! and contacts' replies arrive later, asynchronously, on the `Inbound`
//! channel each gateway is given at start. The dispatcher never blocks an
//! HTTP handler: handlers persist, the dispatcher submits.

pub mod http;
pub mod log;
pub mod smpp;

use async_trait::async_trait;
use tokio::sync::mpsc;
use vigie_core::gsm::Encoding;

/// One SMS to submit.
#[derive(Debug, Clone)]
pub struct OutgoingSms {
    /// The notification's id in the store, echoed in HTTP delivery callbacks.
    pub notification_id: i64,
    /// E.164 destination.
    pub to: vigie_core::PhoneNumber,
    pub text: String,
    pub encoding: Encoding,
}

/// The SMSC took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The SMSC's id, used to match delivery receipts; HTTP providers that
    /// call back with our own notification id return `None`.
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The SMSC refused this message for good (bad number, content): do not
    /// retry it on this gateway.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Try again later or on another gateway (connection down, timeout).
    #[error("transient: {0}")]
    Transient(String),
    /// The SMSC asks us to slow down (ESME_RTHROTTLED, HTTP 429).
    #[error("throttled")]
    Throttled,
}

/// A delivery receipt or a contact's reply, from whichever gateway heard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Receipt {
        gateway: String,
        reference: ReceiptRef,
        delivered: bool,
        detail: String,
    },
    Reply {
        gateway: String,
        from: String,
        text: String,
    },
}

/// How a receipt names the message it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptRef {
    /// The SMSC's message id (SMPP).
    MessageId(String),
    /// Our own notification id (HTTP providers that echo our reference).
    Notification(i64),
}

/// What became of an inbound event, told back to the gateway that heard
/// it so that it acknowledges it to the SMSC only once it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Committed.
    Stored,
    /// Refused for good (a receipt for an unknown message…): acknowledged,
    /// since sending it again would change nothing.
    Refused,
    /// Not stored (the database failed, the hub is stopping): the SMSC
    /// should deliver it again.
    Failed,
}

/// An inbound event on its way to the store, with the gateway's wait for
/// its commit (`None` when the gateway does not need to know, e.g. the log
/// gateway's receipts).
#[derive(Debug)]
pub struct Delivery {
    pub event: Inbound,
    kept: Option<tokio::sync::oneshot::Sender<Kept>>,
}

impl Delivery {
    /// A delivery and the answer to wait for; a delivery dropped unanswered
    /// reads as `Kept::Failed`.
    pub fn awaited(event: Inbound) -> (Delivery, impl Future<Output = Kept> + Send + 'static) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let kept = async move { rx.await.unwrap_or(Kept::Failed) };
        (
            Delivery {
                event,
                kept: Some(tx),
            },
            kept,
        )
    }

    /// A delivery nobody waits for.
    pub fn unawaited(event: Inbound) -> Delivery {
        Delivery { event, kept: None }
    }

    /// Split into the event and the means to answer it.
    pub fn into_parts(self) -> (Inbound, KeptTx) {
        (self.event, KeptTx(self.kept))
    }
}

/// Answers a delivery once it is committed (or not).
#[derive(Debug)]
pub struct KeptTx(Option<tokio::sync::oneshot::Sender<Kept>>);

impl KeptTx {
    pub fn send(self, kept: Kept) {
        if let Some(tx) = self.0 {
            let _ = tx.send(kept);
        }
    }
}

pub type InboundTx = mpsc::Sender<Delivery>;

/// Inbound events waiting to be handled; past this, gateways wait.
pub const INBOUND_QUEUE_MAX: usize = 4_096;

#[async_trait]
pub trait Gateway: Send + Sync {
    /// The name it is configured under; stored with each attempt.
    fn name(&self) -> &str;
    /// Whether contacts can reply to the SMS it sends (a short code or long
    /// number, not an alphanumeric sender).
    fn accepts_replies(&self) -> bool;
    /// How many submits may be in flight at once.
    fn window(&self) -> usize;
    /// The sending rate agreed with the provider, if any: the dispatcher
    /// paces submits to it instead of finding it by being throttled.
    fn max_per_s(&self) -> Option<u32> {
        None
    }
    async fn submit(&self, sms: &OutgoingSms) -> Result<Submitted, GatewayError>;
    /// Whether a submit could go out now (an SMPP link is bound); a gateway
    /// that cannot tell says yes and answers `Transient` when it cannot.
    fn is_ready(&self) -> bool {
        true
    }
    /// Ask to be told (`notify_one`) when the gateway becomes ready again,
    /// so the dispatcher resumes at once after an outage.
    fn wake_when_ready(&self, _wake: std::sync::Arc<tokio::sync::Notify>) {}
    /// Stop taking new inbound messages, finish and acknowledge those
    /// already handed over, and close the link (on shutdown).
    async fn close(&self) {}
}
