//! Store-level tests: the public API against a real data directory.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
use redb::{ReadableTable, ReadableTableMetadata};

use super::*;
use crate::block::IndexEntry;
use crate::faults::{Fault, Faults, Step};
use crate::schema::BlockKey;
use crate::test_fixtures::*;

const HOUR: u64 = schema::PARTITION_NS;
/// 2025-01-01T10:00:00Z, on a partition boundary.
const BASE: u64 = 1_735_725_600 * SECOND;
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

fn open(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default().with_compaction_idle(None)).unwrap()
}

fn raw_database(dir: &Path) -> redb::Database {
    redb::Database::create(dir.join(schema::DATABASE_FILE)).unwrap()
}

fn segment_path(dir: &Path, signal: Signal, partition_start: u64) -> std::path::PathBuf {
    schema::segment_dir(dir, signal).join(schema::segment_file_name(partition_start, 0))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Every index entry of `signal`, in key order, read from a closed store.
fn index_entries(dir: &Path, signal: Signal) -> Vec<(BlockKey, IndexEntry)> {
    let db = raw_database(dir);
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let table = txn.open_table(schema::block_table(signal)).unwrap();
    table
        .iter()
        .unwrap()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            (
                BlockKey::decode(key.value()),
                IndexEntry::parse(value.value()).unwrap(),
            )
        })
        .collect()
}

/// Replaces the raw index value of `signal`'s block `key` in a closed store.
fn damage_index_entry(
    dir: &Path,
    signal: Signal,
    key: BlockKey,
    damage: impl FnOnce(&mut Vec<u8>),
) {
    let db = raw_database(dir);
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(schema::block_table(signal)).unwrap();
        let mut value = table.get(&key.encode()).unwrap().unwrap().value().to_vec();
        damage(&mut value);
        table.insert(&key.encode(), value.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

/// One resource with one scope holding a span per time.
fn spans_at(times: &[u64]) -> Vec<ResourceSpans> {
    let mut group = rich_spans(0).remove(0);
    group.scope_spans.truncate(1);
    group.scope_spans[0].spans = times.iter().map(|&t| span_at("s", t)).collect();
    vec![group]
}

/// `store` holds exactly the spans started at `times` (sorted), and counts them.
fn assert_holds_spans_at(store: &Store, times: &[u64]) {
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()),
        times
    );
    assert_eq!(store.stats().unwrap().spans, times.len() as u64);
}

fn span_times(groups: &[ResourceSpans]) -> Vec<u64> {
    let mut times: Vec<u64> = groups
        .iter()
        .flat_map(|g| &g.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.start_time_unix_nano)
        .collect();
    times.sort_unstable();
    times
}

/// Parks the writer thread inside an `on_durable` callback until the returned sender is used
/// or dropped. While parked, nothing queued is committed.
fn hold_writer(store: &Store) -> mpsc::Sender<()> {
    let (entered, wait_entered) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    store
        .submit(
            Batch::Traces(vec![]),
            Box::new(move |result| {
                result.unwrap();
                entered.send(()).unwrap();
                let _ = wait_release.recv();
            }),
        )
        .unwrap();
    wait_entered.recv_timeout(ACK_TIMEOUT).unwrap();
    release
}

fn ack_channel() -> (
    impl Fn() -> OnDurable,
    mpsc::Receiver<Result<(), WriteError>>,
) {
    let (tx, rx) = mpsc::channel();
    let make = move || -> OnDurable {
        let tx = tx.clone();
        Box::new(move |result| tx.send(result).unwrap())
    };
    (make, rx)
}

#[test]
fn store_handles_are_shareable() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<Store>();
}

#[test]
fn every_field_survives_write_reopen_read() {
    let dir = tempfile::tempdir().unwrap();
    let (spans, metrics, logs) = (rich_spans(BASE), rich_metrics(BASE), rich_logs(BASE));
    {
        let store = open(dir.path());
        store.write(Batch::Traces(spans.clone())).unwrap();
        store.write(Batch::Metrics(metrics.clone())).unwrap();
        store.write(Batch::Logs(logs.clone())).unwrap();
        store.shutdown().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.read_traces(TimeRange::ALL).unwrap(), spans);
    assert_eq!(store.read_metrics(TimeRange::ALL).unwrap(), metrics);
    assert_eq!(store.read_logs(TimeRange::ALL).unwrap(), logs);
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.spans, stats.metric_points, stats.log_records),
        (12, 7, 3)
    );
    assert_eq!(stats.format_version, 4);
    assert!(stats.disk_bytes > 0);
}

#[test]
fn reads_return_only_items_in_range_across_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let times = [
        0,
        BASE - 1,
        BASE,
        BASE + HOUR / 2,
        BASE + HOUR,
        BASE + 2 * HOUR + 5,
    ];
    let written = spans_at(&times);
    store.write(Batch::Traces(written.clone())).unwrap();
    let ranges = [
        TimeRange::ALL,
        TimeRange::new(BASE, BASE + HOUR),
        TimeRange::new(BASE - 1, BASE + 1),
        TimeRange::new(0, 1),
        TimeRange::new(1, BASE - 1),
        TimeRange::new(BASE + HOUR, u64::MAX),
        TimeRange::new(BASE + 1, BASE + HOUR / 2),
        TimeRange::new(BASE + HOUR / 2, BASE + HOUR / 2 + 1),
        TimeRange::new(BASE, BASE),
        TimeRange::new(BASE + HOUR, BASE),
    ];
    for range in ranges {
        let read = store.read_traces(range).unwrap();
        let want: Vec<u64> = times
            .iter()
            .copied()
            .filter(|&t| range.contains(t))
            .collect();
        assert_eq!(span_times(&read), want, "{range:?}");
        for group in &read {
            assert_eq!(group.resource, written[0].resource);
            assert_eq!(group.schema_url, written[0].schema_url);
            let ScopeSpans {
                scope, schema_url, ..
            } = &group.scope_spans[0];
            assert_eq!(scope, &written[0].scope_spans[0].scope);
            assert_eq!(schema_url, &written[0].scope_spans[0].schema_url);
        }
    }
    assert_eq!(store.stats().unwrap().spans, times.len() as u64);
}

