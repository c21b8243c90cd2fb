//! Log search: records matching a [`LogQuery`], in time order, from any number of blocks.
//!
//! A search visits the partitions overlapping the query's range in its direction (newest first
//! by default), each as one snapshot. Within a partition it reads blocks in the order of their
//! newest (or oldest) record and merges their hits: a hit is handed over only once no block
//! still unread can hold one that comes before it, so hits come in exact order while only the
//! blocks that overlap in time are held at once. Blocks whose [`LogFilter`] rules the query out
//! are never read; row blocks (not yet compacted) have no filter and are always read. This
//! module must never write.

use std::collections::BinaryHeap;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
use redb::ReadableDatabase;

use crate::block::IndexEntry;
use crate::bloom::{Bloom, hash_parts};
use crate::columns::{Cursor, put_varint};
use crate::log_block::{self, CODEC_LOG_COLUMNS, LogRow, RowView};
use crate::log_query::{
    Direction, LogCursor, LogHit, LogQuery, LogStream, LogVolume, SEVERITY_CLASSES, VolumeBucket,
    body_text, cursor_of, has_word, severity_class, words,
};
use crate::logs::record_time;
use crate::reader::{self, ReadContext, read_block};
use crate::schema::{self, BlockKey, partition_start};
use crate::segment::SegmentReader;
use crate::trace_query::{service_name, with_value_text};
use crate::{ReadError, ResourceLogs, Signal, TimeRange};

/// Calls `visit` with every record matching `query`, in the query's direction, until `visit`
/// breaks off.
pub(crate) fn find(
    ctx: ReadContext<'_>,
    cache: &LogFilterCache,
    query: &LogQuery,
    mut visit: impl FnMut(LogHit) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let range = effective_range(query);
    if range.start >= range.end {
        return Ok(());
    }
    let required_words = query.required_words();
    let mut segments = ctx.segments(Signal::Logs);
    for partition in partitions(ctx, range, query.direction)? {
        let _pin = ctx.begin_partition()?;
        let mut blocks = candidates(ctx, cache, partition, range, query, &required_words)?;
        // Read blocks in the order of their first possible hit.
        match query.direction {
            Direction::Backward => {
                blocks.sort_by_key(|(_, e)| std::cmp::Reverse(e.header.max_time))
            }
            Direction::Forward => blocks.sort_by_key(|(_, e)| e.header.min_time),
        }
        let mut pending = BinaryHeap::new();
        for (key, entry) in blocks {
            // Nothing in this block or any later one comes before `boundary`.
            let boundary = match query.direction {
                Direction::Backward => entry.header.max_time,
                Direction::Forward => entry.header.min_time,
            };
            if flush(&mut pending, query.direction, Some(boundary), &mut visit).is_break() {
                return Ok(());
            }
            for hit in block_hits(&mut segments, key, &entry, query, range)? {
                pending.push(Pending(hit, query.direction));
            }
        }
        if flush(&mut pending, query.direction, None, &mut visit).is_break() {
            return Ok(());
        }
    }
    Ok(())
}

/// The blocks of `partition` overlapping `range` that may hold a record matching `query`: its
/// index entries and their filters, read in one transaction (one snapshot).
fn candidates(
    ctx: ReadContext<'_>,
    cache: &LogFilterCache,
    partition: u64,
    range: TimeRange,
    query: &LogQuery,
    required_words: &[String],
) -> Result<Vec<(BlockKey, IndexEntry)>, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let db = (ctx.db)()?;
    let txn = db.begin_read().map_err(|e| storage(&e))?;
    let Some((_, blocks)) = reader::read_partition_in(
        &txn,
        Signal::Logs,
        Bound::Included(BlockKey::first_in(partition)),
        BlockKey::last_in(partition),
        |entry| entry.header.overlaps(range),
    )?
    else {
        return Ok(Vec::new());
    };
    let filters = match txn.open_table(schema::LOG_FILTERS) {
        Ok(table) => Some(table),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(storage(&e)),
    };
    let mut kept = Vec::with_capacity(blocks.len());
    for (key, entry) in blocks {
        let cache_key = (key.encode(), entry.file, entry.offset);
        let filter = match cache.get(&cache_key) {
            Some(filter) => Some(filter),
            None => {
                let filter = match &filters {
                    Some(table) => table
                        .get(&key.encode())
                        .map_err(|e| storage(&e))?
                        .and_then(|bytes| LogFilter::decode(bytes.value()))
                        .map(Arc::new),
                    None => None,
                };
                // Row blocks have no filter and are soon replaced: not worth remembering.
                if let Some(filter) = &filter {
                    let bytes = filter.bloom.encoded_len() + filter.traces.encoded_len();
                    cache.put(cache_key, Arc::clone(filter), bytes);
                }
                filter
            }
        };
        if filter.is_none_or(|f| f.may_match(query, required_words)) {
            kept.push((key, entry));
        }
    }
    Ok(kept)
}

