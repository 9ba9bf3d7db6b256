//! The hub's clock in the store: moving every pending deadline when the
//! wall clock steps, the steps the desk is shown, and the mark the hub
//! leaves of its time so that the next start can tell a step that happened
//! while it was stopped.
//!
//! The deadlines are the instants the hub compares with its time:
//! alarms' next escalation step, SMS held back until a moment
//! (`not_before`), and the time each box was last heard from (in the
//! database and among the heartbeats still in memory). Records of what
//! happened (an alarm's reception, an SMS sent) are left as they were
//! written: they were true on the clock of their moment.

use super::tx::{OptionalExtension as _, Tx, args};
use super::{Store, StoreError};
use crate::clock::{ClockMark, ClockStep};
use serde::Serialize;
use vigie_core::Timestamp;

/// Steps shown to the desk at most (the newest).
const CLOCK_STEPS_SHOWN_MAX: usize = 20;

/// Where a step was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSeen {
    /// While the hub ran (the monotonic clock told it).
    Running,
    /// At start, against the mark the hub left when it stopped.
    AtStart,
}

impl StepSeen {
    fn as_str(self) -> &'static str {
        match self {
            StepSeen::Running => "running",
            StepSeen::AtStart => "at_start",
        }
    }
}

/// A step of the wall clock the hub adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdoptedStep {
    pub at: Timestamp,
    pub delta_ms: i64,
    pub seen: StepSeen,
}

fn shift_deadlines(c: &dyn Tx, delta_ms: i64) -> Result<(), StoreError> {
    c.execute(
        "UPDATE alarms SET next_step_at = next_step_at + ?1 WHERE next_step_at IS NOT NULL",
        args![delta_ms],
    )?;
    c.execute(
        "UPDATE notifications SET not_before = not_before + ?1 WHERE state = 'pending'",
        args![delta_ms],
    )?;
    c.execute(
        "UPDATE device_health SET last_seen_at = last_seen_at + ?1",
        args![delta_ms],
    )?;
    Ok(())
}

fn write_mark(c: &dyn Tx, mark: &ClockMark) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO hub_clock (id, hub_ms, boot_id, uptime_ms) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET hub_ms = excluded.hub_ms, boot_id = excluded.boot_id, uptime_ms = excluded.uptime_ms",
        args![mark.hub_ms, mark.boot_id, mark.uptime_ms],
    )?;
    Ok(())
}

impl Store {
    /// Move every pending deadline by `step`, and record it, in one
    /// transaction. `enqueued` runs as soon as the write is queued, before
    /// anything written after it: the clock adopts the step there, so a
    /// write that read the old time is queued before this one and moved
    /// with the rest, and one that reads the new time is not moved again.
    pub async fn clock_stepped(
        &self,
        step: ClockStep,
        seen: StepSeen,
        enqueued: impl FnOnce() + Send + 'static,
    ) -> Result<(), StoreError> {
        let delta = step.delta_ms;
        let at = step.seen_at.plus_ms(delta);
        self.db
            .write_then(
                move |c| {
                    shift_deadlines(c, delta)?;
                    c.execute(
                        "INSERT INTO clock_steps (at, delta_ms, seen) VALUES (?1, ?2, ?3)",
                        args![at.as_ms(), delta, seen.as_str()],
                    )?;
                    Ok(())
                },
                enqueued,
            )
            .await
    }

    /// Move the times of the heartbeats still in memory by a step of the
    /// clock (they were received on the time before it).
    pub fn shift_heartbeats(&self, delta_ms: i64) {
        self.health.shift(delta_ms);
    }

    /// What the hub wrote of its clock when it last ran.
    pub async fn clock_mark(&self) -> Result<Option<ClockMark>, StoreError> {
        self.db
            .read(|c| {
                c.query_row(
                    "SELECT hub_ms, boot_id, uptime_ms FROM hub_clock WHERE id = 1",
                    args![],
                    |r| {
                        Ok(ClockMark {
                            hub_ms: r.get(0)?,
                            boot_id: r.get(1)?,
                            uptime_ms: r.get(2)?,
                        })
                    },
                )
                .optional()
            })
            .await
    }

    /// Leave a mark of the hub's time, for the next start.
    pub async fn write_clock_mark(&self, mark: ClockMark) -> Result<(), StoreError> {
        self.db.write(move |c| write_mark(c, &mark)).await
    }

    /// The newest steps the hub adopted, newest first.
    pub async fn clock_steps(&self, since: Timestamp) -> Result<Vec<AdoptedStep>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT at, delta_ms, seen FROM clock_steps WHERE at >= ?1 ORDER BY id DESC LIMIT ?2",
                )?;
                let rows = st.query_map(
                    args![since.as_ms(), CLOCK_STEPS_SHOWN_MAX as i64],
                    |r| {
                        let seen: String = r.get(2)?;
                        Ok(AdoptedStep {
                            at: Timestamp(r.get(0)?),
                            delta_ms: r.get(1)?,
                            seen: match seen.as_str() {
                                "at_start" => StepSeen::AtStart,
                                "running" => StepSeen::Running,
                                other => {
                                    return Err(StoreError::Corrupt {
                                        table: "clock_steps".into(),
                                        column: "seen".into(),
                                        why: format!("unknown value {other:?}"),
                                    });
                                }
                            },
                        })
                    },
                )?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await
    }
}
