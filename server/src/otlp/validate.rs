//! The checks an export request passes before it reaches the store.
//!
//! Invalid items are removed and counted, the rest is kept: that is OTLP's partial success. All
//! three signals share the resource → scope → item nesting, so one walk ([`validate`]) serves
//! them; only what makes a span, a log record or a metric valid differs ([`Item::check`]).
//! Invariants after validation: every span has a 16-byte non-zero trace id and an 8-byte
//! non-zero span id; every id on a log record, link or exemplar has its proper length when
//! present; every metric has data; no attribute or body nests deeper than
//! [`MAX_ANY_VALUE_DEPTH`]; every item's time (the one the store files it under) lies in the
//! [`AcceptedTimes`]; no resource or scope is left without items.
//!
//! Why a time window: the store files each item under the hour of its time, so an item's time
//! picks the file it is written to. Unchecked, one request could scatter items over thousands of
//! hours (thousands of files and fsyncs), and a clock set to 2255 or 1970 would create hours
//! that age-based retention never drops. Like Loki (`reject_old_samples_max_age`,
//! `creation_grace_period`) and Prometheus, otelite refuses items too old or too far ahead of
//! its clock; both bounds are settings, and either can be switched off to replay old data.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// How far from the server clock an item's time may lie, each bound named by the setting that
/// changes it. `None` switches a bound off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Items older than this are refused (`--max-item-age`).
    pub max_age: Option<Duration>,
    /// Items further ahead of the server clock than this are refused (`--max-item-future`).
    pub max_future: Option<Duration>,
}

impl TimeWindow {
    /// A week back: a Collector's retry queue or an agent catching up after an outage is days at
    /// most, and Loki refuses samples older than a week by default.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
    /// An hour ahead: room for a badly set clock, not for a date in another year.
    pub const DEFAULT_MAX_FUTURE: Duration = Duration::from_secs(3600);

    /// Every time is accepted.
    pub const UNBOUNDED: TimeWindow = TimeWindow {
        max_age: None,
        max_future: None,
    };

    /// The times accepted when the server clock reads `now_unix_nano`.
    pub fn at(self, now_unix_nano: u64) -> AcceptedTimes {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        AcceptedTimes {
            window: self,
            kept_from: 0,
            oldest: self
                .max_age
                .map_or(0, |age| now_unix_nano.saturating_sub(nanos(age))),
            newest: self
                .max_future
                .map_or(u64::MAX, |ahead| now_unix_nano.saturating_add(nanos(ahead))),
        }
    }

    /// The times accepted now.
    pub fn now(self) -> AcceptedTimes {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.at(now)
    }
}

impl Default for TimeWindow {
    fn default() -> Self {
        TimeWindow {
            max_age: Some(Self::DEFAULT_MAX_AGE),
            max_future: Some(Self::DEFAULT_MAX_FUTURE),
        }
    }
}

/// A [`TimeWindow`] fixed at one reading of the clock: the item times one request may carry,
/// `oldest..=newest` in unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedTimes {
    window: TimeWindow,
    oldest: u64,
    newest: u64,
    /// Items before this are refused because retention no longer keeps their time.
    kept_from: u64,
}

impl AcceptedTimes {
    /// Every time, 0 included.
    pub const ANY: AcceptedTimes = AcceptedTimes {
        window: TimeWindow::UNBOUNDED,
        oldest: 0,
        newest: u64::MAX,
        kept_from: 0,
    };

    /// These times, minus those before `kept_from`: what retention no longer keeps (older than
    /// the signal's `--retention`, or in an hour a disk budget has dropped). Storing such items
    /// would bring back what retention deleted.
    pub fn kept_from(mut self, kept_from: u64) -> AcceptedTimes {
        self.kept_from = self.kept_from.max(kept_from);
        self
    }

    /// `Err` says why `time` (the item's `what`, e.g. "start time") is refused and which setting
    /// would accept it.
    fn check(&self, what: &str, time: u64) -> Result<(), Problem> {
        if time < self.kept_from && time >= self.oldest {
            return Err(Problem {
                reason: RejectReason::TooOld,
                message: format!(
                    "{what} {} is older than what this server keeps (--retention, or a --max-disk budget that has deleted that hour)",
                    rfc3339(time)
                ),
            });
        }
        if time < self.oldest {
            let max_age = self
                .window
                .max_age
                .expect("only a maximum age sets `oldest`");
            let when = if time == 0 {
                "is 0 (unset), which is".to_string()
            } else {
                format!("{} is", rfc3339(time))
            };
            return Err(Problem {
                reason: RejectReason::TooOld,
                message: format!(
                    "{what} {when} older than {} (--max-item-age)",
                    human_duration(max_age)
                ),
            });
        }
        if time > self.newest {
            let max_future = self
                .window
                .max_future
                .expect("only a maximum future sets `newest`");
            return Err(Problem {
                reason: RejectReason::TooNew,
                message: format!(
                    "{what} {} is more than {} in the future (--max-item-future)",
                    rfc3339(time),
                    human_duration(max_future)
                ),
            });
        }
        Ok(())
    }
}

