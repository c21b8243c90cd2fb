//! OTLP/JSON and protobuf decoding, and OTLP/JSON encoding.
//!
//! opentelemetry-proto's `with-serde` derives do most of the OTLP/JSON mapping (lowerCamelCase
//! names, hex trace and span ids in either case, 64-bit integers as decimal strings with numbers
//! also accepted, enums as integers, unknown fields ignored). Where they deviate from the spec we
//! correct the JSON tree at this boundary instead of forking the generated types:
//!
//! - `null` means "field absent" in proto3 JSON, but the derives reject it for ids, strings and
//!   numbers (`"parentSpanId": null` is common from JavaScript); we drop `null` members on input
//!   and never write them on output (the derives print absent messages as `null`).
//! - `ArrayValue` and `KeyValueList` require their `values` member, yet proto3 encoders omit
//!   empty repeated fields (`{"kvlistValue": {}}` is an empty map); we supply it.
//! - `bytesValue` must be padded standard base64 for the derives; proto3 JSON also allows
//!   unpadded and URL-safe base64, which we convert.
//! - Metric data and point values are flattened oneofs, and serde silently turns an unreadable
//!   one into "absent" (a metric without data, a point without value). We check those parts
//!   strictly first, so a typo is a 400 that names the field, not silent data loss. Doubles
//!   given as strings (`"asDouble": "1.5"`, allowed by proto3 JSON) are converted.
//!
//! Known gaps, not fixed here: a non-finite double (NaN, ±Infinity) outside summary quantiles
//! cannot be read from its string form (an `asDouble` of `"NaN"` leaves the point without a
//! value) and is written as nothing (serde_json has no NaN); other double fields given as
//! strings are refused.

use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, Gauge, Histogram, Sum, Summary,
};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why an export request's body could not be read as OTLP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("the body is not valid OTLP/JSON: {0}")]
    Json(String),
    #[error("the body is not a valid OTLP protobuf message: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Decodes an OTLP/JSON document (an `Export*ServiceRequest` or any other OTLP message).
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut tree: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    if !tree.is_object() {
        return Err(DecodeError::Json(
            "expected a JSON object at the top level".to_string(),
        ));
    }
    normalize_input(&mut tree)?;
    serde_json::from_value(tree).map_err(|e| DecodeError::Json(e.to_string()))
}

/// Decodes a binary protobuf OTLP message.
pub fn decode_protobuf<T: Message + Default>(bytes: &[u8]) -> Result<T, DecodeError> {
    Ok(T::decode(bytes)?)
}

/// Encodes an OTLP message as OTLP/JSON.
pub fn encode_json<T: Serialize>(message: &T) -> Vec<u8> {
    // The generated types hold only strings, numbers, bools, sequences and string-keyed
    // structs, and their custom serializers never fail, so conversion cannot fail.
    let mut tree = serde_json::to_value(message).expect("OTLP messages always convert to JSON");
    remove_nulls(&mut tree);
    serde_json::to_vec(&tree).expect("a JSON tree always serializes")
}

fn normalize_input(value: &mut Value) -> Result<(), DecodeError> {
    match value {
        Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            for (name, member) in members.iter_mut() {
                normalize_member(name, member)?;
                normalize_input(member)?;
            }
            check_metric_data(members)
        }
        Value::Array(items) => items.iter_mut().try_for_each(normalize_input),
        _ => Ok(()),
    }
}

