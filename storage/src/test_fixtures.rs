//! Rich OTLP fixtures for tests: every field set, every AnyValue kind, every metric point type;
//! and the configuration the property tests share.
//!
//! Test-only. Each builder takes a base time; item times lie within a few seconds after it.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point, metric, number_data_point,
    summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

pub(crate) const SECOND: u64 = 1_000_000_000;

/// Property tests run `cases` cases, or `PROPTEST_CASES` if set: CI stays quick, and a longer
/// hunt is one variable away.
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        ..proptest::test_runner::Config::default()
    }
}

fn value(v: any_value::Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

fn kv(key: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(v),
        ..Default::default()
    }
}

fn string(s: &str) -> AnyValue {
    value(any_value::Value::StringValue(s.into()))
}

/// One attribute of every AnyValue kind, nested ones included, plus an empty value.
pub(crate) fn attributes(tag: &str) -> Vec<KeyValue> {
    let nested = KeyValueList {
        values: vec![
            kv("inner.string", string(tag)),
            kv(
                "inner.array",
                value(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        value(any_value::Value::IntValue(-7)),
                        value(any_value::Value::KvlistValue(KeyValueList {
                            values: vec![kv("deep", value(any_value::Value::BoolValue(false)))],
                        })),
                    ],
                })),
            ),
        ],
    };
    vec![
        kv("string", string(tag)),
        kv("bool", value(any_value::Value::BoolValue(true))),
        kv("int", value(any_value::Value::IntValue(i64::MIN))),
        kv("double", value(any_value::Value::DoubleValue(-0.125))),
        kv(
            "bytes",
            value(any_value::Value::BytesValue(vec![0, 1, 0xfe, 0xff])),
        ),
        kv(
            "array",
            value(any_value::Value::ArrayValue(ArrayValue {
                values: vec![
                    string("a"),
                    value(any_value::Value::DoubleValue(f64::MAX)),
                    value(any_value::Value::ArrayValue(ArrayValue { values: vec![] })),
                ],
            })),
        ),
        kv("kvlist", value(any_value::Value::KvlistValue(nested))),
        kv("empty", AnyValue { value: None }),
    ]
}

fn resource(service: &str) -> Resource {
    let mut attributes = attributes(service);
    attributes.insert(0, kv("service.name", string(service)));
    Resource {
        attributes,
        dropped_attributes_count: 3,
        entity_refs: vec![EntityRef {
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into()],
            description_keys: vec!["service.version".into()],
        }],
    }
}

fn scope(name: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.into(),
        version: "1.2.3".into(),
        attributes: attributes("scope"),
        dropped_attributes_count: 1,
    }
}

fn id(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as u8).wrapping_add(i as u8 * 17))
        .collect()
}

pub(crate) fn span_at(name: &str, start: u64) -> Span {
    Span {
        trace_id: id(16, start),
        span_id: id(8, start + 1),
        trace_state: "vendor=value,other=1".into(),
        parent_span_id: id(8, start + 2),
        flags: 0x301,
        name: name.into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_500,
        attributes: attributes(name),
        dropped_attributes_count: 2,
        events: vec![span::Event {
            time_unix_nano: start + 10,
            name: "exception".into(),
            attributes: attributes("event"),
            dropped_attributes_count: 4,
        }],
        dropped_events_count: 5,
        links: vec![span::Link {
            trace_id: id(16, 99),
            span_id: id(8, 98),
            trace_state: "link=state".into(),
            attributes: attributes("link"),
            dropped_attributes_count: 6,
            flags: 0x100,
        }],
        dropped_links_count: 7,
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
    }
}

/// Two resources, each with two scopes of spans starting at `base`, `base + 1s`, ...
pub(crate) fn rich_spans(base: u64) -> Vec<ResourceSpans> {
    (0..2)
        .map(|r| ResourceSpans {
            resource: Some(resource(&format!("service-{r}"))),
            scope_spans: (0..2)
                .map(|s| ScopeSpans {
                    scope: Some(scope(&format!("scope-{s}"))),
                    spans: (0..3)
                        .map(|i| span_at(&format!("span-{r}-{s}-{i}"), base + i * SECOND))
                        .collect(),
                    schema_url: "https://opentelemetry.io/schemas/1.29.0".into(),
                })
                .collect(),
            schema_url: format!("https://example.com/resource/{r}"),
        })
        .collect()
}

fn exemplars(time: u64) -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: attributes("exemplar"),
            time_unix_nano: time,
            span_id: id(8, 3),
            trace_id: id(16, 4),
            value: Some(exemplar::Value::AsDouble(0.25)),
        },
        Exemplar {
            filtered_attributes: vec![],
            time_unix_nano: time + 1,
            span_id: vec![],
            trace_id: vec![],
            value: Some(exemplar::Value::AsInt(-3)),
        },
    ]
}

pub(crate) fn number_point(time: u64, value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes("point"),
        start_time_unix_nano: time.saturating_sub(SECOND),
        time_unix_nano: time,
        exemplars: exemplars(time),
        flags: 1,
        value: Some(value),
    }
}

pub(crate) fn gauge(name: &str, times: &[u64]) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} description"),
        unit: "ms".into(),
        metadata: attributes("metadata"),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: times
                .iter()
                .map(|&t| number_point(t, number_data_point::Value::AsDouble(t as f64)))
                .collect(),
        })),
    }
}

