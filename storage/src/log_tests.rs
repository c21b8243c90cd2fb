//! Log search checked against a scan: whatever the blocks look like (row blocks, compacted
//! codec-3 blocks with filters, both at once after late records), a query finds exactly the
//! records that a scan of everything written and [`LogQuery::matches`] select, in exact order,
//! and pages through them without losing or repeating one.

use std::ops::ControlFlow;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;

use crate::log_block::LogRow;
use crate::log_index::LogFilter;
use crate::log_query::{Direction, LogCursor, LogQuery, cursor_of};
use crate::logs::record_time;
use crate::test_fixtures::{compacting, proptest_config, row_store, wait_for_compaction};
use crate::{Batch, Signal, Store, TimeRange};

const HOUR: u64 = 3_600_000_000_000;
const BASE: u64 = 1_767_225_600_000_000_000;
const SERVICES: [&str; 3] = ["cart", "checkout", "web"];
const WORDS: [&str; 6] = ["order", "failed", "GetCart", "timeout", "404", "user_7"];

fn text(s: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        key_strindex: 0,
    }
}

/// A record: (service, minute offset, severity, trace, words of its body, route, status).
type Generated = (usize, u64, i32, u8, Vec<usize>, u8, i64);

fn any_record() -> impl Strategy<Value = Generated> {
    (
        0..SERVICES.len(),
        0u64..150,
        prop_oneof![Just(0), Just(5), Just(9), Just(13), Just(17), Just(21)],
        0u8..5,
        proptest::collection::vec(0..WORDS.len(), 0..4),
        0u8..3,
        prop_oneof![Just(200i64), Just(404), Just(500)],
    )
}

fn record((_, minute, severity, trace, words, route, status): &Generated, n: usize) -> LogRecord {
    let body: Vec<&str> = words.iter().map(|w| WORDS[*w]).collect();
    // Times in the same nanosecond repeat, so the tiebreak matters.
    let time = BASE + minute * 60_000_000_000 + (n as u64 % 3);
    LogRecord {
        time_unix_nano: if n.is_multiple_of(7) { 0 } else { time },
        observed_time_unix_nano: time,
        severity_number: *severity,
        severity_text: ["", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
            [(*severity as usize).div_ceil(4).min(5)]
        .into(),
        body: if n.is_multiple_of(5) {
            None
        } else {
            text(format!("{} #{n}", body.join(" ")))
        },
        attributes: vec![
            kv("http.route", text(format!("/r{route}"))),
            kv(
                "http.status",
                Some(AnyValue {
                    value: Some(any_value::Value::IntValue(*status)),
                }),
            ),
        ],
        trace_id: if *trace == 0 {
            Vec::new()
        } else {
            vec![*trace; 16]
        },
        span_id: if *trace == 0 {
            Vec::new()
        } else {
            vec![*trace, n as u8, 0, 0, 0, 0, 0, 1]
        },
        flags: u32::from(*trace != 0),
        ..LogRecord::default()
    }
}

/// The generated records as batches, one resource per service.
fn batches(generated: &[Generated]) -> Vec<Vec<ResourceLogs>> {
    let mut out = Vec::new();
    for (b, chunk) in generated
        .chunks(generated.len().div_ceil(3).max(1))
        .enumerate()
    {
        let mut batch: Vec<ResourceLogs> = SERVICES
            .iter()
            .map(|service| ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", text(*service)),
                        kv("deployment.environment", text("prod")),
                    ],
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app".into(),
                        ..InstrumentationScope::default()
                    }),
                    log_records: Vec::new(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        for (i, g) in chunk.iter().enumerate() {
            batch[g.0].scope_logs[0]
                .log_records
                .push(record(g, b * 1000 + i));
        }
        batch.retain(|g| !g.scope_logs[0].log_records.is_empty());
        out.push(batch);
    }
    out
}

