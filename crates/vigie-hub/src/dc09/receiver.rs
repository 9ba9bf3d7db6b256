//! One frame in, at most one reply out: the decisions of DC-09 5.5.3 on
//! top of the codec, with the store's commit before any ACK.
//!
//! | what arrived | reply |
//! |---|---|
//! | bad CRC, bad length, stray LF/CR, unreadable header | nothing (counted per peer) |
//! | unknown token, unknown account, no key, undecryptable or unreadable body | DUH |
//! | time outside the account's window | NAK with the hub's time |
//! | a clear frame for an account that has a key | DUH |
//! | an event, a test, a link test, or a repeat of one | ACK once committed (`*ACK` if encrypted) |
//! | the store cannot take the event | nothing: the panel sends it again |

use super::{Counters, Settings, mapping};
use crate::clock::SharedClock;
use crate::engine::Engine;
use crate::store::{PanelFrame, Store, StoreError};
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use vigie_dc09::{
    Answer, DecodeError, DecodeOptions, Frame, Head, Header, Key, TimeWindow, Timestamp,
};

/// Raw bytes of a refused frame shown in a log line at most.
const LOGGED_FRAME_BYTES_MAX: usize = 120;

/// What the listeners share: the store, the clock, the engine to wake.
pub struct Receiver {
    pub(super) store: Store,
    pub(super) clock: SharedClock,
    pub(super) engine: Engine,
    pub(super) settings: Settings,
    pub(super) counters: Arc<Counters>,
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(LOGGED_FRAME_BYTES_MAX)])
        .escape_debug()
        .to_string()
}

impl Receiver {
    fn duh(&self, header: &Header, peer: SocketAddr, why: &str, raw: &[u8]) -> Option<Vec<u8>> {
        self.counters.count_duh();
        tracing::warn!(%peer, seq = header.seq.get(), account = header.account.as_ref().map(|a| a.as_str()), why, raw = %shown(raw), "dc09: DUH");
        Frame::duh(header).encode_plain().ok()
    }

    fn refused(&self, e: &DecodeError, peer: SocketAddr, raw: &[u8]) -> Option<Vec<u8>> {
        match e.answer() {
            Answer::Silence => {
                let n = self.counters.count_envelope_error(peer.ip());
                tracing::warn!(%peer, error = %e, errors_from_peer = n, raw = %shown(raw), "dc09: frame refused, no reply");
                None
            }
            Answer::Duh(header) => self.duh(header, peer, &e.to_string(), raw),
        }
    }

    /// The reply to one frame (LF…CR), or `None` for silence.
    pub async fn frame(&self, raw: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        self.counters.count_frame();
        let head = match Head::parse(raw, &DecodeOptions::default()) {
            Ok(h) => h,
            Err(e) => return self.refused(&e, peer, raw),
        };
        let Some(account) = head.header.account.clone() else {
            return self.duh(&head.header, peer, "no account", raw);
        };
        let transmitter = match self.store.transmitter(account.as_str()).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return self.duh(&head.header, peer, "unknown account", raw);
            }
            Err(e) => {
                self.counters.count_store_failure();
                tracing::error!(%peer, account = account.as_str(), error = %e, "dc09: cannot read the transmitters; no reply, the panel will send again");
                return None;
            }
        };
        let key = match transmitter.key.as_deref().map(Key::from_bytes) {
            Some(Some(k)) => Some(k),
            Some(None) => {
                tracing::error!(
                    account = account.as_str(),
                    "dc09: the stored key is not an AES key"
                );
                return self.duh(&head.header, peer, "bad stored key", raw);
            }
            None => None,
        };
        if key.is_some() && !head.encrypted {
            return self.duh(
                &head.header,
                peer,
                "clear frame for an encrypted account",
                raw,
            );
        }
        let frame = match head.open(key.as_ref()) {
            Ok(f) => f,
            Err(e) => return self.refused(&e, peer, raw),
        };
        let now = self.clock.now();
        let Some(now_ts) = Timestamp::from_unix_s(now.as_ms().div_euclid(1_000)) else {
            tracing::error!("dc09: the hub's clock is outside years 0000-9999; no reply");
            return None;
        };
        let window = TimeWindow {
            before_s: transmitter
                .window_before_s
                .unwrap_or(self.settings.window_before_s),
            after_s: transmitter
                .window_after_s
                .unwrap_or(self.settings.window_after_s),
        };
        if let Some(ts) = frame.timestamp
            && let Err(outside) = window.check(ts, now.as_ms().div_euclid(1_000))
        {
            self.counters.count_nak();
            tracing::warn!(%peer, account = account.as_str(), seq = frame.header.seq.get(), offset_s = outside.offset_s, "dc09: NAK, time outside the window");
            return Frame::nak(now_ts).encode_plain().ok();
        }
        let content = match frame.content() {
            Ok(c) => c,
            Err(e) => return self.duh(&frame.header, peer, &e.to_string(), raw),
        };
        let data_account = match &content {
            vigie_dc09::Content::Cid(c) => c.account.as_ref(),
            vigie_dc09::Content::Dcs(d) => d.account.as_ref(),
            _ => None,
        };
        if let Some(a) = data_account
            && !a.is_empty()
            && !a.as_str().eq_ignore_ascii_case(account.as_str())
        {
            return self.duh(&frame.header, peer, "the data names another account", raw);
        }
        let events = mapping::events(&content);
        if events.len() > crate::store::EVENTS_PER_FRAME_MAX {
            return self.duh(&frame.header, peer, "too many events in one frame", raw);
        }
        let mut digest = Sha256::new();
        digest.update(frame.token.as_str().as_bytes());
        digest.update(b"\0");
        digest.update(&frame.data);
        let digest: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let stored = PanelFrame {
            account: transmitter.account.clone(),
            seq: frame.header.seq.get(),
            digest,
            alarm_ids: events.iter().map(|_| uuid::Uuid::now_v7()).collect(),
            events,
        };
        match self.store.receive_panel_frame(stored, now).await {
            Ok(receipt) => {
                if !receipt.raised.is_empty() || receipt.sms_queued > 0 {
                    self.engine.wake();
                }
                if receipt.duplicate {
                    self.counters.count_repeat();
                }
                tracing::info!(%peer, account = account.as_str(), seq = frame.header.seq.get(), token = frame.token.as_str(), duplicate = receipt.duplicate, alarms = ?receipt.raised, "dc09: ACK");
            }
            Err(StoreError::Refused { code, message }) => {
                return self.duh(&frame.header, peer, &format!("{code}: {message}"), raw);
            }
            Err(e) => {
                self.counters.count_store_failure();
                tracing::error!(%peer, account = account.as_str(), seq = frame.header.seq.get(), error = %e, "dc09: the event could not be stored; no ACK, the panel will send again");
                return None;
            }
        }
        self.counters.count_ack();
        let ack = Frame::ack_for(&frame, now_ts);
        let encoded = match &key {
            Some(k) if ack.encrypted => ack.encode_encrypted(k, &mut rand::rngs::OsRng),
            _ => ack.encode_plain(),
        };
        match encoded {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::error!(error = %e, "dc09: cannot encode the ACK");
                None
            }
        }
    }
}
