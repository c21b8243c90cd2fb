//! What otelite acknowledged survives: SIGKILL right after the last acknowledgement loses
//! nothing and the store opens cleanly afterwards; SIGTERM exits 0 promptly with data flushed.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite_tests::ServerProcess;
use otelite_tests::otlp::{self, Flat, OtlpRequest, flat_logs, flat_points, flat_spans};

const BINARY: &str = env!("CARGO_BIN_EXE_otelite-e2e");

/// Everything sent to one server, per signal.
#[derive(Default)]
struct Sent {
    traces: ExportTraceServiceRequest,
    metrics: ExportMetricsServiceRequest,
    logs: ExportLogsServiceRequest,
}

/// Sends `rounds` requests of each signal, alternating OTLP/HTTP protobuf and gRPC (gzip every
/// other gRPC call), each acknowledged before the next; returns what was acknowledged.
async fn send_mixed(server: &ServerProcess, rounds: usize) -> Sent {
    let client = reqwest::Client::new();
    let mut sent = Sent::default();
    for round in 0..rounds {
        let name = format!("round-{round}");
        let traces = otlp::traces_request(&name, 3);
        let metrics = otlp::metrics_request(&name, 2);
        let logs = otlp::logs_request(&name, 4);
        if round % 2 == 0 {
            post(&client, server, &traces).await;
            post(&client, server, &metrics).await;
            post(&client, server, &logs).await;
        } else {
            let gzip = round % 4 == 1;
            grpc(server, &traces, gzip).await;
            grpc(server, &metrics, gzip).await;
            grpc(server, &logs, gzip).await;
        }
        sent.traces.resource_spans.extend(traces.resource_spans);
        sent.metrics
            .resource_metrics
            .extend(metrics.resource_metrics);
        sent.logs.resource_logs.extend(logs.resource_logs);
    }
    sent
}

async fn post<T: OtlpRequest>(client: &reqwest::Client, server: &ServerProcess, request: &T) {
    let response = client
        .post(server.otlp_http_url(T::SIGNAL))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("OTLP/HTTP answers");
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    assert_eq!(status, 200, "POST /v1/{}: {body:?}", T::SIGNAL.name());
    let rejected = T::rejected_in_protobuf_response(&body);
    assert_eq!(
        rejected.map(|r| r.count).unwrap_or(0),
        0,
        "nothing rejected"
    );
}

async fn grpc<T: OtlpRequest>(server: &ServerProcess, request: &T, gzip: bool) {
    let rejected = request
        .clone()
        .send_grpc(server.grpc_endpoint(), gzip)
        .await
        .unwrap_or_else(|e| panic!("gRPC {} export: {e}", T::SIGNAL.name()));
    assert_eq!(
        rejected.map(|r| r.count).unwrap_or(0),
        0,
        "nothing rejected"
    );
}

async fn export<T: OtlpRequest>(server: &ServerProcess) -> T {
    let url = server.ui_url(&format!("/api/v1/export/{}", T::SIGNAL.name()));
    let response = reqwest::get(&url).await.expect("the export API answers");
    let status = response.status();
    let bytes = response.bytes().await.expect("the export arrives");
    assert_eq!(
        status,
        200,
        "GET {url}: {}",
        String::from_utf8_lossy(&bytes)
    );
    otlp::decode_json(&bytes)
}

/// Every item sent is in what is stored (the store may hold more, e.g. from an earlier run).
fn assert_all_stored<T: PartialEq + std::fmt::Debug>(
    what: &str,
    stored: &[Flat<T>],
    sent: &[Flat<T>],
) {
    let missing: Vec<&Flat<T>> = sent.iter().filter(|item| !stored.contains(item)).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {} acknowledged items are missing or changed, first: {:#?}",
        missing.len(),
        sent.len(),
        missing.first()
    );
}

async fn assert_everything_stored(server: &ServerProcess, sent: &Sent) {
    let traces: ExportTraceServiceRequest = export(server).await;
    assert_all_stored("spans", &flat_spans(&traces), &flat_spans(&sent.traces));
    let metrics: ExportMetricsServiceRequest = export(server).await;
    assert_all_stored(
        "points",
        &flat_points(&metrics),
        &flat_points(&sent.metrics),
    );
    let logs: ExportLogsServiceRequest = export(server).await;
    assert_all_stored("log records", &flat_logs(&logs), &flat_logs(&sent.logs));
}

async fn status(server: &ServerProcess) -> otelite_api::Status {
    let url = server.ui_url("/api/v1/status");
    let response = reqwest::get(&url).await.expect("the status API answers");
    assert_eq!(response.status(), 200, "GET {url}");
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not a Status ({e}): {}", String::from_utf8_lossy(&bytes)))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_after_the_last_acknowledgement_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::spawn(BINARY, &data);
    let sent = send_mixed(&server, 12).await;
    // No pause, no shutdown: whatever was acknowledged must already be durable.
    server.kill_9();

    let server = ServerProcess::spawn(BINARY, &data);
    let status = status(&server).await;
    assert_eq!(status.traces.stored, 12 * 3, "{status:?}");
    assert_eq!(status.metrics.stored, 12 * 2, "{status:?}");
    assert_eq!(status.logs.stored, 12 * 4, "{status:?}");
    assert_everything_stored(&server, &sent).await;

    // The recovered store takes new writes and keeps the old ones across a clean restart.
    let more = send_mixed(&server, 2).await;
    let exit = server.terminate(Duration::from_secs(10));
    assert!(exit.success(), "clean exit after recovery: {exit:?}");
    let server = ServerProcess::spawn(BINARY, &data);
    assert_everything_stored(&server, &sent).await;
    assert_everything_stored(&server, &more).await;
    server.kill_9();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_promptly_with_data_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::spawn(BINARY, &data);
    let sent = send_mixed(&server, 4).await;
    let started = std::time::Instant::now();
    let output_before = server.output();
    let exit = server.terminate(Duration::from_secs(10));
    assert_eq!(
        exit.code(),
        Some(0),
        "SIGTERM is a clean stop: {exit:?}\n{output_before}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an idle server stops within seconds, took {:?}",
        started.elapsed()
    );

    let server = ServerProcess::spawn(BINARY, &data);
    assert_everything_stored(&server, &sent).await;
    let health = reqwest::get(server.ui_url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    server.kill_9();
}
