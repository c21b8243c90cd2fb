//! The values an expression evaluates to at one instant, as the evaluator passes them around.
//!
//! Unlike the public [`crate::Value`], every series here carries `drop_name`: Prometheus removes
//! `__name__` from the results of most functions and operators only at the very end of the
//! evaluation ("delayed name removal"), so that `label_replace` and `by (__name__)` still see it.

use std::rc::Rc;

use crate::{Labels, Sample};

/// A label set shared between the selected series and the elements built from it at every
/// step (evaluation clones labels constantly; this makes the clone a counter increment).
pub(crate) type SharedLabels = Rc<Labels>;

/// One element of an instant vector.
#[derive(Clone, Debug)]
pub(crate) struct Element {
    pub labels: SharedLabels,
    pub v: f64,
    pub drop_name: bool,
}

/// One series of a range vector.
#[derive(Clone, Debug)]
pub(crate) struct RangeSeries {
    pub labels: SharedLabels,
    pub samples: Vec<Sample>,
    pub drop_name: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Val {
    Scalar(f64),
    String(String),
    Vector(Vec<Element>),
    Matrix(Vec<RangeSeries>),
}

pub(crate) const METRIC_NAME: &str = "__name__";

pub(crate) fn get<'a>(labels: &'a Labels, name: &str) -> &'a str {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) => &labels[i].1,
        Err(_) => "",
    }
}

/// Sets `name` to `value`, or removes it when `value` is empty (Prometheus' empty label is an
/// absent label).
pub(crate) fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

/// Whether a label is one of Prometheus' metadata labels (`__name__`, `__type__`,
/// `__unit__`), which go together when a value stops being the metric its name says.
pub(crate) fn is_metadata_label(name: &str) -> bool {
    matches!(name, "__name__" | "__type__" | "__unit__")
}

/// The labels less the metadata labels (the name, and the type and unit if present).
pub(crate) fn without_name(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| !is_metadata_label(n))
        .cloned()
        .collect()
}

/// Whether `name` can name a label: Prometheus (in its UTF-8 mode) takes any non-empty valid
/// UTF-8 string, and a Rust string is always valid UTF-8.
pub(crate) fn valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

pub(crate) fn remove(labels: &mut Labels, name: &str) {
    labels.retain(|(n, _)| n != name);
}

/// Prometheus' text form of a label set: `{a="b", c="d"}`.
pub(crate) fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The key two series match on: the values of `names` (`on`) or of every label but `names`
/// and `__name__` (`ignoring`, and no modifier at all).
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> Labels {
    if on {
        labels
            .iter()
            .filter(|(n, _)| names.iter().any(|m| m == n))
            .cloned()
            .collect()
    } else {
        labels
            .iter()
            .filter(|(n, _)| n != METRIC_NAME && !names.iter().any(|m| m == n))
            .cloned()
            .collect()
    }
}
