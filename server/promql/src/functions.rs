//! PromQL functions: range-vector functions (`rate`, `*_over_time`, ...), instant-vector
//! functions (math, `histogram_quantile`, `label_replace`, dates, ...) and the few that take
//! or return scalars.
//!
//! Every function that computes a new value marks its result's name for dropping; only
//! `last_over_time`/`first_over_time` (which act like an `offset`) and the label and sort
//! functions keep it, as in Prometheus.

use std::rc::Rc;

use promql_parser::label::MatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr};
use rustc_hash::FxHashMap as HashMap;

use crate::eval::{Evaluator, Window, duplicate_labelset, millis, val_name};
use crate::quantile::{Bucket, bucket_fraction, bucket_quantile, kahan_inc, quantile, sort_values};
use crate::value::{self, Element, METRIC_NAME, Val};
use crate::{Error, Labels, Sample};

pub(crate) fn eval(ev: &Evaluator, call: &Call, t: i64) -> Result<Val, Error> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some(i) = args
        .iter()
        .position(|a| a.value_type() == ValueType::Matrix)
    {
        return range_function(ev, name, &args, i, t);
    }
    match name {
        "time" => Ok(Val::Scalar(t as f64 / 1000.0)),
        "start" => Ok(Val::Scalar(ev.query_start as f64 / 1000.0)),
        "end" => Ok(Val::Scalar(ev.query_end as f64 / 1000.0)),
        "range" => Ok(Val::Scalar((ev.query_end - ev.query_start) as f64 / 1000.0)),
        "step" => Ok(Val::Scalar(ev.query_step as f64 / 1000.0)),
        "min_of" | "max_of" => {
            let (a, b) = (ev.eval_scalar(args[0], t)?, ev.eval_scalar(args[1], t)?);
            Ok(Val::Scalar(if name == "min_of" {
                go_min(a, b)
            } else {
                go_max(a, b)
            }))
        }
        "pi" => Ok(Val::Scalar(std::f64::consts::PI)),
        "scalar" => {
            let v = ev.eval_vector(args[0], t)?;
            Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "vector" => {
            let v = ev.eval_scalar(args[0], t)?;
            Ok(Val::Vector(vec![Element {
                labels: Vec::new().into(),
                v,
                drop_name: false,
            }]))
        }
        "timestamp" => timestamp(ev, args[0], t),
        "absent" => {
            let v = ev.eval_vector(args[0], t)?;
            if !v.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            Ok(Val::Vector(vec![Element {
                labels: absent_labels(args[0]).into(),
                v: 1.0,
                drop_name: false,
            }]))
        }
        "label_replace" => label_replace(ev, &args, t),
        "info" => crate::info::eval(ev, call, t),
        "label_join" => label_join(ev, &args, t),
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(args[0], t)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| order_nan_last(a.v, b.v, desc));
            Ok(Val::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = ev.eval_vector(args[0], t)?;
            let names: Vec<String> = args[1..]
                .iter()
                .map(|a| string_arg(ev, a, t))
                .collect::<Result<_, _>>()?;
            v.sort_by(|a, b| {
                let mut ord = std::cmp::Ordering::Equal;
                for n in &names {
                    ord = natural_cmp(value::get(&a.labels, n), value::get(&b.labels, n));
                    if ord.is_ne() {
                        break;
                    }
                }
                if ord.is_eq() {
                    ord = a.labels.cmp(&b.labels);
                }
                if name == "sort_by_label_desc" {
                    ord.reverse()
                } else {
                    ord
                }
            });
            Ok(Val::Vector(v))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(args[0], t)?;
            let v = ev.eval_vector(args[1], t)?;
            Ok(Val::Vector(histogram_quantile(q, v)))
        }
        "histogram_fraction" => {
            let lower = ev.eval_scalar(args[0], t)?;
            let upper = ev.eval_scalar(args[1], t)?;
            let v = ev.eval_vector(args[2], t)?;
            let out = classic_histograms(v)
                .into_iter()
                .map(|(labels, mut buckets)| Element {
                    labels: labels.into(),
                    v: bucket_fraction(lower, upper, &mut buckets),
                    drop_name: true,
                })
                .collect();
            Ok(Val::Vector(out))
        }
        "histogram_quantiles" => {
            let v = ev.eval_vector(args[0], t)?;
            let label = string_arg(ev, args[1], t)?;
            let qs: Vec<f64> = args[2..]
                .iter()
                .map(|a| ev.eval_scalar(a, t))
                .collect::<Result<_, _>>()?;
            let histograms = classic_histograms(v);
            let mut out = Vec::new();
            for q in qs {
                for (labels, buckets) in &histograms {
                    let mut labels = labels.clone();
                    value::set(&mut labels, &label, &format_openmetrics_float(q));
                    out.push(Element {
                        labels: labels.into(),
                        v: bucket_quantile(q, &mut buckets.clone()),
                        drop_name: true,
                    });
                }
            }
            Ok(Val::Vector(out))
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            // These read native histograms only, which this engine never has.
            for a in &args {
                ev.eval(a, t)?;
            }
            Ok(Val::Vector(Vec::new()))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let v = ev.eval_vector(args[0], t)?;
            let (lo, hi) = match name {
                "clamp" => (ev.eval_scalar(args[1], t)?, ev.eval_scalar(args[2], t)?),
                "clamp_min" => (ev.eval_scalar(args[1], t)?, f64::INFINITY),
                _ => (f64::NEG_INFINITY, ev.eval_scalar(args[1], t)?),
            };
            if hi < lo {
                return Ok(Val::Vector(Vec::new()));
            }
            Ok(Val::Vector(map_values(v, |x| go_max(lo, go_min(hi, x)))))
        }
        "round" => {
            let v = ev.eval_vector(args[0], t)?;
            let to_nearest = match args.get(1) {
                Some(a) => ev.eval_scalar(a, t)?,
                None => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            Ok(Val::Vector(map_values(v, |x| {
                (x * inverse + 0.5).floor() / inverse
            })))
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute"
        | "month" | "year" => {
            let f = date_function(name);
            match args.first() {
                None => Ok(Val::Vector(vec![Element {
                    labels: Vec::new().into(),
                    v: f(t.div_euclid(1000)),
                    drop_name: false,
                }])),
                Some(a) => {
                    let v = ev.eval_vector(a, t)?;
                    Ok(Val::Vector(map_values(v, |x| f(go_int64(x)))))
                }
            }
        }
        _ => {
            let Some(f) = math_function(name) else {
                return Err(Error::Execution(format!(
                    "function {name}() is not supported"
                )));
            };
            let v = ev.eval_vector(args[0], t)?;
            Ok(Val::Vector(map_values(v, f)))
        }
    }
}

fn map_values(v: Vec<Element>, f: impl Fn(f64) -> f64) -> Vec<Element> {
    v.into_iter()
        .map(|e| Element {
            labels: e.labels,
            v: f(e.v),
            drop_name: true,
        })
        .collect()
}

/// Go's `math.Max`: NaN wins, +0 beats -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b { a } else { b }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b { a } else { b }
}

