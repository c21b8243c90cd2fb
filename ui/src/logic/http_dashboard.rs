//! The HTTP dashboard: which services export an HTTP server duration histogram (found from the
//! series of its `_count`), the panels each gets (requests per second, 5xx ratio, status class
//! split, mean latency, p50/p95/p99) as PromQL, and the trace search a click on a point opens.
//!
//! Both the OpenTelemetry semantic conventions' `http.server.request.duration` (seconds, which
//! Prometheus' translation names `http_server_request_duration_seconds`) and Micrometer's
//! `http_server_requests_seconds` are recognised, with whichever route and status labels the
//! series carry.

use std::collections::BTreeMap;

use otelite_api::prometheus::LabelSet;

use crate::logic::metric_chart::{Unit, promql_duration, rate_window_ms};
use crate::logic::metric_explorer::quote;
use crate::logic::query_string;
use crate::logic::trace_search::{SearchRange, TraceSearch};

/// The histogram families the dashboard is built for, in order of preference.
pub const FAMILIES: [&str; 2] = [
    "http_server_request_duration_seconds",
    "http_server_requests_seconds",
];

/// Route labels, newest convention first.
const ROUTE_LABELS: [&str; 2] = ["http_route", "uri"];
/// Status code labels, newest convention first.
const STATUS_LABELS: [&str; 3] = ["http_response_status_code", "http_status_code", "status"];

/// One service exporting HTTP server durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpService {
    /// The `job` label: `service.name`, or `service.namespace/service.name`.
    pub job: String,
    pub family: String,
    /// The label its series name the route by, if any, and the routes seen.
    pub route_label: Option<String>,
    pub routes: Vec<String>,
    /// The label holding the response status code, if any.
    pub status_label: Option<String>,
}

impl HttpService {
    /// `service.name`: the job without its namespace.
    pub fn service_name(&self) -> &str {
        self.job
            .split_once('/')
            .map_or(self.job.as_str(), |(_, name)| name)
    }
}

/// The services among the series of the families' `_count`s, by job; a job with both families
/// uses the first of [`FAMILIES`].
pub fn services(series: &[LabelSet]) -> Vec<HttpService> {
    let mut jobs: BTreeMap<&str, HttpService> = BTreeMap::new();
    for set in series {
        let (Some(name), Some(job)) = (set.get("__name__"), set.get("job")) else {
            continue;
        };
        let Some(family) = FAMILIES
            .into_iter()
            .find(|f| name.strip_suffix("_count") == Some(f))
        else {
            continue;
        };
        let service = jobs.entry(job).or_insert_with(|| HttpService {
            job: job.clone(),
            family: family.to_owned(),
            route_label: None,
            routes: Vec::new(),
            status_label: None,
        });
        let rank = |f: &str| FAMILIES.iter().position(|x| *x == f);
        if rank(family) < rank(&service.family) {
            *service = HttpService {
                job: job.clone(),
                family: family.to_owned(),
                route_label: None,
                routes: Vec::new(),
                status_label: None,
            };
        } else if family != service.family {
            continue;
        }
        if service.route_label.is_none() {
            service.route_label = ROUTE_LABELS
                .into_iter()
                .find(|l| set.contains_key(*l))
                .map(str::to_owned);
        }
        if let Some(route) = service.route_label.as_ref().and_then(|l| set.get(l))
            && !service.routes.contains(route)
        {
            service.routes.push(route.clone());
        }
        if service.status_label.is_none() {
            service.status_label = STATUS_LABELS
                .into_iter()
                .find(|l| set.contains_key(*l))
                .map(str::to_owned);
        }
    }
    let mut out: Vec<HttpService> = jobs.into_values().collect();
    for service in &mut out {
        service.routes.sort();
    }
    out
}

/// One chart of a service's dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// A stable name for tests and the DOM: `rps`, `errors`, `status`, `latency`, `quantiles`.
    pub id: &'static str,
    pub title: &'static str,
    /// The queries drawn together, each with the legend label to give its series (`None`: from
    /// their labels).
    pub queries: Vec<(String, Option<String>)>,
    pub unit: Unit,
    pub stacked: bool,
}

