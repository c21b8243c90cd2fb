//! otelite's embedded store.
//!
//! A synchronous library: it owns every byte under the data directory and knows nothing of
//! tokio, HTTP or gRPC. Writers hand it OTLP batches; one writer thread gathers everything queued
//! since its last commit into one round (group commit): it appends the round's compressed blocks
//! to append-only segment files, syncs them, commits their index entries in a single durable redb
//! transaction and only then tells each submitter that its batch is safe. Data lives in
//! zstd-compressed blocks keyed by signal and time partition, one segment file per signal and
//! partition, so reads by time range touch only the blocks that overlap and retention can drop
//! whole partitions and their files. The byte layout is in `docs/format.md`.
//!
//! Code map: `schema` (files, tables, keys, format version), `block` (block codec and index
//! entries), `segment` (segment files: append, sync, read, crash recovery), `signal` (the one
//! trait describing a signal's OTLP groups, implemented in `traces`, `metrics`, `logs`),
//! `index` (the shared, reopenable redb database), `writer` (group commit and recovery from
//! failed writes), `reader` (time-range reads), `faults` (fault injection for the crate's
//! tests); the compactor and each signal's columnar codec and queries (`span_block` and
//! `trace_index`, `log_block` and `log_index`, `metric_block`, `metric_index` and
//! `metric_query`). This file holds the public API only.

mod block;
mod bloom;
mod columns;
mod compactor;
mod faults;
mod files;
mod index;
mod log_block;
mod log_index;
mod log_query;
mod logs;
mod metric_block;
mod metric_index;
mod metric_query;
mod metrics;
mod reader;
mod retention;
mod schema;
mod segment;
mod signal;
mod span_block;
mod trace_index;
mod trace_query;
mod traces;
mod writer;

#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod metric_tests;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trace_tests;

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase};

use crate::index::Index;

pub use log_query::{
    Direction, LogCursor, LogHit, LogQuery, LogStream, LogVolume, SEVERITY_CLASSES, SpanId,
    VolumeBucket, body_text, severity_class, words,
};
pub use metric_query::{MetricKind, MetricPoints, MetricSeries, SeriesPoints};
pub use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
pub use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
pub use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
pub use retention::Retention;
pub use trace_query::{Operation, TraceId, TraceQuery, TraceSummary, service_name};

use crate::faults::Faults;
use crate::writer::CommitQueue;

/// Entry points for the benchmarks in `benches/`, which can only see public items: the block
/// codec applied to spans. Not part of the API; may change at any time.
#[doc(hidden)]
pub mod bench {
    use crate::ResourceSpans;
    use crate::block::{BlockEncoder, BlockHeader, decode_block};

    /// Encodes `groups` into as few blocks as the block size allows; each block's header
    /// followed by its payload (as stored: the header in the index, the payload in a segment).
    pub fn encode_span_blocks(groups: &[ResourceSpans]) -> Vec<Vec<u8>> {
        let mut encoder = BlockEncoder::new().expect("a zstd context can be created");
        let mut blocks = Vec::new();
        encoder
            .encode_blocks(groups, |block| {
                blocks.push([&block.header.encode()[..], &block.payload].concat())
            })
            .expect("benchmark data encodes");
        blocks
    }

    /// Decodes (and checks) one block written by [`encode_span_blocks`].
    pub fn decode_span_block(block: &[u8]) -> Vec<ResourceSpans> {
        let header = BlockHeader::parse(block).expect("benchmark blocks have a header");
        decode_block::<ResourceSpans>(&header, &block[BlockHeader::LEN..])
            .expect("benchmark blocks decode")
    }
}

/// The three kinds of telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// Lower-case name: `traces`, `metrics` or `logs`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One OTLP export request's worth of data, already validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    Traces(Vec<ResourceSpans>),
    Metrics(Vec<ResourceMetrics>),
    Logs(Vec<ResourceLogs>),
}

/// Half-open interval `[start, end)` in unix nanoseconds.
///
/// An item's time is: a span's start time; a metric data point's time; a log record's time, or
/// its observed time when the time is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: u64,
    pub end: u64,
}

