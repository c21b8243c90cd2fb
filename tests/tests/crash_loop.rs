//! Crash loop under load: OTLP clients send as fast as the server acknowledges while the test
//! SIGKILLs the server at random moments and restarts it on the same data directory, many times.
//!
//! After every restart: the store opens cleanly (no warning or error in the log) and promptly
//! (spawn → `/readyz` 200 under [`MAX_RECOVERY`]); every item acknowledged before the kill is
//! stored, whole; every request that was not acknowledged (in flight at the kill) is stored
//! entirely or not at all, never in part, since one request is one batch and one batch is part of
//! exactly one commit; nothing is stored that no client sent; and the counts of
//! `/api/v1/status` agree with all of that. A final full export compares the whole store.
//!
//! Every item's name (span name, metric name, log body) is its key, `c<cycle>.k<client>.r<request
//! number>.i<item number>`, and every item is timed when it is built, so the items of one cycle lie
//! in that cycle's stretch of wall-clock time and each check exports only that stretch.
//!
//! `cargo test` runs [`SHORT_CYCLES`] cycles. A long run, with its figures printed:
//! `OTELITE_CRASH_CYCLES=500 cargo test -p otelite-tests --test crash_loop -- --nocapture`;
//! `OTELITE_CRASH_SEED=<seed>` repeats a run's kill moments and request sizes.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use otelite_tests::otlp::{self, OtlpRequest, flat_logs, flat_points, flat_spans};
use otelite_tests::{PROMPT, ServerProcess, Signal, complaints};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

const BINARY: &str = env!("CARGO_BIN_EXE_otelite-e2e");

/// Cycles of the variant `cargo test` runs; `OTELITE_CRASH_CYCLES` asks for more.
const SHORT_CYCLES: usize = 8;
/// Concurrent clients: even ones speak OTLP/HTTP protobuf, odd ones OTLP/gRPC (gzip for 3, 7...).
const CLIENTS: usize = 4;
/// How long after the clients start the server is killed: a random moment in this range.
const KILL_AFTER_MS: std::ops::Range<u64> = 5..400;
const MAX_ITEMS_PER_REQUEST: usize = 40;
/// The bound on recovery: spawn of the restarted process until `/readyz` answers 200.
const MAX_RECOVERY: Duration = Duration::from_secs(5);

/// One item as the comparison sees it: its key and its whole content (resource, scope and every
/// field, attribute maps sorted), as `Debug` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    key: String,
    content: String,
}

impl Item {
    /// The key of the request this item was sent in: `c3.k1.r17` for `c3.k1.r17.i4`.
    fn request_key(&self) -> &str {
        self.key
            .rsplit_once(".i")
            .map_or(self.key.as_str(), |(request, _)| request)
    }

    /// What the final check keeps of an item: the whole store does not fit in memory as text.
    fn fingerprint(&self) -> (String, u64) {
        let mut hasher = DefaultHasher::new();
        self.content.hash(&mut hasher);
        (self.key.clone(), hasher.finish())
    }
}

/// The three export request types, with their items keyed by name.
trait KeyedRequest: OtlpRequest {
    /// Every item with its key, sorted.
    fn items(&self) -> Vec<Item>;
}

fn item(key: String, flat: &impl std::fmt::Debug) -> Item {
    Item {
        key,
        content: format!("{flat:?}"),
    }
}

fn sorted(mut items: Vec<Item>) -> Vec<Item> {
    items.sort();
    items
}

impl KeyedRequest for ExportTraceServiceRequest {
    fn items(&self) -> Vec<Item> {
        let items = flat_spans(self).into_iter();
        sorted(items.map(|f| item(f.item.name.clone(), &f)).collect())
    }
}

impl KeyedRequest for ExportMetricsServiceRequest {
    fn items(&self) -> Vec<Item> {
        let items = flat_points(self).into_iter();
        sorted(items.map(|f| item(f.item.0.name.clone(), &f)).collect())
    }
}