#[test]
fn scans_hand_over_one_block_at_a_time_and_stop_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Three partitions, so at least three blocks.
    let times = [
        BASE,
        BASE + 1,
        BASE + HOUR,
        BASE + 2 * HOUR,
        BASE + 2 * HOUR + 1,
    ];
    store.write(Batch::Traces(spans_at(&times))).unwrap();

    let mut blocks = Vec::new();
    store
        .scan_traces(TimeRange::new(BASE + 1, u64::MAX), |groups| {
            blocks.push(span_times(&groups));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(
        blocks,
        vec![
            vec![BASE + 1],
            vec![BASE + HOUR],
            vec![BASE + 2 * HOUR, BASE + 2 * HOUR + 1]
        ]
    );
    let all: Vec<u64> = blocks.concat();
    assert_eq!(
        all,
        span_times(
            &store
                .read_traces(TimeRange::new(BASE + 1, u64::MAX))
                .unwrap()
        )
    );

    let mut visited = 0;
    store
        .scan_traces(TimeRange::ALL, |_| {
            visited += 1;
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(visited, 1, "Break stops the walk");
}

#[test]
fn a_scan_longer_than_one_read_transaction_sees_every_block_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // One block per partition: several read transactions' worth, and a few more.
    let times: Vec<u64> = (0..3 * 64 + 5).map(|i| BASE + i * HOUR + i).collect();
    store.write(Batch::Traces(spans_at(&times))).unwrap();

    let mut blocks = Vec::new();
    store
        .scan_traces(TimeRange::new(BASE + 1, u64::MAX), |groups| {
            blocks.push(span_times(&groups));
            ControlFlow::Continue(())
        })
        .unwrap();
    let expected: Vec<Vec<u64>> = times[1..].iter().map(|&t| vec![t]).collect();
    assert_eq!(blocks, expected);
}

/// Pages redb has allocated in the store's file, counting those freed by a commit but not yet
/// reusable because a read transaction may still see them.
fn allocated_pages(store: &Store) -> u64 {
    let txn = store.inner.index.get().unwrap().begin_write().unwrap();
    let pages = txn.stats().unwrap().allocated_pages();
    txn.abort().unwrap();
    pages
}

/// Commits `n` one-span batches to an existing partition, each rewriting index pages.
fn write_one_by_one(store: &Store, n: u64) {
    for i in 0..n {
        store
            .write(Batch::Traces(spans_at(&[BASE + 10 * SECOND + i])))
            .unwrap();
    }
}

/// A store with two partitions and some history, so that every commit rewrites index pages.
fn store_with_history(dir: &Path, commits: u64) -> Store {
    let store = open(dir);
    store
        .write(Batch::Traces(spans_at(&[BASE, BASE + HOUR])))
        .unwrap();
    write_one_by_one(&store, commits);
    store
}

#[test]
fn a_scan_paused_by_its_visitor_does_not_pin_the_database() {
    const COMMITS: u64 = 40;
    // Each measurement on its own store: pages a pinned one held back are released (and counted
    // as shrinkage) by the next commits, which would hide the growth of a second measurement.
    let (dir, paused_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // What an open read transaction costs: nothing freed meanwhile can be reused.
    let store = store_with_history(dir.path(), COMMITS);
    let pinned_growth = {
        let db = store.inner.index.get().unwrap();
        let _pinning = db.begin_read().unwrap();
        let before = allocated_pages(&store);
        write_one_by_one(&store, COMMITS);
        allocated_pages(&store) - before
    };
    assert!(
        pinned_growth >= COMMITS,
        "a held read transaction makes the file grow ({pinned_growth} pages)"
    );

    // The same commits while a scan waits in its visitor, as an export waits for its client.
    // More blocks than one read transaction takes, so the walk resumes after the pause.
    let history = 64;
    let store = store_with_history(paused_dir.path(), history);
    let mut paused_growth = None;
    let (mut blocks, mut spans) = (0, 0);
    store
        .scan_traces(TimeRange::ALL, |groups| {
            if paused_growth.is_none() {
                let before = allocated_pages(&store);
                write_one_by_one(&store, COMMITS);
                paused_growth = Some(allocated_pages(&store).saturating_sub(before));
            }
            blocks += 1;
            spans += span_times(&groups).len() as u64;
            ControlFlow::Continue(())
        })
        .unwrap();
    let paused_growth = paused_growth.expect("the scan visited a block");
    assert!(
        paused_growth * 4 < pinned_growth,
        "the paused scan let the file grow by {paused_growth} pages, as a held read transaction \
         does ({pinned_growth})"
    );
    // The walk sees each partition as one snapshot: the blocks committed to the partition it
    // was visiting during the pause are not part of it.
    assert_eq!(blocks, 2 + history);
    assert_eq!(spans + COMMITS, store.stats().unwrap().spans);
}

#[test]
fn a_metric_spanning_partitions_is_split_and_keeps_its_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let split = gauge(
        "split",
        &[BASE + 10, BASE + HOUR + 10, BASE + 2 * HOUR + 10],
    );
    let other = gauge("other", &[BASE + 20]);
    let mut group = rich_metrics(0).remove(0);
    group.scope_metrics = vec![ScopeMetrics {
        metrics: vec![split.clone(), other.clone()],
        ..group.scope_metrics[0].clone()
    }];
    store.write(Batch::Metrics(vec![group.clone()])).unwrap();
    assert_eq!(store.stats().unwrap().metric_points, 4);

    let descriptor = |m: &opentelemetry_proto::tonic::metrics::v1::Metric| {
        (
            m.name.clone(),
            m.description.clone(),
            m.unit.clone(),
            m.metadata.clone(),
        )
    };
    let points = |m: &opentelemetry_proto::tonic::metrics::v1::Metric| match &m.data {
        Some(Data::Gauge(g)) => g.data_points.clone(),
        other => panic!("expected a gauge, got {other:?}"),
    };
    let all = store.read_metrics(TimeRange::ALL).unwrap();
    assert_eq!(all.len(), 3, "one group per partition");
    let mut split_points = Vec::new();
    for part in &all {
        assert_eq!(part.resource, group.resource);
        assert_eq!(part.scope_metrics[0].scope, group.scope_metrics[0].scope);
        let m = &part.scope_metrics[0].metrics[0];
        assert_eq!(descriptor(m), descriptor(&split));
        split_points.extend(points(m));
    }
    assert_eq!(split_points, points(&split));

    let middle = store
        .read_metrics(TimeRange::new(BASE + HOUR, BASE + 2 * HOUR))
        .unwrap();
    let metrics: &Vec<_> = &middle[0].scope_metrics[0].metrics;
    assert_eq!((middle.len(), metrics.len()), (1, 1));
    assert_eq!(descriptor(&metrics[0]), descriptor(&split));
    assert_eq!(points(&metrics[0]), vec![points(&split)[1].clone()]);

    let first_hour: Vec<ResourceMetrics> = store
        .read_metrics(TimeRange::new(BASE, BASE + HOUR))
        .unwrap();
    let names: Vec<&str> = first_hour[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["split", "other"]);
}

#[test]
fn logs_without_time_are_filed_by_observed_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.write(Batch::Logs(rich_logs(BASE))).unwrap();
    let observed_only = BASE + 2 * SECOND;
    let read = store
        .read_logs(TimeRange::new(observed_only, observed_only + 1))
        .unwrap();
    let records = &read[0].scope_logs[0].log_records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].time_unix_nano, 0);
    assert_eq!(records[0].observed_time_unix_nano, observed_only);
    assert!(store.read_logs(TimeRange::new(0, 1)).unwrap().is_empty());
}

