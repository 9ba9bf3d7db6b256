//! The clock, read once at the edge and passed down as `now`.
//!
//! The hub's time follows the wall clock (it is written in every record
//! and compared with the boxes' clocks), but it never *jumps*: it advances
//! with the monotonic clock, and a step of the wall clock (NTP at boot, a
//! VM resumed, a wrong manual set) is held back as a pending
//! [`ClockStep`] until the engine has moved every pending deadline by it
//! (`Engine::adopt_clock_step`). So a tier timeout of 60 s stays 60 s
//! whatever the wall clock does: a step forward never makes an alarm due
//! (or exhausted) at once, a step back never holds a tier back.
//!
//! Production uses the system clock; tests use a manual clock they move
//! forward themselves (and step, to test the above), so no test depends on
//! the wall clock or sleeps to let time pass.

use std::sync::{Arc, Mutex};
use std::time::Instant;
use vigie_core::Timestamp;

/// A difference between the wall clock and the monotonic clock larger than
/// this is a step, not drift: NTP slews at most 0.5 ms per second, and the
/// hub reads its clock several times a second.
pub const CLOCK_STEP_MS_MIN: i64 = 2_000;

/// A step of the wall clock the hub has seen: the wall clock reads
/// `delta_ms` more (or less, when negative) than the time that really
/// passed since the hub last agreed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStep {
    /// How far the wall clock moved beyond the time that passed.
    pub delta_ms: i64,
    /// The hub's time when the step was seen (before the step).
    pub seen_at: Timestamp,
}

pub trait Clock: Send + Sync {
    /// The hub's time: the wall clock as last adopted, advanced by the
    /// monotonic clock.
    fn now(&self) -> Timestamp;
    /// A step of the wall clock seen and not yet adopted.
    fn pending_step(&self) -> Option<ClockStep>;
    /// From now on, follow the wall clock again: every deadline has been
    /// moved by `step`.
    fn adopt(&self, step: ClockStep);
    /// The machine's boot id and time since boot, to tell at start whether
    /// the wall clock stepped while the hub was stopped; `None` where the
    /// clock cannot say (the check is then skipped).
    fn boot(&self) -> Option<(String, i64)>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The pure part of a clock: the wall time last agreed on, and the
/// monotonic reading at that moment.
#[derive(Debug)]
struct Timeline {
    anchor_wall_ms: i64,
    anchor_mono_ms: i64,
    /// The last time given out, so the hub's time never goes backwards.
    last_ms: i64,
    pending: Option<ClockStep>,
}

impl Timeline {
    fn new(wall_ms: i64, mono_ms: i64) -> Self {
        Self {
            anchor_wall_ms: wall_ms,
            anchor_mono_ms: mono_ms,
            last_ms: wall_ms,
            pending: None,
        }
    }

    /// The hub's time for a reading of both clocks.
    fn read(&mut self, wall_ms: i64, mono_ms: i64) -> Timestamp {
        let expected = self.anchor_wall_ms + (mono_ms - self.anchor_mono_ms);
        let drift = wall_ms - expected;
        if drift.abs() >= CLOCK_STEP_MS_MIN {
            // Held back: the old timeline goes on until the engine adopts.
            match &mut self.pending {
                Some(p) => p.delta_ms = drift,
                None => {
                    self.pending = Some(ClockStep {
                        delta_ms: drift,
                        seen_at: Timestamp(expected),
                    })
                }
            }
        } else {
            // Drift (or a step smaller than the threshold): follow the wall.
            self.anchor_wall_ms = wall_ms;
            self.anchor_mono_ms = mono_ms;
            if self.pending.take().is_some() {
                // The wall clock came back by itself before the engine adopted.
                tracing::info!("the system clock is back in line with the hub's time");
            }
        }
        let t = if drift.abs() < CLOCK_STEP_MS_MIN {
            wall_ms
        } else {
            expected
        };
        self.last_ms = self.last_ms.max(t);
        Timestamp(self.last_ms)
    }

