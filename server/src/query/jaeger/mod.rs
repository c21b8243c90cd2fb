//! Jaeger-compatible trace query APIs, so that Jaeger's UI and Grafana's Jaeger data source work
//! against otelite unchanged: [`v3`] (`/api/v3/...`, what today's Jaeger UI calls) and [`v1`]
//! (`/api/services`, `/api/traces`, ..., what Grafana calls), with [`v1_model`] translating OTLP
//! into Jaeger's v1 JSON.
//!
//! Both read their parameters with `traces::params`, so a search means the same in every API;
//! what differs is only spelling, units and answer shapes. Store work runs on the blocking pool.

mod v1;
mod v1_model;
mod v3;

use axum::Router;
use axum::routing::get;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use otelite_api::traces::SpanKind;
use otelite_storage::{Operation, Store, TimeRange, TraceId, TraceQuery};

use super::{ApiError, blocking};
use crate::state::AppState;

/// The Jaeger routes, v1 and v3.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/services", get(v1::services))
        .route(
            "/api/services/{service}/operations",
            get(v1::service_operations),
        )
        .route("/api/operations", get(v1::operations))
        .route("/api/traces", get(v1::search))
        .route("/api/traces/{trace_id}", get(v1::trace))
        .route("/api/v3/services", get(v3::services))
        .route("/api/v3/operations", get(v3::operations))
        .route("/api/v3/traces", get(v3::find_traces))
        .route("/api/v3/traces/{trace_id}", get(v3::get_trace))
        .route("/api/v3/trace-summaries", get(v3::find_trace_summaries))
}

/// The traces a search finds, newest first, each with every stored span.
async fn full_traces(
    store: Store,
    query: TraceQuery,
) -> Result<Vec<(TraceId, Vec<ResourceSpans>)>, ApiError> {
    blocking(move || {
        let ids: Vec<TraceId> = store
            .find_traces(&query)?
            .into_iter()
            .map(|summary| summary.trace_id)
            .collect();
        let traces = store.traces(&ids)?;
        // A trace removed by retention between the two reads is left out.
        Ok(ids
            .into_iter()
            .zip(traces)
            .filter(|(_, groups)| !groups.is_empty())
            .collect())
    })
    .await
}

/// Every named service, as Jaeger lists them (over all stored time; spans of resources without
/// `service.name` belong to no listed service).
async fn services(store: Store) -> Result<Vec<String>, ApiError> {
    let services = blocking(move || Ok(store.trace_services(TimeRange::ALL)?)).await?;
    Ok(services.into_iter().filter(|s| !s.is_empty()).collect())
}

/// The operations of `service` (or every named service), of one kind or all.
async fn operations(
    store: Store,
    service: Option<String>,
    kind: Option<SpanKind>,
) -> Result<Vec<Operation>, ApiError> {
    let ops =
        blocking(move || Ok(store.trace_operations(TimeRange::ALL, service.as_deref())?)).await?;
    Ok(ops
        .into_iter()
        .filter(|op| !op.service.is_empty())
        .filter(|op| kind.is_none_or(|k| k.to_otlp() == op.span_kind))
        .collect())
}

/// A span kind as Jaeger's stores name it: `server`, `client`, ...; `""` when unspecified.
fn kind_name(otlp_kind: i32) -> &'static str {
    match SpanKind::from_otlp(otlp_kind) {
        SpanKind::Unspecified => "",
        kind => kind.name(),
    }
}

#[cfg(test)]
mod tests {
    //! The routes over a real store, answered without a socket.

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use otelite_storage::Batch;
    use serde_json::Value;
    use tower::ServiceExt as _;

    use crate::ingest::test_support;
    use crate::otlp::decode_json;

