//! The JSON shapes of the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values`, `/api/v1/metadata`,
//! `/api/v1/query_exemplars`, `/api/v1/status/buildinfo`), exactly as Prometheus writes them,
//! so Grafana's Prometheus data source, `promtool` and the UI read otelite's answers unchanged.
//!
//! Every answer is an [`ApiResponse`] envelope around the endpoint's data:
//!
//! - query and query_range → [`QueryData`] (`{"resultType":…,"result":…}`);
//! - series → `Vec<LabelSet>`; labels and label values → `Vec<String>`;
//! - metadata → [`Metadata`] (metric name → its [`MetricMetadata`] entries);
//! - query_exemplars → `Vec<ExemplarSeries>`; status/buildinfo → [`BuildInfo`].
//!
//! Times are held as unix **milliseconds** (`i64`, the PromQL engine's time) and written as
//! Prometheus does: seconds as a JSON number with at most three decimals (`1435781451.781`,
//! `1435781451`). Sample values are `f64` written as strings the way Prometheus formats them
//! ([`format_value`]: `"NaN"`, `"+Inf"`, `"-Inf"`, Go's shortest round-trip digits).

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A series' labels, sorted by name as Prometheus writes them; the metric name is `__name__`.
pub type LabelSet = BTreeMap<String, String>;

/// The envelope of every answer: `{"status":"success","data":…}` or
/// `{"status":"error","errorType":"bad_data","error":"…"}`, with optional `warnings` and `infos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResponse<T> {
    pub status: ResponseStatus,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<String>,
}

impl<T> ApiResponse<T> {
    /// A successful answer holding `data`.
    pub fn success(data: T) -> Self {
        ApiResponse {
            status: ResponseStatus::Success,
            data: Some(data),
            error_type: None,
            error: None,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// A failed answer: `error_type` says which kind of failure, `error` what went wrong.
    pub fn error(error_type: ErrorType, error: impl Into<String>) -> Self {
        ApiResponse {
            status: ResponseStatus::Error,
            data: None,
            error_type: Some(error_type),
            error: Some(error.into()),
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// The data of a successful answer, or the failure's type and message.
    pub fn into_result(self) -> Result<T, ApiFailure> {
        match (self.status, self.data) {
            (ResponseStatus::Success, Some(data)) => Ok(data),
            (status, _) => Err(ApiFailure {
                error_type: self.error_type.unwrap_or(ErrorType::Internal),
                error: self.error.unwrap_or_else(|| match status {
                    ResponseStatus::Success => "the answer held no data".to_owned(),
                    ResponseStatus::Error => "the server gave no reason".to_owned(),
                }),
            }),
        }
    }
}

/// A failed answer's `errorType` and `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub error_type: ErrorType,
    pub error: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseStatus {
    Success,
    Error,
}

/// Prometheus' `errorType`s, each answered with its own HTTP status ([`ErrorType::http_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Timeout,
    Canceled,
    Execution,
    BadData,
    Internal,
    Unavailable,
    NotFound,
    NotAcceptable,
}

impl ErrorType {
    /// The HTTP status Prometheus answers with for this kind of failure.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::NotFound => 404,
            ErrorType::NotAcceptable => 406,
            ErrorType::Execution => 422,
            ErrorType::Internal => 500,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => 503,
        }
    }
}

/// The data of `/api/v1/query` and `/api/v1/query_range`: `{"resultType":"matrix","result":[…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Matrix(Vec<MatrixSeries>),
    Vector(Vec<VectorSample>),
    Scalar(Sample),
    String(StringSample),
}

/// One series of a range result: `{"metric":{…},"values":[[t,"v"],…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSeries {
    pub metric: LabelSet,
    pub values: Vec<Sample>,
}

/// One element of an instant vector: `{"metric":{…},"value":[t,"v"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorSample {
    pub metric: LabelSet,
    pub value: Sample,
}

/// `[<unix seconds>, "<value>"]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix milliseconds.
    pub t: i64,
    pub v: f64,
}

/// A string result: `[<unix seconds>, "<text>"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StringSample {
    /// Unix milliseconds.
    pub t: i64,
    pub v: String,
}

impl Serialize for Sample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut tuple = s.serialize_tuple(2)?;
        tuple.serialize_element(&Seconds(self.t))?;
        tuple.serialize_element(&format_value(self.v))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (Seconds(t), v) = <(Seconds, String)>::deserialize(d)?;
        let v = parse_value(&v).map_err(D::Error::custom)?;
        Ok(Sample { t, v })
    }
}

impl Serialize for StringSample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut tuple = s.serialize_tuple(2)?;
        tuple.serialize_element(&Seconds(self.t))?;
        tuple.serialize_element(&self.v)?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for StringSample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (Seconds(t), v) = <(Seconds, String)>::deserialize(d)?;
        Ok(StringSample { t, v })
    }
}

