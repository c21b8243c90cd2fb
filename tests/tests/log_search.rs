//! The native log API over real HTTP, on records sent over OTLP/HTTP both as JSON and as
//! protobuf: two services, every severity class, records in two traces and spans, typed
//! attributes, a structured body and an old record outside the default hour. Every filter must
//! return exactly the records a plain model of the same rules picks, newest first; paging with
//! cursors must visit each record exactly once in both directions; the volume's counts must
//! match; bad input must be a 400 naming the parameter.

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use otelite_tests::otlp::now_nanos;
use otelite_tests::{Signal, TestServer};
use serde_json::{Value, json};

const S: u64 = 1_000_000_000;
const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN_A1: &str = "00f067aa0ba902b7";
const SPAN_A2: &str = "53995c3f42cd8ad8";

/// What the test knows about one record it sent: enough to decide every filter.
#[derive(Debug, Clone)]
struct Sent {
    time: u64,
    service: &'static str,
    severity: i32,
    /// The body's searchable text (for the map body: its JSON).
    body: String,
    trace_id: &'static str,
    span_id: &'static str,
    /// Record attributes, as text.
    attributes: Vec<(&'static str, String)>,
}

/// 30 checkout records over JSON: every third an error in trace A, the others info and warn.
fn checkout_records(base: u64) -> Vec<Sent> {
    (0..30)
        .map(|i| {
            let (severity, body) = match i % 3 {
                0 => (17, format!("Payment failed for order {i}: card declined")),
                1 => (9, format!("order {i} placed for user alice")),
                _ => (13, format!("order {i} slow: inventory took 2s")),
            };
            Sent {
                time: base + i * S,
                service: "checkout",
                severity,
                body,
                trace_id: if i % 3 == 0 { TRACE_A } else { "" },
                span_id: match i % 6 {
                    0 => SPAN_A1,
                    3 => SPAN_A2,
                    _ => "",
                },
                attributes: vec![
                    (
                        "http.status_code",
                        if i % 3 == 0 { "500" } else { "200" }.to_string(),
                    ),
                    ("user", if i % 2 == 0 { "alice" } else { "bob" }.to_string()),
                ],
            }
        })
        .collect()
}

/// 20 payment records over protobuf, half a second after checkout's: debug, then unset severity,
/// in trace B; one of them with a map body.
fn payment_records(base: u64) -> Vec<Sent> {
    (0..20)
        .map(|i| Sent {
            time: base + i * S + S / 2,
            service: "payment",
            severity: if i % 2 == 0 { 5 } else { 0 },
            body: if i == 7 {
                r#"{"event":"refund","order":7}"#.to_string()
            } else {
                format!("charge {i} ok")
            },
            trace_id: if i < 10 { TRACE_B } else { "" },
            span_id: "",
            attributes: vec![("region", if i % 2 == 0 { "eu" } else { "us" }.to_string())],
        })
        .collect()
}

fn otlp_json(records: &[Sent]) -> Value {
    let logs: Vec<Value> = records
        .iter()
        .map(|r| {
            let attributes: Vec<Value> = r
                .attributes
                .iter()
                .map(|(k, v)| match v.parse::<i64>() {
                    Ok(n) => json!({"key": k, "value": {"intValue": n.to_string()}}),
                    Err(_) => json!({"key": k, "value": {"stringValue": v}}),
                })
                .collect();
            json!({
                "timeUnixNano": r.time.to_string(),
                "observedTimeUnixNano": r.time.to_string(),
                "severityNumber": r.severity,
                "severityText": severity_text(r.severity),
                "body": {"stringValue": r.body},
                "attributes": attributes,
                "traceId": r.trace_id,
                "spanId": r.span_id,
            })
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": records[0].service}},
            {"key": "deployment.environment", "value": {"stringValue": "e2e"}},
        ]},
        "scopeLogs": [{"scope": {"name": "shop"}, "logRecords": logs}],
    }]})
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    }
}

