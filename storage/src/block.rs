//! The block codec: how a list of OTLP resource groups becomes one block, and back.
//!
//! A block is a fixed 32-byte [`BlockHeader`] (codec, time bounds, item count, payload length)
//! and a payload. The header lives in the block's 44-byte [`IndexEntry`] in redb, together with
//! where the payload lies in its segment file; the payload lives in the segment file. Codec 1,
//! the only one so far, is a zstd frame (with content checksum) of the protobuf encoding of the
//! OTLP `*Data` envelope holding the groups, so every OTLP field survives and each resource and
//! scope is stored once per group rather than once per item. The header can be read without
//! touching the payload, so readers skip blocks outside a time range. This module owns those
//! bytes (documented in `docs/format.md`) and must never touch the database or files, choose
//! partitions or block keys, or panic on bad input: corrupt bytes become a [`BlockError`].

use prost::Message;

use crate::TimeRange;
use crate::signal::SignalGroup;

/// Codec byte of blocks whose payload is zstd(protobuf `*Data` envelope).
pub(crate) const CODEC_ZSTD_PROTOBUF: u8 = 1;

/// Every codec byte this build reads: codec 2 is `span_block`'s columnar spans, codec 3
/// `log_block`'s columnar log records, codec 4 `metric_block`'s per-series metric chunks.
const KNOWN_CODECS: [u8; 4] = [
    CODEC_ZSTD_PROTOBUF,
    crate::span_block::CODEC_SPAN_COLUMNS,
    crate::log_block::CODEC_LOG_COLUMNS,
    crate::metric_block::CODEC_METRIC_CHUNKS,
];

/// zstd level: 3 is zstd's default and a good speed/ratio balance for protobuf telemetry.
const ZSTD_LEVEL: i32 = 3;

/// A block is closed once its uncompressed payload reaches this size, so a read decodes a
/// bounded amount per block while blocks stay large enough to compress well.
pub(crate) const TARGET_BLOCK_BYTES: usize = 4 << 20;

/// Refuse to allocate more than this for one block's payload, whatever a (corrupt) header says.
const MAX_UNCOMPRESSED_BYTES: u32 = 1 << 30;

/// What a reader needs to know about a block before decompressing it. Stored as the first 32 bytes
/// of the block's [`IndexEntry`]. All integers little-endian:
///
/// | offset | size | field                                      |
/// |--------|------|--------------------------------------------|
/// | 0      | 1    | codec ([`CODEC_ZSTD_PROTOBUF`])             |
/// | 1      | 3    | reserved, zero                             |
/// | 4      | 4    | uncompressed payload length (u32)          |
/// | 8      | 8    | min item time, unix ns (u64)               |
/// | 16     | 8    | max item time, unix ns (u64)               |
/// | 24     | 8    | item count (u64)                           |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub codec: u8,
    pub uncompressed_len: u32,
    pub min_time: u64,
    pub max_time: u64,
    pub item_count: u64,
}

impl BlockHeader {
    pub const LEN: usize = 32;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut bytes = [0; Self::LEN];
        bytes[0] = self.codec;
        bytes[4..8].copy_from_slice(&self.uncompressed_len.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.min_time.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.max_time.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.item_count.to_le_bytes());
        bytes
    }

    /// Reads a header from the first [`BlockHeader::LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<BlockHeader, BlockError> {
        let Some(bytes) = bytes.get(..Self::LEN) else {
            return Err(BlockError(format!(
                "the block header is {} bytes long, shorter than {}",
                bytes.len(),
                Self::LEN
            )));
        };
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let header = BlockHeader {
            codec: bytes[0],
            uncompressed_len: u32_at(4),
            min_time: u64_at(8),
            max_time: u64_at(16),
            item_count: u64_at(24),
        };
        // Bytes 1..4 belong to the index entry (the payload's file), not to the header.
        if !KNOWN_CODECS.contains(&header.codec) {
            return Err(BlockError(format!(
                "unknown block codec {} (this build knows codecs {KNOWN_CODECS:?})",
                header.codec
            )));
        }
        if header.min_time > header.max_time {
            return Err(BlockError(format!(
                "block header says its items span {}..{}, which is backwards",
                header.min_time, header.max_time
            )));
        }
        if header.uncompressed_len > MAX_UNCOMPRESSED_BYTES {
            return Err(BlockError(format!(
                "block header claims a {} byte payload, above the {MAX_UNCOMPRESSED_BYTES} byte limit",
                header.uncompressed_len
            )));
        }
        Ok(header)
    }

    /// Whether any item of this block may lie in `range`.
    pub fn overlaps(&self, range: TimeRange) -> bool {
        self.min_time < range.end && self.max_time >= range.start
    }

    /// Whether every item of this block lies in `range`.
    pub fn within(&self, range: TimeRange) -> bool {
        self.min_time >= range.start && self.max_time < range.end
    }
}

