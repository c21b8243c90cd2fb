//! The metric explorer's state and the Prometheus API requests it makes: the query, time range
//! and stacking in the URL (as the trace and log searches keep theirs), the metric catalog
//! built from `/api/v1/label/__name__/values` and `/api/v1/metadata`, the label chips of a
//! metric's series, and the query a picked metric and its chips stand for.

use std::collections::BTreeMap;

use otelite_api::prometheus::{LabelSet, Metadata, MetricType};

use crate::logic::metric_chart::{Unit, promql_duration, rate_window_ms, step_for};
use crate::logic::query_string;
use crate::logic::trace_search::SearchRange;

pub const QUERY_PATH: &str = "/api/v1/query";
pub const QUERY_RANGE_PATH: &str = "/api/v1/query_range";
pub const SERIES_PATH: &str = "/api/v1/series";
pub const LABELS_PATH: &str = "/api/v1/labels";
pub const METADATA_PATH: &str = "/api/v1/metadata";
pub const EXEMPLARS_PATH: &str = "/api/v1/query_exemplars";
/// The values of the metric name label: every metric name.
pub const METRIC_NAMES_PATH: &str = "/api/v1/label/__name__/values";

/// The path of one label's values, optionally only in the series of `metric`.
pub fn label_values_path(label: &str, metric: Option<&str>, window: (u64, u64)) -> String {
    let mut pairs = vec![("match[]", metric.map(selector_of).unwrap_or_default())];
    pairs.extend(window_pairs(window));
    format!(
        "/api/v1/label/{}/values?{}",
        query_string::encode(label),
        query_string::build(pairs)
    )
}

/// Everything the explorer's URL holds. The query text is what runs; `metric` and `filters`
/// are what the list and the chips picked (and built the query from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplorerState {
    pub query: String,
    pub metric: String,
    /// `label=value` matchers the chips added, in the order they were picked.
    pub filters: Vec<(String, String)>,
    pub range: SearchRange,
    pub stacked: bool,
}

impl Default for ExplorerState {
    fn default() -> ExplorerState {
        ExplorerState {
            query: String::new(),
            metric: String::new(),
            filters: Vec::new(),
            range: SearchRange::Last(crate::logic::trace_search::Lookback::Hour1),
            stacked: false,
        }
    }
}

impl ExplorerState {
    /// The state a query string describes (`q`, `metric`, repeated `filter=label=value`,
    /// `lookback` or `start`/`end`, `stacked=1`); what does not read is left at its default.
    pub fn from_query(query: &str) -> ExplorerState {
        let pairs = query_string::parse(query);
        let mut state = ExplorerState {
            range: SearchRange::from_query(&pairs),
            ..ExplorerState::default()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "q" => state.query = value,
                "metric" => state.metric = value,
                "filter" => {
                    if let Some((label, value)) = value.split_once('=') {
                        state.filters.push((label.to_owned(), value.to_owned()));
                    }
                }
                "stacked" => state.stacked = value == "1",
                _ => {}
            }
        }
        state
    }

    /// The query string [`ExplorerState::from_query`] reads back as `self`.
    pub fn to_query(&self) -> String {
        let [lookback, start, end] = self.range.query_pairs();
        let mut pairs = vec![
            ("q", self.query.trim().to_owned()),
            ("metric", self.metric.clone()),
        ];
        pairs.extend(
            self.filters
                .iter()
                .map(|(label, value)| ("filter", format!("{label}={value}"))),
        );
        pairs.extend([
            lookback,
            start,
            end,
            ("stacked", if self.stacked { "1" } else { "" }.to_owned()),
        ]);
        query_string::build(pairs)
    }
}

