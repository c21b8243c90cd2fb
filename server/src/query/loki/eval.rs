//! Answers a parsed LogQL query from the store: the [`LogQuery`] pushed down to it, log results
//! grouped into streams, and metric queries evaluated at each step.
//!
//! Pushdown only narrows what the store reads: every hit still runs through the whole selector
//! and pipeline ([`pipeline::run`]), so a condition pushed down can never change an answer, only
//! make it faster. Runs on the blocking pool (it calls the synchronous store).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use otelite_storage::{Direction, LogCursor, LogQuery, LogStream, Store, TimeRange};

use super::logql::{
    AggregateOp, Grouping, LabelPredicate, LogExpr, MatchOp, MetricExpr, RangeFunction, Stage,
};
use super::pipeline::{self, Labels, label_name};
use crate::query::ApiError;

/// Entries a metric query may read at most; beyond this it fails rather than hold them all.
const MAX_METRIC_SAMPLES: usize = 10_000_000;

/// Entries of one stream, in the order of the query's direction: (time, line).
pub type StreamEntries = Vec<(u64, String)>;

/// A metric series: its labels and (step index, value) where it has a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(usize, f64)>,
}

/// The store query for `expr` over `range`, with every condition that can safely go to the
/// store. `streams` lists the range's streams, to map label names back to attribute keys.
pub fn store_query(
    expr: &LogExpr,
    range: TimeRange,
    direction: Direction,
    streams: &[LogStream],
) -> LogQuery {
    let mut query = LogQuery::new(range);
    query.direction = direction;
    let keys_of = |name| keys_of(streams, name);
    for matcher in &expr.selector {
        if matcher.op != MatchOp::Eq || matcher.value.is_empty() {
            continue;
        }
        let keys = keys_of(&matcher.name);
        let value = matcher.value.clone();
        match keys.into_iter().collect::<Vec<_>>().as_slice() {
            ["service.name"] if query.services.is_empty() => query.services.push(value),
            [key] => query.resource.push((key.to_string(), value)),
            [] if matcher.name == "severity_text" && query.severity_texts.is_empty() => {
                query.severity_texts.push(value)
            }
            _ => {}
        }
    }
    let mut before_parsers = true;
    for stage in &expr.pipeline {
        match stage {
            Stage::LineFilter(filter) if filter.op == super::logql::LineOp::Contains => {
                query.contains.push(filter.text.clone());
            }
            Stage::LineFilter(_) => {}
            Stage::Json | Stage::Logfmt => before_parsers = false,
            // The line changes: later line filters read another text than the store's.
            Stage::LineFormat(_) => break,
            // Labels change: a later `trace_id` may be one it set, or be gone.
            Stage::LabelFormat(_) | Stage::Drop(_) | Stage::Keep(_) => before_parsers = false,
            Stage::LabelFilter(predicate) if before_parsers => {
                for matcher in conjuncts(predicate) {
                    let id_label = matches!(matcher.name.as_str(), "trace_id" | "span_id");
                    if matcher.op != MatchOp::Eq || !id_label || !keys_of(&matcher.name).is_empty()
                    {
                        continue;
                    }
                    let Some(bytes) = hex_bytes(&matcher.value) else {
                        continue;
                    };
                    match matcher.name.as_str() {
                        "trace_id" => query.trace_id = bytes.try_into().ok(),
                        _ => query.span_id = bytes.try_into().ok(),
                    }
                }
            }
            Stage::LabelFilter(_) => {}
        }
    }
    query
}

/// The attribute keys a label name may stand for: several when `a.b` and `a_b` both occur.
/// A name without `_` stands only for the key spelled like it, whatever the streams.
fn keys_of<'a>(streams: &'a [LogStream], name: &'a str) -> BTreeSet<&'a str> {
    if !name.contains('_') {
        return BTreeSet::from([name]);
    }
    streams
        .iter()
        .flat_map(|s| &s.resource)
        .map(|(key, _)| key.as_str())
        .filter(|key| label_name(key) == name)
        .collect()
}

