//! The evaluator: loads every selector's series once, then evaluates the expression at each
//! instant it is asked for (a range query is one evaluation per step, as Prometheus defines
//! it).
//!
//! Each selector is read from the [`Source`] once, over the union of the time ranges every
//! evaluation of it needs (found by walking the AST with the query's time span, through
//! `offset`, `@` and subqueries), and selectors with the same matchers and overlapping ranges
//! share one read, so evaluation itself never calls the source. A subquery's inner
//! expression is evaluated once over its whole span; each evaluation of the subquery takes a
//! window of the result, as Prometheus does.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Call, Expr, Offset, SubqueryExpr, VectorSelector};
use rustc_hash::FxHashMap as HashMap;

use crate::info::InfoSelection;
use crate::value::{self, Element, RangeSeries, SharedLabels, Val};
use crate::{Error, Labels, Options, Sample, Series, Source, Value, VectorSample, is_stale_nan};

/// The step of a subquery written without one (`x[5m:]`): Prometheus uses the global
/// evaluation interval, one minute by default.
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

pub(crate) fn instant(
    source: &dyn Source,
    query: &str,
    t: i64,
    options: &Options,
) -> Result<Value, Error> {
    let expr = parse(query)?;
    let ev = Evaluator::load(source, &expr, t, t, 0, options)?;
    match ev.eval(&expr, t)? {
        Val::Scalar(v) => Ok(Value::Scalar { t, v }),
        Val::String(v) => Ok(Value::String { t, v }),
        Val::Vector(elements) => Ok(Value::Vector(finish_vector(elements, t)?)),
        Val::Matrix(series) => Ok(Value::Matrix(finish_matrix(series)?)),
    }
}

pub(crate) fn range(
    source: &dyn Source,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
    options: &Options,
) -> Result<Value, Error> {
    if step <= 0 {
        return Err(Error::Parse {
            message: "zero or negative query resolution step widths are not accepted; try a positive integer".into(),
        });
    }
    if end < start {
        return Err(Error::Parse {
            message: "end timestamp must not be before start time".into(),
        });
    }
    // In i128: the span of two i64 times does not fit an i64.
    let points =
        usize::try_from((end as i128 - start as i128) / step as i128 + 1).unwrap_or(usize::MAX);
    if points > options.max_points_per_series {
        return Err(Error::TooManyPoints { points });
    }
    let expr = parse(query)?;
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            return Err(Error::Parse {
                message: format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    type_name(other)
                ),
            });
        }
    }
    let ev = Evaluator::load(source, &expr, start, end, step, options)?;
    let mut out = MatrixBuilder::default();
    let mut samples_out = 0usize;
    let mut t = start;
    while t <= end {
        match ev.eval(&expr, t)? {
            Val::Scalar(v) => {
                out.push(&Rc::default(), false, t, v)?;
                samples_out += 1;
            }
            Val::Vector(elements) => {
                for e in &elements {
                    out.push(&e.labels, e.drop_name, t, e.v)?;
                }
                samples_out += elements.len();
            }
            _ => unreachable!("checked above: the expression is a scalar or a vector"),
        }
        // The result is held in memory too, as Prometheus counts it.
        if ev.samples_held.get() + samples_out > options.max_samples {
            return Err(Error::TooManySamples);
        }
        let Some(next) = t.checked_add(step) else {
            break;
        };
        t = next;
    }
    Ok(Value::Matrix(out.finish()))
}

/// Gathers a range query's steps into series, dropping the names marked for dropping and
/// rejecting two samples of one label set at one step.
#[derive(Default)]
struct MatrixBuilder {
    series: Vec<Series>,
    by_labels: HashMap<Labels, usize>,
    /// Label sets seen before, by address (and the drop flag in the low bit), each kept alive
    /// here so that its address cannot be reused: most elements of a step carry the label set
    /// of a selected series, and this finds their output series without comparing labels.
    by_address: HashMap<usize, (SharedLabels, usize)>,
}

impl MatrixBuilder {
    fn push(
        &mut self,
        labels: &SharedLabels,
        drop_name: bool,
        t: i64,
        v: f64,
    ) -> Result<(), Error> {
        let address = Rc::as_ptr(labels) as usize | drop_name as usize;
        let i = match self.by_address.get(&address) {
            Some((_, i)) => *i,
            None => {
                let key = if drop_name {
                    value::without_name(labels)
                } else {
                    (**labels).clone()
                };
                let next = self.series.len();
                let i = *self.by_labels.entry(key.clone()).or_insert(next);
                if i == next {
                    self.series.push(Series {
                        labels: key,
                        samples: Vec::new(),
                    });
                }
                // Only label sets shared with longer-lived data are worth remembering.
                if Rc::strong_count(labels) > 1 {
                    self.by_address.insert(address, (labels.clone(), i));
                }
                i
            }
        };
        let samples = &mut self.series[i].samples;
        if samples.last().is_some_and(|s| s.t == t) {
            return Err(duplicate_labelset());
        }
        samples.push(Sample { t, v });
        Ok(())
    }

