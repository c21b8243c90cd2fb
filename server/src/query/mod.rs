//! The HTTP query side, served on the UI port: otelite's own API under `/api/v1/...` (status,
//! export, traces, logs), Jaeger's trace query APIs v1 and v3 (`jaeger/`), Loki's log query
//! API (`loki/`, `/loki/api/v1/...`), otelite's own metrics (`/metrics`, `metrics.rs`), and the
//! health probes, and Prometheus' query API (`prom/`, `/api/v1/query` and the rest).
//!
//! Every handler returns `Result<_, ApiError>`, so every failure a user can cause becomes a 4xx
//! with a JSON body that says what was wrong; nothing here panics on input.

mod export;
mod health;
mod jaeger;
mod logs;
mod loki;
mod metrics;
mod prom;
mod status;
mod traces;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use otelite_api::ErrorBody;

use crate::state::AppState;

pub use health::{health_router, probe_ready};

/// The query routes: `/api/v1/...`, Jaeger's `/api/...` and `/api/v3/...`, Loki's
/// `/loki/api/v1/...`, and otelite's own metrics at `/metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/status", get(status::status))
        .route("/api/v1/export/{signal}", get(export::export))
        .route("/api/v1/traces", get(traces::search))
        .route("/api/v1/traces/{trace_id}", get(traces::trace))
        .route("/api/v1/traces/{trace_id}/otlp", get(traces::trace_otlp))
        .route("/api/v1/trace-services", get(traces::services))
        .route("/api/v1/trace-operations", get(traces::operations))
        .route("/api/v1/logs", get(logs::search))
        .route("/api/v1/logs/volume", get(logs::volume))
        .route("/api/v1/log-services", get(logs::services))
        .merge(jaeger::routes())
        .merge(loki::routes())
        .merge(prom::routes())
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::observe,
        ))
        .with_state(state)
}

/// An error answered to an API client: a status code and a sentence.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the store could not be read: {0}")]
    Storage(String),
    /// The store cannot answer right now (it is recovering from a failed write); retry.
    #[error("{0}")]
    Unavailable(String),
    /// The query ran past `--query-timeout`.
    #[error(
        "the query took longer than the limit of {} (--query-timeout): narrow its time range or filters, or raise the limit",
        crate::otlp::human_duration(*.0)
    )]
    Timeout(std::time::Duration),
}

impl ApiError {
    /// The HTTP status code of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        }
        let body = ErrorBody {
            error: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

impl From<otelite_storage::ReadError> for ApiError {
    fn from(e: otelite_storage::ReadError) -> Self {
        match e {
            otelite_storage::ReadError::Unavailable { .. }
            | otelite_storage::ReadError::Interrupted => ApiError::Unavailable(e.to_string()),
            other => ApiError::Storage(other.to_string()),
        }
    }
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Storage(format!("query task failed: {e}")))?
}
