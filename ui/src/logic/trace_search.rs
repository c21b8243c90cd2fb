//! The trace search's state: what the form holds, how it lives in the page's query string (so a
//! reload or the back button brings a search back), how it becomes an API request, and how the
//! results are ordered.
//!
//! The URL keeps what the user chose, not what it resolved to: "last hour" stays `lookback=1h`
//! and means the hour before each reload, and durations keep the user's spelling (`1.5s`).
//! Reading a URL never fails: a value that does not parse falls back to its default, because a
//! hand-edited link should still open the page.

use otelite_api::traces::{SpanKind, TraceSummary};

use crate::logic::CivilTime;
use crate::logic::query_string;

/// Where the trace search API lives.
pub const TRACES_PATH: &str = "/api/v1/traces";
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 1000;

const NS_PER_MINUTE: u64 = 60_000_000_000;

/// The preset time ranges: the span of time before now that is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookback {
    Minutes15,
    Hour1,
    Hours6,
    Hours24,
}

impl Lookback {
    pub const ALL: [Lookback; 4] = [
        Lookback::Minutes15,
        Lookback::Hour1,
        Lookback::Hours6,
        Lookback::Hours24,
    ];

    /// As in the URL: `15m`, `1h`, `6h`, `24h`.
    pub fn name(self) -> &'static str {
        match self {
            Lookback::Minutes15 => "15m",
            Lookback::Hour1 => "1h",
            Lookback::Hours6 => "6h",
            Lookback::Hours24 => "24h",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Lookback::Minutes15 => "Last 15 minutes",
            Lookback::Hour1 => "Last hour",
            Lookback::Hours6 => "Last 6 hours",
            Lookback::Hours24 => "Last 24 hours",
        }
    }

    pub fn from_name(name: &str) -> Option<Lookback> {
        Lookback::ALL.into_iter().find(|l| l.name() == name)
    }

    pub fn nanos(self) -> u64 {
        NS_PER_MINUTE
            * match self {
                Lookback::Minutes15 => 15,
                Lookback::Hour1 => 60,
                Lookback::Hours6 => 360,
                Lookback::Hours24 => 1440,
            }
    }
}

/// The span of start times searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchRange {
    Last(Lookback),
    /// Unix nanoseconds, start inclusive, end exclusive.
    Custom {
        start_ns: u64,
        end_ns: u64,
    },
}

impl SearchRange {
    /// The range a search page's query string keeps: `lookback=1h`, or `start` and `end` (unix
    /// ns, start before end, which win over a lookback); the last hour when neither reads.
    pub fn from_query(pairs: &[(String, String)]) -> SearchRange {
        let mut range = SearchRange::Last(Lookback::Hour1);
        let (mut start, mut end) = (None, None);
        for (key, value) in pairs {
            match key.as_str() {
                "lookback" => {
                    if let Some(lookback) = Lookback::from_name(value) {
                        range = SearchRange::Last(lookback);
                    }
                }
                "start" => start = value.parse::<u64>().ok(),
                "end" => end = value.parse::<u64>().ok(),
                _ => {}
            }
        }
        match (start, end) {
            (Some(start_ns), Some(end_ns)) if start_ns < end_ns => {
                SearchRange::Custom { start_ns, end_ns }
            }
            _ => range,
        }
    }

    /// The query pairs [`SearchRange::from_query`] reads back as `self`, the last hour (the
    /// default) as none.
    pub fn query_pairs(self) -> [(&'static str, String); 3] {
        let (lookback, start, end) = match self {
            SearchRange::Last(Lookback::Hour1) => (String::new(), String::new(), String::new()),
            SearchRange::Last(l) => (l.name().to_owned(), String::new(), String::new()),
            SearchRange::Custom { start_ns, end_ns } => {
                (String::new(), start_ns.to_string(), end_ns.to_string())
            }
        };
        [("lookback", lookback), ("start", start), ("end", end)]
    }

    /// The window this range means at `now_ns`.
    pub fn window(self, now_ns: u64) -> (u64, u64) {
        match self {
            SearchRange::Last(lookback) => (now_ns.saturating_sub(lookback.nanos()), now_ns),
            SearchRange::Custom { start_ns, end_ns } => (start_ns, end_ns),
        }
    }
}

/// How the result list is sorted (the API always answers newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOrder {
    Newest,
    Oldest,
    Longest,
    Shortest,
    MostSpans,
}

