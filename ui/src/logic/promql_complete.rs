//! Autocompletion for the PromQL editor: what is being typed at the cursor (a metric or
//! function name, a label name inside `{…}` or `by (…)`, a label value inside quotes), the
//! suggestions that fit it, and the text once one is taken.
//!
//! The scan is a small lexer over the text before the cursor, not a parser: it has to work on
//! half-written queries, which a parser would refuse.

/// What the word at the cursor is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// Outside selectors: a metric name, a function, an aggregation or a keyword.
    Expression,
    /// A label name: inside a selector's braces (of `metric`, if it has a name), or inside a
    /// `by (…)`, `without (…)`, `on (…)` or `ignoring (…)` list.
    LabelName { metric: Option<String> },
    /// A label's value inside a selector; `quoted` when the cursor is inside the quotes already.
    LabelValue {
        metric: Option<String>,
        label: String,
        quoted: bool,
    },
    /// Nowhere a suggestion helps: inside a duration, a number or another string.
    Nothing,
}

/// The word at the cursor and what it is. `from..to` is the byte range a suggestion replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub context: Context,
    pub prefix: String,
    pub from: usize,
    pub to: usize,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Grouping keywords whose parenthesised list holds label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Where the cursor (a byte offset into `query`, clamped to a char boundary) stands.
pub fn site(query: &str, cursor: usize) -> Site {
    let mut cursor = cursor.min(query.len());
    while !query.is_char_boundary(cursor) {
        cursor -= 1;
    }
    let before = &query[..cursor];
    let mut in_string: Option<(char, usize)> = None;
    let mut escaped = false;
    let mut braces: Option<Option<String>> = None;
    let mut label: Option<String> = None;
    let mut operator = false;
    let mut brackets = false;
    let mut parens: Vec<bool> = Vec::new();
    let mut last_word: Option<String> = None;
    let mut word = String::new();
    for (i, c) in before.char_indices() {
        if let Some((quote, _)) = in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                in_string = None;
                if braces.is_some() {
                    label = None;
                    operator = false;
                }
            }
            continue;
        }
        if is_word(c) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            if braces.is_some() && !operator {
                label = Some(word.clone());
            }
            last_word = Some(std::mem::take(&mut word));
        }
        match c {
            '"' | '\'' | '`' => in_string = Some((c, i + c.len_utf8())),
            '{' => {
                braces = Some(last_word.take().filter(|w| !is_keyword(w)));
                label = None;
                operator = false;
            }
            '}' => {
                braces = None;
                last_word = None;
            }
            '=' | '!' | '~' if braces.is_some() => operator = label.is_some(),
            ',' if braces.is_some() => {
                label = None;
                operator = false;
            }
            '[' => brackets = true,
            ']' => brackets = false,
            '(' => parens.push(
                last_word
                    .as_deref()
                    .is_some_and(|w| GROUPING.contains(&w.to_ascii_lowercase().as_str())),
            ),
            ')' => {
                parens.pop();
            }
            c if c.is_whitespace() => {}
            _ => last_word = None,
        }
    }
    let word_end = cursor
        + query[cursor..]
            .find(|c: char| !is_word(c))
            .unwrap_or(query.len() - cursor);
    if let Some((_, start)) = in_string {
        let context = match (&braces, &label) {
            (Some(metric), Some(label)) if operator => Context::LabelValue {
                metric: metric.clone(),
                label: label.clone(),
                quoted: true,
            },
            _ => Context::Nothing,
        };
        let to = query[cursor..]
            .find(['"', '\'', '`'])
            .map_or(query.len(), |n| cursor + n);
        return Site {
            context,
            prefix: before[start..].to_owned(),
            from: start,
            to,
        };
    }
    let from = cursor - word.len();
    let context = if brackets || word.starts_with(|c: char| c.is_ascii_digit()) {
        Context::Nothing
    } else if let Some(metric) = &braces {
        match &label {
            Some(label) if operator => Context::LabelValue {
                metric: metric.clone(),
                label: label.clone(),
                quoted: false,
            },
            _ => Context::LabelName {
                metric: metric.clone(),
            },
        }
    } else if parens.last() == Some(&true) {
        Context::LabelName { metric: None }
    } else {
        Context::Expression
    };
    Site {
        context,
        prefix: word,
        from,
        to: word_end,
    }
}

fn is_keyword(word: &str) -> bool {
    FUNCTIONS.iter().any(|(name, _)| *name == word) || GROUPING.contains(&word)
}

