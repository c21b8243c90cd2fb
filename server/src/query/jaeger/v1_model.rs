//! OTLP → the JSON trace model of Jaeger's v1 HTTP API (Jaeger's `model/json`, "uimodel"),
//! which Grafana's Jaeger data source reads.
//!
//! The mapping is the one Jaeger applies (the OpenTelemetry Collector's `pkg/translator/jaeger`
//! `ProtoFromTraces`, then Jaeger's `FromDomain`):
//! - each resource is a process (`serviceName` from `service.name`, the other attributes as
//!   tags; a resource without attributes is `OTLPResourceNoServiceName`); equal processes share
//!   one key, `p1`, `p2`, ... in order of first use;
//! - span tags are, in order: `otel.scope.name`, `otel.scope.version`, the span's attributes,
//!   `span.kind`, `otel.status_code` (`OK`/`ERROR`), `error=true` (bool), `otel.status_description`,
//!   `w3c.tracestate`;
//! - the parent is the first reference (`CHILD_OF`), links follow as `FOLLOWS_FROM` (or
//!   `CHILD_OF` when the link's `opentracing.ref_type` attribute says `child_of`; a link to the
//!   parent only sets the parent reference's type);
//! - events are logs: an `event` field with the name (unless an attribute is called `event`),
//!   then the attributes;
//! - times and durations are microseconds, truncated;
//! - tag types are `string`, `bool`, `int64` (a string beyond ±2^53-1, which JavaScript cannot
//!   hold), `float64`, `binary` (base64); arrays and maps are `string`s holding their JSON;
//! - trace ids whose high 8 bytes are zero print as 16 hex digits, others as 32; span ids as 16.
//!
//! Not done (Jaeger's query service does these with its "adjusters", and only for data from
//! old clients): clock-skew correction, span-id deduplication, sorting of attributes.

use std::collections::BTreeMap;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span, span, status};
use serde::Serialize;
use serde_json::Value;

use crate::query::traces::params::hex;
use otelite_storage::service_name;