/// The panels of `service`, narrowed to `route` when one is picked, at a query step of
/// `step_ms` (which sets the rate window).
pub fn panels(service: &HttpService, route: Option<&str>, step_ms: i64) -> Vec<Panel> {
    let window = promql_duration(rate_window_ms(step_ms));
    let mut matchers = vec![format!("job={}", quote(&service.job))];
    if let (Some(label), Some(route)) = (&service.route_label, route) {
        matchers.push(format!("{label}={}", quote(route)));
    }
    let selector = |suffix: &str, extra: Option<String>| {
        let mut all = matchers.clone();
        all.extend(extra);
        format!("{}_{suffix}{{{}}}", service.family, all.join(", "))
    };
    let by_route = service
        .route_label
        .as_ref()
        .map_or(String::new(), |l| format!(" by ({l})"));
    let rate_of = |suffix: &str, extra: Option<String>| {
        format!(
            "sum{by_route} (rate({}[{window}]))",
            selector(suffix, extra)
        )
    };
    let requests = rate_of("count", None);
    let mut panels = vec![Panel {
        id: "rps",
        title: "Requests per second",
        queries: vec![(requests.clone(), None)],
        unit: Unit::PerSecond,
        stacked: false,
    }];
    if let Some(status) = &service.status_label {
        let errors = rate_of("count", Some(format!("{status}=~\"5..\"")));
        // Routes without a 5xx count as 0 rather than vanishing from the chart.
        panels.push(Panel {
            id: "errors",
            title: "5xx ratio",
            queries: vec![(format!("({errors} or {requests} * 0) / {requests}"), None)],
            unit: Unit::Ratio,
            stacked: false,
        });
        panels.push(Panel {
            id: "status",
            title: "Responses by status class",
            queries: vec![(
                format!(
                    "sum by (status_class) (label_replace(rate({}[{window}]), \"status_class\", \"${{1}}xx\", {}, \"([0-9])..\"))",
                    selector("count", None),
                    quote(status)
                ),
                None,
            )],
            unit: Unit::PerSecond,
            stacked: true,
        });
    }
    panels.push(Panel {
        id: "latency",
        title: "Mean latency",
        queries: vec![(format!("{} / {requests}", rate_of("sum", None)), None)],
        unit: Unit::Seconds,
        stacked: false,
    });
    let buckets = format!("sum by (le) (rate({}[{window}]))", selector("bucket", None));
    panels.push(Panel {
        id: "quantiles",
        title: "Latency p50 / p95 / p99",
        queries: ["0.5", "0.95", "0.99"]
            .into_iter()
            .zip(["p50", "p95", "p99"])
            .map(|(q, name)| {
                (
                    format!("histogram_quantile({q}, {buckets})"),
                    Some(name.to_owned()),
                )
            })
            .collect(),
        unit: Unit::Seconds,
        stacked: false,
    });
    panels
}

/// One figure of a service's headline: a name, an instant query over the whole window and the
/// unit of its single value.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    pub id: &'static str,
    pub title: &'static str,
    pub query: String,
    pub unit: Unit,
}

/// The headline of `service` over the last `span_ms` before the window's end: how many
/// requests, how many a second, the share of 5xx, the mean and the 99th percentile latency.
pub fn headlines(service: &HttpService, route: Option<&str>, span_ms: i64) -> Vec<Headline> {
    let span = promql_duration(span_ms.max(1000) / 1000 * 1000);
    let mut matchers = vec![format!("job={}", quote(&service.job))];
    if let (Some(label), Some(route)) = (&service.route_label, route) {
        matchers.push(format!("{label}={}", quote(route)));
    }
    let selector = |suffix: &str, extra: Option<String>| {
        let mut all = matchers.clone();
        all.extend(extra);
        format!("{}_{suffix}{{{}}}", service.family, all.join(", "))
    };
    let total = format!("sum(increase({}[{span}]))", selector("count", None));
    let mut out = vec![
        Headline {
            id: "requests",
            title: "Requests",
            query: total.clone(),
            unit: Unit::Plain,
        },
        Headline {
            id: "rps",
            title: "Requests/s",
            query: format!("sum(rate({}[{span}]))", selector("count", None)),
            unit: Unit::PerSecond,
        },
    ];
    if let Some(status) = &service.status_label {
        let errors = format!(
            "sum(increase({}[{span}]))",
            selector("count", Some(format!("{status}=~\"5..\"")))
        );
        out.push(Headline {
            id: "errors",
            title: "5xx",
            query: format!("({errors} or vector(0)) / {total}"),
            unit: Unit::Ratio,
        });
    }
    out.push(Headline {
        id: "mean",
        title: "Mean latency",
        query: format!("sum(increase({}[{span}])) / {total}", selector("sum", None)),
        unit: Unit::Seconds,
    });
    out.push(Headline {
        id: "p99",
        title: "p99 latency",
        query: format!(
            "histogram_quantile(0.99, sum by (le) (increase({}[{span}])))",
            selector("bucket", None)
        ),
        unit: Unit::Seconds,
    });
    out
}

