//! Runs Prometheus' own PromQL evaluation tests (`promql/promqltest/testdata/*.test`, kept in
//! `shared/testdata/promqltest/`) against this engine with an in-memory source.
//!
//! The script language is Prometheus' (`load`, `clear`, `eval instant|range`, `expect ...`),
//! and results are compared as Prometheus' runner compares them: the same label sets, floats
//! equal within a relative 1e-6 (NaN equals NaN), order only under `expect ordered`, and every
//! instant query also run as a range query around its time whose point there must agree.
//!
//! What is not run is listed in `promqltest-skips.md` beside this file and in `SKIPS` below:
//! whole files, and single cases by line, each with its reason. Any other case that gives a
//! wrong answer fails the test. Annotations (`expect warn`/`expect info`) are not produced by
//! this engine and are not checked; `expect no_warn`/`no_info` hold trivially.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use otelite_promql::promql_parser::label::Matcher;
use otelite_promql::{Error, Labels, Options, STALE_NAN, Sample, Series, Source, Value};

/// Files not run at all, with the reason.
const SKIPPED_FILES: &[(&str, &str)] = &[
    (
        "native_histograms.test",
        "native histograms are out of scope",
    ),
    (
        "start_timestamps.test",
        "start timestamps (`@st` lines) are not part of the Source interface",
    ),
];

/// Single cases not run, by file and the line of their `eval`, with the reason.
const SKIPPED_CASES: &[(&str, usize, &str)] = &[(
    "functions.test",
    523,
    "label_replace() to the label name \"\\xff\" must fail as invalid UTF-8, but promql-parser \
     unescapes the literal into a valid Rust string",
)];

/// Prometheus' `defaultEpsilon`: the relative error allowed for sample values.
const EPSILON: f64 = 0.000_001;

#[derive(Default)]
struct MemorySource {
    /// Samples by time: a later load of the same series and time replaces the value.
    series: BTreeMap<Labels, BTreeMap<i64, f64>>,
    /// Series loaded with native histogram samples (`{{...}}`), which are not loaded.
    native: Vec<Labels>,
    /// Whether a select since the last reset matched one of `native`.
    touched_native: Cell<bool>,
}

fn matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| {
        let v = labels
            .iter()
            .find(|(n, _)| *n == m.name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        m.is_match(v)
    })
}

impl Source for MemorySource {
    fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>, String> {
        if self.native.iter().any(|l| matches(l, matchers)) {
            self.touched_native.set(true);
        }
        let mut out = Vec::new();
        for (labels, samples) in &self.series {
            if !matches(labels, matchers) {
                continue;
            }
            let samples: Vec<Sample> = samples
                .range(start..=end)
                .map(|(&t, &v)| Sample { t, v })
                .collect();
            if samples.is_empty() {
                continue;
            }
            out.push(Series {
                labels: labels.clone(),
                samples,
            });
        }
        Ok(out)
    }
}

#[derive(Default)]
struct FileReport {
    passed: usize,
    skipped: usize,
    /// Of `skipped`, the cases whose query promql-parser does not parse.
    unparsed: usize,
    /// Of `skipped`, the cases with native histograms in the query, expectation or data read.
    native: usize,
    failures: Vec<String>,
}

#[test]
fn prometheus_promqltest_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/promqltest");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "Prometheus' test files are expected in {} ({e}); copy promql/promqltest/testdata/*.test there",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let mut summary = String::new();
    let mut all_failures = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some((_, reason)) = SKIPPED_FILES.iter().find(|(f, _)| *f == name) {
            summary.push_str(&format!("{name:28} skipped: {reason}\n"));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let report = run_file(&name, &text);
        summary.push_str(&format!(
            "{name:28} passed {:4}  skipped {:4} (native histograms {:3}, unparsable {:3}, listed {:2})  failed {:4}\n",
            report.passed,
            report.skipped,
            report.native,
            report.unparsed,
            report.skipped - report.native - report.unparsed,
            report.failures.len()
        ));
        all_failures.extend(report.failures);
    }
    println!("{summary}");
    if !all_failures.is_empty() {
        for f in &all_failures {
            println!("FAIL {f}");
        }
        panic!(
            "{} promqltest case(s) failed:\n{summary}",
            all_failures.len()
        );
    }
}

