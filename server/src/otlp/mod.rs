//! OTLP message rules that do not depend on the transport: the OTLP/JSON encoding, the checks an
//! export request must pass before it reaches the store, and the partial-success bookkeeping
//! that tells a client what was dropped.
//!
//! Everything here is synchronous and pure: no sockets, no store. The receivers in
//! [`crate::ingest`] and the query API's OTLP export both build on it, so that otelite speaks one
//! dialect of OTLP/JSON in both directions.

mod json;
mod limits;
#[cfg(test)]
mod properties;
mod series;
mod signal;
mod status;
mod validate;

pub use json::{DecodeError, decode_json, decode_protobuf, encode_json};
pub use limits::{ItemLimits, Truncations};
pub use series::{SeriesLimiter, SeriesLimits};
pub use signal::{ExportRequest, response_json};
pub use status::{RetryInfo, RpcStatus};
pub(crate) use validate::data_points;
pub use validate::{
    AcceptedTimes, MAX_ANY_VALUE_DEPTH, RejectReason, Rejections, TimeWindow, human_duration,
};
