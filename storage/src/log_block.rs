//! Codec 3: log records in columns, so that what repeats (resources, severities, attribute keys,
//! the values of low-cardinality attributes, the shape of bodies) is stored once or next to its
//! kind, and what does not (random ids) is stored raw.
//!
//! The compactor writes these blocks (`compactor.rs`); the writer still writes codec-1 blocks.
//! Rows are sorted by (resource group, time). Times are varint deltas within a group, observed
//! times zigzag offsets from the time, severities (number, text) through a dictionary, trace
//! and span ids raw but each distinct id once per block, bodies typed (strings as they are,
//! other values as their protobuf), and attributes split by key: each row names its *shape*
//! (its keys in order) and each key has its own column of typed values, a string repeated
//! within that column stored as a back-reference. What no column holds (dropped counts, flags,
//! event name) is the record's protobuf with the columned fields cleared. A record that does
//! not fit the columns (ids of odd lengths, indexed keys) is kept whole as its protobuf. Every
//! OTLP field comes back; only the grouping into `ResourceLogs`/`ScopeLogs` may differ (one
//! group per distinct resource and scope). The byte layout is in `docs/format.md`, "Codec 3".
//! This module must never touch files or the database, and never panic on bad bytes.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, LogsData, ResourceLogs};
use prost::Message;

use crate::block::{BlockError, BlockHeader};
use crate::columns::{
    Cursor, Dictionary, SectionReader, SectionWriter, put_varint, unzigzag, zigzag,
};
use crate::logs::record_time;

pub(crate) const CODEC_LOG_COLUMNS: u8 = 3;

/// The compactor closes a block at this many records, bounding what a search decodes: one
/// trace's logs come in a few milliseconds. Measured on the load generator's logs, 65,536-record
/// blocks are 1.4 B/record smaller (columns and filter), and a trace's logs take 4x as long.
pub(crate) const MAX_RECORDS_PER_BLOCK: usize = 16_384;

/// Row flag: the record's event time is unset (0); its time column holds the observed time.
const FLAG_NO_EVENT_TIME: u64 = 1;
/// Row flag: the record does not fit the columns and is kept whole in the rest column.
const FLAG_WHOLE: u64 = 2;

/// Value tags in attribute value columns.
const VALUE_NONE: u8 = 0;
const VALUE_NEW_STRING: u8 = 1;
const VALUE_INT: u8 = 2;
const VALUE_DOUBLE: u8 = 3;
const VALUE_FALSE: u8 = 4;
const VALUE_TRUE: u8 = 5;
const VALUE_SEEN_STRING: u8 = 6;
const VALUE_EMPTY: u8 = 7;
const VALUE_OTHER: u8 = 8;

/// Body tags.
const BODY_NONE: u8 = 0;
const BODY_STRING: u8 = 1;
const BODY_OTHER: u8 = 2;

/// A record as the compactor hands it over: the record and the index of its (resource, scope)
/// group, a `ResourceLogs` with one `ScopeLogs` and no records.
pub(crate) struct LogRow {
    pub group: u32,
    pub record: LogRecord,
}

/// Whether `record` fits the columns.
fn fits(record: &LogRecord) -> bool {
    matches!(record.trace_id.len(), 0 | 16)
        && matches!(record.span_id.len(), 0 | 8)
        && record.attributes.iter().all(|kv| kv.key_strindex == 0)
}

/// Distinct ids of one width, each stored once; rows refer to them.
struct IdColumn<'a> {
    refs: Vec<u8>,
    raw: Vec<u8>,
    seen: rustc_hash::FxHashMap<&'a [u8], u64>,
}

impl<'a> IdColumn<'a> {
    fn new() -> IdColumn<'a> {
        IdColumn {
            refs: Vec::new(),
            raw: Vec::new(),
            seen: Default::default(),
        }
    }

    /// Ref 0: no id; 1: the next new id of the raw column; `2 + k`: the `k`-th id again.
    fn push(&mut self, id: &'a [u8]) {
        if id.is_empty() {
            put_varint(&mut self.refs, 0);
        } else if let Some(k) = self.seen.get(id) {
            put_varint(&mut self.refs, 2 + k);
        } else {
            self.seen.insert(id, self.seen.len() as u64);
            self.raw.extend_from_slice(id);
            put_varint(&mut self.refs, 1);
        }
    }
}

/// One attribute key's column of values.
#[derive(Default)]
struct ValueColumn<'a> {
    bytes: Vec<u8>,
    strings: rustc_hash::FxHashMap<&'a str, u64>,
}

