//! otelite's native trace API, which the UI uses (documented with its DTOs in
//! `otelite_api::traces`):
//!
//! - `GET /api/v1/traces?service=&operation=&kind=&tags=&minDuration=&maxDuration=&start=&end=&limit=`
//! - `GET /api/v1/traces/{trace_id}` and `GET /api/v1/traces/{trace_id}/otlp` (a download)
//! - `GET /api/v1/trace-services` and `GET /api/v1/trace-operations?service=`
//!
//! Also home to what the Jaeger-compatible APIs share with it: [`params`] reads query strings
//! into store queries, [`convert`] turns OTLP into the DTOs. Store work runs on the blocking
//! pool, never on the async workers.

pub(crate) mod convert;
pub(crate) mod params;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use otelite_api::traces::{Operations, Services, Trace, TraceSearchResponse};
use otelite_storage::{Store, TimeRange, TraceId};

use super::{ApiError, blocking};
use crate::otlp;
use crate::state::AppState;
use params::{Params, SearchConditions};

/// The limit of a search that gives none.
const DEFAULT_LIMIT: usize = 20;
/// How far back a search without `start` looks.
const DEFAULT_LOOKBACK_NS: u64 = 3_600 * 1_000_000_000;

/// `GET /api/v1/traces`: the newest traces with a span matching every condition.
pub(super) async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TraceSearchResponse>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let max = state.limits.query_max_traces;
    let query = search_query(&params, params::now_unix_nanos(), max)?;
    let limit = query.limit;
    let store = state.query_store();
    let found = blocking(move || Ok(store.find_traces(&query)?)).await?;
    Ok(Json(TraceSearchResponse {
        traces: found.iter().map(convert::summary).collect(),
        limit,
    }))
}

/// The store query of a native search; `now` is the default end, `max` the most traces.
fn search_query(
    params: &Params,
    now: u64,
    max: usize,
) -> Result<otelite_storage::TraceQuery, ApiError> {
    let end = match params.get("end") {
        Some(text) => params::parse_unix_time("end", text, 1)?,
        None => now,
    };
    let start = match params.get("start") {
        Some(text) => params::parse_unix_time("start", text, 1)?,
        None => end.saturating_sub(DEFAULT_LOOKBACK_NS),
    };
    let range = params::check_range("start", start, "end", end)?;
    let mut conditions = SearchConditions {
        service: params.get("service").map(str::to_string),
        operation: params.get("operation").map(str::to_string),
        span_kind: params
            .get("kind")
            .map(|k| params::parse_span_kind("kind", k))
            .transpose()?,
        limit: params::parse_limit("limit", params.get("limit"), DEFAULT_LIMIT, max)?,
        ..Default::default()
    };
    for (name, field) in [
        ("minDuration", &mut conditions.min_duration),
        ("maxDuration", &mut conditions.max_duration),
    ] {
        if let Some(text) = params.get(name) {
            *field = Some((name, params::parse_duration(name, text)?));
        }
    }
    for text in params.all("tags") {
        conditions.add_tags("tags", params::parse_tags("tags", text)?);
    }
    conditions.into_query(range)
}

/// Every stored span of one trace, or 404 when the store has none.
pub(crate) async fn stored_trace(
    store: Store,
    trace_id: TraceId,
    id_text: String,
) -> Result<Vec<ResourceSpans>, ApiError> {
    let groups = blocking(move || Ok(store.trace(&trace_id)?)).await?;
    if groups.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no trace {id_text} is stored: it may not have arrived yet, or retention removed it"
        )));
    }
    Ok(groups)
}

