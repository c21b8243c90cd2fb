use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use super::*;
use crate::otlp::{AcceptedTimes, ExportRequest};

fn workload() -> Workload {
    Workload::new(WorkloadOptions::default())
}

#[test]
fn traces_are_whole_trees_of_3_to_30_spans_across_services() {
    let mut request = workload().traces(2_000);
    let spans: Vec<_> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    assert!(spans.len() >= 2_000);
    assert_eq!(span_count(&request), spans.len() as u64);
    let mut by_trace: HashMap<&[u8], Vec<_>> = HashMap::new();
    for span in &spans {
        by_trace.entry(&span.trace_id).or_default().push(*span);
    }
    let mut sizes = HashSet::new();
    for trace in by_trace.values() {
        sizes.insert(trace.len());
        assert!(
            (3..=30).contains(&trace.len()),
            "a trace of {} spans",
            trace.len()
        );
        let ids: HashSet<&[u8]> = trace.iter().map(|s| s.span_id.as_slice()).collect();
        let roots = trace.iter().filter(|s| s.parent_span_id.is_empty()).count();
        assert_eq!(roots, 1);
        for span in trace {
            assert!(span.parent_span_id.is_empty() || ids.contains(span.parent_span_id.as_slice()));
            assert!(span.end_time_unix_nano > span.start_time_unix_nano);
        }
    }
    assert!(sizes.len() > 5, "trace sizes vary: {sizes:?}");
    assert!(
        request.resource_spans.len() > 6,
        "several services and instances"
    );
    let errors = spans
        .iter()
        .filter(|s| s.events.iter().any(|e| e.name == "exception"))
        .count();
    assert!(
        errors > 0 && errors < spans.len() / 10,
        "{errors} exceptions"
    );
    // Everything generated passes the receiver's validation.
    assert!(request.validate(&AcceptedTimes::ANY).is_empty());
}

#[test]
fn spans_vary_and_nest_the_way_sdk_output_does() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    let request = workload().traces(5_000);
    let spans: Vec<_> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let kinds: HashSet<i32> = spans.iter().map(|s| s.kind).collect();
    for kind in [
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ] {
        assert!(kinds.contains(&(kind as i32)), "no {kind:?} span");
    }
    let mut values: HashMap<&str, HashSet<String>> = HashMap::new();
    for kv in spans.iter().flat_map(|s| &s.attributes) {
        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            Some(Value::IntValue(i)) => i.to_string(),
            other => format!("{other:?}"),
        };
        values.entry(kv.key.as_str()).or_default().insert(value);
    }
    // Every instrumentation's attribute set, with the variety real traffic has.
    for (key, at_least) in [
        ("http.route", 7),
        ("url.path", 150),
        ("url.query", 150),
        ("user_agent.original", 30),
        ("client.address", 200),
        ("network.peer.address", 10),
        ("network.peer.port", 100),
        ("db.query.text", 200),
        ("rpc.service", 4),
        ("messaging.destination.name", 1),
        ("messaging.kafka.offset", 20),
        ("thread.name", 50),
        ("app.product.id", 200),
    ] {
        let seen = values.get(key).map_or(0, HashSet::len);
        assert!(seen >= at_least, "{seen} values of {key}");
    }
    // Literal ids in statements, as instrumentations record them.
    assert!(
        values["db.query.text"]
            .iter()
            .any(|q| q.starts_with("HGETALL cart:") && q.len() == "HGETALL cart:".len() + 36)
    );
    // Nanosecond timestamps, not rounded.
    let odd = spans
        .iter()
        .filter(|s| s.start_time_unix_nano % 2 == 1)
        .count();
    assert!(odd > spans.len() / 3, "{odd} odd start times");
    // Children start within their parents and, but for a consumer processing a message later,
    // end within them too.
    let by_id: HashMap<&[u8], _> = spans.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
    for span in &spans {
        if let Some(parent) = by_id.get(span.parent_span_id.as_slice()) {
            assert!(span.start_time_unix_nano >= parent.start_time_unix_nano);
            if span.kind != SpanKind::Consumer as i32 {
                assert!(span.end_time_unix_nano <= parent.end_time_unix_nano);
            } else {
                assert!(span.start_time_unix_nano >= parent.end_time_unix_nano);
            }
        }
    }
}

#[test]
fn logs_have_templated_bodies_json_bodies_and_trace_ids() {
    let mut request = workload().logs(1_000);
    assert_eq!(log_record_count(&request), 1_000);
    let records: Vec<_> = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    let bodies: HashSet<String> = records.iter().map(|r| format!("{:?}", r.body)).collect();
    assert!(bodies.len() > 900, "bodies vary: {}", bodies.len());
    let json = records
        .iter()
        .filter(|r| format!("{:?}", r.body).contains("{\\\""))
        .count();
    assert!(json > 50, "{json} JSON bodies");
    let with_trace = records.iter().filter(|r| r.trace_id.len() == 16).count();
    assert!(
        (500..900).contains(&with_trace),
        "{with_trace} with trace ids"
    );
    assert!(request.validate(&AcceptedTimes::ANY).is_empty());
}

#[test]
fn metrics_are_cumulative_and_advance() {
    let mut workload = workload();
    let series_per_round = data_point_count(&workload.metrics(1));
    assert!(series_per_round > 5);
    let mut request = workload.metrics(5_000);
    let points = data_point_count(&request);
    assert!(points >= 5_000);
    assert!(prometheus_sample_count(&request) > 3 * points);
    // Histogram counts never decrease from one export of a series to the next.
    let mut last: HashMap<String, (u64, u64)> = HashMap::new();
    for resource in &request.resource_metrics {
        let instance = format!("{:?}", resource.resource);
        for metric in resource.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if let Some(Data::Histogram(h)) = &metric.data {
                for point in &h.data_points {
                    assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
                    let key = format!("{instance}{:?}", point.attributes);
                    if let Some((time, count)) = last.get(&key) {
                        assert!(point.time_unix_nano > *time);
                        assert!(point.count >= *count);
                    }
                    last.insert(key, (point.time_unix_nano, point.count));
                }
            }
        }
    }
    assert!(last.len() > 90, "{} histogram series", last.len());
    assert!(request.validate(&AcceptedTimes::ANY).is_empty());
}

#[test]
fn the_same_seed_gives_the_same_telemetry() {
    assert_eq!(workload().traces(100), workload().traces(100));
    assert_eq!(workload().logs(100), workload().logs(100));
    assert_eq!(workload().metrics(100), workload().metrics(100));
}
