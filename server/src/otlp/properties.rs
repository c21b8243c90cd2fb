//! Property tests of the OTLP decoders: whatever bytes a client sends, decoding (protobuf and
//! OTLP/JSON), validation, the answer and the OTLP/JSON encoding of what was accepted end in a
//! value or an error, never a panic; and what validation lets through keeps its invariants.
//!
//! Inputs: arbitrary bytes; valid requests (from the workload generator and the official OTLP/JSON
//! examples) with bytes flipped, cut, inserted or repeated; OTLP/JSON documents with some values
//! replaced by arbitrary JSON; and arbitrary JSON trees spelled with OTLP's field names, which
//! reach the corrections `json.rs` makes to the tree.
//!
//! The runs are bounded for CI; `PROPTEST_CASES=100000 cargo test -p otelite --lib properties`
//! runs longer.

use std::path::PathBuf;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use proptest::prelude::*;
use prost::Message;
use serde_json::Value;

use super::{ExportRequest, decode_json, decode_protobuf, encode_json, response_json};
use crate::workload::{Workload, WorkloadOptions};

/// These properties are about decoding and validation, not the accepted time window.
const ANY_TIME: super::TimeWindow = super::TimeWindow::UNBOUNDED;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 128;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Feeds `bytes` to every decoder, as each signal's request, and everything decoded through
/// what the receivers and the export do with it.
fn receive_everywhere(bytes: &[u8]) {
    receive::<ExportTraceServiceRequest>(bytes, check_spans);
    receive::<ExportMetricsServiceRequest>(bytes, |_| {});
    receive::<ExportLogsServiceRequest>(bytes, check_logs);
}

fn receive<R: ExportRequest + Clone + PartialEq + std::fmt::Debug>(bytes: &[u8], check: fn(&R)) {
    if let Ok(request) = decode_protobuf::<R>(bytes) {
        accept(request, check);
    }
    if let Ok(request) = decode_json::<R>(bytes) {
        accept(request, check);
    }
}

/// What the server does with a decoded request: validates it, answers, exports what it kept as
/// OTLP/JSON, and hands it to the store as a batch.
fn accept<R: ExportRequest + Clone + PartialEq + std::fmt::Debug>(mut request: R, check: fn(&R)) {
    let rejections = request.validate(&ANY_TIME.now());
    let _ = R::response(&rejections);
    let _ = response_json::<R>(&rejections);
    if !rejections.is_empty() {
        assert!(
            rejections.first_reason().is_some(),
            "a rejection says why: {rejections:?}"
        );
    }
    check(&request);
    // Validation removed everything invalid: validating again finds nothing more.
    let mut again = request.clone();
    assert!(
        again.validate(&ANY_TIME.now()).is_empty(),
        "validation is not idempotent on {request:?}"
    );
    // Whatever was accepted can be exported, and the export can be sent back in.
    let json = encode_json(&request);
    if let Err(e) = decode_json::<R>(&json) {
        panic!(
            "the export of an accepted request does not decode ({e}): {}",
            String::from_utf8_lossy(&json)
        );
    }
    let _ = request.into_batch();
}

/// The invariants validation promises for spans (see `validate.rs`).
fn check_spans(request: &ExportTraceServiceRequest) {
    for resource in &request.resource_spans {
        assert!(
            !resource.scope_spans.is_empty(),
            "a resource without scopes"
        );
        for scope in &resource.scope_spans {
            assert!(!scope.spans.is_empty(), "a scope without spans");
            for span in &scope.spans {
                assert_eq!(span.trace_id.len(), 16, "{span:?}");
                assert!(span.trace_id.iter().any(|&b| b != 0), "{span:?}");
                assert_eq!(span.span_id.len(), 8, "{span:?}");
                assert!(span.span_id.iter().any(|&b| b != 0), "{span:?}");
            }
        }
    }
}