/// The dashboard's URL state: the time range, and the route picked per service is not kept.
pub fn dashboard_query(range: SearchRange) -> String {
    let [lookback, start, end] = range.query_pairs();
    query_string::build([lookback, start, end])
}

/// The trace search (its query string) for a click on a point at `t_ms` of `panel`: the
/// service's spans in the rate window that point summarises, of the clicked series' route, and
/// only failed ones from the 5xx chart or the 5xx band.
pub fn trace_search_for_point(
    service: &HttpService,
    panel_id: &str,
    series_labels: &LabelSet,
    picked_route: Option<&str>,
    t_ms: i64,
    step_ms: i64,
) -> String {
    let route = service
        .route_label
        .as_ref()
        .and_then(|l| series_labels.get(l))
        .map(String::as_str)
        .or(picked_route);
    let mut tags = Vec::new();
    if let Some(route) = route {
        tags.push(("http.route".to_owned(), route.to_owned()));
    }
    let failed = panel_id == "errors"
        || series_labels
            .get("status_class")
            .is_some_and(|c| c == "5xx");
    if failed {
        tags.push(("error".to_owned(), "true".to_owned()));
    }
    let end_ns = (t_ms.max(0) as u64 + step_ms.max(0) as u64) * 1_000_000;
    let start_ns = (t_ms - rate_window_ms(step_ms)).max(0) as u64 * 1_000_000;
    TraceSearch {
        service: service.service_name().to_owned(),
        tags: crate::logic::trace_search::format_tags(&tags),
        range: SearchRange::Custom { start_ns, end_ns },
        ..TraceSearch::default()
    }
    .to_query()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::trace_search::Lookback;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const COUNT: &str = "http_server_request_duration_seconds_count";

    fn shop() -> HttpService {
        services(&[set(&[
            ("__name__", COUNT),
            ("job", "shop/frontend"),
            ("http_route", "/cart"),
            ("http_response_status_code", "200"),
        ])])
        .remove(0)
    }

    #[test]
    fn services_are_found_with_their_routes_and_labels() {
        let found = services(&[
            set(&[
                ("__name__", COUNT),
                ("job", "frontend"),
                ("http_route", "/checkout"),
                ("http_response_status_code", "500"),
            ]),
            set(&[
                ("__name__", COUNT),
                ("job", "frontend"),
                ("http_route", "/cart"),
                ("http_response_status_code", "200"),
            ]),
            set(&[
                ("__name__", "http_server_requests_seconds_count"),
                ("job", "legacy"),
                ("uri", "/api"),
                ("status", "200"),
            ]),
            set(&[
                ("__name__", "http_server_requests_seconds_count"),
                ("job", "frontend"),
                ("uri", "/old"),
            ]),
            set(&[("__name__", "other_count"), ("job", "x")]),
            set(&[("__name__", COUNT)]),
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].job, "frontend");
        assert_eq!(found[0].family, "http_server_request_duration_seconds");
        assert_eq!(found[0].routes, ["/cart", "/checkout"]);
        assert_eq!(
            found[0].status_label.as_deref(),
            Some("http_response_status_code")
        );
        assert_eq!(found[1].family, "http_server_requests_seconds");
        assert_eq!(found[1].route_label.as_deref(), Some("uri"));
        assert_eq!(found[1].status_label.as_deref(), Some("status"));
        assert_eq!(shop().service_name(), "frontend");
    }

    #[test]
    fn panels_are_red_queries() {
        let all = panels(&shop(), None, 5_000);
        let ids: Vec<&str> = all.iter().map(|p| p.id).collect();
        assert_eq!(ids, ["rps", "errors", "status", "latency", "quantiles"]);
        let sel = "{job=\"shop/frontend\"}";
        let requests = format!("sum by (http_route) (rate({COUNT}{sel}[5m]))");
        assert_eq!(all[0].queries[0].0, requests);
        assert_eq!(
            all[1].queries[0].0,
            format!(
                "(sum by (http_route) (rate({COUNT}{{job=\"shop/frontend\", http_response_status_code=~\"5..\"}}[5m])) or {requests} * 0) / {requests}"
            )
        );
        assert_eq!(
            all[2].queries[0].0,
            format!(
                "sum by (status_class) (label_replace(rate({COUNT}{sel}[5m]), \"status_class\", \"${{1}}xx\", \"http_response_status_code\", \"([0-9])..\"))"
            )
        );
        assert!(all[2].stacked);
        assert_eq!(
            all[3].queries[0].0,
            format!(
                "sum by (http_route) (rate(http_server_request_duration_seconds_sum{sel}[5m])) / {requests}"
            )
        );
        assert_eq!(all[4].queries.len(), 3);
        assert_eq!(
            all[4].queries[2],
            (
                format!(
                    "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{sel}[5m])))"
                ),
                Some("p99".to_owned())
            )
        );
        let one_route = panels(&shop(), Some("/cart"), 120_000);
        assert!(
            one_route[0].queries[0]
                .0
                .contains("{job=\"shop/frontend\", http_route=\"/cart\"}[8m]")
        );
        let bare = HttpService {
            status_label: None,
            route_label: None,
            ..shop()
        };
        let ids: Vec<&str> = panels(&bare, None, 5_000).iter().map(|p| p.id).collect();
        assert_eq!(ids, ["rps", "latency", "quantiles"]);
    }

    #[test]
    fn headlines_sum_up_the_window() {
        let all = headlines(&shop(), Some("/cart"), 3_600_000);
        let ids: Vec<&str> = all.iter().map(|h| h.id).collect();
        assert_eq!(ids, ["requests", "rps", "errors", "mean", "p99"]);
        let sel = "{job=\"shop/frontend\", http_route=\"/cart\"}";
        let total = format!("sum(increase({COUNT}{sel}[1h]))");
        assert_eq!(all[0].query, total);
        assert_eq!(
            all[2].query,
            format!(
                "(sum(increase({COUNT}{{job=\"shop/frontend\", http_route=\"/cart\", http_response_status_code=~\"5..\"}}[1h])) or vector(0)) / {total}"
            )
        );
        assert_eq!(
            all[4].query,
            format!(
                "histogram_quantile(0.99, sum by (le) (increase(http_server_request_duration_seconds_bucket{sel}[1h])))"
            )
        );
        // A custom window of any length is a whole number of seconds.
        assert!(
            headlines(&shop(), None, 1_234_567)[0]
                .query
                .ends_with("[1234s]))")
        );
    }

    #[test]
    fn a_click_searches_the_traces_behind_the_point() {
        let t = 1_700_000_000_000;
        let query = trace_search_for_point(
            &shop(),
            "rps",
            &set(&[("http_route", "/cart")]),
            None,
            t,
            5_000,
        );
        let search = TraceSearch::from_query(&query);
        assert_eq!(search.service, "frontend");
        assert_eq!(search.tags, "http.route=/cart");
        assert_eq!(
            search.range,
            SearchRange::Custom {
                start_ns: (t - 300_000) as u64 * 1_000_000,
                end_ns: (t + 5_000) as u64 * 1_000_000
            }
        );
        let failed = trace_search_for_point(
            &shop(),
            "status",
            &set(&[("status_class", "5xx")]),
            Some("/checkout"),
            t,
            5_000,
        );
        assert_eq!(
            TraceSearch::from_query(&failed).tags,
            "http.route=/checkout error=true"
        );
        assert_eq!(
            dashboard_query(SearchRange::Last(Lookback::Hours6)),
            "lookback=6h"
        );
    }
}
