//! The checks an export request passes before it reaches the store.
//!
//! Invalid items are removed and counted, the rest is kept: that is OTLP's partial success. All
//! three signals share the resource → scope → item nesting, so one walk ([`validate`]) serves
//! them; only what makes a span, a log record or a metric valid differs ([`Item::check`]).
//! Invariants after validation: every span has a 16-byte non-zero trace id and an 8-byte
//! non-zero span id; every id on a log record, link or exemplar has its proper length when
//! present; every metric has data; no attribute or body nests deeper than
//! [`MAX_ANY_VALUE_DEPTH`]; no resource or scope is left without items.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint, metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// How deeply arrays and maps may nest inside one attribute value or log body. Deeper values
/// are almost certainly a client bug, and every reader that recurses over them (query filters,
/// the UI) would otherwise need its own guard.
pub const MAX_ANY_VALUE_DEPTH: usize = 32;

const TRACE_ID_LEN: usize = 16;
const SPAN_ID_LEN: usize = 8;

/// What validation removed from one export request: how many items (spans, log records or data
/// points, as OTLP's partial success counts them) and the first reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejections {
    count: u64,
    first_reason: Option<String>,
}

impl Rejections {
    /// Number of spans, log records or data points removed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True when the whole request was accepted.
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.first_reason.is_none()
    }

    /// The first problem found, naming the item it was found in.
    pub fn first_reason(&self) -> Option<&str> {
        self.first_reason.as_deref()
    }

    /// The partial-success message for a client, e.g.
    /// `2 spans rejected; the first because span "GET /": trace_id must be 16 bytes, got 3`.
    pub fn message(&self, one: &str, many: &str) -> String {
        let noun = if self.count == 1 { one } else { many };
        match &self.first_reason {
            Some(reason) => format!("{} {noun} rejected; the first because {reason}", self.count),
            None => String::new(),
        }
    }

    fn reject(&mut self, count: u64, reason: impl FnOnce() -> String) {
        self.count += count;
        if self.first_reason.is_none() {
            self.first_reason = Some(reason());
        }
    }
}

/// Removes every invalid item from `groups` and reports what was removed.
pub(crate) fn validate<G: ResourceGroup>(groups: &mut Vec<G>) -> Rejections {
    let mut rejections = Rejections::default();
    groups.retain_mut(|group| {
        if let Err(reason) = check_resource(group.resource()) {
            rejections.reject(units_in(group.scopes()), || reason);
            return false;
        }
        group.scopes().retain_mut(|scope| {
            if let Err(reason) = check_scope(scope.scope()) {
                rejections.reject(scope.items().iter().map(Item::units).sum(), || reason);
                return false;
            }
            scope
                .items()
                .retain_mut(|item| match item.check(&mut rejections) {
                    Ok(()) => item.units() > 0,
                    Err(reason) => {
                        rejections.reject(item.units(), || reason);
                        false
                    }
                });
            !scope.items().is_empty()
        });
        !group.scopes().is_empty()
    });
    rejections
}

/// One `Resource*` message: a resource and its scopes.
pub(crate) trait ResourceGroup {
    type Scope: ScopeGroup;
    fn resource(&self) -> Option<&Resource>;
    fn scopes(&mut self) -> &mut Vec<Self::Scope>;
}

/// One `Scope*` message: an instrumentation scope and its items.
pub(crate) trait ScopeGroup {
    type Item: Item;
    fn scope(&self) -> Option<&InstrumentationScope>;
    fn items(&mut self) -> &mut Vec<Self::Item>;
}

/// A span, a log record or a metric.
pub(crate) trait Item {
    /// How many units partial success counts for this item: 1 for a span or log record, the
    /// data points of a metric. A metric without data counts as 1 so that rejecting it shows.
    fn units(&self) -> u64;

    /// `Err` removes the whole item. A metric may also drop some of its data points, which it
    /// records in `rejections` itself.
    fn check(&mut self, rejections: &mut Rejections) -> Result<(), String>;
}

macro_rules! nesting {
    ($resource:ty, $scopes:ident, $scope:ty, $items:ident, $item:ty) => {
        impl ResourceGroup for $resource {
            type Scope = $scope;
            fn resource(&self) -> Option<&Resource> {
                self.resource.as_ref()
            }
            fn scopes(&mut self) -> &mut Vec<$scope> {
                &mut self.$scopes
            }
        }
        impl ScopeGroup for $scope {
            type Item = $item;
            fn scope(&self) -> Option<&InstrumentationScope> {
                self.scope.as_ref()
            }
            fn items(&mut self) -> &mut Vec<$item> {
                &mut self.$items
            }
        }
    };
}

