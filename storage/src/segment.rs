//! Segment files: the append-only files holding block payloads.
//!
//! Each signal has a directory `segments/<signal>/` with one file per hour partition,
//! `<partition_start>.seg`, that is nothing but block payloads back to back. What a payload is
//! and where it lies is only known from its [`IndexEntry`] in redb; a segment file has no header
//! and no framing. This module owns those files: appending and syncing them for the writer,
//! positional reads for readers, crash recovery at open, and their size. It must never write an
//! index entry, and never leave an index entry pointing at bytes that were not synced: the writer
//! syncs the files of a round before it commits their index entries (see `writer.rs`).
//!
//! Invariant: within a partition, payloads are appended in `seq` order, so the partition's last
//! index entry also references its highest bytes. Anything after that is an unacknowledged tail
//! left by a crash between append and commit, and [`recover`] cuts it off.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase};

use crate::block::IndexEntry;
use crate::schema::{self, BlockKey};
use crate::{OpenError, Signal, WriteError};

/// Segment files the writer keeps open between rounds. Writes go to the newest partitions, so a
/// few suffice; past this many, files not touched by the last round are closed.
const MAX_OPEN_SEGMENTS: usize = 16;

/// The writer's side: appends payloads and syncs what it appended. Keeps files open across
/// rounds, keyed by (signal, partition).
pub(crate) struct SegmentWriter {
    data_dir: PathBuf,
    open: HashMap<(Signal, u64), OpenSegment>,
    /// Files appended to since the last [`SegmentWriter::sync`].
    touched: Vec<(Signal, u64)>,
    /// Signal directories that gained a file since the last sync: their entries must be synced
    /// too, or a power loss could forget the file while the index references it.
    new_files_in: Vec<Signal>,
}

struct OpenSegment {
    file: File,
    path: PathBuf,
    /// Where the next payload goes: the file's length when opened, plus what was appended since.
    len: u64,
}

impl SegmentWriter {
    pub fn new(data_dir: PathBuf) -> SegmentWriter {
        SegmentWriter {
            data_dir,
            open: HashMap::new(),
            touched: Vec::new(),
            new_files_in: Vec::new(),
        }
    }

    /// Appends `payload` to the segment file of `signal`'s partition `partition_start`, creating
    /// the file if needed; returns the offset it was written at. Not durable until [`sync`].
    ///
    /// [`sync`]: SegmentWriter::sync
    pub fn append(
        &mut self,
        signal: Signal,
        partition_start: u64,
        payload: &[u8],
    ) -> Result<u64, WriteError> {
        let key = (signal, partition_start);
        if !self.open.contains_key(&key) {
            let segment = self.open_segment(signal, partition_start)?;
            self.open.insert(key, segment);
        }
        let segment = self.open.get_mut(&key).expect("opened above");
        let offset = segment.len;
        segment
            .file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| segment.file.write_all(payload))
            .map_err(|e| write_error("append to", &segment.path, &e))?;
        segment.len += payload.len() as u64;
        if !self.touched.contains(&key) {
            self.touched.push(key);
        }
        Ok(offset)
    }

    fn open_segment(
        &mut self,
        signal: Signal,
        partition_start: u64,
    ) -> Result<OpenSegment, WriteError> {
        let path = schema::segment_dir(&self.data_dir, signal)
            .join(schema::segment_file_name(partition_start));
        let created = OpenOptions::new().write(true).create_new(true).open(&path);
        let file = match created {
            Ok(file) => {
                if !self.new_files_in.contains(&signal) {
                    self.new_files_in.push(signal);
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| write_error("open", &path, &e))?,
            Err(e) => return Err(write_error("create", &path, &e)),
        };
        // Appends start at the current end. Bytes there that no index entry references (a
        // failed round) are harmless: offsets are never reused, so nothing committed moves.
        let len = file
            .metadata()
            .map_err(|e| write_error("inspect", &path, &e))?
            .len();
        Ok(OpenSegment { file, path, len })
    }

    /// Makes everything appended since the last sync durable, including new files' directory
    /// entries. Only after this may index entries referencing those bytes be committed.
    pub fn sync(&mut self) -> Result<(), WriteError> {
        for key in &self.touched {
            let segment = &self.open[key];
            segment
                .file
                .sync_data()
                .map_err(|e| write_error("sync", &segment.path, &e))?;
        }
        for signal in &self.new_files_in {
            let dir = schema::segment_dir(&self.data_dir, *signal);
            sync_dir(&dir).map_err(|e| write_error("sync", &dir, &e))?;
        }
        self.new_files_in.clear();
        Ok(())
    }

    /// Ends a round that committed: closes files beyond the cache size that it did not touch.
    pub fn finish_round(&mut self) {
        if self.open.len() > MAX_OPEN_SEGMENTS {
            let touched = &self.touched;
            self.open.retain(|key, _| touched.contains(key));
        }
        self.touched.clear();
    }

    /// Ends a round that failed: closes every file, so the next round starts from the files'
    /// real lengths whatever state a failed write or sync left them in. The bytes the failed
    /// round appended stay, unreferenced; [`recover`] removes them at the next open if they are
    /// the tail of their file.
    pub fn abandon_round(&mut self) {
        self.open.clear();
        self.touched.clear();
        // `new_files_in` stays: a file created in this round is merely reopened by the next one,
        // which must still sync its directory entry before committing anything in it.
    }
}

