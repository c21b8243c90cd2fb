//! Codec 4: metric data points in per-series chunks, encoded the way time-series databases
//! encode samples, so that regular exports cost next to nothing.
//!
//! The compactor writes these blocks (`compactor.rs`); the writer still writes codec-1 blocks.
//! A block holds whole series chunks: each series' canonical encoding once (`metric_query.rs`),
//! then its points in time order. Timestamps are delta-of-delta coded (a regular export interval
//! costs a zero), start times against the previous point (unchanged, or the previous point's
//! time for delta temporality), integers (int values, counts, bucket counts, zero counts) as
//! deltas against the same field of the previous point, floats against the previous value of
//! the same field by whichever is shortest of: unchanged, an integer delta, a decimal mantissa
//! delta (`12.5` is `125e-1`), the XOR of the bits, or the raw bits. Histogram bounds and
//! summary quantiles are stored only when they change; exponential histogram buckets are
//! aligned by bucket index before taking deltas. Exemplars keep their trace and span ids raw.
//! Whatever no column holds (flags, min/max, zero threshold, exemplar attributes) is the point's
//! protobuf with the columned fields cleared, identical from point to point in the common case.
//! Each chunk's extent in every per-point column is recorded, so a reader steps over the chunks
//! of series it does not want without parsing them. Every column is then its own zstd frame. Every OTLP field comes back; the byte layout is in
//! `docs/format.md`, "Codec 4". This module must never touch files or the database, and never
//! panic on bad bytes.

use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, ResourceMetrics,
    SummaryDataPoint, number_data_point,
};
use prost::Message;

use crate::block::{BlockError, BlockHeader};
use crate::columns::{Cursor, SectionReader, SectionWriter, put_varint, unzigzag, zigzag};
use crate::metric_query::{MetricPoints, MetricSeries};

pub(crate) const CODEC_METRIC_CHUNKS: u8 = 4;

/// The compactor closes a block once it holds this many points (a series' chunk is cut only
/// when it alone is larger), bounding what a query of one series decodes.
pub(crate) const MAX_POINTS_PER_BLOCK: usize = 65_536;

/// The sections of a codec-4 payload, in order (`docs/format.md`, "Codec 4").
const SECTIONS: [&str; 14] = [
    "series",
    "point counts",
    "chunk extents",
    "times",
    "start times",
    "shapes",
    "integers",
    "bucket counts",
    "float tags",
    "floats",
    "exemplar counts",
    "exemplars",
    "exemplar ids",
    "rest",
];

/// The per-point columns ("times" to "rest"), whose extent per chunk the "chunk extents"
/// column records so a reader can step over a chunk it does not want.
const POINT_COLUMNS: usize = 11;

/// Float tags: how a float is coded against the previous value of its field.
const FLOAT_SAME: u8 = 0;
const FLOAT_INTEGER: u8 = 1;
/// Tags `FLOAT_DECIMAL + e - 1`, `e` in `1..=MAX_DECIMALS`: a mantissa `m` with `v = m / 10^e`.
const FLOAT_DECIMAL: u8 = 2;
const MAX_DECIMALS: u8 = 12;
const FLOAT_XOR: u8 = FLOAT_DECIMAL + MAX_DECIMALS;
const FLOAT_RAW: u8 = FLOAT_XOR + 1;
/// The difference of the two values' bits as `i64`: for a growing sum, often a byte shorter
/// than their XOR.
const FLOAT_BITS_DELTA: u8 = FLOAT_RAW + 1;

/// Shape bits.
const NUMBER_INT: u64 = 1;
const NUMBER_DOUBLE: u64 = 2;
const HAS_SUM: u64 = 1;
const NEW_BOUNDS: u64 = 2;
const HAS_POSITIVE: u64 = 2;
const HAS_NEGATIVE: u64 = 4;
const NEW_QUANTILES: u64 = 1;

/// Exemplar flags: the id is in the raw id column (16-byte trace id, 8-byte span id).
const EXEMPLAR_TRACE: u64 = 1;
const EXEMPLAR_SPAN: u64 = 2;

const POW10: [f64; MAX_DECIMALS as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];

/// 2^53: integers up to this are exact in an `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The mantissa predicted for `v` at `e` decimals (any `f64`; `as` saturates, NaN gives 0).
fn mantissa(v: f64, e: usize) -> i64 {
    (v * POW10[e]).round() as i64
}

fn from_mantissa(m: i64, e: usize) -> f64 {
    m as f64 / POW10[e]
}

/// The bytes of `value` as a varint.
fn varint_len(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).max(1).div_ceil(7)
}

