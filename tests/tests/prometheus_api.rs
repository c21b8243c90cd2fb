//! Prometheus' query API over real HTTP on the real server:
//!
//! - known metrics of every OTLP type (cumulative and delta sums, histograms, an exponential
//!   histogram, a summary, a gauge with a stale point, an exemplar), sent as OTLP/JSON, and
//!   queries whose answers are worked out by hand below, in Prometheus' JSON shapes;
//! - bad queries answered with Prometheus' error types and status codes;
//! - metrics the official OpenTelemetry Rust SDK exported over OTLP/HTTP with cumulative and
//!   with delta temporality, which must answer the same PromQL alike.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use otelite_tests::{Signal, TestServer};
use serde_json::{Value, json};

/// The data's first point, in unix seconds (2023-11-14T22:13:20Z).
const T0: u64 = 1_700_000_000;
/// The points' times, seconds after T0: one export every 15 s.
const TIMES: [u64; 5] = [0, 15, 30, 45, 60];
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_ID: &str = "eee19b7ec3c1b174";

fn nanos(after: u64) -> String {
    ((T0 + after) * 1_000_000_000).to_string()
}

fn attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn int_attr(key: &str, value: i64) -> Value {
    json!({"key": key, "value": {"intValue": value.to_string()}})
}

fn sum(
    name: &str,
    unit: &str,
    temporality: u32,
    values: [i64; 5],
    exemplar_on_last: bool,
) -> Value {
    let points: Vec<Value> = TIMES
        .iter()
        .zip(values)
        .enumerate()
        .map(|(i, (&t, v))| {
            let mut point = json!({
                "startTimeUnixNano": nanos(0),
                "timeUnixNano": nanos(t),
                "asInt": v.to_string(),
            });
            if exemplar_on_last && i == TIMES.len() - 1 {
                point["exemplars"] = json!([{
                    "timeUnixNano": nanos(t),
                    "asInt": "3",
                    "traceId": TRACE_ID,
                    "spanId": SPAN_ID,
                    "filteredAttributes": [attr("customer", "c-7")],
                }]);
            }
            point
        })
        .collect();
    json!({
        "name": name,
        "unit": unit,
        "description": format!("{name}, as counted"),
        "sum": {"aggregationTemporality": temporality, "isMonotonic": true, "dataPoints": points},
    })
}

/// A cumulative request-duration histogram with bounds 0.1, 0.5 and 1 s.
fn duration_histogram(series: &[(&str, i64, [[u64; 4]; 5])]) -> Value {
    let mut points = Vec::new();
    for (route, status, buckets) in series {
        for (&t, counts) in TIMES.iter().zip(buckets) {
            let count: u64 = counts.iter().sum();
            points.push(json!({
                "attributes": [attr("http.route", route), int_attr("http.response.status_code", *status)],
                "startTimeUnixNano": nanos(0),
                "timeUnixNano": nanos(t),
                "count": count.to_string(),
                "sum": count as f64 * 0.25,
                "bucketCounts": counts.iter().map(u64::to_string).collect::<Vec<_>>(),
                "explicitBounds": [0.1, 0.5, 1.0],
            }));
        }
    }
    json!({
        "name": "http.server.request.duration",
        "unit": "s",
        "description": "Duration of HTTP server requests.",
        "histogram": {"aggregationTemporality": 2, "dataPoints": points},
    })
}

