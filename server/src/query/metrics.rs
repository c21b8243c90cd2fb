//! `GET /metrics`: otelite's own telemetry in the Prometheus text format (the UI's Metrics page
//! to a browser, which shares the path), and the middleware
//! that times every query API request by family and holds it to `--query-timeout`.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use otelite_storage::Health;
use tower::ServiceExt;

use super::{ApiError, blocking};
use crate::state::AppState;
use crate::telemetry::{QueryFamily, StoreGauges};

/// The content type of the text exposition format.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics, or, for a browser navigating to `/metrics` (it asks for HTML), the UI: its
/// Metrics page has that path too, and a reload there must keep showing it. Scrapers ask for
/// text or OpenMetrics, never HTML.
pub(super) async fn metrics(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let wants_html = request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        let ui = crate::assets::router().oneshot(request).await;
        return Ok(ui.unwrap_or_else(|never| match never {}));
    }
    let store = state.store.clone();
    let (stats, usage) = blocking(move || Ok((store.stats()?, store.disk_usage()?))).await?;
    let drops = otelite_storage::Signal::ALL.map(|signal| state.store.retention_drops(signal));
    let slots = state.limits.decode_slots as u64;
    let gauges = StoreGauges {
        disk_bytes: stats.disk_bytes,
        signal_disk_bytes: usage.signals,
        retention_drops: drops,
        ingest_queue_bytes: state.store.pending_bytes() as u64,
        stored_items: [stats.spans, stats.metric_points, stats.log_records],
        commits: stats.commits,
        compaction_backlog_bytes: state.store.compaction_backlog(),
        memory_in_use_bytes: state.budget.used() as u64,
        memory_limit_bytes: state.budget.limit() as u64,
        decode_slots_in_use: slots.saturating_sub(state.decode_slots.available_permits() as u64),
        decode_slots: slots,
        active_series: state.series.active_series() as u64,
        writes_ok: !matches!(state.store.health(), Health::Failing { .. }),
    };
    Ok((
        [(CONTENT_TYPE, EXPOSITION)],
        state.telemetry.render(&gauges),
    )
        .into_response())
}

/// Times a query API request under its family and answers 503 once it runs past
/// `--query-timeout`. The handlers read through [`AppState::query_store`], whose reads stop at
/// the same deadline, so the blocking work ends about when the answer does. A streamed export
/// is timed to its response headers; its body is bounded by the stalled-client timeout
/// instead.
pub(super) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(family) = QueryFamily::of_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let started = Instant::now();
    let limit = state.limits.query_timeout;
    let response = match limit {
        Some(limit) => match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                state.telemetry.query_timed_out(family);
                ApiError::Timeout(limit).into_response()
            }
        },
        None => next.run(request).await,
    };
    let failed = response.status().is_server_error();
    state
        .telemetry
        .query_answered(family, started.elapsed(), failed);
    response
}
