//! Trace queries at scale: fills a temporary store with realistic traces, then measures what a
//! user of the trace UI or the Jaeger API waits for: a trace by id, and the first page of a
//! search. Prints a Markdown table for BENCHMARKS.md and the command that reproduces it.
//!
//! ```text
//! OTELITE_BENCH_SPANS=10000000 cargo bench -p otelite-storage --bench trace_queries
//! ```
//!
//! Knobs (environment variables):
//! - `OTELITE_BENCH_SPANS` spans to ingest (default 10,000,000);
//! - `OTELITE_BENCH_THREADS` writer threads (default 4), each writing batches of ~1,000 spans;
//! - `OTELITE_BENCH_HOURS` how far back the traces start (default 3, ending now);
//! - `OTELITE_BENCH_LOOKUPS` trace-by-id lookups of known ids (default 1,000; 100 unknown ids
//!   are looked up as well, a tenth of this);
//! - `OTELITE_BENCH_SEARCHES` searches of each kind (default 100);
//! - `OTELITE_BENCH_MAX_SECONDS` time budget per measured row (default 60): a slow
//!   implementation stops early and the table says how many samples it took;
//! - `OTELITE_BENCH_SEED` seed of the generated traces (default 1).
//!
//! The traces are 5–30 spans over six services with three instances each: HTTP server spans at
//! the root, gRPC and HTTP calls, SQL and Redis client spans with literal ids, user agents,
//! client addresses and ephemeral ports, log-normal durations with children nested inside their
//! parents at nanosecond precision, random 16-byte trace and 8-byte span ids, and ~1 % of traces
//! failing with an `exception` event and error status up to the root. The storage crate cannot
//! use the server's workload generator (storage depends on nothing in the workspace), so this
//! is its own, compact one; each batch is generated from its own seed, so the data is the same
//! for a given seed whatever the threads' interleaving.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use otelite_storage::{Batch, Store, StoreOptions, TimeRange, TraceId, TraceQuery};

const MS: f64 = 1_000_000.0;
const SPANS_PER_BATCH: usize = 1_000;
const INSTANCES: usize = 3;
const PAGE: usize = 20;
const USERS: u64 = 20_000;

fn main() {
    let config = Config::from_env();
    eprintln!(
        "trace_queries: {} spans, {} threads, {} h",
        config.spans, config.threads, config.hours
    );
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let shop = Shop::new(config.seed);

    // The compactor runs as in the server (in runs of 32 MiB while ingest goes on), but starts
    // on the last partial run after 1 s instead of 30 s of quiet.
    let options = StoreOptions::default().with_compaction_idle(Some(Duration::from_secs(1)));
    let store = Store::open(dir.path(), options.clone()).expect("the store opens");
    let ingest = ingest(&store, &shop, &config);
    let compacting = Instant::now();
    while store.compaction_backlog() > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let compaction_tail = compacting.elapsed();
    eprintln!(
        "trace_queries: compaction caught up {:.1} s after ingest",
        compaction_tail.as_secs_f64()
    );
    store.shutdown().expect("the store shuts down cleanly");
    let disk_bytes = tree_bytes(dir.path()).expect("the data directory can be listed");
    drop(store);
    let opened = Instant::now();
    let store = Store::open(dir.path(), options).expect("the store reopens");
    let open_time = opened.elapsed();
    eprintln!(
        "trace_queries: ingested in {:.1} s, {:.1} B/span; reopened in {:.0} ms",
        ingest.elapsed.as_secs_f64(),
        disk_bytes as f64 / ingest.spans as f64,
        open_time.as_secs_f64() * 1e3
    );

    let mut rows = vec![
        Row::text(
            "spans / traces stored",
            format!(
                "{} / {} ({} with an error)",
                thousands(ingest.spans),
                thousands(ingest.traces.len() as u64),
                thousands(ingest.error_traces)
            ),
        ),
        Row::text(
            "ingest",
            format!(
                "{} spans/s ({:.1} s, {} threads writing ~{}-span batches; generating them took {:.2} s of those threads' time)",
                thousands((ingest.spans as f64 / ingest.elapsed.as_secs_f64()) as u64),
                ingest.elapsed.as_secs_f64(),
                config.threads,
                SPANS_PER_BATCH,
                ingest.generating.as_secs_f64()
            ),
        ),
        Row::text(
            "disk",
            format!(
                "{:.1} B/span ({:.1} MB in the data directory after shutdown)",
                disk_bytes as f64 / ingest.spans as f64,
                disk_bytes as f64 / 1e6
            ),
        ),
        Row::text(
            "compaction",
            format!(
                "caught up {:.1} s after the last write (1 s of it the idle delay)",
                compaction_tail.as_secs_f64()
            ),
        ),
        Row::text("reopen", format!("{:.0} ms", open_time.as_secs_f64() * 1e3)),
    ];
    rows.extend(lookups(&store, &ingest, &config));
    rows.extend(searches(&store, &ingest, &config));
    rows.extend(catalogue(&store, &ingest, &config));
    store.shutdown().expect("the store shuts down cleanly");
    print_report(&config, &rows);
}

