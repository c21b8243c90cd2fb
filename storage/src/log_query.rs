//! What a log search asks and what it answers: the public types of log search.
//!
//! A [`LogQuery`] matches a record when every condition it sets holds for that record. Hits come
//! in time order (newest first by default), each with a [`LogCursor`] that a later query can
//! resume after, so a result list pages through any number of records. This module owns the
//! types and the rules for matching one record (and the text a record is searched as); finding
//! records fast is `log_index`'s job.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::trace_query::{service_name, with_value_text};
use crate::{TimeRange, TraceId};

/// A span id: 8 bytes.
pub type SpanId = [u8; 8];

/// The order hits come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Newest first.
    #[default]
    Backward,
    /// Oldest first.
    Forward,
}

/// What a log search looks for. Every condition set must hold for the record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogQuery {
    /// Record times to search (event time, or observed time when the event time is unset).
    pub range: TimeRange,
    /// `service.name` of the record's resource: any one of these; empty for every service.
    pub services: Vec<String>,
    /// Only records whose severity number is at least this (OTLP `SeverityNumber`, 1 `TRACE`
    /// … 24 `FATAL4`); records with an unset severity (0) are then left out.
    pub min_severity: Option<i32>,
    /// The record's `severity_text`: any one of these; empty for any.
    pub severity_texts: Vec<String>,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    /// `key = value` pairs that must hold for the record's resource attributes (as a stream
    /// selector reads them). Values compare as text, as [`LogQuery::attributes`] do.
    pub resource: Vec<(String, String)>,
    /// `key = value` pairs that must all hold: each key is looked up among the record's
    /// attributes, then its resource's. Values compare as text: an int attribute `500` matches
    /// `"500"`, a bool `true` matches `"true"`.
    pub attributes: Vec<(String, String)>,
    /// Words that must each be a whole word of the body's text, ignoring case (see [`words`]).
    /// A word of the query may itself be several words (`"10.0.0.1"`): each must then appear.
    pub words: Vec<String>,
    /// Text that must appear in the body's text as it is (case matters), as LogQL's `|=`.
    pub contains: Vec<String>,
    pub direction: Direction,
    /// Resume after this hit: only hits beyond it in `direction` come.
    pub after: Option<LogCursor>,
}

impl LogQuery {
    /// A query for every record in `range`, newest first.
    pub fn new(range: TimeRange) -> LogQuery {
        LogQuery {
            range,
            ..LogQuery::default()
        }
    }

    /// Whether `record`, of a resource with attributes `resource`, satisfies every condition
    /// but the time range and the cursor.
    pub(crate) fn matches(&self, resource: &[KeyValue], record: &LogRecord) -> bool {
        if !self.services.is_empty() && !self.services.iter().any(|s| s == service_name(resource)) {
            return false;
        }
        if self
            .min_severity
            .is_some_and(|min| record.severity_number < min.max(1))
            || (!self.severity_texts.is_empty()
                && !self.severity_texts.contains(&record.severity_text))
            || self
                .trace_id
                .is_some_and(|id| record.trace_id.as_slice() != id)
            || self
                .span_id
                .is_some_and(|id| record.span_id.as_slice() != id)
        {
            return false;
        }
        let equal = |kv: Option<&KeyValue>, value: &str| {
            let mut equal = false;
            if let Some(kv) = kv {
                with_value_text(kv.value.as_ref(), |text| equal = text == value.as_bytes());
            }
            equal
        };
        if !self
            .resource
            .iter()
            .all(|(key, value)| equal(resource.iter().find(|kv| kv.key == *key), value))
            || !self.attributes.iter().all(|(key, value)| {
                let found = record
                    .attributes
                    .iter()
                    .chain(resource)
                    .find(|kv| kv.key == *key);
                equal(found, value)
            })
        {
            return false;
        }
        if self.words.is_empty() && self.contains.is_empty() {
            return true;
        }
        let text = body_text(record.body.as_ref());
        if !self
            .contains
            .iter()
            .all(|needle| text.contains(needle.as_str()))
        {
            return false;
        }
        self.words
            .iter()
            .flat_map(|w| words(w))
            .all(|w| has_word(&text, &w))
    }

