//! Metric series: the OTLP-model view of stored data points that queries (PromQL, the metric
//! explorer) start from. A series is everything that identifies a point's stream, the resource,
//! scope, metric descriptor, kind and the point's attributes; its points are the data points
//! without their attributes, in time order.
//!
//! Series identity is equality of the *canonical encoding*: the protobuf of a skeleton
//! `ResourceMetrics` holding the series' resource, scope and metric descriptor with exactly one
//! data point carrying only the attributes ([`MetricSeries::canonical`]). Row blocks are read
//! whole and their groups taken apart by series here; compacted blocks (codec 4,
//! `metric_block.rs`) already hold one chunk per series and the partition's series catalog
//! (`metric_index.rs`) says which block holds which series, so a query decodes only the blocks
//! holding series it wants. This module must never write.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::block::BlockError;

/// One metric series, OTLP-model: what identifies a stream of data points.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSeries {
    pub resource: Resource,
    pub resource_schema_url: String,
    pub scope: InstrumentationScope,
    pub scope_schema_url: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    /// `Metric.metadata`.
    pub metadata: Vec<KeyValue>,
    pub kind: MetricKind,
    /// The data points' attributes: they identify the series.
    pub attributes: Vec<KeyValue>,
}

/// A metric's type, with what of its aggregation identifies a series.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum MetricKind {
    #[default]
    Gauge,
    /// `temporality` is the OTLP `AggregationTemporality` as `i32`.
    Sum {
        monotonic: bool,
        temporality: i32,
    },
    Histogram {
        temporality: i32,
    },
    ExponentialHistogram {
        temporality: i32,
    },
    Summary,
}

/// A series' points, sorted by `time_unix_nano`. `attributes` are left empty (they are the
/// series'); every other field (start time, flags, exemplars, min/max...) is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricPoints {
    Number(Vec<NumberDataPoint>),
    Histogram(Vec<HistogramDataPoint>),
    ExponentialHistogram(Vec<ExponentialHistogramDataPoint>),
    Summary(Vec<SummaryDataPoint>),
}

/// A series and its points in the range asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    pub series: Arc<MetricSeries>,
    pub points: MetricPoints,
}

impl MetricKind {
    /// The kind of a metric's data, `None` when it has none.
    pub(crate) fn of(data: &Data) -> MetricKind {
        match data {
            Data::Gauge(_) => MetricKind::Gauge,
            Data::Sum(sum) => MetricKind::Sum {
                monotonic: sum.is_monotonic,
                temporality: sum.aggregation_temporality,
            },
            Data::Histogram(h) => MetricKind::Histogram {
                temporality: h.aggregation_temporality,
            },
            Data::ExponentialHistogram(h) => MetricKind::ExponentialHistogram {
                temporality: h.aggregation_temporality,
            },
            Data::Summary(_) => MetricKind::Summary,
        }
    }

    /// A metric's data of this kind holding `points` (which must be of the kind's point type).
    pub(crate) fn data(self, points: MetricPoints) -> Data {
        match (self, points) {
            (MetricKind::Gauge, MetricPoints::Number(data_points)) => {
                Data::Gauge(Gauge { data_points })
            }
            (
                MetricKind::Sum {
                    monotonic,
                    temporality,
                },
                MetricPoints::Number(data_points),
            ) => Data::Sum(Sum {
                data_points,
                aggregation_temporality: temporality,
                is_monotonic: monotonic,
            }),
            (MetricKind::Histogram { temporality }, MetricPoints::Histogram(data_points)) => {
                Data::Histogram(Histogram {
                    data_points,
                    aggregation_temporality: temporality,
                })
            }
            (
                MetricKind::ExponentialHistogram { temporality },
                MetricPoints::ExponentialHistogram(data_points),
            ) => Data::ExponentialHistogram(ExponentialHistogram {
                data_points,
                aggregation_temporality: temporality,
            }),
            (MetricKind::Summary, MetricPoints::Summary(data_points)) => {
                Data::Summary(Summary { data_points })
            }
            (kind, _) => unreachable!("points of another type than {kind:?}"),
        }
    }

