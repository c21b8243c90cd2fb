//! Finding traces without reading every span: trace-id filters, search filters, the operation
//! catalog, and the lookups and searches built on them.
//!
//! - Every trace block has a bloom filter of its trace ids (`TRACE_ID_FILTERS`), written with
//!   its index entry; a lookup reads only the blocks whose filter may hold the id (filters are
//!   cached in memory, blocks never change), and of a codec-2 block only that trace's rows.
//! - Every codec-2 block has a [`SearchFilter`] (`TRACE_SEARCH_FILTERS`): whether it has error
//!   spans, its span durations' range, and a bloom of its services, span names and attribute
//!   `key=value` pairs; a search skips blocks that cannot match, and reads the rest newest first
//!   until it has its page of traces.
//! - The operation catalog (`TRACE_OPERATIONS`) lists (service, name, kind) per partition.
//!
//! This module must never write; the writer and the compactor write what it reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use redb::ReadableDatabase;

use crate::block::{CODEC_ZSTD_PROTOBUF, IndexEntry};
use crate::bloom::{self, Bloom};
use crate::reader::{self, ReadContext, corrupt_block};
use crate::schema::{self, BlockKey, partition_start};
use crate::span_block::{SpanColumns, trace_key};
use crate::trace_query::{
    self, Operation, TraceId, TraceQuery, TraceSummary, duration_ns, is_error, with_value_text,
};
use crate::{ReadError, ResourceSpans, Signal, TimeRange};

/// Bits per trace id in a block's trace-id filter: about 1 false positive in 2,000 blocks.
const TRACE_FILTER_BITS_PER_KEY: usize = 16;

/// Bits per token in a search filter: about 2 % false positives.
const SEARCH_FILTER_BITS_PER_KEY: usize = 8;

/// An attribute key with more distinct values than this in one block is not put into the
/// block's search filter (timestamps, counters and other values unique to each span would make
/// it huge); searches on such a key read the block. Ids that recur across a trace or a user's
/// traces (user, session, order ids) stay below it in a block of 16,384 spans and are indexed:
/// reading every block instead made a search for one user's traces take seconds at 10M spans.
pub(crate) const MAX_INDEXED_VALUES_PER_KEY: usize = 4096;

/// Attribute values longer than this are not put into search filters.
const MAX_INDEXED_VALUE_LEN: usize = 256;

/// Trace-id filters kept in memory at most, in bytes.
const FILTER_CACHE_BYTES: usize = 64 << 20;

/// The hash a trace id is filed under in trace-id filters.
pub(crate) fn trace_hash(trace_id: &[u8]) -> u64 {
    bloom::hash(&trace_key(trace_id))
}

/// A hash of one operation, to deduplicate without allocating (never stored).
pub(crate) fn operation_hash(service: &str, name: &str, kind: i32) -> u64 {
    bloom::hash_parts(&[
        service.as_bytes(),
        b"\0",
        name.as_bytes(),
        b"\0",
        &kind.to_le_bytes(),
    ])
}

/// The trace-id filter of a block whose spans' trace ids hash to `hashes`.
pub(crate) fn trace_id_filter(hashes: &[u64]) -> Bloom {
    let mut distinct = hashes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    Bloom::from_hashes(&distinct, distinct.len(), TRACE_FILTER_BITS_PER_KEY)
}

fn service_token(service: &str) -> u64 {
    bloom::hash_parts(&[b"s\0", service.as_bytes()])
}

fn name_token(name: &str) -> u64 {
    bloom::hash_parts(&[b"n\0", name.as_bytes()])
}

fn attribute_token(key: &str, value: &[u8]) -> u64 {
    bloom::hash_parts(&[b"a\0", key.as_bytes(), b"\0", value])
}

/// What a search can rule out about a codec-2 block without reading it. Bytes: flags (bit 0:
/// has an error span), min and max span duration (varints), the number of unindexed attribute
/// keys and each key (varint length + UTF-8), then the token bloom filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SearchFilter {
    pub has_error: bool,
    pub min_duration: u64,
    pub max_duration: u64,
    /// Attribute keys whose values the bloom does not hold.
    pub unindexed: Vec<String>,
    pub tokens: Bloom,
}

