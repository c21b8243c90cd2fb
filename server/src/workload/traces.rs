//! Traces: a request enters the frontend and fans out over gRPC, HTTP, database calls and a
//! Kafka message; every hop is a client span in the caller and a server span in the callee,
//! timed one after the other with log-normal jitter at nanosecond precision. Each span carries
//! the semantic-convention attributes its instrumentation records (HTTP, RPC, DB, messaging;
//! peer addresses and ephemeral ports; the Java agent's thread; the OTel demo's `app.*`
//! attributes), and the ids of one request (user, session, product, order) recur in its spans
//! the way they do in real traces. Now and then an operation fails: its span gets an error
//! status and an `exception` event, and the failure shows in every span up to the root (HTTP
//! 500).
//!
//! All of this is what makes real SDK output hard to compress; the generator has to be as hard,
//! or bytes-per-span measurements flatter the store (`otelite loadgen --reference` measures it).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::shop::{
    self, ADD_ITEM, CATEGORIES, CHARGE, CREATE_SHIPMENT, CURRENCIES, DbCall, EMPTY_CART, GET_CART,
    GET_STOCK, OPERATIONS, PLACE_ORDER, Protocol, RESERVE, SERVICES, Scope, Step, Topic,
    USER_AGENTS, kv_bool, kv_double, kv_int, kv_str, kv_string,
};
use super::{Rng, Workload};

const MS: f64 = 1_000_000.0;

pub(super) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// W3C "sampled", plus the OTLP bits saying whether the parent is known to be remote.
const FLAGS_LOCAL_PARENT: u32 = 0x101;
const FLAGS_REMOTE_PARENT: u32 = 0x301;

/// Where the databases and the Kafka brokers listen.
const POSTGRES_ADDRESS: &str = "10.42.3.17";
const REDIS_ADDRESS: &str = "10.42.5.9";
const KAFKA_BROKERS: [&str; 3] = ["10.42.1.31", "10.42.4.12", "10.42.6.40"];
/// The ingress controllers in front of the frontend, and the connections each keeps open to
/// each frontend instance.
const INGRESS_ADDRESSES: [&str; 2] = ["10.42.0.7", "10.42.2.11"];
const INGRESS_CONNECTIONS: u64 = 32;
/// Connections an HTTP/1.1 client keeps open to each instance it calls (gRPC: one).
const HTTP_CLIENT_CONNECTIONS: u64 = 8;

pub(super) fn generate(workload: &mut Workload, min_spans: usize) -> ExportTraceServiceRequest {
    let mut spans = SpanSink::default();
    while spans.count < min_spans.max(1) {
        let gap = workload
            .rng
            .exponential(workload.options.mean_gap_ns as f64) as u64;
        workload.now += gap + 1;
        let trace_id = workload.rng.trace_id();
        let entry = shop::pick_entry_point(&mut workload.rng);
        let request = Request::new(&mut workload.rng);
        let mut trace = Trace {
            rng: &mut workload.rng,
            trace_id,
            per_service: workload.options.instances_per_service.max(1),
            error_rate: workload.options.error_rate,
            spans: &mut spans,
            request,
            items_seen: 0,
            kafka_offsets: &mut workload.kafka_offsets,
        };
        trace.operation(entry, None, workload.now);
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

/// What one user request carries through the shop: the values that recur in its spans.
struct Request {
    user: String,
    session: String,
    client_address: String,
    user_agent: &'static str,
    currency: &'static str,
    /// The product the current operation is about (operations on a list move it on).
    product: String,
    order: String,
}

impl Request {
    fn new(rng: &mut Rng) -> Request {
        Request {
            user: shop::user_id(rng),
            session: shop::uuid(rng),
            client_address: shop::client_ip(rng),
            user_agent: rng.pick::<&str>(&USER_AGENTS),
            currency: rng.pick::<&str>(&CURRENCIES),
            product: shop::product_id(rng),
            order: shop::order_id(rng),
        }
    }
}

struct Trace<'a> {
    rng: &'a mut Rng,
    trace_id: Vec<u8>,
    per_service: usize,
    error_rate: f64,
    spans: &'a mut SpanSink,
    request: Request,
    /// Stock lookups and reservations so far: each after the first is about another product.
    items_seen: usize,
    /// The next offset of each partition of the orders topic.
    kafka_offsets: &'a mut [u64],
}

/// The client span an operation is called from, and the instance that made the call.
#[derive(Clone, Copy)]
struct Caller<'a> {
    span_id: &'a [u8],
    instance: usize,
}