fn write_error(action: &str, path: &Path, error: &std::io::Error) -> WriteError {
    WriteError::Storage(format!(
        "could not {action} segment file {}: {error}",
        path.display()
    ))
}

/// Reads payloads of one signal's blocks. Keeps the last file open, because a read walks one
/// partition's blocks after another.
pub(crate) struct SegmentReader {
    dir: PathBuf,
    current: Option<ReadSegment>,
}

struct ReadSegment {
    partition_start: u64,
    file: File,
    /// Length when opened. The index snapshot being read was committed before, so every entry
    /// in it lies within this length unless the file was damaged.
    len: u64,
}

/// Why a payload could not be read.
pub(crate) enum PayloadError {
    /// The segment file is missing or shorter than the index says: the block is lost.
    Missing(String),
    /// Reading failed for another reason (permissions, I/O error).
    Io(String),
}

impl SegmentReader {
    pub fn new(data_dir: &Path, signal: Signal) -> SegmentReader {
        SegmentReader {
            dir: schema::segment_dir(data_dir, signal),
            current: None,
        }
    }

    /// The payload `entry` references in partition `partition_start`'s segment file.
    pub fn read(
        &mut self,
        partition_start: u64,
        entry: &IndexEntry,
    ) -> Result<Vec<u8>, PayloadError> {
        let path = self.dir.join(schema::segment_file_name(partition_start));
        let io = |e: std::io::Error| {
            PayloadError::Io(format!(
                "could not read segment file {}: {e}",
                path.display()
            ))
        };
        if self
            .current
            .as_ref()
            .is_none_or(|c| c.partition_start != partition_start)
        {
            self.current = None;
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(PayloadError::Missing(format!(
                        "its segment file {} is missing",
                        path.display()
                    )));
                }
                Err(e) => return Err(io(e)),
            };
            let len = file.metadata().map_err(io)?.len();
            self.current = Some(ReadSegment {
                partition_start,
                file,
                len,
            });
        }
        let segment = self.current.as_mut().expect("opened above");
        // Checked before allocating, so a damaged length cannot ask for gigabytes.
        if entry.end() > segment.len {
            return Err(PayloadError::Missing(format!(
                "the index places it at bytes {}..{} of segment file {}, which is only {} bytes long",
                entry.offset,
                entry.end(),
                path.display(),
                segment.len
            )));
        }
        let mut payload = vec![0; entry.len as usize];
        segment
            .file
            .seek(SeekFrom::Start(entry.offset))
            .and_then(|_| segment.file.read_exact(&mut payload))
            .map_err(io)?;
        Ok(payload)
    }
}

