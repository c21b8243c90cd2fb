//! otelite's configuration: command-line flags, `OTELITE_*` environment variables and an
//! optional TOML file, merged once at startup into a validated [`Config`].
//!
//! Precedence is flag > environment variable > file > built-in default. Everything a user can get
//! wrong is caught here, before any port is bound, with a message that says what to fix.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::otlp::{ItemLimits, SeriesLimits, TimeWindow};

/// The validated settings the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: IpAddr,
    pub grpc_port: u16,
    pub http_port: u16,
    pub ui_port: u16,
    pub log_level: String,
    /// Largest OTLP request body accepted, after decompression.
    pub max_request_bytes: usize,
    /// Bytes of acknowledged-pending data the ingest queue may hold before it pushes back.
    pub max_ingest_queue_bytes: usize,
    /// Memory all export requests in flight may hold together (bodies, decompressed and
    /// decoded) before clients are told to retry.
    pub max_memory_bytes: usize,
    /// Items older than this (by the server clock) are refused; `None` accepts any age.
    pub max_item_age: Option<Duration>,
    /// Items further ahead of the server clock than this are refused; `None` accepts any.
    pub max_item_future: Option<Duration>,
    /// How long a partition's trace row blocks stay untouched before the compactor rewrites
    /// them into columnar blocks grouped by trace.
    pub compaction_delay: Duration,
    /// Per signal (traces, metrics, logs), how long data is kept; `None` keeps it forever.
    pub retention: [Option<Duration>; 3],
    /// Bytes the data directory may take in all; `None`: no budget.
    pub max_disk: Option<u64>,
    /// Per signal (traces, metrics, logs), bytes its data may take; `None`: no budget.
    pub max_disk_per_signal: [Option<u64>; 3],
    /// Not a setting (the defaults suit every deployment); tests shorten them.
    pub timeouts: ConnectionTimeouts,
    /// What one span or log record may carry (attributes, value length, events, links).
    pub item_limits: ItemLimits,
    /// How many metric series may be active, per metric name and in all.
    pub series_limits: SeriesLimits,
    /// How long a query API request may run; `None` waits for any.
    pub query_timeout: Option<Duration>,
    /// The longest time range a metric query (PromQL or LogQL) may cover; `None`: any.
    pub query_max_range: Option<Duration>,
    /// The most series one PromQL selector may load.
    pub query_max_series: usize,
    /// The most traces one trace search may return.
    pub query_max_traces: usize,
    /// The most log records one log query answer may hold.
    pub query_max_lines: usize,
    // Security: who may send and read data, and whether connections are encrypted.
    /// The bearer token OTLP clients must send on the gRPC and HTTP ports; `None`: no check.
    pub ingest_token: Option<Token>,
    /// The bearer token the query APIs ask of clients (the UI's static files stay open).
    pub query_token: Option<Token>,
    /// The certificate and key every listener serves TLS with; `None`: plain TCP.
    pub tls: Option<TlsFiles>,
}

/// A bearer token. Its `Debug` never shows it, so no log line or error message can leak it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Token(String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl std::str::FromStr for Token {
    type Err = String;

    fn from_str(text: &str) -> Result<Token, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a token cannot be empty".to_string());
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a token must be printable ASCII without spaces, as a bearer token in an Authorization header is".to_string());
        }
        Ok(Token(text.to_string()))
    }
}

impl TryFrom<String> for Token {
    type Error = String;

    fn try_from(text: String) -> Result<Token, String> {
        text.parse()
    }
}

/// The PEM files of `--tls-cert` and `--tls-key`, loaded when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The default of `--query-max-range`: a month, as Loki's default `max_query_length` (721 h).
pub const DEFAULT_QUERY_MAX_RANGE: Duration = Duration::from_secs(30 * 86_400);

/// The default of `--query-max-series`: far more than a chart can show, few enough that one
/// query's series fit in memory beside everything else.
pub const DEFAULT_QUERY_MAX_SERIES: usize = 50_000;

/// The default of `--query-max-traces`: Jaeger's UI offers up to 1,500; a thousand whole traces
/// is already a large answer.
pub const DEFAULT_QUERY_MAX_TRACES: usize = 1_000;

/// The default of `--query-max-lines`: Loki's `max_entries_limit_per_query`.
pub const DEFAULT_QUERY_MAX_LINES: usize = 5_000;

