//! Group commit: the queue submitters push batches into, and the one writer thread that drains it.
//!
//! Each round, the writer takes everything queued since its last commit, merges it per signal and
//! time partition into as few blocks as possible, writes them and the updated item counts in ONE
//! redb write transaction with immediate durability, and only after that commit returns tells
//! every submitter the outcome. Backpressure is a byte budget over queued and in-flight batches.
//! This module owns the queue, the thread and the write transaction; it must never acknowledge a
//! batch before its commit is durable, never block a submitter, and never lose a callback (each
//! `on_durable` runs exactly once, even on failure or shutdown).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use prost::Message;
use redb::{Database, Durability, ReadableTable};

use crate::block::{BlockEncoder, EncodedBlock};
use crate::schema::{self, BlockKey};
use crate::signal::{SignalGroup, split_by_partition};
use crate::{
    Batch, OnDurable, ResourceLogs, ResourceMetrics, ResourceSpans, Signal, SubmitError, WriteError,
};

/// A batch waiting for the writer.
struct Pending {
    batch: Batch,
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
        // Measured outside the lock: it walks the whole batch.
        let bytes = batch_bytes(&batch);
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
            batch,
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

/// Bytes a batch counts against `max_pending_bytes`: its protobuf size.
fn batch_bytes(batch: &Batch) -> usize {
    fn sum<G: Message>(groups: &[G]) -> usize {
        groups.iter().map(Message::encoded_len).sum()
    }
    match batch {
        Batch::Traces(groups) => sum(groups),
        Batch::Metrics(groups) => sum(groups),
        Batch::Logs(groups) => sum(groups),
    }
}

/// Starts the writer thread. It runs until `queue` is closed and drained.
pub(crate) fn spawn_writer(
    db: Arc<Database>,
    queue: Arc<CommitQueue>,
) -> std::io::Result<JoinHandle<()>> {
    let encoder = BlockEncoder::new()?;
    std::thread::Builder::new()
        .name("otelite-writer".into())
        .spawn(move || run_writer(&db, &queue, encoder))
}

fn run_writer(db: &Database, queue: &CommitQueue, mut encoder: BlockEncoder) {
    while let Some(mut round) = queue.take_all() {
        let result = commit_round(db, &mut encoder, &mut round);
        match &result {
            Ok(()) => {
                queue.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::error!(%error, batches = round.len(), "group commit failed"),
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

/// Writes every batch of `round` in one durable transaction. The batches' data is moved out.
fn commit_round(
    db: &Database,
    encoder: &mut BlockEncoder,
    round: &mut [Pending],
) -> Result<(), WriteError> {
    let mut traces = Staged::<ResourceSpans>::default();
    let mut metrics = Staged::<ResourceMetrics>::default();
    let mut logs = Staged::<ResourceLogs>::default();
    for pending in round.iter_mut() {
        match &mut pending.batch {
            Batch::Traces(groups) => traces.add(std::mem::take(groups)),
            Batch::Metrics(groups) => metrics.add(std::mem::take(groups)),
            Batch::Logs(groups) => logs.add(std::mem::take(groups)),
        }
    }
    // Compress before opening the transaction: it is the slow part and needs no database.
    let traces = traces.encode(encoder)?;
    let metrics = metrics.encode(encoder)?;
    let logs = logs.encode(encoder)?;

    let storage = |e: &dyn std::fmt::Display| WriteError::Storage(e.to_string());
    let mut txn = db.begin_write().map_err(|e| storage(&e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| storage(&e))?;
    traces.insert(&txn)?;
    metrics.insert(&txn)?;
    logs.insert(&txn)?;
    txn.commit().map_err(|e| storage(&e))
}

/// One signal's share of a round: its groups, by partition, in arrival order.
struct Staged<G> {
    partitions: BTreeMap<u64, Vec<G>>,
}

impl<G> Default for Staged<G> {
    fn default() -> Self {
        Staged {
            partitions: BTreeMap::new(),
        }
    }
}

impl<G: SignalGroup> Staged<G> {
    fn add(&mut self, groups: Vec<G>) {
        for group in groups {
            split_by_partition(group, |partition, part| {
                self.partitions.entry(partition).or_default().push(part);
            });
        }
    }

    fn encode(self, encoder: &mut BlockEncoder) -> Result<EncodedBlocks, WriteError> {
        let mut blocks = Vec::new();
        for (partition, groups) in &self.partitions {
            encoder
                .encode_blocks(groups, |block| blocks.push((*partition, block)))
                .map_err(|e| WriteError::Storage(format!("could not encode a block: {}", e.0)))?;
        }
        Ok(EncodedBlocks {
            signal: G::SIGNAL,
            blocks,
        })
    }
}

/// One signal's encoded blocks of a round, each with its partition.
struct EncodedBlocks {
    signal: Signal,
    blocks: Vec<(u64, EncodedBlock)>,
}

impl EncodedBlocks {
    /// Inserts the blocks after the last existing block of their partition, and adds their items
    /// to the signal's count, inside `txn`.
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
                .insert(&key.encode(), block.bytes.as_slice())
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
