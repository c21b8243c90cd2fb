//! The simulated shop: its services, their instances (OTLP resources), the operations they
//! serve and what each operation calls downstream. Plain static data plus a few attribute
//! helpers shared by the three generators.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::Rng;

pub(super) struct Service {
    pub name: &'static str,
    pub version: &'static str,
    pub language: &'static str,
    pub sdk_version: &'static str,
}

pub(super) const SERVICES: [Service; 6] = [
    Service {
        name: "frontend",
        version: "2.4.1",
        language: "java",
        sdk_version: "1.44.1",
    },
    Service {
        name: "checkout",
        version: "1.9.0",
        language: "go",
        sdk_version: "1.32.0",
    },
    Service {
        name: "cart",
        version: "3.0.2",
        language: "dotnet",
        sdk_version: "1.10.0",
    },
    Service {
        name: "payment",
        version: "0.17.3",
        language: "nodejs",
        sdk_version: "1.29.0",
    },
    Service {
        name: "inventory",
        version: "5.2.0",
        language: "python",
        sdk_version: "1.28.2",
    },
    Service {
        name: "shipping",
        version: "1.1.7",
        language: "rust",
        sdk_version: "0.27.1",
    },
];

/// The instrumentation libraries every service uses, by what they instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    Http,
    Grpc,
    Db,
    Messaging,
}

impl Scope {
    pub fn instrumentation(self) -> InstrumentationScope {
        let (name, version) = match self {
            Scope::Http => ("io.opentelemetry.http", "2.10.0"),
            Scope::Grpc => ("io.opentelemetry.grpc-1.6", "2.10.0"),
            Scope::Db => ("io.opentelemetry.db", "2.10.0"),
            Scope::Messaging => ("io.opentelemetry.kafka-clients-2.6", "2.10.0"),
        };
        InstrumentationScope {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        }
    }
}

/// One running copy of a service: one OTLP resource.
#[derive(Debug, Clone)]
pub(super) struct Instance {
    pub service: usize,
    pub resource: Resource,
    /// Unix ns the process started: the start time of its cumulative metrics.
    pub started_offset_ns: u64,
}

pub(super) fn instances(rng: &mut Rng, per_service: usize) -> Vec<Instance> {
    let mut out = Vec::new();
    for (index, service) in SERVICES.iter().enumerate() {
        for _ in 0..per_service {
            let pod = format!("{}-{}-{}", service.name, rng.hex(10), rng.hex(5));
            let node = format!(
                "ip-10-0-{}-{}.ec2.internal",
                rng.below(8),
                rng.below(250) + 2
            );
            let attributes = vec![
                kv_str("service.name", service.name),
                kv_str("service.namespace", "shop"),
                kv_str("service.version", service.version),
                kv_string("service.instance.id", uuid(rng)),
                kv_str("deployment.environment.name", "staging"),
                kv_str("telemetry.sdk.name", "opentelemetry"),
                kv_str("telemetry.sdk.language", service.language),
                kv_str("telemetry.sdk.version", service.sdk_version),
                kv_str("host.arch", "amd64"),
                kv_string("host.name", pod.clone()),
                kv_str("os.type", "linux"),
                kv_int("process.pid", rng.between(1, 4_000_000) as i64),
                kv_str("k8s.namespace.name", "shop-staging"),
                kv_string("k8s.pod.name", pod),
                kv_string("k8s.node.name", node),
                kv_string("container.id", rng.hex(64)),
            ];
            out.push(Instance {
                service: index,
                resource: Resource {
                    attributes,
                    ..Default::default()
                },
                started_offset_ns: rng.below(6 * 3_600) * 1_000_000_000,
            });
        }
    }
    out
}

/// How an operation is reached.
pub(super) enum Protocol {
    Http {
        method: &'static str,
        /// The route, e.g. `/api/products/{id}`; `{id}` becomes a concrete id in `url.path`.
        route: &'static str,
        port: i64,
    },
    Grpc {
        service: &'static str,
        method: &'static str,
    },
}

/// A database call.
pub(super) struct DbCall {
    pub system: &'static str,
    pub namespace: &'static str,
    pub operation: &'static str,
    pub collection: &'static str,
    /// The statement as the instrumentation records it. Placeholders in braces become the
    /// request's values (`{product}`, `{order}`, `{session}`, `{n}`, `{warehouse}`),
    /// as they do where the client library inlines literals or the instrumentation does not
    /// sanitize them (Redis keys always show); `$1` and `?` stay as written.
    pub query: &'static str,
    pub port: i64,
    pub median_ms: f64,
}

