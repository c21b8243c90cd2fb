//! `/traces`: find traces by service, operation, kind, tags, duration and time, then pick one
//! from a list or from the scatter plot of their durations.
//!
//! The URL's query string is the search: the form edits a draft, "Find traces" writes the draft
//! into the URL (a new history entry), and the results always follow the URL. So a reload, a
//! shared link and the back button all show the same search again. Sorting is done here, not
//! by the API, and changes the URL without searching again.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use otelite_api::traces::{Operation, SpanKind, TraceSummary};

use crate::api::{fetch_trace_operations, fetch_trace_services, search_traces};
use crate::app::{Location, RouteLink};
use crate::clock::{now_ns, utc_offset_minutes};
use crate::components::scatter_plot::ScatterPlot;
use crate::components::service_chip::ServiceChip;
use crate::components::service_select::ServiceSelect;
use crate::components::time_range_field::TimeRangeField;
use crate::logic::trace_search::{MAX_LIMIT, ResultOrder, SearchRange, TraceSearch};
use crate::logic::{
    Route, Signal, TimeWindow, export_url, format_count, format_nanos, format_relative,
    format_timestamp, short_id,
};

/// What the results area shows.
#[derive(Debug, Clone, PartialEq)]
enum Results {
    Loading,
    Found {
        traces: Vec<TraceSummary>,
        limit: usize,
        /// When the search ran, for "5m ago".
        now_ns: u64,
    },
    /// The form holds something the API cannot take; the sentence says what to fix.
    Invalid(String),
    /// The API answered with an error, or not at all.
    Failed(String),
}

const KINDS: [SpanKind; 5] = [
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
    SpanKind::Internal,
];

#[component]
pub fn TraceSearchPage() -> impl IntoView {
    let location = Location::current();
    // Leaving this page for a trace changes the query string too (to the trace's): that is not
    // a new search, so the memo keeps the last one rather than search once more on the way out.
    let search = Memo::new(move |previous: Option<&TraceSearch>| {
        let here = location.route.with(|r| *r == Route::TraceSearch);
        match previous {
            Some(search) if !here => search.clone(),
            _ => location.query.with(|q| TraceSearch::from_query(q)),
        }
    });
    // What the API is asked depends on everything but the order of the results.
    let request = Memo::new(move |_| TraceSearch {
        order: ResultOrder::Newest,
        ..search.get()
    });
    let draft = RwSignal::new(search.get_untracked());
    // The back button (or a link) changed the search: the form follows.
    Effect::new(move |_| draft.set(search.get()));

    let results = RwSignal::new(Results::Loading);
    let searching = RwSignal::new(false);
    // Pressing "Find traces" on an unchanged search runs it again.
    let rerun = RwSignal::new(0u32);
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let search = request.get();
        rerun.track();
        let now = now_ns();
        let path = match search.api_path(now) {
            Ok(path) => path,
            Err(message) => {
                results.set(Results::Invalid(message));
                return;
            }
        };
        let this = generation.with_value(|g| g + 1);
        generation.set_value(this);
        searching.set(true);
        spawn_local(async move {
            let answer = search_traces(&path).await;
            // A newer search was started meanwhile: this answer is stale.
            if generation.try_get_value() != Some(this) {
                return;
            }
            results.try_set(match answer {
                Ok(response) => Results::Found {
                    traces: response.traces,
                    limit: response.limit,
                    now_ns: now,
                },
                Err(e) => Results::Failed(e.to_string()),
            });
            searching.try_set(false);
        });
    });

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let query = draft.with_untracked(TraceSearch::to_query);
        if location.query.with_untracked(|q| *q == query) {
            rerun.update(|n| *n += 1);
        } else {
            location.push(Route::TraceSearch, &query);
        }
    };
    let set_order = move |order: ResultOrder| {
        let query = TraceSearch {
            order,
            ..search.get_untracked()
        }
        .to_query();
        location.push(Route::TraceSearch, &query);
    };

    view! {
        <section class="page trace-search">
            <div class="page-head">
                <h1>"Traces"</h1>
                <ExportLink search/>
            </div>
            <div class="search-layout">
                <SearchForm draft submit searching/>
                <div class="search-results" class:stale=move || searching.get()>
                    {move || match results.get() {
                        Results::Loading => {
                            view! { <p class="muted">"Searching…"</p> }.into_any()
                        }
                        Results::Invalid(message) => {
                            view! {
                                <div class="banner banner-error" role="alert" data-testid="search-error">
                                    {message}
                                </div>
                            }
                                .into_any()
                        }
                        Results::Failed(message) => {
                            view! {
                                <div class="banner banner-error" role="alert" data-testid="search-error">
                                    <strong>"The search failed. "</strong>
                                    {message}
                                </div>
                            }
                                .into_any()
                        }
                        Results::Found { traces, .. } if traces.is_empty() => {
                            view! { <EmptyResults/> }.into_any()
                        }
                        Results::Found { mut traces, limit, now_ns } => {
                            let order = search.with(|s| s.order);
                            order.sort(&mut traces);
                            view! {
                                <ScatterPlot traces=traces.clone()/>
                                <ResultList traces limit now_ns order set_order/>
                            }
                                .into_any()
                        }
                    }}
                </div>
            </div>
        </section>
    }
}