nesting!(ResourceSpans, scope_spans, ScopeSpans, spans, Span);
nesting!(ResourceLogs, scope_logs, ScopeLogs, log_records, LogRecord);
nesting!(
    ResourceMetrics,
    scope_metrics,
    ScopeMetrics,
    metrics,
    Metric
);

fn units_in<S: ScopeGroup>(scopes: &mut [S]) -> u64 {
    scopes
        .iter_mut()
        .flat_map(|scope| scope.items().iter())
        .map(Item::units)
        .sum()
}

fn check_resource(resource: Option<&Resource>) -> Result<(), String> {
    let Some(resource) = resource else {
        return Ok(());
    };
    check_attributes(&resource.attributes).map_err(|e| format!("its resource {e}"))
}

fn check_scope(scope: Option<&InstrumentationScope>) -> Result<(), String> {
    let Some(scope) = scope else { return Ok(()) };
    check_attributes(&scope.attributes)
        .map_err(|e| format!("its instrumentation scope {:?} {e}", scope.name))
}

impl Item for Span {
    fn units(&self) -> u64 {
        1
    }

    fn check(&mut self, _: &mut Rejections) -> Result<(), String> {
        check_span(self).map_err(|problem| format!("span {:?}: {problem}", self.name))
    }
}

fn check_span(span: &Span) -> Result<(), String> {
    check_id("trace_id", &span.trace_id, TRACE_ID_LEN, Presence::Required)?;
    check_id("span_id", &span.span_id, SPAN_ID_LEN, Presence::Required)?;
    check_id(
        "parent_span_id",
        &span.parent_span_id,
        SPAN_ID_LEN,
        Presence::Optional,
    )?;
    check_attributes(&span.attributes)?;
    for event in &span.events {
        check_attributes(&event.attributes).map_err(|e| format!("event {:?}: {e}", event.name))?;
    }
    for link in &span.links {
        check_id(
            "link trace_id",
            &link.trace_id,
            TRACE_ID_LEN,
            Presence::Required,
        )?;
        check_id(
            "link span_id",
            &link.span_id,
            SPAN_ID_LEN,
            Presence::Required,
        )?;
        check_attributes(&link.attributes).map_err(|e| format!("link {e}"))?;
    }
    Ok(())
}

impl Item for LogRecord {
    fn units(&self) -> u64 {
        1
    }

    fn check(&mut self, _: &mut Rejections) -> Result<(), String> {
        check_log_record(self)
            .map_err(|problem| format!("log record at {} ns: {problem}", self.time_unix_nano))
    }
}

fn check_log_record(record: &LogRecord) -> Result<(), String> {
    check_id(
        "trace_id",
        &record.trace_id,
        TRACE_ID_LEN,
        Presence::Optional,
    )?;
    check_id("span_id", &record.span_id, SPAN_ID_LEN, Presence::Optional)?;
    if let Some(body) = &record.body
        && too_deep(body, 1)
    {
        return Err(format!(
            "body nests values deeper than {MAX_ANY_VALUE_DEPTH} levels"
        ));
    }
    check_attributes(&record.attributes)
}

impl Item for Metric {
    fn units(&self) -> u64 {
        let points = match &self.data {
            None => return 1,
            Some(metric::Data::Gauge(gauge)) => gauge.data_points.len(),
            Some(metric::Data::Sum(sum)) => sum.data_points.len(),
            Some(metric::Data::Histogram(histogram)) => histogram.data_points.len(),
            Some(metric::Data::ExponentialHistogram(histogram)) => histogram.data_points.len(),
            Some(metric::Data::Summary(summary)) => summary.data_points.len(),
        };
        points as u64
    }

    fn check(&mut self, rejections: &mut Rejections) -> Result<(), String> {
        let metric = format!("metric {:?}", self.name);
        check_attributes(&self.metadata).map_err(|e| format!("{metric}: metadata {e}"))?;
        match &mut self.data {
            None => {
                return Err(format!(
                    "{metric} has no data: set one of gauge, sum, histogram, \
                     exponentialHistogram or summary"
                ));
            }
            Some(metric::Data::Gauge(gauge)) => {
                retain_points(&mut gauge.data_points, &metric, rejections)
            }
            Some(metric::Data::Sum(sum)) => {
                retain_points(&mut sum.data_points, &metric, rejections)
            }
            Some(metric::Data::Histogram(histogram)) => {
                retain_points(&mut histogram.data_points, &metric, rejections)
            }
            Some(metric::Data::ExponentialHistogram(histogram)) => {
                retain_points(&mut histogram.data_points, &metric, rejections)
            }
            Some(metric::Data::Summary(summary)) => {
                retain_points(&mut summary.data_points, &metric, rejections)
            }
        }
        Ok(())
    }
}

