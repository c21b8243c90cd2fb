//! PromQL at scale: fills a temporary store with a day of the load generator's metrics (the
//! workload `otelite loadgen --signal metrics` sends, one export per instance every 15 s),
//! waits for the compactor, then times what a dashboard asks of the Prometheus API, through
//! the real query router in-process (parameters, store, translation, engine, JSON). Prints a
//! Markdown table for BENCHMARKS.md and the command that reproduces it.
//!
//! ```text
//! cargo bench -p otelite --bench prom_queries
//! ```
//!
//! Knobs (environment variables): `OTELITE_BENCH_HOURS` of data (default 24),
//! `OTELITE_BENCH_INSTANCES` per service (default 3), `OTELITE_BENCH_QUERIES` runs of each
//! query (default 10), `OTELITE_BENCH_ONLY` a part of the name of the only queries to run (for
//! a profile of one).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use otelite::state::{AppState, Limits};
use otelite::workload::{Workload, WorkloadOptions};
use otelite_storage::{Batch, Store, StoreOptions};
use tower::ServiceExt as _;

/// The allocator the `otelite` binary runs with (`server/src/main.rs`), so the times are the
/// product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POINTS_PER_BATCH: usize = 5_000;
const INTERVAL_NS: u64 = 15_000_000_000;

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|t| t.replace(['_', ','], "").parse().expect("a number"))
        .unwrap_or(default)
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn main() {
    let hours = var("OTELITE_BENCH_HOURS", 24).max(1) as u64;
    let instances = var("OTELITE_BENCH_INSTANCES", 3).max(1);
    let queries = var("OTELITE_BENCH_QUERIES", 10).max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = StoreOptions::default().with_compaction_idle(Some(Duration::from_secs(1)));
    let store = Store::open(dir.path(), options).expect("the store opens");

    let start = WorkloadOptions::default().start_unix_nano;
    let end = start + hours * 3_600_000_000_000;
    let mut workload = Workload::new(WorkloadOptions {
        instances_per_service: instances,
        metric_interval_ns: INTERVAL_NS,
        ..WorkloadOptions::default()
    });
    let began = Instant::now();
    let mut samples = 0u64;
    while workload.latest_unix_nano() < end {
        let request = workload.metrics(POINTS_PER_BATCH);
        samples += otelite::workload::prometheus_sample_count(&request);
        store
            .write(Batch::Metrics(request.resource_metrics))
            .expect("the store takes every batch");
    }
    let ingest = began.elapsed();
    while store.compaction_backlog() > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let settled = began.elapsed();

    let limits = Limits {
        query_timeout: None,
        ..Limits::default()
    };
    let state = AppState::new(store.clone(), limits, 64 << 20);
    let router = otelite::query::router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let get = |path: String| -> (usize, Duration) {
        let router = router.clone();
        runtime.block_on(async move {
            let t = Instant::now();
            let response = router
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            assert!(status.is_success(), "{path}: {status} {body:?}");
            (body.len(), t.elapsed())
        })
    };
    let (t0, t1) = (start / 1_000_000_000, end / 1_000_000_000);
    let count = |selector: &str| -> String {
        let path = format!(
            "/api/v1/query?query={}&time={t1}",
            encoded(&format!("count({selector})"))
        );
        let router = router.clone();
        runtime.block_on(async move {
            let response = router
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            json["data"]["result"][0]["value"][1]
                .as_str()
                .unwrap_or("0")
                .to_string()
        })
    };

    let histogram = "http_server_request_duration_seconds";
    let mut rows = vec![
        format!(
            "| data | {samples} Prometheus samples, {hours} h at 15 s, {} `{histogram}_bucket` series, {} series in all |",
            count(&format!("{histogram}_bucket")),
            count("{__name__=~\".+\"}")
        ),
        format!(
            "| ingest + compaction | {:.1} s + {:.1} s |",
            ingest.as_secs_f64(),
            (settled - ingest).as_secs_f64()
        ),
    ];
    let cases: Vec<(String, String)> = vec![
        (
            format!("request rate by service, {hours} h at 15 s"),
            format!(
                "/api/v1/query_range?query={}&start={t0}&end={t1}&step=15",
                encoded(&format!("sum by (job) (rate({histogram}_count[5m]))"))
            ),
        ),
        (
            format!("p99 by route, {hours} h at 60 s"),
            format!(
                "/api/v1/query_range?query={}&start={t0}&end={t1}&step=60",
                encoded(&format!(
                    "histogram_quantile(0.99, sum by (le, http_route) (rate({histogram}_bucket[5m])))"
                ))
            ),
        ),
        (
            format!("rate of every `{histogram}_bucket` series, summed, {hours} h at 15 s"),
            format!(
                "/api/v1/query_range?query={}&start={t0}&end={t1}&step=15",
                encoded(&format!("sum(rate({histogram}_bucket[5m]))"))
            ),
        ),
        (
            format!("every `{histogram}_bucket` series, raw, {hours} h at 15 s"),
            format!(
                "/api/v1/query_range?query={}&start={t0}&end={t1}&step=15",
                encoded(&format!("{histogram}_bucket"))
            ),
        ),
        (
            "5xx ratio, last hour at 15 s".to_string(),
            format!(
                "/api/v1/query_range?query={}&start={}&end={t1}&step=15",
                encoded(&format!(
                    "sum(rate({histogram}_count{{http_response_status_code=~\"5..\"}}[5m])) / sum(rate({histogram}_count[5m]))"
                )),
                t1 - 3600
            ),
        ),
        (
            "instant: request rate by service and route".to_string(),
            format!(
                "/api/v1/query?query={}&time={t1}",
                encoded(&format!(
                    "sum by (job, http_route) (rate({histogram}_count[5m]))"
                ))
            ),
        ),
        (
            "metric names (`label/__name__/values`)".to_string(),
            format!("/api/v1/label/__name__/values?start={t0}&end={t1}"),
        ),
    ];
    let only = std::env::var("OTELITE_BENCH_ONLY").unwrap_or_default();
    for (name, path) in cases.into_iter().filter(|(name, _)| name.contains(&only)) {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..queries {
            let (size, took) = get(path.clone());
            bytes = size;
            times.push(took);
        }
        times.sort_unstable();
        let ms = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)].as_secs_f64() * 1e3;
        rows.push(format!(
            "| {name} | p50 {:.0} ms, max {:.0} ms ({} runs, {:.1} MB answer) |",
            ms(50),
            ms(100),
            times.len(),
            bytes as f64 / 1e6
        ));
    }
    println!(
        "\n`OTELITE_BENCH_HOURS={hours} OTELITE_BENCH_INSTANCES={instances} cargo bench -p otelite --bench prom_queries`\n"
    );
    println!("| measure | result |\n|---|---|");
    for row in rows {
        println!("{row}");
    }
}
