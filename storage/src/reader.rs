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
//! A walk therefore never holds one while it reads payloads or waits for its caller: it reads at
//! most [`INDEX_ENTRIES_PER_TXN`] index entries in a short transaction, closes it, visits those
//! blocks, and resumes after the last key it saw in a new transaction. The price is that a walk
//! is not a snapshot: it sees every block committed before it began, and may also see blocks
//! committed while it runs (never half of one, never one twice).

use std::ops::{Bound, ControlFlow};
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableError};

use crate::block::{IndexEntry, decode_block};
use crate::schema::{BlockKey, block_table, partition_start};
use crate::segment::{PayloadError, SegmentReader};
use crate::signal::{SignalGroup, retain_in_range};
use crate::{ReadError, Signal, TimeRange};

/// Index entries read per read transaction: enough that opening transactions costs nothing
/// next to decoding blocks, few enough that the list of them is a few KiB.
pub(crate) const INDEX_ENTRIES_PER_TXN: usize = 64;

/// Every stored group of `G`'s signal, holding only the items whose time lies in `range`, in
/// (partition, block, arrival) order.
pub(crate) fn read_range<G: SignalGroup>(
    db: &dyn Fn() -> Result<Arc<Database>, ReadError>,
    data_dir: &Path,
    range: TimeRange,
) -> Result<Vec<G>, ReadError> {
    let mut out = Vec::new();
    scan_range(db, data_dir, range, |mut groups: Vec<G>| {
        out.append(&mut groups);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Like [`read_range`], but hands the groups to `visit` one block at a time, so a caller can
/// stream any amount of data in the memory of one block; `visit` stops the walk by returning
/// `ControlFlow::Break`. No read transaction is open while `visit` runs, so a caller may take
/// as long as it likes; nor is the database handle held (`db` gives it anew for each chunk of
/// the index), so the writer can reopen the database after a failed write meanwhile.
pub(crate) fn scan_range<G: SignalGroup>(
    db: &dyn Fn() -> Result<Arc<Database>, ReadError>,
    data_dir: &Path,
    range: TimeRange,
    mut visit: impl FnMut(Vec<G>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    if range.start >= range.end {
        return Ok(());
    }
    let mut segments = SegmentReader::new(data_dir, G::SIGNAL);
    let mut from = Bound::Included(BlockKey::first_in(partition_start(range.start)));
    let last = BlockKey::last_in(partition_start(range.end - 1));
    loop {
        let chunk = read_index_chunk(&*db()?, G::SIGNAL, range, from, last)?;
        for (key, entry) in chunk.blocks {
            let corrupt = |reason| corrupt_block(G::SIGNAL, key, reason);
            let payload = segments
                .read(key.partition_start, &entry)
                .map_err(|e| match e {
                    PayloadError::Missing(reason) => corrupt(reason),
                    PayloadError::Io(reason) => ReadError::Storage(reason),
                })?;
            let mut groups =
                decode_block::<G>(&entry.header, &payload).map_err(|e| corrupt(e.0))?;
            if !entry.header.within(range) {
                retain_in_range(&mut groups, range);
            }
            if visit(groups).is_break() {
                return Ok(());
            }
        }
        match chunk.resume_after {
            Some(key) => from = Bound::Excluded(key),
            None => return Ok(()),
        }
    }
}

/// One read transaction's share of a walk.
struct IndexChunk {
    /// The blocks among the entries read whose header overlaps the range, in key order.
    blocks: Vec<(BlockKey, IndexEntry)>,
    /// Where the next chunk starts (after this key), or `None` if the walk has reached `last`.
    resume_after: Option<BlockKey>,
}

/// Reads up to [`INDEX_ENTRIES_PER_TXN`] index entries of `signal` from `from` to `last` in one
/// read transaction, which is closed before this returns.
fn read_index_chunk(
    db: &Database,
    signal: Signal,
    range: TimeRange,
    from: Bound<BlockKey>,
    last: BlockKey,
) -> Result<IndexChunk, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let mut chunk = IndexChunk {
        blocks: Vec::new(),
        resume_after: None,
    };
    let txn = db.begin_read().map_err(|e| storage(&e))?;
    let table = match txn.open_table(block_table(signal)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(chunk),
        Err(e) => return Err(storage(&e)),
    };
    let from = from.map(BlockKey::encode);
    let last = last.encode();
    let bounds = (from.as_ref(), Bound::Included(&last));
    let entries = table
        .range::<&[u8; BlockKey::LEN]>(bounds)
        .map_err(|e| storage(&e))?;
    let mut read = 0;
    let mut last_read = None;
    for entry in entries.take(INDEX_ENTRIES_PER_TXN) {
        let (key, value) = entry.map_err(|e| storage(&e))?;
        let key = BlockKey::decode(key.value());
        read += 1;
        last_read = Some(key);
        let entry =
            IndexEntry::parse(value.value()).map_err(|e| corrupt_block(signal, key, e.0))?;
        if entry.header.overlaps(range) {
            chunk.blocks.push((key, entry));
        }
    }
    // A full chunk may have more after it (if not, the next chunk is empty and ends the walk).
    if read == INDEX_ENTRIES_PER_TXN {
        chunk.resume_after = last_read;
    }
    Ok(chunk)
}

fn corrupt_block(signal: Signal, key: BlockKey, reason: String) -> ReadError {
    ReadError::CorruptBlock {
        signal,
        partition_start: key.partition_start,
        seq: key.seq,
        reason,
    }
}
