//! Button inputs: each turns the hardware's events into timed edges for the
//! pure press machine (`vigie_core::press`).
//!
//! - standard input (tests, demo, a keyboard): `p` press, `d` double press,
//!   `l` long press, each line turned into the edges a finger would make;
//! - a GPIO line through the character device (uAPI v2, [`gpio`]);
//! - a USB HID foot switch or key through evdev ([`evdev`]).
//!
//! Every source sends `(Edge, Timestamp)` pairs to the agent's edge channel
//! and leaves debouncing to the press machine. The hardware sources stamp
//! each edge with the kernel's realtime timestamp of the event, not the time
//! it was read.

use tokio::io::AsyncBufReadExt as _;
use tokio::sync::mpsc;
use vigie_core::Timestamp;
use vigie_core::press::Edge;

/// Edges waiting for the agent; a stuck agent makes the source wait.
pub const EDGE_QUEUE_MAX: usize = 64;

pub type EdgeTx = mpsc::Sender<(Edge, Timestamp)>;

pub mod evdev;
pub mod gpio;

/// A kernel timestamp (CLOCK_REALTIME, nanoseconds since the epoch) in the
/// agent's milliseconds.
fn timestamp_from_ns(ns: u64) -> Timestamp {
    Timestamp(i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX))
}

/// The edges a finger makes for a command letter, from `now`.
pub fn edges_for(command: &str, now: Timestamp) -> Vec<(Edge, Timestamp)> {
    let at = |ms| now.plus_ms(ms);
    match command.trim() {
        "p" | "" => vec![(Edge::Down, at(0)), (Edge::Up, at(120))],
        "d" => vec![
            (Edge::Down, at(0)),
            (Edge::Up, at(120)),
            (Edge::Down, at(400)),
            (Edge::Up, at(520)),
        ],
        "l" => vec![(Edge::Down, at(0)), (Edge::Up, at(3_500))],
        _ => Vec::new(),
    }
}

/// Read commands from `input` (standard input in production) until it closes.
pub async fn run_lines<R>(input: R, tx: EdgeTx, now: impl Fn() -> Timestamp)
where
    R: tokio::io::AsyncRead + Unpin,
{
    let mut lines = tokio::io::BufReader::new(input).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let edges = edges_for(&line, now());
        if edges.is_empty() {
            tracing::warn!(input = %line.chars().take(20).collect::<String>(), "unknown button command (p, d or l)");
        }
        for e in edges {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    }
}
