//! Retention end to end: a server restarted with a shorter `--retention` deletes the hours it
//! no longer keeps (their records, counts and segment files), and refuses records that old
//! through OTLP `partial_success` instead of bringing them back.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use otelite_tests::otlp::{logs_request, now_nanos};
use otelite_tests::{Signal, TestServer};
use prost::Message;

const HOUR: u64 = 3_600_000_000_000;

/// `count` records of `service`, `ago` nanoseconds in the past.
fn logs_ago(service: &str, count: usize, ago: u64) -> ExportLogsServiceRequest {
    let mut request = logs_request(service, count);
    for record in &mut request.resource_logs[0].scope_logs[0].log_records {
        record.time_unix_nano -= ago;
        record.observed_time_unix_nano -= ago;
    }
    request
}

async fn stored_records(server: &TestServer) -> usize {
    let path = format!("/api/v1/logs?start=0&end={}&limit=1000", now_nanos() + HOUR);
    let (code, body) = server.get_json(&path).await;
    assert_eq!(code, 200, "{body}");
    body["records"].as_array().expect("records").len()
}

fn log_partitions(server: &TestServer) -> Vec<u64> {
    otelite_tests::partitions_on_disk(server.data_dir(), Signal::Logs)
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hours_past_the_retention_are_deleted_and_refused_when_sent_again() {
    let mut server = TestServer::start_with(|config| config.retention = [None; 3]).await;
    let old = logs_ago("old", 3, 5 * HOUR);
    server.send_protobuf(&old).await;
    server.send_protobuf(&logs_request("recent", 2)).await;
    assert_eq!(stored_records(&server).await, 5);
    assert_eq!(log_partitions(&server).len(), 2);

    server
        .restart_with(|config| {
            config.retention = [None, None, Some(Duration::from_secs(2 * 3600))];
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_records(&server).await != 2 {
        assert!(Instant::now() < deadline, "the old hour is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.status().await.logs.stored, 2);
    let newest = *log_partitions(&server)
        .last()
        .expect("the recent hour's files");
    while log_partitions(&server) != [newest] {
        assert!(
            Instant::now() < deadline,
            "the old hour's files are still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Sent again, the old records are refused, saying why; the recent ones still go in.
    let mut mixed = logs_ago("old", 3, 5 * HOUR);
    mixed
        .resource_logs
        .extend(logs_request("recent", 1).resource_logs);
    let response = server
        .post_otlp(
            Signal::Logs,
            "application/x-protobuf",
            mixed.encode_to_vec(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("an answer");
    let partial = ExportLogsServiceResponse::decode(body.as_ref())
        .expect("an OTLP response")
        .partial_success
        .expect("a partial success");
    assert_eq!(partial.rejected_log_records, 3, "{}", partial.error_message);
    assert!(
        partial.error_message.contains("--retention"),
        "{}",
        partial.error_message
    );
    assert_eq!(stored_records(&server).await, 3);
    server.stop().await;
}
