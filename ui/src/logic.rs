//! The UI's plain logic: routes, number and time formatting, URL building, and (in the
//! submodules) everything the trace pages compute.
//!
//! Nothing here touches the DOM, the network or the clock (callers pass "now" and the time zone
//! in), so all of it is unit-tested natively with `cargo test -p otelite-ui`. Components call
//! these functions and only render the result.

pub mod auth;
pub mod chart;
pub mod http_dashboard;
pub mod log_search;
pub mod metric_chart;
pub mod metric_explorer;
pub mod promql_complete;
pub mod query_string;
pub mod service_color;
pub mod span_tree;
pub mod span_values;
pub mod trace_search;

/// Where the query API's status lives, relative to the page's origin.
pub const STATUS_PATH: &str = "/api/v1/status";
/// The services that sent spans.
pub const TRACE_SERVICES_PATH: &str = "/api/v1/trace-services";
/// The span names of one service (`?service=`).
pub const TRACE_OPERATIONS_PATH: &str = "/api/v1/trace-operations";

/// The API path of one trace.
pub fn trace_path(trace_id: &str) -> String {
    format!("/api/v1/traces/{}", query_string::encode(trace_id))
}

/// The API path of one trace as OTLP/JSON, for download.
pub fn trace_otlp_path(trace_id: &str) -> String {
    format!("{}/otlp", trace_path(trace_id))
}

pub use otelite_api::Signal;

/// How the UI words a signal.
pub trait SignalWords {
    /// The capitalised name shown in headings and navigation.
    fn title(self) -> &'static str;
    /// What one stored item of this signal is called.
    fn item_noun(self) -> &'static str;
}

impl SignalWords for Signal {
    fn title(self) -> &'static str {
        match self {
            Signal::Traces => "Traces",
            Signal::Metrics => "Metrics",
            Signal::Logs => "Logs",
        }
    }

    fn item_noun(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }
}

/// A page of the UI, decided by the URL path alone so that a reload of any deep link works.
/// (Pages that keep state in the URL, like the trace search, read the query string themselves.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Overview,
    /// `/traces`: the trace search.
    TraceSearch,
    /// `/traces/{trace_id}`: one trace. The id is kept as written; the page checks it.
    Trace(String),
    /// `/logs`: the log explorer.
    Logs,
    /// `/metrics`: the metric explorer. (The server answers the same path with its own
    /// metrics, except to a browser asking for HTML.)
    Metrics,
    /// `/metrics/http`: the HTTP dashboard.
    HttpDashboard,
    /// A path the UI has no page for; kept so the page can say which one.
    NotFound(String),
}

impl Route {
    /// The page the navigation opens for `signal`.
    pub fn for_signal(signal: Signal) -> Route {
        match signal {
            Signal::Traces => Route::TraceSearch,
            Signal::Logs => Route::Logs,
            Signal::Metrics => Route::Metrics,
        }
    }

    /// The route for a `location.pathname`. A trailing slash and `/index.html` are accepted.
    pub fn from_path(path: &str) -> Route {
        let trimmed = path.trim_end_matches('/');
        match trimmed {
            "" | "/index.html" | "/overview" => return Route::Overview,
            "/traces" => return Route::TraceSearch,
            "/logs" => return Route::Logs,
            "/metrics" => return Route::Metrics,
            "/metrics/http" => return Route::HttpDashboard,
            _ => {}
        }
        if let Some(id) = trimmed.strip_prefix("/traces/")
            && !id.is_empty()
            && !id.contains('/')
        {
            return Route::Trace(id.to_owned());
        }
        Route::NotFound(path.to_owned())
    }

    /// The canonical path of this route, as put in links and the address bar.
    pub fn path(&self) -> String {
        match self {
            Route::Overview => "/".to_owned(),
            Route::TraceSearch => "/traces".to_owned(),
            Route::Trace(id) => format!("/traces/{}", query_string::encode(id)),
            Route::Logs => "/logs".to_owned(),
            Route::Metrics => "/metrics".to_owned(),
            Route::HttpDashboard => "/metrics/http".to_owned(),
            Route::NotFound(path) => path.clone(),
        }
    }

