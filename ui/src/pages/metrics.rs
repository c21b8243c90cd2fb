//! `/metrics`: the metric explorer. A searchable list of every metric (type, unit, help), label
//! chips from the picked metric's series, a PromQL editor with autocompletion, and a chart of
//! the query over the time range: a line per series with legend and hover values, stacked on
//! request, exemplar dots that open their trace, and drag-to-zoom.
//!
//! Everything goes through the Prometheus HTTP API the server answers on this port. As on the
//! other pages, the URL's query string is the state (`q`, `metric`, `filter`, the range,
//! `stacked`): picking, running, zooming and stacking push a history entry, and the chart
//! follows the URL.

use std::collections::HashMap;

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::html::Textarea;
use leptos::prelude::*;
use leptos::task::spawn_local;
use otelite_api::prometheus::{ExemplarSeries, LabelSet, Metadata, QueryData};

use crate::api::prometheus;
use crate::app::Location;
use crate::clock::now_ns;
use crate::components::line_chart::{ExemplarDot, LineChart};
use crate::components::metric_tabs::MetricTabs;
use crate::components::time_range_field::TimeRangeField;
use crate::logic::metric_chart::{ChartSeries, chart_series};
use crate::logic::metric_explorer::{
    ExplorerState, METADATA_PATH, METRIC_NAMES_PATH, MetricEntry, catalog, default_query,
    exemplar_trace_id, exemplars_path, filter_catalog, label_chips, label_values_path, labels_path,
    query_range_path, query_unit, series_path, toggle_filter, window_ms,
};
use crate::logic::promql_complete::{self, Context, Suggestion, Vocabulary, apply, suggest};
use crate::logic::query_string;
use crate::logic::trace_search::SearchRange;
use crate::logic::{Route, Signal, TimeWindow, export_url, format_count};

/// Most series a chart draws; more would be an unreadable tangle (and slow).
const MAX_SERIES: usize = 60;

/// One chart's worth of answer: the series and the window and step they were asked for.
#[derive(Debug, Clone, PartialEq)]
struct Charted {
    series: Vec<ChartSeries>,
    total: usize,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    /// The query drawn, whose text tells the values' unit.
    query: String,
    stacked: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Idle,
    Loading,
    Ready,
    Failed(String),
}

