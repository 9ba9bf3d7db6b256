//! A button on a GPIO line, read through the GPIO character device
//! (`/dev/gpiochipN`, uAPI v2) with `gpiocdev`.
//!
//! The line is requested as an input with both edges detected and the
//! kernel's realtime event clock, so each edge carries the time it happened
//! (not the time it was read). Levels are requested physical and inverted
//! here when the button is active low (a push button to ground with the
//! internal pull-up, `docs/ops/box.md`); debounce is left to the press
//! machine, which sees every bounce with its own time.

use super::{EdgeTx, timestamp_from_ns};
use anyhow::Context as _;
use gpiocdev::Request;
use gpiocdev::line::{Bias, EdgeDetection, EdgeEvent, EdgeKind, EventClock};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigie_core::Timestamp;
use vigie_core::press::Edge;

/// The consumer name shown by `gpioinfo` for the requested line.
const CONSUMER: &str = "vigie";
/// Between two attempts to request the line again after a read failed.
const REOPEN_INTERVAL: Duration = Duration::from_secs(5);

/// The edge the finger made, from the kernel's event on the line.
///
/// Rising is the line going high: a press on an active-high button, a
/// release on an active-low one.
pub fn edge(event: &EdgeEvent, active_low: bool) -> (Edge, Timestamp) {
    let pressed = (event.kind == EdgeKind::Rising) != active_low;
    let edge = if pressed { Edge::Down } else { Edge::Up };
    (edge, timestamp_from_ns(event.timestamp_ns))
}

/// Request `line` of `chip` as the button's input.
pub fn open(chip: &Path, line: u32, active_low: bool) -> anyhow::Result<Request> {
    Request::builder()
        .on_chip(chip)
        .with_consumer(CONSUMER)
        .with_line(line)
        .as_input()
        // The pull holds the idle level: high for a button to ground.
        .with_bias(if active_low {
            Bias::PullUp
        } else {
            Bias::PullDown
        })
        .with_edge_detection(EdgeDetection::BothEdges)
        .with_event_clock(EventClock::Realtime)
        .request()
        .with_context(|| {
            format!(
                "cannot request line {line} of the GPIO chip {} for the button",
                chip.display()
            )
        })
}

/// Request the line now (an error names the chip and line), then read its
/// edges on a thread of their own into `tx` until the agent stops. A line
/// that fails later is requested again every few seconds.
pub fn spawn(chip: PathBuf, line: u32, active_low: bool, tx: EdgeTx) -> anyhow::Result<()> {
    let request = open(&chip, line, active_low)?;
    tracing::info!(chip = %chip.display(), line, active_low, "button on a GPIO line");
    std::thread::Builder::new()
        .name("vigie-gpio".into())
        .spawn(move || {
            let mut request = Some(request);
            loop {
                let r = match request.take() {
                    Some(r) => r,
                    None => match open(&chip, line, active_low) {
                        Ok(r) => {
                            tracing::info!(chip = %chip.display(), line, "GPIO line requested again");
                            r
                        }
                        Err(e) => {
                            tracing::error!(error = format!("{e:#}"), "the button cannot be read");
                            if tx.is_closed() {
                                return;
                            }
                            std::thread::sleep(REOPEN_INTERVAL);
                            continue;
                        }
                    },
                };
                loop {
                    match r.read_edge_event() {
                        Ok(event) => {
                            if tx.blocking_send(edge(&event, active_low)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::error!(chip = %chip.display(), line, error = %e, "reading the button's GPIO line failed");
                            break;
                        }
                    }
                }
                drop(r);
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(REOPEN_INTERVAL);
            }
        })
        .context("cannot start the GPIO button's thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EdgeKind, timestamp_ns: u64) -> EdgeEvent {
        EdgeEvent {
            timestamp_ns,
            kind,
            offset: 17,
            seqno: 1,
            line_seqno: 1,
        }
    }

    /// 2026-11-26 14h32 in Paris, in nanoseconds, plus 123.456789 ms.
    const NS: u64 = 1_795_699_920_123_456_789;

    #[test]
    fn edges_from_the_line() {
        let table = [
            // (what the line did, active low, what the finger did)
            (EdgeKind::Rising, false, Edge::Down),
            (EdgeKind::Falling, false, Edge::Up),
            (EdgeKind::Falling, true, Edge::Down),
            (EdgeKind::Rising, true, Edge::Up),
        ];
        for (kind, active_low, want) in table {
            assert_eq!(
                edge(&event(kind, NS), active_low),
                (want, Timestamp(1_795_699_920_123)),
                "{kind:?}, active_low = {active_low}"
            );
        }
    }

    #[test]
    fn realtime_nanoseconds_become_milliseconds() {
        assert_eq!(
            edge(&event(EdgeKind::Rising, 0), false).1,
            Timestamp(0),
            "the epoch"
        );
        assert_eq!(
            edge(&event(EdgeKind::Rising, 999_999), false).1,
            Timestamp(0),
            "truncated, not rounded up into the future"
        );
        assert_eq!(
            edge(&event(EdgeKind::Rising, u64::MAX), false).1,
            Timestamp(18_446_744_073_709),
            "no overflow"
        );
    }

    #[test]
    fn a_missing_chip_is_named() {
        let e = open(Path::new("/dev/gpiochip-vigie-absent"), 17, true).expect_err("no such chip");
        let text = format!("{e:#}");
        assert!(text.contains("/dev/gpiochip-vigie-absent"), "{text}");
        assert!(text.contains("line 17"), "{text}");
    }
}
