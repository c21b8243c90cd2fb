//! Jaeger's v1 HTTP query API (what Grafana's Jaeger data source and older Jaeger UIs call):
//!
//! - `GET /api/services`, `GET /api/services/{service}/operations`,
//!   `GET /api/operations?service=&spanKind=`
//! - `GET /api/traces?service=&operation=&tags={json}&tag=k:v&minDuration=&maxDuration=&start=&end=&limit=&traceID=`
//!   (`start`/`end` in unix microseconds, default the last two days; `lookback` is accepted and,
//!   as in Jaeger, ignored; `limit` default 100; `tags` is a JSON object as in Jaeger, or
//!   otelite's `k=v k2="v 2"` text)
//! - `GET /api/traces/{traceID}` (`start`, `end` and `raw` accepted and checked)
//!
//! Answers are Jaeger's envelope `{"data":…,"total":N,"limit":0,"offset":0,"errors":null}`;
//! errors are the same envelope with `data: null` and `errors: [{"code":400,"msg":"…"}]`. As in
//! Jaeger, `total` counts services and operations but is 0 for traces. Behaviour read from
//! Jaeger's `cmd/jaeger/internal/extension/jaegerquery/internal/{http_handler,query_parser}.go`
//! before their search routes were removed (commit 639eefe04's parent).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{full_traces, v1_model};
use crate::query::ApiError;
use crate::query::blocking;
use crate::query::traces::params::{self, Params, SearchConditions};
use crate::state::AppState;

/// Jaeger's default `limit` for `/api/traces`.
const DEFAULT_LIMIT: usize = 100;
/// How far back a search without `start` looks, as Jaeger's default: two days.
const DEFAULT_LOOKBACK_NS: u64 = 2 * 86_400 * 1_000_000_000;
/// Jaeger's message for a trace it does not have.
const TRACE_NOT_FOUND: &str = "trace not found";

/// Jaeger's answer envelope (`structuredResponse`).
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T: Serialize> {
    data: Option<T>,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<StructuredError>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StructuredError {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
}

impl<T: Serialize> Envelope<T> {
    fn list(data: T, total: usize) -> Envelope<T> {
        Envelope {
            data: Some(data),
            total,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }
}

impl Envelope<Vec<v1_model::JaegerTrace>> {
    pub(crate) fn traces(
        traces: Vec<v1_model::JaegerTrace>,
        errors: Option<Vec<StructuredError>>,
    ) -> Self {
        Envelope {
            data: Some(traces),
            total: 0,
            limit: 0,
            offset: 0,
            errors,
        }
    }
}

/// An [`ApiError`] in Jaeger's v1 envelope.
#[derive(Debug)]
pub(crate) struct V1Error(ApiError);

impl From<ApiError> for V1Error {
    fn from(e: ApiError) -> Self {
        V1Error(e)
    }
}

impl From<otelite_storage::ReadError> for V1Error {
    fn from(e: otelite_storage::ReadError) -> Self {
        V1Error(e.into())
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!("{}", self.0);
        }
        let body: Envelope<()> = Envelope {
            data: None,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![StructuredError {
                code: Some(status.as_u16()),
                msg: self.0.to_string(),
                trace_id: None,
            }]),
        };
        (status, Json(body)).into_response()
    }
}

/// `GET /api/services`.
pub(super) async fn services(
    State(state): State<AppState>,
) -> Result<Json<Envelope<Vec<String>>>, V1Error> {
    let services = super::services(state.query_store()).await?;
    let total = services.len();
    Ok(Json(Envelope::list(services, total)))
}

