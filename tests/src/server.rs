//! [`TestServer`]: otelite started in-process with `otelite::start`, on port 0 and a temp dir.

use std::net::SocketAddr;

use otelite::{Config, RunningServer};
use otelite_api::{Signal, Status};
use serde_json::Value;
use tempfile::TempDir;

use crate::otlp::OtlpRequest;

/// otelite running inside the test process. Dropping it without [`TestServer::stop`] aborts the
/// listeners without flushing, like a crash of the serving tasks (the temp dir is removed).
pub struct TestServer {
    dir: TempDir,
    config: Config,
    server: Option<RunningServer>,
    client: reqwest::Client,
}

impl TestServer {
    /// Starts otelite with [`Config::ephemeral`] on a fresh temporary directory.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], after letting the test adjust the configuration.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir can be created");
        let mut config = Config::ephemeral(dir.path().join("data"));
        configure(&mut config);
        let server = otelite::start(&config)
            .await
            .unwrap_or_else(|e| panic!("otelite starts on {}: {e}", dir.path().display()));
        TestServer {
            dir,
            config,
            server: Some(server),
            client: reqwest::Client::new(),
        }
    }

    fn running(&self) -> &RunningServer {
        self.server.as_ref().expect("the server is running")
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    pub fn temp_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.running().grpc_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.running().http_addr
    }

    pub fn ui_addr(&self) -> SocketAddr {
        self.running().ui_addr
    }

    /// The full OTLP/HTTP URL of one signal, e.g. `http://127.0.0.1:1234/v1/traces`.
    pub fn otlp_http_url(&self, signal: Signal) -> String {
        format!("http://{}/v1/{}", self.http_addr(), signal.name())
    }

    /// The OTLP/gRPC endpoint, e.g. `http://127.0.0.1:1234`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr())
    }

    /// A URL on the UI and query API port; `path` starts with `/`.
    pub fn ui_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ui_addr())
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs `path` on the UI port and parses the body as JSON, whatever the status code.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        get_json(&self.client, &self.ui_url(path)).await
    }

    /// `GET /api/v1/status`, which must succeed.
    pub async fn status(&self) -> Status {
        let (code, body) = self.get_json("/api/v1/status").await;
        assert_eq!(code, 200, "GET /api/v1/status: {body}");
        serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("/api/v1/status is not a Status ({e}): {body}"))
    }

    /// Everything stored for `T`'s signal, as the export API returns it (raw OTLP/JSON).
    pub async fn export_json<T: OtlpRequest>(&self) -> Value {
        let url = self.ui_url(&format!("/api/v1/export/{}", T::SIGNAL.name()));
        let (code, body) = get_json(&self.client, &url).await;
        assert_eq!(code, 200, "GET {url}: {body}");
        body
    }

    /// Everything stored for `T`'s signal, decoded into the OTLP request type.
    pub async fn export<T: OtlpRequest>(&self) -> T {
        let raw = self.export_json::<T>().await;
        crate::otlp::assert_otlp_json_conventions(&raw);
        crate::otlp::decode_json(&serde_json::to_vec(&raw).expect("JSON serialises"))
    }

    /// POSTs an OTLP body to the signal's OTLP/HTTP endpoint.
    pub async fn post_otlp(
        &self,
        signal: Signal,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.otlp_http_url(signal))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the OTLP/HTTP request gets a response")
    }

    /// Sends `request` as OTLP/HTTP protobuf and asserts it is fully accepted.
    pub async fn send_protobuf<T: OtlpRequest>(&self, request: &T) {
        let response = self
            .post_otlp(T::SIGNAL, "application/x-protobuf", request.encode_to_vec())
            .await;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        assert_eq!(status, 200, "POST /v1/{}: {body:?}", T::SIGNAL.name());
    }

    /// Asserts the server still serves: `/healthz` on the UI port answers 200 and a small
    /// valid trace request is accepted.
    pub async fn assert_serving(&self) {
        let health = self
            .client
            .get(self.ui_url("/healthz"))
            .send()
            .await
            .expect("/healthz answers");
        assert_eq!(health.status(), 200, "/healthz");
        self.send_protobuf(&crate::otlp::traces_request("still-serving", 1))
            .await;
    }

    /// Shuts down cleanly (flushing the store) and starts again on the same data directory.
    pub async fn restart(&mut self) {
        let server = self.server.take().expect("the server is running");
        server.shutdown().await.expect("otelite shuts down cleanly");
        let server = otelite::start(&self.config)
            .await
            .unwrap_or_else(|e| panic!("otelite restarts on the same data: {e}"));
        self.server = Some(server);
    }

    /// Like [`TestServer::restart`], with the configuration changed by `configure` first.
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        configure(&mut self.config);
        self.restart().await;
    }

    /// Shuts down cleanly.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("otelite shuts down cleanly");
        }
    }
}

/// GETs `url` and parses the body as JSON, whatever the status code.
pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let code = response.status().as_u16();
    let bytes = response.bytes().await.expect("the response body arrives");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "GET {url} ({code}) is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (code, body)
}
