//! Reading trace queries out of query strings, for the native API and the Jaeger-compatible
//! ones alike: durations in Go's syntax (`1.2s`, `300ms`), trace ids, times, limits, and the
//! search tags with the keys Jaeger gives a meaning beyond "an attribute" (`error=true`,
//! `span.kind=server`), all turned into one [`TraceQuery`].
//!
//! Every error names the parameter and says what would have been accepted. Nothing here touches
//! the store.

use otelite_api::traces::SpanKind;
use otelite_storage::{SpanId, TimeRange, TraceId, TraceQuery};

use crate::query::ApiError;

/// A request's query parameters, in order, percent-decoded.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Reads a raw query string (`a=1&b=2`); never fails (undecodable bytes become U+FFFD).
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned();
        Params(pairs.collect())
    }

    /// The parameters of a GET's query string and a POST's form body together, as Loki's and
    /// Prometheus' APIs read them.
    pub(crate) fn with_form(raw: Option<String>, body: &[u8]) -> Params {
        let mut text = raw.unwrap_or_default();
        if !body.is_empty() {
            if !text.is_empty() {
                text.push('&');
            }
            text.push_str(&String::from_utf8_lossy(body));
        }
        Params::parse(Some(&text))
    }

    /// The first value of `name`, unless it is empty (an empty value means "not given", as in
    /// Jaeger).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// The value of `canonical`, else of its older spelling `alias`, with the name found.
    pub(crate) fn get_either<'a>(
        &'a self,
        canonical: &'a str,
        alias: &'a str,
    ) -> Option<(&'a str, &'a str)> {
        self.get(canonical)
            .map(|v| (canonical, v))
            .or_else(|| self.get(alias).map(|v| (alias, v)))
    }

    /// Every non-empty value of `name`, in order.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// A duration in Go's `time.ParseDuration` syntax, which Jaeger's APIs take: a sequence of
/// decimal numbers with units, `300ms`, `1.5h`, `2h45m`, `10us` (or `µs`), `0`. Negative
/// durations are refused: no span lasts less than nothing.
pub(crate) fn parse_duration(name: &str, text: &str) -> Result<u64, ApiError> {
    go_duration(text).ok_or_else(|| {
        bad(format!(
            "{name}={text:?} is not a duration: give a number with a unit (ns, us, ms, s, m or h), e.g. {name}=1.2s, 300ms or 5m"
        ))
    })
}

/// Nanoseconds of a Go duration, or `None` if `text` is not one (or is negative or overflows).
fn go_duration(text: &str) -> Option<u64> {
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        // Digits past nanoseconds cannot change the result; 30 keeps the scale in range.
        let fraction = &fraction[..fraction.len().min(30)];
        let scale = 10u128.pow(fraction.len() as u32);
        let fraction_value: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().ok()?
        };
        total = total
            .checked_add(whole.checked_mul(unit_ns)?)?
            .checked_add(fraction_value * unit_ns / scale)?;
        rest = after;
    }
    // Go's durations are i64 nanoseconds.
    u64::try_from(total).ok().filter(|&n| n <= i64::MAX as u64)
}

/// A time given as an integer count of `unit_ns` nanoseconds since the epoch (`1` for
/// nanoseconds, `1000` for Jaeger's microseconds).
pub(crate) fn parse_unix_time(name: &str, text: &str, unit_ns: u64) -> Result<u64, ApiError> {
    let unit = if unit_ns == 1 {
        "unix nanoseconds"
    } else {
        "unix microseconds"
    };
    text.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_ns))
        .ok_or_else(|| {
            bad(format!(
                "{name}={text:?} is not a time: give {unit}, e.g. {name}={}",
                1_700_000_000_000_000_000 / unit_ns
            ))
        })
}

/// An RFC 3339 time with optional fraction (`2026-08-20T15:20:54.123456789Z`, or with an
/// offset such as `+02:00`), as Jaeger's API v3 takes them, in unix nanoseconds.
pub(crate) fn parse_rfc3339(name: &str, text: &str) -> Result<u64, ApiError> {
    rfc3339_nanos(text).ok_or_else(|| {
        bad(format!(
            "malformed parameter {name}: {text:?} is not an RFC 3339 time: give e.g. {name}=2026-08-20T15:20:54.5Z"
        ))
    })
}

