//! The funder's statistics: how many alarms, how many false alarms, how fast
//! a contact answered, how long the boxes were offline.
//!
//! The hub gathers one [`AlarmFact`] per alarm and one [`OfflineSpan`] per
//! offline period and hands them to [`figures`] with the period asked for;
//! [`to_csv`] turns the result into the spreadsheet the funder downloads.
//!
//! Rules, so the numbers mean the same thing in every report:
//! - the period is `[from, to]`, both ends included; an alarm counts when it
//!   was pressed within it, an offline span counts for its part within it;
//! - test alarms (`outcome == Some(Test)`) are left out everywhere;
//! - a false alarm is one cancelled by the holder's long press or resolved as
//!   [`Outcome::FalseAlarm`];
//! - the time to first answer is measured from the press to the first answer
//!   of any kind; its median and 90th percentile use the nearest-rank method
//!   (the value at rank ⌈p·n⌉ of the sorted times), so they are always times
//!   that really happened;
//! - months are Paris civil months ("2026-11"), every month of the period
//!   listed even when empty, so a chart shows the zeros.

use std::collections::BTreeSet;

use serde::Serialize;
use vigie_core::{Outcome, Timestamp};

/// One alarm as the figures see it.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmFact {
    /// Département code of the shop, e.g. "63".
    pub departement: String,
    /// The shop's commune counts as rural (under 2,000 inhabitants).
    pub rural: bool,
    pub pressed_at: Timestamp,
    /// First contact answer of any kind (coming / calling 17 / unavailable).
    pub first_answer_at: Option<Timestamp>,
    /// Cancelled by the holder's long press.
    pub cancelled: bool,
    /// Set when resolved.
    pub outcome: Option<Outcome>,
}

/// A span during which a shop's box was offline.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineSpan {
    /// Département code of the shop, e.g. "63".
    pub departement: String,
    /// The shop's commune counts as rural (under 2,000 inhabitants).
    pub rural: bool,
    pub from: Timestamp,
    /// None: still offline.
    pub to: Option<Timestamp>,
}

/// A group of shops the figures are given for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// The whole Region, Auvergne-Rhône-Alpes.
    Region,
    /// One département, by its code ("63").
    Departement(String),
    /// Shops in rural communes.
    Rural,
    /// Shops in urban communes.
    Urban,
}

impl Area {
    /// The area's name for French readers: "Puy-de-Dôme (63)".
    pub fn label_fr(&self) -> String {
        match self {
            Area::Region => "Région Auvergne-Rhône-Alpes".to_owned(),
            Area::Departement(code) => departement_label(code),
            Area::Rural => "Communes rurales".to_owned(),
            Area::Urban => "Communes urbaines".to_owned(),
        }
    }

    /// The area's name for English readers (départements keep their names).
    pub fn label_en(&self) -> String {
        match self {
            Area::Region => "Auvergne-Rhône-Alpes region".to_owned(),
            Area::Departement(code) => departement_label(code),
            Area::Rural => "Rural communes".to_owned(),
            Area::Urban => "Urban communes".to_owned(),
        }
    }
}

/// "Puy-de-Dôme (63)", or "Département 99" for a code outside the Region.
fn departement_label(code: &str) -> String {
    match departement_name(code) {
        Some(name) => format!("{name} ({code})"),
        None => format!("Département {code}"),
    }
}

/// The 12 départements of Auvergne-Rhône-Alpes, by code.
const DEPARTEMENTS: [(&str, &str); 12] = [
    ("01", "Ain"),
    ("03", "Allier"),
    ("07", "Ardèche"),
    ("15", "Cantal"),
    ("26", "Drôme"),
    ("38", "Isère"),
    ("42", "Loire"),
    ("43", "Haute-Loire"),
    ("63", "Puy-de-Dôme"),
    ("69", "Rhône"),
    ("73", "Savoie"),
    ("74", "Haute-Savoie"),
];

/// The name of a département of Auvergne-Rhône-Alpes from its code ("63" →
/// "Puy-de-Dôme"); None for a code outside the Region.
pub fn departement_name(code: &str) -> Option<&'static str> {
    DEPARTEMENTS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// One Paris civil month of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthRow {
    /// "2026-11".
    pub month: String,
    pub alarms: u64,
    pub false_alarms: u64,
    /// Median time to first answer, in seconds; None when no alarm was answered.
    pub answer_p50_s: Option<f64>,
    /// 90th percentile of the time to first answer, in seconds.
    pub answer_p90_s: Option<f64>,
}

