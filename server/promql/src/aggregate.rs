//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...) with `by`/`without`,
//! computed the way Prometheus computes them (Kahan sums, incremental means on overflow,
//! Welford variance) so results agree to the last bit where Prometheus' tests demand it.

use std::rc::Rc;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use rustc_hash::FxHashMap as HashMap;

use crate::eval::Evaluator;
use crate::quantile::{kahan_inc, quantile};
use crate::value::{self, Element, METRIC_NAME, SharedLabels, Val};
use crate::{Error, Labels};

pub(crate) fn eval(ev: &Evaluator, a: &AggregateExpr, t: i64) -> Result<Val, Error> {
    if let Some(v) = crate::fused::eval(ev, a, t)? {
        return Ok(v);
    }
    let (without, grouping): (bool, Vec<String>) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };
    let op = a.op.id();
    if op == T_COUNT_VALUES {
        let label = match a.param.as_deref() {
            Some(Expr::StringLiteral(s)) => s.val.clone(),
            Some(other) => match ev.eval(other, t)? {
                Val::String(s) => s,
                _ => {
                    return Err(Error::Execution(
                        "count_values needs a string parameter".into(),
                    ));
                }
            },
            None => return Err(Error::Execution("count_values needs a label name".into())),
        };
        if !value::valid_label_name(&label) {
            return Err(Error::Execution(format!("invalid label name {label:?}")));
        }
        let input = ev.eval_vector(&a.expr, t)?;
        return Ok(Val::Vector(count_values(input, &label, without, &grouping)));
    }
    let param = match (&a.param, op) {
        (Some(p), T_TOPK | T_BOTTOMK | T_QUANTILE | T_LIMITK | T_LIMIT_RATIO) => {
            Some(ev.eval_scalar(p, t)?)
        }
        _ => None,
    };
    let input = ev.eval_vector(&a.expr, t)?;
    match op {
        T_TOPK | T_BOTTOMK | T_LIMITK => {
            let k = param.unwrap_or(f64::NAN);
            if k.is_nan() {
                return Err(Error::Execution("Parameter value is NaN".into()));
            }
            Ok(Val::Vector(top_k(op, input, k, without, &grouping)))
        }
        T_LIMIT_RATIO => {
            let r = param.unwrap_or(f64::NAN);
            if r == 0.0 {
                return Ok(Val::Vector(Vec::new()));
            }
            if r.is_nan() {
                return Err(Error::Execution("Ratio value is NaN".into()));
            }
            Ok(Val::Vector(limit_ratio(
                input,
                r.clamp(-1.0, 1.0),
                without,
                &grouping,
            )))
        }
        _ => Ok(Val::Vector(aggregate(
            ev,
            a as *const AggregateExpr as usize,
            op,
            input,
            param.unwrap_or(f64::NAN),
            without,
            &grouping,
        ))),
    }
}

/// The labels an element is grouped under: the `by` labels, or every label but the `without`
/// labels and the name.
pub(crate) fn group_labels(labels: &Labels, without: bool, grouping: &[String]) -> Labels {
    if without {
        labels
            .iter()
            .filter(|(n, _)| n != METRIC_NAME && !grouping.iter().any(|g| g == n))
            .cloned()
            .collect()
    } else {
        labels
            .iter()
            .filter(|(n, _)| grouping.iter().any(|g| g == n))
            .cloned()
            .collect()
    }
}

/// What an aggregation keeps of one group while adding its elements (`topk` and
/// `count_values` aside), shared by the step-by-step evaluation and the fused one
/// (`fused.rs`) so both compute alike.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Acc {
    value: f64,
    mean: f64,
    kahan_c: f64,
    incremental_mean: bool,
    count: f64,
    pub drop_name: bool,
}

impl Acc {
    /// A group's state after its first element.
    pub(crate) fn first(op: u16, f: f64, drop_name: bool) -> Acc {
        let value = match op {
            T_STDDEV | T_STDVAR if f.is_nan() || f.is_infinite() => f64::NAN,
            T_STDDEV | T_STDVAR => 0.0,
            T_GROUP => 1.0,
            _ => f,
        };
        Acc {
            value,
            mean: f,
            kahan_c: 0.0,
            incremental_mean: false,
            count: 1.0,
            drop_name,
        }
    }

