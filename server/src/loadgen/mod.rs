//! `otelite loadgen`: drives a running otelite (or any OTLP receiver) with realistic telemetry
//! from [`crate::workload`] and says how fast it was taken, then checks with the server's status
//! API that nothing acknowledged went missing.
//!
//! Before the clock starts it generates a pool of distinct, encoded export requests (by default
//! 64 MiB of protobuf, far more than one storage block, so compression sees no repeats within a
//! block), then N connections send them in turn, each with one request in flight, at a target
//! rate or as fast as the server answers. Busy answers (HTTP 429/503, gRPC UNAVAILABLE or
//! RESOURCE_EXHAUSTED) are retried with exponential backoff, as SDKs do. The run fails (exit 1)
//! when the server stored fewer items than it acknowledged, or when any request failed for good.
//! This module must never be needed by the server itself: it is a client.

mod client;
pub mod sink;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::Serialize;

use self::client::{Connection, Outcome};
use crate::config::Config;
use crate::workload::{self, Workload, WorkloadOptions};

/// `otelite loadgen` options. The target is the server configured by the usual flags
/// (`--bind`, `--grpc-port`, `--http-port`, `--ui-port`).
#[derive(Debug, Clone, Args)]
pub struct LoadgenArgs {
    /// What to send.
    #[arg(long, value_enum, default_value = "traces")]
    pub signal: SignalArg,
    /// How to send it: OTLP/gRPC or OTLP/HTTP with protobuf bodies.
    #[arg(long, value_enum, default_value = "grpc")]
    pub protocol: Protocol,
    /// Connections, each with one request in flight (like that many SDK exporters).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Items per request: spans, log records or metric data points (about; whole traces and
    /// whole metric exports are kept together).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Items per second to aim for over all connections; 0 sends as fast as the server takes.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to send, e.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop after this many items instead of after --duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Encoded requests to generate before the run and send in turn, e.g. 64MiB.
    #[arg(long, default_value = "64MiB")]
    pub pool: String,
    /// Instances of each simulated service (each its own resource and metric series).
    #[arg(long, default_value_t = 3)]
    pub instances: usize,
    /// Seed of the generated telemetry.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip comparing the acknowledged counts with the server's /api/v1/status.
    #[arg(long)]
    pub no_verify: bool,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the generated pool (the export requests' protobuf, back to back) to this file and
    /// exit without sending: raw material for comparing with generic compressors.
    #[arg(long, value_name = "FILE")]
    pub dump: Option<std::path::PathBuf>,
    /// Measure the workload instead of sending it (hidden: for BENCHMARKS.md): generate --pool
    /// of --batch-item requests from a fixed start time, and print items, protobuf bytes per
    /// item, what `zstd -3` and `zstd -19` make of the whole stream, and how fast one core
    /// generates and encodes it.
    #[arg(long, hide = true)]
    pub reference: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalArg {
    Traces,
    Metrics,
    Logs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Grpc,
    Http,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 10s, 500ms or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1_000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3_600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// One pre-encoded export request.
struct Encoded {
    body: Bytes,
    items: u64,
    /// Prometheus samples in the request (metrics only).
    samples: u64,
}

/// What a run measured; printed as text or JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub signal: SignalArg,
    pub protocol: Protocol,
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub accepted_items: u64,
    pub items_per_second: f64,
    /// Prometheus samples accepted per second (metrics only; a histogram point is many).
    pub samples_per_second: f64,
    pub rejected_items: u64,
    pub retries: u64,
    pub failed_requests: u64,
    pub first_failure: Option<String>,
    pub mean_request_bytes: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub server: Option<ServerCheck>,
}

/// The server's own view of the run, from `GET /api/v1/status` before and after.
#[derive(Debug, Serialize)]
pub struct ServerCheck {
    pub stored_before: u64,
    pub stored_after: u64,
    pub disk_bytes_before: u64,
    pub disk_bytes_after: u64,
    /// Disk growth per accepted item.
    pub bytes_per_item: f64,
    /// Disk growth per accepted Prometheus sample (metrics only).
    pub bytes_per_sample: f64,
    /// Acknowledged items the server does not count as stored (must be 0).
    pub lost: u64,
}

/// Runs the load generator against the server described by `config`.
pub async fn run(config: &Config, args: &LoadgenArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.dump {
        return dump(args, path);
    }
    if args.reference {
        return reference(args);
    }
    let report = generate_load(config, args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    if report.failed_requests > 0 {
        anyhow::bail!(
            "{} requests failed; the first: {}",
            report.failed_requests,
            report.first_failure.as_deref().unwrap_or("?")
        );
    }
    if let Some(check) = &report.server
        && check.lost > 0
    {
        anyhow::bail!(
            "data loss: {} items were acknowledged but the server stores only {} more than before",
            report.accepted_items,
            check.stored_after - check.stored_before
        );
    }
    Ok(())
}

/// Writes the pool to `path` and prints what it holds as JSON.
fn dump(args: &LoadgenArgs, path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = crate::config::parse_size(&args.pool)
        .ok_or_else(|| anyhow::anyhow!("--pool {:?} is not a size: write e.g. 64MiB", args.pool))?;
    let pool = build_pool(args.signal, args.batch, args.instances, args.seed, bytes);
    let mut out = Vec::with_capacity(bytes + (1 << 20));
    for encoded in &pool {
        out.extend_from_slice(&encoded.body);
    }
    std::fs::write(path, &out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let summary = serde_json::json!({
        "signal": args.signal,
        "requests": pool.len(),
        "bytes": out.len(),
        "items": pool.iter().map(|e| e.items).sum::<u64>(),
        "samples": pool.iter().map(|e| e.samples).sum::<u64>(),
    });
    println!("{summary}");
    Ok(())
}

/// Generates the pool, sends it and checks the server; the measured part of `run`.
pub async fn generate_load(config: &Config, args: &LoadgenArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    let pool_bytes = crate::config::parse_size(&args.pool)
        .ok_or_else(|| anyhow::anyhow!("--pool {:?} is not a size: write e.g. 64MiB", args.pool))?;
    let host = reachable(config.bind);
    let port = match args.protocol {
        Protocol::Grpc => config.grpc_port,
        Protocol::Http => config.http_port,
    };
    let target = SocketAddr::new(host, port);
    let status_addr = SocketAddr::new(host, config.ui_port);
    let ingest_auth = client::bearer(config.ingest_token.as_ref().map(|t| t.expose()))?;
    let query_auth = client::bearer(config.query_token.as_ref().map(|t| t.expose()))?;

    let (signal, batch, instances, seed) = (args.signal, args.batch, args.instances, args.seed);
    let pool_target = match args.count {
        // Enough distinct requests for the whole run if it is short, else the pool size.
        Some(count) => pool_bytes.min(count as usize * 1_000),
        None => pool_bytes,
    };
    let generated = Instant::now();
    let pool = tokio::task::spawn_blocking(move || {
        build_pool(signal, batch, instances, seed, pool_target)
    })
    .await?;
    let pool_total: usize = pool.iter().map(|e| e.body.len()).sum();
    if !args.json {
        eprintln!(
            "generated {} requests ({:.1} MiB of OTLP protobuf) in {:.1} s; sending {} to {target} over {} connections",
            pool.len(),
            pool_total as f64 / (1 << 20) as f64,
            generated.elapsed().as_secs_f64(),
            signal.name(),
            args.connections
        );
    }

    let before = if args.no_verify {
        None
    } else {
        Some(server_status(status_addr, query_auth.as_ref()).await?)
    };

    let shared = Arc::new(Shared {
        pool,
        next: AtomicU64::new(0),
        budget: args.count,
        claimed: AtomicU64::new(0),
    });
    let start = Instant::now();
    let deadline = args.count.is_none().then(|| start + args.duration);
    let per_connection_rate = args.rate as f64 / args.connections as f64;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let connection =
            Connection::open(args.protocol, signal, target, ingest_auth.clone()).await?;
        let shared = Arc::clone(&shared);
        workers.spawn(worker(
            connection,
            shared,
            signal,
            deadline,
            per_connection_rate,
        ));
    }
    let mut totals = WorkerTotals::default();
    while let Some(result) = workers.join_next().await {
        totals.merge(result?);
    }
    let seconds = start.elapsed().as_secs_f64();

    let server = match before {
        None => None,
        Some(before) => {
            let after = server_status(status_addr, query_auth.as_ref()).await?;
            let stored = |s: &otelite_api::Status| match signal {
                SignalArg::Traces => s.traces.stored,
                SignalArg::Metrics => s.metrics.stored,
                SignalArg::Logs => s.logs.stored,
            };
            let disk = after.disk_bytes.saturating_sub(before.disk_bytes) as f64;
            let stored_delta = stored(&after).saturating_sub(stored(&before));
            Some(ServerCheck {
                stored_before: stored(&before),
                stored_after: stored(&after),
                disk_bytes_before: before.disk_bytes,
                disk_bytes_after: after.disk_bytes,
                bytes_per_item: disk / totals.accepted.max(1) as f64,
                bytes_per_sample: disk / totals.samples.max(1) as f64,
                lost: totals.accepted.saturating_sub(stored_delta),
            })
        }
    };
    let mut latencies = totals.latencies_us;
    latencies.sort_unstable();
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let at = ((latencies.len() - 1) as f64 * q).round() as usize;
        f64::from(latencies[at]) / 1_000.0
    };
    Ok(Report {
        signal,
        protocol: args.protocol,
        connections: args.connections,
        seconds,
        requests: totals.requests,
        accepted_items: totals.accepted,
        items_per_second: totals.accepted as f64 / seconds,
        samples_per_second: totals.samples as f64 / seconds,
        rejected_items: totals.rejected,
        retries: totals.retries,
        failed_requests: totals.failed,
        first_failure: totals.first_failure,
        mean_request_bytes: totals.bytes / totals.requests.max(1),
        latency_p50_ms: quantile(0.5),
        latency_p99_ms: quantile(0.99),
        latency_max_ms: quantile(1.0),
        server,
    })
}

impl SignalArg {
    fn name(self) -> &'static str {
        match self {
            SignalArg::Traces => "spans",
            SignalArg::Metrics => "metric data points",
            SignalArg::Logs => "log records",
        }
    }
}

/// A server bound to every address is reached through loopback.
fn reachable(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

async fn server_status(
    addr: SocketAddr,
    authorization: Option<&http::HeaderValue>,
) -> anyhow::Result<otelite_api::Status> {
    let (code, body) = client::http_get(addr, "/api/v1/status", authorization)
        .await
        .map_err(|e| anyhow::anyhow!("cannot ask otelite at {addr} for its status ({e}); check --ui-port, or pass --no-verify"))?;
    anyhow::ensure!(code == 200, "GET /api/v1/status on {addr} answered {code}");
    Ok(serde_json::from_slice(&body)?)
}

fn build_pool(
    signal: SignalArg,
    batch: usize,
    instances: usize,
    seed: u64,
    pool_bytes: usize,
) -> Vec<Encoded> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // The pool covers the recent past, so the data looks like it just arrived. A pool whose
    // simulated time runs past now (metrics advance 10 s per export of each instance, so a
    // large pool spans hours) is generated again from as much earlier, since a server refuses
    // items too far in its future; the telemetry is the same, only shifted.
    let start = now - 15 * 60 * 1_000_000_000;
    let (pool, latest) = generate_pool(signal, batch, instances, seed, pool_bytes, start);
    match latest.checked_sub(now) {
        Some(overshoot) if overshoot > 0 => {
            generate_pool(
                signal,
                batch,
                instances,
                seed,
                pool_bytes,
                start - overshoot,
            )
            .0
        }
        _ => pool,
    }
}

/// The pool starting at simulated time `start`, and the latest item time in it.
fn generate_pool(
    signal: SignalArg,
    batch: usize,
    instances: usize,
    seed: u64,
    pool_bytes: usize,
    start: u64,
) -> (Vec<Encoded>, u64) {
    let mut workload = Workload::new(WorkloadOptions {
        seed,
        start_unix_nano: start,
        instances_per_service: instances,
        ..WorkloadOptions::default()
    });
    let mut pool = Vec::new();
    let mut total = 0;
    while total < pool_bytes.max(1) {
        let encoded = Request::generate(&mut workload, signal, batch).encode();
        total += encoded.body.len();
        pool.push(encoded);
    }
    (pool, workload.latest_unix_nano())
}

/// One generated export request of any signal, not yet encoded.
enum Request {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

impl Request {
    fn generate(workload: &mut Workload, signal: SignalArg, batch: usize) -> Request {
        match signal {
            SignalArg::Traces => Request::Traces(workload.traces(batch)),
            SignalArg::Logs => Request::Logs(workload.logs(batch)),
            SignalArg::Metrics => Request::Metrics(workload.metrics(batch)),
        }
    }

