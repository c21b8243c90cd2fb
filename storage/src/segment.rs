//! Segment files: the append-only files holding block payloads.
//!
//! Each signal has a directory `segments/<signal>/` with numbered files per hour partition,
//! `<partition_start>.seg` (file 0) and `<partition_start>.<n>.seg`, that are nothing but block
//! payloads back to back. The writer appends to one file per partition at a time (its "row
//! file"); the compactor writes whole files at once and, once their blocks' entries are gone,
//! removes the files it compacted. What a payload is
//! and where it lies is only known from its [`IndexEntry`] in redb; a segment file has no header
//! and no framing. This module owns those files: appending and syncing them for the writer,
//! positional reads for readers, crash recovery at open, and their size. It must never write an
//! index entry, and never leave an index entry pointing at bytes that were not synced: the writer
//! syncs the files of a round before it commits their index entries (see `writer.rs`).
//!
//! Invariant: an acknowledged payload lies below the end of the furthest-reaching index entry of
//! its file; anything after that is an unacknowledged tail left by a crash between append and
//! commit, and [`recover`] cuts it off.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use redb::{Database, ReadableDatabase};

use crate::block::IndexEntry;
use crate::faults::{Faults, Step};
use crate::schema::{self, BlockKey};
use crate::{OpenError, Signal, WriteError};

/// Segment files the writer keeps open at most, within a round and between rounds. Writes go to
/// the newest partitions, so a few suffice; a round touching more partitions (a replay of old
/// data, or one batch spread over many hours) syncs and closes the least recently used file
/// before opening another, so no number of partitions can exhaust the open-file limit.
pub(crate) const MAX_OPEN_SEGMENTS: usize = 16;

/// The writer's side: appends payloads and syncs what it appended. Keeps up to
/// [`MAX_OPEN_SEGMENTS`] files open across rounds, keyed by (signal, partition, file).
pub(crate) struct SegmentWriter {
    data_dir: PathBuf,
    open: HashMap<(Signal, u64, u32), OpenSegment>,
    /// Signal directories that gained a file since the last sync: their entries must be synced
    /// too, or a power loss could forget the file while the index references it.
    new_files_in: Vec<Signal>,
    /// Counts appends, to find the least recently used open file.
    clock: u64,
    faults: Faults,
}

struct OpenSegment {
    file: File,
    path: PathBuf,
    /// Where the next payload goes: the file's length when opened, plus what was appended since.
    len: u64,
    /// Appended to since the last sync.
    unsynced: bool,
    /// The writer's clock at the last append.
    last_used: u64,
}

impl SegmentWriter {
    pub fn new(data_dir: PathBuf, faults: Faults) -> SegmentWriter {
        SegmentWriter {
            data_dir,
            open: HashMap::new(),
            new_files_in: Vec::new(),
            clock: 0,
            faults,
        }
    }

    /// Appends `payload` to segment file `file` of `signal`'s partition `partition_start`,
    /// creating the file if needed; returns the offset it was written at. Not durable until
    /// [`sync`].
    ///
    /// [`sync`]: SegmentWriter::sync
    pub fn append(
        &mut self,
        signal: Signal,
        partition_start: u64,
        file: u32,
        payload: &[u8],
    ) -> Result<u64, WriteError> {
        let key = (signal, partition_start, file);
        if !self.open.contains_key(&key) {
            self.close_least_recently_used()?;
            let segment = self.open_segment(signal, partition_start, file)?;
            self.open.insert(key, segment);
        }
        self.clock += 1;
        let segment = self.open.get_mut(&key).expect("opened above");
        let offset = segment.len;
        self.faults
            .check(Step::Append, Some(partition_start))
            .and_then(|()| segment.file.seek(SeekFrom::Start(offset)))
            .and_then(|_| segment.file.write_all(payload))
            .map_err(|e| WriteError::io("append to segment file", &segment.path, e))?;
        segment.len += payload.len() as u64;
        segment.unsynced = true;
        segment.last_used = self.clock;
        Ok(offset)
    }

