//! otelite's own telemetry: the counters and latency histograms the receivers and the query API
//! update as they work, rendered as Prometheus text at `GET /metrics` on the UI port, and the
//! rate-limited log lines for refused exports.
//!
//! Every label set is fixed in advance (signal × transport × reason, query family), so the
//! cardinality is bounded whatever clients send. Updates are relaxed atomics: no lock on the
//! ingest path. Nothing here reads the store; the `/metrics` handler gathers the store's numbers
//! ([`StoreGauges`]) on the blocking pool and hands them to [`Telemetry::render`].

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use otelite_storage::Signal;

use crate::ingest::IngestError;
use crate::otlp::{RejectReason, Rejections, Truncations};

const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

/// How an export arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    const ALL: [Transport; 2] = [Transport::Grpc, Transport::Http];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

/// Why items or whole requests were refused: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed items, or a request that could not be decoded.
    Invalid,
    TooOld,
    TooNew,
    /// Metric series past `--max-series-per-metric` or `--max-active-series`.
    TooManySeries,
    /// Larger than `--max-request-size`.
    TooLarge,
    /// The memory budget or the store's queue is full.
    Overloaded,
    DiskFull,
    /// Any other failed write.
    StorageError,
    ShuttingDown,
    Internal,
}

impl Refusal {
    const ALL: [Refusal; 10] = [
        Refusal::Invalid,
        Refusal::TooOld,
        Refusal::TooNew,
        Refusal::TooManySeries,
        Refusal::TooLarge,
        Refusal::Overloaded,
        Refusal::DiskFull,
        Refusal::StorageError,
        Refusal::ShuttingDown,
        Refusal::Internal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Refusal::Invalid => "invalid",
            Refusal::TooOld => "too_old",
            Refusal::TooNew => "too_new",
            Refusal::TooManySeries => "too_many_series",
            Refusal::TooLarge => "too_large",
            Refusal::Overloaded => "overloaded",
            Refusal::DiskFull => "disk_full",
            Refusal::StorageError => "storage_error",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::Internal => "internal",
        }
    }

    /// Why a whole request failed.
    pub fn of(error: &IngestError) -> Refusal {
        use otelite_storage::SubmitError;
        match error {
            IngestError::Decode(_)
            | IngestError::BadBody(_)
            | IngestError::UnsupportedContentType(_)
            | IngestError::UnsupportedContentEncoding(_) => Refusal::Invalid,
            IngestError::TooLarge { .. } => Refusal::TooLarge,
            IngestError::MemoryBusy { .. }
            | IngestError::Unavailable(SubmitError::Overloaded { .. }) => Refusal::Overloaded,
            IngestError::Unavailable(_) => Refusal::ShuttingDown,
            IngestError::Storage(e) if e.is_disk_full() => Refusal::DiskFull,
            IngestError::Storage(_) => Refusal::StorageError,
            _ => Refusal::Internal,
        }
    }

    pub fn of_rejection(reason: RejectReason) -> Refusal {
        match reason {
            RejectReason::Invalid => Refusal::Invalid,
            RejectReason::TooOld => Refusal::TooOld,
            RejectReason::TooNew => Refusal::TooNew,
            RejectReason::TooManySeries => Refusal::TooManySeries,
        }
    }
}

/// The query API's route families: the `family` label of the query metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFamily {
    /// otelite's own `/api/v1/...` (but export).
    Native,
    Export,
    Jaeger,
    Loki,
    /// Prometheus' query API (`/api/v1/query`, `/series`, ...).
    Prometheus,
}