impl ResultOrder {
    pub const ALL: [ResultOrder; 5] = [
        ResultOrder::Newest,
        ResultOrder::Oldest,
        ResultOrder::Longest,
        ResultOrder::Shortest,
        ResultOrder::MostSpans,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ResultOrder::Newest => "newest",
            ResultOrder::Oldest => "oldest",
            ResultOrder::Longest => "longest",
            ResultOrder::Shortest => "shortest",
            ResultOrder::MostSpans => "spans",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ResultOrder::Newest => "Most recent",
            ResultOrder::Oldest => "Oldest",
            ResultOrder::Longest => "Longest first",
            ResultOrder::Shortest => "Shortest first",
            ResultOrder::MostSpans => "Most spans",
        }
    }

    pub fn from_name(name: &str) -> Option<ResultOrder> {
        ResultOrder::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Sorts `traces` this way; ties keep the newest first.
    pub fn sort(self, traces: &mut [TraceSummary]) {
        let newest = |a: &TraceSummary, b: &TraceSummary| b.start_unix_nano.cmp(&a.start_unix_nano);
        traces.sort_by(|a, b| match self {
            ResultOrder::Newest => newest(a, b),
            ResultOrder::Oldest => newest(b, a),
            ResultOrder::Longest => b.duration_ns.cmp(&a.duration_ns).then(newest(a, b)),
            ResultOrder::Shortest => a.duration_ns.cmp(&b.duration_ns).then(newest(a, b)),
            ResultOrder::MostSpans => b.span_count.cmp(&a.span_count).then(newest(a, b)),
        });
    }
}

/// Everything the search form holds. Text fields keep what the user typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSearch {
    /// `""` for any service.
    pub service: String,
    /// `""` for any operation.
    pub operation: String,
    pub kind: Option<SpanKind>,
    /// `key=value` pairs separated by spaces: `http.status_code=500 env=dev`.
    pub tags: String,
    /// Durations such as `100ms` or `1.5s`; `""` for no bound.
    pub min_duration: String,
    pub max_duration: String,
    pub range: SearchRange,
    pub limit: usize,
    pub order: ResultOrder,
}

impl Default for TraceSearch {
    fn default() -> TraceSearch {
        TraceSearch {
            service: String::new(),
            operation: String::new(),
            kind: None,
            tags: String::new(),
            min_duration: String::new(),
            max_duration: String::new(),
            range: SearchRange::Last(Lookback::Hour1),
            limit: DEFAULT_LIMIT,
            order: ResultOrder::Newest,
        }
    }
}