    /// The words a bloom filter of body words must hold for a record to match: those of
    /// [`LogQuery::words`], and those of [`LogQuery::contains`] that a match must hold whole
    /// (a needle's first and last word may be cut off by the match, so they count only when
    /// the needle has a non-word character beyond them).
    pub(crate) fn required_words(&self) -> Vec<String> {
        let mut required: Vec<String> = self.words.iter().flat_map(|w| words(w)).collect();
        for needle in &self.contains {
            let spans = word_spans(needle);
            for (i, (start, end)) in spans.iter().copied().enumerate() {
                let cut_at_start = i == 0 && start == 0;
                let cut_at_end = i == spans.len() - 1 && end == needle.len();
                if !cut_at_start && !cut_at_end {
                    required.push(needle[start..end].to_lowercase());
                }
            }
        }
        required.sort_unstable();
        required.dedup();
        required
    }
}

/// Where a hit lies in the order hits come in: its time, then a hash of the record, so that
/// records of the same nanosecond still have an order that does not change when the store
/// rewrites its blocks. Printed and parsed as `<time>-<hash in hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogCursor {
    pub time_unix_nano: u64,
    pub tiebreak: u64,
}

impl LogCursor {
    /// Whether a hit at `self` comes after one at `other` in `direction`.
    pub fn is_beyond(&self, other: &LogCursor, direction: Direction) -> bool {
        match direction {
            Direction::Forward => self > other,
            Direction::Backward => self < other,
        }
    }

    /// `a` against `b` in the order hits come in `direction` (earlier comes first).
    pub(crate) fn order(a: &LogCursor, b: &LogCursor, direction: Direction) -> Ordering {
        match direction {
            Direction::Forward => a.cmp(b),
            Direction::Backward => b.cmp(a),
        }
    }
}

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:016x}", self.time_unix_nano, self.tiebreak)
    }
}

impl std::str::FromStr for LogCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<LogCursor, String> {
        let bad = || format!("{text:?} is not a log cursor (<unix nanoseconds>-<16 hex digits>)");
        let (time, tiebreak) = text.split_once('-').ok_or_else(bad)?;
        Ok(LogCursor {
            time_unix_nano: time.parse().map_err(|_| bad())?,
            tiebreak: u64::from_str_radix(tiebreak, 16).map_err(|_| bad())?,
        })
    }
}

/// One record found, with its resource and scope (shared among the hits of one group).
#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    pub cursor: LogCursor,
    pub resource: Arc<Resource>,
    pub scope: Arc<InstrumentationScope>,
    pub record: LogRecord,
}

impl LogHit {
    /// The record's time: its event time, or its observed time when the event time is unset.
    pub fn time_unix_nano(&self) -> u64 {
        self.cursor.time_unix_nano
    }

    /// `service.name` of the record's resource, or `""`.
    pub fn service(&self) -> &str {
        service_name(&self.resource.attributes)
    }
}

/// The cursor of `record` filed at `time`.
pub(crate) fn cursor_of(time: u64, record: &LogRecord) -> LogCursor {
    let body = body_text(record.body.as_ref());
    LogCursor {
        time_unix_nano: time,
        tiebreak: crate::bloom::hash_parts(&[
            &record.observed_time_unix_nano.to_le_bytes(),
            &record.severity_number.to_le_bytes(),
            &record.span_id,
            &(record.attributes.len() as u64).to_le_bytes(),
            body.as_bytes(),
        ]),
    }
}

/// Number of severity classes [`severity_class`] sorts records into.
pub const SEVERITY_CLASSES: usize = 7;

/// The class of an OTLP severity number: 0 unset, 1 trace (1–4), 2 debug (5–8), 3 info (9–12),
/// 4 warn (13–16), 5 error (17–20), 6 fatal (21–24 and anything above).
pub fn severity_class(severity_number: i32) -> usize {
    if severity_number <= 0 {
        0
    } else {
        (((severity_number - 1) / 4) as usize + 1).min(SEVERITY_CLASSES - 1)
    }
}