/// What the five kinds of metric data point have in common for validation.
trait DataPoint {
    fn attributes(&self) -> &[KeyValue];
    fn exemplars(&self) -> &[Exemplar];
    fn time_unix_nano(&self) -> u64;
}

macro_rules! data_point_with_exemplars {
    ($($point:ty),*) => {$(
        impl DataPoint for $point {
            fn attributes(&self) -> &[KeyValue] {
                &self.attributes
            }
            fn exemplars(&self) -> &[Exemplar] {
                &self.exemplars
            }
            fn time_unix_nano(&self) -> u64 {
                self.time_unix_nano
            }
        }
    )*};
}

data_point_with_exemplars!(
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint
);

impl DataPoint for SummaryDataPoint {
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
    fn exemplars(&self) -> &[Exemplar] {
        &[]
    }
    fn time_unix_nano(&self) -> u64 {
        self.time_unix_nano
    }
}

fn retain_points<P: DataPoint>(points: &mut Vec<P>, metric: &str, rejections: &mut Rejections) {
    points.retain(|point| match check_point(point) {
        Ok(()) => true,
        Err(problem) => {
            rejections.reject(1, || {
                format!(
                    "{metric}, data point at {} ns: {problem}",
                    point.time_unix_nano()
                )
            });
            false
        }
    });
}

