//! Prometheus' HTTP query API on the UI port, so Grafana's Prometheus data source, `promtool
//! query` and scripts work unchanged: `/api/v1/query`, `/query_range`, `/series`, `/labels`,
//! `/label/{name}/values`, `/metadata`, `/query_exemplars`, `/status/buildinfo` (and the empty
//! `/rules` and `/alerts` that Grafana asks for), each GET or POST form, answered in
//! Prometheus' JSON shapes (`otelite_api::prometheus`) with its error types and status codes.
//!
//! PromQL is evaluated by `otelite-promql` over the store, read through the OpenTelemetry to
//! Prometheus translation of `translate.rs` (`source.rs`).

mod exemplars;
mod source;
mod translate;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use otelite_api::prometheus::{
    ApiResponse, BuildInfo, ErrorType, LabelSet, MatrixSeries, Metadata, MetricMetadata,
    MetricType, QueryData, Sample, StringSample, VectorSample,
};
use otelite_promql::promql_parser::label::Matcher;
use otelite_promql::promql_parser::parser::{self, Expr};
use otelite_promql::{Options, Value};

use self::source::StoreSource;
use self::translate::{Family, PromType};
use crate::query::traces::params::{Params, now_unix_nanos, parse_rfc3339};
use crate::query::{ApiError, blocking};
use crate::state::AppState;

/// Points a range query may ask for per series, as in Prometheus.
const MAX_POINTS: i64 = 11_000;

/// Series a `/series`, `/labels` or `/label/.../values` answer may hold unless `limit` says
/// fewer; beyond it the answer is cut and says so in `warnings`.
const MAX_SERIES: usize = 100_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
}

/// A failure answered in Prometheus' shape: `{"status":"error","errorType":…,"error":…}`.
#[derive(Debug)]
pub(crate) struct PromError {
    kind: ErrorType,
    message: String,
}

fn bad(message: impl Into<String>) -> PromError {
    PromError {
        kind: ErrorType::BadData,
        message: message.into(),
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("{}", self.message);
        }
        let body: ApiResponse<()> = ApiResponse::error(self.kind, self.message);
        (status, Json(body)).into_response()
    }
}

