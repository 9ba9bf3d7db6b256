//! Sign-in attempts slowed down without letting a stranger lock anyone
//! out (kanidm's soft lock, by address and by account-and-address pair):
//! after each failure for a username *from an address*, and separately for
//! everything *from that address*, the next attempt from there must wait
//! twice as long as the last, from one second up to a quarter of an hour.
//! An account's failures from everywhere together only slow down addresses
//! that never signed in to it, and by a minute at most: guessing from many
//! addresses stays slow, while the operator at her usual desk signs in at
//! once during an incident whoever typed her name elsewhere. An attempt
//! that comes too early is refused without checking the password, so
//! guessing costs time whatever the guesses are.
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
/// The longest wait an account's failures from everywhere impose on an
/// address that never signed in to it, in milliseconds: enough to slow a
/// guesser spread over many addresses, short enough that nobody is kept
/// out by it.
pub const ACCOUNT_DELAY_MS_MAX: i64 = 60_000;
/// Addresses remembered per account as having signed in to it.
const KNOWN_ADDRESSES_PER_ACCOUNT_MAX: usize = 16;
/// Accounts whose known addresses are remembered at most.
const KNOWN_ACCOUNTS_MAX: usize = 10_000;
/// Keys remembered at most; the oldest quiet ones are forgotten first.
const KEYS_MAX: usize = 100_000;
/// A key quiet this long is forgotten (its failures no longer count).
const FORGET_AFTER_MS: i64 = 24 * 3_600_000;

/// What failures are counted against, with the longest wait it imposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    id: String,
    delay_ms_max: i64,
}