#[test]
fn concurrent_submits_share_commits_and_all_become_durable() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 25;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (on_durable, acks) = ack_channel();
    let release = hold_writer(&store);
    let commits_before = store.stats().unwrap().commits;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let store = store.clone();
            let on_durable = &on_durable;
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let time = BASE + (t * PER_THREAD + i) * SECOND;
                    store
                        .submit(Batch::Traces(spans_at(&[time])), on_durable())
                        .unwrap();
                }
            });
        }
    });
    drop(release);
    for _ in 0..THREADS * PER_THREAD {
        acks.recv_timeout(ACK_TIMEOUT).unwrap().unwrap();
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.spans, THREADS * PER_THREAD);
    let commits = stats.commits - commits_before;
    assert!(commits < THREADS * PER_THREAD, "{commits} commits");
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()),
        (0..THREADS * PER_THREAD)
            .map(|i| BASE + i * SECOND)
            .collect::<Vec<_>>()
    );
}

#[test]
fn concurrent_blocking_writes_are_all_durable() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let time = BASE + (t * PER_THREAD + i) * SECOND;
                    store.write(Batch::Traces(spans_at(&[time]))).unwrap();
                }
            });
        }
    });
    let stats = store.stats().unwrap();
    assert_eq!(stats.spans, THREADS * PER_THREAD);
    assert!(stats.commits <= THREADS * PER_THREAD);
}

#[test]
fn one_commit_merges_batches_into_one_block_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (on_durable, acks) = ack_channel();
    let release = hold_writer(&store);
    for i in 0..20 {
        let batch = spans_at(&[BASE + i * SECOND, BASE + HOUR + i * SECOND]);
        store.submit(Batch::Traces(batch), on_durable()).unwrap();
    }
    drop(release);
    for _ in 0..20 {
        acks.recv_timeout(ACK_TIMEOUT).unwrap().unwrap();
    }
    drop(store);
    let db = raw_database(dir.path());
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let table = txn.open_table(schema::block_table(Signal::Traces)).unwrap();
    assert_eq!(table.len().unwrap(), 2);
}

#[test]
fn a_full_queue_answers_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions::default()
            .with_compaction_idle(None)
            .with_max_pending_bytes(1),
    )
    .unwrap();
    let (on_durable, acks) = ack_channel();
    let release = hold_writer(&store);
    // The queue is empty, so even a batch above the limit is taken...
    store
        .submit(Batch::Traces(rich_spans(BASE)), on_durable())
        .unwrap();
    // ...but nothing more until it is durable.
    match store.submit(Batch::Logs(rich_logs(BASE)), on_durable()) {
        Err(SubmitError::Overloaded {
            pending_bytes,
            limit: 1,
        }) => assert!(pending_bytes > 1),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    drop(release);
    acks.recv_timeout(ACK_TIMEOUT).unwrap().unwrap();
    store.write(Batch::Logs(rich_logs(BASE))).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.spans, stats.log_records), (12, 3));
    assert!(
        acks.try_recv().is_err(),
        "the refused batch was never acknowledged"
    );
}