fn bytes_of_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn otlp_protobuf(records: &[Sent]) -> ExportLogsServiceRequest {
    let log_records = records
        .iter()
        .map(|r| {
            let body = if r.body.starts_with('{') {
                AnyValue {
                    value: Some(any_value::Value::KvlistValue(
                        opentelemetry_proto::tonic::common::v1::KeyValueList {
                            values: vec![
                                kv("event", string("refund")),
                                kv(
                                    "order",
                                    AnyValue {
                                        value: Some(any_value::Value::IntValue(7)),
                                    },
                                ),
                            ],
                        },
                    )),
                }
            } else {
                string(&r.body)
            };
            LogRecord {
                time_unix_nano: r.time,
                observed_time_unix_nano: r.time,
                severity_number: r.severity,
                severity_text: severity_text(r.severity).to_string(),
                body: Some(body),
                attributes: r.attributes.iter().map(|(k, v)| kv(k, string(v))).collect(),
                trace_id: bytes_of_hex(r.trace_id),
                span_id: bytes_of_hex(r.span_id),
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", string(records[0].service))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn severity_text(number: i32) -> &'static str {
    match number {
        0 => "",
        5 => "DEBUG",
        9 => "INFO",
        13 => "WARN",
        _ => "ERROR",
    }
}

/// A record as the API returned it: its time and body text (unique among the records sent).
fn identity(record: &Value) -> (u64, String) {
    let time = record["time_unix_nano"].as_str().unwrap().parse().unwrap();
    let body = match record["body"]["type"].as_str() {
        Some("string") => record["body"]["value"].as_str().unwrap().to_string(),
        Some("map") => r#"{"event":"refund","order":7}"#.to_string(),
        other => panic!("unexpected body type {other:?}: {record}"),
    };
    (time, body)
}

struct Api {
    server: TestServer,
}

impl Api {
    /// Every page of `query` (with `limit` per page), following the cursors; the records in the
    /// order they came, with each page's checks.
    async fn all_pages(&self, query: &str, limit: usize) -> Vec<Value> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/api/v1/logs?{query}&limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (code, body) = self.server.get_json(&path).await;
            assert_eq!(code, 200, "{path}: {body}");
            let page = body["records"].as_array().unwrap().clone();
            assert!(page.len() <= limit, "{path}: a page over its limit");
            for r in &page {
                let resource = &body["resources"][r["resource"].as_u64().unwrap() as usize];
                assert!(resource.is_object(), "{path}: resource index of {r}");
                assert!(body["scopes"][r["scope"].as_u64().unwrap() as usize].is_object());
            }
            records.extend(page);
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return records,
            }
        }
        panic!("{query}: the cursors never ended");
    }

    async fn identities(&self, query: &str) -> Vec<(u64, String)> {
        self.all_pages(query, 1000)
            .await
            .iter()
            .map(identity)
            .collect()
    }
}

/// The `start` and `end` of a query string.
fn time_range(query: &str) -> (u64, u64) {
    let param = |name: &str| -> u64 {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{query} has no {name}"))
            .parse()
            .unwrap()
    };
    (param("start"), param("end"))
}

