//! The column layer columnar blocks are built from: varints, zigzag, dictionaries, and a payload
//! made of length-prefixed sections, each raw or its own zstd frame, ending in a CRC-32.
//!
//! A columnar codec (spans today, log records next) writes one section per column with
//! [`SectionWriter`] and reads them back in the same order with [`SectionReader`]; a reader can
//! decompress only the sections it needs. This module owns those generic bytes (documented in
//! `docs/format.md`, "Columnar payloads") and knows nothing of OTLP. It never panics on bad
//! input: every read is bounds-checked and becomes a [`BlockError`].

use crate::block::BlockError;

/// Refuse to allocate more than this for one decompressed section, whatever its prefix says.
const MAX_SECTION_BYTES: usize = 1 << 30;

/// Appends `value` as an LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 → 0, 1, 2, 3.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Reads values from one column's bytes, front to back.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Which column this is, for error messages.
    column: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], column: &'static str) -> Cursor<'a> {
        Cursor {
            bytes,
            at: 0,
            column,
        }
    }

    fn short(&self) -> BlockError {
        BlockError(format!(
            "the {} column ends early, at byte {}",
            self.column, self.at
        ))
    }

    #[inline]
    pub fn varint(&mut self) -> Result<u64, BlockError> {
        // Most varints of a column are one byte (small deltas).
        if let Some(&byte) = self.bytes.get(self.at)
            && byte < 0x80
        {
            self.at += 1;
            return Ok(u64::from(byte));
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or_else(|| self.short())?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(BlockError(format!(
            "the {} column holds a varint longer than 10 bytes",
            self.column
        )))
    }

    /// A varint that must fit a `usize` below `limit` (an index or a count).
    pub fn index(&mut self, limit: usize) -> Result<usize, BlockError> {
        let value = self.varint()?;
        usize::try_from(value)
            .ok()
            .filter(|v| *v < limit)
            .ok_or_else(|| {
                BlockError(format!(
                    "the {} column holds {value}, out of range (below {limit})",
                    self.column
                ))
            })
    }

    pub fn bytes(&mut self, len: usize) -> Result<&'a [u8], BlockError> {
        let end = self.at.checked_add(len).ok_or_else(|| self.short())?;
        let slice = self.bytes.get(self.at..end).ok_or_else(|| self.short())?;
        self.at = end;
        Ok(slice)
    }

    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], BlockError> {
        Ok(self.bytes(N)?.try_into().expect("N bytes"))
    }

    /// A varint length, then that many bytes.
    pub fn prefixed(&mut self) -> Result<&'a [u8], BlockError> {
        let len = self.index(self.bytes.len() - self.at + 1)?;
        self.bytes(len)
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.at
    }

    pub fn is_empty(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// Fails unless every byte was read: a column with bytes to spare is damaged.
    pub fn finish(&self) -> Result<(), BlockError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(BlockError(format!(
                "the {} column has {} bytes left over",
                self.column,
                self.bytes.len() - self.at
            )))
        }
    }
}

/// Strings numbered in order of first appearance, so a column stores each as a small index.
#[derive(Default)]
pub(crate) struct Dictionary<'a> {
    ids: rustc_hash::FxHashMap<&'a str, u64>,
    values: Vec<&'a str>,
}

impl<'a> Dictionary<'a> {
    pub fn id(&mut self, value: &'a str) -> u64 {
        *self.ids.entry(value).or_insert_with(|| {
            self.values.push(value);
            self.values.len() as u64 - 1
        })
    }

    /// The dictionary as a column: the count, then each value length-prefixed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, self.values.len() as u64);
        for value in &self.values {
            put_varint(&mut out, value.len() as u64);
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// Reads what [`Dictionary::encode`] wrote.
    pub fn decode(bytes: &[u8], column: &'static str) -> Result<Vec<String>, BlockError> {
        let mut cursor = Cursor::new(bytes, column);
        let count = cursor.index(bytes.len() + 1)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let value = std::str::from_utf8(cursor.prefixed()?)
                .map_err(|_| BlockError(format!("the {column} column holds invalid UTF-8")))?;
            values.push(value.to_string());
        }
        cursor.finish()?;
        Ok(values)
    }
}

/// Builds a columnar payload: sections in a fixed order, then a CRC-32 of everything before it.
pub(crate) struct SectionWriter<'c> {
    out: Vec<u8>,
    compressor: &'c mut zstd::bulk::Compressor<'static>,
}

impl<'c> SectionWriter<'c> {
    pub fn new(compressor: &'c mut zstd::bulk::Compressor<'static>) -> SectionWriter<'c> {
        SectionWriter {
            out: Vec::new(),
            compressor,
        }
    }

    /// A section stored as is: for bytes that do not compress (random ids).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.push(0);
        put_varint(&mut self.out, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    /// A section stored as one zstd frame (its content size recorded in the frame).
    pub fn compressed(&mut self, bytes: &[u8]) -> Result<(), BlockError> {
        let frame = self
            .compressor
            .compress(bytes)
            .map_err(|e| BlockError(format!("zstd could not compress a column: {e}")))?;
        self.out.push(1);
        put_varint(&mut self.out, bytes.len() as u64);
        put_varint(&mut self.out, frame.len() as u64);
        self.out.extend_from_slice(&frame);
        Ok(())
    }

    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}

