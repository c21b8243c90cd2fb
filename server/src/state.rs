//! What every request handler shares: the store, the limits it must enforce and the telemetry
//! `/metrics` and the status page show.

use std::sync::Arc;
use std::time::{Duration, Instant};

use otelite_storage::Store;

use crate::ingest::MemoryBudget;
use crate::otlp::{ItemLimits, SeriesLimiter, SeriesLimits, TimeWindow};
use crate::telemetry::Telemetry;

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
    /// The metric series active now, held to [`Limits::series`].
    pub series: Arc<SeriesLimiter>,
    /// What otelite counts about itself: `/metrics` and the status page.
    pub telemetry: Arc<Telemetry>,
    pub started: Instant,
}

impl AppState {
    /// The state of a server starting now on `store`, held to `limits`, its OTLP requests in
    /// flight to `max_memory` bytes together.
    pub fn new(store: Store, limits: Limits, max_memory: usize) -> AppState {
        AppState {
            store,
            decode_slots: Arc::new(tokio::sync::Semaphore::new(limits.decode_slots)),
            series: Arc::new(SeriesLimiter::new(limits.series)),
            limits,
            budget: MemoryBudget::new(max_memory),
            telemetry: Arc::new(Telemetry::default()),
            started: Instant::now(),
        }
    }
}

impl AppState {
    /// The store as one query API request reads it: its reads stop at `--query-timeout` from
    /// now, so a query answered 503 for taking too long does not go on reading in the
    /// background.
    pub fn query_store(&self) -> Store {
        let deadline = self
            .limits
            .query_timeout
            .map(|limit| Instant::now() + limit);
        self.store.until(deadline)
    }
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
    /// What one span or log record may carry; the excess is dropped and counted.
    pub items: ItemLimits,
    /// How many metric series may be active, per metric and in all.
    pub series: SeriesLimits,
    /// How long a query API request may take; `None` waits for any.
    pub query_timeout: Option<Duration>,
    /// The longest time range a metric query may cover; `None`: any.
    pub query_max_range: Option<Duration>,
    /// The most series one PromQL selector may load.
    pub query_max_series: usize,
    /// The most traces one trace search may return (native and Jaeger APIs).
    pub query_max_traces: usize,
    /// The most log records one page, Loki answer or tail batch may hold.
    pub query_max_lines: usize,
    /// Requests decoded at the same time (the size of [`AppState::decode_slots`]).
    pub decode_slots: usize,
}

/// One decode slot per core the process may use.
pub fn decode_slot_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 * 1024 * 1024,
            max_client_stall: crate::config::ConnectionTimeouts::default().stalled_client,
            item_times: TimeWindow::default(),
            retention: [None; 3],
            items: ItemLimits::default(),
            series: SeriesLimits::default(),
            query_timeout: Some(crate::config::DEFAULT_QUERY_TIMEOUT),
            query_max_range: Some(crate::config::DEFAULT_QUERY_MAX_RANGE),
            query_max_series: crate::config::DEFAULT_QUERY_MAX_SERIES,
            query_max_traces: crate::config::DEFAULT_QUERY_MAX_TRACES,
            query_max_lines: crate::config::DEFAULT_QUERY_MAX_LINES,
            decode_slots: decode_slot_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelite_storage::{Batch, ReadError, TimeRange};

    #[test]
    fn a_query_store_stops_reading_at_the_query_timeout() {
        let limits = Limits {
            query_timeout: Some(Duration::from_millis(1)),
            ..Limits::default()
        };
        let (state, _dir) = crate::ingest::test_support::state_with(limits);
        let spans = crate::ingest::test_support::traces(&[&[1; 16]]).resource_spans;
        state.store.write(Batch::Traces(spans)).unwrap();
        let store = state.query_store();
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            store.read_traces(TimeRange::ALL),
            Err(ReadError::Interrupted)
        ));
        // Without a limit, and through the plain store, reads run to the end.
        let (mut unlimited, _dir) = crate::ingest::test_support::state_with(Limits::default());
        unlimited.limits.query_timeout = None;
        assert!(unlimited.query_store().read_traces(TimeRange::ALL).is_ok());
        assert_eq!(state.store.read_traces(TimeRange::ALL).unwrap().len(), 1);
    }
}
