//! Sign-in attempts slowed down: after each failure for a username (and,
//! separately, for a client address) the next attempt must wait twice as
//! long as the last, from one second up to a quarter of an hour. An
//! attempt that comes too early is refused without checking the password,
//! so guessing costs time whatever the guesses are.
//!
//! An attempt is counted as a failure the moment it is let through (and
//! forgiven if the password was right), so a burst of parallel guesses
//! cannot all slip in before the first one is judged. When the table is
//! full the quietest keys are forgotten first: it never stops counting.
//! Pure: the caller gives the time.

use std::collections::HashMap;
use vigie_core::Timestamp;

/// Failures allowed before the first wait.
const FAILURES_FREE: u32 = 1;
/// Wait after the first counted failure, in milliseconds; doubles each time.
const DELAY_MS_FIRST: i64 = 1_000;
/// The longest wait, in milliseconds.
pub const DELAY_MS_MAX: i64 = 15 * 60_000;
/// Keys remembered at most; the oldest quiet ones are forgotten first.
const KEYS_MAX: usize = 100_000;
/// A key quiet this long is forgotten (its failures no longer count).
const FORGET_AFTER_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    not_before: Timestamp,
    last: Timestamp,
    /// Until when a refusal was already reported (one audit line per wait).
    reported_until: Timestamp,
}

/// Why an attempt may not go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooEarly {
    pub wait_ms: i64,
    /// The first refusal of this wait: worth one line in the audit log.
    pub first: bool,
}

#[derive(Debug, Default)]
pub struct Throttle {
    keys: HashMap<String, Record>,
}

/// The delay after `failures` failures.
pub fn delay_ms(failures: u32) -> i64 {
    if failures <= FAILURES_FREE {
        return 0;
    }
    let doublings = (failures - FAILURES_FREE - 1).min(20);
    (DELAY_MS_FIRST << doublings).min(DELAY_MS_MAX)
}

impl Throttle {
    /// How long each of `keys` must still wait; the longest wins.
    pub fn wait_ms(&self, keys: &[String], now: Timestamp) -> i64 {
        keys.iter()
            .filter_map(|k| self.keys.get(k))
            .map(|r| r.not_before.ms_since(now))
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// Let an attempt go ahead, counting it as a failure until
    /// [`Throttle::succeeded`] forgives it; or say how long to wait.
    pub fn attempt(&mut self, keys: &[String], now: Timestamp) -> Result<(), TooEarly> {
        let wait_ms = self.wait_ms(keys, now);
        if wait_ms > 0 {
            let mut first = false;
            for k in keys {
                if let Some(r) = self.keys.get_mut(k)
                    && r.not_before > now
                    && r.reported_until < r.not_before
                {
                    r.reported_until = r.not_before;
                    first = true;
                }
            }
            return Err(TooEarly { wait_ms, first });
        }
        self.failed(keys, now);
        Ok(())
    }

    fn make_room(&mut self, now: Timestamp) {
        if self.keys.len() < KEYS_MAX {
            return;
        }
        self.keys
            .retain(|_, r| now.ms_since(r.last) < FORGET_AFTER_MS);
        if self.keys.len() >= KEYS_MAX {
            // Forget the quietest tenth rather than stop counting.
            let mut lasts: Vec<i64> = self.keys.values().map(|r| r.last.as_ms()).collect();
            let cut = lasts.len() / 10;
            lasts.select_nth_unstable(cut);
            let threshold = lasts[cut];
            self.keys.retain(|_, r| r.last.as_ms() > threshold);
        }
    }

    pub fn failed(&mut self, keys: &[String], now: Timestamp) {
        self.make_room(now);
        for k in keys {
            let r = self.keys.entry(k.clone()).or_insert(Record {
                failures: 0,
                not_before: now,
                last: now,
                reported_until: now,
            });
            if now.ms_since(r.last) >= FORGET_AFTER_MS {
                r.failures = 0;
            }
            r.failures += 1;
            r.last = now;
            r.not_before = now.plus_ms(delay_ms(r.failures));
        }
    }

    /// The attempt was right: its keys start afresh.
    pub fn succeeded(&mut self, keys: &[String]) {
        for k in keys {
            self.keys.remove(k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_the_second_failure_and_stop_at_the_cap() {
        let got: Vec<i64> = (0..6).map(delay_ms).collect();
        assert_eq!(got, vec![0, 0, 1_000, 2_000, 4_000, 8_000]);
        assert_eq!(delay_ms(40), DELAY_MS_MAX);
    }

    #[test]
    fn an_early_attempt_must_wait_and_success_clears_the_record() {
        let mut t = Throttle::default();
        let keys = vec!["user:alice".to_string(), "ip:10.0.0.1".to_string()];
        let now = Timestamp(1_000_000);
        t.failed(&keys, now);
        assert_eq!(t.wait_ms(&keys, now), 0);
        t.failed(&keys, now);
        t.failed(&keys, now);
        assert_eq!(t.wait_ms(&keys, now), 2_000);
        assert_eq!(t.wait_ms(&keys, now.plus_ms(1_500)), 500);
        // Another username from the same address waits too.
        let other = vec!["user:bob".to_string(), "ip:10.0.0.1".to_string()];
        assert_eq!(t.wait_ms(&other, now), 2_000);
        t.succeeded(&keys);
        assert_eq!(t.wait_ms(&keys, now), 0);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_day() {
        let mut t = Throttle::default();
        let keys = vec!["user:alice".to_string()];
        for _ in 0..5 {
            t.failed(&keys, Timestamp(0));
        }
        t.failed(&keys, Timestamp(FORGET_AFTER_MS));
        assert_eq!(t.wait_ms(&keys, Timestamp(FORGET_AFTER_MS)), 0);
    }

    #[test]
    fn parallel_attempts_are_counted_before_they_are_judged() {
        let mut t = Throttle::default();
        let keys = vec!["user:alice".to_string()];
        let now = Timestamp(0);
        assert_eq!(t.attempt(&keys, now), Ok(()));
        assert_eq!(t.attempt(&keys, now), Ok(()), "the first mistake is free");
        // Two in flight, not judged yet: the third must wait.
        assert_eq!(
            t.attempt(&keys, now),
            Err(TooEarly {
                wait_ms: 1_000,
                first: true
            })
        );
        assert_eq!(
            t.attempt(&keys, now),
            Err(TooEarly {
                wait_ms: 1_000,
                first: false
            })
        );
        // One of the first two was right: the slate is clean.
        t.succeeded(&keys);
        assert_eq!(t.attempt(&keys, now), Ok(()));
    }

    #[test]
    fn a_full_table_forgets_its_quietest_keys_and_keeps_counting() {
        let mut t = Throttle::default();
        for i in 0..KEYS_MAX {
            t.failed(&[format!("ip:{i}")], Timestamp(i as i64));
        }
        let late = Timestamp(KEYS_MAX as i64);
        let keys = vec!["user:admin".to_string()];
        t.failed(&keys, late);
        t.failed(&keys, late);
        assert!(t.len() < KEYS_MAX);
        assert_eq!(t.wait_ms(&keys, late), 1_000);
    }
}
