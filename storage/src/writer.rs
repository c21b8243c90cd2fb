//! Group commit: the queue submitters push batches into, and the one writer thread that drains it.
//!
//! A submitter splits its batch by time partition and encodes it to protobuf fragments on its own
//! thread (so that encoding, the costliest step after compression, runs in parallel and never
//! queues behind the single writer). Each round, the writer takes what is queued since its last
//! commit, concatenates it per signal and time partition into as few blocks as possible,
//! compresses them, appends their payloads to the partitions' segment files and syncs those
//! files, THEN writes the blocks' index entries and the updated item counts in ONE redb write
//! transaction with immediate durability, and only after that commit returns tells every
//! submitter the outcome. So an acknowledged block's payload and index entry are both durable,
//! and a committed index entry never points at unsynced bytes.
//!
//! One client must not be able to slow down or fail the others' writes. Every partition a round
//! touches costs a file sync, so a round takes queued batches only while they add up to at most
//! [`MAX_ROUND_PARTITIONS`] (signal, partition) pairs; a batch spread over more partitions than
//! that gets a round of its own. And when a round fails, the writer splits it to find the batch
//! to blame (see [`Writer::isolate`]), so that a batch that cannot be written fails alone.
//!
//! A failed round must not jam the store. After one, the writer repairs what it left before
//! anything else is attempted: it reopens the index if the failure was in it (redb refuses all
//! work after a failed commit until reopened, and recovers to its last durable commit when
//! reopened), then cuts off every segment tail no index entry references, as at open. While a
//! repair cannot be completed, batches fail at once with the error that caused it; while writes
//! fail, the store's [`Health`] says so, and the writer retries (repair, then a probe write)
//! with a backoff from 100 ms doubling to 5 s, so it resumes by itself once the cause is gone.
//!
//! Backpressure is a byte budget over the encoded size of queued and in-flight batches.
//! This module owns the queue, the thread and the round's protocol; it must never acknowledge a
//! batch before its commit is durable, never commit an index entry before its payload is synced,
//! never block a submitter, and never lose a callback (each `on_durable` runs exactly once, even
//! on failure or shutdown).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableTable};

use crate::block::{BlockEncoder, EncodedBlock, Fragment, IndexEntry, IndexKeys};
use crate::files::Files;
use crate::index::{Index, ReopenError};
use crate::schema::{self, BlockKey};
use crate::segment::{self, SegmentWriter};
use crate::signal::{SignalGroup, split_by_partition};
use crate::{Batch, Health, OnDurable, OpenError, Signal, SubmitError, WriteError};

/// A fragment is closed at this size and the next group starts a new one, so that the writer can
/// still close blocks near [`crate::block::TARGET_BLOCK_BYTES`] however large a batch is.
const FRAGMENT_BYTES: usize = 256 << 10;

/// Most distinct (signal, partition) pairs one round takes on, unless a single batch has more.
/// Live telemetry touches one or two hours per signal, so ordinary rounds never come near it;
/// it only keeps a batch of old or scattered data from making everyone's round wait for dozens
/// of file syncs.
pub(crate) const MAX_ROUND_PARTITIONS: usize = 32;

/// A batch waiting for the writer, already encoded: its fragments, each with its partition.
struct Pending {
    signal: Signal,
    parts: Vec<(u64, Fragment)>,
    /// The distinct partitions of `parts`, ascending.
    partitions: Vec<u64>,
    bytes: usize,
    on_durable: OnDurable,
}

/// What [`CommitQueue::next_round`] found.
enum Wait {
    Round(Vec<Pending>),
    /// The deadline passed with nothing queued.
    TimedOut,
    /// Closed, and nothing is left.
    Closed,
}

#[derive(Default)]
struct QueueState {
    queued: Vec<Pending>,
    /// Bytes of batches queued or being committed: everything not yet acknowledged.
    pending_bytes: usize,
    closed: bool,
}