/// Go's `int64(f)` on amd64: truncation, with NaN and out-of-range values becoming
/// math.MinInt64.
fn go_int64(f: f64) -> i64 {
    if f.is_nan() || !(-(2f64.powi(63))..2f64.powi(63)).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

fn math_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn order_nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Equal),
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// Compares strings with runs of digits compared as numbers ("a2" < "a10"), as Prometheus'
/// sort_by_label does.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() && !b.is_empty() {
        if a[0].is_ascii_digit() && b[0].is_ascii_digit() {
            let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let na = std::str::from_utf8(&a[..da])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[..db])
                .unwrap_or("")
                .trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord.is_ne() {
                return ord;
            }
            a = &a[da..];
            b = &b[db..];
        } else {
            if a[0] != b[0] {
                return a[0].cmp(&b[0]);
            }
            a = &a[1..];
            b = &b[1..];
        }
    }
    a.len().cmp(&b.len())
}

fn string_arg(ev: &Evaluator, e: &Expr, t: i64) -> Result<String, Error> {
    match ev.eval(e, t)? {
        Val::String(s) => Ok(s),
        other => Err(Error::Execution(format!(
            "expected a string, got {}",
            val_name(&other)
        ))),
    }
}

fn timestamp(ev: &Evaluator, arg: &Expr, t: i64) -> Result<Val, Error> {
    let mut inner = arg;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    if let Expr::VectorSelector(vs) = inner {
        let out = ev
            .vector_selector_timed(vs, t)
            .into_iter()
            .map(|(e, sample_t)| Element {
                labels: e.labels,
                v: sample_t as f64 / 1000.0,
                drop_name: true,
            })
            .collect();
        return Ok(Val::Vector(out));
    }
    let v = ev.eval_vector(arg, t)?;
    Ok(Val::Vector(map_values(v, |_| t as f64 / 1000.0)))
}

