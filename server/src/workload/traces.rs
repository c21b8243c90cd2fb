//! Traces: a request enters the frontend and fans out over gRPC, HTTP and database calls; every
//! hop is a client span in the caller and a server span in the callee, timed one after the
//! other with jitter. Now and then an operation fails: its span gets an error status and an
//! `exception` event, and the failure shows in every span up to the root (HTTP 500).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::shop::{
    self, DbCall, OPERATIONS, Protocol, Scope, Step, USER_AGENTS, kv_int, kv_str, kv_string,
};
use super::{Rng, Workload};

const MS: f64 = 1_000_000.0;

pub(super) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// W3C "sampled", plus the OTLP bits saying whether the parent is known to be remote.
const FLAGS_LOCAL_PARENT: u32 = 0x101;
const FLAGS_REMOTE_PARENT: u32 = 0x301;

pub(super) fn generate(workload: &mut Workload, min_spans: usize) -> ExportTraceServiceRequest {
    let mut spans = SpanSink::default();
    while spans.count < min_spans.max(1) {
        let gap = workload
            .rng
            .exponential(workload.options.mean_gap_ns as f64) as u64;
        workload.now += gap + 1;
        let mut trace = Trace {
            rng: &mut workload.rng,
            trace_id: Vec::new(),
            per_service: workload.options.instances_per_service.max(1),
            error_rate: workload.options.error_rate,
            spans: &mut spans,
        };
        trace.trace_id = trace.rng.trace_id();
        let entry = shop::pick_entry_point(trace.rng);
        trace.operation(entry, Vec::new(), None, workload.now as f64);
    }
    let resource_spans = spans.into_resource_spans(workload);
    ExportTraceServiceRequest { resource_spans }
}

/// Finished spans, grouped by the instance and instrumentation scope that produced them.
#[derive(Default)]
struct SpanSink {
    groups: BTreeMap<(usize, Scope), Vec<Span>>,
    count: usize,
}

impl SpanSink {
    fn push(&mut self, instance: usize, scope: Scope, span: Span) {
        self.groups.entry((instance, scope)).or_default().push(span);
        self.count += 1;
    }

    fn into_resource_spans(self, workload: &Workload) -> Vec<ResourceSpans> {
        let mut out: Vec<ResourceSpans> = Vec::new();
        let mut last_instance = None;
        for ((instance, scope), spans) in self.groups {
            let scope_spans = ScopeSpans {
                scope: Some(scope.instrumentation()),
                spans,
                schema_url: SCHEMA_URL.into(),
            };
            match out.last_mut() {
                Some(last) if last_instance == Some(instance) => last.scope_spans.push(scope_spans),
                _ => out.push(ResourceSpans {
                    resource: Some(workload.instances[instance].resource.clone()),
                    scope_spans: vec![scope_spans],
                    schema_url: SCHEMA_URL.into(),
                }),
            }
            last_instance = Some(instance);
        }
        out
    }
}

struct Trace<'a> {
    rng: &'a mut Rng,
    trace_id: Vec<u8>,
    per_service: usize,
    error_rate: f64,
    spans: &'a mut SpanSink,
}

/// How a finished operation went, for its caller's span.
struct Outcome {
    end: f64,
    failed: bool,
    http_status: i64,
}

