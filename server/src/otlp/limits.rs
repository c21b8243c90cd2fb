//! [`ItemLimits`]: how much one item may carry, enforced the way the OpenTelemetry SDKs enforce
//! their span and log limits, so that data an SDK would have accepted reads the same.
//!
//! Past a limit nothing is refused: the excess is dropped and counted in the item's OTLP
//! `dropped_*_count` field, where readers of the data (the UI, the Jaeger and OTLP exports) see
//! it. Attributes past the count limit are dropped from the end, keeping the first ones as the
//! SDK does; string and byte values longer than the length limit are cut (strings at a UTF-8
//! boundary), in arrays and maps too; events and links past their limits are dropped from the
//! end. Limits apply to resources, scopes, spans (and their events and links) and log records.
//! Metric data points are left alone: OTLP has no dropped count for them, and dropping or
//! cutting an attribute would silently merge their series.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::validate::{ResourceGroup, ScopeGroup};

/// The limits, each named by the setting that changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemLimits {
    /// Attributes kept per resource, scope, span, event, link or log record
    /// (`--max-attributes`).
    pub max_attributes: usize,
    /// Bytes kept of a string or bytes attribute value (`--max-attribute-value-size`).
    pub max_attribute_value_bytes: usize,
    /// Events kept per span (`--max-span-events`).
    pub max_span_events: usize,
    /// Links kept per span (`--max-span-links`).
    pub max_span_links: usize,
}

impl Default for ItemLimits {
    /// Eight times the SDKs' default counts (128), so that SDKs with raised limits pass
    /// untouched; 64 KiB per value keeps one attribute from outweighing a block of spans.
    fn default() -> Self {
        ItemLimits {
            max_attributes: 1024,
            max_attribute_value_bytes: 64 * 1024,
            max_span_events: 1024,
            max_span_links: 1024,
        }
    }
}

/// What applying the limits to one request dropped or cut.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Truncations {
    pub attributes_dropped: u64,
    pub values_truncated: u64,
    pub events_dropped: u64,
    pub links_dropped: u64,
}

impl Truncations {
    pub fn is_empty(&self) -> bool {
        *self == Truncations::default()
    }
}

/// Applies `limits` to every resource, scope and item in `groups`.
pub(crate) fn apply_limits<G: ResourceGroup>(groups: &mut [G], limits: &ItemLimits) -> Truncations
where
    <G::Scope as ScopeGroup>::Item: Limited,
{
    let mut cut = Cutter {
        limits,
        done: Truncations::default(),
    };
    for group in groups {
        if let Some(resource) = group.resource_mut() {
            limit_resource(resource, &mut cut);
        }
        for scope in group.scopes() {
            if let Some(instrumentation) = scope.scope_mut() {
                limit_scope(instrumentation, &mut cut);
            }
            for item in scope.items() {
                item.limit(&mut cut);
            }
        }
    }
    cut.done
}

/// An item the limits apply to.
pub(crate) trait Limited {
    fn limit(&mut self, cut: &mut Cutter<'_>);
}

/// The limits and what they have done so far.
pub(crate) struct Cutter<'a> {
    limits: &'a ItemLimits,
    done: Truncations,
}

impl Cutter<'_> {
    /// Applies both attribute limits to `attributes`, adding what it dropped to `dropped`.
    fn attributes(&mut self, attributes: &mut Vec<KeyValue>, dropped: &mut u32) {
        let excess = attributes.len().saturating_sub(self.limits.max_attributes);
        if excess > 0 {
            attributes.truncate(self.limits.max_attributes);
            *dropped = dropped.saturating_add(u32::try_from(excess).unwrap_or(u32::MAX));
            self.done.attributes_dropped += excess as u64;
        }
        for attribute in attributes {
            if let Some(value) = &mut attribute.value {
                self.value(value);
            }
        }
    }

    fn value(&mut self, value: &mut AnyValue) {
        let max = self.limits.max_attribute_value_bytes;
        match &mut value.value {
            Some(any_value::Value::StringValue(text)) if text.len() > max => {
                text.truncate(text.floor_char_boundary(max));
                self.done.values_truncated += 1;
            }
            Some(any_value::Value::BytesValue(bytes)) if bytes.len() > max => {
                bytes.truncate(max);
                self.done.values_truncated += 1;
            }
            Some(any_value::Value::ArrayValue(array)) => {
                for value in &mut array.values {
                    self.value(value);
                }
            }
            Some(any_value::Value::KvlistValue(map)) => {
                for value in map.values.iter_mut().filter_map(|kv| kv.value.as_mut()) {
                    self.value(value);
                }
            }
            _ => {}
        }
    }
}

fn limit_resource(resource: &mut Resource, cut: &mut Cutter<'_>) {
    cut.attributes(
        &mut resource.attributes,
        &mut resource.dropped_attributes_count,
    );
}

