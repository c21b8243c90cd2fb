//! OpenTelemetry metrics as Prometheus sees them, the way Prometheus' own OTLP receiver
//! translates them (its default, "underscore escaping with suffixes"):
//!
//! - names: `http.server.request.duration` in `s` → `http_server_request_duration_seconds`;
//!   monotonic sums get `_total`, gauges in unit `1` get `_ratio`; units in braces are dropped,
//!   `By/s` becomes `bytes_per_second`;
//! - labels: the point's attributes with every character but `[a-zA-Z0-9]` made `_` (runs of
//!   them collapsed, a leading digit prefixed with `key_`; attributes that collide after that
//!   are joined with `;`), plus `job` (`service.namespace/service.name`) and `instance`
//!   (`service.instance.id`) from the resource; the other resource attributes are in the
//!   `target_info` series;
//! - histograms: `_bucket{le}` (cumulative, ending at `+Inf`), `_sum`, `_count`; exponential
//!   histograms the same, with the bucket bounds their scale gives; summaries: `{quantile}`,
//!   `_sum`, `_count`;
//! - delta temporality is summed into a running total, so `rate()` and `increase()` answer
//!   what they answer for cumulative data; a point flagged "no recorded value" is a stale
//!   marker.
//!
//! Only this module knows the mapping; the store keeps series as OTLP describes them.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint, number_data_point,
};
use otelite_promql::{Labels, Sample, Series};
use otelite_storage::{MetricKind, MetricPoints, MetricSeries};

/// The name of the series that carries resource attributes.
pub(crate) const TARGET_INFO: &str = "target_info";

/// Prometheus' stale marker: a NaN with these bits ends a series at once.
const STALE: f64 = f64::from_bits(otelite_promql::STALE_NAN);

/// OTLP's "no recorded value" data point flag.
const NO_RECORDED_VALUE: u32 = 1;

/// Prometheus' metric type of a series, as `/api/v1/metadata` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl PromType {
    pub(crate) fn of(kind: MetricKind) -> PromType {
        match kind {
            MetricKind::Gauge => PromType::Gauge,
            MetricKind::Sum {
                monotonic: true, ..
            } => PromType::Counter,
            MetricKind::Sum { .. } => PromType::Gauge,
            MetricKind::Histogram { .. } | MetricKind::ExponentialHistogram { .. } => {
                PromType::Histogram
            }
            MetricKind::Summary => PromType::Summary,
        }
    }

    /// The suffixes of the series a metric of this type becomes (`""` is the bare name).
    pub(crate) fn suffixes(self) -> &'static [&'static str] {
        match self {
            PromType::Counter | PromType::Gauge => &[""],
            PromType::Histogram => &["_bucket", "_sum", "_count"],
            PromType::Summary => &["", "_sum", "_count"],
        }
    }
}

/// A metric's Prometheus identity without the per-series suffix: its name, type, and the
/// labels every series it becomes shares (sorted, no `__name__`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    pub name: String,
    pub kind: PromType,
    pub labels: Labels,
}

impl Family {
    pub(crate) fn of(series: &MetricSeries) -> Family {
        let kind = PromType::of(series.kind);
        let mut labels = attribute_labels(&series.attributes);
        let resource = &series.resource.attributes;
        if let Some(job) = job(resource) {
            set_label(&mut labels, "job", job);
        }
        if let Some(instance) = string_attribute(resource, "service.instance.id") {
            set_label(&mut labels, "instance", instance);
        }
        Family {
            name: metric_name(&series.name, &series.unit, series.kind),
            kind,
            labels,
        }
    }

    /// The names of the series this family becomes.
    pub(crate) fn series_names(&self) -> impl Iterator<Item = String> + '_ {
        self.kind
            .suffixes()
            .iter()
            .map(|suffix| format!("{}{suffix}", self.name))
    }
}

/// `job`: `service.namespace/service.name`, or `service.name` alone.
pub(crate) fn job(resource: &[KeyValue]) -> Option<String> {
    let name = string_attribute(resource, "service.name")?;
    Some(match string_attribute(resource, "service.namespace") {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name,
    })
}