    /// No points, of this kind's point type.
    pub(crate) fn no_points(self) -> MetricPoints {
        match self {
            MetricKind::Gauge | MetricKind::Sum { .. } => MetricPoints::Number(Vec::new()),
            MetricKind::Histogram { .. } => MetricPoints::Histogram(Vec::new()),
            MetricKind::ExponentialHistogram { .. } => {
                MetricPoints::ExponentialHistogram(Vec::new())
            }
            MetricKind::Summary => MetricPoints::Summary(Vec::new()),
        }
    }
}

impl MetricSeries {
    /// The skeleton `ResourceMetrics` whose protobuf is the canonical encoding: the series'
    /// resource, scope and descriptor, and one data point carrying only the attributes.
    pub(crate) fn skeleton(&self) -> ResourceMetrics {
        self.group_with(match self.kind {
            MetricKind::Gauge | MetricKind::Sum { .. } => {
                MetricPoints::Number(vec![NumberDataPoint {
                    attributes: self.attributes.clone(),
                    ..Default::default()
                }])
            }
            MetricKind::Histogram { .. } => MetricPoints::Histogram(vec![HistogramDataPoint {
                attributes: self.attributes.clone(),
                ..Default::default()
            }]),
            MetricKind::ExponentialHistogram { .. } => {
                MetricPoints::ExponentialHistogram(vec![ExponentialHistogramDataPoint {
                    attributes: self.attributes.clone(),
                    ..Default::default()
                }])
            }
            MetricKind::Summary => MetricPoints::Summary(vec![SummaryDataPoint {
                attributes: self.attributes.clone(),
                ..Default::default()
            }]),
        })
    }

    /// A resource group holding only this series' metric with `points` (as they are).
    pub(crate) fn group_with(&self, points: MetricPoints) -> ResourceMetrics {
        ResourceMetrics {
            resource: Some(self.resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(self.scope.clone()),
                metrics: vec![self.metric_with(points)],
                schema_url: self.scope_schema_url.clone(),
            }],
            schema_url: self.resource_schema_url.clone(),
        }
    }

    /// This series' metric descriptor holding `points`.
    pub(crate) fn metric_with(&self, points: MetricPoints) -> Metric {
        Metric {
            name: self.name.clone(),
            description: self.description.clone(),
            unit: self.unit.clone(),
            metadata: self.metadata.clone(),
            data: Some(self.kind.data(points)),
        }
    }

    /// The canonical encoding: equal bytes, same series.
    pub(crate) fn canonical(&self) -> Vec<u8> {
        self.skeleton().encode_to_vec()
    }

    /// Reads a canonical encoding back.
    pub(crate) fn from_canonical(bytes: &[u8]) -> Result<MetricSeries, BlockError> {
        let bad = |why: &str| BlockError(format!("a series encoding is damaged: {why}"));
        let group = ResourceMetrics::decode(bytes).map_err(|e| bad(&e.to_string()))?;
        let [scope] = <[ScopeMetrics; 1]>::try_from(group.scope_metrics)
            .map_err(|_| bad("not exactly one scope"))?;
        let [metric] =
            <[Metric; 1]>::try_from(scope.metrics).map_err(|_| bad("not exactly one metric"))?;
        let data = metric.data.ok_or_else(|| bad("no data"))?;
        let kind = MetricKind::of(&data);
        let attributes = match data {
            Data::Gauge(Gauge { data_points: p }) | Data::Sum(Sum { data_points: p, .. }) => {
                one(p)?.attributes
            }
            Data::Histogram(h) => one(h.data_points)?.attributes,
            Data::ExponentialHistogram(h) => one(h.data_points)?.attributes,
            Data::Summary(s) => one(s.data_points)?.attributes,
        };
        Ok(MetricSeries {
            resource: group.resource.unwrap_or_default(),
            resource_schema_url: group.schema_url,
            scope: scope.scope.unwrap_or_default(),
            scope_schema_url: scope.schema_url,
            name: metric.name,
            description: metric.description,
            unit: metric.unit,
            metadata: metric.metadata,
            kind,
            attributes,
        })
    }
}