/// Codes `v` against `prev` into `tags` and `out`: the shortest exact coding (the first of the
/// shortest, in the order considered). Lengths are compared before anything is written: this
/// runs once per float of every compacted point.
fn put_float(tags: &mut Vec<u8>, out: &mut Vec<u8>, prev: f64, v: f64) {
    if v.to_bits() == prev.to_bits() {
        tags.push(FLOAT_SAME);
        return;
    }
    // The tag, and the varint that follows it (`None`: the raw bits).
    let mut best: (u8, Option<u64>, usize) = (FLOAT_RAW, None, 8);
    let mut consider = |tag: u8, value: u64| {
        let len = varint_len(value);
        if len < best.2 {
            best = (tag, Some(value), len);
        }
    };
    consider(FLOAT_XOR, v.to_bits() ^ prev.to_bits());
    consider(
        FLOAT_BITS_DELTA,
        zigzag(v.to_bits().wrapping_sub(prev.to_bits()) as i64),
    );
    if v.is_finite() && v.abs() < EXACT && prev.is_finite() && prev.abs() < EXACT {
        if v.fract() == 0.0 && prev.fract() == 0.0 {
            let delta = (v as i64).wrapping_sub(prev as i64);
            if ((prev as i64).wrapping_add(delta) as f64).to_bits() == v.to_bits() {
                consider(FLOAT_INTEGER, zigzag(delta));
            }
        }
        for e in 1..=MAX_DECIMALS as usize {
            let m = mantissa(v, e);
            if (m as f64).abs() < EXACT && from_mantissa(m, e).to_bits() == v.to_bits() {
                consider(
                    FLOAT_DECIMAL + e as u8 - 1,
                    zigzag(m.wrapping_sub(mantissa(prev, e))),
                );
                break;
            }
        }
    }
    tags.push(best.0);
    match best.1 {
        Some(value) => put_varint(out, value),
        None => out.extend_from_slice(&v.to_bits().to_le_bytes()),
    }
}

fn get_float(tags: &mut Cursor<'_>, floats: &mut Cursor<'_>, prev: f64) -> Result<f64, BlockError> {
    let tag = tags.fixed::<1>()?[0];
    Ok(match tag {
        FLOAT_SAME => prev,
        FLOAT_INTEGER => (prev as i64).wrapping_add(unzigzag(floats.varint()?)) as f64,
        FLOAT_XOR => f64::from_bits(prev.to_bits() ^ floats.varint()?),
        FLOAT_RAW => f64::from_le_bytes(floats.fixed::<8>()?),
        FLOAT_BITS_DELTA => f64::from_bits(
            prev.to_bits()
                .wrapping_add(unzigzag(floats.varint()?) as u64),
        ),
        tag if (FLOAT_DECIMAL..FLOAT_XOR).contains(&tag) => {
            let e = usize::from(tag - FLOAT_DECIMAL + 1);
            from_mantissa(
                mantissa(prev, e).wrapping_add(unzigzag(floats.varint()?)),
                e,
            )
        }
        other => return Err(BlockError(format!("unknown float tag {other}"))),
    })
}

/// The wrapping sum of bucket counts.
fn sum_of(counts: &[u64]) -> u64 {
    counts.iter().fold(0, |a, b| a.wrapping_add(*b))
}

fn put_delta(out: &mut Vec<u8>, prev: u64, v: u64) {
    put_varint(out, zigzag(v.wrapping_sub(prev) as i64));
}

fn get_delta(ints: &mut Cursor<'_>, prev: u64) -> Result<u64, BlockError> {
    Ok(prev.wrapping_add(unzigzag(ints.varint()?) as u64))
}

/// The columns being built.
#[derive(Default)]
struct Columns {
    series: Vec<u8>,
    counts: Vec<u8>,
    extents: Vec<u8>,
    times: Vec<u8>,
    starts: Vec<u8>,
    shapes: Vec<u8>,
    ints: Vec<u8>,
    buckets: Vec<u8>,
    float_tags: Vec<u8>,
    floats: Vec<u8>,
    exemplar_counts: Vec<u8>,
    exemplars: Vec<u8>,
    exemplar_ids: Vec<u8>,
    rest: Vec<u8>,
}

impl Columns {
    /// The lengths of the per-point columns, in [`SECTIONS`] order from "times" on.
    fn point_columns(&self) -> [usize; POINT_COLUMNS] {
        [
            self.times.len(),
            self.starts.len(),
            self.shapes.len(),
            self.ints.len(),
            self.buckets.len(),
            self.float_tags.len(),
            self.floats.len(),
            self.exemplar_counts.len(),
            self.exemplars.len(),
            self.exemplar_ids.len(),
            self.rest.len(),
        ]
    }

    fn float(&mut self, prev: &mut f64, v: f64) {
        put_float(&mut self.float_tags, &mut self.floats, *prev, v);
        *prev = v;
    }

    fn delta(&mut self, prev: &mut u64, v: u64) {
        put_delta(&mut self.ints, *prev, v);
        *prev = v;
    }

    fn rest(&mut self, message: &impl Message) {
        put_varint(&mut self.rest, message.encoded_len() as u64);
        message
            .encode(&mut self.rest)
            .expect("a Vec grows as needed");
    }

