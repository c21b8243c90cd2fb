//! What every request handler shares: the store, the limits it must enforce and the counters
//! the status page shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use otelite_storage::{Signal, Store};

use crate::ingest::MemoryBudget;
use crate::otlp::TimeWindow;

/// Shared by all listeners; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub limits: Limits,
    /// The memory all export requests in flight may hold together (`--max-memory`).
    pub budget: MemoryBudget,
    /// Requests decoded at the same time (one per core); the others wait their turn, charged
    /// to the budget but not yet decoded.
    pub decode_slots: Arc<tokio::sync::Semaphore>,
    pub counters: Arc<IngestCounters>,
    pub started: Instant,
}

/// What one client may cost, fixed at startup from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted, measured after decompression.
    pub max_request_bytes: usize,
    /// How long a streamed response (an export) waits for a client that reads nothing before
    /// it gives up; see [`crate::config::ConnectionTimeouts::stalled_client`].
    pub max_client_stall: Duration,
    /// The item times accepted, relative to the server clock.
    pub item_times: TimeWindow,
    /// Per signal (in `Signal::ALL` order), how long retention keeps data: older items are
    /// refused rather than stored and deleted.
    pub retention: [Option<Duration>; 3],
}

/// One decode slot per core the process may use.
pub fn decode_slots() -> Arc<tokio::sync::Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(tokio::sync::Semaphore::new(cores))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 * 1024 * 1024,
            max_client_stall: crate::config::ConnectionTimeouts::default().stalled_client,
            item_times: TimeWindow::default(),
            retention: [None; 3],
        }
    }
}

/// Items refused at ingest since start, per signal (what clients were told in partial_success).
#[derive(Debug, Default)]
pub struct IngestCounters {
    rejected: [AtomicU64; 3],
}

impl IngestCounters {
    pub fn add_rejected(&self, signal: Signal, n: u64) {
        self.rejected[index(signal)].fetch_add(n, Ordering::Relaxed);
    }

    pub fn rejected(&self, signal: Signal) -> u64 {
        self.rejected[index(signal)].load(Ordering::Relaxed)
    }
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}
