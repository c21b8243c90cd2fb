//! The one place that says what the store needs to know about a signal's OTLP data.
//!
//! [`SignalGroup`] is implemented once per OTLP resource group (`ResourceSpans`,
//! `ResourceMetrics`, `ResourceLogs`, in `traces.rs`, `metrics.rs`, `logs.rs`); everything else in
//! the crate (block codec, writer, reader) is written once, generically, against it. The generic
//! helpers here split a group by time partition and filter groups to a time range. This module
//! must never touch the database or the block bytes: it only reshapes OTLP messages.

use std::collections::BTreeSet;

use crate::schema::partition_start;
use crate::{Signal, TimeRange};

/// A resource group of one signal: a resource, its scopes, and their items (spans, metric data
/// points or log records), each item stamped with one time in unix nanoseconds.
pub(crate) trait SignalGroup:
    prost::Message + Default + Clone + Send + Sized + 'static
{
    /// The signal this group carries.
    const SIGNAL: Signal;

    /// The OTLP `*Data` message (`TracesData`, `MetricsData`, `LogsData`) whose only field,
    /// number 1, is a repeated list of these groups. A block payload is one such message.
    type Envelope: prost::Message + Default;

    /// Decodes a block of a columnar codec (codec byte other than 1). Only traces have one so
    /// far; other signals refuse such blocks.
    fn decode_columnar(
        header: &crate::block::BlockHeader,
        _payload: &[u8],
    ) -> Result<Vec<Self>, crate::block::BlockError> {
        Err(crate::block::BlockError(format!(
            "codec {} does not hold {}",
            header.codec,
            Self::SIGNAL
        )))
    }

    /// Adds what this group's items contribute to the indexes beside the block table (see
    /// [`crate::block::IndexKeys`]); nothing for signals without such indexes.
    fn index_keys(&self, _keys: &mut crate::block::IndexKeys) {}

    /// Takes the groups out of a decoded envelope.
    fn from_envelope(envelope: Self::Envelope) -> Vec<Self>;

    /// Number of items in this group.
    fn item_count(&self) -> u64;

    /// Calls `f` with the time of every item, in order.
    fn for_each_item_time(&self, f: impl FnMut(u64));

    /// Keeps only the items whose time satisfies `keep`, then drops scopes (and, for metrics,
    /// metrics) left without items. Resource, scope and metric descriptors of what remains are
    /// untouched.
    fn retain_items(&mut self, keep: impl FnMut(u64) -> bool);
}

/// Hands `group` to `emit` once per time partition its items fall into, each part holding only
/// that partition's items. The common case, all items in one partition, moves the group without
/// copying; a group with no items is not emitted at all (it carries no telemetry).
pub(crate) fn split_by_partition<G: SignalGroup>(group: G, mut emit: impl FnMut(u64, G)) {
    let mut first = None;
    let mut spans_partitions = false;
    group.for_each_item_time(|time| {
        let partition = partition_start(time);
        match first {
            None => first = Some(partition),
            Some(p) if p != partition => spans_partitions = true,
            Some(_) => {}
        }
    });
    let Some(first) = first else { return };
    if !spans_partitions {
        emit(first, group);
        return;
    }
    let mut partitions = BTreeSet::new();
    group.for_each_item_time(|time| {
        partitions.insert(partition_start(time));
    });
    for partition in partitions {
        let mut part = group.clone();
        part.retain_items(|time| partition_start(time) == partition);
        emit(partition, part);
    }
}

/// Keeps, in `groups`, only items whose time lies in `range`, dropping groups left empty.
pub(crate) fn retain_in_range<G: SignalGroup>(groups: &mut Vec<G>, range: TimeRange) {
    for group in groups.iter_mut() {
        group.retain_items(|time| range.contains(time));
    }
    groups.retain(|group| group.item_count() > 0);
}
