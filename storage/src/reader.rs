//! Time-range reads, written once for every signal.
//!
//! A read visits only the partitions overlapping the range, skips blocks whose header (in the
//! index) says their items all lie outside it, reads the rest's payloads from their segment files,
//! decodes them and trims them to the range. This module owns that walk; it must never write, and
//! never panic on what it finds on disk: a damaged or missing block becomes
//! [`ReadError::CorruptBlock`].
//!
//! A redb read transaction pins the database as it was when the transaction began: pages freed by
//! later commits cannot be reused while it lives, so the file grows for as long as it is open.
//! A walk therefore never holds one while it reads payloads or waits for its caller: it reads one
//! partition's index entries in a short transaction, closes it, visits those blocks, and moves
//! on to the next partition in a new transaction. Each partition is seen as one snapshot, so
//! the compactor replacing a partition's blocks while a walk visits it can neither hide spans
//! nor show them twice; the walk *pins* the partition's files (`files.rs`) so that the blocks
//! of its snapshot stay readable until it is done. The price is that a walk as a whole is not a
//! snapshot: it may see blocks committed to later partitions while it runs.

use std::ops::{Bound, ControlFlow};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use redb::{Database, ReadableDatabase, TableError};

use crate::block::{IndexEntry, decode_block};
use crate::files::{Files, Pin};
use crate::schema::{BlockKey, block_table, partition_start};
use crate::segment::{PayloadError, SegmentReader, past};
use crate::signal::{SignalGroup, retain_in_range};
use crate::{ReadError, Signal, TimeRange};

/// What every read needs: the database (anew for each partition, so the writer can reopen it
/// meanwhile), the data directory, and the files' pins.
#[derive(Clone, Copy)]
pub(crate) struct ReadContext<'a> {
    pub db: &'a dyn Fn() -> Result<Arc<Database>, ReadError>,
    pub data_dir: &'a Path,
    pub files: &'a Files,
    /// When the read must stop ([`crate::Store::until`]): no payload is read and no partition
    /// is begun after it.
    pub deadline: Option<Instant>,
}

impl ReadContext<'_> {
    /// A reader of `signal`'s segment files that keeps this read's deadline.
    pub fn segments(&self, signal: Signal) -> SegmentReader {
        SegmentReader::new(self.data_dir, signal).until(self.deadline)
    }

    /// Begins reading one partition: pins the files it may read (see `files.rs`), or, once
    /// the deadline has passed, stops the read with `Err(ReadError::Interrupted)`.
    pub fn begin_partition(&self) -> Result<Pin, ReadError> {
        if past(self.deadline) {
            return Err(ReadError::Interrupted);
        }
        Ok(self.files.pin())
    }
}

