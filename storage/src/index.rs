//! The redb database holding the block index, as the store shares it: opened here, handed to the
//! writer and to readers one operation at a time, and reopened by the writer after a failed
//! commit.
//!
//! redb refuses every operation after an I/O error in a commit (a full disk is the usual cause)
//! until the database is closed and opened again, which also repairs it to its last durable
//! commit. So the store never keeps a `Database` for itself: [`Index::get`] hands out the
//! current one, and [`Index::reopen`] swaps in a fresh one once no reader holds the old one.
//! This module must never write to the database; it only opens and closes it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use crate::faults::Faults;

/// redb's page cache. redb holds only the index (block payloads are read from segment files
/// through the OS page cache), so a modest cache serves well and keeps memory bounded on small
/// machines.
const CACHE_BYTES: usize = 64 << 20;

/// How long [`Index::reopen`] waits for readers of the old database to finish before giving
/// up for now (the writer tries again later; meanwhile new readers are turned away).
const READERS_GRACE: Duration = Duration::from_secs(1);

/// The shared, swappable index database.
pub(crate) struct Index {
    path: PathBuf,
    faults: Faults,
    /// `None` while being reopened, or after reopening failed.
    current: RwLock<Option<Arc<Database>>>,
    /// The database taken out by a [`Index::reopen`] that readers still held.
    closing: Mutex<Option<Arc<Database>>>,
}

/// Why [`Index::reopen`] did not reopen.
pub(crate) enum ReopenError {
    /// Readers still hold the old database; try again later.
    InUse,
    /// Opening failed.
    Open(redb::DatabaseError),
}

impl Index {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, faults: Faults) -> Result<Database, redb::DatabaseError> {
        open_database(path, &faults)
    }

    /// Shares `db`, opened by [`Index::open`] from `path`.
    pub fn new(path: PathBuf, faults: Faults, db: Database) -> Index {
        Index {
            path,
            faults,
            current: RwLock::new(Some(Arc::new(db))),
            closing: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open database, or `None` while it is being reopened.
    pub fn get(&self) -> Option<Arc<Database>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Closes the database and opens it again, so that redb recovers it to its last durable
    /// commit. New readers get `None` from [`Index::get`] meanwhile; readers of the old
    /// database are waited for, up to [`READERS_GRACE`], before [`ReopenError::InUse`].
    pub fn reopen(&self) -> Result<(), ReopenError> {
        let mut closing = self
            .closing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let taken = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let mut old = closing.take().or(taken);
        let deadline = Instant::now() + READERS_GRACE;
        while let Some(db) = old {
            match Arc::try_unwrap(db) {
                // Dropping the last handle closes the file and releases its lock.
                Ok(db) => {
                    drop(db);
                    old = None;
                }
                Err(shared) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                    old = Some(shared);
                }
                Err(shared) => {
                    *closing = Some(shared);
                    return Err(ReopenError::InUse);
                }
            }
        }
        let db = open_database(&self.path, &self.faults).map_err(ReopenError::Open)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(db));
        tracing::info!(path = %self.path.display(), "reopened the store's index");
        Ok(())
    }
}

fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

#[cfg(not(test))]
fn open_database(path: &Path, _faults: &Faults) -> Result<Database, redb::DatabaseError> {
    builder().create(path)
}

/// In the crate's tests the database's I/O goes through the fault injection layer.
#[cfg(test)]
fn open_database(path: &Path, faults: &Faults) -> Result<Database, redb::DatabaseError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| redb::DatabaseError::Storage(redb::StorageError::Io(e)))?;
    let backend =
        crate::faults::FaultyBackend::new(redb::backends::FileBackend::new(file)?, faults);
    builder().create_with_backend(backend)
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;

    use super::*;

    #[test]
    fn reopening_waits_for_readers_and_turns_new_ones_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let index = Index::new(
            path.clone(),
            Faults::none(),
            Index::open(&path, Faults::none()).unwrap(),
        );

        // A short read in flight: the reopen waits for it, then succeeds.
        let reader = index.get().unwrap();
        let done = std::thread::spawn(move || {
            let _txn = reader.begin_read().unwrap();
            std::thread::sleep(Duration::from_millis(50));
        });
        assert!(index.reopen().is_ok());
        done.join().unwrap();
        assert!(index.get().is_some());

        // A reader that does not let go: the reopen gives up for now, and new readers get
        // nothing rather than the database being reopened under the old one.
        let stuck = index.get().unwrap();
        assert!(matches!(index.reopen(), Err(ReopenError::InUse)));
        assert!(index.get().is_none());
        drop(stuck);
        assert!(index.reopen().is_ok());
        index.get().unwrap().begin_read().unwrap();
    }
}