/// Bytes of log filters kept in memory; past this the cache starts over.
const FILTER_CACHE_BYTES: usize = 64 << 20;

/// A block's identity in the cache: its key and where its bytes are, so a key reused after
/// its partition was dropped never finds the old block's filter.
type CacheKey = ([u8; BlockKey::LEN], u32, u64);

/// The log filters read so far, so searches probe them in memory instead of reading each from
/// the index again.
pub(crate) type LogFilterCache = crate::bloom::FilterCache<CacheKey, Arc<LogFilter>>;

/// A fresh [`LogFilterCache`].
pub(crate) fn filter_cache() -> LogFilterCache {
    LogFilterCache::new(FILTER_CACHE_BYTES)
}

/// How many records match `query` (its cursor and direction aside), in buckets of `step`
/// nanoseconds from the range's start, by severity class and by service.
pub(crate) fn volume(
    ctx: ReadContext<'_>,
    cache: &LogFilterCache,
    query: &LogQuery,
    step: u64,
) -> Result<LogVolume, ReadError> {
    let step = step.max(1);
    let query = LogQuery {
        after: None,
        direction: Direction::Forward,
        ..query.clone()
    };
    let mut buckets: std::collections::BTreeMap<u64, [u64; SEVERITY_CLASSES]> = Default::default();
    let mut services: std::collections::BTreeMap<String, u64> = Default::default();
    let mut severities = [0; SEVERITY_CLASSES];
    let range = effective_range(&query);
    if range.start >= range.end {
        return Ok(LogVolume::default());
    }
    let required_words = query.required_words();
    let mut segments = ctx.segments(Signal::Logs);
    for partition in partitions(ctx, range, Direction::Forward)? {
        let _pin = ctx.begin_partition()?;
        for (key, entry) in candidates(ctx, cache, partition, range, &query, &required_words)? {
            for hit in block_hits(&mut segments, key, &entry, &query, range)? {
                let class = severity_class(hit.record.severity_number);
                let bucket =
                    query.range.start + (hit.time_unix_nano() - query.range.start) / step * step;
                buckets.entry(bucket).or_insert([0; SEVERITY_CLASSES])[class] += 1;
                severities[class] += 1;
                *services.entry(hit.service().to_string()).or_default() += 1;
            }
        }
    }
    Ok(LogVolume {
        buckets: buckets
            .into_iter()
            .map(|(start_unix_nano, counts)| VolumeBucket {
                start_unix_nano,
                counts,
            })
            .collect(),
        services: services.into_iter().collect(),
        severities,
    })
}

