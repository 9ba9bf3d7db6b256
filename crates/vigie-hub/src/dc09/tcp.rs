//! DC-09 over TCP: a connection carries many frames, in as many or as few
//! segments as the panel's stack makes of them. Frames are cut at LF…CR
//! and answered in order; the replies to the frames of one read leave in
//! one write. The connection stays open after a reply (the panel closes
//! it, or it is closed once idle).

use super::Receiver;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use vigie_dc09::FRAME_BYTES_MAX;

const LF: u8 = 0x0A;
const CR: u8 = 0x0D;
/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 4_096;
/// Pause after a failed accept (out of file descriptors), so the loop
/// does not spin.
const ACCEPT_RETRY_MS: u64 = 100;

/// Cuts a byte stream into frames: from an LF to the next CR. Bytes before
/// an LF are noise; an LF before the CR starts the frame again; a partial
/// frame longer than a frame can be is dropped.
#[derive(Debug, Default)]
pub(super) struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Bytes still waiting for their CR.
    pub(super) fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Forget a partial frame (idle too long); whether there was one.
    pub(super) fn drop_partial(&mut self) -> bool {
        let had = !self.buf.is_empty();
        self.buf.clear();
        had
    }

    /// Append `bytes`; returns the whole frames now available and how many
    /// partial frames were dropped on the way.
    pub(super) fn push(&mut self, bytes: &[u8]) -> (Vec<Vec<u8>>, u32) {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut dropped = 0;
        loop {
            let Some(start) = self.buf.iter().position(|&b| b == LF) else {
                // Noise without a frame start.
                self.buf.clear();
                break;
            };
            if start > 0 {
                self.buf.drain(..start);
            }
            let end = self.buf[1..]
                .iter()
                .position(|&b| b == LF || b == CR)
                .map(|i| i + 1);
            match end {
                Some(i) if self.buf[i] == CR => {
                    frames.push(self.buf.drain(..=i).collect());
                }
                Some(i) => {
                    // A new LF before any CR: the frame so far is broken.
                    self.buf.drain(..i);
                    dropped += 1;
                }
                None => {
                    if self.buf.len() > FRAME_BYTES_MAX {
                        self.buf.clear();
                        dropped += 1;
                    }
                    break;
                }
            }
        }
        (frames, dropped)
    }
}

/// Connections open per source address.
#[derive(Default)]
struct Sources(Mutex<HashMap<IpAddr, usize>>);

struct SourceSlot {
    sources: Arc<Sources>,
    ip: IpAddr,
}

impl Sources {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut map = self.0.lock().ok()?;
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            sources: self.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.sources.0.lock()
            && let Some(n) = map.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

pub(super) async fn serve(
    listener: TcpListener,
    receiver: Arc<Receiver>,
    mut shutdown: watch::Receiver<bool>,
) {
    let all = Arc::new(Semaphore::new(receiver.settings.connections_max));
    let sources = Arc::new(Sources::default());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "dc09: accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        let Ok(permit) = all.clone().try_acquire_owned() else {
            receiver.counters.count_connection_refused();
            tracing::warn!(%peer, "dc09: too many connections; closed");
            continue;
        };
        let Some(slot) = sources.take(peer.ip(), receiver.settings.connections_per_source_max)
        else {
            receiver.counters.count_connection_refused();
            tracing::warn!(%peer, "dc09: too many connections from this address; closed");
            continue;
        };
        let receiver = receiver.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            if let Err(e) = connection(stream, peer, &receiver, shutdown).await {
                tracing::debug!(%peer, error = %e, "dc09: connection ended");
            }
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    receiver: &Receiver,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let settings = &receiver.settings;
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let idle_ms = if framer.pending() > 0 {
            settings.partial_frame_idle_ms
        } else {
            settings.connection_idle_ms
        };
        // Never hold more than the connection's buffer.
        let room = settings
            .connection_buffer_bytes_max
            .saturating_sub(framer.pending())
            .clamp(1, READ_CHUNK_BYTES);
        let read = tokio::select! {
            r = tokio::time::timeout(Duration::from_millis(idle_ms), stream.read(&mut chunk[..room])) => r,
            _ = shutdown.changed() => return Ok(()),
        };
        let n = match read {
            Ok(r) => r?,
            Err(_idle) => {
                if framer.drop_partial() {
                    receiver.counters.count_partial_dropped();
                    tracing::warn!(%peer, "dc09: partial frame idle too long; dropped");
                    continue;
                }
                tracing::debug!(%peer, "dc09: idle connection closed");
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        let (frames, dropped) = framer.push(&chunk[..n]);
        for _ in 0..dropped {
            receiver.counters.count_partial_dropped();
            tracing::warn!(%peer, "dc09: broken or oversized partial frame dropped");
        }
        let mut replies = Vec::new();
        for frame in frames {
            if let Some(reply) = receiver.frame(&frame, peer).await {
                replies.extend_from_slice(&reply);
            }
        }
        if !replies.is_empty() {
            stream.write_all(&replies).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_frames_in_one_segment() {
        let mut f = Framer::default();
        let (frames, dropped) = f.push(b"\nAAAA\r\nBBBB\r\nCC");
        assert_eq!(frames, vec![b"\nAAAA\r".to_vec(), b"\nBBBB\r".to_vec()]);
        assert_eq!((dropped, f.pending()), (0, 3));
        let (frames, _) = f.push(b"C\r");
        assert_eq!(frames, vec![b"\nCCC\r".to_vec()]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn one_frame_over_byte_by_byte_segments() {
        let mut f = Framer::default();
        let whole = b"\nC2800027\"ADM-CID\"0001L0#AB12[#AB12|1120 01 001]\r";
        let mut got = Vec::new();
        for b in whole {
            got.extend(f.push(&[*b]).0);
        }
        assert_eq!(got, vec![whole.to_vec()]);
    }

    #[test]
    fn noise_a_second_lf_and_oversized_partials_are_dropped() {
        let mut f = Framer::default();
        let (frames, dropped) = f.push(b"noise\nbroken\nGOOD\r");
        assert_eq!(frames, vec![b"\nGOOD\r".to_vec()]);
        assert_eq!(dropped, 1);
        let mut long = vec![LF];
        long.extend(std::iter::repeat_n(b'x', FRAME_BYTES_MAX + 1));
        let (frames, dropped) = f.push(&long);
        assert!(frames.is_empty());
        assert_eq!((dropped, f.pending()), (1, 0));
        assert!(!f.drop_partial());
    }
}
