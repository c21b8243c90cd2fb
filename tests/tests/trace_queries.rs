//! The trace query APIs over real HTTP, on traces the official OpenTelemetry Rust SDK sent over
//! OTLP/HTTP: nested multi-service traces (frontend → checkout → payment, with an error and an
//! exception event, attributes of every type the SDK has), a late span arriving in a second
//! export, an old trace. Every filter must find exactly the expected traces through otelite's
//! native API, Jaeger's v1 API (Grafana) and Jaeger's API v3 (Jaeger UI); trace-by-id must
//! return every span, the late one too; bad input must be a 400 naming the parameter.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, Tracer, TracerProvider,
};
use opentelemetry::{Array, Context, Key, KeyValue, StringValue, Value as OtelValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otelite_tests::{Signal, TestServer};
use serde_json::{Value, json};

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;

/// The trace ids the SDK made, as 32 hex digits.
#[derive(Debug, Clone)]
struct Sent {
    /// frontend GET /checkout → checkout POST /orders → payment charge card (error) + late audit.
    checkout_error: String,
    /// frontend GET /products → catalog list products, 50 ms.
    products: String,
    /// frontend GET /checkout → checkout POST /orders, 2 s, OK.
    checkout_slow: String,
    /// frontend GET /products three hours earlier.
    old_products: String,
    /// The payment span of `checkout_error`, parent of the late span.
    payment_span: SpanContext,
}

fn time(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

fn provider(endpoint: &str, service: &str) -> SdkTracerProvider {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .expect("the span exporter builds");
    SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_string())
                .with_attributes([KeyValue::new("deployment.environment.name", "e2e")])
                .build(),
        )
        .with_simple_exporter(exporter)
        .build()
}

/// A span of `tracer` under `parent`, from `start` to `end` (ns after `base`).
#[allow(clippy::too_many_arguments)]
fn span(
    tracer: &SdkTracer,
    parent: &Context,
    name: &str,
    kind: SpanKind,
    base: u64,
    start: u64,
    attributes: Vec<KeyValue>,
) -> Context {
    let span = tracer
        .span_builder(name.to_string())
        .with_kind(kind)
        .with_start_time(time(base + start))
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    parent.with_span(span)
}

fn end(cx: &Context, base: u64, at: u64) {
    cx.span().end_with_timestamp(time(base + at));
}

fn trace_id(cx: &Context) -> String {
    cx.span().span_context().trace_id().to_string()
}