/// The data of `/api/v1/metadata`: each metric's name → its metadata (one entry per distinct
/// type/help/unit seen, usually one).
pub type Metadata = BTreeMap<String, Vec<MetricMetadata>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricMetadata {
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// The metric types of Prometheus' metadata; any other name reads as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[serde(other)]
    Unknown,
}

impl MetricType {
    /// The name as Prometheus writes it (`counter`, `gaugehistogram`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One series' exemplars in `/api/v1/query_exemplars`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemplarSeries {
    pub series_labels: LabelSet,
    pub exemplars: Vec<Exemplar>,
}

/// `{"labels":{"trace_id":…,"span_id":…},"value":"6","timestamp":1600096945.479}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    pub labels: LabelSet,
    #[serde(with = "value_string")]
    pub value: f64,
    /// Unix milliseconds.
    #[serde(with = "seconds")]
    pub timestamp: i64,
}

/// The data of `/api/v1/status/buildinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

/// `value` as Prometheus writes a sample value: `NaN`, `+Inf`, `-Inf`, or the shortest decimal
/// that reads back as the same `f64`, in Go's `strconv.FormatFloat` forms: plain digits (`'f'`)
/// for magnitudes in [1e-6, 1e21) and zero, exponent form (`'e'`: `1e-07`, `1.5e+21`) outside.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        // Rust's `{:e}` gives the same shortest digits; Go writes the exponent signed and with
        // at least two digits.
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    // Display never uses an exponent and prints the shortest round-trip digits, as Go's 'f', -1.
    format!("{value}")
}

/// Reads a sample value as Prometheus writes it (and as Go's `ParseFloat` accepts it:
/// `NaN`, `Inf`, `+Inf`, `-Inf` in any case, decimal and exponent forms).
pub fn parse_value(text: &str) -> Result<f64, String> {
    let unsigned = text.trim_start_matches(['+', '-']);
    let negative = text.starts_with('-');
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if text.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{text:?} is not a sample value"))
}

/// Unix milliseconds written as Prometheus writes timestamps: whole seconds as an integer, else
/// seconds with the milliseconds as decimals.
struct Seconds(i64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        seconds::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        seconds::deserialize(d).map(Seconds)
    }
}

/// Serde for unix milliseconds as a JSON number of seconds.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        if ms % 1000 == 0 {
            s.serialize_i64(ms / 1000)
        } else {
            // Both operands are exact and the division is correctly rounded, so the shortest
            // digits of the quotient are the decimal milliseconds (trailing zeros dropped).
            s.serialize_f64(*ms as f64 / 1000.0)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let seconds = f64::deserialize(d)?;
        Ok((seconds * 1000.0).round() as i64)
    }
}

