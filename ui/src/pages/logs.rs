//! `/logs`: the log explorer. A query bar (free text, service, least severity, tags, time range)
//! searches the native log API; facets count the matches per severity and service, a histogram
//! shows them over time (drag across it to zoom in), and the records list newest first,
//! virtualised and paged from the server with cursors as it scrolls. A record opens its detail
//! beside the list and links to its trace; the live tail polls for newer records every second.
//!
//! As on the trace search, the URL's query string is the search: the bar edits a draft, "Search"
//! writes it into the URL (a new history entry) and the results follow the URL. The opened
//! record is kept in the URL too (`open=<cursor>`), without a history entry, so the trace view's
//! links land on a record.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use otelite_api::logs::{LogVolume, SEVERITY_CLASSES};

use crate::api::{fetch_log_services, fetch_log_volume, search_logs};
use crate::app::Location;
use crate::clock::now_ns;
use crate::components::log_detail::LogDetail;
use crate::components::log_list::{LogList, LogListState};
use crate::components::service_select::ServiceSelect;
use crate::components::time_range_field::TimeRangeField;
use crate::components::volume_chart::VolumeChart;
use crate::logic::log_search::{
    LogRow, LogSearch, PAGE_SIZE, opened_cursor, page_path, prepend_newer, rows_of, tail_path,
    volume_path,
};
use crate::logic::query_string;
use crate::logic::service_color::service_color;
use crate::logic::trace_search::SearchRange;
use crate::logic::{Route, Signal, TimeWindow, export_url, format_count, short_id};

const TAIL_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Loading,
    Ready,
    /// The query bar holds something the API cannot take; the sentence says what to fix.
    Invalid(String),
    Failed(String),
}

/// The volume of one search and the window it was counted over.
#[derive(Debug, Clone, PartialEq)]
struct Counted {
    volume: LogVolume,
    start_ns: u64,
    end_ns: u64,
}