/// A Kafka topic and the service that consumes it.
pub(super) struct Topic {
    pub name: &'static str,
    pub partitions: u64,
    pub consumer: usize,
    /// The consumer's own work on one message.
    pub process_median_ms: f64,
}

/// What an operation does while it runs: calls, each repeated `min..=max` times, and messages
/// it publishes (consumed later, in the trace, by the topic's consumer).
pub(super) enum Step {
    Call(usize, u64, u64),
    Db(&'static DbCall, u64, u64),
    Publish(&'static Topic),
}

/// An operation a service serves.
pub(super) struct Operation {
    pub service: usize,
    pub protocol: Protocol,
    /// Its own work, without downstream calls.
    pub median_ms: f64,
    pub steps: &'static [Step],
}

const fn http(method: &'static str, route: &'static str, port: i64) -> Protocol {
    Protocol::Http {
        method,
        route,
        port,
    }
}

const fn grpc(service: &'static str, method: &'static str) -> Protocol {
    Protocol::Grpc { service, method }
}

const fn postgres(
    operation: &'static str,
    collection: &'static str,
    query: &'static str,
) -> DbCall {
    DbCall {
        system: "postgresql",
        namespace: "shop",
        operation,
        collection,
        query,
        port: 5432,
        median_ms: 1.8,
    }
}

const fn redis(operation: &'static str, query: &'static str) -> DbCall {
    DbCall {
        system: "redis",
        namespace: "0",
        operation,
        collection: "",
        query,
        port: 6379,
        median_ms: 0.3,
    }
}

// The frontend's Java agent sanitizes its JDBC statements (its default: literals become `?`);
// the inventory's ORM inlines literals, which its instrumentation records as they are; the
// others bind parameters. Redis commands always show their keys.
static SELECT_PRODUCT: DbCall = postgres(
    "SELECT",
    "products",
    "SELECT id, name, description, price_units, currency FROM products WHERE id = ?",
);
static SELECT_PRODUCTS: DbCall = postgres(
    "SELECT",
    "products",
    "SELECT id, name, price_units, currency FROM products WHERE category = ? ORDER BY rank LIMIT ?",
);
static SELECT_ORDER: DbCall = postgres(
    "SELECT",
    "orders",
    "SELECT o.id, o.status, o.total_units, i.product_id, i.quantity FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = ?",
);
static INSERT_ORDER: DbCall = postgres(
    "INSERT",
    "orders",
    "INSERT INTO orders (id, user_id, status, total_units, currency, created_at) VALUES ($1, $2, $3, $4, $5, now())",
);
static INSERT_PAYMENT: DbCall = postgres(
    "INSERT",
    "payments",
    "INSERT INTO payments (id, order_id, amount_units, currency, card_last4) VALUES ($1, $2, $3, $4, $5)",
);
static SELECT_STOCK: DbCall = postgres(
    "SELECT",
    "stock",
    "SELECT available FROM stock WHERE product_id = '{product}' AND warehouse_id = {warehouse}",
);
static UPDATE_STOCK: DbCall = postgres(
    "UPDATE",
    "stock",
    "UPDATE stock SET available = available - {n} WHERE product_id = '{product}' AND warehouse_id = {warehouse}",
);
static INSERT_SHIPMENT: DbCall = postgres(
    "INSERT",
    "shipments",
    "INSERT INTO shipments (id, order_id, carrier, address_hash) VALUES ($1, $2, $3, $4)",
);
static CART_GET: DbCall = redis("HGETALL", "HGETALL cart:{session}");
static CART_SET: DbCall = redis("HSET", "HSET cart:{session} {product} ?");
static CART_EXPIRE: DbCall = redis("EXPIRE", "EXPIRE cart:{session} 3600");
static CART_DEL: DbCall = redis("DEL", "DEL cart:{session}");
static ORDER_CACHE: DbCall = redis("GET", "GET order:{order}");

static ORDERS_TOPIC: Topic = Topic {
    name: "orders",
    partitions: 12,
    consumer: 5,
    process_median_ms: 1.5,
};

pub(super) const GET_CART: usize = 6;
pub(super) const ADD_ITEM: usize = 7;
pub(super) const EMPTY_CART: usize = 8;
pub(super) const CHARGE: usize = 9;
pub(super) const GET_STOCK: usize = 10;
pub(super) const RESERVE: usize = 11;
pub(super) const CREATE_SHIPMENT: usize = 12;
pub(super) const PLACE_ORDER: usize = 13;

/// Every operation; the first [`ENTRY_POINTS`] are the frontend's, where traces start.
pub(super) static OPERATIONS: [Operation; 14] = [
    Operation {
        service: 0,
        protocol: http("GET", "/", 8080),
        median_ms: 4.0,
        steps: &[Step::Call(GET_CART, 1, 1), Step::Db(&SELECT_PRODUCTS, 1, 1)],
    },
    Operation {
        service: 0,
        protocol: http("GET", "/api/products/{id}", 8080),
        median_ms: 2.0,
        steps: &[Step::Db(&SELECT_PRODUCT, 1, 1), Step::Call(GET_STOCK, 1, 1)],
    },
    Operation {
        service: 0,
        protocol: http("GET", "/api/products", 8080),
        median_ms: 3.0,
        steps: &[
            Step::Db(&SELECT_PRODUCTS, 1, 1),
            Step::Call(GET_STOCK, 2, 8),
        ],
    },
    Operation {
        service: 0,
        protocol: http("POST", "/api/cart", 8080),
        median_ms: 1.5,
        steps: &[Step::Call(ADD_ITEM, 1, 1)],
    },
    Operation {
        service: 0,
        protocol: http("POST", "/api/checkout", 8080),
        median_ms: 5.0,
        steps: &[Step::Call(PLACE_ORDER, 1, 1)],
    },
    Operation {
        service: 0,
        protocol: http("GET", "/api/orders/{id}", 8080),
        median_ms: 2.0,
        steps: &[Step::Db(&ORDER_CACHE, 1, 1), Step::Db(&SELECT_ORDER, 1, 1)],
    },
    Operation {
        service: 2,
        protocol: grpc("oteldemo.CartService", "GetCart"),
        median_ms: 0.6,
        steps: &[Step::Db(&CART_GET, 1, 1)],
    },
    Operation {
        service: 2,
        protocol: grpc("oteldemo.CartService", "AddItem"),
        median_ms: 0.8,
        steps: &[Step::Db(&CART_SET, 1, 1), Step::Db(&CART_EXPIRE, 1, 1)],
    },
    Operation {
        service: 2,
        protocol: grpc("oteldemo.CartService", "EmptyCart"),
        median_ms: 0.5,
        steps: &[Step::Db(&CART_DEL, 1, 1)],
    },
    Operation {
        service: 3,
        protocol: grpc("oteldemo.PaymentService", "Charge"),
        median_ms: 35.0,
        steps: &[Step::Db(&INSERT_PAYMENT, 1, 1)],
    },
    Operation {
        service: 4,
        protocol: grpc("oteldemo.InventoryService", "GetStock"),
        median_ms: 0.9,
        steps: &[Step::Db(&SELECT_STOCK, 1, 1)],
    },
    Operation {
        service: 4,
        protocol: grpc("oteldemo.InventoryService", "Reserve"),
        median_ms: 1.2,
        steps: &[Step::Db(&UPDATE_STOCK, 1, 1)],
    },
    Operation {
        service: 5,
        protocol: http("POST", "/api/shipments", 9090),
        median_ms: 3.0,
        steps: &[Step::Db(&INSERT_SHIPMENT, 1, 1)],
    },
    Operation {
        service: 1,
        protocol: grpc("oteldemo.CheckoutService", "PlaceOrder"),
        median_ms: 4.0,
        steps: &[
            Step::Call(GET_CART, 1, 1),
            Step::Call(RESERVE, 1, 4),
            Step::Call(CHARGE, 1, 1),
            Step::Call(CREATE_SHIPMENT, 1, 1),
            Step::Db(&INSERT_ORDER, 1, 1),
            Step::Publish(&ORDERS_TOPIC),
            Step::Call(EMPTY_CART, 1, 1),
        ],
    },
];

/// The frontend routes traces start at, with their share of traffic (percent).
pub(super) const ENTRY_POINTS: [(usize, u64); 6] =
    [(0, 20), (1, 30), (2, 15), (3, 15), (4, 10), (5, 10)];

pub(super) fn pick_entry_point(rng: &mut Rng) -> usize {
    let mut roll = rng.below(100);
    for (operation, share) in ENTRY_POINTS {
        if roll < share {
            return operation;
        }
        roll -= share;
    }
    ENTRY_POINTS[0].0
}

/// A product id as the OTel demo's catalogue has them (`OLJCESPC7Z`), out of 2,000 products:
/// ids repeat the way real traffic repeats them.
pub(super) fn product_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // Each product's id is a fixed scramble of its number.
    let mut n = (rng.below(2_000) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 8;
    let mut id = String::with_capacity(10);
    for _ in 0..10 {
        id.push(ALPHABET[(n % 36) as usize] as char);
        n /= 36;
    }
    id
}

/// An order id, effectively unique.
pub(super) fn order_id(rng: &mut Rng) -> String {
    format!("ord_{}", rng.hex(12))
}

/// One of 20,000 users.
pub(super) fn user_id(rng: &mut Rng) -> String {
    format!("u{}", rng.below(20_000) + 100_000)
}

/// An end user's address as the frontend sees it behind the ingress (`X-Forwarded-For`):
/// anywhere on the internet.
pub(super) fn client_ip(rng: &mut Rng) -> String {
    let n = rng.next_u64();
    format!(
        "{}.{}.{}.{}",
        1 + (n >> 56) % 223,
        (n >> 48) & 0xff,
        (n >> 40) & 0xff,
        1 + ((n >> 32) & 0xff) % 254
    )
}

/// The pod address of instance number `instance` (stable for the instance's lifetime).
pub(super) fn pod_address(instance: usize) -> String {
    let n = (instance as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("10.42.{}.{}", (n >> 56) % 8, 2 + (n >> 48) % 250)
}

/// The caller's (ephemeral) port of one of the `pool` connections that `caller` keeps open to
/// `callee`: gRPC clients multiplex one connection per target, HTTP/1.1 clients keep a few
/// alive, and each lives for hours, so the callee sees the same few ports again and again.
pub(super) fn connection_port(rng: &mut Rng, caller: usize, callee: usize, pool: u64) -> i64 {
    let slot = rng.below(pool);
    let n = (((caller as u64) << 32) | ((callee as u64) << 12) | slot)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    32_768 + ((n >> 40) % 28_232) as i64
}

/// Browsers, apps and bots as a shop's access log shows them.
pub(super) const USER_AGENTS: [&str; 40] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; 23078PND5G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
    "Shop/5.12.0 (iPhone; iOS 17.5.1; Scale/3.00)",
    "Shop/5.11.2 (iPhone; iOS 17.4.1; Scale/3.00)",
    "Shop/5.12.0 (Android 14; Pixel 7)",
    "okhttp/4.12.0",
    "okhttp/4.9.3",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
    "curl/8.8.0",
    "Go-http-client/2.0",
];

/// What each service's HTTP client says it is (the `User-Agent` its callees see).
pub(super) fn client_user_agent(language: &str) -> &'static str {
    match language {
        "java" => "Java-http-client/21.0.3",
        "go" => "Go-http-client/1.1",
        "dotnet" => "dotnet-httpclient/8.0",
        "nodejs" => "node",
        "python" => "python-httpx/0.27.0",
        _ => "reqwest/0.12.5",
    }
}

pub(super) const CURRENCIES: [&str; 6] = ["EUR", "USD", "GBP", "CHF", "JPY", "CAD"];

pub(super) const CATEGORIES: [&str; 12] = [
    "telescopes",
    "binoculars",
    "accessories",
    "eyepieces",
    "mounts",
    "filters",
    "cameras",
    "books",
    "star-charts",
    "solar",
    "cases",
    "sale",
];

/// A version 4 UUID, e.g. `0f8fad5b-d9cb-469f-a165-70867728950e`.
pub(super) fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

pub(super) fn string_value(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

pub(super) fn kv_str(key: &str, value: &str) -> KeyValue {
    kv_string(key, value.to_string())
}

pub(super) fn kv_string(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(string_value(value)),
        ..Default::default()
    }
}

pub(super) fn kv_double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

pub(super) fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(value)),
        }),
        ..Default::default()
    }
}

pub(super) fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}
