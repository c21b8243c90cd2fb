//! Every file, redb table and key encoding otelite stores, in one place.
//!
//! This module owns the names of the database file, the segment files and the tables, the on-disk
//! format version, the time-partition width and the byte encoding of every key. `docs/format.md` describes the
//! same bytes for humans; the two must change together, and any change to an existing encoding
//! must bump [`FORMAT_VERSION`]. This module must never know about OTLP message contents,
//! compression or threads: it only says where bytes live and how keys are spelled.

use std::path::{Path, PathBuf};

use redb::TableDefinition;

use crate::Signal;

/// The on-disk format this build reads and writes. Stored in [`META`] under
/// [`META_FORMAT_VERSION`] when a store is created; a store holding any other version is refused.
pub(crate) const FORMAT_VERSION: u32 = 4;

/// Older formats this build opens and upgrades in place: they differ only by what they lack
/// (version 1: file numbers other than 0, codec 2, the trace tables; version 2: codec 3 and
/// the log tables; version 3: codec 4 and the metric tables), so their data is read as is.
pub(crate) const UPGRADABLE_FORMATS: [u64; 3] = [1, 2, 3];

/// The redb file inside the data directory: settings, counts and the block index.
pub(crate) const DATABASE_FILE: &str = "otelite.redb";

/// A file the writer creates, syncs and removes in the data directory to find out whether the
/// disk takes writes again after writes failed. Never holds data; a leftover one is harmless.
pub(crate) const PROBE_FILE: &str = "write-probe.tmp";

/// The directory, inside the data directory, holding one sub-directory of segment files per
/// signal (named by [`Signal::name`]).
pub(crate) const SEGMENTS_DIR: &str = "segments";

/// File name extension of a segment file; its stem is the partition start in decimal.
const SEGMENT_EXTENSION: &str = "seg";

/// The directory holding `signal`'s segment files, relative to the data directory.
pub(crate) fn segment_dir(data_dir: &Path, signal: Signal) -> PathBuf {
    data_dir.join(SEGMENTS_DIR).join(signal.name())
}

/// Name of segment file number `file` of the partition starting at `partition_start`: file 0
/// is `<partition_start>.seg` (the only file format version 1 knew), file `n` is
/// `<partition_start>.<n>.seg`.
pub(crate) fn segment_file_name(partition_start: u64, file: u32) -> String {
    match file {
        0 => format!("{partition_start}.{SEGMENT_EXTENSION}"),
        n => format!("{partition_start}.{n}.{SEGMENT_EXTENSION}"),
    }
}

/// The partition and file number a segment file name stands for, or `None` if the name is not
/// one otelite writes (such files are left alone).
pub(crate) fn segment_file(file_name: &str) -> Option<(u64, u32)> {
    let stem = file_name
        .strip_suffix(SEGMENT_EXTENSION)?
        .strip_suffix('.')?;
    let (partition, file) = match stem.split_once('.') {
        Some((partition, file)) => (partition, file.parse().ok()?),
        None => (stem, 0),
    };
    let partition_start: u64 = partition.parse().ok()?;
    // Only the canonical spelling: no sign, no leading zeros, on a partition boundary.
    (segment_file_name(partition_start, file) == file_name
        && partition_start.is_multiple_of(PARTITION_NS)
        && file < MAX_SEGMENT_FILE)
        .then_some((partition_start, file))
}

/// File numbers are stored in 3 bytes of an index entry.
pub(crate) const MAX_SEGMENT_FILE: u32 = 1 << 24;

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

/// Block tables, the index of the segment files: [`BlockKey`] bytes -> index entry (block header
/// and the payload's place in its segment file, see `block::IndexEntry`).
pub(crate) type BlockTable = TableDefinition<'static, &'static [u8; BlockKey::LEN], &'static [u8]>;

const TRACE_BLOCKS: BlockTable = TableDefinition::new("trace_blocks");
const METRIC_BLOCKS: BlockTable = TableDefinition::new("metric_blocks");
const LOG_BLOCKS: BlockTable = TableDefinition::new("log_blocks");

/// Trace-id filter of every trace block: [`BlockKey`] bytes -> a bloom filter (`bloom.rs`) of
/// the trace ids in the block. Written in the same transaction as the block's index entry and
/// deleted with it, so a lookup reads only the blocks that may hold a trace.
pub(crate) const TRACE_ID_FILTERS: BlockTable = TableDefinition::new("trace_id_filters");

/// Search filter of every codec-2 trace block: [`BlockKey`] bytes -> `trace_index::SearchFilter`
/// bytes (what services, operations and attribute values the block's spans have), so a search
/// skips blocks that cannot match.
pub(crate) const TRACE_SEARCH_FILTERS: BlockTable = TableDefinition::new("trace_search_filters");

/// Filter of every codec-3 log block: [`BlockKey`] bytes -> `log_index::LogFilter` bytes (the
/// severities, services, streams, attribute values, ids and body words its records have), so a
/// search skips blocks that cannot match. Row blocks have none: a search reads them all.
pub(crate) const LOG_FILTERS: BlockTable = TableDefinition::new("log_filters");

/// The log stream catalog: [`stream_key`] bytes -> unit. One key per (partition, resource
/// attributes, severity text) the compactor has seen, so labels and streams are listed without
/// decoding records and dropped with their partition.
pub(crate) const LOG_STREAMS: TableDefinition<&[u8], ()> = TableDefinition::new("log_streams");

