//! Binary operators: arithmetic, comparison (with or without `bool`), `atan2` and the set
//! operators, between scalars and vectors, with Prometheus' vector matching
//! (`on`/`ignoring`, `group_left`/`group_right`, `fill`) and its errors for ambiguous matches.

use std::rc::Rc;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenType,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::eval::Evaluator;
use crate::value::{self, Element, SharedLabels, Val};
use crate::{Error, Labels};

pub(crate) fn eval(ev: &Evaluator, b: &BinaryExpr, t: i64) -> Result<Val, Error> {
    let op = b.op;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = apply(op, l, r);
            if op.is_comparison_operator() {
                Ok(Val::Scalar(if keep { 1.0 } else { 0.0 }))
            } else {
                Ok(Val::Scalar(v))
            }
        }
        (Val::Vector(l), Val::Scalar(r)) => {
            Ok(Val::Vector(vector_scalar(op, l, r, false, return_bool)))
        }
        (Val::Scalar(l), Val::Vector(r)) => {
            Ok(Val::Vector(vector_scalar(op, r, l, true, return_bool)))
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let matching =
                Matching::of(b.modifier.as_ref()).cached(ev, b as *const BinaryExpr as usize);
            let out = match op.id() {
                T_LAND => and(l, r, &matching),
                T_LOR => or(l, r, &matching),
                T_LUNLESS => unless(l, r, &matching),
                _ => vector_vector(op, l, r, &matching, return_bool, b.modifier.as_ref())?,
            };
            Ok(Val::Vector(out))
        }
        _ => Err(Error::Execution(format!(
            "binary operator {} is not defined between these operand types",
            op
        ))),
    }
}

/// The operation's value and, for comparisons, whether the comparison holds.
pub(crate) fn apply(op: TokenType, l: f64, r: f64) -> (f64, bool) {
    match op.id() {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (go_mod(l, r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// Go's `math.Mod`: the result has the sign of `l`, like Rust's `%` on floats.
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

/// Whether the operator computes a new value (and so the result is no longer the metric the
/// name says).
pub(crate) fn changes_metric_schema(op: TokenType) -> bool {
    matches!(
        op.id(),
        T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2
    )
}

fn vector_scalar(
    op: TokenType,
    vector: Vec<Element>,
    scalar: f64,
    swap: bool,
    return_bool: bool,
) -> Vec<Element> {
    let mut out = Vec::with_capacity(vector.len());
    for mut e in vector {
        let (l, r) = if swap { (scalar, e.v) } else { (e.v, scalar) };
        let (mut v, mut keep) = apply(op, l, r);
        if op.is_comparison_operator() && swap {
            v = r;
        }
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            e.v = v;
            if changes_metric_schema(op) || return_bool {
                e.drop_name = true;
            }
            out.push(e);
        }
    }
    out
}

/// How two vectors' elements pair up.
pub(crate) struct Matching<'e> {
    on: bool,
    names: Vec<String>,
    card: Cardinality,
    include: Vec<String>,
    /// The evaluator and this operation's node, to compute the signatures of loaded series
    /// once rather than at every step.
    cache: Option<(&'e Evaluator<'e>, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
}

impl<'e> Matching<'e> {
    fn of(modifier: Option<&BinModifier>) -> Matching<'e> {
        let (on, names) = match modifier.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        let (card, include) = match modifier.map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(l)) => {
                (Cardinality::ManyToOne, l.labels.clone())
            }
            Some(VectorMatchCardinality::OneToMany(l)) => {
                (Cardinality::OneToMany, l.labels.clone())
            }
            _ => (Cardinality::OneToOne, Vec::new()),
        };
        Matching {
            on,
            names,
            card,
            include,
            cache: None,
        }
    }

    fn cached(self, ev: &'e Evaluator<'e>, node: usize) -> Matching<'e> {
        Matching {
            cache: Some((ev, node)),
            ..self
        }
    }

    fn signature(&self, labels: &SharedLabels) -> SharedLabels {
        let derive = |l: &Labels| value::signature(l, self.on, &self.names);
        match self.cache {
            Some((ev, node)) => ev.derived_labels(node, labels, derive),
            None => Rc::new(derive(labels)),
        }
    }
}

fn and(l: Vec<Element>, r: Vec<Element>, m: &Matching) -> Vec<Element> {
    if l.is_empty() || r.is_empty() {
        return Vec::new();
    }
    let right: HashSet<SharedLabels> = r.iter().map(|e| m.signature(&e.labels)).collect();
    l.into_iter()
        .filter(|e| right.contains(&m.signature(&e.labels)))
        .collect()
}