fn rfc3339_nanos(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: i64 = 0;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        for (i, digit) in b[at + 1..at + 1 + digits].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + i64::from(digit - b'0');
            }
        }
        nanos *= 10i64.pow(9u32.saturating_sub(digits as u32));
        at += 1 + digits;
    }
    let offset_seconds = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(at + 1..at + 3)?, number(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    u64::try_from(total).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A trace id as otelite writes it: exactly 32 hex digits, not all zero.
pub(crate) fn parse_trace_id(name: &str, text: &str) -> Result<TraceId, ApiError> {
    let id = (text.len() == 32)
        .then(|| decode_hex_id(text))
        .flatten()
        .ok_or_else(|| {
            bad(format!(
                "{name} {text:?} is not a trace id: give 32 hex digits, e.g. 4bf92f3577b34da6a3ce929d0e0e4736"
            ))
        })?;
    non_zero(name, id)
}

/// A trace id as Jaeger reads them: up to 32 hex digits (shorter ids are 64-bit or
/// zero-trimmed ids and are padded with zeros on the left), or the id's 16 (or 8) bytes in
/// base64, standard or URL-safe, padded or not. Not all zero.
pub(crate) fn parse_jaeger_trace_id(name: &str, text: &str) -> Result<TraceId, ApiError> {
    let from_hex = || {
        (!text.is_empty() && text.len() <= 32)
            .then(|| decode_hex_id(&format!("{text:0>32}")))
            .flatten()
    };
    let from_base64 = || {
        use base64::Engine as _;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        if text.len() > 24 {
            return None;
        }
        let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())?;
        let mut id = [0u8; 16];
        match bytes.len() {
            16 => id.copy_from_slice(&bytes),
            8 => id[8..].copy_from_slice(&bytes),
            _ => return None,
        }
        Some(id)
    };
    let id = from_hex().or_else(from_base64).ok_or_else(|| {
        bad(format!(
            "malformed parameter {name}: {text:?} is not a trace id: give up to 32 hex digits, e.g. 4bf92f3577b34da6a3ce929d0e0e4736"
        ))
    })?;
    non_zero(name, id)
}

fn non_zero(name: &str, id: TraceId) -> Result<TraceId, ApiError> {
    if id == [0; 16] {
        return Err(bad(format!(
            "{name} is all zeros, which OpenTelemetry reserves for \"no trace\": give a real trace id"
        )));
    }
    Ok(id)
}

fn decode_hex_id<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut id = [0u8; N];
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        id[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(id)
}

/// A span id as otelite writes it: exactly 16 hex digits, not all zero.
pub(crate) fn parse_span_id(name: &str, text: &str) -> Result<SpanId, ApiError> {
    match decode_hex_id::<8>(text) {
        Some(id) if id != [0; 8] => Ok(id),
        _ => Err(bad(format!(
            "{name}={text:?} is not a span id: give 16 hex digits, not all zero, e.g. 00f067aa0ba902b7"
        ))),
    }
}

/// Lower-case hex of any id.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A limit of 1 to `max` results (`--query-max-traces` or `--query-max-lines`), `default`
/// (itself at most `max`) when not given.
pub(crate) fn parse_limit(
    name: &str,
    text: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(text) = text else {
        return Ok(default.min(max));
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "{name}={text:?} is not a limit otelite accepts: give a whole number from 1 to {max} \
             (the server's --query-max-traces or --query-max-lines)"
        ))),
    }
}

/// A span kind by name (`server`, `client`, `producer`, `consumer`, `internal`,
/// `unspecified`), as an OTLP number.
pub(crate) fn parse_span_kind(name: &str, text: &str) -> Result<SpanKind, ApiError> {
    SpanKind::from_name(text).ok_or_else(|| {
        bad(format!(
            "{name}={text:?} is not a span kind: give server, client, producer, consumer, internal or unspecified"
        ))
    })
}

/// Search tags written `key=value key2="a value with spaces"` (as the UI's search box takes
/// them, and as logfmt writes them), or as a JSON object `{"key":"value"}` (as Jaeger's APIs
/// take them).
pub(crate) fn parse_tags(name: &str, text: &str) -> Result<Vec<(String, String)>, ApiError> {
    if text.trim_start().starts_with('{') {
        parse_tags_json(name, text)
    } else {
        parse_tags_text(name, text)
    }
}

