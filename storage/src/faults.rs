//! Fault injection for the store's own tests: a switchboard the writer's I/O consults before each
//! step, so a test can make a chosen step of a round fail with a chosen error, for one partition
//! or all, a number of times or until cleared.
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
}

#[cfg(test)]
pub(crate) use injected::{Fault, Faults};

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
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use super::{Step, io};

    /// One planned failure.
    #[derive(Debug, Clone)]
    pub(crate) struct Fault {
        pub step: Step,
        /// Only this partition's steps fail; `None`: every partition's.
        pub partition: Option<u64>,
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
                kind,
                times: None,
            }
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
            self.hits.fetch_add(1, Ordering::SeqCst);
            let fault = &mut plan[at];
            if let Some(times) = &mut fault.times {
                *times -= 1;
            }
            Err(io::Error::new(
                fault.kind,
                format!("injected {:?} fault", fault.step),
            ))
        }
    }
}