/// Creates the segment directories if needed and makes the segment files agree with the
/// committed index, before the writer starts: cuts off every file's tail past the end of the
/// last block its partition's index references (bytes appended by a round whose commit never
/// happened), and removes files of partitions the index has no entry for. Entries pointing past
/// the end of their file are left for reads to report; a damaged last entry cannot make the cut
/// reach the block before it.
pub(crate) fn recover(data_dir: &Path, db: &Database) -> Result<(), OpenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Io { path, source }
    };
    let database = |e: &dyn std::fmt::Display| OpenError::Database {
        path: data_dir.join(schema::DATABASE_FILE),
        reason: e.to_string(),
    };
    let segments = data_dir.join(schema::SEGMENTS_DIR);
    let txn = db.begin_read().map_err(|e| database(&e))?;
    for signal in Signal::ALL {
        let dir = schema::segment_dir(data_dir, signal);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            sync_dir(&segments).map_err(io(&segments))?;
            sync_dir(data_dir).map_err(io(data_dir))?;
        }
        let table = txn
            .open_table(schema::block_table(signal))
            .map_err(|e| database(&e))?;
        let mut removed_any = false;
        for dir_entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let dir_entry = dir_entry.map_err(io(&dir))?;
            let path = dir_entry.path();
            let name = dir_entry.file_name();
            let Some(partition_start) = name.to_str().and_then(schema::segment_partition) else {
                tracing::warn!(path = %path.display(), "ignoring a file otelite did not write");
                continue;
            };
            let first = BlockKey::first_in(partition_start).encode();
            let last = BlockKey::last_in(partition_start).encode();
            let mut newest = table
                .range::<&[u8; BlockKey::LEN]>(&first..=&last)
                .map_err(|e| database(&e))?
                .rev();
            let last_entry = newest.next().transpose().map_err(|e| database(&e))?;
            let Some((_, value)) = last_entry else {
                tracing::info!(path = %path.display(), "removing a segment file the index does not reference");
                std::fs::remove_file(&path).map_err(io(&path))?;
                removed_any = true;
                continue;
            };
            let last_end = match IndexEntry::parse(value.value()) {
                Ok(entry) => entry.end(),
                Err(e) => {
                    // Without the last entry the end is unknown; keep every byte.
                    tracing::warn!(path = %path.display(), reason = e.0, "the last index entry of this segment is damaged; not trimming it");
                    continue;
                }
            };
            // Payloads are appended in seq order, so no intact entry ends past the later of the
            // last two ends. Both are consulted so that one damaged last entry claiming an
            // earlier end cannot make the cut destroy blocks whose entries are intact.
            let previous = newest.next().transpose().map_err(|e| database(&e))?;
            let previous_end = previous
                .and_then(|(_, value)| IndexEntry::parse(value.value()).ok())
                .map_or(0, |entry| entry.end());
            let end = last_end.max(previous_end);
            let len = dir_entry.metadata().map_err(io(&path))?.len();
            if len > end {
                tracing::info!(path = %path.display(), from = len, to = end, "cutting off an unacknowledged segment tail");
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                file.set_len(end).map_err(io(&path))?;
                file.sync_all().map_err(io(&path))?;
            } else if len < end {
                tracing::warn!(path = %path.display(), len, end, "the index references bytes past the end of this segment file; reads of those blocks will fail");
            }
        }
        if removed_any {
            sync_dir(&dir).map_err(io(&dir))?;
        }
    }
    Ok(())
}

/// Total size of all segment files.
pub(crate) fn disk_bytes(data_dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for signal in Signal::ALL {
        let dir = schema::segment_dir(data_dir, signal);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let metadata = entry?.metadata()?;
            if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

/// Makes `dir`'s entries (files created or removed in it) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Other systems either cannot open a directory as a file or make entries durable themselves.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
