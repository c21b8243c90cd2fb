//! The trace view's logs panel: the log records of the trace (asked of the native log API by
//! `traceId`, around the trace's time), or, while a span is chosen, that span's. Each record
//! links to its place in the log explorer, and its span badge chooses that span.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::search_logs;
use crate::app::RouteLink;
use crate::clock::utc_offset_minutes;
use crate::logic::log_search::{
    LogRow, LogSearch, body_line, page_path, rows_of, trace_log_window, trace_logs_query,
};
use crate::logic::trace_search::SearchRange;
use crate::logic::{Route, format_count, format_timestamp, short_id};

/// The most records the panel asks for; the explorer link shows them all.
const LIMIT: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
enum Loaded {
    Loading,
    Rows { rows: Vec<LogRow>, more: bool },
    Failed(String),
}

#[component]
pub fn TraceLogs(
    trace_id: String,
    /// The trace's first start and last end, unix ns.
    start_ns: u64,
    end_ns: u64,
    /// The chosen span's id, if any.
    span: Memo<Option<String>>,
    /// Chooses a span of the trace by id.
    select_span: Callback<String>,
) -> impl IntoView {
    let (from, to) = trace_log_window(start_ns, end_ns);
    let loaded = RwSignal::new(Loaded::Loading);
    let search = LogSearch {
        trace_id: trace_id.clone(),
        range: SearchRange::Custom {
            start_ns: from,
            end_ns: to,
        },
        ..LogSearch::default()
    };
    if let Ok(filters) = search.api_filters(to) {
        let path = page_path(&filters, None, LIMIT);
        spawn_local(async move {
            let next = match search_logs(&path).await {
                Ok(response) => {
                    let more = response.next_cursor.is_some();
                    Loaded::Rows {
                        rows: rows_of(response),
                        more,
                    }
                }
                Err(e) => Loaded::Failed(e.to_string()),
            };
            loaded.try_set(next);
        });
    }
    let shown = Memo::new(move |_| {
        let span = span.get();
        loaded.with(|l| match l {
            Loaded::Rows { rows, .. } => rows
                .iter()
                .filter(|r| span.as_ref().is_none_or(|s| r.record.span_id == *s))
                .cloned()
                .collect(),
            _ => Vec::new(),
        })
    });
    let total = move || {
        loaded.with(|l| match l {
            Loaded::Rows { rows, .. } => rows.len(),
            _ => 0,
        })
    };
    let explorer_trace = trace_id.clone();
    let explorer_query =
        move || trace_logs_query(&explorer_trace, span.get().as_deref(), from, to, None);
    let heading_trace = trace_id.clone();

    view! {
        <section class="card trace-logs" data-testid="trace-logs" aria-label="Logs of this trace">
            <header class="trace-logs-head">
                <h2>
                    {move || match span.get() {
                        Some(s) => format!("Logs of span {}", short_id(&s)),
                        None => "Logs of this trace".to_owned(),
                    }}
                    <span class="muted detail-count" data-testid="trace-log-count">
                        {move || {
                            let n = shown.with(Vec::len);
                            match span.get() {
                                Some(_) => format!("{} of {}", format_count(n as u64), format_count(total() as u64)),
                                None => format_count(n as u64),
                            }
                        }}
                    </span>
                </h2>
                {move || {
                    let query = explorer_query();
                    view! {
                        <RouteLink to=Route::Logs class="card-link" query>
                            "Open in log explorer →"
                        </RouteLink>
                    }
                }}
            </header>
            {move || match loaded.get() {
                Loaded::Loading => view! { <p class="muted">"Loading logs…"</p> }.into_any(),
                Loaded::Failed(message) => view! {
                    <div class="banner banner-error" role="alert">
                        <strong>"The logs could not be loaded. "</strong>
                        {message}
                    </div>
                }
                    .into_any(),
                Loaded::Rows { more, .. } => {
                    let rows = shown.get();
                    if rows.is_empty() {
                        let what = if span.with(Option::is_some) { "span" } else { "trace" };
                        return view! {
                            <p class="muted" data-testid="no-trace-logs">
                                {format!("No log records of this {what} within a minute of its time.")}
                            </p>
                        }
                            .into_any();
                    }
                    view! {
                        <ol class="trace-log-list">
                            {rows
                                .into_iter()
                                .map(|row| view! { <TraceLogLine row trace_id=heading_trace.clone() from to select_span/> })
                                .collect_view()}
                        </ol>
                        {more.then(|| view! {
                            <p class="muted">{format!("The first {LIMIT} records; the log explorer shows every one.")}</p>
                        })}
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn TraceLogLine(
    row: LogRow,
    trace_id: String,
    from: u64,
    to: u64,
    select_span: Callback<String>,
) -> impl IntoView {
    let r = &row.record;
    let class = row.severity_class();
    let time = format_timestamp(r.time_unix_nano, utc_offset_minutes(r.time_unix_nano));
    let query = trace_logs_query(&trace_id, None, from, to, Some(&r.cursor));
    let span_id = r.span_id.clone();
    let cursor = r.cursor.clone();
    let body = body_line(&r.body);
    let level = row.severity_label();
    let service = row.service().to_owned();
    view! {
        <li class="trace-log" data-cursor=cursor data-span-id=span_id.clone()>
            <span class="log-time mono">{time}</span>
            <span class=format!("log-level sev sev-{class}")>{level}</span>
            <span class="log-service">{service}</span>
            <RouteLink to=Route::Logs class="trace-log-body" query>
                {body}
            </RouteLink>
            {(!span_id.is_empty()).then(|| {
                let pick = span_id.clone();
                view! {
                    <button
                        type="button"
                        class="link-button mono trace-log-span"
                        title="Choose this span in the waterfall"
                        on:click=move |_| select_span.run(pick.clone())
                    >
                        {short_id(&span_id).to_owned()}
                    </button>
                }
            })}
        </li>
    }
}