// ---- configuration -------------------------------------------------------------------------

struct Config {
    spans: usize,
    threads: usize,
    hours: u64,
    lookups: usize,
    searches: usize,
    max_seconds: f64,
    seed: u64,
}

impl Config {
    fn from_env() -> Config {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(text) => text
                    .replace(['_', ','], "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
                Err(_) => default,
            }
        }
        Config {
            spans: var("OTELITE_BENCH_SPANS", 10_000_000usize).max(SPANS_PER_BATCH),
            threads: var("OTELITE_BENCH_THREADS", 4usize).max(1),
            hours: var("OTELITE_BENCH_HOURS", 3u64).max(1),
            lookups: var("OTELITE_BENCH_LOOKUPS", 1_000usize).max(10),
            searches: var("OTELITE_BENCH_SEARCHES", 100usize).max(1),
            max_seconds: var("OTELITE_BENCH_MAX_SECONDS", 60.0f64),
            seed: var("OTELITE_BENCH_SEED", 1u64),
        }
    }

    /// The command that reproduces this run (only the knobs that differ from the defaults).
    fn command(&self) -> String {
        let mut vars = vec![format!("OTELITE_BENCH_SPANS={}", self.spans)];
        for (name, value, default) in [
            ("OTELITE_BENCH_THREADS", self.threads.to_string(), "4"),
            ("OTELITE_BENCH_HOURS", self.hours.to_string(), "3"),
            ("OTELITE_BENCH_LOOKUPS", self.lookups.to_string(), "1000"),
            ("OTELITE_BENCH_SEARCHES", self.searches.to_string(), "100"),
            (
                "OTELITE_BENCH_MAX_SECONDS",
                self.max_seconds.to_string(),
                "60",
            ),
            ("OTELITE_BENCH_SEED", self.seed.to_string(), "1"),
        ] {
            if value != default {
                vars.push(format!("{name}={value}"));
            }
        }
        format!(
            "{} cargo bench -p otelite-storage --bench trace_queries",
            vars.join(" ")
        )
    }
}

// ---- ingest --------------------------------------------------------------------------------

struct Ingested {
    spans: u64,
    /// Every trace written, with its number of spans.
    traces: Vec<(TraceId, u32)>,
    error_traces: u64,
    /// Users seen at the root of some trace.
    users: Vec<u64>,
    range: TimeRange,
    elapsed: Duration,
    /// Thread time spent generating batches rather than writing them.
    generating: Duration,
}

/// Writes `config.spans` spans from `config.threads` threads. Batch `b` holds the traces that
/// start in the `b`-th slice of the time window, so the store sees time move forward as it
/// would from live services, with the threads' batches interleaved.
fn ingest(store: &Store, shop: &Shop, config: &Config) -> Ingested {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64;
    let window = config.hours * 3_600_000_000_000;
    let start = now - window;
    let batches = config.spans.div_ceil(SPANS_PER_BATCH);
    let slice = window / batches as u64;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..config.threads {
            scope.spawn(|| {
                let mut mine = Batches::default();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        break;
                    }
                    let generated = Instant::now();
                    let mut rng = Rng::new(config.seed ^ (b as u64).wrapping_mul(0x2545_f491));
                    let batch = shop.batch(&mut rng, start + b as u64 * slice, slice, &mut mine);
                    mine.generating += generated.elapsed();
                    store
                        .write(Batch::Traces(batch))
                        .expect("the store takes every batch");
                }
                results.lock().unwrap().push(mine);
            });
        }
    });
    let elapsed = began.elapsed();
    let mut all = Batches::default();
    for part in results.into_inner().unwrap() {
        all.spans += part.spans;
        all.traces.extend(part.traces);
        all.error_traces += part.error_traces;
        all.users.extend(part.users);
        all.generating += part.generating;
    }
    all.users.sort_unstable();
    all.users.dedup();
    Ingested {
        spans: all.spans,
        traces: all.traces,
        error_traces: all.error_traces,
        users: all.users,
        range: TimeRange::new(start, now + 3_600_000_000_000),
        elapsed,
        generating: all.generating,
    }
}