fn known_metrics() -> Value {
    let ok = [
        [1, 1, 0, 0],
        [2, 2, 1, 0],
        [4, 3, 1, 0],
        [6, 4, 2, 0],
        [8, 6, 2, 1],
    ];
    let failed = [
        [0, 0, 0, 1],
        [0, 0, 0, 1],
        [0, 0, 0, 2],
        [0, 0, 0, 2],
        [0, 0, 0, 3],
    ];
    let gauge_points: Vec<Value> = TIMES
        .iter()
        .zip([3, 5, 4, 6, 2])
        .map(|(&t, v)| json!({"timeUnixNano": nanos(t), "asDouble": v as f64}))
        .chain([json!({"timeUnixNano": nanos(75), "flags": 1})])
        .collect();
    json!({"resourceMetrics": [
        {
            "resource": {"attributes": [
                attr("service.name", "checkout"),
                attr("service.namespace", "shop"),
                attr("service.instance.id", "pod-1"),
                attr("host.name", "node-7"),
            ]},
            "scopeMetrics": [{
                "scope": {"name": "shop.checkout", "version": "1.0"},
                "metrics": [
                    duration_histogram(&[("/cart", 200, ok), ("/cart", 500, failed)]),
                    sum("orders", "{order}", 2, [0, 10, 20, 30, 40], true),
                    {"name": "queue.depth", "unit": "{message}", "gauge": {"dataPoints": gauge_points}},
                ],
            }],
        },
        {
            "resource": {"attributes": [attr("service.name", "payment")]},
            "scopeMetrics": [{
                "scope": {"name": "payment"},
                "metrics": [
                    sum("orders", "{order}", 1, [10, 10, 10, 10, 10], false),
                    {
                        "name": "rpc.latency",
                        "unit": "ms",
                        "summary": {"dataPoints": TIMES.iter().map(|&t| json!({
                            "timeUnixNano": nanos(t),
                            "count": "4",
                            "sum": 10.0,
                            "quantileValues": [{"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 7.5}],
                        })).collect::<Vec<_>>()},
                    },
                    {
                        "name": "payload.size",
                        "unit": "By",
                        "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [{
                            "timeUnixNano": nanos(60),
                            "count": "10",
                            "sum": 40.0,
                            "scale": 0,
                            "zeroCount": "1",
                            "positive": {"offset": 1, "bucketCounts": ["3", "6"]},
                        }]},
                    },
                ],
            }],
        },
    ]})
}

async fn send_known_metrics(server: &TestServer) {
    let body = serde_json::to_vec(&known_metrics()).unwrap();
    let response = server
        .post_otlp(Signal::Metrics, "application/json", body)
        .await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "the metrics are accepted: {text}");
    assert!(!text.contains("rejected"), "nothing is rejected: {text}");
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn prom(server: &TestServer, path_and_query: &str) -> (u16, Value) {
    server.get_json(path_and_query).await
}

/// The data of a successful answer.
async fn data(server: &TestServer, path_and_query: &str) -> Value {
    let (code, body) = prom(server, path_and_query).await;
    assert_eq!(code, 200, "{path_and_query}: {body}");
    assert_eq!(body["status"], "success", "{path_and_query}: {body}");
    body["data"].clone()
}

async fn instant(server: &TestServer, query: &str, at: u64) -> Value {
    data(
        server,
        &format!("/api/v1/query?query={}&time={}", encoded(query), T0 + at),
    )
    .await
}