    fn exemplars(&mut self, time: u64, exemplars: &[Exemplar]) {
        put_varint(&mut self.exemplar_counts, exemplars.len() as u64);
        for exemplar in exemplars {
            let mut rest = exemplar.clone();
            let mut flags = 0;
            if exemplar.trace_id.len() == 16 {
                flags |= EXEMPLAR_TRACE;
                self.exemplar_ids.extend_from_slice(&exemplar.trace_id);
                rest.trace_id.clear();
            }
            if exemplar.span_id.len() == 8 {
                flags |= EXEMPLAR_SPAN;
                self.exemplar_ids.extend_from_slice(&exemplar.span_id);
                rest.span_id.clear();
            }
            rest.time_unix_nano = 0;
            put_varint(&mut self.exemplars, flags);
            put_varint(
                &mut self.exemplars,
                zigzag(exemplar.time_unix_nano.wrapping_sub(time) as i64),
            );
            put_varint(&mut self.exemplars, rest.encoded_len() as u64);
            rest.encode(&mut self.exemplars)
                .expect("a Vec grows as needed");
        }
    }
}

/// Per-series coding state: the previous point's fields.
#[derive(Default)]
struct State {
    time: u64,
    delta: u64,
    start: u64,
    int: u64,
    float: f64,
    count: u64,
    sum: f64,
    bounds: Vec<f64>,
    scale: u64,
    zero_count: u64,
    positive: (u64, Vec<u64>),
    negative: (u64, Vec<u64>),
    quantiles: Vec<f64>,
    values: Vec<f64>,
}

/// Start-time codes: 0 the previous point's start, 1 the previous point's time, `2 + zigzag(time
/// - start)` otherwise.
fn put_start(out: &mut Vec<u8>, state: &State, time: u64, start: u64) {
    if start == state.start {
        put_varint(out, 0);
    } else if start == state.time {
        put_varint(out, 1);
    } else {
        put_varint(
            out,
            2u64.wrapping_add(zigzag(time.wrapping_sub(start) as i64)),
        );
    }
}

fn get_start(starts: &mut Cursor<'_>, state: &State, time: u64) -> Result<u64, BlockError> {
    Ok(match starts.varint()? {
        0 => state.start,
        1 => state.time,
        code => time.wrapping_sub(unzigzag(code - 2) as u64),
    })
}

/// Deltas of `counts` against `prev`, aligned so that index `i` of `counts` (bucket `offset + i`)
/// is compared with the previous point's same bucket (0 if it had none).
fn put_buckets(ints: &mut Vec<u8>, prev: &(u64, Vec<u64>), offset: u64, counts: &[u64]) {
    put_delta(ints, prev.0, offset);
    put_varint(ints, counts.len() as u64);
    for (i, count) in counts.iter().enumerate() {
        put_delta(ints, aligned(prev, offset, i), *count);
    }
}

fn aligned(prev: &(u64, Vec<u64>), offset: u64, i: usize) -> u64 {
    let index = offset.wrapping_add(i as u64).wrapping_sub(prev.0);
    usize::try_from(index)
        .ok()
        .and_then(|index| prev.1.get(index).copied())
        .unwrap_or(0)
}

fn get_buckets(
    ints: &mut Cursor<'_>,
    prev: &(u64, Vec<u64>),
) -> Result<(u64, Vec<u64>), BlockError> {
    let offset = get_delta(ints, prev.0)?;
    let len = ints.index(MAX_BUCKETS)?;
    let mut counts = Vec::with_capacity(len);
    for i in 0..len {
        counts.push(get_delta(ints, aligned(prev, offset, i))?);
    }
    Ok((offset, counts))
}

/// A histogram chunk's bucket counts, bucket by bucket ("per-bucket columns"): for bucket 0
/// every point's count, then bucket 1's, and so on (a point with fewer buckets is skipped),
/// each as the zigzag varint of its difference to the previous point's count of the same
/// bucket (0 if that point had none). A bucket's counts change alike from point to point, so
/// they compress far better side by side than point by point.
fn put_bucket_columns(out: &mut Vec<u8>, points: &[&[u64]]) {
    let buckets = points.iter().map(|p| p.len()).max().unwrap_or(0);
    for j in 0..buckets {
        for (i, counts) in points.iter().enumerate() {
            if let Some(count) = counts.get(j) {
                let prev = i
                    .checked_sub(1)
                    .and_then(|i| points[i].get(j))
                    .copied()
                    .unwrap_or(0);
                put_delta(out, prev, *count);
            }
        }
    }
}

fn get_bucket_columns(
    cursor: &mut Cursor<'_>,
    lens: &[usize],
) -> Result<Vec<Vec<u64>>, BlockError> {
    let mut points: Vec<Vec<u64>> = lens.iter().map(|len| Vec::with_capacity(*len)).collect();
    let buckets = lens.iter().copied().max().unwrap_or(0);
    for j in 0..buckets {
        for i in 0..points.len() {
            if lens[i] > j {
                let prev = i
                    .checked_sub(1)
                    .and_then(|i| points[i].get(j))
                    .copied()
                    .unwrap_or(0);
                let count = get_delta(cursor, prev)?;
                points[i].push(count);
            }
        }
    }
    Ok(points)
}

/// More buckets, bounds or quantiles than this in one point is damage.
const MAX_BUCKETS: usize = 1 << 16;

/// One series' chunk to encode: its canonical encoding and points (sorted by time).
pub(crate) struct Chunk<'a> {
    pub canonical: &'a [u8],
    pub points: &'a MetricPoints,
}

