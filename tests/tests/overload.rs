//! Overload, for real: a server whose ingest queue holds only 64 KiB, and a dozen clients that
//! fire requests of 20–120 KiB at it over OTLP/HTTP and OTLP/gRPC at the same moment. The server
//! must answer the overflow with the retryable answers OTLP clients act on — HTTP 503 (or 429)
//! with `Retry-After`, gRPC `UNAVAILABLE` (or `RESOURCE_EXHAUSTED`) with a `RetryInfo` detail —
//! every retried request must then be accepted, and the store must hold exactly what was
//! acknowledged: every item once, nothing from a refused attempt twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use otelite::otlp::{RetryInfo, RpcStatus};
use otelite_tests::otlp::{self, OtlpRequest, flat_spans};
use otelite_tests::{PROMPT, Signal, TestServer};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

/// The ingest queue: smaller than most single requests, so any two overlap into a refusal.
const QUEUE_BYTES: usize = 64 << 10;
const CLIENTS_PER_TRANSPORT: usize = 6;
const REQUESTS_PER_CLIENT: usize = 3;
/// Attempts per request before the test gives up; the server serialises at worst, so a few
/// dozen suffice.
const MAX_ATTEMPTS: usize = 2_000;
const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Busy answers seen, per transport.
#[derive(Default)]
struct Busy {
    http: AtomicUsize,
    grpc: AtomicUsize,
}

/// Request `number` of client `client`: 40–120 spans of about 1 KiB each, names saying whose.
fn request(client: usize, number: usize, rng: &mut fastrand::Rng) -> ExportTraceServiceRequest {
    let spans = (0..rng.usize(40..120))
        .map(|i| {
            let mut span = otlp::span(&format!("client-{client}-request-{number}-span-{i}"));
            let payload = "x".repeat(rng.usize(500..1_000));
            span.attributes
                .push(otlp::string_attribute("payload", &payload));
            span
        })
        .collect();
    otlp::traces_request_of(&format!("overload-client-{client}"), spans)
}

/// The `RetryInfo` delay in a `google.rpc.Status`, if it has one.
fn retry_delay(status: &RpcStatus) -> Option<Duration> {
    let detail = status
        .details
        .iter()
        .find(|d| d.type_url == RETRY_INFO_TYPE_URL)?;
    let delay = RetryInfo::decode(&detail.value[..]).ok()?.retry_delay?;
    Some(Duration::new(
        u64::try_from(delay.seconds).ok()?,
        u32::try_from(delay.nanos).ok()?,
    ))
}

/// How long the test waits before a retry: far shorter than the server's hint, to stay fast
/// (the hint itself is checked), with jitter so that retries do not march in step.
fn backoff(rng: &mut fastrand::Rng) -> Duration {
    Duration::from_millis(rng.u64(5..40))
}