impl Default for TimeRange {
    /// [`TimeRange::ALL`].
    fn default() -> TimeRange {
        TimeRange::ALL
    }
}

impl TimeRange {
    /// Every time but `u64::MAX` (which no real clock produces).
    pub const ALL: TimeRange = TimeRange {
        start: 0,
        end: u64::MAX,
    };

    pub const fn new(start: u64, end: u64) -> TimeRange {
        TimeRange { start, end }
    }

    pub const fn contains(&self, time_unix_nano: u64) -> bool {
        self.start <= time_unix_nano && time_unix_nano < self.end
    }
}

/// How a [`Store`] behaves. Start from [`StoreOptions::default`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Bytes (protobuf size) of batches submitted but not yet durable above which
    /// [`Store::submit`] answers [`SubmitError::Overloaded`]. An idle store accepts any batch.
    pub max_pending_bytes: usize,
    /// How long a partition's row blocks must be left alone before the compactor rewrites them
    /// into columnar blocks (sooner once they reach `compaction_run_bytes`); `None` turns the
    /// compactor off (tests of the row layout).
    pub compaction_idle: Option<std::time::Duration>,
    /// Uncompressed row-block bytes one compaction run takes at most (bounding its memory at
    /// a few times this).
    pub compaction_run_bytes: u64,
    /// How long data is kept and how much disk it may take (by default: everything, forever).
    pub retention: Retention,
    /// How often retention looks at what to drop.
    pub retention_interval: std::time::Duration,
}

impl StoreOptions {
    /// 64 MiB: enough to absorb a burst while one fsync completes, small enough for an edge box.
    pub const DEFAULT_MAX_PENDING_BYTES: usize = 64 << 20;

    /// 30 s: a live partition is compacted in runs as its row blocks add up; a quiet one soon.
    pub const DEFAULT_COMPACTION_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

    /// 32 MiB of protobuf: about 100,000 spans, decoded in about 150 MB at most.
    pub const DEFAULT_COMPACTION_RUN_BYTES: u64 = 32 << 20;

    /// Compacts a partition once its row blocks have been left alone for `idle`; `None`:
    /// never.
    pub fn with_compaction_idle(mut self, idle: Option<std::time::Duration>) -> StoreOptions {
        self.compaction_idle = idle;
        self
    }

    /// Keeps data as `retention` says, looking every `interval`.
    pub fn with_retention(
        mut self,
        retention: Retention,
        interval: std::time::Duration,
    ) -> StoreOptions {
        self.retention = retention;
        self.retention_interval = interval;
        self
    }

    pub fn with_max_pending_bytes(mut self, bytes: usize) -> StoreOptions {
        self.max_pending_bytes = bytes;
        self
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_pending_bytes: Self::DEFAULT_MAX_PENDING_BYTES,
            compaction_idle: Some(Self::DEFAULT_COMPACTION_IDLE),
            compaction_run_bytes: Self::DEFAULT_COMPACTION_RUN_BYTES,
            retention: Retention::default(),
            retention_interval: std::time::Duration::from_secs(10),
        }
    }
}

/// Bytes on disk, from [`Store::disk_usage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// The index database file.
    pub index: u64,
    /// Each signal's segment files, in [`Signal::ALL`] order.
    pub signals: [u64; 3],
}

/// What the store holds, cheap to compute (no data is scanned).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub spans: u64,
    pub metric_points: u64,
    pub log_records: u64,
    /// Size of the files in the data directory: the redb file and every segment file.
    pub disk_bytes: u64,
    /// The on-disk format version of the store.
    pub format_version: u32,
    /// Write transactions committed since this store was opened (each holds one or more
    /// batches: the difference to the number of batches is what group commit saved).
    pub commits: u64,
}

/// Told, from the writer thread, whether a submitted batch is durable. Keep it short: the next
/// group commit waits for it.
pub type OnDurable = Box<dyn FnOnce(Result<(), WriteError>) + Send + 'static>;

