//! The UI's plain logic: routes, number formatting and URL building.
//!
//! Nothing here touches the DOM, the network or the clock, so all of it is unit-tested natively
//! with `cargo test -p otelite-ui`. Components call these functions and only render the result.

/// Where the query API's status lives, relative to the page's origin.
pub const STATUS_PATH: &str = "/api/v1/status";

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Overview,
    Signal(Signal),
    /// A path the UI has no page for; kept so the page can say which one.
    NotFound(String),
}

impl Route {
    /// The route for a `location.pathname`. A trailing slash and `/index.html` are accepted.
    pub fn from_path(path: &str) -> Route {
        let trimmed = path.trim_end_matches('/');
        match trimmed {
            "" | "/index.html" | "/overview" => Route::Overview,
            _ => trimmed
                .strip_prefix('/')
                .and_then(Signal::from_name)
                .map(Route::Signal)
                .unwrap_or_else(|| Route::NotFound(path.to_owned())),
        }
    }

    /// The canonical path of this route, as put in links and the address bar.
    pub fn path(&self) -> String {
        match self {
            Route::Overview => "/".to_owned(),
            Route::Signal(signal) => format!("/{}", signal.name()),
            Route::NotFound(path) => path.clone(),
        }
    }

    /// The text for `document.title`.
    pub fn document_title(&self) -> String {
        match self {
            Route::Overview => "otelite".to_owned(),
            Route::Signal(signal) => format!("{} · otelite", signal.title()),
            Route::NotFound(_) => "Not found · otelite".to_owned(),
        }
    }
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
    fn routes_follow_the_path() {
        assert_eq!(Route::from_path("/"), Route::Overview);
        assert_eq!(Route::from_path(""), Route::Overview);
        assert_eq!(Route::from_path("/index.html"), Route::Overview);
        assert_eq!(Route::from_path("/traces"), Route::Signal(Signal::Traces));
        assert_eq!(
            Route::from_path("/metrics/"),
            Route::Signal(Signal::Metrics)
        );
        assert_eq!(Route::from_path("/logs"), Route::Signal(Signal::Logs));
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
        let mut routes = vec![Route::Overview];
        routes.extend(Signal::ALL.map(Route::Signal));
        for route in routes {
            assert_eq!(Route::from_path(&route.path()), route);
        }
        assert_eq!(
            Route::Signal(Signal::Logs).document_title(),
            "Logs · otelite"
        );
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
    fn windows_never_underflow() {
        let window = TimeWindow::last_hours(1000.0, 1);
        assert_eq!(window.start_ns, 0);
        assert_eq!(TimeWindow::last_hours(-5.0, 1).end_ns, 0);
    }
}