/// What Jaeger names a process whose resource has no attributes.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// JavaScript's largest exact integer; larger `int64` tags travel as strings.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JaegerTrace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<JaegerSpan>,
    pub processes: BTreeMap<String, Process>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JaegerSpan {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub operation_name: String,
    pub references: Vec<Reference>,
    /// Microseconds since the epoch.
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reference {
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Process {
    pub service_name: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Tag {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Value,
}

#[derive(Debug, Serialize)]
pub(crate) struct Log {
    pub timestamp: u64,
    pub fields: Vec<Tag>,
}

/// A Jaeger trace id as Jaeger prints it.
pub(crate) fn trace_id_text(id: &[u8]) -> String {
    match id {
        [0, 0, 0, 0, 0, 0, 0, 0, low @ ..] if low.len() == 8 => hex(low),
        _ => hex(id),
    }
}

/// One trace in Jaeger's JSON, spans in stored order.
pub(crate) fn trace(trace_id: &[u8; 16], groups: &[ResourceSpans]) -> JaegerTrace {
    let mut processes: Vec<Process> = Vec::new();
    let mut spans = Vec::new();
    for group in groups {
        let process = process(group.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let index = match processes.iter().position(|p| p.same_as(&process)) {
            Some(i) => i,
            None => {
                processes.push(process);
                processes.len() - 1
            }
        };
        let process_id = format!("p{}", index + 1);
        for scope_spans in &group.scope_spans {
            let scope = scope_spans.scope.as_ref();
            let mut scope_tags = Vec::new();
            if let Some(name) = scope.map(|s| &s.name).filter(|n| !n.is_empty()) {
                scope_tags.push(string_tag("otel.scope.name", name));
            }
            if let Some(version) = scope.map(|s| &s.version).filter(|v| !v.is_empty()) {
                scope_tags.push(string_tag("otel.scope.version", version));
            }
            for s in &scope_spans.spans {
                spans.push(self::span(s, &scope_tags, &process_id));
            }
        }
    }
    JaegerTrace {
        trace_id: trace_id_text(trace_id),
        spans,
        processes: processes
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("p{}", i + 1), p))
            .collect(),
        warnings: None,
    }
}

impl Process {
    /// Whether two processes are one: the same service and the same tags in any order (SDKs
    /// keep resource attributes in hash maps, so two exports may order them differently).
    fn same_as(&self, other: &Process) -> bool {
        fn sorted(p: &Process) -> Vec<(&str, &str, String)> {
            let mut tags: Vec<_> = p
                .tags
                .iter()
                .map(|t| (t.key.as_str(), t.kind, t.value.to_string()))
                .collect();
            tags.sort();
            tags
        }
        self.service_name == other.service_name && sorted(self) == sorted(other)
    }
}

fn process(attributes: &[KeyValue]) -> Process {
    if attributes.is_empty() {
        return Process {
            service_name: NO_SERVICE_NAME.to_string(),
            tags: Vec::new(),
        };
    }
    Process {
        service_name: service_name(attributes).to_string(),
        tags: attributes
            .iter()
            .filter(|kv| kv.key != "service.name")
            .map(tag)
            .collect(),
    }
}

fn span(s: &Span, scope_tags: &[Tag], process_id: &str) -> JaegerSpan {
    let mut tags = scope_tags.to_vec();
    tags.extend(s.attributes.iter().map(tag));
    let kind = match s.kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    };
    if let Some(kind) = kind {
        tags.push(string_tag("span.kind", kind));
    }
    let status = s.status.as_ref();
    match status.map(|st| st.code) {
        Some(c) if c == status::StatusCode::Ok as i32 => {
            tags.push(string_tag("otel.status_code", "OK"));
        }
        Some(c) if c == status::StatusCode::Error as i32 => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(Tag {
                key: "error".into(),
                kind: "bool",
                value: Value::Bool(true),
            });
        }
        _ => {}
    }
    if let Some(message) = status.map(|st| &st.message).filter(|m| !m.is_empty()) {
        tags.push(string_tag("otel.status_description", message));
    }
    if !s.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &s.trace_state));
    }
    let start_ns = s.start_time_unix_nano;
    JaegerSpan {
        trace_id: trace_id_text(&s.trace_id),
        span_id: hex(&s.span_id),
        operation_name: s.name.clone(),
        references: references(s),
        start_time: start_ns / 1_000,
        duration: s.end_time_unix_nano.saturating_sub(start_ns) / 1_000,
        tags,
        logs: s.events.iter().map(log).collect(),
        process_id: process_id.to_string(),
        warnings: None,
    }
}

fn references(s: &Span) -> Vec<Reference> {
    let has_parent = !s.parent_span_id.is_empty() && s.parent_span_id.iter().any(|&b| b != 0);
    let mut refs = Vec::new();
    if has_parent {
        refs.push(Reference {
            ref_type: "CHILD_OF",
            trace_id: trace_id_text(&s.trace_id),
            span_id: hex(&s.parent_span_id),
        });
    }
    for link in &s.links {
        let ref_type = link_ref_type(link);
        if has_parent && link.trace_id == s.trace_id && link.span_id == s.parent_span_id {
            // A link to the parent says what kind of parent it is.
            refs[0].ref_type = ref_type;
            continue;
        }
        refs.push(Reference {
            ref_type,
            trace_id: trace_id_text(&link.trace_id),
            span_id: hex(&link.span_id),
        });
    }
    refs
}

fn link_ref_type(link: &span::Link) -> &'static str {
    let child_of = link.attributes.iter().any(|kv| {
        kv.key == "opentracing.ref_type"
            && matches!(
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
                Some(any_value::Value::StringValue(s)) if s == "child_of"
            )
    });
    if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" }
}

fn log(event: &span::Event) -> Log {
    let mut fields = Vec::new();
    if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == "event") {
        fields.push(string_tag("event", &event.name));
    }
    fields.extend(event.attributes.iter().map(tag));
    Log {
        timestamp: event.time_unix_nano / 1_000,
        fields,
    }
}

