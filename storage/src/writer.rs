//! Group commit: the queue submitters push batches into, and the one writer thread that drains it.
//!
//! A submitter splits its batch by time partition and encodes it to protobuf fragments on its own
//! thread (so that encoding, the costliest step after compression, runs in parallel and never
//! queues behind the single writer). Each round, the writer takes everything queued since its last
//! commit, concatenates it per signal and time partition into as few blocks as possible,
//! compresses them, appends their payloads to the partitions' segment files and syncs those
//! files, THEN writes the blocks' index entries and the updated item counts in ONE redb write
//! transaction with immediate durability, and only after that commit returns tells every
//! submitter the outcome. So an acknowledged block's payload and index entry are both durable,
//! and a committed index entry never points at unsynced bytes.
//! Backpressure is a byte budget over the encoded size of queued and in-flight batches.
//! This module owns the queue, the thread and the round's protocol; it must never acknowledge a
//! batch before its commit is durable, never commit an index entry before its payload is synced,
//! never block a submitter, and never lose a callback (each `on_durable` runs exactly once, even
//! on failure or shutdown).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use redb::{Database, Durability, ReadableTable};

use crate::block::{BlockEncoder, EncodedBlock, Fragment, IndexEntry};
use crate::schema::{self, BlockKey};
use crate::segment::SegmentWriter;
use crate::signal::{SignalGroup, split_by_partition};
use crate::{Batch, OnDurable, Signal, SubmitError, WriteError};

/// A fragment is closed at this size and the next group starts a new one, so that the writer can
/// still close blocks near [`crate::block::TARGET_BLOCK_BYTES`] however large a batch is.
const FRAGMENT_BYTES: usize = 256 << 10;

/// A batch waiting for the writer, already encoded: its fragments, each with its partition.
struct Pending {
    signal: Signal,
    parts: Vec<(u64, Fragment)>,
    bytes: usize,
    on_durable: OnDurable,
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
}

impl CommitQueue {
    pub fn new(max_pending_bytes: usize) -> CommitQueue {
        CommitQueue {
            state: Mutex::new(QueueState::default()),
            wake_writer: Condvar::new(),
            max_pending_bytes,
            commits: AtomicU64::new(0),
        }
    }

    /// Number of transactions committed since the store was opened.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub fn submit(&self, batch: Batch, on_durable: OnDurable) -> Result<(), SubmitError> {
        // Encoded outside the lock, on the submitter's thread.
        let (signal, parts) = encode_batch(batch);
        let bytes = parts.iter().map(|(_, fragment)| fragment.bytes.len()).sum();
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