/// What a suggestion is, for its badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metric,
    Function,
    Keyword,
    Label,
    Value,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Metric => "metric",
            Kind::Function => "function",
            Kind::Keyword => "keyword",
            Kind::Label => "label",
            Kind::Value => "value",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// What the list shows.
    pub label: String,
    /// What replaces the word (a function gets its opening parenthesis, a value its quotes).
    pub insert: String,
    pub kind: Kind,
    /// A one-line description: a function's signature, a metric's type.
    pub detail: String,
}

/// PromQL's functions and aggregations with their signatures.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("abs", "abs(v instant-vector)"),
    ("absent", "absent(v instant-vector)"),
    ("absent_over_time", "absent_over_time(v range-vector)"),
    ("avg", "avg by (labels) (v)"),
    ("avg_over_time", "avg_over_time(v range-vector)"),
    ("bottomk", "bottomk(k, v)"),
    ("ceil", "ceil(v instant-vector)"),
    ("changes", "changes(v range-vector)"),
    ("clamp", "clamp(v, min, max)"),
    ("clamp_max", "clamp_max(v, max)"),
    ("clamp_min", "clamp_min(v, min)"),
    ("count", "count by (labels) (v)"),
    ("count_over_time", "count_over_time(v range-vector)"),
    ("count_values", "count_values(\"label\", v)"),
    ("day_of_month", "day_of_month(v)"),
    ("day_of_week", "day_of_week(v)"),
    ("delta", "delta(v range-vector)"),
    ("deriv", "deriv(v range-vector)"),
    ("exp", "exp(v instant-vector)"),
    ("floor", "floor(v instant-vector)"),
    ("group", "group by (labels) (v)"),
    (
        "histogram_quantile",
        "histogram_quantile(φ scalar, b instant-vector)",
    ),
    ("hour", "hour(v)"),
    ("idelta", "idelta(v range-vector)"),
    ("increase", "increase(v range-vector)"),
    ("irate", "irate(v range-vector)"),
    ("label_join", "label_join(v, dst, separator, src...)"),
    (
        "label_replace",
        "label_replace(v, dst, replacement, src, regex)",
    ),
    ("last_over_time", "last_over_time(v range-vector)"),
    ("ln", "ln(v instant-vector)"),
    ("log10", "log10(v instant-vector)"),
    ("log2", "log2(v instant-vector)"),
    ("max", "max by (labels) (v)"),
    ("max_over_time", "max_over_time(v range-vector)"),
    ("min", "min by (labels) (v)"),
    ("min_over_time", "min_over_time(v range-vector)"),
    ("minute", "minute(v)"),
    ("month", "month(v)"),
    ("predict_linear", "predict_linear(v range-vector, t scalar)"),
    ("quantile", "quantile(φ, v)"),
    (
        "quantile_over_time",
        "quantile_over_time(φ, v range-vector)",
    ),
    ("rate", "rate(v range-vector)"),
    ("resets", "resets(v range-vector)"),
    ("round", "round(v, to_nearest)"),
    ("scalar", "scalar(v instant-vector)"),
    ("sgn", "sgn(v instant-vector)"),
    ("sort", "sort(v instant-vector)"),
    ("sort_desc", "sort_desc(v instant-vector)"),
    ("sqrt", "sqrt(v instant-vector)"),
    ("stddev", "stddev by (labels) (v)"),
    ("stddev_over_time", "stddev_over_time(v range-vector)"),
    ("stdvar", "stdvar by (labels) (v)"),
    ("stdvar_over_time", "stdvar_over_time(v range-vector)"),
    ("sum", "sum by (labels) (v)"),
    ("sum_over_time", "sum_over_time(v range-vector)"),
    ("time", "time()"),
    ("timestamp", "timestamp(v instant-vector)"),
    ("topk", "topk(k, v)"),
    ("vector", "vector(s scalar)"),
    ("year", "year(v)"),
];

/// Keywords that may follow an expression.
const KEYWORDS: [&str; 11] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
];

/// How many suggestions the list shows at most.
pub const MAX_SUGGESTIONS: usize = 12;

/// What the editor can suggest, as the page knows it: metric names with a detail (their type),
/// label names (of the metric being filtered, or all), and one label's values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vocabulary<'a> {
    pub metrics: Vec<(&'a str, &'a str)>,
    pub labels: Vec<&'a str>,
    pub values: Vec<&'a str>,
}

