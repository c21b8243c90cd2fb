//! How every listener serves its connections: HTTP/1 and HTTP/2 with prior knowledge (what gRPC
//! clients speak) on the same port, the timeouts that keep a slow, stalled or silent client from
//! holding a connection forever, and graceful shutdown.
//!
//! hyper brings the HTTP/1 header timeout (which also ends idle keep-alive connections) and
//! HTTP/2 keep-alive pings (which end connections to peers that vanished). This module adds what
//! hyper lacks: a new connection must show what it speaks, a whole request head or the HTTP/2
//! preface, within the header timeout (hyper would wait forever for the first bytes); and a write
//! that makes no progress for the stall timeout fails, ending the connection of a client that
//! stopped reading. An idle HTTP/2 connection stays open: gRPC clients keep theirs between
//! exports, and the pings tell a live one from a dead one.
//!
//! With TLS (`tls.rs`), the handshake happens here, on the connection's own task and within the
//! header timeout; everything above sees the decrypted stream.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ConnectionTimeouts;

/// Serves `app` on every connection `listener` accepts until `stopped` turns true; then stops
/// accepting, lets every connection finish its requests, and returns once all are closed.
/// Dropping the returned future closes every connection at once.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    timeouts: ConnectionTimeouts,
    stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(timeouts.http2_keep_alive_interval)
        .keep_alive_timeout(timeouts.http2_keep_alive_timeout);
    let builder = Arc::new(builder);
    let mut shutdown = pin!(stop_signal(stopped.clone()));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // A response goes out as several writes (headers, body, gRPC trailers):
                    // with Nagle's algorithm the last waits for the client's delayed ACK, about
                    // 40 ms, on every request of a connection.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
                    }
                    connections.spawn(accept_connection(
                        Arc::clone(&builder),
                        stream,
                        app.clone(),
                        tls.clone(),
                        timeouts,
                        stop_signal(stopped.clone()),
                    ));
                }
                Err(error) => pause_after_accept_error(error).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once `stopped` turns true (or its sender is gone, which means the same).
async fn stop_signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// A failed accept is usually one client giving up early; anything else (such as running out of
/// file descriptors) would fail again at once, so it is logged and the loop waits a moment.
async fn pause_after_accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("cannot accept connections: {error}; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one accepted connection, after its TLS handshake if the listener has TLS. A client
/// that does not finish the handshake within the header timeout (or speaks plain HTTP to a TLS
/// port) is disconnected.
async fn accept_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    timeouts: ConnectionTimeouts,
    shutdown: impl Future<Output = ()>,
) {
    let Some(tls) = tls else {
        return serve_connection(builder, stream, app, timeouts, shutdown).await;
    };
    match tokio::time::timeout(timeouts.header_read, tls.accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(builder, stream, app, timeouts, shutdown).await,
        Ok(Err(error)) => tracing::debug!("TLS handshake failed: {error}"),
        Err(_) => tracing::debug!(
            "closing a connection that did not finish its TLS handshake within {:?}",
            timeouts.header_read
        ),
    }
}

async fn serve_connection<S>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: S,
    app: Router,
    timeouts: ConnectionTimeouts,
    shutdown: impl Future<Output = ()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let greeted = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(StallGuard::new(
        stream,
        timeouts.stalled_client,
        Arc::clone(&greeted),
    ));
    let service = {
        let greeted = Arc::clone(&greeted);
        hyper::service::service_fn(move |request: http::Request<Incoming>| {
            greeted.store(true, Ordering::Relaxed);
            app.clone().oneshot(request)
        })
    };
    // With upgrades: Loki's tail is a WebSocket.
    let mut connection = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut shutdown = pin!(shutdown);
    let mut greeting_deadline = pin!(tokio::time::sleep(timeouts.header_read));
    let (mut awaiting_greeting, mut shutting_down) = (true, false);
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!("connection ended: {error}");
                }
                return;
            }
            () = &mut greeting_deadline, if awaiting_greeting => {
                if !greeted.load(Ordering::Relaxed) {
                    tracing::debug!(
                        "closing a connection that sent no request within {:?}",
                        timeouts.header_read
                    );
                    return;
                }
                awaiting_greeting = false;
            }
            () = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's socket with the timeout hyper lacks: a write that makes no progress for