fn normalize_member(name: &str, member: &mut Value) -> Result<(), DecodeError> {
    let invalid = |expected: &str, got: &Value| {
        Err(DecodeError::Json(format!(
            "{name} must be {expected}, got {got}"
        )))
    };
    match (name, &mut *member) {
        ("arrayValue" | "kvlistValue", Value::Object(list)) => {
            list.entry("values")
                .or_insert_with(|| Value::Array(Vec::new()));
        }
        // The derives' error would name neither the field nor the value.
        ("traceId" | "spanId" | "parentSpanId", Value::String(id))
            if id.len() % 2 != 0 || !id.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            return invalid("a hex string", member);
        }
        // proto3 JSON accepts base64 with or without padding, standard or URL-safe; the
        // derives only the padded standard alphabet.
        ("bytesValue", Value::String(encoded)) => {
            let mut standard: String = encoded
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect();
            while !standard.len().is_multiple_of(4) {
                standard.push('=');
            }
            *encoded = standard;
        }
        ("intValue", Value::String(text)) if text.parse::<i64>().is_err() => {
            return invalid("a 64-bit integer", member);
        }
        // A data point's or exemplar's value is a flattened oneof, and serde turns a value it
        // cannot read there into "no value" without an error; check it ourselves.
        ("asInt", Value::Number(number)) if number.as_i64().is_none() => {
            return invalid("a 64-bit integer", member);
        }
        ("asInt", Value::String(text)) if text.parse::<i64>().is_err() => {
            return invalid("a 64-bit integer", member);
        }
        ("asInt", Value::Number(_) | Value::String(_)) => {}
        ("asInt", _) => return invalid("a 64-bit integer", member),
        ("asDouble", Value::String(text)) => match text.parse::<f64>() {
            Ok(number) if number.is_finite() => {
                *member = serde_json::Number::from_f64(number)
                    .map(Value::Number)
                    .expect("finite");
            }
            // serde_json cannot hold NaN or infinities: the point keeps no value.
            _ if matches!(text.as_str(), "NaN" | "Infinity" | "-Infinity") => {}
            _ => return invalid("a number", member),
        },
        ("asDouble", Value::Number(_)) => {}
        ("asDouble", _) => return invalid("a number", member),
        _ => {}
    }
    Ok(())
}

/// A metric's data is a flattened oneof too: serde would turn any error inside it into "no
/// data". Read it strictly here so that the client learns what is wrong.
fn check_metric_data(metric: &Map<String, Value>) -> Result<(), DecodeError> {
    fn strictly<T: DeserializeOwned>(data: &Value) -> Result<(), serde_json::Error> {
        T::deserialize(data).map(drop)
    }
    type Check = fn(&Value) -> Result<(), serde_json::Error>;
    let kinds: [(&str, Check); 5] = [
        ("gauge", strictly::<Gauge>),
        ("sum", strictly::<Sum>),
        ("histogram", strictly::<Histogram>),
        ("exponentialHistogram", strictly::<ExponentialHistogram>),
        ("summary", strictly::<Summary>),
    ];
    for (kind, check) in kinds {
        // Data points have a numeric "sum"; only an object is metric data.
        if let Some(data @ Value::Object(_)) = metric.get(kind) {
            check(data).map_err(|e| {
                let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
                DecodeError::Json(format!("metric {name:?}: {kind}: {e}"))
            })?;
        }
    }
    Ok(())
}

