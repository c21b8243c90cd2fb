//! How a stored OTLP log record looks to LogQL, and a log pipeline run on it.
//!
//! A record's **stream labels** are its resource's attributes (keys with every character that
//! is no letter, digit or `_` turned into `_`, as Loki's OTLP ingestion names them:
//! `service.name` → `service_name`), plus `severity_text` and `detected_level` (the severity
//! text in lower case, which Grafana's Logs Drilldown reads). Its **structured metadata** is
//! what Loki 3 keeps beside the line: the record's attributes (keys mapped the same way),
//! `trace_id` and `span_id` in hex. Label filters and `line_format` see both; the labels an
//! answer shows, and that group entries into streams, are the stream labels and what the
//! parsers extracted. The line is [`otelite_storage::body_text`].
//!
//! Errors inside a pipeline follow Loki: a line `| json` cannot read keeps going with
//! `__error__="JSONParserErr"`, a label a numeric filter cannot read with `LabelFilterErr`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use otelite_storage::LogHit;

use super::logql::{LabelFormat, LabelPredicate, LogExpr, Matcher, Stage, Template, TemplatePart};
use crate::query::traces::params::hex;

/// Labels by name, sorted (the order Loki prints them in).
pub type Labels = BTreeMap<String, String>;

/// What a log pipeline made of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub line: String,
    pub labels: Labels,
}

/// The label name of an attribute key: every character that is not an ASCII letter, digit or
/// `_` becomes `_`, and a leading digit gets a `_` before it.
pub fn label_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The text of an attribute value, as the store compares it: strings as they are, ints,
/// doubles and bools as they print; `None` for bytes, arrays and maps.
pub fn value_text(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// The stream labels of a resource (its attributes with a text value, by key) and a severity
/// text. When two keys map to one name (`a.b` and `a_b`), the key spelled like the name wins.
pub fn stream_labels<'a>(
    resource: impl IntoIterator<Item = (&'a str, String)>,
    severity_text: &str,
) -> Labels {
    let mut labels = Labels::new();
    for (key, value) in resource {
        let name = label_name(key);
        if name == key || !labels.contains_key(&name) {
            labels.insert(name, value);
        }
    }
    if !severity_text.is_empty() {
        labels.insert("severity_text".into(), severity_text.to_string());
        labels.insert("detected_level".into(), severity_text.to_lowercase());
    }
    labels
}

/// The stream labels of a hit.
pub fn hit_labels(hit: &LogHit) -> Labels {
    let texts = hit
        .resource
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.as_str(), value_text(kv.value.as_ref())?)));
    stream_labels(texts, &hit.record.severity_text)
}

/// A record's structured metadata: its attributes, trace id and span id.
fn metadata(record: &LogRecord) -> Labels {
    let mut labels = Labels::new();
    for KeyValue { key, value, .. } in &record.attributes {
        let text = value_text(value.as_ref())
            .unwrap_or_else(|| otelite_storage::body_text(value.as_ref()).into_owned());
        labels.entry(label_name(key)).or_insert(text);
    }
    if !record.trace_id.is_empty() {
        labels.insert("trace_id".into(), hex(&record.trace_id));
    }
    if !record.span_id.is_empty() {
        labels.insert("span_id".into(), hex(&record.span_id));
    }
    labels
}

/// Whether stream labels satisfy every matcher of a selector (an absent label is `""`).
pub fn selector_matches(selector: &[Matcher], labels: &Labels) -> bool {
    selector
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
}