impl TraceSearch {
    /// The search a page's query string (`location.search`) describes.
    pub fn from_query(query: &str) -> TraceSearch {
        let pairs = query_string::parse(query);
        let mut search = TraceSearch {
            range: SearchRange::from_query(&pairs),
            ..TraceSearch::default()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "service" => search.service = value,
                "operation" => search.operation = value,
                "kind" => search.kind = SpanKind::from_name(&value),
                "tags" => search.tags = value,
                "minDuration" => search.min_duration = value,
                "maxDuration" => search.max_duration = value,
                "limit" => {
                    if let Ok(limit) = value.parse::<usize>() {
                        search.limit = limit.clamp(1, MAX_LIMIT);
                    }
                }
                "sort" => {
                    if let Some(order) = ResultOrder::from_name(&value) {
                        search.order = order;
                    }
                }
                _ => {}
            }
        }
        search
    }

    /// The query string (without `?`) that [`TraceSearch::from_query`] reads back as `self`;
    /// defaults are left out so plain searches keep short URLs.
    pub fn to_query(&self) -> String {
        let default = TraceSearch::default();
        let unless_default = |value: String, default: String| {
            if value == default {
                String::new()
            } else {
                value
            }
        };
        let [lookback, start, end] = self.range.query_pairs();
        query_string::build([
            ("service", self.service.clone()),
            ("operation", self.operation.clone()),
            (
                "kind",
                self.kind.map(|k| k.name().to_owned()).unwrap_or_default(),
            ),
            ("tags", self.tags.trim().to_owned()),
            ("minDuration", self.min_duration.trim().to_owned()),
            ("maxDuration", self.max_duration.trim().to_owned()),
            lookback,
            start,
            end,
            (
                "limit",
                unless_default(self.limit.to_string(), default.limit.to_string()),
            ),
            (
                "sort",
                unless_default(
                    self.order.name().to_owned(),
                    default.order.name().to_owned(),
                ),
            ),
        ])
    }

    /// The API request for this search at `now_ns`, or what is wrong with the form, as a
    /// sentence that says how to fix it.
    pub fn api_path(&self, now_ns: u64) -> Result<String, String> {
        let min = parse_duration(&self.min_duration).map_err(|e| format!("Min duration: {e}"))?;
        let max = parse_duration(&self.max_duration).map_err(|e| format!("Max duration: {e}"))?;
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err("Min duration is longer than max duration: swap them or clear one.".into());
        }
        let tags = parse_tags(&self.tags)?;
        let (start, end) = self.range.window(now_ns);
        if start >= end {
            return Err(
                "The time range ends before it starts: pick an end after the start.".into(),
            );
        }
        let query = query_string::build([
            ("service", self.service.clone()),
            ("operation", self.operation.clone()),
            (
                "kind",
                self.kind.map(|k| k.name().to_owned()).unwrap_or_default(),
            ),
            ("tags", format_tags(&tags)),
            ("minDuration", min.map(duration_param).unwrap_or_default()),
            ("maxDuration", max.map(duration_param).unwrap_or_default()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", self.limit.clamp(1, MAX_LIMIT).to_string()),
        ]);
        Ok(format!("{TRACES_PATH}?{query}"))
    }
}

