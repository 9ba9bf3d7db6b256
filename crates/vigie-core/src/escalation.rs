//! Escalation: who is alerted, and when, until someone takes charge.
//!
//! Contacts are in tiers (1 = friends and neighbours, then e.g. the police
//! contact, then the Region's desk). Step 0 alerts the first tier that has
//! a contact able to receive alarms; each later step, after the tier
//! timeout, alerts the next. After the last tier the cycle repeats (the
//! alert says nobody has answered) until someone takes charge, the alarm is
//! closed, or the maximum duration is reached — then the alarm stays open,
//! flagged as exhausted for the desk, never silently dropped.
//!
//! The duration is counted in steps (each gives its tier `tier_timeout_ms`),
//! never as "now minus the time the alarm was received": a step of the
//! server's wall clock, or a hub that was down for a while, must not
//! exhaust an alarm that its tiers have not yet had the time to answer.

use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Time given to a tier before the next one is alerted.
    pub tier_timeout_ms: i64,
    /// Whether to start over from the first tier after the last.
    pub repeat: bool,
    /// No new step once the steps so far have given the tiers this long in
    /// all (steps × tier timeout).
    pub duration_ms_max: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            tier_timeout_ms: 60_000,
            repeat: true,
            duration_ms_max: 30 * 60_000,
        }
    }
}

/// A contact as escalation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reachable {
    pub contact_id: i64,
    pub tier: u8,
}

/// The next thing escalation wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Alert these contacts now (step `step`, tier `tier`, round `round`),
    /// then come back at `next_step_at`.
    Alert {
        step: u32,
        round: u32,
        tier: u8,
        contacts: Vec<i64>,
        next_step_at: Timestamp,
    },
    /// Nobody can receive alarms for this shop: the desk must see it now.
    NoContact,
    /// The policy has run out (no repeat, or maximum duration): the alarm
    /// stays open and is flagged for the desk.
    Exhausted,
}

/// The tiers that have at least one reachable contact, in order.
pub fn tiers(contacts: &[Reachable]) -> Vec<u8> {
    let mut tiers: Vec<u8> = contacts.iter().map(|c| c.tier).collect();
    tiers.sort_unstable();
    tiers.dedup();
    tiers
}

/// What step number `step` of an alarm does at `now`.
pub fn step(policy: &Policy, contacts: &[Reachable], step: u32, now: Timestamp) -> Step {
    let tiers = tiers(contacts);
    if tiers.is_empty() {
        return Step::NoContact;
    }
    let n = tiers.len() as u32;
    let round = step / n;
    if (round > 0 && !policy.repeat)
        || (step > 0
            && i64::from(step).saturating_mul(policy.tier_timeout_ms) >= policy.duration_ms_max)
    {
        return Step::Exhausted;
    }
    let tier = tiers[(step % n) as usize];
    let mut ids: Vec<i64> = contacts
        .iter()
        .filter(|c| c.tier == tier)
        .map(|c| c.contact_id)
        .collect();
    ids.sort_unstable();
    Step::Alert {
        step,
        round,
        tier,
        contacts: ids,
        next_step_at: now.plus_ms(policy.tier_timeout_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(contact_id: i64, tier: u8) -> Reachable {
        Reachable { contact_id, tier }
    }

    #[test]
    fn walks_the_tiers_then_repeats_then_stops() {
        let p = Policy::default();
        let contacts = [c(1, 1), c(2, 1), c(3, 2), c(9, 5)];
        let got: Vec<Step> = (0..4)
            .map(|s| step(&p, &contacts, s, Timestamp(i64::from(s) * 60_000)))
            .collect();
        assert_eq!(
            got,
            vec![
                Step::Alert {
                    step: 0,
                    round: 0,
                    tier: 1,
                    contacts: vec![1, 2],
                    next_step_at: Timestamp(60_000)
                },
                Step::Alert {
                    step: 1,
                    round: 0,
                    tier: 2,
                    contacts: vec![3],
                    next_step_at: Timestamp(120_000)
                },
                Step::Alert {
                    step: 2,
                    round: 0,
                    tier: 5,
                    contacts: vec![9],
                    next_step_at: Timestamp(180_000)
                },
                Step::Alert {
                    step: 3,
                    round: 1,
                    tier: 1,
                    contacts: vec![1, 2],
                    next_step_at: Timestamp(240_000)
                },
            ]
        );
        assert_eq!(
            step(&p, &contacts, 30, Timestamp(30 * 60_000)),
            Step::Exhausted
        );
        let once = Policy { repeat: false, ..p };
        assert_eq!(
            step(&once, &contacts, 3, Timestamp(180_000)),
            Step::Exhausted
        );
    }

    #[test]
    fn the_duration_is_counted_in_steps_not_read_off_the_clock() {
        let p = Policy::default();
        let contacts = [c(1, 1), c(2, 2)];
        // Step 1 an hour of wall time after step 0 (a clock step, a hub that
        // was down): still the next tier, not exhausted.
        assert!(matches!(
            step(&p, &contacts, 1, Timestamp(3_600_000)),
            Step::Alert { tier: 2, .. }
        ));
        // 29 steps of 60 s give 29 min: one more goes; at 30 it is over.
        assert!(matches!(
            step(&p, &contacts, 29, Timestamp(0)),
            Step::Alert { .. }
        ));
        assert_eq!(step(&p, &contacts, 30, Timestamp(0)), Step::Exhausted);
    }

    #[test]
    fn the_first_step_always_goes_and_empty_is_visible() {
        let p = Policy {
            duration_ms_max: 0,
            ..Policy::default()
        };
        assert!(matches!(
            step(&p, &[c(1, 3)], 0, Timestamp(5)),
            Step::Alert { tier: 3, .. }
        ));
        assert_eq!(step(&p, &[], 0, Timestamp(0)), Step::NoContact);
    }
}