#[test]
fn after_shutdown_submits_are_refused_and_reads_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let other_handle = store.clone();
    let (on_durable, acks) = ack_channel();
    for i in 0..10 {
        store
            .submit(Batch::Traces(spans_at(&[BASE + i])), on_durable())
            .unwrap();
    }
    store.shutdown().unwrap();
    // Shutdown drained the queue before returning.
    for _ in 0..10 {
        acks.try_recv().unwrap().unwrap();
    }
    assert!(matches!(
        other_handle.submit(Batch::Traces(vec![]), on_durable()),
        Err(SubmitError::Closed)
    ));
    assert!(matches!(
        store.write(Batch::Logs(vec![])),
        Err(WriteError::Rejected(SubmitError::Closed))
    ));
    store.shutdown().unwrap();
    assert_eq!(other_handle.read_traces(TimeRange::ALL).unwrap().len(), 10);
    assert_eq!(other_handle.stats().unwrap().spans, 10);
}

#[test]
fn dropping_the_last_handle_commits_what_was_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let (on_durable, acks) = ack_channel();
    {
        let store = open(dir.path());
        store.write(Batch::Metrics(rich_metrics(BASE))).unwrap();
        for i in 0..10 {
            store
                .submit(Batch::Traces(spans_at(&[BASE + i * SECOND])), on_durable())
                .unwrap();
        }
        // No shutdown: the handle just goes away.
    }
    for _ in 0..10 {
        acks.recv_timeout(ACK_TIMEOUT).unwrap().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()).len(),
        10
    );
    assert_eq!(
        store.read_metrics(TimeRange::ALL).unwrap(),
        rich_metrics(BASE)
    );
    assert_eq!(store.stats().unwrap().spans, 10);
}

#[test]
fn a_panicking_callback_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .submit(
            Batch::Traces(spans_at(&[BASE])),
            Box::new(|_| panic!("callback panic (expected by this test)")),
        )
        .unwrap();
    store.write(Batch::Traces(spans_at(&[BASE + 1]))).unwrap();
    assert_eq!(store.stats().unwrap().spans, 2);
    store.shutdown().unwrap();
}

#[test]
fn a_store_of_another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).shutdown().unwrap();
    {
        let db = raw_database(dir.path());
        let txn = db.begin_write().unwrap();
        txn.open_table(schema::META)
            .unwrap()
            .insert(schema::META_FORMAT_VERSION, 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let error = Store::open(
        dir.path(),
        StoreOptions::default().with_compaction_idle(None),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            OpenError::UnsupportedFormat {
                found: 99,
                supported: 4,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("version 99") && message.contains("version 4"),
        "{message}"
    );
}

#[test]
fn opening_twice_or_in_an_unusable_place_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let error = Store::open(
        dir.path(),
        StoreOptions::default().with_compaction_idle(None),
    )
    .unwrap_err();
    assert!(matches!(error, OpenError::AlreadyOpen { .. }), "{error}");
    drop(store);

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let error = Store::open(
        file.join("data"),
        StoreOptions::default().with_compaction_idle(None),
    )
    .unwrap_err();
    assert!(matches!(error, OpenError::Io { .. }), "{error}");
    assert!(error.to_string().contains("a-file"), "{error}");
}

#[test]
fn a_damaged_block_is_a_read_error() {
    fn segment(dir: &Path) -> std::path::PathBuf {
        segment_path(dir, Signal::Traces, BASE)
    }
    let damages: [fn(&Path); 4] = [
        // A flipped bit in the payload: the zstd checksum catches it.
        |dir| {
            let entry = index_entries(dir, Signal::Traces)[0].1;
            let mut bytes = std::fs::read(segment(dir)).unwrap();
            bytes[(entry.offset + u64::from(entry.len) / 2) as usize] ^= 0xff;
            std::fs::write(segment(dir), bytes).unwrap();
        },
        // The segment file lost its end.
        |dir| {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(segment(dir))
                .unwrap();
            file.set_len(10).unwrap();
        },
        // A header in the index with an unknown codec.
        |dir| {
            damage_index_entry(dir, Signal::Traces, BlockKey::first_in(BASE), |v| {
                v[0] = 200
            })
        },
        // A cut index entry.
        |dir| {
            damage_index_entry(dir, Signal::Traces, BlockKey::first_in(BASE), |v| {
                v.truncate(10)
            })
        },
    ];
    for damage in damages {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.write(Batch::Traces(rich_spans(BASE))).unwrap();
            store.write(Batch::Logs(rich_logs(BASE))).unwrap();
        }
        damage(dir.path());
        let store = open(dir.path());
        match store.read_traces(TimeRange::ALL) {
            Err(ReadError::CorruptBlock {
                signal: Signal::Traces,
                partition_start,
                seq: 0,
                ..
            }) => assert_eq!(partition_start, BASE),
            other => panic!("expected CorruptBlock, got {other:?}"),
        }
        // The damage is contained: other signals and other time ranges still read.
        assert_eq!(store.read_logs(TimeRange::ALL).unwrap(), rich_logs(BASE));
        assert!(
            store
                .read_traces(TimeRange::new(0, BASE))
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn segment_files_hold_exactly_the_indexed_bytes_back_to_back() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for i in 0..5 {
            store
                .write(Batch::Traces(spans_at(&[BASE + i, BASE + HOUR + i])))
                .unwrap();
        }
        store.write(Batch::Logs(rich_logs(BASE))).unwrap();
        let stats = store.stats().unwrap();
        let segments = [
            segment_path(dir.path(), Signal::Traces, BASE),
            segment_path(dir.path(), Signal::Traces, BASE + HOUR),
            segment_path(dir.path(), Signal::Logs, BASE),
        ];
        let redb_file = file_len(&dir.path().join(schema::DATABASE_FILE));
        let segment_bytes: u64 = segments.iter().map(|p| file_len(p)).sum();
        assert_eq!(stats.disk_bytes, redb_file + segment_bytes);
    }
    for (signal, partition, blocks) in [
        (Signal::Traces, BASE, 5),
        (Signal::Traces, BASE + HOUR, 5),
        (Signal::Logs, BASE, 1),
    ] {
        let entries: Vec<IndexEntry> = index_entries(dir.path(), signal)
            .into_iter()
            .filter(|(key, _)| key.partition_start == partition)
            .map(|(_, entry)| entry)
            .collect();
        assert_eq!(entries.len(), blocks);
        let mut end = 0;
        for entry in entries {
            assert_eq!(entry.offset, end, "{signal} {partition}");
            end = entry.end();
        }
        assert_eq!(file_len(&segment_path(dir.path(), signal, partition)), end);
    }
}

#[test]
fn an_unacknowledged_segment_tail_is_cut_off_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let segment = segment_path(dir.path(), Signal::Traces, BASE);
    let mut written = Vec::new();
    {
        let store = open(dir.path());
        for i in 0..3 {
            written.push(BASE + i * SECOND);
            store
                .write(Batch::Traces(spans_at(&[BASE + i * SECOND])))
                .unwrap();
        }
        store.write(Batch::Logs(rich_logs(BASE))).unwrap();
    }
    let acknowledged = file_len(&segment);
    // What a crash between the append and the index commit leaves: a torn block at the end.
    let mut bytes = std::fs::read(&segment).unwrap();
    let torn = bytes[..bytes.len() / 2].to_vec();
    bytes.extend_from_slice(&torn);
    std::fs::write(&segment, &bytes).unwrap();
    {
        let store = open(dir.path());
        assert_eq!(file_len(&segment), acknowledged);
        assert_eq!(
            span_times(&store.read_traces(TimeRange::ALL).unwrap()),
            written
        );
        assert_eq!(store.read_logs(TimeRange::ALL).unwrap(), rich_logs(BASE));
        // Later appends start at the cut and read back with the rest.
        written.push(BASE + 10 * SECOND);
        store
            .write(Batch::Traces(spans_at(&[BASE + 10 * SECOND])))
            .unwrap();
    }
    let store = open(dir.path());
    assert_holds_spans_at(&store, &written);
}

