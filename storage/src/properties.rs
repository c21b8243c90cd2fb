//! Property tests of the store as a whole.
//!
//! - Model-based, in the manner of redb's fuzz tests: random sequences of writes (alone or
//!   several sharing a commit), reads and scans of random time ranges, stats, clean reopens and
//!   reopens after dropping the last handle, every answer checked against an in-memory model.
//! - Damage to a closed store's files: segment files with bytes flipped, cut short, extended,
//!   replaced or removed, and index entries altered. The store must still open, read every
//!   undamaged partition exactly, answer `ReadError::CorruptBlock` (never a panic, never altered
//!   data) for what is damaged, keep the bytes of every intact index entry, and take new writes.
//!
//! Bounded for CI; `PROPTEST_CASES=2000 cargo test -p otelite-storage properties` runs longer.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::logs::v1::ScopeLogs;
use opentelemetry_proto::tonic::metrics::v1::ScopeMetrics;
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
use proptest::prelude::*;
use redb::{ReadableDatabase, ReadableTable};

use super::*;
use crate::block::IndexEntry;
use crate::schema::BlockKey;
use crate::signal::SignalGroup;
use crate::test_fixtures::*;

const HOUR: u64 = schema::PARTITION_NS;
/// 2025-01-01T10:00:00Z, on a partition boundary.
const BASE: u64 = 1_735_725_600 * SECOND;
/// The model's items fall into this many partitions from [`BASE`] on.
const PARTITIONS: u64 = 3;
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// One item as the comparisons see it: its time, and the protobuf of a group holding only it
/// (with its resource and scope, and for a data point its metric's descriptor), so that how the
/// store regroups items into blocks and groups does not matter.
type Item = (u64, Vec<u8>);

/// Every item of `groups`, sorted.
pub(crate) fn items_of<G: SignalGroup>(groups: &[G]) -> Vec<Item> {
    let mut items = Vec::new();
    for group in groups {
        let mut times = Vec::new();
        group.for_each_item_time(|time| times.push(time));
        for (wanted, time) in times.into_iter().enumerate() {
            let mut one = group.clone();
            let mut index = 0;
            one.retain_items(|_| {
                index += 1;
                index - 1 == wanted
            });
            items.push((time, one.encode_to_vec()));
        }
    }
    items.sort();
    items
}

fn batch_items(batch: &Batch) -> (Signal, Vec<Item>) {
    match batch {
        Batch::Traces(groups) => (Signal::Traces, items_of(groups)),
        Batch::Metrics(groups) => (Signal::Metrics, items_of(groups)),
        Batch::Logs(groups) => (Signal::Logs, items_of(groups)),
    }
}

fn signal_of(index: u8) -> Signal {
    Signal::ALL[usize::from(index) % 3]
}

/// The sorted items of `signal` stored in `range`.
fn read_items(store: &Store, signal: Signal, range: TimeRange) -> Result<Vec<Item>, ReadError> {
    Ok(match signal {
        Signal::Traces => items_of(&store.read_traces(range)?),
        Signal::Metrics => items_of(&store.read_metrics(range)?),
        Signal::Logs => items_of(&store.read_logs(range)?),
    })
}

