//! Loki's HTTP query API over otelite's logs, so that Grafana's Loki data source, logcli and
//! curl scripts work unchanged: `query_range`, `query`, `labels`, `label/{name}/values`,
//! `series`, `tail` (WebSocket, [`tail`]) and `status/buildinfo` under `/loki/api/v1/`.
//!
//! Queries are the LogQL subset of [`logql`]; [`pipeline`] says how an OTLP record looks to
//! LogQL (labels, structured metadata, line) and runs a log pipeline on it; [`eval`] answers
//! queries from the store. Answers have Loki's JSON shapes; errors are Loki's plain-text bodies
//! (`parse error at line 1, col 5: ...`) with status 400, never a guess at what a query meant.
//! Store work runs on the blocking pool.

mod eval;
mod logql;
mod pipeline;
mod tail;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get};
use otelite_storage::{Direction, TimeRange};
use serde_json::{Value, json};

use super::traces::params::{self, Params};
use super::{ApiError, blocking};
use crate::state::AppState;
use logql::{Expr, Matcher};
use pipeline::Labels;

/// Entries a log query returns when it gives no `limit` (at most `--query-max-lines`).
const DEFAULT_LIMIT: usize = 100;
/// Points a metric query may return per series.
const MAX_POINTS: u64 = 11_000;
/// How far back a query without `start` looks: an hour for queries, six for label lists.
const DEFAULT_LOOKBACK_NS: u64 = 3_600 * NS_PER_S;
const LABELS_LOOKBACK_NS: u64 = 6 * 3_600 * NS_PER_S;
const NS_PER_S: u64 = 1_000_000_000;

/// The Loki routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/query", get(query).post(query))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(label_values).post(label_values),
        )
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route("/loki/{*rest}", any(not_served))
}

/// Any other path under `/loki/`: a 404 that says what is served (rather than the UI page the
/// fallback would give, which a Loki client would fail to read as JSON).
async fn not_served(uri: axum::http::Uri) -> LokiError {
    LokiError(ApiError::NotFound(format!(
        "otelite does not serve {}: its Loki API is query_range, query, labels, label/{{name}}/values, series, tail and status/buildinfo under /loki/api/v1/",
        uri.path()
    )))
}

/// An [`ApiError`] as Loki answers errors: the status code and the sentence as plain text.
#[derive(Debug)]
pub(crate) struct LokiError(ApiError);

impl From<ApiError> for LokiError {
    fn from(e: ApiError) -> Self {
        LokiError(e)
    }
}

impl From<otelite_storage::ReadError> for LokiError {
    fn from(e: otelite_storage::ReadError) -> Self {
        LokiError(e.into())
    }
}

impl From<logql::ParseError> for LokiError {
    fn from(e: logql::ParseError) -> Self {
        LokiError(ApiError::BadRequest(e.to_string()))
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!("{}", self.0);
        }
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.0),
        )
            .into_response()
    }
}

fn bad(message: String) -> LokiError {
    LokiError(ApiError::BadRequest(message))
}

/// A time as Loki reads one: float seconds (with a `.`), integer seconds (up to 10 digits) or
/// nanoseconds, or RFC 3339.
fn parse_time(name: &str, text: &str) -> Result<u64, LokiError> {
    if text.contains('.')
        && let Ok(seconds) = text.parse::<f64>()
        && (0.0..u64::MAX as f64 / 1e9).contains(&seconds)
    {
        // Loki rounds float seconds to milliseconds.
        let ms = (seconds * 1000.0).round() as u64;
        return Ok(ms * 1_000_000);
    }
    if let Ok(n) = text.parse::<u64>() {
        return Ok(if text.len() <= 10 { n * NS_PER_S } else { n });
    }
    params::parse_rfc3339(name, text).map_err(|_| {
        bad(format!(
            "invalid parameter {name}={text:?}: give unix nanoseconds, unix seconds (e.g. 1700000000.5) or an RFC 3339 time"
        ))
    })
}

