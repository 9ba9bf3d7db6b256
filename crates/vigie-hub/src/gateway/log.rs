//! The log gateway: prints each SMS instead of sending it, for the demo and
//! for tests that assert on what each phone received. It can also play the
//! network's part and report every message delivered.

use super::{
    Delivery, Gateway, GatewayError, Inbound, InboundTx, OutgoingSms, ReceiptRef, Submitted,
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
    /// Report each message delivered on this channel, as a network would.
    receipts: Option<InboundTx>,
    print: bool,
}

impl LogGateway {
    pub fn new(name: &str, receipts: Option<InboundTx>, print: bool) -> Self {
        Self {
            name: name.to_string(),
            next_id: AtomicU64::new(1),
            sent: Mutex::new(Vec::new()),
            receipts,
            print,
        }
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
        if let Some(tx) = &self.receipts {
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
