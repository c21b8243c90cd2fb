//! Retention under SIGKILL: a store holding a day of old hours is restarted again and again with
//! a shorter `--retention` each time, so that every start drops hours, and killed at a random
//! moment of those drops.
//!
//! After every restart, while retention may still be dropping: every hour of every signal is
//! either all there or all gone, never in part, and the hours gone are the oldest; the store
//! opens without a warning or an error. At the end, once retention has run undisturbed: exactly
//! the hours within the retention are left, and no segment file of a dropped hour stays on disk
//! (a crash between the index commit and the unlink leaves files the next open must remove).
//!
//! `cargo test` runs one round of [`CYCLES`] kills on a fresh store;
//! `OTELITE_RETENTION_CRASH_ROUNDS=20` runs twenty, `OTELITE_CRASH_SEED=<seed>` repeats a run's
//! kill moments.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric;
use otelite_tests::otlp::{OtlpRequest, logs_request, metrics_request, traces_request};
use otelite_tests::{ServerProcess, Signal, complaints, partitions_on_disk};
use prost::Message;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_otelite-e2e");
const HOUR: u64 = 3_600_000_000_000;
/// Hours of data written before the first kill: item `h<k>-…` is timed k hours ago.
const HOURS: u64 = 26;
const ITEMS_PER_HOUR: usize = 12;
/// Kills per round: each start drops two hours per signal, more than a kill window's worth.
const CYCLES: u64 = 10;
/// How long after it is spawned a server dropping hours is killed: a random moment in this range.
const KILL_AFTER_MS: std::ops::Range<u64> = 0..120;

/// Per hour partition (its start, unix ns), the item names stored there.
type Hours = BTreeMap<u64, BTreeSet<String>>;

/// Shifts every item time of `request` back by `ago`.
fn aged<T: Message>(mut request: T, ago: u64, shift: impl Fn(&mut T, u64)) -> T {
    shift(&mut request, ago);
    request
}

fn sent_requests(hours_ago: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let label = format!("h{hours_ago}");
    let ago = hours_ago * HOUR;
    let traces = aged(traces_request(&label, ITEMS_PER_HOUR), ago, |r, ago| {
        for span in &mut r.resource_spans[0].scope_spans[0].spans {
            span.start_time_unix_nano -= ago;
            span.end_time_unix_nano -= ago;
        }
    });
    let logs = aged(logs_request(&label, ITEMS_PER_HOUR), ago, |r, ago| {
        for record in &mut r.resource_logs[0].scope_logs[0].log_records {
            record.time_unix_nano -= ago;
            record.observed_time_unix_nano -= ago;
        }
    });
    let metrics = aged(metrics_request(&label, ITEMS_PER_HOUR), ago, |r, ago| {
        for metric in &mut r.resource_metrics[0].scope_metrics[0].metrics {
            if let Some(metric::Data::Gauge(gauge)) = &mut metric.data {
                for point in &mut gauge.data_points {
                    point.time_unix_nano -= ago;
                }
            }
        }
    });
    (
        traces.encode_to_vec(),
        metrics.encode_to_vec(),
        logs.encode_to_vec(),
    )
}

async fn post(server: &ServerProcess, signal: Signal, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(server.otlp_http_url(signal))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("the OTLP/HTTP receiver answers");
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let rejected = match signal {
        Signal::Traces => ExportTraceServiceRequest::rejected_in_protobuf_response(&body),
        Signal::Metrics => ExportMetricsServiceRequest::rejected_in_protobuf_response(&body),
        Signal::Logs => ExportLogsServiceRequest::rejected_in_protobuf_response(&body),
    };
    assert!(rejected.is_none(), "{signal:?}: {rejected:?}");
}

/// Reads `value` as OTLP/JSON's decimal-string uint64.
fn nanos(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a time: {value}"))
}