/// A duration as the user writes it: a number and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`,
/// `h`), decimals allowed (`1.5s`). Empty text is no bound.
pub fn parse_duration(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("\"{text}\" needs a unit, as in 100ms, 1.5s or 2m."))?;
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => {
            return Err(format!(
                "\"{other}\" is not a unit; use ns, us, ms, s, m or h (as in 100ms)."
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a number with a unit, as in 100ms."))?;
    let ns = value * scale as f64;
    if !ns.is_finite() || ns > u64::MAX as f64 {
        return Err(format!("\"{text}\" is too long a duration."));
    }
    Ok(Some(ns.round() as u64))
}

/// A duration for the API: whole units, the largest that keeps it exact.
fn duration_param(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// `key=value` pairs separated by spaces. A value may be double-quoted to hold spaces
/// (`http.route="/cart items"`), with `\"` and `\\` inside: the API's own grammar
/// (`otelite_api::traces::parse_tags`), with the errors said for the search form.
pub fn parse_tags(text: &str) -> Result<Vec<(String, String)>, String> {
    use otelite_api::traces::TagsError;
    otelite_api::traces::parse_tags(text).map_err(|error| match error {
        TagsError::NoValue { key } => {
            format!("Tag \"{key}\" needs a value: write key=value, as in http.status_code=500.")
        }
        TagsError::NoKey => "A tag has no key before its \"=\": write key=value.".into(),
        TagsError::UnclosedQuote { key } => {
            format!("The value of tag \"{key}\" opens a quote it never closes.")
        }
        TagsError::TextAfterQuote { key } => {
            format!("The quoted value of tag \"{key}\" needs a space after its closing quote.")
        }
    })
}

/// Tags back into text, quoting (and escaping) the values that need it.
pub fn format_tags(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(key, value)| {
            let plain = !value.is_empty()
                && !value.starts_with('"')
                && !value.contains(char::is_whitespace);
            if plain {
                format!("{key}={value}")
            } else {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                format!("{key}=\"{escaped}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2024-05-01T12:34`, what an `<input type="datetime-local">` holds, for `ns` in a zone
/// `offset_minutes` east of UTC.
pub fn datetime_local_value(ns: u64, offset_minutes: i32) -> String {
    let t = CivilTime::from_nanos(ns, offset_minutes);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// The unix nanoseconds of a `datetime-local` value (`2024-05-01T12:34`, seconds optional).
pub fn parse_datetime_local(value: &str, offset_minutes: i32) -> Option<u64> {
    let (date, time) = value.trim().split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<u32>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.splitn(3, ':');
    let hour: u32 = time.next()?.parse().ok()?;
    let minute: u32 = time.next()?.parse().ok()?;
    let (second, millisecond) = match time.next() {
        Some(s) => {
            let seconds: f64 = s.parse().ok()?;
            (
                seconds as u32,
                ((seconds.fract() * 1000.0).round() as u32).min(999),
            )
        }
        None => (0, 0),
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    CivilTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        millisecond,
    }
    .to_nanos(offset_minutes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelite_api::traces::ServiceSpans;

    const NOW: u64 = 1_700_000_000_000_000_000;

    #[test]
    fn a_search_survives_the_round_trip_through_the_url() {
        let search = TraceSearch {
            service: "checkout".into(),
            operation: "POST /cart items".into(),
            kind: Some(SpanKind::Server),
            tags: "http.status_code=500 env=dev".into(),
            min_duration: "100ms".into(),
            max_duration: "1.5s".into(),
            range: SearchRange::Last(Lookback::Hours6),
            limit: 50,
            order: ResultOrder::Longest,
        };
        let query = search.to_query();
        assert_eq!(TraceSearch::from_query(&format!("?{query}")), search);

        let custom = TraceSearch {
            range: SearchRange::Custom {
                start_ns: NOW - 1,
                end_ns: NOW,
            },
            ..TraceSearch::default()
        };
        assert_eq!(TraceSearch::from_query(&custom.to_query()), custom);
    }

    #[test]
    fn defaults_keep_the_url_empty_and_junk_falls_back_to_them() {
        assert_eq!(TraceSearch::default().to_query(), "");
        assert_eq!(TraceSearch::from_query(""), TraceSearch::default());
        let junk = TraceSearch::from_query(
            "?kind=sideways&lookback=3w&limit=lots&sort=random&start=9&end=2&other=1",
        );
        assert_eq!(junk, TraceSearch::default());
        assert_eq!(TraceSearch::from_query("limit=999999").limit, MAX_LIMIT);
        assert_eq!(TraceSearch::from_query("limit=0").limit, 1);
    }

    #[test]
    fn the_api_request_resolves_the_range_and_normalises_the_fields() {
        let search = TraceSearch {
            service: "checkout".into(),
            kind: Some(SpanKind::Server),
            tags: " http.status_code=500   env=dev ".into(),
            min_duration: "1.5s".into(),
            max_duration: "250us".into(),
            ..TraceSearch::default()
        };
        assert_eq!(
            search.api_path(NOW).unwrap_err(),
            "Min duration is longer than max duration: swap them or clear one."
        );
        let search = TraceSearch {
            max_duration: "2m".into(),
            ..search
        };
        assert_eq!(
            search.api_path(NOW).unwrap(),
            format!(
                "/api/v1/traces?service=checkout&kind=server&tags=http.status_code%3D500%20env%3Ddev\
                 &minDuration=1500ms&maxDuration=120000ms&start={}&end={NOW}&limit=20",
                NOW - 3_600_000_000_000
            )
        );
    }

    #[test]
    fn form_mistakes_read_as_instructions() {
        let bad = |field: fn(&mut TraceSearch)| {
            let mut search = TraceSearch::default();
            field(&mut search);
            search.api_path(NOW).unwrap_err()
        };
        assert_eq!(
            bad(|s| s.min_duration = "100".into()),
            "Min duration: \"100\" needs a unit, as in 100ms, 1.5s or 2m."
        );
        assert!(bad(|s| s.max_duration = "5 parsecs".into()).contains("not a unit"));
        assert!(bad(|s| s.tags = "env".into()).contains("Tag \"env\" needs a value"));
        assert!(
            bad(|s| {
                s.range = SearchRange::Custom {
                    start_ns: 5,
                    end_ns: 5,
                }
            })
            .contains("ends before it starts")
        );
    }

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration(""), Ok(None));
        assert_eq!(parse_duration("100ms"), Ok(Some(100_000_000)));
        assert_eq!(parse_duration(" 1.5s "), Ok(Some(1_500_000_000)));
        assert_eq!(parse_duration("250µs"), Ok(Some(250_000)));
        assert_eq!(parse_duration("250 us"), Ok(Some(250_000)));
        assert_eq!(parse_duration("2m"), Ok(Some(120_000_000_000)));
        assert_eq!(parse_duration("7ns"), Ok(Some(7)));
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("ms").is_err());
        assert_eq!(duration_param(1_500), "1500ns");
        assert_eq!(duration_param(2_000), "2us");
    }

    #[test]
    fn tags_split_on_spaces_and_honour_quotes() {
        assert_eq!(
            parse_tags(r#"http.status_code=500 http.route="/cart items" empty="""#).unwrap(),
            [
                ("http.status_code".to_owned(), "500".to_owned()),
                ("http.route".to_owned(), "/cart items".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        assert_eq!(
            format_tags(&parse_tags(r#"a=1 b="x y""#).unwrap()),
            r#"a=1 b="x y""#
        );
        let tricky = r#"msg="say \"hi\" \\ bye" q="\"" "#;
        let parsed = parse_tags(tricky).unwrap();
        assert_eq!(parsed[0].1, r#"say "hi" \ bye"#);
        assert_eq!(parsed[1].1, r#"""#);
        assert_eq!(parse_tags(&format_tags(&parsed)).unwrap(), parsed);
        assert!(
            parse_tags(r#"a="x"y"#)
                .unwrap_err()
                .contains("needs a space")
        );
        assert!(parse_tags("=5").is_err());
        assert!(
            parse_tags(r#"a="open"#)
                .unwrap_err()
                .contains("never closes")
        );
        assert_eq!(parse_tags("   "), Ok(vec![]));
        assert_eq!(
            parse_tags("a=b=c").unwrap(),
            [("a".to_owned(), "b=c".to_owned())]
        );
    }

    #[test]
    fn results_sort_with_newest_first_on_ties() {
        let summary = |id: &str, start: u64, duration: u64, spans: u64| TraceSummary {
            trace_id: id.into(),
            root_service: "s".into(),
            root_name: "op".into(),
            has_root: true,
            start_unix_nano: start,
            duration_ns: duration,
            span_count: spans,
            error_count: 0,
            services: vec![ServiceSpans {
                service: "s".into(),
                spans,
            }],
        };
        let mut traces = vec![
            summary("a", 1, 50, 3),
            summary("b", 3, 10, 3),
            summary("c", 2, 50, 9),
        ];
        let ids = |t: &[TraceSummary]| t.iter().map(|t| t.trace_id.clone()).collect::<String>();
        ResultOrder::Newest.sort(&mut traces);
        assert_eq!(ids(&traces), "bca");
        ResultOrder::Oldest.sort(&mut traces);
        assert_eq!(ids(&traces), "acb");
        ResultOrder::Longest.sort(&mut traces);
        assert_eq!(ids(&traces), "cab");
        ResultOrder::Shortest.sort(&mut traces);
        assert_eq!(ids(&traces), "bca");
        ResultOrder::MostSpans.sort(&mut traces);
        assert_eq!(ids(&traces), "cba");
    }

    #[test]
    fn datetime_local_values_round_trip() {
        let value = datetime_local_value(NOW, 60);
        assert_eq!(value, "2023-11-14T23:13");
        assert_eq!(parse_datetime_local(&value, 60), Some(NOW - 20_000_000_000));
        assert_eq!(
            parse_datetime_local("2023-11-14T22:13:20.5", 0),
            Some(NOW + 500_000_000)
        );
        assert_eq!(parse_datetime_local("2023-13-01T00:00", 0), None);
        assert_eq!(parse_datetime_local("yesterday", 0), None);
    }
}
