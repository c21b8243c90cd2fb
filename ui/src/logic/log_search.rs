//! The log explorer's state and what it computes: the search as it lives in the query string
//! (so a reload, a shared link or the back button bring it back), the API requests it makes, the
//! pages of records merged into one list (paged on scrolling, grown at the top by the live
//! tail), the words to highlight in a body, a structured body as tree rows, and the volume
//! histogram's bars and drag-to-zoom.
//!
//! As in the trace search, the URL keeps what the user chose ("last hour" stays `lookback=1h`),
//! and reading a URL never fails: what does not parse falls back to its default.

use std::sync::Arc;

use otelite_api::logs::{LogRecord, LogSearchResponse, LogVolume, SEVERITY_CLASSES};
use otelite_api::traces::{AnyValue, Resource, Scope};

use crate::logic::query_string;
use crate::logic::trace_search::{Lookback, SearchRange, parse_tags};

/// Where the log search API lives.
pub const LOGS_PATH: &str = "/api/v1/logs";
pub const LOG_VOLUME_PATH: &str = "/api/v1/logs/volume";
pub const LOG_SERVICES_PATH: &str = "/api/v1/log-services";
/// Records per request while scrolling.
pub const PAGE_SIZE: usize = 500;

/// Everything the query bar holds, and the trace (or span) the search is narrowed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSearch {
    /// Free text: whole words of the body, or `"a phrase"` as written.
    pub text: String,
    /// `""` for every service.
    pub service: String,
    /// The least severity class (index into [`SEVERITY_CLASSES`], 1 `trace` … 6 `fatal`).
    pub severity: Option<usize>,
    /// `key=value` pairs separated by spaces.
    pub tags: String,
    pub trace_id: String,
    pub span_id: String,
    pub range: SearchRange,
}

impl Default for LogSearch {
    fn default() -> LogSearch {
        LogSearch {
            text: String::new(),
            service: String::new(),
            severity: None,
            tags: String::new(),
            trace_id: String::new(),
            span_id: String::new(),
            range: SearchRange::Last(Lookback::Hour1),
        }
    }
}

/// A severity class by its name in the URL (`warn`), not `unset`.
pub fn severity_class_named(name: &str) -> Option<usize> {
    SEVERITY_CLASSES
        .iter()
        .position(|c| *c == name)
        .filter(|&i| i > 0)
}

