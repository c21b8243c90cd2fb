//! The waterfall: one row per span, the span tree on the left, its bar on the trace's time axis
//! on the right.
//!
//! Rows are virtualised so a 10,000-span trace scrolls like a 10-span one: every row is exactly
//! [`ROW_HEIGHT`] pixels, only the rows inside the scrolled viewport (plus [`OVERSCAN`] on either
//! side) exist in the DOM, and two spacer divs stand in for the rest so the scrollbar is right.
//! Rows are keyed by span, so scrolling a little reuses the rows that stay in view.

use std::collections::HashSet;
use std::sync::Arc;

use leptos::prelude::*;
use web_sys::KeyboardEvent;

use crate::components::viewport::Viewport;
use crate::logic::chart::{LabelPlace, label_place};
use crate::logic::service_color::service_color;
use crate::logic::span_tree::{TraceLayout, duration_ns, is_error, span_service};
use crate::logic::span_values::exception;
use crate::logic::{format_count, format_nanos};

/// The height of one row in pixels; `.wf-row` in style.css must say the same.
pub const ROW_HEIGHT: f64 = 28.0;
/// Rows rendered beyond each edge of the viewport, so fast scrolling shows no blank.
const OVERSCAN: usize = 15;
/// Indentation stops growing here, so a very deep chain keeps its names readable.
const MAX_INDENT_LEVELS: usize = 30;

/// What the trace page shares with the waterfall.
#[derive(Clone, Copy)]
pub struct WaterfallState {
    /// The rows to show, in order: the visible part of the tree, or the search matches.
    pub rows: Memo<Vec<usize>>,
    pub selected: RwSignal<Option<usize>>,
    /// Spans whose subtrees are folded away.
    pub collapsed: RwSignal<HashSet<usize>>,
    /// Spans that find-in-trace matched; empty when nothing is searched.
    pub matches: Memo<HashSet<usize>>,
    /// Set to a span to scroll its row into view; the waterfall clears it.
    pub scroll_to: RwSignal<Option<usize>>,
}

#[component]
pub fn Waterfall(layout: Arc<TraceLayout>, state: WaterfallState) -> impl IntoView {
    let WaterfallState {
        rows,
        selected,
        scroll_to,
        collapsed,
        ..
    } = state;
    let viewport = Viewport::track();
    let window = Memo::new(move |_| viewport.rows(rows.with(Vec::len), ROW_HEIGHT, OVERSCAN));

    // Bring a row into view when asked (a find match, a span from the URL, the keyboard).
    Effect::new(move |_| {
        let Some(span) = scroll_to.get() else { return };
        if viewport.body.get().is_none() {
            return;
        }
        scroll_to.set(None);
        if let Some(position) = rows.with_untracked(|r| r.iter().position(|s| *s == span)) {
            viewport.reveal(position, ROW_HEIGHT);
        }
    });

    let tree_layout = Arc::clone(&layout);
    let on_key = move |event: KeyboardEvent| {
        let step: isize = match event.key().as_str() {
            "ArrowDown" | "j" => 1,
            "ArrowUp" | "k" => -1,
            "ArrowLeft" | "ArrowRight" => 0,
            _ => return,
        };
        event.prevent_default();
        let Some(current) = selected.get_untracked() else {
            if let Some(first) = rows.with_untracked(|r| r.first().copied()) {
                selected.set(Some(first));
            }
            return;
        };
        if step == 0 {
            let fold = event.key() == "ArrowLeft";
            if tree_layout.tree.node(current).children > 0 {
                collapsed.update(|c| {
                    if fold {
                        c.insert(current);
                    } else {
                        c.remove(&current);
                    }
                });
            }
            return;
        }
        let next = rows.with_untracked(|r| {
            let at = r.iter().position(|s| *s == current)?;
            r.get(at.checked_add_signed(step)?).copied()
        });
        if let Some(next) = next {
            selected.set(Some(next));
            scroll_to.set(Some(next));
        }
    };

    let ticks = [0.0, 0.25, 0.5, 0.75, 1.0];
    let total = layout.overview.duration_ns();
    let row_layout = Arc::clone(&layout);
    view! {
        <div class="waterfall card" data-testid="waterfall">
            <div class="wf-head" aria-hidden="true">
                <div class="wf-name wf-head-name">"Service & operation"</div>
                <div class="wf-timeline wf-ruler">
                    {ticks
                        .map(|t| {
                            let label = format_nanos((total as f64 * t) as u64);
                            let anchor = if t == 0.0 {
                                "start"
                            } else if t == 1.0 {
                                "end"
                            } else {
                                "middle"
                            };
                            view! {
                                <span
                                    class=format!("wf-tick wf-tick-{anchor}")
                                    style=format!("left: {}%", t * 100.0)
                                >
                                    {label}
                                </span>
                            }
                        })
                        .collect_view()}
                </div>
            </div>
            <div
                class="wf-body"
                node_ref=viewport.body
                tabindex="0"
                role="tree"
                aria-label="Spans"
                on:scroll=move |_| viewport.measure()
                on:keydown=on_key
            >
                <div style=move || {
                    format!("height: {}px", window.get().0 as f64 * ROW_HEIGHT)
                }></div>
                <For
                    each=move || {
                        let (first, last) = window.get();
                        rows.with(|r| r[first..last].to_vec())
                    }
                    key=|span| *span
                    children=move |span| {
                        view! { <SpanRow layout=Arc::clone(&row_layout) span state/> }
                    }
                />
                <div style=move || {
                    let (_, last) = window.get();
                    let rest = rows.with(Vec::len) - last;
                    format!("height: {}px", rest as f64 * ROW_HEIGHT)
                }></div>
            </div>
        </div>
    }
}

