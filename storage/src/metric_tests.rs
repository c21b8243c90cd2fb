//! Metric series queries checked against a plain scan of everything written: whatever the
//! blocks look like (row blocks, compacted codec-4 blocks, both at once after late points,
//! points retried, series spanning partitions), `metric_series` lists exactly the series with a
//! point in the range and `select_metrics` returns exactly their points, once each, in time
//! order; and the codec round-trips arbitrary points of every kind bit for bit.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message;

use crate::metric_block;
use crate::metric_query::{MetricPoints, MetricSeries};
use crate::properties::items_of;
use crate::test_fixtures::{compacting, proptest_config, row_store, wait_for_compaction};
use crate::{Batch, Signal, Store, TimeRange};

const MINUTE: u64 = 60_000_000_000;
const HOUR: u64 = 60 * MINUTE;
const BASE: u64 = 1_767_225_600_000_000_000;

fn text(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    })
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: text(value),
        key_strindex: 0,
    }
}

/// A point: (service, metric, route, minute offset, value, exemplar).
type Generated = (usize, usize, u8, u64, i64, bool);

fn any_point() -> impl Strategy<Value = Generated> {
    (
        0..2usize,
        0..6usize,
        0u8..3,
        0u64..150,
        -50i64..5000,
        any::<bool>(),
    )
}

fn exemplars(with: bool, time: u64, n: usize) -> Vec<Exemplar> {
    if !with {
        return Vec::new();
    }
    vec![Exemplar {
        filtered_attributes: vec![kv("user", "u7")],
        time_unix_nano: time - 5,
        span_id: vec![n as u8; 8],
        trace_id: vec![3; 16],
        value: Some(exemplar::Value::AsDouble(0.25)),
    }]
}

/// The metric holding one generated point.
fn metric(&(_, metric, route, minute, value, exemplar): &Generated, n: usize) -> Metric {
    // Several points may share a time; the last digits of the nanoseconds keep most apart.
    let time = BASE + minute * MINUTE + (n as u64 % 3);
    let start = BASE - HOUR;
    let attributes = vec![kv("http.route", &format!("/r{route}"))];
    let number = |v: number_data_point::Value| NumberDataPoint {
        attributes: attributes.clone(),
        start_time_unix_nano: if metric == 2 { time - MINUTE } else { start },
        time_unix_nano: time,
        exemplars: exemplars(exemplar, time, n),
        flags: u32::from(value < 0),
        value: Some(v),
    };
    let (name, data) = match metric {
        0 => (
            "memory",
            Data::Gauge(Gauge {
                data_points: vec![number(number_data_point::Value::AsDouble(
                    value as f64 / 7.0,
                ))],
            }),
        ),
        1 => (
            "requests",
            Data::Sum(Sum {
                data_points: vec![number(number_data_point::Value::AsInt(value))],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        2 => (
            "cpu",
            Data::Sum(Sum {
                data_points: vec![number(number_data_point::Value::AsDouble(
                    value as f64 / 100.0,
                ))],
                aggregation_temporality: 1,
                is_monotonic: false,
            }),
        ),
        3 => (
            "duration",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: value.unsigned_abs() * 3,
                    sum: (value % 5 != 0).then_some(value as f64 * 0.37),
                    bucket_counts: vec![value.unsigned_abs(), 1, value.unsigned_abs() * 2],
                    explicit_bounds: if value % 11 == 0 {
                        vec![0.5, 2.0]
                    } else {
                        vec![0.1, 1.0]
                    },
                    exemplars: exemplars(exemplar, time, n),
                    flags: 0,
                    min: Some(0.01),
                    max: (value > 100).then_some(value as f64),
                }],
                aggregation_temporality: 2,
            }),
        ),
        4 => (
            "size",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: value.unsigned_abs(),
                    sum: Some(value as f64),
                    scale: (value % 4) as i32,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: (value % 3) as i32,
                        bucket_counts: vec![1, value.unsigned_abs()],
                    }),
                    negative: (value < 0).then(|| Buckets {
                        offset: -1,
                        bucket_counts: vec![2],
                    }),
                    flags: 1,
                    exemplars: exemplars(exemplar, time, n),
                    min: None,
                    max: Some(9.0),
                    zero_threshold: 1e-9,
                }],
                aggregation_temporality: 1,
            }),
        ),
        _ => (
            "latency",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: value.unsigned_abs(),
                    sum: value as f64 * 1.5,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: value as f64,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: value as f64 * 2.0,
                        },
                    ],
                    flags: 0,
                }],
            }),
        ),
    };
    Metric {
        name: name.into(),
        description: format!("{name} of things"),
        unit: "s".into(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// The generated points as batches: each batch one group per service, one metric per point.
fn batches(generated: &[Generated], first: usize) -> Vec<Vec<ResourceMetrics>> {
    generated
        .chunks(generated.len().div_ceil(3).max(1))
        .enumerate()
        .map(|(b, chunk)| {
            let mut groups: Vec<ResourceMetrics> = ["cart", "web"]
                .iter()
                .map(|service| ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![kv("service.name", service)],
                        ..Resource::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: "meter".into(),
                            ..InstrumentationScope::default()
                        }),
                        metrics: Vec::new(),
                        schema_url: String::new(),
                    }],
                    schema_url: "https://opentelemetry.io/schemas/1.28.0".into(),
                })
                .collect();
            for (i, g) in chunk.iter().enumerate() {
                groups[g.0].scope_metrics[0]
                    .metrics
                    .push(metric(g, first + b * 1000 + i));
            }
            groups.retain(|g| !g.scope_metrics[0].metrics.is_empty());
            groups
        })
        .collect()
}

/// One point of the plain scan: its time and its protobuf (attributes cleared).
type ScanPoint = (u64, Vec<u8>);

