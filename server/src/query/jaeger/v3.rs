//! Jaeger's API v3 over HTTP (the gRPC-gateway routes today's Jaeger UI calls):
//!
//! - `GET /api/v3/services` → `{"services":[…]}`
//! - `GET /api/v3/operations?service=&spanKind=` → `{"operations":[{"name","spanKind"}]}`
//! - `GET /api/v3/traces?query.serviceName=&query.operationName=&query.attributes={json}&query.startTimeMin=&query.startTimeMax=&query.durationMin=&query.durationMax=&query.searchDepth=`
//!   → `{"result":{"resourceSpans":[…]}}` (OTLP/JSON, every trace found combined)
//! - `GET /api/v3/traces/{trace_id}?startTime=&endTime=&rawTraces=` → the same shape
//! - `GET /api/v3/trace-summaries?…` (the search's parameters) → `{"summaries":[…]}`
//!
//! `query.attributes` is a JSON object of strings as in Jaeger (otelite's `k=v` text is also
//! taken). Each parameter also has Jaeger's older snake_case spelling (`query.service_name`,
//! `query.start_time_min`, `query.num_traces`, `span_kind`, `start_time`, …). Times are RFC 3339,
//! durations Go durations; both ends of the search are required, as in Jaeger. Errors are
//! gRPC-gateway's `{"error":{"httpCode":400,"message":"…"}}`; a search or lookup that finds
//! nothing is a 404 "No traces found", as in Jaeger. Behaviour and shapes read from Jaeger's
//! `cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/` (`http_gateway.go`,
//! `query_parser.go`, their tests and `snapshots/`) and `querysvc/summary.go`.

use std::collections::{BTreeMap, HashSet};

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData, status};
use serde::Serialize;

use super::full_traces;
use crate::otlp;
use crate::query::ApiError;
use crate::query::blocking;
use crate::query::traces::params::{self, Params, SearchConditions};
use crate::state::AppState;
use otelite_storage::service_name;

/// Jaeger's default search depth (traces per search).
const DEFAULT_SEARCH_DEPTH: usize = 100;

/// An [`ApiError`] in gRPC-gateway's error shape, as Jaeger writes it.
#[derive(Debug)]
pub(crate) struct V3Error(ApiError);

impl From<ApiError> for V3Error {
    fn from(e: ApiError) -> Self {
        V3Error(e)
    }
}