    /// Blocks until something is queued, then takes all of it. `None` once closed and drained.
    fn take_all(&self) -> Option<Vec<Pending>> {
        let mut state = self.lock();
        loop {
            if !state.queued.is_empty() {
                return Some(std::mem::take(&mut state.queued));
            }
            if state.closed {
                return None;
            }
            state = self
                .wake_writer
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
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

/// Starts the writer thread. It runs until `queue` is closed and drained.
pub(crate) fn spawn_writer(
    db: Arc<Database>,
    segments: SegmentWriter,
    queue: Arc<CommitQueue>,
) -> std::io::Result<JoinHandle<()>> {
    let encoder = BlockEncoder::new()?;
    std::thread::Builder::new()
        .name("otelite-writer".into())
        .spawn(move || run_writer(&db, segments, &queue, encoder))
}

fn run_writer(
    db: &Database,
    mut segments: SegmentWriter,
    queue: &CommitQueue,
    mut encoder: BlockEncoder,
) {
    while let Some(mut round) = queue.take_all() {
        let result = commit_round(db, &mut segments, &mut encoder, &mut round);
        match &result {
            Ok(()) => {
                segments.finish_round();
                queue.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                segments.abandon_round();
                tracing::error!(%error, batches = round.len(), "group commit failed");
            }
        }
        queue.release(round.iter().map(|p| p.bytes).sum());
        for pending in round {
            let result = result.clone();
            // A submitter's callback must not take the writer down with it.
            if catch_unwind(AssertUnwindSafe(move || (pending.on_durable)(result))).is_err() {
                tracing::error!("an on_durable callback panicked; the writer carries on");
            }
        }
    }
}

/// Makes every batch of `round` durable: payloads appended and synced, then their index entries
/// in one durable transaction. The batches' data is moved out.
fn commit_round(
    db: &Database,
    segments: &mut SegmentWriter,
    encoder: &mut BlockEncoder,
    round: &mut [Pending],
) -> Result<(), WriteError> {
    // Per signal, per partition: the fragments in arrival order.
    let mut staged: [BTreeMap<u64, Vec<Fragment>>; 3] = Default::default();
    for pending in round.iter_mut() {
        let partitions = &mut staged[signal_index(pending.signal)];
        for (partition, fragment) in std::mem::take(&mut pending.parts) {
            partitions.entry(partition).or_default().push(fragment);
        }
    }
    // Compress and store payloads before opening the transaction: that is the slow part and
    // needs no database.
    let mut indexed = Vec::with_capacity(3);
    for (signal, partitions) in Signal::ALL.into_iter().zip(&staged) {
        indexed.push(encode(signal, partitions, encoder)?.append_to(segments)?);
    }
    segments.sync()?;

    let storage = |e: &dyn std::fmt::Display| WriteError::Storage(e.to_string());
    let mut txn = db.begin_write().map_err(|e| storage(&e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| storage(&e))?;
    for blocks in indexed {
        blocks.insert(&txn)?;
    }
    txn.commit().map_err(|e| storage(&e))
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
    partitions: &BTreeMap<u64, Vec<Fragment>>,
    encoder: &mut BlockEncoder,
) -> Result<EncodedBlocks, WriteError> {
    let mut blocks = Vec::new();
    for (partition, fragments) in partitions {
        encoder
            .encode_fragments(fragments, |block| blocks.push((*partition, block)))
            .map_err(|e| WriteError::Storage(format!("could not encode a block: {}", e.0)))?;
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
    fn append_to(self, segments: &mut SegmentWriter) -> Result<IndexedBlocks, WriteError> {
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for (partition, block) in self.blocks {
            let len = u32::try_from(block.payload.len()).map_err(|_| {
                WriteError::Storage(format!(
                    "a compressed block of {} bytes is above the 4 GiB limit",
                    block.payload.len()
                ))
            })?;
            let offset = segments.append(self.signal, partition, &block.payload)?;
            let entry = IndexEntry {
                header: block.header,
                offset,
                len,
            };
            blocks.push((partition, entry));
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
    blocks: Vec<(u64, IndexEntry)>,
}

impl IndexedBlocks {
    /// Inserts the blocks' index entries after the last existing block of their partition, and
    /// adds their items to the signal's count, inside `txn`.
    fn insert(self, txn: &redb::WriteTransaction) -> Result<(), WriteError> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let storage = |e: &dyn std::fmt::Display| WriteError::Storage(e.to_string());
        let mut table = txn
            .open_table(schema::block_table(self.signal))
            .map_err(|e| storage(&e))?;
        let mut next_seq = BTreeMap::<u64, u64>::new();
        let mut items = 0;
        for (partition, block) in &self.blocks {
            let seq = match next_seq.entry(*partition) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let first = BlockKey::first_in(*partition).encode();
                    let last = BlockKey::last_in(*partition).encode();
                    let next = match table
                        .range::<&[u8; BlockKey::LEN]>(&first..=&last)
                        .map_err(|e| storage(&e))?
                        .next_back()
                    {
                        Some(entry) => {
                            let (key, _) = entry.map_err(|e| storage(&e))?;
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
            table
                .insert(&key.encode(), block.encode().as_slice())
                .map_err(|e| storage(&e))?;
            items += block.header.item_count;
        }
        let mut counts = txn
            .open_table(schema::ITEM_COUNTS)
            .map_err(|e| storage(&e))?;
        let key = schema::item_count_key(self.signal);
        let total = counts
            .get(key)
            .map_err(|e| storage(&e))?
            .map_or(0, |count| count.value());
        counts.insert(key, total + items).map_err(|e| storage(&e))?;
        Ok(())
    }
}