#[component]
pub fn MetricsPage() -> impl IntoView {
    let location = Location::current();
    let state = Memo::new(move |previous: Option<&ExplorerState>| {
        let here = location.route.with(|r| *r == Route::Metrics);
        match previous {
            Some(state) if !here => state.clone(),
            _ => location.query.with(|q| ExplorerState::from_query(q)),
        }
    });
    let draft = RwSignal::new(state.get_untracked().query);
    Effect::new(move |_| draft.set(state.with(|s| s.query.clone())));

    let entries = RwSignal::new(Vec::<MetricEntry>::new());
    let series_of_metric = RwSignal::new(Vec::<LabelSet>::new());
    let charted = RwSignal::new(None::<Charted>);
    let exemplars = RwSignal::new(Vec::<ExemplarDot>::new());
    let status = RwSignal::new(Status::Idle);
    let generation = StoredValue::new(0u64);
    let rerun = RwSignal::new(0u32);

    // The metric list, for the range's window.
    let range = Memo::new(move |_| state.with(|s| s.range));
    Effect::new(move |_| {
        let (start_ns, end_ns) = range.get().window(now_ns());
        let pairs = query_string::build([
            (
                "start",
                crate::logic::metric_explorer::seconds_param(start_ns),
            ),
            ("end", crate::logic::metric_explorer::seconds_param(end_ns)),
        ]);
        spawn_local(async move {
            let names = prometheus::<Vec<String>>(&format!("{METRIC_NAMES_PATH}?{pairs}")).await;
            let metadata = prometheus::<Metadata>(METADATA_PATH)
                .await
                .unwrap_or_default();
            if let Ok(names) = names {
                entries.try_set(catalog(&names, &metadata));
            }
        });
    });

    // The picked metric's series, for its chips.
    Effect::new(move |_| {
        let metric = state.with(|s| s.metric.clone());
        let list = entries.get();
        let Some(entry) = list.iter().find(|e| e.name == metric) else {
            series_of_metric.set(Vec::new());
            return;
        };
        let window = range.get_untracked().window(now_ns());
        let path = series_path(&[entry.series_name()], window);
        spawn_local(async move {
            if let Ok(series) = prometheus::<Vec<LabelSet>>(&path).await {
                series_of_metric.try_set(series);
            }
        });
    });

    // The chart: each new query or range, resolved to a window now.
    Effect::new(move |_| {
        let s = state.get();
        rerun.track();
        let this = generation.with_value(|g| g + 1);
        generation.set_value(this);
        let query = s.query.trim().to_owned();
        if query.is_empty() {
            status.set(Status::Idle);
            charted.set(None);
            exemplars.set(Vec::new());
            return;
        }
        let (start_ns, end_ns) = s.range.window(now_ns());
        if start_ns >= end_ns {
            status.set(Status::Failed(
                "The time range ends before it starts: pick an end after the start.".into(),
            ));
            return;
        }
        let (path, step_ms) = query_range_path(&query, (start_ns, end_ns));
        let (start_ms, end_ms) = window_ms((start_ns, end_ns));
        let exemplar_path = exemplars_path(&query, (start_ns, end_ns));
        status.set(Status::Loading);
        spawn_local(async move {
            let answer = prometheus::<QueryData>(&path).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            match answer {
                Ok(QueryData::Matrix(matrix)) => {
                    let total = matrix.len();
                    let mut series = chart_series(&matrix);
                    series.truncate(MAX_SERIES);
                    // A result without labels (an aggregate over everything) is named by its query.
                    for s in &mut series {
                        if s.label == "{}" {
                            s.label = query.clone();
                        }
                    }
                    charted.set(Some(Charted {
                        series,
                        total,
                        start_ms,
                        end_ms,
                        step_ms,
                        query: query.clone(),
                        stacked: s.stacked,
                    }));
                    status.set(Status::Ready);
                }
                Ok(_) => status.set(Status::Failed(
                    "A range query answers with series; this answer held none.".into(),
                )),
                Err(e) => {
                    charted.set(None);
                    status.set(Status::Failed(e.to_string()));
                }
            }
            // Exemplars are a bonus: a server or query without them leaves the chart as it is.
            let dots = prometheus::<Vec<ExemplarSeries>>(&exemplar_path)
                .await
                .unwrap_or_default();
            if generation.try_get_value() == Some(this) {
                exemplars.set(exemplar_dots(&dots));
            }
        });
    });

    let go = move |next: ExplorerState| {
        let query = next.to_query();
        if location.query.with_untracked(|q| *q == query) {
            rerun.update(|n| *n += 1);
        } else {
            location.push(Route::Metrics, &query);
        }
    };
    let run = Callback::new(move |()| {
        go(ExplorerState {
            query: draft.get_untracked(),
            ..state.get_untracked()
        });
    });
    let pick_metric = Callback::new(move |entry: MetricEntry| {
        let (start_ns, end_ns) = state.get_untracked().range.window(now_ns());
        let (_, step) = query_range_path("", (start_ns, end_ns));
        go(ExplorerState {
            query: default_query(&entry, &[], step),
            metric: entry.name.clone(),
            filters: Vec::new(),
            ..state.get_untracked()
        });
    });
    let toggle_chip = Callback::new(move |(label, value): (String, String)| {
        let current = state.get_untracked();
        let Some(entry) =
            entries.with_untracked(|e| e.iter().find(|x| x.name == current.metric).cloned())
        else {
            return;
        };
        let filters = toggle_filter(&current.filters, &label, &value);
        let (start_ns, end_ns) = current.range.window(now_ns());
        let (_, step) = query_range_path("", (start_ns, end_ns));
        go(ExplorerState {
            query: default_query(&entry, &filters, step),
            filters,
            ..current
        });
    });
    let zoom = Callback::new(move |range: SearchRange| {
        go(ExplorerState {
            range,
            ..state.get_untracked()
        });
    });
    let set_range = Callback::new(move |range: SearchRange| {
        go(ExplorerState {
            range,
            query: draft.get_untracked(),
            ..state.get_untracked()
        });
    });
    let range_signal = leptos::prelude::Signal::derive(move || range.get());
    let set_stacked = move |stacked: bool| {
        go(ExplorerState {
            stacked,
            ..state.get_untracked()
        });
    };
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        run.run(());
    };

    view! {
        <section class="page page-wide metrics-explorer">
            <div class="page-head">
                <h1>"Metrics"</h1>
                <MetricTabs range=range_signal/>
                <ExportLink range=range_signal/>
            </div>
            <div class="metrics-layout">
                <MetricList entries state pick=pick_metric/>
                <div class="metrics-main">
                    <form class="card query-bar promql-bar" on:submit=submit aria-label="PromQL query">
                        <PromqlEditor draft run entries state/>
                        <div class="query-filters promql-options">
                            <div class="time-range">
                                <TimeRangeField range=range_signal set=set_range/>
                            </div>
                            <label class="check">
                                <input
                                    type="checkbox"
                                    name="stacked"
                                    prop:checked=move || state.with(|s| s.stacked)
                                    on:change=move |ev| set_stacked(event_target_checked(&ev))
                                />
                                "Stacked"
                            </label>
                        </div>
                    </form>
                    <LabelChips series=series_of_metric state toggle=toggle_chip/>
                    <div class="metric-results" class:stale=move || status.get() == Status::Loading>
                        {move || match status.get() {
                            Status::Failed(message) => view! {
                                <div class="banner banner-error" role="alert" data-testid="query-error">
                                    <strong>"The query failed. "</strong>
                                    {message}
                                </div>
                            }
                                .into_any(),
                            Status::Idle => view! {
                                <div class="card empty-state" data-testid="no-query">
                                    <h2>"Pick a metric or write a query"</h2>
                                    <p class="muted">
                                        "Choose a metric from the list, or type PromQL above, such as "
                                        <code>"sum by (job) (rate(http_server_request_duration_seconds_count[5m]))"</code>
                                        ". Names, labels and functions complete as you type."
                                    </p>
                                </div>
                            }
                                .into_any(),
                            _ => ().into_any(),
                        }}
                        {move || {
                            charted
                                .get()
                                .map(|c| {
                                    // Tracked: a deep link's chart may come before the list.
                                    let unit = entries.with(|e| query_unit(&c.query, e));
                                    let empty = c.series.is_empty();
                                    let summary = if c.total > c.series.len() {
                                        format!("{} of {} series shown", c.series.len(), format_count(c.total as u64))
                                    } else {
                                        format!("{} series", c.total)
                                    };
                                    view! {
                                        <div class="card chart-card">
                                            <div class="chart-caption muted">
                                                <span data-testid="series-count">{summary}</span>
                                                <span>
                                                    {format!("Step {} · drag across to zoom in", crate::logic::metric_chart::promql_duration(c.step_ms))}
                                                </span>
                                            </div>
                                            {if empty {
                                                view! {
                                                    <p class="muted" data-testid="no-series">
                                                        "No series matched in this time range."
                                                    </p>
                                                }
                                                    .into_any()
                                            } else {
                                                view! {
                                                    <LineChart
                                                        series=c.series
                                                        start_ms=c.start_ms
                                                        end_ms=c.end_ms
                                                        step_ms=c.step_ms
                                                        unit
                                                        stacked=c.stacked
                                                        exemplars=exemplars.get()
                                                        zoom
                                                    />
                                                }
                                                    .into_any()
                                            }}
                                        </div>
                                    }
                                })
                        }}
                    </div>
                </div>
            </div>
        </section>
    }
}