/// A handle on an open store. Cheap to clone; the store closes when the last handle is dropped
/// (after committing everything already submitted) or when [`Store::shutdown`] is called.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
    /// Reads through this handle stop here ([`Store::until`]).
    deadline: Option<std::time::Instant>,
}

struct StoreInner {
    dir: PathBuf,
    index: Arc<Index>,
    files: Arc<files::Files>,
    trace_filters: trace_index::FilterCache,
    log_filters: log_index::LogFilterCache,
    compaction: Arc<compactor::Pending>,
    floors: Arc<retention::Floors>,
    compactor: Mutex<Option<JoinHandle<()>>>,
    queue: Arc<CommitQueue>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl Store {
    /// Opens the store in `dir`, creating the directory and an empty store if needed, and starts
    /// the writer thread.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store, OpenError> {
        Store::open_with_faults(dir.as_ref(), options, Faults::none())
    }

    /// [`Store::open`] with the steps of the writer's rounds failing as `faults` says (tests).
    fn open_with_faults(
        dir: &Path,
        options: StoreOptions,
        faults: Faults,
    ) -> Result<Store, OpenError> {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| OpenError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(schema::DATABASE_FILE);
        let db =
            Index::open(&path, faults.clone()).map_err(|e| OpenError::from_database(&path, e))?;
        prepare_schema(&db, &path)?;
        segment::recover(&dir, &db, segment::Recovery::AtOpen)?;
        let index = Arc::new(Index::new(path.clone(), faults.clone(), db));
        let queue = Arc::new(CommitQueue::new(options.max_pending_bytes));
        let segments = segment::SegmentWriter::new(dir.clone(), faults);
        let files = Arc::new(files::Files::default());
        let compaction = Arc::new(compactor::Pending::default());
        let writer = writer::spawn_writer(
            Arc::clone(&index),
            dir.clone(),
            segments,
            Arc::clone(&queue),
            Arc::clone(&files),
            Arc::clone(&compaction),
        )
        .map_err(|source| OpenError::WriterThread { source })?;
        let floors = Arc::new(retention::Floors::default());
        if let Some(db) = index.get() {
            floors.load(&db).map_err(|e| OpenError::Database {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
        let compactor = if options.compaction_idle.is_some() || options.retention.is_set() {
            Some(
                compactor::spawn(
                    Arc::clone(&index),
                    dir.clone(),
                    Arc::clone(&files),
                    Arc::clone(&compaction),
                    Arc::clone(&floors),
                    compactor::Settings {
                        idle: options.compaction_idle,
                        run_bytes: options.compaction_run_bytes,
                        retention: options.retention.clone(),
                        retention_interval: options.retention_interval,
                    },
                )
                .map_err(|source| OpenError::WriterThread { source })?,
            )
        } else {
            None
        };
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Store {
            inner: Arc::new(StoreInner {
                dir,
                index,
                files,
                trace_filters: trace_index::filter_cache(),
                log_filters: log_index::filter_cache(),
                compaction,
                floors,
                compactor: Mutex::new(compactor),
                queue,
                writer: Mutex::new(Some(writer)),
            }),
            deadline: None,
        })
    }

    /// A handle on the same store whose reads stop at `deadline` with
    /// [`ReadError::Interrupted`] (`None`: never). A read checks it before each partition and
    /// each block it reads, so it stops within one block's work of the deadline; what it has
    /// not returned yet is dropped. Writes and the background work are not affected.
    pub fn until(&self, deadline: Option<std::time::Instant>) -> Store {
        Store {
            inner: self.inner.clone(),
            deadline,
        }
    }

    /// What a read needs, with `db` handing out the database, and this handle's deadline.
    fn read_context<'a>(
        &'a self,
        db: &'a dyn Fn() -> Result<Arc<Database>, ReadError>,
    ) -> reader::ReadContext<'a> {
        reader::ReadContext {
            db,
            data_dir: &self.inner.dir,
            files: &self.inner.files,
            deadline: self.deadline,
        }
    }

