//! OTLP/gRPC: the `Export` methods of the TraceService, MetricsService and LogsService, served
//! as axum routes so that its listener is served like the others (`connection.rs`, which speaks
//! HTTP/2 with prior knowledge, as gRPC clients do).
//!
//! tonic does the gRPC framing, gzip and the message size limit, but its codec here hands over
//! the message's bytes undecoded ([`RawCodec`]): decoding happens in [`pipeline::accept`] on the
//! blocking pool, where OTLP/HTTP decodes too, instead of on the async workers that also have to
//! keep every connection moving. Every request is charged to the shared [`MemoryBudget`] before
//! its bytes are read.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite_storage::Signal;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::UnaryService;
use tonic::{Code, Status};

use super::budget::{Charge, DECODED_PER_PROTOBUF_BYTE};
use super::{IngestError, pipeline};
use crate::otlp::{ExportRequest, decode_protobuf};
use crate::state::AppState;
use crate::telemetry::Transport;

/// The OTLP/gRPC services (port 4317 by convention). Accepts and sends gzip; refuses messages
/// larger than `max_request_bytes`, before or after decompression.
pub fn grpc_router(state: AppState) -> Router {
    let admission = state.clone();
    Router::new()
        .route(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            post(export::<ExportTraceServiceRequest>),
        )
        .route(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            post(export::<ExportMetricsServiceRequest>),
        )
        .route(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            post(export::<ExportLogsServiceRequest>),
        )
        .fallback(unimplemented)
        .with_state(state)
        .layer(middleware::from_fn_with_state(admission, admit))
}

/// Charges the request to the memory budget (see [`super::budget`]), or refuses it with
/// `UNAVAILABLE` and a retry delay when the budget is spent.
async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let signal = signal_of(request.uri().path());
    match super::budget::admit(&state.budget, request, 0) {
        Ok((request, _charge)) => next.run(request).await,
        Err(error) => {
            if let Some(signal) = signal {
                let elapsed = arrived.elapsed();
                pipeline::answered(&state, signal, Transport::Grpc, elapsed, Err(&error));
            }
            error.rpc_status().to_tonic().into_http()
        }
    }
}

/// The signal an export method's path is for.
fn signal_of(path: &str) -> Option<Signal> {
    [Signal::Traces, Signal::Metrics, Signal::Logs]
        .into_iter()
        .find(|signal| {
            path.starts_with(&format!(
                "/opentelemetry.proto.collector.{}.",
                grpc_package(*signal)
            ))
        })
}

/// The OTLP protobuf package of `signal`'s collector service.
fn grpc_package(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "trace",
        Signal::Metrics => "metrics",
        Signal::Logs => "logs",
    }
}

/// What tonic's generated servers answer for a method they do not have.
async fn unimplemented(request: Request) -> Response {
    Status::unimplemented(format!(
        "{} is not an OTLP export method: otelite serves opentelemetry.proto.collector.\
         {{trace,metrics,logs}}.v1 Export",
        request.uri().path()
    ))
    .into_http()
}

/// One unary `Export` call of the signal `R`.
async fn export<R: ExportRequest>(State(state): State<AppState>, request: Request) -> Response {
    let limit = state.limits.max_request_bytes;
    let charge = request
        .extensions()
        .get::<Charge>()
        .cloned()
        .unwrap_or_else(|| state.budget.charge());
    let compressed = request
        .headers()
        .get("grpc-encoding")
        .is_some_and(|encoding| encoding != "identity");
    let codec = RawCodec::<R::Response> {
        charge: compressed.then(|| charge.clone()),
        response: PhantomData,
    };
    let mut grpc = tonic::server::Grpc::new(codec)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let arrived = Instant::now();
    let reached_pipeline = Arc::new(AtomicBool::new(false));
    let method = ExportMethod::<R> {
        state: state.clone(),
        charge,
        arrived,
        reached_pipeline: reached_pipeline.clone(),
        request: PhantomData,
    };
    let response = grpc.unary(method, request).await.into_response();
    if !reached_pipeline.load(Ordering::Relaxed) {
        // tonic refused the message itself (too large, bad framing or compression): counted
        // here, since the pipeline never saw it.
        let code = response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from_i32);
        let error = match code {
            Code::Ok => None,
            Code::ResourceExhausted => Some(IngestError::TooLarge {
                limit,
                decompressed: false,
            }),
            // Only the budget refuses while tonic decompresses a message.
            Code::Unavailable => Some(IngestError::MemoryBusy {
                limit: state.budget.limit(),
            }),
            _ => Some(IngestError::BadBody(format!("gRPC status {code:?}"))),
        };
        if let Some(error) = error {
            pipeline::answered(
                &state,
                R::SIGNAL,
                Transport::Grpc,
                arrived.elapsed(),
                Err(&error),
            );
        }
    }
    response
}

struct ExportMethod<R> {
    state: AppState,
    charge: Charge,
    arrived: Instant,
    /// Set once the message reaches the pipeline, which counts its outcome.
    reached_pipeline: Arc<AtomicBool>,
    request: PhantomData<fn() -> R>,
}