/// What one writer thread generated.
#[derive(Default)]
struct Batches {
    spans: u64,
    traces: Vec<(TraceId, u32)>,
    error_traces: u64,
    users: Vec<u64>,
    generating: Duration,
}

fn tree_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        if metadata.is_dir() {
            total += tree_bytes(&entry.path())?;
        } else {
            total += metadata.len();
        }
    }
    Ok(total)
}

// ---- measurements --------------------------------------------------------------------------

/// One line of the report: a measure and its value, or latencies over `samples` runs.
struct Row {
    name: String,
    value: String,
}

impl Row {
    fn text(name: &str, value: String) -> Row {
        Row {
            name: name.into(),
            value,
        }
    }

    fn latencies(name: &str, mut times: Vec<Duration>, wanted: usize, note: String) -> Row {
        times.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let at = |q: usize| ms(times[(times.len() * q / 100).min(times.len() - 1)]);
        let cut = if times.len() < wanted {
            format!(
                ", stopped after {} of {wanted} by the time budget",
                times.len()
            )
        } else {
            String::new()
        };
        Row {
            name: name.into(),
            value: format!(
                "p50 {} ms, p99 {} ms, max {} ms ({} runs{cut}{note})",
                short(at(50)),
                short(at(99)),
                short(ms(*times.last().expect("at least one run"))),
                times.len()
            ),
        }
    }
}

/// Runs `query` up to `count` times within the time budget; returns the times taken.
fn timed(config: &Config, count: usize, mut query: impl FnMut(usize)) -> Vec<Duration> {
    let budget = Instant::now();
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let began = Instant::now();
        query(i);
        times.push(began.elapsed());
        if budget.elapsed().as_secs_f64() > config.max_seconds {
            break;
        }
    }
    times
}

fn lookups(store: &Store, ingest: &Ingested, config: &Config) -> Vec<Row> {
    let mut rng = Rng::new(config.seed ^ 0x0100_c0b5);
    let known: Vec<(TraceId, u32)> = (0..config.lookups)
        .map(|_| ingest.traces[rng.below(ingest.traces.len() as u64) as usize])
        .collect();
    let mut wrong = 0;
    let times = timed(config, known.len(), |i| {
        let (id, expected) = &known[i];
        let spans: usize = store
            .trace(id)
            .expect("trace by id answers")
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        if spans != *expected as usize {
            wrong += 1;
        }
    });
    let note = if wrong > 0 {
        format!("; {wrong} WRONG span counts")
    } else {
        String::new()
    };
    let mut rows = vec![Row::latencies(
        "trace by id, known id",
        times,
        known.len(),
        note,
    )];
    let unknown: Vec<TraceId> = (0..config.lookups / 10)
        .map(|_| rng.trace_id().try_into().expect("16 bytes"))
        .collect();
    let mut found = 0;
    let times = timed(config, unknown.len(), |i| {
        if !store
            .trace(&unknown[i])
            .expect("trace by id answers")
            .is_empty()
        {
            found += 1;
        }
    });
    let note = if found > 0 {
        format!("; {found} WRONGLY found")
    } else {
        String::new()
    };
    rows.push(Row::latencies(
        "trace by id, unknown id",
        times,
        unknown.len(),
        note,
    ));
    rows
}

/// What a trace UI asks for when its search form opens: the services, and a service's
/// operations.
fn catalogue(store: &Store, ingest: &Ingested, config: &Config) -> Vec<Row> {
    let mut services = 0;
    let times = timed(config, config.searches, |_| {
        services = store
            .trace_services(ingest.range)
            .expect("services answer")
            .len();
    });
    let mut rows = vec![Row::latencies(
        "services",
        times,
        config.searches,
        format!(", {services} services"),
    )];
    let mut rng = Rng::new(config.seed ^ 0x0935);
    let mut operations = 0;
    let times = timed(config, config.searches, |_| {
        let service = rng.pick(&SERVICES).name;
        operations += store
            .trace_operations(ingest.range, Some(service))
            .expect("operations answer")
            .len();
    });
    let runs = times.len().max(1);
    rows.push(Row::latencies(
        "operations of one service",
        times,
        config.searches,
        format!(", {:.1} operations", operations as f64 / runs as f64),
    ));
    rows
}

