//! Range queries of an aggregation over a range function of a selector
//! (`sum by (job) (rate(http_requests_total[5m]))`, the shape of most dashboard panels),
//! evaluated series by series over a block of steps instead of step by step.
//!
//! Step by step, every evaluation finds each series' window, builds an element for it and
//! looks its group up by label set. Here each series' group is found once; then, for a block
//! of steps, each series' windows slide along the steps and every window's value goes
//! straight into its group's accumulator for that step. The arithmetic is the step-by-step
//! path's own ([`window_value`], [`Acc`]) in its order (within a step the series are added
//! in the order they were loaded), so the results are the same to the bit; Prometheus'
//! range evaluations in the promqltest runner go through this path. The aggregation's
//! evaluation at a query step then reads its groups from the block, in the order the
//! step-by-step path would have made them. A block's two halves of steps are computed at
//! once, on two threads (each cell of a block belongs to one step, so to one thread).
//!
//! Only evaluations at the query's own steps are answered here (a subquery's inner steps,
//! say, take the step-by-step path), and only operators without a parameter.

use std::time::Instant;

use promql_parser::parser::token::{
    T_AVG, T_COUNT, T_GROUP, T_MAX, T_MIN, T_STDDEV, T_STDVAR, T_SUM,
};
use promql_parser::parser::{AggregateExpr, Call, Expr, LabelModifier, MatrixSelector};
use rustc_hash::FxHashMap as HashMap;

use crate::aggregate::{Acc, group_labels};
use crate::eval::{Evaluator, Hints, Loaded, SeriesView};
use crate::functions::{keeps_name, window, window_value};
use crate::value::{Element, SharedLabels, Val};
use crate::{Error, Labels};

/// At most this many group-step accumulators per block (about 12 MiB), so that an
/// aggregation with many groups takes shorter blocks rather than more memory.
const MAX_CELLS: usize = 1 << 18;

/// At most this many steps per block.
const MAX_STEPS: usize = 256;

/// Blocks of at least this many steps are computed in two halves at once.
const PARALLEL_STEPS: usize = 32;

/// What a thread needs to compute steps of a block: shared, read-only.
struct Job<'j> {
    views: &'j [SeriesView<'j>],
    group_of: &'j [usize],
    groups: usize,
    op: u16,
    function: &'j str,
    /// Whether the function's results drop the series' name.
    drop_name: bool,
    deadline: Option<Instant>,
}

impl Job<'_> {
    /// Fills `cells` (those of the steps whose times and windows, (start, end, length), are
    /// `windows`), series by series in the order they were loaded.
    fn run(&self, windows: &[(i64, (i64, i64, i64))], cells: &mut [Cell]) -> Result<(), Error> {
        let mut filtered = Vec::new();
        for (position, view) in self.views.iter().enumerate() {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout);
            }
            let group = self.group_of[position];
            let hints = Hints::default();
            for (j, &(t, span)) in windows.iter().enumerate() {
                let window = view.window(span.0, span.1, &hints, &mut filtered);
                if window.samples.is_empty() {
                    continue;
                }
                let Some(v) = window_value(self.function, window, span, t, &[])? else {
                    continue;
                };
                let cell = &mut cells[j * self.groups + group];
                if cell.first == usize::MAX {
                    cell.first = position;
                    cell.acc = Acc::first(self.op, v, self.drop_name);
                } else {
                    cell.acc.add(self.op, v, self.drop_name);
                }
            }
        }
        Ok(())
    }
}

/// An aggregation being answered block by block.
pub(crate) struct FusedNode {
    /// Each loaded series' group.
    group_of: Vec<usize>,
    /// Each group's labels.
    groups: Vec<SharedLabels>,
    /// The index (from the query's start) of the block's first step, and its length.
    first_step: usize,
    steps: usize,
    /// The block's accumulators, step by step, a group after the other within a step.
    cells: Vec<Cell>,
}