impl SearchFilter {
    /// The filter of a block holding `spans`, each with the number of its group (resource and
    /// scope), its service and its resource's attributes; a group's are read once.
    pub fn build<'a>(
        spans: impl Iterator<
            Item = (
                u32,
                &'a str,
                &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
                &'a opentelemetry_proto::tonic::trace::v1::Span,
            ),
        >,
    ) -> SearchFilter {
        let mut tokens: rustc_hash::FxHashSet<u64> = Default::default();
        // Attribute tokens with their key, and how many distinct values each key has.
        let mut attribute_tokens: Vec<(&str, u64)> = Vec::new();
        let mut values_per_key: rustc_hash::FxHashMap<&str, usize> = Default::default();
        let (mut has_error, mut min_duration, mut max_duration) = (false, u64::MAX, 0);
        let mut groups_seen: rustc_hash::FxHashSet<u32> = Default::default();
        for (group, service, resource, span) in spans {
            has_error |= is_error(span);
            let duration = duration_ns(span);
            (min_duration, max_duration) = (min_duration.min(duration), max_duration.max(duration));
            tokens.insert(name_token(&span.name));
            let resource = if groups_seen.insert(group) {
                tokens.insert(service_token(service));
                resource
            } else {
                &[]
            };
            for kv in span.attributes.iter().chain(resource) {
                with_value_text(kv.value.as_ref(), |text| {
                    if text.len() <= MAX_INDEXED_VALUE_LEN {
                        let token = attribute_token(&kv.key, text);
                        if tokens.insert(token) {
                            attribute_tokens.push((&kv.key, token));
                            *values_per_key.entry(&kv.key).or_default() += 1;
                        }
                    }
                });
            }
        }
        let mut unindexed: Vec<String> = values_per_key
            .iter()
            .filter(|(_, count)| **count > MAX_INDEXED_VALUES_PER_KEY)
            .map(|(key, _)| key.to_string())
            .collect();
        for (key, token) in attribute_tokens {
            if values_per_key[key] > MAX_INDEXED_VALUES_PER_KEY {
                tokens.remove(&token);
            }
        }
        unindexed.sort();
        let mut bloom = Bloom::with_capacity(tokens.len(), SEARCH_FILTER_BITS_PER_KEY);
        for token in tokens {
            bloom.insert_hash(token);
        }
        SearchFilter {
            has_error,
            min_duration: if min_duration == u64::MAX {
                0
            } else {
                min_duration
            },
            max_duration,
            unindexed,
            tokens: bloom,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        use crate::columns::put_varint;
        let mut out = vec![u8::from(self.has_error)];
        put_varint(&mut out, self.min_duration);
        put_varint(&mut out, self.max_duration);
        put_varint(&mut out, self.unindexed.len() as u64);
        for key in &self.unindexed {
            put_varint(&mut out, key.len() as u64);
            out.extend_from_slice(key.as_bytes());
        }
        out.extend_from_slice(&self.tokens.encode());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<SearchFilter> {
        let mut cursor = crate::columns::Cursor::new(bytes, "search filter");
        let has_error = cursor.bytes(1).ok()?[0] == 1;
        let min_duration = cursor.varint().ok()?;
        let max_duration = cursor.varint().ok()?;
        let count = cursor.index(bytes.len()).ok()?;
        let mut unindexed = Vec::with_capacity(count);
        for _ in 0..count {
            unindexed.push(
                std::str::from_utf8(cursor.prefixed().ok()?)
                    .ok()?
                    .to_string(),
            );
        }
        let tokens = Bloom::decode(&bytes[cursor.position()..])?;
        Some(SearchFilter {
            has_error,
            min_duration,
            max_duration,
            unindexed,
            tokens,
        })
    }

    /// False when no span of the block can match `query` (time aside).
    pub fn may_match(&self, query: &TraceQuery) -> bool {
        if (query.errors_only && !self.has_error)
            || query
                .min_duration_ns
                .is_some_and(|min| self.max_duration < min)
            || query
                .max_duration_ns
                .is_some_and(|max| self.min_duration > max)
            || query
                .service
                .as_deref()
                .is_some_and(|s| !self.tokens.may_contain_hash(service_token(s)))
            || query
                .operation
                .as_deref()
                .is_some_and(|n| !self.tokens.may_contain_hash(name_token(n)))
        {
            return false;
        }
        query.attributes.iter().all(|(key, value)| {
            self.unindexed.iter().any(|k| k == key)
                || self
                    .tokens
                    .may_contain_hash(attribute_token(key, value.as_bytes()))
        })
    }
}

/// The trace-id filters read so far, by block key (`None`: the block has none).
pub(crate) type FilterCache = crate::bloom::FilterCache<[u8; BlockKey::LEN], Option<Arc<Bloom>>>;

/// A fresh [`FilterCache`].
pub(crate) fn filter_cache() -> FilterCache {
    FilterCache::new(FILTER_CACHE_BYTES)
}

fn storage(e: impl std::fmt::Display) -> ReadError {
    ReadError::Storage(e.to_string())
}

/// Every trace block that may hold one of `ids`, with which of them, partition by partition.
/// A block without a filter (written before filters existed) may hold anything.
fn blocks_for(
    ctx: ReadContext<'_>,
    cache: &FilterCache,
    ids: &[TraceId],
    mut visit: impl FnMut(BlockKey, IndexEntry, Vec<usize>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let hashes: Vec<u64> = ids.iter().map(|id| trace_hash(id)).collect();
    reader::walk_partitions(ctx, Signal::Traces, TimeRange::ALL, |blocks| {
        let mut missing = Vec::new();
        let mut candidates = Vec::new();
        for (key, entry) in blocks {
            match cache.get(&key.encode()) {
                Some(filter) => candidates.push((key, entry, filter)),
                None => missing.push((key, entry)),
            }
        }
        if !missing.is_empty() {
            let db = (ctx.db)()?;
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(schema::TRACE_ID_FILTERS).map_err(storage)?;
            for (key, entry) in missing {
                let filter = table
                    .get(&key.encode())
                    .map_err(storage)?
                    .and_then(|v| Bloom::decode(v.value()))
                    .map(Arc::new);
                cache.put(
                    key.encode(),
                    filter.clone(),
                    filter.as_ref().map_or(0, |f| f.encoded_len()),
                );
                candidates.push((key, entry, filter));
            }
        }
        candidates.sort_by_key(|(key, _, _)| *key);
        for (key, entry, filter) in candidates {
            let which: Vec<usize> = (0..ids.len())
                .filter(|&i| {
                    filter
                        .as_ref()
                        .is_none_or(|f| f.may_contain_hash(hashes[i]))
                })
                .collect();
            if !which.is_empty() {
                visit(key, entry, which)?;
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(())
}

/// The spans of a block as the index uses them: codec 2 gives its columns, codec 1 its groups.
enum Decoded<'a> {
    Columns(SpanColumns<'a>),
    Groups(Vec<ResourceSpans>),
}

fn decode<'a>(
    key: BlockKey,
    entry: &IndexEntry,
    payload: &'a [u8],
) -> Result<Decoded<'a>, ReadError> {
    let corrupt = |e: crate::block::BlockError| corrupt_block(Signal::Traces, key, e.0);
    if entry.header.codec == CODEC_ZSTD_PROTOBUF {
        crate::block::decode_block::<ResourceSpans>(&entry.header, payload)
            .map(Decoded::Groups)
            .map_err(corrupt)
    } else {
        SpanColumns::decode(&entry.header, payload)
            .map(Decoded::Columns)
            .map_err(corrupt)
    }
}

/// Every stored span of each trace of `ids`, in the order of `ids` (empty for an unknown id);
/// a block holding several of them is read once.
pub(crate) fn traces(
    ctx: ReadContext<'_>,
    cache: &FilterCache,
    ids: &[TraceId],
) -> Result<Vec<Vec<ResourceSpans>>, ReadError> {
    let mut segments = ctx.segments(Signal::Traces);
    let mut out = vec![Vec::new(); ids.len()];
    blocks_for(ctx, cache, ids, |key, entry, which| {
        let payload = reader::read_payload(&mut segments, Signal::Traces, key, &entry)?;
        match decode(key, &entry, &payload)? {
            Decoded::Columns(mut columns) => {
                for i in which {
                    let rows = columns.rows_of(&ids[i]);
                    out[i].extend(
                        columns
                            .groups_of(rows)
                            .map_err(|e| corrupt_block(Signal::Traces, key, e.0))?,
                    );
                }
            }
            Decoded::Groups(groups) => {
                for i in which {
                    out[i].extend(keep_traces(groups.clone(), |trace| *trace == ids[i]));
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The parts of `groups` holding spans whose trace passes `keep`.
fn keep_traces(groups: Vec<ResourceSpans>, keep: impl Fn(&TraceId) -> bool) -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    for mut group in groups {
        for scope in &mut group.scope_spans {
            scope.spans.retain(|span| keep(&trace_key(&span.trace_id)));
        }
        group.scope_spans.retain(|s| !s.spans.is_empty());
        if !group.scope_spans.is_empty() {
            out.push(group);
        }
    }
    out
}

/// A summary being added up from spans.
struct Tally {
    summary: TraceSummary,
    services: BTreeMap<String, u64>,
    /// (is not a root, start) of the span the root fields name: roots win, then the earliest.
    root_rank: (bool, u64),
}

impl Tally {
    fn new(trace_id: TraceId) -> Tally {
        Tally {
            summary: TraceSummary {
                trace_id,
                root_service: String::new(),
                root_name: String::new(),
                has_root: false,
                start_unix_nano: u64::MAX,
                end_unix_nano: 0,
                span_count: 0,
                error_count: 0,
                services: Vec::new(),
            },
            services: BTreeMap::new(),
            root_rank: (true, u64::MAX),
        }
    }

    fn add(
        &mut self,
        service: &str,
        name: &str,
        has_parent: bool,
        start: u64,
        end: u64,
        error: bool,
    ) {
        let s = &mut self.summary;
        s.span_count += 1;
        s.error_count += u64::from(error);
        s.start_unix_nano = s.start_unix_nano.min(start);
        s.end_unix_nano = s.end_unix_nano.max(end);
        *self.services.entry(service.to_string()).or_default() += 1;
        let rank = (has_parent, start);
        if s.span_count == 1 || rank < self.root_rank {
            self.root_rank = rank;
            s.has_root = !has_parent;
            s.root_service = service.to_string();
            s.root_name = name.to_string();
        }
    }

    fn finish(mut self) -> TraceSummary {
        self.summary.services = self.services.into_iter().collect();
        self.summary
    }
}

/// Summaries of the traces `ids` (those with no stored span are left out).
pub(crate) fn summaries(
    ctx: ReadContext<'_>,
    cache: &FilterCache,
    ids: &[TraceId],
) -> Result<Vec<TraceSummary>, ReadError> {
    let mut tallies: HashMap<TraceId, Tally> = HashMap::new();
    let mut segments = ctx.segments(Signal::Traces);
    blocks_for(ctx, cache, ids, |key, entry, which| {
        let payload = reader::read_payload(&mut segments, Signal::Traces, key, &entry)?;
        match decode(key, &entry, &payload)? {
            Decoded::Columns(columns) => {
                for &i in &which {
                    let rows = columns.rows_of(&ids[i]);
                    for row in &columns.rows[rows] {
                        tallies
                            .entry(ids[i])
                            .or_insert_with(|| Tally::new(ids[i]))
                            .add(
                                columns.service(row.group),
                                &columns.names[row.name as usize],
                                row.has_parent,
                                row.start,
                                row.end,
                                row.status == 2,
                            );
                    }
                }
            }
            Decoded::Groups(groups) => {
                let wanted: Vec<TraceId> = which.iter().map(|&i| ids[i]).collect();
                for group in &groups {
                    let resource = group.resource.as_ref().map_or(&[][..], |r| &r.attributes);
                    let service = trace_query::service_name(resource);
                    for span in group.scope_spans.iter().flat_map(|s| &s.spans) {
                        let id = trace_key(&span.trace_id);
                        if wanted.contains(&id) {
                            tallies.entry(id).or_insert_with(|| Tally::new(id)).add(
                                service,
                                &span.name,
                                !span.parent_span_id.is_empty(),
                                span.start_time_unix_nano,
                                span.end_time_unix_nano,
                                is_error(span),
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(ids
        .iter()
        .filter_map(|id| tallies.remove(id))
        .map(Tally::finish)
        .collect())
}

/// The traces found so far: each with the latest start of its matching spans.
struct Found {
    limit: usize,
    traces: HashMap<TraceId, u64>,
}

impl Found {
    fn add(&mut self, id: TraceId, start: u64) {
        let at = self.traces.entry(id).or_insert(start);
        *at = (*at).max(start);
    }

    /// The start a block's spans must reach to change the result: once `limit` traces are
    /// found, the `limit`-th latest.
    fn bar(&self) -> Option<u64> {
        if self.limit == 0 || self.traces.len() < self.limit {
            return None;
        }
        let mut starts: Vec<u64> = self.traces.values().copied().collect();
        let (_, kth, _) = starts.select_nth_unstable_by(self.limit - 1, |a, b| b.cmp(a));
        Some(*kth)
    }

    fn newest(self) -> Vec<TraceId> {
        let mut found: Vec<(u64, TraceId)> =
            self.traces.into_iter().map(|(id, t)| (t, id)).collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.truncate(self.limit);
        found.into_iter().map(|(_, id)| id).collect()
    }
}

/// The newest traces with a span matching `query`, summarised, newest first.
pub(crate) fn find(
    ctx: ReadContext<'_>,
    cache: &FilterCache,
    query: &TraceQuery,
) -> Result<Vec<TraceSummary>, ReadError> {
    let range = query.range;
    let mut found = Found {
        limit: query.limit,
        traces: HashMap::new(),
    };
    if query.limit == 0 || range.start >= range.end {
        return Ok(Vec::new());
    }
    let mut segments = ctx.segments(Signal::Traces);
    let partitions = reader::partitions_newest_first(&*(ctx.db)()?, Signal::Traces, range)?;
    for partition in partitions {
        if found
            .bar()
            .is_some_and(|bar| partition + schema::PARTITION_NS <= bar)
        {
            break;
        }
        let _pin = ctx.begin_partition()?;
        let db = (ctx.db)()?;
        let Some((_, mut blocks)) = reader::read_partition(
            &db,
            Signal::Traces,
            Bound::Included(BlockKey::first_in(partition)),
            BlockKey::last_in(partition),
            |entry| entry.header.overlaps(range),
        )?
        else {
            continue;
        };
        let filters = search_filters(&db, &blocks)?;
        drop(db);
        let mut order: Vec<usize> = (0..blocks.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(blocks[i].1.header.max_time));
        for i in order {
            let (key, entry) = blocks[i];
            if found.bar().is_some_and(|bar| entry.header.max_time < bar) {
                break;
            }
            if filters[i].as_ref().is_some_and(|f| !f.may_match(query)) {
                continue;
            }
            let payload = reader::read_payload(&mut segments, Signal::Traces, key, &entry)?;
            match decode(key, &entry, &payload)? {
                Decoded::Columns(columns) => {
                    search_columns(columns, query, &mut found)
                        .map_err(|e| corrupt_block(Signal::Traces, key, e.0))?;
                }
                Decoded::Groups(groups) => {
                    for group in &groups {
                        let resource = group.resource.as_ref().map_or(&[][..], |r| &r.attributes);
                        let service = trace_query::service_name(resource);
                        for span in group.scope_spans.iter().flat_map(|s| &s.spans) {
                            if range.contains(span.start_time_unix_nano)
                                && query.matches(service, resource, span)
                            {
                                found.add(trace_key(&span.trace_id), span.start_time_unix_nano);
                            }
                        }
                    }
                }
            }
        }
        blocks.clear();
    }
    let ids = found.newest();
    let mut summaries = summaries(ctx, cache, &ids)?;
    summaries.sort_by(|a, b| {
        b.start_unix_nano
            .cmp(&a.start_unix_nano)
            .then(a.trace_id.cmp(&b.trace_id))
    });
    Ok(summaries)
}

/// The search filters of `blocks` (None for blocks without one), in one read transaction.
fn search_filters(
    db: &redb::Database,
    blocks: &[(BlockKey, IndexEntry)],
) -> Result<Vec<Option<SearchFilter>>, ReadError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = txn
        .open_table(schema::TRACE_SEARCH_FILTERS)
        .map_err(storage)?;
    blocks
        .iter()
        .map(|(key, entry)| {
            if entry.header.codec == CODEC_ZSTD_PROTOBUF {
                return Ok(None);
            }
            Ok(table
                .get(&key.encode())
                .map_err(storage)?
                .and_then(|v| SearchFilter::decode(v.value())))
        })
        .collect()
}

/// Adds the traces of `columns` with a span matching `query` to `found`: the cheap columns
/// first, the rest of a span only when an attribute must be checked.
fn search_columns(
    mut columns: SpanColumns<'_>,
    query: &TraceQuery,
    found: &mut Found,
) -> Result<(), crate::block::BlockError> {
    let name = match &query.operation {
        Some(op) => match columns.names.iter().position(|n| n == op) {
            Some(i) => Some(i as u32),
            None => return Ok(()),
        },
        None => None,
    };
    let services: Vec<bool> = (0..columns.groups.len() as u32)
        .map(|g| {
            query
                .service
                .as_deref()
                .is_none_or(|s| s == columns.service(g))
        })
        .collect();
    for row in 0..columns.rows.len() {
        let light = &columns.rows[row];
        let duration = light.end.saturating_sub(light.start);
        if !query.range.contains(light.start)
            || !services[light.group as usize]
            || name.is_some_and(|n| n != light.name)
            || query.span_kind.is_some_and(|k| k != light.kind)
            || (query.errors_only && light.status != 2)
            || query.min_duration_ns.is_some_and(|min| duration < min)
            || query.max_duration_ns.is_some_and(|max| duration > max)
        {
            continue;
        }
        let (trace, start, group) = (light.trace, light.start, light.group);
        if !query.attributes.is_empty() {
            let span = columns.span(row)?;
            let resource = columns.groups[group as usize].resource.as_ref();
            let resource = resource.map_or(&[][..], |r| &r.attributes);
            let service = columns.service(group).to_string();
            if !query.matches(&service, resource, &span) {
                continue;
            }
        }
        found.add(columns.trace_ids[trace as usize], start);
    }
    Ok(())
}

/// The operations seen in partitions overlapping `range`, of `service` or of all.
pub(crate) fn operations(
    ctx: ReadContext<'_>,
    range: TimeRange,
    service: Option<&str>,
) -> Result<Vec<Operation>, ReadError> {
    if range.start >= range.end {
        return Ok(Vec::new());
    }
    let db = (ctx.db)()?;
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(schema::TRACE_OPERATIONS).map_err(storage)?;
    let from = partition_start(range.start).to_be_bytes();
    let to = partition_start(range.end - 1)
        .checked_add(schema::PARTITION_NS)
        .map(u64::to_be_bytes);
    let upper = to
        .as_ref()
        .map_or(Bound::Unbounded, |to| Bound::Excluded(&to[..]));
    let mut ops = BTreeSet::new();
    for entry in table
        .range::<&[u8]>((Bound::Included(&from[..]), upper))
        .map_err(storage)?
    {
        let (key, _) = entry.map_err(storage)?;
        let Some((_, s, name, kind)) = schema::parse_operation_key(key.value()) else {
            continue;
        };
        if service.is_none_or(|wanted| wanted == s) {
            ops.insert(Operation {
                service: s,
                name,
                span_kind: kind,
            });
        }
    }
    Ok(ops.into_iter().collect())
}