fn searches(store: &Store, ingest: &Ingested, config: &Config) -> Vec<Row> {
    let mut rng = Rng::new(config.seed ^ 0x5ea4c4);
    let base = TraceQuery::new(ingest.range, PAGE);
    type MakeQuery<'a> = Box<dyn Fn(&mut Rng) -> TraceQuery + 'a>;
    let kinds: Vec<(&str, MakeQuery)> = vec![
        (
            "search: service",
            Box::new(|rng: &mut Rng| TraceQuery {
                service: Some(rng.pick(&SERVICES).name.to_string()),
                ..base.clone()
            }),
        ),
        (
            "search: service + operation",
            Box::new(|rng: &mut Rng| {
                let service = rng.pick(&SERVICES);
                TraceQuery {
                    service: Some(service.name.to_string()),
                    operation: Some(rng.pick(service.operations).name.to_string()),
                    ..base.clone()
                }
            }),
        ),
        (
            "search: attribute `http.response.status_code=404`",
            Box::new(|_: &mut Rng| TraceQuery {
                attributes: vec![("http.response.status_code".into(), "404".into())],
                ..base.clone()
            }),
        ),
        (
            "search: attribute of one user `enduser.id=u…`",
            Box::new(|rng: &mut Rng| TraceQuery {
                attributes: vec![("enduser.id".into(), user_name(*rng.pick(&ingest.users)))],
                ..base.clone()
            }),
        ),
        (
            "search: errors only",
            Box::new(|_: &mut Rng| TraceQuery {
                errors_only: true,
                ..base.clone()
            }),
        ),
        (
            "search: min duration 100 ms",
            Box::new(|_: &mut Rng| TraceQuery {
                min_duration_ns: Some(100 * 1_000_000),
                ..base.clone()
            }),
        ),
        (
            "search: rare value, matches nothing (`enduser.id=u0`)",
            Box::new(|_: &mut Rng| TraceQuery {
                attributes: vec![("enduser.id".into(), "u0".into())],
                ..base.clone()
            }),
        ),
    ];
    let mut rows = Vec::new();
    for (name, make) in kinds {
        let mut hits = 0;
        let mut over_page = 0;
        let times = timed(config, config.searches, |_| {
            let query = make(&mut rng);
            let found = store.find_traces(&query).expect("search answers");
            hits += found.len();
            if found.len() > PAGE {
                over_page += 1;
            }
        });
        let runs = times.len().max(1);
        let mut note = format!(", {:.1} traces per page", hits as f64 / runs as f64);
        if over_page > 0 {
            note.push_str(&format!("; {over_page} pages LONGER than {PAGE}"));
        }
        rows.push(Row::latencies(name, times, config.searches, note));
    }
    rows
}

fn print_report(config: &Config, rows: &[Row]) {
    println!();
    println!(
        "Trace queries, first page of {PAGE} over the whole time range, store reopened after ingest (page cache warm):"
    );
    println!();
    println!("| measure | result |");
    println!("|---|---|");
    for row in rows {
        println!("| {} | {} |", row.name, row.value);
    }
    println!();
    println!("`{}`", config.command());
}

fn short(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        thousands(ms.round() as u64)
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- the generated shop --------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    HttpServer,
    HttpClient,
    RpcServer,
    Db,
}

struct Op {
    name: &'static str,
    kind: Kind,
}

struct Service {
    name: &'static str,
    /// What the service's spans are: its server operations first.
    operations: &'static [Op],
    /// Services it calls.
    calls: &'static [usize],
}

const fn op(name: &'static str, kind: Kind) -> Op {
    Op { name, kind }
}