impl<'a> ValueColumn<'a> {
    fn push(&mut self, value: Option<&'a AnyValue>) -> Result<(), BlockError> {
        use any_value::Value;
        let out = &mut self.bytes;
        match value.map(|v| v.value.as_ref()) {
            None => out.push(VALUE_NONE),
            Some(None) => out.push(VALUE_EMPTY),
            Some(Some(Value::StringValue(s))) => match self.strings.get(s.as_str()) {
                Some(k) => {
                    out.push(VALUE_SEEN_STRING);
                    put_varint(out, *k);
                }
                None => {
                    self.strings.insert(s, self.strings.len() as u64);
                    out.push(VALUE_NEW_STRING);
                    put_varint(out, s.len() as u64);
                    out.extend_from_slice(s.as_bytes());
                }
            },
            Some(Some(Value::IntValue(i))) => {
                out.push(VALUE_INT);
                put_varint(out, zigzag(*i));
            }
            Some(Some(Value::DoubleValue(d))) => {
                out.push(VALUE_DOUBLE);
                out.extend_from_slice(&d.to_le_bytes());
            }
            Some(Some(Value::BoolValue(b))) => out.push(if *b { VALUE_TRUE } else { VALUE_FALSE }),
            Some(Some(_)) => {
                let value = value.expect("matched Some");
                out.push(VALUE_OTHER);
                put_varint(out, value.encoded_len() as u64);
                value
                    .encode(out)
                    .map_err(|e| BlockError(format!("a value cannot be encoded: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Encodes `rows` (any order; sorted here) whose groups are `groups` into one codec-3 block.
pub(crate) fn encode(
    groups: &[ResourceLogs],
    mut rows: Vec<LogRow>,
    zstd: &mut zstd::bulk::Compressor<'static>,
) -> Result<(BlockHeader, Vec<u8>), BlockError> {
    rows.sort_by_key(|row| (row.group, record_time(&row.record)));
    let min_time = rows
        .iter()
        .map(|r| record_time(&r.record))
        .min()
        .unwrap_or(0);
    let max_time = rows
        .iter()
        .map(|r| record_time(&r.record))
        .max()
        .unwrap_or(0);

    let (mut runs, mut flags, mut times, mut observed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut severity_col, mut bodies, mut row_shapes, mut rest) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut severity_ids: rustc_hash::FxHashMap<(i32, &str), u64> = Default::default();
    let mut severity_pairs: Vec<(i32, &str)> = Vec::new();
    let mut traces = IdColumn::new();
    let mut spans = IdColumn::new();
    let mut keys: Dictionary<'_> = Dictionary::default();
    let mut shapes: rustc_hash::FxHashMap<Vec<u64>, u64> = Default::default();
    let mut shape_table: Vec<Vec<u64>> = Vec::new();
    let mut values: Vec<ValueColumn<'_>> = Vec::new();

    let mut run: Option<(u32, u64)> = None;
    let mut previous = min_time;
    for row in &rows {
        let record = &row.record;
        match &mut run {
            Some((group, len)) if *group == row.group => *len += 1,
            _ => {
                if let Some((group, len)) = run {
                    put_varint(&mut runs, u64::from(group));
                    put_varint(&mut runs, len);
                }
                run = Some((row.group, 1));
                previous = min_time;
            }
        }
        let time = record_time(record);
        put_varint(&mut times, time - previous);
        previous = time;
        let whole = !fits(record);
        let mut row_flags = if whole { FLAG_WHOLE } else { 0 };
        if record.time_unix_nano == 0 {
            row_flags |= FLAG_NO_EVENT_TIME;
        }
        put_varint(&mut flags, row_flags);
        put_varint(
            &mut observed,
            zigzag(record.observed_time_unix_nano.wrapping_sub(time) as i64),
        );
        let mut rest_record = LogRecord::default();
        if whole {
            rest_record = record.clone();
            put_varint(
                &mut severity_col,
                severity_id(&mut severity_ids, &mut severity_pairs, 0, ""),
            );
            traces.push(&[]);
            spans.push(&[]);
            bodies.push(BODY_NONE);
            put_varint(
                &mut row_shapes,
                shape_id(&mut shapes, &mut shape_table, Vec::new()),
            );
        } else {
            put_varint(
                &mut severity_col,
                severity_id(
                    &mut severity_ids,
                    &mut severity_pairs,
                    record.severity_number,
                    &record.severity_text,
                ),
            );
            traces.push(&record.trace_id);
            spans.push(&record.span_id);
            match record.body.as_ref() {
                None => bodies.push(BODY_NONE),
                Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }) => {
                    bodies.push(BODY_STRING);
                    put_varint(&mut bodies, s.len() as u64);
                    bodies.extend_from_slice(s.as_bytes());
                }
                Some(body) => {
                    bodies.push(BODY_OTHER);
                    put_varint(&mut bodies, body.encoded_len() as u64);
                    body.encode(&mut bodies)
                        .map_err(|e| BlockError(format!("a body cannot be encoded: {e}")))?;
                }
            }
            let shape: Vec<u64> = record
                .attributes
                .iter()
                .map(|kv| keys.id(&kv.key))
                .collect();
            for (kv, key) in record.attributes.iter().zip(&shape) {
                let key = *key as usize;
                if values.len() <= key {
                    values.resize_with(key + 1, ValueColumn::default);
                }
                values[key].push(kv.value.as_ref())?;
            }
            put_varint(
                &mut row_shapes,
                shape_id(&mut shapes, &mut shape_table, shape),
            );
            rest_record.dropped_attributes_count = record.dropped_attributes_count;
            rest_record.flags = record.flags;
            rest_record.event_name.clone_from(&record.event_name);
        }
        put_varint(&mut rest, rest_record.encoded_len() as u64);
        rest_record
            .encode(&mut rest)
            .map_err(|e| BlockError(format!("a log record cannot be encoded: {e}")))?;
    }
    if let Some((group, len)) = run {
        put_varint(&mut runs, u64::from(group));
        put_varint(&mut runs, len);
    }

    let mut severity_table = Vec::new();
    put_varint(&mut severity_table, severity_pairs.len() as u64);
    for (number, text) in &severity_pairs {
        put_varint(&mut severity_table, zigzag(i64::from(*number)));
        put_varint(&mut severity_table, text.len() as u64);
        severity_table.extend_from_slice(text.as_bytes());
    }
    let mut shape_bytes = Vec::new();
    put_varint(&mut shape_bytes, shape_table.len() as u64);
    for shape in &shape_table {
        put_varint(&mut shape_bytes, shape.len() as u64);
        for key in shape {
            put_varint(&mut shape_bytes, *key);
        }
    }
    let mut value_lens = Vec::new();
    let mut value_bytes = Vec::new();
    for column in &values {
        put_varint(&mut value_lens, column.bytes.len() as u64);
        value_bytes.extend_from_slice(&column.bytes);
    }
    let groups_bytes = LogsData {
        resource_logs: groups.to_vec(),
    }
    .encode_to_vec();

    let mut out = SectionWriter::new(zstd);
    out.compressed(&groups_bytes)?;
    out.compressed(&runs)?;
    out.compressed(&flags)?;
    out.compressed(&times)?;
    out.compressed(&observed)?;
    out.compressed(&severity_table)?;
    out.compressed(&severity_col)?;
    out.compressed(&traces.refs)?;
    out.raw(&traces.raw);
    out.compressed(&spans.refs)?;
    out.raw(&spans.raw);
    out.compressed(&bodies)?;
    out.compressed(&keys.encode())?;
    out.compressed(&shape_bytes)?;
    out.compressed(&row_shapes)?;
    out.compressed(&value_lens)?;
    out.compressed(&value_bytes)?;
    out.compressed(&rest)?;
    let payload = out.finish();
    let header = BlockHeader {
        codec: CODEC_LOG_COLUMNS,
        uncompressed_len: u32::try_from(payload.len())
            .map_err(|_| BlockError("a log block above 4 GiB".into()))?,
        min_time,
        max_time,
        item_count: rows.len() as u64,
    };
    Ok((header, payload))
}

/// The id of (number, text) among the block's severities, numbering new pairs as they come.
fn severity_id<'a>(
    ids: &mut rustc_hash::FxHashMap<(i32, &'a str), u64>,
    pairs: &mut Vec<(i32, &'a str)>,
    number: i32,
    text: &'a str,
) -> u64 {
    *ids.entry((number, text)).or_insert_with(|| {
        pairs.push((number, text));
        pairs.len() as u64 - 1
    })
}

fn shape_id(
    shapes: &mut rustc_hash::FxHashMap<Vec<u64>, u64>,
    table: &mut Vec<Vec<u64>>,
    shape: Vec<u64>,
) -> u64 {
    if let Some(id) = shapes.get(&shape) {
        return *id;
    }
    let id = table.len() as u64;
    table.push(shape.clone());
    shapes.insert(shape, id);
    id
}

/// An attribute value as stored, borrowed from the decompressed column.
enum ValueRef<'a> {
    /// `value` unset.
    Unset,
    Empty,
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// A protobuf `AnyValue`.
    Other(&'a [u8]),
}

impl ValueRef<'_> {
    fn to_owned(&self) -> Result<Option<AnyValue>, BlockError> {
        use any_value::Value;
        let value = match *self {
            ValueRef::Unset => return Ok(None),
            ValueRef::Empty => None,
            ValueRef::Str(s) => Some(Value::StringValue(s.to_string())),
            ValueRef::Int(i) => Some(Value::IntValue(i)),
            ValueRef::Double(d) => Some(Value::DoubleValue(d)),
            ValueRef::Bool(b) => Some(Value::BoolValue(b)),
            ValueRef::Other(bytes) => {
                return AnyValue::decode(bytes).map(Some).map_err(|e| {
                    BlockError(format!("an attribute value is not valid protobuf: {e}"))
                });
            }
        };
        Ok(Some(AnyValue { value }))
    }
}

/// Reads a value column's next value; `strings` are the column's first-seen strings so far.
fn read_value<'a>(
    cursor: &mut Cursor<'a>,
    strings: &mut Vec<&'a str>,
) -> Result<ValueRef<'a>, BlockError> {
    let tag = cursor.bytes(1)?[0];
    Ok(match tag {
        VALUE_NONE => ValueRef::Unset,
        VALUE_EMPTY => ValueRef::Empty,
        VALUE_NEW_STRING => {
            let s = std::str::from_utf8(cursor.prefixed()?)
                .map_err(|_| BlockError("an attribute value is not UTF-8".into()))?;
            strings.push(s);
            ValueRef::Str(s)
        }
        VALUE_SEEN_STRING => ValueRef::Str(strings[cursor.index(strings.len())?]),
        VALUE_INT => ValueRef::Int(unzigzag(cursor.varint()?)),
        VALUE_DOUBLE => ValueRef::Double(f64::from_le_bytes(cursor.fixed()?)),
        VALUE_FALSE => ValueRef::Bool(false),
        VALUE_TRUE => ValueRef::Bool(true),
        VALUE_OTHER => ValueRef::Other(cursor.prefixed()?),
        other => return Err(BlockError(format!("unknown attribute value tag {other}"))),
    })
}

/// Each row's position in an id table (`None` when it has no id), and the table.
type IdRefs<'a> = (Vec<Option<u32>>, Vec<&'a [u8]>);

/// Reads an id column.
fn read_ids<'a, const N: usize>(
    refs: &[u8],
    raw: &'a [u8],
    rows: usize,
    name: &'static str,
) -> Result<IdRefs<'a>, BlockError> {
    if !raw.len().is_multiple_of(N) {
        return Err(BlockError(format!(
            "the {name} column is not a whole number of ids"
        )));
    }
    let table: Vec<&[u8]> = raw.chunks_exact(N).collect();
    let mut next = 0usize;
    let mut cursor = Cursor::new(refs, name);
    let mut ids = Vec::with_capacity(rows);
    for _ in 0..rows {
        let id = match cursor.varint()? {
            0 => None,
            1 => {
                if next >= table.len() {
                    return Err(BlockError(format!("the {name} column has too few ids")));
                }
                next += 1;
                Some(next as u32 - 1)
            }
            k => {
                let k = usize::try_from(k - 2).unwrap_or(usize::MAX);
                if k >= next {
                    return Err(BlockError(format!(
                        "the {name} column refers to an id ahead"
                    )));
                }
                Some(k as u32)
            }
        };
        ids.push(id);
    }
    cursor.finish()?;
    Ok((ids, table))
}

