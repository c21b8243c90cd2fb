//! OTLP/gRPC: tonic's generated TraceService, MetricsService and LogsService, served as an
//! axum router so that its listener is served like the others (`connection.rs`, which speaks
//! HTTP/2 with prior knowledge, as gRPC clients do).

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
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use super::pipeline;
use crate::otlp::ExportRequest;
use crate::state::AppState;

/// The OTLP/gRPC services (port 4317 by convention). Accepts and sends gzip; refuses messages
/// larger than `max_request_bytes`, before or after decompression.
pub fn grpc_router(state: AppState) -> axum::Router {
    let limit = state.limits.max_request_bytes;
    let receiver = GrpcReceiver { state };
    // The three generated servers share no trait for their settings, hence the macro.
    macro_rules! configured {
        ($server:ident) => {
            $server::new(receiver.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit)
        };
    }
    Routes::new(configured!(TraceServiceServer))
        .add_service(configured!(MetricsServiceServer))
        .add_service(configured!(LogsServiceServer))
        .into_axum_router()
        .layer(axum::middleware::map_response(
            decode_errors_are_invalid_argument,
        ))
}

/// tonic's prost codec reports a message that does not decode as INTERNAL, before our handler
/// runs. OTLP says malformed data is INVALID_ARGUMENT, which clients must not retry; INTERNAL
/// would have them resend the same bad bytes forever. Errors of a unary call travel in the
/// response headers (trailers-only response), so rewriting the code there is enough.
async fn decode_errors_are_invalid_argument(
    mut response: axum::response::Response,
) -> axum::response::Response {
    let headers = response.headers_mut();
    let is_decode_error = headers.get("grpc-status").is_some_and(|s| s == "13")
        && headers.get("grpc-message").is_some_and(|m| {
            let m = m.as_bytes();
            m.starts_with(b"failed to decode") || m.starts_with(b"failed%20to%20decode")
        });
    if is_decode_error {
        let code = i32::from(tonic::Code::InvalidArgument).to_string();
        headers.insert(
            "grpc-status",
            code.parse().expect("a number is a valid header value"),
        );
    }
    response
}

#[derive(Clone)]
struct GrpcReceiver {
    state: AppState,
}

impl GrpcReceiver {
    async fn receive<R: ExportRequest>(
        &self,
        request: Request<R>,
    ) -> Result<Response<R::Response>, Status> {
        match pipeline::accept(&self.state, request.into_inner()).await {
            Ok(rejections) => Ok(Response::new(R::response(&rejections))),
            Err(error) => {
                if !error.is_client_error() {
                    tracing::debug!("gRPC export refused: {error}");
                }
                Err(error.rpc_status().to_tonic())
            }
        }
    }
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.receive(request).await
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.receive(request).await
    }
}

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.receive(request).await
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use otelite_storage::Signal;
    use tonic::Code;

    use super::*;
    use crate::ingest::test_support::{TRACE_ID, state, traces};

    /// Serves `grpc_router` the way the server does (`axum::serve`) on a loopback port, so the
    /// client's HTTP/2 with prior knowledge is exercised for real.
    async fn client(state: AppState) -> TraceServiceClient<tonic::transport::Channel> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, grpc_router(state)).await });
        TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
    }

    #[tokio::test]
    async fn exports_over_http2_with_gzip_and_reports_partial_success() {
        let (state, _dir) = state(16 << 20);
        let mut client = client(state.clone()).await;

        let response = client.export(traces(&[TRACE_ID])).await.unwrap();
        assert_eq!(response.into_inner().partial_success, None);

        let response = client
            .export(traces(&[TRACE_ID, &[1; 15]]))
            .await
            .unwrap()
            .into_inner();
        let partial = response.partial_success.unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial
                .error_message
                .contains("trace_id must be 16 bytes, got 15"),
            "{}",
            partial.error_message
        );
        assert_eq!(state.counters.rejected(Signal::Traces), 1);
    }

    #[tokio::test]
    async fn messages_over_the_limit_are_refused() {
        let (state, _dir) = state(1024);
        let mut client = client(state).await;
        let mut request = traces(&[TRACE_ID]);
        request.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(4096);
        let status = client.export(request).await.unwrap_err();
        assert!(
            matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
            "{status:?}"
        );
        // The connection survives for the next, smaller export.
        assert!(client.export(traces(&[TRACE_ID])).await.is_ok());
    }
}