/// Reads a payload [`SectionWriter`] built, one section at a time, checking the CRC first.
pub(crate) struct SectionReader<'a> {
    cursor: Cursor<'a>,
}

/// One section as stored: either its bytes, or a zstd frame and the size it decompresses to.
pub(crate) enum Section<'a> {
    Raw(&'a [u8]),
    Compressed { frame: &'a [u8], len: usize },
}

impl<'a> Section<'a> {
    /// The section's bytes, decompressed if need be.
    pub fn bytes(&self) -> Result<std::borrow::Cow<'a, [u8]>, BlockError> {
        match *self {
            Section::Raw(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            Section::Compressed { frame, len } => {
                let raw = crate::block::decompress(frame, len)
                    .map_err(|e| BlockError(format!("a compressed column is damaged: {e}")))?;
                if raw.len() != len {
                    return Err(BlockError(format!(
                        "a column decompresses to {} bytes, not the {len} recorded",
                        raw.len()
                    )));
                }
                Ok(std::borrow::Cow::Owned(raw))
            }
        }
    }
}

impl<'a> SectionReader<'a> {
    pub fn new(payload: &'a [u8]) -> Result<SectionReader<'a>, BlockError> {
        let split = payload.len().checked_sub(4).ok_or_else(|| {
            BlockError("the payload is shorter than its 4-byte checksum".to_string())
        })?;
        let (body, crc) = payload.split_at(split);
        let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        if crc32fast::hash(body) != crc {
            return Err(BlockError(
                "the payload's CRC-32 does not match its bytes".to_string(),
            ));
        }
        Ok(SectionReader {
            cursor: Cursor::new(body, "section list"),
        })
    }

    /// The next section, named `column` in errors.
    pub fn next(&mut self, column: &'static str) -> Result<Section<'a>, BlockError> {
        let missing = || BlockError(format!("the payload ends before its {column} column"));
        if self.cursor.is_empty() {
            return Err(missing());
        }
        let kind = self.cursor.bytes(1)?[0];
        match kind {
            0 => Ok(Section::Raw(self.cursor.prefixed()?)),
            1 => {
                let len = self.cursor.index(MAX_SECTION_BYTES)?;
                Ok(Section::Compressed {
                    frame: self.cursor.prefixed()?,
                    len,
                })
            }
            other => Err(BlockError(format!(
                "the {column} column has unknown section kind {other}"
            ))),
        }
    }

    /// Fails if sections are left over.
    pub fn finish(&self) -> Result<(), BlockError> {
        self.cursor.finish()
    }
}

/// The number of the group `head` (a resource with one scope and no items, as a columnar
/// block's groups column holds them) among `groups`, adding it if it is new: groups are
/// numbered by first appearance, equal heads (same protobuf bytes) once.
pub(crate) fn group_id<G: prost::Message>(
    groups: &mut Vec<G>,
    index: &mut rustc_hash::FxHashMap<Vec<u8>, u32>,
    head: G,
) -> u32 {
    let next = groups.len() as u32;
    *index.entry(head.encode_to_vec()).or_insert_with(|| {
        groups.push(head);
        next
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        let values = [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let mut out = Vec::new();
        for v in values {
            put_varint(&mut out, v);
        }
        let mut cursor = Cursor::new(&out, "test");
        for v in values {
            assert_eq!(cursor.varint().unwrap(), v);
        }
        cursor.finish().unwrap();
        for v in [0, -1, 1, i64::MIN, i64::MAX, -300] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert!(Cursor::new(&[0x80], "t").varint().is_err());
        assert!(Cursor::new(&[0xff; 11], "t").varint().is_err());
    }

    #[test]
    fn sections_round_trip_and_damage_is_detected() {
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        let mut writer = SectionWriter::new(&mut zstd);
        writer.raw(b"ids");
        writer.compressed(&[7; 1000]).unwrap();
        let payload = writer.finish();
        let mut reader = SectionReader::new(&payload).unwrap();
        assert_eq!(&*reader.next("a").unwrap().bytes().unwrap(), b"ids");
        assert_eq!(&*reader.next("b").unwrap().bytes().unwrap(), &[7; 1000][..]);
        reader.finish().unwrap();
        assert!(reader.next("c").is_err());
        for at in 0..payload.len() {
            let mut damaged = payload.clone();
            damaged[at] ^= 0x10;
            assert!(SectionReader::new(&damaged).is_err(), "byte {at}");
        }
    }

    #[test]
    fn dictionaries_number_values_by_first_appearance() {
        let mut dict = Dictionary::default();
        assert_eq!(["b", "a", "b", ""].map(|v| dict.id(v)), [0, 1, 0, 2]);
        assert_eq!(
            Dictionary::decode(&dict.encode(), "names").unwrap(),
            ["b", "a", ""]
        );
    }
}