/// The invariants validation promises for log records: ids, when present, have their length.
fn check_logs(request: &ExportLogsServiceRequest) {
    for resource in &request.resource_logs {
        assert!(!resource.scope_logs.is_empty(), "a resource without scopes");
        for scope in &resource.scope_logs {
            assert!(!scope.log_records.is_empty(), "a scope without records");
            for record in &scope.log_records {
                assert!(matches!(record.trace_id.len(), 0 | 16), "{record:?}");
                assert!(matches!(record.span_id.len(), 0 | 8), "{record:?}");
            }
        }
    }
}

/// A valid request of signal `signal % 3` from the workload generator, as protobuf and JSON.
fn valid_request(seed: u64, signal: u8) -> (Vec<u8>, Vec<u8>) {
    let mut workload = Workload::new(WorkloadOptions {
        seed,
        instances_per_service: 1,
        ..WorkloadOptions::default()
    });
    match signal % 3 {
        0 => {
            let request = workload.traces(4);
            (request.encode_to_vec(), encode_json(&request))
        }
        1 => {
            let request = workload.metrics(8);
            (request.encode_to_vec(), encode_json(&request))
        }
        _ => {
            let request = workload.logs(6);
            (request.encode_to_vec(), encode_json(&request))
        }
    }
}

/// The official OTLP/JSON examples, from the shared test data.
fn official_examples() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/otlp-json");
    ["trace.json", "metrics.json", "logs.json", "events.json"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        })
        .collect()
}

