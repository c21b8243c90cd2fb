//! Tests of trace lookup, search and compaction against a plain scan of what was written.
//!
//! Random traces (several services, typed attributes, errors, late spans written in a later
//! batch, two partitions) are written to a store whose compactor runs at once; every lookup and
//! search must agree with a reference that scans the written data, before compaction, after it,
//! and across a reopen, and a reader scanning while the compactor works must see every span
//! exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span, Status};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::*;
use crate::properties::items_of;
use crate::test_fixtures::{compacting, proptest_config, row_store, wait_for_compaction};
use crate::trace_query::{is_error, service_name};

const HOUR: u64 = schema::PARTITION_NS;
const BASE: u64 = 1_735_725_600 * 1_000_000_000;
const SERVICES: [&str; 3] = ["frontend", "checkout", "payment"];

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// One span of the generated data, with its service.
#[derive(Debug, Clone)]
struct Generated {
    service: usize,
    span: Span,
}

fn group(service: usize, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv(
                    "service.name",
                    any_value::Value::StringValue(SERVICES[service].into()),
                ),
                kv(
                    "deployment.environment",
                    any_value::Value::StringValue(if service == 2 { "prod" } else { "dev" }.into()),
                ),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        schema_url: String::new(),
    }
}

prop_compose! {
    fn any_trace(n: u8)(
        spans in proptest::collection::vec(
            (0usize..3, 0u64..2 * HOUR - 10_000_000, 0u64..5_000_000, 0u8..4, any::<bool>(), 0i64..3, 0u8..6),
            1..8,
        ),
        late in any::<bool>(),
    ) -> (Vec<Generated>, bool) {
        let trace_id = [n.wrapping_mul(37).wrapping_add(1); 16].map(|b| b ^ n);
        let root_start = spans[0].1;
        let generated = spans
            .iter()
            .enumerate()
            .map(|(i, &(service, offset, duration, name, error, code, user))| {
                let start = BASE + if i == 0 { root_start } else { root_start.max(offset) };
                Generated {
                    service,
                    span: Span {
                        trace_id: trace_id.to_vec(),
                        span_id: vec![n, i as u8, 1, 2, 3, 4, 5, 6],
                        parent_span_id: if i == 0 { vec![] } else { vec![n, 0, 1, 2, 3, 4, 5, 6] },
                        name: format!("op-{name}"),
                        kind: 1 + i32::from(name % 3),
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + duration,
                        attributes: vec![
                            kv("http.status_code", any_value::Value::IntValue(200 + 100 * code)),
                            kv("cache.hit", any_value::Value::BoolValue(error)),
                            kv("user.id", any_value::Value::StringValue(format!("user-{user}"))),
                        ],
                        status: error.then(|| Status { code: 2, message: "boom".into() }),
                        ..Default::default()
                    },
                }
            })
            .collect();
        (generated, late)
    }
}

fn any_traces() -> impl Strategy<Value = Vec<(Vec<Generated>, bool)>> {
    (1u8..40).prop_flat_map(|n| (0..n).map(any_trace).collect::<Vec<_>>())
}

/// Batches to write: every trace's spans, each span in its service's group; a late trace's
/// last span comes in a second round of batches.
fn batches(traces: &[(Vec<Generated>, bool)]) -> (Vec<ResourceSpans>, Vec<ResourceSpans>) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (spans, late) in traces {
        for (i, g) in spans.iter().enumerate() {
            let target = if *late && i + 1 == spans.len() && i > 0 {
                &mut second
            } else {
                &mut first
            };
            target.push(group(g.service, vec![g.span.clone()]));
        }
    }
    (first, second)
}

/// What a scan of `groups` says `query` finds: the newest traces by latest matching start.
fn reference_find(groups: &[ResourceSpans], query: &TraceQuery) -> Vec<TraceId> {
    let mut found: HashMap<TraceId, u64> = HashMap::new();
    for group in groups {
        let resource = group.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        let service = service_name(resource);
        for span in group.scope_spans.iter().flat_map(|s| &s.spans) {
            if query.range.contains(span.start_time_unix_nano)
                && query.matches(service, resource, span)
            {
                let id: TraceId = span.trace_id.clone().try_into().unwrap();
                let at = found.entry(id).or_default();
                *at = (*at).max(span.start_time_unix_nano);
            }
        }
    }
    let mut found: Vec<(u64, TraceId)> = found.into_iter().map(|(id, t)| (t, id)).collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.truncate(query.limit);
    let mut ids: Vec<TraceId> = found.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    ids
}

