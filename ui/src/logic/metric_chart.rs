//! The metric charts' arithmetic: the query step for a time range, series → SVG line (and
//! stacked area) geometry, value-axis ticks, hover and click lookups, and values formatted by
//! unit. Times are unix milliseconds (the Prometheus API's), values `f64`; the component only
//! draws what these functions return.

use otelite_api::prometheus::{LabelSet, MatrixSeries};

/// The SVG's coordinate box: lines are drawn in it and stretched to the chart's size.
pub const VIEW_WIDTH: f64 = 1000.0;
pub const VIEW_HEIGHT: f64 = 300.0;

/// At most this many points per series, so a chart stays quick to fetch and draw.
pub const MAX_POINTS: i64 = 1000;

/// Round query steps, in milliseconds.
const STEPS_MS: [i64; 19] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
];

/// The round step that gives at most [`MAX_POINTS`] points over `[start_ms, end_ms]`.
pub fn step_for(start_ms: i64, end_ms: i64) -> i64 {
    let span = (end_ms - start_ms).max(1);
    STEPS_MS
        .into_iter()
        .find(|step| span / step < MAX_POINTS)
        .unwrap_or_else(|| span / MAX_POINTS + 1)
}

/// The `rate()` window for a step: four steps, so each point sees several samples, and never
/// under five minutes, because OpenTelemetry SDKs export every 60 s by default and a shorter
/// window would often hold a single sample (no rate at all).
pub fn rate_window_ms(step_ms: i64) -> i64 {
    (4 * step_ms).max(300_000)
}

/// A duration as PromQL writes it: `5m`, `90s`, `2h`.
pub fn promql_duration(ms: i64) -> String {
    let s = ms / 1000;
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// One series to draw: its legend label, its labels and its points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    pub label: String,
    pub labels: LabelSet,
    /// `(unix ms, value)`.
    pub points: Vec<(i64, f64)>,
}

/// The chart series of a range query's answer, labelled by [`series_label`].
pub fn chart_series(matrix: &[MatrixSeries]) -> Vec<ChartSeries> {
    let varying = varying_labels(matrix.iter().map(|s| &s.metric));
    matrix
        .iter()
        .map(|s| ChartSeries {
            label: series_label(&s.metric, &varying),
            labels: s.metric.clone(),
            points: s.values.iter().map(|p| (p.t, p.v)).collect(),
        })
        .collect()
}

/// The label names whose values differ between the series (all of them for a single series).
fn varying_labels<'a>(sets: impl Iterator<Item = &'a LabelSet> + Clone) -> Vec<String> {
    let first = sets.clone().next();
    let mut names: Vec<String> = sets.clone().flat_map(|s| s.keys().cloned()).collect();
    names.sort();
    names.dedup();
    if sets.clone().count() <= 1 {
        return names;
    }
    names
        .into_iter()
        .filter(|name| {
            let value = first.and_then(|f| f.get(name));
            sets.clone().any(|s| s.get(name) != value)
        })
        .collect()
}

/// A legend label: `name{a="1", b="2"}` with only the labels in `shown` (those that tell the
/// series apart), the name alone when none differ, `{}` for a nameless result without labels.
pub fn series_label(labels: &LabelSet, shown: &[String]) -> String {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__" && shown.contains(k))
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if pairs.is_empty() && !name.is_empty() {
        return name;
    }
    format!("{name}{{{}}}", pairs.join(", "))
}

/// The colour a series' meaning asks for, where it has one: HTTP status classes (the
/// dashboard's `status_class` label) green for 2xx through red for 5xx, as people read them.
pub fn meaningful_color(labels: &LabelSet) -> Option<&'static str> {
    match labels.get("status_class")?.as_str() {
        "1xx" => Some("#64748b"),
        "2xx" => Some("#2ca02c"),
        "3xx" => Some("#1f77b4"),
        "4xx" => Some("#f59e0b"),
        "5xx" => Some("#d62728"),
        _ => None,
    }
}