    /// A golden file of `jaeger/testdata/`.
    pub(super) fn testdata(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/query/jaeger/testdata")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A cart service's trace (a server root and a child without a kind) next to the payment
    /// trace of `v1/features-in.json`.
    const CART: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"cart"}}]},
      "scopeSpans":[{"spans":[
        {"traceId":"00000000000000000000000000000009","spanId":"0000000000000007","name":"GET /cart",
         "kind":2,"startTimeUnixNano":"2000000000000","endTimeUnixNano":"2002000000000"},
        {"traceId":"00000000000000000000000000000009","spanId":"0000000000000008",
         "parentSpanId":"0000000000000007","name":"load cart",
         "startTimeUnixNano":"2000000000100","endTimeUnixNano":"2000000000900","status":{"code":2}}
      ]}]}]}"#;

    async fn app() -> (axum::Router, tempfile::TempDir) {
        let (state, dir) = test_support::state(1 << 20);
        for json in [CART.to_string(), testdata("v1/features-in.json")] {
            let request: ExportTraceServiceRequest = decode_json(json.as_bytes()).unwrap();
            state
                .store
                .write(Batch::Traces(request.resource_spans))
                .unwrap();
        }
        (crate::query::router(state), dir)
    }

    async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
        });
        (status, json)
    }

    fn golden(name: &str) -> Value {
        serde_json::from_str(&testdata(name)).unwrap()
    }

    #[tokio::test]
    async fn v3_answers_have_jaegers_shapes() {
        let (app, _dir) = app().await;
        assert_eq!(
            get(&app, "/api/v3/services").await,
            (StatusCode::OK, golden("v3/services.json"))
        );
        assert_eq!(
            get(&app, "/api/v3/operations?service=cart").await,
            (StatusCode::OK, golden("v3/operations.json"))
        );
        let (status, only_server) =
            get(&app, "/api/v3/operations?service=cart&spanKind=server").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            only_server["operations"].as_array().unwrap().len(),
            1,
            "{only_server}"
        );
        assert_eq!(
            get(&app, "/api/v3/traces/77").await,
            (StatusCode::NOT_FOUND, golden("v3/not-found.json"))
        );
        let summaries = "/api/v3/trace-summaries?query.serviceName=cart\
            &query.startTimeMin=1970-01-01T00:33:19Z&query.startTimeMax=1970-01-01T00:33:21Z";
        assert_eq!(
            get(&app, summaries).await,
            (StatusCode::OK, golden("v3/trace-summaries.json"))
        );
        let (status, by_id) = get(&app, "/api/v3/traces/9").await;
        assert_eq!(status, StatusCode::OK, "a short id is padded: {by_id}");
        let spans = &by_id["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(spans.as_array().unwrap().len(), 2, "{by_id}");
    }

    #[tokio::test]
    async fn v1_answers_have_jaegers_shapes() {
        let (app, _dir) = app().await;
        let (status, services) = get(&app, "/api/services").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            services,
            serde_json::json!({"data":["cart","payment"],"total":2,"limit":0,"offset":0,"errors":null})
        );
        let (_, ops) = get(&app, "/api/services/cart/operations").await;
        assert_eq!(ops["data"], serde_json::json!(["GET /cart", "load cart"]));
        let (_, ops) = get(&app, "/api/operations?service=cart").await;
        assert_eq!(
            ops["data"],
            serde_json::json!([{"name":"GET /cart","spanKind":"server"},{"name":"load cart","spanKind":""}])
        );
        assert_eq!(
            get(&app, "/api/traces/a3ce929d0e0e4736").await,
            (StatusCode::OK, golden("v1/features-out.json"))
        );
        assert_eq!(
            get(&app, "/api/traces/76").await,
            (
                StatusCode::NOT_FOUND,
                serde_json::json!({"data":null,"total":0,"limit":0,"offset":0,
                    "errors":[{"code":404,"msg":"trace not found"}]})
            )
        );
        let (status, body) = get(&app, "/api/operations").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["errors"][0]["msg"]
                .as_str()
                .unwrap()
                .contains("'service'"),
            "{body}"
        );
        let (status, found) = get(
            &app,
            "/api/traces?traceID=9&traceID=a3ce929d0e0e4736&traceID=5",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["data"].as_array().unwrap().len(), 2, "{found}");
        assert_eq!(
            found["errors"],
            serde_json::json!([{"msg":"trace not found","traceID":"5"}])
        );
    }

    #[tokio::test]
    async fn native_routes_answer_the_same_store() {
        let (app, _dir) = app().await;
        let (status, trace) = get(&app, "/api/v1/traces/0000000000000000a3ce929d0e0e4736").await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        assert_eq!(trace["spans"].as_array().unwrap().len(), 4);
        assert_eq!(
            trace["resources"].as_array().unwrap().len(),
            2,
            "payment's two exports share one"
        );
        let (status, body) = get(&app, "/api/v1/traces/a3ce929d0e0e4736").await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "the native API wants 32 digits: {body}"
        );
        let (status, found) = get(
            &app,
            "/api/v1/traces?service=payment&start=0&tags=error%3Dtrue",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(
            found["traces"][0]["trace_id"],
            "0000000000000000a3ce929d0e0e4736"
        );
        assert_eq!(found["traces"][0]["error_count"], 1);
        let (_, services) = get(&app, "/api/v1/trace-services").await;
        assert_eq!(services, serde_json::json!({"services":["cart","payment"]}));
    }
}