    fn encode(self) -> Encoded {
        match self {
            Request::Traces(request) => Encoded {
                items: workload::span_count(&request),
                samples: 0,
                body: request.encode_to_vec().into(),
            },
            Request::Logs(request) => Encoded {
                items: workload::log_record_count(&request),
                samples: 0,
                body: request.encode_to_vec().into(),
            },
            Request::Metrics(request) => Encoded {
                items: workload::data_point_count(&request),
                samples: workload::prometheus_sample_count(&request),
                body: request.encode_to_vec().into(),
            },
        }
    }
}

/// What `--reference` measured.
#[derive(Debug, Serialize)]
struct Reference {
    signal: SignalArg,
    batch: usize,
    seed: u64,
    requests: usize,
    items: u64,
    /// Prometheus samples (metrics only).
    samples: u64,
    protobuf_bytes_per_item: f64,
    zstd3_bytes_per_item: f64,
    zstd19_bytes_per_item: f64,
    /// How the rates were timed: "cpu" (this thread's CPU time, so a busy machine does not
    /// skew them) or "wall" where the system does not tell.
    clock: &'static str,
    /// Items one core generates per second (building the messages only).
    generated_items_per_second: f64,
    /// Items one core generates and encodes to protobuf per second (what a pool costs).
    generated_and_encoded_items_per_second: f64,
}

/// `--reference`: how hard the workload is to compress and how much CPU it costs to generate.
/// The start time is fixed, so the numbers depend only on the seed, batch and pool size.
fn reference(args: &LoadgenArgs) -> anyhow::Result<()> {
    let pool_bytes = crate::config::parse_size(&args.pool)
        .ok_or_else(|| anyhow::anyhow!("--pool {:?} is not a size: write e.g. 64MiB", args.pool))?;
    let mut workload = Workload::new(WorkloadOptions {
        seed: args.seed,
        instances_per_service: args.instances,
        ..WorkloadOptions::default()
    });
    let wall = Instant::now();
    let cpu = thread_cpu_time().is_some();
    let clock = || {
        thread_cpu_time()
            .filter(|_| cpu)
            .unwrap_or_else(|| wall.elapsed())
    };
    let (mut generating, mut encoding) = (Duration::ZERO, Duration::ZERO);
    let (mut stream, mut requests, mut items, mut samples) = (Vec::new(), 0, 0, 0);
    while stream.len() < pool_bytes.max(1) {
        let started = clock();
        let request = Request::generate(&mut workload, args.signal, args.batch);
        let generated = clock();
        let encoded = request.encode();
        encoding += clock() - generated;
        generating += generated - started;
        stream.extend_from_slice(&encoded.body);
        requests += 1;
        items += encoded.items;
        samples += encoded.samples;
    }
    let per_item = |bytes: usize| bytes as f64 / items.max(1) as f64;
    let compressed = |level| zstd::bulk::compress(&stream, level).map(|c| per_item(c.len()));
    let reference = Reference {
        signal: args.signal,
        batch: args.batch,
        seed: args.seed,
        requests,
        items,
        samples,
        protobuf_bytes_per_item: per_item(stream.len()),
        zstd3_bytes_per_item: compressed(3)?,
        zstd19_bytes_per_item: compressed(19)?,
        clock: if cpu { "cpu" } else { "wall" },
        generated_items_per_second: items as f64 / generating.as_secs_f64(),
        generated_and_encoded_items_per_second: items as f64
            / (generating + encoding).as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&reference)?);
    } else {
        let r = &reference;
        println!(
            "{:?}: {} items in {} requests of ~{} (seed {})",
            r.signal, r.items, r.requests, r.batch, r.seed
        );
        println!("  protobuf  {:7.1} B/item", r.protobuf_bytes_per_item);
        println!("  zstd -3   {:7.1} B/item", r.zstd3_bytes_per_item);
        println!("  zstd -19  {:7.1} B/item", r.zstd19_bytes_per_item);
        println!(
            "  one core generates {:.0} items/s, {:.0} items/s with protobuf encoding ({} time)",
            r.generated_items_per_second, r.generated_and_encoded_items_per_second, r.clock
        );
    }
    Ok(())
}

