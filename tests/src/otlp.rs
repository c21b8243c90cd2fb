//! OTLP helpers for the tests: a trait over the three export request types, small request
//! builders with unique ids, a flattening that compares data regardless of how the server
//! groups it into resources and scopes, and checks of the OTLP/JSON conventions.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, Gauge, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message;
use serde_json::Value;
use tonic::codec::CompressionEncoding;

use crate::Signal;

/// What a server said it refused, from an OTLP `partial_success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub count: i64,
    pub message: String,
}

type GrpcResult = Pin<Box<dyn Future<Output = Result<Option<Rejected>, tonic::Status>> + Send>>;

/// One of `Export{Trace,Metrics,Logs}ServiceRequest`.
pub trait OtlpRequest:
    Message + Default + Clone + PartialEq + Debug + serde::de::DeserializeOwned + serde::Serialize
{
    const SIGNAL: Signal;

    /// Sends the request with the generated tonic client, optionally gzip-compressed.
    fn send_grpc(self, endpoint: String, gzip: bool) -> GrpcResult;

    /// Reads the `partial_success` out of a protobuf OTLP/HTTP response body.
    fn rejected_in_protobuf_response(body: &[u8]) -> Option<Rejected>;
}

fn connect_error(e: tonic::transport::Error) -> tonic::Status {
    tonic::Status::unavailable(format!("cannot connect: {e}"))
}

/// The three impls differ only in their types and in the name of the rejected-items count.
macro_rules! otlp_request {
    ($request:ty, $signal:expr, $client:ident, $response:ty, $rejected:ident) => {
        impl OtlpRequest for $request {
            const SIGNAL: Signal = $signal;

            fn send_grpc(self, endpoint: String, gzip: bool) -> GrpcResult {
                Box::pin(async move {
                    let mut client = $client::connect(endpoint).await.map_err(connect_error)?;
                    if gzip {
                        client = client
                            .send_compressed(CompressionEncoding::Gzip)
                            .accept_compressed(CompressionEncoding::Gzip);
                    }
                    let response = client.export(self).await?.into_inner();
                    Ok(response.partial_success.map(|p| Rejected {
                        count: p.$rejected,
                        message: p.error_message,
                    }))
                })
            }

            fn rejected_in_protobuf_response(body: &[u8]) -> Option<Rejected> {
                let response = <$response>::decode(body)
                    .unwrap_or_else(|e| panic!("a {} response: {e}", $signal.name()));
                response.partial_success.map(|p| Rejected {
                    count: p.$rejected,
                    message: p.error_message,
                })
            }
        }
    };
}

otlp_request!(
    ExportTraceServiceRequest,
    Signal::Traces,
    TraceServiceClient,
    ExportTraceServiceResponse,
    rejected_spans
);
otlp_request!(
    ExportMetricsServiceRequest,
    Signal::Metrics,
    MetricsServiceClient,
    ExportMetricsServiceResponse,
    rejected_data_points
);
otlp_request!(
    ExportLogsServiceRequest,
    Signal::Logs,
    LogsServiceClient,
    ExportLogsServiceResponse,
    rejected_log_records
);

/// Reads the `partialSuccess` out of an OTLP/JSON response body (`rejectedSpans`,
/// `rejectedDataPoints` or `rejectedLogRecords`, an int64 so a string or a number).
pub fn rejected_in_json_response(body: &Value) -> Option<Rejected> {
    let partial = body.get("partialSuccess")?;
    let count = partial
        .as_object()?
        .iter()
        .find(|(name, _)| name.starts_with("rejected"))
        .map(|(_, count)| match count {
            Value::String(text) => text.parse().expect("rejected count is an integer"),
            other => other.as_i64().expect("rejected count is an integer"),
        })
        .unwrap_or(0);
    let message = partial
        .get("errorMessage")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Some(Rejected { count, message })
}