/// The labels `absent(selector)` answers with: the selector's equality matchers (a label
/// matched twice is left out).
fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Vec::new(),
    };
    let mut labels: Labels = Vec::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(&m.name.as_str()) {
            value::set(&mut labels, &m.name, &m.value);
            has.push(&m.name);
        } else {
            value::remove(&mut labels, &m.name);
        }
    }
    labels
}

fn check_unique(v: &[Element]) -> Result<(), Error> {
    let mut seen: Vec<&Labels> = v.iter().map(|e| &*e.labels).collect();
    seen.sort();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(duplicate_labelset());
    }
    Ok(())
}

fn label_replace(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Val, Error> {
    let dst = string_arg(ev, args[1], t)?;
    let replacement = string_arg(ev, args[2], t)?;
    let src = string_arg(ev, args[3], t)?;
    let pattern = string_arg(ev, args[4], t)?;
    let regex = ev.regex(&format!("^(?s:{pattern})$")).map_err(|_| {
        Error::Execution(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !value::valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut v = ev.eval_vector(args[0], t)?;
    for e in &mut v {
        let src_value = value::get(&e.labels, &src).to_string();
        if let Some(caps) = regex.captures(&src_value) {
            let mut out = String::new();
            caps.expand(&replacement, &mut out);
            value::set(Rc::make_mut(&mut e.labels), &dst, &out);
            if dst == METRIC_NAME {
                e.drop_name = false;
            }
        }
    }
    check_unique(&v)?;
    Ok(Val::Vector(v))
}

fn label_join(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Val, Error> {
    let dst = string_arg(ev, args[1], t)?;
    let separator = string_arg(ev, args[2], t)?;
    let sources: Vec<String> = args[3..]
        .iter()
        .map(|a| string_arg(ev, a, t))
        .collect::<Result<_, _>>()?;
    if !value::valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut v = ev.eval_vector(args[0], t)?;
    for e in &mut v {
        let joined: Vec<&str> = sources.iter().map(|s| value::get(&e.labels, s)).collect();
        let joined = joined.join(&separator);
        value::set(Rc::make_mut(&mut e.labels), &dst, &joined);
        if dst == METRIC_NAME {
            e.drop_name = false;
        }
    }
    check_unique(&v)?;
    Ok(Val::Vector(v))
}

fn histogram_quantile(q: f64, v: Vec<Element>) -> Vec<Element> {
    classic_histograms(v)
        .into_iter()
        .map(|(labels, mut buckets)| Element {
            labels: labels.into(),
            v: bucket_quantile(q, &mut buckets),
            drop_name: true,
        })
        .collect()
}

/// Prometheus' `labels.FormatOpenMetricsFloat`: integers get a ".0".
fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = go_format_g(f);
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for a finite `f`: the shortest digits, in
/// exponent form (`1e+06`, `1.5e-07`) when the exponent is below -4 or at least 6.
fn go_format_g(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// The classic histograms in a vector: its elements grouped by every label but `le`, each
/// with its buckets. Elements without a numeric `le` are left out.
fn classic_histograms(v: Vec<Element>) -> Vec<(Labels, Vec<Bucket>)> {
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    for e in v {
        let Some(upper_bound) = parse_go_float(value::get(&e.labels, "le")) else {
            continue;
        };
        let mut labels = Rc::unwrap_or_clone(e.labels);
        value::remove(&mut labels, "le");
        let i = *index.entry(labels.clone()).or_insert_with(|| {
            groups.push((labels, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(Bucket {
            upper_bound,
            count: e.v,
        });
    }
    groups
}

/// Go's `strconv.ParseFloat` for the forms bucket bounds take ("0.5", "1e3", "+Inf", "NaN").
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn date_function(name: &str) -> fn(i64) -> f64 {
    match name {
        "days_in_month" => |s| {
            let (y, m, _) = civil(s);
            days_in_month(y, m) as f64
        },
        "day_of_month" => |s| civil(s).2 as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_year" => |s| {
            let (y, m, d) = civil(s);
            ((1..m).map(|mm| days_in_month(y, mm)).sum::<i64>() + d) as f64
        },
        "hour" => |s| s.rem_euclid(86_400).div_euclid(3600) as f64,
        "minute" => |s| s.rem_euclid(3600).div_euclid(60) as f64,
        "month" => |s| civil(s).1 as f64,
        _ => |s| civil(s).0 as f64,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month 1-12, day 1-31) of a Unix time in seconds, UTC (Howard Hinnant's algorithm).
fn civil(secs: i64) -> (i64, i64, i64) {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The window a range argument covers when evaluated at `t`: (start, end], in ms, and its
/// length.
pub(crate) fn window(ev: &Evaluator, arg: &Expr, t: i64) -> (i64, i64, i64) {
    match arg {
        Expr::MatrixSelector(ms) => {
            let end = ev.selector_time_of(&ms.vs.at, &ms.vs.offset, t);
            let range = millis(&ms.range);
            (end.saturating_sub(range), end, range)
        }
        Expr::Subquery(sq) => {
            let end = ev.selector_time_of(&sq.at, &sq.offset, t);
            let range = millis(&sq.range);
            (end.saturating_sub(range), end, range)
        }
        Expr::Paren(p) => window(ev, &p.expr, t),
        _ => (t, t, 0),
    }
}

fn range_function(
    ev: &Evaluator,
    name: &str,
    args: &[&Expr],
    matrix_arg: usize,
    t: i64,
) -> Result<Val, Error> {
    let mut scalars = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != matrix_arg {
            scalars.push(ev.eval_scalar(a, t)?);
        }
    }
    let (start, end, range) = window(ev, args[matrix_arg], t);
    if name == "absent_over_time" {
        let mut any = false;
        ev.for_each_window(args[matrix_arg], t, &mut |_, _, _| {
            any = true;
            Ok(())
        })?;
        if any {
            return Ok(Val::Vector(Vec::new()));
        }
        return Ok(Val::Vector(vec![Element {
            labels: absent_labels(args[matrix_arg]).into(),
            v: 1.0,
            drop_name: true,
        }]));
    }
    let drops_name = !keeps_name(name);
    let mut out = Vec::new();
    ev.for_each_window(args[matrix_arg], t, &mut |labels, drop_name, window| {
        ev.check_deadline()?;
        if let Some(v) = window_value(name, window, (start, end, range), t, &scalars)? {
            out.push(Element {
                labels: labels.clone(),
                v,
                drop_name: drop_name || drops_name,
            });
        }
        Ok(())
    })?;
    Ok(Val::Vector(out))
}

/// Whether a range function's result keeps its series' name: `last_over_time` and
/// `first_over_time` act like an `offset`.
pub(crate) fn keeps_name(name: &str) -> bool {
    matches!(name, "last_over_time" | "first_over_time")
}

/// The value of the range function `name` over one series' window, which covers
/// (start, end] and is `range` ms long (`span`), at evaluation time `t`; `scalars` are the
/// function's other arguments. `None` when the window yields no value.
pub(crate) fn window_value(
    name: &str,
    window: Window<'_>,
    (start, end, range): (i64, i64, i64),
    t: i64,
    scalars: &[f64],
) -> Result<Option<f64>, Error> {
    let samples = window.samples;
    // A counter's resets only need looking for when the window may have one.
    let counter = !window.without_resets;
    let v = match name {
        "rate" => extrapolated_rate(samples, start, end, range, true, counter, true),
        "increase" => extrapolated_rate(samples, start, end, range, true, counter, false),
        "delta" => extrapolated_rate(samples, start, end, range, false, false, false),
        "irate" => instant_value(samples, true),
        "idelta" => instant_value(samples, false),
        "deriv" => (samples.len() >= 2).then(|| linear_regression(samples, samples[0].t).0),
        "predict_linear" => (samples.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(samples, t);
            slope * scalars[0] + intercept
        }),
        "resets" => Some(samples.windows(2).filter(|w| w[1].v < w[0].v).count() as f64),
        "changes" => Some(
            samples
                .windows(2)
                .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
                .count() as f64,
        ),
        "avg_over_time" => Some(avg(samples)),
        "sum_over_time" => Some(sum(samples)),
        "count_over_time" => Some(samples.len() as f64),
        "min_over_time" => Some(compare_over_time(samples, |cur, m| cur < m || m.is_nan()).0),
        "max_over_time" => Some(compare_over_time(samples, |cur, m| cur > m || m.is_nan()).0),
        "ts_of_min_over_time" => Some(compare_over_time(samples, |cur, m| cur < m || m.is_nan()).1),
        "ts_of_max_over_time" => Some(compare_over_time(samples, |cur, m| cur > m || m.is_nan()).1),
        "last_over_time" => samples.last().map(|s| s.v),
        "first_over_time" => samples.first().map(|s| s.v),
        "ts_of_last_over_time" => samples.last().map(|s| s.t as f64 / 1000.0),
        "ts_of_first_over_time" => samples.first().map(|s| s.t as f64 / 1000.0),
        "present_over_time" => Some(1.0),
        "quantile_over_time" => {
            let mut values: Vec<f64> = samples.iter().map(|s| s.v).collect();
            Some(quantile(scalars[0], &mut values))
        }
        "stddev_over_time" => Some(variance(samples).sqrt()),
        "stdvar_over_time" => Some(variance(samples)),
        "mad_over_time" => Some(mad(samples)),
        "double_exponential_smoothing" => {
            let (sf, tf) = (scalars[0], scalars[1]);
            if sf <= 0.0 || sf >= 1.0 {
                return Err(Error::Execution(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf <= 0.0 || tf >= 1.0 {
                return Err(Error::Execution(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            double_exponential_smoothing(samples, sf, tf)
        }
        _ => {
            return Err(Error::Execution(format!(
                "function {name}() is not supported"
            )));
        }
    };
    Ok(v)
}

/// `rate`, `increase` and `delta`: the change over the samples in the window, corrected for
/// counter resets and extrapolated toward the window's edges (but not past half a sample
/// interval beyond the first/last sample, nor below zero for counters), as Prometheus'
/// `extrapolatedRate`. `may_reset` is false when the caller knows the window holds no reset,
/// which spares the look for them.
pub(crate) fn extrapolated_rate(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    may_reset: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.v - first.v;
    if is_counter && may_reset {
        for w in samples.windows(2) {
            if w[1].v < w[0].v {
                result += w[0].v;
            }
        }
    }
    let mut duration_to_start = span_ms(range_start, first.t) / 1000.0;
    let mut duration_to_end = span_ms(last.t, range_end) / 1000.0;
    let sampled_interval = span_ms(first.t, last.t) / 1000.0;
    let average_between = sampled_interval / (samples.len() - 1) as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `to - from` in ms as a float, exact where Prometheus' int64 difference is (and without
/// overflowing where it would not be).
fn span_ms(from: i64, to: i64) -> f64 {
    // The i128 conversion is a library call: only for the spans an i64 cannot hold.
    match to.checked_sub(from) {
        Some(d) => d as f64,
        None => (to as i128 - from as i128) as f64,
    }
}

/// `irate` and `idelta`: from the last two samples only.
fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let prev = samples[samples.len() - 2];
    let last = samples[samples.len() - 1];
    let interval = span_ms(prev.t, last.t);
    if interval == 0.0 {
        return None;
    }
    // After a counter reset the last value is the increase since the reset.
    let mut v = last.v;
    let reset = last.v < prev.v;
    if !is_rate || !reset {
        v = last.v - prev.v;
    }
    if is_rate {
        v /= interval / 1000.0;
    }
    Some(v)
}

/// Least squares fit of value over time (seconds from `intercept_time`): (slope, intercept).
fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = span_ms(intercept_time, s.t) / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn avg(samples: &[Sample]) -> f64 {
    let (mut sum, mut count) = (samples[0].v, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, s) in samples[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(s.v, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(s.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn sum(samples: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for s in samples {
        (sum, c) = kahan_inc(s.v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// The winning value by `better(candidate, current)` and its time in seconds.
fn compare_over_time(samples: &[Sample], better: impl Fn(f64, f64) -> bool) -> (f64, f64) {
    let mut best = samples[0];
    for s in samples {
        if better(s.v, best.v) {
            best = *s;
        }
    }
    (best.v, best.t as f64 / 1000.0)
}

fn variance(samples: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in samples {
        count += 1.0;
        let delta = s.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Holt's linear smoothing: the smoothed value at the last sample.
fn double_exponential_smoothing(samples: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, samples[0].v);
    let mut b = samples[1].v - samples[0].v;
    for (i, s) in samples.iter().enumerate().skip(1) {
        let x = sf * s.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

fn mad(samples: &[Sample]) -> f64 {
    if samples.iter().any(|s| s.v.is_nan()) {
        return f64::NAN;
    }
    let mut values: Vec<f64> = samples.iter().map(|s| s.v).collect();
    let median = quantile(0.5, &mut values);
    for v in &mut values {
        *v = (*v - median).abs();
    }
    sort_values(&mut values);
    quantile(0.5, &mut values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { t, v }).collect()
    }

    #[test]
    fn rate_extrapolates_to_the_window_edges() {
        // 0, 10, ..., 50 every 10s over a 60s window ending 5s after the last sample:
        // the window starts 5s before the first, so both edges extrapolate fully.
        let s = samples(&[
            (5_000, 0.0),
            (15_000, 10.0),
            (25_000, 20.0),
            (35_000, 30.0),
            (45_000, 40.0),
            (55_000, 50.0),
        ]);
        let inc = extrapolated_rate(&s, 0, 60_000, 60_000, false, false, false).unwrap();
        assert!((inc - 60.0).abs() < 1e-9, "{inc}");
    }

    #[test]
    fn counter_extrapolation_stops_at_zero() {
        // A counter starting at 5 at t=30s in a 60s window: extrapolating 30s back at 1/s
        // would go below zero, so it stops at 5s before the first sample.
        let s = samples(&[
            (30_000, 5.0),
            (40_000, 15.0),
            (50_000, 25.0),
            (60_000, 35.0),
        ]);
        let inc = extrapolated_rate(&s, 0, 60_000, 60_000, true, true, false).unwrap();
        // sampled 30s, +5s toward start (threshold 11s > 30s? no: avg 10s, 30s >= 11s so
        // half an interval, 5s, which is below the 5s to zero), end at the window edge.
        assert!((inc - 35.0).abs() < 1e-9, "{inc}");
    }

    #[test]
    fn counter_resets_add_the_value_before_the_reset() {
        let s = samples(&[(0, 10.0), (10_000, 20.0), (20_000, 5.0), (30_000, 15.0)]);
        let inc = extrapolated_rate(&s, 0, 30_000, 30_000, true, true, false).unwrap();
        assert_eq!(inc, 25.0);
    }

    #[test]
    fn irate_uses_the_last_two_samples() {
        let s = samples(&[(0, 0.0), (10_000, 100.0), (20_000, 150.0)]);
        assert_eq!(instant_value(&s, true), Some(5.0));
        let reset = samples(&[(0, 100.0), (10_000, 20.0)]);
        assert_eq!(instant_value(&reset, true), Some(2.0));
    }

    #[test]
    fn quantile_labels_read_as_prometheus_writes_them() {
        let cases = [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (0.99, "0.99"),
            (-0.1, "-0.1"),
            (1e-7, "1e-07"),
            (1_500_000.0, "1.5e+06"),
            (123_456.0, "123456.0"),
        ];
        for (f, want) in cases {
            assert_eq!(format_openmetrics_float(f), want);
        }
    }

    #[test]
    fn dates_are_utc() {
        // 2024-02-29T13:45:00Z
        let s = 1_709_214_300;
        assert_eq!(civil(s), (2024, 2, 29));
        assert_eq!(date_function("days_in_month")(s), 29.0);
        assert_eq!(date_function("day_of_year")(s), 60.0);
        assert_eq!(date_function("hour")(s), 13.0);
        assert_eq!(date_function("minute")(s), 45.0);
        assert_eq!(date_function("day_of_week")(s), 4.0);
    }
}