/// `GET /api/services/{service}/operations`: the service's span names, each once, sorted.
pub(super) async fn service_operations(
    State(state): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<Envelope<Vec<String>>>, V1Error> {
    let ops = super::operations(state.query_store(), Some(service), None).await?;
    let mut names: Vec<String> = ops.into_iter().map(|op| op.name).collect();
    names.sort();
    names.dedup();
    let total = names.len();
    Ok(Json(Envelope::list(names, total)))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Operation {
    name: String,
    /// `server`, `client`, ...; `""` for spans without a kind, as Jaeger's store writes it.
    span_kind: &'static str,
}

/// `GET /api/operations?service=&spanKind=`.
pub(super) async fn operations(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Envelope<Vec<Operation>>>, V1Error> {
    let params = Params::parse(raw.as_deref());
    let service = params.get("service").ok_or_else(|| {
        ApiError::BadRequest(
            "parameter 'service' is required: give the service whose operations to list".into(),
        )
    })?;
    let kind = params
        .get("spanKind")
        .map(|k| params::parse_span_kind("spanKind", k))
        .transpose()?;
    let ops = super::operations(state.query_store(), Some(service.to_string()), kind).await?;
    let data: Vec<Operation> = ops
        .into_iter()
        .map(|op| Operation {
            name: op.name,
            span_kind: super::kind_name(op.span_kind),
        })
        .collect();
    let total = data.len();
    Ok(Json(Envelope::list(data, total)))
}

/// `GET /api/traces`: a search, or the traces named by `traceID` parameters.
pub(super) async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Envelope<Vec<v1_model::JaegerTrace>>>, V1Error> {
    let params = Params::parse(raw.as_deref());
    let ids: Vec<(String, [u8; 16])> = params
        .all("traceID")
        .map(|text| {
            Ok((
                text.to_string(),
                params::parse_jaeger_trace_id("traceID", text)?,
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    let max = state.limits.query_max_traces;
    let query = search_query(&params, params::now_unix_nanos(), max)?;
    let store = state.query_store();
    if ids.is_empty() {
        let found = full_traces(store, query).await?;
        let traces = blocking(move || {
            Ok(found
                .iter()
                .map(|(id, groups)| v1_model::trace(id, groups))
                .collect())
        })
        .await?;
        return Ok(Json(Envelope::traces(traces, None)));
    }
    // Jaeger answers the traces it has and names the others in `errors`.
    let (traces, errors) = blocking(move || {
        let mut traces = Vec::new();
        let mut errors = Vec::new();
        for (text, id) in ids {
            let groups = store.trace(&id)?;
            if groups.is_empty() {
                errors.push(StructuredError {
                    code: None,
                    msg: TRACE_NOT_FOUND.into(),
                    trace_id: Some(text),
                });
            } else {
                traces.push(v1_model::trace(&id, &groups));
            }
        }
        Ok((traces, errors))
    })
    .await?;
    Ok(Json(Envelope::traces(
        traces,
        (!errors.is_empty()).then_some(errors),
    )))
}

fn search_query(
    params: &Params,
    now: u64,
    max: usize,
) -> Result<otelite_storage::TraceQuery, ApiError> {
    let end = match params.get("end") {
        Some(text) => params::parse_unix_time("end", text, 1_000)?,
        None => now,
    };
    let start = match params.get("start") {
        Some(text) => params::parse_unix_time("start", text, 1_000)?,
        None => end.saturating_sub(DEFAULT_LOOKBACK_NS),
    };
    // Jaeger's `end` is inclusive, to the microsecond.
    let range = params::check_range("start", start, "end", end)?;
    let range = otelite_storage::TimeRange::new(range.start, range.end.saturating_add(1_000));
    let mut conditions = SearchConditions {
        service: params.get("service").map(str::to_string),
        operation: params.get("operation").map(str::to_string),
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
    for tag in params.all("tag") {
        let Some((key, value)) = tag.split_once(':') else {
            return Err(ApiError::BadRequest(format!(
                "malformed 'tag' parameter, expecting key:value, received: {tag}"
            )));
        };
        conditions.add_tags("tag", vec![(key.to_string(), value.to_string())]);
    }
    for json in params.all("tags") {
        conditions.add_tags("tags", params::parse_tags("tags", json)?);
    }
    conditions.into_query(range)
}

/// `GET /api/traces/{traceID}`.
pub(super) async fn trace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Envelope<Vec<v1_model::JaegerTrace>>>, V1Error> {
    let trace_id = params::parse_jaeger_trace_id("traceID", &id)?;
    let params = Params::parse(raw.as_deref());
    // Accepted as Jaeger accepts them; otelite finds a trace by id alone.
    for name in ["start", "end"] {
        if let Some(text) = params.get(name) {
            params::parse_unix_time(name, text, 1_000)?;
        }
    }
    if let Some(raw) = params.get("raw") {
        parse_bool("raw", raw)?;
    }
    let store = state.query_store();
    let groups = blocking(move || Ok(store.trace(&trace_id)?)).await?;
    if groups.is_empty() {
        return Err(ApiError::NotFound(TRACE_NOT_FOUND.into()).into());
    }
    let trace = blocking(move || Ok(v1_model::trace(&trace_id, &groups))).await?;
    Ok(Json(Envelope::traces(vec![trace], None)))
}

/// A boolean as Go's `strconv.ParseBool` reads it.
pub(super) fn parse_bool(name: &str, text: &str) -> Result<bool, ApiError> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "malformed parameter {name}: {text:?} is not a boolean: give true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn query(raw: &str) -> Result<otelite_storage::TraceQuery, ApiError> {
        search_query(
            &Params::parse(Some(raw)),
            1_000_000_000_000_000_000,
            crate::config::DEFAULT_QUERY_MAX_TRACES,
        )
    }

    /// The parameters Grafana's Jaeger data source sends.
    #[test]
    fn grafana_search_parameters() {
        let q = query(
            "service=frontend&operation=GET+%2Fcheckout&tags=%7B%22http.status_code%22%3A%22500%22%2C%22error%22%3A%22true%22%7D\
             &minDuration=100ms&maxDuration=5s&limit=20&start=1699999000000000&end=1700000000000000&lookback=1h",
        )
        .unwrap();
        assert_eq!(q.service.as_deref(), Some("frontend"));
        assert_eq!(q.operation.as_deref(), Some("GET /checkout"));
        assert_eq!(q.attributes, [("http.status_code".into(), "500".into())]);
        assert!(q.errors_only, "error=true asks for spans with status ERROR");
        assert_eq!(q.min_duration_ns, Some(100_000_000));
        assert_eq!(q.max_duration_ns, Some(5_000_000_000));
        assert_eq!(q.limit, 20);
        assert_eq!(
            q.range,
            otelite_storage::TimeRange::new(1_699_999_000_000_000_000, 1_700_000_000_000_001_000)
        );
    }

    #[test]
    fn defaults_are_jaegers() {
        let q = query("service=x").unwrap();
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.range.end - 1_000 - q.range.start, DEFAULT_LOOKBACK_NS);
        let q = query("tag=http.url:http://a:8080/x").unwrap();
        assert_eq!(
            q.attributes,
            [("http.url".into(), "http://a:8080/x".into())]
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        for (raw, name) in [
            ("tags=%7Bnot+json", "tags"),
            ("tag=novalue", "tag"),
            ("minDuration=soon", "minDuration"),
            ("start=20&end=10", "start"),
            ("end=tomorrow", "end"),
            ("limit=5000", "limit"),
        ] {
            let err = query(raw).unwrap_err();
            assert!(err.to_string().contains(name), "{raw}: {err}");
        }
    }

    #[test]
    fn errors_travel_in_jaegers_envelope() {
        let response = V1Error(ApiError::BadRequest("bad".into())).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = Envelope::<()> {
            data: None,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![StructuredError {
                code: Some(400),
                msg: "bad".into(),
                trace_id: None,
            }]),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"bad"}]}"#
        );
    }
}