    fn adopt(&mut self, step: ClockStep) {
        self.anchor_wall_ms += step.delta_ms;
        // A backward step lowers the floor too: the hub's time follows the
        // wall clock down once the deadlines have moved with it.
        if step.delta_ms < 0 {
            self.last_ms += step.delta_ms;
        }
        let rest = self.pending.map(|p| p.delta_ms - step.delta_ms);
        match rest {
            Some(0) | None => self.pending = None,
            Some(rest) => {
                if let Some(p) = &mut self.pending {
                    p.delta_ms = rest;
                }
            }
        }
    }
}

/// The system's clocks: `SystemTime` for the wall, `Instant` (monotonic,
/// never stepped) for the time that passes.
pub struct SystemClock {
    origin: Instant,
    timeline: Mutex<Timeline>,
}

impl SystemClock {
    pub fn new() -> Self {
        let origin = Instant::now();
        Self {
            origin,
            timeline: Mutex::new(Timeline::new(wall_ms(), 0)),
        }
    }
    fn mono_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

/// The system's wall clock in ms since the Unix epoch.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A timeline behind its lock, read with a pair of clock readings.
fn read_locked(timeline: &Mutex<Timeline>, (wall, mono): (i64, i64)) -> Timestamp {
    match timeline.lock() {
        Ok(mut t) => t.read(wall, mono),
        Err(_) => Timestamp(wall),
    }
}

fn pending_locked(timeline: &Mutex<Timeline>, reading: (i64, i64)) -> Option<ClockStep> {
    read_locked(timeline, reading);
    timeline.lock().ok().and_then(|t| t.pending)
}

fn adopt_locked(timeline: &Mutex<Timeline>, step: ClockStep) {
    if let Ok(mut t) = timeline.lock() {
        t.adopt(step);
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        read_locked(&self.timeline, (wall_ms(), self.mono_ms()))
    }
    fn pending_step(&self) -> Option<ClockStep> {
        pending_locked(&self.timeline, (wall_ms(), self.mono_ms()))
    }
    fn adopt(&self, step: ClockStep) {
        adopt_locked(&self.timeline, step);
    }
    fn boot(&self) -> Option<(String, i64)> {
        boot_reading()
    }
}

/// A clock that moves only when told to: `advance_ms` lets time pass (both
/// clocks move), `step_wall_ms` moves the wall clock alone, as NTP or an
/// operator would.
#[derive(Debug)]
pub struct ManualClock {
    /// The wall clock and the monotonic clock, in ms.
    wall_ms: Mutex<(i64, i64)>,
    timeline: Mutex<Timeline>,
    /// A boot id, when a test wants the start-up check (its uptime is the
    /// monotonic clock).
    boot: Mutex<Option<String>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(Self {
            wall_ms: Mutex::new((start.as_ms(), 0)),
            timeline: Mutex::new(Timeline::new(start.as_ms(), 0)),
            boot: Mutex::new(None),
        })
    }
    /// Say the machine booted as `boot_id` when this clock started, so that
    /// a hub started on it checks for a step while it was stopped.
    pub fn set_boot(&self, boot_id: &str) {
        if let Ok(mut b) = self.boot.lock() {
            *b = Some(boot_id.to_string());
        }
    }
    /// Let `ms` pass.
    pub fn advance_ms(&self, ms: i64) {
        if let Ok(mut c) = self.wall_ms.lock() {
            c.0 += ms;
            c.1 += ms;
        }
    }
    /// Let time pass until the hub's time is `t`.
    /// (A time before the hub's time rewinds the clock, as a new one.)
    pub fn set(&self, t: Timestamp) {
        let now = self.now();
        if t >= now {
            self.advance_ms(t.ms_since(now));
        } else if let (Ok(mut raw), Ok(mut timeline)) = (self.wall_ms.lock(), self.timeline.lock())
        {
            raw.0 = t.as_ms();
            *timeline = Timeline::new(t.as_ms(), raw.1);
        }
    }
    /// Step the wall clock by `ms` without time passing.
    pub fn step_wall_ms(&self, ms: i64) {
        if let Ok(mut c) = self.wall_ms.lock() {
            c.0 += ms;
        }
    }
    fn raw(&self) -> (i64, i64) {
        self.wall_ms.lock().map(|c| *c).unwrap_or((0, 0))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        read_locked(&self.timeline, self.raw())
    }
    fn pending_step(&self) -> Option<ClockStep> {
        pending_locked(&self.timeline, self.raw())
    }
    fn adopt(&self, step: ClockStep) {
        adopt_locked(&self.timeline, step);
    }
    fn boot(&self) -> Option<(String, i64)> {
        let boot = self.boot.lock().ok()?.clone()?;
        Some((boot, self.raw().1))
    }
}

/// What the hub wrote of its clock, to compare with the clock at the next
/// start: the hub's time, and the machine's boot and uptime then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockMark {
    pub hub_ms: i64,
    pub boot_id: String,
    pub uptime_ms: i64,
}

/// The machine's boot id and its time since boot (suspend included), read
/// from `/proc`; `None` where they cannot be read.
pub fn boot_reading() -> Option<(String, i64)> {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some((boot_id.trim().to_string(), (secs * 1000.0) as i64))
}

