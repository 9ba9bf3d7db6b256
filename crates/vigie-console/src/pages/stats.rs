//! Figures for the funder: alarms per month, time to first answer (median
//! and 90th percentile), false-alarm rate, offline hours, by département
//! and rural / urban; as server-side SVG charts and as CSV.

use super::{Language, content_disposition, render, store_error, when};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_core::Timestamp;
use vigie_figures::chart::{BarChart, bar_chart};
use vigie_figures::stats::{Area, Figures, figures, to_csv};

/// A chart's drawing size, in pixels: one per row of a desk's screen
/// (the page scales it down on a phone), text at 13 px stays legible.
const CHART_WIDTH_PX: u32 = 760;
const CHART_HEIGHT_PX: u32 = 340;

/// Months shown by default, and at most.
const MONTHS_DEFAULT: u32 = 12;
const MONTHS_MAX: u32 = 36;
const MS_PER_DAY: i64 = 86_400_000;

#[derive(Deserialize)]
pub struct Period {
    months: Option<u32>,
}

/// The first instant of the month `months - 1` months before `now`'s, in
/// Paris time (close enough: a day's slack either side is harmless for the
/// first month's start), up to `now`.
fn period(now: Timestamp, months: u32) -> (Timestamp, Timestamp) {
    let c = now.paris();
    let back = i64::from(months.saturating_sub(1));
    let mut year = c.year;
    let mut month = i64::from(c.month) - back;
    while month < 1 {
        month += 12;
        year -= 1;
    }
    let days = days_from_civil(year, month, 1);
    // Midnight in Paris is 22:00 (summer) or 23:00 (winter) UTC the day before.
    let mut from = Timestamp(days * MS_PER_DAY - 2 * 3_600_000);
    if from.paris().day != 1 {
        from = from.plus_ms(3_600_000);
    }
    (from, now)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

async fn compute(console: &Console, months: u32) -> Result<Figures, vigie_hub::store::StoreError> {
    let (from, to) = period(console.now(), months);
    let (alarms, offline) = console.store().stats_facts(from, to).await?;
    Ok(
        tokio::task::spawn_blocking(move || figures(&alarms, &offline, from, to))
            .await
            .unwrap_or_else(|_| figures(&[], &[], from, to)),
    )
}

fn fmt_s(v: Option<f64>) -> String {
    v.map(|s| super::duration((s * 1_000.0) as i64))
        .unwrap_or_else(|| "—".into())
}

fn area_label(a: &Area, lang: Lang) -> String {
    if lang == Lang::En {
        a.label_en()
    } else {
        a.label_fr()
    }
}

pub async fn page(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(p): Query<Period>,
) -> Response {
    let months = p.months.unwrap_or(MONTHS_DEFAULT).clamp(1, MONTHS_MAX);
    let f = match compute(&console, months).await {
        Ok(f) => f,
        Err(e) => return store_error(e, lang),
    };
    let chart_months = bar_chart(&BarChart {
        title: lang.pick("Alarmes par mois", "Alarms per month").into(),
        x_label: lang
            .pick("Mois (heure de Paris)", "Month (Paris time)")
            .into(),
        y_label: lang.pick("Alarmes (nombre)", "Alarms (count)").into(),
        unit: lang.pick("alarmes", "alarms").into(),
        bars: f
            .months
            .iter()
            .map(|m| (m.month.clone(), m.alarms as f64))
            .collect(),
        width_px: CHART_WIDTH_PX,
        height_px: CHART_HEIGHT_PX,
    });
    let chart_answer = bar_chart(&BarChart {
        title: lang
            .pick(
                "Délai médian de première réponse, par mois",
                "Median time to the first answer, per month",
            )
            .into(),
        x_label: lang
            .pick("Mois (heure de Paris)", "Month (Paris time)")
            .into(),
        y_label: lang.pick("Délai (secondes)", "Time (seconds)").into(),
        unit: "s".into(),
        bars: f
            .months
            .iter()
            .map(|m| (m.month.clone(), m.answer_p50_s.unwrap_or(0.0)))
            .collect(),
        width_px: CHART_WIDTH_PX,
        height_px: CHART_HEIGHT_PX,
    });
    let chart_areas = bar_chart(&BarChart {
        title: lang
            .pick(
                "Taux de fausses alertes par zone",
                "False-alarm rate by area",
            )
            .into(),
        x_label: lang
            .pick(
                "Département, et zones rurale / urbaine",
                "Département, and rural / urban areas",
            )
            .into(),
        y_label: lang
            .pick(
                "Fausses alertes (% des alarmes)",
                "False alarms (% of alarms)",
            )
            .into(),
        unit: "%".into(),
        bars: f
            .areas
            .iter()
            .filter(|a| !matches!(a.area, Area::Region))
            .map(|a| {
                (
                    area_label(&a.area, lang),
                    a.false_alarm_rate.unwrap_or(0.0) * 100.0,
                )
            })
            .collect(),
        width_px: CHART_WIDTH_PX,
        height_px: CHART_HEIGHT_PX + 60,
    });
    let areas: Vec<Value> = f
        .areas
        .iter()
        .map(|a| {
            json!({
                "label": area_label(&a.area, lang),
                "alarms": a.alarms,
                "false_alarms": a.false_alarms,
                "rate": a.false_alarm_rate.map(|r| format!("{:.1} %", r * 100.0)).unwrap_or_else(|| "—".into()),
                "answered": a.answered,
                "p50": fmt_s(a.answer_p50_s),
                "p90": fmt_s(a.answer_p90_s),
                "offline": format!("{:.1}", a.offline_hours),
            })
        })
        .collect();
    render(
        &console,
        Some(&v),
        lang,
        "stats.html",
        "/console/stats",
        json!({
            "months": months,
            "from": when(f.from),
            "to": when(f.to),
            "chart_months": chart_months,
            "chart_answer": chart_answer,
            "chart_areas": chart_areas,
            "areas": areas,
        }),
    )
}

pub async fn csv(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(p): Query<Period>,
) -> Response {
    let months = p.months.unwrap_or(MONTHS_DEFAULT).clamp(1, MONTHS_MAX);
    let f = match compute(&console, months).await {
        Ok(f) => f,
        Err(e) => return store_error(e, lang),
    };
    let _ = console
        .store()
        .audit(v.audit("stats_exported", "stats"), console.now())
        .await;
    let (name, value) = content_disposition("vigie-statistiques.csv");
    let mut resp = to_csv(&f).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(name, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 1), 20_758);
    }

    #[test]
    fn a_period_starts_at_the_first_of_a_month_some_months_back() {
        // 2026-11-26 12:00 UTC, 12 months: from 2025-12-01 (Paris).
        let now = Timestamp(days_from_civil(2026, 11, 26) * MS_PER_DAY + 12 * 3_600_000);
        let (from, to) = period(now, 12);
        assert_eq!(to, now);
        let c = from.paris();
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2025, 12, 1, 0, 0)
        );
        // Summer time: 2026-07-01 00:00 in Paris is 22:00 UTC the day before.
        let (from, _) = period(Timestamp(days_from_civil(2026, 7, 15) * MS_PER_DAY), 1);
        assert_eq!(
            from,
            Timestamp(days_from_civil(2026, 7, 1) * MS_PER_DAY - 2 * 3_600_000)
        );
    }
}
