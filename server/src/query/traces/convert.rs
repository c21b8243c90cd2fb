//! OTLP → otelite's trace DTOs (`otelite_api::traces`), in one place: the flat [`Trace`] with
//! resources and scopes deduplicated by index ([`SharedParts`], which the log API's pages use
//! too), summaries, operations and attribute values.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, span, status};
use otelite_api::traces as api;
use otelite_storage::service_name;
use prost::Message;

use super::params::hex;

/// The flat DTO of one trace's stored spans: identical resources (and scopes) appear once and
/// spans point at them by index; spans are sorted by start time (then span id).
pub(crate) fn trace(trace_id: &[u8; 16], groups: &[ResourceSpans]) -> api::Trace {
    let mut shared = SharedParts::default();
    let mut spans = Vec::new();
    for group in groups {
        let resource = shared.resource(group.resource.as_ref(), &group.schema_url);
        for scope_spans in &group.scope_spans {
            let scope = shared.scope(scope_spans.scope.as_ref(), &scope_spans.schema_url);
            spans.extend(
                scope_spans
                    .spans
                    .iter()
                    .map(|s| self::span(resource, scope, s)),
            );
        }
    }
    spans.sort_by(|a, b| (a.start_unix_nano, &a.span_id).cmp(&(b.start_unix_nano, &b.span_id)));
    api::Trace {
        trace_id: hex(trace_id),
        resources: shared.resources,
        scopes: shared.scopes,
        spans,
    }
}

/// The resources and scopes of a flat DTO (a trace, a page of log records), each identical one
/// listed once, for items to name by index.
#[derive(Default)]
pub(crate) struct SharedParts {
    pub resources: Vec<api::Resource>,
    pub scopes: Vec<api::Scope>,
    resource_index: HashMap<Vec<u8>, usize>,
    scope_index: HashMap<Vec<u8>, usize>,
}

impl SharedParts {
    /// The index of `resource` in [`SharedParts::resources`], adding it if it is new.
    pub(crate) fn resource(&mut self, resource: Option<&Resource>, schema_url: &str) -> usize {
        let key = identity(
            resource.cloned().map(|mut r| {
                r.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                r
            }),
            schema_url,
        );
        *self.resource_index.entry(key).or_insert_with(|| {
            self.resources.push(self::resource(resource, schema_url));
            self.resources.len() - 1
        })
    }

    /// The index of `scope` in [`SharedParts::scopes`], adding it if it is new.
    pub(crate) fn scope(
        &mut self,
        scope: Option<&InstrumentationScope>,
        schema_url: &str,
    ) -> usize {
        let key = identity(
            scope.cloned().map(|mut s| {
                s.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                s
            }),
            schema_url,
        );
        *self.scope_index.entry(key).or_insert_with(|| {
            self.scopes.push(self::scope(scope, schema_url));
            self.scopes.len() - 1
        })
    }
}

/// What makes two resources (or scopes) the same: their protobuf bytes, attributes sorted by key
/// (SDKs keep resource attributes in hash maps, so two exports of one process may order them
/// differently), and the schema URL. Attributes hold doubles, so the DTOs cannot be hashed.
fn identity<M: Message>(message: Option<M>, schema_url: &str) -> Vec<u8> {
    let mut key = message.map(|m| m.encode_to_vec()).unwrap_or_default();
    key.extend_from_slice(schema_url.as_bytes());
    key
}

fn resource(resource: Option<&Resource>, schema_url: &str) -> api::Resource {
    let attributes = resource.map_or(&[][..], |r| &r.attributes);
    api::Resource {
        service: service_name(attributes).to_string(),
        attributes: key_values(attributes),
        dropped_attributes_count: resource.map_or(0, |r| r.dropped_attributes_count),
        schema_url: schema_url.to_string(),
    }
}

fn scope(scope: Option<&InstrumentationScope>, schema_url: &str) -> api::Scope {
    api::Scope {
        name: scope.map(|s| s.name.clone()).unwrap_or_default(),
        version: scope.map(|s| s.version.clone()).unwrap_or_default(),
        attributes: scope.map(|s| key_values(&s.attributes)).unwrap_or_default(),
        schema_url: schema_url.to_string(),
    }
}