/// The suggestions for `site`: names holding the typed prefix (ignoring case), those starting
/// with it first, then shorter ones. Outside labels nothing is suggested until a letter is typed.
pub fn suggest(site: &Site, vocabulary: &Vocabulary) -> Vec<Suggestion> {
    let prefix = site.prefix.to_lowercase();
    let mut out: Vec<Suggestion> = match &site.context {
        Context::Nothing => return Vec::new(),
        Context::Expression => {
            if prefix.is_empty() {
                return Vec::new();
            }
            let metrics = vocabulary.metrics.iter().map(|(name, detail)| Suggestion {
                label: name.to_string(),
                insert: name.to_string(),
                kind: Kind::Metric,
                detail: detail.to_string(),
            });
            let functions = FUNCTIONS.iter().map(|(name, signature)| Suggestion {
                label: name.to_string(),
                insert: format!("{name}("),
                kind: Kind::Function,
                detail: signature.to_string(),
            });
            let keywords = KEYWORDS.iter().map(|k| Suggestion {
                label: k.to_string(),
                insert: k.to_string(),
                kind: Kind::Keyword,
                detail: String::new(),
            });
            functions.chain(metrics).chain(keywords).collect()
        }
        Context::LabelName { .. } => vocabulary
            .labels
            .iter()
            .filter(|l| **l != "__name__")
            .map(|l| Suggestion {
                label: l.to_string(),
                insert: l.to_string(),
                kind: Kind::Label,
                detail: String::new(),
            })
            .collect(),
        Context::LabelValue { quoted, .. } => vocabulary
            .values
            .iter()
            .map(|v| Suggestion {
                label: v.to_string(),
                insert: if *quoted {
                    escape(v)
                } else {
                    format!("\"{}\"", escape(v))
                },
                kind: Kind::Value,
                detail: String::new(),
            })
            .collect(),
    };
    out.retain(|s| s.label.to_lowercase().contains(&prefix) && s.label != site.prefix);
    out.sort_by_key(|s| {
        (
            !s.label.to_lowercase().starts_with(&prefix),
            s.label.len(),
            s.label.clone(),
        )
    });
    out.dedup_by(|a, b| a.label == b.label && a.kind == b.kind);
    out.truncate(MAX_SUGGESTIONS);
    out
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `query` with `suggestion` taken at `site`, and where the cursor goes (after the insert, and
/// past a closing quote that was already there).
pub fn apply(query: &str, site: &Site, suggestion: &Suggestion) -> (String, usize) {
    let mut text = String::with_capacity(query.len() + suggestion.insert.len());
    text.push_str(&query[..site.from]);
    text.push_str(&suggestion.insert);
    let mut cursor = text.len();
    let rest = &query[site.to.min(query.len())..];
    if matches!(site.context, Context::LabelValue { quoted: true, .. }) && rest.starts_with('"') {
        cursor += 1;
    }
    // A function's parenthesis is not doubled when one follows already.
    if suggestion.kind == Kind::Function && rest.starts_with('(') {
        text.pop();
        cursor -= 1;
    }
    text.push_str(rest);
    let cursor = cursor.min(text.len());
    (text, cursor)
}

/// The byte offset of the `units`th UTF-16 code unit of `text` (how the DOM counts a text
/// field's cursor), clamped to the text.
pub fn byte_offset(text: &str, units: usize) -> usize {
    let mut seen = 0;
    for (i, c) in text.char_indices() {
        if seen >= units {
            return i;
        }
        seen += c.len_utf16();
    }
    text.len()
}

/// The UTF-16 offset of byte `byte` of `text`.
pub fn utf16_offset(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The site with the cursor at the `|` of `marked`.
    fn at(marked: &str) -> (String, Site) {
        let cursor = marked.find('|').unwrap();
        let query = marked.replacen('|', "", 1);
        let site = site(&query, cursor);
        (query, site)
    }

    #[test]
    fn dom_cursors_count_utf16_units() {
        let text = "up{x=\"é😀\"}";
        assert_eq!(byte_offset(text, 6), 6);
        assert_eq!(byte_offset(text, 7), 8);
        assert_eq!(byte_offset(text, 9), 12);
        assert_eq!(byte_offset(text, 99), text.len());
        assert_eq!(utf16_offset(text, 12), 9);
    }

    #[test]
    fn names_outside_selectors_are_metrics_or_functions() {
        let (_, s) = at("sum(rate(http_ser|");
        assert_eq!(s.context, Context::Expression);
        assert_eq!(s.prefix, "http_ser");
        assert_eq!((s.from, s.to), (9, 17));
        let (_, s) = at("ra|te(x[5m])");
        assert_eq!((s.prefix.as_str(), s.from, s.to), ("ra", 0, 4));
        assert_eq!(at("rate(x[5|m])").1.context, Context::Nothing);
        assert_eq!(at("x > 1|").1.context, Context::Nothing);
        assert_eq!(at("|").1.context, Context::Expression);
    }

    #[test]
    fn inside_braces_come_label_names_then_values() {
        let (_, s) = at("http_requests_total{jo|");
        assert_eq!(
            s.context,
            Context::LabelName {
                metric: Some("http_requests_total".into())
            }
        );
        assert_eq!(s.prefix, "jo");
        let (_, s) = at("up{job=\"api\", |}");
        assert_eq!(
            s.context,
            Context::LabelName {
                metric: Some("up".into())
            }
        );
        let (_, s) = at("up{job=\"ap|");
        assert_eq!(
            s.context,
            Context::LabelValue {
                metric: Some("up".into()),
                label: "job".into(),
                quoted: true
            }
        );
        assert_eq!(s.prefix, "ap");
        let (_, s) = at("up{job=~|");
        assert_eq!(
            s.context,
            Context::LabelValue {
                metric: Some("up".into()),
                label: "job".into(),
                quoted: false
            }
        );
        let (_, s) = at("{job!=\"x\",instance=\"|\"}");
        assert_eq!(
            s.context,
            Context::LabelValue {
                metric: None,
                label: "instance".into(),
                quoted: true
            }
        );
        // After the braces close, names are metrics and functions again.
        assert_eq!(at("up{job=\"a\"} / su|").1.context, Context::Expression);
    }

    #[test]
    fn grouping_lists_hold_label_names() {
        assert_eq!(
            at("sum by (|) (rate(x[5m]))").1.context,
            Context::LabelName { metric: None }
        );
        assert_eq!(
            at("sum(rate(x[5m])) without (ro|").1.context,
            Context::LabelName { metric: None }
        );
        assert_eq!(at("sum(|").1.context, Context::Expression);
        assert_eq!(
            at("a / on(|").1.context,
            Context::LabelName { metric: None }
        );
        // `sum{` is no selector of a metric called sum.
        assert_eq!(at("\"a{b|").1.context, Context::Nothing);
    }

    #[test]
    fn suggestions_fit_the_site_and_apply() {
        let vocabulary = Vocabulary {
            metrics: vec![
                ("http_server_request_duration_seconds_bucket", "histogram"),
                ("http_server_request_duration_seconds_count", "histogram"),
                ("process_cpu_seconds_total", "counter"),
            ],
            labels: vec!["__name__", "http_route", "job"],
            values: vec!["shop", "checkout\"x"],
        };
        let (query, s) = at("sum(rate(http_ser|))");
        let found = suggest(&s, &vocabulary);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, Kind::Metric);
        let (text, cursor) = apply(&query, &s, &found[0]);
        assert_eq!(
            text,
            "sum(rate(http_server_request_duration_seconds_count))"
        );
        assert_eq!(cursor, 51);

        let (query, s) = at("ra|");
        let found = suggest(&s, &vocabulary);
        assert_eq!(found[0].label, "rate");
        assert_eq!(found[0].detail, "rate(v range-vector)");
        assert_eq!(apply(&query, &s, &found[0]), ("rate(".to_owned(), 5));
        let (query, s) = at("hist|(x)");
        let found = suggest(&s, &vocabulary);
        assert_eq!(found[0].label, "histogram_quantile");
        assert_eq!(apply(&query, &s, &found[0]).0, "histogram_quantile(x)");
        // "seconds" is inside names, not at their start: those still match.
        let (_, s) = at("seconds|");
        assert_eq!(suggest(&s, &vocabulary).len(), 3);
        assert!(suggest(&at("|").1, &vocabulary).is_empty());

        let (query, s) = at("up{|}");
        let found = suggest(&s, &vocabulary);
        assert_eq!(
            found.iter().map(|f| f.label.as_str()).collect::<Vec<_>>(),
            ["job", "http_route"]
        );
        assert_eq!(apply(&query, &s, &found[0]), ("up{job}".to_owned(), 6));

        let (query, s) = at("up{job=|}");
        let found = suggest(&s, &vocabulary);
        assert_eq!(found[0].insert, "\"shop\"");
        assert_eq!(apply(&query, &s, &found[0]).0, "up{job=\"shop\"}");
        let (query, s) = at("up{job=\"ch|\"}");
        let found = suggest(&s, &vocabulary);
        assert_eq!(found[0].insert, "checkout\\\"x");
        let (text, cursor) = apply(&query, &s, &found[0]);
        assert_eq!(text, "up{job=\"checkout\\\"x\"}");
        assert_eq!(&text[cursor..], "}");
    }
}
