//! Metric series queries: which series have points in a time range, and their points.
//!
//! A query visits the partitions overlapping its range, oldest first, each as one snapshot
//! (its block entries, the series lists of its codec-4 blocks and its series catalog read in
//! one transaction). Row blocks (not yet compacted) are decoded and taken apart by series.
//! For a codec-4 block the series list (`METRIC_BLOCK_SERIES`: which catalog series the block
//! holds, with each chunk's time bounds) and the partition's series catalog (`METRIC_SERIES`:
//! series id → canonical encoding) say which series it holds before its payload is read, so
//! `wanted` is asked first and only blocks holding a wanted series are decoded; a listing of
//! series decodes no values at all (only times, and only where a chunk straddles the range).
//! This module owns those two tables' value encodings and must never write.

use std::ops::Bound;

use redb::ReadableDatabase;

use crate::block::{BlockError, BlockHeader, CODEC_ZSTD_PROTOBUF};
use crate::columns::{Cursor, SectionReader, SectionWriter, put_varint};
use crate::metric_block::{self, CODEC_METRIC_CHUNKS};
use crate::metric_query::{Collected, MetricSeries, SeriesCollector};
use crate::reader::{self, ReadContext, corrupt_block, read_block, read_payload};
use crate::schema::{self, BlockKey, partition_start};
use crate::{ReadError, ResourceMetrics, Signal, TimeRange};

/// One series chunk of a codec-4 block, as its series list says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkEntry {
    /// The series' id in its partition's catalog.
    pub id: u32,
    pub min_time: u64,
    pub max_time: u64,
}

/// A block's series list: the varint count, then per chunk (in block order) the varint series
/// id, `min_time - header min` and `max_time - min_time`.
pub(crate) fn encode_chunk_list(header: &BlockHeader, chunks: &[ChunkEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, chunks.len() as u64);
    for chunk in chunks {
        put_varint(&mut out, u64::from(chunk.id));
        put_varint(&mut out, chunk.min_time.wrapping_sub(header.min_time));
        put_varint(&mut out, chunk.max_time.wrapping_sub(chunk.min_time));
    }
    out
}

pub(crate) fn decode_chunk_list(
    header: &BlockHeader,
    bytes: &[u8],
) -> Result<Vec<ChunkEntry>, BlockError> {
    let mut cursor = Cursor::new(bytes, "series list");
    let count = cursor.index(bytes.len() + 1)?;
    let mut chunks = Vec::with_capacity(count);
    for _ in 0..count {
        let id = u32::try_from(cursor.varint()?)
            .map_err(|_| BlockError("a series id above 2^32".into()))?;
        let min_time = header.min_time.wrapping_add(cursor.varint()?);
        let max_time = min_time.wrapping_add(cursor.varint()?);
        chunks.push(ChunkEntry {
            id,
            min_time,
            max_time,
        });
    }
    cursor.finish()?;
    Ok(chunks)
}

/// A [`schema::METRIC_SERIES`] value: a columnar payload of one compressed section, the varint
/// number of series, then each one's canonical encoding (varint length, bytes); their ids run
/// on from the key's first id.
pub(crate) fn encode_catalog_chunk(
    series: &[&[u8]],
    zstd: &mut zstd::bulk::Compressor<'static>,
) -> Result<Vec<u8>, BlockError> {
    let mut bytes = Vec::new();
    put_varint(&mut bytes, series.len() as u64);
    for canonical in series {
        put_varint(&mut bytes, canonical.len() as u64);
        bytes.extend_from_slice(canonical);
    }
    let mut out = SectionWriter::new(zstd);
    out.compressed(&bytes)?;
    Ok(out.finish())
}

fn decode_catalog_chunk(bytes: &[u8]) -> Result<Vec<Vec<u8>>, BlockError> {
    let mut reader = SectionReader::new(bytes)?;
    let section = reader.next("series catalog")?.bytes()?;
    reader.finish()?;
    let mut cursor = Cursor::new(&section, "series catalog");
    let count = cursor.index(section.len() + 1)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(cursor.prefixed()?.to_vec());
    }
    cursor.finish()?;
    Ok(out)
}

/// The series catalog of `partition` in `txn`'s snapshot: canonical encodings by series id.
pub(crate) fn load_catalog(
    txn: &redb::ReadTransaction,
    partition: u64,
) -> Result<Vec<Vec<u8>>, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let table = match txn.open_table(schema::METRIC_SERIES) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(&e)),
    };
    let damaged = |reason: String| ReadError::CorruptBlock {
        signal: Signal::Metrics,
        partition_start: partition,
        seq: 0,
        reason: format!("the partition's series catalog is damaged: {reason}"),
    };
    let mut catalog = Vec::new();
    let from = schema::series_key(partition, 0);
    let to = schema::series_key(partition, u32::MAX);
    for entry in table
        .range::<&[u8]>(&from[..]..=&to[..])
        .map_err(|e| storage(&e))?
    {
        let (key, value) = entry.map_err(|e| storage(&e))?;
        let first = schema::parse_series_key(key.value())
            .ok_or_else(|| damaged("a key of the wrong length".into()))?
            .1;
        if first as usize != catalog.len() {
            return Err(damaged(format!(
                "series {first} follows {} series",
                catalog.len()
            )));
        }
        catalog.extend(decode_catalog_chunk(value.value()).map_err(|e| damaged(e.0))?);
    }
    Ok(catalog)
}