/// Search tags as a JSON object of strings (numbers and booleans are taken as their text).
pub(crate) fn parse_tags_json(name: &str, text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let refuse = |why: String| {
        bad(format!(
            "malformed parameter {name}: {why}: give a JSON object of strings, e.g. {name}={{\"http.status_code\":\"500\"}}"
        ))
    };
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| refuse(format!("cannot read {text:?} as JSON ({e})")))?;
    object
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(refuse(format!(
                        "the value of {key:?} is {other}, not a string"
                    )));
                }
            };
            Ok((key, value))
        })
        .collect()
}

/// Search tags as space-separated `key=value` pairs (`otelite_api::traces::parse_tags`, the
/// grammar the UI writes), with errors naming parameter `name`.
pub(crate) fn parse_tags_text(name: &str, text: &str) -> Result<Vec<(String, String)>, ApiError> {
    use otelite_api::traces::TagsError;
    otelite_api::traces::parse_tags(text).map_err(|error| {
        let why = match error {
            TagsError::NoValue { key } => format!("{key:?} has no '=' and value"),
            TagsError::NoKey => "a value has no key before its '='".to_string(),
            TagsError::UnclosedQuote { .. } => "a quoted value does not end".to_string(),
            TagsError::TextAfterQuote { .. } => {
                "a quoted value is followed by more text without a space".to_string()
            }
        };
        bad(format!(
            "{name}={text:?} cannot be read: {why}; give key=value pairs separated by spaces, e.g. {name}=http.status_code=500 env=\"dev eu\""
        ))
    })
}

