//! The official OTLP/JSON examples (opentelemetry-proto's `examples/`), read in place from the
//! shared test data, go in through OTLP/HTTP and come back out of the export API unchanged
//! after a restart; plus a gzip-compressed JSON request and a chunked protobuf request.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite_tests::otlp::{
    self, OtlpRequest, assert_same_items, flat_logs, flat_points, flat_spans,
};
use otelite_tests::{Signal, TestServer};
use prost::Message;
use serde_json::Value;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/otlp-json"
);

fn example(name: &str) -> Vec<u8> {
    let path = format!("{EXAMPLES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("the OTLP/JSON example {path}: {e}"))
}

/// Decodes an example twice, with otelite's decoder and with the plain serde derives of
/// opentelemetry-proto, so that a decoder bug cannot hide itself by being symmetric.
fn decode_example<T: OtlpRequest>(bytes: &[u8]) -> T {
    let ours: T = otlp::decode_json(bytes);
    let reference: T = serde_json::from_slice(bytes).expect("the example decodes with serde");
    assert_eq!(
        ours, reference,
        "otelite's OTLP/JSON decoder disagrees with the reference"
    );
    assert_ne!(ours, T::default(), "the example holds data");
    ours
}

async fn post_json(server: &TestServer, signal: Signal, body: Vec<u8>) -> Value {
    let response = server.post_otlp(signal, "application/json", body).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await.expect("the response body arrives");
    assert_eq!(status, 200, "POST /v1/{}: {bytes:?}", signal.name());
    assert!(
        content_type.starts_with("application/json"),
        "a JSON request gets a JSON response, got content-type {content_type:?}"
    );
    let body: Value = serde_json::from_slice(&bytes).expect("the response is JSON");
    if let Some(rejected) = otlp::rejected_in_json_response(&body) {
        assert_eq!(
            rejected.count, 0,
            "nothing in an official example is rejected: {body}"
        );
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn official_examples_round_trip_through_restart() {
    // The examples are dated 2018: accept items of any age, as for a replay of old files.
    let mut server = TestServer::start_with(|config| {
        config.max_item_age = None;
        config.retention = [None; 3];
    })
    .await;

    let trace_bytes = example("trace.json");
    let logs_bytes = example("logs.json");
    let events_bytes = example("events.json");
    let metrics_bytes = example("metrics.json");
    let trace: ExportTraceServiceRequest = decode_example(&trace_bytes);
    let logs: ExportLogsServiceRequest = decode_example(&logs_bytes);
    let events: ExportLogsServiceRequest = decode_example(&events_bytes);
    let metrics: ExportMetricsServiceRequest = decode_example(&metrics_bytes);

    post_json(&server, Signal::Traces, trace_bytes).await;
    post_json(&server, Signal::Logs, logs_bytes).await;
    post_json(&server, Signal::Logs, events_bytes).await;
    post_json(&server, Signal::Metrics, metrics_bytes).await;

    server.restart().await;

    let stored: ExportTraceServiceRequest = server.export().await;
    assert_same_items(
        "trace.json spans",
        &flat_spans(&stored),
        &flat_spans(&trace),
    );

    let mut sent_logs = logs.clone();
    sent_logs.resource_logs.extend(events.resource_logs.clone());
    let stored: ExportLogsServiceRequest = server.export().await;
    assert_same_items(
        "logs.json + events.json records",
        &flat_logs(&stored),
        &flat_logs(&sent_logs),
    );

    let stored: ExportMetricsServiceRequest = server.export().await;
    assert_same_items(
        "metrics.json points",
        &flat_points(&stored),
        &flat_points(&metrics),
    );

    // The JSON itself follows OTLP/JSON: ids in hex, 64-bit integers as strings. (`export`
    // checks these conventions too; these are the concrete values of the examples.)
    let raw = server.export_json::<ExportTraceServiceRequest>().await;
    let span = &raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(
        span["traceId"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(
        span["spanId"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("eee19b7ec3c1b174")
    );
    assert_eq!(span["startTimeUnixNano"], "1544712660000000000");
    let raw = server.export_json::<ExportMetricsServiceRequest>().await;
    let text = raw.to_string();
    assert!(
        text.contains(r#""bucketCounts":["1","1"]"#),
        "histogram bucket counts as strings: {text}"
    );

    let status = server.status().await;
    assert_eq!(status.traces.stored, 1, "{status:?}");
    assert_eq!(status.logs.stored, 2, "{status:?}");
    assert_eq!(
        status.metrics.stored, 4,
        "one point per metric in metrics.json: {status:?}"
    );
    server.stop().await;
}

/// `document` as a sender using the other spellings proto3 JSON allows writes it: every member
/// by its proto field name (`startTimeUnixNano` as `start_time_unix_nano`) and every enum by
/// its value's name (`"kind": 2` as `"kind": "SPAN_KIND_SERVER"`).
fn proto_spelling(document: &mut Value) {
    use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
    use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

    fn enum_name(field: &str, number: i32) -> Option<&'static str> {
        match field {
            "kind" => SpanKind::try_from(number).ok().map(|e| e.as_str_name()),
            "code" => StatusCode::try_from(number).ok().map(|e| e.as_str_name()),
            "severityNumber" => SeverityNumber::try_from(number)
                .ok()
                .map(|e| e.as_str_name()),
            "aggregationTemporality" => AggregationTemporality::try_from(number)
                .ok()
                .map(|e| e.as_str_name()),
            _ => None,
        }
    }
    fn snake_case(name: &str) -> String {
        name.chars()
            .flat_map(|c| match c.is_ascii_uppercase() {
                true => vec!['_', c.to_ascii_lowercase()],
                false => vec![c],
            })
            .collect()
    }
    match document {
        Value::Object(members) => {
            for (name, mut member) in std::mem::take(members) {
                let number = member.as_i64().and_then(|n| i32::try_from(n).ok());
                if let Some(name) = number.and_then(|n| enum_name(&name, n)) {
                    member = Value::from(name);
                }
                proto_spelling(&mut member);
                members.insert(snake_case(&name), member);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(proto_spelling),
        _ => {}
    }
}

/// Posts `example` spelt as [`proto_spelling`] does, checks it was accepted whole, and
/// returns the example as decoded from its usual spelling.
async fn post_in_proto_spelling<T: OtlpRequest>(server: &TestServer, example_name: &str) -> T {
    let bytes = example(example_name);
    let mut document: Value = serde_json::from_slice(&bytes).unwrap();
    proto_spelling(&mut document);
    let text = document.to_string();
    let enum_names = ["SPAN_KIND_", "SEVERITY_NUMBER_", "AGGREGATION_TEMPORALITY_"];
    assert!(
        text.contains("\"resource_") && enum_names.iter().any(|name| text.contains(name)),
        "{example_name} is respelt: {text}"
    );
    post_json(server, T::SIGNAL, text.into_bytes()).await;
    decode_example(&bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn proto_field_names_and_enum_names_are_stored_like_json_names_and_numbers() {
    let server = replay_server().await;
    let trace: ExportTraceServiceRequest = post_in_proto_spelling(&server, "trace.json").await;
    let logs: ExportLogsServiceRequest = post_in_proto_spelling(&server, "logs.json").await;
    let metrics: ExportMetricsServiceRequest =
        post_in_proto_spelling(&server, "metrics.json").await;

    let stored: ExportTraceServiceRequest = server.export().await;
    assert_same_items(
        "trace.json spans",
        &flat_spans(&stored),
        &flat_spans(&trace),
    );
    let stored: ExportLogsServiceRequest = server.export().await;
    assert_same_items("logs.json records", &flat_logs(&stored), &flat_logs(&logs));
    let stored: ExportMetricsServiceRequest = server.export().await;
    assert_same_items(
        "metrics.json points",
        &flat_points(&stored),
        &flat_points(&metrics),
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_whose_data_is_under_an_unknown_key_is_refused_not_acknowledged() {
    let server = replay_server().await;
    let misspelt = String::from_utf8(example("trace.json"))
        .unwrap()
        .replace("\"resourceSpans\"", "\"resourceSpanz\"");
    for (signal, body, expected) in [
        (Signal::Traces, misspelt.into_bytes(), "resourceSpans"),
        // Metrics sent to the traces endpoint, and traces to the logs endpoint.
        (Signal::Traces, example("metrics.json"), "resourceSpans"),
        (Signal::Logs, example("trace.json"), "resourceLogs"),
    ] {
        let response = server.post_otlp(signal, "application/json", body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 400, "POST /v1/{}: {text}", signal.name());
        assert!(
            text.contains(&format!("expected {expected} at the top level")),
            "the refusal names the key it expected: {text}"
        );
    }
    // An empty request is still a valid one.
    post_json(&server, Signal::Traces, b"{}".to_vec()).await;
    let status = server.status().await;
    assert_eq!(
        (status.traces.stored, status.logs.stored),
        (0, 0),
        "{status:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_json_request_is_accepted() {
    let server = replay_server().await;
    let request = otlp::logs_request("gzip-json", 3);
    let json = serde_json::to_vec(&request).expect("a request serialises");
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&json).unwrap();
    let body = gzip.finish().unwrap();

    let response = server
        .client()
        .post(server.otlp_http_url(Signal::Logs))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .expect("a response");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "gzip JSON logs: {text}");

    let stored: ExportLogsServiceRequest = server.export().await;
    assert_same_items("gzip JSON logs", &flat_logs(&stored), &flat_logs(&request));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_protobuf_request_without_content_length_is_accepted() {
    let server = replay_server().await;
    let request = otlp::traces_request("chunked", 4);
    let bytes = request.encode_to_vec();
    // A streamed body has no Content-Length: hyper sends it with Transfer-Encoding: chunked.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(17).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = server
        .client()
        .post(server.otlp_http_url(Signal::Traces))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("a response");
    let status = response.status();
    let text = response.bytes().await.unwrap_or_default();
    assert_eq!(status, 200, "chunked protobuf traces: {text:?}");
    assert_eq!(
        ExportTraceServiceRequest::rejected_in_protobuf_response(&text)
            .map(|r| r.count)
            .unwrap_or(0),
        0
    );

    let stored: ExportTraceServiceRequest = server.export().await;
    assert_same_items(
        "chunked traces",
        &flat_spans(&stored),
        &flat_spans(&request),
    );
    server.stop().await;
}

/// A server that takes the official examples, which are dated 2018.
async fn replay_server() -> TestServer {
    TestServer::start_with(|config| {
        config.max_item_age = None;
        config.retention = [None; 3];
    })
    .await
}