/// What a plain scan of `written` says: per canonical series encoding, the series and its
/// distinct points in `range`, sorted.
fn scan(written: &[ResourceMetrics], range: TimeRange) -> BTreeMap<Vec<u8>, Vec<ScanPoint>> {
    let mut out: BTreeMap<Vec<u8>, Vec<ScanPoint>> = BTreeMap::new();
    for group in written {
        for scope in &group.scope_metrics {
            for metric in &scope.metrics {
                let data = metric.data.as_ref().unwrap();
                let series = |attributes: &[KeyValue]| MetricSeries {
                    resource: group.resource.clone().unwrap(),
                    resource_schema_url: group.schema_url.clone(),
                    scope: scope.scope.clone().unwrap(),
                    scope_schema_url: scope.schema_url.clone(),
                    name: metric.name.clone(),
                    description: metric.description.clone(),
                    unit: metric.unit.clone(),
                    metadata: metric.metadata.clone(),
                    kind: crate::MetricKind::of(data),
                    attributes: attributes.to_vec(),
                };
                let mut add = |attributes: &[KeyValue], time: u64, bytes: Vec<u8>| {
                    if range.contains(time) {
                        out.entry(series(attributes).canonical())
                            .or_default()
                            .push((time, bytes));
                    }
                };
                fn bare<P: Message + Clone>(p: &P, clear: impl Fn(&mut P)) -> Vec<u8> {
                    let mut p = p.clone();
                    clear(&mut p);
                    p.encode_to_vec()
                }
                match data {
                    Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. }) => {
                        for p in data_points {
                            add(
                                &p.attributes,
                                p.time_unix_nano,
                                bare(p, |p| p.attributes.clear()),
                            );
                        }
                    }
                    Data::Histogram(h) => {
                        for p in &h.data_points {
                            add(
                                &p.attributes,
                                p.time_unix_nano,
                                bare(p, |p| p.attributes.clear()),
                            );
                        }
                    }
                    Data::ExponentialHistogram(h) => {
                        for p in &h.data_points {
                            add(
                                &p.attributes,
                                p.time_unix_nano,
                                bare(p, |p| p.attributes.clear()),
                            );
                        }
                    }
                    Data::Summary(s) => {
                        for p in &s.data_points {
                            add(
                                &p.attributes,
                                p.time_unix_nano,
                                bare(p, |p| p.attributes.clear()),
                            );
                        }
                    }
                }
            }
        }
    }
    for points in out.values_mut() {
        points.sort();
        points.dedup();
    }
    out
}

fn points_of(points: &MetricPoints) -> Vec<ScanPoint> {
    fn go<P: Message>(points: &[P], time: impl Fn(&P) -> u64) -> Vec<ScanPoint> {
        points
            .iter()
            .map(|p| (time(p), p.encode_to_vec()))
            .collect()
    }
    match points {
        MetricPoints::Number(p) => go(p, |p| p.time_unix_nano),
        MetricPoints::Histogram(p) => go(p, |p| p.time_unix_nano),
        MetricPoints::ExponentialHistogram(p) => go(p, |p| p.time_unix_nano),
        MetricPoints::Summary(p) => go(p, |p| p.time_unix_nano),
    }
}

fn ranges() -> Vec<TimeRange> {
    vec![
        TimeRange::ALL,
        TimeRange::new(BASE + 30 * MINUTE, BASE + HOUR + 20 * MINUTE),
        TimeRange::new(BASE + 61 * MINUTE, BASE + 62 * MINUTE),
        TimeRange::new(BASE + 2 * HOUR, u64::MAX),
        TimeRange::new(BASE + 10 * MINUTE + 1, BASE + 10 * MINUTE + 2),
    ]
}

fn check(store: &Store, written: &[ResourceMetrics]) -> Result<(), TestCaseError> {
    for range in ranges() {
        let want = scan(written, range);
        let listed: Vec<Vec<u8>> = store
            .metric_series(range)
            .expect("series")
            .iter()
            .map(|s| s.canonical())
            .collect();
        let mut sorted = listed.clone();
        sorted.sort();
        prop_assert_eq!(
            &sorted,
            &want.keys().cloned().collect::<Vec<_>>(),
            "{:?}",
            range
        );
        // Every other series, by the order of the listing: `wanted` decides what comes back.
        let mut asked = Vec::new();
        let selected = store
            .select_metrics(range, &mut |s| {
                asked.push(s.canonical());
                s.name != "cpu" && !s.attributes[0].value.eq(&text("/r1"))
            })
            .expect("select");
        let mut distinct = asked.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(
            distinct.len(),
            asked.len(),
            "wanted asked twice about a series"
        );
        let got: BTreeMap<Vec<u8>, Vec<ScanPoint>> = selected
            .iter()
            .map(|s| {
                let points = points_of(&s.points);
                let mut times: Vec<u64> = points.iter().map(|p| p.0).collect();
                let sorted_times = {
                    let mut t = times.clone();
                    t.sort();
                    t
                };
                assert_eq!(times, sorted_times, "points in time order");
                times.clear();
                let mut points = points;
                points.sort();
                (s.series.canonical(), points)
            })
            .collect();
        prop_assert_eq!(got.len(), selected.len(), "a series came back twice");
        let wanted: BTreeMap<Vec<u8>, Vec<ScanPoint>> = want
            .into_iter()
            .filter(|(k, _)| {
                let s = MetricSeries::from_canonical(k).unwrap();
                s.name != "cpu" && !s.attributes[0].value.eq(&text("/r1"))
            })
            .collect();
        prop_assert_eq!(got, wanted, "{:?}", range);
    }
    // The export path returns every point written, retries included, whatever the layout.
    prop_assert_eq!(
        items_of(&store.read_metrics(TimeRange::ALL).unwrap()),
        items_of(written)
    );
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(8))]
    #[test]
    fn series_queries_agree_with_a_scan_before_during_and_after_compaction(
        generated in proptest::collection::vec(any_point(), 1..120),
        late in proptest::collection::vec(any_point(), 0..40),
        retried in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let first_batches = batches(&generated, 0);
        let mut written: Vec<ResourceMetrics> = Vec::new();
        {
            let store = row_store(dir.path());
            for batch in &first_batches {
                written.extend(batch.iter().cloned());
                store.write(Batch::Metrics(batch.clone())).unwrap();
            }
            // A client retry: one batch stored twice.
            let again = retried.get(&first_batches).clone();
            written.extend(again.iter().cloned());
            store.write(Batch::Metrics(again)).unwrap();
            check(&store, &written)?;
            store.shutdown().unwrap();
        }
        let store = compacting(dir.path());
        wait_for_compaction(&store, Signal::Metrics);
        check(&store, &written)?;
        // Late points land in row blocks beside the compacted ones (queries run while they
        // are compacted), then are compacted too.
        let late: Vec<Generated> = late.into_iter().map(|mut g| { g.3 += 3; g }).collect();
        for batch in batches(&late, 100_000) {
            written.extend(batch.iter().cloned());
            store.write(Batch::Metrics(batch)).unwrap();
        }
        let again = retried.get(&first_batches).clone();
        written.extend(again.iter().cloned());
        store.write(Batch::Metrics(again)).unwrap();
        check(&store, &written)?;
        wait_for_compaction(&store, Signal::Metrics);
        check(&store, &written)?;
        prop_assert_eq!(store.stats().unwrap().metric_points, items_of(&written).len() as u64);
    }
}