/// What the export API holds of `signal`, by hour partition.
async fn stored(server: &ServerProcess, signal: Signal) -> Hours {
    let url = server.ui_url(&format!("/api/v1/export/{}", signal.name()));
    let response = reqwest::get(&url).await.expect("the export API answers");
    assert_eq!(response.status(), 200, "GET {url}");
    let bytes = response.bytes().await.expect("the export arrives");
    let document: Value = serde_json::from_slice(&bytes).expect("OTLP/JSON");
    let mut hours = Hours::new();
    let mut add = |time: u64, name: &str| {
        hours
            .entry(time / HOUR * HOUR)
            .or_default()
            .insert(name.to_string());
    };
    let (resources, scopes, items) = match signal {
        Signal::Traces => ("resourceSpans", "scopeSpans", "spans"),
        Signal::Metrics => ("resourceMetrics", "scopeMetrics", "metrics"),
        Signal::Logs => ("resourceLogs", "scopeLogs", "logRecords"),
    };
    let each = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    for resource in each(&document, resources) {
        for scope in each(&resource, scopes) {
            for item in each(&scope, items) {
                match signal {
                    Signal::Traces => add(
                        nanos(&item["startTimeUnixNano"]),
                        item["name"].as_str().unwrap(),
                    ),
                    Signal::Logs => add(
                        nanos(&item["timeUnixNano"]),
                        item["body"]["stringValue"].as_str().unwrap(),
                    ),
                    Signal::Metrics => {
                        for point in each(&item["gauge"], "dataPoints") {
                            add(
                                nanos(&point["timeUnixNano"]),
                                item["name"].as_str().unwrap(),
                            );
                        }
                    }
                }
            }
        }
    }
    hours
}

/// Checks that every stored hour of `signal` is one that was sent, whole, and, when
/// `oldest_first`, that the hours missing are older than every hour stored. Returns the stored
/// hours. The order can only be checked while nothing is being dropped: an export reads one
/// partition after another, not one snapshot, so a drop running beside it can take a younger
/// hour after the export has read an older one that the same drop then takes too.
async fn check_whole_hours(
    server: &ServerProcess,
    signal: Signal,
    sent: &Hours,
    oldest_first: bool,
) -> Hours {
    let stored = stored(server, signal).await;
    for (hour, names) in &stored {
        let want = sent
            .get(hour)
            .unwrap_or_else(|| panic!("{signal:?}: hour {hour} was never sent"));
        assert_eq!(
            names, want,
            "{signal:?}: hour {hour} is stored in part: retention must drop an hour whole"
        );
    }
    if let Some(oldest_kept) = stored.keys().next().filter(|_| oldest_first) {
        let missing_younger: Vec<_> = sent
            .keys()
            .filter(|h| *h > oldest_kept && !stored.contains_key(h))
            .collect();
        assert!(
            missing_younger.is_empty(),
            "{signal:?}: hours {missing_younger:?} are gone while the older {oldest_kept} is kept"
        );
    }
    stored
}

