//! Bad input is refused the way the OTLP spec says, with a reason, and never hurts the server:
//! after each case it still answers `/healthz` and accepts a valid request.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite_tests::otlp::{self, OtlpRequest, flat_spans};
use otelite_tests::{ServerProcess, Signal, TestServer};
use prost::Message;

/// Bytes that are not a protobuf message: field 1 with wire type 7, which does not exist.
const NOT_PROTOBUF: &[u8] = &[0x0f, 0xff, 0xff, 0xff, 0xff];

#[tokio::test(flavor = "multi_thread")]
async fn malformed_protobuf_is_400_over_http_with_a_reason() {
    let server = TestServer::start().await;
    for signal in Signal::ALL {
        let response = server
            .post_otlp(signal, "application/x-protobuf", NOT_PROTOBUF.to_vec())
            .await;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        assert_eq!(
            status,
            400,
            "malformed protobuf on /v1/{}: {body:?}",
            signal.name()
        );
        // OTLP/HTTP: the body of an error is a google.rpc.Status with a message.
        let rpc_status = tonic_status_message(&body);
        assert!(
            !rpc_status.is_empty(),
            "a 400 carries a reason, got {body:?}"
        );
    }
    let response = server
        .post_otlp(
            Signal::Traces,
            "application/json",
            b"{\"resourceSpans\": [".to_vec(),
        )
        .await;
    assert_eq!(response.status(), 400, "malformed JSON");
    server.assert_serving().await;
    server.stop().await;
}

/// The `message` of a protobuf `google.rpc.Status` (field 2), or the body as text if it is not
/// one (a JSON error also says why).
fn tonic_status_message(body: &[u8]) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    match RpcStatus::decode(body) {
        Ok(status) if !status.message.is_empty() => status.message,
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_protobuf_is_invalid_argument_over_grpc() {
    let server = TestServer::start().await;
    // A raw gRPC call whose message bytes are not a valid ExportTraceServiceRequest: frame it by
    // hand (flag 0, 4-byte length, bytes) and post it over HTTP/2 with prior knowledge.
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(NOT_PROTOBUF.len() as u32).to_be_bytes());
    frame.extend_from_slice(NOT_PROTOBUF);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(format!(
            "{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            server.grpc_endpoint()
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(frame)
        .send()
        .await
        .expect("a gRPC response");
    let headers = response.headers().clone();
    assert_eq!(
        response.status(),
        200,
        "gRPC always answers 200 at the HTTP level"
    );
    // Trailers-only responses put grpc-status in the headers; tonic does so for errors.
    let grpc_status = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let grpc_message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(grpc_status, "3", "INVALID_ARGUMENT; headers: {headers:?}");
    assert!(!grpc_message.is_empty(), "InvalidArgument carries a reason");
    server.assert_serving().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_content_type_is_415() {
    let server = TestServer::start().await;
    let body = otlp::traces_request("content-type", 1).encode_to_vec();
    for content_type in ["text/plain", "application/xml", "multipart/form-data"] {
        let response = server
            .post_otlp(Signal::Traces, content_type, body.clone())
            .await;
        assert_eq!(response.status(), 415, "Content-Type {content_type}");
    }
    let response = server
        .client()
        .post(server.otlp_http_url(Signal::Traces))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "no Content-Type at all");
    server.assert_serving().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn body_over_the_limit_is_413() {
    let server = TestServer::start_with(|config| config.max_request_bytes = 64 * 1024).await;
    // A valid request just over the limit: one span with a large attribute.
    let mut request = otlp::traces_request("too-big", 1);
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.attributes
        .push(otlp::string_attribute("big", &"x".repeat(70 * 1024)));
    let body = request.encode_to_vec();
    let response = server
        .post_otlp(Signal::Traces, "application/x-protobuf", body.clone())
        .await;
    assert_eq!(
        response.status(),
        413,
        "a {} byte body with a 64 KiB limit",
        body.len()
    );

    // The same, gzip-compressed: the limit applies after decompression.
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&body).unwrap();
    let compressed = gzip.finish().unwrap();
    assert!(compressed.len() < 64 * 1024);
    let response = server
        .client()
        .post(server.otlp_http_url(Signal::Traces))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        413,
        "the limit counts decompressed bytes"
    );
    server.assert_serving().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bomb_is_413_and_fast() {
    // Default limit (16 MiB): 64 MiB of zeros, which gzip shrinks to about 64 KiB.
    let server = TestServer::start().await;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        gzip.write_all(&zeros).unwrap();
    }
    let bomb = gzip.finish().unwrap();
    for (signal, content_type) in [
        (Signal::Traces, "application/x-protobuf"),
        (Signal::Logs, "application/json"),
    ] {
        let started = Instant::now();
        let response = server
            .client()
            .post(server.otlp_http_url(signal))
            .header("content-type", content_type)
            .header("content-encoding", "gzip")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            response.status(),
            413,
            "a gzip bomb on /v1/{}",
            signal.name()
        );
        assert!(
            elapsed < Duration::from_secs(2),
            "the bomb is refused as soon as the limit is passed, not after inflating it all: {elapsed:?}"
        );
    }
    server.assert_serving().await;
    server.stop().await;
}