fn or(l: Vec<Element>, r: Vec<Element>, m: &Matching) -> Vec<Element> {
    if l.is_empty() {
        return r;
    }
    if r.is_empty() {
        return l;
    }
    let left: HashSet<SharedLabels> = l.iter().map(|e| m.signature(&e.labels)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|e| !left.contains(&m.signature(&e.labels))),
    );
    out
}

fn unless(l: Vec<Element>, r: Vec<Element>, m: &Matching) -> Vec<Element> {
    if l.is_empty() || r.is_empty() {
        return l;
    }
    let right: HashSet<SharedLabels> = r.iter().map(|e| m.signature(&e.labels)).collect();
    l.into_iter()
        .filter(|e| !right.contains(&m.signature(&e.labels)))
        .collect()
}

fn vector_vector(
    op: TokenType,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    m: &Matching,
    return_bool: bool,
    modifier: Option<&BinModifier>,
) -> Result<Vec<Element>, Error> {
    let fill = modifier.map(|m| m.fill_values.clone()).unwrap_or_default();
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty()) && fill.lhs.is_none() && fill.rhs.is_none())
    {
        return Ok(Vec::new());
    }
    // The "one" side is indexed; with group_right it is the left operand.
    let (many, one) = if m.card == Cardinality::OneToMany {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    // As in Prometheus, the fills are not swapped with the sides: fill_right fills the
    // indexed side, fill_left the other.
    let (fill_many, fill_one) = (fill.lhs, fill.rhs);
    let mut one_by_sig: HashMap<SharedLabels, usize> = HashMap::default();
    for (i, e) in one.iter().enumerate() {
        let sig = m.signature(&e.labels);
        if let Some(&j) = one_by_sig.get(&sig) {
            let side = if m.card == Cardinality::OneToMany {
                "left"
            } else {
                "right"
            };
            let mut pair = [
                value::format_labels(&e.labels),
                value::format_labels(&one[j].labels),
            ];
            pair.sort();
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                value::format_labels(&sig),
                pair[0],
                pair[1]
            )));
        }
        one_by_sig.insert(sig, i);
    }

    let mut state = Matches {
        one_to_one: HashSet::default(),
        grouped: HashMap::default(),
        out: Vec::new(),
    };
    for e in &many {
        let sig = m.signature(&e.labels);
        match one_by_sig.get(&sig) {
            Some(&j) => state.bin_op(op, m, return_bool, e, &one[j], sig)?,
            None => {
                if let Some(f) = fill_one {
                    let filler = Element {
                        labels: sig.clone(),
                        v: f,
                        drop_name: false,
                    };
                    state.bin_op(op, m, return_bool, e, &filler, sig)?;
                }
            }
        }
    }
    if let Some(f) = fill_many {
        for e in &one {
            let sig = m.signature(&e.labels);
            let matched = if m.card == Cardinality::OneToOne {
                state.one_to_one.contains(&sig)
            } else {
                state.grouped.get(&sig).is_some_and(|s| !s.is_empty())
            };
            if matched {
                continue;
            }
            let filler = Element {
                labels: sig.clone(),
                v: f,
                drop_name: false,
            };
            state.bin_op(op, m, return_bool, &filler, e, sig)?;
        }
    }
    Ok(state.out)
}

/// What a vector-vector operation has matched so far, and its output.
struct Matches {
    one_to_one: HashSet<SharedLabels>,
    grouped: HashMap<SharedLabels, HashSet<Labels>>,
    out: Vec<Element>,
}