/// One block's entry in its signal's block table (the index): the header, then where the
/// compressed payload lies in the segment file of the block's partition. 44 bytes, all integers
/// little-endian:
///
/// | offset | size | field                                                 |
/// |--------|------|-------------------------------------------------------|
/// | 0      | 32   | [`BlockHeader`], whose bytes 1..4 hold the file number |
/// | 1      | 3    | number of the partition's segment file (u24)          |
/// | 32     | 8    | byte offset of the payload in the segment file (u64)  |
/// | 40     | 4    | payload length in bytes (u32)                         |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub header: BlockHeader,
    /// Which of its partition's segment files holds the payload (`schema::segment_file_name`).
    pub file: u32,
    pub offset: u64,
    pub len: u32,
}

impl IndexEntry {
    pub const LEN: usize = BlockHeader::LEN + 12;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut bytes = [0; Self::LEN];
        bytes[..BlockHeader::LEN].copy_from_slice(&self.header.encode());
        bytes[1..4].copy_from_slice(&self.file.to_le_bytes()[..3]);
        bytes[32..40].copy_from_slice(&self.offset.to_le_bytes());
        bytes[40..44].copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    pub fn parse(bytes: &[u8]) -> Result<IndexEntry, BlockError> {
        if bytes.len() != Self::LEN {
            return Err(BlockError(format!(
                "the index entry is {} bytes long instead of {}",
                bytes.len(),
                Self::LEN
            )));
        }
        let header = BlockHeader::parse(bytes)?;
        let file = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], 0]);
        let offset = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes"));
        if offset.checked_add(u64::from(len)).is_none() {
            return Err(BlockError(format!(
                "the index entry places {len} bytes at offset {offset}, beyond any file"
            )));
        }
        Ok(IndexEntry {
            header,
            file,
            offset,
            len,
        })
    }

    /// The offset just past the payload in the segment file.
    pub fn end(&self) -> u64 {
        // `parse` refuses entries where this overflows; writers never produce them.
        self.offset.saturating_add(u64::from(self.len))
    }
}

/// A block's bytes could not be decoded. The message says what is wrong with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockError(pub String);

/// One encoded block, ready to be stored: the header goes to the index, the payload (one zstd
/// frame) to a segment file.
#[derive(Debug)]
pub(crate) struct EncodedBlock {
    pub header: BlockHeader,
    pub payload: Vec<u8>,
    /// What the block's index entries beside the block table need (trace ids, operations).
    pub keys: IndexKeys,
}

/// What a block contributes to the indexes beside the block table, gathered while its
/// fragments are built (on the submitters' threads): for spans, the hashes of their trace ids
/// (for the block's trace-id filter) and their (service, name, kind) operations.
#[derive(Debug, Default)]
pub(crate) struct IndexKeys {
    pub trace_hashes: Vec<u64>,
    /// Keyed by `trace_index::operation_hash`, so a span's operation is checked without
    /// allocating.
    pub operations: std::collections::HashMap<u64, (String, String, i32)>,
}

impl IndexKeys {
    fn merge(&mut self, other: &IndexKeys) {
        self.trace_hashes.extend_from_slice(&other.trace_hashes);
        for (hash, op) in &other.operations {
            self.operations.entry(*hash).or_insert_with(|| op.clone());
        }
    }
}

/// Whole groups already encoded as entries of the signal's `*Data` envelope (field 1 each), with
/// their items' time bounds: what a block payload is assembled from. Concatenating fragments
/// concatenates envelope entries, so any sequence of fragments is a valid payload. Submitters
/// build them on their own threads, so the writer thread only concatenates and compresses.
#[derive(Debug, Default)]
pub(crate) struct Fragment {
    pub bytes: Vec<u8>,
    pub bounds: TimeBounds,
    pub keys: IndexKeys,
}

