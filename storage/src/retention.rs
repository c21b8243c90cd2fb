//! Retention: keeps each signal's data within its age limit and the store within its disk
//! budgets by dropping whole hour partitions, oldest first.
//!
//! A drop, in the order `docs/format.md` ("Retention") prescribes: raise the signal's *floor*
//! (data older than it is refused from then on: `Store::retention_floor`), rotate the
//! partition's files so the writer's next round appends to a fresh one, then in ONE durable
//! redb transaction delete the partition's index entries, their filters, its catalog keys and
//! its share of the item counts, and record the floor; only then retire its files, through the
//! same pins that keep compacted files for the readers still reading them. A file the writer
//! may still append to, or that an entry committed meanwhile references, stays (the next pass
//! drops it). A crash after the commit leaves files no entry references, which the next open
//! removes. The partition of each signal holding its newest data is never dropped for size,
//! so the budget holds within one partition's worth.
//!
//! The compactor thread runs this between its runs, so a drop and a compaction never race;
//! this module must never acknowledge anything or block the writer beyond sharing redb's one
//! write transaction at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redb::{Database, Durability, ReadableTable};

use crate::block::IndexEntry;
use crate::files::Files;
use crate::schema::{self, BlockKey, PARTITION_NS};
use crate::{Signal, WriteError};

/// How long each signal keeps its data and how much disk the store may use. The default keeps
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Per signal (in [`Signal::ALL`] order): data older than this is dropped, a whole hour
    /// partition once all of it is older.
    pub max_age: [Option<Duration>; 3],
    /// Bytes the data directory (index and segment files) may take in all.
    pub max_disk: Option<u64>,
    /// Per signal (in [`Signal::ALL`] order): bytes its segment files may take.
    pub max_disk_per_signal: [Option<u64>; 3],
}

impl Retention {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.max_age.iter().any(Option::is_some)
            || self.max_disk.is_some()
            || self.max_disk_per_signal.iter().any(Option::is_some)
    }
}

/// What retention has dropped so far, and the floors it keeps.
#[derive(Debug, Default)]
pub(crate) struct Floors {
    /// Per signal: items timed before this are refused (their partition is gone).
    floors: [AtomicU64; 3],
    /// Per signal: partitions dropped since the store opened.
    dropped: [AtomicU64; 3],
}

impl Floors {
    pub fn floor(&self, signal: Signal) -> u64 {
        self.floors[index(signal)].load(Ordering::SeqCst)
    }

    pub fn dropped(&self, signal: Signal) -> u64 {
        self.dropped[index(signal)].load(Ordering::SeqCst)
    }