/// The queue between submitters and the writer thread.
pub(crate) struct CommitQueue {
    state: Mutex<QueueState>,
    wake_writer: Condvar,
    max_pending_bytes: usize,
    commits: AtomicU64,
    health: Mutex<Health>,
}

impl CommitQueue {
    pub fn new(max_pending_bytes: usize) -> CommitQueue {
        CommitQueue {
            state: Mutex::new(QueueState::default()),
            wake_writer: Condvar::new(),
            max_pending_bytes,
            commits: AtomicU64::new(0),
            health: Mutex::new(Health::Writing),
        }
    }

    /// Whether the writer can write, as it last found out.
    pub fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_health(&self, failure: Option<&WriteError>) {
        let mut health = self
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *health = match (failure, &*health) {
            (None, _) => Health::Writing,
            (
                Some(error),
                Health::Failing {
                    since_unix_nano, ..
                },
            ) => Health::Failing {
                error: error.clone(),
                since_unix_nano: *since_unix_nano,
            },
            (Some(error), Health::Writing) => Health::Failing {
                error: error.clone(),
                since_unix_nano: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            },
        };
    }

    /// Number of transactions committed since the store was opened.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Bytes of batches submitted and not yet durable.
    pub fn pending_bytes(&self) -> usize {
        self.lock().pending_bytes
    }

    pub fn submit(&self, batch: Batch, on_durable: OnDurable) -> Result<(), SubmitError> {
        // Encoded outside the lock, on the submitter's thread.
        let (signal, parts) = encode_batch(batch);
        let bytes = parts.iter().map(|(_, fragment)| fragment.bytes.len()).sum();
        let mut partitions: Vec<u64> = parts.iter().map(|(partition, _)| *partition).collect();
        partitions.sort_unstable();
        partitions.dedup();
        let mut state = self.lock();
        if state.closed {
            return Err(SubmitError::Closed);
        }
        // An idle store takes any batch, however large, so one big batch cannot wedge ingest.
        if state.pending_bytes > 0 && state.pending_bytes + bytes > self.max_pending_bytes {
            return Err(SubmitError::Overloaded {
                pending_bytes: state.pending_bytes,
                limit: self.max_pending_bytes,
            });
        }
        state.pending_bytes += bytes;
        state.queued.push(Pending {
            signal,
            parts,
            partitions,
            bytes,
            on_durable,
        });
        drop(state);
        self.wake_writer.notify_one();
        Ok(())
    }