impl Matches {
    /// Applies the operation to one pair; errors when a match group matches twice.
    fn bin_op(
        &mut self,
        op: TokenType,
        m: &Matching,
        return_bool: bool,
        many_e: &Element,
        one_e: &Element,
        sig: SharedLabels,
    ) -> Result<(), Error> {
        let (l, r) = if m.card == Cardinality::OneToMany {
            (one_e.v, many_e.v)
        } else {
            (many_e.v, one_e.v)
        };
        let (mut v, keep) = apply(op, l, r);
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        }
        let labels = result_labels(&many_e.labels, &one_e.labels, op, m);
        if m.card == Cardinality::OneToOne {
            if !self.one_to_one.insert(sig) {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
        } else if !self.grouped.entry(sig).or_default().insert(labels.clone()) {
            return Err(Error::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        if keep || return_bool {
            self.out.push(Element {
                labels: labels.into(),
                v,
                drop_name: return_bool,
            });
        }
        Ok(())
    }
}

/// The labels of an operation's result: the "many" side's, less the name when the value is
/// new, restricted to the matching labels for one-to-one matching, plus the `group_x` labels
/// copied from the "one" side.
fn result_labels(many: &Labels, one: &Labels, op: TokenType, m: &Matching) -> Labels {
    let mut labels = many.clone();
    if changes_metric_schema(op) {
        labels.retain(|(n, _)| !value::is_metadata_label(n));
    }
    if m.card == Cardinality::OneToOne {
        if m.on {
            labels.retain(|(n, _)| m.names.iter().any(|k| k == n));
        } else {
            labels.retain(|(n, _)| !m.names.iter().any(|k| k == n));
        }
    }
    for name in &m.include {
        let v = value::get(one, name).to_string();
        value::set(&mut labels, name, &v);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(labels: &[(&str, &str)], v: f64) -> Element {
        let mut l: Labels = labels
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        l.sort();
        Element {
            labels: l.into(),
            v,
            drop_name: false,
        }
    }

    fn op(id: u16) -> TokenType {
        TokenType::new(id)
    }

    #[test]
    fn one_to_one_matches_ignoring_the_name_and_drops_it() {
        let l = vec![el(&[("__name__", "a"), ("x", "1")], 10.0)];
        let r = vec![el(&[("__name__", "b"), ("x", "1")], 4.0)];
        let m = Matching::of(None);
        let out = vector_vector(op(T_SUB), l, r, &m, false, None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(*out[0].labels, vec![("x".to_string(), "1".to_string())]);
        assert_eq!(out[0].v, 6.0);
    }

    #[test]
    fn many_to_one_without_group_left_is_an_error() {
        let l = vec![
            el(&[("x", "1"), ("y", "a")], 1.0),
            el(&[("x", "1"), ("y", "b")], 2.0),
        ];
        let r = vec![el(&[("x", "1")], 4.0)];
        let modifier =
            BinModifier::default().with_matching(Some(LabelModifier::include(vec!["x"])));
        let m = Matching::of(Some(&modifier));
        let err =
            vector_vector(op(T_MUL), l.clone(), r.clone(), &m, false, Some(&modifier)).unwrap_err();
        assert!(
            err.to_string()
                .contains("many-to-one matching must be explicit")
        );

        let modifier = modifier.with_card(VectorMatchCardinality::many_to_one(vec![]));
        let m = Matching::of(Some(&modifier));
        let out = vector_vector(op(T_MUL), l, r, &m, false, Some(&modifier)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].v, 8.0);
        assert_eq!(value::get(&out[1].labels, "y"), "b");
    }

    #[test]
    fn duplicate_series_on_the_one_side_is_an_error() {
        let l = vec![el(&[("x", "1")], 1.0)];
        let r = vec![
            el(&[("x", "1"), ("y", "a")], 1.0),
            el(&[("x", "1"), ("y", "b")], 2.0),
        ];
        let modifier =
            BinModifier::default().with_matching(Some(LabelModifier::include(vec!["x"])));
        let m = Matching::of(Some(&modifier));
        let err = vector_vector(op(T_ADD), l, r, &m, false, Some(&modifier)).unwrap_err();
        assert!(err.to_string().contains(
            "found duplicate series for the match group {x=\"1\"} on the right hand-side"
        ));
    }

    #[test]
    fn comparison_keeps_the_name_and_bool_marks_it_for_dropping() {
        let l = vec![
            el(&[("__name__", "a"), ("x", "1")], 1.0),
            el(&[("__name__", "a"), ("x", "2")], 5.0),
        ];
        let r = vec![
            el(&[("__name__", "b"), ("x", "1")], 3.0),
            el(&[("__name__", "b"), ("x", "2")], 3.0),
        ];
        let m = Matching::of(None);
        let out = vector_vector(op(T_GTR), l.clone(), r.clone(), &m, false, None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(value::get(&out[0].labels, "__name__"), "a");
        let out = vector_vector(op(T_GTR), l, r, &m, true, None).unwrap();
        assert_eq!(out.iter().map(|e| e.v).collect::<Vec<_>>(), vec![0.0, 1.0]);
        assert!(out.iter().all(|e| e.drop_name));
    }
}