fn one<P>(points: Vec<P>) -> Result<P, BlockError> {
    <[P; 1]>::try_from(points)
        .map(|[p]| p)
        .map_err(|_| BlockError("a series encoding does not hold exactly one point".into()))
}

/// What the store needs of each OTLP data point type.
pub(crate) trait Point: Clone + PartialEq + Message + Default {
    fn time(&self) -> u64;
    fn attributes_mut(&mut self) -> &mut Vec<KeyValue>;
    fn of(points: &mut MetricPoints) -> Option<&mut Vec<Self>>;
}

macro_rules! point {
    ($type:ty, $variant:ident) => {
        impl Point for $type {
            fn time(&self) -> u64 {
                self.time_unix_nano
            }
            fn attributes_mut(&mut self) -> &mut Vec<KeyValue> {
                &mut self.attributes
            }
            fn of(points: &mut MetricPoints) -> Option<&mut Vec<Self>> {
                match points {
                    MetricPoints::$variant(p) => Some(p),
                    _ => None,
                }
            }
        }
    };
}

point!(NumberDataPoint, Number);
point!(HistogramDataPoint, Histogram);
point!(ExponentialHistogramDataPoint, ExponentialHistogram);
point!(SummaryDataPoint, Summary);

impl MetricPoints {
    pub fn len(&self) -> usize {
        match self {
            MetricPoints::Number(p) => p.len(),
            MetricPoints::Histogram(p) => p.len(),
            MetricPoints::ExponentialHistogram(p) => p.len(),
            MetricPoints::Summary(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with each point's time, in order.
    pub(crate) fn for_each_time(&self, mut f: impl FnMut(u64)) {
        match self {
            MetricPoints::Number(p) => p.iter().for_each(|p| f(p.time())),
            MetricPoints::Histogram(p) => p.iter().for_each(|p| f(p.time())),
            MetricPoints::ExponentialHistogram(p) => p.iter().for_each(|p| f(p.time())),
            MetricPoints::Summary(p) => p.iter().for_each(|p| f(p.time())),
        }
    }

    /// Appends `other`'s points.
    ///
    /// # Panics
    /// When `other` holds another type of point (the points of one series are all of its
    /// kind's type).
    pub fn append(&mut self, other: MetricPoints) {
        match (self, other) {
            (MetricPoints::Number(a), MetricPoints::Number(mut b)) => a.append(&mut b),
            (MetricPoints::Histogram(a), MetricPoints::Histogram(mut b)) => a.append(&mut b),
            (MetricPoints::ExponentialHistogram(a), MetricPoints::ExponentialHistogram(mut b)) => {
                a.append(&mut b)
            }
            (MetricPoints::Summary(a), MetricPoints::Summary(mut b)) => a.append(&mut b),
            _ => unreachable!("one series has one point type"),
        }
    }

    /// Keeps the points whose time `keep` accepts.
    pub(crate) fn retain_times(&mut self, keep: impl Fn(u64) -> bool) {
        match self {
            MetricPoints::Number(p) => p.retain(|p| keep(p.time())),
            MetricPoints::Histogram(p) => p.retain(|p| keep(p.time())),
            MetricPoints::ExponentialHistogram(p) => p.retain(|p| keep(p.time())),
            MetricPoints::Summary(p) => p.retain(|p| keep(p.time())),
        }
    }

    /// The points from `at` on, leaving those before it.
    pub(crate) fn split_off(&mut self, at: usize) -> MetricPoints {
        match self {
            MetricPoints::Number(p) => MetricPoints::Number(p.split_off(at)),
            MetricPoints::Histogram(p) => MetricPoints::Histogram(p.split_off(at)),
            MetricPoints::ExponentialHistogram(p) => {
                MetricPoints::ExponentialHistogram(p.split_off(at))
            }
            MetricPoints::Summary(p) => MetricPoints::Summary(p.split_off(at)),
        }
    }

    /// Sorts by time, stably, keeping every point.
    pub(crate) fn sort_by_time(&mut self) {
        match self {
            MetricPoints::Number(p) => p.sort_by_key(Point::time),
            MetricPoints::Histogram(p) => p.sort_by_key(Point::time),
            MetricPoints::ExponentialHistogram(p) => p.sort_by_key(Point::time),
            MetricPoints::Summary(p) => p.sort_by_key(Point::time),
        }
    }

    /// Sorts by time (stably, so points of one time keep their stored order) and drops a point
    /// equal to one before it at the same time: a client's retry, stored twice.
    pub(crate) fn sort_and_dedup(&mut self) {
        fn go<P: Point>(points: &mut Vec<P>) {
            points.sort_by_key(Point::time);
            let mut kept: Vec<P> = Vec::with_capacity(points.len());
            let mut run_start = 0;
            for point in points.drain(..) {
                if kept.last().is_none_or(|last| last.time() != point.time()) {
                    run_start = kept.len();
                }
                if !kept[run_start..].contains(&point) {
                    kept.push(point);
                }
            }
            *points = kept;
        }
        match self {
            MetricPoints::Number(p) => go(p),
            MetricPoints::Histogram(p) => go(p),
            MetricPoints::ExponentialHistogram(p) => go(p),
            MetricPoints::Summary(p) => go(p),
        }
    }
}

/// One series found by a [`SeriesCollector`].
pub(crate) struct Collected {
    pub canonical: Vec<u8>,
    pub series: Arc<MetricSeries>,
    pub points: MetricPoints,
}

/// Gathers points by series, asking `wanted` once per distinct series whether to keep it.
///
/// Taking row groups apart ([`SeriesCollector::add_group`]) must not build a point's canonical
/// encoding: that is a resource, scope and descriptor cloned and encoded per point, most of the
/// compactor's time. Instead the parts of a series' identity are numbered as they are met, each
/// keyed by its own protobuf encoding: a resource with its scope once per scope in a group, a
/// metric descriptor (with its kind) once per metric, and a point's attributes once per point,
/// looked up without allocating (and mostly not even encoded: see `recent`). The canonical
/// encoding is made of these same encodings (and nothing else), each delimited, so two points
/// have equal canonical encodings exactly when their parts' keys are equal; it is built once,
/// when a series is first met.
pub(crate) struct SeriesCollector<'w> {
    by_key: FxHashMap<Vec<u8>, Option<usize>>,
    /// A resource and scope (with their schema URLs), by encoding: its number.
    scopes: FxHashMap<Vec<u8>, u32>,
    /// A scope's number and a metric descriptor with its kind, by encoding: its number.
    descriptors: FxHashMap<Vec<u8>, u32>,
    /// A descriptor's number and a point's attributes, by encoding: the series' position.
    by_attributes: FxHashMap<Vec<u8>, Option<usize>>,
    /// Per descriptor number, the attributes of each point (by its index in its metric) the
    /// last time the descriptor was met, and their series' position: an exporter sends a
    /// metric's points in the same order every time, so a point is mostly found here by
    /// comparing its attributes, without encoding them.
    recent: Vec<Vec<(Vec<KeyValue>, Option<usize>)>>,
    /// The key being looked up, reused.
    key: Vec<u8>,
    pub series: Vec<Collected>,
    wanted: &'w mut dyn FnMut(&MetricSeries) -> bool,
    /// Whether points are kept, or only which series have some.
    keep_points: bool,
}

/// A metric met in a group, with what it shares with the other series of its group.
struct Head<'g> {
    resource: &'g Resource,
    resource_schema_url: &'g str,
    scope: &'g InstrumentationScope,
    scope_schema_url: &'g str,
    metric: &'g Metric,
    kind: MetricKind,
    /// The descriptor's number: what `by_attributes`' keys start with.
    number: u32,
}

impl Head<'_> {
    fn series(&self, attributes: Vec<KeyValue>) -> MetricSeries {
        MetricSeries {
            resource: self.resource.clone(),
            resource_schema_url: self.resource_schema_url.to_owned(),
            scope: self.scope.clone(),
            scope_schema_url: self.scope_schema_url.to_owned(),
            name: self.metric.name.clone(),
            description: self.metric.description.clone(),
            unit: self.metric.unit.clone(),
            metadata: self.metric.metadata.clone(),
            kind: self.kind,
            attributes,
        }
    }
}