    /// The floors recorded in `meta` (at open).
    pub fn load(&self, db: &Database) -> Result<(), redb::Error> {
        use redb::ReadableDatabase;
        let txn = db.begin_read()?;
        let meta = match txn.open_table(schema::META) {
            Ok(meta) => meta,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for signal in Signal::ALL {
            if let Some(floor) = meta.get(floor_key(signal))? {
                self.floors[index(signal)].store(floor.value(), Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn raise(&self, signal: Signal, floor: u64) {
        self.floors[index(signal)].fetch_max(floor, Ordering::SeqCst);
    }
}

fn index(signal: Signal) -> usize {
    Signal::ALL
        .iter()
        .position(|s| *s == signal)
        .expect("every signal is in ALL")
}

/// The `meta` key of a signal's retention floor.
pub(crate) fn floor_key(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "retention_floor_traces",
        Signal::Metrics => "retention_floor_metrics",
        Signal::Logs => "retention_floor_logs",
    }
}

/// The segment files on disk, per signal and partition: (file number, path, bytes).
type OnDisk = BTreeMap<u64, Vec<(u32, PathBuf, u64)>>;

fn on_disk(data_dir: &Path, signal: Signal) -> std::io::Result<OnDisk> {
    let mut partitions = OnDisk::new();
    let dir = schema::segment_dir(data_dir, signal);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(partitions),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some((partition, file)) = entry.file_name().to_str().and_then(schema::segment_file)
        else {
            continue;
        };
        // The compactor removes the files it replaced while this lists them: one gone is not
        // on disk any more.
        let bytes = match entry.metadata() {
            Ok(metadata) => metadata.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        partitions
            .entry(partition)
            .or_default()
            .push((file, entry.path(), bytes));
    }
    Ok(partitions)
}

/// One pass: drops what `policy` says must go at `now_unix_nano`. Returns the partitions
/// dropped, as (signal, partition start).
pub(crate) fn enforce(
    db: &Database,
    data_dir: &Path,
    files: &Files,
    floors: &Floors,
    policy: &Retention,
    now_unix_nano: u64,
) -> Result<Vec<(Signal, u64)>, WriteError> {
    let io = |e: std::io::Error| WriteError::io("list the segment files of", data_dir, e);
    let mut disk: Vec<OnDisk> = Signal::ALL
        .iter()
        .map(|s| on_disk(data_dir, *s))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let mut dropped = Vec::new();
    let mut drop =
        |signal: Signal, partition: u64, disk: &mut Vec<OnDisk>| -> Result<(), WriteError> {
            let on_disk = disk[index(signal)].remove(&partition).unwrap_or_default();
            drop_partition(db, data_dir, files, floors, signal, partition, &on_disk)?;
            dropped.push((signal, partition));
            Ok(())
        };
    // Age: every partition wholly older than the signal's cut.
    for signal in Signal::ALL {
        let Some(age) = policy.max_age[index(signal)] else {
            continue;
        };
        let cut = now_unix_nano.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX));
        let old: Vec<u64> = disk[index(signal)]
            .keys()
            .copied()
            .filter(|p| p.saturating_add(PARTITION_NS) <= cut)
            .collect();
        for partition in old {
            drop(signal, partition, &mut disk)?;
        }
    }
    // Size, per signal, then in all: the oldest partition goes first, never a signal's newest.
    let size = |d: &OnDisk| d.values().flatten().map(|(_, _, b)| *b).sum::<u64>();
    let oldest = |d: &OnDisk| {
        let newest = d.keys().next_back().copied();
        d.keys().next().copied().filter(|p| Some(*p) != newest)
    };
    for signal in Signal::ALL {
        let Some(budget) = policy.max_disk_per_signal[index(signal)] else {
            continue;
        };
        while size(&disk[index(signal)]) > budget {
            let Some(partition) = oldest(&disk[index(signal)]) else {
                break;
            };
            drop(signal, partition, &mut disk)?;
        }
    }
    if let Some(budget) = policy.max_disk {
        let index_bytes = std::fs::metadata(data_dir.join(schema::DATABASE_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        while index_bytes + disk.iter().map(size).sum::<u64>() > budget {
            let candidate = Signal::ALL
                .iter()
                .filter_map(|s| oldest(&disk[index(*s)]).map(|p| (p, *s)))
                .min();
            let Some((partition, signal)) = candidate else {
                break;
            };
            drop(signal, partition, &mut disk)?;
        }
    }
    Ok(dropped)
}

/// Drops one partition of `signal` whose files on disk are `on_disk`.
fn drop_partition(
    db: &Database,
    data_dir: &Path,
    files: &Files,
    floors: &Floors,
    signal: Signal,
    partition: u64,
    on_disk: &[(u32, PathBuf, u64)],
) -> Result<(), WriteError> {
    let index_error = |e: redb::Error| WriteError::index(&data_dir.join(schema::DATABASE_FILE), e);
    let floor = partition.saturating_add(PARTITION_NS);
    floors.raise(signal, floor);
    // The writer's next round for this partition (data validated before the floor rose) goes
    // to a fresh file, so every file numbered before it can go once nothing references it.
    let fresh = files
        .rotate(db, signal, partition)
        .map_err(index_error)?
        .map(|(_, compacted)| compacted);
    let mut txn = db.begin_write().map_err(|e| index_error(e.into()))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| index_error(e.into()))?;
    let mut retired = Vec::new();
    {
        let first = BlockKey::first_in(partition).encode();
        let last = BlockKey::last_in(partition).encode();
        let mut table = txn
            .open_table(schema::block_table(signal))
            .map_err(|e| index_error(e.into()))?;
        let mut keys = Vec::new();
        let mut items = 0u64;
        for entry in table
            .range::<&[u8; BlockKey::LEN]>(&first..=&last)
            .map_err(|e| index_error(e.into()))?
        {
            let (key, value) = entry.map_err(|e| index_error(e.into()))?;
            if let Ok(entry) = IndexEntry::parse(value.value()) {
                items += entry.header.item_count;
            }
            keys.push(*key.value());
        }
        for key in &keys {
            table.remove(key).map_err(|e| index_error(e.into()))?;
        }
        let per_block: &[schema::BlockTable] = match signal {
            Signal::Traces => &[schema::TRACE_ID_FILTERS, schema::TRACE_SEARCH_FILTERS],
            Signal::Logs => &[schema::LOG_FILTERS],
            Signal::Metrics => &[schema::METRIC_BLOCK_SERIES],
        };
        for definition in per_block {
            let mut filters = txn
                .open_table(*definition)
                .map_err(|e| index_error(e.into()))?;
            for key in &keys {
                filters.remove(key).map_err(|e| index_error(e.into()))?;
            }
        }
        let catalog = match signal {
            Signal::Traces => Some(schema::TRACE_OPERATIONS),
            Signal::Logs => Some(schema::LOG_STREAMS),
            Signal::Metrics => None,
        };
        if let Some(definition) = catalog {
            let mut catalog = txn
                .open_table(definition)
                .map_err(|e| index_error(e.into()))?;
            let from = partition.to_be_bytes();
            let to = floor.to_be_bytes();
            let doomed: Vec<Vec<u8>> = catalog
                .range::<&[u8]>(&from[..]..&to[..])
                .map_err(|e| index_error(e.into()))?
                .map(|entry| entry.map(|(key, _)| key.value().to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| index_error(e.into()))?;
            for key in doomed {
                catalog
                    .remove(key.as_slice())
                    .map_err(|e| index_error(e.into()))?;
            }
        }
        if signal == Signal::Metrics {
            let mut catalog = txn
                .open_table(schema::METRIC_SERIES)
                .map_err(|e| index_error(e.into()))?;
            let from = schema::series_key(partition, 0);
            let to = schema::series_key(partition, u32::MAX);
            let doomed: Vec<Vec<u8>> = catalog
                .range::<&[u8]>(&from[..]..=&to[..])
                .map_err(|e| index_error(e.into()))?
                .map(|entry| entry.map(|(key, _)| key.value().to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| index_error(e.into()))?;
            for key in doomed {
                catalog
                    .remove(key.as_slice())
                    .map_err(|e| index_error(e.into()))?;
            }
        }
        let mut counts = txn
            .open_table(schema::ITEM_COUNTS)
            .map_err(|e| index_error(e.into()))?;
        let key = schema::item_count_key(signal);
        let count = counts
            .get(key)
            .map_err(|e| index_error(e.into()))?
            .map_or(0, |v| v.value());
        counts
            .insert(key, count.saturating_sub(items))
            .map_err(|e| index_error(e.into()))?;
        let mut meta = txn
            .open_table(schema::META)
            .map_err(|e| index_error(e.into()))?;
        let recorded = meta
            .get(floor_key(signal))
            .map_err(|e| index_error(e.into()))?
            .map_or(0, |v| v.value());
        meta.insert(floor_key(signal), recorded.max(floor))
            .map_err(|e| index_error(e.into()))?;
        // What an entry committed meanwhile references, or the writer may still append to,
        // stays for the next pass.
        let mut referenced = std::collections::HashSet::new();
        for entry in table
            .range::<&[u8; BlockKey::LEN]>(&first..=&last)
            .map_err(|e| index_error(e.into()))?
        {
            let (_, value) = entry.map_err(|e| index_error(e.into()))?;
            if let Ok(entry) = IndexEntry::parse(value.value()) {
                referenced.insert(entry.file);
            }
        }
        for (file, path, _) in on_disk {
            if fresh.is_some_and(|fresh| *file >= fresh)
                || referenced.contains(file)
                || files.in_use_by_writer(signal, partition, *file)
            {
                continue;
            }
            retired.push(path.clone());
        }
    }
    txn.commit().map_err(|e| index_error(e.into()))?;
    floors.dropped[index(signal)].fetch_add(1, Ordering::SeqCst);
    tracing::info!(%signal, partition, files = retired.len(), "retention dropped a partition");
    files.retire(retired);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::test_fixtures::{rich_logs, rich_spans};
    use crate::{Batch, LogQuery, Store, StoreOptions, TimeRange};

    const HOUR: u64 = PARTITION_NS;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    fn logs_at(time: u64, records: usize) -> Batch {
        let mut logs = rich_logs(time);
        let template = logs[0].scope_logs[0].log_records[0].clone();
        logs[0].scope_logs[0].log_records = (0..records)
            .map(|i| {
                let mut record = template.clone();
                record.time_unix_nano = time + i as u64;
                record.observed_time_unix_nano = time + i as u64;
                let noise = (i as u128 * 0x9e37_79b9_7f4a_7c15 + time as u128)
                    .wrapping_mul(0x2545_f491_4f6c_dd1d);
                record.trace_id = noise.to_le_bytes().to_vec();
                record.body = Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            format!("request {noise:032x} took {} ms", noise % 997),
                        ),
                    ),
                });
                record
            })
            .collect();
        Batch::Logs(logs)
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_count(store: &Store, range: TimeRange) -> usize {
        let mut n = 0;
        store
            .find_logs(&LogQuery::new(range), |_| {
                n += 1;
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        n
    }

    fn segment_files(dir: &Path, signal: Signal) -> Vec<u64> {
        let mut partitions: Vec<u64> = on_disk(dir, signal).unwrap().into_keys().collect();
        partitions.dedup();
        partitions
    }

    #[test]
    fn partitions_older_than_the_age_limit_go_with_their_indexes_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let now = now();
        let old = schema::partition_start(now - 50 * HOUR);
        let recent = schema::partition_start(now);
        let retention = Retention {
            max_age: [None, None, Some(Duration::from_secs(36 * 3600))],
            ..Retention::default()
        };
        let store = Store::open(
            dir.path(),
            StoreOptions::default()
                .with_compaction_idle(Some(Duration::ZERO))
                .with_retention(retention, Duration::from_millis(50)),
        )
        .unwrap();
        store.write(logs_at(old + 10, 100)).unwrap();
        store.write(logs_at(recent + 10, 50)).unwrap();
        store.write(Batch::Traces(rich_spans(old + 10))).unwrap();
        let spans = store.stats().unwrap().spans;
        // A pass may run while the old batch is being written: it then drops the partition
        // around the writer's file, and the next pass drops what that write committed.
        wait_until("the old partition is dropped", || {
            store.retention_drops(Signal::Logs) >= 1
                && segment_files(dir.path(), Signal::Logs) == [recent]
                && store.stats().unwrap().log_records == 50
        });
        assert_eq!(log_count(&store, TimeRange::ALL), 50);
        assert_eq!(store.stats().unwrap().log_records, 50);
        assert_eq!(store.retention_floor(Signal::Logs), old + HOUR);
        // Traces have no limit: untouched.
        assert_eq!(store.stats().unwrap().spans, spans);
        assert_eq!(segment_files(dir.path(), Signal::Traces), [old]);
        assert!(
            store
                .log_streams(TimeRange::new(old, old + HOUR))
                .unwrap()
                .is_empty()
        );
        // The floor survives a reopen.
        store.shutdown().unwrap();
        drop(store);
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.retention_floor(Signal::Logs), old + HOUR);
        assert_eq!(log_count(&store, TimeRange::ALL), 50);
    }

    #[test]
    fn the_disk_budget_holds_under_sustained_ingest_and_the_newest_data_stays() {
        let dir = tempfile::tempdir().unwrap();
        let budget = 3 << 20;
        let retention = Retention {
            max_disk: Some(budget),
            ..Retention::default()
        };
        let store = Store::open(
            dir.path(),
            StoreOptions::default()
                .with_compaction_idle(Some(Duration::ZERO))
                .with_retention(retention, Duration::from_millis(20)),
        )
        .unwrap();
        // A reader searching all along: drops under it never show as damage.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (store, stop) = (store.clone(), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::SeqCst) {
                    store
                        .find_logs(&LogQuery::new(TimeRange::ALL), |_| {
                            std::ops::ControlFlow::Continue(())
                        })
                        .expect("a search while retention drops partitions");
                    store
                        .read_logs(TimeRange::ALL)
                        .expect("a scan while retention drops");
                    reads += 1;
                }
                reads
            })
        };
        let first = schema::partition_start(now() - 40 * HOUR);
        let mut largest_partition = 0u64;
        let mut ingested_bytes = 0u64;
        for hour in 0..40 {
            let partition = first + hour * HOUR;
            for batch in 0..4 {
                store
                    .write(logs_at(partition + batch * 1_000_000, 2_000))
                    .unwrap();
            }
            // Give retention its pass, as a steady ingest would.
            std::thread::sleep(Duration::from_millis(60));
            let sizes = on_disk(dir.path(), Signal::Logs).unwrap();
            if let Some(files) = sizes.get(&partition) {
                let bytes = files.iter().map(|(_, _, b)| *b).sum::<u64>();
                largest_partition = largest_partition.max(bytes);
                ingested_bytes += bytes;
            }
        }
        wait_until("compaction and retention settle", || {
            store.compaction_backlog() == 0 && {
                let usage = store.disk_usage().unwrap();
                usage.index + usage.signals.iter().sum::<u64>() <= budget + largest_partition
            }
        });
        stop.store(true, Ordering::SeqCst);
        assert!(reader.join().expect("the reader saw no damage") > 0);
        let usage = store.disk_usage().unwrap();
        let total = usage.index + usage.signals.iter().sum::<u64>();
        eprintln!(
            "retention: {ingested_bytes} bytes ingested over 40 hours, {total} on disk at the end \
             (budget {budget}, largest partition {largest_partition}, index {}), {} partitions dropped",
            usage.index,
            store.retention_drops(Signal::Logs)
        );
        assert!(
            total <= budget + largest_partition,
            "{total} bytes on disk, budget {budget} + one partition {largest_partition}"
        );
        assert!(
            ingested_bytes > 3 * budget,
            "the test must outrun the budget: {ingested_bytes} bytes ingested"
        );
        assert!(store.retention_drops(Signal::Logs) > 0);
        // The newest hour is all there.
        let newest = first + 39 * HOUR;
        assert_eq!(
            log_count(&store, TimeRange::new(newest, newest + HOUR)),
            8_000
        );
        // What the files say is what the store says.
        let measured: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
            + crate::segment::disk_bytes(dir.path()).unwrap();
        assert!(measured <= budget + largest_partition + 4096, "{measured}");
    }
}