impl KeyedRequest for ExportLogsServiceRequest {
    fn items(&self) -> Vec<Item> {
        let key = |record: &LogRecord| match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(body)) => body.clone(),
            other => format!("{other:?}"),
        };
        let items = flat_logs(self).into_iter();
        sorted(items.map(|f| item(key(&f.item), &f)).collect())
    }
}

/// One export request of any signal.
enum Request {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Request {
    fn signal(&self) -> Signal {
        match self {
            Request::Traces(_) => Signal::Traces,
            Request::Metrics(_) => Signal::Metrics,
            Request::Logs(_) => Signal::Logs,
        }
    }

    fn items(&self) -> Vec<Item> {
        match self {
            Request::Traces(r) => r.items(),
            Request::Metrics(r) => r.items(),
            Request::Logs(r) => r.items(),
        }
    }
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// What one request of client `client` holds: `items` items keyed `{key}.i<n>`, timed now, each
/// with an attribute of `payload` bytes so that requests differ in size.
struct RequestPlan<'a> {
    key: &'a str,
    client: usize,
    signal: Signal,
    items: usize,
    payload: usize,
}

impl RequestPlan<'_> {
    fn build(&self) -> Request {
        let now = otlp::now_nanos();
        let resource = Some(Resource {
            attributes: vec![attribute(
                "service.name",
                any_value::Value::StringValue(format!("crash-client-{}", self.client)),
            )],
            ..Default::default()
        });
        let attributes = |i: usize| {
            vec![
                attribute("item", any_value::Value::IntValue(i as i64)),
                attribute(
                    "payload",
                    any_value::Value::StringValue(
                        char::from(b'a' + (i % 26) as u8)
                            .to_string()
                            .repeat(self.payload),
                    ),
                ),
            ]
        };
        let keys = (0..self.items).map(|i| (i, format!("{}.i{i}", self.key)));
        match self.signal {
            Signal::Traces => {
                let spans = keys
                    .map(|(i, key)| {
                        let mut trace_id = otlp::new_trace_id();
                        trace_id[0] |= 0x80;
                        Span {
                            trace_id,
                            span_id: otlp::new_span_id(),
                            name: key,
                            kind: span::SpanKind::Server as i32,
                            start_time_unix_nano: now,
                            end_time_unix_nano: now + 1_000,
                            attributes: attributes(i),
                            ..Default::default()
                        }
                    })
                    .collect();
                let mut request = otlp::traces_request_of("unused", spans);
                request.resource_spans[0].resource = resource;
                Request::Traces(request)
            }
            Signal::Metrics => {
                let metrics = keys
                    .map(|(i, key)| Metric {
                        name: key,
                        unit: "1".to_string(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: attributes(i),
                                time_unix_nano: now,
                                value: Some(number_data_point::Value::AsInt(i as i64)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    })
                    .collect();
                Request::Metrics(ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics {
                        resource,
                        scope_metrics: vec![ScopeMetrics {
                            metrics,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                })
            }
            Signal::Logs => {
                let log_records = keys
                    .map(|(i, key)| LogRecord {
                        time_unix_nano: now,
                        severity_number: 9,
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(key)),
                        }),
                        attributes: attributes(i),
                        ..Default::default()
                    })
                    .collect();
                Request::Logs(ExportLogsServiceRequest {
                    resource_logs: vec![ResourceLogs {
                        resource,
                        scope_logs: vec![ScopeLogs {
                            log_records,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                })
            }
        }
    }
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// No answer: the server was killed while the request was in flight.
    Unanswered,
    Acknowledged,
    /// The server answered with an error status.
    Refused,
}

/// A request a client sent, with everything it held.
struct Sent {
    key: String,
    signal: Signal,
    items: Vec<Item>,
    outcome: Outcome,
}

/// What the clients of one cycle share with the test.
#[derive(Default)]
struct Load {
    sent: Mutex<Vec<Sent>>,
    in_flight: AtomicUsize,
    /// Set just before the SIGKILL: an error seen before it is the server's fault.
    killed: AtomicBool,
    errors_before_kill: Mutex<Vec<String>>,
}

/// One client's connections: reused across its requests, as an SDK's exporter does.
enum Transport {
    Http {
        client: reqwest::Client,
        base: String,
    },
    Grpc {
        channel: Option<Channel>,
        endpoint: String,
        gzip: bool,
    },
}

impl Transport {
    /// Sends `request`; `Ok(true)` once acknowledged, `Ok(false)` when the server refused it,
    /// `Err` when no answer came (the connection broke).
    async fn send(&mut self, request: &Request) -> Result<bool, String> {
        match self {
            Transport::Http { client, base } => {
                let (signal, body) = match request {
                    Request::Traces(r) => (Signal::Traces, r.encode_to_vec()),
                    Request::Metrics(r) => (Signal::Metrics, r.encode_to_vec()),
                    Request::Logs(r) => (Signal::Logs, r.encode_to_vec()),
                };
                let response = client
                    .post(format!("{base}/v1/{}", signal.name()))
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("POST: {e}"))?;
                let status = response.status();
                let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
                if status != 200 {
                    return Ok(false);
                }
                let rejected = match request {
                    Request::Traces(_) => {
                        ExportTraceServiceRequest::rejected_in_protobuf_response(&body)
                    }
                    Request::Metrics(_) => {
                        ExportMetricsServiceRequest::rejected_in_protobuf_response(&body)
                    }
                    Request::Logs(_) => {
                        ExportLogsServiceRequest::rejected_in_protobuf_response(&body)
                    }
                };
                assert!(
                    rejected.as_ref().is_none_or(|r| r.count == 0),
                    "valid data was rejected: {rejected:?}"
                );
                Ok(true)
            }
            Transport::Grpc {
                channel,
                endpoint,
                gzip,
            } => {
                if channel.is_none() {
                    let connected = Channel::from_shared(endpoint.clone())
                        .expect("a valid endpoint")
                        .connect()
                        .await
                        .map_err(|e| format!("connect: {e}"))?;
                    *channel = Some(connected);
                }
                let channel = channel.clone().expect("connected above");
                let compress = |on: bool| on.then_some(CompressionEncoding::Gzip);
                let rejected = match request {
                    Request::Traces(r) => {
                        let mut client = TraceServiceClient::new(channel);
                        if let Some(gzip) = compress(*gzip) {
                            client = client.send_compressed(gzip);
                        }
                        let response = client.export(r.clone()).await.map_err(grpc_error)?;
                        response
                            .into_inner()
                            .partial_success
                            .map(|p| p.rejected_spans)
                    }
                    Request::Metrics(r) => {
                        let mut client = MetricsServiceClient::new(channel);
                        if let Some(gzip) = compress(*gzip) {
                            client = client.send_compressed(gzip);
                        }
                        let response = client.export(r.clone()).await.map_err(grpc_error)?;
                        let partial = response.into_inner().partial_success;
                        partial.map(|p| p.rejected_data_points)
                    }
                    Request::Logs(r) => {
                        let mut client = LogsServiceClient::new(channel);
                        if let Some(gzip) = compress(*gzip) {
                            client = client.send_compressed(gzip);
                        }
                        let response = client.export(r.clone()).await.map_err(grpc_error)?;
                        let partial = response.into_inner().partial_success;
                        partial.map(|p| p.rejected_log_records)
                    }
                };
                assert!(
                    rejected.unwrap_or(0) == 0,
                    "valid data was rejected: {rejected:?}"
                );
                Ok(true)
            }
        }
    }
}

/// A gRPC error: whether the server refused or the connection broke is not told apart, so the
/// request counts as unanswered (all or nothing of it may be stored).
fn grpc_error(status: tonic::Status) -> String {
    format!("gRPC {:?}: {}", status.code(), status.message())
}

/// One client of one cycle: sends requests one after the other, as fast as they are answered,
/// until the connection breaks (the kill).
async fn run_client(
    client: usize,
    cycle: usize,
    seed: u64,
    server: (String, String),
    load: Arc<Load>,
) {
    let mut rng = fastrand::Rng::with_seed(seed ^ ((cycle as u64) << 16) ^ client as u64);
    let (http_base, grpc_endpoint) = server;
    let mut transport = if client.is_multiple_of(2) {
        Transport::Http {
            client: reqwest::Client::new(),
            base: http_base,
        }
    } else {
        Transport::Grpc {
            channel: None,
            endpoint: grpc_endpoint,
            gzip: client % 4 == 3,
        }
    };
    for number in 0.. {
        let key = format!("c{cycle}.k{client}.r{number}");
        let plan = RequestPlan {
            key: &key,
            client,
            signal: Signal::ALL[(client + number) % 3],
            items: rng.usize(1..=MAX_ITEMS_PER_REQUEST),
            payload: rng.usize(0..512),
        };
        let request = plan.build();
        let index = {
            let mut sent = load.sent.lock().unwrap();
            sent.push(Sent {
                key,
                signal: request.signal(),
                items: request.items(),
                outcome: Outcome::Unanswered,
            });
            sent.len() - 1
        };
        load.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = tokio::time::timeout(PROMPT, transport.send(&request)).await;
        load.in_flight.fetch_sub(1, Ordering::SeqCst);
        let outcome = match answer {
            Ok(Ok(true)) => Outcome::Acknowledged,
            Ok(Ok(false)) => Outcome::Refused,
            Ok(Err(error)) => {
                if !load.killed.load(Ordering::SeqCst) {
                    load.errors_before_kill.lock().unwrap().push(error);
                }
                return;
            }
            Err(_) => panic!("request {index} of client {client} got no answer within {PROMPT:?}"),
        };
        if !load.killed.load(Ordering::SeqCst) && outcome == Outcome::Refused {
            load.errors_before_kill
                .lock()
                .unwrap()
                .push(format!("request {index} refused"));
        }
        load.sent.lock().unwrap()[index].outcome = outcome;
    }
}

/// Spawns the server on `data` and waits for `/readyz`; returns it and how long that took.
async fn spawn_ready(data: &Path) -> (ServerProcess, Duration) {
    let started = Instant::now();
    // Compacting at once, so that kills also land in the middle of compactions: a span must
    // neither vanish nor show up twice whichever step of one a crash interrupts.
    let server = tokio::task::block_in_place(|| {
        ServerProcess::spawn_with(BINARY, data, &["--compaction-delay", "0"])
    });
    let client = reqwest::Client::new();
    loop {
        let ready = client.get(server.ui_url("/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return (server, started.elapsed());
        }
        assert!(
            started.elapsed() < PROMPT,
            "otelite is not ready after {PROMPT:?}:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The items of `T`'s signal stored in `[start, end)` (everything when `None`).
async fn stored<T: KeyedRequest>(server: &ServerProcess, range: Option<(u64, u64)>) -> Vec<Item> {
    let mut path = format!("/api/v1/export/{}", T::SIGNAL.name());
    if let Some((start, end)) = range {
        path.push_str(&format!("?start={start}&end={end}"));
    }
    let url = server.ui_url(&path);
    let response = reqwest::get(&url).await.expect("the export API answers");
    let status = response.status();
    let bytes = response.bytes().await.expect("the export arrives");
    assert_eq!(
        status,
        200,
        "GET {url}: {}",
        String::from_utf8_lossy(&bytes)
    );
    otlp::decode_json::<T>(&bytes).items()
}

async fn stored_all(server: &ServerProcess, range: Option<(u64, u64)>) -> Vec<Item> {
    let mut items = stored::<ExportTraceServiceRequest>(server, range).await;
    items.extend(stored::<ExportMetricsServiceRequest>(server, range).await);
    items.extend(stored::<ExportLogsServiceRequest>(server, range).await);
    items
}

async fn status(server: &ServerProcess) -> otelite_api::Status {
    let response = reqwest::get(server.ui_url("/api/v1/status"))
        .await
        .expect("the status API answers");
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).expect("a Status")
}

/// Everything the run counted, printed at its end.
#[derive(Debug, Default)]
struct Tally {
    acknowledged_requests: usize,
    acknowledged_items: usize,
    unanswered_stored: usize,
    unanswered_absent: usize,
    refused: usize,
    items_checked: usize,
    kills_with_requests_in_flight: usize,
    torn_tails_cut: usize,
    recoveries: Vec<Duration>,
}

/// Checks what the restarted `server` holds of `cycle`'s requests `sent` (timed in `range`):
/// adds the items found to `expected` (per signal) and to `fingerprints`.
async fn check_cycle(
    server: &ServerProcess,
    cycle: usize,
    range: (u64, u64),
    sent: &[Sent],
    expected: &mut HashMap<Signal, u64>,
    fingerprints: &mut Vec<(String, u64)>,
    tally: &mut Tally,
) {
    let mut found: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for item in stored_all(server, Some(range)).await {
        found
            .entry(item.request_key().to_string())
            .or_default()
            .push(item);
    }
    for request in sent {
        let mut got = found.remove(&request.key).unwrap_or_default();
        got.sort();
        tally.items_checked += got.len();
        if request.outcome == Outcome::Acknowledged {
            tally.acknowledged_requests += 1;
            tally.acknowledged_items += request.items.len();
            assert_same(&request.key, "acknowledged", &got, &request.items);
        } else if got.is_empty() {
            tally.unanswered_absent += 1;
        } else {
            // Not acknowledged, but visible: then it must be all of it.
            tally.unanswered_stored += 1;
            assert_same(
                &request.key,
                "unacknowledged but stored",
                &got,
                &request.items,
            );
        }
        if request.outcome == Outcome::Refused {
            tally.refused += 1;
        }
        *expected.entry(request.signal).or_default() += got.len() as u64;
        fingerprints.extend(got.iter().map(Item::fingerprint));
    }
    assert!(
        found.is_empty(),
        "cycle {cycle}: stored items no client sent in this cycle, first: {:?}",
        found.values().next()
    );
    let status = status(server).await;
    for signal in Signal::ALL {
        assert_eq!(
            status.signal(signal).stored,
            expected.get(&signal).copied().unwrap_or(0),
            "after cycle {cycle}: {signal} stored per /api/v1/status vs. checked"
        );
    }
}

fn assert_same(request: &str, what: &str, got: &[Item], sent: &[Item]) {
    if got == sent {
        return;
    }
    let missing: Vec<&Item> = sent.iter().filter(|i| !got.contains(i)).collect();
    let extra: Vec<&Item> = got.iter().filter(|i| !sent.contains(i)).collect();
    panic!(
        "request {request} ({what}): {} of {} items stored; missing or changed: {:#?}\nstored but not sent like this: {:#?}",
        got.len(),
        sent.len(),
        missing.first(),
        extra.first()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_data_survives_sigkill_under_load_again_and_again() {
    let cycles: usize = std::env::var("OTELITE_CRASH_CYCLES")
        .ok()
        .map(|v| v.parse().expect("OTELITE_CRASH_CYCLES is a number"))
        .unwrap_or(SHORT_CYCLES);
    let seed: u64 = std::env::var("OTELITE_CRASH_SEED")
        .ok()
        .map(|v| v.parse().expect("OTELITE_CRASH_SEED is a number"))
        .unwrap_or_else(|| otlp::now_nanos() % 1_000_000);
    println!("crash loop: {cycles} cycles, seed {seed} (repeat with OTELITE_CRASH_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut expected = HashMap::new();
    let mut fingerprints = Vec::new();

    let (mut server, _) = spawn_ready(&data).await;
    for cycle in 0..cycles {
        let range_start = otlp::now_nanos();
        let load = Arc::new(Load::default());
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let addresses = (
                    format!("http://{}", server.http_addr),
                    server.grpc_endpoint(),
                );
                tokio::spawn(run_client(client, cycle, seed, addresses, load.clone()))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.u64(KILL_AFTER_MS))).await;

        assert!(
            server.is_running(),
            "cycle {cycle}: otelite exited by itself under load:\n{}",
            server.output()
        );
        let output = server.output();
        let complaints = complaints(&output);
        assert!(
            complaints.is_empty(),
            "cycle {cycle}: otelite logged problems:\n{}",
            complaints.join("\n")
        );
        tally.torn_tails_cut += output
            .matches("cutting off an unacknowledged segment tail")
            .count();
        load.killed.store(true, Ordering::SeqCst);
        if load.in_flight.load(Ordering::SeqCst) > 0 {
            tally.kills_with_requests_in_flight += 1;
        }
        tokio::task::block_in_place(|| server.kill_9());
        for client in clients {
            client
                .await
                .expect("the client task ends without panicking");
        }
        let range = (range_start, otlp::now_nanos() + 1);
        let errors = std::mem::take(&mut *load.errors_before_kill.lock().unwrap());
        assert!(
            errors.is_empty(),
            "cycle {cycle}: requests failed while the server was up: {errors:?}"
        );

        let (restarted, recovery) = spawn_ready(&data).await;
        server = restarted;
        assert!(
            recovery < MAX_RECOVERY,
            "cycle {cycle}: recovery took {recovery:?}:\n{}",
            server.output()
        );
        tally.recoveries.push(recovery);
        let sent = std::mem::take(&mut *load.sent.lock().unwrap());
        check_cycle(
            &server,
            cycle,
            range,
            &sent,
            &mut expected,
            &mut fingerprints,
            &mut tally,
        )
        .await;
    }

    // The whole store, once more: nothing of an earlier cycle was lost or changed since.
    let mut everything: Vec<(String, u64)> = stored_all(&server, None)
        .await
        .iter()
        .map(Item::fingerprint)
        .collect();
    everything.sort();
    fingerprints.sort();
    assert_eq!(everything.len(), fingerprints.len(), "items in the store");
    assert!(
        everything == fingerprints,
        "the final export differs from what every cycle checked"
    );
    let exit = server.terminate(Duration::from_secs(10));
    assert!(exit.success(), "clean exit after the last cycle: {exit:?}");

    tally.recoveries.sort();
    let recovery_max = tally.recoveries.last().copied().unwrap_or_default();
    let recovery_median = tally.recoveries[tally.recoveries.len() / 2];
    println!(
        "crash loop: {cycles} cycles survived in {:.1?} (seed {seed}): {} requests / {} items acknowledged, all found whole; \
         {} requests unanswered at a kill: {} stored whole, {} absent, none in part; {} refused; {} items checked \
         ({} in the final export); kills with requests in flight: {}/{cycles}; torn segment tails cut at restart: {}; \
         recovery (spawn -> /readyz 200) median {recovery_median:.1?}, max {recovery_max:.1?}",
        started.elapsed(),
        tally.acknowledged_requests,
        tally.acknowledged_items,
        tally.unanswered_stored + tally.unanswered_absent,
        tally.unanswered_stored,
        tally.unanswered_absent,
        tally.refused,
        tally.items_checked,
        everything.len(),
        tally.kills_with_requests_in_flight,
        tally.torn_tails_cut,
    );
    assert!(
        tally.acknowledged_items > 0,
        "the clients got nothing acknowledged"
    );
    assert!(
        tally.kills_with_requests_in_flight * 2 >= cycles,
        "only {} of {cycles} kills hit requests in flight",
        tally.kills_with_requests_in_flight
    );
}
