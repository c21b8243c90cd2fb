//! What a trace query asks and what it answers: the public types of trace lookup and search.
//!
//! A [`TraceQuery`] matches a trace when one of its spans satisfies every condition at once
//! (service, operation, kind, attributes, status, duration), as Jaeger's search does; results
//! are [`TraceSummary`]s, newest trace first. This module owns only the types and the rules for
//! matching one span; finding spans fast is `trace_index`'s job.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, status};

use crate::TimeRange;

/// A trace id: 16 bytes, never all zero in stored data.
pub type TraceId = [u8; 16];

/// What a trace search looks for. Every condition set must hold for the same span.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceQuery {
    /// Span start times to search; a trace is found when a matching span starts in it.
    pub range: TimeRange,
    /// `service.name` of the span's resource.
    pub service: Option<String>,
    /// The span's name.
    pub operation: Option<String>,
    /// OTLP `SpanKind` number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub span_kind: Option<i32>,
    /// `key = value` pairs that must all hold for the span: each key is looked up among the
    /// span's attributes, then its resource's. Values compare as text: an int attribute `500`
    /// matches `"500"`, a bool `true` matches `"true"`.
    pub attributes: Vec<(String, String)>,
    /// Only spans whose status is ERROR.
    pub errors_only: bool,
    /// Inclusive bounds on the span's duration in nanoseconds.
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    /// At most this many traces (the newest ones).
    pub limit: usize,
}

impl TraceQuery {
    /// A query for the newest `limit` traces starting in `range`, with no other condition.
    pub fn new(range: TimeRange, limit: usize) -> TraceQuery {
        TraceQuery {
            range,
            service: None,
            operation: None,
            span_kind: None,
            attributes: Vec::new(),
            errors_only: false,
            min_duration_ns: None,
            max_duration_ns: None,
            limit,
        }
    }

    /// Whether `span`, of a resource whose `service.name` is `service` and whose attributes are
    /// `resource`, satisfies every condition but the time range.
    pub(crate) fn matches(&self, service: &str, resource: &[KeyValue], span: &Span) -> bool {
        if self.service.as_deref().is_some_and(|s| s != service)
            || self.operation.as_deref().is_some_and(|o| o != span.name)
            || self.span_kind.is_some_and(|k| k != span.kind)
            || (self.errors_only && !is_error(span))
        {
            return false;
        }
        let duration = duration_ns(span);
        if self.min_duration_ns.is_some_and(|min| duration < min)
            || self.max_duration_ns.is_some_and(|max| duration > max)
        {
            return false;
        }
        self.attributes.iter().all(|(key, value)| {
            let found = span
                .attributes
                .iter()
                .chain(resource)
                .find(|kv| kv.key == *key);
            found.is_some_and(|kv| {
                let mut equal = false;
                with_value_text(kv.value.as_ref(), |text| equal = text == value.as_bytes());
                equal
            })
        })
    }
}

/// One trace as a result list shows it, without its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// Service and name of the root span (the span without a parent), or, when the root has not
    /// arrived, of the earliest span.
    pub root_service: String,
    pub root_name: String,
    /// Whether a span without a parent was found.
    pub has_root: bool,
    /// Earliest span start and latest span end, unix ns.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub span_count: u64,
    /// Spans whose status is ERROR.
    pub error_count: u64,
    /// Each service in the trace with its number of spans, by name.
    pub services: Vec<(String, u64)>,
}

/// One span name of one service, with the span kind it was seen with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub service: String,
    pub name: String,
    /// OTLP `SpanKind` number.
    pub span_kind: i32,
}

/// A span's duration; a span that ends before it starts lasts 0.
pub(crate) fn duration_ns(span: &Span) -> u64 {
    span.end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)
}

pub(crate) fn is_error(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|s| s.code == status::StatusCode::Error as i32)
}

/// The `service.name` among resource attributes, or `""`.
pub fn service_name(resource: &[KeyValue]) -> &str {
    resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// Calls `f` with an attribute value's text, the way a query's `key=value` compares with it and
/// search filters index it: strings as they are, bools as `true`/`false`, ints and doubles as
/// they print; other values (arrays, maps, bytes, unset) have no text and `f` is not called.
/// Strings, bools and ints need no allocation.
pub(crate) fn with_value_text(value: Option<&AnyValue>, f: impl FnOnce(&[u8])) {
    use std::io::Write;
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return;
    };
    match value {
        any_value::Value::StringValue(s) => f(s.as_bytes()),
        any_value::Value::BoolValue(b) => f(if *b { b"true" } else { b"false" }),
        any_value::Value::IntValue(i) => {
            let mut buffer = [0u8; 24];
            let mut cursor = std::io::Cursor::new(&mut buffer[..]);
            let _ = write!(cursor, "{i}");
            let len = cursor.position() as usize;
            f(&buffer[..len]);
        }
        any_value::Value::DoubleValue(d) => f(d.to_string().as_bytes()),
        _ => {}
    }
}
