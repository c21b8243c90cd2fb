//! The JSON shapes of otelite's own query API (`/api/v1/...`).
//!
//! Shared by the server, which serialises them, and the WASM UI, which deserialises them, so the
//! two can never disagree about a field. This crate holds plain serde data only: no tokio, no
//! storage, nothing that would not compile to wasm32 or would bloat the UI.

use serde::{Deserialize, Serialize};

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
}

/// Counts for one signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalStatus {
    /// Items stored: spans, metric data points or log records.
    pub stored: u64,
    /// Items refused since start (invalid ids and other rejected input), as told to clients in
    /// OTLP `partial_success`.
    pub rejected: u64,
}

/// The body of every error the query API returns, next to a 4xx/5xx status code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A sentence saying what went wrong and what to do about it.
    pub error: String,
}