    /// Adds a further element (`quantile`'s values are kept by the caller).
    pub(crate) fn add(&mut self, op: u16, f: f64, drop_name: bool) {
        self.drop_name |= drop_name;
        match op {
            T_SUM => (self.value, self.kahan_c) = kahan_inc(f, self.value, self.kahan_c),
            T_AVG => {
                self.count += 1.0;
                if !self.incremental_mean {
                    let (v, c) = kahan_inc(f, self.value, self.kahan_c);
                    if !v.is_infinite() {
                        (self.value, self.kahan_c) = (v, c);
                        return;
                    }
                    self.incremental_mean = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.kahan_c /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                (self.mean, self.kahan_c) =
                    kahan_inc(f / self.count, q * self.mean, q * self.kahan_c);
            }
            T_MAX if self.value < f || self.value.is_nan() => self.value = f,
            T_MIN if self.value > f || self.value.is_nan() => self.value = f,
            T_COUNT => self.count += 1.0,
            T_STDDEV | T_STDVAR => {
                self.count += 1.0;
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            _ => {}
        }
    }

    /// The group's result (for every operator but `quantile`).
    pub(crate) fn result(&self, op: u16) -> f64 {
        match op {
            T_SUM if self.value.is_infinite() => self.value,
            T_SUM => self.value + self.kahan_c,
            T_AVG if self.incremental_mean => self.mean + self.kahan_c,
            T_AVG => self.value / self.count + self.kahan_c / self.count,
            T_COUNT => self.count,
            T_STDVAR => self.value / self.count,
            T_STDDEV => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

struct Group {
    labels: SharedLabels,
    acc: Acc,
    /// `quantile`'s values.
    values: Vec<f64>,
}

fn aggregate(
    ev: &Evaluator,
    node: usize,
    op: u16,
    input: Vec<Element>,
    q: f64,
    without: bool,
    grouping: &[String],
) -> Vec<Element> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<SharedLabels, usize> = HashMap::default();
    for e in input {
        let key = ev.derived_labels(node, &e.labels, |l| group_labels(l, without, grouping));
        let f = e.v;
        let Some(&gi) = index.get(&key) else {
            index.insert(key.clone(), groups.len());
            groups.push(Group {
                labels: key,
                acc: Acc::first(op, f, e.drop_name),
                values: if op == T_QUANTILE {
                    vec![f]
                } else {
                    Vec::new()
                },
            });
            continue;
        };
        let g = &mut groups[gi];
        g.acc.add(op, f, e.drop_name);
        if op == T_QUANTILE {
            g.values.push(f);
        }
    }
    groups
        .into_iter()
        .map(|mut g| Element {
            v: match op {
                T_QUANTILE => quantile(q, &mut g.values),
                _ => g.acc.result(op),
            },
            labels: g.labels,
            drop_name: g.acc.drop_name,
        })
        .collect()
}

/// `topk`, `bottomk` and `limitk`: the elements themselves (labels unchanged) per group.
fn top_k(op: u16, input: Vec<Element>, k: f64, without: bool, grouping: &[String]) -> Vec<Element> {
    let n = input.len() as i64;
    // Go's int64(float) truncates toward zero; a huge k saturates like Prometheus' min().
    let k = if k >= i64::MAX as f64 {
        n
    } else {
        (k as i64).min(n)
    };
    if k < 1 {
        return Vec::new();
    }
    let k = k as usize;
    let mut groups: Vec<Vec<Element>> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    for e in input {
        let key = group_labels(&e.labels, without, grouping);
        let gi = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        let heap = &mut groups[gi];
        match op {
            T_LIMITK => {
                if heap.len() < k {
                    heap.push(e);
                }
            }
            T_TOPK => heap_offer(heap, e, k, less),
            _ => heap_offer(heap, e, k, greater),
        }
    }
    let mut out = Vec::new();
    for mut heap in groups {
        match op {
            T_TOPK => sort_desc_by(&mut heap, less),
            T_BOTTOMK => sort_desc_by(&mut heap, greater),
            _ => {}
        }
        out.extend(heap);
    }
    out
}

/// Prometheus' heap order for topk: NaN sorts first (is evicted first).
fn less(a: f64, b: f64) -> bool {
    a.is_nan() || a < b
}

fn greater(a: f64, b: f64) -> bool {
    a.is_nan() || a > b
}

/// Go's container/heap with `less`: offers `e` to a bounded heap whose root is the element
/// to evict first.
fn heap_offer(heap: &mut Vec<Element>, e: Element, k: usize, less: impl Fn(f64, f64) -> bool) {
    if heap.len() < k {
        heap.push(e);
        let mut j = heap.len() - 1;
        while j > 0 {
            let i = (j - 1) / 2;
            if i == j || !less(heap[j].v, heap[i].v) {
                break;
            }
            heap.swap(i, j);
            j = i;
        }
        return;
    }
    let root = heap[0].v;
    if !e.v.is_nan() && less(root, e.v) {
        heap[0] = e;
        let n = heap.len();
        let mut i = 0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(heap[j1 + 1].v, heap[j1].v) {
                j = j1 + 1;
            }
            if !less(heap[j].v, heap[i].v) {
                break;
            }
            heap.swap(i, j);
            i = j;
        }
    }
}

/// Sorts so that the element `less` ranks highest comes first (Go's sort.Reverse(heap)).
fn sort_desc_by(heap: &mut [Element], less: impl Fn(f64, f64) -> bool) {
    heap.sort_by(|a, b| {
        if less(b.v, a.v) {
            std::cmp::Ordering::Less
        } else if less(a.v, b.v) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
}

/// `limit_ratio`: the elements whose label hash, as a fraction of the hash space, falls
/// below `r` (or, for a negative `r`, at or above `1 + r`), so that `limit_ratio(r, x)` and
/// `limit_ratio(-(1 - r), x)` split `x` in two.
fn limit_ratio(input: Vec<Element>, r: f64, without: bool, grouping: &[String]) -> Vec<Element> {
    let mut groups: Vec<Vec<Element>> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    for e in input {
        let key = group_labels(&e.labels, without, grouping);
        let gi = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        let offset = crate::hash::labels_hash(&e.labels) as f64 / u64::MAX as f64;
        if (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r) {
            groups[gi].push(e);
        }
    }
    groups.into_iter().flatten().collect()
}

fn count_values(
    input: Vec<Element>,
    label: &str,
    without: bool,
    grouping: &[String],
) -> Vec<Element> {
    let mut grouping: Vec<String> = grouping.to_vec();
    if !without {
        grouping.push(label.to_string());
    }
    let mut groups: Vec<Element> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    for e in input {
        let mut labels = Rc::unwrap_or_clone(e.labels);
        value::set(&mut labels, label, &format_value(e.v));
        let key = group_labels(&labels, without, &grouping);
        match index.get(&key) {
            Some(&i) => groups[i].v += 1.0,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Element {
                    labels: key.into(),
                    v: 1.0,
                    drop_name: false,
                });
            }
        }
    }
    groups
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that read back as `v`,
/// never in exponent form.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display for f64 is already the shortest round-trip form without an exponent.
    format!("{v}")
}