/// How a finished operation went, for its caller's span.
struct Outcome {
    end: u64,
    failed: bool,
    http_status: i64,
    /// The instance that served it.
    instance: usize,
}

/// The thread a Java service runs an operation on; its agent records it on every span.
struct Thread {
    id: i64,
    name: String,
}

impl Trace<'_> {
    fn instance_of(&mut self, service: usize) -> usize {
        service * self.per_service + self.rng.below(self.per_service as u64) as usize
    }

    fn service_of(&self, instance: usize) -> usize {
        instance / self.per_service
    }

    /// A log-normal duration around `median_ns`, in whole nanoseconds (never 0).
    fn duration(&mut self, median_ns: f64, sigma: f64) -> u64 {
        self.rng.log_normal(median_ns, sigma) as u64 + 1
    }

    fn thread(&mut self, service: usize) -> Option<Thread> {
        (SERVICES[service].language == "java").then(|| {
            let worker = self.rng.between(1, 200);
            Thread {
                id: 40 + worker as i64,
                name: format!("http-nio-8080-exec-{worker}"),
            }
        })
    }

    /// Emits the server span of `operation` (and everything below it) starting at `start` ns,
    /// called from `caller` (`None` for the root).
    fn operation(&mut self, index: usize, caller: Option<Caller>, start: u64) -> Outcome {
        let operation = &OPERATIONS[index];
        let instance = self.instance_of(operation.service);
        let span_id = self.rng.span_id();
        if index == GET_STOCK || index == RESERVE {
            if self.items_seen > 0 {
                self.request.product = shop::product_id(self.rng);
            }
            self.items_seen += 1;
        }
        // Network hop from the caller, then a third of the own work before the first call.
        let start = start
            + if caller.is_some() {
                self.duration(0.25 * MS, 0.4)
            } else {
                0
            };
        let own = self.duration(operation.median_ms * MS, 0.5);
        let thread = self.thread(operation.service);
        let mut cursor = start + own / 3;
        let mut child_failed = false;
        for step in operation.steps {
            let (min, max) = match step {
                Step::Call(_, min, max) | Step::Db(_, min, max) => (*min, *max),
                Step::Publish(_) => (1, 1),
            };
            for _ in 0..self.rng.between(min, max) {
                let (end, failed) = match step {
                    Step::Call(callee, _, _) => {
                        self.call(instance, &span_id, *callee, cursor, thread.as_ref())
                    }
                    Step::Db(db, _, _) => self.db(instance, &span_id, db, cursor, thread.as_ref()),
                    Step::Publish(topic) => {
                        (self.publish(instance, &span_id, topic, cursor), false)
                    }
                };
                child_failed |= failed;
                cursor = end + self.rng.exponential(0.05 * MS) as u64;
            }
        }
        let end = cursor + own - own / 3;

        let own_failure = self.rng.chance(self.error_rate);
        let failed = own_failure || child_failed;
        let mut events = Vec::new();
        let mut status = None;
        if own_failure {
            let (event, message) = self.exception(operation.service, end - 100_000);
            events.push(event);
            status = Some(error_status(message));
        } else if child_failed {
            status = Some(error_status(String::new()));
        }
        let (name, mut attributes, scope, http_status) = match &operation.protocol {
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
                    &self.request.order
                } else {
                    &self.request.product
                };
                let mut attributes = Vec::with_capacity(16);
                attributes.extend([
                    kv_str("http.request.method", method),
                    kv_str("http.route", route),
                    kv_string("url.path", route.replace("{id}", id)),
                ]);
                if operation.service == 0 && *method == "GET" {
                    let query = if *route == "/api/products" {
                        format!(
                            "category={}&page={}&currencyCode={}&sessionId={}",
                            *self.rng.pick(&CATEGORIES),
                            self.rng.between(1, 12),
                            self.request.currency,
                            self.request.session
                        )
                    } else {
                        format!(
                            "currencyCode={}&sessionId={}",
                            self.request.currency, self.request.session
                        )
                    };
                    attributes.push(kv_string("url.query", query));
                }
                attributes.extend([
                    kv_str("url.scheme", "http"),
                    kv_str("network.protocol.version", "1.1"),
                    kv_str("server.address", SERVICES[operation.service].name),
                    kv_int("server.port", *port),
                    kv_int("http.response.status_code", http_status),
                ]);
                match caller {
                    None => {
                        let ingress = self.rng.below(INGRESS_ADDRESSES.len() as u64) as usize;
                        let port = shop::connection_port(
                            self.rng,
                            usize::MAX - ingress,
                            instance,
                            INGRESS_CONNECTIONS,
                        );
                        attributes.extend([
                            kv_string("client.address", self.request.client_address.clone()),
                            kv_str("network.peer.address", INGRESS_ADDRESSES[ingress]),
                            kv_int("network.peer.port", port),
                            kv_str("user_agent.original", self.request.user_agent),
                            kv_string("enduser.id", self.request.user.clone()),
                            kv_string("session.id", self.request.session.clone()),
                        ]);
                    }
                    Some(caller) => {
                        let address = shop::pod_address(caller.instance);
                        let language = SERVICES[self.service_of(caller.instance)].language;
                        let port = shop::connection_port(
                            self.rng,
                            caller.instance,
                            instance,
                            HTTP_CLIENT_CONNECTIONS,
                        );
                        attributes.extend([
                            kv_string("client.address", address.clone()),
                            kv_string("network.peer.address", address),
                            kv_int("network.peer.port", port),
                            kv_str("user_agent.original", shop::client_user_agent(language)),
                        ]);
                    }
                }
                (
                    format!("{method} {route}"),
                    attributes,
                    Scope::Http,
                    http_status,
                )
            }
            Protocol::Grpc { service, method } => {
                let mut attributes = rpc_attributes(service, method, operation.service, failed);
                if let Some(caller) = caller {
                    attributes.extend([
                        kv_string("network.peer.address", shop::pod_address(caller.instance)),
                        kv_int(
                            "network.peer.port",
                            shop::connection_port(self.rng, caller.instance, instance, 1),
                        ),
                    ]);
                }
                (format!("{service}/{method}"), attributes, Scope::Grpc, 0)
            }
        };
        self.app_attributes(index, &mut attributes);
        thread_attributes(thread.as_ref(), &mut attributes);
        self.spans.push(
            instance,
            scope,
            Span {
                trace_id: self.trace_id.clone(),
                span_id,
                parent_span_id: caller.map_or_else(Vec::new, |c| c.span_id.to_vec()),
                flags: if caller.is_some() {
                    FLAGS_REMOTE_PARENT
                } else {
                    FLAGS_LOCAL_PARENT
                },
                name,
                kind: SpanKind::Server as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
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
            instance,
        }
    }

    /// The attributes the OTel demo's services add by hand to the server span of `operation`.
    fn app_attributes(&mut self, operation: usize, out: &mut Vec<KeyValue>) {
        let rng = &mut *self.rng;
        let request = &self.request;
        match operation {
            1 => out.push(kv_string("app.product.id", request.product.clone())),
            3 | ADD_ITEM => out.extend([
                kv_string("app.user.id", request.user.clone()),
                kv_string("app.product.id", request.product.clone()),
                kv_int("app.product.quantity", rng.between(1, 5) as i64),
            ]),
            GET_CART => out.extend([
                kv_string("app.user.id", request.user.clone()),
                kv_int("app.cart.items.count", rng.below(10) as i64),
            ]),
            EMPTY_CART => out.push(kv_string("app.user.id", request.user.clone())),
            CHARGE => out.extend([
                kv_str(
                    "app.payment.card_type",
                    rng.pick::<&str>(&["visa", "mastercard", "amex"]),
                ),
                kv_bool("app.payment.card_valid", true),
                kv_str(
                    "app.loyalty.level",
                    rng.pick::<&str>(&["bronze", "silver", "gold", "platinum"]),
                ),
                kv_double("app.payment.amount", cents(rng.log_normal(8_000.0, 0.9))),
                kv_string("app.payment.transaction.id", shop::uuid(rng)),
            ]),
            GET_STOCK => out.extend([
                kv_string("app.product.id", request.product.clone()),
                kv_int("app.stock.available", rng.below(500) as i64),
            ]),
            RESERVE => out.extend([
                kv_string("app.product.id", request.product.clone()),
                kv_int("app.product.quantity", rng.between(1, 4) as i64),
                kv_int("app.warehouse.id", rng.between(1, 12) as i64),
            ]),
            CREATE_SHIPMENT => out.extend([
                kv_string("app.shipping.tracking.id", shop::uuid(rng)),
                kv_double("app.shipping.cost.total", cents(rng.log_normal(900.0, 0.5))),
                kv_string(
                    "app.shipping.zip_code",
                    format!("{:05}", rng.below(100_000)),
                ),
            ]),
            PLACE_ORDER => out.extend([
                kv_string("app.user.id", request.user.clone()),
                kv_str("app.user.currency", request.currency),
                kv_string("app.order.id", request.order.clone()),
                kv_int("app.order.items.count", rng.between(1, 9) as i64),
                kv_double("app.order.amount", cents(rng.log_normal(9_000.0, 0.9))),
            ]),
            _ => {}
        }
    }

    /// A client span in `instance` calling operation `callee`; returns its end and failure.
    fn call(
        &mut self,
        instance: usize,
        parent: &[u8],
        callee: usize,
        start: u64,
        thread: Option<&Thread>,
    ) -> (u64, bool) {
        let span_id = self.rng.span_id();
        let caller = Caller {
            span_id: &span_id,
            instance,
        };
        let outcome = self.operation(callee, Some(caller), start);
        let end = outcome.end + self.duration(0.2 * MS, 0.4);
        let target = &OPERATIONS[callee];
        let target_name = SERVICES[target.service].name;
        let peer = shop::pod_address(outcome.instance);
        let (name, mut attributes, scope) = match &target.protocol {
            Protocol::Http {
                method,
                route,
                port,
            } => {
                let id = if route.contains("orders") {
                    &self.request.order
                } else {
                    &self.request.product
                };
                let path = route.replace("{id}", id);
                let attributes = vec![
                    kv_str("http.request.method", method),
                    kv_string("url.full", format!("http://{target_name}:{port}{path}")),
                    kv_str("server.address", target_name),
                    kv_int("server.port", *port),
                    kv_string("network.peer.address", peer),
                    kv_int("network.peer.port", *port),
                    kv_str("network.protocol.version", "1.1"),
                    kv_int("http.response.status_code", outcome.http_status),
                ];
                (method.to_string(), attributes, Scope::Http)
            }
            Protocol::Grpc { service, method } => {
                let mut attributes =
                    rpc_attributes(service, method, target.service, outcome.failed);
                attributes.extend([
                    kv_int("server.port", 50051),
                    kv_string("network.peer.address", peer),
                    kv_int("network.peer.port", 50051),
                ]);
                (format!("{service}/{method}"), attributes, Scope::Grpc)
            }
        };
        thread_attributes(thread, &mut attributes);
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
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                status: outcome.failed.then(|| error_status(String::new())),
                ..Default::default()
            },
        );
        (end, outcome.failed)
    }

    /// A database client span in `instance`; returns its end and whether it failed.
    fn db(
        &mut self,
        instance: usize,
        parent: &[u8],
        db: &DbCall,
        start: u64,
        thread: Option<&Thread>,
    ) -> (u64, bool) {
        let end = start + self.duration(db.median_ms * MS, 0.7);
        let failed = self.rng.chance(self.error_rate / 2.0);
        let (address, server) = if db.system == "redis" {
            (REDIS_ADDRESS, "redis")
        } else {
            (POSTGRES_ADDRESS, "postgres-primary")
        };
        let mut attributes = Vec::with_capacity(12);
        attributes.extend([
            kv_str("db.system.name", db.system),
            kv_str("db.namespace", db.namespace),
            kv_str("db.operation.name", db.operation),
            kv_string("db.query.text", self.statement(db.query)),
            kv_str("server.address", server),
            kv_int("server.port", db.port),
            kv_str("network.peer.address", address),
            kv_int("network.peer.port", db.port),
        ]);
        let name = if db.collection.is_empty() {
            db.operation.to_string()
        } else {
            attributes.push(kv_str("db.collection.name", db.collection));
            format!("{} {}.{}", db.operation, db.namespace, db.collection)
        };
        thread_attributes(thread, &mut attributes);
        let (events, status) = if failed {
            let (event, message) = self.exception(self.service_of(instance), end);
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
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events,
                status,
                ..Default::default()
            },
        );
        (end, failed)
    }

    /// `template` with its `{placeholders}` filled from the request (see [`DbCall::query`]).
    fn statement(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = open + rest[open..].find('}').expect("placeholders are closed");
            match &rest[open + 1..close] {
                "product" => out.push_str(&self.request.product),
                "order" => out.push_str(&self.request.order),
                "session" => out.push_str(&self.request.session),
                "warehouse" => out.push_str(&self.rng.between(1, 12).to_string()),
                "n" => out.push_str(&self.rng.between(1, 4).to_string()),
                other => unreachable!("unknown placeholder {{{other}}} in a statement"),
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A Kafka producer span in `instance` publishing the order, and the span of the topic's
    /// consumer processing it a little later (often after the rest of the trace has ended).
    /// Returns the producer span's end.
    fn publish(&mut self, instance: usize, parent: &[u8], topic: &Topic, start: u64) -> u64 {
        let span_id = self.rng.span_id();
        let end = start + self.duration(0.6 * MS, 0.5);
        let partition = self.rng.below(topic.partitions) as usize;
        let offset = self.kafka_offsets[partition % self.kafka_offsets.len()];
        self.kafka_offsets[partition % self.kafka_offsets.len()] += 1;
        let size = self.rng.between(280, 1_400) as i64;
        let broker = KAFKA_BROKERS[partition % KAFKA_BROKERS.len()];
        let producer = SERVICES[self.service_of(instance)].name;
        let common = |operation: &str| {
            vec![
                kv_str("messaging.system", "kafka"),
                kv_str("messaging.destination.name", topic.name),
                kv_str("messaging.operation.type", operation),
                kv_string("messaging.destination.partition.id", partition.to_string()),
                kv_string("messaging.kafka.message.key", self.request.order.clone()),
                kv_int("messaging.message.body.size", size),
                kv_str("server.address", "kafka"),
                kv_int("server.port", 9092),
                kv_str("network.peer.address", broker),
                kv_int("network.peer.port", 9092),
            ]
        };
        let mut producer_attributes = common("publish");
        let mut consumer_attributes = common("process");
        producer_attributes.push(kv_string(
            "messaging.client.id",
            format!("{producer}-producer-1"),
        ));
        let consumer = self.instance_of(topic.consumer);
        let consumer_name = SERVICES[topic.consumer].name;
        consumer_attributes.extend([
            kv_str("messaging.consumer.group.name", consumer_name),
            kv_string(
                "messaging.client.id",
                format!(
                    "consumer-{consumer_name}-{}",
                    consumer % self.per_service + 1
                ),
            ),
            kv_int("messaging.kafka.offset", offset as i64),
        ]);
        let received = end + self.duration(3.0 * MS, 1.0);
        let processed = received + self.duration(topic.process_median_ms * MS, 0.6);
        let consumer_span = Span {
            trace_id: self.trace_id.clone(),
            span_id: self.rng.span_id(),
            parent_span_id: span_id.clone(),
            flags: FLAGS_REMOTE_PARENT,
            name: format!("{} process", topic.name),
            kind: SpanKind::Consumer as i32,
            start_time_unix_nano: received,
            end_time_unix_nano: processed,
            attributes: consumer_attributes,
            ..Default::default()
        };
        self.spans.push(
            instance,
            Scope::Messaging,
            Span {
                trace_id: self.trace_id.clone(),
                span_id,
                parent_span_id: parent.to_vec(),
                flags: FLAGS_LOCAL_PARENT,
                name: format!("{} publish", topic.name),
                kind: SpanKind::Producer as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes: producer_attributes,
                ..Default::default()
            },
        );
        self.spans.push(consumer, Scope::Messaging, consumer_span);
        end
    }

    /// An `exception` event as the service's language would record it, and its message.
    fn exception(&mut self, service: usize, time: u64) -> (Event, String) {
        let (kind, message, frames): (&str, String, &[&str]) = match SERVICES[service].language {
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
            time_unix_nano: time,
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
    let mut attributes = Vec::with_capacity(12);
    attributes.extend([
        kv_str("rpc.system", "grpc"),
        kv_str("rpc.service", service),
        kv_str("rpc.method", method),
        kv_int("rpc.grpc.status_code", if failed { 13 } else { 0 }),
        kv_str("server.address", SERVICES[target].name),
    ]);
    attributes
}

fn thread_attributes(thread: Option<&Thread>, out: &mut Vec<KeyValue>) {
    if let Some(thread) = thread {
        out.extend([
            kv_int("thread.id", thread.id),
            kv_string("thread.name", thread.name.clone()),
        ]);
    }
}

/// An amount of money in cents as the decimal number the services record.
fn cents(cents: f64) -> f64 {
    cents.round() / 100.0
}

fn error_status(message: String) -> Status {
    Status {
        message,
        code: StatusCode::Error as i32,
    }
}
