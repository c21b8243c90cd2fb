//! Codec 2: spans in columns, sorted by trace id, so a block holds each trace's spans together
//! and a lookup decodes only the rows of the trace it wants.
//!
//! The compactor writes these blocks (`compactor.rs`); the writer still writes codec-1 blocks.
//! Rows are sorted by (trace id, start time). Fixed-width ids are stored raw, times as varint
//! deltas, names through a dictionary, resources and scopes once per block, and the rest of each
//! span (attributes, events, links, status, trace state, flags, dropped counts) as its protobuf
//! with the columned fields cleared, in pages of [`ROWS_PER_PAGE`] rows, each its own zstd
//! frame. Every OTLP field comes back; only the grouping into `ResourceSpans`/`ScopeSpans`
//! may differ (one group per distinct resource and scope). The byte layout is in
//! `docs/format.md`, "Codec 2". This module must never touch files or the database, and never
//! panic on bad bytes.

use std::borrow::Cow;

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
use prost::Message;

use crate::block::{BlockError, BlockHeader};
use crate::columns::{
    Cursor, Dictionary, SectionReader, SectionWriter, put_varint, unzigzag, zigzag,
};
use crate::trace_query::TraceId;

pub(crate) const CODEC_SPAN_COLUMNS: u8 = 2;

/// Rows whose rest-of-span protobufs share one zstd frame: small enough that one trace's rows
/// decompress in microseconds, large enough to compress well.
pub(crate) const ROWS_PER_PAGE: usize = 512;

/// The compactor closes a block at this many spans, bounding what a lookup decodes.
pub(crate) const MAX_SPANS_PER_BLOCK: usize = 16_384;

/// Row flag: the span's ids are irregular (trace id not 16 bytes, span id not 8, or parent
/// neither empty nor 8) and stay in its rest protobuf; its id columns hold zeros.
const FLAG_IDS_IN_REST: u64 = 1;

/// A span as the compactor hands it over: the span and the index of its (resource, scope) group.
pub(crate) struct Row {
    pub group: u32,
    pub span: Span,
}

/// A resource and a scope, with their schema URLs: what a `ResourceSpans` with one `ScopeSpans`
/// holds besides spans.
pub(crate) type Group = ResourceSpans;

/// The key a row sorts and is looked up by: its trace id, zero-padded or cut to 16 bytes.
pub(crate) fn trace_key(trace_id: &[u8]) -> TraceId {
    let mut key = [0; 16];
    let n = trace_id.len().min(16);
    key[..n].copy_from_slice(&trace_id[..n]);
    key
}

fn regular(span: &Span) -> bool {
    span.trace_id.len() == 16
        && span.span_id.len() == 8
        && (span.parent_span_id.is_empty() || span.parent_span_id.len() == 8)
}

