//! [`SeriesLimiter`]: how many distinct metric series may be active at once, per metric name
//! (`--max-series-per-metric`) and in all (`--max-active-series`).
//!
//! A series is what the store keeps points of under one identity: a resource, a scope, a metric
//! name, unit and type, and a data point's attributes. One label carrying a request id or a
//! timestamp turns every point into a series of its own, and every series costs the store and
//! each query that selects the metric; Mimir's `max_global_series_per_metric` and
//! VictoriaMetrics' `-storage.maxHourlySeries` exist for the same reason. Points of series that
//! are already active are always accepted; points that would start a series past a limit are
//! refused through partial success, naming the metric and the limit, while the rest of the
//! request is stored.
//!
//! A series stays active for one to two hours of server time after its last point: series are
//! kept with the hour they were last seen in, and at the turn of an hour those not seen in it or
//! the hour before are forgotten. The count is the server's since it started: a restart starts
//! it afresh. It is held in memory, about 50 bytes per active series, which `--max-active-series`
//! bounds across all clients together.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};

use super::validate::{Problem, RejectReason, Rejections, data_points};

/// The two limits, `None` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    /// Series active at once under one metric name (`--max-series-per-metric`).
    pub per_metric: Option<usize>,
    /// Series active at once in all (`--max-active-series`).
    pub active: Option<usize>,
}

impl Default for SeriesLimits {
    /// Far more series than any chart of one metric can show, and a total a 2-core machine
    /// still queries comfortably.
    fn default() -> Self {
        SeriesLimits {
            per_metric: Some(20_000),
            active: Some(1_000_000),
        }
    }
}

/// The active series, shared by every request.
#[derive(Debug)]
pub struct SeriesLimiter {
    limits: SeriesLimits,
    active: Mutex<Active>,
}

#[derive(Debug, Default)]
struct Active {
    /// The hour (of server time, since the epoch) the map was last pruned in.
    hour: u64,
    /// Per metric name, each series' identity hash and the hour it was last seen in.
    metrics: HashMap<String, HashMap<u64, u64>>,
    /// Series in `metrics`, all names together.
    total: usize,
}

impl SeriesLimiter {
    pub fn new(limits: SeriesLimits) -> SeriesLimiter {
        SeriesLimiter {
            limits,
            active: Mutex::new(Active::default()),
        }
    }

    /// Series active now.
    pub fn active_series(&self) -> usize {
        self.lock().total
    }