fn double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        key_strindex: 0,
    }
}

/// A resource group whose every part is drawn from a few values (an absent resource or scope
/// and an empty one among them), so that groups, scopes and metrics share some parts of a
/// series' identity and differ in others.
fn any_identity_group() -> impl Strategy<Value = ResourceMetrics> {
    let resource = prop_oneof![
        Just(None),
        Just(Some(Resource::default())),
        Just(Some(Resource {
            attributes: vec![kv("service.name", "a")],
            ..Resource::default()
        })),
        Just(Some(Resource {
            attributes: vec![kv("service.name", "a")],
            dropped_attributes_count: 1,
            ..Resource::default()
        })),
    ];
    let scope = prop_oneof![
        Just(None),
        Just(Some(InstrumentationScope::default())),
        Just(Some(InstrumentationScope {
            name: "a".into(),
            ..InstrumentationScope::default()
        })),
        Just(Some(InstrumentationScope {
            name: "a".into(),
            version: "1".into(),
            ..InstrumentationScope::default()
        })),
    ];
    let attributes = prop_oneof![
        Just(Vec::new()),
        Just(vec![kv("k", "a")]),
        Just(vec![kv("k", "b")]),
        Just(vec![kv("a", "k")]),
        Just(vec![kv("k", "a"), kv("j", "a")]),
        Just(vec![kv("j", "a"), kv("k", "a")]),
        Just(vec![double("k", 0.0)]),
        Just(vec![double("k", -0.0)]),
        Just(vec![double("k", f64::NAN)]),
    ];
    let metric = (
        0..2usize,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0..8usize,
        proptest::collection::vec(attributes, 1..5),
    )
        .prop_map(|(name, description, unit, metadata, kind, points)| {
            let times = 0..points.len() as u64;
            let number = || -> Vec<NumberDataPoint> {
                points
                    .iter()
                    .zip(times.clone())
                    .map(|(attributes, time)| NumberDataPoint {
                        attributes: attributes.clone(),
                        time_unix_nano: time,
                        ..NumberDataPoint::default()
                    })
                    .collect()
            };
            let histogram = || -> Vec<HistogramDataPoint> {
                points
                    .iter()
                    .zip(times.clone())
                    .map(|(attributes, time)| HistogramDataPoint {
                        attributes: attributes.clone(),
                        time_unix_nano: time,
                        ..HistogramDataPoint::default()
                    })
                    .collect()
            };
            let data = match kind {
                0 => Data::Gauge(Gauge {
                    data_points: number(),
                }),
                1..=3 => Data::Sum(Sum {
                    data_points: number(),
                    aggregation_temporality: [0, 2, 2][kind - 1],
                    is_monotonic: kind != 2,
                }),
                4 | 5 => Data::Histogram(Histogram {
                    data_points: histogram(),
                    aggregation_temporality: kind as i32 - 3,
                }),
                6 => Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: points
                        .iter()
                        .zip(times.clone())
                        .map(|(attributes, time)| ExponentialHistogramDataPoint {
                            attributes: attributes.clone(),
                            time_unix_nano: time,
                            ..ExponentialHistogramDataPoint::default()
                        })
                        .collect(),
                    aggregation_temporality: 2,
                }),
                _ => Data::Summary(Summary {
                    data_points: points
                        .iter()
                        .zip(times.clone())
                        .map(|(attributes, time)| SummaryDataPoint {
                            attributes: attributes.clone(),
                            time_unix_nano: time,
                            ..SummaryDataPoint::default()
                        })
                        .collect(),
                }),
            };
            Metric {
                name: ["a", "b"][name].into(),
                description: if description {
                    "a".into()
                } else {
                    String::new()
                },
                unit: if unit { "a".into() } else { String::new() },
                metadata: if metadata {
                    vec![kv("a", "a")]
                } else {
                    Vec::new()
                },
                data: Some(data),
            }
        });
    let scope_metrics = (
        scope,
        any::<bool>(),
        proptest::collection::vec(metric, 0..4),
    )
        .prop_map(|(scope, schema_url, metrics)| ScopeMetrics {
            scope,
            metrics,
            schema_url: if schema_url {
                "a".into()
            } else {
                String::new()
            },
        });
    (
        resource,
        any::<bool>(),
        proptest::collection::vec(scope_metrics, 0..3),
    )
        .prop_map(|(resource, schema_url, scope_metrics)| ResourceMetrics {
            resource,
            scope_metrics,
            schema_url: if schema_url {
                "a".into()
            } else {
                String::new()
            },
        })
}

proptest! {
    #![proptest_config(proptest_config(256))]
    /// The collector's series are exactly the distinct canonical encodings of the points
    /// written, each with as many points as have it.
    #[test]
    fn the_collector_splits_points_as_canonical_encodings_do(
        groups in proptest::collection::vec(any_identity_group(), 1..6),
    ) {
        let mut expected: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for group in &groups {
            for scope in &group.scope_metrics {
                for metric in &scope.metrics {
                    let data = metric.data.as_ref().unwrap();
                    let mut add = |attributes: &[KeyValue]| {
                        let series = MetricSeries {
                            resource: group.resource.clone().unwrap_or_default(),
                            resource_schema_url: group.schema_url.clone(),
                            scope: scope.scope.clone().unwrap_or_default(),
                            scope_schema_url: scope.schema_url.clone(),
                            name: metric.name.clone(),
                            description: metric.description.clone(),
                            unit: metric.unit.clone(),
                            metadata: metric.metadata.clone(),
                            kind: crate::MetricKind::of(data),
                            attributes: attributes.to_vec(),
                        };
                        *expected.entry(series.canonical()).or_default() += 1;
                    };
                    match data {
                        Data::Gauge(Gauge { data_points: p })
                        | Data::Sum(Sum { data_points: p, .. }) => {
                            p.iter().for_each(|p| add(&p.attributes))
                        }
                        Data::Histogram(h) => h.data_points.iter().for_each(|p| add(&p.attributes)),
                        Data::ExponentialHistogram(h) => {
                            h.data_points.iter().for_each(|p| add(&p.attributes))
                        }
                        Data::Summary(s) => s.data_points.iter().for_each(|p| add(&p.attributes)),
                    }
                }
            }
        }
        let mut all = |_: &MetricSeries| true;
        let mut collector = crate::metric_query::SeriesCollector::new(&mut all, true);
        for group in groups {
            collector.add_group(group, &|_| true);
        }
        let mut found: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for collected in collector.finish(false) {
            prop_assert_eq!(&collected.series.canonical(), &collected.canonical);
            prop_assert!(found.insert(collected.canonical, collected.points.len()).is_none());
        }
        prop_assert_eq!(found, expected);
    }
}