#[test]
fn a_segment_file_without_index_entries_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path())
        .write(Batch::Traces(spans_at(&[BASE])))
        .unwrap();
    // Left by a crash before the first commit of a new partition: no index entry refers to them.
    let orphans = [
        segment_path(dir.path(), Signal::Traces, BASE + HOUR),
        segment_path(dir.path(), Signal::Logs, BASE),
    ];
    for orphan in &orphans {
        std::fs::write(orphan, b"half a block").unwrap();
    }
    let foreign = schema::segment_dir(dir.path(), Signal::Traces).join("notes.txt");
    std::fs::write(&foreign, b"not otelite's").unwrap();

    let store = open(dir.path());
    for orphan in &orphans {
        assert!(!orphan.exists(), "{}", orphan.display());
    }
    assert!(
        foreign.exists(),
        "files otelite did not write are left alone"
    );
    assert!(segment_path(dir.path(), Signal::Traces, BASE).exists());
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()),
        [BASE]
    );
    assert!(store.read_logs(TimeRange::ALL).unwrap().is_empty());
    store.write(Batch::Logs(rich_logs(BASE))).unwrap();
    assert_eq!(store.read_logs(TimeRange::ALL).unwrap(), rich_logs(BASE));
}

#[test]
fn an_index_entry_past_the_end_of_its_segment_is_a_read_error() {
    let past_the_end: [fn(&mut IndexEntry, u64); 3] = [
        |entry, file_len| entry.offset = file_len + 100,
        |entry, file_len| entry.offset = file_len - 1,
        // A length no file here has: refused before anything is allocated for it.
        |entry, _| entry.len = u32::MAX,
    ];
    for damage in past_the_end {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store
                .write(Batch::Traces(spans_at(&[BASE, BASE + HOUR])))
                .unwrap();
            store.write(Batch::Logs(rich_logs(BASE))).unwrap();
        }
        let segment = segment_path(dir.path(), Signal::Traces, BASE);
        let len = file_len(&segment);
        damage_index_entry(
            dir.path(),
            Signal::Traces,
            BlockKey::first_in(BASE),
            |value| {
                let mut entry = IndexEntry::parse(value).unwrap();
                damage(&mut entry, len);
                *value = entry.encode().to_vec();
            },
        );

        let store = open(dir.path());
        assert_eq!(file_len(&segment), len, "recovery keeps the bytes");
        match store.read_traces(TimeRange::ALL) {
            Err(ReadError::CorruptBlock {
                signal: Signal::Traces,
                partition_start,
                seq: 0,
                reason,
            }) => {
                assert_eq!(partition_start, BASE);
                assert!(reason.contains("bytes long"), "{reason}");
            }
            other => panic!("expected CorruptBlock, got {other:?}"),
        }
        let later = TimeRange::new(BASE + HOUR, u64::MAX);
        assert_eq!(
            span_times(&store.read_traces(later).unwrap()),
            [BASE + HOUR]
        );
        assert_eq!(store.read_logs(TimeRange::ALL).unwrap(), rich_logs(BASE));
        store.write(Batch::Traces(spans_at(&[BASE + 1]))).unwrap();
        let first_hour = TimeRange::new(BASE + 1, BASE + HOUR);
        assert_eq!(
            span_times(&store.read_traces(first_hour).unwrap()),
            [BASE + 1]
        );
    }
}