fn reference_summary(
    groups: &[ResourceSpans],
    id: &TraceId,
) -> (u64, u64, u64, u64, BTreeMap<String, u64>) {
    let (mut count, mut errors, mut start, mut end) = (0, 0, u64::MAX, 0);
    let mut services = BTreeMap::new();
    for group in groups {
        let service = service_name(group.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for span in group.scope_spans.iter().flat_map(|s| &s.spans) {
            if span.trace_id == id {
                count += 1;
                errors += u64::from(is_error(span));
                start = start.min(span.start_time_unix_nano);
                end = end.max(span.end_time_unix_nano);
                *services.entry(service.to_string()).or_default() += 1;
            }
        }
    }
    (count, errors, start, end, services)
}

fn queries() -> Vec<TraceQuery> {
    let all = TraceQuery::new(TimeRange::ALL, 10);
    let mut queries = vec![
        all.clone(),
        TraceQuery {
            limit: 1000,
            ..all.clone()
        },
    ];
    for service in SERVICES {
        queries.push(TraceQuery {
            service: Some(service.into()),
            ..all.clone()
        });
    }
    queries.push(TraceQuery {
        service: Some("nobody".into()),
        ..all.clone()
    });
    queries.push(TraceQuery {
        operation: Some("op-1".into()),
        service: Some("checkout".into()),
        ..all.clone()
    });
    queries.push(TraceQuery {
        span_kind: Some(2),
        ..all.clone()
    });
    queries.push(TraceQuery {
        errors_only: true,
        limit: 1000,
        ..all.clone()
    });
    queries.push(TraceQuery {
        min_duration_ns: Some(2_500_000),
        ..all.clone()
    });
    queries.push(TraceQuery {
        max_duration_ns: Some(1_000_000),
        ..all.clone()
    });
    queries.push(TraceQuery {
        attributes: vec![("http.status_code".into(), "400".into())],
        limit: 1000,
        ..all.clone()
    });
    queries.push(TraceQuery {
        attributes: vec![
            ("cache.hit".into(), "true".into()),
            ("deployment.environment".into(), "prod".into()),
        ],
        ..all.clone()
    });
    queries.push(TraceQuery {
        attributes: vec![("user.id".into(), "user-3".into())],
        ..all.clone()
    });
    queries.push(TraceQuery {
        attributes: vec![("user.id".into(), "nobody".into())],
        ..all.clone()
    });
    queries.push(TraceQuery {
        range: TimeRange::new(BASE + HOUR, BASE + 2 * HOUR),
        ..all.clone()
    });
    queries.push(TraceQuery {
        range: TimeRange::new(BASE + HOUR / 2, BASE + HOUR + HOUR / 3),
        limit: 3,
        ..all
    });
    queries
}

/// Checks every lookup and search of `store` against the written `groups`.
fn check_against_scan(
    store: &Store,
    groups: &[ResourceSpans],
    ids: &HashSet<TraceId>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        items_of(&store.read_traces(TimeRange::ALL).unwrap()),
        items_of(groups)
    );
    for id in ids {
        let expected: Vec<ResourceSpans> = groups
            .iter()
            .filter(|g| g.scope_spans[0].spans[0].trace_id == id)
            .cloned()
            .collect();
        prop_assert_eq!(
            items_of(&store.trace(id).unwrap()),
            items_of(&expected),
            "trace {:?}",
            id
        );
    }
    prop_assert!(store.trace(&[0xee; 16]).unwrap().is_empty());
    for query in queries() {
        let found = store.find_traces(&query).unwrap();
        let mut found_ids: Vec<TraceId> = found.iter().map(|s| s.trace_id).collect();
        found_ids.sort();
        prop_assert_eq!(&found_ids, &reference_find(groups, &query), "{:?}", query);
        for summary in &found {
            let (count, errors, start, end, services) =
                reference_summary(groups, &summary.trace_id);
            prop_assert_eq!(
                (
                    summary.span_count,
                    summary.error_count,
                    summary.start_unix_nano,
                    summary.end_unix_nano
                ),
                (count, errors, start, end)
            );
            prop_assert_eq!(
                summary.services.iter().cloned().collect::<BTreeMap<_, _>>(),
                services
            );
            prop_assert!(summary.has_root);
            prop_assert!(summary.root_name.starts_with("op-"));
        }
    }
    let mut expected_ops: Vec<Operation> = groups
        .iter()
        .flat_map(|g| {
            let service =
                service_name(g.resource.as_ref().map_or(&[][..], |r| &r.attributes)).to_string();
            g.scope_spans[0].spans.iter().map(move |s| Operation {
                service: service.clone(),
                name: s.name.clone(),
                span_kind: s.kind,
            })
        })
        .collect();
    expected_ops.sort();
    expected_ops.dedup();
    prop_assert_eq!(
        store.trace_operations(TimeRange::ALL, None).unwrap(),
        expected_ops
    );
    Ok(())
}

