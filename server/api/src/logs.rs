//! The JSON shapes of otelite's native log API, which the UI uses:
//!
//! - `GET /api/v1/logs?q=&service=&severity=&traceId=&spanId=&tags=&start=&end=&limit=&cursor=&direction=`
//!   → [`LogSearchResponse`]. `q` is free text: each of its words must be a whole word of the
//!   body, ignoring case; a `"quoted phrase"` must appear in the body as written. `service` may repeat (any of them). `severity` is the least severity
//!   name (`trace`, `debug`, `info`, `warn`, `error`, `fatal`) or number (1–24). `tags` are
//!   `key=value` pairs as the trace API reads them, matched against the record's attributes,
//!   then its resource's. `direction` is `backward` (newest first, the default) or `forward`.
//!   `cursor` is a previous response's `next_cursor`: the page after it. Without `start` and
//!   `end` the last hour is searched; `limit` is 1–1000 (100 by default). The range is not
//!   capped: a page costs what it takes to find its records.
//! - `GET /api/v1/logs/volume?<the same filters>&step=` → [`LogVolume`]: how many records match,
//!   per time bucket and severity, and per service (the facets' counts). `step` is a duration
//!   (`30s`, `5m`); by default about 100 buckets of a round width span the range; at most
//!   10,000 buckets.
//! - `GET /api/v1/log-services?start=&end=` → [`crate::traces::Services`]: services with logs.
//!
//! Times are unix nanoseconds as decimal strings, ids lower-case hex, as in the trace API.

use serde::{Deserialize, Serialize};

use crate::traces::{KeyValue, Nanos, Resource, Scope, nanos};

/// `GET /api/v1/logs`: one page of matching records, in the requested direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSearchResponse {
    /// Resources and scopes of the page's records, which name them by index.
    pub resources: Vec<Resource>,
    pub scopes: Vec<Scope>,
    pub records: Vec<LogRecord>,
    /// Pass as `cursor` for the next page; absent when this page was the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The limit applied.
    pub limit: usize,
}

/// One log record, OTLP-faithful.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Where this record lies in the result order; a `cursor` for the records after it.
    pub cursor: String,
    /// Index into [`LogSearchResponse::resources`] / [`LogSearchResponse::scopes`].
    pub resource: usize,
    pub scope: usize,
    /// The record's time: its event time, or its observed time when the event time is unset.
    #[serde(with = "nanos")]
    pub time_unix_nano: Nanos,
    /// The event time as sent (0 when unset).
    #[serde(with = "nanos")]
    pub event_time_unix_nano: Nanos,
    #[serde(with = "nanos")]
    pub observed_time_unix_nano: Nanos,
    /// OTLP `SeverityNumber`, 0 when unset.
    pub severity_number: i32,
    pub severity_text: String,
    pub body: crate::traces::AnyValue,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
    /// 32 hex digits, or empty when the record is not in a trace.
    pub trace_id: String,
    /// 16 hex digits, or empty.
    pub span_id: String,
    pub event_name: String,
}

/// `GET /api/v1/logs/volume`: how many records match the filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogVolume {
    /// The bucket width, nanoseconds.
    #[serde(with = "nanos")]
    pub step_ns: Nanos,
    /// Buckets holding records, in time order; each counts records per [`SEVERITY_CLASSES`].
    pub buckets: Vec<VolumeBucket>,
    /// Matching records per severity class, in [`SEVERITY_CLASSES`] order.
    pub severities: Vec<u64>,
    /// Matching records per service, by name.
    pub services: Vec<ServiceCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeBucket {
    #[serde(with = "nanos")]
    pub start_unix_nano: Nanos,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceCount {
    pub service: String,
    pub count: u64,
}

/// The severity classes counts are given in, by index: `unset` (0), then the OTLP ranges
/// `trace` (1–4), `debug` (5–8), `info` (9–12), `warn` (13–16), `error` (17–20), `fatal` (21–24).
pub const SEVERITY_CLASSES: [&str; 7] =
    ["unset", "trace", "debug", "info", "warn", "error", "fatal"];

/// The class index of an OTLP severity number (see [`SEVERITY_CLASSES`]).
pub fn severity_class(severity_number: i32) -> usize {
    if severity_number <= 0 {
        0
    } else {
        (((severity_number - 1) / 4) as usize + 1).min(SEVERITY_CLASSES.len() - 1)
    }
}

/// The least severity number of the class called `name` (`warn` → 13), ignoring case; also
/// `warning`, `err`, `critical` as loggers spell them.
pub fn severity_from_name(name: &str) -> Option<i32> {
    let class = match name.to_ascii_lowercase().as_str() {
        "trace" => 1,
        "debug" => 2,
        "info" | "information" => 3,
        "warn" | "warning" => 4,
        "error" | "err" => 5,
        "fatal" | "critical" => 6,
        _ => return None,
    };
    Some((class - 1) * 4 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_names_and_classes_agree() {
        for (class, name) in SEVERITY_CLASSES.iter().enumerate().skip(1) {
            let least = severity_from_name(name).unwrap();
            assert_eq!(severity_class(least), class);
            assert_eq!(severity_class(least + 3), class);
        }
        assert_eq!(severity_from_name("WARNING"), Some(13));
        assert_eq!(severity_from_name("loud"), None);
        assert_eq!(severity_class(0), 0);
    }
}
