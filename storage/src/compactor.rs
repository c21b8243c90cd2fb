//! The compactor: a background thread that rewrites a partition's row blocks (codec 1, as the
//! writer stores requests) into columnar blocks: spans grouped by trace (codec 2), the way Tempo
//! turns its WAL into blocks; log records in time order (codec 3); metric points in per-series
//! chunks (codec 4), numbering the series new to the partition in its catalog.
//!
//! A partition is compacted once its row blocks have been left alone for the idle delay, or
//! sooner when they add up to a run's worth of bytes. A run: rotate the partition's files
//! (`files.rs`), so the writer appends elsewhere; read up to [`StoreOptions::compaction_run_bytes`]
//! of the oldest row blocks; gather their spans by trace, order the traces by start and cut
//! them into blocks of at most `span_block::MAX_SPANS_PER_BLOCK` spans; write those to a new
//! segment file and sync it; then, in ONE durable redb transaction, delete the row blocks'
//! entries and filters and insert the new blocks' entries, trace-id filters, search filters and
//! catalog keys; only then retire the files nothing references any more. A crash before the
//! commit leaves an unreferenced new file (removed at the next open); after it, unreferenced old
//! files (the same). Readers see a partition through one snapshot, so every span exactly once.
//!
//! This module must never acknowledge anything or block the writer beyond sharing redb's one
//! write transaction at a time.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Durability, ReadableTable};

use crate::block::{CODEC_ZSTD_PROTOBUF, IndexEntry};
use crate::files::Files;
use crate::index::Index;
use crate::log_block::{self, MAX_RECORDS_PER_BLOCK};
use crate::log_index::{LogCollector, LogFilter, resource_texts};
use crate::logs::record_time;
use crate::metric_block::{self, MAX_POINTS_PER_BLOCK};
use crate::metric_index;
use crate::metric_query::{Collected, MetricPoints, SeriesCollector};
use crate::reader::{self, read_block};
use crate::retention::{self, Floors, Retention};
use crate::schema::{self, BlockKey};
use crate::segment::{self, SegmentReader};
use crate::span_block::{self, MAX_SPANS_PER_BLOCK, Row, RowCollector, trace_key};
use crate::trace_index::{SearchFilter, trace_hash, trace_id_filter};
use crate::trace_query::service_name;
use crate::{ReadError, ResourceLogs, ResourceMetrics, ResourceSpans, Signal, WriteError};

/// zstd level of codec-2 columns. Measured on the load generator's spans: level 3 gives
/// 25.3 B/span, 6 gives 23.8, 9 gives 23.9 for more CPU.
const ZSTD_LEVEL: i32 = 6;

/// How often the compactor looks for work when nothing wakes it.
const TICK: Duration = Duration::from_millis(500);

/// The signals whose row blocks the compactor rewrites: traces into codec 2, logs into codec 3,
/// metrics into codec 4.
pub(crate) const COMPACTED: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

/// A signal's partition, by its start.
type Part = (Signal, u64);

/// Row data waiting per partition, and the thread's stop switch.
#[derive(Default)]
pub(crate) struct Pending {
    partitions: Mutex<HashMap<Part, Waiting>>,
    wake: Condvar,
    stop: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    last_write: Instant,
    bytes: u64,
}

impl Pending {
    /// The writer committed `bytes` (uncompressed) of row blocks to `partition`.
    pub fn wrote(&self, signal: Signal, partition: u64, bytes: u64) {
        let partition = (signal, partition);
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = partitions.entry(partition).or_insert(Waiting {
            last_write: Instant::now(),
            bytes: 0,
        });
        waiting.last_write = Instant::now();
        waiting.bytes += bytes;
    }

