//! The search results as dots of duration over start time: outliers stand out at a glance, and a
//! click on a dot opens its trace. Error traces are red. Drawn as one SVG whose geometry comes
//! from `logic::chart`.

use leptos::prelude::*;
use otelite_api::traces::TraceSummary;

use crate::app::Location;
use crate::clock::utc_offset_minutes;
use crate::logic::chart::{duration_ticks, fraction, time_step, time_ticks};
use crate::logic::{Route, format_clock, format_clock_ms, format_nanos};

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

#[component]
pub fn ScatterPlot(traces: Vec<TraceSummary>) -> impl IntoView {
    let location = Location::current();
    let hovered = RwSignal::new(None::<usize>);

    const S: u64 = 1_000_000_000;
    let first = traces.iter().map(|t| t.start_unix_nano).min().unwrap_or(0);
    let last = traces.iter().map(|t| t.start_unix_nano).max().unwrap_or(0);
    // A little room either side (a lone dot sits mid-plot), but little enough that a burst of
    // traces within a second still spreads out.
    let pad = ((last - first) / 20).max(S / 10);
    let (lo, hi) = (first.saturating_sub(pad), last.saturating_add(pad));
    let longest = traces.iter().map(|t| t.duration_ns).max().unwrap_or(0);
    let y_ticks = duration_ticks(longest, 4);
    let y_top = *y_ticks.last().unwrap_or(&1);
    let offset = utc_offset_minutes(lo);
    let x_ticks = time_ticks(lo, hi, 6, offset);
    let clock = if time_step(lo, hi, 6) < S {
        format_clock_ms
    } else {
        format_clock
    };

    let x = move |t: u64| LEFT + fraction(t, lo, hi) * (WIDTH - LEFT - RIGHT);
    let y = move |d: u64| HEIGHT - BOTTOM - fraction(d, 0, y_top) * (HEIGHT - TOP - BOTTOM);

    let grid = y_ticks
        .iter()
        .map(|d| {
            let y = y(*d);
            view! {
                <line class="plot-grid" x1=LEFT x2=WIDTH - RIGHT y1=y y2=y></line>
                <text class="plot-label" x=LEFT - 8.0 y=y + 4.0 text-anchor="end">
                    {format_nanos(*d)}
                </text>
            }
        })
        .collect_view();
    let x_labels = x_ticks
        .iter()
        .map(|t| {
            view! {
                <text class="plot-label" x=x(*t) y=HEIGHT - 6.0 text-anchor="middle">
                    {clock(*t, offset)}
                </text>
            }
        })
        .collect_view();
    // Error dots are drawn last, so none hides under a dot of a trace that went well.
    let mut drawing_order: Vec<usize> = (0..traces.len()).collect();
    drawing_order.sort_by_key(|i| traces[*i].error_count > 0);
    let dots = drawing_order
        .into_iter()
        .map(|i| (i, &traces[i]))
        .map(|(i, t)| {
            let id = t.trace_id.clone();
            let open = move || location.push(Route::Trace(id.clone()), "");
            let open_on_key = open.clone();
            view! {
                <circle
                    class="plot-dot"
                    class:error={t.error_count > 0}
                    cx=x(t.start_unix_nano)
                    cy=y(t.duration_ns)
                    r="5.5"
                    role="link"
                    tabindex="0"
                    data-trace-id=t.trace_id.clone()
                    aria-label=format!(
                        "{}: {}, {}",
                        t.root_service,
                        t.root_name,
                        format_nanos(t.duration_ns),
                    )
                    on:click=move |_| open()
                    on:keydown=move |e: web_sys::KeyboardEvent| {
                        if e.key() == "Enter" {
                            open_on_key()
                        }
                    }
                    on:mouseenter=move |_| hovered.set(Some(i))
                    on:focus=move |_| hovered.set(Some(i))
                    on:mouseleave=move |_| hovered.set(None)
                    on:blur=move |_| hovered.set(None)
                ></circle>
            }
        })
        .collect_view();

    let caption = move || {
        hovered.get().and_then(|i| traces.get(i)).map(|t| {
            let errors = match t.error_count {
                0 => String::new(),
                1 => " · 1 error".to_owned(),
                n => format!(" · {n} errors"),
            };
            format!(
                "{}: {} · {} · {} spans{errors} · {}",
                t.root_service,
                t.root_name,
                format_nanos(t.duration_ns),
                t.span_count,
                format_clock_ms(t.start_unix_nano, utc_offset_minutes(t.start_unix_nano)),
            )
        })
    };

    view! {
        <figure class="card scatter" data-testid="scatter">
            <figcaption class="scatter-caption">
                {move || {
                    caption()
                        .unwrap_or_else(|| {
                            "Duration over time: click a dot to open its trace".to_owned()
                        })
                }}
            </figcaption>
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                class="scatter-svg"
                role="img"
                aria-label="Trace durations over time"
            >
                {grid}
                <line
                    class="plot-axis"
                    x1=LEFT
                    x2=WIDTH - RIGHT
                    y1=HEIGHT - BOTTOM
                    y2=HEIGHT - BOTTOM
                ></line>
                {x_labels}
                {dots}
            </svg>
        </figure>
    }
}
