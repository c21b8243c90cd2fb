//! OTLP/HTTP: `POST /v1/{traces,metrics,logs}` with a protobuf or JSON body, optionally
//! gzip-compressed, answered in the request's encoding as the OTLP/HTTP spec requires.
//!
//! The body limit holds twice: on the bytes received (checked while they stream in, so a
//! chunked body without Content-Length cannot grow past it) and on the bytes decompressed (a
//! gzip bomb stops at the limit, never allocating more).

use std::io::Read;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ALLOW, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue,
    RETRY_AFTER,
};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use flate2::read::MultiGzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tower_http::cors::{Any, CorsLayer};

use super::budget::{self, Charge, DECODED_PER_JSON_BYTE, DECODED_PER_PROTOBUF_BYTE};
use super::{IngestError, pipeline};
use crate::auth;
use crate::config::Token;
use crate::otlp::{
    DecodeError, ExportRequest, Rejections, decode_json, decode_protobuf, response_json,
};
use crate::state::AppState;
use crate::telemetry::Transport;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The OTLP/HTTP receiver (port 4318 by convention), CORS-enabled so browser SDKs can post.
/// The OTLP/HTTP routes, behind `token` when one is set (`--ingest-token`). The token check sits
/// inside the CORS layer: a browser SDK's preflight is answered without a token, and a refusal
/// carries the CORS headers, so the SDK sees the 401 rather than a CORS failure.
pub fn http_router(state: AppState, token: Option<&Token>) -> Router {
    let routes = Router::new()
        .route("/v1/traces", export_route::<ExportTraceServiceRequest>())
        .route("/v1/metrics", export_route::<ExportMetricsServiceRequest>())
        .route("/v1/logs", export_route::<ExportLogsServiceRequest>())
        .with_state(state);
    auth::require(routes, token, auth::Guarded::OtlpHttp).layer(cors())
}

fn export_route<R: ExportRequest>() -> MethodRouter<AppState> {
    post(receive::<R>).fallback(method_not_allowed)
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        // Browser SDKs may add configured headers (e.g. authorization) beyond these two.
        .allow_headers(Any)
        .expose_headers([RETRY_AFTER])
        .max_age(Duration::from_secs(24 * 60 * 60))
}

async fn method_not_allowed(method: Method) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(ALLOW, "POST, OPTIONS")],
        format!("{method} is not supported here: OTLP/HTTP exports are POSTed"),
    )
        .into_response()
}

async fn receive<R: ExportRequest>(State(state): State<AppState>, request: Request) -> Response {
    let arrived = Instant::now();
    let answered = |outcome| {
        pipeline::answered(
            &state,
            R::SIGNAL,
            Transport::Http,
            arrived.elapsed(),
            outcome,
        )
    };
    let format = match Format::of(request.headers()) {
        Ok(format) => format,
        Err(error) => {
            answered(Err(&error));
            return error_response(None, &error);
        }
    };
    let outcome = receive_as::<R>(&state, format, request).await;
    answered(outcome.as_ref());
    match outcome {
        Ok(rejections) => {
            let body = match format {
                Format::Protobuf => R::response(&rejections).encode_to_vec(),
                Format::Json => response_json::<R>(&rejections),
            };
            ([(CONTENT_TYPE, format.content_type())], body).into_response()
        }
        Err(error) => error_response(Some(format), &error),
    }
}

async fn receive_as<R: ExportRequest>(
    state: &AppState,
    format: Format,
    request: Request,
) -> Result<Rejections, IngestError> {
    let encoding = Encoding::of(request.headers())?;
    let limit = state.limits.max_request_bytes;
    let declared = declared_length(request.headers());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(IngestError::TooLarge {
            limit,
            decompressed: false,
        });
    }
    // Charge the declared body before reading a byte of it; the body charges any excess itself.
    let (request, charge) = budget::admit(
        &state.budget,
        request,
        declared.map_or(0, |length| length as usize),
    )?;
    let raw = read_body(request.into_body(), limit, state.budget.limit()).await?;
    let (decode, decoded_per_byte) = format.decoder::<R>();
    pipeline::accept::<R>(
        state,
        charge,
        move |charge| encoding.decode(raw, limit, charge),
        decode,
        decoded_per_byte,
    )
    .await
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Collects the body, failing as soon as more than `limit` bytes have arrived or the memory
/// budget refuses a frame.
async fn read_body(body: Body, limit: usize, budget: usize) -> Result<Bytes, IngestError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(IngestError::TooLarge {
            limit,
            decompressed: false,
        }),
        Err(error) if budget::is_budget_refusal(&*error) => {
            Err(IngestError::MemoryBusy { limit: budget })
        }
        Err(error) => Err(IngestError::BadBody(error.to_string())),
    }
}