/// `start` and `end` query parameters (unix seconds) for a window in nanoseconds.
fn window_pairs((start_ns, end_ns): (u64, u64)) -> [(&'static str, String); 2] {
    [
        ("start", seconds_param(start_ns)),
        ("end", seconds_param(end_ns)),
    ]
}

/// Unix nanoseconds as the Prometheus API's seconds, to the millisecond: `1700000000.123`.
pub fn seconds_param(ns: u64) -> String {
    let ms = ns / 1_000_000;
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

/// A range query over `window` (unix ns) at the step [`step_for`] chooses, and that step in ms.
pub fn query_range_path(query: &str, window: (u64, u64)) -> (String, i64) {
    let (start_ms, end_ms) = window_ms(window);
    let step = step_for(start_ms, end_ms);
    let [start, end] = window_pairs(window);
    let path = format!(
        "{QUERY_RANGE_PATH}?{}",
        query_string::build([
            ("query", query.to_owned()),
            start,
            end,
            ("step", seconds_param(step as u64 * 1_000_000)),
        ])
    );
    (path, step)
}

/// An instant query at `ns`.
pub fn instant_query_path(query: &str, ns: u64) -> String {
    format!(
        "{QUERY_PATH}?{}",
        query_string::build([("query", query.to_owned()), ("time", seconds_param(ns))])
    )
}

/// The exemplars of `query`'s series over `window`.
pub fn exemplars_path(query: &str, window: (u64, u64)) -> String {
    let [start, end] = window_pairs(window);
    format!(
        "{EXEMPLARS_PATH}?{}",
        query_string::build([("query", query.to_owned()), start, end])
    )
}

/// The series of the metrics named `names` over `window`.
pub fn series_path(names: &[&str], window: (u64, u64)) -> String {
    let mut pairs: Vec<(&str, String)> =
        names.iter().map(|n| ("match[]", selector_of(n))).collect();
    pairs.extend(window_pairs(window));
    format!("{SERIES_PATH}?{}", query_string::build(pairs))
}

/// The label names, optionally of `metric`'s series only.
pub fn labels_path(metric: Option<&str>, window: (u64, u64)) -> String {
    let mut pairs = vec![("match[]", metric.map(selector_of).unwrap_or_default())];
    pairs.extend(window_pairs(window));
    format!("{LABELS_PATH}?{}", query_string::build(pairs))
}

/// A window in unix nanoseconds as unix milliseconds.
pub fn window_ms((start_ns, end_ns): (u64, u64)) -> (i64, i64) {
    ((start_ns / 1_000_000) as i64, (end_ns / 1_000_000) as i64)
}

/// `{__name__="name"}`, the selector of every series of one metric (any name, even one PromQL
/// would not take bare).
fn selector_of(name: &str) -> String {
    format!("{{__name__={}}}", quote(name))
}

/// A PromQL string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One entry of the metric list: a metric, or a histogram or summary family whose
/// `_bucket`/`_sum`/`_count` series are listed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricEntry {
    /// The name to query (a family's base name for histograms and summaries).
    pub name: String,
    pub metric_type: MetricType,
    pub unit: String,
    pub help: String,
    /// The series names the entry stands for.
    pub series_names: Vec<String>,
}

impl MetricEntry {
    /// The unit its values are in, for formatting.
    pub fn value_unit(&self) -> Unit {
        Unit::of_metric(&self.name, &self.unit)
    }

    /// The name whose series carry the entry's labels (for a histogram, its `_count`).
    pub fn series_name(&self) -> &str {
        self.series_names
            .iter()
            .find(|n| n.ends_with("_count"))
            .or_else(|| self.series_names.first())
            .map_or(&self.name, String::as_str)
    }
}

/// The metric list: every name the server has, histogram and summary families folded into one
/// entry, with their metadata, sorted by name.
pub fn catalog(names: &[String], metadata: &Metadata) -> Vec<MetricEntry> {
    let mut entries: BTreeMap<String, MetricEntry> = BTreeMap::new();
    for name in names {
        let family = ["_bucket", "_sum", "_count"]
            .into_iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                let meta = metadata.get(base)?.first()?;
                matches!(
                    meta.metric_type,
                    MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
                )
                .then_some(base)
            });
        let key = family.unwrap_or(name);
        let meta = metadata
            .get(key)
            .or_else(|| name.strip_suffix("_total").and_then(|b| metadata.get(b)))
            .and_then(|m| m.first());
        let entry = entries
            .entry(key.to_owned())
            .or_insert_with(|| MetricEntry {
                name: key.to_owned(),
                metric_type: meta.map_or(MetricType::Unknown, |m| m.metric_type),
                unit: meta.map(|m| m.unit.clone()).unwrap_or_default(),
                help: meta.map(|m| m.help.clone()).unwrap_or_default(),
                series_names: Vec::new(),
            });
        entry.series_names.push(name.clone());
    }
    entries.into_values().collect()
}

