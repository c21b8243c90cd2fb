//! The store as PromQL's [`Source`]: selectors are answered by translating each stored OTLP
//! series into its Prometheus series (`translate.rs`) and keeping those the matchers accept.
//! A stored series is ruled out from its descriptor alone, before its points are decoded,
//! whenever its name or shared labels already fail a matcher.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use otelite_promql::promql_parser::label::Matcher;
use otelite_promql::{Labels, Sample, Series, Source};
use otelite_storage::{MetricSeries, SeriesPoints, Store, TimeRange};

use super::translate::{self, Family, TARGET_INFO};

const NAME: &str = "__name__";

/// The store, read through the translation.
pub(crate) struct StoreSource<'a> {
    pub store: &'a Store,
    /// The most series one selector may load (`--query-max-series`).
    pub max_series: usize,
    /// Set when a selector was refused for selecting more than `max_series`: the query's
    /// fault (422), not the store's.
    pub too_many_series: AtomicBool,
    /// Ranges at least this long are read in two halves at once ([`SPLIT_NS`]).
    split_ns: u64,
}

impl<'a> StoreSource<'a> {
    pub(crate) fn new(store: &'a Store, max_series: usize) -> StoreSource<'a> {
        StoreSource {
            store,
            max_series,
            too_many_series: AtomicBool::new(false),
            split_ns: SPLIT_NS,
        }
    }
}

/// A range in milliseconds, both ends included, as the store's half-open nanosecond range
/// (every nanosecond of the last millisecond belongs to it); negative times are clamped to 0.
pub(crate) fn time_range(start_ms: i64, end_ms: i64) -> TimeRange {
    let ns = |ms: i64| (ms.max(0) as u64).saturating_mul(1_000_000);
    TimeRange::new(ns(start_ms), ns(end_ms.saturating_add(1)))
}

/// Whether `matcher` accepts `value` (an absent label is the empty value).
fn accepts(matcher: &Matcher, value: &str) -> bool {
    matcher.is_match(value)
}

fn label<'l>(labels: &'l Labels, name: &str) -> &'l str {
    labels
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .map_or("", |at| labels[at].1.as_str())
}

/// Whether any series of `family` could pass `matchers`: its possible names against the name
/// matchers, its shared labels against the rest (`le` and `quantile`, added per series, are
/// judged later).
pub(super) fn could_match(family: &Family, matchers: &[Matcher]) -> bool {
    let names_ok = family.series_names().any(|name| {
        matchers
            .iter()
            .filter(|m| m.name == NAME)
            .all(|m| accepts(m, &name))
    });
    names_ok
        && matchers
            .iter()
            .filter(|m| m.name != NAME && m.name != "le" && m.name != "quantile")
            .all(|m| accepts(m, label(&family.labels, &m.name)))
}

pub(super) fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| accepts(m, label(labels, &m.name)))
}

/// Whether the selector could ask for `target_info`.
fn wants_target_info(matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .filter(|m| m.name == NAME)
        .all(|m| accepts(m, TARGET_INFO))
}

/// Merges series that translate to the same labels (the same metric from two scopes, say):
/// samples in time order, the later stored one kept where two share a time. A label set met
/// once (nearly all of them) keeps its samples as they are.
fn merge(all: impl IntoIterator<Item = Series>) -> Vec<Series> {
    let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for series in all {
        match merged.entry(series.labels) {
            Entry::Vacant(entry) => {
                entry.insert(series.samples);
            }
            Entry::Occupied(mut entry) => entry.get_mut().extend(series.samples),
        }
    }
    merged
        .into_iter()
        .map(|(labels, mut samples)| {
            // Joined halves of a range are in order already: a scan, not a sort. Stable: of
            // two samples at one time, the later stored stays last.
            if !samples.is_sorted_by_key(|s| s.t) {
                samples.sort_by_key(|s| s.t);
            }
            if samples.windows(2).any(|w| w[0].t == w[1].t) {
                let mut deduped: Vec<Sample> = Vec::with_capacity(samples.len());
                for sample in samples {
                    match deduped.last_mut() {
                        Some(last) if last.t == sample.t => *last = sample,
                        _ => deduped.push(sample),
                    }
                }
                samples = deduped;
            }
            Series { labels, samples }
        })
        .collect()
}

