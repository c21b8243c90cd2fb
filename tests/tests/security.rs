//! Security end to end: bearer tokens on ingest (OTLP/HTTP and OTLP/gRPC) and on the query API,
//! the probes and the UI's files that stay open, TLS on all three ports (with a CA this test
//! makes), the UI port's security headers, and no path out of the embedded UI files.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use otelite::config::{TlsFiles, Token};
use otelite_tests::otlp::traces_request;
use otelite_tests::{PROMPT, ServerProcess, Signal, TestServer, run_to_exit};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

const INGEST_TOKEN: &str = "ingest-s3cret";
const QUERY_TOKEN: &str = "query-s3cret";

fn token(text: &str) -> Option<Token> {
    Some(text.parse().expect("a valid token"))
}

async fn guarded_server() -> TestServer {
    TestServer::start_with(|config| {
        config.ingest_token = token(INGEST_TOKEN);
        config.query_token = token(QUERY_TOKEN);
    })
    .await
}

async fn post_traces(server: &TestServer, authorization: Option<&str>) -> (u16, String, String) {
    let mut request = server
        .client()
        .post(server.otlp_http_url(Signal::Traces))
        .header("content-type", "application/x-protobuf")
        .body(traces_request("auth", 1).encode_to_vec());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("OTLP/HTTP answers");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let status = response.status().as_u16();
    (status, challenge, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_http_needs_the_ingest_token() {
    let server = guarded_server().await;
    let (status, challenge, body) = post_traces(&server, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    assert!(body.contains("--ingest-token"), "says which token: {body}");

    let (status, challenge, body) = post_traces(&server, Some("Bearer not-the-token")).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.contains("invalid_token"), "{challenge:?}");
    assert!(body.contains("wrong"), "{body}");
    assert!(
        !body.contains("not-the-token"),
        "never echoes a token: {body}"
    );

    let (status, _, body) = post_traces(&server, Some(&format!("Bearer {QUERY_TOKEN}"))).await;
    assert_eq!(
        status, 401,
        "the query token is not the ingest token: {body}"
    );

    let (status, _, body) = post_traces(&server, Some(&format!("Bearer {INGEST_TOKEN}"))).await;
    assert_eq!(status, 200, "{body}");

    // A browser SDK's preflight needs no token, and a refusal carries the CORS headers so the
    // SDK sees the 401.
    let url = server.otlp_http_url(Signal::Traces);
    let preflight = server
        .client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(
        preflight.status().is_success(),
        "preflight: {}",
        preflight.status()
    );
    let refused = server
        .client()
        .post(&url)
        .header("origin", "https://app.example")
        .header("content-type", "application/x-protobuf")
        .body(traces_request("auth", 1).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .headers()
            .contains_key("access-control-allow-origin"),
        "{:?}",
        refused.headers()
    );

    // The probes on the OTLP/HTTP port stay open.
    let health = server
        .client()
        .get(format!("http://{}/healthz", server.http_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}

async fn export_over_grpc(
    endpoint: String,
    authorization: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut client = TraceServiceClient::connect(endpoint)
        .await
        .expect("the gRPC port accepts connections");
    let mut request = tonic::Request::new(traces_request("auth-grpc", 1));
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    client.export(request).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_grpc_needs_the_ingest_token() {
    let server = guarded_server().await;
    for authorization in [None, Some("Bearer wrong"), Some("Basic abc")] {
        let status = export_over_grpc(server.grpc_endpoint(), authorization)
            .await
            .expect_err("refused without the right token");
        assert_eq!(
            status.code(),
            tonic::Code::Unauthenticated,
            "{authorization:?}"
        );
        assert!(
            status.message().contains("--ingest-token"),
            "{}",
            status.message()
        );
    }
    export_over_grpc(
        server.grpc_endpoint(),
        Some(&format!("Bearer {INGEST_TOKEN}")),
    )
    .await
    .expect("the right token is accepted");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_api_needs_the_query_token_but_probes_and_ui_files_do_not() {
    let server = guarded_server().await;
    for path in [
        "/api/v1/status",
        "/api/v1/traces?service=x",
        "/api/v1/export/traces",
        "/api/services",
        "/loki/api/v1/labels",
    ] {
        let response = server
            .client()
            .get(server.ui_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).expect("a JSON error");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("--query-token"), "{path}: {error}");

        let response = server
            .client()
            .get(server.ui_url(path))
            .bearer_auth(INGEST_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} with the ingest token");
    }
    let response = server
        .client()
        .get(server.ui_url("/api/v1/status"))
        .bearer_auth(QUERY_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for path in ["/healthz", "/readyz", "/", "/traces"] {
        let response = server
            .client()
            .get(server.ui_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} stays open");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_tokens_nothing_is_asked() {
    let server = TestServer::start().await;
    let (status, _, body) = post_traces(&server, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get_json("/api/v1/status").await.0, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_port_sends_security_headers() {
    let server = guarded_server().await;
    for path in ["/", "/traces", "/api/v1/status"] {
        let response = server
            .client()
            .get(server.ui_url(path))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains("'wasm-unsafe-eval'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            headers["cross-origin-opener-policy"], "same-origin",
            "{path}"
        );
    }
    server.stop().await;
}

/// Sends `target` as the request target exactly as written (clients would normalise it) and
/// returns the status code and body.
async fn raw_get(addr: std::net::SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: otelite\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PROMPT, stream.read_to_end(&mut response))
        .await
        .expect("the server answers")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_path_reaches_a_file_outside_the_embedded_ui() {
    let server = TestServer::start().await;
    let (_, index) = raw_get(server.ui_addr(), "/").await;
    let index_body = index.split("\r\n\r\n").nth(1).unwrap().to_owned();
    assert!(index_body.contains("<!doctype html>"), "{index}");
    for target in [
        "/../Cargo.toml",
        "/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%2f..%2fetc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/%2fetc%2fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/..\\..\\Cargo.toml",
        "/%5c..%5c..%5cCargo.toml",
        "/server/Cargo.toml",
        "/.%2e/.%2e/Cargo.toml",
        "/index.html/../../Cargo.toml",
        "/%00../Cargo.toml",
    ] {
        let (status, response) = raw_get(server.ui_addr(), target).await;
        assert!(
            matches!(status, 200 | 400 | 404),
            "{target}: {status} {response}"
        );
        if status == 200 {
            assert!(
                response.ends_with(&index_body),
                "{target} is the UI's index: {response}"
            );
        }
        assert!(!response.contains("[package]"), "{target}: {response}");
        assert!(!response.contains("root:"), "{target}: {response}");
    }
    server.stop().await;
}

/// A throwaway CA and a certificate it issued for `localhost` and 127.0.0.1, written as PEM files.
struct TestCa {
    _dir: tempfile::TempDir,
    files: TlsFiles,
    ca: rustls_pki_types::CertificateDer<'static>,
    ca_pem: String,
}

fn test_ca() -> TestCa {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    TestCa {
        _dir: dir,
        files,
        ca: ca.der().clone(),
        ca_pem: ca.pem(),
    }
}

/// A TLS client that trusts only `ca`, offering `h2` and `http/1.1`.
fn tls_connector(ca: &rustls_pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One HTTPS request to `localhost:port` over a new connection, in the protocol ALPN chose;
/// returns the status, the HTTP version and the body.
async fn https(
    ca: &rustls_pki_types::CertificateDer<'static>,
    port: u16,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, http::Version, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tls_connector(ca)
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with port {port}: {e}"));
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let request = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost:{port}{path}"))
        .header("host", format!("localhost:{port}"))
        .header("content-type", "application/x-protobuf")
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let response = if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    let status = response.status().as_u16();
    let version = response.version();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, version, body.to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_port_serves_tls_when_configured() {
    let ca = test_ca();
    let server = TestServer::start_with(|config| config.tls = Some(ca.files.clone())).await;

    // The UI port, over HTTP/2 as ALPN chose.
    let (status, version, _) =
        https(&ca.ca, server.ui_addr().port(), "GET", "/healthz", vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_2);
    let (_, _, index) = https(&ca.ca, server.ui_addr().port(), "GET", "/", vec![]).await;
    assert!(String::from_utf8_lossy(&index).contains("<!doctype html>"));

    // The OTLP/HTTP port.
    let body = traces_request("over-tls", 2).encode_to_vec();
    let (status, _, _) = https(
        &ca.ca,
        server.http_addr().port(),
        "POST",
        "/v1/traces",
        body,
    )
    .await;
    assert_eq!(status, 200);

    // The OTLP/gRPC port, with tonic's own TLS.
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&ca.ca_pem))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(format!(
        "https://localhost:{}",
        server.grpc_addr().port()
    ))
    .unwrap()
    .tls_config(tls)
    .unwrap()
    .connect()
    .await
    .expect("gRPC over TLS connects");
    TraceServiceClient::new(channel)
        .export(traces_request("over-tls-grpc", 1))
        .await
        .expect("gRPC over TLS exports");

    let (_, _, status) = https(
        &ca.ca,
        server.ui_addr().port(),
        "GET",
        "/api/v1/status",
        vec![],
    )
    .await;
    let status: otelite_api::Status = serde_json::from_slice(&status).unwrap();
    assert_eq!(status.traces.stored, 3, "both exports arrived: {status:?}");

    // Plain HTTP to a TLS port gets no HTTP answer, promptly, and the port keeps serving TLS.
    for addr in [server.ui_addr(), server.http_addr(), server.grpc_addr()] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: otelite\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(PROMPT, stream.read_to_end(&mut answer))
            .await
            .expect("the connection is closed promptly");
        assert!(
            !answer.starts_with(b"HTTP/"),
            "plain HTTP to {addr} got {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let (status, _, _) = https(&ca.ca, server.ui_addr().port(), "GET", "/healthz", vec![]).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_tls_files_stop_startup_naming_the_file() {
    let ca = test_ca();
    let dir = tempfile::tempdir().unwrap();
    let mut config = otelite::Config::ephemeral(dir.path().join("data"));

    config.tls = Some(TlsFiles {
        cert: dir.path().join("absent.pem"),
        key: ca.files.key.clone(),
    });
    let error = otelite::start(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("absent.pem"), "{error}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key\n").unwrap();
    config.tls = Some(TlsFiles {
        cert: ca.files.cert.clone(),
        key: garbage,
    });
    let error = otelite::start(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("--tls-key") && error.contains("garbage.pem"),
        "{error}"
    );

    // The certificate's key is not the key of another certificate.
    let other = test_ca();
    config.tls = Some(TlsFiles {
        cert: ca.files.cert.clone(),
        key: other.files.key.clone(),
    });
    let error = otelite::start(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("does not fit"), "{error}");
}

#[test]
fn otelite_health_works_with_tls_and_tokens() {
    let ca = test_ca();
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_otelite-e2e");
    let cert = ca.files.cert.to_str().unwrap();
    let key = ca.files.key.to_str().unwrap();
    let server = ServerProcess::spawn_with(
        binary,
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--auth-token",
            "s3cret-in-no-log",
            "--log-level",
            "trace",
        ],
    );
    let port = server.ui_addr.port().to_string();
    let health = run_to_exit(
        binary,
        &[
            "health",
            "--ui-port",
            &port,
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ],
    );
    assert!(
        health.status.success(),
        "otelite health over TLS: {health:?}"
    );
    let plain = run_to_exit(binary, &["health", "--ui-port", &port]);
    assert!(
        !plain.status.success(),
        "plain HTTP to a TLS port is not healthy: {plain:?}"
    );

    // Requests with the right and a wrong token; no log line may hold either.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for token in ["s3cret-in-no-log", "wrong-s3cret-in-no-log"] {
            let tcp = tokio::net::TcpStream::connect(server.ui_addr).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = tls_connector(&ca.ca).connect(name, tcp).await.unwrap();
            let request = format!(
                "GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            tls.write_all(request.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let _ = tls.read_to_end(&mut answer).await;
            assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
        }
    });
    // The output is read by another thread: give it the lines of those requests.
    std::thread::sleep(Duration::from_millis(300));
    let output = server.output();
    assert!(
        output.contains("TLS") || output.lines().count() > 3,
        "trace logs: {output}"
    );
    assert!(server.terminate(Duration::from_secs(10)).success());
    assert!(
        !output.contains("s3cret-in-no-log"),
        "a token was logged:\n{output}"
    );
    assert!(output.contains("otelite ready"), "{output}");
}