/// The entries whose name or help holds every word of `search`, ignoring case.
pub fn filter_catalog<'a>(entries: &'a [MetricEntry], search: &str) -> Vec<&'a MetricEntry> {
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    entries
        .iter()
        .filter(|e| {
            let text = format!("{} {}", e.name, e.help).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .collect()
}

/// The query a picked metric and its chips stand for: a counter's per-second rate, a
/// histogram's 95th percentile, a gauge (or anything else) as it is.
pub fn default_query(entry: &MetricEntry, filters: &[(String, String)], step_ms: i64) -> String {
    let window = promql_duration(rate_window_ms(step_ms));
    let matchers = filters
        .iter()
        .map(|(label, value)| format!("{label}={}", quote(value)))
        .collect::<Vec<_>>()
        .join(", ");
    let selector = |name: &str| {
        if matchers.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{matchers}}}")
        }
    };
    match entry.metric_type {
        MetricType::Histogram | MetricType::GaugeHistogram
            if entry.series_names.iter().any(|n| n.ends_with("_bucket")) =>
        {
            format!(
                "histogram_quantile(0.95, sum by (le) (rate({}[{window}])))",
                selector(&format!("{}_bucket", entry.name))
            )
        }
        MetricType::Summary if entry.series_names.iter().any(|n| n.ends_with("_count")) => {
            format!(
                "rate({}[{window}])",
                selector(&format!("{}_count", entry.name))
            )
        }
        MetricType::Counter => format!("rate({}[{window}])", selector(&entry.name)),
        _ => selector(&entry.name),
    }
}

/// The unit of `query`'s values, as well as a look at its text can tell: a counter's rate is
/// per second, a quantile or a mean of a histogram is in the observations' unit.
pub fn query_unit(query: &str, entries: &[MetricEntry]) -> Unit {
    let entry = entries
        .iter()
        .filter(|e| query.contains(e.name.as_str()))
        .max_by_key(|e| e.name.len());
    let Some(entry) = entry else {
        return Unit::Plain;
    };
    let observed = Unit::of_metric(&entry.name, &entry.unit);
    let mean = query.contains("_sum") && query.contains('/');
    if query.contains("histogram_quantile") || mean {
        observed
    } else if query.contains("rate(") || query.contains("increase(") {
        if query.contains("increase(") {
            Unit::Plain
        } else {
            Unit::PerSecond
        }
    } else if query.contains("_count") || query.contains("_bucket") {
        Unit::Plain
    } else {
        observed
    }
}

/// The values of each label among `series`, with how many series carry each, for the chips:
/// labels by name, values most frequent first; `__name__` left out.
pub fn label_chips(series: &[LabelSet]) -> Vec<(String, Vec<(String, usize)>)> {
    let mut by_label: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for set in series {
        for (label, value) in set {
            if label != "__name__" {
                *by_label.entry(label).or_default().entry(value).or_default() += 1;
            }
        }
    }
    by_label
        .into_iter()
        .map(|(label, values)| {
            let mut values: Vec<(String, usize)> =
                values.into_iter().map(|(v, n)| (v.to_owned(), n)).collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (label.to_owned(), values)
        })
        .collect()
}

/// `filters` with `label=value` added, or removed when it was there; one value per label.
pub fn toggle_filter(
    filters: &[(String, String)],
    label: &str,
    value: &str,
) -> Vec<(String, String)> {
    let had = filters.iter().any(|(l, v)| l == label && v == value);
    let mut out: Vec<(String, String)> = filters
        .iter()
        .filter(|(l, _)| l != label)
        .cloned()
        .collect();
    if !had {
        out.push((label.to_owned(), value.to_owned()));
    }
    out
}

