//! Every redb table and key encoding otelite stores, in one place.
//!
//! This module owns the names of the database file and its tables, the on-disk format version,
//! the time-partition width and the byte encoding of every key. `docs/format.md` describes the
//! same bytes for humans; the two must change together, and any change to an existing encoding
//! must bump [`FORMAT_VERSION`]. This module must never know about OTLP message contents,
//! compression or threads: it only says where bytes live and how keys are spelled.

use redb::TableDefinition;

use crate::Signal;

/// The on-disk format this build reads and writes. Stored in [`META`] under
/// [`META_FORMAT_VERSION`] when a store is created; a store holding any other version is refused.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The single redb file inside the data directory.
pub(crate) const DATABASE_FILE: &str = "otelite.redb";

/// Width of one time partition: one hour in nanoseconds. Items are filed under the partition
/// their time falls into, so a time-range read only visits overlapping partitions and retention
/// can later delete a whole partition with one range delete.
pub(crate) const PARTITION_NS: u64 = 3_600 * 1_000_000_000;

/// Store-wide settings: `&str` name -> `u64` value.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Key in [`META`] holding the format version the store was created with.
pub(crate) const META_FORMAT_VERSION: &str = "format_version";

/// Running totals per signal: `&str` name (see [`item_count_key`]) -> `u64` count. Updated in the
/// same transaction as the blocks they count, so they are always exact.
pub(crate) const ITEM_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("item_counts");

/// Block tables: [`BlockKey`] bytes -> block bytes (header + payload, see `block.rs`).
pub(crate) type BlockTable = TableDefinition<'static, &'static [u8; BlockKey::LEN], &'static [u8]>;

const TRACE_BLOCKS: BlockTable = TableDefinition::new("trace_blocks");
const METRIC_BLOCKS: BlockTable = TableDefinition::new("metric_blocks");
const LOG_BLOCKS: BlockTable = TableDefinition::new("log_blocks");

/// The block table holding `signal`'s data.
pub(crate) fn block_table(signal: Signal) -> BlockTable {
    match signal {
        Signal::Traces => TRACE_BLOCKS,
        Signal::Metrics => METRIC_BLOCKS,
        Signal::Logs => LOG_BLOCKS,
    }
}

/// The [`ITEM_COUNTS`] key counting `signal`'s items (spans, metric data points, log records).
pub(crate) fn item_count_key(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Metrics => "metric_points",
        Signal::Logs => "log_records",
    }
}

/// The start of the partition holding items stamped `time_unix_nano`. Time 0 (unset) lands in
/// partition 0, so nothing is ever dropped for lack of a timestamp.
pub(crate) fn partition_start(time_unix_nano: u64) -> u64 {
    time_unix_nano - time_unix_nano % PARTITION_NS
}

/// Address of one block: its partition and a sequence number unique within that partition.
///
/// Encoded as 16 bytes, `partition_start` then `seq`, both big-endian, so byte order equals
/// (partition, seq) order and one partition is one contiguous key range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct BlockKey {
    pub partition_start: u64,
    pub seq: u64,
}

impl BlockKey {
    pub const LEN: usize = 16;

    pub fn encode(self) -> [u8; Self::LEN] {
        let mut bytes = [0u8; Self::LEN];
        bytes[..8].copy_from_slice(&self.partition_start.to_be_bytes());
        bytes[8..].copy_from_slice(&self.seq.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8; Self::LEN]) -> Self {
        let (partition, seq) = bytes.split_at(8);
        BlockKey {
            partition_start: u64::from_be_bytes(partition.try_into().expect("8 bytes")),
            seq: u64::from_be_bytes(seq.try_into().expect("8 bytes")),
        }
    }

    /// The smallest key of the partition starting at `partition_start`.
    pub fn first_in(partition_start: u64) -> Self {
        BlockKey {
            partition_start,
            seq: 0,
        }
    }

    /// The largest key of the partition starting at `partition_start`.
    pub fn last_in(partition_start: u64) -> Self {
        BlockKey {
            partition_start,
            seq: u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_keys_sort_by_partition_then_seq() {
        let keys = [
            BlockKey::first_in(0),
            BlockKey {
                partition_start: 0,
                seq: 300,
            },
            BlockKey::last_in(0),
            BlockKey::first_in(PARTITION_NS),
            BlockKey {
                partition_start: PARTITION_NS,
                seq: 1,
            },
            BlockKey::first_in(u64::MAX - u64::MAX % PARTITION_NS),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0].encode() < pair[1].encode(), "{pair:?}");
            assert_eq!(BlockKey::decode(&pair[0].encode()), pair[0]);
        }
    }

    #[test]
    fn partitions_are_hour_aligned() {
        assert_eq!(partition_start(0), 0);
        assert_eq!(partition_start(PARTITION_NS - 1), 0);
        assert_eq!(partition_start(PARTITION_NS), PARTITION_NS);
        assert_eq!(partition_start(5 * PARTITION_NS + 7), 5 * PARTITION_NS);
    }
}