    /// The signal whose navigation entry this page belongs to, if any.
    pub fn section(&self) -> Option<Signal> {
        match self {
            Route::TraceSearch | Route::Trace(_) => Some(Signal::Traces),
            Route::Logs => Some(Signal::Logs),
            Route::Metrics | Route::HttpDashboard => Some(Signal::Metrics),
            Route::Overview | Route::NotFound(_) => None,
        }
    }

    /// The text for `document.title`.
    pub fn document_title(&self) -> String {
        match self {
            Route::Overview => "otelite".to_owned(),
            Route::TraceSearch => "Traces · otelite".to_owned(),
            Route::Trace(id) => format!("Trace {} · otelite", short_id(id)),
            Route::Logs => "Logs · otelite".to_owned(),
            Route::Metrics => "Metrics · otelite".to_owned(),
            Route::HttpDashboard => "HTTP dashboard · otelite".to_owned(),
            Route::NotFound(_) => "Not found · otelite".to_owned(),
        }
    }
}

/// The first 8 characters of an id, as lists show it (the full id is in links and titles).
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Whether `id` is a trace id as the API spells it: 32 hex digits, not all zero.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')
}

/// `1234567` → `1,234,567`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `12.0 MiB`, `340 GiB`.
///
/// One decimal below 100 of a unit, none above, so the width stays short.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    // Rounding 1023.96 to "1024.0 KiB" would look wrong; step up a unit instead.
    if value >= 1023.95 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 99.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// Seconds as the two largest units: `42s`, `5m 3s`, `2h 5m`, `3d 4h`.
pub fn format_duration(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match seconds {
        s if s < MINUTE => format!("{s}s"),
        s if s < HOUR => format!("{}m {}s", s / MINUTE, s % MINUTE),
        s if s < DAY => format!("{}h {}m", s / HOUR, s % HOUR / MINUTE),
        s => format!("{}d {}h", s / DAY, s % DAY / HOUR),
    }
}

/// An export latency quantile from the status API: `≤ 5ms`, `≤ 1.5s` (it is a histogram
/// bucket's upper bound, so "at most"), `–` before any export or past the largest bucket.
pub fn format_latency(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s.is_finite() && s >= 0.0 => {
            format!("≤ {}", format_nanos((s * 1e9).round() as u64))
        }
        _ => "–".to_owned(),
    }
}