/// Serde for an `f64` written as [`format_value`] writes it.
mod value_string {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_value(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_value(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Reads `literal`, checks it holds `expected`, and that writing it gives `literal` back.
    fn round_trip<T>(literal: &str, expected: &T)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let read: T = serde_json::from_str(literal).unwrap();
        assert_eq!(&read, expected);
        let written: serde_json::Value = serde_json::to_value(&read).unwrap();
        let literal: serde_json::Value = serde_json::from_str(literal).unwrap();
        assert_eq!(written, literal);
    }

    #[test]
    fn values_are_formatted_as_prometheus_does() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e6, "1000000"),
            (123456789.0, "123456789"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-07"),
            (1.5e-10, "1.5e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1.234e300, "-1.234e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for &(value, text) in cases {
            assert_eq!(format_value(value), text, "{value:?}");
            let read = parse_value(text).unwrap();
            assert!(
                read.to_bits() == value.to_bits() || (read.is_nan() && value.is_nan()),
                "{text}"
            );
        }
        assert_eq!(parse_value("Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_value("-inf").unwrap(), f64::NEG_INFINITY);
        assert!(parse_value("nan").unwrap().is_nan());
        assert!(parse_value("1e400").is_err());
        assert!(parse_value("one").is_err());
    }

    #[test]
    fn timestamps_are_seconds_with_millisecond_decimals() {
        let pair = |t| serde_json::to_string(&Sample { t, v: 1.0 }).unwrap();
        assert_eq!(pair(1_435_781_451_781), r#"[1435781451.781,"1"]"#);
        assert_eq!(pair(1_435_781_451_000), r#"[1435781451,"1"]"#);
        assert_eq!(pair(1_435_781_451_780), r#"[1435781451.78,"1"]"#);
        assert_eq!(pair(1_435_781_451_001), r#"[1435781451.001,"1"]"#);
        let read: Sample = serde_json::from_str(r#"[1435781451.001,"2"]"#).unwrap();
        assert_eq!(
            read,
            Sample {
                t: 1_435_781_451_001,
                v: 2.0
            }
        );
    }

    // The examples below are the answers printed in Prometheus' HTTP API documentation.

    #[test]
    fn range_query_answer() {
        let literal = r#"{
           "status" : "success",
           "data" : {
              "resultType" : "matrix",
              "result" : [
                 {
                    "metric" : {
                       "__name__" : "up",
                       "job" : "prometheus",
                       "instance" : "localhost:9090"
                    },
                    "values" : [
                       [ 1435781430.781, "1" ],
                       [ 1435781445.781, "1" ],
                       [ 1435781460.781, "1" ]
                    ]
                 },
                 {
                    "metric" : {
                       "__name__" : "up",
                       "job" : "node",
                       "instance" : "localhost:9091"
                    },
                    "values" : [
                       [ 1435781430.781, "0" ],
                       [ 1435781445.781, "0" ],
                       [ 1435781460.781, "1" ]
                    ]
                 }
              ]
           }
        }"#;
        let series = |job: &str, instance: &str, values: [f64; 3]| MatrixSeries {
            metric: labels(&[("__name__", "up"), ("job", job), ("instance", instance)]),
            values: [1_435_781_430_781, 1_435_781_445_781, 1_435_781_460_781]
                .into_iter()
                .zip(values)
                .map(|(t, v)| Sample { t, v })
                .collect(),
        };
        let expected = ApiResponse::success(QueryData::Matrix(vec![
            series("prometheus", "localhost:9090", [1.0, 1.0, 1.0]),
            series("node", "localhost:9091", [0.0, 0.0, 1.0]),
        ]));
        round_trip(literal, &expected);
    }

    #[test]
    fn instant_query_answers() {
        let literal = r#"{
           "status" : "success",
           "data" : {
              "resultType" : "vector",
              "result" : [
                 {
                    "metric" : {
                       "__name__" : "up",
                       "job" : "prometheus",
                       "instance" : "localhost:9090"
                    },
                    "value": [ 1435781451.781, "1" ]
                 }
              ]
           }
        }"#;
        let expected = ApiResponse::success(QueryData::Vector(vec![VectorSample {
            metric: labels(&[
                ("__name__", "up"),
                ("job", "prometheus"),
                ("instance", "localhost:9090"),
            ]),
            value: Sample {
                t: 1_435_781_451_781,
                v: 1.0,
            },
        }]));
        round_trip(literal, &expected);

        round_trip(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"+Inf"]}}"#,
            &ApiResponse::success(QueryData::Scalar(Sample {
                t: 1_435_781_451_781,
                v: f64::INFINITY,
            })),
        );
        round_trip(
            r#"{"status":"success","data":{"resultType":"string","result":[1435781451,"hello"]}}"#,
            &ApiResponse::success(QueryData::String(StringSample {
                t: 1_435_781_451_000,
                v: "hello".to_owned(),
            })),
        );
        // Written compactly, the bytes are Prometheus' own.
        let written = serde_json::to_string(&ApiResponse::success(QueryData::Vector(vec![])));
        assert_eq!(
            written.unwrap(),
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
        );
    }

    #[test]
    fn error_answer() {
        let literal = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}"#;
        let expected: ApiResponse<QueryData> = ApiResponse::error(
            ErrorType::BadData,
            "invalid parameter \"query\": 1:5: parse error: unexpected end of input",
        );
        round_trip(literal, &expected);
        assert_eq!(serde_json::to_string(&expected).unwrap(), literal);
        let failure = expected.into_result().unwrap_err();
        assert_eq!(failure.error_type.http_status(), 400);
    }

    #[test]
    fn warnings_and_infos_are_kept() {
        let literal = r#"{"status":"success","data":[],"warnings":["w"],"infos":["i"]}"#;
        let read: ApiResponse<Vec<LabelSet>> = serde_json::from_str(literal).unwrap();
        assert_eq!(read.warnings, ["w"]);
        assert_eq!(read.infos, ["i"]);
        assert_eq!(serde_json::to_string(&read).unwrap(), literal);
    }

    #[test]
    fn series_labels_and_label_values_answers() {
        let literal = r#"{
           "status" : "success",
           "data" : [
              {
                 "__name__" : "up",
                 "job" : "prometheus",
                 "instance" : "localhost:9090"
              },
              {
                 "__name__" : "process_start_time_seconds",
                 "job" : "prometheus",
                 "instance" : "localhost:9090"
              }
           ]
        }"#;
        let expected = ApiResponse::success(vec![
            labels(&[
                ("__name__", "up"),
                ("job", "prometheus"),
                ("instance", "localhost:9090"),
            ]),
            labels(&[
                ("__name__", "process_start_time_seconds"),
                ("job", "prometheus"),
                ("instance", "localhost:9090"),
            ]),
        ]);
        round_trip(literal, &expected);

        let literal = r#"{"status":"success","data":["__name__","call","code","instance"]}"#;
        let expected = ApiResponse::success(
            ["__name__", "call", "code", "instance"]
                .map(String::from)
                .to_vec(),
        );
        round_trip(literal, &expected);
    }

    #[test]
    fn metadata_answer() {
        let literal = r#"{
          "status": "success",
          "data": {
            "cortex_ring_tokens": [
              {
                "type": "gauge",
                "help": "Number of tokens in the ring",
                "unit": ""
              }
            ],
            "http_requests_total": [
              {
                "type": "counter",
                "help": "Number of HTTP requests",
                "unit": ""
              },
              {
                "type": "counter",
                "help": "Amount of HTTP requests",
                "unit": ""
              }
            ]
          }
        }"#;
        let entry = |metric_type, help: &str| MetricMetadata {
            metric_type,
            help: help.to_owned(),
            unit: String::new(),
        };
        let expected = ApiResponse::success(Metadata::from([
            (
                "cortex_ring_tokens".to_owned(),
                vec![entry(MetricType::Gauge, "Number of tokens in the ring")],
            ),
            (
                "http_requests_total".to_owned(),
                vec![
                    entry(MetricType::Counter, "Number of HTTP requests"),
                    entry(MetricType::Counter, "Amount of HTTP requests"),
                ],
            ),
        ]));
        round_trip(literal, &expected);
        let odd: MetricMetadata =
            serde_json::from_value(json!({"type": "untyped", "help": "", "unit": ""})).unwrap();
        assert_eq!(odd.metric_type, MetricType::Unknown);
        let gh: MetricMetadata =
            serde_json::from_value(json!({"type": "gaugehistogram", "help": "", "unit": ""}))
                .unwrap();
        assert_eq!(gh.metric_type.name(), "gaugehistogram");
    }

