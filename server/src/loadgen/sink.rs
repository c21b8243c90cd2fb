//! `otelite loadgen-sink`: the reference receiver the benchmarks compare otelite with. It speaks
//! OTLP/gRPC exactly as a plain tonic receiver does (prost decoding on the async workers) and
//! throws every request away, so the load generator's rate against it is what the client and the
//! machine allow when the server does nothing but decode: the ceiling otelite's rate is read
//! against (BENCHMARKS.md reports the ratio). A benchmarking tool, hidden from `--help`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::serve::ListenerExt;
use clap::Args;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::config::Config;

/// `otelite loadgen-sink` options: it takes OTLP/gRPC on `--bind` and `--grpc-port`, and
/// answers `/readyz` on `--ui-port` once it does, as the server would.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {}

/// Serves the decode-and-discard receiver until SIGINT/SIGTERM, then prints how many items it
/// decoded.
pub async fn run(
    config: &Config,
    _args: &SinkArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = SocketAddr::new(config.bind, config.grpc_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let sink = Sink::default();
    let limit = config.max_request_bytes;
    let router =
        Routes::new(TraceServiceServer::new(sink.clone()).max_decoding_message_size(limit))
            .add_service(MetricsServiceServer::new(sink.clone()).max_decoding_message_size(limit))
            .add_service(LogsServiceServer::new(sink.clone()).max_decoding_message_size(limit))
            .into_axum_router();
    let ready_addr = SocketAddr::new(config.bind, config.ui_port);
    let ready = tokio::net::TcpListener::bind(ready_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {ready_addr}: {e}"))?;
    let probe = axum::Router::new().route("/readyz", axum::routing::get(|| async { "ready" }));
    tokio::spawn(async move { axum::serve(ready, probe).await });
    eprintln!(
        "otelite loadgen-sink: decoding and discarding OTLP/gRPC on {}",
        listener.local_addr()?
    );
    // As the server's listeners do (`connection.rs`): without it each answer waits out the
    // client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    eprintln!(
        "otelite loadgen-sink: decoded {} items",
        sink.items.load(Ordering::Relaxed)
    );
    Ok(())
}

#[derive(Clone, Default)]
struct Sink {
    items: Arc<AtomicU64>,
}

impl Sink {
    fn count<T>(&self, items: usize, response: T) -> Result<Response<T>, Status> {
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        Ok(Response::new(response))
    }
}

/// The three services differ only in their types and in where their items sit.
macro_rules! sink_service {
    ($service:ident, $request:ty, $response:ty, $resources:ident, $scopes:ident, $items:ident) => {
        #[tonic::async_trait]
        impl $service for Sink {
            async fn export(
                &self,
                request: Request<$request>,
            ) -> Result<Response<$response>, Status> {
                let request = request.into_inner();
                let items = request
                    .$resources
                    .iter()
                    .flat_map(|r| &r.$scopes)
                    .map(|s| s.$items.len())
                    .sum();
                self.count(items, <$response>::default())
            }
        }
    };
}

sink_service!(
    TraceService,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    resource_spans,
    scope_spans,
    spans
);
sink_service!(
    MetricsService,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    resource_metrics,
    scope_metrics,
    metrics
);
sink_service!(
    LogsService,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    resource_logs,
    scope_logs,
    log_records
);
