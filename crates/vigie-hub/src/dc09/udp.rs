//! DC-09 over UDP: one datagram carries one frame (or a few, cut at
//! LF…CR as on TCP), and the reply goes back to the sender's address.
//! Datagrams are handled concurrently up to `udp_in_flight_max` (so the
//! store's group commit takes several at once); beyond it, the socket is
//! read only as slots free up and the kernel's buffer holds the rest.

use super::Receiver;
use super::tcp::Framer;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, watch};
use vigie_dc09::FRAME_BYTES_MAX;

pub(super) async fn serve(
    socket: UdpSocket,
    receiver: Arc<Receiver>,
    mut shutdown: watch::Receiver<bool>,
) {
    let socket = Arc::new(socket);
    let slots = Arc::new(Semaphore::new(receiver.settings.udp_in_flight_max.max(1)));
    // One byte more than a frame: a longer datagram is seen as too long.
    let mut buf = vec![0u8; FRAME_BYTES_MAX + 1];
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        let (n, peer) = match received {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "dc09: UDP receive failed");
                continue;
            }
        };
        let datagram = buf[..n].to_vec();
        let receiver = receiver.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut framer = Framer::default();
            let (frames, dropped) = framer.push(&datagram);
            if dropped > 0 || framer.pending() > 0 || frames.is_empty() {
                receiver.counters.count_partial_dropped();
                tracing::warn!(%peer, bytes = datagram.len(), "dc09: UDP datagram without a whole frame; no reply");
            }
            for frame in frames {
                if let Some(reply) = receiver.frame(&frame, peer).await
                    && let Err(e) = socket.send_to(&reply, peer).await
                {
                    tracing::warn!(%peer, error = %e, "dc09: UDP reply not sent");
                }
            }
        });
    }
}
