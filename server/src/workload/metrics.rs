//! Metrics as an OpenTelemetry SDK exports them: every interval each instance sends all its
//! series at once, cumulative since the process started. Request-duration histograms per
//! operation and status, in-flight requests, connection pools, CPU time and memory, and a
//! business counter; counters only ever grow, gauges wander.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};

use super::shop::{self, Instance, OPERATIONS, Protocol, Scope, kv_int, kv_str};
use super::traces::SCHEMA_URL;
use super::{Rng, Workload};

/// OpenTelemetry's default explicit bucket bounds for durations in seconds.
const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Fraction of histogram points that carry an exemplar (a trace that produced them).
const EXEMPLAR_SHARE: f64 = 0.2;

/// The cumulative state of one instance's series.
#[derive(Debug)]
pub(super) struct SeriesState {
    start_time: u64,
    next_time: u64,
    durations: Vec<DurationSeries>,
    in_flight: Vec<i64>,
    cpu_seconds: [f64; 2],
    orders: [f64; 3],
    pool_used: i64,
    memory_bytes: f64,
}

impl SeriesState {
    /// The time of this instance's next export.
    pub(super) fn next_time(&self) -> u64 {
        self.next_time
    }
}

/// One operation × status: a cumulative histogram.
#[derive(Debug)]
struct DurationSeries {
    operation: usize,
    status: i64,
    /// Requests per second of this series.
    rate: f64,
    median_s: f64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: [u64; DURATION_BOUNDS.len() + 1],
}

impl SeriesState {
    pub fn new(instance: &Instance, workload_start: u64) -> SeriesState {
        let mut durations = Vec::new();
        for (operation, op) in OPERATIONS.iter().enumerate() {
            if op.service != instance.service {
                continue;
            }
            let statuses: &[(i64, f64)] = match &op.protocol {
                Protocol::Http { method, route, .. } => match (*method, route.contains("{id}")) {
                    ("POST", _) => &[(201, 0.985), (400, 0.01), (500, 0.005)],
                    (_, true) => &[(200, 0.965), (404, 0.03), (500, 0.005)],
                    _ => &[(200, 0.995), (500, 0.005)],
                },
                Protocol::Grpc { .. } => &[(0, 0.99), (13, 0.01)],
            };
            for (status, share) in statuses {
                durations.push(DurationSeries {
                    operation,
                    status: *status,
                    rate: 40.0 * share,
                    median_s: op.median_ms * 3.0 / 1_000.0,
                    count: 0,
                    sum: 0.0,
                    min: f64::INFINITY,
                    max: 0.0,
                    buckets: [0; DURATION_BOUNDS.len() + 1],
                });
            }
        }
        let in_flight = vec![0; durations.len()];
        let start_time = workload_start.saturating_sub(instance.started_offset_ns);
        SeriesState {
            start_time,
            // Instances export at different moments of the interval, as real ones do.
            next_time: workload_start + instance.started_offset_ns % 10_000_000_000,
            durations,
            in_flight,
            cpu_seconds: [0.0; 2],
            orders: [0.0; 3],
            pool_used: 4,
            memory_bytes: 300e6,
        }
    }
}

pub(super) fn generate(workload: &mut Workload, min_points: usize) -> ExportMetricsServiceRequest {
    let mut resource_metrics = Vec::new();
    let mut points = 0;
    while points < min_points.max(1) {
        let index = workload.next_exporter;
        workload.next_exporter = (index + 1) % workload.instances.len();
        let interval = workload.options.metric_interval_ns;
        let instance = &workload.instances[index];
        let state = &mut workload.series[index];
        let export = export(&mut workload.rng, instance, state, interval);
        points += export.1;
        resource_metrics.push(export.0);
    }
    ExportMetricsServiceRequest { resource_metrics }
}