/// Encodes `rows` (any order; sorted here) whose groups are `groups` into one codec-2 block.
pub(crate) fn encode(
    groups: &[Group],
    rows: Vec<Row>,
    zstd: &mut zstd::bulk::Compressor<'static>,
) -> Result<(BlockHeader, Vec<u8>), BlockError> {
    // Sort positions, not rows: a span is hundreds of bytes, and moving each once is enough.
    let mut order: Vec<(TraceId, u64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            (
                trace_key(&row.span.trace_id),
                row.span.start_time_unix_nano,
                i as u32,
            )
        })
        .collect();
    order.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| {
                rows[a.2 as usize]
                    .span
                    .span_id
                    .cmp(&rows[b.2 as usize].span.span_id)
            })
            .then(a.2.cmp(&b.2))
    });
    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    let rows: Vec<Row> = order
        .into_iter()
        .map(|(_, _, i)| slots[i as usize].take().expect("each row once"))
        .collect();
    drop(slots);
    let min_time = rows
        .iter()
        .map(|r| r.span.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let max_time = rows
        .iter()
        .map(|r| r.span.start_time_unix_nano)
        .max()
        .unwrap_or(0);

    let mut trace_ids = Vec::new();
    let mut trace_lens = Vec::new();
    let (mut group_col, mut flags, mut span_ids, mut parents, mut parent_raw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut starts, mut durations, mut name_col, mut kinds, mut statuses) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut names = Dictionary::default();

    // Rows of the current trace: span id -> row offset within the trace.
    let mut in_trace: rustc_hash::FxHashMap<&[u8], u64> = Default::default();
    let mut trace_start_row = 0;
    let mut previous_start = min_time;
    let mut current: Option<TraceId> = None;
    let mut regular_rows = Vec::with_capacity(rows.len());
    for (row_no, row) in rows.iter().enumerate() {
        let span = &row.span;
        let key = trace_key(&span.trace_id);
        if current != Some(key) {
            current = Some(key);
            trace_ids.extend_from_slice(&key);
            trace_lens.push(0u64);
            in_trace.clear();
            trace_start_row = row_no;
            previous_start = min_time;
        }
        *trace_lens.last_mut().expect("pushed above") += 1;
        put_varint(&mut group_col, u64::from(row.group));
        let is_regular = regular(span);
        regular_rows.push(is_regular);
        put_varint(&mut flags, if is_regular { 0 } else { FLAG_IDS_IN_REST });
        // The parent is looked up before this span's own id is known, so it is always an
        // earlier row.
        let parent = if !is_regular || span.parent_span_id.is_empty() {
            0
        } else if let Some(offset) = in_trace.get(span.parent_span_id.as_slice()) {
            offset + 2
        } else {
            parent_raw.extend_from_slice(&span.parent_span_id);
            1
        };
        put_varint(&mut parents, parent);
        if is_regular {
            span_ids.extend_from_slice(&span.span_id);
            in_trace.insert(&span.span_id, (row_no - trace_start_row) as u64);
        } else {
            span_ids.extend_from_slice(&[0; 8]);
        }
        put_varint(&mut starts, span.start_time_unix_nano - previous_start);
        previous_start = span.start_time_unix_nano;
        let duration = span
            .end_time_unix_nano
            .wrapping_sub(span.start_time_unix_nano) as i64;
        put_varint(&mut durations, zigzag(duration));
        put_varint(&mut name_col, names.id(&span.name));
        put_varint(&mut kinds, zigzag(i64::from(span.kind)));
        put_varint(
            &mut statuses,
            zigzag(i64::from(span.status.as_ref().map_or(0, |s| s.code))),
        );
    }
    let names = names.encode();
    drop(in_trace);

    // The rest of each span: the span itself with the columned fields cleared.
    let row_count = rows.len();
    let mut pages = Vec::new();
    let mut page = Vec::new();
    for (row_no, (row, is_regular)) in rows.into_iter().zip(regular_rows).enumerate() {
        let mut rest = row.span;
        if is_regular {
            rest.trace_id.clear();
            rest.span_id.clear();
            rest.parent_span_id.clear();
        }
        rest.start_time_unix_nano = 0;
        rest.end_time_unix_nano = 0;
        rest.name.clear();
        rest.kind = 0;
        rest.encode_length_delimited(&mut page)
            .map_err(|e| BlockError(format!("a span cannot be encoded: {e}")))?;
        if (row_no + 1) % ROWS_PER_PAGE == 0 {
            pages.push(std::mem::take(&mut page));
        }
    }
    if !page.is_empty() {
        pages.push(page);
    }

    let groups_bytes = TracesData {
        resource_spans: groups.to_vec(),
    }
    .encode_to_vec();
    let mut lens = Vec::new();
    for len in &trace_lens {
        put_varint(&mut lens, *len);
    }
    let mut out = SectionWriter::new(zstd);
    out.raw(&trace_ids);
    out.compressed(&lens)?;
    out.compressed(&groups_bytes)?;
    out.compressed(&group_col)?;
    out.compressed(&flags)?;
    out.raw(&span_ids);
    out.compressed(&parents)?;
    out.raw(&parent_raw);
    out.compressed(&starts)?;
    out.compressed(&durations)?;
    out.compressed(&names)?;
    out.compressed(&name_col)?;
    out.compressed(&kinds)?;
    out.compressed(&statuses)?;
    let mut page_count = Vec::new();
    put_varint(&mut page_count, pages.len() as u64);
    out.raw(&page_count);
    for page in &pages {
        out.compressed(page)?;
    }
    let payload = out.finish();
    let header = BlockHeader {
        codec: CODEC_SPAN_COLUMNS,
        uncompressed_len: u32::try_from(payload.len())
            .map_err(|_| BlockError("a span block above 4 GiB".into()))?,
        min_time,
        max_time,
        item_count: row_count as u64,
    };
    Ok((header, payload))
}