/// The trace id an exemplar's labels name (OpenTelemetry's `trace_id`, or `traceID` as some
/// Prometheus clients write it), if it is one.
pub fn exemplar_trace_id(labels: &LabelSet) -> Option<String> {
    ["trace_id", "traceID", "traceId"]
        .into_iter()
        .find_map(|k| labels.get(k))
        .map(|id| id.to_ascii_lowercase())
        .filter(|id| crate::logic::is_trace_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelite_api::prometheus::MetricMetadata;

    use crate::logic::trace_search::Lookback;

    fn meta(pairs: &[(&str, MetricType, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(name, t, unit)| {
                (
                    name.to_string(),
                    vec![MetricMetadata {
                        metric_type: *t,
                        help: format!("help of {name}"),
                        unit: unit.to_string(),
                    }],
                )
            })
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_url_keeps_the_state() {
        let state = ExplorerState {
            query: "rate(orders_total{job=\"shop\"}[5m])".to_owned(),
            metric: "orders_total".to_owned(),
            filters: vec![("job".to_owned(), "shop".to_owned())],
            range: SearchRange::Last(Lookback::Hours6),
            stacked: true,
        };
        let query = state.to_query();
        assert!(
            query.contains("lookback=6h") && query.contains("stacked=1"),
            "{query}"
        );
        assert_eq!(ExplorerState::from_query(&query), state);
        assert_eq!(ExplorerState::from_query(""), ExplorerState::default());
        assert_eq!(ExplorerState::default().to_query(), "");
        let custom = ExplorerState::from_query("q=up&start=1000&end=2000&filter=bad");
        assert_eq!(
            custom.range,
            SearchRange::Custom {
                start_ns: 1000,
                end_ns: 2000
            }
        );
        assert!(custom.filters.is_empty());
    }

    #[test]
    fn api_paths_speak_prometheus() {
        let window = (1_700_000_000_000_000_000, 1_700_003_600_500_000_000);
        let (path, step) = query_range_path("sum(up)", window);
        assert_eq!(step, 5_000);
        assert_eq!(
            path,
            "/api/v1/query_range?query=sum%28up%29&start=1700000000&end=1700003600.500&step=5"
        );
        assert_eq!(
            series_path(&["a_count", "b"], window),
            "/api/v1/series?match%5B%5D=%7B__name__%3D%22a_count%22%7D&match%5B%5D=%7B__name__%3D%22b%22%7D&start=1700000000&end=1700003600.500"
        );
        assert!(
            label_values_path("job", Some("up"), window)
                .starts_with("/api/v1/label/job/values?match%5B%5D=")
        );
        assert!(labels_path(None, window).starts_with("/api/v1/labels?start="));
        assert_eq!(
            instant_query_path("up", 1_700_000_000_000_000_000),
            "/api/v1/query?query=up&time=1700000000"
        );
        assert!(
            exemplars_path("up", window).starts_with("/api/v1/query_exemplars?query=up&start=")
        );
        assert_eq!(quote("a\"b\\"), r#""a\"b\\""#);
    }

    #[test]
    fn histogram_families_are_listed_once() {
        let metadata = meta(&[
            (
                "http_server_request_duration_seconds",
                MetricType::Histogram,
                "s",
            ),
            ("orders_total", MetricType::Counter, ""),
            ("queue_depth", MetricType::Gauge, ""),
        ]);
        let list = catalog(
            &names(&[
                "http_server_request_duration_seconds_bucket",
                "http_server_request_duration_seconds_count",
                "http_server_request_duration_seconds_sum",
                "orders_total",
                "queue_depth",
                "target_info",
            ]),
            &metadata,
        );
        let listed: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            listed,
            [
                "http_server_request_duration_seconds",
                "orders_total",
                "queue_depth",
                "target_info"
            ]
        );
        assert_eq!(list[0].metric_type, MetricType::Histogram);
        assert_eq!(list[0].series_names.len(), 3);
        assert_eq!(
            list[0].series_name(),
            "http_server_request_duration_seconds_count"
        );
        assert_eq!(list[0].value_unit(), Unit::Seconds);
        assert_eq!(list[3].metric_type, MetricType::Unknown);
        // Metadata kept under a counter's name without `_total` is found too.
        let bare = catalog(
            &names(&["orders_total"]),
            &meta(&[("orders", MetricType::Counter, "")]),
        );
        assert_eq!(bare[0].metric_type, MetricType::Counter);

        assert_eq!(filter_catalog(&list, "REQUEST seconds").len(), 1);
        assert_eq!(filter_catalog(&list, "help of queue").len(), 1);
        assert_eq!(filter_catalog(&list, "").len(), 4);
        assert!(filter_catalog(&list, "nothing").is_empty());
    }

    #[test]
    fn picked_metrics_get_a_query_of_their_kind() {
        let list = catalog(
            &names(&[
                "http_server_request_duration_seconds_bucket",
                "http_server_request_duration_seconds_count",
                "orders_total",
                "queue_depth",
            ]),
            &meta(&[
                (
                    "http_server_request_duration_seconds",
                    MetricType::Histogram,
                    "s",
                ),
                ("orders_total", MetricType::Counter, ""),
                ("queue_depth", MetricType::Gauge, ""),
            ]),
        );
        let filters = vec![("job".to_owned(), "shop".to_owned())];
        assert_eq!(
            default_query(&list[0], &[], 5_000),
            "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))"
        );
        assert_eq!(
            default_query(&list[1], &filters, 120_000),
            "rate(orders_total{job=\"shop\"}[8m])"
        );
        assert_eq!(
            default_query(&list[2], &filters, 5_000),
            "queue_depth{job=\"shop\"}"
        );
        assert_eq!(
            query_unit(&default_query(&list[0], &[], 5_000), &list),
            Unit::Seconds
        );
        assert_eq!(query_unit("rate(orders_total[5m])", &list), Unit::PerSecond);
        assert_eq!(query_unit("queue_depth", &list), Unit::Plain);
        assert_eq!(
            query_unit(
                "rate(http_server_request_duration_seconds_sum[5m]) / rate(http_server_request_duration_seconds_count[5m])",
                &list
            ),
            Unit::Seconds
        );
        assert_eq!(query_unit("up", &list), Unit::Plain);
    }

    #[test]
    fn chips_count_label_values_and_toggle() {
        let set = |pairs: &[(&str, &str)]| -> LabelSet {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let chips = label_chips(&[
            set(&[("__name__", "m"), ("job", "a"), ("route", "/x")]),
            set(&[("__name__", "m"), ("job", "b"), ("route", "/x")]),
            set(&[("__name__", "m"), ("job", "b")]),
        ]);
        assert_eq!(
            chips,
            vec![
                (
                    "job".to_owned(),
                    vec![("b".to_owned(), 2), ("a".to_owned(), 1)]
                ),
                ("route".to_owned(), vec![("/x".to_owned(), 2)]),
            ]
        );
        let one = toggle_filter(&[], "job", "a");
        assert_eq!(one, vec![("job".to_owned(), "a".to_owned())]);
        let other = toggle_filter(&one, "job", "b");
        assert_eq!(other, vec![("job".to_owned(), "b".to_owned())]);
        assert!(toggle_filter(&other, "job", "b").is_empty());
    }

    #[test]
    fn exemplars_name_their_trace() {
        let labels: LabelSet = [(
            "trace_id".to_owned(),
            "0AF7651916CD43DD8448EB211C80319C".to_owned(),
        )]
        .into();
        assert_eq!(
            exemplar_trace_id(&labels).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        let bad: LabelSet = [("trace_id".to_owned(), "EpTxMJ40fUus7aGY".to_owned())].into();
        assert_eq!(exemplar_trace_id(&bad), None);
        assert_eq!(seconds_param(1_500_000_000), "1.500");
        assert_eq!(seconds_param(2_000_000_000), "2");
    }
}