fn string_tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_string(),
        kind: "string",
        value: Value::String(value.to_string()),
    }
}

fn tag(kv: &KeyValue) -> Tag {
    use any_value::Value as V;
    let (kind, value) = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        // A profiles-dictionary index means nothing in a trace: as good as no value.
        None | Some(V::StringValueStrindex(_)) => ("string", Value::String(String::new())),
        Some(V::StringValue(s)) => ("string", Value::String(s.clone())),
        Some(V::BoolValue(b)) => ("bool", Value::Bool(*b)),
        Some(V::IntValue(i)) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
            ("int64", Value::from(*i))
        }
        Some(V::IntValue(i)) => ("int64", Value::String(i.to_string())),
        Some(V::DoubleValue(d)) => ("float64", Value::from(*d)),
        Some(V::BytesValue(b)) => ("binary", Value::String(base64_text(b))),
        Some(other @ (V::ArrayValue(_) | V::KvlistValue(_))) => {
            ("string", Value::String(raw_json(other).to_string()))
        }
    };
    Tag {
        key: kv.key.clone(),
        kind,
        value,
    }
}

fn base64_text(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An attribute value as plain JSON, which is how Jaeger writes arrays and maps into string
/// tags (`["a","b"]`, `{"k":1}`; map keys sorted, bytes in base64).
fn raw_json(value: &any_value::Value) -> Value {
    use any_value::Value as V;
    let of = |v: &AnyValue| v.value.as_ref().map_or(Value::Null, raw_json);
    match value {
        V::StringValue(s) => Value::String(s.clone()),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::from(*i),
        V::DoubleValue(d) => Value::from(*d),
        V::BytesValue(b) => Value::String(base64_text(b)),
        V::StringValueStrindex(_) => Value::Null,
        V::ArrayValue(a) => Value::Array(a.values.iter().map(of).collect()),
        V::KvlistValue(m) => {
            // Go writes map keys sorted, whatever order serde_json's map keeps.
            let sorted: BTreeMap<&str, Value> = m
                .values
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_ref().map_or(Value::Null, of)))
                .collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;
    use crate::otlp::decode_json;
    use crate::query::jaeger::tests::testdata;

    fn convert(input: &str) -> Vec<JaegerTrace> {
        let request: ExportTraceServiceRequest = decode_json(testdata(input).as_bytes()).unwrap();
        let groups = request.resource_spans;
        let id: [u8; 16] = groups[0].scope_spans[0].spans[0]
            .trace_id
            .clone()
            .try_into()
            .unwrap();
        vec![trace(&id, &groups)]
    }

    fn assert_golden(name: &str) {
        let traces = convert(&format!("v1/{name}-in.json"));
        let got = serde_json::to_value(super::super::v1::Envelope::traces(traces, None)).unwrap();
        let want: Value = serde_json::from_str(&testdata(&format!("v1/{name}-out.json"))).unwrap();
        assert_eq!(
            got,
            want,
            "{name}: got {}",
            serde_json::to_string_pretty(&got).unwrap()
        );
    }

    /// The shape of Jaeger's own OTLP → v1 fixture (`fixture/otlp2jaeger-{in,out}.json`): a
    /// scope name, plain attributes, a server span with an empty status, one process.
    #[test]
    fn a_server_span_as_in_jaegers_fixture() {
        assert_golden("server-span");
    }

    /// Every OTLP feature the translator maps, against a golden file written from the rules in
    /// this module's documentation.
    #[test]
    fn every_mapped_feature() {
        assert_golden("features");
    }

    #[test]
    fn trace_ids_print_as_jaeger_prints_them() {
        let mut id = [0u8; 16];
        id[15] = 1;
        assert_eq!(trace_id_text(&id), "0000000000000001");
        id[7] = 2;
        assert_eq!(trace_id_text(&id), "00000000000000020000000000000001");
    }
}
