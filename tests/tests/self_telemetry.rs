//! otelite's own telemetry and limits through the real protocols: `/metrics` counts what OTLP
//! clients sent (accepted, refused by reason, per transport), what the item limits cut (and the
//! stored items say so in their `dropped_*_count`), queries by family, and `--query-timeout`
//! answers 503 naming itself.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::Event;
use otelite::otlp::{ItemLimits, SeriesLimits};
use otelite_tests::otlp::{
    OtlpRequest, flat_spans, logs_request, metrics_request, span, string_attribute, traces_request,
    traces_request_of,
};
use otelite_tests::{Signal, TestServer};

/// `/metrics` as `name{labels}` → value, checking each sample line reads `series value`.
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let response = server
        .client()
        .get(server.ui_url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            (series.to_string(), value)
        })
        .collect()
}

fn sample(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    *metrics
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_follow_what_clients_sent_and_limits_cut() {
    let server = TestServer::start_with(|config| {
        config.item_limits = ItemLimits {
            max_attributes: 2,
            max_span_events: 1,
            ..ItemLimits::default()
        };
    })
    .await;

    // Three spans over HTTP, all stored.
    server.send_protobuf(&traces_request("shop", 3)).await;

    // One span too old to accept, one with too many attributes and events.
    let mut old = span("old");
    old.start_time_unix_nano = 1_000_000_000;
    let mut busy = span("busy");
    busy.attributes.extend([
        string_attribute("a", "1"),
        string_attribute("b", "2"),
        string_attribute("c", "3"),
    ]);
    busy.events = vec![Event::default(), Event::default(), Event::default()];
    let trace_id = busy.trace_id.clone();
    let request = traces_request_of("shop", vec![old, busy]);
    let response = server
        .post_otlp(
            Signal::Traces,
            "application/x-protobuf",
            prost::Message::encode_to_vec(&request),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let rejected = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::rejected_in_protobuf_response(&body)
        .expect("a partial success");
    assert_eq!(rejected.count, 1, "{}", rejected.message);

    // A body that is not protobuf: the whole request is refused.
    let response = server
        .post_otlp(
            Signal::Traces,
            "application/x-protobuf",
            vec![0x0f, 0xff, 0xff],
        )
        .await;
    assert_eq!(response.status(), 400);

    // Logs over gRPC.
    let rejected = logs_request("shop", 5)
        .send_grpc(server.grpc_endpoint(), false)
        .await
        .expect("the gRPC export succeeds");
    assert_eq!(rejected, None);

    // Queries of two families.
    let (code, _) = server.get_json("/api/v1/trace-services").await;
    assert_eq!(code, 200);
    let (code, _) = server.get_json("/loki/api/v1/labels").await;
    assert_eq!(code, 200);

    let metrics = scrape(&server).await;
    let m = |series: &str| sample(&metrics, series);
    assert_eq!(m(r#"otelite_items_accepted_total{signal="traces"}"#), 4.0);
    assert_eq!(m(r#"otelite_items_accepted_total{signal="logs"}"#), 5.0);
    assert_eq!(m(r#"otelite_items_accepted_total{signal="metrics"}"#), 0.0);
    assert_eq!(
        m(r#"otelite_items_refused_total{signal="traces",reason="too_old"}"#),
        1.0
    );
    assert_eq!(
        m(r#"otelite_items_refused_total{signal="traces",reason="invalid"}"#),
        0.0
    );
    assert_eq!(
        m(
            r#"otelite_export_requests_refused_total{signal="traces",transport="http",reason="invalid"}"#
        ),
        1.0
    );
    assert_eq!(
        m(r#"otelite_export_duration_seconds_count{signal="traces",transport="http"}"#),
        3.0
    );
    assert_eq!(
        m(r#"otelite_export_duration_seconds_count{signal="logs",transport="grpc"}"#),
        1.0
    );
    assert_eq!(
        m(r#"otelite_export_duration_seconds_count{signal="logs",transport="http"}"#),
        0.0
    );
    assert_eq!(
        m("otelite_store_commit_duration_seconds_count"),
        3.0,
        "three batches stored"
    );
    // The busy span: 2 of its 4 attributes and 2 of its 3 events dropped.
    assert_eq!(
        m(r#"otelite_limited_total{signal="traces",what="attributes_dropped"}"#),
        2.0
    );
    assert_eq!(
        m(r#"otelite_limited_total{signal="traces",what="events_dropped"}"#),
        2.0
    );
    assert_eq!(m(r#"otelite_stored_items{signal="traces"}"#), 4.0);
    assert_eq!(m(r#"otelite_stored_items{signal="logs"}"#), 5.0);
    assert!(m("otelite_disk_bytes") > 0.0);
    assert!(m(r#"otelite_signal_disk_bytes{signal="traces"}"#) > 0.0);
    assert_eq!(
        m(r#"otelite_retention_dropped_partitions_total{signal="logs"}"#),
        0.0
    );
    assert_eq!(m("otelite_ingest_queue_bytes"), 0.0);
    assert!(m(r#"otelite_query_duration_seconds_count{family="native"}"#) >= 1.0);
    assert_eq!(
        m(r#"otelite_query_duration_seconds_count{family="loki"}"#),
        1.0
    );
    assert_eq!(m("otelite_store_writable"), 1.0);
    assert!(m("otelite_start_time_seconds") > 1.7e9);
    assert!(
        metrics
            .keys()
            .any(|k| k.starts_with("otelite_build_info{version=")),
        "build info"
    );

    // A browser reloading the UI's Metrics page (also /metrics) still gets the UI.
    let page = server
        .client()
        .get(server.ui_url("/metrics"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("<html"),
        "the UI's index"
    );

    // What the limits cut is in the stored span's own counts.
    let stored = server
        .export::<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>()
        .await;
    let busy = flat_spans(&stored)
        .into_iter()
        .find(|s| s.item.trace_id == trace_id)
        .expect("the busy span is stored");
    assert_eq!(busy.item.attributes.len(), 2);
    assert_eq!(busy.item.dropped_attributes_count, 2);
    assert_eq!(
        (busy.item.events.len(), busy.item.dropped_events_count),
        (1, 2)
    );

    // The status page's numbers agree.
    let status = server.status().await;
    assert_eq!(status.traces.accepted, 4);
    assert_eq!(status.traces.rejected, 1);
    let reasons: Vec<_> = status
        .traces
        .rejected_by_reason
        .iter()
        .map(|r| (r.reason.as_str(), r.count))
        .collect();
    assert_eq!(reasons, [("too_old", 1)]);
    assert!(status.traces.ingest_p99_seconds.is_some());
    assert_eq!(
        status.metrics.ingest_p50_seconds, None,
        "no metrics were sent"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_past_the_timeout_is_503_naming_the_limit() {
    let server = TestServer::start_with(|config| {
        config.query_timeout = Some(Duration::from_millis(1));
    })
    .await;
    // 20,000 fresh spans (row blocks, not yet compacted) and a tag none has: the search decodes
    // every one of them, far more than a millisecond's work.
    for i in 0..20 {
        server
            .send_protobuf(&traces_request(&format!("shop-{i}"), 1_000))
            .await;
    }
    let (code, body) = server.get_json("/api/v1/traces?tags=absent%3Dx").await;
    assert_eq!(code, 503, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("--query-timeout"), "{body}");
    // The probes and `/metrics` are not queries and are not held to it.
    let health = server
        .client()
        .get(server.ui_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = scrape(&server).await;
    let m = |series: &str| sample(&metrics, series);
    assert_eq!(m(r#"otelite_query_timeouts_total{family="native"}"#), 1.0);
    assert_eq!(m(r#"otelite_query_errors_total{family="native"}"#), 1.0);
    assert_eq!(m(r#"otelite_query_timeouts_total{family="loki"}"#), 0.0);
    server.stop().await;
}

/// A gauge `name` with one point per user in `users`, each point its own series.
fn per_user_gauge(
    name: &str,
    users: std::ops::Range<u32>,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, NumberDataPoint, metric, number_data_point,
    };
    let mut request = metrics_request("shop", 1);
    let metric = &mut request.resource_metrics[0].scope_metrics[0].metrics[0];
    metric.name = name.to_string();
    metric.unit = String::new();
    let now = otelite_tests::otlp::now_nanos();
    metric.data = Some(metric::Data::Gauge(Gauge {
        data_points: users
            .map(|u| NumberDataPoint {
                attributes: vec![string_attribute("user", &format!("u{u}"))],
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(1)),
                ..Default::default()
            })
            .collect(),
    }));
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn points_that_would_start_a_series_past_the_limit_are_refused_one_by_one() {
    let server = TestServer::start_with(|config| {
        config.series_limits = SeriesLimits {
            per_metric: Some(3),
            active: Some(5),
        };
    })
    .await;

    // Five users of one metric over gRPC: three series are admitted, two points refused.
    let rejected = per_user_gauge("logins", 0..5)
        .send_grpc(server.grpc_endpoint(), false)
        .await
        .expect("the gRPC export succeeds")
        .expect("a partial success");
    assert_eq!(rejected.count, 2, "{}", rejected.message);
    assert!(
        rejected
            .message
            .contains("metric \"logins\" already has 3 active series")
            && rejected.message.contains("--max-series-per-metric"),
        "{}",
        rejected.message
    );

    // The known series keep being stored; a new one is still refused, over HTTP too.
    let response = server
        .post_otlp(
            Signal::Metrics,
            "application/x-protobuf",
            prost::Message::encode_to_vec(&per_user_gauge("logins", 1..4)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let rejected =
        opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::rejected_in_protobuf_response(&body)
            .expect("a partial success");
    assert_eq!(rejected.count, 1, "{}", rejected.message);

    // Another metric may start series until the total, five, is reached.
    let rejected = per_user_gauge("signups", 0..3)
        .send_grpc(server.grpc_endpoint(), false)
        .await
        .expect("the gRPC export succeeds")
        .expect("a partial success");
    assert_eq!(rejected.count, 1, "{}", rejected.message);
    assert!(
        rejected.message.contains("--max-active-series"),
        "{}",
        rejected.message
    );

    // What was admitted is queryable: three series of logins, two of signups.
    let (code, body) = server
        .get_json("/api/v1/query?query=count%20by%20(__name__)%20(%7B__name__%3D~%22logins%7Csignups%22%7D)")
        .await;
    assert_eq!(code, 200, "{body}");
    let mut counts: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["__name__"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("logins".to_string(), "3".to_string()),
            ("signups".to_string(), "2".to_string())
        ]
    );

    let metrics = scrape(&server).await;
    let m = |series: &str| sample(&metrics, series);
    assert_eq!(
        m(r#"otelite_items_refused_total{signal="metrics",reason="too_many_series"}"#),
        4.0
    );
    assert_eq!(m(r#"otelite_items_accepted_total{signal="metrics"}"#), 7.0);
    assert_eq!(m("otelite_active_metric_series"), 5.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn result_sizes_follow_the_query_max_settings() {
    let server = TestServer::start_with(|config| {
        config.query_max_traces = 2;
        config.query_max_lines = 3;
    })
    .await;
    server.send_protobuf(&traces_request("shop", 5)).await;
    server.send_protobuf(&logs_request("shop", 5)).await;

    // Without a limit the search returns what the setting allows; a larger limit is refused.
    let (code, body) = server.get_json("/api/v1/traces?service=shop").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["traces"].as_array().unwrap().len(), 2, "{body}");
    let (code, body) = server.get_json("/api/v1/traces?service=shop&limit=3").await;
    assert_eq!(code, 400);
    assert!(
        body.to_string().contains("--query-max-traces"),
        "the error names the setting: {body}"
    );
    let (code, body) = server.get_json("/api/traces?service=shop&limit=3").await;
    assert_eq!(code, 400, "Jaeger's API too: {body}");

    let (code, body) = server.get_json("/api/v1/logs?service=shop").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["records"].as_array().unwrap().len(), 3, "{body}");
    assert!(body["next_cursor"].is_string(), "more pages follow: {body}");
    let (code, _) = server.get_json("/api/v1/logs?service=shop&limit=4").await;
    assert_eq!(code, 400);

    // Loki cuts a larger limit to the maximum, as Loki does.
    let (code, body) = server
        .get_json("/loki/api/v1/query_range?query=%7Bservice_name%3D%22shop%22%7D&limit=100")
        .await;
    assert_eq!(code, 200, "{body}");
    let lines: usize = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| stream["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(lines, 3, "{body}");
    server.stop().await;
}