impl Fragment {
    /// Appends `group` as one envelope entry.
    pub fn push<G: SignalGroup>(&mut self, group: &G) {
        // Field 1 of the `*Data` envelope is the repeated list of groups, so appending each
        // group as field 1 builds exactly the envelope's encoding without owning the groups.
        prost::encoding::message::encode(1, group, &mut self.bytes);
        group.for_each_item_time(|time| self.bounds.add(time));
        group.index_keys(&mut self.keys);
    }
}

/// Turns fragments into blocks. Holds a zstd context and a scratch buffer so that encoding many
/// blocks allocates little; keep one per writer thread.
pub(crate) struct BlockEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
}

impl BlockEncoder {
    pub fn new() -> std::io::Result<BlockEncoder> {
        let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        Ok(BlockEncoder {
            compressor,
            scratch: Vec::new(),
        })
    }

    /// Encodes `groups`, in order, into as few blocks as [`TARGET_BLOCK_BYTES`] allows (a group
    /// is never split across blocks), handing each finished block to `emit`.
    pub fn encode_blocks<G: SignalGroup>(
        &mut self,
        groups: &[G],
        emit: impl FnMut(EncodedBlock),
    ) -> Result<(), BlockError> {
        let fragments: Vec<Fragment> = groups
            .iter()
            .map(|group| {
                let mut fragment = Fragment::default();
                fragment.push(group);
                fragment
            })
            .collect();
        self.encode_fragments(&fragments, emit)
    }

    /// Concatenates `fragments`, in order, into blocks, closing a block once its payload reaches
    /// [`TARGET_BLOCK_BYTES`] (a fragment is never split), handing each block to `emit`.
    pub fn encode_fragments<'a>(
        &mut self,
        fragments: impl IntoIterator<Item = &'a Fragment>,
        mut emit: impl FnMut(EncodedBlock),
    ) -> Result<(), BlockError> {
        let mut bounds = TimeBounds::default();
        let mut keys = IndexKeys::default();
        self.scratch.clear();
        for fragment in fragments {
            self.scratch.extend_from_slice(&fragment.bytes);
            bounds.merge(&fragment.bounds);
            keys.merge(&fragment.keys);
            if self.scratch.len() >= TARGET_BLOCK_BYTES {
                emit(self.finish_block(&bounds, std::mem::take(&mut keys))?);
                bounds = TimeBounds::default();
                self.scratch.clear();
            }
        }
        if bounds.items > 0 {
            emit(self.finish_block(&bounds, keys)?);
        }
        Ok(())
    }

    fn finish_block(
        &mut self,
        bounds: &TimeBounds,
        keys: IndexKeys,
    ) -> Result<EncodedBlock, BlockError> {
        let uncompressed_len = u32::try_from(self.scratch.len())
            .ok()
            .filter(|len| *len <= MAX_UNCOMPRESSED_BYTES)
            .ok_or_else(|| {
                BlockError(format!(
                    "one resource group encodes to {} bytes, above the {MAX_UNCOMPRESSED_BYTES} byte block limit",
                    self.scratch.len()
                ))
            })?;
        let header = BlockHeader {
            codec: CODEC_ZSTD_PROTOBUF,
            uncompressed_len,
            min_time: bounds.min,
            max_time: bounds.max,
            item_count: bounds.items,
        };
        let payload = self
            .compressor
            .compress(&self.scratch)
            .map_err(|e| BlockError(format!("zstd could not compress a block: {e}")))?;
        Ok(EncodedBlock {
            header,
            payload,
            keys,
        })
    }
}

/// Decompresses one zstd frame of at most `capacity` bytes with this thread's decompression
/// context: creating one per frame (a block, or each column of a columnar block) was a
/// measurable share of compaction and queries.
pub(crate) fn decompress(frame: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with_borrow_mut(|context| {
        let context = match context {
            Some(context) => context,
            None => context.insert(zstd::bulk::Decompressor::new()?),
        };
        context.decompress(frame, capacity)
    })
}

