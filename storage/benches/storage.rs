//! Storage micro-benchmarks: the span block codec, durable write throughput through group
//! commit, and reads by time range. `cargo bench -p otelite-storage`; the end-to-end numbers
//! (ingest over OTLP, bytes on disk) come from `tests/bench/run.sh`, see BENCHMARKS.md.
//!
//! The data is synthetic but shaped like real traces (random ids, HTTP/DB attributes with
//! realistic cardinality) so that compression works as hard as in production; the storage crate
//! cannot use the server's workload generator (storage depends on nothing in the workspace).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otelite_storage::{Batch, Store, StoreOptions, TimeRange, bench};

const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * SECOND;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(s: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

/// `count` spans in groups of 100 per resource (10 services), 1 ms apart from `start`.
fn spans(rng: &mut Rng, count: usize, start: u64) -> Vec<ResourceSpans> {
    const ROUTES: [&str; 6] = [
        "/",
        "/api/products/{id}",
        "/api/cart",
        "/api/checkout",
        "/api/orders/{id}",
        "/healthz",
    ];
    (0..count.div_ceil(100))
        .map(|group| {
            let service = group % 10;
            let spans = (0..100.min(count - group * 100))
                .map(|i| {
                    let n = (group * 100 + i) as u64;
                    let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
                    let status = [200, 200, 200, 201, 404, 500][rng.below(6) as usize];
                    let begin = start + n * 1_000_000 + rng.below(1_000_000);
                    Span {
                        trace_id: [rng.next().to_be_bytes(), rng.next().to_be_bytes()].concat(),
                        span_id: rng.next().to_be_bytes().to_vec(),
                        parent_span_id: rng.next().to_be_bytes().to_vec(),
                        flags: 0x301,
                        name: format!("GET {route}"),
                        kind: 2,
                        start_time_unix_nano: begin,
                        end_time_unix_nano: begin + 100_000 + rng.below(50_000_000),
                        attributes: vec![
                            kv("http.request.method", text("GET")),
                            kv("http.route", text(route)),
                            kv(
                                "url.path",
                                text(route.replace("{id}", &rng.below(500).to_string())),
                            ),
                            kv(
                                "http.response.status_code",
                                any_value::Value::IntValue(status),
                            ),
                            kv("server.address", text(format!("service-{service}"))),
                            kv(
                                "client.address",
                                text(format!("10.0.{}.{}", rng.below(4), rng.below(250))),
                            ),
                        ],
                        ..Default::default()
                    }
                })
                .collect();
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", text(format!("service-{service}"))),
                        kv("service.version", text("1.2.3")),
                        kv("host.name", text(format!("host-{service}"))),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "io.opentelemetry.http".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect()
}

fn block_codec(c: &mut Criterion) {
    let groups = spans(&mut Rng(1), 10_000, T0);
    let mut group = c.benchmark_group("span_block");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("encode_10k_spans", |b| {
        b.iter(|| bench::encode_span_blocks(black_box(&groups)))
    });
    let blocks = bench::encode_span_blocks(&groups);
    let compressed: usize = blocks.iter().map(Vec::len).sum();
    eprintln!(
        "span_block: 10,000 spans -> {compressed} bytes, {:.1} B/span",
        compressed as f64 / 10_000.0
    );
    group.bench_function("decode_10k_spans", |b| {
        b.iter(|| {
            for block in &blocks {
                black_box(bench::decode_span_block(block));
            }
        })
    });
    group.finish();
}

/// Durable writes from several threads at once: group commit turns them into few fsyncs.
fn write_throughput(c: &mut Criterion) {
    const THREADS: usize = 8;
    const BATCHES_PER_THREAD: usize = 5;
    const SPANS_PER_BATCH: usize = 500;
    let total = (THREADS * BATCHES_PER_THREAD * SPANS_PER_BATCH) as u64;
    let mut rng = Rng(2);
    let batches: Arc<Vec<Vec<ResourceSpans>>> = Arc::new(
        (0..THREADS * BATCHES_PER_THREAD)
            .map(|i| spans(&mut rng, SPANS_PER_BATCH, T0 + i as u64 * SECOND))
            .collect(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    group.bench_function("group_commit_8_writers_x_500_spans", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                std::thread::scope(|scope| {
                    for thread in 0..THREADS {
                        let (store, batches) = (&store, &batches);
                        scope.spawn(move || {
                            for i in 0..BATCHES_PER_THREAD {
                                let batch = batches[thread * BATCHES_PER_THREAD + i].clone();
                                store.write(Batch::Traces(batch)).unwrap();
                            }
                        });
                    }
                });
                elapsed += started.elapsed();
            }
            elapsed
        })
    });
    group.finish();
    store.shutdown().unwrap();
}

/// Reads from a store holding 200,000 spans over 200 s: a narrow range decodes one block or
/// two; everything decodes all of them.
fn read_by_time_range(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut rng = Rng(3);
    for i in 0..20 {
        store
            .write(Batch::Traces(spans(&mut rng, 10_000, T0 + i * 10 * SECOND)))
            .unwrap();
    }
    let disk = store.stats().unwrap().disk_bytes;
    eprintln!(
        "read: 200,000 spans -> {disk} bytes on disk, {:.1} B/span",
        disk as f64 / 200_000.0
    );
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.bench_function("one_second_of_200k_spans", |b| {
        b.iter_batched(
            || TimeRange::new(T0 + 100 * SECOND, T0 + 101 * SECOND),
            |range| store.read_traces(range).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(200_000));
    group.bench_function("all_200k_spans", |b| {
        b.iter(|| store.read_traces(TimeRange::ALL).unwrap())
    });
    group.finish();
    store.shutdown().unwrap();
}

criterion_group!(benches, block_codec, write_throughput, read_by_time_range);
criterion_main!(benches);