/// The default of `--query-timeout`: as long as Loki and Grafana wait for a query by default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long otelite waits on a client before it gives up on the connection, so that no client,
/// slow, stalled or hostile, can hold a connection (and what it pins) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// A new connection must send its first request's headers (or, over HTTP/2, the connection
    /// preface) within this; so must every later HTTP/1 request, counted from the end of the
    /// previous one, which makes it also the time an idle HTTP/1 connection is kept open.
    pub header_read: Duration,
    /// An HTTP/2 connection (every gRPC client's) that has been quiet this long is pinged...
    pub http2_keep_alive_interval: Duration,
    /// ...and closed if the ping is not answered within this.
    pub http2_keep_alive_timeout: Duration,
    /// A client that takes nothing of what otelite sends for this long (its socket stays full,
    /// or an export stream is not read) is disconnected.
    pub stalled_client: Duration,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        ConnectionTimeouts {
            header_read: Duration::from_secs(30),
            http2_keep_alive_interval: Duration::from_secs(60),
            http2_keep_alive_timeout: Duration::from_secs(20),
            stalled_client: Duration::from_secs(60),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./otelite-data"),
            bind: IpAddr::from([127, 0, 0, 1]),
            grpc_port: 4317,
            http_port: 4318,
            ui_port: 16686,
            log_level: "info".to_string(),
            max_request_bytes: 16 * 1024 * 1024,
            max_ingest_queue_bytes: 256 * 1024 * 1024,
            max_memory_bytes: 128 * 1024 * 1024,
            timeouts: ConnectionTimeouts::default(),
            max_item_age: Some(TimeWindow::DEFAULT_MAX_AGE),
            max_item_future: Some(TimeWindow::DEFAULT_MAX_FUTURE),
            compaction_delay: otelite_storage::StoreOptions::DEFAULT_COMPACTION_IDLE,
            retention: [Some(DEFAULT_RETENTION); 3],
            max_disk: None,
            max_disk_per_signal: [None; 3],
            item_limits: ItemLimits::default(),
            series_limits: SeriesLimits::default(),
            query_timeout: Some(DEFAULT_QUERY_TIMEOUT),
            query_max_range: Some(DEFAULT_QUERY_MAX_RANGE),
            query_max_series: DEFAULT_QUERY_MAX_SERIES,
            query_max_traces: DEFAULT_QUERY_MAX_TRACES,
            query_max_lines: DEFAULT_QUERY_MAX_LINES,
            ingest_token: None,
            query_token: None,
            tls: None,
        }
    }
}

/// A week, as long as items may be late (`--max-item-age`): what a laptop or an edge box can
/// hold of a busy service, and what a developer looks back on.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl Config {
    /// A configuration for tests and embedding: every port 0 (the OS picks), data in `data_dir`.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            grpc_port: 0,
            http_port: 0,
            ui_port: 0,
            ..Config::default()
        }
    }
}

/// The `otelite` command line.
#[derive(Debug, Parser)]
#[command(
    name = "otelite",
    version = crate::VERSION,
    about = "One binary that receives OpenTelemetry traces, metrics and logs over OTLP, stores them and serves a web UI.",
    args_conflicts_with_subcommands = false
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (what `otelite` does with no subcommand).
    Serve,
    /// Ask a running otelite whether it is ready; exit 0 if so, 1 if not. For container health checks.
    Health,
    /// Send realistic telemetry to a running otelite as fast as it takes it (or at --rate), then
    /// report the rate and latency and check that nothing acknowledged was lost.
    Loadgen(crate::loadgen::LoadgenArgs),
    /// The benchmarks' reference receiver: OTLP/gRPC that decodes and discards.
    #[command(hide = true)]
    LoadgenSink(crate::loadgen::sink::SinkArgs),
}