    /// Row blocks found at open: eligible at once.
    fn found(&self, partition: Part, bytes: u64, idle: Duration) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = partitions.entry(partition).or_insert(Waiting {
            last_write: Instant::now()
                .checked_sub(idle)
                .unwrap_or_else(Instant::now),
            bytes: 0,
        });
        waiting.bytes += bytes;
    }

    fn due(&self, idle: Duration, run_bytes: u64) -> Vec<Part> {
        let partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let mut due: Vec<Part> = partitions
            .iter()
            .filter(|(_, w)| {
                w.bytes > 0 && (w.last_write.elapsed() >= idle || w.bytes >= run_bytes)
            })
            .map(|(p, _)| *p)
            .collect();
        due.sort_unstable();
        due
    }

    /// A run over `partition` compacted `bytes` of row blocks; `left` says whether row blocks
    /// it saw remain for another run. What the writer added meanwhile stays counted, so it is
    /// compacted in its turn; a run that found nothing clears the count (nothing is waiting).
    fn compacted(&self, partition: Part, bytes: u64, left: bool) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(waiting) = partitions.get_mut(&partition) {
            waiting.bytes = if bytes == 0 && !left {
                0
            } else {
                waiting.bytes.saturating_sub(bytes)
            };
            if left && waiting.bytes == 0 {
                // Counted low (blocks found at open): look again next tick.
                waiting.bytes = 1;
            }
            if waiting.bytes == 0 {
                partitions.remove(&partition);
            }
        }
    }

    /// Uncompressed bytes of row blocks not yet compacted (as the writer and open counted them).
    pub fn backlog(&self) -> u64 {
        let partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        partitions.values().map(|w| w.bytes).sum()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn sleep(&self) {
        let partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        if !self.stopped() {
            let _ = self.wake.wait_timeout(partitions, TICK);
        }
    }
}

/// How the compactor behaves (from [`crate::StoreOptions`]).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `None`: never compact (the thread then only enforces retention).
    pub idle: Option<Duration>,
    pub run_bytes: u64,
    pub retention: Retention,
    pub retention_interval: Duration,
}

pub(crate) struct Compactor {
    index: Arc<Index>,
    data_dir: PathBuf,
    files: Arc<Files>,
    pending: Arc<Pending>,
    floors: Arc<Floors>,
    settings: Settings,
    zstd: zstd::bulk::Compressor<'static>,
}

/// Registers the row blocks already in the store, then starts the compactor thread.
pub(crate) fn spawn(
    index: Arc<Index>,
    data_dir: PathBuf,
    files: Arc<Files>,
    pending: Arc<Pending>,
    floors: Arc<Floors>,
    settings: Settings,
) -> std::io::Result<JoinHandle<()>> {
    if let Some(db) = index.get()
        && let Some(idle) = settings.idle
    {
        let ctx_db = || Ok(Arc::clone(&db));
        let ctx = reader::ReadContext {
            db: &ctx_db,
            data_dir: &data_dir,
            files: &files,
            deadline: None,
        };
        for signal in COMPACTED {
            let found = reader::walk_partitions(ctx, signal, crate::TimeRange::ALL, |blocks| {
                for (key, entry) in blocks {
                    if entry.header.codec == CODEC_ZSTD_PROTOBUF {
                        pending.found(
                            (signal, key.partition_start),
                            u64::from(entry.header.uncompressed_len),
                            idle,
                        );
                    }
                }
                Ok(std::ops::ControlFlow::Continue(()))
            });
            if let Err(error) = found {
                tracing::warn!(%error, %signal, "could not list the row blocks to compact; new ones are compacted as they come");
            }
        }
    }
    let compactor = Compactor {
        index,
        data_dir,
        files,
        pending,
        floors,
        settings,
        zstd: zstd::bulk::Compressor::new(
            std::env::var("OTELITE_COMPACT_LEVEL")
                .ok()
                .and_then(|l| l.parse().ok())
                .unwrap_or(ZSTD_LEVEL),
        )?,
    };
    std::thread::Builder::new()
        .name("otelite-compactor".into())
        .spawn(move || compactor.run())
}

/// Why a run did not complete. Nothing is lost either way: the row blocks stay until a run
/// commits.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("the index changed under the run; it is retried")]
    Raced,
}

