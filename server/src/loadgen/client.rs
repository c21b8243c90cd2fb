//! The two OTLP transports the load generator drives, sending pre-encoded protobuf requests so
//! that its own CPU goes to the network, not to encoding: gRPC through tonic with a pass-through
//! codec, HTTP/1.1 through a bare hyper connection. Plus the one query it needs, the status.
//! Both send the server's bearer token when one is configured (`--auth-token` and the rest),
//! as an `authorization` header or gRPC metadata entry. Plain TCP only: no TLS.

use std::net::SocketAddr;

use bytes::{Buf, BufMut, Bytes};
use http::HeaderValue;
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use super::{Protocol, SignalArg};

/// What became of one export attempt.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Stored; `rejected` items were refused as invalid (OTLP partial success).
    Accepted { rejected: u64 },
    /// The server is busy (HTTP 429/503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED): try again later.
    Retry(String),
    /// Anything else: not retried.
    Failed(String),
}

/// One connection to the server, sending one request at a time.
pub(super) enum Connection {
    Grpc {
        client: tonic::client::Grpc<Channel>,
        path: PathAndQuery,
        authorization: Option<HeaderValue>,
    },
    Http {
        addr: SocketAddr,
        path: &'static str,
        sender: Option<http1::SendRequest<Full<Bytes>>>,
        authorization: Option<HeaderValue>,
    },
}

/// `Bearer <token>`, the value of an `authorization` header.
pub(super) fn bearer(token: Option<&str>) -> anyhow::Result<Option<HeaderValue>> {
    token
        .map(|token| {
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("the token cannot be sent in an HTTP header"))?;
            value.set_sensitive(true);
            Ok(value)
        })
        .transpose()
}

/// Adds `authorization`, if any, to an HTTP request.
fn authorize<B>(request: &mut http::Request<B>, authorization: Option<&HeaderValue>) {
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value.clone());
    }
}

impl Connection {
    pub async fn open(
        protocol: Protocol,
        signal: SignalArg,
        addr: SocketAddr,
        authorization: Option<HeaderValue>,
    ) -> anyhow::Result<Connection> {
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = Channel::from_shared(format!("http://{addr}"))?
                    .tcp_nodelay(true)
                    .connect()
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to OTLP/gRPC at {addr}: {e}"))?;
                let service = match signal {
                    SignalArg::Traces => "opentelemetry.proto.collector.trace.v1.TraceService",
                    SignalArg::Metrics => "opentelemetry.proto.collector.metrics.v1.MetricsService",
                    SignalArg::Logs => "opentelemetry.proto.collector.logs.v1.LogsService",
                };
                Connection::Grpc {
                    client: tonic::client::Grpc::new(channel)
                        .max_decoding_message_size(usize::MAX)
                        .max_encoding_message_size(usize::MAX),
                    path: PathAndQuery::try_from(format!("/{service}/Export"))?,
                    authorization,
                }
            }
            Protocol::Http => {
                let path = match signal {
                    SignalArg::Traces => "/v1/traces",
                    SignalArg::Metrics => "/v1/metrics",
                    SignalArg::Logs => "/v1/logs",
                };
                let mut connection = Connection::Http {
                    addr,
                    path,
                    sender: None,
                    authorization,
                };
                if let Connection::Http { sender, .. } = &mut connection {
                    *sender = Some(http_connect(addr).await?);
                }
                connection
            }
        })
    }

    /// Sends one encoded `Export*ServiceRequest` of `signal` and waits for the answer.
    pub async fn export(&mut self, signal: SignalArg, body: Bytes) -> Outcome {
        match self {
            Connection::Grpc {
                client,
                path,
                authorization,
            } => {
                if let Err(e) = client.ready().await {
                    return Outcome::Retry(format!("connection not ready: {e}"));
                }
                let mut request = tonic::Request::new(body);
                if let Some(value) = authorization {
                    let value = tonic::metadata::MetadataValue::try_from(value.as_bytes())
                        .expect("a valid header value is valid metadata");
                    request.metadata_mut().insert("authorization", value);
                }
                match client.unary(request, path.clone(), RawCodec).await {
                    Ok(response) => accepted(signal, response.into_inner()),
                    Err(status) => match status.code() {
                        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
                            Outcome::Retry(status.message().to_string())
                        }
                        code => Outcome::Failed(format!("{code:?}: {}", status.message())),
                    },
                }
            }
            Connection::Http {
                addr,
                path,
                sender,
                authorization,
            } => {
                let ready = match sender {
                    Some(s) => s.ready().await.is_ok(),
                    None => false,
                };
                if !ready {
                    // The server closed the connection (e.g. after an error): open a new one.
                    match http_connect(*addr).await {
                        Ok(s) => *sender = Some(s),
                        Err(e) => return Outcome::Retry(format!("reconnecting: {e}")),
                    }
                }
                let mut request = http::Request::post(*path)
                    .header(http::header::HOST, addr.to_string())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(Full::new(body))
                    .expect("a static request is valid");
                authorize(&mut request, authorization.as_ref());
                let sender = sender.as_mut().expect("connected above");
                let response = match sender.send_request(request).await {
                    Ok(response) => response,
                    Err(e) => return Outcome::Retry(format!("connection lost: {e}")),
                };
                let status = response.status();
                let body = match response.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(e) => return Outcome::Retry(format!("reading the answer: {e}")),
                };
                match status.as_u16() {
                    200 => accepted(signal, body),
                    429 | 502 | 503 | 504 => Outcome::Retry(format!("HTTP {status}")),
                    _ => Outcome::Failed(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&body)
                    )),
                }
            }
        }
    }
}

/// Reads the rejected count from an `Export*ServiceResponse`.
fn accepted(signal: SignalArg, body: Bytes) -> Outcome {
    let rejected = match signal {
        SignalArg::Traces => ExportTraceServiceResponse::decode(body)
            .map(|r| r.partial_success.map_or(0, |p| p.rejected_spans)),
        SignalArg::Metrics => ExportMetricsServiceResponse::decode(body)
            .map(|r| r.partial_success.map_or(0, |p| p.rejected_data_points)),
        SignalArg::Logs => ExportLogsServiceResponse::decode(body)
            .map(|r| r.partial_success.map_or(0, |p| p.rejected_log_records)),
    };
    match rejected {
        Ok(rejected) => Outcome::Accepted {
            rejected: u64::try_from(rejected).unwrap_or(0),
        },
        Err(e) => Outcome::Failed(format!("the answer is not an OTLP response: {e}")),
    }
}

async fn http_connect(addr: SocketAddr) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; errors show up on the sender.
        let _ = connection.await;
    });
    Ok(sender)
}

/// `GET {path}` on `addr` (with `authorization` if given), returning the status code and body.
pub(super) async fn http_get(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&HeaderValue>,
) -> anyhow::Result<(u16, Bytes)> {
    let mut sender = http_connect(addr).await?;
    let mut request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))?;
    authorize(&mut request, authorization);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Passes already-encoded protobuf through tonic untouched.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
