//! The facts the funder's statistics are computed from: every alarm of a
//! period and every span a box was offline, each with its shop's
//! département and whether it is rural. `vigie_figures` does the sums.
//!
//! One query per kind of fact, whatever the period: a year of alarms of the
//! Region's 2,671 shops is one pass over `alarms` by press time.

use super::tx::args;
use super::{Store, StoreError};
use vigie_core::{Outcome, Timestamp};
use vigie_figures::stats::{AlarmFact, OfflineSpan};

/// Facts returned at most per kind: far above a year of the Region (a few
/// thousand alarms, a few tens of thousands of offline spans), it only
/// bounds memory if someone asks for a century.
pub const STATS_FACTS_MAX: usize = 2_000_000;

/// The fleet events that open and close an offline span (see
/// `supervision.rs`: declared offline, back online; a retired box's span
/// ends when it is retired).
const OFFLINE_OPENED: &str = "device_offline";
const OFFLINE_CLOSED: [&str; 2] = ["device_online", "device_retired"];

impl Store {
    /// The alarms pressed in `[from, to)` (silent end-to-end tests left
    /// out) and the offline spans that overlap it, oldest first. Spans are
    /// not cut to the period: one still open has `to: None`. A span runs
    /// from when supervision declared the box offline to when it noticed it
    /// back.
    pub async fn stats_facts(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<AlarmFact>, Vec<OfflineSpan>), StoreError> {
        if to < from {
            return Err(StoreError::refused(
                "bad_period",
                "la fin de la période précède son début / the period ends before it starts",
            ));
        }
        self.db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT s.departement, s.rural, a.pressed_at,
                            (SELECT MIN(w.at) FROM answers w WHERE w.alarm_id = a.id),
                            a.state, a.outcome
                     FROM alarms a JOIN shops s ON s.id = a.shop_id
                     WHERE a.pressed_at >= ?1 AND a.pressed_at < ?2 AND (a.outcome IS NULL OR a.outcome <> 'test')
                     ORDER BY a.pressed_at LIMIT ?3",
                )?;
                let alarms = st
                    .query_map(
                        args![from.as_ms(), to.as_ms(), STATS_FACTS_MAX as i64],
                        |r| {
                            let state: String = r.get(4)?;
                            Ok(AlarmFact {
                                departement: r.get(0)?,
                                rural: r.get(1)?,
                                pressed_at: Timestamp(r.get(2)?),
                                first_answer_at: r.get::<Option<i64>>(3)?.map(Timestamp),
                                cancelled: state == "cancelled",
                                outcome: r.parse_opt(5, Outcome::parse)?,
                            })
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut st = c.prepare(
                    "SELECT s.departement, s.rural, o.at, o.closed_at
                     FROM (SELECT e.id, e.shop_id, e.at,
                                  (SELECT MIN(x.at) FROM fleet_events x
                                   WHERE x.device_id = e.device_id AND x.id > e.id AND x.kind IN (?4, ?5)) AS closed_at
                           FROM fleet_events e WHERE e.kind = ?3 AND e.at < ?2) o
                     JOIN shops s ON s.id = o.shop_id
                     WHERE o.closed_at IS NULL OR o.closed_at > ?1
                     ORDER BY o.at, o.id LIMIT ?6",
                )?;
                let spans = st
                    .query_map(
                        args![
                            from.as_ms(),
                            to.as_ms(),
                            OFFLINE_OPENED,
                            OFFLINE_CLOSED[0],
                            OFFLINE_CLOSED[1],
                            STATS_FACTS_MAX as i64
                        ],
                        |r| {
                            Ok(OfflineSpan {
                                departement: r.get(0)?,
                                rural: r.get(1)?,
                                from: Timestamp(r.get(2)?),
                                to: r.get::<Option<i64>>(3)?.map(Timestamp),
                            })
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((alarms, spans))
            })
            .await
    }
}