fn run_file(file: &str, text: &str) -> FileReport {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut report = FileReport::default();
    let mut source = MemorySource::default();
    let mut i = 0;
    let mut ignoring = false;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "ignore" {
            ignoring = true;
            continue;
        }
        if line == "resume" {
            ignoring = false;
            continue;
        }
        if line == "clear" {
            source = MemorySource::default();
            continue;
        }
        let block_start = i;
        let mut block = Vec::new();
        while i < lines.len() && !lines[i].is_empty() {
            if !lines[i].starts_with('#') {
                block.push(lines[i]);
            }
            i += 1;
        }
        if let Some(rest) = line.strip_prefix("load") {
            // `load_with_nhcb` also loads each classic histogram as a native histogram with
            // custom buckets, under the name without `_bucket`/`_sum`/`_count`.
            let with_nhcb = rest.starts_with("_with_nhcb");
            let rest = rest.trim_start_matches("_with_nhcb").trim();
            let interval = parse_duration(rest)
                .unwrap_or_else(|| panic!("{file}:{block_start}: bad load interval {rest}"));
            for def in &block {
                if def.contains("{{") {
                    let (labels, _) =
                        parse_labels(def).unwrap_or_else(|e| panic!("{file}:{block_start}: {e}"));
                    source.native.push(labels);
                    continue;
                }
                let (labels, values) =
                    parse_series(def).unwrap_or_else(|e| panic!("{file}:{}: {e}", block_start));
                if with_nhcb {
                    let name = labels
                        .iter()
                        .find(|(n, _)| n == "__name__")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    if let Some(base) = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                    {
                        let mut native: Labels = labels
                            .iter()
                            .filter(|(n, _)| n != "le" && n != "__name__")
                            .cloned()
                            .collect();
                        native.push(("__name__".to_string(), base.to_string()));
                        native.sort();
                        source.native.push(native);
                    }
                }
                let samples = source.series.entry(labels).or_default();
                for (k, v) in values.into_iter().enumerate() {
                    if let Some(v) = v {
                        samples.insert(k as i64 * interval, v);
                    }
                }
            }
            continue;
        }
        if line.starts_with("eval") {
            if ignoring {
                report.skipped += 1;
                continue;
            }
            if let Some((_, _, _reason)) = SKIPPED_CASES
                .iter()
                .find(|(f, l, _)| *f == file && *l == block_start)
            {
                report.skipped += 1;
                continue;
            }
            if line.contains("{{") || block.iter().any(|l| l.contains("{{")) {
                // Native histogram samples in the query or the expectation.
                report.skipped += 1;
                report.native += 1;
                continue;
            }
            if let Some(query) = query_of(line)
                && otelite_promql::promql_parser::parser::parse(query).is_err()
            {
                // Prometheus' runner rejects a file whose queries do not parse, so this is
                // syntax promql-parser lacks, never an expected failure.
                if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
                    println!("skip {file}:{block_start}: {line} (promql-parser cannot parse it)");
                }
                report.skipped += 1;
                report.unparsed += 1;
                continue;
            }
            source.touched_native.set(false);
            let outcome = run_eval(&source, line, &block);
            if source.touched_native.get() {
                // The query reads series loaded with native histogram samples.
                if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
                    println!("skip {file}:{block_start}: {line} (reads native histograms)");
                }
                report.skipped += 1;
                report.native += 1;
                continue;
            }
            match outcome {
                Ok(()) => report.passed += 1,
                Err(e) => report
                    .failures
                    .push(format!("{file}:{block_start}: {line}\n    {e}")),
            }
            continue;
        }
        panic!("{file}:{block_start}: unknown command {line}");
    }
    report
}

struct Expectation {
    fail: bool,
    fail_msg: Option<String>,
    fail_regex: Option<regex::Regex>,
    ordered: bool,
    scalar: Option<f64>,
    string: Option<String>,
    range_vector: Option<(i64, i64, i64)>,
    /// Expected series in order, each with its values (None: omitted).
    series: Vec<(Labels, Vec<Option<f64>>)>,
}