/// Runs `expr` on one hit: `None` when the selector or a filter drops it.
pub fn run(expr: &LogExpr, hit: &LogHit) -> Option<Entry> {
    let mut labels = hit_labels(hit);
    if !selector_matches(&expr.selector, &labels) {
        return None;
    }
    let stream_names: Vec<String> = labels.keys().cloned().collect();
    let mut metadata = None;
    let mut line = otelite_storage::body_text(hit.record.body.as_ref()).into_owned();
    for stage in &expr.pipeline {
        match stage {
            Stage::LineFilter(filter) => {
                if !filter.keeps(&line) {
                    return None;
                }
            }
            Stage::Json => extract(
                &mut labels,
                &stream_names,
                json_fields(&line),
                "JSONParserErr",
            ),
            Stage::Logfmt => extract(
                &mut labels,
                &stream_names,
                logfmt_fields(&line),
                "LogfmtParserErr",
            ),
            Stage::LabelFilter(predicate) => {
                let metadata = metadata.get_or_insert_with(|| self::metadata(&hit.record));
                if !keeps(predicate, &mut labels, metadata) {
                    return None;
                }
            }
            Stage::LineFormat(template) => {
                let metadata = metadata.get_or_insert_with(|| self::metadata(&hit.record));
                line = render(template, &labels, metadata, &line);
            }
            Stage::LabelFormat(formats) => {
                let metadata = metadata.get_or_insert_with(|| self::metadata(&hit.record));
                format_labels(formats, &mut labels, metadata, &line);
            }
            Stage::Drop(choices) => {
                let metadata = metadata.get_or_insert_with(|| self::metadata(&hit.record));
                for set in [&mut labels, metadata] {
                    set.retain(|name, value| !choices.iter().any(|c| c.names(name, value)));
                }
            }
            Stage::Keep(choices) => {
                let metadata = metadata.get_or_insert_with(|| self::metadata(&hit.record));
                for set in [&mut labels, metadata] {
                    set.retain(|name, value| choices.iter().any(|c| c.names(name, value)));
                }
            }
        }
    }
    Some(Entry { line, labels })
}

/// Adds what a parser read to `labels`; a name that is already a stream label gets the
/// suffix `_extracted`, as in Loki. A parser failure marks the entry with `error`.
fn extract(
    labels: &mut Labels,
    stream_names: &[String],
    fields: Result<Vec<(String, String)>, String>,
    error: &str,
) {
    match fields {
        Ok(fields) => {
            for (name, value) in fields {
                let name = if stream_names.contains(&name) {
                    format!("{name}_extracted")
                } else {
                    name
                };
                labels.insert(name, value);
            }
        }
        Err(details) => set_error(labels, error, details),
    }
}

fn set_error(labels: &mut Labels, error: &str, details: String) {
    if !labels.contains_key("__error__") {
        labels.insert("__error__".into(), error.to_string());
        labels.insert("__error_details__".into(), details);
    }
}

/// The fields of a JSON object line, nested objects flattened with `_` (`{"a":{"b":1}}` gives
/// `a_b=1`); arrays are left out, as Loki does.
fn json_fields(line: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(object) = value else {
        return Err("the line is not a JSON object".into());
    };
    let mut fields = Vec::new();
    flatten("", &object, &mut fields);
    Ok(fields)
}

fn flatten(
    prefix: &str,
    object: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<(String, String)>,
) {
    use serde_json::Value;
    for (key, value) in object {
        let name = if prefix.is_empty() {
            label_name(key)
        } else {
            format!("{prefix}_{}", label_name(key))
        };
        if key.is_empty() {
            continue;
        }
        match value {
            Value::Object(inner) => flatten(&name, inner, out),
            Value::Array(_) => {}
            Value::String(s) => out.push((name, s.clone())),
            Value::Null => out.push((name, String::new())),
            other => out.push((name, other.to_string())),
        }
    }
}

/// The `key=value` pairs of a logfmt line (values bare or double-quoted with escapes; a key
/// alone has the empty value).
fn logfmt_fields(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(fields);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            if c == '"' {
                return Err(format!("unexpected '\"' in key {key:?}"));
            }
            key.push(c);
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated quoted value of {key:?}")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some(c) => value.push(c),
                            None => return Err(format!("unterminated quoted value of {key:?}")),
                        },
                        Some(c) => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err("a value without a key".into());
        }
        fields.push((label_name(&key), value));
    }
}

/// A label's value: the labels first (stream and extracted), then structured metadata.
fn lookup<'a>(labels: &'a Labels, metadata: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .get(name)
        .or_else(|| metadata.get(name))
        .map(String::as_str)
}

/// Whether an entry passes a label filter; as in Loki, a numeric filter whose label holds no
/// number keeps the entry and marks it `__error__="LabelFilterErr"`, and once an entry has an
/// error only string filters can drop it.
fn keeps(predicate: &LabelPredicate, labels: &mut Labels, metadata: &Labels) -> bool {
    match predicate {
        LabelPredicate::And(a, b) => keeps(a, labels, metadata) && keeps(b, labels, metadata),
        LabelPredicate::Or(a, b) => keeps(a, labels, metadata) || keeps(b, labels, metadata),
        LabelPredicate::Text(matcher) => {
            matcher.matches(lookup(labels, metadata, &matcher.name).unwrap_or(""))
        }
        LabelPredicate::Number {
            name,
            op,
            value,
            duration,
        } => {
            if labels.contains_key("__error__") {
                return true;
            }
            let Some(text) = lookup(labels, metadata, name) else {
                return false;
            };
            let read = if *duration {
                super::logql::duration_ns(text)
                    .map(|ns| ns as f64 / 1e9)
                    .ok_or_else(|| format!("{text:?} is not a duration"))
            } else {
                text.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{text:?} is not a number"))
            };
            match read {
                Ok(found) => op.holds(found, *value),
                Err(details) => {
                    set_error(labels, "LabelFilterErr", details);
                    true
                }
            }
        }
    }
}