    /// Queues `batch` for the next group commit and returns without waiting for the disk;
    /// `on_durable` is called (on the writer thread) once the batch is on disk, or with the error
    /// that kept it off. When this returns an error, the batch was not taken and `on_durable` is
    /// never called. The batch is split and encoded here, on the caller's thread (about a
    /// millisecond per thousand spans), so async callers should call it from a blocking pool.
    pub fn submit(&self, batch: Batch, on_durable: OnDurable) -> Result<(), SubmitError> {
        self.inner.queue.submit(batch, on_durable)
    }

    /// Submits `batch` and waits until it is durable.
    pub fn write(&self, batch: Batch) -> Result<(), WriteError> {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.submit(
            batch,
            Box::new(move |result| {
                // The waiter only leaves early if this thread panicked; nothing to tell then.
                let _ = done.send(result);
            }),
        )?;
        wait.recv().unwrap_or_else(|_| {
            Err(WriteError::Stopped {
                reason: "it dropped the batch without an answer".into(),
            })
        })
    }

    /// Resource spans holding the spans that start in `range`.
    pub fn read_traces(&self, range: TimeRange) -> Result<Vec<ResourceSpans>, ReadError> {
        reader::read_range(self.read_context(&|| self.inner.database()), range)
    }

    /// Resource metrics holding the data points timed in `range`. A metric whose points were
    /// stored in several partitions may come back as several copies of its descriptor.
    pub fn read_metrics(&self, range: TimeRange) -> Result<Vec<ResourceMetrics>, ReadError> {
        reader::read_range(self.read_context(&|| self.inner.database()), range)
    }

    /// Resource logs holding the records timed (or, untimed, observed) in `range`.
    pub fn read_logs(&self, range: TimeRange) -> Result<Vec<ResourceLogs>, ReadError> {
        reader::read_range(self.read_context(&|| self.inner.database()), range)
    }

    /// [`Store::read_traces`] one block at a time: `visit` gets each block's groups (already
    /// trimmed to `range`) and may stop the walk with `ControlFlow::Break`. Memory stays at one
    /// block however large the range, which is what exports of a whole store need. No read
    /// transaction is open while `visit` runs, so a slow visitor never keeps the database from
    /// reusing freed pages; in exchange the walk is no snapshot: it sees every block committed
    /// before it began and may see some committed while it runs.
    pub fn scan_traces(
        &self,
        range: TimeRange,
        visit: impl FnMut(Vec<ResourceSpans>) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        reader::scan_range(self.read_context(&|| self.inner.database()), range, visit)
    }

    /// [`Store::read_metrics`] one block at a time; see [`Store::scan_traces`].
    pub fn scan_metrics(
        &self,
        range: TimeRange,
        visit: impl FnMut(Vec<ResourceMetrics>) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        reader::scan_range(self.read_context(&|| self.inner.database()), range, visit)
    }

    /// [`Store::read_logs`] one block at a time; see [`Store::scan_traces`].
    pub fn scan_logs(
        &self,
        range: TimeRange,
        visit: impl FnMut(Vec<ResourceLogs>) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        reader::scan_range(self.read_context(&|| self.inner.database()), range, visit)
    }

    /// Every distinct metric series with at least one point in `range`: descriptors only, from
    /// the series catalog and block series lists of compacted partitions (no values decoded)
    /// and from the row blocks not compacted yet. Sorted by metric name, then by the series'
    /// canonical encoding.
    pub fn metric_series(&self, range: TimeRange) -> Result<Vec<Arc<MetricSeries>>, ReadError> {
        let db = || self.inner.database();
        Ok(
            metric_index::select(self.read_context(&db), range, &mut |_| true, false)?
                .into_iter()
                .map(|c| c.series)
                .collect(),
        )
    }