/// What a chart draws: one line (and, stacked, one filled band) per series, in view-box
/// coordinates, and the value axis.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartGeometry {
    /// SVG path data per series, in the series' order.
    pub lines: Vec<String>,
    /// Stacked charts only: the band between a series and the one below it.
    pub areas: Vec<String>,
    /// The value axis' bottom and top, and its ticks.
    pub y_min: f64,
    pub y_max: f64,
    pub y_ticks: Vec<f64>,
}

/// Lays out `series` over `[start_ms, end_ms]`, with a value axis that also holds the values of
/// `marks` (exemplars drawn over the lines). Points further apart than 1.5 steps, and values
/// that are not finite, break a line (the series had no sample there). Stacked, each series
/// sits on the sum of those before it at the same time, a missing value counting as zero.
pub fn geometry(
    series: &[ChartSeries],
    marks: &[f64],
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    stacked: bool,
) -> ChartGeometry {
    let tops = if stacked {
        stack(series)
    } else {
        series.iter().map(|s| s.points.clone()).collect()
    };
    let finite = tops
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain(marks.iter().copied())
        .filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else {
        (lo.min(0.0), hi)
    };
    let y_ticks = value_ticks(lo, hi, 5);
    let y_min = y_ticks.first().copied().unwrap_or(lo);
    let y_max = y_ticks.last().copied().unwrap_or(hi);
    let x = |t: i64| fraction(t as f64, start_ms as f64, end_ms as f64) * VIEW_WIDTH;
    let y = |v: f64| VIEW_HEIGHT - fraction(v, y_min, y_max) * VIEW_HEIGHT;
    let gap = step_ms.max(1) * 3 / 2;
    let lines = tops
        .iter()
        .map(|points| {
            let mut d = String::new();
            let mut last: Option<i64> = None;
            for &(t, v) in points {
                if !v.is_finite() {
                    last = None;
                    continue;
                }
                let joined = last.is_some_and(|l| t - l <= gap);
                d.push_str(&format!(
                    "{}{:.1},{:.1}",
                    if joined { "L" } else { "M" },
                    x(t),
                    y(v)
                ));
                last = Some(t);
            }
            d
        })
        .collect();
    let areas = if stacked {
        let zero = Vec::new();
        tops.iter()
            .enumerate()
            .map(|(i, top)| {
                let below = if i == 0 { &zero } else { &tops[i - 1] };
                band(top, below, &x, &y, y(0.0_f64.max(y_min)))
            })
            .collect()
    } else {
        Vec::new()
    };
    ChartGeometry {
        lines,
        areas,
        y_min,
        y_max,
        y_ticks,
    }
}

/// The cumulative tops of stacked series, on the union of their times.
fn stack(series: &[ChartSeries]) -> Vec<Vec<(i64, f64)>> {
    let mut times: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    times.sort_unstable();
    times.dedup();
    let mut sums = vec![0.0; times.len()];
    series
        .iter()
        .map(|s| {
            for &(t, v) in &s.points {
                if let Ok(i) = times.binary_search(&t)
                    && v.is_finite()
                {
                    sums[i] += v;
                }
            }
            times.iter().copied().zip(sums.iter().copied()).collect()
        })
        .collect()
}

/// A closed path along `top` and back along `below` (or the baseline at `base_y`).
fn band(
    top: &[(i64, f64)],
    below: &[(i64, f64)],
    x: &dyn Fn(i64) -> f64,
    y: &dyn Fn(f64) -> f64,
    base_y: f64,
) -> String {
    if top.is_empty() {
        return String::new();
    }
    let mut d = String::new();
    for (i, &(t, v)) in top.iter().enumerate() {
        d.push_str(&format!(
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { "L" },
            x(t),
            y(v)
        ));
    }
    if below.is_empty() {
        let (first, last) = (top[0].0, top[top.len() - 1].0);
        d.push_str(&format!(
            "L{:.1},{base_y:.1}L{:.1},{base_y:.1}",
            x(last),
            x(first)
        ));
    } else {
        for &(t, v) in below.iter().rev() {
            d.push_str(&format!("L{:.1},{:.1}", x(t), y(v)));
        }
    }
    d.push('Z');
    d
}

