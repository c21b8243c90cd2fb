//! `GET /api/v1/status`: live counts per signal, disk use, version and whether the store can
//! write, for the UI's overview.

use axum::Json;
use axum::extract::State;
use otelite_api::{ReasonCount, SignalStatus, Status, WriteHealth};
use otelite_storage::{Health, Signal};

use super::{ApiError, blocking};
use crate::state::AppState;

pub(super) async fn status(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let store = state.store.clone();
    let stats = blocking(move || Ok(store.stats()?)).await?;
    let telemetry = &state.telemetry;
    // An infinite bound (past the last bucket) is not JSON; the DTO says so with `None`.
    let quantile = |signal, q| {
        telemetry
            .export_latency_quantile(signal, q)
            .filter(|s: &f64| s.is_finite())
    };
    let signal = |signal, stored| SignalStatus {
        stored,
        rejected: telemetry.refused_total(signal),
        accepted: telemetry.accepted_total(signal),
        rejected_by_reason: telemetry
            .refused_by_reason(signal)
            .into_iter()
            .map(|(reason, count)| ReasonCount {
                reason: reason.to_string(),
                count,
            })
            .collect(),
        ingest_p50_seconds: quantile(signal, 0.5),
        ingest_p99_seconds: quantile(signal, 0.99),
    };
    Ok(Json(Status {
        version: crate::VERSION.to_string(),
        uptime_seconds: state.started.elapsed().as_secs(),
        disk_bytes: stats.disk_bytes,
        format_version: stats.format_version,
        traces: signal(Signal::Traces, stats.spans),
        metrics: signal(Signal::Metrics, stats.metric_points),
        logs: signal(Signal::Logs, stats.log_records),
        writes: write_health(state.store.health()),
        compaction_backlog_bytes: state.store.compaction_backlog(),
    }))
}

fn write_health(health: Health) -> WriteHealth {
    match health {
        Health::Failing {
            error,
            since_unix_nano,
        } => WriteHealth {
            ok: false,
            error: Some(error.to_string()),
            failing_since_unix_nano: Some(since_unix_nano),
        },
        // `Health` may gain variants; any other is one where writes work.
        _ => WriteHealth {
            ok: true,
            error: None,
            failing_since_unix_nano: None,
        },
    }
}