    /// Refuses further submissions; the writer drains what is queued, then exits.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake_writer.notify_one();
    }

    /// Blocks until something is queued, then takes the next round: queued batches in arrival
    /// order, each as long as the round's distinct (signal, partition) pairs stay within
    /// [`MAX_ROUND_PARTITIONS`] with it (batches adding no new pair always fit). The oldest batch
    /// is always taken, alone if it is over the bound by itself, so none waits more than one
    /// round for its turn. Gives up at `deadline`, if any.
    fn next_round(&self, deadline: Option<Instant>) -> Wait {
        let mut state = self.lock();
        loop {
            if !state.queued.is_empty() {
                break;
            }
            if state.closed {
                return Wait::Closed;
            }
            state = match deadline {
                None => self
                    .wake_writer
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        return Wait::TimedOut;
                    };
                    self.wake_writer
                        .wait_timeout(state, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        let mut round = Vec::new();
        let mut touched = BTreeSet::new();
        let mut left = Vec::new();
        for pending in std::mem::take(&mut state.queued) {
            let pairs = || {
                pending
                    .partitions
                    .iter()
                    .map(|p| (pending.signal.name(), *p))
            };
            let new = pairs().filter(|pair| !touched.contains(pair)).count();
            if round.is_empty() || new == 0 || touched.len() + new <= MAX_ROUND_PARTITIONS {
                touched.extend(pairs());
                round.push(pending);
            } else {
                left.push(pending);
            }
        }
        state.queued = left;
        Wait::Round(round)
    }

    fn release(&self, bytes: usize) {
        self.lock().pending_bytes -= bytes;
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // The state stays consistent across a panic (every update is a single step), so a
        // poisoned lock is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Splits `batch` by time partition and encodes it into fragments; its signal comes along.
fn encode_batch(batch: Batch) -> (Signal, Vec<(u64, Fragment)>) {
    match batch {
        Batch::Traces(groups) => (Signal::Traces, fragments(groups)),
        Batch::Metrics(groups) => (Signal::Metrics, fragments(groups)),
        Batch::Logs(groups) => (Signal::Logs, fragments(groups)),
    }
}

fn fragments<G: SignalGroup>(groups: Vec<G>) -> Vec<(u64, Fragment)> {
    let mut parts: Vec<(u64, Fragment)> = Vec::new();
    for group in groups {
        split_by_partition(group, |partition, part| {
            // Only the newest fragment of a partition can still have room.
            let open = parts
                .iter_mut()
                .rev()
                .find(|(p, _)| *p == partition)
                .filter(|(_, fragment)| fragment.bytes.len() < FRAGMENT_BYTES);
            match open {
                Some((_, fragment)) => fragment.push(&part),
                None => {
                    let mut fragment = Fragment::default();
                    fragment.push(&part);
                    parts.push((partition, fragment));
                }
            }
        });
    }
    parts
}

/// Operation catalog keys the writer remembers as committed.
const MAX_KNOWN_OPERATIONS: usize = 100_000;

/// What one round works with besides the database.
struct Round<'a> {
    segments: &'a mut SegmentWriter,
    encoder: &'a mut BlockEncoder,
    files: &'a Files,
    known_operations: &'a std::collections::HashSet<Vec<u8>>,
    new_operations: &'a mut Vec<Vec<u8>>,
    /// (partition, uncompressed bytes) of the trace blocks this round writes, for the compactor.
    new_rows: &'a mut Vec<(Signal, u64, u64)>,
}

/// Starts the writer thread. It runs until `queue` is closed and drained.
pub(crate) fn spawn_writer(
    index: Arc<Index>,
    data_dir: PathBuf,
    segments: SegmentWriter,
    queue: Arc<CommitQueue>,
    files: Arc<Files>,
    compaction: Arc<crate::compactor::Pending>,
) -> std::io::Result<JoinHandle<()>> {
    let writer = Writer {
        index,
        data_dir,
        segments,
        files,
        compaction,
        known_operations: std::collections::HashSet::new(),
        encoder: BlockEncoder::new()?,
        queue,
        trouble: None,
    };
    std::thread::Builder::new()
        .name("otelite-writer".into())
        .spawn(move || writer.run())
}

/// The first wait before the writer retries after writes started failing; it doubles with each
/// failed retry up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The writer thread's state.
struct Writer {
    index: Arc<Index>,
    data_dir: PathBuf,
    segments: SegmentWriter,
    /// Which file each partition's blocks go to.
    files: Arc<Files>,
    /// Told what row blocks each round committed.
    compaction: Arc<crate::compactor::Pending>,
    /// Operation catalog keys already committed, so a round writes only new ones. Bounded by
    /// [`MAX_KNOWN_OPERATIONS`] (forgetting only costs rewriting a key).
    known_operations: std::collections::HashSet<Vec<u8>>,
    encoder: BlockEncoder,
    queue: Arc<CommitQueue>,
    /// Set while writes fail (the store's health is `Failing`).
    trouble: Option<Trouble>,
}

/// Why and how the writer is failing, and when it next tries to get out of it.
struct Trouble {
    /// What batches are told while the store cannot write, and what its health says.
    error: WriteError,
    /// Set while the store must be repaired before any round may be attempted.
    repair: Option<Repair>,
    next_try: Instant,
    delay: Duration,
}

/// What is left to repair after a failed round.
#[derive(Clone, Copy)]
struct Repair {
    /// redb refuses all work after a failed commit until the database is reopened.
    reopen_index: bool,
}

/// Where a failed attempt stopped.
enum Phase {
    /// Compressing, appending or syncing payloads: the index was not touched.
    Segments,
    /// Writing or committing the index transaction.
    Index,
}

impl Writer {
    fn run(mut self) {
        loop {
            if self
                .trouble
                .as_ref()
                .is_some_and(|trouble| Instant::now() >= trouble.next_try)
            {
                self.retry();
            }
            let deadline = self.trouble.as_ref().map(|trouble| trouble.next_try);
            match self.queue.next_round(deadline) {
                Wait::Closed => return,
                Wait::TimedOut => {}
                Wait::Round(round) => match self.blocked() {
                    // Waiting would only hold the client: tell it now, it retries.
                    Some(error) => self.finish(round, Err(error)),
                    None => match self.attempt(&round) {
                        Ok(()) => self.finish(round, Ok(())),
                        Err(error) => self.isolate(round, error, false),
                    },
                },
            }
        }
    }

    /// The error to fail batches with while the store needs repair before it can write.
    fn blocked(&self) -> Option<WriteError> {
        let trouble = self.trouble.as_ref()?;
        trouble.repair.map(|_| trouble.error.clone())
    }

    /// Commits `batches` together as one round. After a failure, repairs what the round left
    /// (reopening the index if the failure was in it, cutting off appended bytes) before
    /// returning, so that the next attempt starts from a clean store; if the repair fails, the
    /// store is blocked until [`Writer::retry`] completes it.
    fn attempt(&mut self, batches: &[Pending]) -> Result<(), WriteError> {
        if let Some(error) = self.blocked() {
            return Err(error);
        }
        let Some(db) = self.index.get() else {
            return Err(WriteError::Index {
                path: self.index.path().to_path_buf(),
                reason: "it is not open".into(),
            });
        };
        let mut new_operations = Vec::new();
        let mut new_rows = Vec::new();
        let result = commit_round(
            &db,
            self.index.path(),
            &mut Round {
                segments: &mut self.segments,
                encoder: &mut self.encoder,
                files: &self.files,
                known_operations: &self.known_operations,
                new_operations: &mut new_operations,
                new_rows: &mut new_rows,
            },
            batches,
        );
        self.files.round_done();
        // A reopen waits for every handle on the old database, this one included.
        drop(db);
        let (phase, error) = match result {
            Ok(()) => {
                if self.known_operations.len() + new_operations.len() > MAX_KNOWN_OPERATIONS {
                    self.known_operations.clear();
                }
                self.known_operations.extend(new_operations);
                for (signal, partition, bytes) in new_rows {
                    self.compaction.wrote(signal, partition, bytes);
                }
                self.queue.commits.fetch_add(1, Ordering::Relaxed);
                self.recovered();
                return Ok(());
            }
            Err(failure) => failure,
        };
        tracing::error!(%error, batches = batches.len(), "group commit failed");
        self.segments.abandon_round();
        let mut repair = Repair {
            reopen_index: matches!(phase, Phase::Index),
        };
        if let Err(cause) = self.repair(&mut repair) {
            let cause = cause.unwrap_or_else(|| error.clone());
            tracing::error!(error = %cause, "the store cannot write until it is repaired; retrying");
            self.failing(cause, Some(repair));
        }
        Err(error)
    }

    /// Finds out which of `batches`, which just failed together with `error`, cannot be
    /// written. Splits them in halves and commits each: when one half commits and the other
    /// fails, the fault lies in the failing half, which is split again; when both fail, the cause
    /// is not one batch (a full disk, a broken device) and each batch gets its half's error. So
    /// a single batch that cannot be written fails alone, after about 2·log2(n) more attempts,
    /// and a store that cannot write at all costs two more attempts, not n.
    ///
    /// `pinned` says that a sibling of `batches` just committed, so the store can write and the
    /// failure is theirs; otherwise it counts against the store's health.
    fn isolate(&mut self, mut batches: Vec<Pending>, error: WriteError, pinned: bool) {
        if batches.len() < 2 || self.blocked().is_some() {
            if !pinned {
                self.failing(error.clone(), None);
            }
            return self.finish(batches, Err(error));
        }
        let right = batches.split_off(batches.len() / 2);
        let left = batches;
        let left = match self.attempt(&left) {
            Ok(()) => {
                self.finish(left, Ok(()));
                None
            }
            Err(error) => Some((left, error)),
        };
        match (left, self.attempt(&right)) {
            (None, Ok(())) => self.finish(right, Ok(())),
            (None, Err(error)) => self.isolate(right, error, true),
            (Some((left, error)), Ok(())) => {
                self.finish(right, Ok(()));
                self.isolate(left, error, true);
            }
            (Some((left, left_error)), Err(right_error)) => {
                self.failing(right_error.clone(), None);
                self.finish(left, Err(left_error));
                self.finish(right, Err(right_error));
            }
        }
    }

    /// Brings the store back to a state a round can start from: reopens the index if
    /// `repair` says so (redb then recovers it to its last durable commit), then cuts off
    /// every segment tail no index entry references, exactly as at open. Clears what it
    /// completed from `repair`. `Err(None)`: readers still hold the old index, try later.
    fn repair(&mut self, repair: &mut Repair) -> Result<(), Option<WriteError>> {
        if repair.reopen_index {
            match self.index.reopen() {
                Ok(()) => repair.reopen_index = false,
                Err(ReopenError::InUse) => return Err(None),
                Err(ReopenError::Open(e)) => {
                    return Err(Some(WriteError::index(self.index.path(), e)));
                }
            }
        }
        let db = self.index.get().ok_or(None)?;
        segment::recover(
            &self.data_dir,
            &db,
            segment::Recovery::AfterFailedRound(&self.files),
        )
        .map_err(|e| Some(recovery_error(e)))
    }

    /// Called when the backoff delay of the current trouble has passed: completes the repair
    /// if one is pending, then checks whether the disk takes writes again. Success ends the
    /// trouble; failure waits twice as long before the next try.
    fn retry(&mut self) {
        let Some(mut trouble) = self.trouble.take() else {
            return;
        };
        match self.repair_and_probe(&mut trouble.repair) {
            Ok(()) => self.recovered(),
            Err(None) => self.trouble = Some(trouble.later()),
            Err(Some(error)) => {
                tracing::warn!(%error, "the store still cannot write");
                self.queue.set_health(Some(&error));
                trouble.error = error;
                self.trouble = Some(trouble.later());
            }
        }
    }

    fn repair_and_probe(&mut self, repair: &mut Option<Repair>) -> Result<(), Option<WriteError>> {
        if let Some(pending) = repair {
            self.repair(pending)?;
            *repair = None;
        }
        self.probe().map_err(Some)
    }

    /// Whether the store takes a durable write: a probe file in the data directory, then an
    /// empty durable commit of the index.
    fn probe(&mut self) -> Result<(), WriteError> {
        self.segments.probe()?;
        let db = self.index.get().ok_or_else(|| WriteError::Index {
            path: self.index.path().to_path_buf(),
            reason: "it is not open".into(),
        })?;
        let path = self.index.path();
        let mut txn = db.begin_write().map_err(|e| WriteError::index(path, e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| WriteError::index(path, e))?;
        txn.commit().map_err(|e| WriteError::index(path, e))
    }

    /// Records that writes fail with `error` (and need `repair`, if given).
    fn failing(&mut self, error: WriteError, repair: Option<Repair>) {
        self.queue.set_health(Some(&error));
        match &mut self.trouble {
            Some(trouble) => {
                trouble.error = error;
                trouble.repair = trouble.repair.or(repair);
            }
            None => {
                self.trouble = Some(Trouble {
                    error,
                    repair,
                    next_try: Instant::now() + FIRST_RETRY_DELAY,
                    delay: FIRST_RETRY_DELAY,
                });
            }
        }
    }

    /// A write succeeded: whatever the trouble was, it is over.
    fn recovered(&mut self) {
        self.trouble = None;
        if !self.queue.health().is_writing() {
            tracing::info!("the store writes again");
            self.queue.set_health(None);
        }
    }

    /// Tells each of `batches` its outcome and releases their bytes from the budget.
    fn finish(&self, batches: Vec<Pending>, result: Result<(), WriteError>) {
        self.queue.release(batches.iter().map(|p| p.bytes).sum());
        for pending in batches {
            let result = result.clone();
            // A submitter's callback must not take the writer down with it.
            if catch_unwind(AssertUnwindSafe(move || (pending.on_durable)(result))).is_err() {
                tracing::error!("an on_durable callback panicked; the writer carries on");
            }
        }
    }
}

impl Trouble {
    /// The same trouble, tried again after twice the delay.
    fn later(mut self) -> Trouble {
        self.delay = (self.delay * 2).min(MAX_RETRY_DELAY);
        self.next_try = Instant::now() + self.delay;
        self
    }
}

/// What segment recovery ran into, as a write error.
fn recovery_error(error: OpenError) -> WriteError {
    match error {
        OpenError::Io { path, source } => WriteError::io("repair segment file", &path, source),
        OpenError::Database { path, reason } => WriteError::Index { path, reason },
        other => WriteError::Index {
            path: PathBuf::new(),
            reason: other.to_string(),
        },
    }
}

/// Makes every batch of `round` durable: payloads appended and synced, then their index entries
/// in one durable transaction. The batches keep their data, so a failed round can be retried.
fn commit_round(
    db: &Database,
    index_path: &Path,
    ctx: &mut Round<'_>,
    round: &[Pending],
) -> Result<(), (Phase, WriteError)> {
    // Per signal, per partition: the fragments in arrival order.
    let mut staged: [BTreeMap<u64, Vec<&Fragment>>; 3] = Default::default();
    for pending in round {
        let partitions = &mut staged[signal_index(pending.signal)];
        for (partition, fragment) in &pending.parts {
            partitions.entry(*partition).or_default().push(fragment);
        }
    }
    // Compress and store payloads before opening the transaction: that is the slow part and
    // needs no database.
    let in_segments = |error| (Phase::Segments, error);
    let mut indexed = Vec::with_capacity(3);
    // Files the compactor rotated away from get no more appends: close them, so that removing
    // them really frees their space.
    ctx.segments
        .close_unless(|signal, partition, file| ctx.files.is_row_file(signal, partition, file))
        .map_err(in_segments)?;
    for (signal, partitions) in Signal::ALL.into_iter().zip(&staged) {
        let blocks = encode(signal, partitions, ctx.encoder).map_err(in_segments)?;
        let files = |partition| {
            ctx.files
                .row_file(db, signal, partition)
                .map_err(|e| WriteError::index(index_path, e))
        };
        let blocks = blocks.append_to(ctx.segments, files).map_err(in_segments)?;
        if crate::compactor::COMPACTED.contains(&signal) {
            ctx.new_rows
                .extend(blocks.blocks.iter().map(|(partition, entry, _)| {
                    (signal, *partition, u64::from(entry.header.uncompressed_len))
                }));
        }
        indexed.push(blocks);
    }
    ctx.segments.sync().map_err(in_segments)?;

    let in_index = |e: redb::Error| (Phase::Index, WriteError::index(index_path, e));
    let mut txn = db.begin_write().map_err(|e| in_index(e.into()))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| in_index(e.into()))?;
    for blocks in indexed {
        blocks
            .insert(&txn, ctx.known_operations, ctx.new_operations)
            .map_err(in_index)?;
    }
    txn.commit().map_err(|e| in_index(e.into()))
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// One signal's share of a round as blocks: each partition's fragments, concatenated and
/// compressed.
fn encode(
    signal: Signal,
    partitions: &BTreeMap<u64, Vec<&Fragment>>,
    encoder: &mut BlockEncoder,
) -> Result<EncodedBlocks, WriteError> {
    let mut blocks = Vec::new();
    for (partition, fragments) in partitions {
        encoder
            .encode_fragments(fragments.iter().copied(), |block| {
                blocks.push((*partition, block))
            })
            .map_err(|e| WriteError::Unencodable { reason: e.0 })?;
    }
    Ok(EncodedBlocks { signal, blocks })
}

/// One signal's encoded blocks of a round, each with its partition.
struct EncodedBlocks {
    signal: Signal,
    blocks: Vec<(u64, EncodedBlock)>,
}

impl EncodedBlocks {
    /// Appends the blocks' payloads to their partitions' segment files, in order: the order in
    /// which [`IndexedBlocks::insert`] gives them their `seq`.
    fn append_to(
        self,
        segments: &mut SegmentWriter,
        row_file: impl Fn(u64) -> Result<u32, WriteError>,
    ) -> Result<IndexedBlocks, WriteError> {
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for (partition, block) in self.blocks {
            let len = u32::try_from(block.payload.len()).map_err(|_| WriteError::Unencodable {
                reason: format!(
                    "a compressed block of {} bytes is above the 4 GiB limit",
                    block.payload.len()
                ),
            })?;
            let file = row_file(partition)?;
            let offset = segments.append(self.signal, partition, file, &block.payload)?;
            let entry = IndexEntry {
                header: block.header,
                file,
                offset,
                len,
            };
            blocks.push((partition, entry, block.keys));
        }
        Ok(IndexedBlocks {
            signal: self.signal,
            blocks,
        })
    }
}

/// One signal's blocks of a round whose payloads are in segment files, each with its partition.
struct IndexedBlocks {
    signal: Signal,
    blocks: Vec<(u64, IndexEntry, IndexKeys)>,
}

impl IndexedBlocks {
    /// Inserts the blocks' index entries after the last existing block of their partition, and
    /// adds their items to the signal's count, inside `txn`.
    fn insert(
        self,
        txn: &redb::WriteTransaction,
        known_operations: &std::collections::HashSet<Vec<u8>>,
        new_operations: &mut Vec<Vec<u8>>,
    ) -> Result<(), redb::Error> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let mut table = txn.open_table(schema::block_table(self.signal))?;
        let mut filters = txn.open_table(schema::TRACE_ID_FILTERS)?;
        let mut operations = txn.open_table(schema::TRACE_OPERATIONS)?;
        let mut next_seq = BTreeMap::<u64, u64>::new();
        let mut items = 0;
        for (partition, block, keys) in &self.blocks {
            let seq = match next_seq.entry(*partition) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let first = BlockKey::first_in(*partition).encode();
                    let last = BlockKey::last_in(*partition).encode();
                    let next = match table
                        .range::<&[u8; BlockKey::LEN]>(&first..=&last)?
                        .next_back()
                    {
                        Some(entry) => {
                            let (key, _) = entry?;
                            BlockKey::decode(key.value()).seq + 1
                        }
                        None => 0,
                    };
                    entry.insert(next)
                }
            };
            let key = BlockKey {
                partition_start: *partition,
                seq: *seq,
            };
            *seq += 1;
            table.insert(&key.encode(), block.encode().as_slice())?;
            items += block.header.item_count;
            if self.signal == Signal::Traces {
                let bloom = crate::trace_index::trace_id_filter(&keys.trace_hashes);
                filters.insert(&key.encode(), bloom.encode().as_slice())?;
                for (service, name, kind) in keys.operations.values() {
                    let op = schema::operation_key(*partition, service, name, *kind);
                    if !known_operations.contains(&op) && !new_operations.contains(&op) {
                        operations.insert(op.as_slice(), ())?;
                        new_operations.push(op);
                    }
                }
            }
        }
        let mut counts = txn.open_table(schema::ITEM_COUNTS)?;
        let key = schema::item_count_key(self.signal);
        let total = counts.get(key)?.map_or(0, |count| count.value());
        counts.insert(key, total + items)?;
        Ok(())
    }
}