fn newest_first(sent: impl Iterator<Item = Sent>) -> Vec<(u64, String)> {
    let mut want: Vec<_> = sent.map(|r| (r.time, r.body)).collect();
    want.sort_by(|a, b| b.cmp(a));
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_search_filters_pages_and_counts() {
    let server = TestServer::start().await;
    // Ten minutes ago, so everything lies in the default last hour; the old one does not.
    let base = (now_nanos() - 600 * S) / S * S;
    let checkout = checkout_records(base);
    let payment = payment_records(base);
    let old = Sent {
        time: base - 2 * 3600 * S,
        service: "checkout",
        severity: 9,
        body: "order ancient placed".to_string(),
        trace_id: "",
        span_id: "",
        attributes: vec![],
    };

    let json_body = serde_json::to_vec(&otlp_json(&checkout)).unwrap();
    let response = server
        .post_otlp(Signal::Logs, "application/json", json_body)
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    server.send_protobuf(&otlp_protobuf(&payment)).await;
    server
        .send_protobuf(&otlp_protobuf(std::slice::from_ref(&old)))
        .await;

    let api = Api { server };
    let recent: Vec<Sent> = checkout.iter().chain(&payment).cloned().collect();
    let start = base - 60 * S;
    let end = base + 60 * S;
    let range = format!("start={start}&end={end}");

    // No filter: the last hour, newest first, the old record left out.
    let (code, body) = api.server.get_json("/api/v1/logs").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["limit"], 100);
    let got: Vec<_> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(identity)
        .collect();
    assert_eq!(got, newest_first(recent.iter().cloned()));
    assert!(body["next_cursor"].is_null(), "one page holds all 50");
    let first = &body["records"][0];
    assert_eq!(first["trace_id"], "");
    let resource = &body["resources"][first["resource"].as_u64().unwrap() as usize];
    assert_eq!(resource["service"], "checkout");

    // Paging: every record once, in order, both ways, at several page sizes.
    for limit in [1, 7, 50] {
        let back: Vec<_> = api
            .all_pages(&range, limit)
            .await
            .iter()
            .map(identity)
            .collect();
        assert_eq!(back, newest_first(recent.iter().cloned()), "limit {limit}");
        let mut forward: Vec<_> = api
            .all_pages(&format!("{range}&direction=forward"), limit)
            .await
            .iter()
            .map(identity)
            .collect();
        forward.reverse();
        assert_eq!(forward, back, "forward, limit {limit}");
    }

    // Each filter against the model.
    let all = recent.iter().chain([&old]).cloned().collect::<Vec<_>>();
    let all_range = format!("start={}&end={end}", old.time);
    let words = |r: &Sent, w: &[&str]| {
        let body: BTreeSet<String> = r
            .body
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(str::to_lowercase)
            .collect();
        w.iter().all(|w| body.contains(*w))
    };
    let attribute =
        |r: &Sent, k: &str, v: &str| r.attributes.iter().any(|(a, b)| *a == k && b == v);
    type Model = Box<dyn Fn(&Sent) -> bool>;
    let cases: Vec<(String, Model)> = vec![
        (
            format!("{range}&q=ORDER+placed"),
            Box::new(move |r| words(r, &["order", "placed"])),
        ),
        (
            format!("{all_range}&q=placed"),
            Box::new(move |r| words(r, &["placed"])),
        ),
        (
            format!("{range}&q=%22card+declined%22"),
            Box::new(|r| r.body.contains("card declined")),
        ),
        (
            format!("{range}&q=refund"),
            Box::new(move |r| words(r, &["refund"])),
        ),
        (
            format!("{range}&service=payment"),
            Box::new(|r| r.service == "payment"),
        ),
        (
            format!("{range}&service=payment&service=checkout"),
            Box::new(|_| true),
        ),
        (
            format!("{range}&severity=warn"),
            Box::new(|r| r.severity >= 13),
        ),
        (
            format!("{range}&severity=debug"),
            Box::new(|r| r.severity >= 5),
        ),
        (
            format!("{range}&severity=17"),
            Box::new(|r| r.severity >= 17),
        ),
        (
            format!("{range}&traceId={TRACE_A}"),
            Box::new(|r| r.trace_id == TRACE_A),
        ),
        (
            format!("{range}&traceId={}", TRACE_B.to_uppercase()),
            Box::new(|r| r.trace_id == TRACE_B),
        ),
        (
            format!("{range}&traceId={TRACE_A}&spanId={SPAN_A2}"),
            Box::new(|r| r.span_id == SPAN_A2),
        ),
        (
            format!("{range}&tags=http.status_code%3D500"),
            Box::new(move |r| attribute(r, "http.status_code", "500")),
        ),
        (
            format!("{range}&tags=user%3Dbob+http.status_code%3D200"),
            Box::new(move |r| {
                attribute(r, "user", "bob") && attribute(r, "http.status_code", "200")
            }),
        ),
        (
            format!("{range}&tags=region%3Deu"),
            Box::new(move |r| attribute(r, "region", "eu")),
        ),
        // A resource attribute, which the tags also match.
        (
            format!("{range}&tags=deployment.environment%3De2e"),
            Box::new(|r| r.service == "checkout"),
        ),
        (
            format!("start={}&end={}", base + 5 * S, base + 10 * S),
            Box::new(move |r| (base + 5 * S..base + 10 * S).contains(&r.time)),
        ),
        (
            format!("{range}&service=checkout&severity=error&q=payment&tags=user%3Dalice"),
            Box::new(move |r| {
                r.service == "checkout"
                    && r.severity >= 17
                    && words(r, &["payment"])
                    && attribute(r, "user", "alice")
            }),
        ),
    ];
    for (query, model) in &cases {
        let (from, to) = time_range(query);
        let want = newest_first(
            all.iter()
                .filter(|r| (from..to).contains(&r.time) && model(r))
                .cloned(),
        );
        assert!(
            !want.is_empty() || query.contains("nothing"),
            "{query} tests nothing"
        );
        assert_eq!(api.identities(query).await, want, "{query}");
    }
    assert!(
        api.identities(&format!("{range}&q=nothingmatches"))
            .await
            .is_empty()
    );

    // The volume counts what the search finds.
    let (code, volume) = api
        .server
        .get_json(&format!("/api/v1/logs/volume?{range}&step=10s"))
        .await;
    assert_eq!(code, 200, "{volume}");
    assert_eq!(volume["step_ns"], (10 * S).to_string());
    let severities: Vec<u64> = serde_json::from_value(volume["severities"].clone()).unwrap();
    let class = |n: i32| otelite_api::logs::severity_class(n);
    let mut want = [0u64; 7];
    for r in &recent {
        want[class(r.severity)] += 1;
    }
    assert_eq!(severities, want);
    let services: Vec<(String, u64)> = volume["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_string(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(services.contains(&("checkout".into(), 30)), "{services:?}");
    assert!(services.contains(&("payment".into(), 20)), "{services:?}");
    let mut bucket_total = 0;
    for bucket in volume["buckets"].as_array().unwrap() {
        let at: u64 = bucket["start_unix_nano"].as_str().unwrap().parse().unwrap();
        let counts: Vec<u64> = serde_json::from_value(bucket["counts"].clone()).unwrap();
        let mut expected = [0u64; 7];
        for r in recent
            .iter()
            .filter(|r| (at..at + 10 * S).contains(&r.time))
        {
            expected[class(r.severity)] += 1;
        }
        assert_eq!(counts, expected, "bucket at {at}");
        bucket_total += counts.iter().sum::<u64>();
    }
    assert_eq!(bucket_total, 50, "every record is in a bucket");
    // Filters apply to the volume too; without a step it picks about 100 round buckets.
    let (code, volume) = api
        .server
        .get_json(&format!(
            "/api/v1/logs/volume?{range}&service=payment&severity=debug"
        ))
        .await;
    assert_eq!(code, 200, "{volume}");
    assert_eq!(volume["step_ns"], (2 * S).to_string());
    let severities: Vec<u64> = serde_json::from_value(volume["severities"].clone()).unwrap();
    assert_eq!(severities, [0, 0, 10, 0, 0, 0, 0]);

    // Services with logs.
    let (code, services) = api.server.get_json("/api/v1/log-services").await;
    assert_eq!(code, 200, "{services}");
    assert_eq!(services["services"], json!(["checkout", "payment"]));

    // Bad input: 400 with a sentence naming the parameter.
    for (query, name) in [
        ("severity=loud", "severity"),
        ("traceId=xyz", "traceId"),
        ("spanId=123", "spanId"),
        ("cursor=nope", "cursor"),
        ("direction=sideways", "direction"),
        ("start=20&end=10", "start"),
        ("limit=100000", "limit"),
        ("tags=novalue", "tags"),
        ("q=%22open", "q"),
    ] {
        for path in ["/api/v1/logs", "/api/v1/logs/volume"] {
            let (code, body) = api.server.get_json(&format!("{path}?{query}")).await;
            assert_eq!(code, 400, "{path}?{query}: {body}");
            let message = body["error"].as_str().unwrap();
            assert!(message.contains(name), "{path}?{query}: {message}");
        }
    }
    let (code, body) = api
        .server
        .get_json(&format!("/api/v1/logs/volume?{range}&step=1ms"))
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("step"));
    api.server.stop().await;
}