/// A [`LOG_STREAMS`] key: partition start (8 bytes big-endian), a varint count of resource
/// attributes, each as varint length + key and varint length + value text, then varint
/// length + severity text.
pub(crate) fn stream_key(
    partition_start: u64,
    resource: &[(String, String)],
    severity: &str,
) -> Vec<u8> {
    use crate::columns::put_varint;
    let mut key = partition_start.to_be_bytes().to_vec();
    put_varint(&mut key, resource.len() as u64);
    for (k, v) in resource {
        for text in [k, v] {
            put_varint(&mut key, text.len() as u64);
            key.extend_from_slice(text.as_bytes());
        }
    }
    put_varint(&mut key, severity.len() as u64);
    key.extend_from_slice(severity.as_bytes());
    key
}

/// Reads a [`stream_key`]: (resource attributes, severity text); `None` if damaged.
pub(crate) fn parse_stream_key(key: &[u8]) -> Option<(Vec<(String, String)>, String)> {
    let mut cursor = crate::columns::Cursor::new(key.get(8..)?, "stream key");
    let count = cursor.index(key.len()).ok()?;
    let read = |cursor: &mut crate::columns::Cursor<'_>| -> Option<String> {
        String::from_utf8(cursor.prefixed().ok()?.to_vec()).ok()
    };
    let mut resource = Vec::with_capacity(count);
    for _ in 0..count {
        let k = read(&mut cursor)?;
        let v = read(&mut cursor)?;
        resource.push((k, v));
    }
    let severity = read(&mut cursor)?;
    cursor.finish().ok()?;
    Some((resource, severity))
}

/// The metric series catalog: [`series_key`] bytes -> a chunk of canonical series encodings
/// (`metric_index::encode_catalog_chunk`), numbered on from the key's first id. Each
/// compaction run adds one key for the series new to the partition, so a partition's series
/// are listed without reading points, and dropped with it.
pub(crate) const METRIC_SERIES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("metric_series");

/// Series list of every codec-4 metric block: [`BlockKey`] bytes -> the catalog ids of the
/// series whose chunks it holds, with each chunk's time bounds (`metric_index::ChunkEntry`), so
/// a query decodes only blocks holding series it wants.
pub(crate) const METRIC_BLOCK_SERIES: BlockTable = TableDefinition::new("metric_block_series");

/// A [`METRIC_SERIES`] key: partition start (8 bytes big-endian), then the id of the chunk's
/// first series (4 bytes big-endian).
pub(crate) fn series_key(partition_start: u64, first_id: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(&partition_start.to_be_bytes());
    key[8..].copy_from_slice(&first_id.to_be_bytes());
    key
}

/// Reads a [`series_key`]: (partition start, first series id).
pub(crate) fn parse_series_key(key: &[u8]) -> Option<(u64, u32)> {
    let key: &[u8; 12] = key.try_into().ok()?;
    Some((
        u64::from_be_bytes(key[..8].try_into().ok()?),
        u32::from_be_bytes(key[8..].try_into().ok()?),
    ))
}

/// The operation catalog: [`operation_key`] bytes -> unit. One key per (partition, service,
/// span name, span kind) seen, so services and operations are listed without reading spans
/// and dropped with their partition.
pub(crate) const TRACE_OPERATIONS: TableDefinition<&[u8], ()> =
    TableDefinition::new("trace_operations");

/// A [`TRACE_OPERATIONS`] key: partition start (8 bytes big-endian), service, `0x00`, span
/// name, `0x00`, span kind (4 bytes big-endian, as `i32` bits). Names holding `0x00` are cut
/// there (the catalog lists them shortened; spans keep the full name).
pub(crate) fn operation_key(partition_start: u64, service: &str, name: &str, kind: i32) -> Vec<u8> {
    let cut = |s: &str| s.split('\0').next().unwrap_or("").to_string();
    let mut key = Vec::with_capacity(8 + service.len() + name.len() + 6);
    key.extend_from_slice(&partition_start.to_be_bytes());
    key.extend_from_slice(cut(service).as_bytes());
    key.push(0);
    key.extend_from_slice(cut(name).as_bytes());
    key.push(0);
    key.extend_from_slice(&kind.to_be_bytes());
    key
}

/// Reads an [`operation_key`]: (partition start, service, name, kind).
pub(crate) fn parse_operation_key(key: &[u8]) -> Option<(u64, String, String, i32)> {
    let partition = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let rest = key.get(8..)?;
    let (kind, names) = rest
        .split_last_chunk::<4>()
        .map(|(n, k)| (i32::from_be_bytes(*k), n))?;
    let names = names.strip_suffix(&[0])?;
    let split = names.iter().position(|b| *b == 0)?;
    let service = std::str::from_utf8(&names[..split]).ok()?.to_string();
    let name = std::str::from_utf8(&names[split + 1..]).ok()?.to_string();
    Some((partition, service, name, kind))
}

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
    fn segment_file_names_round_trip_and_foreign_names_are_ignored() {
        for partition in [0, PARTITION_NS, 490_000 * PARTITION_NS] {
            for file in [0, 1, 77] {
                assert_eq!(
                    segment_file(&segment_file_name(partition, file)),
                    Some((partition, file))
                );
            }
        }
        for foreign in [
            "",
            ".seg",
            "x.seg",
            "01.seg",
            "+0.seg",
            "7.seg",
            "0.seg.tmp",
            "0",
            "0.0.seg",
            "0.01.seg",
            "0.-1.seg",
            "0.16777216.seg",
        ] {
            assert_eq!(segment_file(foreign), None, "{foreign}");
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