/// Every stored group of `G`'s signal, holding only the items whose time lies in `range`, in
/// (partition, block, arrival) order.
pub(crate) fn read_range<G: SignalGroup>(
    ctx: ReadContext<'_>,
    range: TimeRange,
) -> Result<Vec<G>, ReadError> {
    let mut out = Vec::new();
    scan_range(ctx, range, |mut groups: Vec<G>| {
        out.append(&mut groups);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Like [`read_range`], but hands the groups to `visit` one block at a time, so a caller can
/// stream any amount of data in the memory of one block; `visit` stops the walk by returning
/// `ControlFlow::Break`. No read transaction is open while `visit` runs, so a caller may take
/// as long as it likes.
pub(crate) fn scan_range<G: SignalGroup>(
    ctx: ReadContext<'_>,
    range: TimeRange,
    mut visit: impl FnMut(Vec<G>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let mut segments = ctx.segments(G::SIGNAL);
    walk_partitions(ctx, G::SIGNAL, range, |blocks| {
        for (key, entry) in blocks {
            let mut groups = read_block::<G>(&mut segments, key, &entry)?;
            if !entry.header.within(range) {
                retain_in_range(&mut groups, range);
            }
            if visit(groups).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(())
}

/// Reads and decodes the block `entry` describes.
pub(crate) fn read_block<G: SignalGroup>(
    segments: &mut SegmentReader,
    key: BlockKey,
    entry: &IndexEntry,
) -> Result<Vec<G>, ReadError> {
    let payload = read_payload(segments, G::SIGNAL, key, entry)?;
    decode_block::<G>(&entry.header, &payload).map_err(|e| corrupt_block(G::SIGNAL, key, e.0))
}

/// The payload bytes of the block `entry` describes.
pub(crate) fn read_payload(
    segments: &mut SegmentReader,
    signal: Signal,
    key: BlockKey,
    entry: &IndexEntry,
) -> Result<Vec<u8>, ReadError> {
    segments
        .read(key.partition_start, entry)
        .map_err(|e| match e {
            PayloadError::Missing(reason) => corrupt_block(signal, key, reason),
            PayloadError::Io(reason) => ReadError::Storage(reason),
            PayloadError::Interrupted => ReadError::Interrupted,
        })
}

/// Calls `visit` with the blocks of each partition overlapping `range` whose header overlaps
/// it (in key order), oldest partition first, each partition read in one short transaction and
/// pinned while `visit` runs, until `visit` breaks off the walk.
pub(crate) fn walk_partitions(
    ctx: ReadContext<'_>,
    signal: Signal,
    range: TimeRange,
    mut visit: impl FnMut(Vec<(BlockKey, IndexEntry)>) -> Result<ControlFlow<()>, ReadError>,
) -> Result<(), ReadError> {
    if range.start >= range.end {
        return Ok(());
    }
    let mut from = Bound::Included(BlockKey::first_in(partition_start(range.start)));
    let last = BlockKey::last_in(partition_start(range.end - 1));
    loop {
        let _pin = ctx.begin_partition()?;
        let Some((partition, blocks)) =
            read_partition(&*(ctx.db)()?, signal, from, last, |entry| {
                entry.header.overlaps(range)
            })?
        else {
            return Ok(());
        };
        if visit(blocks)?.is_break() {
            return Ok(());
        }
        from = Bound::Excluded(BlockKey::last_in(partition));
    }
}

/// A partition's start and its blocks (key and index entry), in key order.
pub(crate) type PartitionBlocks = (u64, Vec<(BlockKey, IndexEntry)>);

/// In one read transaction: finds the first partition holding a block at or after `from` (up to
/// `last`) and returns it with its blocks that `keep` accepts, in key order.
pub(crate) fn read_partition(
    db: &Database,
    signal: Signal,
    from: Bound<BlockKey>,
    last: BlockKey,
    keep: impl Fn(&IndexEntry) -> bool,
) -> Result<Option<PartitionBlocks>, ReadError> {
    let txn = db
        .begin_read()
        .map_err(|e| ReadError::Storage(e.to_string()))?;
    read_partition_in(&txn, signal, from, last, keep)
}

/// [`read_partition`] in the read transaction `txn`, so a caller can read more of the same
/// snapshot (a block's filters) beside it.
pub(crate) fn read_partition_in(
    txn: &redb::ReadTransaction,
    signal: Signal,
    from: Bound<BlockKey>,
    last: BlockKey,
    keep: impl Fn(&IndexEntry) -> bool,
) -> Result<Option<PartitionBlocks>, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let table = match txn.open_table(block_table(signal)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(storage(&e)),
    };
    let from = from.map(BlockKey::encode);
    let last_key = last.encode();
    let first = table
        .range::<&[u8; BlockKey::LEN]>((from.as_ref(), Bound::Included(&last_key)))
        .map_err(|e| storage(&e))?
        .next()
        .transpose()
        .map_err(|e| storage(&e))?;
    let Some((first, _)) = first else {
        return Ok(None);
    };
    let partition = BlockKey::decode(first.value()).partition_start;
    let start = first.value().to_owned();
    let end = BlockKey::last_in(partition).encode();
    let mut blocks = Vec::new();
    for entry in table
        .range::<&[u8; BlockKey::LEN]>(&start..=&end)
        .map_err(|e| storage(&e))?
    {
        let (key, value) = entry.map_err(|e| storage(&e))?;
        let key = BlockKey::decode(key.value());
        let entry =
            IndexEntry::parse(value.value()).map_err(|e| corrupt_block(signal, key, e.0))?;
        if keep(&entry) {
            blocks.push((key, entry));
        }
    }
    Ok(Some((partition, blocks)))
}

/// The partitions holding blocks of `signal` that overlap `range` by partition, newest first,
/// found in one short read transaction with one index probe per partition (no entry is read).
pub(crate) fn partitions_newest_first(
    db: &Database,
    signal: Signal,
    range: TimeRange,
) -> Result<Vec<u64>, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let mut partitions = Vec::new();
    if range.start >= range.end {
        return Ok(partitions);
    }
    let txn = db.begin_read().map_err(|e| storage(&e))?;
    let table = match txn.open_table(block_table(signal)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(partitions),
        Err(e) => return Err(storage(&e)),
    };
    let first = BlockKey::first_in(partition_start(range.start)).encode();
    let mut upper = Bound::Included(BlockKey::last_in(partition_start(range.end - 1)).encode());
    loop {
        let newest = table
            .range::<&[u8; BlockKey::LEN]>((Bound::Included(&first), upper.as_ref()))
            .map_err(|e| storage(&e))?
            .next_back()
            .transpose()
            .map_err(|e| storage(&e))?;
        let Some((key, _)) = newest else {
            return Ok(partitions);
        };
        let partition = BlockKey::decode(key.value()).partition_start;
        partitions.push(partition);
        if partition <= partition_start(range.start) {
            return Ok(partitions);
        }
        upper = Bound::Excluded(BlockKey::first_in(partition).encode());
    }
}

pub(crate) fn corrupt_block(signal: Signal, key: BlockKey, reason: String) -> ReadError {
    ReadError::CorruptBlock {
        signal,
        partition_start: key.partition_start,
        seq: key.seq,
        reason,
    }
}