/// A partition's blocks overlapping the query, each with its series list if it is codec 4.
type Blocks = Vec<(BlockKey, crate::block::IndexEntry, Option<Vec<ChunkEntry>>)>;

/// The series with points in `range` that `wanted` accepts, with those points when
/// `keep_points` (else only the series), merged over partitions and blocks, sorted and rid of
/// retried duplicates.
pub(crate) fn select(
    ctx: ReadContext<'_>,
    range: TimeRange,
    wanted: &mut dyn FnMut(&MetricSeries) -> bool,
    keep_points: bool,
) -> Result<Vec<Collected>, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let mut collector = SeriesCollector::new(wanted, keep_points);
    if range.start >= range.end {
        return Ok(Vec::new());
    }
    let mut segments = ctx.segments(Signal::Metrics);
    let mut from = Bound::Included(BlockKey::first_in(partition_start(range.start)));
    let last = BlockKey::last_in(partition_start(range.end - 1));
    loop {
        let _pin = ctx.begin_partition()?;
        let db = (ctx.db)()?;
        let txn = db.begin_read().map_err(|e| storage(&e))?;
        let Some((partition, found)) =
            reader::read_partition_in(&txn, Signal::Metrics, from, last, |entry| {
                entry.header.overlaps(range)
            })?
        else {
            break;
        };
        let mut blocks: Blocks = Vec::with_capacity(found.len());
        let mut catalog = Vec::new();
        if found
            .iter()
            .any(|(_, e)| e.header.codec == CODEC_METRIC_CHUNKS)
        {
            let lists = txn
                .open_table(schema::METRIC_BLOCK_SERIES)
                .map_err(|e| storage(&e))?;
            for (key, entry) in found {
                let list = if entry.header.codec == CODEC_METRIC_CHUNKS {
                    let bytes = lists
                        .get(&key.encode())
                        .map_err(|e| storage(&e))?
                        .ok_or_else(|| {
                            corrupt_block(Signal::Metrics, key, "its series list is missing".into())
                        })?;
                    Some(
                        decode_chunk_list(&entry.header, bytes.value())
                            .map_err(|e| corrupt_block(Signal::Metrics, key, e.0))?,
                    )
                } else {
                    None
                };
                blocks.push((key, entry, list));
            }
            catalog = load_catalog(&txn, partition)?;
        } else {
            blocks.extend(found.into_iter().map(|(k, e)| (k, e, None)));
        }
        drop(txn);
        for (key, entry, list) in blocks {
            let corrupt = |e: BlockError| corrupt_block(Signal::Metrics, key, e.0);
            let Some(list) = list else {
                debug_assert_eq!(entry.header.codec, CODEC_ZSTD_PROTOBUF);
                for group in read_block::<ResourceMetrics>(&mut segments, key, &entry)? {
                    collector.add_group(group, &|t| range.contains(t));
                }
                continue;
            };
            // Ask about every series of the block before reading it.
            let mut positions: Vec<Option<usize>> = vec![None; list.len()];
            let mut straddling = Vec::new();
            for (i, chunk) in list.iter().enumerate() {
                if chunk.min_time >= range.end || chunk.max_time < range.start {
                    continue;
                }
                let canonical = catalog.get(chunk.id as usize).ok_or_else(|| {
                    corrupt(BlockError(format!(
                        "series {} is not in the partition's catalog",
                        chunk.id
                    )))
                })?;
                let certain = range.contains(chunk.min_time) || range.contains(chunk.max_time);
                if keep_points || certain {
                    positions[i] = collector
                        .decide(canonical, || MetricSeries::from_canonical(canonical))
                        .map_err(corrupt)?;
                } else if !collector.refused(canonical) {
                    straddling.push((i, canonical));
                }
            }
            if !straddling.is_empty() {
                // Listing only: a chunk around the range may have no point in it.
                let payload = read_payload(&mut segments, Signal::Metrics, key, &entry)?;
                let times = metric_block::series_times(&entry.header, &payload).map_err(corrupt)?;
                for (i, canonical) in straddling {
                    let has_point = times
                        .get(i)
                        .is_some_and(|(_, times)| times.iter().any(|t| range.contains(*t)));
                    if has_point {
                        collector
                            .decide(canonical, || MetricSeries::from_canonical(canonical))
                            .map_err(corrupt)?;
                    }
                }
            }
            if !keep_points || positions.iter().all(Option::is_none) {
                continue;
            }
            let payload = read_payload(&mut segments, Signal::Metrics, key, &entry)?;
            let decoded = metric_block::decode(&entry.header, &payload, |i| {
                positions.get(i).is_some_and(Option::is_some)
            })
            .map_err(corrupt)?;
            if decoded.len() != list.len() {
                return Err(corrupt(BlockError(format!(
                    "the block holds {} series but its list names {}",
                    decoded.len(),
                    list.len()
                ))));
            }
            for (decoded, (position, chunk)) in decoded.into_iter().zip(positions.iter().zip(&list))
            {
                if catalog.get(chunk.id as usize) != Some(&decoded.canonical) {
                    return Err(corrupt(BlockError(
                        "the block's series differ from its list".into(),
                    )));
                }
                if let (Some(position), Some(mut points)) = (position, decoded.points) {
                    points.retain_times(|t| range.contains(t));
                    collector.add_points(*position, points);
                }
            }
        }
        from = Bound::Excluded(BlockKey::last_in(partition));
    }
    let mut series = collector.finish(true);
    if keep_points {
        series.retain(|s| !s.points.is_empty());
    }
    Ok(series)
}