    fn finish(mut self) -> Vec<Series> {
        self.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.series
    }
}

/// Most operators and brackets a query may have before it is parsed: the parser recurses per
/// nesting level, and too deep a query would overflow the thread's stack (an abort, not an
/// error). Long selectors and regular expressions count nothing: strings are skipped.
const MAX_OPERATORS: usize = 4_000;

/// Deepest expression nesting evaluated (evaluation recurses per level too); real queries
/// nest a few levels, generated ones a few dozen.
const MAX_DEPTH: usize = 128;

fn parse(query: &str) -> Result<Expr, Error> {
    let operators = count_operators(query);
    if operators > MAX_OPERATORS {
        return Err(Error::Parse {
            message: format!(
                "query has {operators} operators and brackets, more than the {MAX_OPERATORS} this server parses; split it"
            ),
        });
    }
    let expr = promql_parser::parser::parse(query).map_err(|e| Error::Parse {
        message: crate::position::locate(query).unwrap_or_else(|| format!("parse error: {e}")),
    })?;
    let depth = depth(&expr);
    if depth > MAX_DEPTH {
        return Err(Error::Parse {
            message: format!(
                "query nests expressions {depth} deep, more than the {MAX_DEPTH} this server evaluates; split it"
            ),
        });
    }
    Ok(expr)
}

/// Operator characters, opening brackets and the set operator words outside string literals.
fn count_operators(query: &str) -> usize {
    let mut count = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut word = String::new();
    for c in query.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if matches!(word.as_str(), "and" | "or" | "unless") {
            count += 1;
        }
        word.clear();
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' | '+' | '-' | '*' | '/' | '%' | '^' | '=' | '!' | '<' | '>' => {
                count += 1
            }
            _ => {}
        }
    }
    count
}

/// The depth of the expression tree, found without recursion.
fn depth(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Expr, usize)> = vec![(expr, 1)];
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        match e {
            Expr::Aggregate(a) => {
                stack.push((&a.expr, d + 1));
                if let Some(p) = &a.param {
                    stack.push((p, d + 1));
                }
            }
            Expr::Unary(u) => stack.push((&u.expr, d + 1)),
            Expr::Binary(b) => {
                stack.push((&b.lhs, d + 1));
                stack.push((&b.rhs, d + 1));
            }
            Expr::Paren(p) => stack.push((&p.expr, d + 1)),
            Expr::Subquery(sq) => stack.push((&sq.expr, d + 1)),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| (a.as_ref(), d + 1))),
            _ => {}
        }
    }
    deepest
}

pub(crate) fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

/// Drops the names still marked for dropping and rejects two elements with one label set.
fn finish_vector(elements: Vec<Element>, t: i64) -> Result<Vec<VectorSample>, Error> {
    let out: Vec<VectorSample> = elements
        .into_iter()
        .map(|e| VectorSample {
            labels: if e.drop_name {
                value::without_name(&e.labels)
            } else {
                Rc::unwrap_or_clone(e.labels)
            },
            t,
            v: e.v,
        })
        .collect();
    let mut seen: Vec<&Labels> = out.iter().map(|s| &s.labels).collect();
    seen.sort();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(duplicate_labelset());
    }
    // In the evaluation's order, which sort() and topk() define.
    Ok(out)
}

fn finish_matrix(series: Vec<RangeSeries>) -> Result<Vec<Series>, Error> {
    let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in series {
        let labels = if s.drop_name {
            value::without_name(&s.labels)
        } else {
            Rc::unwrap_or_clone(s.labels)
        };
        match merged.get_mut(&labels) {
            Some(samples) => {
                samples.extend(s.samples);
                samples.sort_by_key(|s| s.t);
                if samples.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(duplicate_labelset());
                }
            }
            None => {
                merged.insert(labels, s.samples);
            }
        }
    }
    // Sorted by labels, as Prometheus' matrices are.
    Ok(merged
        .into_iter()
        .map(|(labels, samples)| Series { labels, samples })
        .collect())
}

pub(crate) fn duplicate_labelset() -> Error {
    Error::Execution("vector cannot contain metrics with the same labelset".into())
}

