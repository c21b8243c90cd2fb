//! `/api/v1/query_exemplars`: the exemplars OTLP points carry, on the Prometheus series they
//! belong to, as Prometheus' OTLP receiver files them: a sum's or gauge's on its one series,
//! a histogram's on the `_bucket` whose bound is the first at or above the exemplar's value.
//! Their labels are `trace_id` and `span_id` (hex) and the exemplar's filtered attributes.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::metrics::v1::{Exemplar as OtlpExemplar, exemplar};
use otelite_api::prometheus::{Exemplar, ExemplarSeries};
use otelite_promql::Labels;
use otelite_promql::promql_parser::label::Matcher;
use otelite_promql::promql_parser::parser::Expr;
use otelite_storage::{MetricPoints, Store};

use super::source::{self, could_match, matches_all};
use super::translate::{self, Family, PromType};
use crate::query::traces::params::hex;

/// Every selector in a query, each as its matcher lists.
pub(super) fn selectors(expr: &Expr) -> Vec<Vec<Matcher>> {
    let mut found = Vec::new();
    collect(expr, &mut found);
    found
}

fn collect(expr: &Expr, found: &mut Vec<Vec<Matcher>>) {
    match expr {
        Expr::VectorSelector(vs) => found.extend(source::selector_matchers(vs)),
        Expr::MatrixSelector(ms) => found.extend(source::selector_matchers(&ms.vs)),
        Expr::Aggregate(a) => {
            collect(&a.expr, found);
            if let Some(param) = &a.param {
                collect(param, found);
            }
        }
        Expr::Unary(u) => collect(&u.expr, found),
        Expr::Binary(b) => {
            collect(&b.lhs, found);
            collect(&b.rhs, found);
        }
        Expr::Paren(p) => collect(&p.expr, found),
        Expr::Subquery(s) => collect(&s.expr, found),
        Expr::Call(call) => call.args.args.iter().for_each(|arg| collect(arg, found)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn exemplar_value(e: &OtlpExemplar) -> f64 {
    match e.value {
        Some(exemplar::Value::AsDouble(v)) => v,
        Some(exemplar::Value::AsInt(v)) => v as f64,
        None => 0.0,
    }
}

/// The labels of an exemplar: its trace and span ids and its filtered attributes.
fn exemplar_labels(e: &OtlpExemplar) -> Labels {
    let mut labels = Labels::new();
    for kv in &e.filtered_attributes {
        if let Some(name) = translate::label_name(&kv.key) {
            let value = translate::value_text(kv.value.as_ref());
            if !value.is_empty() {
                translate::set_label(&mut labels, &name, value);
            }
        }
    }
    if !e.trace_id.is_empty() {
        translate::set_label(&mut labels, "trace_id", hex(&e.trace_id));
    }
    if !e.span_id.is_empty() {
        translate::set_label(&mut labels, "span_id", hex(&e.span_id));
    }
    labels
}

/// The series labels an exemplar of `family` with `value` belongs to (`bounds`: the
/// histogram point's explicit bounds).
fn owner(family: &Family, value: f64, bounds: &[f64]) -> Labels {
    let mut labels = family.labels.clone();
    match family.kind {
        PromType::Histogram => {
            let le = bounds
                .iter()
                .find(|&&b| value <= b)
                .map_or("+Inf".to_string(), |&b| translate::format_float(b));
            translate::set_label(&mut labels, "__name__", format!("{}_bucket", family.name));
            translate::set_label(&mut labels, "le", le);
        }
        _ => translate::set_label(&mut labels, "__name__", family.name.clone()),
    }
    labels
}

/// The exemplars of every series any of `selectors` selects, between `start` and `end` (ms).
pub(super) fn find(
    store: &Store,
    selectors: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<Vec<ExemplarSeries>, String> {
    let range = source::time_range(start, end);
    let selected = store
        .select_metrics(range, &mut |series| {
            let family = Family::of(series);
            selectors.iter().any(|m| could_match(&family, m))
        })
        .map_err(|e| e.to_string())?;
    let mut by_series: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
    let mut file = |family: &Family, e: &OtlpExemplar, bounds: &[f64]| {
        let t = (e.time_unix_nano / 1_000_000) as i64;
        if !(start..=end).contains(&t) {
            return;
        }
        let value = exemplar_value(e);
        let labels = owner(family, value, bounds);
        if selectors.iter().any(|m| matches_all(&labels, m)) {
            by_series.entry(labels).or_default().push(Exemplar {
                labels: exemplar_labels(e).into_iter().collect(),
                value,
                timestamp: t,
            });
        }
    };
    for points in &selected {
        let family = Family::of(&points.series);
        match &points.points {
            MetricPoints::Number(p) => p
                .iter()
                .flat_map(|p| &p.exemplars)
                .for_each(|e| file(&family, e, &[])),
            MetricPoints::Histogram(p) => p.iter().for_each(|p| {
                p.exemplars
                    .iter()
                    .for_each(|e| file(&family, e, &p.explicit_bounds))
            }),
            MetricPoints::ExponentialHistogram(p) => p.iter().for_each(|p| {
                let (bounds, _) = translate::exponential_buckets(p);
                p.exemplars.iter().for_each(|e| file(&family, e, &bounds))
            }),
            MetricPoints::Summary(_) => {}
        }
    }
    Ok(by_series
        .into_iter()
        .map(|(labels, mut exemplars)| {
            exemplars.sort_by_key(|e| e.timestamp);
            ExemplarSeries {
                series_labels: labels.into_iter().collect(),
                exemplars,
            }
        })
        .collect())
}