/// The search form. Service and operation lists come from the API; the operation list follows
/// the chosen service.
#[component]
fn SearchForm(
    draft: RwSignal<TraceSearch>,
    submit: impl Fn(SubmitEvent) + 'static,
    searching: RwSignal<bool>,
) -> impl IntoView {
    let services = RwSignal::new(Vec::<String>::new());
    let services_error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match fetch_trace_services().await {
            Ok(list) => {
                services.try_set(list.services);
            }
            Err(e) => {
                services_error.try_set(Some(e.to_string()));
            }
        }
    });

    // The selects follow just their own field, not every keystroke in the form.
    let service = Memo::new(move |_| draft.with(|d| d.service.clone()));
    let pick_service = Callback::new(move |value: String| {
        draft.update(|d| {
            d.service = value;
            d.operation.clear();
        })
    });
    let operation = Memo::new(move |_| draft.with(|d| d.operation.clone()));
    let operations = RwSignal::new(Vec::<Operation>::new());
    Effect::new(move |_| {
        let service = service.get();
        operations.set(Vec::new());
        if service.is_empty() {
            return;
        }
        spawn_local(async move {
            if let Ok(list) = fetch_trace_operations(&service).await {
                // The service may have changed again while this was loading.
                if draft.try_with_untracked(|d| d.service == service) == Some(true) {
                    operations.try_set(list.operations);
                }
            }
        });
    });

    let text_field = move |get: fn(&TraceSearch) -> &String, set: fn(&mut TraceSearch, String)| {
        (
            move || draft.with(|d| get(d).clone()),
            move |ev| draft.update(|d| set(d, event_target_value(&ev))),
        )
    };
    let (tags, set_tags) = text_field(|d| &d.tags, |d, v| d.tags = v);
    let (min, set_min) = text_field(|d| &d.min_duration, |d, v| d.min_duration = v);
    let (max, set_max) = text_field(|d| &d.max_duration, |d, v| d.max_duration = v);

    let range = leptos::prelude::Signal::derive(move || draft.with(|d| d.range));
    let set_range = Callback::new(move |range: SearchRange| draft.update(|d| d.range = range));

    view! {
        <form class="card search-form" on:submit=submit aria-label="Trace search">
            <label class="field">
                <span>"Service"</span>
                <ServiceSelect services chosen=service pick=pick_service/>
            </label>
            {move || {
                services_error
                    .get()
                    .map(|e| view! { <p class="field-error">{e}</p> })
            }}
            <label class="field">
                <span>"Operation"</span>
                <select
                    name="operation"
                    prop:disabled=move || service.with(String::is_empty)
                    on:change=move |ev| draft.update(|d| d.operation = event_target_value(&ev))
                >
                    <option value="">"All operations"</option>
                    {move || {
                        let chosen = operation.get();
                        let mut names: Vec<String> =
                            operations.with(|ops| ops.iter().map(|o| o.name.clone()).collect());
                        names.sort();
                        names.dedup();
                        if !chosen.is_empty() && !names.contains(&chosen) {
                            names.insert(0, chosen.clone());
                        }
                        names
                            .into_iter()
                            .map(|name| {
                                let selected = name == chosen;
                                let value = name.clone();
                                view! {
                                    <option value=value prop:selected=selected>
                                        {name}
                                    </option>
                                }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <label class="field">
                <span>"Span kind"</span>
                <select
                    name="kind"
                    on:change=move |ev| {
                        draft.update(|d| d.kind = SpanKind::from_name(&event_target_value(&ev)))
                    }
                >
                    <option value="" prop:selected=move || draft.with(|d| d.kind.is_none())>
                        "Any kind"
                    </option>
                    {KINDS
                        .map(|kind| {
                            view! {
                                <option
                                    value=kind.name()
                                    prop:selected=move || draft.with(|d| d.kind == Some(kind))
                                >
                                    {kind.name()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <label class="field">
                <span>"Tags"</span>
                <input
                    type="text"
                    name="tags"
                    placeholder="http.status_code=500 env=dev"
                    spellcheck="false"
                    autocomplete="off"
                    prop:value=tags
                    on:input=set_tags
                />
            </label>
            <div class="field-row">
                <label class="field">
                    <span>"Min duration"</span>
                    <input
                        type="text"
                        name="minDuration"
                        placeholder="e.g. 100ms"
                        autocomplete="off"
                        prop:value=min
                        on:input=set_min
                    />
                </label>
                <label class="field">
                    <span>"Max duration"</span>
                    <input
                        type="text"
                        name="maxDuration"
                        placeholder="e.g. 1.5s"
                        autocomplete="off"
                        prop:value=max
                        on:input=set_max
                    />
                </label>
            </div>
            <TimeRangeField range set=set_range/>
            <label class="field">
                <span>"Limit"</span>
                <input
                    type="number"
                    name="limit"
                    min="1"
                    max=MAX_LIMIT
                    prop:value=move || draft.with(|d| d.limit.to_string())
                    on:input=move |ev| {
                        if let Ok(limit) = event_target_value(&ev).parse::<usize>() {
                            draft.update(|d| d.limit = limit.clamp(1, MAX_LIMIT));
                        }
                    }
                />
            </label>
            <button type="submit" class="button button-wide" prop:disabled=move || searching.get()>
                "Find traces"
            </button>
        </form>
    }
}

/// No trace matched: say so, and what usually helps.
#[component]
fn EmptyResults() -> impl IntoView {
    view! {
        <div class="card empty-state" data-testid="no-traces">
            <h2>"No traces found"</h2>
            <p class="muted">
                "Nothing matched in this time range. Try a longer time range, fewer tags, or "
                "another service; spans that are still arriving show up within a second."
            </p>
        </div>
    }
}

#[component]
fn ResultList(
    traces: Vec<TraceSummary>,
    limit: usize,
    now_ns: u64,
    order: ResultOrder,
    set_order: impl Fn(ResultOrder) + Copy + 'static,
) -> impl IntoView {
    let longest = traces
        .iter()
        .map(|t| t.duration_ns)
        .max()
        .unwrap_or(0)
        .max(1);
    let count = traces.len();
    let more = if count >= limit {
        " (the limit: there may be more; narrow the search or raise the limit)"
    } else {
        ""
    };
    view! {
        <div class="results-head">
            <h2 data-testid="result-count">
                {format!("{} trace{}", format_count(count as u64), if count == 1 { "" } else { "s" })}
                <span class="muted results-more">{more}</span>
            </h2>
            <label class="sort">
                <span class="muted">"Sort"</span>
                <select on:change=move |ev| {
                    if let Some(order) = ResultOrder::from_name(&event_target_value(&ev)) {
                        set_order(order);
                    }
                }>
                    {ResultOrder::ALL
                        .map(|o| {
                            view! {
                                <option value=o.name() selected=o == order>
                                    {o.label()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
        </div>
        <ol class="result-list" data-testid="results">
            {traces
                .into_iter()
                .map(|trace| view! { <TraceResult trace longest now_ns/> })
                .collect_view()}
        </ol>
    }
}

/// One trace in the list: what it is, how it went, how long it took, which services it touched.
#[component]
fn TraceResult(trace: TraceSummary, longest: u64, now_ns: u64) -> impl IntoView {
    let offset = utc_offset_minutes(trace.start_unix_nano);
    let width = trace.duration_ns as f64 / longest as f64 * 100.0;
    let title = if trace.has_root {
        String::new()
    } else {
        "The root span has not arrived: this names the earliest span".to_owned()
    };
    let errors = trace.error_count;
    let id = trace.trace_id.clone();
    let short = short_id(&trace.trace_id).to_owned();
    view! {
        <li class="result" class:has-errors={errors > 0} data-trace-id=id>
            <RouteLink to=Route::Trace(trace.trace_id.clone()) class="result-link">
                <div class="result-top">
                    <span class="result-title" title=title>
                        <strong>{trace.root_service.clone()}</strong>
                        ": "
                        {trace.root_name.clone()}
                        {(!trace.has_root).then(|| view! { <span class="badge badge-muted">"no root"</span> })}
                    </span>
                    <span class="result-duration">{format_nanos(trace.duration_ns)}</span>
                </div>
                <div class="duration-track" aria-hidden="true">
                    <div class="duration-bar" style=format!("width: {width:.2}%")></div>
                </div>
                <div class="result-bottom">
                    <span class="result-facts">
                        <span>{format_count(trace.span_count)} " spans"</span>
                        {(errors > 0)
                            .then(|| {
                                view! {
                                    <span class="badge badge-error" data-testid="error-badge">
                                        {format!("{} error{}", errors, if errors == 1 { "" } else { "s" })}
                                    </span>
                                }
                            })}
                        <code class="trace-id" title=trace.trace_id.clone()>
                            {short}
                        </code>
                    </span>
                    <span class="result-time" title=format_timestamp(trace.start_unix_nano, offset)>
                        {format_relative(trace.start_unix_nano, now_ns)}
                        <span class="muted">" · " {format_timestamp(trace.start_unix_nano, offset)}</span>
                    </span>
                </div>
                <div class="chips">
                    {trace
                        .services
                        .into_iter()
                        .map(|s| view! { <ServiceChip service=s.service spans=s.spans/> })
                        .collect_view()}
                </div>
            </RouteLink>
        </li>
    }
}

/// A link to all spans of the searched time range as OTLP/JSON (the export API), for tools that
/// want the raw data.
#[component]
fn ExportLink(search: Memo<TraceSearch>) -> impl IntoView {
    let href = move || {
        let origin = window().location().origin().unwrap_or_default();
        let (start_ns, end_ns) = search.with(|s| s.range.window(now_ns()));
        export_url(&origin, Signal::Traces, TimeWindow { start_ns, end_ns })
    };
    view! {
        <a class="card-link" href=href title="Every span of the time range as OTLP JSON">
            "Export time range as OTLP JSON"
        </a>
    }
}