fn queries() -> Vec<LogQuery> {
    let all = LogQuery::new(TimeRange::ALL);
    let mut queries = vec![
        all.clone(),
        LogQuery {
            direction: Direction::Forward,
            ..all.clone()
        },
        LogQuery {
            range: TimeRange::new(
                BASE + 30 * 60_000_000_000,
                BASE + HOUR + 20 * 60_000_000_000,
            ),
            ..all.clone()
        },
        LogQuery {
            services: vec!["cart".into(), "web".into()],
            ..all.clone()
        },
        LogQuery {
            min_severity: Some(13),
            ..all.clone()
        },
        LogQuery {
            severity_texts: vec!["ERROR".into()],
            ..all.clone()
        },
        LogQuery {
            trace_id: Some([3; 16]),
            ..all.clone()
        },
        LogQuery {
            span_id: Some([2, 4, 0, 0, 0, 0, 0, 1]),
            ..all.clone()
        },
        LogQuery {
            resource: vec![("service.name".into(), "checkout".into())],
            ..all.clone()
        },
        LogQuery {
            attributes: vec![("http.status".into(), "404".into())],
            ..all.clone()
        },
        LogQuery {
            attributes: vec![("deployment.environment".into(), "prod".into())],
            ..all.clone()
        },
        LogQuery {
            words: vec!["getcart".into(), "FAILED".into()],
            ..all.clone()
        },
        LogQuery {
            words: vec!["user_7".into()],
            direction: Direction::Forward,
            ..all.clone()
        },
        LogQuery {
            contains: vec!["Cart time".into()],
            ..all.clone()
        },
        LogQuery {
            contains: vec![" timeout ".into()],
            min_severity: Some(9),
            ..all.clone()
        },
    ];
    queries.push(LogQuery {
        words: vec!["nowhere".into()],
        ..all
    });
    queries
}

/// What a scan of `written` says `query` finds, in order.
fn expected(written: &[ResourceLogs], query: &LogQuery) -> Vec<(LogCursor, LogRecord)> {
    let mut out: Vec<(LogCursor, LogRecord)> = written
        .iter()
        .flat_map(|g| {
            let resource = g.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            g.scope_logs
                .iter()
                .flat_map(|s| &s.log_records)
                .filter(move |r| query.range.contains(record_time(r)) && query.matches(resource, r))
                .map(|r| (cursor_of(record_time(r), r), r.clone()))
        })
        .collect();
    out.sort_by(|a, b| LogCursor::order(&a.0, &b.0, query.direction));
    out
}

fn found(store: &Store, query: &LogQuery) -> Vec<(LogCursor, LogRecord)> {
    let mut out = Vec::new();
    store
        .find_logs(query, |hit| {
            out.push((hit.cursor, hit.record));
            ControlFlow::Continue(())
        })
        .expect("find");
    out
}

