//! Time-range reads, written once for every signal.
//!
//! A read visits only the partitions overlapping the range, skips blocks whose header (in the
//! index) says their items all lie outside it, reads the rest's payloads from their segment files,
//! decodes them and trims them to the range. This module owns that walk; it must never write, and
//! never panic on what it finds on disk: a damaged or missing block becomes
//! [`ReadError::CorruptBlock`].

use std::ops::ControlFlow;
use std::path::Path;

use redb::{Database, ReadableDatabase, TableError};

use crate::block::{IndexEntry, decode_block};
use crate::schema::{BlockKey, block_table, partition_start};
use crate::segment::{PayloadError, SegmentReader};
use crate::signal::{SignalGroup, retain_in_range};
use crate::{ReadError, TimeRange};

/// Every stored group of `G`'s signal, holding only the items whose time lies in `range`, in
/// (partition, block, arrival) order.
pub(crate) fn read_range<G: SignalGroup>(
    db: &Database,
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
/// `ControlFlow::Break`.
pub(crate) fn scan_range<G: SignalGroup>(
    db: &Database,
    data_dir: &Path,
    range: TimeRange,
    mut visit: impl FnMut(Vec<G>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    if range.start >= range.end {
        return Ok(());
    }
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let txn = db.begin_read().map_err(|e| storage(&e))?;
    let table = match txn.open_table(block_table(G::SIGNAL)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(storage(&e)),
    };
    let mut segments = SegmentReader::new(data_dir, G::SIGNAL);
    let first = BlockKey::first_in(partition_start(range.start)).encode();
    let last = BlockKey::last_in(partition_start(range.end - 1)).encode();
    for entry in table
        .range::<&[u8; BlockKey::LEN]>(&first..=&last)
        .map_err(|e| storage(&e))?
    {
        let (key, value) = entry.map_err(|e| storage(&e))?;
        let key = BlockKey::decode(key.value());
        let corrupt = |reason: String| ReadError::CorruptBlock {
            signal: G::SIGNAL,
            partition_start: key.partition_start,
            seq: key.seq,
            reason,
        };
        let entry = IndexEntry::parse(value.value()).map_err(|e| corrupt(e.0))?;
        if !entry.header.overlaps(range) {
            continue;
        }
        let payload = segments
            .read(key.partition_start, &entry)
            .map_err(|e| match e {
                PayloadError::Missing(reason) => corrupt(reason),
                PayloadError::Io(reason) => ReadError::Storage(reason),
            })?;
        let mut groups = decode_block::<G>(&entry.header, &payload).map_err(|e| corrupt(e.0))?;
        if !entry.header.within(range) {
            retain_in_range(&mut groups, range);
        }
        if visit(groups).is_break() {
            break;
        }
    }
    Ok(())
}