/// The sorted items of the first `blocks` blocks a scan of `range` visits, and whether it
/// stopped early.
fn scan_items(store: &Store, signal: Signal, range: TimeRange, blocks: usize) -> (Vec<Item>, bool) {
    let mut items = Vec::new();
    let mut visited = 0;
    let mut stopped = false;
    let mut visit = |block_items: Vec<Item>| {
        items.extend(block_items);
        visited += 1;
        if visited == blocks {
            stopped = true;
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    match signal {
        Signal::Traces => store.scan_traces(range, |g| visit(items_of(&g))),
        Signal::Metrics => store.scan_metrics(range, |g| visit(items_of(&g))),
        Signal::Logs => store.scan_logs(range, |g| visit(items_of(&g))),
    }
    .unwrap();
    items.sort();
    (items, stopped)
}

/// Whether every item of `part` (sorted) is in `whole` (sorted), as many times as in `part`.
fn is_sub_multiset(part: &[Item], whole: &[Item]) -> bool {
    let mut rest = whole.iter();
    part.iter()
        .all(|item| rest.any(|candidate| candidate == item))
}

/// A batch of one signal with items at the given offsets from [`BASE`]: the rich fixture at the
/// first offset (items over a few seconds, several resources and scopes), or one group with an
/// item at each offset.
#[derive(Debug, Clone)]
struct Write {
    signal: u8,
    rich: bool,
    offsets: Vec<u64>,
}

impl Write {
    fn batch(&self) -> Batch {
        let times: Vec<u64> = self.offsets.iter().map(|offset| BASE + offset).collect();
        match (signal_of(self.signal), self.rich) {
            (Signal::Traces, true) => Batch::Traces(rich_spans(times[0])),
            (Signal::Metrics, true) => Batch::Metrics(rich_metrics(times[0])),
            (Signal::Logs, true) => Batch::Logs(rich_logs(times[0])),
            (Signal::Traces, false) => {
                let mut group = rich_spans(0).remove(0);
                group.scope_spans = vec![ScopeSpans {
                    scope: group.scope_spans[0].scope.clone(),
                    spans: times.iter().map(|&t| span_at("s", t)).collect(),
                    schema_url: String::new(),
                }];
                Batch::Traces(vec![group])
            }
            (Signal::Metrics, false) => {
                let mut group = rich_metrics(0).remove(0);
                group.scope_metrics = vec![ScopeMetrics {
                    scope: None,
                    metrics: vec![gauge("g", &times)],
                    schema_url: String::new(),
                }];
                Batch::Metrics(vec![group])
            }
            (Signal::Logs, false) => {
                let mut group = rich_logs(0).remove(0);
                group.scope_logs = vec![ScopeLogs {
                    scope: None,
                    log_records: times.iter().map(|&t| log_at(t, t)).collect(),
                    schema_url: String::new(),
                }];
                Batch::Logs(vec![group])
            }
        }
    }
}

/// An offset from [`BASE`] within the model's partitions, often a few seconds before a
/// partition boundary so that batches straddle two partitions.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..PARTITIONS * HOUR - 10 * SECOND,
        (1..PARTITIONS, 0..5 * SECOND).prop_map(|(p, before)| p * HOUR - before),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    (
        any::<u8>(),
        any::<bool>(),
        prop::collection::vec(offset(), 1..6),
    )
        .prop_map(|(signal, rich, offsets)| Write {
            signal,
            rich,
            offsets,
        })
}

/// A time range around the model's partitions: none, one item's worth, a few seconds, hours.
fn range() -> impl Strategy<Value = TimeRange> {
    let start = (0..(PARTITIONS + 2) * HOUR).prop_map(|s| BASE - HOUR + s);
    let len = prop_oneof![Just(0), 1..10 * SECOND, 1..2 * HOUR];
    prop_oneof![
        1 => Just(TimeRange::ALL),
        6 => (start, len).prop_map(|(start, len)| TimeRange::new(start, start + len)),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Write(Write),
    /// Submitted one after the other before waiting for any: they may share a commit.
    WriteTogether(Vec<Write>),
    Read {
        signal: u8,
        range: TimeRange,
    },
    Scan {
        signal: u8,
        range: TimeRange,
        blocks: usize,
    },
    /// `shutdown`, then open again.
    Reopen,
    /// Drop the last handle (which commits what was submitted), then open again.
    DropAndReopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => write().prop_map(Step::Write),
        2 => prop::collection::vec(write(), 2..6).prop_map(Step::WriteTogether),
        4 => (any::<u8>(), range()).prop_map(|(signal, range)| Step::Read { signal, range }),
        2 => (any::<u8>(), range(), 1..4usize)
            .prop_map(|(signal, range, blocks)| Step::Scan { signal, range, blocks }),
        1 => Just(Step::Reopen),
        1 => Just(Step::DropAndReopen),
    ]
}

/// What the store should hold: every item written, per signal, sorted.
#[derive(Default)]
struct Model {
    items: [Vec<Item>; 3],
}

impl Model {
    fn add(&mut self, batch: &Batch) {
        let (signal, items) = batch_items(batch);
        let all = &mut self.items[signal_index(signal)];
        all.extend(items);
        all.sort();
    }

    fn in_range(&self, signal: Signal, range: TimeRange) -> Vec<Item> {
        self.items[signal_index(signal)]
            .iter()
            .filter(|(time, _)| range.contains(*time))
            .cloned()
            .collect()
    }

    fn count(&self, signal: Signal) -> u64 {
        self.items[signal_index(signal)].len() as u64
    }
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

fn open(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default().with_compaction_idle(None)).unwrap()
}

fn run_model(steps: &[Step]) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let mut model = Model::default();
    for step in steps {
        match step {
            Step::Write(write) => {
                let batch = write.batch();
                model.add(&batch);
                store.write(batch).unwrap();
            }
            Step::WriteTogether(writes) => {
                let (done, acks) = mpsc::channel();
                for write in writes {
                    let batch = write.batch();
                    model.add(&batch);
                    let done = done.clone();
                    let on_durable: OnDurable = Box::new(move |result| done.send(result).unwrap());
                    store.submit(batch, on_durable).unwrap();
                }
                for _ in writes {
                    acks.recv_timeout(ACK_TIMEOUT).unwrap().unwrap();
                }
            }
            Step::Read { signal, range } => {
                let signal = signal_of(*signal);
                let got = read_items(&store, signal, *range).unwrap();
                assert_eq!(got, model.in_range(signal, *range), "{signal} in {range:?}");
            }
            Step::Scan {
                signal,
                range,
                blocks,
            } => {
                let signal = signal_of(*signal);
                let (got, stopped) = scan_items(&store, signal, *range, *blocks);
                let want = model.in_range(signal, *range);
                if stopped {
                    assert!(is_sub_multiset(&got, &want), "{signal} scan of {range:?}");
                } else {
                    assert_eq!(got, want, "{signal} scan of {range:?}");
                }
            }
            Step::Reopen => {
                store.shutdown().unwrap();
                drop(store);
                store = open(dir.path());
            }
            Step::DropAndReopen => {
                drop(store);
                store = open(dir.path());
            }
        }
        let stats = store.stats().unwrap();
        assert_eq!(
            (stats.spans, stats.metric_points, stats.log_records),
            (
                model.count(Signal::Traces),
                model.count(Signal::Metrics),
                model.count(Signal::Logs)
            ),
            "stats after {step:?}"
        );
    }
}