/// A server keeping `retention` (`12h`, `unlimited`), waited for until ready.
fn spawn(data: &Path, retention: &str) -> ServerProcess {
    tokio::task::block_in_place(|| {
        ServerProcess::spawn_with(
            BINARY,
            data,
            &["--retention", retention, "--max-item-age", "unlimited"],
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_killed_mid_drop_leaves_whole_hours_and_no_stray_files() {
    let rounds: u64 = std::env::var("OTELITE_RETENTION_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let seed: u64 = std::env::var("OTELITE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("retention crash loop: {rounds} rounds of {CYCLES} kills, seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut interrupted = 0;
    for _ in 0..rounds {
        interrupted += round(&mut rng).await;
    }
    println!(
        "{interrupted} of {} kills landed amid the drops",
        rounds * CYCLES
    );
}

/// One round on a fresh store: fill it, then [`CYCLES`] kills amid drops, then the final
/// check. Returns how many kills left a drop visibly unfinished.
async fn round(rng: &mut fastrand::Rng) -> u64 {
    let cycles = CYCLES;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // A day of hours, each signal's items of one hour in one request.
    let server = spawn(&data, "unlimited");
    for hours_ago in 1..=HOURS {
        let (traces, metrics, logs) = sent_requests(hours_ago);
        post(&server, Signal::Traces, traces).await;
        post(&server, Signal::Metrics, metrics).await;
        post(&server, Signal::Logs, logs).await;
    }
    let mut sent = HashMap::new();
    for signal in Signal::ALL {
        let hours = stored(&server, signal).await;
        assert_eq!(
            hours.values().map(BTreeSet::len).sum::<usize>(),
            HOURS as usize * ITEMS_PER_HOUR,
            "{signal:?}: everything sent is stored"
        );
        sent.insert(signal, hours);
    }
    server.terminate(Duration::from_secs(30));

    // Each cycle starts the server with a shorter retention, so that it drops several hours per
    // signal as soon as the store is open, and SIGKILLs it at a random moment of that, ready or
    // not. A second start, with `--retention unlimited` so that it drops nothing more, then
    // checks what the kill left: whole hours, the oldest gone.
    let retention_at = |cycle: u64| HOURS - 2 - (HOURS - 6) * (cycle + 1) / cycles;
    let mut interrupted = 0;
    let mut kept_before = HOURS as usize;
    for cycle in 0..cycles {
        let retention = format!("{}h", retention_at(cycle));
        let mut child = std::process::Command::new(BINARY)
            .arg("--data")
            .arg(&data)
            .args(["--grpc-port", "0", "--http-port", "0", "--ui-port", "0"])
            .args(["--retention", &retention, "--max-item-age", "unlimited"])
            .env_remove("OTELITE_CONFIG")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("otelite starts");
        let pause = rng.u64(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().expect("SIGKILL is delivered");
        child.wait().expect("the killed process is reaped");

        let server = spawn(&data, "unlimited");
        let mut kept = Vec::new();
        for signal in Signal::ALL {
            kept.push(
                check_whole_hours(&server, signal, &sent[&signal], true)
                    .await
                    .len(),
            );
        }
        let want = retention_at(cycle) as usize;
        if kept.iter().any(|k| *k > want && *k < kept_before) || kept.iter().any(|k| *k != kept[0])
        {
            interrupted += 1;
        }
        println!(
            "cycle {cycle}: --retention {retention}, killed after {pause} ms: hours kept {kept:?}"
        );
        kept_before = kept.iter().copied().min().unwrap_or(0);
        let complained: Vec<String> = complaints(&server.output())
            .into_iter()
            .map(str::to_string)
            .collect();
        assert!(
            complained.is_empty(),
            "cycle {cycle}: the store complained after a kill:\n{}",
            complained.join("\n")
        );
        server.kill_9();
    }

    // Undisturbed at last: exactly the hours within the retention remain, and their files only.
    let retention = retention_at(cycles - 1);
    let server = spawn(&data, &format!("{retention}h"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = otelite_tests::otlp::now_nanos();
        let mut settled = true;
        for signal in Signal::ALL {
            // Retention may still be finishing what the last kill interrupted.
            let stored = check_whole_hours(&server, signal, &sent[&signal], false).await;
            // Within the retention, with an hour's margin either side for the clock moving on.
            let keep_from = now - (retention - 1) * HOUR;
            let drop_before = now - (retention + 1) * HOUR;
            for hour in sent[&signal].keys() {
                if *hour >= keep_from {
                    assert!(
                        stored.contains_key(hour),
                        "{signal:?}: hour {hour} was lost"
                    );
                }
            }
            if stored.keys().any(|hour| hour + HOUR <= drop_before) {
                settled = false;
            }
            let on_disk = partitions_on_disk(&data, signal);
            if on_disk.len() != stored.len() {
                settled = false;
            }
        }
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not settle: hours past --retention {retention}h or their files are still there: {:?}",
            Signal::ALL.map(|s| (s, partitions_on_disk(&data, s).len()))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Settled: nothing is being dropped, so the order holds too.
    for signal in Signal::ALL {
        check_whole_hours(&server, signal, &sent[&signal], true).await;
    }
    assert!(
        complaints(&server.output()).is_empty(),
        "{}",
        server.output()
    );
    server.terminate(Duration::from_secs(30));
    interrupted
}
