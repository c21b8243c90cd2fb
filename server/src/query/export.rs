//! `GET /api/v1/export/{traces|metrics|logs}?start=&end=`: the stored data of one signal in a
//! time range, as an OTLP/JSON export request — the same bytes an SDK would send, so a download
//! can be replayed into any OTLP backend, and the proof that ingest loses nothing.

use std::ops::ControlFlow;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use otelite_api::Signal;
use otelite_storage::{ReadError, TimeRange};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};

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
    let stall = state.limits.max_client_stall;
    let body = match Signal::from_name(&signal) {
        Some(Signal::Traces) => stream_json("resourceSpans", stall, move |visit| {
            store.scan_traces(range, visit)
        }),
        Some(Signal::Metrics) => stream_json("resourceMetrics", stall, move |visit| {
            store.scan_metrics(range, visit)
        }),
        Some(Signal::Logs) => stream_json("resourceLogs", stall, move |visit| {
            store.scan_logs(range, visit)
        }),
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

/// Why an export stopped sending before its end.
enum Stop {
    /// The client read nothing for the stall timeout.
    Stalled,
    /// The client went away (the body was dropped).
    ClientGone,
}

/// Streams `{"<field>":[group,group,...]}` — an OTLP/JSON export request — from a store scan
/// that runs on the blocking pool and hands over one block's groups at a time. Memory stays at
/// a few blocks whatever the range; a client that goes away stops the scan, and so does one that
/// reads nothing for `stall` (the scan holds no read transaction while it waits, but it would
/// hold a blocking thread). A read error, or giving up on a stalled client, after the first
/// bytes were sent can only abort the body, which the client sees as a broken response rather
/// than a truncated but valid-looking document.
fn stream_json<G, Scan>(field: &'static str, stall: Duration, scan: Scan) -> Body
where
    G: Serialize + Send + 'static,
    Scan:
        FnOnce(&mut dyn FnMut(Vec<G>) -> ControlFlow<()>) -> Result<(), ReadError> + Send + 'static,
{
    let (chunks, receiver) = mpsc::channel::<Bytes>(EXPORT_BUFFER_BLOCKS);
    // How the scan ended, sent after its last chunk: the body ends cleanly only on `Ok`.
    let (outcome, scan_ended) = oneshot::channel::<Result<(), String>>();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Vec<u8>| match runtime.block_on(chunks.send_timeout(chunk.into(), stall))
        {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(Stop::Stalled),
            Err(SendTimeoutError::Closed(_)) => Err(Stop::ClientGone),
        };
        let mut stop = send(format!("{{\"{field}\":[").into_bytes()).err();
        let mut scanned = Ok(());
        if stop.is_none() {
            let mut first = true;
            scanned = scan(&mut |groups: Vec<G>| {
                let mut chunk = Vec::new();
                for group in &groups {
                    if !std::mem::take(&mut first) {
                        chunk.push(b',');
                    }
                    chunk.extend_from_slice(&otlp::encode_json(group));
                }
                match send(chunk) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(why) => {
                        stop = Some(why);
                        ControlFlow::Break(())
                    }
                }
            });
        }
        let ended = match scanned {
            Err(e) => {
                tracing::error!("export of {field} failed: {e}");
                Err(e.to_string())
            }
            Ok(()) => match stop.map_or_else(|| send(b"]}".to_vec()), Err) {
                Ok(()) => Ok(()),
                Err(Stop::Stalled) => {
                    tracing::info!(
                        "export of {field} stopped: the client read nothing for {stall:?}"
                    );
                    Err(format!("the client read nothing for {stall:?}"))
                }
                Err(Stop::ClientGone) => return,
            },
        };
        // The body is gone if the client went away meanwhile; nobody to tell then.
        let _ = outcome.send(ended);
    });
    let state = (receiver, Some(scan_ended));
    Body::from_stream(futures_util::stream::unfold(
        state,
        |(mut receiver, scan_ended)| async move {
            if let Some(chunk) = receiver.recv().await {
                return Some((Ok(chunk), (receiver, scan_ended)));
            }
            let failure = match scan_ended?.await {
                Ok(Ok(())) => return None,
                Ok(Err(reason)) => reason,
                Err(_) => "the export task ended early".to_string(),
            };
            Some((Err(std::io::Error::other(failure)), (receiver, None)))
        },
    ))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use otelite_storage::{Batch, Store, StoreOptions};

    use super::*;

    /// A store holding `blocks` blocks of one span each.
    fn store_of_blocks(dir: &std::path::Path, blocks: u64) -> Store {
        let store = Store::open(dir, StoreOptions::default()).unwrap();
        for i in 0..blocks {
            let span = Span {
                trace_id: vec![7; 16],
                span_id: (i + 1).to_be_bytes().to_vec(),
                name: format!("span {i}"),
                start_time_unix_nano: 1_700_000_000_000_000_000 + i,
                ..Default::default()
            };
            let group = ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            };
            // One commit each, so one block each.
            store.write(Batch::Traces(vec![group])).unwrap();
        }
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_export_nobody_reads_stops_its_scan_and_ends_in_an_error() {
        const BLOCKS: u64 = 3 * EXPORT_BUFFER_BLOCKS as u64;
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_blocks(dir.path(), BLOCKS);
        let (scan_returned, scan_done) = oneshot::channel();
        let stall = Duration::from_millis(100);
        let mut body = stream_json("resourceSpans", stall, move |visit| {
            let scanned = store.scan_traces(TimeRange::ALL, visit);
            let _ = scan_returned.send(());
            scanned
        });
        let opening = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&opening[..], b"{\"resourceSpans\":[");

        // Reading nothing: the scan fills the buffer, waits `stall`, and gives up.
        tokio::time::timeout(Duration::from_secs(20), scan_done)
            .await
            .expect("the scan stops although nobody reads")
            .unwrap();
        let mut blocks = 0;
        let failure = loop {
            match body
                .frame()
                .await
                .expect("the body ends in an error, not cleanly")
            {
                Ok(frame) => {
                    assert!(frame.is_data());
                    blocks += 1;
                }
                Err(e) => break e.to_string(),
            }
        };
        assert!(failure.contains("read nothing"), "{failure}");
        assert!(
            blocks < BLOCKS,
            "the scan stopped early ({blocks} blocks sent)"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_export_read_to_the_end_is_a_whole_document() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_blocks(dir.path(), 3);
        let body = stream_json("resourceSpans", Duration::from_secs(60), move |visit| {
            store.scan_traces(TimeRange::ALL, visit)
        });
        let bytes = body.collect().await.unwrap().to_bytes();
        let document: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(document["resourceSpans"].as_array().unwrap().len(), 3);
    }

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
