//! Metrics as the store sees them: the items are data points, each filed under its own time, so
//! one metric whose points straddle partitions is split, its descriptor copied into each part.
//!
//! Owns only the [`SignalGroup`] description of `ResourceMetrics`; must never hold storage
//! logic, which is written once for all signals elsewhere.

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Metric, MetricsData, ResourceMetrics};

use crate::Signal;
use crate::signal::SignalGroup;

fn point_count(metric: &Metric) -> u64 {
    let count = match &metric.data {
        None => 0,
        Some(Data::Gauge(gauge)) => gauge.data_points.len(),
        Some(Data::Sum(sum)) => sum.data_points.len(),
        Some(Data::Histogram(histogram)) => histogram.data_points.len(),
        Some(Data::ExponentialHistogram(histogram)) => histogram.data_points.len(),
        Some(Data::Summary(summary)) => summary.data_points.len(),
    };
    count as u64
}

fn for_each_point_time(metric: &Metric, f: &mut impl FnMut(u64)) {
    match &metric.data {
        None => {}
        Some(Data::Gauge(gauge)) => gauge.data_points.iter().for_each(|p| f(p.time_unix_nano)),
        Some(Data::Sum(sum)) => sum.data_points.iter().for_each(|p| f(p.time_unix_nano)),
        Some(Data::Histogram(histogram)) => histogram
            .data_points
            .iter()
            .for_each(|p| f(p.time_unix_nano)),
        Some(Data::ExponentialHistogram(histogram)) => histogram
            .data_points
            .iter()
            .for_each(|p| f(p.time_unix_nano)),
        Some(Data::Summary(summary)) => {
            summary.data_points.iter().for_each(|p| f(p.time_unix_nano))
        }
    }
}

fn retain_points(metric: &mut Metric, keep: &mut impl FnMut(u64) -> bool) {
    match &mut metric.data {
        None => {}
        Some(Data::Gauge(gauge)) => gauge.data_points.retain(|p| keep(p.time_unix_nano)),
        Some(Data::Sum(sum)) => sum.data_points.retain(|p| keep(p.time_unix_nano)),
        Some(Data::Histogram(histogram)) => {
            histogram.data_points.retain(|p| keep(p.time_unix_nano))
        }
        Some(Data::ExponentialHistogram(histogram)) => {
            histogram.data_points.retain(|p| keep(p.time_unix_nano))
        }
        Some(Data::Summary(summary)) => summary.data_points.retain(|p| keep(p.time_unix_nano)),
    }
}

impl SignalGroup for ResourceMetrics {
    const SIGNAL: Signal = Signal::Metrics;
    type Envelope = MetricsData;

    fn decode_columnar(
        header: &crate::block::BlockHeader,
        payload: &[u8],
    ) -> Result<Vec<Self>, crate::block::BlockError> {
        if header.codec != crate::metric_block::CODEC_METRIC_CHUNKS {
            return Err(crate::block::BlockError(format!(
                "codec {} does not hold metrics",
                header.codec
            )));
        }
        crate::metric_block::decode_all(header, payload)
    }

    fn from_envelope(envelope: MetricsData) -> Vec<Self> {
        envelope.resource_metrics
    }

    fn item_count(&self) -> u64 {
        self.scope_metrics
            .iter()
            .flat_map(|scope| &scope.metrics)
            .map(point_count)
            .sum()
    }

    fn for_each_item_time(&self, mut f: impl FnMut(u64)) {
        for metric in self.scope_metrics.iter().flat_map(|scope| &scope.metrics) {
            for_each_point_time(metric, &mut f);
        }
    }

    fn retain_items(&mut self, mut keep: impl FnMut(u64) -> bool) {
        for scope in &mut self.scope_metrics {
            for metric in &mut scope.metrics {
                retain_points(metric, &mut keep);
            }
            scope.metrics.retain(|metric| point_count(metric) > 0);
        }
        self.scope_metrics.retain(|scope| !scope.metrics.is_empty());
    }
}