/// A change to a byte string, at positions taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
    Repeat { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Repeat { at, len }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len();
        match mutation {
            Mutation::Flip { at, xor } => bytes[at % len] ^= xor,
            Mutation::Truncate { at } => bytes.truncate(at % len),
            Mutation::Insert { at, bytes: new } => {
                let at = at % len;
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Remove { at, len: n } => {
                let at = at % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Repeat { at, len: n } => {
                let at = at % len;
                let copy = bytes[at..(at + n).min(len)].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
}

/// OTLP/JSON member names (both spellings where protobuf's differs), so that arbitrary trees
/// reach the decoder's special cases.
const OTLP_KEYS: &[&str] = &[
    "resourceSpans",
    "resource_spans",
    "resourceMetrics",
    "resourceLogs",
    "resource",
    "attributes",
    "key",
    "value",
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
    "values",
    "scopeSpans",
    "scope_spans",
    "scopeMetrics",
    "scopeLogs",
    "scope",
    "name",
    "version",
    "spans",
    "traceId",
    "spanId",
    "parentSpanId",
    "trace_id",
    "kind",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "events",
    "links",
    "status",
    "code",
    "flags",
    "logRecords",
    "timeUnixNano",
    "observedTimeUnixNano",
    "severityNumber",
    "body",
    "metrics",
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "summary",
    "dataPoints",
    "asInt",
    "asDouble",
    "count",
    "bucketCounts",
    "explicitBounds",
    "positive",
    "negative",
    "offset",
    "scale",
    "zeroCount",
    "quantileValues",
    "quantile",
    "exemplars",
    "aggregationTemporality",
    "isMonotonic",
    "min",
    "max",
    "schemaUrl",
    "droppedAttributesCount",
    "eventName",
];

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-fA-F]{0,34}",
        "-?[0-9]{1,22}(\\.[0-9]{1,4})?(e-?[0-9]{1,3})?",
        "[A-Za-z0-9+/_=-]{0,20}",
        prop::sample::select(
            &[
                "",
                "NaN",
                "Infinity",
                "-Infinity",
                "SPAN_KIND_SERVER",
                "SPAN_KIND_NOPE",
                "AGGREGATION_TEMPORALITY_CUMULATIVE",
                "SEVERITY_NUMBER_INFO",
                "STATUS_CODE_ERROR",
                "18446744073709551616",
                "-9223372036854775809",
                "0x10",
                "1e400",
            ][..]
        )
        .prop_map(str::to_string),
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        json_string().prop_map(Value::String),
    ];
    let key = prop_oneof![
        4 => prop::sample::select(OTLP_KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z_]{0,10}",
    ];
    leaf.prop_recursive(6, 64, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Replaces the `index`-th node (pre-order, modulo the node count) of `tree` with `new`.
fn replace_node(tree: &mut Value, index: usize, new: Value) {
    fn count(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(members) => members.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(value: &mut Value, index: &mut usize, new: &mut Option<Value>) {
        if *index == 0 {
            if let Some(new) = new.take() {
                *value = new;
            }
            return;
        }
        *index -= 1;
        match value {
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, index, new)),
            Value::Object(members) => members.values_mut().for_each(|v| walk(v, index, new)),
            _ => {}
        }
    }
    let mut index = index % count(tree);
    walk(tree, &mut index, &mut Some(new));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        receive_everywhere(&bytes);
    }

    #[test]
    fn damaged_valid_protobuf_never_panics(
        seed in any::<u64>(),
        signal in any::<u8>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let (mut bytes, _) = valid_request(seed, signal);
        mutate(&mut bytes, &mutations);
        receive_everywhere(&bytes);
    }

    #[test]
    fn damaged_valid_json_never_panics(
        seed in any::<u64>(),
        source in any::<u8>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = match source % 7 {
            example @ 0..=3 => official_examples().swap_remove(example as usize),
            signal => valid_request(seed, signal).1,
        };
        mutate(&mut bytes, &mutations);
        receive_everywhere(&bytes);
    }

    #[test]
    fn json_with_arbitrary_values_in_place_never_panics(
        seed in any::<u64>(),
        source in any::<u8>(),
        replacements in prop::collection::vec((any::<usize>(), json_value()), 1..5),
    ) {
        let bytes = match source % 7 {
            example @ 0..=3 => official_examples().swap_remove(example as usize),
            signal => valid_request(seed, signal).1,
        };
        let mut tree: Value = serde_json::from_slice(&bytes).expect("valid JSON");
        for (index, new) in replacements {
            replace_node(&mut tree, index, new);
        }
        receive_everywhere(&serde_json::to_vec(&tree).expect("a tree serializes"));
    }

    #[test]
    fn every_finite_double_survives_otlp_json_exactly(value in any::<f64>()) {
        prop_assume!(value.is_finite());
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "m".to_string(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: 1,
                                value: Some(number_data_point::Value::AsDouble(value)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let decoded: ExportMetricsServiceRequest = decode_json(&encode_json(&request)).unwrap();
        prop_assert_eq!(decoded, request);
    }

    #[test]
    fn arbitrary_otlp_shaped_json_never_panics(tree in json_value()) {
        receive_everywhere(&serde_json::to_vec(&tree).expect("a tree serializes"));
        // The same members under each signal's top-level name.
        for top in ["resourceSpans", "resourceMetrics", "resourceLogs"] {
            let document = serde_json::json!({ top: [tree.clone()] });
            receive_everywhere(&serde_json::to_vec(&document).expect("a tree serializes"));
        }
    }
}

#[test]
fn valid_requests_pass_unchanged() {
    // The seeds of the mutations above are themselves accepted whole, so the mutations start
    // from valid input rather than from something already refused.
    for signal in 0..3 {
        let (protobuf, json) = valid_request(7, signal);
        match signal {
            0 => assert_accepted::<ExportTraceServiceRequest>(&protobuf, &json),
            1 => assert_accepted::<ExportMetricsServiceRequest>(&protobuf, &json),
            _ => assert_accepted::<ExportLogsServiceRequest>(&protobuf, &json),
        }
    }
}

fn assert_accepted<R: ExportRequest + PartialEq + std::fmt::Debug>(protobuf: &[u8], json: &[u8]) {
    let mut from_protobuf: R = decode_protobuf(protobuf).unwrap();
    let mut from_json: R = decode_json(json).unwrap();
    if from_protobuf != from_json {
        let (a, b) = (format!("{from_protobuf:?}"), format!("{from_json:?}"));
        let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let window = |s: &str| s[at.saturating_sub(200)..(at + 100).min(s.len())].to_string();
        panic!(
            "the JSON and protobuf forms decode differently; protobuf: ...{}\njson: ...{}",
            window(&a),
            window(&b)
        );
    }
    assert!(from_protobuf.validate(&ANY_TIME.now()).is_empty());
    assert!(from_json.validate(&ANY_TIME.now()).is_empty());
    assert!(!from_protobuf.is_empty());
}