/// The step of the wall clock that happened while the hub was stopped, if
/// it can be told. On the same boot the time that really passed is known
/// (the machine's uptime); after a reboot only a clock *behind* the last
/// time the hub wrote is certainly wrong, and the deadlines are moved back
/// by that much (the time the machine was off is taken as none).
pub fn step_since(mark: &ClockMark, wall_now_ms: i64, boot: Option<(&str, i64)>) -> Option<i64> {
    let delta = match boot {
        Some((boot_id, uptime_ms)) if boot_id == mark.boot_id && uptime_ms >= mark.uptime_ms => {
            let passed = uptime_ms - mark.uptime_ms;
            wall_now_ms - (mark.hub_ms + passed)
        }
        _ => (wall_now_ms - mark.hub_ms).min(0),
    };
    (delta.abs() >= CLOCK_STEP_MS_MIN).then_some(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_passes_with_the_monotonic_clock_and_a_step_waits_for_adoption() {
        let c = ManualClock::new(Timestamp(1_000_000));
        c.advance_ms(5_000);
        assert_eq!(c.now(), Timestamp(1_005_000));
        c.step_wall_ms(3_600_000);
        // Held back: the hub's time goes on as if nothing happened.
        assert_eq!(c.now(), Timestamp(1_005_000));
        c.advance_ms(1_000);
        assert_eq!(c.now(), Timestamp(1_006_000));
        let step = c.pending_step().expect("a step is seen");
        assert_eq!(step.delta_ms, 3_600_000);
        assert_eq!(step.seen_at, Timestamp(1_005_000));
        c.adopt(step);
        assert_eq!(c.pending_step(), None);
        assert_eq!(c.now(), Timestamp(4_606_000));
    }

    #[test]
    fn a_backward_step_is_held_back_then_followed() {
        let c = ManualClock::new(Timestamp(10_000_000));
        c.step_wall_ms(-3_600_000);
        assert_eq!(c.now(), Timestamp(10_000_000));
        c.advance_ms(500);
        assert_eq!(c.now(), Timestamp(10_000_500));
        let step = c.pending_step().expect("step");
        assert_eq!(step.delta_ms, -3_600_000);
        c.adopt(step);
        assert_eq!(c.now(), Timestamp(6_400_500));
        c.advance_ms(10);
        assert_eq!(c.now(), Timestamp(6_400_510));
    }

    #[test]
    fn drift_below_the_threshold_is_followed_without_a_step() {
        let c = ManualClock::new(Timestamp(0));
        c.step_wall_ms(CLOCK_STEP_MS_MIN - 1);
        assert_eq!(c.pending_step(), None);
        assert_eq!(c.now(), Timestamp(CLOCK_STEP_MS_MIN - 1));
    }

    #[test]
    fn a_second_step_before_adoption_is_summed_and_a_step_undone_is_forgotten() {
        let c = ManualClock::new(Timestamp(0));
        c.step_wall_ms(10_000);
        c.step_wall_ms(5_000);
        assert_eq!(c.pending_step().map(|s| s.delta_ms), Some(15_000));
        c.step_wall_ms(-15_000);
        assert_eq!(c.pending_step(), None);
        assert_eq!(c.now(), Timestamp(0));
    }

    #[test]
    fn a_step_during_adoption_stays_pending() {
        let c = ManualClock::new(Timestamp(0));
        c.step_wall_ms(10_000);
        let step = c.pending_step().expect("step");
        c.step_wall_ms(20_000);
        c.now();
        c.adopt(step);
        assert_eq!(c.pending_step().map(|s| s.delta_ms), Some(20_000));
    }

    #[test]
    fn a_step_while_stopped_is_told_on_the_same_boot_and_backwards_after_a_reboot() {
        let mark = ClockMark {
            hub_ms: 1_000_000,
            boot_id: "b1".into(),
            uptime_ms: 50_000,
        };
        // Same boot, 10 s of uptime, the wall clock 1 h further on than that.
        assert_eq!(
            step_since(&mark, 1_000_000 + 10_000 + 3_600_000, Some(("b1", 60_000))),
            Some(3_600_000)
        );
        // Same boot, no step.
        assert_eq!(step_since(&mark, 1_010_000, Some(("b1", 60_000))), None);
        // Same boot, the clock set back an hour.
        assert_eq!(
            step_since(&mark, 1_010_000 - 3_600_000, Some(("b1", 60_000))),
            Some(-3_600_000)
        );
        // Another boot: ahead could be the time the machine was off.
        assert_eq!(step_since(&mark, 9_000_000, Some(("b2", 1_000))), None);
        // Another boot, behind the last time written: certainly wrong.
        assert_eq!(
            step_since(&mark, 1_000_000 - 86_400_000, Some(("b2", 1_000))),
            Some(-86_400_000)
        );
        assert_eq!(
            step_since(&mark, 1_000_000 - 86_400_000, None),
            Some(-86_400_000)
        );
    }
}