    /// The points in `range` of every series `wanted` accepts (sorted as
    /// [`Store::metric_series`]). `wanted` is called at most once per distinct series in the
    /// range, before any of its points are decoded; compacted blocks holding no wanted series
    /// are not read. A series whose points span several partitions or blocks comes back once
    /// with all of them in time order; a point stored twice (same series, time and value: a
    /// client's retry) comes back once.
    pub fn select_metrics(
        &self,
        range: TimeRange,
        wanted: &mut dyn FnMut(&MetricSeries) -> bool,
    ) -> Result<Vec<SeriesPoints>, ReadError> {
        let db = || self.inner.database();
        Ok(
            metric_index::select(self.read_context(&db), range, wanted, true)?
                .into_iter()
                .map(|c| SeriesPoints {
                    series: c.series,
                    points: c.points,
                })
                .collect(),
        )
    }

    /// Every stored span of the trace `trace_id`, in resource groups; empty when there is none.
    /// Reads only the blocks whose trace-id filter may hold it.
    pub fn trace(&self, trace_id: &TraceId) -> Result<Vec<ResourceSpans>, ReadError> {
        Ok(self.traces(std::slice::from_ref(trace_id))?.remove(0))
    }

    /// [`Store::trace`] of each of `ids`, in that order, reading a block shared by several of
    /// them once.
    pub fn traces(&self, ids: &[TraceId]) -> Result<Vec<Vec<ResourceSpans>>, ReadError> {
        let db = || self.inner.database();
        trace_index::traces(self.read_context(&db), &self.inner.trace_filters, ids)
    }

    /// The newest `query.limit` traces (by their latest matching span's start) with a span
    /// matching `query`, summarised from all their stored spans, newest first.
    pub fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TraceSummary>, ReadError> {
        let db = || self.inner.database();
        trace_index::find(self.read_context(&db), &self.inner.trace_filters, query)
    }

    /// Summaries of the traces `ids`, in that order; unknown ids are left out.
    pub fn trace_summaries(&self, ids: &[TraceId]) -> Result<Vec<TraceSummary>, ReadError> {
        let db = || self.inner.database();
        trace_index::summaries(self.read_context(&db), &self.inner.trace_filters, ids)
    }

    /// The services with spans in the hour partitions overlapping `range`, by name.
    pub fn trace_services(&self, range: TimeRange) -> Result<Vec<String>, ReadError> {
        let mut services: Vec<String> = self
            .trace_operations(range, None)?
            .into_iter()
            .map(|op| op.service)
            .collect();
        services.dedup();
        Ok(services)
    }

    /// The operations (service, span name, kind) of `service`, or of every service, seen in
    /// the hour partitions overlapping `range`, sorted. Read from the operation catalog, not
    /// from spans.
    pub fn trace_operations(
        &self,
        range: TimeRange,
        service: Option<&str>,
    ) -> Result<Vec<Operation>, ReadError> {
        let db = || self.inner.database();
        trace_index::operations(self.read_context(&db), range, service)
    }

    /// Calls `visit` with every stored log record matching `query`, in the query's direction
    /// (newest first by default) and from beyond its cursor, until `visit` breaks off. No read
    /// transaction is open while `visit` runs.
    pub fn find_logs(
        &self,
        query: &LogQuery,
        visit: impl FnMut(LogHit) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        let db = || self.inner.database();
        log_index::find(
            self.read_context(&db),
            &self.inner.log_filters,
            query,
            visit,
        )
    }

    /// How many log records match `query` (cursor and direction aside): per `step_ns` bucket
    /// from the range's start, per severity class and per service.
    pub fn log_volume(&self, query: &LogQuery, step_ns: u64) -> Result<LogVolume, ReadError> {
        let db = || self.inner.database();
        log_index::volume(
            self.read_context(&db),
            &self.inner.log_filters,
            query,
            step_ns,
        )
    }

    /// The log streams (resource attributes with a text value, and severity text) with records
    /// in the hour partitions overlapping `range`, sorted. Read from the stream catalog, and
    /// from the row blocks the compactor has not rewritten yet.
    pub fn log_streams(&self, range: TimeRange) -> Result<Vec<LogStream>, ReadError> {
        let db = || self.inner.database();
        log_index::streams(self.read_context(&db), range)
    }

