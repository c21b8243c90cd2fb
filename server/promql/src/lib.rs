//! PromQL evaluation over any [`Source`] of samples, with Prometheus' semantics.
//!
//! Parsing is `promql-parser`'s; everything after the AST is ours: selecting and loading
//! series once per selector, lookback and staleness, `offset` and `@`, subqueries, functions,
//! aggregations, binary operators with vector matching, and Prometheus' delayed removal of
//! `__name__`. Results are meant to equal Prometheus' own, which the promqltest runner in
//! `tests/` checks against Prometheus' evaluation tests.
//!
//! This crate never depends on storage, the server, tokio or HTTP: the server adapts its store
//! to [`Source`] and maps [`Error`] to Prometheus' API error types. Native histograms are not
//! supported (every sample is a float).

mod aggregate;
mod binary;
mod eval;
mod functions;
mod hash;
mod quantile;
mod value;

pub use promql_parser;

/// A label set sorted by name; the metric name is under `__name__`.
pub type Labels = Vec<(String, String)>;

/// The value of Prometheus' stale marker (a NaN with these exact bits): a series written with
/// it ends there instead of lasting for the lookback delta.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus' stale marker (not any NaN: only the one with `STALE_NAN`'s bits).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Unix time in milliseconds.
    pub t: i64,
    pub v: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Where samples come from. Stale markers are samples whose value has the bits of
/// [`STALE_NAN`], as in Prometheus.
pub trait Source {
    /// Series matching every matcher with their samples in [start, end] (ms, inclusive),
    /// samples sorted by time.
    fn select(
        &self,
        matchers: &[promql_parser::label::Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, String>;
}

/// Limits and defaults of one evaluation.
#[derive(Clone, Debug)]
pub struct Options {
    /// How far back an instant selector looks for a sample (Prometheus: 5 minutes).
    pub lookback_ms: i64,
    /// Most steps a range query may have (Prometheus: 11,000).
    pub max_points_per_series: usize,
    /// Most samples loaded at once.
    pub max_samples: usize,
    /// When the evaluation gives up with [`Error::Timeout`].
    pub deadline: Option<std::time::Instant>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lookback_ms: 300_000,
            max_points_per_series: 11_000,
            max_samples: 50_000_000,
            deadline: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// A query's result, in Prometheus' four result types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<VectorSample>),
    Matrix(Vec<Series>),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query does not parse or is ill-typed (Prometheus' "bad_data").
    #[error("{message}")]
    Parse { message: String },
    /// A range query asks for more steps than allowed.
    #[error(
        "exceeded maximum resolution of 11,000 points per timeseries (this query needs {points}); try decreasing the query resolution (?step=XX)"
    )]
    TooManyPoints { points: usize },
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// The source failed.
    #[error("reading series: {0}")]
    Source(String),
    /// The query is valid but cannot be evaluated on this data (Prometheus' "execution").
    #[error("{0}")]
    Execution(String),
}

/// Evaluates `query` at time `t` (ms).
pub fn instant(
    source: &dyn Source,
    query: &str,
    t: i64,
    options: &Options,
) -> Result<Value, Error> {
    eval::instant(source, query, t, options)
}

/// Evaluates `query` at every step `start, start+step, ..., end` (ms) into a matrix.
pub fn range(
    source: &dyn Source,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
    options: &Options,
) -> Result<Value, Error> {
    eval::range(source, query, start, end, step, options)
}