/// The labels of `target_info` for one resource: its attributes but the three that make
/// `job` and `instance`, which it carries instead.
pub(crate) fn target_info_labels(resource: &[KeyValue]) -> Labels {
    let others: Vec<KeyValue> = resource
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            )
        })
        .cloned()
        .collect();
    let mut labels = attribute_labels(&others);
    if let Some(job) = job(resource) {
        set_label(&mut labels, "job", job);
    }
    if let Some(instance) = string_attribute(resource, "service.instance.id") {
        set_label(&mut labels, "instance", instance);
    }
    set_label(&mut labels, "__name__", TARGET_INFO.to_string());
    labels
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| value_text(kv.value.as_ref()))
}

/// Sets `name` in sorted `labels`, replacing what was there.
pub(crate) fn set_label(labels: &mut Labels, name: &str, value: String) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(at) => labels[at].1 = value,
        Err(at) => labels.insert(at, (name.to_string(), value)),
    }
}

/// Attributes as labels: sanitised names, values as text; attributes whose names collide
/// after sanitising are joined with `;` in the order of their original keys; empty values
/// and names that sanitise to nothing are dropped.
fn attribute_labels(attributes: &[KeyValue]) -> Labels {
    let mut by_name: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for kv in attributes {
        let Some(name) = label_name(&kv.key) else {
            continue;
        };
        let value = value_text(kv.value.as_ref());
        if !value.is_empty() {
            by_name.entry(name).or_default().push((&kv.key, value));
        }
    }
    by_name
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_by(|a, b| a.0.cmp(b.0));
            let joined = values
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(";");
            (name, joined)
        })
        .collect()
}

/// A value as Prometheus' translator writes it into a label: strings as they are, numbers
/// and booleans in their shortest form, arrays and maps as JSON, bytes as base64.
pub(crate) fn value_text(value: Option<&AnyValue>) -> String {
    use any_value::Value;
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_float(*d),
        Some(Value::BytesValue(bytes)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
        Some(Value::StringValueStrindex(_)) => String::new(),
        Some(other) => json_value(other).to_string(),
    }
}

fn json_value(value: &any_value::Value) -> serde_json::Value {
    use any_value::Value;
    match value {
        Value::StringValue(s) => s.clone().into(),
        Value::BoolValue(b) => (*b).into(),
        Value::IntValue(i) => (*i).into(),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| format_float(*d).into()),
        Value::BytesValue(bytes) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into()
        }
        Value::ArrayValue(array) => array
            .values
            .iter()
            .map(|v| v.value.as_ref().map_or(serde_json::Value::Null, json_value))
            .collect(),
        Value::KvlistValue(list) => list
            .values
            .iter()
            .map(|kv| {
                let v = kv
                    .value
                    .as_ref()
                    .and_then(|v| v.value.as_ref())
                    .map_or(serde_json::Value::Null, json_value);
                (kv.key.clone(), v)
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        // A string-table reference (profiles only) names no text here.
        Value::StringValueStrindex(_) => serde_json::Value::Null,
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it, which is how Prometheus
/// writes `le` and `quantile` labels: shortest round-trip digits, no exponent.
pub(crate) fn format_float(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else if value.is_nan() {
        "NaN".into()
    } else {
        format!("{value}")
    }
}

/// A label name as Prometheus' translator makes one; `None` when nothing valid is left.
pub(crate) fn label_name(key: &str) -> Option<String> {
    let (reserved, inner) = match key.strip_prefix("__").and_then(|k| k.strip_suffix("__")) {
        Some(inner) if key.len() >= 4 => (true, inner),
        _ => (false, key),
    };
    let mut name = String::with_capacity(key.len());
    let mut after_underscore = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
            after_underscore = false;
        } else if !after_underscore {
            name.push('_');
            after_underscore = true;
        }
    }
    if reserved {
        name = format!("__{name}__");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "key_");
    }
    (!name.chars().all(|c| c == '_')).then_some(name)
}