/// Decodes a block's payload into its groups, checking them against the block's header.
pub(crate) fn decode_block<G: SignalGroup>(
    header: &BlockHeader,
    payload: &[u8],
) -> Result<Vec<G>, BlockError> {
    if header.codec != CODEC_ZSTD_PROTOBUF {
        return G::decode_columnar(header, payload);
    }
    let capacity = header.uncompressed_len as usize;
    let raw = decompress(payload, capacity)
        .map_err(|e| BlockError(format!("the compressed payload is damaged: {e}")))?;
    if raw.len() != capacity {
        return Err(BlockError(format!(
            "the payload decompresses to {} bytes but the header promises {capacity}",
            raw.len()
        )));
    }
    let envelope = G::Envelope::decode(raw.as_slice())
        .map_err(|e| BlockError(format!("the payload is not valid OTLP protobuf: {e}")))?;
    let groups = G::from_envelope(envelope);
    // The header drives which blocks a read skips, so a header that disagrees with its payload
    // would silently hide data: check it against what the payload really holds.
    let mut bounds = TimeBounds::default();
    for group in &groups {
        group.for_each_item_time(|time| bounds.add(time));
    }
    if bounds.items != header.item_count
        || (bounds.items > 0 && (bounds.min, bounds.max) != (header.min_time, header.max_time))
    {
        return Err(BlockError(format!(
            "the payload holds {} items timed {}..={} but the header promises {} items timed {}..={}",
            bounds.items,
            bounds.min,
            bounds.max,
            header.item_count,
            header.min_time,
            header.max_time
        )));
    }
    Ok(groups)
}

/// Running min/max/count of item times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeBounds {
    min: u64,
    max: u64,
    items: u64,
}

impl Default for TimeBounds {
    fn default() -> Self {
        TimeBounds {
            min: u64::MAX,
            max: 0,
            items: 0,
        }
    }
}

impl TimeBounds {
    fn add(&mut self, time: u64) {
        self.min = self.min.min(time);
        self.max = self.max.max(time);
        self.items += 1;
    }