/// What a row has that is cheap to look at before its record is built: enough to rule most
/// rows out of a search without allocating.
pub(crate) struct RowView<'a> {
    pub group: usize,
    /// The record time (event time, or observed time when unset).
    pub time: u64,
    pub severity_number: i32,
    pub severity_text: &'a str,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    /// The body when it is a string (`None` for other bodies and none).
    pub body: Option<&'a str>,
    /// Whether the record is kept whole (the fields above are then unknown, empty).
    pub whole: bool,
}

/// Decodes a codec-3 block into one `ResourceLogs` per group holding records, in row order.
pub(crate) fn decode_all(
    header: &BlockHeader,
    payload: &[u8],
) -> Result<Vec<ResourceLogs>, BlockError> {
    let mut groups = Vec::new();
    let mut records: Vec<Vec<LogRecord>> = Vec::new();
    decode_rows(
        header,
        payload,
        [None, None],
        |_, _| true,
        |all, group, record| {
            if groups.is_empty() {
                groups = all.to_vec();
                records = vec![Vec::new(); all.len()];
            }
            records[group].push(record);
        },
    )?;
    let mut out = Vec::new();
    for (mut group, records) in groups.into_iter().zip(records) {
        if !records.is_empty() {
            group.scope_logs[0].log_records = records;
            out.push(group);
        }
    }
    Ok(out)
}