static SERVICES: [Service; 6] = [
    Service {
        name: "frontend",
        operations: &[
            op("GET /", Kind::HttpServer),
            op("GET /api/products/{id}", Kind::HttpServer),
            op("GET /api/products", Kind::HttpServer),
            op("POST /api/cart", Kind::HttpServer),
            op("POST /api/checkout", Kind::HttpServer),
            op("GET /api/orders/{id}", Kind::HttpServer),
            op("SELECT shop.products", Kind::Db),
            op("GET", Kind::Db),
        ],
        calls: &[1, 2, 4],
    },
    Service {
        name: "checkout",
        operations: &[
            op("oteldemo.CheckoutService/PlaceOrder", Kind::RpcServer),
            op("INSERT shop.orders", Kind::Db),
            op("POST", Kind::HttpClient),
        ],
        calls: &[2, 3, 4, 5],
    },
    Service {
        name: "cart",
        operations: &[
            op("oteldemo.CartService/GetCart", Kind::RpcServer),
            op("oteldemo.CartService/AddItem", Kind::RpcServer),
            op("oteldemo.CartService/EmptyCart", Kind::RpcServer),
            op("HGETALL", Kind::Db),
            op("HSET", Kind::Db),
        ],
        calls: &[],
    },
    Service {
        name: "payment",
        operations: &[
            op("oteldemo.PaymentService/Charge", Kind::RpcServer),
            op("INSERT shop.payments", Kind::Db),
            op("POST", Kind::HttpClient),
        ],
        calls: &[],
    },
    Service {
        name: "inventory",
        operations: &[
            op("oteldemo.InventoryService/GetStock", Kind::RpcServer),
            op("oteldemo.InventoryService/Reserve", Kind::RpcServer),
            op("SELECT shop.stock", Kind::Db),
            op("UPDATE shop.stock", Kind::Db),
        ],
        calls: &[],
    },
    Service {
        name: "shipping",
        operations: &[
            op("POST /api/shipments", Kind::HttpServer),
            op("INSERT shop.shipments", Kind::Db),
        ],
        calls: &[],
    },
];

const USER_AGENTS: [&str; 12] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "curl/8.8.0",
];

/// The services' instances as OTLP resources.
struct Shop {
    resources: Vec<Resource>,
}

impl Shop {
    fn new(seed: u64) -> Shop {
        let mut rng = Rng::new(seed ^ 0x5409);
        let resources = (0..SERVICES.len() * INSTANCES)
            .map(|i| {
                let service = &SERVICES[i / INSTANCES];
                let pod = format!("{}-{}-{}", service.name, rng.hex(10), rng.hex(5));
                Resource {
                    attributes: vec![
                        kv_str("service.name", service.name),
                        kv_str("service.namespace", "shop"),
                        kv_str("service.version", "1.4.2"),
                        kv("service.instance.id", text(rng.hex(32))),
                        kv_str("deployment.environment.name", "staging"),
                        kv_str("telemetry.sdk.name", "opentelemetry"),
                        kv_str("telemetry.sdk.language", "java"),
                        kv_str("telemetry.sdk.version", "1.44.1"),
                        kv("host.name", text(pod.clone())),
                        kv("k8s.pod.name", text(pod)),
                        kv_str("k8s.namespace.name", "shop-staging"),
                        kv("process.pid", int(rng.between(1, 4_000_000) as i64)),
                    ],
                    ..Default::default()
                }
            })
            .collect();
        Shop { resources }
    }

