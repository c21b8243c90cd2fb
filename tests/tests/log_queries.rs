//! Loki's query API over real HTTP on the real server:
//!
//! - golden answers: the records of `server/src/query/loki/testdata/logs-in.json`, sent over
//!   OTLP/HTTP, and for each case of [`CASES`] the answer in `testdata/<case>.json`
//!   (`OTELITE_BLESS=1` rewrites them from what the server answers; review the diff);
//! - logs the official OpenTelemetry Rust SDK exported over OTLP/HTTP, found again through
//!   `query_range` in order, listed by `labels` and `label/service_name/values`, and followed
//!   by `tail` over a WebSocket, which must receive a record sent after it connected.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger, LoggerProvider, Severity};
use opentelemetry_otlp::{LogExporter, WithExportConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use otelite_tests::{PROMPT, Signal, TestServer};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// 2023-11-14T22:13:20Z, the base time of `logs-in.json`, in seconds.
const T: u64 = 1_700_000_000;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/src/query/loki/testdata")
}

fn encoded(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query_range path over the golden records' hour.
fn range(query: &str, extra: &str) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start={T}&end={}{extra}",
        encoded(query),
        T + 3_600
    )
}

/// (golden file name, request path): every kind of query the subset has.
fn cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "selector-forward",
            range(r#"{service_name="cart"}"#, "&direction=forward"),
        ),
        (
            "line-filters",
            range(
                r#"{deployment_environment="prod"} |= "GET" != "health""#,
                "",
            ),
        ),
        (
            "regex-filter-and-matcher",
            range(
                r#"{service_name=~"cart|pay.*"} |~ "fail(ed)?|time(d)?out""#,
                "",
            ),
        ),
        (
            "not-regex-and-limit",
            range(
                r#"{service_name=~".+", deployment_environment!="staging"} !~ "^GET""#,
                "&limit=3",
            ),
        ),
        (
            "json-label-filter",
            range(r#"{service_name=~".+"} | json | status >= 500"#, ""),
        ),
        (
            "logfmt-duration-filter",
            range(r#"{service_name="cart"} | logfmt | took > 500ms"#, ""),
        ),
        (
            "line-format",
            range(
                r#"{service_name="cart"} | json | __error__="" | line_format "{{.req_method}} {{.req_path}}: {{.msg}}""#,
                "",
            ),
        ),
        (
            "metadata-filters",
            range(
                r#"{service_name=~".+"} | trace_id="00000000000000000000000000000002" or http_route="/cart""#,
                "",
            ),
        ),
        (
            "count-by-service",
            range(
                r#"sum by (service_name) (count_over_time({deployment_environment="prod"}[1m]))"#,
                "&step=60",
            ),
        ),
        (
            // What Grafana asks for the log volume histogram above its results.
            "grafana-log-volume",
            range(
                r#"sum by (level, detected_level) (count_over_time({service_name=~"cart|web"} | json | drop __error__, __error_details__[1m]))"#,
                "&step=60",
            ),
        ),
        (
            "rate",
            range(r#"rate({service_name="payment"}[1m])"#, "&step=30"),
        ),
        (
            "bytes-over-time",
            range(
                r#"sum(bytes_over_time({service_name="cart"} |= "GET" [10s]))"#,
                "&step=5",
            ),
        ),
        (
            "instant-count",
            format!(
                "/loki/api/v1/query?query={}&time={}",
                encoded(r#"count_over_time({service_name=~".+"} |= "charge" [2m])"#),
                T + 120
            ),
        ),
        (
            "instant-topk",
            format!(
                "/loki/api/v1/query?query={}&time={}",
                encoded(
                    r#"topk(1, sum by (service_name) (count_over_time({service_name=~".+"}[10m])))"#
                ),
                T + 70
            ),
        ),
        (
            "label-format-sum",
            format!(
                "/loki/api/v1/query?query={}&time={}",
                encoded(
                    r#"sum by (svc, lvl) (count_over_time({deployment_environment="prod"} | label_format svc=service_name, lvl="{{.detected_level}}!" [10m]))"#
                ),
                T + 70
            ),
        ),
        (
            "labels",
            format!("/loki/api/v1/labels?start={T}&end={}", T + 3_600),
        ),
        (
            "label-values",
            format!(
                "/loki/api/v1/label/service_name/values?start={T}&end={}",
                T + 3_600
            ),
        ),
        (
            "series",
            format!(
                "/loki/api/v1/series?match[]={}&start={T}&end={}",
                encoded(r#"{deployment_environment="prod", severity_text="ERROR"}"#),
                T + 3_600
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn loki_answers_match_the_golden_files() {
    let server = TestServer::start_with(|config| {
        config.max_item_age = None;
        config.retention = [None; 3];
    })
    .await;
    let input = std::fs::read(testdata().join("logs-in.json")).expect("logs-in.json");
    let request: ExportLogsServiceRequest = otelite_tests::otlp::decode_json(&input);
    server.send_protobuf(&request).await;
    let bless = std::env::var_os("OTELITE_BLESS").is_some();
    let mut failures = Vec::new();
    for (name, path) in cases() {
        let (code, answer) = server.get_json(&path).await;
        assert_eq!(code, 200, "{name}: {path}: {answer}");
        let file = testdata().join(format!("{name}.json"));
        if bless {
            let text = serde_json::to_string_pretty(&answer).unwrap() + "\n";
            std::fs::write(&file, text).unwrap();
            continue;
        }
        let expected: Value = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| panic!("{} is missing or not JSON", file.display()));
        if answer != expected {
            failures.push(format!(
                "{name}: {path}\n  expected {expected}\n  answered {answer}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A metric query over lines a parser could not read fails, as in Loki, and says how to
    // skip them.
    let response = server
        .client()
        .get(server.ui_url(&range(
            r#"count_over_time({service_name="cart"} | json [1m])"#,
            "",
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with("pipeline error: 'JSONParserErr' for series: '{")
            && body.contains(r#"__error__!="JSONParserErr""#),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_queries_are_400_with_where_and_why() {
    let server = TestServer::start().await;
    let cases = [
        (
            range(r#"{a=~"(x"}"#, ""),
            "invalid regular expression \"(x\"",
        ),
        (
            range(r#"{service_name="cart""#, ""),
            "parse error at line 1, col 21: syntax error: unexpected end of input",
        ),
        (
            format!(
                "/loki/api/v1/query_range?query={}&start=1600000000&end={T}",
                encoded(r#"{a="b"}"#)
            ),
            "the query time range exceeds the limit",
        ),
        (
            range(r#"frobnicate({a="b"}[1m])"#, ""),
            "col 1: syntax error: unknown function \"frobnicate\"",
        ),
        (
            range(r#"sum_over_time({a="b"} | unwrap ms [1m])"#, ""),
            "unsupported LogQL: the function \"sum_over_time\" is not implemented by otelite",
        ),
    ];
    for (path, reason) in cases {
        let response = server
            .client()
            .get(server.ui_url(&path))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(reason), "{path}: {body}");
    }
}

/// Emits `lines` through the SDK's OTLP/HTTP log exporter, one record a millisecond apart
/// from `start`, and shuts the provider down (which exports everything).
fn emit(endpoint: String, start: SystemTime, lines: Vec<&'static str>) {
    let exporter = LogExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .expect("the log exporter builds");
    let provider = SdkLoggerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("shop-e2e")
                .with_attributes([opentelemetry::KeyValue::new(
                    "deployment.environment",
                    "e2e",
                )])
                .build(),
        )
        .with_simple_exporter(exporter)
        .build();
    let logger = provider.logger("log-queries");
    for (i, line) in lines.into_iter().enumerate() {
        let mut record = logger.create_log_record();
        record.set_timestamp(start + Duration::from_millis(i as u64));
        record.set_severity_number(Severity::Info);
        record.set_severity_text("INFO");
        record.set_body(AnyValue::String(line.into()));
        record.add_attribute("order.id", i as i64);
        logger.emit(record);
    }
    provider.shutdown().expect("the logs are exported");
}

async fn emit_async(server: &TestServer, start: SystemTime, lines: Vec<&'static str>) {
    let endpoint = server.otlp_http_url(Signal::Logs);
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || emit(endpoint, start, lines))
            .join()
            .expect("emitting panicked")
    })
    .await
    .unwrap();
}

fn lines_of(answer: &Value) -> Vec<String> {
    answer["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no streams: {answer}"))
        .iter()
        .flat_map(|stream| stream["values"].as_array().unwrap().clone())
        .map(|value| value[1].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_logs_are_found_listed_and_tailed_through_the_loki_api() {
    let server = TestServer::start().await;
    let start = SystemTime::now() - Duration::from_secs(60);
    emit_async(
        &server,
        start,
        vec![
            "order 1 placed",
            "order 2 failed: card declined",
            "order 3 placed",
            "healthcheck ok",
            "order 4 placed",
        ],
    )
    .await;

    let query = encoded(r#"{service_name="shop-e2e"} |= "placed""#);
    let (code, forward) = server
        .get_json(&format!(
            "/loki/api/v1/query_range?query={query}&direction=forward"
        ))
        .await;
    assert_eq!(code, 200, "{forward}");
    let stream = &forward["data"]["result"][0]["stream"];
    for (label, value) in [
        ("service_name", "shop-e2e"),
        ("deployment_environment", "e2e"),
        ("severity_text", "INFO"),
        ("detected_level", "info"),
        ("telemetry_sdk_language", "rust"),
    ] {
        assert_eq!(stream[label], value, "{label} of {stream}");
    }
    assert_eq!(
        lines_of(&forward),
        ["order 1 placed", "order 3 placed", "order 4 placed"]
    );
    let (_, backward) = server
        .get_json(&format!("/loki/api/v1/query_range?query={query}&limit=2"))
        .await;
    assert_eq!(lines_of(&backward), ["order 4 placed", "order 3 placed"]);

    let (_, labels) = server.get_json("/loki/api/v1/labels").await;
    let labels = labels["data"].as_array().unwrap();
    assert!(
        labels.contains(&"service_name".into())
            && labels.contains(&"deployment_environment".into()),
        "{labels:?}"
    );
    let (_, services) = server
        .get_json("/loki/api/v1/label/service_name/values")
        .await;
    assert_eq!(services["data"], serde_json::json!(["shop-e2e"]));

    // The tail first sends what is there (the newest `limit`), then what arrives.
    let url = format!(
        "ws://{}/loki/api/v1/tail?query={}&limit=2",
        server.ui_addr(),
        encoded(r#"{service_name="shop-e2e"} != "healthcheck""#)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the tail upgrades to a WebSocket");
    let mut receive = async || -> Vec<String> {
        let message = tokio::time::timeout(PROMPT, socket.next())
            .await
            .expect("the tail sends within the timeout")
            .expect("the tail stays open")
            .expect("a WebSocket message");
        let Message::Text(text) = message else {
            panic!("not a text message: {message:?}")
        };
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert!(answer["dropped_entries"].is_null(), "{answer}");
        answer["streams"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().clone())
            .map(|v| v[1].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(receive().await, ["order 3 placed", "order 4 placed"]);
    emit_async(
        &server,
        SystemTime::now(),
        vec!["healthcheck ok", "order 5 placed"],
    )
    .await;
    assert_eq!(receive().await, ["order 5 placed"]);
    socket.close(None).await.unwrap();
}
