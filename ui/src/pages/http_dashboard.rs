//! `/metrics/http`: the HTTP dashboard, built for every service that exports an HTTP server
//! duration histogram: requests per second, 5xx ratio, responses by status class, mean latency
//! and p50/p95/p99, per route, over the URL's time range. Dragging across any chart zooms every
//! chart (the range is the URL's); a click on a point opens the trace search for that service,
//! route and time window. The panels' PromQL comes from `logic::http_dashboard`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use otelite_api::prometheus::{LabelSet, QueryData};

use crate::api::prometheus;
use crate::app::Location;
use crate::clock::now_ns;
use crate::components::line_chart::LineChart;
use crate::components::metric_tabs::MetricTabs;
use crate::components::time_range_field::TimeRangeField;
use crate::logic::Route;
use crate::logic::http_dashboard::{
    FAMILIES, Headline, HttpService, Panel, dashboard_query, headlines, panels, services,
    trace_search_for_point,
};
use crate::logic::metric_chart::{ChartSeries, chart_series, format_value};
use crate::logic::metric_explorer::{instant_query_path, query_range_path, series_path, window_ms};
use crate::logic::query_string;
use crate::logic::trace_search::SearchRange;

#[derive(Debug, Clone, PartialEq)]
enum Found {
    Loading,
    Services(Vec<HttpService>),
    Failed(String),
}

#[component]
pub fn HttpDashboardPage() -> impl IntoView {
    let location = Location::current();
    let range = Memo::new(move |previous: Option<&SearchRange>| {
        let here = location.route.with(|r| *r == Route::HttpDashboard);
        match previous {
            Some(range) if !here => *range,
            _ => location
                .query
                .with(|q| SearchRange::from_query(&query_string::parse(q))),
        }
    });
    let found = RwSignal::new(Found::Loading);
    // The window every panel shows, resolved once per range so that they all agree.
    let window = RwSignal::new(None::<(u64, u64)>);
    Effect::new(move |_| {
        let (start_ns, end_ns) = range.get().window(now_ns());
        window.set(Some((start_ns, end_ns)));
        let counts: Vec<String> = FAMILIES.iter().map(|f| format!("{f}_count")).collect();
        let names: Vec<&str> = counts.iter().map(String::as_str).collect();
        let path = series_path(&names, (start_ns, end_ns));
        spawn_local(async move {
            let answer = prometheus::<Vec<LabelSet>>(&path).await;
            found.try_set(match answer {
                Ok(series) => Found::Services(services(&series)),
                Err(e) => Found::Failed(e.to_string()),
            });
        });
    });
    let set_range = Callback::new(move |range: SearchRange| {
        location.push(Route::HttpDashboard, &dashboard_query(range));
    });
    let range_signal = leptos::prelude::Signal::derive(move || range.get());

    view! {
        <section class="page page-wide http-dashboard">
            <div class="page-head">
                <h1>"Metrics"</h1>
                <MetricTabs range=range_signal/>
                <div class="dashboard-range">
                    <TimeRangeField range=range_signal set=set_range/>
                </div>
            </div>
            {move || match found.get() {
                Found::Loading => view! { <p class="muted">"Looking for HTTP servers…"</p> }.into_any(),
                Found::Failed(message) => view! {
                    <div class="banner banner-error" role="alert" data-testid="dashboard-error">
                        <strong>"The services could not be listed. "</strong>
                        {message}
                    </div>
                }
                    .into_any(),
                Found::Services(list) if list.is_empty() => view! {
                    <div class="card empty-state" data-testid="no-http-services">
                        <h2>"No HTTP server metrics in this time range"</h2>
                        <p class="muted">
                            "The dashboard appears for every service that exports the OpenTelemetry "
                            "histogram " <code>"http.server.request.duration"</code> " (in Prometheus: "
                            <code>"http_server_request_duration_seconds"</code> ") or Micrometer's "
                            <code>"http_server_requests_seconds"</code> ". Try a longer time range."
                        </p>
                    </div>
                }
                    .into_any(),
                Found::Services(list) => list
                    .into_iter()
                    .map(|service| view! { <ServiceBoard service window range=set_range/> })
                    .collect_view()
                    .into_any(),
            }}
        </section>
    }
}