/// The one sample of an instant vector answer, as a number.
fn only_value(data: &Value) -> f64 {
    assert_eq!(data["resultType"], "vector", "{data}");
    let result = data["result"].as_array().expect("a result list");
    assert_eq!(result.len(), 1, "one sample: {data}");
    result[0]["value"][1]
        .as_str()
        .expect("a value string")
        .parse()
        .expect("a number")
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_api_answers_promql_over_translated_otlp() {
    // The data is from 2023: keep it.
    let server = TestServer::start_with(|config| {
        config.max_item_age = None;
        config.retention = [None; 3];
    })
    .await;
    send_known_metrics(&server).await;

    // Monotonic sums become `_total` series with job and instance from the resource; the
    // delta one is summed into a running total.
    let both = instant(&server, "orders_total", 60).await;
    assert_eq!(
        both,
        json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "orders_total", "instance": "pod-1", "job": "shop/checkout"},
             "value": [T0 + 60, "40"]},
            {"metric": {"__name__": "orders_total", "job": "payment"}, "value": [T0 + 60, "50"]},
        ]})
    );

    // rate over (0 s, 60 s]: samples at 15..60 s rising by 30 over 45 s, extrapolated 15 s to
    // the window's start: 30 × 60/45 / 60 s = 2/3 per second, for cumulative and delta alike.
    for job in ["shop/checkout", "payment"] {
        let rate = instant(
            &server,
            &format!("rate(orders_total{{job=\"{job}\"}}[1m])"),
            60,
        )
        .await;
        let got = only_value(&rate);
        assert!(close(got, 2.0 / 3.0), "rate for {job}: {got}");
    }

    // Over (0, 60 s] the ok requests' buckets grow by 6, 10, 11 and 12 (le 0.1, 0.5, 1, +Inf),
    // all extrapolated alike: the 0.9 quantile ranks 10.8, in (0.5, 1], at 0.5 + 0.5 × 0.8.
    let p90 = instant(
        &server,
        "histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket{http_response_status_code=\"200\"}[1m])))",
        60,
    )
    .await;
    let got = only_value(&p90);
    assert!(close(got, 0.9), "p90: {got}");

    // Requests by status, and the 5xx ratio: 17 and 3 requests at 60 s.
    let counts = instant(
        &server,
        "sum by (http_response_status_code) (http_server_request_duration_seconds_count)",
        60,
    )
    .await;
    assert_eq!(
        counts["result"],
        json!([
            {"metric": {"http_response_status_code": "200"}, "value": [T0 + 60, "17"]},
            {"metric": {"http_response_status_code": "500"}, "value": [T0 + 60, "3"]},
        ])
    );
    let ratio = instant(
        &server,
        "sum(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}) / sum(http_server_request_duration_seconds_count)",
        60,
    )
    .await;
    assert!(close(only_value(&ratio), 0.15), "{ratio}");
    let average = instant(
        &server,
        "sum(http_server_request_duration_seconds_sum) / sum(http_server_request_duration_seconds_count)",
        60,
    )
    .await;
    assert!(close(only_value(&average), 0.25), "{average}");

    // Summaries: quantile series, `_sum` and `_count`.
    let p99 = instant(&server, "rpc_latency_milliseconds{quantile=\"0.99\"}", 60).await;
    assert!(close(only_value(&p99), 7.5), "{p99}");
    let summary_count = instant(&server, "rpc_latency_milliseconds_count", 60).await;
    assert!(close(only_value(&summary_count), 4.0), "{summary_count}");

    // The exponential histogram as classic buckets: base 2, so (2,4] holds 3 and (4,8] 6;
    // zero bucket 1. The median ranks 5: in (4, 8] at 4 + 4 × (5 - 4)/6.
    let buckets = instant(&server, "payload_size_bytes_bucket", 60).await;
    let les: Vec<&str> = buckets["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["le"].as_str().unwrap())
        .collect();
    assert_eq!(les, ["+Inf", "0", "4", "8"], "{buckets}");
    let median = instant(
        &server,
        "histogram_quantile(0.5, payload_size_bytes_bucket)",
        60,
    )
    .await;
    assert!(close(only_value(&median), 4.0 + 4.0 / 6.0), "{median}");

    // Resource attributes are in target_info.
    let info = instant(&server, "target_info{job=\"shop/checkout\"}", 60).await;
    assert_eq!(
        info["result"],
        json!([{"metric": {"__name__": "target_info", "host_name": "node-7", "instance": "pod-1", "job": "shop/checkout"},
                "value": [T0 + 60, "1"]}])
    );

    // A point flagged "no recorded value" is a stale marker: the gauge is gone at once, not
    // five minutes later.
    let depth = instant(&server, "queue_depth", 70).await;
    assert!(close(only_value(&depth), 2.0), "{depth}");
    let gone = instant(&server, "queue_depth", 80).await;
    assert_eq!(gone["result"], json!([]), "stale at 75 s: {gone}");

    // A range query: the delta sum's running total every 15 s.
    let range = data(
        &server,
        &format!(
            "/api/v1/query_range?query={}&start={}&end={}&step=15s",
            encoded("orders_total{job=\"payment\"}"),
            T0,
            T0 + 60
        ),
    )
    .await;
    assert_eq!(
        range,
        json!({"resultType": "matrix", "result": [{
            "metric": {"__name__": "orders_total", "job": "payment"},
            "values": [[T0, "10"], [T0 + 15, "20"], [T0 + 30, "30"], [T0 + 45, "40"], [T0 + 60, "50"]],
        }]})
    );
    // POST form bodies are read like query strings.
    let posted = server
        .client()
        .post(server.ui_url("/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "query={}&time={}",
            encoded("orders_total{job=\"payment\"}"),
            T0 + 60
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let posted: Value = serde_json::from_slice(&posted.bytes().await.unwrap()).unwrap();
    assert!(close(only_value(&posted["data"]), 50.0), "{posted}");

    // Metadata endpoints.
    let window = format!("&start={}&end={}", T0, T0 + 120);
    let series = data(
        &server,
        &format!("/api/v1/series?match[]=orders_total{window}"),
    )
    .await;
    assert_eq!(
        series,
        json!([
            {"__name__": "orders_total", "instance": "pod-1", "job": "shop/checkout"},
            {"__name__": "orders_total", "job": "payment"},
        ])
    );
    let labels = data(&server, &format!("/api/v1/labels?x=1{window}")).await;
    for name in [
        "__name__",
        "http_response_status_code",
        "http_route",
        "instance",
        "job",
        "le",
        "quantile",
    ] {
        assert!(
            labels.as_array().unwrap().contains(&json!(name)),
            "{name} in {labels}"
        );
    }
    let names = data(
        &server,
        &format!("/api/v1/label/__name__/values?x=1{window}"),
    )
    .await;
    for name in [
        "http_server_request_duration_seconds_bucket",
        "http_server_request_duration_seconds_count",
        "orders_total",
        "payload_size_bytes_bucket",
        "queue_depth",
        "rpc_latency_milliseconds",
        "target_info",
    ] {
        assert!(
            names.as_array().unwrap().contains(&json!(name)),
            "{name} in {names}"
        );
    }
    let routes = data(
        &server,
        &format!("/api/v1/label/http_route/values?match[]=http_server_request_duration_seconds_count{window}"),
    )
    .await;
    assert_eq!(routes, json!(["/cart"]));
    let les = data(&server, &format!("/api/v1/label/le/values?x=1{window}")).await;
    assert_eq!(les, json!(["+Inf", "0", "0.1", "0.5", "1", "4", "8"]));
    let metadata = data(
        &server,
        "/api/v1/metadata?metric=http_server_request_duration_seconds",
    )
    .await;
    assert_eq!(
        metadata,
        json!({"http_server_request_duration_seconds": [
            {"type": "histogram", "help": "Duration of HTTP server requests.", "unit": "seconds"}
        ]})
    );

    // Exemplars keep their trace: the way from a spike to the trace behind it.
    let exemplars = data(
        &server,
        &format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            encoded("rate(orders_total[1m])"),
            T0,
            T0 + 120
        ),
    )
    .await;
    assert_eq!(
        exemplars,
        json!([{
            "seriesLabels": {"__name__": "orders_total", "instance": "pod-1", "job": "shop/checkout"},
            "exemplars": [{"labels": {"customer": "c-7", "span_id": SPAN_ID, "trace_id": TRACE_ID},
                           "value": "3", "timestamp": T0 + 60}],
        }])
    );

    let build = data(&server, "/api/v1/status/buildinfo").await;
    assert!(
        build["version"].as_str().unwrap().starts_with('3'),
        "{build}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_prometheus_errors() {
    let server = TestServer::start().await;
    let cases = [
        (
            "/api/v1/query?query=sum(",
            400,
            "bad_data",
            "1:4: parse error: unclosed left parenthesis",
        ),
        (
            "/api/v1/query?query=rate(up%5B5m)",
            400,
            "bad_data",
            "1:11: parse error: unexpected right parenthesis ')' where the left bracket at 1:8",
        ),
        ("/api/v1/query", 400, "bad_data", "query"),
        (
            "/api/v1/query?query=up&time=yesterday",
            400,
            "bad_data",
            "time",
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=100",
            400,
            "bad_data",
            "step",
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=100&step=0",
            400,
            "bad_data",
            "zero or negative",
        ),
        (
            "/api/v1/query_range?query=up&start=100&end=1&step=1",
            400,
            "bad_data",
            "before start",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            400,
            "bad_data",
            "11,000 points",
        ),
        (
            "/api/v1/query?query=up%7Bjob%3D~%22(%22%7D",
            400,
            "bad_data",
            "regex",
        ),
        ("/api/v1/series", 400, "bad_data", "match[]"),
        (
            "/api/v1/series?match[]=rate(up[1m])",
            400,
            "bad_data",
            "series selector",
        ),
        (
            "/api/v1/query?query=up&timeout=-1s",
            400,
            "bad_data",
            "timeout",
        ),
    ];
    for (path, code, kind, words) in cases {
        let (got, body) = prom(&server, path).await;
        assert_eq!(got, code, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}: {body}");
        assert_eq!(body["errorType"], kind, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(words),
            "{path}: {error:?} should mention {words:?}"
        );
    }
    // Nothing stored, nothing found: an empty answer, not an error.
    let empty = data(&server, "/api/v1/query?query=up").await;
    assert_eq!(empty, json!({"resultType": "vector", "result": []}));
    let scalar = data(&server, "/api/v1/query?query=1%2B1&time=10").await;
    assert_eq!(scalar, json!({"resultType": "scalar", "result": [10, "2"]}));
    server.stop().await;
}

/// Exports from the SDK over OTLP/HTTP with `temporality`: a counter, an up-down counter and
/// a request-duration histogram, recorded in three rounds with an export after each.
fn emit_with_sdk(endpoint: String, temporality: Temporality, service: &str) {
    let exporter = MetricExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_temporality(temporality)
        .build()
        .expect("the metric exporter builds");
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_string())
                .build(),
        )
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let meter = provider.meter("sdk-test");
    let requests = meter
        .u64_counter("sdk.requests")
        .with_unit("{request}")
        .build();
    let in_flight = meter.i64_up_down_counter("sdk.in_flight").build();
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    let route = [KeyValue::new("http.route", "/pay")];
    for round in 0..3 {
        for i in 0..10 {
            requests.add(1, &route);
            duration.record(0.05 * (i + 1) as f64, &route);
        }
        in_flight.add(round + 1, &[]);
        provider.force_flush().expect("the metrics flush");
        std::thread::sleep(Duration::from_millis(20));
    }
    provider.shutdown().expect("the meter provider shuts down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_metrics_cumulative_and_delta_answer_alike() {
    let server = TestServer::start().await;
    let endpoint = server.otlp_http_url(Signal::Metrics);
    for (temporality, service) in [
        (Temporality::Cumulative, "sdk-cumulative"),
        (Temporality::Delta, "sdk-delta"),
    ] {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || emit_with_sdk(endpoint, temporality, service))
            .await
            .unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for service in ["sdk-cumulative", "sdk-delta"] {
        let ask = |query: String| {
            let server = &server;
            async move {
                let path = format!("/api/v1/query?query={}&time={now}", encoded(&query));
                only_value(&data(server, &path).await)
            }
        };
        let job = format!("job=\"{service}\"");
        assert_eq!(
            ask(format!("sdk_requests_total{{{job}}}")).await,
            30.0,
            "{service}"
        );
        assert_eq!(
            ask(format!(
                "http_server_request_duration_seconds_count{{{job}}}"
            ))
            .await,
            30.0,
            "{service}"
        );
        // 0.05, 0.10 ≤ 0.1: 2 per round; up to 0.5: 10 of 10.
        assert_eq!(
            ask(format!(
                "http_server_request_duration_seconds_bucket{{{job},le=\"0.1\"}}"
            ))
            .await,
            6.0,
            "{service}"
        );
        assert_eq!(
            ask(format!(
                "http_server_request_duration_seconds_bucket{{{job},le=\"0.5\"}}"
            ))
            .await,
            30.0,
            "{service}"
        );
        let rate = ask(format!("sum(rate(sdk_requests_total{{{job}}}[5m]))")).await;
        assert!(rate > 0.0, "{service}: rate {rate}");
    }
    // The up-down counter is a gauge of its running value (cumulative: the SDK's; delta: the
    // SDK still reports non-monotonic sums cumulatively, as the spec asks).
    let in_flight = data(
        &server,
        &format!(
            "/api/v1/query?query={}&time={now}",
            encoded("sdk_in_flight")
        ),
    )
    .await;
    for sample in in_flight["result"].as_array().unwrap() {
        assert_eq!(sample["value"][1], "6", "{in_flight}");
    }
    server.stop().await;
}