/// The figures of one area over the whole period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaRow {
    pub area: Area,
    pub alarms: u64,
    pub false_alarms: u64,
    /// False alarms / alarms, between 0 and 1; None when there was no alarm.
    pub false_alarm_rate: Option<f64>,
    /// Alarms that got a first answer of any kind.
    pub answered: u64,
    /// Median time to first answer, in seconds; None when no alarm was answered.
    pub answer_p50_s: Option<f64>,
    /// 90th percentile of the time to first answer, in seconds.
    pub answer_p90_s: Option<f64>,
    /// Hours the area's boxes spent offline within the period, summed over boxes.
    pub offline_hours: f64,
}

/// Everything the funder's page and CSV show for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Every Paris civil month from `from` to `to`, oldest first.
    pub months: Vec<MonthRow>,
    /// The Region, then each département present in the data (by code), then
    /// rural, then urban.
    pub areas: Vec<AreaRow>,
}

const MS_PER_SECOND: f64 = 1_000.0;
const MS_PER_HOUR: f64 = 3_600_000.0;
const PERCENTILE_MEDIAN: u32 = 50;
const PERCENTILE_P90: u32 = 90;

/// The figures of the period `[from, to]` (both included) from every alarm
/// and offline span the hub knows; facts outside the period are ignored.
pub fn figures(
    alarms: &[AlarmFact],
    offline: &[OfflineSpan],
    from: Timestamp,
    to: Timestamp,
) -> Figures {
    let counted: Vec<&AlarmFact> = alarms
        .iter()
        .filter(|a| a.outcome != Some(Outcome::Test))
        .filter(|a| from <= a.pressed_at && a.pressed_at <= to)
        .collect();
    let spans: Vec<(&OfflineSpan, f64)> = offline
        .iter()
        .map(|s| (s, offline_hours_within(s, from, to)))
        .filter(|(_, hours)| *hours > 0.0)
        .collect();

    let months = month_keys(from, to)
        .into_iter()
        .map(|month| {
            let in_month: Vec<&AlarmFact> = counted
                .iter()
                .copied()
                .filter(|a| month_key(a.pressed_at) == month)
                .collect();
            let tally = Tally::of(&in_month);
            MonthRow {
                month,
                alarms: tally.alarms,
                false_alarms: tally.false_alarms,
                answer_p50_s: tally.answer_p50_s,
                answer_p90_s: tally.answer_p90_s,
            }
        })
        .collect();

    let departements: BTreeSet<&str> = counted
        .iter()
        .map(|a| a.departement.as_str())
        .chain(spans.iter().map(|(s, _)| s.departement.as_str()))
        .collect();
    let mut areas = vec![Area::Region];
    areas.extend(
        departements
            .into_iter()
            .map(|code| Area::Departement(code.to_owned())),
    );
    areas.extend([Area::Rural, Area::Urban]);

    let areas = areas
        .into_iter()
        .map(|area| {
            let in_area: Vec<&AlarmFact> = counted
                .iter()
                .copied()
                .filter(|a| area.contains(&a.departement, a.rural))
                .collect();
            let offline_hours = spans
                .iter()
                .filter(|(s, _)| area.contains(&s.departement, s.rural))
                // A fold, not `sum()`: an empty float sum is -0.0, printed "-0.00".
                .fold(0.0, |sum, (_, hours)| sum + hours);
            let tally = Tally::of(&in_area);
            AreaRow {
                area,
                alarms: tally.alarms,
                false_alarms: tally.false_alarms,
                false_alarm_rate: tally.false_alarm_rate(),
                answered: tally.answered,
                answer_p50_s: tally.answer_p50_s,
                answer_p90_s: tally.answer_p90_s,
                offline_hours,
            }
        })
        .collect();

    Figures {
        from,
        to,
        months,
        areas,
    }
}

impl Area {
    fn contains(&self, departement: &str, rural: bool) -> bool {
        match self {
            Area::Region => true,
            Area::Departement(code) => code == departement,
            Area::Rural => rural,
            Area::Urban => !rural,
        }
    }
}

/// Counts and answer times of a set of alarms.
struct Tally {
    alarms: u64,
    false_alarms: u64,
    answered: u64,
    answer_p50_s: Option<f64>,
    answer_p90_s: Option<f64>,
}