/// How many records a query matches, over time and by service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogVolume {
    /// One bucket per `step` from the range's start that holds records, in time order.
    pub buckets: Vec<VolumeBucket>,
    /// Each service with its number of matching records, by name.
    pub services: Vec<(String, u64)>,
    /// Matching records per [`severity_class`].
    pub severities: [u64; SEVERITY_CLASSES],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeBucket {
    pub start_unix_nano: u64,
    /// Records per [`severity_class`].
    pub counts: [u64; SEVERITY_CLASSES],
}

/// One stream of logs: a resource's attributes and one severity text, as Loki sees a stream
/// (listed per hour partition, so a range lists the streams of the hours it touches).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogStream {
    /// The resource's attributes with a text value (see [`LogQuery::attributes`]), by key.
    pub resource: Vec<(String, String)>,
    pub severity_text: String,
}

/// The text a record's body is searched as: a string as it is; ints, doubles and bools as they
/// print; bytes as lower-case hex; arrays and maps as JSON.
pub fn body_text(body: Option<&AnyValue>) -> Cow<'_, str> {
    let Some(value) = body.and_then(|v| v.value.as_ref()) else {
        return Cow::Borrowed("");
    };
    match value {
        any_value::Value::StringValue(s) => Cow::Borrowed(s),
        any_value::Value::BytesValue(b) => Cow::Owned(hex(b)),
        _ => {
            let mut out = String::new();
            write_json(value, &mut out);
            Cow::Owned(out)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_json(value: &any_value::Value, out: &mut String) {
    use any_value::Value;
    use std::fmt::Write;
    match value {
        Value::StringValue(s) => write_json_string(s, out),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => {
            let _ = write!(out, "{i}");
        }
        Value::DoubleValue(d) if d.is_finite() => {
            let _ = write!(out, "{d}");
        }
        Value::DoubleValue(d) => write_json_string(&d.to_string(), out),
        Value::BytesValue(b) => write_json_string(&hex(b), out),
        // An index into a profile's string table: nothing a log can resolve.
        Value::StringValueStrindex(_) => out.push_str("null"),
        Value::ArrayValue(array) => {
            out.push('[');
            for (i, v) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match v.value.as_ref() {
                    Some(v) => write_json(v, out),
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        }
        Value::KvlistValue(list) => {
            out.push('{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(&kv.key, out);
                out.push(':');
                match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(v) => write_json(v, out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `c` belongs to a word: letters, digits and `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte ranges of the words of `text`: maximal runs of letters, digits and `_`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// Whether `word` (one word, lower-cased) is a word of `text`, ignoring case: the answer of
/// `words(text).any(|w| w == word)`, without allocating when both are ASCII.
pub(crate) fn has_word(text: &str, word: &str) -> bool {
    if !text.is_ascii() || !word.is_ascii() || word.is_empty() {
        return words(text).any(|w| w == word);
    }
    let (text, word) = (text.as_bytes(), word.as_bytes());
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let first = word[0];
    let mut at = 0;
    while at + word.len() <= text.len() {
        if text[at].eq_ignore_ascii_case(&first)
            && (at == 0 || !is_word(text[at - 1]))
            && text.get(at + word.len()).is_none_or(|b| !is_word(*b))
            && text[at..at + word.len()].eq_ignore_ascii_case(word)
        {
            return true;
        }
        at += 1;
    }
    false
}

/// The words of `text`, lower-cased, in order: what word search and the body-word filters of
/// log blocks work on. `"GET /api/cart -> 404"` has the words `get`, `api`, `cart`, `404`.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    word_spans(text)
        .into_iter()
        .map(move |(start, end)| text[start..end].to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    #[test]
    fn words_are_runs_of_letters_digits_and_underscores() {
        assert_eq!(
            words("GET /api/cart -> 404 in 3.5ms, user_id=Zoë").collect::<Vec<_>>(),
            [
                "get", "api", "cart", "404", "in", "3", "5ms", "user_id", "zoë"
            ]
        );
    }

    #[test]
    fn a_word_is_found_as_tokenising_finds_it() {
        let texts = [
            "GET /api/cart -> 404",
            "cart_id=7 Carts",
            "Zoë's café",
            "",
            "a",
        ];
        for text in texts {
            for word in [
                "cart", "carts", "404", "get", "api", "zoë", "café", "a", "cart_id", "s",
            ] {
                assert_eq!(
                    has_word(text, word),
                    words(text).any(|w| w == word),
                    "{word:?} in {text:?}"
                );
            }
        }
    }

    #[test]
    fn a_substring_requires_only_the_words_it_holds_whole() {
        let query = |needle: &str| LogQuery {
            contains: vec![needle.into()],
            ..LogQuery::default()
        };
        assert!(query("rror").required_words().is_empty());
        assert_eq!(
            query("connection refused").required_words(),
            Vec::<String>::new()
        );
        assert_eq!(
            query("a connection refused b").required_words(),
            ["connection", "refused"]
        );
        assert_eq!(query(" Refused ").required_words(), ["refused"]);
        let words = LogQuery {
            words: vec!["10.0.0.1".into(), "Error".into()],
            ..LogQuery::default()
        };
        assert_eq!(words.required_words(), ["0", "1", "10", "error"]);
    }

    #[test]
    fn structured_bodies_are_searched_as_json() {
        let body = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![
                    KeyValue {
                        key_strindex: 0,
                        key: "msg".into(),
                        value: Some(string("say \"hi\"")),
                    },
                    KeyValue {
                        key_strindex: 0,
                        key: "n".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::ArrayValue(ArrayValue {
                                values: vec![
                                    AnyValue {
                                        value: Some(any_value::Value::IntValue(1)),
                                    },
                                    AnyValue { value: None },
                                ],
                            })),
                        }),
                    },
                ],
            })),
        };
        assert_eq!(
            body_text(Some(&body)),
            r#"{"msg":"say \"hi\"","n":[1,null]}"#
        );
        assert_eq!(body_text(None), "");
    }

    #[test]
    fn severities_fall_into_their_classes() {
        let classes: Vec<usize> = [0, 1, 4, 5, 9, 12, 13, 17, 21, 24, 30]
            .into_iter()
            .map(severity_class)
            .collect();
        assert_eq!(classes, [0, 1, 1, 2, 3, 3, 4, 5, 6, 6, 6]);
    }

    #[test]
    fn cursors_print_and_parse() {
        let cursor = LogCursor {
            time_unix_nano: 1_700_000_000_123_456_789,
            tiebreak: 0xabc,
        };
        assert_eq!(cursor.to_string(), "1700000000123456789-0000000000000abc");
        assert_eq!(cursor.to_string().parse::<LogCursor>(), Ok(cursor));
        assert!("12".parse::<LogCursor>().is_err());
        assert!("x-1".parse::<LogCursor>().is_err());
    }

    #[test]
    fn a_record_matches_when_every_condition_holds() {
        let resource = vec![KeyValue {
            key_strindex: 0,
            key: "service.name".into(),
            value: Some(string("cart")),
        }];
        let record = LogRecord {
            severity_number: 13,
            severity_text: "WARN".into(),
            body: Some(string("slow GetCart took 900 ms")),
            attributes: vec![KeyValue {
                key_strindex: 0,
                key: "duration_ms".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(900)),
                }),
            }],
            trace_id: vec![1; 16],
            ..LogRecord::default()
        };
        let all = LogQuery {
            services: vec!["cart".into()],
            min_severity: Some(13),
            severity_texts: vec!["WARN".into()],
            trace_id: Some([1; 16]),
            resource: vec![("service.name".into(), "cart".into())],
            attributes: vec![("duration_ms".into(), "900".into())],
            words: vec!["getcart".into()],
            contains: vec!["took 900".into()],
            ..LogQuery::default()
        };
        assert!(all.matches(&resource, &record));
        let fails: [fn(&mut LogQuery); 8] = [
            |q| q.services = vec!["web".into()],
            |q| q.min_severity = Some(17),
            |q| q.severity_texts = vec!["INFO".into()],
            |q| q.trace_id = Some([2; 16]),
            |q| q.span_id = Some([1; 8]),
            |q| q.attributes = vec![("duration_ms".into(), "901".into())],
            |q| q.words = vec!["cart".into()],
            |q| q.contains = vec!["Took".into()],
        ];
        for fail in fails {
            let mut query = all.clone();
            fail(&mut query);
            assert!(!query.matches(&resource, &record), "{query:?}");
        }
    }
}