/// Asserts that every segment file holds exactly its partition's indexed payloads, back to
/// back from offset 0, and that no segment file lacks index entries (closed store).
fn assert_segments_hold_only_indexed_bytes(dir: &Path) {
    for signal in Signal::ALL {
        let mut ends = std::collections::BTreeMap::<(u64, u32), u64>::new();
        for (key, entry) in index_entries(dir, signal) {
            let end = ends.entry((key.partition_start, entry.file)).or_default();
            assert_eq!(entry.offset, *end, "{signal} block {key:?}");
            *end = entry.end();
        }
        let mut files = std::collections::BTreeMap::new();
        for file in std::fs::read_dir(schema::segment_dir(dir, signal)).unwrap() {
            let file = file.unwrap();
            let name = schema::segment_file(file.file_name().to_str().unwrap()).unwrap();
            files.insert(name, file.metadata().unwrap().len());
        }
        assert_eq!(
            files, ends,
            "{signal}: segment file lengths vs. indexed ends"
        );
    }
}

/// A batch's label and the outcome its callback was told.
type LabelledAck<L> = (L, Result<(), WriteError>);

/// Labelled acknowledgements: each callback sends its label and outcome, in the order the
/// writer calls them.
fn labelled_acks<L: Send + 'static>() -> (impl Fn(L) -> OnDurable, mpsc::Receiver<LabelledAck<L>>) {
    let (tx, rx) = mpsc::channel();
    let make = move |label| -> OnDurable {
        let tx = tx.clone();
        Box::new(move |result| tx.send((label, result)).unwrap())
    };
    (make, rx)
}

#[test]
fn a_round_takes_batches_only_while_their_partitions_stay_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (on_durable, acks) = labelled_acks();
    let scattered: Vec<u64> = (0..writer::MAX_ROUND_PARTITIONS as u64 + 8)
        .map(|hour| BASE - (hour + 1) * HOUR)
        .collect();
    let release = hold_writer(&store);
    let commits_before = store.stats().unwrap().commits;
    store
        .submit(Batch::Traces(spans_at(&[BASE])), on_durable("first"))
        .unwrap();
    store
        .submit(Batch::Traces(spans_at(&scattered)), on_durable("scattered"))
        .unwrap();
    store
        .submit(Batch::Logs(rich_logs(BASE)), on_durable("second"))
        .unwrap();
    drop(release);
    let order: Vec<&str> = (0..3)
        .map(|_| {
            let (label, result) = acks.recv_timeout(ACK_TIMEOUT).unwrap();
            result.unwrap();
            label
        })
        .collect();
    // The two small batches share a round ahead of the scattered one, which gets its own.
    assert_eq!(order, ["first", "second", "scattered"]);
    assert_eq!(store.stats().unwrap().commits - commits_before, 2);

    // Many small batches, each in a partition of its own, are cut into rounds at the bound.
    let release = hold_writer(&store);
    let commits_before = store.stats().unwrap().commits;
    for hour in 0..writer::MAX_ROUND_PARTITIONS as u64 + 1 {
        let batch = Batch::Metrics(vec![metrics_at(&[BASE + hour * HOUR])]);
        store.submit(batch, on_durable("small")).unwrap();
    }
    drop(release);
    for _ in 0..writer::MAX_ROUND_PARTITIONS + 1 {
        acks.recv_timeout(ACK_TIMEOUT).unwrap().1.unwrap();
    }
    assert_eq!(store.stats().unwrap().commits - commits_before, 2);
    store.shutdown().unwrap();
    assert_eq!(store.stats().unwrap().spans, 1 + scattered.len() as u64);
    drop(store);
    assert_segments_hold_only_indexed_bytes(dir.path());
}

/// One resource with one gauge holding a point per time.
fn metrics_at(times: &[u64]) -> ResourceMetrics {
    ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![gauge("g", times)],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn a_batch_that_cannot_be_written_fails_alone() {
    const BAD: u64 = BASE + 5 * HOUR;
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    faults.inject(Fault::always(Step::Append, std::io::ErrorKind::Other).in_partition(BAD));
    let store = Store::open_with_faults(
        dir.path(),
        StoreOptions::default().with_compaction_idle(None),
        faults,
    )
    .unwrap();
    let (on_durable, acks) = labelled_acks();
    let release = hold_writer(&store);
    let mut good = Vec::new();
    for i in 0..7 {
        let time = BASE + i * SECOND;
        if i == 4 {
            // Its first span lies in a partition the others also write: the round appends
            // there first, then fails in BAD.
            store
                .submit(Batch::Traces(spans_at(&[time, BAD])), on_durable("bad"))
                .unwrap();
        } else {
            good.push(time);
            store
                .submit(Batch::Traces(spans_at(&[time])), on_durable("good"))
                .unwrap();
        }
    }
    drop(release);
    let mut failed = Vec::new();
    for _ in 0..7 {
        match acks.recv_timeout(ACK_TIMEOUT).unwrap() {
            ("good", result) => result.unwrap(),
            (label, result) => failed.push((label, result.unwrap_err().to_string())),
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "bad");
    assert!(failed[0].1.contains("injected"), "{failed:?}");
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()),
        good
    );
    // The writer carries on for everyone, and the failed rounds left no bytes behind.
    store.write(Batch::Logs(rich_logs(BASE))).unwrap();
    drop(store);
    assert_segments_hold_only_indexed_bytes(dir.path());
    let store = open(dir.path());
    assert_holds_spans_at(&store, &good);
}

