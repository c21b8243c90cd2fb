//! Time-range reads, written once for every signal.
//!
//! A read visits only the partitions overlapping the range, skips blocks whose header says their
//! items all lie outside it, decodes the rest and trims them to the range. This module owns that
//! walk; it must never write, and never panic on what it finds on disk: a damaged block becomes
//! [`ReadError::CorruptBlock`].

use redb::{Database, ReadableDatabase, TableError};

use crate::block::{BlockHeader, decode_block};
use crate::schema::{BlockKey, block_table, partition_start};
use crate::signal::{SignalGroup, retain_in_range};
use crate::{ReadError, TimeRange};

/// Every stored group of `G`'s signal, holding only the items whose time lies in `range`, in
/// (partition, block, arrival) order.
pub(crate) fn read_range<G: SignalGroup>(
    db: &Database,
    range: TimeRange,
) -> Result<Vec<G>, ReadError> {
    let mut out = Vec::new();
    if range.start >= range.end {
        return Ok(out);
    }
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let txn = db.begin_read().map_err(|e| storage(&e))?;
    let table = match txn.open_table(block_table(G::SIGNAL)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(out),
        Err(e) => return Err(storage(&e)),
    };
    let first = BlockKey::first_in(partition_start(range.start)).encode();
    let last = BlockKey::last_in(partition_start(range.end - 1)).encode();
    for entry in table
        .range::<&[u8; BlockKey::LEN]>(&first..=&last)
        .map_err(|e| storage(&e))?
    {
        let (key, value) = entry.map_err(|e| storage(&e))?;
        let block = value.value();
        let corrupt = |e: crate::block::BlockError| {
            let key = BlockKey::decode(key.value());
            ReadError::CorruptBlock {
                signal: G::SIGNAL,
                partition_start: key.partition_start,
                seq: key.seq,
                reason: e.0,
            }
        };
        let header = BlockHeader::parse(block).map_err(corrupt)?;
        if !header.overlaps(range) {
            continue;
        }
        let (_, mut groups) = decode_block::<G>(block).map_err(corrupt)?;
        if !header.within(range) {
            retain_in_range(&mut groups, range);
        }
        out.append(&mut groups);
    }
    Ok(out)
}
