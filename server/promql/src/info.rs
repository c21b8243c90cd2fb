//! `info(v, {data label selector})`: Prometheus' join of series with the info metrics
//! (`target_info` by default) that share their identifying labels (`instance`, `job`), adding
//! the info series' data labels.
//!
//! The info series are loaded once per `info()` call like a selector's, selected by the info
//! name and data label matchers only; the identifying labels are matched per step.

use std::rc::Rc;
use std::sync::LazyLock;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{AtModifier, Call, Expr, Offset};
use regex::Regex;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::eval::Evaluator;
use crate::value::{self, Element, METRIC_NAME, Val};
use crate::{Error, Labels};

const TARGET_INFO: &str = "target_info";
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// What an `info()` call selects: the info series' matchers, and the `@` and offset (ms) of
/// the first selector of its first argument, which the info series are read with.
pub(crate) struct InfoSelection {
    pub matchers: Vec<Matcher>,
    pub at: Option<AtModifier>,
    pub offset_ms: i64,
}

/// `__name__=~".+_info"`, the info metrics `info()` looks at when told only which not to.
fn any_info_metric() -> Matcher {
    static ANY_INFO: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^(?:.+_info)$").expect("a valid regular expression"));
    Matcher::new(MatchOp::Re(ANY_INFO.clone()), METRIC_NAME, ".+_info")
}

/// The label selector's matchers (second argument), the name given as `{__name__=...}`.
fn label_selector(call: &Call) -> Option<Vec<Matcher>> {
    let arg = call.args.args.get(1)?;
    let Expr::VectorSelector(vs) = arg.as_ref() else {
        return Some(Vec::new());
    };
    let mut matchers = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
    }
    Some(matchers)
}

/// Prometheus' `effectiveInfoNameMatchers`: the name matchers if one of them selects (= or
/// =~), else `=~".+_info"` plus them, and `target_info` when there are none.
fn effective_name_matchers(name_matchers: Vec<Matcher>) -> Vec<Matcher> {
    if name_matchers
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Re(_)))
    {
        return name_matchers;
    }
    if !name_matchers.is_empty() {
        let mut out = vec![any_info_metric()];
        out.extend(name_matchers);
        return out;
    }
    vec![Matcher::new(MatchOp::Equal, METRIC_NAME, TARGET_INFO)]
}

fn name_matchers(call: &Call) -> Vec<Matcher> {
    match label_selector(call) {
        Some(ms) => {
            effective_name_matchers(ms.into_iter().filter(|m| m.name == METRIC_NAME).collect())
        }
        None => effective_name_matchers(Vec::new()),
    }
}

/// The data label matchers by label name, less those on the name.
fn data_matchers(call: &Call) -> HashMap<String, Vec<Matcher>> {
    let mut out: HashMap<String, Vec<Matcher>> = HashMap::default();
    for m in label_selector(call).unwrap_or_default() {
        if m.name != METRIC_NAME {
            out.entry(m.name.clone()).or_default().push(m);
        }
    }
    out
}

/// The `@` and offset (ms) the first selector of `e` reads with: its own, or, when it has no
/// `@`, with the offsets of the subqueries around it added up to the first that has an `@`
/// (Prometheus' `infoSelectTimestampAndOffset`).
fn first_selector_time(e: &Expr) -> Option<(Option<AtModifier>, i64)> {
    match e {
        Expr::VectorSelector(vs) => Some((vs.at.clone(), offset_ms(&vs.offset))),
        Expr::MatrixSelector(ms) => Some((ms.vs.at.clone(), offset_ms(&ms.vs.offset))),
        Expr::Subquery(sq) => {
            let (at, offset) = first_selector_time(&sq.expr)?;
            match at {
                Some(at) => Some((Some(at), offset)),
                None => Some((sq.at.clone(), offset + offset_ms(&sq.offset))),
            }
        }
        Expr::Aggregate(a) => a
            .param
            .as_deref()
            .and_then(first_selector_time)
            .or_else(|| first_selector_time(&a.expr)),
        Expr::Unary(u) => first_selector_time(&u.expr),
        Expr::Binary(b) => first_selector_time(&b.lhs).or_else(|| first_selector_time(&b.rhs)),
        Expr::Paren(p) => first_selector_time(&p.expr),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector_time(a)),
        _ => None,
    }
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