const BINARY: &str = env!("CARGO_BIN_EXE_otelite-e2e");
const HOUR: u64 = 3_600_000_000_000;

/// POSTs `request` as OTLP/HTTP protobuf; asserts 200 with nothing rejected.
async fn post_all_accepted<T: OtlpRequest>(client: &reqwest::Client, url: &str, request: &T) {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("OTLP/HTTP answers");
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    assert_eq!(status, 200, "POST {url}: {body:?}");
    let rejected = T::rejected_in_protobuf_response(&body).map_or(0, |r| r.count);
    assert_eq!(rejected, 0, "POST {url}: {body:?}");
}

/// One request whose spans lie 300 hours apart (a replay of old data, inside a window widened
/// for it) is stored, and a client sending live data meanwhile is not failed by it, even when
/// the server may open fewer files than the request has hours.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_spread_over_300_hours_fails_no_one_even_with_few_open_files() {
    const HOURS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn_limited(
        BINARY,
        &dir.path().join("data"),
        &["--max-item-age", "unlimited", "--retention", "unlimited"],
        128,
    );
    let spans = (0..HOURS)
        .map(|hour| {
            let mut span = otlp::span(&format!("hour-{hour}"));
            span.start_time_unix_nano -= hour * HOUR;
            span.end_time_unix_nano -= hour * HOUR;
            span
        })
        .collect();
    let scattered = otlp::traces_request_of("replay", spans);
    let client = reqwest::Client::new();
    let url = server.otlp_http_url(Signal::Traces);
    let live = async {
        for i in 0..20 {
            post_all_accepted(
                &client,
                &url,
                &otlp::traces_request(&format!("live-{i}"), 5),
            )
            .await;
        }
    };
    tokio::join!(post_all_accepted(&client, &url, &scattered), live);

    let status = client
        .get(server.ui_url("/api/v1/status"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let status: otelite_api::Status = serde_json::from_slice(&status).unwrap();
    assert_eq!(status.traces.stored, HOURS + 20 * 5, "{status:?}");
    assert_eq!(status.traces.rejected, 0);
}

/// Three spans, the middle one with a 15-byte trace id.
fn one_bad_span_of_three() -> (ExportTraceServiceRequest, ExportTraceServiceRequest) {
    let mut request = otlp::traces_request("bad-trace-id", 3);
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[1].trace_id.truncate(15);
    let mut good = request.clone();
    good.resource_spans[0].scope_spans[0].spans.remove(1);
    (request, good)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_trace_id_rejects_that_span_only_over_http_json() {
    let server = TestServer::start().await;
    let (request, good) = one_bad_span_of_three();
    // OTLP/JSON carries ids as hex: the bad one is 30 hex digits.
    let body = serde_json::to_vec(&request).unwrap();
    let response = server
        .post_otlp(Signal::Traces, "application/json", body)
        .await;
    let status = response.status();
    let json: serde_json::Value = response.json_or_panic().await;
    assert_eq!(
        status, 200,
        "a partly bad batch is a partial success: {json}"
    );
    let rejected = otlp::rejected_in_json_response(&json)
        .unwrap_or_else(|| panic!("partialSuccess in {json}"));
    assert_eq!(rejected.count, 1, "{json}");
    assert!(
        !rejected.message.is_empty(),
        "the rejection says why: {json}"
    );

    let stored: ExportTraceServiceRequest = server.export().await;
    assert_eq!(
        flat_spans(&stored),
        flat_spans(&good),
        "the two good spans are stored"
    );
    assert_eq!(server.status().await.traces.rejected, 1);
    server.assert_serving().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_trace_id_rejects_that_span_only_over_grpc() {
    let server = TestServer::start().await;
    let (request, good) = one_bad_span_of_three();
    let rejected = request
        .send_grpc(server.grpc_endpoint(), false)
        .await
        .expect("a partly bad batch is a partial success, not an error")
        .expect("partial_success is set");
    assert_eq!(rejected.count, 1);
    assert!(!rejected.message.is_empty(), "the rejection says why");

    let stored: ExportTraceServiceRequest = server.export().await;
    assert_eq!(
        flat_spans(&stored),
        flat_spans(&good),
        "the two good spans are stored"
    );
    server.assert_serving().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_export_params_are_400_with_a_json_error() {
    let server = TestServer::start().await;
    for query in [
        "start=yesterday",
        "end=-5",
        "start=10&end=5",
        "start=99999999999999999999999",
    ] {
        let path = format!("/api/v1/export/traces?{query}");
        let (code, body) = server.get_json(&path).await;
        assert_eq!(code, 400, "{path}: {body}");
        let error: otelite_api::ErrorBody = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{path}: not an ErrorBody ({e}): {body}"));
        assert!(!error.error.is_empty());
    }
    let (code, body) = server.get_json("/api/v1/export/profiles").await;
    assert_eq!(code, 404, "unknown signal: {body}");
    assert!(body["error"].is_string(), "{body}");
    server.assert_serving().await;
    server.stop().await;
}

trait JsonOrPanic {
    async fn json_or_panic(self) -> serde_json::Value;
}

impl JsonOrPanic for reqwest::Response {
    async fn json_or_panic(self) -> serde_json::Value {
        let bytes = self.bytes().await.expect("the body arrives");
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    }
}
