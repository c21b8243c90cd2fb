//! The log explorer's result list: one line per record (time, severity, service, body with the
//! searched words marked, a link to its trace), newest first.
//!
//! Virtualised as the waterfall is: every row is exactly [`ROW_HEIGHT`] pixels (`.log-row` in
//! style.css says the same), only the rows in the scrolled viewport plus [`OVERSCAN`] exist in
//! the DOM, and two spacers stand in for the rest. When the rendered rows near the end of what
//! is loaded, `more` is called so the page fetches the next page with its cursor.

use leptos::prelude::*;

use crate::app::RouteLink;
use crate::clock::utc_offset_minutes;
use crate::components::viewport::Viewport;
use crate::logic::log_search::{Highlights, LogRow, body_line, wants_next_page};
use crate::logic::service_color::service_color;
use crate::logic::{Route, format_timestamp, query_string};

/// The height of one row in pixels; `.log-row` in style.css must say the same.
pub const ROW_HEIGHT: f64 = 26.0;
const OVERSCAN: usize = 12;

/// What the page shares with the list.
#[derive(Clone, Copy)]
pub struct LogListState {
    pub rows: RwSignal<Vec<LogRow>>,
    /// The cursor of the record whose detail is open.
    pub selected: RwSignal<Option<String>>,
    pub highlights: Memo<Highlights>,
    /// Whether the server has more beyond the loaded rows.
    pub has_more: Signal<bool>,
    /// Set to a cursor to scroll its row into view; the list clears it once it could.
    pub scroll_to: RwSignal<Option<String>>,
}

#[component]
pub fn LogList(state: LogListState, more: Callback<()>) -> impl IntoView {
    let LogListState {
        rows,
        has_more,
        scroll_to,
        ..
    } = state;
    let viewport = Viewport::track();
    let window = Memo::new(move |_| viewport.rows(rows.with(Vec::len), ROW_HEIGHT, OVERSCAN));
    Effect::new(move |_| {
        let (_, last) = window.get();
        if wants_next_page(last, rows.with(Vec::len), has_more.get()) {
            more.run(());
        }
    });
    // Bring a record into view when asked (the one the URL opens, once it has loaded).
    Effect::new(move |_| {
        let Some(cursor) = scroll_to.get() else {
            return;
        };
        if viewport.body.get().is_none() {
            return;
        }
        let Some(at) = rows.with(|r| r.iter().position(|row| row.record.cursor == cursor)) else {
            return;
        };
        scroll_to.set(None);
        viewport.reveal(at, ROW_HEIGHT);
    });

    view! {
        <div class="log-list card" data-testid="log-list">
            <div class="log-head log-row-grid" aria-hidden="true">
                <span>"Time"</span>
                <span>"Level"</span>
                <span>"Service"</span>
                <span>"Message"</span>
                <span></span>
            </div>
            <div class="log-body" node_ref=viewport.body on:scroll=move |_| viewport.measure() role="list">
                <div style=move || format!("height: {}px", window.get().0 as f64 * ROW_HEIGHT)></div>
                <For
                    each=move || {
                        let (first, last) = window.get();
                        rows.with(|r| r[first..last].to_vec())
                    }
                    key=|row| row.record.cursor.clone()
                    children=move |row| view! { <LogLine row state/> }
                />
                <div style=move || {
                    let (_, last) = window.get();
                    let rest = rows.with(Vec::len) - last;
                    format!("height: {}px", rest as f64 * ROW_HEIGHT)
                }></div>
                <Show when=move || has_more.get()>
                    <div class="log-loading muted">"Loading more…"</div>
                </Show>
            </div>
        </div>
    }
}

/// One record's line. Clicking it opens its detail; its trace link opens the trace on its span.
#[component]
fn LogLine(row: LogRow, state: LogListState) -> impl IntoView {
    let LogListState {
        selected,
        highlights,
        ..
    } = state;
    let r = &row.record;
    let cursor = r.cursor.clone();
    let is_selected = {
        let cursor = cursor.clone();
        move || selected.with(|s| s.as_ref() == Some(&cursor))
    };
    let class = row.severity_class();
    let time = format_timestamp(r.time_unix_nano, utc_offset_minutes(r.time_unix_nano));
    let body = body_line(&r.body);
    let service = row.service().to_owned();
    let color = service_color(&service);
    let trace_link = (!r.trace_id.is_empty()).then(|| {
        let query = query_string::build([("span", r.span_id.clone())]);
        view! {
            <RouteLink to=Route::Trace(r.trace_id.clone()) class="log-trace-link" query>
                "trace ↗"
            </RouteLink>
        }
    });
    let open = cursor.clone();
    view! {
        <div
            class="log-row log-row-grid"
            class:selected=is_selected
            data-cursor=cursor
            data-trace-id=r.trace_id.clone()
            role="listitem"
            on:click=move |_| {
                let again = selected.with_untracked(|s| s.as_ref() == Some(&open));
                selected.set(if again { None } else { Some(open.clone()) });
            }
        >
            <span class="log-time mono">{time}</span>
            <span class=format!("log-level sev sev-{class}")>{row.severity_label()}</span>
            <span class="log-service" title=service.clone()>
                <span class="service-dot" style=format!("--service-color: {color}")></span>
                {service.clone()}
            </span>
            <span class="log-message">
                {move || marked(&highlights.get(), &body)}
            </span>
            <span class="log-link">{trace_link}</span>
        </div>
    }
}

/// `text` with the highlighted pieces in `<mark>`.
pub fn marked(highlights: &Highlights, text: &str) -> impl IntoView + use<> {
    highlights
        .split(text)
        .into_iter()
        .map(|(piece, hit)| {
            let piece = piece.to_owned();
            if hit {
                view! { <mark>{piece}</mark> }.into_any()
            } else {
                piece.into_any()
            }
        })
        .collect_view()
}
