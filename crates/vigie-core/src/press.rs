//! Press patterns: what the holder meant, from the button's raw edges.
//!
//! A pure state machine fed with edges and their times (and `poll(now)` while
//! the button is held, so a long press is recognised without waiting for the
//! release). The first press raises the alarm at once — no waiting to see
//! whether a second press follows. A second press within the double-press
//! window adds recording to the same alarm. A long press within the cancel
//! window cancels it. Edges closer than the debounce time to the previous
//! accepted edge are contact bounce and are ignored.

use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PressSettings {
    /// Edges closer than this to the last accepted edge are bounce.
    pub debounce_ms: i64,
    /// A press starting within this time after the previous release is the
    /// second press of a double press.
    pub double_press_window_ms: i64,
    /// A press held this long is a long press.
    pub long_press_ms: i64,
    /// A long press cancels only within this time after the alarm's press.
    pub cancel_window_ms: i64,
    /// After this, the box considers the alarm over and a press raises a new one.
    pub alarm_session_ms_max: i64,
}

impl Default for PressSettings {
    fn default() -> Self {
        Self {
            debounce_ms: 30,
            double_press_window_ms: 700,
            long_press_ms: 3_000,
            cancel_window_ms: crate::alarm::CANCEL_WINDOW_MS_DEFAULT,
            alarm_session_ms_max: 30 * 60_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Down,
    Up,
}

/// What the holder asked for, with the time of the press that asked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PressEvent {
    RaiseAlarm { at: Timestamp },
    AddRecording { at: Timestamp },
    Cancel { at: Timestamp },
}

#[derive(Debug, Clone, Default)]
pub struct PressMachine {
    settings: PressSettings,
    last_edge_at: Option<Timestamp>,
    /// When the button went down, while it is held.
    down_since: Option<Timestamp>,
    /// Whether the current hold has already been taken as a long press.
    long_press_taken: bool,
    last_release_at: Option<Timestamp>,
    alarm: Option<AlarmSession>,
}

#[derive(Debug, Clone, Copy)]
struct AlarmSession {
    raised_at: Timestamp,
    recording: bool,
}

impl PressMachine {
    pub fn new(settings: PressSettings) -> Self {
        Self {
            settings,
            ..Default::default()
        }
    }

    /// Whether the box holds an alarm it raised and that is not yet over.
    pub fn alarm_open(&self) -> bool {
        self.alarm.is_some()
    }

    /// The hub said the alarm is closed: the next press raises a new one.
    pub fn alarm_closed(&mut self) {
        self.alarm = None;
    }

    /// Feed one edge; returns what it means, if anything.
    pub fn edge(&mut self, edge: Edge, at: Timestamp) -> Option<PressEvent> {
        if self
            .last_edge_at
            .is_some_and(|last| at.ms_since(last) < self.settings.debounce_ms)
        {
            return None;
        }
        match (edge, self.down_since) {
            (Edge::Down, None) => {
                self.last_edge_at = Some(at);
                self.down_since = Some(at);
                self.long_press_taken = false;
                self.on_press_start(at)
            }
            (Edge::Up, Some(_)) => {
                let event = self.poll(at);
                self.last_edge_at = Some(at);
                self.down_since = None;
                self.last_release_at = Some(at);
                event
            }
            // A repeated edge (two downs in a row) carries no new information.
            _ => None,
        }
    }

    /// Call while the button is held: recognises a long press as soon as it
    /// has lasted long enough.
    pub fn poll(&mut self, now: Timestamp) -> Option<PressEvent> {
        self.expire(now);
        let down = self.down_since?;
        if self.long_press_taken || now.ms_since(down) < self.settings.long_press_ms {
            return None;
        }
        self.long_press_taken = true;
        let session = self.alarm?;
        // The press that raised the alarm cannot cancel it: a long first
        // press is still an alarm.
        if down == session.raised_at {
            return None;
        }
        if down.ms_since(session.raised_at) <= self.settings.cancel_window_ms {
            self.alarm = None;
            return Some(PressEvent::Cancel { at: down });
        }
        None
    }

    /// When `poll` should next be called for a long press, if the button is held.
    pub fn next_poll_at(&self) -> Option<Timestamp> {
        match (self.down_since, self.long_press_taken) {
            (Some(down), false) => Some(down.plus_ms(self.settings.long_press_ms)),
            _ => None,
        }
    }

    fn expire(&mut self, now: Timestamp) {
        if self
            .alarm
            .is_some_and(|s| now.ms_since(s.raised_at) > self.settings.alarm_session_ms_max)
        {
            self.alarm = None;
        }
    }