    /// Makes room for one more open file: while [`MAX_OPEN_SEGMENTS`] are open, syncs (if it has
    /// unsynced appends) and closes the one appended to longest ago. Syncing early is harmless:
    /// the round's index entries are still committed only after [`SegmentWriter::sync`].
    fn close_least_recently_used(&mut self) -> Result<(), WriteError> {
        while self.open.len() >= MAX_OPEN_SEGMENTS {
            let (&key, segment) = self
                .open
                .iter()
                .min_by_key(|(_, segment)| segment.last_used)
                .expect("the map is not empty");
            if segment.unsynced {
                sync_segment(&self.faults, key.1, segment)?;
            }
            self.open.remove(&key);
        }
        Ok(())
    }

    /// Closes (after syncing) every open file `keep` says no to: the writer drops the files
    /// it no longer appends to, so removing them really frees their space.
    pub fn close_unless(
        &mut self,
        keep: impl Fn(Signal, u64, u32) -> bool,
    ) -> Result<(), WriteError> {
        let closing: Vec<_> = self
            .open
            .keys()
            .filter(|(signal, partition, file)| !keep(*signal, *partition, *file))
            .copied()
            .collect();
        for key in closing {
            let segment = &self.open[&key];
            if segment.unsynced {
                sync_segment(&self.faults, key.1, segment)?;
            }
            self.open.remove(&key);
        }
        Ok(())
    }

    fn open_segment(
        &mut self,
        signal: Signal,
        partition_start: u64,
        file: u32,
    ) -> Result<OpenSegment, WriteError> {
        let path = schema::segment_dir(&self.data_dir, signal)
            .join(schema::segment_file_name(partition_start, file));
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
                .map_err(|e| WriteError::io("open segment file", &path, e))?,
            Err(e) => return Err(WriteError::io("create segment file", &path, e)),
        };
        // Appends start at the current end. Bytes there that no index entry references (a
        // failed round) are harmless: offsets are never reused, so nothing committed moves.
        let len = file
            .metadata()
            .map_err(|e| WriteError::io("inspect segment file", &path, e))?
            .len();
        Ok(OpenSegment {
            file,
            path,
            len,
            unsynced: false,
            last_used: self.clock,
        })
    }

    /// Makes everything appended since the last sync durable, including new files' directory
    /// entries. Only after this may index entries referencing those bytes be committed.
    pub fn sync(&mut self) -> Result<(), WriteError> {
        for (&(_, partition_start, _), segment) in &mut self.open {
            if segment.unsynced {
                sync_segment(&self.faults, partition_start, segment)?;
                segment.unsynced = false;
            }
        }
        for signal in &self.new_files_in {
            let dir = schema::segment_dir(&self.data_dir, *signal);
            self.faults
                .check(Step::Sync, None)
                .and_then(|()| sync_dir(&dir))
                .map_err(|e| WriteError::io("sync segment directory", &dir, e))?;
        }
        self.new_files_in.clear();
        Ok(())
    }

    /// Whether the data directory takes a durable write again: writes, syncs and removes
    /// [`schema::PROBE_FILE`], as big as a typical block payload.
    pub fn probe(&mut self) -> Result<(), WriteError> {
        const PROBE_BYTES: usize = 256 << 10;
        let path = self.data_dir.join(schema::PROBE_FILE);
        let written = self
            .faults
            .check(Step::Append, None)
            .and_then(|()| File::create(&path))
            .and_then(|mut file| {
                file.write_all(&[0; PROBE_BYTES])?;
                self.faults.check(Step::Sync, None)?;
                file.sync_data()
            })
            .map_err(|e| WriteError::io("write a probe file", &path, e));
        // Whatever happened, the probe must not take space.
        let removed = std::fs::remove_file(&path);
        written?;
        removed.map_err(|e| WriteError::io("remove probe file", &path, e))
    }

    /// Ends a round that failed: closes every file, so the next round starts from the files'
    /// real lengths whatever state a failed write or sync left them in. The bytes the failed
    /// round appended stay, unreferenced; [`recover`] removes them if they are the tail of their
    /// file.
    pub fn abandon_round(&mut self) {
        self.open.clear();
        // `new_files_in` stays: a file created in this round is merely reopened by the next one,
        // which must still sync its directory entry before committing anything in it.
    }
}

fn sync_segment(
    faults: &Faults,
    partition_start: u64,
    segment: &OpenSegment,
) -> Result<(), WriteError> {
    faults
        .check(Step::Sync, Some(partition_start))
        .and_then(|()| segment.file.sync_data())
        .map_err(|e| WriteError::io("sync segment file", &segment.path, e))
}