/// `0.0 == -0.0`, but their encodings differ: a point whose attribute is one must not be taken
/// for the series of the other, met at the same place in the previous export.
#[test]
fn a_zero_and_a_negative_zero_attribute_are_two_series() {
    let group = |value: f64| ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "a".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint {
                        attributes: vec![double("k", value)],
                        ..NumberDataPoint::default()
                    }],
                })),
                ..Metric::default()
            }],
            ..ScopeMetrics::default()
        }],
        ..ResourceMetrics::default()
    };
    let mut all = |_: &MetricSeries| true;
    let mut collector = crate::metric_query::SeriesCollector::new(&mut all, true);
    for value in [0.0, -0.0, -0.0, f64::NAN, f64::NAN] {
        collector.add_group(group(value), &|_| true);
    }
    let points: Vec<usize> = collector
        .finish(false)
        .iter()
        .map(|s| s.points.len())
        .collect();
    assert_eq!(points.len(), 3);
    assert_eq!(points.iter().sum::<usize>(), 5);
}

/// A float from arbitrary bits, or one of the values real data has.
fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(v, e)| v as f64 / 10f64.powi(e as i32)),
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
    ]
}

fn any_exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
    proptest::collection::vec(
        (
            any::<u64>(),
            any::<u8>(),
            0usize..20,
            0usize..20,
            any_float(),
            any::<bool>(),
        )
            .prop_map(|(time, tag, trace, span, value, int)| Exemplar {
                filtered_attributes: if tag % 2 == 0 {
                    vec![kv("k", "v")]
                } else {
                    Vec::new()
                },
                time_unix_nano: time,
                span_id: vec![tag; [0, 8, 3][span % 3]],
                trace_id: vec![tag; [0, 16, 5][trace % 3]],
                value: Some(if int {
                    exemplar::Value::AsInt(time as i64)
                } else {
                    exemplar::Value::AsDouble(value)
                }),
            }),
        0..3,
    )
}

/// Times: regular, jittery, repeated or anywhere, sorted (as series chunks are).
fn any_times(n: usize) -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        (any::<u64>(), 1u64..100_000_000_000).prop_map(move |(base, step)| {
            let base = base % (u64::MAX / 2);
            (0..n as u64).map(|i| base + i * step).collect()
        }),
        proptest::collection::vec(any::<u64>(), n).prop_map(|mut t| {
            t.sort();
            t
        }),
        proptest::collection::vec(0u64..5_000_000, n).prop_map(|jitter| {
            jitter
                .iter()
                .enumerate()
                .map(|(i, j)| BASE + i as u64 * 15_000_000_000 + j)
                .collect()
        }),
    ]
}

fn any_points() -> impl Strategy<Value = MetricPoints> {
    (0usize..12, 0u8..4).prop_flat_map(|(n, kind)| {
        let times = any_times(n);
        let starts =
            proptest::collection::vec(prop_oneof![Just(None), any::<u64>().prop_map(Some)], n);
        match kind {
            0 => (
                times,
                starts,
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just(None),
                            any::<i64>().prop_map(|v| Some(number_data_point::Value::AsInt(v))),
                            any_float().prop_map(|v| Some(number_data_point::Value::AsDouble(v)))
                        ],
                        any_exemplars(),
                        any::<u32>(),
                    ),
                    n,
                ),
            )
                .prop_map(|(times, starts, values)| {
                    MetricPoints::Number(
                        times
                            .iter()
                            .zip(starts)
                            .zip(values)
                            .map(|((t, s), (value, exemplars, flags))| NumberDataPoint {
                                attributes: Vec::new(),
                                start_time_unix_nano: s.unwrap_or(BASE),
                                time_unix_nano: *t,
                                exemplars,
                                flags,
                                value,
                            })
                            .collect(),
                    )
                })
                .boxed(),
            1 => (
                times,
                starts,
                proptest::collection::vec(
                    (
                        any::<u64>(),
                        prop_oneof![Just(None), any_float().prop_map(Some)],
                        proptest::collection::vec(0u64..1000, 0..4),
                        prop_oneof![
                            Just(vec![0.1, 1.0, 10.0]),
                            proptest::collection::vec(any_float(), 0..4)
                        ],
                        any_exemplars(),
                        (
                            any::<u32>(),
                            prop_oneof![Just(None), any_float().prop_map(Some)],
                            prop_oneof![Just(None), any_float().prop_map(Some)],
                        ),
                    ),
                    n,
                ),
            )
                .prop_map(|(times, starts, values)| {
                    MetricPoints::Histogram(
                        times
                            .iter()
                            .zip(starts)
                            .zip(values)
                            .map(
                                |(
                                    (t, s),
                                    (
                                        count,
                                        sum,
                                        bucket_counts,
                                        explicit_bounds,
                                        exemplars,
                                        (flags, min, max),
                                    ),
                                )| HistogramDataPoint {
                                    attributes: Vec::new(),
                                    start_time_unix_nano: s.unwrap_or(BASE),
                                    time_unix_nano: *t,
                                    count,
                                    sum,
                                    bucket_counts,
                                    explicit_bounds,
                                    exemplars,
                                    flags,
                                    min,
                                    max,
                                },
                            )
                            .collect(),
                    )
                })
                .boxed(),
            2 => {
                let buckets = || {
                    prop_oneof![
                        Just(None),
                        (any::<i32>(), proptest::collection::vec(any::<u64>(), 0..4)).prop_map(
                            |(offset, bucket_counts)| Some(Buckets {
                                offset,
                                bucket_counts
                            })
                        ),
                        (-3i32..3, proptest::collection::vec(0u64..10, 0..4)).prop_map(
                            |(offset, bucket_counts)| Some(Buckets {
                                offset,
                                bucket_counts
                            })
                        ),
                    ]
                };
                (
                    times,
                    starts,
                    proptest::collection::vec(
                        (
                            (
                                any::<u64>(),
                                prop_oneof![Just(None), any_float().prop_map(Some)],
                                any::<i32>(),
                                any::<u64>(),
                            ),
                            buckets(),
                            buckets(),
                            any_exemplars(),
                            (
                                any::<u32>(),
                                prop_oneof![Just(None), any_float().prop_map(Some)],
                                any_float(),
                            ),
                        ),
                        n,
                    ),
                )
                    .prop_map(|(times, starts, values)| {
                        MetricPoints::ExponentialHistogram(
                            times
                                .iter()
                                .zip(starts)
                                .zip(values)
                                .map(
                                    |(
                                        (t, s),
                                        (
                                            (count, sum, scale, zero_count),
                                            positive,
                                            negative,
                                            exemplars,
                                            (flags, min, zero_threshold),
                                        ),
                                    )| {
                                        ExponentialHistogramDataPoint {
                                            attributes: Vec::new(),
                                            start_time_unix_nano: s.unwrap_or(BASE),
                                            time_unix_nano: *t,
                                            count,
                                            sum,
                                            scale,
                                            zero_count,
                                            positive,
                                            negative,
                                            flags,
                                            exemplars,
                                            min,
                                            max: sum,
                                            zero_threshold,
                                        }
                                    },
                                )
                                .collect(),
                        )
                    })
                    .boxed()
            }
            _ => (
                times,
                starts,
                proptest::collection::vec(
                    (
                        any::<u64>(),
                        any_float(),
                        prop_oneof![
                            Just(vec![0.5, 0.99]),
                            proptest::collection::vec(any_float(), 0..3),
                        ],
                        proptest::collection::vec(any_float(), 3),
                        any::<u32>(),
                    ),
                    n,
                ),
            )
                .prop_map(|(times, starts, values)| {
                    MetricPoints::Summary(
                        times
                            .iter()
                            .zip(starts)
                            .zip(values)
                            .map(|((t, s), (count, sum, quantiles, values, flags))| {
                                SummaryDataPoint {
                                    attributes: Vec::new(),
                                    start_time_unix_nano: s.unwrap_or(*t),
                                    time_unix_nano: *t,
                                    count,
                                    sum,
                                    quantile_values: quantiles
                                        .iter()
                                        .zip(values)
                                        .map(|(q, v)| ValueAtQuantile {
                                            quantile: *q,
                                            value: v,
                                        })
                                        .collect(),
                                    flags,
                                }
                            })
                            .collect(),
                    )
                })
                .boxed(),
        }
    })
}