fn span(
    resource: usize,
    scope: usize,
    s: &opentelemetry_proto::tonic::trace::v1::Span,
) -> api::Span {
    let status = s.status.as_ref();
    api::Span {
        resource,
        scope,
        span_id: hex(&s.span_id),
        parent_span_id: hex(&s.parent_span_id),
        name: s.name.clone(),
        kind: api::SpanKind::from_otlp(s.kind),
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s.events.iter().map(event).collect(),
        dropped_events_count: s.dropped_events_count,
        links: s.links.iter().map(link).collect(),
        dropped_links_count: s.dropped_links_count,
        status: api::Status {
            code: match status.map(|s| s.code) {
                Some(c) if c == status::StatusCode::Ok as i32 => api::StatusCode::Ok,
                Some(c) if c == status::StatusCode::Error as i32 => api::StatusCode::Error,
                _ => api::StatusCode::Unset,
            },
            message: status.map(|s| s.message.clone()).unwrap_or_default(),
        },
        trace_state: s.trace_state.clone(),
        flags: s.flags,
    }
}

fn event(e: &span::Event) -> api::Event {
    api::Event {
        time_unix_nano: e.time_unix_nano,
        name: e.name.clone(),
        attributes: key_values(&e.attributes),
        dropped_attributes_count: e.dropped_attributes_count,
    }
}

fn link(l: &span::Link) -> api::Link {
    api::Link {
        trace_id: hex(&l.trace_id),
        span_id: hex(&l.span_id),
        trace_state: l.trace_state.clone(),
        attributes: key_values(&l.attributes),
        dropped_attributes_count: l.dropped_attributes_count,
        flags: l.flags,
    }
}

pub(crate) fn key_values(kvs: &[KeyValue]) -> Vec<api::KeyValue> {
    kvs.iter()
        .map(|kv| api::KeyValue {
            key: kv.key.clone(),
            value: any_value_dto(kv.value.as_ref()),
        })
        .collect()
}

pub(crate) fn any_value_dto(value: Option<&AnyValue>) -> api::AnyValue {
    use any_value::Value;
    match value.and_then(|v| v.value.as_ref()) {
        // An index into a profiles dictionary, which traces have none of.
        None | Some(Value::StringValueStrindex(_)) => api::AnyValue::Empty,
        Some(Value::StringValue(s)) => api::AnyValue::String(s.clone()),
        Some(Value::BoolValue(b)) => api::AnyValue::Bool(*b),
        Some(Value::IntValue(i)) => api::AnyValue::Int(*i),
        Some(Value::DoubleValue(d)) => api::AnyValue::Double(*d),
        Some(Value::BytesValue(b)) => api::AnyValue::Bytes(hex(b)),
        Some(Value::ArrayValue(a)) => {
            api::AnyValue::Array(a.values.iter().map(|v| any_value_dto(Some(v))).collect())
        }
        Some(Value::KvlistValue(m)) => api::AnyValue::Map(key_values(&m.values)),
    }
}

pub(crate) fn summary(s: &otelite_storage::TraceSummary) -> api::TraceSummary {
    api::TraceSummary {
        trace_id: hex(&s.trace_id),
        root_service: s.root_service.clone(),
        root_name: s.root_name.clone(),
        has_root: s.has_root,
        start_unix_nano: s.start_unix_nano,
        duration_ns: s.end_unix_nano.saturating_sub(s.start_unix_nano),
        span_count: s.span_count,
        error_count: s.error_count,
        services: s
            .services
            .iter()
            .map(|(service, spans)| api::ServiceSpans {
                service: service.clone(),
                spans: *spans,
            })
            .collect(),
    }
}