impl LogSearch {
    /// The search a page's query string describes.
    pub fn from_query(query: &str) -> LogSearch {
        let pairs = query_string::parse(query);
        let mut search = LogSearch {
            range: SearchRange::from_query(&pairs),
            ..LogSearch::default()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "q" => search.text = value,
                "service" => search.service = value,
                "severity" => search.severity = severity_class_named(&value),
                "tags" => search.tags = value,
                "traceId" => search.trace_id = value.to_lowercase(),
                "spanId" => search.span_id = value.to_lowercase(),
                _ => {}
            }
        }
        search
    }

    /// The query string [`LogSearch::from_query`] reads back as `self`, defaults left out.
    pub fn to_query(&self) -> String {
        query_string::build(
            self.filter_pairs()
                .into_iter()
                .chain(self.range.query_pairs()),
        )
    }

    /// Every filter but the time range, as query pairs (empty ones are left out when built).
    fn filter_pairs(&self) -> [(&'static str, String); 6] {
        [
            ("q", self.text.trim().to_owned()),
            ("service", self.service.clone()),
            (
                "severity",
                self.severity.map_or("", |c| SEVERITY_CLASSES[c]).to_owned(),
            ),
            ("tags", self.tags.trim().to_owned()),
            ("traceId", self.trace_id.clone()),
            ("spanId", self.span_id.clone()),
        ]
    }

    /// The filters as the API reads them (no page parameters) at `now_ns`, or what is wrong
    /// with the query bar, as a sentence that says how to fix it.
    pub fn api_filters(&self, now_ns: u64) -> Result<String, String> {
        let (start, end) = self.range.window(now_ns);
        if start >= end {
            return Err(
                "The time range ends before it starts: pick an end after the start.".into(),
            );
        }
        let range = [("start", start.to_string()), ("end", end.to_string())];
        Ok(query_string::build(
            self.api_pairs()?.into_iter().chain(range),
        ))
    }

    /// The filters as the API reads them, without a time range: what the live tail polls with.
    pub fn tail_filters(&self) -> String {
        self.api_pairs()
            .map(query_string::build)
            .unwrap_or_default()
    }

    fn api_pairs(&self) -> Result<[(&'static str, String); 6], String> {
        parse_tags(&self.tags)?;
        if self.text.matches('"').count() % 2 == 1 {
            return Err(
                "The search text opens a quote it never closes: close it, as in \"card declined\"."
                    .into(),
            );
        }
        Ok(self.filter_pairs())
    }

    /// What the free text highlights in bodies.
    pub fn highlights(&self) -> Highlights {
        Highlights::of(&self.text)
    }
}

/// One page of the search, newest first, after `cursor` when given.
pub fn page_path(filters: &str, cursor: Option<&str>, limit: usize) -> String {
    let page = query_string::build([
        ("limit", limit.to_string()),
        ("cursor", cursor.unwrap_or_default().to_owned()),
    ]);
    format!("{LOGS_PATH}?{filters}&{page}")
}

/// Records newer than the newest shown, oldest first: the live tail's poll. `filters` must be
/// the search's filters without a time range; the range runs from the newest record's time (or
/// `since_ns` when none is shown) to `now_ns + 1`.
pub fn tail_path(filters: &str, newest: Option<&LogRow>, since_ns: u64, now_ns: u64) -> String {
    let start = newest.map_or(since_ns, |r| r.record.time_unix_nano);
    let page = query_string::build([
        ("direction", "forward".to_owned()),
        ("start", start.to_string()),
        ("end", (now_ns.max(start) + 1).to_string()),
        ("limit", "1000".to_owned()),
        (
            "cursor",
            newest.map(|r| r.record.cursor.clone()).unwrap_or_default(),
        ),
    ]);
    if filters.is_empty() {
        format!("{LOGS_PATH}?{page}")
    } else {
        format!("{LOGS_PATH}?{filters}&{page}")
    }
}

/// The volume of the search, in about 100 buckets (the API picks the step).
pub fn volume_path(filters: &str) -> String {
    format!("{LOG_VOLUME_PATH}?{filters}")
}

/// A record with its resource and scope, independent of the page it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub record: LogRecord,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

impl LogRow {
    pub fn service(&self) -> &str {
        &self.resource.service
    }

    /// The severity's text as sent, else its class name (`unset` as empty).
    pub fn severity_label(&self) -> String {
        if !self.record.severity_text.is_empty() {
            return self.record.severity_text.clone();
        }
        match severity_class(self.record.severity_number) {
            0 => String::new(),
            c => SEVERITY_CLASSES[c].to_uppercase(),
        }
    }

    pub fn severity_class(&self) -> usize {
        severity_class(self.record.severity_number)
    }
}

pub use otelite_api::logs::severity_class;

/// The rows of one response, in its order. A resource index the response does not hold (a
/// server bug) gets an empty resource rather than dropping the record.
pub fn rows_of(response: LogSearchResponse) -> Vec<LogRow> {
    let resources: Vec<Arc<Resource>> = response.resources.into_iter().map(Arc::new).collect();
    let scopes: Vec<Arc<Scope>> = response.scopes.into_iter().map(Arc::new).collect();
    let empty_resource = Arc::new(Resource {
        service: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        schema_url: String::new(),
    });
    let empty_scope = Arc::new(Scope {
        name: String::new(),
        version: String::new(),
        attributes: Vec::new(),
        schema_url: String::new(),
    });
    response
        .records
        .into_iter()
        .map(|record| LogRow {
            resource: resources
                .get(record.resource)
                .cloned()
                .unwrap_or_else(|| Arc::clone(&empty_resource)),
            scope: scopes
                .get(record.scope)
                .cloned()
                .unwrap_or_else(|| Arc::clone(&empty_scope)),
            record,
        })
        .collect()
}

/// Puts the live tail's `newer` rows (oldest first, as a forward page comes) on top of `rows`
/// (newest first), skipping any already shown. Returns how many were added.
pub fn prepend_newer(rows: &mut Vec<LogRow>, newer: Vec<LogRow>) -> usize {
    let newest = rows.first().map(|r| r.record.cursor.clone());
    let mut fresh: Vec<LogRow> = newer
        .into_iter()
        .filter(|r| Some(&r.record.cursor) != newest.as_ref())
        .collect();
    fresh.reverse();
    let added = fresh.len();
    fresh.append(rows);
    *rows = fresh;
    added
}

/// Whether the next page should be fetched: the rendered rows reach within a page's tenth of
/// the end of what is loaded, and there is more.
pub fn wants_next_page(last_rendered: usize, loaded: usize, has_more: bool) -> bool {
    has_more && last_rendered + PAGE_SIZE / 10 >= loaded
}

/// What the free text highlights: its words (as whole words, ignoring case) and its quoted
/// phrases (exactly), as the API matches them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Highlights {
    words: Vec<String>,
    phrases: Vec<String>,
}