fn series_for(points: &MetricPoints, i: usize) -> MetricSeries {
    MetricSeries {
        name: format!("m{i}"),
        kind: match points {
            MetricPoints::Number(_) => crate::MetricKind::Sum {
                monotonic: i.is_multiple_of(2),
                temporality: 2,
            },
            MetricPoints::Histogram(_) => crate::MetricKind::Histogram { temporality: 1 },
            MetricPoints::ExponentialHistogram(_) => {
                crate::MetricKind::ExponentialHistogram { temporality: 2 }
            }
            MetricPoints::Summary(_) => crate::MetricKind::Summary,
        },
        attributes: vec![kv("i", &i.to_string())],
        ..MetricSeries::default()
    }
}

proptest! {
    #![proptest_config(proptest_config(256))]
    #[test]
    fn chunks_round_trip_bit_for_bit(chunks in proptest::collection::vec(any_points(), 1..5)) {
        let series: Vec<MetricSeries> = chunks.iter().enumerate().map(|(i, p)| series_for(p, i)).collect();
        let canonical: Vec<Vec<u8>> = series.iter().map(MetricSeries::canonical).collect();
        let input: Vec<metric_block::Chunk<'_>> = chunks
            .iter()
            .zip(&canonical)
            .map(|(points, canonical)| metric_block::Chunk { canonical, points })
            .collect();
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let (header, payload) = metric_block::encode(&input, &mut zstd).unwrap();
        let decoded = metric_block::decode(&header, &payload, |_| true).unwrap();
        prop_assert_eq!(decoded.len(), chunks.len());
        for ((d, points), series) in decoded.iter().zip(&chunks).zip(&series) {
            prop_assert_eq!(d.series.as_ref().unwrap(), series);
            // Bytes, so that NaNs compare equal when their bits are.
            prop_assert_eq!(points_of(d.points.as_ref().unwrap()), points_of(points));
        }
        // Only the chunks asked for are decoded; the others are stepped over.
        let some = metric_block::decode(&header, &payload, |i| i % 2 == 1).unwrap();
        for (i, (d, points)) in some.iter().zip(&chunks).enumerate() {
            prop_assert_eq!(d.points.is_some(), i % 2 == 1);
            if let Some(got) = &d.points {
                prop_assert_eq!(points_of(got), points_of(points));
            }
        }
        let times = metric_block::series_times(&header, &payload).unwrap();
        for ((_, times), points) in times.iter().zip(&chunks) {
            prop_assert_eq!(times.clone(), points_of(points).iter().map(|p| p.0).collect::<Vec<_>>());
        }
        // Damage is an error or changes nothing, never a panic.
        for at in [0, payload.len() / 3, payload.len() / 2, payload.len() - 1] {
            let mut damaged = payload.clone();
            damaged[at] ^= 0x21;
            prop_assert!(metric_block::decode(&header, &damaged, |_| true).is_err());
        }
    }
}

/// The number of keys of the metric side tables, read from a store's index.
fn metric_side_keys(store: &Store) -> (usize, usize) {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = store.inner.index.get().unwrap();
    let txn = db.begin_read().unwrap();
    let catalog = txn
        .open_table(crate::schema::METRIC_SERIES)
        .unwrap()
        .len()
        .unwrap();
    let lists = txn
        .open_table(crate::schema::METRIC_BLOCK_SERIES)
        .unwrap()
        .len()
        .unwrap();
    (catalog as usize, lists as usize)
}

