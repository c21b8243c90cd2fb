//! Synthetic but realistic telemetry: the shop that `otelite loadgen` (and later `otelite
//! --demo`) pretends to be.
//!
//! A small microservice shop (frontend, checkout, cart, payment, inventory, shipping, with
//! PostgreSQL and Redis behind them), each service run as a few instances, produces:
//! - traces of 3–30 spans across services over HTTP, gRPC, SQL, Redis and Kafka, with each
//!   instrumentation's attributes at the variety real SDK output has (so they compress as hard),
//!   nanosecond timing jitter, and a few failures carrying exception events ([`traces`]);
//! - logs from message templates with variable parts, some with JSON bodies, most carrying the
//!   ids of the span that wrote them ([`logs`]);
//! - metrics as an SDK exports them every interval: cumulative counters, up-down counters,
//!   gauges and histograms over many series, advancing over time ([`metrics`]).
//!
//! Everything is deterministic for a given seed and start time, and built from plain
//! OTLP/protobuf messages, so the same generator feeds load tests, benchmarks and the demo. This
//! module must never do I/O: it only builds messages.

mod logs;
mod metrics;
mod rng;
mod shop;
mod traces;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

pub use rng::Rng;

use self::metrics::SeriesState;
use self::shop::Instance;

/// How a [`Workload`] is shaped. Start from [`WorkloadOptions::default`].
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// Seed of the random generator: the same seed and start time give the same telemetry.
    pub seed: u64,
    /// Simulated time of the first item, unix ns.
    pub start_unix_nano: u64,
    /// Instances of each service (each is its own OTLP resource and its own metric series).
    pub instances_per_service: usize,
    /// Mean simulated time between two traces (and between two log records), ns.
    pub mean_gap_ns: u64,
    /// Simulated time between two metric exports of one instance, ns.
    pub metric_interval_ns: u64,
    /// Fraction of operations that fail with an exception, 0.0..=1.0.
    pub error_rate: f64,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            seed: 0x07e1_17e0,
            start_unix_nano: 1_700_000_000_000_000_000,
            instances_per_service: 3,
            mean_gap_ns: 2_000_000,
            metric_interval_ns: 10_000_000_000,
            error_rate: 0.01,
        }
    }
}

/// The generator. Each call continues where the previous one left off: simulated time only
/// moves forward and cumulative metrics keep accumulating.
#[derive(Debug)]
pub struct Workload {
    rng: Rng,
    options: WorkloadOptions,
    instances: Vec<Instance>,
    /// Simulated clock of traces and logs, unix ns.
    now: u64,
    /// Metric series state per instance, and which instance exports next.
    series: Vec<SeriesState>,
    next_exporter: usize,
    /// Next offset of each partition of the shop's Kafka topic (traces' messaging spans).
    kafka_offsets: Vec<u64>,
}

impl Workload {
    pub fn new(options: WorkloadOptions) -> Workload {
        let mut rng = Rng::new(options.seed);
        let instances = shop::instances(&mut rng, options.instances_per_service.max(1));
        let series = instances
            .iter()
            .map(|instance| SeriesState::new(instance, options.start_unix_nano))
            .collect();
        Workload {
            now: options.start_unix_nano,
            rng,
            options,
            instances,
            series,
            next_exporter: 0,
            kafka_offsets: (0..12).map(|p| 1_480_000 + p * 7_919).collect(),
        }
    }

    /// Simulated time reached so far by traces and logs, unix ns.
    pub fn now_unix_nano(&self) -> u64 {
        self.now
    }

    /// The latest simulated time reached by any signal (metric exports keep their own clock
    /// per instance), unix ns: no item generated so far is timed later.
    pub fn latest_unix_nano(&self) -> u64 {
        self.series
            .iter()
            .map(SeriesState::next_time)
            .fold(self.now, u64::max)
    }

    /// Whole traces holding at least `min_spans` spans in total, grouped by the service
    /// instance (resource) and instrumentation scope that produced them.
    pub fn traces(&mut self, min_spans: usize) -> ExportTraceServiceRequest {
        traces::generate(self, min_spans)
    }

    /// `records` log records from all instances.
    pub fn logs(&mut self, records: usize) -> ExportLogsServiceRequest {
        logs::generate(self, records)
    }

    /// Metric exports of successive instances, each with all its series at its next interval,
    /// until at least `min_points` data points are in the request.
    pub fn metrics(&mut self, min_points: usize) -> ExportMetricsServiceRequest {
        metrics::generate(self, min_points)
    }
}

/// Spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// Log records in a request.
pub fn log_record_count(request: &ExportLogsServiceRequest) -> u64 {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// Metric data points in a request (what OTLP and otelite's status count).
pub fn data_point_count(request: &ExportMetricsServiceRequest) -> u64 {
    metric_data(request)
        .map(|data| crate::otlp::data_points(data) as u64)
        .sum()
}

/// The samples Prometheus would store for a request: one per gauge or sum point; per
/// histogram point one per bucket plus `_sum` and `_count`; per summary point one per quantile
/// plus `_sum` and `_count`. Bytes per sample compare with Prometheus only in this unit.
pub fn prometheus_sample_count(request: &ExportMetricsServiceRequest) -> u64 {
    metric_data(request)
        .map(|data| match data {
            Data::Gauge(g) => g.data_points.len(),
            Data::Sum(s) => s.data_points.len(),
            Data::Histogram(h) => h.data_points.iter().map(|p| p.bucket_counts.len() + 2).sum(),
            Data::ExponentialHistogram(h) => h
                .data_points
                .iter()
                .map(|p| {
                    let buckets = |b: &Option<_>| {
                        b.as_ref().map_or(0, |b: &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets| b.bucket_counts.len())
                    };
                    buckets(&p.positive) + buckets(&p.negative) + 3
                })
                .sum(),
            Data::Summary(s) => s.data_points.iter().map(|p| p.quantile_values.len() + 2).sum(),
        } as u64)
        .sum()
}

fn metric_data(request: &ExportMetricsServiceRequest) -> impl Iterator<Item = &Data> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter_map(|m| m.data.as_ref())
}

#[cfg(test)]
mod tests;