/// Whether `attributes` hold only values for which `==` is equality of their encodings:
/// strings, integers, booleans and bytes (a float is compared by value, `-0.0 == 0.0` and
/// `NaN != NaN`, but encoded by its bits).
fn plain(attributes: &[KeyValue]) -> bool {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    attributes.iter().all(|kv| {
        kv.value.as_ref().is_none_or(|v| {
            matches!(
                v.value,
                None | Some(
                    Value::StringValue(_)
                        | Value::BoolValue(_)
                        | Value::IntValue(_)
                        | Value::BytesValue(_)
                )
            )
        })
    })
}

/// The number `key` has in `numbers`, giving it the next one if it has none.
fn number_of(numbers: &mut FxHashMap<Vec<u8>, u32>, key: &[u8]) -> u32 {
    if let Some(number) = numbers.get(key) {
        return *number;
    }
    let number = u32::try_from(numbers.len()).expect("fewer than 2^32 distinct keys");
    numbers.insert(key.to_vec(), number);
    number
}

fn put_bytes(key: &mut Vec<u8>, bytes: &[u8]) {
    prost::encoding::encode_varint(bytes.len() as u64, key);
    key.extend_from_slice(bytes);
}

fn put_message(key: &mut Vec<u8>, message: &impl Message) {
    message
        .encode_length_delimited(key)
        .expect("a Vec grows as needed");
}

