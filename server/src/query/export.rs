//! `GET /api/v1/export/{traces|metrics|logs}?start=&end=`: the stored data of one signal in a
//! time range, as an OTLP/JSON export request — the same bytes an SDK would send, so a download
//! can be replayed into any OTLP backend, and the proof that ingest loses nothing.

use std::ops::ControlFlow;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use otelite_api::Signal;
use otelite_storage::{ReadError, TimeRange};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::ApiError;
use crate::otlp;
use crate::state::AppState;

/// Query parameters: unix nanoseconds, `start` inclusive, `end` exclusive; both optional.
#[derive(Debug, Deserialize)]
pub(super) struct RangeParams {
    start: Option<String>,
    end: Option<String>,
}

impl RangeParams {
    fn time_range(&self) -> Result<TimeRange, ApiError> {
        let start = parse_nanos("start", self.start.as_deref())?.unwrap_or(0);
        let end = parse_nanos("end", self.end.as_deref())?.unwrap_or(u64::MAX);
        if start > end {
            return Err(ApiError::BadRequest(format!(
                "start ({start}) is after end ({end}): give start <= end, both in unix nanoseconds"
            )));
        }
        Ok(TimeRange { start, end })
    }
}

fn parse_nanos(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name}={v:?} is not a time: give unix nanoseconds, e.g. {name}=1700000000000000000"
                ))
            })
        })
        .transpose()
}

pub(super) async fn export(
    State(state): State<AppState>,
    Path(signal): Path<String>,
    Query(params): Query<RangeParams>,
) -> Result<Response, ApiError> {
    let range = params.time_range()?;
    let store = state.store;
    let body = match Signal::from_name(&signal) {
        Some(Signal::Traces) => stream_json("resourceSpans", move |visit| {
            store.scan_traces(range, visit)
        }),
        Some(Signal::Metrics) => stream_json("resourceMetrics", move |visit| {
            store.scan_metrics(range, visit)
        }),
        Some(Signal::Logs) => {
            stream_json("resourceLogs", move |visit| store.scan_logs(range, visit))
        }
        None => {
            return Err(ApiError::NotFound(format!(
                "there is no signal {signal:?}: export traces, metrics or logs"
            )));
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Blocks encoded ahead of a slow client; bounds the export's memory to a few blocks.
const EXPORT_BUFFER_BLOCKS: usize = 4;

/// Streams `{"<field>":[group,group,...]}` — an OTLP/JSON export request — from a store scan
/// that runs on the blocking pool and hands over one block's groups at a time. Memory stays at
/// a few blocks whatever the range; a client that goes away stops the scan. A read error after
/// the first bytes were sent can only abort the body, which the client sees as a broken
/// response rather than a truncated but valid-looking document.
fn stream_json<G, Scan>(field: &'static str, scan: Scan) -> Body
where
    G: Serialize + Send + 'static,
    Scan:
        FnOnce(&mut dyn FnMut(Vec<G>) -> ControlFlow<()>) -> Result<(), ReadError> + Send + 'static,
{
    let (chunks, receiver) = mpsc::channel::<std::io::Result<Bytes>>(EXPORT_BUFFER_BLOCKS);
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Vec<u8>| chunks.blocking_send(Ok(Bytes::from(chunk))).is_ok();
        if !send(format!("{{\"{field}\":[").into_bytes()) {
            return;
        }
        let mut first = true;
        let scanned = scan(&mut |groups: Vec<G>| {
            let mut chunk = Vec::new();
            for group in &groups {
                if !std::mem::take(&mut first) {
                    chunk.push(b',');
                }
                chunk.extend_from_slice(&otlp::encode_json(group));
            }
            if send(chunk) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        match scanned {
            Ok(()) => {
                send(b"]}".to_vec());
            }
            Err(e) => {
                tracing::error!("export of {field} failed: {e}");
                let _ = chunks.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async { receiver.recv().await.map(|chunk| (chunk, receiver)) },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(start: Option<&str>, end: Option<&str>) -> RangeParams {
        RangeParams {
            start: start.map(str::to_string),
            end: end.map(str::to_string),
        }
    }

    #[test]
    fn missing_bounds_mean_everything() {
        let range = params(None, Some("")).time_range().unwrap();
        assert_eq!(
            range,
            TimeRange {
                start: 0,
                end: u64::MAX
            }
        );
    }

    #[test]
    fn bad_bounds_are_explained() {
        let err = params(Some("yesterday"), None).time_range().unwrap_err();
        assert!(err.to_string().contains("unix nanoseconds"), "{err}");
        let err = params(Some("10"), Some("5")).time_range().unwrap_err();
        assert!(err.to_string().contains("after end"), "{err}");
    }
}