    fn on_press_start(&mut self, at: Timestamp) -> Option<PressEvent> {
        self.expire(at);
        match self.alarm.as_mut() {
            None => {
                self.alarm = Some(AlarmSession {
                    raised_at: at,
                    recording: false,
                });
                Some(PressEvent::RaiseAlarm { at })
            }
            Some(session) => {
                let quick = self
                    .last_release_at
                    .is_some_and(|r| at.ms_since(r) <= self.settings.double_press_window_ms);
                if quick && !session.recording {
                    session.recording = true;
                    Some(PressEvent::AddRecording { at })
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(edges: &[(Edge, i64)]) -> Vec<PressEvent> {
        let mut m = PressMachine::new(PressSettings::default());
        let mut out = Vec::new();
        for &(e, t) in edges {
            // Poll as a real box would, at the long-press deadline.
            while let Some(p) = m.next_poll_at() {
                if p.as_ms() > t {
                    break;
                }
                out.extend(m.poll(p));
            }
            out.extend(m.edge(e, Timestamp(t)));
        }
        out
    }

    use Edge::{Down as D, Up as U};
    fn raise(t: i64) -> PressEvent {
        PressEvent::RaiseAlarm { at: Timestamp(t) }
    }
    fn rec(t: i64) -> PressEvent {
        PressEvent::AddRecording { at: Timestamp(t) }
    }
    fn cancel(t: i64) -> PressEvent {
        PressEvent::Cancel { at: Timestamp(t) }
    }

    #[test]
    fn table() {
        type Case = (&'static str, Vec<(Edge, i64)>, Vec<PressEvent>);
        let cases: Vec<Case> = vec![
            (
                "single press raises at once, on the down edge",
                vec![(D, 1000), (U, 1120)],
                vec![raise(1000)],
            ),
            (
                "double press adds recording",
                vec![(D, 1000), (U, 1100), (D, 1500), (U, 1600)],
                vec![raise(1000), rec(1500)],
            ),
            (
                "second press at the window's edge",
                vec![(D, 1000), (U, 1100), (D, 1800), (U, 1900)],
                vec![raise(1000), rec(1800)],
            ),
            (
                "second press just after the window",
                vec![(D, 1000), (U, 1100), (D, 1801), (U, 1900)],
                vec![raise(1000)],
            ),
            (
                "triple press records once",
                vec![(D, 0), (U, 100), (D, 300), (U, 400), (D, 600), (U, 700)],
                vec![raise(0), rec(300)],
            ),
            (
                "bounce on press and release",
                vec![
                    (D, 1000),
                    (U, 1005),
                    (D, 1010),
                    (U, 1200),
                    (D, 1210),
                    (U, 1220),
                ],
                vec![raise(1000)],
            ),
            (
                "long press within the window cancels",
                vec![(D, 0), (U, 100), (D, 10_000), (U, 14_000)],
                vec![raise(0), cancel(10_000)],
            ),
            (
                "long press is recognised while held",
                vec![(D, 0), (U, 100), (D, 10_000), (U, 60_000)],
                vec![raise(0), cancel(10_000)],
            ),
            (
                "long press after the cancel window does not cancel",
                vec![(D, 0), (U, 100), (D, 60_001), (U, 64_000)],
                vec![raise(0)],
            ),
            (
                "long first press is still an alarm",
                vec![(D, 0), (U, 5_000)],
                vec![raise(0)],
            ),
            (
                "after a cancel, a press raises a new alarm",
                vec![
                    (D, 0),
                    (U, 100),
                    (D, 1_000),
                    (U, 4_500),
                    (D, 9_000),
                    (U, 9_100),
                ],
                vec![raise(0), cancel(1_000), raise(9_000)],
            ),
            (
                "after the session, a press raises a new alarm",
                vec![(D, 0), (U, 100), (D, 1_800_101), (U, 1_800_200)],
                vec![raise(0), raise(1_800_101)],
            ),
            (
                "a release with no press is ignored",
                vec![(U, 0), (D, 100), (U, 200)],
                vec![raise(100)],
            ),
        ];
        for (name, edges, want) in cases {
            assert_eq!(run(&edges), want, "{name}");
        }
    }

    proptest! {
        /// Bounce (extra edges within the debounce time after each real edge)
        /// never changes what the holder meant.
        #[test]
        fn bounce_is_filtered(
            gaps in proptest::collection::vec(40i64..5_000, 1..12),
            bounces in proptest::collection::vec(proptest::collection::vec(1i64..29, 0..4), 12),
        ) {
            let mut clean = Vec::new();
            let mut bouncy = Vec::new();
            let mut t = 1_000;
            for (i, gap) in gaps.iter().enumerate() {
                t += gap;
                let edge = if i % 2 == 0 { D } else { U };
                clean.push((edge, t));
                bouncy.push((edge, t));
                let other = if edge == D { U } else { D };
                let mut bt = t;
                let mut flip = true;
                for b in &bounces[i] {
                    bt = (bt + b).min(t + 29);
                    bouncy.push((if flip { other } else { edge }, bt));
                    flip = !flip;
                }
            }
            prop_assert_eq!(run(&clean), run(&bouncy));
        }

        /// Any sequence: the first event is a raise, and nothing but a raise
        /// follows a cancel.
        #[test]
        fn raise_comes_first(times in proptest::collection::vec(1i64..10_000, 0..30)) {
            let mut t = 0;
            let edges: Vec<(Edge, i64)> = times.iter().enumerate().map(|(i, d)| {
                t += d;
                (if i % 2 == 0 { D } else { U }, t)
            }).collect();
            let events = run(&edges);
            let mut open = false;
            for e in events {
                match e {
                    PressEvent::RaiseAlarm { .. } => { prop_assert!(!open); open = true; }
                    PressEvent::AddRecording { .. } => prop_assert!(open),
                    PressEvent::Cancel { .. } => { prop_assert!(open); open = false; }
                }
            }
        }
    }
}
