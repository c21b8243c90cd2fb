//! The official OpenTelemetry Rust SDK sends traces, logs and metrics over each OTLP protocol
//! (gRPC, HTTP protobuf, HTTP JSON); after a restart the export API returns every field as sent.
//!
//! For spans and logs the oracle is the SDK itself: an in-memory exporter on the same provider
//! captures each item, and opentelemetry-proto's transform (the code the OTLP exporter uses)
//! turns it into the protobuf that went over the wire. Metrics are collected separately by
//! each reader, so their points are checked against the values recorded.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::{AnyValue as LogValue, LogRecord as _, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer, TracerProvider,
};
use opentelemetry::{Array, Context, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_proto::tonic as pb;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PbValue;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use otelite_tests::otlp::{
    Flat, Point, assert_same_items, attribute, flat_logs, flat_points, flat_spans, hex,
};
use otelite_tests::{Signal, TestServer};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Protocol {
    Grpc,
    HttpProto,
    HttpJson,
}

impl Protocol {
    const ALL: [Protocol; 3] = [Protocol::Grpc, Protocol::HttpProto, Protocol::HttpJson];

    fn service(self) -> String {
        format!("sdk-{self:?}").to_lowercase()
    }
}

/// Where to send, captured from the server before the emitting thread starts.
#[derive(Clone)]
struct Endpoints {
    grpc: String,
    traces: String,
    metrics: String,
    logs: String,
}

/// What the SDK sent, as OTLP protobuf.
struct Expected {
    traces: ExportTraceServiceRequest,
    logs: ExportLogsServiceRequest,
    /// The span the logs were emitted under: (trace id, span id).
    log_span: (Vec<u8>, Vec<u8>),
}

const REMOTE_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_SPAN_ID: &str = "00f067aa0ba902b7";
const LINKED_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const LINKED_SPAN_ID: &str = "b7ad6b7169203331";

fn at(seconds_after_base: u64) -> SystemTime {
    // A fixed recent time, so that start/end/event times are exact and in range.
    UNIX_EPOCH + Duration::from_secs(1_750_000_000 + seconds_after_base)
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("otelite-e2e-sdk")
        .with_version("1.2.3")
        .with_attributes([KeyValue::new("scope.attr", "scoped")])
        .build()
}

fn resource(protocol: Protocol) -> Resource {
    Resource::builder()
        .with_service_name(protocol.service())
        .with_attributes([
            KeyValue::new("deployment.environment.name", "e2e"),
            KeyValue::new("host.cpu.count", 2_i64),
        ])
        .build()
}

/// One attribute of every type the tracing API has.
fn every_attribute_type() -> Vec<KeyValue> {
    vec![
        KeyValue::new("attr.string", "text"),
        KeyValue::new("attr.bool", true),
        KeyValue::new("attr.int", -42_i64),
        KeyValue::new("attr.double", 3.25_f64),
        KeyValue::new(
            Key::new("attr.strings"),
            Value::Array(Array::String(vec![
                StringValue::from("a"),
                StringValue::from("b"),
            ])),
        ),
        KeyValue::new(
            Key::new("attr.bools"),
            Value::Array(Array::Bool(vec![true, false])),
        ),
        KeyValue::new(
            Key::new("attr.ints"),
            Value::Array(Array::I64(vec![1, -2, 3])),
        ),
        KeyValue::new(
            Key::new("attr.doubles"),
            Value::Array(Array::F64(vec![0.5, -1.5])),
        ),
    ]
}

/// Builds the exporters for `protocol`, emits spans, logs and metrics, shuts the providers down
/// (which flushes) and returns what was sent. Runs on its own thread: the SDK's exporters block.
fn emit(protocol: Protocol, endpoints: Endpoints) -> Expected {
    // The tonic exporter needs a tokio runtime to spawn its connection on; the HTTP exporters
    // use reqwest's blocking client, which must not run inside one.
    let runtime = (protocol == Protocol::Grpc).then(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    let _entered = runtime.as_ref().map(|rt| rt.enter());
    let http_protocol = match protocol {
        Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
        _ => opentelemetry_otlp::Protocol::HttpBinary,
    };
    let span_exporter = match protocol {
        Protocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(&endpoints.grpc)
            .build(),
        _ => SpanExporter::builder()
            .with_http()
            .with_protocol(http_protocol)
            .with_endpoint(&endpoints.traces)
            .build(),
    }
    .expect("the span exporter builds");
    let log_exporter = match protocol {
        Protocol::Grpc => LogExporter::builder()
            .with_tonic()
            .with_endpoint(&endpoints.grpc)
            .build(),
        _ => LogExporter::builder()
            .with_http()
            .with_protocol(http_protocol)
            .with_endpoint(&endpoints.logs)
            .build(),
    }
    .expect("the log exporter builds");
    let metric_exporter = match protocol {
        Protocol::Grpc => MetricExporter::builder()
            .with_tonic()
            .with_endpoint(&endpoints.grpc)
            .build(),
        _ => MetricExporter::builder()
            .with_http()
            .with_protocol(http_protocol)
            .with_endpoint(&endpoints.metrics)
            .build(),
    }
    .expect("the metric exporter builds");

    let resource = resource(protocol);
    let span_memory = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(span_exporter)
        .with_simple_exporter(span_memory.clone())
        .build();
    let log_memory = InMemoryLogExporter::default();
    let logger_provider = SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(log_exporter)
        .with_simple_exporter(log_memory.clone())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(
            PeriodicReader::builder(metric_exporter)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();

    // Traces: a server span continuing a remote parent (so its trace id, parent id and trace
    // state are known), with every attribute type, events, an exception, a link and an error
    // status; a client child; a producer span with no parent in this process.
    let tracer = tracer_provider.tracer_with_scope(scope());
    let remote_parent = SpanContext::new(
        TraceId::from_hex(REMOTE_TRACE_ID).unwrap(),
        SpanId::from_hex(REMOTE_SPAN_ID).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "value"), ("other", "x")]).unwrap(),
    );
    let linked = SpanContext::new(
        TraceId::from_hex(LINKED_TRACE_ID).unwrap(),
        SpanId::from_hex(LINKED_SPAN_ID).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut root = tracer
        .span_builder("checkout")
        .with_kind(SpanKind::Server)
        .with_start_time(at(0))
        .with_attributes(every_attribute_type())
        .with_links(vec![Link::new(
            linked,
            vec![KeyValue::new("link.reason", "retry")],
            0,
        )])
        .start_with_context(
            &tracer,
            &Context::new().with_remote_span_context(remote_parent),
        );
    root.add_event_with_timestamp(
        "cache.miss",
        at(1),
        vec![
            KeyValue::new("cache.key", "user:42"),
            KeyValue::new("cache.ttl", 30_i64),
        ],
    );
    root.add_event_with_timestamp(
        "exception",
        at(2),
        vec![
            KeyValue::new("exception.type", "std::io::Error"),
            KeyValue::new("exception.message", "disk full"),
            KeyValue::new("exception.stacktrace", "at checkout()\nat main()"),
        ],
    );
    root.set_status(Status::error("payment declined"));
    let root_cx = Context::new().with_span(root);

    let logger = logger_provider.logger_with_scope(scope());
    let log_span = {
        let child = tracer
            .span_builder("charge-card")
            .with_kind(SpanKind::Client)
            .with_start_time(at(3))
            .start_with_context(&tracer, &root_cx);
        let child_cx = root_cx.with_span(child);
        let _active = child_cx.clone().attach();
        let ids = {
            let sc = child_cx.span().span_context().clone();
            (
                sc.trace_id().to_bytes().to_vec(),
                sc.span_id().to_bytes().to_vec(),
            )
        };

        // Logs, emitted while the child span is active so they carry its ids.
        let mut record = logger.create_log_record();
        record.set_timestamp(at(4));
        record.set_observed_timestamp(at(5));
        record.set_severity_number(Severity::Error);
        record.set_severity_text("ERROR");
        record.set_body(LogValue::String("card declined".into()));
        record.add_attribute("log.string", "text");
        record.add_attribute("log.int", 7_i64);
        record.add_attribute("log.double", 0.125_f64);
        record.add_attribute("log.bool", false);
        record.add_attribute("log.bytes", LogValue::Bytes(Box::new(vec![0, 1, 254, 255])));
        record.add_attribute(
            "log.list",
            LogValue::ListAny(Box::new(vec![
                LogValue::Int(1),
                LogValue::String("two".into()),
            ])),
        );
        logger.emit(record);

        let mut event = logger.create_log_record();
        event.set_event_name("payment.declined");
        event.set_timestamp(at(6));
        event.set_severity_number(Severity::Warn);
        event.set_body(LogValue::Map(Box::new(
            [
                ("amount".into(), LogValue::Double(12.5)),
                ("currency".into(), LogValue::String("EUR".into())),
                ("retry".into(), LogValue::Boolean(true)),
            ]
            .into_iter()
            .collect(),
        )));
        logger.emit(event);

        child_cx.span().end_with_timestamp(at(7));
        ids
    };
    root_cx.span().end_with_timestamp(at(8));
    let mut producer = tracer
        .span_builder("publish")
        .with_kind(SpanKind::Producer)
        .with_start_time(at(9))
        .start(&tracer);
    producer.set_attribute(KeyValue::new("messaging.system", "kafka"));
    producer.set_status(Status::Ok);
    producer.end_with_timestamp(at(10));

    // Metrics: one instrument of each kind, two attribute sets on the counter.
    let meter = meter_provider.meter_with_scope(scope());
    let counter = meter
        .u64_counter("e2e.requests")
        .with_description("requests served")
        .with_unit("{request}")
        .build();
    counter.add(3, &[KeyValue::new("route", "/a")]);
    counter.add(4, &[KeyValue::new("route", "/b")]);
    counter.add(1, &[KeyValue::new("route", "/a")]);
    let queue = meter.i64_up_down_counter("e2e.queue").build();
    queue.add(5, &[]);
    queue.add(-2, &[]);
    let gauge = meter.f64_gauge("e2e.temperature").with_unit("Cel").build();
    gauge.record(21.5, &[KeyValue::new("room", "lab")]);
    let histogram = meter
        .f64_histogram("e2e.latency")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0])
        .build();
    for value in [0.5, 3.0, 7.0, 20.0, 3.5] {
        histogram.record(value, &[KeyValue::new("route", "/a")]);
    }

    tracer_provider.force_flush().expect("spans flush");
    logger_provider.force_flush().expect("logs flush");
    // Read the oracle before shutdown: the in-memory exporters forget everything on shutdown.
    let spans = span_memory
        .get_finished_spans()
        .expect("spans were captured");
    let logs = log_memory.get_emitted_logs().expect("logs were captured");
    tracer_provider
        .shutdown()
        .expect("the tracer provider shuts down");
    logger_provider
        .shutdown()
        .expect("the logger provider shuts down");
    // Shutdown collects and exports once more; a force_flush before it would export every
    // cumulative point twice (with different times), so metrics are only flushed here.
    meter_provider
        .shutdown()
        .expect("the meter provider shuts down");

    let with_schema = ResourceAttributesWithSchema::from(&resource);
    assert_eq!(spans.len(), 3, "the SDK recorded every span");
    let traces = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &with_schema),
    };
    let resource_logs = logs
        .iter()
        .map(|log| pb::logs::v1::ResourceLogs {
            resource: Some(pb::resource::v1::Resource {
                attributes: with_schema.attributes.0.clone(),
                ..Default::default()
            }),
            scope_logs: vec![pb::logs::v1::ScopeLogs {
                scope: Some((&log.instrumentation, None).into()),
                log_records: vec![(&log.record).into()],
                schema_url: log
                    .instrumentation
                    .schema_url()
                    .unwrap_or_default()
                    .to_string(),
            }],
            schema_url: with_schema.schema_url.clone().unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    assert_eq!(resource_logs.len(), 2, "the SDK recorded every log");
    Expected {
        traces,
        logs: ExportLogsServiceRequest { resource_logs },
        log_span,
    }
}

fn service_of<T>(item: &Flat<T>) -> Option<&PbValue> {
    attribute(&item.resource.attributes, "service.name")
}

fn of_service<T>(items: Vec<Flat<T>>, protocol: Protocol) -> Vec<Flat<T>> {
    let service = PbValue::StringValue(protocol.service());
    items
        .into_iter()
        .filter(|item| service_of(item) == Some(&service))
        .collect()
}

fn string(value: &str) -> PbValue {
    PbValue::StringValue(value.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_data_round_trips_over_every_protocol() {
    // The spans are dated at a fixed time (see `at`), which falls out of the default window.
    let mut server = TestServer::start_with(|config| {
        config.max_item_age = None;
        config.retention = [None; 3];
    })
    .await;
    let endpoints = Endpoints {
        grpc: server.grpc_endpoint(),
        traces: server.otlp_http_url(Signal::Traces),
        metrics: server.otlp_http_url(Signal::Metrics),
        logs: server.otlp_http_url(Signal::Logs),
    };
    let mut expected = Vec::new();
    for protocol in Protocol::ALL {
        let endpoints = endpoints.clone();
        let sent = tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || emit(protocol, endpoints))
                .join()
                .unwrap_or_else(|_| panic!("emitting over {protocol:?} panicked"))
        })
        .await
        .unwrap();
        expected.push((protocol, sent));
    }

    server.restart().await;
    let traces: ExportTraceServiceRequest = server.export().await;
    let logs: ExportLogsServiceRequest = server.export().await;
    let metrics: ExportMetricsServiceRequest = server.export().await;

    for (protocol, sent) in &expected {
        let what = format!("{protocol:?}");
        // Spans: every field equal to what the SDK exported.
        let stored = of_service(flat_spans(&traces), *protocol);
        assert_same_items(&format!("{what} spans"), &stored, &flat_spans(&sent.traces));
        check_spans_explicitly(&stored);

        // Logs: every field equal, and the trace context of the active span.
        let stored = of_service(flat_logs(&logs), *protocol);
        assert_same_items(&format!("{what} logs"), &stored, &flat_logs(&sent.logs));
        for log in &stored {
            assert_eq!(
                hex(&log.item.trace_id),
                hex(&sent.log_span.0),
                "{what} log trace id"
            );
            assert_eq!(
                hex(&log.item.span_id),
                hex(&sent.log_span.1),
                "{what} log span id"
            );
        }
        let event = stored
            .iter()
            .find(|log| log.item.event_name == "payment.declined")
            .unwrap_or_else(|| panic!("{what}: the event record is stored"));
        assert_eq!(event.item.severity_number, Severity::Warn as i32);

        // Metrics: the recorded values.
        let stored = of_service(flat_points(&metrics), *protocol);
        check_metrics(&what, &stored);
    }
    server.stop().await;
}