impl Compactor {
    fn run(mut self) {
        let mut backoff = Duration::ZERO;
        let mut retained: Option<Instant> = None;
        while !self.pending.stopped() {
            self.files.sweep();
            if self.settings.retention.is_set()
                && retained.is_none_or(|at| at.elapsed() >= self.settings.retention_interval)
            {
                retained = Some(Instant::now());
                self.enforce_retention();
            }
            let due = match self.settings.idle {
                Some(idle) => self.pending.due(idle, self.settings.run_bytes),
                None => Vec::new(),
            };
            for partition in due {
                if self.pending.stopped() {
                    break;
                }
                match self.compact(partition) {
                    Ok((bytes, left)) => {
                        backoff = Duration::ZERO;
                        self.pending.compacted(partition, bytes, left);
                    }
                    Err(error) => {
                        let (signal, partition) = partition;
                        tracing::warn!(%error, %signal, partition, "compaction failed; retrying later");
                        backoff =
                            (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                        break;
                    }
                }
            }
            let until = Instant::now() + backoff;
            self.pending.sleep();
            while Instant::now() < until && !self.pending.stopped() {
                self.pending.sleep();
            }
        }
        self.files.sweep();
    }

    /// One retention pass (`retention.rs`); a failure is logged and retried next time.
    fn enforce_retention(&self) {
        let Some(db) = self.index.get() else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        if let Err(error) = retention::enforce(
            &db,
            &self.data_dir,
            &self.files,
            &self.floors,
            &self.settings.retention,
            now,
        ) {
            tracing::warn!(%error, "retention could not drop what it should; retrying later");
        }
    }

    /// One run over `partition`: returns the row bytes compacted and whether row blocks are
    /// left for another run.
    fn compact(&mut self, (signal, partition): Part) -> Result<(u64, bool), RunError> {
        let db = self.index.get().ok_or(RunError::Raced)?;
        let index_error = |e: redb::Error| WriteError::index(self.index.path(), e);
        let Some((old_row, out_file)) = self
            .files
            .rotate(&db, signal, partition)
            .map_err(index_error)?
        else {
            return Ok((0, false));
        };
        let (inputs, left) = {
            let _pin = self.files.pin();
            let blocks = reader::read_partition(
                &db,
                signal,
                Bound::Included(BlockKey::first_in(partition)),
                BlockKey::last_in(partition),
                |entry| entry.header.codec == CODEC_ZSTD_PROTOBUF && entry.file <= old_row,
            )?
            .map(|(_, blocks)| blocks)
            .unwrap_or_default();
            let mut bytes = 0;
            let take = blocks
                .iter()
                .take_while(|(_, entry)| {
                    let first = bytes == 0;
                    bytes += u64::from(entry.header.uncompressed_len);
                    first || bytes <= self.settings.run_bytes
                })
                .count();
            let left = take < blocks.len();
            let mut blocks = blocks;
            blocks.truncate(take);
            (blocks, left)
        };
        if inputs.is_empty() {
            return Ok((0, false));
        }
        let built = {
            let _pin = self.files.pin();
            let mut segments = SegmentReader::new(&self.data_dir, signal);
            match signal {
                Signal::Logs => {
                    let mut collector = LogCollector::default();
                    for (key, entry) in &inputs {
                        for group in read_block::<ResourceLogs>(&mut segments, *key, entry)? {
                            collector.add(group);
                        }
                    }
                    self.build_logs(collector)?
                }
                Signal::Metrics => {
                    let mut all = |_: &crate::MetricSeries| true;
                    let mut collector = SeriesCollector::new(&mut all, true);
                    for (key, entry) in &inputs {
                        for group in read_block::<ResourceMetrics>(&mut segments, *key, entry)? {
                            collector.add_group(group, &|_| true);
                        }
                    }
                    self.build_metrics(&db, partition, collector.finish(false))?
                }
                Signal::Traces => {
                    let mut collector = RowCollector::default();
                    for (key, entry) in &inputs {
                        for group in read_block::<ResourceSpans>(&mut segments, *key, entry)? {
                            collector.add(group);
                        }
                    }
                    self.build(collector)?
                }
            }
        };
        let payloads: Vec<&[u8]> = built.iter().map(|b| b.payload.as_slice()).collect();
        let offsets = segment::write_file(&self.data_dir, signal, partition, out_file, &payloads)?;
        let out_path = schema::segment_dir(&self.data_dir, signal)
            .join(schema::segment_file_name(partition, out_file));
        match self.swap(
            &db,
            (signal, partition),
            out_file,
            &inputs,
            &built,
            &offsets,
        ) {
            Ok(retired) => {
                self.files.retire(retired);
                let bytes = inputs
                    .iter()
                    .map(|(_, e)| u64::from(e.header.uncompressed_len))
                    .sum();
                Ok((bytes, left))
            }
            Err(error) => {
                segment::remove_files(&[out_path]);
                Err(error)
            }
        }
    }

    /// Cuts the collected spans into codec-2 blocks: traces ordered by their first span's start,
    /// a block closed at [`MAX_SPANS_PER_BLOCK`] spans.
    fn build(&mut self, collector: RowCollector) -> Result<Vec<Built>, RunError> {
        let RowCollector { groups, rows, .. } = collector;
        // Traces, each with its rows' positions and its first start.
        let mut traces: rustc_hash::FxHashMap<[u8; 16], (u64, Vec<usize>)> = Default::default();
        for (i, row) in rows.iter().enumerate() {
            let trace = traces
                .entry(trace_key(&row.span.trace_id))
                .or_insert((u64::MAX, Vec::new()));
            trace.0 = trace.0.min(row.span.start_time_unix_nano);
            trace.1.push(i);
        }
        let mut order: Vec<(u64, [u8; 16], Vec<usize>)> = traces
            .into_iter()
            .map(|(id, (start, rows))| (start, id, rows))
            .collect();
        order.sort_unstable_by_key(|(start, id, _)| (*start, *id));
        let mut rows: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
        let mut chunks: Vec<Vec<Row>> = vec![Vec::new()];
        for (_, _, positions) in order {
            for i in positions {
                if chunks.last().expect("one").len() >= MAX_SPANS_PER_BLOCK {
                    chunks.push(Vec::new());
                }
                chunks
                    .last_mut()
                    .expect("one")
                    .push(rows[i].take().expect("each row once"));
            }
        }
        let mut built = Vec::with_capacity(chunks.len());
        for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
            built.push(self.build_block(&groups, chunk)?);
        }
        Ok(built)
    }

