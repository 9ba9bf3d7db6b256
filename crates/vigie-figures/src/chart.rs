//! Bar charts drawn on the server as SVG, so the console's pages need no
//! JavaScript to show the funder's figures.
//!
//! The SVG is accessible: `role="img"` labelled by its `<title>`, and each
//! bar carries a `<title>` with its label and value, read by screen readers
//! and shown on hover. Colours come from CSS classes (`bar`, `axis`, `value`,
//! `label`, `tick`, `empty`) so the page's stylesheet decides; the `fill` and
//! `stroke` attributes only give contrasting defaults (a CSS rule always wins
//! over a presentation attribute). Every text is XML-escaped.

use std::fmt::Write as _;

use crate::xml::escape;

/// A bar chart: one bar per label, heights proportional to the values,
/// with its title written above it and both axes named (units included),
/// so that a desk reads it at a glance without hovering.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// What the chart shows, e.g. "Alarmes par mois / Alarms per month".
    pub title: String,
    /// What the bars are, under the horizontal axis, e.g. "Mois".
    pub x_label: String,
    /// What the heights are, with their unit, beside the vertical axis,
    /// e.g. "Alarmes (nombre)" or "Délai (s)".
    pub y_label: String,
    /// Unit of the values, printed with the axis maximum and in each bar's
    /// title, e.g. "s" or "h"; may be empty.
    pub unit: String,
    /// Label and value of each bar, left to right. Negative or non-finite
    /// values are drawn as empty bars; their value is still printed.
    pub bars: Vec<(String, f64)>,
    pub width_px: u32,
    pub height_px: u32,
}

/// The smallest drawing area, so a chart given a tiny size stays legible.
const WIDTH_PX_MIN: u32 = 160;
const HEIGHT_PX_MIN: u32 = 140;
/// Least space left of the plot; more when the axis maximum is wide.
const MARGIN_LEFT_PX_MIN: f64 = 32.0;
const MARGIN_RIGHT_PX: f64 = 8.0;
/// Space above the plot for the value over the tallest bar.
const MARGIN_TOP_PX: f64 = 20.0;
/// The band above that for the title, written in the picture.
const TITLE_BAND_PX: f64 = 26.0;
const TITLE_FONT_SIZE_PX: f64 = 16.0;
/// Space under the plot for horizontal bar labels.
const MARGIN_BOTTOM_PX: f64 = 24.0;
/// Room for an axis's name (one line of text).
const AXIS_NAME_BAND_PX: f64 = 20.0;
/// Text of labels and values: legible on a desk screen across the room.
const FONT_SIZE_PX: f64 = 13.0;
/// Rough width of one character at [`FONT_SIZE_PX`], to decide whether labels
/// fit under their bars and how much room they need.
const CHAR_WIDTH_PX: f64 = 7.5;
/// Labels too long to sit under their bar are slanted by this angle…
const SLANT_DEGREES: f64 = 40.0;
/// …and cut to this many characters (the bar's `<title>` keeps them whole).
const SLANTED_LABEL_CHARS_MAX: usize = 16;
/// Share of each bar's slot taken by the bar; the rest is the gap.
const BAR_SHARE: f64 = 0.7;

/// Default colours, dark enough on white for WCAG AA (contrast ≥ 4.5:1).
const BAR_FILL: &str = "#1f4e79";
const TEXT_FILL: &str = "#1a1a1a";
const AXIS_STROKE: &str = "#333333";
/// Grid lines behind the bars: light, only to follow a value across.
const GRID_STROKE: &str = "#d5dbe1";

/// Shown instead of bars when there is nothing to draw.
pub const NO_DATA: &str = "Aucune donnée / No data";

/// Where things go, in pixels.
struct Layout {
    width: f64,
    height: f64,
    left: f64,
    /// Width of one bar's slot.
    slot: f64,
    /// y of the plot's top (the axis maximum).
    top: f64,
    /// y of the horizontal axis; the plot spans top..axis_y.
    axis_y: f64,
    slanted: bool,
}

