//! Which segment files exist for what, shared by the writer, the compactor and readers.
//!
//! Each (signal, partition) has numbered segment files (`schema::segment_file_name`). The
//! writer appends a partition's new blocks to its *row file*; when the compactor takes a
//! partition's row blocks, it first *rotates*: the writer moves on to a fresh row file and the
//! compactor gets a fresh number for the file it writes, so the files it compacts receive no
//! more appends and can be removed once their index entries are gone. Numbers only grow while
//! the store is open, so no name is ever reused.
//!
//! Removing a file while a reader still reads blocks whose entries it fetched earlier would make
//! those blocks look lost, so readers *pin* the current epoch while they read a partition, and a
//! compacted file is removed only once every reader that might have seen its entries is done.
//! This module must never read or write block bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{Database, ReadableDatabase, TableError};

use crate::Signal;
use crate::block::{CODEC_ZSTD_PROTOBUF, IndexEntry};
use crate::schema::{self, BlockKey, MAX_SEGMENT_FILE};

#[derive(Debug, Clone, Copy)]
struct PartitionFiles {
    /// The file the writer appends to.
    row: u32,
    /// The next number not yet used.
    next: u32,
}

/// A reader's pin: while it lives, no file whose entries existed when it was taken is removed.
pub(crate) type Pin = Arc<()>;

#[derive(Default)]
pub(crate) struct Files {
    partitions: Mutex<HashMap<(Signal, u64), PartitionFiles>>,
    /// Files the writer's current round appends to: a round that began before a rotation may
    /// still append to the old row file and commit after the compactor, which therefore never
    /// removes a file in this set.
    appending: Mutex<std::collections::HashSet<(Signal, u64, u32)>>,
    pins: Mutex<Pins>,
}

#[derive(Default)]
struct Pins {
    current: Pin,
    /// Files no entry references any more, each with the pin that was current when that became
    /// true: they go once nobody else holds that pin.
    retired: Vec<(Pin, Vec<PathBuf>)>,
}

/// The partition's files as the committed index shows them: the row file to continue, and the
/// next free number. A partition whose highest-numbered file holds row blocks continues it;
/// otherwise the writer starts a new file after it.
fn from_index(
    db: &Database,
    signal: Signal,
    partition: u64,
) -> Result<PartitionFiles, redb::Error> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(schema::block_table(signal)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(PartitionFiles { row: 0, next: 1 }),
        Err(e) => return Err(e.into()),
    };
    let first = BlockKey::first_in(partition).encode();
    let last = BlockKey::last_in(partition).encode();
    let mut highest: Option<(u32, bool)> = None;
    for entry in table.range::<&[u8; BlockKey::LEN]>(&first..=&last)? {
        let (_, value) = entry?;
        // Damaged entries are the reader's to report; they name no file here.
        let Ok(entry) = IndexEntry::parse(value.value()) else {
            continue;
        };
        let rows = entry.header.codec == CODEC_ZSTD_PROTOBUF;
        highest = match highest {
            Some((file, has_rows)) if file > entry.file => Some((file, has_rows)),
            Some((file, has_rows)) if file == entry.file => Some((file, has_rows || rows)),
            _ => Some((entry.file, rows)),
        };
    }
    Ok(match highest {
        None => PartitionFiles { row: 0, next: 1 },
        Some((file, true)) => PartitionFiles {
            row: file,
            next: file + 1,
        },
        Some((file, false)) => PartitionFiles {
            row: file + 1,
            next: file + 2,
        },
    })
}

impl Files {
    fn partitions(&self) -> MutexGuard<'_, HashMap<(Signal, u64), PartitionFiles>> {
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn known(
        &self,
        db: &Database,
        signal: Signal,
        partition: u64,
    ) -> Result<PartitionFiles, redb::Error> {
        if let Some(files) = self.partitions().get(&(signal, partition)) {
            return Ok(*files);
        }
        // Read outside the lock; a concurrent first look finds the same answer.
        let found = from_index(db, signal, partition)?;
        Ok(*self
            .partitions()
            .entry((signal, partition))
            .or_insert(found))
    }