/// The request's (and so the response's) encoding, from Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn of(headers: &HeaderMap) -> Result<Format, IngestError> {
        let value = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        // Parameters such as `; charset=utf-8` do not change the format.
        let media_type = value.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case(PROTOBUF)
            || media_type.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Format::Protobuf)
        } else if media_type.eq_ignore_ascii_case(JSON) {
            Ok(Format::Json)
        } else {
            Err(IngestError::UnsupportedContentType(value))
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        })
    }

    /// How to decode a body of this format, and how much memory per byte the result takes.
    fn decoder<R: ExportRequest>(self) -> (Decode<R>, usize) {
        match self {
            Format::Protobuf => (decode_protobuf::<R>, DECODED_PER_PROTOBUF_BYTE),
            Format::Json => (decode_json::<R>, DECODED_PER_JSON_BYTE),
        }
    }
}

/// Reads a whole body as the export request `R`.
type Decode<R> = fn(&[u8]) -> Result<R, DecodeError>;

/// The body's compression, from Content-Encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Result<Encoding, IngestError> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(Encoding::Identity);
        };
        let value = String::from_utf8_lossy(value.as_bytes());
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" | "none" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            _ => Err(IngestError::UnsupportedContentEncoding(value.into_owned())),
        }
    }

    /// The body decompressed, its memory charged to `charge`.
    fn decode(self, body: Bytes, limit: usize, charge: &Charge) -> Result<Bytes, IngestError> {
        match self {
            Encoding::Identity => Ok(body),
            Encoding::Gzip => gunzip(&body, limit, charge).map(Bytes::from),
        }
    }
}

/// Decompresses gzip (possibly several concatenated members) into at most `limit` bytes.
/// The output buffer grows by doubling but never beyond `limit`, so a bomb costs at most that;
/// each growth is charged to `charge` first.
fn gunzip(compressed: &[u8], limit: usize, charge: &Charge) -> Result<Vec<u8>, IngestError> {
    let mut decoder = MultiGzDecoder::new(compressed);
    let initial = compressed.len().saturating_mul(4).min(limit);
    charge.grow(initial)?;
    let mut output = Vec::with_capacity(initial);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => return Ok(output),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(IngestError::BadBody(format!(
                    "the gzip data is corrupt: {e}"
                )));
            }
        };
        if output.len() + n > limit {
            return Err(IngestError::TooLarge {
                limit,
                decompressed: true,
            });
        }
        if output.capacity() - output.len() < n {
            let target = (output.capacity() * 2).max(output.len() + n).min(limit);
            charge.grow(target - output.capacity())?;
            output.reserve_exact(target - output.len());
        }
        output.extend_from_slice(&chunk[..n]);
    }
}

/// An error as OTLP/HTTP wants it: a `google.rpc.Status` in the request's encoding (plain text
/// when the encoding itself was the problem), plus `Retry-After` when we know a delay.
fn error_response(format: Option<Format>, error: &IngestError) -> Response {
    let status = error.rpc_status();
    let (content_type, body) = match format {
        Some(Format::Protobuf) => (Format::Protobuf.content_type(), status.encode_to_vec()),
        Some(Format::Json) => (Format::Json.content_type(), status.to_json()),
        None => (
            HeaderValue::from_static("text/plain; charset=utf-8"),
            error.to_string().into_bytes(),
        ),
    };
    let mut response = (error.http_status(), [(CONTENT_TYPE, content_type)], body).into_response();
    if error.leaves_body_unread() {
        // Otherwise a pooling client sends its next request on a connection we are closing,
        // and that request fails with a broken pipe.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(delay) = error.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(delay.as_secs().max(1)));
    }
    response
}

#[cfg(test)]
mod tests;
