//! `/traces/{trace_id}`: one trace. A header sums it up, the waterfall shows every span in its
//! tree, and the chosen span's detail opens beside it. Find-in-trace highlights (or, on request,
//! filters to) the spans that mention some text.
//!
//! Below, the logs panel lists the trace's log records (the chosen span's while one is chosen),
//! each linking to its place in the log explorer.
//!
//! The trace is fetched once and laid out once (`logic::span_tree::TraceLayout`); everything
//! after that (folding, finding, choosing) is local. The chosen span is kept in the URL
//! (`?span=`) without a history entry, so a reload or a shared link opens on it.

use std::collections::HashSet;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::KeyboardEvent;

use crate::api::fetch_trace;
use crate::app::{Location, RouteLink};
use crate::clock::{now_ns, utc_offset_minutes};
use crate::components::service_chip::ServiceChip;
use crate::components::span_detail::SpanDetail;
use crate::components::trace_logs::TraceLogs;
use crate::components::waterfall::{Waterfall, WaterfallState};
use crate::logic::span_tree::TraceLayout;
use crate::logic::{
    Route, format_count, format_nanos, format_relative, format_timestamp, is_trace_id,
    query_string, trace_otlp_path,
};

enum TraceState {
    Loading,
    Loaded(Arc<TraceLayout>),
    NotFound,
    Failed(String),
}

#[component]
pub fn TraceViewPage(trace_id: String) -> impl IntoView {
    if !is_trace_id(&trace_id) {
        return view! {
            <section class="page">
                <h1>"Not a trace ID"</h1>
                <div class="card">
                    <p>
                        <code>{trace_id}</code>
                        " is not a trace ID: those are 32 hexadecimal digits, as in "
                        <code>"4bf92f3577b34da6a3ce929d0e0e4736"</code> "."
                    </p>
                    <p><RouteLink to=Route::TraceSearch class="">"Search traces"</RouteLink></p>
                </div>
            </section>
        }
        .into_any();
    }
    let id = trace_id.to_lowercase();
    let state = RwSignal::new(TraceState::Loading);
    let fetch_id = id.clone();
    spawn_local(async move {
        let next = match fetch_trace(&fetch_id).await {
            Ok(trace) => TraceState::Loaded(Arc::new(TraceLayout::new(trace))),
            Err(e) if e.is_not_found() => TraceState::NotFound,
            Err(e) => TraceState::Failed(e.to_string()),
        };
        state.try_set(next);
    });

    view! {
        {move || {
            state
                .with(|s| match s {
                    TraceState::Loading => {
                        view! {
                            <section class="page">
                                <p class="muted">"Loading trace " <code>{id.clone()}</code> "…"</p>
                            </section>
                        }
                            .into_any()
                    }
                    TraceState::NotFound => view! { <TraceNotFound trace_id=id.clone()/> }.into_any(),
                    TraceState::Failed(message) => {
                        view! {
                            <section class="page">
                                <h1>"Trace"</h1>
                                <div class="banner banner-error" role="alert" data-testid="api-error">
                                    <strong>"The trace could not be loaded. "</strong>
                                    {message.clone()}
                                </div>
                            </section>
                        }
                            .into_any()
                    }
                    TraceState::Loaded(layout) => {
                        view! { <TraceDetail layout=Arc::clone(layout)/> }.into_any()
                    }
                })
        }}
    }
    .into_any()
}

#[component]
fn TraceNotFound(trace_id: String) -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Trace not found"</h1>
            <div class="card" data-testid="trace-not-found">
                <p>"otelite holds no span of trace " <code>{trace_id}</code> "."</p>
                <p class="muted">
                    "Its spans may not have arrived yet, may have been sent to another backend, "
                    "or may be older than the retention period."
                </p>
                <p><RouteLink to=Route::TraceSearch class="">"Search traces"</RouteLink></p>
            </div>
        </section>
    }
}