/// A metric name as Prometheus' translator makes one from the OTLP name, unit and type.
pub(crate) fn metric_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let (main, per) = unit_suffixes(unit);
    let main = clean_unit(&main);
    let per = clean_unit(&per);
    add_unit_tokens(&mut tokens, main, per);
    let kind = PromType::of(kind);
    if kind == PromType::Counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == PromType::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let mut joined = tokens.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        joined.insert(0, '_');
    }
    joined
}

fn add_unit_tokens(tokens: &mut Vec<String>, mut main: String, mut per: String) {
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if per.ends_with('_') {
            per.pop();
        }
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
}

/// The main and "per" parts of a unit, mapped to Prometheus' words (`By/s` → `bytes`,
/// `per_second`); parts in braces (`{request}`) say what is counted and add nothing.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        main_unit(main).to_string()
    };
    let per = match parts.next().map(str::trim) {
        Some(per) if !per.is_empty() && !per.contains(['{', '}']) => {
            format!("per_{}", per_unit(per))
        }
        _ => String::new(),
    };
    (main, per)
}

fn main_unit(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// A unit as `/api/v1/metadata` reports it, in Prometheus' words: `s` → `seconds`,
/// `By/s` → `bytes_per_second`, `{request}` and `1` → nothing.
pub(crate) fn unit_name(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = (clean_unit(&main), clean_unit(&per));
    let joined = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    joined.trim_matches('_').to_string()
}

/// A unit word made name-safe: invalid characters to `_`, runs collapsed, no leading `_`.
fn clean_unit(unit: &str) -> String {
    let mut cleaned = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if c.is_ascii_alphanumeric() || c == ':' {
            c
        } else {
            '_'
        };
        if !(c == '_' && cleaned.ends_with('_')) {
            cleaned.push(c);
        }
    }
    cleaned.trim_start_matches('_').to_string()
}