/// Every setting, each also readable from `OTELITE_<NAME>` and from the TOML file.
#[derive(Debug, Default, Args, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Read settings from this TOML file (keys as the long flags: data = "...", grpc-port = 4317).
    #[arg(long, env = "OTELITE_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory where otelite keeps its data [default: ./otelite-data].
    #[arg(long, env = "OTELITE_DATA", global = true)]
    pub data: Option<PathBuf>,
    /// Address to listen on; 0.0.0.0 to accept connections from other machines [default: 127.0.0.1].
    #[arg(long, env = "OTELITE_BIND", global = true)]
    pub bind: Option<IpAddr>,
    /// Port for OTLP over gRPC [default: 4317].
    #[arg(long, env = "OTELITE_GRPC_PORT", global = true)]
    pub grpc_port: Option<u16>,
    /// Port for OTLP over HTTP [default: 4318].
    #[arg(long, env = "OTELITE_HTTP_PORT", global = true)]
    pub http_port: Option<u16>,
    /// Port for the web UI and the query APIs [default: 16686].
    #[arg(long, env = "OTELITE_UI_PORT", global = true)]
    pub ui_port: Option<u16>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive such as `otelite=debug` [default: info].
    #[arg(long, env = "OTELITE_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Largest OTLP request accepted after decompression, e.g. 16MiB [default: 16MiB].
    #[arg(long, env = "OTELITE_MAX_REQUEST_SIZE", global = true)]
    pub max_request_size: Option<String>,
    /// Memory the ingest queue may hold while data waits for the disk, e.g. 256MiB; past it clients are told to retry [default: 256MiB].
    #[arg(long, env = "OTELITE_MAX_INGEST_QUEUE", global = true)]
    pub max_ingest_queue: Option<String>,
    /// Memory all OTLP requests being received and decoded may hold together, e.g. 128MiB; past it clients are told to retry. At least twice max-request-size [default: 128MiB].
    #[arg(long, env = "OTELITE_MAX_MEMORY", global = true)]
    pub max_memory: Option<String>,
    /// Refuse items (spans by start time, metric points, log records) older than this, e.g. 7d or 12h; 0 or unlimited accepts any age, to replay old data [default: 7d].
    #[arg(long, env = "OTELITE_MAX_ITEM_AGE", global = true)]
    pub max_item_age: Option<String>,
    /// Refuse items timed further than this ahead of the server clock, e.g. 1h or 10m; 0 or unlimited accepts any [default: 1h].
    #[arg(long, env = "OTELITE_MAX_ITEM_FUTURE", global = true)]
    pub max_item_future: Option<String>,
    /// How long an hour's newly stored spans stay as received before they are rewritten into compact columnar blocks grouped by trace (sooner once they add up to 32 MiB), e.g. 30s; 0 compacts at once [default: 30s].
    #[arg(long, env = "OTELITE_COMPACTION_DELAY", global = true)]
    pub compaction_delay: Option<String>,
    /// Keep data this long, e.g. 7d or 12h; older hours are deleted, and items older than this are refused. 0 or unlimited keeps everything [default: 7d].
    #[arg(long, env = "OTELITE_RETENTION", global = true)]
    pub retention: Option<String>,
    /// Keep traces this long, instead of --retention.
    #[arg(long, env = "OTELITE_RETENTION_TRACES", global = true)]
    pub retention_traces: Option<String>,
    /// Keep metrics this long, instead of --retention.
    #[arg(long, env = "OTELITE_RETENTION_METRICS", global = true)]
    pub retention_metrics: Option<String>,
    /// Keep logs this long, instead of --retention.
    #[arg(long, env = "OTELITE_RETENTION_LOGS", global = true)]
    pub retention_logs: Option<String>,
    /// Disk the data directory may use, e.g. 10GiB; past it the oldest hours are deleted (within one hour's worth). unlimited for no budget [default: unlimited].
    #[arg(long, env = "OTELITE_MAX_DISK", global = true)]
    pub max_disk: Option<String>,
    /// Disk traces may use, e.g. 4GiB; past it their oldest hours are deleted [default: unlimited].
    #[arg(long, env = "OTELITE_MAX_DISK_TRACES", global = true)]
    pub max_disk_traces: Option<String>,
    /// Disk metrics may use [default: unlimited].
    #[arg(long, env = "OTELITE_MAX_DISK_METRICS", global = true)]
    pub max_disk_metrics: Option<String>,
    /// Disk logs may use [default: unlimited].
    #[arg(long, env = "OTELITE_MAX_DISK_LOGS", global = true)]
    pub max_disk_logs: Option<String>,

    // What one item and one query may cost (README, "Limits").
    /// Attributes kept per resource, scope, span, span event, span link and log record; the rest are dropped and counted in OTLP's dropped_attributes_count [default: 1024].
    #[arg(long, env = "OTELITE_MAX_ATTRIBUTES", global = true)]
    pub max_attributes: Option<usize>,
    /// Longest string or bytes attribute value kept, e.g. 4KiB; longer ones are cut (strings at a UTF-8 character boundary), as the OpenTelemetry SDKs' attribute length limit does [default: 64KiB].
    #[arg(long, env = "OTELITE_MAX_ATTRIBUTE_VALUE_SIZE", global = true)]
    pub max_attribute_value_size: Option<String>,
    /// Events kept per span; the rest are dropped and counted in dropped_events_count [default: 1024].
    #[arg(long, env = "OTELITE_MAX_SPAN_EVENTS", global = true)]
    pub max_span_events: Option<usize>,
    /// Links kept per span; the rest are dropped and counted in dropped_links_count [default: 1024].
    #[arg(long, env = "OTELITE_MAX_SPAN_LINKS", global = true)]
    pub max_span_links: Option<usize>,
    /// Metric series active at once under one metric name (a series is active until an hour passes without a point); points that would start another are refused through partial success. unlimited for no limit [default: 20000].
    #[arg(long, env = "OTELITE_MAX_SERIES_PER_METRIC", global = true)]
    pub max_series_per_metric: Option<CountLimit>,
    /// Metric series active at once, all metrics together; bounds the memory that counting them takes (about 50 bytes each). unlimited for no limit [default: 1000000].
    #[arg(long, env = "OTELITE_MAX_ACTIVE_SERIES", global = true)]
    pub max_active_series: Option<CountLimit>,
    /// How long a query API request may run before it is answered 503, e.g. 30s or 2m; 0 or unlimited waits for any [default: 1m].
    #[arg(long, env = "OTELITE_QUERY_TIMEOUT", global = true)]
    pub query_timeout: Option<String>,
    /// The longest time range a metric query may cover (PromQL range queries and range selectors, LogQL queries), e.g. 7d; unlimited allows any [default: 30d].
    #[arg(long, env = "OTELITE_QUERY_MAX_RANGE", global = true)]
    pub query_max_range: Option<String>,
    /// The most series one PromQL selector may load; a query selecting more is refused with 422 [default: 50000].
    #[arg(long, env = "OTELITE_QUERY_MAX_SERIES", global = true)]
    pub query_max_series: Option<usize>,
    /// The most traces one trace search may return (the native and Jaeger APIs' limit); a larger limit is refused with 400 [default: 1000].
    #[arg(long, env = "OTELITE_QUERY_MAX_TRACES", global = true)]
    pub query_max_traces: Option<usize>,
    /// The most log records one log search page, Loki query or tail message may hold; a larger native limit is refused with 400, a larger Loki limit is cut to it as Loki does [default: 5000].
    #[arg(long, env = "OTELITE_QUERY_MAX_LINES", global = true)]
    pub query_max_lines: Option<usize>,
    // Security. Tokens are shown by neither `--help` defaults nor `Debug`.
    /// Bearer token required both of OTLP clients and of the query APIs (unless --ingest-token or --query-token sets that side's own) [default: none, no check].
    #[arg(
        long,
        env = "OTELITE_AUTH_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub auth_token: Option<Token>,
    /// File holding the --auth-token (surrounding whitespace is ignored).
    #[arg(long, env = "OTELITE_AUTH_TOKEN_FILE", global = true)]
    pub auth_token_file: Option<PathBuf>,
    /// Bearer token OTLP clients must send (`Authorization: Bearer <token>`, gRPC metadata `authorization` likewise) [default: --auth-token].
    #[arg(
        long,
        env = "OTELITE_INGEST_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub ingest_token: Option<Token>,
    /// File holding the --ingest-token.
    #[arg(long, env = "OTELITE_INGEST_TOKEN_FILE", global = true)]
    pub ingest_token_file: Option<PathBuf>,
    /// Bearer token the query APIs and the UI's data require; the UI asks for it once per browser session [default: --auth-token].
    #[arg(
        long,
        env = "OTELITE_QUERY_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub query_token: Option<Token>,
    /// File holding the --query-token.
    #[arg(long, env = "OTELITE_QUERY_TOKEN_FILE", global = true)]
    pub query_token_file: Option<PathBuf>,
    /// PEM certificate chain to serve TLS with on all three ports (with --tls-key) [default: none, plain TCP].
    #[arg(long, env = "OTELITE_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "OTELITE_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
}