#[component]
fn TraceDetail(layout: Arc<TraceLayout>) -> impl IntoView {
    let location = Location::current();
    let tree = &layout.tree;

    // The span named in the URL, if the trace has it.
    let from_url = location.query.with_untracked(|q| {
        query_string::parse(q)
            .into_iter()
            .find(|(k, _)| k == "span")
            .and_then(|(_, id)| layout.span_index(&id))
    });
    let selected = RwSignal::new(from_url);
    let collapsed = RwSignal::new(HashSet::<usize>::new());
    let scroll_to = RwSignal::new(from_url);

    let find = RwSignal::new(String::new());
    let only_matches = RwSignal::new(false);
    let found_layout = Arc::clone(&layout);
    let found = Memo::new(move |_| find.with(|q| found_layout.finder.find(&found_layout.tree, q)));
    let matches = Memo::new(move |_| found.with(|f| f.iter().copied().collect::<HashSet<_>>()));
    let current_match = RwSignal::new(None::<usize>);
    let rows_layout = Arc::clone(&layout);
    let rows = Memo::new(move |_| {
        let filtering = only_matches.get() && find.with(|q| !q.trim().is_empty());
        if filtering {
            found.get()
        } else {
            collapsed.with(|c| rows_layout.tree.visible_rows(c))
        }
    });

    let step_layout = Arc::clone(&layout);
    let step_match = move |forward: bool| {
        let spans = found.get_untracked();
        if spans.is_empty() {
            return;
        }
        let at = match current_match.get_untracked() {
            None if forward => 0,
            None => spans.len() - 1,
            Some(i) if forward => (i + 1) % spans.len(),
            Some(i) => (i + spans.len() - 1) % spans.len(),
        };
        current_match.set(Some(at));
        let span = spans[at];
        collapsed.update(|c| step_layout.tree.reveal(span, c));
        selected.set(Some(span));
        scroll_to.set(Some(span));
    };
    // A new search starts counting matches from the top.
    Effect::new(move |_| {
        find.track();
        current_match.set(None);
    });

    // Keep the chosen span in the URL.
    let url_layout = Arc::clone(&layout);
    Effect::new(move |_| {
        let query = selected
            .get()
            .map(|s| query_string::build([("span", url_layout.trace.spans[s].span_id.clone())]))
            .unwrap_or_default();
        // Only while this page shows, not as it is being left for another.
        if location
            .route
            .with_untracked(|r| matches!(r, Route::Trace(_)))
        {
            location.replace_query(&query);
        }
    });

    let select_layout = Arc::clone(&layout);
    let select = Callback::new(move |span: usize| {
        collapsed.update(|c| select_layout.tree.reveal(span, c));
        selected.set(Some(span));
        scroll_to.set(Some(span));
    });
    let close = Callback::new(move |()| selected.set(None));
    let span_layout = Arc::clone(&layout);
    let selected_span_id = Memo::new(move |_| {
        selected
            .get()
            .map(|s| span_layout.trace.spans[s].span_id.clone())
    });
    let by_id_layout = Arc::clone(&layout);
    let select_span = Callback::new(move |id: String| {
        if let Some(span) = by_id_layout.span_index(&id) {
            select.run(span);
        }
    });
    let trace_start = layout.overview.start_ns;
    let trace_end = trace_start.saturating_add(layout.overview.duration_ns());
    let state = WaterfallState {
        rows,
        selected,
        collapsed,
        matches,
        scroll_to,
    };
    let all_parents = tree.parents();
    let has_parents = !all_parents.is_empty();
    let detail_layout = Arc::clone(&layout);
    let step_next = step_match.clone();
    let step_prev = step_match.clone();

    view! {
        <section class="page page-wide trace-view">
            <TraceHeader layout=Arc::clone(&layout)/>
            <div class="trace-toolbar">
                <div class="find">
                    <input
                        type="search"
                        class="find-input"
                        placeholder="Find in trace: name, service, attribute value"
                        aria-label="Find in trace"
                        spellcheck="false"
                        prop:value=move || find.get()
                        on:input=move |ev| find.set(event_target_value(&ev))
                        on:keydown=move |ev: KeyboardEvent| {
                            if ev.key() == "Enter" {
                                ev.prevent_default();
                                step_match(!ev.shift_key());
                            }
                        }
                    />
                    <span class="find-count muted" data-testid="find-count">
                        {move || {
                            let total = found.with(Vec::len);
                            if find.with(|q| q.trim().is_empty()) {
                                String::new()
                            } else if total == 0 {
                                "no match".to_owned()
                            } else {
                                match current_match.get() {
                                    Some(i) => format!("{} of {}", i + 1, format_count(total as u64)),
                                    None => format!("{} match{}", format_count(total as u64), if total == 1 { "" } else { "es" }),
                                }
                            }
                        }}
                    </span>
                    <button type="button" class="button button-quiet" on:click=move |_| step_prev(false) aria-label="Previous match">"↑"</button>
                    <button type="button" class="button button-quiet" on:click=move |_| step_next(true) aria-label="Next match">"↓"</button>
                    <label class="check">
                        <input
                            type="checkbox"
                            prop:checked=move || only_matches.get()
                            on:change=move |ev| only_matches.set(event_target_checked(&ev))
                        />
                        "Only matches"
                    </label>
                </div>
                <div class="tree-actions">
                    <button
                        type="button"
                        class="button button-quiet"
                        prop:disabled=!has_parents
                        on:click=move |_| collapsed.set(HashSet::new())
                    >
                        "Expand all"
                    </button>
                    <button
                        type="button"
                        class="button button-quiet"
                        prop:disabled=!has_parents
                        on:click=move |_| collapsed.set(all_parents.clone())
                    >
                        "Collapse all"
                    </button>
                </div>
            </div>
            <div class="trace-body" class:with-detail=move || selected.get().is_some()>
                <Waterfall layout=Arc::clone(&layout) state/>
                {move || {
                    selected
                        .get()
                        .map(|span| {
                            view! { <SpanDetail layout=Arc::clone(&detail_layout) span select close/> }
                        })
                }}
            </div>
            <TraceLogs
                trace_id=layout.trace.trace_id.clone()
                start_ns=trace_start
                end_ns=trace_end
                span=selected_span_id
                select_span
            />
        </section>
    }
}