#[component]
pub fn LogsPage() -> impl IntoView {
    let location = Location::current();
    // Leaving for a trace changes the query string too: that is not a new search.
    let search = Memo::new(move |previous: Option<&LogSearch>| {
        let here = location.route.with(|r| *r == Route::Logs);
        match previous {
            Some(search) if !here => search.clone(),
            _ => location.query.with(|q| LogSearch::from_query(q)),
        }
    });
    let draft = RwSignal::new(search.get_untracked());
    Effect::new(move |_| draft.set(search.get()));

    let rows = RwSignal::new(Vec::<LogRow>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let counted = RwSignal::new(None::<Counted>);
    let status = RwSignal::new(Status::Loading);
    let window = RwSignal::new((0u64, 0u64));
    let filters = StoredValue::new(String::new());
    let fetching = StoredValue::new(false);
    let generation = StoredValue::new(0u64);
    let rerun = RwSignal::new(0u32);
    let selected = RwSignal::new(location.query.with_untracked(|q| opened_cursor(q)));
    let scroll_to = RwSignal::new(selected.get_untracked());
    let live = RwSignal::new(false);
    let highlights = Memo::new(move |_| search.with(LogSearch::highlights));

    // One page of the current search: the first replaces the rows, the next ones append. The
    // answer to a search replaced meanwhile is dropped.
    let load_page = move |cursor: Option<String>| {
        fetching.set_value(true);
        let this = generation.get_value();
        let path = page_path(&filters.get_value(), cursor.as_deref(), PAGE_SIZE);
        spawn_local(async move {
            let answer = search_logs(&path).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            fetching.set_value(false);
            match answer {
                Ok(response) => {
                    next_cursor.set(response.next_cursor.clone());
                    let page = rows_of(response);
                    if cursor.is_some() {
                        rows.update(|r| r.extend(page));
                    } else {
                        rows.set(page);
                    }
                    status.set(Status::Ready);
                }
                Err(e) => status.set(Status::Failed(e.to_string())),
            }
        });
    };

    // The volume of the current search over `window`, for the facets and the histogram.
    let load_volume = move |api_filters: String, (start_ns, end_ns): (u64, u64)| {
        let this = generation.get_value();
        let path = volume_path(&api_filters);
        spawn_local(async move {
            let answer = fetch_log_volume(&path).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            counted.set(answer.ok().map(|volume| Counted {
                volume,
                start_ns,
                end_ns,
            }));
        });
    };

    // Each new search: the first page and the volume, both for one window resolved now.
    Effect::new(move |_| {
        let search = search.get();
        rerun.track();
        let now = now_ns();
        let this = generation.with_value(|g| g + 1);
        generation.set_value(this);
        let opened = location.query.with_untracked(|q| opened_cursor(q));
        selected.set(opened.clone());
        scroll_to.set(opened);
        let api_filters = match search.api_filters(now) {
            Ok(f) => f,
            Err(message) => {
                status.set(Status::Invalid(message));
                rows.set(Vec::new());
                next_cursor.set(None);
                counted.set(None);
                return;
            }
        };
        let (start_ns, end_ns) = search.range.window(now);
        window.set((start_ns, end_ns));
        filters.set_value(api_filters.clone());
        status.set(Status::Loading);
        load_page(None);
        load_volume(api_filters, (start_ns, end_ns));
    });

    // The next page, when the list scrolls near the end of what is loaded.
    let more = Callback::new(move |()| {
        if fetching.get_value() {
            return;
        }
        let Some(cursor) = next_cursor.get_untracked() else {
            return;
        };
        load_page(Some(cursor));
    });

    // The live tail: every second, the records newer than the newest shown go on top.
    Effect::new(move |_| {
        if !live.get() {
            return;
        }
        let in_flight = Rc::new(Cell::new(false));
        let tick = move || {
            if in_flight.replace(true) {
                return;
            }
            let this = generation.get_value();
            let newest = rows.with_untracked(|r| r.first().cloned());
            let path = tail_path(
                &search.with_untracked(LogSearch::tail_filters),
                newest.as_ref(),
                window.get_untracked().0,
                now_ns(),
            );
            let in_flight = Rc::clone(&in_flight);
            spawn_local(async move {
                if let Ok(response) = search_logs(&path).await
                    && generation.try_get_value() == Some(this)
                {
                    let newer = rows_of(response);
                    let added = if newer.is_empty() {
                        0
                    } else {
                        rows.try_update(|r| prepend_newer(r, newer)).unwrap_or(0)
                    };
                    // The facets and the histogram count the new records too: the window
                    // (a relative range, as the tail needs) now ends now.
                    let now = now_ns();
                    if added > 0
                        && let Some(Ok(api_filters)) =
                            search.try_with_untracked(|s| s.api_filters(now))
                    {
                        let moved = search.with_untracked(|s| s.range.window(now));
                        window.set(moved);
                        load_volume(api_filters, moved);
                    }
                }
                in_flight.set(false);
            });
        };
        if let Ok(handle) = set_interval_with_handle(tick, TAIL_EVERY) {
            on_cleanup(move || handle.clear());
        }
    });

    // The opened record lives in the URL, without a history entry.
    Effect::new(move |_| {
        let open = selected.get();
        if location.route.with_untracked(|r| *r != Route::Logs) {
            return;
        }
        let mut query = search.with_untracked(LogSearch::to_query);
        if let Some(cursor) = open {
            let open = query_string::build([("open", cursor)]);
            query = if query.is_empty() {
                open
            } else {
                format!("{query}&{open}")
            };
        }
        location.replace_query(&query);
    });

    let go = move |next: LogSearch| {
        let query = next.to_query();
        if location.query.with_untracked(|q| *q == query) {
            rerun.update(|n| *n += 1);
        } else {
            location.push(Route::Logs, &query);
        }
    };
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        go(draft.get_untracked());
    };
    let zoom = Callback::new(move |range: SearchRange| {
        live.set(false);
        go(LogSearch {
            range,
            ..search.get_untracked()
        });
    });
    let refine = Callback::new(move |change: Refine| {
        let mut next = search.get_untracked();
        match change {
            Refine::Severity(class) => {
                next.severity = if next.severity == Some(class) {
                    None
                } else {
                    Some(class)
                };
            }
            Refine::Service(name) => {
                next.service = if next.service == name {
                    String::new()
                } else {
                    name
                };
            }
            Refine::NoTrace => {
                next.trace_id.clear();
                next.span_id.clear();
            }
        }
        go(next);
    });
    let close = Callback::new(move |()| selected.set(None));
    let detail = Memo::new(move |_| {
        let cursor = selected.get()?;
        rows.with(|r| r.iter().find(|row| row.record.cursor == cursor).cloned())
    });
    let list = LogListState {
        rows,
        selected,
        highlights,
        has_more: leptos::prelude::Signal::derive(move || next_cursor.with(Option::is_some)),
        scroll_to,
    };

    view! {
        <section class="page page-wide log-explorer">
            <div class="page-head">
                <h1>"Logs"</h1>
                <ExportLink window/>
            </div>
            <QueryBar draft submit live search/>
            <TraceFilter search refine/>
            <div class="log-layout">
                <Facets counted search refine/>
                <div class="log-results" class:stale=move || status.get() == Status::Loading>
                    {move || counted.get().map(|c| view! { <VolumeChart volume=c.volume start_ns=c.start_ns end_ns=c.end_ns zoom/> })}
                    {move || match status.get() {
                        Status::Invalid(message) => view! {
                            <div class="banner banner-error" role="alert" data-testid="search-error">{message}</div>
                        }
                            .into_any(),
                        Status::Failed(message) => view! {
                            <div class="banner banner-error" role="alert" data-testid="search-error">
                                <strong>"The search failed. "</strong>
                                {message}
                            </div>
                        }
                            .into_any(),
                        Status::Loading if rows.with(Vec::is_empty) => view! { <p class="muted">"Searching…"</p> }.into_any(),
                        _ if rows.with(Vec::is_empty) => view! {
                            <div class="card empty-state" data-testid="no-logs">
                                <h2>"No log records found"</h2>
                                <p class="muted">
                                    "Nothing matched in this time range. Try a longer range, fewer words or tags, "
                                    "or a lower severity."
                                </p>
                            </div>
                        }
                            .into_any(),
                        _ => ().into_any(),
                    }}
                    <div class="results-head" class:hidden=move || rows.with(Vec::is_empty)>
                        <h2 data-testid="log-count">
                            {move || {
                                let total = counted
                                    .with(|c| c.as_ref().map(|c| c.volume.severities.iter().sum::<u64>()));
                                let loaded = rows.with(Vec::len) as u64;
                                let total = total.unwrap_or(loaded).max(loaded);
                                format!("{} record{}", format_count(total), if total == 1 { "" } else { "s" })
                            }}
                            <span class="muted results-more">
                                {move || format!(" · {} loaded, newest first", format_count(rows.with(Vec::len) as u64))}
                            </span>
                        </h2>
                    </div>
                    <div class="log-body-grid" class:with-detail=move || detail.with(Option::is_some) class:hidden=move || rows.with(Vec::is_empty)>
                        <LogList state=list more/>
                        {move || {
                            detail.get().map(|row| view! { <LogDetail row highlights=highlights.get_untracked() close/> })
                        }}
                    </div>
                </div>
            </div>
        </section>
    }
}

