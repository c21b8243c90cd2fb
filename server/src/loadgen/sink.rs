//! `otelite loadgen-sink`: the reference receiver the benchmarks compare otelite with. It speaks
//! OTLP/gRPC exactly as a plain tonic receiver does (prost decoding on the async workers) and
//! throws every request away, so the load generator's rate against it is what the client and the
//! machine allow when the server does nothing but decode: the ceiling otelite's rate is read
//! against (BENCHMARKS.md reports the ratio). A benchmarking tool, hidden from `--help`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// `otelite loadgen-sink` options: it listens on `--bind` and `--grpc-port`.
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
    eprintln!(
        "otelite loadgen-sink: decoding and discarding OTLP/gRPC on {}",
        listener.local_addr()?
    );
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

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let request = request.into_inner();
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.count(spans, ExportTraceServiceResponse::default())
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let request = request.into_inner();
        let metrics = request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        self.count(metrics, ExportMetricsServiceResponse::default())
    }
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let request = request.into_inner();
        let records = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        self.count(records, ExportLogsServiceResponse::default())
    }
}