/// Spot checks that do not depend on the SDK oracle, so that an oracle that captured nothing
/// or the wrong thing cannot make the test pass.
fn check_spans_explicitly(stored: &[Flat<pb::trace::v1::Span>]) {
    let find = |name: &str| {
        stored
            .iter()
            .find(|s| s.item.name == name)
            .unwrap_or_else(|| panic!("span {name} is stored"))
    };
    let root = find("checkout");
    assert_eq!(hex(&root.item.trace_id), REMOTE_TRACE_ID);
    assert_eq!(hex(&root.item.parent_span_id), REMOTE_SPAN_ID);
    assert_eq!(root.item.trace_state, "vendor=value,other=x");
    assert_eq!(root.item.kind, pb::trace::v1::span::SpanKind::Server as i32);
    assert_eq!(root.item.start_time_unix_nano, nanos(at(0)));
    assert_eq!(root.item.end_time_unix_nano, nanos(at(8)));
    let attrs = &root.item.attributes;
    assert_eq!(attribute(attrs, "attr.string"), Some(&string("text")));
    assert_eq!(
        attribute(attrs, "attr.bool"),
        Some(&PbValue::BoolValue(true))
    );
    assert_eq!(attribute(attrs, "attr.int"), Some(&PbValue::IntValue(-42)));
    assert_eq!(
        attribute(attrs, "attr.double"),
        Some(&PbValue::DoubleValue(3.25))
    );
    for key in ["attr.strings", "attr.bools", "attr.ints", "attr.doubles"] {
        assert!(
            matches!(attribute(attrs, key), Some(PbValue::ArrayValue(a)) if !a.values.is_empty()),
            "{key} is an array"
        );
    }
    let status = root.item.status.as_ref().expect("status is stored");
    assert_eq!(status.code, pb::trace::v1::status::StatusCode::Error as i32);
    assert_eq!(status.message, "payment declined");
    let exception = root
        .item
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("the exception event is stored");
    assert_eq!(exception.time_unix_nano, nanos(at(2)));
    assert_eq!(
        attribute(&exception.attributes, "exception.message"),
        Some(&string("disk full"))
    );
    assert!(root.item.events.iter().any(|e| e.name == "cache.miss"));
    let link = root.item.links.first().expect("the link is stored");
    assert_eq!(hex(&link.trace_id), LINKED_TRACE_ID);
    assert_eq!(hex(&link.span_id), LINKED_SPAN_ID);
    assert_eq!(
        attribute(&link.attributes, "link.reason"),
        Some(&string("retry"))
    );

    let child = find("charge-card");
    assert_eq!(child.item.trace_id, root.item.trace_id);
    assert_eq!(child.item.parent_span_id, root.item.span_id);
    assert_eq!(
        child.item.kind,
        pb::trace::v1::span::SpanKind::Client as i32
    );
    let producer = find("publish");
    assert_eq!(
        producer.item.kind,
        pb::trace::v1::span::SpanKind::Producer as i32
    );
    assert!(producer.item.parent_span_id.is_empty());

    for span in stored {
        assert_eq!(span.scope.name, "otelite-e2e-sdk");
        assert_eq!(span.scope.version, "1.2.3");
        assert_eq!(
            attribute(&span.scope.attributes, "scope.attr"),
            Some(&string("scoped"))
        );
        assert_eq!(
            attribute(&span.resource.attributes, "deployment.environment.name"),
            Some(&string("e2e"))
        );
        assert_eq!(
            attribute(&span.resource.attributes, "host.cpu.count"),
            Some(&PbValue::IntValue(2))
        );
    }
}