/// One span's row. Only what can change (selection, folding, search) is reactive.
#[component]
fn SpanRow(layout: Arc<TraceLayout>, span: usize, state: WaterfallState) -> impl IntoView {
    let WaterfallState {
        selected,
        collapsed,
        matches,
        ..
    } = state;
    let s = &layout.trace.spans[span];
    let node = layout.tree.node(span);
    let service = span_service(&layout.trace, s).to_owned();
    let color = service_color(&service);
    let error = is_error(s);
    let (left, width) = layout.overview.bar(s);
    let indent = node.depth.min(MAX_INDENT_LEVELS) as f64 * 14.0 + 6.0;
    let has_children = node.children > 0;
    let hidden = layout.tree.descendants(span);
    let is_collapsed = move || collapsed.with(|c| c.contains(&span));
    let toggle = move |event: web_sys::MouseEvent| {
        event.stop_propagation();
        collapsed.update(|c| {
            if !c.remove(&span) {
                c.insert(span);
            }
        });
    };
    let place = label_place(left, width);
    let label_style = match place {
        LabelPlace::After => format!("left: calc({:.3}% + 6px)", left + width),
        LabelPlace::Before => format!("right: calc({:.3}% + 6px)", 100.0 - left),
        LabelPlace::Inside => format!("right: calc({:.3}% + 6px)", 100.0 - left - width),
    };
    let trace_start = layout.overview.start_ns;
    let total = layout.overview.duration_ns().max(1) as f64;
    let events = s
        .events
        .iter()
        .map(|event| {
            let at = event.time_unix_nano.saturating_sub(trace_start) as f64 / total * 100.0;
            let thrown = exception(event).is_some();
            view! {
                <span
                    class="wf-event"
                    class:exception=thrown
                    style=format!("left: {:.3}%", at.clamp(0.0, 100.0))
                    title=event.name.clone()
                ></span>
            }
        })
        .collect_view();

    view! {
        <div
            class="wf-row"
            class:selected=move || selected.get() == Some(span)
            class:error=error
            class:match=move || matches.with(|m| m.contains(&span))
            class:dimmed=move || matches.with(|m| !m.is_empty() && !m.contains(&span))
            role="treeitem"
            attr:aria-level=node.depth + 1
            aria-selected=move || (selected.get() == Some(span)).to_string()
            aria-expanded=has_children.then_some(move || (!is_collapsed()).to_string())
            data-span-id=s.span_id.clone()
            data-depth=node.depth
            on:click=move |_| selected.set(Some(span))
        >
            <div class="wf-name" style=format!("padding-left: {indent}px")>
                {if has_children {
                    view! {
                        <button
                            type="button"
                            class="wf-toggle"
                            aria-label=move || if is_collapsed() { "Expand" } else { "Collapse" }
                            on:click=toggle
                        >
                            {move || if is_collapsed() { "▸" } else { "▾" }}
                        </button>
                    }
                        .into_any()
                } else {
                    view! { <span class="wf-toggle-space"></span> }.into_any()
                }}
                <span class="wf-swatch" style=format!("background: {color}")></span>
                <span class="wf-service">{service}</span>
                <span class="wf-op" title=s.name.clone()>{s.name.clone()}</span>
                {error.then(|| view! { <span class="wf-error-mark" title="Status: error">"!"</span> })}
                {node
                    .missing_parent
                    .then(|| {
                        view! {
                            <span class="badge badge-muted" title="This span's parent is not in the trace">
                                "no parent"
                            </span>
                        }
                    })}
                {move || {
                    is_collapsed()
                        .then(|| {
                            view! {
                                <span class="wf-hidden" title="Spans folded away">
                                    {format!("+{}", format_count(hidden as u64))}
                                </span>
                            }
                        })
                }}
            </div>
            <div class="wf-timeline">
                <div
                    class="wf-bar"
                    style=format!("left: {left:.3}%; width: {width:.3}%; background: {color}")
                ></div>
                {events}
                <span class="wf-duration" class:inside={place == LabelPlace::Inside} style=label_style>{format_nanos(duration_ns(s))}</span>
            </div>
        </div>
    }
}