fn remove_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(remove_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

/// Parses JSON into a tree for tests that compare documents.
#[cfg(test)]
pub(crate) fn tree(bytes: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(bytes).expect("valid JSON") {
        Value::Object(map) => map,
        other => panic!("expected an object, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::metrics::v1::metric;
    use std::path::PathBuf;

    /// The official OTLP/JSON examples, read in place from the shared test data.
    fn example(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/otlp-json")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Decodes an example, re-encodes it, and checks that the round trip is lossless both as a
    /// message and as JSON (every member of the input reappears with the same meaning).
    fn round_trip<T>(name: &str) -> T
    where
        T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
    {
        let input = example(name);
        let decoded: T = decode_json(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded = encode_json(&decoded);
        let again: T = decode_json(&encoded).unwrap_or_else(|e| panic!("{name} re-read: {e}"));
        assert_eq!(
            decoded, again,
            "{name}: encode then decode changed the message"
        );
        let output = Value::Object(tree(&encoded));
        assert_contains(&Value::Object(tree(&input)), &output, name);
        assert!(
            !String::from_utf8_lossy(&encoded).contains("null"),
            "{name}: output has nulls"
        );
        decoded
    }

    /// Checks that `output` says everything `input` says: the same members with the same values,
    /// numbers compared by value and ids compared without regard to case. The output may add
    /// members holding default values.
    fn assert_contains(input: &Value, output: &Value, at: &str) {
        match (input, output) {
            (Value::Object(want), Value::Object(got)) => {
                for (name, value) in want {
                    let got = got
                        .get(name)
                        .unwrap_or_else(|| panic!("{at}.{name} missing in {output}"));
                    assert_contains(value, got, &format!("{at}.{name}"));
                }
            }
            (Value::Array(want), Value::Array(got)) => {
                assert_eq!(want.len(), got.len(), "{at}: array length");
                for (i, (w, g)) in want.iter().zip(got).enumerate() {
                    assert_contains(w, g, &format!("{at}[{i}]"));
                }
            }
            (Value::Number(want), Value::Number(got)) => {
                assert_eq!(want.as_f64(), got.as_f64(), "{at}");
            }
            (Value::String(want), Value::String(got)) if at.ends_with("Id") => {
                assert_eq!(want.to_lowercase(), *got, "{at}");
            }
            (want, got) => assert_eq!(want, got, "{at}"),
        }
    }

    #[test]
    fn official_trace_example_round_trips() {
        let request: ExportTraceServiceRequest = round_trip("trace.json");
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            span.trace_id,
            [
                0x5B, 0x8E, 0xFF, 0xF7, 0x98, 0x03, 0x81, 0x03, 0xD2, 0x69, 0xB6, 0x33, 0x81, 0x3F,
                0xC6, 0x0C
            ]
        );
        assert_eq!(
            span.span_id,
            [0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x74]
        );
        assert_eq!(span.parent_span_id.len(), 8);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.kind, 2);
    }

    #[test]
    fn official_metrics_example_round_trips() {
        let request: ExportMetricsServiceRequest = round_trip("metrics.json");
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 4);
        let Some(metric::Data::Histogram(histogram)) = &metrics[2].data else {
            panic!("third metric is a histogram: {:?}", metrics[2].data);
        };
        assert_eq!(histogram.data_points[0].bucket_counts, [1, 1]);
        assert_eq!(histogram.data_points[0].count, 2);
        let Some(metric::Data::ExponentialHistogram(exponential)) = &metrics[3].data else {
            panic!("fourth metric is an exponential histogram");
        };
        assert_eq!(exponential.data_points[0].zero_count, 1);
    }

    #[test]
    fn official_logs_example_round_trips() {
        let request: ExportLogsServiceRequest = round_trip("logs.json");
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.severity_number, 10);
        let int = record
            .attributes
            .iter()
            .find(|kv| kv.key == "int.attribute")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.clone());
        assert_eq!(int, Some(any_value::Value::IntValue(10)));
    }

    #[test]
    fn official_events_example_round_trips() {
        let request: ExportLogsServiceRequest = round_trip("events.json");
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.event_name, "browser.page_view");
        assert!(matches!(
            record.body.as_ref().and_then(|b| b.value.as_ref()),
            Some(any_value::Value::KvlistValue(_))
        ));
    }

    #[test]
    fn encodes_ids_as_hex_and_64_bit_integers_as_strings() {
        let request: ExportTraceServiceRequest = decode_json(&example("trace.json")).unwrap();
        let json = tree(&encode_json(&request));
        let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc60c");
        assert_eq!(span["spanId"], "eee19b7ec3c1b174");
        assert_eq!(span["startTimeUnixNano"], "1544712660000000000");
        assert_eq!(span["kind"], 2);
    }

    #[test]
    fn accepts_numbers_for_64_bit_integers_nulls_and_unknown_fields() {
        let json = br#"{"resourceSpans":[{"resource":null,"futureField":{"x":1},"scopeSpans":[{"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "parentSpanId":null,"name":"s","kind":1,"startTimeUnixNano":1544712660000000000,
            "endTimeUnixNano":"1544712661000000000","status":null,"unknown":[1,2],
            "attributes":[{"key":"i","value":{"intValue":7}},{"key":"e","value":{"kvlistValue":{}}},
                          {"key":"a","value":{"arrayValue":{}}},{"key":"b","value":{"bytesValue":"aGk="}}]
        }]}]}]}"#;
        let request: ExportTraceServiceRequest = decode_json(json).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert!(span.parent_span_id.is_empty());
        let values: Vec<_> = span
            .attributes
            .iter()
            .map(|kv| kv.value.as_ref().unwrap().value.clone().unwrap())
            .collect();
        assert_eq!(values[0], any_value::Value::IntValue(7));
        assert!(matches!(&values[1], any_value::Value::KvlistValue(l) if l.values.is_empty()));
        assert!(matches!(&values[2], any_value::Value::ArrayValue(a) if a.values.is_empty()));
        assert_eq!(values[3], any_value::Value::BytesValue(b"hi".to_vec()));
    }

    #[test]
    fn accepts_every_base64_form_proto3_allows() {
        for encoded in ["+/8=", "+/8", "-_8=", "-_8"] {
            let json = format!(
                r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{{"bytesValue":"{encoded}"}}}}]}}]}}]}}"#
            );
            let request: ExportLogsServiceRequest = decode_json(json.as_bytes()).unwrap();
            let body = &request.resource_logs[0].scope_logs[0].log_records[0].body;
            assert_eq!(
                body.as_ref().unwrap().value,
                Some(any_value::Value::BytesValue(vec![0xfb, 0xff])),
                "{encoded}"
            );
        }
    }

    #[test]
    fn unreadable_metric_data_is_an_error_not_silently_dropped() {
        let metric = |data: &str| {
            format!(
                r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"m",{data}}}]}}]}}]}}"#
            )
        };
        for (data, hint) in [
            (
                r#""sum":{"dataPoints":[{"asInt":"abc"}]}"#,
                "asInt must be a 64-bit integer",
            ),
            (
                r#""sum":{"dataPoints":[{"asInt":1.5}]}"#,
                "asInt must be a 64-bit integer",
            ),
            (
                r#""gauge":{"dataPoints":[{"asDouble":"x"}]}"#,
                "asDouble must be a number",
            ),
            (
                r#""gauge":{"dataPoints":[{"asDouble":1,"timeUnixNano":"abc"}]}"#,
                "metric \"m\": gauge: invalid digit",
            ),
            (
                r#""histogram":{"dataPoints":[{"bucketCounts":["x"]}]}"#,
                "metric \"m\": histogram",
            ),
        ] {
            let error = decode_json::<ExportMetricsServiceRequest>(metric(data).as_bytes())
                .expect_err(data)
                .to_string();
            assert!(error.contains(hint), "{data}: {error}");
        }
        let request: ExportMetricsServiceRequest = decode_json(
            metric(r#""gauge":{"dataPoints":[{"asDouble":"2.5"},{"asInt":3}]}"#).as_bytes(),
        )
        .unwrap();
        let Some(metric::Data::Gauge(gauge)) =
            &request.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("a gauge");
        };
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Point;
        assert_eq!(gauge.data_points[0].value, Some(Point::AsDouble(2.5)));
        assert_eq!(gauge.data_points[1].value, Some(Point::AsInt(3)));
    }

    #[test]
    fn an_empty_object_is_an_empty_request() {
        let request: ExportLogsServiceRequest = decode_json(b"{}").unwrap();
        assert!(request.resource_logs.is_empty());
    }

    #[test]
    fn malformed_json_is_a_decode_error_with_a_reason() {
        for (body, hint) in [
            (&b"{\"resourceSpans\": ["[..], "EOF"),
            (b"[]", "object"),
            (
                br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"intValue":"1e3"}}]}}]}"#,
                "intValue must be a 64-bit integer, got \"1e3\"",
            ),
            (
                br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
                "hex",
            ),
            (
                br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
                "invalid digit",
            ),
        ] {
            let error = decode_json::<ExportTraceServiceRequest>(body).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("OTLP/JSON"), "{message}");
            assert!(
                message.to_lowercase().contains(&hint.to_lowercase()),
                "{message} should mention {hint}"
            );
        }
    }

    #[test]
    fn malformed_protobuf_is_a_decode_error() {
        let error = decode_protobuf::<ExportTraceServiceRequest>(&[0x0a, 0xff, 0x01]).unwrap_err();
        assert!(error.to_string().contains("protobuf"), "{error}");
    }

    #[test]
    fn values_nested_as_deep_as_json_allows_decode_on_a_small_stack() {
        // serde_json stops at 128 levels; three of them per AnyValue level plus the envelope.
        let depth = 40;
        let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
        body.push_str(&r#"{"arrayValue":{"values":["#.repeat(depth));
        body.push_str(&"]}}".repeat(depth));
        body.push_str("}]}]}]}");
        let decoded = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || decode_json::<ExportLogsServiceRequest>(body.as_bytes()).is_ok())
            .unwrap()
            .join()
            .unwrap();
        assert!(decoded);
    }

    #[test]
    fn deep_json_is_refused_without_overflowing_the_stack() {
        let depth = 5_000;
        let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
        body.push_str(&r#"{"arrayValue":{"values":["#.repeat(depth));
        body.push_str(&"]}}".repeat(depth));
        body.push_str("}]}]}]}");
        assert!(decode_json::<ExportLogsServiceRequest>(body.as_bytes()).is_err());
    }
}