    fn merge(&mut self, other: &TimeBounds) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.items += other.items;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{rich_logs, rich_metrics, rich_spans};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};

    fn encode_one<G: SignalGroup>(groups: &[G]) -> EncodedBlock {
        let mut encoder = BlockEncoder::new().unwrap();
        let mut blocks = Vec::new();
        encoder.encode_blocks(groups, |b| blocks.push(b)).unwrap();
        assert_eq!(blocks.len(), 1);
        blocks.pop().unwrap()
    }

    fn round_trip<G: SignalGroup + PartialEq + std::fmt::Debug>(groups: Vec<G>) {
        let block = encode_one(&groups);
        let entry = IndexEntry {
            file: 0,
            header: block.header,
            offset: 1 << 40,
            len: block.payload.len() as u32,
        };
        let parsed = IndexEntry::parse(&entry.encode()).unwrap();
        assert_eq!(parsed, entry);
        assert_eq!(parsed.end(), (1 << 40) + block.payload.len() as u64);
        let decoded = decode_block::<G>(&parsed.header, &block.payload).unwrap();
        assert_eq!(decoded, groups);
    }

    #[test]
    fn every_signal_round_trips_through_a_block() {
        round_trip(rich_spans(1_000));
        round_trip(rich_metrics(1_000));
        round_trip(rich_logs(1_000));
    }

    #[test]
    fn payload_is_the_otlp_envelope() {
        let groups = rich_spans(5);
        let block = encode_one(&groups);
        let raw = zstd::bulk::decompress(&block.payload, 1 << 20).unwrap();
        let envelope = TracesData {
            resource_spans: groups,
        };
        assert_eq!(raw, envelope.encode_to_vec());
    }

    #[test]
    fn header_records_time_bounds_and_count() {
        let groups = rich_spans(1_000);
        let header = encode_one(&groups).header;
        let mut times = Vec::new();
        for g in &groups {
            g.for_each_item_time(|t| times.push(t));
        }
        assert_eq!(header.item_count, times.len() as u64);
        assert_eq!(header.min_time, *times.iter().min().unwrap());
        assert_eq!(header.max_time, *times.iter().max().unwrap());
    }

    #[test]
    fn large_inputs_are_cut_into_bounded_blocks() {
        let group = rich_spans(0).remove(0);
        let groups = vec![group.clone(); 3 * TARGET_BLOCK_BYTES / group.encoded_len()];
        let mut encoder = BlockEncoder::new().unwrap();
        let mut decoded = Vec::new();
        let mut blocks = 0;
        encoder
            .encode_blocks(&groups, |b| {
                blocks += 1;
                assert!(
                    b.header.uncompressed_len as usize
                        <= TARGET_BLOCK_BYTES + group.encoded_len() + 8
                );
                decoded.extend(decode_block::<ResourceSpans>(&b.header, &b.payload).unwrap());
            })
            .unwrap();
        assert!(blocks > 1, "{blocks} blocks");
        assert_eq!(decoded, groups);
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        type Logs = opentelemetry_proto::tonic::logs::v1::ResourceLogs;
        let block = encode_one(&rich_logs(0));
        let entry = IndexEntry {
            file: 0,
            header: block.header,
            offset: 0,
            len: block.payload.len() as u32,
        }
        .encode();
        let decode = |entry: &[u8], payload: &[u8]| {
            IndexEntry::parse(entry).and_then(|e| decode_block::<Logs>(&e.header, payload))
        };
        assert!(decode(&entry, &block.payload).is_ok());

        let mut entries: Vec<Vec<u8>> = vec![
            Vec::new(),
            entry[..BlockHeader::LEN].to_vec(),
            entry[..IndexEntry::LEN - 1].to_vec(),
            [&entry[..], &[0]].concat(),
        ];
        // (Bytes 1..4 are the file number: any value parses, and a wrong one is a missing file.)
        for at in [0, 4, 8, 16, 24] {
            let mut damaged = entry.to_vec();
            damaged[at] ^= 0x5a;
            entries.push(damaged);
        }
        let mut overflowing = entry.to_vec();
        overflowing[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        entries.push(overflowing);
        for damaged in entries {
            assert!(decode(&damaged, &block.payload).is_err(), "{damaged:?}");
        }

        let payload = &block.payload;
        let mut payloads: Vec<Vec<u8>> = vec![
            Vec::new(),
            payload[..payload.len() - 1].to_vec(),
            [&payload[..], &[0]].concat(),
        ];
        for at in [0, 3, payload.len() / 2, payload.len() - 2] {
            let mut damaged = payload.clone();
            damaged[at] ^= 0x5a;
            payloads.push(damaged);
        }
        for damaged in payloads {
            assert!(decode(&entry, &damaged).is_err());
        }
    }

    mod properties {
        //! The block decoders against arbitrary and damaged bytes: an error, never a panic, and
        //! never data other than what was encoded.

        use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
        use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
        use proptest::prelude::*;

        use super::*;
        use crate::test_fixtures::{SECOND, proptest_config};

        /// The rich fixture of signal `signal % 3` at `base`.
        enum Groups {
            Spans(Vec<ResourceSpans>),
            Metrics(Vec<ResourceMetrics>),
            Logs(Vec<ResourceLogs>),
        }

        fn groups(signal: u8, base: u64) -> Groups {
            match signal % 3 {
                0 => Groups::Spans(rich_spans(base)),
                1 => Groups::Metrics(rich_metrics(base)),
                _ => Groups::Logs(rich_logs(base)),
            }
        }

        /// `groups` as one block: its index entry's bytes and its payload.
        fn encode(groups: &Groups) -> (Vec<u8>, Vec<u8>) {
            let block = match groups {
                Groups::Spans(g) => encode_one(g),
                Groups::Metrics(g) => encode_one(g),
                Groups::Logs(g) => encode_one(g),
            };
            let entry = IndexEntry {
                file: 0,
                header: block.header,
                offset: 0,
                len: block.payload.len() as u32,
            };
            (entry.encode().to_vec(), block.payload)
        }

        /// Parses `entry` and decodes `payload` as `groups`' signal; `Ok(true)` when that gives
        /// back exactly `groups`.
        fn decode(groups: &Groups, entry: &[u8], payload: &[u8]) -> Result<bool, BlockError> {
            let header = IndexEntry::parse(entry)?.header;
            Ok(match groups {
                Groups::Spans(g) => decode_block::<ResourceSpans>(&header, payload)? == *g,
                Groups::Metrics(g) => decode_block::<ResourceMetrics>(&header, payload)? == *g,
                Groups::Logs(g) => decode_block::<ResourceLogs>(&header, payload)? == *g,
            })
        }

        /// Base times anywhere a `u64` allows, the rich fixtures' few seconds included.
        fn base() -> impl Strategy<Value = u64> {
            prop_oneof![
                Just(0),
                0..u64::MAX - 10 * SECOND,
                Just(u64::MAX - 10 * SECOND)
            ]
        }

        /// One change to a byte string: a byte flipped, the end cut off, or bytes inserted.
        #[derive(Debug, Clone)]
        enum Damage {
            Flip { at: usize, xor: u8 },
            Cut { at: usize },
            Insert { at: usize, bytes: Vec<u8> },
        }

        fn damage() -> impl Strategy<Value = Damage> {
            prop_oneof![
                3 => (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Damage::Flip { at, xor }),
                1 => any::<usize>().prop_map(|at| Damage::Cut { at }),
                1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
                    .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
            ]
        }

        fn apply(damage: &Damage, bytes: &mut Vec<u8>) {
            let len = bytes.len();
            match damage {
                Damage::Flip { at, xor } => bytes[at % len] ^= xor,
                Damage::Cut { at } => bytes.truncate(at % len),
                Damage::Insert { at, bytes: new } => {
                    let at = at % (len + 1);
                    bytes.splice(at..at, new.iter().copied());
                }
            }
        }

        proptest! {
            #![proptest_config(proptest_config(256))]

            #[test]
            fn blocks_round_trip_at_any_time(signal in any::<u8>(), base in base()) {
                let groups = groups(signal, base);
                let (entry, payload) = encode(&groups);
                prop_assert_eq!(decode(&groups, &entry, &payload), Ok(true));
            }

            #[test]
            fn one_damage_is_an_error_or_changes_nothing(
                signal in any::<u8>(),
                base in base(),
                in_entry in any::<bool>(),
                damage in damage(),
            ) {
                let groups = groups(signal, base);
                let (mut entry, mut payload) = encode(&groups);
                apply(&damage, if in_entry { &mut entry } else { &mut payload });
                // The zstd checksum guards the payload, the check against the payload guards
                // the header; only the entry's offset and length are not the codec's to check.
                let result = decode(&groups, &entry, &payload);
                prop_assert!(result != Ok(false), "damaged block decoded to other data");
            }

            #[test]
            fn many_damages_never_panic(
                signal in any::<u8>(),
                base in base(),
                damages in prop::collection::vec((any::<bool>(), damage()), 1..8),
            ) {
                let groups = groups(signal, base);
                let (mut entry, mut payload) = encode(&groups);
                for (in_entry, damage) in &damages {
                    let bytes = if *in_entry { &mut entry } else { &mut payload };
                    if !bytes.is_empty() {
                        apply(damage, bytes);
                    }
                }
                let _ = decode(&groups, &entry, &payload);
            }

            #[test]
            fn arbitrary_entries_and_payloads_never_panic(
                signal in any::<u8>(),
                entry in prop::collection::vec(any::<u8>(), 0..64),
                payload in prop::collection::vec(any::<u8>(), 0..1024),
            ) {
                let _ = decode(&groups(signal, 0), &entry, &payload);
            }

            /// Past the checksum: a well-formed zstd frame of arbitrary bytes under a plausible
            /// header reaches the protobuf decoder and the header check.
            #[test]
            fn arbitrary_frames_under_plausible_headers_never_panic(
                signal in any::<u8>(),
                raw in prop::collection::vec(any::<u8>(), 0..2048),
                claimed_len in prop_oneof![Just(None), any::<u32>().prop_map(Some)],
                times in (any::<u64>(), any::<u64>()),
                item_count in prop_oneof![0..64u64, any::<u64>()],
            ) {
                let header = BlockHeader {
                    codec: CODEC_ZSTD_PROTOBUF,
                    uncompressed_len: claimed_len
                        .unwrap_or(raw.len() as u32)
                        .min(MAX_UNCOMPRESSED_BYTES),
                    min_time: times.0.min(times.1),
                    max_time: times.0.max(times.1),
                    item_count,
                };
                let payload = zstd::bulk::compress(&raw, 1).unwrap();
                let entry = IndexEntry { header, file: 0, offset: 0, len: payload.len() as u32 };
                let _ = decode(&groups(signal, 0), &entry.encode(), &payload);
            }
        }
    }
}