/// `n` traces, the same in every run, none with late spans.
fn fixed_traces(n: u8) -> Vec<(Vec<Generated>, bool)> {
    (0..n)
        .map(|i| {
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            (
                any_trace(i).new_tree(&mut runner).unwrap().current().0,
                false,
            )
        })
        .collect()
}

/// The trace ids of generated traces.
fn trace_ids(traces: &[(Vec<Generated>, bool)]) -> HashSet<TraceId> {
    traces
        .iter()
        .map(|(spans, _)| spans[0].span.trace_id.clone().try_into().unwrap())
        .collect()
}

proptest! {
    #![proptest_config(proptest_config(10))]
    #[test]
    fn lookups_and_searches_agree_with_a_scan_before_and_after_compaction(traces in any_traces()) {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = batches(&traces);
        let ids = trace_ids(&traces);
        let all: Vec<ResourceSpans> = first.iter().chain(&second).cloned().collect();
        {
            let store = row_store(dir.path());
            store.write(Batch::Traces(first.clone())).unwrap();
            check_against_scan(&store, &first, &ids)?;
            store.shutdown().unwrap();
        }
        let store = compacting(dir.path());
        wait_for_compaction(&store, Signal::Traces);
        check_against_scan(&store, &first, &ids)?;
        // Late spans land in row blocks beside the compacted ones, then are compacted too.
        if !second.is_empty() {
            store.write(Batch::Traces(second.clone())).unwrap();
        }
        check_against_scan(&store, &all, &ids)?;
        wait_for_compaction(&store, Signal::Traces);
        check_against_scan(&store, &all, &ids)?;
        store.shutdown().unwrap();
        drop(store);
        let store = row_store(dir.path());
        check_against_scan(&store, &all, &ids)?;
    }
}