/// Encodes `chunks` into one codec-4 block.
pub(crate) fn encode(
    chunks: &[Chunk<'_>],
    zstd: &mut zstd::bulk::Compressor<'static>,
) -> Result<(BlockHeader, Vec<u8>), BlockError> {
    let mut min_time = u64::MAX;
    let mut max_time = 0;
    let mut items = 0u64;
    for chunk in chunks {
        chunk.points.for_each_time(|t| {
            min_time = min_time.min(t);
            max_time = max_time.max(t);
            items += 1;
        });
    }
    if items == 0 {
        min_time = 0;
    }
    let mut c = Columns::default();
    put_varint(&mut c.series, chunks.len() as u64);
    for chunk in chunks {
        put_varint(&mut c.series, chunk.canonical.len() as u64);
        c.series.extend_from_slice(chunk.canonical);
        put_varint(&mut c.counts, chunk.points.len() as u64);
        let before = c.point_columns();
        let mut state = State::default();
        let mut first = true;
        let mut time = |c: &mut Columns, state: &mut State, t: u64| {
            if first {
                put_varint(&mut c.times, t.wrapping_sub(min_time));
                first = false;
            } else {
                let delta = t.wrapping_sub(state.time);
                put_varint(&mut c.times, zigzag(delta.wrapping_sub(state.delta) as i64));
                state.delta = delta;
            }
        };
        match chunk.points {
            MetricPoints::Number(points) => {
                for p in points {
                    time(&mut c, &mut state, p.time_unix_nano);
                    put_start(
                        &mut c.starts,
                        &state,
                        p.time_unix_nano,
                        p.start_time_unix_nano,
                    );
                    match p.value {
                        None => put_varint(&mut c.shapes, 0),
                        Some(number_data_point::Value::AsInt(v)) => {
                            put_varint(&mut c.shapes, NUMBER_INT);
                            c.delta(&mut state.int, v as u64);
                        }
                        Some(number_data_point::Value::AsDouble(v)) => {
                            put_varint(&mut c.shapes, NUMBER_DOUBLE);
                            c.float(&mut state.float, v);
                        }
                    }
                    c.exemplars(p.time_unix_nano, &p.exemplars);
                    c.rest(&NumberDataPoint {
                        flags: p.flags,
                        ..Default::default()
                    });
                    state.time = p.time_unix_nano;
                    state.start = p.start_time_unix_nano;
                }
            }
            MetricPoints::Histogram(points) => {
                for p in points {
                    time(&mut c, &mut state, p.time_unix_nano);
                    put_start(
                        &mut c.starts,
                        &state,
                        p.time_unix_nano,
                        p.start_time_unix_nano,
                    );
                    let new_bounds = p.explicit_bounds.len() != state.bounds.len()
                        || p.explicit_bounds
                            .iter()
                            .zip(&state.bounds)
                            .any(|(a, b)| a.to_bits() != b.to_bits());
                    let shape = if p.sum.is_some() { HAS_SUM } else { 0 }
                        | if new_bounds { NEW_BOUNDS } else { 0 };
                    put_varint(&mut c.shapes, shape);
                    // The count is (almost always) the buckets' sum: store the difference.
                    put_delta(&mut c.ints, sum_of(&p.bucket_counts), p.count);
                    if let Some(sum) = p.sum {
                        c.float(&mut state.sum, sum);
                    }
                    if new_bounds {
                        put_varint(&mut c.ints, p.explicit_bounds.len() as u64);
                        for (i, bound) in p.explicit_bounds.iter().enumerate() {
                            let mut prev = state.bounds.get(i).copied().unwrap_or(0.0);
                            c.float(&mut prev, *bound);
                        }
                        state.bounds.clone_from(&p.explicit_bounds);
                    }
                    put_varint(&mut c.ints, p.bucket_counts.len() as u64);
                    c.exemplars(p.time_unix_nano, &p.exemplars);
                    c.rest(&HistogramDataPoint {
                        flags: p.flags,
                        min: p.min,
                        max: p.max,
                        ..Default::default()
                    });
                    state.time = p.time_unix_nano;
                    state.start = p.start_time_unix_nano;
                }
                let counts: Vec<&[u64]> = points.iter().map(|p| &p.bucket_counts[..]).collect();
                put_bucket_columns(&mut c.buckets, &counts);
            }
            MetricPoints::ExponentialHistogram(points) => {
                for p in points {
                    time(&mut c, &mut state, p.time_unix_nano);
                    put_start(
                        &mut c.starts,
                        &state,
                        p.time_unix_nano,
                        p.start_time_unix_nano,
                    );
                    let shape = if p.sum.is_some() { HAS_SUM } else { 0 }
                        | if p.positive.is_some() {
                            HAS_POSITIVE
                        } else {
                            0
                        }
                        | if p.negative.is_some() {
                            HAS_NEGATIVE
                        } else {
                            0
                        };
                    put_varint(&mut c.shapes, shape);
                    let buckets =
                        |b: &Option<Buckets>| b.as_ref().map_or(0, |b| sum_of(&b.bucket_counts));
                    let total = p
                        .zero_count
                        .wrapping_add(buckets(&p.positive))
                        .wrapping_add(buckets(&p.negative));
                    put_delta(&mut c.ints, total, p.count);
                    if let Some(sum) = p.sum {
                        c.float(&mut state.sum, sum);
                    }
                    c.delta(&mut state.scale, i64::from(p.scale) as u64);
                    c.delta(&mut state.zero_count, p.zero_count);
                    for (buckets, prev) in [
                        (&p.positive, &mut state.positive),
                        (&p.negative, &mut state.negative),
                    ] {
                        if let Some(b) = buckets {
                            let offset = i64::from(b.offset) as u64;
                            put_buckets(&mut c.ints, prev, offset, &b.bucket_counts);
                            *prev = (offset, b.bucket_counts.clone());
                        }
                    }
                    c.exemplars(p.time_unix_nano, &p.exemplars);
                    c.rest(&ExponentialHistogramDataPoint {
                        flags: p.flags,
                        min: p.min,
                        max: p.max,
                        zero_threshold: p.zero_threshold,
                        ..Default::default()
                    });
                    state.time = p.time_unix_nano;
                    state.start = p.start_time_unix_nano;
                }
            }
            MetricPoints::Summary(points) => {
                for p in points {
                    time(&mut c, &mut state, p.time_unix_nano);
                    put_start(
                        &mut c.starts,
                        &state,
                        p.time_unix_nano,
                        p.start_time_unix_nano,
                    );
                    let new_quantiles = p.quantile_values.len() != state.quantiles.len()
                        || p.quantile_values
                            .iter()
                            .zip(&state.quantiles)
                            .any(|(a, b)| a.quantile.to_bits() != b.to_bits());
                    put_varint(&mut c.shapes, if new_quantiles { NEW_QUANTILES } else { 0 });
                    c.delta(&mut state.count, p.count);
                    c.float(&mut state.sum, p.sum);
                    if new_quantiles {
                        put_varint(&mut c.ints, p.quantile_values.len() as u64);
                        for (i, q) in p.quantile_values.iter().enumerate() {
                            let mut prev = state.quantiles.get(i).copied().unwrap_or(0.0);
                            c.float(&mut prev, q.quantile);
                        }
                        state.quantiles = p.quantile_values.iter().map(|q| q.quantile).collect();
                    }
                    for (i, q) in p.quantile_values.iter().enumerate() {
                        let mut prev = state.values.get(i).copied().unwrap_or(0.0);
                        c.float(&mut prev, q.value);
                    }
                    state.values = p.quantile_values.iter().map(|q| q.value).collect();
                    put_varint(&mut c.exemplar_counts, 0);
                    c.rest(&SummaryDataPoint {
                        flags: p.flags,
                        ..Default::default()
                    });
                    state.time = p.time_unix_nano;
                    state.start = p.start_time_unix_nano;
                }
            }
        }
        for (after, before) in c.point_columns().into_iter().zip(before) {
            put_varint(&mut c.extents, (after - before) as u64);
        }
    }
    let mut out = SectionWriter::new(zstd);
    let columns: [&Vec<u8>; 14] = [
        &c.series,
        &c.counts,
        &c.extents,
        &c.times,
        &c.starts,
        &c.shapes,
        &c.ints,
        &c.buckets,
        &c.float_tags,
        &c.floats,
        &c.exemplar_counts,
        &c.exemplars,
        &c.exemplar_ids,
        &c.rest,
    ];
    for (i, column) in columns.into_iter().enumerate() {
        if SECTIONS[i] == "exemplar ids" {
            out.raw(column);
        } else {
            out.compressed(column)?;
        }
    }
    let payload = out.finish();
    let header = BlockHeader {
        codec: CODEC_METRIC_CHUNKS,
        uncompressed_len: u32::try_from(payload.len())
            .map_err(|_| BlockError("a metric block above 4 GiB".into()))?,
        min_time,
        max_time,
        item_count: items,
    };
    Ok((header, payload))
}

/// A decoded block's series: canonical encodings and (if asked for) points, in block order.
pub(crate) struct DecodedSeries {
    pub canonical: Vec<u8>,
    /// The series and its points, for a chunk that was wanted.
    pub series: Option<MetricSeries>,
    pub points: Option<MetricPoints>,
}

/// The sections of a block, in order, decompressed.
struct Sections(Vec<Vec<u8>>);

impl Sections {
    /// The first `count` sections (all of them checked for presence and the CRC).
    fn read(payload: &[u8], count: usize) -> Result<Sections, BlockError> {
        let mut reader = SectionReader::new(payload)?;
        let mut out = Vec::with_capacity(count);
        for (i, name) in SECTIONS.iter().enumerate() {
            let section = reader.next(name)?;
            if i < count {
                out.push(section.bytes()?.into_owned());
            }
        }
        reader.finish()?;
        Ok(Sections(out))
    }
}

/// A series' canonical encoding and its points' times.
pub(crate) type SeriesTimes = (Vec<u8>, Vec<u64>);

/// The series of a block with their point times: what a listing of series needs, without
/// decoding values.
pub(crate) fn series_times(
    header: &BlockHeader,
    payload: &[u8],
) -> Result<Vec<SeriesTimes>, BlockError> {
    let sections = Sections::read(payload, 4)?;
    let (series, counts) = read_series(header, &sections)?;
    let mut times = Cursor::new(&sections.0[3], "times");
    let mut out = Vec::with_capacity(series.len());
    for (canonical, count) in series.into_iter().zip(counts) {
        let mut state = State::default();
        let mut list = Vec::with_capacity(count);
        for i in 0..count {
            list.push(next_time(&mut times, header, &mut state, i == 0)?);
            state.time = list[i];
        }
        out.push((canonical.to_vec(), list));
    }
    times.finish()?;
    Ok(out)
}

fn read_series<'s>(
    header: &BlockHeader,
    sections: &'s Sections,
) -> Result<(Vec<&'s [u8]>, Vec<usize>), BlockError> {
    let mut series = Cursor::new(&sections.0[0], "series");
    let n = series.index(sections.0[0].len() + 1)?;
    let mut canonical = Vec::with_capacity(n);
    for _ in 0..n {
        canonical.push(series.prefixed()?);
    }
    series.finish()?;
    let mut counts_cursor = Cursor::new(&sections.0[1], "point counts");
    let mut counts = Vec::with_capacity(n);
    let mut total = 0u64;
    for _ in 0..n {
        let count = counts_cursor.index(MAX_POINTS)?;
        total += count as u64;
        counts.push(count);
    }
    counts_cursor.finish()?;
    if total != header.item_count {
        return Err(BlockError(format!(
            "the block holds {total} points but its header says {}",
            header.item_count
        )));
    }
    Ok((canonical, counts))
}