impl Highlights {
    pub fn of(text: &str) -> Highlights {
        let mut out = Highlights::default();
        for (i, part) in text.split('"').enumerate() {
            if i % 2 == 1 {
                if !part.is_empty() {
                    out.phrases.push(part.to_owned());
                }
            } else {
                out.words
                    .extend(word_spans(part).map(|(s, e)| part[s..e].to_lowercase()));
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty()
    }

    /// `text` cut into pieces, each marked whether it is highlighted, in order; joined they
    /// are `text` again.
    pub fn split<'a>(&self, text: &'a str) -> Vec<(&'a str, bool)> {
        let mut marks: Vec<(usize, usize)> = word_spans(text)
            .filter(|&(s, e)| self.words.contains(&text[s..e].to_lowercase()))
            .collect();
        for phrase in &self.phrases {
            marks.extend(
                text.match_indices(phrase.as_str())
                    .map(|(s, p)| (s, s + p.len())),
            );
        }
        marks.sort_unstable();
        let mut out = Vec::new();
        let mut at = 0;
        for (start, end) in marks {
            let start = start.max(at);
            if start >= end {
                continue;
            }
            if start > at {
                out.push((&text[at..start], false));
            }
            out.push((&text[start..end], true));
            at = end;
        }
        if at < text.len() || out.is_empty() {
            out.push((&text[at..], false));
        }
        out
    }
}

/// Byte ranges of the words of `text` as the store tokenises bodies: maximal runs of letters,
/// digits and `_`.
fn word_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut start = None;
    let mut chars = text.char_indices().chain([(text.len(), ' ')]);
    std::iter::from_fn(move || {
        for (i, c) in chars.by_ref() {
            match (is_word(c) && i < text.len(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    start = None;
                    return Some((s, i));
                }
                _ => {}
            }
        }
        None
    })
}

/// A body as one line of text for the list: a string as it is, anything else as its value text.
pub fn body_line(body: &AnyValue) -> String {
    match body {
        AnyValue::String(s) => s.clone(),
        AnyValue::Empty => String::new(),
        other => crate::logic::span_values::value_text(other),
    }
}

/// One line of a structured body shown as a tree: its depth, its key (or `[i]` in an array),
/// and its value's text for leaves (`None` for maps and arrays, whose children follow).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRow {
    pub depth: usize,
    pub key: String,
    pub leaf: Option<String>,
    pub kind: &'static str,
}