impl QueryFamily {
    const ALL: [QueryFamily; 5] = [
        QueryFamily::Native,
        QueryFamily::Export,
        QueryFamily::Jaeger,
        QueryFamily::Loki,
        QueryFamily::Prometheus,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueryFamily::Native => "native",
            QueryFamily::Export => "export",
            QueryFamily::Jaeger => "jaeger",
            QueryFamily::Loki => "loki",
            QueryFamily::Prometheus => "prometheus",
        }
    }

    /// The family a request path belongs to; `None` for what is not a query (the UI's files,
    /// the health probes, `/metrics` itself).
    pub fn of_path(path: &str) -> Option<QueryFamily> {
        if path.starts_with("/api/v1/export/") {
            Some(QueryFamily::Export)
        } else if PROMETHEUS_PATHS.iter().any(|p| path.starts_with(p)) {
            Some(QueryFamily::Prometheus)
        } else if path.starts_with("/api/v1/") {
            Some(QueryFamily::Native)
        } else if path.starts_with("/loki/") {
            Some(QueryFamily::Loki)
        } else if path.starts_with("/api/") {
            Some(QueryFamily::Jaeger)
        } else {
            None
        }
    }
}

/// The paths of Prometheus' query API (the rest of `/api/v1/` is otelite's own).
const PROMETHEUS_PATHS: [&str; 10] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/query_exemplars",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/",
    "/api/v1/metadata",
    "/api/v1/status/buildinfo",
    "/api/v1/rules",
    "/api/v1/alerts",
];

/// Upper bounds of the latency buckets, in seconds (the last bucket, `+Inf`, is implied).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A Prometheus histogram of durations with [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket, not cumulative (rendering adds them up).
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The upper bound of the bucket holding the `q` quantile (0..=1), in seconds: what the
    /// status page shows as p50 and p99. `None` before the first observation; `f64::INFINITY`
    /// when the quantile lies past the last bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |bound| bound.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// What the `/metrics` handler reads from the store and the state for one scrape.
#[derive(Debug, Clone, Default)]
pub struct StoreGauges {
    pub disk_bytes: u64,
    /// Each signal's segment files, in `Signal::ALL` order (the index file is apart).
    pub signal_disk_bytes: [u64; 3],
    /// Hour partitions retention has dropped per signal since start.
    pub retention_drops: [u64; 3],
    /// Bytes submitted to the store and not yet durable.
    pub ingest_queue_bytes: u64,
    pub stored_items: [u64; 3],
    pub commits: u64,
    pub compaction_backlog_bytes: u64,
    pub memory_in_use_bytes: u64,
    pub memory_limit_bytes: u64,
    pub decode_slots_in_use: u64,
    pub decode_slots: u64,
    /// Metric series active now (see `--max-series-per-metric`).
    pub active_series: u64,
    pub writes_ok: bool,
}

/// Everything otelite counts about itself since start.
#[derive(Debug)]
pub struct Telemetry {
    started_unix: f64,
    accepted: [AtomicU64; 3],
    refused_items: [[AtomicU64; Refusal::ALL.len()]; 3],
    refused_requests: [[[AtomicU64; Refusal::ALL.len()]; 2]; 3],
    /// From the request's arrival to its answer, per signal and transport.
    export_latency: [[Histogram; 2]; 3],
    /// From handing a batch to the store to the store calling back that it is durable.
    durable_latency: Histogram,
    queries: [Histogram; QueryFamily::ALL.len()],
    query_errors: [AtomicU64; QueryFamily::ALL.len()],
    query_timeouts: [AtomicU64; QueryFamily::ALL.len()],
    /// Per signal: attributes dropped, values cut, span events dropped, span links dropped.
    truncations: [[AtomicU64; 4]; 3],
    refusal_log: RefusalLog,
}

/// The `what` label of `otelite_limited_total`, in the order of [`Telemetry::truncations`].
const LIMITED: [&str; 4] = [
    "attributes_dropped",
    "values_truncated",
    "events_dropped",
    "links_dropped",
];

impl Default for Telemetry {
    fn default() -> Self {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Telemetry {
            started_unix,
            accepted: Default::default(),
            refused_items: Default::default(),
            refused_requests: Default::default(),
            export_latency: Default::default(),
            durable_latency: Histogram::default(),
            queries: Default::default(),
            query_errors: Default::default(),
            query_timeouts: Default::default(),
            truncations: Default::default(),
            refusal_log: RefusalLog::default(),
        }
    }
}