/// `7d`, `1h`, `90m`, `45s`: the largest unit that divides `duration` evenly.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds > 0 && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// `time_unix_nano` as an RFC 3339 UTC timestamp to the second, e.g. `2255-01-01T00:00:00Z`.
fn rfc3339(time_unix_nano: u64) -> String {
    let seconds = time_unix_nano / 1_000_000_000;
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`), for days >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

const TRACE_ID_LEN: usize = 16;
const SPAN_ID_LEN: usize = 8;

/// Why validation removed an item, as otelite's own metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Malformed: a bad id, a metric without data, values nested too deeply.
    Invalid,
    /// Timed before `--max-item-age`.
    TooOld,
    /// Timed after `--max-item-future`.
    TooNew,
    /// A data point that would start a metric series past `--max-series-per-metric` or
    /// `--max-active-series`.
    TooManySeries,
}

impl RejectReason {
    pub const ALL: [RejectReason; 4] = [
        RejectReason::Invalid,
        RejectReason::TooOld,
        RejectReason::TooNew,
        RejectReason::TooManySeries,
    ];

    /// The label value in `otelite_items_refused_total{reason}`.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Invalid => "invalid",
            RejectReason::TooOld => "too_old",
            RejectReason::TooNew => "too_new",
            RejectReason::TooManySeries => "too_many_series",
        }
    }
}

/// Why one item is refused: the kind, for counting, and the sentence for the client.
#[derive(Debug)]
pub(crate) struct Problem {
    reason: RejectReason,
    message: String,
}

impl Problem {
    pub(crate) fn new(reason: RejectReason, message: String) -> Problem {
        Problem { reason, message }
    }

    /// The same problem, its message placed in the item it was found in.
    fn within(self, place: impl FnOnce(&str) -> String) -> Problem {
        Problem {
            reason: self.reason,
            message: place(&self.message),
        }
    }
}

/// Every check but the time window's finds malformed items.
impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem {
            reason: RejectReason::Invalid,
            message,
        }
    }
}

/// What validation removed from one export request: how many items (spans, log records or data
/// points, as OTLP's partial success counts them), how many for each reason, and the first
/// reason's sentence.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejections {
    count: u64,
    by_reason: [u64; RejectReason::ALL.len()],
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

    /// How many of the items removed were removed for `reason`.
    pub fn count_for(&self, reason: RejectReason) -> u64 {
        self.by_reason[reason as usize]
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

    pub(crate) fn reject(&mut self, count: u64, problem: impl FnOnce() -> Problem) {
        self.count += count;
        if self.first_reason.is_none() {
            let problem = problem();
            self.by_reason[problem.reason as usize] += count;
            self.first_reason = Some(problem.message);
        } else {
            // Only the first problem's sentence is kept, but every one is counted by kind.
            self.by_reason[problem().reason as usize] += count;
        }
    }
}

/// Removes every invalid item from `groups`, and every item timed outside `times`, and reports
/// what was removed.
pub(crate) fn validate<G: ResourceGroup>(groups: &mut Vec<G>, times: &AcceptedTimes) -> Rejections {
    let mut rejections = Rejections::default();
    groups.retain_mut(|group| {
        if let Err(reason) = check_resource(group.resource()) {
            rejections.reject(units_in(group.scopes()), || reason.into());
            return false;
        }
        group.scopes().retain_mut(|scope| {
            if let Err(reason) = check_scope(scope.scope()) {
                rejections.reject(scope.items().iter().map(Item::units).sum(), || {
                    reason.into()
                });
                return false;
            }
            scope
                .items()
                .retain_mut(|item| match item.check(times, &mut rejections) {
                    Ok(()) => item.units() > 0,
                    Err(problem) => {
                        rejections.reject(item.units(), || problem);
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
    fn resource_mut(&mut self) -> Option<&mut Resource>;
    fn scopes(&mut self) -> &mut Vec<Self::Scope>;
}

/// One `Scope*` message: an instrumentation scope and its items.
pub(crate) trait ScopeGroup {
    type Item: Item;
    fn scope(&self) -> Option<&InstrumentationScope>;
    fn scope_mut(&mut self) -> Option<&mut InstrumentationScope>;
    fn items(&mut self) -> &mut Vec<Self::Item>;
}

/// A span, a log record or a metric.
pub(crate) trait Item {
    /// How many units partial success counts for this item: 1 for a span or log record, the
    /// data points of a metric. A metric without data counts as 1 so that rejecting it shows.
    fn units(&self) -> u64;

    /// `Err` removes the whole item. A metric may also drop some of its data points, which it
    /// records in `rejections` itself.
    fn check(&mut self, times: &AcceptedTimes, rejections: &mut Rejections) -> Result<(), Problem>;
}

macro_rules! nesting {
    ($resource:ty, $scopes:ident, $scope:ty, $items:ident, $item:ty) => {
        impl ResourceGroup for $resource {
            type Scope = $scope;
            fn resource(&self) -> Option<&Resource> {
                self.resource.as_ref()
            }
            fn resource_mut(&mut self) -> Option<&mut Resource> {
                self.resource.as_mut()
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
            fn scope_mut(&mut self) -> Option<&mut InstrumentationScope> {
                self.scope.as_mut()
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

/// The items in `groups`, as partial success counts them.
pub(crate) fn count_items<G: ResourceGroup>(groups: &mut [G]) -> u64 {
    groups
        .iter_mut()
        .map(|group| units_in(group.scopes()))
        .sum()
}

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

    fn check(&mut self, times: &AcceptedTimes, _: &mut Rejections) -> Result<(), Problem> {
        check_span(self)
            .map_err(Problem::from)
            .and_then(|()| times.check("start time", self.start_time_unix_nano))
            .map_err(|problem| problem.within(|m| format!("span {:?}: {m}", self.name)))
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

    fn check(&mut self, times: &AcceptedTimes, _: &mut Rejections) -> Result<(), Problem> {
        // The store files a record under its time, or its observed time when the time is unset.
        let timed = match self.time_unix_nano {
            0 => times.check("observed time", self.observed_time_unix_nano),
            time => times.check("time", time),
        };
        check_log_record(self)
            .map_err(Problem::from)
            .and(timed)
            .map_err(|problem| {
                problem.within(|m| format!("log record at {} ns: {m}", self.time_unix_nano))
            })
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

/// The data points of one metric's data, whatever its type.
pub(crate) fn data_points(data: &metric::Data) -> usize {
    match data {
        metric::Data::Gauge(gauge) => gauge.data_points.len(),
        metric::Data::Sum(sum) => sum.data_points.len(),
        metric::Data::Histogram(histogram) => histogram.data_points.len(),
        metric::Data::ExponentialHistogram(histogram) => histogram.data_points.len(),
        metric::Data::Summary(summary) => summary.data_points.len(),
    }
}

impl Item for Metric {
    fn units(&self) -> u64 {
        // A metric without data is one item to refuse.
        self.data.as_ref().map_or(1, data_points) as u64
    }

    fn check(&mut self, times: &AcceptedTimes, rejections: &mut Rejections) -> Result<(), Problem> {
        let metric = format!("metric {:?}", self.name);
        check_attributes(&self.metadata).map_err(|e| format!("{metric}: metadata {e}"))?;
        match &mut self.data {
            None => {
                return Err(format!(
                    "{metric} has no data: set one of gauge, sum, histogram, \
                     exponentialHistogram or summary"
                )
                .into());
            }
            Some(metric::Data::Gauge(gauge)) => {
                retain_points(&mut gauge.data_points, &metric, times, rejections)
            }
            Some(metric::Data::Sum(sum)) => {
                retain_points(&mut sum.data_points, &metric, times, rejections)
            }
            Some(metric::Data::Histogram(histogram)) => {
                retain_points(&mut histogram.data_points, &metric, times, rejections)
            }
            Some(metric::Data::ExponentialHistogram(histogram)) => {
                retain_points(&mut histogram.data_points, &metric, times, rejections)
            }
            Some(metric::Data::Summary(summary)) => {
                retain_points(&mut summary.data_points, &metric, times, rejections)
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

fn retain_points<P: DataPoint>(
    points: &mut Vec<P>,
    metric: &str,
    times: &AcceptedTimes,
    rejections: &mut Rejections,
) {
    points.retain(|point| match check_point(point, times) {
        Ok(()) => true,
        Err(problem) => {
            rejections.reject(1, || {
                problem.within(|m| {
                    format!("{metric}, data point at {} ns: {m}", point.time_unix_nano())
                })
            });
            false
        }
    });
}

fn check_point(point: &impl DataPoint, times: &AcceptedTimes) -> Result<(), Problem> {
    times.check("time", point.time_unix_nano())?;
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
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
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
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
        assert_eq!(rejections.count(), 5);
        assert_eq!(rejections.count_for(RejectReason::Invalid), 5);
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
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
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
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
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
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
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
        assert!(
            body.check(&AcceptedTimes::ANY, &mut Rejections::default())
                .is_err()
        );
    }

    #[test]
    fn a_deep_resource_attribute_rejects_everything_under_it() {
        let mut data = traces(vec![span("a", &TRACE, &SPAN), span("b", &TRACE, &SPAN)]);
        data[0].resource = Some(Resource {
            attributes: vec![attribute("r", nested(100))],
            ..Default::default()
        });
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
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
        let rejections = validate(&mut data, &AcceptedTimes::ANY);
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

    const HOUR: u64 = 3_600 * 1_000_000_000;
    /// 2025-01-01T10:00:00Z.
    const NOW: u64 = 1_735_725_600 * 1_000_000_000;

    #[test]
    fn items_outside_the_time_window_are_refused_naming_the_setting() {
        let at = |name: &str, start: u64| Span {
            start_time_unix_nano: start,
            ..span(name, &TRACE, &SPAN)
        };
        let mut data = traces(vec![
            at("now", NOW),
            at("far future", 9_000_000_000_000_000_000),
            at("unset", 0),
            at("last week", NOW - 7 * 24 * HOUR),
            at("older", NOW - 7 * 24 * HOUR - 1),
            at("in an hour", NOW + HOUR),
            at("later", NOW + HOUR + 1),
        ]);
        let times = TimeWindow::default().at(NOW);
        let rejections = validate(&mut data, &times);
        let kept: Vec<_> = data[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(kept, ["now", "last week", "in an hour"]);
        assert_eq!(
            rejections.message("span", "spans"),
            "4 spans rejected; the first because span \"far future\": start time \
             2255-03-14T16:00:00Z is more than 1h in the future (--max-item-future)"
        );
        // Every refusal is counted under its own kind, not only the first one's.
        assert_eq!(rejections.count_for(RejectReason::TooNew), 2);
        assert_eq!(rejections.count_for(RejectReason::TooOld), 2);
        assert_eq!(rejections.count_for(RejectReason::Invalid), 0);

        let mut old = traces(vec![at("old", NOW - 30 * 24 * HOUR)]);
        let reason = validate(&mut old, &times)
            .first_reason()
            .unwrap()
            .to_string();
        assert_eq!(
            reason,
            "span \"old\": start time 2024-12-02T10:00:00Z is older than 7d (--max-item-age)"
        );
        let mut unset = traces(vec![at("unset", 0)]);
        let reason = validate(&mut unset, &times)
            .first_reason()
            .unwrap()
            .to_string();
        assert!(
            reason.contains("start time is 0 (unset), which is older than 7d (--max-item-age)"),
            "{reason}"
        );

        // Either bound can be switched off, e.g. to replay old files.
        let mut data = traces(vec![at("old", 1), at("future", u64::MAX)]);
        let replay = TimeWindow {
            max_age: None,
            ..TimeWindow::default()
        };
        assert_eq!(validate(&mut data, &replay.at(NOW)).count(), 1);
        assert_eq!(data[0].scope_spans[0].spans[0].name, "old");
        let mut data = traces(vec![at("old", 1), at("future", u64::MAX)]);
        assert!(validate(&mut data, &TimeWindow::UNBOUNDED.at(NOW)).is_empty());
    }

    #[test]
    fn metric_points_and_log_records_are_timed_as_the_store_files_them() {
        let point = |time: u64| NumberDataPoint {
            time_unix_nano: time,
            ..Default::default()
        };
        let mut metrics = vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point(NOW), point(NOW + 2 * HOUR), point(NOW - HOUR)],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let times = TimeWindow::default().at(NOW);
        let rejections = validate(&mut metrics, &times);
        assert_eq!(rejections.count(), 1);
        assert_eq!(metrics[0].scope_metrics[0].metrics[0].units(), 2);
        assert!(
            rejections
                .first_reason()
                .unwrap()
                .contains("time 2025-01-01T12:00:00Z is more than 1h in the future"),
            "{rejections:?}"
        );

        let record = |time: u64, observed: u64| LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: observed,
            ..Default::default()
        };
        let mut logs = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(NOW, 0),
                    // Untimed: its observed time counts.
                    record(0, NOW),
                    record(0, 0),
                    // Timed long ago but observed now: its time counts.
                    record(NOW - 365 * 24 * HOUR, NOW),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let rejections = validate(&mut logs, &times);
        assert_eq!(rejections.count(), 2);
        assert_eq!(logs[0].scope_logs[0].log_records.len(), 2);
        assert!(
            rejections
                .first_reason()
                .unwrap()
                .contains("observed time is 0 (unset), which is older than 7d"),
            "{rejections:?}"
        );
    }

    #[test]
    fn times_and_durations_read_as_people_write_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(NOW), "2025-01-01T10:00:00Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33Z");
        assert_eq!(human_duration(TimeWindow::DEFAULT_MAX_AGE), "7d");
        assert_eq!(human_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(human_duration(Duration::from_secs(61)), "61s");
    }
}
