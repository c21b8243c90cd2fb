//! OTLP receive costs on the server side, without sockets: decoding an export request
//! (protobuf and OTLP/JSON) and validating it, per signal, on the load generator's realistic
//! telemetry. `cargo bench -p otelite --bench otlp`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite::otlp::{AcceptedTimes, ExportRequest, decode_json, decode_protobuf, encode_json};
use otelite::workload::{self, Workload, WorkloadOptions};

fn bench_signal<R: ExportRequest + Clone>(c: &mut Criterion, name: &str, request: R, items: u64) {
    let protobuf = request.encode_to_vec();
    let json = encode_json(&request);
    let mut group = c.benchmark_group(format!("otlp_{name}"));
    group.throughput(Throughput::Elements(items));
    group.bench_function("decode_protobuf", |b| {
        b.iter(|| decode_protobuf::<R>(black_box(&protobuf)).unwrap())
    });
    group.bench_function("decode_json", |b| {
        b.iter(|| decode_json::<R>(black_box(&json)).unwrap())
    });
    group.bench_function("validate", |b| {
        b.iter_batched(
            || request.clone(),
            |mut request| {
                assert!(request.validate(&AcceptedTimes::ANY).is_empty());
                request
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn otlp(c: &mut Criterion) {
    let mut workload = Workload::new(WorkloadOptions::default());
    let traces: ExportTraceServiceRequest = workload.traces(1_000);
    let spans = workload::span_count(&traces);
    bench_signal(c, "traces_1000", traces, spans);
    let logs: ExportLogsServiceRequest = workload.logs(1_000);
    bench_signal(c, "logs_1000", logs, 1_000);
    let metrics: ExportMetricsServiceRequest = workload.metrics(1_000);
    let points = workload::data_point_count(&metrics);
    bench_signal(c, "metrics_1000", metrics, points);
}

criterion_group!(benches, otlp);
criterion_main!(benches);