/// A column longer than this is damage.
const MAX_SECTION: usize = 1 << 30;

/// More points than this in one block is damage.
const MAX_POINTS: usize = 1 << 26;

fn next_time(
    times: &mut Cursor<'_>,
    header: &BlockHeader,
    state: &mut State,
    first: bool,
) -> Result<u64, BlockError> {
    let time = if first {
        header.min_time.wrapping_add(times.varint()?)
    } else {
        let delta = state.delta.wrapping_add(unzigzag(times.varint()?) as u64);
        state.delta = delta;
        state.time.wrapping_add(delta)
    };
    if time < header.min_time || time > header.max_time {
        return Err(BlockError(format!(
            "a point's time {time} lies outside the block's {}..={}",
            header.min_time, header.max_time
        )));
    }
    Ok(time)
}

/// Decodes a block: every series, with the points of those `wanted` (by position) accepts.
pub(crate) fn decode(
    header: &BlockHeader,
    payload: &[u8],
    wanted: impl Fn(usize) -> bool,
) -> Result<Vec<DecodedSeries>, BlockError> {
    let sections = Sections::read(payload, SECTIONS.len())?;
    let (series, counts) = read_series(header, &sections)?;
    let s = &sections.0;
    let mut times = Cursor::new(&s[3], "times");
    let mut starts = Cursor::new(&s[4], "start times");
    let mut shapes = Cursor::new(&s[5], "shapes");
    let mut ints = Cursor::new(&s[6], "integers");
    let mut bucket_cursor = Cursor::new(&s[7], "bucket counts");
    let mut tags = Cursor::new(&s[8], "float tags");
    let mut floats = Cursor::new(&s[9], "floats");
    let mut exemplar_counts = Cursor::new(&s[10], "exemplar counts");
    let mut exemplars = Cursor::new(&s[11], "exemplars");
    let mut ids = Cursor::new(&s[12], "exemplar ids");
    let mut rest = Cursor::new(&s[13], "rest");
    let mut out = Vec::with_capacity(series.len());
    let (mut min_seen, mut max_seen) = (u64::MAX, 0);
    let mut extents = Cursor::new(&s[2], "chunk extents");
    let mut skipped = false;
    for (position, (canonical, count)) in series.into_iter().zip(counts).enumerate() {
        let mut extent = [0usize; POINT_COLUMNS];
        for e in &mut extent {
            *e = extents.index(MAX_SECTION)?;
        }
        let mut cursors = [
            &mut times,
            &mut starts,
            &mut shapes,
            &mut ints,
            &mut bucket_cursor,
            &mut tags,
            &mut floats,
            &mut exemplar_counts,
            &mut exemplars,
            &mut ids,
            &mut rest,
        ];
        if !wanted(position) {
            // An unwanted chunk is stepped over, column by column.
            for (cursor, len) in cursors.iter_mut().zip(extent) {
                cursor.bytes(len)?;
            }
            out.push(DecodedSeries {
                canonical: canonical.to_vec(),
                series: None,
                points: None,
            });
            skipped = true;
            continue;
        }
        let starts_at = cursors.each_ref().map(|c| c.position());
        let decoded = MetricSeries::from_canonical(canonical)?;
        let mut state = State::default();
        let mut points = decoded.kind.no_points();
        let mut bucket_lens = Vec::new();
        for i in 0..count {
            let time = next_time(&mut times, header, &mut state, i == 0)?;
            min_seen = min_seen.min(time);
            max_seen = max_seen.max(time);
            let start = get_start(&mut starts, &state, time)?;
            let shape = shapes.varint()?;
            let point_exemplars =
                read_exemplars(&mut exemplar_counts, &mut exemplars, &mut ids, time)?;
            let rest_bytes = rest.prefixed()?;
            let bad = |e: prost::DecodeError| BlockError(format!("a point's rest is damaged: {e}"));
            let mut float = |prev: &mut f64| -> Result<f64, BlockError> {
                *prev = get_float(&mut tags, &mut floats, *prev)?;
                Ok(*prev)
            };
            match &mut points {
                MetricPoints::Number(list) => {
                    let mut p = NumberDataPoint::decode(rest_bytes).map_err(bad)?;
                    p.value = match shape {
                        0 => None,
                        NUMBER_INT => {
                            state.int = get_delta(&mut ints, state.int)?;
                            Some(number_data_point::Value::AsInt(state.int as i64))
                        }
                        NUMBER_DOUBLE => {
                            Some(number_data_point::Value::AsDouble(float(&mut state.float)?))
                        }
                        other => return Err(BlockError(format!("unknown number shape {other}"))),
                    };
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = start;
                    p.exemplars = point_exemplars;
                    list.push(p);
                }
                MetricPoints::Histogram(list) => {
                    let mut p = HistogramDataPoint::decode(rest_bytes).map_err(bad)?;
                    if shape > (HAS_SUM | NEW_BOUNDS) {
                        return Err(BlockError(format!("unknown histogram shape {shape}")));
                    }
                    p.count = unzigzag(ints.varint()?) as u64;

                    if shape & HAS_SUM != 0 {
                        p.sum = Some(float(&mut state.sum)?);
                    }
                    if shape & NEW_BOUNDS != 0 {
                        let len = ints.index(MAX_BUCKETS)?;
                        let mut bounds = Vec::with_capacity(len);
                        for i in 0..len {
                            let mut prev = state.bounds.get(i).copied().unwrap_or(0.0);
                            bounds.push(float(&mut prev)?);
                        }
                        state.bounds = bounds;
                    }
                    p.explicit_bounds.clone_from(&state.bounds);
                    bucket_lens.push(ints.index(MAX_BUCKETS)?);
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = start;
                    p.exemplars = point_exemplars;
                    list.push(p);
                }
                MetricPoints::ExponentialHistogram(list) => {
                    let mut p = ExponentialHistogramDataPoint::decode(rest_bytes).map_err(bad)?;
                    if shape > (HAS_SUM | HAS_POSITIVE | HAS_NEGATIVE) {
                        return Err(BlockError(format!("unknown exponential shape {shape}")));
                    }
                    let residual = unzigzag(ints.varint()?) as u64;

                    if shape & HAS_SUM != 0 {
                        p.sum = Some(float(&mut state.sum)?);
                    }
                    state.scale = get_delta(&mut ints, state.scale)?;
                    p.scale = i32::try_from(state.scale as i64)
                        .map_err(|_| BlockError("a scale out of range".into()))?;
                    state.zero_count = get_delta(&mut ints, state.zero_count)?;
                    p.zero_count = state.zero_count;
                    for (bit, prev) in [
                        (HAS_POSITIVE, &mut state.positive),
                        (HAS_NEGATIVE, &mut state.negative),
                    ] {
                        if shape & bit == 0 {
                            continue;
                        }
                        let (offset, counts) = get_buckets(&mut ints, prev)?;
                        let buckets = Buckets {
                            offset: i32::try_from(offset as i64)
                                .map_err(|_| BlockError("a bucket offset out of range".into()))?,
                            bucket_counts: counts.clone(),
                        };
                        *prev = (offset, counts);
                        if bit == HAS_POSITIVE {
                            p.positive = Some(buckets);
                        } else {
                            p.negative = Some(buckets);
                        }
                    }
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = start;
                    p.exemplars = point_exemplars;
                    let buckets =
                        |b: &Option<Buckets>| b.as_ref().map_or(0, |b| sum_of(&b.bucket_counts));
                    p.count = residual
                        .wrapping_add(p.zero_count)
                        .wrapping_add(buckets(&p.positive))
                        .wrapping_add(buckets(&p.negative));
                    list.push(p);
                }
                MetricPoints::Summary(list) => {
                    let mut p = SummaryDataPoint::decode(rest_bytes).map_err(bad)?;
                    if shape > NEW_QUANTILES {
                        return Err(BlockError(format!("unknown summary shape {shape}")));
                    }
                    state.count = get_delta(&mut ints, state.count)?;
                    p.count = state.count;
                    p.sum = float(&mut state.sum)?;
                    if shape & NEW_QUANTILES != 0 {
                        let len = ints.index(MAX_BUCKETS)?;
                        let mut quantiles = Vec::with_capacity(len);
                        for i in 0..len {
                            let mut prev = state.quantiles.get(i).copied().unwrap_or(0.0);
                            quantiles.push(float(&mut prev)?);
                        }
                        state.quantiles = quantiles;
                    }
                    let mut values = Vec::with_capacity(state.quantiles.len());
                    for i in 0..state.quantiles.len() {
                        let mut prev = state.values.get(i).copied().unwrap_or(0.0);
                        values.push(float(&mut prev)?);
                    }
                    p.quantile_values = state
                        .quantiles
                        .iter()
                        .zip(&values)
                        .map(|(q, v)| ValueAtQuantile {
                            quantile: *q,
                            value: *v,
                        })
                        .collect();
                    state.values = values;
                    p.time_unix_nano = time;
                    p.start_time_unix_nano = start;
                    if !point_exemplars.is_empty() {
                        return Err(BlockError("a summary point holds exemplars".into()));
                    }
                    list.push(p);
                }
            }
            state.time = time;
            state.start = start;
        }
        if let MetricPoints::Histogram(list) = &mut points {
            let counts = get_bucket_columns(&mut bucket_cursor, &bucket_lens)?;
            for (p, counts) in list.iter_mut().zip(counts) {
                p.count = p.count.wrapping_add(sum_of(&counts));
                p.bucket_counts = counts;
            }
        }
        let ends_at = [
            &times,
            &starts,
            &shapes,
            &ints,
            &bucket_cursor,
            &tags,
            &floats,
            &exemplar_counts,
            &exemplars,
            &ids,
            &rest,
        ]
        .map(|c| c.position());
        for ((end, start), len) in ends_at.iter().zip(starts_at).zip(extent) {
            if end - start != len {
                return Err(BlockError(format!(
                    "a chunk takes {} bytes of a column whose extent says {len}",
                    end - start
                )));
            }
        }
        out.push(DecodedSeries {
            canonical: canonical.to_vec(),
            points: Some(points),
            series: Some(decoded),
        });
    }
    for cursor in [
        &extents,
        &times,
        &starts,
        &shapes,
        &ints,
        &bucket_cursor,
        &tags,
        &floats,
        &exemplar_counts,
        &exemplars,
        &ids,
        &rest,
    ] {
        cursor.finish()?;
    }
    if header.item_count > 0
        && !skipped
        && (min_seen, max_seen) != (header.min_time, header.max_time)
    {
        return Err(BlockError(format!(
            "the points are timed {min_seen}..={max_seen} but the header says {}..={}",
            header.min_time, header.max_time
        )));
    }
    Ok(out)
}