/// One resource and scope holding every metric type, each point with exemplars.
pub(crate) fn rich_metrics(base: u64) -> Vec<ResourceMetrics> {
    let t = |i: u64| base + i * SECOND;
    let metrics = vec![
        gauge("gauge", &[t(0), t(1)]),
        Metric {
            name: "sum".into(),
            description: "a counter".into(),
            unit: "1".into(),
            metadata: vec![],
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![
                    number_point(t(0), number_data_point::Value::AsInt(42)),
                    number_point(t(2), number_data_point::Value::AsInt(i64::MAX)),
                ],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
        },
        Metric {
            name: "histogram".into(),
            description: String::new(),
            unit: "s".into(),
            metadata: vec![],
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attributes("histogram"),
                    start_time_unix_nano: base,
                    time_unix_nano: t(1),
                    count: 6,
                    sum: Some(12.5),
                    bucket_counts: vec![1, 2, 3, 0],
                    explicit_bounds: vec![0.1, 1.0, 10.0],
                    exemplars: exemplars(t(1)),
                    flags: 0,
                    min: Some(0.05),
                    max: Some(9.0),
                }],
                aggregation_temporality: 1,
            })),
        },
        Metric {
            name: "exponential".into(),
            description: "exp".into(),
            unit: "By".into(),
            metadata: vec![],
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: attributes("exp"),
                    start_time_unix_nano: base,
                    time_unix_nano: t(2),
                    count: 9,
                    sum: Some(-1.5),
                    scale: -3,
                    zero_count: 2,
                    positive: Some(exponential_histogram_data_point::Buckets {
                        offset: -2,
                        bucket_counts: vec![1, 2, 3],
                    }),
                    negative: Some(exponential_histogram_data_point::Buckets {
                        offset: 5,
                        bucket_counts: vec![1],
                    }),
                    flags: 1,
                    exemplars: exemplars(t(2)),
                    min: Some(-4.0),
                    max: None,
                    zero_threshold: 1e-9,
                }],
                aggregation_temporality: 2,
            })),
        },
        Metric {
            name: "summary".into(),
            description: "quantiles".into(),
            unit: "ms".into(),
            metadata: vec![],
            data: Some(metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: attributes("summary"),
                    start_time_unix_nano: base,
                    time_unix_nano: t(3),
                    count: 100,
                    sum: 250.0,
                    quantile_values: vec![
                        summary_data_point::ValueAtQuantile {
                            quantile: 0.5,
                            value: 2.0,
                        },
                        summary_data_point::ValueAtQuantile {
                            quantile: 0.99,
                            value: 9.5,
                        },
                    ],
                    flags: 0,
                }],
            })),
        },
    ];
    vec![ResourceMetrics {
        resource: Some(resource("metrics-service")),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(scope("meter")),
            metrics,
            schema_url: "https://opentelemetry.io/schemas/1.28.0".into(),
        }],
        schema_url: "https://example.com/metrics".into(),
    }]
}

pub(crate) fn log_at(time: u64, observed: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(value(any_value::Value::KvlistValue(KeyValueList {
            values: attributes("body"),
        }))),
        attributes: attributes("log"),
        dropped_attributes_count: 8,
        flags: 1,
        trace_id: id(16, time),
        span_id: id(8, time),
        event_name: "app.failure".into(),
    }
}

/// One resource and scope of log records; the last one has no time, only an observed time.
pub(crate) fn rich_logs(base: u64) -> Vec<ResourceLogs> {
    vec![ResourceLogs {
        resource: Some(resource("logs-service")),
        scope_logs: vec![ScopeLogs {
            scope: Some(scope("logger")),
            log_records: vec![
                log_at(base, base + 5),
                log_at(base + SECOND, base + SECOND),
                log_at(0, base + 2 * SECOND),
            ],
            schema_url: "https://opentelemetry.io/schemas/1.27.0".into(),
        }],
        schema_url: String::new(),
    }]
}

/// A store (compaction off) holding one log batch per entry of `batches`, each a list of record
/// times, all records of a batch in one resource of service `logs-service`.
pub(crate) fn log_store_with(batches: &[Vec<u64>]) -> (tempfile::TempDir, crate::Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::Store::open(
        dir.path(),
        crate::StoreOptions::default().with_compaction_idle(None),
    )
    .unwrap();
    for times in batches {
        let mut logs = rich_logs(0);
        logs[0].scope_logs[0].log_records = times.iter().map(|t| log_at(*t, *t + 1)).collect();
        store.write(crate::Batch::Logs(logs)).unwrap();
    }
    (dir, store)
}

/// Waits until the compactor has rewritten every row block.
pub(crate) fn wait_for_compaction(store: &crate::Store, signal: crate::Signal) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let db = store.inner.index.get().unwrap();
        let txn = redb::ReadableDatabase::begin_read(&*db).unwrap();
        let table = txn.open_table(crate::schema::block_table(signal)).unwrap();
        let rows = redb::ReadableTable::iter(&table)
            .unwrap()
            .filter(|e| {
                crate::block::IndexEntry::parse(e.as_ref().unwrap().1.value())
                    .unwrap()
                    .header
                    .codec
                    == crate::block::CODEC_ZSTD_PROTOBUF
            })
            .count();
        if rows == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{rows} row blocks left uncompacted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A store that keeps row blocks as written (no compactor).
pub(crate) fn row_store(dir: &std::path::Path) -> crate::Store {
    crate::Store::open(
        dir,
        crate::StoreOptions::default().with_compaction_idle(None),
    )
    .unwrap()
}

pub(crate) fn compacting(dir: &std::path::Path) -> crate::Store {
    crate::Store::open(
        dir,
        crate::StoreOptions::default().with_compaction_idle(Some(std::time::Duration::ZERO)),
    )
    .unwrap()
}