/// `stall` fails with `TimedOut`, which ends the connection. It also sets `greeted` once the
/// client has sent the whole HTTP/2 preface.
struct StallGuard<I> {
    io: I,
    stall: Duration,
    /// Armed while a write waits for room in the socket.
    write_deadline: Pin<Box<Sleep>>,
    write_blocked: bool,
    /// How many bytes of the HTTP/2 preface the stream began with; `None` once it differed.
    preface_seen: Option<usize>,
    greeted: Arc<AtomicBool>,
}

impl<I> StallGuard<I> {
    fn new(io: I, stall: Duration, greeted: Arc<AtomicBool>) -> Self {
        StallGuard {
            io,
            stall,
            write_deadline: Box::pin(tokio::time::sleep(stall)),
            write_blocked: false,
            preface_seen: Some(0),
            greeted,
        }
    }

    /// Passes on the outcome of a write, flush or shutdown, unless it has been pending for
    /// longer than `stall`.
    fn watch_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.write_blocked = false;
            return outcome;
        }
        if !self.write_blocked {
            self.write_blocked = true;
            self.write_deadline
                .as_mut()
                .reset(Instant::now() + self.stall);
        }
        ready!(self.write_deadline.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client has read nothing for {:?}; disconnecting it",
                self.stall
            ),
        )))
    }

    fn watch_read(&mut self, bytes: &[u8]) {
        let Some(seen) = self.preface_seen else {
            return;
        };
        let expected = &HTTP2_PREFACE[seen..];
        let n = bytes.len().min(expected.len());
        if n == 0 {
            return;
        }
        if bytes[..n] != expected[..n] {
            self.preface_seen = None;
        } else if seen + n == HTTP2_PREFACE.len() {
            self.preface_seen = None;
            self.greeted.store(true, Ordering::Relaxed);
        } else {
            self.preface_seen = Some(seen + n);
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for StallGuard<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        this.watch_read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for StallGuard<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch_write(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch_write(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_flush(cx);
        this.watch_write(cx, outcome)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch_write(cx, outcome)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn guard() -> (StallGuard<()>, Arc<AtomicBool>) {
        let greeted = Arc::new(AtomicBool::new(false));
        let guard = StallGuard::new((), Duration::from_secs(1), Arc::clone(&greeted));
        (guard, greeted)
    }

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_stall_timeout() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let stall = Duration::from_millis(100);
        let mut guarded = StallGuard::new(ours, stall, Arc::new(AtomicBool::new(false)));
        let started = std::time::Instant::now();
        let error = tokio::time::timeout(Duration::from_secs(20), guarded.write_all(&[0; 4096]))
            .await
            .expect("the write gives up")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= stall);
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_not_timed_out() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let stall = Duration::from_millis(200);
        let mut guarded = StallGuard::new(ours, stall, Arc::new(AtomicBool::new(false)));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0; 64];
            while total < 1024 {
                tokio::time::sleep(stall / 4).await;
                total += theirs.read(&mut buf).await.unwrap();
            }
        });
        // 16 times the buffer, so the writer blocks 16 times, and waits ~stall*4 in all.
        guarded.write_all(&[0; 1024]).await.unwrap();
        reader.await.unwrap();
    }

    #[tokio::test]
    async fn the_http2_preface_counts_as_a_greeting_however_it_is_split() {
        for split in [1, 5, 23, 24] {
            let (mut guard, greeted) = guard();
            guard.watch_read(&HTTP2_PREFACE[..split]);
            guard.watch_read(&HTTP2_PREFACE[split..]);
            guard.watch_read(b"\0\0\0\x04");
            assert!(greeted.load(Ordering::Relaxed), "split at {split}");
        }
    }

    #[tokio::test]
    async fn http1_and_partial_prefaces_are_no_greeting() {
        for start in [
            &b"POST /v1/traces HTTP/1.1\r\n"[..],
            b"PRI * HTTP/2.0\r\n",
            b"",
        ] {
            let (mut guard, greeted) = guard();
            guard.watch_read(start);
            assert!(!greeted.load(Ordering::Relaxed), "{start:?}");
        }
        // A preface that only appears later in the stream is not one.
        let (mut guard, greeted) = guard();
        guard.watch_read(b"GET / HTTP/1.1\r\n");
        guard.watch_read(HTTP2_PREFACE);
        assert!(!greeted.load(Ordering::Relaxed));
    }
}