/// `start` and `end` (default: now and `lookback` before it), checked against each other and
/// against `--query-max-range` (`max_range`).
fn time_range(
    params: &Params,
    lookback: u64,
    max_range: Option<Duration>,
) -> Result<(u64, u64), LokiError> {
    let end = match params.get("end") {
        Some(text) => parse_time("end", text)?,
        None => params::now_unix_nanos(),
    };
    let start = match params.get("start") {
        Some(text) => parse_time("start", text)?,
        None => end.saturating_sub(lookback),
    };
    if end < start {
        return Err(bad(
            "the end timestamp must not be before the start time".into()
        ));
    }
    if let Some(max) = max_range
        && end - start > max.as_nanos() as u64
    {
        return Err(bad(format!(
            "the query time range exceeds the limit (query length: {}, limit: {}, --query-max-range): ask for a shorter range",
            go_duration_text(end - start),
            crate::otlp::human_duration(max)
        )));
    }
    Ok((start, end))
}

/// A duration as Go prints one, roughly: `744h0m0s`.
fn go_duration_text(ns: u64) -> String {
    let s = ns / NS_PER_S;
    format!("{}h{}m{}s", s / 3600, s / 60 % 60, s % 60)
}

/// `limit`: how many lines to return, at most `max` (`--query-max-lines`; a larger limit is
/// cut to it, as Loki cuts to its `max_entries_limit_per_query`).
fn parse_limit(params: &Params, max: usize) -> Result<usize, LokiError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT.min(max)),
        Some(text) => match text.parse::<usize>() {
            Ok(0) | Err(_) => Err(bad(format!(
                "invalid parameter limit={text:?}: give a positive whole number (at most {max} are returned)"
            ))),
            Ok(n) => Ok(n.min(max)),
        },
    }
}

fn parse_direction(params: &Params) -> Result<Direction, LokiError> {
    match params
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(bad(format!(
            "invalid parameter direction={other:?}: give forward or backward"
        ))),
    }
}

/// `step` as a duration (`15s`) or float seconds; absent, Loki's default of
/// `max(ceil((end - start) / 250 s), 1 s)`.
fn parse_step(params: &Params, start: u64, end: u64) -> Result<u64, LokiError> {
    let step = match params.get("step") {
        None => ((end - start).div_ceil(250 * NS_PER_S)).max(1) * NS_PER_S,
        Some(text) => {
            let ns = match text.parse::<f64>() {
                Ok(seconds) if seconds.is_finite() => (seconds * 1e9).round().max(0.0) as u64,
                _ => logql::duration_ns(text).ok_or_else(|| {
                    bad(format!(
                        "invalid parameter step={text:?}: give seconds (e.g. 15) or a duration (e.g. 1m)"
                    ))
                })?,
            };
            if ns == 0 {
                return Err(bad(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                ));
            }
            ns
        }
    };
    if (end - start) / step + 1 > MAX_POINTS {
        return Err(bad(format!(
            "exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try increasing the value of the step parameter"
        )));
    }
    Ok(step)
}

/// Refuses a range (`[400d]`) longer than a query may cover (`--query-max-range`).
fn check_ranges(expr: &logql::MetricExpr, max_range: Option<Duration>) -> Result<(), LokiError> {
    match expr {
        logql::MetricExpr::Range { range_ns, .. }
            if max_range.is_some_and(|max| *range_ns > max.as_nanos() as u64) =>
        {
            Err(bad(format!(
                "the range [{}] exceeds the limit of {} (--query-max-range): give a shorter range",
                go_duration_text(*range_ns),
                crate::otlp::human_duration(max_range.unwrap_or_default())
            )))
        }
        logql::MetricExpr::Aggregate { inner, .. } => check_ranges(inner, max_range),
        _ => Ok(()),
    }
}

fn required_query(params: &Params) -> Result<Expr, LokiError> {
    let text = params
        .get("query")
        .ok_or_else(|| bad("the parameter query is missing: give a LogQL query".into()))?;
    Ok(logql::parse(text)?)
}