fn check_point(point: &impl DataPoint) -> Result<(), String> {
    check_attributes(point.attributes())?;
    for exemplar in point.exemplars() {
        check_id(
            "exemplar trace_id",
            &exemplar.trace_id,
            TRACE_ID_LEN,
            Presence::Optional,
        )?;
        check_id(
            "exemplar span_id",
            &exemplar.span_id,
            SPAN_ID_LEN,
            Presence::Optional,
        )?;
        check_attributes(&exemplar.filtered_attributes).map_err(|e| format!("exemplar {e}"))?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Must be present and not all zeros (the spec calls an all-zero id invalid).
    Required,
    /// May be empty; if present, must have the right length.
    Optional,
}

fn check_id(field: &str, id: &[u8], len: usize, presence: Presence) -> Result<(), String> {
    if presence == Presence::Optional && id.is_empty() {
        return Ok(());
    }
    if id.len() != len {
        let or_empty = match presence {
            Presence::Optional => " or empty",
            Presence::Required => "",
        };
        return Err(format!(
            "{field} must be {len} bytes{or_empty}, got {}",
            id.len()
        ));
    }
    if presence == Presence::Required && id.iter().all(|byte| *byte == 0) {
        return Err(format!("{field} must not be all zeros"));
    }
    Ok(())
}

fn check_attributes(attributes: &[KeyValue]) -> Result<(), String> {
    for attribute in attributes {
        if let Some(value) = &attribute.value
            && too_deep(value, 1)
        {
            return Err(format!(
                "attribute {:?} nests values deeper than {MAX_ANY_VALUE_DEPTH} levels",
                attribute.key
            ));
        }
    }
    Ok(())
}

/// True if `value`, itself at nesting level `depth`, goes below [`MAX_ANY_VALUE_DEPTH`].
/// Recursion stops at the limit, so the stack stays bounded whatever the input.
fn too_deep(value: &AnyValue, depth: usize) -> bool {
    if depth > MAX_ANY_VALUE_DEPTH {
        return true;
    }
    match &value.value {
        Some(any_value::Value::ArrayValue(array)) => {
            array.values.iter().any(|v| too_deep(v, depth + 1))
        }
        Some(any_value::Value::KvlistValue(map)) => map
            .values
            .iter()
            .filter_map(|kv| kv.value.as_ref())
            .any(|v| too_deep(v, depth + 1)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::metrics::v1::{Gauge, Sum};
    use opentelemetry_proto::tonic::trace::v1::span::Link;

    const TRACE: [u8; 16] = [1; 16];
    const SPAN: [u8; 8] = [2; 8];

    fn span(name: &str, trace_id: &[u8], span_id: &[u8]) -> Span {
        Span {
            name: name.to_string(),
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            ..Default::default()
        }
    }

    fn traces(spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn nested(depth: usize) -> AnyValue {
        let mut value = AnyValue {
            value: Some(any_value::Value::IntValue(1)),
        };
        for _ in 1..depth {
            value = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        value
    }

    fn attribute(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(value),
            ..Default::default()
        }
    }

    #[test]
    fn valid_spans_pass_untouched() {
        let mut data = traces(vec![span("a", &TRACE, &SPAN), span("b", &TRACE, &[3; 8])]);
        let before = data.clone();
        let rejections = validate(&mut data);
        assert!(rejections.is_empty());
        assert_eq!(data, before);
    }

    #[test]
    fn bad_span_ids_are_removed_counted_and_explained() {
        let mut with_bad_parent = span("bad parent", &TRACE, &SPAN);
        with_bad_parent.parent_span_id = vec![1, 2];
        let mut with_bad_link = span("bad link", &TRACE, &SPAN);
        with_bad_link.links.push(Link {
            trace_id: TRACE.to_vec(),
            span_id: vec![0; 8],
            ..Default::default()
        });
        let mut data = traces(vec![
            span("short trace", &[1, 2, 3], &SPAN),
            span("kept", &TRACE, &SPAN),
            span("zero trace", &[0; 16], &SPAN),
            span("no span id", &TRACE, &[]),
            with_bad_parent,
            with_bad_link,
        ]);
        let rejections = validate(&mut data);
        assert_eq!(rejections.count(), 5);
        let kept: Vec<_> = data[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| &s.name)
            .collect();
        assert_eq!(kept, ["kept"]);
        assert_eq!(
            rejections.message("span", "spans"),
            "5 spans rejected; the first because span \"short trace\": \
             trace_id must be 16 bytes, got 3"
        );
    }

    #[test]
    fn empty_scopes_and_resources_are_dropped() {
        let mut data = traces(vec![span("x", &[], &SPAN)]);
        let rejections = validate(&mut data);
        assert_eq!(rejections.count(), 1);
        assert!(data.is_empty());
    }

    #[test]
    fn log_ids_are_optional_but_must_have_the_right_length() {
        let record = |trace_id: &[u8], span_id: &[u8]| LogRecord {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            ..Default::default()
        };
        let mut data = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(&[], &[]),
                    record(&TRACE, &SPAN),
                    record(&TRACE, &[1; 4]),
                    record(&[9; 17], &[]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let rejections = validate(&mut data);
        assert_eq!(rejections.count(), 2);
        assert_eq!(data[0].scope_logs[0].log_records.len(), 2);
        assert!(
            rejections
                .first_reason()
                .unwrap()
                .contains("span_id must be 8 bytes or empty, got 4"),
            "{rejections:?}"
        );
    }

    #[test]
    fn values_nested_too_deeply_reject_the_item() {
        let mut shallow = span("shallow", &TRACE, &SPAN);
        shallow
            .attributes
            .push(attribute("ok", nested(MAX_ANY_VALUE_DEPTH)));
        let mut deep = span("deep", &TRACE, &SPAN);
        deep.attributes
            .push(attribute("deep", nested(MAX_ANY_VALUE_DEPTH + 1)));
        let mut data = traces(vec![shallow, deep]);
        let rejections = validate(&mut data);
        assert_eq!(rejections.count(), 1);
        assert!(
            rejections
                .first_reason()
                .unwrap()
                .contains("attribute \"deep\" nests")
        );

        let mut body = LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![attribute("k", nested(MAX_ANY_VALUE_DEPTH))],
                })),
            }),
            ..Default::default()
        };
        assert!(body.check(&mut Rejections::default()).is_err());
    }

    #[test]
    fn a_deep_resource_attribute_rejects_everything_under_it() {
        let mut data = traces(vec![span("a", &TRACE, &SPAN), span("b", &TRACE, &SPAN)]);
        data[0].resource = Some(Resource {
            attributes: vec![attribute("r", nested(100))],
            ..Default::default()
        });
        let rejections = validate(&mut data);
        assert_eq!(rejections.count(), 2);
        assert!(data.is_empty());
        assert!(
            rejections
                .first_reason()
                .unwrap()
                .starts_with("its resource attribute")
        );
    }

    #[test]
    fn metrics_count_rejected_data_points() {
        let point = |span_id: &[u8]| NumberDataPoint {
            time_unix_nano: 7,
            exemplars: vec![Exemplar {
                span_id: span_id.to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut data = vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "no.data".into(),
                        ..Default::default()
                    },
                    Metric {
                        name: "mixed".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![point(&SPAN), point(&[1]), point(&[])],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "all.bad".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![point(&[1; 3]), point(&[1; 9])],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let rejections = validate(&mut data);
        // One for the metric without data, then one bad point of "mixed" and both of "all.bad".
        assert_eq!(rejections.count(), 4);
        let metrics = &data[0].scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 1, "only \"mixed\" keeps points");
        assert_eq!(metrics[0].units(), 2);
        assert!(
            rejections
                .first_reason()
                .unwrap()
                .contains("metric \"no.data\" has no data"),
            "{rejections:?}"
        );
        assert!(
            rejections
                .message("data point", "data points")
                .starts_with("4 data points")
        );
    }
}