pub(crate) fn millis(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_millis(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

fn system_time_millis(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

/// How often evaluation checks the deadline: `Instant::now()` is cheap but not free.
const DEADLINE_CHECK_EVERY: u32 = 256;

pub(crate) struct Evaluator<'a> {
    pub options: &'a Options,
    pub query_start: i64,
    pub query_end: i64,
    /// 0 for an instant query.
    pub query_step: i64,
    /// Every selector's series, by the selector's address in the AST (shared by selectors
    /// read together).
    series: HashMap<usize, Rc<Vec<Loaded>>>,
    /// For each `info()` call, what it selects and the span of times it is evaluated at.
    info_spans: RefCell<HashMap<usize, (InfoSelection, i64, i64)>>,
    /// Each `info()` call's candidate info series.
    info_loaded: HashMap<usize, Vec<Loaded>>,
    /// For each subquery, the span of window ends its evaluations ask for (from the AST walk).
    subquery_spans: RefCell<HashMap<usize, (i64, i64)>>,
    /// Each subquery's inner expression evaluated once at every step of its whole span, as
    /// series; each evaluation of the subquery is a window of them (as Prometheus does it).
    subquery_series: RefCell<HashMap<usize, SubquerySeries>>,
    /// Label sets derived from a series' (its group's, its match signature), by the deriving
    /// node and the address of the series' label set, which is kept alive beside them so the
    /// address stays its own. Only label sets shared with loaded data are remembered.
    derived_labels: RefCell<HashMap<(usize, usize), (SharedLabels, SharedLabels)>>,
    /// Regular expressions compiled for `label_replace`, by pattern (a range query would
    /// compile its pattern at every step otherwise).
    regexes: RefCell<HashMap<String, Rc<regex::Regex>>>,
    /// Aggregations answered a block of steps at a time (`fused.rs`), by address.
    pub(crate) fused: RefCell<HashMap<usize, crate::fused::FusedNode>>,
    /// Samples held by `subquery_series`, counted against `max_samples` with the loaded ones.
    samples_held: Cell<usize>,
    ticks: Cell<u32>,
}

/// A selected series as evaluation keeps it.
pub(crate) struct Loaded {
    pub labels: SharedLabels,
    samples: Vec<Sample>,
    /// Whether any sample is a stale marker (windows of a series without any need no look).
    any_stale: bool,
    /// The indices of the samples lower than the one before them (counter resets), when there
    /// are few of them; `None` when there are too many to be worth keeping. `rate` and
    /// `increase` then skip looking for resets in the windows that have none.
    resets: Option<Vec<u32>>,
    hints: Hints,
}

/// Where the last lookups in a series ended (window start and end): a range query moves
/// forward step by step, so the next lookup usually ends a sample or two later.
#[derive(Default)]
pub(crate) struct Hints {
    start: Cell<usize>,
    end: Cell<usize>,
}

/// A loaded series' samples and what is known of them, without its labels and hints: what
/// a thread needs to compute windows of it (`fused.rs`).
#[derive(Clone, Copy)]
pub(crate) struct SeriesView<'s> {
    samples: &'s [Sample],
    any_stale: bool,
    resets: Option<&'s [u32]>,
}

impl Loaded {
    fn new(series: Series) -> Loaded {
        let samples = series.samples;
        let any_stale = samples.iter().any(|s| is_stale_nan(s.v));
        // At most one reset in eight samples is kept (half a byte per sample at most); past
        // that the series is no counter worth the shortcut.
        let most = samples.len() / 8;
        let mut resets = Some(Vec::new());
        for (i, w) in samples.windows(2).enumerate() {
            if w[1].v < w[0].v
                && let Some(list) = &mut resets
            {
                if list.len() == most {
                    resets = None;
                    break;
                }
                list.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            }
        }
        Loaded {
            labels: Rc::new(series.labels),
            samples,
            any_stale,
            resets,
            hints: Hints::default(),
        }
    }

    pub(crate) fn view(&self) -> SeriesView<'_> {
        SeriesView {
            samples: &self.samples,
            any_stale: self.any_stale,
            resets: self.resets.as_deref(),
        }
    }

    /// The samples in (from, to] without stale markers (copied into `filtered` only when
    /// there are some to take out).
    pub(crate) fn window<'s>(
        &'s self,
        from: i64,
        to: i64,
        filtered: &'s mut Vec<Sample>,
    ) -> Window<'s> {
        self.view().window(from, to, &self.hints, filtered)
    }

    /// The newest sample at or before `ts`.
    fn at_or_before(&self, ts: i64) -> Option<Sample> {
        let end = partition_after(&self.samples, ts, &self.hints.end);
        self.samples.get(end.checked_sub(1)?).copied()
    }
}

impl<'s> SeriesView<'s> {
    /// The indices of the samples with times in (from, to].
    fn window_range(&self, from: i64, to: i64, hints: &Hints) -> (usize, usize) {
        let lo = partition_after(self.samples, from, &hints.start);
        let hi = partition_after(self.samples, to, &hints.end);
        (lo, hi.max(lo))
    }

    /// True when no sample in `lo..hi` is lower than the one before it in the window.
    fn without_resets(&self, lo: usize, hi: usize) -> bool {
        let Some(resets) = self.resets else {
            return false;
        };
        // A reset at index j compares samples j-1 and j: inside the window when lo < j < hi.
        let first_after = resets.partition_point(|&j| (j as usize) <= lo);
        resets.get(first_after).is_none_or(|&j| j as usize >= hi)
    }

    /// The samples in (from, to] without stale markers (copied into `filtered` only when
    /// there are some to take out), looked up from `hints`.
    pub(crate) fn window<'w>(
        self,
        from: i64,
        to: i64,
        hints: &Hints,
        filtered: &'w mut Vec<Sample>,
    ) -> Window<'w>
    where
        's: 'w,
    {
        let (lo, hi) = self.window_range(from, to, hints);
        let samples = &self.samples[lo..hi];
        if self.any_stale && samples.iter().any(|p| is_stale_nan(p.v)) {
            filtered.clear();
            filtered.extend(samples.iter().filter(|p| !is_stale_nan(p.v)));
            Window::of(filtered)
        } else {
            Window {
                samples,
                without_resets: self.without_resets(lo, hi),
            }
        }
    }
}