/// The sections of a codec-3 payload, in order (`docs/format.md`, "Codec 3").
const SECTIONS: [&str; 18] = [
    "groups",
    "group runs",
    "flags",
    "times",
    "observed times",
    "severity table",
    "severities",
    "trace id refs",
    "trace ids",
    "span id refs",
    "span ids",
    "bodies",
    "attribute keys",
    "shapes",
    "row shapes",
    "value lengths",
    "attribute values",
    "rest",
];

/// Decodes a codec-3 block row by row: `keep` sees each row's [`RowView`] (and the block's
/// groups) and says whether to build it; `emit` gets the groups, the row's group index and the
/// record of each row kept. Rows not kept cost no allocation. `wanted_ids` (a trace id, a span
/// id) that the block's id tables do not hold end the decoding before the big columns are
/// decompressed: no row would be kept. The CRC covers every byte, so damage is found either
/// way.
pub(crate) fn decode_rows(
    header: &BlockHeader,
    payload: &[u8],
    wanted_ids: [Option<&[u8]>; 2],
    mut keep: impl FnMut(&[ResourceLogs], &RowView<'_>) -> bool,
    mut emit: impl FnMut(&[ResourceLogs], usize, LogRecord),
) -> Result<(), BlockError> {
    let rows_total = usize::try_from(header.item_count)
        .map_err(|_| BlockError("the item count does not fit memory".into()))?;
    let mut reader = SectionReader::new(payload)?;
    let mut sections = Vec::with_capacity(SECTIONS.len());
    for name in SECTIONS {
        sections.push(reader.next(name)?);
    }
    reader.finish()?;
    // A block whose id tables lack a wanted id holds no row with it, unless some row is kept
    // whole (its ids are then in the rest): answered without decompressing the big columns.
    let flag_col = sections[2].bytes()?;
    let any_whole = flag_col.iter().any(|b| b & FLAG_WHOLE as u8 != 0);
    for (wanted, raw) in [(wanted_ids[0], 8), (wanted_ids[1], 10)] {
        if let Some(wanted) = wanted
            && !any_whole
            && !sections[raw]
                .bytes()?
                .chunks_exact(wanted.len().max(1))
                .any(|id| id == wanted)
        {
            return Ok(());
        }
    }
    let column = |i: usize| sections[i].bytes();
    let groups = LogsData::decode(&*column(0)?)
        .map_err(|e| BlockError(format!("the groups column is not valid OTLP protobuf: {e}")))?
        .resource_logs;
    if groups.iter().any(|g| g.scope_logs.len() != 1) {
        return Err(BlockError("a group does not hold exactly one scope".into()));
    }
    let runs = column(1)?;
    let time_col = column(3)?;
    let observed_col = column(4)?;
    let severity_table = column(5)?;
    let severity_col = column(6)?;
    let trace_refs = column(7)?;
    let trace_raw = column(8)?;
    let span_refs = column(9)?;
    let span_raw = column(10)?;
    let body_col = column(11)?;
    let keys = Dictionary::decode(&column(12)?, "attribute keys")?;
    let shape_bytes = column(13)?;
    let row_shape_col = column(14)?;
    let value_lens = column(15)?;
    let value_bytes = column(16)?;
    let rest_col = column(17)?;

    let mut table = Cursor::new(&severity_table, "severity table");
    let count = table.index(severity_table.len() + 1)?;
    let mut severity_pairs: Vec<(i32, &str)> = Vec::with_capacity(count);
    for _ in 0..count {
        let number = i32::try_from(unzigzag(table.varint()?))
            .map_err(|_| BlockError("a severity number is out of range".into()))?;
        let text = std::str::from_utf8(table.prefixed()?)
            .map_err(|_| BlockError("a severity text is not UTF-8".into()))?;
        severity_pairs.push((number, text));
    }
    table.finish()?;

    let mut shapes_cursor = Cursor::new(&shape_bytes, "shapes");
    let shape_count = shapes_cursor.index(shape_bytes.len() + 1)?;
    let mut shapes = Vec::with_capacity(shape_count);
    for _ in 0..shape_count {
        let len = shapes_cursor.index(shape_bytes.len() + 1)?;
        let shape: Vec<usize> = (0..len)
            .map(|_| shapes_cursor.index(keys.len()))
            .collect::<Result<_, _>>()?;
        shapes.push(shape);
    }
    shapes_cursor.finish()?;

    let mut lens = Cursor::new(&value_lens, "value lengths");
    let mut value_columns: Vec<(Cursor<'_>, Vec<&str>)> = Vec::with_capacity(keys.len());
    let mut at = 0usize;
    while !lens.is_empty() {
        let len = lens.index(value_bytes.len() - at + 1)?;
        value_columns.push((
            Cursor::new(&value_bytes[at..at + len], "attribute values"),
            Vec::new(),
        ));
        at += len;
    }
    if at != value_bytes.len() || value_columns.len() > keys.len() {
        return Err(BlockError(
            "the attribute value lengths do not add up".into(),
        ));
    }

    let (trace_ids, trace_table) = read_ids::<16>(&trace_refs, &trace_raw, rows_total, "trace id")?;
    let (span_ids, span_table) = read_ids::<8>(&span_refs, &span_raw, rows_total, "span id")?;
    let mut runs = Cursor::new(&runs, "group runs");
    let mut flags = Cursor::new(&flag_col, "flags");
    let mut times = Cursor::new(&time_col, "times");
    let mut observed = Cursor::new(&observed_col, "observed times");
    let mut severities = Cursor::new(&severity_col, "severities");
    let mut bodies = Cursor::new(&body_col, "bodies");
    let mut row_shapes = Cursor::new(&row_shape_col, "row shapes");
    let mut rest = Cursor::new(&rest_col, "rest");
    let mut values = Vec::new();
    let mut row = 0;
    while !runs.is_empty() {
        let group = runs.index(groups.len())?;
        let len = runs.index(rows_total - row + 1)?;
        let mut previous = header.min_time;
        for _ in 0..len {
            let row_flags = flags.varint()?;
            let time = previous
                .checked_add(times.varint()?)
                .ok_or_else(|| BlockError("a time overflows".into()))?;
            previous = time;
            let observed_time = time.wrapping_add(unzigzag(observed.varint()?) as u64);
            let (severity_number, severity_text) =
                severity_pairs[severities.index(severity_pairs.len())?];
            let body = match bodies.bytes(1)?[0] {
                BODY_NONE => None,
                BODY_STRING => Some(Ok(std::str::from_utf8(bodies.prefixed()?)
                    .map_err(|_| BlockError("a body is not UTF-8".into()))?)),
                BODY_OTHER => Some(Err(bodies.prefixed()?)),
                other => return Err(BlockError(format!("unknown body tag {other}"))),
            };
            let shape = &shapes[row_shapes.index(shapes.len())?];
            values.clear();
            for key in shape {
                let (cursor, strings) = value_columns
                    .get_mut(*key)
                    .ok_or_else(|| BlockError("an attribute key has no value column".into()))?;
                values.push(read_value(cursor, strings)?);
            }
            let rest_bytes = rest.prefixed()?;
            let whole = row_flags & FLAG_WHOLE != 0;
            let view = RowView {
                group,
                time,
                severity_number,
                severity_text,
                trace_id: trace_ids[row].map_or(&[][..], |i| trace_table[i as usize]),
                span_id: span_ids[row].map_or(&[][..], |i| span_table[i as usize]),
                body: body.and_then(|b| b.ok()),
                whole,
            };
            row += 1;
            if !keep(&groups, &view) {
                continue;
            }
            let mut record = LogRecord::decode(rest_bytes)
                .map_err(|e| BlockError(format!("a record's rest is not valid protobuf: {e}")))?;
            if whole {
                if record_time(&record) != time {
                    return Err(BlockError(
                        "a whole record's time disagrees with its row".into(),
                    ));
                }
            } else {
                record.time_unix_nano = if row_flags & FLAG_NO_EVENT_TIME != 0 {
                    0
                } else {
                    time
                };
                record.observed_time_unix_nano = observed_time;
                record.severity_number = severity_number;
                record.severity_text = severity_text.to_string();
                record.trace_id = view.trace_id.to_vec();
                record.span_id = view.span_id.to_vec();
                record.body =
                    match body {
                        None => None,
                        Some(Ok(s)) => Some(AnyValue {
                            value: Some(any_value::Value::StringValue(s.to_string())),
                        }),
                        Some(Err(bytes)) => Some(AnyValue::decode(bytes).map_err(|e| {
                            BlockError(format!("a body is not valid protobuf: {e}"))
                        })?),
                    };
                record.attributes = shape
                    .iter()
                    .zip(&values)
                    .map(|(key, value)| {
                        Ok(KeyValue {
                            key: keys[*key].clone(),
                            value: value.to_owned()?,
                            key_strindex: 0,
                        })
                    })
                    .collect::<Result<_, BlockError>>()?;
            }
            emit(&groups, group, record);
        }
    }
    if row != rows_total {
        return Err(BlockError(
            "the rows do not add up to the item count".into(),
        ));
    }
    for cursor in [
        &flags,
        &times,
        &observed,
        &severities,
        &bodies,
        &row_shapes,
        &rest,
    ] {
        cursor.finish()?;
    }
    for (cursor, _) in &value_columns {
        cursor.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{proptest_config, rich_logs};
    use opentelemetry_proto::tonic::logs::v1::ScopeLogs;
    use proptest::prelude::*;

    /// Splits groups into (groups without records, rows), as the compactor collects them.
    fn rows_of(input: &[ResourceLogs]) -> (Vec<ResourceLogs>, Vec<LogRow>) {
        let mut groups = Vec::new();
        let mut rows = Vec::new();
        for resource in input {
            for scope in &resource.scope_logs {
                let group = groups.len() as u32;
                groups.push(ResourceLogs {
                    resource: resource.resource.clone(),
                    scope_logs: vec![ScopeLogs {
                        log_records: Vec::new(),
                        ..scope.clone()
                    }],
                    schema_url: resource.schema_url.clone(),
                });
                for record in &scope.log_records {
                    rows.push(LogRow {
                        group,
                        record: record.clone(),
                    });
                }
            }
        }
        (groups, rows)
    }

    fn sorted(groups: &[ResourceLogs]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = groups
            .iter()
            .flat_map(|g| {
                let mut head = g.clone();
                head.scope_logs[0].log_records.clear();
                let head = head.encode_to_vec();
                g.scope_logs[0]
                    .log_records
                    .iter()
                    .map(move |r| (head.clone(), r.encode_to_vec()))
            })
            .collect();
        out.sort();
        out
    }

    fn round_trip(input: &[ResourceLogs]) -> Vec<ResourceLogs> {
        let (groups, rows) = rows_of(input);
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let (header, payload) = encode(&groups, rows, &mut zstd).unwrap();
        decode_all(&header, &payload).unwrap()
    }

    #[test]
    fn rich_records_come_back_whole() {
        let mut input = rich_logs(1_700_000_000_000_000_000);
        // A record the columns cannot hold, one severity text with two numbers, repeated ids.
        let records = &mut input[0].scope_logs[0].log_records;
        let mut odd = records[0].clone();
        odd.trace_id = vec![1, 2, 3];
        records.push(odd);
        let mut renumbered = records[1].clone();
        renumbered.severity_number = 3;
        records.push(renumbered);
        let output = round_trip(&input);
        assert_eq!(sorted(&output), sorted(&input));
    }

    fn any_value() -> impl Strategy<Value = Option<AnyValue>> {
        use any_value::Value;
        let leaf = prop_oneof![
            "[a-c]{0,3}".prop_map(Value::StringValue),
            any::<i64>().prop_map(Value::IntValue),
            any::<f64>().prop_map(Value::DoubleValue),
            any::<bool>().prop_map(Value::BoolValue),
            proptest::collection::vec(any::<u8>(), 0..3).prop_map(Value::BytesValue),
        ];
        prop_oneof![
            3 => leaf.prop_map(|v| Some(AnyValue { value: Some(v) })),
            1 => Just(Some(AnyValue { value: None })),
            1 => Just(None),
        ]
    }

    fn any_record() -> impl Strategy<Value = LogRecord> {
        (
            (
                0u64..5,
                0u64..4,
                -2i32..30,
                prop_oneof![Just(""), Just("INFO"), Just("WARN")],
            ),
            (
                prop_oneof![Just(0usize), Just(16), Just(3)],
                0u8..3,
                prop_oneof![Just(0usize), Just(8)],
            ),
            any_value(),
            proptest::collection::vec(("[k-m]", any_value()), 0..4),
            (0u32..3, 0u32..2, prop_oneof![Just(""), Just("e")]),
        )
            .prop_map(
                |(
                    (time, observed, severity, text),
                    (trace_len, id, span_len),
                    body,
                    attributes,
                    (dropped, flags, event),
                )| LogRecord {
                    time_unix_nano: time * 1000,
                    observed_time_unix_nano: observed * 700,
                    severity_number: severity,
                    severity_text: text.into(),
                    body,
                    attributes: attributes
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value,
                            key_strindex: 0,
                        })
                        .collect(),
                    dropped_attributes_count: dropped,
                    flags,
                    trace_id: vec![id; trace_len],
                    span_id: vec![id; span_len],
                    event_name: event.into(),
                },
            )
    }

    proptest! {
        #![proptest_config(proptest_config(64))]
        #[test]
        fn any_records_round_trip(
            groups in proptest::collection::vec(
                ("[xy]", proptest::collection::vec(any_record(), 1..20)), 1..4)
        ) {
            let input: Vec<ResourceLogs> = groups
                .into_iter()
                .map(|(service, records)| {
                    let mut group = rich_logs(0).remove(0);
                    group.resource.as_mut().unwrap().attributes[0].value =
                        Some(AnyValue { value: Some(any_value::Value::StringValue(service)) });
                    group.scope_logs[0].log_records = records;
                    group
                })
                .collect();
            // Groups of equal resources are still separate groups: compare records per head.
            prop_assert_eq!(sorted(&round_trip(&input)), sorted(&input));
        }
    }

    #[test]
    fn damaged_blocks_are_refused_not_misread() {
        let input = rich_logs(1_700_000_000_000_000_000);
        let (groups, rows) = rows_of(&input);
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let (header, payload) = encode(&groups, rows, &mut zstd).unwrap();
        for at in (0..payload.len()).step_by(7) {
            let mut damaged = payload.clone();
            damaged[at] ^= 0x41;
            assert!(decode_all(&header, &damaged).is_err(), "byte {at}");
        }
        let wrong_count = BlockHeader {
            item_count: header.item_count + 1,
            ..header
        };
        assert!(decode_all(&wrong_count, &payload).is_err());
    }
}

#[cfg(test)]
mod column_sizes {
    use super::*;

    /// `OTELITE_LOGS_STORE=<a copy of a data directory> cargo test -p otelite-storage --lib
    /// column_sizes -- --ignored --nocapture`: what each column of one full block costs.
    #[test]
    #[ignore = "needs a store with logs; prints a table"]
    fn log_column_sizes() {
        let path = std::env::var("OTELITE_LOGS_STORE").expect("OTELITE_LOGS_STORE names a store");
        let store = crate::Store::open(
            path,
            crate::StoreOptions::default().with_compaction_idle(None),
        )
        .unwrap();
        let mut collector = crate::log_index::LogCollector::default();
        for group in store.read_logs(crate::TimeRange::ALL).unwrap() {
            collector.add(group);
        }
        // The load generator sends its pool of records again and again: keep one of each.
        let mut seen = std::collections::HashSet::new();
        let mut rows: Vec<LogRow> = collector
            .rows
            .into_iter()
            .filter(|row| seen.insert(row.record.encode_to_vec()))
            .collect();
        rows.sort_by_key(|row| record_time(&row.record));
        rows.truncate(MAX_RECORDS_PER_BLOCK);
        let records = rows.len();
        let filter = crate::log_index::LogFilter::build(&collector.groups, &rows).encode();
        let mut zstd = zstd::bulk::Compressor::new(6).unwrap();
        let (_, payload) = encode(&collector.groups, rows, &mut zstd).unwrap();
        let names = SECTIONS;
        let mut sections = SectionReader::new(&payload).unwrap();
        for name in names {
            let (stored, raw) = match sections.next(name).unwrap() {
                crate::columns::Section::Raw(bytes) => (bytes.len(), bytes.len()),
                crate::columns::Section::Compressed { frame, len } => (frame.len(), len),
            };
            println!(
                "{name:>16}: {:6.2} B/record stored ({:6.2} raw)",
                stored as f64 / records as f64,
                raw as f64 / records as f64
            );
        }
        let per = |n: usize| n as f64 / records as f64;
        println!("{:>16}: {:6.2} B/record", "filter", per(filter.len()));
        println!(
            "{:>16}: {:6.2} B/record ({records} records)",
            "total",
            per(payload.len())
        );
    }
}