/// One instance's export at its next interval, and its number of data points.
fn export(
    rng: &mut Rng,
    instance: &Instance,
    state: &mut SeriesState,
    interval: u64,
) -> (ResourceMetrics, usize) {
    let time = state.next_time;
    // SDK timers drift by a few milliseconds.
    state.next_time += interval + rng.below(5_000_000);
    let seconds = interval as f64 / 1e9;
    let start = state.start_time;
    let number = |attributes: Vec<KeyValue>, value: number_data_point::Value| NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    };

    let mut histogram_points = Vec::new();
    let mut in_flight_points = Vec::new();
    for (series, in_flight) in state.durations.iter_mut().zip(&mut state.in_flight) {
        let op = &OPERATIONS[series.operation];
        let new = (series.rate * seconds * (0.6 + 0.8 * rng.unit())) as u64;
        // Sample a few latencies and let each stand for an equal share of the new requests.
        let samples = new.min(32);
        for sample in 0..samples {
            let latency = rng.log_normal(series.median_s, 0.6);
            let weight = new / samples + u64::from(sample < new % samples);
            let bucket = DURATION_BOUNDS.partition_point(|bound| *bound < latency);
            series.buckets[bucket] += weight;
            series.sum += latency * weight as f64;
            series.min = series.min.min(latency);
            series.max = series.max.max(latency);
        }
        series.count += new;
        let exemplars = if series.count > 0 && rng.chance(EXEMPLAR_SHARE) {
            vec![Exemplar {
                time_unix_nano: time - rng.below(interval),
                value: Some(exemplar::Value::AsDouble(
                    rng.log_normal(series.median_s, 0.6),
                )),
                span_id: rng.span_id(),
                trace_id: rng.trace_id(),
                ..Default::default()
            }]
        } else {
            Vec::new()
        };
        let attributes = operation_attributes(op, Some(series.status));
        histogram_points.push(HistogramDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: time,
            count: series.count,
            sum: Some(series.sum),
            bucket_counts: series.buckets.to_vec(),
            explicit_bounds: DURATION_BOUNDS.to_vec(),
            exemplars,
            min: (series.count > 0).then_some(series.min),
            max: (series.count > 0).then_some(series.max),
            ..Default::default()
        });
        // In-flight requests: one series per operation (the first status of each).
        if series.status == 0 || series.status == 200 || series.status == 201 {
            *in_flight = (*in_flight + rng.between(0, 4) as i64 - 2).max(0);
            in_flight_points.push(number(
                operation_attributes(op, None),
                number_data_point::Value::AsInt(*in_flight),
            ));
        }
    }

    state.cpu_seconds[0] += seconds * (0.15 + 0.3 * rng.unit());
    state.cpu_seconds[1] += seconds * (0.02 + 0.05 * rng.unit());
    state.pool_used = (state.pool_used + rng.between(0, 4) as i64 - 2).clamp(0, 20);
    state.memory_bytes = (state.memory_bytes * (0.97 + 0.06 * rng.unit())).clamp(150e6, 900e6);
    let pool = format!("{}-db", shop::SERVICES[instance.service].name);
    let mut metrics = vec![
        Metric {
            name: duration_metric_name(instance.service).into(),
            description: "Duration of requests served.".into(),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: histogram_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
        sum_metric(
            "http.server.active_requests",
            "Requests being served.",
            "{request}",
            false,
            in_flight_points,
        ),
        sum_metric(
            "process.cpu.time",
            "CPU time used by the process.",
            "s",
            true,
            vec![
                number(
                    vec![kv_str("cpu.mode", "user")],
                    number_data_point::Value::AsDouble(state.cpu_seconds[0]),
                ),
                number(
                    vec![kv_str("cpu.mode", "system")],
                    number_data_point::Value::AsDouble(state.cpu_seconds[1]),
                ),
            ],
        ),
        sum_metric(
            "db.client.connection.count",
            "Connections in the pool, by state.",
            "{connection}",
            false,
            vec![
                number(
                    vec![
                        kv_str("db.client.connection.pool.name", &pool),
                        kv_str("db.client.connection.state", "used"),
                    ],
                    number_data_point::Value::AsInt(state.pool_used),
                ),
                number(
                    vec![
                        kv_str("db.client.connection.pool.name", &pool),
                        kv_str("db.client.connection.state", "idle"),
                    ],
                    number_data_point::Value::AsInt(20 - state.pool_used),
                ),
            ],
        ),
        Metric {
            name: "process.memory.usage".into(),
            description: "Resident memory of the process.".into(),
            unit: "By".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(
                    Vec::new(),
                    number_data_point::Value::AsInt(state.memory_bytes as i64),
                )],
            })),
            ..Default::default()
        },
    ];
    if instance.service == 1 {
        let mut points = Vec::new();
        for (method, orders) in ["card", "paypal", "invoice"].iter().zip(&mut state.orders) {
            *orders += (seconds * (0.5 + rng.unit())).floor();
            points.push(number(
                vec![kv_str("payment.method", method)],
                number_data_point::Value::AsDouble(*orders),
            ));
        }
        metrics.push(sum_metric(
            "app.orders.placed",
            "Orders placed.",
            "{order}",
            true,
            points,
        ));
    }
    let points = metrics.iter().map(point_count).sum();
    let resource = ResourceMetrics {
        resource: Some(instance.resource.clone()),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(Scope::Http.instrumentation()),
            metrics,
            schema_url: String::new(),
        }],
        schema_url: SCHEMA_URL.into(),
    };
    (resource, points)
}

fn duration_metric_name(service: usize) -> &'static str {
    // The frontend and shipping serve HTTP; the others gRPC.
    match service {
        0 | 5 => "http.server.request.duration",
        _ => "rpc.server.duration",
    }
}

fn operation_attributes(op: &shop::Operation, status: Option<i64>) -> Vec<KeyValue> {
    let mut attributes = match &op.protocol {
        Protocol::Http { method, route, .. } => vec![
            kv_str("http.request.method", method),
            kv_str("http.route", route),
            kv_str("url.scheme", "http"),
        ],
        Protocol::Grpc { service, method } => vec![
            kv_str("rpc.system", "grpc"),
            kv_str("rpc.service", service),
            kv_str("rpc.method", method),
        ],
    };
    if let Some(status) = status {
        let key = match op.protocol {
            Protocol::Http { .. } => "http.response.status_code",
            Protocol::Grpc { .. } => "rpc.grpc.status_code",
        };
        attributes.push(kv_int(key, status));
    }
    attributes
}

fn sum_metric(
    name: &str,
    description: &str,
    unit: &str,
    monotonic: bool,
    data_points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

fn point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        _ => 0,
    }
}
