//! The JSON shapes of otelite's own query API (`/api/v1/...`).
//!
//! Shared by the server, which serialises them, and the WASM UI, which deserialises them, so the
//! two can never disagree about a field. This crate holds plain serde data only: no tokio, no
//! storage, nothing that would not compile to wasm32 or would bloat the UI.

use serde::{Deserialize, Serialize};

pub mod logs;
pub mod prometheus;
pub mod traces;

/// One of the three OpenTelemetry signals, named as in OTLP paths (`/v1/traces`) and in
/// otelite's API (`/api/v1/export/traces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// All signals, in the order otelite shows them.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The signal called `name` (as [`Signal::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `GET /api/v1/status`: what the server holds and how it is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// otelite's version, e.g. `0.1.0`.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    /// Bytes the store occupies on disk.
    pub disk_bytes: u64,
    /// On-disk format version of the store.
    pub format_version: u32,
    pub traces: SignalStatus,
    pub metrics: SignalStatus,
    pub logs: SignalStatus,
    /// Whether the store can write; `/readyz` answers 503 while it cannot.
    pub writes: WriteHealth,
    /// Uncompressed bytes of trace row blocks waiting for the compactor; 0 once it caught up.
    #[serde(default)]
    pub compaction_backlog_bytes: u64,
}

impl Status {
    /// The counts of `signal`.
    pub fn signal(&self, signal: Signal) -> &SignalStatus {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }
}

/// Counts for one signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalStatus {
    /// Items stored: spans, metric data points or log records.
    pub stored: u64,
    /// Items refused since start (invalid ids and other rejected input), as told to clients in
    /// OTLP `partial_success`, and items of requests that failed as a whole after decoding.
    pub rejected: u64,
    /// Items stored and acknowledged since start.
    #[serde(default)]
    pub accepted: u64,
    /// `rejected` by reason (`invalid`, `too_old`, `too_new`, `overloaded`, `disk_full`, ...),
    /// only the reasons that refused any.
    #[serde(default)]
    pub rejected_by_reason: Vec<ReasonCount>,
    /// Export latency since start (arrival to durable answer), as the upper bounds of the
    /// histogram buckets holding the median and the 99th percentile, in seconds; `None`
    /// before the first export or past the largest bucket.
    #[serde(default)]
    pub ingest_p50_seconds: Option<f64>,
    #[serde(default)]
    pub ingest_p99_seconds: Option<f64>,
}

/// How many items one reason refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// Whether the store can write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteHealth {
    /// True while writes succeed.
    pub ok: bool,
    /// While writes fail: the latest error, a sentence saying what to do (e.g. that the disk is
    /// full and space must be freed). The store keeps retrying and resumes by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// While writes fail: since when, in unix nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since_unix_nano: Option<u64>,
}

/// The body of every error the query API returns, next to a 4xx/5xx status code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A sentence saying what went wrong and what to do about it.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_round_trip() {
        for signal in Signal::ALL {
            assert_eq!(Signal::from_name(signal.name()), Some(signal));
        }
        assert_eq!(Signal::from_name("spans"), None);
    }
}