/// The rows of a body's tree, depth first; empty for a plain (non-map, non-array) body.
pub fn body_tree(body: &AnyValue) -> Vec<TreeRow> {
    fn walk(value: &AnyValue, key: String, depth: usize, out: &mut Vec<TreeRow>) {
        use crate::logic::span_values::{value_text, value_type};
        let kind = value_type(value);
        match value {
            AnyValue::Map(entries) => {
                out.push(TreeRow {
                    depth,
                    key,
                    leaf: None,
                    kind,
                });
                for kv in entries {
                    walk(&kv.value, kv.key.clone(), depth + 1, out);
                }
            }
            AnyValue::Array(items) => {
                out.push(TreeRow {
                    depth,
                    key,
                    leaf: None,
                    kind,
                });
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("[{i}]"), depth + 1, out);
                }
            }
            leaf => out.push(TreeRow {
                depth,
                key,
                leaf: Some(value_text(leaf)),
                kind,
            }),
        }
    }
    if !matches!(body, AnyValue::Map(_) | AnyValue::Array(_)) {
        return Vec::new();
    }
    let mut out = Vec::new();
    walk(body, "body".to_owned(), 0, &mut out);
    out
}

/// One bar of the volume histogram: its left edge and width in percent of the chart's width, and
/// per severity class present its share of the tallest bar (stacked bottom up, `unset` first).
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeBar {
    pub start_ns: u64,
    pub count: u64,
    pub left: f64,
    pub width: f64,
    /// `(class, bottom %, height %)`.
    pub stack: Vec<(usize, f64, f64)>,
}

/// The histogram's bars over `[start_ns, end_ns)`, and the tallest bar's count (the axis' top).
pub fn volume_bars(volume: &LogVolume, start_ns: u64, end_ns: u64) -> (Vec<VolumeBar>, u64) {
    let span = end_ns.saturating_sub(start_ns).max(1) as f64;
    let tallest = volume
        .buckets
        .iter()
        .map(|b| b.counts.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let bars = volume
        .buckets
        .iter()
        .filter(|b| b.start_unix_nano < end_ns)
        .map(|b| {
            let count: u64 = b.counts.iter().sum();
            let from = b.start_unix_nano.max(start_ns);
            let to = (b.start_unix_nano + volume.step_ns).min(end_ns);
            let mut bottom = 0.0;
            let stack = b
                .counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(class, n)| {
                    let height = *n as f64 / tallest.max(1) as f64 * 100.0;
                    let piece = (class, bottom, height);
                    bottom += height;
                    piece
                })
                .collect();
            VolumeBar {
                start_ns: b.start_unix_nano,
                count,
                left: (from.saturating_sub(start_ns)) as f64 / span * 100.0,
                width: (to.saturating_sub(from)) as f64 / span * 100.0,
                stack,
            }
        })
        .collect();
    (bars, tallest)
}

/// The time range a drag across the histogram from `x0` to `x1` (pixels, in either order) on a
/// chart `width` pixels wide showing `[start_ns, end_ns)` selects, or `None` for a click (a
/// drag shorter than 3 pixels).
pub fn drag_range(x0: f64, x1: f64, width: f64, start_ns: u64, end_ns: u64) -> Option<SearchRange> {
    let (a, b) = if x0 <= x1 { (x0, x1) } else { (x1, x0) };
    if b - a < 3.0 || width <= 0.0 {
        return None;
    }
    let span = end_ns.saturating_sub(start_ns) as f64;
    let at = |x: f64| start_ns + ((x / width).clamp(0.0, 1.0) * span) as u64;
    let (from, to) = (at(a), at(b));
    (from < to).then_some(SearchRange::Custom {
        start_ns: from,
        end_ns: to,
    })
}