/// The number of samples at or before `ts`, searched from `hint` (the previous answer)
/// forward when `ts` has not gone back, by doubling steps, else over all of them.
fn partition_after(samples: &[Sample], ts: i64, hint: &Cell<usize>) -> usize {
    let len = samples.len();
    let c = hint.get().min(len);
    let found = if c == 0 || samples[c - 1].t <= ts {
        // Everything before `lo` is at or before ts; `hi` is the end or after ts.
        let (mut lo, mut hi, mut step) = (c, c, 1);
        while hi < len && samples[hi].t <= ts {
            lo = hi + 1;
            hi = c.saturating_add(step).min(len);
            step *= 2;
        }
        lo + samples[lo..hi.max(lo)].partition_point(|p| p.t <= ts)
    } else {
        samples.partition_point(|p| p.t <= ts)
    };
    hint.set(found);
    found
}

fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

fn subquery_key(sq: &SubqueryExpr) -> usize {
    sq as *const SubqueryExpr as usize
}

impl<'a> Evaluator<'a> {
    fn load(
        source: &dyn Source,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        options: &'a Options,
    ) -> Result<Evaluator<'a>, Error> {
        let mut ev = Evaluator {
            options,
            query_start: start,
            query_end: end,
            query_step: step,
            series: HashMap::default(),
            info_spans: RefCell::new(HashMap::default()),
            info_loaded: HashMap::default(),
            subquery_spans: RefCell::new(HashMap::default()),
            subquery_series: RefCell::new(HashMap::default()),
            samples_held: Cell::new(0),
            derived_labels: RefCell::new(HashMap::default()),
            regexes: RefCell::new(HashMap::default()),
            fused: RefCell::new(HashMap::default()),
            ticks: Cell::new(0),
        };
        let mut needed: HashMap<usize, (&VectorSelector, i64, i64)> = HashMap::default();
        ev.collect(expr, start, end, &mut needed)?;
        // Selectors with the same matchers whose time ranges overlap (`x` and `rate(x[5m])`,
        // say) are read once, over the union of their ranges.
        let mut reads: Vec<(String, &VectorSelector, i64, i64, Vec<usize>)> = Vec::new();
        let mut needed: Vec<_> = needed.into_iter().collect();
        needed.sort_by_key(|(_, (vs, lo, _))| (matchers_key(vs), *lo));
        for (key, (vs, lo, hi)) in needed {
            let matchers = matchers_key(vs);
            match reads.last_mut() {
                Some(read) if read.0 == matchers && lo <= read.3 => {
                    read.3 = read.3.max(hi);
                    read.4.push(key);
                }
                _ => reads.push((matchers, vs, lo, hi, vec![key])),
            }
        }
        let mut loaded = 0usize;
        for (_, vs, lo, hi, keys) in reads {
            ev.check_deadline_now()?;
            let series = select(source, vs, lo, hi)?;
            loaded += series.iter().map(|s| s.samples.len()).sum::<usize>();
            if loaded > options.max_samples {
                return Err(Error::TooManySamples);
            }
            let series: Rc<Vec<Loaded>> = Rc::new(series.into_iter().map(Loaded::new).collect());
            for key in keys {
                ev.series.insert(key, series.clone());
            }
        }
        let infos: Vec<(usize, Vec<Matcher>, i64, i64)> = ev
            .info_spans
            .borrow()
            .iter()
            .map(|(k, (sel, lo, hi))| (*k, sel.matchers.clone(), *lo, *hi))
            .collect();
        for (key, matchers, lo, hi) in infos {
            ev.check_deadline_now()?;
            let series = source
                .select(&matchers, lo.saturating_sub(options.lookback_ms - 1), hi)
                .map_err(Error::Source)?;
            loaded += series.iter().map(|s| s.samples.len()).sum::<usize>();
            if loaded > options.max_samples {
                return Err(Error::TooManySamples);
            }
            let series = series.into_iter().map(Loaded::new).collect();
            ev.info_loaded.insert(key, series);
        }
        ev.samples_held.set(loaded);
        Ok(ev)
    }

    /// The info series an `info()` call reads at `t`, each with the time of its newest sample
    /// in the lookback (Prometheus prefers the newest of two with the same identity).
    pub(crate) fn info_series(&self, call: &Call, t: i64) -> Vec<(Element, i64)> {
        let key = call as *const Call as usize;
        let spans = self.info_spans.borrow();
        let Some((selection, _, _)) = spans.get(&key) else {
            return Vec::new();
        };
        let ts = self
            .selector_time_of(&selection.at, &None, t)
            .saturating_sub(selection.offset_ms);
        let mut out = Vec::new();
        for s in self.info_loaded.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(p) = self.newest_in_lookback(s, ts) {
                let element = Element {
                    labels: s.labels.clone(),
                    v: p.v,
                    drop_name: false,
                };
                out.push((element, p.t));
            }
        }
        out
    }

    /// The newest sample at or before `ts` within the lookback, unless it is a stale marker.
    fn newest_in_lookback(&self, series: &Loaded, ts: i64) -> Option<Sample> {
        let p = series.at_or_before(ts)?;
        (p.t > ts.saturating_sub(self.options.lookback_ms) && !is_stale_nan(p.v)).then_some(p)
    }

    /// Records, for every selector under `expr`, the time range its evaluations at times in
    /// [lo, hi] read.
    fn collect<'e>(
        &self,
        expr: &'e Expr,
        lo: i64,
        hi: i64,
        out: &mut HashMap<usize, (&'e VectorSelector, i64, i64)>,
    ) -> Result<(), Error> {
        let mut need = |vs: &'e VectorSelector, back: i64| {
            let (lo, hi) = self.shifted(&vs.at, &vs.offset, lo, hi);
            let from = lo.saturating_sub(back);
            let entry = out.entry(selector_key(vs)).or_insert((vs, from, hi));
            entry.1 = entry.1.min(from);
            entry.2 = entry.2.max(hi);
        };
        match expr {
            Expr::VectorSelector(vs) => need(vs, self.options.lookback_ms),
            Expr::MatrixSelector(ms) => need(&ms.vs, millis(&ms.range)),
            Expr::Subquery(sq) => {
                let (lo, hi) = self.shifted(&sq.at, &sq.offset, lo, hi);
                let mut spans = self.subquery_spans.borrow_mut();
                let span = spans.entry(subquery_key(sq)).or_insert((lo, hi));
                *span = (span.0.min(lo), span.1.max(hi));
                drop(spans);
                self.collect(&sq.expr, lo.saturating_sub(millis(&sq.range)), hi, out)?;
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.collect(p, lo, hi, out)?;
                }
                self.collect(&a.expr, lo, hi, out)?;
            }
            Expr::Unary(u) => self.collect(&u.expr, lo, hi, out)?,
            Expr::Binary(b) => {
                self.collect(&b.lhs, lo, hi, out)?;
                self.collect(&b.rhs, lo, hi, out)?;
            }
            Expr::Paren(p) => self.collect(&p.expr, lo, hi, out)?,
            Expr::Call(c) => {
                if c.func.name == "info" {
                    let selection = crate::info::selection(c);
                    let (lo, hi) = self.shifted(&selection.at, &None, lo, hi);
                    let (lo, hi) = (
                        lo.saturating_sub(selection.offset_ms),
                        hi.saturating_sub(selection.offset_ms),
                    );
                    let mut infos = self.info_spans.borrow_mut();
                    let entry = infos
                        .entry(c as *const Call as usize)
                        .or_insert((selection, lo, hi));
                    entry.1 = entry.1.min(lo);
                    entry.2 = entry.2.max(hi);
                }
                for a in &c.args.args {
                    self.collect(a, lo, hi, out)?;
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            Expr::Extension(_) => {
                return Err(Error::Execution(
                    "extension expressions are not supported".into(),
                ));
            }
        }
        Ok(())
    }

    /// The evaluation times [lo, hi] as a selector with this `@` and `offset` sees them.
    fn shifted(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        lo: i64,
        hi: i64,
    ) -> (i64, i64) {
        let off = offset_millis(offset);
        match at {
            None => (lo.saturating_sub(off), hi.saturating_sub(off)),
            Some(_) => {
                let t = self.selector_time_of(at, offset, lo);
                (t, t)
            }
        }
    }

    /// The time a selector evaluated at `t` reads at.
    pub(crate) fn selector_time_of(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        t: i64,
    ) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.query_start,
            Some(AtModifier::End) => self.query_end,
            Some(AtModifier::At(at)) => system_time_millis(at),
        };
        base.saturating_sub(offset_millis(offset))
    }

    /// `derive(labels)`, computed once per node for the label sets of loaded series (which
    /// recur at every step) and afresh for label sets built during evaluation.
    pub(crate) fn derived_labels(
        &self,
        node: usize,
        labels: &SharedLabels,
        derive: impl FnOnce(&Labels) -> Labels,
    ) -> SharedLabels {
        if Rc::strong_count(labels) == 1 {
            return Rc::new(derive(labels));
        }
        let key = (node, Rc::as_ptr(labels) as usize);
        if let Some((_, derived)) = self.derived_labels.borrow().get(&key) {
            return derived.clone();
        }
        let derived = Rc::new(derive(labels));
        self.derived_labels
            .borrow_mut()
            .insert(key, (labels.clone(), derived.clone()));
        derived
    }

    /// `pattern` compiled, once per evaluation.
    pub(crate) fn regex(&self, pattern: &str) -> Result<Rc<regex::Regex>, regex::Error> {
        if let Some(re) = self.regexes.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = Rc::new(regex::Regex::new(pattern)?);
        self.regexes
            .borrow_mut()
            .insert(pattern.to_string(), re.clone());
        Ok(re)
    }

    /// Whether the deadline has passed, looked up now (for the few costly steps, like reading
    /// a selector's series).
    pub(crate) fn check_deadline_now(&self) -> Result<(), Error> {
        match self.options.deadline {
            Some(deadline) if std::time::Instant::now() >= deadline => Err(Error::Timeout),
            _ => Ok(()),
        }
    }

    /// Whether the deadline has passed, looked up every `DEADLINE_CHECK_EVERY` calls.
    pub(crate) fn check_deadline(&self) -> Result<(), Error> {
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        if ticks.is_multiple_of(DEADLINE_CHECK_EVERY) {
            return self.check_deadline_now();
        }
        Ok(())
    }

    pub(crate) fn eval(&self, expr: &Expr, t: i64) -> Result<Val, Error> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, t))),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                Ok(Val::Matrix(self.range_vector(expr, t)?))
            }
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(mut elements) => {
                    for e in &mut elements {
                        e.v = -e.v;
                        e.drop_name = true;
                    }
                    Ok(Val::Vector(elements))
                }
                _ => Err(Error::Execution(
                    "unary expression only allowed on expressions of type scalar or instant vector"
                        .into(),
                )),
            },
            Expr::Binary(b) => crate::binary::eval(self, b, t),
            Expr::Aggregate(a) => crate::aggregate::eval(self, a, t),
            Expr::Call(c) => crate::functions::eval(self, c, t),
            Expr::Extension(_) => Err(Error::Execution(
                "extension expressions are not supported".into(),
            )),
        }
    }

    pub(crate) fn eval_vector(&self, expr: &Expr, t: i64) -> Result<Vec<Element>, Error> {
        match self.eval(expr, t)? {
            Val::Vector(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "expected an instant vector, got {}",
                val_name(&other)
            ))),
        }
    }

    pub(crate) fn eval_scalar(&self, expr: &Expr, t: i64) -> Result<f64, Error> {
        match self.eval(expr, t)? {
            Val::Scalar(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "expected a scalar, got {}",
                val_name(&other)
            ))),
        }
    }

    pub(crate) fn eval_matrix(&self, expr: &Expr, t: i64) -> Result<Vec<RangeSeries>, Error> {
        match self.eval(expr, t)? {
            Val::Matrix(m) => Ok(m),
            other => Err(Error::Execution(format!(
                "expected a range vector, got {}",
                val_name(&other)
            ))),
        }
    }

    pub(crate) fn loaded(&self, vs: &VectorSelector) -> &[Loaded] {
        self.series
            .get(&selector_key(vs))
            .map(|s| s.as_slice())
            .unwrap_or(&[])
    }

    pub(crate) fn vector_selector(&self, vs: &VectorSelector, t: i64) -> Vec<Element> {
        self.vector_selector_timed(vs, t)
            .into_iter()
            .map(|(e, _)| e)
            .collect()
    }

    /// The newest sample of each series in (t - lookback, t], unless that sample is a stale
    /// marker, with the sample's time (which `timestamp(selector)` answers with).
    pub(crate) fn vector_selector_timed(&self, vs: &VectorSelector, t: i64) -> Vec<(Element, i64)> {
        let ts = self.selector_time_of(&vs.at, &vs.offset, t);
        let mut out = Vec::new();
        for s in self.loaded(vs) {
            let Some(p) = self.newest_in_lookback(s, ts) else {
                continue;
            };
            let element = Element {
                labels: s.labels.clone(),
                v: p.v,
                drop_name: false,
            };
            out.push((element, p.t));
        }
        out
    }

    /// Calls `f` with every series of a range-vector expression evaluated at `t`: its labels,
    /// whether its name is to be dropped, and its samples in the window. The samples of
    /// selectors and subqueries are borrowed, not copied, unless stale markers must be taken
    /// out.
    pub(crate) fn for_each_window(
        &self,
        expr: &Expr,
        t: i64,
        f: &mut WindowVisitor<'_>,
    ) -> Result<(), Error> {
        match expr {
            Expr::Paren(p) => self.for_each_window(&p.expr, t, f),
            Expr::MatrixSelector(ms) => {
                let ts = self.selector_time_of(&ms.vs.at, &ms.vs.offset, t);
                let from = ts.saturating_sub(millis(&ms.range));
                let mut filtered = Vec::new();
                for s in self.loaded(&ms.vs) {
                    let window = s.window(from, ts, &mut filtered);
                    if !window.samples.is_empty() {
                        f(&s.labels, false, window)?;
                    }
                }
                Ok(())
            }
            Expr::Subquery(sq) => {
                let end = self.selector_time_of(&sq.at, &sq.offset, t);
                let from = end.saturating_sub(millis(&sq.range));
                let (span, series) = self.subquery_series(sq, end)?;
                if end < span.0 || end > span.1 {
                    // Outside the span the AST walk found (it should not be): evaluate just
                    // this window.
                    let series = self.evaluate_subquery(sq, from, end)?;
                    for s in &series {
                        f(&s.labels, s.drop_name, Window::of(&s.samples))?;
                    }
                    return Ok(());
                }
                for s in series.iter() {
                    let window = window_of(&s.samples, from, end);
                    if !window.is_empty() {
                        f(&s.labels, s.drop_name, Window::of(window))?;
                    }
                }
                Ok(())
            }
            other => {
                for s in self.eval_matrix(other, t)? {
                    f(&s.labels, s.drop_name, Window::of(&s.samples))?;
                }
                Ok(())
            }
        }
    }

    /// The series of a range-vector selector or subquery at `t`, copied out.
    fn range_vector(&self, expr: &Expr, t: i64) -> Result<Vec<RangeSeries>, Error> {
        let mut out = Vec::new();
        self.for_each_window(expr, t, &mut |labels, drop_name, window| {
            out.push(RangeSeries {
                labels: labels.clone(),
                samples: window.samples.to_vec(),
                drop_name,
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// The inner expression of `sq` evaluated at every multiple of its step in the windows
    /// its evaluations cover, computed on first use, with the span of window ends it covers.
    /// `end` is the current window's end, used when the AST walk has no span for `sq`.
    fn subquery_series(&self, sq: &SubqueryExpr, end: i64) -> Result<SubquerySeries, Error> {
        let key = subquery_key(sq);
        if let Some(series) = self.subquery_series.borrow().get(&key) {
            return Ok(series.clone());
        }
        let span = self
            .subquery_spans
            .borrow()
            .get(&key)
            .copied()
            .unwrap_or((end, end));
        let series = Rc::new(self.evaluate_subquery(
            sq,
            span.0.saturating_sub(millis(&sq.range)),
            span.1,
        )?);
        self.subquery_series
            .borrow_mut()
            .insert(key, (span, series.clone()));
        Ok((span, series))
    }

    /// The inner expression of `sq` at every multiple of its step in (from, to], as series.
    fn evaluate_subquery(
        &self,
        sq: &SubqueryExpr,
        from: i64,
        to: i64,
    ) -> Result<Vec<RangeSeries>, Error> {
        let step = match &sq.step {
            Some(d) if millis(d) > 0 => millis(d),
            _ => DEFAULT_SUBQUERY_STEP_MS,
        };
        // Go's integer division truncates toward zero, and Prometheus' alignment relies on it.
        let mut ts = step * (from / step);
        if ts <= from {
            ts = ts.saturating_add(step);
        }
        let mut out: Vec<RangeSeries> = Vec::new();
        let mut index: HashMap<SharedLabels, usize> = HashMap::default();
        let mut held = self.samples_held.get();
        while ts <= to {
            match self.eval(&sq.expr, ts)? {
                Val::Scalar(v) => {
                    push_sample(&mut out, &mut index, Rc::default(), false, ts, v);
                    held += 1;
                }
                Val::Vector(elements) => {
                    held += elements.len();
                    for e in elements {
                        push_sample(&mut out, &mut index, e.labels, e.drop_name, ts, e.v);
                    }
                }
                other => {
                    return Err(Error::Execution(format!(
                        "subquery is only allowed on instant vector, got {}",
                        val_name(&other)
                    )));
                }
            }
            if held > self.options.max_samples {
                return Err(Error::TooManySamples);
            }
            let Some(next) = ts.checked_add(step) else {
                break;
            };
            ts = next;
        }
        self.samples_held.set(held);
        Ok(out)
    }
}

/// A subquery's precomputed series and the span of window ends they serve.
type SubquerySeries = ((i64, i64), Rc<Vec<RangeSeries>>);

/// What `for_each_window` calls per series: labels, whether the name is to be dropped, and
/// the window.
pub(crate) type WindowVisitor<'f> =
    dyn FnMut(&SharedLabels, bool, Window<'_>) -> Result<(), Error> + 'f;

/// The samples of one series in one window, and what is known of them without a look.
#[derive(Clone, Copy)]
pub(crate) struct Window<'s> {
    pub samples: &'s [Sample],
    /// True when no sample is lower than the one before it (no counter reset in the window),
    /// known from the series' list of resets; false when not known.
    pub without_resets: bool,
}

impl<'s> Window<'s> {
    /// A window nothing is known of.
    fn of(samples: &'s [Sample]) -> Window<'s> {
        Window {
            samples,
            without_resets: false,
        }
    }
}

/// The samples with times in (from, to].
fn window_of(samples: &[Sample], from: i64, to: i64) -> &[Sample] {
    let lo = samples.partition_point(|p| p.t <= from);
    let hi = samples.partition_point(|p| p.t <= to);
    &samples[lo..hi.max(lo)]
}

fn push_sample(
    out: &mut Vec<RangeSeries>,
    index: &mut HashMap<SharedLabels, usize>,
    labels: SharedLabels,
    drop_name: bool,
    t: i64,
    v: f64,
) {
    match index.get(&labels) {
        Some(&i) => {
            out[i].samples.push(Sample { t, v });
            out[i].drop_name |= drop_name;
        }
        None => {
            index.insert(labels.clone(), out.len());
            out.push(RangeSeries {
                labels,
                samples: vec![Sample { t, v }],
                drop_name,
            });
        }
    }
}

pub(crate) fn val_name(v: &Val) -> &'static str {
    match v {
        Val::Scalar(_) => "scalar",
        Val::String(_) => "string",
        Val::Vector(_) => "instant vector",
        Val::Matrix(_) => "range vector",
    }
}

fn select(
    source: &dyn Source,
    vs: &VectorSelector,
    lo: i64,
    hi: i64,
) -> Result<Vec<Series>, Error> {
    let mut base: Vec<Matcher> = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name
        && !base
            .iter()
            .any(|m| m.name == value::METRIC_NAME && m.op == MatchOp::Equal && &m.value == name)
    {
        base.push(Matcher::new(MatchOp::Equal, value::METRIC_NAME, name));
    }
    if vs.matchers.or_matchers.is_empty() {
        let series = source.select(&base, lo, hi).map_err(Error::Source)?;
        return Ok(merge_same_labels(series));
    }
    // `{a="1" or b="2"}`: the union of each alternative's series.
    let mut by_labels: BTreeMap<Labels, Series> = BTreeMap::new();
    for alternative in &vs.matchers.or_matchers {
        let mut matchers = base.clone();
        matchers.extend(alternative.iter().cloned());
        for s in merge_same_labels(source.select(&matchers, lo, hi).map_err(Error::Source)?) {
            by_labels.entry(s.labels.clone()).or_insert(s);
        }
    }
    Ok(by_labels.into_values().collect())
}

/// A selector's matchers in a canonical text form: selectors with equal keys select the
/// same series.
fn matchers_key(vs: &VectorSelector) -> String {
    let text = |m: &Matcher| format!("{}{}{:?}", m.name, m.op, m.value);
    let mut all: Vec<String> = vs.matchers.matchers.iter().map(text).collect();
    if let Some(name) = &vs.name {
        all.push(format!("{}={name:?}", value::METRIC_NAME));
    }
    all.sort();
    all.dedup();
    let mut key = all.join(",");
    for alternative in &vs.matchers.or_matchers {
        let mut alt: Vec<String> = alternative.iter().map(text).collect();
        alt.sort();
        key.push_str(" or ");
        key.push_str(&alt.join(","));
    }
    key
}

/// Makes one series of those with the same labels, as Prometheus' storage appends every
/// sample of a label set to one series (a source translating another data model may map two
/// of its series to one label set). Of two samples at one time, the first is kept.
fn merge_same_labels(series: Vec<Series>) -> Vec<Series> {
    let mut index: HashMap<Labels, usize> =
        HashMap::with_capacity_and_hasher(series.len(), Default::default());
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    let mut merged_any = Vec::new();
    for s in series {
        match index.get(&s.labels) {
            Some(&i) => {
                out[i].samples.extend(s.samples);
                merged_any.push(i);
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    for i in merged_any {
        let samples = &mut out[i].samples;
        samples.sort_by_key(|p| p.t);
        samples.dedup_by_key(|p| p.t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_after_with_a_hint_agrees_with_a_binary_search() {
        let samples: Vec<Sample> = (0..200)
            .map(|i| Sample {
                t: i * 10 + (i % 3),
                v: 0.0,
            })
            .collect();
        let hint = Cell::new(0);
        // Forward in small and large steps, back, and past both ends.
        let times = (-20..2100)
            .step_by(7)
            .chain([5000, 3, 1500, 1499, -5, 1000, 1990, 1991]);
        for ts in times {
            let want = samples.partition_point(|p| p.t <= ts);
            assert_eq!(partition_after(&samples, ts, &hint), want, "at {ts}");
        }
        assert_eq!(partition_after(&[], 5, &Cell::new(3)), 0);
    }

    fn loaded(values: &[f64]) -> Loaded {
        Loaded::new(Series {
            labels: Vec::new(),
            samples: values
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample { t: i as i64, v })
                .collect(),
        })
    }

    #[test]
    fn a_window_is_said_to_be_without_resets_exactly_when_a_scan_finds_none() {
        // A counter with a few resets, a NaN among them, and every window of it.
        let mut values: Vec<f64> = (0..64).map(|i| (i % 23) as f64 * 1.5).collect();
        values[40] = f64::NAN;
        values[50] = 0.5;
        let series = loaded(&values);
        assert!(series.resets.as_ref().is_some_and(|r| !r.is_empty()));
        for lo in 0..values.len() {
            for hi in lo..=values.len() {
                let scan = !values[lo..hi].windows(2).any(|w| w[1] < w[0]);
                assert_eq!(series.view().without_resets(lo, hi), scan, "{lo}..{hi}");
            }
        }
        // A series that goes down all the time keeps no list: nothing is claimed of it.
        let falling = loaded(&(0..64).map(|i| -(i as f64)).collect::<Vec<_>>());
        assert!(falling.resets.is_none());
        assert!(!falling.view().without_resets(0, 2));
        // One without resets at all: every window is known to have none.
        let rising = loaded(&(0..16).map(f64::from).collect::<Vec<_>>());
        assert!(rising.view().without_resets(0, 16) && !rising.any_stale);
    }
}