#[derive(Clone, Copy)]
struct Cell {
    /// The position of the group's first series with a value at this step (the order in
    /// which the step-by-step path creates groups), `usize::MAX` when none has one.
    first: usize,
    acc: Acc,
}

/// What of an aggregation this path needs, when it has the shape it answers.
struct Shape<'e> {
    op: u16,
    without: bool,
    grouping: &'e [String],
    function: &'e str,
    /// The function's argument, a matrix selector (without its brackets).
    arg: &'e Expr,
    matrix: &'e MatrixSelector,
}

fn unparen(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

impl<'e> Shape<'e> {
    fn of(a: &'e AggregateExpr) -> Option<Shape<'e>> {
        let op = a.op.id();
        if a.param.is_some()
            || ![
                T_SUM, T_AVG, T_MIN, T_MAX, T_COUNT, T_GROUP, T_STDDEV, T_STDVAR,
            ]
            .contains(&op)
        {
            return None;
        }
        let (without, grouping): (bool, &[String]) = match &a.modifier {
            Some(LabelModifier::Include(l)) => (false, &l.labels),
            Some(LabelModifier::Exclude(l)) => (true, &l.labels),
            None => (false, &[]),
        };
        let Expr::Call(Call { func, args }) = unparen(&a.expr) else {
            return None;
        };
        if args.args.len() != 1 || func.name == "absent_over_time" {
            return None;
        }
        let arg = unparen(&args.args[0]);
        let Expr::MatrixSelector(matrix) = arg else {
            return None;
        };
        Some(Shape {
            op,
            without,
            grouping,
            function: func.name,
            arg,
            matrix,
        })
    }
}

/// The aggregation `a` evaluated at `t`, when this path answers it (`None`: evaluate it
/// step by step).
pub(crate) fn eval(ev: &Evaluator, a: &AggregateExpr, t: i64) -> Result<Option<Val>, Error> {
    let (start, end, step) = (ev.query_start, ev.query_end, ev.query_step);
    if step <= 0 || t < start || t > end || (t - start) % step != 0 {
        return Ok(None);
    }
    let Some(shape) = Shape::of(a) else {
        return Ok(None);
    };
    let index = ((t - start) / step) as usize;
    let mut nodes = ev.fused.borrow_mut();
    let node = nodes
        .entry(a as *const AggregateExpr as usize)
        .or_insert_with(|| FusedNode::new(ev, &shape));
    if !(node.first_step..node.first_step + node.steps).contains(&index) {
        node.fill(ev, &shape, index)?;
    }
    Ok(Some(Val::Vector(
        node.vector(index - node.first_step, shape.op),
    )))
}

impl FusedNode {
    fn new(ev: &Evaluator, shape: &Shape<'_>) -> FusedNode {
        let mut index: HashMap<Labels, usize> = HashMap::default();
        let mut groups = Vec::new();
        let group_of = ev
            .loaded(&shape.matrix.vs)
            .iter()
            .map(|s| {
                let key = group_labels(&s.labels, shape.without, shape.grouping);
                *index.entry(key).or_insert_with_key(|key| {
                    groups.push(SharedLabels::new(key.clone()));
                    groups.len() - 1
                })
            })
            .collect();
        FusedNode {
            group_of,
            groups,
            first_step: 0,
            steps: 0,
            cells: Vec::new(),
        }
    }

    /// Computes the block of steps that begins at step `first`: its two halves at once, on
    /// two threads, when it is long enough to be worth it.
    fn fill(&mut self, ev: &Evaluator, shape: &Shape<'_>, first: usize) -> Result<(), Error> {
        let total = ((ev.query_end - ev.query_start) / ev.query_step) as usize + 1;
        let groups = self.groups.len().max(1);
        let steps = (MAX_CELLS / groups).clamp(1, MAX_STEPS).min(total - first);
        self.first_step = first;
        self.steps = steps;
        self.cells.clear();
        self.cells.resize(
            steps * groups,
            Cell {
                first: usize::MAX,
                acc: Acc::default(),
            },
        );
        // Each step's time and window, found here: the evaluator stays on this thread.
        let windows: Vec<(i64, (i64, i64, i64))> = (0..steps)
            .map(|j| {
                let t = ev.query_start + (first + j) as i64 * ev.query_step;
                (t, window(ev, shape.arg, t))
            })
            .collect();
        let views: Vec<SeriesView<'_>> = ev
            .loaded(&shape.matrix.vs)
            .iter()
            .map(Loaded::view)
            .collect();
        ev.check_deadline_now()?;
        let job = Job {
            views: &views,
            group_of: &self.group_of,
            groups,
            op: shape.op,
            function: shape.function,
            drop_name: !keeps_name(shape.function),
            deadline: ev.options.deadline,
        };
        if steps < PARALLEL_STEPS {
            return job.run(&windows, &mut self.cells);
        }
        let mid = steps / 2;
        let (early, late) = self.cells.split_at_mut(mid * groups);
        std::thread::scope(|scope| {
            let late = scope.spawn(|| job.run(&windows[mid..], late));
            let early = job.run(&windows[..mid], early);
            let late = late
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            early.and(late)
        })
    }

    /// The aggregation's result at step `j` of the block.
    fn vector(&self, j: usize, op: u16) -> Vec<Element> {
        let groups = self.groups.len();
        let row = &self.cells[j * groups..(j + 1) * groups];
        let mut present: Vec<(usize, usize)> = row
            .iter()
            .enumerate()
            .filter(|(_, c)| c.first != usize::MAX)
            .map(|(g, c)| (c.first, g))
            .collect();
        present.sort_unstable();
        present
            .into_iter()
            .map(|(_, g)| Element {
                labels: self.groups[g].clone(),
                v: row[g].acc.result(op),
                drop_name: row[g].acc.drop_name,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use promql_parser::label::Matcher;

    use crate::{Labels, Options, STALE_NAN, Sample, Series, Source, Value};

    /// 30 counters in 4 groups (`g`), sampled every 10 s with jitter for 2 hours: some begin
    /// late (so a group's first series is missing at early steps), some end early, some
    /// reset, one has gaps and stale markers, one holds the same value as another (ties).
    struct Counters(Vec<Series>);

    impl Counters {
        fn new() -> Counters {
            let mut all = Vec::new();
            let mut seed = 7u64;
            let mut random = move || {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) as f64 / (1u64 << 31) as f64
            };
            for i in 0..30i64 {
                let labels: Labels = vec![
                    ("__name__".into(), "requests_total".into()),
                    ("g".into(), format!("{}", (i * 7) % 4)),
                    ("i".into(), format!("{i}")),
                ];
                let (begin, end) = match i % 5 {
                    0 => (1_800_000, 7_200_000),
                    1 => (0, 3_000_000),
                    _ => (0, 7_200_000),
                };
                let mut v = 0.0;
                let mut samples = Vec::new();
                let mut t = begin;
                while t < end {
                    v += (random() * 10.0).floor();
                    if i % 6 == 2 && random() < 0.02 {
                        v = 0.0;
                    }
                    let jitter = (random() * 900.0) as i64;
                    let gap = i == 3 && (2_000_000..2_600_000).contains(&t);
                    if !gap {
                        let value = if i == 3 && random() < 0.05 {
                            f64::from_bits(STALE_NAN)
                        } else {
                            v
                        };
                        samples.push(Sample {
                            t: t + jitter,
                            v: value,
                        });
                    }
                    t += 10_000;
                }
                all.push(Series { labels, samples });
            }
            // A twin of series 5 under another name in its group: equal values, a tie.
            let mut twin = all[5].clone();
            twin.labels[2].1 = "twin".into();
            all.push(twin);
            Counters(all)
        }
    }

    impl Source for Counters {
        fn select(
            &self,
            matchers: &[Matcher],
            start: i64,
            end: i64,
        ) -> Result<Vec<Series>, String> {
            Ok(self
                .0
                .iter()
                .filter(|s| {
                    matchers.iter().all(|m| {
                        m.is_match(
                            s.labels
                                .iter()
                                .find(|(n, _)| *n == m.name)
                                .map_or("", |(_, v)| v),
                        )
                    })
                })
                .map(|s| Series {
                    labels: s.labels.clone(),
                    samples: s
                        .samples
                        .iter()
                        .filter(|p| (start..=end).contains(&p.t))
                        .copied()
                        .collect(),
                })
                .collect())
        }
    }

    type Points = BTreeMap<Labels, Vec<(i64, u64)>>;

    /// The range query's result, and the same query evaluated instant by instant (which
    /// never takes the fused path), as labels → (time, value bits).
    fn both(source: &Counters, query: &str, start: i64, end: i64, step: i64) -> (Points, Points) {
        let options = Options::default();
        let Value::Matrix(matrix) = crate::range(source, query, start, end, step, &options)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
        else {
            panic!("{query}: not a matrix");
        };
        let ranged: Points = matrix
            .into_iter()
            .map(|s| {
                let points = s.samples.iter().map(|p| (p.t, p.v.to_bits())).collect();
                (s.labels, points)
            })
            .collect();
        let mut stepped = Points::new();
        let mut t = start;
        while t <= end {
            match crate::instant(source, query, t, &options).unwrap() {
                Value::Vector(v) => {
                    for s in v {
                        stepped
                            .entry(s.labels)
                            .or_default()
                            .push((t, s.v.to_bits()));
                    }
                }
                other => panic!("{query}: {other:?}"),
            }
            t += step;
        }
        (ranged, stepped)
    }

    #[test]
    fn fused_range_queries_equal_step_by_step_evaluation() {
        let source = Counters::new();
        let queries = [
            "sum(rate(requests_total[1m]))",
            "sum by (g) (rate(requests_total[5m]))",
            "avg by (g) (increase(requests_total[2m]))",
            "max without (i) (irate(requests_total[1m]))",
            "min by (g) (changes(requests_total[3m]))",
            "count by (g) (resets(requests_total[10m]))",
            "stddev by (g) (deriv(requests_total[5m]))",
            "stdvar(avg_over_time(requests_total[1m]))",
            "group by (g) (last_over_time(requests_total[30s]))",
            "sum by (g, __name__) (last_over_time(requests_total[1m]))",
            "sum by (g) (rate(requests_total[5m] offset 10m))",
            "sum by (g) (rate((requests_total[5m])))",
            // Order-sensitive parents of a fused aggregation: ties broken by group order.
            "topk(1, count by (g) (rate(requests_total[1m])))",
            "bottomk(2, sum by (g, i) (count_over_time(requests_total[1m])))",
            "sum(rate(requests_total[5m])) / sum(increase(requests_total[5m]))",
        ];
        // Both cross the 256-step blocks; the second steps off the data's grid.
        for (start, end, step) in [(0, 5_400_000, 15_000), (-60_000, 5_000_000, 17_000)] {
            for query in queries {
                let (ranged, stepped) = both(&source, query, start, end, step);
                assert!(!ranged.is_empty(), "{query}: no result");
                assert_eq!(ranged, stepped, "{query} from {start} to {end} by {step}");
            }
        }
    }

    #[test]
    fn only_parameterless_aggregations_of_a_range_function_of_a_selector_are_fused() {
        let shape = |query: &str| {
            let expr = promql_parser::parser::parse(query).unwrap();
            let promql_parser::parser::Expr::Aggregate(a) = expr else {
                panic!("{query}")
            };
            super::Shape::of(&a).is_some()
        };
        assert!(shape("sum by (g) (rate(x[5m]))"));
        assert!(shape("avg((max_over_time((x[5m]))))"));
        assert!(!shape("topk(3, rate(x[5m]))"));
        assert!(!shape("quantile(0.5, rate(x[5m]))"));
        assert!(!shape("sum(x)"));
        assert!(!shape("sum(predict_linear(x[5m], 60))"));
        assert!(!shape("sum(absent_over_time(x[5m]))"));
        assert!(!shape("sum(rate(x[5m:1m]))"));
    }
}