/// Reads payloads of one signal's blocks. Keeps the last file open, because a read walks one
/// partition's blocks after another.
pub(crate) struct SegmentReader {
    dir: PathBuf,
    current: Option<ReadSegment>,
    /// Past it, reads fail with [`PayloadError::Interrupted`] instead of reading.
    deadline: Option<Instant>,
}

struct ReadSegment {
    partition_start: u64,
    file_no: u32,
    file: File,
    /// Length when last measured. An index entry is committed only after its payload is synced,
    /// so an entry read before this was measured lies within it unless the file was damaged;
    /// one committed since (a walk reads the index in several transactions) may need a new
    /// measurement.
    len: u64,
}

/// Why a payload could not be read.
pub(crate) enum PayloadError {
    /// The segment file is missing or shorter than the index says: the block is lost.
    Missing(String),
    /// Reading failed for another reason (permissions, I/O error).
    Io(String),
    /// The reader's deadline has passed; nothing was read.
    Interrupted,
}

/// True once `deadline` (if any) has passed.
pub(crate) fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| Instant::now() >= deadline)
}

impl SegmentReader {
    pub fn new(data_dir: &Path, signal: Signal) -> SegmentReader {
        SegmentReader {
            dir: schema::segment_dir(data_dir, signal),
            current: None,
            deadline: None,
        }
    }

    /// The same reader, refusing to read once `deadline` has passed.
    pub fn until(mut self, deadline: Option<Instant>) -> SegmentReader {
        self.deadline = deadline;
        self
    }

    /// The payload `entry` references in partition `partition_start`'s segment file.
    pub fn read(
        &mut self,
        partition_start: u64,
        entry: &IndexEntry,
    ) -> Result<Vec<u8>, PayloadError> {
        if past(self.deadline) {
            return Err(PayloadError::Interrupted);
        }
        let path = self
            .dir
            .join(schema::segment_file_name(partition_start, entry.file));
        let io = |e: std::io::Error| {
            PayloadError::Io(format!(
                "could not read segment file {}: {e}",
                path.display()
            ))
        };
        if self
            .current
            .as_ref()
            .is_none_or(|c| (c.partition_start, c.file_no) != (partition_start, entry.file))
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
                file_no: entry.file,
                file,
                len,
            });
        }
        let segment = self.current.as_mut().expect("opened above");
        if entry.end() > segment.len {
            segment.len = segment.file.metadata().map_err(io)?.len();
        }
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
/// committed index, before the writer starts: cuts off every file's tail past the furthest end
/// any index entry of that file references (bytes appended by a round whose commit never
/// happened), and removes files no index entry references (a crash before a commit that would
/// have referenced them, or after a commit that stopped referencing them). Entries pointing past
/// the end of their file are left for reads to report; a partition with a damaged entry keeps
/// all its bytes.
pub(crate) fn recover(data_dir: &Path, db: &Database, when: Recovery<'_>) -> Result<(), OpenError> {
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
        // Per partition: the furthest end referenced in each file, or `None` when an entry of
        // the partition is damaged (its file is unknown, so nothing of it is touched).
        let mut ends: HashMap<u64, Option<HashMap<u32, u64>>> = HashMap::new();
        let mut removed_any = false;
        for dir_entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let dir_entry = dir_entry.map_err(io(&dir))?;
            let path = dir_entry.path();
            let name = dir_entry.file_name();
            let Some((partition_start, file_no)) = name.to_str().and_then(schema::segment_file)
            else {
                tracing::warn!(path = %path.display(), "ignoring a file otelite did not write");
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = ends.entry(partition_start) {
                let first = BlockKey::first_in(partition_start).encode();
                let last = BlockKey::last_in(partition_start).encode();
                let mut files = Some(HashMap::new());
                for entry in table
                    .range::<&[u8; BlockKey::LEN]>(&first..=&last)
                    .map_err(|e| database(&e))?
                {
                    let (_, value) = entry.map_err(|e| database(&e))?;
                    match IndexEntry::parse(value.value()) {
                        Ok(entry) => {
                            if let Some(files) = files.as_mut() {
                                let end = files.entry(entry.file).or_insert(0);
                                *end = (*end).max(entry.end());
                            }
                        }
                        Err(e) => {
                            tracing::warn!(
                                partition_start,
                                reason = e.0,
                                "an index entry of this partition is damaged; not trimming its segment files"
                            );
                            files = None;
                        }
                    }
                }
                slot.insert(files);
            }
            let Some(files) = &ends[&partition_start] else {
                continue;
            };
            let Some(&end) = files.get(&file_no) else {
                if let Recovery::AfterFailedRound(files) = when
                    && !files.in_use_by_writer(signal, partition_start, file_no)
                {
                    continue;
                }
                tracing::info!(path = %path.display(), "removing a segment file the index does not reference");
                std::fs::remove_file(&path).map_err(io(&path))?;
                removed_any = true;
                continue;
            };
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

/// When [`recover`] runs.
#[derive(Clone, Copy)]
pub(crate) enum Recovery<'a> {
    /// Opening the store: nothing else runs, every unreferenced file is litter.
    AtOpen,
    /// After a failed round, with the compactor and readers running: of the unreferenced
    /// files only the writer's own row files are removed; the others may be a compacted file
    /// about to be committed, or retired files waiting for readers.
    AfterFailedRound(&'a crate::files::Files),
}

/// Writes `payloads` into the new segment file `file` of `signal`'s partition, back to back,
/// and makes the file and its directory entry durable; returns each payload's offset. For the
/// compactor, whose files are written once and never appended to.
pub(crate) fn write_file(
    data_dir: &Path,
    signal: Signal,
    partition_start: u64,
    file: u32,
    payloads: &[&[u8]],
) -> Result<Vec<u64>, WriteError> {
    let dir = schema::segment_dir(data_dir, signal);
    let path = dir.join(schema::segment_file_name(partition_start, file));
    let write = || -> std::io::Result<Vec<u64>> {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut offsets = Vec::with_capacity(payloads.len());
        let mut at = 0;
        for payload in payloads {
            offsets.push(at);
            out.write_all(payload)?;
            at += payload.len() as u64;
        }
        out.sync_all()?;
        sync_dir(&dir)?;
        Ok(offsets)
    };
    write().map_err(|e| {
        // A partial file holds nothing anyone references; leave no litter where possible.
        let _ = std::fs::remove_file(&path);
        WriteError::io("write compacted segment file", &path, e)
    })
}

/// Removes segment files no index entry references any more, then syncs their directories.
pub(crate) fn remove_files(paths: &[PathBuf]) {
    let mut dirs = Vec::new();
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Left for the next open's recovery, which removes unreferenced files.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a compacted segment file")
            }
        }
        if let Some(dir) = path.parent()
            && !dirs.iter().any(|d: &PathBuf| d == dir)
        {
            dirs.push(dir.to_path_buf());
        }
    }
    for dir in dirs {
        if let Err(e) = sync_dir(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not sync a segment directory");
        }
    }
}