/// Sends the first export: three recent traces and an old one. Runs on its own thread (the
/// SDK's HTTP exporter blocks).
fn emit_first(endpoint: String, base: u64) -> Sent {
    let frontend = provider(&endpoint, "frontend");
    let checkout = provider(&endpoint, "checkout");
    let payment = provider(&endpoint, "payment");
    let catalog = provider(&endpoint, "catalog");
    let (f, c, p, k) = (
        frontend.tracer("shop-http"),
        checkout.tracer("shop-http"),
        payment.tracer("shop-pay"),
        catalog.tracer("shop-http"),
    );
    let none = Context::new();

    // The failing checkout: every attribute type on the way down, an error at the bottom.
    let root = span(
        &f,
        &none,
        "GET /checkout",
        SpanKind::Server,
        base,
        0,
        vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.status_code", 500_i64),
        ],
    );
    let call = span(
        &f,
        &root,
        "POST checkout",
        SpanKind::Client,
        base,
        10 * MS,
        vec![],
    );
    let orders = span(
        &c,
        &call,
        "POST /orders",
        SpanKind::Server,
        base,
        20 * MS,
        vec![
            KeyValue::new("order.channel", "app"),
            KeyValue::new("order.total", 42.5_f64),
            KeyValue::new("order.express", true),
            KeyValue::new("order.items", 3_i64),
            KeyValue::new(
                Key::new("order.skus"),
                OtelValue::Array(Array::String(vec![
                    StringValue::from("sku-1"),
                    StringValue::from("sku-2"),
                ])),
            ),
        ],
    );
    let charge = span(
        &c,
        &orders,
        "charge",
        SpanKind::Client,
        base,
        30 * MS,
        vec![],
    );
    let card = span(
        &p,
        &charge,
        "charge card",
        SpanKind::Server,
        base,
        40 * MS,
        vec![KeyValue::new("payment.provider", "acme")],
    );
    card.span().add_event_with_timestamp(
        "exception",
        time(base + 300 * MS),
        vec![
            KeyValue::new("exception.type", "CardDeclined"),
            KeyValue::new("exception.message", "insufficient funds"),
        ],
    );
    card.span().set_status(Status::error("card declined"));
    let payment_span = card.span().span_context().clone();
    end(&card, base, 450 * MS);
    end(&charge, base, 460 * MS);
    end(&orders, base, 470 * MS);
    end(&call, base, 480 * MS);
    end(&root, base, 500 * MS);
    let checkout_error = trace_id(&root);

    // A quick product list, one minute later.
    let t = base + 60 * S;
    let root = span(
        &f,
        &none,
        "GET /products",
        SpanKind::Server,
        t,
        0,
        vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.status_code", 200_i64),
        ],
    );
    let list = span(
        &k,
        &root,
        "list products",
        SpanKind::Server,
        t,
        5 * MS,
        vec![],
    );
    end(&list, t, 45 * MS);
    end(&root, t, 50 * MS);
    let products = trace_id(&root);

    // A slow but successful checkout, two minutes later.
    let t = base + 120 * S;
    let root = span(
        &f,
        &none,
        "GET /checkout",
        SpanKind::Server,
        t,
        0,
        vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.status_code", 200_i64),
        ],
    );
    let orders = span(
        &c,
        &root,
        "POST /orders",
        SpanKind::Server,
        t,
        100 * MS,
        vec![
            KeyValue::new("order.channel", "web shop"),
            KeyValue::new("order.total", 10.25_f64),
            KeyValue::new("order.express", false),
        ],
    );
    end(&orders, t, 1_900 * MS);
    end(&root, t, 2 * S);
    let checkout_slow = trace_id(&root);

    // The same product list, three hours earlier.
    let t = base - 3 * 3_600 * S;
    let root = span(
        &f,
        &none,
        "GET /products",
        SpanKind::Server,
        t,
        0,
        vec![KeyValue::new("http.status_code", 200_i64)],
    );
    end(&root, t, 30 * MS);
    let old_products = trace_id(&root);

    for provider in [frontend, checkout, payment, catalog] {
        provider
            .shutdown()
            .expect("the provider flushes and shuts down");
    }
    Sent {
        checkout_error,
        products,
        checkout_slow,
        old_products,
        payment_span,
    }
}

/// Sends the second export: one late span of the failing checkout, from a new process.
fn emit_late(endpoint: String, base: u64, parent: SpanContext) {
    let payment = provider(&endpoint, "payment");
    let tracer = payment.tracer("shop-pay");
    let parent = Context::new().with_remote_span_context(parent);
    let audit = span(
        &tracer,
        &parent,
        "audit",
        SpanKind::Internal,
        base,
        400 * MS,
        vec![],
    );
    end(&audit, base, 420 * MS);
    payment
        .shutdown()
        .expect("the provider flushes and shuts down");
}

/// What one search asks, written once and sent to all three APIs.
#[derive(Debug, Clone, Default)]
struct Search {
    service: Option<&'static str>,
    operation: Option<&'static str>,
    kind: Option<&'static str>,
    tags: Vec<(&'static str, &'static str)>,
    min_duration: Option<&'static str>,
    max_duration: Option<&'static str>,
    /// Unix ns; the window is `[start, end]`.
    start: u64,
    end: u64,
    limit: Option<usize>,
}

/// An RFC 3339 UTC time with nanoseconds.
fn rfc3339(ns: u64) -> String {
    let secs = ns / S;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ns % S
    )
}

