//! `google.rpc.Status`, the body of every OTLP error response, and `google.rpc.RetryInfo`, the
//! detail that tells a client when to retry. Neither opentelemetry-proto nor tonic exports the
//! messages, so the few fields OTLP uses are declared here.

use std::time::Duration;

use prost::Message;

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`: a gRPC status code, a message for people, and typed details.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RpcStatus {
    pub fn new(code: tonic::Code, message: impl Into<String>) -> RpcStatus {
        RpcStatus {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a `RetryInfo` detail asking the client to wait `delay` before retrying.
    pub fn with_retry_delay(mut self, delay: Duration) -> RpcStatus {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        self.details.push(ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.to_string(),
            value: info.encode_to_vec(),
        });
        self
    }

    /// The status in OTLP/JSON. Details are left out: their JSON form needs a type registry,
    /// and HTTP clients read the retry delay from the `Retry-After` header instead.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "code": self.code, "message": self.message }))
            .expect("a JSON tree always serializes")
    }

    /// The equivalent tonic status, details included (sent as `grpc-status-details-bin`).
    pub fn to_tonic(&self) -> tonic::Status {
        tonic::Status::with_details(
            tonic::Code::from_i32(self.code),
            self.message.clone(),
            self.encode_to_vec().into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_travels_in_the_details() {
        let status = RpcStatus::new(tonic::Code::Unavailable, "busy")
            .with_retry_delay(Duration::from_millis(1500));
        let tonic = status.to_tonic();
        assert_eq!(tonic.code(), tonic::Code::Unavailable);
        assert_eq!(tonic.message(), "busy");
        let decoded = RpcStatus::decode(tonic.details()).unwrap();
        assert_eq!(decoded.details[0].type_url, RETRY_INFO_TYPE_URL);
        let info = RetryInfo::decode(&decoded.details[0].value[..]).unwrap();
        assert_eq!(
            info.retry_delay,
            Some(ProtoDuration {
                seconds: 1,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            status.to_json(),
            br#"{"code":14,"message":"busy"}"#.to_vec()
        );
    }
}