/// Where `value` falls between `low` and `high`, 0.0 to 1.0 (0.5 for an empty range).
pub fn fraction(value: f64, low: f64, high: f64) -> f64 {
    if high <= low {
        return 0.5;
    }
    ((value - low) / (high - low)).clamp(0.0, 1.0)
}

/// About `count` round ticks (1, 2 or 5 times a power of ten apart) from at or below `lo` to at
/// or above `hi`.
pub fn value_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let (lo, hi) = if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        // A flat line: give it room above (and below, when it is not at zero).
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.5 };
        (if lo == 0.0 { 0.0 } else { lo - pad }, hi + pad)
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let n = (last - first) as usize;
    (0..=n.min(50)).map(|i| (first + i as f64) * step).collect()
}

/// The time of the point nearest `t_ms` in any series (the hover line snaps to it).
pub fn nearest_time(series: &[ChartSeries], t_ms: i64) -> Option<i64> {
    series
        .iter()
        .filter_map(|s| nearest_point(&s.points, t_ms).map(|i| s.points[i].0))
        .min_by_key(|t| (t - t_ms).abs())
}

/// The index of the point of `points` (time-ordered) nearest `t_ms`.
pub fn nearest_point(points: &[(i64, f64)], t_ms: i64) -> Option<usize> {
    if points.is_empty() {
        return None;
    }
    let i = points.partition_point(|p| p.0 < t_ms);
    let candidates = [i.checked_sub(1), (i < points.len()).then_some(i)];
    candidates
        .into_iter()
        .flatten()
        .min_by_key(|&j| (points[j].0 - t_ms).abs())
}