#[component]
fn TraceHeader(layout: Arc<TraceLayout>) -> impl IntoView {
    let overview = &layout.overview;
    let trace_id = layout.trace.trace_id.clone();
    let root = overview.root.map(|i| &layout.trace.spans[i]);
    let root_service = root
        .map(|s| crate::logic::span_tree::span_service(&layout.trace, s).to_owned())
        .unwrap_or_default();
    let root_name = root.map(|s| s.name.clone()).unwrap_or_default();
    let offset = utc_offset_minutes(overview.start_ns);
    let errors = overview.error_count;
    let download = format!("trace-{trace_id}.json");
    view! {
        <header class="trace-head">
            <div class="trace-title-row">
                <div>
                    <p class="crumbs">
                        <RouteLink to=Route::TraceSearch class="">"Traces"</RouteLink>
                        " / "
                        <code class="trace-id" data-testid="trace-id">{trace_id.clone()}</code>
                    </p>
                    <h1 data-testid="trace-title">
                        {root_service} <span class="muted">": "</span> {root_name}
                        {(!overview.has_root).then(|| view! { <span class="badge badge-muted" title="The root span has not arrived">"no root"</span> })}
                    </h1>
                </div>
                <a
                    class="button button-link"
                    href=trace_otlp_path(&trace_id)
                    download=download
                    data-testid="download"
                >
                    "Download OTLP/JSON"
                </a>
            </div>
            <dl class="trace-facts">
                <div>
                    <dt>"Start"</dt>
                    <dd title=format_relative(overview.start_ns, now_ns())>
                        {format_timestamp(overview.start_ns, offset)}
                    </dd>
                </div>
                <div>
                    <dt>"Duration"</dt>
                    <dd>{format_nanos(overview.duration_ns())}</dd>
                </div>
                <div>
                    <dt>"Spans"</dt>
                    <dd data-testid="span-count">{format_count(overview.span_count as u64)}</dd>
                </div>
                <div>
                    <dt>"Depth"</dt>
                    <dd>{format_count(overview.depth as u64)}</dd>
                </div>
                <div>
                    <dt>"Errors"</dt>
                    <dd class:status-error={errors > 0} data-testid="error-count">
                        {format_count(errors as u64)}
                    </dd>
                </div>
            </dl>
            <div class="chips">
                {overview
                    .services
                    .iter()
                    .map(|(service, spans)| {
                        view! { <ServiceChip service=service.clone() spans=*spans/> }
                    })
                    .collect_view()}
            </div>
        </header>
    }
}
