//! OTLP/HTTP receiver tests: requests go through the router with `oneshot`, no socket.

use std::io::Write;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use otelite_storage::Signal;
use prost::Message;
use tower::ServiceExt;

use super::*;
use crate::ingest::test_support::{TRACE_ID, state, state_with, traces};
use crate::otlp::RpcStatus;
use crate::state::Limits;

const LIMIT: usize = 16 << 20;

fn example(name: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/otlp-json")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

async fn send(limit: usize, request: Request<Body>) -> (Response<Body>, Vec<u8>) {
    let (state, _dir) = state(limit);
    send_to(&state, request).await
}

async fn send_to(state: &AppState, request: Request<Body>) -> (Response<Body>, Vec<u8>) {
    let response = http_router(state.clone(), None)
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (Response::from_parts(parts, Body::empty()), bytes)
}

/// The partial success of a protobuf trace export response, which must have one.
fn partial_success(bytes: &[u8]) -> ExportTracePartialSuccess {
    ExportTraceServiceResponse::decode(bytes)
        .unwrap()
        .partial_success
        .expect("the response reports a partial success")
}

fn content_type(response: &Response<Body>) -> &str {
    response.headers()[header::CONTENT_TYPE].to_str().unwrap()
}

#[tokio::test]
async fn protobuf_export_is_acknowledged_in_protobuf_without_partial_success() {
    let body = traces(&[TRACE_ID]).encode_to_vec();
    let (response, bytes) = send(LIMIT, post("/v1/traces", PROTOBUF, body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), PROTOBUF);
    let decoded = ExportTraceServiceResponse::decode(&bytes[..]).unwrap();
    assert_eq!(decoded.partial_success, None);
}

#[tokio::test]
async fn acknowledged_data_is_already_in_the_store() {
    let (state, _dir) = state(LIMIT);
    let everything = otelite_storage::TimeRange {
        start: 0,
        end: u64::MAX,
    };
    let (response, _) = send_to(&state, post("/v1/traces", JSON, example("trace.json"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored = state.store.read_traces(everything).unwrap();
    let spans: Vec<_> = stored
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "I'm a server span");

    let (response, _) = send_to(&state, post("/v1/logs", JSON, example("logs.json"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state.store.read_logs(everything).unwrap().len(), 1);
}

#[tokio::test]
async fn official_json_examples_are_acknowledged_in_json() {
    for (path, file) in [
        ("/v1/traces", "trace.json"),
        ("/v1/metrics", "metrics.json"),
        ("/v1/logs", "logs.json"),
        ("/v1/logs", "events.json"),
    ] {
        let request = post(path, "application/json; charset=utf-8", example(file));
        let (response, bytes) = send(LIMIT, request).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}: {bytes:?}");
        assert_eq!(content_type(&response), JSON);
        assert_eq!(bytes, b"{}", "{file}");
    }
}

#[tokio::test]
async fn invalid_items_are_rejected_counted_and_reported_the_rest_kept() {
    let (state, _dir) = state(LIMIT);
    let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"},
        {"traceId":"abcdef","spanId":"eee19b7ec3c1b174","name":"short"}]}]}]}"#;
    let (response, bytes) = send_to(&state, post("/v1/traces", JSON, &body[..])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["partialSuccess"]["rejectedSpans"], "1");
    let message = json["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("span \"short\": trace_id must be 16 bytes, got 3"),
        "{message}"
    );
    assert_eq!(state.telemetry.refused_total(Signal::Traces), 1);

    let body = traces(&[&[1, 2, 3], &[0; 16]]).encode_to_vec();
    let (response, bytes) = send_to(&state, post("/v1/traces", PROTOBUF, body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let partial = partial_success(&bytes);
    assert_eq!(partial.rejected_spans, 2);
    assert_eq!(state.telemetry.refused_total(Signal::Traces), 3);
}

#[tokio::test]
async fn items_outside_the_time_window_get_partial_success_naming_the_bound() {
    let (state, _dir) = state_with(Limits {
        max_request_bytes: LIMIT,
        ..Limits::default()
    });
    const HOUR: u64 = 3_600_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut request = traces(&[TRACE_ID, TRACE_ID, TRACE_ID, TRACE_ID]);
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    // 2255-01-01T00:00:00Z, 1970, a month ago, and now.
    for (span, start) in spans
        .iter_mut()
        .zip([8_993_721_600_000_000_000, 1, now - 720 * HOUR, now])
    {
        span.start_time_unix_nano = start;
    }
    let body = request.encode_to_vec();
    let (response, bytes) = send_to(&state, post("/v1/traces", PROTOBUF, body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let partial = partial_success(&bytes);
    assert_eq!(partial.rejected_spans, 3);
    assert_eq!(
        partial.error_message,
        "3 spans rejected; the first because span \"span 0\": start time 2255-01-01T00:00:00Z \
         is more than 1h in the future (--max-item-future)"
    );
    let stored = state
        .store
        .read_traces(otelite_storage::TimeRange::ALL)
        .unwrap();
    let names: Vec<_> = stored
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["span 3"]);

    let mut old = traces(&[TRACE_ID]);
    old.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = now - 720 * HOUR;
    let (_, bytes) = send_to(&state, post("/v1/traces", PROTOBUF, old.encode_to_vec())).await;
    let message = partial_success(&bytes).error_message;
    assert!(
        message.ends_with("is older than 7d (--max-item-age)"),
        "{message}"
    );
}

#[tokio::test]
async fn unsupported_content_types_and_encodings_are_415_with_a_reason() {
    let (response, bytes) = send(LIMIT, post("/v1/logs", "text/plain", "hello")).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.headers()[header::CONNECTION], "close");
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("application/x-protobuf or application/json"),
        "{text}"
    );

    let missing = Request::post("/v1/logs").body(Body::from("{}")).unwrap();
    let (response, _) = send(LIMIT, missing).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut request = post("/v1/logs", JSON, "{}");
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "br".parse().unwrap());
    let (response, bytes) = send(LIMIT, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let status: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        status["message"].as_str().unwrap().contains("\"br\""),
        "{status}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_status_in_the_request_encoding() {
    let (response, bytes) = send(LIMIT, post("/v1/traces", PROTOBUF, vec![0x0a, 0xff])).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers().get(header::CONNECTION).is_none(),
        "the body was read whole: the connection stays usable"
    );
    assert_eq!(content_type(&response), PROTOBUF);
    let status = RpcStatus::decode(&bytes[..]).unwrap();
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(status.message.contains("protobuf"), "{}", status.message);

    let (response, bytes) = send(LIMIT, post("/v1/metrics", JSON, "{\"resourceMetrics\":")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_type(&response), JSON);
    let status: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status["code"], 3);
    assert!(status["message"].as_str().unwrap().contains("OTLP/JSON"));

    let mut request = post("/v1/traces", PROTOBUF, &b"not gzip at all"[..]);
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    let (response, _) = send(LIMIT, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn gzip_bodies_are_decompressed() {
    let mut request = post(
        "/v1/traces",
        PROTOBUF,
        gzip(&traces(&[TRACE_ID]).encode_to_vec()),
    );
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    let (response, bytes) = send(LIMIT, request).await;
    assert_eq!(response.status(), StatusCode::OK, "{bytes:?}");
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_limit_quickly() {
    // 100 MiB of zeros as 100 concatenated gzip members of 1 MiB: ~100 KiB on the wire.
    let member = gzip(&vec![0; 1 << 20]);
    let bomb = member.repeat(100);
    assert!(bomb.len() < LIMIT);
    let mut request = post("/v1/logs", PROTOBUF, bomb);
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    let started = Instant::now();
    let (response, bytes) = send(LIMIT, request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status = RpcStatus::decode(&bytes[..]).unwrap();
    assert!(
        status.message.contains("once decompressed"),
        "{}",
        status.message
    );
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn gunzip_never_holds_more_than_the_limit() {
    let limit = 3 << 20;
    let member = gzip(&vec![0; 1 << 20]);
    let budget = crate::ingest::MemoryBudget::new(64 << 20);
    let charge = budget.charge();
    let output = gunzip(&member.repeat(3), limit, &charge).unwrap();
    assert_eq!(output.len(), limit);
    assert!(output.capacity() <= limit, "capacity {}", output.capacity());
    assert_eq!(
        charge.bytes(),
        output.capacity(),
        "every byte of the buffer is charged"
    );
    assert!(matches!(
        gunzip(&member.repeat(4), limit, &budget.charge()),
        Err(IngestError::TooLarge {
            decompressed: true,
            ..
        })
    ));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_or_without_content_length() {
    let limit = 1024;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 200])).collect();
    let streamed = post(
        "/v1/traces",
        JSON,
        Body::from_stream(futures_util::stream::iter(chunks)),
    );
    assert!(streamed.headers().get(header::CONTENT_LENGTH).is_none());
    let (response, bytes) = send(limit, streamed).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(status["message"].as_str().unwrap().contains("1024 bytes"));

    let mut declared = post("/v1/traces", JSON, "{}");
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "5000".parse().unwrap());
    let (response, _) = send(limit, declared).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()[header::CONNECTION],
        "close",
        "the rest of the body is unread: the connection cannot be reused"
    );

    // A chunked body under the limit is fine.
    let chunks: Vec<Result<&'static [u8], std::io::Error>> =
        vec![Ok(b"{\"resour"), Ok(b"ceLogs\":[]}")];
    let request = post(
        "/v1/logs",
        JSON,
        Body::from_stream(futures_util::stream::iter(chunks)),
    );
    let (response, _) = send(limit, request).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn browsers_get_cors_preflight_answers() {
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/v1/traces")
        .header(header::ORIGIN, "http://localhost:3000")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let (response, _) = send(LIMIT, preflight).await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let mut request = post("/v1/traces", JSON, example("trace.json"));
    request
        .headers_mut()
        .insert(header::ORIGIN, "http://localhost:3000".parse().unwrap());
    let (response, _) = send(LIMIT, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn other_methods_are_405() {
    let request = Request::get("/v1/metrics").body(Body::empty()).unwrap();
    let (response, _) = send(LIMIT, request).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST, OPTIONS");
}

#[test]
fn overload_responses_carry_retry_after() {
    let error = IngestError::Unavailable(otelite_storage::SubmitError::Overloaded {
        pending_bytes: 2,
        limit: 1,
    });
    let response = error_response(Some(Format::Json), &error);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
}

/// A charge that holds `bytes` of the state's memory budget, as requests in flight would.
fn hog(state: &AppState, bytes: usize) -> crate::ingest::budget::Charge {
    let charge = state.budget.charge();
    charge.grow(bytes).unwrap();
    charge
}

fn assert_memory_busy(response: &Response<Body>, body: &[u8]) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    // Refused before its body was read: the connection must not carry another request.
    assert_eq!(response.headers()[header::CONNECTION], "close");
    let status = RpcStatus::decode(body).unwrap();
    assert!(
        status.message.contains("--max-memory"),
        "{}",
        status.message
    );
    assert_eq!(status.details.len(), 1, "a RetryInfo travels with it");
}

#[tokio::test]
async fn a_spent_memory_budget_refuses_requests_before_reading_them() {
    let (state, _dir) = crate::ingest::test_support::state_with_budget(1 << 20, 2 << 20);
    let body = traces(&[TRACE_ID]).encode_to_vec();
    let held = hog(&state, 2 << 20);
    let (response, bytes) = send_to(&state, post("/v1/traces", PROTOBUF, body.clone())).await;
    assert_memory_busy(&response, &bytes);
    assert_eq!(state.store.stats().unwrap().spans, 0);

    drop(held);
    let (response, _) = send_to(&state, post("/v1/traces", PROTOBUF, body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state.store.stats().unwrap().spans, 1);
    assert_eq!(
        state.budget.used(),
        0,
        "an answered request gives its memory back"
    );
}

#[tokio::test]
async fn a_chunked_body_is_refused_when_its_frames_outgrow_the_budget() {
    let (state, _dir) = crate::ingest::test_support::state_with_budget(1 << 20, 2 << 20);
    let _held = hog(&state, (2 << 20) - 1000);
    // No Content-Length: the body is charged frame by frame as it arrives.
    let frames = (0..4).map(|_| Ok::<_, std::io::Error>(vec![0u8; 16 << 10]));
    let body = Body::from_stream(futures_util::stream::iter(frames));
    let (response, bytes) = send_to(&state, post("/v1/traces", PROTOBUF, body)).await;
    assert_memory_busy(&response, &bytes);
    assert_eq!(state.budget.used(), (2 << 20) - 1000);
}

#[tokio::test]
async fn decompressed_bytes_are_charged_too() {
    // 1 MiB of zeros gzips to about a kilobyte: the charge for the body is tiny, the one for
    // its decompression is not.
    let (state, _dir) = crate::ingest::test_support::state_with_budget(2 << 20, 4 << 20);
    let compressed = gzip(&vec![0u8; 1 << 20]);
    let _held = hog(&state, 3 << 20);
    let request = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, PROTOBUF)
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(compressed))
        .unwrap();
    let (response, bytes) = send_to(&state, request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let status = RpcStatus::decode(&bytes[..]).unwrap();
    assert!(
        status.message.contains("--max-memory"),
        "{}",
        status.message
    );
    assert_eq!(state.budget.used(), 3 << 20);
}