/// What every span of a block has without its rest protobuf: enough to search by service,
/// name, kind, status and duration, and to summarise traces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LightSpan {
    /// Index into [`SpanColumns::trace_ids`].
    pub trace: u32,
    pub group: u32,
    pub span_id: [u8; 8],
    /// Whether the span has a parent (for irregular rows: unknown until the rest is read, and
    /// `false` here).
    pub has_parent: bool,
    pub start: u64,
    pub end: u64,
    pub name: u32,
    pub kind: i32,
    pub status: i32,
    parent: Parent,
    flags: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Parent {
    None,
    Raw([u8; 8]),
    Row(u32),
}

/// A decoded codec-2 block minus the rest pages, which [`SpanColumns::span`] reads on demand.
pub(crate) struct SpanColumns<'a> {
    pub trace_ids: Vec<TraceId>,
    /// Row range of each trace: rows `trace_rows[t]..trace_rows[t + 1]`.
    pub trace_rows: Vec<usize>,
    pub groups: Vec<Group>,
    pub names: Vec<String>,
    pub rows: Vec<LightSpan>,
    pages: Vec<crate::columns::Section<'a>>,
    /// The last page decompressed.
    page_cache: Option<Page>,
}

/// A decompressed rest page: its number, its bytes, and each row's (offset, length) in them.
type Page = (usize, Vec<u8>, Vec<(usize, usize)>);

fn column<'a>(
    sections: &mut SectionReader<'a>,
    name: &'static str,
) -> Result<Cow<'a, [u8]>, BlockError> {
    sections.next(name)?.bytes()
}