fn read_exemplars(
    counts: &mut Cursor<'_>,
    exemplars: &mut Cursor<'_>,
    ids: &mut Cursor<'_>,
    time: u64,
) -> Result<Vec<Exemplar>, BlockError> {
    let count = counts.index(MAX_BUCKETS)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let flags = exemplars.varint()?;
        if flags > (EXEMPLAR_TRACE | EXEMPLAR_SPAN) {
            return Err(BlockError(format!("unknown exemplar flags {flags}")));
        }
        let delta = unzigzag(exemplars.varint()?) as u64;
        let mut exemplar = Exemplar::decode(exemplars.prefixed()?)
            .map_err(|e| BlockError(format!("an exemplar is damaged: {e}")))?;
        exemplar.time_unix_nano = time.wrapping_add(delta);
        if flags & EXEMPLAR_TRACE != 0 {
            exemplar.trace_id = ids.bytes(16)?.to_vec();
        }
        if flags & EXEMPLAR_SPAN != 0 {
            exemplar.span_id = ids.bytes(8)?.to_vec();
        }
        out.push(exemplar);
    }
    Ok(out)
}

/// Decodes a whole block as resource groups: one per distinct (resource, scope), one metric
/// per series.
pub(crate) fn decode_all(
    header: &BlockHeader,
    payload: &[u8],
) -> Result<Vec<ResourceMetrics>, BlockError> {
    let mut groups: Vec<ResourceMetrics> = Vec::new();
    let mut index: rustc_hash::FxHashMap<Vec<u8>, usize> = Default::default();
    for decoded in decode(header, payload, |_| true)? {
        let series = decoded.series.expect("every series wanted");
        let points = decoded.points.expect("every series wanted");
        if points.is_empty() {
            continue;
        }
        let mut head = series.group_with(series.kind.no_points());
        head.scope_metrics[0].metrics.clear();
        let key = head.encode_to_vec();
        let at = *index.entry(key).or_insert_with(|| {
            groups.push(head);
            groups.len() - 1
        });
        let mut metric = series.metric_with(points);
        set_attributes(&mut metric, &series.attributes);
        groups[at].scope_metrics[0].metrics.push(metric);
    }
    Ok(groups)
}

/// Gives every point of `metric` the series' attributes back.
fn set_attributes(
    metric: &mut opentelemetry_proto::tonic::metrics::v1::Metric,
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match metric.data.as_mut() {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .for_each(|p| p.attributes = attributes.to_vec()),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| p.attributes = attributes.to_vec()),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| p.attributes = attributes.to_vec()),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| p.attributes = attributes.to_vec()),
        Some(Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| p.attributes = attributes.to_vec()),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_is_what_put_varint_writes() {
        for shift in 0..64 {
            for value in [
                1u64 << shift,
                (1u64 << shift) - 1,
                (1u64 << shift) + 1,
                u64::MAX,
            ] {
                let mut bytes = Vec::new();
                put_varint(&mut bytes, value);
                assert_eq!(varint_len(value), bytes.len(), "{value}");
            }
        }
    }
}
