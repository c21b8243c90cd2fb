//! Liveness and readiness: `GET /healthz` answers while the process serves requests; `GET
//! /readyz` only while it accepts data: not during startup or shutdown, and not while the store
//! cannot write (a full disk), when its 503 says why. `otelite health` asks `/readyz` of a
//! running server, for container health checks, over TLS when the configuration has it. The
//! probes need no token (orchestrators cannot send one).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use otelite_storage::{Health, Store};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Config;

/// What readiness depends on.
#[derive(Clone)]
struct Readiness {
    /// Set between startup and shutdown.
    serving: Arc<AtomicBool>,
    store: Store,
}

pub fn health_router(serving: Arc<AtomicBool>, store: Store) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Readiness { serving, store })
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, String) {
    if !readiness.serving.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string());
    }
    match readiness.store.health() {
        Health::Failing {
            error,
            since_unix_nano,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let seconds = now.saturating_sub(since_unix_nano) / 1_000_000_000;
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: writes have failed for {seconds} s: {error}\n"),
            )
        }
        _ => (StatusCode::OK, "ready\n".to_string()),
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
    let tls = config
        .tls
        .as_ref()
        .map(crate::tls::pinned_connector)
        .transpose()?;
    let status_line = tokio::time::timeout(Duration::from_secs(3), async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        match tls {
            None => ask_ready(stream).await,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::IpAddress(host.into());
                ask_ready(tls.connect(name, stream).await?).await
            }
        }
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

/// Sends `GET /readyz` and returns the response's status line.
async fn ask_ready(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> std::io::Result<String> {
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: otelite\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    // A TLS server may close without close_notify once it has answered; what arrived counts.
    if let Err(error) = stream.read_to_end(&mut response).await
        && response.is_empty()
    {
        return Err(error);
    }
    let text = String::from_utf8_lossy(&response);
    Ok(text.lines().next().unwrap_or_default().to_string())
}