/// A refinement picked from the facets or the trace filter.
#[derive(Debug, Clone)]
enum Refine {
    Severity(usize),
    Service(String),
    NoTrace,
}

#[component]
fn QueryBar(
    draft: RwSignal<LogSearch>,
    submit: impl Fn(SubmitEvent) + 'static,
    live: RwSignal<bool>,
    search: Memo<LogSearch>,
) -> impl IntoView {
    let services = RwSignal::new(Vec::<String>::new());
    spawn_local(async move {
        if let Ok(list) = fetch_log_services().await {
            services.try_set(list.services);
        }
    });
    let service = Memo::new(move |_| draft.with(|d| d.service.clone()));
    let pick_service = Callback::new(move |value: String| draft.update(|d| d.service = value));
    let range = leptos::prelude::Signal::derive(move || draft.with(|d| d.range));
    let set_range = Callback::new(move |range: SearchRange| draft.update(|d| d.range = range));
    let tail_possible = move || matches!(search.with(|s| s.range), SearchRange::Last(_));
    view! {
        <form class="card query-bar" on:submit=submit aria-label="Log search">
            <div class="query-line">
                <input
                    type="search"
                    name="q"
                    class="query-text"
                    placeholder="Words of the message, or \"an exact phrase\""
                    aria-label="Search text"
                    spellcheck="false"
                    autocomplete="off"
                    prop:value=move || draft.with(|d| d.text.clone())
                    on:input=move |ev| draft.update(|d| d.text = event_target_value(&ev))
                />
                <button type="submit" class="button">"Search"</button>
                <label class="check live-toggle" title="Poll every second for newer records (with a relative time range)">
                    <input
                        type="checkbox"
                        name="live"
                        prop:checked=move || live.get()
                        prop:disabled=move || !tail_possible()
                        on:change=move |ev| live.set(event_target_checked(&ev))
                    />
                    "Live tail"
                </label>
            </div>
            <div class="query-filters">
                <label class="field">
                    <span>"Service"</span>
                    <ServiceSelect services chosen=service pick=pick_service/>
                </label>
                <label class="field">
                    <span>"Least severity"</span>
                    <select
                        name="severity"
                        on:change=move |ev| {
                            let value = event_target_value(&ev);
                            draft.update(|d| d.severity = crate::logic::log_search::severity_class_named(&value));
                        }
                    >
                        <option value="" prop:selected=move || draft.with(|d| d.severity.is_none())>"Any"</option>
                        {SEVERITY_CLASSES
                            .iter()
                            .enumerate()
                            .skip(1)
                            .map(|(class, name)| {
                                view! {
                                    <option value=*name prop:selected=move || draft.with(|d| d.severity == Some(class))>
                                        {*name}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="field field-grow">
                    <span>"Tags"</span>
                    <input
                        type="text"
                        name="tags"
                        placeholder="http.status_code=500 env=dev"
                        spellcheck="false"
                        autocomplete="off"
                        prop:value=move || draft.with(|d| d.tags.clone())
                        on:input=move |ev| draft.update(|d| d.tags = event_target_value(&ev))
                    />
                </label>
                <div class="time-range">
                    <TimeRangeField range set=set_range/>
                </div>
            </div>
        </form>
    }
}

/// The trace (and span) the search is narrowed to, with a way out.
#[component]
fn TraceFilter(search: Memo<LogSearch>, refine: Callback<Refine>) -> impl IntoView {
    move || {
        let s = search.get();
        (!s.trace_id.is_empty() || !s.span_id.is_empty()).then(|| {
            let trace = s.trace_id.clone();
            let span = s.span_id.clone();
            view! {
                <div class="trace-filter" data-testid="trace-filter">
                    "Logs of trace "
                    <a href=Route::Trace(trace.clone()).path() class="mono">{short_id(&trace).to_owned()}</a>
                    {(!span.is_empty()).then(|| view! { ", span " <code>{span.clone()}</code> })}
                    <button type="button" class="icon-button" aria-label="Show logs of every trace" on:click=move |_| refine.run(Refine::NoTrace)>
                        "×"
                    </button>
                </div>
            }
        })
    }
}

/// Counts per severity class and per service; a click narrows the search to one.
#[component]
fn Facets(
    counted: RwSignal<Option<Counted>>,
    search: Memo<LogSearch>,
    refine: Callback<Refine>,
) -> impl IntoView {
    let severities = move || {
        counted.with(|c| {
            let Some(c) = c else { return Vec::new() };
            (0..SEVERITY_CLASSES.len())
                .rev()
                .map(|class| (class, c.volume.severities.get(class).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect::<Vec<_>>()
        })
    };
    let services = move || {
        counted.with(|c| {
            let mut list: Vec<(String, u64)> = c
                .as_ref()
                .map(|c| {
                    c.volume
                        .services
                        .iter()
                        .map(|s| (s.service.clone(), s.count))
                        .collect()
                })
                .unwrap_or_default();
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list
        })
    };
    view! {
        <aside class="card facets" data-testid="facets">
            <h3>"Severity"</h3>
            <ul class="facet-list" data-testid="severity-facets">
                {move || {
                    severities()
                        .into_iter()
                        .map(|(class, count)| {
                            let chosen = move || search.with(|s| s.severity == Some(class));
                            let clickable = class > 0;
                            view! {
                                <li>
                                    <button
                                        type="button"
                                        class="facet"
                                        class:chosen=chosen
                                        data-severity=SEVERITY_CLASSES[class]
                                        prop:disabled=!clickable
                                        title=if clickable { "Only this severity and above" } else { "" }
                                        on:click=move |_| refine.run(Refine::Severity(class))
                                    >
                                        <span class=format!("facet-swatch sev-fill-{class}")></span>
                                        <span class="facet-name">{SEVERITY_CLASSES[class]}</span>
                                        <span class="facet-count">{format_count(count)}</span>
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <h3>"Services"</h3>
            <ul class="facet-list" data-testid="service-facets">
                {move || {
                    services()
                        .into_iter()
                        .map(|(name, count)| {
                            let color = service_color(&name);
                            let chosen_name = name.clone();
                            let chosen = move || search.with(|s| s.service == chosen_name);
                            let pick = name.clone();
                            let label = if name.is_empty() { "(no service)".to_owned() } else { name.clone() };
                            view! {
                                <li>
                                    <button
                                        type="button"
                                        class="facet"
                                        class:chosen=chosen
                                        data-service=name
                                        on:click=move |_| refine.run(Refine::Service(pick.clone()))
                                    >
                                        <span class="facet-swatch" style=format!("background: {color}")></span>
                                        <span class="facet-name">{label}</span>
                                        <span class="facet-count">{format_count(count)}</span>
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </aside>
    }
}

/// Every record of the searched window as OTLP/JSON (the export API), for tools that want raw
/// data.
#[component]
fn ExportLink(window: RwSignal<(u64, u64)>) -> impl IntoView {
    let href = move || {
        let origin = window_origin();
        let (start_ns, end_ns) = window.get();
        export_url(&origin, Signal::Logs, TimeWindow { start_ns, end_ns })
    };
    view! {
        <a class="card-link" href=href data-testid="export-link" title="Every log record of the time range as OTLP JSON">
            "Export time range as OTLP JSON"
        </a>
    }
}

fn window_origin() -> String {
    leptos::prelude::window()
        .location()
        .origin()
        .unwrap_or_default()
}