#[test]
fn a_version_3_store_is_upgraded_and_its_metrics_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let generated: Vec<Generated> = (0..60)
        .map(|i| {
            (
                i % 2,
                i % 6,
                (i % 3) as u8,
                i as u64 * 2,
                i as i64 * 7,
                i % 4 == 0,
            )
        })
        .collect();
    let written: Vec<ResourceMetrics> = batches(&generated, 0).concat();
    {
        let store = row_store(dir.path());
        store.write(Batch::Metrics(written.clone())).unwrap();
        store.shutdown().unwrap();
    }
    {
        // What a version-3 store looks like: no metric tables.
        let db = redb::Database::create(dir.path().join(crate::schema::DATABASE_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(crate::schema::META)
            .unwrap()
            .insert(crate::schema::META_FORMAT_VERSION, 3)
            .unwrap();
        txn.delete_table(crate::schema::METRIC_SERIES).unwrap();
        txn.delete_table(crate::schema::METRIC_BLOCK_SERIES)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = compacting(dir.path());
    assert_eq!(store.stats().unwrap().format_version, 4);
    wait_for_compaction(&store, Signal::Metrics);
    let (catalog, lists) = metric_side_keys(&store);
    assert!(
        catalog == 2 && lists >= 2,
        "{catalog} catalog keys, {lists} lists"
    );
    check(&store, &written).unwrap();
}

#[test]
fn retention_drops_a_metric_partition_with_its_catalog_and_series_lists() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let old = crate::schema::partition_start(now - 50 * HOUR);
    let recent = crate::schema::partition_start(now);
    let at = |partition: u64| -> Vec<ResourceMetrics> {
        let generated: Vec<Generated> = (0..30)
            .map(|i| (i % 2, i % 6, 0, i as u64, i as i64, false))
            .collect();
        let mut groups = batches(&generated, 0).concat();
        for group in &mut groups {
            group.retain_items_for_test(partition);
        }
        groups
    };
    let store = Store::open(
        dir.path(),
        crate::StoreOptions::default()
            .with_compaction_idle(Some(std::time::Duration::ZERO))
            .with_retention(
                crate::Retention {
                    max_age: [None, Some(std::time::Duration::from_secs(36 * 3600)), None],
                    ..crate::Retention::default()
                },
                std::time::Duration::from_millis(50),
            ),
    )
    .unwrap();
    store.write(Batch::Metrics(at(old))).unwrap();
    store.write(Batch::Metrics(at(recent))).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let series = store.metric_series(TimeRange::ALL).unwrap();
        let old_left = store
            .metric_series(TimeRange::new(old, old + HOUR))
            .unwrap()
            .len();
        if store.retention_drops(Signal::Metrics) >= 1 && old_left == 0 && !series.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old partition is still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    wait_for_compaction(&store, Signal::Metrics);
    // Only the recent partition's catalog and lists remain.
    use redb::{ReadableDatabase, ReadableTable};
    let db = store.inner.index.get().unwrap();
    let txn = db.begin_read().unwrap();
    let catalog = txn.open_table(crate::schema::METRIC_SERIES).unwrap();
    for entry in catalog.iter().unwrap() {
        let (key, _) = entry.unwrap();
        assert_eq!(
            crate::schema::parse_series_key(key.value()).unwrap().0,
            recent
        );
    }
    let lists = txn.open_table(crate::schema::METRIC_BLOCK_SERIES).unwrap();
    let mut recent_lists = 0;
    for entry in lists.iter().unwrap() {
        let (key, _) = entry.unwrap();
        assert_eq!(
            crate::schema::BlockKey::decode(key.value()).partition_start,
            recent
        );
        recent_lists += 1;
    }
    assert!(recent_lists > 0);
    assert_eq!(store.stats().unwrap().metric_points, 30);
    let selected = store.select_metrics(TimeRange::ALL, &mut |_| true).unwrap();
    assert_eq!(selected.iter().map(|s| s.points.len()).sum::<usize>(), 30);
}

trait ShiftForTest {
    fn retain_items_for_test(&mut self, partition: u64);
}

impl ShiftForTest for ResourceMetrics {
    /// Moves every point (times relative to [`BASE`]) into `partition`.
    fn retain_items_for_test(&mut self, partition: u64) {
        for metric in self.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
            let shift = |t: &mut u64| *t = partition + (*t - BASE) % HOUR;
            match metric.data.as_mut().unwrap() {
                Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. }) => {
                    data_points.iter_mut().for_each(|p| {
                        shift(&mut p.time_unix_nano);
                        p.start_time_unix_nano = partition;
                        p.exemplars.clear();
                    })
                }
                Data::Histogram(h) => h.data_points.iter_mut().for_each(|p| {
                    shift(&mut p.time_unix_nano);
                    p.start_time_unix_nano = partition;
                }),
                Data::ExponentialHistogram(h) => h.data_points.iter_mut().for_each(|p| {
                    shift(&mut p.time_unix_nano);
                    p.start_time_unix_nano = partition;
                }),
                Data::Summary(s) => s.data_points.iter_mut().for_each(|p| {
                    shift(&mut p.time_unix_nano);
                    p.start_time_unix_nano = partition;
                }),
            }
        }
    }
}

/// A small deterministic random source for the benchmark's data (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        median * (sigma * normal).exp()
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// One (route, status) request-duration histogram: route, status, rate, median, then the
/// cumulative count, sum, min, max and buckets.
type DurationSeries = (String, i64, f64, f64, u64, f64, f64, f64, [u64; 15]);

/// One instance's cumulative state, as `server/src/workload/metrics.rs` keeps it.
struct Instance {
    resource: Resource,
    next_time: u64,
    durations: Vec<DurationSeries>,
    in_flight: Vec<i64>,
    cpu: [f64; 2],
    pool_used: i64,
    memory: f64,
    orders: Option<[f64; 3]>,
}

