//! The JSON shapes of otelite's native trace API, which the UI uses:
//!
//! - `GET /api/v1/traces?service=&operation=&kind=&tags=&minDuration=&maxDuration=&start=&end=&limit=`
//!   → [`TraceSearchResponse`] (newest first);
//! - `GET /api/v1/traces/{trace_id}` → [`Trace`] (404 when unknown);
//! - `GET /api/v1/traces/{trace_id}/otlp` → the trace as OTLP/JSON `TracesData` (download);
//! - `GET /api/v1/trace-services` → [`Services`];
//! - `GET /api/v1/trace-operations?service=` → [`Operations`].
//!
//! Ids are lower-case hex, times unix nanoseconds as decimal strings (JSON numbers lose
//! precision past 2^53, and nanosecond times are past it).

use serde::{Deserialize, Serialize};

/// Unix nanoseconds, serialised as a decimal string.
pub type Nanos = u64;

/// `GET /api/v1/traces`: the traces found, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSearchResponse {
    pub traces: Vec<TraceSummary>,
    /// The limit applied; when `traces.len() == limit` there may be more.
    pub limit: usize,
}

/// A trace as result lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    pub root_service: String,
    pub root_name: String,
    /// False while the trace's root span has not arrived (the root fields then name the
    /// earliest span).
    pub has_root: bool,
    #[serde(with = "nanos")]
    pub start_unix_nano: Nanos,
    #[serde(with = "nanos")]
    pub duration_ns: Nanos,
    pub span_count: u64,
    pub error_count: u64,
    /// Every service of the trace with its span count, by name.
    pub services: Vec<ServiceSpans>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpans {
    pub service: String,
    pub spans: u64,
}

/// `GET /api/v1/traces/{trace_id}`: every stored span of one trace, OTLP-faithful but flat:
/// each span names its resource and scope by index, so a 10,000-span trace does not repeat them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub trace_id: String,
    pub resources: Vec<Resource>,
    pub scopes: Vec<Scope>,
    /// Sorted by start time.
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// `service.name`, or `""`.
    pub service: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub schema_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Index into [`Trace::resources`].
    pub resource: usize,
    /// Index into [`Trace::scopes`].
    pub scope: usize,
    /// 16 lower-case hex digits.
    pub span_id: String,
    /// `""` for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    #[serde(with = "nanos")]
    pub start_unix_nano: Nanos,
    #[serde(with = "nanos")]
    pub end_unix_nano: Nanos,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    pub status: Status,
    pub trace_state: String,
    pub flags: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// The kind of OTLP `SpanKind` number `n` (unknown numbers are `Unspecified`).
    pub fn from_otlp(n: i32) -> SpanKind {
        match n {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// The OTLP `SpanKind` number.
    pub fn to_otlp(self) -> i32 {
        self as i32
    }

    /// `internal`, `server`, ... as in query strings (`kind=server`).
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    pub fn from_name(name: &str) -> Option<SpanKind> {
        (0..=5)
            .map(SpanKind::from_otlp)
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "nanos")]
    pub time_unix_nano: Nanos,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

/// An OTLP attribute value, keeping its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum AnyValue {
    Empty,
    String(String),
    Bool(bool),
    /// As a decimal string: JSON numbers cannot hold every i64.
    Int(#[serde(with = "int64")] i64),
    Double(f64),
    /// Lower-case hex.
    Bytes(String),
    Array(Vec<AnyValue>),
    Map(Vec<KeyValue>),
}

/// `GET /api/v1/trace-services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Services {
    pub services: Vec<String>,
}

/// `GET /api/v1/trace-operations?service=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operations {
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
}

/// Why search tags text (`key=value` pairs) cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagsError {
    /// A key without `=` and a value.
    NoValue { key: String },
    /// An `=` with nothing before it.
    NoKey,
    /// A quoted value that does not end.
    UnclosedQuote { key: String },
    /// A quoted value followed by more text without a space.
    TextAfterQuote { key: String },
}

/// Search tags as the API reads them and the UI writes them: `key=value` pairs separated by
/// spaces; a value may be double-quoted to hold spaces, with `\"` and `\\` inside.
pub fn parse_tags(text: &str) -> Result<Vec<(String, String)>, TagsError> {
    let mut tags = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(tags);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') {
            return Err(TagsError::NoValue { key });
        }
        if key.is_empty() {
            return Err(TagsError::NoKey);
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(TagsError::UnclosedQuote { key }),
                    },
                    Some(c) => value.push(c),
                    None => return Err(TagsError::UnclosedQuote { key }),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err(TagsError::TextAfterQuote { key });
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        tags.push((key, value));
    }
}

/// Serde for `u64` nanoseconds as decimal strings (numbers are accepted too).
pub mod nanos {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        match Either::deserialize(d)? {
            Either::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Either::Number(n) => Ok(n),
        }
    }
}

/// Serde for `i64` as decimal strings (numbers are accepted too).
mod int64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Either::Number(n) => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_kinds_round_trip() {
        for n in 0..=5 {
            let kind = SpanKind::from_otlp(n);
            assert_eq!(kind.to_otlp(), n);
            assert_eq!(SpanKind::from_name(kind.name()), Some(kind));
        }
    }

    #[test]
    fn large_numbers_travel_as_strings() {
        let value = AnyValue::Int(i64::MIN);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"{"type":"int","value":"-9223372036854775808"}"#);
        assert_eq!(serde_json::from_str::<AnyValue>(&json).unwrap(), value);
    }
}