    fn build_block(
        &mut self,
        groups: &[ResourceSpans],
        chunk: Vec<Row>,
    ) -> Result<Built, RunError> {
        let mut rows = chunk;
        let own_groups = own_groups(groups, rows.iter_mut().map(|row| &mut row.group));
        let resource = |g: u32| {
            own_groups[g as usize]
                .resource
                .as_ref()
                .map_or(&[][..], |r| &r.attributes[..])
        };
        let search = SearchFilter::build(rows.iter().map(|row| {
            (
                row.group,
                service_name(resource(row.group)),
                resource(row.group),
                &row.span,
            )
        }));
        let hashes: Vec<u64> = rows
            .iter()
            .map(|row| trace_hash(&row.span.trace_id))
            .collect();
        let mut operations = HashSet::new();
        for row in &rows {
            operations.insert((
                service_name(resource(row.group)).to_string(),
                row.span.name.clone(),
                row.span.kind,
            ));
        }
        let (header, payload) = span_block::encode(&own_groups, rows, &mut self.zstd)
            .map_err(|e| WriteError::Unencodable { reason: e.0 })?;
        Ok(Built {
            header,
            payload,
            trace_filter: Some(trace_id_filter(&hashes).encode()),
            search: search.encode(),
            operations,
            streams: HashSet::new(),
            catalog: None,
        })
    }