/// The text matchers a predicate requires whatever else holds (those joined by `and`).
fn conjuncts(predicate: &LabelPredicate) -> Vec<&super::logql::Matcher> {
    match predicate {
        LabelPredicate::And(a, b) => {
            let mut all = conjuncts(a);
            all.extend(conjuncts(b));
            all
        }
        LabelPredicate::Text(matcher) => vec![matcher],
        _ => Vec::new(),
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Whether pushing `expr` down needs the range's streams (reading them costs a pass over the
/// range's blocks): for an equality on a label name with `_`, or a `trace_id`/`span_id` filter.
fn needs_streams(expr: &LogExpr) -> bool {
    let pushable = |m: &super::logql::Matcher| m.op == MatchOp::Eq && !m.value.is_empty();
    expr.selector
        .iter()
        .any(|m| pushable(m) && m.name.contains('_'))
        || expr.pipeline.iter().any(|stage| match stage {
            Stage::LabelFilter(predicate) => conjuncts(predicate)
                .into_iter()
                .any(|m| pushable(m) && matches!(m.name.as_str(), "trace_id" | "span_id")),
            _ => false,
        })
}

/// [`store_query`], reading the range's streams only when a matcher needs them.
pub fn prepared_query(
    store: &Store,
    expr: &LogExpr,
    range: TimeRange,
    direction: Direction,
) -> Result<LogQuery, ApiError> {
    let streams = if needs_streams(expr) {
        store.log_streams(range)?
    } else {
        Vec::new()
    };
    Ok(store_query(expr, range, direction, &streams))
}

/// Log query results: streams by labels, and the cursor of the last entry found.
pub type FoundStreams = (BTreeMap<Labels, StreamEntries>, Option<LogCursor>);

/// The first `limit` entries of a log query in `direction` (beyond `after`), grouped into
/// streams by their labels; within a stream in `direction`.
pub fn log_streams(
    store: &Store,
    expr: &LogExpr,
    range: TimeRange,
    direction: Direction,
    limit: usize,
    after: Option<LogCursor>,
) -> Result<FoundStreams, ApiError> {
    let mut query = prepared_query(store, expr, range, direction)?;
    query.after = after;
    collect_streams(store, &query, expr, limit)
}

/// The first `limit` hits of `query` that `expr` keeps, as streams.
fn collect_streams(
    store: &Store,
    query: &LogQuery,
    expr: &LogExpr,
    limit: usize,
) -> Result<FoundStreams, ApiError> {
    let mut streams: BTreeMap<Labels, StreamEntries> = BTreeMap::new();
    let mut found = 0;
    let mut last = None;
    store.find_logs(query, |hit| {
        if let Some(entry) = pipeline::run(expr, &hit) {
            streams
                .entry(entry.labels)
                .or_default()
                .push((hit.time_unix_nano(), entry.line));
            found += 1;
            last = Some(hit.cursor);
        }
        if found >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok((streams, last))
}

/// The evaluation times of a metric query: `start`, `start + step`, ... up to `end`.
pub fn steps(start: u64, end: u64, step: u64) -> Vec<u64> {
    (0..=(end - start) / step)
        .map(|i| start + i * step)
        .collect()
}

/// Evaluates a metric query at every time of `steps`.
pub fn metric(store: &Store, expr: &MetricExpr, steps: &[u64]) -> Result<Vec<Series>, ApiError> {
    match expr {
        MetricExpr::Constant(value) => Ok(vec![Series {
            labels: Labels::new(),
            points: (0..steps.len()).map(|i| (i, *value)).collect(),
        }]),
        MetricExpr::Range {
            function,
            log,
            range_ns,
        } => range_vector(store, *function, log, *range_ns, steps),
        MetricExpr::Aggregate {
            op,
            grouping,
            parameter,
            inner,
        } => {
            let inner = metric(store, inner, steps)?;
            Ok(aggregate(*op, grouping, *parameter, inner))
        }
    }
}

/// `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate`: per series (labels after the
/// pipeline), over the entries in `(t - range, t]` at each step `t`; no point where none are.
fn range_vector(
    store: &Store,
    function: RangeFunction,
    log: &LogExpr,
    range_ns: u64,
    steps: &[u64],
) -> Result<Vec<Series>, ApiError> {
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(Vec::new());
    };
    let range = TimeRange::new(
        first.saturating_sub(range_ns).saturating_add(1),
        last.saturating_add(1),
    );
    let query = prepared_query(store, log, range, Direction::Forward)?;
    let mut samples: BTreeMap<Labels, Vec<(u64, u64)>> = BTreeMap::new();
    let mut total = 0;
    let mut failure = None;
    store.find_logs(&query, |hit| {
        let Some(entry) = pipeline::run(log, &hit) else {
            return ControlFlow::Continue(());
        };
        if let Some(error) = entry.labels.get("__error__") {
            let details = entry.labels.get("__error_details__").cloned().unwrap_or_default();
            failure = Some(ApiError::BadRequest(format!(
                "pipeline error: '{error}' for series: '{}' ({details}). Use a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\")",
                series_text(&entry.labels)
            )));
            return ControlFlow::Break(());
        }
        total += 1;
        if total > MAX_METRIC_SAMPLES {
            failure = Some(ApiError::BadRequest(format!(
                "the query reads more than {MAX_METRIC_SAMPLES} log entries: narrow its selector or time range"
            )));
            return ControlFlow::Break(());
        }
        samples
            .entry(entry.labels)
            .or_default()
            .push((hit.time_unix_nano(), entry.line.len() as u64));
        ControlFlow::Continue(())
    })?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    let range_seconds = range_ns as f64 / 1e9;
    Ok(samples
        .into_iter()
        .map(|(labels, entries)| {
            // Entries come in time order; the window slides forward with the steps.
            let (mut lo, mut hi, mut bytes) = (0, 0, 0u64);
            let mut points = Vec::new();
            for (i, &t) in steps.iter().enumerate() {
                while hi < entries.len() && entries[hi].0 <= t {
                    bytes += entries[hi].1;
                    hi += 1;
                }
                while lo < hi && entries[lo].0 + range_ns <= t {
                    bytes -= entries[lo].1;
                    lo += 1;
                }
                let count = hi - lo;
                if count == 0 {
                    continue;
                }
                let value = match function {
                    RangeFunction::CountOverTime => count as f64,
                    RangeFunction::Rate => count as f64 / range_seconds,
                    RangeFunction::BytesOverTime => bytes as f64,
                    RangeFunction::BytesRate => bytes as f64 / range_seconds,
                };
                points.push((i, value));
            }
            Series { labels, points }
        })
        .filter(|series| !series.points.is_empty())
        .collect())
}

/// Labels as Loki prints a series: `{a="x", b="y"}`.
pub fn series_text(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(name, _)| name.as_str() != "__error_details__")
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The labels of `labels` that an aggregation's grouping keeps.
fn group_labels(grouping: &Grouping, labels: &Labels) -> Labels {
    match grouping {
        Grouping::All => Labels::new(),
        Grouping::By(names) => labels
            .iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        Grouping::Without(names) => labels
            .iter()
            .filter(|(name, _)| !names.contains(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    }
}

/// What an aggregation keeps of one group at one step: sum, count, min, max.
type Accumulator = (f64, usize, f64, f64);

fn aggregate(
    op: AggregateOp,
    grouping: &Grouping,
    parameter: Option<usize>,
    inner: Vec<Series>,
) -> Vec<Series> {
    if let (AggregateOp::Topk | AggregateOp::Bottomk, Some(k)) = (op, parameter) {
        return top(op == AggregateOp::Topk, k, grouping, inner);
    }
    // Per group, per step: (sum, count, min, max).
    let mut groups: BTreeMap<Labels, BTreeMap<usize, Accumulator>> = BTreeMap::new();
    for series in &inner {
        let group = groups
            .entry(group_labels(grouping, &series.labels))
            .or_default();
        for &(step, value) in &series.points {
            let acc = group
                .entry(step)
                .or_insert((0.0, 0, f64::INFINITY, f64::NEG_INFINITY));
            acc.0 += value;
            acc.1 += 1;
            acc.2 = acc.2.min(value);
            acc.3 = acc.3.max(value);
        }
    }
    groups
        .into_iter()
        .map(|(labels, points)| Series {
            labels,
            points: points
                .into_iter()
                .map(|(step, (sum, count, min, max))| {
                    let value = match op {
                        AggregateOp::Sum => sum,
                        AggregateOp::Count => count as f64,
                        AggregateOp::Min => min,
                        AggregateOp::Max => max,
                        _ => sum / count as f64,
                    };
                    (step, value)
                })
                .collect(),
        })
        .collect()
}

/// `topk`/`bottomk`: at each step, the `k` largest (smallest) series of each group, which keep
/// their labels.
fn top(largest: bool, k: usize, grouping: &Grouping, inner: Vec<Series>) -> Vec<Series> {
    // (group, step) -> (value, series index)
    let mut candidates: BTreeMap<(Labels, usize), Vec<(f64, usize)>> = BTreeMap::new();
    for (index, series) in inner.iter().enumerate() {
        let group = group_labels(grouping, &series.labels);
        for &(step, value) in &series.points {
            candidates
                .entry((group.clone(), step))
                .or_default()
                .push((value, index));
        }
    }
    let mut kept: Vec<Vec<(usize, f64)>> = vec![Vec::new(); inner.len()];
    for ((_, step), mut values) in candidates {
        values.sort_by(|a, b| {
            let order = a.0.total_cmp(&b.0);
            if largest { order.reverse() } else { order }.then(a.1.cmp(&b.1))
        });
        for (value, index) in values.into_iter().take(k) {
            kept[index].push((step, value));
        }
    }
    inner
        .into_iter()
        .zip(kept)
        .filter(|(_, points)| !points.is_empty())
        .map(|(series, mut points)| {
            points.sort_by_key(|p| p.0);
            Series {
                labels: series.labels,
                points,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::loki::logql::{Expr, parse};

    fn log(query: &str) -> LogExpr {
        match parse(query) {
            Ok(Expr::Log(log)) => log,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn stream(keys: &[(&str, &str)]) -> LogStream {
        LogStream {
            resource: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            severity_text: String::new(),
        }
    }

    #[test]
    fn pushdown_maps_label_names_back_to_attribute_keys() {
        let streams = [
            stream(&[("service.name", "cart"), ("deployment.environment", "prod")]),
            stream(&[("service.name", "web"), ("k8s.pod", "a"), ("k8s_pod", "b")]),
        ];
        let expr = log(
            r#"{service_name="cart", deployment_environment="prod", k8s_pod="a", severity_text="WARN", region!="eu"}
               |= "GET" |~ "x" | trace_id="000000000000000000000000000000ab" | json |= "after json" | line_format "x" |= "formatted""#,
        );
        let query = store_query(&expr, TimeRange::ALL, Direction::Backward, &streams);
        assert_eq!(query.services, ["cart"]);
        assert_eq!(
            query.resource,
            [("deployment.environment".to_string(), "prod".to_string())],
            "k8s_pod stands for two keys: not pushed"
        );
        assert_eq!(query.severity_texts, ["WARN"]);
        assert_eq!(query.contains, ["GET", "after json"]);
        let mut id = [0u8; 16];
        id[15] = 0xab;
        assert_eq!(query.trace_id, Some(id));
    }

    #[test]
    fn pushdown_leaves_what_it_cannot_prove() {
        let streams = [stream(&[("service_name", "x"), ("trace.id", "y")])];
        let expr = log(
            r#"{service_name="cart", missing=""} | json | span_id="0000000000000001" | trace_id="000000000000000000000000000000ab""#,
        );
        let query = store_query(&expr, TimeRange::ALL, Direction::Forward, &streams);
        assert!(
            query.services.is_empty(),
            "service_name is another key here"
        );
        assert_eq!(query.resource, [("service_name".into(), "cart".into())]);
        assert_eq!(
            query.span_id, None,
            "after a parser, span_id may be extracted"
        );
        assert_eq!(query.trace_id, None);
        let expr = log(r#"{a="b"} | trace_id="000000000000000000000000000000ab""#);
        let query = store_query(&expr, TimeRange::ALL, Direction::Forward, &streams);
        assert_eq!(
            query.trace_id, None,
            "trace_id is a stream label (trace.id) here"
        );
    }

    fn series(labels: &[(&str, &str)], points: &[(usize, f64)]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn aggregations_group_by_labels_per_step() {
        let inner = vec![
            series(&[("a", "1"), ("b", "x")], &[(0, 1.0), (1, 4.0)]),
            series(&[("a", "1"), ("b", "y")], &[(1, 2.0)]),
            series(&[("a", "2"), ("b", "x")], &[(0, 5.0)]),
        ];
        let by_a = Grouping::By(vec!["a".into()]);
        assert_eq!(
            aggregate(AggregateOp::Sum, &by_a, None, inner.clone()),
            [
                series(&[("a", "1")], &[(0, 1.0), (1, 6.0)]),
                series(&[("a", "2")], &[(0, 5.0)])
            ]
        );
        assert_eq!(
            aggregate(AggregateOp::Avg, &Grouping::All, None, inner.clone()),
            [series(&[], &[(0, 3.0), (1, 3.0)])]
        );
        assert_eq!(
            aggregate(
                AggregateOp::Count,
                &Grouping::Without(vec!["a".into()]),
                None,
                inner.clone()
            ),
            [
                series(&[("b", "x")], &[(0, 2.0), (1, 1.0)]),
                series(&[("b", "y")], &[(1, 1.0)])
            ]
        );
        assert_eq!(
            aggregate(AggregateOp::Max, &Grouping::All, None, inner.clone()),
            [series(&[], &[(0, 5.0), (1, 4.0)])]
        );
        assert_eq!(
            aggregate(AggregateOp::Topk, &Grouping::All, Some(1), inner),
            [
                series(&[("a", "1"), ("b", "x")], &[(1, 4.0)]),
                series(&[("a", "2"), ("b", "x")], &[(0, 5.0)])
            ]
        );
    }

    /// A store holding `testdata/logs-in.json` and, two hours later, cart's records again from a
    /// resource that spells `service_name` with an underscore and has a `trace.id`, so that over
    /// a range holding both, the labels `service_name` and `trace_id` stand for two keys.
    fn store() -> (Store, tempfile::TempDir) {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/query/loki/testdata/logs-in.json"
        );
        let json = std::fs::read(path).unwrap();
        let mut request: ExportLogsServiceRequest = crate::otlp::decode_json(&json).unwrap();
        let mut odd = request.resource_logs[0].clone();
        let resource = odd.resource.as_mut().unwrap();
        resource.attributes[0].key = "service_name".into();
        resource
            .attributes
            .push(opentelemetry_proto::tonic::common::v1::KeyValue {
                key: "trace.id".into(),
                value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            "00000000000000000000000000000001".into(),
                        ),
                    ),
                }),
                ..Default::default()
            });
        for record in odd.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
            record.time_unix_nano += 7_200_000_000_000;
        }
        request.resource_logs.push(odd);
        let (state, dir) = crate::ingest::test_support::state(1 << 20);
        state
            .store
            .write(otelite_storage::Batch::Logs(request.resource_logs))
            .unwrap();
        (state.store, dir)
    }

    #[test]
    fn pushdown_never_changes_an_answer() {
        let (store, _dir) = store();
        let start = 1_700_000_000_000_000_000;
        let hour = 3_600_000_000_000;
        let queries = [
            r#"{service_name="cart"}"#,
            r#"{service_name="cart", k8s_pod_name="cart-1", severity_text="ERROR"}"#,
            r#"{deployment_environment="prod"} |= "GET" |= "cart" != "8ms""#,
            r#"{service_name=~".+"} | trace_id="00000000000000000000000000000001""#,
            r#"{service_name=~".+"} | trace_id="00000000000000000000000000000002", span_id="0000000000000003""#,
            r#"{service_name=~".+"} | trace_id="00000000000000000000000000000002" or http_route="/cart""#,
            r#"{service_name="payment"} | json | trace_id="00000000000000000000000000000002""#,
            r#"{service_name="cart"} | line_format "x{{.http_route}}" |= "x/cart" |= "/cart""#,
            r#"{severity_text="ERROR"} |= "charge""#,
        ];
        let mut pushed = [false; 5];
        for range in [
            TimeRange::new(start, start + hour),
            TimeRange::new(start, start + 3 * hour),
        ] {
            for text in queries {
                let expr = log(text);
                for direction in [Direction::Backward, Direction::Forward] {
                    for limit in [2, 100] {
                        let query = prepared_query(&store, &expr, range, direction).unwrap();
                        for (i, is_set) in [
                            !query.services.is_empty(),
                            !query.resource.is_empty(),
                            !query.severity_texts.is_empty(),
                            !query.contains.is_empty(),
                            query.trace_id.is_some() && query.span_id.is_some(),
                        ]
                        .into_iter()
                        .enumerate()
                        {
                            pushed[i] |= is_set;
                        }
                        let mut plain = LogQuery::new(range);
                        plain.direction = direction;
                        let with = collect_streams(&store, &query, &expr, limit).unwrap();
                        let without = collect_streams(&store, &plain, &expr, limit).unwrap();
                        assert_eq!(
                            with, without,
                            "{text} {range:?} {direction:?} limit {limit}"
                        );
                        assert!(!without.0.is_empty(), "{text} finds something");
                    }
                }
            }
        }
        assert_eq!(pushed, [true; 5], "every kind of pushdown was exercised");
        let by_env = log(r#"{environment="prod"} |= "x""#);
        assert!(!needs_streams(&by_env), "a name without _ is its own key");
        assert!(needs_streams(&log(r#"{service_name="cart"}"#)));
        assert!(needs_streams(&log(
            r#"{service_name=~"c.*"} | trace_id="00000000000000000000000000000001""#
        )));
        assert!(!needs_streams(&log(r#"{service_name=~"c.*"} | level="x""#)));
    }

    #[test]
    fn steps_run_from_start_to_end_inclusive() {
        assert_eq!(steps(10, 30, 10), [10, 20, 30]);
        assert_eq!(steps(10, 35, 10), [10, 20, 30]);
        assert_eq!(steps(10, 10, 10), [10]);
    }
}