pub(crate) fn operation(op: &otelite_storage::Operation) -> api::Operation {
    api::Operation {
        service: op.service.clone(),
        name: op.name.clone(),
        kind: api::SpanKind::from_otlp(op.span_kind),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span, Status};

    use super::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn group(service: &str, scope: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue(service.into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }
    }

    fn span_at(id: u8, parent: u8, start: u64) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![0, 0, 0, 0, 0, 0, 0, parent]
            },
            name: format!("span {id}"),
            kind: 2,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10,
            ..Default::default()
        }
    }

    #[test]
    fn resources_and_scopes_are_shared_by_index_and_spans_sorted() {
        // Two exports from frontend (a late span arrives in its own group), one from payment.
        let groups = [
            group("frontend", "http", vec![span_at(2, 1, 200)]),
            group("payment", "http", vec![span_at(3, 2, 150)]),
            group("frontend", "http", vec![span_at(1, 0, 100)]),
        ];
        let trace = trace(&[1; 16], &groups);
        assert_eq!(trace.trace_id, "01010101010101010101010101010101");
        let services: Vec<_> = trace.resources.iter().map(|r| r.service.as_str()).collect();
        assert_eq!(services, ["frontend", "payment"]);
        assert_eq!(trace.scopes.len(), 1, "the same scope in every group");
        let order: Vec<_> = trace
            .spans
            .iter()
            .map(|s| (s.span_id.as_str(), s.resource, s.parent_span_id.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("0000000000000001", 0, ""),
                ("0000000000000003", 1, "0000000000000002"),
                ("0000000000000002", 0, "0000000000000001"),
            ]
        );
    }

    #[test]
    fn every_field_and_value_type_converts() {
        let mut s = span_at(1, 0, 5);
        s.attributes = vec![
            kv("s", any_value::Value::StringValue("text".into())),
            kv("b", any_value::Value::BoolValue(true)),
            kv("i", any_value::Value::IntValue(i64::MIN)),
            kv("d", any_value::Value::DoubleValue(2.5)),
            kv("x", any_value::Value::BytesValue(vec![0xde, 0xad])),
            kv(
                "a",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "m",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", any_value::Value::StringValue("v".into()))],
                }),
            ),
            KeyValue {
                key: "empty".into(),
                value: None,
                ..Default::default()
            },
        ];
        s.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: "card declined".into(),
        });
        s.events = vec![span::Event {
            time_unix_nano: 7,
            name: "exception".into(),
            attributes: vec![kv(
                "exception.type",
                any_value::Value::StringValue("E".into()),
            )],
            dropped_attributes_count: 1,
        }];
        s.links = vec![span::Link {
            trace_id: vec![2; 16],
            span_id: vec![3; 8],
            trace_state: "a=b".into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            flags: 0x301,
        }];
        s.trace_state = "k=v".into();
        s.flags = 0x101;
        let trace = trace(&[1; 16], &[group("svc", "lib", vec![s])]);
        let json = serde_json::to_value(&trace.spans[0]).unwrap();
        let expected = serde_json::json!({
            "resource": 0, "scope": 0,
            "span_id": "0000000000000001", "parent_span_id": "",
            "name": "span 1", "kind": "server",
            "start_unix_nano": "5", "end_unix_nano": "15",
            "attributes": [
                {"key": "s", "value": {"type": "string", "value": "text"}},
                {"key": "b", "value": {"type": "bool", "value": true}},
                {"key": "i", "value": {"type": "int", "value": "-9223372036854775808"}},
                {"key": "d", "value": {"type": "double", "value": 2.5}},
                {"key": "x", "value": {"type": "bytes", "value": "dead"}},
                {"key": "a", "value": {"type": "array", "value": [{"type": "int", "value": "1"}]}},
                {"key": "m", "value": {"type": "map", "value": [
                    {"key": "k", "value": {"type": "string", "value": "v"}}]}},
                {"key": "empty", "value": {"type": "empty"}}
            ],
            "dropped_attributes_count": 0,
            "events": [{"time_unix_nano": "7", "name": "exception", "attributes": [
                {"key": "exception.type", "value": {"type": "string", "value": "E"}}],
                "dropped_attributes_count": 1}],
            "dropped_events_count": 0,
            "links": [{"trace_id": "02020202020202020202020202020202", "span_id": "0303030303030303",
                "trace_state": "a=b", "attributes": [], "dropped_attributes_count": 0, "flags": 769}],
            "dropped_links_count": 0,
            "status": {"code": "error", "message": "card declined"},
            "trace_state": "k=v",
            "flags": 257
        });
        assert_eq!(json, expected);
        assert_eq!(trace.scopes[0].name, "lib");
        assert_eq!(trace.scopes[0].version, "1.0");
    }
}