pub(crate) fn selection(call: &Call) -> InfoSelection {
    let mut matchers = name_matchers(call);
    matchers.extend(data_matchers(call).into_values().flatten());
    let (at, offset_ms) = call
        .args
        .args
        .first()
        .and_then(|a| first_selector_time(a))
        .unwrap_or((None, 0));
    InfoSelection {
        matchers,
        at,
        offset_ms,
    }
}

pub(crate) fn eval(ev: &Evaluator, call: &Call, t: i64) -> Result<Val, Error> {
    let base = ev.eval_vector(&call.args.args[0], t)?;
    let names = name_matchers(call);
    let data = data_matchers(call);
    let is_info = |labels: &Labels| {
        let name = value::get(labels, METRIC_NAME);
        names.iter().all(|m| m.is_match(name))
    };
    // The identifying label values of the base series that are not info series themselves.
    let mut wanted: HashMap<&str, HashSet<String>> = HashMap::default();
    for e in base.iter().filter(|e| !is_info(&e.labels)) {
        for l in IDENTIFYING_LABELS {
            let v = value::get(&e.labels, l);
            if !v.is_empty() {
                wanted.entry(l).or_default().insert(v.to_string());
            }
        }
    }
    // The newest info sample per (name, identifying labels), as Prometheus picks it.
    let mut infos: HashMap<Labels, (Rc<Labels>, i64)> = HashMap::default();
    if !wanted.is_empty() {
        for (info, sample_t) in ev.info_series(call, t) {
            let selected = wanted
                .iter()
                .all(|(l, values)| values.contains(value::get(&info.labels, l)));
            if !selected {
                continue;
            }
            let sig = signature(value::get(&info.labels, METRIC_NAME), &info.labels);
            match infos.get(&sig) {
                Some((_, existing)) if *existing > sample_t => {}
                Some((existing, existing_t)) if *existing_t == sample_t => {
                    return Err(Error::Execution(format!(
                        "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                        value::format_labels(existing),
                        existing_t,
                        value::format_labels(&info.labels),
                        sample_t
                    )));
                }
                _ => {
                    infos.insert(sig, (info.labels, sample_t));
                }
            }
        }
    }
    let info_names: HashSet<&str> = infos
        .values()
        .map(|(l, _)| value::get(l, METRIC_NAME))
        .collect();
    let all_match_empty = data.values().flatten().all(|m| m.is_match(""));
    let mut out = Vec::with_capacity(base.len());
    for e in base {
        if is_info(&e.labels) {
            out.push(e);
            continue;
        }
        let mut added: Labels = Vec::new();
        let mut seen = 0;
        for name in &info_names {
            let Some((info, _)) = infos.get(&signature(name, &e.labels)) else {
                continue;
            };
            seen += 1;
            for (n, v) in info.iter() {
                if n == METRIC_NAME || (!data.is_empty() && !data.contains_key(n)) {
                    continue;
                }
                let current = value::get(&added, n);
                if !current.is_empty() && current != v {
                    return Err(Error::Execution(format!("conflicting label: {n}")));
                }
                if !value::get(&e.labels, n).is_empty() {
                    continue;
                }
                value::set(&mut added, n, v);
            }
        }
        if seen == 0 && !all_match_empty {
            continue;
        }
        let mut labels = Rc::unwrap_or_clone(e.labels);
        for (n, v) in &added {
            value::set(&mut labels, n, v);
        }
        out.push(Element {
            labels: labels.into(),
            v: e.v,
            drop_name: e.drop_name,
        });
    }
    Ok(Val::Vector(out))
}

/// An info metric's name with the identifying labels of `labels`.
fn signature(name: &str, labels: &Labels) -> Labels {
    let mut sig: Labels = vec![(METRIC_NAME.to_string(), name.to_string())];
    for l in IDENTIFYING_LABELS {
        let v = value::get(labels, l);
        if !v.is_empty() {
            sig.push((l.to_string(), v.to_string()));
        }
    }
    sig.sort();
    sig
}