/// Decodes OTLP/JSON with otelite's decoder (the proto3 JSON mapping with OTLP's hex ids).
pub fn decode_json<T: OtlpRequest>(bytes: &[u8]) -> T {
    otelite::otlp::decode_json(bytes).unwrap_or_else(|e| {
        panic!(
            "not OTLP/JSON for {} ({e}): {}",
            T::SIGNAL.name(),
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Checks the OTLP/JSON conventions a client relies on in a document otelite wrote: ids as hex
/// of the right length, 64-bit integers as decimal strings, no `null`s.
pub fn assert_otlp_json_conventions(document: &Value) {
    fn walk(value: &Value, path: &str) {
        match value {
            Value::Null => panic!("{path} is null: proto3 JSON omits absent fields"),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(members) => {
                for (name, member) in members {
                    let here = format!("{path}.{name}");
                    check_member(name, member, &here);
                    walk(member, &here);
                }
            }
            _ => {}
        }
    }
    fn check_member(name: &str, value: &Value, path: &str) {
        let hex_len = match name {
            "traceId" => Some(32),
            "spanId" | "parentSpanId" => Some(16),
            _ => None,
        };
        if let Some(len) = hex_len {
            let text = value
                .as_str()
                .unwrap_or_else(|| panic!("{path} is not a string"));
            assert!(
                text.is_empty()
                    || (text.len() == len && text.chars().all(|c| c.is_ascii_hexdigit())),
                "{path} = {text:?} is not {len} hex digits"
            );
        }
        let is_int64 = name.ends_with("UnixNano")
            || matches!(name, "count" | "zeroCount" | "intValue" | "asInt");
        if is_int64 {
            assert!(
                value.is_string(),
                "{path} = {value} is a 64-bit integer and must be a decimal string"
            );
        }
        if name == "bucketCounts" {
            for count in value.as_array().into_iter().flatten() {
                assert!(
                    count.is_string(),
                    "{path} holds {count}, not a decimal string"
                );
            }
        }
    }
    walk(document, "$");
}

/// Nanoseconds since the unix epoch, now.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

/// A number never handed out before in this process, mixed with the time so that ids differ
/// between processes too.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A fresh, valid (non-zero) trace id.
pub fn new_trace_id() -> Vec<u8> {
    let mut id = now_nanos().to_be_bytes().to_vec();
    id.extend_from_slice(&unique().to_be_bytes());
    id
}

/// A fresh, valid (non-zero) span id.
pub fn new_span_id() -> Vec<u8> {
    (unique() | 1 << 63).to_be_bytes().to_vec()
}

pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_attribute("service.name", service)],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "otelite-tests".to_string(),
        version: "1.0.0".to_string(),
        ..Default::default()
    })
}

/// A span named `name` in a new trace, ending now.
pub fn span(name: &str) -> Span {
    let end = now_nanos();
    Span {
        trace_id: new_trace_id(),
        span_id: new_span_id(),
        name: name.to_string(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: end - 1_000_000,
        end_time_unix_nano: end,
        attributes: vec![string_attribute("test.name", name)],
        ..Default::default()
    }
}

/// One resource (`service.name` = `service`) and scope holding `spans`.
pub fn traces_request_of(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `count` spans named `{service}-{i}` with unique ids.
pub fn traces_request(service: &str, count: usize) -> ExportTraceServiceRequest {
    let spans = (0..count)
        .map(|i| span(&format!("{service}-{i}")))
        .collect();
    traces_request_of(service, spans)
}

/// `count` log records with bodies `{service}-{i}`, at the current time.
pub fn logs_request(service: &str, count: usize) -> ExportLogsServiceRequest {
    let now = now_nanos();
    let log_records = (0..count)
        .map(|i| LogRecord {
            time_unix_nano: now + i as u64,
            observed_time_unix_nano: now + i as u64,
            severity_number: 9,
            severity_text: "INFO".to_string(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!("{service}-{i}"))),
            }),
            attributes: vec![string_attribute("test.name", service)],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `count` gauges named `{service}.gauge.{i}`, one point each with value `i`, at the current
/// time.
pub fn metrics_request(service: &str, count: usize) -> ExportMetricsServiceRequest {
    let now = now_nanos();
    let metrics = (0..count)
        .map(|i| Metric {
            name: format!("{service}.gauge.{i}"),
            description: "a test gauge".to_string(),
            unit: "1".to_string(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: vec![string_attribute("test.name", service)],
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsInt(i as i64)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One item with the resource and scope it came with: the unit of comparison, so that a
/// server may regroup items into resources and scopes as it likes.
#[derive(Debug, Clone, PartialEq)]
pub struct Flat<T> {
    pub resource: Resource,
    pub resource_schema_url: String,
    pub scope: InstrumentationScope,
    pub scope_schema_url: String,
    pub item: T,
}

/// Attributes are maps: their order carries no meaning.
fn sort_attributes(attributes: &mut [KeyValue]) {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
}

fn flat<T>(
    resource: &Option<Resource>,
    resource_schema_url: &str,
    scope: &Option<InstrumentationScope>,
    scope_schema_url: &str,
    item: T,
) -> Flat<T> {
    let mut resource = resource.clone().unwrap_or_default();
    sort_attributes(&mut resource.attributes);
    let mut scope = scope.clone().unwrap_or_default();
    sort_attributes(&mut scope.attributes);
    Flat {
        resource,
        resource_schema_url: resource_schema_url.to_string(),
        scope,
        scope_schema_url: scope_schema_url.to_string(),
        item,
    }
}

fn sorted_by_debug<T: Debug>(mut items: Vec<T>) -> Vec<T> {
    items.sort_by_cached_key(|item| format!("{item:?}"));
    items
}

/// Every span with its resource and scope, attribute maps sorted, in a canonical order.
pub fn flat_spans(request: &ExportTraceServiceRequest) -> Vec<Flat<Span>> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let mut span = span.clone();
                sort_attributes(&mut span.attributes);
                for event in &mut span.events {
                    sort_attributes(&mut event.attributes);
                }
                for link in &mut span.links {
                    sort_attributes(&mut link.attributes);
                }
                out.push(flat(
                    &rs.resource,
                    &rs.schema_url,
                    &ss.scope,
                    &ss.schema_url,
                    span,
                ));
            }
        }
    }
    sorted_by_debug(out)
}

/// Every log record with its resource and scope, attribute maps sorted, in a canonical order.
pub fn flat_logs(request: &ExportLogsServiceRequest) -> Vec<Flat<LogRecord>> {
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        for sl in &rl.scope_logs {
            for record in &sl.log_records {
                let mut record = record.clone();
                sort_attributes(&mut record.attributes);
                out.push(flat(
                    &rl.resource,
                    &rl.schema_url,
                    &sl.scope,
                    &sl.schema_url,
                    record,
                ));
            }
        }
    }
    sorted_by_debug(out)
}

/// A metric's identity and shape without its points.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStream {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub metadata: Vec<KeyValue>,
    /// `gauge`, `sum`, `histogram`, `exponential_histogram` or `summary`.
    pub kind: &'static str,
    pub aggregation_temporality: i32,
    pub is_monotonic: bool,
}

