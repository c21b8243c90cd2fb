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
//!
//! ```
//! use otelite_promql::{Labels, Options, Sample, Series, Source, Value, promql_parser::label::Matcher};
//!
//! /// One counter, `requests_total{job="api"}`, growing by 10 every 15 s.
//! struct OneCounter;
//!
//! impl Source for OneCounter {
//!     fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>, String> {
//!         let labels: Labels = vec![
//!             ("__name__".into(), "requests_total".into()),
//!             ("job".into(), "api".into()),
//!         ];
//!         let value = |name: &str| labels.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
//!         if !matchers.iter().all(|m| m.is_match(value(&m.name))) {
//!             return Ok(Vec::new());
//!         }
//!         let samples = (0..=40)
//!             .map(|i| Sample { t: i * 15_000, v: i as f64 * 10.0 })
//!             .filter(|s| (start..=end).contains(&s.t))
//!             .collect();
//!         Ok(vec![Series { labels, samples }])
//!     }
//! }
//!
//! let v = otelite_promql::instant(&OneCounter, "rate(requests_total[1m])", 600_000, &Options::default()).unwrap();
//! let Value::Vector(v) = v else { unreachable!() };
//! assert_eq!(v[0].labels, vec![("job".to_string(), "api".to_string())]);
//! assert!((v[0].v - 10.0 / 15.0).abs() < 1e-9);
//! ```

mod aggregate;
mod binary;
mod eval;
mod functions;
mod fused;
mod hash;
mod info;
mod position;
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
/// [`STALE_NAN`], as in Prometheus. Series with the same labels are taken as one series.
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

/// Why a query has no answer. Each variant maps to one of Prometheus' API error types.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query does not parse or is ill-typed, or a range query's times are invalid
    /// ("bad_data", HTTP 400). promql-parser gives no position, so `message` places only what
    /// can be found without its grammar: unbalanced brackets, open strings and a dangling
    /// operator (`1:4: parse error: unclosed left parenthesis`).
    #[error("{message}")]
    Parse { message: String },
    /// A range query asks for more steps than `Options::max_points_per_series` ("bad_data",
    /// HTTP 422).
    #[error(
        "exceeded maximum resolution of points per timeseries: this query needs {points}; try decreasing the query resolution (?step=XX)"
    )]
    TooManyPoints { points: usize },
    /// The query would hold more than `Options::max_samples` samples ("execution", HTTP 422).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// `Options::deadline` passed ("timeout", HTTP 503).
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// The source failed to read series ("internal", HTTP 500).
    #[error("reading series: {0}")]
    Source(String),
    /// The query is valid but cannot be evaluated on this data ("execution", HTTP 422), such
    /// as two series with one label set, or a many-to-many match.
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
            Err(Error::Parse { .. })
        ));
        let few = Options {
            max_samples: 10,
            ..Options::default()
        };
        assert!(matches!(
            instant(&TwoSeries, "up[10m]", 600_000, &few),
            Err(Error::TooManySamples)
        ));
        let some = Options {
            max_samples: 100,
            ..Options::default()
        };
        // 1 sample loaded per series, but 2 × 61 in the result.
        assert!(matches!(
            range(&TwoSeries, "up @ 0", 0, 60_000, 1_000, &some),
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
    fn extreme_times_are_answered_not_panicked_on() {
        let opts = Options::default();
        assert!(matches!(
            range(&TwoSeries, "up", i64::MIN, i64::MAX, 1, &opts),
            Err(Error::TooManyPoints { .. })
        ));
        for q in [
            "up offset 1y",
            "rate(up[5m] offset -1y)",
            "max_over_time(up[1h:1m] offset 1y)",
        ] {
            for t in [i64::MIN, i64::MAX] {
                assert!(instant(&TwoSeries, q, t, &opts).is_ok(), "{q} at {t}");
            }
        }
        assert!(range(&TwoSeries, "up", i64::MAX - 10, i64::MAX, 3, &opts).is_ok());
    }

    #[test]
    fn selectors_with_the_same_matchers_and_overlapping_ranges_are_read_once() {
        struct Counting(std::cell::Cell<usize>);
        impl Source for Counting {
            fn select(&self, m: &[Matcher], s: i64, e: i64) -> Result<Vec<Series>, String> {
                self.0.set(self.0.get() + 1);
                TwoSeries.select(m, s, e)
            }
        }
        let reads = |q: &str| {
            let source = Counting(std::cell::Cell::new(0));
            range(&source, q, 0, 600_000, 60_000, &Options::default()).unwrap();
            source.0.get()
        };
        assert_eq!(reads(r#"up + rate(up[5m]) - {__name__="up"}"#), 1);
        assert_eq!(reads("up - up offset 7d"), 2);
        assert_eq!(reads(r#"up - up{job="a"}"#), 2);
    }

    #[test]
    fn deep_queries_are_refused_not_overflowing_the_stack() {
        let opts = Options::default();
        let deep_calls = format!("{}up{}", "abs(".repeat(200), ")".repeat(200));
        let long_chain = format!("up{}", " - up".repeat(10_000));
        let many_minus = format!("{}1", "-".repeat(50_000));
        for q in [deep_calls, long_chain, many_minus] {
            assert!(matches!(
                instant(&TwoSeries, &q, 0, &opts),
                Err(Error::Parse { .. })
            ));
        }
        // Long strings are not operators.
        let long_regex = format!(r#"up{{job=~"{}"}}"#, "a|".repeat(5_000));
        assert!(instant(&TwoSeries, &long_regex, 0, &opts).is_ok());
        // The deepest allowed still fits a test thread's 2 MiB stack in a debug build.
        let calls = format!("{}up{}", "abs(".repeat(127), ")".repeat(127));
        let subqueries = format!("{}up{}", "max_over_time(".repeat(63), "[5m:1m])".repeat(63));
        for q in [calls, subqueries] {
            assert!(
                range(&TwoSeries, &q, 0, 120_000, 60_000, &opts).is_ok(),
                "{q}"
            );
        }
    }

    #[test]
    fn series_with_the_same_labels_are_one_series() {
        struct Twice;
        impl Source for Twice {
            fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Series>, String> {
                let labels: Labels = vec![("__name__".into(), "x".into())];
                Ok(vec![
                    Series {
                        labels: labels.clone(),
                        samples: vec![Sample { t: 0, v: 1.0 }],
                    },
                    Series {
                        labels,
                        samples: vec![Sample { t: 0, v: 9.0 }, Sample { t: 20_000, v: 2.0 }],
                    },
                ])
            }
        }
        let v = instant(
            &Twice,
            "count_over_time(x[1m])",
            30_000,
            &Options::default(),
        )
        .unwrap();
        let Value::Vector(v) = v else { panic!("{v:?}") };
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].v, 2.0);
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