/// What an OpenTelemetry SDK exports every 15 s, modelled on `otelite loadgen`'s metrics:
/// cumulative request-duration histograms per route and status (15 buckets, min/max, 20 %
/// with an exemplar), up-down counters, CPU counters, pool gauges, memory, business counters;
/// timers drifting by up to 5 ms.
fn sdk_like_exports(
    instances: &mut [Instance],
    rng: &mut Rng,
    interval: u64,
) -> Vec<ResourceMetrics> {
    let number = |attributes: Vec<KeyValue>, start: u64, time: u64, v: number_data_point::Value| {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(v),
            ..Default::default()
        }
    };
    let sum = |name: &str, unit: &str, monotonic: bool, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        description: format!("{name}."),
        unit: unit.into(),
        metadata: Vec::new(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: 2,
            is_monotonic: monotonic,
        })),
    };
    let seconds = interval as f64 / 1e9;
    let start = BASE - HOUR;
    instances
        .iter_mut()
        .map(|instance| {
            let time = instance.next_time;
            instance.next_time += interval + rng.below(5_000_000);
            let mut histograms = Vec::new();
            let mut in_flight = Vec::new();
            for (i, (route, status, rate, median, count, sum, min, max, buckets)) in
                instance.durations.iter_mut().enumerate()
            {
                let new = (*rate * seconds * (0.6 + 0.8 * rng.unit())) as u64;
                let samples = new.min(32);
                for sample in 0..samples {
                    let latency = rng.log_normal(*median, 0.6);
                    let weight = new / samples + u64::from(sample < new % samples);
                    buckets[DURATION_BOUNDS.partition_point(|b| *b < latency)] += weight;
                    *sum += latency * weight as f64;
                    *min = min.min(latency);
                    *max = max.max(latency);
                }
                *count += new;
                let exemplars = if *count > 0 && rng.unit() < exemplar_share() {
                    vec![Exemplar {
                        time_unix_nano: time - rng.below(interval),
                        value: Some(exemplar::Value::AsDouble(rng.log_normal(*median, 0.6))),
                        span_id: rng.bytes(8),
                        trace_id: rng.bytes(16),
                        ..Default::default()
                    }]
                } else {
                    Vec::new()
                };
                let attributes = vec![
                    kv("http.request.method", "GET"),
                    kv("http.route", route),
                    KeyValue {
                        key: "http.response.status_code".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::IntValue(*status)),
                        }),
                        key_strindex: 0,
                    },
                ];
                histograms.push(HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: *count,
                    sum: Some(*sum),
                    bucket_counts: buckets.to_vec(),
                    explicit_bounds: DURATION_BOUNDS.to_vec(),
                    exemplars,
                    min: (*count > 0).then_some(*min),
                    max: (*count > 0).then_some(*max),
                    ..Default::default()
                });
                if *status == 200 {
                    let v = &mut instance.in_flight[i / 2];
                    *v = (*v + rng.below(5) as i64 - 2).max(0);
                    in_flight.push(number(
                        vec![kv("http.route", route)],
                        start,
                        time,
                        number_data_point::Value::AsInt(*v),
                    ));
                }
            }
            instance.cpu[0] += seconds * (0.15 + 0.3 * rng.unit());
            instance.cpu[1] += seconds * (0.02 + 0.05 * rng.unit());
            instance.pool_used = (instance.pool_used + rng.below(5) as i64 - 2).clamp(0, 20);
            instance.memory = (instance.memory * (0.97 + 0.06 * rng.unit())).clamp(150e6, 900e6);
            let mut metrics = vec![
                Metric {
                    name: "http.server.request.duration".into(),
                    description: "Duration of requests served.".into(),
                    unit: "s".into(),
                    metadata: Vec::new(),
                    data: Some(Data::Histogram(Histogram {
                        data_points: histograms,
                        aggregation_temporality: 2,
                    })),
                },
                sum("http.server.active_requests", "{request}", false, in_flight),
                sum(
                    "process.cpu.time",
                    "s",
                    true,
                    ["user", "system"]
                        .iter()
                        .zip(instance.cpu)
                        .map(|(mode, v)| {
                            number(
                                vec![kv("cpu.mode", mode)],
                                start,
                                time,
                                number_data_point::Value::AsDouble(v),
                            )
                        })
                        .collect(),
                ),
                sum(
                    "db.client.connection.count",
                    "{connection}",
                    false,
                    [
                        ("used", instance.pool_used),
                        ("idle", 20 - instance.pool_used),
                    ]
                    .iter()
                    .map(|(state, v)| {
                        number(
                            vec![
                                kv("db.client.connection.pool.name", "db"),
                                kv("db.client.connection.state", state),
                            ],
                            start,
                            time,
                            number_data_point::Value::AsInt(*v),
                        )
                    })
                    .collect(),
                ),
                Metric {
                    name: "process.memory.usage".into(),
                    description: "Resident memory of the process.".into(),
                    unit: "By".into(),
                    metadata: Vec::new(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![number(
                            Vec::new(),
                            start,
                            time,
                            number_data_point::Value::AsInt(instance.memory as i64),
                        )],
                    })),
                },
            ];
            if let Some(orders) = &mut instance.orders {
                let mut points = Vec::new();
                for (method, orders) in ["card", "paypal", "invoice"].iter().zip(orders.iter_mut())
                {
                    *orders += (seconds * (0.5 + rng.unit())).floor();
                    points.push(number(
                        vec![kv("payment.method", method)],
                        start,
                        time,
                        number_data_point::Value::AsDouble(*orders),
                    ));
                }
                metrics.push(sum("app.orders.placed", "{order}", true, points));
            }
            ResourceMetrics {
                resource: Some(instance.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "io.opentelemetry.http".into(),
                        version: "1.28.0".into(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.28.0".into(),
            }
        })
        .collect()
}

