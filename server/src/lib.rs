//! otelite: one process that receives OpenTelemetry data over OTLP, keeps it in an embedded
//! store and serves it back through query APIs and a web UI.
//!
//! [`start`] binds the three listeners (OTLP gRPC, OTLP HTTP, UI + query) and opens the store;
//! [`RunningServer::shutdown`] stops accepting, lets in-flight requests finish so that everything
//! acknowledged is durable, and closes the store. `main.rs` calls [`cli::main`], which parses the
//! configuration and calls [`run`].

pub mod assets;
mod auth;
pub mod cli;
pub mod config;
mod connection;
pub mod ingest;
pub mod loadgen;
pub mod otlp;
pub mod query;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod workload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use otelite_storage::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::Config;
use state::{AppState, Limits};

/// otelite's version as shown by `--version` and the status API.
pub const VERSION: &str = env!("OTELITE_VERSION");

/// How long shutdown waits for open connections to finish before closing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start, phrased for the person who started it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("cannot listen on {addr} for {what}: {source}. {hint}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        hint: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] otelite_storage::OpenError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A started server: its bound addresses and the handle to stop it.
pub struct RunningServer {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub ui_addr: SocketAddr,
    store: Store,
    stop: watch::Sender<bool>,
    ready: Arc<AtomicBool>,
    tasks: JoinSet<std::io::Result<()>>,
}

/// How often retention looks for hours to drop: often enough that a disk budget holds under
/// ingest, rarely enough to cost nothing.
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the store and binds all listeners; serving starts before this returns.
pub async fn start(config: &Config) -> Result<RunningServer, StartError> {
    // Bind first: a port in use is the most common startup failure and must not leave a store
    // half-opened behind it. Unusable TLS files are found before even that.
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let grpc = bind(config, config.grpc_port, "OTLP gRPC", "--grpc-port").await?;
    let http = bind(config, config.http_port, "OTLP HTTP", "--http-port").await?;
    let ui = bind(config, config.ui_port, "the UI and query API", "--ui-port").await?;

    let store_options = StoreOptions::default()
        .with_max_pending_bytes(config.max_ingest_queue_bytes)
        .with_compaction_idle(Some(config.compaction_delay))
        .with_retention(
            otelite_storage::Retention {
                max_age: config.retention,
                max_disk: config.max_disk,
                max_disk_per_signal: config.max_disk_per_signal,
            },
            RETENTION_INTERVAL,
        );
    let store = tokio::task::block_in_place(|| Store::open(&config.data_dir, store_options))?;
    let ready = Arc::new(AtomicBool::new(false));
    let limits = Limits {
        max_request_bytes: config.max_request_bytes,
        max_client_stall: config.timeouts.stalled_client,
        item_times: otlp::TimeWindow {
            max_age: config.max_item_age,
            max_future: config.max_item_future,
        },
        items: config.item_limits,
        series: config.series_limits,
        query_timeout: config.query_timeout,
        query_max_range: config.query_max_range,
        query_max_series: config.query_max_series,
        query_max_traces: config.query_max_traces,
        query_max_lines: config.query_max_lines,
        decode_slots: state::decode_slot_count(),
        retention: config.retention,
    };
    let state = AppState::new(store.clone(), limits, config.max_memory_bytes);

    let (stop, stopped) = watch::channel(false);
    let grpc_addr = local_addr(&grpc);
    let http_addr = local_addr(&http);
    let ui_addr = local_addr(&ui);
    let mut tasks = JoinSet::new();
    let health = query::health_router(ready.clone(), store.clone());
    let serve = |listener, app| {
        connection::serve(listener, app, tls.clone(), config.timeouts, stopped.clone())
    };
    let (ingest_token, query_token) = (config.ingest_token.as_ref(), config.query_token.as_ref());
    // The health probes and the UI's files are merged in after the token checks: they stay open.
    tasks.spawn(serve(
        grpc,
        auth::require(
            ingest::grpc_router(state.clone()),
            ingest_token,
            auth::Guarded::OtlpGrpc,
        ),
    ));
    tasks.spawn(serve(
        http,
        ingest::http_router(state.clone(), ingest_token).merge(health.clone()),
    ));
    tasks.spawn(serve(
        ui,
        assets::security_headers(
            auth::require(query::router(state), query_token, auth::Guarded::Query)
                .merge(health)
                .fallback_service(assets::router()),
        ),
    ));
    ready.store(true, Ordering::SeqCst);
    tracing::info!(
        version = VERSION,
        data = %config.data_dir.display(),
        ingest_token = config.ingest_token.is_some(),
        query_token = config.query_token.is_some(),
        tls = tls.is_some(),
        "otelite ready: OTLP gRPC {grpc_addr}, OTLP HTTP {http_addr}, UI {scheme}://{ui_addr}",
        scheme = if tls.is_some() { "https" } else { "http" }
    );
    Ok(RunningServer {
        grpc_addr,
        http_addr,
        ui_addr,
        store,
        stop,
        ready,
        tasks,
    })
}

impl RunningServer {
    /// Stops accepting, waits (up to a grace period) for in-flight requests, then makes every
    /// queued write durable and closes the store.
    pub async fn shutdown(mut self) -> Result<(), otelite_storage::WriteError> {
        self.ready.store(false, Ordering::SeqCst);
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Ok(Err(e)) = result {
                    tracing::warn!("listener stopped with an error: {e}");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
            self.tasks.abort_all();
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.shutdown())
            .await
            .unwrap_or_else(|e| {
                Err(otelite_storage::WriteError::Stopped {
                    reason: e.to_string(),
                })
            })
    }
}

/// Runs until `shutdown` resolves, then shuts down cleanly.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let server = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests and flushing the store");
    server.shutdown().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn bind(
    config: &Config,
    port: u16,
    what: &'static str,
    flag: &'static str,
) -> Result<TcpListener, StartError> {
    let addr = SocketAddr::new(config.bind, port);
    TcpListener::bind(addr).await.map_err(|source| {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("Another process uses this port: stop it, or choose another with {flag}.")
            }
            std::io::ErrorKind::PermissionDenied => {
                "Ports below 1024 need privileges: choose a higher port.".to_string()
            }
            std::io::ErrorKind::AddrNotAvailable => {
                "That address is not on this machine: check --bind.".to_string()
            }
            _ => format!("Check --bind and {flag}."),
        };
        StartError::Bind {
            what,
            addr,
            hint,
            source,
        }
    })
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("a bound TCP listener has a local address")
}