/// A range at least this long is read as two halves at once, on two threads: reading and
/// decoding is most of a long range query's time.
const SPLIT_NS: u64 = 4 * HOUR_NS;

const HOUR_NS: u64 = 3_600_000_000_000;

/// `range` cut in two at an hour (where the store's partitions begin, so that no partition
/// is read twice), when it is long enough to be worth reading on two threads.
fn halves(range: TimeRange, split_ns: u64) -> Option<(TimeRange, TimeRange)> {
    if range.end.saturating_sub(range.start) < split_ns {
        return None;
    }
    let mid = (range.start + (range.end - range.start) / 2) / HOUR_NS * HOUR_NS;
    (range.start < mid && mid < range.end).then(|| {
        (
            TimeRange::new(range.start, mid),
            TimeRange::new(mid, range.end),
        )
    })
}

/// Adds the series read from a later half of a range to those of the earlier half: a delta
/// series found in both has its later points appended (its running total must carry on),
/// anything else is added as it is.
fn join_deltas(selected: &mut Vec<(Family, SeriesPoints)>, late: Vec<(Family, SeriesPoints)>) {
    // The early delta series, by translated labels (equal for the same series).
    let mut deltas: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, (family, points)) in selected.iter().enumerate() {
        if translate::is_delta(points.series.kind) {
            deltas.entry(family.labels.clone()).or_default().push(i);
        }
    }
    for (family, points) in late {
        let early = deltas.get(&family.labels).and_then(|candidates| {
            candidates
                .iter()
                .find(|&&i| selected[i].1.series == points.series)
        });
        match early {
            Some(&i) => selected[i].1.points.append(points.points),
            None => selected.push((family, points)),
        }
    }
}

impl StoreSource<'_> {
    /// Every stored series `wanted` accepts (shown its descriptor and family), with its family.
    /// A long range is read in two halves at once; a series found in both comes back as two
    /// entries, one per half (translated apart and merged by labels later), except a delta
    /// series, whose halves are joined so that its running total carries on.
    fn select_translated(
        &self,
        range: TimeRange,
        wanted: impl Fn(&MetricSeries, &Family) -> bool + Sync,
    ) -> Result<Vec<(Family, SeriesPoints)>, String> {
        let (mut selected, late) =
            self.in_halves(range, |range| self.read_translated(range, &wanted))?;
        if let Some(late) = late {
            join_deltas(&mut selected, late);
        }
        Ok(selected)
    }

    /// `read(range)`, or `read` of its two halves at once on two threads when the range is
    /// long enough ([`halves`]).
    fn in_halves<T: Send>(
        &self,
        range: TimeRange,
        read: impl Fn(TimeRange) -> Result<T, String> + Sync,
    ) -> Result<(T, Option<T>), String> {
        let Some((early, late)) = halves(range, self.split_ns) else {
            return Ok((read(range)?, None));
        };
        let (early, late) = std::thread::scope(|scope| {
            let late = scope.spawn(|| read(late));
            (read(early), late.join())
        });
        let late = late.map_err(|_| "a thread reading the store failed".to_string())??;
        Ok((early?, Some(late)))
    }

    fn read_translated(
        &self,
        range: TimeRange,
        wanted: &(impl Fn(&MetricSeries, &Family) -> bool + Sync),
    ) -> Result<Vec<(Family, SeriesPoints)>, String> {
        let selected = self
            .store
            .select_metrics(range, &mut |series| wanted(series, &Family::of(series)))
            .map_err(|e| e.to_string())?;
        Ok(selected
            .into_iter()
            .map(|points| (Family::of(&points.series), points))
            .collect())
    }

    /// `target_info`: one series per resource, 1 at every time a point of it was stored.
    fn target_info(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, String> {
        let selected = self.select_translated(range, |series, _| {
            matches_all(
                &translate::target_info_labels(&series.resource.attributes),
                matchers,
            )
        })?;
        let mut by_resource: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for (_, points) in selected {
            let labels = translate::target_info_labels(&points.series.resource.attributes);
            let samples = by_resource.entry(labels).or_default();
            for t in point_times(&points.points) {
                samples.push(Sample { t, v: 1.0 });
            }
        }
        Ok(merge(
            by_resource
                .into_iter()
                .map(|(labels, samples)| Series { labels, samples }),
        ))
    }
}

