//! Log queries at scale: fills a temporary store with the load generator's logs (the workload
//! `otelite loadgen --signal logs` sends), waits for the compactor, then measures what a user of
//! the log explorer or the Loki API waits for: the logs of one trace, and the first page of a
//! search. Prints a Markdown table for BENCHMARKS.md and the command that reproduces it.
//!
//! ```text
//! OTELITE_BENCH_RECORDS=10000000 cargo bench -p otelite --bench log_queries
//! ```
//!
//! Knobs (environment variables): `OTELITE_BENCH_RECORDS` records to ingest (default
//! 10,000,000), `OTELITE_BENCH_THREADS` writer threads (default 4), `OTELITE_BENCH_QUERIES`
//! runs of each query (default 100), `OTELITE_BENCH_MAX_SECONDS` time budget per row (default
//! 60).

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use otelite::workload::{Workload, WorkloadOptions};
use otelite_storage::{Batch, LogQuery, Store, StoreOptions, TimeRange};

const RECORDS_PER_BATCH: usize = 1_000;
const PAGE: usize = 20;

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|t| t.replace(['_', ','], "").parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let records = var("OTELITE_BENCH_RECORDS", 10_000_000).max(RECORDS_PER_BATCH);
    let threads = var("OTELITE_BENCH_THREADS", 4).max(1);
    let queries = var("OTELITE_BENCH_QUERIES", 100).max(1);
    let budget = Duration::from_secs(var("OTELITE_BENCH_MAX_SECONDS", 60) as u64);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = StoreOptions::default().with_compaction_idle(Some(Duration::from_secs(1)));
    let store = Store::open(dir.path(), options.clone()).expect("the store opens");

    // One generator, batches handed out in order, so time moves forward as from live services.
    let workload = Mutex::new((Workload::new(WorkloadOptions::default()), 0usize));
    let trace_ids = Mutex::new(Vec::new());
    // A word only one record has: the first part of a failed request's id.
    let rare_words = Mutex::new(Vec::new());
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let request = {
                        let mut guard = workload.lock().unwrap();
                        if guard.1 >= records {
                            break;
                        }
                        guard.1 += RECORDS_PER_BATCH;
                        guard.0.logs(RECORDS_PER_BATCH)
                    };
                    {
                        let mut ids = trace_ids.lock().unwrap();
                        for record in request
                            .resource_logs
                            .iter()
                            .flat_map(|r| &r.scope_logs)
                            .flat_map(|s| &s.log_records)
                            .step_by(97)
                        {
                            if let Ok(id) = <[u8; 16]>::try_from(record.trace_id.as_slice()) {
                                ids.push(id);
                            }
                            let body = otelite_storage::body_text(record.body.as_ref());
                            if body.starts_with("request ") {
                                let word = otelite_storage::words(&body).nth(1);
                                rare_words.lock().unwrap().extend(word);
                            }
                        }
                    }
                    store
                        .write(Batch::Logs(request.resource_logs))
                        .expect("the store takes every batch");
                }
            });
        }
    });
    let ingest = began.elapsed();
    let compacting = Instant::now();
    while store.compaction_backlog() > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let compaction = compacting.elapsed();
    store.shutdown().expect("the store shuts down");
    drop(store);
    let disk = tree_bytes(dir.path()).expect("the data directory can be listed");
    let store = Store::open(dir.path(), options).expect("the store reopens");
    let stored = store.stats().expect("stats").log_records;

    let mut rows = vec![
        format!("| records stored | {stored} |"),
        format!(
            "| ingest | {:.0} records/s ({threads} threads writing {RECORDS_PER_BATCH}-record batches; compaction caught up {:.1} s later) |",
            stored as f64 / ingest.as_secs_f64(),
            compaction.as_secs_f64()
        ),
        format!(
            "| disk | {:.1} B/record ({:.1} MB after shutdown) |",
            disk as f64 / stored as f64,
            disk as f64 / 1e6
        ),
    ];
    let trace_ids = trace_ids.into_inner().unwrap();
    let first_page = |query: &LogQuery| {
        let mut n = 0;
        store
            .find_logs(query, |_| {
                n += 1;
                if n == PAGE {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .expect("the search runs");
        n
    };
    let all = LogQuery::new(TimeRange::ALL);
    // The first search after opening reads every block's filter from the index; later ones
    // find them in memory. Measured once, then left out of the rows below.
    let cold = Instant::now();
    first_page(&LogQuery {
        words: vec!["nowhere".into()],
        ..all.clone()
    });
    rows.push(format!(
        "| first search after opening (reads every filter) | {:.1} ms |",
        cold.elapsed().as_secs_f64() * 1e3
    ));
    let mut measure = |name: &str, make: &dyn Fn(usize) -> LogQuery| {
        let started = Instant::now();
        let mut times = Vec::new();
        let mut found = 0;
        for i in 0..queries {
            let query = make(i);
            let t = Instant::now();
            found += first_page(&query);
            times.push(t.elapsed());
            if started.elapsed() > budget {
                break;
            }
        }
        times.sort_unstable();
        let ms = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)].as_secs_f64() * 1e3;
        rows.push(format!(
            "| {name} | p50 {:.2} ms, p99 {:.2} ms ({} runs, {:.1} hits each) |",
            ms(50),
            ms(99),
            times.len(),
            found as f64 / times.len() as f64
        ));
    };
    measure("logs of one trace", &|i| LogQuery {
        trace_id: Some(trace_ids[(i * 7919) % trace_ids.len()]),
        ..all.clone()
    });
    measure("word search, common (`slow`), first page", &|_| LogQuery {
        words: vec!["slow".into()],
        ..all.clone()
    });
    let rare_words = rare_words.into_inner().unwrap();
    measure(
        "word search, one record's (part of a request id), first page",
        &|i| LogQuery {
            words: vec![rare_words[(i * 7919) % rare_words.len()].clone()],
            ..all.clone()
        },
    );
    measure("word search, rare (`insufficient`), first page", &|_| {
        LogQuery {
            words: vec!["insufficient".into()],
            ..all.clone()
        }
    });
    measure("word search, no match, first page", &|i| LogQuery {
        words: vec![format!("nowhere{i}")],
        ..all.clone()
    });
    measure("substring (`|= \"card declined\"`), first page", &|_| {
        LogQuery {
            contains: vec!["card declined".into()],
            ..all.clone()
        }
    });
    measure("service + severity >= error, first page", &|_| LogQuery {
        services: vec!["payment".into()],
        min_severity: Some(17),
        ..all.clone()
    });
    measure("newest 20, no filter", &|_| all.clone());
    println!("\n`OTELITE_BENCH_RECORDS={records} cargo bench -p otelite --bench log_queries`\n");
    println!("| measure | result |\n|---|---|");
    for row in rows {
        println!("{row}");
    }
}

fn tree_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            tree_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}