    /// Removes from `request` the data points that would start a series past a limit, and
    /// counts them in `rejections`. Metrics left without points are removed, and so are scopes
    /// and resources left empty.
    pub fn admit(&self, request: &mut ExportMetricsServiceRequest, rejections: &mut Rejections) {
        if self.limits.per_metric.is_none() && self.limits.active.is_none() {
            return;
        }
        let mut active = self.lock();
        active.prune(current_hour());
        request.resource_metrics.retain_mut(|resource| {
            let mut seed = DefaultHasher::new();
            if let Some(r) = &resource.resource {
                hash_attributes(&mut seed, &r.attributes);
            }
            resource.scope_metrics.retain_mut(|scope| {
                let mut seed = seed.clone();
                hash_scope(&mut seed, scope.scope.as_ref());
                scope.metrics.retain_mut(|metric| {
                    active.admit_metric(&self.limits, &seed, metric, rejections);
                    metric
                        .data
                        .as_ref()
                        .is_some_and(|data| data_points(data) > 0)
                });
                !scope.metrics.is_empty()
            });
            !resource.scope_metrics.is_empty()
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Active> {
        // Counting series cannot leave the map inconsistent midway in a way that matters.
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Active {
    /// At the turn of an hour, forgets the series seen neither in it nor in the hour before.
    fn prune(&mut self, hour: u64) {
        if hour <= self.hour {
            return;
        }
        self.hour = hour;
        let mut total = 0;
        self.metrics.retain(|_, series| {
            series.retain(|_, seen| *seen + 1 >= hour);
            total += series.len();
            !series.is_empty()
        });
        self.total = total;
    }

    fn admit_metric(
        &mut self,
        limits: &SeriesLimits,
        seed: &DefaultHasher,
        metric: &mut Metric,
        rejections: &mut Rejections,
    ) {
        let mut seed = seed.clone();
        metric.name.hash(&mut seed);
        metric.unit.hash(&mut seed);
        let hour = self.hour;
        let Active { metrics, total, .. } = self;
        let name = metric.name.as_str();
        // A metric seen for the first time gets its entry here, and loses it below if none of
        // its points was admitted.
        if !metrics.contains_key(name) {
            metrics.insert(name.to_string(), HashMap::new());
        }
        let series = metrics.get_mut(name).expect("inserted above");
        let mut admit = |attributes: &[KeyValue], kind: u8| -> Result<(), Problem> {
            let mut hasher = seed.clone();
            kind.hash(&mut hasher);
            hash_attributes(&mut hasher, attributes);
            let id = hasher.finish();
            if let Some(seen) = series.get_mut(&id) {
                *seen = hour;
                return Ok(());
            }
            if let Some(max) = limits.per_metric.filter(|max| series.len() >= *max) {
                return Err(Problem::new(
                    RejectReason::TooManySeries,
                    format!(
                        "metric {name:?} already has {max} active series, the most \
                         --max-series-per-metric allows; a new one would start with \
                         attributes {}",
                        describe(attributes)
                    ),
                ));
            }
            if let Some(max) = limits.active.filter(|max| *total >= *max) {
                return Err(Problem::new(
                    RejectReason::TooManySeries,
                    format!(
                        "otelite already holds {max} active series, the most \
                         --max-active-series allows; metric {name:?} would start another"
                    ),
                ));
            }
            series.insert(id, hour);
            *total += 1;
            Ok(())
        };
        if let Some(data) = &mut metric.data {
            retain_admitted(data, &mut admit, rejections);
        }
        if series.is_empty() {
            metrics.remove(name);
        }
    }
}

/// Keeps the points of `data` that `admit` lets through.
fn retain_admitted(
    data: &mut metric::Data,
    admit: &mut impl FnMut(&[KeyValue], u8) -> Result<(), Problem>,
    rejections: &mut Rejections,
) {
    macro_rules! retain {
        ($points:expr, $kind:literal) => {
            $points.retain(|point| match admit(&point.attributes, $kind) {
                Ok(()) => true,
                Err(problem) => {
                    rejections.reject(1, || problem);
                    false
                }
            })
        };
    }
    match data {
        metric::Data::Gauge(gauge) => retain!(gauge.data_points, 1),
        metric::Data::Sum(sum) => retain!(sum.data_points, 2),
        metric::Data::Histogram(histogram) => retain!(histogram.data_points, 3),
        metric::Data::ExponentialHistogram(histogram) => retain!(histogram.data_points, 4),
        metric::Data::Summary(summary) => retain!(summary.data_points, 5),
    }
}

fn current_hour() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600)
}

fn hash_scope(hasher: &mut DefaultHasher, scope: Option<&InstrumentationScope>) {
    if let Some(scope) = scope {
        scope.name.hash(hasher);
        scope.version.hash(hasher);
        hash_attributes(hasher, &scope.attributes);
    }
}

fn hash_attributes(hasher: &mut DefaultHasher, attributes: &[KeyValue]) {
    attributes.len().hash(hasher);
    for attribute in attributes {
        attribute.key.hash(hasher);
        hash_value(hasher, attribute.value.as_ref());
    }
}

fn hash_value(hasher: &mut DefaultHasher, value: Option<&AnyValue>) {
    use any_value::Value;
    match value.and_then(|v| v.value.as_ref()) {
        None => 0u8.hash(hasher),
        Some(Value::StringValue(s)) => (1u8, s).hash(hasher),
        Some(Value::BoolValue(b)) => (2u8, b).hash(hasher),
        Some(Value::IntValue(i)) => (3u8, i).hash(hasher),
        Some(Value::DoubleValue(d)) => (4u8, d.to_bits()).hash(hasher),
        Some(Value::BytesValue(b)) => (5u8, b).hash(hasher),
        Some(Value::ArrayValue(array)) => {
            (6u8, array.values.len()).hash(hasher);
            for value in &array.values {
                hash_value(hasher, Some(value));
            }
        }
        Some(Value::KvlistValue(list)) => {
            7u8.hash(hasher);
            hash_attributes(hasher, &list.values);
        }
        Some(Value::StringValueStrindex(index)) => (8u8, index).hash(hasher),
    }
}

/// `{key="value", ...}`, for saying which series was refused.
fn describe(attributes: &[KeyValue]) -> String {
    const MAX: usize = 200;
    let mut text = String::from("{");
    for (i, attribute) in attributes.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let value = attribute
            .value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .map(|v| match v {
                any_value::Value::StringValue(s) => format!("{s:?}"),
                any_value::Value::BoolValue(b) => b.to_string(),
                any_value::Value::IntValue(i) => i.to_string(),
                any_value::Value::DoubleValue(d) => d.to_string(),
                _ => "…".to_string(),
            })
            .unwrap_or_default();
        text.push_str(&format!("{}={value}", attribute.key));
        if text.len() > MAX {
            let mut cut = MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
            break;
        }
    }
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::decode_json;

    fn request(metric: &str, users: std::ops::Range<u32>) -> ExportMetricsServiceRequest {
        let points: Vec<String> = users
            .map(|u| {
                format!(
                    r#"{{"asInt":"1","timeUnixNano":"1","attributes":[
                        {{"key":"user","value":{{"stringValue":"u{u}"}}}}]}}"#
                )
            })
            .collect();
        let json = format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
                {{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},
              "scopeMetrics":[{{"metrics":[{{"name":"{metric}","gauge":{{"dataPoints":[{}]}}}}]}}]}}]}}"#,
            points.join(",")
        );
        decode_json(json.as_bytes()).unwrap()
    }

    fn points(request: &ExportMetricsServiceRequest) -> usize {
        request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter_map(|m| m.data.as_ref())
            .map(data_points)
            .sum()
    }

    fn limiter(per_metric: usize, active: usize) -> SeriesLimiter {
        SeriesLimiter::new(SeriesLimits {
            per_metric: Some(per_metric),
            active: Some(active),
        })
    }

    #[test]
    fn new_series_past_the_per_metric_limit_are_refused_and_known_ones_still_pass() {
        let limiter = limiter(3, 100);
        let mut first = request("logins", 0..5);
        let mut rejections = Rejections::default();
        limiter.admit(&mut first, &mut rejections);
        assert_eq!(points(&first), 3);
        assert_eq!(rejections.count(), 2);
        assert_eq!(rejections.count_for(RejectReason::TooManySeries), 2);
        let message = rejections.message("data point", "data points");
        assert!(
            message.contains("metric \"logins\" already has 3 active series")
                && message.contains("--max-series-per-metric")
                && message.contains("user=\"u3\""),
            "{message}"
        );

        // The three known series keep flowing; a fourth is refused; another metric is free.
        let mut again = request("logins", 0..4);
        let mut rejections = Rejections::default();
        limiter.admit(&mut again, &mut rejections);
        assert_eq!((points(&again), rejections.count()), (3, 1));
        let mut other = request("signups", 0..3);
        let mut rejections = Rejections::default();
        limiter.admit(&mut other, &mut rejections);
        assert_eq!((points(&other), rejections.count()), (3, 0));
        assert_eq!(limiter.active_series(), 6);
    }

    #[test]
    fn the_total_bounds_all_metrics_together() {
        let limiter = limiter(10, 4);
        let mut rejections = Rejections::default();
        let mut a = request("a", 0..3);
        limiter.admit(&mut a, &mut rejections);
        let mut b = request("b", 0..3);
        limiter.admit(&mut b, &mut rejections);
        assert_eq!((points(&a), points(&b)), (3, 1));
        assert_eq!(rejections.count(), 2);
        assert!(
            rejections
                .message("data point", "data points")
                .contains("--max-active-series"),
        );
        assert_eq!(limiter.active_series(), 4);
    }

    #[test]
    fn a_metric_with_no_point_left_is_removed() {
        let limiter = limiter(1, 100);
        let mut rejections = Rejections::default();
        limiter.admit(&mut request("m", 0..1), &mut rejections);
        let mut refused = request("m", 5..7);
        limiter.admit(&mut refused, &mut rejections);
        assert!(refused.resource_metrics.is_empty());
        assert_eq!(rejections.count(), 2);
    }

    #[test]
    fn series_not_seen_for_an_hour_are_forgotten() {
        let mut active = Active {
            hour: 10,
            ..Active::default()
        };
        active
            .metrics
            .insert("m".to_string(), HashMap::from([(1, 10), (2, 9), (3, 8)]));
        active.total = 3;
        active.prune(10);
        assert_eq!(active.total, 3, "no turn of the hour, nothing forgotten");
        active.prune(11);
        assert_eq!(active.total, 1);
        assert_eq!(active.metrics["m"].keys().collect::<Vec<_>>(), [&1]);
        active.prune(13);
        assert!(active.metrics.is_empty());
        assert_eq!(active.total, 0);
    }

    #[test]
    fn identity_covers_resource_type_and_every_attribute_value() {
        let limiter = limiter(1, 100);
        let mut rejections = Rejections::default();
        limiter.admit(&mut request("m", 0..1), &mut rejections);
        // The same point again is the same series.
        limiter.admit(&mut request("m", 0..1), &mut rejections);
        assert_eq!(rejections.count(), 0);
        // Another resource is another series.
        let mut other = request("m", 0..1);
        other.resource_metrics[0].resource = None;
        limiter.admit(&mut other, &mut rejections);
        assert_eq!(rejections.count(), 1);
    }

    #[test]
    fn no_limits_touch_nothing() {
        let limiter = SeriesLimiter::new(SeriesLimits {
            per_metric: None,
            active: None,
        });
        let mut big = request("m", 0..50);
        let mut rejections = Rejections::default();
        limiter.admit(&mut big, &mut rejections);
        assert_eq!((points(&big), rejections.count()), (50, 0));
        assert_eq!(limiter.active_series(), 0);
    }
}
