//! The OTLP receivers: gRPC on one port, HTTP (protobuf or JSON) on another.
//!
//! Both transports end in the same path, [`pipeline::accept`]: validate (dropping and counting
//! invalid items), hand the batch to the store, and answer only once the store reports the
//! batch durable. An acknowledged export is therefore never lost. What can go wrong is one
//! [`IngestError`], mapped to an HTTP status and a gRPC status in one place. Bad input must
//! never panic, and no request may make the process allocate much beyond
//! `Limits::max_request_bytes`, compressed or not.

mod budget;
mod error;
mod grpc;
mod http;
mod pipeline;

pub use budget::MemoryBudget;
pub use error::IngestError;
pub use grpc::grpc_router;
pub use http::http_router;

#[cfg(test)]
pub(crate) mod test_support;