/// The link that opens the log explorer on the logs of a trace (or of one span of it) around
/// `[start_ns, end_ns]`, with the record `open` (a cursor) shown.
pub fn trace_logs_query(
    trace_id: &str,
    span_id: Option<&str>,
    start_ns: u64,
    end_ns: u64,
    open: Option<&str>,
) -> String {
    let search = LogSearch {
        trace_id: trace_id.to_owned(),
        span_id: span_id.unwrap_or_default().to_owned(),
        range: SearchRange::Custom { start_ns, end_ns },
        ..LogSearch::default()
    };
    let mut query = search.to_query();
    if let Some(cursor) = open {
        query.push('&');
        query.push_str(&query_string::build([("open", cursor.to_owned())]));
    }
    query
}

/// The record a query string asks to show opened (`open=<cursor>`), if any.
pub fn opened_cursor(query: &str) -> Option<String> {
    query_string::parse(query)
        .into_iter()
        .find(|(k, v)| k == "open" && !v.is_empty())
        .map(|(_, v)| v)
}

/// The time window logs of a trace spanning `[start_ns, end_ns]` are looked for in: a minute
/// either side, for records logged just before a span started or flushed after it ended.
pub fn trace_log_window(start_ns: u64, end_ns: u64) -> (u64, u64) {
    const MINUTE: u64 = 60_000_000_000;
    (
        start_ns.saturating_sub(MINUTE),
        end_ns.saturating_add(MINUTE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelite_api::logs::VolumeBucket;
    use otelite_api::traces::KeyValue;

    #[test]
    fn the_url_round_trips_and_defaults_stay_out() {
        assert_eq!(LogSearch::default().to_query(), "");
        let search = LogSearch {
            text: "card \"declined now\"".into(),
            service: "checkout".into(),
            severity: Some(4),
            tags: "env=dev".into(),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            range: SearchRange::Custom {
                start_ns: 100,
                end_ns: 200,
            },
        };
        let query = search.to_query();
        assert_eq!(LogSearch::from_query(&query), search);
        assert!(query.contains("severity=warn"), "{query}");
        let last6 = LogSearch {
            range: SearchRange::Last(Lookback::Hours6),
            ..LogSearch::default()
        };
        assert_eq!(last6.to_query(), "lookback=6h");
        assert_eq!(LogSearch::from_query("lookback=6h"), last6);
    }

    #[test]
    fn hand_edited_urls_fall_back_to_defaults() {
        let s = LogSearch::from_query("severity=loud&lookback=2y&start=9&end=3&traceId=ABC");
        assert_eq!(s.severity, None);
        assert_eq!(s.range, SearchRange::Last(Lookback::Hour1));
        assert_eq!(s.trace_id, "abc");
        assert_eq!(LogSearch::from_query("severity=unset").severity, None);
    }

    #[test]
    fn api_requests_carry_the_filters_and_the_resolved_window() {
        let search = LogSearch {
            text: "timeout".into(),
            service: "payment".into(),
            severity: Some(5),
            tags: "region=eu".into(),
            ..LogSearch::default()
        };
        let now = 10_000_000_000_000;
        let filters = search.api_filters(now).unwrap();
        assert_eq!(
            filters,
            format!(
                "q=timeout&service=payment&severity=error&tags=region%3Deu&start={}&end={now}",
                now - 3_600_000_000_000
            )
        );
        assert_eq!(
            page_path(&filters, Some("5-ff"), 500),
            format!("{LOGS_PATH}?{filters}&limit=500&cursor=5-ff")
        );
        assert_eq!(
            page_path(&filters, None, 500),
            format!("{LOGS_PATH}?{filters}&limit=500")
        );
        assert_eq!(
            search.tail_filters(),
            "q=timeout&service=payment&severity=error&tags=region%3Deu"
        );
        assert_eq!(
            volume_path(&filters),
            format!("{LOG_VOLUME_PATH}?{filters}")
        );
    }

    #[test]
    fn mistakes_in_the_query_bar_are_explained() {
        let bad_tags = LogSearch {
            tags: "novalue".into(),
            ..LogSearch::default()
        };
        assert!(
            bad_tags
                .api_filters(1)
                .unwrap_err()
                .contains("needs a value")
        );
        let open_quote = LogSearch {
            text: "\"card".into(),
            ..LogSearch::default()
        };
        assert!(open_quote.api_filters(1).unwrap_err().contains("quote"));
        let reversed = LogSearch {
            range: SearchRange::Custom {
                start_ns: 5,
                end_ns: 5,
            },
            ..LogSearch::default()
        };
        assert!(reversed.api_filters(10).is_err());
    }

    fn record(cursor: &str, time: u64, severity: i32) -> LogRecord {
        LogRecord {
            cursor: cursor.into(),
            resource: 0,
            scope: 0,
            time_unix_nano: time,
            event_time_unix_nano: time,
            observed_time_unix_nano: time,
            severity_number: severity,
            severity_text: String::new(),
            body: AnyValue::String(format!("at {time}")),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            flags: 0,
            trace_id: String::new(),
            span_id: String::new(),
            event_name: String::new(),
        }
    }

    fn response(records: Vec<LogRecord>) -> LogSearchResponse {
        LogSearchResponse {
            resources: vec![Resource {
                service: "shop".into(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                schema_url: String::new(),
            }],
            scopes: vec![Scope {
                name: "s".into(),
                version: String::new(),
                attributes: Vec::new(),
                schema_url: String::new(),
            }],
            records,
            next_cursor: None,
            limit: 10,
        }
    }

    #[test]
    fn rows_keep_their_resource_and_the_tail_prepends_newer_ones() {
        let mut rows = rows_of(response(vec![record("3-0", 3, 9), record("1-0", 1, 13)]));
        assert_eq!(rows[0].service(), "shop");
        assert_eq!(rows[1].severity_label(), "WARN");
        assert_eq!(rows[1].severity_class(), 4);
        // The tail asks from the newest record's time on, after its cursor; a repeat of the
        // newest record (same cursor) is skipped.
        let tail = tail_path("service=shop", rows.first(), 0, 50);
        assert_eq!(
            tail,
            format!(
                "{LOGS_PATH}?service=shop&direction=forward&start=3&end=51&limit=1000&cursor=3-0"
            )
        );
        let newer = rows_of(response(vec![
            record("3-0", 3, 9),
            record("4-0", 4, 9),
            record("5-0", 5, 9),
        ]));
        assert_eq!(prepend_newer(&mut rows, newer), 2);
        let order: Vec<&str> = rows.iter().map(|r| r.record.cursor.as_str()).collect();
        assert_eq!(order, ["5-0", "4-0", "3-0", "1-0"]);
        assert_eq!(
            tail_path("", None, 7, 50),
            format!("{LOGS_PATH}?direction=forward&start=7&end=51&limit=1000")
        );
    }

    #[test]
    fn a_bad_resource_index_keeps_the_record() {
        let mut bad = record("1-0", 1, 0);
        bad.resource = 9;
        let rows = rows_of(response(vec![bad]));
        assert_eq!(rows[0].service(), "");
        assert_eq!(rows[0].severity_label(), "");
    }

    #[test]
    fn paging_starts_near_the_end_of_what_is_loaded() {
        assert!(!wants_next_page(30, 500, true));
        assert!(wants_next_page(460, 500, true));
        assert!(!wants_next_page(500, 500, false));
    }

    #[test]
    fn highlights_mark_whole_words_and_phrases() {
        let h = Highlights::of("ORDER \"card declined\"");
        assert_eq!(
            h.split("Order 7: card declined; reorder"),
            [
                ("Order", true),
                (" 7: ", false),
                ("card declined", true),
                ("; reorder", false)
            ]
        );
        assert_eq!(Highlights::of("").split("abc"), [("abc", false)]);
        assert_eq!(Highlights::of("x").split(""), [("", false)]);
        assert!(Highlights::of("  ").is_empty());
        // Overlapping marks do not repeat text.
        let h = Highlights::of("card \"card dec\"");
        let pieces = h.split("card declined");
        assert_eq!(
            pieces.iter().map(|p| p.0).collect::<String>(),
            "card declined"
        );
        assert_eq!(pieces[0], ("card", true));
        assert_eq!(
            Highlights::of("zoë").split("Zoë!"),
            [("Zoë", true), ("!", false)]
        );
    }

    #[test]
    fn structured_bodies_become_tree_rows() {
        let body = AnyValue::Map(vec![
            KeyValue {
                key: "event".into(),
                value: AnyValue::String("refund".into()),
            },
            KeyValue {
                key: "items".into(),
                value: AnyValue::Array(vec![AnyValue::Int(1), AnyValue::Bool(true)]),
            },
        ]);
        let rows = body_tree(&body);
        let shape: Vec<(usize, &str, Option<&str>)> = rows
            .iter()
            .map(|r| (r.depth, r.key.as_str(), r.leaf.as_deref()))
            .collect();
        assert_eq!(
            shape,
            [
                (0, "body", None),
                (1, "event", Some("refund")),
                (1, "items", None),
                (2, "[0]", Some("1")),
                (2, "[1]", Some("true")),
            ]
        );
        assert!(body_tree(&AnyValue::String("plain".into())).is_empty());
        assert_eq!(body_line(&AnyValue::String("plain".into())), "plain");
        assert_eq!(body_line(&body), "{event: \"refund\", items: [1, true]}");
    }

    #[test]
    fn volume_bars_stack_severities_on_the_time_axis() {
        let volume = LogVolume {
            step_ns: 10,
            buckets: vec![
                VolumeBucket {
                    start_unix_nano: 0,
                    counts: vec![0, 0, 0, 2, 0, 2, 0],
                },
                VolumeBucket {
                    start_unix_nano: 50,
                    counts: vec![1, 0, 0, 0, 0, 0, 0],
                },
            ],
            severities: vec![1, 0, 0, 2, 0, 2, 0],
            services: Vec::new(),
        };
        let (bars, tallest) = volume_bars(&volume, 0, 100);
        assert_eq!(tallest, 4);
        assert_eq!(bars[0].count, 4);
        assert_eq!((bars[0].left, bars[0].width), (0.0, 10.0));
        assert_eq!(bars[0].stack, [(3, 0.0, 50.0), (5, 50.0, 50.0)]);
        assert_eq!(
            (bars[1].left, bars[1].stack.clone()),
            (50.0, vec![(0, 0.0, 25.0)])
        );
    }

    #[test]
    fn dragging_across_the_histogram_selects_its_time_range() {
        assert_eq!(
            drag_range(300.0, 100.0, 1000.0, 1_000, 2_000),
            Some(SearchRange::Custom {
                start_ns: 1_100,
                end_ns: 1_300
            })
        );
        assert_eq!(
            drag_range(-50.0, 2000.0, 1000.0, 1_000, 2_000),
            Some(SearchRange::Custom {
                start_ns: 1_000,
                end_ns: 2_000
            })
        );
        assert_eq!(drag_range(100.0, 101.0, 1000.0, 1_000, 2_000), None);
    }

    #[test]
    fn links_between_traces_and_logs() {
        let query = trace_logs_query(
            "4bf92f3577b34da6a3ce929d0e0e4736",
            Some("00f067aa0ba902b7"),
            10,
            20,
            Some("15-ab"),
        );
        assert_eq!(
            query,
            "traceId=4bf92f3577b34da6a3ce929d0e0e4736&spanId=00f067aa0ba902b7&start=10&end=20&open=15-ab"
        );
        let search = LogSearch::from_query(&query);
        assert_eq!(search.span_id, "00f067aa0ba902b7");
        assert_eq!(opened_cursor(&query).as_deref(), Some("15-ab"));
        assert_eq!(opened_cursor("traceId=x"), None);
        assert_eq!(trace_log_window(100, 200), (0, 60_000_000_200));
    }
}