    pub fn stats(&self) -> Result<StoreStats, ReadError> {
        let storage = |e: &dyn fmt::Display| ReadError::Storage(e.to_string());
        let txn = self
            .inner
            .database()?
            .begin_read()
            .map_err(|e| storage(&e))?;
        let counts = txn
            .open_table(schema::ITEM_COUNTS)
            .map_err(|e| storage(&e))?;
        let count = |signal| -> Result<u64, ReadError> {
            let value = counts
                .get(schema::item_count_key(signal))
                .map_err(|e| storage(&e))?;
            Ok(value.map_or(0, |v| v.value()))
        };
        Ok(StoreStats {
            spans: count(Signal::Traces)?,
            metric_points: count(Signal::Metrics)?,
            log_records: count(Signal::Logs)?,
            disk_bytes: dir_bytes(&self.inner.dir)
                .and_then(|database| Ok(database + segment::disk_bytes(&self.inner.dir)?))
                .map_err(|e| storage(&e))?,
            format_version: schema::FORMAT_VERSION,
            commits: self.inner.queue.commits(),
        })
    }

    /// Uncompressed bytes of row blocks waiting for the compactor: 0 once it has caught
    /// up. With compaction off nothing is compacted and this only grows.
    pub fn compaction_backlog(&self) -> u64 {
        self.inner.compaction.backlog()
    }

    /// Bytes (protobuf size) of batches submitted and not yet durable: the ingest queue's depth.
    pub fn pending_bytes(&self) -> usize {
        self.inner.queue.pending_bytes()
    }

    /// Items of `signal` timed before this (unix ns) are refused: retention dropped their hour
    /// partition, and storing them would bring back what it deleted. 0 until a drop.
    pub fn retention_floor(&self, signal: Signal) -> u64 {
        self.inner.floors.floor(signal)
    }

    /// Partitions of `signal` retention has dropped since the store opened.
    pub fn retention_drops(&self, signal: Signal) -> u64 {
        self.inner.floors.dropped(signal)
    }

