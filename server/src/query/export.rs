//! `GET /api/v1/export/{traces|metrics|logs}?start=&end=`: the stored data of one signal in a
//! time range, as an OTLP/JSON export request — the same bytes an SDK would send, so a download
//! can be replayed into any OTLP backend, and the proof that ingest loses nothing.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite_storage::TimeRange;
use serde::Deserialize;

use super::{ApiError, blocking};
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
    let store = state.store.clone();
    let body = match signal.as_str() {
        "traces" => {
            blocking(move || {
                let resource_spans = store.read_traces(range)?;
                Ok(otlp::encode_json(&ExportTraceServiceRequest {
                    resource_spans,
                }))
            })
            .await?
        }
        "metrics" => {
            blocking(move || {
                let resource_metrics = store.read_metrics(range)?;
                Ok(otlp::encode_json(&ExportMetricsServiceRequest {
                    resource_metrics,
                }))
            })
            .await?
        }
        "logs" => {
            blocking(move || {
                let resource_logs = store.read_logs(range)?;
                Ok(otlp::encode_json(&ExportLogsServiceRequest {
                    resource_logs,
                }))
            })
            .await?
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "there is no signal {other:?}: export traces, metrics or logs"
            )));
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
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