fn run_eval(source: &MemorySource, line: &str, block: &[&str]) -> Result<(), String> {
    let (modifier, rest) = match line.split_once(char::is_whitespace) {
        Some((cmd, rest)) => (
            cmd.strip_prefix("eval")
                .unwrap_or("")
                .trim_start_matches('_')
                .to_string(),
            rest.trim(),
        ),
        None => return Err("empty eval".into()),
    };
    let mut exp = Expectation {
        fail: modifier == "fail",
        fail_msg: None,
        fail_regex: None,
        ordered: modifier == "ordered",
        scalar: None,
        string: None,
        range_vector: None,
        series: Vec::new(),
    };
    for def in block {
        if let Some(m) = def.strip_prefix("expected_fail_message") {
            exp.fail_msg = Some(m.trim().to_string());
        } else if let Some(r) = def.strip_prefix("expected_fail_regexp") {
            exp.fail_regex = Some(regex::Regex::new(r.trim()).map_err(|e| e.to_string())?);
        } else if let Some(r) = def.strip_prefix("expect range vector") {
            let (from, to, step) = parse_from_to_step(r.trim()).ok_or("bad expect range vector")?;
            exp.range_vector = Some((from, to, step));
        } else if let Some(s) = def.strip_prefix("expect string") {
            exp.string = Some(unquote(s.trim()).ok_or("bad expect string")?);
        } else if def.split(' ').next() == Some("expect") {
            let rest = def["expect".len()..].trim();
            let (kind, matcher) = match rest.split_once(char::is_whitespace) {
                Some((k, m)) => (k, Some(m.trim())),
                None => (rest, None),
            };
            match kind {
                "fail" => {
                    exp.fail = true;
                    if let Some(m) = matcher {
                        if let Some(msg) = m.strip_prefix("msg:") {
                            exp.fail_msg = Some(msg.trim().to_string());
                        } else if let Some(r) = m.strip_prefix("regex:") {
                            exp.fail_regex =
                                Some(regex::Regex::new(r.trim()).map_err(|e| e.to_string())?);
                        }
                    }
                }
                "ordered" => exp.ordered = true,
                // Annotations are not produced by this engine (see the module doc).
                "warn" | "info" | "no_warn" | "no_info" => {}
                other => return Err(format!("unknown expectation {other}")),
            }
        } else if let Some(v) = parse_number(def) {
            exp.scalar = Some(v);
        } else {
            let (labels, values) = parse_series(def)?;
            exp.series.push((labels, values));
        }
    }

    let options = Options::default();
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim();
        let r = r
            .strip_prefix("at")
            .ok_or("instant eval without `at`")?
            .trim();
        let (at, query) = r
            .split_once(char::is_whitespace)
            .ok_or("instant eval without a query")?;
        let t = parse_duration(at).ok_or_else(|| format!("bad time {at}"))?;
        run_instant(source, &exp, query, t)?;
        // Prometheus' runner also evaluates the query with `@ t` on every selector, at other
        // times, expecting the same answer.
        for (variant, at) in at_modifier_variants(query, t) {
            run_instant(source, &exp, &variant, at)
                .map_err(|e| format!("with @ ({variant} at {at}): {e}"))?;
        }
        return Ok(());
    }
    if let Some(r) = rest.strip_prefix("range") {
        let r = r.trim();
        let r = r
            .strip_prefix("from")
            .ok_or("range eval without `from`")?
            .trim();
        let (from, r) = r.split_once(" to ").ok_or("range eval without `to`")?;
        let (to, r) = r
            .trim()
            .split_once(" step ")
            .ok_or("range eval without `step`")?;
        let (step, query) = r
            .trim()
            .split_once(char::is_whitespace)
            .ok_or("range eval without a query")?;
        let (from, to, step) = (
            parse_duration(from.trim()).ok_or("bad from")?,
            parse_duration(to.trim()).ok_or("bad to")?,
            parse_duration(step.trim()).ok_or("bad step")?,
        );
        let result = otelite_promql::range(source, query, from, to, step, &options);
        let value = match check_failure(&exp, result)? {
            Some(v) => v,
            None => return Ok(()),
        };
        let exp = Expectation {
            range_vector: Some((from, to, step)),
            ..exp
        };
        compare(&exp, &value, from).map_err(|e| format!("{e}\n    got {value:?}"))?;
        return Ok(());
    }
    Err(format!("unknown eval {rest}"))
}

