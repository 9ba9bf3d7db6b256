//! A USB HID foot switch or key, read through evdev (`/dev/input/eventN`).
//!
//! Only key events of the configured key code count: value 1 is the key
//! going down, 0 coming up, and 2 (the keyboard's auto-repeat while it is
//! held) is ignored, so a long press stays one press. Each edge carries the
//! event's kernel timestamp (CLOCK_REALTIME, evdev's default). The device is
//! grabbed so the key does not also type into a console.

use super::EdgeTx;
use ::evdev::{Device, EventType, InputEvent, KeyCode};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use vigie_core::Timestamp;
use vigie_core::press::Edge;

/// Between two attempts to open the device again after it went away
/// (a USB switch unplugged and plugged back).
const REOPEN_INTERVAL: Duration = Duration::from_secs(5);
/// evdev's key values.
const KEY_UP: i32 = 0;
const KEY_DOWN: i32 = 1;

/// The edge the finger made, if `event` is the button's key going down or up.
pub fn edge(event: &InputEvent, key_code: u16) -> Option<(Edge, Timestamp)> {
    if event.event_type() != EventType::KEY || event.code() != key_code {
        return None;
    }
    let edge = match event.value() {
        KEY_DOWN => Edge::Down,
        KEY_UP => Edge::Up,
        // 2: auto-repeat while held.
        _ => return None,
    };
    Some((edge, timestamp(event.timestamp())))
}

fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        Err(before) => Timestamp(-i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX)),
    }
}

/// Open the input device and check that it has the button's key.
pub fn open(device: &Path, key_code: u16) -> anyhow::Result<Device> {
    let mut d = Device::open(device)
        .with_context(|| format!("cannot open the input device {}", device.display()))?;
    let has_key = d
        .supported_keys()
        .is_some_and(|k| k.contains(KeyCode::new(key_code)));
    if !has_key {
        bail!(
            "the input device {} ({}) has no key with code {key_code}",
            device.display(),
            d.name().unwrap_or("no name")
        );
    }
    if let Err(e) = d.grab() {
        tracing::warn!(device = %device.display(), error = %e, "cannot grab the input device: its key may also reach other programs");
    }
    Ok(d)
}

/// Open the device now (an error names it), then read its key on a thread
/// of its own into `tx` until the agent stops. A device that fails later is
/// opened again every few seconds.
pub fn spawn(device: PathBuf, key_code: u16, tx: EdgeTx) -> anyhow::Result<()> {
    let opened = open(&device, key_code)?;
    tracing::info!(device = %device.display(), name = opened.name().unwrap_or(""), key_code, "button on an input device");
    std::thread::Builder::new()
        .name("vigie-evdev".into())
        .spawn(move || {
            let mut opened = Some(opened);
            loop {
                let mut d = match opened.take() {
                    Some(d) => d,
                    None => match open(&device, key_code) {
                        Ok(d) => {
                            tracing::info!(device = %device.display(), "input device opened again");
                            d
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
                    let edges: Vec<_> = match d.fetch_events() {
                        Ok(events) => events.filter_map(|e| edge(&e, key_code)).collect(),
                        Err(e) => {
                            tracing::error!(device = %device.display(), error = %e, "reading the button's input device failed");
                            break;
                        }
                    };
                    for e in edges {
                        if tx.blocking_send(e).is_err() {
                            return;
                        }
                    }
                }
                drop(d);
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(REOPEN_INTERVAL);
            }
        })
        .context("cannot start the input device's thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A foot switch sending F13.
    const KEY: u16 = KeyCode::KEY_F13.0;

    /// An event as the kernel writes it, at `sec`.`usec`.
    fn at(
        type_: EventType,
        code: u16,
        value: i32,
        tv_sec: libc::time_t,
        tv_usec: libc::suseconds_t,
    ) -> InputEvent {
        InputEvent::from(libc::input_event {
            time: libc::timeval { tv_sec, tv_usec },
            type_: type_.0,
            code,
            value,
        })
    }

    /// 2026-11-26 14h32 in Paris, in seconds and in milliseconds.
    const SEC: libc::time_t = 1_795_699_920;
    const MS: i64 = 1_795_699_920_000;

    #[test]
    fn key_events_of_the_button() {
        let table = [
            // (type, code, value, what the finger did)
            (EventType::KEY, KEY, 1, Some(Edge::Down)),
            (EventType::KEY, KEY, 0, Some(Edge::Up)),
            (EventType::KEY, KEY, 2, None), // auto-repeat while held
            (EventType::KEY, KeyCode::KEY_A.0, 1, None), // another key
            (EventType::KEY, KeyCode::KEY_A.0, 0, None),
            (EventType::MISC, 4, 0x7_0068, None), // MSC_SCAN sent with the key
            (EventType::SYNCHRONIZATION, 0, 0, None),
            (EventType::SWITCH, KEY, 1, None), // same code, not a key
        ];
        for (type_, code, value, want) in table {
            let e = at(type_, code, value, SEC, 250_000);
            assert_eq!(
                edge(&e, KEY),
                want.map(|w| (w, Timestamp(MS + 250))),
                "{type_:?} code {code} value {value}"
            );
        }
    }

    #[test]
    fn the_event_time_is_kept_to_the_millisecond() {
        let down = at(EventType::KEY, KEY, 1, SEC, 999);
        let up = at(EventType::KEY, KEY, 0, SEC + 3, 500_999);
        assert_eq!(edge(&down, KEY), Some((Edge::Down, Timestamp(MS))));
        assert_eq!(
            edge(&up, KEY),
            Some((Edge::Up, Timestamp(MS + 3_500))),
            "3.5 s held: a long press for the press machine"
        );
    }

    #[test]
    fn a_missing_device_is_named() {
        let e = open(Path::new("/dev/input/event-vigie-absent"), KEY).expect_err("no device");
        let text = format!("{e:#}");
        assert!(text.contains("/dev/input/event-vigie-absent"), "{text}");
    }

    #[test]
    fn a_file_that_is_not_an_input_device_is_refused_with_its_name() {
        let path = std::env::temp_dir().join(format!("vigie-evdev-{}", uuid::Uuid::now_v7()));
        std::fs::write(&path, b"not a device").expect("file");
        let e = open(&path, KEY).expect_err("not an input device");
        let text = format!("{e:#}");
        let _ = std::fs::remove_file(&path);
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
}