impl Layout {
    fn new(spec: &BarChart, tick_label: &str) -> Layout {
        let width = f64::from(spec.width_px.max(WIDTH_PX_MIN));
        let height = f64::from(spec.height_px.max(HEIGHT_PX_MIN));
        let n = spec.bars.len().max(1) as f64;
        let tick_width = tick_label.chars().count() as f64 * CHAR_WIDTH_PX + 10.0;
        let mut left = MARGIN_LEFT_PX_MIN.max(tick_width) + AXIS_NAME_BAND_PX;
        let mut slot = (width - left - MARGIN_RIGHT_PX) / n;
        let longest = spec
            .bars
            .iter()
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0);
        let slanted = longest as f64 * CHAR_WIDTH_PX > slot;
        let mut bottom = MARGIN_BOTTOM_PX + AXIS_NAME_BAND_PX;
        if slanted {
            // A slanted label runs down and to the left of its bar's centre.
            let run = longest.min(SLANTED_LABEL_CHARS_MAX) as f64 * CHAR_WIDTH_PX;
            let angle = SLANT_DEGREES.to_radians();
            left = left.max(run * angle.cos() - slot / 2.0 + 4.0);
            slot = (width - left - MARGIN_RIGHT_PX) / n;
            bottom = run * angle.sin() + FONT_SIZE_PX + 8.0 + AXIS_NAME_BAND_PX;
        }
        let top = TITLE_BAND_PX + MARGIN_TOP_PX;
        Layout {
            width,
            height,
            left,
            slot,
            top,
            axis_y: (height - bottom).max(top + 1.0),
            slanted,
        }
    }

    fn plot_width(&self) -> f64 {
        self.width - self.left - MARGIN_RIGHT_PX
    }

    fn plot_height(&self) -> f64 {
        self.axis_y - self.top
    }
}