/// One service's panels, with a route picker.
#[component]
fn ServiceBoard(
    service: HttpService,
    window: RwSignal<Option<(u64, u64)>>,
    range: Callback<SearchRange>,
) -> impl IntoView {
    let route = RwSignal::new(None::<String>);
    let service = StoredValue::new(service);
    let (job, name, routes) =
        service.with_value(|s| (s.job.clone(), s.service_name().to_owned(), s.routes.clone()));
    let has_routes = !routes.is_empty();
    view! {
        <article class="card service-board" data-testid="service-board" data-job=job.clone()>
            <div class="board-head">
                <h2>
                    <span class="service-dot" style=format!("background: {}", crate::logic::service_color::service_color(&name))></span>
                    {name.clone()}
                    {(job != name).then(|| view! { <span class="muted board-job">{format!(" ({job})")}</span> })}
                </h2>
                {has_routes.then(|| view! {
                    <label class="field board-route">
                        <span>"Route"</span>
                        <select
                            name="route"
                            on:change=move |ev| {
                                let value = event_target_value(&ev);
                                route.set((!value.is_empty()).then_some(value));
                            }
                        >
                            <option value="">"All routes"</option>
                            {routes
                                .iter()
                                .map(|r| view! { <option value=r.clone()>{r.clone()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                })}
            </div>
            {move || {
                let window = window.get()?;
                let picked = route.get();
                let span_ms = (window.1.saturating_sub(window.0) / 1_000_000) as i64;
                let figures = service.with_value(|s| headlines(s, picked.as_deref(), span_ms));
                Some(view! { <div class="headlines"><HeadlineRow figures at_ns=window.1/></div> })
            }}
            <div class="panels">
                {move || {
                    let Some(window) = window.get() else { return ().into_any() };
                    let (start_ms, end_ms) = window_ms(window);
                    let (_, step_ms) = query_range_path("", window);
                    let picked = route.get();
                    service
                        .with_value(|s| panels(s, picked.as_deref(), step_ms))
                        .into_iter()
                        .map(|panel| {
                            view! {
                                <PanelChart
                                    service
                                    panel
                                    window
                                    start_ms
                                    end_ms
                                    step_ms
                                    route=picked.clone()
                                    range
                                />
                            }
                        })
                        .collect_view()
                        .into_any()
                }}
            </div>
        </article>
    }
}

/// The service's figures over the whole window, one instant query each.
#[component]
fn HeadlineRow(figures: Vec<Headline>, at_ns: u64) -> impl IntoView {
    figures
        .into_iter()
        .map(|figure| {
            let value = RwSignal::new(None::<String>);
            let path = instant_query_path(&figure.query, at_ns);
            let unit = figure.unit;
            spawn_local(async move {
                let text = match prometheus::<QueryData>(&path).await {
                    Ok(QueryData::Vector(samples)) => samples
                        .first()
                        .map(|s| format_value(s.value.v, unit))
                        .unwrap_or_else(|| "–".to_owned()),
                    Ok(QueryData::Scalar(s)) => format_value(s.v, unit),
                    Ok(_) => "–".to_owned(),
                    Err(_) => "?".to_owned(),
                };
                value.try_set(Some(text));
            });
            view! {
                <div class="headline" data-testid=format!("headline-{}", figure.id)>
                    <span class="headline-value">{move || value.get().unwrap_or_else(|| "…".to_owned())}</span>
                    <span class="headline-title muted">{figure.title}</span>
                </div>
            }
        })
        .collect_view()
        .into_any()
}

/// One panel: its queries over the window, drawn together.
#[component]
fn PanelChart(
    service: StoredValue<HttpService>,
    panel: Panel,
    window: (u64, u64),
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    route: Option<String>,
    range: Callback<SearchRange>,
) -> impl IntoView {
    let location = Location::current();
    let drawn = RwSignal::new(None::<Result<Vec<ChartSeries>, String>>);
    let queries = panel.queries.clone();
    spawn_local(async move {
        let mut all = Vec::new();
        for (query, name) in queries {
            let (path, _) = query_range_path(&query, window);
            match prometheus::<QueryData>(&path).await {
                Ok(QueryData::Matrix(matrix)) => {
                    let mut series = chart_series(&matrix);
                    if let Some(name) = &name {
                        for s in &mut series {
                            s.label = name.clone();
                        }
                    }
                    all.extend(series);
                }
                Ok(_) => {}
                Err(e) => {
                    drawn.try_set(Some(Err(e.to_string())));
                    return;
                }
            }
        }
        drawn.try_set(Some(Ok(all)));
    });
    let id = panel.id;
    let pick = Callback::new(move |(i, t_ms): (usize, i64)| {
        let labels = drawn.with_untracked(|d| match d {
            Some(Ok(series)) => series.get(i).map(|s| s.labels.clone()),
            _ => None,
        });
        let Some(labels) = labels else { return };
        let query = service.with_value(|s| {
            trace_search_for_point(s, id, &labels, route.as_deref(), t_ms, step_ms)
        });
        location.push(Route::TraceSearch, &query);
    });
    let unit = panel.unit;
    let stacked = panel.stacked;
    view! {
        <div class="panel" data-testid=format!("panel-{id}") data-panel=id>
            <h3 class="panel-title">{panel.title}</h3>
            {move || match drawn.get() {
                None => view! { <p class="muted panel-note">"Loading…"</p> }.into_any(),
                Some(Err(message)) => view! {
                    <p class="field-error panel-note" data-testid="panel-error">{message}</p>
                }
                    .into_any(),
                Some(Ok(series)) if series.is_empty() => view! {
                    <p class="muted panel-note">"No data in this time range."</p>
                }
                    .into_any(),
                Some(Ok(series)) => view! {
                    <LineChart
                        series
                        start_ms
                        end_ms
                        step_ms
                        unit
                        stacked
                        zoom=range
                        pick
                        test_id=format!("chart-{id}")
                    />
                }
                    .into_any(),
            }}
        </div>
    }
}
