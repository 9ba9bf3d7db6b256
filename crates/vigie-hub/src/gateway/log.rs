//! The log gateway: prints each SMS instead of sending it, for the demo and
//! for tests that assert on what each phone received. It can also play the
//! network's part: report every message delivered, and hand the hub a
//! mobile-originated SMS (`receive`), which takes the inbound loop's path
//! as a `deliver_sm` does: answered once its batch is committed.

use super::{
    Delivery, Gateway, GatewayError, Inbound, InboundTx, Kept, OutgoingSms, ReceiptRef, Submitted,
};
use async_trait::async_trait;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a phone received through the log gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedSms {
    pub to: String,
    pub text: String,
}

pub struct LogGateway {
    name: String,
    next_id: AtomicU64,
    sent: Mutex<Vec<LoggedSms>>,
    /// What the network hands the hub: receipts, mobile-originated SMS.
    inbound: Option<InboundTx>,
    /// Report each message delivered on `inbound`, as a network would.
    receipts: bool,
    print: bool,
}

impl LogGateway {
    pub fn new(name: &str, inbound: Option<InboundTx>, receipts: bool, print: bool) -> Self {
        Self {
            name: name.to_string(),
            next_id: AtomicU64::new(1),
            sent: Mutex::new(Vec::new()),
            inbound,
            receipts,
            print,
        }
    }

    /// An SMS from `from` reaching the hub's number through this gateway,
    /// as an SMSC's `deliver_sm` would: what became of it once the inbound
    /// loop stored it (`Kept::Failed` without an inbound channel).
    pub async fn receive(&self, from: &str, text: &str) -> Kept {
        let Some(tx) = &self.inbound else {
            return Kept::Failed;
        };
        let (delivery, kept) = Delivery::awaited(Inbound::Reply {
            gateway: self.name.clone(),
            from: from.to_string(),
            text: text.to_string(),
        });
        if tx.send(delivery).await.is_err() {
            return Kept::Failed;
        }
        kept.await
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<LoggedSms> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Gateway for LogGateway {
    fn name(&self) -> &str {
        &self.name
    }
    fn accepts_replies(&self) -> bool {
        true
    }
    fn window(&self) -> usize {
        64
    }
    async fn submit(&self, sms: &OutgoingSms) -> Result<Submitted, GatewayError> {
        let id = format!("log-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        if self.print {
            println!("  📱 SMS → {} : {}", sms.to.national_display(), sms.text);
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(LoggedSms {
                to: sms.to.as_e164().to_string(),
                text: sms.text.clone(),
            });
        }
        if let Some(tx) = self.inbound.as_ref().filter(|_| self.receipts) {
            let receipt = Inbound::Receipt {
                gateway: self.name.clone(),
                reference: ReceiptRef::MessageId(id.clone()),
                delivered: true,
                detail: "DELIVRD".into(),
            };
            let tx = tx.clone();
            // Delivered "later", as a network would: never inside submit.
            tokio::spawn(async move {
                let _ = tx.send(Delivery::unawaited(receipt)).await;
            });
        }
        Ok(Submitted {
            message_id: Some(id),
        })
    }
}