/// The CPU time this thread has had, from the scheduler's account (Linux only).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// What the workers share: the pool, the next request to send and the item budget.
struct Shared {
    pool: Vec<Encoded>,
    next: AtomicU64,
    budget: Option<u64>,
    claimed: AtomicU64,
}

impl Shared {
    /// The next request to send, or `None` once the item budget is spent.
    fn claim(&self) -> Option<&Encoded> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.pool.len();
        let encoded = &self.pool[index];
        if let Some(budget) = self.budget {
            let before = self.claimed.fetch_add(encoded.items, Ordering::Relaxed);
            if before >= budget {
                return None;
            }
        }
        Some(encoded)
    }
}

#[derive(Debug, Default)]
struct WorkerTotals {
    requests: u64,
    accepted: u64,
    samples: u64,
    rejected: u64,
    retries: u64,
    failed: u64,
    bytes: u64,
    first_failure: Option<String>,
    latencies_us: Vec<u32>,
}

impl WorkerTotals {
    fn merge(&mut self, other: WorkerTotals) {
        self.requests += other.requests;
        self.accepted += other.accepted;
        self.samples += other.samples;
        self.rejected += other.rejected;
        self.retries += other.retries;
        self.failed += other.failed;
        self.bytes += other.bytes;
        self.first_failure = self.first_failure.take().or(other.first_failure);
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Backoff after a busy answer: starts short (the server's queue drains within one fsync) and
/// doubles up to a second.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long past the deadline a busy server is retried before the request counts as failed.
const RETRY_GRACE: Duration = Duration::from_secs(30);

async fn worker(
    mut connection: Connection,
    shared: Arc<Shared>,
    signal: SignalArg,
    deadline: Option<Instant>,
    rate: f64,
) -> WorkerTotals {
    let mut totals = WorkerTotals::default();
    let mut next_send = Instant::now();
    let mut jitter = workload::Rng::new(next_send.elapsed().as_nanos() as u64 ^ 0x5eed);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let Some(encoded) = shared.claim() else { break };
        if rate > 0.0 {
            tokio::time::sleep_until(next_send.into()).await;
            next_send += Duration::from_secs_f64(encoded.items as f64 / rate);
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let sent = Instant::now();
            let outcome = connection.export(signal, encoded.body.clone()).await;
            let latency = sent.elapsed();
            match outcome {
                Outcome::Accepted { rejected } => {
                    totals.requests += 1;
                    totals.bytes += encoded.body.len() as u64;
                    totals.accepted += encoded.items.saturating_sub(rejected);
                    totals.samples += encoded.samples;
                    totals.rejected += rejected;
                    totals
                        .latencies_us
                        .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                    break;
                }
                Outcome::Retry(why) => {
                    totals.retries += 1;
                    if deadline.is_some_and(|d| Instant::now() > d + RETRY_GRACE) {
                        totals.failed += 1;
                        totals
                            .first_failure
                            .get_or_insert(format!("still busy after retrying: {why}"));
                        break;
                    }
                    // Full jitter, so that busy connections do not retry in lockstep.
                    let wait = backoff.mul_f64(0.5 + jitter.unit() * 0.5);
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Outcome::Failed(why) => {
                    totals.requests += 1;
                    totals.failed += 1;
                    totals.first_failure.get_or_insert(why);
                    break;
                }
            }
        }
    }
    totals
}

fn print_report(report: &Report) {
    let unit = report.signal.name();
    println!(
        "{} over {:?}, {} connections, {:.1} s",
        unit, report.protocol, report.connections, report.seconds
    );
    println!(
        "  accepted   {} {unit} in {} requests: {:.0} {unit}/s",
        report.accepted_items, report.requests, report.items_per_second
    );
    if report.signal == SignalArg::Metrics {
        println!(
            "             {:.0} Prometheus samples/s",
            report.samples_per_second
        );
    }
    println!(
        "  rejected   {} items; {} busy answers retried; {} requests failed",
        report.rejected_items, report.retries, report.failed_requests
    );
    println!(
        "  latency    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} B per request)",
        report.latency_p50_ms,
        report.latency_p99_ms,
        report.latency_max_ms,
        report.mean_request_bytes
    );
    if let Some(server) = &report.server {
        println!(
            "  server     stores {} more {unit} ({} lost); disk grew {} bytes, {:.1} B per item{}",
            server.stored_after - server.stored_before,
            server.lost,
            server
                .disk_bytes_after
                .saturating_sub(server.disk_bytes_before),
            server.bytes_per_item,
            if report.signal == SignalArg::Metrics {
                format!(", {:.2} B per Prometheus sample", server.bytes_per_sample)
            } else {
                String::new()
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn a_pool_spanning_more_than_the_recent_past_is_shifted_to_end_before_now() {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        const POOL: usize = 8 << 20;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let start = now - 15 * 60 * 1_000_000_000;
        // One instance per service: each export moves its series 10 s on.
        let (_, latest) = generate_pool(SignalArg::Metrics, 1_000, 1, 7, POOL, start);
        assert!(
            latest > now,
            "the pool is not large enough to test the shift"
        );

        let mut newest = 0;
        for encoded in build_pool(SignalArg::Metrics, 1_000, 1, 7, POOL) {
            let request = ExportMetricsServiceRequest::decode(&encoded.body[..]).unwrap();
            let metrics = request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics);
            for metric in metrics {
                let times: Vec<u64> = match &metric.data {
                    Some(Data::Gauge(g)) => {
                        g.data_points.iter().map(|p| p.time_unix_nano).collect()
                    }
                    Some(Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
                    Some(Data::Histogram(h)) => {
                        h.data_points.iter().map(|p| p.time_unix_nano).collect()
                    }
                    _ => Vec::new(),
                };
                newest = times.into_iter().fold(newest, u64::max);
            }
        }
        assert!(
            newest > 0 && newest <= now + 60 * 1_000_000_000,
            "{newest} vs {now}"
        );
    }

    /// The whole loop against a real server over both transports, the server asking for
    /// tokens: every acknowledged item is stored, and the count mode stops near its budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_verifies_and_counts_over_grpc_and_http() {
        let dir = tempfile::tempdir().unwrap();
        let token = |text: &str| Some(text.parse::<crate::config::Token>().unwrap());
        let server = crate::start(&Config {
            ingest_token: token("ingest-secret"),
            query_token: token("query-secret"),
            ..Config::ephemeral(dir.path())
        })
        .await
        .unwrap();
        let config = Config {
            grpc_port: server.grpc_addr.port(),
            http_port: server.http_addr.port(),
            ui_port: server.ui_addr.port(),
            ingest_token: token("ingest-secret"),
            query_token: token("query-secret"),
            ..Config::default()
        };
        for (signal, protocol) in [
            (SignalArg::Traces, Protocol::Grpc),
            (SignalArg::Logs, Protocol::Http),
            (SignalArg::Metrics, Protocol::Grpc),
        ] {
            let args = LoadgenArgs {
                signal,
                protocol,
                connections: 2,
                batch: 200,
                rate: 0,
                duration: Duration::from_secs(10),
                count: Some(2_000),
                pool: "256KiB".into(),
                instances: 1,
                seed: 7,
                no_verify: false,
                json: true,
                dump: None,
                reference: false,
            };
            let report = generate_load(&config, &args).await.unwrap();
            assert_eq!(report.failed_requests, 0, "{report:?}");
            assert!(report.accepted_items >= 2_000, "{report:?}");
            let check = report.server.as_ref().unwrap();
            assert_eq!(check.lost, 0);
            assert_eq!(
                check.stored_after - check.stored_before,
                report.accepted_items
            );
            assert!(report.latency_p50_ms > 0.0);

            // Without the ingest token every request fails for good, and says why.
            let anonymous = Config {
                ingest_token: None,
                ..config.clone()
            };
            let args = LoadgenArgs {
                count: Some(200),
                ..args
            };
            let report = generate_load(&anonymous, &args).await.unwrap();
            assert_eq!(report.accepted_items, 0, "{report:?}");
            let failure = report.first_failure.unwrap_or_default();
            assert!(
                failure.contains("401") || failure.contains("Unauthenticated"),
                "{failure}"
            );
        }
        server.shutdown().await.unwrap();
    }
}