fn point_times(points: &otelite_storage::MetricPoints) -> Vec<i64> {
    use otelite_storage::MetricPoints;
    let ms = |ns: u64| (ns / 1_000_000) as i64;
    match points {
        MetricPoints::Number(p) => p.iter().map(|p| ms(p.time_unix_nano)).collect(),
        MetricPoints::Histogram(p) => p.iter().map(|p| ms(p.time_unix_nano)).collect(),
        MetricPoints::ExponentialHistogram(p) => p.iter().map(|p| ms(p.time_unix_nano)).collect(),
        MetricPoints::Summary(p) => p.iter().map(|p| ms(p.time_unix_nano)).collect(),
    }
}

impl Source for StoreSource<'_> {
    fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>, String> {
        let range = time_range(start, end);
        let wanted = |_: &MetricSeries, family: &Family| could_match(family, matchers);
        let expand = |selected: Vec<(Family, SeriesPoints)>, out: &mut Vec<Series>| {
            for (family, points) in &selected {
                let wanted = |suffix: &str| {
                    let name = format!("{}{suffix}", family.name);
                    matchers
                        .iter()
                        .filter(|m| m.name == NAME)
                        .all(|m| accepts(m, &name))
                };
                for series in translate::expand(family, &points.series, &points.points, &wanted) {
                    if matches_all(&series.labels, matchers) {
                        out.push(series);
                    }
                }
            }
        };
        // Each half is translated on its own thread but for its delta series, which are
        // joined first.
        let (early, late) = self.in_halves(range, |range| {
            let (deltas, others): (Vec<_>, Vec<_>) = self
                .read_translated(range, &wanted)?
                .into_iter()
                .partition(|(_, points)| translate::is_delta(points.series.kind));
            let mut out = Vec::new();
            expand(others, &mut out);
            Ok((out, deltas))
        })?;
        let (mut out, mut deltas) = early;
        if let Some((late_out, late_deltas)) = late {
            out.extend(late_out);
            join_deltas(&mut deltas, late_deltas);
        }
        expand(deltas, &mut out);
        if wants_target_info(matchers) {
            out.extend(self.target_info(matchers, range)?);
        }
        let mut merged = merge(out);
        if merged.len() > self.max_series {
            self.too_many_series.store(true, Ordering::Relaxed);
            return Err(format!(
                "the selector {} selects {} series, more than the limit of {} (--query-max-series): add label matchers",
                describe(matchers),
                merged.len(),
                self.max_series
            ));
        }
        for series in &mut merged {
            series.samples.retain(|s| (start..=end).contains(&s.t));
        }
        merged.retain(|s| !s.samples.is_empty());
        Ok(merged)
    }
}

/// The matcher lists a selector stands for: its matchers with the metric name as a
/// `__name__` matcher, one list per `or` alternative (`{a="1" or b="2"}`).
pub(crate) fn selector_matchers(
    selector: &otelite_promql::promql_parser::parser::VectorSelector,
) -> Vec<Vec<Matcher>> {
    use otelite_promql::promql_parser::label::MatchOp;
    let name = selector
        .name
        .as_ref()
        .map(|name| Matcher::new(MatchOp::Equal, NAME, name));
    let alternatives = if selector.matchers.or_matchers.is_empty() {
        vec![selector.matchers.matchers.clone()]
    } else {
        selector.matchers.or_matchers.clone()
    };
    alternatives
        .into_iter()
        .map(|mut matchers| {
            matchers.extend(name.clone());
            matchers
        })
        .collect()
}