    #[test]
    fn exemplars_answer() {
        let literal = r#"{
            "status": "success",
            "data": [
                {
                    "seriesLabels": {
                        "__name__": "test_exemplar_metric_total",
                        "instance": "localhost:8090",
                        "job": "prometheus",
                        "service": "bar"
                    },
                    "exemplars": [
                        {
                            "labels": {
                                "trace_id": "EpTxMJ40fUus7aGY"
                            },
                            "value": "6",
                            "timestamp": 1600096945.479
                        }
                    ]
                },
                {
                    "seriesLabels": {
                        "__name__": "test_exemplar_metric_total",
                        "instance": "localhost:8090",
                        "job": "prometheus",
                        "service": "foo"
                    },
                    "exemplars": [
                        {
                            "labels": {
                                "trace_id": "Olp9XHlq763ccsfa"
                            },
                            "value": "19",
                            "timestamp": 1600096955.479
                        },
                        {
                            "labels": {
                                "trace_id": "hCtjygkIHwAN9vs4"
                            },
                            "value": "20",
                            "timestamp": 1600096965.489
                        }
                    ]
                }
            ]
        }"#;
        let series = |service: &str, exemplars: &[(&str, f64, i64)]| ExemplarSeries {
            series_labels: labels(&[
                ("__name__", "test_exemplar_metric_total"),
                ("instance", "localhost:8090"),
                ("job", "prometheus"),
                ("service", service),
            ]),
            exemplars: exemplars
                .iter()
                .map(|&(trace_id, value, timestamp)| Exemplar {
                    labels: labels(&[("trace_id", trace_id)]),
                    value,
                    timestamp,
                })
                .collect(),
        };
        let expected = ApiResponse::success(vec![
            series("bar", &[("EpTxMJ40fUus7aGY", 6.0, 1_600_096_945_479)]),
            series(
                "foo",
                &[
                    ("Olp9XHlq763ccsfa", 19.0, 1_600_096_955_479),
                    ("hCtjygkIHwAN9vs4", 20.0, 1_600_096_965_489),
                ],
            ),
        ]);
        round_trip(literal, &expected);
    }

    #[test]
    fn buildinfo_answer() {
        let literal = r#"{
          "status": "success",
          "data": {
            "version": "2.13.1",
            "revision": "cb7cbad5f9a2823a622aaa668833ca04f50a0ea7",
            "branch": "master",
            "buildUser": "julius@desktop",
            "buildDate": "20191102-16:19:59",
            "goVersion": "go1.13.1"
          }
        }"#;
        let expected = ApiResponse::success(BuildInfo {
            version: "2.13.1".to_owned(),
            revision: "cb7cbad5f9a2823a622aaa668833ca04f50a0ea7".to_owned(),
            branch: "master".to_owned(),
            build_user: "julius@desktop".to_owned(),
            build_date: "20191102-16:19:59".to_owned(),
            go_version: "go1.13.1".to_owned(),
        });
        round_trip(literal, &expected);
    }
}