async fn send_http_until_accepted(
    server: &TestServer,
    request: &ExportTraceServiceRequest,
    busy: &Busy,
    rng: &mut fastrand::Rng,
) {
    let body = request.encode_to_vec();
    for _ in 0..MAX_ATTEMPTS {
        let response = server
            .post_otlp(Signal::Traces, "application/x-protobuf", body.clone())
            .await;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let bytes = response.bytes().await.expect("the answer arrives");
        match status {
            200 => {
                let rejected = ExportTraceServiceRequest::rejected_in_protobuf_response(&bytes);
                assert!(
                    rejected.as_ref().is_none_or(|r| r.count == 0),
                    "{rejected:?}"
                );
                return;
            }
            503 | 429 => {
                let seconds: u64 = retry_after
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| {
                        panic!("a busy answer ({status}) needs Retry-After, got {retry_after:?}")
                    });
                assert!(seconds >= 1, "Retry-After: {seconds}");
                let rpc = RpcStatus::decode(&bytes[..]).expect("the body is a google.rpc.Status");
                assert!(
                    rpc.code == tonic::Code::Unavailable as i32
                        || rpc.code == tonic::Code::ResourceExhausted as i32,
                    "{rpc:?}"
                );
                assert!(!rpc.message.is_empty(), "the answer says why");
                busy.http.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(rng)).await;
            }
            other => panic!(
                "POST /v1/traces answered {other}: {}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
    panic!("an OTLP/HTTP request was not accepted in {MAX_ATTEMPTS} attempts");
}

async fn send_grpc_until_accepted(
    channel: Channel,
    gzip: bool,
    request: &ExportTraceServiceRequest,
    busy: &Busy,
    rng: &mut fastrand::Rng,
) {
    let mut client = TraceServiceClient::new(channel);
    if gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    for _ in 0..MAX_ATTEMPTS {
        match client.export(request.clone()).await {
            Ok(response) => {
                let partial = response.into_inner().partial_success;
                assert!(
                    partial.as_ref().is_none_or(|p| p.rejected_spans == 0),
                    "{partial:?}"
                );
                return;
            }
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                ) =>
            {
                let rpc = RpcStatus::decode(status.details()).unwrap_or_else(|e| {
                    panic!("{status:?}: details are no google.rpc.Status: {e}")
                });
                let delay = retry_delay(&rpc)
                    .unwrap_or_else(|| panic!("a busy gRPC answer needs RetryInfo: {status:?}"));
                assert!(delay > Duration::ZERO, "{delay:?}");
                assert!(!status.message().is_empty(), "the answer says why");
                busy.grpc.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(rng)).await;
            }
            Err(status) => panic!("gRPC export failed: {status:?}"),
        }
    }
    panic!("an OTLP/gRPC request was not accepted in {MAX_ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_answers_retryable_busy_and_retries_store_exactly_once() {
    let server = Arc::new(
        TestServer::start_with(|config| config.max_ingest_queue_bytes = QUEUE_BYTES).await,
    );
    let busy = Arc::new(Busy::default());
    let start = Arc::new(tokio::sync::Barrier::new(2 * CLIENTS_PER_TRANSPORT));
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..2 * CLIENTS_PER_TRANSPORT {
        let (server, busy, start) = (server.clone(), busy.clone(), start.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(client as u64);
            let requests: Vec<_> = (0..REQUESTS_PER_CLIENT)
                .map(|number| request(client, number, &mut rng))
                .collect();
            let grpc = client % 2 == 1;
            let channel = match grpc {
                true => Some(
                    Channel::from_shared(server.grpc_endpoint())
                        .unwrap()
                        .connect()
                        .await
                        .expect("gRPC connects"),
                ),
                false => None,
            };
            // Everyone fires at once: the queue overflows at the first volley.
            start.wait().await;
            for request in &requests {
                match &channel {
                    Some(channel) => {
                        let gzip = client % 4 == 3;
                        send_grpc_until_accepted(channel.clone(), gzip, request, &busy, &mut rng)
                            .await
                    }
                    None => send_http_until_accepted(&server, request, &busy, &mut rng).await,
                }
            }
            requests
        }));
    }
    let mut sent = ExportTraceServiceRequest::default();
    for client in clients {
        let requests = tokio::time::timeout(3 * PROMPT, client)
            .await
            .expect("every request is accepted in time")
            .expect("the client does not panic");
        for request in requests {
            sent.resource_spans.extend(request.resource_spans);
        }
    }
    let (http_busy, grpc_busy) = (
        busy.http.load(Ordering::Relaxed),
        busy.grpc.load(Ordering::Relaxed),
    );
    println!(
        "{} requests accepted in {:.1?} after {http_busy} busy answers over HTTP and {grpc_busy} over gRPC",
        2 * CLIENTS_PER_TRANSPORT * REQUESTS_PER_CLIENT,
        started.elapsed()
    );
    assert!(
        http_busy > 0,
        "no OTLP/HTTP request was refused: the queue never overflowed"
    );
    assert!(
        grpc_busy > 0,
        "no OTLP/gRPC request was refused: the queue never overflowed"
    );

    // Exactly what was acknowledged: refused attempts left nothing, retries nothing twice.
    let want = flat_spans(&sent);
    let status = server.status().await;
    assert_eq!(status.traces.stored, want.len() as u64, "{status:?}");
    let stored: ExportTraceServiceRequest = server.export().await;
    otlp::assert_same_items("spans", &flat_spans(&stored), &want);
    server.assert_serving().await;
    Arc::try_unwrap(server)
        .unwrap_or_else(|_| panic!("the clients are done"))
        .stop()
        .await;
}
