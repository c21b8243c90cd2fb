//! Liveness and readiness: `GET /healthz` answers while the process serves requests; `GET
//! /readyz` only while it accepts data (not during startup or shutdown). `otelite health` asks
//! `/readyz` of a running server, for container health checks.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;

pub fn health_router(ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(ready)
}

async fn readyz(State(ready): State<Arc<AtomicBool>>) -> (StatusCode, &'static str) {
    if ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Asks the server configured by `config` whether it is ready (exit status for `otelite health`).
pub async fn probe_ready(config: &Config) -> anyhow::Result<()> {
    // A server bound to every address is reached through loopback.
    let host = match config.bind {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    };
    let addr = SocketAddr::new(host, config.ui_port);
    let status_line = tokio::time::timeout(Duration::from_secs(3), async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: otelite\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response);
        Ok::<_, std::io::Error>(text.lines().next().unwrap_or_default().to_string())
    })
    .await
    .map_err(|_| anyhow::anyhow!("no answer from {addr} within 3 s"))?
    .map_err(|e| anyhow::anyhow!("cannot reach otelite at {addr}: {e}"))?;
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        anyhow::bail!("otelite at {addr} is not ready: {status_line}")
    }
}