#[test]
fn a_store_that_cannot_write_at_all_fails_every_batch_in_three_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let store = Store::open_with_faults(
        dir.path(),
        StoreOptions::default().with_compaction_idle(None),
        faults.clone(),
    )
    .unwrap();
    let (on_durable, acks) = labelled_acks();
    let release = hold_writer(&store);
    faults.inject(Fault::always(Step::Sync, std::io::ErrorKind::Other));
    for i in 0..16 {
        store
            .submit(Batch::Traces(spans_at(&[BASE + i])), on_durable("any"))
            .unwrap();
    }
    drop(release);
    for _ in 0..16 {
        assert!(acks.recv_timeout(ACK_TIMEOUT).unwrap().1.is_err());
    }
    // The round, then each half: both halves failing means no single batch is to blame.
    assert_eq!(faults.hits(), 3);
    faults.clear();
    store.write(Batch::Traces(spans_at(&[BASE + 100]))).unwrap();
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()),
        [BASE + 100]
    );
    drop(store);
    assert_segments_hold_only_indexed_bytes(dir.path());
}

/// Writes one span at `time` as soon as the store takes it again, checking that every refusal
/// meanwhile is a typed I/O error; panics if it takes longer than [`ACK_TIMEOUT`].
fn write_once_writable(store: &Store, time: u64) {
    let deadline = std::time::Instant::now() + ACK_TIMEOUT;
    loop {
        match store.write(Batch::Traces(spans_at(&[time]))) {
            Ok(()) => return,
            Err(WriteError::DiskFull { .. } | WriteError::Io { .. } | WriteError::Index { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("the store did not recover: {error}"),
        }
    }
}

/// One case of [`a_round_failing_at_any_step_acknowledges_only_what_is_durable`]: the `skip +
/// 1`-th `step` of a round of six batches fails with `kind`, once (`times: Some(1)`) or until
/// cleared.
fn check_failing_round(step: Step, skip: u32, kind: std::io::ErrorKind, times: Option<u32>) {
    let case = format!("{step:?} failing after {skip} with {kind:?}, {times:?} times");
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::none();
    let store = Store::open_with_faults(
        dir.path(),
        StoreOptions::default().with_compaction_idle(None),
        faults.clone(),
    )
    .unwrap();
    let mut acknowledged = Vec::new();
    for hour in 0..3 {
        store
            .write(Batch::Traces(spans_at(&[BASE + hour * HOUR])))
            .unwrap();
        acknowledged.push(BASE + hour * HOUR);
    }
    let (on_durable, acks) = labelled_acks();
    let release = hold_writer(&store);
    let mut fault = Fault::always(step, kind).after(skip);
    if let Some(times) = times {
        fault = fault.times(times);
    }
    faults.inject(fault);
    for i in 0..6 {
        let time = BASE + (i % 3) * HOUR + (i + 1) * SECOND;
        store
            .submit(Batch::Traces(spans_at(&[time])), on_durable(time))
            .unwrap();
    }
    drop(release);
    let mut failed = 0;
    for _ in 0..6 {
        let (time, result) = acks.recv_timeout(ACK_TIMEOUT).unwrap();
        match result {
            Ok(()) => acknowledged.push(time),
            Err(error) => {
                failed += 1;
                if kind == std::io::ErrorKind::StorageFull {
                    assert!(error.is_disk_full(), "{case}: {error:?}");
                    assert!(
                        error.to_string().contains("disk is full"),
                        "{case}: {error}"
                    );
                } else {
                    assert!(matches!(error, WriteError::Io { .. }), "{case}: {error:?}");
                }
            }
        }
    }
    assert!(faults.hits() > 0, "{case}: the fault never fired");
    if times.is_none() {
        assert_eq!(failed, 6, "{case}");
        let Health::Failing {
            error,
            since_unix_nano,
        } = store.health()
        else {
            panic!("{case}: the store reports it can write");
        };
        assert!(error.is_disk_full(), "{case}: {error:?}");
        // While the disk stays full, later batches fail too, promptly and typed, and the
        // failure keeps its start time.
        let error = store
            .write(Batch::Traces(spans_at(&[BASE + 10 * SECOND])))
            .unwrap_err();
        assert!(error.is_disk_full(), "{case}: {error:?}");
        assert!(
            matches!(store.health(), Health::Failing { since_unix_nano: since, .. } if since == since_unix_nano),
            "{case}"
        );
        faults.clear();
    }
    // The store writes again by itself, and reads see every acknowledged span.
    write_once_writable(&store, BASE + 20 * SECOND);
    acknowledged.push(BASE + 20 * SECOND);
    assert!(store.health().is_writing(), "{case}");
    let stored = span_times(&store.read_traces(TimeRange::ALL).unwrap());
    for time in &acknowledged {
        assert!(
            stored.contains(time),
            "{case}: acknowledged {time} is missing"
        );
    }
    store.shutdown().unwrap();
    drop(store);
    assert!(acks.try_recv().is_err(), "{case}: a callback ran twice");
    // Reopened, with every acknowledged span and nothing half-written.
    assert_segments_hold_only_indexed_bytes(dir.path());
    let store = open(dir.path());
    let stored = span_times(&store.read_traces(TimeRange::ALL).unwrap());
    for time in &acknowledged {
        assert!(stored.contains(time), "{case}: acknowledged {time} is lost");
    }
    assert_eq!(store.stats().unwrap().spans, stored.len() as u64, "{case}");
}

#[test]
fn a_round_failing_at_any_step_acknowledges_only_what_is_durable() {
    use std::io::ErrorKind::{Other, StorageFull};
    for (step, skip) in [
        (Step::Append, 0),
        (Step::Append, 2),
        (Step::Sync, 0),
        (Step::Sync, 2),
        (Step::IndexWrite, 0),
        (Step::IndexWrite, 2),
        // A durable commit syncs the index file once.
        (Step::IndexSync, 0),
    ] {
        check_failing_round(step, skip, Other, Some(1));
        check_failing_round(step, skip, StorageFull, None);
    }
}

/// Durable ingest throughput; run with
/// `cargo test -p otelite-storage --release -- --ignored --nocapture ingest_throughput`.
#[test]
#[ignore = "benchmark"]
fn ingest_throughput() {
    const BATCHES: u64 = 2_000;
    const SPANS_PER_BATCH: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let batches: Vec<Batch> = (0..BATCHES)
        .map(|b| {
            let times: Vec<u64> = (0..SPANS_PER_BATCH)
                .map(|i| BASE + (b * SPANS_PER_BATCH + i) * 1_000)
                .collect();
            Batch::Traces(spans_at(&times))
        })
        .collect();
    let (on_durable, acks) = ack_channel();
    let started = std::time::Instant::now();
    for batch in batches {
        while let Err(SubmitError::Overloaded { .. }) = store.submit(batch.clone(), on_durable()) {
            std::thread::yield_now();
        }
    }
    for _ in 0..BATCHES {
        acks.recv_timeout(ACK_TIMEOUT).unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let stats = store.stats().unwrap();
    println!(
        "{} spans in {elapsed:?}: {:.0} spans/s, {} commits, {} bytes on disk, {:.1} B/span",
        stats.spans,
        stats.spans as f64 / elapsed.as_secs_f64(),
        stats.commits,
        stats.disk_bytes,
        stats.disk_bytes as f64 / stats.spans as f64
    );
}

#[test]
fn a_handle_past_its_deadline_reads_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .write(Batch::Traces(spans_at(&[BASE, BASE + HOUR])))
        .unwrap();
    store.write(Batch::Metrics(rich_metrics(BASE))).unwrap();
    store.write(Batch::Logs(rich_logs(BASE))).unwrap();

    let late = store.until(Some(std::time::Instant::now() - Duration::from_millis(1)));
    let interrupted = |result: Result<(), ReadError>| {
        assert!(matches!(result, Err(ReadError::Interrupted)), "{result:?}");
    };
    interrupted(late.read_traces(TimeRange::ALL).map(drop));
    interrupted(late.read_metrics(TimeRange::ALL).map(drop));
    interrupted(
        late.find_traces(&TraceQuery::new(TimeRange::ALL, 10))
            .map(drop),
    );
    interrupted(late.select_metrics(TimeRange::ALL, &mut |_| true).map(drop));
    interrupted(
        late.find_logs(&LogQuery::new(TimeRange::ALL), &mut |_| {
            ControlFlow::Continue(())
        })
        .map(drop),
    );
    interrupted(late.trace(&[1; 16]).map(drop));
    assert!(
        ReadError::Interrupted.to_string().contains("deadline"),
        "the error says why"
    );

    // The store itself, and a handle with time left, read everything.
    let timely = store.until(Some(std::time::Instant::now() + Duration::from_secs(60)));
    assert_eq!(
        span_times(&timely.read_traces(TimeRange::ALL).unwrap()).len(),
        2
    );
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()).len(),
        2
    );
    assert_eq!(
        store.read_metrics(TimeRange::ALL).unwrap(),
        rich_metrics(BASE)
    );
    // Writes through a late handle are not affected.
    late.write(Batch::Traces(spans_at(&[BASE + 1]))).unwrap();
    assert_eq!(
        span_times(&store.read_traces(TimeRange::ALL).unwrap()).len(),
        3
    );
}