    /// Cuts the collected records into codec-3 blocks of at most [`MAX_RECORDS_PER_BLOCK`]
    /// records in time order, so that blocks of one partition barely overlap in time.
    fn build_logs(&mut self, collector: LogCollector) -> Result<Vec<Built>, RunError> {
        let LogCollector {
            groups, mut rows, ..
        } = collector;
        rows.sort_by_key(|row| record_time(&row.record));
        let mut built = Vec::new();
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(MAX_RECORDS_PER_BLOCK));
            let chunk = std::mem::replace(&mut rows, rest);
            let mut chunk = chunk;
            let own_groups = own_groups(&groups, chunk.iter_mut().map(|row| &mut row.group));
            let search = LogFilter::build(&own_groups, &chunk).encode();
            let mut streams = HashSet::new();
            let resources: Vec<Vec<(String, String)>> = own_groups
                .iter()
                .map(|g| resource_texts(g.resource.as_ref()))
                .collect();
            for row in &chunk {
                streams.insert((row.group, row.record.severity_text.as_str()));
            }
            let streams: HashSet<(Vec<(String, String)>, String)> = streams
                .into_iter()
                .map(|(group, severity)| (resources[group as usize].clone(), severity.to_string()))
                .collect();
            let (header, payload) = log_block::encode(&own_groups, chunk, &mut self.zstd)
                .map_err(|e| WriteError::Unencodable { reason: e.0 })?;
            built.push(Built {
                header,
                payload,
                trace_filter: None,
                search,
                operations: HashSet::new(),
                streams,
                catalog: None,
            });
        }
        Ok(built)
    }

    /// Cuts the collected series into codec-4 blocks: series in canonical order (so that one
    /// resource's series sit together), a block closed once it holds
    /// [`MAX_POINTS_PER_BLOCK`] points, a longer series cut into chunks of that many. Series
    /// new to the partition get the next catalog ids; the first block carries them.
    fn build_metrics(
        &mut self,
        db: &redb::Database,
        partition: u64,
        mut series: Vec<Collected>,
    ) -> Result<Vec<Built>, RunError> {
        use redb::ReadableDatabase;
        let catalog = {
            let txn = db
                .begin_read()
                .map_err(|e| ReadError::Storage(e.to_string()))?;
            metric_index::load_catalog(&txn, partition)?
        };
        let first_new = u32::try_from(catalog.len()).map_err(|_| RunError::Raced)?;
        let mut ids: rustc_hash::FxHashMap<&[u8], u32> = catalog
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_slice(), i as u32))
            .collect();
        series.sort_by(|a, b| a.canonical.cmp(&b.canonical));
        let mut new_series: Vec<&[u8]> = Vec::new();
        let mut chunks: Vec<(u32, &[u8], MetricPoints)> = Vec::new();
        for s in &mut series {
            let id = match ids.get(s.canonical.as_slice()) {
                Some(id) => *id,
                None => {
                    let id = first_new + new_series.len() as u32;
                    new_series.push(&s.canonical);
                    ids.insert(&s.canonical, id);
                    id
                }
            };
            let mut points = std::mem::replace(&mut s.points, s.series.kind.no_points());
            while points.len() > MAX_POINTS_PER_BLOCK {
                let rest = points.split_off(MAX_POINTS_PER_BLOCK);
                chunks.push((id, &s.canonical, points));
                points = rest;
            }
            chunks.push((id, &s.canonical, points));
        }
        let mut built = Vec::new();
        let mut start = 0;
        while start < chunks.len() {
            let mut end = start;
            let mut points = 0;
            while end < chunks.len()
                && (end == start || points + chunks[end].2.len() <= MAX_POINTS_PER_BLOCK)
            {
                points += chunks[end].2.len();
                end += 1;
            }
            let group = &chunks[start..end];
            let input: Vec<metric_block::Chunk<'_>> = group
                .iter()
                .map(|(_, canonical, points)| metric_block::Chunk { canonical, points })
                .collect();
            let (header, payload) = metric_block::encode(&input, &mut self.zstd)
                .map_err(|e| WriteError::Unencodable { reason: e.0 })?;
            let list: Vec<metric_index::ChunkEntry> = group
                .iter()
                .map(|(id, _, points)| {
                    let (mut min_time, mut max_time) = (u64::MAX, 0);
                    points.for_each_time(|t| {
                        min_time = min_time.min(t);
                        max_time = max_time.max(t);
                    });
                    metric_index::ChunkEntry {
                        id: *id,
                        min_time,
                        max_time,
                    }
                })
                .collect();
            let catalog = if built.is_empty() && !new_series.is_empty() {
                Some((
                    first_new,
                    metric_index::encode_catalog_chunk(&new_series, &mut self.zstd)
                        .map_err(|e| WriteError::Unencodable { reason: e.0 })?,
                ))
            } else {
                None
            };
            built.push(Built {
                header,
                payload,
                trace_filter: None,
                search: metric_index::encode_chunk_list(&header, &list),
                operations: HashSet::new(),
                streams: HashSet::new(),
                catalog,
            });
            start = end;
        }
        Ok(built)
    }

    /// The one transaction that replaces `inputs` with `built`; returns the files no entry
    /// references any more.
    fn swap(
        &self,
        db: &redb::Database,
        (signal, partition): Part,
        out_file: u32,
        inputs: &[(BlockKey, IndexEntry)],
        built: &[Built],
        offsets: &[u64],
    ) -> Result<Vec<PathBuf>, RunError> {
        let index_error = |e: redb::Error| RunError::Write(WriteError::index(self.index.path(), e));
        let mut txn = db.begin_write().map_err(|e| index_error(e.into()))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| index_error(e.into()))?;
        let mut retired = Vec::new();
        {
            let mut table = txn
                .open_table(schema::block_table(signal))
                .map_err(|e| index_error(e.into()))?;
            let mut filters = txn
                .open_table(schema::TRACE_ID_FILTERS)
                .map_err(|e| index_error(e.into()))?;
            let mut search = txn
                .open_table(match signal {
                    Signal::Logs => schema::LOG_FILTERS,
                    Signal::Metrics => schema::METRIC_BLOCK_SERIES,
                    Signal::Traces => schema::TRACE_SEARCH_FILTERS,
                })
                .map_err(|e| index_error(e.into()))?;
            let mut catalog = txn
                .open_table(schema::TRACE_OPERATIONS)
                .map_err(|e| index_error(e.into()))?;
            let mut streams = txn
                .open_table(schema::LOG_STREAMS)
                .map_err(|e| index_error(e.into()))?;
            let mut series = txn
                .open_table(schema::METRIC_SERIES)
                .map_err(|e| index_error(e.into()))?;
            let first = BlockKey::first_in(partition).encode();
            let last = BlockKey::last_in(partition).encode();
            let next_seq = match table
                .range::<&[u8; BlockKey::LEN]>(&first..=&last)
                .map_err(|e| index_error(e.into()))?
                .next_back()
            {
                Some(entry) => {
                    BlockKey::decode(entry.map_err(|e| index_error(e.into()))?.0.value()).seq + 1
                }
                None => return Err(RunError::Raced),
            };
            for (key, entry) in inputs {
                let removed = table
                    .remove(&key.encode())
                    .map_err(|e| index_error(e.into()))?;
                if removed.is_none_or(|v| v.value() != entry.encode().as_slice()) {
                    // Something else (retention) changed the partition: drop this run.
                    return Err(RunError::Raced);
                }
                if signal == Signal::Traces {
                    filters
                        .remove(&key.encode())
                        .map_err(|e| index_error(e.into()))?;
                }
            }
            for (i, (block, offset)) in built.iter().zip(offsets).enumerate() {
                let key = BlockKey {
                    partition_start: partition,
                    seq: next_seq + i as u64,
                }
                .encode();
                let entry = IndexEntry {
                    header: block.header,
                    file: out_file,
                    offset: *offset,
                    len: u32::try_from(block.payload.len()).map_err(|_| {
                        RunError::Write(WriteError::Unencodable {
                            reason: "a compacted block above 4 GiB".into(),
                        })
                    })?,
                };
                table
                    .insert(&key, entry.encode().as_slice())
                    .map_err(|e| index_error(e.into()))?;
                if let Some(trace_filter) = &block.trace_filter {
                    filters
                        .insert(&key, trace_filter.as_slice())
                        .map_err(|e| index_error(e.into()))?;
                }
                search
                    .insert(&key, block.search.as_slice())
                    .map_err(|e| index_error(e.into()))?;
                if let Some((first_id, chunk)) = &block.catalog {
                    let key = schema::series_key(partition, *first_id);
                    let replaced = series
                        .insert(&key[..], chunk.as_slice())
                        .map_err(|e| index_error(e.into()))?;
                    if replaced.is_some() {
                        // Another run numbered the same series: its ids would be ambiguous.
                        return Err(RunError::Raced);
                    }
                }
                for (resource, severity) in &block.streams {
                    let key = schema::stream_key(partition, resource, severity);
                    streams
                        .insert(key.as_slice(), ())
                        .map_err(|e| index_error(e.into()))?;
                }
                for (service, name, kind) in &block.operations {
                    let op = schema::operation_key(partition, service, name, *kind);
                    catalog
                        .insert(op.as_slice(), ())
                        .map_err(|e| index_error(e.into()))?;
                }
            }
            let mut referenced = HashSet::new();
            for entry in table
                .range::<&[u8; BlockKey::LEN]>(&first..=&last)
                .map_err(|e| index_error(e.into()))?
            {
                let (_, value) = entry.map_err(|e| index_error(e.into()))?;
                if let Ok(entry) = IndexEntry::parse(value.value()) {
                    referenced.insert(entry.file);
                }
            }
            let dir = schema::segment_dir(&self.data_dir, signal);
            let mut inputs_files: Vec<u32> = inputs.iter().map(|(_, e)| e.file).collect();
            inputs_files.sort_unstable();
            inputs_files.dedup();
            for file in inputs_files {
                if !referenced.contains(&file)
                    && !self.files.in_use_by_writer(signal, partition, file)
                {
                    retired.push(dir.join(schema::segment_file_name(partition, file)));
                }
            }
        }
        txn.commit().map_err(|e| index_error(e.into()))?;
        Ok(retired)
    }
}