/// `GET|POST /loki/api/v1/query_range`: a log query's streams or a metric query's matrix.
async fn query_range(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, LokiError> {
    let params = Params::with_form(raw, &body);
    let expr = required_query(&params)?;
    let (start, end) = time_range(&params, DEFAULT_LOOKBACK_NS, state.limits.query_max_range)?;
    let store = state.query_store();
    match expr {
        Expr::Log(log) => {
            let limit = parse_limit(&params, state.limits.query_max_lines)?;
            let direction = parse_direction(&params)?;
            let range = TimeRange::new(start, end);
            let (streams, _) =
                blocking(move || eval::log_streams(&store, &log, range, direction, limit, None))
                    .await?;
            Ok(Json(success("streams", streams_json(streams))))
        }
        Expr::Metric(metric) => {
            check_ranges(&metric, state.limits.query_max_range)?;
            let step = parse_step(&params, start, end)?;
            let steps = eval::steps(start, end, step);
            let result = {
                let steps = steps.clone();
                blocking(move || eval::metric(&store, &metric, &steps)).await?
            };
            let matrix = result
                .into_iter()
                .map(|series| {
                    let values: Vec<Value> = series
                        .points
                        .iter()
                        .map(|&(i, v)| sample(steps[i], v))
                        .collect();
                    json!({"metric": series.labels, "values": values})
                })
                .collect();
            Ok(Json(success("matrix", matrix)))
        }
    }
}

/// `GET|POST /loki/api/v1/query`: a metric query at `time` (default now). Log queries are
/// refused as Loki 3 refuses them: they belong to `query_range`.
async fn query(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, LokiError> {
    let params = Params::with_form(raw, &body);
    let expr = required_query(&params)?;
    let Expr::Metric(metric) = expr else {
        return Err(bad(
            "log queries are not supported as an instant query type, please change your query to a range query type".into(),
        ));
    };
    check_ranges(&metric, state.limits.query_max_range)?;
    let time = match params.get("time") {
        Some(text) => parse_time("time", text)?,
        None => params::now_unix_nanos(),
    };
    let store = state.query_store();
    let result = blocking(move || eval::metric(&store, &metric, &[time])).await?;
    let vector = result
        .into_iter()
        .filter_map(|series| {
            let &(_, value) = series.points.first()?;
            Some(json!({"metric": series.labels, "value": sample(time, value)}))
        })
        .collect();
    Ok(Json(success("vector", vector)))
}

/// `[<unix seconds>, "<value>"]`, a point as Prometheus and Loki print it: whole seconds
/// without a fraction, others to the millisecond.
fn sample(time: u64, value: f64) -> Value {
    let seconds = if time.is_multiple_of(NS_PER_S) {
        json!(time / NS_PER_S)
    } else {
        json!((time / 1_000_000) as f64 / 1e3)
    };
    let text = if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        value.to_string()
    };
    json!([seconds, text])
}

fn success(result_type: &str, result: Vec<Value>) -> Value {
    let entries: usize = if result_type == "streams" {
        result
            .iter()
            .map(|s| s["values"].as_array().map_or(0, Vec::len))
            .sum()
    } else {
        0
    };
    json!({
        "status": "success",
        "data": {
            "resultType": result_type,
            "result": result,
            "stats": {"summary": {"totalEntriesReturned": entries}},
        },
    })
}

/// Streams as Loki prints them: `{"stream": labels, "values": [["<ns>", "<line>"], ...]}`.
fn streams_json(streams: BTreeMap<Labels, eval::StreamEntries>) -> Vec<Value> {
    streams
        .into_iter()
        .map(|(labels, entries)| {
            let values: Vec<Value> = entries
                .into_iter()
                .map(|(time, line)| json!([time.to_string(), line]))
                .collect();
            json!({"stream": labels, "values": values})
        })
        .collect()
}

/// The stream labels of every stream in `start..end` that `query` (a selector, when given)
/// matches.
async fn matching_streams(
    state: AppState,
    params: &Params,
    selectors: Vec<Vec<Matcher>>,
) -> Result<BTreeSet<Labels>, LokiError> {
    let (start, end) = time_range(params, LABELS_LOOKBACK_NS, state.limits.query_max_range)?;
    let store = state.query_store();
    let streams = blocking(move || Ok(store.log_streams(TimeRange::new(start, end))?)).await?;
    Ok(streams
        .iter()
        .map(|s| {
            pipeline::stream_labels(
                s.resource.iter().map(|(k, v)| (k.as_str(), v.clone())),
                &s.severity_text,
            )
        })
        .filter(|labels| {
            selectors.is_empty()
                || selectors
                    .iter()
                    .any(|selector| pipeline::selector_matches(selector, labels))
        })
        .collect())
}

fn optional_selector(params: &Params) -> Result<Vec<Vec<Matcher>>, LokiError> {
    Ok(match params.get("query") {
        Some(text) => vec![logql::parse_selector(text)?],
        None => Vec::new(),
    })
}

/// `GET|POST /loki/api/v1/labels`: the names of stream labels.
async fn labels(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, LokiError> {
    let params = Params::with_form(raw, &body);
    let selectors = optional_selector(&params)?;
    let streams = matching_streams(state, &params, selectors).await?;
    let names: BTreeSet<&String> = streams.iter().flat_map(|labels| labels.keys()).collect();
    Ok(Json(json!({"status": "success", "data": names})))
}

/// `GET|POST /loki/api/v1/label/{name}/values`: the values one stream label takes.
async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, LokiError> {
    let params = Params::with_form(raw, &body);
    let selectors = optional_selector(&params)?;
    let streams = matching_streams(state, &params, selectors).await?;
    let values: BTreeSet<&String> = streams.iter().filter_map(|l| l.get(&name)).collect();
    Ok(Json(json!({"status": "success", "data": values})))
}

/// `GET|POST /loki/api/v1/series?match[]=...`: the streams matching any selector.
async fn series(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, LokiError> {
    let params = Params::with_form(raw, &body);
    let selectors = params
        .all("match[]")
        .chain(params.all("match"))
        .map(logql::parse_selector)
        .collect::<Result<Vec<_>, _>>()?;
    if selectors.is_empty() {
        return Err(bad(
            "the parameter match[] is missing: give a stream selector such as match[]={service_name=\"cart\"}".into(),
        ));
    }
    let streams = matching_streams(state, &params, selectors).await?;
    Ok(Json(json!({"status": "success", "data": streams})))
}

/// `GET /loki/api/v1/status/buildinfo`. Grafana reads the version to decide which Loki
/// features it may use; otelite answers as the Loki 3 whose API it speaks, and says in
/// `revision` what it really is.
async fn buildinfo() -> Json<Value> {
    Json(json!({
        "version": "3.0.0",
        "revision": format!("otelite-{}", crate::VERSION),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

#[cfg(test)]
mod tests {
    //! The routes over a real store without a socket: parameters and errors. The answers to
    //! real queries are checked against golden files by `tests/tests/log_queries.rs`.

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;
    use crate::ingest::test_support;

    async fn get(uri: &str) -> (StatusCode, String) {
        let (state, _dir) = test_support::state(1 << 20);
        let app = crate::query::router(state);
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn encoded(query: &str) -> String {
        form_urlencoded::byte_serialize(query.as_bytes()).collect()
    }

    #[tokio::test]
    async fn bad_requests_are_400_with_the_reason() {
        let cases = [
            (
                format!("/loki/api/v1/query_range?query={}", encoded(r#"{a="b""#)),
                "parse error at line 1, col 7: syntax error",
            ),
            (
                format!("/loki/api/v1/query_range?query={}", encoded(r#"{a=~"(x"}"#)),
                "invalid regular expression",
            ),
            (
                format!(
                    "/loki/api/v1/query_range?query={}",
                    encoded(r#"nope({a="b"}[1m])"#)
                ),
                "unknown function \"nope\"",
            ),
            (
                format!(
                    "/loki/api/v1/query_range?query={}&start=0&end=1700000000",
                    encoded(r#"{a="b"}"#)
                ),
                "exceeds the limit",
            ),
            (
                format!(
                    "/loki/api/v1/query_range?query={}&start=1700000000&end=1600000000",
                    encoded(r#"{a="b"}"#)
                ),
                "must not be before the start",
            ),
            (
                format!(
                    "/loki/api/v1/query_range?query={}&start=1700000000&end=1702000000&step=1",
                    encoded(r#"count_over_time({a="b"}[1m])"#)
                ),
                "exceeded maximum resolution of 11000 points",
            ),
            (
                format!("/loki/api/v1/query?query={}", encoded(r#"{a="b"}"#)),
                "log queries are not supported as an instant query",
            ),
            (
                format!(
                    "/loki/api/v1/query_range?query={}&limit=x",
                    encoded(r#"{a="b"}"#)
                ),
                "invalid parameter limit",
            ),
            ("/loki/api/v1/series".to_string(), "match[] is missing"),
            (
                format!(
                    "/loki/api/v1/query?query={}",
                    encoded(r#"sum(rate({a="b"}[31d]))"#)
                ),
                "the range [744h0m0s] exceeds the limit of 30d",
            ),
            ("/loki/api/v1/query_range".to_string(), "query is missing"),
            (
                format!(
                    "/loki/api/v1/label/a/values?query={}",
                    encoded(r#"{a="b"} |= "x""#)
                ),
                "unexpected \"|=\", expecting end of input",
            ),
        ];
        for (uri, reason) in cases {
            let (status, body) = get(&uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(body.contains(reason), "{uri}: {body}");
        }
    }

    #[tokio::test]
    async fn post_bodies_are_read_like_query_strings_and_other_paths_are_404() {
        let (state, _dir) = test_support::state(1 << 20);
        let app = crate::query::router(state);
        let form = format!("query={}&time=1700000000", encoded("vector(2) * 3"));
        let response = app
            .clone()
            .oneshot(
                Request::post("/loki/api/v1/query")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(form))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["data"]["result"][0]["value"], json!([1700000000, "6"]));
        let (status, body) = get("/loki/api/v1/index/volume").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body.contains("does not serve /loki/api/v1/index/volume"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn grafanas_health_check_is_answered() {
        let (status, body) = get(&format!(
            "/loki/api/v1/query?query={}&time=1700000000",
            encoded("vector(1)+vector(1)")
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["data"]["resultType"], "vector");
        assert_eq!(
            body["data"]["result"],
            json!([{"metric": {}, "value": [1700000000, "2"]}])
        );
        let (status, labels) = get("/loki/api/v1/labels").await;
        assert_eq!(
            (status, labels.as_str()),
            (StatusCode::OK, r#"{"data":[],"status":"success"}"#)
        );
    }

    #[test]
    fn times_read_as_loki_reads_them() {
        let p = |t: &str| parse_time("start", t).map_err(|e| e.0.to_string());
        assert_eq!(p("1700000000"), Ok(1_700_000_000 * NS_PER_S));
        assert_eq!(p("1700000000.25"), Ok(1_700_000_000_250_000_000));
        assert_eq!(p("1700000000123456789"), Ok(1_700_000_000_123_456_789));
        assert_eq!(p("2023-11-14T22:13:20Z"), Ok(1_700_000_000 * NS_PER_S));
        assert!(p("yesterday").unwrap_err().contains("start=\"yesterday\""));
    }

    #[test]
    fn the_default_step_is_lokis() {
        let p = Params::parse(None);
        assert_eq!(parse_step(&p, 0, 3_600 * NS_PER_S).unwrap(), 15 * NS_PER_S);
        assert_eq!(parse_step(&p, 0, 10 * NS_PER_S).unwrap(), NS_PER_S);
        let p = Params::parse(Some("step=1m"));
        assert_eq!(parse_step(&p, 0, 3_600 * NS_PER_S).unwrap(), 60 * NS_PER_S);
        let p = Params::parse(Some("step=0.5"));
        assert_eq!(parse_step(&p, 0, 60 * NS_PER_S).unwrap(), NS_PER_S / 2);
    }
}