#[test]
fn a_search_whose_filters_rule_out_every_block_still_stops_at_the_deadline() {
    // Compacted blocks answer these searches from their filters alone: no payload is read, so
    // only the check where each partition begins can stop them.
    let dir = tempfile::tempdir().unwrap();
    let store = compacting(dir.path());
    store
        .write(Batch::Traces(spans_at(&[BASE, BASE + HOUR])))
        .unwrap();
    store.write(Batch::Logs(rich_logs(BASE))).unwrap();
    wait_for_compaction(&store, Signal::Traces);
    wait_for_compaction(&store, Signal::Logs);
    let late = store.until(Some(std::time::Instant::now() - Duration::from_millis(1)));
    let no_block = LogQuery {
        words: vec!["nowhere-to-be-found".to_string()],
        ..LogQuery::new(TimeRange::ALL)
    };
    assert!(matches!(
        late.log_volume(&no_block, HOUR),
        Err(ReadError::Interrupted)
    ));
    let mut no_trace = TraceQuery::new(TimeRange::ALL, 10);
    no_trace.attributes = vec![("nowhere".to_string(), "to be found".to_string())];
    assert!(matches!(
        late.find_traces(&no_trace),
        Err(ReadError::Interrupted)
    ));
    // Without the deadline both simply find nothing.
    assert!(store.find_traces(&no_trace).unwrap().is_empty());
    assert_eq!(
        store.log_volume(&no_block, HOUR).unwrap(),
        LogVolume::default()
    );
}