/// The dots of the exemplars that name a trace.
fn exemplar_dots(series: &[ExemplarSeries]) -> Vec<ExemplarDot> {
    series
        .iter()
        .flat_map(|s| &s.exemplars)
        .filter_map(|e| {
            Some(ExemplarDot {
                t_ms: e.timestamp,
                value: e.value,
                trace_id: exemplar_trace_id(&e.labels)?,
            })
        })
        .collect()
}

/// Every metric, searchable by name and help; a click picks it.
#[component]
fn MetricList(
    entries: RwSignal<Vec<MetricEntry>>,
    state: Memo<ExplorerState>,
    pick: Callback<MetricEntry>,
) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let shown = Memo::new(move |_| {
        entries.with(|all| {
            search.with(|s| {
                filter_catalog(all, s)
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
    });
    view! {
        <aside class="card metric-list" aria-label="Metrics">
            <input
                type="search"
                class="query-text metric-search"
                name="metric-search"
                data-testid="metric-search"
                placeholder="Search metrics"
                aria-label="Search metrics"
                spellcheck="false"
                autocomplete="off"
                prop:value=move || search.get()
                on:input=move |ev| search.set(event_target_value(&ev))
            />
            <div class="metric-count muted">
                {move || {
                    let (n, all) = (shown.with(Vec::len), entries.with(Vec::len));
                    if n == all { format!("{all} metrics") } else { format!("{n} of {all} metrics") }
                }}
            </div>
            <ul class="metric-items" data-testid="metric-list">
                {move || {
                    shown
                        .get()
                        .into_iter()
                        .map(|entry| {
                            let name = entry.name.clone();
                            let chosen = move || state.with(|s| s.metric == name);
                            let unit = entry.unit.clone();
                            let help = entry.help.clone();
                            let type_name = entry.metric_type.name();
                            let pick_entry = entry.clone();
                            view! {
                                <li>
                                    <button
                                        type="button"
                                        class="metric-item"
                                        class:chosen=chosen
                                        data-metric=entry.name.clone()
                                        title=entry.help.clone()
                                        on:click=move |_| pick.run(pick_entry.clone())
                                    >
                                        <span class="metric-name mono">{entry.name.clone()}</span>
                                        <span class="metric-facts">
                                            <span class=format!("badge metric-type type-{type_name}")>{type_name}</span>
                                            {(!unit.is_empty()).then(|| view! { <span class="metric-unit">{unit}</span> })}
                                        </span>
                                        {(!help.is_empty()).then(|| view! { <span class="metric-help muted">{help}</span> })}
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

/// The picked metric's labels and their values; a click narrows the query to one value.
#[component]
fn LabelChips(
    series: RwSignal<Vec<LabelSet>>,
    state: Memo<ExplorerState>,
    toggle: Callback<(String, String)>,
) -> impl IntoView {
    move || {
        let chips = series.with(|s| label_chips(s));
        (!chips.is_empty()).then(|| {
            let rows = chips
                .into_iter()
                .map(|(label, values)| {
                    let more = values.len().saturating_sub(12);
                    let buttons = values
                        .into_iter()
                        .take(12)
                        .map(|(value, count)| {
                            let (l, v) = (label.clone(), value.clone());
                            let chosen = move || {
                                state.with(|s| s.filters.iter().any(|(a, b)| *a == l && *b == v))
                            };
                            let pick = (label.clone(), value.clone());
                            view! {
                                <button
                                    type="button"
                                    class="label-chip"
                                    class:chosen=chosen
                                    data-label=label.clone()
                                    data-value=value.clone()
                                    title=format!("{count} series")
                                    on:click=move |_| toggle.run(pick.clone())
                                >
                                    {value.clone()}
                                </button>
                            }
                        })
                        .collect_view();
                    view! {
                        <div class="label-row">
                            <span class="label-name mono">{label.clone()}</span>
                            <span class="label-values">
                                {buttons}
                                {(more > 0).then(|| view! { <span class="muted">{format!("+{more}")}</span> })}
                            </span>
                        </div>
                    }
                })
                .collect_view();
            view! { <div class="card label-chips" data-testid="label-chips">{rows}</div> }
        })
    }
}

/// The PromQL text area with its completion list: names of metrics and functions anywhere,
/// label names inside braces and `by (…)`, label values after a matcher. Arrow keys move in
/// the list, Enter or Tab take a suggestion, Escape closes it; Enter alone runs the query and
/// Shift+Enter breaks the line.
#[component]
fn PromqlEditor(
    draft: RwSignal<String>,
    run: Callback<()>,
    entries: RwSignal<Vec<MetricEntry>>,
    state: Memo<ExplorerState>,
) -> impl IntoView {
    let area = NodeRef::<Textarea>::new();
    let site = RwSignal::new(None::<promql_complete::Site>);
    let active = RwSignal::new(0usize);
    // Label names and values fetched so far, by API path.
    let fetched = RwSignal::new(HashMap::<String, Vec<String>>::new());
    let wanted = Memo::new(move |_| {
        let site = site.get()?;
        let window = state.with_untracked(|s| s.range.window(now_ns()));
        // The lists are for the whole window; cached per path, so the window is rounded to the
        // minute to keep typing from fetching again.
        let minute = 60_000_000_000;
        let window = (
            window.0 / minute * minute,
            window.1.div_ceil(minute) * minute,
        );
        match site.context {
            Context::LabelName { metric } => Some(labels_path(metric.as_deref(), window)),
            Context::LabelValue { metric, label, .. } => {
                Some(label_values_path(&label, metric.as_deref(), window))
            }
            _ => None,
        }
    });
    Effect::new(move |_| {
        let Some(path) = wanted.get() else { return };
        if fetched.with_untracked(|f| f.contains_key(&path)) {
            return;
        }
        fetched.update(|f| {
            f.insert(path.clone(), Vec::new());
        });
        spawn_local(async move {
            if let Ok(list) = prometheus::<Vec<String>>(&path).await {
                fetched.try_update(|f| f.insert(path, list));
            }
        });
    });
    let suggestions = Memo::new(move |_| {
        let Some(site) = site.get() else {
            return Vec::new();
        };
        let names = wanted.with(|w| {
            w.as_ref()
                .and_then(|p| fetched.with(|f| f.get(p).cloned()))
                .unwrap_or_default()
        });
        entries.with(|all| {
            let metrics = all
                .iter()
                .flat_map(|e| {
                    e.series_names
                        .iter()
                        .map(move |n| (n.as_str(), e.metric_type.name()))
                })
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let vocabulary = match site.context {
                Context::LabelValue { .. } => Vocabulary {
                    metrics,
                    values: names,
                    ..Vocabulary::default()
                },
                _ => Vocabulary {
                    metrics,
                    labels: names,
                    ..Vocabulary::default()
                },
            };
            suggest(&site, &vocabulary)
        })
    });
    let open = move || suggestions.with(|s| !s.is_empty());

    let refresh_site = move || {
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let cursor = el
            .selection_start()
            .ok()
            .flatten()
            .map_or(text.len(), |units| {
                promql_complete::byte_offset(&text, units as usize)
            });
        site.set(Some(promql_complete::site(&text, cursor)));
        active.set(0);
    };
    let take = move |suggestion: Suggestion| {
        let Some(current) = site.get_untracked() else {
            return;
        };
        let (text, cursor) = draft.with_untracked(|d| apply(d, &current, &suggestion));
        draft.set(text.clone());
        site.set(None);
        if let Some(el) = area.get_untracked() {
            el.set_value(&text);
            let units = promql_complete::utf16_offset(&text, cursor) as u32;
            let _ = el.set_selection_range(units, units);
            let _ = el.focus();
        }
        // A function or a selector's opening may want the next completion straight away.
        refresh_site();
    };
    let keydown = move |event: KeyboardEvent| {
        let count = suggestions.with(Vec::len);
        match event.key().as_str() {
            "ArrowDown" if count > 0 => {
                event.prevent_default();
                active.update(|a| *a = (*a + 1) % count);
            }
            "ArrowUp" if count > 0 => {
                event.prevent_default();
                active.update(|a| *a = (*a + count - 1) % count);
            }
            "Escape" if count > 0 => {
                event.prevent_default();
                site.set(None);
            }
            "Enter" | "Tab" if count > 0 && !event.shift_key() => {
                event.prevent_default();
                let chosen = suggestions.with(|s| s.get(active.get_untracked()).cloned());
                if let Some(chosen) = chosen {
                    take(chosen);
                }
            }
            "Enter" if !event.shift_key() => {
                event.prevent_default();
                site.set(None);
                run.run(());
            }
            _ => {}
        }
    };
    view! {
        <div class="promql-line">
            <div class="promql-editor">
                <textarea
                    node_ref=area
                    class="query-text promql-text"
                    name="query"
                    rows="2"
                    placeholder="PromQL, e.g. sum by (http_route) (rate(http_server_request_duration_seconds_count[5m]))"
                    aria-label="PromQL query"
                    aria-autocomplete="list"
                    spellcheck="false"
                    autocomplete="off"
                    prop:value=move || draft.get()
                    on:input=move |ev| {
                        draft.set(event_target_value(&ev));
                        refresh_site();
                    }
                    on:click=move |_| refresh_site()
                    on:keydown=keydown
                    on:blur=move |_| site.set(None)
                ></textarea>
                <Show when=open>
                    <ul class="completions" role="listbox" data-testid="completions">
                        {move || {
                            suggestions
                                .get()
                                .into_iter()
                                .enumerate()
                                .map(|(i, s)| {
                                    let chosen = s.clone();
                                    view! {
                                        <li
                                            role="option"
                                            class="completion"
                                            class:active=move || active.get() == i
                                            aria-selected=move || (active.get() == i).to_string()
                                            data-kind=s.kind.name()
                                            on:mousedown=move |event| {
                                                // Before the text area's blur closes the list.
                                                event.prevent_default();
                                                take(chosen.clone());
                                            }
                                        >
                                            <span class=format!("completion-kind kind-{}", s.kind.name())>{s.kind.name()}</span>
                                            <span class="completion-label mono">{s.label.clone()}</span>
                                            <span class="completion-detail muted">{s.detail.clone()}</span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                </Show>
            </div>
            <button type="submit" class="button">"Run query"</button>
        </div>
    }
}

/// Every data point of the window as OTLP/JSON (the export API), for tools that want raw data.
#[component]
fn ExportLink(range: leptos::prelude::Signal<SearchRange>) -> impl IntoView {
    let href = move || {
        let origin = leptos::prelude::window()
            .location()
            .origin()
            .unwrap_or_default();
        let (start_ns, end_ns) = range.get().window(now_ns());
        export_url(&origin, Signal::Metrics, TimeWindow { start_ns, end_ns })
    };
    view! {
        <a class="card-link" href=href data-testid="export-link" title="Every data point of the time range as OTLP JSON">
            "Export time range as OTLP JSON"
        </a>
    }
}