/// The groups a block's rows use, numbered anew in order of first use: `group_of_rows` are the
/// rows' indexes into `groups`, rewritten to index the returned groups.
fn own_groups<'r, G: Clone>(
    groups: &[G],
    group_of_rows: impl Iterator<Item = &'r mut u32>,
) -> Vec<G> {
    let mut renumber: rustc_hash::FxHashMap<u32, u32> = Default::default();
    let mut own = Vec::new();
    for group in group_of_rows {
        let next = own.len() as u32;
        *group = *renumber.entry(*group).or_insert_with(|| {
            own.push(groups[*group as usize].clone());
            next
        });
    }
    own
}

/// One compacted block, ready to be written and indexed.
struct Built {
    header: crate::block::BlockHeader,
    payload: Vec<u8>,
    /// Trace blocks only: the trace-id filter.
    trace_filter: Option<Vec<u8>>,
    /// The search filter (traces) or log filter (logs).
    search: Vec<u8>,
    operations: HashSet<(String, String, i32)>,
    /// Log blocks only: the (resource attributes, severity text) streams of its records.
    streams: HashSet<(Vec<(String, String)>, String)>,
    /// Metric blocks only, the first of a run: the series new to the partition, as a catalog
    /// chunk with the id of its first series.
    catalog: Option<(u32, Vec<u8>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_during_a_run_stay_waiting() {
        let pending = Pending::default();
        pending.wrote(Signal::Traces, 7, 100);
        assert_eq!(pending.due(Duration::ZERO, 1 << 20), [(Signal::Traces, 7)]);
        // A run takes the 100 bytes it saw while the writer adds 40 more.
        pending.wrote(Signal::Traces, 7, 40);
        pending.compacted((Signal::Traces, 7), 100, false);
        assert_eq!(pending.backlog(), 40);
        assert_eq!(pending.due(Duration::ZERO, 1 << 20), [(Signal::Traces, 7)]);
        pending.compacted((Signal::Traces, 7), 40, false);
        assert_eq!(pending.backlog(), 0);
        assert!(pending.due(Duration::ZERO, 1 << 20).is_empty());
        // Blocks found at open may be counted low: a run that leaves some looks again.
        pending.found((Signal::Traces, 8), 10, Duration::ZERO);
        pending.compacted((Signal::Traces, 8), 50, true);
        assert_eq!(pending.due(Duration::ZERO, 1 << 20), [(Signal::Traces, 8)]);
        // A run that finds nothing clears the count.
        pending.compacted((Signal::Traces, 8), 0, false);
        assert_eq!(pending.backlog(), 0);
        // Only quiet partitions are due, unless a run's worth has piled up.
        pending.wrote(Signal::Traces, 9, 10);
        assert!(pending.due(Duration::from_secs(60), 1 << 20).is_empty());
        pending.wrote(Signal::Traces, 9, 1 << 20);
        assert_eq!(
            pending.due(Duration::from_secs(60), 1 << 20),
            [(Signal::Traces, 9)]
        );
    }
}