impl<'a> SpanColumns<'a> {
    /// Decodes everything but the rest pages, checking the rows against `header`.
    pub fn decode(header: &BlockHeader, payload: &'a [u8]) -> Result<SpanColumns<'a>, BlockError> {
        let mut sections = SectionReader::new(payload)?;
        let ids = column(&mut sections, "trace ids")?;
        if ids.len() % 16 != 0 {
            return Err(BlockError(
                "the trace id column is not a whole number of ids".into(),
            ));
        }
        let trace_ids: Vec<TraceId> = ids
            .chunks_exact(16)
            .map(|c| c.try_into().expect("16"))
            .collect();
        let lens = column(&mut sections, "trace lengths")?;
        let mut lens = Cursor::new(&lens, "trace lengths");
        let rows_total = usize::try_from(header.item_count)
            .map_err(|_| BlockError("the item count does not fit memory".into()))?;
        let mut trace_rows = Vec::with_capacity(trace_ids.len() + 1);
        trace_rows.push(0);
        for _ in &trace_ids {
            let len = lens.index(rows_total + 1)?;
            let next = trace_rows.last().expect("pushed") + len;
            if len == 0 || next > rows_total {
                return Err(BlockError(
                    "the trace lengths do not add up to the item count".into(),
                ));
            }
            trace_rows.push(next);
        }
        lens.finish()?;
        if *trace_rows.last().expect("pushed") != rows_total {
            return Err(BlockError(
                "the trace lengths do not add up to the item count".into(),
            ));
        }
        let groups = TracesData::decode(&*column(&mut sections, "groups")?)
            .map_err(|e| BlockError(format!("the groups column is not valid OTLP protobuf: {e}")))?
            .resource_spans;
        let group_col = column(&mut sections, "groups of rows")?;
        let flag_col = column(&mut sections, "flags")?;
        let span_ids = column(&mut sections, "span ids")?;
        let parent_col = column(&mut sections, "parents")?;
        let parent_raw = column(&mut sections, "raw parents")?;
        let start_col = column(&mut sections, "starts")?;
        let duration_col = column(&mut sections, "durations")?;
        let names = crate::columns::Dictionary::decode(&column(&mut sections, "names")?, "names")?;
        let name_col = column(&mut sections, "name ids")?;
        let kind_col = column(&mut sections, "kinds")?;
        let status_col = column(&mut sections, "statuses")?;
        let page_count = column(&mut sections, "page count")?;
        let mut page_count = Cursor::new(&page_count, "page count");
        let page_count = page_count.index(rows_total / ROWS_PER_PAGE + 2)?;
        if page_count != rows_total.div_ceil(ROWS_PER_PAGE) {
            return Err(BlockError(
                "the number of pages does not match the item count".into(),
            ));
        }
        let mut pages = Vec::with_capacity(page_count);
        for _ in 0..page_count {
            pages.push(sections.next("rest page")?);
        }
        sections.finish()?;
        if span_ids.len() != rows_total * 8 {
            return Err(BlockError(
                "the span id column does not hold one id per row".into(),
            ));
        }

        let (mut group_c, mut flag_c, mut parent_c, mut raw_c) = (
            Cursor::new(&group_col, "groups of rows"),
            Cursor::new(&flag_col, "flags"),
            Cursor::new(&parent_col, "parents"),
            Cursor::new(&parent_raw, "raw parents"),
        );
        let (mut start_c, mut duration_c, mut name_c, mut kind_c, mut status_c) = (
            Cursor::new(&start_col, "starts"),
            Cursor::new(&duration_col, "durations"),
            Cursor::new(&name_col, "name ids"),
            Cursor::new(&kind_col, "kinds"),
            Cursor::new(&status_col, "statuses"),
        );
        let mut rows = Vec::with_capacity(rows_total);
        let (mut min, mut max) = (u64::MAX, 0);
        for (trace, range) in trace_rows.windows(2).enumerate() {
            let mut previous = header.min_time;
            for row in range[0]..range[1] {
                let group = group_c.index(groups.len())? as u32;
                let flags = flag_c.varint()?;
                let parent = match parent_c.varint()? {
                    0 => Parent::None,
                    1 => Parent::Raw(raw_c.fixed()?),
                    code => {
                        let offset = usize::try_from(code - 2)
                            .ok()
                            .filter(|o| range[0] + o < row);
                        let offset = offset.ok_or_else(|| {
                            BlockError(
                                "a span's parent row is not an earlier row of its trace".into(),
                            )
                        })?;
                        Parent::Row((range[0] + offset) as u32)
                    }
                };
                let start = previous
                    .checked_add(start_c.varint()?)
                    .ok_or_else(|| BlockError("a start time overflows".into()))?;
                previous = start;
                let end = start.wrapping_add(unzigzag(duration_c.varint()?) as u64);
                let name = name_c.index(names.len())? as u32;
                let kind = i32::try_from(unzigzag(kind_c.varint()?))
                    .map_err(|_| BlockError("a span kind is out of range".into()))?;
                let status = i32::try_from(unzigzag(status_c.varint()?))
                    .map_err(|_| BlockError("a status code is out of range".into()))?;
                (min, max) = (min.min(start), max.max(start));
                rows.push(LightSpan {
                    trace: trace as u32,
                    group,
                    span_id: span_ids[row * 8..row * 8 + 8].try_into().expect("8"),
                    has_parent: parent != Parent::None,
                    start,
                    end,
                    name,
                    kind,
                    status,
                    parent,
                    flags,
                });
            }
        }
        for cursor in [
            &group_c,
            &flag_c,
            &parent_c,
            &raw_c,
            &start_c,
            &duration_c,
            &name_c,
            &kind_c,
            &status_c,
        ] {
            cursor.finish()?;
        }
        if rows_total > 0 && (min, max) != (header.min_time, header.max_time) {
            return Err(BlockError(format!(
                "the spans start at {min}..={max} but the header promises {}..={}",
                header.min_time, header.max_time
            )));
        }
        Ok(SpanColumns {
            trace_ids,
            trace_rows,
            groups,
            names,
            rows,
            pages,
            page_cache: None,
        })
    }

    /// The rows of trace `id`, if the block holds it.
    pub fn rows_of(&self, id: &TraceId) -> std::ops::Range<usize> {
        match self.trace_ids.binary_search(id) {
            Ok(t) => self.trace_rows[t]..self.trace_rows[t + 1],
            Err(_) => 0..0,
        }
    }

    /// The `service.name` of group `group`.
    pub fn service(&self, group: u32) -> &str {
        let resource = self.groups[group as usize].resource.as_ref();
        crate::trace_query::service_name(resource.map_or(&[][..], |r| &r.attributes))
    }

    /// The whole span of row `row`, reading its rest page if not already cached.
    pub fn span(&mut self, row: usize) -> Result<Span, BlockError> {
        let page = row / ROWS_PER_PAGE;
        if self.page_cache.as_ref().is_none_or(|(p, _, _)| *p != page) {
            let bytes = self.pages[page].bytes()?.into_owned();
            let mut offsets = Vec::with_capacity(ROWS_PER_PAGE);
            let mut cursor = Cursor::new(&bytes, "rest page");
            while !cursor.is_empty() {
                let len = cursor.prefixed()?.len();
                offsets.push((cursor.position() - len, len));
            }
            let expected = (self.rows.len() - page * ROWS_PER_PAGE).min(ROWS_PER_PAGE);
            if offsets.len() != expected {
                return Err(BlockError(format!(
                    "a rest page holds {} spans instead of {expected}",
                    offsets.len()
                )));
            }
            self.page_cache = Some((page, bytes, offsets));
        }
        let (_, bytes, offsets) = self.page_cache.as_ref().expect("filled above");
        let (start, len) = offsets[row % ROWS_PER_PAGE];
        let mut span = Span::decode(&bytes[start..start + len])
            .map_err(|e| BlockError(format!("a span's rest is not valid OTLP protobuf: {e}")))?;
        let light = &self.rows[row];
        if light.flags & FLAG_IDS_IN_REST == 0 {
            span.trace_id = self.trace_ids[light.trace as usize].to_vec();
            span.span_id = light.span_id.to_vec();
            span.parent_span_id = match light.parent {
                Parent::None => Vec::new(),
                Parent::Raw(id) => id.to_vec(),
                Parent::Row(r) => self.rows[r as usize].span_id.to_vec(),
            };
        }
        span.start_time_unix_nano = light.start;
        span.end_time_unix_nano = light.end;
        span.name = self.names[light.name as usize].clone();
        span.kind = light.kind;
        Ok(span)
    }

    /// The spans of `rows` as resource groups (one per group that has any).
    pub fn groups_of(
        &mut self,
        rows: impl IntoIterator<Item = usize>,
    ) -> Result<Vec<ResourceSpans>, BlockError> {
        let mut by_group: Vec<Option<ResourceSpans>> = vec![None; self.groups.len()];
        let mut order = Vec::new();
        for row in rows {
            let span = self.span(row)?;
            let g = self.rows[row].group as usize;
            let slot = &mut by_group[g];
            if slot.is_none() {
                let mut group = self.groups[g].clone();
                if group.scope_spans.is_empty() {
                    group.scope_spans.push(ScopeSpans::default());
                }
                *slot = Some(group);
                order.push(g);
            }
            slot.as_mut().expect("filled").scope_spans[0]
                .spans
                .push(span);
        }
        Ok(order
            .into_iter()
            .filter_map(|g| by_group[g].take())
            .collect())
    }
}

/// Every span of a codec-2 block, as resource groups.
pub(crate) fn decode_all(
    header: &BlockHeader,
    payload: &[u8],
) -> Result<Vec<ResourceSpans>, BlockError> {
    let mut columns = SpanColumns::decode(header, payload)?;
    let rows = columns.rows.len();
    columns.groups_of(0..rows)
}

/// Flattens resource groups into the groups and rows [`encode`] takes: one group per distinct
/// (resource, scope) pair, so resources repeated by many requests are stored once.
#[derive(Default)]
pub(crate) struct RowCollector {
    pub groups: Vec<Group>,
    index: rustc_hash::FxHashMap<Vec<u8>, u32>,
    pub rows: Vec<Row>,
}

impl RowCollector {
    pub fn add(&mut self, group: ResourceSpans) {
        for scope in group.scope_spans {
            let key_group = ResourceSpans {
                resource: group.resource.clone(),
                scope_spans: vec![ScopeSpans {
                    scope: scope.scope,
                    spans: Vec::new(),
                    schema_url: scope.schema_url,
                }],
                schema_url: group.schema_url.clone(),
            };
            let id = crate::columns::group_id(&mut self.groups, &mut self.index, key_group);
            self.rows
                .extend(scope.spans.into_iter().map(|span| Row { group: id, span }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::items_of;
    use crate::test_fixtures::*;
    use proptest::prelude::*;

    fn round_trip(groups: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
        let mut collector = RowCollector::default();
        for group in groups {
            collector.add(group);
        }
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let (header, payload) = encode(&collector.groups, collector.rows, &mut zstd).unwrap();
        decode_all(&header, &payload).unwrap()
    }

    #[test]
    fn rich_spans_come_back_whole() {
        let groups = rich_spans(1_735_725_600_000_000_000);
        assert_eq!(items_of(&round_trip(groups.clone())), items_of(&groups));
    }

    #[test]
    fn a_lookup_decodes_one_trace() {
        let mut groups = rich_spans(1_000);
        // Two traces: every span of the first resource in trace A, parent-linked.
        for (i, span) in groups[0]
            .scope_spans
            .iter_mut()
            .flat_map(|s| &mut s.spans)
            .enumerate()
        {
            span.trace_id = vec![0xa; 16];
            span.span_id = vec![i as u8 + 1; 8];
            span.parent_span_id = if i == 0 { vec![] } else { vec![1; 8] };
        }
        let mut collector = RowCollector::default();
        for group in groups.clone() {
            collector.add(group);
        }
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let (header, payload) = encode(&collector.groups, collector.rows, &mut zstd).unwrap();
        let mut columns = SpanColumns::decode(&header, &payload).unwrap();
        let rows = columns.rows_of(&[0xa; 16]);
        assert_eq!(rows.len(), 6);
        assert!(
            columns.rows[rows.start..rows.end]
                .iter()
                .filter(|r| !r.has_parent)
                .count()
                == 1
        );
        let found = columns.groups_of(rows).unwrap();
        let mut expected = groups[..1].to_vec();
        expected[0].scope_spans.iter_mut().for_each(|_| {});
        assert_eq!(items_of(&found), items_of(&expected));
        assert!(columns.rows_of(&[0xb; 16]).is_empty());
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let mut collector = RowCollector::default();
        for group in rich_spans(5_000) {
            collector.add(group);
        }
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let (header, payload) = encode(&collector.groups, collector.rows, &mut zstd).unwrap();
        for at in (0..payload.len()).step_by(7) {
            let mut damaged = payload.clone();
            damaged[at] ^= 0x41;
            assert!(decode_all(&header, &damaged).is_err(), "byte {at}");
        }
        let mut wrong = header;
        wrong.item_count += 1;
        assert!(decode_all(&wrong, &payload).is_err());
    }

    fn any_id(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), len)
    }

    prop_compose! {
        fn any_span(traces: Vec<Vec<u8>>, spans: Vec<Vec<u8>>)
            (trace in proptest::sample::select(traces),
             span_id in prop_oneof![4 => proptest::sample::select(spans.clone()), 1 => any_id(0..10)],
             parent in prop_oneof![2 => Just(vec![]), 4 => proptest::sample::select(spans), 1 => any_id(0..10)],
             start in prop_oneof![any::<u64>(), 1_000u64..2_000],
             end in any::<u64>(),
             kind in any::<i32>(),
             name in "[a-c]{0,3}")
            -> Span {
            let mut span = span_at(&name, start);
            span.trace_id = trace;
            span.span_id = span_id;
            span.parent_span_id = parent;
            span.end_time_unix_nano = end;
            span.kind = kind;
            span
        }
    }

    fn any_groups() -> impl Strategy<Value = Vec<ResourceSpans>> {
        (
            proptest::collection::vec(prop_oneof![8 => any_id(16..17), 1 => any_id(0..20)], 1..4),
            proptest::collection::vec(any_id(8..9), 1..6),
        )
            .prop_flat_map(|(traces, spans)| {
                proptest::collection::vec(
                    proptest::collection::vec(any_span(traces, spans), 0..12),
                    1..4,
                )
            })
            .prop_map(|per_group| {
                per_group
                    .into_iter()
                    .enumerate()
                    .map(|(i, spans)| {
                        let mut group = rich_spans(0).swap_remove(i % 2);
                        group.scope_spans.truncate(1);
                        group.scope_spans[0].spans = spans;
                        group
                    })
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(proptest_config(64))]
        #[test]
        fn any_spans_round_trip(groups in any_groups()) {
            prop_assert_eq!(items_of(&round_trip(groups.clone())), items_of(&groups));
        }
    }
}

/// What each column of codec 2 costs on real-looking spans:
/// `OTELITE_SPANS_DUMP=spans.pb cargo test --release -p otelite-storage --lib column_sizes -- --ignored --nocapture`
/// with `spans.pb` from `otelite loadgen --signal traces --dump spans.pb`.
#[cfg(test)]
mod column_sizes {
    use super::*;

    #[test]
    #[ignore = "needs a span dump; prints a table"]
    fn column_sizes() {
        let path = std::env::var("OTELITE_SPANS_DUMP").expect("OTELITE_SPANS_DUMP names a dump");
        let data = TracesData::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
        let mut collector = RowCollector::default();
        for group in data.resource_spans {
            collector.add(group);
        }
        let spans = collector.rows.len();
        let mut rows = collector.rows;
        rows.truncate(MAX_SPANS_PER_BLOCK.min(spans));
        let block_spans = rows.len();
        let mut zstd = zstd::bulk::Compressor::new(6).unwrap();
        let (_, payload) = encode(&collector.groups, rows, &mut zstd).unwrap();
        let names = [
            "trace ids",
            "trace lengths",
            "groups",
            "row groups",
            "flags",
            "span ids",
            "parents",
            "raw parents",
            "starts",
            "durations",
            "names",
            "name ids",
            "kinds",
            "statuses",
            "page count",
        ];
        let mut sections = SectionReader::new(&payload).unwrap();
        let mut rest = 0;
        for i in 0.. {
            let Ok(section) = sections.next("any") else {
                break;
            };
            let (stored, raw) = match section {
                crate::columns::Section::Raw(bytes) => (bytes.len(), bytes.len()),
                crate::columns::Section::Compressed { frame, len } => (frame.len(), len),
            };
            match names.get(i) {
                Some(name) => println!(
                    "{name:>14}: {:6.2} B/span stored ({:6.2} raw)",
                    stored as f64 / block_spans as f64,
                    raw as f64 / block_spans as f64
                ),
                None => rest += stored,
            }
        }
        println!(
            "{:>14}: {:6.2} B/span",
            "rest pages",
            rest as f64 / block_spans as f64
        );
        println!(
            "{:>14}: {:6.2} B/span ({block_spans} spans)",
            "total",
            payload.len() as f64 / block_spans as f64
        );
    }
}
