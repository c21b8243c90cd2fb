//! Fault injection for the store's own tests: a switchboard the writer's I/O consults before each
//! step, so a test can make a chosen step of a round fail with a chosen error, for one partition
//! or all, from the n-th time on, a number of times or until cleared. Segment files consult it
//! directly; the index database consults it through [`FaultyBackend`], a redb storage backend
//! wrapping the real file backend, so redb reacts to the failure exactly as to a real one.
//!
//! Outside the crate's tests [`Faults`] is an empty type whose [`Faults::check`] always succeeds
//! and compiles to nothing, so release builds carry no injection points. This module must never
//! do I/O itself: it only says whether a step should fail.

use std::io;

/// A step of a commit round that a test can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Writing a block payload to a segment file.
    Append,
    /// Syncing a segment file.
    Sync,
    /// redb writing (or resizing) the index file.
    #[cfg_attr(not(test), allow(dead_code))]
    IndexWrite,
    /// redb syncing the index file.
    #[cfg_attr(not(test), allow(dead_code))]
    IndexSync,
}

#[cfg(test)]
pub(crate) use injected::{Fault, Faults, FaultyBackend};

#[cfg(not(test))]
pub(crate) use disabled::Faults;

#[cfg(not(test))]
mod disabled {
    use super::{Step, io};

    /// No faults: every step succeeds.
    #[derive(Debug, Clone)]
    pub(crate) struct Faults;

    impl Faults {
        pub fn none() -> Faults {
            Faults
        }

        #[inline(always)]
        pub fn check(&self, _step: Step, _partition: Option<u64>) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod injected {
    use std::ops::Bound;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use redb::backends::FileBackend;
    use redb::{BackendError, StorageBackend};

    use super::{Step, io};

    /// One planned failure.
    #[derive(Debug, Clone)]
    pub(crate) struct Fault {
        pub step: Step,
        /// Only this partition's steps fail; `None`: every partition's.
        pub partition: Option<u64>,
        /// How many matching steps succeed before the first failure.
        pub skip: u32,
        /// The error the step fails with.
        pub kind: io::ErrorKind,
        /// How many more times it fails; `None`: until [`Faults::clear`].
        pub times: Option<u32>,
    }

    impl Fault {
        /// `step` fails with `kind` for every partition until cleared.
        pub fn always(step: Step, kind: io::ErrorKind) -> Fault {
            Fault {
                step,
                partition: None,
                skip: 0,
                kind,
                times: None,
            }
        }

        /// Only from the `skip + 1`-th matching step on.
        pub fn after(mut self, skip: u32) -> Fault {
            self.skip = skip;
            self
        }

        /// Only `times` times.
        pub fn times(mut self, times: u32) -> Fault {
            self.times = Some(times);
            self
        }

        /// Only for `partition`.
        pub fn in_partition(mut self, partition: u64) -> Fault {
            self.partition = Some(partition);
            self
        }
    }

    /// The planned failures, shared between a test and the store it opened.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Faults {
        plan: Arc<Mutex<Vec<Fault>>>,
        hits: Arc<AtomicU64>,
    }

    impl Faults {
        /// No faults planned (yet).
        pub fn none() -> Faults {
            Faults::default()
        }

        pub fn inject(&self, fault: Fault) {
            self.plan.lock().unwrap().push(fault);
        }

        /// How many steps failed so far.
        pub fn hits(&self) -> u64 {
            self.hits.load(Ordering::SeqCst)
        }

        /// Every step succeeds from now on.
        pub fn clear(&self) {
            self.plan.lock().unwrap().clear();
        }

        /// Fails if a planned fault matches `step` in `partition` (`None` where a step concerns
        /// no single partition).
        pub fn check(&self, step: Step, partition: Option<u64>) -> io::Result<()> {
            let mut plan = self.plan.lock().unwrap();
            let Some(at) = plan.iter().position(|fault| {
                fault.step == step
                    && (fault.partition.is_none() || fault.partition == partition)
                    && fault.times != Some(0)
            }) else {
                return Ok(());
            };
            let fault = &mut plan[at];
            if fault.skip > 0 {
                fault.skip -= 1;
                return Ok(());
            }
            if let Some(times) = &mut fault.times {
                *times -= 1;
            }
            self.hits.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::new(
                fault.kind,
                format!("injected {:?} fault", fault.step),
            ))
        }
    }

    /// A redb storage backend that fails the index file's writes and syncs as planned.
    #[derive(Debug)]
    pub(crate) struct FaultyBackend {
        file: FileBackend,
        faults: Faults,
    }

    impl FaultyBackend {
        pub fn new(file: FileBackend, faults: &Faults) -> FaultyBackend {
            FaultyBackend {
                file,
                faults: faults.clone(),
            }
        }
    }

    impl StorageBackend for FaultyBackend {
        fn len(&self) -> io::Result<u64> {
            self.file.len()
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            self.file.read(offset, out)
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            self.faults.check(Step::IndexWrite, None)?;
            self.file.set_len(len)
        }

        fn sync_data(&self) -> io::Result<()> {
            self.faults.check(Step::IndexSync, None)?;
            self.file.sync_data()
        }

        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.faults.check(Step::IndexWrite, None)?;
            self.file.write(offset, data)
        }

        fn close(&self) -> io::Result<()> {
            self.file.close()
        }

        fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
            self.file.try_lock_range(start, end)
        }

        fn try_lock_shared_range(
            &self,
            start: Bound<u64>,
            end: Bound<u64>,
        ) -> Result<bool, BackendError> {
            self.file.try_lock_shared_range(start, end)
        }

        fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
            self.file.lock_range(start, end)
        }

        fn lock_shared_range(
            &self,
            start: Bound<u64>,
            end: Bound<u64>,
        ) -> Result<(), BackendError> {
            self.file.lock_shared_range(start, end)
        }

        fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
            self.file.unlock_range(start, end)
        }

        fn query_lock_range(
            &self,
            start: Bound<u64>,
            end: Bound<u64>,
        ) -> Result<bool, BackendError> {
            self.file.query_lock_range(start, end)
        }
    }
}