/// Jaeger v1 prints a trace id with zero high bytes as 16 digits.
fn full_id(id: &str) -> String {
    format!("{id:0>32}")
}

struct Api<'a> {
    server: &'a TestServer,
}

impl Api<'_> {
    async fn get(&self, path: &str, query: &[(&str, String)]) -> (u16, Value) {
        let url = reqwest::Url::parse_with_params(&self.server.ui_url(path), query).unwrap();
        let response = self
            .server
            .client()
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let code = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "GET {path} {query:?} ({code}) is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (code, body)
    }

    /// The trace ids the native API finds, in its order.
    async fn native(&self, s: &Search) -> Vec<String> {
        let mut q = vec![
            ("start", s.start.to_string()),
            ("end", (s.end + 1).to_string()),
        ];
        q.extend(s.service.map(|v| ("service", v.to_string())));
        q.extend(s.operation.map(|v| ("operation", v.to_string())));
        q.extend(s.kind.map(|v| ("kind", v.to_string())));
        if !s.tags.is_empty() {
            let text: Vec<String> = s
                .tags
                .iter()
                .map(|(k, v)| {
                    if v.contains(' ') {
                        format!("{k}=\"{v}\"")
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            q.push(("tags", text.join(" ")));
        }
        q.extend(s.min_duration.map(|v| ("minDuration", v.to_string())));
        q.extend(s.max_duration.map(|v| ("maxDuration", v.to_string())));
        q.extend(s.limit.map(|v| ("limit", v.to_string())));
        let (code, body) = self.get("/api/v1/traces", &q).await;
        assert_eq!(code, 200, "native {s:?}: {body}");
        body["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Jaeger-style tags of a search: its tags, plus its kind as `span.kind`.
    fn jaeger_tags(s: &Search) -> Option<String> {
        let mut tags: BTreeMap<&str, &str> = s.tags.iter().copied().collect();
        if let Some(kind) = s.kind {
            tags.insert("span.kind", kind);
        }
        (!tags.is_empty()).then(|| serde_json::to_string(&tags).unwrap())
    }

    /// The trace ids Jaeger's v1 API finds (with the span count of each), in its order.
    async fn v1(&self, s: &Search) -> Vec<(String, usize)> {
        let mut q = vec![
            ("start", (s.start / 1_000).to_string()),
            ("end", (s.end / 1_000).to_string()),
            ("lookback", "custom".to_string()),
        ];
        q.extend(s.service.map(|v| ("service", v.to_string())));
        q.extend(s.operation.map(|v| ("operation", v.to_string())));
        q.extend(Self::jaeger_tags(s).map(|v| ("tags", v)));
        q.extend(s.min_duration.map(|v| ("minDuration", v.to_string())));
        q.extend(s.max_duration.map(|v| ("maxDuration", v.to_string())));
        q.extend(s.limit.map(|v| ("limit", v.to_string())));
        let (code, body) = self.get("/api/traces", &q).await;
        assert_eq!(code, 200, "v1 {s:?}: {body}");
        assert_eq!(body["errors"], Value::Null, "v1 {s:?}");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    full_id(t["traceID"].as_str().unwrap()),
                    t["spans"].as_array().unwrap().len(),
                )
            })
            .collect()
    }

    /// The trace ids Jaeger's API v3 finds (with span counts), in order of first appearance.
    async fn v3(&self, s: &Search) -> Vec<(String, usize)> {
        let mut q = vec![
            ("query.startTimeMin", rfc3339(s.start)),
            ("query.startTimeMax", rfc3339(s.end)),
        ];
        q.extend(s.service.map(|v| ("query.serviceName", v.to_string())));
        q.extend(s.operation.map(|v| ("query.operationName", v.to_string())));
        q.extend(Self::jaeger_tags(s).map(|v| ("query.attributes", v)));
        q.extend(s.min_duration.map(|v| ("query.durationMin", v.to_string())));
        q.extend(s.max_duration.map(|v| ("query.durationMax", v.to_string())));
        q.extend(s.limit.map(|v| ("query.searchDepth", v.to_string())));
        let (code, body) = self.get("/api/v3/traces", &q).await;
        if code == 404 {
            assert_eq!(
                body,
                json!({"error": {"httpCode": 404, "message": "No traces found"}})
            );
            return Vec::new();
        }
        assert_eq!(code, 200, "v3 {s:?}: {body}");
        let mut found: Vec<(String, usize)> = Vec::new();
        for group in body["result"]["resourceSpans"].as_array().unwrap() {
            for scope in group["scopeSpans"].as_array().unwrap() {
                for span in scope["spans"].as_array().unwrap() {
                    let id = span["traceId"].as_str().unwrap().to_string();
                    match found.iter_mut().find(|(t, _)| *t == id) {
                        Some((_, n)) => *n += 1,
                        None => found.push((id, 1)),
                    }
                }
            }
        }
        // The summaries find the same traces in the same order.
        let (code, summaries) = self.get("/api/v3/trace-summaries", &q).await;
        assert_eq!(code, 200, "v3 summaries {s:?}: {summaries}");
        let summarised: Vec<(String, usize)> = summaries["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["traceId"].as_str().unwrap().to_string(),
                    t["spanCount"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(summarised, found, "v3 trace-summaries vs traces for {s:?}");
        found
    }

    /// Asserts that all three APIs find exactly `expected` (newest first), each trace whole.
    async fn assert_finds(
        &self,
        what: &str,
        s: Search,
        expected: &[&String],
        spans: &BTreeMap<String, usize>,
    ) {
        let expected: Vec<String> = expected.iter().map(|id| id.to_string()).collect();
        assert_eq!(self.native(&s).await, expected, "native API: {what}");
        let whole: Vec<(String, usize)> =
            expected.iter().map(|id| (id.clone(), spans[id])).collect();
        assert_eq!(self.v1(&s).await, whole, "Jaeger v1: {what}");
        assert_eq!(self.v3(&s).await, whole, "Jaeger v3: {what}");
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_finds_exactly_its_traces_in_every_api() {
    let server = TestServer::start().await;
    let endpoint = server.otlp_http_url(Signal::Traces);
    // Ten minutes ago, on a whole millisecond so that Jaeger's microseconds are exact.
    let base = (now_ns() - 600 * S) / MS * MS;
    let sent = {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || emit_first(endpoint, base))
            .await
            .unwrap()
    };
    let api = Api { server: &server };
    let (a, b, c, d) = (
        &sent.checkout_error,
        &sent.products,
        &sent.checkout_slow,
        &sent.old_products,
    );

    // Before the late span: the failing checkout has its five spans.
    let (code, trace) = api.get(&format!("/api/v1/traces/{a}"), &[]).await;
    assert_eq!(code, 200, "{trace}");
    assert_eq!(trace["spans"].as_array().unwrap().len(), 5, "{trace}");

    let parent = sent.payment_span.clone();
    tokio::task::spawn_blocking(move || emit_late(endpoint, base, parent))
        .await
        .unwrap();

    let spans: BTreeMap<String, usize> = [
        (a.clone(), 6),
        (b.clone(), 2),
        (c.clone(), 2),
        (d.clone(), 1),
    ]
    .into();
    let window = Search {
        start: base - 300 * S,
        end: base + 300 * S,
        ..Default::default()
    };
    let with = |f: &dyn Fn(&mut Search)| {
        let mut s = window.clone();
        f(&mut s);
        s
    };
    let cases: Vec<(&str, Search, Vec<&String>)> = vec![
        (
            "service payment",
            with(&|s| s.service = Some("payment")),
            vec![a],
        ),
        (
            "service frontend, newest first",
            with(&|s| s.service = Some("frontend")),
            vec![c, b, a],
        ),
        (
            "service catalog",
            with(&|s| s.service = Some("catalog")),
            vec![b],
        ),
        (
            "operation",
            with(&|s| {
                s.service = Some("frontend");
                s.operation = Some("GET /products");
            }),
            vec![b],
        ),
        (
            "operation of another service",
            with(&|s| s.operation = Some("POST /orders")),
            vec![c, a],
        ),
        (
            "no such operation",
            with(&|s| {
                s.service = Some("frontend");
                s.operation = Some("DELETE /everything");
            }),
            vec![],
        ),
        ("kind client", with(&|s| s.kind = Some("client")), vec![a]),
        (
            "kind internal (the late span)",
            with(&|s| s.kind = Some("internal")),
            vec![a],
        ),
        (
            "string attribute with a space",
            with(&|s| s.tags = vec![("order.channel", "web shop")]),
            vec![c],
        ),
        (
            "string attribute",
            with(&|s| s.tags = vec![("payment.provider", "acme")]),
            vec![a],
        ),
        (
            "int attribute",
            with(&|s| s.tags = vec![("http.status_code", "500")]),
            vec![a],
        ),
        (
            "int attribute, several traces",
            with(&|s| s.tags = vec![("http.status_code", "200")]),
            vec![c, b],
        ),
        (
            "double attribute",
            with(&|s| s.tags = vec![("order.total", "42.5")]),
            vec![a],
        ),
        (
            "bool attribute true",
            with(&|s| s.tags = vec![("order.express", "true")]),
            vec![a],
        ),
        (
            "bool attribute false",
            with(&|s| s.tags = vec![("order.express", "false")]),
            vec![c],
        ),
        (
            "resource attribute",
            with(&|s| s.tags = vec![("deployment.environment.name", "e2e")]),
            vec![c, b, a],
        ),
        (
            "two attributes of one span",
            with(&|s| {
                s.tags = vec![("http.method", "GET"), ("http.status_code", "200")];
            }),
            vec![c, b],
        ),
        (
            "two attributes of different spans",
            with(&|s| {
                s.tags = vec![("http.status_code", "500"), ("payment.provider", "acme")];
            }),
            vec![],
        ),
        (
            "error=true",
            with(&|s| s.tags = vec![("error", "true")]),
            vec![a],
        ),
        (
            "error=true with a service without errors",
            with(&|s| {
                s.service = Some("frontend");
                s.tags = vec![("error", "true")];
            }),
            vec![],
        ),
        (
            "min duration",
            with(&|s| s.min_duration = Some("1s")),
            vec![c],
        ),
        (
            "max duration",
            with(&|s| {
                s.service = Some("frontend");
                s.max_duration = Some("60ms");
            }),
            vec![b],
        ),
        (
            "min and max duration",
            with(&|s| {
                s.service = Some("frontend");
                s.min_duration = Some("400ms");
                s.max_duration = Some("0.6s");
            }),
            vec![a],
        ),
        (
            "time range",
            Search {
                start: base - 3 * 3_600 * S - 60 * S,
                end: base - 3 * 3_600 * S + 60 * S,
                ..Default::default()
            },
            vec![d],
        ),
        // The product list's last span starts 5 ms after its root: a start 1 ms later than
        // that leaves the whole trace out (a trace is found by the start of a matching span).
        (
            "time range excluding a trace by a millisecond",
            with(&|s| s.start = base + 60 * S + 6 * MS),
            vec![c],
        ),
        (
            "time range including a trace by its last span",
            with(&|s| s.start = base + 60 * S + 5 * MS),
            vec![c, b],
        ),
        (
            "limit",
            with(&|s| {
                s.service = Some("frontend");
                s.limit = Some(2);
            }),
            vec![c, b],
        ),
    ];
    for (what, search, expected) in cases {
        api.assert_finds(what, search, &expected, &spans).await;
    }

    assert_trace_by_id(&api, &sent).await;
    assert_lists(&api).await;
    assert_bad_input(&api, a).await;
    server.stop().await;
}

/// Trace by id in every API: every span, the late one too.
async fn assert_trace_by_id(api: &Api<'_>, sent: &Sent) {
    let a = &sent.checkout_error;
    let (code, trace) = api.get(&format!("/api/v1/traces/{a}"), &[]).await;
    assert_eq!(code, 200, "{trace}");
    let names: Vec<&str> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "GET /checkout",
            "POST checkout",
            "POST /orders",
            "charge",
            "charge card",
            "audit"
        ],
        "sorted by start, the late span included"
    );
    let services: Vec<&str> = trace["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(
        services.len(),
        3,
        "payment's two exports share one resource: {services:?}"
    );
    let card = &trace["spans"][4];
    assert_eq!(
        card["status"],
        json!({"code": "error", "message": "card declined"})
    );
    assert_eq!(card["events"][0]["name"], "exception");
    assert_eq!(trace["spans"][5]["parent_span_id"], card["span_id"]);
    let orders = &trace["spans"][2];
    let attribute = |key: &str| {
        orders["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        attribute("order.total"),
        json!({"type": "double", "value": 42.5})
    );
    assert_eq!(
        attribute("order.items"),
        json!({"type": "int", "value": "3"})
    );
    assert_eq!(
        attribute("order.express"),
        json!({"type": "bool", "value": true})
    );
    assert_eq!(
        attribute("order.skus"),
        json!({"type": "array", "value": [{"type": "string", "value": "sku-1"}, {"type": "string", "value": "sku-2"}]})
    );

    // The download: OTLP/JSON an OTLP endpoint takes back.
    let response = api
        .server
        .client()
        .get(api.server.ui_url(&format!("/api/v1/traces/{a}/otlp")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"trace-{a}.json\"").as_str()
    );
    let body = response.bytes().await.unwrap();
    let data: Value = serde_json::from_slice(&body).unwrap();
    let count: usize = data["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["scopeSpans"].as_array().unwrap())
        .map(|s| s["spans"].as_array().unwrap().len())
        .sum();
    assert_eq!(count, 6);
    let request: ExportTraceServiceRequest = otelite_tests::otlp::decode_json(&body);
    assert_eq!(
        request.resource_spans.len(),
        data["resourceSpans"].as_array().unwrap().len()
    );

    // Jaeger v1: processes, Jaeger's status and kind tags, the exception as a log.
    let (code, v1) = api.get(&format!("/api/traces/{a}"), &[]).await;
    assert_eq!(code, 200, "{v1}");
    let trace = &v1["data"][0];
    assert_eq!(trace["spans"].as_array().unwrap().len(), 6);
    let processes: Vec<&str> = trace["processes"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["serviceName"].as_str().unwrap())
        .collect();
    assert_eq!(processes.len(), 3, "{processes:?}");
    let card = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "charge card")
        .unwrap();
    let tags = card["tags"].as_array().unwrap();
    for tag in [
        json!({"key": "span.kind", "type": "string", "value": "server"}),
        json!({"key": "otel.status_code", "type": "string", "value": "ERROR"}),
        json!({"key": "error", "type": "bool", "value": true}),
        json!({"key": "otel.status_description", "type": "string", "value": "card declined"}),
        json!({"key": "otel.scope.name", "type": "string", "value": "shop-pay"}),
    ] {
        assert!(tags.contains(&tag), "{tag} in {tags:?}");
    }
    assert_eq!(
        card["logs"][0]["fields"][0],
        json!({"key": "event", "type": "string", "value": "exception"})
    );
    assert_eq!(card["references"][0]["refType"], "CHILD_OF");
    assert_eq!(card["duration"], 410_000, "microseconds");

    // Jaeger v3, by hex and by base64.
    for id in [a.clone(), base64_of_hex(a)] {
        let (code, v3) = api
            .get(
                &format!(
                    "/api/v3/traces/{}",
                    id.replace('/', "%2F").replace('+', "%2B")
                ),
                &[],
            )
            .await;
        assert_eq!(code, 200, "{id}: {v3}");
        let count: usize = v3["result"]["resourceSpans"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["scopeSpans"].as_array().unwrap())
            .map(|s| s["spans"].as_array().unwrap().len())
            .sum();
        assert_eq!(count, 6, "{id}");
    }
}

fn base64_of_hex(hex: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Services and operations in every API.
async fn assert_lists(api: &Api<'_>) {
    let all = ["catalog", "checkout", "frontend", "payment"];
    let (_, native) = api.get("/api/v1/trace-services", &[]).await;
    assert_eq!(native, json!({"services": all}));
    let (_, v1) = api.get("/api/services", &[]).await;
    assert_eq!(
        v1,
        json!({"data": all, "total": 4, "limit": 0, "offset": 0, "errors": null})
    );
    let (_, v3) = api.get("/api/v3/services", &[]).await;
    assert_eq!(v3, json!({"services": all}));

    let (_, native) = api
        .get(
            "/api/v1/trace-operations",
            &[("service", "checkout".into())],
        )
        .await;
    assert_eq!(
        native,
        json!({"operations": [
            {"service": "checkout", "name": "POST /orders", "kind": "server"},
            {"service": "checkout", "name": "charge", "kind": "client"}
        ]})
    );
    let (_, v1) = api.get("/api/services/checkout/operations", &[]).await;
    assert_eq!(v1["data"], json!(["POST /orders", "charge"]));
    let (_, v1) = api
        .get(
            "/api/operations",
            &[
                ("service", "checkout".into()),
                ("spanKind", "client".into()),
            ],
        )
        .await;
    assert_eq!(
        v1["data"],
        json!([{"name": "charge", "spanKind": "client"}])
    );
    let (_, v3) = api
        .get("/api/v3/operations", &[("service", "payment".into())])
        .await;
    assert_eq!(
        v3,
        json!({"operations": [{"name": "audit", "spanKind": "internal"}, {"name": "charge card", "spanKind": "server"}]})
    );
}

/// A request (path and query), the status it must get and a text its message must contain.
type BadInput = (String, Vec<(&'static str, String)>, u16, &'static str);

/// Every kind of bad input is a 400 naming the parameter, in each API's error shape; an
/// unknown trace is a 404.
async fn assert_bad_input(api: &Api<'_>, known: &str) {
    let unknown = "0123456789abcdef0123456789abcdef";
    let zeros = "0".repeat(32);
    let range = |q: &mut Vec<(&'static str, String)>| {
        q.push(("query.startTimeMin", "2026-01-01T00:00:00Z".into()));
        q.push(("query.startTimeMax", "2026-01-02T00:00:00Z".into()));
    };

    // Native: {"error": "..."}.
    let native: Vec<BadInput> = vec![
        ("/api/v1/traces/xyz".into(), vec![], 400, "trace id"),
        (
            format!("/api/v1/traces/{}", &known[16..]),
            vec![],
            400,
            "32 hex digits",
        ),
        (format!("/api/v1/traces/{zeros}"), vec![], 400, "all zeros"),
        (format!("/api/v1/traces/{unknown}"), vec![], 404, unknown),
        (
            format!("/api/v1/traces/{unknown}/otlp"),
            vec![],
            404,
            unknown,
        ),
        (
            "/api/v1/traces".into(),
            vec![("tags", "http.status_code".into())],
            400,
            "tags",
        ),
        (
            "/api/v1/traces".into(),
            vec![("tags", "{\"a\":".into())],
            400,
            "tags",
        ),
        (
            "/api/v1/traces".into(),
            vec![("minDuration", "fast".into())],
            400,
            "minDuration",
        ),
        (
            "/api/v1/traces".into(),
            vec![("maxDuration", "1h30".into())],
            400,
            "maxDuration",
        ),
        (
            "/api/v1/traces".into(),
            vec![("start", "200".into()), ("end", "100".into())],
            400,
            "start",
        ),
        (
            "/api/v1/traces".into(),
            vec![("limit", "1001".into())],
            400,
            "limit",
        ),
        (
            "/api/v1/traces".into(),
            vec![("kind", "sideways".into())],
            400,
            "kind",
        ),
    ];
    for (path, query, code, needle) in native {
        let (got, body) = api.get(&path, &query).await;
        assert_eq!(got, code, "{path} {query:?}: {body}");
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {body}"));
        assert!(message.contains(needle), "{path} {query:?}: {message}");
    }

    // Jaeger v1: {"data":null,...,"errors":[{"code":400,"msg":"..."}]}.
    let v1: Vec<BadInput> = vec![
        ("/api/traces/xyz".into(), vec![], 400, "traceID"),
        (format!("/api/traces/{zeros}"), vec![], 400, "all zeros"),
        (
            format!("/api/traces/{unknown}"),
            vec![],
            404,
            "trace not found",
        ),
        (
            "/api/traces".into(),
            vec![("tags", "{bad".into())],
            400,
            "tags",
        ),
        (
            "/api/traces".into(),
            vec![("minDuration", "1 s".into())],
            400,
            "minDuration",
        ),
        (
            "/api/traces".into(),
            vec![("start", "2000".into()), ("end", "1000".into())],
            400,
            "start",
        ),
        (
            "/api/traces".into(),
            vec![("limit", "5000".into())],
            400,
            "limit",
        ),
        (
            "/api/operations".into(),
            vec![
                ("service", "checkout".into()),
                ("spanKind", "sideways".into()),
            ],
            400,
            "spanKind",
        ),
        ("/api/operations".into(), vec![], 400, "service"),
    ];
    for (path, query, code, needle) in v1 {
        let (got, body) = api.get(&path, &query).await;
        assert_eq!(got, code, "{path} {query:?}: {body}");
        assert_eq!(body["data"], Value::Null, "{path}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{path}: {body}");
        let message = body["errors"][0]["msg"].as_str().unwrap();
        assert!(message.contains(needle), "{path} {query:?}: {message}");
    }

    // Jaeger v3: {"error":{"httpCode":400,"message":"..."}}.
    let mut v3: Vec<BadInput> = vec![
        ("/api/v3/traces/xyz".into(), vec![], 400, "trace_id"),
        (format!("/api/v3/traces/{zeros}"), vec![], 400, "all zeros"),
        (
            format!("/api/v3/traces/{unknown}"),
            vec![],
            404,
            "No traces found",
        ),
        (
            format!("/api/v3/traces/{known}"),
            vec![("startTime", "yesterday".into())],
            400,
            "startTime",
        ),
        (
            "/api/v3/traces".into(),
            vec![],
            400,
            "query.startTimeMin and query.startTimeMax are required",
        ),
        (
            "/api/v3/operations".into(),
            vec![("spanKind", "sideways".into())],
            400,
            "spanKind",
        ),
    ];
    for (param, value, needle) in [
        ("query.attributes", "{bad", "query.attributes"),
        ("query.durationMin", "abc", "query.durationMin"),
        ("query.searchDepth", "1001", "query.searchDepth"),
    ] {
        let mut q = vec![(param, value.to_string())];
        range(&mut q);
        v3.push(("/api/v3/traces".into(), q, 400, needle));
    }
    v3.push((
        "/api/v3/trace-summaries".into(),
        vec![
            ("query.startTimeMin", "2026-01-02T00:00:00Z".into()),
            ("query.startTimeMax", "2026-01-01T00:00:00Z".into()),
        ],
        400,
        "query.startTimeMin must be before query.startTimeMax",
    ));
    for (path, query, code, needle) in v3 {
        let (got, body) = api.get(&path, &query).await;
        assert_eq!(got, code, "{path} {query:?}: {body}");
        assert_eq!(body["error"]["httpCode"], code, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{path} {query:?}: {message}");
    }
}
