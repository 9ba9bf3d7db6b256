//! Sign-in attempts slowed down: after each failure for a username (and,
//! separately, for a client address) the next attempt must wait twice as
//! long as the last, from one second up to a quarter of an hour. An
//! attempt that comes too early is refused without checking the password,
//! so guessing costs time whatever the guesses are. Pure: the caller gives
//! the time.

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

    pub fn failed(&mut self, keys: &[String], now: Timestamp) {
        if self.keys.len() >= KEYS_MAX {
            self.keys
                .retain(|_, r| now.ms_since(r.last) < FORGET_AFTER_MS);
        }
        if self.keys.len() >= KEYS_MAX {
            return;
        }
        for k in keys {
            let r = self.keys.entry(k.clone()).or_insert(Record {
                failures: 0,
                not_before: now,
                last: now,
            });
            if now.ms_since(r.last) >= FORGET_AFTER_MS {
                r.failures = 0;
            }
            r.failures += 1;
            r.last = now;
            r.not_before = now.plus_ms(delay_ms(r.failures));
        }
    }

    pub fn succeeded(&mut self, keys: &[String]) {
        for k in keys {
            self.keys.remove(k);
        }
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
}