impl<R: ExportRequest> UnaryService<Bytes> for ExportMethod<R> {
    type Response = R::Response;
    type Future =
        futures_util::future::BoxFuture<'static, Result<tonic::Response<R::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        let charge = self.charge.clone();
        let arrived = self.arrived;
        self.reached_pipeline.store(true, Ordering::Relaxed);
        Box::pin(async move {
            let body = request.into_inner();
            let accepted = pipeline::accept::<R>(
                &state,
                charge,
                move |_| Ok(body),
                decode_protobuf,
                DECODED_PER_PROTOBUF_BYTE,
            )
            .await;
            let elapsed = arrived.elapsed();
            pipeline::answered(
                &state,
                R::SIGNAL,
                Transport::Grpc,
                elapsed,
                accepted.as_ref(),
            );
            match accepted {
                Ok(rejections) => Ok(tonic::Response::new(R::response(&rejections))),
                Err(error) => Err(error.rpc_status().to_tonic()),
            }
        })
    }
}

/// A tonic codec that decodes a request message to its bytes (decoding proper is the
/// pipeline's) and encodes the response `M` with prost. For a compressed request it charges the
/// decompressed message to the request's budget; the compressed frames were charged as they
/// arrived.
struct RawCodec<M> {
    charge: Option<Charge>,
    response: PhantomData<fn(M)>,
}

impl<M: Message + Send + 'static> Codec for RawCodec<M> {
    type Encode = M;
    type Decode = Bytes;
    type Encoder = ProstEncoder<M>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder {
            charge: self.charge.take(),
        }
    }
}

struct ProstEncoder<M>(PhantomData<fn(M)>);

impl<M: Message> Encoder for ProstEncoder<M> {
    type Item = M;
    type Error = Status;

    fn encode(&mut self, item: M, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response failed: {e}")))
    }
}

struct BytesDecoder {
    charge: Option<Charge>,
}

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        if let Some(charge) = &self.charge {
            charge
                .grow(len)
                .map_err(|error: IngestError| error.rpc_status().to_tonic())?;
        }
        // The whole message is one contiguous buffer: this splits it off without copying.
        Ok(Some(src.copy_to_bytes(len)))
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
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
        assert_eq!(state.telemetry.refused_total(Signal::Traces), 1);
    }

    #[tokio::test]
    async fn messages_over_the_limit_are_refused() {
        let (state, _dir) = state(1024);
        let mut client = client(state.clone()).await;
        let mut request = traces(&[TRACE_ID]);
        request.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(4096);
        let status = client.export(request).await.unwrap_err();
        assert!(
            matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
            "{status:?}"
        );
        // tonic refused it before the pipeline saw it; it is counted all the same.
        let refused = state.telemetry.requests_refused(
            Signal::Traces,
            Transport::Grpc,
            crate::telemetry::Refusal::TooLarge,
        );
        assert_eq!(refused, 1);
        // The connection survives for the next, smaller export.
        assert!(client.export(traces(&[TRACE_ID])).await.is_ok());
    }

    #[tokio::test]
    async fn a_spent_memory_budget_answers_unavailable_with_a_retry_delay() {
        let (state, _dir) = crate::ingest::test_support::state_with_budget(1 << 20, 2 << 20);
        let mut client = client(state.clone()).await;
        let held = state.budget.charge();
        held.grow(2 << 20).unwrap();
        let status = client.export(traces(&[TRACE_ID])).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let refused = state.telemetry.requests_refused(
            Signal::Traces,
            Transport::Grpc,
            crate::telemetry::Refusal::Overloaded,
        );
        assert_eq!(
            refused, 1,
            "refused by the admission middleware, and counted"
        );
        assert!(status.message().contains("--max-memory"), "{status:?}");
        let details = crate::otlp::RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.details.len(), 1, "a RetryInfo travels with it");

        drop(held);
        assert!(client.export(traces(&[TRACE_ID])).await.is_ok());
        assert_eq!(state.store.stats().unwrap().spans, 1);
        assert_eq!(
            state.budget.used(),
            0,
            "an answered request gives its memory back"
        );
    }

    #[tokio::test]
    async fn a_message_that_outgrows_the_budget_while_arriving_is_refused() {
        let (state, _dir) = crate::ingest::test_support::state_with_budget(4 << 20, 8 << 20);
        let mut client = client(state.clone()).await;
        let _held = {
            let charge = state.budget.charge();
            charge.grow((8 << 20) - (64 << 10)).unwrap();
            charge
        };
        let mut request = traces(&[TRACE_ID]);
        request.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(1 << 20);
        let status = client.export(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("--max-memory"), "{status:?}");
        let details = crate::otlp::RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.details.len(), 1, "a RetryInfo travels with it");
    }

    #[tokio::test]
    async fn unknown_methods_are_unimplemented() {
        let (state, _dir) = state(1 << 20);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, grpc_router(state)).await });
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let status = grpc
            .unary::<ExportTraceServiceRequest, ExportTraceServiceResponse, _>(
                tonic::Request::new(ExportTraceServiceRequest::default()),
                "/opentelemetry.proto.collector.trace.v1.TraceService/Frobnicate"
                    .parse()
                    .unwrap(),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    }
}
