//! Fixtures shared by the receivers' tests: a state over a store in a temporary directory and
//! small export requests.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otelite_storage::{Store, StoreOptions};

use crate::otlp::TimeWindow;
use crate::state::{AppState, Limits};

/// A state whose store lives in the returned directory (keep it alive for the test). It accepts
/// items of any time, as the fixtures and the official examples are dated in the past.
pub(crate) fn state(max_request_bytes: usize) -> (AppState, tempfile::TempDir) {
    state_with_budget(max_request_bytes, 256 << 20)
}

/// [`state`] with a memory budget of `max_memory` bytes for requests in flight.
pub(crate) fn state_with_budget(
    max_request_bytes: usize,
    max_memory: usize,
) -> (AppState, tempfile::TempDir) {
    build(
        Limits {
            max_request_bytes,
            item_times: TimeWindow::UNBOUNDED,
            ..Limits::default()
        },
        max_memory,
    )
}

/// A state with `limits` whose store lives in the returned directory.
pub(crate) fn state_with(limits: Limits) -> (AppState, tempfile::TempDir) {
    build(limits, 256 << 20)
}

fn build(limits: Limits, max_memory: usize) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path(), StoreOptions::default())
        .expect("the store opens in a fresh directory");
    let state = AppState::new(store, limits, max_memory);
    (state, dir)
}

/// One span per trace id given, each with a valid span id.
pub(crate) fn traces(trace_ids: &[&[u8]]) -> ExportTraceServiceRequest {
    let spans = trace_ids
        .iter()
        .enumerate()
        .map(|(i, trace_id)| Span {
            name: format!("span {i}"),
            trace_id: trace_id.to_vec(),
            span_id: vec![1, 2, 3, 4, 5, 6, 7, i as u8 + 1],
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_100_000_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A valid 16-byte trace id.
pub(crate) const TRACE_ID: &[u8] = &[7; 16];