/// What a search asks, however an API spells it; [`SearchConditions::into_query`] checks it as
/// a whole and turns it into the store's [`TraceQuery`].
#[derive(Debug, Default)]
pub(crate) struct SearchConditions {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub span_kind: Option<SpanKind>,
    /// `(parameter name, key, value)`: the parameter names the error if a tag is refused.
    pub tags: Vec<(&'static str, String, String)>,
    /// `(parameter name, nanoseconds)`.
    pub min_duration: Option<(&'static str, u64)>,
    pub max_duration: Option<(&'static str, u64)>,
    pub limit: usize,
}

impl SearchConditions {
    /// Adds tags read from parameter `name`.
    pub(crate) fn add_tags(&mut self, name: &'static str, tags: Vec<(String, String)>) {
        self.tags
            .extend(tags.into_iter().map(|(key, value)| (name, key, value)));
    }

    /// The store's query for spans starting in `range`. The tag keys that Jaeger's spans carry
    /// for what OTLP keeps outside attributes become their conditions: `error=true`,
    /// `otel.status_code=ERROR` or `span.status=ERROR` ask for error spans, `span.kind=server`
    /// for a kind. Keys the store cannot search yet (scope name and version, a `resource.`
    /// prefix, non-error statuses) are refused rather than silently matching nothing.
    pub(crate) fn into_query(self, range: TimeRange) -> Result<TraceQuery, ApiError> {
        if let (Some((min_name, min)), Some((max_name, max))) =
            (self.min_duration, self.max_duration)
            && max < min
        {
            return Err(bad(format!(
                "{max_name} ({max} ns) is less than {min_name} ({min} ns): give {max_name} >= {min_name}"
            )));
        }
        let mut query = TraceQuery::new(range, self.limit);
        query.service = self.service;
        query.operation = self.operation;
        query.span_kind = self.span_kind.map(SpanKind::to_otlp);
        query.min_duration_ns = self.min_duration.map(|(_, ns)| ns);
        query.max_duration_ns = self.max_duration.map(|(_, ns)| ns);
        let mut kind_from_tag: Option<SpanKind> = None;
        for (param, key, value) in self.tags {
            let cannot = |what: &str| {
                bad(format!(
                    "{param}: {key}={value} cannot be searched yet ({what}); leave it out and filter the results"
                ))
            };
            match key.as_str() {
                "error" => match value.to_ascii_lowercase().as_str() {
                    "true" => query.errors_only = true,
                    "false" => {
                        return Err(cannot(
                            "otelite can search for error spans, not for spans without an error",
                        ));
                    }
                    _ => {
                        return Err(bad(format!(
                            "{param}: error={value:?} is neither true nor false: give error=true to find traces with an error span"
                        )));
                    }
                },
                "otel.status_code" | "span.status" => {
                    if value.eq_ignore_ascii_case("ERROR") {
                        query.errors_only = true;
                    } else {
                        return Err(cannot("otelite can search for the status ERROR only"));
                    }
                }
                "span.kind" => {
                    let kind = parse_span_kind(&format!("{param}: span.kind"), &value)?;
                    if kind_from_tag.is_some_and(|k| k != kind) {
                        return Err(bad(format!(
                            "{param} asks for two span kinds at once: give one span.kind"
                        )));
                    }
                    kind_from_tag = Some(kind);
                }
                "otel.scope.name" | "otel.scope.version" | "scope.name" | "scope.version" => {
                    return Err(cannot("instrumentation scopes are not searchable"));
                }
                _ if key.starts_with("resource.") => {
                    return Err(cannot(
                        "give the attribute's key without \"resource.\": spans' and resources' attributes are both searched",
                    ));
                }
                _ => query.attributes.push((key, value)),
            }
        }
        if let Some(kind) = kind_from_tag {
            if query.span_kind.is_some_and(|k| k != kind.to_otlp()) {
                return Err(bad(format!(
                    "span.kind={} in the tags contradicts the span kind asked for: give one",
                    kind.name()
                )));
            }
            query.span_kind = Some(kind.to_otlp());
        }
        Ok(query)
    }
}

/// Checks that a search's time range is not empty or reversed.
pub(crate) fn check_range(
    start_name: &str,
    start: u64,
    end_name: &str,
    end: u64,
) -> Result<TimeRange, ApiError> {
    if end < start {
        return Err(bad(format!(
            "{end_name} ({end}) is before {start_name} ({start}): give {start_name} <= {end_name}"
        )));
    }
    Ok(TimeRange::new(start, end))
}

/// Now, in unix nanoseconds.
pub(crate) fn now_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_reads_them() {
        let cases = [
            ("0", 0),
            ("1ns", 1),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("10μs", 10_000),
            ("300ms", 300_000_000),
            ("1.2s", 1_200_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("5m", 300_000_000_000),
            ("2h45m", 9_900_000_000_000),
            ("1h0.5s", 3_600_500_000_000),
            ("+3s", 3_000_000_000),
            ("1.0000000001s", 1_000_000_000),
        ];
        for (text, ns) in cases {
            assert_eq!(parse_duration("d", text).unwrap(), ns, "{text}");
        }
        for text in [
            "", "1", "s", ".s", "1x", "-1s", "1s2", "1.2.3s", "3000000h", " 1s", "1 s",
        ] {
            let err = parse_duration("minDuration", text).unwrap_err().to_string();
            assert!(err.starts_with("minDuration="), "{text}: {err}");
        }
    }

    #[test]
    fn rfc3339_times_read_with_fraction_and_offset() {
        assert_eq!(parse_rfc3339("t", "1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("t", "2000-01-02T12:30:08.999999998Z").unwrap(),
            946_816_208_999_999_998
        );
        // Jaeger's own test: +08:00 is eight hours earlier in UTC.
        assert_eq!(
            parse_rfc3339("t", "2000-04-05T21:55:16.999999992+08:00").unwrap(),
            parse_rfc3339("t", "2000-04-05T13:55:16.999999992Z").unwrap()
        );
        assert_eq!(
            parse_rfc3339("t", "2024-02-29T00:00:00.5-01:30").unwrap(),
            1_709_170_200_500_000_000
        );
        for text in [
            "abc",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2024-01-01T00:00:00+0100",
        ] {
            let err = parse_rfc3339("query.startTimeMin", text)
                .unwrap_err()
                .to_string();
            assert!(err.contains("query.startTimeMin"), "{text}: {err}");
        }
    }

    #[test]
    fn native_trace_ids_are_32_hex_digits_not_all_zero() {
        let id = parse_trace_id("trace id", "4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(hex(&id), "4bf92f3577b34da6a3ce929d0e0e4736");
        for text in [
            "4bf92f35",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "4bf92f3577b34da6a3ce929d0e0e47360",
        ] {
            assert!(parse_trace_id("trace id", text).is_err(), "{text}");
        }
        let err = parse_trace_id("trace id", &"0".repeat(32))
            .unwrap_err()
            .to_string();
        assert!(err.contains("all zeros"), "{err}");
    }

    #[test]
    fn jaeger_trace_ids_are_short_hex_or_base64() {
        let hex_id = |text| hex(&parse_jaeger_trace_id("traceID", text).unwrap());
        // Jaeger's TraceIDFromString cases: short ids are padded on the left.
        assert_eq!(hex_id("1"), "00000000000000000000000000000001");
        assert_eq!(
            hex_id("00000000000000010000000000000002"),
            "00000000000000010000000000000002"
        );
        assert_eq!(
            hex_id("a3ce929d0e0e4736"),
            "0000000000000000a3ce929d0e0e4736"
        );
        assert_eq!(
            hex_id("AAAAAAAAAAEAAAAAAAAAAQ=="),
            "00000000000000010000000000000001"
        );
        assert_eq!(
            hex_id("AAAAAAAAAAEAAAAAAAAAAQ"),
            "00000000000000010000000000000001"
        );
        assert_eq!(
            hex_id("AAAAAAAAAP///////////w=="),
            "00000000000000ffffffffffffffffff"
        );
        assert_eq!(
            hex_id("EjRWeJq83vD+3LqYdlQyEA=="),
            "123456789abcdef0fedcba9876543210"
        );
        assert_eq!(
            hex_id("EjRWeJq83vD-3LqYdlQyEA=="),
            "123456789abcdef0fedcba9876543210"
        );
        assert_eq!(
            hex_id("AAAAAAAAAP___________w=="),
            "00000000000000ffffffffffffffffff"
        );
        for text in [
            "not-a-valid-id!",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAlong",
            "xyz",
            "0",
            "00000000",
        ] {
            assert!(parse_jaeger_trace_id("traceID", text).is_err(), "{text}");
        }
    }

    #[test]
    fn tags_read_as_text_or_json() {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            parse_tags(
                "tags",
                r#"http.status_code=500  env="dev eu" q="say \"hi\"" empty="""#
            )
            .unwrap(),
            pairs(&[
                ("http.status_code", "500"),
                ("env", "dev eu"),
                ("q", "say \"hi\""),
                ("empty", "")
            ])
        );
        assert_eq!(
            parse_tags(
                "tags",
                r#" {"error":"true","http.status_code":500,"ok":false} "#
            )
            .unwrap(),
            pairs(&[
                ("error", "true"),
                ("http.status_code", "500"),
                ("ok", "false")
            ])
        );
        for text in [
            "novalue",
            "=v",
            r#"k="open"#,
            r#"k="a"b"#,
            "{not json",
            r#"{"k":["a"]}"#,
        ] {
            let err = parse_tags("tags", text).unwrap_err().to_string();
            assert!(err.contains("tags"), "{text}: {err}");
        }
    }

    #[test]
    fn jaeger_tag_keys_become_conditions() {
        let query = |tags: &[(&str, &str)]| {
            let mut conditions = SearchConditions {
                limit: 20,
                ..Default::default()
            };
            conditions.add_tags(
                "tags",
                tags.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            conditions.into_query(TimeRange::ALL)
        };
        let q = query(&[("error", "true"), ("http.method", "GET")]).unwrap();
        assert!(q.errors_only);
        assert_eq!(q.attributes, vec![("http.method".into(), "GET".into())]);
        assert!(query(&[("otel.status_code", "ERROR")]).unwrap().errors_only);
        assert_eq!(
            query(&[("span.kind", "client")]).unwrap().span_kind,
            Some(3)
        );
        for refused in [
            ("error", "false"),
            ("error", "maybe"),
            ("otel.status_code", "OK"),
            ("span.kind", "sideways"),
            ("otel.scope.name", "x"),
            ("resource.host.name", "x"),
        ] {
            assert!(query(&[refused]).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn reversed_durations_are_refused() {
        let conditions = SearchConditions {
            min_duration: Some(("minDuration", 2_000)),
            max_duration: Some(("maxDuration", 1_000)),
            limit: 1,
            ..Default::default()
        };
        let err = conditions
            .into_query(TimeRange::ALL)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("maxDuration") && err.contains("minDuration"),
            "{err}"
        );
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit("limit", None, 20, 1000).unwrap(), 20);
        assert_eq!(parse_limit("limit", None, 20, 10).unwrap(), 10);
        assert_eq!(parse_limit("limit", Some("1000"), 20, 1000).unwrap(), 1000);
        for text in ["0", "1001", "-1", "ten"] {
            assert!(
                parse_limit("limit", Some(text), 20, 1000).is_err(),
                "{text}"
            );
        }
    }
}