/// Applies a `label_format` stage: every value is read from the labels as they were before it;
/// a renamed label is gone afterwards (from the metadata too).
fn format_labels(formats: &[LabelFormat], labels: &mut Labels, metadata: &mut Labels, line: &str) {
    let values: Vec<(String, String)> = formats
        .iter()
        .map(|format| match format {
            LabelFormat::Rename { dst, src } => (
                dst.clone(),
                lookup(labels, metadata, src).unwrap_or("").to_string(),
            ),
            LabelFormat::Template { dst, template } => {
                (dst.clone(), render(template, labels, metadata, line))
            }
        })
        .collect();
    for format in formats {
        if let LabelFormat::Rename { dst, src } = format
            && dst != src
        {
            labels.remove(src);
            metadata.remove(src);
        }
    }
    for (name, value) in values {
        labels.insert(name, value);
    }
}

/// The line a `line_format` template makes; an absent label is empty.
fn render(template: &Template, labels: &Labels, metadata: &Labels, line: &str) -> String {
    let mut out = String::new();
    for part in &template.0 {
        match part {
            TemplatePart::Text(text) => out.push_str(text),
            TemplatePart::Line => out.push_str(line),
            TemplatePart::Label(name) => out.push_str(lookup(labels, metadata, name).unwrap_or("")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::resource::v1::Resource;
    use otelite_storage::LogCursor;

    use super::*;
    use crate::query::loki::logql::{Expr, parse};

    fn text(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        })
    }

    fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
            ..KeyValue::default()
        }
    }

    fn hit(body: &str) -> LogHit {
        LogHit {
            cursor: LogCursor {
                time_unix_nano: 1,
                tiebreak: 0,
            },
            resource: Arc::new(Resource {
                attributes: vec![
                    kv("service.name", text("cart")),
                    kv("k8s.pod.name", text("cart-1")),
                ],
                ..Resource::default()
            }),
            scope: Arc::default(),
            record: LogRecord {
                severity_text: "ERROR".into(),
                body: text(body),
                attributes: vec![
                    kv("http.route", text("/cart")),
                    kv(
                        "status",
                        Some(AnyValue {
                            value: Some(any_value::Value::IntValue(503)),
                        }),
                    ),
                ],
                trace_id: vec![0xab; 16],
                ..LogRecord::default()
            },
        }
    }

    fn run_query(query: &str, body: &str) -> Option<Entry> {
        let Ok(Expr::Log(expr)) = parse(query) else {
            panic!("{query}")
        };
        run(&expr, &hit(body))
    }

    #[test]
    fn attribute_keys_become_label_names() {
        assert_eq!(label_name("service.name"), "service_name");
        assert_eq!(label_name("k8s-pod/name"), "k8s_pod_name");
        assert_eq!(label_name("3xx"), "_3xx");
        let labels = hit_labels(&hit(""));
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [
                ("detected_level".to_string(), "error".to_string()),
                ("k8s_pod_name".into(), "cart-1".into()),
                ("service_name".into(), "cart".into()),
                ("severity_text".into(), "ERROR".into()),
            ]
        );
    }

    #[test]
    fn selectors_and_line_filters_drop_entries() {
        let q = r#"{service_name="cart", k8s_pod_name=~"cart-\\d"} |= "GET" != "health""#;
        assert!(run_query(q, "GET /cart").is_some());
        assert!(run_query(q, "GET /health").is_none());
        assert!(run_query(q, "POST /cart").is_none());
        assert!(run_query(r#"{service_name="web"}"#, "GET").is_none());
        assert!(run_query(r#"{service_name="cart", missing=""}"#, "GET").is_some());
    }

    #[test]
    fn json_flattens_and_renames_clashes() {
        let entry = run_query(
            r#"{service_name="cart"} | json"#,
            r#"{"service_name":"x","req":{"method":"GET","ms":12.5},"ids":[1],"ok":true,"n":null}"#,
        )
        .unwrap();
        let extracted: Vec<(&str, &str)> = entry
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !["detected_level", "k8s_pod_name", "severity_text"].contains(k))
            .collect();
        assert_eq!(
            extracted,
            [
                ("n", ""),
                ("ok", "true"),
                ("req_method", "GET"),
                ("req_ms", "12.5"),
                ("service_name", "cart"),
                ("service_name_extracted", "x"),
            ]
        );
        let broken = run_query(r#"{service_name="cart"} | json"#, "not json").unwrap();
        assert_eq!(broken.labels["__error__"], "JSONParserErr");
        assert!(run_query(r#"{service_name="cart"} | json | __error__="""#, "not json").is_none());
    }

    #[test]
    fn logfmt_reads_bare_and_quoted_values() {
        assert_eq!(
            logfmt_fields(r#"level=info msg="say \"hi\"" took=5ms flag http.path=/x"#).unwrap(),
            [
                ("level".to_string(), "info".to_string()),
                ("msg".into(), "say \"hi\"".into()),
                ("took".into(), "5ms".into()),
                ("flag".into(), String::new()),
                ("http_path".into(), "/x".into()),
            ]
        );
        assert!(logfmt_fields(r#"a="open"#).is_err());
    }

    #[test]
    fn label_filters_read_labels_metadata_numbers_and_durations() {
        let body = "took=250ms level=warn";
        let q = |filter: &str| format!(r#"{{service_name="cart"}} | logfmt | {filter}"#);
        for kept in [
            "status >= 500",
            "status == 503 and http_route=\"/cart\"",
            "took > 100ms, took < 1s",
            "level=\"error\" or level=~\"w.*\"",
            "trace_id=\"abababababababababababababababab\"",
            "(status < 500 or took >= 250ms) level!=\"info\"",
        ] {
            assert!(run_query(&q(kept), body).is_some(), "{kept}");
        }
        for dropped in [
            "status > 503",
            "missing > 1",
            "took > 1s",
            "level=\"error\"",
            "http_route!=\"/cart\"",
            "trace_id=\"00\"",
        ] {
            assert!(run_query(&q(dropped), body).is_none(), "{dropped}");
        }
        let unreadable = run_query(&q("level > 5"), body).unwrap();
        assert_eq!(unreadable.labels["__error__"], "LabelFilterErr");
    }

    #[test]
    fn label_format_renames_and_sets_from_the_labels_before_it() {
        let entry = run_query(
            r#"{service_name="cart"} | logfmt | label_format lvl=level, route=http_route, both="{{.level}}@{{.service_name}}", service_name="x"
               | route="/cart" | http_route="""#,
            "level=warn",
        )
        .unwrap();
        assert_eq!(entry.labels.get("level"), None);
        assert_eq!(entry.labels["lvl"], "warn");
        assert_eq!(entry.labels["route"], "/cart");
        assert_eq!(
            entry.labels["both"], "warn@cart",
            "read before service_name was set"
        );
        assert_eq!(entry.labels["service_name"], "x");
    }

    #[test]
    fn drop_and_keep_remove_labels_and_metadata() {
        let entry = run_query(
            r#"{service_name="cart"} | json | drop __error__, __error_details__, severity_text="ERROR" | http_route="""#,
            "not json",
        );
        assert!(entry.is_none(), "http_route is metadata until dropped");
        let entry = run_query(
            r#"{service_name="cart"} | json | drop __error__, __error_details__, severity_text="INFO", http_route"#,
            "not json",
        )
        .unwrap();
        assert_eq!(
            entry.labels.keys().collect::<Vec<_>>(),
            [
                "detected_level",
                "k8s_pod_name",
                "service_name",
                "severity_text"
            ]
        );
        let entry = run_query(
            r#"{service_name="cart"} | keep service_name, http_route | http_route="/cart""#,
            "x",
        )
        .unwrap();
        assert_eq!(entry.labels.keys().collect::<Vec<_>>(), ["service_name"]);
    }

    #[test]
    fn line_format_substitutes_labels() {
        let entry = run_query(
            r#"{service_name="cart"} | logfmt | line_format "{{.level}} {{.http_route}} [{{.nope}}] {{__line__}}""#,
            "level=warn",
        )
        .unwrap();
        assert_eq!(entry.line, "warn /cart [] level=warn");
    }
}
