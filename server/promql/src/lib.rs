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

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::label::Matcher;

    /// Two series, `up{job="a"}` and `up{job="b"}`, with a sample every 15 s for 10 minutes.
    struct TwoSeries;

    impl Source for TwoSeries {
        fn select(
            &self,
            matchers: &[Matcher],
            start: i64,
            end: i64,
        ) -> Result<Vec<Series>, String> {
            let mut out = Vec::new();
            for job in ["a", "b"] {
                let labels: Labels =
                    vec![("__name__".into(), "up".into()), ("job".into(), job.into())];
                let get = |n: &str| {
                    labels
                        .iter()
                        .find(|(k, _)| k == n)
                        .map_or("", |(_, v)| v.as_str())
                };
                if !matchers.iter().all(|m| m.is_match(get(&m.name))) {
                    continue;
                }
                let samples = (0..=40)
                    .map(|i| Sample {
                        t: i * 15_000,
                        v: i as f64,
                    })
                    .filter(|s| s.t >= start && s.t <= end)
                    .collect();
                out.push(Series { labels, samples });
            }
            Ok(out)
        }
    }

    #[test]
    fn instant_selects_the_newest_sample_in_the_lookback() {
        let v = instant(&TwoSeries, r#"up{job="b"}"#, 100_000, &Options::default()).unwrap();
        let Value::Vector(v) = v else { panic!("{v:?}") };
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].t, v[0].v), (100_000, 6.0));
    }

    #[test]
    fn range_evaluates_every_step_into_a_sorted_matrix() {
        let v = range(
            &TwoSeries,
            "sum by (job) (up) * 2",
            0,
            60_000,
            30_000,
            &Options::default(),
        )
        .unwrap();
        let Value::Matrix(m) = v else { panic!("{v:?}") };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].labels, vec![("job".to_string(), "a".to_string())]);
        let values: Vec<f64> = m[1].samples.iter().map(|s| s.v).collect();
        assert_eq!(values, vec![0.0, 4.0, 8.0]);
    }

    #[test]
    fn limits_and_errors_are_typed() {
        let opts = Options::default();
        assert!(matches!(
            instant(&TwoSeries, "sum(", 0, &opts),
            Err(Error::Parse { .. })
        ));
        assert!(matches!(
            range(&TwoSeries, "up", 0, 11_000_000, 1_000, &opts),
            Err(Error::TooManyPoints { points: 11_001 })
        ));
        assert!(matches!(
            range(&TwoSeries, "up[5m]", 0, 60_000, 1_000, &opts),
            Err(Error::Execution(_))
        ));
        let few = Options {
            max_samples: 10,
            ..Options::default()
        };
        assert!(matches!(
            instant(&TwoSeries, "up[10m]", 600_000, &few),
            Err(Error::TooManySamples)
        ));
        let late = Options {
            deadline: Some(std::time::Instant::now()),
            ..Options::default()
        };
        assert!(matches!(
            range(&TwoSeries, "rate(up[1m])", 0, 600_000, 1_000, &late),
            Err(Error::Timeout)
        ));
    }

    #[test]
    fn stale_marker_ends_a_series_before_the_lookback() {
        struct Stale;
        impl Source for Stale {
            fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Series>, String> {
                Ok(vec![Series {
                    labels: vec![("__name__".into(), "x".into())],
                    samples: vec![
                        Sample { t: 0, v: 1.0 },
                        Sample {
                            t: 10_000,
                            v: f64::from_bits(STALE_NAN),
                        },
                    ],
                }])
            }
        }
        let at = |t| match instant(&Stale, "x", t, &Options::default()).unwrap() {
            Value::Vector(v) => v.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at(5_000), 1);
        assert_eq!(at(10_000), 0);
    }
}
