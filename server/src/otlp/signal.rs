//! [`ExportRequest`]: what the receivers need to know about each signal's export request, so
//! that one generic receive path serves traces, metrics and logs alike.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use otelite_storage::{Batch, Signal};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::limits::{ItemLimits, Truncations, apply_limits};
use super::series::SeriesLimiter;
use super::validate::{AcceptedTimes, Rejections, count_items, validate};

/// An OTLP `Export*ServiceRequest`.
pub trait ExportRequest:
    Message + Default + Serialize + DeserializeOwned + Send + Sized + 'static
{
    /// The matching `Export*ServiceResponse`.
    type Response: Message + Default + Send + 'static;
    const SIGNAL: Signal;
    /// What partial success counts, singular and plural ("span", "spans").
    const ITEM: (&'static str, &'static str);
    /// The OTLP/JSON name of the response's rejected-count field.
    const REJECTED_FIELD: &'static str;

    /// Removes invalid items and items timed outside `times` (see [`super::validate`]) and
    /// reports them.
    fn validate(&mut self, times: &AcceptedTimes) -> Rejections;
    /// Drops and cuts what exceeds `limits` (see [`super::limits`]), counting it in the
    /// items' `dropped_*_count` fields, and reports what it did.
    fn apply_limits(&mut self, limits: &ItemLimits) -> Truncations;
    /// Removes the data points that would start a metric series past `limiter`'s limits and
    /// counts them in `rejections`; spans and log records have no series.
    fn limit_series(&mut self, limiter: &SeriesLimiter, rejections: &mut Rejections);
    /// True if there is nothing to store.
    fn is_empty(&self) -> bool;
    /// Items as partial success counts them (spans, data points, log records).
    fn item_count(&mut self) -> u64;
    fn into_batch(self) -> Batch;
    /// The response: `partial_success` is set only when something was rejected.
    fn response(rejections: &Rejections) -> Self::Response;

    /// The partial-success message for `rejections`.
    fn rejection_message(rejections: &Rejections) -> String {
        rejections.message(Self::ITEM.0, Self::ITEM.1)
    }
}

/// The response as OTLP/JSON. Built by hand because opentelemetry-proto's serde writes the
/// int64 rejected count as a JSON number where OTLP/JSON wants a decimal string.
pub fn response_json<R: ExportRequest>(rejections: &Rejections) -> Vec<u8> {
    let body = if rejections.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({
            "partialSuccess": {
                R::REJECTED_FIELD: rejections.count().to_string(),
                "errorMessage": R::rejection_message(rejections),
            }
        })
    };
    serde_json::to_vec(&body).expect("a JSON tree always serializes")
}

macro_rules! export_request {
    (
        $request:ty, $response:ident, $partial:ident, $field:ident,
        $signal:ident, $batch:ident, $count:ident, $item:literal, $items:literal, $json:literal,
        $limit_series:expr
    ) => {
        impl ExportRequest for $request {
            type Response = $response;
            const SIGNAL: Signal = Signal::$signal;
            const ITEM: (&'static str, &'static str) = ($item, $items);
            const REJECTED_FIELD: &'static str = $json;

            fn validate(&mut self, times: &AcceptedTimes) -> Rejections {
                validate(&mut self.$field, times)
            }

            fn apply_limits(&mut self, limits: &ItemLimits) -> Truncations {
                apply_limits(&mut self.$field, limits)
            }

            fn limit_series(&mut self, limiter: &SeriesLimiter, rejections: &mut Rejections) {
                $limit_series(self, limiter, rejections)
            }

            fn is_empty(&self) -> bool {
                self.$field.is_empty()
            }

            fn item_count(&mut self) -> u64 {
                count_items(&mut self.$field)
            }

            fn into_batch(self) -> Batch {
                Batch::$batch(self.$field)
            }

            fn response(rejections: &Rejections) -> $response {
                $response {
                    partial_success: (!rejections.is_empty()).then(|| $partial {
                        $count: i64::try_from(rejections.count()).unwrap_or(i64::MAX),
                        error_message: Self::rejection_message(rejections),
                    }),
                }
            }
        }
    };
}

export_request!(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    ExportTracePartialSuccess,
    resource_spans,
    Traces,
    Traces,
    rejected_spans,
    "span",
    "spans",
    "rejectedSpans",
    |_: &mut Self, _: &SeriesLimiter, _: &mut Rejections| {}
);
export_request!(
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    ExportMetricsPartialSuccess,
    resource_metrics,
    Metrics,
    Metrics,
    rejected_data_points,
    "data point",
    "data points",
    "rejectedDataPoints",
    |request: &mut Self, limiter: &SeriesLimiter, rejections: &mut Rejections| {
        limiter.admit(request, rejections)
    }
);
export_request!(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    ExportLogsPartialSuccess,
    resource_logs,
    Logs,
    Logs,
    rejected_log_records,
    "log record",
    "log records",
    "rejectedLogRecords",
    |_: &mut Self, _: &SeriesLimiter, _: &mut Rejections| {}
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::decode_json;

    #[test]
    fn response_carries_partial_success_only_when_something_was_rejected() {
        let accepted = ExportTraceServiceRequest::response(&Rejections::default());
        assert_eq!(accepted.partial_success, None);
        assert_eq!(
            response_json::<ExportTraceServiceRequest>(&Rejections::default()),
            b"{}"
        );

        let mut request: ExportLogsServiceRequest = decode_json(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"0102"},{}]}]}]}"#,
        )
        .unwrap();
        let rejections = request.validate(&AcceptedTimes::ANY);
        let response = ExportLogsServiceRequest::response(&rejections);
        let partial = response.partial_success.unwrap();
        assert_eq!(partial.rejected_log_records, 1);
        assert!(partial.error_message.starts_with("1 log record rejected"));
        let json = crate::otlp::json::tree(&response_json::<ExportLogsServiceRequest>(&rejections));
        assert_eq!(json["partialSuccess"]["rejectedLogRecords"], "1");
        assert_eq!(
            json["partialSuccess"]["errorMessage"],
            partial.error_message.as_str()
        );
        assert!(!request.is_empty());
        assert!(matches!(request.into_batch(), Batch::Logs(logs) if logs.len() == 1));
    }
}