fn limit_scope(scope: &mut InstrumentationScope, cut: &mut Cutter<'_>) {
    cut.attributes(&mut scope.attributes, &mut scope.dropped_attributes_count);
}

impl Limited for Span {
    fn limit(&mut self, cut: &mut Cutter<'_>) {
        cut.attributes(&mut self.attributes, &mut self.dropped_attributes_count);
        let events = self.events.len().saturating_sub(cut.limits.max_span_events);
        if events > 0 {
            self.events.truncate(cut.limits.max_span_events);
            self.dropped_events_count = self
                .dropped_events_count
                .saturating_add(u32::try_from(events).unwrap_or(u32::MAX));
            cut.done.events_dropped += events as u64;
        }
        let links = self.links.len().saturating_sub(cut.limits.max_span_links);
        if links > 0 {
            self.links.truncate(cut.limits.max_span_links);
            self.dropped_links_count = self
                .dropped_links_count
                .saturating_add(u32::try_from(links).unwrap_or(u32::MAX));
            cut.done.links_dropped += links as u64;
        }
        for event in &mut self.events {
            cut.attributes(&mut event.attributes, &mut event.dropped_attributes_count);
        }
        for link in &mut self.links {
            cut.attributes(&mut link.attributes, &mut link.dropped_attributes_count);
        }
    }
}

impl Limited for LogRecord {
    fn limit(&mut self, cut: &mut Cutter<'_>) {
        cut.attributes(&mut self.attributes, &mut self.dropped_attributes_count);
    }
}

/// See the module comment: a data point's attributes are its series' identity.
impl Limited for Metric {
    fn limit(&mut self, _: &mut Cutter<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    fn text(value: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        })
    }

    fn attributes(n: usize) -> Vec<KeyValue> {
        (0..n)
            .map(|i| KeyValue {
                key: format!("k{i}"),
                value: text("v"),
                ..Default::default()
            })
            .collect()
    }

    const SMALL: ItemLimits = ItemLimits {
        max_attributes: 2,
        max_attribute_value_bytes: 4,
        max_span_events: 1,
        max_span_links: 1,
    };

    fn spans(span: Span, resource_attributes: usize) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: attributes(resource_attributes),
                dropped_attributes_count: 1,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[test]
    fn excess_attributes_events_and_links_are_dropped_and_counted_in_otlp() {
        let span = Span {
            attributes: attributes(5),
            events: vec![
                Event {
                    attributes: attributes(3),
                    ..Default::default()
                },
                Event::default(),
                Event::default(),
            ],
            links: vec![Link::default(), Link::default()],
            dropped_events_count: 4,
            ..Default::default()
        };
        let mut groups = spans(span, 3);
        let done = apply_limits(&mut groups, &SMALL);
        assert_eq!(
            done,
            Truncations {
                attributes_dropped: 3 + 1 + 1,
                values_truncated: 0,
                events_dropped: 2,
                links_dropped: 1,
            }
        );
        let resource = groups[0].resource.as_ref().unwrap();
        assert_eq!(resource.attributes.len(), 2);
        assert_eq!(
            resource.dropped_attributes_count,
            1 + 1,
            "added to what the SDK dropped"
        );
        let span = &groups[0].scope_spans[0].spans[0];
        let keys: Vec<_> = span.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["k0", "k1"], "the first attributes are kept");
        assert_eq!(span.dropped_attributes_count, 3);
        assert_eq!((span.events.len(), span.dropped_events_count), (1, 4 + 2));
        assert_eq!(span.events[0].dropped_attributes_count, 1);
        assert_eq!((span.links.len(), span.dropped_links_count), (1, 1));
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary_in_arrays_too() {
        let record = LogRecord {
            attributes: vec![
                KeyValue {
                    key: "short".into(),
                    value: text("abcd"),
                    ..Default::default()
                },
                KeyValue {
                    // 'é' is two bytes: four bytes end inside the second one.
                    key: "long".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![text("aéé").unwrap(), text("ok").unwrap()],
                        })),
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut groups = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let done = apply_limits(&mut groups, &SMALL);
        assert_eq!(done.values_truncated, 1);
        assert_eq!(done.attributes_dropped, 0);
        let record = &groups[0].scope_logs[0].log_records[0];
        assert_eq!(
            record.attributes[0].value,
            text("abcd"),
            "at the limit is kept whole"
        );
        let Some(any_value::Value::ArrayValue(array)) =
            &record.attributes[1].value.as_ref().unwrap().value
        else {
            panic!("still an array");
        };
        assert_eq!(array.values[0], text("aé").unwrap());
        assert_eq!(array.values[1], text("ok").unwrap());
    }

    #[test]
    fn within_the_limits_nothing_changes() {
        let span = Span {
            attributes: attributes(2),
            events: vec![Event::default()],
            ..Default::default()
        };
        let mut groups = spans(span, 2);
        let before = groups.clone();
        assert!(apply_limits(&mut groups, &SMALL).is_empty());
        assert_eq!(groups, before);
    }
}