    /// Bytes on disk: the index file, and each signal's segment files (in [`Signal::ALL`]
    /// order), measured on the files.
    pub fn disk_usage(&self) -> Result<DiskUsage, ReadError> {
        let storage = |e: &dyn fmt::Display| ReadError::Storage(e.to_string());
        let index = std::fs::metadata(self.inner.dir.join(schema::DATABASE_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        let mut signals = [0; 3];
        for (i, signal) in Signal::ALL.into_iter().enumerate() {
            signals[i] = segment::signal_bytes(&self.inner.dir, signal).map_err(|e| storage(&e))?;
        }
        Ok(DiskUsage { index, signals })
    }

    /// Whether the store can write. While it cannot, batches fail with the error this reports,
    /// and the writer keeps trying to recover (reopening the index, cutting off what failed
    /// rounds left in segment files) until a write succeeds again.
    pub fn health(&self) -> Health {
        self.inner.queue.health()
    }

    /// Stops accepting batches, commits everything already submitted and stops the writer.
    /// Reads keep working on every handle; submits answer [`SubmitError::Closed`].
    pub fn shutdown(&self) -> Result<(), WriteError> {
        self.inner.stop_writer()
    }
}

impl StoreInner {
    /// The index database for one read, or why there is none right now.
    fn database(&self) -> Result<Arc<Database>, ReadError> {
        self.index.get().ok_or_else(|| ReadError::Unavailable {
            reason: match self.queue.health() {
                Health::Failing { error, .. } => error.to_string(),
                Health::Writing => "it is being reopened".to_string(),
            },
        })
    }

    fn stop_writer(&self) -> Result<(), WriteError> {
        self.compaction.stop();
        let compactor = self
            .compactor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = compactor
            && handle.thread().id() != std::thread::current().id()
            && handle.join().is_err()
        {
            tracing::error!("the compactor thread panicked; its run left nothing half-done");
        }
        self.queue.close();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(handle) = handle else { return Ok(()) };
        if handle.thread().id() == std::thread::current().id() {
            // Called from an on_durable callback: the writer exits by itself once drained.
            return Ok(());
        }
        handle.join().map_err(|_| WriteError::Stopped {
            reason: "its thread panicked; see the log for why".into(),
        })
    }
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        if let Err(error) = self.stop_writer() {
            tracing::error!(%error, "store closed uncleanly");
        }
    }
}

/// Checks the format version of an existing store, or records it in a new one, and makes sure
/// every table exists.
fn prepare_schema(db: &Database, path: &Path) -> Result<(), OpenError> {
    let database = |e: &dyn fmt::Display| OpenError::Database {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // Look before writing anything, so a store of another version is left untouched.
    let txn = db.begin_read().map_err(|e| database(&e))?;
    let found = match txn.open_table(schema::META) {
        Ok(meta) => meta
            .get(schema::META_FORMAT_VERSION)
            .map_err(|e| database(&e))?
            .map(|v| v.value()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(database(&e)),
    };
    drop(txn);
    let supported = schema::FORMAT_VERSION;
    if let Some(found) = found
        && found != u64::from(supported)
        && !schema::UPGRADABLE_FORMATS.contains(&found)
    {
        return Err(OpenError::UnsupportedFormat {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    let txn = db.begin_write().map_err(|e| database(&e))?;
    {
        let mut meta = txn.open_table(schema::META).map_err(|e| database(&e))?;
        if found != Some(u64::from(supported)) {
            if let Some(found) = found {
                tracing::info!(path = %path.display(), from = found, to = supported, "upgrading the store's format");
            }
            meta.insert(schema::META_FORMAT_VERSION, u64::from(supported))
                .map_err(|e| database(&e))?;
        }
        txn.open_table(schema::ITEM_COUNTS)
            .map_err(|e| database(&e))?;
        for signal in Signal::ALL {
            txn.open_table(schema::block_table(signal))
                .map_err(|e| database(&e))?;
        }
        txn.open_table(schema::TRACE_ID_FILTERS)
            .map_err(|e| database(&e))?;
        txn.open_table(schema::TRACE_SEARCH_FILTERS)
            .map_err(|e| database(&e))?;
        txn.open_table(schema::TRACE_OPERATIONS)
            .map_err(|e| database(&e))?;
        txn.open_table(schema::LOG_FILTERS)
            .map_err(|e| database(&e))?;
        txn.open_table(schema::LOG_STREAMS)
            .map_err(|e| database(&e))?;
        txn.open_table(schema::METRIC_SERIES)
            .map_err(|e| database(&e))?;
        txn.open_table(schema::METRIC_BLOCK_SERIES)
            .map_err(|e| database(&e))?;
    }
    txn.commit().map_err(|e| database(&e))
}

/// Total size of the regular files directly in `dir`.
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let metadata = entry?.metadata()?;
        if metadata.is_file() {
            total += metadata.len();
        }
    }
    Ok(total)
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error(
        "cannot use data directory {path}: {source}; check that it exists (or can be created) and that otelite may write to it"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the store {path} is already open, by another otelite process or another Store in this one; stop that one or choose another data directory"
    )]
    AlreadyOpen { path: PathBuf },
    #[error(
        "the store {path} uses on-disk format version {found}, but this build of otelite reads only version {supported}; run the otelite version that wrote it, or choose another data directory"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error(
        "cannot open the store {path}: {reason}; if the file is damaged, move it aside and start with an empty data directory"
    )]
    Database { path: PathBuf, reason: String },
    #[error(
        "cannot start the store's writer thread: {source}; the system may be out of threads or memory"
    )]
    WriterThread { source: std::io::Error },
}

impl OpenError {
    fn from_database(path: &Path, error: redb::DatabaseError) -> OpenError {
        let path = path.to_path_buf();
        match error {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::AlreadyOpen { path },
            redb::DatabaseError::Storage(redb::StorageError::Io(source)) => {
                OpenError::Io { path, source }
            }
            other => OpenError::Database {
                path,
                reason: other.to_string(),
            },
        }
    }
}