impl Key {
    /// This username from this address.
    pub fn pair(username: &str, address: &str) -> Self {
        Self {
            id: format!("pair:{username}|{address}"),
            delay_ms_max: DELAY_MS_MAX,
        }
    }
    /// Everything from this address.
    pub fn address(address: &str) -> Self {
        Self {
            id: format!("ip:{address}"),
            delay_ms_max: DELAY_MS_MAX,
        }
    }
    /// This username from everywhere (counted always, waited on only by
    /// addresses the account does not know).
    pub fn account(username: &str) -> Self {
        Self {
            id: format!("user:{username}"),
            delay_ms_max: ACCOUNT_DELAY_MS_MAX,
        }
    }
    /// Second-factor codes of one signed-in account.
    pub fn code(account_id: i64) -> Self {
        Self {
            id: format!("code:{account_id}"),
            delay_ms_max: DELAY_MS_MAX,
        }
    }
}

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
    /// Per username, the addresses that signed in to it, newest last.
    known: HashMap<String, Vec<String>>,
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
    pub fn wait_ms(&self, keys: &[Key], now: Timestamp) -> i64 {
        keys.iter()
            .filter_map(|k| self.keys.get(&k.id))
            .map(|r| r.not_before.ms_since(now))
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// The keys of a sign-in attempt for `username` from `address`: the
    /// pair and the address always; the account too, as a key waited on,
    /// unless this address already signed in to it. The second list is
    /// counted but not waited on.
    pub fn sign_in_keys(&self, username: &str, address: Option<&str>) -> (Vec<Key>, Vec<Key>) {
        let address = address.unwrap_or("unknown");
        let mut waited = vec![Key::pair(username, address), Key::address(address)];
        let mut counted = Vec::new();
        let known = self
            .known
            .get(username)
            .is_some_and(|a| a.iter().any(|a| a == address));
        if known {
            counted.push(Key::account(username));
        } else {
            waited.push(Key::account(username));
        }
        (waited, counted)
    }

    /// `username` signed in from `address`: its failures from there and
    /// from everywhere are forgiven; the address is forgiven this attempt
    /// only (another account's password does not buy guesses); and the
    /// account's failures elsewhere no longer slow this address down.
    pub fn signed_in(&mut self, username: &str, address: Option<&str>) {
        self.succeeded(&[
            Key::pair(username, address.unwrap_or("unknown")),
            Key::account(username),
        ]);
        let from = Key::address(address.unwrap_or("unknown"));
        if let Some(r) = self.keys.get_mut(&from.id) {
            r.failures = r.failures.saturating_sub(1);
            r.not_before = r.last.plus_ms(delay_ms(r.failures).min(from.delay_ms_max));
        }
        let Some(address) = address else { return };
        if !self.known.contains_key(username) && self.known.len() >= KNOWN_ACCOUNTS_MAX {
            // Start again rather than grow without bound: the cost is a
            // minute's wait at worst, for accounts under attack only.
            self.known.clear();
        }
        let list = self.known.entry(username.to_string()).or_default();
        list.retain(|a| a != address);
        list.push(address.to_string());
        if list.len() > KNOWN_ADDRESSES_PER_ACCOUNT_MAX {
            list.remove(0);
        }
    }

    /// Let an attempt go ahead, counting it as a failure until
    /// [`Throttle::succeeded`] forgives it; or say how long to wait.
    pub fn attempt(&mut self, keys: &[Key], now: Timestamp) -> Result<(), TooEarly> {
        let wait_ms = self.wait_ms(keys, now);
        if wait_ms > 0 {
            let mut first = false;
            for k in keys {
                if let Some(r) = self.keys.get_mut(&k.id)
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

    pub fn failed(&mut self, keys: &[Key], now: Timestamp) {
        self.make_room(now);
        for k in keys {
            let r = self.keys.entry(k.id.clone()).or_insert(Record {
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
            r.not_before = now.plus_ms(delay_ms(r.failures).min(k.delay_ms_max));
        }
    }

    /// The attempt was right: its keys start afresh.
    pub fn succeeded(&mut self, keys: &[Key]) {
        for k in keys {
            self.keys.remove(&k.id);
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
        let keys = vec![Key::pair("alice", "10.0.0.1"), Key::address("10.0.0.1")];
        let now = Timestamp(1_000_000);
        t.failed(&keys, now);
        assert_eq!(t.wait_ms(&keys, now), 0);
        t.failed(&keys, now);
        t.failed(&keys, now);
        assert_eq!(t.wait_ms(&keys, now), 2_000);
        assert_eq!(t.wait_ms(&keys, now.plus_ms(1_500)), 500);
        // Another username from the same address waits too.
        let other = vec![Key::pair("bob", "10.0.0.1"), Key::address("10.0.0.1")];
        assert_eq!(t.wait_ms(&other, now), 2_000);
        t.succeeded(&keys);
        assert_eq!(t.wait_ms(&keys, now), 0);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_day() {
        let mut t = Throttle::default();
        let keys = vec![Key::pair("alice", "10.0.0.1")];
        for _ in 0..5 {
            t.failed(&keys, Timestamp(0));
        }
        t.failed(&keys, Timestamp(FORGET_AFTER_MS));
        assert_eq!(t.wait_ms(&keys, Timestamp(FORGET_AFTER_MS)), 0);
    }

    #[test]
    fn parallel_attempts_are_counted_before_they_are_judged() {
        let mut t = Throttle::default();
        let keys = vec![Key::pair("alice", "10.0.0.1")];
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
            t.failed(&[Key::address(&i.to_string())], Timestamp(i as i64));
        }
        let late = Timestamp(KEYS_MAX as i64);
        let keys = vec![Key::account("admin")];
        t.failed(&keys, late);
        t.failed(&keys, late);
        assert!(t.len() < KEYS_MAX);
        assert_eq!(t.wait_ms(&keys, late), 1_000);
    }

    /// Attempt from `address` for `username`, as sign-in makes it.
    fn sign_in(
        t: &mut Throttle,
        username: &str,
        address: &str,
        now: Timestamp,
    ) -> Result<(), TooEarly> {
        let (waited, counted) = t.sign_in_keys(username, Some(address));
        let r = t.attempt(&waited, now);
        if r.is_ok() {
            t.failed(&counted, now);
        }
        r
    }

    #[test]
    fn a_stranger_guessing_a_username_never_keeps_its_owner_out() {
        let mut t = Throttle::default();
        let now = Timestamp(0);
        // The operator signed in from her desk once.
        assert_eq!(sign_in(&mut t, "operateur", "10.0.0.7", now), Ok(()));
        assert!(
            t.sign_in_keys("operateur", Some("10.0.0.7")).1.is_empty(),
            "first time: the account key is waited on"
        );
        t.signed_in("operateur", Some("10.0.0.7"));
        // A stranger guesses her name thirty times from elsewhere.
        let mut later = now;
        for _ in 0..30 {
            later = later
                .plus_ms(t.wait_ms(&t.sign_in_keys("operateur", Some("203.0.113.9")).0, later));
            let _ = sign_in(&mut t, "operateur", "203.0.113.9", later);
        }
        let stranger = t.sign_in_keys("operateur", Some("203.0.113.9")).0;
        assert!(
            t.wait_ms(&stranger, later) > 60_000,
            "the guesser is slowed down"
        );
        // From her desk she goes straight in.
        assert_eq!(sign_in(&mut t, "operateur", "10.0.0.7", later), Ok(()));
        // From a new address she waits a minute at most.
        let new = t.sign_in_keys("operateur", Some("192.0.2.1")).0;
        let wait = t.wait_ms(&new, later);
        assert!(wait > 0 && wait <= ACCOUNT_DELAY_MS_MAX, "{wait}");
    }
}