/// Appends `kind`, distinctly for each kind and field value.
fn put_kind(key: &mut Vec<u8>, kind: MetricKind) {
    let (tag, monotonic, temporality) = match kind {
        MetricKind::Gauge => (0, false, 0),
        MetricKind::Sum {
            monotonic,
            temporality,
        } => (1, monotonic, temporality),
        MetricKind::Histogram { temporality } => (2, false, temporality),
        MetricKind::ExponentialHistogram { temporality } => (3, false, temporality),
        MetricKind::Summary => (4, false, 0),
    };
    key.push(tag);
    key.push(u8::from(monotonic));
    key.extend_from_slice(&temporality.to_le_bytes());
}

impl<'w> SeriesCollector<'w> {
    pub fn new(
        wanted: &'w mut dyn FnMut(&MetricSeries) -> bool,
        keep_points: bool,
    ) -> SeriesCollector<'w> {
        SeriesCollector {
            by_key: FxHashMap::default(),
            scopes: FxHashMap::default(),
            descriptors: FxHashMap::default(),
            by_attributes: FxHashMap::default(),
            recent: Vec::new(),
            key: Vec::new(),
            series: Vec::new(),
            wanted,
            keep_points,
        }
    }

    /// The series' position if it is wanted, asking `wanted` (with the series `make` builds)
    /// the first time `canonical` is seen.
    pub fn decide(
        &mut self,
        canonical: &[u8],
        make: impl FnOnce() -> Result<MetricSeries, BlockError>,
    ) -> Result<Option<usize>, BlockError> {
        if let Some(decided) = self.by_key.get(canonical) {
            return Ok(*decided);
        }
        let series = make()?;
        let decided = if (self.wanted)(&series) {
            self.series.push(Collected {
                canonical: canonical.to_vec(),
                points: series.kind.no_points(),
                series: Arc::new(series),
            });
            Some(self.series.len() - 1)
        } else {
            None
        };
        self.by_key.insert(canonical.to_vec(), decided);
        Ok(decided)
    }

    /// Whether the series `canonical` was seen and refused: its points need not be decoded.
    pub fn refused(&self, canonical: &[u8]) -> bool {
        matches!(self.by_key.get(canonical), Some(None))
    }

    /// Adds points of the series at `position`.
    pub fn add_points(&mut self, position: usize, points: MetricPoints) {
        if self.keep_points {
            self.series[position].points.append(points);
        }
    }

    /// Takes `group` apart by series, adding the points whose time `keep` accepts.
    pub fn add_group(&mut self, group: ResourceMetrics, keep: &dyn Fn(u64) -> bool) {
        let resource = group.resource.unwrap_or_default();
        for scope in group.scope_metrics {
            let scope_of = scope.scope.unwrap_or_default();
            self.key.clear();
            put_message(&mut self.key, &resource);
            put_bytes(&mut self.key, group.schema_url.as_bytes());
            put_message(&mut self.key, &scope_of);
            put_bytes(&mut self.key, scope.schema_url.as_bytes());
            let scope_number = number_of(&mut self.scopes, &self.key);
            for mut metric in scope.metrics {
                let Some(data) = metric.data.take() else {
                    continue;
                };
                let kind = MetricKind::of(&data);
                self.key.clear();
                self.key.extend_from_slice(&scope_number.to_le_bytes());
                put_bytes(&mut self.key, metric.name.as_bytes());
                put_bytes(&mut self.key, metric.description.as_bytes());
                put_bytes(&mut self.key, metric.unit.as_bytes());
                prost::encoding::encode_varint(metric.metadata.len() as u64, &mut self.key);
                for kv in &metric.metadata {
                    put_message(&mut self.key, kv);
                }
                put_kind(&mut self.key, kind);
                let head = Head {
                    resource: &resource,
                    resource_schema_url: &group.schema_url,
                    scope: &scope_of,
                    scope_schema_url: &scope.schema_url,
                    metric: &metric,
                    kind,
                    number: number_of(&mut self.descriptors, &self.key),
                };
                match data {
                    Data::Gauge(Gauge { data_points: p })
                    | Data::Sum(Sum { data_points: p, .. }) => self.add_metric(&head, p, keep),
                    Data::Histogram(h) => self.add_metric(&head, h.data_points, keep),
                    Data::ExponentialHistogram(h) => self.add_metric(&head, h.data_points, keep),
                    Data::Summary(s) => self.add_metric(&head, s.data_points, keep),
                }
            }
        }
    }

    fn add_metric<P: Point>(
        &mut self,
        head: &Head<'_>,
        points: Vec<P>,
        keep: &dyn Fn(u64) -> bool,
    ) {
        let number = head.number as usize;
        if self.recent.len() <= number {
            self.recent.resize_with(number + 1, Vec::new);
        }
        for (index, mut point) in points.into_iter().enumerate() {
            if !keep(point.time()) {
                continue;
            }
            let attributes = std::mem::take(point.attributes_mut());
            let position = match self.recent[number].get(index) {
                Some((seen, position)) if *seen == attributes && plain(&attributes) => *position,
                _ => {
                    let position = self.position_of(head, &attributes);
                    let recent = &mut self.recent[number];
                    if index < recent.len() {
                        recent[index] = (attributes, position);
                    } else if index == recent.len() {
                        recent.push((attributes, position));
                    }
                    position
                }
            };
            if let Some(position) = position
                && self.keep_points
            {
                let points = P::of(&mut self.series[position].points)
                    .expect("one series has one point type");
                points.push(point);
            }
        }
    }

    /// The position of the series of the metric `head` with `attributes`, deciding it the
    /// first time.
    fn position_of(&mut self, head: &Head<'_>, attributes: &[KeyValue]) -> Option<usize> {
        self.key.clear();
        self.key.extend_from_slice(&head.number.to_le_bytes());
        for kv in attributes {
            put_message(&mut self.key, kv);
        }
        if let Some(position) = self.by_attributes.get(self.key.as_slice()) {
            return *position;
        }
        let series = head.series(attributes.to_vec());
        let canonical = series.canonical();
        let position = self
            .decide(&canonical, || Ok(series))
            .expect("building a series cannot fail");
        self.by_attributes.insert(self.key.clone(), position);
        position
    }

    /// The series found, each with its points sorted (and, if `dedup`, retries dropped),
    /// ordered by name and then canonical encoding.
    pub fn finish(self, dedup: bool) -> Vec<Collected> {
        let mut series = self.series;
        for s in &mut series {
            if dedup {
                s.points.sort_and_dedup();
            } else {
                s.points.sort_by_time();
            }
        }
        series.sort_by(|a, b| {
            (a.series.name.as_str(), &a.canonical).cmp(&(b.series.name.as_str(), &b.canonical))
        });
        series
    }
}
