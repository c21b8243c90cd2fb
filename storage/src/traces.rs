//! Traces as the store sees them: a span's time is its start time.
//!
//! Owns only the [`SignalGroup`] description of `ResourceSpans`; must never hold storage logic,
//! which is written once for all signals elsewhere.

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};

use crate::Signal;
use crate::signal::SignalGroup;

impl SignalGroup for ResourceSpans {
    const SIGNAL: Signal = Signal::Traces;
    type Envelope = TracesData;

    fn decode_columnar(
        header: &crate::block::BlockHeader,
        payload: &[u8],
    ) -> Result<Vec<Self>, crate::block::BlockError> {
        crate::span_block::decode_all(header, payload)
    }

    fn index_keys(&self, keys: &mut crate::block::IndexKeys) {
        let resource = self.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        let service = crate::trace_query::service_name(resource);
        let mut previous = None;
        for span in self.scope_spans.iter().flat_map(|scope| &scope.spans) {
            // Spans of one trace usually come together: hash each run once.
            if previous != Some(span.trace_id.as_slice()) {
                previous = Some(span.trace_id.as_slice());
                keys.trace_hashes
                    .push(crate::trace_index::trace_hash(&span.trace_id));
            }
            let op = crate::trace_index::operation_hash(service, &span.name, span.kind);
            keys.operations
                .entry(op)
                .or_insert_with(|| (service.to_string(), span.name.clone(), span.kind));
        }
    }

    fn from_envelope(envelope: TracesData) -> Vec<Self> {
        envelope.resource_spans
    }

    fn item_count(&self) -> u64 {
        self.scope_spans
            .iter()
            .map(|scope| scope.spans.len() as u64)
            .sum()
    }

    fn for_each_item_time(&self, mut f: impl FnMut(u64)) {
        for scope in &self.scope_spans {
            for span in &scope.spans {
                f(span.start_time_unix_nano);
            }
        }
    }

    fn retain_items(&mut self, mut keep: impl FnMut(u64) -> bool) {
        for scope in &mut self.scope_spans {
            scope.spans.retain(|span| keep(span.start_time_unix_nano));
        }
        self.scope_spans.retain(|scope| !scope.spans.is_empty());
    }
}
