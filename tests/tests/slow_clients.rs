//! Clients that are slow, stalled or silent cannot hold a connection forever: each port closes a
//! connection that sends nothing or sends its headers too slowly, HTTP/2 peers that stop
//! answering pings are dropped while live ones keep their idle connections (as gRPC clients
//! do), and an export the client stops reading is ended. The server runs with short timeouts;
//! the clients are raw sockets, so that they can misbehave exactly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use otelite::config::ConnectionTimeouts;
use otelite_tests::{PROMPT, TestServer, otlp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUTS: ConnectionTimeouts = ConnectionTimeouts {
    header_read: Duration::from_millis(500),
    http2_keep_alive_interval: Duration::from_millis(300),
    http2_keep_alive_timeout: Duration::from_millis(300),
    stalled_client: Duration::from_millis(500),
};

async fn start() -> TestServer {
    TestServer::start_with(|config| config.timeouts = TIMEOUTS).await
}

/// Reads until the server closes the connection (cleanly or with a reset); panics if it is
/// still open after [`PROMPT`]. Returns what was read.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = vec![0; 64 << 10];
    let closed = tokio::time::timeout(PROMPT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server still keeps the connection open after {PROMPT:?}"
    );
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_sends_nothing_is_closed_on_every_port() {
    let server = start().await;
    for addr in [server.grpc_addr(), server.http_addr(), server.ui_addr()] {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        read_until_closed(&mut stream).await;
        assert!(
            started.elapsed() >= TIMEOUTS.header_read - Duration::from_millis(50),
            "{addr} closed a fresh connection before the header timeout"
        );
    }
    server.assert_serving().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_sends_its_headers_too_slowly_is_disconnected() {
    let server = start().await;
    for addr in [server.http_addr(), server.ui_addr()] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // A header line well within the timeout each time, but never the end of the head.
        let (mut reader, mut writer) = stream.split();
        let trickle = async {
            writer
                .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: otelite\r\n")
                .await?;
            for i in 0.. {
                tokio::time::sleep(TIMEOUTS.header_read / 5).await;
                writer.write_all(format!("x-{i}: 1\r\n").as_bytes()).await?;
            }
            std::io::Result::Ok(())
        };
        let started = Instant::now();
        let mut answer = Vec::new();
        tokio::select! {
            _ = reader.read_to_end(&mut answer) => {}
            _ = trickle => {}
            _ = tokio::time::sleep(PROMPT) => panic!("{addr} still waits for the headers"),
        }
        assert!(
            started.elapsed() < 4 * TIMEOUTS.header_read,
            "{addr} took {:?} to give up on slow headers",
            started.elapsed()
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "{addr} answered {answer:?}"
        );
    }
    server.assert_serving().await;
    server.stop().await;
}

/// Minimal HTTP/2 framing (RFC 9113 §4.1), enough to open a connection and answer pings.
mod h2 {
    use super::*;

    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const ACK: u8 = 0x1;

    pub fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_be_bytes();
        let mut frame = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        frame
    }

    /// The next frame's type, flags and payload, or `None` once the server closed.
    pub async fn read_frame(stream: &mut TcpStream) -> Option<(u8, u8, Vec<u8>)> {
        let mut header = [0; 9];
        stream.read_exact(&mut header).await.ok()?;
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.ok()?;
        Some((header[3], header[4], payload))
    }

    /// Connects and sends the preface and an empty SETTINGS frame, as every HTTP/2 client does.
    pub async fn connect(addr: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, &[]));
        stream.write_all(&hello).await.unwrap();
        stream
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_http2_client_that_answers_pings_keeps_its_connection() {
    let server = start().await;
    let mut stream = h2::connect(server.grpc_addr()).await;
    let (mut pings_answered, mut our_ping_answered) = (0, false);
    let idle_until = Instant::now() + 3 * TIMEOUTS.header_read;
    while !our_ping_answered {
        let (kind, flags, payload) = tokio::time::timeout(PROMPT, h2::read_frame(&mut stream))
            .await
            .expect("the server answers")
            .unwrap_or_else(|| {
                panic!("the server closed a live connection after {pings_answered} pings")
            });
        let answer = match (kind, flags) {
            (h2::SETTINGS, 0) => h2::frame(h2::SETTINGS, h2::ACK, &[]),
            (h2::PING, 0) => {
                pings_answered += 1;
                h2::frame(h2::PING, h2::ACK, &payload)
            }
            (h2::PING, h2::ACK) if payload == b"otelite!" => {
                our_ping_answered = true;
                continue;
            }
            _ => continue,
        };
        stream.write_all(&answer).await.unwrap();
        if Instant::now() >= idle_until && pings_answered > 0 {
            // Idle well past the header timeout: the connection still works.
            let ping = h2::frame(h2::PING, 0, b"otelite!");
            stream.write_all(&ping).await.unwrap();
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_peer_that_stops_answering_pings_is_disconnected() {
    let server = start().await;
    let mut stream = h2::connect(server.grpc_addr()).await;
    let started = Instant::now();
    let closed = tokio::time::timeout(PROMPT, async {
        // Read (and acknowledge settings) but never answer a ping.
        while let Some((kind, flags, _)) = h2::read_frame(&mut stream).await {
            if (kind, flags) == (h2::SETTINGS, 0) {
                let ack = h2::frame(h2::SETTINGS, h2::ACK, &[]);
                let _ = stream.write_all(&ack).await;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "an unresponsive HTTP/2 peer is still connected after {PROMPT:?}"
    );
    let keep_alive = TIMEOUTS.http2_keep_alive_interval + TIMEOUTS.http2_keep_alive_timeout;
    assert!(
        started.elapsed() >= keep_alive - Duration::from_millis(50),
        "closed after {:?}, before a ping could go unanswered",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_an_export_is_disconnected() {
    let server = start().await;
    // Far more JSON than the socket buffers and the export's few blocks of look-ahead hold.
    for i in 0..40 {
        let request = otlp::traces_request(&format!("stalled-{i}"), 1_000);
        server.send_protobuf(&request).await;
    }
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.ui_addr()).await.unwrap();
    stream
        .write_all(b"GET /api/v1/export/traces HTTP/1.1\r\nHost: otelite\r\n\r\n")
        .await
        .unwrap();
    let mut start = vec![0; 4096];
    let n = stream.read(&mut start).await.unwrap();
    assert!(
        start[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&start[..n])
    );

    // Read nothing for a while, then take what the server still sends: up to the last, empty
    // chunk that ends a chunked body sent to its end, or until the server hangs up.
    tokio::time::sleep(4 * TIMEOUTS.stalled_client).await;
    const LAST_CHUNK: &[u8] = b"\r\n0\r\n\r\n";
    let mut received = start[..n].to_vec();
    let mut buf = vec![0; 64 << 10];
    let ended = tokio::time::timeout(PROMPT, async {
        while !received.ends_with(LAST_CHUNK) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server neither sent nor hung up");
    assert!(
        !received.ends_with(LAST_CHUNK),
        "the whole export ({} bytes) was kept waiting for the stalled client",
        received.len()
    );
    server.assert_serving().await;
    server.stop().await;
}
