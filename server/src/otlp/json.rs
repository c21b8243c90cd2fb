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
//! - proto3 JSON parsers accept the proto field name (`trace_id`) as well as the JSON name
//!   (`traceId`), as the Collector does; the derives know only the JSON name and would ignore
//!   the other as an unknown field. We rename every member to its JSON name first (protobuf's
//!   rule: drop each underscore and capitalise the letter after it).
//! - proto3 JSON allows an enum's name (`"kind": "SPAN_KIND_SERVER"`) as well as its number;
//!   the derives read only numbers. We replace the names of the OTLP enums by their numbers, and
//!   refuse an unknown name naming the field.
//! - serde ignores unknown members, so data under a misspelt top-level key, or a request sent
//!   to another signal's endpoint, would decode as an empty request and be acknowledged with
//!   nothing stored. A top-level object with members but none the message knows is an error;
//!   `{}` stays a valid empty request. (Deeper down unknown members are ignored, as the spec
//!   wants, so that newer senders can add fields.)
//!
//! Known gaps, not fixed here: a non-finite double (NaN, ±Infinity) outside summary quantiles
//! cannot be read from its string form (an `asDouble` of `"NaN"` leaves the point without a
//! value) and is written as nothing (serde_json has no NaN); other double fields given as
//! strings are refused.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, Gauge, Histogram, Sum, Summary,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
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
pub fn decode_json<T: DeserializeOwned + Serialize + Default>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let mut tree: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    if !tree.is_object() {
        return Err(DecodeError::Json(
            "expected a JSON object at the top level".to_string(),
        ));
    }
    normalize_input(&mut tree)?;
    check_top_level::<T>(&tree)?;
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
            use_json_names(members)?;
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
        (field, Value::String(value)) => {
            if let Some(number) = enum_number(field, value) {
                *member = Value::from(number.map_err(|names| {
                    DecodeError::Json(format!(
                        "{field} {value:?} is not a value the OTLP proto defines: give its number \
                         or one of {names}"
                    ))
                })?);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Renames every member given by its proto field name (`start_time_unix_nano`) to its JSON name
/// (`startTimeUnixNano`). Both spellings of one field is an error, as in protobuf's parsers.
fn use_json_names(members: &mut Map<String, Value>) -> Result<(), DecodeError> {
    if !members.keys().any(|name| name.contains('_')) {
        return Ok(());
    }
    for (name, member) in std::mem::take(members) {
        let json_name = json_name(&name);
        if members.contains_key(&json_name) {
            return Err(DecodeError::Json(format!(
                "{json_name} is given twice (also as {name}): give each field once"
            )));
        }
        members.insert(json_name, member);
    }
    Ok(())
}

/// A proto field name's JSON name, by protobuf's rule: each underscore is dropped and the
/// letter after it capitalised. JSON names (which have no underscore) are left as they are.
fn json_name(field: &str) -> String {
    let mut name = String::with_capacity(field.len());
    let mut capitalize = false;
    for c in field.chars() {
        if c == '_' {
            capitalize = true;
        } else if std::mem::take(&mut capitalize) {
            name.push(c.to_ascii_uppercase());
        } else {
            name.push(c);
        }
    }
    name
}

/// The number of the enum value named `value`, if `field` is one of the OTLP messages' enum
/// fields (each of these names belongs to one message only): `Err` with the known names if
/// `value` is none of them, `None` if `field` holds no enum.
fn enum_number(field: &str, value: &str) -> Option<Result<i32, String>> {
    fn lookup<E: Copy + Into<i32> + TryFrom<i32>>(
        value: &str,
        from_name: fn(&str) -> Option<E>,
        name: fn(&E) -> &'static str,
    ) -> Result<i32, String> {
        from_name(value).map(Into::into).ok_or_else(|| {
            let names: Vec<&str> = (0..64)
                .filter_map(|n| E::try_from(n).ok())
                .map(|e| name(&e))
                .collect();
            names.join(", ")
        })
    }
    Some(match field {
        "kind" => lookup(value, SpanKind::from_str_name, SpanKind::as_str_name),
        "code" => lookup(value, StatusCode::from_str_name, StatusCode::as_str_name),
        "severityNumber" => lookup(
            value,
            SeverityNumber::from_str_name,
            SeverityNumber::as_str_name,
        ),
        "aggregationTemporality" => lookup(
            value,
            AggregationTemporality::from_str_name,
            AggregationTemporality::as_str_name,
        ),
        _ => return None,
    })
}

/// Refuses a top-level object that has members but none `T` knows (see the module comment).
fn check_top_level<T: Serialize + Default>(tree: &Value) -> Result<(), DecodeError> {
    let Value::Object(members) = tree else {
        return Ok(());
    };
    // The derives write every field, so a default message's members are all the names it has.
    let Ok(Value::Object(known)) = serde_json::to_value(T::default()) else {
        return Ok(());
    };
    if members.is_empty() || members.keys().any(|name| known.contains_key(name)) {
        return Ok(());
    }
    let expected: Vec<&str> = known.keys().map(String::as_str).collect();
    let found: Vec<&str> = members.keys().map(String::as_str).take(5).collect();
    Err(DecodeError::Json(format!(
        "expected {} at the top level, found only {}: check the spelling, and that the request \
         went to the endpoint of its signal",
        expected.join(" or "),
        found.join(", ")
    )))
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
        T: DeserializeOwned + Serialize + Default + PartialEq + std::fmt::Debug,
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
    fn proto_field_names_are_read_like_json_names_at_every_depth() {
        let snake = br#"{"resource_spans":[{"resource":{"attributes":[{"key":"k","value":{"kvlist_value":{"values":[{"key":"n","value":{"int_value":"7"}}]}}}],"dropped_attributes_count":1},
            "scope_spans":[{"scope":{"name":"s","dropped_attributes_count":2},"schema_url":"u","spans":[{
                "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
                "parent_span_id":"eee19b7ec3c1b175","trace_state":"t=1","name":"n","kind":"SPAN_KIND_SERVER",
                "start_time_unix_nano":"1544712660000000000","end_time_unix_nano":1544712661000000000,
                "attributes":[{"key":"a","value":{"string_value":"x"}},{"key":"b","value":{"bytes_value":"aGk"}},
                              {"key":"c","value":{"array_value":{"values":[{"double_value":1.5},{"bool_value":true}]}}}],
                "dropped_attributes_count":3,"dropped_events_count":4,"dropped_links_count":5,
                "events":[{"time_unix_nano":"1","name":"e","dropped_attributes_count":6}],
                "links":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b176","trace_state":"l","flags":1}],
                "status":{"code":"STATUS_CODE_ERROR","message":"m"},"flags":257
            }]}]}]}"#;
        let camel = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"n","value":{"intValue":"7"}}]}}}],"droppedAttributesCount":1},
            "scopeSpans":[{"scope":{"name":"s","droppedAttributesCount":2},"schemaUrl":"u","spans":[{
                "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
                "parentSpanId":"eee19b7ec3c1b175","traceState":"t=1","name":"n","kind":2,
                "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
                "attributes":[{"key":"a","value":{"stringValue":"x"}},{"key":"b","value":{"bytesValue":"aGk="}},
                              {"key":"c","value":{"arrayValue":{"values":[{"doubleValue":1.5},{"boolValue":true}]}}}],
                "droppedAttributesCount":3,"droppedEventsCount":4,"droppedLinksCount":5,
                "events":[{"timeUnixNano":"1","name":"e","droppedAttributesCount":6}],
                "links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","traceState":"l","flags":1}],
                "status":{"code":2,"message":"m"},"flags":257
            }]}]}]}"#;
        let from_snake: ExportTraceServiceRequest = decode_json(snake).unwrap();
        let from_camel: ExportTraceServiceRequest = decode_json(camel).unwrap();
        assert_eq!(from_snake, from_camel);
        let span = &from_snake.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, 2);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.links[0].span_id.len(), 8);
        assert_eq!(span.events[0].dropped_attributes_count, 6);

        let snake = br#"{"resource_metrics":[{"scope_metrics":[{"metrics":[
            {"name":"s","sum":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","is_monotonic":true,
                "data_points":[{"start_time_unix_nano":"1","time_unix_nano":"2","as_int":"3","flags":1,
                    "exemplars":[{"filtered_attributes":[],"time_unix_nano":"2","as_double":0.5,"span_id":"eee19b7ec3c1b174","trace_id":"5b8efff798038103d269b633813fc60c"}]}]}},
            {"name":"h","histogram":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_DELTA",
                "data_points":[{"time_unix_nano":"2","count":"2","sum":3,"bucket_counts":["1","1"],"explicit_bounds":[1.0],"min":1,"max":2}]}},
            {"name":"e","exponential_histogram":{"aggregation_temporality":1,
                "data_points":[{"time_unix_nano":"2","count":"3","scale":1,"zero_count":"1","zero_threshold":0.1,
                    "positive":{"offset":1,"bucket_counts":["2"]},"negative":{"bucket_counts":[]}}]}},
            {"name":"q","summary":{"data_points":[{"time_unix_nano":"2","count":"1","sum":1,"quantile_values":[{"quantile":0.5,"value":1}]}]}}
        ]}]}]}"#;
        let camel = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"s","sum":{"aggregationTemporality":2,"isMonotonic":true,
                "dataPoints":[{"startTimeUnixNano":"1","timeUnixNano":"2","asInt":"3","flags":1,
                    "exemplars":[{"filteredAttributes":[],"timeUnixNano":"2","asDouble":0.5,"spanId":"eee19b7ec3c1b174","traceId":"5b8efff798038103d269b633813fc60c"}]}]}},
            {"name":"h","histogram":{"aggregationTemporality":1,
                "dataPoints":[{"timeUnixNano":"2","count":"2","sum":3,"bucketCounts":["1","1"],"explicitBounds":[1.0],"min":1,"max":2}]}},
            {"name":"e","exponentialHistogram":{"aggregationTemporality":1,
                "dataPoints":[{"timeUnixNano":"2","count":"3","scale":1,"zeroCount":"1","zeroThreshold":0.1,
                    "positive":{"offset":1,"bucketCounts":["2"]},"negative":{"bucketCounts":[]}}]}},
            {"name":"q","summary":{"dataPoints":[{"timeUnixNano":"2","count":"1","sum":1,"quantileValues":[{"quantile":0.5,"value":1}]}]}}
        ]}]}]}"#;
        let from_snake: ExportMetricsServiceRequest = decode_json(snake).unwrap();
        let from_camel: ExportMetricsServiceRequest = decode_json(camel).unwrap();
        assert_eq!(from_snake, from_camel);
        let metrics = &from_snake.resource_metrics[0].scope_metrics[0].metrics;
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("a sum: {:?}", metrics[0].data);
        };
        assert_eq!(sum.aggregation_temporality, 2);
        assert_eq!(sum.data_points[0].exemplars.len(), 1);
        assert!(matches!(
            &metrics[2].data,
            Some(metric::Data::ExponentialHistogram(e)) if e.data_points[0].zero_count == 1
        ));

        let snake = br#"{"resource_logs":[{"scope_logs":[{"log_records":[{
            "time_unix_nano":"1","observed_time_unix_nano":"2","severity_number":"SEVERITY_NUMBER_WARN",
            "severity_text":"WARN","body":{"string_value":"b"},"dropped_attributes_count":1,"flags":1,
            "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174","event_name":"e"}]}]}]}"#;
        let camel = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{
            "timeUnixNano":"1","observedTimeUnixNano":"2","severityNumber":13,
            "severityText":"WARN","body":{"stringValue":"b"},"droppedAttributesCount":1,"flags":1,
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","eventName":"e"}]}]}]}"#;
        let from_snake: ExportLogsServiceRequest = decode_json(snake).unwrap();
        let from_camel: ExportLogsServiceRequest = decode_json(camel).unwrap();
        assert_eq!(from_snake, from_camel);
        assert_eq!(
            from_snake.resource_logs[0].scope_logs[0].log_records[0].observed_time_unix_nano,
            2
        );
    }

    #[test]
    fn proto_field_names_become_json_names() {
        for (field, json) in [
            ("trace_id", "traceId"),
            ("start_time_unix_nano", "startTimeUnixNano"),
            ("exponential_histogram", "exponentialHistogram"),
            ("traceId", "traceId"),
            ("name", "name"),
        ] {
            assert_eq!(json_name(field), json, "{field}");
        }
    }

    #[test]
    fn a_field_given_in_both_spellings_is_an_error() {
        let json =
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","trace_id":"02"}]}]}]}"#;
        let error = decode_json::<ExportTraceServiceRequest>(json)
            .unwrap_err()
            .to_string();
        assert!(error.contains("traceId is given twice"), "{error}");
    }

    #[test]
    fn enum_names_and_numbers_are_both_read_and_unknown_names_are_named() {
        let span = |kind: &str, code: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"kind":{kind},"status":{{"code":{code}}}}}]}}]}}]}}"#
            )
        };
        for (kind, code, want) in [
            (r#""SPAN_KIND_CONSUMER""#, r#""STATUS_CODE_OK""#, (5, 1)),
            ("5", "1", (5, 1)),
            (
                r#""SPAN_KIND_UNSPECIFIED""#,
                r#""STATUS_CODE_UNSET""#,
                (0, 0),
            ),
        ] {
            let request: ExportTraceServiceRequest =
                decode_json(span(kind, code).as_bytes()).unwrap();
            let span = &request.resource_spans[0].scope_spans[0].spans[0];
            assert_eq!((span.kind, span.status.as_ref().unwrap().code), want);
        }
        for (kind, code, hint) in [
            (
                r#""SERVER""#,
                "0",
                r#"kind "SERVER" is not a value the OTLP proto defines"#,
            ),
            ("0", r#""ERROR""#, r#"code "ERROR""#),
        ] {
            let error = decode_json::<ExportTraceServiceRequest>(span(kind, code).as_bytes())
                .unwrap_err()
                .to_string();
            assert!(error.contains(hint), "{error}");
            assert!(
                error.contains("_UNSPECIFIED") || error.contains("UNSET"),
                "{error}"
            );
        }
        let logs = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_FATAL4"},{"severityNumber":"LOUD"}]}]}]}"#;
        let error = decode_json::<ExportLogsServiceRequest>(logs)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(r#"severityNumber "LOUD""#) && error.contains("SEVERITY_NUMBER_FATAL4"),
            "{error}"
        );
        let metrics = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":"CUMULATIVE"}}]}]}]}"#;
        let error = decode_json::<ExportMetricsServiceRequest>(metrics)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(r#"aggregationTemporality "CUMULATIVE""#),
            "{error}"
        );
    }

    #[test]
    fn a_top_level_object_without_the_signal_key_is_refused_by_name() {
        for (body, expected, found) in [
            (
                &br#"{"resourceSpanz":[{"scopeSpans":[]}]}"#[..],
                "resourceSpans",
                "resourceSpanz",
            ),
            (
                br#"{"resourceMetrics":[]}"#,
                "resourceSpans",
                "resourceMetrics",
            ),
        ] {
            let error = decode_json::<ExportTraceServiceRequest>(body)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!(
                    "expected {expected} at the top level, found only {found}"
                )),
                "{error}"
            );
        }
        // Known and unknown members together: the unknown ones are ignored, as the spec says.
        let request: ExportTraceServiceRequest =
            decode_json(br#"{"resourceSpans":[{}],"futureField":1}"#).unwrap();
        assert_eq!(request.resource_spans.len(), 1);
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
