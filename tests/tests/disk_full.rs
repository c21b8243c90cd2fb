//! A full disk, for real: otelite's data directory on a 2 MiB tmpfs that the test fills up.
//! Ingest is answered 503 saying the disk is full, `/readyz` and the status API say so too, and
//! once space is freed ingest resumes by itself with everything acknowledged still there.
//!
//! Mounting needs root (or CAP_SYS_ADMIN); without it the test says so and passes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelite_tests::otlp::{self, flat_spans};
use otelite_tests::{PROMPT, Signal, TestServer};
use prost::Message;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so that a test failing with files still open does not leave the mount behind.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system has no space left; returns how many bytes fit.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("the filler file can be created");
    let chunk = vec![0x5a; 64 << 10];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // A partial last block may still fit one byte at a time.
    while let Ok(1) = file.write(&[0x5a]) {
        written += 1;
    }
    let _ = file.sync_all();
    written
}

/// What an OTLP/HTTP protobuf export got back: status, Retry-After, the error message.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    message: String,
}

async fn export(server: &TestServer, request: &ExportTraceServiceRequest) -> Answer {
    let response = server
        .post_otlp(
            Signal::Traces,
            "application/x-protobuf",
            request.encode_to_vec(),
        )
        .await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.unwrap_or_default();
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(string, tag = "2")]
        message: String,
    }
    let message = match status {
        200 => String::new(),
        _ => RpcStatus::decode(&body[..])
            .map(|s| s.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned()),
    };
    Answer {
        status,
        retry_after,
        message,
    }
}

async fn get_text(server: &TestServer, path: &str) -> (u16, String) {
    let response = server
        .client()
        .get(server.ui_url(path))
        .send()
        .await
        .expect("the UI port answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_503_saying_so_and_ingest_resumes_once_space_is_freed() {
    let tmpfs = match Tmpfs::mount("2m") {
        Ok(tmpfs) => tmpfs,
        Err(reason) => {
            println!("SKIPPED: cannot mount a 2 MiB tmpfs to fill up ({reason}); run as root");
            return;
        }
    };
    let data: PathBuf = tmpfs.path().join("data");
    let mut server = TestServer::start_with(|config| config.data_dir = data).await;
    let mut acknowledged = ExportTraceServiceRequest::default();
    let before = otlp::traces_request("before-full", 20);
    assert_eq!(export(&server, &before).await.status, 200);
    acknowledged
        .resource_spans
        .extend(before.resource_spans.clone());

    let filler = tmpfs.path().join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "the filler took some space");

    // Every export is refused, as retryable, saying why, until space is freed.
    for i in 0..3 {
        let answer = export(&server, &otlp::traces_request(&format!("full-{i}"), 200)).await;
        assert_eq!(
            answer.status, 503,
            "export {i} on a full disk: {}",
            answer.message
        );
        assert!(
            answer.message.contains("disk is full"),
            "export {i}: {}",
            answer.message
        );
        assert_eq!(answer.retry_after.as_deref(), Some("10"), "export {i}");
    }
    let (status, body) = get_text(&server, "/readyz").await;
    assert_eq!(status, 503, "/readyz on a full disk: {body}");
    assert!(body.contains("disk is full"), "/readyz: {body}");
    let (status, body) = server.get_json("/api/v1/status").await;
    match status {
        200 => {
            assert_eq!(body["writes"]["ok"], false, "{body}");
            let error = body["writes"]["error"].as_str().unwrap_or_default();
            assert!(error.contains("disk is full"), "{body}");
        }
        // The index may be closed for repair: then the status says why it cannot answer.
        _ => assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("disk is full"),
            "/api/v1/status ({status}): {body}"
        ),
    }

    // Free the space: ingest resumes by itself, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let resumed = otlp::traces_request("after-full", 20);
    let started = Instant::now();
    loop {
        let answer = export(&server, &resumed).await;
        if answer.status == 200 {
            break;
        }
        assert!(
            answer.status == 503 && started.elapsed() < PROMPT,
            "ingest did not resume within {PROMPT:?}: {} {}",
            answer.status,
            answer.message
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    acknowledged.resource_spans.extend(resumed.resource_spans);
    assert_eq!(get_text(&server, "/readyz").await.0, 200);
    assert!(server.status().await.writes.ok);

    // Everything acknowledged is there, and still there after a restart.
    let stored: ExportTraceServiceRequest = server.export().await;
    let stored = flat_spans(&stored);
    for span in flat_spans(&acknowledged) {
        assert!(stored.contains(&span), "acknowledged span lost: {span:?}");
    }
    server.restart().await;
    let stored: ExportTraceServiceRequest = server.export().await;
    let stored = flat_spans(&stored);
    for span in flat_spans(&acknowledged) {
        assert!(
            stored.contains(&span),
            "acknowledged span lost on restart: {span:?}"
        );
    }
    server.stop().await;
}