/// `GET /api/v1/traces/{trace_id}`.
pub(super) async fn trace(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Trace>, ApiError> {
    let trace_id = params::parse_trace_id("trace id", &id)?;
    let groups = stored_trace(state.query_store(), trace_id, id).await?;
    let dto = blocking(move || Ok(convert::trace(&trace_id, &groups))).await?;
    Ok(Json(dto))
}

/// `GET /api/v1/traces/{trace_id}/otlp`: the trace as an OTLP/JSON `TracesData` file, which any
/// OTLP/HTTP endpoint accepts as it is.
pub(super) async fn trace_otlp(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = params::parse_trace_id("trace id", &id)?;
    let resource_spans = stored_trace(state.query_store(), trace_id, id).await?;
    let body = blocking(move || Ok(otlp::encode_json(&TracesData { resource_spans }))).await?;
    let disposition = format!(
        "attachment; filename=\"trace-{}.json\"",
        params::hex(&trace_id)
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The optional `start`/`end` (unix ns) of the services and operations lists; all time when
/// absent.
pub(crate) fn list_range(params: &Params) -> Result<TimeRange, ApiError> {
    let start = params
        .get("start")
        .map(|t| params::parse_unix_time("start", t, 1))
        .transpose()?
        .unwrap_or(0);
    let end = params
        .get("end")
        .map(|t| params::parse_unix_time("end", t, 1))
        .transpose()?
        .unwrap_or(u64::MAX);
    params::check_range("start", start, "end", end)
}

/// `GET /api/v1/trace-services`: every service with spans, by name.
pub(super) async fn services(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Services>, ApiError> {
    let range = list_range(&Params::parse(raw.as_deref()))?;
    let store = state.query_store();
    let services = blocking(move || Ok(store.trace_services(range)?)).await?;
    Ok(Json(Services {
        services: services.into_iter().filter(|s| !s.is_empty()).collect(),
    }))
}

/// `GET /api/v1/trace-operations?service=`: span names and kinds, of one service or all.
pub(super) async fn operations(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Operations>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let range = list_range(&params)?;
    let service = params.get("service").map(str::to_string);
    let store = state.query_store();
    let ops = blocking(move || Ok(store.trace_operations(range, service.as_deref())?)).await?;
    Ok(Json(Operations {
        operations: ops.iter().map(convert::operation).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> Result<otelite_storage::TraceQuery, ApiError> {
        search_query(
            &Params::parse(Some(raw)),
            10_000_000_000_000,
            crate::config::DEFAULT_QUERY_MAX_TRACES,
        )
    }

    #[test]
    fn a_search_without_times_looks_back_an_hour() {
        let q = query("").unwrap();
        assert_eq!(
            q.range,
            TimeRange::new(10_000_000_000_000 - DEFAULT_LOOKBACK_NS, 10_000_000_000_000)
        );
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert!(q.service.is_none() && q.attributes.is_empty() && !q.errors_only);
    }

    #[test]
    fn every_parameter_reaches_the_query() {
        let q = query(
            "service=checkout&operation=POST+%2Forders&kind=server&tags=http.status_code%3D500+env%3D%22dev+eu%22&tags=error%3Dtrue\
             &minDuration=1.5ms&maxDuration=2s&start=100&end=200&limit=5",
        )
        .unwrap();
        assert_eq!(q.service.as_deref(), Some("checkout"));
        assert_eq!(q.operation.as_deref(), Some("POST /orders"));
        assert_eq!(q.span_kind, Some(2));
        assert_eq!(
            q.attributes,
            [
                ("http.status_code".into(), "500".into()),
                ("env".into(), "dev eu".into())
            ]
        );
        assert!(q.errors_only);
        assert_eq!(
            (q.min_duration_ns, q.max_duration_ns),
            (Some(1_500_000), Some(2_000_000_000))
        );
        assert_eq!(q.range, TimeRange::new(100, 200));
        assert_eq!(q.limit, 5);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (raw, name) in [
            ("kind=sideways", "kind"),
            ("minDuration=fast", "minDuration"),
            ("maxDuration=1s&minDuration=2s", "maxDuration"),
            ("start=200&end=100", "end"),
            ("start=yesterday", "start"),
            ("limit=1001", "limit"),
            ("tags=novalue", "tags"),
            ("tags=%7Bbroken", "tags"),
        ] {
            let err = query(raw).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{raw}");
            assert!(err.to_string().contains(name), "{raw}: {err}");
        }
    }
}