impl Telemetry {
    /// `items` of `signal` are durable.
    pub fn accepted(&self, signal: Signal, items: u64) {
        self.accepted[signal_index(signal)].fetch_add(items, Ordering::Relaxed);
    }

    /// What validation removed from one request, by reason.
    pub fn rejected(&self, signal: Signal, rejections: &Rejections) {
        for reason in RejectReason::ALL {
            let n = rejections.count_for(reason);
            if n > 0 {
                self.refused(signal, Refusal::of_rejection(reason), n);
            }
        }
    }

    /// What the item limits dropped or cut from one request of `signal`.
    pub fn truncated(&self, signal: Signal, done: &Truncations) {
        let counts = [
            done.attributes_dropped,
            done.values_truncated,
            done.events_dropped,
            done.links_dropped,
        ];
        for (counter, n) in self.truncations[signal_index(signal)].iter().zip(counts) {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// `items` of `signal` were refused for `reason`.
    pub fn refused(&self, signal: Signal, reason: Refusal, items: u64) {
        self.refused_items[signal_index(signal)][reason as usize]
            .fetch_add(items, Ordering::Relaxed);
    }

    /// Items of `signal` refused since start, for every reason.
    pub fn refused_total(&self, signal: Signal) -> u64 {
        self.refused_items[signal_index(signal)]
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Items of `signal` refused since start for each reason that refused any.
    pub fn refused_by_reason(&self, signal: Signal) -> Vec<(&'static str, u64)> {
        Refusal::ALL
            .iter()
            .map(|reason| {
                let n = self.refused_items[signal_index(signal)][*reason as usize]
                    .load(Ordering::Relaxed);
                (reason.name(), n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn accepted_total(&self, signal: Signal) -> u64 {
        self.accepted[signal_index(signal)].load(Ordering::Relaxed)
    }

    /// One export request was answered after `elapsed`, refused for `refusal` if `Some`.
    pub fn export_answered(
        &self,
        signal: Signal,
        transport: Transport,
        elapsed: Duration,
        refusal: Option<Refusal>,
    ) {
        let (s, t) = (signal_index(signal), transport as usize);
        self.export_latency[s][t].observe(elapsed);
        if let Some(reason) = refusal {
            self.refused_requests[s][t][reason as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Export requests of `signal` over `transport` refused for `reason` since start.
    pub fn requests_refused(&self, signal: Signal, transport: Transport, reason: Refusal) -> u64 {
        self.refused_requests[signal_index(signal)][transport as usize][reason as usize]
            .load(Ordering::Relaxed)
    }

    /// The export latency histogram of `signal` over both transports' buckets, for the status
    /// page: the quantile `q` in seconds.
    pub fn export_latency_quantile(&self, signal: Signal, q: f64) -> Option<f64> {
        let merged = Histogram::default();
        for histogram in &self.export_latency[signal_index(signal)] {
            for (into, from) in merged.buckets.iter().zip(&histogram.buckets) {
                into.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            merged.count.fetch_add(histogram.count(), Ordering::Relaxed);
        }
        merged.quantile(q)
    }

    pub fn durable(&self, elapsed: Duration) {
        self.durable_latency.observe(elapsed);
    }

    /// A query of `family` was answered after `elapsed`; `failed` if with a 5xx status.
    pub fn query_answered(&self, family: QueryFamily, elapsed: Duration, failed: bool) {
        self.queries[family as usize].observe(elapsed);
        if failed {
            self.query_errors[family as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn query_timed_out(&self, family: QueryFamily) {
        self.query_timeouts[family as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Logs one refused export, at most one line per (signal, reason) a second: a flood of bad
    /// requests reports how many lines it suppressed instead of filling the log. Never logs
    /// bodies or headers.
    pub fn log_refusal(
        &self,
        signal: Signal,
        transport: Transport,
        reason: Refusal,
        items: Option<u64>,
        message: &dyn std::fmt::Display,
    ) {
        let Some(suppressed) = self.refusal_log.admit(signal, reason, Instant::now()) else {
            return;
        };
        let server_side = matches!(
            reason,
            Refusal::DiskFull | Refusal::StorageError | Refusal::Internal
        );
        let (signal, transport, reason) = (signal.name(), transport.name(), reason.name());
        if server_side {
            tracing::warn!(
                signal,
                transport,
                reason,
                items,
                suppressed,
                "export refused: {message}"
            );
        } else {
            tracing::info!(
                signal,
                transport,
                reason,
                items,
                suppressed,
                "export refused: {message}"
            );
        }
    }

    /// The Prometheus text exposition of every metric, with `store` as read for this scrape.
    pub fn render(&self, store: &StoreGauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let (version, commit) = version_and_commit(crate::VERSION);
        header(
            &mut out,
            "otelite_build_info",
            "gauge",
            "otelite's version and the commit it was built from; always 1.",
        );
        let _ = writeln!(
            out,
            "otelite_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            escape(version),
            escape(commit)
        );
        header(
            &mut out,
            "otelite_start_time_seconds",
            "gauge",
            "When the process started, in seconds since the Unix epoch.",
        );
        let _ = writeln!(out, "otelite_start_time_seconds {}", self.started_unix);

        header(
            &mut out,
            "otelite_items_accepted_total",
            "counter",
            "Spans, metric data points and log records stored durably and acknowledged.",
        );
        for signal in SIGNALS {
            let n = self.accepted_total(signal);
            let _ = writeln!(
                out,
                "otelite_items_accepted_total{{signal=\"{}\"}} {n}",
                signal.name()
            );
        }
        header(
            &mut out,
            "otelite_items_refused_total",
            "counter",
            "Items refused, by reason: removed by validation (partial success) or in requests that failed as a whole after decoding.",
        );
        for signal in SIGNALS {
            for reason in Refusal::ALL {
                let n = self.refused_items[signal_index(signal)][reason as usize]
                    .load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "otelite_items_refused_total{{signal=\"{}\",reason=\"{}\"}} {n}",
                    signal.name(),
                    reason.name()
                );
            }
        }
        header(
            &mut out,
            "otelite_limited_total",
            "counter",
            "What the item limits removed from accepted items (also counted in their OTLP dropped_*_count fields): attributes dropped, values truncated, span events and links dropped.",
        );
        for signal in SIGNALS {
            for (what, n) in LIMITED.iter().zip(&self.truncations[signal_index(signal)]) {
                let n = n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "otelite_limited_total{{signal=\"{}\",what=\"{what}\"}} {n}",
                    signal.name()
                );
            }
        }
        header(
            &mut out,
            "otelite_export_requests_refused_total",
            "counter",
            "OTLP export requests answered with an error, by reason.",
        );
        for signal in SIGNALS {
            for transport in Transport::ALL {
                for reason in Refusal::ALL {
                    let n = self.refused_requests[signal_index(signal)][transport as usize]
                        [reason as usize]
                        .load(Ordering::Relaxed);
                    let _ = writeln!(
                        out,
                        "otelite_export_requests_refused_total{{signal=\"{}\",transport=\"{}\",reason=\"{}\"}} {n}",
                        signal.name(),
                        transport.name(),
                        reason.name()
                    );
                }
            }
        }
        header(
            &mut out,
            "otelite_export_duration_seconds",
            "histogram",
            "Time from an OTLP export request's arrival to its answer (after the data is durable).",
        );
        for signal in SIGNALS {
            for transport in Transport::ALL {
                let labels = format!(
                    "signal=\"{}\",transport=\"{}\"",
                    signal.name(),
                    transport.name()
                );
                self.export_latency[signal_index(signal)][transport as usize].render(
                    &mut out,
                    "otelite_export_duration_seconds",
                    &labels,
                );
            }
        }
        header(
            &mut out,
            "otelite_store_commit_duration_seconds",
            "histogram",
            "Time from handing a batch to the store to the store reporting it durable (queueing plus group commit).",
        );
        self.durable_latency
            .render(&mut out, "otelite_store_commit_duration_seconds", "");
        header(
            &mut out,
            "otelite_store_commits_total",
            "counter",
            "Durable write transactions committed since the store was opened (each holds one or more batches).",
        );
        let _ = writeln!(out, "otelite_store_commits_total {}", store.commits);

        header(
            &mut out,
            "otelite_ingest_memory_bytes",
            "gauge",
            "Memory held by OTLP requests in flight (bodies, decompressed and decoded), charged to --max-memory.",
        );
        let _ = writeln!(
            out,
            "otelite_ingest_memory_bytes {}",
            store.memory_in_use_bytes
        );
        header(
            &mut out,
            "otelite_ingest_memory_limit_bytes",
            "gauge",
            "The memory budget of OTLP requests in flight (--max-memory).",
        );
        let _ = writeln!(
            out,
            "otelite_ingest_memory_limit_bytes {}",
            store.memory_limit_bytes
        );
        header(
            &mut out,
            "otelite_decode_slots_in_use",
            "gauge",
            "Requests being decoded and validated now (at most one per core).",
        );
        let _ = writeln!(
            out,
            "otelite_decode_slots_in_use {}",
            store.decode_slots_in_use
        );
        header(
            &mut out,
            "otelite_decode_slots",
            "gauge",
            "Requests that may be decoded at the same time.",
        );
        let _ = writeln!(out, "otelite_decode_slots {}", store.decode_slots);
        header(
            &mut out,
            "otelite_active_metric_series",
            "gauge",
            "Metric series that received a point within the last one to two hours (--max-active-series bounds it).",
        );
        let _ = writeln!(out, "otelite_active_metric_series {}", store.active_series);

        header(
            &mut out,
            "otelite_disk_bytes",
            "gauge",
            "Size of the data directory: the index and every segment file.",
        );
        let _ = writeln!(out, "otelite_disk_bytes {}", store.disk_bytes);
        header(
            &mut out,
            "otelite_ingest_queue_bytes",
            "gauge",
            "Bytes of accepted data waiting for the store's next group commit (--max-ingest-queue bounds it).",
        );
        let _ = writeln!(
            out,
            "otelite_ingest_queue_bytes {}",
            store.ingest_queue_bytes
        );
        per_signal(
            &mut out,
            (
                "otelite_signal_disk_bytes",
                "gauge",
                "Size of each signal's segment files, measured on the files.",
            ),
            store.signal_disk_bytes,
        );
        per_signal(
            &mut out,
            (
                "otelite_retention_dropped_partitions_total",
                "counter",
                "Hour partitions retention has deleted (age or disk budget) since start.",
            ),
            store.retention_drops,
        );
        per_signal(
            &mut out,
            (
                "otelite_stored_items",
                "gauge",
                "Spans, metric data points and log records in the store.",
            ),
            store.stored_items,
        );
        header(
            &mut out,
            "otelite_compaction_backlog_bytes",
            "gauge",
            "Uncompressed bytes of trace row blocks waiting for the compactor.",
        );
        let _ = writeln!(
            out,
            "otelite_compaction_backlog_bytes {}",
            store.compaction_backlog_bytes
        );
        header(
            &mut out,
            "otelite_store_writable",
            "gauge",
            "1 while the store can write, 0 while writes fail (see /readyz for the reason).",
        );
        let _ = writeln!(out, "otelite_store_writable {}", u8::from(store.writes_ok));

        header(
            &mut out,
            "otelite_query_duration_seconds",
            "histogram",
            "Time to answer a query API request (to its response headers for streamed exports), by API family.",
        );
        for family in QueryFamily::ALL {
            let labels = format!("family=\"{}\"", family.name());
            self.queries[family as usize].render(
                &mut out,
                "otelite_query_duration_seconds",
                &labels,
            );
        }
        let counts = |counters: &[AtomicU64]| {
            QueryFamily::ALL.map(|family| counters[family as usize].load(Ordering::Relaxed))
        };
        per_family(
            &mut out,
            (
                "otelite_query_errors_total",
                "counter",
                "Query API requests answered with a server error (5xx), timeouts included.",
            ),
            counts(&self.query_errors),
        );
        per_family(
            &mut out,
            (
                "otelite_query_timeouts_total",
                "counter",
                "Query API requests that ran past --query-timeout.",
            ),
            counts(&self.query_timeouts),
        );
        out
    }
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// A metric with one sample per signal: `(name, type, help)` and the values in `Signal::ALL`
/// order.
fn per_signal(out: &mut String, (name, kind, help): (&str, &str, &str), values: [u64; 3]) {
    header(out, name, kind, help);
    for signal in SIGNALS {
        let value = values[signal_index(signal)];
        let _ = writeln!(out, "{name}{{signal=\"{}\"}} {value}", signal.name());
    }
}

/// A metric with one sample per query API family, values in `QueryFamily::ALL` order.
fn per_family<const N: usize>(
    out: &mut String,
    (name, kind, help): (&str, &str, &str),
    values: [u64; N],
) {
    header(out, name, kind, help);
    for (family, value) in QueryFamily::ALL.iter().zip(values) {
        let _ = writeln!(out, "{name}{{family=\"{}\"}} {value}", family.name());
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the exposition format quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `0.1.0 (3f2a9c1d04be)` → (`0.1.0`, `3f2a9c1d04be`).
fn version_and_commit(version: &str) -> (&str, &str) {
    match version.split_once(" (") {
        Some((version, rest)) => (version, rest.trim_end_matches(')')),
        None => (version, "unknown"),
    }
}

/// When each (signal, reason) last logged, and how many refusals it has held back since.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Mutex<[[Option<LastLine>; Refusal::ALL.len()]; 3]>,
}

/// When a (signal, reason) last logged, and how many refusals it has held back since.
type LastLine = (Instant, u64);

impl RefusalLog {
    const INTERVAL: Duration = Duration::from_secs(1);

    /// `Some(suppressed)` if a line may be logged now (with how many were held back since the
    /// last one); `None` if this refusal is only counted.
    fn admit(&self, signal: Signal, reason: Refusal, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let entry = &mut last[signal_index(signal)][reason as usize];
        match entry {
            Some((at, suppressed)) if now.duration_since(*at) < Self::INTERVAL => {
                *suppressed += 1;
                None
            }
            _ => {
                let suppressed = entry.map_or(0, |(_, n)| n);
                *entry = Some((now, 0));
                Some(suppressed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `text` as a scraper reads it: every metric has HELP and TYPE before its samples,
    /// every sample line is `name{labels} value` with a number, every name starts `otelite_`.
    fn parse(text: &str) -> Vec<(String, String, f64)> {
        let mut typed = std::collections::HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                typed.insert(name.to_string());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "stray line {line:?}"
            );
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("closed labels");
                    for pair in labels.split(',') {
                        let (key, quoted) = pair.split_once('=').expect("label=value");
                        assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                        assert!(quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
                    }
                    (name, labels)
                }
                None => (series, ""),
            };
            assert!(name.starts_with("otelite_"), "{line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(typed.contains(family), "{name} has no TYPE line before it");
            samples.push((name.to_string(), labels.to_string(), value));
        }
        samples
    }

    fn value(samples: &[(String, String, f64)], name: &str, labels: &str) -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}}"))
            .2
    }

    #[test]
    fn the_exposition_parses_and_counts_what_happened() {
        let telemetry = Telemetry::default();
        telemetry.accepted(Signal::Logs, 5);
        telemetry.refused(Signal::Traces, Refusal::TooOld, 2);
        telemetry.export_answered(
            Signal::Traces,
            Transport::Http,
            Duration::from_millis(3),
            Some(Refusal::Overloaded),
        );
        telemetry.query_answered(QueryFamily::Loki, Duration::from_secs(100), true);
        let text = telemetry.render(&StoreGauges {
            disk_bytes: 4096,
            signal_disk_bytes: [1, 2, 3],
            retention_drops: [0, 0, 7],
            ingest_queue_bytes: 512,
            ..StoreGauges::default()
        });
        let samples = parse(&text);
        assert_eq!(
            value(&samples, "otelite_items_accepted_total", "signal=\"logs\""),
            5.0
        );
        assert_eq!(
            value(
                &samples,
                "otelite_items_refused_total",
                "signal=\"traces\",reason=\"too_old\""
            ),
            2.0
        );
        let labels = "signal=\"traces\",transport=\"http\"";
        assert_eq!(
            value(
                &samples,
                "otelite_export_duration_seconds_bucket",
                &format!("{labels},le=\"0.0025\"")
            ),
            0.0
        );
        assert_eq!(
            value(
                &samples,
                "otelite_export_duration_seconds_bucket",
                &format!("{labels},le=\"0.005\"")
            ),
            1.0
        );
        assert_eq!(
            value(&samples, "otelite_export_duration_seconds_count", labels),
            1.0
        );
        // Past the last bound: only +Inf holds it.
        let loki = "family=\"loki\"";
        assert_eq!(
            value(
                &samples,
                "otelite_query_duration_seconds_bucket",
                &format!("{loki},le=\"30\"")
            ),
            0.0
        );
        assert_eq!(
            value(
                &samples,
                "otelite_query_duration_seconds_bucket",
                &format!("{loki},le=\"+Inf\"")
            ),
            1.0
        );
        assert_eq!(value(&samples, "otelite_query_errors_total", loki), 1.0);
        assert_eq!(value(&samples, "otelite_disk_bytes", ""), 4096.0);
        assert_eq!(
            value(&samples, "otelite_signal_disk_bytes", "signal=\"metrics\""),
            2.0
        );
        assert_eq!(value(&samples, "otelite_ingest_queue_bytes", ""), 512.0);
        assert_eq!(
            value(
                &samples,
                "otelite_retention_dropped_partitions_total",
                "signal=\"logs\""
            ),
            7.0
        );
        assert!(text.contains("otelite_build_info{version=\""), "{text}");
    }

    #[test]
    fn quantiles_are_bucket_bounds() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.5), None);
        for _ in 0..99 {
            histogram.observe(Duration::from_millis(2));
        }
        histogram.observe(Duration::from_secs(60));
        assert_eq!(histogram.quantile(0.5), Some(0.0025));
        assert_eq!(histogram.quantile(0.99), Some(0.0025));
        assert_eq!(histogram.quantile(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn a_flood_of_refusals_logs_once_a_second_with_the_count_it_held_back() {
        let log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.admit(Signal::Traces, Refusal::Invalid, start), Some(0));
        for i in 1..=5 {
            let at = start + Duration::from_millis(i * 100);
            assert_eq!(log.admit(Signal::Traces, Refusal::Invalid, at), None);
        }
        // Another reason has its own allowance.
        assert_eq!(log.admit(Signal::Traces, Refusal::TooOld, start), Some(0));
        let later = start + Duration::from_millis(1_100);
        assert_eq!(log.admit(Signal::Traces, Refusal::Invalid, later), Some(5));
    }

    #[test]
    fn query_families_come_from_the_path_not_its_values() {
        assert_eq!(
            QueryFamily::of_path("/api/v1/traces/abc"),
            Some(QueryFamily::Native)
        );
        assert_eq!(
            QueryFamily::of_path("/api/v1/export/logs"),
            Some(QueryFamily::Export)
        );
        assert_eq!(
            QueryFamily::of_path("/api/v3/traces/abc"),
            Some(QueryFamily::Jaeger)
        );
        assert_eq!(
            QueryFamily::of_path("/api/services"),
            Some(QueryFamily::Jaeger)
        );
        assert_eq!(
            QueryFamily::of_path("/loki/api/v1/query_range"),
            Some(QueryFamily::Loki)
        );
        assert_eq!(QueryFamily::of_path("/metrics"), None);
        assert_eq!(QueryFamily::of_path("/traces/abc"), None);
    }
}