/// Total size of all segment files.
pub(crate) fn disk_bytes(data_dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for signal in Signal::ALL {
        total += signal_bytes(data_dir, signal)?;
    }
    Ok(total)
}

/// Size of `signal`'s segment files.
pub(crate) fn signal_bytes(data_dir: &Path, signal: Signal) -> std::io::Result<u64> {
    let dir = schema::segment_dir(data_dir, signal);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0;
    for entry in entries {
        let metadata = entry?.metadata()?;
        if metadata.is_file() {
            total += metadata.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_stay_bounded_however_many_partitions_a_round_touches() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(schema::segment_dir(dir.path(), Signal::Logs)).unwrap();
        let mut writer = SegmentWriter::new(dir.path().to_path_buf(), Faults::default());
        let partitions = 3 * MAX_OPEN_SEGMENTS as u64;
        for round in 0..2u64 {
            for partition in 0..partitions {
                let payload = vec![round as u8; 10 + partition as usize];
                let offset = writer
                    .append(Signal::Logs, partition * schema::PARTITION_NS, 0, &payload)
                    .unwrap();
                // Reopening a closed file resumes at its end.
                assert_eq!(offset, round * payload.len() as u64);
                assert!(writer.open.len() <= MAX_OPEN_SEGMENTS);
            }
            writer.sync().unwrap();
            assert!(writer.open.values().all(|segment| !segment.unsynced));
        }
        for partition in 0..partitions {
            let path = schema::segment_dir(dir.path(), Signal::Logs).join(
                schema::segment_file_name(partition * schema::PARTITION_NS, 0),
            );
            let len = 10 + partition as usize;
            assert_eq!(
                std::fs::read(path).unwrap(),
                [vec![0; len], vec![1; len]].concat()
            );
        }
    }
}