/// A setting that cannot be used, said so that the user knows what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error(
        "{setting} = {value:?} is not a size: write a number of bytes with an optional unit, e.g. 16MiB, 512KiB or 1GB"
    )]
    Size {
        setting: &'static str,
        value: String,
    },
    #[error("{setting} must be at least {min} bytes (got {value})")]
    SizeTooSmall {
        setting: &'static str,
        value: usize,
        min: usize,
    },
    #[error(
        "max-memory ({max_memory} bytes) must be at least twice max-request-size ({max_request} \
         bytes), so that a request of the largest size can be received while others are: raise \
         --max-memory or lower --max-request-size"
    )]
    MemoryBelowRequests {
        max_memory: usize,
        max_request: usize,
    },
    #[error(
        "{setting} = {value:?} is not a duration: write a number with a unit (s, m, h, d or w), e.g. 7d or 30m, or 0 (or unlimited) for no limit"
    )]
    Duration {
        setting: &'static str,
        value: String,
    },
    #[error("log-level {value:?} is not valid: {message}; use error, warn, info, debug or trace")]
    LogLevel { value: String, message: String },
    #[error("--{a} and --{b} are both {port}: give each listener its own port")]
    PortClash {
        a: &'static str,
        b: &'static str,
        port: u16,
    },
    #[error("both {setting} and {setting}-file are set: give the token one way")]
    TokenTwice { setting: &'static str },
    #[error("cannot read {setting}-file {path}: {source}")]
    TokenFile {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{setting}-file {path} does not hold a usable token: {reason}")]
    TokenFileContent {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("--tls-cert and --tls-key go together: {missing} is missing")]
    TlsHalf { missing: &'static str },
}

impl Settings {
    /// Merges flags/env (self) over the TOML file named by `--config` over the defaults.
    pub fn resolve(mut self) -> Result<Config, ConfigError> {
        let mut file = match &self.config {
            Some(path) => read_file(path)?,
            None => Settings::default(),
        };
        let security = (self.take_security(), file.take_security());
        let defaults = Config::default();
        let log_level = self
            .log_level
            .or(file.log_level)
            .unwrap_or(defaults.log_level);
        validate_log_level(&log_level)?;
        let config = Config {
            data_dir: self.data.or(file.data).unwrap_or(defaults.data_dir),
            bind: self.bind.or(file.bind).unwrap_or(defaults.bind),
            grpc_port: self
                .grpc_port
                .or(file.grpc_port)
                .unwrap_or(defaults.grpc_port),
            http_port: self
                .http_port
                .or(file.http_port)
                .unwrap_or(defaults.http_port),
            ui_port: self.ui_port.or(file.ui_port).unwrap_or(defaults.ui_port),
            log_level,
            max_request_bytes: size_setting(
                "max-request-size",
                self.max_request_size.or(file.max_request_size),
                defaults.max_request_bytes,
                1024,
            )?,
            max_ingest_queue_bytes: size_setting(
                "max-ingest-queue",
                self.max_ingest_queue.or(file.max_ingest_queue),
                defaults.max_ingest_queue_bytes,
                1024 * 1024,
            )?,
            max_memory_bytes: size_setting(
                "max-memory",
                self.max_memory.or(file.max_memory),
                defaults.max_memory_bytes,
                1024 * 1024,
            )?,
            timeouts: defaults.timeouts,
            max_item_age: duration_setting(
                "max-item-age",
                self.max_item_age.or(file.max_item_age),
                defaults.max_item_age,
            )?,
            max_item_future: duration_setting(
                "max-item-future",
                self.max_item_future.or(file.max_item_future),
                defaults.max_item_future,
            )?,
            compaction_delay: duration_setting(
                "compaction-delay",
                self.compaction_delay.or(file.compaction_delay),
                Some(defaults.compaction_delay),
            )?
            .unwrap_or(Duration::ZERO),
            retention: [None; 3],
            max_disk: disk_setting("max-disk", self.max_disk.or(file.max_disk))?,
            max_disk_per_signal: [None; 3],
            item_limits: ItemLimits {
                max_attributes: self
                    .max_attributes
                    .or(file.max_attributes)
                    .unwrap_or(defaults.item_limits.max_attributes),
                max_attribute_value_bytes: size_setting(
                    "max-attribute-value-size",
                    self.max_attribute_value_size
                        .or(file.max_attribute_value_size),
                    defaults.item_limits.max_attribute_value_bytes,
                    1,
                )?,
                max_span_events: self
                    .max_span_events
                    .or(file.max_span_events)
                    .unwrap_or(defaults.item_limits.max_span_events),
                max_span_links: self
                    .max_span_links
                    .or(file.max_span_links)
                    .unwrap_or(defaults.item_limits.max_span_links),
            },
            series_limits: SeriesLimits {
                per_metric: self
                    .max_series_per_metric
                    .or(file.max_series_per_metric)
                    .map_or(defaults.series_limits.per_metric, |limit| limit.0),
                active: self
                    .max_active_series
                    .or(file.max_active_series)
                    .map_or(defaults.series_limits.active, |limit| limit.0),
            },
            query_timeout: duration_setting(
                "query-timeout",
                self.query_timeout.or(file.query_timeout),
                defaults.query_timeout,
            )?,
            query_max_range: duration_setting(
                "query-max-range",
                self.query_max_range.or(file.query_max_range),
                defaults.query_max_range,
            )?,
            query_max_series: self
                .query_max_series
                .or(file.query_max_series)
                .unwrap_or(defaults.query_max_series)
                .max(1),
            query_max_traces: self
                .query_max_traces
                .or(file.query_max_traces)
                .unwrap_or(defaults.query_max_traces)
                .max(1),
            query_max_lines: self
                .query_max_lines
                .or(file.query_max_lines)
                .unwrap_or(defaults.query_max_lines)
                .max(1),
            ingest_token: None,
            query_token: None,
            tls: None,
        };
        let retention = duration_setting(
            "retention",
            self.retention.or(file.retention),
            defaults.retention[0],
        )?;
        let mut config = config;
        for (i, (setting, value)) in [
            (
                "retention-traces",
                self.retention_traces.or(file.retention_traces),
            ),
            (
                "retention-metrics",
                self.retention_metrics.or(file.retention_metrics),
            ),
            (
                "retention-logs",
                self.retention_logs.or(file.retention_logs),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            config.retention[i] = match value {
                Some(_) => duration_setting(setting, value, None)?,
                None => retention,
            };
        }
        for (i, (setting, value)) in [
            (
                "max-disk-traces",
                self.max_disk_traces.or(file.max_disk_traces),
            ),
            (
                "max-disk-metrics",
                self.max_disk_metrics.or(file.max_disk_metrics),
            ),
            ("max-disk-logs", self.max_disk_logs.or(file.max_disk_logs)),
        ]
        .into_iter()
        .enumerate()
        {
            config.max_disk_per_signal[i] = disk_setting(setting, value)?;
        }
        let config = resolve_security(config, security.0, security.1)?;
        check_ports(&config)?;
        if config.max_memory_bytes / 2 < config.max_request_bytes {
            return Err(ConfigError::MemoryBelowRequests {
                max_memory: config.max_memory_bytes,
                max_request: config.max_request_bytes,
            });
        }
        Ok(config)
    }
}

/// The security settings of one layer (flags/env, or the file), before they are merged.
struct SecuritySettings {
    auth_token: Option<Token>,
    auth_token_file: Option<PathBuf>,
    ingest_token: Option<Token>,
    ingest_token_file: Option<PathBuf>,
    query_token: Option<Token>,
    query_token_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl Settings {
    fn take_security(&mut self) -> SecuritySettings {
        SecuritySettings {
            auth_token: self.auth_token.take(),
            auth_token_file: self.auth_token_file.take(),
            ingest_token: self.ingest_token.take(),
            ingest_token_file: self.ingest_token_file.take(),
            query_token: self.query_token.take(),
            query_token_file: self.query_token_file.take(),
            tls_cert: self.tls_cert.take(),
            tls_key: self.tls_key.take(),
        }
    }
}

/// Sets the tokens and TLS files of `config`: each setting from flags/env over the file; a
/// side's own token over `auth-token`; a token given both inline and as a file is an error.
fn resolve_security(
    config: Config,
    args: SecuritySettings,
    file: SecuritySettings,
) -> Result<Config, ConfigError> {
    let token = |setting: &'static str,
                 inline: Option<Token>,
                 path: Option<PathBuf>|
     -> Result<Option<Token>, ConfigError> {
        match (inline, path) {
            (Some(_), Some(_)) => Err(ConfigError::TokenTwice { setting }),
            (Some(token), None) => Ok(Some(token)),
            (None, Some(path)) => read_token_file(setting, path).map(Some),
            (None, None) => Ok(None),
        }
    };
    let auth = token(
        "auth-token",
        args.auth_token.or(file.auth_token),
        args.auth_token_file.or(file.auth_token_file),
    )?;
    let ingest = token(
        "ingest-token",
        args.ingest_token.or(file.ingest_token),
        args.ingest_token_file.or(file.ingest_token_file),
    )?;
    let query = token(
        "query-token",
        args.query_token.or(file.query_token),
        args.query_token_file.or(file.query_token_file),
    )?;
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (Some(_), None) => {
            return Err(ConfigError::TlsHalf {
                missing: "--tls-key",
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::TlsHalf {
                missing: "--tls-cert",
            });
        }
        (None, None) => None,
    };
    Ok(Config {
        ingest_token: ingest.or_else(|| auth.clone()),
        query_token: query.or(auth),
        tls,
        ..config
    })
}

fn read_token_file(setting: &'static str, path: PathBuf) -> Result<Token, ConfigError> {
    match std::fs::read_to_string(&path) {
        Err(source) => Err(ConfigError::TokenFile {
            setting,
            path,
            source,
        }),
        Ok(text) => text
            .parse()
            .map_err(|reason| ConfigError::TokenFileContent {
                setting,
                path,
                reason,
            }),
    }
}

fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

fn validate_log_level(value: &str) -> Result<(), ConfigError> {
    tracing_subscriber::EnvFilter::builder()
        .parse(value)
        .map(|_| ())
        .map_err(|e| ConfigError::LogLevel {
            value: value.to_string(),
            message: e.to_string(),
        })
}

/// A limit on a number of things: a whole number, or `unlimited` (also `0`) for none. In the
/// TOML file either a number or the string "unlimited".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CountText")]
pub struct CountLimit(pub Option<usize>);

#[derive(Deserialize)]
#[serde(untagged)]
enum CountText {
    Number(u64),
    Text(String),
}

impl TryFrom<CountText> for CountLimit {
    type Error = String;

    fn try_from(value: CountText) -> Result<CountLimit, String> {
        match value {
            CountText::Number(n) => CountLimit::try_from(n.to_string().as_str()),
            CountText::Text(text) => CountLimit::try_from(text.as_str()),
        }
    }
}

impl TryFrom<&str> for CountLimit {
    type Error = String;

    fn try_from(text: &str) -> Result<CountLimit, String> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("unlimited") {
            return Ok(CountLimit(None));
        }
        text.replace('_', "")
            .parse::<usize>()
            .map(|n| CountLimit(Some(n)))
            .map_err(|_| {
                format!("{text:?} is not a count: write a whole number, or unlimited for no limit")
            })
    }
}

impl std::str::FromStr for CountLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<CountLimit, String> {
        CountLimit::try_from(text)
    }
}

/// A disk budget: a size, or `unlimited` (also `0`) for none.
fn disk_setting(setting: &'static str, value: Option<String>) -> Result<Option<u64>, ConfigError> {
    let Some(text) = value else {
        return Ok(None);
    };
    if text.trim() == "unlimited" || text.trim() == "0" {
        return Ok(None);
    }
    let bytes = parse_size(&text).ok_or(ConfigError::Size {
        setting,
        value: text,
    })?;
    if bytes < MIN_DISK_BUDGET {
        return Err(ConfigError::SizeTooSmall {
            setting,
            value: bytes,
            min: MIN_DISK_BUDGET,
        });
    }
    Ok(Some(bytes as u64))
}

/// A disk budget below this would be spent by the index and one hour of data.
const MIN_DISK_BUDGET: usize = 16 << 20;

fn size_setting(
    setting: &'static str,
    value: Option<String>,
    default: usize,
    min: usize,
) -> Result<usize, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let bytes = parse_size(&text).ok_or(ConfigError::Size {
        setting,
        value: text,
    })?;
    if bytes < min {
        return Err(ConfigError::SizeTooSmall {
            setting,
            value: bytes,
            min,
        });
    }
    Ok(bytes)
}

fn duration_setting(
    setting: &'static str,
    value: Option<String>,
    default: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    parse_limit_duration(&text).ok_or(ConfigError::Duration {
        setting,
        value: text,
    })
}

/// Parses a time limit: `30s`, `10m`, `1h`, `7d`, `2w`; `0` or `unlimited` is no limit (`None`).
pub fn parse_limit_duration(text: &str) -> Option<Option<Duration>> {
    let text = text.trim();
    if text == "0" || text.eq_ignore_ascii_case("unlimited") {
        return Some(None);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(Some(Duration::from_secs(number.checked_mul(seconds)?)))
}

/// Parses `1048576`, `512KiB`, `16MiB`, `1GiB`, `10MB`, `2 GB` (decimal and binary units).
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

fn check_ports(config: &Config) -> Result<(), ConfigError> {
    let ports = [
        ("grpc-port", config.grpc_port),
        ("http-port", config.http_port),
        ("ui-port", config.ui_port),
    ];
    for (i, &(a, port)) in ports.iter().enumerate() {
        for &(b, other) in &ports[i + 1..] {
            if port != 0 && port == other {
                return Err(ConfigError::PortClash { a, b, port });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["otelite"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().settings.resolve()
    }

    #[test]
    fn retention_and_disk_budgets_read_per_signal_overrides() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.retention, [Some(DEFAULT_RETENTION); 3]);
        assert_eq!(
            (config.max_disk, config.max_disk_per_signal),
            (None, [None; 3])
        );
        let config = parse(&[
            "--retention",
            "2d",
            "--retention-logs",
            "12h",
            "--retention-metrics",
            "unlimited",
            "--max-disk",
            "10GiB",
            "--max-disk-traces",
            "4GiB",
        ])
        .unwrap();
        let hours = |h: u64| Some(Duration::from_secs(h * 3600));
        assert_eq!(config.retention, [hours(48), None, hours(12)]);
        assert_eq!(config.max_disk, Some(10 << 30));
        assert_eq!(config.max_disk_per_signal, [Some(4 << 30), None, None]);
        let error = parse(&["--max-disk", "1MiB"]).unwrap_err().to_string();
        assert!(
            error.contains("max-disk") && error.contains("at least"),
            "{error}"
        );
        let error = parse(&["--retention-traces", "soon"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("retention-traces"), "{error}");
    }

    #[test]
    fn defaults_match_the_documented_ports() {
        let config = parse(&[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(
            (config.grpc_port, config.http_port, config.ui_port),
            (4317, 4318, 16686)
        );
        assert_eq!(config.bind.to_string(), "127.0.0.1");
    }

    #[test]
    fn file_values_apply_and_flags_override_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otelite.toml");
        std::fs::write(
            &path,
            "data = \"/srv/otelite\"\ngrpc-port = 5317\nui-port = 9999\nmax-request-size = \"4MiB\"\n",
        )
        .unwrap();
        let config = parse(&["--config", path.to_str().unwrap(), "--ui-port", "8080"]).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/otelite"));
        assert_eq!(config.grpc_port, 5317);
        assert_eq!(config.ui_port, 8080);
        assert_eq!(config.max_request_bytes, 4 << 20);
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otelite.toml");
        std::fs::write(&path, "grpc_prot = 1\n").unwrap();
        let err = parse(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("grpc_prot"), "{err}");
    }

    #[test]
    fn max_memory_must_hold_two_requests_of_the_largest_size() {
        let config = parse(&["--max-memory", "64MiB"]).unwrap();
        assert_eq!(config.max_memory_bytes, 64 << 20);
        let error = parse(&["--max-request-size", "200MiB"]).unwrap_err();
        assert!(
            matches!(error, ConfigError::MemoryBelowRequests { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("raise --max-memory"), "{error}");
        let config = parse(&["--max-request-size", "64MiB", "--max-memory", "128MiB"]).unwrap();
        assert_eq!(config.max_request_bytes, 64 << 20);
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let err = parse(&["--max-request-size", "lots"]).unwrap_err();
        assert!(err.to_string().contains("e.g. 16MiB"), "{err}");
        let err = parse(&["--grpc-port", "9000", "--ui-port", "9000"]).unwrap_err();
        assert!(err.to_string().contains("own port"), "{err}");
        let err = parse(&["--log-level", "otelite=loud"]).unwrap_err();
        assert!(err.to_string().contains("log-level"), "{err}");
    }

    #[test]
    fn the_item_time_window_is_set_by_flag_env_and_file() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.max_item_age, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(config.max_item_future, Some(Duration::from_secs(3_600)));

        let config = parse(&["--max-item-age", "unlimited", "--max-item-future", "10m"]).unwrap();
        assert_eq!(config.max_item_age, None);
        assert_eq!(config.max_item_future, Some(Duration::from_secs(600)));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otelite.toml");
        std::fs::write(&path, "max-item-age = \"30d\"\nmax-item-future = \"0\"\n").unwrap();
        let config = parse(&["--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(config.max_item_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(config.max_item_future, None);

        // Each flag is also an OTELITE_* variable.
        let cli = Cli::command();
        for flag in ["max-item-age", "max-item-future"] {
            let arg = cli
                .get_arguments()
                .find(|arg| arg.get_long() == Some(flag))
                .unwrap();
            let env = format!("OTELITE_{}", flag.to_uppercase().replace('-', "_"));
            assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(&env)));
        }

        let err = parse(&["--max-item-age", "a week"]).unwrap_err();
        assert!(err.to_string().contains("max-item-age"), "{err}");
        assert!(err.to_string().contains("e.g. 7d"), "{err}");
    }

    #[test]
    fn item_and_query_limits_are_set_by_flag_env_and_file() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.item_limits, ItemLimits::default());
        assert_eq!(config.query_timeout, Some(DEFAULT_QUERY_TIMEOUT));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otelite.toml");
        std::fs::write(
            &path,
            "max-attributes = 64\nmax-attribute-value-size = \"4KiB\"\nmax-span-events = 8\n\
             max-span-links = 2\nquery-timeout = \"30s\"\nquery-max-range = \"7d\"\n\
             query-max-series = 500\nquery-max-traces = 50\nquery-max-lines = 70\n\
             max-series-per-metric = 300\n\
             max-active-series = \"unlimited\"\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let config = parse(&["--config", file, "--max-span-links", "3"]).unwrap();
        assert_eq!(
            config.item_limits,
            ItemLimits {
                max_attributes: 64,
                max_attribute_value_bytes: 4096,
                max_span_events: 8,
                max_span_links: 3,
            }
        );
        assert_eq!(config.query_timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            config.query_max_range,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(config.query_max_series, 500);
        assert_eq!((config.query_max_traces, config.query_max_lines), (50, 70));
        assert_eq!(
            config.series_limits,
            SeriesLimits {
                per_metric: Some(300),
                active: None
            }
        );
        let config = parse(&["--config", file, "--max-series-per-metric", "unlimited"]).unwrap();
        assert_eq!(config.series_limits.per_metric, None);
        let config = parse(&["--max-active-series", "5_000"]).unwrap();
        assert_eq!(config.series_limits.active, Some(5000));
        let error = Cli::try_parse_from(["otelite", "--max-active-series", "many"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a count"), "{error}");
        let config = parse(&["--query-timeout", "unlimited"]).unwrap();
        assert_eq!(config.query_timeout, None);
        assert_eq!(config.query_max_range, Some(DEFAULT_QUERY_MAX_RANGE));
        assert_eq!(config.query_max_series, DEFAULT_QUERY_MAX_SERIES);
        assert_eq!(config.series_limits, SeriesLimits::default());
        let config = parse(&["--query-max-range", "unlimited"]).unwrap();
        assert_eq!(config.query_max_range, None);

        let cli = Cli::command();
        for flag in [
            "max-attributes",
            "max-attribute-value-size",
            "max-span-events",
            "max-span-links",
            "query-timeout",
            "query-max-range",
            "query-max-series",
            "max-series-per-metric",
            "max-active-series",
            "query-max-traces",
            "query-max-lines",
        ] {
            let arg = cli
                .get_arguments()
                .find(|arg| arg.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("--{flag}"));
            let env = format!("OTELITE_{}", flag.to_uppercase().replace('-', "_"));
            assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(&env)));
        }
        let err = parse(&["--max-attribute-value-size", "0"]).unwrap_err();
        assert!(
            err.to_string().contains("max-attribute-value-size"),
            "{err}"
        );
    }

    #[test]
    fn limit_durations_parse_with_units() {
        assert_eq!(
            parse_limit_duration("90s"),
            Some(Some(Duration::from_secs(90)))
        );
        assert_eq!(
            parse_limit_duration("2w"),
            Some(Some(Duration::from_secs(1_209_600)))
        );
        assert_eq!(parse_limit_duration("0"), Some(None));
        assert_eq!(parse_limit_duration("Unlimited"), Some(None));
        assert_eq!(parse_limit_duration("12"), None);
        assert_eq!(parse_limit_duration("1y"), None);
        assert_eq!(parse_limit_duration(""), None);
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("2 GB"), Some(2_000_000_000));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn auth_token_guards_both_sides_unless_a_side_has_its_own() {
        assert_eq!(parse(&[]).unwrap().ingest_token, None);
        let config = parse(&["--auth-token", "both"]).unwrap();
        assert_eq!(config.ingest_token, Some("both".parse().unwrap()));
        assert_eq!(config.query_token, Some("both".parse().unwrap()));
        let config = parse(&["--auth-token", "both", "--query-token", "reader"]).unwrap();
        assert_eq!(config.ingest_token, Some("both".parse().unwrap()));
        assert_eq!(config.query_token, Some("reader".parse().unwrap()));
        let config = parse(&["--ingest-token", "writer"]).unwrap();
        assert_eq!(config.ingest_token, Some("writer".parse().unwrap()));
        assert_eq!(config.query_token, None);
    }

    #[test]
    fn token_files_are_trimmed_and_unusable_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("query.token");
        std::fs::write(&path, "  from-a-file\n").unwrap();
        let config = parse(&["--query-token-file", path.to_str().unwrap()]).unwrap();
        assert_eq!(config.query_token, Some("from-a-file".parse().unwrap()));

        std::fs::write(&path, " \n").unwrap();
        let err = parse(&["--query-token-file", path.to_str().unwrap()]).unwrap_err();
        assert!(matches!(err, ConfigError::TokenFileContent { .. }), "{err}");
        assert!(err.to_string().contains("query.token"), "{err}");

        let missing = dir.path().join("missing.token");
        let err = parse(&["--auth-token-file", missing.to_str().unwrap()]).unwrap_err();
        assert!(matches!(err, ConfigError::TokenFile { .. }), "{err}");
        assert!(err.to_string().contains("missing.token"), "{err}");

        let err = parse(&[
            "--ingest-token",
            "a",
            "--ingest-token-file",
            path.to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::TokenTwice { .. }), "{err}");
    }

    #[test]
    fn security_settings_come_from_the_file_too_and_tokens_are_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otelite.toml");
        std::fs::write(
            &path,
            "ingest-token = \"file-secret\"\ntls-cert = \"/etc/otelite/cert.pem\"\ntls-key = \"/etc/otelite/key.pem\"\n",
        )
        .unwrap();
        let config = parse(&["--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(config.ingest_token, Some("file-secret".parse().unwrap()));
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                cert: PathBuf::from("/etc/otelite/cert.pem"),
                key: PathBuf::from("/etc/otelite/key.pem"),
            })
        );
        assert!(!format!("{config:?}").contains("file-secret"));
        let cli = Cli::try_parse_from(["otelite", "--auth-token", "flag-secret"]).unwrap();
        assert!(!format!("{cli:?}").contains("flag-secret"));

        // Each flag is also an OTELITE_* variable.
        let command = Cli::command();
        for flag in [
            "auth-token",
            "auth-token-file",
            "ingest-token",
            "ingest-token-file",
            "query-token",
            "query-token-file",
            "tls-cert",
            "tls-key",
        ] {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(flag))
                .unwrap();
            let env = format!("OTELITE_{}", flag.to_uppercase().replace('-', "_"));
            assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(&env)));
        }
    }

    #[test]
    fn tls_needs_both_files_and_tokens_must_be_usable() {
        let err = parse(&["--tls-cert", "cert.pem"]).unwrap_err();
        assert!(err.to_string().contains("--tls-key is missing"), "{err}");
        let err = parse(&["--tls-key", "key.pem"]).unwrap_err();
        assert!(err.to_string().contains("--tls-cert is missing"), "{err}");
        let config = parse(&["--tls-cert", "cert.pem", "--tls-key", "key.pem"]).unwrap();
        assert_eq!(config.tls.unwrap().key, PathBuf::from("key.pem"));
        let mut argv = vec!["otelite", "--auth-token", "two words"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv[2] = "";
        assert!(Cli::try_parse_from(&argv).is_err());
    }
}