/// The Prometheus series one stored OTLP series becomes, with their samples in time order;
/// `wanted` says which suffixes (`""`, `"_bucket"`, `"_sum"`, `"_count"`) to build.
pub(crate) fn expand(
    family: &Family,
    series: &MetricSeries,
    points: &MetricPoints,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<Series> {
    let mut out = Expansion::new(family, wanted, points.len());
    let delta = is_delta(series.kind);
    match points {
        MetricPoints::Number(points) => number_series(&mut out, points, delta),
        MetricPoints::Histogram(points) => histogram_series(&mut out, points, delta),
        MetricPoints::ExponentialHistogram(points) => exponential_series(&mut out, points, delta),
        MetricPoints::Summary(points) => summary_series(&mut out, points),
    }
    out.finish()
}

pub(super) fn is_delta(kind: MetricKind) -> bool {
    let delta = AggregationTemporality::Delta as i32;
    match kind {
        MetricKind::Sum { temporality, .. }
        | MetricKind::Histogram { temporality }
        | MetricKind::ExponentialHistogram { temporality } => temporality == delta,
        MetricKind::Gauge | MetricKind::Summary => false,
    }
}

fn time_ms(time_unix_nano: u64) -> i64 {
    (time_unix_nano / 1_000_000) as i64
}

fn is_stale(flags: u32) -> bool {
    flags & NO_RECORDED_VALUE != 0
}

/// A label one series of a family has beyond the family's: `le` or `quantile`, and its value.
type ExtraLabel = Option<(&'static str, String)>;

/// Series being built, each in a slot found by suffix and extra label. Histogram points of a
/// series nearly always share their bounds, so the `_bucket` slots of the last bounds seen are
/// kept: a point then costs a push per bucket, not a float formatted and a lookup each.
struct Expansion<'a> {
    family: &'a Family,
    /// Which suffixes are asked for (the others are not built at all).
    wanted: &'a dyn Fn(&str) -> bool,
    /// The slots of the series with an extra label, by suffix and label.
    slots: HashMap<(&'static str, ExtraLabel), Option<usize>>,
    /// The slots of the suffixes without an extra label (`_sum`, `_count`, the plain
    /// series), which every point looks up: found by a short scan, without hashing.
    plain_slots: Vec<(&'static str, Option<usize>)>,
    series: Vec<((&'static str, ExtraLabel), Vec<Sample>)>,
    /// The bounds the `bucket_slots` are for, and their slots (the last one `+Inf`'s).
    bucket_bounds: Vec<f64>,
    bucket_slots: Vec<Option<usize>>,
    /// The points being expanded: nearly every series built gets a sample from each.
    capacity: usize,
}

impl<'a> Expansion<'a> {
    fn new(family: &'a Family, wanted: &'a dyn Fn(&str) -> bool, capacity: usize) -> Self {
        Expansion {
            family,
            wanted,
            slots: HashMap::new(),
            plain_slots: Vec::new(),
            series: Vec::new(),
            bucket_bounds: Vec::new(),
            bucket_slots: Vec::new(),
            capacity,
        }
    }

    /// The slot of a series, `None` when its suffix is not wanted.
    fn slot(&mut self, suffix: &'static str, extra: ExtraLabel) -> Option<usize> {
        if extra.is_none() {
            if let Some(&(_, slot)) = self.plain_slots.iter().find(|(s, _)| *s == suffix) {
                return slot;
            }
            let slot = self.new_series(suffix, None);
            self.plain_slots.push((suffix, slot));
            return slot;
        }
        let key = (suffix, extra);
        if let Some(&slot) = self.slots.get(&key) {
            return slot;
        }
        let slot = self.new_series(suffix, key.1.clone());
        self.slots.insert(key, slot);
        slot
    }

    /// A new series' slot, `None` (and no series) when its suffix is not wanted.
    fn new_series(&mut self, suffix: &'static str, extra: ExtraLabel) -> Option<usize> {
        (self.wanted)(suffix).then(|| {
            self.series
                .push(((suffix, extra), Vec::with_capacity(self.capacity)));
            self.series.len() - 1
        })
    }

    fn push_at(&mut self, slot: Option<usize>, t: i64, v: f64) {
        if let Some(slot) = slot {
            self.series[slot].1.push(Sample { t, v });
        }
    }

    fn push(&mut self, suffix: &'static str, extra: ExtraLabel, t: i64, v: f64) {
        let slot = self.slot(suffix, extra);
        self.push_at(slot, t, v);
    }

    /// Makes `bucket_slots` those of `bounds` (plus `+Inf`).
    fn use_bounds(&mut self, bounds: &[f64]) {
        if self.bucket_bounds == bounds && !self.bucket_slots.is_empty() {
            return;
        }
        let mut slots: Vec<Option<usize>> = bounds
            .iter()
            .map(|&bound| self.slot("_bucket", Some(("le", format_float(bound)))))
            .collect();
        slots.push(self.slot("_bucket", Some(("le", "+Inf".into()))));
        self.bucket_bounds = bounds.to_vec();
        self.bucket_slots = slots;
    }

    fn finish(self) -> Vec<Series> {
        let family = self.family;
        self.series
            .into_iter()
            .map(|((suffix, extra), samples)| {
                let mut labels = family.labels.clone();
                set_label(&mut labels, "__name__", format!("{}{suffix}", family.name));
                if let Some((name, value)) = extra {
                    set_label(&mut labels, name, value);
                }
                Series { labels, samples }
            })
            .collect()
    }
}

fn number_value(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => 0.0,
    }
}

fn number_series(out: &mut Expansion, points: &[NumberDataPoint], delta: bool) {
    let mut total = 0.0;
    for point in points {
        let t = time_ms(point.time_unix_nano);
        if is_stale(point.flags) {
            out.push("", None, t, STALE);
            continue;
        }
        let mut value = number_value(point);
        if delta {
            total += value;
            value = total;
        }
        out.push("", None, t, value);
    }
}

/// Running totals of a delta histogram's buckets, kept while the bounds stay the same.
#[derive(Default)]
struct DeltaTotals {
    bounds: Vec<f64>,
    buckets: Vec<f64>,
    count: f64,
    sum: f64,
}

impl DeltaTotals {
    /// Adds a point's counts; new bounds start the totals again (a reset, as far as `rate()`
    /// is concerned).
    fn add(&mut self, bounds: &[f64], buckets: &[f64], count: f64, sum: f64) {
        if self.bounds != bounds || self.buckets.len() != buckets.len() {
            *self = DeltaTotals {
                bounds: bounds.to_vec(),
                buckets: vec![0.0; buckets.len()],
                ..DeltaTotals::default()
            };
        }
        for (total, add) in self.buckets.iter_mut().zip(buckets) {
            *total += add;
        }
        self.count += count;
        self.sum += sum;
    }
}

/// Writes one classic histogram point: cumulative `_bucket{le}` for `bounds` (one upper
/// bound per count but the last, which is `+Inf`), `_sum` when known, `_count`.
fn push_histogram(
    out: &mut Expansion,
    t: i64,
    bounds: &[f64],
    counts: &[f64],
    count: f64,
    sum: Option<f64>,
) {
    out.use_bounds(bounds);
    let mut cumulative = 0.0;
    for (i, bucket) in counts.iter().enumerate().take(bounds.len()) {
        cumulative += bucket;
        let slot = out.bucket_slots[i];
        out.push_at(slot, t, cumulative);
    }
    let inf = out.bucket_slots[bounds.len()];
    out.push_at(inf, t, count);
    if let Some(sum) = sum {
        out.push("_sum", None, t, sum);
    }
    out.push("_count", None, t, count);
}

fn push_stale_histogram(out: &mut Expansion, t: i64, bounds: &[f64]) {
    out.use_bounds(bounds);
    for i in 0..out.bucket_slots.len() {
        let slot = out.bucket_slots[i];
        out.push_at(slot, t, STALE);
    }
    out.push("_sum", None, t, STALE);
    out.push("_count", None, t, STALE);
}

/// One histogram point as classic buckets: `counts[i]` are the values up to `bounds[i]` (the
/// last count, beyond every bound, is in `count` only).
struct Buckets<'p> {
    t: i64,
    bounds: &'p [f64],
    counts: &'p [f64],
    count: f64,
    sum: Option<f64>,
}

/// Writes one histogram point of a series, first summed into `totals` when it is a delta.
fn push_point(out: &mut Expansion, totals: &mut DeltaTotals, delta: bool, point: Buckets) {
    if delta {
        totals.add(
            point.bounds,
            point.counts,
            point.count,
            point.sum.unwrap_or(0.0),
        );
        let sum = point.sum.map(|_| totals.sum);
        push_histogram(
            out,
            point.t,
            &totals.bounds,
            &totals.buckets,
            totals.count,
            sum,
        );
    } else {
        push_histogram(
            out,
            point.t,
            point.bounds,
            point.counts,
            point.count,
            point.sum,
        );
    }
}

fn histogram_series(out: &mut Expansion, points: &[HistogramDataPoint], delta: bool) {
    let mut totals = DeltaTotals::default();
    let mut counts: Vec<f64> = Vec::new();
    for point in points {
        let t = time_ms(point.time_unix_nano);
        if is_stale(point.flags) {
            push_stale_histogram(out, t, &point.explicit_bounds);
            continue;
        }
        counts.clear();
        counts.extend(point.bucket_counts.iter().map(|&c| c as f64));
        let buckets = Buckets {
            t,
            bounds: &point.explicit_bounds,
            counts: &counts,
            count: point.count as f64,
            sum: point.sum,
        };
        push_point(out, &mut totals, delta, buckets);
    }
}

/// An exponential histogram point as classic buckets: ascending upper bounds (negative
/// buckets, the zero bucket, positive buckets) and the count in each.
pub(crate) fn exponential_buckets(point: &ExponentialHistogramDataPoint) -> (Vec<f64>, Vec<f64>) {
    let base = 2f64.powf(2f64.powi(-point.scale));
    let bound = |index: i64| base.powf(index as f64);
    let mut bounds = Vec::new();
    let mut counts = Vec::new();
    if let Some(negative) = &point.negative {
        // Bucket i of the negatives holds [-base^(i+1), -base^i): upper bound -base^i.
        for (k, &count) in negative.bucket_counts.iter().enumerate().rev() {
            bounds.push(-bound(negative.offset as i64 + k as i64));
            counts.push(count as f64);
        }
    }
    bounds.push(point.zero_threshold);
    counts.push(point.zero_count as f64);
    if let Some(positive) = &point.positive {
        // Bucket i of the positives holds (base^i, base^(i+1)]: upper bound base^(i+1).
        for (k, &count) in positive.bucket_counts.iter().enumerate() {
            bounds.push(bound(positive.offset as i64 + k as i64 + 1));
            counts.push(count as f64);
        }
    }
    // The last bucket's own bound stands; `+Inf` follows it holding nothing more.
    counts.push(0.0);
    (bounds, counts)
}

fn exponential_series(out: &mut Expansion, points: &[ExponentialHistogramDataPoint], delta: bool) {
    let mut totals = DeltaTotals::default();
    for point in points {
        let t = time_ms(point.time_unix_nano);
        let (bounds, counts) = exponential_buckets(point);
        if is_stale(point.flags) {
            push_stale_histogram(out, t, &bounds);
            continue;
        }
        let buckets = Buckets {
            t,
            bounds: &bounds,
            counts: &counts,
            count: point.count as f64,
            sum: point.sum,
        };
        push_point(out, &mut totals, delta, buckets);
    }
}

fn summary_series(out: &mut Expansion, points: &[SummaryDataPoint]) {
    for point in points {
        let t = time_ms(point.time_unix_nano);
        let stale = is_stale(point.flags);
        let value = |v: f64| if stale { STALE } else { v };
        for quantile in &point.quantile_values {
            out.push(
                "",
                Some(("quantile", format_float(quantile.quantile))),
                t,
                value(quantile.value),
            );
        }
        out.push("_sum", None, t, value(point.sum));
        out.push("_count", None, t, value(point.count as f64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn series(name: &str, unit: &str, kind: MetricKind, attributes: Vec<KeyValue>) -> MetricSeries {
        MetricSeries {
            resource: Resource {
                attributes: vec![
                    text("service.name", "checkout"),
                    text("service.namespace", "shop"),
                    text("service.instance.id", "pod-1"),
                    text("host.name", "node-7"),
                ],
                ..Default::default()
            },
            resource_schema_url: String::new(),
            scope: Default::default(),
            scope_schema_url: String::new(),
            name: name.into(),
            description: String::new(),
            unit: unit.into(),
            metadata: vec![],
            kind,
            attributes,
        }
    }

    const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
    const DELTA: i32 = AggregationTemporality::Delta as i32;

    #[test]
    fn names_are_translated_as_prometheus_translates_them() {
        let histogram = MetricKind::Histogram {
            temporality: CUMULATIVE,
        };
        let counter = MetricKind::Sum {
            monotonic: true,
            temporality: CUMULATIVE,
        };
        let up_down = MetricKind::Sum {
            monotonic: false,
            temporality: CUMULATIVE,
        };
        let cases = [
            (
                "http.server.request.duration",
                "s",
                histogram,
                "http_server_request_duration_seconds",
            ),
            (
                "http.server.active_requests",
                "{request}",
                up_down,
                "http_server_active_requests",
            ),
            ("requests.count", "1", counter, "requests_count_total"),
            (
                "memory.usage",
                "By",
                MetricKind::Gauge,
                "memory_usage_bytes",
            ),
            (
                "cpu.utilization",
                "1",
                MetricKind::Gauge,
                "cpu_utilization_ratio",
            ),
            (
                "network.io",
                "By/s",
                MetricKind::Gauge,
                "network_io_bytes_per_second",
            ),
            ("requests_total", "", counter, "requests_total"),
            (
                "duration_seconds",
                "s",
                MetricKind::Gauge,
                "duration_seconds",
            ),
            ("2xx.responses", "", counter, "_2xx_responses_total"),
            ("odd..name__x", "", MetricKind::Gauge, "odd_name_x"),
            (
                "queue.size",
                "{message}/s",
                MetricKind::Gauge,
                "queue_size_per_second",
            ),
            ("temp", "Cel", MetricKind::Gauge, "temp_celsius"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(metric_name(name, unit, kind), want, "{name} in {unit}");
        }
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(label_name("http.route").as_deref(), Some("http_route"));
        assert_eq!(
            label_name("http.response.status_code").as_deref(),
            Some("http_response_status_code")
        );
        assert_eq!(label_name("123abc").as_deref(), Some("key_123abc"));
        assert_eq!(label_name("a..b").as_deref(), Some("a_b"));
        assert_eq!(label_name("__meta__").as_deref(), Some("__meta__"));
        assert_eq!(label_name("_private").as_deref(), Some("_private"));
        assert_eq!(label_name("..."), None);
    }

    #[test]
    fn a_family_carries_job_instance_and_the_point_attributes() {
        let s = series(
            "http.server.request.duration",
            "s",
            MetricKind::Histogram {
                temporality: CUMULATIVE,
            },
            vec![
                text("http.route", "/cart"),
                text("http_route", "x"),
                text("empty", ""),
            ],
        );
        let family = Family::of(&s);
        assert_eq!(family.name, "http_server_request_duration_seconds");
        assert_eq!(
            family.labels,
            vec![
                ("http_route".to_string(), "/cart;x".to_string()),
                ("instance".into(), "pod-1".into()),
                ("job".into(), "shop/checkout".into()),
            ]
        );
        let target = target_info_labels(&s.resource.attributes);
        assert_eq!(
            target,
            vec![
                ("__name__".to_string(), "target_info".to_string()),
                ("host_name".into(), "node-7".into()),
                ("instance".into(), "pod-1".into()),
                ("job".into(), "shop/checkout".into()),
            ]
        );
    }

    fn labels_of(series: &Series, name: &str) -> Option<String> {
        series
            .labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn by_name<'a>(all: &'a [Series], name: &str, le: Option<&str>) -> &'a Series {
        all.iter()
            .find(|s| {
                labels_of(s, "__name__").as_deref() == Some(name)
                    && (le.is_none() || labels_of(s, "le").as_deref() == le)
            })
            .unwrap_or_else(|| panic!("no series {name} {le:?} in {all:?}"))
    }

    fn values(series: &Series) -> Vec<f64> {
        series.samples.iter().map(|s| s.v).collect()
    }

    #[test]
    fn delta_sums_become_running_totals_and_no_value_is_a_stale_marker() {
        let s = series(
            "jobs",
            "",
            MetricKind::Sum {
                monotonic: true,
                temporality: DELTA,
            },
            vec![],
        );
        let point = |t: u64, v: i64, flags: u32| NumberDataPoint {
            time_unix_nano: t * 1_000_000_000,
            value: Some(number_data_point::Value::AsInt(v)),
            flags,
            ..Default::default()
        };
        let points = MetricPoints::Number(vec![point(10, 3, 0), point(20, 4, 0), point(30, 0, 1)]);
        let out = expand(&Family::of(&s), &s, &points, &|_| true);
        assert_eq!(out.len(), 1);
        let samples = &out[0].samples;
        assert_eq!(samples[0], Sample { t: 10_000, v: 3.0 });
        assert_eq!(samples[1], Sample { t: 20_000, v: 7.0 });
        assert_eq!(samples[2].v.to_bits(), otelite_promql::STALE_NAN);
        assert_eq!(
            labels_of(&out[0], "__name__").as_deref(),
            Some("jobs_total")
        );
    }

    #[test]
    fn histograms_become_cumulative_buckets_sum_and_count() {
        let s = series(
            "latency",
            "ms",
            MetricKind::Histogram { temporality: DELTA },
            vec![],
        );
        let point = |t: u64, counts: Vec<u64>, sum: f64| HistogramDataPoint {
            time_unix_nano: t * 1_000_000_000,
            count: counts.iter().sum(),
            sum: Some(sum),
            bucket_counts: counts,
            explicit_bounds: vec![10.0, 100.0],
            ..Default::default()
        };
        let points = MetricPoints::Histogram(vec![
            point(1, vec![1, 2, 3], 500.0),
            point(2, vec![1, 0, 0], 5.0),
        ]);
        let out = expand(&Family::of(&s), &s, &points, &|_| true);
        assert_eq!(out.len(), 5);
        let name = "latency_milliseconds";
        assert_eq!(
            values(by_name(&out, &format!("{name}_bucket"), Some("10"))),
            [1.0, 2.0]
        );
        assert_eq!(
            values(by_name(&out, &format!("{name}_bucket"), Some("100"))),
            [3.0, 4.0]
        );
        assert_eq!(
            values(by_name(&out, &format!("{name}_bucket"), Some("+Inf"))),
            [6.0, 7.0]
        );
        assert_eq!(
            values(by_name(&out, &format!("{name}_sum"), None)),
            [500.0, 505.0]
        );
        assert_eq!(
            values(by_name(&out, &format!("{name}_count"), None)),
            [6.0, 7.0]
        );
    }

    #[test]
    fn exponential_histograms_get_the_bounds_of_their_scale() {
        let s = series(
            "size",
            "By",
            MetricKind::ExponentialHistogram {
                temporality: CUMULATIVE,
            },
            vec![],
        );
        // Scale 0: base 2. Positive offset 1: buckets (2,4], (4,8]. Negative offset 0: [-2,-1).
        let point = ExponentialHistogramDataPoint {
            time_unix_nano: 1_000_000_000,
            count: 10,
            sum: Some(40.0),
            scale: 0,
            zero_count: 1,
            positive: Some(Buckets {
                offset: 1,
                bucket_counts: vec![3, 4],
            }),
            negative: Some(Buckets {
                offset: 0,
                bucket_counts: vec![2],
            }),
            ..Default::default()
        };
        let out = expand(
            &Family::of(&s),
            &s,
            &MetricPoints::ExponentialHistogram(vec![point]),
            &|_| true,
        );
        let bucket = |le: &str| values(by_name(&out, "size_bytes_bucket", Some(le)))[0];
        assert_eq!(bucket("-1"), 2.0);
        assert_eq!(bucket("0"), 3.0);
        assert_eq!(bucket("4"), 6.0);
        assert_eq!(bucket("8"), 10.0);
        assert_eq!(bucket("+Inf"), 10.0);
    }

    #[test]
    fn summaries_become_quantiles_sum_and_count() {
        let s = series("rpc.duration", "s", MetricKind::Summary, vec![]);
        let point = SummaryDataPoint {
            time_unix_nano: 5_000_000_000,
            count: 4,
            sum: 2.5,
            quantile_values: vec![
                ValueAtQuantile {
                    quantile: 0.5,
                    value: 0.5,
                },
                ValueAtQuantile {
                    quantile: 0.99,
                    value: 1.5,
                },
            ],
            ..Default::default()
        };
        let out = expand(
            &Family::of(&s),
            &s,
            &MetricPoints::Summary(vec![point]),
            &|_| true,
        );
        assert_eq!(out.len(), 4);
        let q = out
            .iter()
            .find(|s| labels_of(s, "quantile").as_deref() == Some("0.99"))
            .unwrap();
        assert_eq!(
            labels_of(q, "__name__").as_deref(),
            Some("rpc_duration_seconds")
        );
        assert_eq!(values(q), [1.5]);
        assert_eq!(
            values(by_name(&out, "rpc_duration_seconds_count", None)),
            [4.0]
        );
    }
}