    /// Traces starting in `[start, start + slice)` until they hold at least
    /// [`SPANS_PER_BATCH`] spans, grouped by instance.
    fn batch(
        &self,
        rng: &mut Rng,
        start: u64,
        slice: u64,
        out: &mut Batches,
    ) -> Vec<ResourceSpans> {
        let mut traces = Vec::new();
        let mut count = 0;
        while count < SPANS_PER_BATCH {
            let (trace, user) = generate_trace(rng);
            count += trace.len();
            traces.push((trace, user));
        }
        let gap = slice / traces.len() as u64;
        let mut groups: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
        for (i, (trace, user)) in traces.into_iter().enumerate() {
            let shift = start + i as u64 * gap + rng.below(gap.max(1));
            let id: TraceId = trace[0].1.trace_id.as_slice().try_into().expect("16 bytes");
            out.traces.push((id, trace.len() as u32));
            if trace.iter().any(|(_, span)| is_error(span)) {
                out.error_traces += 1;
            }
            out.users.push(user);
            for (instance, mut span) in trace {
                span.start_time_unix_nano += shift;
                span.end_time_unix_nano += shift;
                groups.entry(instance).or_default().push(span);
            }
        }
        out.spans += count as u64;
        groups
            .into_iter()
            .map(|(instance, spans)| ResourceSpans {
                resource: Some(self.resources[instance].clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "io.opentelemetry.instrumentation".into(),
                        version: "2.10.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect()
    }
}

/// One trace of 5–30 spans timed from 0, each with the instance that produced it. The root is
/// a frontend HTTP server span; every other span nests inside a parent, in the parent's service
/// (a database or HTTP client call) or in a service the parent's service calls. Also returns
/// the user at the root.
fn generate_trace(rng: &mut Rng) -> (Vec<(usize, Span)>, u64) {
    let size = rng.between(5, 30) as usize;
    let user = rng.below(USERS);
    let trace_id = rng.trace_id();
    let failing = rng
        .chance(0.01)
        .then(|| rng.between(1, size as u64 - 1) as usize);
    let mut spans: Vec<(usize, Span)> = Vec::with_capacity(size);
    let root_duration = rng.log_normal(20.0 * MS, 0.8);
    let root_op = rng.below(6) as usize;
    let mut services = Vec::with_capacity(size);
    for i in 0..size {
        let (service, parent, op, start, end) = if i == 0 {
            (0, None, root_op, 0.0, root_duration)
        } else {
            // Recent spans are likelier parents: the tree gets depth as well as breadth.
            let parent = if rng.chance(0.5) {
                i - 1
            } else {
                rng.below(i as u64) as usize
            };
            let parent_service: usize = services[parent];
            let callees = SERVICES[parent_service].calls;
            let (service, op) = if !callees.is_empty() && rng.chance(0.6) {
                let callee = *rng.pick(callees);
                (callee, server_op(rng, callee))
            } else {
                (parent_service, client_op(rng, parent_service))
            };
            let (p_start, p_end) = {
                let p = &spans[parent].1;
                (p.start_time_unix_nano as f64, p.end_time_unix_nano as f64)
            };
            let length = p_end - p_start;
            let start = p_start + length * rng.unit() * 0.6;
            let end = start + (p_end - start) * (0.05 + 0.9 * rng.unit());
            (service, Some(parent), op, start, end)
        };
        services.push(service);
        let op = &SERVICES[service].operations[op];
        let failed = failing == Some(i);
        let instance = service * INSTANCES + rng.below(INSTANCES as u64) as usize;
        let parent_span_id = parent.map_or(Vec::new(), |p| spans[p].1.span_id.clone());
        let start = start as u64 + rng.below(1_000);
        let end = (end as u64).max(start + 1_000) + rng.below(1_000);
        let mut span = Span {
            trace_id: trace_id.clone(),
            span_id: rng.span_id(),
            parent_span_id,
            flags: 0x301,
            name: op.name.into(),
            kind: match op.kind {
                Kind::HttpServer | Kind::RpcServer => 2,
                _ => 3,
            },
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: attributes(rng, service, op, (i == 0).then_some(user)),
            ..Default::default()
        };
        if failed {
            span.events.push(exception(rng, end - 50_000));
            span.status = Some(Status {
                message: "Read timed out".into(),
                code: StatusCode::Error as i32,
            });
        }
        spans.push((instance, span));
    }
    // A failure shows in every span up to the root.
    if let Some(failed) = failing {
        let mut at = failed;
        while let Some(parent) = parent_of(&spans, at) {
            let span = &mut spans[parent].1;
            span.status.get_or_insert(Status {
                message: String::new(),
                code: StatusCode::Error as i32,
            });
            for kv in &mut span.attributes {
                if kv.key == "http.response.status_code" {
                    kv.value = Some(AnyValue {
                        value: Some(int(500)),
                    });
                }
            }
            at = parent;
        }
    }
    (spans, user)
}

fn parent_of(spans: &[(usize, Span)], at: usize) -> Option<usize> {
    let parent = &spans[at].1.parent_span_id;
    spans[..at].iter().position(|(_, s)| &s.span_id == parent)
}

fn server_op(rng: &mut Rng, service: usize) -> usize {
    let servers = SERVICES[service]
        .operations
        .iter()
        .take_while(|op| matches!(op.kind, Kind::HttpServer | Kind::RpcServer))
        .count();
    rng.below(servers as u64) as usize
}

fn client_op(rng: &mut Rng, service: usize) -> usize {
    let ops = SERVICES[service].operations;
    let servers = ops
        .iter()
        .take_while(|op| matches!(op.kind, Kind::HttpServer | Kind::RpcServer))
        .count();
    servers + rng.below((ops.len() - servers) as u64) as usize
}

/// The attributes instrumentation records for `op`; `user` is the signed-in user, at the root.
fn attributes(rng: &mut Rng, service: usize, op: &Op, user: Option<u64>) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(10);
    match op.kind {
        Kind::HttpServer => {
            let (method, route) = op.name.split_once(' ').expect("METHOD /route");
            let id = product_id(rng);
            let status = if route.contains("{id}") && rng.chance(0.05) {
                404
            } else if method == "POST" {
                201
            } else {
                200
            };
            out.push(kv_str("http.request.method", method));
            out.push(kv_str("http.route", route));
            out.push(kv("url.path", text(route.replace("{id}", &id))));
            out.push(kv("http.response.status_code", int(status)));
            out.push(kv_str("server.address", SERVICES[service].name));
            out.push(kv("client.address", text(client_ip(rng))));
            out.push(kv(
                "network.peer.port",
                int(rng.between(32_768, 60_999) as i64),
            ));
            if let Some(user) = user {
                out.push(kv_str(
                    "user_agent.original",
                    rng.pick::<&str>(&USER_AGENTS),
                ));
                out.push(kv("enduser.id", text(user_name(user))));
            }
        }
        Kind::HttpClient => {
            out.push(kv_str("http.request.method", op.name));
            out.push(kv(
                "url.full",
                text(format!(
                    "https://api.partner.example/v2/orders/{}",
                    rng.hex(16)
                )),
            ));
            out.push(kv("http.response.status_code", int(200)));
            out.push(kv("network.peer.port", int(443)));
        }
        Kind::RpcServer => {
            let (service_name, method) = op.name.split_once('/').expect("Service/Method");
            out.push(kv_str("rpc.system", "grpc"));
            out.push(kv_str("rpc.service", service_name));
            out.push(kv_str("rpc.method", method));
            out.push(kv("rpc.grpc.status_code", int(0)));
            out.push(kv(
                "network.peer.address",
                text(format!("10.42.{}.{}", rng.below(4), rng.between(2, 250))),
            ));
            out.push(kv(
                "network.peer.port",
                int(rng.between(32_768, 60_999) as i64),
            ));
        }
        Kind::Db => {
            let redis = op.name.chars().all(|c| c.is_ascii_uppercase());
            if redis {
                out.push(kv_str("db.system.name", "redis"));
                out.push(kv(
                    "db.query.text",
                    text(format!("{} cart:{}", op.name, rng.hex(32))),
                ));
                out.push(kv("server.port", int(6379)));
            } else {
                out.push(kv_str("db.system.name", "postgresql"));
                out.push(kv_str("db.namespace", "shop"));
                out.push(kv(
                    "db.query.text",
                    text(format!(
                        "{} … WHERE id = '{}'",
                        op.name.split(' ').next().unwrap_or("SELECT"),
                        product_id(rng)
                    )),
                ));
                out.push(kv("server.port", int(5432)));
            }
        }
    }
    out
}

fn exception(rng: &mut Rng, time: u64) -> Event {
    let line = rng.between(20, 900);
    Event {
        time_unix_nano: time,
        name: "exception".into(),
        attributes: vec![
            kv_str("exception.type", "java.net.SocketTimeoutException"),
            kv(
                "exception.message",
                text(format!(
                    "Read timed out after {} ms",
                    rng.between(1_000, 30_000)
                )),
            ),
            kv(
                "exception.stacktrace",
                text(format!(
                    "java.net.SocketTimeoutException: Read timed out\n    at java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:{line})\n    at shop.CatalogClient.fetch(CatalogClient.java:{})",
                    line + 31
                )),
            ),
        ],
        dropped_attributes_count: 0,
    }
}

fn is_error(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
}

fn product_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // A catalogue of 5,000 products: derive each id from its number.
    let mut n = rng.below(5_000).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect()
}

fn client_ip(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.between(1, 223),
        rng.below(256),
        rng.below(256),
        rng.between(1, 254)
    )
}

fn user_name(user: u64) -> String {
    format!("u{}", user + 100_000)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, text(value))
}

fn text(s: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

fn int(i: i64) -> any_value::Value {
    any_value::Value::IntValue(i)
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        median * (sigma * z).exp()
    }

    fn trace_id(&mut self) -> Vec<u8> {
        [(self.next() | 1).to_be_bytes(), self.next().to_be_bytes()].concat()
    }

    fn span_id(&mut self) -> Vec<u8> {
        (self.next() | 1).to_be_bytes().to_vec()
    }

    fn hex(&mut self, len: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        (0..len)
            .map(|_| DIGITS[self.below(16) as usize] as char)
            .collect()
    }
}
