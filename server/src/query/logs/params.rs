//! Reading the native log API's query strings into the store's [`LogQuery`]: free text, services,
//! least severity, trace and span ids, tags, the time range, the page (limit, cursor, direction)
//! and the volume's step. Times, ids, limits and tags read as the trace API reads them
//! (`traces::params`), so both APIs mean the same by the same text.
//!
//! Every error names the parameter and says what would have been accepted. Nothing here touches
//! the store.

use otelite_storage::{Direction, LogCursor, LogQuery, TimeRange};

use crate::query::ApiError;
use crate::query::traces::params::{self, Params};

/// The page size when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// How far back a search without `start` looks, as the trace search does.
pub(crate) const DEFAULT_LOOKBACK_NS: u64 = 3_600 * 1_000_000_000;
/// About this many buckets when `step` is not given.
const DEFAULT_BUCKETS: u64 = 100;
/// The most buckets one volume request may ask for.
pub(crate) const MAX_BUCKETS: u64 = 10_000;

/// A log search: the store query (with cursor and direction) and the page size.
#[derive(Debug)]
pub(crate) struct LogSearch {
    pub query: LogQuery,
    pub limit: usize,
}

/// The search `params` ask for; `now` is the default end, `max` the most records a page may
/// hold (`--query-max-lines`). The time range is not capped: the
/// store walks blocks newest first (or oldest first) and stops at the page's end, so a long
/// range costs only what it takes to find a page.
pub(crate) fn search(params: &Params, now: u64, max: usize) -> Result<LogSearch, ApiError> {
    let mut query = LogQuery::new(range(params, now)?);
    query.services = params.all("service").map(str::to_string).collect();
    query.min_severity = params
        .get("severity")
        .map(|text| severity("severity", text))
        .transpose()?;
    query.trace_id = params
        .get("traceId")
        .map(|text| params::parse_trace_id("traceId", text))
        .transpose()?;
    query.span_id = params
        .get("spanId")
        .map(|text| params::parse_span_id("spanId", text))
        .transpose()?;
    for text in params.all("tags") {
        query
            .attributes
            .extend(params::parse_tags_text("tags", text)?);
    }
    if let Some(text) = params.get("q") {
        let (words, contains) = free_text("q", text)?;
        query.words = words;
        query.contains = contains;
    }
    query.direction = match params.get("direction") {
        None => Direction::Backward,
        Some(text) => direction("direction", text)?,
    };
    query.after = params
        .get("cursor")
        .map(|text| {
            text.parse::<LogCursor>().map_err(|why| {
                ApiError::BadRequest(format!(
                    "cursor: {why}; pass a previous response's next_cursor as it was"
                ))
            })
        })
        .transpose()?;
    let limit = params::parse_limit("limit", params.get("limit"), DEFAULT_LIMIT, max)?;
    Ok(LogSearch { query, limit })
}

/// `start`/`end` in unix nanoseconds; the hour before `now` by default (before `end` when only
/// `end` is given).
fn range(params: &Params, now: u64) -> Result<TimeRange, ApiError> {
    let end = match params.get("end") {
        Some(text) => params::parse_unix_time("end", text, 1)?,
        None => now,
    };
    let start = match params.get("start") {
        Some(text) => params::parse_unix_time("start", text, 1)?,
        None => end.saturating_sub(DEFAULT_LOOKBACK_NS),
    };
    params::check_range("start", start, "end", end)
}

/// A least severity: a class name (`warn`, as `otelite_api::logs::severity_from_name` reads
/// them) or an OTLP severity number from 1 to 24.
fn severity(name: &str, text: &str) -> Result<i32, ApiError> {
    if let Some(number) = otelite_api::logs::severity_from_name(text) {
        return Ok(number);
    }
    match text.parse::<i32>() {
        Ok(n) if (1..=24).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "{name}={text:?} is not a severity: give trace, debug, info, warn, error or fatal, or a severity number from 1 to 24"
        ))),
    }
}

fn direction(name: &str, text: &str) -> Result<Direction, ApiError> {
    match text {
        "backward" => Ok(Direction::Backward),
        "forward" => Ok(Direction::Forward),
        _ => Err(ApiError::BadRequest(format!(
            "{name}={text:?} is not a direction: give backward (newest first) or forward (oldest first)"
        ))),
    }
}

/// Free text: each word outside quotes must be a whole word of the body (ignoring case); a
/// `"quoted phrase"` must appear in the body exactly as written (case matters).
pub(crate) fn free_text(name: &str, text: &str) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let mut words = Vec::new();
    let mut contains = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                return Err(ApiError::BadRequest(format!(
                    "{name}={text:?} opens a quote it never closes: close it, as in {name}=\"connection refused\""
                )));
            };
            if !quoted[..end].is_empty() {
                contains.push(quoted[..end].to_string());
            }
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.extend(otelite_storage::words(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Ok((words, contains))
}

/// The volume's bucket width: `step` as a Go duration (`30s`, `5m`), else about
/// [`DEFAULT_BUCKETS`] buckets over `range` on a round width. At most [`MAX_BUCKETS`] buckets.
pub(crate) fn step(params: &Params, range: TimeRange) -> Result<u64, ApiError> {
    let span = range.end.saturating_sub(range.start);
    let Some(text) = params.get("step") else {
        return Ok(round_step(span / DEFAULT_BUCKETS));
    };
    let step = params::parse_duration("step", text)?;
    if step == 0 || span / step >= MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "step={text} makes more than {MAX_BUCKETS} buckets of this time range: give a longer step, or leave it out for about {DEFAULT_BUCKETS}"
        )));
    }
    Ok(step)
}