/// Why a batch was not queued. The caller still owns the decision to retry.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    #[error(
        "the store is busy: {pending_bytes} bytes wait for the disk (limit {limit}); retry shortly"
    )]
    Overloaded { pending_bytes: usize, limit: usize },
    #[error("the store is shutting down and accepts no more data")]
    Closed,
}

/// Why a batch did not become durable. None of these leaves anything half-written: the batch
/// is either wholly absent or (if the failure hit after its commit reached the disk) wholly
/// present, and retrying it is always safe.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The file system holding the data directory has no space left (or the quota is used up).
    #[error(
        "the disk is full: could not {action} {path}: {source}; free space on the disk holding the data directory, or move it to a larger one; writes resume by themselves"
    )]
    DiskFull {
        action: &'static str,
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    /// Another I/O error.
    #[error(
        "could not {action} {path}: {source}; check the disk and the permissions of the data directory; otelite keeps retrying by itself"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    /// The index database failed for a reason other than I/O.
    #[error(
        "the store's index {path} failed: {reason}; otelite reopens it by itself; if this persists, restart otelite"
    )]
    Index { path: PathBuf, reason: String },
    /// The batch itself cannot be stored (a resource group too large for one block).
    #[error("the batch cannot be stored: {reason}; send it in smaller parts")]
    Unencodable { reason: String },
    /// The writer thread is gone.
    #[error("the store's writer stopped before confirming the batch: {reason}")]
    Stopped { reason: String },
    /// From [`Store::write`]: the batch was not even queued.
    #[error(transparent)]
    Rejected(#[from] SubmitError),
}

impl WriteError {
    /// True when the disk is full: the client should wait longer before retrying, and the
    /// operator must free space.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, WriteError::DiskFull { .. })
    }

    /// `error` from trying to `action` the file at `path`, as `DiskFull` when it says so.
    pub(crate) fn io(action: &'static str, path: &Path, error: std::io::Error) -> WriteError {
        let (path, source) = (path.to_path_buf(), Arc::new(error));
        match source.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                WriteError::DiskFull {
                    action,
                    path,
                    source,
                }
            }
            _ => WriteError::Io {
                action,
                path,
                source,
            },
        }
    }

    /// A redb error while writing the index at `path`; its I/O errors keep their kind.
    pub(crate) fn index(path: &Path, error: impl Into<redb::Error>) -> WriteError {
        match error.into() {
            redb::Error::Io(error) => WriteError::io("write the index", path, error),
            redb::Error::Backend(error) => match error.downcast::<std::io::Error>() {
                Ok(error) => WriteError::io("write the index", path, *error),
                Err(error) => WriteError::Index {
                    path: path.to_path_buf(),
                    reason: error.to_string(),
                },
            },
            other => WriteError::Index {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        }
    }
}

/// Whether a store can write, as its writer last found out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Health {
    /// The last write succeeded (or none has failed).
    Writing,
    /// Writes fail: the latest error, and since when (unix ns) writes have been failing.
    Failing {
        error: WriteError,
        since_unix_nano: u64,
    },
}

impl Health {
    pub fn is_writing(&self) -> bool {
        matches!(self, Health::Writing)
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("could not read the store: {0}")]
    Storage(String),
    /// The index is being reopened after a failed write; retry shortly.
    #[error(
        "the store cannot be read while it recovers from a failed write ({reason}); retry shortly"
    )]
    Unavailable { reason: String },
    /// The read reached the deadline of its handle ([`Store::until`]) and stopped.
    #[error("the read stopped at its deadline (the query's time limit) before it was done")]
    Interrupted,
    #[error(
        "block {seq} of the {signal} partition starting at {partition_start} ns is damaged ({reason}); read a time range that avoids it, or restore the data directory from a backup"
    )]
    CorruptBlock {
        signal: Signal,
        partition_start: u64,
        seq: u64,
        reason: String,
    },
}