#[test]
fn readers_see_every_span_exactly_once_while_the_compactor_works() {
    let dir = tempfile::tempdir().unwrap();
    let store = row_store(dir.path());
    let mut written = Vec::new();
    for batch in 0..80u64 {
        let spans: Vec<Span> = (0..50u64)
            .map(|i| {
                let mut span = crate::test_fixtures::span_at("s", BASE + batch * 1_000_000 + i);
                span.trace_id = [(batch % 251) as u8; 16].to_vec();
                span.span_id = (batch * 100 + i).to_le_bytes().to_vec();
                span
            })
            .collect();
        let group = group((batch % 3) as usize, spans);
        store.write(Batch::Traces(vec![group.clone()])).unwrap();
        written.push(group);
    }
    store.shutdown().unwrap();
    drop(store);
    let expected = items_of(&written);
    // A small run size makes many runs, each a swap a reader can fall between.
    let mut options = StoreOptions::default().with_compaction_idle(Some(Duration::ZERO));
    options.compaction_run_bytes = 32 << 10;
    let store = Store::open(dir.path(), options).unwrap();
    let mut scans = 0;
    loop {
        let mut seen = Vec::new();
        store
            .scan_traces(TimeRange::ALL, |groups| {
                seen.extend(groups);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(items_of(&seen), expected, "scan {scans}");
        scans += 1;
        let compacted = {
            let db = store.inner.index.get().unwrap();
            let txn = redb::ReadableDatabase::begin_read(&*db).unwrap();
            let table = txn.open_table(schema::block_table(Signal::Traces)).unwrap();
            redb::ReadableTable::iter(&table).unwrap().all(|e| {
                block::IndexEntry::parse(e.unwrap().1.value())
                    .unwrap()
                    .header
                    .codec
                    != block::CODEC_ZSTD_PROTOBUF
            })
        };
        if compacted {
            break;
        }
    }
    assert!(
        scans > 1,
        "the compactor finished before a scan could overlap it"
    );
    // The compacted row files are gone from the disk once no reader holds them.
    store.inner.files.sweep();
    let files: Vec<String> = std::fs::read_dir(schema::segment_dir(dir.path(), Signal::Traces))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !files.contains(&schema::segment_file_name(BASE, 0)),
        "{files:?}"
    );
}

/// Copies every file of `from` (a closed store) into `to`.
fn copy_store(from: &std::path::Path, to: &std::path::Path) {
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_crash_at_any_point_of_a_compaction_loses_and_duplicates_nothing() {
    let traces = fixed_traces(30);
    let (written, _) = batches(&traces);
    let ids = trace_ids(&traces);
    let rows = tempfile::tempdir().unwrap();
    {
        let store = row_store(rows.path());
        store.write(Batch::Traces(written.clone())).unwrap();
        store.shutdown().unwrap();
    }
    let compacted = tempfile::tempdir().unwrap();
    copy_store(rows.path(), compacted.path());
    {
        let store = compacting(compacted.path());
        wait_for_compaction(&store, Signal::Traces);
        store.shutdown().unwrap();
    }
    let segments = |dir: &std::path::Path| schema::segment_dir(dir, Signal::Traces);
    let reopened = |dir: &std::path::Path| {
        let store = row_store(dir);
        check_against_scan(&store, &written, &ids).unwrap();
    };

    // Before the swap commits: the run's output file exists, no entry references it.
    let before_commit = tempfile::tempdir().unwrap();
    copy_store(rows.path(), before_commit.path());
    for file in walk(&segments(compacted.path())) {
        std::fs::copy(
            &file,
            segments(before_commit.path()).join(file.file_name().unwrap()),
        )
        .unwrap();
    }
    reopened(before_commit.path());
    let left: Vec<_> = walk(&segments(before_commit.path()));
    assert_eq!(
        left.len(),
        walk(&segments(rows.path())).len(),
        "the uncommitted output is removed: {left:?}"
    );

    // After the swap commits, before the old files are removed.
    let after_commit = tempfile::tempdir().unwrap();
    copy_store(compacted.path(), after_commit.path());
    for file in walk(&segments(rows.path())) {
        std::fs::copy(
            &file,
            segments(after_commit.path()).join(file.file_name().unwrap()),
        )
        .unwrap();
    }
    reopened(after_commit.path());
    assert_eq!(
        walk(&segments(after_commit.path())).len(),
        walk(&segments(compacted.path())).len(),
        "the compacted row files are removed"
    );
    // And the compacted store itself.
    reopened(compacted.path());
}

#[test]
fn a_version_1_store_is_upgraded_and_its_traces_found_and_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let traces = fixed_traces(12);
    let (written, _) = batches(&traces);
    let ids = trace_ids(&traces);
    {
        let store = row_store(dir.path());
        store.write(Batch::Traces(written.clone())).unwrap();
        store.shutdown().unwrap();
    }
    // What version 1 wrote: the same block tables and segment files (file 0 only, codec 1),
    // and none of the trace tables.
    {
        let db = redb::Database::create(dir.path().join(schema::DATABASE_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(schema::META)
            .unwrap()
            .insert(schema::META_FORMAT_VERSION, 1)
            .unwrap();
        txn.delete_table(schema::TRACE_ID_FILTERS).unwrap();
        txn.delete_table(schema::TRACE_SEARCH_FILTERS).unwrap();
        txn.delete_table(schema::TRACE_OPERATIONS).unwrap();
        txn.delete_table(schema::LOG_FILTERS).unwrap();
        txn.delete_table(schema::LOG_STREAMS).unwrap();
        txn.delete_table(schema::METRIC_SERIES).unwrap();
        txn.delete_table(schema::METRIC_BLOCK_SERIES).unwrap();
        txn.commit().unwrap();
    }
    let store = row_store(dir.path());
    assert_eq!(store.stats().unwrap().format_version, 4);
    assert_eq!(
        items_of(&store.read_traces(TimeRange::ALL).unwrap()),
        items_of(&written)
    );
    // Blocks without a trace-id filter may hold any trace: lookups still find every one.
    for id in &ids {
        let expected: Vec<ResourceSpans> = written
            .iter()
            .filter(|g| g.scope_spans[0].spans[0].trace_id == id)
            .cloned()
            .collect();
        assert_eq!(items_of(&store.trace(id).unwrap()), items_of(&expected));
    }
    store.shutdown().unwrap();
    drop(store);
    // The compactor rewrites the old row blocks; then everything, the catalog included, is there.
    let store = compacting(dir.path());
    wait_for_compaction(&store, Signal::Traces);
    check_against_scan(&store, &written, &ids).unwrap();
}