/// Pages of `size` through `query`, each resuming after the previous page's last cursor.
fn paged(store: &Store, query: &LogQuery, size: usize) -> Vec<LogCursor> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let mut page = Vec::new();
        let query = LogQuery {
            after,
            ..query.clone()
        };
        store
            .find_logs(&query, |hit| {
                page.push(hit.cursor);
                if page.len() == size {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .expect("page");
        let Some(last) = page.last() else {
            return out;
        };
        after = Some(*last);
        out.extend(page);
    }
}

fn check(store: &Store, written: &[ResourceLogs]) -> Result<(), TestCaseError> {
    let mut streams: Vec<(Vec<(String, String)>, String)> = written
        .iter()
        .flat_map(|g| {
            let resource = crate::log_index::resource_texts(g.resource.as_ref());
            g.scope_logs
                .iter()
                .flat_map(|s| &s.log_records)
                .map(move |r| (resource.clone(), r.severity_text.clone()))
        })
        .collect();
    streams.sort();
    streams.dedup();
    let listed: Vec<(Vec<(String, String)>, String)> = store
        .log_streams(TimeRange::ALL)
        .expect("streams")
        .into_iter()
        .map(|s| (s.resource, s.severity_text))
        .collect();
    prop_assert_eq!(listed, streams);
    for query in queries() {
        let want = expected(written, &query);
        let got = found(store, &query);
        prop_assert_eq!(
            got.iter().map(|h| h.0).collect::<Vec<_>>(),
            want.iter().map(|h| h.0).collect::<Vec<_>>(),
            "{:?}",
            query
        );
        // Same records, not just the same cursors (records of one cursor may swap places).
        let mut got_records: Vec<Vec<u8>> = got
            .iter()
            .map(|h| prost::Message::encode_to_vec(&h.1))
            .collect();
        let mut want_records: Vec<Vec<u8>> = want
            .iter()
            .map(|h| prost::Message::encode_to_vec(&h.1))
            .collect();
        got_records.sort();
        want_records.sort();
        prop_assert_eq!(got_records, want_records);
        // Distinct cursors page without loss (equal ones are one hit to a cursor).
        let mut distinct: Vec<LogCursor> = want.iter().map(|h| h.0).collect();
        distinct.dedup();
        let mut pages = paged(store, &query, 4);
        pages.dedup();
        prop_assert_eq!(pages, distinct);
        let volume = store.log_volume(&query, HOUR).expect("volume");
        prop_assert_eq!(volume.severities.iter().sum::<u64>(), want.len() as u64);
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(8))]
    #[test]
    fn searches_agree_with_a_scan_before_and_after_compaction(
        generated in proptest::collection::vec(any_record(), 1..120),
        late in proptest::collection::vec(any_record(), 0..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let first: Vec<ResourceLogs> = batches(&generated).concat();
        {
            let store = row_store(dir.path());
            for batch in batches(&generated) {
                store.write(Batch::Logs(batch)).unwrap();
            }
            check(&store, &first)?;
            store.shutdown().unwrap();
        }
        let store = compacting(dir.path());
        wait_for_compaction(&store, Signal::Logs);
        check(&store, &first)?;
        // Late records land in row blocks beside the compacted ones, then are compacted too.
        let mut all = first.clone();
        let late: Vec<Generated> = late.into_iter().map(|mut g| { g.1 += 7; g }).collect();
        for batch in batches(&late) {
            all.extend(batch.iter().cloned());
            store.write(Batch::Logs(batch)).unwrap();
        }
        check(&store, &all)?;
        wait_for_compaction(&store, Signal::Logs);
        check(&store, &all)?;
        // Every record written comes back whole from the compacted blocks.
        let mut scanned = store.read_logs(TimeRange::ALL).unwrap();
        let flat = |groups: &mut Vec<ResourceLogs>| {
            let mut records: Vec<Vec<u8>> = groups
                .iter()
                .flat_map(|g| g.scope_logs.iter().flat_map(|s| &s.log_records))
                .map(prost::Message::encode_to_vec)
                .collect();
            records.sort();
            records
        };
        prop_assert_eq!(flat(&mut scanned), flat(&mut all));
    }

    #[test]
    fn a_filter_never_rules_out_a_record_it_holds(generated in proptest::collection::vec(any_record(), 1..60)) {
        let groups = batches(&generated).concat();
        let rows: Vec<LogRow> = groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| {
                g.scope_logs[0].log_records.iter().map(move |r| LogRow { group: i as u32, record: r.clone() })
            })
            .collect();
        let heads: Vec<ResourceLogs> = groups
            .iter()
            .map(|g| {
                let mut head = g.clone();
                head.scope_logs[0].log_records.clear();
                head
            })
            .collect();
        let filter = LogFilter::decode(&LogFilter::build(&heads, &rows).encode()).unwrap();
        for row in &rows {
            let record = &row.record;
            let resource = &heads[row.group as usize].resource.as_ref().unwrap().attributes;
            let body = crate::body_text(record.body.as_ref()).into_owned();
            let query = LogQuery {
                services: vec![crate::service_name(resource).to_string()],
                min_severity: Some(record.severity_number.max(1)),
                severity_texts: vec![record.severity_text.clone()],
                trace_id: record.trace_id.as_slice().try_into().ok(),
                span_id: record.span_id.as_slice().try_into().ok(),
                resource: vec![("service.name".into(), crate::service_name(resource).to_string())],
                attributes: vec![("http.status".into(), format!("{}", match record.attributes[1].value.as_ref().unwrap().value { Some(any_value::Value::IntValue(i)) => i, _ => 0 }))],
                words: crate::words(&body).collect(),
                contains: vec![body.clone()],
                ..LogQuery::default()
            };
            if record.severity_number >= 1 {
                prop_assert!(filter.may_match(&query, &query.required_words()), "{:?}", query);
            }
        }
    }
}