impl Tally {
    fn of(alarms: &[&AlarmFact]) -> Tally {
        let mut answer_s: Vec<f64> = alarms
            .iter()
            .filter_map(|a| a.first_answer_at.map(|t| answer_seconds(a.pressed_at, t)))
            .collect();
        answer_s.sort_by(f64::total_cmp);
        Tally {
            alarms: alarms.len() as u64,
            false_alarms: alarms.iter().filter(|a| is_false_alarm(a)).count() as u64,
            answered: answer_s.len() as u64,
            answer_p50_s: nearest_rank(&answer_s, PERCENTILE_MEDIAN),
            answer_p90_s: nearest_rank(&answer_s, PERCENTILE_P90),
        }
    }

    fn false_alarm_rate(&self) -> Option<f64> {
        (self.alarms > 0).then(|| self.false_alarms as f64 / self.alarms as f64)
    }
}

fn is_false_alarm(a: &AlarmFact) -> bool {
    a.cancelled || a.outcome == Some(Outcome::FalseAlarm)
}

/// Seconds from the press to the answer; an answer stamped before the press
/// (clocks disagreeing) counts as immediate rather than negative.
fn answer_seconds(pressed_at: Timestamp, answered_at: Timestamp) -> f64 {
    answered_at.ms_since(pressed_at).max(0) as f64 / MS_PER_SECOND
}

/// The nearest-rank percentile of sorted values: the value at rank ⌈p·n/100⌉.
fn nearest_rank(sorted: &[f64], percent: u32) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (percent as usize * n).div_ceil(100).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// Hours of a span within `[from, to]`; a span still open runs to `to`.
fn offline_hours_within(span: &OfflineSpan, from: Timestamp, to: Timestamp) -> f64 {
    let start = span.from.max(from);
    let end = span.to.unwrap_or(to).min(to);
    end.ms_since(start).max(0) as f64 / MS_PER_HOUR
}

/// "2026-11": the Paris civil month of an instant.
fn month_key(t: Timestamp) -> String {
    let c = t.paris();
    format!("{:04}-{:02}", c.year, c.month)
}

/// Every Paris civil month from the month of `from` to the month of `to`.
fn month_keys(from: Timestamp, to: Timestamp) -> Vec<String> {
    let (first, last) = (from.paris(), to.paris());
    let mut keys = Vec::new();
    let (mut year, mut month) = (first.year, first.month);
    while (year, month) <= (last.year, last.month) {
        keys.push(format!("{year:04}-{month:02}"));
        if month == 12 {
            year += 1;
            month = 1;
        } else {
            month += 1;
        }
    }
    keys
}

/// Header of the area table of the CSV.
pub const CSV_AREA_HEADER: &str = "zone,alarmes,fausses_alertes,taux_fausses_alertes,repondues,premiere_reponse_mediane_s,premiere_reponse_p90_s,heures_hors_ligne";
/// Header of the month table of the CSV.
pub const CSV_MONTH_HEADER: &str =
    "mois,alarmes,fausses_alertes,premiere_reponse_mediane_s,premiere_reponse_p90_s";