#[derive(Debug, Serialize)]
struct GatewayError {
    error: GatewayErrorDetails,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayErrorDetails {
    http_code: u16,
    message: String,
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!("{}", self.0);
        }
        let body = GatewayError {
            error: GatewayErrorDetails {
                http_code: status.as_u16(),
                message: self.0.to_string(),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

fn no_traces() -> V3Error {
    V3Error(ApiError::NotFound("No traces found".into()))
}

#[derive(Debug, Serialize)]
pub(super) struct ServicesResponse {
    services: Vec<String>,
}

/// `GET /api/v3/services`.
pub(super) async fn services(
    State(state): State<AppState>,
) -> Result<axum::Json<ServicesResponse>, V3Error> {
    let services = super::services(state.query_store()).await?;
    Ok(axum::Json(ServicesResponse { services }))
}

#[derive(Debug, Serialize)]
pub(super) struct OperationsResponse {
    operations: Vec<Operation>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    name: String,
    span_kind: &'static str,
}

/// `GET /api/v3/operations?service=&spanKind=`: a span without a kind is listed as `internal`,
/// as Jaeger lists it.
pub(super) async fn operations(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<OperationsResponse>, V3Error> {
    let params = Params::parse(raw.as_deref());
    let service = params.get("service").map(str::to_string);
    let kind = params
        .get_either("spanKind", "span_kind")
        .map(|(name, k)| params::parse_span_kind(name, k))
        .transpose()?;
    let ops = super::operations(state.query_store(), service, kind).await?;
    let mut seen = HashSet::new();
    let operations = ops
        .into_iter()
        .filter(|op| seen.insert((op.name.clone(), op.span_kind)))
        .map(|op| Operation {
            name: op.name,
            span_kind: match super::kind_name(op.span_kind) {
                "" => "internal",
                kind => kind,
            },
        })
        .collect();
    Ok(axum::Json(OperationsResponse { operations }))
}

/// Reads a search as Jaeger's `parseFindTracesQuery` does.
fn search_query(
    params: &Params,
    max_traces: usize,
) -> Result<otelite_storage::TraceQuery, ApiError> {
    let (min, max) = match (
        params.get_either("query.startTimeMin", "query.start_time_min"),
        params.get_either("query.startTimeMax", "query.start_time_max"),
    ) {
        (Some(min), Some(max)) => (min, max),
        _ => {
            return Err(ApiError::BadRequest(
                "query.startTimeMin and query.startTimeMax are required: give both as RFC 3339 times, e.g. query.startTimeMin=2026-08-20T15:00:00Z"
                    .into(),
            ));
        }
    };
    let start = params::parse_rfc3339(min.0, min.1)?;
    let end = params::parse_rfc3339(max.0, max.1)?;
    if start >= end {
        return Err(ApiError::BadRequest(format!(
            "{} must be before {}",
            min.0, max.0
        )));
    }
    // Jaeger's start_time_max is inclusive.
    let range = otelite_storage::TimeRange::new(start, end.saturating_add(1));
    let depth = params
        .get_either("query.searchDepth", "query.search_depth")
        .or_else(|| {
            params
                .get("query.num_traces")
                .map(|v| ("query.num_traces", v))
        });
    let limit = match depth {
        Some((name, text)) => {
            params::parse_limit(name, Some(text), DEFAULT_SEARCH_DEPTH, max_traces)?
        }
        None => DEFAULT_SEARCH_DEPTH.min(max_traces),
    };
    let mut conditions = SearchConditions {
        service: params
            .get_either("query.serviceName", "query.service_name")
            .map(|(_, v)| v.to_string()),
        operation: params
            .get_either("query.operationName", "query.operation_name")
            .map(|(_, v)| v.to_string()),
        limit,
        ..Default::default()
    };
    for (canonical, alias, field) in [
        (
            "query.durationMin",
            "query.duration_min",
            &mut conditions.min_duration,
        ),
        (
            "query.durationMax",
            "query.duration_max",
            &mut conditions.max_duration,
        ),
    ] {
        if let Some((name, text)) = params.get_either(canonical, alias) {
            let ns = params::parse_duration(name, text)
                .map_err(|e| ApiError::BadRequest(format!("malformed parameter {e}")))?;
            *field = Some((if name == canonical { canonical } else { alias }, ns));
        }
    }
    if let Some(json) = params.get("query.attributes") {
        conditions.add_tags(
            "query.attributes",
            params::parse_tags("query.attributes", json)?,
        );
    }
    if params.get("query.filter").is_some() {
        // Jaeger too refuses it unless a feature gate is on.
        return Err(ApiError::BadRequest(
            "query.filter (structured filter expressions) is not supported: use query.attributes"
                .into(),
        ));
    }
    if let Some((name, text)) = params.get_either("query.rawTraces", "query.raw_traces") {
        super::v1::parse_bool(name, text)?;
    }
    conditions.into_query(range)
}

/// The found traces' spans as `{"result": TracesData}`.
fn traces_response(groups: Vec<ResourceSpans>) -> Response {
    let mut body = b"{\"result\":".to_vec();
    body.extend_from_slice(&otlp::encode_json(&TracesData {
        resource_spans: groups,
    }));
    body.push(b'}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /api/v3/traces`.
pub(super) async fn find_traces(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let max = state.limits.query_max_traces;
    let query = search_query(&Params::parse(raw.as_deref()), max)?;
    let found = full_traces(state.query_store(), query).await?;
    if found.is_empty() {
        return Err(no_traces());
    }
    let response = blocking(move || {
        Ok(traces_response(
            found.into_iter().flat_map(|(_, groups)| groups).collect(),
        ))
    })
    .await?;
    Ok(response)
}

/// `GET /api/v3/traces/{trace_id}`: the id in hex (up to 32 digits) or base64.
pub(super) async fn get_trace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let trace_id = params::parse_jaeger_trace_id("trace_id", &id)?;
    let params = Params::parse(raw.as_deref());
    // A time window only narrows where Jaeger's stores look; otelite finds a trace by id alone,
    // so the window is checked, not used.
    for (canonical, alias) in [("startTime", "start_time"), ("endTime", "end_time")] {
        if let Some((name, text)) = params.get_either(canonical, alias) {
            params::parse_rfc3339(name, text)?;
        }
    }
    if let Some((name, text)) = params.get_either("rawTraces", "raw_traces") {
        super::v1::parse_bool(name, text)?;
    }
    let store = state.query_store();
    let groups = blocking(move || Ok(store.trace(&trace_id)?)).await?;
    if groups.is_empty() {
        return Err(no_traces());
    }
    Ok(blocking(move || Ok(traces_response(groups))).await?)
}

#[derive(Debug, Serialize)]
pub(super) struct SummariesResponse {
    summaries: Vec<TraceSummary>,
}

/// Jaeger's `api_v3.TraceSummary` as gRPC-gateway writes it (zero values left out).
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TraceSummary {
    trace_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_operation_name: String,
    #[serde(with = "otelite_api::traces::nanos")]
    min_start_time_unix_nano: u64,
    #[serde(with = "otelite_api::traces::nanos")]
    max_end_time_unix_nano: u64,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    orphan_span_count: u64,
    services: Vec<ServiceSummary>,
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSummary {
    name: String,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `GET /api/v3/trace-summaries`: the search's traces, summarised. An empty result is
/// `{"summaries":[]}`, not a 404.
pub(super) async fn find_trace_summaries(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<SummariesResponse>, V3Error> {
    let max = state.limits.query_max_traces;
    let query = search_query(&Params::parse(raw.as_deref()), max)?;
    let found = full_traces(state.query_store(), query).await?;
    let summaries = blocking(move || {
        Ok(found
            .iter()
            .map(|(id, groups)| summarize(id, groups))
            .collect())
    })
    .await?;
    Ok(axum::Json(SummariesResponse { summaries }))
}

/// A trace summarised as Jaeger's `summarizeTrace` does: the root is the earliest span without a
/// parent; an orphan is a span whose parent is not in the trace; services by name.
pub(super) fn summarize(trace_id: &[u8; 16], groups: &[ResourceSpans]) -> TraceSummary {
    let spans = || {
        groups.iter().flat_map(|g| {
            let service = service_name(g.resource.as_ref().map_or(&[][..], |r| &r.attributes));
            g.scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(move |span| (service, span))
        })
    };
    let ids: HashSet<&[u8]> = spans().map(|(_, s)| s.span_id.as_slice()).collect();
    let mut summary = TraceSummary {
        trace_id: params::hex(trace_id),
        root_service_name: String::new(),
        root_operation_name: String::new(),
        min_start_time_unix_nano: u64::MAX,
        max_end_time_unix_nano: 0,
        span_count: 0,
        error_span_count: 0,
        orphan_span_count: 0,
        services: Vec::new(),
    };
    let mut services: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut root_start: Option<u64> = None;
    for (service, span) in spans() {
        let error = span
            .status
            .as_ref()
            .is_some_and(|s| s.code == status::StatusCode::Error as i32);
        let counts = services.entry(service).or_default();
        counts.0 += 1;
        summary.span_count += 1;
        if error {
            counts.1 += 1;
            summary.error_span_count += 1;
        }
        summary.min_start_time_unix_nano = summary
            .min_start_time_unix_nano
            .min(span.start_time_unix_nano);
        summary.max_end_time_unix_nano =
            summary.max_end_time_unix_nano.max(span.end_time_unix_nano);
        let parentless = span.parent_span_id.iter().all(|&b| b == 0);
        if parentless {
            if root_start.is_none_or(|t| span.start_time_unix_nano < t) {
                root_start = Some(span.start_time_unix_nano);
                summary.root_service_name = service.to_string();
                summary.root_operation_name = span.name.clone();
            }
        } else if !ids.contains(span.parent_span_id.as_slice()) {
            summary.orphan_span_count += 1;
        }
    }
    if summary.span_count == 0 {
        summary.min_start_time_unix_nano = 0;
    }
    summary.services = services
        .into_iter()
        .map(|(name, (spans, errors))| ServiceSummary {
            name: name.to_string(),
            span_count: spans,
            error_span_count: errors,
        })
        .collect();
    summary
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span, Status};
    use serde_json::Value;

    use super::*;

    fn snapshot(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/query/jaeger/testdata/v3")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn query(raw: &str) -> Result<otelite_storage::TraceQuery, ApiError> {
        search_query(
            &Params::parse(Some(raw)),
            crate::config::DEFAULT_QUERY_MAX_TRACES,
        )
    }

    const RANGE: &str =
        "query.startTimeMin=2026-08-20T14:00:00Z&query.startTimeMax=2026-08-20T15:00:00Z";

    /// `mockFindQueries` of Jaeger's tests, in the camelCase and the snake_case spellings.
    #[test]
    fn find_traces_parameters_in_both_spellings() {
        for raw in [
            format!("query.serviceName=foo&query.operationName=bar&{RANGE}&query.durationMin=1s&query.durationMax=2s&query.searchDepth=10"),
            "query.service_name=foo&query.operation_name=bar&query.start_time_min=2026-08-20T14:00:00Z&query.start_time_max=2026-08-20T15:00:00Z&query.duration_min=1s&query.duration_max=2s&query.search_depth=10".to_string(),
            format!("query.serviceName=foo&query.operationName=bar&{RANGE}&query.durationMin=1s&query.durationMax=2s&query.num_traces=10"),
        ] {
            let q = query(&raw).unwrap();
            assert_eq!(q.service.as_deref(), Some("foo"), "{raw}");
            assert_eq!(q.operation.as_deref(), Some("bar"));
            assert_eq!((q.min_duration_ns, q.max_duration_ns), (Some(1_000_000_000), Some(2_000_000_000)));
            assert_eq!(q.limit, 10);
            assert_eq!(q.range.start, 1_787_234_400_000_000_000);
            assert_eq!(q.range.end, 1_787_238_000_000_000_001);
        }
    }

    #[test]
    fn attributes_and_defaults() {
        let q = query(&format!(
            "{RANGE}&query.attributes=%7B%22http.status_code%22%3A%22200%22%2C%22error%22%3A%22true%22%7D"
        ))
        .unwrap();
        assert_eq!(q.attributes, [("http.status_code".into(), "200".into())]);
        assert!(q.errors_only);
        assert_eq!(q.limit, DEFAULT_SEARCH_DEPTH);
    }

    #[test]
    fn bad_searches_name_the_parameter() {
        for (raw, message) in [
            (
                "".to_string(),
                "query.startTimeMin and query.startTimeMax are required",
            ),
            (
                format!("{RANGE}&query.attributes=%7Bnope"),
                "malformed parameter query.attributes",
            ),
            (
                "query.startTimeMin=abc&query.startTimeMax=2026-08-20T15:00:00Z".into(),
                "malformed parameter query.startTimeMin",
            ),
            (
                "query.startTimeMin=2026-08-20T15:00:00Z&query.startTimeMax=2026-08-20T15:00:00Z"
                    .into(),
                "query.startTimeMin must be before query.startTimeMax",
            ),
            (
                format!("{RANGE}&query.durationMin=abc"),
                "malformed parameter query.durationMin",
            ),
            (
                format!("{RANGE}&query.duration_max=abc"),
                "malformed parameter query.duration_max",
            ),
            (format!("{RANGE}&query.searchDepth=x"), "query.searchDepth"),
            (
                format!("{RANGE}&query.rawTraces=maybe"),
                "malformed parameter query.rawTraces",
            ),
        ] {
            let err = query(&raw).unwrap_err().to_string();
            assert!(err.contains(message), "{raw}: {err}");
        }
    }

    #[test]
    fn errors_have_the_gateway_shape() {
        let body = GatewayError {
            error: GatewayErrorDetails {
                http_code: 404,
                message: "No traces found".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"httpCode":404,"message":"No traces found"}}"#
        );
    }

    /// The shape of Jaeger's `snapshots/GetTrace.json` and `FindTraces.json` (the trace of its
    /// `makeTestTrace()`: empty resource and scope, one server span with status ERROR).
    #[tokio::test]
    async fn traces_have_jaegers_shape() {
        let groups = vec![ResourceSpans {
            resource: Some(Resource::default()),
            scope_spans: vec![ScopeSpans {
                scope: Some(Default::default()),
                spans: vec![Span {
                    trace_id: [[0u8; 15].as_slice(), &[9]].concat(),
                    span_id: vec![0, 0, 0, 0, 0, 0, 0, 7],
                    name: "GET /cart".into(),
                    kind: 2,
                    status: Some(Status {
                        code: 2,
                        message: String::new(),
                    }),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }];
        let response = traces_response(groups);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let got: Value = serde_json::from_slice(&body).unwrap();
        let want = snapshot("trace.json");
        assert_eq!(
            got.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["result"]
        );
        // The same OTLP data: our encoder may add members holding default values.
        let decode = |v: &Value| -> ExportTraceServiceRequest {
            otlp::decode_json(serde_json::to_string(&v["result"]).unwrap().as_bytes()).unwrap()
        };
        assert_eq!(decode(&got), decode(&want));
        let span = &got["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "00000000000000000000000000000009");
        assert_eq!(
            span["kind"], 2,
            "enums are numbers, as gRPC-gateway writes them"
        );
    }

    /// The shape of Jaeger's `snapshots/FindTraceSummaries.json`, for a trace like its test's:
    /// a root and an erroneous child of one service.
    #[test]
    fn summaries_have_jaegers_shape() {
        let sid = |n: u8| vec![0, 0, 0, 0, 0, 0, 0, n];
        let mut trace_id = [0u8; 16];
        trace_id[15] = 9;
        let groups = vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("cart".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![
                    Span {
                        trace_id: trace_id.to_vec(),
                        span_id: sid(1),
                        name: "GET /cart".into(),
                        start_time_unix_nano: 2_000_000_000_000,
                        end_time_unix_nano: 2_002_000_000_000,
                        ..Default::default()
                    },
                    Span {
                        trace_id: trace_id.to_vec(),
                        span_id: sid(2),
                        parent_span_id: sid(1),
                        status: Some(Status {
                            code: 2,
                            message: String::new(),
                        }),
                        start_time_unix_nano: 2_000_000_000_100,
                        end_time_unix_nano: 2_000_000_000_900,
                        ..Default::default()
                    },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }];
        let got = serde_json::to_value(SummariesResponse {
            summaries: vec![summarize(&trace_id, &groups)],
        })
        .unwrap();
        assert_eq!(got, snapshot("trace-summaries.json"));
    }

    #[test]
    fn orphans_and_late_roots() {
        let mut trace_id = [0u8; 16];
        trace_id[0] = 9;
        let span = |id: u8, parent: u8, start: u64| Span {
            trace_id: trace_id.to_vec(),
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            name: format!("s{id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1,
            ..Default::default()
        };
        let groups = vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![span(2, 7, 5), span(3, 2, 6)],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }];
        let s = summarize(&trace_id, &groups);
        assert_eq!(
            (s.orphan_span_count, s.root_operation_name.as_str()),
            (1, "")
        );
        let json = serde_json::to_value(&s).unwrap();
        assert!(
            json.get("rootServiceName").is_none() && json.get("errorSpanCount").is_none(),
            "{json}"
        );
    }
}
