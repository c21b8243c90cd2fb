//! Logs: each record comes from a message template of its service with variable parts filled in
//! (ids, durations, amounts), the way application logs repeat their shape but rarely their
//! text. Some services log JSON bodies; most records written inside a request carry its trace
//! and span ids.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

use super::shop::{self, kv_int, kv_str, kv_string, string_value};
use super::traces::SCHEMA_URL;
use super::{Rng, Workload};

pub(super) fn generate(workload: &mut Workload, records: usize) -> ExportLogsServiceRequest {
    let mut groups: BTreeMap<usize, Vec<LogRecord>> = BTreeMap::new();
    let per_service = workload.options.instances_per_service.max(1);
    for _ in 0..records.max(1) {
        let gap = workload
            .rng
            .exponential(workload.options.mean_gap_ns as f64 / 4.0) as u64;
        workload.now += gap + 1;
        let rng = &mut workload.rng;
        let service = rng.below(shop::SERVICES.len() as u64) as usize;
        let instance = service * per_service + rng.below(per_service as u64) as usize;
        let record = record(rng, service, workload.now);
        groups.entry(instance).or_default().push(record);
    }
    let resource_logs = groups
        .into_iter()
        .map(|(instance, log_records)| {
            let service = shop::SERVICES[workload.instances[instance].service].name;
            ResourceLogs {
                resource: Some(workload.instances[instance].resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: format!("shop.{service}"),
                        ..Default::default()
                    }),
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: SCHEMA_URL.into(),
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

fn record(rng: &mut Rng, service: usize, now: u64) -> LogRecord {
    let roll = rng.below(100);
    let severity = match roll {
        0..=14 => SeverityNumber::Debug,
        15..=84 => SeverityNumber::Info,
        85..=95 => SeverityNumber::Warn,
        _ => SeverityNumber::Error,
    };
    let (body, mut attributes) = message(rng, service, severity);
    attributes.push(kv_str("log.logger", LOGGERS[service]));
    attributes.push(kv_string(
        "thread.name",
        format!("worker-{}", rng.below(16)),
    ));
    let in_request = rng.chance(0.7);
    LogRecord {
        time_unix_nano: now,
        observed_time_unix_nano: now + rng.between(50_000, 3_000_000),
        severity_number: severity as i32,
        severity_text: severity_text(severity).into(),
        body: Some(string_value(body)),
        attributes,
        flags: if in_request { 1 } else { 0 },
        trace_id: if in_request {
            rng.trace_id()
        } else {
            Vec::new()
        },
        span_id: if in_request {
            rng.span_id()
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

const LOGGERS: [&str; 6] = [
    "shop.frontend.web.RequestLogger",
    "checkout/service",
    "cart.cartstore.RedisCartStore",
    "payment:charge",
    "inventory.store",
    "shipping::handlers",
];

fn severity_text(severity: SeverityNumber) -> &'static str {
    match severity {
        SeverityNumber::Debug => "DEBUG",
        SeverityNumber::Warn => "WARN",
        SeverityNumber::Error => "ERROR",
        _ => "INFO",
    }
}

/// A message of `service` at `severity`, with its template's attributes.
fn message(rng: &mut Rng, service: usize, severity: SeverityNumber) -> (String, Vec<KeyValue>) {
    match (service, severity) {
        (_, SeverityNumber::Debug) => {
            let used = rng.below(20);
            (
                format!(
                    "connection pool {} at {used}/20 connections, {} waiting",
                    POOLS[service],
                    rng.below(3)
                ),
                vec![
                    kv_str("db.client.connection.pool.name", POOLS[service]),
                    kv_int("pool.used", used as i64),
                ],
            )
        }
        (_, SeverityNumber::Warn) => {
            let took = rng.log_normal(400.0, 0.6) as u64 + 200;
            (
                format!(
                    "slow operation {} took {took} ms (threshold 200 ms)",
                    SLOW_OPS[service]
                ),
                vec![kv_int("duration_ms", took as i64)],
            )
        }
        (_, SeverityNumber::Error) => {
            let attempt = rng.between(1, 3);
            (
                format!(
                    "request {} failed after {attempt} attempts: {}",
                    shop::uuid(rng),
                    rng.pick(&ERROR_REASONS)
                ),
                vec![
                    kv_str("exception.type", ERROR_TYPES[service]),
                    kv_int("retry.attempt", attempt as i64),
                ],
            )
        }
        // Two services log structured JSON; the others plain text.
        (1 | 3, _) => json_message(rng, service),
        (0, _) => {
            let status = *rng.pick(&[200, 200, 200, 200, 201, 204, 304, 404]);
            let route = *rng.pick(&[
                "/",
                "/api/products/{id}",
                "/api/products",
                "/api/cart",
                "/api/orders/{id}",
            ]);
            let path = route.replace("{id}", &shop::product_id(rng));
            let took = rng.log_normal(12.0, 0.8);
            (
                format!(
                    "{} {path} -> {status} in {took:.1} ms",
                    if route == "/api/cart" { "POST" } else { "GET" }
                ),
                vec![
                    kv_int("http.response.status_code", status),
                    kv_str("http.route", route),
                    kv_string("client.address", shop::client_ip(rng)),
                ],
            )
        }
        (2, _) => {
            let items = rng.between(1, 9);
            (
                format!(
                    "user {} added {items} item(s) of {} to cart",
                    shop::user_id(rng),
                    shop::product_id(rng)
                ),
                vec![kv_int("cart.items", items as i64)],
            )
        }
        (4, _) => {
            let left = rng.below(400);
            (
                format!(
                    "reserved {} unit(s) of {} in warehouse {}, {left} left",
                    rng.between(1, 4),
                    shop::product_id(rng),
                    rng.pick(&["fra-1", "ams-2", "dub-1"])
                ),
                vec![kv_int("stock.remaining", left as i64)],
            )
        }
        _ => (
            format!(
                "shipment {} booked with {} for order {}",
                shop::uuid(rng),
                rng.pick(&["dhl", "ups", "fedex", "postnl"]),
                shop::order_id(rng)
            ),
            Vec::new(),
        ),
    }
}

/// A JSON body as structured loggers (zap, pino) write it, with its event's fields.
fn json_message(rng: &mut Rng, service: usize) -> (String, Vec<KeyValue>) {
    let order = shop::order_id(rng);
    let body = if service == 1 {
        format!(
            r#"{{"level":"info","msg":"order placed","order_id":"{order}","user_id":"{}","items":{},"total":{:.2},"currency":"EUR","duration_ms":{:.1}}}"#,
            shop::user_id(rng),
            rng.between(1, 8),
            rng.log_normal(60.0, 0.7),
            rng.log_normal(80.0, 0.5)
        )
    } else {
        format!(
            r#"{{"level":30,"time":{},"msg":"charge authorized","order":"{order}","amount":{{"units":{},"nanos":{}}},"card":{{"brand":"{}","last4":"{:04}"}}}}"#,
            1_700_000_000_000u64 + rng.below(1 << 30),
            rng.between(3, 400),
            rng.below(100) * 10_000_000,
            rng.pick(&["visa", "mastercard", "amex"]),
            rng.below(10_000)
        )
    };
    (body, vec![kv_string("order.id", order)])
}

const POOLS: [&str; 6] = [
    "catalog-db",
    "orders-db",
    "redis-cart",
    "payments-db",
    "stock-db",
    "shipping-db",
];
const SLOW_OPS: [&str; 6] = [
    "render product page",
    "PlaceOrder",
    "GetCart",
    "card authorization",
    "Reserve",
    "carrier quote",
];
const ERROR_TYPES: [&str; 6] = [
    "java.net.SocketTimeoutException",
    "context.DeadlineExceeded",
    "StackExchange.Redis.RedisConnectionException",
    "PaymentDeclinedError",
    "psycopg.errors.SerializationFailure",
    "shipping::Error",
];
const ERROR_REASONS: [&str; 5] = [
    "upstream connect error or disconnect/reset before headers",
    "context deadline exceeded",
    "connection refused",
    "card declined: insufficient funds",
    "could not serialize access due to concurrent update",
];