/// One data point of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Number(NumberDataPoint),
    Histogram(HistogramDataPoint),
    ExponentialHistogram(ExponentialHistogramDataPoint),
    Summary(SummaryDataPoint),
}

/// Every metric data point with its stream, resource and scope, in a canonical order: a server
/// may split or merge `Metric` messages of one stream without changing the data.
pub fn flat_points(request: &ExportMetricsServiceRequest) -> Vec<Flat<(MetricStream, Point)>> {
    let mut out = Vec::new();
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                let stream = |kind, aggregation_temporality, is_monotonic| MetricStream {
                    name: metric.name.clone(),
                    description: metric.description.clone(),
                    unit: metric.unit.clone(),
                    metadata: metric.metadata.clone(),
                    kind,
                    aggregation_temporality,
                    is_monotonic,
                };
                let points: Vec<(MetricStream, Point)> = match &metric.data {
                    None => vec![(stream("none", 0, false), Point::Number(Default::default()))],
                    Some(metric::Data::Gauge(g)) => g
                        .data_points
                        .iter()
                        .map(|p| (stream("gauge", 0, false), Point::Number(p.clone())))
                        .collect(),
                    Some(metric::Data::Sum(s)) => s
                        .data_points
                        .iter()
                        .map(|p| {
                            let stream = stream("sum", s.aggregation_temporality, s.is_monotonic);
                            (stream, Point::Number(p.clone()))
                        })
                        .collect(),
                    Some(metric::Data::Histogram(h)) => h
                        .data_points
                        .iter()
                        .map(|p| {
                            let stream = stream("histogram", h.aggregation_temporality, false);
                            (stream, Point::Histogram(p.clone()))
                        })
                        .collect(),
                    Some(metric::Data::ExponentialHistogram(h)) => h
                        .data_points
                        .iter()
                        .map(|p| {
                            let stream =
                                stream("exponential_histogram", h.aggregation_temporality, false);
                            (stream, Point::ExponentialHistogram(p.clone()))
                        })
                        .collect(),
                    Some(metric::Data::Summary(s)) => s
                        .data_points
                        .iter()
                        .map(|p| (stream("summary", 0, false), Point::Summary(p.clone())))
                        .collect(),
                };
                for (stream, mut point) in points {
                    match &mut point {
                        Point::Number(p) => sort_attributes(&mut p.attributes),
                        Point::Histogram(p) => sort_attributes(&mut p.attributes),
                        Point::ExponentialHistogram(p) => sort_attributes(&mut p.attributes),
                        Point::Summary(p) => sort_attributes(&mut p.attributes),
                    }
                    out.push(flat(
                        &rm.resource,
                        &rm.schema_url,
                        &sm.scope,
                        &sm.schema_url,
                        (stream, point),
                    ));
                }
            }
        }
    }
    sorted_by_debug(out)
}

/// Asserts two lists are equal item by item, printing the first difference readably.
pub fn assert_same_items<T: PartialEq + Debug>(what: &str, got: &[T], want: &[T]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}: item {i} differs (left: stored, right: sent)");
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} items stored, {} sent",
        got.len(),
        want.len()
    );
}

/// The attribute `key` of a list of attributes.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// Lowercase hex of an id, as OTLP/JSON writes it.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
