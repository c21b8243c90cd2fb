//! [`IngestError`]: everything that can make an export fail, and how each transport says so.

use std::time::Duration;

use axum::http::StatusCode;
use otelite_storage::{SubmitError, WriteError};
use tonic::Code;

use crate::otlp::{DecodeError, RpcStatus};

/// How long an overloaded store asks clients to wait before retrying.
pub const OVERLOAD_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long clients are asked to wait while the disk is full: freeing space takes a person (or
/// retention), and the store resumes by itself within seconds of it.
pub const DISK_FULL_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why an export request was not (fully) accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("Content-Type {0:?} is not supported: send application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    #[error("Content-Encoding {0:?} is not supported: send gzip or no encoding")]
    UnsupportedContentEncoding(String),
    #[error(
        "the request body is larger than the limit of {limit} bytes{}: send smaller batches or \
         raise --max-request-size",
        if *.decompressed { " once decompressed" } else { "" }
    )]
    TooLarge { limit: usize, decompressed: bool },
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    #[error("{0}")]
    Unavailable(#[from] SubmitError),
    /// Requests in flight hold all of `--max-memory` (see [`super::budget`]).
    #[error(
        "otelite is busy: the requests in flight hold its whole memory budget of {limit} bytes \
         (--max-memory); retry shortly"
    )]
    MemoryBusy { limit: usize },
    #[error("{0}; retry later")]
    Storage(#[from] WriteError),
    #[error("internal error while receiving: {0}")]
    Internal(String),
}

impl IngestError {
    /// The OTLP/HTTP status code. Client mistakes are 4xx and must not be retried; the store
    /// being busy, closing or failing to write is 503, which OTLP clients retry.
    pub fn http_status(&self) -> StatusCode {
        match self {
            IngestError::Decode(_) | IngestError::BadBody(_) => StatusCode::BAD_REQUEST,
            IngestError::UnsupportedContentType(_) | IngestError::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unavailable(_)
            | IngestError::MemoryBusy { .. }
            | IngestError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code: UNAVAILABLE is the retryable one in OTLP/gRPC.
    pub fn grpc_code(&self) -> Code {
        match self {
            IngestError::Decode(_)
            | IngestError::BadBody(_)
            | IngestError::UnsupportedContentType(_)
            | IngestError::UnsupportedContentEncoding(_) => Code::InvalidArgument,
            IngestError::TooLarge { .. } => Code::ResourceExhausted,
            IngestError::Unavailable(_)
            | IngestError::MemoryBusy { .. }
            | IngestError::Storage(_) => Code::Unavailable,
            IngestError::Internal(_) => Code::Internal,
        }
    }

    /// Whether the request body may still be (partly) unread when this error is answered:
    /// refused on its headers, or cut off at the size limit. Such a connection cannot carry
    /// another request, so the response must tell the client not to reuse it.
    pub fn leaves_body_unread(&self) -> bool {
        matches!(
            self,
            IngestError::UnsupportedContentType(_)
                | IngestError::UnsupportedContentEncoding(_)
                | IngestError::MemoryBusy { .. }
                | IngestError::TooLarge {
                    decompressed: false,
                    ..
                }
        )
    }

    /// How long the client should wait before retrying, when we know.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::Unavailable(SubmitError::Overloaded { .. })
            | IngestError::MemoryBusy { .. } => Some(OVERLOAD_RETRY_AFTER),
            IngestError::Storage(error) if error.is_disk_full() => Some(DISK_FULL_RETRY_AFTER),
            _ => None,
        }
    }

    /// The `google.rpc.Status` both transports send, with `RetryInfo` when there is a delay.
    pub fn rpc_status(&self) -> RpcStatus {
        let status = RpcStatus::new(self.grpc_code(), self.to_string());
        match self.retry_after() {
            Some(delay) => status.with_retry_delay(delay),
            None => status,
        }
    }

    /// True for errors the client caused, which are logged at a lower level.
    pub fn is_client_error(&self) -> bool {
        self.http_status().is_client_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_retryable_with_a_delay_on_both_transports() {
        let error = IngestError::from(SubmitError::Overloaded {
            pending_bytes: 10,
            limit: 5,
        });
        assert_eq!(error.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.grpc_code(), Code::Unavailable);
        assert_eq!(error.retry_after(), Some(OVERLOAD_RETRY_AFTER));
        assert_eq!(error.rpc_status().details.len(), 1);
        assert!(error.to_string().contains("busy"), "{error}");

        let closed = IngestError::from(SubmitError::Closed);
        assert_eq!(closed.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(closed.retry_after(), None);
    }

    #[test]
    fn a_full_disk_is_retryable_later_and_says_so() {
        let error = IngestError::from(WriteError::DiskFull {
            action: "append to segment file",
            path: "/data/segments/traces/0.seg".into(),
            source: std::sync::Arc::new(std::io::ErrorKind::StorageFull.into()),
        });
        assert_eq!(error.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.grpc_code(), Code::Unavailable);
        assert_eq!(error.retry_after(), Some(DISK_FULL_RETRY_AFTER));
        let status = error.rpc_status();
        assert_eq!(status.details.len(), 1, "a RetryInfo");
        assert!(
            status.message.contains("disk is full"),
            "{}",
            status.message
        );
        assert!(status.message.contains("free space"), "{}", status.message);
    }

    #[test]
    fn client_mistakes_are_not_retryable() {
        let error = IngestError::TooLarge {
            limit: 16,
            decompressed: true,
        };
        assert_eq!(error.http_status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error.is_client_error());
        assert!(
            error.to_string().contains("16 bytes once decompressed"),
            "{error}"
        );
        let error = IngestError::UnsupportedContentType("text/plain".into());
        assert_eq!(error.http_status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(error.grpc_code(), Code::InvalidArgument);
    }
}