/// Each series' value at exactly `t_ms` (range query answers share one grid of times), as
/// `(series index, value)`, largest first, for the hover tooltip.
pub fn values_at(series: &[ChartSeries], t_ms: i64) -> Vec<(usize, f64)> {
    let mut out: Vec<(usize, f64)> = series
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let j = s.points.binary_search_by_key(&t_ms, |p| p.0).ok()?;
            Some((i, s.points[j].1))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// The series whose line passes nearest a click at `y_frac` (0 at the top, 1 at the bottom) at
/// time `t_ms`, on a chart whose value axis spans `[y_min, y_max]` (stacked: the tops).
pub fn series_near(
    series: &[ChartSeries],
    t_ms: i64,
    y_frac: f64,
    y_min: f64,
    y_max: f64,
    stacked: bool,
) -> Option<usize> {
    let value = y_max - y_frac.clamp(0.0, 1.0) * (y_max - y_min);
    let mut below = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for (i, s) in series.iter().enumerate() {
        let Ok(j) = s.points.binary_search_by_key(&t_ms, |p| p.0) else {
            continue;
        };
        let v = s.points[j].1;
        if !v.is_finite() {
            continue;
        }
        if stacked {
            // A click inside a band picks that band's series.
            if value >= below && value <= below + v {
                return Some(i);
            }
            below += v;
            let distance = (value - below).abs();
            if best.is_none_or(|(_, d)| distance < d) {
                best = Some((i, distance));
            }
        } else {
            let distance = (value - v).abs();
            if best.is_none_or(|(_, d)| distance < d) {
                best = Some((i, distance));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// What the values of a chart measure, for their formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Milliseconds,
    Bytes,
    /// A fraction, shown as a percentage.
    Ratio,
    Percent,
    /// Events per second (the rate of a counter).
    PerSecond,
    /// A plain number.
    Plain,
}

impl Unit {
    /// The unit of a metric, from its metadata's unit (Prometheus' names or OpenTelemetry's
    /// UCUM codes) or else its name's suffix (`_seconds`, `_bytes`, `_ratio`...).
    pub fn of_metric(name: &str, unit: &str) -> Unit {
        // A histogram's counts are counts, whatever its observations measure.
        if name.ends_with("_count") || name.ends_with("_bucket") {
            return Unit::Plain;
        }
        match unit {
            "s" | "seconds" => return Unit::Seconds,
            "ms" | "milliseconds" => return Unit::Milliseconds,
            "By" | "bytes" => return Unit::Bytes,
            "ratio" => return Unit::Ratio,
            "%" | "percent" => return Unit::Percent,
            _ => {}
        }
        let base = ["_bucket", "_sum", "_count", "_total"]
            .into_iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        if base.ends_with("_seconds") {
            Unit::Seconds
        } else if base.ends_with("_milliseconds") {
            Unit::Milliseconds
        } else if base.ends_with("_bytes") {
            Unit::Bytes
        } else if base.ends_with("_ratio") {
            Unit::Ratio
        } else if base.ends_with("_percent") {
            Unit::Percent
        } else {
            Unit::Plain
        }
    }
}

/// `value` with three significant digits in `unit`: `1.23s`, `45.6ms`, `12.0 MiB`, `4.5%`,
/// `1.2k/s`, `0.25`.
pub fn format_value(value: f64, unit: Unit) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    match unit {
        Unit::Seconds => format_seconds(value),
        Unit::Milliseconds => format_seconds(value / 1000.0),
        Unit::Bytes => format_bytes(value),
        Unit::Ratio => format!("{}%", significant(value * 100.0)),
        Unit::Percent => format!("{}%", significant(value)),
        Unit::PerSecond => format!("{}/s", si(value)),
        Unit::Plain => si(value),
    }
}

fn format_seconds(s: f64) -> String {
    if s == 0.0 {
        return "0s".to_owned();
    }
    let magnitude = s.abs();
    let (scaled, unit) = if magnitude >= 1.0 {
        (s, "s")
    } else if magnitude >= 1e-3 {
        (s * 1e3, "ms")
    } else if magnitude >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    format!("{}{unit}", significant(scaled))
}

fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", significant(value), UNITS[unit])
}

/// A plain number with k/M/G/T suffixes from a thousand on.
fn si(value: f64) -> String {
    const SUFFIXES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (scale, suffix) in SUFFIXES {
        if value.abs() >= scale {
            return format!("{}{suffix}", significant(value / scale));
        }
    }
    significant(value)
}

/// Three significant digits, trailing zeros dropped: `1.23`, `45.6`, `120`, `0.00123`.
fn significant(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let digits = value.abs().log10().floor() as i32;
    let decimals = (2 - digits).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    // Rounding may carry into a new digit (999.6 → "1000"); that is still three digits' worth.
    if text == "-0" { "0".to_owned() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, points: &[(i64, f64)]) -> ChartSeries {
        ChartSeries {
            label: label.to_owned(),
            labels: LabelSet::new(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn steps_keep_series_under_a_thousand_points() {
        const MIN: i64 = 60_000;
        assert_eq!(step_for(0, 15 * MIN), 1_000);
        assert_eq!(step_for(0, 60 * MIN), 5_000);
        assert_eq!(step_for(0, 6 * 60 * MIN), 30_000);
        assert_eq!(step_for(0, 24 * 60 * MIN), 120_000);
        for span in [1, 999, 15 * MIN, 7 * 1440 * MIN, 400 * 1440 * MIN] {
            let step = step_for(0, span);
            assert!(span / step < MAX_POINTS, "{span} ms at {step} ms");
        }
        assert_eq!(rate_window_ms(5_000), 300_000);
        assert_eq!(rate_window_ms(120_000), 480_000);
        assert_eq!(promql_duration(300_000), "5m");
        assert_eq!(promql_duration(7_200_000), "2h");
        assert_eq!(promql_duration(90_000), "90s");
        assert_eq!(promql_duration(1_500), "1500ms");
    }

    #[test]
    fn legends_name_what_tells_series_apart() {
        use otelite_api::prometheus::Sample;
        let set = |pairs: &[(&str, &str)]| -> LabelSet {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let matrix = |metric| MatrixSeries {
            metric,
            values: vec![Sample { t: 1000, v: 1.0 }],
        };
        let two = chart_series(&[
            matrix(set(&[("__name__", "up"), ("job", "a"), ("env", "dev")])),
            matrix(set(&[("__name__", "up"), ("job", "b"), ("env", "dev")])),
        ]);
        assert_eq!(two[0].label, "up{job=\"a\"}");
        assert_eq!(two[1].points, vec![(1000, 1.0)]);
        let one = chart_series(&[matrix(set(&[("__name__", "up"), ("job", "a")]))]);
        assert_eq!(one[0].label, "up{job=\"a\"}");
        assert_eq!(chart_series(&[matrix(set(&[]))])[0].label, "{}");
        let same = chart_series(&[
            matrix(set(&[("__name__", "a"), ("job", "x")])),
            matrix(set(&[("__name__", "b"), ("job", "x")])),
        ]);
        assert_eq!(same[1].label, "b");
    }

    #[test]
    fn status_classes_get_their_colours() {
        let class = |c: &str| LabelSet::from([("status_class".to_owned(), c.to_owned())]);
        assert_eq!(meaningful_color(&class("5xx")), Some("#d62728"));
        assert_eq!(meaningful_color(&class("2xx")), Some("#2ca02c"));
        assert_eq!(meaningful_color(&class("9xx")), None);
        assert_eq!(meaningful_color(&LabelSet::new()), None);
    }

    #[test]
    fn lines_span_the_box_and_break_at_gaps() {
        let s = series(
            "a",
            &[(0, 0.0), (10, 5.0), (20, 10.0), (50, 10.0), (60, f64::NAN)],
        );
        let g = geometry(&[s], &[], 0, 100, 10, false);
        assert_eq!(g.y_min, 0.0);
        assert_eq!(g.y_max, 10.0);
        assert_eq!(g.lines[0], "M0.0,300.0L100.0,150.0L200.0,0.0M500.0,0.0");
        assert!(g.areas.is_empty());
        assert_eq!(g.y_ticks, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn stacked_series_sit_on_each_other() {
        let a = series("a", &[(0, 1.0), (10, 1.0)]);
        let b = series("b", &[(0, 2.0), (10, 3.0)]);
        let g = geometry(&[a.clone(), b.clone()], &[], 0, 10, 10, true);
        assert_eq!(g.y_max, 4.0);
        // b's line is drawn at 1+2 and 1+3: the top of the stack.
        assert_eq!(g.lines[1], "M0.0,75.0L1000.0,0.0");
        assert_eq!(g.areas.len(), 2);
        assert!(
            g.areas[0].ends_with("L1000.0,300.0L0.0,300.0Z"),
            "{}",
            g.areas[0]
        );
        assert!(
            g.areas[1].ends_with("L1000.0,225.0L0.0,225.0Z"),
            "{}",
            g.areas[1]
        );
        // A click inside b's band picks b; inside a's, a.
        assert_eq!(
            series_near(&[a.clone(), b.clone()], 10, 0.1, 0.0, 4.0, true),
            Some(1)
        );
        assert_eq!(series_near(&[a, b], 10, 0.9, 0.0, 4.0, true), Some(0));
    }

    #[test]
    fn empty_and_flat_charts_still_have_an_axis() {
        let g = geometry(&[], &[], 0, 10, 1, false);
        assert_eq!((g.y_min, g.y_max), (0.0, 1.0));
        let flat = geometry(&[series("a", &[(0, 0.0), (1, 0.0)])], &[], 0, 10, 1, false);
        assert_eq!((flat.y_min, flat.y_max), (0.0, 1.0));
        let high = geometry(&[series("a", &[(0, 42.0)])], &[], 0, 10, 1, false);
        assert!(high.y_max > 42.0 && high.y_min == 0.0);
        // Exemplars above the lines stretch the axis to show them.
        let marked = geometry(&[series("a", &[(0, 0.2)])], &[0.4], 0, 10, 1, false);
        assert!(marked.y_max >= 0.4, "{}", marked.y_max);
        let negative = value_ticks(-3.0, 7.0, 5);
        assert_eq!(negative, vec![-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0]);
        let small = value_ticks(0.0, 0.013, 5);
        assert!(small.len() <= 8 && *small.last().unwrap() >= 0.013);
    }

    #[test]
    fn hover_and_clicks_find_points_and_series() {
        let a = series("a", &[(0, 1.0), (10, 2.0), (20, 3.0)]);
        let b = series("b", &[(10, 8.0), (20, 9.0)]);
        let all = [a.clone(), b.clone()];
        assert_eq!(nearest_time(&all, 13), Some(10));
        assert_eq!(nearest_time(&all, 16), Some(20));
        assert_eq!(nearest_time(&[], 16), None);
        assert_eq!(nearest_point(&a.points, -5), Some(0));
        assert_eq!(nearest_point(&a.points, 99), Some(2));
        assert_eq!(values_at(&all, 10), vec![(1, 8.0), (0, 2.0)]);
        assert_eq!(values_at(&all, 0), vec![(0, 1.0)]);
        // On a 0..10 axis, a click near the top at t=10 is b's, near the bottom a's.
        assert_eq!(series_near(&all, 10, 0.2, 0.0, 10.0, false), Some(1));
        assert_eq!(series_near(&all, 10, 0.8, 0.0, 10.0, false), Some(0));
        assert_eq!(series_near(&all, 5, 0.8, 0.0, 10.0, false), None);
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(format_value(0.1234, Unit::Seconds), "123ms");
        assert_eq!(format_value(1.5, Unit::Seconds), "1.5s");
        assert_eq!(format_value(0.0000042, Unit::Seconds), "4.2µs");
        assert_eq!(format_value(0.0, Unit::Seconds), "0s");
        assert_eq!(format_value(250.0, Unit::Milliseconds), "250ms");
        assert_eq!(format_value(1536.0, Unit::Bytes), "1.5 KiB");
        assert_eq!(format_value(0.0512, Unit::Ratio), "5.12%");
        assert_eq!(format_value(12.0, Unit::Percent), "12%");
        assert_eq!(format_value(1234.0, Unit::PerSecond), "1.23k/s");
        assert_eq!(format_value(0.5, Unit::PerSecond), "0.5/s");
        assert_eq!(format_value(3_400_000.0, Unit::Plain), "3.4M");
        assert_eq!(format_value(0.00123, Unit::Plain), "0.00123");
        assert_eq!(format_value(-2.5, Unit::Plain), "-2.5");
        assert_eq!(format_value(f64::NAN, Unit::Plain), "NaN");
        assert_eq!(format_value(f64::INFINITY, Unit::Seconds), "+Inf");
        assert_eq!(
            Unit::of_metric("http_server_request_duration_seconds", ""),
            Unit::Seconds
        );
        assert_eq!(
            Unit::of_metric("http_server_request_duration_seconds_sum", ""),
            Unit::Seconds
        );
        assert_eq!(
            Unit::of_metric("http_server_request_duration_seconds_count", "s"),
            Unit::Plain
        );
        assert_eq!(
            Unit::of_metric("http_server_request_duration_seconds_count", ""),
            Unit::Plain
        );
        assert_eq!(Unit::of_metric("process_memory_bytes", ""), Unit::Bytes);
        assert_eq!(Unit::of_metric("queue_depth", "By"), Unit::Bytes);
        assert_eq!(Unit::of_metric("cpu_utilization_ratio", ""), Unit::Ratio);
        assert_eq!(Unit::of_metric("orders_total", ""), Unit::Plain);
    }
}