impl From<ApiError> for PromError {
    fn from(e: ApiError) -> Self {
        let kind = match &e {
            ApiError::BadRequest(_) => ErrorType::BadData,
            ApiError::NotFound(_) => ErrorType::NotFound,
            ApiError::Storage(_) => ErrorType::Internal,
            ApiError::Unavailable(_) => ErrorType::Unavailable,
            ApiError::Timeout(_) => ErrorType::Timeout,
        };
        PromError {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<otelite_storage::ReadError> for PromError {
    fn from(e: otelite_storage::ReadError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<otelite_promql::Error> for PromError {
    fn from(e: otelite_promql::Error) -> Self {
        use otelite_promql::Error;
        let kind = match &e {
            Error::Parse { .. } | Error::TooManyPoints { .. } => ErrorType::BadData,
            Error::TooManySamples | Error::Execution(_) => ErrorType::Execution,
            Error::Timeout => ErrorType::Timeout,
            Error::Source(_) => ErrorType::Internal,
            _ => ErrorType::Execution,
        };
        PromError {
            kind,
            message: e.to_string(),
        }
    }
}

type Answer<T> = Result<Json<ApiResponse<T>>, PromError>;

fn success<T>(data: T) -> Answer<T> {
    Ok(Json(ApiResponse::success(data)))
}

/// A time as Prometheus reads one: unix seconds with an optional fraction, or RFC 3339; in
/// unix milliseconds.
fn parse_time(name: &str, text: &str) -> Result<i64, PromError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        let ms = (seconds * 1000.0).round();
        if ms.abs() < 9.2e15 {
            return Ok(ms as i64);
        }
    }
    let ns = parse_rfc3339(name, text).map_err(|_| {
        bad(format!(
            "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp: give unix seconds (e.g. 1700000000.5) or an RFC 3339 time"
        ))
    })?;
    Ok((ns / 1_000_000) as i64)
}

/// A duration as Prometheus reads one: float seconds, or `1h30m`-style with units `y w d h m
/// s ms`; in milliseconds.
fn parse_duration(name: &str, text: &str) -> Result<i64, PromError> {
    let invalid = || {
        bad(format!(
            "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration: give seconds (e.g. 15) or a duration (e.g. 1m)"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 9.2e12 {
            return Err(invalid());
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    duration_ms(text).ok_or_else(invalid)
}

/// `1h30m`, `5m`, `1d`, `250ms`: Prometheus' duration syntax, in milliseconds.
fn duration_ms(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let mut rest = text;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, scale) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit))?;
        total = total.checked_add(number.checked_mul(*scale)?)?;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

fn now_ms() -> i64 {
    (now_unix_nanos() / 1_000_000) as i64
}

fn required_query(params: &Params) -> Result<String, PromError> {
    params.get("query").map(str::to_string).ok_or_else(|| {
        bad("invalid parameter \"query\": the parameter is missing: give a PromQL expression")
    })
}

/// The engine's options for one request: `timeout` (never beyond `--query-timeout`) as a
/// deadline, so a query that runs too long stops its work rather than only its answer.
fn options(state: &AppState, params: &Params) -> Result<Options, PromError> {
    let mut limit = state.limits.query_timeout;
    if let Some(text) = params.get("timeout") {
        let ms = parse_duration("timeout", text)?;
        if ms <= 0 {
            return Err(bad(
                "invalid parameter \"timeout\": give a positive duration",
            ));
        }
        let asked = Duration::from_millis(ms as u64);
        limit = Some(limit.map_or(asked, |l| l.min(asked)));
    }
    Ok(Options {
        deadline: limit.map(|l| Instant::now() + l),
        ..Options::default()
    })
}

fn labels_json(labels: otelite_promql::Labels) -> LabelSet {
    labels.into_iter().collect()
}

fn query_data(value: Value) -> QueryData {
    match value {
        Value::Scalar { t, v } => QueryData::Scalar(Sample { t, v }),
        Value::String { t, v } => QueryData::String(StringSample { t, v }),
        Value::Vector(samples) => QueryData::Vector(
            samples
                .into_iter()
                .map(|s| VectorSample {
                    metric: labels_json(s.labels),
                    value: Sample { t: s.t, v: s.v },
                })
                .collect(),
        ),
        Value::Matrix(series) => QueryData::Matrix(
            series
                .into_iter()
                .map(|s| MatrixSeries {
                    metric: labels_json(s.labels),
                    values: s
                        .samples
                        .into_iter()
                        .map(|p| Sample { t: p.t, v: p.v })
                        .collect(),
                })
                .collect(),
        ),
    }
}

/// An evaluation's outcome, with a selector refused for selecting too many series reported
/// as the query's fault (`execution`, 422) rather than the store's.
fn evaluated(
    source: &StoreSource,
    outcome: Result<Value, otelite_promql::Error>,
) -> Result<Value, PromError> {
    outcome.map_err(|e| match e {
        otelite_promql::Error::Source(message)
            if source
                .too_many_series
                .load(std::sync::atomic::Ordering::Relaxed) =>
        {
            PromError {
                kind: ErrorType::Execution,
                message,
            }
        }
        other => other.into(),
    })
}

/// `GET|POST /api/v1/query`: an instant query at `time` (default now).
async fn query(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Answer<QueryData> {
    let params = Params::with_form(raw, &body);
    let text = required_query(&params)?;
    let time = match params.get("time") {
        Some(t) => parse_time("time", t)?,
        None => now_ms(),
    };
    let options = options(&state, &params)?;
    let store = state.query_store();
    let max_series = state.limits.query_max_series;
    let value = blocking(move || {
        let source = StoreSource::new(&store, max_series);
        Ok(evaluated(
            &source,
            otelite_promql::instant(&source, &text, time, &options),
        ))
    })
    .await??;
    success(query_data(value))
}

/// `GET|POST /api/v1/query_range`: a range query from `start` to `end` every `step`.
async fn query_range(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Answer<QueryData> {
    let params = Params::with_form(raw, &body);
    let text = required_query(&params)?;
    let start = parse_time(
        "start",
        params
            .get("start")
            .ok_or_else(|| bad("invalid parameter \"start\": the parameter is missing"))?,
    )?;
    let end = parse_time(
        "end",
        params
            .get("end")
            .ok_or_else(|| bad("invalid parameter \"end\": the parameter is missing"))?,
    )?;
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = parse_duration(
        "step",
        params
            .get("step")
            .ok_or_else(|| bad("invalid parameter \"step\": the parameter is missing"))?,
    )?;
    if step <= 0 {
        return Err(bad(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step >= MAX_POINTS {
        return Err(bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    if let Some(max) = state.limits.query_max_range
        && (end - start) as u128 > max.as_millis()
    {
        return Err(bad(format!(
            "the query time range exceeds the limit of {} (--query-max-range): ask for a shorter range",
            crate::otlp::human_duration(max)
        )));
    }
    let options = options(&state, &params)?;
    let store = state.query_store();
    let max_series = state.limits.query_max_series;
    let value = blocking(move || {
        let source = StoreSource::new(&store, max_series);
        Ok(evaluated(
            &source,
            otelite_promql::range(&source, &text, start, end, step, &options),
        ))
    })
    .await??;
    success(query_data(value))
}

/// `start` and `end` of a metadata request (series, labels, values, exemplars): both
/// optional, defaulting to everything stored.
fn metadata_range(params: &Params) -> Result<(i64, i64), PromError> {
    let start = params
        .get("start")
        .map(|t| parse_time("start", t))
        .transpose()?
        .unwrap_or(0);
    let end = params
        .get("end")
        .map(|t| parse_time("end", t))
        .transpose()?
        .unwrap_or(i64::MAX / 2);
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

/// The matchers of each `match[]` selector; each must be a plain series selector.
fn selectors(params: &Params) -> Result<Vec<Vec<Matcher>>, PromError> {
    let lists: Vec<Vec<Vec<Matcher>>> = params
        .all("match[]")
        .map(|text| match parser::parse(text) {
            Ok(Expr::VectorSelector(selector)) => Ok(source::selector_matchers(&selector)),
            Ok(_) => Err(bad(format!(
                "invalid parameter \"match[]\": {text:?} is not a series selector: give one such as up{{job=\"api\"}}"
            ))),
            Err(e) => Err(bad(format!("invalid parameter \"match[]\": {e}"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(lists.into_iter().flatten().collect())
}

fn limit(params: &Params) -> Result<usize, PromError> {
    match params.get("limit") {
        None => Ok(MAX_SERIES),
        Some(text) => match text.parse::<usize>() {
            Ok(0) => Ok(MAX_SERIES),
            Ok(n) => Ok(n.min(MAX_SERIES)),
            Err(_) => Err(bad(format!(
                "invalid parameter \"limit\": {text:?} is not a whole number"
            ))),
        },
    }
}

/// The label sets of every series matching any of `selectors` in the range.
async fn matching_series(
    state: &AppState,
    selectors: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
) -> Result<BTreeSet<otelite_promql::Labels>, PromError> {
    let store = state.query_store();
    let max_series = state.limits.query_max_series;
    let sets = blocking(move || {
        let source = StoreSource::new(&store, max_series);
        let mut sets = BTreeSet::new();
        for matchers in &selectors {
            let series = otelite_promql::Source::select(&source, matchers, start, end)
                .map_err(ApiError::Storage)?;
            sets.extend(series.into_iter().map(|s| s.labels));
        }
        Ok(sets)
    })
    .await?;
    Ok(sets)
}

/// `GET|POST /api/v1/series`: the label sets of the series `match[]` selects.
async fn series(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Answer<Vec<LabelSet>> {
    let params = Params::with_form(raw, &body);
    let selectors = selectors(&params)?;
    if selectors.is_empty() {
        return Err(bad("no match[] parameter provided"));
    }
    let (start, end) = metadata_range(&params)?;
    let limit = limit(&params)?;
    let sets = matching_series(&state, selectors, start, end).await?;
    let truncated = sets.len() > limit;
    let mut answer = ApiResponse::success(sets.into_iter().take(limit).map(labels_json).collect());
    if truncated {
        answer
            .warnings
            .push(format!("results truncated due to limit of {limit}"));
    }
    Ok(Json(answer))
}

/// Label names or the values of one label, over the series `match[]` selects or, without
/// it, over every series stored in the range.
async fn label_sets(
    state: &AppState,
    params: &Params,
    wants_points: bool,
) -> Result<BTreeSet<otelite_promql::Labels>, PromError> {
    let selectors = selectors(params)?;
    let (start, end) = metadata_range(params)?;
    if !selectors.is_empty() || wants_points {
        let selectors = if selectors.is_empty() {
            vec![vec![]]
        } else {
            selectors
        };
        return matching_series(state, selectors, start, end).await;
    }
    // Without `match[]` the descriptors answer: every family's names and shared labels, and
    // `target_info`'s; `le` and `quantile` are named but their values need points (asked for
    // with `wants_points`).
    let store = state.query_store();
    let range = source::time_range(start, end);
    let described = blocking(move || Ok(store.metric_series(range)?)).await?;
    let mut sets = BTreeSet::new();
    for series in described.iter() {
        let family = Family::of(series);
        for name in family.series_names() {
            let mut labels = family.labels.clone();
            match family.kind {
                PromType::Histogram if name.ends_with("_bucket") => {
                    translate::set_label(&mut labels, "le", String::new())
                }
                PromType::Summary if name == family.name => {
                    translate::set_label(&mut labels, "quantile", String::new())
                }
                _ => {}
            }
            translate::set_label(&mut labels, "__name__", name);
            sets.insert(labels);
        }
        sets.insert(translate::target_info_labels(&series.resource.attributes));
    }
    Ok(sets)
}

/// `GET|POST /api/v1/labels`: every label name.
async fn labels(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Answer<Vec<String>> {
    let params = Params::with_form(raw, &body);
    let limit = limit(&params)?;
    let sets = label_sets(&state, &params, false).await?;
    let mut names = BTreeSet::new();
    for labels in &sets {
        names.extend(labels.iter().map(|(name, _)| name.clone()));
    }
    success(names.into_iter().take(limit).collect())
}

/// `GET /api/v1/label/{name}/values`: every value of one label.
async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer<Vec<String>> {
    let params = Params::parse(raw.as_deref());
    let limit = limit(&params)?;
    let wants_points = name == "le" || name == "quantile";
    let sets = label_sets(&state, &params, wants_points).await?;
    let values: BTreeSet<String> = sets
        .iter()
        .filter_map(|labels| {
            labels
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .filter(|v| !v.is_empty())
        .collect();
    success(values.into_iter().take(limit).collect())
}

/// `GET /api/v1/metadata`: type, help and unit of every metric (or of `metric`).
async fn metadata(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Answer<Metadata> {
    let params = Params::parse(raw.as_deref());
    let limit = limit(&params)?;
    let wanted = params.get("metric").map(str::to_string);
    let (start, end) = metadata_range(&params)?;
    let store = state.query_store();
    let range = source::time_range(start, end);
    let described = blocking(move || Ok(store.metric_series(range)?)).await?;
    let mut metadata: BTreeMap<String, Vec<MetricMetadata>> = BTreeMap::new();
    for series in described.iter() {
        let family = Family::of(series);
        if wanted.as_ref().is_some_and(|w| *w != family.name) {
            continue;
        }
        let entry = MetricMetadata {
            metric_type: match family.kind {
                PromType::Counter => MetricType::Counter,
                PromType::Gauge => MetricType::Gauge,
                PromType::Histogram => MetricType::Histogram,
                PromType::Summary => MetricType::Summary,
            },
            help: series.description.clone(),
            unit: translate::unit_name(&series.unit),
        };
        let entries = metadata.entry(family.name).or_default();
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    // The resource attributes' series, as Prometheus' OTLP receiver describes it.
    let wants_target_info = wanted.as_ref().is_none_or(|w| w == translate::TARGET_INFO);
    if wants_target_info && !described.is_empty() {
        metadata.insert(
            translate::TARGET_INFO.to_string(),
            vec![MetricMetadata {
                metric_type: MetricType::Gauge,
                help: "Target metadata".into(),
                unit: String::new(),
            }],
        );
    }
    success(metadata.into_iter().take(limit).collect())
}

/// `GET|POST /api/v1/query_exemplars`: the exemplars of the series a query's selectors
/// select, between `start` and `end`.
async fn query_exemplars(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Answer<Vec<otelite_api::prometheus::ExemplarSeries>> {
    let params = Params::with_form(raw, &body);
    let text = required_query(&params)?;
    let expr =
        parser::parse(&text).map_err(|e| bad(format!("invalid parameter \"query\": {e}")))?;
    let (start, end) = metadata_range(&params)?;
    let selectors = exemplars::selectors(&expr);
    let store = state.query_store();
    let found = blocking(move || {
        exemplars::find(&store, &selectors, start, end).map_err(ApiError::Storage)
    })
    .await?;
    success(found)
}

/// `GET /api/v1/status/buildinfo`. Grafana reads the version to decide which Prometheus
/// features it may use; otelite answers as the Prometheus 3 whose API it speaks, and says in
/// `revision` what it really is.
async fn buildinfo() -> Answer<BuildInfo> {
    success(BuildInfo {
        version: "3.0.0".into(),
        revision: format!("otelite-{}", crate::VERSION),
        branch: String::new(),
        build_user: String::new(),
        build_date: String::new(),
        go_version: String::new(),
    })
}

/// `GET /api/v1/rules`: otelite evaluates no recording or alerting rules.
async fn rules() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "success", "data": {"groups": []}}))
}

/// `GET /api/v1/alerts`: with no alerting rules, no alerts.
async fn alerts() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "success", "data": {"alerts": []}}))
}