/// The figures as the funder's spreadsheet: the area table, a blank line, the
/// month table. Lines end with `\n`; decimals use '.'; rates have 3
/// decimals, seconds 1, hours 2; a missing value is an empty field.
pub fn to_csv(f: &Figures) -> String {
    let mut out = String::new();
    out.push_str(CSV_AREA_HEADER);
    out.push('\n');
    for row in &f.areas {
        let fields = [
            csv_field(&row.area.label_fr()),
            row.alarms.to_string(),
            row.false_alarms.to_string(),
            decimal(row.false_alarm_rate, 3),
            row.answered.to_string(),
            decimal(row.answer_p50_s, 1),
            decimal(row.answer_p90_s, 1),
            decimal(Some(row.offline_hours), 2),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(CSV_MONTH_HEADER);
    out.push('\n');
    for row in &f.months {
        let fields = [
            csv_field(&row.month),
            row.alarms.to_string(),
            row.false_alarms.to_string(),
            decimal(row.answer_p50_s, 1),
            decimal(row.answer_p90_s, 1),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn decimal(value: Option<f64>, places: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.places$}"),
        _ => String::new(),
    }
}

/// A CSV field, quoted per RFC 4180 when it holds a comma, a quote or a line
/// break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-01T00:00:00+01:00 (Paris, winter time).
    const NOV_1_PARIS_MS: i64 = 1_793_487_600_000;
    const HOUR_MS: i64 = 3_600_000;
    const DAY_MS: i64 = 24 * HOUR_MS;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_ms(ms)
    }

    fn alarm(dep: &str, rural: bool, pressed_ms: i64) -> AlarmFact {
        AlarmFact {
            departement: dep.to_owned(),
            rural,
            pressed_at: at(pressed_ms),
            first_answer_at: None,
            cancelled: false,
            outcome: None,
        }
    }

    fn answered(mut a: AlarmFact, after_s: i64) -> AlarmFact {
        a.first_answer_at = Some(a.pressed_at.plus_secs(after_s));
        a
    }

    fn row<'a>(f: &'a Figures, area: &Area) -> &'a AreaRow {
        f.areas
            .iter()
            .find(|r| &r.area == area)
            .expect("area present")
    }

    #[test]
    fn november_first_constant_is_midnight_in_paris() {
        let c = at(NOV_1_PARIS_MS).paris();
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2026, 11, 1, 0, 0)
        );
        assert_eq!(at(NOV_1_PARIS_MS - 1).paris().month, 10);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let cases: &[(&[f64], u32, Option<f64>)] = &[
            (&[], 50, None),
            (&[7.0], 50, Some(7.0)),
            (&[7.0], 90, Some(7.0)),
            (&[1.0, 2.0], 50, Some(1.0)),
            (&[1.0, 2.0, 3.0], 50, Some(2.0)),
            (&[1.0, 2.0, 3.0, 4.0], 50, Some(2.0)),
            (
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                90,
                Some(9.0),
            ),
            (
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
                90,
                Some(10.0),
            ),
        ];
        for (values, p, want) in cases {
            assert_eq!(nearest_rank(values, *p), *want, "p{p} of {values:?}");
        }
    }

    #[test]
    fn months_are_listed_even_when_empty_and_counted_in_paris_time() {
        // 2026-10-31T23:30 UTC is already November in Paris (winter, UTC+1).
        let late_october_utc = NOV_1_PARIS_MS + HOUR_MS / 2;
        // 2026-12-31T23:30 UTC is 2027-01-01 in Paris.
        let new_year_paris = NOV_1_PARIS_MS + 61 * DAY_MS + HOUR_MS / 2;
        let alarms = [
            alarm("63", false, late_october_utc),
            alarm("63", false, new_year_paris),
        ];
        let from = at(NOV_1_PARIS_MS - 40 * DAY_MS); // September
        let to = at(NOV_1_PARIS_MS + 100 * DAY_MS); // February 2027
        let f = figures(&alarms, &[], from, to);
        let months: Vec<(&str, u64)> = f
            .months
            .iter()
            .map(|m| (m.month.as_str(), m.alarms))
            .collect();
        assert_eq!(
            months,
            [
                ("2026-09", 0),
                ("2026-10", 0),
                ("2026-11", 1),
                ("2026-12", 0),
                ("2027-01", 1),
                ("2027-02", 0),
            ]
        );
        assert_eq!(f.months[0].answer_p50_s, None);
    }

    #[test]
    fn test_alarms_and_alarms_outside_the_period_are_left_out() {
        let mut test = alarm("63", false, NOV_1_PARIS_MS + DAY_MS);
        test.outcome = Some(Outcome::Test);
        let alarms = [
            test,
            alarm("69", false, NOV_1_PARIS_MS - 1),
            alarm("69", false, NOV_1_PARIS_MS + 29 * DAY_MS + 1),
            alarm("42", true, NOV_1_PARIS_MS),
        ];
        let f = figures(
            &alarms,
            &[],
            at(NOV_1_PARIS_MS),
            at(NOV_1_PARIS_MS + 29 * DAY_MS),
        );
        assert_eq!(row(&f, &Area::Region).alarms, 1);
        let areas: Vec<&Area> = f.areas.iter().map(|r| &r.area).collect();
        assert_eq!(
            areas,
            [
                &Area::Region,
                &Area::Departement("42".into()),
                &Area::Rural,
                &Area::Urban,
            ],
            "neither the test alarm's département nor out-of-period ones appear"
        );
        assert_eq!(f.months.len(), 1);
        assert_eq!(f.months[0].alarms, 1);
    }

    #[test]
    fn areas_count_alarms_false_alarms_and_answers() {
        let t = NOV_1_PARIS_MS + DAY_MS;
        let mut cancelled = alarm("69", false, t);
        cancelled.cancelled = true;
        let mut resolved_false = answered(alarm("63", true, t), 30);
        resolved_false.outcome = Some(Outcome::FalseAlarm);
        let mut incident = answered(alarm("63", false, t), 90);
        incident.outcome = Some(Outcome::Incident);
        let alarms = [
            cancelled,
            resolved_false,
            incident,
            answered(alarm("69", false, t), 60),
            alarm("63", true, t),
        ];
        let f = figures(&alarms, &[], at(NOV_1_PARIS_MS), at(t + DAY_MS));

        let areas: Vec<&Area> = f.areas.iter().map(|r| &r.area).collect();
        assert_eq!(
            areas,
            [
                &Area::Region,
                &Area::Departement("63".into()),
                &Area::Departement("69".into()),
                &Area::Rural,
                &Area::Urban,
            ]
        );

        let region = row(&f, &Area::Region);
        assert_eq!(
            (region.alarms, region.false_alarms, region.answered),
            (5, 2, 3)
        );
        assert_eq!(region.false_alarm_rate, Some(0.4));
        assert_eq!(region.answer_p50_s, Some(60.0));
        assert_eq!(region.answer_p90_s, Some(90.0));

        let puy = row(&f, &Area::Departement("63".into()));
        assert_eq!((puy.alarms, puy.false_alarms, puy.answered), (3, 1, 2));
        assert_eq!(puy.answer_p50_s, Some(30.0));
        assert_eq!(puy.answer_p90_s, Some(90.0));

        let rhone = row(&f, &Area::Departement("69".into()));
        assert_eq!(
            (rhone.alarms, rhone.false_alarms, rhone.answered),
            (2, 1, 1)
        );
        assert_eq!(rhone.false_alarm_rate, Some(0.5));

        let rural = row(&f, &Area::Rural);
        assert_eq!(
            (rural.alarms, rural.false_alarms, rural.answered),
            (2, 1, 1)
        );
        let urban = row(&f, &Area::Urban);
        assert_eq!(
            (urban.alarms, urban.false_alarms, urban.answered),
            (3, 1, 2)
        );
        assert_eq!(urban.answer_p50_s, Some(60.0));

        assert_eq!(f.months.len(), 1);
        assert_eq!(f.months[0].false_alarms, 2);
        assert_eq!(f.months[0].answer_p90_s, Some(90.0));
    }

    #[test]
    fn no_alarm_means_no_rate_and_no_answer_time() {
        let f = figures(&[], &[], at(NOV_1_PARIS_MS), at(NOV_1_PARIS_MS + DAY_MS));
        let region = row(&f, &Area::Region);
        assert_eq!(region.alarms, 0);
        assert_eq!(region.false_alarm_rate, None);
        assert_eq!(region.answer_p50_s, None);
        assert_eq!(region.answer_p90_s, None);
        assert_eq!(f.areas.len(), 3, "region, rural, urban");
    }

    #[test]
    fn answer_before_press_counts_as_immediate() {
        let a = answered(alarm("63", false, NOV_1_PARIS_MS + DAY_MS), -5);
        let f = figures(
            &[a],
            &[],
            at(NOV_1_PARIS_MS),
            at(NOV_1_PARIS_MS + 2 * DAY_MS),
        );
        assert_eq!(row(&f, &Area::Region).answer_p50_s, Some(0.0));
    }

    #[test]
    fn offline_hours_are_clipped_to_the_period() {
        let from = NOV_1_PARIS_MS;
        let to = NOV_1_PARIS_MS + 10 * DAY_MS;
        let span = |dep: &str, rural: bool, a: i64, b: Option<i64>| OfflineSpan {
            departement: dep.to_owned(),
            rural,
            from: at(a),
            to: b.map(at),
        };
        let spans = [
            // 3 h inside.
            span("15", true, from + HOUR_MS, Some(from + 4 * HOUR_MS)),
            // Starts 5 h before the period, ends 2 h in: 2 h.
            span("15", true, from - 5 * HOUR_MS, Some(from + 2 * HOUR_MS)),
            // Still offline, since 6 h before the end: 6 h.
            span("01", false, to - 6 * HOUR_MS, None),
            // Entirely before the period: nothing, and no row for 07.
            span("07", false, from - 9 * HOUR_MS, Some(from - HOUR_MS)),
        ];
        let f = figures(&[], &spans, at(from), at(to));
        assert_eq!(row(&f, &Area::Region).offline_hours, 11.0);
        assert_eq!(row(&f, &Area::Departement("15".into())).offline_hours, 5.0);
        assert_eq!(row(&f, &Area::Departement("01".into())).offline_hours, 6.0);
        assert_eq!(row(&f, &Area::Rural).offline_hours, 5.0);
        assert_eq!(row(&f, &Area::Urban).offline_hours, 6.0);
        assert!(
            !f.areas
                .iter()
                .any(|r| r.area == Area::Departement("07".into()))
        );
        assert_eq!(f.areas.len(), 5, "region, 01, 15, rural, urban");
    }

    #[test]
    fn departement_names_and_area_labels() {
        let cases = [
            ("01", Some("Ain")),
            ("03", Some("Allier")),
            ("07", Some("Ardèche")),
            ("15", Some("Cantal")),
            ("26", Some("Drôme")),
            ("38", Some("Isère")),
            ("42", Some("Loire")),
            ("43", Some("Haute-Loire")),
            ("63", Some("Puy-de-Dôme")),
            ("69", Some("Rhône")),
            ("73", Some("Savoie")),
            ("74", Some("Haute-Savoie")),
            ("75", None),
            ("", None),
        ];
        for (code, want) in cases {
            assert_eq!(departement_name(code), want, "{code}");
        }
        assert_eq!(
            Area::Departement("63".into()).label_fr(),
            "Puy-de-Dôme (63)"
        );
        assert_eq!(Area::Departement("2A".into()).label_en(), "Département 2A");
        assert_eq!(Area::Urban.label_fr(), "Communes urbaines");
        assert_eq!(Area::Urban.label_en(), "Urban communes");
        assert_eq!(Area::Region.label_fr(), "Région Auvergne-Rhône-Alpes");
    }

    #[test]
    fn csv_has_both_tables() {
        let t = NOV_1_PARIS_MS + DAY_MS;
        let mut cancelled = alarm("69", false, t);
        cancelled.cancelled = true;
        let alarms = [
            answered(alarm("63", true, t), 42),
            answered(alarm("63", true, t), 61),
            cancelled,
        ];
        let spans = [OfflineSpan {
            departement: "63".into(),
            rural: true,
            from: at(t),
            to: Some(at(t + HOUR_MS + HOUR_MS / 4)),
        }];
        let f = figures(&alarms, &spans, at(NOV_1_PARIS_MS), at(t + DAY_MS));
        let want = "\
zone,alarmes,fausses_alertes,taux_fausses_alertes,repondues,premiere_reponse_mediane_s,premiere_reponse_p90_s,heures_hors_ligne
Région Auvergne-Rhône-Alpes,3,1,0.333,2,42.0,61.0,1.25
Puy-de-Dôme (63),2,0,0.000,2,42.0,61.0,1.25
Rhône (69),1,1,1.000,0,,,0.00
Communes rurales,2,0,0.000,2,42.0,61.0,1.25
Communes urbaines,1,1,1.000,0,,,0.00

mois,alarmes,fausses_alertes,premiere_reponse_mediane_s,premiere_reponse_p90_s
2026-11,3,1,42.0,61.0
";
        assert_eq!(to_csv(&f), want);
    }

    #[test]
    fn csv_fields_are_quoted_per_rfc_4180() {
        let cases = [
            ("Ain (01)", "Ain (01)"),
            ("a,b", "\"a,b\""),
            ("dit \"x\"", "\"dit \"\"x\"\"\""),
            ("deux\nlignes", "\"deux\nlignes\""),
        ];
        for (raw, want) in cases {
            assert_eq!(csv_field(raw), want);
        }
        // An unknown département code with a comma ends up quoted in the file.
        let f = figures(
            &[alarm("9,9", false, NOV_1_PARIS_MS)],
            &[],
            at(NOV_1_PARIS_MS),
            at(NOV_1_PARIS_MS),
        );
        assert!(to_csv(&f).contains("\n\"Département 9,9\",1,0,0.000,0,,,0.00\n"));
    }

    #[test]
    fn figures_serialize_to_json() {
        let f = figures(
            &[alarm("63", false, NOV_1_PARIS_MS)],
            &[],
            at(NOV_1_PARIS_MS),
            at(NOV_1_PARIS_MS),
        );
        let json = serde_json::to_value(&f).expect("serializes");
        assert_eq!(json["areas"][1]["area"]["departement"], "63");
        assert_eq!(json["areas"][0]["area"], "region");
        assert_eq!(json["months"][0]["month"], "2026-11");
        assert_eq!(json["from"], NOV_1_PARIS_MS);
    }
}