impl Trace<'_> {
    fn instance_of(&mut self, service: usize) -> usize {
        service * self.per_service + self.rng.below(self.per_service as u64) as usize
    }

    /// Emits the server span of `operation` (and everything below it) starting at `start` ns,
    /// called from `parent` (a client span id; empty for the root).
    fn operation(
        &mut self,
        index: usize,
        parent: Vec<u8>,
        caller: Option<usize>,
        start: f64,
    ) -> Outcome {
        let operation = &OPERATIONS[index];
        let instance = self.instance_of(operation.service);
        let span_id = self.rng.span_id();
        // Network hop from the caller, then a third of the own work before the first call.
        let start = start
            + if caller.is_some() {
                self.rng.log_normal(0.25 * MS, 0.4)
            } else {
                0.0
            };
        let own = self.rng.log_normal(operation.median_ms * MS, 0.5);
        let mut cursor = start + own / 3.0;
        let mut child_failed = false;
        for step in operation.steps {
            let (min, max) = match step {
                Step::Call(_, min, max) | Step::Db(_, min, max) => (*min, *max),
            };
            for _ in 0..self.rng.between(min, max) {
                let (end, failed) = match step {
                    Step::Call(callee, _, _) => self.call(instance, &span_id, *callee, cursor),
                    Step::Db(db, _, _) => self.db(instance, &span_id, db, cursor),
                };
                child_failed |= failed;
                cursor = end + self.rng.exponential(0.05 * MS);
            }
        }
        let end = cursor + own * 2.0 / 3.0;

        let own_failure = self.rng.chance(self.error_rate);
        let failed = own_failure || child_failed;
        let mut events = Vec::new();
        let mut status = None;
        if own_failure {
            let (event, message) = self.exception(operation.service, end - 0.1 * MS);
            events.push(event);
            status = Some(error_status(message));
        } else if child_failed {
            status = Some(error_status(String::new()));
        }
        let (name, attributes, scope, http_status) = match &operation.protocol {
            Protocol::Http {
                method,
                route,
                port,
            } => {
                let not_found = !failed && route.contains("{id}") && self.rng.chance(0.03);
                let http_status = match (failed, not_found, *method) {
                    (true, _, _) => 500,
                    (_, true, _) => 404,
                    (_, _, "POST") => 201,
                    _ => 200,
                };
                let id = if route.contains("orders") {
                    shop::order_id(self.rng)
                } else {
                    shop::product_id(self.rng)
                };
                let mut attributes = vec![
                    kv_str("http.request.method", method),
                    kv_str("http.route", route),
                    kv_string("url.path", route.replace("{id}", &id)),
                    kv_str("url.scheme", "http"),
                    kv_str("network.protocol.version", "1.1"),
                    kv_str("server.address", shop::SERVICES[operation.service].name),
                    kv_int("server.port", *port),
                    kv_int("http.response.status_code", http_status),
                    kv_string("client.address", shop::client_ip(self.rng)),
                ];
                if caller.is_none() {
                    let agent = USER_AGENTS[self.rng.below(USER_AGENTS.len() as u64) as usize];
                    attributes.push(kv_str("user_agent.original", agent));
                    attributes.push(kv_string("enduser.id", shop::user_id(self.rng)));
                }
                (
                    format!("{method} {route}"),
                    attributes,
                    Scope::Http,
                    http_status,
                )
            }
            Protocol::Grpc { service, method } => {
                let attributes = rpc_attributes(service, method, operation.service, failed);
                (format!("{service}/{method}"), attributes, Scope::Grpc, 0)
            }
        };
        self.spans.push(
            instance,
            scope,
            Span {
                trace_id: self.trace_id.clone(),
                span_id,
                parent_span_id: parent,
                flags: if caller.is_some() {
                    FLAGS_REMOTE_PARENT
                } else {
                    FLAGS_LOCAL_PARENT
                },
                name,
                kind: SpanKind::Server as i32,
                start_time_unix_nano: start as u64,
                end_time_unix_nano: end as u64,
                attributes,
                events,
                status,
                ..Default::default()
            },
        );
        Outcome {
            end,
            failed,
            http_status,
        }
    }

    /// A client span in `instance` calling operation `callee`; returns its end and failure.
    fn call(&mut self, instance: usize, parent: &[u8], callee: usize, start: f64) -> (f64, bool) {
        let span_id = self.rng.span_id();
        let outcome = self.operation(callee, span_id.clone(), Some(instance), start);
        let end = outcome.end + self.rng.log_normal(0.2 * MS, 0.4);
        let target = &OPERATIONS[callee];
        let target_name = shop::SERVICES[target.service].name;
        let (name, attributes, scope) = match &target.protocol {
            Protocol::Http {
                method,
                route,
                port,
            } => {
                let path = route.replace("{id}", &shop::order_id(self.rng));
                let attributes = vec![
                    kv_str("http.request.method", method),
                    kv_string("url.full", format!("http://{target_name}:{port}{path}")),
                    kv_str("server.address", target_name),
                    kv_int("server.port", *port),
                    kv_str("network.protocol.version", "1.1"),
                    kv_int("http.response.status_code", outcome.http_status),
                ];
                (method.to_string(), attributes, Scope::Http)
            }
            Protocol::Grpc { service, method } => {
                let mut attributes =
                    rpc_attributes(service, method, target.service, outcome.failed);
                attributes.push(kv_int("server.port", 50051));
                (format!("{service}/{method}"), attributes, Scope::Grpc)
            }
        };
        self.spans.push(
            instance,
            scope,
            Span {
                trace_id: self.trace_id.clone(),
                span_id,
                parent_span_id: parent.to_vec(),
                flags: FLAGS_LOCAL_PARENT,
                name,
                kind: SpanKind::Client as i32,
                start_time_unix_nano: start as u64,
                end_time_unix_nano: end as u64,
                attributes,
                status: outcome.failed.then(|| error_status(String::new())),
                ..Default::default()
            },
        );
        (end, outcome.failed)
    }

    /// A database client span in `instance`; returns its end and whether it failed.
    fn db(&mut self, instance: usize, parent: &[u8], db: &DbCall, start: f64) -> (f64, bool) {
        let end = start + self.rng.log_normal(db.median_ms * MS, 0.7);
        let failed = self.rng.chance(self.error_rate / 2.0);
        let mut attributes = vec![
            kv_str("db.system.name", db.system),
            kv_str("db.namespace", db.namespace),
            kv_str("db.operation.name", db.operation),
            kv_str("db.query.text", db.query),
            kv_str(
                "server.address",
                if db.system == "redis" {
                    "redis"
                } else {
                    "postgres-primary"
                },
            ),
            kv_int("server.port", db.port),
        ];
        let name = if db.collection.is_empty() {
            db.operation.to_string()
        } else {
            attributes.push(kv_str("db.collection.name", db.collection));
            format!("{} {}.{}", db.operation, db.namespace, db.collection)
        };
        let (events, status) = if failed {
            let service = OPERATIONS
                .iter()
                .find(|op| {
                    op.steps
                        .iter()
                        .any(|s| matches!(s, Step::Db(d, ..) if std::ptr::eq(*d, db)))
                })
                .map_or(0, |op| op.service);
            let (event, message) = self.exception(service, end);
            (vec![event], Some(error_status(message)))
        } else {
            (Vec::new(), None)
        };
        self.spans.push(
            instance,
            Scope::Db,
            Span {
                trace_id: self.trace_id.clone(),
                span_id: self.rng.span_id(),
                parent_span_id: parent.to_vec(),
                flags: FLAGS_LOCAL_PARENT,
                name,
                kind: SpanKind::Client as i32,
                start_time_unix_nano: start as u64,
                end_time_unix_nano: end as u64,
                attributes,
                events,
                status,
                ..Default::default()
            },
        );
        (end, failed)
    }

    /// An `exception` event as the service's language would record it, and its message.
    fn exception(&mut self, service: usize, time: f64) -> (Event, String) {
        let (kind, message, frames): (&str, String, &[&str]) = match shop::SERVICES[service]
            .language
        {
            "java" => (
                "java.net.SocketTimeoutException",
                format!(
                    "Read timed out after {} ms",
                    self.rng.between(1_000, 30_000)
                ),
                &[
                    "at java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:{})",
                    "at shop.frontend.CatalogClient.fetch(CatalogClient.java:{})",
                    "at shop.frontend.ProductController.get(ProductController.java:{})",
                ],
            ),
            "go" => (
                "*errors.errorString",
                format!(
                    "order {} could not be placed: context deadline exceeded",
                    shop::order_id(self.rng)
                ),
                &[
                    "main.(*checkoutService).PlaceOrder(0xc000{})",
                    "\t/app/checkout/main.go:{} +0x1a4",
                ],
            ),
            "dotnet" => (
                "StackExchange.Redis.RedisConnectionException",
                format!(
                    "No connection is active/available to service this operation: HGETALL cart:{}",
                    shop::user_id(self.rng)
                ),
                &[
                    "at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message message) in /_/src/ConnectionMultiplexer.cs:line {}",
                    "at cart.cartstore.RedisCartStore.GetCartAsync(String userId) in /app/src/cartstore/RedisCartStore.cs:line {}",
                ],
            ),
            "nodejs" => (
                "PaymentDeclinedError",
                format!(
                    "card ending {:04} declined: insufficient funds",
                    self.rng.below(10_000)
                ),
                &[
                    "at charge (/app/charge.js:{}:11)",
                    "at process.processTicksAndRejections (node:internal/process/task_queues:{}:5)",
                ],
            ),
            "python" => (
                "psycopg.errors.SerializationFailure",
                format!(
                    "could not serialize access due to concurrent update of product {}",
                    shop::product_id(self.rng)
                ),
                &[
                    "File \"/app/inventory/store.py\", line {}, in reserve",
                    "File \"/usr/local/lib/python3.12/site-packages/psycopg/cursor.py\", line {}, in execute",
                ],
            ),
            _ => (
                "shipping::Error",
                format!(
                    "carrier API returned 503 for shipment {}",
                    shop::order_id(self.rng)
                ),
                &[
                    "at shipping::quote::request (src/quote.rs:{}:9)",
                    "at shipping::handlers::create (src/handlers.rs:{}:5)",
                ],
            ),
        };
        let stacktrace = std::iter::once(format!("{kind}: {message}"))
            .chain(frames.iter().map(|frame| {
                format!(
                    "    {}",
                    frame.replace("{}", &self.rng.between(20, 900).to_string())
                )
            }))
            .collect::<Vec<_>>()
            .join("\n");
        let event = Event {
            time_unix_nano: time as u64,
            name: "exception".into(),
            attributes: vec![
                kv_str("exception.type", kind),
                kv_string("exception.message", message.clone()),
                kv_string("exception.stacktrace", stacktrace),
            ],
            dropped_attributes_count: 0,
        };
        (event, message)
    }
}

fn rpc_attributes(service: &str, method: &str, target: usize, failed: bool) -> Vec<KeyValue> {
    vec![
        kv_str("rpc.system", "grpc"),
        kv_str("rpc.service", service),
        kv_str("rpc.method", method),
        kv_int("rpc.grpc.status_code", if failed { 13 } else { 0 }),
        kv_str("server.address", shop::SERVICES[target].name),
    ]
}

fn error_status(message: String) -> Status {
    Status {
        message,
        code: StatusCode::Error as i32,
    }
}