/// A selector as PromQL writes it, for messages: `{__name__="up", job="api"}`.
fn describe(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use otelite_storage::{Batch, StoreOptions};

    use super::*;

    const START_NS: u64 = 1_700_000_000 * 1_000_000_000 / HOUR_NS * HOUR_NS;
    const MINUTE_NS: u64 = 60_000_000_000;

    fn sum(name: &str, temporality: AggregationTemporality, t: u64, v: i64) -> Metric {
        Metric {
            name: name.into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: t,
                    value: Some(number_data_point::Value::AsInt(v)),
                    ..Default::default()
                }],
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        }
    }

    /// A delta histogram and a cumulative one, a delta and a cumulative counter, every
    /// 5 minutes for 10 hours, the cumulative counter from two scopes (merged by labels).
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::default().with_compaction_idle(None);
        let store = Store::open(dir.path(), options).unwrap();
        for i in 0..120u64 {
            let t = START_NS + 7 * MINUTE_NS + i * 5 * MINUTE_NS;
            let histogram = |name: &str, temporality: AggregationTemporality, n: u64| Metric {
                name: name.into(),
                unit: "s".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: t,
                        count: n + 3,
                        sum: Some(n as f64 * 0.25),
                        bucket_counts: vec![n, 1, 2],
                        explicit_bounds: vec![0.1, 1.0],
                        ..Default::default()
                    }],
                    aggregation_temporality: temporality as i32,
                })),
                ..Default::default()
            };
            let scope = |name: &str, metrics: Vec<Metric>| ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: name.into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            };
            let resource = Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("shop".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let group = ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![
                    scope(
                        "a",
                        vec![
                            sum("orders", AggregationTemporality::Delta, t, (i % 7) as i64),
                            sum("requests", AggregationTemporality::Cumulative, t, i as i64),
                            histogram("latency", AggregationTemporality::Delta, i % 5),
                            histogram("duration", AggregationTemporality::Cumulative, i),
                        ],
                    ),
                    // The same counter from another scope half the time: one label set.
                    scope(
                        "b",
                        if i % 2 == 0 {
                            vec![sum(
                                "requests",
                                AggregationTemporality::Cumulative,
                                t + 1_000_000,
                                (i * 2) as i64,
                            )]
                        } else {
                            vec![]
                        },
                    ),
                ],
                ..Default::default()
            };
            store.write(Batch::Metrics(vec![group])).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn a_long_range_read_in_halves_equals_one_read_whole() {
        let (_dir, store) = store();
        let query = r#"{__name__=~"(orders|requests|latency|duration).*"}"#;
        let otelite_promql::promql_parser::parser::Expr::VectorSelector(selector) =
            otelite_promql::promql_parser::parser::parse(query).unwrap()
        else {
            panic!("{query} is a selector");
        };
        let matchers = selector_matchers(&selector).remove(0);
        let (start, end) = (
            (START_NS / 1_000_000) as i64,
            (START_NS / 1_000_000) as i64 + 39_600_000,
        );
        assert!(halves(time_range(start, end), SPLIT_NS).is_some());
        let halved = StoreSource::new(&store, 1000)
            .select(&matchers, start, end)
            .unwrap();
        let whole = StoreSource {
            split_ns: u64::MAX,
            ..StoreSource::new(&store, 1000)
        }
        .select(&matchers, start, end)
        .unwrap();
        // orders, requests, latency and duration's buckets, sums and counts.
        assert_eq!(whole.len(), 2 + 2 * 5, "{whole:#?}");
        assert!(whole.iter().all(|s| s.samples.len() >= 120));
        assert_eq!(halved, whole);
    }
}