/// The query of an `eval` line.
fn query_of(line: &str) -> Option<&str> {
    let rest = line.split_once(char::is_whitespace)?.1.trim();
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim().strip_prefix("at")?.trim();
        return Some(r.split_once(char::is_whitespace)?.1.trim());
    }
    let r = rest.strip_prefix("range")?.trim();
    let (_, r) = r.split_once(" step ")?;
    Some(r.trim().split_once(char::is_whitespace)?.1.trim())
}

/// One instant query, then the same as a range query around `t` (whose point at `t` must
/// agree), as Prometheus' `runInstantQuery`.
fn run_instant(
    source: &MemorySource,
    exp: &Expectation,
    query: &str,
    t: i64,
) -> Result<(), String> {
    let options = Options::default();
    let result = otelite_promql::instant(source, query, t, &options);
    let value = match check_failure(exp, result)? {
        Some(v) => v,
        None => return Ok(()),
    };
    compare(exp, &value, t).map_err(|e| format!("{e}\n    got {value:?}"))?;
    if exp.range_vector.is_some() || exp.string.is_some() || uses_query_context(query) {
        return Ok(());
    }
    // Prometheus' runner also checks the instant query as a range query around t (for an
    // ordered result only that it succeeds: a matrix has no order to compare).
    let ranged = otelite_promql::range(source, query, t - 60_000, t + 60_000, 60_000, &options)
        .map_err(|e| format!("range mode: {e}"))?;
    if exp.ordered {
        return Ok(());
    }
    let Value::Matrix(series) = ranged else {
        return Err("range mode: not a matrix".into());
    };
    check_sorted(&series)?;
    let at_t: Vec<otelite_promql::VectorSample> = series
        .iter()
        .filter_map(|s| {
            s.samples
                .iter()
                .find(|p| p.t == t)
                .map(|p| otelite_promql::VectorSample {
                    labels: s.labels.clone(),
                    t,
                    v: p.v,
                })
        })
        .collect();
    let as_value = match value {
        Value::Scalar { .. } => match at_t.first() {
            Some(s) => Value::Scalar { t, v: s.v },
            None => return Err("range mode: no point at t".into()),
        },
        _ => Value::Vector(at_t),
    };
    compare(exp, &as_value, t).map_err(|e| format!("range mode: {e}\n    got {as_value:?}"))?;
    Ok(())
}

/// The queries Prometheus' `atModifierTestCases` derives from an instant query at `t`: `@ t`
/// set on every selector and subquery not under a subquery with `@`, evaluated at other
/// times. None when the query uses a function whose value depends on the evaluation time.
fn at_modifier_variants(query: &str, t: i64) -> Vec<(String, i64)> {
    use otelite_promql::promql_parser::parser::{self, AtModifier, Expr};
    const UNSAFE: &[&str] = &[
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "end",
        "hour",
        "minute",
        "month",
        "year",
        "predict_linear",
        "range",
        "start",
        "step",
        "time",
        "timestamp",
    ];
    fn set_at(e: &mut Expr, at: &AtModifier, unsafe_call: &mut bool) {
        match e {
            Expr::VectorSelector(vs) => {
                vs.at.get_or_insert_with(|| at.clone());
            }
            Expr::MatrixSelector(ms) => {
                ms.vs.at.get_or_insert_with(|| at.clone());
            }
            Expr::Subquery(sq) => {
                if sq.at.is_none() {
                    sq.at = Some(at.clone());
                }
                // Selectors under a subquery with `@` are left alone, but unsafe functions
                // there still count.
                mark_unsafe(&sq.expr, unsafe_call);
            }
            Expr::Aggregate(a) => {
                if let Some(p) = a.param.as_mut() {
                    set_at(p, at, unsafe_call);
                }
                set_at(&mut a.expr, at, unsafe_call);
            }
            Expr::Unary(u) => set_at(&mut u.expr, at, unsafe_call),
            Expr::Binary(b) => {
                set_at(&mut b.lhs, at, unsafe_call);
                set_at(&mut b.rhs, at, unsafe_call);
            }
            Expr::Paren(p) => set_at(&mut p.expr, at, unsafe_call),
            Expr::Call(c) => {
                *unsafe_call |= UNSAFE.contains(&c.func.name);
                for a in c.args.args.iter_mut() {
                    set_at(a, at, unsafe_call);
                }
            }
            _ => {}
        }
    }
    fn mark_unsafe(e: &Expr, unsafe_call: &mut bool) {
        let mut copy = e.clone();
        let never = AtModifier::Start;
        set_at(&mut copy, &never, unsafe_call);
    }
    let Ok(mut expr) = parser::parse(query) else {
        return Vec::new();
    };
    if t < 0 {
        return Vec::new();
    }
    let at = AtModifier::At(std::time::UNIX_EPOCH + std::time::Duration::from_millis(t as u64));
    let mut unsafe_call = false;
    set_at(&mut expr, &at, &mut unsafe_call);
    if unsafe_call {
        return Vec::new();
    }
    let text = expr.to_string();
    let times = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    times.into_iter().map(|et| (text.clone(), et)).collect()
}