/// The share of histogram points with an exemplar: 0.2 as the load generator sends them, or
/// `OTELITE_BENCH_EXEMPLARS` (0 measures what Prometheus quotes: samples without exemplars).
fn exemplar_share() -> f64 {
    std::env::var("OTELITE_BENCH_EXEMPLARS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.2)
}

/// Prometheus samples of a data point: 1 for a number, buckets + 2 for a histogram (each
/// bound's and +Inf's `_bucket`, `_sum`, `_count`), quantiles + 2 for a summary.
fn prometheus_samples(groups: &[ResourceMetrics]) -> u64 {
    let mut samples = 0;
    for metric in groups
        .iter()
        .flat_map(|g| &g.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        samples += match metric.data.as_ref().unwrap() {
            Data::Gauge(g) => g.data_points.len() as u64,
            Data::Sum(s) => s.data_points.len() as u64,
            Data::Histogram(h) => h
                .data_points
                .iter()
                .map(|p| p.explicit_bounds.len() as u64 + 3)
                .sum(),
            Data::ExponentialHistogram(h) => h
                .data_points
                .iter()
                .map(|p| {
                    p.positive
                        .as_ref()
                        .map_or(0, |b| b.bucket_counts.len() as u64)
                        + 3
                })
                .sum(),
            Data::Summary(s) => s
                .data_points
                .iter()
                .map(|p| p.quantile_values.len() as u64 + 2)
                .sum(),
        };
    }
    samples
}

/// Bytes on disk per Prometheus sample, row blocks and compacted, on ~900 SDK-like series
/// exported every 15 s for 8 hours. Prints a line for BENCHMARKS.md ("Metrics store").
/// `cargo test --release -p otelite-storage metrics_bytes_per_sample -- --ignored --nocapture`
/// (`OTELITE_BENCH_HOURS` changes the 8 hours, `OTELITE_BENCH_EXEMPLARS` the exemplar share).
#[test]
#[ignore = "a benchmark: 8 hours of metrics, a minute or two in release"]
fn metrics_bytes_per_sample() {
    const INTERVAL: u64 = 15_000_000_000;
    let hours: u64 = std::env::var("OTELITE_BENCH_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(8);
    let mut rng = Rng(42);
    let routes = ["/", "/cart", "/cart/{id}", "/checkout", "/product/{id}"];
    let mut instances = Vec::new();
    for service in 0..6 {
        for instance in 0..8 {
            let mut durations = Vec::new();
            for (r, route) in routes.iter().enumerate().take(4 + service % 2) {
                let statuses: &[(i64, f64)] = if route.contains("{id}") {
                    &[(200, 0.965), (404, 0.03), (500, 0.005)]
                } else {
                    &[(200, 0.995), (500, 0.005)]
                };
                for (status, share) in statuses {
                    let median = 0.005 * (1 + r + service) as f64;
                    durations.push((
                        route.to_string(),
                        *status,
                        40.0 * share,
                        median,
                        0,
                        0.0,
                        f64::MAX,
                        0.0,
                        [0u64; 15],
                    ));
                }
            }
            let in_flight = vec![0; durations.len()];
            instances.push(Instance {
                resource: Resource {
                    attributes: vec![
                        kv("service.name", &format!("service-{service}")),
                        kv("service.namespace", "shop"),
                        kv("service.instance.id", &format!("{:016x}", rng.next())),
                        kv("service.version", "1.4.2"),
                        kv("host.name", &format!("node-{}", instance % 3)),
                        kv("telemetry.sdk.language", "java"),
                        kv("telemetry.sdk.name", "opentelemetry"),
                        kv("telemetry.sdk.version", "1.44.1"),
                        kv("deployment.environment.name", "production"),
                    ],
                    ..Default::default()
                },
                next_time: BASE + rng.below(INTERVAL),
                durations,
                in_flight,
                cpu: [0.0; 2],
                pool_used: 5,
                memory: 300e6,
                orders: (service == 1).then_some([0.0; 3]),
            });
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut points, mut samples) = (0u64, 0u64);
    {
        let store = row_store(dir.path());
        // A batch every 2 minutes of exports, as a collector would forward them.
        let exports = hours * 3600 * 1_000_000_000 / INTERVAL;
        let mut batch = Vec::new();
        for export in 0..exports {
            let groups = sdk_like_exports(&mut instances, &mut rng, INTERVAL);
            points += items_of_count(&groups);
            samples += prometheus_samples(&groups);
            batch.extend(groups);
            if export % 8 == 7 || export + 1 == exports {
                store
                    .write(Batch::Metrics(std::mem::take(&mut batch)))
                    .unwrap();
            }
        }
        store.shutdown().unwrap();
    }
    let usage = |store: &Store| {
        let u = store.disk_usage().unwrap();
        (u.signals[1], u.index)
    };
    let row = {
        let store = row_store(dir.path());
        let row = usage(&store);
        store.shutdown().unwrap();
        row
    };
    let started = std::time::Instant::now();
    let cpu_before = process_cpu();
    let store = compacting(dir.path());
    wait_for_compaction(&store, Signal::Metrics);
    let compaction = started.elapsed();
    let compaction_cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    store.shutdown().unwrap();
    drop(store);
    let store = row_store(dir.path());
    let compacted = usage(&store);
    let series = store.metric_series(TimeRange::ALL).unwrap().len();
    let started = std::time::Instant::now();
    let listed = store.metric_series(TimeRange::ALL).unwrap().len();
    let list_time = started.elapsed();
    let started = std::time::Instant::now();
    let selected = store.select_metrics(TimeRange::ALL, &mut |_| true).unwrap();
    let select_time = started.elapsed();
    let started = std::time::Instant::now();
    let one = store
        .select_metrics(TimeRange::ALL, &mut |s| {
            s.name == "process.memory.usage" && s.resource.attributes[0].value == text("service-3")
        })
        .unwrap();
    let one_time = started.elapsed();
    assert_eq!(listed, series);
    assert_eq!(
        selected.iter().map(|s| s.points.len() as u64).sum::<u64>(),
        points
    );
    assert_eq!(store.stats().unwrap().metric_points, points);
    let per = |bytes: u64| bytes as f64 / samples as f64;
    println!(
        "metrics store: {series} series, {hours} h at 15 s: {points} points, {samples} Prometheus samples ({:.2} per point)",
        samples as f64 / points as f64
    );
    println!(
        "  row blocks (codec 1): {} B segments + {} B index = {:.3} B/sample ({:.3} without the index)",
        row.0,
        row.1,
        per(row.0 + row.1),
        per(row.0)
    );
    println!(
        "  compacted (codec 4):  {} B segments + {} B index = {:.3} B/sample ({:.3} without the index), {:.2} B/point; compaction {:.1?}",
        compacted.0,
        compacted.1,
        per(compacted.0 + compacted.1),
        per(compacted.0),
        (compacted.0 + compacted.1) as f64 / points as f64,
        compaction
    );
    if let Some(cpu) = compaction_cpu {
        println!(
            "  compaction CPU {cpu:.1?} (the process's user + system time): {:.3} µs per Prometheus sample",
            cpu.as_secs_f64() * 1e6 / samples as f64
        );
    }
    println!(
        "  metric_series(all) {list_time:.1?}; select_metrics(all, every series) {select_time:.1?}; select of {} series {one_time:.1?}",
        one.len()
    );
}

/// This process's CPU time (user + system), from `/proc/self/stat`; `None` where there is none.
fn process_cpu() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(std::time::Duration::from_millis(ticks * 10))
}

fn items_of_count(groups: &[ResourceMetrics]) -> u64 {
    use crate::signal::SignalGroup;
    groups.iter().map(SignalGroup::item_count).sum()
}