/// The streams (resource attributes with text values, and severity text) of the records in
/// the partitions overlapping `range`, sorted: compacted blocks' from the stream catalog, row
/// blocks' (the last half minute or so) by reading them.
pub(crate) fn streams(ctx: ReadContext<'_>, range: TimeRange) -> Result<Vec<LogStream>, ReadError> {
    let storage = |e: &dyn std::fmt::Display| ReadError::Storage(e.to_string());
    let mut streams = std::collections::BTreeSet::new();
    if range.start >= range.end {
        return Ok(Vec::new());
    }
    let mut segments = ctx.segments(Signal::Logs);
    reader::walk_partitions(ctx, Signal::Logs, range, |blocks| {
        for (key, entry) in blocks {
            if entry.header.codec != crate::block::CODEC_ZSTD_PROTOBUF {
                continue;
            }
            for group in read_block::<ResourceLogs>(&mut segments, key, &entry)? {
                let resource = resource_texts(group.resource.as_ref());
                for record in group.scope_logs.iter().flat_map(|s| &s.log_records) {
                    streams.insert((resource.clone(), record.severity_text.clone()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    let db = (ctx.db)()?;
    let txn = db.begin_read().map_err(|e| storage(&e))?;
    match txn.open_table(schema::LOG_STREAMS) {
        Ok(table) => {
            let first = partition_start(range.start).to_be_bytes();
            let last = (partition_start(range.end - 1) + 1).to_be_bytes();
            for entry in table
                .range::<&[u8]>(&first[..]..&last[..])
                .map_err(|e| storage(&e))?
            {
                let (key, _) = entry.map_err(|e| storage(&e))?;
                if let Some(stream) = schema::parse_stream_key(key.value()) {
                    streams.insert(stream);
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(storage(&e)),
    }
    Ok(streams
        .into_iter()
        .map(|(resource, severity_text)| LogStream {
            resource,
            severity_text,
        })
        .collect())
}

/// A resource's attributes that have a text value, sorted by key.
pub(crate) fn resource_texts(resource: Option<&Resource>) -> Vec<(String, String)> {
    let mut texts: Vec<(String, String)> = resource
        .map_or(&[][..], |r| &r.attributes)
        .iter()
        .filter_map(|kv| {
            let mut text = None;
            with_value_text(kv.value.as_ref(), |t| {
                text = Some(String::from_utf8_lossy(t).into_owned())
            });
            Some((kv.key.clone(), text?))
        })
        .collect();
    texts.sort();
    texts
}

/// The query's range narrowed by its cursor, so blocks wholly before the cursor are not read.
fn effective_range(query: &LogQuery) -> TimeRange {
    let mut range = query.range;
    if let Some(after) = query.after {
        match query.direction {
            Direction::Backward => {
                range.end = range.end.min(after.time_unix_nano.saturating_add(1))
            }
            Direction::Forward => range.start = range.start.max(after.time_unix_nano),
        }
    }
    range
}

/// The partitions to visit, in the order of `direction`.
fn partitions(
    ctx: ReadContext<'_>,
    range: TimeRange,
    direction: Direction,
) -> Result<Vec<u64>, ReadError> {
    let mut partitions = reader::partitions_newest_first(&*(ctx.db)()?, Signal::Logs, range)?;
    if direction == Direction::Forward {
        partitions.reverse();
    }
    debug_assert!(
        partitions
            .iter()
            .all(|p| *p >= partition_start(range.start))
    );
    Ok(partitions)
}

/// The hits of one block that match `query` in `range` and lie beyond its cursor.
fn block_hits(
    segments: &mut SegmentReader,
    key: BlockKey,
    entry: &IndexEntry,
    query: &LogQuery,
    range: TimeRange,
) -> Result<Vec<LogHit>, ReadError> {
    if entry.header.codec == CODEC_LOG_COLUMNS {
        return column_hits(segments, key, entry, query, range);
    }
    let mut hits = Vec::new();
    for group in read_block::<ResourceLogs>(segments, key, entry)? {
        let resource_attributes = group.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        let mut resource = None;
        for scope_logs in &group.scope_logs {
            let mut scope = None;
            for record in &scope_logs.log_records {
                if !range.contains(record_time(record)) {
                    continue;
                }
                let Some(cursor) = hit_cursor(query, resource_attributes, record) else {
                    continue;
                };
                let resource = resource
                    .get_or_insert_with(|| Arc::new(group.resource.clone().unwrap_or_default()));
                let scope = scope.get_or_insert_with(|| {
                    Arc::new(
                        scope_logs
                            .scope
                            .clone()
                            .unwrap_or_else(InstrumentationScope::default),
                    )
                });
                hits.push(LogHit {
                    cursor,
                    resource: Arc::clone(resource),
                    scope: Arc::clone(scope),
                    record: record.clone(),
                });
            }
        }
    }
    Ok(hits)
}

/// The cursor of `record` (of a resource with attributes `resource`) when it is a hit of
/// `query`: it matches, and lies beyond the query's cursor.
fn hit_cursor(query: &LogQuery, resource: &[KeyValue], record: &LogRecord) -> Option<LogCursor> {
    if !query.matches(resource, record) {
        return None;
    }
    let cursor = cursor_of(record_time(record), record);
    query
        .after
        .is_none_or(|after| cursor.is_beyond(&after, query.direction))
        .then_some(cursor)
}

/// [`block_hits`] of a codec-3 block: rows are ruled out on their columns (time, severity, ids,
/// resource, string body) before their records are built, then checked in full.
fn column_hits(
    segments: &mut SegmentReader,
    key: BlockKey,
    entry: &IndexEntry,
    query: &LogQuery,
    range: TimeRange,
) -> Result<Vec<LogHit>, ReadError> {
    let payload = reader::read_payload(segments, Signal::Logs, key, entry)?;
    let query_words: Vec<String> = query.words.iter().flat_map(|w| words(w)).collect();
    let mut group_ok: Vec<Option<bool>> = Vec::new();
    let mut shared: Vec<Option<(Arc<Resource>, Arc<InstrumentationScope>)>> = Vec::new();
    let mut hits = Vec::new();
    let keep = |groups: &[ResourceLogs], row: &RowView<'_>| {
        if !range.contains(row.time) {
            return false;
        }
        if row.whole {
            return true;
        }
        if group_ok.is_empty() {
            group_ok = vec![None; groups.len()];
        }
        let ok = *group_ok[row.group].get_or_insert_with(|| {
            let resource = groups[row.group]
                .resource
                .as_ref()
                .map_or(&[][..], |r| &r.attributes);
            let empty = LogRecord::default();
            LogQuery {
                services: query.services.clone(),
                resource: query.resource.clone(),
                ..LogQuery::default()
            }
            .matches(resource, &empty)
        });
        ok && query
            .min_severity
            .is_none_or(|min| row.severity_number >= min.max(1))
            && (query.severity_texts.is_empty()
                || query.severity_texts.iter().any(|t| t == row.severity_text))
            && query.trace_id.is_none_or(|id| row.trace_id == id)
            && query.span_id.is_none_or(|id| row.span_id == id)
            && row.body.is_none_or(|body| {
                query
                    .contains
                    .iter()
                    .all(|needle| body.contains(needle.as_str()))
                    && query_words.iter().all(|w| has_word(body, w))
            })
    };
    let emit = |groups: &[ResourceLogs], group: usize, record: LogRecord| {
        let resource_attributes = groups[group]
            .resource
            .as_ref()
            .map_or(&[][..], |r| &r.attributes);
        let Some(cursor) = hit_cursor(query, resource_attributes, &record) else {
            return;
        };
        if shared.is_empty() {
            shared = vec![None; groups.len()];
        }
        let (resource, scope) = shared[group].get_or_insert_with(|| {
            (
                Arc::new(groups[group].resource.clone().unwrap_or_default()),
                Arc::new(
                    groups[group].scope_logs[0]
                        .scope
                        .clone()
                        .unwrap_or_default(),
                ),
            )
        });
        hits.push(LogHit {
            cursor,
            resource: Arc::clone(resource),
            scope: Arc::clone(scope),
            record,
        });
    };
    let wanted = [
        query.trace_id.as_ref().map(|id| &id[..]),
        query.span_id.as_ref().map(|id| &id[..]),
    ];
    log_block::decode_rows(&entry.header, &payload, wanted, keep, emit)
        .map_err(|e| reader::corrupt_block(Signal::Logs, key, e.0))?;
    Ok(hits)
}

/// A hit waiting in the merge, ordered so that the heap's top is the hit that comes first.
struct Pending(LogHit, Direction);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.0.cursor == other.0.cursor
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // BinaryHeap pops its greatest: the greatest is the one that comes first.
        LogCursor::order(&other.0.cursor, &self.0.cursor, self.1)
    }
}

/// Hands over the waiting hits that come before `boundary` (all of them when `None`), in order.
fn flush(
    pending: &mut BinaryHeap<Pending>,
    direction: Direction,
    boundary: Option<u64>,
    visit: &mut impl FnMut(LogHit) -> ControlFlow<()>,
) -> ControlFlow<()> {
    while let Some(top) = pending.peek() {
        let time = top.0.time_unix_nano();
        let ready = match (boundary, direction) {
            (None, _) => true,
            (Some(b), Direction::Backward) => time > b,
            (Some(b), Direction::Forward) => time < b,
        };
        if !ready {
            break;
        }
        let Pending(hit, _) = pending.pop().expect("peeked");
        visit(hit)?;
    }
    ControlFlow::Continue(())
}

/// Gathers the records of row blocks for the compactor: one group per distinct (resource,
/// scope), each record tagged with its group.
#[derive(Default)]
pub(crate) struct LogCollector {
    pub groups: Vec<ResourceLogs>,
    index: rustc_hash::FxHashMap<Vec<u8>, u32>,
    pub rows: Vec<LogRow>,
}

impl LogCollector {
    pub fn add(&mut self, group: ResourceLogs) {
        for scope in group.scope_logs {
            let key_group = ResourceLogs {
                resource: group.resource.clone(),
                scope_logs: vec![ScopeLogs {
                    scope: scope.scope,
                    log_records: Vec::new(),
                    schema_url: scope.schema_url,
                }],
                schema_url: group.schema_url.clone(),
            };
            let id = crate::columns::group_id(&mut self.groups, &mut self.index, key_group);
            self.rows.extend(
                scope
                    .log_records
                    .into_iter()
                    .map(|record| LogRow { group: id, record }),
            );
        }
    }
}

/// Bloom bits per distinct token of a log filter (about 2 % false positives).
const BITS_PER_TOKEN: usize = 8;

/// A record attribute key with more distinct values than this in a block is left out of the
/// block's filter (a search on it reads the block): ids and counters would fill the filter
/// and no one filters on most of them.
const MAX_VALUES_PER_KEY: usize = 4096;

/// What a codec-3 block's records have, in a few bits per distinct token: which severity
/// numbers (a bit mask), and a bloom filter of their services, severity texts, trace and span
/// ids, resource and record attribute `key=value` texts and body words. Never a false
/// negative: a search skips a block only when the filter proves no record matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogFilter {
    /// Bit `min(n, 31)` set for severity number `n` (bit 0 for unset or negative).
    severities: u32,
    /// Record attribute keys whose values the bloom does not hold.
    unindexed: Vec<String>,
    /// The trace ids alone, at more bits each: a trace's logs are the lookup users wait on,
    /// and every false positive costs a block read.
    traces: Bloom,
    bloom: Bloom,
}

/// Bloom bits per distinct trace id (about 0.3 % false positives).
const BITS_PER_TRACE: usize = 12;

fn severity_bit(number: i32) -> u32 {
    1 << number.clamp(0, 31)
}

fn token(kind: &[u8], key: &[u8], value: &[u8]) -> u64 {
    hash_parts(&[kind, key, b"\0", value])
}

impl LogFilter {
    pub fn build(groups: &[ResourceLogs], rows: &[LogRow]) -> LogFilter {
        let mut tokens: rustc_hash::FxHashSet<u64> = Default::default();
        let mut severities = 0;
        for group in groups {
            let resource = group.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            tokens.insert(token(b"s", b"", service_name(resource).as_bytes()));
            for kv in resource {
                with_value_text(kv.value.as_ref(), |text| {
                    tokens.insert(token(b"r", kv.key.as_bytes(), text));
                });
            }
        }
        let mut values: rustc_hash::FxHashMap<&str, rustc_hash::FxHashSet<u64>> =
            Default::default();
        let mut traces: rustc_hash::FxHashSet<u64> = Default::default();
        for row in rows {
            let record = &row.record;
            severities |= severity_bit(record.severity_number);
            tokens.insert(token(b"v", b"", record.severity_text.as_bytes()));
            if !record.trace_id.is_empty() {
                traces.insert(token(b"t", b"", &record.trace_id));
            }
            if !record.span_id.is_empty() {
                tokens.insert(token(b"p", b"", &record.span_id));
            }
            for kv in &record.attributes {
                let set = values.entry(kv.key.as_str()).or_default();
                if set.len() <= MAX_VALUES_PER_KEY {
                    with_value_text(kv.value.as_ref(), |text| {
                        set.insert(token(b"a", kv.key.as_bytes(), text));
                    });
                }
            }
            for word in words(&body_text(record.body.as_ref())) {
                tokens.insert(token(b"w", b"", word.as_bytes()));
            }
        }
        let mut unindexed = Vec::new();
        for (key, set) in values {
            if set.len() > MAX_VALUES_PER_KEY {
                unindexed.push(key.to_string());
            } else {
                tokens.extend(set);
            }
        }
        unindexed.sort_unstable();
        let tokens: Vec<u64> = tokens.into_iter().collect();
        let traces: Vec<u64> = traces.into_iter().collect();
        LogFilter {
            severities,
            unindexed,
            traces: Bloom::from_hashes(&traces, traces.len(), BITS_PER_TRACE),
            bloom: Bloom::from_hashes(&tokens, tokens.len(), BITS_PER_TOKEN),
        }
    }

    /// Whether a record of the block may match `query` (its range and cursor aside).
    pub fn may_match(&self, query: &LogQuery, required_words: &[String]) -> bool {
        let has = |kind: &[u8], key: &[u8], value: &[u8]| {
            self.bloom.may_contain_hash(token(kind, key, value))
        };
        if let Some(min) = query.min_severity {
            let at_least = !0u32 << min.clamp(1, 31);
            if self.severities & at_least == 0 {
                return false;
            }
        }
        (query.services.is_empty() || query.services.iter().any(|s| has(b"s", b"", s.as_bytes())))
            && (query.severity_texts.is_empty()
                || query
                    .severity_texts
                    .iter()
                    .any(|t| has(b"v", b"", t.as_bytes())))
            && query
                .trace_id
                .is_none_or(|id| self.traces.may_contain_hash(token(b"t", b"", &id)))
            && query.span_id.is_none_or(|id| has(b"p", b"", &id))
            && query
                .resource
                .iter()
                .all(|(k, v)| has(b"r", k.as_bytes(), v.as_bytes()))
            && query.attributes.iter().all(|(k, v)| {
                has(b"a", k.as_bytes(), v.as_bytes())
                    || has(b"r", k.as_bytes(), v.as_bytes())
                    || self.unindexed.binary_search(k).is_ok()
            })
            && required_words.iter().all(|w| has(b"w", b"", w.as_bytes()))
    }

    /// Bytes: version 1, the severity mask (u32 LE), the unindexed keys (varint count, then
    /// each varint length + UTF-8), the trace-id filter (varint length + filter), the bloom
    /// filter.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1];
        out.extend_from_slice(&self.severities.to_le_bytes());
        put_varint(&mut out, self.unindexed.len() as u64);
        for key in &self.unindexed {
            put_varint(&mut out, key.len() as u64);
            out.extend_from_slice(key.as_bytes());
        }
        let traces = self.traces.encode();
        put_varint(&mut out, traces.len() as u64);
        out.extend_from_slice(&traces);
        out.extend_from_slice(&self.bloom.encode());
        out
    }

    /// Reads what [`LogFilter::encode`] wrote; `None` when the bytes are not a filter (the
    /// block is then read as if it had none).
    pub fn decode(bytes: &[u8]) -> Option<LogFilter> {
        let (&version, rest) = bytes.split_first()?;
        if version != 1 {
            return None;
        }
        let mut cursor = Cursor::new(rest, "log filter");
        let severities = u32::from_le_bytes(cursor.fixed().ok()?);
        let count = cursor.index(rest.len() + 1).ok()?;
        let mut unindexed = Vec::with_capacity(count);
        for _ in 0..count {
            unindexed.push(
                std::str::from_utf8(cursor.prefixed().ok()?)
                    .ok()?
                    .to_string(),
            );
        }
        let traces = Bloom::decode(cursor.prefixed().ok()?)?;
        let bloom = Bloom::decode(&rest[cursor.position()..])?;
        Some(LogFilter {
            severities,
            unindexed,
            traces,
            bloom,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_query::LogQuery;
    use crate::test_fixtures::log_store_with;

    fn times(store: &crate::Store, query: &LogQuery) -> Vec<u64> {
        let mut out = Vec::new();
        store
            .find_logs(query, |hit| {
                out.push(hit.time_unix_nano());
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    #[test]
    fn hits_come_in_time_order_across_overlapping_blocks_and_pages_resume() {
        // Three batches whose times interleave, in two partitions.
        let hour = 3_600_000_000_000u64;
        let batches: Vec<Vec<u64>> = vec![
            vec![hour + 10, hour + 40, 2 * hour + 5],
            vec![hour + 20, hour + 30, 2 * hour + 1],
            vec![hour + 15, 2 * hour + 3],
        ];
        let (_dir, store) = log_store_with(&batches);
        let mut all: Vec<u64> = batches.concat();
        all.sort_unstable();
        let forward = LogQuery {
            direction: Direction::Forward,
            ..LogQuery::new(TimeRange::ALL)
        };
        assert_eq!(times(&store, &forward), all);
        let backward = LogQuery::new(TimeRange::ALL);
        let mut newest_first = all.clone();
        newest_first.reverse();
        assert_eq!(times(&store, &backward), newest_first);

        // Page by three, newest first: every record once.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let mut page = Vec::new();
            store
                .find_logs(
                    &LogQuery {
                        after,
                        ..backward.clone()
                    },
                    |hit| {
                        page.push(hit);
                        if page.len() == 3 {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    },
                )
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.cursor);
            paged.extend(page.iter().map(|h| h.time_unix_nano()));
        }
        assert_eq!(paged, newest_first);

        let volume = store
            .log_volume(&LogQuery::new(TimeRange::new(hour, 3 * hour)), hour)
            .unwrap();
        assert_eq!(
            volume
                .buckets
                .iter()
                .map(|b| (b.start_unix_nano, b.counts.iter().sum::<u64>()))
                .collect::<Vec<_>>(),
            [(hour, 5), (2 * hour, 3)]
        );
    }
}