/// None when the expected failure happened, the value when the query was expected to succeed.
fn check_failure(exp: &Expectation, result: Result<Value, Error>) -> Result<Option<Value>, String> {
    match result {
        Ok(v) if exp.fail => Err(format!("expected an error, got {v:?}")),
        Ok(v) => Ok(Some(v)),
        Err(e) if exp.fail => {
            let msg = e.to_string();
            if let Some(want) = &exp.fail_msg
                && &msg != want
            {
                return Err(format!("expected error {want:?}, got {msg:?}"));
            }
            if let Some(re) = &exp.fail_regex
                && !re.is_match(&msg)
            {
                return Err(format!("expected error matching {re}, got {msg:?}"));
            }
            Ok(None)
        }
        Err(e) => Err(format!("unexpected error: {e}")),
    }
}

fn uses_query_context(query: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| query.contains(f))
}

fn check_sorted(series: &[Series]) -> Result<(), String> {
    if series.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("matrix results should always be sorted by labels".into());
    }
    Ok(())
}

/// Prometheus' `almost.Equal`.
fn almost_equal(a: f64, b: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn compare(exp: &Expectation, value: &Value, t: i64) -> Result<(), String> {
    match value {
        Value::Scalar { v, .. } => {
            let Some(want) = exp.scalar else {
                return Err("expected a vector or matrix, got a scalar".into());
            };
            if !almost_equal(want, *v) {
                return Err(format!("expected scalar {want}, got {v}"));
            }
            Ok(())
        }
        Value::String { v, .. } => match &exp.string {
            Some(want) if want == v => Ok(()),
            want => Err(format!("expected string {want:?}, got {v:?}")),
        },
        Value::Vector(samples) => {
            if exp.scalar.is_some() {
                return Err("expected a scalar, got a vector".into());
            }
            let mut seen = vec![false; exp.series.len()];
            for (pos, s) in samples.iter().enumerate() {
                let Some(i) = exp.series.iter().position(|(l, _)| *l == s.labels) else {
                    return Err(format!("unexpected metric {:?} = {}", s.labels, s.v));
                };
                if exp.ordered && i != pos {
                    return Err(format!(
                        "expected {:?} at position {} but was at {}",
                        s.labels,
                        i + 1,
                        pos + 1
                    ));
                }
                if seen[i] {
                    return Err(format!("metric {:?} twice", s.labels));
                }
                seen[i] = true;
                let want = exp.series[i].1.first().copied().flatten();
                match want {
                    Some(w) if almost_equal(w, s.v) => {}
                    _ => return Err(format!("expected {want:?} for {:?}, got {}", s.labels, s.v)),
                }
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {:?} not found", exp.series[i].0));
            }
            Ok(())
        }
        Value::Matrix(series) => {
            if exp.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if exp.scalar.is_some() {
                return Err("expected a scalar, got a matrix".into());
            }
            check_sorted(series)?;
            let (start, end, step) = exp.range_vector.unwrap_or((t, t, 0));
            let mut seen = vec![false; exp.series.len()];
            for s in series {
                let Some(i) = exp.series.iter().position(|(l, _)| *l == s.labels) else {
                    return Err(format!("unexpected metric {:?}", s.labels));
                };
                seen[i] = true;
                let mut want = Vec::new();
                for (k, v) in exp.series[i].1.iter().enumerate() {
                    let ts = start + k as i64 * step;
                    if ts > end {
                        return Err(format!(
                            "expected {} points for {:?}, more than the range has",
                            exp.series[i].1.len(),
                            s.labels
                        ));
                    }
                    if let Some(v) = v {
                        want.push(Sample { t: ts, v: *v });
                    }
                }
                if want.len() != s.samples.len() {
                    return Err(format!(
                        "expected {} points for {:?}, got {}",
                        want.len(),
                        s.labels,
                        s.samples.len()
                    ));
                }
                for (w, g) in want.iter().zip(&s.samples) {
                    if w.t != g.t {
                        return Err(format!(
                            "{:?}: expected a point at {}, got one at {}",
                            s.labels, w.t, g.t
                        ));
                    }
                    if !almost_equal(w.v, g.v) {
                        return Err(format!(
                            "{:?} at {}: expected {}, got {}",
                            s.labels, w.t, w.v, g.v
                        ));
                    }
                }
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {:?} not found", exp.series[i].0));
            }
            Ok(())
        }
    }
}

/// Prometheus' `model.ParseDuration` (plus a bare number of seconds, and a sign), in ms.
fn parse_duration(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if let Ok(secs) = s.parse::<f64>() {
        let ms = (secs * 1000.0).round() as i64;
        return Some(if neg { -ms } else { ms });
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += n * ms;
    }
    Some(if neg { -total } else { total })
}

fn parse_from_to_step(s: &str) -> Option<(i64, i64, i64)> {
    let s = s.strip_prefix("from")?.trim();
    let (from, s) = s.split_once(" to ")?;
    let (to, step) = s.trim().split_once(" step ")?;
    Some((
        parse_duration(from.trim())?,
        parse_duration(to.trim())?,
        parse_duration(step.trim())?,
    ))
}

/// Prometheus' `parseNumber`: an integer in any Go base, or a float.
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        return None;
    }
    parse_float(s)
}

fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower == "nan" {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()? as f64
    } else if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        body.parse::<f64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

/// A series line: `name{label="value", ...} values...`.
fn parse_series(def: &str) -> Result<(Labels, Vec<Option<f64>>), String> {
    let (labels, rest) = parse_labels(def)?;
    let mut values = Vec::new();
    for item in rest.split_whitespace() {
        values.extend(parse_item(item).ok_or_else(|| format!("bad value {item:?} in {def:?}"))?);
    }
    Ok((labels, values))
}

/// One item of a series' values: `_`, `_xN`, `stale`, `v`, `vxN`, `v+dxN`, `v-dxN`.
fn parse_item(item: &str) -> Option<Vec<Option<f64>>> {
    if item == "stale" {
        return Some(vec![Some(f64::from_bits(STALE_NAN))]);
    }
    let (base, times) = match item.rsplit_once('x') {
        Some((b, n)) if !b.is_empty() && !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
            (b, Some(n.parse::<usize>().ok()?))
        }
        _ => (item, None),
    };
    if base == "_" {
        return Some(vec![None; times.unwrap_or(1)]);
    }
    let Some(n) = times else {
        return Some(vec![Some(parse_float(base)?)]);
    };
    // `a+bxn` / `a-bxn`: the sign that is not the leading one nor an exponent's.
    let bytes = base.as_bytes();
    let split = (1..bytes.len())
        .find(|&k| (bytes[k] == b'+' || bytes[k] == b'-') && !matches!(bytes[k - 1], b'e' | b'E'));
    let (start, delta) = match split {
        Some(k) => (parse_float(&base[..k])?, parse_float(&base[k..])?),
        None => (parse_float(base)?, 0.0),
    };
    let mut out = Vec::with_capacity(n + 1);
    let mut v = start;
    out.push(Some(v));
    for _ in 0..n {
        v += delta;
        out.push(Some(v));
    }
    Some(out)
}

fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next()?;
    if !matches!(quote, '"' | '\'' | '`') || s.len() < 2 || !s.ends_with(quote) {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if quote == '`' {
        return Some(inner.to_string());
    }
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// `name{a="b", ...}` or `{__name__="x", ...}` or `{"quoted.name", a="b"}` at the start of
/// `def`; returns the sorted labels and the rest of the line.
fn parse_labels(def: &str) -> Result<(Labels, &str), String> {
    let mut labels: Labels = Vec::new();
    let name_len = def
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.'))
        .unwrap_or(def.len());
    if name_len > 0 {
        labels.push(("__name__".to_string(), def[..name_len].to_string()));
    }
    let mut rest = &def[name_len..];
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (name, r) = take_name_or_string(rest)?;
            rest = r.trim_start();
            if let Some(r) = rest.strip_prefix('=') {
                let (value, r) = take_string(r.trim_start())?;
                labels.push((name, value));
                rest = r;
            } else {
                // A quoted metric name on its own.
                labels.push(("__name__".to_string(), name));
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
        }
    } else if name_len == 0 {
        return Err(format!("no series in {def:?}"));
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort();
    Ok((labels, rest))
}

fn take_name_or_string(s: &str) -> Result<(String, &str), String> {
    if s.starts_with(['"', '\'', '`']) {
        return take_string(s);
    }
    let n = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.'))
        .unwrap_or(s.len());
    if n == 0 {
        return Err(format!("expected a label name at {s:?}"));
    }
    Ok((s[..n].to_string(), &s[n..]))
}

fn take_string(s: &str) -> Result<(String, &str), String> {
    let quote = s.chars().next().ok_or("expected a string")?;
    let mut escaped = false;
    for (k, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' && quote != '`' {
            escaped = true;
            continue;
        }
        if c == quote {
            let lit = &s[..=k];
            return Ok((
                unquote(lit).ok_or_else(|| format!("bad string {lit}"))?,
                &s[k + 1..],
            ));
        }
    }
    Err(format!("unterminated string {s:?}"))
}

#[test]
fn at_modifier_variants_set_at_on_top_level_selectors_only() {
    let v = at_modifier_variants(
        "sum(rate(foo[5m])) + max_over_time(bar[1m:10s] @ 30)",
        60_000,
    );
    assert_eq!(v.len(), 5);
    assert_eq!(v[0].1, -600_000);
    assert!(v[0].0.contains("foo[5m] @ 60.000"), "{}", v[0].0);
    assert!(v[0].0.contains("bar[1m:10s] @ 30.000"), "{}", v[0].0);
    assert!(at_modifier_variants("timestamp(foo)", 60_000).is_empty());
}

/// Every query of every test file, at extreme and ordinary times, as instant and range
/// queries over the data of its file: an error is a fine answer, a panic is not.
#[test]
fn no_query_panics_at_extreme_times() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/promqltest");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("Prometheus' test files are expected in {}", dir.display());
    };
    let mut source = MemorySource::default();
    let mut queries = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_none_or(|x| x != "test") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut in_load = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("load") {
                in_load = true;
                continue;
            }
            if line.is_empty() || line.starts_with("eval") || line == "clear" {
                in_load = false;
            }
            if in_load
                && !line.contains("{{")
                && !line.starts_with('#')
                && let Ok((labels, values)) = parse_series(line)
            {
                let samples = source.series.entry(labels).or_default();
                for (k, v) in values.into_iter().enumerate() {
                    if let Some(v) = v {
                        samples.insert(k as i64 * 60_000, v);
                    }
                }
            }
            if let Some(q) = line.starts_with("eval").then(|| query_of(line)).flatten() {
                queries.push(q.to_string());
            }
        }
    }
    let options = Options::default();
    for q in &queries {
        for t in [i64::MIN, -1, 0, 3_600_000, i64::MAX] {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = otelite_promql::instant(&source, q, t, &options);
                let _ = otelite_promql::range(
                    &source,
                    q,
                    t.saturating_sub(120_000),
                    t,
                    60_000,
                    &options,
                );
            }));
            assert!(outcome.is_ok(), "{q} at {t} panicked");
        }
    }
}