/// Refusals by reason as the overview lists them: `too_old 3 · invalid 1`, most first; empty
/// when nothing was refused.
pub fn format_reasons(reasons: &[otelite_api::ReasonCount]) -> String {
    let mut sorted: Vec<_> = reasons.iter().filter(|r| r.count > 0).collect();
    sorted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    sorted
        .iter()
        .map(|r| format!("{} {}", r.reason.replace('_', " "), format_count(r.count)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A span or trace duration in nanoseconds, with three significant digits: `830ns`, `4.25µs`,
/// `12.3ms`, `1.50s`; from a minute on as [`format_duration`] does (`2m 5s`).
pub fn format_nanos(ns: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")];
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns >= 60_000_000_000 {
        return format_duration(ns / 1_000_000_000);
    }
    let (mut i, mut value) = (0, 0.0);
    for (n, (scale, _)) in UNITS.iter().enumerate() {
        if ns >= *scale {
            (i, value) = (n, ns as f64 / *scale as f64);
        }
    }
    // 999.96µs would print as "1000µs": step up a unit instead.
    if value >= 999.5 && i + 1 < UNITS.len() {
        i += 1;
        value /= 1000.0;
    }
    let unit = UNITS[i].1;
    if value < 9.995 {
        format!("{value:.2}{unit}")
    } else if value < 99.95 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// How long before `now_ns` the time `ns` was: `just now`, `42s ago`, `5m ago`, `3h ago`,
/// `2d ago`; times ahead of now (clock skew) read `in 5s`.
pub fn format_relative(ns: u64, now_ns: u64) -> String {
    const SECOND: u64 = 1_000_000_000;
    let (gap, ahead) = if ns > now_ns {
        (ns - now_ns, true)
    } else {
        (now_ns - ns, false)
    };
    let seconds = gap / SECOND;
    if seconds < 1 {
        return "just now".to_owned();
    }
    let amount = match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A wall-clock time `offset_minutes` east of UTC, broken into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
}

impl CivilTime {
    /// `ns` since the epoch, seen from a zone `offset_minutes` east of UTC (what
    /// `-Date.getTimezoneOffset()` gives).
    pub fn from_nanos(ns: u64, offset_minutes: i32) -> CivilTime {
        let ms = (ns / 1_000_000) as i64 + i64::from(offset_minutes) * 60_000;
        let days = ms.div_euclid(86_400_000);
        let ms_of_day = ms.rem_euclid(86_400_000) as u32;
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        CivilTime {
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millisecond: ms_of_day % 1000,
        }
    }

    /// The unix nanoseconds of this wall-clock time in a zone `offset_minutes` east of UTC.
    pub fn to_nanos(self, offset_minutes: i32) -> Option<u64> {
        // Hinnant's civil-to-days.
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let ms = days * 86_400_000
            + i64::from(self.hour) * 3_600_000
            + i64::from(self.minute) * 60_000
            + i64::from(self.second) * 1000
            + i64::from(self.millisecond)
            - i64::from(offset_minutes) * 60_000;
        u64::try_from(ms).ok()?.checked_mul(1_000_000)
    }
}

/// `2024-05-01 12:34:56.789` in a zone `offset_minutes` east of UTC.
pub fn format_timestamp(ns: u64, offset_minutes: i32) -> String {
    let t = CivilTime::from_nanos(ns, offset_minutes);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond
    )
}

/// `12:34:56` in a zone `offset_minutes` east of UTC, for chart axes.
pub fn format_clock(ns: u64, offset_minutes: i32) -> String {
    let t = CivilTime::from_nanos(ns, offset_minutes);
    format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

/// `12:34:56.789` in a zone `offset_minutes` east of UTC, for axes finer than a second.
pub fn format_clock_ms(ns: u64, offset_minutes: i32) -> String {
    let t = CivilTime::from_nanos(ns, offset_minutes);
    format!("{}.{:03}", format_clock(ns, offset_minutes), t.millisecond)
}

/// `name` cut into pieces after each `/`, `.` and `:`, where a long span name such as
/// `oteldemo.InventoryService/GetStock` may wrap (the component puts a `<wbr>` between them).
pub fn wrap_points(name: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in name.char_indices() {
        if matches!(c, '/' | '.' | ':') {
            pieces.push(&name[start..i + 1]);
            start = i + 1;
        }
    }
    if start < name.len() || pieces.is_empty() {
        pieces.push(&name[start..]);
    }
    pieces
}

/// The first and one-past-last rows to render for a list scrolled to `scroll_top` in a viewport
/// `viewport` pixels tall, of `count` rows `row_height` tall, with `overscan` rows either side.
pub fn visible_rows(
    scroll_top: f64,
    viewport: f64,
    row_height: f64,
    count: usize,
    overscan: usize,
) -> (usize, usize) {
    let top = scroll_top.max(0.0);
    let first = ((top / row_height) as usize)
        .saturating_sub(overscan)
        .min(count);
    let last = (((top + viewport.max(0.0)) / row_height).ceil() as usize + overscan).min(count);
    (first, last.max(first))
}

/// A time window in unix nanoseconds, `start` inclusive, `end` exclusive, as the export API
/// takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl TimeWindow {
    /// The `hours` before `now_ms` (milliseconds since the epoch, as `Date.now()` gives them).
    pub fn last_hours(now_ms: f64, hours: u64) -> TimeWindow {
        const NS_PER_MS: u64 = 1_000_000;
        let end_ns = (now_ms.max(0.0) as u64).saturating_mul(NS_PER_MS);
        let start_ns = end_ns.saturating_sub(hours * 3600 * 1000 * NS_PER_MS);
        TimeWindow { start_ns, end_ns }
    }
}

/// The export API's URL for one signal: OTLP JSON of everything stored in `window`.
pub fn export_url(origin: &str, signal: Signal, window: TimeWindow) -> String {
    format!(
        "{}/api/v1/export/{}?start={}&end={}",
        origin.trim_end_matches('/'),
        signal.name(),
        window.start_ns,
        window.end_ns
    )
}

/// A shell line that saves one signal's export to `<signal>.json`, ready to paste.
pub fn export_curl(origin: &str, signal: Signal, window: TimeWindow) -> String {
    format!(
        "curl -sS -o {}.json '{}'",
        signal.name(),
        export_url(origin, signal, window)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_as_at_most_a_bucket_bound() {
        assert_eq!(format_latency(Some(0.005)), "≤ 5.00ms");
        assert_eq!(format_latency(Some(2.5)), "≤ 2.50s");
        assert_eq!(format_latency(None), "–");
        assert_eq!(format_latency(Some(f64::INFINITY)), "–");
    }

    #[test]
    fn reasons_list_the_largest_first() {
        let reason = |reason: &str, count| otelite_api::ReasonCount {
            reason: reason.to_owned(),
            count,
        };
        assert_eq!(
            format_reasons(&[
                reason("invalid", 1),
                reason("too_old", 1_200),
                reason("disk_full", 0)
            ]),
            "too old 1,200 · invalid 1"
        );
        assert_eq!(format_reasons(&[]), "");
    }

    #[test]
    fn routes_follow_the_path() {
        assert_eq!(Route::from_path("/"), Route::Overview);
        assert_eq!(Route::from_path(""), Route::Overview);
        assert_eq!(Route::from_path("/index.html"), Route::Overview);
        assert_eq!(Route::from_path("/traces"), Route::TraceSearch);
        assert_eq!(Route::from_path("/traces/"), Route::TraceSearch);
        assert_eq!(
            Route::from_path("/traces/0af7651916cd43dd8448eb211c80319c"),
            Route::Trace("0af7651916cd43dd8448eb211c80319c".to_owned())
        );
        assert_eq!(
            Route::from_path("/traces/a/b"),
            Route::NotFound("/traces/a/b".to_owned())
        );
        assert_eq!(Route::from_path("/metrics/"), Route::Metrics);
        assert_eq!(Route::from_path("/metrics/http"), Route::HttpDashboard);
        assert_eq!(Route::HttpDashboard.section(), Some(Signal::Metrics));
        assert_eq!(
            Route::from_path("/metrics/x"),
            Route::NotFound("/metrics/x".to_owned())
        );
        assert_eq!(Route::from_path("/logs"), Route::Logs);
        assert_eq!(Route::for_signal(Signal::Logs), Route::Logs);
        assert_eq!(Route::Logs.path(), "/logs");
        assert_eq!(
            Route::from_path("/nope"),
            Route::NotFound("/nope".to_owned())
        );
        assert_eq!(
            Route::from_path("/logs/x"),
            Route::NotFound("/logs/x".to_owned())
        );
    }

    #[test]
    fn route_paths_round_trip() {
        let mut routes = vec![
            Route::Overview,
            Route::Trace("0af7651916cd43dd8448eb211c80319c".to_owned()),
        ];
        routes.extend(Signal::ALL.map(Route::for_signal));
        for route in routes {
            assert_eq!(Route::from_path(&route.path()), route);
        }
        assert_eq!(Route::for_signal(Signal::Traces), Route::TraceSearch);
        assert_eq!(Route::Trace("x".into()).section(), Some(Signal::Traces));
        assert_eq!(
            Route::Trace("0af7651916cd43dd8448eb211c80319c".into()).document_title(),
            "Trace 0af76519 · otelite"
        );
        assert_eq!(Route::Logs.document_title(), "Logs · otelite");
    }

    #[test]
    fn only_the_rows_in_view_are_rendered() {
        assert_eq!(visible_rows(0.0, 520.0, 26.0, 100_000, 10), (0, 30));
        assert_eq!(
            visible_rows(26.0 * 50_000.0, 520.0, 26.0, 100_000, 10),
            (49_990, 50_030)
        );
        assert_eq!(visible_rows(1e9, 520.0, 26.0, 100, 10), (100, 100));
        assert_eq!(visible_rows(-5.0, -1.0, 28.0, 3, 15), (0, 3));
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(100_000), "100,000");
        assert_eq!(format_count(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12 * 1024 * 1024), "12.0 MiB");
        assert_eq!(format_bytes(340 * 1024 * 1024 * 1024), "340 GiB");
        assert_eq!(format_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(60), "1m 0s");
        assert_eq!(format_duration(303), "5m 3s");
        assert_eq!(format_duration(2 * 3600 + 5 * 60 + 9), "2h 5m");
        assert_eq!(format_duration(3 * 86400 + 4 * 3600 + 1), "3d 4h");
    }

    #[test]
    fn export_urls_carry_the_window_in_nanoseconds() {
        let window = TimeWindow::last_hours(1_700_000_000_000.0, 1);
        assert_eq!(window.end_ns, 1_700_000_000_000_000_000);
        assert_eq!(window.start_ns, 1_699_996_400_000_000_000);
        assert_eq!(
            export_url("http://127.0.0.1:16686/", Signal::Logs, window),
            "http://127.0.0.1:16686/api/v1/export/logs?start=1699996400000000000&end=1700000000000000000"
        );
        assert_eq!(
            export_curl("http://h:1", Signal::Traces, window),
            "curl -sS -o traces.json 'http://h:1/api/v1/export/traces?start=1699996400000000000&end=1700000000000000000'"
        );
    }

    #[test]
    fn trace_ids_are_32_hex_digits_not_all_zero() {
        assert!(is_trace_id("0af7651916cd43dd8448eb211c80319c"));
        assert!(!is_trace_id("00000000000000000000000000000000"));
        assert!(!is_trace_id("0af7651916cd43dd8448eb211c80319"));
        assert!(!is_trace_id("0af7651916cd43dd8448eb211c80319g"));
        assert_eq!(short_id("0af7651916cd43dd"), "0af76519");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn long_names_wrap_after_separators() {
        assert_eq!(
            wrap_points("oteldemo.InventoryService/GetStock"),
            ["oteldemo.", "InventoryService/", "GetStock"]
        );
        assert_eq!(wrap_points("GET /"), ["GET /"]);
        assert_eq!(wrap_points(""), [""]);
    }

    #[test]
    fn nanos_read_with_three_digits() {
        assert_eq!(format_nanos(0), "0ns");
        assert_eq!(format_nanos(830), "830ns");
        assert_eq!(format_nanos(4_250), "4.25µs");
        assert_eq!(format_nanos(999_960), "1.00ms");
        assert_eq!(format_nanos(12_340_000), "12.3ms");
        assert_eq!(format_nanos(123_456_789), "123ms");
        assert_eq!(format_nanos(1_500_000_000), "1.50s");
        assert_eq!(format_nanos(59_999_000_000), "60.0s");
        assert_eq!(format_nanos(125_000_000_000), "2m 5s");
    }

    #[test]
    fn relative_times_use_one_unit() {
        let now = 1_700_000_000_000_000_000;
        assert_eq!(format_relative(now, now), "just now");
        assert_eq!(format_relative(now - 42_000_000_000, now), "42s ago");
        assert_eq!(format_relative(now - 5 * 60_000_000_000, now), "5m ago");
        assert_eq!(format_relative(now - 3 * 3_600_000_000_000, now), "3h ago");
        assert_eq!(format_relative(now - 49 * 3_600_000_000_000, now), "2d ago");
        assert_eq!(format_relative(now + 5_000_000_000, now), "in 5s");
    }

    #[test]
    fn timestamps_follow_the_calendar_and_the_zone() {
        // 2023-11-14 22:13:20.123 UTC.
        let ns = 1_700_000_000_123_000_000;
        assert_eq!(format_timestamp(ns, 0), "2023-11-14 22:13:20.123");
        assert_eq!(format_timestamp(ns, 120), "2023-11-15 00:13:20.123");
        assert_eq!(format_timestamp(ns, -300), "2023-11-14 17:13:20.123");
        assert_eq!(format_clock(ns, 60), "23:13:20");
        assert_eq!(format_clock_ms(ns, 0), "22:13:20.123");
        assert_eq!(format_timestamp(0, 0), "1970-01-01 00:00:00.000");
        // A leap day.
        assert_eq!(
            format_timestamp(1_709_164_800_000_000_000, 0),
            "2024-02-29 00:00:00.000"
        );
        for offset in [-600, 0, 330] {
            let t = CivilTime::from_nanos(ns, offset);
            assert_eq!(t.to_nanos(offset), Some(ns));
        }
    }

    #[test]
    fn windows_never_underflow() {
        let window = TimeWindow::last_hours(1000.0, 1);
        assert_eq!(window.start_ns, 0);
        assert_eq!(TimeWindow::last_hours(-5.0, 1).end_ns, 0);
    }
}