    /// The file the writer appends `signal`'s new blocks of `partition` to in this round; it
    /// counts as appended to until [`Files::round_done`].
    pub fn row_file(
        &self,
        db: &Database,
        signal: Signal,
        partition: u64,
    ) -> Result<u32, redb::Error> {
        self.known(db, signal, partition)?;
        let partitions = self.partitions();
        let row = partitions[&(signal, partition)].row;
        self.appending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((signal, partition, row));
        Ok(row)
    }

    /// The writer's round is over (committed or failed): it appends to nothing now.
    pub fn round_done(&self) {
        self.appending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Whether the writer may still append to `file` and commit entries referencing it.
    pub fn in_use_by_writer(&self, signal: Signal, partition: u64, file: u32) -> bool {
        self.is_row_file(signal, partition, file)
            || self
                .appending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&(signal, partition, file))
    }

    /// Whether `file` is the current row file of its partition (or the partition is unknown).
    pub fn is_row_file(&self, signal: Signal, partition: u64, file: u32) -> bool {
        self.partitions()
            .get(&(signal, partition))
            .is_none_or(|files| files.row == file)
    }

    /// For the compactor: moves the writer to a fresh row file and returns the number of the
    /// old row file and a fresh number for the compacted file. `None` when numbers run out
    /// (the partition then stays uncompacted).
    pub fn rotate(
        &self,
        db: &Database,
        signal: Signal,
        partition: u64,
    ) -> Result<Option<(u32, u32)>, redb::Error> {
        self.known(db, signal, partition)?;
        let mut partitions = self.partitions();
        let files = partitions
            .get_mut(&(signal, partition))
            .expect("known above");
        if files.next + 2 > MAX_SEGMENT_FILE {
            return Ok(None);
        }
        let old_row = files.row;
        let compacted = files.next;
        files.row = files.next + 1;
        files.next += 2;
        Ok(Some((old_row, compacted)))
    }

    fn pins(&self) -> MutexGuard<'_, Pins> {
        self.pins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pins the files of every entry committed so far until the pin is dropped.
    pub fn pin(&self) -> Pin {
        Arc::clone(&self.pins().current)
    }

    /// `paths` are referenced by no committed entry any more: removes them as soon as no
    /// reader that might still read them holds a pin.
    pub fn retire(&self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        {
            let mut pins = self.pins();
            let old = std::mem::take(&mut pins.current);
            pins.retired.push((old, paths));
        }
        self.sweep();
    }

    /// Removes the retired files nobody can read any more. A reader holding an older pin may
    /// have read its entries after a later pin became current but before a file retired under
    /// that later pin lost its entries, so files go strictly in the order they were retired:
    /// only once every reader of their pin and of every earlier pin is done.
    pub fn sweep(&self) {
        let free: Vec<PathBuf> = {
            let mut pins = self.pins();
            let done = pins
                .retired
                .iter()
                .take_while(|(pin, _)| Arc::strong_count(pin) == 1)
                .count();
            pins.retired
                .drain(..done)
                .flat_map(|(_, paths)| paths)
                .collect()
        };
        crate::segment::remove_files(&free);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_files_wait_for_the_readers_that_may_use_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.3.seg");
        std::fs::write(&path, b"x").unwrap();
        let files = Files::default();
        let reader = files.pin();
        files.retire(vec![path.clone()]);
        assert!(path.exists(), "a reader that started before still holds it");
        let later = files.pin();
        drop(reader);
        files.sweep();
        assert!(!path.exists());
        drop(later);
    }

    #[test]
    fn a_reader_keeps_files_retired_after_its_pin_was_replaced() {
        // The reader pins, another partition's files retire (a new pin becomes current), the
        // reader reads the index (still referencing file b), then b is retired under the new pin.
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("0.1.seg"), dir.path().join("0.2.seg"));
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"x").unwrap();
        let files = Files::default();
        let reader = files.pin();
        files.retire(vec![a.clone()]);
        files.retire(vec![b.clone()]);
        assert!(a.exists() && b.exists());
        drop(reader);
        files.sweep();
        assert!(!a.exists() && !b.exists());
    }
}