/// The smallest round width (1, 2 or 5 ms·10ⁿ up to seconds, then 10 s … 1 day, then whole
/// days) of at least `at_least` nanoseconds.
fn round_step(at_least: u64) -> u64 {
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;
    const ROUND: [u64; 20] = [
        MS,
        2 * MS,
        5 * MS,
        10 * MS,
        20 * MS,
        50 * MS,
        100 * MS,
        200 * MS,
        500 * MS,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        60 * S,
        120 * S,
        300 * S,
        600 * S,
        900 * S,
    ];
    const LONGER: [u64; 7] = [
        1_800 * S,
        3_600 * S,
        7_200 * S,
        10_800 * S,
        21_600 * S,
        43_200 * S,
        86_400 * S,
    ];
    ROUND
        .into_iter()
        .chain(LONGER)
        .find(|&step| step >= at_least)
        .unwrap_or_else(|| at_least.div_ceil(86_400 * S) * 86_400 * S)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 10_000_000_000_000;

    fn parse(raw: &str) -> Result<LogSearch, ApiError> {
        search(
            &Params::parse(Some(raw)),
            NOW,
            crate::config::DEFAULT_QUERY_MAX_LINES,
        )
    }

    #[test]
    fn a_bare_search_is_the_last_hour_newest_first() {
        let s = parse("").unwrap();
        assert_eq!(
            s.query,
            LogQuery::new(TimeRange::new(NOW - DEFAULT_LOOKBACK_NS, NOW))
        );
        assert_eq!(s.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn every_parameter_reaches_the_query() {
        let s = parse(
            "q=Payment+FAILED+%22card+declined%22+user_id%3D42&service=checkout&service=payment\
             &severity=warn&traceId=4BF92F3577B34DA6A3CE929D0E0E4736&spanId=00f067aa0ba902b7\
             &tags=http.status_code%3D500+env%3D%22dev+eu%22&start=100&end=200&limit=5\
             &cursor=150-00000000000000ff&direction=forward",
        )
        .unwrap();
        let q = s.query;
        assert_eq!(q.words, ["payment", "failed", "user_id", "42"]);
        assert_eq!(q.contains, ["card declined"]);
        assert_eq!(q.services, ["checkout", "payment"]);
        assert_eq!(q.min_severity, Some(13));
        assert_eq!(
            q.trace_id,
            Some([
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36
            ])
        );
        assert_eq!(
            q.span_id,
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(
            q.attributes,
            [
                ("http.status_code".into(), "500".into()),
                ("env".into(), "dev eu".into())
            ]
        );
        assert_eq!(q.range, TimeRange::new(100, 200));
        assert_eq!(q.direction, Direction::Forward);
        assert_eq!(
            q.after,
            Some(LogCursor {
                time_unix_nano: 150,
                tiebreak: 255
            })
        );
        assert_eq!(s.limit, 5);
    }

    #[test]
    fn severities_are_names_or_numbers() {
        for (text, number) in [("error", 17), ("WARNING", 13), ("1", 1), ("24", 24)] {
            let s = parse(&format!("severity={text}")).unwrap();
            assert_eq!(s.query.min_severity, Some(number), "{text}");
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        for (raw, name) in [
            ("severity=loud", "severity"),
            ("severity=25", "severity"),
            ("traceId=abc", "traceId"),
            ("traceId=00000000000000000000000000000000", "traceId"),
            ("spanId=xyz", "spanId"),
            ("spanId=0000000000000000", "spanId"),
            ("cursor=yesterday", "cursor"),
            ("direction=up", "direction"),
            ("start=200&end=100", "end"),
            ("end=soon", "end"),
            ("limit=5001", "limit"),
            ("limit=0", "limit"),
            ("tags=novalue", "tags"),
            ("q=%22unclosed", "q"),
        ] {
            let err = parse(raw).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{raw}");
            assert!(err.to_string().contains(name), "{raw}: {err}");
        }
    }

    #[test]
    fn the_default_step_makes_about_a_hundred_round_buckets() {
        let hour = TimeRange::new(0, DEFAULT_LOOKBACK_NS);
        assert_eq!(step(&Params::parse(None), hour).unwrap(), 60_000_000_000);
        let minute = TimeRange::new(0, 60_000_000_000);
        assert_eq!(step(&Params::parse(None), minute).unwrap(), 1_000_000_000);
        let week = TimeRange::new(0, 7 * 86_400_000_000_000);
        assert_eq!(
            step(&Params::parse(None), week).unwrap(),
            2 * 3_600_000_000_000
        );
        let empty = TimeRange::new(5, 5);
        assert_eq!(step(&Params::parse(None), empty).unwrap(), 1_000_000);
        let years = TimeRange::new(0, 1000 * 86_400_000_000_000);
        assert_eq!(
            step(&Params::parse(None), years).unwrap(),
            10 * 86_400_000_000_000
        );
    }

    #[test]
    fn a_given_step_is_read_as_a_duration_and_bounded() {
        let hour = TimeRange::new(0, DEFAULT_LOOKBACK_NS);
        assert_eq!(
            step(&Params::parse(Some("step=30s")), hour).unwrap(),
            30_000_000_000
        );
        for raw in ["step=1ms", "step=0", "step=soon"] {
            let err = step(&Params::parse(Some(raw)), hour).unwrap_err();
            assert!(err.to_string().contains("step"), "{raw}: {err}");
        }
    }
}