fn check_metrics(what: &str, stored: &[Flat<(otelite_tests::otlp::MetricStream, Point)>]) {
    use pb::metrics::v1::number_data_point::Value as Number;
    const CUMULATIVE: i32 = pb::metrics::v1::AggregationTemporality::Cumulative as i32;
    let points = |name: &str| -> Vec<&Flat<(otelite_tests::otlp::MetricStream, Point)>> {
        stored.iter().filter(|p| p.item.0.name == name).collect()
    };
    for point in stored {
        assert_eq!(point.scope.name, "otelite-e2e-sdk", "{what}");
        assert_eq!(point.scope.version, "1.2.3", "{what}");
        assert_eq!(
            attribute(&point.resource.attributes, "deployment.environment.name"),
            Some(&string("e2e")),
            "{what}"
        );
    }

    let requests = points("e2e.requests");
    assert_eq!(requests.len(), 2, "{what}: one counter point per route");
    for point in &requests {
        let (stream, Point::Number(p)) = &point.item else {
            panic!("{what}: the counter has number points")
        };
        assert_eq!(stream.kind, "sum");
        assert!(stream.is_monotonic, "{what}: a counter is monotonic");
        assert_eq!(stream.aggregation_temporality, CUMULATIVE);
        assert_eq!(stream.description, "requests served");
        assert_eq!(stream.unit, "{request}");
        let expected = match attribute(&p.attributes, "route") {
            Some(PbValue::StringValue(route)) if route == "/a" => 4,
            Some(PbValue::StringValue(route)) if route == "/b" => 4,
            other => panic!("{what}: unexpected route {other:?}"),
        };
        assert_eq!(p.value, Some(Number::AsInt(expected)), "{what}");
        assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano);
    }

    let queue = points("e2e.queue");
    assert_eq!(queue.len(), 1, "{what}");
    let (stream, Point::Number(p)) = &queue[0].item else {
        panic!("{what}: number")
    };
    assert_eq!(stream.kind, "sum");
    assert!(
        !stream.is_monotonic,
        "{what}: an up-down counter is not monotonic"
    );
    assert_eq!(p.value, Some(Number::AsInt(3)));

    let temperature = points("e2e.temperature");
    assert_eq!(temperature.len(), 1, "{what}");
    let (stream, Point::Number(p)) = &temperature[0].item else {
        panic!("{what}: number")
    };
    assert_eq!(stream.kind, "gauge");
    assert_eq!(stream.unit, "Cel");
    assert_eq!(p.value, Some(Number::AsDouble(21.5)));
    assert_eq!(attribute(&p.attributes, "room"), Some(&string("lab")));

    let latency = points("e2e.latency");
    assert_eq!(latency.len(), 1, "{what}");
    let (stream, Point::Histogram(h)) = &latency[0].item else {
        panic!("{what}: histogram")
    };
    assert_eq!(stream.kind, "histogram");
    assert_eq!(stream.aggregation_temporality, CUMULATIVE);
    assert_eq!(h.count, 5);
    assert_eq!(h.sum, Some(34.0));
    assert_eq!(h.min, Some(0.5));
    assert_eq!(h.max, Some(20.0));
    assert_eq!(h.explicit_bounds, vec![1.0, 5.0, 10.0]);
    assert_eq!(h.bucket_counts, vec![1, 2, 1, 1]);
    assert_eq!(attribute(&h.attributes, "route"), Some(&string("/a")));
}