/// What each (signal, partition) of the damage tests' store holds.
type Expected = Vec<(Signal, u64, Vec<Item>)>;

/// A copy, in `dir`, of the store the damage tests start from (built once: writing it costs
/// ten fsyncs), and what it holds.
fn damage_fixture(dir: &Path) -> Expected {
    static TEMPLATE: std::sync::OnceLock<(tempfile::TempDir, Expected)> =
        std::sync::OnceLock::new();
    let (template, expected) = TEMPLATE.get_or_init(|| {
        let template = tempfile::tempdir().unwrap();
        let expected = write_damage_fixture(template.path());
        (template, expected)
    });
    copy_dir(template.path(), dir);
    expected.clone()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Traces in two partitions (three blocks each), metrics in one, logs in the other; closed.
fn write_damage_fixture(dir: &Path) -> Expected {
    let store = open(dir);
    let mut batches = Vec::new();
    for i in 0..3 {
        batches.push(Batch::Traces(rich_spans(BASE + i * 10 * SECOND)));
        batches.push(Batch::Traces(rich_spans(BASE + HOUR + i * 10 * SECOND)));
    }
    batches.push(Batch::Metrics(rich_metrics(BASE)));
    batches.push(Batch::Logs(rich_logs(BASE + HOUR)));
    for batch in &batches {
        store.write(batch.clone()).unwrap();
    }
    store.shutdown().unwrap();
    let mut expected = Expected::new();
    for signal in Signal::ALL {
        for partition in [BASE, BASE + HOUR] {
            let mut items: Vec<Item> = batches
                .iter()
                .map(batch_items)
                .filter(|(s, _)| *s == signal)
                .flat_map(|(_, items)| items)
                .filter(|(time, _)| schema::partition_start(*time) == partition)
                .collect();
            items.sort();
            expected.push((signal, partition, items));
        }
    }
    expected
}

/// The segment files of a store, in a fixed order, with their (signal, partition).
fn segment_files(dir: &Path) -> Vec<(PathBuf, Signal, u64)> {
    let mut files = Vec::new();
    for signal in Signal::ALL {
        let segments = schema::segment_dir(dir, signal);
        for entry in std::fs::read_dir(&segments).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let partition = schema::segment_file(&name).unwrap().0;
            files.push((path, signal, partition));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Damage to one segment file, chosen by index modulo the number of files.
#[derive(Debug, Clone)]
enum SegmentDamage {
    Flip { file: usize, at: usize, xor: u8 },
    Cut { file: usize, at: usize },
    Extend { file: usize, bytes: Vec<u8> },
    Replace { file: usize, bytes: Vec<u8> },
    Remove { file: usize },
}

fn segment_damage() -> impl Strategy<Value = SegmentDamage> {
    let bytes = prop::collection::vec(any::<u8>(), 0..256);
    prop_oneof![
        4 => (any::<usize>(), any::<usize>(), 1..=255u8)
            .prop_map(|(file, at, xor)| SegmentDamage::Flip { file, at, xor }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(file, at)| SegmentDamage::Cut { file, at }),
        2 => (any::<usize>(), bytes.clone())
            .prop_map(|(file, bytes)| SegmentDamage::Extend { file, bytes }),
        1 => (any::<usize>(), bytes).prop_map(|(file, bytes)| SegmentDamage::Replace { file, bytes }),
        1 => any::<usize>().prop_map(|file| SegmentDamage::Remove { file }),
    ]
}

/// Applies `damage`; returns the (signal, partition) of the file it touched.
fn apply_segment_damage(dir: &Path, damage: &SegmentDamage) -> (Signal, u64) {
    let files = segment_files(dir);
    let pick = |file: &usize| &files[file % files.len()];
    let (path, signal, partition) = match damage {
        SegmentDamage::Flip { file, .. }
        | SegmentDamage::Cut { file, .. }
        | SegmentDamage::Extend { file, .. }
        | SegmentDamage::Replace { file, .. }
        | SegmentDamage::Remove { file } => pick(file),
    };
    let mut bytes = std::fs::read(path).unwrap_or_default();
    match damage {
        SegmentDamage::Flip { at, xor, .. } if !bytes.is_empty() => {
            let len = bytes.len();
            bytes[at % len] ^= xor;
        }
        SegmentDamage::Flip { .. } => {}
        SegmentDamage::Cut { at, .. } => bytes.truncate(at % (bytes.len() + 1)),
        SegmentDamage::Extend { bytes: more, .. } => bytes.extend_from_slice(more),
        SegmentDamage::Replace { bytes: new, .. } => bytes.clone_from(new),
        SegmentDamage::Remove { .. } => {
            let _ = std::fs::remove_file(path);
            return (*signal, *partition);
        }
    }
    if path.exists() {
        std::fs::write(path, bytes).unwrap();
    }
    (*signal, *partition)
}

/// Damage to one index entry's value, chosen by index modulo the number of entries.
#[derive(Debug, Clone)]
enum EntryDamage {
    Flip {
        entry: usize,
        at: usize,
        xor: u8,
    },
    Cut {
        entry: usize,
        at: usize,
    },
    Extend {
        entry: usize,
        bytes: Vec<u8>,
    },
    /// The payload's offset in its segment file set to `value` (a flip in its upper bytes).
    Offset {
        entry: usize,
        value: u64,
    },
    /// The payload's length set to `value`.
    Len {
        entry: usize,
        value: u32,
    },
}

fn entry_damage() -> impl Strategy<Value = EntryDamage> {
    // The fixture's segment files are a few KiB long: offsets and lengths around that size
    // point elsewhere into them, or just past their end.
    prop_oneof![
        3 => (any::<usize>(), 0..4096u64)
            .prop_map(|(entry, value)| EntryDamage::Offset { entry, value }),
        2 => (any::<usize>(), 0..4096u32).prop_map(|(entry, value)| EntryDamage::Len { entry, value }),
        4 => (any::<usize>(), any::<usize>(), 1..=255u8)
            .prop_map(|(entry, at, xor)| EntryDamage::Flip { entry, at, xor }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(entry, at)| EntryDamage::Cut { entry, at }),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(entry, bytes)| EntryDamage::Extend { entry, bytes }),
    ]
}

/// Every index entry of a closed store: (signal, key, raw value), in a fixed order.
fn raw_entries(dir: &Path) -> Vec<(Signal, BlockKey, Vec<u8>)> {
    let db = redb::Database::create(dir.join(schema::DATABASE_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let mut entries = Vec::new();
    for signal in Signal::ALL {
        let table = txn.open_table(schema::block_table(signal)).unwrap();
        for entry in table.iter().unwrap() {
            let (key, value) = entry.unwrap();
            entries.push((
                signal,
                BlockKey::decode(key.value()),
                value.value().to_vec(),
            ));
        }
    }
    entries
}

/// Applies `damage` in a closed store; returns the damaged entry's signal and key.
fn apply_entry_damage(dir: &Path, damage: &EntryDamage) -> (Signal, BlockKey) {
    let entries = raw_entries(dir);
    let index = match damage {
        EntryDamage::Flip { entry, .. }
        | EntryDamage::Cut { entry, .. }
        | EntryDamage::Extend { entry, .. }
        | EntryDamage::Offset { entry, .. }
        | EntryDamage::Len { entry, .. } => entry % entries.len(),
    };
    let (signal, key, mut value) = entries[index].clone();
    match damage {
        EntryDamage::Flip { at, xor, .. } => {
            let len = value.len();
            value[at % len] ^= xor;
        }
        EntryDamage::Cut { at, .. } => value.truncate(at % value.len()),
        EntryDamage::Extend { bytes, .. } => value.extend_from_slice(bytes),
        EntryDamage::Offset { value: offset, .. } => {
            value[32..40].copy_from_slice(&offset.to_le_bytes());
        }
        EntryDamage::Len { value: len, .. } => value[40..44].copy_from_slice(&len.to_le_bytes()),
    }
    let db = redb::Database::create(dir.join(schema::DATABASE_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(schema::block_table(signal)).unwrap();
        table.insert(&key.encode(), value.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    (signal, key)
}

/// After damage: reads of `expected`'s partitions either give exactly (or, when `subset`, part
/// of) what was written or say `CorruptBlock`, and only a `damaged` partition may fail; a new
/// write in a fresh partition reads back; the store opens once more.
fn check_after_damage(dir: &Path, expected: &Expected, damaged: &[(Signal, u64)], subset: bool) {
    let store = open(dir);
    for (signal, partition, items) in expected {
        let range = TimeRange::new(*partition, partition + HOUR);
        let is_damaged = damaged.contains(&(*signal, *partition));
        match read_items(&store, *signal, range) {
            Ok(got) if subset && is_damaged => assert!(
                is_sub_multiset(&got, items),
                "{signal} {partition}: a damaged index served data that was never written"
            ),
            Ok(got) => assert_eq!(&got, items, "{signal} {partition}"),
            Err(ReadError::CorruptBlock { .. }) if is_damaged => {}
            Err(e) => panic!("{signal} {partition} (damaged: {is_damaged}): {e}"),
        }
    }
    let fresh = Batch::Traces(rich_spans(BASE + 5 * HOUR));
    let (_, fresh_items) = batch_items(&fresh);
    store.write(fresh).unwrap();
    let range = TimeRange::new(BASE + 5 * HOUR, BASE + 6 * HOUR);
    assert_eq!(
        read_items(&store, Signal::Traces, range).unwrap(),
        fresh_items
    );
    drop(store);
    drop(open(dir));
}

/// The payload bytes each intact entry of `before` references, keyed by the entry.
fn referenced_bytes(dir: &Path, entries: &[(Signal, BlockKey, Vec<u8>)]) -> Vec<Option<Vec<u8>>> {
    entries
        .iter()
        .map(|(signal, key, value)| {
            let entry = IndexEntry::parse(value).ok()?;
            let path = schema::segment_dir(dir, *signal)
                .join(schema::segment_file_name(key.partition_start, 0));
            let file = std::fs::read(path).ok()?;
            file.get(entry.offset as usize..entry.end() as usize)
                .map(<[u8]>::to_vec)
        })
        .collect()
}

proptest! {
    #![proptest_config(proptest_config(48))]

    #[test]
    fn the_store_agrees_with_a_model(steps in prop::collection::vec(step(), 1..24)) {
        run_model(&steps);
    }

    #[test]
    fn damaged_segment_files_are_read_errors_and_the_rest_reads_exactly(
        damages in prop::collection::vec(segment_damage(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let expected = damage_fixture(dir.path());
        let damaged: Vec<(Signal, u64)> = damages
            .iter()
            .map(|damage| apply_segment_damage(dir.path(), damage))
            .collect();
        check_after_damage(dir.path(), &expected, &damaged, false);
    }

    #[test]
    fn a_damaged_index_entry_loses_at_most_its_own_block(damage in entry_damage()) {
        let dir = tempfile::tempdir().unwrap();
        let expected = damage_fixture(dir.path());
        let before = raw_entries(dir.path());
        let bytes_before = referenced_bytes(dir.path(), &before);
        let (signal, key) = apply_entry_damage(dir.path(), &damage);
        check_after_damage(dir.path(), &expected, &[(signal, key.partition_start)], true);
        // Recovery trims segment files by the index: a damaged entry must not make it cut
        // bytes that intact entries reference.
        let bytes_after = referenced_bytes(dir.path(), &before);
        for (i, (entry, (was, is))) in before.iter().zip(bytes_before.iter().zip(&bytes_after)).enumerate() {
            let (entry_signal, entry_key, _) = entry;
            if (*entry_signal, *entry_key) != (signal, key) {
                prop_assert!(
                    was == is,
                    "entry {} ({} {:?}) lost its bytes: {:?} before, {:?} after",
                    i, entry_signal, entry_key, was.as_ref().map(Vec::len), is.as_ref().map(Vec::len)
                );
            }
        }
    }
}

#[test]
fn a_damaged_last_entry_does_not_make_recovery_cut_the_blocks_before_it() {
    // The last of three blocks in a partition now claims to start inside the second: trimming
    // the segment file to the end it claims would destroy most of the intact second block.
    let dir = tempfile::tempdir().unwrap();
    let expected = damage_fixture(dir.path());
    let before = raw_entries(dir.path());
    let bytes_before = referenced_bytes(dir.path(), &before);
    let (signal, key) = apply_entry_damage(
        dir.path(),
        &EntryDamage::Offset {
            entry: 2,
            value: 100,
        },
    );
    assert_eq!(
        (signal, key),
        (
            Signal::Traces,
            BlockKey {
                partition_start: BASE,
                seq: 2
            }
        )
    );
    check_after_damage(dir.path(), &expected, &[(signal, BASE)], true);
    let bytes_after = referenced_bytes(dir.path(), &before);
    assert!(
        bytes_after[..2] == bytes_before[..2],
        "the intact blocks lost bytes: {:?} bytes before, {:?} after",
        bytes_before[..2]
            .iter()
            .map(|b| b.as_ref().map(Vec::len))
            .collect::<Vec<_>>(),
        bytes_after[..2]
            .iter()
            .map(|b| b.as_ref().map(Vec::len))
            .collect::<Vec<_>>(),
    );
}