/// The chart as a standalone `<svg>` element, ready to inline in a page.
pub fn bar_chart(spec: &BarChart) -> String {
    let max = axis_max(spec.bars.iter().map(|(_, v)| *v));
    let tick_label = with_unit(max, &spec.unit);
    let layout = Layout::new(
        spec,
        if spec.bars.is_empty() {
            ""
        } else {
            &tick_label
        },
    );
    let id = chart_id(spec);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="{id}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{FONT_SIZE_PX}"><title id="{id}">{title}</title>"#,
        w = num(layout.width),
        h = num(layout.height),
        title = escape(&spec.title),
    );
    // The title and the axes' names, written in the picture.
    let _ = write!(
        svg,
        r#"<text class="chart-title" x="{x}" y="{y}" font-size="{TITLE_FONT_SIZE_PX}" font-weight="bold" fill="{TEXT_FILL}">{title}</text>"#,
        x = num(4.0),
        y = num(TITLE_FONT_SIZE_PX + 2.0),
        title = escape(&spec.title),
    );
    if !spec.y_label.is_empty() {
        let (x, y) = (FONT_SIZE_PX + 2.0, layout.top + layout.plot_height() / 2.0);
        let _ = write!(
            svg,
            r#"<text class="axis-name y" x="{x}" y="{y}" text-anchor="middle" transform="rotate(-90 {x} {y})" fill="{TEXT_FILL}">{l}</text>"#,
            x = num(x),
            y = num(y),
            l = escape(&spec.y_label),
        );
    }
    if !spec.x_label.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="axis-name x" x="{x}" y="{y}" text-anchor="middle" fill="{TEXT_FILL}">{l}</text>"#,
            x = num(layout.left + layout.plot_width() / 2.0),
            y = num(layout.height - 6.0),
            l = escape(&spec.x_label),
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{AXIS_STROKE}"/><line class="axis" x1="{x0}" y1="{top}" x2="{x0}" y2="{y}" stroke="{AXIS_STROKE}"/>"#,
        x0 = num(layout.left),
        x1 = num(layout.width - MARGIN_RIGHT_PX),
        y = num(layout.axis_y),
        top = num(layout.top),
    );

    if spec.bars.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="empty" x="{x}" y="{y}" text-anchor="middle" fill="{TEXT_FILL}">{NO_DATA}</text></svg>"#,
            x = num(layout.left + layout.plot_width() / 2.0),
            y = num(layout.top + layout.plot_height() / 2.0),
        );
        return svg;
    }

    // Round ticks from 0 to the maximum, each with a light grid line.
    let steps = tick_steps(max);
    for k in 0..=steps {
        let value = max * f64::from(k) / f64::from(steps);
        let y = layout.axis_y - layout.plot_height() * f64::from(k) / f64::from(steps);
        let label = if k == steps {
            tick_label.clone()
        } else {
            format_value(value)
        };
        if k > 0 {
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{GRID_STROKE}"/>"#,
                x0 = num(layout.left),
                x1 = num(layout.width - MARGIN_RIGHT_PX),
                y = num(y),
            );
        }
        let _ = write!(
            svg,
            r#"<line class="tick" x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{AXIS_STROKE}"/><text class="tick" x="{tx}" y="{ty}" text-anchor="end" fill="{TEXT_FILL}">{label}</text>"#,
            x0 = num(layout.left - 4.0),
            x1 = num(layout.left),
            y = num(y),
            tx = num(layout.left - 6.0),
            ty = num(y + FONT_SIZE_PX / 3.0),
            label = escape(&label),
        );
    }

    let bar_width = layout.slot * BAR_SHARE;
    for (i, (label, value)) in spec.bars.iter().enumerate() {
        let drawn = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let bar_height = layout.plot_height() * (drawn / max).min(1.0);
        let centre = layout.left + layout.slot * (i as f64 + 0.5);
        let y = layout.axis_y - bar_height;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x}" y="{y}" width="{bw}" height="{bh}" fill="{BAR_FILL}"><title>{label} : {value}</title></rect>"#,
            x = num(centre - bar_width / 2.0),
            y = num(y),
            bw = num(bar_width),
            bh = num(bar_height),
            label = escape(label),
            value = escape(&with_unit(*value, &spec.unit)),
        );
        let _ = write!(
            svg,
            r#"<text class="value" x="{cx}" y="{vy}" text-anchor="middle" fill="{TEXT_FILL}">{v}</text>"#,
            cx = num(centre),
            vy = num(y - 4.0),
            v = escape(&format_value(*value)),
        );
        let ly = layout.axis_y + FONT_SIZE_PX + 4.0;
        if layout.slanted {
            let _ = write!(
                svg,
                r#"<text class="label" x="{cx}" y="{ly}" text-anchor="end" transform="rotate(-{SLANT_DEGREES} {cx} {ly})" fill="{TEXT_FILL}">{l}</text>"#,
                cx = num(centre),
                ly = num(ly),
                l = escape(&truncate(label, SLANTED_LABEL_CHARS_MAX)),
            );
        } else {
            let _ = write!(
                svg,
                r#"<text class="label" x="{cx}" y="{ly}" text-anchor="middle" fill="{TEXT_FILL}">{l}</text>"#,
                cx = num(centre),
                ly = num(ly),
                l = escape(label),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// At most `chars_max` characters, the last one "…" when cut.
fn truncate(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(chars_max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// How many equal steps divide the axis from 0 to `max` (1, 2 or 5 times
/// a power of ten) into round values: fifths of 1 and 5, quarters of 2.
fn tick_steps(max: f64) -> u32 {
    let leading = max / 10f64.powf(max.log10().floor());
    if (leading - 2.0).abs() < 1e-9 { 4 } else { 5 }
}

/// The top of the value axis: the largest value rounded up to 1, 2 or 5
/// times a power of ten, so the single tick reads as a round number.
fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let largest = values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    if largest <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(largest.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= largest)
        .unwrap_or(10.0 * magnitude)
}

/// A value as French readers write it: "1 234", "12,5" (one decimal at most).
fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let tenths = (value * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    let tenths = tenths.unsigned_abs();
    let whole = group_thousands(tenths / 10);
    match tenths % 10 {
        0 => format!("{sign}{whole}"),
        decimal => format!("{sign}{whole},{decimal}"),
    }
}

/// "1234567" → "1 234 567", with no-break spaces so a number never wraps.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(c);
    }
    out
}

fn with_unit(value: f64, unit: &str) -> String {
    if unit.is_empty() {
        format_value(value)
    } else {
        format!("{}\u{a0}{unit}", format_value(value))
    }
}

/// A coordinate with at most one decimal.
fn num(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// An id for the chart's `<title>`, stable for the same chart and distinct
/// between charts of one page (FNV-1a of the title and the labels).
fn chart_id(spec: &BarChart) -> String {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    let texts =
        std::iter::once(spec.title.as_str()).chain(spec.bars.iter().map(|(l, _)| l.as_str()));
    for text in texts {
        for byte in text.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    format!("chart-{:08x}", hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(bars: &[(&str, f64)]) -> BarChart {
        BarChart {
            title: "Alarmes par mois".into(),
            x_label: "Mois".into(),
            y_label: "Alarmes (nombre)".into(),
            unit: String::new(),
            bars: bars.iter().map(|(l, v)| ((*l).to_owned(), *v)).collect(),
            width_px: 600,
            height_px: 300,
        }
    }

    /// The attribute values of every `<tag …>` element, in order.
    fn attrs(svg: &str, tag: &str, attr: &str) -> Vec<String> {
        let open = format!("<{tag} ");
        let key = format!(" {attr}=\"");
        svg.match_indices(&open)
            .filter_map(|(i, _)| {
                let element = &svg[i..i + svg[i..].find('>')?];
                let start = element.find(&key)? + key.len();
                let len = element[start..].find('"')?;
                Some(element[start..start + len].to_owned())
            })
            .collect()
    }

    fn heights(svg: &str) -> Vec<f64> {
        attrs(svg, "rect", "height")
            .iter()
            .map(|h| h.parse().expect("number"))
            .collect()
    }

    #[test]
    fn one_bar_per_value_with_title_value_and_label() {
        let svg = bar_chart(&BarChart {
            unit: "s".into(),
            ..chart(&[("2026-10", 40.0), ("2026-11", 12.5), ("2026-12", 0.0)])
        });
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        let id = attrs(&svg, "svg", "aria-labelledby");
        assert_eq!(id.len(), 1);
        assert!(svg.contains(&format!(
            r#"<title id="{}">Alarmes par mois</title>"#,
            id[0]
        )));
        assert_eq!(attrs(&svg, "rect", "class"), ["bar", "bar", "bar"]);
        assert_eq!(attrs(&svg, "rect", "fill"), [BAR_FILL; 3]);
        assert!(svg.contains("<title>2026-11 : 12,5\u{a0}s</title>"));
        assert!(svg.contains(">12,5</text>"));
        assert!(svg.contains(">40</text>"));
        assert!(svg.contains(">2026-12</text>"));
        assert!(svg.contains(r#"<line class="axis""#));
        // The axis maximum is the round number above the largest value.
        assert!(svg.contains(">50\u{a0}s</text>"));
    }

    #[test]
    fn bar_heights_are_proportional() {
        let svg = bar_chart(&chart(&[
            ("a", 100.0),
            ("b", 50.0),
            ("c", 0.0),
            ("d", -3.0),
        ]));
        let h = heights(&svg);
        assert_eq!(h.len(), 4);
        assert!(h[0] > 0.0);
        assert!((h[1] * 2.0 - h[0]).abs() <= 0.2, "{h:?}");
        assert_eq!(h[2], 0.0);
        assert_eq!(h[3], 0.0, "negative values draw no bar");
        assert!(svg.contains(">-3</text>"), "but their value is printed");
        // 100 is already round: the tallest bar reaches the tick.
        let y: Vec<f64> = attrs(&svg, "rect", "y")
            .iter()
            .map(|v| v.parse().expect("number"))
            .collect();
        assert_eq!(y[0], TITLE_BAND_PX + MARGIN_TOP_PX);
    }

    #[test]
    fn text_is_escaped() {
        let svg = bar_chart(&BarChart {
            title: "Fish & <chips>".into(),
            unit: "\"u\"".into(),
            ..chart(&[("<script>alert(1)</script> & co", 3.0)])
        });
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<chips>"));
        assert!(svg.contains("Fish &amp; &lt;chips&gt;"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert!(svg.contains("&quot;u&quot;"));
        assert!(!svg.contains(" & "));
    }

    #[test]
    fn empty_chart_draws_the_axis_and_says_no_data() {
        let svg = bar_chart(&chart(&[]));
        assert!(svg.contains(r#"<line class="axis""#));
        assert!(svg.contains(">Aucune donnée / No data</text>"));
        assert!(!svg.contains("<rect"));
    }

    #[test]
    fn long_labels_are_slanted() {
        let many: Vec<(String, f64)> = (0..12)
            .map(|i| (format!("Département numéro {i}"), f64::from(i)))
            .collect();
        let svg = bar_chart(&BarChart {
            bars: many,
            ..chart(&[])
        });
        assert_eq!(svg.matches("rotate(-40").count(), 12);
        assert!(svg.contains(">Département num…</text>"), "cut to fit");
        assert!(
            svg.contains("<title>Département numéro 11 : 11</title>"),
            "whole in the title"
        );
        // The plot makes room for them: the axis is higher, the plot narrower.
        let axis_y: Vec<String> = attrs(&svg, "line", "y1");
        let straight = bar_chart(&chart(&[("01", 1.0)]));
        assert!(
            axis_y[0].parse::<f64>().expect("number")
                < attrs(&straight, "line", "y1")[0]
                    .parse::<f64>()
                    .expect("number")
        );
        let short = bar_chart(&chart(&[("01", 1.0), ("03", 2.0)]));
        assert!(!short.contains("rotate(-40"));
    }

    #[test]
    fn tiny_sizes_are_raised_to_a_legible_minimum() {
        let svg = bar_chart(&BarChart {
            width_px: 0,
            height_px: 0,
            ..chart(&[("a", 1.0)])
        });
        assert_eq!(attrs(&svg, "svg", "width"), ["160"]);
        assert_eq!(attrs(&svg, "svg", "height"), ["140"]);
        assert!(heights(&svg)[0] > 0.0);
    }

    #[test]
    fn distinct_charts_get_distinct_ids() {
        let a = attrs(&bar_chart(&chart(&[("a", 1.0)])), "svg", "aria-labelledby");
        let b = attrs(&bar_chart(&chart(&[("b", 1.0)])), "svg", "aria-labelledby");
        assert_ne!(a, b);
        assert!(a[0].starts_with("chart-"));
    }

    #[test]
    fn the_title_and_both_axes_are_written_with_round_ticks() {
        let svg = bar_chart(&BarChart {
            unit: "s".into(),
            y_label: "Délai (s)".into(),
            ..chart(&[("2026-10", 40.0), ("2026-11", 12.5)])
        });
        assert!(
            svg.contains(r##"font-weight="bold" fill="#1a1a1a">Alarmes par mois</text>"##),
            "{svg}"
        );
        assert!(svg.contains(r#"<text class="axis-name y""#) && svg.contains(">Délai (s)</text>"));
        assert!(svg.contains(r#"transform="rotate(-90 "#));
        assert!(svg.contains(r#"<text class="axis-name x""#) && svg.contains(">Mois</text>"));
        // 0 to 50 s in fifths, the top one with its unit.
        let ticks: Vec<&str> = svg
            .split(r#"<text class="tick""#)
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .collect();
        assert_eq!(ticks, ["0", "10", "20", "30", "40", "50\u{a0}s"]);
        assert_eq!(svg.matches(r#"<line class="grid""#).count(), 5);
        assert_eq!(tick_steps(20.0), 4);
        assert_eq!(tick_steps(0.5), 5);
        // No axis name given: none written.
        let bare = bar_chart(&BarChart {
            x_label: String::new(),
            y_label: String::new(),
            ..chart(&[("a", 1.0)])
        });
        assert!(!bare.contains("axis-name"));
    }

    #[test]
    fn axis_max_is_round() {
        let cases = [
            (vec![], 1.0),
            (vec![0.0], 1.0),
            (vec![0.3], 0.5),
            (vec![1.0], 1.0),
            (vec![3.0, 7.0], 10.0),
            (vec![12.0], 20.0),
            (vec![40.0], 50.0),
            (vec![51.0], 100.0),
            (vec![2671.0], 5000.0),
            (vec![f64::NAN, 4.0], 5.0),
        ];
        for (values, want) in cases {
            assert_eq!(axis_max(values.iter().copied()), want, "{values:?}");
        }
    }

    #[test]
    fn values_read_the_french_way() {
        let cases = [
            (0.0, "0"),
            (12.5, "12,5"),
            (12.04, "12"),
            (0.333, "0,3"),
            (1234.0, "1\u{a0}234"),
            (1_234_567.25, "1\u{a0}234\u{a0}567,3"),
            (-2.5, "-2,5"),
            (f64::NAN, "–"),
        ];
        for (value, want) in cases {
            assert_eq!(format_value(value), want, "{value}");
        }
    }
}
